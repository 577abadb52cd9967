//! The protocol's value types: handles, rights, file kinds, the bounded path and data buffers that travel in message words, and what `stat` says.

use crate::wire::MAX_WORDS;
use crate::FileError;

/// Longest path a request carries, in bytes (32 message words).
pub const PATH_MAX: usize = 256;
/// Longest name of one path component (ext2's limit).
pub const NAME_MAX: usize = 255;
/// Most bytes one `Read` reply carries: every word but the length word.
pub const READ_MAX: usize = (MAX_WORDS - 1) * 8;
/// Most bytes one `Write` request carries: every word but handle, offset
/// and length.
pub const WRITE_MAX: usize = (MAX_WORDS - 3) * 8;

/// An open file of one client: a number the server chose, meaningful
/// only with the badge of the client it was given to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(pub u32);

impl From<Handle> for u64 {
    fn from(h: Handle) -> u64 {
        h.0 as u64
    }
}

bitflags::bitflags! {
    /// What a handle may do; asked for at `Open`. At least one bit.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Rights: u64 {
        const READ = 1;
        const WRITE = 2;
        const RW = 3;
    }
}

/// What a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum FileKind {
    Regular = 1,
    Directory = 2,
    /// A symbolic link (never seen through `Open`, which follows links).
    Symlink = 3,
    /// A device, FIFO or socket node.
    Other = 4,
}

impl FileKind {
    /// The kind numbered `n`, if any.
    pub fn from_u64(n: u64) -> Option<FileKind> {
        Some(match n {
            1 => FileKind::Regular,
            2 => FileKind::Directory,
            3 => FileKind::Symlink,
            4 => FileKind::Other,
            _ => return None,
        })
    }
}

/// What `Stat` says about an open file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stat {
    pub kind: FileKind,
    /// Bytes in the file.
    pub size: u64,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u16,
}

/// Up to `N` bytes kept inline (no allocator needed on either side).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bytes<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> Bytes<N> {
    /// The first `N` or fewer bytes of nothing: empty.
    pub const fn new() -> Self {
        Bytes {
            len: 0,
            bytes: [0; N],
        }
    }

    /// A copy of `src`; `None` if it is longer than `N`.
    pub fn from_slice(src: &[u8]) -> Option<Self> {
        let mut b = Self::new();
        b.bytes.get_mut(..src.len())?.copy_from_slice(src);
        b.len = src.len();
        Some(b)
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Room for `len` bytes to fill (`len` at most `N`).
    pub(crate) fn filled(len: usize) -> Option<Self> {
        (len <= N).then_some(Bytes { len, bytes: [0; N] })
    }

    /// The bytes, to fill.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for Bytes<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for Bytes<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match core::str::from_utf8(self.as_slice()) {
            Ok(s) if self.len <= 64 => write!(f, "{s:?}"),
            _ => write!(f, "<{} bytes>", self.len),
        }
    }
}

/// A path as a request carries it: at most [`PATH_MAX`] bytes. The
/// server decides what is a valid path (absolute, no NUL, components of
/// at most [`NAME_MAX`] bytes); the wire only bounds the length.
pub type PathBytes = Bytes<PATH_MAX>;

/// `Read` reply data: at most [`READ_MAX`] bytes.
pub type ReadData = Bytes<READ_MAX>;

/// `Write` request data: at most [`WRITE_MAX`] bytes.
pub type WriteData = Bytes<WRITE_MAX>;

impl PathBytes {
    /// The path `s`, or `PathTooLong`.
    pub fn path(s: &str) -> Result<PathBytes, FileError> {
        PathBytes::from_slice(s.as_bytes()).ok_or(FileError::PathTooLong)
    }
}
