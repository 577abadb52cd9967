//! `BlockMap`: an ordered map from page numbers to small values, kept as dense blocks of 16 (DragonFly's `swblock` idea applied to resident pages and mappings), for the per-page records that are most of the server's metadata.
//!
//! A B-tree entry per page costs a `u32` value 22 bytes and a `u64` one
//! about 43 with the tree's slack; pages come in runs (fault-around,
//! sequential touches, whole objects), so a block of 16 slots costs a
//! page its value's size plus a sixteenth of one outer entry. Why 16: at
//! its sparsest (one page a block) a block of 4-byte values costs its
//! 64-byte box plus one outer entry at the tree's emptiest (about 45
//! bytes), within the heap bound's per-page costs (`vm_service::heap`);
//! larger blocks would not be. An emptied block is freed at once.
//!
//! Used by the object's page tree (`object.rs`) and the seL4 pmap's
//! mapping table. Owned by whoever holds it; no locking.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use core::ops::Range;

/// Slots per block.
pub const BLOCK_SLOTS: u64 = 16;

/// A value a block slot holds, with one bit pattern kept for "empty".
pub trait BlockSlot: Copy {
    /// The empty slot (never a value the map is given).
    const EMPTY: Self;
    fn is_empty(&self) -> bool;
}

/// Page number -> value, in dense blocks.
#[derive(Clone, Debug)]
pub struct BlockMap<V: BlockSlot> {
    blocks: BTreeMap<u64, Box<[V; BLOCK_SLOTS as usize]>>,
    len: usize,
}

impl<V: BlockSlot> Default for BlockMap<V> {
    fn default() -> Self {
        BlockMap {
            blocks: BTreeMap::new(),
            len: 0,
        }
    }
}

fn split(key: u64) -> (u64, usize) {
    (key & !(BLOCK_SLOTS - 1), (key % BLOCK_SLOTS) as usize)
}

/// The values of one block with their keys, in order.
fn entries<V: BlockSlot>(
    base: u64,
    block: &[V; BLOCK_SLOTS as usize],
) -> impl Iterator<Item = (u64, V)> + '_ {
    block
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .map(move |(i, v)| (base + i as u64, *v))
}

impl<V: BlockSlot> BlockMap<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<V> {
        let (base, i) = split(key);
        let v = self.blocks.get(&base)?[i];
        (!v.is_empty()).then_some(v)
    }

    pub fn contains(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    /// The value at `key` to change in place (it cannot be emptied so).
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        let (base, i) = split(key);
        let v = &mut self.blocks.get_mut(&base)?[i];
        (!v.is_empty()).then_some(v)
    }

    /// Sets `key` to `v` (not `EMPTY`); returns the value it replaces.
    pub fn insert(&mut self, key: u64, v: V) -> Option<V> {
        debug_assert!(!v.is_empty(), "the empty value inserted");
        let (base, i) = split(key);
        let Some(block) = self.blocks.get_mut(&base) else {
            self.insert_block(base, i, v);
            return None;
        };
        let old = core::mem::replace(&mut block[i], v);
        if old.is_empty() {
            self.len += 1;
            None
        } else {
            Some(old)
        }
    }

    /// `insert` into a block not made yet: a new block with `v` in slot
    /// `i`.
    // Out of line: one insert in up to sixteen makes a block, and the
    // B-tree's insertion code is long; the VM server's fault path stays on
    // few code pages (docs/performance.md, "Code pages").
    #[inline(never)]
    fn insert_block(&mut self, base: u64, i: usize, v: V) {
        let mut block = Box::new([V::EMPTY; BLOCK_SLOTS as usize]);
        block[i] = v;
        self.blocks.insert(base, block);
        self.len += 1;
    }

    /// Takes the value at `key` out; an emptied block is freed.
    pub fn remove(&mut self, key: u64) -> Option<V> {
        let (base, i) = split(key);
        let block = self.blocks.get_mut(&base)?;
        let old = core::mem::replace(&mut block[i], V::EMPTY);
        if old.is_empty() {
            return None;
        }
        self.len -= 1;
        if block.iter().all(|v| v.is_empty()) {
            self.blocks.remove(&base);
        }
        Some(old)
    }

    /// The values with keys in `r`, in key order.
    pub fn range(&self, r: Range<u64>) -> impl Iterator<Item = (u64, V)> + '_ {
        let first = split(r.start).0;
        self.blocks
            .range(first..r.end.max(first))
            .flat_map(|(&base, block)| entries(base, block))
            .filter(move |(k, _)| r.contains(k))
    }

    /// Moves the values with keys `>= at` into a new map.
    pub fn split_off(&mut self, at: u64) -> Self {
        let (base, i) = split(at);
        let mut right = BlockMap {
            blocks: self.blocks.split_off(&base),
            len: 0,
        };
        // The block holding `at` straddles the cut: its lower part stays.
        if i > 0 {
            if let Some(mut upper) = right.blocks.remove(&base) {
                let mut lower = Box::new([V::EMPTY; BLOCK_SLOTS as usize]);
                lower[..i].copy_from_slice(&upper[..i]);
                upper[..i].fill(V::EMPTY);
                if lower.iter().any(|v| !v.is_empty()) {
                    self.blocks.insert(base, lower);
                }
                if upper.iter().any(|v| !v.is_empty()) {
                    right.blocks.insert(base, upper);
                }
            }
        }
        right.len = right
            .blocks
            .values()
            .map(|b| b.iter().filter(|v| !v.is_empty()).count())
            .sum();
        self.len -= right.len;
        right
    }
}

/// A `BlockMap`'s values in key order, the map consumed block by block
/// (nothing collected first: an object's pages are walked so as it dies).
pub struct IntoIter<V: BlockSlot> {
    blocks: alloc::collections::btree_map::IntoIter<u64, Box<[V; BLOCK_SLOTS as usize]>>,
    /// The block being walked: its base, its slots, the next slot.
    block: Option<(u64, Box<[V; BLOCK_SLOTS as usize]>, usize)>,
}

impl<V: BlockSlot> Iterator for IntoIter<V> {
    type Item = (u64, V);

    fn next(&mut self) -> Option<(u64, V)> {
        loop {
            if let Some((base, block, next)) = &mut self.block {
                while let Some(&v) = block.get(*next) {
                    let key = *base + *next as u64;
                    *next += 1;
                    if !v.is_empty() {
                        return Some((key, v));
                    }
                }
            }
            let (base, block) = self.blocks.next()?;
            self.block = Some((base, block, 0));
        }
    }
}

impl<V: BlockSlot> IntoIterator for BlockMap<V> {
    type Item = (u64, V);
    type IntoIter = IntoIter<V>;

    fn into_iter(self) -> IntoIter<V> {
        IntoIter {
            blocks: self.blocks.into_iter(),
            block: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl BlockSlot for u32 {
        const EMPTY: u32 = u32::MAX;
        fn is_empty(&self) -> bool {
            *self == u32::MAX
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        Remove(u64),
        SplitOff(u64),
    }

    fn key() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..200, Just(u64::MAX), (u64::MAX - 40)..u64::MAX]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (key(), 0u32..1000).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => key().prop_map(Op::Remove),
            1 => key().prop_map(Op::SplitOff),
        ]
    }

    proptest! {
        /// Every operation and query agrees with a `BTreeMap`, and no
        /// empty block is kept.
        #[test]
        fn block_map_behaves_as_a_btree_map(ops in proptest::collection::vec(op(), 1..200), lo in key(), hi in key()) {
            let mut m: BlockMap<u32> = BlockMap::new();
            let mut r: BTreeMap<u64, u32> = BTreeMap::new();
            for o in ops {
                match o {
                    Op::Insert(k, v) => prop_assert_eq!(m.insert(k, v), r.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(m.remove(k), r.remove(&k)),
                    Op::SplitOff(k) => {
                        let right: alloc::vec::Vec<_> = m.split_off(k).into_iter().collect();
                        let want: alloc::vec::Vec<_> = r.split_off(&k).into_iter().collect();
                        prop_assert_eq!(right, want);
                    }
                }
                prop_assert_eq!(m.len(), r.len());
                prop_assert!(m.blocks.values().all(|b| b.iter().any(|v| !v.is_empty())));
            }
            let all: alloc::vec::Vec<_> = m.clone().into_iter().collect();
            let want: alloc::vec::Vec<_> = r.iter().map(|(&k, &v)| (k, v)).collect();
            prop_assert_eq!(all, want);
            let (lo, hi) = (lo.min(hi), lo.max(hi));
            let got: alloc::vec::Vec<_> = m.range(lo..hi).collect();
            let want: alloc::vec::Vec<_> = r.range(lo..hi).map(|(&k, &v)| (k, v)).collect();
            prop_assert_eq!(got, want);
            for k in [lo, hi, 0, 15, 16, u64::MAX] {
                prop_assert_eq!(m.get(k), r.get(&k).copied());
            }
        }
    }
}
