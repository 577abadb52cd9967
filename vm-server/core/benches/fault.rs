//! Host benchmarks of fault resolution (zero-fill, resident, copy-on-write, chain walks at depth 1 to 5, fault-around) and of map lookup with 10 to 100,000 entries.
//!
//! Two pmaps: `NullPmap` measures the core alone (no page contents, no
//! page tables); `SimPmap` adds the 4 KiB zeroing/copying and a software
//! page table, closer to what the server pays besides the seL4 calls.

use divan::{black_box, Bencher};
use vm_core::sim::SimPmap;
use vm_core::*;

fn main() {
    divan::main();
}

const P: u64 = PAGE_SIZE;

/// A pmap that does nothing: isolates the core's own cost.
struct NullPmap;

impl Pmap for NullPmap {
    fn create_space(&mut self, _: SpaceId) -> Result<(), PmapError> {
        Ok(())
    }
    fn destroy_space(&mut self, _: SpaceId) {}
    fn enter(&mut self, _: SpaceId, _: u64, _: FrameNumber, _: Prot) -> Result<(), PmapError> {
        Ok(())
    }
    fn remove(&mut self, _: SpaceId, _: u64, _: u64) {}
    fn protect(&mut self, _: SpaceId, _: u64, _: u64, _: Prot) {}
    fn page_protect(&mut self, _: FrameNumber, _: Prot) {}
    fn is_mapped(&self, _: SpaceId, _: u64) -> bool {
        false
    }
    fn zero_page(&mut self, _: FrameNumber) {}
    fn copy_page(&mut self, _: FrameNumber, _: FrameNumber) {}
    // No page contents here: swap reads zeros, writes discard.
    fn read_frame(&self, _: FrameNumber, buf: &mut [u8]) {
        buf.fill(0);
    }
    fn write_frame(&mut self, _: FrameNumber, _: &[u8]) {}
}

fn config(prefault: bool) -> VmConfig {
    let n = if prefault { 4 } else { 0 };
    VmConfig {
        prefault_ahead: n,
        prefault_behind: n.saturating_sub(1),
        ..VmConfig::default()
    }
}

fn setup<Pm: Pmap>(frames: u32, pages: u64, prefault: bool, pmap: &mut Pm) -> (Vm, SpaceId, u64) {
    let mut vm = Vm::new(config(prefault), frames).unwrap();
    let sp = vm.space_create(pmap).unwrap();
    let a = vm
        .mmap(sp, &MmapArgs::anon(pages * P, Prot::RW), pmap)
        .unwrap();
    (vm, sp, a)
}

/// Write fault on a fresh page of private anonymous memory.
#[divan::bench(args = [false, true])]
fn zero_fill_null_pmap(bencher: Bencher, prefault: bool) {
    bencher
        .with_inputs(|| setup(256, 64, prefault, &mut NullPmap))
        .bench_local_refs(|(vm, sp, a)| {
            black_box(
                vm.fault(*sp, *a + 8 * P, Access::Write, &mut NullPmap)
                    .unwrap(),
            );
        });
}

/// Write fault on a fresh page with real zeroing and page tables.
#[divan::bench]
fn zero_fill_sim_pmap(bencher: Bencher) {
    bencher
        .with_inputs(|| {
            let mut pm = SimPmap::new(64);
            let (vm, sp, a) = setup(64, 16, false, &mut pm);
            (vm, sp, a, pm)
        })
        .bench_local_refs(|(vm, sp, a, pm)| {
            black_box(vm.fault(*sp, *a, Access::Write, pm).unwrap());
        });
}

/// Write fault on a fresh page of a 2 MiB chunk with 510 of its 512
/// pages resident: with transparent large pages every such fault counts
/// the chunk's pages for promotion (not full after it, so no copy);
/// without, it pays nothing (`promote.rs`).
#[divan::bench(args = [false, true])]
fn zero_fill_in_a_filling_chunk(bencher: Bencher, transparent: bool) {
    bencher
        .with_inputs(|| {
            let cfg = VmConfig {
                large_pages: 1,
                large_transparent: transparent,
                ..config(false)
            };
            let mut vm = Vm::new(cfg, 1024).unwrap();
            let sp = vm.space_create(&mut NullPmap).unwrap();
            let chunk = 512 * P;
            let at = (vm.config().user_min + chunk) & !(chunk - 1);
            let args = MmapArgs::anon(chunk, Prot::RW).fixed(at);
            vm.mmap(sp, &args, &mut NullPmap).unwrap();
            for i in (0..512).filter(|&i| i != 300 && i != 301) {
                vm.fault(sp, at + i * P, Access::Write, &mut NullPmap)
                    .unwrap();
            }
            (vm, sp, at)
        })
        .bench_local_refs(|(vm, sp, at)| {
            black_box(
                vm.fault(*sp, *at + 300 * P, Access::Write, &mut NullPmap)
                    .unwrap(),
            );
        });
}

/// Read fault on a page already resident in the front object.
#[divan::bench]
fn resident(bencher: Bencher) {
    let (mut vm, sp, a) = setup(256, 64, false, &mut NullPmap);
    vm.fault(sp, a, Access::Write, &mut NullPmap).unwrap();
    bencher.bench_local(|| {
        black_box(vm.fault(sp, a, Access::Read, &mut NullPmap).unwrap());
    });
}

/// Write fault after fork: copy the parent's page into a new front.
#[divan::bench(args = [false, true])]
fn cow_copy(bencher: Bencher, real_bytes: bool) {
    fn prep<Pm: Pmap>(pm: &mut Pm) -> (Vm, SpaceId, u64) {
        let (mut vm, sp, a) = setup(64, 4, false, pm);
        vm.fault(sp, a, Access::Write, pm).unwrap();
        vm.fault(sp, a + P, Access::Write, pm).unwrap();
        let _child = vm.fork(sp, pm).unwrap();
        // Push the front object so the measured fault copies only.
        vm.fault(sp, a + P, Access::Write, pm).unwrap();
        (vm, sp, a)
    }
    if real_bytes {
        bencher
            .with_inputs(|| {
                let mut pm = SimPmap::new(64);
                let (vm, sp, a) = prep(&mut pm);
                (vm, sp, a, pm)
            })
            .bench_local_refs(|(vm, sp, a, pm)| {
                let m = vm.fault(*sp, *a, Access::Write, pm).unwrap();
                assert_eq!(m.mapping().unwrap().kind, FaultKind::CowCopy);
            });
    } else {
        bencher
            .with_inputs(|| prep(&mut NullPmap))
            .bench_local_refs(|(vm, sp, a)| {
                let m = vm.fault(*sp, *a, Access::Write, &mut NullPmap).unwrap();
                assert_eq!(m.mapping().unwrap().kind, FaultKind::CowCopy);
            });
    }
}

/// Read fault finding its page at the bottom of a chain of `depth` links
/// (kept alive by the forked children holding every generation).
#[divan::bench(args = [1, 2, 3, 4, 5])]
fn chain_walk(bencher: Bencher, depth: usize) {
    let pm = &mut NullPmap;
    let (mut vm, sp, a) = setup(256, 4, false, pm);
    vm.fault(sp, a, Access::Write, pm).unwrap();
    for _ in 1..depth {
        vm.fork(sp, pm).unwrap();
        vm.fault(sp, a + P, Access::Write, pm).unwrap();
    }
    let e = vm.space(sp).unwrap().map().lookup(a).unwrap();
    assert_eq!(e.chain().len(), depth);
    bencher.bench_local(|| {
        black_box(vm.fault(sp, a, Access::Read, &mut NullPmap).unwrap());
    });
}

/// `VmMap::lookup` of a random address among `n` entries.
#[divan::bench(args = [10, 100, 1_000, 10_000, 100_000])]
fn lookup(bencher: Bencher, n: u64) {
    let pm = &mut NullPmap;
    let mut vm = Vm::new(VmConfig::default(), 16).unwrap();
    let sp = vm.space_create(pm).unwrap();
    let min = vm.config().user_min;
    for i in 0..n {
        let prot = if i % 2 == 0 { Prot::READ } else { Prot::RW };
        vm.mmap(sp, &MmapArgs::anon(P, prot).fixed(min + 2 * i * P), pm)
            .unwrap();
    }
    let map = vm.space(sp).unwrap().map();
    assert_eq!(map.entry_count() as u64, n);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    bencher.bench_local(|| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let va = min + (x % (2 * n)) * P;
        black_box(map.lookup(black_box(va)));
    });
}

/// `VmMap::lookup` walking the `n` entries in address order: the same
/// O(log n) search with warm caches, separating algorithm from misses.
#[divan::bench(args = [10, 100, 1_000, 10_000, 100_000])]
fn lookup_sequential(bencher: Bencher, n: u64) {
    let pm = &mut NullPmap;
    let mut vm = Vm::new(VmConfig::default(), 16).unwrap();
    let sp = vm.space_create(pm).unwrap();
    let min = vm.config().user_min;
    for i in 0..n {
        let prot = if i % 2 == 0 { Prot::READ } else { Prot::RW };
        vm.mmap(sp, &MmapArgs::anon(P, prot).fixed(min + 2 * i * P), pm)
            .unwrap();
    }
    let map = vm.space(sp).unwrap().map();
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % (2 * n);
        black_box(map.lookup(black_box(min + i * P)));
    });
}

/// A full fault through a map of `n` entries (lookup + resident page).
#[divan::bench(args = [10, 1_000, 100_000])]
fn fault_in_large_map(bencher: Bencher, n: u64) {
    let pm = &mut NullPmap;
    let mut vm = Vm::new(config(false), 64).unwrap();
    let sp = vm.space_create(pm).unwrap();
    let min = vm.config().user_min;
    for i in 0..n {
        let prot = if i % 2 == 0 { Prot::READ } else { Prot::RW };
        vm.mmap(sp, &MmapArgs::anon(P, prot).fixed(min + i * P), pm)
            .unwrap();
    }
    let va = min + (n / 2) * P;
    vm.fault(sp, va, Access::Read, pm).unwrap();
    bencher.bench_local(|| {
        black_box(vm.fault(sp, va, Access::Read, &mut NullPmap).unwrap());
    });
}

/// `findspace` for one page from the bottom when the first `n` pages are
/// all mapped (the worst case: the walk passes every entry).
#[divan::bench(args = [10, 1_000, 100_000])]
fn findspace_full(bencher: Bencher, n: u64) {
    let pm = &mut NullPmap;
    let mut vm = Vm::new(VmConfig::default(), 16).unwrap();
    let sp = vm.space_create(pm).unwrap();
    let min = vm.config().user_min;
    for i in 0..n {
        let prot = if i % 2 == 0 { Prot::READ } else { Prot::RW };
        vm.mmap(sp, &MmapArgs::anon(P, prot).fixed(min + i * P), pm)
            .unwrap();
    }
    let map = vm.space(sp).unwrap().map();
    bencher.bench_local(|| black_box(map.findspace(black_box(min), P, P)));
}
