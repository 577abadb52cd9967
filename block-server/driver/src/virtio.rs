//! The legacy ("transitional", virtio 0.9.5) virtio-pci transport: every
//! register in one I/O BAR; device reset, status handshake and feature
//! negotiation; handing queue 0 its memory.
//!
//! QEMU's `virtio-blk-pci` on the q35 root bus is transitional (device id
//! 0x1001): it has this I/O BAR 0 and, unless `disable-modern=on`, the
//! modern register blocks in memory BAR 4. `cargo qemu` attaches the disk
//! with `disable-modern=on`, so only this interface is offered.

use crate::PortIo;
use core::fmt;

/// PCI vendor id of every virtio device.
pub const VENDOR: u16 = 0x1af4;
/// Transitional virtio-blk (legacy interface present).
pub const BLK_TRANSITIONAL: u16 = 0x1001;
/// Modern-only virtio-blk (0x1040 + device type 2): no legacy interface.
pub const BLK_MODERN: u16 = 0x1042;

// Legacy register offsets in the I/O BAR.
pub const DEVICE_FEATURES: u16 = 0x00;
pub const DRIVER_FEATURES: u16 = 0x04;
pub const QUEUE_PFN: u16 = 0x08;
pub const QUEUE_SIZE: u16 = 0x0c;
pub const QUEUE_SELECT: u16 = 0x0e;
pub const QUEUE_NOTIFY: u16 = 0x10;
pub const DEVICE_STATUS: u16 = 0x12;
pub const ISR_STATUS: u16 = 0x13;
/// Device-specific configuration while MSI-X is disabled (it always is
/// here: the device interrupts through INTx).
pub const DEVICE_CONFIG: u16 = 0x14;

pub const STATUS_ACKNOWLEDGE: u8 = 1;
pub const STATUS_DRIVER: u8 = 2;
pub const STATUS_DRIVER_OK: u8 = 4;
pub const STATUS_NEEDS_RESET: u8 = 64;
pub const STATUS_FAILED: u8 = 128;

/// virtio-blk feature: the FLUSH command.
pub const BLK_F_FLUSH: u32 = 1 << 9;
/// Ring feature: descriptors may name an indirect table of descriptors
/// (`VIRTIO_RING_F_INDIRECT_DESC`; QEMU's virtio-blk offers it).
pub const RING_F_INDIRECT_DESC: u32 = 1 << 28;

/// Queue memory is named by page frame number (4 KiB pages).
pub const QUEUE_PAGE: u64 = 4096;
/// Largest queue a legacy device may offer (the spec's limit is 32768; we
/// keep the free list small).
pub const MAX_QUEUE_SIZE: u16 = 1024;

/// The registers of a legacy device: its I/O BAR at `base`.
#[derive(Clone, Copy, Debug)]
pub struct Legacy<P> {
    pub io: P,
    pub base: u16,
}

impl<P: PortIo> Legacy<P> {
    pub fn status(&self) -> u8 {
        self.io.in8(self.base + DEVICE_STATUS)
    }
    pub fn set_status(&self, s: u8) {
        self.io.out8(self.base + DEVICE_STATUS, s)
    }
    pub fn device_features(&self) -> u32 {
        self.io.in32(self.base + DEVICE_FEATURES)
    }
    pub fn driver_features(&self) -> u32 {
        self.io.in32(self.base + DRIVER_FEATURES)
    }
    pub fn set_driver_features(&self, f: u32) {
        self.io.out32(self.base + DRIVER_FEATURES, f)
    }
    pub fn select_queue(&self, q: u16) {
        self.io.out16(self.base + QUEUE_SELECT, q)
    }
    pub fn queue_size(&self) -> u16 {
        self.io.in16(self.base + QUEUE_SIZE)
    }
    pub fn queue_pfn(&self) -> u32 {
        self.io.in32(self.base + QUEUE_PFN)
    }
    pub fn set_queue_pfn(&self, pfn: u32) {
        self.io.out32(self.base + QUEUE_PFN, pfn)
    }
    /// Tells the device that queue `q` has new buffers.
    pub fn notify(&self, q: u16) {
        self.io.out16(self.base + QUEUE_NOTIFY, q)
    }
    /// Reads the ISR register, which also lowers the INTx line.
    pub fn isr(&self) -> u8 {
        self.io.in8(self.base + ISR_STATUS)
    }
    /// A dword of the device-specific configuration.
    pub fn config32(&self, off: u16) -> u32 {
        self.io.in32(self.base + DEVICE_CONFIG + off)
    }
}

/// Which feature bits the driver must have and which it takes if offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    pub required: u32,
    pub optional: u32,
}

/// What the block server asks of virtio-blk: nothing required, FLUSH and
/// indirect descriptor tables if offered.
pub const BLK_FEATURES: Features = Features {
    required: 0,
    optional: BLK_F_FLUSH | RING_F_INDIRECT_DESC,
};

/// The outcome of [`negotiate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The feature bits both sides use.
    pub features: u32,
    /// virtio-blk capacity in 512-byte sectors.
    pub capacity: u64,
    /// Entries of queue 0.
    pub queue_size: u16,
}

/// Why the device could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtioError {
    /// The status register did not take `wrote` (it reads `read`), or says
    /// FAILED / NEEDS_RESET.
    Refused { wrote: u8, read: u8 },
    /// The device does not offer these required features.
    MissingFeatures(u32),
    /// The device did not accept our feature bits (it reads back `read`).
    FeaturesRefused { wrote: u32, read: u32 },
    /// Queue 0 is absent, too large or not a power of two.
    QueueSize(u16),
    /// Queue 0 already has memory (another driver owns the device).
    QueueInUse(u32),
    /// The queue memory is not page aligned or lies above what a 32-bit
    /// page frame number reaches.
    QueueAddress(u64),
}

impl fmt::Display for VirtioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VirtioError::Refused { wrote, read } => {
                write!(f, "device status {read:#x} after writing {wrote:#x}")
            }
            VirtioError::MissingFeatures(m) => write!(f, "required features {m:#x} not offered"),
            VirtioError::FeaturesRefused { wrote, read } => {
                write!(f, "device took features {read:#x}, not {wrote:#x}")
            }
            VirtioError::QueueSize(s) => write!(f, "queue 0 has size {s}"),
            VirtioError::QueueInUse(pfn) => write!(f, "queue 0 already at page {pfn:#x}"),
            VirtioError::QueueAddress(pa) => write!(f, "queue memory at {pa:#x} cannot be named"),
        }
    }
}

/// Writes `s` to the status register and checks that the device took it.
fn set_checked<P: PortIo>(regs: &Legacy<P>, s: u8) -> Result<(), VirtioError> {
    regs.set_status(s);
    let read = regs.status();
    if read != s || read & (STATUS_FAILED | STATUS_NEEDS_RESET) != 0 {
        return Err(VirtioError::Refused { wrote: s, read });
    }
    Ok(())
}

/// Resets the device, acknowledges it, negotiates `want`, reads the
/// capacity and selects queue 0. On an error the device is left FAILED.
pub fn negotiate<P: PortIo>(regs: &Legacy<P>, want: Features) -> Result<Negotiated, VirtioError> {
    let r = negotiate_inner(regs, want);
    if r.is_err() {
        regs.set_status(STATUS_FAILED);
    }
    r
}

fn negotiate_inner<P: PortIo>(regs: &Legacy<P>, want: Features) -> Result<Negotiated, VirtioError> {
    regs.set_status(0);
    set_checked(regs, STATUS_ACKNOWLEDGE)?;
    set_checked(regs, STATUS_ACKNOWLEDGE | STATUS_DRIVER)?;
    let offered = regs.device_features();
    let missing = want.required & !offered;
    if missing != 0 {
        return Err(VirtioError::MissingFeatures(missing));
    }
    let features = offered & (want.required | want.optional);
    regs.set_driver_features(features);
    let read = regs.driver_features();
    if read != features {
        return Err(VirtioError::FeaturesRefused {
            wrote: features,
            read,
        });
    }
    let capacity = regs.config32(0) as u64 | (regs.config32(4) as u64) << 32;
    regs.select_queue(0);
    let queue_size = regs.queue_size();
    if queue_size == 0 || queue_size > MAX_QUEUE_SIZE || !queue_size.is_power_of_two() {
        return Err(VirtioError::QueueSize(queue_size));
    }
    let pfn = regs.queue_pfn();
    if pfn != 0 {
        return Err(VirtioError::QueueInUse(pfn));
    }
    Ok(Negotiated {
        features,
        capacity,
        queue_size,
    })
}

/// Gives queue 0 the memory at physical address `phys` (legacy layout)
/// and sets DRIVER_OK. On an error the device is left FAILED.
pub fn start<P: PortIo>(regs: &Legacy<P>, phys: u64) -> Result<(), VirtioError> {
    let pfn = phys / QUEUE_PAGE;
    if !phys.is_multiple_of(QUEUE_PAGE) || pfn == 0 || pfn > u32::MAX as u64 {
        regs.set_status(STATUS_FAILED);
        return Err(VirtioError::QueueAddress(phys));
    }
    regs.select_queue(0);
    regs.set_queue_pfn(pfn as u32);
    let r = set_checked(regs, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK);
    if r.is_err() {
        regs.set_status(STATUS_FAILED);
    }
    r
}
