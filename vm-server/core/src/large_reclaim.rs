//! Breaking up partly used large regions (FreeBSD's `vm_reserv_reclaim_inactive`, done by copy): when a large fault finds no region free, the oldest region some of whose frames came back gives up the rest.
//!
//! Locking: runs inside the single-threaded `Vm`, from the large fault.
//!
//! A region comes back to the large pool only when all 512 of its frames
//! have (`large_pool.rs`), and its frames cannot serve small allocations.
//! So a region that lost some pages (a partial munmap, pageout, demotion)
//! while others stay would hold its 2 MiB until every last page goes.
//! This gives the region's remaining pages small frames by copy
//! (`Memory::demote`) while small memory is plentiful, and otherwise only
//! tells the replacement policy to evict them first (`deactivate`), so
//! pageout, which is running then anyway, frees the region.

use crate::config::LARGE_PAGE_FRAMES;
use crate::page::PageFlags;
use crate::pmap::Pmap;
use crate::types::FrameNumber;
use crate::vm::Memory;

impl Memory {
    /// Empty the oldest partly used region, as far as its pages allow;
    /// true when a region is free afterwards. The caller is the large
    /// fault, which found no free region and holds no page of this one.
    pub(crate) fn reclaim_partial_region<P: Pmap + ?Sized>(&mut self, pmap: &mut P) -> bool {
        let Some(r) = self.pool.large().oldest_partial() else {
            return false;
        };
        self.stats.large_reclaims += 1;
        let base = self.pool.large().region_base(r);
        for i in 0..LARGE_PAGE_FRAMES {
            let f = FrameNumber(base + i);
            let pg = self.pool.page(f);
            if pg.object().is_none() || pg.flags().contains(PageFlags::BUSY) || pg.hold_count() > 0
            {
                // Back in its region already, or under I/O: pageout or
                // the I/O's end returns it.
                continue;
            }
            // Copy only with a region's worth of small frames to spare
            // above the floor normal allocations stop at.
            let spare = self.pool.free_count() > self.pool.normal_floor() + LARGE_PAGE_FRAMES;
            if !spare || self.demote(f, pmap).is_err() {
                self.pool.deactivate(f);
            }
        }
        self.pool.large().free_count() > 0
    }
}
