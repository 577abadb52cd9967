//! Recording what the VM does for a live trace: a bounded, preallocated ring of `vm_swap::trace_file::TraceRecord`s (faults, reference faults, page-ins, page-outs, frees), off unless the server turns it on.
//!
//! Locking: the ring belongs to the single-threaded `Vm`.
//!
//! Off (`Memory::trace` is `None`) every hook costs one branch. On, the
//! ring holds a fixed number of records chosen at `Vm::trace_start`; a
//! record costs a copy and never allocates. When the ring is full new
//! records are dropped and counted (the oldest are kept: a trace with a
//! hole at its end replays more faithfully than one with a hole in the
//! middle). The server drains it between messages (`vm-service`'s
//! `trace.rs`).
//!
//! What the core records itself: page-ins at their completion (swap and
//! pager reads; the badge of the client whose fault wanted the page, 0
//! for pages read ahead), page-outs at the completion of their swap
//! write (badge 0), both keyed by `PageKey::of(object, pindex)`; and a
//! free for every resident page of an entry's front object when the
//! entry goes (munmap, exit), keyed by the client's virtual page; and a
//! prefault for every page fault-around enters, keyed the same way. Faults
//! are recorded by the service, which knows the cycles they took; the
//! core tells it which were reference faults (`FaultMapping::reference`).
//! Badges come from `Vm::trace_label` (the core knows spaces, not clients).

use crate::map::VmMapEntry;
use crate::types::{ObjectId, SpaceId, PAGE_SIZE};
use crate::vm::{Memory, Vm};
use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use vm_swap::trace_file::{RecordKind, TraceRecord};
use vm_swap::PageKey;

/// The most records a ring may hold (6 MiB of records).
pub const MAX_TRACE_RING: u32 = 1 << 18;

/// A bounded FIFO of records, allocated once.
pub struct TraceRing {
    slots: Vec<TraceRecord>,
    /// Index of the oldest record.
    head: usize,
    len: usize,
    /// Records not kept because the ring was full.
    dropped: u64,
    /// Records kept since the start.
    recorded: u64,
    /// `TRACE` lines printed so far (the next line's sequence number).
    pub lines: u64,
    /// A client's badge by space (`Vm::trace_label`).
    badges: BTreeMap<u32, u32>,
}

impl TraceRing {
    /// A ring of `capacity` records (at least 1, at most
    /// [`MAX_TRACE_RING`]), allocated now.
    pub fn new(capacity: u32) -> Self {
        let empty = TraceRecord {
            kind: RecordKind::Free,
            badge: 0,
            page: 0,
            cycles: 0,
        };
        TraceRing {
            slots: vec![empty; capacity.clamp(1, MAX_TRACE_RING) as usize],
            head: 0,
            len: 0,
            dropped: 0,
            recorded: 0,
            lines: 0,
            badges: BTreeMap::new(),
        }
    }

    /// Appends `r`, or counts it dropped if the ring is full.
    #[inline]
    pub fn push(&mut self, r: TraceRecord) {
        if self.len == self.slots.len() {
            self.dropped += 1;
            return;
        }
        let at = (self.head + self.len) % self.slots.len();
        self.slots[at] = r;
        self.len += 1;
        self.recorded += 1;
    }

    /// Moves the oldest records into `out` (as many as fit); returns how
    /// many.
    pub fn pop_into(&mut self, out: &mut [TraceRecord]) -> usize {
        let n = out.len().min(self.len);
        for o in out.iter_mut().take(n) {
            *o = self.slots[self.head];
            self.head = (self.head + 1) % self.slots.len();
        }
        self.len -= n;
        n
    }

    /// Records waiting to be drained.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of records it holds at most.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Records dropped because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Records kept since the start (drained or not).
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// The badge recorded for `space` (0 if none was given).
    pub fn badge(&self, space: Option<SpaceId>) -> u32 {
        space
            .and_then(|s| self.badges.get(&s.0).copied())
            .unwrap_or(0)
    }

    /// Records `badge` as `space`'s client (`None` forgets it).
    pub fn label(&mut self, space: SpaceId, badge: Option<u32>) {
        match badge {
            Some(b) => self.badges.insert(space.0, b),
            None => self.badges.remove(&space.0),
        };
    }
}

impl Vm {
    /// Start recording into a ring of `capacity` records (clamped to
    /// 1..=[`MAX_TRACE_RING`]), allocated now; a ring already recording
    /// is kept.
    pub fn trace_start(&mut self, capacity: u32) {
        if self.mem.trace.is_none() {
            self.mem.trace = Some(TraceRing::new(capacity));
        }
    }

    /// The ring, while recording.
    pub fn trace_ring(&self) -> Option<&TraceRing> {
        self.mem.trace.as_ref()
    }

    /// The ring, while recording (to drain it or push the service's
    /// records).
    pub fn trace_ring_mut(&mut self) -> Option<&mut TraceRing> {
        self.mem.trace.as_mut()
    }

    /// Name `space`'s client in the records the core makes for it
    /// (`None` when the client is gone). No-op when not recording.
    pub fn trace_label(&mut self, space: SpaceId, badge: Option<u32>) {
        if let Some(t) = self.mem.trace.as_mut() {
            t.label(space, badge);
        }
    }
}

impl Memory {
    /// Record a page-in or page-out of `object`'s page `pindex`, for
    /// `space`'s client (0 for none). One branch when not recording.
    #[inline]
    pub(crate) fn trace_page(
        &mut self,
        kind: RecordKind,
        space: Option<SpaceId>,
        object: ObjectId,
        pindex: u64,
    ) {
        if let Some(t) = self.trace.as_mut() {
            let badge = t.badge(space);
            t.push(TraceRecord {
                kind,
                badge,
                page: PageKey::of(object.0, pindex).0,
                cycles: 0,
            });
        }
    }

    /// Record `kind` on `space`'s virtual page of `va` (fault-around's
    /// prefaults). One branch when not recording.
    #[inline]
    pub(crate) fn trace_vpage(&mut self, kind: RecordKind, space: SpaceId, va: u64) {
        if let Some(t) = self.trace.as_mut() {
            let badge = t.badge(Some(space));
            t.push(TraceRecord {
                kind,
                badge,
                page: va / PAGE_SIZE,
                cycles: 0,
            });
        }
    }

    /// Record a free of every resident page of `e`'s front object in its
    /// window, as `space`'s virtual pages (pages on swap or deeper in the
    /// chain are not recorded: an approximation, docs/policies.md). The
    /// caller is deleting `e`. One branch when not recording.
    pub(crate) fn trace_frees(&mut self, space: SpaceId, e: &VmMapEntry) {
        let Some(t) = self.trace.as_mut() else {
            return;
        };
        let Some(front) = e.chain.front() else {
            return;
        };
        let badge = t.badge(Some(space));
        let lo = front.pindex(0);
        for (i, _) in self
            .objects
            .get(front.object)
            .pages_in(lo, front.pindex(e.npages()))
        {
            t.push(TraceRecord {
                kind: RecordKind::Free,
                badge,
                page: (e.start + (i - lo) * PAGE_SIZE) / PAGE_SIZE,
                cycles: 0,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(page: u64) -> TraceRecord {
        TraceRecord {
            kind: RecordKind::FaultRead,
            badge: 1,
            page,
            cycles: 0,
        }
    }

    #[test]
    fn ring_is_bounded_keeps_order_and_counts_what_it_drops() {
        let mut r = TraceRing::new(4);
        assert_eq!(r.capacity(), 4);
        for p in 0..3 {
            r.push(rec(p));
        }
        let mut out = [rec(99); 2];
        assert_eq!(r.pop_into(&mut out), 2);
        assert_eq!(out.map(|x| x.page), [0, 1]);
        // Wraps around: 2 is still first.
        for p in 3..9 {
            r.push(rec(p));
        }
        assert_eq!((r.len(), r.dropped(), r.recorded()), (4, 3, 6));
        let mut out = [rec(99); 8];
        assert_eq!(r.pop_into(&mut out), 4);
        assert_eq!(
            out[..4].iter().map(|x| x.page).collect::<Vec<_>>(),
            [2, 3, 4, 5]
        );
        assert!(r.is_empty());
        assert_eq!(r.pop_into(&mut out), 0);
    }

    #[test]
    fn capacity_is_clamped_and_badges_are_by_space() {
        assert_eq!(TraceRing::new(0).capacity(), 1);
        assert_eq!(TraceRing::new(u32::MAX).capacity(), MAX_TRACE_RING as usize);
        let mut r = TraceRing::new(1);
        r.label(SpaceId(3), Some(7));
        assert_eq!(r.badge(Some(SpaceId(3))), 7);
        assert_eq!(r.badge(Some(SpaceId(4))), 0);
        assert_eq!(r.badge(None), 0);
        r.label(SpaceId(3), None);
        assert_eq!(r.badge(Some(SpaceId(3))), 0);
    }
}
