//! S3-FIFO (Yang et al., SOSP 2023): a small probation FIFO, a main FIFO with a 2-bit use count and reinsertion, and a bounded ghost FIFO, on emulated reference bits.
//!
//! # The paper's algorithm
//!
//! New pages enter the small FIFO `S` (10% of the frames) unless their
//! key is in the ghost FIFO `G`, in which case they enter the main FIFO
//! `M`. Each page has a frequency counter capped at 3, raised by every
//! hit. When `S` is at its size, its oldest page moves to `M` if it was
//! hit while in `S`, else it is evicted and its key enters `G` (which
//! holds as many keys as `M` holds pages). `M` evicts its oldest page if
//! its counter is 0, else reinserts it with the counter lowered by one.
//! One-hit wonders thus leave after a short stay in `S`, without ever
//! touching `M`.
//!
//! # Frequency from emulated reference bits
//!
//! The pager never sees a hit on a mapped page. It sees a *reading*
//! (`PolicyHost::test_and_clear_referenced` during a scan, which unmaps
//! the page) and a *reference fault* (`referenced(f)`: the first access
//! after such a reading). So at most one use per interval between two
//! readings of a page is visible, and the mapping is:
//!
//! * **A use** is a reading that finds the bit set, or a reference fault
//!   reported since the previous reading; both in one interval count
//!   once.
//! * **The fault's own bit is not a use.** A page is mapped by the fault
//!   that brings it in, so its first reading always finds the bit set.
//!   That reading only clears it and sends the page round its queue once
//!   more (a *learning lap*); the paper's "hit while in `S`" window is
//!   the second lap. Without this lap the first reading would be the
//!   only one before eviction, and a page used a thousand times would
//!   look like a page used once.
//! * **The counter counts laps with a use.** A lap through `M` with a
//!   use raises the counter (capped at 3) and reinserts the page; a lap
//!   without one lowers it and reinserts, or evicts at 0. The paper's
//!   "k hits in a lap" cannot be told from one hit, so a page used in
//!   three consecutive laps survives three idle laps, where the paper
//!   gives that to a page hit three times in one lap.
//! * **Moving from `S` to `M` clears the counter**, as in the paper.
//!
//! The ghost FIFO is a ring of `M`'s size plus a map from key to ring
//! slot, both allocated at construction: no workload makes it allocate.
//!
//! Hot and cold (`hot_cold`): `M` is hot, `S` is cold. `deactivate`
//! puts a page at the head of `S` with a stale bit (its next reading is
//! not a use), and the scan takes such a page first.

use super::queues::Queues;
use super::{FrameId, NextReading, PageKey, PolicyHost, PolicyStats, ReplacementPolicy};
use alloc::vec;
use alloc::vec::Vec;
use hashbrown::HashMap;

const SMALL: usize = 0;
const MAIN: usize = 1;
const FREQ_MAX: u8 = 3;

/// A FIFO set of page keys with a fixed capacity: a ring of keys and a
/// map from key to ring slot, both sized at construction. A key taken
/// out early leaves its ring slot stale until the ring overwrites it.
#[derive(Clone, Debug)]
pub(super) struct GhostRing {
    ring: Vec<PageKey>,
    slot_of: HashMap<PageKey, u32>,
    next: u32,
}

impl GhostRing {
    pub(super) fn new(cap: u32) -> Self {
        GhostRing {
            ring: vec![PageKey(0); cap as usize],
            // Twice the most entries ever held, so that hashbrown's
            // tombstone clean-up rehashes in place instead of growing.
            slot_of: HashMap::with_capacity(2 * cap as usize),
            next: 0,
        }
    }

    pub(super) fn push(&mut self, k: PageKey) {
        if self.ring.is_empty() {
            return;
        }
        let slot = self.next;
        let old = self.ring[slot as usize];
        if self.slot_of.get(&old) == Some(&slot) {
            self.slot_of.remove(&old);
        }
        self.ring[slot as usize] = k;
        self.slot_of.insert(k, slot);
        self.next = (slot + 1) % self.ring.len() as u32;
    }

    pub(super) fn take(&mut self, k: PageKey) -> bool {
        self.slot_of.remove(&k).is_some()
    }

    pub(super) fn len(&self) -> usize {
        self.slot_of.len()
    }

    /// Entries the map can hold without allocating (tests).
    #[cfg(test)]
    pub(super) fn map_capacity(&self) -> usize {
        self.slot_of.capacity()
    }
}

/// S3-FIFO over emulated reference bits (see the module docs).
#[derive(Clone, Debug)]
pub struct S3FifoPolicy {
    q: Queues<2>,
    keys: Vec<PageKey>,
    freq: Vec<u8>,
    next_reading: Vec<NextReading>,
    /// A reference fault was reported since the last reading.
    faulted: Vec<bool>,
    pub(super) ghosts: GhostRing,
    small_target: u32,
    stats: PolicyStats,
}

impl S3FifoPolicy {
    /// S3-FIFO over frames `0..frames` with the paper's sizes: `S` holds
    /// 10% of the frames (at least 1), `G` as many keys as `M` frames.
    pub fn new(frames: u32) -> Self {
        let small = (frames / 10).max(1);
        Self::with_sizes(frames, small, frames.saturating_sub(small))
    }

    /// S3-FIFO with an explicit `S` size (frames) and ghost capacity (keys).
    pub fn with_sizes(frames: u32, small: u32, ghosts: u32) -> Self {
        let n = frames as usize;
        S3FifoPolicy {
            q: Queues::new(frames),
            keys: vec![PageKey(0); n],
            freq: vec![0; n],
            next_reading: vec![NextReading::Fault; n],
            faulted: vec![false; n],
            ghosts: GhostRing::new(ghosts),
            small_target: small.max(1),
            stats: PolicyStats::default(),
        }
    }

    /// Lengths of `S` and `M`, and keys in `G`.
    pub fn populations(&self) -> (u32, u32, u32) {
        (
            self.q.len[SMALL],
            self.q.len[MAIN],
            self.ghosts.len() as u32,
        )
    }

    /// Reads and clears `f`'s bit; whether that shows a use (see the
    /// module docs).
    fn read_use(&mut self, host: &mut dyn PolicyHost, f: FrameId) -> bool {
        let bit = host.test_and_clear_referenced(f);
        let faulted = core::mem::take(&mut self.faulted[f as usize]);
        match core::mem::replace(&mut self.next_reading[f as usize], NextReading::Use) {
            NextReading::Use => bit || faulted,
            NextReading::Fault | NextReading::Stale => faulted,
        }
    }

    /// Whether `f`'s next reading would only clear the fault's own bit.
    fn learning(&self, f: FrameId) -> bool {
        self.next_reading[f as usize] == NextReading::Fault && !self.faulted[f as usize]
    }

    /// One step at the head of `S`: a victim, or `None` after requeueing
    /// or promoting the page.
    fn step_small(&mut self, host: &mut dyn PolicyHost) -> Option<FrameId> {
        let f = self.q.pop_head(SMALL)?;
        self.stats.scanned += 1;
        if !host.evictable(f) {
            self.q.push_tail(SMALL, f);
            return None;
        }
        if self.learning(f) {
            self.read_use(host, f);
            self.q.push_tail(SMALL, f);
            return None;
        }
        if self.read_use(host, f) {
            self.freq[f as usize] = 0;
            self.q.push_tail(MAIN, f);
            self.stats.reactivated += 1;
            return None;
        }
        self.ghosts.push(self.keys[f as usize]);
        Some(f)
    }

    /// One step at the head of `M`: a victim, or `None` after reinserting.
    fn step_main(&mut self, host: &mut dyn PolicyHost) -> Option<FrameId> {
        let f = self.q.pop_head(MAIN)?;
        self.stats.scanned += 1;
        if !host.evictable(f) {
            self.q.push_tail(MAIN, f);
            return None;
        }
        if self.learning(f) {
            self.read_use(host, f);
            self.q.push_tail(MAIN, f);
            return None;
        }
        let used = self.read_use(host, f);
        let freq = &mut self.freq[f as usize];
        if used {
            *freq = (*freq + 1).min(FREQ_MAX);
        } else if *freq > 0 {
            *freq -= 1;
        } else {
            return Some(f);
        }
        self.q.push_tail(MAIN, f);
        None
    }

    /// Whether the head of `S` is a page the VM hinted away.
    fn small_head_stale(&self) -> bool {
        self.q
            .head_of(SMALL)
            .is_some_and(|f| self.next_reading[f as usize] == NextReading::Stale)
    }
}

impl ReplacementPolicy for S3FifoPolicy {
    fn name(&self) -> &'static str {
        "s3-fifo"
    }

    fn resident(&self) -> u32 {
        self.q.total()
    }

    fn insert(&mut self, f: FrameId, key: PageKey) {
        let i = f as usize;
        self.keys[i] = key;
        self.freq[i] = 0;
        self.next_reading[i] = NextReading::Fault;
        self.faulted[i] = false;
        if self.ghosts.take(key) {
            self.q.push_tail(MAIN, f);
            self.stats.reactivated += 1;
        } else {
            self.q.push_tail(SMALL, f);
        }
    }

    fn referenced(&mut self, f: FrameId) {
        if self.q.queue_of(f).is_some() {
            // The bit was cleared and the page used since: whatever the
            // next reading was to mean, this is a use.
            self.faulted[f as usize] = true;
            self.next_reading[f as usize] = NextReading::Use;
        }
    }

    fn remove(&mut self, f: FrameId) {
        self.q
            .remove(f)
            .expect("policy: removing an untracked frame");
    }

    fn replace(&mut self, old: FrameId, new: FrameId, _key: PageKey) {
        self.q.replace(old, new);
        let (o, n) = (old as usize, new as usize);
        self.keys[n] = self.keys[o];
        self.freq[n] = self.freq[o];
        self.next_reading[n] = self.next_reading[o];
        self.faulted[n] = self.faulted[o];
    }

    fn select_victims(
        &mut self,
        want: u32,
        host: &mut dyn PolicyHost,
        out: &mut Vec<FrameId>,
    ) -> u32 {
        let mut got = 0;
        // Bounds: a page is seen at most twice in `S` (learning lap,
        // decision) and six times in `M` (learning lap, a use, three
        // decrements, eviction); a page promoted during the scan brings
        // its six to `M`'s budget.
        let mut small_budget = 2 * self.q.len[SMALL] + 1;
        let mut main_budget = 6 * self.q.len[MAIN] + 1;
        while got < want {
            let can_small = self.q.len[SMALL] > 0 && small_budget > 0;
            let can_main = self.q.len[MAIN] > 0 && main_budget > 0;
            let victim = if can_small
                && (!can_main || self.q.len[SMALL] >= self.small_target || self.small_head_stale())
            {
                small_budget -= 1;
                let main_before = self.q.len[MAIN];
                let victim = self.step_small(host);
                if self.q.len[MAIN] > main_before {
                    main_budget += 6;
                }
                victim
            } else if can_main {
                main_budget -= 1;
                self.step_main(host)
            } else {
                break;
            };
            if let Some(f) = victim {
                out.push(f);
                got += 1;
                self.stats.victims += 1;
            }
        }
        got
    }

    fn stats(&self) -> PolicyStats {
        self.stats
    }

    fn deactivate(&mut self, f: FrameId) {
        if self.q.remove(f).is_some() {
            self.freq[f as usize] = 0;
            self.faulted[f as usize] = false;
            self.next_reading[f as usize] = NextReading::Stale;
            self.q.push_head(SMALL, f);
            self.stats.deactivated += 1;
        }
    }

    fn hot_cold(&self) -> (u32, u32) {
        (self.q.len[MAIN], self.q.len[SMALL])
    }
}
