//! Rounds of a measurement, each against the floor measured just before
//! it: the per-round ratios `cargo qemu bench` reads (`BENCH-ROUNDS`), for
//! the fault rows (`crate::interleaved`) and the swap phase (`swap`).

use crate::median;
use alloc::vec::Vec;
use vm_client::println;

/// Per round, the operation's value against the floor measured just
/// before it: the ratios in thousandths and the floors. A round whose
/// floor failed is counted missing, and then `print` gives no ratios.
#[derive(Default)]
pub(crate) struct Rounds {
    ratios: Vec<u64>,
    floors: Vec<u64>,
    missing: u64,
    /// The rounds [`Rounds::start`] opened: each one's floor and first
    /// sample.
    opened: Vec<(Option<u64>, usize)>,
}

impl Rounds {
    pub(crate) fn add(&mut self, value: u64, floor: Option<u64>) {
        match floor.filter(|&f| f > 0) {
            Some(f) => {
                self.ratios.push(value * 1000 / f);
                self.floors.push(f);
            }
            None => self.missing += 1,
        }
    }

    /// Opens a round of cycle samples from `samples[first..]` on; it ends
    /// where the next one starts.
    pub(crate) fn start(&mut self, floor: Option<u64>, first: usize) {
        self.opened.push((floor, first));
    }

    /// Closes the rounds `start` opened: each round's median sample
    /// against its floor. A round without a sample is left out.
    pub(crate) fn end_cycles(&mut self, samples: &[u64]) {
        let opened = core::mem::take(&mut self.opened);
        for (k, &(floor, first)) in opened.iter().enumerate() {
            let end = opened.get(k + 1).map_or(samples.len(), |&(_, e)| e);
            let mut round = samples[first..end].to_vec();
            if !round.is_empty() {
                self.add(median(&mut round), floor);
            }
        }
    }

    /// `BENCH-ROUNDS name floor rounds median min max floor-median`, the
    /// floors' median divided by `unit` (KB/s to MB/s: 1000).
    pub(crate) fn print(&mut self, name: &str, floor: &str, unit: u64) {
        if self.ratios.is_empty() || self.missing > 0 {
            println!(
                "bench-fault: {name}: {} of {} floor rounds failed; no ratios by round",
                self.missing,
                self.missing + self.ratios.len() as u64
            );
            return;
        }
        let m = median(&mut self.ratios);
        println!(
            "BENCH-ROUNDS {name} {floor} {} {m} {} {} {}",
            self.ratios.len(),
            self.ratios[0],
            self.ratios[self.ratios.len() - 1],
            median(&mut self.floors) / unit
        );
    }

    /// The floors' median (0 without any).
    pub(crate) fn floor_median(&mut self) -> u64 {
        if self.floors.is_empty() {
            0
        } else {
            median(&mut self.floors)
        }
    }
}
