//! Benchmark: the paging workloads that separate the replacement policies
//! (issue 16), run one after the other in one client, each sized against
//! the VM server's pool ([`workloads`] has the five). Every word a
//! workload reads back is checked against what it wrote, so each is also
//! a system test (`TEST PASS workloads/<name>`).
//!
//! Prints, for `cargo qemu bench --policies`:
//!
//! * `BENCH workload-pool-frames <frames> frames`: the pool the sizes are
//!   taken from;
//! * `BENCH-PROGRESS <name> <cycles> <pageins>` about [`SAMPLES`] times a
//!   workload: TSC cycles since it started and the pages the VM server
//!   read from swap since then (its `Stats`), for the page-ins over time
//!   plot;
//! * `BENCH-WORKLOAD <name> <pageins> <pageouts> <cycles>` when it ends:
//!   the pages read from and written to swap during it, and its run time.
#![no_std]
#![no_main]

extern crate alloc;

mod workloads;

use vm_client::vm_api::VmStats;
use vm_client::{println, Env};

vm_client::client_main!(main);

/// Progress samples per workload (about).
const SAMPLES: u64 = 40;

pub(crate) fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions in user mode on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The VM server's counters (all zero if it does not answer, which the
/// numbers then show).
fn stats(env: &mut Env) -> VmStats {
    env.vm.stats().unwrap_or_default()
}

/// One workload's measurement: its start (cycles, swap counters) and its
/// progress samples, one every `every` steps (accesses).
pub(crate) struct Meter {
    name: &'static str,
    start_cycles: u64,
    start: VmStats,
    every: u64,
    steps: u64,
}

impl Meter {
    /// Starts measuring `name`, which will take about `steps` steps.
    pub(crate) fn start(env: &mut Env, name: &'static str, steps: u64) -> Meter {
        let m = Meter {
            name,
            start: stats(env),
            start_cycles: rdtsc(),
            every: (steps / SAMPLES).max(1),
            steps: 0,
        };
        println!("BENCH-PROGRESS {name} 0 0");
        m
    }

    /// One step done: a progress sample every `every` steps.
    pub(crate) fn step(&mut self, env: &mut Env) {
        self.steps += 1;
        if self.steps.is_multiple_of(self.every) {
            let now = stats(env);
            println!(
                "BENCH-PROGRESS {} {} {}",
                self.name,
                rdtsc() - self.start_cycles,
                now.pageins.saturating_sub(self.start.pageins)
            );
        }
    }

    /// The workload is done: its totals.
    pub(crate) fn finish(self, env: &mut Env) {
        let cycles = rdtsc() - self.start_cycles;
        let now = stats(env);
        let pageins = now.pageins.saturating_sub(self.start.pageins);
        println!("BENCH-PROGRESS {} {cycles} {pageins}", self.name);
        println!(
            "BENCH-WORKLOAD {} {pageins} {} {cycles}",
            self.name,
            now.pageouts.saturating_sub(self.start.pageouts)
        );
    }
}

fn main(env: &mut Env) -> u64 {
    env.plan(workloads::ALL.len());
    let pool = stats(env).npages;
    println!("BENCH workload-pool-frames {pool} frames");
    for (name, run) in workloads::ALL {
        let bad = if pool == 0 { u64::MAX } else { run(env, pool) };
        env.check(
            name,
            bad == 0,
            format_args!("{bad} words read back wrong (pool {pool} frames)"),
        );
    }
    env.failures()
}
