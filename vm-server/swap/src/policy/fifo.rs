//! First in, first out: the baseline policy.

use super::queues::Queues;
use super::{FrameId, PageKey, PolicyHost, PolicyStats, ReplacementPolicy};
use alloc::vec::Vec;

/// First in, first out: evicts in insertion order and ignores references.
/// A baseline, and the policy of the Belady-anomaly test.
#[derive(Clone, Debug)]
pub struct FifoPolicy {
    pub(super) q: Queues<1>,
    pub(super) stats: PolicyStats,
}

impl FifoPolicy {
    /// FIFO over frames `0..frames`.
    pub fn new(frames: u32) -> Self {
        FifoPolicy {
            q: Queues::new(frames),
            stats: PolicyStats::default(),
        }
    }
}

impl ReplacementPolicy for FifoPolicy {
    fn name(&self) -> &'static str {
        "fifo"
    }

    fn resident(&self) -> u32 {
        self.q.total()
    }

    fn insert(&mut self, f: FrameId, _key: PageKey) {
        self.q.push_tail(0, f);
    }

    fn referenced(&mut self, _f: FrameId) {}

    fn remove(&mut self, f: FrameId) {
        self.q
            .remove(f)
            .expect("policy: removing an untracked frame");
    }

    fn replace(&mut self, old: FrameId, new: FrameId, _key: PageKey) {
        self.q.replace(old, new);
    }

    fn select_victims(
        &mut self,
        want: u32,
        host: &mut dyn PolicyHost,
        out: &mut Vec<FrameId>,
    ) -> u32 {
        let mut got = 0;
        let mut scan = self.q.len[0];
        while got < want && scan > 0 {
            scan -= 1;
            let f = self.q.pop_head(0).expect("fifo length");
            self.stats.scanned += 1;
            if host.evictable(f) {
                out.push(f);
                got += 1;
                self.stats.victims += 1;
            } else {
                self.q.push_tail(0, f);
            }
        }
        got
    }

    fn stats(&self) -> PolicyStats {
        self.stats
    }

    /// Moves `f` to the head: it is the next to go.
    fn deactivate(&mut self, f: FrameId) {
        if self.q.remove(f).is_some() {
            self.q.push_head(0, f);
            self.stats.deactivated += 1;
        }
    }

    /// FIFO protects nothing from eviction by use, so every page is
    /// cold: none is hot.
    fn hot_cold(&self) -> (u32, u32) {
        (0, self.q.total())
    }
}
