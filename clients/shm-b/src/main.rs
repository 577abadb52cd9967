//! System test: shared memory between two clients, the opening side (see
//! client-shm-a): it opens "shm-demo" by name once it exists, checks a's
//! pattern, and answers in the same pages.
#![no_std]
#![no_main]

use vm_client::vm_api::{ApiError, MmapRequest, Prot};
use vm_client::Env;

vm_client::client_main!(main);

const NAME: &str = "shm-demo";
const PAGE: u64 = 4096;
const PAGES: u64 = 8;
const READY: u64 = 1;
const ANSWERED: u64 = 2;

fn main(env: &mut Env) -> u64 {
    env.plan(3);
    // The other side may not have created it yet.
    let mut spins = 0u64;
    let h = loop {
        match env.vm.shm_open(NAME, Prot::RW) {
            Err(ApiError::NoSuchName) if spins < 2_000_000 => {
                sel4::yield_now();
                spins += 1;
            }
            other => break other,
        }
    };
    let addr = h.and_then(|h| {
        env.vm
            .mmap(&MmapRequest::object(h, 0, PAGES * PAGE, Prot::RW))
    });
    let Ok(addr) = addr else {
        env.check("open-and-map", false, format_args!("{addr:?}"));
        return env.failures();
    };
    env.check("open-and-map", true, format_args!(""));
    // SAFETY: word 0 of the shared object, mapped read-write above for its
    // 8 pages and never unmapped; volatile as client-shm-a writes it.
    while unsafe { (addr as *const u64).read_volatile() } != READY && spins < 4_000_000 {
        sel4::yield_now();
        spins += 1;
    }
    // SAFETY: word 0 of pages 1..8 of the shared mapping.
    let pattern = (1..PAGES)
        .all(|i| unsafe { ((addr + i * PAGE) as *const u64).read_volatile() } == 0x5a00 + i);
    env.check(
        "sees-creator-pattern",
        pattern,
        format_args!("pattern differs"),
    );
    for i in 1..PAGES {
        // SAFETY: inside the shared mapping.
        unsafe { ((addr + i * PAGE + 8) as *mut u64).write_volatile(0xb0b0 + i) };
    }
    // SAFETY: word 0 of the shared mapping, as above.
    unsafe { (addr as *mut u64).write_volatile(ANSWERED) };
    let r = env.vm.shm_open("no-such-object", Prot::READ);
    env.check_err("open-missing-name", r, ApiError::NoSuchName);
    env.failures()
}
