//! PCI configuration space through the legacy mechanism #1 ports
//! (`0xcf8` address, `0xcfc` data), reached through an IOPort cap (user
//! code may not execute `in`/`out` on seL4; the kernel does it for us).

use sel4::cap;

/// An IOPort cap and the ports it covers.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub cap: cap::IOPort,
    pub first: u16,
    pub last: u16,
}

impl Ports {
    pub fn in8(&self, port: u16) -> u8 {
        self.cap.x86_io_port_in8(port).expect("in8")
    }
    pub fn in16(&self, port: u16) -> u16 {
        self.cap.x86_io_port_in16(port).expect("in16")
    }
    pub fn in32(&self, port: u16) -> u32 {
        self.cap.x86_io_port_in32(port).expect("in32")
    }
    pub fn out8(&self, port: u16, v: u8) {
        self.cap
            .x86_io_port_out8(port as u64, v as u64)
            .expect("out8")
    }
    pub fn out16(&self, port: u16, v: u16) {
        self.cap
            .x86_io_port_out16(port as u64, v as u64)
            .expect("out16")
    }
    pub fn out32(&self, port: u16, v: u32) {
        self.cap
            .x86_io_port_out32(port as u64, v as u64)
            .expect("out32")
    }
}

/// Configuration space access.
pub struct Config {
    pub ports: Ports,
}

/// A PCI function's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bdf {
    pub bus: u8,
    pub dev: u8,
    pub func: u8,
}

impl core::fmt::Display for Bdf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.dev, self.func)
    }
}

pub const VENDOR_ID: u8 = 0x00;
pub const COMMAND: u8 = 0x04;
pub const BAR0: u8 = 0x10;
pub const CMD_IO: u32 = 1;
pub const CMD_BUS_MASTER: u32 = 4;
pub const CMD_INTX_DISABLE: u32 = 1 << 10;

impl Config {
    fn address(b: Bdf, off: u8) -> u32 {
        0x8000_0000
            | (b.bus as u32) << 16
            | (b.dev as u32) << 11
            | (b.func as u32) << 8
            | (off as u32 & 0xfc)
    }

    pub fn read32(&self, b: Bdf, off: u8) -> u32 {
        self.ports.out32(0xcf8, Self::address(b, off));
        self.ports.in32(0xcfc)
    }

    pub fn write32(&self, b: Bdf, off: u8, v: u32) {
        self.ports.out32(0xcf8, Self::address(b, off));
        self.ports.out32(0xcfc, v);
    }

    /// The first function on bus 0 with `vendor` and one of `devices`.
    pub fn find(&self, vendor: u16, devices: &[u16]) -> Option<(Bdf, u16)> {
        for dev in 0..32 {
            for func in 0..8 {
                let b = Bdf { bus: 0, dev, func };
                let id = self.read32(b, VENDOR_ID);
                if id & 0xffff == 0xffff {
                    if func == 0 {
                        break;
                    }
                    continue;
                }
                let device = (id >> 16) as u16;
                if id as u16 == vendor && devices.contains(&device) {
                    return Some((b, device));
                }
            }
        }
        None
    }
}
