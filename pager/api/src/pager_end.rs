//! The pager component's end of a pager channel: takes the VM server's
//! requests (decoded and checked, never trusted), gives access to their
//! buffers, and answers them.

use crate::wire::{CompletionWire, RequestWire};
use crate::{
    Completion, Notifier, Outcome, PagerError, PagerRing, Request, RequestKind, Window, MAX_CLUSTER,
};
use block_api::ServerEnd;

/// What the next submission entry asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A well-formed request within the window and the cluster: carry it
    /// out, then [`PagerEnd::complete`] it (a `Close` is not answered).
    Request(Request),
    /// A request that fails before any work: the caller completes it with
    /// this error at once (`tag` is the entry's tag word as it was).
    Refused { tag: u64, error: PagerError },
}

/// The pager component's end of one pager channel.
///
/// Locking note: owned by one thread of the pager; the VM server is
/// another address space and reaches it only through the shared frame.
#[derive(Debug)]
pub struct PagerEnd<N: Notifier> {
    end: ServerEnd<RequestWire, CompletionWire>,
    window: Window,
    cluster: u64,
    /// Signals the VM server; waits for its requests.
    pub notifier: N,
}

impl<N: Notifier> PagerEnd<N> {
    /// The pager end of the channel with ring page `ring` and data window
    /// `window`, serving requests of at most `cluster` pages (clamped to
    /// `1..=`[`MAX_CLUSTER`]). The ring page starts zeroed, so the VM
    /// server may submit before the pager is up. Caller contract: the VM
    /// end uses the same `cluster`.
    pub fn new(ring: PagerRing, window: Window, cluster: u64, notifier: N) -> Self {
        PagerEnd {
            end: ServerEnd::new(ring),
            window,
            cluster: cluster.clamp(1, MAX_CLUSTER),
            notifier,
        }
    }

    /// The next request, if one is waiting and its completion is sure to
    /// find room in the completion queue; `None` otherwise.
    pub fn take(&mut self) -> Option<Incoming> {
        let w = self.end.take()?;
        let checked = Request::decode(&w)
            .and_then(|r| r.check(self.window.buffers(), self.cluster).map(|()| r));
        if let Ok(Request {
            kind: RequestKind::Close { .. },
            ..
        }) = checked
        {
            self.end.forgive();
        }
        Some(checked.map_or_else(
            |error| Incoming::Refused { tag: w.tag, error },
            Incoming::Request,
        ))
    }

    /// The buffers of a request [`take`](Self::take) returned (empty for
    /// a `Close`): a page-in's to fill, a write-back's to read.
    ///
    /// # Panics
    /// If `r` names buffers outside the window (never one `take` returned).
    pub fn buffers(&self, r: &Request) -> &[u8] {
        match r.kind.transfer() {
            Some((_, count, buf)) => self.window.buffer(buf, count),
            None => &[],
        }
    }

    /// Mutable [`buffers`](Self::buffers).
    ///
    /// # Panics
    /// As for `buffers`.
    pub fn buffers_mut(&mut self, r: &Request) -> &mut [u8] {
        match r.kind.transfer() {
            Some((_, count, buf)) => self.window.buffer_mut(buf, count),
            None => &mut [],
        }
    }

    /// Answers the request `tag` taken by `take` (including a refused
    /// one). Never blocks: `take` reserved its room. Call
    /// [`kick`](Self::kick) after a batch. Caller contract: one answer per
    /// page-in or write-back taken, none for a `Close`.
    pub fn complete(&mut self, tag: u64, result: Result<Outcome, PagerError>) {
        self.end.complete(&Completion { tag, result }.encode());
    }

    /// Signals the VM server that completions are queued.
    pub fn kick(&mut self) {
        self.notifier.kick();
    }

    /// Requests taken and not answered.
    pub fn owed(&self) -> u32 {
        self.end.owed()
    }

    /// Buffers in the data window.
    pub fn buffers_in_window(&self) -> u64 {
        self.window.buffers()
    }

    /// Most pages a request may name.
    pub fn cluster(&self) -> u64 {
        self.cluster
    }
}
