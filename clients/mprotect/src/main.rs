//! System test: `mprotect`. Read-only memory reads, refuses writes through
//! the protection check; protection never rises above the maximum; and a
//! write to read-only memory ends this client with a protection error the
//! VM server reports, while every other client keeps running.
#![no_std]
#![no_main]

use sel4_root_task::control::{expect_exit, STATUS_KILLED};
use vm_client::vm_api::{ApiError, MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

const PAGE: u64 = 4096;

fn main(env: &mut Env) -> u64 {
    env.plan(5);
    let len = 8 * PAGE;
    let Ok(a) = env.vm.mmap(&MmapRequest::anon(len, Prot::RW)) else {
        env.check("mmap", false, format_args!("mmap failed"));
        return env.failures();
    };
    for i in 0..8 {
        // SAFETY: inside the read-write mapping.
        unsafe { ((a + i * PAGE) as *mut u64).write_volatile(0x1000 + i) };
    }
    let r = env.vm.mprotect(a, len, Prot::READ);
    // SAFETY: reads of the 8-page mapping made above, which read-only
    // protection leaves readable; no reference points into it.
    let readable =
        (0..8).all(|i| unsafe { ((a + i * PAGE) as *const u64).read_volatile() } == 0x1000 + i);
    env.check(
        "read-only-still-reads",
        r.is_ok() && readable,
        format_args!("mprotect {r:?}, readable {readable}"),
    );

    // Back to read-write: writes work again.
    let r = env.vm.mprotect(a, PAGE, Prot::RW);
    // SAFETY: the first page of the mapping, read-write again after the
    // mprotect above (had it failed, the write would fault and the VM server
    // would stop this client: no other memory can be hit).
    unsafe { (a as *mut u64).write_volatile(7) };
    // SAFETY: the same word, still mapped.
    let wrote = unsafe { (a as *const u64).read_volatile() } == 7;
    env.check(
        "read-write-again",
        r.is_ok() && wrote,
        format_args!("mprotect {r:?}"),
    );

    // A mapping whose maximum is read-only can never become writable.
    let mut req = MmapRequest::anon(PAGE, Prot::READ);
    req.max_prot = Prot::READ;
    let ro = env.vm.mmap(&req);
    let r = match ro {
        Ok(ro) => env.vm.mprotect(ro, PAGE, Prot::RW),
        Err(e) => Err(e),
    };
    env.check_err("above-max-protection", r, ApiError::MaxProtection);
    let r = env.vm.mprotect(a + 3, PAGE, Prot::READ);
    env.check_err("unaligned-mprotect", r, ApiError::Unaligned);
    let r = env.vm.mprotect(a, len, Prot::from_bits_retain(0x80));
    env.check_err("reserved-prot-bits", r, ApiError::MalformedRequest);

    // The last act: write to read-only memory.
    let failures = env.failures();
    println!(
        "{}: writing to read-only memory at {:#x}; the VM server must stop me",
        env.name(),
        a + PAGE
    );
    expect_exit(if failures == 0 {
        STATUS_KILLED + ApiError::Protection.code()
    } else {
        failures
    });
    // SAFETY: deliberately faulting; the VM server stops this thread.
    unsafe { ((a + PAGE) as *mut u64).write_volatile(1) };
    failures + 1
}
