//! The payload of every request and reply, and its words (`Body`): each decoder checks the length exactly and every field, and names the offending word.

use crate::error::DecodeError;
use crate::types::{
    FileKind, Handle, PathBytes, ReadData, Rights, Stat, WriteData, PATH_MAX, READ_MAX, WRITE_MAX,
};
use crate::wire::{exactly, pack, unpack, words_for, Body};

/// A 32-bit handle from word `word`; the high half is reserved.
fn handle(v: u64, word: usize) -> Result<Handle, DecodeError> {
    u32::try_from(v)
        .map(Handle)
        .map_err(|_| DecodeError::ReservedBits { word })
}

/// The length word of a byte string of at most `max` bytes and the
/// words after it (exactly as many as the length needs); `too_long`
/// names the error for a length over `max`.
fn string(
    words: &[u64],
    at: usize,
    max: usize,
    too_long: fn(u64) -> DecodeError,
) -> Result<(usize, &[u64]), DecodeError> {
    let Some(&len) = words.get(at) else {
        return Err(DecodeError::Truncated {
            expected: at + 1,
            got: words.len(),
        });
    };
    if len > max as u64 {
        return Err(too_long(len));
    }
    let len = len as usize;
    let words = exactly(words, at + 1 + words_for(len))?;
    Ok((len, &words[at + 1..]))
}

/// `Open`: the path to open, with the rights the handle should have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    pub rights: Rights,
    pub path: PathBytes,
}

/// Words: `rights, path_len, path[⌈path_len/8⌉]`.
impl Body<DecodeError> for OpenRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        out[0] = self.rights.bits();
        out[1] = self.path.len() as u64;
        2 + pack(self.path.as_slice(), &mut out[2..])
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let (len, path) = string(words, 1, PATH_MAX, |len| DecodeError::PathTooLong { len })?;
        let rights = Rights::from_bits(words[0]).ok_or(DecodeError::ReservedBits { word: 0 })?;
        if rights.is_empty() {
            return Err(DecodeError::BadValue { word: 0, value: 0 });
        }
        Ok(OpenRequest {
            rights,
            path: unpack(len, path, 2)?,
        })
    }
}

/// `Stat`, `Close`, `Sync`: a handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleRequest {
    pub handle: Handle,
}

/// Words: `handle`.
impl Body<DecodeError> for HandleRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        out[0] = self.handle.into();
        1
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w = exactly(words, 1)?;
        Ok(HandleRequest {
            handle: handle(w[0], 0)?,
        })
    }
}

/// `Read`: up to `len` bytes from `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRequest {
    pub handle: Handle,
    pub offset: u64,
    /// At most [`READ_MAX`].
    pub len: u64,
}

/// Words: `handle, offset, len`.
impl Body<DecodeError> for ReadRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        out[..3].copy_from_slice(&[self.handle.into(), self.offset, self.len]);
        3
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w = exactly(words, 3)?;
        if w[2] > READ_MAX as u64 {
            return Err(DecodeError::LengthTooLarge { len: w[2] });
        }
        Ok(ReadRequest {
            handle: handle(w[0], 0)?,
            offset: w[1],
            len: w[2],
        })
    }
}

/// `Write`: `data` at `offset`, in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteRequest {
    pub handle: Handle,
    pub offset: u64,
    pub data: WriteData,
}

/// Words: `handle, offset, len, data[⌈len/8⌉]`.
impl Body<DecodeError> for WriteRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        out[..3].copy_from_slice(&[self.handle.into(), self.offset, self.data.len() as u64]);
        3 + pack(self.data.as_slice(), &mut out[3..])
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let (len, data) = string(words, 2, WRITE_MAX, |len| DecodeError::LengthTooLarge {
            len,
        })?;
        Ok(WriteRequest {
            handle: handle(words[0], 0)?,
            offset: words[1],
            data: unpack(len, data, 3)?,
        })
    }
}

/// `Open` reply: the new handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleReply {
    pub handle: Handle,
}

/// Words: `handle`.
impl Body<DecodeError> for HandleReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        out[0] = self.handle.into();
        1
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w = exactly(words, 1)?;
        Ok(HandleReply {
            handle: handle(w[0], 0)?,
        })
    }
}

/// Words: `kind, size, mode`.
impl Body<DecodeError> for Stat {
    fn encode(&self, out: &mut [u64]) -> usize {
        out[..3].copy_from_slice(&[self.kind as u64, self.size, self.mode as u64]);
        3
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w = exactly(words, 3)?;
        let kind = FileKind::from_u64(w[0]).ok_or(DecodeError::BadValue {
            word: 0,
            value: w[0],
        })?;
        if w[2] > 0o7777 {
            return Err(DecodeError::ReservedBits { word: 2 });
        }
        Ok(Stat {
            kind,
            size: w[1],
            mode: w[2] as u16,
        })
    }
}

/// `Read` reply: the bytes read (fewer than asked at the end of the file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadReply {
    pub data: ReadData,
}

/// Words: `len, data[⌈len/8⌉]`.
impl Body<DecodeError> for ReadReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        out[0] = self.data.len() as u64;
        1 + pack(self.data.as_slice(), &mut out[1..])
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let (len, data) = string(words, 0, READ_MAX, |len| DecodeError::LengthTooLarge {
            len,
        })?;
        Ok(ReadReply {
            data: unpack(len, data, 1)?,
        })
    }
}

/// `Write` reply: the bytes written (all of them: a write that cannot be
/// done whole is refused whole).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteReply {
    pub written: u64,
}

/// Words: `written`.
impl Body<DecodeError> for WriteReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        out[0] = self.written;
        1
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w = exactly(words, 1)?;
        if w[0] > WRITE_MAX as u64 {
            return Err(DecodeError::LengthTooLarge { len: w[0] });
        }
        Ok(WriteReply { written: w[0] })
    }
}

/// `Map`: a VM-server handle to the file behind `handle`, to `mmap`;
/// read-write when `writable` (the handle needs `WRITE` then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRequest {
    pub handle: Handle,
    pub writable: bool,
}

/// Words: `handle, flags` (bit 0: writable; the others reserved).
impl Body<DecodeError> for MapRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        out[0] = self.handle.into();
        out[1] = u64::from(self.writable);
        2
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w = exactly(words, 2)?;
        if w[1] > 1 {
            return Err(DecodeError::ReservedBits { word: 1 });
        }
        Ok(MapRequest {
            handle: handle(w[0], 0)?,
            writable: w[1] == 1,
        })
    }
}

/// `Map` reply: the handle number in the caller's space at the VM server
/// (a `vm_api::Handle`), to `mmap` with `MapSource::Handle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapReply {
    pub vm_handle: u32,
}

/// Words: `vm_handle` (32-bit; the high half reserved).
impl Body<DecodeError> for MapReply {
    fn encode(&self, out: &mut [u64]) -> usize {
        out[0] = self.vm_handle.into();
        1
    }

    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w = exactly(words, 1)?;
        Ok(MapReply {
            vm_handle: handle(w[0], 0)?.0,
        })
    }
}
