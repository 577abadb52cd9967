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
//! The blocks sit in a vector, in no order; the B-tree maps a block's
//! base to its place there. The map remembers the block its last lookup
//! found (`hint`): faults come in runs over neighbouring pages, so most
//! lookups skip the B-tree search, as DragonFly's `vm_map` hint lets a
//! fault skip the map search. A search of a large map is about ninety
//! instructions; a hit is a compare and an index
//! (docs/performance.md, "Data pages of a fault").
//!
//! Used by the object's page tree (`object.rs`) and the seL4 pmap's
//! mapping table. Owned by whoever holds it; no locking (the hint is a
//! `Cell`, so a lookup through `&self` can move it).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::Cell;
use core::ops::Range;

/// Slots per block.
pub const BLOCK_SLOTS: u64 = 16;

/// One block's slots.
type Block<V> = Box<[V; BLOCK_SLOTS as usize]>;

/// A value a block slot holds, with one bit pattern kept for "empty".
pub trait BlockSlot: Copy {
    /// The empty slot (never a value the map is given).
    const EMPTY: Self;
    fn is_empty(&self) -> bool;
}

/// Page number -> value, in dense blocks.
#[derive(Clone, Debug)]
pub struct BlockMap<V: BlockSlot> {
    /// A block's base -> its place in `blocks`.
    index: BTreeMap<u64, u32>,
    /// The blocks with their bases, in no order (a removal moves the last
    /// one into the hole).
    blocks: Vec<(u64, Block<V>)>,
    /// The place in `blocks` of the block the last lookup found; a lookup
    /// checks that block's base, so a stale place is only a miss.
    hint: Cell<u32>,
    /// Values held (`u32`, beside `hint`, since a map sits in every
    /// object: a map holds at most one value per frame or mapping).
    len: u32,
}

impl<V: BlockSlot> Default for BlockMap<V> {
    fn default() -> Self {
        BlockMap {
            index: BTreeMap::new(),
            blocks: Vec::new(),
            hint: Cell::new(0),
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
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The place in `blocks` of the block at `base`, the hint first.
    #[inline]
    fn find(&self, base: u64) -> Option<usize> {
        let at = self.hint.get() as usize;
        if self.blocks.get(at).is_some_and(|b| b.0 == base) {
            return Some(at);
        }
        let at = *self.index.get(&base)?;
        self.hint.set(at);
        Some(at as usize)
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<V> {
        let (base, i) = split(key);
        let v = self.blocks[self.find(base)?].1[i];
        (!v.is_empty()).then_some(v)
    }

    pub fn contains(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    /// The value at `key` to change in place (it cannot be emptied so).
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        let (base, i) = split(key);
        let at = self.find(base)?;
        let v = &mut self.blocks[at].1[i];
        (!v.is_empty()).then_some(v)
    }

    /// Sets `key` to `v` (not `EMPTY`); returns the value it replaces.
    pub fn insert(&mut self, key: u64, v: V) -> Option<V> {
        debug_assert!(!v.is_empty(), "the empty value inserted");
        let (base, i) = split(key);
        let Some(at) = self.find(base) else {
            self.insert_block(base, i, v);
            return None;
        };
        let old = core::mem::replace(&mut self.blocks[at].1[i], v);
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
        let at = self.push_block(base, block);
        self.hint.set(at);
        self.len += 1;
    }

    /// Puts `block` at `base` (which has none) last in `blocks`; returns
    /// its place.
    fn push_block(&mut self, base: u64, block: Block<V>) -> u32 {
        if self.blocks.len() == self.blocks.capacity() {
            // Half again, not double (a map of one block, most objects'
            // page trees, pays for one): see `fit`.
            self.blocks.reserve_exact(self.blocks.len() / 2 + 1);
        }
        let at = self.blocks.len() as u32;
        self.blocks.push((base, block));
        self.index.insert(base, at);
        at
    }

    /// Takes the value at `key` out; an emptied block is freed.
    pub fn remove(&mut self, key: u64) -> Option<V> {
        let (base, i) = split(key);
        let at = self.find(base)?;
        let block = &mut self.blocks[at].1;
        let old = core::mem::replace(&mut block[i], V::EMPTY);
        if old.is_empty() {
            return None;
        }
        self.len -= 1;
        if block.iter().all(|v| v.is_empty()) {
            self.remove_block(at);
        }
        Some(old)
    }

    /// Frees the block at place `at`; the last block moves into its place.
    fn remove_block(&mut self, at: usize) {
        let (base, _) = self.blocks.swap_remove(at);
        self.index.remove(&base);
        if let Some(&(moved, _)) = self.blocks.get(at) {
            if let Some(place) = self.index.get_mut(&moved) {
                *place = at as u32;
            }
        }
        self.fit();
    }

    /// Keeps the vector within half again its length, so a block costs
    /// at most 24 bytes in it (the heap bound's per-page costs count on
    /// that: `vm_service::heap`): past that it shrinks to a quarter again
    /// its length. Growth and shrinking both leave a quarter of the length
    /// or more to go before the next, so each costs O(1) a change,
    /// amortised.
    fn fit(&mut self) {
        let n = self.blocks.len();
        if n * 3 < self.blocks.capacity() * 2 {
            self.blocks.shrink_to(n + n / 4);
        }
    }

    /// The values with keys in `r`, in key order.
    pub fn range(&self, r: Range<u64>) -> impl Iterator<Item = (u64, V)> + '_ {
        let first = split(r.start).0;
        self.index
            .range(first..r.end.max(first))
            .flat_map(|(&base, &at)| entries(base, &self.blocks[at as usize].1))
            .filter(move |(k, _)| r.contains(k))
    }

    /// Moves the values with keys `>= at` into a new map.
    pub fn split_off(&mut self, at: u64) -> Self {
        let (cut, i) = split(at);
        // Highest place first, so the block `swap_remove` moves into a
        // freed place is always one that stays.
        let mut moving: Vec<(u32, u64)> = self
            .index
            .split_off(&cut)
            .into_iter()
            .map(|(base, place)| (place, base))
            .collect();
        moving.sort_unstable_by_key(|&(place, _)| core::cmp::Reverse(place));
        let mut right = BlockMap::new();
        for (place, base) in moving {
            let (_, block) = self.blocks.swap_remove(place as usize);
            if let Some(&(moved, _)) = self.blocks.get(place as usize) {
                if let Some(p) = self.index.get_mut(&moved) {
                    *p = place;
                }
            }
            right.adopt(base, block);
        }
        self.len -= right.len;
        // The block holding `at` straddles the cut: its lower part stays.
        if i > 0 {
            if let Some(place) = right.find(cut) {
                let upper = &mut right.blocks[place].1;
                let mut lower = Box::new([V::EMPTY; BLOCK_SLOTS as usize]);
                lower[..i].copy_from_slice(&upper[..i]);
                upper[..i].fill(V::EMPTY);
                let n = lower.iter().filter(|v| !v.is_empty()).count();
                right.len -= n as u32;
                if upper.iter().all(|v| v.is_empty()) {
                    right.remove_block(place);
                }
                self.adopt(cut, lower);
            }
        }
        self.fit();
        right
    }

    /// Takes `block` at `base` into a map that has no block there; an
    /// empty one is dropped.
    fn adopt(&mut self, base: u64, block: Block<V>) {
        let n = block.iter().filter(|v| !v.is_empty()).count();
        if n == 0 {
            return;
        }
        self.push_block(base, block);
        self.len += n as u32;
    }
}

/// A `BlockMap`'s values in key order, the map consumed block by block
/// (nothing allocated: an object's pages are walked so as it dies).
pub struct IntoIter<V: BlockSlot> {
    blocks: alloc::vec::IntoIter<(u64, Block<V>)>,
    /// The block being walked: its base, its slots, the next slot.
    block: Option<(u64, Block<V>, usize)>,
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

    fn into_iter(mut self) -> IntoIter<V> {
        // In key order; sorting in place allocates nothing.
        self.blocks.sort_unstable_by_key(|&(base, _)| base);
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
        /// A read, which may move the hint.
        Get(u64),
        /// A change in place, through the hint too.
        Set(u64, u32),
    }

    /// The map's own records agree: every block holds a value, the index
    /// names each block's place, and the hint names a block or none.
    fn consistent(m: &BlockMap<u32>) -> bool {
        m.blocks
            .iter()
            .all(|(_, b)| b.iter().any(|v| !v.is_empty()))
            && m.index.len() == m.blocks.len()
            && m.blocks.capacity() <= m.blocks.len() * 3 / 2 + 1
            && m.index
                .iter()
                .all(|(&base, &at)| m.blocks[at as usize].0 == base)
            && m.len as usize
                == m.blocks
                    .iter()
                    .map(|(_, b)| b.iter().filter(|v| !v.is_empty()).count())
                    .sum::<usize>()
    }

    fn key() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..200, Just(u64::MAX), (u64::MAX - 40)..u64::MAX]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (key(), 0u32..1000).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => key().prop_map(Op::Remove),
            1 => key().prop_map(Op::SplitOff),
            3 => key().prop_map(Op::Get),
            2 => (key(), 0u32..1000).prop_map(|(k, v)| Op::Set(k, v)),
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
                        let right = m.split_off(k);
                        prop_assert!(consistent(&right));
                        let right: alloc::vec::Vec<_> = right.into_iter().collect();
                        let want: alloc::vec::Vec<_> = r.split_off(&k).into_iter().collect();
                        prop_assert_eq!(right, want);
                    }
                    Op::Get(k) => prop_assert_eq!(m.get(k), r.get(&k).copied()),
                    Op::Set(k, v) => {
                        if let Some(x) = m.get_mut(k) {
                            *x = v;
                        }
                        if let Some(x) = r.get_mut(&k) {
                            *x = v;
                        }
                    }
                }
                prop_assert_eq!(m.len(), r.len());
                prop_assert!(consistent(&m));
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
