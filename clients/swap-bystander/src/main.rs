//! System test: a bystander of swap exhaustion. Keeps an 8 MiB
//! checksummed working set and verifies it over and over while
//! `client-swap-hog` fills memory and swap, until the hog is gone. The VM
//! server's OOM killer must stop the hog, not this client, and nothing of
//! this client's memory may be lost or corrupted on the way; once the hog
//! is gone its swap slots must be free again.
#![no_std]
#![no_main]

use vm_client::vm_api::{MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;
const SIZE: u64 = 8 * MIB;
/// Verification rounds at most while waiting for the hog to go.
const MAX_ROUNDS: u32 = 100_000;

fn pattern(offset: u64) -> u64 {
    offset.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0xb157
}

fn main(env: &mut Env) -> u64 {
    env.plan(4);
    let Ok(base) = env.vm.mmap(&MmapRequest::anon(SIZE, Prot::RW)) else {
        env.check("mmap-8m", false, format_args!("mmap failed"));
        return env.failures();
    };
    for off in (0..SIZE).step_by(PAGE as usize) {
        // SAFETY: inside the mapping just made.
        unsafe { ((base + off) as *mut u64).write_volatile(pattern(off)) };
    }
    // Until the hog is gone (one space left: this one), verify and watch swap.
    let (mut rounds, mut fullest, mut bad, mut alone) = (0, 0, None, false);
    let mut swap_total = 0;
    while rounds < MAX_ROUNDS && bad.is_none() {
        rounds += 1;
        bad = verify(base);
        match env.vm.stats() {
            Ok(s) => {
                fullest = fullest.max(s.swpginuse);
                swap_total = s.swpages;
                if s.spaces == 1 {
                    alone = true;
                    break;
                }
            }
            Err(e) => println!("client-swap-bystander: stats {e:?}"),
        }
        sel4::yield_now();
    }
    env.check(
        "intact-while-swap-filled",
        bad.is_none(),
        format_args!(
            "mismatch at offset {:#x} in round {rounds}",
            bad.unwrap_or(0)
        ),
    );
    env.check(
        "outlived-the-hog",
        alone,
        format_args!("the hog still ran after {rounds} rounds"),
    );
    println!(
        "client-swap-bystander: {rounds} rounds, at most {fullest} of {swap_total} swap slots seen in use"
    );
    // Every slot still in use must hold a page of this client, the only
    // one left; the hog went by the OOM killer, once.
    let (after, kills) = env
        .vm
        .stats()
        .map(|s| (s.swpginuse, s.oom_kills))
        .unwrap_or((u64::MAX, 0));
    env.check(
        "one-oom-kill",
        kills == 1,
        format_args!("the OOM killer stopped {kills} clients"),
    );
    let mine = env
        .vm
        .client_stats()
        .map(|c| c.mapped_bytes / PAGE)
        .unwrap_or(0);
    let bad = verify(base);
    env.check(
        "slots-back-and-intact-after",
        after <= mine && bad.is_none(),
        format_args!("{after} slots in use, this client maps {mine} pages; mismatch {bad:?}"),
    );
    env.failures()
}

/// First offset whose pattern word is wrong.
fn verify(base: u64) -> Option<u64> {
    (0..SIZE)
        .step_by(PAGE as usize)
        // SAFETY: inside the mapping.
        .find(|&off| unsafe { ((base + off) as *const u64).read_volatile() } != pattern(off))
}
