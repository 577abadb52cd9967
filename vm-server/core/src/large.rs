//! Large-page faults and demotion (FreeBSD's `vm_fault_populate` with `pmap_enter(PMAP_ENTER_LARGEPAGE)`, and `pmap_demote_pde` done by copy): map a 2 MiB-aligned part of a `MADV_HUGEPAGE` entry with one mapping of a large region, and move single pages to small frames wherever a 4 KiB mapping of one is needed.
//!
//! Locking: runs inside the single-threaded `Vm`, from the fault path.
//!
//! The pages of a large region are ordinary pages of one object
//! (`large_pool.rs`): only their mapping is special. A large fault
//! (`Memory::fault_large`) applies when the entry allows large pages
//! (`EntryFlags::HUGE`, or transparent large pages and no `NOHUGE`), is
//! not wired, contains the whole 2 MiB-aligned chunk around the
//! address, has a chain of exactly one private anonymous object and no
//! pending copy. With `p0` the object's index of the chunk's first page:
//!
//! * no page of `p0 .. p0 + 512` is resident or on swap: a free region
//!   (oldest first) is taken, for a `HUGE` entry only (a transparent
//!   chunk fills page by page and is promoted, `promote.rs`), if the
//!   object's quota group has room for
//!   512 pages; all 512 frames are zeroed (regions are reused) and
//!   inserted dirty (`Uvmexp::large_allocs`);
//! * every page `p0 + i` is resident on frame `base + i` of one region
//!   and none is busy: the region is mapped again. A write marks all 512
//!   dirty and discards their swap slots, as a 4 KiB write does for its
//!   page: the one mapping lets the client write any of them.
//!
//! Through a chain of more than one link, a pending copy or a shared
//! object (`fault_large_shared`), the chunk's owner is the first object
//! of the chain with any of its pages, which must hold all 512 with
//! nothing above hiding any: a read maps the owner's region read-only
//! where it is (fork shares large pages, no copy); a write to an owner
//! below the front copies all 512 into a fresh region of the front
//! (`VmConfig::large_cow_copy`, `Uvmexp::large_cow_copies`).
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
use crate::object::{ObjectFlags, ObjectKind, VmObject};
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
        let va0 = self.huge_chunk(entry, va)?;
        let front = entry.chain.links()[0];
        if entry.chain.len() == 1
            && !entry.needs_copy()
            && self.objects.get(front.object).is_private_anon()
        {
            return self.fault_large_own(space, entry, va, va0, access, pmap);
        }
        self.fault_large_shared(space, entry, va, va0, access, pmap)
    }

    /// The first address of the 2 MiB chunk around `va` when a large
    /// mapping may cover it: large regions exist, the entry allows large
    /// pages (`large_allowed`), is unwired, has an object, and holds the
    /// whole chunk. Shared by the large fault and promotion.
    // In line: every 4 KiB fault asks (promotion's checks), and a call is
    // two block lookups under TCG (docs/performance.md, "Data pages of a
    // fault").
    #[inline(always)]
    pub(crate) fn huge_chunk(&self, entry: &VmMapEntry, va: u64) -> Option<u64> {
        if self.pool.large().count() == 0
            || !self.large_allowed(entry)
            || entry.is_wired()
            || entry.chain.is_empty()
        {
            return None;
        }
        let va0 = va & !(LARGE_PAGE_SIZE - 1);
        (va0 >= entry.start && va0.checked_add(LARGE_PAGE_SIZE)? <= entry.end).then_some(va0)
    }

    /// Whether a large page may cover part of `entry`: advised
    /// `HugePage`, or not advised `NoHugePage` with transparent large
    /// pages on (`VmConfig::large_transparent`).
    pub(crate) fn large_allowed(&self, entry: &VmMapEntry) -> bool {
        entry.flags.contains(EntryFlags::HUGE)
            || (self.config.large_transparent && !entry.flags.contains(EntryFlags::NOHUGE))
    }

    /// The large fault of an entry whose one private object owns the
    /// chunk: (a) a fresh region or (b) its region mapped again (module
    /// docs). The caller is `fault_large`, which checked the entry.
    // Out of line: the 4 KiB fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    fn fault_large_own<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        entry: &VmMapEntry,
        va: u64,
        va0: u64,
        access: Access,
        pmap: &mut P,
    ) -> Option<FaultMapping> {
        let front = entry.chain.links()[0];
        let obj = front.object;
        let n = u64::from(LARGE_PAGE_FRAMES);
        let p0 = front.pindex(entry.rel(va0));
        let write = access == Access::Write;
        let on_region = self.region_run(self.objects.get(obj), p0);
        let (base, kind) = match on_region {
            None => {
                // (a) Nothing there, not even on swap: a fresh region,
                // for `HugePage` advice only (transparent large pages
                // come by promotion, once the chunk fills).
                if !entry.flags.contains(EntryFlags::HUGE) {
                    return None;
                }
                let o = self.objects.get(obj);
                let empty =
                    o.pages_in(p0, p0 + n).next().is_none() && !Self::any_swap(o, p0, p0 + n);
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
            Some(base) => {
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
        self.enter_large_chunk(space, va, va0, base, prot, kind, pmap)
    }

    /// The large fault through a chain of more than one link, a pending
    /// copy or a shared object: when one object of the chain holds all
    /// 512 pages of the chunk and nothing above it hides any, a read maps
    /// them read-only where they are (a region, in order), and a write
    /// (`VmConfig::large_cow_copy`) copies all 512 into a fresh region of
    /// the front object. The caller is `fault_large`, which checked the
    /// entry; a write has its needs-copy broken already.
    // Out of line: the 4 KiB fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    fn fault_large_shared<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        entry: &VmMapEntry,
        va: u64,
        va0: u64,
        access: Access,
        pmap: &mut P,
    ) -> Option<FaultMapping> {
        let rel0 = entry.rel(va0);
        let (depth, p0) = self.chunk_owner(entry, rel0)?;
        let owner = entry.chain.links()[depth].object;
        let n = u64::from(LARGE_PAGE_FRAMES);
        if access != Access::Write {
            // Item: map the owner's region read-only, shared, no copy.
            let base = self.region_run(self.objects.get(owner), p0)?;
            if self.chunk_busy(base) {
                return None;
            }
            let mut prot = entry.prot;
            prot.remove(Prot::WRITE);
            let kind = if depth == 0 && !entry.needs_copy() {
                FaultKind::Resident
            } else {
                FaultKind::ReadOnlyShare
            };
            return self.enter_large_chunk(space, va, va0, base, prot, kind, pmap);
        }
        // Copy on write of the whole chunk into the front.
        let front = entry.chain.links()[0];
        if depth == 0
            || entry.needs_copy()
            || !self.config.large_cow_copy
            || !self.objects.get(front.object).is_private_anon()
            || self.pool.large().free_count() == 0
            || self.objects.resident_room(front.object) < n
        {
            return None;
        }
        let srcs: alloc::vec::Vec<FrameNumber> = {
            let o = self.objects.get(owner);
            o.pages_in(p0, p0 + n).map(|(_, f)| f).collect()
        };
        if srcs.len() as u64 != n
            || srcs
                .iter()
                .any(|&f| self.pool.page(f).flags().contains(PageFlags::BUSY))
        {
            return None;
        }
        let fp0 = front.pindex(rel0);
        let base = self.pool.alloc_large(front.object, fp0)?;
        for (i, &src) in srcs.iter().enumerate() {
            let f = FrameNumber(base.0 + i as u32);
            pmap.copy_page(src, f);
            self.objects.insert_page(front.object, fp0 + i as u64, f);
            self.pool.validate(f, PageFlags::DIRTY);
        }
        self.stats.large_allocs += 1;
        self.stats.large_cow_copies += 1;
        self.enter_large_chunk(space, va, va0, base, entry.prot, FaultKind::CowCopy, pmap)
    }

    /// The link depth and page index of the one object of `entry`'s chain
    /// that holds all 512 pages of the chunk at entry-relative page
    /// `rel0`, with no page, swap slot, pager or bound above it hiding
    /// any. `None` otherwise. The caller holds the entry.
    fn chunk_owner(&self, entry: &VmMapEntry, rel0: u64) -> Option<(usize, u64)> {
        let n = u64::from(LARGE_PAGE_FRAMES);
        for (depth, link) in entry.chain.links().iter().enumerate() {
            let o = self.objects.get(link.object);
            let p0 = link.pindex(rel0);
            if o.kind() != ObjectKind::Anonymous || o.flags().contains(ObjectFlags::DEAD) {
                return None;
            }
            if o.pages_in(p0, p0 + n).next().is_some() {
                let all = o.pages_in(p0, p0 + n).count() as u64 == n;
                return all.then_some((depth, p0));
            }
            if Self::any_swap(o, p0, p0 + n) || (o.bounded() && p0 + n > o.size()) {
                return None;
            }
        }
        None
    }

    /// True when a page of `lo .. hi` of `o` has a swap slot.
    fn any_swap(o: &VmObject, lo: u64, hi: u64) -> bool {
        !o.swap().is_empty() && (lo..hi).any(|p| o.swap_slot(p).is_some())
    }

    /// The region whose frame `base + i` holds page `p0 + i` of `o` for
    /// all 512, if there is one.
    fn region_run(&self, o: &VmObject, p0: u64) -> Option<FrameNumber> {
        let n = u64::from(LARGE_PAGE_FRAMES);
        let (p, base) = o.pages_in(p0, p0 + n).next()?;
        let large = self.pool.large();
        // One walk: all `n` present, each on its frame of the region.
        let ok = p == p0
            && large
                .region_of(base.0)
                .is_some_and(|r| large.region_base(r) == base.0)
            && o.pages_in(p0, p0 + n)
                .eq((0..n).map(|i| (p0 + i, FrameNumber(base.0 + i as u32))));
        ok.then_some(base)
    }

    /// Enter region `base` at `va0` with `prot` and do the fault's
    /// bookkeeping for `kind`; `None` when the pmap refuses (the 4 KiB
    /// path takes over and demotes). The caller made the 512 pages ready.
    #[allow(clippy::too_many_arguments)]
    fn enter_large_chunk<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        va: u64,
        va0: u64,
        base: FrameNumber,
        prot: Prot,
        kind: FaultKind,
        pmap: &mut P,
    ) -> Option<FaultMapping> {
        // Refused: the 4 KiB path takes over (and demotes the page).
        pmap.enter_large(space, va0, base, prot).ok()?;
        match kind {
            FaultKind::ZeroFill => self.stats.flt_zero += 1,
            FaultKind::CowCopy => self.stats.flt_cow += 1,
            FaultKind::ReadOnlyShare => self.stats.flt_share += 1,
            _ => self.stats.flt_resident += 1,
        }
        let frame = FrameNumber(base.0 + ((va - va0) / PAGE_SIZE) as u32);
        let found = matches!(kind, FaultKind::Resident | FaultKind::ReadOnlyShare);
        // One mapping covers all 512: the reference emulation sees all;
        // only the faulting page can make it a reference fault.
        let mut reference = false;
        for i in 0..LARGE_PAGE_FRAMES {
            let f = FrameNumber(base.0 + i);
            reference |= self.fault_referenced(f, found && f == frame);
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
            self.pool.wire_count(old),
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
