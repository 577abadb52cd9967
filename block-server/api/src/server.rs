//! The server's half of a channel: takes requests off the submission
//! queue (decoded and checked, never trusted), and puts completions on the
//! completion queue.

use crate::ring::{Ring, ServerEnd};
use crate::wire::{CompletionWire, RequestWire};
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
    end: ServerEnd<RequestWire, CompletionWire>,
    /// Blocks of the served partition.
    blocks: u64,
    /// Buffers of the data window.
    buffers: u64,
}

impl ServerChannel {
    /// Serves the ring page `ring` with a data window of `buffers` buffers
    /// over a partition of `blocks` blocks. The ring page starts zeroed
    /// (fresh frames are), so a client may submit before the server is up;
    /// the server takes over the indices as they are.
    pub fn new(ring: Ring, blocks: u64, buffers: u64) -> ServerChannel {
        ServerChannel {
            end: ServerEnd::new(ring),
            blocks,
            buffers,
        }
    }

    /// The next request, if one is waiting and its completion is sure to
    /// find room in the completion queue; `None` otherwise.
    pub fn take(&mut self) -> Option<Incoming> {
        let w: RequestWire = self.end.take()?;
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
        self.end.complete(&c.encode());
    }

    /// Whether the completions published so far want a signal: not while
    /// the client asked for quiet ones (`ring` module docs, "Quiet
    /// completions"). Caller: after publishing them.
    pub fn signal_wanted(&self) -> bool {
        self.end.signal_wanted()
    }

    /// Requests taken and not completed.
    pub fn in_flight(&self) -> u32 {
        self.end.owed()
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
