//! Bringing up the legacy virtio-blk device: the handshake against a fake
//! device with the captured registers, and every way it can refuse.

mod common;

use block_driver::blk::{Disk, DiskError};
use block_driver::queue::Layout;
use block_driver::virtio::{self, Features, Legacy, VirtioError, BLK_FEATURES};
use block_driver::Pending;
use common::{captured, Device, FakeDma, PhysMem, BAR};
use std::rc::Rc;

type TestDisk = Disk<Device, FakeDma, Pending>;

fn setup() -> (Rc<PhysMem>, Device) {
    let mem = PhysMem::new(0x20_0000, 64);
    let dev = Device::new(&mem, vec![0; 1 << 20]);
    (mem, dev)
}

fn bring_up(mem: &Rc<PhysMem>, dev: &Device, want: Features) -> Result<TestDisk, DiskError> {
    let regs = Legacy {
        io: dev.clone(),
        base: BAR,
    };
    Disk::bring_up(regs, want, |bytes| Ok(FakeDma::new(mem, bytes)))
}

const ACK: u8 = virtio::STATUS_ACKNOWLEDGE;
const DRIVER: u8 = virtio::STATUS_DRIVER;
const OK: u8 = virtio::STATUS_DRIVER_OK;
const FAILED: u8 = virtio::STATUS_FAILED;
/// What the captured device offers of what we want.
const BOTH: u32 = virtio::BLK_F_FLUSH | virtio::RING_F_INDIRECT_DESC;

#[test]
fn brings_up_the_captured_device() {
    let (mem, dev) = setup();
    // The capacity as captured, not patched: 514 MiB.
    dev.state().config = captured::BLK_CONFIG;
    let disk = bring_up(&mem, &dev, BLK_FEATURES).unwrap();
    assert_eq!(disk.capacity(), 0x10_1000);
    assert!(disk.flush_supported());
    assert_eq!(disk.features(), BOTH);
    assert!(disk.indirect());
    assert_eq!(disk.queue_size(), 256);
    assert_eq!(disk.free_descriptors(), 256);
    let d = dev.state();
    assert_eq!(d.status_writes, [0, ACK, ACK | DRIVER, ACK | DRIVER | OK]);
    assert_eq!(d.status, ACK | DRIVER | OK);
    assert_eq!(d.driver_features, BOTH);
    assert_eq!(d.pfn as u64 * 4096, disk.queue_phys());
    assert_eq!(disk.queue_phys(), mem.phys0, "the first pages of fake RAM");
    assert_eq!(d.queue_sel, 0);
}

#[test]
fn the_layout_is_the_legacy_one() {
    // As the real boot printed it for QEMU's 256 entries.
    let l = Layout::new(256);
    assert_eq!(
        (l.avail, l.used, l.headers, l.status, l.bounce, l.bytes),
        (4096, 8192, 12288, 16384, 20480, 24576)
    );
    assert_eq!((l.tables, l.table_entries, l.indirect()), (20480, 0, false));
    // With an indirect table of 34 descriptors per entry: 136 KiB more.
    let l = Layout::with_tables(256, 34);
    assert_eq!(
        (l.avail, l.used, l.headers, l.status, l.tables, l.bounce, l.bytes),
        (4096, 8192, 12288, 16384, 20480, 159744, 163840)
    );
    assert_eq!(
        (l.table(0), l.table(1), l.table(255)),
        (20480, 21024, 159200)
    );
    assert!(l.indirect());
    let l = Layout::new(16);
    assert_eq!((l.avail, l.used), (256, 4096));
    assert_eq!(l.used_elem(17), 4096 + 4 + 8);
    assert_eq!(l.avail_slot(16), 256 + 4);
}

#[test]
fn without_flush_the_device_negotiates_nothing() {
    let (mem, dev) = setup();
    dev.state().offered = captured::LEGACY_FEATURES & !BOTH;
    let disk = bring_up(&mem, &dev, BLK_FEATURES).unwrap();
    assert!(!disk.flush_supported());
    assert!(!disk.indirect());
    assert_eq!(dev.state().driver_features, 0);
}

#[test]
fn indirect_tables_are_used_when_offered_and_the_queue_holds_a_chain() {
    // Offered alone: taken alone, and the queue memory grows by the tables.
    let (mem, dev) = setup();
    dev.state().offered = captured::LEGACY_FEATURES & !virtio::BLK_F_FLUSH;
    let disk = bring_up(&mem, &dev, BLK_FEATURES).unwrap();
    assert_eq!(dev.state().driver_features, virtio::RING_F_INDIRECT_DESC);
    assert!(disk.indirect() && !disk.flush_supported());
    let r = disk.queue_range();
    assert_eq!(r.end - r.start, Layout::with_tables(256, 34).bytes as u64);
    assert_eq!(
        (disk.ring_slots_for(32), TestDisk::descriptors_for(32)),
        (1, 34)
    );
    // Not offered: direct chains and today's 24 KiB.
    let (mem, dev) = setup();
    dev.state().offered = captured::LEGACY_FEATURES & !virtio::RING_F_INDIRECT_DESC;
    let disk = bring_up(&mem, &dev, BLK_FEATURES).unwrap();
    assert!(!disk.indirect());
    let r = disk.queue_range();
    assert_eq!(r.end - r.start, 24576);
    assert_eq!(disk.ring_slots_for(32), 34);
    // Offered, but a queue shorter than the longest chain (34): the spec
    // bounds every chain, indirect ones too, by the queue size, so the
    // chains stay direct (the feature is negotiated and unused).
    let (mem, dev) = setup();
    dev.state().queue_size = 32;
    let disk = bring_up(&mem, &dev, BLK_FEATURES).unwrap();
    assert_eq!(disk.features(), BOTH);
    assert!(!disk.indirect());
    assert_eq!(disk.ring_slots_for(1), 3);
    let r = disk.queue_range();
    assert_eq!(r.end - r.start, Layout::new(32).bytes as u64);
    // The smallest queue that holds one: 64 entries (a power of two).
    let (mem, dev) = setup();
    dev.state().queue_size = 64;
    assert!(bring_up(&mem, &dev, BLK_FEATURES).unwrap().indirect());
}

#[test]
fn a_device_that_refuses_the_status_handshake_is_failed() {
    let (mem, dev) = setup();
    dev.state().refuse_status = true;
    let e = bring_up(&mem, &dev, BLK_FEATURES).unwrap_err();
    assert_eq!(
        e,
        DiskError::Virtio(VirtioError::Refused {
            wrote: ACK,
            read: 0
        })
    );
    assert_eq!(*dev.state().status_writes.last().unwrap(), FAILED);
    assert_eq!(dev.state().pfn, 0, "no queue was given");
}

#[test]
fn a_device_that_refuses_features_is_failed() {
    let (mem, dev) = setup();
    dev.state().refuse_features = true;
    let e = bring_up(&mem, &dev, BLK_FEATURES).unwrap_err();
    assert_eq!(
        e,
        DiskError::Virtio(VirtioError::FeaturesRefused {
            wrote: BOTH,
            read: 0
        })
    );
    assert_eq!(dev.state().status, FAILED);
    assert!(e.to_string().contains("features"));
}

#[test]
fn a_missing_required_feature_is_failed() {
    let (mem, dev) = setup();
    dev.state().offered = 0;
    let want = Features {
        required: virtio::BLK_F_FLUSH,
        optional: 0,
    };
    let e = bring_up(&mem, &dev, want).unwrap_err();
    assert_eq!(
        e,
        DiskError::Virtio(VirtioError::MissingFeatures(virtio::BLK_F_FLUSH))
    );
    assert_eq!(dev.state().status, FAILED);
}

#[test]
fn a_device_that_fails_itself_is_failed() {
    let (mem, dev) = setup();
    // A device that sets FAILED on top of whatever we write: model it by
    // refusing writes while reading FAILED.
    dev.state().refuse_status = true;
    dev.state().status = ACK | virtio::STATUS_NEEDS_RESET;
    let e = bring_up(&mem, &dev, BLK_FEATURES).unwrap_err();
    assert!(matches!(
        e,
        DiskError::Virtio(VirtioError::Refused { wrote: ACK, .. })
    ));
}

#[test]
fn impossible_queue_sizes_are_refused() {
    for size in [0, 3, 2048] {
        let (mem, dev) = setup();
        dev.state().queue_size = size;
        let e = bring_up(&mem, &dev, BLK_FEATURES).unwrap_err();
        assert_eq!(e, DiskError::Virtio(VirtioError::QueueSize(size)));
        assert_eq!(dev.state().status, FAILED);
    }
    // The smallest legal queue works.
    let (mem, dev) = setup();
    dev.state().queue_size = 1;
    assert_eq!(bring_up(&mem, &dev, BLK_FEATURES).unwrap().queue_size(), 1);
}

#[test]
fn queue_memory_problems_are_failed() {
    let (mem, dev) = setup();
    let regs = Legacy {
        io: dev.clone(),
        base: BAR,
    };
    let e =
        TestDisk::bring_up(regs.clone(), BLK_FEATURES, |_| Err("no untyped".into())).unwrap_err();
    assert_eq!(e, DiskError::Dma("no untyped".into()));
    assert_eq!(dev.state().status, FAILED);

    let e = TestDisk::bring_up(regs.clone(), BLK_FEATURES, |_| Ok(FakeDma::new(&mem, 4096)))
        .unwrap_err();
    assert_eq!(
        e,
        DiskError::DmaTooSmall {
            // With indirect tables (the captured device offers them).
            need: 163840,
            have: 4096
        }
    );
    assert_eq!(dev.state().status, FAILED);

    let e = TestDisk::bring_up(regs, BLK_FEATURES, |bytes| {
        let mut m = FakeDma::new(&mem, bytes + 4096);
        m.phys += 512;
        Ok(m)
    })
    .unwrap_err();
    assert!(matches!(e, DiskError::Virtio(VirtioError::QueueAddress(_))));
    assert_eq!(dev.state().status, FAILED);
}

#[test]
fn a_queue_another_driver_left_is_refused() {
    let (mem, dev) = setup();
    // The firmware's queue as captured (SeaBIOS drives the disk too); a
    // real reset clears it, this device keeps it.
    dev.state().pfn = 0xdc;
    let e = bring_up(&mem, &dev, BLK_FEATURES);
    assert!(e.is_ok(), "reset clears it");
    let (mem, dev) = setup();
    dev.state().pfn = 0xdc;
    dev.state().keep_pfn = true;
    let e = bring_up(&mem, &dev, BLK_FEATURES).unwrap_err();
    assert_eq!(e, DiskError::Virtio(VirtioError::QueueInUse(0xdc)));
    assert_eq!(dev.state().status, FAILED);
}

#[test]
fn isr_reads_lower_the_line() {
    let (mem, dev) = setup();
    let disk = bring_up(&mem, &dev, BLK_FEATURES).unwrap();
    dev.state().isr = 1;
    assert_eq!(disk.isr(), 1);
    assert_eq!(disk.isr(), 0);
}
