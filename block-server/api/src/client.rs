//! The client stub: submits requests on a channel's submission queue,
//! rings the server's doorbell, and reaps completions.

use crate::ring::{ClientEnd, Ring, RING_ENTRIES};
use crate::window::Window;
use crate::wire::{CompletionWire, RequestWire};
use crate::{BlockError, Completion, Request, RequestKind, BLOCK_SIZE};

/// How a client tells the server there is work and waits for completions.
pub trait Notifier {
    /// Signals the server's doorbell.
    fn kick(&mut self);
    /// Blocks until the server signals a completion (may return early).
    fn wait(&mut self);
}

/// The system notifier: a badged cap to the server's notification, and
/// the client's own completion notification.
#[derive(Clone, Copy, Debug)]
pub struct Sel4Notifier {
    pub doorbell: sel4::CPtr,
    pub done: sel4::CPtr,
}

impl Notifier for Sel4Notifier {
    fn kick(&mut self) {
        sel4::signal(self.doorbell);
    }
    fn wait(&mut self) {
        sel4::wait(self.done);
    }
}

/// A client of the block server over one channel.
///
/// Locking note: owned by one thread of the client.
#[derive(Debug)]
pub struct BlockClient<N: Notifier> {
    end: ClientEnd<RequestWire, CompletionWire>,
    window: Window,
    pub notifier: N,
    next_tag: u64,
    in_flight: u32,
    /// Submits start quiet stretches ([`quiet_completions`](Self::quiet_completions)).
    quiet_mode: bool,
    /// A quiet stretch is on (the ring's quiet word is set).
    quiet: bool,
}

impl<N: Notifier> BlockClient<N> {
    /// A client over the channel mapped at `base`: the ring page, then
    /// `buffers` data buffers.
    ///
    /// # Safety
    /// `base` is page aligned and valid for reads and writes of
    /// `(1 + buffers) * BLOCK_SIZE` bytes for the client's lifetime, and
    /// shared only with the server.
    pub unsafe fn new(base: *mut u8, buffers: u64, notifier: N) -> Self {
        // SAFETY: the caller's contract covers the ring page.
        let ring = unsafe { Ring::new(base) };
        // A new client starts signalled, whatever a previous one asked.
        ring.set_quiet(false);
        BlockClient {
            end: ClientEnd::new(ring),
            // SAFETY: the window follows the ring page (caller's contract),
            // and the client has no other view of it.
            window: unsafe { Window::new(base.add(BLOCK_SIZE), buffers) },
            notifier,
            next_tag: 1,
            in_flight: 0,
            quiet_mode: false,
            quiet: false,
        }
    }

    /// Buffers in the data window.
    pub fn buffers(&self) -> u64 {
        self.window.buffers()
    }

    /// Requests submitted and not reaped.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Bytes of buffers `buf..buf + count`. Caller contract: no request
    /// in flight writes them.
    ///
    /// # Panics
    /// If the range leaves the window.
    pub fn buffer(&self, buf: u64, count: u64) -> &[u8] {
        self.window.buffer(buf, count)
    }

    /// Mutable bytes of buffers `buf..buf + count`. Caller contract: no
    /// request in flight names them.
    ///
    /// # Panics
    /// If the range leaves the window.
    pub fn buffer_mut(&mut self, buf: u64, count: u64) -> &mut [u8] {
        self.window.buffer_mut(buf, count)
    }

    /// Writes the frame list `addrs` (physical page addresses, entry `i`
    /// for block `block + i` of the request that names it) into buffer
    /// `buf`, for a `Read`/`Write` submitted with
    /// [`FLAG_FRAME_LIST`](crate::FLAG_FRAME_LIST) and `count =
    /// addrs.len()`. Caller contract: no request in flight names buffer
    /// `buf`, and the channel may send lists
    /// ([`frame_lists_allowed`](crate::frame_lists_allowed)).
    ///
    /// # Panics
    /// If `buf` is outside the window or `addrs` holds more than
    /// [`FRAME_LIST_ENTRIES`](crate::FRAME_LIST_ENTRIES) addresses.
    pub fn write_frame_list(&mut self, buf: u64, addrs: &[u64]) {
        self.window.write_u64s(buf, addrs);
    }

    /// Queues a request without blocking and returns its tag; call
    /// [`kick`](Self::kick) after a batch. `Busy` when
    /// [`RING_ENTRIES`] requests are in flight.
    pub fn submit(&mut self, kind: RequestKind, flags: u64) -> Result<u64, BlockError> {
        if self.in_flight as usize >= RING_ENTRIES {
            return Err(BlockError::Busy);
        }
        if self.quiet_mode && !self.quiet {
            // Before the request is visible: its completion may come at once.
            self.end.begin_quiet();
            self.quiet = true;
        }
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1).max(1);
        self.end.push(&Request { tag, kind, flags }.encode());
        self.in_flight += 1;
        Ok(tag)
    }

    /// Rings the server's doorbell.
    pub fn kick(&mut self) {
        self.notifier.kick();
    }

    /// Whether each [`submit`](Self::submit) starts a *quiet stretch*, in
    /// which the server completes without signalling (`ring` module docs,
    /// "Quiet completions"). The caller then polls before it sleeps, after
    /// [`end_quiet`](Self::end_quiet); [`wait`](Self::wait) and the
    /// synchronous calls end the stretch themselves.
    pub fn quiet_completions(&mut self, on: bool) {
        self.quiet_mode = on;
        if !on {
            self.end_quiet();
        }
    }

    /// True while a quiet stretch is on: a completion taken now was
    /// likely not signalled (one published before the stretch was).
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Ends the quiet stretch, if one is on: completions are signalled
    /// again from here on. True if completions of requests in flight are
    /// waiting, some maybe unsignalled: the caller polls before it sleeps.
    pub fn end_quiet(&mut self) -> bool {
        if !core::mem::take(&mut self.quiet) {
            return false;
        }
        let waiting = self.end.end_quiet();
        // A nonsense index with nothing in flight is nothing to take.
        waiting && self.in_flight > 0
    }

    /// Blocks until a completion may have arrived (it may return early):
    /// ends the quiet stretch first, and returns at once if completions
    /// are waiting then.
    pub fn wait(&mut self) {
        if !self.end_quiet() {
            self.notifier.wait();
        }
    }

    /// The next completion, if one arrived; never blocks. A completion
    /// that does not decode comes back as `MalformedReply` under its tag.
    pub fn poll(&mut self) -> Option<Completion> {
        if self.in_flight == 0 {
            return None;
        }
        let w: CompletionWire = self.end.pop()?;
        self.in_flight -= 1;
        Some(Completion::decode(&w).unwrap_or(Completion {
            tag: w.tag,
            result: Err(BlockError::MalformedReply),
            failed_block: 0,
        }))
    }

    /// Waits for the next completion. Caller contract: a request is in flight.
    pub fn wait_one(&mut self) -> Completion {
        loop {
            if let Some(c) = self.poll() {
                return c;
            }
            self.wait();
        }
    }

    /// Submits one request and waits for its completion. Caller contract:
    /// nothing else in flight (otherwise other completions are dropped).
    pub fn call(&mut self, kind: RequestKind, flags: u64) -> Result<u64, BlockError> {
        let tag = self.submit(kind, flags)?;
        self.kick();
        loop {
            let c = self.wait_one();
            if c.tag == tag {
                return c.result;
            }
        }
    }

    /// Reads device blocks into buffers `buf..` (synchronous).
    pub fn read(&mut self, block: u64, count: u64, buf: u64) -> Result<(), BlockError> {
        self.call(RequestKind::Read { block, count, buf }, 0)
            .map(drop)
    }

    /// Writes buffers `buf..` to device blocks (synchronous).
    pub fn write(&mut self, block: u64, count: u64, buf: u64) -> Result<(), BlockError> {
        self.call(RequestKind::Write { block, count, buf }, 0)
            .map(drop)
    }

    /// The partition size in blocks.
    pub fn info(&mut self) -> Result<u64, BlockError> {
        self.call(RequestKind::Info, 0)
    }

    /// Makes completed writes durable.
    pub fn flush(&mut self) -> Result<(), BlockError> {
        self.call(RequestKind::Flush, 0).map(drop)
    }
}
