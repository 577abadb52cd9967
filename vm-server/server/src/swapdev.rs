//! The swap device: the block server's swap partition, reached over a
//! `block-api` channel, as the VM core's `BlockDevice`.
//!
//! The device takes frame lists (block-api's `FLAG_FRAME_LIST`): a page
//! moves by DMA straight between the disk and its pool frame, and a
//! request holds one window buffer, its list, so the window no longer
//! bounds the requests in flight. The block server honours lists only on
//! this channel (`block_api::frame_lists_allowed`): without an IOMMU it
//! can make the disk write any physical address anyway, and the VM
//! server, which now aims it, already holds every client's memory. The
//! window's staging path stays for requests naming a frame without an
//! address (none today). Completions arrive as a signal on the server's
//! bound notification; the server then calls `Vm::swap_poll`.
//!
//! Quiet completions (vm-swap's `device` docs; block-api's
//! `BlockClient::quiet_completions`; [`QUIET_COMPLETIONS`]): a submit
//! starts a quiet stretch, in which the block server publishes
//! completions without signalling, as the server polls before it sleeps
//! anyway. The server ends it before it
//! sleeps with requests in flight (`Vm::swap_completions_pending`), and
//! `BlockClient::wait` ends it before it waits here. In bench.spec the
//! block server, polling the disk at a higher priority, finishes a
//! page-in's read at the doorbell, and the fault takes it with no
//! signal, no `Poll` to clear one and no second look
//! (docs/performance.md, "Quiet completions").
//!
//! Not the whole partition: block 0 is the Linux `SWAPSPACE2` header page,
//! and the system test of the raw device (`clients/block-test`) writes the
//! first 32 MiB and the last block while the system runs. The swap area is
//! what lies between [`RESERVED_LOW`] and the last block.

use crate::frames::FrameAddresses;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use block_api::{
    BlockClient, BlockError, RequestKind, Sel4Notifier, FLAG_FRAME_LIST, FLAG_INJECT_IO_ERROR,
};
use core::sync::atomic::{AtomicU64, Ordering};
use vm_swap::device::{
    BlockDevice, BufferId, IoCompletion, IoError, IoOp, IoRequest, IoStatus, IoTag,
};

/// Blocks at the start of the partition the pager never uses: the header
/// page and block-test's area (64 MiB, twice what it writes).
pub const RESERVED_LOW: u64 = 16384;
/// Blocks at the end the pager never uses (block-test's bounds check).
const RESERVED_HIGH: u64 = 1;
/// Whether the swap channel asks for quiet completions (off from
/// fa4b0ba until the fix of the hang they exposed, 48aa490, was borne
/// out by boots in a loop: docs/performance.md, "The hang").
const QUIET_COMPLETIONS: bool = true;

/// The swap partition as a `BlockDevice`. Owned by the server's loop.
pub struct SwapDisk {
    client: BlockClient<Sel4Notifier>,
    blocks: u64,
    /// What each tag in flight asked for (completions carry only the tag).
    in_flight: BTreeMap<u64, IoRequest>,
    /// Where each pool frame is, for frame lists.
    frames: FrameAddresses,
    /// The doorbell is held (`hold_doorbell`), and a request was queued
    /// meanwhile.
    held: bool,
    unrung: bool,
    /// Test hook: the next read is sent with `FLAG_INJECT_IO_ERROR`, so
    /// the block server fails it (the server arms it for one client).
    pub fail_next_read: bool,
}

impl SwapDisk {
    /// Opens the channel mapped at `base` with `buffers` data pages.
    ///
    /// # Safety
    /// `base` maps the channel's ring page and `buffers` pages after it,
    /// read-write, for the server's lifetime, shared only with the block server.
    /// `bell` rings the block server; its `done` notification is waited on
    /// directly only here (the `info` query at start-up).
    pub unsafe fn open(
        base: *mut u8,
        buffers: u64,
        bell: Sel4Notifier,
        frames: FrameAddresses,
    ) -> Result<SwapDisk, String> {
        // SAFETY: the caller's contract.
        let mut client = unsafe { BlockClient::new(base, buffers, bell) };
        let blocks = client
            .info()
            .map_err(|e| format!("swap partition info: {e:?}"))?;
        if blocks <= RESERVED_LOW + RESERVED_HIGH {
            return Err(format!("swap partition of {blocks} blocks is too small"));
        }
        client.quiet_completions(QUIET_COMPLETIONS);
        Ok(SwapDisk {
            client,
            blocks: blocks - RESERVED_LOW - RESERVED_HIGH,
            in_flight: BTreeMap::new(),
            frames,
            held: false,
            unrung: false,
            fail_next_read: false,
        })
    }
}

/// Doorbells rung on the block server and the TSC cycles they took
/// (`Stats`' `swap_doorbells`, `swap_doorbell_cycles`). Relaxed:
/// counters of the server's one thread, as `sel4::invocations`.
static DOORBELLS: AtomicU64 = AtomicU64::new(0);
static DOORBELL_CYCLES: AtomicU64 = AtomicU64::new(0);

/// Doorbells rung since the server started, and the cycles in them.
pub fn doorbells() -> (u64, u64) {
    (
        DOORBELLS.load(Ordering::Relaxed),
        DOORBELL_CYCLES.load(Ordering::Relaxed),
    )
}

impl SwapDisk {
    /// Rings the doorbell if a request was queued while it was held.
    fn ring(&mut self) {
        if core::mem::take(&mut self.unrung) {
            self.kick();
        }
    }

    /// Rings the block server's doorbell, timing the ring: at a higher
    /// priority the block server runs inside it.
    fn kick(&mut self) {
        let t0 = crate::rdtsc();
        self.client.kick();
        DOORBELL_CYCLES.fetch_add(crate::rdtsc().wrapping_sub(t0), Ordering::Relaxed);
        DOORBELLS.fetch_add(1, Ordering::Relaxed);
    }
}

impl BlockDevice for SwapDisk {
    fn block_count(&self) -> u64 {
        self.blocks
    }

    fn buffer_count(&self) -> u32 {
        self.client.buffers() as u32
    }

    fn buffer(&self, buf: BufferId, count: u32) -> &[u8] {
        self.client.buffer(buf.0 as u64, count as u64)
    }

    fn buffer_mut(&mut self, buf: BufferId, count: u32) -> &mut [u8] {
        self.client.buffer_mut(buf.0 as u64, count as u64)
    }

    fn submit(&mut self, req: IoRequest) -> Result<IoTag, IoError> {
        vm_swap::device::validate(&req, self.blocks, self.buffer_count())?;
        let (block, count, buf) = (req.block + RESERVED_LOW, req.count as u64, req.buf.0 as u64);
        let kind = match req.op {
            IoOp::Read => RequestKind::Read { block, count, buf },
            IoOp::Write => RequestKind::Write { block, count, buf },
        };
        let inject = req.op == IoOp::Read && self.fail_next_read;
        let flags = if inject { FLAG_INJECT_IO_ERROR } else { 0 }
            | if req.direct { FLAG_FRAME_LIST } else { 0 };
        let tag = self.client.submit(kind, flags).map_err(|e| match e {
            BlockError::Busy => IoError::QueueFull,
            BlockError::OutOfRange => IoError::OutOfRange,
            _ => IoError::BadBuffer,
        })?;
        // Used up only by a read that was really sent.
        self.fail_next_read &= !inject;
        if self.held {
            self.unrung = true;
        } else {
            self.kick();
        }
        self.in_flight.insert(tag, req);
        Ok(IoTag(tag))
    }

    fn poll_completions(&mut self, out: &mut impl Extend<IoCompletion>) -> usize {
        let mut n = 0;
        while let Some(c) = self.client.poll() {
            let Some(request) = self.in_flight.remove(&c.tag) else {
                continue;
            };
            let status = match c.result {
                Ok(_) => IoStatus::Ok,
                Err(_) => IoStatus::Error {
                    block: c.failed_block.saturating_sub(RESERVED_LOW),
                },
            };
            out.extend(core::iter::once(IoCompletion {
                tag: IoTag(c.tag),
                request,
                status,
            }));
            n += 1;
        }
        n
    }

    fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn frame_lists(&self) -> bool {
        true
    }

    fn write_frame_list(&mut self, buf: BufferId, frames: &[u64]) {
        self.client.write_frame_list(u64::from(buf.0), frames);
    }

    fn frame_address(&self, frame: u32) -> Option<u64> {
        self.frames.get(frame)
    }

    /// Waits on the channel's completion notification (bound to the
    /// server's TCB; a `Wait` on it directly is allowed), unless
    /// completions are waiting already. The quiet stretch ends first
    /// (`BlockClient::wait`), so the block server signals what comes after
    /// and none is missed; the server loop learns of what this took from
    /// `Vm::swap_completions_pending`.
    fn wait_for_completion(&mut self) {
        self.ring();
        self.client.wait();
    }

    fn quiet(&self) -> bool {
        self.client.quiet()
    }

    fn end_quiet(&mut self) -> bool {
        self.client.end_quiet()
    }

    fn hold_doorbell(&mut self) {
        self.held = true;
    }

    fn release_doorbell(&mut self) {
        self.held = false;
        self.ring();
    }
}
