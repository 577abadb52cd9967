//! Message words: the length-checked reader every decoder uses, byte strings packed into words, and `Body`, the conversion of each typed payload to and from its words.
//!
//! A message is a run of `u64` words, word `i` in message register `i`.
//! Byte strings (a path, read or written data) are a length word
//! followed by the bytes packed little-endian, 8 to a word, the bytes
//! past the length zero; the message has exactly as many words as the
//! length needs, so every message has one encoding.

use crate::error::DecodeError;
use crate::types::Bytes;

/// Most words one message carries (`seL4_MsgMaxLength`).
pub const MAX_WORDS: usize = sel4::MSG_MAX_LENGTH;

/// A payload type of the protocol table (a request or reply struct, or
/// `()` for none) and its words: the generated `Request` and `Reply`
/// encoders and decoders call these two functions, one type at a time.
pub(crate) trait Body: Sized {
    /// Writes the body at the start of `out`; returns its length in words.
    ///
    /// # Panics
    /// If `out` is shorter than the body ([`MAX_WORDS`] always suffices).
    fn encode(&self, out: &mut [u64]) -> usize;

    /// Reads a body from exactly the message's words, validating every
    /// field. Total: every input gives a body or a `DecodeError`.
    fn decode(words: &[u64]) -> Result<Self, DecodeError>;
}

/// No payload: an empty message.
impl Body for () {
    fn encode(&self, _out: &mut [u64]) -> usize {
        0
    }

    fn decode(words: &[u64]) -> Result<(), DecodeError> {
        exactly(words, 0).map(drop)
    }
}

/// `words` if it has exactly `n` of them.
pub(crate) fn exactly(words: &[u64], n: usize) -> Result<&[u64], DecodeError> {
    match words.len() {
        l if l < n => Err(DecodeError::Truncated {
            expected: n,
            got: l,
        }),
        l if l > n => Err(DecodeError::TooLong {
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
pub(crate) fn pack(bytes: &[u8], out: &mut [u64]) -> usize {
    let n = words_for(bytes.len());
    for (w, chunk) in out[..n].iter_mut().zip(bytes.chunks(8)) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    n
}

/// A byte string of length `len` (already checked against `N`) from
/// exactly the words after the length word, which is word `first - 1` of
/// the message: the padding past `len` must be zero.
pub(crate) fn unpack<const N: usize>(
    len: usize,
    words: &[u64],
    first: usize,
) -> Result<Bytes<N>, DecodeError> {
    let mut b = Bytes::<N>::filled(len).ok_or(DecodeError::LengthTooLarge { len: len as u64 })?;
    for (i, (&w, chunk)) in words.iter().zip(b.as_mut_slice().chunks_mut(8)).enumerate() {
        let bytes = w.to_le_bytes();
        if bytes[chunk.len()..].iter().any(|&p| p != 0) {
            return Err(DecodeError::ReservedBits { word: first + i });
        }
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    Ok(b)
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
        let b: Bytes<32> = unpack(19, &w[..3], 1).unwrap();
        assert_eq!(b.as_slice(), &data[..]);
        // A stray byte in the padding is refused.
        w[2] |= 1 << 40;
        assert_eq!(
            unpack::<32>(19, &w[..3], 1),
            Err(DecodeError::ReservedBits { word: 3 })
        );
        assert_eq!(
            unpack::<16>(19, &w[..3], 1),
            Err(DecodeError::LengthTooLarge { len: 19 })
        );
        assert_eq!(pack(&[], &mut w), 0);
        assert_eq!(exactly(&w, 4), Ok(&w[..]));
        assert!(exactly(&w[..1], 2).is_err() && exactly(&w, 2).is_err());
    }
}
