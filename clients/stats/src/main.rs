//! System test: the per-client statistics (`ClientStats`) count what this
//! client did.
//!
//! Checks docs/semantics.md (semantics: statistics): every `ClientStats`
//! field is filled, from the caller's own space. Each of the seven fields
//! that are not simply copied from elsewhere is made to move: fresh
//! anonymous memory touched (`flt_zero`, and `flt_prefault` for the
//! neighbours fault-around fills), `mlock` of 8 pages (`wired_pages` is
//! exactly 8, then 0 again), shared-memory handles opened and closed
//! (`handles` exactly follows them), a forked child reading pages it
//! shares copy-on-write with this parent (`flt_share`) and writing others
//! (`flt_cow`, at least one copy per page written), and a region of 1.5
//! times the pool written and read back (`pageins`). The others move
//! too: the fresh region adds its bytes to `mapped_bytes`, one entry to
//! `map_entries`, its pages to `resident_pages` and faults to `faults`;
//! `live_children` is 1 while the forked child lives and 0 after. Exact
//! where the count is deterministic, "at least" where fault-around,
//! read-ahead or pageout may change it.
#![no_std]
#![no_main]

use vm_client::vm_api::{ClientStats, ForkReply, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

/// Pages of the fresh region.
const FRESH: u64 = 64;
/// Of them, the child reads these and writes the rest.
const READ: u64 = 32;
/// Pages locked.
const LOCKED: u64 = 8;
/// Page-ins a read of half a pool from swap takes at least: read-ahead
/// brings at most 16 pages per read (the server's `SWAP_CLUSTER`), and
/// more than half a pool of pages is on swap when the read begins.
const MIN_PAGEINS: u64 = 16;
const SHM_NAME: &str = "client-stats-handles";
/// Yields to wait for the child at most.
const SPINS: u64 = 2_000_000;

/// Words of the page the child reports in.
const STATE: u64 = 0;
const SHARE: u64 = 1;
const COW: u64 = 2;
/// Set by the parent once it counted the living child.
const ACK: u64 = 3;
const DONE: u64 = 1;
/// `STATE` when the child could not read its statistics.
const NO_STATS: u64 = 2;

fn main(env: &mut Env) -> u64 {
    env.plan(9);
    let Ok(start) = env.vm.client_stats() else {
        env.check("client-stats", false, format_args!("no ClientStats"));
        return env.failures();
    };
    let Some(fresh) = zero_fill(env, start) else {
        return env.failures();
    };
    wired(env, &fresh);
    handles(env);
    fork_faults(env, &fresh);
    pageins(env);
    env.failures()
}

fn stats(env: &mut Env) -> ClientStats {
    env.vm.client_stats().unwrap_or_default()
}

/// Touches a fresh region: every page is zero-filled, by a fault of its
/// own or by fault-around of a neighbour's.
fn zero_fill(env: &mut Env, before: ClientStats) -> Option<Region> {
    let r = Region::map(&mut env.vm, &MmapRequest::anon(FRESH * PAGE_SIZE, Prot::RW));
    let Ok(r) = r else {
        env.check("mmap", false, format_args!("{r:?}"));
        return None;
    };
    for p in 0..FRESH {
        r.write(p, 0, p + 1);
    }
    let after = stats(env);
    let bytes = after.mapped_bytes.saturating_sub(before.mapped_bytes);
    let entries = after.map_entries.saturating_sub(before.map_entries);
    let resident = after.resident_pages.saturating_sub(before.resident_pages);
    let faults = after.faults.saturating_sub(before.faults);
    env.check(
        "mapping-counts-follow-a-new-region",
        after.client != 0
            && bytes == FRESH * PAGE_SIZE
            && entries == 1
            && resident >= FRESH / 2
            && faults >= 1,
        format_args!(
            "new region of {FRESH} pages touched: client {:#x}, mapped_bytes +{bytes:#x},              map_entries +{entries}, resident_pages +{resident} (at least {}), faults +{faults}",
            after.client,
            FRESH / 2
        ),
    );
    let zero = after.flt_zero.saturating_sub(before.flt_zero);
    let prefault = after.flt_prefault.saturating_sub(before.flt_prefault);
    env.check(
        "flt-zero-counts-zero-fill-faults",
        zero >= 1 && zero + prefault >= FRESH,
        format_args!(
            "touching {FRESH} fresh pages: flt_zero +{zero}, flt_prefault +{prefault} \
             (together at least {FRESH})"
        ),
    );
    env.check(
        "flt-prefault-counts-fault-around-pages",
        prefault >= 1,
        format_args!("touching {FRESH} fresh pages: flt_prefault +{prefault}"),
    );
    Some(r)
}

/// `wired_pages` is exactly the pages locked.
fn wired(env: &mut Env, r: &Region) {
    let before = stats(env).wired_pages;
    let locked = env.vm.mlock(r.base(), LOCKED * PAGE_SIZE);
    let during = stats(env).wired_pages;
    let unlocked = env.vm.munlock(r.base(), LOCKED * PAGE_SIZE);
    let after = stats(env).wired_pages;
    env.check(
        "wired-pages-equal-locked-pages",
        locked.is_ok() && unlocked.is_ok() && (before, during, after) == (0, LOCKED, 0),
        format_args!(
            "mlock {locked:?}, munlock {unlocked:?}; wired_pages before, locked, after = \
             ({before}, {during}, {after}), expected (0, {LOCKED}, 0)"
        ),
    );
}

/// `handles` is exactly the handles open.
fn handles(env: &mut Env) {
    let mut seen = [0u64; 5];
    seen[0] = stats(env).handles;
    let a = env.vm.shm_create(SHM_NAME, 4 * PAGE_SIZE, Prot::RW);
    seen[1] = stats(env).handles;
    let b = env.vm.shm_open(SHM_NAME, Prot::RW);
    seen[2] = stats(env).handles;
    let close_a = a.and_then(|h| env.vm.handle_close(h));
    seen[3] = stats(env).handles;
    let unlink = env.vm.shm_unlink(SHM_NAME);
    let close_b = b.and_then(|h| env.vm.handle_close(h));
    seen[4] = stats(env).handles;
    let ok = [close_a, unlink, close_b].iter().all(Result::is_ok);
    env.check(
        "handles-count-open-handles",
        ok && seen == [0, 1, 2, 1, 0],
        format_args!(
            "create, open, close, close: handles {seen:?}, expected [0, 1, 2, 1, 0] \
             (create {a:?}, open {b:?}, close {close_a:?}, unlink {unlink:?}, close {close_b:?})"
        ),
    );
}

/// A forked child reads the first `READ` pages of `r` (resident in this
/// parent's object) and writes the rest; it reports how its own
/// `flt_share` and `flt_cow` moved.
fn fork_faults(env: &mut Env, r: &Region) {
    let report = Region::map(&mut env.vm, &MmapRequest::anon_shared(PAGE_SIZE, Prot::RW));
    let report = match report {
        Ok(p) => p,
        Err(e) => {
            env.check("mmap-report-page", false, format_args!("{e:?}"));
            return;
        }
    };
    match env.vm.fork() {
        Ok(ForkReply::Child { .. }) => child(env, r, &report),
        Ok(ForkReply::Parent { child }) => {
            println!("{}: child {child:#x} reads and writes", env.name())
        }
        Err(e) => {
            env.check("fork", false, format_args!("{e:?}"));
            return;
        }
    }
    let done = report.wait_for(0, STATE, DONE, SPINS);
    // The child waits for this word before it exits.
    let living = stats(env).live_children;
    report.write(0, ACK, DONE);
    let gone = env.wait_children(SPINS);
    let after = stats(env).live_children;
    env.check(
        "live-children-counts-the-forked-child",
        living == 1 && gone && after == 0,
        format_args!("live_children {living} after fork, {after} after the child exited"),
    );
    let (share, cow) = (report.read(0, SHARE), report.read(0, COW));
    let state = report.read(0, STATE);
    env.check(
        "flt-share-counts-child-reads-of-parent-pages",
        done && gone && share >= 1,
        format_args!(
            "child reported {done} (state {state}), exited {gone}; reading {READ} pages \
             shared with its parent: flt_share +{share}"
        ),
    );
    let written = FRESH - READ;
    env.check(
        "flt-cow-counts-child-copies",
        done && cow >= written,
        format_args!("child wrote {written} shared pages: flt_cow +{cow}, at least {written}"),
    );
}

fn child(env: &mut Env, r: &Region, report: &Region) -> ! {
    let Ok(a) = env.vm.client_stats() else {
        report.write(0, STATE, NO_STATS);
        vm_client::exit(env, 1)
    };
    let mut sum = 0u64;
    for p in 0..READ {
        sum = sum.wrapping_add(r.read(p, 0));
    }
    let b = env.vm.client_stats();
    for p in READ..FRESH {
        r.write(p, 0, sum);
    }
    let c = env.vm.client_stats();
    let (Ok(b), Ok(c)) = (b, c) else {
        report.write(0, STATE, NO_STATS);
        vm_client::exit(env, 1)
    };
    report.write(0, SHARE, b.flt_share.saturating_sub(a.flt_share));
    report.write(0, COW, c.flt_cow.saturating_sub(b.flt_cow));
    report.write(0, STATE, DONE);
    report.wait_for(0, ACK, DONE, SPINS);
    vm_client::exit(env, 0)
}

/// Writes 1.5 pools and reads them back: the first part comes from swap.
fn pageins(env: &mut Env) {
    let pool = env.vm.stats().map_or(0, |s| s.npages);
    let pages = pool * 3 / 2;
    let r = Region::map(&mut env.vm, &MmapRequest::anon(pages * PAGE_SIZE, Prot::RW));
    let r = match r {
        Ok(r) if pool > 0 => r,
        other => {
            env.check(
                "mmap-1.5-pools",
                false,
                format_args!("pool {pool}: {other:?}"),
            );
            return;
        }
    };
    for p in 0..pages {
        r.write(p, 0, !p);
    }
    let before = stats(env).pageins;
    let bad = (0..pages).find(|&p| r.read(p, 0) != !p);
    let read = stats(env).pageins.saturating_sub(before);
    let unmapped = r.unmap(&mut env.vm);
    env.check(
        "pageins-count-reads-from-swap",
        bad.is_none() && unmapped.is_ok() && read >= MIN_PAGEINS,
        format_args!(
            "reading back {pages} pages (pool {pool}): pageins +{read}, at least {MIN_PAGEINS}; \
             first wrong page {bad:?}; munmap {unmapped:?}"
        ),
    );
}
