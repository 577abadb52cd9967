//! Fakes for the driver's host tests: physical memory, a PCI bus that
//! replays captured configuration space, and a legacy virtio-blk device
//! that consumes the available ring and fills the used ring.
#![allow(dead_code)]

pub mod captured;

use block_driver::pci::{Bdf, ConfigSpace};
use block_driver::{DmaMemory, PortIo};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

pub const PAGE: u64 = 4096;

// ---------------------------------------------------------------------------
// Physical memory

/// Fake RAM: `len` bytes standing for physical addresses `phys0..`, with a
/// bump allocator of pages. Accessed only through raw pointers (the
/// driver's DMA region, the device, a client's ring page all alias it).
pub struct PhysMem {
    base: *mut u8,
    len: usize,
    pub phys0: u64,
    next: Cell<u64>,
    _keep: Vec<u8>,
}

impl PhysMem {
    pub fn new(phys0: u64, pages: usize) -> Rc<PhysMem> {
        let len = pages * PAGE as usize;
        let mut keep = vec![0u8; len + PAGE as usize];
        let off = keep.as_mut_ptr().align_offset(PAGE as usize);
        // SAFETY: `off` < PAGE, inside the allocation of len + PAGE bytes.
        let base = unsafe { keep.as_mut_ptr().add(off) };
        Rc::new(PhysMem {
            base,
            len,
            phys0,
            next: Cell::new(phys0),
            _keep: keep,
        })
    }

    /// `pages` fresh (zeroed) pages; their physical address.
    pub fn alloc(&self, pages: u64) -> u64 {
        let p = self.next.get();
        self.next.set(p + pages * PAGE);
        assert!(
            self.next.get() - self.phys0 <= self.len as u64,
            "fake RAM full"
        );
        p
    }

    /// The host pointer for `phys` (valid for `len` bytes).
    pub fn ptr(&self, phys: u64, len: usize) -> *mut u8 {
        assert!(
            phys >= self.phys0 && phys - self.phys0 + len as u64 <= self.len as u64,
            "DMA to {phys:#x}+{len} outside fake RAM"
        );
        // SAFETY: checked above to lie inside the `len` bytes from `base`.
        unsafe { self.base.add((phys - self.phys0) as usize) }
    }

    pub fn read(&self, phys: u64, out: &mut [u8]) {
        let p = self.ptr(phys, out.len());
        // SAFETY: `ptr` checked the range; `out` is a distinct host buffer.
        unsafe { std::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), out.len()) }
    }

    pub fn write(&self, phys: u64, data: &[u8]) {
        let p = self.ptr(phys, data.len());
        // SAFETY: `ptr` checked the range; `data` is a distinct host buffer.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) }
    }

    pub fn bytes(&self, phys: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.read(phys, &mut v);
        v
    }

    pub fn r16(&self, phys: u64) -> u16 {
        u16::from_le_bytes(self.bytes(phys, 2).try_into().unwrap())
    }
    pub fn r32(&self, phys: u64) -> u32 {
        u32::from_le_bytes(self.bytes(phys, 4).try_into().unwrap())
    }
    pub fn r64(&self, phys: u64) -> u64 {
        u64::from_le_bytes(self.bytes(phys, 8).try_into().unwrap())
    }
    pub fn w16(&self, phys: u64, v: u16) {
        self.write(phys, &v.to_le_bytes())
    }
    pub fn w32(&self, phys: u64, v: u32) {
        self.write(phys, &v.to_le_bytes())
    }
}

impl std::fmt::Debug for PhysMem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhysMem({:#x}+{:#x})", self.phys0, self.len)
    }
}

/// The driver's DMA region: part of fake RAM.
#[derive(Debug)]
pub struct FakeDma {
    pub mem: Rc<PhysMem>,
    pub phys: u64,
    pub len: usize,
}

impl FakeDma {
    pub fn new(mem: &Rc<PhysMem>, bytes: usize) -> FakeDma {
        let pages = (bytes as u64).div_ceil(PAGE);
        FakeDma {
            mem: mem.clone(),
            phys: mem.alloc(pages),
            len: (pages * PAGE) as usize,
        }
    }

    fn at(&self, off: usize, width: usize) -> u64 {
        assert!(
            off.is_multiple_of(width) && off + width <= self.len,
            "bad DMA access {off:#x}+{width}"
        );
        self.phys + off as u64
    }
}

impl DmaMemory for FakeDma {
    fn phys(&self) -> u64 {
        self.phys
    }
    fn len(&self) -> usize {
        self.len
    }
    fn read8(&self, off: usize) -> u8 {
        self.mem.bytes(self.at(off, 1), 1)[0]
    }
    fn read16(&self, off: usize) -> u16 {
        self.mem.r16(self.at(off, 2))
    }
    fn read32(&self, off: usize) -> u32 {
        self.mem.r32(self.at(off, 4))
    }
    fn write8(&self, off: usize, v: u8) {
        self.mem.write(self.at(off, 1), &[v])
    }
    fn write16(&self, off: usize, v: u16) {
        self.mem.w16(self.at(off, 2), v)
    }
    fn write32(&self, off: usize, v: u32) {
        self.mem.w32(self.at(off, 4), v)
    }
    fn write64(&self, off: usize, v: u64) {
        self.mem.write(self.at(off, 8), &v.to_le_bytes())
    }
}

// ---------------------------------------------------------------------------
// PCI

/// Bus 0 as captured: the ID and header dwords of every function, the
/// full configuration space of the disk at 00:04.0, which answers BAR
/// sizing with the captured masks and takes new BAR and command values.
pub struct CapturedBus {
    space: RefCell<HashMap<(u8, u8), [u32; 64]>>,
    masks: [u32; 6],
    sizing: Cell<[bool; 6]>,
    pub writes: RefCell<Vec<(Bdf, u8, u32)>>,
}

pub const DISK: Bdf = Bdf {
    bus: 0,
    dev: 4,
    func: 0,
};

impl CapturedBus {
    pub fn new(disk: &[u32; 64], masks: [u32; 6]) -> CapturedBus {
        let mut space = HashMap::new();
        for &(dev, func, id, hdr) in &captured::BUS0 {
            let mut s = [0u32; 64];
            s[0] = id;
            s[3] = hdr;
            space.insert((dev, func), s);
        }
        space.insert((DISK.dev, DISK.func), *disk);
        CapturedBus {
            space: RefCell::new(space),
            masks,
            sizing: Cell::new([false; 6]),
            writes: RefCell::new(Vec::new()),
        }
    }

    /// The legacy-only disk `cargo qemu` attaches.
    pub fn legacy() -> CapturedBus {
        CapturedBus::new(&captured::LEGACY_CFG, captured::LEGACY_BAR_MASKS)
    }

    /// The disk's configuration space now.
    pub fn disk_space(&self) -> [u32; 64] {
        self.space.borrow()[&(DISK.dev, DISK.func)]
    }

    /// Adds a function at `dev.func` with `space` (read-only: BAR sizing
    /// is captured for the disk at [`DISK`] only).
    pub fn add_function(&self, dev: u8, func: u8, space: [u32; 64]) {
        self.space.borrow_mut().insert((dev, func), space);
    }

    pub fn set_disk_dword(&self, off: u8, v: u32) {
        self.space
            .borrow_mut()
            .get_mut(&(DISK.dev, DISK.func))
            .unwrap()[off as usize / 4] = v;
    }
}

impl ConfigSpace for CapturedBus {
    fn read32(&self, bdf: Bdf, off: u8) -> u32 {
        assert_eq!(bdf.bus, 0, "only bus 0 is captured");
        let i = off as usize / 4;
        if bdf == DISK && (4..10).contains(&i) && self.sizing.get()[i - 4] {
            return self.masks[i - 4];
        }
        self.space
            .borrow()
            .get(&(bdf.dev, bdf.func))
            .map_or(0xffff_ffff, |s| s[i])
    }

    fn write32(&self, bdf: Bdf, off: u8, v: u32) {
        self.writes.borrow_mut().push((bdf, off, v));
        let i = off as usize / 4;
        let mut space = self.space.borrow_mut();
        let Some(s) = space.get_mut(&(bdf.dev, bdf.func)) else {
            return;
        };
        if bdf == DISK && (4..10).contains(&i) {
            let mut sizing = self.sizing.get();
            sizing[i - 4] = v == 0xffff_ffff;
            self.sizing.set(sizing);
            if v != 0xffff_ffff {
                let mask = self.masks[i - 4];
                let flags = if mask & 1 == 1 { 0x3 } else { 0xf };
                s[i] = (v & mask & !flags) | (mask & flags);
            }
        } else if i == 1 {
            // Command: writable; status: read-only here.
            s[1] = (s[1] & 0xffff_0000) | (v & 0xffff);
        } else {
            s[i] = v;
        }
    }
}

/// Records mechanism-#1 port traffic; `0xcfc` reads answer `answer`.
#[derive(Default)]
pub struct PortLog {
    pub log: RefCell<Vec<(&'static str, u16, u32)>>,
    pub answer: u32,
}

impl PortIo for PortLog {
    fn in8(&self, port: u16) -> u8 {
        self.log.borrow_mut().push(("in8", port, 0));
        self.answer as u8
    }
    fn in16(&self, port: u16) -> u16 {
        self.log.borrow_mut().push(("in16", port, 0));
        self.answer as u16
    }
    fn in32(&self, port: u16) -> u32 {
        self.log.borrow_mut().push(("in32", port, 0));
        self.answer
    }
    fn out8(&self, port: u16, v: u8) {
        self.log.borrow_mut().push(("out8", port, v as u32));
    }
    fn out16(&self, port: u16, v: u16) {
        self.log.borrow_mut().push(("out16", port, v as u32));
    }
    fn out32(&self, port: u16, v: u32) {
        self.log.borrow_mut().push(("out32", port, v));
    }
}

// ---------------------------------------------------------------------------
// The device

pub const BAR: u16 = 0x6000;

/// A request the device saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub kind: u32,
    pub sector: u64,
    /// Descriptors in the chain.
    pub descriptors: usize,
    /// Data bytes (the chain minus header and status).
    pub bytes: u32,
}

/// A legacy virtio-blk device over a RAM disk, with knobs for misbehaviour.
pub struct DeviceState {
    pub mem: Rc<PhysMem>,
    pub offered: u32,
    pub driver_features: u32,
    pub status: u8,
    pub queue_sel: u16,
    pub queue_size: u16,
    pub pfn: u32,
    pub isr: u8,
    pub config: [u8; 60],
    pub disk: Vec<u8>,
    /// Status writes are ignored (the register reads 0).
    pub refuse_status: bool,
    /// Driver-feature writes are ignored.
    pub refuse_features: bool,
    /// Answer on notify; otherwise hold completions for `complete`.
    pub immediate: bool,
    /// A reset leaves the queue's PFN (another driver's queue stays).
    pub keep_pfn: bool,
    /// Fail requests touching this sector (status IOERR).
    pub fail_sector: Option<u64>,
    pub status_writes: Vec<u8>,
    pub notifies: usize,
    pub seen: Vec<Seen>,
    /// Requests that came as an indirect table (one ring descriptor).
    pub indirect: usize,
    last_avail: u16,
    used_idx: u16,
    /// Chains run but not yet answered: (head, bytes written).
    pub held: Vec<(u16, u32)>,
}

/// The device as a port range (what the driver's `Legacy` talks to).
#[derive(Clone)]
pub struct Device(pub Rc<RefCell<DeviceState>>);

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Device")
    }
}

impl Device {
    /// A device as captured (features, queue size, config) over a RAM disk
    /// of `disk` bytes (the config's capacity is patched to match).
    pub fn new(mem: &Rc<PhysMem>, disk: Vec<u8>) -> Device {
        let mut config = captured::BLK_CONFIG;
        config[..8].copy_from_slice(&(disk.len() as u64 / 512).to_le_bytes());
        Device(Rc::new(RefCell::new(DeviceState {
            mem: mem.clone(),
            offered: captured::LEGACY_FEATURES,
            driver_features: 0,
            status: 0,
            queue_sel: 0,
            queue_size: captured::QUEUE_SIZE,
            pfn: 0,
            isr: 0,
            config,
            disk,
            refuse_status: false,
            refuse_features: false,
            immediate: true,
            keep_pfn: false,
            fail_sector: None,
            status_writes: Vec::new(),
            notifies: 0,
            seen: Vec::new(),
            indirect: 0,
            last_avail: 0,
            used_idx: 0,
            held: Vec::new(),
        })))
    }

    pub fn state(&self) -> std::cell::RefMut<'_, DeviceState> {
        self.0.borrow_mut()
    }

    /// Completes the held requests (in reverse order if asked).
    pub fn complete(&self, reverse: bool) {
        let mut d = self.0.borrow_mut();
        let mut held = std::mem::take(&mut d.held);
        if reverse {
            held.reverse();
        }
        for (id, len) in held {
            d.push_used(id as u32, len);
        }
    }

    /// Puts a raw element on the used ring.
    pub fn push_used(&self, id: u32, len: u32) {
        self.0.borrow_mut().push_used(id, len)
    }

    /// Moves the used index by `n` without elements.
    pub fn bump_used_idx(&self, n: u16) {
        let mut d = self.0.borrow_mut();
        d.used_idx = d.used_idx.wrapping_add(n);
        let (_, used) = d.rings();
        d.mem.w16(used + 2, d.used_idx);
    }
}

impl DeviceState {
    /// (available ring, used ring) physical addresses: the legacy layout
    /// of virtio 0.9.5 section 2.3, written out independently of the
    /// driver's `Layout`.
    fn rings(&self) -> (u64, u64) {
        let q = self.queue_size as u64;
        let base = self.pfn as u64 * PAGE;
        let avail = base + 16 * q;
        let used = (avail + 6 + 2 * q).next_multiple_of(PAGE);
        (avail, used)
    }

    fn reset(&mut self) {
        self.driver_features = 0;
        if !self.keep_pfn {
            self.pfn = 0;
        }
        self.isr = 0;
        self.last_avail = 0;
        self.used_idx = 0;
        self.held.clear();
    }

    fn push_used(&mut self, id: u32, len: u32) {
        let (_, used) = self.rings();
        let slot = used + 4 + 8 * (self.used_idx % self.queue_size) as u64;
        self.mem.w32(slot, id);
        self.mem.w32(slot + 4, len);
        self.used_idx = self.used_idx.wrapping_add(1);
        self.mem.w16(used + 2, self.used_idx);
        self.isr |= 1;
    }

    /// Consumes the available ring: runs every new chain.
    fn process(&mut self) {
        let (avail, _) = self.rings();
        let idx = self.mem.r16(avail + 2);
        while self.last_avail != idx {
            let slot = avail + 4 + 2 * (self.last_avail % self.queue_size) as u64;
            let head = self.mem.r16(slot);
            self.last_avail = self.last_avail.wrapping_add(1);
            let len = self.run(head);
            if self.immediate {
                self.push_used(head as u32, len);
            } else {
                self.held.push((head, len));
            }
        }
    }

    /// Runs the chain at `head`; returns the bytes written to memory.
    /// A head with VIRTQ_DESC_F_INDIRECT (4) names a table of `len / 16`
    /// descriptors linked by index within it (virtio 1.x 2.7.5.3).
    fn run(&mut self, head: u16) -> u32 {
        let mut table = self.pfn as u64 * PAGE;
        let mut entries = self.queue_size;
        assert!(head < entries, "head {head} out of the table");
        let d = table + 16 * head as u64;
        let flags = self.mem.r16(d + 12);
        let mut i = head;
        if flags & 4 != 0 {
            assert!(
                self.driver_features & (1 << 28) != 0,
                "INDIRECT without VIRTIO_RING_F_INDIRECT_DESC"
            );
            assert_eq!(flags, 4, "an indirect descriptor has no NEXT (nor WRITE)");
            let (addr, len) = (self.mem.r64(d), self.mem.r32(d + 8));
            assert!(len > 0 && len % 16 == 0, "indirect table of {len} bytes");
            assert_eq!(addr % 16, 0, "indirect table misaligned");
            table = addr;
            entries = (len / 16) as u16;
            i = 0;
            self.indirect += 1;
        }
        let mut chain = Vec::new();
        loop {
            assert!(i < entries, "descriptor {i} out of the table");
            let d = table + 16 * i as u64;
            let (addr, len) = (self.mem.r64(d), self.mem.r32(d + 8));
            let (flags, next) = (self.mem.r16(d + 12), self.mem.r16(d + 14));
            assert_eq!(flags & 4, 0, "INDIRECT inside a chain");
            chain.push((addr, len, flags & 2 != 0));
            assert!(chain.len() <= entries as usize, "descriptor loop");
            if flags & 1 == 0 {
                break;
            }
            i = next;
        }
        assert!(
            chain.len() <= self.queue_size as usize,
            "a chain longer than the queue"
        );
        assert!(chain.len() >= 2, "a chain without header and status");
        let (h, hl, hw) = chain[0];
        assert!(hl == 16 && !hw, "the header is 16 device-readable bytes");
        let (s, sl, sw) = chain[chain.len() - 1];
        assert!(sl == 1 && sw, "the status is 1 device-writable byte");
        let kind = self.mem.r32(h);
        let sector = self.mem.r64(h + 8);
        let data = &chain[1..chain.len() - 1];
        let bytes: u32 = data.iter().map(|d| d.1).sum();
        self.seen.push(Seen {
            kind,
            sector,
            descriptors: chain.len(),
            bytes,
        });
        let start = sector * 512;
        let fails = self
            .fail_sector
            .is_some_and(|f| (start..start + bytes as u64).contains(&(f * 512)));
        let in_range = start + bytes as u64 <= self.disk.len() as u64;
        let mut status = if fails || !in_range { 1 } else { 0 };
        let mut written = 0;
        match kind {
            0 if status == 0 => {
                let mut at = start as usize;
                for &(addr, len, w) in data {
                    assert!(w, "read data must be device-writable");
                    self.mem.write(addr, &self.disk[at..at + len as usize]);
                    at += len as usize;
                    written += len;
                }
            }
            1 if status == 0 => {
                let mut at = start as usize;
                for &(addr, len, w) in data {
                    assert!(!w, "write data must be device-readable");
                    let mut buf = vec![0; len as usize];
                    self.mem.read(addr, &mut buf);
                    self.disk[at..at + len as usize].copy_from_slice(&buf);
                    at += len as usize;
                }
            }
            4 => assert!(data.is_empty(), "a flush carries no data"),
            0 | 1 => {}
            _ => status = 2,
        }
        self.mem.write(s, &[status]);
        written + 1
    }
}

impl PortIo for Device {
    fn in8(&self, port: u16) -> u8 {
        let mut d = self.0.borrow_mut();
        match port.checked_sub(BAR) {
            Some(0x12) => d.status,
            Some(0x13) => std::mem::take(&mut d.isr),
            Some(o @ 0x14..0x50) => d.config[(o - 0x14) as usize],
            _ => panic!("in8 {port:#x}"),
        }
    }
    fn in16(&self, port: u16) -> u16 {
        let d = self.0.borrow();
        match port.checked_sub(BAR) {
            Some(0x0c) => {
                if d.queue_sel == 0 {
                    d.queue_size
                } else {
                    0
                }
            }
            Some(0x0e) => d.queue_sel,
            _ => panic!("in16 {port:#x}"),
        }
    }
    fn in32(&self, port: u16) -> u32 {
        let d = self.0.borrow();
        match port.checked_sub(BAR) {
            Some(0x00) => d.offered,
            Some(0x04) => d.driver_features,
            Some(0x08) => d.pfn,
            Some(o @ 0x14..0x50) if o % 4 == 0 => {
                let k = (o - 0x14) as usize;
                u32::from_le_bytes(d.config[k..k + 4].try_into().unwrap())
            }
            _ => panic!("in32 {port:#x}"),
        }
    }
    fn out8(&self, port: u16, v: u8) {
        let mut d = self.0.borrow_mut();
        match port.checked_sub(BAR) {
            Some(0x12) => {
                d.status_writes.push(v);
                if v == 0 {
                    d.reset();
                }
                if !d.refuse_status {
                    d.status = v;
                }
            }
            _ => panic!("out8 {port:#x}"),
        }
    }
    fn out16(&self, port: u16, v: u16) {
        let mut d = self.0.borrow_mut();
        match port.checked_sub(BAR) {
            Some(0x0e) => d.queue_sel = v,
            Some(0x10) => {
                d.notifies += 1;
                if d.pfn != 0 {
                    d.process();
                }
            }
            _ => panic!("out16 {port:#x}"),
        }
    }
    fn out32(&self, port: u16, v: u32) {
        let mut d = self.0.borrow_mut();
        match port.checked_sub(BAR) {
            // QEMU keeps only the offered bits.
            Some(0x04) if !d.refuse_features => d.driver_features = v & d.offered,
            Some(0x04) => {}
            Some(0x08) => d.pfn = v,
            _ => panic!("out32 {port:#x}"),
        }
    }
}
