//! `pager-api`: the external pager channel (docs/pager.md), declared once —
//! operations, the fixed word layouts of requests and completions, their
//! total decoders, the error codes, the VM server's end ([`VmEnd`]) and
//! the pager component's end ([`PagerEnd`]); with the `vm-backend`
//! feature, the VM core's `PagerBackend` over a `VmEnd`
//! ([`ChannelPager`]).
//!
//! # Model: the block channel's layout, the pager's operations
//!
//! A pager and the VM server share one `frame` object of the system spec:
//! page 0 is the **ring page**, pages `1..` the **data window** of
//! [`PAGE_SIZE`]-byte buffers named by index. Both are the block
//! channel's, and so is the code that runs them: the ring page is
//! `block_api::RingPage` with this crate's entry types ([`PagerRing`]),
//! the index bookkeeping `block_api::ClientEnd` / `ServerEnd`, the window
//! `block_api::Window`, and the wake-ups `block_api::Notifier` (on seL4
//! `Sel4Notifier`: a signal to the other side's notification, a wait on
//! one's own). Only the words of the entries differ, so this crate needs
//! no unsafe code: the shared-memory views are made (unsafely, once) by
//! whoever maps the channel.
//!
//! The VM server submits requests on the submission queue (64-byte
//! [`RequestWire`]) and the pager answers each page-in and write-back on
//! the completion queue (32-byte [`CompletionWire`]), in any order; a
//! `Close` is not answered. Up to [`RING_ENTRIES`] entries are queued;
//! the VM end splits the window into *slots* of `cluster` buffers, one per
//! request in flight (slot `s` is buffers `s * cluster..`), so at most
//! `min(RING_ENTRIES, buffers / cluster)` page-ins and write-backs are in
//! flight and a full channel refuses with [`PagerError::Busy`]: the VM
//! server never blocks on a pager.
//!
//! # Trust
//!
//! The pager trusts nothing the VM server writes and the VM server
//! nothing the pager writes. [`PagerEnd::take`] copies each entry once,
//! decodes it totally and checks it against the window and the cluster
//! ([`Request::check`]); [`VmEnd::poll`] matches each completion against
//! its own table of requests in flight: a completion that does not
//! decode or answers with the wrong kind fails its request with
//! [`PagerError::MalformedReply`], one that names no request in flight (a
//! stranger, a duplicate) is a [`ProtocolError`], and a completion index
//! moved impossibly far is one too; each counts in
//! [`VmEnd::protocol_errors`], none panics.
//!
//! # Numbering
//!
//! All numbers are stable: never renumber, only append.
//!
//! | op | [`Operation`] | request words used | answers |
//! | ---: | --- | --- | --- |
//! | 1 | `PageIn` | key, pindex, count, buf | `Supplied`, `Zero`, `Failed` |
//! | 2 | `WriteBack` | key, pindex, count, buf | `Written`, `Failed` |
//! | 3 | `Close` | key | none |
//!
//! | status | [`Outcome`] | meaning |
//! | ---: | --- | --- |
//! | 1 | `Supplied` | the page-in's data is in its buffers |
//! | 2 | `Zero` | the page-in's range reads as zero (a hole) |
//! | 3 | `Written` | the write-back's data is durable |
//! | 4 | (failed) | the `error` word holds a [`PagerError`] code |
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(feature = "vm-backend")]
extern crate alloc;

#[cfg(feature = "vm-backend")]
mod backend;
mod pager_end;
mod vm_end;
pub mod wire;

#[cfg(feature = "vm-backend")]
pub use backend::ChannelPager;
pub use block_api::{Notifier, Sel4Notifier, Window, RING_ENTRIES};
pub use pager_end::{Incoming, PagerEnd};
pub use vm_end::{ProtocolError, VmEnd, VmEvent};
pub use wire::{CompletionWire, RequestWire};

/// The pager channel's ring page: the block channel's ring with the
/// pager's entries.
pub type PagerRing = block_api::RingPage<RequestWire, CompletionWire>;

/// Bytes per page and per data-window buffer.
pub const PAGE_SIZE: usize = block_api::BLOCK_SIZE;
/// Most pages one request may name (any channel's cluster is at most this).
pub const MAX_CLUSTER: u64 = 32;
/// The cluster both ends of every pager channel of the system specs use
/// (the VM server and the file server): a 32-buffer window is 4 slots.
pub const SYSTEM_CLUSTER: u64 = 8;
/// Completion `status` of a failed request (the others are [`Outcome`]s).
pub const STATUS_FAILED: u64 = 4;
/// Byte offset in the ring page of the *attach word* (docs/pager.md,
/// "Identity"): the pager writes the challenge the VM server gave its
/// badge here before it calls `PagerAttach`. Past both rings, so neither
/// end's ring code reads or writes it; the one who maps the channel
/// reads and writes it (a `u64`, little-endian).
pub const ATTACH_WORD_OFFSET: usize = PAGE_SIZE - 8;
const _: () = assert!(ATTACH_WORD_OFFSET >= block_api::ring::RING_BYTES);

/// An operation number (the `op` word of a request).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Operation {
    PageIn = 1,
    WriteBack = 2,
    Close = 3,
}

impl Operation {
    /// The operation numbered `n`, if any.
    pub fn from_u64(n: u64) -> Option<Operation> {
        Some(match n {
            1 => Operation::PageIn,
            2 => Operation::WriteBack,
            3 => Operation::Close,
            _ => return None,
        })
    }
}

/// How a page-in or write-back succeeded: the `status` word of its
/// completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Outcome {
    /// A page-in's data is in its buffers.
    Supplied = 1,
    /// A page-in's range reads as zero; the buffers are not touched.
    Zero = 2,
    /// A write-back's data is durable.
    Written = 3,
}

impl Outcome {
    /// The outcome with status `n`, if any.
    pub fn from_u64(n: u64) -> Option<Outcome> {
        Some(match n {
            1 => Outcome::Supplied,
            2 => Outcome::Zero,
            3 => Outcome::Written,
            _ => return None,
        })
    }

    /// True when it is a possible answer to `op`.
    pub fn answers(self, op: Operation) -> bool {
        matches!(
            (op, self),
            (Operation::PageIn, Outcome::Supplied | Outcome::Zero)
                | (Operation::WriteBack, Outcome::Written)
        )
    }
}

/// Why a request failed: the `error` word of a failed completion, or a
/// refusal at either end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum PagerError {
    /// The pager's storage failed the transfer.
    Io = 1,
    /// The pager knows no object by that key.
    NoSuchObject = 2,
    /// A write-back found no room in the pager's storage.
    NoSpace = 3,
    /// The pager refuses writes to the object.
    ReadOnly = 4,
    /// The buffers run past the end of the data window.
    BadBuffer = 5,
    /// An unknown operation, a count of 0 or over the cluster, a page
    /// range that wraps, reserved words or unused arguments not zero.
    Malformed = 6,
    /// Every slot or queue entry is in use (VM side): poll first.
    Busy = 7,
    /// A completion that does not decode or answers with the wrong kind
    /// (VM side; never sent by a pager).
    MalformedReply = 8,
}

impl PagerError {
    /// Every error, in code order.
    pub const ALL: [PagerError; 8] = [
        PagerError::Io,
        PagerError::NoSuchObject,
        PagerError::NoSpace,
        PagerError::ReadOnly,
        PagerError::BadBuffer,
        PagerError::Malformed,
        PagerError::Busy,
        PagerError::MalformedReply,
    ];

    /// The wire code (never 0).
    pub fn code(self) -> u64 {
        self as u64
    }

    /// The error with wire code `code`, if any.
    pub fn from_code(code: u64) -> Option<PagerError> {
        PagerError::ALL.into_iter().find(|e| e.code() == code)
    }

    /// True for the errors a pager may put in a completion (`Busy` and
    /// `MalformedReply` are the VM end's own).
    pub fn sent_by_pager(self) -> bool {
        !matches!(self, PagerError::Busy | PagerError::MalformedReply)
    }
}

/// A decoded request: what the VM server asks, under its tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    /// Chosen by the VM end; echoed in the completion.
    pub tag: u64,
    pub kind: RequestKind,
}

/// The operation and its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// Fill buffers `buf..buf + count` with pages `pindex..pindex + count`
    /// of object `key`.
    PageIn {
        key: u64,
        pindex: u64,
        count: u64,
        buf: u64,
    },
    /// Buffers `buf..buf + count` hold dirty pages `pindex..pindex +
    /// count` of object `key`: write them.
    WriteBack {
        key: u64,
        pindex: u64,
        count: u64,
        buf: u64,
    },
    /// The last reference to object `key` is gone. Not answered.
    Close { key: u64 },
}

impl RequestKind {
    /// Its operation.
    pub fn operation(&self) -> Operation {
        match self {
            RequestKind::PageIn { .. } => Operation::PageIn,
            RequestKind::WriteBack { .. } => Operation::WriteBack,
            RequestKind::Close { .. } => Operation::Close,
        }
    }

    /// The object's key.
    pub fn key(&self) -> u64 {
        match *self {
            RequestKind::PageIn { key, .. }
            | RequestKind::WriteBack { key, .. }
            | RequestKind::Close { key } => key,
        }
    }

    /// `(pindex, count, buf)` of a page-in or write-back.
    pub fn transfer(&self) -> Option<(u64, u64, u64)> {
        match *self {
            RequestKind::PageIn {
                pindex, count, buf, ..
            }
            | RequestKind::WriteBack {
                pindex, count, buf, ..
            } => Some((pindex, count, buf)),
            RequestKind::Close { .. } => None,
        }
    }
}

impl Request {
    /// Checks a decoded request against the channel: `count` in
    /// `1..=cluster` (`Malformed`), buffers `buf..buf + count` within a
    /// window of `buffers` buffers (`BadBuffer`). A `Close` always passes.
    pub fn check(&self, buffers: u64, cluster: u64) -> Result<(), PagerError> {
        let Some((_, count, buf)) = self.kind.transfer() else {
            return Ok(());
        };
        if count == 0 || count > cluster {
            return Err(PagerError::Malformed);
        }
        match buf.checked_add(count) {
            Some(end) if end <= buffers => Ok(()),
            _ => Err(PagerError::BadBuffer),
        }
    }
}

/// A decoded completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Completion {
    /// The request's tag.
    pub tag: u64,
    pub result: Result<Outcome, PagerError>,
}
