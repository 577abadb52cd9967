//! `block-api`: the block server's protocol, declared once — operations,
//! the fixed word layouts of requests and completions, their total
//! decoders, the errors, the shared-memory rings, the client stub
//! ([`BlockClient`]) and the server's half of a channel ([`ServerChannel`]).
//!
//! # Model: rings in shared memory, notifications both ways
//!
//! A client and the block server share one `frame (SIZE)` object of the
//! system spec (a *channel*): page 0 is the **ring page**, pages `1..` are
//! the **data window**, an array of [`BLOCK_SIZE`]-byte buffers named by
//! index (buffer `i` is page `1 + i`). A request carries only numbers
//! (operation, device block, block count, first buffer); the server DMAs
//! straight into or out of the window, so no capability and no page bytes
//! travel by IPC, and the server never holds caps to the client's own
//! memory. (The VM server's swap channel may instead name the physical
//! pages to move in a *frame list*: "Frame lists" below.)
//!
//! The ring page holds two single-producer single-consumer rings of
//! [`RING_ENTRIES`] entries: the *submission queue* (client → server,
//! [`RequestWire`], 8 words) and the *completion queue* (server → client,
//! [`CompletionWire`], 4 words), each with a free-running `u32` producer
//! and consumer index on a cache line of its own (offsets in [`ring`]).
//! The client pushes requests and signals the server's notification (its
//! *doorbell*, a badged cap); the server pushes a completion per request,
//! in any order, and signals the client's *done* notification. Up to
//! [`RING_ENTRIES`] requests are in flight per channel: `submit` never
//! blocks (a full queue is [`BlockError::Busy`]), which is what the VM
//! server's asynchronous swap pager wants (`vm_swap::BlockDevice`: submit
//! returns a tag, completions are polled later). A synchronous `Call` per
//! request was the alternative; it would block the VM server's only
//! thread on the block server for every page.
//!
//! The server trusts nothing in the shared page: it copies each entry
//! once, decodes it totally, checks it against the partition and the
//! window, and answers anything wrong with an error completion (an index
//! the client moved impossibly far is treated as a reset of the queue).
//! A client can only hurt itself.
//!
//! # Operations
//!
//! | op | [`Operation`] | request words used | completion `value` |
//! | ---: | --- | --- | --- |
//! | 1 | `Read` | block, count, buf (a frame list's buffer with [`FLAG_FRAME_LIST`]) | 0 |
//! | 2 | `Write` | block, count, buf (a frame list's buffer with [`FLAG_FRAME_LIST`]) | 0 |
//! | 3 | `Info` | none (all zero) | partition size in blocks |
//! | 4 | `Flush` | none (all zero) | 0 |
//!
//! `block` is relative to the start of the served partition (the
//! Linux-swap partition of the GPT), in [`BLOCK_SIZE`] units; `count` is
//! `1..=`[`MAX_BLOCKS`]. A completion's `status` is 0 or a
//! [`BlockError`] code; for `Io` its `block` word is the first block that
//! failed (blocks before it were transferred).
//!
//! # Flags
//!
//! | bit | flag | on | meaning |
//! | ---: | --- | --- | --- |
//! | 0 | [`FLAG_INJECT_IO_ERROR`] | any op | test-only: fail with `Io`, no I/O |
//! | 1 | [`FLAG_FRAME_LIST`] | `Read`, `Write` | `buf` names a frame list, not the data |
//!
//! Every other bit is reserved (must be 0, else `Malformed`).
//!
//! [`FLAG_INJECT_IO_ERROR`] is **test-only**: the server fails a transfer
//! with `Io` without touching the disk (on `Info`/`Flush` it is accepted
//! and has no effect). It is honoured for any client since it can only
//! fail the caller's own request.
//!
//! [`FLAG_FRAME_LIST`] changes what `buf` means on a transfer (below); on
//! `Info`/`Flush`, which carry no `buf`, it is `Malformed`.
//!
//! # Frame lists (zero copy)
//!
//! With [`FLAG_FRAME_LIST`], `buf` names **one** window buffer, the
//! *list*: `count` little-endian `u64` physical addresses, entry `i` the
//! page for device block `block + i`, each [`BLOCK_SIZE`] aligned. The
//! server DMAs to or from those pages instead of the window, so the VM
//! server swaps its pool frames without copying them through the window
//! ([`BlockClient::write_frame_list`] writes a list). The window check is
//! then `buf < buffers` ([`Request::check`]). The server reads the list
//! once into its own memory and checks every address before any I/O: 4 KiB
//! aligned, `addr + 4096` not overflowing, and not overlapping the block
//! server's own DMA memory (its virtqueues and request headers); one bad
//! address fails the whole request with `BadBuffer` and moves nothing.
//!
//! Only channels the spec names for it may send lists
//! ([`frame_lists_allowed`]: the channel `swap_shm`, which only the VM
//! server holds); every other client gets `Unsupported` for the flag.
//! The trust argument: without an IOMMU the block server can already make
//! the disk write any physical address, so it is trusted with all memory
//! either way; a list lets the VM server aim the disk, and the VM server
//! is already trusted with every client's memory (it maps them all). No
//! other client (`block-test`, the file server) is, so none may name
//! physical addresses. The DMA-memory check guards the driver's own
//! queues against a buggy list; it is not a fence against a hostile VM
//! server, which is trusted.
//!
//! # Numbering
//!
//! All numbers are stable: never renumber, only append.
//!
//! # Spec wiring (one channel)
//!
//! ```text
//! objects {
//!     blk_ntfn    = notification   -- the server waits here: IRQ (badge 1) + doorbells
//!     test_shm    = frame (132K)   -- ring page + 32 buffers
//!     test_done   = notification   -- completions for the client
//! }
//! component block-server { caps { 16: blk_ntfn (R)  17: test_done (W)  20: test_shm (RW) } ... }
//! component block-test   { caps { 16: blk_ntfn (W, badge: 2)  17: test_done (R)  20: test_shm (RW) } ... }
//! ```
//!
//! The server finds its channels by name: every frame cap whose name ends
//! in [`SHM_SUFFIX`] is a channel, and its done notification is the cap
//! with the same prefix and [`DONE_SUFFIX`].
//!
//! # Volumes: which disk a channel serves
//!
//! The server serves up to one volume of each [`VolumeKind`]: the
//! Linux-swap partition of the disk with a GPT ([`VolumeKind::Swap`]),
//! and a whole disk without a partition table, the files disk
//! ([`VolumeKind::Files`]). A channel's name decides its volume
//! ([`VolumeKind::of_channel`]): a prefix starting with [`FILES_PREFIX`]
//! (`files_shm`) serves the files disk, every other channel the swap
//! partition. Who may reach which disk is the spec's decision: only the
//! components holding a channel's caps can use it, so the swap partition
//! stays the VM server's (and `block-test`'s) and the files disk the file
//! server's. `block` numbers are relative to the channel's volume.
#![cfg_attr(not(test), no_std)]

mod client;
pub mod floor;
pub mod ring;
mod server;
mod window;
pub mod wire;

pub use client::{BlockClient, Notifier, Sel4Notifier};
pub use ring::{ClientEnd, Ring, RingPage, ServerEnd, RING_ENTRIES};
pub use server::{Incoming, ServerChannel};
pub use window::Window;
pub use wire::{CompletionWire, RequestWire};

/// Bytes per block and per data-window buffer (one page).
pub const BLOCK_SIZE: usize = 4096;
/// Most blocks one request may move (128 KiB).
pub const MAX_BLOCKS: u64 = 32;
/// Request flag (test-only): fail the request with [`BlockError::Io`].
pub const FLAG_INJECT_IO_ERROR: u64 = 1;
/// Request flag: on `Read`/`Write`, `buf` names one buffer holding a
/// frame list (`count` little-endian physical page addresses) and the data
/// moves to/from those pages (module docs, "Frame lists"). `Malformed` on
/// `Info`/`Flush`; `Unsupported` on a channel not allowed lists
/// ([`frame_lists_allowed`]).
pub const FLAG_FRAME_LIST: u64 = 2;
/// Every flag bit defined; the others are reserved (must be 0).
pub const FLAGS_ALL: u64 = FLAG_INJECT_IO_ERROR | FLAG_FRAME_LIST;
/// Entries a frame list may hold at most: one buffer of `u64`s (a request
/// uses `count` <= [`MAX_BLOCKS`] of them).
pub const FRAME_LIST_ENTRIES: usize = BLOCK_SIZE / 8;
/// Name suffix of a channel's shared frame object in the spec.
pub const SHM_SUFFIX: &str = "_shm";
/// Name suffix of a channel's completion notification in the spec.
pub const DONE_SUFFIX: &str = "_done";
/// Badge bit of the device interrupts on the server's notification (every
/// disk's IRQ signals it); every other bit is a doorbell.
pub const IRQ_BADGE: u64 = 1;
/// Channel-name prefix of the channels that serve the files disk.
pub const FILES_PREFIX: &str = "files";

/// Whether the channel named `prefix` + [`SHM_SUFFIX`] may send
/// [`FLAG_FRAME_LIST`] requests: only `swap` (`swap_shm`, the VM server's
/// swap channel; the spec gives its caps to the VM server alone).
///
/// A frame list names physical addresses for the disk to read or write.
/// Without an IOMMU the block server can already aim the disk anywhere,
/// so it is trusted with all memory either way; a list hands that aim to
/// the client, and only the VM server, already trusted with every
/// client's memory, may have it. Every other channel (`block-test`'s, the
/// file server's) gets `Unsupported` for the flag.
pub fn frame_lists_allowed(prefix: &str) -> bool {
    prefix == "swap"
}

/// The volumes the server can serve; a channel serves one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VolumeKind {
    /// The first Linux-swap partition of a disk with a GPT.
    Swap,
    /// A whole disk without a partition table (the files disk).
    Files,
}

impl VolumeKind {
    /// Every kind.
    pub const ALL: [VolumeKind; 2] = [VolumeKind::Swap, VolumeKind::Files];

    /// The volume the channel named `prefix` + [`SHM_SUFFIX`] serves.
    pub fn of_channel(prefix: &str) -> VolumeKind {
        if prefix.starts_with(FILES_PREFIX) {
            VolumeKind::Files
        } else {
            VolumeKind::Swap
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            VolumeKind::Swap => "swap",
            VolumeKind::Files => "files",
        }
    }
}

/// An operation number (the `op` word of a request).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Operation {
    Read = 1,
    Write = 2,
    Info = 3,
    Flush = 4,
}

impl Operation {
    /// The operation numbered `n`, if any.
    pub fn from_u64(n: u64) -> Option<Operation> {
        Some(match n {
            1 => Operation::Read,
            2 => Operation::Write,
            3 => Operation::Info,
            4 => Operation::Flush,
            _ => return None,
        })
    }
}

/// Why a request failed: the `status` word of its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum BlockError {
    /// The blocks run past the end of the partition.
    OutOfRange = 1,
    /// The buffers run past the end of the data window.
    BadBuffer = 2,
    /// The device failed the transfer (or a test injected the failure).
    Io = 3,
    /// The submission queue is full (client side): reap completions first.
    Busy = 4,
    /// An unknown operation, a count of 0 or over [`MAX_BLOCKS`], reserved
    /// bits or words not zero.
    Malformed = 5,
    /// The device does not support the operation (e.g. `Flush`).
    Unsupported = 6,
    /// A completion that does not decode, or answers no request in flight
    /// (client side).
    MalformedReply = 7,
}

impl BlockError {
    /// Every error, in code order.
    pub const ALL: [BlockError; 7] = [
        BlockError::OutOfRange,
        BlockError::BadBuffer,
        BlockError::Io,
        BlockError::Busy,
        BlockError::Malformed,
        BlockError::Unsupported,
        BlockError::MalformedReply,
    ];

    /// The wire code (never 0).
    pub fn code(self) -> u64 {
        self as u64
    }

    /// The error with wire code `code`, if any.
    pub fn from_code(code: u64) -> Option<BlockError> {
        BlockError::ALL.into_iter().find(|e| e.code() == code)
    }
}

/// A decoded request: what the client asks, under its tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    /// Chosen by the client; echoed in the completion.
    pub tag: u64,
    pub kind: RequestKind,
    /// [`FLAG_INJECT_IO_ERROR`], [`FLAG_FRAME_LIST`] (transfers only), or 0.
    pub flags: u64,
}

/// The operation and its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// Device blocks `block..block + count` into buffers `buf..buf + count`.
    Read { block: u64, count: u64, buf: u64 },
    /// Buffers `buf..buf + count` to device blocks `block..block + count`.
    Write { block: u64, count: u64, buf: u64 },
    /// The partition's size in blocks.
    Info,
    /// Make completed writes durable.
    Flush,
}

impl RequestKind {
    /// Its operation.
    pub fn operation(&self) -> Operation {
        match self {
            RequestKind::Read { .. } => Operation::Read,
            RequestKind::Write { .. } => Operation::Write,
            RequestKind::Info => Operation::Info,
            RequestKind::Flush => Operation::Flush,
        }
    }

    /// `(block, count, buf)` of a transfer.
    pub fn transfer(&self) -> Option<(u64, u64, u64)> {
        match *self {
            RequestKind::Read { block, count, buf } | RequestKind::Write { block, count, buf } => {
                Some((block, count, buf))
            }
            _ => None,
        }
    }
}

impl Request {
    /// Whether `buf` names a frame list ([`FLAG_FRAME_LIST`]).
    pub fn frame_list(&self) -> bool {
        self.flags & FLAG_FRAME_LIST != 0
    }

    /// Checks a decoded request against the geometry: `blocks` in the
    /// partition, `buffers` in the data window (buffers `buf..buf + count`,
    /// or the one buffer `buf` holding a frame list).
    pub fn check(&self, blocks: u64, buffers: u64) -> Result<(), BlockError> {
        let Some((block, count, buf)) = self.kind.transfer() else {
            return Ok(());
        };
        match block.checked_add(count) {
            Some(end) if end <= blocks => {}
            _ => return Err(BlockError::OutOfRange),
        }
        let window = if self.frame_list() { 1 } else { count };
        match buf.checked_add(window) {
            Some(end) if end <= buffers => Ok(()),
            _ => Err(BlockError::BadBuffer),
        }
    }
}

/// A decoded completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Completion {
    pub tag: u64,
    /// `Ok(value)` (`Info`: the partition size in blocks, else 0) or the
    /// error; for `Io`, `failed_block` says where.
    pub result: Result<u64, BlockError>,
    /// For `Io`: the first block (partition-relative) not transferred.
    pub failed_block: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_choose_the_volume() {
        assert_eq!(VolumeKind::of_channel("swap"), VolumeKind::Swap);
        assert_eq!(VolumeKind::of_channel("test"), VolumeKind::Swap);
        assert_eq!(VolumeKind::of_channel("files"), VolumeKind::Files);
        assert_eq!(VolumeKind::of_channel("files_2"), VolumeKind::Files);
        assert_eq!(VolumeKind::of_channel("myfiles"), VolumeKind::Swap);
        assert_eq!(VolumeKind::of_channel(""), VolumeKind::Swap);
    }

    #[test]
    fn only_the_swap_channel_may_send_frame_lists() {
        assert!(frame_lists_allowed("swap"));
        for other in ["test", "files", "files_2", "swap2", "myswap", "SWAP", ""] {
            assert!(!frame_lists_allowed(other), "{other}");
        }
    }
}
