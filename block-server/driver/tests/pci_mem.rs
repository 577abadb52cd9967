//! Placing a memory BAR (the root task's use, for a spec's `device_frame` with a PCI BAR): QEMU's ivshmem-plain as SeaBIOS leaves it, moved to the spec's address; and every refusal, each leaving the BAR and the command register as they were.

use block_driver::pci::{self, Bdf, ConfigSpace, PciError, CMD_MEMORY, COMMAND};
use std::cell::RefCell;

const IVSHMEM: Bdf = Bdf {
    bus: 0,
    dev: 6,
    func: 0,
};

/// One function's configuration space with BARs that size like hardware:
/// the bits below a BAR's size read back as written by the device (type
/// bits), whatever is written.
struct Function {
    space: RefCell<[u32; 64]>,
    /// Per BAR register: the bits the device keeps writable (0: none).
    masks: [u32; 6],
}

impl Function {
    /// ivshmem-plain (1af4:1110) as SeaBIOS leaves it on q35: BAR0 256
    /// bytes of registers (32-bit memory), BAR2 a 64-bit prefetchable
    /// 1 MiB shared-memory window at 0xfe800000, memory decoding on.
    fn ivshmem() -> Function {
        let mut space = [0u32; 64];
        space[0] = 0x1110_1af4;
        space[1] = 0x0010_0003;
        space[4] = 0xfebf_1000;
        space[6] = 0xfe80_000c;
        space[7] = 0;
        Function {
            space: RefCell::new(space),
            masks: [0xffff_ff00, 0, 0xfff0_0000, 0xffff_ffff, 0, 0],
        }
    }
    fn reg(&self, i: usize) -> u32 {
        self.space.borrow()[i]
    }
}

impl ConfigSpace for Function {
    fn read32(&self, bdf: Bdf, off: u8) -> u32 {
        if bdf != IVSHMEM {
            return 0xffff_ffff;
        }
        self.space.borrow()[off as usize / 4]
    }
    fn write32(&self, bdf: Bdf, off: u8, v: u32) {
        assert_eq!(bdf, IVSHMEM, "a write to an absent function");
        let i = off as usize / 4;
        let mut s = self.space.borrow_mut();
        match i {
            4..=9 => {
                let m = self.masks[i - 4];
                s[i] = (v & m) | (s[i] & !m);
            }
            1 => s[1] = (s[1] & 0xffff_0000) | (v & 0xffff),
            _ => s[i] = v,
        }
    }
}

#[test]
fn moves_the_64_bit_window_and_enables_decoding() {
    let f = Function::ivshmem();
    let size = pci::place_mem_bar(&f, IVSHMEM, 2, 0xe000_0000, 1 << 20).unwrap();
    assert_eq!(size, 1 << 20);
    assert_eq!((f.reg(6), f.reg(7)), (0xe000_000c, 0));
    assert_ne!(f.reg(1) & CMD_MEMORY, 0);
    // Above 4 GiB, and a region smaller than the BAR at its start.
    pci::place_mem_bar(&f, IVSHMEM, 2, 0x8_0010_0000, 64 << 10).unwrap();
    assert_eq!((f.reg(6), f.reg(7)), (0x0010_000c, 8));
    // The other BAR and the IDs are untouched.
    assert_eq!((f.reg(0), f.reg(4)), (0x1110_1af4, 0xfebf_1000));
}

#[test]
fn a_32_bit_bar_stays_below_4g() {
    let f = Function::ivshmem();
    assert_eq!(
        pci::place_mem_bar(&f, IVSHMEM, 0, 0xe010_0000, 4096),
        Err(PciError::MemDoesNotFit {
            bdf: IVSHMEM,
            bar: 0,
            bar_size: 256,
            paddr: 0xe010_0000,
            size: 4096
        })
    );
    assert_eq!(
        pci::place_mem_bar(&f, IVSHMEM, 0, 0xe010_0000, 256),
        Ok(256)
    );
    assert_eq!(f.reg(4), 0xe010_0000);
    let e = pci::place_mem_bar(&f, IVSHMEM, 0, 0x1_0000_0000, 256);
    assert!(matches!(e, Err(PciError::MemDoesNotFit { .. })), "{e:?}");
    assert_eq!(f.reg(4), 0xe010_0000);
}

#[test]
fn refusals_change_nothing() {
    let f = Function::ivshmem();
    let before = *f.space.borrow();
    let absent = Bdf { dev: 7, ..IVSHMEM };
    assert_eq!(
        pci::place_mem_bar(&f, absent, 2, 0xe000_0000, 4096),
        Err(PciError::NoDevice { bdf: absent })
    );
    for (bar, paddr, size) in [
        (1, 0xe000_0000, 4096),    // no BAR (reads 0: a 32-bit BAR of size 0)
        (3, 0xe000_0000, 4096),    // the upper half of BAR2
        (6, 0xe000_0000, 4096),    // past the last BAR
        (2, 0xe008_0000, 4096),    // not aligned to the BAR's 1 MiB
        (2, 0xe000_0000, 2 << 20), // more than the BAR
    ] {
        let e = pci::place_mem_bar(&f, IVSHMEM, bar, paddr, size);
        assert!(
            matches!(
                e,
                Err(PciError::NotMemBar { .. } | PciError::MemDoesNotFit { .. })
            ),
            "BAR{bar} {paddr:#x} + {size:#x}: {e:?}"
        );
        assert_eq!(*f.space.borrow(), before, "BAR{bar} {paddr:#x} + {size:#x}");
    }
    let msg = pci::place_mem_bar(&f, IVSHMEM, 2, 0xe008_0000, 4096)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("BAR2 of 00:06.0 (0x100000 bytes)"), "{msg}");
    assert_eq!(f.read32(IVSHMEM, COMMAND) & CMD_MEMORY, CMD_MEMORY);
}

#[test]
fn an_io_bar_is_refused() {
    let f = Function::ivshmem();
    f.space.borrow_mut()[4] = 0xc001;
    assert_eq!(
        pci::place_mem_bar(&f, IVSHMEM, 0, 0xe000_0000, 256),
        Err(PciError::NotMemBar {
            bdf: IVSHMEM,
            bar: 0,
            value: 0xc001
        })
    );
}
