//! System test: a disk error on a page-in. Writes a checksummed 24 MiB
//! region (more than the VM server's pool, so part of it goes to swap),
//! finds a page that is on swap (`mincore`), and forks. The child asks the
//! server to fail its next page-in (`FailNextPagein`: the block server is
//! told to fail that read) and reads the page: the server must stop the
//! child with an I/O error at that fault. The parent, which shares the
//! page copy-on-write, must then read every page intact, that one
//! included: the failed read lost nothing and hurt nobody else.
#![no_std]
#![no_main]

use vm_client::vm_api::{ForkReply, Mincore, MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;
const SIZE: u64 = 24 * MIB;
/// What the child writes to the shared status word.
const CHILD_ABOUT_TO_READ: u64 = 1;
const CHILD_READ_SUCCEEDED: u64 = 2;

fn pattern(offset: u64) -> u64 {
    offset.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x10e7
}

fn main(env: &mut Env) -> u64 {
    env.plan(3);
    let status = env.vm.mmap(&MmapRequest::anon_shared(PAGE, Prot::RW));
    let region = env.vm.mmap(&MmapRequest::anon(SIZE, Prot::RW));
    let (Ok(status), Ok(base)) = (status, region) else {
        env.check("mmap", false, format_args!("{status:?} {region:?}"));
        return env.failures();
    };
    let status = status as *mut u64;
    for off in (0..SIZE).step_by(PAGE as usize) {
        // SAFETY: inside the mapping just made.
        unsafe { ((base + off) as *mut u64).write_volatile(pattern(off)) };
    }
    let victim = page_on_swap(env, base);
    env.check(
        "page-on-swap",
        victim.is_some(),
        format_args!("every page of {} MiB is resident", SIZE / MIB),
    );
    let Some(victim) = victim else {
        return env.failures();
    };
    let errors_before = env.vm.stats().map(|s| s.swap_io_errors).unwrap_or(0);
    match env.vm.fork() {
        Ok(ForkReply::Child { .. }) => {
            // SAFETY: the shared status page and the inherited region.
            unsafe { status.write_volatile(CHILD_ABOUT_TO_READ) };
            let armed = env.vm.fail_next_pagein();
            // SAFETY: `victim` < SIZE is a page of the region, inherited
            // (copy-on-write) at the same address; a refused page-in stops
            // this child rather than returning.
            let value = unsafe { ((base + victim) as *const u64).read_volatile() };
            println!(
                "{}: child survived the read (armed {armed:?}, value {value:#x})",
                env.name()
            );
            // SAFETY: the shared status page, as above.
            unsafe { status.write_volatile(CHILD_READ_SUCCEEDED) };
            let _ = env.vm.exit(0);
            return 1;
        }
        Ok(ForkReply::Parent { child }) => {
            println!(
                "{}: child {child:#x} reads page {victim:#x} with a failing disk",
                env.name()
            );
        }
        Err(e) => {
            env.check(
                "child-stopped-by-io-error",
                false,
                format_args!("fork {e:?}"),
            );
            return env.failures();
        }
    }
    let gone = env.wait_children(5_000_000);
    // SAFETY: the shared status page.
    let seen = unsafe { status.read_volatile() };
    let errors = env.vm.stats().map(|s| s.swap_io_errors).unwrap_or(0) - errors_before;
    env.check(
        "child-stopped-by-io-error",
        gone && seen == CHILD_ABOUT_TO_READ && errors == 1,
        format_args!("child gone {gone}, its status word {seen}, {errors} swap I/O errors counted"),
    );
    let bad = (0..SIZE)
        .step_by(PAGE as usize)
        // SAFETY: inside the mapping.
        .find(|&off| unsafe { ((base + off) as *const u64).read_volatile() } != pattern(off));
    env.check(
        "parent-intact-after-failed-pagein",
        bad.is_none(),
        format_args!("mismatch at offset {:#x}", bad.unwrap_or(0)),
    );
    env.failures()
}

/// Offset of a page of the region that is not resident (so on swap: it
/// was written), if any.
fn page_on_swap(env: &mut Env, base: u64) -> Option<u64> {
    let mut incore = [Mincore::empty(); 512];
    for chunk in (0..SIZE).step_by(512 * PAGE as usize) {
        let n = env.vm.mincore(base + chunk, 512 * PAGE, &mut incore).ok()?;
        if let Some(i) = incore[..n]
            .iter()
            .position(|m| !m.contains(Mincore::INCORE))
        {
            return Some(chunk + i as u64 * PAGE);
        }
    }
    None
}
