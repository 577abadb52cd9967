//! BSD's active/inactive CLOCK (`vm_pageout.c`'s two queues with reference bits), the default policy.

use super::queues::Queues;
use super::{FrameId, PageKey, PolicyHost, PolicyStats, ReplacementPolicy};
use alloc::vec::Vec;

/// Tunables of [`ClockPolicy`], with DragonFly's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockConfig {
    /// Activity count of a newly activated page (`ACT_INIT`).
    pub act_init: u8,
    /// Added when a scan finds the page referenced (`ACT_ADVANCE`).
    pub act_advance: u8,
    /// Subtracted when it does not (`ACT_DECLINE`).
    pub act_decline: u8,
    /// Cap (`ACT_MAX`).
    pub act_max: u8,
    /// Inactive queue target as a percentage of tracked frames.
    pub inactive_pct: u8,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            act_init: 5,
            act_advance: 3,
            act_decline: 1,
            act_max: 64,
            inactive_pct: 33,
        }
    }
}

pub(super) const ACTIVE: usize = 0;
pub(super) const INACTIVE: usize = 1;

/// BSD's two-queue CLOCK (`vm_pageout_scan_active`/`_inactive`): new pages
/// enter the active queue with an activity count; the active scan raises
/// the count of referenced pages and lowers the others', deactivating at
/// zero; the inactive scan reactivates referenced pages and evicts the
/// rest. A reference fault on an inactive page reactivates it at once (as
/// `vm_fault` activates the page it resolves).
#[derive(Clone, Debug)]
pub struct ClockPolicy {
    pub(super) cfg: ClockConfig,
    /// The queues, each frame's activity count its mark.
    pub(super) q: Queues<2>,
    pub(super) stats: PolicyStats,
}

impl ClockPolicy {
    /// A policy for frames `0..frames` with default tunables.
    pub fn new(frames: u32) -> Self {
        Self::with_config(frames, ClockConfig::default())
    }

    /// A policy with explicit tunables.
    pub fn with_config(frames: u32, cfg: ClockConfig) -> Self {
        ClockPolicy {
            cfg,
            q: Queues::new(frames),
            stats: PolicyStats::default(),
        }
    }

    /// Active and inactive queue lengths.
    pub fn queue_lengths(&self) -> (u32, u32) {
        (self.q.len[ACTIVE], self.q.len[INACTIVE])
    }

    fn advance(&mut self, f: FrameId) {
        let a = self.q.mark(f);
        self.q.set_mark(
            f,
            a.saturating_add(self.cfg.act_advance).min(self.cfg.act_max),
        );
    }
}

impl ReplacementPolicy for ClockPolicy {
    fn name(&self) -> &'static str {
        "clock"
    }

    fn resident(&self) -> u32 {
        self.q.total()
    }

    fn insert(&mut self, f: FrameId, _key: PageKey) {
        self.q.set_mark(f, self.cfg.act_init);
        self.q.push_tail(ACTIVE, f);
    }

    fn referenced(&mut self, f: FrameId) {
        match self.q.queue_of(f) {
            Some(INACTIVE) => {
                self.q.remove(f);
                self.q.set_mark(f, self.q.mark(f).max(self.cfg.act_init));
                self.q.push_tail(ACTIVE, f);
                self.stats.reactivated += 1;
            }
            Some(_) => self.advance(f),
            None => {}
        }
    }

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
        // Each round lowers every unreferenced active count by at least
        // `act_decline`, so after act_max/act_decline rounds without a
        // victim everything left is referenced or unevictable: give up.
        let max_rounds = u32::from(self.cfg.act_max / self.cfg.act_decline.max(1)) + 2;
        for _ in 0..max_rounds {
            // Inactive scan: one pass at most.
            let mut scan = self.q.len[INACTIVE];
            let mut skipped = 0;
            while scan > 0 && got < want {
                scan -= 1;
                let f = self.q.pop_head(INACTIVE).expect("inactive length");
                self.stats.scanned += 1;
                if !host.evictable(f) {
                    skipped += 1;
                    self.q.push_tail(INACTIVE, f);
                } else if host.test_and_clear_referenced(f) {
                    self.advance(f);
                    self.q.push_tail(ACTIVE, f);
                    self.stats.reactivated += 1;
                } else {
                    out.push(f);
                    got += 1;
                    self.stats.victims += 1;
                }
            }
            if got >= want || self.q.total() == 0 {
                break;
            }
            // Active scan: deactivate until the inactive queue reaches its
            // target plus the shortfall; inactive pages that could not be
            // evicted (wired, busy) do not count towards it.
            let target =
                self.q.total() * u32::from(self.cfg.inactive_pct) / 100 + (want - got) + skipped;
            let mut scan = self.q.len[ACTIVE];
            while scan > 0 && self.q.len[INACTIVE] < target {
                scan -= 1;
                let f = self.q.pop_head(ACTIVE).expect("active length");
                self.stats.scanned += 1;
                if host.test_and_clear_referenced(f) {
                    self.advance(f);
                    self.q.push_tail(ACTIVE, f);
                    continue;
                }
                let a = self.q.mark(f).saturating_sub(self.cfg.act_decline);
                self.q.set_mark(f, a);
                if a == 0 {
                    self.q.push_tail(INACTIVE, f);
                    self.stats.deactivated += 1;
                } else {
                    self.q.push_tail(ACTIVE, f);
                }
            }
        }
        got
    }

    fn stats(&self) -> PolicyStats {
        self.stats
    }

    fn deactivate(&mut self, f: FrameId) {
        if self.q.queue_of(f) == Some(ACTIVE) {
            self.q.remove(f);
            self.q.set_mark(f, 0);
            self.q.push_tail(INACTIVE, f);
            self.stats.deactivated += 1;
        }
    }

    fn hot_cold(&self) -> (u32, u32) {
        self.queue_lengths()
    }
}
