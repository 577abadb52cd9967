//! The split virtqueue and virtio-blk requests: replaying the captured
//! start-up (33 sector reads) must write the same descriptors, available
//! ring and headers QEMU saw, and reaping QEMU's used ring must work;
//! then a full ring, bad used-ring entries, index wrap-around, the
//! request chains (header, data, status), and the same requests in
//! indirect tables (one ring descriptor each).

mod common;

use block_driver::blk::{BlkOp, Disk, DiskError, BLK_S_IOERR, BLK_S_OK, STATUS_UNWRITTEN};
use block_driver::queue::{
    Buffer, Layout, QueueError, Segment, SplitQueue, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE,
};
use block_driver::virtio::{Legacy, BLK_FEATURES, RING_F_INDIRECT_DESC};
use block_driver::DmaMemory;
use common::captured::{self, hex};
use common::{Device, FakeDma, PhysMem, Seen, BAR};
use std::rc::Rc;

/// A queue of `size` over fresh fake RAM at `phys`.
fn queue_at(phys: u64, size: u16) -> (Rc<PhysMem>, SplitQueue<FakeDma>) {
    queue_with(phys, Layout::new(size))
}

/// A queue laid out as `layout` over fresh fake RAM at `phys`.
fn queue_with(phys: u64, layout: Layout) -> (Rc<PhysMem>, SplitQueue<FakeDma>) {
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
    disk_with(size, true)
}

/// A disk whose device offers indirect tables or not (the captured one
/// does; the driver uses them from 34 entries on).
fn disk_with(size: u16, indirect: bool) -> (Rc<PhysMem>, Device, Disk<Device, FakeDma, u32>) {
    let mem = PhysMem::new(0x40_0000, 128);
    let dev = Device::new(&mem, (0..1u32 << 20).map(|i| (i / 512) as u8).collect());
    dev.state().queue_size = size;
    if !indirect {
        dev.state().offered &= !RING_F_INDIRECT_DESC;
    }
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

/// A one-page read over a failing sector comes back as `BLK_S_IOERR`
/// under its token.
fn read_fails_as_status(mem: &PhysMem, dev: &Device, d: &mut Disk<Device, FakeDma, u32>) {
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
fn device_errors_come_back_as_status() {
    let (mem, dev, mut d) = disk(16);
    read_fails_as_status(&mem, &dev, &mut d);
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

// ---------------------------------------------------------------------------
// Indirect tables (VIRTIO_RING_F_INDIRECT_DESC)

/// One descriptor as the device reads it: (addr, len, flags, next).
fn desc_at(mem: &PhysMem, at: u64) -> (u64, u32, u16, u16) {
    (
        mem.r64(at),
        mem.r32(at + 8),
        mem.r16(at + 12),
        mem.r16(at + 14),
    )
}

#[test]
fn an_indirect_chain_takes_one_ring_descriptor() {
    let phys = 0x10_0000;
    let layout = Layout::with_tables(8, 34);
    let (mem, mut q) = queue_with(phys, layout);
    let bufs: Vec<Buffer> = (0..34u64)
        .map(|k| Buffer {
            phys: 0x100_0000 + k * 0x3000,
            len: 100 + k as u32,
            device_writes: k % 2 == 1,
        })
        .collect();
    let head = q.submit_indirect(&bufs).unwrap();
    assert_eq!((q.free_descriptors(), q.in_flight()), (7, 1));
    // The ring descriptor: the table, 16 B per entry, INDIRECT only.
    assert_eq!(
        desc_at(&mem, phys + layout.desc(head) as u64),
        (
            phys + layout.table(head) as u64,
            34 * 16,
            DESC_F_INDIRECT,
            0
        )
    );
    // The table: the buffers in order, linked by index within it.
    for (k, b) in bufs.iter().enumerate() {
        let (addr, len, flags, next) = desc_at(&mem, phys + (layout.table(head) + 16 * k) as u64);
        assert_eq!((addr, len), (b.phys, b.len), "entry {k}");
        assert_eq!(flags & DESC_F_WRITE != 0, b.device_writes, "entry {k}");
        let last = k == 33;
        assert_eq!(flags & DESC_F_NEXT == 0, last, "entry {k}");
        assert_eq!(flags & DESC_F_INDIRECT, 0, "entry {k}");
        assert_eq!(next, if last { 0 } else { k as u16 + 1 }, "entry {k}");
    }
    let avail = phys + layout.avail as u64;
    assert_eq!((mem.r16(avail + 2), mem.r16(avail + 4)), (1, head));
    // Every other descriptor takes a chain too; then the ring is full.
    let heads: Vec<u16> = (0..7)
        .map(|_| q.submit_indirect(&bufs[..3]).unwrap())
        .collect();
    assert_eq!(
        q.submit_indirect(&bufs[..3]),
        Err(QueueError::Full { need: 1, free: 0 })
    );
    // Each table is its head's own.
    let mut tables: Vec<u64> = heads
        .iter()
        .map(|&h| mem.r64(phys + 16 * h as u64))
        .collect();
    tables.push(mem.r64(phys + 16 * head as u64));
    tables.sort();
    tables.dedup();
    assert_eq!(tables.len(), 8);
    // Reaping by head gives back one descriptor per chain.
    let used = phys + layout.used as u64;
    for (i, &h) in [head].iter().chain(&heads).enumerate() {
        mem.w32(used + 4 + 8 * i as u64, h as u32);
        mem.w16(used + 2, i as u16 + 1);
        assert_eq!(q.reap().unwrap().unwrap().head, h);
        assert_eq!(q.free_descriptors(), i + 1);
    }
    assert_eq!(q.in_flight(), 0);
}

#[test]
fn indirect_chains_are_bounded_by_the_table() {
    let b = Buffer {
        phys: 0x1000,
        len: 512,
        device_writes: true,
    };
    let (_mem, mut q) = queue_with(0x10_0000, Layout::with_tables(8, 34));
    assert_eq!(
        q.submit_indirect(&[b; 35]),
        Err(QueueError::TooLong { need: 35, max: 34 })
    );
    assert_eq!(q.submit_indirect(&[]), Err(QueueError::Empty));
    assert_eq!(q.free_descriptors(), 8, "nothing taken");
    // A queue laid out without tables has none to offer.
    let (_mem, mut q) = queue_at(0x10_0000, 8);
    assert_eq!(
        q.submit_indirect(&[b; 3]),
        Err(QueueError::TooLong { need: 3, max: 0 })
    );
}

/// 32 scattered pages: header, 32 data segments, status, as the device
/// reads them from the head's table.
fn scattered(mem: &PhysMem) -> Vec<Segment> {
    let base = mem.alloc(32);
    (0..32u64)
        .rev()
        .map(|i| Segment {
            phys: base + i * 4096,
            len: 4096,
        })
        .collect()
}

#[test]
fn a_32_segment_request_is_one_ring_descriptor_and_a_table() {
    let (mem, dev, mut d) = disk(256);
    assert!(d.indirect());
    let layout = Layout::with_tables(256, 34);
    let q = d.queue_phys();
    dev.state().immediate = false;
    let segs = scattered(&mem);
    for (op, sector, token) in [(BlkOp::Read, 16, 1), (BlkOp::Write, 900, 2)] {
        let head = d.submit(op, sector, &segs, token).unwrap();
        let ring = desc_at(&mem, q + layout.desc(head) as u64);
        assert_eq!(
            ring,
            (q + layout.table(head) as u64, 34 * 16, DESC_F_INDIRECT, 0)
        );
        let table = q + layout.table(head) as u64;
        let entry = |k: u64| desc_at(&mem, table + 16 * k);
        let hdr = q + (layout.headers + 16 * head as usize) as u64;
        assert_eq!(entry(0), (hdr, 16, DESC_F_NEXT, 1));
        assert_eq!((mem.r32(hdr), mem.r64(hdr + 8)), (op.code(), sector));
        let data_flags = DESC_F_NEXT | if op == BlkOp::Read { DESC_F_WRITE } else { 0 };
        for (k, s) in segs.iter().enumerate() {
            let k = k as u64 + 1;
            assert_eq!(
                entry(k),
                (s.phys, 4096, data_flags, k as u16 + 1),
                "{op:?} {k}"
            );
        }
        let status = q + (layout.status + head as usize) as u64;
        assert_eq!(entry(33), (status, 1, DESC_F_WRITE, 0));
        assert_eq!(mem.bytes(status, 1), [STATUS_UNWRITTEN]);
    }
    assert_eq!((d.free_descriptors(), d.in_flight()), (254, 2));
    d.notify();
    {
        let st = dev.state();
        assert_eq!(st.indirect, 2);
        assert_eq!(
            st.seen,
            [
                Seen {
                    kind: 0,
                    sector: 16,
                    descriptors: 34,
                    bytes: 32 * 4096
                },
                Seen {
                    kind: 1,
                    sector: 900,
                    descriptors: 34,
                    bytes: 32 * 4096
                },
            ]
        );
    }
    dev.complete(false);
    let done: Vec<(u32, u8)> = std::iter::from_fn(|| d.reap())
        .map(|r| r.unwrap())
        .map(|x| (x.token, x.status))
        .collect();
    assert_eq!(done, [(1, BLK_S_OK), (2, BLK_S_OK)]);
    // The read filled the pages in list order (sector n holds byte n):
    // segment k holds sectors 16 + 8k.., wherever its page is.
    let byte = |sector: usize| sector as u8;
    for (k, s) in segs.iter().enumerate() {
        assert_eq!(mem.bytes(s.phys, 1), [byte(16 + 8 * k)]);
        assert_eq!(mem.bytes(s.phys + 4095, 1), [byte(16 + 8 * k + 7)]);
    }
    // ... and the write put them back, in the same order, at sector 900.
    let disk = dev.state().disk.clone();
    for k in 0..32 * 8 {
        assert_eq!(disk[(900 + k) * 512], byte(16 + k), "sector {}", 900 + k);
    }
    assert_eq!(d.free_descriptors(), 256);
}

#[test]
fn with_indirect_tables_the_whole_queue_is_in_flight() {
    let (mem, dev, mut d) = disk(256);
    dev.state().immediate = false;
    let segs = scattered(&mem);
    assert_eq!(d.ring_slots_for(32), 1);
    for t in 0..256u32 {
        d.submit(BlkOp::Read, (t as u64 * 8) % 1024, &segs, t)
            .unwrap();
    }
    assert_eq!(
        d.submit(BlkOp::Read, 0, &segs, 256),
        Err(DiskError::Queue(QueueError::Full { need: 1, free: 0 }))
    );
    assert_eq!(d.in_flight(), 256);
    d.notify();
    assert_eq!(dev.state().seen.len(), 256);
    assert_eq!(dev.state().indirect, 256);
    dev.complete(true);
    let mut tokens: Vec<u32> = std::iter::from_fn(|| d.reap())
        .map(|r| r.unwrap())
        .inspect(|x| assert!(x.ok()))
        .map(|x| x.token)
        .collect();
    tokens.sort();
    assert_eq!(tokens, (0..256).collect::<Vec<_>>());
    assert_eq!(d.free_descriptors(), 256);
    // The tables are reused.
    d.submit(BlkOp::Read, 0, &segs, 7).unwrap();
    d.notify();
    dev.complete(false);
    assert_eq!(d.reap().unwrap().unwrap().token, 7);
}

#[test]
fn without_the_feature_seven_32_segment_requests_fit() {
    let (mem, dev, mut d) = disk_with(256, false);
    assert!(!d.indirect());
    assert_eq!(dev.state().driver_features & RING_F_INDIRECT_DESC, 0);
    dev.state().immediate = false;
    let segs = scattered(&mem);
    assert_eq!(d.ring_slots_for(32), 34);
    for t in 0..7 {
        d.submit(BlkOp::Read, 0, &segs, t).unwrap();
    }
    assert_eq!(
        d.submit(BlkOp::Read, 0, &segs, 7),
        Err(DiskError::Queue(QueueError::Full { need: 34, free: 18 }))
    );
    d.notify();
    let st = dev.state();
    assert_eq!((st.seen.len(), st.indirect), (7, 0));
    assert!(st.seen.iter().all(|s| s.descriptors == 34));
}

#[test]
fn with_indirect_tables_device_errors_and_sync_reads_work() {
    let (mem, dev, mut d) = disk(64);
    assert!(d.indirect());
    read_fails_as_status(&mem, &dev, &mut d);
    let mut sector = [0u8; 512];
    d.read_sync(5, &mut sector, || true).unwrap();
    assert_eq!(sector, [5; 512]);
    assert_eq!(
        d.read_sync(9, &mut sector, || true),
        Err(DiskError::Failed {
            sector: 9,
            status: BLK_S_IOERR
        })
    );
    assert_eq!(dev.state().indirect, 3);
    // A used entry naming no request: reported, nothing freed.
    dev.push_used(3, 0);
    assert_eq!(d.reap(), Some(Err(QueueError::BadUsedId(3))));
    assert_eq!(d.free_descriptors(), 64);
}
