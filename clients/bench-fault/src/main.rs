//! Benchmark: cycles per page fault served by the VM server, by kind, and
//! the cost of a no-op request. Prints `BENCH <name> <median> cycles`
//! lines that `cargo qemu bench` divides by the floors the root task
//! measures in the same boot.
//!
//! * zero-fill: first touch of a fresh private page;
//! * resident: a page whose contents stay in memory but which
//!   `MADV_DONTNEED` unmapped (a soft fault);
//! * cow: a write to a page shared with a forked child (copy-on-write).
//!
//! Fault-around is turned off (`MADV_RANDOM`) so each touch is one fault.
//!
//! Then, with the fault costs measured while the working set is far below
//! the pool, the swap phase ([`swap`]): swap-out and swap-in MB/s and the
//! page-in fault latency.
#![no_std]
#![no_main]

extern crate alloc;

mod swap;

use alloc::vec::Vec;
use vm_client::vm_api::{Advice, ForkReply, MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

pub(crate) const PAGE: u64 = 4096;
const N: u64 = 256;

pub(crate) fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions in user mode on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Median cycles of one access per page of `[base, base + N pages)`.
fn touch_all(base: u64, write: bool) -> u64 {
    let mut samples: Vec<u64> = Vec::with_capacity(N as usize);
    for i in 0..N {
        let p = (base + i * PAGE) as *mut u64;
        let t0 = rdtsc();
        // SAFETY: inside a mapping this program owns.
        unsafe {
            if write {
                p.write_volatile(i);
            } else {
                p.read_volatile();
            }
        }
        samples.push(rdtsc() - t0);
    }
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn main(env: &mut Env) -> u64 {
    let region = |env: &mut Env| -> u64 {
        let a = env
            .vm
            .mmap(&MmapRequest::anon(N * PAGE, Prot::RW))
            .expect("mmap");
        env.vm
            .madvise(a, N * PAGE, Advice::Random)
            .expect("madvise random");
        a
    };
    // The no-op round trip through the VM server's dispatch.
    let mut samples: Vec<u64> = (0..N)
        .map(|i| {
            let t0 = rdtsc();
            let _ = env.vm.ping(i);
            rdtsc() - t0
        })
        .collect();
    samples.sort_unstable();
    println!(
        "BENCH vm-request-ping {} cycles",
        samples[samples.len() / 2]
    );

    let a = region(env);
    println!("BENCH vm-fault-zero-fill {} cycles", touch_all(a, true));
    env.vm
        .madvise(a, N * PAGE, Advice::DontNeed)
        .expect("madvise dontneed");
    println!("BENCH vm-fault-resident {} cycles", touch_all(a, false));

    let b = region(env);
    touch_all(b, true);
    // Fork shares this page (it is shared memory), so it can say "done".
    let flag = env
        .vm
        .mmap(&MmapRequest::anon_shared(PAGE, Prot::RW))
        .expect("mmap shared") as *mut u64;
    match env.vm.fork() {
        Ok(ForkReply::Child { .. }) => {
            // Hold the pages shared until the parent is done, then leave.
            // SAFETY: `flag` is the shared page mapped read-write above,
            // which fork maps at the same address in the child and nothing
            // unmaps; volatile because the parent writes it meanwhile.
            while unsafe { flag.read_volatile() } == 0 {
                sel4::yield_now();
            }
            let _ = env.vm.exit(0);
            0
        }
        Ok(ForkReply::Parent { .. }) => {
            println!("BENCH vm-fault-cow {} cycles", touch_all(b, true));
            // SAFETY: the shared page mapped above.
            unsafe { flag.write_volatile(1) };
            env.wait_children(2_000_000);
            u64::from(!swap::run(env))
        }
        Err(e) => {
            println!("bench-fault: fork failed: {e:?}");
            1
        }
    }
}
