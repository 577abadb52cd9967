//! Property tests of the map alone: random fixed maps, unmaps and protection changes against a page-set model; `findspace` always returns a free, aligned range.

use proptest::prelude::*;
use std::collections::BTreeMap;
use vm_core::sim::SimPmap;
use vm_core::*;

const P: u64 = PAGE_SIZE;
const MIN: u64 = 0x1000_0000;
const PAGES: u64 = 64;

#[derive(Debug, Clone)]
enum Op {
    Map(u64, u64, bool),
    Unmap(u64, u64),
    Protect(u64, u64, bool),
    Find(u64, u64, u32),
}

fn op() -> impl Strategy<Value = Op> {
    let range = (0..PAGES, 1..12u64).prop_map(|(a, n)| (a, n.min(PAGES - a)));
    prop_oneof![
        (range.clone(), any::<bool>()).prop_map(|((a, n), w)| Op::Map(a, n, w)),
        range.clone().prop_map(|(a, n)| Op::Unmap(a, n)),
        (range.clone(), any::<bool>()).prop_map(|((a, n), w)| Op::Protect(a, n, w)),
        (0..PAGES, 1..8u64, 0..4u32).prop_map(|(h, n, al)| Op::Find(h, n, al)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn map_matches_page_model(ops in proptest::collection::vec(op(), 1..120)) {
        let cfg = VmConfig { user_min: MIN, user_max: MIN + PAGES * P, reserved_pages: 0, ..VmConfig::default() };
        let mut pm = SimPmap::new(8);
        let mut vm = Vm::new(cfg, 8).unwrap();
        let sp = vm.space_create(&mut pm).unwrap();
        let mut model: BTreeMap<u64, Prot> = BTreeMap::new();
        let prot = |w: bool| if w { Prot::RW } else { Prot::READ };
        for op in ops {
            match op {
                Op::Map(a, n, w) => {
                    vm.mmap(sp, &MmapArgs::anon(n * P, prot(w)).fixed(MIN + a * P), &mut pm).unwrap();
                    for i in a..a + n { model.insert(i, prot(w)); }
                }
                Op::Unmap(a, n) => {
                    vm.munmap(sp, MIN + a * P, n * P, &mut pm).unwrap();
                    for i in a..a + n { model.remove(&i); }
                }
                Op::Protect(a, n, w) => {
                    let all = (a..a + n).all(|i| model.contains_key(&i));
                    let r = vm.mprotect(sp, MIN + a * P, n * P, prot(w), &mut pm);
                    prop_assert_eq!(r.is_ok(), all);
                    if all { for i in a..a + n { model.insert(i, prot(w)); } }
                }
                Op::Find(h, n, al) => {
                    let align = P << al;
                    let map = vm.space(sp).unwrap().map();
                    match map.findspace(MIN + h * P, n * P, align) {
                        Some(at) => {
                            prop_assert!(at.is_multiple_of(align));
                            let first = (at - MIN) / P;
                            prop_assert!(first + n <= PAGES);
                            prop_assert!((first..first + n).all(|i| !model.contains_key(&i)));
                        }
                        None => {
                            // No aligned free run of n pages anywhere.
                            let mut any = false;
                            let mut i = 0;
                            while i + n <= PAGES {
                                if (MIN + i * P).is_multiple_of(align) && (i..i + n).all(|j| !model.contains_key(&j)) { any = true; }
                                i += 1;
                            }
                            prop_assert!(!any);
                        }
                    }
                }
            }
            let map = vm.space(sp).unwrap().map();
            map.check().map_err(TestCaseError::fail)?;
            prop_assert_eq!(map.size() / P, model.len() as u64);
            for (&i, &p) in &model {
                prop_assert_eq!(map.lookup(MIN + i * P).map(|e| e.prot()), Some(p));
            }
            // Neighbours that could merge are merged.
            let es: Vec<_> = map.entries().collect();
            for w in es.windows(2) {
                prop_assert!(!(w[0].end() == w[1].start() && w[0].prot() == w[1].prot() && w[0].chain().is_empty() && w[1].chain().is_empty()));
            }
        }
    }
}
