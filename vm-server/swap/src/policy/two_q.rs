//! 2Q (Johnson and Shasha): a FIFO for new pages, a ghost history of evicted ones, and a CLOCK for pages re-used after a while.

use super::queues::Queues;
use super::{FrameId, PageKey, PolicyHost, PolicyStats, ReplacementPolicy};
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use hashbrown::HashMap;

/// A bounded FIFO set of page keys: the ghost history of evicted pages.
/// Entries are `(key, generation)`; a key removed early leaves a stale
/// entry that is skipped when it reaches the front.
#[derive(Clone, Debug, Default)]
pub(super) struct Ghosts {
    pub(super) fifo: VecDeque<(PageKey, u64)>,
    pub(super) live: HashMap<PageKey, u64>,
    pub(super) gen: u64,
    pub(super) cap: usize,
}

impl Ghosts {
    pub(super) fn push(&mut self, k: PageKey) {
        if self.cap == 0 {
            return;
        }
        self.gen += 1;
        self.live.insert(k, self.gen);
        self.fifo.push_back((k, self.gen));
        while self.live.len() > self.cap || self.fifo.len() > 2 * self.cap {
            let (k, g) = self.fifo.pop_front().expect("ghost fifo");
            if self.live.get(&k) == Some(&g) {
                self.live.remove(&k);
            }
        }
    }

    pub(super) fn take(&mut self, k: PageKey) -> bool {
        self.live.remove(&k).is_some()
    }
}

pub(super) const A1IN: usize = 0;
pub(super) const AM: usize = 1;

/// The full 2Q of Johnson and Shasha, with reference bits: a new page
/// enters the FIFO `A1in` (at most `kin` frames); a page evicted from it
/// leaves its key in the ghost FIFO `A1out` (`kout` keys); a page faulted
/// back while its key is in `A1out` was re-used after a while and enters
/// `Am`, which is managed as a CLOCK. A sequential scan thus flows through
/// `A1in` without disturbing the hot set in `Am`.
#[derive(Clone, Debug)]
pub struct TwoQPolicy {
    pub(super) q: Queues<2>,
    pub(super) keys: Vec<PageKey>,
    pub(super) ghosts: Ghosts,
    pub(super) kin: u32,
    /// Pages the VM deactivated: they leave `A1in` first, whatever its
    /// length.
    pub(super) hinted: Vec<bool>,
    pub(super) stats: PolicyStats,
}

impl TwoQPolicy {
    /// 2Q over `frames` with the paper's tuning: `kin` = 25% of the
    /// frames, `kout` = 50%.
    pub fn new(frames: u32) -> Self {
        Self::with_sizes(frames, (frames / 4).max(1), (frames / 2) as usize)
    }

    /// 2Q with explicit `kin` (frames) and `kout` (ghost keys).
    pub fn with_sizes(frames: u32, kin: u32, kout: usize) -> Self {
        TwoQPolicy {
            q: Queues::new(frames),
            keys: vec![PageKey(0); frames as usize],
            ghosts: Ghosts {
                cap: kout,
                ..Ghosts::default()
            },
            kin,
            hinted: vec![false; frames as usize],
            stats: PolicyStats::default(),
        }
    }
}

impl ReplacementPolicy for TwoQPolicy {
    fn name(&self) -> &'static str {
        "2q"
    }

    fn resident(&self) -> u32 {
        self.q.total()
    }

    fn insert(&mut self, f: FrameId, key: PageKey) {
        self.keys[f as usize] = key;
        self.hinted[f as usize] = false;
        if self.ghosts.take(key) {
            self.q.push_tail(AM, f);
            self.stats.reactivated += 1;
        } else {
            self.q.push_tail(A1IN, f);
        }
    }

    fn referenced(&mut self, _f: FrameId) {
        // 2Q ignores hits in A1in (correlated references) and Am reads its
        // reference bits in the CLOCK sweep.
    }

    fn remove(&mut self, f: FrameId) {
        self.q
            .remove(f)
            .expect("policy: removing an untracked frame");
    }

    fn replace(&mut self, old: FrameId, new: FrameId, _key: PageKey) {
        self.q.replace(old, new);
        let (o, n) = (old as usize, new as usize);
        (self.keys[n], self.hinted[n]) = (self.keys[o], self.hinted[o]);
    }

    fn select_victims(
        &mut self,
        want: u32,
        host: &mut dyn PolicyHost,
        out: &mut Vec<FrameId>,
    ) -> u32 {
        let mut got = 0;
        // Bound the work: every frame is looked at most twice in Am (once
        // to clear its bit, once to evict) and once in A1in.
        let mut am_budget = 2 * self.q.len[AM] + 1;
        let mut a1_budget = self.q.len[A1IN];
        while got < want {
            let hinted_head = self
                .q
                .head_of(A1IN)
                .is_some_and(|f| self.hinted[f as usize]);
            let from_a1 = self.q.len[A1IN] > 0
                && a1_budget > 0
                && (self.q.len[A1IN] > self.kin
                    || self.q.len[AM] == 0
                    || am_budget == 0
                    || hinted_head);
            let victim = if from_a1 {
                a1_budget -= 1;
                let f = self.q.pop_head(A1IN).expect("a1in length");
                self.stats.scanned += 1;
                if !host.evictable(f) {
                    self.q.push_tail(A1IN, f);
                    continue;
                }
                // Cleared so that, should the page come back into Am, its
                // bit means "referenced since then"; A1in ignores it.
                host.test_and_clear_referenced(f);
                self.ghosts.push(self.keys[f as usize]);
                f
            } else if self.q.len[AM] > 0 && am_budget > 0 {
                am_budget -= 1;
                let f = self.q.pop_head(AM).expect("am length");
                self.stats.scanned += 1;
                if !host.evictable(f) || host.test_and_clear_referenced(f) {
                    self.q.push_tail(AM, f);
                    continue;
                }
                f
            } else {
                break;
            };
            out.push(victim);
            got += 1;
            self.stats.victims += 1;
        }
        got
    }

    fn stats(&self) -> PolicyStats {
        self.stats
    }

    /// Moves `f` (from `Am` or `A1in`) to the head of `A1in`, the FIFO's
    /// exit, and lets the next scan take it even while `A1in` is within
    /// `kin`. It leaves a ghost like any `A1in` page: coming back soon
    /// is a re-use after all.
    fn deactivate(&mut self, f: FrameId) {
        if self.q.remove(f).is_some() {
            self.hinted[f as usize] = true;
            self.q.push_head(A1IN, f);
            self.stats.deactivated += 1;
        }
    }

    /// Hot is `Am` (pages re-used after leaving `A1in`), cold is `A1in`
    /// (pages seen once, as far as 2Q knows).
    fn hot_cold(&self) -> (u32, u32) {
        (self.q.len[AM], self.q.len[A1IN])
    }
}
