//! Benchmark: cycles per page fault served by the VM server, by kind, and
//! the cost of a no-op request. Each is measured in rounds, each round
//! right after a round of its floor, which the root task measures on
//! request in the same boot (`control::floor_round`): so noise on the
//! host hits the floor and the operation alike. Prints `BENCH <name>
//! <median> cycles` and `BENCH-ROUNDS <name> <floor> <rounds> <median>
//! <min> <max> <floor median>` (each round's ratio to its own floor, in
//! thousandths; [`rounds`]), which `cargo qemu bench` tabulates, and
//! `BENCH-HIST <name> <floor> <lower>:<count> ...`, every sample in
//! log-spaced buckets, which it plots.
//!
//! * zero-fill: first touch of a fresh private page, each round after
//!   the system had idle time (`IdleWait`: the VM server's idle thread
//!   zeroes free frames ahead); and `-busy`, with none before (each fault
//!   zeroes its frame unless one was left zeroed: `BENCH-ZERO <name>
//!   <found zeroed> <zeroed in the fault>` counts them);
//! * resident: a read of a shared-memory page whose contents stay in
//!   memory but which `MADV_DONTNEED` unmapped (a soft fault; on private
//!   memory DONTNEED drops the pages, so a touch would zero-fill:
//!   semantics row `madvise-dontneed-private`);
//! * cow: a write to a page shared with a forked child (copy-on-write).
//!
//! Fault-around is turned off (`MADV_RANDOM`) so each touch is one fault.
//! Each fault row checks with the server's counters for this client that
//! its touches took faults of the kind it names ([`FaultKind`]); a row that
//! measured another kind fails the benchmark.
//!
//! Then, with the fault costs measured while the working set is far below
//! the pool, fault-around, the large-page phase ([`large`]: 2 MiB pages
//! on and off), the file phase ([`file`]): a file of the files disk mapped
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
mod growth;
mod large;
mod rounds;
mod swap;

use alloc::vec::Vec;
use sel4_root_task::control;
use vm_client::vm_api::{Advice, ForkReply, MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

pub(crate) const PAGE: u64 = 4096;
/// Rounds of each interleaved measurement, and touches per round.
pub(crate) const ROUNDS: u64 = 9;
const PER_ROUND: u64 = 64;
/// Give up calibrating after this many cycles (tens of seconds).
const CALIBRATION_LIMIT: u64 = 100_000_000_000;

pub(crate) fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions in user mode on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Cycles of one access per page of `[base, base + n pages)`, in order.
fn touch(base: u64, n: u64, write: bool) -> Vec<u64> {
    let mut samples: Vec<u64> = Vec::with_capacity(n as usize);
    for i in 0..n {
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
    samples
}

pub(crate) fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// The kind of fault a row measures, told apart by the VM server's
/// per-client counters (`ClientStats`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FaultKind {
    ZeroFill,
    /// A page found resident in the entry's own object: neither zero-fill
    /// nor a copy nor a read-only share of a lower page.
    Resident,
    CopyOnWrite,
}

/// This client's faults so far, by kind: zero-fill, resident,
/// copy-on-write, read-only share; and pages entered by fault-around.
fn fault_kinds(env: &mut Env) -> Option<[u64; 5]> {
    let s = env.vm.client_stats().ok()?;
    let others = s.flt_zero + s.flt_cow + s.flt_share;
    Some([
        s.flt_zero,
        s.faults.saturating_sub(others),
        s.flt_cow,
        s.flt_share,
        s.flt_prefault,
    ])
}

/// The server's zero-fill allocations so far: (found a frame zeroed
/// ahead, zeroed their own).
fn zero_counts(env: &mut Env) -> Option<(u64, u64)> {
    let s = env.vm.stats().ok()?;
    Some((s.pga_zerohit, s.pga_zeromiss))
}

/// `BENCH-ZERO <name> <found zeroed> <zeroed in the fault>` since `before`.
fn print_zero_counts(env: &mut Env, name: &str, before: Option<(u64, u64)>) {
    if let (Some(b), Some(a)) = (before, zero_counts(env)) {
        println!("BENCH-ZERO {name} {} {}", a.0 - b.0, a.1 - b.1);
    }
}

/// [`interleaved`] for a fault row of `kind`, against the fault floor.
fn interleaved_faults(
    env: &mut Env,
    name: &str,
    kind: FaultKind,
    op: impl FnMut(&mut Env, u64) -> Vec<u64>,
) -> bool {
    let floor = "floor-fault-map-reply";
    interleaved(env, name, floor, control::FLOOR_FAULT, Some(kind), op)
}

/// Measures `name` in [`ROUNDS`] rounds, each right after a round of
/// the root task's floor `kind` (`control::floor_round`), so noise on the
/// host hits both alike; `op(env, r)` is round `r`'s samples in cycles.
/// Prints `BENCH name <median of the rounds> cycles`; with the floors,
/// `BENCH-ROUNDS name floor rounds <median> <min> <max> <floor median>`
/// (the ratio of each round to its own floor, in thousandths); and `BENCH-CALLS name
/// <invocations> <operations> <cycles> <messages>`: the kernel
/// invocations the VM server made during the rounds, for the operations
/// measured, and the cycles its loop spent handling the messages it got
/// meanwhile (its `Stats`: the operations plus one `Stats` call a round).
/// Then `BENCH-HIST name <floor median> <lower>:<count> ...`: every
/// sample of every round in the buckets of [`Histogram`], with the median
/// of the floor's rounds, for the latency plot. Last, for a fault row
/// (`fault_kind`), `BENCH-KINDS name <zero-fill> <resident> <cow> <share>
/// <around>`: the rounds' faults by kind, from the client's counters, and
/// the pages fault-around entered. False if a fault row's faults were
/// not, all but a few, of its kind.
fn interleaved(
    env: &mut Env,
    name: &str,
    floor: &str,
    kind: u64,
    fault_kind: Option<FaultKind>,
    op: impl FnMut(&mut Env, u64) -> Vec<u64>,
) -> bool {
    interleaved_prepared(env, name, floor, kind, fault_kind, |_| {}, op)
}

/// [`interleaved`], with `prepare(env)` run before each round, after its
/// floor round and outside what the round counts.
fn interleaved_prepared(
    env: &mut Env,
    name: &str,
    floor: &str,
    kind: u64,
    fault_kind: Option<FaultKind>,
    mut prepare: impl FnMut(&mut Env),
    mut op: impl FnMut(&mut Env, u64) -> Vec<u64>,
) -> bool {
    let kinds_before = fault_kind.and_then(|_| fault_kinds(env));
    let mut ops = Vec::new();
    let mut rounds = rounds::Rounds::default();
    let mut hist = Histogram::default();
    // (invocations, handling cycles, messages) the server counted.
    let mut calls = Some((0u64, 0u64, 0u64));
    let counters = |env: &mut Env| {
        env.vm
            .stats()
            .ok()
            .map(|s| (s.kernel_invocations, s.handling_cycles, s.messages))
    };
    for r in 0..ROUNDS {
        let f = control::floor_round(kind);
        prepare(env);
        let before = counters(env);
        let mut samples = op(env, r);
        let after = counters(env);
        samples.iter().for_each(|&c| hist.add(c));
        let o = median(&mut samples);
        ops.push(o);
        calls = match (calls, before, after) {
            (Some(c), Some(b), Some(a)) => Some((
                c.0 + a.0.saturating_sub(b.0),
                c.1 + a.1.saturating_sub(b.1),
                c.2 + a.2.saturating_sub(b.2),
            )),
            _ => None,
        };
        rounds.add(o, f);
    }
    println!(
        "BENCH {name} {} cycles (median of {ROUNDS} rounds of {PER_ROUND}, each after a round of {floor})",
        median(&mut ops)
    );
    rounds.print(name, floor, 1);
    if let Some((invocations, cycles, messages)) = calls {
        println!(
            "BENCH-CALLS {name} {invocations} {} {cycles} {messages}",
            ROUNDS * PER_ROUND
        );
    }
    println!("BENCH-HIST {name} {}{hist}", rounds.floor_median());
    let Some(want) = fault_kind else {
        return true;
    };
    let (Some(b), Some(a)) = (kinds_before, fault_kinds(env)) else {
        println!("bench-fault: {name}: no client stats, fault kinds not checked");
        return false;
    };
    let took: [u64; 5] = core::array::from_fn(|i| a[i] - b[i]);
    println!(
        "BENCH-KINDS {name} {} {} {} {} {}",
        took[0], took[1], took[2], took[3], took[4]
    );
    // Slack of a sixteenth either way: the client's own heap and stack
    // may fault meanwhile, and the service's fault count (the resident
    // column's base) is a message count, not the core's.
    let (touches, i) = (ROUNDS * PER_ROUND, want as usize);
    let others: u64 = (0..4).filter(|&k| k != i).map(|k| took[k]).sum();
    let ok = took[i] * 16 >= touches * 15 && others * 16 <= touches;
    if !ok {
        println!(
            "bench-fault: {name} measured the wrong faults: {} of kind {want:?} for {touches} touches (zero-fill, resident, cow, share, around: {took:?})",
            took[i]
        );
    }
    ok
}

/// Cycle samples counted in log-spaced buckets: four per doubling, at
/// 1, 1.25, 1.5 and 1.75 times a power of two. A bucket is named by its
/// lower bound.
#[derive(Default)]
struct Histogram {
    /// (lower bound, samples), in order of the bound.
    buckets: Vec<(u64, u64)>,
}

impl Histogram {
    /// The lower bound of the bucket `cycles` falls in.
    fn bucket(cycles: u64) -> u64 {
        if cycles < 8 {
            return cycles;
        }
        let shift = 63 - cycles.leading_zeros() - 2;
        (cycles >> shift) << shift
    }

    fn add(&mut self, cycles: u64) {
        let lower = Self::bucket(cycles);
        match self.buckets.binary_search_by_key(&lower, |&(l, _)| l) {
            Ok(i) => self.buckets[i].1 += 1,
            Err(i) => self.buckets.insert(i, (lower, 1)),
        }
    }
}

/// ` <lower>:<count>` per bucket with samples.
impl core::fmt::Display for Histogram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.buckets
            .iter()
            .try_for_each(|(lower, n)| write!(f, " {lower}:{n}"))
    }
}

fn main(env: &mut Env) -> u64 {
    let region = |env: &mut Env, pages: u64| -> u64 {
        let a = env
            .vm
            .mmap(&MmapRequest::anon(pages * PAGE, Prot::RW))
            .expect("mmap");
        env.vm
            .madvise(a, pages * PAGE, Advice::Random)
            .expect("madvise random");
        a
    };
    // The no-op round trip through the VM server's dispatch (no fault
    // kinds to check: always true).
    interleaved(
        env,
        "vm-request-ping",
        "floor-ipc-call-replyrecv",
        control::FLOOR_IPC,
        None,
        |env, _| {
            (0..PER_ROUND)
                .map(|i| {
                    let t0 = rdtsc();
                    let _ = env.vm.ping(i);
                    rdtsc() - t0
                })
                .collect()
        },
    );

    // Each round touches its own slice of one region.
    let pages = ROUNDS * PER_ROUND;
    let slice = |base: u64, r: u64| base + r * PER_ROUND * PAGE;
    // Zero-fill with no idle time before it (the frames zeroed in the
    // fault, unless the boot left some zeroed ahead: BENCH-ZERO says),
    // then the row of issue 15's goal: each round after the system had
    // idle time (`IdleWait`), as the idle thread's zeroing is meant for.
    let busy = region(env, pages);
    let zero_before = zero_counts(env);
    let mut kinds_ok = interleaved_faults(
        env,
        "vm-fault-zero-fill-busy",
        FaultKind::ZeroFill,
        |_, r| touch(slice(busy, r), PER_ROUND, true),
    );
    print_zero_counts(env, "vm-fault-zero-fill-busy", zero_before);
    let a = region(env, pages);
    let zero_before = zero_counts(env);
    let floor = "floor-fault-map-reply";
    kinds_ok &= interleaved_prepared(
        env,
        "vm-fault-zero-fill",
        floor,
        control::FLOOR_FAULT,
        Some(FaultKind::ZeroFill),
        |env| {
            if let Err(e) = env.vm.idle_wait() {
                println!("bench-fault: IdleWait: {e:?}");
            }
        },
        |_, r| touch(slice(a, r), PER_ROUND, true),
    );
    print_zero_counts(env, "vm-fault-zero-fill", zero_before);
    env.vm.munmap(busy, pages * PAGE).expect("munmap");
    // Private pages DONTNEED drops (the next touch zero-fills); shared
    // memory keeps them resident and only unmaps them: soft faults.
    env.vm
        .madvise(a, pages * PAGE, Advice::DontNeed)
        .expect("madvise dontneed");
    let len = pages * PAGE;
    let s = env
        .vm
        .mmap(&MmapRequest::anon_shared(len, Prot::RW))
        .expect("mmap shared");
    env.vm
        .madvise(s, len, Advice::Random)
        .expect("madvise random");
    touch(s, pages, true);
    env.vm
        .madvise(s, len, Advice::DontNeed)
        .expect("madvise dontneed");
    kinds_ok &= interleaved_faults(env, "vm-fault-resident", FaultKind::Resident, |_, r| {
        touch(slice(s, r), PER_ROUND, false)
    });
    env.vm.munmap(s, len).expect("munmap");

    let b = region(env, pages);
    touch(b, pages, true);
    // Fork shares this page (it is shared memory), so it can say "done".
    let flag = env
        .vm
        .mmap(&MmapRequest::anon_shared(PAGE, Prot::RW))
        .expect("mmap shared") as *mut u64;
    match env.vm.fork() {
        Ok(ForkReply::Child { .. }) => {
            // Hold the pages shared until the parent is done, then leave.
            // SAFETY: `flag` is the shared page mapped above, which fork
            // maps at the same address in the child and nothing unmaps;
            // volatile because the parent writes it meanwhile.
            while unsafe { flag.read_volatile() } == 0 {
                sel4::yield_now();
            }
            let _ = env.vm.exit(0);
            0
        }
        Ok(ForkReply::Parent { .. }) => {
            kinds_ok &= interleaved_faults(env, "vm-fault-cow", FaultKind::CopyOnWrite, |_, r| {
                touch(slice(b, r), PER_ROUND, true)
            });
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
            fault_around(env);
            let large_ok = large::run(env, hz);
            let growth_ok = growth::run(env);
            let file_ok = file::run(env, hz);
            let swap_ok = swap::run(env, hz);
            u64::from(!(kinds_ok && large_ok && growth_ok && file_ok && swap_ok))
        }
        Err(e) => {
            println!("bench-fault: fork failed: {e:?}");
            1
        }
    }
}

/// Pages of the fault-around first touch: 8 MiB, half the bench pool
/// (the 64 MiB would measure swap, not fault-around, here).
const AROUND_PAGES: u64 = 2048;

/// Fault-around on a first touch in order: [`AROUND_PAGES`] fresh pages
/// written one word each, with advice `RANDOM` (fault-around off),
/// `NORMAL` and `SEQUENTIAL`; prints `BENCH-AROUND <advice> <pages>
/// <faults> <cycles>` (faults from the VM server's count for this
/// client, cycles for the whole touch).
fn fault_around(env: &mut Env) {
    for (name, advice) in [
        ("random", Advice::Random),
        ("normal", Advice::Normal),
        ("sequential", Advice::Sequential),
    ] {
        let len = AROUND_PAGES * PAGE;
        let Ok(a) = env.vm.mmap(&MmapRequest::anon(len, Prot::RW)) else {
            println!("bench-fault: no {len}-byte region for fault-around");
            return;
        };
        let _ = env.vm.madvise(a, len, advice);
        let before = env.vm.client_stats().map(|s| s.faults);
        let t0 = rdtsc();
        for i in 0..AROUND_PAGES {
            // SAFETY: inside the mapping just made.
            unsafe { ((a + i * PAGE) as *mut u64).write_volatile(i) };
        }
        let cycles = rdtsc() - t0;
        let after = env.vm.client_stats().map(|s| s.faults);
        if let (Ok(b), Ok(f)) = (before, after) {
            println!("BENCH-AROUND {name} {AROUND_PAGES} {} {cycles}", f - b);
        }
        let _ = env.vm.munmap(a, len);
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
