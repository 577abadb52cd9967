//! System test, stressor: dirties one and a half pools of anonymous memory so the whole system pages while the hostile clients run.
//!
//! Writes two words into every page of a region 1.5 times the VM
//! server's pool, so a third of it at least must go to swap, and reads
//! every page back: it is a stressor, not a victim, but what it wrote it
//! must read, and the read-back must have come partly from swap.
#![no_std]
#![no_main]

use vm_client::region::PAGE_WORDS;
use vm_client::vm_api::{MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

fn value(page: u64) -> u64 {
    page.wrapping_mul(0xd6e8_feb8_6659_fd93) ^ 0xf111
}

fn main(env: &mut Env) -> u64 {
    env.plan(2);
    let pool = env.vm.stats().map_or(0, |s| s.npages);
    let pages = pool * 3 / 2;
    let region = Region::map(&mut env.vm, &MmapRequest::anon(pages * PAGE_SIZE, Prot::RW));
    let region = match region {
        Ok(r) if pool > 0 => r,
        other => {
            env.check(
                "every-page-reads-back",
                false,
                format_args!("pool {pool} pages; mmap of 1.5 pools: {other:?}"),
            );
            return env.failures();
        }
    };
    println!("{}: dirtying {pages} pages (pool {pool})", env.name());
    for p in 0..pages {
        region.write(p, 0, value(p));
        region.write(p, PAGE_WORDS - 1, !value(p));
    }
    let before = env.vm.client_stats().unwrap_or_default();
    let bad = (0..pages)
        .find(|&p| region.read(p, 0) != value(p) || region.read(p, PAGE_WORDS - 1) != !value(p));
    let after = env.vm.client_stats().unwrap_or_default();
    let unmapped = region.unmap(&mut env.vm);
    env.check(
        "every-page-reads-back",
        bad.is_none() && unmapped.is_ok(),
        format_args!("first wrong page {bad:?} of {pages}; munmap {unmapped:?}"),
    );
    let pageins = after.pageins.saturating_sub(before.pageins);
    env.check(
        "read-back-came-from-swap",
        pageins > 0,
        format_args!("reading back {pages} pages (pool {pool}) started {pageins} page-ins"),
    );
    println!(
        "{}: {pageins} page-ins for the read-back; swap_slots {} before it",
        env.name(),
        before.swap_slots
    );
    env.failures()
}
