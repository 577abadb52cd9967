//! The asynchronous block-device boundary between the swap pager and whatever stores the blocks (the block server on seL4, a RAM disk on the host).
//!
//! # Model
//!
//! The real device is another process: the VM server writes a request
//! into a ring shared with the block server and signals a notification;
//! the block server answers later, in any order. So [`BlockDevice::submit`]
//! never blocks — it queues and returns an [`IoTag`] — and completions are
//! collected by [`BlockDevice::poll_completions`] when the server loop sees
//! the device's notification (or on every loop turn on the host).
//!
//! # Data path: device staging buffers
//!
//! Page bytes move through the device's *staging window*: a fixed array
//! of [`BLOCK_SIZE`]-byte buffers, named by [`BufferId`] (buffer index).
//! On seL4 the window is the frames shared between vm-server and
//! block-server (a frame object the system spec maps into both), so the
//! block server reads and writes them directly and a request carries only
//! numbers. The VM server copies a page into the window before a write
//! ([`BlockDevice::buffer_mut`]) and out of it after a read completes
//! ([`BlockDevice::buffer`]): one copy per page, which keeps frame caps
//! out of the block server and lets the pager reuse the frame as soon as
//! the copy is done. Buffers are *caller-owned*: the pager allocates
//! window slots itself (one run of `count` buffers per request); the
//! device only checks that in-flight requests do not share buffers.
//!
//! # Data path: frame lists (zero copy)
//!
//! A device whose [`BlockDevice::frame_lists`] is true also takes
//! *direct* requests: the request's one staging buffer holds its frame
//! list, `count` little-endian `u64` physical addresses (entry `i` is the
//! frame for block `block + i`), and the device moves the data straight
//! to and from those frames. The block server's swap channel is such a
//! device (block-api's `FLAG_FRAME_LIST`); it saves the copy and lets a
//! request use one window buffer instead of `count`, so the window no
//! longer bounds the requests in flight. The caller keeps the frames
//! busy until the completion, as it keeps a staged write's pages.
//!
//! # Quiet completions
//!
//! A device may publish completions without a signal while its owner is
//! awake (the block server's channel does, once asked: block-api's
//! `ring` docs, "Quiet completions"), since the owner polls anyway before
//! it sleeps: the block server takes a read at the doorbell and, polling
//! the disk, finishes it before the VM server's message does. Such a
//! device starts a quiet stretch when it submits, reports it with
//! [`BlockDevice::quiet`], and ends it with [`BlockDevice::end_quiet`],
//! which the owner calls before it sleeps while requests are in flight,
//! and which says whether completions may be waiting unannounced: then
//! the owner polls (and asks again) first. A request in flight is needed
//! for a completion, so with none in flight a stretch may stay on.
//!
//! Caller contract for every implementation: from `submit` until its
//! completion has been polled, the request's buffers belong to the device
//! (do not read a read's buffers or change a write's), and no two in-flight
//! requests may touch the same device block (the pager guarantees this by
//! not freeing a slot while a write to it is in flight).

/// Bytes per device block (one page).
pub const BLOCK_SIZE: usize = 4096;

/// Direction of a transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoOp {
    /// Device blocks -> staging buffers (page-in).
    Read,
    /// Staging buffers -> device blocks (pageout).
    Write,
}

/// Index of the first staging buffer of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BufferId(pub u32);

/// Most frames one frame list names (one buffer of `u64`s).
pub const FRAME_LIST_MAX: u32 = (BLOCK_SIZE / 8) as u32;

/// One transfer: `count` blocks from device block `block`, to or from
/// staging buffers `buf .. buf + count`, or (`direct`) to or from the
/// frames listed in buffer `buf` (module docs, "frame lists").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IoRequest {
    pub op: IoOp,
    pub block: u64,
    pub count: u32,
    pub buf: BufferId,
    pub direct: bool,
}

impl IoRequest {
    /// A transfer through staging buffers `buf .. buf + count`.
    pub fn staged(op: IoOp, block: u64, count: u32, buf: BufferId) -> IoRequest {
        IoRequest {
            op,
            block,
            count,
            buf,
            direct: false,
        }
    }

    /// Staging buffers the request holds while in flight: its list's one,
    /// or one a page.
    pub fn buffers(&self) -> u32 {
        if self.direct {
            1
        } else {
            self.count
        }
    }
}

/// Names a submitted request in its completion; assigned by the device,
/// unique among requests in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IoTag(pub u64);

/// Why `submit` refused a request (nothing was queued).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoError {
    /// `count` is zero.
    Empty,
    /// The blocks run past the end of the device.
    OutOfRange,
    /// The buffers run past the end of the staging window.
    BadBuffer,
    /// A buffer is named by a request still in flight.
    BufferBusy,
    /// The device's queue is full: poll completions and retry.
    QueueFull,
    /// A request in flight touches the same blocks and one of the two is
    /// a write: a caller bug the RAM disk reports (the block server may
    /// not detect it).
    Overlap,
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoStatus {
    /// Every block was transferred.
    Ok,
    /// Block `block` (absolute device block) failed; blocks of the request
    /// before it were transferred, it and those after it were not. A read's
    /// buffers from the failed block on hold garbage.
    Error { block: u64 },
}

/// A finished request, handed back by
/// [`poll_completions`](BlockDevice::poll_completions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IoCompletion {
    pub tag: IoTag,
    pub request: IoRequest,
    pub status: IoStatus,
}

impl IoCompletion {
    /// Whether every block was transferred.
    pub fn is_ok(&self) -> bool {
        self.status == IoStatus::Ok
    }
}

/// An asynchronous block device with a staging window (see the module
/// docs for the model and the buffer contract).
///
/// Used generically (`SwapPager<D: BlockDevice>`), not as a trait object:
/// the server has one device type, and `poll_completions` takes any
/// `Extend` sink (a `Vec`, a `heapless::Vec`) without boxing.
pub trait BlockDevice {
    /// Device size in [`BLOCK_SIZE`] blocks.
    fn block_count(&self) -> u64;

    /// Staging window size in buffers.
    fn buffer_count(&self) -> u32;

    /// Bytes of `count` consecutive staging buffers from `buf` (to copy a
    /// page-in out). Caller contract: in range, and no in-flight request
    /// names them.
    fn buffer(&self, buf: BufferId, count: u32) -> &[u8];

    /// Mutable bytes of `count` staging buffers (to fill a write).
    /// Caller contract: as for [`buffer`](Self::buffer).
    fn buffer_mut(&mut self, buf: BufferId, count: u32) -> &mut [u8];

    /// Queues `req` without blocking and returns its tag.
    fn submit(&mut self, req: IoRequest) -> Result<IoTag, IoError>;

    /// Appends the completions that have arrived to `out` (any order) and
    /// returns how many; never blocks.
    fn poll_completions(&mut self, out: &mut impl Extend<IoCompletion>) -> usize;

    /// Requests submitted and not yet handed back.
    fn in_flight(&self) -> usize;

    /// Whether the device takes direct requests (module docs, "frame
    /// lists"). The default: it does not.
    fn frame_lists(&self) -> bool {
        false
    }

    /// Writes frame list `frames` into staging buffer `buf` for a direct
    /// request, in the device's list layout. The default: little-endian
    /// `u64`s from the buffer's start (the RAM disk's; the block server's
    /// is block-api's, which `SwapDisk` writes with block-api's encoder).
    /// Caller contract: as for [`buffer_mut`](Self::buffer_mut), and
    /// `frames.len()` ≤ [`FRAME_LIST_MAX`].
    fn write_frame_list(&mut self, buf: BufferId, frames: &[u64]) {
        let list = self.buffer_mut(buf, 1);
        for (entry, &a) in list.chunks_exact_mut(8).zip(frames) {
            entry.copy_from_slice(&a.to_le_bytes());
        }
    }

    /// The physical address a frame list names for the VM's frame number
    /// `frame`, if the device reaches it (`None` by default, and for
    /// frames a direct transfer must not touch).
    fn frame_address(&self, frame: u32) -> Option<u64> {
        let _ = frame;
        None
    }

    /// Blocks until a request in flight may have completed (it may return
    /// early); for callers that must wait for I/O. The default returns at
    /// once, so such callers poll. Caller contract: a request is in flight.
    /// A held doorbell ([`hold_doorbell`](Self::hold_doorbell)) is rung
    /// first: a request the device was not told of would never complete.
    fn wait_for_completion(&mut self) {}

    /// True while completions are published without a signal (module
    /// docs, "Quiet completions"): one polled now left no signal to clear.
    /// The default: every completion is signalled.
    fn quiet(&self) -> bool {
        false
    }

    /// Ends a quiet stretch, if one is on: completions are signalled again
    /// from here on. True if completions may be waiting that no signal
    /// announces; the caller polls them before it sleeps. The default:
    /// never quiet.
    fn end_quiet(&mut self) -> bool {
        false
    }

    /// Holds the doorbell: requests submitted from now on are queued, and
    /// the device is told of them together by
    /// [`release_doorbell`](Self::release_doorbell), so a pageout pass's
    /// writes reach it at once and are in flight together. The default:
    /// no doorbell to hold.
    fn hold_doorbell(&mut self) {}

    /// Rings the doorbell held since [`hold_doorbell`](Self::hold_doorbell)
    /// if a request was queued meanwhile, and stops holding it.
    fn release_doorbell(&mut self) {}
}

/// Checks a request against a device's geometry (shared by
/// implementations): the cheap refusals `submit` must make first. A
/// direct request's addresses are the device's to check.
pub fn validate(req: &IoRequest, block_count: u64, buffer_count: u32) -> Result<(), IoError> {
    if req.count == 0 {
        return Err(IoError::Empty);
    }
    if req.direct && req.count > FRAME_LIST_MAX {
        return Err(IoError::BadBuffer);
    }
    match req.block.checked_add(u64::from(req.count)) {
        Some(end) if end <= block_count => {}
        _ => return Err(IoError::OutOfRange),
    }
    match req.buf.0.checked_add(req.buffers()) {
        Some(end) if end <= buffer_count => Ok(()),
        _ => Err(IoError::BadBuffer),
    }
}
