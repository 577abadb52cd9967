//! Intrusive frame queues shared by the policies: `N` doubly linked lists over arrays indexed by frame (BSD's `TAILQ`s of `vm_page`).

use super::FrameId;
use alloc::vec;
use alloc::vec::Vec;

pub(super) const NIL: u32 = u32::MAX;
pub(super) const NOQ: u8 = u8::MAX;

/// `N` intrusive doubly linked frame queues over arrays indexed by frame,
/// as BSD threads `vm_page`s on `TAILQ`s: O(1) push, pop and removal, no
/// allocation after construction.
#[derive(Clone, Debug)]
pub(super) struct Queues<const N: usize> {
    pub(super) prev: Vec<u32>,
    pub(super) next: Vec<u32>,
    pub(super) which: Vec<u8>,
    pub(super) head: [u32; N],
    pub(super) tail: [u32; N],
    pub(super) len: [u32; N],
}

impl<const N: usize> Queues<N> {
    pub(super) fn new(frames: u32) -> Self {
        let n = frames as usize;
        Queues {
            prev: vec![NIL; n],
            next: vec![NIL; n],
            which: vec![NOQ; n],
            head: [NIL; N],
            tail: [NIL; N],
            len: [0; N],
        }
    }

    pub(super) fn queue_of(&self, f: FrameId) -> Option<usize> {
        let q = self.which[f as usize];
        (q != NOQ).then_some(q as usize)
    }

    pub(super) fn push_tail(&mut self, q: usize, f: FrameId) {
        assert!(self.which[f as usize] == NOQ, "frame {f} already queued");
        self.which[f as usize] = q as u8;
        self.prev[f as usize] = self.tail[q];
        self.next[f as usize] = NIL;
        if self.tail[q] == NIL {
            self.head[q] = f;
        } else {
            self.next[self.tail[q] as usize] = f;
        }
        self.tail[q] = f;
        self.len[q] += 1;
    }

    /// Queues `f` at the head of `q`: the next frame `pop_head` returns
    /// (where a hint to evict soon puts a frame).
    pub(super) fn push_head(&mut self, q: usize, f: FrameId) {
        assert!(self.which[f as usize] == NOQ, "frame {f} already queued");
        self.which[f as usize] = q as u8;
        self.prev[f as usize] = NIL;
        self.next[f as usize] = self.head[q];
        if self.head[q] == NIL {
            self.tail[q] = f;
        } else {
            self.prev[self.head[q] as usize] = f;
        }
        self.head[q] = f;
        self.len[q] += 1;
    }

    pub(super) fn head_of(&self, q: usize) -> Option<FrameId> {
        (self.head[q] != NIL).then_some(self.head[q])
    }

    pub(super) fn remove(&mut self, f: FrameId) -> Option<usize> {
        let q = self.queue_of(f)?;
        let (p, n) = (self.prev[f as usize], self.next[f as usize]);
        if p == NIL {
            self.head[q] = n;
        } else {
            self.next[p as usize] = n;
        }
        if n == NIL {
            self.tail[q] = p;
        } else {
            self.prev[n as usize] = p;
        }
        self.which[f as usize] = NOQ;
        self.len[q] -= 1;
        Some(q)
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
