//! System test: `munmap` gives the swap slots of the range back at once.
//!
//! Checks docs/semantics.md (semantics: munmap-slots): when munmap
//! returns, the pages and swap slots only the range held are free again
//! (slots under a pageout write still in flight follow when it
//! completes). Once it is the only client left (it runs below every other
//! client's priority and waits for them), it writes a region of 1.5 times
//! the VM server's pool, so about half a pool of it goes to swap, lets
//! pageout settle, and unmaps it: the very next `stats()` must show the
//! swap slots in use back to what they were before the region was made,
//! within [`IN_FLIGHT`]. Letting pageout settle first means no write
//! completes after the munmap, so nothing else (a completion, a fault, a
//! pageout pass) gives the slots back in between.
#![no_std]
#![no_main]

use vm_client::vm_api::{MmapRequest, Prot, VmStats, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

/// Slots that may still be under a write when munmap returns: the swap
/// channel's staging buffers (64 pages in flight at most).
const IN_FLIGHT: u64 = 64;
/// Consecutive `stats()` answers without a page-out or page-in that mean
/// pageout has settled.
const SETTLED: u32 = 200;

fn main(env: &mut Env) -> u64 {
    env.plan(2);
    let alone = env.wait_spaces(1);
    let Ok(first) = env.vm.stats() else {
        env.check("stats", false, format_args!("no stats"));
        return env.failures();
    };
    let pool = first.npages;
    settle(env);
    let baseline = env.vm.stats().map_or(u64::MAX, |s| s.swpginuse);
    let pages = pool * 3 / 2;
    let region = match Region::map(&mut env.vm, &MmapRequest::anon(pages * PAGE_SIZE, Prot::RW)) {
        Ok(r) => r,
        Err(e) => {
            env.check("mmap", false, format_args!("{e:?}"));
            return env.failures();
        }
    };
    for p in 0..pages {
        region.write(p, 0, p);
    }
    settle(env);
    let used = env.vm.stats().map_or(0, |s| s.swpginuse);
    env.check(
        "region-went-to-swap",
        alone && used >= baseline + pool / 4,
        format_args!(
            "quiet system {alone}; {used} slots in use after writing {pages} pages \
             (pool {pool}), {baseline} before"
        ),
    );
    let r = region.unmap(&mut env.vm);
    let after = env.vm.stats().map_or(u64::MAX, |s| s.swpginuse);
    env.check(
        "munmap-gives-swap-slots-back-at-once",
        r.is_ok() && after <= baseline + IN_FLIGHT,
        format_args!(
            "munmap {r:?}; {after} swap slots in use right after it, {used} before it, \
             {baseline} before the region was made (allowed: {IN_FLIGHT} more)"
        ),
    );
    println!(
        "{}: swap slots in use: {baseline} before, {used} with the region, {after} after munmap",
        env.name()
    );
    env.failures()
}

/// Asks for the statistics (each answer lets the server run pageout when
/// free pages are short) until [`SETTLED`] answers in a row show no
/// page-out or page-in completed, at most 100 000 times.
fn settle(env: &mut Env) {
    let key = |s: &VmStats| (s.pageouts, s.pageins);
    let mut last = None;
    let mut same = 0;
    for _ in 0..100_000 {
        let now = env.vm.stats().ok().as_ref().map(key);
        if now == last {
            same += 1;
            if same == SETTLED {
                return;
            }
        } else {
            (last, same) = (now, 0);
        }
        sel4::yield_now();
    }
    println!("{}: pageout did not settle", env.name());
}
