//! The fixed `#[repr(C)]` word layouts of ring entries, and their total
//! decoders into [`Request`] and [`Completion`].

use crate::{
    BlockError, Completion, Operation, Request, RequestKind, FLAGS_ALL, FLAG_FRAME_LIST, MAX_BLOCKS,
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
    pub block: u64,
    pub count: u64,
    pub buf: u64,
    pub flags: u64,
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
    /// 0 or a [`BlockError`] code.
    pub status: u64,
    /// `Info`: the partition size in blocks; otherwise 0.
    pub value: u64,
    /// `Io`: first block not transferred; otherwise 0.
    pub block: u64,
}

const _: () = assert!(core::mem::size_of::<RequestWire>() == 64);
const _: () = assert!(core::mem::size_of::<CompletionWire>() == 32);

impl Request {
    /// The entry for this request.
    pub fn encode(&self) -> RequestWire {
        let (block, count, buf) = self.kind.transfer().unwrap_or((0, 0, 0));
        RequestWire {
            op: self.kind.operation() as u64,
            tag: self.tag,
            block,
            count,
            buf,
            flags: self.flags,
            reserved: [0; 2],
        }
    }

    /// Decodes an entry; total: anything but a well-formed request is
    /// `Malformed` (unknown op, reserved bits or words set, a transfer of
    /// 0 or more than [`MAX_BLOCKS`] blocks, arguments on `Info`/`Flush`,
    /// [`FLAG_FRAME_LIST`] on `Info`/`Flush`).
    pub fn decode(w: &RequestWire) -> Result<Request, BlockError> {
        let op = Operation::from_u64(w.op).ok_or(BlockError::Malformed)?;
        if w.reserved != [0; 2] || w.flags & !FLAGS_ALL != 0 {
            return Err(BlockError::Malformed);
        }
        let (block, count, buf) = (w.block, w.count, w.buf);
        let kind = match op {
            Operation::Read | Operation::Write => {
                if count == 0 || count > MAX_BLOCKS {
                    return Err(BlockError::Malformed);
                }
                if op == Operation::Read {
                    RequestKind::Read { block, count, buf }
                } else {
                    RequestKind::Write { block, count, buf }
                }
            }
            Operation::Info | Operation::Flush => {
                // A frame list describes a transfer's buffer: an argument
                // these operations do not take.
                if (block, count, buf) != (0, 0, 0) || w.flags & FLAG_FRAME_LIST != 0 {
                    return Err(BlockError::Malformed);
                }
                if op == Operation::Info {
                    RequestKind::Info
                } else {
                    RequestKind::Flush
                }
            }
        };
        Ok(Request {
            tag: w.tag,
            kind,
            flags: w.flags,
        })
    }
}

impl Completion {
    /// The entry for this completion.
    pub fn encode(&self) -> CompletionWire {
        match self.result {
            Ok(value) => CompletionWire {
                tag: self.tag,
                status: 0,
                value,
                block: 0,
            },
            Err(e) => CompletionWire {
                tag: self.tag,
                status: e.code(),
                value: 0,
                block: if e == BlockError::Io {
                    self.failed_block
                } else {
                    0
                },
            },
        }
    }

    /// Decodes an entry; total: an unknown status, or words that the
    /// status does not use but are not zero, are `MalformedReply`.
    pub fn decode(w: &CompletionWire) -> Result<Completion, BlockError> {
        if w.status == 0 {
            if w.block != 0 {
                return Err(BlockError::MalformedReply);
            }
            return Ok(Completion {
                tag: w.tag,
                result: Ok(w.value),
                failed_block: 0,
            });
        }
        let e = BlockError::from_code(w.status).ok_or(BlockError::MalformedReply)?;
        if w.value != 0 || (e != BlockError::Io && w.block != 0) {
            return Err(BlockError::MalformedReply);
        }
        Ok(Completion {
            tag: w.tag,
            result: Err(e),
            failed_block: w.block,
        })
    }
}
