//! PCI against captured configuration space: enumeration, placing the I/O
//! BAR (the result must equal what the real boot left), the errors, the
//! mechanism-#1 port traffic, and the capability lists of both disks.

mod common;

use block_driver::pci::{self, Bdf, Capability, ConfigSpace, Mechanism1, PciError};
use block_driver::virtio;
use common::{captured, CapturedBus, PortLog, DISK};

#[test]
fn finds_the_disk_on_the_captured_bus() {
    let bus = CapturedBus::legacy();
    let found = pci::find(
        &bus,
        virtio::VENDOR,
        &[virtio::BLK_TRANSITIONAL, virtio::BLK_MODERN],
    );
    assert_eq!(found, Some((DISK, virtio::BLK_TRANSITIONAL)));
    assert_eq!(DISK.to_string(), "00:04.0");
    // The LPC bridge's other functions are found too (a multi-function slot
    // with a hole at function 1).
    let smbus = pci::find(&bus, 0x8086, &[0x2930]);
    assert_eq!(
        smbus,
        Some((
            Bdf {
                bus: 0,
                dev: 0x1f,
                func: 3
            },
            0x2930
        ))
    );
    assert_eq!(pci::find(&bus, virtio::VENDOR, &[0x1000]), None);
}

#[test]
fn every_disk_is_found_in_slot_order() {
    let bus = CapturedBus::legacy();
    let ids = [virtio::BLK_TRANSITIONAL, virtio::BLK_MODERN];
    assert_eq!(
        pci::find_all(&bus, virtio::VENDOR, &ids),
        vec![(DISK, virtio::BLK_TRANSITIONAL)]
    );
    // The files disk `cargo qemu` attaches in slot 5, and one in slot 2.
    bus.add_function(5, 0, captured::LEGACY_CFG);
    bus.add_function(2, 0, captured::LEGACY_CFG);
    let slot = |dev| Bdf {
        bus: 0,
        dev,
        func: 0,
    };
    assert_eq!(
        pci::find_all(&bus, virtio::VENDOR, &ids),
        vec![
            (slot(2), virtio::BLK_TRANSITIONAL),
            (DISK, virtio::BLK_TRANSITIONAL),
            (slot(5), virtio::BLK_TRANSITIONAL)
        ]
    );
    assert_eq!(
        pci::find(&bus, virtio::VENDOR, &ids),
        Some((slot(2), virtio::BLK_TRANSITIONAL))
    );
    assert!(pci::find_all(&bus, virtio::VENDOR, &[0x1000]).is_empty());
}

#[test]
fn a_modern_only_disk_is_found_as_such() {
    let mut space = captured::LEGACY_CFG;
    space[0] = (virtio::BLK_MODERN as u32) << 16 | virtio::VENDOR as u32;
    let bus = CapturedBus::new(&space, captured::LEGACY_BAR_MASKS);
    let found = pci::find(
        &bus,
        virtio::VENDOR,
        &[virtio::BLK_TRANSITIONAL, virtio::BLK_MODERN],
    );
    assert_eq!(found, Some((DISK, virtio::BLK_MODERN)));
}

#[test]
fn placing_the_bar_leaves_what_the_real_boot_left() {
    let bus = CapturedBus::legacy();
    pci::place_io_bar(&bus, DISK, 0x6000, 0x607f).unwrap();
    assert_eq!(bus.disk_space(), captured::LEGACY_CFG_AFTER);
    // Decoding was off while the BAR moved, and the status half was never
    // written back.
    let writes = bus.writes.borrow();
    let cmd: Vec<u32> = writes
        .iter()
        .filter(|w| w.1 == pci::COMMAND)
        .map(|w| w.2)
        .collect();
    assert_eq!(cmd, [0x0102, 0x0107]);
    let bar: Vec<u32> = writes
        .iter()
        .filter(|w| w.1 == pci::BAR0)
        .map(|w| w.2)
        .collect();
    assert_eq!(bar, [0xffff_ffff, 0x6000]);
}

#[test]
fn placing_clears_intx_disable() {
    let bus = CapturedBus::legacy();
    bus.set_disk_dword(pci::COMMAND, 0x0010_0000 | pci::CMD_INTX_DISABLE | 2);
    pci::place_io_bar(&bus, DISK, 0x6000, 0x607f).unwrap();
    assert_eq!(
        bus.disk_space()[1],
        0x0010_0000 | pci::CMD_IO | 2 | pci::CMD_BUS_MASTER
    );
}

#[test]
fn a_grant_too_small_or_misaligned_is_refused() {
    for (first, last) in [(0x6000, 0x603f), (0x6040, 0x60bf), (0x6000, 0x5fff)] {
        let bus = CapturedBus::legacy();
        let e = pci::place_io_bar(&bus, DISK, first, last).unwrap_err();
        assert_eq!(
            e,
            PciError::DoesNotFit {
                bdf: DISK,
                size: 0x80,
                first,
                last
            }
        );
        // The BAR keeps its old value; decoding stays off.
        let s = bus.disk_space();
        assert_eq!(s[4], captured::LEGACY_CFG[4]);
        assert_eq!(s[1] & (pci::CMD_IO | pci::CMD_BUS_MASTER), 0);
        assert!(e.to_string().contains("needs 0x80 ports"));
    }
    let bus = CapturedBus::legacy();
    pci::place_io_bar(&bus, DISK, 0x6080, 0x60ff).unwrap();
    assert_eq!(bus.disk_space()[4], 0x6081);
}

#[test]
fn a_memory_bar_is_refused() {
    let mut space = captured::LEGACY_CFG;
    space[4] = 0xfebd_6000;
    let mut masks = captured::LEGACY_BAR_MASKS;
    masks[0] = 0xffff_f000;
    let bus = CapturedBus::new(&space, masks);
    assert_eq!(
        pci::place_io_bar(&bus, DISK, 0x6000, 0x607f),
        Err(PciError::NotIoBar {
            bdf: DISK,
            value: 0xfebd_6000
        })
    );
}

#[test]
fn mechanism_1_addresses() {
    let ports = PortLog {
        answer: 0x1234_5678,
        ..Default::default()
    };
    let cfg = Mechanism1(&ports);
    let b = Bdf {
        bus: 1,
        dev: 0x1f,
        func: 3,
    };
    assert_eq!(cfg.read32(b, 0x13), 0x1234_5678);
    cfg.write32(DISK, pci::BAR0, 0x6000);
    assert_eq!(
        *ports.log.borrow(),
        [
            ("out32", 0xcf8, 0x8001_fb10),
            ("in32", 0xcfc, 0),
            ("out32", 0xcf8, 0x8000_2010),
            ("out32", 0xcfc, 0x6000),
        ]
    );
}

#[test]
fn the_legacy_disk_has_only_msix() {
    let bus = CapturedBus::legacy();
    let caps: Vec<Capability> = pci::capabilities(&bus, DISK).collect();
    assert_eq!(
        caps,
        [Capability {
            offset: 0x40,
            id: pci::CAP_MSIX
        }]
    );
}

/// A virtio modern-transport capability: `(cfg_type, bar, offset, length)`.
fn virtio_caps(bus: &CapturedBus) -> Vec<(u8, u8, u32, u32)> {
    pci::capabilities(bus, DISK)
        .filter(|c| c.id == pci::CAP_VENDOR)
        .map(|c| {
            let mut b = [0u8; 16];
            pci::read_bytes(bus, DISK, c.offset, &mut b);
            let w = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
            (b[3], b[4], w(8), w(12))
        })
        .collect()
}

/// What `virtio-drivers`' PCI transport (modern only) would need: every
/// register block of QEMU's default device is in memory BAR 4, a 16 KiB
/// 64-bit BAR the firmware put at 0xfe000000 -- device memory our root
/// task grants nobody. The legacy-only disk has none of these blocks.
#[test]
fn the_default_disk_keeps_its_modern_registers_in_memory_bar_4() {
    let bus = CapturedBus::new(
        &captured::TRANSITIONAL_CFG,
        captured::TRANSITIONAL_BAR_MASKS,
    );
    assert_eq!(
        virtio_caps(&bus),
        [
            (5, 0, 0, 0),           // PCI configuration access
            (2, 4, 0x3000, 0x1000), // notifications
            (4, 4, 0x2000, 0x1000), // device configuration
            (3, 4, 0x1000, 0x1000), // ISR
            (1, 4, 0x0000, 0x1000), // common configuration
        ]
    );
    let bar4 = bus.read32(DISK, pci::BAR0 + 16);
    assert_eq!(bar4 & 0xf, 0xc, "64-bit prefetchable memory");
    assert_eq!(bar4 & !0xf, 0xfe00_0000);
    let size = !(captured::TRANSITIONAL_BAR_MASKS[4] & !0xf) + 1;
    assert_eq!(size, 0x4000);
    // Its legacy interface is the same I/O BAR as the legacy-only disk's,
    // so this driver runs on both.
    pci::place_io_bar(&bus, DISK, 0x6000, 0x607f).unwrap();
    assert!(virtio_caps(&CapturedBus::legacy()).is_empty());
}

#[test]
fn a_looping_capability_list_ends() {
    let mut space = captured::LEGACY_CFG;
    space[0x40 / 4] = 0x0000_4011; // MSI-X pointing at itself
    let bus = CapturedBus::new(&space, captured::LEGACY_BAR_MASKS);
    assert_eq!(pci::capabilities(&bus, DISK).count(), 48);
    // No capability-list bit: no list.
    space[1] &= !pci::STATUS_CAP_LIST;
    let bus = CapturedBus::new(&space, captured::LEGACY_BAR_MASKS);
    assert_eq!(pci::capabilities(&bus, DISK).count(), 0);
}
