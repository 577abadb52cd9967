//! Argument vocabulary: protections, flags, advice, inheritance, handles and shared-memory names, numbered as in the VM core.

use crate::error::{ApiError, DecodeError};
use bitflags::bitflags;

/// Size of a page: every address, length and offset is a multiple of it.
pub const PAGE_SIZE: u64 = 4096;

/// Longest shared-memory name, in bytes (UTF-8).
pub const NAME_MAX: usize = 64;

/// Words a name occupies in a message.
pub const NAME_WORDS: usize = NAME_MAX / 8;

/// A name's bytes as message words (byte `i` in word `i / 8`, little
/// endian). `W * 8 == B`.
fn name_words<const B: usize, const W: usize>(bytes: &[u8; B]) -> [u64; W] {
    let mut w = [0u64; W];
    for (i, chunk) in bytes.chunks_exact(8).enumerate() {
        let mut a = [0u8; 8];
        a.copy_from_slice(chunk);
        w[i] = u64::from_le_bytes(a);
    }
    w
}

/// A name's bytes back from message words: the bytes past `len` must be
/// zero and the first `len` UTF-8. The caller checked `len <= B`;
/// `len_word` is the length word's index, for error reports.
fn name_bytes<const B: usize, const W: usize>(
    len: usize,
    words: &[u64; W],
    len_word: usize,
) -> Result<[u8; B], DecodeError> {
    let mut bytes = [0u8; B];
    for (i, w) in words.iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    if let Some(i) = bytes[len..].iter().position(|&b| b != 0) {
        return Err(DecodeError::ReservedBits {
            word: len_word + 1 + (len + i) / 8,
        });
    }
    core::str::from_utf8(&bytes[..len]).map_err(|_| DecodeError::BadName)?;
    Ok(bytes)
}

bitflags! {
    /// Page protection; the same bits as `vm_core::Prot`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Prot: u64 {
        const READ = 1;
        const WRITE = 2;
        const EXEC = 4;
    }
}

impl Prot {
    /// No access.
    pub const NONE: Prot = Prot::empty();
    /// Read and write.
    pub const RW: Prot = Prot::READ.union(Prot::WRITE);
    /// Everything.
    pub const ALL: Prot = Prot::all();
}

bitflags! {
    /// `mmap` flags; the same bits as `vm_core::MapFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct MapFlags: u64 {
        /// Writes are seen by every mapping; fork shares it.
        const SHARED = 1 << 0;
        /// Copy-on-write; fork copies it.
        const PRIVATE = 1 << 1;
        /// Place exactly at `addr`, replacing what is there unless `NOREPLACE`.
        const FIXED = 1 << 2;
        /// With `FIXED`: fail with `Exists` instead of replacing.
        const NOREPLACE = 1 << 3;
        /// Private anonymous only: make the backing object now.
        const OVERLAY = 1 << 4;
    }
}

bitflags! {
    /// `msync` flags; the same bits as `vm_core::MsyncFlags`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct MsyncFlags: u64 {
        const ASYNC = 1 << 0;
        const SYNC = 1 << 1;
        /// Drop the caller's mappings of the range so it refaults.
        const INVALIDATE = 1 << 2;
    }
}

bitflags! {
    /// One page's `mincore` byte; the same bits as `vm_core::MINCORE_*`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Mincore: u8 {
        const INCORE = 1;
        const REFERENCED = 2;
        const MODIFIED = 4;
    }
}

/// `madvise` advice; numbered as BSD's `MADV_*` and declared in the order
/// of `vm_core::Advice`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Advice {
    Normal = 0,
    Random = 1,
    Sequential = 2,
    /// Map the resident pages now.
    WillNeed = 3,
    /// Unmap and deactivate; contents stay.
    DontNeed = 4,
    /// Private anonymous contents may be discarded.
    Free = 5,
    /// Use 2 MiB pages where the range allows (Linux's `MADV_HUGEPAGE`,
    /// numbered after BSD's advice; BSD has none).
    HugePage = 6,
    /// 4 KiB pages only (Linux's `MADV_NOHUGEPAGE`).
    NoHugePage = 7,
}

impl Advice {
    /// Every advice, in number order.
    pub const ALL: [Advice; 8] = [
        Advice::Normal,
        Advice::Random,
        Advice::Sequential,
        Advice::WillNeed,
        Advice::DontNeed,
        Advice::Free,
        Advice::HugePage,
        Advice::NoHugePage,
    ];
}

/// What fork does with a range; numbered as BSD's `VM_INHERIT_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Inheritance {
    /// Parent and child share the memory.
    Share = 0,
    /// The child gets a copy-on-write copy.
    Copy = 1,
    /// The child gets nothing here.
    None = 2,
}

impl Inheritance {
    /// Every inheritance, in number order.
    pub const ALL: [Inheritance; 3] = [Inheritance::Share, Inheritance::Copy, Inheritance::None];
}

macro_rules! word_enum {
    ($t:ident) => {
        impl TryFrom<u64> for $t {
            type Error = u64;
            /// The value with this number; the number itself if none.
            fn try_from(v: u64) -> Result<Self, u64> {
                $t::ALL.iter().copied().find(|x| *x as u64 == v).ok_or(v)
            }
        }
        impl From<$t> for u64 {
            fn from(x: $t) -> u64 {
                x as u64
            }
        }
    };
}
word_enum!(Advice);
word_enum!(Inheritance);

/// A client's handle to a shared-memory or physical object, local to that
/// client (like a file descriptor); 32 bits on the wire as in
/// `vm_core::Handle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(pub u32);

impl From<Handle> for u64 {
    fn from(h: Handle) -> u64 {
        h.0 as u64
    }
}

/// What a new mapping maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapSource {
    /// Zero-fill memory.
    Anonymous,
    /// The object behind `handle`, from byte `offset`.
    Handle { handle: Handle, offset: u64 },
}

/// A shared-memory name: at most [`NAME_MAX`] bytes of UTF-8, carried in
/// [`NAME_WORDS`] message words (byte `i` in word `i / 8`, bits
/// `8 * (i % 8)..`, the rest zero). The empty name means "anonymous" for
/// `ShmCreate`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShmName {
    len: u8,
    bytes: [u8; NAME_MAX],
}

impl ShmName {
    /// The empty name.
    pub const EMPTY: ShmName = ShmName {
        len: 0,
        bytes: [0; NAME_MAX],
    };

    /// Wraps `name`; `NameTooLong` above [`NAME_MAX`] bytes.
    pub fn new(name: &str) -> Result<ShmName, ApiError> {
        let b = name.as_bytes();
        if b.len() > NAME_MAX {
            return Err(ApiError::NameTooLong);
        }
        let mut bytes = [0; NAME_MAX];
        bytes[..b.len()].copy_from_slice(b);
        Ok(ShmName {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Built only from a `&str` or validated UTF-8; the fallback is unreachable.
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for the empty (anonymous) name.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `None` for the empty name, else the name (the VM core's `Option<&str>`).
    pub fn as_option(&self) -> Option<&str> {
        (!self.is_empty()).then(|| self.as_str())
    }

    /// The wire form: (length word, name words).
    pub(crate) fn to_words(self) -> (u64, [u64; NAME_WORDS]) {
        (self.len as u64, name_words(&self.bytes))
    }

    /// Decodes the wire form; `len_word` is the index of the length word
    /// in the message (the name words follow it), for error reports.
    pub(crate) fn from_words(
        len: u64,
        words: &[u64; NAME_WORDS],
        len_word: usize,
    ) -> Result<ShmName, DecodeError> {
        if len > NAME_MAX as u64 {
            return Err(DecodeError::NameTooLong { len });
        }
        let len = len as usize;
        let bytes: [u8; NAME_MAX] = name_bytes(len, words, len_word)?;
        Ok(ShmName {
            len: len as u8,
            bytes,
        })
    }
}

impl Default for ShmName {
    fn default() -> Self {
        ShmName::EMPTY
    }
}

impl core::fmt::Debug for ShmName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ShmName({:?})", self.as_str())
    }
}

impl TryFrom<&str> for ShmName {
    type Error = ApiError;
    fn try_from(s: &str) -> Result<Self, ApiError> {
        ShmName::new(s)
    }
}

/// Longest client name a `ClientList` entry carries, in bytes (the
/// start-info page's name length; a fork's `name+N` is cut to it).
pub const CLIENT_NAME_MAX: usize = 24;

/// Words a client name occupies in a `ClientList` entry.
pub const CLIENT_NAME_WORDS: usize = CLIENT_NAME_MAX / 8;

/// A client's name as `ClientList` reports it: at most
/// [`CLIENT_NAME_MAX`] bytes of UTF-8 (longer names are cut at a
/// character boundary), packed like [`ShmName`] (byte `i` in word
/// `i / 8`, the rest zero).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClientName {
    len: u8,
    bytes: [u8; CLIENT_NAME_MAX],
}

impl ClientName {
    /// `name`, cut to at most [`CLIENT_NAME_MAX`] bytes on a character
    /// boundary.
    pub fn truncated(name: &str) -> ClientName {
        let mut end = name.len().min(CLIENT_NAME_MAX);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; CLIENT_NAME_MAX];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        ClientName {
            len: end as u8,
            bytes,
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Built only from a `&str` cut on a boundary or validated UTF-8.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }

    /// The wire form: (length word, name words).
    pub(crate) fn to_words(self) -> (u64, [u64; CLIENT_NAME_WORDS]) {
        (self.len as u64, name_words(&self.bytes))
    }

    /// Decodes the wire form; `len_word` is the index of the length word
    /// in the message (the name words follow it), for error reports.
    pub(crate) fn from_words(
        len: u64,
        words: &[u64; CLIENT_NAME_WORDS],
        len_word: usize,
    ) -> Result<ClientName, DecodeError> {
        if len > CLIENT_NAME_MAX as u64 {
            return Err(DecodeError::BadValue {
                word: len_word,
                value: len,
            });
        }
        let len = len as usize;
        let bytes: [u8; CLIENT_NAME_MAX] = name_bytes(len, words, len_word)?;
        Ok(ClientName {
            len: len as u8,
            bytes,
        })
    }
}

impl core::fmt::Debug for ClientName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ClientName({:?})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_core_and_bsd() {
        assert_eq!(
            (Prot::READ.bits(), Prot::WRITE.bits(), Prot::EXEC.bits()),
            (1, 2, 4)
        );
        assert_eq!(Prot::ALL.bits(), 7);
        assert_eq!(MapFlags::all().bits(), 0x1f);
        assert_eq!(MsyncFlags::all().bits(), 7);
        for (i, a) in Advice::ALL.iter().enumerate() {
            assert_eq!(u64::from(*a), i as u64);
            assert_eq!(Advice::try_from(i as u64), Ok(*a));
        }
        assert_eq!(Advice::try_from(8), Err(8));
        for (i, x) in Inheritance::ALL.iter().enumerate() {
            assert_eq!(Inheritance::try_from(i as u64), Ok(*x));
        }
        assert_eq!(Inheritance::try_from(3), Err(3));
    }

    #[test]
    fn names() {
        let n = ShmName::new("hello-shm").unwrap();
        assert_eq!(n.as_str(), "hello-shm");
        assert_eq!(n.as_option(), Some("hello-shm"));
        assert_eq!(ShmName::EMPTY.as_option(), None);
        let (len, w) = n.to_words();
        assert_eq!(len, 9);
        assert_eq!(w[0], u64::from_le_bytes(*b"hello-sh"));
        assert_eq!(w[1], b'm' as u64);
        assert_eq!(ShmName::from_words(len, &w, 0), Ok(n));
        let long = "x".repeat(65);
        assert_eq!(ShmName::new(&long), Err(ApiError::NameTooLong));
        assert!(ShmName::new(&long[..64]).is_ok());
        assert_eq!(
            ShmName::from_words(65, &w, 0),
            Err(DecodeError::NameTooLong { len: 65 })
        );
        // A byte past the length.
        assert_eq!(
            ShmName::from_words(8, &w, 3),
            Err(DecodeError::ReservedBits { word: 5 })
        );
        let mut bad = [0u64; NAME_WORDS];
        bad[0] = 0xff;
        assert_eq!(ShmName::from_words(1, &bad, 0), Err(DecodeError::BadName));
    }

    #[test]
    fn client_names_are_cut_on_a_character_boundary() {
        let n = ClientName::truncated("client-hostile-handles+12");
        assert_eq!(n.as_str(), "client-hostile-handles+1");
        // 23 ASCII bytes and a two-byte character: the character goes.
        let s = "a".repeat(23) + "\u{e9}";
        assert_eq!(ClientName::truncated(&s).as_str(), "a".repeat(23));
        let (len, w) = ClientName::truncated("vmstat").to_words();
        assert_eq!(
            (len, w[0], w[1]),
            (6, u64::from_le_bytes(*b"vmstat\0\0"), 0)
        );
        assert_eq!(
            ClientName::from_words(len, &w, 1).map(|n| n.as_str().len()),
            Ok(6)
        );
        assert_eq!(
            ClientName::from_words(25, &w, 1),
            Err(DecodeError::BadValue { word: 1, value: 25 })
        );
        assert_eq!(
            ClientName::from_words(5, &w, 1),
            Err(DecodeError::ReservedBits { word: 2 })
        );
    }
}
