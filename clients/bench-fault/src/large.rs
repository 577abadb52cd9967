//! The large-page phase: a first touch in order and a random-access pass
//! over a fresh private region, with `madvise(HUGEPAGE)` (2 MiB pages,
//! docs/large-pages.md) and without, in alternating rounds so host noise
//! hits both alike. Two sizes: 64 MiB (the issue's; without large pages
//! it is four times the bench's small pool, so that row pages to swap)
//! and 8 MiB (half the small pool: fault cost alone).
//!
//! Prints `BENCH-LARGE <on|off> <MiB> <touch|random> <faults> <cycles>
//! <microseconds>` per size, mode and pass: the medians over the rounds
//! (faults from the VM server's count for this client).

use crate::{rdtsc, PAGE};
use alloc::vec::Vec;
use vm_client::vm_api::{Advice, MmapRequest, Prot};
use vm_client::{println, Env};

const MIB: u64 = 1 << 20;
const CHUNK: u64 = 2 * MIB;
/// Rounds per mode and size (on, off, on, off, ...).
const ROUNDS: usize = 3;

/// One pass's faults and cycles.
#[derive(Clone, Copy)]
struct Pass {
    faults: u64,
    cycles: u64,
}

/// Runs the phase; false if a region could not be mapped or read back
/// wrong. `hz`: TSC ticks per second.
pub fn run(env: &mut Env, hz: u64) -> bool {
    match env.vm.stats() {
        Ok(s) if s.large_pages >= 32 => {}
        other => {
            println!(
                "bench-fault: {:?} large pages (spec large_pages); no large-page benchmark",
                other.map(|s| s.large_pages)
            );
            return true;
        }
    }
    let mut ok = true;
    for mib in [64, 8] {
        // [mode][pass][round]
        let mut samples: [[Vec<Pass>; 2]; 2] = Default::default();
        for _ in 0..ROUNDS {
            for (mode, huge) in [true, false].into_iter().enumerate() {
                match measure(env, mib * MIB, huge) {
                    Some(passes) => {
                        for (p, pass) in passes.into_iter().enumerate() {
                            samples[mode][p].push(pass);
                        }
                    }
                    None => ok = false,
                }
            }
        }
        for (mode, name) in ["on", "off"].into_iter().enumerate() {
            for (p, pass) in ["touch", "random"].into_iter().enumerate() {
                let v = &mut samples[mode][p];
                if v.is_empty() {
                    continue;
                }
                let faults = crate::median(&mut v.iter().map(|s| s.faults).collect::<Vec<_>>());
                let cycles = crate::median(&mut v.iter().map(|s| s.cycles).collect::<Vec<_>>());
                let micros = (cycles as u128 * 1_000_000 / hz.max(1) as u128) as u64;
                println!("BENCH-LARGE {name} {mib} {pass} {faults} {cycles} {micros}");
            }
        }
    }
    ok
}

/// One round: maps `len` bytes 2 MiB-aligned, with `HugePage` advice if
/// `huge`, touches every page in order writing one word, then visits
/// every page once in a scattered order reading it and writing it again;
/// `None` if mapping failed or a word read back wrong.
fn measure(env: &mut Env, len: u64, huge: bool) -> Option<[Pass; 2]> {
    let req = MmapRequest {
        align: CHUNK,
        ..MmapRequest::anon(len, Prot::RW)
    };
    let Ok(base) = env.vm.mmap(&req) else {
        println!("bench-fault: no {len}-byte region for the large-page phase");
        return None;
    };
    if huge && env.vm.madvise(base, len, Advice::HugePage).is_err() {
        println!("bench-fault: madvise(HUGEPAGE) refused");
        let _ = env.vm.munmap(base, len);
        return None;
    }
    let pages = len / PAGE;
    let word = |i: u64| (base + i * PAGE) as *mut u64;
    let touch = timed(env, || {
        for i in 0..pages {
            // SAFETY: inside the region mapped above.
            unsafe { word(i).write_volatile(i) };
        }
        true
    });
    // `pages` is a power of two: multiplying by an odd number modulo it
    // visits every page once, scattered.
    let random = timed(env, || {
        let mut right = true;
        for i in 0..pages {
            let p = i.wrapping_mul(0x9e37_79b9_7f4a_7c15 | 1) & (pages - 1);
            // SAFETY: inside the region mapped above.
            unsafe {
                right &= word(p).read_volatile() == p;
                word(p).write_volatile(p);
            }
        }
        right
    });
    let _ = env.vm.munmap(base, len);
    Some([touch?, random?])
}

/// Runs `f`, returning its faults and cycles, or `None` if it said the
/// data was wrong or the counters could not be read.
fn timed(env: &mut Env, f: impl FnOnce() -> bool) -> Option<Pass> {
    let before = env.vm.client_stats().ok()?.faults;
    let t0 = rdtsc();
    let right = f();
    let cycles = rdtsc() - t0;
    let after = env.vm.client_stats().ok()?.faults;
    if !right {
        println!("bench-fault: large-page phase read back a wrong word");
        return None;
    }
    Some(Pass {
        faults: after - before,
        cycles,
    })
}
