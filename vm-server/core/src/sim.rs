//! The host simulator: a `Pmap` with real bytes for every frame and per-space page tables, and a `Sim` that reads and writes through address spaces exactly as a client would, faulting into the core.
//!
//! Locking: a `Sim` is owned by one test or benchmark thread.

use crate::config::{large_region_base, ram_frame_end, VmConfig, LARGE_PAGE_FRAMES};
use crate::error::VmError;
use crate::fault::FaultOutcome;
use crate::large::LARGE_PAGE_SIZE;
use crate::pmap::{Pmap, PmapError};
use crate::pv_list::PvList;
use crate::swap_backend::IoDone;
use crate::types::{Access, FrameNumber, Prot, SpaceId, PAGE_MASK, PAGE_SIZE};
use crate::vm::Vm;
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Ref, RefCell, RefMut};
use vm_swap::{IoTag, PhysMemory};

/// A software MMU: page tables per space, a reverse map per frame
/// (`pv` entries) and the frames' bytes. Large mappings
/// (`Pmap::enter_large`) follow the trait's contract strictly: a remove,
/// protect or page_protect that reaches any part of one acts on all of
/// it (remove takes it down whole), and a 4 KiB `enter` of a large
/// region's frame panics, so a missed demotion cannot pass a test.
pub struct SimPmap {
    /// Every frame's bytes, frame `n` at `n * PAGE_SIZE`; shared with a
    /// RAM disk taking frame lists ([`memory`](Self::memory)), as
    /// physical memory is with a DMA device.
    mem: PhysMemory,
    spaces: BTreeMap<SpaceId, BTreeMap<u64, (FrameNumber, Prot)>>,
    pv: Vec<PvList>,
    pv_total: usize,
    /// Large mappings per space: 2 MiB-aligned address -> (region's
    /// first frame, rights).
    large: BTreeMap<SpaceId, BTreeMap<u64, (FrameNumber, Prot)>>,
    /// Per region's first frame: its large mappings.
    large_pv: BTreeMap<u32, Vec<(SpaceId, u64)>>,
    /// Frame numbers of the large regions.
    regions: core::ops::Range<u32>,
    /// When set, `enter` fails (to test the fault path's error handling).
    pub fail_enter: bool,
    /// When set, `enter_large` fails (a pmap without large mappings).
    pub refuse_large: bool,
    /// Mappings entered so far.
    pub enters: u64,
    /// Frames from here on are device pages (`add_device_frames`): the
    /// VM must never zero, copy, read or write one (semantics:
    /// device-resident); the simulated thread may.
    devices_from: u32,
}

impl SimPmap {
    pub fn new(frames: u32) -> Self {
        Self::with_large(frames, 0)
    }

    /// A pmap over `frames` small frames and `large_pages` large regions
    /// numbered as `VmConfig::large_pages` says.
    pub fn with_large(frames: u32, large_pages: u32) -> Self {
        let end = ram_frame_end(frames, large_pages);
        let regions = if large_pages == 0 {
            end..end
        } else {
            large_region_base(frames)..end
        };
        SimPmap {
            mem: Rc::new(RefCell::new(vec![0u8; end as usize * PAGE_SIZE as usize])),
            spaces: BTreeMap::new(),
            pv: vec![PvList::new(); end as usize],
            pv_total: 0,
            large: BTreeMap::new(),
            large_pv: BTreeMap::new(),
            regions,
            fail_enter: false,
            refuse_large: false,
            enters: 0,
            devices_from: u32::MAX,
        }
    }

    /// The first frame of the large region holding `f`, if any.
    fn region_base(&self, f: FrameNumber) -> Option<u32> {
        self.regions.contains(&f.0).then(|| {
            self.regions.start + (f.0 - self.regions.start) / LARGE_PAGE_FRAMES * LARGE_PAGE_FRAMES
        })
    }

    /// The large mapping covering `va` in `space`: (its address, region
    /// base, rights).
    pub fn large_at(&self, space: SpaceId, va: u64) -> Option<(u64, FrameNumber, Prot)> {
        let va0 = va & !(LARGE_PAGE_SIZE - 1);
        let &(b, p) = self.large.get(&space)?.get(&va0)?;
        Some((va0, b, p))
    }

    /// Every large mapping of `space`: (address, region base, rights).
    pub fn large_mappings(
        &self,
        space: SpaceId,
    ) -> impl Iterator<Item = (u64, FrameNumber, Prot)> + '_ {
        self.large
            .get(&space)
            .into_iter()
            .flat_map(|m| m.iter().map(|(&va, &(b, p))| (va, b, p)))
    }

    /// Take down the large mapping at `va0` of `space`.
    fn drop_large(&mut self, space: SpaceId, va0: u64) {
        let (b, _) = self
            .large
            .get_mut(&space)
            .and_then(|m| m.remove(&va0))
            .expect("large mapping");
        let pv = self.large_pv.get_mut(&b.0).expect("large pv");
        let i = pv
            .iter()
            .position(|&x| x == (space, va0))
            .expect("large pv entry");
        pv.swap_remove(i);
    }

    /// The large mappings of `space` that reach into `[start, end)`.
    fn large_in(&self, space: SpaceId, start: u64, end: u64) -> Vec<u64> {
        let lo = start & !(LARGE_PAGE_SIZE - 1);
        self.large.get(&space).map_or(Vec::new(), |m| {
            m.range(lo..end).map(|(&va, _)| va).collect()
        })
    }

    /// Give the next `n` frame numbers bytes, as device pages
    /// (`Vm::device_create` numbers them past every frame so far).
    pub fn add_device_frames(&mut self, n: u32) {
        let have = self.pv.len();
        self.devices_from = self.devices_from.min(have as u32);
        self.mem
            .borrow_mut()
            .resize((have + n as usize) * PAGE_SIZE as usize, 0);
        self.pv.resize(have + n as usize, PvList::new());
    }

    /// Refuse a VM access to a device page's bytes.
    fn vm_touches(&self, f: FrameNumber, what: &str) {
        assert!(
            f.0 < self.devices_from,
            "the VM {what} device page {f:?} (semantics: device-resident)"
        );
    }

    /// The translation of `va` in `space`, through a large mapping too.
    pub fn lookup(&self, space: SpaceId, va: u64) -> Option<(FrameNumber, Prot)> {
        if let Some(&m) = self.spaces.get(&space)?.get(&(va & !PAGE_MASK)) {
            return Some(m);
        }
        let (va0, b, p) = self.large_at(space, va)?;
        Some((FrameNumber(b.0 + ((va - va0) / PAGE_SIZE) as u32), p))
    }

    /// Every 4 KiB page mapped in `space`, the pages of large mappings
    /// one by one.
    pub fn mappings(&self, space: SpaceId) -> impl Iterator<Item = (u64, FrameNumber, Prot)> + '_ {
        let small = self
            .spaces
            .get(&space)
            .into_iter()
            .flat_map(|m| m.iter().map(|(&va, &(f, p))| (va, f, p)));
        let large = self.large_mappings(space).flat_map(|(va, b, p)| {
            (0..LARGE_PAGE_FRAMES)
                .map(move |i| (va + u64::from(i) * PAGE_SIZE, FrameNumber(b.0 + i), p))
        });
        small.chain(large)
    }

    /// Number of mappings of `frame` in all spaces (large ones included).
    pub fn mapping_count(&self, frame: FrameNumber) -> usize {
        self.pv[frame.index()].len()
            + self
                .region_base(frame)
                .and_then(|b| self.large_pv.get(&b))
                .map_or(0, |v| v.len())
    }

    /// The frames' bytes as a DMA device sees them: attach it to a
    /// `RamDisk` (`attach_memory`) for transfers straight to and from
    /// frames.
    pub fn memory(&self) -> PhysMemory {
        self.mem.clone()
    }

    /// The bytes of a frame.
    pub fn frame(&self, f: FrameNumber) -> Ref<'_, [u8]> {
        let o = f.index() * PAGE_SIZE as usize;
        Ref::map(self.mem.borrow(), |m| &m[o..o + PAGE_SIZE as usize])
    }

    /// The bytes of a frame, to write as a simulated thread does.
    pub fn frame_mut(&mut self, f: FrameNumber) -> RefMut<'_, [u8]> {
        let o = f.index() * PAGE_SIZE as usize;
        RefMut::map(self.mem.borrow_mut(), |m| &mut m[o..o + PAGE_SIZE as usize])
    }

    /// Drop the pv entry of one mapping. The caller has removed the PTE.
    fn unmap_one(&mut self, space: SpaceId, va: u64, f: FrameNumber) {
        let found = self.pv[f.index()].remove(space, va);
        assert!(found, "pv entry");
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
        let l = self.large.remove(&space).unwrap_or_default();
        assert!(
            l.is_empty(),
            "destroying {space:?} with {} large mappings",
            l.len()
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
        assert!(
            !self.regions.contains(&frame.0),
            "the VM entered a 4 KiB mapping of large region frame {frame:?} at {va:#x}"
        );
        if self.large_at(space, va).is_some() {
            self.drop_large(space, va & !(LARGE_PAGE_SIZE - 1));
        }
        let old = self
            .spaces
            .get_mut(&space)
            .expect("space")
            .insert(va, (frame, prot));
        if let Some((of, _)) = old {
            self.unmap_one(space, va, of);
        }
        self.pv[frame.index()].push(space, va);
        self.pv_total += 1;
        self.enters += 1;
        Ok(())
    }
    fn enter_large(
        &mut self,
        space: SpaceId,
        va: u64,
        base: FrameNumber,
        prot: Prot,
    ) -> Result<(), PmapError> {
        if self.fail_enter || self.refuse_large {
            return Err(PmapError::ResourceShortage);
        }
        assert!(
            va.is_multiple_of(LARGE_PAGE_SIZE) && self.region_base(base) == Some(base.0),
            "enter_large of {base:?} at {va:#x}: not a region at a 2 MiB boundary"
        );
        self.remove(space, va, va + LARGE_PAGE_SIZE);
        self.large
            .entry(space)
            .or_default()
            .insert(va, (base, prot));
        self.large_pv.entry(base.0).or_default().push((space, va));
        self.enters += 1;
        Ok(())
    }
    fn remove(&mut self, space: SpaceId, start: u64, end: u64) {
        for va0 in self.large_in(space, start, end) {
            self.drop_large(space, va0);
        }
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
        for va0 in self.large_in(space, start, end) {
            let m = self.large.get_mut(&space).expect("space");
            m.get_mut(&va0).expect("large mapping").1 &= prot;
        }
        if let Some(m) = self.spaces.get_mut(&space) {
            for (_, (_, p)) in m.range_mut(start..end) {
                *p &= prot;
            }
        }
    }
    fn page_protect(&mut self, frame: FrameNumber, prot: Prot) {
        // Every large mapping of the frame's region, whole.
        if let Some(b) = self.region_base(frame) {
            let pv = self.large_pv.get(&b).cloned().unwrap_or_default();
            for (space, va0) in pv {
                if prot.is_empty() {
                    self.drop_large(space, va0);
                } else {
                    let m = self.large.get_mut(&space).expect("space");
                    m.get_mut(&va0).expect("large mapping").1 &= prot;
                }
            }
        }
        let pv = core::mem::take(&mut self.pv[frame.index()]);
        let mut keep = PvList::new();
        for (space, va) in pv.iter() {
            let m = self.spaces.get_mut(&space).expect("space");
            if prot.is_empty() {
                m.remove(&va);
                self.pv_total -= 1;
            } else {
                m.get_mut(&va).expect("mapping").1 &= prot;
                keep.push(space, va);
            }
        }
        self.pv[frame.index()] = keep;
    }
    fn is_mapped(&self, space: SpaceId, va: u64) -> bool {
        self.spaces.get(&space).is_some_and(|m| m.contains_key(&va))
            || self.large_at(space, va).is_some()
    }
    fn sole_mapping(&self, frame: FrameNumber) -> Option<(SpaceId, u64)> {
        self.pv.get(frame.index()).and_then(PvList::sole)
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
        self.mem
            .borrow_mut()
            .copy_within(s..s + PAGE_SIZE as usize, d);
    }
    fn read_frame(&self, frame: FrameNumber, buf: &mut [u8]) {
        self.vm_touches(frame, "read (for swap or a pager)");
        buf.copy_from_slice(&self.frame(frame));
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

impl SimPmap {
    /// Every free frame `vm` counts as pre-zeroed holds zeros
    /// (`zero_idle.rs`): a zero-fill fault maps it unwritten.
    pub fn check_zeroed(&self, vm: &Vm) -> Result<(), String> {
        let pool = vm.pool();
        for f in pool.free_iter() {
            if pool.page(f).flags().contains(crate::page::PageFlags::ZERO)
                && self.frame(f).iter().any(|&b| b != 0)
            {
                return Err(alloc::format!("pre-zeroed frame {} holds data", f.0));
            }
        }
        Ok(())
    }
}

impl Sim {
    /// A VM over `frames` frames with real bytes.
    pub fn new(config: VmConfig, frames: u32) -> Self {
        let large = config.large_pages;
        Sim {
            vm: Vm::new(config, frames).expect("valid config"),
            pmap: SimPmap::with_large(frames, large),
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
        // The last wait was for this fault's own read (not for memory).
        let mut after_read = false;
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
            // After a wait for the page's I/O (not memory), as the server
            // does: `refault`.
            let memory_waits = self.vm.memory_waits();
            let r = if after_read {
                self.vm.refault(space, va, access, &mut self.pmap)
            } else {
                self.vm.fault(space, va, access, &mut self.pmap)
            };
            match r {
                Ok(FaultOutcome::Wait(tag)) => {
                    after_read = self.vm.memory_waits() == memory_waits;
                    waits += 1;
                    assert!(waits < 64, "fault at {va:#x} waits forever");
                    self.wait(tag)?;
                }
                // Mapped but not usable yet: the thread faults afresh.
                Ok(_) => after_read = false,
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
        for (&space, m) in &self.pmap.large {
            for (&va, &(b, p)) in m {
                self.vm.check_large_mapping(space, va, b, p)?;
            }
        }
        // Every mapping has its pv entry, and there are no others.
        let mut mappings = 0;
        for (&space, m) in &self.pmap.spaces {
            for (&va, &(f, _)) in m {
                if !self.pmap.pv[f.index()].iter().any(|p| p == (space, va)) {
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
