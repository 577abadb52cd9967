//! The ring page: two single-producer single-consumer queues in one 4 KiB
//! page shared by a client and a server, generic over the entry types so
//! every channel of this layout (the block channel, the pager channel of
//! `pager-api`) shares one implementation.
//!
//! | offset | field | written by |
//! | ---: | --- | --- |
//! | 0 | `sq_prod: u32` | client |
//! | 64 | `sq_cons: u32` | server |
//! | 128 | `cq_prod: u32` | server |
//! | 192 | `cq_cons: u32` | client |
//! | 224 | `quiet: u32` | client |
//! | 256 | `sq[RING_ENTRIES]`: requests ([`SQ_ENTRY_BYTES`] each) | client |
//! | 2304 | `cq[RING_ENTRIES]`: completions ([`CQ_ENTRY_BYTES`] each) | server |
//!
//! Indices run freely (wrapping `u32`); entry `i` lives at `i %
//! RING_ENTRIES`; a queue holds `prod - cons` entries. A producer writes
//! the entry, then publishes the index with a release store; a consumer
//! reads the index with an acquire load, then the entry (volatile: the
//! other side may write the page at any time). Each side keeps its own
//! index privately ([`ClientEnd`], [`ServerEnd`]) and only publishes it,
//! so nothing the other side writes can make it read outside the page.
//!
//! **Quiet completions.** A client that is awake and will look at the
//! completion queue before it sleeps may set `quiet`
//! ([`ClientEnd::begin_quiet`]); the server then publishes completions
//! without signalling (a signal is a system call on each side, and the
//! wake-up it causes finds nothing the client's own look would not).
//! Before it sleeps the client clears it ([`ClientEnd::end_quiet`]) and
//! looks once more. Each side fences between its write and its read
//! (the server: `cq_prod`, then `quiet`; the client: `quiet`, then
//! `cq_prod`), so of a completion and the clearing at least one side
//! sees the other's write: the client's last look finds the completion,
//! or the server signals it (both, at worst: a spurious signal). A
//! client that sets `quiet` and sleeps loses only its own signals.
//!
//! A channel's entries are plain words: any bit pattern is a value
//! (`zerocopy::FromBytes`), so reading an entry the other side scribbled
//! on is safe, and only the channel's total decoder gives it meaning.

use crate::wire::{CompletionWire, RequestWire};
use core::marker::PhantomData;
use core::sync::atomic::{fence, AtomicU32, Ordering};
use zerocopy::FromBytes;

/// Entries per queue.
pub const RING_ENTRIES: usize = 32;
pub const SQ_PROD: usize = 0;
pub const SQ_CONS: usize = 64;
pub const CQ_PROD: usize = 128;
pub const CQ_CONS: usize = 192;
/// The client's quiet word (in `cq_cons`'s line: both are the client's).
pub const QUIET: usize = 224;
/// Bytes of a submission entry.
pub const SQ_ENTRY_BYTES: usize = 64;
/// Bytes of a completion entry.
pub const CQ_ENTRY_BYTES: usize = 32;
pub const SQ_OFFSET: usize = 256;
pub const CQ_OFFSET: usize = SQ_OFFSET + RING_ENTRIES * SQ_ENTRY_BYTES;
/// Bytes of the ring page in use.
pub const RING_BYTES: usize = CQ_OFFSET + RING_ENTRIES * CQ_ENTRY_BYTES;
const _: () = assert!(RING_BYTES <= 4096 && QUIET + 4 <= SQ_OFFSET);

/// A view of a ring page whose submission entries are `S` and completion
/// entries `C` (plain words of [`SQ_ENTRY_BYTES`] and [`CQ_ENTRY_BYTES`],
/// checked at compile time).
pub struct RingPage<S, C> {
    base: *mut u8,
    entries: PhantomData<fn() -> (S, C)>,
}

/// The block channel's ring page.
pub type Ring = RingPage<RequestWire, CompletionWire>;

impl<S, C> Clone for RingPage<S, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S, C> Copy for RingPage<S, C> {}

impl<S, C> core::fmt::Debug for RingPage<S, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RingPage")
            .field("base", &self.base)
            .finish()
    }
}

impl<S: FromBytes + Copy, C: FromBytes + Copy> RingPage<S, C> {
    /// A view of the ring page at `base`.
    ///
    /// # Safety
    /// `base` is 64-byte aligned, valid for reads and writes of
    /// [`RING_BYTES`] for as long as the view is used, and only accessed
    /// through `RingPage` views (by this program and the other side).
    pub unsafe fn new(base: *mut u8) -> Self {
        const {
            assert!(core::mem::size_of::<S>() == SQ_ENTRY_BYTES);
            assert!(core::mem::size_of::<C>() == CQ_ENTRY_BYTES);
            assert!(core::mem::align_of::<S>() <= 64 && core::mem::align_of::<C>() <= 32);
        }
        RingPage {
            base,
            entries: PhantomData,
        }
    }

    fn index(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset <= CQ_CONS && offset.is_multiple_of(64),
            "not an index offset"
        );
        // SAFETY: in the page (`new`'s contract), 4-byte aligned (checked).
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast()) }
    }

    /// Reads index `offset` (acquire).
    ///
    /// # Panics
    /// If `offset` is not one of the four index offsets.
    pub fn load(&self, offset: usize) -> u32 {
        self.index(offset).load(Ordering::Acquire)
    }

    /// Publishes index `offset` (release).
    ///
    /// # Panics
    /// If `offset` is not one of the four index offsets.
    pub fn store(&self, offset: usize, v: u32) {
        self.index(offset).store(v, Ordering::Release)
    }

    fn quiet_word(&self) -> &AtomicU32 {
        // SAFETY: in the page (`new`'s contract covers RING_BYTES, and the
        // word lies below SQ_OFFSET, asserted), 4-byte aligned (`base` is
        // 64-byte aligned).
        unsafe { AtomicU32::from_ptr(self.base.add(QUIET).cast()) }
    }

    /// Publishes the quiet word (sequentially consistent: ordered against
    /// the other side's fence, module docs).
    pub fn set_quiet(&self, on: bool) {
        self.quiet_word().store(u32::from(on), Ordering::SeqCst)
    }

    /// The quiet word as the client published it (any nonzero value is on).
    pub fn quiet(&self) -> bool {
        self.quiet_word().load(Ordering::SeqCst) != 0
    }

    /// Zeroes the four indices and the quiet word (the owner of the page
    /// does this once, before the other side starts).
    pub fn reset(&self) {
        for off in [SQ_PROD, SQ_CONS, CQ_PROD, CQ_CONS] {
            self.store(off, 0);
        }
        self.set_quiet(false);
    }

    fn slot(i: u32) -> usize {
        i as usize % RING_ENTRIES
    }

    /// Submission entry `i` (mod [`RING_ENTRIES`]) as it is now.
    pub fn read_request(&self, i: u32) -> S {
        // SAFETY: in the page, aligned (size and alignment checked in
        // `new`); any bits are a valid `S` (`FromBytes`).
        unsafe {
            core::ptr::read_volatile(
                self.base
                    .add(SQ_OFFSET + Self::slot(i) * SQ_ENTRY_BYTES)
                    .cast::<S>(),
            )
        }
    }

    /// Writes submission entry `i` (mod [`RING_ENTRIES`]).
    pub fn write_request(&self, i: u32, w: &S) {
        // SAFETY: in the page, aligned (checked in `new`).
        unsafe {
            core::ptr::write_volatile(
                self.base
                    .add(SQ_OFFSET + Self::slot(i) * SQ_ENTRY_BYTES)
                    .cast::<S>(),
                *w,
            )
        }
    }

    /// Completion entry `i` (mod [`RING_ENTRIES`]) as it is now.
    pub fn read_completion(&self, i: u32) -> C {
        // SAFETY: as for read_request.
        unsafe {
            core::ptr::read_volatile(
                self.base
                    .add(CQ_OFFSET + Self::slot(i) * CQ_ENTRY_BYTES)
                    .cast::<C>(),
            )
        }
    }

    /// Writes completion entry `i` (mod [`RING_ENTRIES`]).
    pub fn write_completion(&self, i: u32, w: &C) {
        // SAFETY: as for write_request.
        unsafe {
            core::ptr::write_volatile(
                self.base
                    .add(CQ_OFFSET + Self::slot(i) * CQ_ENTRY_BYTES)
                    .cast::<C>(),
                *w,
            )
        }
    }

    /// Raw access for tests of a hostile peer: writes `v` at index `offset`.
    pub fn poke_index(&self, offset: usize, v: u32) {
        self.store(offset, v)
    }

    /// Reads index `offset` as the other side published it.
    pub fn peek_index(&self, offset: usize) -> u32 {
        self.load(offset)
    }

    /// Raw access for tests of a hostile peer: writes submission entry `i`.
    pub fn poke_request(&self, i: u32, w: &S) {
        self.write_request(i, w)
    }
}

/// The client's end of a ring page: produces requests, consumes
/// completions, and keeps its two indices privately.
///
/// Locking note: owned by one thread of the client.
#[derive(Debug)]
pub struct ClientEnd<S, C> {
    ring: RingPage<S, C>,
    sq_prod: u32,
    cq_cons: u32,
}

impl<S: FromBytes + Copy, C: FromBytes + Copy> ClientEnd<S, C> {
    /// Takes over the client's indices of `ring` as they are published
    /// (a fresh page is zeroed; a restarted client continues).
    pub fn new(ring: RingPage<S, C>) -> Self {
        ClientEnd {
            sq_prod: ring.load(SQ_PROD),
            cq_cons: ring.load(CQ_CONS),
            ring,
        }
    }

    /// The ring page.
    pub fn ring(&self) -> RingPage<S, C> {
        self.ring
    }

    /// Submission entries the server has not taken yet, as it says
    /// (clamped to [`RING_ENTRIES`]: a nonsense index reads as full).
    pub fn sq_used(&self) -> u32 {
        let used = self.sq_prod.wrapping_sub(self.ring.load(SQ_CONS));
        used.min(RING_ENTRIES as u32)
    }

    /// Writes a request and publishes it. Caller contract: the queue has
    /// room (the caller bounds what it has in flight by [`RING_ENTRIES`],
    /// or checks [`sq_used`](Self::sq_used)).
    pub fn push(&mut self, w: &S) {
        self.ring.write_request(self.sq_prod, w);
        self.sq_prod = self.sq_prod.wrapping_add(1);
        self.ring.store(SQ_PROD, self.sq_prod);
    }

    /// Completions the server has published and the client not consumed,
    /// unclamped: more than [`RING_ENTRIES`] means the server's index is
    /// nonsense.
    pub fn cq_waiting(&self) -> u32 {
        self.ring.load(CQ_PROD).wrapping_sub(self.cq_cons)
    }

    /// The next completion, if one is published; consumes it.
    pub fn pop(&mut self) -> Option<C> {
        if self.ring.load(CQ_PROD) == self.cq_cons {
            return None;
        }
        let w = self.ring.read_completion(self.cq_cons);
        self.cq_cons = self.cq_cons.wrapping_add(1);
        self.ring.store(CQ_CONS, self.cq_cons);
        Some(w)
    }

    /// Asks the server to publish completions without a signal: the
    /// client is awake and takes them before it sleeps, after
    /// [`end_quiet`](Self::end_quiet) (module docs, "Quiet completions").
    pub fn begin_quiet(&mut self) {
        self.ring.set_quiet(true);
    }

    /// Ends a quiet stretch: the server signals again from here on. True
    /// if completions are waiting, some maybe published without a signal:
    /// the client takes them before it sleeps.
    pub fn end_quiet(&mut self) -> bool {
        self.ring.set_quiet(false);
        // The store above, then the load below (module docs).
        fence(Ordering::SeqCst);
        self.cq_waiting() > 0
    }

    /// Drops every published completion unread (after a server moved its
    /// index impossibly far).
    pub fn resync(&mut self) {
        self.cq_cons = self.ring.load(CQ_PROD);
        self.ring.store(CQ_CONS, self.cq_cons);
    }
}

/// The server's end of a ring page: consumes requests, produces
/// completions, and never takes a request whose completion could not find
/// room in the completion queue.
///
/// Locking note: owned by the server's single thread; the client is
/// another address space and reaches it only through the ring page.
#[derive(Debug)]
pub struct ServerEnd<S, C> {
    ring: RingPage<S, C>,
    sq_cons: u32,
    cq_prod: u32,
    /// Requests taken whose completion is still owed.
    owed: u32,
}

impl<S: FromBytes + Copy, C: FromBytes + Copy> ServerEnd<S, C> {
    /// Takes over the server's indices of `ring` as they are published.
    /// The ring page starts zeroed (fresh frames are), so a client may
    /// submit before the server is up.
    pub fn new(ring: RingPage<S, C>) -> Self {
        ServerEnd {
            sq_cons: ring.load(SQ_CONS),
            cq_prod: ring.load(CQ_PROD),
            owed: 0,
            ring,
        }
    }

    /// Completion-queue entries the client has not consumed (clamped: a
    /// client that publishes a nonsense index gets a full queue).
    fn cq_used(&self) -> u32 {
        let cons = self.ring.load(CQ_CONS);
        let used = self.cq_prod.wrapping_sub(cons);
        used.min(RING_ENTRIES as u32)
    }

    /// The next request entry, if one is waiting and its completion is
    /// sure to find room in the completion queue; `None` otherwise. The
    /// entry is owed a completion ([`complete`](Self::complete)) unless
    /// the caller [`forgive`](Self::forgive)s it.
    pub fn take(&mut self) -> Option<S> {
        if self.owed + self.cq_used() >= RING_ENTRIES as u32 {
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
        let w = self.ring.read_request(self.sq_cons);
        self.sq_cons = self.sq_cons.wrapping_add(1);
        self.ring.store(SQ_CONS, self.sq_cons);
        self.owed += 1;
        Some(w)
    }

    /// A request taken needs no completion (its protocol says so).
    pub fn forgive(&mut self) {
        self.owed = self.owed.saturating_sub(1);
    }

    /// Publishes the completion of a request taken by
    /// [`take`](Self::take). Never blocks: `take` reserved its room.
    pub fn complete(&mut self, w: &C) {
        self.ring.write_completion(self.cq_prod, w);
        self.cq_prod = self.cq_prod.wrapping_add(1);
        self.ring.store(CQ_PROD, self.cq_prod);
        self.owed = self.owed.saturating_sub(1);
    }

    /// Requests taken and not completed.
    pub fn owed(&self) -> u32 {
        self.owed
    }

    /// Whether completions published so far want a signal: not while the
    /// client asked for quiet ones. Caller: after publishing them (the
    /// fence orders those stores before the read, module docs).
    pub fn signal_wanted(&self) -> bool {
        fence(Ordering::SeqCst);
        !self.ring.quiet()
    }
}
