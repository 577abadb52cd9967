//! Large-page faults and demotion (FreeBSD's `vm_fault_populate` with `pmap_enter(PMAP_ENTER_LARGEPAGE)`, and `pmap_demote_pde` done by copy): map a 2 MiB-aligned part of a `MADV_HUGEPAGE` entry with one mapping of a large region, and move single pages to small frames wherever a 4 KiB mapping of one is needed.
//!
//! Locking: runs inside the single-threaded `Vm`, from the fault path.
//!
//! The pages of a large region are ordinary pages of one object
//! (`large_pool.rs`): only their mapping is special. A large fault
//! (`Memory::fault_large`) applies when the entry has `EntryFlags::HUGE`,
//! is not wired, contains the whole 2 MiB-aligned chunk around the
//! address, has a chain of exactly one private anonymous object and no
//! pending copy. With `p0` the object's index of the chunk's first page:
//!
//! * no page of `p0 .. p0 + 512` is resident or on swap: a free region
//!   (oldest first) is taken, if the object's quota group has room for
//!   512 pages; all 512 frames are zeroed (regions are reused) and
//!   inserted dirty (`Uvmexp::large_allocs`);
//! * every page `p0 + i` is resident on frame `base + i` of one region
//!   and none is busy: the region is mapped again. A write marks all 512
//!   dirty and discards their swap slots, as a 4 KiB write does for its
//!   page: the one mapping lets the client write any of them.
//!
//! The chunk is then entered with `Pmap::enter_large`, writable only for
//! a write or when all 512 are dirty, and all 512 pages count as
//! referenced. Anything else (no region free, quota, a page on swap or
//! busy, pages moved by collapse, a pmap that refuses) takes the 4 KiB
//! path, which never maps a region frame by itself: `Memory::demote`
//! first moves that one page to a small frame by copy (seL4 cannot split
//! a large frame), keeping its flags, wiring and swap slot, and frees the
//! region frame back to its region. Partial munmap, mprotect, madvise,
//! fork and pageout need nothing here: the pmap takes the whole large
//! mapping down (its contract), and the next fault re-enters it whole or
//! demotes page by page.

use crate::config::LARGE_PAGE_FRAMES;
use crate::error::VmError;
use crate::fault::{FaultKind, FaultMapping};
use crate::map::{EntryFlags, VmMapEntry};
use crate::page::{AllocClass, PageFlags};
use crate::pmap::Pmap;
use crate::types::{Access, FrameNumber, Prot, SpaceId, PAGE_SIZE};
use crate::vm::Memory;

/// Bytes of one large page (2 MiB).
pub const LARGE_PAGE_SIZE: u64 = LARGE_PAGE_FRAMES as u64 * PAGE_SIZE;

impl Memory {
    /// Resolve the fault at `va` with one 2 MiB mapping if the entry and
    /// its pages allow it (module docs); `None` leaves it to the 4 KiB
    /// path. The caller is `fault_page`, after the rights check and the
    /// needs-copy and collapse handling, holding the entry of `space`.
    pub(crate) fn fault_large<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        entry: &VmMapEntry,
        va: u64,
        access: Access,
        pmap: &mut P,
    ) -> Option<FaultMapping> {
        if self.pool.large().count() == 0
            || !entry.flags.contains(EntryFlags::HUGE)
            || entry.is_wired()
            || entry.needs_copy()
            || entry.chain.len() != 1
        {
            return None;
        }
        let va0 = va & !(LARGE_PAGE_SIZE - 1);
        if va0 < entry.start || va0.checked_add(LARGE_PAGE_SIZE)? > entry.end {
            return None;
        }
        let front = entry.chain.links()[0];
        let obj = front.object;
        if !self.objects.get(obj).is_private_anon() {
            return None;
        }
        let n = u64::from(LARGE_PAGE_FRAMES);
        let p0 = front.pindex(entry.rel(va0));
        let write = access == Access::Write;
        let (empty, on_region) = {
            let o = self.objects.get(obj);
            let mut resident = o.pages_in(p0, p0 + n);
            let first = resident.next();
            let empty = first.is_none()
                && (o.swap().is_empty() || (p0..p0 + n).all(|p| o.swap_slot(p).is_none()));
            // The region the chunk's pages sit on, all 512 in order.
            let large = self.pool.large();
            let on_region = first.filter(|&(p, base)| {
                p == p0
                    && large
                        .region_of(base.0)
                        .is_some_and(|r| large.region_base(r) == base.0)
                    && resident.all(|(p, f)| f.0 == base.0 + (p - p0) as u32)
                    && o.pages_in(p0, p0 + n).count() as u64 == n
            });
            (empty, on_region)
        };
        let (base, kind) = match on_region {
            None => {
                // (a) Nothing there, not even on swap: a fresh region.
                if !empty || self.objects.resident_room(obj) < n {
                    return None;
                }
                let base = match self.pool.alloc_large(obj, p0) {
                    Some(b) => b,
                    None if self.reclaim_partial_region(pmap) => self.pool.alloc_large(obj, p0)?,
                    None => return None,
                };
                for i in 0..LARGE_PAGE_FRAMES {
                    let f = FrameNumber(base.0 + i);
                    pmap.zero_page(f);
                    self.objects.insert_page(obj, p0 + u64::from(i), f);
                    self.pool.validate(f, PageFlags::DIRTY);
                }
                self.stats.large_allocs += 1;
                (base, FaultKind::ZeroFill)
            }
            Some((_, base)) => {
                // (b) All 512 resident, in order, on one region.
                if self.chunk_busy(base) {
                    return None;
                }
                if write {
                    for i in 0..LARGE_PAGE_FRAMES {
                        self.pool
                            .set_flags(FrameNumber(base.0 + i), PageFlags::DIRTY);
                    }
                    // Their swap copies are stale now (`swap_pager_unswapped`).
                    self.objects.swap_discard(obj, p0, p0 + n);
                }
                (base, FaultKind::Resident)
            }
        };
        let mut prot = entry.prot;
        let all_dirty =
            (0..LARGE_PAGE_FRAMES).all(|i| self.pool.page(FrameNumber(base.0 + i)).is_dirty());
        if !write && !all_dirty {
            prot.remove(Prot::WRITE);
        }
        // Refused: the 4 KiB path takes over (and demotes the page).
        pmap.enter_large(space, va0, base, prot).ok()?;
        match kind {
            FaultKind::ZeroFill => self.stats.flt_zero += 1,
            _ => self.stats.flt_resident += 1,
        }
        let frame = FrameNumber(base.0 + ((va - va0) / PAGE_SIZE) as u32);
        let reference = kind == FaultKind::Resident
            && self
                .pool
                .page(frame)
                .flags()
                .contains(PageFlags::REF_UNMAPPED);
        if reference {
            self.stats.flt_reference += 1;
        }
        // One mapping covers all 512: the reference emulation sees all.
        for i in 0..LARGE_PAGE_FRAMES {
            let f = FrameNumber(base.0 + i);
            self.pool.clear_flags(f, PageFlags::REF_UNMAPPED);
            self.pool.set_flags(f, PageFlags::REFERENCED);
            self.pool.activate(f);
            self.pool.policy_referenced(f);
        }
        self.stats.flt_large += 1;
        Some(FaultMapping {
            va,
            frame,
            prot,
            kind,
            prefaulted: 0,
            reference,
            large: true,
        })
    }

    /// True when a page of the region starting at `base` is busy.
    fn chunk_busy(&self, base: FrameNumber) -> bool {
        (0..LARGE_PAGE_FRAMES).any(|i| {
            self.pool
                .page(FrameNumber(base.0 + i))
                .flags()
                .contains(PageFlags::BUSY)
        })
    }

    /// Move the page on region frame `old` to a small frame by copy, at
    /// the same index of the same object, with its flags, wiring and swap
    /// slot, as a fresh page for the replacement policy; `old` goes back
    /// to its region (`Uvmexp::large_demotes`). Returns the new frame.
    /// Fails as a normal allocation does, changing nothing. The caller
    /// found `old` resident, not busy and not held.
    pub(crate) fn demote<P: Pmap + ?Sized>(
        &mut self,
        old: FrameNumber,
        pmap: &mut P,
    ) -> Result<FrameNumber, VmError> {
        let pg = self.pool.page(old);
        let (obj, pindex, wires) = (
            pg.object().expect("owned page"),
            pg.pindex(),
            pg.wire_count(),
        );
        let mut flags = pg.flags();
        debug_assert!(!flags.contains(PageFlags::BUSY) && pg.hold_count() == 0);
        let new = self.pool.alloc(obj, pindex, AllocClass::Normal)?;
        // Takes down every large mapping of its region (the pmap contract).
        pmap.page_protect(old, Prot::NONE);
        if pmap.tracks_ref_mod() && pmap.is_modified(old) {
            flags.insert(PageFlags::DIRTY);
        }
        pmap.copy_page(old, new);
        self.objects.remove_page(obj, pindex);
        self.objects.insert_page(obj, pindex, new);
        for _ in 0..wires {
            self.pool.wire(new);
            self.pool.unwire(old);
        }
        self.pool
            .validate(new, flags.difference(PageFlags::BUSY | PageFlags::VALID));
        self.pool.free(old);
        self.stats.large_demotes += 1;
        Ok(new)
    }
}
