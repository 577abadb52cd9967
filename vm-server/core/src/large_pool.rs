//! The large-page pool (FreeBSD's `vm_reserv`, simplified): 2 MiB regions of 512 frame numbers beside the small pool, each free (whole) or in use with a count of frames still held.
//!
//! Region `r` is frame numbers `base + 512 * r .. + 512`, where `base` is
//! `config::large_region_base(frame_count)`: the server backs each region
//! with one 2 MiB frame and reaches 4 KiB frame `base + 512 * r + i` at
//! byte offset `4096 * i` of it through its window, so zeroing, copying,
//! swap reads and writes of a single region frame work as they do for a
//! small frame. Only mapping differs: a region's frames are only ever
//! mapped all together, with `Pmap::enter_large`.
//!
//! Once taken (`PagePool::alloc_large`) a region's 512 frames are ordinary
//! pages of one object, with ordinary `VmPage` records. Freeing one returns
//! it to its region, never to the small free queue; when all 512 are back
//! the region is whole and free again, at the tail of the free FIFO.
//! The pool does not move region frames to small frames or back: a region
//! freed page by page stays unusable for small allocations until it is
//! whole again (docs/large-pages.md, "Known costs").

use crate::config::LARGE_PAGE_FRAMES;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// The regions and their free FIFO. Owned by `PagePool`.
#[derive(Clone, Debug, Default)]
pub struct LargePool {
    /// Frame number of region 0's first frame (a multiple of 512).
    base: u32,
    /// Per region: frames still held by objects (0: the region is free).
    held: Vec<u32>,
    /// Free regions, oldest freed first.
    free: VecDeque<u32>,
    /// Per region: when it was last taken (`takes` then), for reclaiming
    /// the oldest partly used region first.
    taken_at: Vec<u64>,
    /// Regions taken so far.
    takes: u64,
}

impl LargePool {
    /// `count` free regions starting at frame number `base` (a multiple of 512).
    pub fn new(base: u32, count: u32) -> Self {
        debug_assert!(base.is_multiple_of(LARGE_PAGE_FRAMES));
        LargePool {
            base,
            held: alloc::vec![0; count as usize],
            free: (0..count).collect(),
            taken_at: alloc::vec![0; count as usize],
            takes: 0,
        }
    }

    /// Regions in the pool.
    pub fn count(&self) -> u32 {
        self.held.len() as u32
    }

    /// Regions holding at least one page.
    pub fn used(&self) -> u32 {
        self.count() - self.free.len() as u32
    }

    /// Whole regions free to take.
    pub fn free_count(&self) -> u32 {
        self.free.len() as u32
    }

    /// One past the last region frame number (`base` when there are none).
    pub fn end(&self) -> u32 {
        self.base + LARGE_PAGE_FRAMES * self.count()
    }

    /// First frame number of region 0.
    pub fn base(&self) -> u32 {
        self.base
    }

    /// The region frame number `f` belongs to, if any.
    #[inline]
    pub fn region_of(&self, f: u32) -> Option<u32> {
        (f >= self.base && f < self.end()).then(|| (f - self.base) / LARGE_PAGE_FRAMES)
    }

    /// First frame number of region `r`.
    pub fn region_base(&self, r: u32) -> u32 {
        self.base + LARGE_PAGE_FRAMES * r
    }

    /// Frames region `r` still has held by objects.
    pub fn held(&self, r: u32) -> u32 {
        self.held[r as usize]
    }

    /// Take the oldest free region whole; all 512 frames count as held.
    pub(crate) fn take(&mut self) -> Option<u32> {
        let r = self.free.pop_front()?;
        self.held[r as usize] = LARGE_PAGE_FRAMES;
        self.takes += 1;
        self.taken_at[r as usize] = self.takes;
        Some(r)
    }

    /// The partly used region taken longest ago: some of its frames came
    /// back, some are still held (FreeBSD's oldest partially populated
    /// reservation, `vm_reserv_reclaim_inactive`).
    pub fn oldest_partial(&self) -> Option<u32> {
        (0..self.count())
            .filter(|&r| (1..LARGE_PAGE_FRAMES).contains(&self.held[r as usize]))
            .min_by_key(|&r| self.taken_at[r as usize])
    }

    /// One frame of region `r` came back. The caller held it.
    pub(crate) fn put(&mut self, r: u32) {
        let h = &mut self.held[r as usize];
        debug_assert!(*h > 0, "region {r}: frame returned twice");
        *h -= 1;
        if *h == 0 {
            self.free.push_back(r);
        }
    }

    /// Check the free FIFO against the held counts.
    pub fn check(&self) -> Result<(), alloc::string::String> {
        let mut seen = alloc::vec![false; self.held.len()];
        for &r in &self.free {
            if self.held[r as usize] != 0 || core::mem::replace(&mut seen[r as usize], true) {
                return Err(alloc::format!(
                    "large region {r}: free but held or queued twice"
                ));
            }
        }
        for (r, &h) in self.held.iter().enumerate() {
            if h == 0 && !seen[r] {
                return Err(alloc::format!("large region {r}: empty but not free"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_come_back_whole_in_fifo_order() {
        let mut p = LargePool::new(1024, 2);
        assert_eq!((p.count(), p.used(), p.end()), (2, 0, 2048));
        assert_eq!(
            (p.region_of(1023), p.region_of(1024), p.region_of(2047)),
            (None, Some(0), Some(1))
        );
        assert_eq!(p.take(), Some(0));
        assert_eq!(p.take(), Some(1));
        assert_eq!(p.take(), None);
        for _ in 0..511 {
            p.put(0);
        }
        assert_eq!(p.used(), 2);
        p.put(0);
        assert_eq!((p.used(), p.free_count()), (1, 1));
        p.check().unwrap();
        assert_eq!(p.take(), Some(0));
    }

    #[test]
    fn the_oldest_partly_used_region_is_reclaimed_first() {
        let mut p = LargePool::new(0, 3);
        let (a, b, c) = (p.take().unwrap(), p.take().unwrap(), p.take().unwrap());
        assert_eq!(p.oldest_partial(), None, "all full");
        p.put(c);
        p.put(b);
        assert_eq!(p.oldest_partial(), Some(b));
        for _ in 0..511 {
            p.put(b);
        }
        assert_eq!(p.oldest_partial(), Some(c), "b is free again");
        assert_eq!(p.take(), Some(b));
        p.put(a);
        assert_eq!(p.oldest_partial(), Some(a));
    }
}
