//! Message words: `Body`, a payload's conversion to and from its words, `Fault`, what the shared checks find wrong with a message, and the length-checked reader and byte-string packing every protocol's payloads use.
//!
//! A message is a run of `u64` words, word `i` in message register `i`.
//! A byte string is packed little-endian, 8 bytes to a word, the bytes
//! past its length zero, so that every value has exactly one encoding.

/// Most words one message carries (`seL4_MsgMaxLength`).
pub const MAX_WORDS: usize = sel4::MSG_MAX_LENGTH;

/// What the shared decoding code found wrong with a message. Each
/// protocol's decode error converts from it (see [`from_fault!`]), so
/// the helpers here serve every protocol and each keeps its own error type.
///
/// [`from_fault!`]: crate::from_fault
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The request label names no operation.
    UnknownOperation { label: u64 },
    /// The reply label is neither 0 nor one of the protocol's error codes.
    UnknownError { code: u64 },
    /// Fewer words than the payload needs.
    Truncated { expected: usize, got: usize },
    /// More words than the payload has.
    TooLong { expected: usize, got: usize },
    /// A word has bits set that the protocol reserves (must be zero),
    /// such as a byte in the padding past a byte string.
    ReservedBits { word: usize },
}

/// A payload type of a protocol table (a request or reply type, or `()`
/// for none) and its words: the generated encoders and decoders call
/// these two functions, one type at a time. `E` is the protocol's decode
/// error.
pub trait Body<E>: Sized {
    /// Writes the body at the start of `out`; returns its length in words.
    ///
    /// # Panics
    /// If `out` is shorter than the body ([`MAX_WORDS`] always suffices).
    fn encode(&self, out: &mut [u64]) -> usize;

    /// Reads a body from exactly the message's words, validating every
    /// field. Total: every input gives a body or an error.
    fn decode(words: &[u64]) -> Result<Self, E>;
}

/// No payload: an empty message.
impl<E: From<Fault>> Body<E> for () {
    fn encode(&self, _out: &mut [u64]) -> usize {
        0
    }

    fn decode(words: &[u64]) -> Result<(), E> {
        exactly(words, 0)?;
        Ok(())
    }
}

/// `words` if it has exactly `n` of them, else `Truncated` or `TooLong`.
pub fn exactly(words: &[u64], n: usize) -> Result<&[u64], Fault> {
    match words.len() {
        l if l < n => Err(Fault::Truncated {
            expected: n,
            got: l,
        }),
        l if l > n => Err(Fault::TooLong {
            expected: n,
            got: l,
        }),
        _ => Ok(words),
    }
}

/// Words that hold `len` packed bytes.
pub const fn words_for(len: usize) -> usize {
    len.div_ceil(8)
}

/// Packs `bytes` into `out` (little-endian, the last word zero-padded);
/// returns the words written.
///
/// # Panics
/// If `out` is shorter than [`words_for`]`(bytes.len())`.
pub fn pack(bytes: &[u8], out: &mut [u64]) -> usize {
    let n = words_for(bytes.len());
    for (w, chunk) in out[..n].iter_mut().zip(bytes.chunks(8)) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    n
}

/// Fills `out` from the packed `words` (as many as `out` needs; the
/// caller has checked the count), refusing a nonzero byte in the padding
/// past `out.len()`. `first` is the index of `words[0]` in the message,
/// for the error's word number.
pub fn unpack(words: &[u64], out: &mut [u8], first: usize) -> Result<(), Fault> {
    for (i, (&w, chunk)) in words.iter().zip(out.chunks_mut(8)).enumerate() {
        let bytes = w.to_le_bytes();
        if bytes[chunk.len()..].iter().any(|&p| p != 0) {
            return Err(Fault::ReservedBits { word: first + i });
        }
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pack_and_unpack_canonically() {
        let data: Vec<u8> = (1..=19).collect();
        let mut w = [0u64; 4];
        assert_eq!(pack(&data, &mut w), 3);
        assert_eq!(w[2], 0x13_1211);
        let mut back = [0u8; 19];
        assert_eq!(unpack(&w[..3], &mut back, 1), Ok(()));
        assert_eq!(&back[..], &data[..]);
        // A stray byte in the padding is refused, naming its word.
        w[2] |= 1 << 40;
        assert_eq!(
            unpack(&w[..3], &mut back, 1),
            Err(Fault::ReservedBits { word: 3 })
        );
        assert_eq!(pack(&[], &mut w), 0);
    }

    #[test]
    fn exactly_checks_the_count() {
        let w = [0u64; 4];
        assert_eq!(exactly(&w, 4), Ok(&w[..]));
        assert_eq!(
            exactly(&w[..1], 2),
            Err(Fault::Truncated {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            exactly(&w, 2),
            Err(Fault::TooLong {
                expected: 2,
                got: 4
            })
        );
        assert_eq!(<() as Body<Fault>>::decode(&[]), Ok(()));
        assert!(<() as Body<Fault>>::decode(&[0]).is_err());
        assert_eq!(MAX_WORDS, 120);
    }
}
