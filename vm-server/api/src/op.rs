//! The operation numbers: the label of every request, stable forever.

use crate::error::DecodeError;

/// One operation of the protocol; the discriminant is the request's IPC
/// label.
///
/// The numbers are part of the protocol: never renumber, only append. They
/// start at `0x100` so they can never be confused with a kernel fault
/// message (fault labels are below `0x10`) should a server receive both on
/// one endpoint, and they fit seL4's 20-bit label field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u64)]
pub enum Operation {
    /// No-op round trip (benchmarks, liveness).
    Ping = 0x100,
    /// Global counters ([`crate::VmStats`]).
    Stats = 0x101,
    /// The caller's own counters ([`crate::ClientStats`]).
    ClientStats = 0x102,
    Mmap = 0x110,
    Munmap = 0x111,
    Mprotect = 0x112,
    Minherit = 0x113,
    Madvise = 0x114,
    Msync = 0x115,
    Mincore = 0x116,
    Mlock = 0x117,
    Munlock = 0x118,
    ShmCreate = 0x120,
    ShmOpen = 0x121,
    ShmUnlink = 0x122,
    ShmTruncate = 0x123,
    HandleClose = 0x124,
    HandleShare = 0x125,
    /// Let a client push handles into the caller with `HandleShare`.
    HandleAccept = 0x126,
    Fork = 0x130,
    Exit = 0x131,
    /// Test hook: the caller's next fault that has to read from swap
    /// fails as if the disk had failed (the block server is asked to fail
    /// that read). It can only hurt the caller.
    FailNextPagein = 0x140,
}

impl Operation {
    /// Every operation, in label order.
    pub const ALL: [Operation; 22] = [
        Operation::Ping,
        Operation::Stats,
        Operation::ClientStats,
        Operation::Mmap,
        Operation::Munmap,
        Operation::Mprotect,
        Operation::Minherit,
        Operation::Madvise,
        Operation::Msync,
        Operation::Mincore,
        Operation::Mlock,
        Operation::Munlock,
        Operation::ShmCreate,
        Operation::ShmOpen,
        Operation::ShmUnlink,
        Operation::ShmTruncate,
        Operation::HandleClose,
        Operation::HandleShare,
        Operation::HandleAccept,
        Operation::Fork,
        Operation::Exit,
        Operation::FailNextPagein,
    ];

    /// The IPC label of requests for this operation.
    #[inline]
    pub const fn label(self) -> u64 {
        self as u64
    }

    /// Whether the server answers a successful request. `Exit` is the only
    /// operation that does not: the caller is gone (a failed `Exit` is
    /// answered with its error).
    #[inline]
    pub const fn replies_on_success(self) -> bool {
        !matches!(self, Operation::Exit)
    }
}

impl TryFrom<u64> for Operation {
    type Error = DecodeError;

    fn try_from(label: u64) -> Result<Self, DecodeError> {
        Operation::ALL
            .iter()
            .copied()
            .find(|op| op.label() == label)
            .ok_or(DecodeError::UnknownOperation { label })
    }
}

impl From<Operation> for u64 {
    fn from(op: Operation) -> u64 {
        op.label()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_are_distinct() {
        for (i, op) in Operation::ALL.iter().enumerate() {
            assert_eq!(Operation::try_from(op.label()), Ok(*op));
            assert!(op.label() >= 0x100 && op.label() <= 0xf_ffff);
            if i > 0 {
                assert!(Operation::ALL[i - 1].label() < op.label());
            }
        }
        assert_eq!(
            Operation::try_from(0),
            Err(DecodeError::UnknownOperation { label: 0 })
        );
        assert!(Operation::try_from(5).is_err());
    }

    #[test]
    fn only_exit_is_silent() {
        for op in Operation::ALL {
            assert_eq!(op.replies_on_success(), op != Operation::Exit);
        }
    }
}
