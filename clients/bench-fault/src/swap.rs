//! The swap phase: swap-out and swap-in throughput and the page-in fault
//! latency, over a private region of [`POOL_MULTIPLE`] times the VM
//! server's frame pool (so most of it must live on swap).
//!
//! * `vm-swap-out-mbps`: write one word per page, in order. The first
//!   pool's worth only fills the pool (untimed); over the rest every new
//!   page pushes an older one out. MB/s = pages the VM server paged out
//!   meanwhile (`stats().pageouts` delta) x 4 KiB / elapsed time.
//! * `vm-swap-in-mbps`: read the region back in order, checking each word.
//!   An untimed pass first, which also pages out the write pass's dirty
//!   tail; then a second pass, its first pool's worth again untimed, over
//!   clean pages whose copies stay on swap, so the timed part only reads:
//!   MB/s = `pageins` delta x 4 KiB / elapsed time.
//! * `vm-fault-pagein`: the median cycles of a read fault that reads from
//!   swap, one touch per [`PAGEIN_STRIDE`] pages (128 KiB), beyond page-in
//!   read-ahead (7 pages behind, 8 ahead); touches that found their page
//!   resident (no `pageins` change) are left out. Then `BENCH-PAGEIN-WORK`:
//!   per counted fault, the server's kernel invocations and messages and
//!   the pages its pageout freed and scanned meanwhile (from `Stats`
//!   around each touch), which say where a page-in's time goes.
//!
//! MB is 10^6 bytes, as in block-test's raw lines; time is the TSC,
//! calibrated against the CMOS clock's seconds (once, in `main`).

use crate::{rdtsc, PAGE};
use alloc::vec::Vec;
use vm_client::vm_api::{MmapRequest, Prot, VmStats};
use vm_client::{println, Env};

/// The region is this many pools.
const POOL_MULTIPLE: u64 = 4;
/// One page-in sample every 32 pages (128 KiB).
const PAGEIN_STRIDE: u64 = 32;

/// Runs the swap phase; false if the data read back was wrong or the
/// setup failed. `hz`: TSC ticks per second (`crate::tsc_hz`).
pub fn run(env: &mut Env, hz: u64) -> bool {
    let s = stats(env);
    let pool = s.npages;
    let pages = pool * POOL_MULTIPLE;
    if s.swpages < pages + pool {
        println!(
            "bench-fault: {} swap pages for a {pages}-page region; no swap benchmark",
            s.swpages
        );
        return false;
    }
    println!(
        "bench-fault: swap phase over {pages} pages ({} MiB, {POOL_MULTIPLE} pools); {} pages paged out before it",
        (pages * PAGE) >> 20,
        s.pageouts
    );
    let Ok(base) = env.vm.mmap(&MmapRequest::anon(pages * PAGE, Prot::RW)) else {
        println!("bench-fault: mmap of {pages} pages failed");
        return false;
    };
    let word = |i: u64| (base + i * PAGE) as *mut u64;

    // Swap-out.
    for i in 0..pool {
        // SAFETY: inside the region mapped above.
        unsafe { word(i).write_volatile(i) };
    }
    let (s0, t0) = (stats(env), rdtsc());
    for i in pool..pages {
        // SAFETY: as above.
        unsafe { word(i).write_volatile(i) };
    }
    let (s1, t1) = (stats(env), rdtsc());
    report(
        "vm-swap-out-mbps",
        &s0,
        &s1,
        s1.pageouts - s0.pageouts,
        t1 - t0,
        hz,
    );
    // With the pool full of this region's pages and the rest on swap:
    // everything the server keeps, per frame it manages (the large
    // regions' frames have page records too).
    let managed = s1.npages + s1.large_pages * 512;
    println!(
        "BENCH vm-metadata-bytes-per-page {} bytes (heap {} bytes in live allocations, pool {} frames and {} large pages of 512, {} map entries, {} pages on swap)",
        s1.heap_bytes / managed.max(1),
        s1.heap_bytes,
        s1.npages,
        s1.large_pages,
        s1.map_entries,
        s1.swpginuse
    );

    // Swap-in. A first, untimed pass pages the dirty tail of the write
    // pass out; after it every resident page is clean with its copy still
    // on swap, so the timed pass only reads (evicting costs no write).
    let mut bad = 0u64;
    for i in (0..pages).chain(0..pool) {
        // SAFETY: `i` < `pages` (pool <= pages): inside the region mapped
        // above, unmapped only at the end of this function.
        bad += u64::from(unsafe { word(i).read_volatile() } != i);
    }
    let (s0, t0) = (stats(env), rdtsc());
    for i in pool..pages {
        // SAFETY: as above: `i` < `pages`, inside the mapped region.
        bad += u64::from(unsafe { word(i).read_volatile() } != i);
    }
    let (s1, t1) = (stats(env), rdtsc());
    report(
        "vm-swap-in-mbps",
        &s0,
        &s1,
        s1.pageins - s0.pageins,
        t1 - t0,
        hz,
    );

    // Page-in latency: the first half of the region was read longest ago,
    // so it is on swap again (only about the last pool's worth stays). A
    // touch counts only if it read from swap (`pageins` moved).
    let touches = 2 * pool / PAGEIN_STRIDE;
    let mut samples: Vec<u64> = Vec::with_capacity(touches as usize);
    let mut read_in = 0;
    // What the server did for the counted touches: kernel invocations,
    // messages besides the `Stats` request after the touch, pages freed
    // by pageout and pages it scanned.
    let mut work = [0u64; 4];
    for k in 0..touches {
        let i = k * PAGEIN_STRIDE;
        let before = stats(env);
        let t = rdtsc();
        // SAFETY: `i` < 2 * pool <= `pages`: inside the mapped region.
        let v = unsafe { word(i).read_volatile() };
        let dt = rdtsc() - t;
        let after = stats(env);
        let n = after.pageins - before.pageins;
        bad += u64::from(v != i);
        if n > 0 {
            samples.push(dt);
            read_in += n;
            let d = |f: fn(&VmStats) -> u64| f(&after).saturating_sub(f(&before));
            work[0] += d(|s| s.kernel_invocations);
            work[1] += d(|s| s.messages).saturating_sub(1);
            work[2] += d(|s| s.pdfreed);
            work[3] += d(|s| s.pdscans);
        }
    }
    if samples.is_empty() {
        println!("bench-fault: no touch read from swap; no page-in latency");
    } else {
        samples.sort_unstable();
        println!(
            "BENCH vm-fault-pagein {} cycles (median of {} faults that read from swap, {touches} touches 128 KiB apart, {read_in} pages read in by them)",
            samples[samples.len() / 2],
            samples.len(),
        );
        let per = |w: u64| w as f64 / samples.len() as f64;
        println!(
            "BENCH-PAGEIN-WORK per fault: {:.1} kernel invocations, {:.1} messages, {:.1} pages freed by pageout, {:.1} pages scanned",
            per(work[0]),
            per(work[1]),
            per(work[2]),
            per(work[3]),
        );
    }

    let _ = env.vm.munmap(base, pages * PAGE);
    if bad != 0 {
        println!("bench-fault: {bad} pages read back wrong from swap");
    }
    bad == 0
}

fn stats(env: &mut Env) -> VmStats {
    env.vm.stats().expect("stats")
}

/// Prints one throughput line: `pages` of 4 KiB in `cycles`.
fn report(name: &str, s0: &VmStats, s1: &VmStats, pages: u64, cycles: u64, hz: u64) {
    let bytes = pages * PAGE;
    let mbps = bytes as u128 * hz as u128 / cycles.max(1) as u128 / 1_000_000;
    println!(
        "BENCH {name} {mbps} MB/s ({} MiB in {} ms; {} pages out, {} in; pool {} pages, TSC {} MHz)",
        bytes >> 20,
        cycles as u128 * 1000 / hz as u128,
        s1.pageouts - s0.pageouts,
        s1.pageins - s0.pageins,
        s1.npages,
        hz / 1_000_000
    );
}
