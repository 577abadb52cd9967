//! Memory pressure: random operations on a pool so small that faults, forks, mlock and chain merges run out of pages; every failure must be a clean `OutOfMemory` (or an argument error), the invariants must hold after each step, and exit must return every page.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use vm_core::sim::Sim;
use vm_core::*;

const P: u64 = PAGE_SIZE;

fn run(seed: u64, steps: usize) {
    let cfg = VmConfig {
        reserved_pages: 4,
        prefault_min_free: 8,
        ..VmConfig::default()
    };
    let frames = 64;
    let mut sim = Sim::new(cfg, frames);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut spaces = vec![sim.vm.space_create(&mut sim.pmap).unwrap()];
    let base = sim.vm.config().user_min;
    let mut ooms = 0;
    for step in 0..steps {
        let s = spaces[rng.gen_range(0..spaces.len())];
        let a = base + rng.gen_range(0..48u64) * P;
        let n = rng.gen_range(1..=8u64) * P;
        let r: Result<(), VmError> = match rng.gen_range(0..10) {
            0 => sim
                .vm
                .mmap(s, &MmapArgs::anon(n, Prot::RW).fixed(a), &mut sim.pmap)
                .map(|_| ()),
            1 => sim.vm.munmap(s, a, n, &mut sim.pmap),
            2 => {
                if spaces.len() < 4 {
                    sim.vm.fork(s, &mut sim.pmap).map(|c| spaces.push(c))
                } else {
                    let i = rng.gen_range(0..spaces.len());
                    sim.vm.exit(spaces.swap_remove(i), &mut sim.pmap)
                }
            }
            3 => sim.vm.mlock(s, a, n, &mut sim.pmap),
            4 => sim.vm.munlock(s, a, n),
            5 => {
                let inh = [Inheritance::Share, Inheritance::Copy][rng.gen_range(0..2)];
                sim.vm.minherit(s, a, n, inh)
            }
            6 | 7 => sim.write(s, a + rng.gen_range(0..P), &[rng.gen()]),
            _ => sim.read_u8(s, a).map(|_| ()),
        };
        match r {
            Ok(()) | Err(VmError::NoMapping) => {}
            Err(VmError::OutOfMemory) => ooms += 1,
            Err(e) => panic!("seed {seed} step {step}: unexpected {e:?}"),
        }
        if let Err(e) = sim.check() {
            panic!("seed {seed} step {step}: {e}");
        }
        if spaces.is_empty() {
            spaces.push(sim.vm.space_create(&mut sim.pmap).unwrap());
        }
    }
    sim.vm.check_page_queues().unwrap();
    assert!(ooms > 0, "seed {seed}: the pool never ran out");
    for s in spaces {
        sim.vm.exit(s, &mut sim.pmap).unwrap();
    }
    let st = sim.vm.stats();
    assert_eq!((st.free, st.objects), (frames, 0), "seed {seed}");
}

#[test]
fn out_of_memory_is_clean() {
    for seed in 0..8 {
        run(seed, 3000);
    }
}
