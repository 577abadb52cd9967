//! System test, hostile: a client that wires memory page by page until its quota stops it.
//!
//! Locks the pages of a region one `mlock` at a time until the VM server
//! refuses with `QuotaWired`, and checks (semantics: quota-wired): the
//! refusal comes exactly at the spec's limit and `ClientStats` shows
//! `wired_pages == wired_limit`; locking pages that are already locked
//! does not count them twice (allowed at the limit); an `mlock` that
//! would pass the limit wires nothing, not even its pages below the
//! limit; `munlock` gives the quota back.
#![no_std]
#![no_main]

use vm_client::vm_api::{ApiError, ClientStats, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

/// Pages it tries to lock at most: far above the spec's limit (64 pages),
/// so a quota that is not enforced fails the test instead of pinning on.
const MAX_PAGES: u64 = 1024;
/// Pages mapped past the limit.
const EXTRA: u64 = 8;

fn stats(env: &mut Env) -> ClientStats {
    env.vm.client_stats().unwrap_or_default()
}

fn main(env: &mut Env) -> u64 {
    env.plan(5);
    let start = stats(env);
    let limit = start.wired_limit;
    if !(start.wired_pages == 0 && limit > 2 && limit < MAX_PAGES) {
        env.check(
            "mlock-refused-with-quota-wired",
            false,
            format_args!(
                "wired_limit {limit} pages (wired {}): expected a small limit from the spec",
                start.wired_pages
            ),
        );
        return env.failures();
    }
    let pages = limit + EXTRA;
    let region = Region::map(&mut env.vm, &MmapRequest::anon(pages * PAGE_SIZE, Prot::RW));
    let region = match region {
        Ok(r) => r,
        Err(e) => {
            env.check(
                "mlock-refused-with-quota-wired",
                false,
                format_args!("mmap of {pages} pages: {e:?}"),
            );
            return env.failures();
        }
    };
    for p in 0..pages {
        region.write(p, 0, p ^ 0x3157);
    }
    // Lock page by page until the quota refuses one.
    let mut locked = 0;
    let refused = loop {
        if locked == pages {
            break None;
        }
        match env.vm.mlock(region.page_addr(locked), PAGE_SIZE) {
            Ok(()) => locked += 1,
            Err(e) => break Some(e),
        }
    };
    let full = stats(env);
    println!(
        "{}: locked {locked} pages, then {refused:?}; {} of {limit} wired",
        env.name(),
        full.wired_pages
    );
    // semantics: quota-wired
    env.check(
        "mlock-refused-with-quota-wired",
        refused == Some(ApiError::QuotaWired),
        format_args!("after {locked} pages: {refused:?}, expected QuotaWired"),
    );
    env.check(
        "wired-pages-equal-limit",
        locked == limit && full.wired_pages == limit && full.wired_limit == limit,
        format_args!(
            "locked {locked} pages; ClientStats: wired_pages {}, wired_limit {}",
            full.wired_pages, full.wired_limit
        ),
    );
    if refused != Some(ApiError::QuotaWired) || locked < 2 {
        return env.failures();
    }

    // Pages already locked do not count twice: relocking them all works
    // at the limit; a range reaching one page past them wires nothing.
    let relock = env.vm.mlock(region.base(), locked * PAGE_SIZE);
    let after_relock = stats(env).wired_pages;
    env.check(
        "relock-not-counted-twice",
        relock.is_ok() && after_relock == limit,
        format_args!("mlock of the {locked} locked pages: {relock:?}, wired {after_relock}"),
    );
    let straddle = env.vm.mlock(region.page_addr(locked - 1), 2 * PAGE_SIZE);
    let after_straddle = stats(env).wired_pages;
    // The refused range must not have been wired in part: unlocking the
    // page below the limit must bring the count to limit - 1 exactly.
    let unlock_one = env.vm.munlock(region.page_addr(locked - 1), PAGE_SIZE);
    let after_unlock_one = stats(env).wired_pages;
    env.check(
        "mlock-past-limit-wires-nothing",
        straddle == Err(ApiError::QuotaWired)
            && after_straddle == limit
            && unlock_one.is_ok()
            && after_unlock_one == limit - 1,
        format_args!(
            "mlock of one locked and one unlocked page: {straddle:?} (expected QuotaWired), \
             wired {after_straddle}; munlock of the locked one {unlock_one:?}, wired \
             {after_unlock_one} (expected {})",
            limit - 1
        ),
    );

    // munlock gives the quota back: the pages past the limit lock now.
    let unlocked = env.vm.munlock(region.base(), pages * PAGE_SIZE);
    let none = stats(env).wired_pages;
    let tail = env.vm.mlock(region.page_addr(limit), EXTRA * PAGE_SIZE);
    let tail_wired = stats(env).wired_pages;
    let intact = (0..pages).all(|p| region.read(p, 0) == p ^ 0x3157);
    let unmapped = region.unmap(&mut env.vm);
    let end = stats(env).wired_pages;
    env.check(
        "munlock-gives-quota-back",
        unlocked.is_ok()
            && none == 0
            && tail.is_ok()
            && tail_wired == EXTRA
            && intact
            && unmapped.is_ok()
            && end == 0,
        format_args!(
            "munlock all {unlocked:?}: wired {none}; mlock of {EXTRA} more {tail:?}: wired \
             {tail_wired}; contents intact {intact}; munmap {unmapped:?}: wired {end}"
        ),
    );
    env.failures()
}
