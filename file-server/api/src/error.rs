//! Errors: `FileError`, the code an error reply's label carries, and `DecodeError`, why a message did not decode.

ipc_protocol::error_codes! {
    /// Why an operation failed: the label of an error reply.
    ///
    /// Codes `1..=0xff` are the file server's answers about files; codes
    /// from `0x100` are about the message itself. Code 0 is success and never
    /// an error. Never renumber, only append.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum FileError {
        /// No file or directory has that path.
        NotFound = 1 => "no such file or directory",
        /// A component of the path before the last is not a directory.
        NotADirectory = 2 => "a path component is not a directory",
        /// The operation needs a regular file and the handle names a directory.
        IsADirectory = 3 => "is a directory",
        /// The caller has no open handle with that number.
        BadHandle = 4 => "no such handle",
        /// The handle lacks the right the operation needs (read or write).
        Protection = 5 => "the handle lacks the right",
        /// The file cannot be opened for writing: no write permission bit, or
        /// not a regular file.
        ReadOnly = 6 => "the file cannot be written",
        /// A read starts past the end of the file (at the end it reads nothing).
        PastEnd = 7 => "offset past the end of the file",
        /// A write reaches past the end of the file: files never grow.
        WouldGrow = 8 => "the write would grow the file",
        /// A write covers a hole (a block the file never allocated): writes
        /// only replace existing blocks.
        Hole = 9 => "the write covers a hole",
        /// The caller holds as many open handles as the server allows.
        TooManyHandles = 10 => "too many open handles",
        /// The file or filesystem uses something the server cannot do (a
        /// special file, an unsupported feature, a symlink loop).
        Unsupported = 11 => "not supported",
        /// The disk failed the transfer.
        Io = 12 => "disk I/O error",
        /// The filesystem's own data is inconsistent.
        Corrupt = 13 => "the filesystem is corrupt",
        /// The server has no filesystem to serve (no disk, or not ext2/3/4).
        NoFilesystem = 14 => "no filesystem",
        /// `Map`: this server is not the pager of file mappings (the spec
        /// gives it no pager channel, or the VM server did not attach it).
        NoPager = 15 => "the file server pages no mappings",
        /// `Map`: the VM server refused to make the mapping's object for
        /// the client (its handle quota, most likely; docs/pager.md).
        MapRefused = 16 => "the VM server refused the mapping",
        /// The spec does not grant this server what the request needs
        /// (a test hook).
        NotPermitted = 17 => "not permitted by the spec",
        /// The label names no operation.
        UnknownOperation = 0x100 => "unknown operation",
        /// The message's length, reserved bits or values are wrong.
        MalformedRequest = 0x101 => "malformed request",
        /// A path longer than [`crate::PATH_MAX`] bytes.
        PathTooLong = 0x102 => "path too long",
        /// A read or write longer than one message carries
        /// ([`crate::READ_MAX`], [`crate::WRITE_MAX`]).
        LengthTooLarge = 0x103 => "length larger than one message",
        /// A path that is not absolute, is empty, holds a NUL byte or a
        /// component longer than [`crate::NAME_MAX`] bytes.
        BadPath = 0x104 => "bad path",
        /// Client side only, never sent: the server's reply did not decode.
        MalformedReply = 0x105 => "malformed reply",
        /// Client side only, never sent: a seek to before the start of the
        /// file (or past `u64::MAX`).
        InvalidSeek = 0x106 => "seek outside the file's positions",
    }
    malformed_reply: MalformedReply;
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

// An error reply's label that is no `FileError` code is a bad value in
// the label (word 0).
ipc_protocol::from_fault!(DecodeError, unknown_error: |code| DecodeError::BadValue {
    word: 0,
    value: code
});

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
        assert_eq!(FileError::from_code(18), None);
    }
}
