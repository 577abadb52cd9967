//! System test: `mlock` succeeds at once while the pool is full of dirty
//! pages and swap is nearly empty.
//!
//! Checks docs/semantics.md (semantics: mlock-pressure): mlock fails with
//! `OutOfMemory` only when memory and swap are both exhausted; short of
//! free pages it pages out (and waits for the writes) first. Once it is
//! the only client left paging (it runs below the other clients' priority
//! and waits for them), it writes a region of 1.5 times the VM server's
//! pool, so the pool is full of dirty pages and the rest is on swap, then
//! locks the first half pool's worth of it (mostly on swap by then): the
//! first call must succeed, the locked pages be resident with their
//! contents, and munlock and munmap work.
#![no_std]
#![no_main]

use vm_client::vm_api::{Mincore, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

/// Live spaces when only this test and `client-munmap-slots` (which
/// waits for this one, below its priority) are left.
const QUIET_SPACES: u64 = 2;

fn pattern(page: u64) -> u64 {
    page.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x3107
}

fn main(env: &mut Env) -> u64 {
    env.plan(3);
    let alone = env.wait_spaces(QUIET_SPACES);
    let pool = env.vm.stats().map(|s| s.npages).unwrap_or(0);
    let (pages, lock) = (pool * 3 / 2, pool / 2);
    let region = Region::map(&mut env.vm, &MmapRequest::anon(pages * PAGE_SIZE, Prot::RW));
    let region = match region {
        Ok(r) if pool > 0 => r,
        other => {
            env.check("mmap", false, format_args!("pool {pool}, {other:?}"));
            return env.failures();
        }
    };
    for p in 0..pages {
        region.write(p, 0, pattern(p));
    }
    let before = env.vm.stats();
    let r = env.vm.mlock(region.base(), lock * PAGE_SIZE);
    env.check(
        "mlock-half-pool-at-once-with-pool-full-of-dirty-pages",
        alone && r.is_ok(),
        format_args!(
            "quiet system {alone}; mlock of {lock} pages (pool {pool}, {pages} written): {r:?}; \
             before it: {:?} free, {:?} swap slots in use",
            before.map(|s| s.free),
            before.map(|s| s.swpginuse)
        ),
    );
    if r.is_ok() {
        let wired = env.vm.stats().map(|s| s.wired).unwrap_or(0);
        let out = not_resident(env, &region, lock);
        let bad = (0..lock).find(|&p| region.read(p, 0) != pattern(p));
        env.check(
            "locked-pages-resident-and-intact",
            wired >= lock && out.is_none() && bad.is_none(),
            format_args!(
                "{wired} pages wired (locked {lock}); first page not resident {out:?}; \
                 first page with wrong contents {bad:?}"
            ),
        );
    } else {
        env.check(
            "locked-pages-resident-and-intact",
            false,
            format_args!("nothing locked"),
        );
    }
    let unlocked = if r.is_ok() {
        env.vm.munlock(region.base(), lock * PAGE_SIZE)
    } else {
        Ok(())
    };
    let unmapped = region.unmap(&mut env.vm);
    env.check(
        "munlock-and-munmap-after-lock",
        unlocked.is_ok() && unmapped.is_ok(),
        format_args!("munlock {unlocked:?}, munmap {unmapped:?}"),
    );
    println!("{}: locked {lock} of {pages} pages", env.name());
    env.failures()
}

/// The first of the first `pages` pages of `r` that `mincore` does not
/// report resident (`Some(u64::MAX)` if mincore failed).
fn not_resident(env: &mut Env, r: &Region, pages: u64) -> Option<u64> {
    let mut incore = [Mincore::empty(); 512];
    for chunk in (0..pages).step_by(incore.len()) {
        let n = (pages - chunk).min(incore.len() as u64);
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
