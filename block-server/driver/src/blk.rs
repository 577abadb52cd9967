//! virtio-blk: the device brought up over the legacy transport, and its
//! requests. A request is one chain: a 16-byte header (type, sector), the
//! data segments (device-writable for a read), and a status byte the
//! device writes last. Header and status live in the queue's region,
//! indexed by the chain's head descriptor; the caller's token for the
//! request is kept by head too, and comes back with the completion.
//!
//! When the device offers `VIRTIO_RING_F_INDIRECT_DESC` (QEMU's legacy
//! virtio-blk does) and the queue is long enough for the longest chain
//! ([`TABLE_ENTRIES`]), the chain goes into the head's indirect table and
//! takes one descriptor of the ring ([`crate::queue`] has the layout).
//! Why: the VM server's zero-copy swap path sends frame lists of
//! scattered pool frames, so a 32-page request is 34 descriptors, and
//! direct chains let only 7 such requests into QEMU's 256-entry ring;
//! with indirect tables a request takes one ring slot, whatever its
//! segments, and up to the queue's size are in flight.
//! [`Disk::ring_slots_for`] says which (1, or [`Disk::descriptors_for`]);
//! without the feature the chains are direct, exactly as before.

use crate::queue::{Buffer, Layout, QueueError, Segment, SplitQueue};
use crate::virtio::{self, Features, Legacy, VirtioError, BLK_F_FLUSH, RING_F_INDIRECT_DESC};
use crate::{DmaMemory, PortIo, SECTOR};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub const BLK_T_IN: u32 = 0;
pub const BLK_T_OUT: u32 = 1;
pub const BLK_T_FLUSH: u32 = 4;
pub const BLK_S_OK: u8 = 0;
pub const BLK_S_IOERR: u8 = 1;
pub const BLK_S_UNSUPP: u8 = 2;
/// What we put in the status byte before the device writes it.
pub const STATUS_UNWRITTEN: u8 = 0xff;
/// Most data segments of one request: each block of a block-api request
/// may sit anywhere in physical memory.
pub const MAX_SEGMENTS: usize = block_api::MAX_BLOCKS as usize;
/// Descriptors of the longest request (header, [`MAX_SEGMENTS`] data
/// segments, status): the size of each indirect table.
pub const TABLE_ENTRIES: usize = MAX_SEGMENTS + 2;

/// A virtio-blk request type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlkOp {
    /// Device to memory.
    Read,
    /// Memory to device.
    Write,
    /// Make completed writes durable (needs `VIRTIO_BLK_F_FLUSH`).
    Flush,
}

impl BlkOp {
    /// The header's `type` word.
    pub fn code(self) -> u32 {
        match self {
            BlkOp::Read => BLK_T_IN,
            BlkOp::Write => BLK_T_OUT,
            BlkOp::Flush => BLK_T_FLUSH,
        }
    }
}

/// Why a disk operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// Bring-up: the transport refused.
    Virtio(VirtioError),
    /// Bring-up: the caller could not allocate the queue memory.
    Dma(String),
    /// Bring-up: the memory given is smaller than the layout needs.
    DmaTooSmall { need: usize, have: usize },
    /// The queue refused the chain (full) or the device broke its rules.
    Queue(QueueError),
    /// More data segments than one request may carry.
    TooManySegments(usize),
    /// Synchronous reads need an idle queue.
    Busy,
    /// A synchronous read longer than the bounce area or not whole sectors.
    BadLength(usize),
    /// The device answered with this status byte.
    Failed { sector: u64, status: u8 },
    /// The caller's wait gave up before the device answered.
    TimedOut { sector: u64 },
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskError::Virtio(e) => write!(f, "{e}"),
            DiskError::Dma(e) => write!(f, "queue memory: {e}"),
            DiskError::DmaTooSmall { need, have } => {
                write!(f, "queue memory: {have} bytes, need {need}")
            }
            DiskError::Queue(e) => write!(f, "{e}"),
            DiskError::TooManySegments(n) => write!(f, "{n} data segments in one request"),
            DiskError::Busy => write!(f, "requests in flight"),
            DiskError::BadLength(n) => write!(f, "synchronous read of {n} bytes"),
            DiskError::Failed { sector, status } => {
                write!(f, "device read of sector {sector} failed (status {status})")
            }
            DiskError::TimedOut { sector } => write!(f, "no answer for sector {sector}"),
        }
    }
}

impl From<VirtioError> for DiskError {
    fn from(e: VirtioError) -> DiskError {
        DiskError::Virtio(e)
    }
}

impl From<QueueError> for DiskError {
    fn from(e: QueueError) -> DiskError {
        DiskError::Queue(e)
    }
}

/// A finished request: the caller's token and the device's status byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Done<T> {
    pub token: T,
    pub status: u8,
}

impl<T> Done<T> {
    /// Whether the device reported success.
    pub fn ok(&self) -> bool {
        self.status == BLK_S_OK
    }
}

/// A virtio-blk device with queue 0 running; `T` is what the caller
/// wants back with each completion.
///
/// Locking note: owned by the server's single thread.
#[derive(Debug)]
pub struct Disk<P, M, T> {
    regs: Legacy<P>,
    queue: SplitQueue<M>,
    tokens: Vec<Option<T>>,
    features: u32,
    /// Requests go in indirect tables (one ring descriptor each).
    indirect: bool,
    capacity: u64,
}

impl<P: PortIo, M: DmaMemory, T> Disk<P, M, T> {
    /// Resets and negotiates (`want`), asks `alloc` for the queue memory
    /// (physically contiguous, page aligned, zeroed, at least the bytes it
    /// is given), hands it to the device and sets DRIVER_OK.
    ///
    /// With `VIRTIO_RING_F_INDIRECT_DESC` negotiated and a queue of at
    /// least [`TABLE_ENTRIES`] entries (the spec bounds every chain,
    /// indirect ones too, by the queue size) the memory includes an
    /// indirect table per descriptor: [`TABLE_ENTRIES`] x 16 bytes each,
    /// 136 KiB for QEMU's 256 entries (160 KiB in all, against 24 KiB
    /// without).
    pub fn bring_up(
        regs: Legacy<P>,
        want: Features,
        alloc: impl FnOnce(usize) -> Result<M, String>,
    ) -> Result<Self, DiskError> {
        let n = virtio::negotiate(&regs, want)?;
        let indirect =
            n.features & RING_F_INDIRECT_DESC != 0 && n.queue_size as usize >= TABLE_ENTRIES;
        let layout = if indirect {
            Layout::with_tables(n.queue_size, TABLE_ENTRIES as u16)
        } else {
            Layout::new(n.queue_size)
        };
        let fail = |e| {
            regs.set_status(virtio::STATUS_FAILED);
            e
        };
        let mem = alloc(layout.bytes).map_err(|e| fail(DiskError::Dma(e)))?;
        if mem.len() < layout.bytes {
            return Err(fail(DiskError::DmaTooSmall {
                need: layout.bytes,
                have: mem.len(),
            }));
        }
        virtio::start(&regs, mem.phys())?;
        Ok(Disk {
            regs,
            queue: SplitQueue::new(mem, layout),
            tokens: (0..n.queue_size).map(|_| None).collect(),
            features: n.features,
            indirect,
            capacity: n.capacity,
        })
    }

    /// Capacity in 512-byte sectors.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether FLUSH was negotiated.
    pub fn flush_supported(&self) -> bool {
        self.features & BLK_F_FLUSH != 0
    }

    /// The negotiated feature bits.
    pub fn features(&self) -> u32 {
        self.features
    }

    /// Whether requests go in indirect tables (one ring descriptor each).
    pub fn indirect(&self) -> bool {
        self.indirect
    }

    pub fn queue_size(&self) -> u16 {
        self.queue.layout().size
    }

    /// Physical address of the queue region.
    pub fn queue_phys(&self) -> u64 {
        self.queue.memory().phys()
    }

    /// Physical addresses of the whole queue region (descriptor table,
    /// rings, request headers, status bytes, indirect tables, bounce
    /// page): memory no client may aim the device at.
    pub fn queue_range(&self) -> core::ops::Range<u64> {
        let m = self.queue.memory();
        m.phys()..m.phys() + m.len() as u64
    }

    /// Free descriptors of the ring (compare with
    /// [`ring_slots_for`](Self::ring_slots_for)).
    pub fn free_descriptors(&self) -> usize {
        self.queue.free_descriptors()
    }

    /// Requests submitted and not reaped.
    pub fn in_flight(&self) -> usize {
        self.queue.in_flight()
    }

    /// The device's registers.
    pub fn regs(&self) -> &Legacy<P> {
        &self.regs
    }

    /// Reads the ISR (lowering the interrupt line).
    pub fn isr(&self) -> u8 {
        self.regs.isr()
    }

    /// Tells the device queue 0 has new requests.
    pub fn notify(&self) {
        self.regs.notify(0)
    }

    /// Descriptors of a request with `segments` data segments: header,
    /// one per segment, status; in the ring, or in its indirect table
    /// (at most [`TABLE_ENTRIES`]).
    pub fn descriptors_for(segments: usize) -> usize {
        segments + 2
    }

    /// Descriptors of the ring a request with `segments` data segments
    /// takes: 1 with indirect tables, else
    /// [`descriptors_for`](Self::descriptors_for).
    pub fn ring_slots_for(&self, segments: usize) -> usize {
        if self.indirect {
            1
        } else {
            Self::descriptors_for(segments)
        }
    }

    /// Queues `op` at `sector` over `data` (none for a flush); `token`
    /// comes back from [`reap`](Self::reap). Does not notify.
    pub fn submit(
        &mut self,
        op: BlkOp,
        sector: u64,
        data: &[Segment],
        token: T,
    ) -> Result<u16, DiskError> {
        let head = self.submit_chain(op, sector, data)?;
        self.tokens[head as usize] = Some(token);
        Ok(head)
    }

    fn submit_chain(&mut self, op: BlkOp, sector: u64, data: &[Segment]) -> Result<u16, DiskError> {
        if data.len() > MAX_SEGMENTS {
            return Err(DiskError::TooManySegments(data.len()));
        }
        let need = self.ring_slots_for(data.len());
        let free = self.queue.free_descriptors();
        let head = match self.queue.next_head() {
            Some(h) if need <= free => h,
            _ => return Err(QueueError::Full { need, free }.into()),
        };
        let layout = *self.queue.layout();
        let mem = self.queue.memory();
        let hdr = layout.headers + 16 * head as usize;
        mem.write32(hdr, op.code());
        mem.write32(hdr + 4, 0);
        mem.write64(hdr + 8, sector);
        let status = layout.status + head as usize;
        mem.write8(status, STATUS_UNWRITTEN);
        let phys = mem.phys();
        let mut bufs = [Buffer {
            phys: 0,
            len: 0,
            device_writes: false,
        }; MAX_SEGMENTS + 2];
        bufs[0] = Buffer {
            phys: phys + hdr as u64,
            len: 16,
            device_writes: false,
        };
        for (k, s) in data.iter().enumerate() {
            bufs[k + 1] = Buffer {
                phys: s.phys,
                len: s.len,
                device_writes: op == BlkOp::Read,
            };
        }
        let n = Self::descriptors_for(data.len());
        bufs[n - 1] = Buffer {
            phys: phys + status as u64,
            len: 1,
            device_writes: true,
        };
        let got = if self.indirect {
            self.queue.submit_indirect(&bufs[..n])?
        } else {
            self.queue.submit(&bufs[..n])?
        };
        debug_assert_eq!(got, head);
        Ok(head)
    }

    /// The next finished request; `None` when there is none. A used-ring
    /// entry that answers no request of ours is reported as an error and
    /// skipped.
    pub fn reap(&mut self) -> Option<Result<Done<T>, QueueError>> {
        loop {
            let used = match self.queue.reap()? {
                Ok(u) => u,
                Err(e) => return Some(Err(e)),
            };
            let status = self
                .queue
                .memory()
                .read8(self.queue.layout().status + used.head as usize);
            match self.tokens[used.head as usize].take() {
                Some(token) => return Some(Ok(Done { token, status })),
                // A synchronous read's chain: nobody waits for it any more.
                None => continue,
            }
        }
    }

    /// Reads `out.len()` bytes (whole sectors, at most a page) from
    /// `sector` through the bounce area and waits for them, calling `wait`
    /// between polls of the used ring; `wait` returning false gives up.
    /// For start-up only: no other request may be in flight.
    pub fn read_sync(
        &mut self,
        sector: u64,
        out: &mut [u8],
        mut wait: impl FnMut() -> bool,
    ) -> Result<(), DiskError> {
        if self.in_flight() > 0 {
            return Err(DiskError::Busy);
        }
        let len = out.len();
        if len == 0 || len > crate::queue::BOUNCE_BYTES || !(len as u64).is_multiple_of(SECTOR) {
            return Err(DiskError::BadLength(len));
        }
        let layout = *self.queue.layout();
        let seg = Segment {
            phys: self.queue.memory().phys() + layout.bounce as u64,
            len: len as u32,
        };
        let head = self.submit_chain(BlkOp::Read, sector, &[seg])?;
        self.notify();
        loop {
            match self.queue.reap() {
                Some(Ok(u)) if u.head == head => break,
                Some(_) => continue,
                None => {
                    if !wait() {
                        return Err(DiskError::TimedOut { sector });
                    }
                }
            }
        }
        let status = self.queue.memory().read8(layout.status + head as usize);
        if status != BLK_S_OK {
            return Err(DiskError::Failed { sector, status });
        }
        self.queue.memory().read_bytes(layout.bounce, out);
        Ok(())
    }
}
