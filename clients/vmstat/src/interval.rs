//! `vmstat`'s interval mode, BSD's `vmstat 1 N`: a header line, then per interval one line of global rates (faults, page-ins, page-outs per second) and free pages, and one line per client that moved, from samples one CMOS-clock second apart timed with the TSC.
//!
//! A sample is the global counters (`Stats`) read before and after
//! every client's (`ClientList`, which needs `privileges { observe }`),
//! and the TSC at the clock tick that started it. An interval's global
//! deltas run from the first read of the sample before to the second
//! read of the sample after, so they hold every event the per-client
//! deltas hold: the sum of the clients' faults can never exceed the
//! global count unless the server miscounts. Rates are the deltas over
//! the interval's TSC cycles, converted with the TSC's rate measured
//! against the clock's first whole second.
//!
//! Between samples the program waits by yielding (`seL4_Yield`) and
//! reading the clock's seconds register, so the other clients at its
//! priority run meanwhile; it is never a spin that holds the CPU.

use alloc::vec;
use alloc::vec::Vec;
use sel4::cap::IOPort;
use vm_client::vm_api::{ClientSummary, VmStats};
use vm_client::{println, Env};

/// Most clients one sample lists (the system spec has about 30 with
/// forks; the rest of a longer list is left out).
const MAX_CLIENTS: usize = 128;
/// Give up waiting for a clock tick after this many cycles (tens of
/// seconds: a clock that does not tick).
const TICK_LIMIT: u64 = 100_000_000_000;
/// The CMOS clock's index and data ports, and its seconds register.
const RTC_INDEX: u64 = 0x70;
const RTC_DATA: u16 = 0x71;
const RTC_SECONDS: u64 = 0x00;

pub(crate) fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions in user mode on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The CMOS clock, which the spec grants as `io_ports = 0x70-0x71`.
pub(crate) struct Clock {
    port: IOPort,
}

impl Clock {
    /// The clock, if the spec grants its ports (`io:0x70`).
    pub(crate) fn of(env: &Env) -> Option<Clock> {
        let port = IOPort::from_bits(env.info.cap("io:0x70")?.bits());
        port.x86_io_port_out8(RTC_INDEX, RTC_SECONDS).ok()?;
        Some(Clock { port })
    }

    fn seconds(&self) -> Option<u8> {
        self.port.x86_io_port_in8(RTC_DATA).ok()
    }

    /// Waits, yielding, until the seconds register changes; returns the
    /// TSC then. `None` if the port fails or the clock does not tick.
    pub(crate) fn next_tick(&self) -> Option<u64> {
        let start = rdtsc();
        let s = self.seconds()?;
        loop {
            sel4::yield_now();
            if self.seconds()? != s {
                return Some(rdtsc());
            }
            if rdtsc() - start > TICK_LIMIT {
                return None;
            }
        }
    }
}

/// One sample: the TSC at its tick, the global counters read before and
/// after the clients', and the clients in id order.
pub(crate) struct Sample {
    pub(crate) tsc: u64,
    pub(crate) before: VmStats,
    pub(crate) after: VmStats,
    pub(crate) clients: Vec<ClientSummary>,
}

impl Sample {
    /// Reads the counters now; `tsc` is the tick that started it.
    pub(crate) fn take(env: &mut Env, tsc: u64) -> Result<Sample, vm_client::vm_api::ApiError> {
        let before = env.vm.stats()?;
        let mut clients = vec![ClientSummary::default(); MAX_CLIENTS];
        let n = env.vm.clients(&mut clients)?;
        clients.truncate(n);
        let after = env.vm.stats()?;
        Ok(Sample {
            tsc,
            before,
            after,
            clients,
        })
    }

    /// The entry of client `id`.
    pub(crate) fn client(&self, id: u64) -> Option<&ClientSummary> {
        self.clients
            .binary_search_by_key(&id, |c| c.client)
            .ok()
            .map(|i| &self.clients[i])
    }
}

/// Events per second: `delta` over `cycles` of a TSC running at `hz`
/// (rounded down; 0 for an empty interval).
pub(crate) fn per_second(delta: u64, cycles: u64, hz: u64) -> u64 {
    if cycles == 0 {
        return 0;
    }
    (u128::from(delta) * u128::from(hz) / u128::from(cycles)) as u64
}

/// Pages read in: from swap and from file pagers.
fn pages_in(s: &VmStats) -> u64 {
    s.pageins + s.pager_pages_in
}

/// Pages written out: to swap and to file pagers.
fn pages_out(s: &VmStats) -> u64 {
    s.pageouts + s.pager_pages_out
}

/// One interval between two samples: its global and per-client deltas.
pub(crate) struct Interval {
    pub(crate) cycles: u64,
    /// Global deltas over the widest window (`before` of the first
    /// sample to `after` of the second).
    pub(crate) faults: u64,
    /// Of them, faults answered with a 2 MiB mapping.
    pub(crate) large_faults: u64,
    pub(crate) pages_in: u64,
    pub(crate) pages_out: u64,
    /// Free pages at the end.
    pub(crate) free: u64,
    /// Per client in both samples: (entry at the end, fault delta,
    /// page-in read delta, large-fault delta).
    pub(crate) clients: Vec<(ClientSummary, u64, u64, u64)>,
    /// Clients in the second sample only (started or forked meanwhile).
    pub(crate) new_clients: usize,
}

impl Interval {
    /// The deltas from `a` to the later `b`. Counters that went
    /// backwards count 0 here (the checks catch them).
    pub(crate) fn between(a: &Sample, b: &Sample) -> Interval {
        let mut clients = Vec::with_capacity(b.clients.len());
        let mut new_clients = 0;
        for now in &b.clients {
            match a.client(now.client) {
                Some(was) => clients.push((
                    *now,
                    now.faults.saturating_sub(was.faults),
                    now.pageins.saturating_sub(was.pageins),
                    now.flt_large.saturating_sub(was.flt_large),
                )),
                None => new_clients += 1,
            }
        }
        Interval {
            cycles: b.tsc.saturating_sub(a.tsc),
            faults: b.after.faults.saturating_sub(a.before.faults),
            large_faults: b.after.flt_large.saturating_sub(a.before.flt_large),
            pages_in: pages_in(&b.after).saturating_sub(pages_in(&a.before)),
            pages_out: pages_out(&b.after).saturating_sub(pages_out(&a.before)),
            free: b.after.free,
            clients,
            new_clients,
        }
    }

    /// The sum of the per-client fault deltas.
    pub(crate) fn client_faults(&self) -> u64 {
        self.clients.iter().map(|c| c.1).sum()
    }
}

/// Prints the header line.
pub(crate) fn print_header() {
    println!(
        "{:>4} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  client",
        "int", "free", "flt/s", "lflt/s", "pi/s", "po/s", "resid"
    );
}

/// Prints interval `n`'s lines: the global one, then one per client
/// whose faults or page-ins moved (the idle ones are counted on the
/// global line).
pub(crate) fn print_interval(n: usize, i: &Interval, hz: u64) {
    let rate = |d| per_second(d, i.cycles, hz);
    let moved = |c: &&(ClientSummary, u64, u64, u64)| c.1 > 0 || c.2 > 0;
    let idle = i.clients.len() - i.clients.iter().filter(moved).count();
    println!(
        "{n:>4} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  (all: {} clients, {idle} idle, {} new)",
        i.free,
        rate(i.faults),
        rate(i.large_faults),
        rate(i.pages_in),
        rate(i.pages_out),
        "-",
        i.clients.len() + i.new_clients,
        i.new_clients,
    );
    for (c, faults, reads, large) in i.clients.iter().filter(moved) {
        println!(
            "{n:>4} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {} ({})",
            "-",
            rate(*faults),
            rate(*large),
            rate(*reads),
            "-",
            c.resident_pages,
            c.name.as_str(),
            c.client
        );
    }
}
