//! `vmstat`: prints the VM server's statistics the way BSD's `vmstat -s`
//! does (one counter per line, number first), then its own per-client
//! counters; then, when its spec grants it the CMOS clock (`io_ports =
//! 0x70-0x71`), the way `vmstat 1 5` does: a header and, for each of
//! [`INTERVALS`] one-second intervals, a line of global rates and one
//! per client that moved ([`interval`]; the per-client lines need
//! `privileges { observe }`). As a system test it checks the page counts
//! add up, and across the intervals that the clients' faults never
//! exceed the global count, that its own faults are counted, that free
//! pages stay within the pool and that no counter goes back.
#![no_std]
#![no_main]

extern crate alloc;

mod interval;

use interval::{Clock, Interval, Sample};
use vm_client::vm_api::{Advice, ClientName, MmapRequest, Prot, VmStats, PAGE_SIZE};
use vm_client::{println, Env};

vm_client::client_main!(main);

/// Intervals of one clock second each (BSD's `vmstat 1 5`).
const INTERVALS: u64 = 5;
/// Fresh pages this program touches in each interval, fault-around off:
/// its own faults, so its line moves even on an idle system.
const TOUCH: u64 = 32;
/// The checks interval mode reports (whether or not it gets to run).
const INTERVAL_CHECKS: [&str; 5] = [
    "client-list-has-me",
    "interval-my-faults-counted",
    "interval-clients-within-global",
    "interval-pool-bounds",
    "interval-counters-never-go-back",
];

/// (value, description) for every counter, in `vmstat -s` order and wording.
fn lines(s: &VmStats) -> [(u64, &'static str); 51] {
    [
        (s.pagesize, "bytes per page"),
        (s.npages, "pages managed"),
        (s.free, "pages free"),
        (s.zeropages, "pages free and zeroed ahead"),
        (s.active, "pages active"),
        (s.inactive, "pages inactive"),
        (s.wired, "pages wired"),
        (s.reserve_pagedaemon, "reserve pagedaemon pages"),
        (s.swpages, "swap pages"),
        (s.swpginuse, "swap pages in use"),
        (s.swpgbad, "swap pages marked bad"),
        (s.swap_io_errors, "swap I/O errors"),
        (s.oom_kills, "processes killed for lack of swap"),
        (s.faults, "page faults"),
        (s.flt_zero, "zero-fill faults"),
        (s.pga_zerohit, "zero-fill pages found zeroed ahead"),
        (s.pga_zeromiss, "zero-fill pages zeroed in the fault"),
        (s.prezeroed, "pages zeroed in idle time"),
        (s.flt_cow, "copy-on-write faults"),
        (
            s.flt_cow_trade,
            "copy-on-write faults that kept the mapped frame",
        ),
        (s.flt_share, "read-only share faults"),
        (s.flt_resident, "resident page faults"),
        (s.flt_modify, "modify (emulated dirty bit) faults"),
        (
            s.flt_reference,
            "reference (emulated referenced bit) faults",
        ),
        (s.flt_prefault, "prefaulted pages"),
        (s.flt_large, "large (2 MiB) page faults"),
        (s.flt_nomap, "faults with no mapping"),
        (s.flt_prot, "protection faults"),
        (s.flt_noram, "faults with no free page"),
        (s.shadows, "shadow objects pushed"),
        (s.collapses, "object collapses"),
        (s.chain_merges, "chain merges at the depth limit"),
        (s.pages_freed, "pages freed"),
        (s.forks, "forks"),
        (s.exits, "exits"),
        (s.mmaps, "mmap calls"),
        (s.pageins, "pages paged in"),
        (s.pageouts, "pages paged out"),
        (s.pdwoke, "pagedaemon wakeups"),
        (s.pdscans, "pages scanned by daemon"),
        (s.pdfreed, "pages freed by daemon"),
        (s.large_pages, "large (2 MiB) pages"),
        (s.large_pages_used, "large pages in use"),
        (s.large_allocs, "large page allocations"),
        (s.large_demotes, "large page demotions (pages)"),
        (s.large_cow_copies, "large page copy-on-write copies"),
        (s.large_promotes, "large page promotions"),
        (s.large_reclaims, "partly used large pages broken up"),
        (s.spaces, "address spaces"),
        (s.kobj_in_use, "kernel objects in use"),
        (s.cap_slots_in_use, "capability slots in use"),
    ]
}

fn main(env: &mut Env) -> u64 {
    let clock = Clock::of(env);
    let interval_checks = if clock.is_some() {
        INTERVAL_CHECKS.len()
    } else {
        0
    };
    env.plan(2 + interval_checks);
    summary(env);
    match clock {
        Some(clock) => {
            if let Err(why) = intervals(env, &clock) {
                for what in INTERVAL_CHECKS {
                    env.check(what, false, format_args!("{why}"));
                }
            }
        }
        None => println!("vmstat: no clock (io_ports 0x70-0x71 in its spec): no interval lines"),
    }
    env.failures()
}

/// The `vmstat -s` summary and its two checks.
fn summary(env: &mut Env) {
    let stats = env.vm.stats();
    let Ok(s) = stats else {
        env.check("stats", false, format_args!("{stats:?}"));
        env.check("client-stats", false, format_args!("{stats:?}"));
        return;
    };
    for (v, what) in lines(&s) {
        println!("{v:>12} {what}");
    }
    let queued = s.free + s.active + s.inactive;
    env.check(
        "page-counts-add-up",
        s.npages > 0 && queued <= s.npages && s.wired <= s.npages && s.pagesize == 4096,
        format_args!(
            "npages {} free {} active {} inactive {} wired {}",
            s.npages, s.free, s.active, s.inactive, s.wired
        ),
    );
    let me = env.vm.client_stats();
    if let Ok(c) = me {
        println!("{:>12} my resident pages", c.resident_pages);
        println!("{:>12} my mapped bytes", c.mapped_bytes);
        println!("{:>12} my faults", c.faults);
        println!("{:>12} my large page faults", c.flt_large);
    }
    env.check(
        "client-stats",
        me.as_ref()
            .is_ok_and(|c| c.faults > 0 && c.resident_pages > 0),
        format_args!("{me:?}"),
    );
}

/// Free pages within the pool, and the queues within it, in both reads
/// of a sample.
fn within_pool(s: &Sample) -> bool {
    [&s.before, &s.after]
        .iter()
        .all(|v| v.free <= v.npages && v.free + v.active + v.inactive <= v.npages)
}

/// The global counters the lines show, in one read.
fn counters(v: &VmStats) -> [u64; 5] {
    [
        v.faults,
        v.pageins,
        v.pager_pages_in,
        v.pageouts,
        v.pager_pages_out,
    ]
}

/// Whether no counter went back from `a` to the later `b` (global
/// counters read by read, each client's in both).
fn never_back(a: &Sample, b: &Sample) -> bool {
    let reads = [&a.before, &a.after, &b.before, &b.after];
    let global = reads.windows(2).all(|w| {
        counters(w[0])
            .iter()
            .zip(counters(w[1]))
            .all(|(x, y)| *x <= y)
    });
    let clients = b.clients.iter().all(|now| {
        a.client(now.client)
            .is_none_or(|was| was.faults <= now.faults && was.pageins <= now.pageins)
    });
    global && clients
}

/// Interval mode: calibrates the TSC against the clock's first whole
/// second, then prints and checks [`INTERVALS`] intervals. `Err` (with
/// why) when it cannot start, before any check; the checks are then
/// failed by the caller. A clock or request failing later fails the
/// interval checks here.
fn intervals(env: &mut Env, clock: &Clock) -> Result<(), alloc::string::String> {
    use alloc::format;
    let len = INTERVALS * TOUCH * PAGE_SIZE;
    let base = env
        .vm
        .mmap(&MmapRequest::anon(len, Prot::RW))
        .map_err(|e| format!("mmap: {e:?}"))?;
    env.vm
        .madvise(base, len, Advice::Random)
        .map_err(|e| format!("madvise: {e:?}"))?;
    let no_tick = || alloc::string::String::from("the CMOS clock does not tick");
    let t0 = clock.next_tick().ok_or_else(no_tick)?;
    let t1 = clock.next_tick().ok_or_else(no_tick)?;
    let hz = t1 - t0;
    println!(
        "vmstat: {INTERVALS} intervals of 1 s (TSC {} MHz against the CMOS clock)",
        hz / 1_000_000
    );
    let me_before = env.vm.client_stats().map_err(|e| format!("{e:?}"))?;
    let mut prev = Sample::take(env, t1).map_err(|e| format!("ClientList: {e:?}"))?;
    let me_after = env.vm.client_stats().map_err(|e| format!("{e:?}"))?;
    let me = me_before.client;
    let entry = prev.client(me).copied();
    let in_order = prev.clients.windows(2).all(|w| w[0].client < w[1].client);
    env.check(
        INTERVAL_CHECKS[0],
        in_order
            && entry.is_some_and(|e| {
                e.name == ClientName::truncated(env.name())
                    && (me_before.faults..=me_after.faults).contains(&e.faults)
            }),
        format_args!(
            "in order {in_order}, my entry {entry:?}, my faults {} then {}",
            me_before.faults, me_after.faults
        ),
    );
    interval::print_header();
    let (mut mine_ok, mut within_ok) = (true, true);
    let (mut pool_ok, mut back_ok) = (within_pool(&prev), true);
    let mut notes = alloc::vec::Vec::new();
    // Why the intervals stopped early, if they did.
    let mut broken: Option<alloc::string::String> = None;
    for n in 1..=INTERVALS {
        // This interval's own faults: fresh pages, one fault each.
        for p in 0..TOUCH {
            let page = base + ((n - 1) * TOUCH + p) * PAGE_SIZE;
            // SAFETY: inside the private mapping made above, which this
            // program alone uses and never unmaps; no reference points
            // into it.
            unsafe { (page as *mut u64).write_volatile(n) };
        }
        let Some(tick) = clock.next_tick() else {
            broken = Some(no_tick());
            break;
        };
        let now = match Sample::take(env, tick) {
            Ok(now) => now,
            Err(e) => {
                broken = Some(format!("interval {n}: {e:?}"));
                break;
            }
        };
        let i = Interval::between(&prev, &now);
        interval::print_interval(n as usize, &i, hz);
        let mine = i
            .clients
            .iter()
            .find(|c| c.0.client == me)
            .map_or(0, |c| c.1);
        let rate = |d| interval::per_second(d, i.cycles, hz);
        let client_rates: u64 = i.clients.iter().map(|c| rate(c.1)).sum();
        if mine < TOUCH {
            mine_ok = false;
            notes.push(format!("interval {n}: my faults +{mine}, touched {TOUCH}"));
        }
        if i.client_faults() > i.faults || client_rates > rate(i.faults) {
            within_ok = false;
            notes.push(format!(
                "interval {n}: clients' faults +{} ({client_rates}/s), global +{} ({}/s)",
                i.client_faults(),
                i.faults,
                rate(i.faults)
            ));
        }
        pool_ok &= within_pool(&now);
        back_ok &= never_back(&prev, &now);
        prev = now;
    }
    if let Some(why) = &broken {
        notes.insert(0, format!("stopped early: {why}"));
    }
    let notes = notes.join("; ");
    let whole = broken.is_none();
    env.check(
        INTERVAL_CHECKS[1],
        whole && mine_ok,
        format_args!("{notes}"),
    );
    env.check(
        INTERVAL_CHECKS[2],
        whole && within_ok,
        format_args!("{notes}"),
    );
    env.check(
        INTERVAL_CHECKS[3],
        whole && pool_ok,
        format_args!("{notes}; free or queued pages above npages: {}", !pool_ok),
    );
    env.check(
        INTERVAL_CHECKS[4],
        whole && back_ok,
        format_args!("{notes}; a counter went back: {}", !back_ok),
    );
    Ok(())
}
