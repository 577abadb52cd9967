//! System test: a client that panics ends alone. It announces the status
//! its pager will report (`STATUS_PANICKED`), maps and fills some memory
//! (so the VM server has something to take back), checks it, and then
//! indexes past the end of an array, which panics. The runtime's panic
//! hook asks the VM server to end it; the server cleans it up like any
//! exit, every other client runs on, and the root task's cleanup check
//! (`vm-server-gives-everything-back`) sees everything returned.
#![no_std]
#![no_main]

use core::hint::black_box;
use sel4_root_task::control::{expect_exit, STATUS_PANICKED};
use vm_client::vm_api::{MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

/// Pages it maps and writes before panicking.
const PAGES: u64 = 64;

fn main(env: &mut Env) -> u64 {
    env.plan(1);
    expect_exit(STATUS_PANICKED);
    let region = Region::map(&mut env.vm, &MmapRequest::anon(PAGES * PAGE_SIZE, Prot::RW));
    let Ok(region) = region else {
        env.check(
            "memory-before-panic",
            false,
            format_args!("mmap {region:?}"),
        );
        return env.failures();
    };
    for page in 0..PAGES {
        region.write(page, 0, page ^ 0x5a5a);
    }
    let bad = (0..PAGES).find(|&page| region.read(page, 0) != page ^ 0x5a5a);
    env.check(
        "memory-before-panic",
        bad.is_none(),
        format_args!("page {bad:?} lost its value"),
    );
    println!("{}: panicking on purpose", env.name());
    let table = [1u64, 2, 3];
    // Out of bounds: the index is hidden from the compiler, so this is a
    // real bounds-check panic at run time.
    let value = table[black_box(table.len() + 4)];
    println!("{}: survived its own panic (read {value})", env.name());
    // Only reached if it did not panic: a status other than the one announced.
    1
}
