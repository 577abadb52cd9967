//! Idle-time page zeroing (DragonFly's `vm_zeroidle.c`, UVM's `uvm_pageidlezero`): free frames zeroed while nothing else runs, so a zero-fill fault maps a frame without zeroing it (issue 15: only the fault IPC, one map and the reply on the fault path).
//!
//! The pool keeps its pre-zeroed frames (`PageFlags::ZERO`) as the free
//! queue's tail: ordinary allocations (copies, page-ins) take the other
//! free frames first, and `PagePool::alloc_zeroed` takes the first
//! pre-zeroed one. Any allocation clears the mark; a freed frame is never
//! marked. The server calls `Vm::zero_idle` when its idle thread runs
//! (the lowest priority in the system), so the zeroing costs no client
//! time. It zeroes up to 4/5 of the free frames and starts again below
//! 2/3 (DragonFly's hysteresis), so a steady state does not zero a frame
//! for every one it frees; and it counts only the free frames above
//! pageout's highest target (`target2`): under memory pressure the free
//! frames are few and go to page-ins and copies at once, so zeroing them
//! was wasted (measured in system.spec: 14,175 frames zeroed in idle
//! time, 64 of them taken by a zero-fill).
//!
//! Owned by the single-threaded `Vm`, like the pool.

use super::{PagePool, PageQueue, NIL};
use crate::page::PageFlags;
use crate::pmap::Pmap;
use crate::types::FrameNumber;
use crate::vm::Vm;

impl PagePool {
    /// Free frames pre-zeroed.
    pub fn zeroed_count(&self) -> u32 {
        self.zeroed
    }

    /// The free frame idle zeroing takes next: the oldest one not known
    /// to hold zeros.
    fn zero_candidate(&self) -> Option<FrameNumber> {
        let head = self.queues[PageQueue::Free as usize].head;
        (head != NIL && head != self.zero_head).then_some(FrameNumber(head))
    }

    /// Mark free frame `f`, which the caller has just zeroed, pre-zeroed:
    /// it moves to the free queue's tail.
    fn mark_zeroed(&mut self, f: FrameNumber) {
        debug_assert_eq!(self.pages[f.index()].queue(), PageQueue::Free);
        self.unlink_raw(f.0);
        self.pages[f.index()].flags.insert(PageFlags::ZERO);
        self.link_raw(f.0, PageQueue::Free);
    }

    /// Whether idle zeroing has work: fewer than 4/5 of the free frames
    /// above `keep` are pre-zeroed, or fewer than 2/3 once it has rested.
    fn zero_short(&self, resting: bool, keep: u32) -> bool {
        let free = u64::from(self.free_count().saturating_sub(keep));
        let zeroed = u64::from(self.zeroed);
        if resting {
            zeroed * 3 < free * 2
        } else {
            zeroed * 5 < free * 4
        }
    }
}

impl Vm {
    /// Whether `zero_idle` has work (the hysteresis above).
    pub fn zero_wanted(&self) -> bool {
        self.mem
            .pool
            .zero_short(self.mem.zero_resting, self.zero_keep())
    }

    /// Free frames idle zeroing leaves alone: pageout's highest target.
    fn zero_keep(&self) -> u32 {
        self.mem.targets.map_or(0, |t| t.target2)
    }

    /// Zero at most `max` free frames while `zero_wanted` holds; returns
    /// how many. The caller runs it only when nothing else waits for the
    /// server: each frame costs a 4 KiB write.
    pub fn zero_idle<P: Pmap + ?Sized>(&mut self, pmap: &mut P, max: u32) -> u32 {
        let keep = self.zero_keep();
        let pool = &mut self.mem.pool;
        let mut n = 0;
        while n < max && pool.zero_short(false, keep) {
            let Some(f) = pool.zero_candidate() else {
                break;
            };
            pmap.zero_page(f);
            pool.mark_zeroed(f);
            n += 1;
        }
        // Rest once the target is reached (also by a batch's last frame)
        // or nothing is left to zero.
        self.mem.zero_resting = !pool.zero_short(false, keep) || pool.zero_candidate().is_none();
        self.mem.stats.prezeroed += u64::from(n);
        n
    }
}

#[cfg(test)]
mod tests {
    use crate::page::{AllocClass, PagePool};
    use crate::types::ObjectId;

    #[test]
    fn zero_frames_are_the_tail_and_taken_only_when_asked() {
        let mut pool = PagePool::new(8, 0);
        for _ in 0..3 {
            let f = pool.zero_candidate().unwrap();
            pool.mark_zeroed(f);
        }
        assert_eq!(pool.zeroed_count(), 3);
        pool.check().unwrap();
        // An ordinary allocation takes an unzeroed frame.
        let (a, zero) = pool
            .alloc_from(ObjectId(1), 0, AllocClass::Normal, false)
            .unwrap();
        assert!(!zero);
        // A zero-fill allocation takes a pre-zeroed one.
        let (b, zero) = pool
            .alloc_zeroed(ObjectId(1), 1, AllocClass::Normal)
            .unwrap();
        assert!(zero);
        assert_eq!(pool.zeroed_count(), 2);
        // A freed frame goes before the pre-zeroed tail, unmarked.
        pool.free(a);
        pool.free(b);
        pool.check().unwrap();
        assert_eq!(pool.zeroed_count(), 2);
        let tail: Vec<_> = pool.free_iter().collect();
        let marks: Vec<bool> = tail
            .iter()
            .map(|&f| pool.page(f).flags().contains(crate::page::PageFlags::ZERO))
            .collect();
        assert_eq!(
            marks,
            [false, false, false, false, false, false, true, true]
        );
        // With only pre-zeroed frames left, an ordinary allocation takes one.
        for i in 0..6 {
            let (_, zero) = pool
                .alloc_from(ObjectId(1), 10 + i, AllocClass::Normal, false)
                .unwrap();
            assert!(!zero);
        }
        let (_, zero) = pool
            .alloc_from(ObjectId(1), 20, AllocClass::Normal, false)
            .unwrap();
        assert!(zero);
        assert_eq!(pool.zeroed_count(), 1);
        pool.check().unwrap();
    }

    #[test]
    fn claiming_a_pre_zeroed_frame_unmarks_it() {
        let mut pool = PagePool::new(4, 0);
        let f = pool.zero_candidate().unwrap();
        pool.mark_zeroed(f);
        pool.claim_unmanaged(f, ObjectId(2), 0).unwrap();
        assert_eq!(pool.zeroed_count(), 0);
        assert!(!pool.page(f).flags().contains(crate::page::PageFlags::ZERO));
        pool.check().unwrap();
    }

    #[test]
    fn zeroing_rests_at_four_fifths_and_starts_again_below_two_thirds() {
        let mut pool = PagePool::new(15, 0);
        assert!(pool.zero_short(false, 0));
        for _ in 0..12 {
            let f = pool.zero_candidate().unwrap();
            pool.mark_zeroed(f);
        }
        // 12 of 15 is 4/5: rest.
        assert!(!pool.zero_short(false, 0));
        assert!(!pool.zero_short(true, 0));
        // Take 3 pre-zeroed frames: 9 of 12 free is above 2/3, still resting.
        for i in 0..3 {
            pool.alloc_zeroed(ObjectId(1), i, AllocClass::Normal)
                .unwrap();
        }
        assert!(!pool.zero_short(true, 0));
        assert!(pool.zero_short(false, 0));
        for i in 3..6 {
            pool.alloc_zeroed(ObjectId(1), i, AllocClass::Normal)
                .unwrap();
        }
        // 6 of 9 is 2/3: still resting; 5 of 8 is below.
        assert!(!pool.zero_short(true, 0));
        pool.alloc_zeroed(ObjectId(1), 6, AllocClass::Normal)
            .unwrap();
        assert!(pool.zero_short(true, 0));
    }
}
