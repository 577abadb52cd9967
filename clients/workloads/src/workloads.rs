//! The five workloads, each a function of the pool's size in frames that
//! returns how many words it read back wrong (0: every page came back
//! from swap as written). Each maps its own region and unmaps it at the
//! end, so the next one starts with the pool free of its pages. The
//! host-side replay (`qemu/src/policies.rs`) mirrors each with a
//! synthetic trace of the same shape for the miss-ratio curves.

use crate::Meter;
use alloc::vec;
use alloc::vec::Vec;
use vm_client::region::PAGE_WORDS;
use vm_client::vm_api::{ForkReply, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

/// A workload: its name and its run over a pool of this many frames.
pub type Workload = (&'static str, fn(&mut Env, u64) -> u64);

/// The workloads in the order they run.
pub const ALL: &[Workload] = &[
    ("scan", scan),
    ("loop", looping),
    ("zipf", zipf),
    ("hot-scan", hot_scan),
    ("fork-mix", fork_mix),
];

/// What page `page` holds after its write number `version`: both its
/// first and its last word.
fn value(page: u64, version: u64) -> u64 {
    page.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (version << 48) ^ 0x5eed
}

fn write(r: &Region, page: u64, version: u64) {
    let v = value(page, version);
    r.write(page, 0, v);
    r.write(page, PAGE_WORDS - 1, v);
}

/// Reads page `page` back: the number of its two words that are wrong.
fn check(r: &Region, page: u64, version: u64) -> u64 {
    let v = value(page, version);
    u64::from(r.read(page, 0) != v) + u64::from(r.read(page, PAGE_WORDS - 1) != v)
}

/// A fresh private region of `pages` pages, or `None` (said on the console).
fn region(env: &mut Env, pages: u64) -> Option<Region> {
    let r = Region::map(&mut env.vm, &MmapRequest::anon(pages * PAGE_SIZE, Prot::RW));
    if let Err(e) = &r {
        println!("workloads: mmap of {pages} pages: {e:?}");
    }
    r.ok()
}

/// xorshift64: the workloads' random numbers, the same every boot.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A sequential scan: writes twice the pool in order, then reads it
/// back in order twice. No policy can keep anything that helps.
fn scan(env: &mut Env, pool: u64) -> u64 {
    in_order(env, "scan", 2 * pool, 2)
}

/// A loop slightly larger than memory (5/4 of the pool), written once
/// and read in order four more times: LRU's worst case, where every
/// access misses, while a policy that keeps a fixed part hits on it.
fn looping(env: &mut Env, pool: u64) -> u64 {
    in_order(env, "loop", pool * 5 / 4, 4)
}

/// Writes `pages` fresh pages in order, then reads and checks them in
/// order `passes` times; metered as `name`.
fn in_order(env: &mut Env, name: &'static str, pages: u64, passes: u64) -> u64 {
    let Some(r) = region(env, pages) else {
        return u64::MAX;
    };
    let mut m = Meter::start(env, name, (1 + passes) * pages);
    for p in 0..pages {
        write(&r, p, 0);
        m.step(env);
    }
    let mut bad = 0;
    for _ in 0..passes {
        for p in 0..pages {
            bad += check(&r, p, 0);
            m.step(env);
        }
    }
    m.finish(env);
    let _ = r.unmap(&mut env.vm);
    bad
}

/// Zipf-distributed random access (rank k weighs 1/k) over twice the
/// pool, the ranks shuffled over the pages; 30% of accesses write (a new
/// version of the page), the rest read and check.
fn zipf(env: &mut Env, pool: u64) -> u64 {
    let pages = 2 * pool;
    let accesses = 6 * pool;
    let Some(r) = region(env, pages) else {
        return u64::MAX;
    };
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    // Cumulative weights 2^32 / k, and a random permutation of the pages.
    let mut cdf = Vec::with_capacity(pages as usize);
    let mut total = 0u64;
    for k in 1..=pages {
        total += (1u64 << 32) / k;
        cdf.push(total);
    }
    let mut perm: Vec<u64> = (0..pages).collect();
    for i in (1..pages as usize).rev() {
        perm.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut version = vec![0u64; pages as usize];
    let mut m = Meter::start(env, "zipf", pages + accesses);
    for p in 0..pages {
        write(&r, p, 0);
        m.step(env);
    }
    let mut bad = 0;
    for _ in 0..accesses {
        let u = rng.below(total);
        let rank = cdf.partition_point(|&c| c <= u).min(pages as usize - 1);
        let p = perm[rank];
        if rng.below(100) < 30 {
            version[p as usize] += 1;
            write(&r, p, version[p as usize]);
        } else {
            bad += check(&r, p, version[p as usize]);
        }
        m.step(env);
    }
    m.finish(env);
    let _ = r.unmap(&mut env.vm);
    bad
}

/// A hot set of half the pool read over and over, polluted by a scan of
/// three pools of fresh pages, each touched once, in six chunks between
/// the hot passes: a policy that lets the scan push the hot set out
/// reads it back from swap after every chunk.
fn hot_scan(env: &mut Env, pool: u64) -> u64 {
    let hot_pages = pool / 2;
    let chunk = pool / 2;
    let rounds = 6;
    let (Some(hot), Some(cold)) = (region(env, hot_pages), region(env, chunk * rounds)) else {
        return u64::MAX;
    };
    let mut m = Meter::start(
        env,
        "hot-scan",
        hot_pages * (1 + 2 * rounds) + chunk * rounds,
    );
    for p in 0..hot_pages {
        write(&hot, p, 0);
        m.step(env);
    }
    let mut bad = 0;
    for round in 0..rounds {
        for _ in 0..2 {
            for p in 0..hot_pages {
                bad += check(&hot, p, 0);
                m.step(env);
            }
        }
        for p in round * chunk..(round + 1) * chunk {
            write(&cold, p, 1);
            m.step(env);
        }
    }
    m.finish(env);
    let _ = hot.unmap(&mut env.vm);
    let _ = cold.unmap(&mut env.vm);
    bad
}

/// Children forked one after the other.
const FORKS: u64 = 4;

/// A fork-heavy mix: the parent writes 3/4 of the pool, then forks
/// [`FORKS`] children one at a time. Each child makes as many random
/// accesses as the parent has pages, half of them writes (each first
/// write to a page copies it: copy-on-write), the other half reads that
/// check; meanwhile the parent reads half its pages at random. Then the
/// parent checks all its pages. A child reports its wrong words through a
/// shared page (1 + the count, so 0 means it never reported).
fn fork_mix(env: &mut Env, pool: u64) -> u64 {
    let pages = pool * 3 / 4;
    let (Some(r), Ok(board)) = (
        region(env, pages),
        Region::map(&mut env.vm, &MmapRequest::anon_shared(PAGE_SIZE, Prot::RW)),
    ) else {
        return u64::MAX;
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut m = Meter::start(env, "fork-mix", pages + FORKS * (pages / 2 + pages));
    for p in 0..pages {
        write(&r, p, 0);
        m.step(env);
    }
    let mut bad = 0;
    for child in 0..FORKS {
        match env.vm.fork() {
            Ok(ForkReply::Child { .. }) => {
                let mut rng = Rng(0x1234_5678 + child);
                let mut version = vec![0u64; pages as usize];
                let mut wrong = 0;
                for _ in 0..pages {
                    let p = rng.below(pages);
                    if rng.below(2) == 0 {
                        version[p as usize] = child + 1;
                        write(&r, p, child + 1);
                    } else {
                        wrong += check(&r, p, version[p as usize]);
                    }
                }
                board.write(0, child, 1 + wrong);
                let _ = env.vm.exit(0);
                return u64::MAX;
            }
            Ok(ForkReply::Parent { .. }) => {
                for _ in 0..pages / 2 {
                    bad += check(&r, rng.below(pages), 0);
                    m.step(env);
                }
                if !env.wait_children(200_000_000) {
                    println!("workloads: fork-mix child {child} did not exit");
                    bad += 1;
                }
                match board.read(0, child) {
                    0 => {
                        println!("workloads: fork-mix child {child} never reported");
                        bad += 1;
                    }
                    n => bad += n - 1,
                }
                for p in 0..pages {
                    bad += check(&r, p, 0);
                    m.step(env);
                }
            }
            Err(e) => {
                println!("workloads: fork: {e:?}");
                bad += 1;
            }
        }
    }
    m.finish(env);
    let _ = r.unmap(&mut env.vm);
    let _ = board.unmap(&mut env.vm);
    bad
}
