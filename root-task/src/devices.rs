//! Device memory: frames retyped from the kernel's device untyped at the physical addresses the spec names (`device_frame` objects, components' `device_memory`), the PCI memory BARs placed there first, and the device-info page a pager reads its clients' regions from.
//!
//! The kernel hands the physical address space that is not RAM over as
//! device untyped, in power-of-two blocks aligned to their size. A region
//! is carved out of them by splitting: the block that holds an address is
//! retyped into its two halves, the half that holds it again, until a
//! block of the region's own alignment remains, which is retyped into 4K
//! frames (never zeroed: device untyped is not RAM). The other halves stay
//! in the root task's CNode for later regions.
//!
//! A `device_frame` with a PCI BAR is placed by the root task, before any
//! component runs, at the address the spec gives (block-driver's
//! `place_mem_bar`, through the configuration ports 0xcf8-0xcff): the
//! address is the spec's, checked against every other region by the
//! validator, not whatever the firmware chose (docs/devices.md).

use crate::component::PAGE;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use block_driver::pci::{self, Bdf, Mechanism1};
use block_driver::PortIo;
use capdl::{PciBar, Spec};
use sel4::{cap, CPtr, ObjectType};
use sel4_objects::SlotAllocator;
use sel4_root_task::device_info::{
    DeviceGrantInfo, DeviceInfo, DeviceRegionInfo, DEVICE_INFO_MAGIC,
};

/// Most frames one retype call makes (the kernel's fan-out limit).
const RETYPE_MAX: u64 = 256;

/// A block of device untyped not yet used: `2^bits` bytes at `paddr`.
#[derive(Clone, Copy, Debug)]
struct Piece {
    cap: cap::Untyped,
    paddr: u64,
    bits: u8,
}

impl Piece {
    fn contains(&self, at: u64) -> bool {
        self.paddr <= at && at - self.paddr < 1u64 << self.bits
    }
}

/// The device untyped the root task has not used. Owned by `RootState`.
pub struct DeviceUntypeds {
    pieces: Vec<Piece>,
}

impl DeviceUntypeds {
    /// Every device untyped of the boot info: (cap, paddr, size bits).
    pub fn new(list: impl Iterator<Item = (cap::Untyped, u64, u8)>) -> Self {
        DeviceUntypeds {
            pieces: list
                .map(|(cap, paddr, bits)| Piece { cap, paddr, bits })
                .collect(),
        }
    }

    /// Retypes the frames of `[paddr, paddr + size)` (both 4K-aligned)
    /// into fresh consecutive root-CNode slots; returns the first.
    pub fn frames(
        &mut self,
        slots: &mut SlotAllocator,
        paddr: u64,
        size: u64,
    ) -> Result<CPtr, String> {
        let n = size / PAGE;
        let first = slots.alloc_range(n).ok_or("root CNode full")?;
        let root = sel4::init_cap::INIT_THREAD_CNODE;
        let (mut at, end, mut done) = (paddr, paddr + size, 0u64);
        while at < end {
            // The largest block aligned at `at` that the region still covers.
            let fit = 63 - (end - at).leading_zeros() as u8;
            let want = (at.trailing_zeros() as u8).min(fit);
            let piece = self.take(slots, at, want)?;
            let mut left = 1u64 << (piece.bits - 12);
            while left > 0 {
                let k = left.min(RETYPE_MAX);
                piece
                    .cap
                    .untyped_retype(ObjectType::X86_4K, 0, root, 0, 0, first.bits() + done, k)
                    .map_err(|e| format!("device frames at {at:#x}: {e:?}"))?;
                left -= k;
                done += k;
            }
            at += 1u64 << piece.bits;
        }
        Ok(first)
    }

    /// Takes out the unused block that starts at `at` and is at most
    /// `2^bits` bytes, splitting larger ones that hold `at`.
    fn take(&mut self, slots: &mut SlotAllocator, at: u64, bits: u8) -> Result<Piece, String> {
        let root = sel4::init_cap::INIT_THREAD_CNODE;
        loop {
            let Some(i) = self.pieces.iter().position(|p| p.contains(at)) else {
                return Err(format!(
                    "no device untyped holds {at:#x} (RAM, kernel-reserved, or already given out)"
                ));
            };
            let p = self.pieces[i];
            if p.bits <= bits.max(12) {
                // Blocks are aligned to their size and `at` to 2^bits, so a
                // block no larger that holds `at` starts there.
                if p.paddr != at || p.bits < 12 {
                    return Err(format!("device untyped at {:#x} is misaligned", p.paddr));
                }
                return Ok(self.pieces.swap_remove(i));
            }
            let halves = slots.alloc_range(2).ok_or("root CNode full")?;
            p.cap
                .untyped_retype(
                    ObjectType::Untyped,
                    u64::from(p.bits - 1),
                    root,
                    0,
                    0,
                    halves.bits(),
                    2,
                )
                .map_err(|e| format!("splitting device untyped at {:#x}: {e:?}", p.paddr))?;
            self.pieces.swap_remove(i);
            for h in 0..2u64 {
                self.pieces.push(Piece {
                    cap: cap::Untyped::from_bits(halves.bits() + h),
                    paddr: p.paddr + h * (1u64 << (p.bits - 1)),
                    bits: p.bits - 1,
                });
            }
        }
    }
}

/// The root task's own I/O ports (its IOPort cap covers them all), for
/// PCI configuration space.
struct RootPorts;

// The kernel refuses nothing of the root task's cap: a failure is a
// kernel bug, so panic (the root task's panic ends the run).
impl PortIo for RootPorts {
    fn in8(&self, port: u16) -> u8 {
        sel4::init_cap::IO_PORT.x86_io_port_in8(port).expect("in8")
    }
    fn in16(&self, port: u16) -> u16 {
        sel4::init_cap::IO_PORT
            .x86_io_port_in16(port)
            .expect("in16")
    }
    fn in32(&self, port: u16) -> u32 {
        sel4::init_cap::IO_PORT
            .x86_io_port_in32(port)
            .expect("in32")
    }
    fn out8(&self, port: u16, v: u8) {
        let cap = sel4::init_cap::IO_PORT;
        cap.x86_io_port_out8(port as u64, v as u64).expect("out8")
    }
    fn out16(&self, port: u16, v: u16) {
        let cap = sel4::init_cap::IO_PORT;
        cap.x86_io_port_out16(port as u64, v as u64).expect("out16")
    }
    fn out32(&self, port: u16, v: u32) {
        let cap = sel4::init_cap::IO_PORT;
        cap.x86_io_port_out32(port as u64, v as u64).expect("out32")
    }
}

/// Places PCI memory BAR `bar` at `paddr` for a region of `size` bytes.
pub fn place_bar(name: &str, bar: PciBar, paddr: u64, size: u64) -> Result<(), String> {
    let bdf = Bdf {
        bus: bar.bus,
        dev: bar.dev,
        func: bar.func,
    };
    let cfg = Mechanism1(RootPorts);
    let bar_size = pci::place_mem_bar(&cfg, bdf, bar.bar, paddr, size)
        .map_err(|e| format!("device {name}: {e}"))?;
    sel4_root_task::println!(
        "root-task:   device {name}: BAR{} of {bdf} ({} KiB) placed at {paddr:#x}",
        bar.bar,
        bar_size >> 10
    );
    Ok(())
}

/// The device-info page of pager `id`: its regions (named as in the spec,
/// with their slots in its CSpace) and, per client, what it may open.
/// Every pager gets one (maybe empty), so it can always read it.
pub fn device_info(spec: &Spec, id: usize) -> alloc::boxed::Box<DeviceInfo> {
    let c = &spec.components[id];
    // SAFETY: DeviceInfo is plain old data; all zeros is its empty value.
    let mut info: alloc::boxed::Box<DeviceInfo> =
        alloc::boxed::Box::new(unsafe { core::mem::zeroed() });
    info.magic = DEVICE_INFO_MAGIC;
    for (r, d) in c.device_regions.iter().enumerate() {
        let o = &spec.objects[d.object as usize];
        let capdl::ObjectKind::DeviceFrame { paddr, .. } = o.kind else {
            continue;
        };
        info.regions[r] =
            DeviceRegionInfo::new(&o.name, paddr, u64::from(d.pages), u64::from(d.slot));
    }
    info.count = c.device_regions.len() as u64;
    for (i, cl) in c.clients.iter().enumerate() {
        let mut g = DeviceGrantInfo::default();
        for grant in &spec.components[cl.client as usize].devices {
            let Some(r) = c
                .device_regions
                .iter()
                .position(|d| d.object == grant.object)
            else {
                continue;
            };
            g.read |= 1 << r;
            if grant.rights.write() {
                g.write |= 1 << r;
            }
        }
        info.grants[i] = g;
    }
    info
}
