//! The fixed `#[repr(C)]` word layouts of the pager channel's ring
//! entries (little-endian `u64` words, the sizes of the block channel's),
//! and their total decoders into [`Request`] and [`Completion`].

use crate::{
    Completion, Operation, Outcome, PagerError, Request, RequestKind, MAX_CLUSTER, STATUS_FAILED,
};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A submission-queue entry: 8 words (64 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct RequestWire {
    /// [`Operation`] number.
    pub op: u64,
    pub tag: u64,
    /// The pager's name for the object.
    pub key: u64,
    /// First page of the object (0 for `Close`).
    pub pindex: u64,
    /// Pages, `1..=`[`MAX_CLUSTER`] (0 for `Close`).
    pub count: u64,
    /// First window buffer (0 for `Close`).
    pub buf: u64,
    /// Must be zero.
    pub reserved: [u64; 2],
}

/// A completion-queue entry: 4 words (32 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct CompletionWire {
    pub tag: u64,
    /// An [`Outcome`] number, or [`STATUS_FAILED`].
    pub status: u64,
    /// For [`STATUS_FAILED`] a [`PagerError`] code; otherwise 0.
    pub error: u64,
    /// Must be zero.
    pub reserved: u64,
}

const _: () = assert!(core::mem::size_of::<RequestWire>() == block_api::ring::SQ_ENTRY_BYTES);
const _: () = assert!(core::mem::size_of::<CompletionWire>() == block_api::ring::CQ_ENTRY_BYTES);

impl Request {
    /// The entry for this request.
    pub fn encode(&self) -> RequestWire {
        let (pindex, count, buf) = self.kind.transfer().unwrap_or((0, 0, 0));
        RequestWire {
            op: self.kind.operation() as u64,
            tag: self.tag,
            key: self.kind.key(),
            pindex,
            count,
            buf,
            reserved: [0; 2],
        }
    }

    /// Decodes an entry; total: anything but a well-formed request is
    /// `Malformed` (unknown op, reserved words set, a transfer of 0 or
    /// more than [`MAX_CLUSTER`] pages or whose pages wrap, arguments on
    /// `Close`). The window is checked separately ([`Request::check`]).
    pub fn decode(w: &RequestWire) -> Result<Request, PagerError> {
        let op = Operation::from_u64(w.op).ok_or(PagerError::Malformed)?;
        if w.reserved != [0; 2] {
            return Err(PagerError::Malformed);
        }
        let (key, pindex, count, buf) = (w.key, w.pindex, w.count, w.buf);
        let kind = match op {
            Operation::PageIn | Operation::WriteBack => {
                if count == 0 || count > MAX_CLUSTER || pindex.checked_add(count).is_none() {
                    return Err(PagerError::Malformed);
                }
                if op == Operation::PageIn {
                    RequestKind::PageIn {
                        key,
                        pindex,
                        count,
                        buf,
                    }
                } else {
                    RequestKind::WriteBack {
                        key,
                        pindex,
                        count,
                        buf,
                    }
                }
            }
            Operation::Close => {
                if (pindex, count, buf) != (0, 0, 0) {
                    return Err(PagerError::Malformed);
                }
                RequestKind::Close { key }
            }
        };
        Ok(Request { tag: w.tag, kind })
    }
}

impl Completion {
    /// The entry for this completion.
    pub fn encode(&self) -> CompletionWire {
        let (status, error) = match self.result {
            Ok(o) => (o as u64, 0),
            Err(e) => (STATUS_FAILED, e.code()),
        };
        CompletionWire {
            tag: self.tag,
            status,
            error,
            reserved: 0,
        }
    }

    /// Decodes an entry; total: an unknown status, an error code that is
    /// unknown or not a pager's to send, an `error` word on success, or a
    /// reserved word set is `MalformedReply`.
    pub fn decode(w: &CompletionWire) -> Result<Completion, PagerError> {
        if w.reserved != 0 {
            return Err(PagerError::MalformedReply);
        }
        let result = if w.status == STATUS_FAILED {
            match PagerError::from_code(w.error) {
                Some(e) if e.sent_by_pager() => Err(e),
                _ => return Err(PagerError::MalformedReply),
            }
        } else {
            let o = Outcome::from_u64(w.status).ok_or(PagerError::MalformedReply)?;
            if w.error != 0 {
                return Err(PagerError::MalformedReply);
            }
            Ok(o)
        };
        Ok(Completion { tag: w.tag, result })
    }
}
