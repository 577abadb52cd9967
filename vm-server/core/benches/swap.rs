//! Host benchmarks of pageout and page-in through the RAM-disk swap device: pages per second laundered (pageout pass + write completions) and paged back in (faults with read-ahead + read completions), with the simulator's real 4 KiB copies.

use divan::counter::ItemsCount;
use divan::Bencher;
use vm_core::sim::Sim;
use vm_core::*;
use vm_swap::{RamDisk, SwapPager};

fn main() {
    divan::main();
}

const P: u64 = PAGE_SIZE;
/// Pages moved per iteration.
const PAGES: u64 = 1024;

/// A sim with `PAGES` dirty pages of one mapping and a RAM disk twice
/// that size; `cluster` pages per write, `ahead` read-ahead.
fn setup(cluster: u32, ahead: u32) -> (Sim, SpaceId, u64) {
    let cfg = VmConfig {
        reserved_pages: 4,
        prefault_min_free: 8,
        prefault_ahead: 0,
        prefault_behind: 0,
        pageout_cluster: cluster,
        pagein_ahead: ahead,
        pagein_behind: 0,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, PAGES as u32 + 64);
    s.vm.swap_on(Box::new(SwapPager::new(RamDisk::new(2 * PAGES, 64), 16)))
        .unwrap();
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(PAGES * P, Prot::RW), &mut s.pmap)
            .unwrap();
    for i in 0..PAGES {
        s.write(sp, va + i * P, &[(i as u8).wrapping_add(1)])
            .unwrap();
    }
    (s, sp, va)
}

/// Page everything out: pageout passes plus completions until no page
/// of the mapping is resident.
fn evict(s: &mut Sim) {
    while s.vm.stats().free < PAGES as u32 + 64 {
        s.vm.pageout(&mut s.pmap, PAGES as u32);
        s.vm.swap_drain(&mut s.pmap);
        s.vm.swap_poll(&mut s.pmap);
    }
}

/// Laundering 1024 dirty pages in clusters of 1, 4 or 16 pages.
#[divan::bench(args = [1, 4, 16], sample_count = 20)]
fn pageout(bencher: Bencher, cluster: u32) {
    bencher
        .counter(ItemsCount::new(PAGES))
        .with_inputs(|| setup(cluster, 0).0)
        .bench_local_refs(evict);
}

/// Paging 1024 pages back in by read faults, read-ahead 0, 3 or 15.
#[divan::bench(args = [0, 3, 15], sample_count = 20)]
fn pagein(bencher: Bencher, ahead: u32) {
    bencher
        .counter(ItemsCount::new(PAGES))
        .with_inputs(|| {
            let (mut s, sp, va) = setup(16, ahead);
            evict(&mut s);
            (s, sp, va)
        })
        .bench_local_refs(|(s, sp, va)| {
            for i in 0..PAGES {
                assert_eq!(
                    s.read_u8(*sp, *va + i * P).unwrap(),
                    (i as u8).wrapping_add(1)
                );
            }
        });
}

/// Evicting 1024 clean pages whose slots are still valid (no I/O).
#[divan::bench(sample_count = 20)]
fn clean_eviction(bencher: Bencher) {
    bencher
        .counter(ItemsCount::new(PAGES))
        .with_inputs(|| {
            let (mut s, sp, va) = setup(16, 15);
            evict(&mut s);
            for i in 0..PAGES {
                s.read_u8(sp, va + i * P).unwrap();
            }
            s
        })
        .bench_local_refs(evict);
}

/// A pool of `frames` frames nearly full of `MADV_FREE`d pages of one
/// mapping (clean, so pageout frees them without I/O), read again after
/// the advice when `hot` (referenced: the policy must scan to find
/// victims).
fn freed_pool(frames: u32, hot: bool) -> Sim {
    let cfg = VmConfig {
        reserved_pages: 4,
        prefault_min_free: 8,
        prefault_ahead: 0,
        prefault_behind: 0,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, frames);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let pages = u64::from(frames - 64);
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(pages * P, Prot::RW), &mut s.pmap)
            .unwrap();
    for i in 0..pages {
        s.write(sp, va + i * P, &[1]).unwrap();
    }
    s.vm.madvise(sp, va, pages * P, Advice::Free, &mut s.pmap)
        .unwrap();
    if hot {
        for i in 0..pages {
            s.read_u8(sp, va + i * P).unwrap();
        }
    }
    s
}

/// One pageout pass freeing 32 clean pages, against the pool's size
/// (issue 15: pageout scan cost against pool size). Cold: the pages
/// were deactivated by the advice, the victims are at hand.
#[divan::bench(args = [1024, 4096, 16384], sample_count = 10)]
fn pageout_pass_cold(bencher: Bencher, frames: u32) {
    bencher
        .with_inputs(|| freed_pool(frames, false))
        .bench_local_refs(|s| assert_eq!(s.vm.pageout(&mut s.pmap, 32).freed, 32));
}

/// The same with every page referenced since: the policy (CLOCK) must
/// scan and clear bits before it finds victims.
#[divan::bench(args = [1024, 4096, 16384], sample_count = 10)]
fn pageout_pass_hot(bencher: Bencher, frames: u32) {
    bencher
        .with_inputs(|| freed_pool(frames, true))
        .bench_local_refs(|s| assert!(s.vm.pageout(&mut s.pmap, 32).freed > 0));
}
