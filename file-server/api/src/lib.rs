//! `file-api`: the file server's client protocol over seL4 IPC, declared once — operations, message words, errors, the server's dispatch, and the client stub whose [`File`] is an `embedded-io` byte stream.
//!
//! # Messages
//!
//! A request is one seL4 `Call` on the file server's endpoint: the label
//! is the [`Operation`] number (from `0x200`), the message registers hold
//! the operation's words (word `i` in MR `i`), exactly as many as the
//! operation needs. No capabilities travel. The reply's label is 0 for
//! success, with the operation's reply words, or a [`FileError`] code with
//! no words. The client's id is the badge of its endpoint capability,
//! never a message word; handles are per client.
//!
//! Decoding is total ([`Request::decode`], [`Reply::decode`]): a short or
//! long message, an unknown label, a reserved bit, a value outside its
//! enumeration or a length over its bound is a [`DecodeError`], which the
//! server answers with `UnknownOperation`, `PathTooLong`,
//! `LengthTooLarge` or `MalformedRequest` without looking further.
//!
//! The operations, labels and words are in [`protocol`], next to the
//! table they are generated from (by `ipc-protocol`'s `protocol!`, the
//! toolkit this crate shares with the VM server's `vm-api`).
//!
//! # Bulk data: bounded chunks in message registers
//!
//! Data travels in the message registers: at most [`READ_MAX`] (952)
//! bytes a `Read` reply, [`WRITE_MAX`] (936) a `Write` request; [`File`]
//! splits larger transfers into calls (`Read::read` and `Write::write`
//! do one call each, `read_exact` and `write_all` loop). Clients are
//! paged by the VM server, whose address spaces the file server must not
//! touch, so a window shared by the spec would have to be mapped by the
//! VM server for the client; registers need nothing of anyone, and
//! every byte is copied by the kernel from one address space to the
//! other. The pager path (the VM server asking for whole pages) will
//! want a shared window instead; see `docs/file-server.md`.
//!
//! # Numbering
//!
//! All numbers are stable: never renumber, only append.
//!
//! # Using it
//!
//! Server: `receive → dispatch(&mut svc, badge, label, words, out) →
//! reply`, with a [`FileService`] implementation. Client:
//! [`FileClient::new`]`(endpoint)`, then [`FileClient::open`] for a
//! [`File`] (or the per-operation methods with a [`Handle`]); host tests
//! run the same stub over a [`Loopback`] into [`dispatch`].
#![cfg_attr(not(test), no_std)]

mod client;
mod error;
mod messages;
pub mod protocol;
mod types;
pub mod wire;

pub use client::File;
pub use embedded_io;
pub use error::{DecodeError, FileError};
pub use ipc_protocol::{Sel4Transport, Transport};
pub use messages::{
    HandleReply, HandleRequest, MapReply, MapRequest, OpenRequest, ReadReply, ReadRequest,
    WriteReply, WriteRequest,
};
pub use protocol::{dispatch, serve, FileClient, FileService, Loopback, Operation, Reply, Request};
pub use types::{
    Bytes, FileKind, Handle, PathBytes, ReadData, Rights, Stat, WriteData, NAME_MAX, PATH_MAX,
    READ_MAX, WRITE_MAX,
};
pub use wire::MAX_WORDS;
