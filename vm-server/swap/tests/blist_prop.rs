//! Property test of the blist against a `Vec<bool>` model: random alloc/free/fill/mark-bad sequences agree on every result.

use proptest::prelude::*;
use vm_swap::blist::{Blist, SwapSlot, BLIST_MAX_ALLOC};

#[derive(Clone, Debug)]
enum Op {
    Alloc(u32),
    /// Free the allocated run with this index (mod the number of runs).
    Free(usize),
    Fill(u64, u64),
    MarkBad(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop_oneof![1u32..=4, 1u32..=BLIST_MAX_ALLOC, Just(16), Just(32)].prop_map(Op::Alloc),
        4 => any::<usize>().prop_map(Op::Free),
        1 => (any::<u64>(), 0u64..100).prop_map(|(s, n)| Op::Fill(s, n)),
        1 => any::<u64>().prop_map(Op::MarkBad),
    ]
}

/// The reference: one bool per slot, first fit inside 64-slot windows.
struct Model {
    free: Vec<bool>,
    bad: Vec<bool>,
}

impl Model {
    fn alloc(&mut self, n: u32) -> Option<u64> {
        let n = n as usize;
        let len = self.free.len();
        for w in (0..len).step_by(64) {
            let end = (w + 64).min(len);
            for s in w..end {
                if s + n <= end && self.free[s..s + n].iter().all(|&f| f) {
                    self.free[s..s + n].iter_mut().for_each(|f| *f = false);
                    return Some(s as u64);
                }
            }
        }
        None
    }

    fn largest(&self) -> u32 {
        let mut best = 0;
        for w in self.free.chunks(64) {
            let mut cur = 0;
            for &f in w {
                cur = if f { cur + 1 } else { 0 };
                best = best.max(cur);
            }
        }
        best
    }
}

/// Runs `ops` on a device of `blocks` slots. With `holes`, the device
/// starts fully allocated except those ranges (start, length), so
/// allocations must descend into arbitrary subtrees.
fn run(blocks: u64, holes: Option<Vec<(u64, u64)>>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let start_free = holes.is_none();
    let mut bl = if start_free {
        Blist::new_free(blocks)
    } else {
        Blist::new(blocks)
    };
    let mut m = Model {
        free: vec![start_free; blocks as usize],
        bad: vec![false; blocks as usize],
    };
    for (s, n) in holes.unwrap_or_default() {
        let s = s % blocks;
        for b in s..(s + n).min(blocks) {
            if !m.free[b as usize] {
                m.free[b as usize] = true;
                bl.free(SwapSlot(b as u32), 1);
            }
        }
    }
    // Allocated runs (start, count) the test may free.
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for op in ops {
        match op {
            Op::Alloc(n) => {
                let got = bl.alloc(n);
                let want = m.alloc(n);
                prop_assert_eq!(got.map(|s| s.block()), want, "alloc {}", n);
                if let Some(s) = got {
                    let s = s.block();
                    prop_assert!(s + u64::from(n) <= blocks);
                    prop_assert_eq!(s / 64, (s + u64::from(n) - 1) / 64, "run crosses a leaf");
                    runs.push((s, u64::from(n)));
                }
            }
            Op::Free(i) => {
                if runs.is_empty() {
                    continue;
                }
                let (s, n) = runs.swap_remove(i % runs.len());
                bl.free(SwapSlot(s as u32), n);
                for b in s..s + n {
                    m.free[b as usize] = !m.bad[b as usize];
                }
            }
            Op::Fill(s, n) => {
                if blocks == 0 {
                    continue;
                }
                let s = s % blocks;
                let n = n.min(blocks - s);
                let filled = bl.fill(SwapSlot(s as u32), n);
                let mut want = 0;
                for b in s..s + n {
                    if m.free[b as usize] {
                        m.free[b as usize] = false;
                        want += 1;
                        runs.push((b, 1));
                    }
                }
                prop_assert_eq!(filled, want);
            }
            Op::MarkBad(s) => {
                if blocks == 0 {
                    continue;
                }
                let s = s % blocks;
                let newly = bl.mark_bad(SwapSlot(s as u32), 1);
                prop_assert_eq!(newly, u64::from(!m.bad[s as usize]));
                m.bad[s as usize] = true;
                m.free[s as usize] = false;
            }
        }
        let model_free = m.free.iter().filter(|&&f| f).count() as u64;
        let model_bad = m.bad.iter().filter(|&&b| b).count() as u64;
        prop_assert_eq!(bl.free_count(), model_free);
        prop_assert_eq!(bl.bad_count(), model_bad);
        prop_assert_eq!(bl.largest_free_run(), m.largest());
    }
    for (b, (&f, &bad)) in m.free.iter().zip(&m.bad).enumerate() {
        prop_assert_eq!(bl.is_free(SwapSlot(b as u32)), f, "slot {}", b);
        prop_assert_eq!(bl.is_bad(SwapSlot(b as u32)), bad, "slot {}", b);
    }
    bl.check().map_err(TestCaseError::fail)?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Small devices: tails, full devices, one or two meta levels.
    #[test]
    fn blist_matches_model_small(blocks in 0u64..1500, ops in prop::collection::vec(op(), 1..300)) {
        run(blocks, None, ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// A device with three meta levels (over 1024 leaves), full except
    /// for scattered holes.
    #[test]
    fn blist_matches_model_deep(
        extra in 0u64..200,
        holes in prop::collection::vec((any::<u64>(), 1u64..150), 1..40),
        ops in prop::collection::vec(op(), 1..400),
    ) {
        run(70_000 + extra, Some(holes), ops)?;
    }
}
