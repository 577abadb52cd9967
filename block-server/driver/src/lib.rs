//! `block-driver`: the block server's driver logic, with no unsafe code and
//! no kernel calls, so every line of it runs in host tests.
//!
//! The binary (`block-server/server`) owns the seL4 side: the IOPort caps,
//! the DMA frames, the IRQ and the notifications. It hands this crate two
//! small traits and nothing else:
//!
//! * [`PortIo`]: `in`/`out` on x86 I/O ports (the binary forwards them to
//!   an IOPort cap). PCI configuration space ([`pci::Mechanism1`], ports
//!   `0xcf8`/`0xcfc`) and the legacy virtio registers
//!   ([`virtio::Legacy`], the device's I/O BAR) are both built on it.
//! * [`DmaMemory`]: one region of physically contiguous memory the device
//!   reads and writes (the virtqueue, request headers, status bytes and a
//!   start-up bounce sector), accessed by offset with volatile loads and
//!   stores; the binary maps frames it retyped from its untyped.
//!
//! | file | what | counterpart |
//! | --- | --- | --- |
//! | [`pci`] | config space, finding the device, placing its I/O BAR, capabilities | Linux `drivers/pci/probe.c` |
//! | [`virtio`] | legacy virtio-pci registers, reset and feature negotiation, queue 0 set-up | Linux `virtio_pci_legacy.c` |
//! | [`queue`] | the split virtqueue: descriptor table, available and used rings | Linux `virtio_ring.c` (split) |
//! | [`blk`] | virtio-blk requests (header, data, status) and their completions, by token | Linux `virtio_blk.c` |
//! | [`gpt`] | the GUID partition table: header and entry CRCs, the Linux-swap partition; which volume a disk is | Linux `block/partitions/efi.c` |
//! | [`service`] | the server's decisions: block-api requests to disk requests and back | — |
//!
//! Why this is written here rather than taken from the `virtio-drivers`
//! crate is in `docs/block-server.md` ("Why not virtio-drivers").
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod blk;
pub mod gpt;
pub mod pci;
pub mod queue;
pub mod service;
pub mod virtio;

pub use blk::{BlkOp, Disk, DiskError};
pub use gpt::{GptError, Partition};
pub use pci::{Bdf, ConfigSpace, Mechanism1, PciError};
pub use queue::{Layout, QueueError, Segment, SplitQueue};
pub use service::{Pending, Plan, Service, Volume};
pub use virtio::{Legacy, VirtioError};

/// x86 port I/O: the binary forwards each call to an IOPort cap; tests
/// replay captured registers or emulate a device.
///
/// Implementations may panic on a port outside their range (a driver bug,
/// not a device state).
pub trait PortIo {
    fn in8(&self, port: u16) -> u8;
    fn in16(&self, port: u16) -> u16;
    fn in32(&self, port: u16) -> u32;
    fn out8(&self, port: u16, v: u8);
    fn out16(&self, port: u16, v: u16);
    fn out32(&self, port: u16, v: u32);
}

impl<P: PortIo + ?Sized> PortIo for &P {
    fn in8(&self, port: u16) -> u8 {
        (**self).in8(port)
    }
    fn in16(&self, port: u16) -> u16 {
        (**self).in16(port)
    }
    fn in32(&self, port: u16) -> u32 {
        (**self).in32(port)
    }
    fn out8(&self, port: u16, v: u8) {
        (**self).out8(port, v)
    }
    fn out16(&self, port: u16, v: u16) {
        (**self).out16(port, v)
    }
    fn out32(&self, port: u16, v: u32) {
        (**self).out32(port, v)
    }
}

/// A region of physically contiguous memory shared with the device.
///
/// Offsets are bytes from the start of the region; every access is
/// naturally aligned (the driver only asks for aligned offsets) and is one
/// volatile load or store of that width, since the device reads and
/// writes the region concurrently. Ordering between accesses is the
/// driver's job (it issues [`core::sync::atomic::fence`]s).
///
/// Implementations may panic on an offset outside the region.
pub trait DmaMemory {
    /// The device's (physical) address of offset 0; page aligned.
    fn phys(&self) -> u64;
    /// Bytes in the region.
    fn len(&self) -> usize;
    /// Whether the region is empty (never, for a usable one).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn read8(&self, off: usize) -> u8;
    fn read16(&self, off: usize) -> u16;
    fn read32(&self, off: usize) -> u32;
    fn write8(&self, off: usize, v: u8);
    fn write16(&self, off: usize, v: u16);
    fn write32(&self, off: usize, v: u32);
    fn write64(&self, off: usize, v: u64);
    /// Copies `out.len()` bytes from `off` (the start-up bounce sector).
    fn read_bytes(&self, off: usize, out: &mut [u8]) {
        for (i, b) in out.iter_mut().enumerate() {
            *b = self.read8(off + i);
        }
    }
}

/// Bytes per disk sector (virtio-blk always counts in 512-byte sectors).
pub const SECTOR: u64 = 512;
/// Sectors per [`block_api::BLOCK_SIZE`] block.
pub const SECTORS_PER_BLOCK: u64 = block_api::BLOCK_SIZE as u64 / SECTOR;
