//! `vm-api`: the VM server's client protocol over seL4 IPC, declared once — operations, word layouts, errors, the server's dispatch and the client stub.
//!
//! Clients link this crate only (never `vm-core`); the server links both
//! and translates the types below to the core's one to one (the numbers
//! are equal, see "Numbering").
//!
//! # Messages
//!
//! A request is one seL4 `Call`: the message label is the
//! [`Operation`] number and the message registers hold the operation's
//! fixed `#[repr(C)]` layout of 64-bit words (see [`wire`]), word `i` in
//! MR `i`; the length is exactly the layout's. No capabilities travel. The
//! reply's label is 0 for success, with the operation's reply layout, or
//! an [`ApiError`] code with no words. The client's id is the badge of its
//! endpoint capability, never a message word.
//!
//! Decoding is total ([`Request::decode`], [`Reply::decode`]): a short or
//! long message, an unknown label, a reserved bit or a value outside its
//! enumeration is a [`DecodeError`], which the server answers with
//! `UnknownOperation`, `NameTooLong` or `MalformedRequest`.
//!
//! The operations, their labels, word layouts and field rules are in
//! [`protocol`], next to the table they are generated from: each
//! operation is declared once there, and the operation enum, the request
//! and reply enums with their encoders and decoders, the server's
//! [`VmService`] trait with [`serve`], and the [`VmClient`] methods all
//! come from that one row, through `ipc-protocol`'s `protocol!` (the
//! toolkit this crate shares with the file server's `file-api`).
//!
//! # Numbering
//!
//! All numbers are stable: never renumber, only append. Error codes
//! `1..=18` are `vm_core::VmError::code()` one to one; `NoSwap` (19) is
//! reserved for the swap pager; protocol errors start at `0x100`. Bits and
//! enumerations equal the core's (`Prot`, `MapFlags`, `MsyncFlags`,
//! `MINCORE_*`), and `Advice`/`Inheritance` list the core's variants in
//! the core's order.
//!
//! # Server translation (vm-api → vm-core)
//!
//! | vm-api | vm-core |
//! | --- | --- |
//! | client id (badge) | the server's `SpaceId` for that badge (unknown: `BadClient`) |
//! | [`Prot`] bits | `Prot::from_bits(p.bits() as u8)` (same bits) |
//! | [`MapFlags`] bits | `MapFlags::from_bits(f.bits() as u8)` (same bits) |
//! | [`MsyncFlags`] bits | `MsyncFlags::from_bits(f.bits() as u8)` (same bits) |
//! | [`Advice`] `Normal Random Sequential WillNeed DontNeed Free HugePage NoHugePage` (0..=7) | `Advice::` same names |
//! | [`Inheritance`] `Share Copy None` (0..=2) | `Inheritance::` same names |
//! | [`Handle`]`(u32)` | `Handle(u32)` |
//! | [`MapSource`] `Anonymous` / `Handle { handle, offset }` | `MapSource::` same |
//! | [`MmapRequest`] | `MmapArgs` field for field |
//! | [`ShmName::as_option`] / [`ShmName::as_str`] | `name: Option<&str>` / `&str` |
//! | [`Mincore`] bits | `MINCORE_INCORE/REFERENCED/MODIFIED` bytes; [`MincoreReply::from_bytes`] |
//! | [`VmStats`] fields | `Uvmexp` fields of the same names (widened to u64); swap fields the swap pager's |
//! | `VmError` `e` | `ApiError::from_code(e.code() as u64)` (codes 1..=18 equal) |
//!
//! # Using it
//!
//! Server: `receive → dispatch(&mut svc, badge, label, words, out) →
//! reply (unless !needs_reply)`, with a [`VmService`] implementation.
//! Client: [`VmClient::new`]`(endpoint)` and its methods; host tests run
//! the same stub over a [`Loopback`] into `dispatch`.
#![cfg_attr(not(test), no_std)]

mod client;
mod client_list;
mod error;
pub mod protocol;
mod reply;
mod request;
mod service;
mod types;
pub mod wire;

pub use client_list::{ClientListReply, ClientSummary, CLIENT_LIST_MAX};
pub use error::{ApiError, DecodeError};
pub use ipc_protocol::{Sel4Transport, Transport};
pub use protocol::{dispatch, serve, Loopback, Operation, Reply, Request, VmClient, VmService};
pub use reply::{
    ClientStats, ForkReply, HandleReply, MincoreReply, MmapReply, PagerChallengeReply,
    PagerProgramNameReply, PingReply, SwapDeviceInfo, Versioned, VmStats, MINCORE_MAX_PAGES,
};
pub use request::{
    ClientListRequest, ExitRequest, HandleAcceptRequest, HandleCloseRequest, HandleShareRequest,
    MadviseRequest, MinheritRequest, MmapRequest, MprotectRequest, MsyncRequest,
    PagerAttachRequest, PagerCreateRequest, PagerProgramNameRequest, PagerProgramRequest,
    PingRequest, RangeRequest, ShmCreateRequest, ShmOpenRequest, ShmTruncateRequest,
    ShmUnlinkRequest, SwapDeviceRequest,
};
pub use service::needs_reply;
pub use types::{
    Advice, ClientName, Handle, Inheritance, MapFlags, MapSource, Mincore, MsyncFlags, Prot,
    ShmName, CLIENT_NAME_MAX, NAME_MAX, NAME_WORDS, PAGE_SIZE,
};
pub use wire::MAX_WORDS;
