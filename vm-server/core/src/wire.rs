//! Wiring (`vm_map_wire`, `vm_fault_wire`): mlock and munlock, faulting each page of a wired range in, and unwiring an entry (semantics: mlock-*).
//!
//! Locking: runs inside the single-threaded `Vm`. Each page of a wired
//! entry holds one wiring of the page visible at its address; a
//! copy-on-write copy or a chain merge moves the wiring to the new page.

use crate::chain::{BackingChain, Lookup};
use crate::error::VmError;
use crate::fault::{Around, Resolved};
use crate::limits::Quota;
use crate::map::VmMapEntry;
use crate::object::ObjectKind;
use crate::page::{AllocClass, PageFlags};
use crate::pmap::Pmap;
use crate::types::{Access, FrameNumber, Prot, SpaceId, PAGE_SHIFT, PAGE_SIZE};
use crate::vm::{Memory, Vm};
use alloc::vec::Vec;

impl Vm {
    /// Wire a mapped range (`mlock`, `vm_map_wire`): fault every page in,
    /// then hold one wiring per page for as long as the range stays locked.
    /// Locks do not stack: locked entries are left as they are
    /// (semantics: mlock-stacking). Errors in the order of the semantics
    /// table: the range's shape, `NoMapping` for a hole, `BeyondObject`
    /// for a page past its object's end (checked before anything is
    /// faulted), `QuotaExceeded(Wired)`, `QuotaExceeded(Objects)` (room
    /// for the objects its faults will make), then
    /// `OutOfMemory`/`NoSwap`/`Io`. Out
    /// of memory it runs pageout and waits for its writes first
    /// (`Vm::reclaim`), so it fails only when memory and swap are both
    /// exhausted; on failure every page it wired is unwired again.
    pub fn mlock<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        addr: u64,
        len: u64,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        self.charge_to(space);
        // Pages under swap I/O must not move or go under this operation.
        self.mem.drain(pmap);
        let end = self.check_mapped(space, addr, len)?;
        let sp = &self.spaces[&space.0];
        let (mut newly, mut objects) = (0, 0);
        for e in sp.map.entries_in(addr, end).filter(|e| e.wired_count == 0) {
            let (lo, hi) = (e.start.max(addr), e.end.min(end));
            newly += (hi - lo) >> PAGE_SHIFT;
            // The object its first fault makes, or the shadow a write
            // fault pushes (at most one: a fresh object is private).
            if e.chain.is_empty() || (e.needs_copy() && e.prot.contains(Prot::WRITE)) {
                objects += 1;
            }
            for rel in e.rel(lo)..=e.rel(hi - 1) {
                if e.chain.is_empty() {
                    break;
                }
                e.chain.lookup(&self.mem.objects, rel)?;
            }
        }
        self.charge(space, Quota::Wired, newly)?;
        self.mem.objects.may_allocate(objects)?;
        let starts = self.clip_entries(space, addr, end)?;
        // Each page is wired as soon as it is in, so the pageout that a
        // later page may need cannot take it.
        let mut wired: Vec<FrameNumber> = Vec::new();
        let mut result = Ok(());
        'entries: for &s in &starts {
            let e = self.spaces[&space.0].map.lookup(s).expect("entry");
            if e.wired_count != 0 {
                continue;
            }
            let e_end = e.end;
            let mut va = s;
            while va < e_end {
                match self.fault_wire_page(space, va, pmap) {
                    Ok(f) => {
                        self.mem.pool.wire(f);
                        wired.push(f);
                    }
                    Err(err) => {
                        result = Err(err);
                        break 'entries;
                    }
                }
                va += PAGE_SIZE;
            }
        }
        let (mem, spaces) = (&mut self.mem, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).expect("checked");
        if result.is_ok() {
            for &s in &starts {
                sp.map.get_mut(s).expect("entry").wired_count = 1;
            }
        } else {
            for f in wired {
                mem.pool.unwire(f);
            }
        }
        for &s in starts.iter().rev() {
            sp.map.simplify(s, &mut mem.objects, &mut mem.pool);
        }
        result
    }

    /// Unwire a mapped range (`munlock`): one call unlocks, however often
    /// it was locked; unlocked parts are left alone.
    pub fn munlock(&mut self, space: SpaceId, addr: u64, len: u64) -> Result<(), VmError> {
        let end = self.check_mapped(space, addr, len)?;
        self.change_entries(space, addr, end, |mem, e| {
            if e.wired_count != 0 {
                mem.unwire_entry(e);
            }
        })
    }

    /// Fault in the page at `va` of `space` for wiring it (`vm_fault_wire`
    /// for one page) and return the frame now visible there: writable
    /// entries fault for write so a private page is copied now, not under
    /// the wiring; an entry with no access only makes the page resident.
    /// Waits for swap I/O, and out of memory runs pageout and waits for
    /// it (`reclaim`) before it gives up. Wires nothing itself. The caller
    /// has checked that `va` is mapped and not past its object's end.
    pub(crate) fn fault_wire_page<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        va: u64,
        pmap: &mut P,
    ) -> Result<FrameNumber, VmError> {
        // A fault can need several pages (a chain merge copies what two
        // links show), so each retry after a shortage asks for more than
        // the last attempt had: the loop ends in success or in reclaim's
        // error, never in retrying with the same memory forever.
        let (mut need, mut room_need) = (1u64, 1u64);
        loop {
            let e = self.spaces[&space.0].map.lookup(va).expect("range mapped");
            let access = if e.prot.contains(Prot::WRITE) {
                Access::Write
            } else if e.prot.contains(Prot::READ) {
                Access::Read
            } else {
                Access::Execute
            };
            let r = if e.prot.is_empty() {
                // No access allowed: still make the page resident.
                self.make_resident(space, va, pmap).map(|()| None)
            } else {
                match self.fault_inner(space, va, access, pmap, Around::No) {
                    Ok(Resolved::Mapped(m)) => Ok(Some(m.frame)),
                    Ok(Resolved::Wait(tag)) => {
                        // mlock waits for the device, then faults again.
                        self.mem.wait_unless_pager(tag, pmap)?;
                        continue;
                    }
                    Err(e) => Err(e),
                }
            };
            match r {
                Ok(frame) => {
                    self.mem.stats.wire_faults += 1;
                    let e = self.spaces[&space.0].map.lookup(va).expect("range mapped");
                    let f = e.chain.visible(&self.mem.objects, e.rel(va));
                    debug_assert!(frame.is_none() || frame == f);
                    return Ok(f.expect("faulted in"));
                }
                Err(VmError::OutOfMemory | VmError::NoSwap) => {
                    need = need.max(u64::from(self.mem.pool.available()) + 1);
                    self.reclaim(need, pmap)?;
                }
                Err(e @ VmError::QuotaExceeded(Quota::Resident)) => {
                    let g = self.group_of(space).ok_or(VmError::BadSpace)?;
                    let room = self.mem.objects.group_room(g);
                    if room == u64::MAX {
                        // Another group's limit (a shared object's
                        // creator): paging out ours cannot help.
                        return Err(e);
                    }
                    room_need = room_need.max(room + 1);
                    while self.mem.objects.group_room(g) < room_need {
                        if let Some(tag) = self.group_reclaim(space, pmap)? {
                            self.mem.wait_unless_pager(tag, pmap)?;
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Make the page at `va` resident without mapping it (for wiring an
    /// entry with no access). The caller holds the entry containing `va`.
    pub(crate) fn make_resident<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        va: u64,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        let (mem, spaces) = (&mut self.mem, &mut self.spaces);
        let entry = spaces
            .get_mut(&space.0)
            .and_then(|s| s.map.lookup_mut(va))
            .ok_or(VmError::NoMapping)?;
        if entry.chain.is_empty() {
            mem.objects.may_allocate(1)?;
            let obj = mem.objects.allocate(ObjectKind::Anonymous, entry.npages());
            entry.chain = BackingChain::single(obj, 0);
        }
        let rel = entry.rel(va);
        loop {
            match entry.chain.lookup(&mem.objects, rel)? {
                Lookup::Empty => {
                    mem.zero_fill(entry, rel, false, pmap)?;
                }
                Lookup::Resident(_, f) if mem.pool.page(f).flags().contains(PageFlags::BUSY) => {
                    let tag = mem.io_tag_of(f).expect("a busy page is in a request");
                    mem.wait_unless_pager(tag, pmap)?;
                    continue;
                }
                Lookup::Resident(..) => {}
                Lookup::Swapped(d) => {
                    let link = entry.chain.links()[d];
                    let tag = mem.pagein_for(
                        link.object,
                        link.pindex(rel),
                        AllocClass::Normal,
                        Some(space),
                    )?;
                    mem.wait_unless_pager(tag, pmap)?;
                    continue;
                }
                Lookup::Paged(d) => {
                    let link = entry.chain.links()[d];
                    let (o, p) = (link.object, link.pindex(rel));
                    let tag = mem.pager_read(o, p, AllocClass::Normal, Some(space), 0)?;
                    mem.wait_unless_pager(tag, pmap)?;
                    continue;
                }
            }
            return Ok(());
        }
    }
}

impl Memory {
    /// Drop the entry's wiring of each visible page. The caller holds the
    /// entry, whose wired count just dropped to zero (or which is going).
    pub(crate) fn unwire_entry(&mut self, e: &mut VmMapEntry) {
        for rel in 0..e.npages() {
            if let Some(f) = e.chain.visible(&self.objects, rel) {
                self.pool.unwire(f);
            }
        }
        e.wired_count = 0;
    }
}
