//! System test: a bystander whose checked memory must stay intact while the hostile clients attack the VM server beside it.
//!
//! Writes an 8 MiB region with a known pattern and forks once. The child
//! checks it inherited every page, rewrites its first eighth with a
//! pattern of its own (copy-on-write), and from then on both verify
//! their view over and over, each seeing its own writes and the original
//! everywhere else, while the hostile clients hit their quotas and the
//! swap filler makes everyone page. The parent goes on until it and its
//! child are the only address spaces left (everyone else has ended),
//! then stops the child, collects its verdict and verifies once more
//! after the child exited.
#![no_std]
#![no_main]

use vm_client::region::PAGE_WORDS;
use vm_client::vm_api::{ForkReply, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

const PAGES: u64 = (8 << 20) / PAGE_SIZE;
/// Pages the child rewrites.
const CHILD_PAGES: u64 = PAGES / 8;
/// Verification rounds at most while waiting for the others to end (a
/// backstop only: the boot's timeout comes first).
const MAX_ROUNDS: u64 = 1_000_000;
/// Yields between two rounds, so the bystander does not crowd the others.
const PAUSE: u64 = 32;
/// Yields to wait for the child at most.
const SPINS: u64 = 4_000_000;

/// Words of the shared page.
const STOP: u64 = 0;
const VERDICT: u64 = 1;
const CHILD_ROUNDS: u64 = 2;
/// `VERDICT`: still running, intact, something wrong.
const PENDING: u64 = 0;
const OK: u64 = 1;
const BAD: u64 = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Writer {
    Original = 0x0b1,
    Child = 0xc41,
}

fn value(page: u64, w: Writer) -> u64 {
    page.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((w as u64) << 52)
}

fn write(r: &Region, page: u64, w: Writer) {
    r.write(page, 0, value(page, w));
    r.write(page, PAGE_WORDS - 1, !value(page, w));
}

/// First page of `r` that does not hold `expect(page)`'s value.
fn verify(r: &Region, expect: impl Fn(u64) -> Writer) -> Option<u64> {
    (0..PAGES).find(|&p| {
        let v = value(p, expect(p));
        r.read(p, 0) != v || r.read(p, PAGE_WORDS - 1) != !v
    })
}

fn child_view(p: u64) -> Writer {
    if p < CHILD_PAGES {
        Writer::Child
    } else {
        Writer::Original
    }
}

fn main(env: &mut Env) -> u64 {
    env.plan(4);
    let shared = Region::map(&mut env.vm, &MmapRequest::anon_shared(PAGE_SIZE, Prot::RW));
    let region = Region::map(&mut env.vm, &MmapRequest::anon(PAGES * PAGE_SIZE, Prot::RW));
    let (Ok(shared), Ok(region)) = (shared, region) else {
        env.check(
            "intact-beside-the-hostile-clients",
            false,
            format_args!("mmap: shared page {shared:?}, region {region:?}"),
        );
        return env.failures();
    };
    for p in 0..PAGES {
        write(&region, p, Writer::Original);
    }
    match env.vm.fork() {
        Ok(ForkReply::Child { .. }) => child(env, &shared, &region),
        Ok(ForkReply::Parent { .. }) => {}
        Err(e) => {
            env.check(
                "intact-beside-the-hostile-clients",
                false,
                format_args!("fork {e:?}"),
            );
            return env.failures();
        }
    }
    // Verify until this family is all that is left (2 spaces), noting how
    // many spaces there were beside it.
    let (mut rounds, mut bad, mut alone, mut most) = (0, None, false, 0);
    while rounds < MAX_ROUNDS && bad.is_none() {
        rounds += 1;
        bad = verify(&region, |_| Writer::Original);
        if let Ok(s) = env.vm.stats() {
            most = most.max(s.spaces);
            if s.spaces <= 2 {
                alone = true;
                break;
            }
        }
        (0..PAUSE).for_each(|_| sel4::yield_now());
    }
    env.check(
        "intact-beside-the-hostile-clients",
        bad.is_none(),
        format_args!("page {bad:?} wrong in round {rounds}"),
    );
    env.check(
        "verified-until-the-others-ended",
        most > 2 && alone,
        format_args!(
            "at most {most} address spaces seen (more than this family's 2 expected), \
             alone at the end {alone}, after {rounds} rounds"
        ),
    );
    shared.write(0, STOP, 1);
    let mut spins = 0;
    while shared.read(0, VERDICT) == PENDING && spins < SPINS {
        sel4::yield_now();
        spins += 1;
    }
    let gone = env.wait_children(SPINS);
    let (verdict, child_rounds) = (shared.read(0, VERDICT), shared.read(0, CHILD_ROUNDS));
    println!(
        "{}: {rounds} rounds beside up to {most} address spaces, the child {child_rounds}",
        env.name()
    );
    env.check(
        "child-sees-own-writes-and-original",
        verdict == OK && gone,
        format_args!(
            "child verdict {verdict} (0 = none, 2 = wrong contents) after {child_rounds} \
             rounds; exited {gone}"
        ),
    );
    let after = verify(&region, |_| Writer::Original);
    let unmapped = region.unmap(&mut env.vm);
    env.check(
        "intact-after-child-exit",
        after.is_none() && unmapped.is_ok(),
        format_args!("page {after:?} wrong; munmap {unmapped:?}"),
    );
    env.failures()
}

/// The child: its own writes on its first eighth, the original elsewhere,
/// verified until the parent says stop.
fn child(env: &mut Env, shared: &Region, region: &Region) -> ! {
    let mut bad = verify(region, |_| Writer::Original);
    for p in 0..CHILD_PAGES {
        write(region, p, Writer::Child);
    }
    let mut rounds = 0;
    while bad.is_none() && shared.read(0, STOP) == 0 && rounds < MAX_ROUNDS {
        rounds += 1;
        bad = verify(region, child_view);
        (0..PAUSE).for_each(|_| sel4::yield_now());
    }
    shared.write(0, CHILD_ROUNDS, rounds);
    shared.write(0, VERDICT, if bad.is_none() { OK } else { BAD });
    vm_client::exit(env, 0)
}
