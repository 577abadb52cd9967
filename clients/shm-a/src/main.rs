//! System test: shared memory between two clients, the creating side. It
//! creates the named object "shm-demo", maps it, writes a pattern and a
//! "ready" flag; client-shm-b opens it by name, checks the pattern and
//! answers in the same pages, which this side then sees.
#![no_std]
#![no_main]

use vm_client::vm_api::{MmapRequest, Prot};
use vm_client::Env;

vm_client::client_main!(main);

pub const NAME: &str = "shm-demo";
const PAGE: u64 = 4096;
const PAGES: u64 = 8;
/// Word 0 of the object: 0 = empty, 1 = pattern written by a, 2 = answered by b.
const READY: u64 = 1;
const ANSWERED: u64 = 2;

fn main(env: &mut Env) -> u64 {
    env.plan(3);
    let h = env.vm.shm_create(NAME, PAGES * PAGE, Prot::RW);
    let addr = h.and_then(|h| {
        env.vm
            .mmap(&MmapRequest::object(h, 0, PAGES * PAGE, Prot::RW))
    });
    let Ok(addr) = addr else {
        env.check("create-and-map", false, format_args!("{addr:?}"));
        return env.failures();
    };
    env.check("create-and-map", true, format_args!(""));
    for i in 1..PAGES {
        // SAFETY: inside the shared mapping.
        unsafe { ((addr + i * PAGE) as *mut u64).write_volatile(0x5a00 + i) };
    }
    // SAFETY: word 0 of the shared object, mapped read-write above for its
    // 8 pages and not unmapped here; volatile as client-shm-b shares it.
    unsafe { (addr as *mut u64).write_volatile(READY) };
    let mut spins = 0u64;
    // SAFETY: as above: word 0 of the shared mapping.
    while unsafe { (addr as *const u64).read_volatile() } != ANSWERED && spins < 2_000_000 {
        sel4::yield_now();
        spins += 1;
    }
    // SAFETY: as above: word 0 of the shared mapping.
    let answered = unsafe { (addr as *const u64).read_volatile() } == ANSWERED;
    // SAFETY: word 1 of pages 1..8 of the shared mapping.
    let answer_ok = (1..PAGES)
        .all(|i| unsafe { ((addr + i * PAGE + 8) as *const u64).read_volatile() } == 0xb0b0 + i);
    env.check(
        "sees-other-client-writes",
        answered && answer_ok,
        format_args!("answered {answered}, contents {answer_ok}"),
    );
    let r = env.vm.shm_unlink(NAME);
    env.check("unlink", r.is_ok(), format_args!("{r:?}"));
    env.failures()
}
