//! PCI configuration space: configuration mechanism #1, finding devices on
//! bus 0, moving its I/O BAR to the ports the spec grants, placing a
//! memory BAR at the address the spec gives a device region (the root
//! task's use), and walking its capability list.

use crate::PortIo;
use alloc::vec::Vec;
use core::fmt;

/// Configuration-address port of mechanism #1.
pub const CONFIG_ADDRESS: u16 = 0xcf8;
/// Configuration-data port of mechanism #1.
pub const CONFIG_DATA: u16 = 0xcfc;

pub const VENDOR_ID: u8 = 0x00;
pub const COMMAND: u8 = 0x04;
pub const BAR0: u8 = 0x10;
pub const CAPABILITIES: u8 = 0x34;
pub const CMD_IO: u32 = 1;
pub const CMD_MEMORY: u32 = 2;
pub const CMD_BUS_MASTER: u32 = 4;
pub const CMD_INTX_DISABLE: u32 = 1 << 10;
/// Status register bit (upper half of the `COMMAND` dword): a capability
/// list exists.
pub const STATUS_CAP_LIST: u32 = 1 << 20;
/// Capability id of a vendor-specific capability (virtio's modern
/// transport describes its register blocks with these).
pub const CAP_VENDOR: u8 = 0x09;
/// Capability id of MSI-X.
pub const CAP_MSIX: u8 = 0x11;

/// A PCI function's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bdf {
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
}

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.dev, self.func)
    }
}

/// 32-bit access to configuration space. Offsets are dword aligned (the
/// low two bits are ignored).
pub trait ConfigSpace {
    fn read32(&self, bdf: Bdf, off: u8) -> u32;
    fn write32(&self, bdf: Bdf, off: u8, v: u32);
}

/// Configuration mechanism #1: the address goes to `0xcf8`, the data
/// through `0xcfc`. `P` must reach both ports.
#[derive(Clone, Copy, Debug)]
pub struct Mechanism1<P>(pub P);

/// The `0xcf8` word naming `off` of `bdf` (enable bit set).
pub fn config_address(bdf: Bdf, off: u8) -> u32 {
    0x8000_0000
        | (bdf.bus as u32) << 16
        | ((bdf.dev & 31) as u32) << 11
        | ((bdf.func & 7) as u32) << 8
        | (off as u32 & 0xfc)
}

impl<P: PortIo> ConfigSpace for Mechanism1<P> {
    fn read32(&self, bdf: Bdf, off: u8) -> u32 {
        self.0.out32(CONFIG_ADDRESS, config_address(bdf, off));
        self.0.in32(CONFIG_DATA)
    }

    fn write32(&self, bdf: Bdf, off: u8, v: u32) {
        self.0.out32(CONFIG_ADDRESS, config_address(bdf, off));
        self.0.out32(CONFIG_DATA, v);
    }
}

/// The first function on bus 0 with `vendor` and one of `devices`, and its
/// device id (see [`find_all`]).
pub fn find<C: ConfigSpace + ?Sized>(cfg: &C, vendor: u16, devices: &[u16]) -> Option<(Bdf, u16)> {
    find_all(cfg, vendor, devices).first().copied()
}

/// Every function on bus 0 with `vendor` and one of `devices`, with its
/// device id, in slot order. An absent function reads all ones; an absent
/// function 0 means the slot is empty.
pub fn find_all<C: ConfigSpace + ?Sized>(cfg: &C, vendor: u16, devices: &[u16]) -> Vec<(Bdf, u16)> {
    let mut found = Vec::new();
    for dev in 0..32 {
        for func in 0..8 {
            let b = Bdf { bus: 0, dev, func };
            let id = cfg.read32(b, VENDOR_ID);
            if id & 0xffff == 0xffff {
                if func == 0 {
                    break;
                }
                continue;
            }
            let device = (id >> 16) as u16;
            if id as u16 == vendor && devices.contains(&device) {
                found.push((b, device));
            }
        }
    }
    found
}

/// Why an I/O BAR could not be placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciError {
    /// The BAR decodes memory, not I/O ports (its current value).
    NotIoBar { bdf: Bdf, value: u32 },
    /// The BAR needs `size` ports, aligned to `size`; the grant is
    /// `first..=last`.
    DoesNotFit {
        bdf: Bdf,
        size: u32,
        first: u16,
        last: u16,
    },
    /// No function answers at `bdf`.
    NoDevice { bdf: Bdf },
    /// BAR `bar` does not decode memory (an I/O BAR, the upper half of a
    /// 64-bit one, no BAR at all), or is not a BAR (`bar` > 5).
    NotMemBar { bdf: Bdf, bar: u8, value: u32 },
    /// Memory BAR `bar` of `bar_size` bytes cannot hold the region
    /// `paddr + size`: smaller than it, `paddr` not aligned to the BAR's
    /// size, or a 32-bit BAR above 4 GiB.
    MemDoesNotFit {
        bdf: Bdf,
        bar: u8,
        bar_size: u64,
        paddr: u64,
        size: u64,
    },
    /// The BAR did not keep the address written to it.
    MemNotPlaced { bdf: Bdf, bar: u8, found: u64 },
}

impl fmt::Display for PciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PciError::NotIoBar { bdf, value } => {
                write!(f, "BAR0 of {bdf} is not an I/O BAR ({value:#x})")
            }
            PciError::DoesNotFit {
                bdf,
                size,
                first,
                last,
            } => write!(
                f,
                "BAR0 of {bdf} needs {size:#x} ports, aligned; the spec grants {first:#x}-{last:#x}"
            ),
            PciError::NoDevice { bdf } => write!(f, "no PCI function at {bdf}"),
            PciError::NotMemBar { bdf, bar, value } => {
                write!(f, "BAR{bar} of {bdf} is not a memory BAR ({value:#x})")
            }
            PciError::MemDoesNotFit {
                bdf,
                bar,
                bar_size,
                paddr,
                size,
            } => write!(
                f,
                "BAR{bar} of {bdf} ({bar_size:#x} bytes) cannot hold the region {paddr:#x} + {size:#x} \
                 (it must be at least the region, the address aligned to it, a 32-bit BAR below 4 GiB)"
            ),
            PciError::MemNotPlaced { bdf, bar, found } => {
                write!(f, "BAR{bar} of {bdf} reads {found:#x} after placing it")
            }
        }
    }
}

/// Moves the I/O BAR 0 of `bdf` to `first` (the start of the granted port
/// range `first..=last`), after checking its size and alignment, then
/// enables I/O decoding and bus mastering (and INTx). Decoding is off
/// while the BAR moves; on an error it stays off.
pub fn place_io_bar<C: ConfigSpace + ?Sized>(
    cfg: &C,
    bdf: Bdf,
    first: u16,
    last: u16,
) -> Result<(), PciError> {
    // The upper half is the status register (write 1 to clear): only the
    // command half is written back.
    let cmd = cfg.read32(bdf, COMMAND) & 0xffff;
    cfg.write32(bdf, COMMAND, cmd & !(CMD_IO | CMD_BUS_MASTER));
    let old = cfg.read32(bdf, BAR0);
    if old & 1 == 0 {
        return Err(PciError::NotIoBar { bdf, value: old });
    }
    cfg.write32(bdf, BAR0, 0xffff_ffff);
    let size = (!(cfg.read32(bdf, BAR0) & 0xffff_fffc)).wrapping_add(1) & 0xffff;
    let granted = (last as u32 + 1).saturating_sub(first as u32);
    if size == 0 || size > granted || !(first as u32).is_multiple_of(size) {
        cfg.write32(bdf, BAR0, old);
        return Err(PciError::DoesNotFit {
            bdf,
            size,
            first,
            last,
        });
    }
    cfg.write32(bdf, BAR0, first as u32);
    let cmd = (cmd | CMD_IO | CMD_BUS_MASTER) & !CMD_INTX_DISABLE;
    cfg.write32(bdf, COMMAND, cmd);
    Ok(())
}

/// Places memory BAR `bar` of `bdf` at `paddr` for a region of `size`
/// bytes and enables memory decoding; returns the BAR's size. Checks
/// first that a function answers, that the BAR decodes memory (32- or
/// 64-bit), that it is at least `size` bytes, that `paddr` is aligned to
/// its size (the device ignores the low bits) and that a 32-bit BAR stays
/// below 4 GiB. Decoding is off while the BAR is sized and moved; on an
/// error the BAR keeps its old value and the command register its old
/// state.
pub fn place_mem_bar<C: ConfigSpace + ?Sized>(
    cfg: &C,
    bdf: Bdf,
    bar: u8,
    paddr: u64,
    size: u64,
) -> Result<u64, PciError> {
    if cfg.read32(bdf, VENDOR_ID) & 0xffff == 0xffff {
        return Err(PciError::NoDevice { bdf });
    }
    let off = BAR0 + 4 * bar.min(5);
    let old = cfg.read32(bdf, off);
    let wide = old & 0b110 == 0b100;
    if bar > 5 || old & 1 != 0 || (wide && bar == 5) || old & 0b110 == 0b110 {
        return Err(PciError::NotMemBar {
            bdf,
            bar,
            value: old,
        });
    }
    // The upper half is the status register (write 1 to clear): only the
    // command half is written back.
    let cmd = cfg.read32(bdf, COMMAND) & 0xffff;
    cfg.write32(bdf, COMMAND, cmd & !CMD_MEMORY);
    let old_hi = if wide { cfg.read32(bdf, off + 4) } else { 0 };
    cfg.write32(bdf, off, 0xffff_ffff);
    let mut mask = u64::from(cfg.read32(bdf, off) & !0xf) | 0xffff_ffff_0000_0000;
    if wide {
        cfg.write32(bdf, off + 4, 0xffff_ffff);
        mask = (mask & 0xffff_ffff) | u64::from(cfg.read32(bdf, off + 4)) << 32;
        cfg.write32(bdf, off + 4, old_hi);
    }
    cfg.write32(bdf, off, old);
    let bar_size = (!mask).wrapping_add(1);
    let fits = mask & 0xffff_fff0 != 0
        && size <= bar_size
        && paddr.is_multiple_of(bar_size)
        && (wide || paddr.checked_add(bar_size).is_some_and(|e| e <= 1 << 32));
    if !fits {
        cfg.write32(bdf, COMMAND, cmd);
        return Err(PciError::MemDoesNotFit {
            bdf,
            bar,
            bar_size,
            paddr,
            size,
        });
    }
    cfg.write32(bdf, off, paddr as u32);
    if wide {
        cfg.write32(bdf, off + 4, (paddr >> 32) as u32);
    }
    let mut found = u64::from(cfg.read32(bdf, off) & !0xf);
    if wide {
        found |= u64::from(cfg.read32(bdf, off + 4)) << 32;
    }
    if found != paddr {
        cfg.write32(bdf, off, old);
        if wide {
            cfg.write32(bdf, off + 4, old_hi);
        }
        cfg.write32(bdf, COMMAND, cmd);
        return Err(PciError::MemNotPlaced { bdf, bar, found });
    }
    cfg.write32(bdf, COMMAND, cmd | CMD_MEMORY);
    Ok(bar_size)
}

/// One entry of a function's capability list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// Its offset in configuration space.
    pub offset: u8,
    pub id: u8,
}

/// The capability list of `bdf` (empty without the status bit). Stops at
/// a pointer into the header or after 48 entries, so a looping list ends.
pub fn capabilities<C: ConfigSpace + ?Sized>(
    cfg: &C,
    bdf: Bdf,
) -> impl Iterator<Item = Capability> + '_ {
    let status = cfg.read32(bdf, COMMAND);
    let mut next = if status & STATUS_CAP_LIST != 0 {
        (cfg.read32(bdf, CAPABILITIES) & 0xfc) as u8
    } else {
        0
    };
    let mut left = 48;
    core::iter::from_fn(move || {
        if next < 0x40 || left == 0 {
            return None;
        }
        left -= 1;
        let offset = next;
        let word = cfg.read32(bdf, offset);
        next = ((word >> 8) & 0xfc) as u8;
        Some(Capability {
            offset,
            id: word as u8,
        })
    })
}

/// Bytes of configuration space from `off` (for decoding a capability's
/// body), dword by dword.
pub fn read_bytes<C: ConfigSpace + ?Sized>(cfg: &C, bdf: Bdf, off: u8, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        let at = off as usize + i;
        if at > 0xff {
            *b = 0xff;
            continue;
        }
        *b = (cfg.read32(bdf, at as u8 & 0xfc) >> (8 * (at & 3))) as u8;
    }
}
