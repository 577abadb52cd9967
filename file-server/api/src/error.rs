//! Errors: `FileError`, the code an error reply's label carries, and `DecodeError`, why a message did not decode.

use core::fmt;

/// Why an operation failed: the label of an error reply.
///
/// Codes `1..=0xff` are the file server's answers about files; codes
/// from `0x100` are about the message itself. Code 0 is success and never
/// an error. Never renumber, only append.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum FileError {
    /// No file or directory has that path.
    NotFound = 1,
    /// A component of the path before the last is not a directory.
    NotADirectory = 2,
    /// The operation needs a regular file and the handle names a directory.
    IsADirectory = 3,
    /// The caller has no open handle with that number.
    BadHandle = 4,
    /// The handle lacks the right the operation needs (read or write).
    Protection = 5,
    /// The file cannot be opened for writing: no write permission bit, or
    /// not a regular file.
    ReadOnly = 6,
    /// A read starts past the end of the file (at the end it reads nothing).
    PastEnd = 7,
    /// A write reaches past the end of the file: files never grow.
    WouldGrow = 8,
    /// A write covers a hole (a block the file never allocated): writes
    /// only replace existing blocks.
    Hole = 9,
    /// The caller holds as many open handles as the server allows.
    TooManyHandles = 10,
    /// The file or filesystem uses something the server cannot do (a
    /// special file, an unsupported feature, a symlink loop).
    Unsupported = 11,
    /// The disk failed the transfer.
    Io = 12,
    /// The filesystem's own data is inconsistent.
    Corrupt = 13,
    /// The server has no filesystem to serve (no disk, or not ext2/3/4).
    NoFilesystem = 14,
    /// The label names no operation.
    UnknownOperation = 0x100,
    /// The message's length, reserved bits or values are wrong.
    MalformedRequest = 0x101,
    /// A path longer than [`crate::PATH_MAX`] bytes.
    PathTooLong = 0x102,
    /// A read or write longer than one message carries
    /// ([`crate::READ_MAX`], [`crate::WRITE_MAX`]).
    LengthTooLarge = 0x103,
    /// A path that is not absolute, is empty, holds a NUL byte or a
    /// component longer than [`crate::NAME_MAX`] bytes.
    BadPath = 0x104,
    /// Client side only, never sent: the server's reply did not decode.
    MalformedReply = 0x105,
    /// Client side only, never sent: a seek to before the start of the
    /// file (or past `u64::MAX`).
    InvalidSeek = 0x106,
}

impl FileError {
    /// Every error, in code order.
    pub const ALL: [FileError; 21] = [
        FileError::NotFound,
        FileError::NotADirectory,
        FileError::IsADirectory,
        FileError::BadHandle,
        FileError::Protection,
        FileError::ReadOnly,
        FileError::PastEnd,
        FileError::WouldGrow,
        FileError::Hole,
        FileError::TooManyHandles,
        FileError::Unsupported,
        FileError::Io,
        FileError::Corrupt,
        FileError::NoFilesystem,
        FileError::UnknownOperation,
        FileError::MalformedRequest,
        FileError::PathTooLong,
        FileError::LengthTooLarge,
        FileError::BadPath,
        FileError::MalformedReply,
        FileError::InvalidSeek,
    ];

    /// The wire code (never 0).
    pub const fn code(self) -> u64 {
        self as u64
    }

    /// The error with wire code `code`, if any.
    pub fn from_code(code: u64) -> Option<FileError> {
        FileError::ALL.into_iter().find(|e| e.code() == code)
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            FileError::NotFound => "no such file or directory",
            FileError::NotADirectory => "a path component is not a directory",
            FileError::IsADirectory => "is a directory",
            FileError::BadHandle => "no such handle",
            FileError::Protection => "the handle lacks the right",
            FileError::ReadOnly => "the file cannot be written",
            FileError::PastEnd => "offset past the end of the file",
            FileError::WouldGrow => "the write would grow the file",
            FileError::Hole => "the write covers a hole",
            FileError::TooManyHandles => "too many open handles",
            FileError::Unsupported => "not supported",
            FileError::Io => "disk I/O error",
            FileError::Corrupt => "the filesystem is corrupt",
            FileError::NoFilesystem => "no filesystem",
            FileError::UnknownOperation => "unknown operation",
            FileError::MalformedRequest => "malformed request",
            FileError::PathTooLong => "path too long",
            FileError::LengthTooLarge => "length larger than one message",
            FileError::BadPath => "bad path",
            FileError::MalformedReply => "malformed reply",
            FileError::InvalidSeek => "seek outside the file's positions",
        };
        f.write_str(s)
    }
}

impl core::error::Error for FileError {}

impl embedded_io::Error for FileError {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind as K;
        match self {
            FileError::NotFound => K::NotFound,
            FileError::Protection | FileError::ReadOnly => K::PermissionDenied,
            FileError::PastEnd
            | FileError::BadHandle
            | FileError::BadPath
            | FileError::PathTooLong
            | FileError::LengthTooLarge
            | FileError::MalformedRequest
            | FileError::InvalidSeek => K::InvalidInput,
            FileError::WouldGrow | FileError::Hole => K::WriteZero,
            FileError::TooManyHandles => K::OutOfMemory,
            FileError::Unsupported | FileError::UnknownOperation => K::Unsupported,
            FileError::Corrupt | FileError::MalformedReply => K::InvalidData,
            _ => K::Other,
        }
    }
}

/// Why a message did not decode. The server answers each with the
/// [`FileError`] of `From<DecodeError>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The label names no operation.
    UnknownOperation { label: u64 },
    /// Fewer words than the layout needs.
    Truncated { expected: usize, got: usize },
    /// More words than the layout has.
    TooLong { expected: usize, got: usize },
    /// Bits that must be zero are not (also padding past a byte string).
    ReservedBits { word: usize },
    /// A value outside its enumeration or range.
    BadValue { word: usize, value: u64 },
    /// A path length over [`crate::PATH_MAX`].
    PathTooLong { len: u64 },
    /// A data length over what one message carries.
    LengthTooLarge { len: u64 },
}

impl From<DecodeError> for FileError {
    fn from(e: DecodeError) -> FileError {
        match e {
            DecodeError::UnknownOperation { .. } => FileError::UnknownOperation,
            DecodeError::PathTooLong { .. } => FileError::PathTooLong,
            DecodeError::LengthTooLarge { .. } => FileError::LengthTooLarge,
            _ => FileError::MalformedRequest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for (i, e) in FileError::ALL.iter().enumerate() {
            assert_eq!(FileError::from_code(e.code()), Some(*e));
            assert_ne!(e.code(), 0);
            if i > 0 {
                assert!(FileError::ALL[i - 1].code() < e.code());
            }
        }
        assert_eq!(FileError::from_code(0), None);
        assert_eq!(FileError::from_code(15), None);
    }
}
