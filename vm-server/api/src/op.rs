//! The operation numbers: the label of every request, stable forever, and the conversions between labels and `Operation`.

use crate::error::DecodeError;
use crate::protocol::Operation;

// `Operation` itself (one variant per row of the table, numbered by its
// label), `Operation::ALL` and `replies_on_success` are generated from the
// table in `protocol.rs`.
impl Operation {
    /// The IPC label of requests for this operation.
    #[inline]
    pub const fn label(self) -> u64 {
        self as u64
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
