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
//! bounce (next 4 KiB)    one page for start-up reads (the GPT)
//! ```
//!
//! The legacy interface names the queue by one page frame number and
//! assumes the used ring on the next 4 KiB boundary, hence one physically
//! contiguous region. The driver keeps its own copy of every chain it
//! hands out (free list, links, chain lengths): it never follows links
//! read back from shared memory, and a used-ring entry naming a descriptor
//! that is not the head of a chain in flight is reported, not obeyed.

use crate::DmaMemory;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{fence, Ordering};

pub const DESC_F_NEXT: u16 = 1;
pub const DESC_F_WRITE: u16 = 2;

/// Byte offsets of a queue of `size` entries and our per-descriptor areas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub size: u16,
    pub avail: usize,
    pub used: usize,
    pub headers: usize,
    pub status: usize,
    pub bounce: usize,
    /// Bytes of the whole region (through the bounce page).
    pub bytes: usize,
}

/// Bytes of the bounce area.
pub const BOUNCE_BYTES: usize = 4096;

impl Layout {
    pub fn new(size: u16) -> Layout {
        let q = size as usize;
        let avail = 16 * q;
        let used = (avail + 6 + 2 * q).next_multiple_of(4096);
        let headers = (used + 6 + 8 * q).next_multiple_of(4096);
        let status = headers + 16 * q;
        let bounce = (status + q).next_multiple_of(4096);
        Layout {
            size,
            avail,
            used,
            headers,
            status,
            bounce,
            bytes: bounce + BOUNCE_BYTES,
        }
    }

    /// Offset of descriptor `i`.
    pub fn desc(&self, i: u16) -> usize {
        16 * i as usize
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
    /// Descriptors in the chain headed by each index; 0 if it heads none.
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

    pub fn free_descriptors(&self) -> usize {
        self.free.len()
    }

    /// Chains handed to the device and not yet reaped.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The descriptor the next [`submit`](Self::submit) will use as its
    /// head (so per-request areas indexed by head can be filled first).
    pub fn next_head(&self) -> Option<u16> {
        self.free.last().copied()
    }

    /// Writes `bufs` as one chain and publishes its head in the available
    /// ring; returns the head (which names the chain in the used ring).
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
        self.in_flight += 1;
        self.mem
            .write16(self.layout.avail_slot(self.avail_idx), head);
        // The descriptors and the slot before the index that publishes them.
        fence(Ordering::SeqCst);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.mem.write16(self.layout.avail + 2, self.avail_idx);
        fence(Ordering::SeqCst);
        Ok(head)
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
