//! The host simulator: a `Pmap` with real bytes for every frame and per-space page tables, and a `Sim` that reads and writes through address spaces exactly as a client would, faulting into the core.
//!
//! Locking: a `Sim` is owned by one test or benchmark thread.

use crate::config::VmConfig;
use crate::error::VmError;
use crate::fault::FaultOutcome;
use crate::pmap::{Pmap, PmapError};
use crate::swap_backend::IoDone;
use crate::types::{Access, FrameNumber, Prot, SpaceId, PAGE_MASK, PAGE_SIZE};
use crate::vm::Vm;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use vm_swap::IoTag;

/// A software MMU: page tables per space, a reverse map per frame
/// (`pv` entries) and the frames' bytes.
pub struct SimPmap {
    mem: Vec<u8>,
    spaces: BTreeMap<SpaceId, BTreeMap<u64, (FrameNumber, Prot)>>,
    pv: Vec<Vec<(SpaceId, u64)>>,
    pv_total: usize,
    /// When set, `enter` fails (to test the fault path's error handling).
    pub fail_enter: bool,
    /// Mappings entered so far.
    pub enters: u64,
    /// Frames from here on are device pages (`add_device_frames`): the
    /// VM must never zero, copy, read or write one (semantics:
    /// device-resident); the simulated thread may.
    devices_from: u32,
}

impl SimPmap {
    pub fn new(frames: u32) -> Self {
        SimPmap {
            mem: vec![0u8; frames as usize * PAGE_SIZE as usize],
            spaces: BTreeMap::new(),
            pv: vec![Vec::new(); frames as usize],
            pv_total: 0,
            fail_enter: false,
            enters: 0,
            devices_from: u32::MAX,
        }
    }

    /// Give the next `n` frame numbers bytes, as device pages
    /// (`Vm::device_create` numbers them past every frame so far).
    pub fn add_device_frames(&mut self, n: u32) {
        let have = self.pv.len();
        self.devices_from = self.devices_from.min(have as u32);
        self.mem.resize((have + n as usize) * PAGE_SIZE as usize, 0);
        self.pv.resize(have + n as usize, Vec::new());
    }

    /// Refuse a VM access to a device page's bytes.
    fn vm_touches(&self, f: FrameNumber, what: &str) {
        assert!(
            f.0 < self.devices_from,
            "the VM {what} device page {f:?} (semantics: device-resident)"
        );
    }

    /// The translation of `va` in `space`.
    pub fn lookup(&self, space: SpaceId, va: u64) -> Option<(FrameNumber, Prot)> {
        self.spaces.get(&space)?.get(&(va & !PAGE_MASK)).copied()
    }

    /// Every mapping of `space`.
    pub fn mappings(&self, space: SpaceId) -> impl Iterator<Item = (u64, FrameNumber, Prot)> + '_ {
        self.spaces
            .get(&space)
            .into_iter()
            .flat_map(|m| m.iter().map(|(&va, &(f, p))| (va, f, p)))
    }

    /// Number of mappings of `frame` in all spaces.
    pub fn mapping_count(&self, frame: FrameNumber) -> usize {
        self.pv[frame.index()].len()
    }

    /// The bytes of a frame.
    pub fn frame(&self, f: FrameNumber) -> &[u8] {
        let o = f.index() * PAGE_SIZE as usize;
        &self.mem[o..o + PAGE_SIZE as usize]
    }

    /// The bytes of a frame, to write as a simulated thread does.
    pub fn frame_mut(&mut self, f: FrameNumber) -> &mut [u8] {
        let o = f.index() * PAGE_SIZE as usize;
        &mut self.mem[o..o + PAGE_SIZE as usize]
    }

    /// Drop the pv entry of one mapping. The caller has removed the PTE.
    fn unmap_one(&mut self, space: SpaceId, va: u64, f: FrameNumber) {
        let pv = &mut self.pv[f.index()];
        let i = pv.iter().position(|&x| x == (space, va)).expect("pv entry");
        pv.swap_remove(i);
        self.pv_total -= 1;
    }
}

impl Pmap for SimPmap {
    fn create_space(&mut self, space: SpaceId) -> Result<(), PmapError> {
        self.spaces.insert(space, BTreeMap::new());
        Ok(())
    }
    fn destroy_space(&mut self, space: SpaceId) {
        let m = self.spaces.remove(&space).expect("space");
        assert!(
            m.is_empty(),
            "destroying {space:?} with {} mappings",
            m.len()
        );
    }
    fn enter(
        &mut self,
        space: SpaceId,
        va: u64,
        frame: FrameNumber,
        prot: Prot,
    ) -> Result<(), PmapError> {
        if self.fail_enter {
            return Err(PmapError::ResourceShortage);
        }
        let old = self
            .spaces
            .get_mut(&space)
            .expect("space")
            .insert(va, (frame, prot));
        if let Some((of, _)) = old {
            self.unmap_one(space, va, of);
        }
        self.pv[frame.index()].push((space, va));
        self.pv_total += 1;
        self.enters += 1;
        Ok(())
    }
    fn remove(&mut self, space: SpaceId, start: u64, end: u64) {
        let Some(m) = self.spaces.get_mut(&space) else {
            return;
        };
        let gone: Vec<(u64, FrameNumber)> =
            m.range(start..end).map(|(&va, &(f, _))| (va, f)).collect();
        for (va, f) in gone {
            self.spaces.get_mut(&space).expect("space").remove(&va);
            self.unmap_one(space, va, f);
        }
    }
    fn protect(&mut self, space: SpaceId, start: u64, end: u64, prot: Prot) {
        if prot.is_empty() {
            return self.remove(space, start, end);
        }
        if let Some(m) = self.spaces.get_mut(&space) {
            for (_, (_, p)) in m.range_mut(start..end) {
                *p &= prot;
            }
        }
    }
    fn page_protect(&mut self, frame: FrameNumber, prot: Prot) {
        let pv = core::mem::take(&mut self.pv[frame.index()]);
        let mut keep = Vec::new();
        for (space, va) in pv {
            let m = self.spaces.get_mut(&space).expect("space");
            if prot.is_empty() {
                m.remove(&va);
                self.pv_total -= 1;
            } else {
                m.get_mut(&va).expect("mapping").1 &= prot;
                keep.push((space, va));
            }
        }
        self.pv[frame.index()] = keep;
    }
    fn is_mapped(&self, space: SpaceId, va: u64) -> bool {
        self.spaces.get(&space).is_some_and(|m| m.contains_key(&va))
    }
    fn zero_page(&mut self, frame: FrameNumber) {
        self.vm_touches(frame, "zeroed");
        self.frame_mut(frame).fill(0);
    }
    fn copy_page(&mut self, src: FrameNumber, dst: FrameNumber) {
        self.vm_touches(src, "copied from");
        self.vm_touches(dst, "copied to");
        let s = src.index() * PAGE_SIZE as usize;
        let d = dst.index() * PAGE_SIZE as usize;
        self.mem.copy_within(s..s + PAGE_SIZE as usize, d);
    }
    fn read_frame(&self, frame: FrameNumber, buf: &mut [u8]) {
        self.vm_touches(frame, "read (for swap or a pager)");
        buf.copy_from_slice(self.frame(frame));
    }
    fn write_frame(&mut self, frame: FrameNumber, data: &[u8]) {
        self.vm_touches(frame, "wrote (from swap or a pager)");
        self.frame_mut(frame).copy_from_slice(data);
    }
}

/// A VM plus a simulated MMU: the whole system a client sees.
pub struct Sim {
    pub vm: Vm,
    pub pmap: SimPmap,
    /// Faults taken by `read`/`write`.
    pub faults: u64,
    /// Swap completions reported and not yet waited for.
    pub completed: Vec<IoDone>,
}

impl Sim {
    /// A VM over `frames` frames with real bytes.
    pub fn new(config: VmConfig, frames: u32) -> Self {
        Sim {
            vm: Vm::new(config, frames).expect("valid config"),
            pmap: SimPmap::new(frames),
            faults: 0,
            completed: Vec::new(),
        }
    }

    /// A device region of `pages` pages (`Vm::device_create`) whose
    /// bytes the simulated MMU holds, starting zero.
    pub fn device_create(
        &mut self,
        pages: u32,
    ) -> Result<(crate::types::ObjectId, FrameNumber), VmError> {
        let (o, base) = self.vm.device_create(pages)?;
        self.pmap.add_device_frames(pages);
        Ok((o, base))
    }

    /// Translate like an MMU: the frame mapped at `va` if it allows
    /// `access`, faulting into the VM otherwise.
    pub fn translate(
        &mut self,
        space: SpaceId,
        va: u64,
        access: Access,
    ) -> Result<FrameNumber, VmError> {
        let need = access.required();
        let mut waits = 0;
        let mut reclaims = 0;
        let mut tries = 0;
        loop {
            if let Some((f, p)) = self.pmap.lookup(space, va) {
                if p.contains(need) {
                    return Ok(f);
                }
            }
            tries += 1;
            assert!(
                tries <= 2 + waits + reclaims,
                "fault at {va:#x} ({access:?}) resolved without a usable mapping"
            );
            // Pageout runs before a fresh fault, not between a completion
            // and the retry it allows (the server retries waiting faults
            // first): a policy could evict the page just read in.
            if self.vm.swap().is_some() && waits == 0 {
                let want = self.vm.pageout_shortage(false);
                if want > 0 {
                    self.vm.pageout(&mut self.pmap, want);
                }
            }
            self.faults += 1;
            match self.vm.fault(space, va, access, &mut self.pmap) {
                Ok(FaultOutcome::Wait(tag)) => {
                    waits += 1;
                    assert!(waits < 64, "fault at {va:#x} waits forever");
                    self.wait(tag)?;
                }
                Ok(_) => {}
                Err(VmError::OutOfMemory | VmError::NoSwap)
                    if self.vm.swap().is_some() && reclaims < 4 =>
                {
                    // The server's pageout work, run because a fault failed.
                    reclaims += 1;
                    self.reclaim();
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Run a pageout pass for a fault that found no page, and wait for
    /// its writes (the server would serve other clients meanwhile).
    pub fn reclaim(&mut self) {
        let want = self.vm.pageout_shortage(true).max(8);
        self.vm.pageout(&mut self.pmap, want);
        self.vm.swap_drain(&mut self.pmap);
        self.completed.extend(self.vm.swap_poll(&mut self.pmap));
    }

    /// Drive the swap device until request `tag` is reported (the
    /// server's notification loop); the caller retries its fault, which
    /// fails if the page it wanted could not be read.
    pub fn wait(&mut self, tag: IoTag) -> Result<(), VmError> {
        for _ in 0..1_000_000 {
            if let Some(i) = self.completed.iter().position(|d| d.tag == tag) {
                self.completed.swap_remove(i);
                return Ok(());
            }
            let done = self.vm.swap_poll(&mut self.pmap);
            self.completed.extend(done);
        }
        panic!("swap request {tag:?} never completed");
    }

    /// `mlock` as the server runs it: again after the pagers' next
    /// completions while it answers `PagerWait` (docs/pager.md, "Waiting
    /// for a pager").
    pub fn mlock(&mut self, space: SpaceId, addr: u64, len: u64) -> Result<(), VmError> {
        for _ in 0..1_000 {
            match self.vm.mlock(space, addr, len, &mut self.pmap) {
                Err(VmError::PagerWait) => {
                    let done = self.vm.swap_poll(&mut self.pmap);
                    self.completed.extend(done);
                }
                other => return other,
            }
        }
        panic!("mlock waited for a pager that never answered");
    }

    /// Read `buf.len()` bytes at `va` in `space`.
    pub fn read(&mut self, space: SpaceId, va: u64, buf: &mut [u8]) -> Result<(), VmError> {
        let mut done = 0;
        while done < buf.len() {
            let a = va + done as u64;
            let off = (a & PAGE_MASK) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            let f = self.translate(space, a, Access::Read)?;
            buf[done..done + n].copy_from_slice(&self.pmap.frame(f)[off..off + n]);
            done += n;
        }
        Ok(())
    }

    /// Write `data` at `va` in `space`.
    pub fn write(&mut self, space: SpaceId, va: u64, data: &[u8]) -> Result<(), VmError> {
        let mut done = 0;
        while done < data.len() {
            let a = va + done as u64;
            let off = (a & PAGE_MASK) as usize;
            let n = (PAGE_SIZE as usize - off).min(data.len() - done);
            let f = self.translate(space, a, Access::Write)?;
            self.pmap.frame_mut(f)[off..off + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        Ok(())
    }

    /// Read one byte.
    pub fn read_u8(&mut self, space: SpaceId, va: u64) -> Result<u8, VmError> {
        let mut b = [0u8];
        self.read(space, va, &mut b)?;
        Ok(b[0])
    }

    /// The VM's invariants plus: every simulated mapping is one the VM
    /// would make, and no mapping survives in a space that is gone.
    pub fn check(&self) -> Result<(), String> {
        self.vm.check_invariants()?;
        for (&space, m) in &self.pmap.spaces {
            for (&va, &(f, p)) in m {
                self.vm.check_mapping(space, va, f, p)?;
            }
        }
        // Every mapping has its pv entry, and there are no others.
        let mut mappings = 0;
        for (&space, m) in &self.pmap.spaces {
            for (&va, &(f, _)) in m {
                if !self.pmap.pv[f.index()].contains(&(space, va)) {
                    return Err(alloc::format!("{space:?} {va:#x} -> {f:?} has no pv entry"));
                }
                mappings += 1;
            }
        }
        if mappings != self.pmap.pv_total {
            return Err(alloc::format!(
                "{} pv entries for {mappings} mappings",
                self.pmap.pv_total
            ));
        }
        Ok(())
    }
}
