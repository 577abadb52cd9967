//! `vmstat`: prints the VM server's statistics the way BSD's `vmstat -s`
//! does (one counter per line, number first), then its own per-client
//! counters. As a system test it checks the page counts add up.
#![no_std]
#![no_main]

use vm_client::vm_api::VmStats;
use vm_client::{println, Env};

vm_client::client_main!(main);

/// (value, description) for every counter, in `vmstat -s` order and wording.
fn lines(s: &VmStats) -> [(u64, &'static str); 37] {
    [
        (s.pagesize, "bytes per page"),
        (s.npages, "pages managed"),
        (s.free, "pages free"),
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
        (s.flt_cow, "copy-on-write faults"),
        (s.flt_share, "read-only share faults"),
        (s.flt_resident, "resident page faults"),
        (s.flt_modify, "modify (emulated dirty bit) faults"),
        (s.flt_prefault, "prefaulted pages"),
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
        (s.spaces, "address spaces"),
        (s.kobj_in_use, "kernel objects in use"),
        (s.cap_slots_in_use, "capability slots in use"),
    ]
}

fn main(env: &mut Env) -> u64 {
    env.plan(2);
    let stats = env.vm.stats();
    let Ok(s) = stats else {
        env.check("stats", false, format_args!("{stats:?}"));
        return env.failures();
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
    }
    env.check(
        "client-stats",
        me.as_ref()
            .is_ok_and(|c| c.faults > 0 && c.resident_pages > 0),
        format_args!("{me:?}"),
    );
    env.failures()
}
