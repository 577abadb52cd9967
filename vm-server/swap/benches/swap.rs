//! Host benchmarks of the swap building blocks: blist runs on a 16 GiB device, swap-metadata lookup and insert, RAM-disk page throughput, policy decision cost, and trace replay per policy.

use divan::counter::ItemsCount;
use divan::{black_box, Bencher};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use vm_swap::blist::{Blist, SwapSlot};
use vm_swap::device::{BlockDevice, BufferId, IoOp, IoRequest};
use vm_swap::policy::{FrameId, PageKey, PolicyHost};
use vm_swap::ramdisk::RamDisk;
use vm_swap::swap_pager::SwapPager;
use vm_swap::swapmeta::SwapMeta;
use vm_swap::trace::{replay, zipf};

fn main() {
    divan::main();
}

/// 2^22 slots = 16 GiB of 4 KiB pages: four meta levels.
const BIG: u64 = 1 << 22;

/// A big device, 90% allocated in random runs, so searches descend into
/// fragmented subtrees.
fn fragmented() -> Blist {
    let mut bl = Blist::new_free(BIG);
    let mut rng = SmallRng::seed_from_u64(1);
    let mut runs = Vec::new();
    while let Some(s) = bl.alloc(rng.gen_range(1..=32)) {
        runs.push(s);
    }
    for s in runs {
        if rng.gen_ratio(1, 10) {
            // Free one slot of each tenth run: holes of 1..=32.
            bl.free(s, 1);
        }
    }
    bl
}

/// Allocate a run of `n` then free it, on an empty 16 GiB device.
#[divan::bench(args = [1, 16, 32, 64])]
fn blist_alloc_free_empty(bencher: Bencher, n: u32) {
    let mut bl = Blist::new_free(BIG);
    bencher.bench_local(|| {
        let s = bl.alloc(black_box(n)).unwrap();
        bl.free(s, u64::from(n));
    });
}

/// Allocate a run of `n` (first fit through hints) and free it, on a
/// fragmented 16 GiB device.
#[divan::bench(args = [1, 16, 32])]
fn blist_alloc_free_fragmented(bencher: Bencher, n: u32) {
    let mut bl = fragmented();
    // One fully free leaf at the far end, so every size succeeds there.
    bl.fill(SwapSlot((BIG - 64) as u32), 64);
    bl.free(SwapSlot((BIG - 64) as u32), 64);
    bencher.bench_local(|| {
        if let Some(s) = bl.alloc(black_box(n)) {
            bl.free(s, u64::from(n));
        }
    });
}

/// A request that cannot succeed (device full): answered at the root.
#[divan::bench]
fn blist_alloc_fail_full(bencher: Bencher) {
    let mut bl = Blist::new(BIG);
    bencher.bench_local(|| black_box(bl.alloc(black_box(16))));
}

/// Fill a 64 Ki-slot device with 16-slot runs, then free them all.
#[divan::bench]
fn blist_fill_device_16(bencher: Bencher) {
    const N: u64 = 1 << 16;
    bencher
        .counter(ItemsCount::new(N / 16))
        .with_inputs(|| Blist::new_free(N))
        .bench_local_values(|mut bl| {
            let mut runs = Vec::with_capacity((N / 16) as usize);
            while let Some(s) = bl.alloc(16) {
                runs.push(s);
            }
            for s in runs {
                bl.free(s, 16);
            }
            bl
        });
}

fn meta(pages: u64, stride: u64) -> SwapMeta {
    let mut m = SwapMeta::new();
    for i in 0..pages {
        m.insert(i * stride, SwapSlot(i as u32));
    }
    m
}

/// Lookup of a random page of an object with 2^LOG pages on swap, dense
/// (stride 1: 16 slots per block) or sparse (one page per 64: one slot
/// per block, the worst case for memory and for the tree's depth).
#[divan::bench(consts = [12, 20], args = [1, 64])]
fn swapmeta_lookup<const LOG: u32>(bencher: Bencher, stride: u64) {
    let m = meta(1 << LOG, stride);
    let mut rng = SmallRng::seed_from_u64(2);
    bencher.bench_local(|| {
        let p = rng.gen_range(0..1u64 << LOG) * stride;
        black_box(m.lookup(black_box(p)))
    });
}

/// Insert-or-replace of a random page (half of them new) in the same
/// objects.
#[divan::bench(consts = [12, 20], args = [1, 64])]
fn swapmeta_insert<const LOG: u32>(bencher: Bencher, stride: u64) {
    let mut m = meta(1 << LOG, stride);
    let mut rng = SmallRng::seed_from_u64(3);
    bencher.bench_local(|| {
        let p = rng.gen_range(0..2u64 << LOG) * stride;
        black_box(m.insert(p, SwapSlot(7)))
    });
}

/// Read-ahead cluster lookup of 16 pages around a page of a dense object.
#[divan::bench]
fn swapmeta_cluster16(bencher: Bencher) {
    let m = meta(1 << 20, 1);
    let mut rng = SmallRng::seed_from_u64(4);
    bencher.bench_local(|| black_box(m.cluster(rng.gen_range(0..1u64 << 20), 7, 8)));
}

/// Pages written (or read) per second through the RAM disk in clusters of
/// `n` pages: copy into the staging window, submit, poll the completion
/// (or the reverse), as the pager will.
#[divan::bench(args = [1, 16])]
fn ramdisk_write_pages(bencher: Bencher, n: u32) {
    ramdisk_io(bencher, n, IoOp::Write);
}

#[divan::bench(args = [1, 16])]
fn ramdisk_read_pages(bencher: Bencher, n: u32) {
    ramdisk_io(bencher, n, IoOp::Read);
}

fn ramdisk_io(bencher: Bencher, n: u32, op: IoOp) {
    const BLOCKS: u64 = 1 << 14; // 64 MiB
    let mut d = RamDisk::new(BLOCKS, 16);
    let page = [0x5au8; 4096];
    // Populate so reads copy real blocks.
    for b in (0..BLOCKS).step_by(16) {
        let buf = d.buffer_mut(BufferId(0), 16);
        buf.fill(1);
        d.submit(IoRequest::staged(IoOp::Write, b, 16, BufferId(0)))
            .unwrap();
        d.poll_completions(&mut Vec::new());
    }
    let mut block = 0u64;
    let mut done = Vec::with_capacity(4);
    let mut sink = [0u8; 4096];
    bencher.counter(ItemsCount::new(n)).bench_local(|| {
        if op == IoOp::Write {
            for chunk in d.buffer_mut(BufferId(0), n).chunks_exact_mut(4096) {
                chunk.copy_from_slice(&page);
            }
        }
        d.submit(IoRequest::staged(op, block, n, BufferId(0)))
            .unwrap();
        done.clear();
        d.poll_completions(&mut done);
        if op == IoOp::Read {
            for chunk in d.buffer(BufferId(0), n).chunks_exact(4096) {
                sink.copy_from_slice(chunk);
            }
        }
        block = (block + u64::from(n)) % BLOCKS;
        black_box(&sink);
    });
}

/// Reference bits that are set for a fraction of frames, refreshed as a
/// program touching a hot tenth of its pages would.
struct Bits {
    referenced: Vec<bool>,
    rng: SmallRng,
}

impl PolicyHost for Bits {
    fn test_and_clear_referenced(&mut self, f: FrameId) -> bool {
        let r = std::mem::replace(&mut self.referenced[f as usize], false);
        // The hot tenth comes back referenced by the next scan.
        if f.is_multiple_of(10) || self.rng.gen_ratio(1, 50) {
            self.referenced[f as usize] = true;
        }
        r
    }
}

/// Every registered policy (divan wants the names as a constant).
const POLICY_NAMES: [&str; 5] = ["clock", "2q", "clock-pro", "fifo", "s3-fifo"];

/// Steady-state cost of one replacement decision with 4096 frames: pick a
/// victim, then refill its frame with a new page.
#[divan::bench(args = POLICY_NAMES)]
fn policy_select_victim(bencher: Bencher, name: &str) {
    const FRAMES: u32 = 4096;
    let mut p = vm_swap::policy_by_name(name, FRAMES).expect("registered");
    let mut host = Bits {
        referenced: vec![true; FRAMES as usize],
        rng: SmallRng::seed_from_u64(5),
    };
    for f in 0..FRAMES {
        p.insert(f, PageKey(u64::from(f)));
    }
    let mut next = u64::from(FRAMES);
    let mut out = Vec::with_capacity(1);
    bencher.bench_local(|| {
        out.clear();
        p.select_victims(1, &mut host, &mut out);
        let f = out[0];
        next += 1;
        host.referenced[f as usize] = true;
        p.insert(f, PageKey(next % 8192));
    });
}

/// A whole replay: zipf over 1000 pages, 20,000 accesses, 125 frames.
#[divan::bench(args = POLICY_NAMES)]
fn replay_zipf_20k(bencher: Bencher, name: &str) {
    let trace = zipf(1000, 20_000, 1.0, 30, 1);
    bencher
        .counter(ItemsCount::new(trace.len()))
        .bench_local(|| {
            let mut p = vm_swap::policy_by_name(name, 125).expect("registered");
            black_box(replay(&trace, p.as_mut(), 125))
        });
}

/// Pageout throughput through the swap pager and the RAM disk: a cluster
/// of `n` pages copied into staging, one write, its completion handled,
/// the slots given back (pages/s in the `items` column).
#[divan::bench(args = [1, 16])]
fn pager_pageout(bencher: Bencher, n: u32) {
    let mut p = SwapPager::new(RamDisk::new(1 << 16, 64), 16);
    let page = [0x77u8; 4096];
    let mut ev = Vec::with_capacity(4);
    bencher.counter(ItemsCount::new(n)).bench_local(|| {
        let (_, slot) = p
            .start_write(n, 0, |_, b| b.copy_from_slice(&page))
            .unwrap();
        ev.clear();
        p.poll(&mut ev);
        p.free_slots(slot, n);
    });
}

/// Page-in throughput: one read of `n` pages, completion, copy out of
/// staging into a frame-sized buffer per page.
#[divan::bench(args = [1, 16])]
fn pager_pagein(bencher: Bencher, n: u32) {
    let mut p = SwapPager::new(RamDisk::new(1 << 16, 64), 16);
    let mut ev = Vec::with_capacity(4);
    let (_, slot) = p.start_write(16, 0, |i, b| b.fill(i as u8)).unwrap();
    p.poll(&mut ev);
    let mut frame = [0u8; 4096];
    bencher.counter(ItemsCount::new(n)).bench_local(|| {
        let tag = p.start_read(slot, n, 0).unwrap();
        ev.clear();
        p.poll(&mut ev);
        for i in 0..n {
            frame.copy_from_slice(p.read_page(tag, i).expect("a staged read"));
        }
        p.finish_read(tag);
        black_box(&frame);
    });
}
