//! Property test of every replacement policy's contract: victims are tracked, evictable, distinct and untracked afterwards; counts (and hot + cold) stay consistent under random inserts, removals, moves to another frame, reference faults, deactivations and scans.

use proptest::prelude::*;
use std::collections::BTreeSet;
use vm_swap::policy::{FrameId, PageKey, PolicyHost, ReplacementPolicy};
use vm_swap::trace::all_policies;

const FRAMES: u32 = 48;

#[derive(Clone, Debug)]
enum Op {
    Insert(u32, u64),
    Remove(u32),
    Referenced(u32),
    SetBit(u32),
    Pin(u32),
    Select(u32),
    Deactivate(u32),
    Replace(u32, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..FRAMES, 0u64..100).prop_map(|(f, k)| Op::Insert(f, k)),
        1 => (0..FRAMES).prop_map(Op::Remove),
        2 => (0..FRAMES).prop_map(Op::Referenced),
        2 => (0..FRAMES).prop_map(Op::SetBit),
        1 => (0..FRAMES).prop_map(Op::Pin),
        2 => (1u32..8).prop_map(Op::Select),
        1 => (0..FRAMES).prop_map(Op::Deactivate),
        1 => (0..FRAMES, 0..FRAMES).prop_map(|(a, b)| Op::Replace(a, b)),
    ]
}

struct Host {
    bits: BTreeSet<FrameId>,
    pinned: BTreeSet<FrameId>,
}

impl PolicyHost for Host {
    fn test_and_clear_referenced(&mut self, f: FrameId) -> bool {
        self.bits.remove(&f)
    }
    fn evictable(&mut self, f: FrameId) -> bool {
        !self.pinned.contains(&f)
    }
}

fn check(p: &mut dyn ReplacementPolicy, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut tracked = BTreeSet::new();
    let mut h = Host {
        bits: BTreeSet::new(),
        pinned: BTreeSet::new(),
    };
    for op in ops {
        match *op {
            Op::Insert(f, k) => {
                if tracked.insert(f) {
                    p.insert(f, PageKey(k));
                    h.bits.insert(f);
                }
            }
            Op::Remove(f) => {
                if tracked.remove(&f) {
                    p.remove(f);
                }
            }
            Op::Referenced(f) => {
                if tracked.contains(&f) {
                    h.bits.insert(f);
                    p.referenced(f);
                }
            }
            // The page moves to another frame (copy-on-write's trade).
            Op::Replace(old, new) => {
                if tracked.contains(&old) && !tracked.contains(&new) {
                    tracked.remove(&old);
                    tracked.insert(new);
                    p.replace(old, new, PageKey(u64::from(old)));
                    if h.bits.remove(&old) {
                        h.bits.insert(new);
                    }
                    if h.pinned.remove(&old) {
                        h.pinned.insert(new);
                    }
                }
            }
            // A hint, also for untracked frames.
            Op::Deactivate(f) => p.deactivate(f),
            Op::SetBit(f) => {
                h.bits.insert(f);
            }
            Op::Pin(f) => {
                if !h.pinned.remove(&f) {
                    h.pinned.insert(f);
                }
            }
            Op::Select(want) => {
                let mut out = Vec::new();
                let got = p.select_victims(want, &mut h, &mut out);
                prop_assert_eq!(got as usize, out.len());
                prop_assert!(got <= want);
                let distinct: BTreeSet<_> = out.iter().copied().collect();
                prop_assert_eq!(distinct.len(), out.len(), "{}: duplicate victim", p.name());
                for f in &out {
                    prop_assert!(tracked.remove(f), "{}: untracked victim {}", p.name(), f);
                    prop_assert!(!h.pinned.contains(f), "{}: pinned victim {}", p.name(), f);
                }
                // A shortfall only when nothing evictable is left: every
                // policy sweeps until referenced pages have aged out.
                let evictable = tracked.iter().filter(|f| !h.pinned.contains(f)).count();
                if got < want {
                    prop_assert_eq!(evictable, 0, "{}: gave up with evictable frames", p.name());
                }
            }
        }
        prop_assert_eq!(p.resident() as usize, tracked.len(), "{}", p.name());
        let (hot, cold) = p.hot_cold();
        prop_assert_eq!(hot + cold, p.resident(), "{}: hot + cold", p.name());
    }
    // Everything left can be evicted once nothing is pinned or referenced.
    h.pinned.clear();
    h.bits.clear();
    let mut out = Vec::new();
    p.select_victims(FRAMES, &mut h, &mut out);
    prop_assert_eq!(out.len(), tracked.len(), "{}: drain", p.name());
    prop_assert_eq!(p.resident(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn policies_keep_their_contract(ops in prop::collection::vec(op(), 1..300)) {
        for mut p in all_policies(FRAMES) {
            check(p.as_mut(), &ops)?;
        }
    }
}
