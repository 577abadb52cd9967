//! Property test of the per-object swap metadata against a `BTreeMap` model.

use proptest::prelude::*;
use std::collections::BTreeMap;
use vm_swap::blist::SwapSlot;
use vm_swap::swapmeta::SwapMeta;

#[derive(Clone, Debug)]
enum Op {
    Insert(u64, u32),
    Remove(u64),
    RemoveRange(u64, u64),
    Lookup(u64),
    Cluster(u64, u32, u32),
    Move(u64, u64, u64),
}

/// Page indices near zero, around a block boundary far away, and at the
/// top of the range, so blocks are shared, sparse, and at the edges.
fn pindex() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..80,
        (1u64 << 40)..(1u64 << 40) + 40,
        (u64::MAX - 40)..u64::MAX,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (pindex(), 0u32..200).prop_map(|(p, s)| Op::Insert(p, s)),
        3 => pindex().prop_map(Op::Remove),
        1 => (pindex(), 0u64..100).prop_map(|(p, n)| Op::RemoveRange(p, n)),
        3 => pindex().prop_map(Op::Lookup),
        2 => (pindex(), 0u32..20, 0u32..20).prop_map(|(p, b, a)| Op::Cluster(p, b, a)),
        1 => (0u64..80, 0u64..30, 0u64..100).prop_map(|(s, n, d)| Op::Move(s, n, d)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn swapmeta_matches_model(ops in prop::collection::vec(op(), 1..200)) {
        let mut sm = SwapMeta::new();
        let mut m: BTreeMap<u64, u32> = BTreeMap::new();
        // A second object for `move_range` (collapse/split).
        let mut other = SwapMeta::new();
        let mut om: BTreeMap<u64, u32> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(p, s) => {
                    prop_assert_eq!(sm.insert(p, SwapSlot(s)).map(|s| s.0), m.insert(p, s));
                }
                Op::Remove(p) => {
                    prop_assert_eq!(sm.remove(p).map(|s| s.0), m.remove(&p));
                }
                Op::RemoveRange(p, n) => {
                    let end = p.saturating_add(n);
                    let mut got = Vec::new();
                    let c = sm.remove_range(p..end, |p, s| got.push((p, s.0)));
                    let want: Vec<_> = m.range(p..end).map(|(&k, &v)| (k, v)).collect();
                    for (k, _) in &want {
                        m.remove(k);
                    }
                    prop_assert_eq!(c, want.len() as u64);
                    prop_assert_eq!(got, want);
                }
                Op::Lookup(p) => {
                    prop_assert_eq!(sm.lookup(p).map(|s| s.0), m.get(&p).copied());
                }
                Op::Cluster(p, before, after) => {
                    let got = sm.cluster(p, before, after);
                    match m.get(&p) {
                        None => prop_assert!(got.is_none()),
                        Some(&s) => {
                            let r = got.unwrap();
                            prop_assert!(r.pindex <= p && p < r.pindex + u64::from(r.count));
                            prop_assert!(p - r.pindex <= u64::from(before));
                            prop_assert!(r.pindex + u64::from(r.count) - 1 - p <= u64::from(after));
                            for i in 0..u64::from(r.count) {
                                prop_assert_eq!(m.get(&(r.pindex + i)).copied(), Some(r.slot.0 + i as u32));
                            }
                            prop_assert_eq!(r.slot.0 + (p - r.pindex) as u32, s);
                            // Maximal within the limits.
                            if p - r.pindex < u64::from(before) && r.pindex > 0 && r.slot.0 > 0 {
                                prop_assert_ne!(m.get(&(r.pindex - 1)).copied(), Some(r.slot.0 - 1));
                            }
                            let end = r.pindex + u64::from(r.count);
                            if end - 1 - p < u64::from(after) && end != 0 {
                                prop_assert_ne!(m.get(&end).copied(), Some(r.slot.0 + r.count));
                            }
                        }
                    }
                }
                Op::Move(s, n, d) => {
                    // Pages of `sm` in s..s+n move to `other` at d..; even
                    // destination pages count as resident.
                    let mut freed = Vec::new();
                    let moved = other.move_range(&mut sm, s..s + n, d, |x| x % 2 == 0, |sl| freed.push(sl.0));
                    let taken: Vec<_> = m.range(s..s + n).map(|(&k, &v)| (k, v)).collect();
                    let mut want_moved = 0;
                    let mut want_freed = Vec::new();
                    for (k, v) in taken {
                        m.remove(&k);
                        let dst = k - s + d;
                        if dst % 2 == 0 || om.contains_key(&dst) {
                            want_freed.push(v);
                        } else {
                            om.insert(dst, v);
                            want_moved += 1;
                        }
                    }
                    prop_assert_eq!(moved, want_moved);
                    prop_assert_eq!(freed, want_freed);
                }
            }
            prop_assert_eq!(sm.len(), m.len() as u64);
            prop_assert_eq!(other.len(), om.len() as u64);
            sm.check().map_err(TestCaseError::fail)?;
            other.check().map_err(TestCaseError::fail)?;
        }
        let all: Vec<_> = sm.iter().map(|(p, s)| (p, s.0)).collect();
        let want: Vec<_> = m.iter().map(|(&k, &v)| (k, v)).collect();
        prop_assert_eq!(all, want);
        let all: Vec<_> = other.iter().map(|(p, s)| (p, s.0)).collect();
        let want: Vec<_> = om.iter().map(|(&k, &v)| (k, v)).collect();
        prop_assert_eq!(all, want);
        let mut n = 0;
        sm.clear(|_, _| n += 1);
        prop_assert_eq!(n, m.len());
        prop_assert!(sm.is_empty() && sm.block_count() == 0);
    }
}
