//! The VM server's end of a pager channel: submits page-ins, write-backs
//! and closes, owns the window's slots, and checks every completion
//! against its own table of requests in flight.

use crate::wire::{CompletionWire, RequestWire};
use crate::{
    Completion, Notifier, Operation, Outcome, PagerError, PagerRing, Request, RequestKind, Window,
    MAX_CLUSTER, RING_ENTRIES,
};
use block_api::ClientEnd;

/// What one window slot is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Free,
    /// A request in flight under wire tag `tag`, for the caller's `cookie`.
    InFlight {
        tag: u64,
        op: Operation,
        count: u64,
        cookie: u64,
    },
    /// A page-in's supplied data, until the caller [`VmEnd::release`]s it.
    Held {
        count: u64,
        cookie: u64,
    },
}

/// A completion the pager wrote that answers no request of ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Its tag names no request in flight (a stranger, or a duplicate of
    /// an answered one); it was dropped.
    UnknownTag(u64),
    /// The pager moved its completion index impossibly far; every
    /// completion it published was dropped.
    Overrun,
}

/// What [`VmEnd::poll`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmEvent {
    /// The request submitted with `cookie` (in window slot `slot`)
    /// finished. `Ok(Supplied)` keeps the slot's data until
    /// [`VmEnd::release`]; every other result freed the slot.
    Done {
        cookie: u64,
        slot: usize,
        result: Result<Outcome, PagerError>,
    },
    /// The pager broke the protocol; no request of ours is affected.
    Protocol(ProtocolError),
}

/// The VM server's end of one pager channel.
///
/// Locking note: owned by the VM server's single thread; the pager is
/// another address space and reaches it only through the shared frame.
#[derive(Debug)]
pub struct VmEnd<N: Notifier> {
    end: ClientEnd<RequestWire, CompletionWire>,
    window: Window,
    cluster: u64,
    slots: [Slot; RING_ENTRIES],
    /// Slots in use: `min(RING_ENTRIES, buffers / cluster)`.
    nslots: usize,
    next_tag: u64,
    protocol_errors: u64,
    /// Signals the pager; waits for its completions.
    pub notifier: N,
}

impl<N: Notifier> VmEnd<N> {
    /// The VM end of the channel with ring page `ring` and data window
    /// `window`, asking for at most `cluster` pages a request. Fails with
    /// `Malformed` for a cluster of 0 or over [`MAX_CLUSTER`], and with
    /// `BadBuffer` for a window smaller than one cluster. Caller contract:
    /// the pager end uses the same `cluster`.
    pub fn new(
        ring: PagerRing,
        window: Window,
        cluster: u64,
        notifier: N,
    ) -> Result<Self, PagerError> {
        if cluster == 0 || cluster > MAX_CLUSTER {
            return Err(PagerError::Malformed);
        }
        let nslots = (window.buffers() / cluster).min(RING_ENTRIES as u64) as usize;
        if nslots == 0 {
            return Err(PagerError::BadBuffer);
        }
        Ok(VmEnd {
            end: ClientEnd::new(ring),
            window,
            cluster,
            slots: [Slot::Free; RING_ENTRIES],
            nslots,
            next_tag: 1,
            protocol_errors: 0,
            notifier,
        })
    }

    /// Most pages a request may name.
    pub fn cluster(&self) -> u64 {
        self.cluster
    }

    /// Page-ins and write-backs that may be in flight at once.
    pub fn slots(&self) -> usize {
        self.nslots
    }

    /// Page-ins and write-backs in flight (not counting held data).
    pub fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::InFlight { .. }))
            .count()
    }

    /// Completions the pager got wrong so far (each also reported by
    /// [`poll`](Self::poll)). The VM server may treat a pager that keeps
    /// breaking the protocol as dead.
    pub fn protocol_errors(&self) -> u64 {
        self.protocol_errors
    }

    /// A free slot and room in the submission queue, or `Busy`.
    fn reserve(&self, count: u64) -> Result<usize, PagerError> {
        if count == 0 || count > self.cluster {
            return Err(PagerError::Malformed);
        }
        if self.end.sq_used() >= RING_ENTRIES as u32 {
            return Err(PagerError::Busy);
        }
        self.slots[..self.nslots]
            .iter()
            .position(|s| *s == Slot::Free)
            .ok_or(PagerError::Busy)
    }

    fn send(&mut self, kind: RequestKind, slot: usize, cookie: u64) {
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1).max(1);
        if let Some((_, count, _)) = kind.transfer() {
            self.slots[slot] = Slot::InFlight {
                tag,
                op: kind.operation(),
                count,
                cookie,
            };
        }
        self.end.push(&Request { tag, kind }.encode());
    }

    /// First buffer of slot `slot`.
    fn buf(&self, slot: usize) -> u64 {
        slot as u64 * self.cluster
    }

    /// Queues a page-in of pages `pindex..pindex + count` of object `key`
    /// without blocking, for the caller's `cookie` (returned by `poll`);
    /// call [`kick`](Self::kick) after a batch. Returns its window slot.
    /// `Busy` when every slot or queue entry is in use, `Malformed` for a
    /// count of 0 or over the cluster, or pages that wrap.
    pub fn page_in(
        &mut self,
        key: u64,
        pindex: u64,
        count: u64,
        cookie: u64,
    ) -> Result<usize, PagerError> {
        self.start(Operation::PageIn, key, pindex, count, cookie, |_| {})
    }

    /// Queues a write-back of pages `pindex..pindex + count` of object
    /// `key` as [`page_in`](Self::page_in) does; `fill` first writes the
    /// pages' data (`count` pages, in order) into the slot's buffers.
    /// Errors as for `page_in`; `fill` is not called on an error.
    pub fn write_back(
        &mut self,
        key: u64,
        pindex: u64,
        count: u64,
        cookie: u64,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<usize, PagerError> {
        self.start(Operation::WriteBack, key, pindex, count, cookie, fill)
    }

    /// Reserves a slot for a transfer, fills it for a write-back, and
    /// sends the request.
    fn start(
        &mut self,
        op: Operation,
        key: u64,
        pindex: u64,
        count: u64,
        cookie: u64,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<usize, PagerError> {
        if pindex.checked_add(count).is_none() {
            return Err(PagerError::Malformed);
        }
        let slot = self.reserve(count)?;
        let buf = self.buf(slot);
        let kind = if op == Operation::WriteBack {
            fill(self.window.buffer_mut(buf, count));
            RequestKind::WriteBack {
                key,
                pindex,
                count,
                buf,
            }
        } else {
            RequestKind::PageIn {
                key,
                pindex,
                count,
                buf,
            }
        };
        self.send(kind, slot, cookie);
        Ok(slot)
    }

    /// Queues the close of object `key` (not answered, takes no slot).
    /// `Busy` when the submission queue is full: try again after a poll.
    pub fn close(&mut self, key: u64) -> Result<(), PagerError> {
        if self.end.sq_used() >= RING_ENTRIES as u32 {
            return Err(PagerError::Busy);
        }
        self.send(RequestKind::Close { key }, 0, 0);
        Ok(())
    }

    /// Signals the pager that requests are queued.
    pub fn kick(&mut self) {
        self.notifier.kick();
    }

    /// The next completion, checked, if one arrived; never blocks. A
    /// completion for a request in flight that does not decode, or
    /// answers it with the wrong kind (`Written` for a page-in), fails
    /// that request with `MalformedReply`. Caller contract: poll a
    /// bounded number of times per wake-up (a hostile pager can publish
    /// completions as fast as they are read).
    pub fn poll(&mut self) -> Option<VmEvent> {
        if self.end.cq_waiting() > RING_ENTRIES as u32 {
            self.end.resync();
            self.protocol_errors += 1;
            return Some(VmEvent::Protocol(ProtocolError::Overrun));
        }
        let w = self.end.pop()?;
        let found = self.slots[..self.nslots]
            .iter()
            .enumerate()
            .find_map(|(slot, s)| match *s {
                Slot::InFlight {
                    tag,
                    op,
                    count,
                    cookie,
                } if tag == w.tag => Some((slot, op, count, cookie)),
                _ => None,
            });
        let Some((slot, op, count, cookie)) = found else {
            self.protocol_errors += 1;
            return Some(VmEvent::Protocol(ProtocolError::UnknownTag(w.tag)));
        };
        let result = match Completion::decode(&w) {
            Ok(Completion { result: Ok(o), .. }) if o.answers(op) => Ok(o),
            Ok(Completion { result: Err(e), .. }) => Err(e),
            Ok(_) | Err(_) => {
                self.protocol_errors += 1;
                Err(PagerError::MalformedReply)
            }
        };
        self.slots[slot] = match result {
            Ok(Outcome::Supplied) => Slot::Held { count, cookie },
            _ => Slot::Free,
        };
        Some(VmEvent::Done {
            cookie,
            slot,
            result,
        })
    }

    /// The slot holding the supplied data of the page-in for `cookie`.
    pub fn held(&self, cookie: u64) -> Option<usize> {
        self.slots[..self.nslots]
            .iter()
            .position(|s| matches!(*s, Slot::Held { cookie: c, .. } if c == cookie))
    }

    /// Page `i` of the data held in slot `slot` (after `Done` with
    /// `Supplied`, until [`release`](Self::release)); `None` when the slot
    /// holds no data or has no page `i`. The pager could still scribble
    /// on it (it can only garble its own object's pages).
    pub fn page(&self, slot: usize, i: u64) -> Option<&[u8]> {
        match self.slots.get(slot) {
            Some(Slot::Held { count, .. }) if i < *count => {
                Some(self.window.buffer(self.buf(slot) + i, 1))
            }
            _ => None,
        }
    }

    /// The caller has copied slot `slot`'s held data out: the slot is
    /// free. Does nothing to a slot that holds no data.
    pub fn release(&mut self, slot: usize) {
        if let Some(s @ Slot::Held { .. }) = self.slots.get_mut(slot) {
            *s = Slot::Free;
        }
    }
}
