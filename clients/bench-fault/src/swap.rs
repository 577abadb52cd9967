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
//!   MB/s = the pages it needed read in x 4 KiB / elapsed time, a page
//!   needed when it was not resident as its round began (`mincore`; a
//!   page still being read ahead counts as resident, so this is a slight
//!   lower bound: at most a window a round). Not
//!   the server's `pageins`: those count read-ahead the pass never used
//!   and pages read twice, evicted before the pass reached them, which
//!   a larger window multiplies (docs/performance.md, "Read-ahead across
//!   resident pages"); the pass prints both.
//! * `vm-fault-pagein`: the median cycles of a read fault that reads from
//!   swap, one touch per [`PAGEIN_STRIDE`] pages (128 KiB), beyond page-in
//!   read-ahead (scattered faults keep its adaptive window to a page or
//!   two); touches that found their page
//!   resident (no `pageins` change) are left out. Then `BENCH-PAGEIN-WORK`:
//!   per counted fault, the server's kernel invocations and messages, the
//!   pages its pageout freed and scanned meanwhile and the cycles of its
//!   loop (from `Stats` around each touch), which say where a page-in's
//!   time goes. The loop's cycles include the block server's (polling at
//!   a higher priority, it runs inside the VM server's message from the
//!   doorbell until its requests are done) and those of the `Stats`
//!   request before the touch (its own handling is added after it
//!   answers).
//!   Likewise `BENCH-SWAP-WORK` after each throughput pass: per page
//!   moved, the cycles, the server's kernel invocations and messages, its
//!   loop's cycles and of those the cycles its swap doorbells took (the
//!   block server's run: polling above the VM server, it preempts the
//!   ring and returns when its requests are done), with the doorbells.
//! * `vm-swap-out-bound-mbps`, `vm-swap-in-bound-mbps`: what the kernel
//!   alone allows. Every page a pass moves was mapped into this client
//!   (it touched the page) and every page it moves costs the pool a page
//!   unmapped (out: the page itself; in: the page it evicts), one
//!   `Page_Map` and one `Page_Unmap` each on a single CPU, whatever the
//!   server does around them. The root task times such a pair
//!   (`floor-map-unmap`, [`control::FLOOR_MAP_UNMAP`]) before each round:
//!   MB/s = 4 KiB / that pair's time, against the same raw round as the
//!   pass (docs/performance.md, "The swap rows' bound").
//!
//! Each is measured in rounds, each right after a floor round of the same
//! boot: block-test measures the raw disk on request (`floor_ep`,
//! `block_api::floor`: 8 MiB written or read in 64 KiB requests, 8 in
//! flight; or 16 reads of 4 KiB alone), and the root task the fault floor
//! (`control::floor_round`). So `BENCH-ROUNDS` gives each round's ratio
//! to the floor measured just before it, as the fault rows do, and not to
//! a floor measured minutes earlier, when the host may have been busier
//! or quieter. The timed passes are [`SWAP_ROUNDS`] rounds, the page-in
//! touches [`crate::ROUNDS`]; the whole-pass `BENCH` lines leave the
//! floor rounds' time out.
//!
//! MB is 10^6 bytes, as in block-test's raw lines; time is the TSC,
//! calibrated against the CMOS clock's seconds (once, in `main`).

use crate::rounds::Rounds;
use crate::{rdtsc, PAGE, ROUNDS};
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
use block_api::floor::{FLOOR_READ_4K, FLOOR_READ_RATE, FLOOR_WRITE_RATE};
use sel4_root_task::control;
use vm_client::vm_api::{Mincore, MmapRequest, Prot, VmStats};
use vm_client::{println, Env};

/// The region is this many pools.
const POOL_MULTIPLE: u64 = 4;
/// One page-in sample every 32 pages (128 KiB).
const PAGEIN_STRIDE: u64 = 32;
/// Rounds of each timed swap pass.
const SWAP_ROUNDS: u64 = 4;
/// MiB block-test moves in a raw rate round.
const RAW_ROUND_MIB: u64 = 8;
/// Reads of 4 KiB in a raw latency round.
const RAW_ROUND_READS: u64 = 16;

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
    // `cargo qemu bench --data-pages` records the server from here to
    // the pass's BENCH line (qemu/src/swap_profile.rs).
    println!("bench-fault: timed swap-out pass");
    let s1 = timed_pass(env, hz, Pass::Out, base, pool..pages, |i| {
        // SAFETY: `i` < `pages`: inside the region mapped above.
        unsafe { word(i).write_volatile(i) };
    });
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
    // `cargo qemu bench --data-pages` records the server from here to
    // the pass's BENCH line (qemu/src/swap_profile.rs).
    println!("bench-fault: timed swap-in pass");
    timed_pass(env, hz, Pass::In, base, pool..pages, |i| {
        // SAFETY: as above: `i` < `pages`, inside the mapped region.
        bad += u64::from(unsafe { word(i).read_volatile() } != i);
    });

    // Page-in latency: the first half of the region was read longest ago,
    // so it is on swap again (only about the last pool's worth stays). A
    // touch counts only if it read from swap (`pageins` moved).
    let touches = 2 * pool / PAGEIN_STRIDE;
    let mut samples: Vec<u64> = Vec::with_capacity(touches as usize);
    let mut read_in = 0;
    // What the server did for the counted touches: kernel invocations,
    // messages besides the `Stats` request before the touch, pages freed
    // by pageout, pages it scanned, and the cycles of its loop (with the
    // block server's, which preempts it at the doorbell).
    let mut work = [0u64; 5];
    let mut rounds = Rounds::default();
    let per_round = touches.div_ceil(ROUNDS);
    for k in 0..touches {
        if k % per_round == 0 {
            let floor = control::floor_round(control::FLOOR_FAULT)
                .zip(raw_floor(env, FLOOR_READ_4K, RAW_ROUND_READS))
                .map(|(f, d)| f + d);
            rounds.start(floor, samples.len());
        }
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
            work[4] += d(|s| s.handling_cycles);
        }
    }
    rounds.end_cycles(&samples);
    if samples.is_empty() {
        println!("bench-fault: no touch read from swap; no page-in latency");
    } else {
        rounds.print("vm-fault-pagein", "floor-fault+blk-read-4k", 1);
        samples.sort_unstable();
        println!(
            "BENCH vm-fault-pagein {} cycles (median of {} faults that read from swap, {touches} touches 128 KiB apart, {read_in} pages read in by them)",
            samples[samples.len() / 2],
            samples.len(),
        );
        let per = |w: u64| w as f64 / samples.len() as f64;
        println!(
            "BENCH-PAGEIN-WORK per fault: {:.1} kernel invocations, {:.1} messages, {:.1} pages freed by pageout, {:.1} pages scanned, {:.0} cycles in the VM server's loop",
            per(work[0]),
            per(work[1]),
            per(work[2]),
            per(work[3]),
            per(work[4]),
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

/// Pages of `range` of the region at `base` not resident now (`mincore`):
/// what touching them must read in.
fn not_resident(env: &mut Env, base: u64, range: core::ops::Range<u64>) -> u64 {
    let mut bytes = vec![Mincore::empty(); (range.end - range.start) as usize];
    let n = env
        .vm
        .mincore(
            base + range.start * PAGE,
            (range.end - range.start) * PAGE,
            &mut bytes,
        )
        .expect("mincore of the swap region");
    bytes[..n]
        .iter()
        .filter(|m| !m.contains(Mincore::INCORE))
        .count() as u64
}

/// A timed swap pass: the pages it moves go out to swap or come in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Out,
    In,
}

/// Runs `touch(i)` for every page `i` of `range` of the region at `base`
/// in [`SWAP_ROUNDS`] rounds, each after a raw rate round of block-test's
/// in the same direction; prints the pass's `BENCH` line (the rounds'
/// time only) and its `BENCH-ROUNDS` against the raw rate. The pages
/// moved out are the server's `pageouts`; those moved in, the round's
/// pages not resident as it began ([`not_resident`]). Returns the stats
/// after the last round.
fn timed_pass(
    env: &mut Env,
    hz: u64,
    pass: Pass,
    base: u64,
    range: core::ops::Range<u64>,
    mut touch: impl FnMut(u64),
) -> VmStats {
    let out = pass == Pass::Out;
    let (name, measure, raw) = if out {
        ("vm-swap-out-mbps", FLOOR_WRITE_RATE, "blk-raw-write-mbps")
    } else {
        ("vm-swap-in-mbps", FLOOR_READ_RATE, "blk-raw-read-mbps")
    };
    let per_round = (range.end - range.start).div_ceil(SWAP_ROUNDS);
    let mut rounds = Rounds::default();
    // The kernel's bound (`floor-map-unmap`) against the raw round, and
    // the pass against that bound, round by round.
    let (mut bound_rounds, mut share_rounds) = (Rounds::default(), Rounds::default());
    let mut pair_cycles = Vec::new();
    let (mut pages, mut cycles, mut other) = (0, 0, 0);
    // Swap-in: the server's `pageins` beside the pages the pass needed.
    let mut read_in = 0;
    // The server's kernel invocations and messages during the rounds, and
    // its swap doorbells with their cycles.
    let (mut invocations, mut messages, mut handling) = (0, 0, 0);
    let (mut doorbells, mut doorbell_cycles) = (0, 0);
    let mut last = stats(env);
    let mut lo = range.start;
    while lo < range.end {
        let hi = (lo + per_round).min(range.end);
        let floor = raw_floor(env, measure, RAW_ROUND_MIB);
        let pair = control::floor_round(control::FLOOR_MAP_UNMAP).filter(|&c| c > 0);
        // KB/s, as the raw floor's.
        let bound = pair.map(|c| PAGE * hz / c / 1000);
        match bound {
            Some(b) => bound_rounds.add(b, floor),
            None => bound_rounds.add(0, None),
        }
        pair_cycles.extend(pair);
        let need = if out {
            0
        } else {
            not_resident(env, base, lo..hi)
        };
        let (s0, t0) = (stats(env), rdtsc());
        (lo..hi).for_each(&mut touch);
        let (s1, t1) = (stats(env), rdtsc());
        let n = if out { s1.pageouts - s0.pageouts } else { need };
        let dt = (t1 - t0).max(1);
        read_in += s1.pageins - s0.pageins;
        // KB/s, the floor's unit.
        let kbps = (n as u128 * PAGE as u128 * hz as u128 / dt as u128 / 1000) as u64;
        rounds.add(kbps, floor);
        share_rounds.add(kbps, bound);
        pages += n;
        cycles += dt;
        if out {
            other += s1.pageins - s0.pageins;
        } else {
            other += s1.pageouts - s0.pageouts;
        }
        invocations += s1.kernel_invocations - s0.kernel_invocations;
        messages += s1.messages - s0.messages;
        handling += s1.handling_cycles - s0.handling_cycles;
        doorbells += s1.swap_doorbells - s0.swap_doorbells;
        doorbell_cycles += s1.swap_doorbell_cycles - s0.swap_doorbell_cycles;
        last = s1;
        lo = hi;
    }
    let bytes = pages * PAGE;
    let (outs, ins) = if out {
        (pages, format!("{other} in"))
    } else {
        (other, format!("{pages} needed in, {read_in} read in"))
    };
    println!(
        "BENCH {name} {} MB/s ({} MiB in {} ms over {SWAP_ROUNDS} rounds; {outs} pages out, {ins}; pool {} pages, TSC {} MHz)",
        bytes as u128 * hz as u128 / cycles.max(1) as u128 / 1_000_000,
        bytes >> 20,
        cycles as u128 * 1000 / hz as u128,
        last.npages,
        hz / 1_000_000
    );
    rounds.print(name, raw, 1000);
    print_bound(
        name,
        pass,
        &mut pair_cycles,
        hz,
        &mut bound_rounds,
        &mut share_rounds,
    );
    let per = |w: u64| w as f64 / pages.max(1) as f64;
    println!(
        "BENCH-SWAP-WORK {name} per page moved: {} cycles, {:.2} kernel invocations, {:.2} messages, {} cycles in the VM server's loop, of which {} at the swap doorbell ({:.3} doorbells)",
        cycles / pages.max(1),
        per(invocations),
        per(messages),
        handling / pages.max(1),
        doorbell_cycles / pages.max(1),
        per(doorbells)
    );
    last
}

/// Prints the kernel's bound for pass `name` (`<name>`'s `-bound-`
/// row): its MB/s from the median map-unmap pair of `pair_cycles`, its
/// rounds against the raw rounds, and the pass's rounds against it.
fn print_bound(
    name: &str,
    pass: Pass,
    pair_cycles: &mut [u64],
    hz: u64,
    bound_rounds: &mut Rounds,
    share_rounds: &mut Rounds,
) {
    if pair_cycles.is_empty() {
        println!("bench-fault: {name}: no floor-map-unmap rounds; no bound");
        return;
    }
    let (bound, raw) = match pass {
        Pass::Out => ("vm-swap-out-bound-mbps", "blk-raw-write-mbps"),
        Pass::In => ("vm-swap-in-bound-mbps", "blk-raw-read-mbps"),
    };
    let pair = crate::median(pair_cycles);
    println!(
        "BENCH {bound} {} MB/s (4 KiB per Page_Map and Page_Unmap: {pair} cycles the pair, median of {} floor-map-unmap rounds)",
        PAGE * hz / pair.max(1) / 1_000_000,
        pair_cycles.len()
    );
    bound_rounds.print(bound, raw, 1000);
    share_rounds.print(name, bound, 1000);
}

/// One raw-disk floor round of block-test's (`block_api::floor`): `None`
/// without the `floor_ep` cap or when the round failed.
fn raw_floor(env: &Env, measure: u64, size: u64) -> Option<u64> {
    let ep = env.info.cap("floor_ep")?;
    sel4::set_mr(0, size);
    let info = sel4::call(ep, sel4::MessageInfo::new(measure, 0, 0, 1));
    (info.label() == 0 && info.length() == 1).then(|| sel4::get_mr(0))
}
