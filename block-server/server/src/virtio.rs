//! A legacy (virtio 0.9.5 / "transitional") virtio-pci transport over an
//! I/O-port BAR and one split virtqueue, enough for virtio-blk.
//!
//! Why not the crates.io `virtio-drivers` crate: its PCI transport is the
//! modern one, which finds its registers through capabilities pointing
//! into *memory* BARs; mapping those needs device-memory grants, which our
//! root task does not make yet. The legacy transport keeps every register
//! in one I/O BAR, reached through an IOPort cap, and the whole of it is
//! the ~150 lines below. QEMU's virtio-blk-pci is transitional (device id
//! 0x1001) on the q35 root bus; `cargo qemu` passes `disable-modern=on` so
//! only the legacy interface is offered.
//!
//! Queue memory (descriptor table, available ring, used ring; legacy
//! layout: used ring on the next 4 KiB boundary) and the request headers
//! and status bytes live in physically contiguous frames the server
//! retypes from its own untyped; their physical address comes from
//! `X86Page_GetAddress`.

use crate::pci::Ports;
use core::sync::atomic::{fence, Ordering};

// Legacy register offsets in BAR0.
pub const DEVICE_FEATURES: u16 = 0x00;
pub const DRIVER_FEATURES: u16 = 0x04;
pub const QUEUE_PFN: u16 = 0x08;
pub const QUEUE_SIZE: u16 = 0x0c;
pub const QUEUE_SELECT: u16 = 0x0e;
pub const QUEUE_NOTIFY: u16 = 0x10;
pub const DEVICE_STATUS: u16 = 0x12;
pub const ISR_STATUS: u16 = 0x13;
/// Device-specific configuration (MSI-X disabled).
pub const DEVICE_CONFIG: u16 = 0x14;

pub const STATUS_ACKNOWLEDGE: u8 = 1;
pub const STATUS_DRIVER: u8 = 2;
pub const STATUS_DRIVER_OK: u8 = 4;
pub const STATUS_FAILED: u8 = 128;

/// virtio-blk feature: the FLUSH command.
pub const BLK_F_FLUSH: u32 = 1 << 9;
pub const BLK_T_IN: u32 = 0;
pub const BLK_T_OUT: u32 = 1;
pub const BLK_T_FLUSH: u32 = 4;
pub const BLK_S_OK: u8 = 0;

const DESC_F_NEXT: u16 = 1;
const DESC_F_WRITE: u16 = 2;

/// The device's registers.
pub struct Legacy {
    pub io: Ports,
    pub base: u16,
}

impl Legacy {
    pub fn set_status(&self, s: u8) {
        self.io.out8(self.base + DEVICE_STATUS, s)
    }
    /// Reads the ISR register (which also lowers the interrupt line).
    pub fn isr(&self) -> u8 {
        self.io.in8(self.base + ISR_STATUS)
    }
    pub fn notify(&self, queue: u16) {
        self.io.out16(self.base + QUEUE_NOTIFY, queue)
    }
    pub fn config32(&self, off: u16) -> u32 {
        self.io.in32(self.base + DEVICE_CONFIG + off)
    }
}

/// Byte layout of a legacy split queue of `size` entries, plus our
/// per-descriptor request headers (16 B) and status bytes.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub size: u16,
    pub avail: usize,
    pub used: usize,
    pub headers: usize,
    pub status: usize,
    pub bytes: usize,
}

impl Layout {
    pub fn new(size: u16) -> Layout {
        let q = size as usize;
        let avail = 16 * q;
        let used = (avail + 6 + 2 * q).next_multiple_of(4096);
        let headers = (used + 6 + 8 * q).next_multiple_of(4096);
        let status = headers + 16 * q;
        let bytes = (status + q).next_multiple_of(4096);
        Layout {
            size,
            avail,
            used,
            headers,
            status,
            bytes,
        }
    }
}

/// One data segment: physical address and length.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub phys: u64,
    pub len: u32,
}

/// The split virtqueue.
pub struct Queue {
    pub layout: Layout,
    /// Virtual and physical address of the queue memory.
    pub va: *mut u8,
    pub pa: u64,
    free: [u16; 1024],
    nfree: usize,
    avail_idx: u16,
    last_used: u16,
}

impl Queue {
    /// A queue over zeroed, physically contiguous memory at `va`/`pa` of
    /// `layout.bytes`.
    ///
    /// # Safety
    /// `va` maps `pa` for `layout.bytes`, only this queue uses it.
    pub unsafe fn new(layout: Layout, va: *mut u8, pa: u64) -> Queue {
        let mut free = [0u16; 1024];
        for (i, f) in free.iter_mut().enumerate().take(layout.size as usize) {
            *f = i as u16;
        }
        Queue {
            layout,
            va,
            pa,
            free,
            nfree: layout.size as usize,
            avail_idx: 0,
            last_used: 0,
        }
    }

    pub fn free_descriptors(&self) -> usize {
        self.nfree
    }

    fn w<T>(&self, off: usize, v: T) {
        // SAFETY: `off` is inside the queue memory (layout), aligned for T.
        unsafe { core::ptr::write_volatile(self.va.add(off).cast::<T>(), v) }
    }

    fn r<T: Copy>(&self, off: usize) -> T {
        // SAFETY: as for `w`.
        unsafe { core::ptr::read_volatile(self.va.add(off).cast::<T>()) }
    }

    fn set_desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let off = i as usize * 16;
        self.w(off, addr);
        self.w(off + 8, len);
        self.w(off + 12, flags);
        self.w(off + 14, next);
    }

    /// Queues a block request: header (type, sector), the data segments
    /// (device-writable for a read), the status byte. Returns the head
    /// descriptor, which names the request in the used ring; `None` when
    /// too few descriptors are free.
    pub fn submit(&mut self, kind: u32, sector: u64, data: &[Segment]) -> Option<u16> {
        let n = data.len() + 2;
        if self.nfree < n {
            return None;
        }
        let mut ids = [0u16; 64];
        for id in ids.iter_mut().take(n) {
            self.nfree -= 1;
            *id = self.free[self.nfree];
        }
        let head = ids[0];
        let hdr = self.layout.headers + head as usize * 16;
        self.w(hdr, kind);
        self.w(hdr + 4, 0u32);
        self.w(hdr + 8, sector);
        let status = self.layout.status + head as usize;
        self.w(status, 0xffu8);
        self.set_desc(head, self.pa + hdr as u64, 16, DESC_F_NEXT, ids[1]);
        let data_flags = if kind == BLK_T_IN { DESC_F_WRITE } else { 0 };
        for (k, s) in data.iter().enumerate() {
            self.set_desc(
                ids[k + 1],
                s.phys,
                s.len,
                data_flags | DESC_F_NEXT,
                ids[k + 2],
            );
        }
        self.set_desc(ids[n - 1], self.pa + status as u64, 1, DESC_F_WRITE, 0);
        let slot = self.layout.avail + 4 + 2 * (self.avail_idx % self.layout.size) as usize;
        self.w(slot, head);
        fence(Ordering::SeqCst);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.w(self.layout.avail + 2, self.avail_idx);
        fence(Ordering::SeqCst);
        Some(head)
    }

    /// The next finished request: its head descriptor and whether the
    /// device reported success. Frees its descriptors.
    pub fn reap(&mut self) -> Option<(u16, bool)> {
        fence(Ordering::SeqCst);
        let used_idx: u16 = self.r(self.layout.used + 2);
        if used_idx == self.last_used {
            return None;
        }
        let e = self.layout.used + 4 + 8 * (self.last_used % self.layout.size) as usize;
        let head = self.r::<u32>(e) as u16 % self.layout.size;
        self.last_used = self.last_used.wrapping_add(1);
        fence(Ordering::SeqCst);
        let ok = self.r::<u8>(self.layout.status + head as usize) == BLK_S_OK;
        // Free the chain.
        let mut i = head;
        loop {
            let flags: u16 = self.r(i as usize * 16 + 12);
            let next: u16 = self.r(i as usize * 16 + 14);
            self.free[self.nfree] = i;
            self.nfree += 1;
            if flags & DESC_F_NEXT == 0 || self.nfree >= self.layout.size as usize {
                break;
            }
            i = next % self.layout.size;
        }
        Some((head, ok))
    }
}
