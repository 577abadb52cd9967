//! Fault resolution (`vm_fault`): find or make the page for (space, address, access), enter it with the right rights, fault around it; and `vm_fault_wire` for mlock.
//!
//! Locking: runs inside the single-threaded `Vm`. A fault that needs a
//! page on swap starts its page-in and returns `FaultOutcome::Wait` with
//! the request's tag; pages under swap I/O stay busy across calls, and a
//! fault finding one waits for the same tag, so no page is read twice.
//!
//! The rights a page is entered with implement the emulated modified bit:
//! a page is entered writable only when the access is a write or the page is
//! already dirty, so the first write to a clean page always faults
//! (`FaultKind::Modify`) and marks it dirty.

use crate::backing::transfer_wiring;
use crate::backing::{BackingChain, Lookup};
use crate::error::VmError;
use crate::map::VmMapEntry;
use crate::object::ObjectKind;
use crate::page::{AllocClass, PageFlags};
use crate::pmap::Pmap;
use crate::quota::Quota;
use crate::types::{Access, Advice, FrameNumber, Prot, SpaceId, PAGE_SIZE};
use crate::vm::{Res, Vm};
use vm_swap::IoTag;

/// How a fault found its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// A new zero page.
    ZeroFill,
    /// The page lower in the chain was copied into the front object.
    CowCopy,
    /// A page lower in the chain (or a needs-copy front) entered read-only.
    ReadOnlyShare,
    /// A resident page of the front object, not mapped before.
    Resident,
    /// A write to a mapped clean page: only the modified bit was emulated.
    Modify,
}

/// What one fault mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultMapping {
    /// The page-aligned address mapped.
    pub va: u64,
    pub frame: FrameNumber,
    /// Rights it was entered with (possibly fewer than the entry allows).
    pub prot: Prot,
    pub kind: FaultKind,
    /// Neighbouring pages entered by fault-around.
    pub prefaulted: u32,
}

/// The result of a fault that did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultOutcome {
    /// The page is mapped; reply to the faulting thread.
    Mapped(FaultMapping),
    /// The page is under swap I/O (a page-in this fault started, or a
    /// read or write already in flight): keep the reply (seL4:
    /// `CNode_SaveCaller`) and, when `Vm::swap_poll` reports this tag,
    /// retry the fault on `Ok` or fail it with the reported error.
    Wait(IoTag),
}

impl FaultOutcome {
    /// The mapping made, if the fault completed.
    pub fn mapping(&self) -> Option<&FaultMapping> {
        match self {
            FaultOutcome::Mapped(m) => Some(m),
            FaultOutcome::Wait(_) => None,
        }
    }
}

/// The fault proper's result inside the core.
pub(crate) enum Resolved {
    Mapped(FaultMapping),
    Wait(IoTag),
}

impl Vm {
    /// Resolve a fault by `space` at `va` (`vm_fault`): look the address up,
    /// walk the backing chain, zero-fill, copy on write or share read-only,
    /// enter the page through `pmap` and fault around it.
    /// The caller is the server loop; the faulting thread waits for the reply.
    pub fn fault<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        va: u64,
        access: Access,
        pmap: &mut P,
    ) -> Result<FaultOutcome, VmError> {
        self.res.stats.faults += 1;
        self.res.flush_dead_slots();
        self.charge_to(space);
        let r = self.fault_inner(space, va, access, pmap, true);
        // A write may have made a slot stale: give it back now.
        self.res.flush_dead_slots();
        match r {
            Err(VmError::NoMapping) => self.res.stats.flt_nomap += 1,
            Err(VmError::Protection) => self.res.stats.flt_prot += 1,
            Err(VmError::OutOfMemory | VmError::NoSwap) => self.res.stats.flt_noram += 1,
            Ok(Resolved::Wait(_)) => self.res.stats.flt_wait += 1,
            _ => {}
        }
        r.map(|r| match r {
            Resolved::Mapped(m) => FaultOutcome::Mapped(m),
            Resolved::Wait(t) => FaultOutcome::Wait(t),
        })
    }

    /// `fault` without the counters of refused faults; `around` enables
    /// fault-around. Counts the fault in the space's counters (mlock's
    /// faults too). The caller is `fault` or `fault_wire_page`.
    pub(crate) fn fault_inner<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        va: u64,
        access: Access,
        pmap: &mut P,
        around: bool,
    ) -> Result<Resolved, VmError> {
        let pageins = self.res.stats.pageins;
        let mut r = self.fault_resolve(space, va, access, pmap, around);
        // Past the group's resident quota: its own pages go first
        // (semantics: quota-resident).
        for _ in 0..4 {
            if !matches!(r, Err(VmError::QuotaExceeded(Quota::Resident))) {
                break;
            }
            r = match self.group_reclaim(space, pmap) {
                Ok(None) => self.fault_resolve(space, va, access, pmap, around),
                Ok(Some(tag)) => Ok(Resolved::Wait(tag)),
                Err(e) => Err(e),
            };
        }
        if let Some(sp) = self.spaces.get_mut(&space.0) {
            let c = &mut sp.counters;
            c.pageins += self.res.stats.pageins - pageins;
            if let Ok(Resolved::Mapped(m)) = &r {
                match m.kind {
                    FaultKind::ZeroFill => c.flt_zero += 1,
                    FaultKind::CowCopy => c.flt_cow += 1,
                    FaultKind::ReadOnlyShare => c.flt_share += 1,
                    FaultKind::Resident | FaultKind::Modify => c.flt_resident += 1,
                }
                c.flt_prefault += u64::from(m.prefaulted);
            }
        }
        r
    }

    /// The fault proper plus fault-around. The caller is `fault_inner`.
    fn fault_resolve<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        va: u64,
        access: Access,
        pmap: &mut P,
        around: bool,
    ) -> Result<Resolved, VmError> {
        let (res, spaces) = (&mut self.res, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).ok_or(VmError::BadSpace)?;
        let va = crate::types::trunc_page(va);
        let entry = sp.map.lookup_mut(va).ok_or(VmError::NoMapping)?;
        let mut m = match res.fault_page(space, entry, va, access, pmap) {
            Ok(Resolved::Mapped(m)) => m,
            Ok(w) => return Ok(w),
            // Swap I/O is in flight: wait for it instead of failing
            // (DragonFly's `vm_wait`): a write frees its pages, a read its
            // staging buffers so pageout can start writes. The server
            // retries when the tag completes.
            Err(VmError::OutOfMemory) if res.oldest_io().is_some() => {
                return Ok(Resolved::Wait(res.oldest_io().expect("checked")));
            }
            Err(VmError::OutOfMemory) if res.swap_exhausted() => return Err(VmError::NoSwap),
            Err(e) => return Err(e),
        };
        if around && res.config.prefault_ahead + res.config.prefault_behind > 0 {
            m.prefaulted = res.prefault(space, entry, va, access, m.kind, pmap);
        }
        Ok(Resolved::Mapped(m))
    }
}

impl Res {
    /// The fault proper on one page of `entry` (`vm_fault` minus
    /// fault-around). The caller holds the entry of `space` containing `va`.
    pub(crate) fn fault_page<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        entry: &mut VmMapEntry,
        va: u64,
        access: Access,
        pmap: &mut P,
    ) -> Result<Resolved, VmError> {
        if !entry.prot.contains(access.required()) {
            return Err(VmError::Protection);
        }
        let write = access == Access::Write;
        // vm_map_lookup's part: make the object, break needs-copy on write.
        if entry.chain.is_empty() {
            let obj = self.objects.allocate(ObjectKind::Anonymous, entry.npages());
            entry.chain = BackingChain::single(obj, 0);
        }
        if write && entry.needs_copy() {
            // A page past its object's end is refused before shadowing
            // can fail for want of memory or a read (semantics:
            // errors-order); shadowing changes nothing a lookup sees.
            entry.chain.lookup(&self.objects, entry.rel(va))?;
            self.shadow_entry(space, entry, pmap)?;
        } else if entry.chain.len() > 1 {
            self.collapse_chain(entry);
        }
        let rel = entry.rel(va);
        let found = match entry.chain.lookup(&self.objects, rel)? {
            Lookup::Resident(_, f) if self.pool.page(f).flags().contains(PageFlags::BUSY) => {
                // Under a page-in or a pageout: wait for that request.
                return Ok(Resolved::Wait(self.busy_io[&f.0]));
            }
            Lookup::Resident(d, f) => Some((d, f)),
            Lookup::Swapped(d) => {
                let link = entry.chain.links()[d];
                // A write copies the page read in: the copy needs a frame
                // of the front's group beside it, or the group's pageout
                // that makes room for the copy could evict the page just
                // read, again and again (semantics: quota-resident).
                let mut reserve = 0;
                if write && d > 0 {
                    let front = entry.chain.links()[0].object;
                    let same =
                        self.objects.get(front).charge() == self.objects.get(link.object).charge();
                    reserve = u64::from(same);
                    if self.objects.resident_room(front) < 1 + reserve {
                        return Err(VmError::QuotaExceeded(Quota::Resident));
                    }
                }
                let started = self.stats.pageins;
                let tag = self.pagein(
                    link.object,
                    link.pindex(rel),
                    AllocClass::Normal,
                    Some(space),
                    reserve,
                )?;
                // Not when the device was saturated and no read started.
                if self.stats.pageins > started {
                    self.stats.flt_pagein += 1;
                }
                return Ok(Resolved::Wait(tag));
            }
            Lookup::Empty => None,
        };
        let own_front = !entry.needs_copy();
        let mut readonly = entry.prot;
        readonly.remove(Prot::WRITE);
        let (frame, prot, kind) = match found {
            Some((0, f)) if own_front => {
                let dirty = self.pool.page(f).is_dirty();
                if write {
                    let kind = if pmap.is_mapped(space, va) {
                        self.stats.flt_modify += 1;
                        FaultKind::Modify
                    } else {
                        self.stats.flt_resident += 1;
                        FaultKind::Resident
                    };
                    self.pool.set_flags(f, PageFlags::DIRTY);
                    // Its swap copy is stale now (`swap_pager_unswapped`).
                    let front = entry.chain.links()[0];
                    let p = front.pindex(rel);
                    self.objects.swap_discard(front.object, p, p + 1);
                    (f, entry.prot, kind)
                } else {
                    self.stats.flt_resident += 1;
                    (
                        f,
                        if dirty { entry.prot } else { readonly },
                        FaultKind::Resident,
                    )
                }
            }
            Some((_, src)) if write => {
                // Copy on write into the front (needs-copy is broken above).
                let front = entry.chain.links()[0];
                let pindex = front.pindex(rel);
                self.objects.may_add_page(front.object)?;
                let dst = self.pool.alloc(front.object, pindex, AllocClass::Normal)?;
                self.pool.hold(src);
                pmap.copy_page(src, dst);
                self.pool.unhold(src);
                self.objects.insert_page(front.object, pindex, dst);
                self.pool.validate(dst, PageFlags::DIRTY);
                if entry.is_wired() {
                    transfer_wiring(&mut self.pool, Some(src), dst);
                }
                self.stats.flt_cow += 1;
                (dst, entry.prot, FaultKind::CowCopy)
            }
            Some((_, f)) => {
                self.stats.flt_share += 1;
                (f, readonly, FaultKind::ReadOnlyShare)
            }
            None => {
                let (f, prot) = self.zero_fill(entry, rel, write, pmap)?;
                self.stats.flt_zero += 1;
                (f, prot, FaultKind::ZeroFill)
            }
        };
        self.pool.set_flags(frame, PageFlags::REFERENCED);
        self.pool.activate(frame);
        self.pool.policy_referenced(frame);
        pmap.enter(space, va, frame, prot).map_err(VmError::from)?;
        Ok(Resolved::Mapped(FaultMapping {
            va,
            frame,
            prot,
            kind,
            prefaulted: 0,
        }))
    }

    /// Make a zero page for entry-relative page `rel`, seen by no link.
    /// A write puts it in the front object; a read puts it in the deepest
    /// object, which owns the contents for every chain that reaches it
    /// (so a read never forks a private copy of "nothing"). Returns the
    /// page and the rights to enter it with. The caller holds the entry.
    fn zero_fill<P: Pmap + ?Sized>(
        &mut self,
        entry: &mut VmMapEntry,
        rel: u64,
        write: bool,
        pmap: &mut P,
    ) -> Result<(FrameNumber, Prot), VmError> {
        let depth = if write { 0 } else { entry.chain.len() - 1 };
        let link = entry.chain.links()[depth];
        let pindex = link.pindex(rel);
        self.objects.may_add_page(link.object)?;
        let f = self.pool.alloc(link.object, pindex, AllocClass::Normal)?;
        pmap.zero_page(f);
        self.objects.insert_page(link.object, pindex, f);
        self.pool.validate(
            f,
            if write {
                PageFlags::DIRTY
            } else {
                PageFlags::empty()
            },
        );
        if entry.is_wired() {
            transfer_wiring(&mut self.pool, None, f);
        }
        let mut prot = entry.prot;
        if !(write && depth == 0 && !entry.needs_copy()) {
            prot.remove(Prot::WRITE);
        }
        Ok((f, prot))
    }

    /// Fault-around (`vm_prefault`): enter up to `prefault_ahead` pages after
    /// and `prefault_behind` before `va` that are unmapped and either
    /// resident in the chain or, after a zero-fill fault, cheap to
    /// zero-fill. Advice steers it: Random disables it, Sequential looks
    /// only ahead, twice as far. Never dips below `prefault_min_free` free
    /// pages; stops at the first pmap failure. Returns the pages entered.
    /// The caller holds the entry of `space` containing `va`.
    pub(crate) fn prefault<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        entry: &mut VmMapEntry,
        va: u64,
        access: Access,
        kind: FaultKind,
        pmap: &mut P,
    ) -> u32 {
        let (behind, ahead) = match entry.advice {
            Advice::Random => return 0,
            Advice::Sequential => (0, self.config.prefault_ahead * 2),
            _ => (self.config.prefault_behind, self.config.prefault_ahead),
        };
        let zero_ok =
            kind == FaultKind::ZeroFill && self.config.prefault_zero_fill && !entry.is_wired();
        // A speculative private zero page is only equivalent to "nothing
        // there" when nothing below can change; over a shared base a
        // neighbour is zero-filled in the base, read-only, as a read would.
        let write = access == Access::Write
            && entry
                .chain
                .links()
                .last()
                .is_some_and(|l| self.objects.get(l.object).is_private_anon());
        let mut readonly = entry.prot;
        readonly.remove(Prot::WRITE);
        let mut count = 0;
        let forward = (1..=ahead as u64).map_while(|d| va.checked_add(d * PAGE_SIZE));
        let backward = (1..=behind as u64).map_while(|d| va.checked_sub(d * PAGE_SIZE));
        for (dir, cva) in forward
            .map(|v| (true, v))
            .chain(backward.map(|v| (false, v)))
        {
            if cva < entry.start || cva >= entry.end {
                if dir {
                    continue;
                }
                break;
            }
            if pmap.is_mapped(space, cva) {
                continue;
            }
            let rel = entry.rel(cva);
            let found = match entry.chain.lookup(&self.objects, rel) {
                Ok(Lookup::Resident(_, f))
                    if self.pool.page(f).flags().contains(PageFlags::BUSY) =>
                {
                    continue;
                }
                Ok(Lookup::Resident(d, f)) => Ok(Some((d, f))),
                Ok(Lookup::Swapped(_)) | Err(_) => continue,
                Ok(Lookup::Empty) => Ok(None),
            };
            let (frame, prot) = match found {
                Err::<_, VmError>(_) => continue,
                Ok(Some((0, f))) if !entry.needs_copy() => (
                    f,
                    if self.pool.page(f).is_dirty() {
                        entry.prot
                    } else {
                        readonly
                    },
                ),
                Ok(Some((_, f))) => (f, readonly),
                Ok(None) => {
                    if !zero_ok || self.pool.free_count() <= self.config.prefault_min_free {
                        continue;
                    }
                    match self.zero_fill(entry, rel, write, pmap) {
                        Ok(x) => {
                            self.stats.flt_prefault_zero += 1;
                            x
                        }
                        Err(_) => break,
                    }
                }
            };
            if pmap.enter(space, cva, frame, prot).is_err() {
                break;
            }
            count += 1;
        }
        self.stats.flt_prefault += count as u64;
        count
    }
}

impl Vm {
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
                match self.fault_inner(space, va, access, pmap, false) {
                    Ok(Resolved::Mapped(m)) => Ok(Some(m.frame)),
                    Ok(Resolved::Wait(tag)) => {
                        // mlock waits for the device, then faults again.
                        self.res.wait_for(tag, pmap)?;
                        continue;
                    }
                    Err(e) => Err(e),
                }
            };
            match r {
                Ok(frame) => {
                    self.res.stats.wire_faults += 1;
                    let e = self.spaces[&space.0].map.lookup(va).expect("range mapped");
                    let f = e.chain.visible(&self.res.objects, e.rel(va));
                    debug_assert!(frame.is_none() || frame == f);
                    return Ok(f.expect("faulted in"));
                }
                Err(VmError::OutOfMemory | VmError::NoSwap) => self.reclaim(1, pmap)?,
                Err(VmError::QuotaExceeded(Quota::Resident)) => {
                    if let Some(tag) = self.group_reclaim(space, pmap)? {
                        self.res.wait_for(tag, pmap)?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Make the page at `va` resident without mapping it (for wiring an
    /// entry with no access). The caller holds the entry containing `va`.
    fn make_resident<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        va: u64,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        let (res, spaces) = (&mut self.res, &mut self.spaces);
        let entry = spaces
            .get_mut(&space.0)
            .and_then(|s| s.map.lookup_mut(va))
            .ok_or(VmError::NoMapping)?;
        if entry.chain.is_empty() {
            let obj = res.objects.allocate(ObjectKind::Anonymous, entry.npages());
            entry.chain = BackingChain::single(obj, 0);
        }
        let rel = entry.rel(va);
        loop {
            match entry.chain.lookup(&res.objects, rel)? {
                Lookup::Empty => {
                    res.zero_fill(entry, rel, false, pmap)?;
                }
                Lookup::Resident(_, f) if res.pool.page(f).flags().contains(PageFlags::BUSY) => {
                    let tag = res.busy_io[&f.0];
                    res.wait_for(tag, pmap)?;
                    continue;
                }
                Lookup::Resident(..) => {}
                Lookup::Swapped(d) => {
                    let link = entry.chain.links()[d];
                    let tag = res.pagein_for(
                        link.object,
                        link.pindex(rel),
                        AllocClass::Normal,
                        Some(space),
                    )?;
                    res.wait_for(tag, pmap)?;
                    continue;
                }
            }
            return Ok(());
        }
    }
}
