//! The protocol table: every operation once, with its label, request and reply types, server method, client method and docs; `Operation`, `Request`, `Reply`, `VmService`, `serve`, `dispatch`, `Loopback` and `VmClient` with its methods are generated from it.
//!
//! # The operations on the wire
//!
//! | label | operation | request words | reply words (label 0) |
//! | ---: | --- | --- | --- |
//! | `0x100` | `Ping` | 1: cookie | 1: cookie |
//! | `0x101` | `Stats` | 0 | 84: [`VmStats`] (≥ 46, versioned) |
//! | `0x102` | `ClientStats` | 0 | 28: [`ClientStats`] (≥ 12, versioned) |
//! | `0x103` | `ClientList` (privileged: `observe`) | 1: from (client id) | 2 + 13 × count: count (≤ 9), next (0: none follow), per client [`ClientSummary`]: client, name_len, name\[3\], resident, wired, faults, zero-fill, copy-on-write, prefault, page-ins, large-page faults |
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
//! | `0x141` | `IdleWait` (returns once the server's idle work, pre-zeroing free frames, is done) | 0 | 0 |
//! | `0x150` | `SwapInfo` | 1: device | 11: [`SwapDeviceInfo`]: device, flags (1 attached), slots, in use, bad, pageins, pgswapin, pageouts, pgswapout, read errors, write errors |
//! | `0x151` | `SwapOff` (privileged: `swapctl`) | 1: device | 0 |
//! | `0x152` | `SwapOn` (privileged: `swapctl`) | 1: device | 0 |
//! | `0x160` | `PagerChallenge` (pagers: docs/pager.md) | 0 | 1: challenge |
//! | `0x161` | `PagerAttach` (pagers) | 1: challenge | 0 |
//! | `0x162` | `PagerCreate` (attached pagers) | 4: key, size_bytes, client, rights | 1: the client's handle |
//! | `0x163` | `PagerProgramName` (attached pagers) | 1: index | 9: name_len, name (8 words) |
//! | `0x164` | `PagerProgram` (attached pagers) | 4: index, error, key, size_bytes | 0 |
//! | `0x170` | `DeviceOpen` (regions the spec grants: docs/devices.md) | 10: rights, name_len, name\[8\] | 1: handle |
//!
//! Error replies: label = [`ApiError::code`](crate::ApiError::code), 0
//! words.
//!
//! Field rules: protections (`prot`, `max_prot`, `rights`) use bits
//! [`Prot`] `READ 1 | WRITE 2 | EXEC 4`; `flags` are
//! [`MapFlags`](crate::MapFlags) (`SHARED 1 | PRIVATE 2 | FIXED 4 |
//! NOREPLACE 8 | OVERLAY 16`) or [`MsyncFlags`] (`ASYNC 1 | SYNC 2 |
//! INVALIDATE 4`); other bits are reserved (must be 0). [`Advice`] is
//! 0..=7 (`NORMAL RANDOM SEQUENTIAL WILLNEED DONTNEED FREE HUGEPAGE NOHUGEPAGE`),
//! [`Inheritance`] 0..=2 (`SHARE COPY NONE`). Handles are 32-bit (high
//! half reserved). With `source` 0, `handle` and `offset` are 0. A name
//! is `name_len` ≤ 64 bytes of UTF-8 packed little-endian into the 8 name
//! words, the bytes past it zero; an empty name makes `ShmCreate`
//! anonymous. `Mincore` bytes are [`Mincore`](crate::Mincore) bits
//! (`INCORE 1 | REFERENCED 2 | MODIFIED 4`), byte `i % 8` of word
//! `1 + i / 8`, the rest zero. A `ClientList` entry's name is
//! `name_len` ≤ 24 bytes packed the same way into its 3 name words;
//! entries are in strictly increasing client id order, and `next` (the
//! id to ask from for the rest) is non-zero only in a full reply and
//! above every id listed.
//!
//! Labels start at `0x100`, clear of kernel fault labels, and fit the
//! 20-bit label field. Every reply fits one message (at most 120 words);
//! `Fork`'s fits the four register MRs, so the server can start the child
//! with it. `Stats` and `ClientStats` replies only ever grow by appended
//! fields: a longer reply decodes with the tail ignored, a shorter one
//! with the missing fields zero down to the first version's length.
//!
//! # Reading a row
//!
//! ```text
//! /// Unmaps `[addr, addr + len)`.                   <- docs
//! 0x111 Munmap(RangeRequest) -> () {                  <- label, name(request type) -> (reply type)
//!     serve: fn munmap;                               <- the VmService method
//!     client: pub fn munmap(addr: u64, len: u64)      <- the VmClient method,
//!         = RangeRequest { addr, len };               <- the request it sends
//! }
//! ```
//!
//! * The docs go on the `Operation`, `Request` and `Reply` variants, the
//!   `VmService` method and the `VmClient` method.
//! * `0x111 Munmap`: the label, and the variant name in all three enums.
//! * `Munmap(RangeRequest) -> ()`: the request and reply payload types.
//!   `()` is no payload: an empty message, a unit variant
//!   (`Request::Stats`, `Reply::Munmap`), no `req` argument or a `()`
//!   result in `VmService`. A type may serve several operations
//!   (`RangeRequest`, `HandleReply`).
//! * `[no reply on success]` after the reply type: a successful request is
//!   not answered ([`Operation::replies_on_success`],
//!   [`needs_reply`](crate::needs_reply)); only `Exit`.
//! * `serve: fn name`: the method `fn name(&mut self, client: u64, req:
//!   Req) -> Result<Rep, ApiError>` (without `req` for no request type),
//!   which `serve` calls for the operation. `default f`: the trait's
//!   default body calls `f(client, req)`.
//! * `client: vis fn name(params) -> Out = request => |r| result`: the
//!   stub method. `= request` builds the request type from the
//!   parameters (may use `?` with an `ApiError`; absent for no request
//!   type); `-> Out` is the result (absent: `()`); `=> |r| result` makes
//!   it from the reply payload `r` (absent: the payload itself). The
//!   method sends the request and takes the reply apart; a reply to
//!   another operation is `MalformedReply`.
//!
//! # What is generated and what is not
//!
//! Generated (`ipc_protocol::protocol!`, shared with the file server's
//! protocol), because it is the same for every row: the three enums with
//! `Operation::ALL`, `replies_on_success` and `operation()`; the
//! per-operation matches of the request and reply encoders and
//! decoders, and their `decode`/`encode` entry points; the `VmService`
//! trait, `serve` and `dispatch`; the `Loopback` transport; the client
//! stub and its methods. The message rules behind them (labels, error
//! replies, the client's call) are `ipc-protocol`'s generic code.
//!
//! Not generated, because it differs per payload type rather than per
//! operation: the word layouts. Each payload type implements `wire::Body`
//! next to its definition (`request.rs`, `reply.rs`), converting to and
//! from its `#[repr(C)]` layout in [`crate::wire`] and checking every
//! field (the decoders stay total and name the offending word). Those
//! bodies are irregular (flags, enumerations, names, the versioned
//! statistics, `Mincore`'s packed bytes, `Fork`'s two cases); as plain
//! impls they read as ordinary Rust, and a mistake in one is reported
//! there rather than inside a macro expansion.
//!
//! Also by hand: `needs_reply`, the default service methods
//! (`service.rs`), and `VmClient::mincore` and `VmClient::clients`
//! (`client.rs`), which loop over `mincore_run` and `client_list_page`
//! for answers longer than one reply.
//!
//! # Adding an operation
//!
//! Append a row with the next free label (never renumber), and, if its
//! request or reply is a new layout, its type with a `Body` impl (and its
//! `wire` struct); add a row to the table above; implement the new
//! `VmService` method in the server (`vm-server/service/src/requests.rs`).

use crate::client_list::ClientListReply;
use crate::reply::{
    ClientStats, ForkReply, HandleReply, MincoreReply, MmapReply, PagerChallengeReply,
    PagerProgramNameReply, PingReply, SwapDeviceInfo, VmStats,
};
use crate::request::{
    ClientListRequest, ExitRequest, HandleAcceptRequest, HandleCloseRequest, HandleShareRequest,
    MadviseRequest, MinheritRequest, MmapRequest, MprotectRequest, MsyncRequest,
    PagerAttachRequest, PagerCreateRequest, PagerProgramNameRequest, PagerProgramRequest,
    PingRequest, RangeRequest, ShmCreateRequest, ShmOpenRequest, ShmTruncateRequest,
    ShmUnlinkRequest, SwapDeviceRequest,
};
use crate::service;
use crate::types::{Advice, Handle, Inheritance, MsyncFlags, Prot, ShmName};

ipc_protocol::protocol! {
    errors: crate::ApiError, crate::DecodeError;

    /// One operation of the protocol; the discriminant is the request's
    /// IPC label.
    ///
    /// The numbers are part of the protocol: never renumber, only
    /// append. They start at `0x100` so they can never be confused with
    /// a kernel fault message (fault labels are below `0x10`) should a
    /// server receive both on one endpoint, and they fit seL4's 20-bit
    /// label field.
    pub enum Operation;

    /// A decoded request: one variant per operation, with the
    /// operation's request type.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Request;

    /// A decoded successful reply: one variant per operation, with the
    /// operation's reply type.
    ///
    /// `Mincore`'s variant is about 1 KiB: a reply lives on the stack for
    /// one call, and boxing would need an allocator in the hot path.
    #[allow(clippy::large_enum_variant)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Reply;

    /// The VM server's operations. `client` is the caller's client id
    /// (the badge its endpoint capability carries); each method gets the
    /// decoded, already validated request and returns the reply or the
    /// error to send.
    ///
    /// The caller of every method is [`serve`], from [`dispatch`] in the
    /// server's single-threaded loop.
    pub trait VmService;

    /// Calls the method of `svc` that `req` names.
    pub fn serve;

    /// One step of the server loop: decodes the request (`label`, `words`
    /// = exactly the message's words), calls `svc`, and encodes the reply
    /// into `out` (at least [`crate::MAX_WORDS`] long). Returns the
    /// reply's label (0 or an [`ApiError`](crate::ApiError) code) and
    /// length. A request that does not decode is answered with its
    /// `DecodeError`'s `ApiError` and `svc` is not called. Pure: no IPC,
    /// never panics on any input.
    pub fn dispatch;

    /// A transport that runs [`dispatch`] on a service in the same
    /// program, as client `client` (host tests, and a server calling
    /// itself).
    pub struct Loopback;

    /// The VM server's client stub: one method per operation (generated
    /// from the table below). Every method makes one call (`mincore` as
    /// many as the range needs).
    #[derive(Clone, Copy, Debug)]
    pub struct VmClient;

    /// No-op round trip (benchmarks, liveness); the reply echoes the
    /// cookie (the default method does).
    0x100 Ping(PingRequest) -> (PingReply) {
        serve: fn ping, default service::echo_ping;
        client: pub fn ping(cookie: u64) -> u64 = PingRequest { cookie } => |r| r.cookie;
    }

    /// Global counters ([`VmStats`], BSD's `struct uvmexp`).
    0x101 Stats() -> (VmStats) {
        serve: fn stats;
        client: pub fn stats() -> VmStats;
    }

    /// The caller's own counters and limits ([`ClientStats`]).
    0x102 ClientStats() -> (ClientStats) {
        serve: fn client_stats;
        client: pub fn client_stats() -> ClientStats;
    }

    /// Every client's counters, [`CLIENT_LIST_MAX`](crate::CLIENT_LIST_MAX)
    /// clients a reply, from id `from` on ([`ClientListReply`]; `vmstat`'s
    /// per-client lines). Only for clients the spec grants `privileges {
    /// observe }` (others: `NotPermitted`): nobody reads what is not its
    /// own otherwise. The stub's public [`clients`](crate::VmClient::clients)
    /// asks page after page. The default method refuses it (`NotSupported`).
    0x103 ClientList(ClientListRequest) -> (ClientListReply) {
        serve: fn client_list, default service::no_client_list;
        client: pub fn client_list_page(from: u64) -> ClientListReply
            = ClientListRequest { from };
    }

    /// Maps memory (the VM core's `MmapArgs`); replies the address.
    0x110 Mmap(MmapRequest) -> (MmapReply) {
        serve: fn mmap;
        client: pub fn mmap(req: &MmapRequest) -> u64 = *req => |r| r.addr;
    }

    /// Unmaps `[addr, addr + len)`.
    0x111 Munmap(RangeRequest) -> () {
        serve: fn munmap;
        client: pub fn munmap(addr: u64, len: u64) = RangeRequest { addr, len };
    }

    /// Sets the protection of a mapped range.
    0x112 Mprotect(MprotectRequest) -> () {
        serve: fn mprotect;
        client: pub fn mprotect(addr: u64, len: u64, prot: Prot)
            = MprotectRequest { addr, len, prot };
    }

    /// Sets what fork does with a range.
    0x113 Minherit(MinheritRequest) -> () {
        serve: fn minherit;
        client: pub fn minherit(addr: u64, len: u64, inheritance: Inheritance)
            = MinheritRequest { addr, len, inheritance };
    }

    /// Advises on a mapped range.
    0x114 Madvise(MadviseRequest) -> () {
        serve: fn madvise;
        client: pub fn madvise(addr: u64, len: u64, advice: Advice)
            = MadviseRequest { addr, len, advice };
    }

    /// Writes back or invalidates a mapped range.
    0x115 Msync(MsyncRequest) -> () {
        serve: fn msync;
        client: pub fn msync(addr: u64, len: u64, flags: MsyncFlags)
            = MsyncRequest { addr, len, flags };
    }

    /// Residency of at most [`MINCORE_MAX_PAGES`](crate::MINCORE_MAX_PAGES)
    /// pages from `addr`, one byte each: the one reply of variable length.
    /// The stub's public [`mincore`](crate::VmClient::mincore) asks in
    /// runs for any range.
    0x116 Mincore(RangeRequest) -> (MincoreReply) {
        serve: fn mincore;
        client: pub(crate) fn mincore_run(addr: u64, len: u64) -> MincoreReply
            = RangeRequest { addr, len };
    }

    /// Wires a mapped range.
    0x117 Mlock(RangeRequest) -> () {
        serve: fn mlock;
        client: pub fn mlock(addr: u64, len: u64) = RangeRequest { addr, len };
    }

    /// Unwires a mapped range.
    0x118 Munlock(RangeRequest) -> () {
        serve: fn munlock;
        client: pub fn munlock(addr: u64, len: u64) = RangeRequest { addr, len };
    }

    /// Creates a shared-memory object of `size` bytes, named unless the
    /// name is empty; replies a read-write handle. `open_rights` are the
    /// most rights anyone may open the name with.
    0x120 ShmCreate(ShmCreateRequest) -> (HandleReply) {
        serve: fn shm_create;
        client: pub fn shm_create(name: &str, size: u64, open_rights: Prot) -> Handle
            = ShmCreateRequest { name: ShmName::new(name)?, size, open_rights }
            => |r| r.handle;
    }

    /// Opens the object named `name` with `rights`; replies the handle.
    0x121 ShmOpen(ShmOpenRequest) -> (HandleReply) {
        serve: fn shm_open;
        client: pub fn shm_open(name: &str, rights: Prot) -> Handle
            = ShmOpenRequest { name: ShmName::new(name)?, rights } => |r| r.handle;
    }

    /// Removes a name (the object lives while referenced).
    0x122 ShmUnlink(ShmUnlinkRequest) -> () {
        serve: fn shm_unlink;
        client: pub fn shm_unlink(name: &str) = ShmUnlinkRequest { name: ShmName::new(name)? };
    }

    /// Resizes the shared-memory object behind `handle`.
    0x123 ShmTruncate(ShmTruncateRequest) -> () {
        serve: fn shm_truncate;
        client: pub fn shm_truncate(handle: Handle, size: u64)
            = ShmTruncateRequest { handle, size };
    }

    /// Closes one of the caller's handles.
    0x124 HandleClose(HandleCloseRequest) -> () {
        serve: fn handle_close;
        client: pub fn handle_close(handle: Handle) = HandleCloseRequest { handle };
    }

    /// Gives client `to` a handle with `rights` (at most the caller's) to
    /// the object behind `handle`; replies the receiver's handle.
    0x125 HandleShare(HandleShareRequest) -> (HandleReply) {
        serve: fn handle_share;
        client: pub fn handle_share(handle: Handle, to: u64, rights: Prot) -> Handle
            = HandleShareRequest { handle, to, rights } => |r| r.handle;
    }

    /// Lets client `from` push up to `count` handles into the caller with
    /// `HandleShare` (0 withdraws); each counts against the caller's quota.
    0x126 HandleAccept(HandleAcceptRequest) -> () {
        serve: fn handle_accept;
        client: pub fn handle_accept(from: u64, count: u32) = HandleAcceptRequest { from, count };
    }

    /// Forks the caller: its call returns `Parent { child }` (what the
    /// server method returns), and the child starts life returning from
    /// the same call with `Child { parent }` (the server starts it with
    /// that reply's encoding, [`Reply::encode`], in its registers).
    0x130 Fork() -> (ForkReply) {
        serve: fn fork;
        client: pub fn fork() -> ForkReply;
    }

    /// Ends the caller: the server destroys its address space and does not
    /// answer a successful `Exit` ([`needs_reply`](crate::needs_reply));
    /// a failed one is answered with its error. Through seL4 a successful
    /// exit never returns; `Ok(())` is only seen through a transport that
    /// answers it (tests).
    0x131 Exit(ExitRequest) -> () [no reply on success] {
        serve: fn exit;
        client: pub fn exit(status: u64) = ExitRequest { status };
    }

    /// Test hook: the caller's next fault that reads from swap fails as if
    /// the disk had failed (the block server is asked to fail that read,
    /// and the server stops the caller with `Io`). It can only hurt the
    /// caller. The default method refuses it (a server without swap has
    /// nothing to fail).
    0x140 FailNextPagein() -> () {
        serve: fn fail_next_pagein, default service::refuse_test_hook;
        client: pub fn fail_next_pagein();
    }

    /// Returns once the server's idle work is done: free frames zeroed
    /// ahead of zero-fill faults (`VmStats::zeropages`). The server runs
    /// that work only when nothing else runs, so the caller blocks until
    /// the system has been idle for long enough; while another thread
    /// keeps running it waits. Benchmarks call it to measure faults of a
    /// system that had idle time. The default method refuses it
    /// (`NotSupported`: no idle thread).
    0x141 IdleWait() -> () {
        serve: fn idle_wait, default service::no_idle_thread;
        client: pub fn idle_wait();
    }

    /// Swap device `device`'s size, slots in use and bad, whether it is
    /// attached, and its I/O counters (0 is the VM server's swap
    /// partition; an index with no device: `NoSuchDevice`). Open to every
    /// client, like the swap fields of `Stats`.
    0x150 SwapInfo(SwapDeviceRequest) -> (SwapDeviceInfo) {
        serve: fn swap_info;
        client: pub fn swap_info(device: u64) -> SwapDeviceInfo = SwapDeviceRequest { device };
    }

    /// `swapoff`: pages everything on swap device `device` back in and
    /// detaches it; the server keeps it for `SwapOn`. Only for clients
    /// the spec grants `privileges { swapctl }` (others: `NotPermitted`).
    /// Synchronous: the server serves nobody else until it is done. When
    /// memory cannot hold the pages: `OutOfMemory`, nothing changed.
    0x151 SwapOff(SwapDeviceRequest) -> () {
        serve: fn swap_off;
        client: pub fn swap_off(device: u64) = SwapDeviceRequest { device };
    }

    /// `swapon`: attaches swap device `device` again after `SwapOff`.
    /// Only for clients the spec grants `privileges { swapctl }`.
    0x152 SwapOn(SwapDeviceRequest) -> () {
        serve: fn swap_on;
        client: pub fn swap_on(device: u64) = SwapDeviceRequest { device };
    }

    /// A pager's first step to attach to its channel (docs/pager.md,
    /// "Identity"): a fresh challenge, kept for the caller's badge only
    /// (a later one replaces it). Any caller may ask while a channel
    /// waits for its pager (then `NotPermitted`); only one holding the
    /// channel's ring page can use it. The default method refuses
    /// (`NotSupported`: a server without pager channels).
    0x160 PagerChallenge() -> (PagerChallengeReply) {
        serve: fn pager_challenge, default service::no_pagers;
        client: pub fn pager_challenge() -> u64 => |r| r.challenge;
    }

    /// Binds the caller's badge to the pager channel whose ring page
    /// holds the caller's last challenge in its attach word; from then
    /// on its `PagerCreate`s make objects of that channel. Anything else
    /// (no challenge asked, no channel holds it, the channel or the badge
    /// already bound) is `NotPermitted`, and nothing changes.
    0x161 PagerAttach(PagerAttachRequest) -> () {
        serve: fn pager_attach, default service::no_pagers_attach;
        client: pub fn pager_attach(challenge: u64) = PagerAttachRequest { challenge };
    }

    /// An attached pager makes object `key` of `size_bytes` bytes (its
    /// pages come from the caller's channel) and puts a handle with
    /// `rights` into client `client`'s space, counted against that
    /// client's handle quota (`QuotaHandles`); replies the client's
    /// handle number. The live object of the same key and size is
    /// reused, so every mapping of one file shares one cache. An
    /// unattached caller: `NotPermitted`; no such client: `BadClient`.
    0x162 PagerCreate(PagerCreateRequest) -> (HandleReply) {
        serve: fn pager_create, default service::no_pagers_create;
        client: pub fn pager_create(key: u64, size_bytes: u64, client: u64, rights: Prot) -> Handle
            = PagerCreateRequest { key, size_bytes, client, rights } => |r| r.handle;
    }

    /// The name of program `index` (0, 1, ...) whose clients wait to be
    /// paged from the caller's files (docs/pager.md, "Programs paged
    /// from files"); `NoSuchName` past the last. An unattached caller:
    /// `NotPermitted`.
    0x163 PagerProgramName(PagerProgramNameRequest) -> (PagerProgramNameReply) {
        serve: fn pager_program_name, default service::no_pagers_program_name;
        client: pub fn pager_program_name(index: u64) -> ShmName
            = PagerProgramNameRequest { index } => |r| r.name;
    }

    /// The attached pager's answer for program `index`: its ELF file is
    /// the caller's object `key` of `size_bytes` bytes (`error` 0), or
    /// the pager has none (`error`: the pager's own code, `key` and
    /// `size_bytes` 0). The VM server then loads every client waiting
    /// for it, or stops them. Answered at once (the loading waits for
    /// page-ins the caller serves later); `NoSuchName` for an index no
    /// program has, `Busy` for one answered already.
    0x164 PagerProgram(PagerProgramRequest) -> () {
        serve: fn pager_program, default service::no_pagers_program;
        client: pub fn pager_program(index: u64, error: u64, key: u64, size_bytes: u64)
            = PagerProgramRequest { index, error, key, size_bytes };
    }

    /// Opens the device region `name` that the spec grants the caller
    /// (`devices { NAME (RIGHTS) }`, docs/devices.md) with `rights` (at
    /// most the grant's); replies a handle, counted against the caller's
    /// handle quota, which the caller maps `SHARED` like a shared-memory
    /// handle. A name not granted to the caller (or no such region):
    /// `NoSuchName`; more rights than granted: `Protection`. The request
    /// has `ShmOpen`'s layout. The default method knows no regions.
    0x170 DeviceOpen(ShmOpenRequest) -> (HandleReply) {
        serve: fn device_open, default service::no_devices;
        client: pub fn device_open(name: &str, rights: Prot) -> Handle
            = ShmOpenRequest { name: ShmName::new(name)?, rights } => |r| r.handle;
    }
}

#[cfg(test)]
mod tests {
    use super::Operation;
    use crate::DecodeError;
    use ipc_protocol::testing;

    #[test]
    fn labels_round_trip_and_are_distinct() {
        testing::check_labels::<Operation>(0x100);
        assert_eq!(
            Operation::try_from(0),
            Err(DecodeError::UnknownOperation { label: 0 })
        );
        assert!(Operation::try_from(5).is_err());
    }

    #[test]
    fn only_exit_is_silent() {
        for op in Operation::ALL {
            assert_eq!(op.replies_on_success(), op != Operation::Exit);
        }
    }

    /// The table in the module docs lists every operation, in label order,
    /// with its label and name.
    #[test]
    fn doc_table_lists_every_operation() {
        testing::check_doc_table::<Operation>(include_str!("protocol.rs"));
    }
}
