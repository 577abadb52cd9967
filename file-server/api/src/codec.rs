//! The public entry points of the codec: a request's label and words, a reply's label and words, and the conversions between labels and `Operation`.

use crate::error::{DecodeError, FileError};
use crate::protocol::{Operation, Reply, Request};

impl Operation {
    /// The IPC label of requests for this operation.
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

impl Request {
    /// The request a message carries: `label` and exactly its `words`.
    /// Total: never panics.
    pub fn decode(label: u64, words: &[u64]) -> Result<Request, DecodeError> {
        Request::decode_body(Operation::try_from(label)?, words)
    }

    /// Writes the request's words into `out` (at least
    /// [`MAX_WORDS`](crate::MAX_WORDS) long); returns its label and length.
    pub fn encode(&self, out: &mut [u64]) -> (u64, usize) {
        (self.operation().label(), self.encode_body(out))
    }
}

impl Reply {
    /// The reply to an `op` request: `Ok(Ok(reply))` for label 0 and
    /// well-formed words, `Ok(Err(error))` for an error label without
    /// words, `Err` for anything else. Total: never panics.
    pub fn decode(
        op: Operation,
        label: u64,
        words: &[u64],
    ) -> Result<Result<Reply, FileError>, DecodeError> {
        if label == 0 {
            return Reply::decode_body(op, words).map(Ok);
        }
        let error = FileError::from_code(label).ok_or(DecodeError::BadValue {
            word: 0,
            value: label,
        })?;
        if !words.is_empty() {
            return Err(DecodeError::TooLong {
                expected: 0,
                got: words.len(),
            });
        }
        Ok(Err(error))
    }

    /// Writes the reply's words into `out`; returns its label (0) and
    /// length.
    pub fn encode(&self, out: &mut [u64]) -> (u64, usize) {
        (0, self.encode_body(out))
    }

    /// The message answering with `result`: the reply, or the error's code
    /// as the label and no words.
    pub fn encode_result(result: &Result<Reply, FileError>, out: &mut [u64]) -> (u64, usize) {
        match result {
            Ok(r) => r.encode(out),
            Err(e) => (e.code(), 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_are_distinct() {
        for (i, op) in Operation::ALL.iter().enumerate() {
            assert_eq!(Operation::try_from(op.label()), Ok(*op));
            assert!(op.label() >= 0x200 && op.label() <= 0xf_ffff);
            if i > 0 {
                assert!(Operation::ALL[i - 1].label() < op.label());
            }
        }
        assert!(Operation::try_from(0x100).is_err());
    }
}
