//! System test: swapoff and swapon under load, nothing lost.
//!
//! Checks docs/semantics.md (semantics: swapctl-info, swapctl-off-nomem,
//! swapctl-off, swapctl-state, swapctl-on). The spec grants this client
//! `privileges { swapctl }`. It needs a quiet system (nothing else
//! paging), so it runs below the first clients' priority and waits until
//! only it and the two quiet tests below its priority are left; then it
//! forks a child that keeps rewriting and checking its own memory, one
//! generation after another, for the whole test (the load), and:
//!
//! 1. writes a checked pattern into every word of 1.5 times the VM
//!    server's pool, so about half a pool of it is on swap;
//! 2. asks for swapoff: refused with `OutOfMemory` (the pages on swap
//!    cannot fit in memory), the device still attached with slots in
//!    use, every word intact;
//! 3. unmaps all but a quarter of a pool's worth, asks again: swapoff
//!    succeeds; the device reports itself detached with no slot in use,
//!    every word is intact and resident, a second swapoff gets
//!    `AlreadyOff`;
//! 4. swapon succeeds (a second one gets `AlreadyOn`); it writes a pool's
//!    worth more and rewrites the kept part, until the device has slots
//!    in use again, and checks every word;
//! 5. waits until the child has finished two more generations after the
//!    swapoff, stops it, and checks its verdict.
#![no_std]
#![no_main]

use vm_client::region::PAGE_WORDS;
use vm_client::vm_api::{
    ApiError, ForkReply, Mincore, MmapRequest, Prot, SwapDeviceInfo, PAGE_SIZE,
};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

/// Live spaces when only this test and the two quiet tests below its
/// priority (`client-mlock-pressure`, `client-munmap-slots`, which wait
/// for it) are left.
const QUIET_SPACES: u64 = 3;
/// The child's own memory, rewritten and checked each generation.
const CHILD_PAGES: u64 = 256;
/// Bound on the yields of a wait for the child (a hang guard, not a
/// deadline: the waits end as soon as the child gets there).
const SPINS: u64 = 50_000_000;

/// Words of the handshake page shared with the child.
const STOP: u64 = 0;
const GENERATIONS: u64 = 1;
const VERDICT: u64 = 2;
const BAD_PAGE: u64 = 3;
/// Verdicts.
const PENDING: u64 = 0;
const OK: u64 = 1;
const BAD: u64 = 2;

/// The value of word `word` of page `page` in generation `gen` (below
/// 2^20): distinct for every page, word and generation (an odd multiplier
/// is a bijection), so a stale or misplaced word never passes.
fn value(page: u64, word: u64, gen: u64) -> u64 {
    (page << 32 | word << 20 | gen).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5a5a
}

/// Writes generation `gen` into every word of `r`.
fn fill(r: &Region, gen: u64) {
    for p in 0..r.pages() {
        for w in 0..PAGE_WORDS {
            r.write(p, w, value(p, w, gen));
        }
    }
}

/// The first page of `r` with a word that is not generation `gen`'s.
fn first_bad(r: &Region, gen: u64) -> Option<u64> {
    (0..r.pages()).find(|&p| (0..PAGE_WORDS).any(|w| r.read(p, w) != value(p, w, gen)))
}

fn main(env: &mut Env) -> u64 {
    env.plan(14);
    let alone = env.wait_spaces(QUIET_SPACES);
    let pool = env.vm.stats().map(|s| s.npages).unwrap_or(0);
    let info = env.vm.swap_info(0);
    env.check(
        "info-device-0-attached",
        alone && pool > 0 && info.is_ok_and(|i| i.attached && i.slots > 0),
        format_args!("quiet system {alone}; pool {pool}; device 0: {info:?}"),
    );
    let none = env.vm.swap_info(1);
    env.check_err("info-no-such-device", none, ApiError::NoSuchDevice);
    let shared = Region::map(&mut env.vm, &MmapRequest::anon_shared(PAGE_SIZE, Prot::RW));
    let Ok(shared) = shared else {
        env.check("mmap", false, format_args!("{shared:?}"));
        return env.failures();
    };
    match env.vm.fork() {
        Ok(ForkReply::Child { .. }) => {
            child(env, &shared);
            let _ = env.vm.exit(0);
            return 1;
        }
        Ok(ForkReply::Parent { child }) => println!("{}: forked child {child:#x}", env.name()),
        Err(e) => {
            env.check("fork", false, format_args!("{e:?}"));
            return env.failures();
        }
    }
    // The child is at work before the swap changes start.
    let started = wait_generations(&shared, 1);
    let through = parent(env, pool, &shared) && started;
    shared.write(0, STOP, 1);
    let gone = env.wait_children(SPINS);
    let verdict = shared.read(0, VERDICT);
    env.check(
        "child-memory-intact-under-load",
        through && gone && verdict == OK,
        format_args!(
            "child started {started}, went through the swap changes {through}, exited {gone}; \
             verdict {verdict} (0 none, 2 bad: page {}); {} generations",
            shared.read(0, BAD_PAGE),
            shared.read(0, GENERATIONS)
        ),
    );
    env.failures()
}

/// The swap changes, under the child's load; returns whether the child
/// finished two generations after the swapoff (false if the test could
/// not run).
fn parent(env: &mut Env, pool: u64, shared: &Region) -> bool {
    // 1. More than memory holds, a quarter pool of it kept for later.
    let keep = pool / 4;
    let kept = Region::map(&mut env.vm, &MmapRequest::anon(keep * PAGE_SIZE, Prot::RW));
    let rest = pool * 3 / 2 - keep;
    let extra = Region::map(&mut env.vm, &MmapRequest::anon(rest * PAGE_SIZE, Prot::RW));
    let (Ok(kept), Ok(extra)) = (kept, extra) else {
        env.check("mmap", false, format_args!("{kept:?} {extra:?}"));
        return false;
    };
    fill(&kept, 1);
    fill(&extra, 1);
    // 2. Refused: memory cannot hold what is on swap (semantics:
    // swapctl-off-nomem).
    let r = env.vm.swap_off(0);
    env.check_err("swapoff-refused-out-of-memory", r, ApiError::OutOfMemory);
    let info = env.vm.swap_info(0);
    env.check(
        "refused-swapoff-changed-nothing",
        info.is_ok_and(|i| i.attached && i.in_use > 0),
        format_args!("device 0 after the refusal: {info:?}"),
    );
    let bad = first_bad(&kept, 1).or(first_bad(&extra, 1).map(|p| keep + p));
    env.check(
        "every-word-intact-after-refused-swapoff",
        bad.is_none(),
        format_args!("page {bad:?} of {} is wrong", keep + rest),
    );
    // 3. The rest fits: swapoff brings every page in (semantics:
    // swapctl-off).
    let unmapped = extra.unmap(&mut env.vm);
    let before = env.vm.swap_info(0).ok();
    let gen_at_off = shared.read(0, GENERATIONS);
    let r = env.vm.swap_off(0);
    env.check(
        "swapoff-succeeds-when-the-rest-fits",
        unmapped.is_ok() && r.is_ok(),
        format_args!("munmap {unmapped:?}; swapoff {r:?} (device before: {before:?})"),
    );
    let off = env.vm.swap_info(0);
    env.check(
        "info-after-swapoff-detached-and-empty",
        off.is_ok_and(|i| !i.attached && i.in_use == 0 && Some(i.slots) == before.map(|b| b.slots)),
        format_args!("device 0 after swapoff: {off:?}"),
    );
    let again = env.vm.swap_off(0);
    env.check_err("swapoff-twice-already-off", again, ApiError::AlreadyOff);
    let bad = first_bad(&kept, 1);
    let out = not_resident(env, &kept);
    env.check(
        "every-word-intact-and-resident-after-swapoff",
        bad.is_none() && out.is_none(),
        format_args!("first wrong page {bad:?}, first page not resident {out:?}"),
    );
    // 4. Swapon, and memory goes to swap again (semantics: swapctl-on).
    let r = env.vm.swap_on(0);
    env.check("swapon-attaches-again", r.is_ok(), format_args!("{r:?}"));
    let again = env.vm.swap_on(0);
    env.check_err("swapon-twice-already-on", again, ApiError::AlreadyOn);
    let more = Region::map(&mut env.vm, &MmapRequest::anon(pool * PAGE_SIZE, Prot::RW));
    let Ok(more) = more else {
        env.check("mmap", false, format_args!("{more:?}"));
        return false;
    };
    let mut rounds = 0;
    let mut on = env.vm.swap_info(0);
    while rounds < 4 && !on.is_ok_and(|i| on_swap_again(&i, &off)) {
        fill(&more, 2 + rounds);
        fill(&kept, 2 + rounds);
        rounds += 1;
        on = env.vm.swap_info(0);
    }
    env.check(
        "pages-on-swap-again-after-swapon",
        on.is_ok_and(|i| on_swap_again(&i, &off)),
        format_args!("after {rounds} passes over {} pages: {on:?}", keep + pool),
    );
    let gen = 1 + rounds;
    let bad = first_bad(&kept, gen).or(first_bad(&more, gen).map(|p| keep + p));
    env.check(
        "every-word-intact-after-swapon",
        rounds > 0 && bad.is_none(),
        format_args!("page {bad:?} is wrong (generation {gen})"),
    );
    // 5. The child went through it all: two more generations after the
    // swapoff, each reading and rewriting all its memory.
    let through = wait_generations(shared, gen_at_off + 2);
    println!(
        "{}: child at generation {} ({gen_at_off} at swapoff)",
        env.name(),
        shared.read(0, GENERATIONS)
    );
    let _ = kept.unmap(&mut env.vm);
    let _ = more.unmap(&mut env.vm);
    through
}

/// Whether the device is attached with slots in use and wrote pages since
/// the swapoff.
fn on_swap_again(i: &SwapDeviceInfo, off: &Result<SwapDeviceInfo, ApiError>) -> bool {
    let written = off.as_ref().map_or(0, |o| o.pgswapout);
    i.attached && i.in_use > 0 && i.pgswapout > written
}

/// Waits (yielding) until the child has finished `n` generations, at
/// most [`SPINS`] yields; whether it did.
fn wait_generations(shared: &Region, n: u64) -> bool {
    for _ in 0..SPINS {
        if shared.read(0, GENERATIONS) >= n || shared.read(0, VERDICT) != PENDING {
            break;
        }
        sel4::yield_now();
    }
    shared.read(0, GENERATIONS) >= n
}

/// The child: its own memory, checked and rewritten generation after
/// generation until the parent says stop; the verdict goes to `shared`.
fn child(env: &mut Env, shared: &Region) {
    let mine = Region::map(
        &mut env.vm,
        &MmapRequest::anon(CHILD_PAGES * PAGE_SIZE, Prot::RW),
    );
    let Ok(mine) = mine else {
        shared.write(0, VERDICT, BAD);
        shared.write(0, BAD_PAGE, u64::MAX);
        return;
    };
    let mut gen = 1;
    fill(&mine, gen);
    loop {
        if let Some(p) = first_bad(&mine, gen) {
            shared.write(0, BAD_PAGE, p);
            shared.write(0, VERDICT, BAD);
            println!(
                "{}: child: page {p} is wrong in generation {gen}",
                env.name()
            );
            return;
        }
        shared.write(0, GENERATIONS, gen);
        if shared.read(0, STOP) == 1 {
            break;
        }
        gen += 1;
        fill(&mine, gen);
    }
    shared.write(0, VERDICT, OK);
}

/// The first page of `r` that `mincore` does not report resident
/// (`Some(u64::MAX)` if mincore failed).
fn not_resident(env: &mut Env, r: &Region) -> Option<u64> {
    let mut incore = [Mincore::empty(); 512];
    for chunk in (0..r.pages()).step_by(incore.len()) {
        let n = (r.pages() - chunk).min(incore.len() as u64);
        let Ok(got) = env
            .vm
            .mincore(r.page_addr(chunk), n * PAGE_SIZE, &mut incore)
        else {
            return Some(u64::MAX);
        };
        if let Some(i) = incore[..got]
            .iter()
            .position(|m| !m.contains(Mincore::INCORE))
        {
            return Some(chunk + i as u64);
        }
    }
    None
}
