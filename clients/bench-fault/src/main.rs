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
//! the pool, the file phase ([`file`]): a file of the files disk mapped
//! through the file server (its pager), its page-in fault latency and
//! mapped read MB/s against the file server's own `read`; and last the
//! swap phase ([`swap`]): swap-out and swap-in MB/s and the page-in fault
//! latency.
//!
//! Both throughput phases time with the TSC, calibrated once here against
//! the CMOS clock's seconds ([`tsc_hz`]): the PIT is block-test's, and the
//! spec validator gives an I/O port to one component only, which is why
//! the file benchmark is a phase of this program and not a client of its
//! own.
#![no_std]
#![no_main]

extern crate alloc;

mod file;
mod swap;

use alloc::vec::Vec;
use vm_client::vm_api::{Advice, ForkReply, MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

pub(crate) const PAGE: u64 = 4096;
const N: u64 = 256;
/// Give up calibrating after this many cycles (tens of seconds).
const CALIBRATION_LIMIT: u64 = 100_000_000_000;

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
            let Some(hz) = tsc_hz(env) else {
                println!("bench-fault: no CMOS clock (io:0x70); no file or swap benchmark");
                return 1;
            };
            println!(
                "bench-fault: TSC {} MHz (against the CMOS clock)",
                hz / 1_000_000
            );
            let file_ok = file::run(env, hz);
            let swap_ok = swap::run(env, hz);
            u64::from(!(file_ok && swap_ok))
        }
        Err(e) => {
            println!("bench-fault: fork failed: {e:?}");
            1
        }
    }
}

/// TSC ticks per second: the cycles between two ticks of the CMOS
/// clock's seconds register (1 to 2 s of polling); `None` without the
/// ports or if the clock does not tick.
fn tsc_hz(env: &Env) -> Option<u64> {
    let rtc = sel4::cap::IOPort::from_bits(env.info.cap("io:0x70")?.bits());
    rtc.x86_io_port_out8(0x70, 0x00).ok()?; // register 0: seconds
    let seconds = || rtc.x86_io_port_in8(0x71).ok();
    let start = rdtsc();
    let tick = || -> Option<u64> {
        let s = seconds()?;
        while seconds()? == s {
            if rdtsc() - start > CALIBRATION_LIMIT {
                return None;
            }
        }
        Some(rdtsc())
    };
    let t0 = tick()?;
    let t1 = tick()?;
    Some(t1 - t0)
}
