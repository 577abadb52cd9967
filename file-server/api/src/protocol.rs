//! The protocol table: every operation once, with its label, request and reply types, server method, client method and docs; `Operation`, `Request`, `Reply`, `FileService`, `serve`, `dispatch`, `Loopback` and `FileClient` with its methods are generated from it (`ipc_protocol::protocol!`).
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
//! | `0x206` | `Map` | 2: handle, flags (bit 0 writable) | 1: the caller's VM-server handle |
//! | `0x207` | `FailNextPageIn` (test hook: the file's next page-in fails) | 1: handle | 0 |
//! | `0x208` | `CrashOnNextPageIn` (test hook: the server dies at the file's next page-in) | 1: handle | 0 |
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
//! * `Map` asks the VM server, as the files' pager, for an object backed
//!   by the file (one per file: every mapping shares its pages) and a
//!   handle to it in the caller's space, read-write only when
//!   `writable` (the file handle needs `WRITE` then, else
//!   `Protection`); the caller `mmap`s that handle. `NoPager` when this
//!   server pages nothing, `MapRefused` when the VM server refuses
//!   (the caller's handle quota at the VM server). docs/pager.md.
//! * `FailNextPageIn` is a test hook: the next page-in of the file
//!   behind the caller's `handle` (whichever client's fault asks for it)
//!   answers the VM server `Failed(Io)`, reading nothing, and the hook
//!   disarms. The handle passes the checks of a read-only `Map`
//!   (`BadHandle`, `IsADirectory`, `Unsupported`, `Protection`), so a
//!   client can arm only a file it could map itself. Arming an armed file
//!   changes nothing; write-backs, later page-ins and other files are
//!   untouched. `NoPager` when this server pages nothing.
//! * `CrashOnNextPageIn` is the pager-death test hook: at the next
//!   page-in of the file behind the caller's `handle` the server stops
//!   by a fault of its own thread, the request unanswered (the VM server
//!   learns of the death from that fault: docs/pager.md, "Pager death").
//!   The handle checks are `FailNextPageIn`'s. Only a server whose spec
//!   grants it the cap `pager_crash_hook` honours it (any client could
//!   otherwise stop the file server for everyone): `NotPermitted`
//!   otherwise.
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
//! payload itself); `= request` may use `?` with a `FileError`. A reply
//! type `(())` is a variant holding `()` (`Reply::Close(())`). The rows
//! are read by `ipc_protocol::protocol!`, shared with `vm-api`, whose
//! docs describe every part.
//!
//! # Adding an operation
//!
//! Append a row with the next free label (never renumber), its payload
//! types with their `Body` impls (`messages.rs`) if new, a row in the
//! table above, and the `FileService` method in the server
//! (`file-server/fs/src/service.rs`).

use crate::messages::{
    HandleReply, HandleRequest, MapReply, MapRequest, OpenRequest, ReadReply, ReadRequest,
    WriteReply, WriteRequest,
};
use crate::types::{Handle, PathBytes, Rights, Stat, WriteData};

ipc_protocol::protocol! {
    errors: crate::FileError, crate::DecodeError;

    /// One operation of the protocol; the discriminant is the request's
    /// IPC label (from `0x200`: clear of kernel fault labels and of
    /// `vm-api`'s `0x1xx`, so a message sent to the wrong server is
    /// refused as an unknown operation).
    ///
    /// Never renumber, only append.
    pub enum Operation;

    /// A decoded request: one variant per operation.
    ///
    /// `Write`'s variant holds its data inline (about 1 KiB): a request
    /// lives on the stack for one call, and the server has no allocator
    /// to spare in its loop.
    #[allow(clippy::large_enum_variant)]
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Request;

    /// A decoded successful reply: one variant per operation.
    ///
    /// `Read`'s variant holds its data inline (about 1 KiB), as
    /// `Request::Write` does.
    #[allow(clippy::large_enum_variant)]
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Reply;

    /// The file server's operations. `client` is the caller's client
    /// id (the badge its endpoint capability carries); each method gets
    /// the decoded, already validated request and returns the reply or
    /// the error to send.
    ///
    /// The caller of every method is [`serve`], from [`dispatch`] in the
    /// server's single-threaded loop.
    pub trait FileService;

    /// Calls the method of `svc` that `req` names.
    pub fn serve;

    /// One step of the server loop: decodes the request (`label`, `words`
    /// = exactly the message's words), calls `svc`, and encodes the reply
    /// into `out` (at least [`crate::MAX_WORDS`] long). Returns the
    /// reply's label (0 or a [`FileError`](crate::FileError) code) and
    /// length. A request that does not decode is answered with its
    /// `DecodeError`'s `FileError` and `svc` is not called. Pure: no IPC,
    /// never panics on any input.
    pub fn dispatch;

    /// A transport that runs [`dispatch`] on a service in the same
    /// program, as client `client` (host tests).
    pub struct Loopback;

    /// The file server's client stub: one method per operation (generated
    /// from the table below), one call each, and
    /// [`open`](Self::open) for a [`File`](crate::File).
    #[derive(Clone, Copy, Debug)]
    pub struct FileClient;

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

    /// A handle at the VM server to an object backed by the file, for
    /// `mmap`; replies its number in the caller's VM-server space.
    0x206 Map(MapRequest) -> (MapReply) {
        serve: fn map, default no_pager;
        client: pub fn map(handle: Handle, writable: bool) -> u32
            = MapRequest { handle, writable } => |r| r.vm_handle;
    }

    /// Test hook: the next page-in of the file behind `handle` fails
    /// with `Io` (docs/pager.md), like `vm-api`'s `FailNextPagein` for
    /// swap. The default method refuses it with `NoPager` (a server that
    /// pages nothing has no page-in to fail).
    0x207 FailNextPageIn(HandleRequest) -> (()) {
        serve: fn fail_next_page_in, default no_pager_hook;
        client: pub fn fail_next_page_in(handle: Handle) = HandleRequest { handle };
    }

    /// Test hook: the server dies (a fault of its own) at the next
    /// page-in of the file behind `handle`, when its spec grants the
    /// hook (docs/pager.md, "Pager death"); `NotPermitted` otherwise.
    0x208 CrashOnNextPageIn(HandleRequest) -> (()) {
        serve: fn crash_on_next_page_in, default no_pager_hook;
        client: pub fn crash_on_next_page_in(handle: Handle) = HandleRequest { handle };
    }
}

/// [`FileService::map`]'s default: a file server that pages nothing.
fn no_pager(_client: u64, _req: MapRequest) -> Result<MapReply, crate::FileError> {
    Err(crate::FileError::NoPager)
}

/// [`FileService::fail_next_page_in`]'s default: a file server that
/// pages nothing has no page-in to fail.
fn no_pager_hook(_client: u64, _req: HandleRequest) -> Result<(), crate::FileError> {
    Err(crate::FileError::NoPager)
}

#[cfg(test)]
mod tests {
    use super::Operation;
    use ipc_protocol::testing;

    #[test]
    fn labels_round_trip_and_are_distinct() {
        testing::check_labels::<Operation>(0x200);
        assert!(Operation::try_from(0x100).is_err());
    }

    /// The table in the module docs lists every operation, in label order,
    /// with its label and name.
    #[test]
    fn doc_table_lists_every_operation() {
        testing::check_doc_table::<Operation>(include_str!("protocol.rs"));
    }
}
