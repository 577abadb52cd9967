//! Fault resolution (`vm_fault`): find or make the page for (space, address, access) through the entry's chain, copy on write, zero-fill, start a page-in, and enter the page with the rights the emulated modified bit allows.
//!
//! Locking: runs inside the single-threaded `Vm`. A fault that needs a
//! page on swap starts its page-in and returns `FaultOutcome::Wait` with
//! the request's tag; pages under swap I/O stay busy across calls, and a
//! fault finding one waits for the same tag, so no page is read twice.

use crate::chain::{transfer_wiring, BackingChain, Lookup};
use crate::error::VmError;
use crate::limits::Quota;
use crate::map::VmMapEntry;
use crate::object::ObjectKind;
use crate::page::{AllocClass, PageFlags};
use crate::pmap::Pmap;
use crate::types::{Access, FrameNumber, Prot, SpaceId, PAGE_SIZE};
use crate::vm::{Memory, Vm};
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
    /// A reference fault: the page was resident, unmapped only by the
    /// pageout scan's clearing of its emulated reference bit
    /// (`PageFlags::REF_UNMAPPED`).
    pub reference: bool,
    /// One 2 MiB mapping of a large region covers `va`
    /// (`Pmap::enter_large`, `large.rs`); no fault-around followed.
    pub large: bool,
}

/// The result of a fault that did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultOutcome {
    /// The page is mapped; reply to the faulting thread.
    Mapped(FaultMapping),
    /// The page is under swap I/O (a page-in this fault started, or a
    /// read or write already in flight): keep the reply (seL4:
    /// `CNode_SaveCaller`) and, once the tag is no longer in flight
    /// (`Vm::io_pending`; any poll may have handled it), retry the fault
    /// (`Vm::refault` if it waited for its page's I/O, not for memory);
    /// a failed page-in then fails it.
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

/// Which neighbours a fault enters besides its page (`fault_around.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Around {
    /// Fault-around as configured.
    Yes,
    /// Only on a touch in order: a fault retried after its page's I/O
    /// (`Vm::refault`).
    InOrder,
    /// Its page alone (mlock's faults).
    No,
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
        self.fault_counted(space, va, access, pmap, Around::Yes)
    }

    /// `fault` again, for a fault told to `Wait` for its page's I/O (its
    /// read from swap or a pager, or a pageout write under way on the
    /// page; not for memory) once that completed. It faults around only
    /// on a touch in order, where the read-ahead pages are what the
    /// toucher comes for next: a scattered fault that waited enters its
    /// page alone, as Linux's swap fault does, and sets the next page as
    /// where a touch in order comes. The neighbours of a scattered read are
    /// read-ahead pages, which fault-around leaves alone anyway
    /// (`prefault_candidate`), so what this saves is the neighbour scan,
    /// cold again after the read under TCG (docs/performance.md, "The
    /// page-in fault's retry"). A fault that waited for memory is tried
    /// again with `fault`: that is its first real attempt.
    pub fn refault<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        va: u64,
        access: Access,
        pmap: &mut P,
    ) -> Result<FaultOutcome, VmError> {
        self.fault_counted(space, va, access, pmap, Around::InOrder)
    }

    /// `fault` or `refault`: the fault with its counters.
    fn fault_counted<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        va: u64,
        access: Access,
        pmap: &mut P,
        around: Around,
    ) -> Result<FaultOutcome, VmError> {
        self.mem.stats.faults += 1;
        self.mem.flush_dead_slots();
        self.charge_to(space);
        let r = self.fault_inner(space, va, access, pmap, around);
        // A write may have made a slot stale: give it back now.
        self.mem.flush_dead_slots();
        match r {
            Err(VmError::NoMapping) => self.mem.stats.flt_nomap += 1,
            Err(VmError::Protection) => self.mem.stats.flt_prot += 1,
            Err(VmError::OutOfMemory | VmError::NoSwap) => self.mem.stats.flt_noram += 1,
            Ok(Resolved::Wait(_)) => self.mem.stats.flt_wait += 1,
            _ => {}
        }
        r.map(|r| match r {
            Resolved::Mapped(m) => FaultOutcome::Mapped(m),
            Resolved::Wait(t) => FaultOutcome::Wait(t),
        })
    }

    /// `fault` without the counters of refused faults; `around` says
    /// which neighbours it enters. Counts the fault in the space's
    /// counters (mlock's faults too). The caller is `fault_counted` or
    /// `fault_wire_page`.
    pub(crate) fn fault_inner<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        va: u64,
        access: Access,
        pmap: &mut P,
        around: Around,
    ) -> Result<Resolved, VmError> {
        let pageins = self.mem.stats.pageins;
        let mut r = self.fault_resolve(space, va, access, pmap, around);
        // Past the group's resident quota: its own pages go first
        // (semantics: quota-resident).
        for _ in 0..4 {
            if !matches!(r, Err(VmError::QuotaExceeded(Quota::Resident))) {
                break;
            }
            r = match self.group_reclaim(space, pmap) {
                Ok(None) => self.fault_resolve(space, va, access, pmap, around),
                Ok(Some(tag)) => {
                    self.mem.stats.flt_wait_memory += 1;
                    Ok(Resolved::Wait(tag))
                }
                Err(e) => Err(e),
            };
        }
        if let Some(sp) = self.spaces.get_mut(&space.0) {
            let c = &mut sp.counters;
            c.pageins += self.mem.stats.pageins - pageins;
            if let Ok(Resolved::Mapped(m)) = &r {
                match m.kind {
                    FaultKind::ZeroFill => c.flt_zero += 1,
                    FaultKind::CowCopy => c.flt_cow += 1,
                    FaultKind::ReadOnlyShare => c.flt_share += 1,
                    FaultKind::Resident | FaultKind::Modify => c.flt_resident += 1,
                }
                c.flt_prefault += u64::from(m.prefaulted);
                c.flt_large += u64::from(m.large);
            }
        }
        r
    }

    /// The fault proper plus fault-around. The caller is `fault_inner`.
    pub(crate) fn fault_resolve<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        va: u64,
        access: Access,
        pmap: &mut P,
        around: Around,
    ) -> Result<Resolved, VmError> {
        let (mem, spaces) = (&mut self.mem, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).ok_or(VmError::BadSpace)?;
        let va = crate::types::trunc_page(va);
        let entry = sp.map.lookup_mut(va).ok_or(VmError::NoMapping)?;
        let mut m = match mem.fault_page(space, entry, va, access, pmap) {
            Ok(Resolved::Mapped(m)) => m,
            Ok(w) => return Ok(w),
            // Swap I/O is in flight: wait for it instead of failing
            // (DragonFly's `vm_wait`): a write frees its pages, a read its
            // staging buffers so pageout can start writes. The server
            // retries when the tag completes.
            Err(VmError::OutOfMemory) if mem.oldest_io().is_some() => {
                mem.stats.flt_wait_memory += 1;
                return Ok(Resolved::Wait(mem.oldest_io().expect("checked")));
            }
            Err(VmError::OutOfMemory) if mem.swap_exhausted() => return Err(VmError::NoSwap),
            Err(e) => return Err(e),
        };
        if around != Around::No && mem.fault_around_wanted(entry, m.large) {
            if around == Around::Yes || entry.touched_in_order(va) {
                m.prefaulted = mem.prefault(space, entry, va, access, m.kind, pmap);
            } else {
                // Its page alone: a toucher in order comes to the next
                // page (where `prefault` too would have left off, unless
                // it could enter that page).
                entry.next_fault = va.saturating_add(PAGE_SIZE);
            }
        }
        // The chunk may be fully resident now: copy it to a large page.
        if !m.large {
            if let Some((f, prot)) = mem.promote(space, entry, va, m.prot, pmap) {
                (m.frame, m.prot, m.large) = (f, prot, true);
            }
        }
        Ok(Resolved::Mapped(m))
    }
}

impl Memory {
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
            self.objects.may_allocate(1)?;
            let obj = self.objects.allocate(ObjectKind::Anonymous, entry.npages());
            entry.chain = BackingChain::single(obj, 0);
        }
        if write && entry.needs_copy() {
            // A page past its object's end is refused before the entry
            // changes (semantics: errors-order); shadowing changes
            // nothing a lookup sees.
            entry.chain.lookup(&self.objects, entry.rel(va))?;
            self.shadow_entry(entry)?;
        } else if entry.chain.len() > 1 {
            self.collapse_chain(entry);
        }
        if let Some(m) = self.fault_large(space, entry, va, access, pmap) {
            return Ok(Resolved::Mapped(m));
        }
        let rel = entry.rel(va);
        let found = match entry.chain.lookup(&self.objects, rel)? {
            Lookup::Resident(_, f) if self.pool.page(f).flags().contains(PageFlags::BUSY) => {
                // Under a page-in or a pageout: wait for that request.
                let tag = self.io_tag_of(f).expect("a busy page is in a request");
                return Ok(Resolved::Wait(tag));
            }
            Lookup::Resident(d, f) => Some((d, f)),
            found @ (Lookup::Swapped(d) | Lookup::Paged(d)) => {
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
                let (o, pindex) = (link.object, link.pindex(rel));
                let tag = if let Lookup::Paged(_) = found {
                    self.pager_read(o, pindex, AllocClass::Normal, Some(space), reserve)?
                } else {
                    self.pagein(o, pindex, AllocClass::Normal, Some(space), reserve)?
                };
                // Not when the device was saturated and no read started.
                if self.stats.pageins > started {
                    self.stats.flt_pagein += 1;
                }
                return Ok(Resolved::Wait(tag));
            }
            Lookup::Empty => None,
        };
        let own_front = !entry.needs_copy();
        let (frame, depth, kind) = match found {
            Some((0, f)) if own_front => {
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
                    (f, 0, kind)
                } else {
                    self.stats.flt_resident += 1;
                    (f, 0, FaultKind::Resident)
                }
            }
            Some((_, src)) if write => {
                // Copy on write into the front (needs-copy is broken above).
                let front = entry.chain.links()[0];
                let pindex = front.pindex(rel);
                self.objects.may_add_page(front.object)?;
                let mut dst = self.pool.alloc(front.object, pindex, AllocClass::Normal)?;
                self.pool.hold(src);
                pmap.copy_page(src, dst);
                self.pool.unhold(src);
                // Or the copy goes down and the mapped frame stays, made
                // writable by one remap (`cow_trade.rs`).
                if self.may_trade(src, space, va, entry, pmap) {
                    self.trade(src, dst, pmap);
                    dst = src;
                }
                self.objects.insert_page(front.object, pindex, dst);
                self.pool.validate(dst, PageFlags::DIRTY);
                if entry.is_wired() {
                    transfer_wiring(&mut self.pool, Some(src), dst);
                }
                self.stats.flt_cow += 1;
                (dst, 0, FaultKind::CowCopy)
            }
            Some((depth, f)) => {
                self.stats.flt_share += 1;
                (f, depth, FaultKind::ReadOnlyShare)
            }
            None => {
                let (f, depth) = self.zero_fill(entry, rel, write, pmap)?;
                self.stats.flt_zero += 1;
                (f, depth, FaultKind::ZeroFill)
            }
        };
        // A large region's frame is only ever mapped whole: move this
        // page to a small frame first (`large.rs`).
        let frame = if self.pool.is_region_frame(frame) {
            self.demote(frame, pmap)?
        } else {
            frame
        };
        let prot = self.enter_prot(entry, depth, frame);
        // The rule for a reference fault: the page was found resident (not
        // made by this fault) with the mark the scan leaves when it unmaps
        // a referenced page to clear its bit. Approximation: a page the
        // scan unmapped while its own page-in's fault had not yet been
        // retried counts too; a shared page counts once, for the first
        // space that faults on it again.
        let reference = self.fault_referenced(frame, found.is_some());
        pmap.enter(space, va, frame, prot).map_err(VmError::from)?;
        if found.is_some() {
            self.readahead_touched(frame);
        }
        Ok(Resolved::Mapped(FaultMapping {
            va,
            frame,
            prot,
            kind,
            prefaulted: 0,
            reference,
            large: false,
        }))
    }

    /// Make a zero page for entry-relative page `rel`, seen by no link.
    /// A write puts it in the front object; a read puts it in the deepest
    /// object, which owns the contents for every chain that reaches it
    /// (so a read never forks a private copy of "nothing"). Returns the
    /// page and the depth it went to. The caller holds the entry.
    pub(crate) fn zero_fill<P: Pmap + ?Sized>(
        &mut self,
        entry: &mut VmMapEntry,
        rel: u64,
        write: bool,
        pmap: &mut P,
    ) -> Result<(FrameNumber, usize), VmError> {
        let depth = if write { 0 } else { entry.chain.len() - 1 };
        let link = entry.chain.links()[depth];
        let pindex = link.pindex(rel);
        self.objects.may_add_page(link.object)?;
        let (f, zeroed) = self
            .pool
            .alloc_zeroed(link.object, pindex, AllocClass::Normal)?;
        if zeroed {
            self.stats.pga_zerohit += 1;
        } else {
            pmap.zero_page(f);
            self.stats.pga_zeromiss += 1;
        }
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
        Ok((f, depth))
    }
}

impl Memory {
    /// Mark `f` used by the fault that maps it (emulated reference bit,
    /// activation, the policy's hit) and clear the scan's mark; true for a
    /// reference fault, counted in `flt_reference`: `found` (a page this
    /// fault did not make) with the mark set. The caller maps `f` next.
    pub(crate) fn fault_referenced(&mut self, f: FrameNumber, found: bool) -> bool {
        let marked = self.pool.page(f).flags().contains(PageFlags::REF_UNMAPPED);
        if marked {
            self.pool.clear_flags(f, PageFlags::REF_UNMAPPED);
        }
        let reference = found && marked;
        if reference {
            self.stats.flt_reference += 1;
        }
        self.pool.set_flags(f, PageFlags::REFERENCED);
        self.pool.activate(f);
        self.pool.policy_referenced(f);
        reference
    }
}
