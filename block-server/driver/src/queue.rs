//! The split virtqueue (virtio 1.x section 2.7, legacy layout): the
//! descriptor table, the available ring the driver fills and the used
//! ring the device fills, in one [`DmaMemory`] region.
//!
//! ```text
//! 0                      descriptor table: size x 16 B (addr u64, len u32, flags u16, next u16)
//! avail = 16 * size      available ring: flags u16, idx u16, ring[size] u16, used_event u16
//! used  (next 4 KiB)     used ring: flags u16, idx u16, ring[size] {id u32, len u32}, avail_event u16
//! headers (next 4 KiB)   our request headers, 16 B per descriptor (indexed by head)
//! status                 our status bytes, 1 B per descriptor (indexed by head)
//! tables (next 4 KiB)    indirect tables, table_entries x 16 B per descriptor (indexed by
//!                        head); none without VIRTIO_RING_F_INDIRECT_DESC (then tables = bounce)
//! bounce (next 4 KiB)    one page for start-up reads (the GPT)
//! ```
//!
//! The legacy interface names the queue by one page frame number and
//! assumes the used ring on the next 4 KiB boundary, hence one physically
//! contiguous region. The driver keeps its own copy of every chain it
//! hands out (free list, links, chain lengths): it never follows links
//! read back from shared memory, and a used-ring entry naming a descriptor
//! that is not the head of a chain in flight is reported, not obeyed.
//!
//! **Indirect tables** (`VIRTIO_RING_F_INDIRECT_DESC`, virtio 1.x section
//! 2.7.5.3). A request's buffers may each sit anywhere in memory (the
//! VM server's zero-copy swap path sends scattered pool frames), so a
//! 32-page request is a 34-descriptor chain, and only 7 such chains fit
//! in the 256 descriptors QEMU offers. With a [`Layout::with_tables`]
//! layout, [`SplitQueue::submit_indirect`] writes the chain into the
//! head's own table instead (descriptors linked by index within the
//! table, `VIRTQ_DESC_F_NEXT` as usual) and puts ONE descriptor in the
//! ring: `VIRTQ_DESC_F_INDIRECT`, the table's address, `len` = 16 x the
//! chain's length. A request then takes one ring slot whatever its
//! segments, and as many requests as the queue has entries fit in
//! flight. Every descriptor can be a head, so every one has a table; the
//! table is the driver's, like the header and status byte, and reused
//! once its head is reaped. The device still names the chain by its head
//! in the used ring, so reaping is the same for both kinds of chain.

use crate::DmaMemory;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{fence, Ordering};

pub const DESC_F_NEXT: u16 = 1;
pub const DESC_F_WRITE: u16 = 2;
/// The descriptor names an indirect table (`VIRTQ_DESC_F_INDIRECT`).
pub const DESC_F_INDIRECT: u16 = 4;
/// Bytes of one descriptor, in the ring or in an indirect table.
pub const DESC_BYTES: usize = 16;

/// Byte offsets of a queue of `size` entries and our per-descriptor areas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub size: u16,
    pub avail: usize,
    pub used: usize,
    pub headers: usize,
    pub status: usize,
    /// Indirect tables: `table_entries` descriptors per descriptor of the
    /// ring, indexed by head (an empty range without them).
    pub tables: usize,
    /// Descriptors in each indirect table; 0 without them.
    pub table_entries: u16,
    pub bounce: usize,
    /// Bytes of the whole region (through the bounce page).
    pub bytes: usize,
}

/// Bytes of the bounce area.
pub const BOUNCE_BYTES: usize = 4096;

impl Layout {
    /// A queue of `size` entries without indirect tables (direct chains).
    pub fn new(size: u16) -> Layout {
        Layout::with_tables(size, 0)
    }

    /// A queue of `size` entries with an indirect table of `table_entries`
    /// descriptors for each of them (none if 0: then the same as
    /// [`new`](Self::new)).
    pub fn with_tables(size: u16, table_entries: u16) -> Layout {
        let q = size as usize;
        let avail = DESC_BYTES * q;
        let used = (avail + 6 + 2 * q).next_multiple_of(4096);
        let headers = (used + 6 + 8 * q).next_multiple_of(4096);
        let status = headers + 16 * q;
        let tables = (status + q).next_multiple_of(4096);
        let bounce = (tables + DESC_BYTES * table_entries as usize * q).next_multiple_of(4096);
        Layout {
            size,
            avail,
            used,
            headers,
            status,
            tables,
            table_entries,
            bounce,
            bytes: bounce + BOUNCE_BYTES,
        }
    }

    /// Whether the layout has indirect tables.
    pub fn indirect(&self) -> bool {
        self.table_entries > 0
    }

    /// Offset of the indirect table of head `i`.
    pub fn table(&self, i: u16) -> usize {
        self.tables + DESC_BYTES * self.table_entries as usize * i as usize
    }

    /// Offset of descriptor `i`.
    pub fn desc(&self, i: u16) -> usize {
        DESC_BYTES * i as usize
    }

    /// Offset of available-ring slot `i` (taken modulo the size).
    pub fn avail_slot(&self, i: u16) -> usize {
        self.avail + 4 + 2 * (i % self.size) as usize
    }

    /// Offset of used-ring element `i` (taken modulo the size).
    pub fn used_elem(&self, i: u16) -> usize {
        self.used + 4 + 8 * (i % self.size) as usize
    }
}

/// One buffer of a chain: where, how long, and who writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    pub phys: u64,
    pub len: u32,
    /// The device writes it (a read's data, a status byte).
    pub device_writes: bool,
}

/// One physically contiguous piece of a request's data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub phys: u64,
    pub len: u32,
}

/// A finished chain from the used ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used {
    pub head: u16,
    /// Bytes the device says it wrote.
    pub len: u32,
}

/// What went wrong with the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// A chain of `need` descriptors does not fit in the `free` ones.
    Full { need: usize, free: usize },
    /// An empty chain.
    Empty,
    /// A chain of `need` descriptors is longer than an indirect table
    /// (`max` descriptors; 0 when the queue has none).
    TooLong { need: usize, max: usize },
    /// The used ring named `id`, which is not the head of a chain in
    /// flight; the entry was skipped.
    BadUsedId(u32),
    /// The device moved the used index from `ours` to `theirs`, more than
    /// the queue holds; we resynchronised to it.
    UsedIndex { ours: u16, theirs: u16 },
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QueueError::Full { need, free } => {
                write!(f, "queue full: {need} descriptors needed, {free} free")
            }
            QueueError::Empty => write!(f, "empty chain"),
            QueueError::TooLong { need, max } => {
                write!(f, "chain of {need} descriptors, indirect tables hold {max}")
            }
            QueueError::BadUsedId(id) => {
                write!(f, "used ring names descriptor {id}, not a chain in flight")
            }
            QueueError::UsedIndex { ours, theirs } => {
                write!(f, "used index jumped from {ours} to {theirs}")
            }
        }
    }
}

/// The driver's side of one split virtqueue.
///
/// Locking note: owned by the server's single thread; the device is the
/// only other party and touches only the shared region.
#[derive(Debug)]
pub struct SplitQueue<M> {
    mem: M,
    layout: Layout,
    /// Free descriptors (a stack).
    free: Vec<u16>,
    /// Our copy of each descriptor's link.
    next: Vec<u16>,
    /// Ring descriptors in the chain headed by each index (1 for an
    /// indirect chain); 0 if it heads none.
    chain: Vec<u16>,
    in_flight: usize,
    avail_idx: u16,
    last_used: u16,
}

impl<M: DmaMemory> SplitQueue<M> {
    /// A queue over `mem`, which holds at least `layout.bytes` zeroed bytes
    /// (checked by the caller, [`crate::Disk::bring_up`]).
    pub fn new(mem: M, layout: Layout) -> SplitQueue<M> {
        let q = layout.size as usize;
        SplitQueue {
            mem,
            layout,
            free: (0..layout.size).rev().collect(),
            next: vec![0; q],
            chain: vec![0; q],
            in_flight: 0,
            avail_idx: 0,
            last_used: 0,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The shared region.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// Free descriptors of the ring (an indirect chain takes one).
    pub fn free_descriptors(&self) -> usize {
        self.free.len()
    }

    /// Chains handed to the device and not yet reaped.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The descriptor the next [`submit`](Self::submit) or
    /// [`submit_indirect`](Self::submit_indirect) will use as its head
    /// (so per-request areas indexed by head can be filled first).
    pub fn next_head(&self) -> Option<u16> {
        self.free.last().copied()
    }

    /// Writes `bufs` as one chain of ring descriptors (a direct chain)
    /// and publishes its head in the available ring; returns the head
    /// (which names the chain in the used ring).
    /// The caller notifies the device.
    pub fn submit(&mut self, bufs: &[Buffer]) -> Result<u16, QueueError> {
        let need = bufs.len();
        if need == 0 {
            return Err(QueueError::Empty);
        }
        if need > self.free.len() {
            return Err(QueueError::Full {
                need,
                free: self.free.len(),
            });
        }
        let head = self.free.pop().unwrap_or(0);
        let mut id = head;
        for (k, b) in bufs.iter().enumerate() {
            let last = k + 1 == need;
            let next = if last {
                0
            } else {
                self.free.pop().unwrap_or(0)
            };
            let flags =
                if b.device_writes { DESC_F_WRITE } else { 0 } | if last { 0 } else { DESC_F_NEXT };
            let off = self.layout.desc(id);
            self.mem.write64(off, b.phys);
            self.mem.write32(off + 8, b.len);
            self.mem.write16(off + 12, flags);
            self.mem.write16(off + 14, next);
            self.next[id as usize] = next;
            id = next;
        }
        self.chain[head as usize] = need as u16;
        self.publish(head);
        Ok(head)
    }

    /// Writes `bufs` as one chain into the indirect table of a free
    /// descriptor, makes that descriptor point at the table
    /// (`VIRTQ_DESC_F_INDIRECT`, `len` = 16 x `bufs.len()`) and publishes
    /// it in the available ring; returns it (the head the used ring will
    /// name). Takes one descriptor of the ring whatever the chain's
    /// length, which is at most [`Layout::table_entries`]. The caller
    /// negotiated `VIRTIO_RING_F_INDIRECT_DESC` and notifies the device.
    pub fn submit_indirect(&mut self, bufs: &[Buffer]) -> Result<u16, QueueError> {
        let need = bufs.len();
        let max = self.layout.table_entries as usize;
        if need == 0 {
            return Err(QueueError::Empty);
        }
        if need > max {
            return Err(QueueError::TooLong { need, max });
        }
        let Some(head) = self.free.pop() else {
            return Err(QueueError::Full { need: 1, free: 0 });
        };
        let table = self.layout.table(head);
        for (k, b) in bufs.iter().enumerate() {
            let last = k + 1 == need;
            // Links are indices into the table, not the ring.
            let next = if last { 0 } else { k as u16 + 1 };
            let flags =
                if b.device_writes { DESC_F_WRITE } else { 0 } | if last { 0 } else { DESC_F_NEXT };
            let off = table + DESC_BYTES * k;
            self.mem.write64(off, b.phys);
            self.mem.write32(off + 8, b.len);
            self.mem.write16(off + 12, flags);
            self.mem.write16(off + 14, next);
        }
        // Neither NEXT (the spec forbids it beside INDIRECT) nor WRITE
        // (the device ignores it here).
        let off = self.layout.desc(head);
        self.mem.write64(off, self.mem.phys() + table as u64);
        self.mem.write32(off + 8, (DESC_BYTES * need) as u32);
        self.mem.write16(off + 12, DESC_F_INDIRECT);
        self.mem.write16(off + 14, 0);
        self.next[head as usize] = 0;
        self.chain[head as usize] = 1;
        self.publish(head);
        Ok(head)
    }

    /// Puts `head` (its chain written) in the available ring.
    fn publish(&mut self, head: u16) {
        self.in_flight += 1;
        self.mem
            .write16(self.layout.avail_slot(self.avail_idx), head);
        // The descriptors and the slot before the index that publishes them.
        fence(Ordering::SeqCst);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.mem.write16(self.layout.avail + 2, self.avail_idx);
        fence(Ordering::SeqCst);
    }

    /// The next chain the device finished, with its descriptors back on
    /// the free list; `None` when the used ring holds nothing new. An entry
    /// that names no chain in flight is skipped and reported.
    pub fn reap(&mut self) -> Option<Result<Used, QueueError>> {
        fence(Ordering::SeqCst);
        let theirs = self.mem.read16(self.layout.used + 2);
        let ours = self.last_used;
        if theirs == ours {
            return None;
        }
        if theirs.wrapping_sub(ours) > self.layout.size {
            self.last_used = theirs;
            return Some(Err(QueueError::UsedIndex { ours, theirs }));
        }
        // The element after the index that published it.
        fence(Ordering::SeqCst);
        let e = self.layout.used_elem(ours);
        let id = self.mem.read32(e);
        let len = self.mem.read32(e + 4);
        self.last_used = ours.wrapping_add(1);
        if id >= self.layout.size as u32 || self.chain[id as usize] == 0 {
            return Some(Err(QueueError::BadUsedId(id)));
        }
        let head = id as u16;
        let mut i = head;
        for _ in 0..core::mem::take(&mut self.chain[head as usize]) {
            self.free.push(i);
            i = self.next[i as usize];
        }
        self.in_flight -= 1;
        Some(Ok(Used { head, len }))
    }
}
