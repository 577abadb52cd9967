//! The seL4 side of the driver: I/O ports through IOPort caps (the
//! library's [`PortIo`]), DMA memory in frames retyped from our untyped
//! (its [`DmaMemory`]), and mapping frames into our VSpace. The only
//! unsafe code of the block server is here and in `main.rs`'s ring-page
//! view.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use block_driver::{DmaMemory, PortIo};
use sel4::{cap, CapRights, ObjectType};
use sel4_objects::{map_page, SlotAllocator, UntypedAllocator};
use sel4_root_task::start_info::StartInfo;

pub const CNODE: cap::CNode = cap::CNode::from_bits(2);
pub const VSPACE: cap::VSpace = cap::VSpace::from_bits(3);
const PAGE: u64 = 4096;

/// An IOPort cap and the ports it covers.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub cap: cap::IOPort,
    pub first: u16,
    pub last: u16,
}

/// The first IOPort cap whose first port satisfies `want` (see
/// [`all_io_ports`]).
pub fn io_ports(info: &StartInfo, want: impl Fn(u16) -> bool) -> Option<Ports> {
    all_io_ports(info, want).first().copied()
}

/// Every IOPort cap whose first port satisfies `want`, in spec order (the
/// root task names them `io:0x<first>`, data = last port).
pub fn all_io_ports(info: &StartInfo, want: impl Fn(u16) -> bool) -> Vec<Ports> {
    info.caps()
        .iter()
        .filter_map(|c| {
            let first = u16::from_str_radix(c.name().strip_prefix("io:0x")?, 16).ok()?;
            want(first).then_some(Ports {
                cap: cap::IOPort::from_bits(c.slot),
                first,
                last: c.data as u16,
            })
        })
        .collect()
}

// The kernel refuses a port outside the cap's range: that is a driver bug
// (the library only touches the BAR it placed in our range), so panic.
impl PortIo for Ports {
    fn in8(&self, port: u16) -> u8 {
        self.cap.x86_io_port_in8(port).expect("in8")
    }
    fn in16(&self, port: u16) -> u16 {
        self.cap.x86_io_port_in16(port).expect("in16")
    }
    fn in32(&self, port: u16) -> u32 {
        self.cap.x86_io_port_in32(port).expect("in32")
    }
    fn out8(&self, port: u16, v: u8) {
        self.cap
            .x86_io_port_out8(port as u64, v as u64)
            .expect("out8")
    }
    fn out16(&self, port: u16, v: u16) {
        self.cap
            .x86_io_port_out16(port as u64, v as u64)
            .expect("out16")
    }
    fn out32(&self, port: u16, v: u32) {
        self.cap
            .x86_io_port_out32(port as u64, v as u64)
            .expect("out32")
    }
}

/// The component's own kernel-object bookkeeping.
pub struct Objects {
    pub slots: SlotAllocator,
    pub untyped: UntypedAllocator,
}

impl Objects {
    pub fn new(info: &StartInfo) -> Objects {
        Objects {
            slots: SlotAllocator::new(info.first_free_slot, 1 << info.cnode_size_bits),
            untyped: UntypedAllocator::new(info.untyped()),
        }
    }

    /// Maps `frame` read-write at `va`, making paging structures as needed.
    pub fn map(&mut self, frame: cap::Granule, va: u64) -> Result<(), String> {
        let Objects { slots, untyped } = self;
        let mut make = |ty| {
            untyped
                .allocate_in(CNODE, slots, ty, 0)
                .map_err(|e| e.to_string())
        };
        map_page(VSPACE, frame, va, CapRights::read_write(), &mut make)
            .map_err(|e| format!("map {va:#x}: {e}"))
    }

    /// Maps the `pages` frames from slot `first` at `va`; returns each
    /// frame's physical address.
    pub fn map_frames(
        &mut self,
        first: u64,
        pages: u64,
        va: u64,
    ) -> Result<alloc::vec::Vec<u64>, String> {
        let mut phys = alloc::vec::Vec::with_capacity(pages as usize);
        for i in 0..pages {
            let frame = cap::Granule::from_bits(first + i);
            self.map(frame, va + i * PAGE)?;
            let pa = frame
                .x86_page_get_address()
                .map_err(|e| format!("frame address: {e:?}"))?;
            phys.push(pa);
        }
        Ok(phys)
    }
}

/// Physically contiguous frames mapped read-write into our VSpace and
/// shared with the device only.
#[derive(Debug)]
pub struct DmaRegion {
    va: u64,
    pa: u64,
    len: usize,
}

impl DmaRegion {
    /// `bytes` (rounded up to a power of two of pages) of physically
    /// contiguous, zeroed frames retyped from one untyped of our grant,
    /// mapped at `va`.
    pub fn allocate(objs: &mut Objects, bytes: usize, va: u64) -> Result<DmaRegion, String> {
        let pages = bytes.div_ceil(PAGE as usize).next_power_of_two() as u64;
        let bits = 12 + pages.trailing_zeros() as u8;
        let ut = objs
            .untyped
            .allocate_in(CNODE, &mut objs.slots, ObjectType::Untyped, bits)
            .map_err(|e| format!("DMA untyped: {e}"))?;
        let first = objs.slots.alloc_range(pages).ok_or("CNode full")?;
        ut.cast::<sel4::cap_type::Untyped>()
            .untyped_retype(ObjectType::X86_4K, 0, CNODE, 0, 0, first.bits(), pages)
            .map_err(|e| format!("DMA frames: {e:?}"))?;
        let phys = objs.map_frames(first.bits(), pages, va)?;
        let pa = phys[0];
        if phys
            .iter()
            .enumerate()
            .any(|(i, &p)| p != pa + i as u64 * PAGE)
        {
            return Err("DMA frames are not contiguous".into());
        }
        Ok(DmaRegion {
            va,
            pa,
            len: (pages * PAGE) as usize,
        })
    }

    /// The address of `off` for an access of `width` bytes.
    fn at(&self, off: usize, width: usize) -> u64 {
        assert!(
            off.is_multiple_of(width) && off + width <= self.len,
            "DMA access {off:#x}+{width} outside the region"
        );
        self.va + off as u64
    }
}

// SAFETY (every access below): `at` checks that the access lies inside the
// region and is naturally aligned; `allocate` mapped the whole region
// read-write at `va` for the life of the server, and no Rust reference to
// it exists (only these volatile accesses and the device's DMA touch it).
impl DmaMemory for DmaRegion {
    fn phys(&self) -> u64 {
        self.pa
    }
    fn len(&self) -> usize {
        self.len
    }
    fn read8(&self, off: usize) -> u8 {
        // SAFETY: see above.
        unsafe { core::ptr::read_volatile(self.at(off, 1) as *const u8) }
    }
    fn read16(&self, off: usize) -> u16 {
        // SAFETY: see above.
        unsafe { core::ptr::read_volatile(self.at(off, 2) as *const u16) }
    }
    fn read32(&self, off: usize) -> u32 {
        // SAFETY: see above.
        unsafe { core::ptr::read_volatile(self.at(off, 4) as *const u32) }
    }
    fn write8(&self, off: usize, v: u8) {
        // SAFETY: see above.
        unsafe { core::ptr::write_volatile(self.at(off, 1) as *mut u8, v) }
    }
    fn write16(&self, off: usize, v: u16) {
        // SAFETY: see above.
        unsafe { core::ptr::write_volatile(self.at(off, 2) as *mut u16, v) }
    }
    fn write32(&self, off: usize, v: u32) {
        // SAFETY: see above.
        unsafe { core::ptr::write_volatile(self.at(off, 4) as *mut u32, v) }
    }
    fn write64(&self, off: usize, v: u64) {
        // SAFETY: see above.
        unsafe { core::ptr::write_volatile(self.at(off, 8) as *mut u64, v) }
    }
}
