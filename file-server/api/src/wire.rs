//! Message words: byte strings of this protocol's bounded buffers unpacked from words; the length-checked reader, the packing and `Body` (each payload's conversion to and from its words) are `ipc-protocol`'s.
//!
//! A message is a run of `u64` words, word `i` in message register `i`.
//! Byte strings (a path, read or written data) are a length word
//! followed by the bytes packed little-endian, 8 to a word, the bytes
//! past the length zero; the message has exactly as many words as the
//! length needs, so every message has one encoding.

use crate::error::DecodeError;
use crate::types::Bytes;

pub use ipc_protocol::words::words_for;
pub(crate) use ipc_protocol::words::{exactly, pack};
pub(crate) use ipc_protocol::Body;
pub use ipc_protocol::MAX_WORDS;

/// A byte string of length `len` (already checked against `N`) from
/// exactly the words after the length word, which is word `first - 1` of
/// the message: the padding past `len` must be zero.
pub(crate) fn unpack<const N: usize>(
    len: usize,
    words: &[u64],
    first: usize,
) -> Result<Bytes<N>, DecodeError> {
    let mut b = Bytes::<N>::filled(len).ok_or(DecodeError::LengthTooLarge { len: len as u64 })?;
    ipc_protocol::words::unpack(words, b.as_mut_slice(), first)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pack_and_unpack_canonically() {
        let path = b"/etc/hostname!";
        let mut w = [0u64; 3];
        assert_eq!(pack(path, &mut w), 2);
        let b: Bytes<16> = unpack(path.len(), &w[..2], 2).unwrap();
        assert_eq!(b.as_slice(), path);
        // A stray byte in the padding is refused, naming its word (the
        // bytes start at word 2 here).
        w[1] |= 0xff << 56;
        assert_eq!(
            unpack::<16>(path.len(), &w[..2], 2),
            Err(DecodeError::ReservedBits { word: 3 })
        );
        // A length over the buffer's bound.
        assert_eq!(
            unpack::<8>(path.len(), &w[..2], 2),
            Err(DecodeError::LengthTooLarge { len: 14 })
        );
        assert_eq!(words_for(path.len()), 2);
    }
}
