//! How the fault cost grows: a resident fault against the number of map entries, a zero-fill fault against the number of live clients, and a read fault against the depth of the backing chain it walks.
//!
//! Each point is the median of [`ROUNDS`] rounds of [`PER_ROUND`] faults,
//! printed as `BENCH-GROWTH <what> <x> <cycles>`; `cargo qemu bench`
//! shows each curve against its first point. No floor is needed: the
//! question is the slope, and every point of a curve is measured in the
//! same boot by the same code.

use crate::{median, touch, PAGE, PER_ROUND, ROUNDS};
use alloc::vec::Vec;
use vm_client::vm_api::{Advice, ForkReply, MmapRequest, Prot};
use vm_client::{println, Env};

/// Map entries the resident fault is measured beside. The spec raises
/// bench-fault's `map_entries` limit above the largest and sets an
/// `objects` limit, without which the server's heap bound would count
/// five objects for every entry and not fit 100,000 (docs/isolation.md).
const MAP_ENTRIES: [u64; 3] = [10, 1_000, 100_000];
/// Live clients (this one and its forked children) beside a zero-fill fault.
const CLIENTS: [u64; 3] = [1, 4, 16];
/// Forks between the faulting client and the object holding the pages.
const MAX_DEPTH: u64 = 5;

/// Runs the three curves; false if one could not be measured.
pub fn run(env: &mut Env) -> bool {
    map_entries(env) && clients(env) && chain_depth(env)
}

/// A fresh private region of `pages` pages with fault-around off.
fn region(env: &mut Env, pages: u64) -> Option<u64> {
    let a = env
        .vm
        .mmap(&MmapRequest::anon(pages * PAGE, Prot::RW))
        .ok()?;
    env.vm
        .madvise(a, pages * PAGE, Advice::Random)
        .ok()
        .map(|_| a)
}

/// A fresh shared-memory region of `pages` pages with fault-around off.
fn shared_region(env: &mut Env, pages: u64) -> Option<u64> {
    let len = pages * PAGE;
    let a = env.vm.mmap(&MmapRequest::anon_shared(len, Prot::RW)).ok()?;
    env.vm.madvise(a, len, Advice::Random).ok().map(|_| a)
}

/// The median over [`ROUNDS`] rounds of `op`'s per-fault medians.
fn rounds(mut op: impl FnMut(u64) -> Vec<u64>) -> u64 {
    let mut per_round: Vec<u64> = (0..ROUNDS).map(|r| median(&mut op(r))).collect();
    median(&mut per_round)
}

/// Resident faults (shared-memory pages `MADV_DONTNEED` unmapped, as the
/// resident row of the main table: private ones it would drop) with more
/// and more one-page mappings beside them. They go one by one over a
/// reservation (`PROT_NONE`) with alternating protections, so no two can
/// merge into one entry, and go with one `munmap` at the end, as later
/// phases need the quota.
fn map_entries(env: &mut Env) -> bool {
    let pages = PER_ROUND;
    let Some(a) = shared_region(env, pages) else {
        return false;
    };
    touch(a, pages, true);
    let most = MAP_ENTRIES[MAP_ENTRIES.len() - 1];
    let Ok(base) = env.vm.mmap(&MmapRequest::anon(most * PAGE, Prot::NONE)) else {
        println!("bench-fault: no room for {most} one-page entries");
        let _ = env.vm.munmap(a, pages * PAGE);
        return false;
    };
    let mut mapped = 0u64;
    let mut ok = true;
    'curve: for &target in &MAP_ENTRIES {
        while mapped < target {
            let prot = if mapped.is_multiple_of(2) {
                Prot::READ
            } else {
                Prot::RW
            };
            let req = MmapRequest::anon(PAGE, prot).fixed(base + mapped * PAGE);
            if let Err(e) = env.vm.mmap(&req) {
                println!("bench-fault: mapping {} of {target}: {e:?}", mapped + 1);
                ok = false;
                break 'curve;
            }
            mapped += 1;
        }
        let cycles = rounds(|_| {
            let _ = env.vm.madvise(a, pages * PAGE, Advice::DontNeed);
            touch(a, pages, false)
        });
        println!("BENCH-GROWTH map-entries {target} {cycles}");
    }
    if let Err(e) = env.vm.munmap(base, most * PAGE) {
        println!("bench-fault: munmap of the {mapped} entries: {e:?}");
        ok = false;
    }
    let _ = env.vm.munmap(a, pages * PAGE);
    ok
}

/// Zero-fill faults with `n - 1` forked children alive beside this
/// client, each holding pages of its own and yielding until told to go.
fn clients(env: &mut Env) -> bool {
    let Ok(flag) = env.vm.mmap(&MmapRequest::anon_shared(PAGE, Prot::RW)) else {
        return false;
    };
    let flag = flag as *mut u64;
    let mut alive = 1;
    for &n in &CLIENTS {
        while alive < n {
            match env.vm.fork() {
                Ok(ForkReply::Child { .. }) => {
                    if let Some(mine) = region(env, 16) {
                        touch(mine, 16, true);
                    }
                    // SAFETY: the shared page mapped above, at the same
                    // address in every child; volatile because the parent
                    // writes it.
                    while unsafe { flag.read_volatile() } == 0 {
                        sel4::yield_now();
                    }
                    vm_client::exit(env, 0);
                }
                Ok(ForkReply::Parent { .. }) => alive += 1,
                Err(e) => {
                    println!("bench-fault: fork {alive} of {n}: {e:?}");
                    // SAFETY: as above.
                    unsafe { flag.write_volatile(1) };
                    env.wait_children(2_000_000);
                    return false;
                }
            }
        }
        let Some(a) = region(env, ROUNDS * PER_ROUND) else {
            return false;
        };
        let cycles = rounds(|r| touch(a + r * PER_ROUND * PAGE, PER_ROUND, true));
        let _ = env.vm.munmap(a, ROUNDS * PER_ROUND * PAGE);
        println!("BENCH-GROWTH clients {n} {cycles}");
    }
    // SAFETY: as above.
    unsafe { flag.write_volatile(1) };
    env.wait_children(2_000_000)
}

/// Read faults on pages written before a chain of forks: the client at
/// fork depth `d` finds them `d` objects below its front. Each level
/// measures, forks the next and waits for it, so the whole chain stays
/// alive (a parent's exit would let the chain collapse).
fn chain_depth(env: &mut Env) -> bool {
    let pages = ROUNDS * PER_ROUND;
    let Some(a) = region(env, pages) else {
        return false;
    };
    touch(a, pages, true);
    let mut depth = 0;
    loop {
        if depth > 0 {
            // Each round reads its own slice once: one fault per page.
            let cycles = rounds(|r| touch(a + r * PER_ROUND * PAGE, PER_ROUND, false));
            println!("BENCH-GROWTH chain-depth {depth} {cycles}");
        }
        if depth == MAX_DEPTH {
            vm_client::exit(env, 0);
        }
        match env.vm.fork() {
            Ok(ForkReply::Child { .. }) => depth += 1,
            Ok(ForkReply::Parent { .. }) => {
                let done = env.wait_children(20_000_000);
                if depth > 0 {
                    vm_client::exit(env, u64::from(!done));
                }
                let _ = env.vm.munmap(a, pages * PAGE);
                return done;
            }
            Err(e) => {
                println!("bench-fault: fork at depth {depth}: {e:?}");
                if depth > 0 {
                    vm_client::exit(env, 1);
                }
                return false;
            }
        }
    }
}
