//! The split virtqueue and virtio-blk requests: replaying the captured
//! start-up (33 sector reads) must write the same descriptors, available
//! ring and headers QEMU saw, and reaping QEMU's used ring must work;
//! then a full ring, bad used-ring entries, index wrap-around, and the
//! request chains (header, data, status).

mod common;

use block_driver::blk::{BlkOp, Disk, DiskError, BLK_S_IOERR, BLK_S_OK, STATUS_UNWRITTEN};
use block_driver::queue::{Buffer, Layout, QueueError, Segment, SplitQueue};
use block_driver::virtio::{Legacy, BLK_FEATURES};
use block_driver::DmaMemory;
use common::captured::{self, hex};
use common::{Device, FakeDma, PhysMem, Seen, BAR};
use std::rc::Rc;

/// A queue of `size` over fresh fake RAM at `phys`.
fn queue_at(phys: u64, size: u16) -> (Rc<PhysMem>, SplitQueue<FakeDma>) {
    let layout = Layout::new(size);
    let mem = PhysMem::new(phys, layout.bytes / 4096 + 4);
    let dma = FakeDma::new(&mem, layout.bytes);
    assert_eq!(dma.phys, phys);
    (mem, SplitQueue::new(dma, layout))
}

/// What a sector read through the bounce page submits.
fn bounce_read(layout: &Layout, phys: u64, head: u16) -> [Buffer; 3] {
    [
        Buffer {
            phys: phys + (layout.headers + 16 * head as usize) as u64,
            len: 16,
            device_writes: false,
        },
        Buffer {
            phys: phys + layout.bounce as u64,
            len: 512,
            device_writes: true,
        },
        Buffer {
            phys: phys + (layout.status + head as usize) as u64,
            len: 1,
            device_writes: true,
        },
    ]
}

#[test]
fn replaying_the_start_up_writes_what_qemu_saw() {
    let phys = captured::RING_PHYS;
    let (mem, mut q) = queue_at(phys, captured::QUEUE_SIZE);
    let layout = *q.layout();
    let used = hex(captured::RING_USED);
    for i in 0..captured::RING_READS {
        let head = q.next_head().unwrap();
        // The sector the request asked for, in the header area as the driver
        // writes it.
        let hdr = layout.headers + 16 * head as usize;
        q.memory().write32(hdr, 0);
        q.memory().write64(hdr + 8, i as u64 + 1);
        assert_eq!(q.submit(&bounce_read(&layout, phys, head)).unwrap(), head);
        // QEMU's answer for this request, from the captured used ring.
        let e = 4 + 8 * i as usize;
        mem.write(phys + (layout.used + e) as u64, &used[e..e + 8]);
        mem.w16(phys + layout.used as u64 + 2, i + 1);
        let u = q.reap().unwrap().unwrap();
        assert_eq!((u.head, u.len), (head, 513));
        assert!(q.reap().is_none());
    }
    let bytes = |off: usize, n: usize| mem.bytes(phys + off as u64, n);
    assert_eq!(bytes(0, 64), hex(captured::RING_DESC));
    assert_eq!(bytes(layout.avail, 4 + 2 * 36), hex(captured::RING_AVAIL));
    assert_eq!(bytes(layout.used, 4 + 8 * 36), used);
    assert_eq!(bytes(layout.headers, 48), hex(captured::RING_HEADERS));
    assert_eq!(q.free_descriptors(), 256);
    assert_eq!(q.in_flight(), 0);
}

#[test]
fn a_full_ring_refuses_and_recovers() {
    let (mem, mut q) = queue_at(0x10_0000, 8);
    let buf = |n| {
        vec![
            Buffer {
                phys: 0x1000,
                len: 512,
                device_writes: false
            };
            n
        ]
    };
    let a = q.submit(&buf(3)).unwrap();
    let b = q.submit(&buf(4)).unwrap();
    assert_eq!(q.free_descriptors(), 1);
    assert_eq!(
        q.submit(&buf(2)),
        Err(QueueError::Full { need: 2, free: 1 })
    );
    assert_eq!(q.submit(&[]), Err(QueueError::Empty));
    let c = q.submit(&buf(1)).unwrap();
    assert_eq!(
        q.submit(&buf(1)),
        Err(QueueError::Full { need: 1, free: 0 })
    );
    assert_eq!(q.in_flight(), 3);
    // The device finishes b, then a and c.
    let used = q.layout().used as u64 + 0x10_0000;
    for (i, id) in [b, a, c].into_iter().enumerate() {
        mem.w32(used + 4 + 8 * i as u64, id as u32);
        mem.w16(used + 2, i as u16 + 1);
        assert_eq!(q.reap().unwrap().unwrap().head, id);
    }
    assert_eq!(q.free_descriptors(), 8);
    // Every descriptor is usable again, once.
    let all = q.submit(&buf(8)).unwrap();
    assert_eq!(q.in_flight(), 1);
    mem.w32(used + 4 + 8 * 3, all as u32);
    mem.w16(used + 2, 4);
    q.reap().unwrap().unwrap();
    assert_eq!(q.free_descriptors(), 8);
}

#[test]
fn chains_link_in_order_with_the_right_flags() {
    let (mem, mut q) = queue_at(0x10_0000, 8);
    let bufs = [
        Buffer {
            phys: 0xa000,
            len: 16,
            device_writes: false,
        },
        Buffer {
            phys: 0xb000,
            len: 4096,
            device_writes: true,
        },
        Buffer {
            phys: 0xc000,
            len: 1,
            device_writes: true,
        },
    ];
    let head = q.submit(&bufs).unwrap();
    let mut i = head;
    for (k, b) in bufs.iter().enumerate() {
        let d = 0x10_0000 + 16 * i as u64;
        assert_eq!(mem.r64(d), b.phys);
        assert_eq!(mem.r32(d + 8), b.len);
        let flags = mem.r16(d + 12);
        assert_eq!(flags & 2 != 0, b.device_writes);
        assert_eq!(flags & 1 != 0, k + 1 < bufs.len());
        i = mem.r16(d + 14);
    }
    let avail = 0x10_0000 + q.layout().avail as u64;
    assert_eq!(mem.r16(avail + 2), 1);
    assert_eq!(mem.r16(avail + 4), head);
}

#[test]
fn used_entries_that_name_no_chain_are_skipped_and_reported() {
    let (mem, mut q) = queue_at(0x10_0000, 8);
    let b = Buffer {
        phys: 0x1000,
        len: 512,
        device_writes: true,
    };
    let head = q.submit(&[b, b, b]).unwrap();
    let used = 0x10_0000 + q.layout().used as u64;
    // Out of the table, then a descriptor inside the chain (not its head),
    // then a free one, then the real one, then the real one again.
    let inner = mem.r16(0x10_0000 + 16 * head as u64 + 14);
    let free = q.next_head().unwrap();
    for (i, id) in [99, inner as u32, free as u32, head as u32, head as u32]
        .into_iter()
        .enumerate()
    {
        mem.w32(used + 4 + 8 * i as u64, id);
    }
    mem.w16(used + 2, 5);
    assert_eq!(q.reap(), Some(Err(QueueError::BadUsedId(99))));
    assert_eq!(q.reap(), Some(Err(QueueError::BadUsedId(inner as u32))));
    assert_eq!(q.reap(), Some(Err(QueueError::BadUsedId(free as u32))));
    assert_eq!(q.reap().unwrap().unwrap().head, head);
    assert_eq!(q.reap(), Some(Err(QueueError::BadUsedId(head as u32))));
    assert_eq!(q.reap(), None);
    // Nothing was freed twice.
    assert_eq!(q.free_descriptors(), 8);
    let again = q.submit(&[b; 8]).unwrap();
    assert_eq!(q.free_descriptors(), 0);
    let _ = again;
}

#[test]
fn a_used_index_run_away_resynchronises() {
    let (mem, mut q) = queue_at(0x10_0000, 8);
    let used = 0x10_0000 + q.layout().used as u64;
    mem.w16(used + 2, 100);
    assert_eq!(
        q.reap(),
        Some(Err(QueueError::UsedIndex {
            ours: 0,
            theirs: 100
        }))
    );
    assert_eq!(q.reap(), None);
}

#[test]
fn indices_wrap_around() {
    let (mem, mut q) = queue_at(0x10_0000, 4);
    let used = 0x10_0000 + q.layout().used as u64;
    let avail = 0x10_0000 + q.layout().avail as u64;
    let b = Buffer {
        phys: 0x1000,
        len: 512,
        device_writes: true,
    };
    // Two in flight at a time across the 16-bit wrap.
    let mut idx: u16 = 0;
    let mut heads = std::collections::VecDeque::new();
    for n in 0..70_000u32 {
        heads.push_back(q.submit(&[b, b]).unwrap());
        if n % 2 == 1 {
            for _ in 0..2 {
                let h = heads.pop_front().unwrap();
                mem.w32(used + 4 + 8 * (idx % 4) as u64, h as u32);
                idx = idx.wrapping_add(1);
                mem.w16(used + 2, idx);
                assert_eq!(q.reap().unwrap().unwrap().head, h);
            }
        }
    }
    assert_eq!(mem.r16(avail + 2), (70_000u32 % 65536) as u16);
    assert_eq!(q.free_descriptors(), 4);
}

// ---------------------------------------------------------------------------
// virtio-blk requests on the fake device

fn disk(size: u16) -> (Rc<PhysMem>, Device, Disk<Device, FakeDma, u32>) {
    let mem = PhysMem::new(0x40_0000, 64);
    let dev = Device::new(&mem, (0..1u32 << 20).map(|i| (i / 512) as u8).collect());
    dev.state().queue_size = size;
    let regs = Legacy {
        io: dev.clone(),
        base: BAR,
    };
    let d = Disk::bring_up(regs, BLK_FEATURES, |b| Ok(FakeDma::new(&mem, b))).unwrap();
    (mem, dev, d)
}

#[test]
fn read_write_flush_chains() {
    let (mem, dev, mut d) = disk(16);
    dev.state().immediate = false;
    let page = mem.alloc(2);
    let segs = [
        Segment {
            phys: page,
            len: 4096,
        },
        Segment {
            phys: page + 4096,
            len: 1024,
        },
    ];
    d.submit(BlkOp::Read, 8, &segs, 1).unwrap();
    d.submit(BlkOp::Write, 100, &segs[..1], 2).unwrap();
    d.submit(BlkOp::Flush, 0, &[], 3).unwrap();
    assert_eq!(d.in_flight(), 3);
    assert_eq!(d.free_descriptors(), 16 - 4 - 3 - 2);
    d.notify();
    assert_eq!(
        dev.state().seen,
        [
            Seen {
                kind: 0,
                sector: 8,
                descriptors: 4,
                bytes: 5120
            },
            Seen {
                kind: 1,
                sector: 100,
                descriptors: 3,
                bytes: 4096
            },
            Seen {
                kind: 4,
                sector: 0,
                descriptors: 2,
                bytes: 0
            },
        ]
    );
    assert!(d.reap().is_none(), "held by the device");
    dev.complete(true);
    let done: Vec<(u32, u8)> = std::iter::from_fn(|| d.reap())
        .map(|r| r.unwrap())
        .map(|x| (x.token, x.status))
        .collect();
    assert_eq!(done, [(3, BLK_S_OK), (2, BLK_S_OK), (1, BLK_S_OK)]);
    // The read landed (sector 8.. of a disk whose sector n holds byte n),
    // then the write copied it to sector 100.
    assert_eq!(mem.bytes(page, 1), [8]);
    assert_eq!(mem.bytes(page + 4096 + 1023, 1), [17]);
    assert_eq!(dev.state().disk[100 * 512], 8);
    assert_eq!(d.free_descriptors(), 16);
}

#[test]
fn device_errors_come_back_as_status() {
    let (mem, dev, mut d) = disk(16);
    dev.state().fail_sector = Some(9);
    let page = mem.alloc(1);
    let seg = [Segment {
        phys: page,
        len: 4096,
    }];
    d.submit(BlkOp::Read, 8, &seg, 7).unwrap();
    d.notify();
    let done = d.reap().unwrap().unwrap();
    assert_eq!(
        (done.token, done.status, done.ok()),
        (7, BLK_S_IOERR, false)
    );
}

#[test]
fn too_many_segments_or_no_room_are_refused() {
    let (_mem, _dev, mut d) = disk(16);
    let seg = Segment {
        phys: 0x1000,
        len: 4096,
    };
    assert_eq!(
        d.submit(BlkOp::Write, 0, &[seg; 33], 0),
        Err(DiskError::TooManySegments(33))
    );
    assert_eq!(
        d.submit(BlkOp::Write, 0, &[seg; 15], 0),
        Err(DiskError::Queue(QueueError::Full { need: 17, free: 16 }))
    );
    d.submit(BlkOp::Write, 0, &[seg; 14], 0).unwrap();
    assert_eq!(
        d.submit(BlkOp::Flush, 0, &[], 0),
        Err(DiskError::Queue(QueueError::Full { need: 2, free: 0 }))
    );
}

#[test]
fn the_status_byte_starts_unwritten() {
    let (_mem, dev, mut d) = disk(16);
    dev.state().immediate = false;
    let head = d.submit(BlkOp::Flush, 0, &[], 0).unwrap();
    let layout = Layout::new(16);
    // Read through a second view of the region.
    let st = dev.state();
    let b = st
        .mem
        .bytes(d.queue_phys() + (layout.status + head as usize) as u64, 1);
    assert_eq!(b, [STATUS_UNWRITTEN]);
}

#[test]
fn synchronous_reads_through_the_bounce_page() {
    let (_mem, dev, mut d) = disk(16);
    let mut sector = [0u8; 512];
    d.read_sync(5, &mut sector, || panic!("the fake answers at once"))
        .unwrap();
    assert_eq!(sector, [5; 512]);
    let mut two = [0u8; 1024];
    d.read_sync(6, &mut two, || true).unwrap();
    assert_eq!((two[0], two[1023]), (6, 7));
    assert_eq!(d.in_flight(), 0);
    // Errors: the device's, bad lengths, a busy queue, a silent device.
    dev.state().fail_sector = Some(3);
    assert_eq!(
        d.read_sync(3, &mut sector, || true),
        Err(DiskError::Failed {
            sector: 3,
            status: BLK_S_IOERR
        })
    );
    assert_eq!(
        d.read_sync(0, &mut [0; 100], || true),
        Err(DiskError::BadLength(100))
    );
    assert_eq!(
        d.read_sync(0, &mut [0; 8192], || true),
        Err(DiskError::BadLength(8192))
    );
    dev.state().immediate = false;
    let mut polls = 0;
    assert_eq!(
        d.read_sync(1, &mut sector, || {
            polls += 1;
            polls < 10
        }),
        Err(DiskError::TimedOut { sector: 1 })
    );
    assert_eq!(d.read_sync(1, &mut sector, || true), Err(DiskError::Busy));
    // Its late answer is dropped quietly.
    dev.complete(false);
    assert_eq!(d.reap(), None);
    assert_eq!(d.in_flight(), 0);
}
