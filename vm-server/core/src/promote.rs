//! Promotion by copy (FreeBSD's reservation promotion, Linux's khugepaged collapse): when 4 KiB faults have made all 512 pages of a `MADV_HUGEPAGE` chunk (any private anonymous chunk, with transparent large pages) resident on small frames, copy them into a free large region and map it whole; seL4 cannot merge 512 frames into one, so it is a copy.
//!
//! Locking: runs inside the single-threaded `Vm`, from the fault path.
//!
//! It applies after a 4 KiB fault in an entry that allows large pages
//! (`Memory::large_allowed`: `EntryFlags::HUGE`, or any entry not advised
//! `NoHugePage` with `VmConfig::large_transparent`; no other entry pays
//! anything), not wired, containing the chunk's 2
//! MiB, whose chain is one private anonymous object with no pending
//! copy, when a region is free. Whether the chunk is full is asked
//! cheaply first (`chunk_probed_full`: nine lookups; then `chunk_full`, a walk that stops at
//! the first gap), since every 4 KiB fault in such an entry asks; only
//! when all 512 are resident are they checked: all on small
//! frames, none busy, wired or held. Every page is then unmapped
//! (`page_protect`), copied to frame `base + i` of the region, and
//! replaced in the object at the same index with its flags and swap slot;
//! the small frames are freed. The region is entered writable only when
//! the entry allows it and all 512 are dirty, as the large fault does
//! (`Uvmexp::large_promotes`). So a chunk demoted by pageout, partial
//! operations or fork comes back to a large page once fully resident.

use crate::config::LARGE_PAGE_FRAMES;
use crate::map::VmMapEntry;
use crate::page::PageFlags;
use crate::pmap::Pmap;
use crate::types::{FrameNumber, Prot, SpaceId, PAGE_SIZE};
use crate::vm::Memory;
use alloc::vec::Vec;

impl Memory {
    /// After the 4 KiB fault that entered `frame` at `va` with `prot4k`,
    /// promote the chunk around `va` if it is fully resident on small
    /// frames (module docs). Returns the region frame now mapped at `va`
    /// and the large mapping's rights; `None` changes nothing. The caller
    /// is `fault_page`, holding the entry of `space`.
    pub(crate) fn promote<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        entry: &VmMapEntry,
        va: u64,
        prot4k: Prot,
        pmap: &mut P,
    ) -> Option<(FrameNumber, Prot)> {
        if self.pool.large().free_count() == 0 || entry.needs_copy() || entry.chain.len() != 1 {
            return None;
        }
        let va0 = self.huge_chunk(entry, va)?;
        let link = entry.chain.links()[0];
        let o = self.objects.get(link.object);
        if !o.is_private_anon() || !chunk_probed_full(o, link.pindex(entry.rel(va0))) {
            return None;
        }
        self.promote_chunk(space, entry, va, va0, prot4k, pmap)
    }

    /// `promote` of the chunk at `va0`, whose probes found it full. The
    /// caller is `promote`, which checked the entry.
    // Out of line: every 4 KiB fault runs `promote`'s checks, few this;
    // the fault path's code stays on few pages (docs/performance.md,
    // "Code pages").
    #[inline(never)]
    fn promote_chunk<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        entry: &VmMapEntry,
        va: u64,
        va0: u64,
        prot4k: Prot,
        pmap: &mut P,
    ) -> Option<(FrameNumber, Prot)> {
        let link = entry.chain.links()[0];
        let obj = link.object;
        let n = u64::from(LARGE_PAGE_FRAMES);
        let p0 = link.pindex(entry.rel(va0));
        let olds: Vec<FrameNumber> = {
            let o = self.objects.get(obj);
            if !chunk_full(o, p0, n) {
                return None;
            }
            o.pages_in(p0, p0 + n).map(|(_, f)| f).collect()
        };
        let movable = olds.iter().all(|&f| {
            let pg = self.pool.page(f);
            !self.pool.is_region_frame(f)
                && !pg.flags().contains(PageFlags::BUSY)
                && !pg.is_wired()
                && pg.hold_count() == 0
        });
        if !movable {
            return None;
        }
        let base = self.pool.alloc_large(obj, p0)?;
        let mut flags = Vec::with_capacity(olds.len());
        for (i, &old) in olds.iter().enumerate() {
            // No 4 KiB mapping may write the old frame after its copy.
            pmap.page_protect(old, Prot::NONE);
            let mut fl = self.pool.page(old).flags();
            if pmap.tracks_ref_mod() && pmap.is_modified(old) {
                fl.insert(PageFlags::DIRTY);
            }
            pmap.copy_page(old, FrameNumber(base.0 + i as u32));
            flags.push(fl);
        }
        let mut prot = entry.prot;
        if !flags.iter().all(|f| f.contains(PageFlags::DIRTY)) {
            prot.remove(Prot::WRITE);
        }
        let at = ((va - va0) / PAGE_SIZE) as usize;
        if pmap.enter_large(space, va0, base, prot).is_err() {
            // Refused: the small pages stay; map the faulting one again.
            for i in 0..LARGE_PAGE_FRAMES {
                self.pool.free(FrameNumber(base.0 + i));
            }
            let _ = pmap.enter(space, va, olds[at], prot4k);
            return None;
        }
        for (i, (&old, fl)) in olds.iter().zip(flags).enumerate() {
            let new = FrameNumber(base.0 + i as u32);
            let pindex = p0 + i as u64;
            self.objects.remove_page(obj, pindex);
            self.objects.insert_page(obj, pindex, new);
            let keep = fl.difference(PageFlags::BUSY | PageFlags::VALID | PageFlags::REF_UNMAPPED);
            self.pool.validate(new, keep | PageFlags::REFERENCED);
            self.pool.policy_referenced(new);
            self.pool.free(old);
        }
        self.stats.large_promotes += 1;
        self.stats.flt_large += 1;
        Some((FrameNumber(base.0 + at as u32), prot))
    }
}

/// Whether nine of the large chunk's pages from `p0` on (the ends and
/// seven between) are resident in `o`. That turns away most chunks still
/// filling, in order or not, so a fault in one rarely pays for the walk
/// of `chunk_full` (`benches/fault.rs`: `zero_fill_in_a_filling_chunk`).
fn chunk_probed_full(o: &crate::object::VmObject, p0: u64) -> bool {
    let n = u64::from(LARGE_PAGE_FRAMES);
    (0..=8).all(|k| o.has_page(p0 + (k * (n - 1)) / 8))
}

/// Whether all of `o`'s pages `p0 .. p0 + n` are resident; the walk stops
/// at the first missing page.
fn chunk_full(o: &crate::object::VmObject, p0: u64, n: u64) -> bool {
    o.pages_in(p0, p0 + n).map(|(i, _)| i).eq(p0..p0 + n)
}
