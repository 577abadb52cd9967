//! The server's half of a channel: takes requests off the submission
//! queue (decoded and checked, never trusted), and puts completions on the
//! completion queue.

use crate::ring::{Ring, CQ_CONS, CQ_PROD, RING_ENTRIES, SQ_CONS, SQ_PROD};
use crate::wire::RequestWire;
use crate::{BlockError, Completion, Request};

/// What the next submission entry asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A well-formed request within the geometry: carry it out, then
    /// [`ServerChannel::complete`] it.
    Request(Request),
    /// A request that fails before any I/O: the caller completes it with
    /// this error at once (`tag` is the entry's tag word as it was).
    Refused { tag: u64, error: BlockError },
}

/// The server side of one channel.
///
/// Locking note: owned by the server's single thread; the client is
/// another address space and reaches it only through the ring page.
#[derive(Debug)]
pub struct ServerChannel {
    ring: Ring,
    /// Blocks of the served partition.
    blocks: u64,
    /// Buffers of the data window.
    buffers: u64,
    /// Our private copies of the indices we own.
    sq_cons: u32,
    cq_prod: u32,
    /// Requests taken and not yet completed.
    in_flight: u32,
}

impl ServerChannel {
    /// Serves the ring page `ring` with a data window of `buffers` buffers
    /// over a partition of `blocks` blocks. The ring page starts zeroed
    /// (fresh frames are), so a client may submit before the server is up;
    /// the server takes over the indices as they are.
    pub fn new(ring: Ring, blocks: u64, buffers: u64) -> ServerChannel {
        ServerChannel {
            ring,
            blocks,
            buffers,
            sq_cons: ring.load(SQ_CONS),
            cq_prod: ring.load(CQ_PROD),
            in_flight: 0,
        }
    }

    /// Completion-queue entries the client has not consumed (clamped: a
    /// client that publishes a nonsense index gets a full queue).
    fn cq_used(&self) -> u32 {
        let cons = self.ring.load(CQ_CONS);
        let used = self.cq_prod.wrapping_sub(cons);
        used.min(RING_ENTRIES as u32)
    }

    /// The next request, if one is waiting and its completion is sure to
    /// find room in the completion queue; `None` otherwise.
    pub fn take(&mut self) -> Option<Incoming> {
        if self.in_flight + self.cq_used() >= RING_ENTRIES as u32 {
            return None;
        }
        let prod = self.ring.load(SQ_PROD);
        let waiting = prod.wrapping_sub(self.sq_cons);
        if waiting == 0 {
            return None;
        }
        if waiting > RING_ENTRIES as u32 {
            // The client moved its index impossibly far: resynchronise.
            self.sq_cons = prod;
            self.ring.store(SQ_CONS, prod);
            return None;
        }
        let w: RequestWire = self.ring.read_request(self.sq_cons);
        self.sq_cons = self.sq_cons.wrapping_add(1);
        self.ring.store(SQ_CONS, self.sq_cons);
        self.in_flight += 1;
        Some(match Request::decode(&w) {
            Ok(r) => match r.check(self.blocks, self.buffers) {
                Ok(()) => Incoming::Request(r),
                Err(error) => Incoming::Refused { tag: w.tag, error },
            },
            Err(error) => Incoming::Refused { tag: w.tag, error },
        })
    }

    /// Completes a request taken by [`take`](Self::take). Never blocks:
    /// `take` reserved its room.
    pub fn complete(&mut self, c: Completion) {
        self.ring.write_completion(self.cq_prod, &c.encode());
        self.cq_prod = self.cq_prod.wrapping_add(1);
        self.ring.store(CQ_PROD, self.cq_prod);
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Requests taken and not completed.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// The partition size in blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Buffers in the data window.
    pub fn buffers(&self) -> u64 {
        self.buffers
    }
}
