//! Intrusive frame queues shared by the policies: `N` doubly linked lists over arrays indexed by frame (BSD's `TAILQ`s of `vm_page`).

use super::FrameId;
use alloc::vec;
use alloc::vec::Vec;

pub(super) const NIL: u32 = u32::MAX;
pub(super) const NOQ: u8 = u8::MAX;

/// One frame's place in the queues, with a byte its policy keeps beside
/// it (CLOCK's activity count). Packed, 10 bytes: a fault that queues a
/// frame writes its record and the old tail's, one or two data pages,
/// where four arrays had made it four or five (docs/performance.md,
/// "Data pages of a fault").
#[derive(Clone, Copy, Debug)]
#[repr(C, packed)]
pub(super) struct Link {
    prev: u32,
    next: u32,
    which: u8,
    mark: u8,
}

/// `N` intrusive doubly linked frame queues over an array indexed by
/// frame, as BSD threads `vm_page`s on `TAILQ`s: O(1) push, pop and
/// removal, no allocation after construction.
#[derive(Clone, Debug)]
pub(super) struct Queues<const N: usize> {
    links: Vec<Link>,
    pub(super) head: [u32; N],
    pub(super) tail: [u32; N],
    pub(super) len: [u32; N],
}

impl<const N: usize> Queues<N> {
    pub(super) fn new(frames: u32) -> Self {
        let unqueued = Link {
            prev: NIL,
            next: NIL,
            which: NOQ,
            mark: 0,
        };
        Queues {
            links: vec![unqueued; frames as usize],
            head: [NIL; N],
            tail: [NIL; N],
            len: [0; N],
        }
    }

    pub(super) fn queue_of(&self, f: FrameId) -> Option<usize> {
        let q = self.links[f as usize].which;
        (q != NOQ).then_some(q as usize)
    }

    /// The policy's byte for `f`.
    pub(super) fn mark(&self, f: FrameId) -> u8 {
        self.links[f as usize].mark
    }

    pub(super) fn set_mark(&mut self, f: FrameId, mark: u8) {
        self.links[f as usize].mark = mark;
    }

    pub(super) fn push_tail(&mut self, q: usize, f: FrameId) {
        let tail = self.tail[q];
        let l = &mut self.links[f as usize];
        assert!(l.which == NOQ, "frame {f} already queued");
        (l.which, l.prev, l.next) = (q as u8, tail, NIL);
        if tail == NIL {
            self.head[q] = f;
        } else {
            self.links[tail as usize].next = f;
        }
        self.tail[q] = f;
        self.len[q] += 1;
    }

    /// Queues `f` at the head of `q`: the next frame `pop_head` returns
    /// (where a hint to evict soon puts a frame).
    pub(super) fn push_head(&mut self, q: usize, f: FrameId) {
        let head = self.head[q];
        let l = &mut self.links[f as usize];
        assert!(l.which == NOQ, "frame {f} already queued");
        (l.which, l.prev, l.next) = (q as u8, NIL, head);
        if head == NIL {
            self.tail[q] = f;
        } else {
            self.links[head as usize].prev = f;
        }
        self.head[q] = f;
        self.len[q] += 1;
    }

    pub(super) fn head_of(&self, q: usize) -> Option<FrameId> {
        (self.head[q] != NIL).then_some(self.head[q])
    }

    pub(super) fn remove(&mut self, f: FrameId) -> Option<usize> {
        let q = self.queue_of(f)?;
        let l = &mut self.links[f as usize];
        let (p, n) = (l.prev, l.next);
        l.which = NOQ;
        self.relink(q, p, n, n, p);
        self.len[q] -= 1;
        Some(q)
    }

    /// Points what stood before a frame of `q` (its `prev` `p`, or the
    /// head) at `after_p`, and what stood after it (`n`, or the tail) at
    /// `before_n`.
    #[inline]
    fn relink(&mut self, q: usize, p: u32, n: u32, after_p: u32, before_n: u32) {
        if p == NIL {
            self.head[q] = after_p;
        } else {
            self.links[p as usize].next = after_p;
        }
        if n == NIL {
            self.tail[q] = before_n;
        } else {
            self.links[n as usize].prev = before_n;
        }
    }

    /// `new`, on no queue, takes `old`'s place in its queue, with its mark;
    /// `old` leaves the queues. Touches the two frames and `old`'s two
    /// neighbours, as a removal does.
    pub(super) fn replace(&mut self, old: FrameId, new: FrameId) {
        let l = self.links[old as usize];
        assert!(l.which != NOQ, "frame {old} not queued");
        assert!(
            self.links[new as usize].which == NOQ,
            "frame {new} already queued"
        );
        let (q, p, n) = (l.which as usize, l.prev, l.next);
        self.links[new as usize] = l;
        self.links[old as usize].which = NOQ;
        self.relink(q, p, n, new, new);
    }

    pub(super) fn pop_head(&mut self, q: usize) -> Option<FrameId> {
        let f = self.head[q];
        if f == NIL {
            return None;
        }
        self.remove(f);
        Some(f)
    }

    pub(super) fn total(&self) -> u32 {
        self.len.iter().sum()
    }
}
