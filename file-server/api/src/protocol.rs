//! The protocol table: every operation once, with its label, request and reply types, server method, client method and docs; `Operation`, `Request`, `Reply`, `FileService`, `serve` and the `FileClient` methods are generated from it (`generate.rs`).
//!
//! # The operations on the wire
//!
//! | label | operation | request words | reply words (label 0) |
//! | ---: | --- | --- | --- |
//! | `0x200` | `Open` | 2 + ⌈len/8⌉: rights, path_len (≤ 256), path bytes | 1: handle |
//! | `0x201` | `Stat` | 1: handle | 3: kind, size, mode |
//! | `0x202` | `Read` | 3: handle, offset, len (≤ 952) | 1 + ⌈n/8⌉: n, the bytes |
//! | `0x203` | `Write` | 3 + ⌈len/8⌉: handle, offset, len (≤ 936), the bytes | 1: bytes written |
//! | `0x204` | `Close` | 1: handle | 0 |
//! | `0x205` | `Sync` | 1: handle | 0 |
//!
//! Error replies: label = [`FileError::code`](crate::FileError::code), 0
//! words.
//!
//! Field rules: `rights` are [`Rights`] bits (`READ 1 | WRITE 2`, at
//! least one; the others reserved). Handles are 32-bit (the high half
//! reserved). `kind` is [`FileKind`](crate::FileKind) (`Regular 1,
//! Directory 2, Symlink 3, Other 4`), `mode` the permission bits (at most
//! `0o7777`). Byte strings (path, data) are packed little-endian, 8 bytes
//! a word, the bytes past the length zero, and the message has exactly
//! the words the length needs.
//!
//! # Semantics
//!
//! * `Open` resolves an absolute path (symlinks followed, `.` and `..`
//!   allowed) and gives the caller a handle with `rights`; `WRITE` needs
//!   a regular file with a write permission bit (else `ReadOnly`).
//!   Directories open for `READ` (to `Stat` them). Handles belong to the
//!   caller's badge: another client's number is a `BadHandle`.
//! * `Read` returns at most `len` bytes from `offset`, fewer at the end of
//!   the file, none at the end; an offset past the end is `PastEnd`.
//! * `Write` replaces bytes of the file in place, all or nothing: a range
//!   reaching past the end is `WouldGrow`, one covering a hole `Hole`.
//!   Later reads by any client see the new bytes.
//! * `Sync` returns once every completed write is on the disk.
//!
//! # Reading a row
//!
//! ```text
//! /// Closes a handle.                                 <- docs
//! 0x204 Close(HandleRequest) -> (()) {                  <- label, name(request type) -> (reply type)
//!     serve: fn close;                                  <- the FileService method
//!     client: pub fn close(handle: Handle)              <- the FileClient method,
//!         = HandleRequest { handle };                   <- the request it sends
//! }
//! ```
//!
//! `-> Out` after the client's parameters is its result (absent: `()`),
//! `=> |r| result` makes it from the reply payload `r` (absent: the
//! payload itself); `= request` may use `?` with a `FileError`.
//!
//! # Adding an operation
//!
//! Append a row with the next free label (never renumber), its payload
//! types with their `Body` impls (`messages.rs`) if new, a row in the
//! table above, and the `FileService` method in the server
//! (`file-server/fs/src/service.rs`).

use crate::messages::{
    HandleReply, HandleRequest, OpenRequest, ReadReply, ReadRequest, WriteReply, WriteRequest,
};
use crate::types::{Handle, PathBytes, Rights, Stat, WriteData};

protocol! {
    /// Opens the file or directory at an absolute path with `rights`;
    /// replies a handle.
    0x200 Open(OpenRequest) -> (HandleReply) {
        serve: fn open;
        client: pub fn open_handle(path: &str, rights: Rights) -> Handle
            = OpenRequest { rights, path: PathBytes::path(path)? } => |r| r.handle;
    }

    /// Kind, size and permission bits of an open file.
    0x201 Stat(HandleRequest) -> (Stat) {
        serve: fn stat;
        client: pub fn stat(handle: Handle) -> Stat = HandleRequest { handle };
    }

    /// Up to `len` bytes (at most [`READ_MAX`](crate::READ_MAX)) from
    /// `offset`.
    0x202 Read(ReadRequest) -> (ReadReply) {
        serve: fn read;
        client: pub fn read_at(handle: Handle, offset: u64, len: u64) -> ReadReply
            = ReadRequest { handle, offset, len };
    }

    /// Replaces bytes at `offset` in place (at most
    /// [`WRITE_MAX`](crate::WRITE_MAX)); replies how many were written.
    0x203 Write(WriteRequest) -> (WriteReply) {
        serve: fn write;
        client: pub fn write_at(handle: Handle, offset: u64, data: &[u8]) -> u64
            = WriteRequest {
                handle,
                offset,
                data: WriteData::from_slice(data).ok_or(crate::FileError::LengthTooLarge)?,
            }
            => |r| r.written;
    }

    /// Closes a handle.
    0x204 Close(HandleRequest) -> (()) {
        serve: fn close;
        client: pub fn close(handle: Handle) = HandleRequest { handle };
    }

    /// Returns when every completed write is on the disk.
    0x205 Sync(HandleRequest) -> (()) {
        serve: fn sync;
        client: pub fn sync(handle: Handle) = HandleRequest { handle };
    }
}

#[cfg(test)]
mod tests {
    use super::Operation;

    /// The table in the module docs lists every operation, in label order,
    /// with its label and name.
    #[test]
    fn doc_table_lists_every_operation() {
        let rows: Vec<&str> = include_str!("protocol.rs")
            .lines()
            .filter(|l| l.starts_with("//! | `0x"))
            .collect();
        assert_eq!(rows.len(), Operation::ALL.len());
        for (row, op) in rows.iter().zip(Operation::ALL) {
            let want = format!("//! | `{:#x}` | `{op:?}`", op as u64);
            assert!(row.starts_with(&want), "{row} should start with {want}");
        }
    }
}
