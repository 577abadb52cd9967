//! Belady's OPT (MIN) under the replay's own counting rules: the fewest faults and page-ins any demand-paging policy can get on a trace with a given number of frames.
//!
//! The rules are [`crate::trace::replay`]'s: a fault on a page never seen
//! (or seen only before a [`TraceOp::Free`] of it) is a *cold* fault,
//! which no policy avoids; a fault on a page evicted before is a
//! *page-in*; a free releases the page's frame. MIN evicts, when a fault
//! finds every frame in use, the resident page whose next access is the
//! farthest away, counting a page that is freed (or never touched) again
//! before its next access as never used. That choice minimises faults
//! (Belady 1966; Mattson et al. 1970), and since cold faults are the same
//! for every policy, page-ins too. Evicting early never helps, so demand
//! paging loses nothing.
//!
//! Cost: O(n log n) for n steps, with next-use indices computed backwards
//! and the resident pages ordered by next use in a `BTreeSet`.
//!
//! Locking: none; everything here is owned by its caller.

use crate::policy::PageKey;
use crate::trace::TraceOp;
use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;
use hashbrown::{HashMap, HashSet};

/// What MIN achieves on one trace with one number of frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptStats {
    pub frames: u32,
    /// Reads and writes.
    pub accesses: u64,
    /// Faults on non-resident pages (cold + page-ins): the floor.
    pub faults: u64,
    /// First-touch faults, the same for every policy.
    pub cold: u64,
    /// Faults on pages evicted before: the floor for page-ins.
    pub page_ins: u64,
    /// Evictions MIN made.
    pub evictions: u64,
}

impl OptStats {
    /// `page_ins` as a multiple of this floor: 1.0 is optimal. A floor of
    /// zero gives 1.0 for zero page-ins and infinity otherwise.
    pub fn ratio(&self, page_ins: u64) -> f64 {
        match (self.page_ins, page_ins) {
            (0, 0) => 1.0,
            (0, _) => f64::INFINITY,
            (floor, p) => p as f64 / floor as f64,
        }
    }
}

/// A step index meaning "not accessed again".
const NEVER: usize = usize::MAX;

/// For each step, the index of the next read or write of the same page,
/// or [`NEVER`] if the page is freed first or not touched again.
fn next_uses(trace: &[TraceOp]) -> Vec<usize> {
    let mut next = vec![NEVER; trace.len()];
    let mut upcoming: HashMap<PageKey, usize> = HashMap::new();
    for (i, op) in trace.iter().enumerate().rev() {
        match *op {
            TraceOp::Free(k) => {
                upcoming.insert(k, NEVER);
            }
            TraceOp::Read(k) | TraceOp::Write(k) => {
                next[i] = upcoming.insert(k, i).unwrap_or(NEVER);
            }
        }
    }
    next
}

/// Belady's MIN on `trace` with `frames` frames.
///
/// Caller contract: `frames` ≥ 1.
pub fn opt(trace: &[TraceOp], frames: u32) -> OptStats {
    assert!(frames >= 1, "OPT needs a frame");
    let next = next_uses(trace);
    let mut st = OptStats {
        frames,
        ..OptStats::default()
    };
    // Resident pages with their next use, and the same ordered by it.
    let mut resident: HashMap<PageKey, usize> = HashMap::new();
    let mut by_next: BTreeSet<(usize, PageKey)> = BTreeSet::new();
    let mut evicted: HashSet<PageKey> = HashSet::new();
    for (i, op) in trace.iter().enumerate() {
        let key = match *op {
            TraceOp::Free(k) => {
                if let Some(n) = resident.remove(&k) {
                    by_next.remove(&(n, k));
                }
                evicted.remove(&k);
                continue;
            }
            TraceOp::Read(k) | TraceOp::Write(k) => k,
        };
        st.accesses += 1;
        if let Some(n) = resident.insert(key, next[i]) {
            by_next.remove(&(n, key));
            by_next.insert((next[i], key));
            continue;
        }
        st.faults += 1;
        if evicted.remove(&key) {
            st.page_ins += 1;
        } else {
            st.cold += 1;
        }
        if resident.len() > frames as usize {
            let (_, victim) = by_next.pop_last().expect("a resident page");
            resident.remove(&victim);
            evicted.insert(victim);
            st.evictions += 1;
        }
        by_next.insert((next[i], key));
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{self, replay_all};
    use rand::{Rng, SeedableRng};

    /// The fewest (faults, page-ins) over every sequence of victim
    /// choices the replay's rules allow, by exhaustive search.
    fn brute_force(trace: &[TraceOp], frames: usize) -> (u64, u64) {
        fn go(
            trace: &[TraceOp],
            frames: usize,
            resident: &mut Vec<PageKey>,
            evicted: &mut Vec<PageKey>,
        ) -> (u64, u64) {
            let Some((&op, rest)) = trace.split_first() else {
                return (0, 0);
            };
            let key = op.key();
            if let TraceOp::Free(_) = op {
                let (r, e) = (resident.clone(), evicted.clone());
                resident.retain(|&k| k != key);
                evicted.retain(|&k| k != key);
                let best = go(rest, frames, resident, evicted);
                (*resident, *evicted) = (r, e);
                return best;
            }
            if resident.contains(&key) {
                return go(rest, frames, resident, evicted);
            }
            let page_in = u64::from(evicted.contains(&key));
            let (r, e) = (resident.clone(), evicted.clone());
            evicted.retain(|&k| k != key);
            let mut best = (u64::MAX, u64::MAX);
            let choices: Vec<Option<PageKey>> = if resident.len() < frames {
                vec![None]
            } else {
                resident.iter().copied().map(Some).collect()
            };
            let after_fault = (resident.clone(), evicted.clone());
            for victim in choices {
                if let Some(v) = victim {
                    resident.retain(|&k| k != v);
                    evicted.push(v);
                }
                resident.push(key);
                let (f, p) = go(rest, frames, resident, evicted);
                best = best.min((f + 1, p + page_in));
                (*resident, *evicted) = after_fault.clone();
            }
            (*resident, *evicted) = (r, e);
            best
        }
        go(trace, frames, &mut Vec::new(), &mut Vec::new())
    }

    fn random_trace(rng: &mut rand::rngs::SmallRng, len: usize, pages: u64) -> Vec<TraceOp> {
        (0..len)
            .map(|_| {
                let k = PageKey(rng.gen_range(0..pages));
                match rng.gen_range(0..10) {
                    0 => TraceOp::Free(k),
                    1..=3 => TraceOp::Write(k),
                    _ => TraceOp::Read(k),
                }
            })
            .collect()
    }

    #[test]
    fn belady_string_by_hand() {
        // 1 2 3 4 1 2 5 1 2 3 4 5 with 3 frames: MIN faults 7 times
        // (5 cold, then 3 and 4 come back once each).
        let s = opt(&trace::belady(), 3);
        assert_eq!((s.faults, s.cold, s.page_ins, s.evictions), (7, 5, 2, 4));
        assert_eq!(opt(&trace::belady(), 4).faults, 6);
    }

    #[test]
    fn freed_pages_are_evicted_first_and_come_back_cold() {
        use TraceOp::*;
        let k = PageKey;
        // Page 1 is freed before its next access: MIN evicts it for 3
        // rather than page 2, and its return is a cold fault.
        let t = [
            Read(k(1)),
            Read(k(2)),
            Read(k(3)),
            Free(k(1)),
            Read(k(2)),
            Read(k(1)),
        ];
        let s = opt(&t, 2);
        assert_eq!((s.faults, s.cold, s.page_ins), (4, 4, 0));
        assert_eq!(brute_force(&t, 2), (4, 0));
    }

    #[test]
    fn equals_brute_force_on_tiny_traces() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(42);
        for _ in 0..400 {
            let len = rng.gen_range(1..11);
            let pages = rng.gen_range(1..6);
            let frames = rng.gen_range(1..4);
            let t = random_trace(&mut rng, len, pages);
            let s = opt(&t, frames);
            assert_eq!(
                (s.faults, s.page_ins),
                brute_force(&t, frames as usize),
                "{t:?} frames {frames}"
            );
        }
    }

    #[test]
    fn no_policy_beats_it() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let traces = [
            trace::sequential(300, 3, true),
            trace::looping(120, 3000, false),
            trace::zipf(500, 5000, 0.9, 25, 7),
            trace::fork_heavy(100, 5, 500, 9),
            random_trace(&mut rng, 5000, 200),
        ];
        for t in &traces {
            for frames in [1, 16, 100, 250] {
                let o = opt(t, frames);
                for r in replay_all(t, frames) {
                    assert!(o.faults <= r.faults, "{o:?} {r:?}");
                    assert!(o.page_ins <= r.page_ins, "{o:?} {r:?}");
                    assert_eq!(o.cold, r.cold, "{o:?} {r:?}");
                    assert!(o.ratio(r.page_ins) >= 1.0);
                }
            }
        }
    }

    #[test]
    fn ratio_edges() {
        let o = OptStats {
            page_ins: 4,
            ..OptStats::default()
        };
        assert_eq!(o.ratio(6), 1.5);
        assert_eq!(OptStats::default().ratio(0), 1.0);
        assert!(OptStats::default().ratio(1).is_infinite());
    }
}
