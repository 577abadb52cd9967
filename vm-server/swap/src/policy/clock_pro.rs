//! CLOCK-Pro (Jiang, Chen and Zhang): hot and cold pages on one clock with non-resident test periods, adapting the cold share.

use super::queues::NIL;
use super::{FrameId, NextReading, PageKey, PolicyHost, PolicyStats, ReplacementPolicy};
use alloc::vec;
use alloc::vec::Vec;
use hashbrown::HashMap;

/// What a CLOCK-Pro list node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProKind {
    /// Not on the list.
    Free,
    /// Resident hot page.
    Hot,
    /// Resident cold page out of its test period.
    Cold,
    /// Resident cold page in its test period.
    ColdTest,
    /// Non-resident cold page still in its test period (a ghost).
    Ghost,
}

/// CLOCK-Pro (Jiang, Chen and Zhang, USENIX 2005), the CLOCK variant of
/// LIRS, built for reference bits rather than per-access hooks.
///
/// One circular list holds hot pages, resident cold pages and non-resident
/// cold pages whose *test period* is still running; three hands sweep it.
/// `hand_cold` evicts resident cold pages: a referenced cold page in its
/// test period turns hot, a referenced one out of it starts a test period,
/// an unreferenced one is evicted (leaving a ghost if it was in its test
/// period). A fault on a ghost means the page was re-used within its test
/// period: it enters hot, and the cold allocation `m_c` grows. `hand_hot`
/// demotes unreferenced hot pages to cold while hot pages exceed
/// `frames - m_c`, ending the test periods it passes (a ghost dropped this
/// way shrinks `m_c`); `hand_test` keeps ghosts to at most `frames`.
///
/// The fault that brings a page in is not a re-reference (the paper
/// inserts pages with the bit clear), but on emulated bits it leaves the
/// bit set, and accesses while mapped are invisible. So the first reading
/// of a new page only clears its bit and the hand moves on (a *learning
/// lap*); the page is judged at the next reading, by then its bit
/// shows a use since the clearing. (Ignoring the first reading and
/// judging the page at once, as an earlier version did, made every page
/// look unused at its only reading before eviction: CLOCK-Pro was FIFO on
/// a hot set that stays mapped, see `docs/policies.md`.)
///
/// Hot and cold (`hot_cold`) are the paper's: hot pages, and resident
/// cold pages (in their test period or not). `deactivate` makes a page
/// cold out of its test period with a stale bit and puts it where
/// `hand_cold` looks next.
#[derive(Clone, Debug)]
pub struct ClockProPolicy {
    pub(super) frames: u32,
    /// Nodes `0..frames` are the frames, `frames..2 frames` ghosts.
    pub(super) prev: Vec<u32>,
    pub(super) next: Vec<u32>,
    pub(super) kind: Vec<ProKind>,
    pub(super) key: Vec<PageKey>,
    /// What each frame's next reference-bit reading means.
    pub(super) next_reading: Vec<NextReading>,
    pub(super) ghost_of: HashMap<PageKey, u32>,
    pub(super) free_ghosts: Vec<u32>,
    pub(super) hand_hot: u32,
    pub(super) hand_cold: u32,
    pub(super) hand_test: u32,
    pub(super) len: u32,
    pub(super) hot: u32,
    pub(super) cold: u32,
    /// `m_c`: the adaptive target for resident cold pages.
    pub(super) cold_target: u32,
    pub(super) stats: PolicyStats,
}

impl ClockProPolicy {
    /// CLOCK-Pro over frames `0..frames`, `m_c` starting at 1% (≥ 1).
    pub fn new(frames: u32) -> Self {
        let n = 2 * frames as usize;
        ClockProPolicy {
            frames,
            prev: vec![NIL; n],
            next: vec![NIL; n],
            kind: vec![ProKind::Free; n],
            key: vec![PageKey(0); n],
            next_reading: vec![NextReading::Use; frames as usize],
            ghost_of: HashMap::new(),
            free_ghosts: (frames..2 * frames).rev().collect(),
            hand_hot: NIL,
            hand_cold: NIL,
            hand_test: NIL,
            len: 0,
            hot: 0,
            cold: 0,
            cold_target: (frames / 100).max(1),
            stats: PolicyStats::default(),
        }
    }

    /// Hot and resident cold pages, ghosts, and the cold target `m_c`.
    pub fn populations(&self) -> (u32, u32, u32, u32) {
        (
            self.hot,
            self.cold,
            self.ghost_of.len() as u32,
            self.cold_target,
        )
    }

    /// Links `n` at the list head: just behind `hand_hot`, so it is the
    /// last page that hand reaches.
    fn link_head(&mut self, n: u32) {
        self.link_before(self.hand_hot, n);
    }

    /// Links `n` just before node `at` (`NIL`: into the empty ring).
    fn link_before(&mut self, at: u32, n: u32) {
        if at == NIL {
            self.prev[n as usize] = n;
            self.next[n as usize] = n;
            self.hand_hot = n;
            self.hand_cold = n;
            self.hand_test = n;
        } else {
            let p = self.prev[at as usize];
            self.prev[n as usize] = p;
            self.next[n as usize] = at;
            self.next[p as usize] = n;
            self.prev[at as usize] = n;
        }
        self.len += 1;
    }

    /// Unlinks `n`, moving any hand on it to its successor.
    fn unlink(&mut self, n: u32) {
        let (p, x) = (self.prev[n as usize], self.next[n as usize]);
        let succ = if x == n { NIL } else { x };
        for h in [&mut self.hand_hot, &mut self.hand_cold, &mut self.hand_test] {
            if *h == n {
                *h = succ;
            }
        }
        if succ != NIL {
            self.next[p as usize] = x;
            self.prev[x as usize] = p;
        }
        self.len -= 1;
    }

    fn move_to_head(&mut self, n: u32) {
        self.unlink(n);
        self.link_head(n);
    }

    fn drop_ghost(&mut self, g: u32) {
        self.unlink(g);
        self.ghost_of.remove(&self.key[g as usize]);
        self.kind[g as usize] = ProKind::Free;
        self.free_ghosts.push(g);
    }

    /// Reads and clears `f`'s reference bit: whether it shows a use.
    fn test_ref(&mut self, host: &mut dyn PolicyHost, f: u32) -> bool {
        let r = host.test_and_clear_referenced(f);
        let meaning = core::mem::replace(&mut self.next_reading[f as usize], NextReading::Use);
        meaning == NextReading::Use && r
    }

    /// A learning lap: if `f`'s bit still holds its fault, clears it and
    /// returns true (the hand moves on without judging the page).
    fn learning_lap(&mut self, host: &mut dyn PolicyHost, f: u32) -> bool {
        if self.next_reading[f as usize] != NextReading::Fault {
            return false;
        }
        host.test_and_clear_referenced(f);
        self.next_reading[f as usize] = NextReading::Use;
        true
    }

    /// Runs `hand_hot` until it demotes one hot page; false if it could
    /// not (no hot page, or every one referenced twice over).
    fn run_hand_hot(&mut self, host: &mut dyn PolicyHost) -> bool {
        // Three laps: a learning lap, one to clear bits, one to demote.
        let mut budget = 3 * self.len + 1;
        while self.hot > 0 && budget > 0 {
            budget -= 1;
            let n = self.hand_hot;
            self.hand_hot = self.next[n as usize];
            self.stats.scanned += 1;
            match self.kind[n as usize] {
                ProKind::Hot => {
                    if !self.learning_lap(host, n) && !self.test_ref(host, n) {
                        self.kind[n as usize] = ProKind::Cold;
                        self.hot -= 1;
                        self.cold += 1;
                        self.stats.deactivated += 1;
                        return true;
                    }
                }
                ProKind::ColdTest => self.kind[n as usize] = ProKind::Cold,
                ProKind::Ghost => {
                    // The test period ended without a re-use.
                    self.drop_ghost(n);
                    self.cold_target = self.cold_target.saturating_sub(1).max(1);
                }
                ProKind::Cold | ProKind::Free => {}
            }
        }
        false
    }

    /// Runs `hand_test` until it drops one ghost.
    fn run_hand_test(&mut self) {
        let mut budget = self.len;
        while budget > 0 && self.hand_test != NIL {
            budget -= 1;
            let n = self.hand_test;
            self.hand_test = self.next[n as usize];
            match self.kind[n as usize] {
                ProKind::ColdTest => self.kind[n as usize] = ProKind::Cold,
                ProKind::Ghost => {
                    self.drop_ghost(n);
                    self.cold_target = self.cold_target.saturating_sub(1).max(1);
                    return;
                }
                _ => {}
            }
        }
    }

    /// Runs `hand_cold` until it evicts one resident cold page.
    fn run_hand_cold(&mut self, host: &mut dyn PolicyHost) -> Option<FrameId> {
        let mut budget = 3 * self.len + 1;
        while self.cold > 0 && budget > 0 {
            budget -= 1;
            let n = self.hand_cold;
            self.hand_cold = self.next[n as usize];
            let k = self.kind[n as usize];
            if !matches!(k, ProKind::Cold | ProKind::ColdTest) {
                continue;
            }
            self.stats.scanned += 1;
            if !host.evictable(n) || self.learning_lap(host, n) {
                continue;
            }
            if self.test_ref(host, n) {
                if k == ProKind::ColdTest {
                    self.kind[n as usize] = ProKind::Hot;
                    self.cold -= 1;
                    self.hot += 1;
                    self.stats.reactivated += 1;
                } else {
                    self.kind[n as usize] = ProKind::ColdTest;
                }
                self.move_to_head(n);
                continue;
            }
            if k == ProKind::ColdTest {
                // Leave a ghost in the page's place for the rest of its
                // test period.
                if self.free_ghosts.is_empty() {
                    self.run_hand_test();
                }
                if let Some(g) = self.free_ghosts.pop() {
                    let key = self.key[n as usize];
                    self.key[g as usize] = key;
                    self.kind[g as usize] = ProKind::Ghost;
                    // Link g right before n, then drop n.
                    let p = self.prev[n as usize];
                    self.prev[g as usize] = p;
                    self.next[g as usize] = n;
                    self.next[p as usize] = g;
                    self.prev[n as usize] = g;
                    self.len += 1;
                    if let Some(old) = self.ghost_of.insert(key, g) {
                        // A key has one ghost at most: the older goes.
                        self.unlink(old);
                        self.kind[old as usize] = ProKind::Free;
                        self.free_ghosts.push(old);
                    }
                }
            }
            self.unlink(n);
            self.kind[n as usize] = ProKind::Free;
            self.cold -= 1;
            self.stats.victims += 1;
            return Some(n);
        }
        None
    }
}

impl ClockProPolicy {
    /// Checks the ring, the hands and the populations (tests, debug).
    pub fn check(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        let mut counts = [0u32; 5];
        let mut n = self.hand_hot;
        let mut steps = 0;
        let mut hands = [false; 3];
        while n != NIL {
            let x = self.next[n as usize];
            if self.prev[x as usize] != n {
                return Err(format!("node {n}: next's prev is not it"));
            }
            counts[self.kind[n as usize] as usize] += 1;
            for (i, h) in [self.hand_hot, self.hand_cold, self.hand_test]
                .iter()
                .enumerate()
            {
                hands[i] |= *h == n;
            }
            steps += 1;
            if steps > self.len || x == self.hand_hot {
                break;
            }
            n = x;
        }
        if steps != self.len || (self.len > 0 && hands != [true; 3]) {
            return Err(format!(
                "ring of {steps} nodes, len {}, hands {hands:?}",
                self.len
            ));
        }
        let [free, hot, cold, test, ghost] = counts;
        if free != 0
            || hot != self.hot
            || cold + test != self.cold
            || ghost as usize != self.ghost_of.len()
            || ghost as usize + self.free_ghosts.len() != self.frames as usize
        {
            return Err(format!(
                "populations {counts:?} vs hot {} cold {}",
                self.hot, self.cold
            ));
        }
        if self.cold_target == 0 || self.cold_target > self.frames.max(1) {
            return Err(format!("m_c {} out of range", self.cold_target));
        }
        Ok(())
    }
}

impl ReplacementPolicy for ClockProPolicy {
    fn name(&self) -> &'static str {
        "clock-pro"
    }

    fn resident(&self) -> u32 {
        self.hot + self.cold
    }

    fn insert(&mut self, f: FrameId, key: PageKey) {
        assert!(
            self.kind[f as usize] == ProKind::Free,
            "frame {f} already tracked"
        );
        self.key[f as usize] = key;
        if let Some(g) = self.ghost_of.remove(&key) {
            // Re-used within its test period: hot, and cold pages deserve
            // more room.
            self.unlink(g);
            self.kind[g as usize] = ProKind::Free;
            self.free_ghosts.push(g);
            self.cold_target = (self.cold_target + 1).min(self.frames.saturating_sub(1).max(1));
            self.kind[f as usize] = ProKind::Hot;
            self.hot += 1;
            self.stats.reactivated += 1;
        } else {
            self.kind[f as usize] = ProKind::ColdTest;
            self.cold += 1;
        }
        self.next_reading[f as usize] = NextReading::Fault;
        self.link_head(f);
    }

    fn referenced(&mut self, f: FrameId) {
        // The hands read the bits; a reference fault only says that the
        // bit now records a real use, whatever it meant before.
        if matches!(
            self.kind[f as usize],
            ProKind::Hot | ProKind::Cold | ProKind::ColdTest
        ) {
            self.next_reading[f as usize] = NextReading::Use;
        }
    }

    fn remove(&mut self, f: FrameId) {
        match self.kind[f as usize] {
            ProKind::Hot => self.hot -= 1,
            ProKind::Cold | ProKind::ColdTest => self.cold -= 1,
            _ => panic!("policy: removing an untracked frame"),
        }
        self.unlink(f);
        self.kind[f as usize] = ProKind::Free;
    }

    fn select_victims(
        &mut self,
        want: u32,
        host: &mut dyn PolicyHost,
        out: &mut Vec<FrameId>,
    ) -> u32 {
        let mut got = 0;
        while got < want {
            // Hot pages over their share `frames - m_c` are demoted first,
            // so there is a cold page to evict.
            while self.hot > self.frames - self.cold_target.min(self.frames) || self.cold == 0 {
                if !self.run_hand_hot(host) {
                    break;
                }
            }
            match self.run_hand_cold(host) {
                Some(f) => {
                    out.push(f);
                    got += 1;
                }
                // Every cold page was busy or just referenced: demote hot
                // pages one at a time until a cold one can go, or give up
                // when no hot page is left to demote.
                None => {
                    let mut found = None;
                    while found.is_none() && self.run_hand_hot(host) {
                        found = self.run_hand_cold(host);
                    }
                    match found {
                        Some(f) => {
                            out.push(f);
                            got += 1;
                        }
                        None => break,
                    }
                }
            }
            while self.ghost_of.len() as u32 > self.frames {
                self.run_hand_test();
            }
        }
        got
    }

    fn stats(&self) -> PolicyStats {
        self.stats
    }

    fn deactivate(&mut self, f: FrameId) {
        match self.kind[f as usize] {
            ProKind::Hot => {
                self.hot -= 1;
                self.cold += 1;
            }
            ProKind::Cold | ProKind::ColdTest => {}
            ProKind::Free | ProKind::Ghost => return,
        }
        // Out of its test period, so its eviction leaves no ghost.
        self.kind[f as usize] = ProKind::Cold;
        self.next_reading[f as usize] = NextReading::Stale;
        self.unlink(f);
        self.link_before(self.hand_cold, f);
        self.hand_cold = f;
        self.stats.deactivated += 1;
    }

    fn hot_cold(&self) -> (u32, u32) {
        (self.hot, self.cold)
    }
}
