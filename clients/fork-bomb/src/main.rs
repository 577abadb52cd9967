//! System test, hostile: a fork bomb, stopped by its family's children quota.
//!
//! Every process of the family forks in a loop (children fork too) until
//! the VM server refuses with `QuotaChildren`; the count is the whole
//! family's, grandchildren included (semantics: quota-children,
//! quota-fork). A parent lets each new child fork its fill before it
//! forks again, so the family grows as a chain of generations in which
//! no process alone comes near the limit. Each process records in a
//! shared page how many children it made, the most `group_children` it
//! saw and the error that stopped it, then waits for the signal to go.
//! The original parent checks that every process was stopped by the
//! quota, that the family holds exactly its limit of children and never
//! saw more, that grandchildren counted, then gives the signal and waits
//! until every child is gone (each waits for its own children first).
#![no_std]
#![no_main]

use vm_client::region::PAGE_WORDS;
use vm_client::vm_api::{ApiError, ForkReply, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

/// Forks one process tries at most: above the spec's limit (3), so a
/// quota that is not enforced fails the test instead of blowing up.
const MAX_FORKS: u64 = 4;
/// Generations that may fork (a fourth is made only past the limit).
const MAX_DEPTH: u64 = 3;
/// Children the whole family makes at most (counted without atomics,
/// so roughly): the same safety net.
const MAX_TOTAL: u64 = 8;
/// Yields to wait for the family at most.
const SPINS: u64 = 4_000_000;

/// The shared page: word `GO` is the signal, word `TOTAL` the children
/// made so far (a safety net, not a test); process slot `s` (the
/// original is 0; the `k`-th child of slot `s` is `s * MAX_FORKS + k + 1`)
/// is the four words from `SLOTS + s * 4`.
const GO: u64 = 0;
const TOTAL: u64 = 1;
const SLOTS: u64 = 8;
const STATE: u64 = 0;
const FORKS: u64 = 1;
const MAX_SEEN: u64 = 2;
const ERROR: u64 = 3;
const MAX_SLOTS: u64 = (PAGE_WORDS - SLOTS) / 4;
/// `STATE` once the slot's record is written.
const DONE: u64 = 1;
/// `ERROR` of a process that stopped at a safety net.
const NO_ERROR: u64 = 0;

/// Where one process of the family records itself.
#[derive(Clone, Copy)]
struct Proc {
    slot: u64,
    depth: u64,
}

fn word(slot: u64, field: u64) -> u64 {
    SLOTS + slot * 4 + field
}

fn group_children(env: &mut Env) -> u64 {
    env.vm.client_stats().map_or(0, |s| s.group_children)
}

fn main(env: &mut Env) -> u64 {
    env.plan(4);
    let start = env.vm.client_stats().unwrap_or_default();
    let limit = start.children_limit;
    let page = Region::map(&mut env.vm, &MmapRequest::anon_shared(PAGE_SIZE, Prot::RW));
    let page = match page {
        Ok(p) if limit < MAX_FORKS && start.group_children == 0 => p,
        other => {
            env.check(
                "fork-refused-with-quota-children",
                false,
                format_args!(
                    "children_limit {limit} (expected a small limit from the spec), {} \
                     children at start; shared page {other:?}",
                    start.group_children
                ),
            );
            return env.failures();
        }
    };

    // Every process of the family runs this loop.
    let mut me = Proc { slot: 0, depth: 0 };
    let (mut forks, mut max_seen) = (0, 0);
    let error = loop {
        if forks >= MAX_FORKS || me.depth > MAX_DEPTH || page.read(0, TOTAL) >= MAX_TOTAL {
            break NO_ERROR;
        }
        match env.vm.fork() {
            Ok(ForkReply::Parent { .. }) => {
                let child = me.slot * MAX_FORKS + forks + 1;
                forks += 1;
                page.write(0, TOTAL, page.read(0, TOTAL) + 1);
                max_seen = max_seen.max(group_children(env));
                // Let the child fork first: the family grows as a chain of
                // generations, each process with fewer children than the
                // limit, so only the family's count can stop them.
                if child < MAX_SLOTS {
                    page.wait_for(0, word(child, STATE), DONE, SPINS);
                }
            }
            Ok(ForkReply::Child { .. }) => {
                // `forks` is still the parent's count before this fork.
                me = Proc {
                    slot: me.slot * MAX_FORKS + forks + 1,
                    depth: me.depth + 1,
                };
                forks = 0;
                max_seen = group_children(env);
            }
            Err(e) => break e.code(),
        }
    };
    if me.slot < MAX_SLOTS {
        page.write(0, word(me.slot, FORKS), forks);
        page.write(0, word(me.slot, MAX_SEEN), max_seen);
        page.write(0, word(me.slot, ERROR), error);
        page.write(0, word(me.slot, STATE), DONE);
    }
    if me.depth > 0 {
        // A child: wait for the signal, then for its own children, then go.
        page.wait_for(0, GO, 1, SPINS);
        env.wait_children(SPINS);
        vm_client::exit(env, 0);
    }

    // The original parent: wait until every process of the family reported.
    let mut family = Family::default();
    for _ in 0..SPINS {
        family = Family::read(&page);
        if family.complete {
            break;
        }
        sel4::yield_now();
    }
    let now = group_children(env);
    println!(
        "{}: {} processes, {} children, {} of them made by children",
        env.name(),
        family.processes,
        family.children,
        family.by_children
    );
    // semantics: quota-children
    env.check(
        "fork-refused-with-quota-children",
        family.complete && family.stopped_by_quota == family.processes,
        format_args!(
            "{} processes reported (all: {}), {} stopped by QuotaChildren; the original's \
             error code {error}",
            family.processes, family.complete, family.stopped_by_quota
        ),
    );
    env.check(
        "family-never-exceeded-limit",
        family.children == limit && family.max_seen <= limit && now == limit,
        format_args!(
            "{} children made in the family, at most {} seen at once, {now} now; \
             children_limit {limit}",
            family.children, family.max_seen
        ),
    );
    // semantics: quota-children (grandchildren included)
    env.check(
        "grandchildren-count-against-the-family",
        family.complete && family.by_children >= 1 && family.most_by_one < limit,
        format_args!(
            "{} of {} children made by children; at most {} made by one process, each \
             refused below the limit {limit} by its own count",
            family.by_children, family.children, family.most_by_one
        ),
    );
    // Let them go; each waits for its own children, so the tree empties.
    page.write(0, GO, 1);
    let gone = env.wait_children(SPINS);
    let end = env.vm.client_stats().unwrap_or_default();
    env.check(
        "every-child-exits",
        gone && end.live_children == 0 && end.group_children == 0,
        format_args!(
            "waited {gone}: live_children {}, group_children {}",
            end.live_children, end.group_children
        ),
    );
    env.failures()
}

/// What the family's records in the shared page say.
#[derive(Default)]
struct Family {
    /// Every process that a reported process made has reported too.
    complete: bool,
    processes: u64,
    /// Children made, over the family.
    children: u64,
    /// Of them, made by children (grandchildren of the original).
    by_children: u64,
    /// The most children one process made.
    most_by_one: u64,
    /// The most `group_children` any process saw.
    max_seen: u64,
    stopped_by_quota: u64,
}

impl Family {
    fn read(page: &Region) -> Family {
        let mut f = Family::default();
        // Slots to visit: the original, then every child a visited slot made.
        let mut todo = [0u64; MAX_SLOTS as usize];
        let mut n = 1;
        while n > 0 {
            n -= 1;
            let s = todo[n];
            if s >= MAX_SLOTS || page.read(0, word(s, STATE)) != DONE {
                return f;
            }
            let forks = page.read(0, word(s, FORKS)).min(MAX_FORKS);
            f.processes += 1;
            f.children += forks;
            f.most_by_one = f.most_by_one.max(forks);
            if s != 0 {
                f.by_children += forks;
            }
            f.max_seen = f.max_seen.max(page.read(0, word(s, MAX_SEEN)));
            if page.read(0, word(s, ERROR)) == ApiError::QuotaChildren.code() {
                f.stopped_by_quota += 1;
            }
            for k in 0..forks {
                if n < todo.len() {
                    todo[n] = s * MAX_FORKS + k + 1;
                    n += 1;
                }
            }
        }
        f.complete = true;
        f
    }
}
