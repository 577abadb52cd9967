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
//! | label | operation | request words | reply words (label 0) |
//! | ---: | --- | --- | --- |
//! | `0x100` | `Ping` | 1: cookie | 1: cookie |
//! | `0x101` | `Stats` | 0 | 54: [`VmStats`] (≥ 46, versioned) |
//! | `0x102` | `ClientStats` | 0 | 25: [`ClientStats`] (≥ 12, versioned) |
//! | `0x110` | `Mmap` | 9: addr, len, prot, max_prot, flags, source (0 anon / 1 handle), handle, offset, align | 1: addr |
//! | `0x111` | `Munmap` | 2: addr, len | 0 |
//! | `0x112` | `Mprotect` | 3: addr, len, prot | 0 |
//! | `0x113` | `Minherit` | 3: addr, len, inheritance | 0 |
//! | `0x114` | `Madvise` | 3: addr, len, advice | 0 |
//! | `0x115` | `Msync` | 3: addr, len, flags | 0 |
//! | `0x116` | `Mincore` | 2: addr, len | 1 + ⌈count/8⌉: count (≤ 952), one byte per page |
//! | `0x117` | `Mlock` | 2: addr, len | 0 |
//! | `0x118` | `Munlock` | 2: addr, len | 0 |
//! | `0x120` | `ShmCreate` | 11: size, open_rights, name_len, name\[8\] | 1: handle |
//! | `0x121` | `ShmOpen` | 10: rights, name_len, name\[8\] | 1: handle |
//! | `0x122` | `ShmUnlink` | 9: name_len, name\[8\] | 0 |
//! | `0x123` | `ShmTruncate` | 2: handle, size | 0 |
//! | `0x124` | `HandleClose` | 1: handle | 0 |
//! | `0x125` | `HandleShare` | 3: handle, to (client id), rights | 1: the receiver's handle |
//! | `0x126` | `HandleAccept` | 2: from (client id), count | 0 |
//! | `0x130` | `Fork` | 0 | 2: is_child (0 parent / 1 child), id (child's / parent's client id) |
//! | `0x131` | `Exit` | 1: status | none on success |
//! | `0x140` | `FailNextPagein` (test hook: the caller's next page-in fails as a disk error would) | 0 | 0 |
//!
//! Error replies: label = [`ApiError::code`], 0 words.
//!
//! Field rules: protections (`prot`, `max_prot`, `rights`) use bits
//! [`Prot`] `READ 1 | WRITE 2 | EXEC 4`; `flags` are [`MapFlags`] (`SHARED 1
//! | PRIVATE 2 | FIXED 4 | NOREPLACE 8 | OVERLAY 16`) or [`MsyncFlags`]
//! (`ASYNC 1 | SYNC 2 | INVALIDATE 4`); other bits are reserved (must be
//! 0). [`Advice`] is 0..=5 (`NORMAL RANDOM SEQUENTIAL WILLNEED DONTNEED
//! FREE`), [`Inheritance`] 0..=2 (`SHARE COPY NONE`). Handles are 32-bit
//! (high half reserved). With `source` 0, `handle` and `offset` are 0. A
//! name is `name_len` ≤ 64 bytes of UTF-8 packed little-endian into the 8
//! name words, the bytes past it zero; an empty name makes `ShmCreate`
//! anonymous. `Mincore` bytes are [`Mincore`] bits (`INCORE 1 | REFERENCED
//! 2 | MODIFIED 4`), byte `i % 8` of word `1 + i / 8`, the rest zero.
//!
//! Labels start at `0x100`, clear of kernel fault labels, and fit the
//! 20-bit label field. Every reply fits one message (at most 120 words);
//! `Fork`'s fits the four register MRs, so the server can start the child
//! with it. `Stats` and `ClientStats` replies only ever grow by appended
//! fields: a longer reply decodes with the tail ignored, a shorter one
//! with the missing fields zero down to the first version's length.
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
//! | [`Advice`] `Normal Random Sequential WillNeed DontNeed Free` (0..=5) | `Advice::` same names |
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
mod error;
mod op;
mod reply;
mod request;
mod service;
mod types;
pub mod wire;

pub use client::{Loopback, Sel4Transport, Transport, VmClient};
pub use error::{ApiError, DecodeError};
pub use op::Operation;
pub use reply::{
    ClientStats, ForkReply, HandleReply, MincoreReply, MmapReply, PingReply, Reply, Versioned,
    VmStats, MINCORE_MAX_PAGES,
};
pub use request::{
    ExitRequest, HandleAcceptRequest, HandleCloseRequest, HandleShareRequest, MadviseRequest,
    MinheritRequest, MmapRequest, MprotectRequest, MsyncRequest, PingRequest, RangeRequest,
    Request, ShmCreateRequest, ShmOpenRequest, ShmTruncateRequest, ShmUnlinkRequest,
};
pub use service::{dispatch, needs_reply, serve, VmService};
pub use types::{
    Advice, Handle, Inheritance, MapFlags, MapSource, Mincore, MsyncFlags, Prot, ShmName, NAME_MAX,
    NAME_WORDS, PAGE_SIZE,
};
pub use wire::MAX_WORDS;
