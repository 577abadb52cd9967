//! System test, hostile: a client that makes map entries until its quota stops it.
//!
//! Maps single anonymous pages with alternating rights (so no two
//! neighbours can merge into one entry) until the VM server refuses with
//! `QuotaMapEntries`, and checks (semantics: quota-map-entries): the
//! refusal comes exactly at the spec's limit as `ClientStats` reports
//! it; a FIXED mapping that replaces exactly one entry still works at
//! the limit; a split (munmap or mprotect of the middle page of a 3-page
//! mapping) is refused at the limit and changes nothing; unmapping whole
//! entries always works and makes room again.
#![no_std]
#![no_main]

use vm_client::vm_api::{ApiError, ClientStats, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

/// Mappings it tries at most: far above the spec's limit (256), so a
/// quota that is not enforced fails the test instead of looping on.
const MAX_MAPS: usize = 1024;
/// A value per page of the 3-page mapping, to see that refusals change nothing.
const MARK: u64 = 0x3a9e_5000;

fn stats(env: &mut Env) -> ClientStats {
    env.vm.client_stats().unwrap_or_default()
}

/// Rights of single mapping `i`: alternating, so neighbours differ.
fn prot_of(i: usize) -> Prot {
    if i.is_multiple_of(2) {
        Prot::READ
    } else {
        Prot::RW
    }
}

fn main(env: &mut Env) -> u64 {
    env.plan(5);
    let start = stats(env);
    let limit = start.map_entries_limit;
    let fits = limit > start.group_map_entries && limit < (MAX_MAPS as u64);
    if !fits {
        env.check(
            "mmap-refused-with-quota-map-entries",
            false,
            format_args!(
                "map_entries_limit {limit} (using {}): expected a small limit from the spec",
                start.group_map_entries
            ),
        );
        return env.failures();
    }
    // Map single pages until the quota refuses one.
    let mut singles = [0u64; MAX_MAPS];
    let mut n = 0;
    let refused = loop {
        if n == MAX_MAPS {
            break None;
        }
        match env.vm.mmap(&MmapRequest::anon(PAGE_SIZE, prot_of(n))) {
            Ok(addr) => {
                singles[n] = addr;
                n += 1;
            }
            Err(e) => break Some(e),
        }
    };
    let full = stats(env);
    println!(
        "{}: {n} single-page mappings, then {refused:?}; {} of {limit} entries in use",
        env.name(),
        full.group_map_entries
    );
    // semantics: quota-map-entries
    env.check(
        "mmap-refused-with-quota-map-entries",
        refused == Some(ApiError::QuotaMapEntries),
        format_args!("after {n} mappings: {refused:?}, expected QuotaMapEntries"),
    );
    let reached = start.group_map_entries + n as u64;
    env.check(
        "count-matches-client-stats",
        full.group_map_entries == limit
            && reached == limit
            && full.map_entries == full.group_map_entries,
        format_args!(
            "{} entries at start + {n} mapped = {reached}; ClientStats: group_map_entries {}, \
             map_entries {}, map_entries_limit {limit}",
            start.group_map_entries, full.group_map_entries, full.map_entries
        ),
    );
    if refused != Some(ApiError::QuotaMapEntries) || n < 2 {
        return env.failures();
    }

    // A FIXED mapping over exactly one entry adds none: allowed at the limit.
    let last = n - 1;
    let fixed = env
        .vm
        .mmap(&MmapRequest::anon(PAGE_SIZE, prot_of(last)).fixed(singles[last]));
    let after_fixed = stats(env).group_map_entries;
    env.check(
        "fixed-replace-at-limit-allowed",
        fixed == Ok(singles[last]) && after_fixed == limit,
        format_args!("FIXED over one entry: {fixed:?}, entries {after_fixed} of {limit}"),
    );

    // Room for one more: a 3-page mapping (its maximum protection differs
    // from the singles', so it cannot merge with one), at the limit again.
    let freed = env.vm.munmap(singles[last], PAGE_SIZE);
    n -= 1;
    let mut req = MmapRequest::anon(3 * PAGE_SIZE, Prot::RW);
    req.max_prot = Prot::RW;
    let three = freed.and_then(|()| Region::map(&mut env.vm, &req));
    let at_limit = stats(env).group_map_entries;
    let Ok(three) = three else {
        env.check(
            "split-refused-at-limit",
            false,
            format_args!("munmap {freed:?}, then mmap of 3 pages: {three:?}"),
        );
        return env.failures();
    };
    for p in 0..3 {
        three.write(p, 0, MARK + p);
    }
    // semantics: quota-map-entries (a split adds an entry)
    let unmap_mid = env.vm.munmap(three.page_addr(1), PAGE_SIZE);
    let protect_mid = env.vm.mprotect(three.page_addr(1), PAGE_SIZE, Prot::READ);
    let still = stats(env).group_map_entries;
    let intact = (0..3).all(|p| three.read(p, 0) == MARK + p);
    // Still writable everywhere: the refused mprotect changed nothing.
    three.write(1, 1, MARK);
    env.check(
        "split-refused-at-limit",
        at_limit == limit
            && unmap_mid == Err(ApiError::QuotaMapEntries)
            && protect_mid == Err(ApiError::QuotaMapEntries)
            && still == limit
            && intact,
        format_args!(
            "entries {at_limit} of {limit}; munmap of the middle page {unmap_mid:?}, \
             mprotect of it {protect_mid:?} (expected QuotaMapEntries for both); \
             entries after {still}, contents intact {intact}"
        ),
    );

    // Unmapping whole entries always works, and gives the room back.
    let unmapped = (0..n)
        .map(|i| env.vm.munmap(singles[i], PAGE_SIZE))
        .filter(Result::is_ok)
        .count();
    let emptied = stats(env).group_map_entries;
    let split = env.vm.munmap(three.page_addr(1), PAGE_SIZE);
    let split_entries = stats(env).group_map_entries;
    let again = env.vm.mmap(&MmapRequest::anon(PAGE_SIZE, Prot::RW));
    let cleanup = again
        .and_then(|a| env.vm.munmap(a, PAGE_SIZE))
        .and_then(|()| three.unmap(&mut env.vm));
    let end = stats(env).group_map_entries;
    env.check(
        "unmap-whole-entries-frees-room",
        unmapped == n
            && emptied == start.group_map_entries + 1
            && split.is_ok()
            && split_entries == emptied + 1
            && cleanup.is_ok()
            && end == start.group_map_entries,
        format_args!(
            "unmapped {unmapped} of {n} singles: entries {emptied} (expected {}); \
             split now {split:?} ({split_entries} entries); mmap again {again:?}, \
             cleanup {cleanup:?}; entries at the end {end}, at start {}",
            start.group_map_entries + 1,
            start.group_map_entries
        ),
    );
    env.failures()
}
