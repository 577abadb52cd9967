//! The swap-slot allocator: a radix tree of bitmaps over the swap partition's blocks, after DragonFly BSD's `subr_blist.c`.
//!
//! # Shape
//!
//! The leaves are 64-bit bitmaps (`1` = free), [`BLIST_BMAP_RADIX`] slots
//! each. Above them sit meta levels of radix [`BLIST_META_RADIX`]; every
//! node keeps one byte, its *hint*: the longest free run that lies wholly
//! inside one leaf below it. The tree is implicit (one array per level,
//! node `i`'s children are `16 i .. 16 i + 16`), so it costs one bit per
//! slot plus about one byte per 64 slots (520 KiB for 16 GiB of swap), and
//! needs no pointers.
//!
//! # Why exact hints instead of BSD's `bm_bighint`
//!
//! BSD keeps an upper bound that a failing search lowers on the way back.
//! Here the hints are exact (recomputed bottom-up on every change, stopping
//! as soon as a parent's value does not change), so an allocation descends
//! straight to the first leaf that can satisfy it without backtracking, and
//! an allocation that cannot succeed fails at the root in O(1).
//! [`Blist::largest_free_run`] is the root hint.
//!
//! # Runs never straddle a leaf
//!
//! As in DragonFly's blist, a run of `n` slots (1 ≤ `n` ≤
//! [`BLIST_MAX_ALLOC`]) lies inside one 64-slot leaf. That is what lets a
//! leaf answer "first run of n free slots" with a handful of word
//! operations, and it costs little: pageout clusters are at most 16–32
//! pages. [`Blist::free`], [`Blist::fill`] and [`Blist::mark_bad`] take
//! arbitrary ranges.
//!
//! # Bad slots
//!
//! A slot whose write failed is marked bad and is never handed out again:
//! it stays allocated in the bitmap, and [`Blist::free`] of a bad slot
//! leaves it allocated (it moves from "in use" to "bad" only).
//!
//! Locking: none. The allocator is owned by the single-threaded VM server
//! loop (through the swap pager); every mutation takes `&mut self`.

use alloc::vec;
use alloc::vec::Vec;
use hashbrown::HashMap;

/// Slots per leaf bitmap.
pub const BLIST_BMAP_RADIX: u64 = 64;
/// Children per meta node.
pub const BLIST_META_RADIX: usize = 16;
/// The longest run one allocation may ask for (runs stay inside a leaf).
pub const BLIST_MAX_ALLOC: u32 = BLIST_BMAP_RADIX as u32;

/// A swap slot: the index of one 4 KiB block on the swap partition.
///
/// 32 bits cover 16 TiB of swap and keep [`crate::swapmeta`]'s blocks
/// small; `u32::MAX` is reserved as "no slot" (BSD's `SWAPBLK_NONE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SwapSlot(pub u32);

impl SwapSlot {
    /// The slot index as a device block number.
    pub fn block(self) -> u64 {
        u64::from(self.0)
    }
}

/// The largest number of slots a [`Blist`] can manage (`u32::MAX` is the
/// "no slot" marker).
pub const BLIST_MAX_BLOCKS: u64 = u32::MAX as u64;

/// The radix-tree swap-slot allocator (`struct blist`).
#[derive(Clone, Debug)]
pub struct Blist {
    /// Number of real slots; bits past it in the last leaf are allocated.
    blocks: u64,
    /// Leaf bitmaps, `1` = free.
    leaves: Vec<u64>,
    /// Bad-slot masks of the leaves that have any (`1` = bad). Sparse
    /// because bad slots are rare: a dense bitmap would double the memory.
    bad: HashMap<usize, u64>,
    /// `meta[0]` holds one hint per leaf, `meta[k]` one per node of level
    /// `k`; the last level has a single node, the root.
    meta: Vec<Vec<u8>>,
    free: u64,
    bad_count: u64,
}

/// Longest run of set bits in `x` (0..=64), by binary lifting over run
/// lengths: `p[j]` marks the starts of runs of `2^j` ones.
fn longest_run(x: u64) -> u8 {
    if x == 0 {
        return 0;
    }
    if x == u64::MAX {
        return 64;
    }
    let mut p = [0u64; 7];
    p[0] = x;
    for j in 1..7 {
        let s = 1u32 << (j - 1);
        p[j] = p[j - 1] & (p[j - 1] >> s);
    }
    // `cur` marks the starts of runs of `len` ones; extend greedily.
    let mut cur = u64::MAX;
    let mut len = 0u32;
    for j in (0..7).rev() {
        if len >= 64 {
            break;
        }
        let cand = cur & (p[j] >> len);
        if cand != 0 {
            cur = cand;
            len += 1 << j;
        }
    }
    len as u8
}

/// Bit mask of the starts of runs of `n` (≥ 1) set bits in `x`.
fn run_starts(x: u64, n: u32) -> u64 {
    let mut y = x;
    let mut have = 1u32;
    while have < n && y != 0 {
        let step = have.min(n - have);
        y &= y >> step;
        have += step;
    }
    y
}

/// Mask of `count` bits starting at bit `start` (`start + count` ≤ 64).
fn mask(start: u32, count: u32) -> u64 {
    if count == 64 {
        u64::MAX
    } else {
        ((1u64 << count) - 1) << start
    }
}

impl Blist {
    /// Creates an allocator over `blocks` slots, all allocated (BSD's
    /// `blist_create`: the swap code frees the usable part).
    ///
    /// Caller contract: `blocks` ≤ [`BLIST_MAX_BLOCKS`].
    pub fn new(blocks: u64) -> Self {
        assert!(blocks <= BLIST_MAX_BLOCKS, "blist too large");
        let nleaves = (blocks.div_ceil(BLIST_BMAP_RADIX)).max(1) as usize;
        let mut meta = Vec::new();
        let mut n = nleaves;
        loop {
            meta.push(vec![0u8; n]);
            if n == 1 {
                break;
            }
            n = n.div_ceil(BLIST_META_RADIX);
        }
        Blist {
            blocks,
            leaves: vec![0; nleaves],
            bad: HashMap::new(),
            meta,
            free: 0,
            bad_count: 0,
        }
    }

    /// Creates an allocator with every slot free (the usual start).
    pub fn new_free(blocks: u64) -> Self {
        let mut bl = Self::new(blocks);
        if blocks > 0 {
            bl.free(SwapSlot(0), blocks);
        }
        bl
    }

    /// Number of slots managed.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Number of free slots (`blist_avail`).
    pub fn free_count(&self) -> u64 {
        self.free
    }

    /// Number of slots marked bad.
    pub fn bad_count(&self) -> u64 {
        self.bad_count
    }

    /// Slots allocated and not bad.
    pub fn in_use(&self) -> u64 {
        self.blocks - self.free - self.bad_count
    }

    /// The longest run one [`alloc`](Self::alloc) can currently satisfy.
    pub fn largest_free_run(&self) -> u32 {
        u32::from(self.meta[self.meta.len() - 1][0])
    }

    /// Whether `slot` is free. Caller contract: `slot` < `blocks()`.
    pub fn is_free(&self, slot: SwapSlot) -> bool {
        let b = slot.block();
        assert!(b < self.blocks, "slot out of range");
        self.leaves[(b / 64) as usize] & (1 << (b % 64)) != 0
    }

    /// Whether `slot` was marked bad. Caller contract: `slot` < `blocks()`.
    pub fn is_bad(&self, slot: SwapSlot) -> bool {
        let b = slot.block();
        assert!(b < self.blocks, "slot out of range");
        self.bad_mask((b / 64) as usize) & (1 << (b % 64)) != 0
    }

    /// Allocates the first run of `count` contiguous free slots (first fit
    /// in slot order, inside one leaf) and returns its first slot, or `None`
    /// when no such run exists. O(depth × 16) with exact hints.
    ///
    /// Caller contract: 1 ≤ `count` ≤ [`BLIST_MAX_ALLOC`].
    pub fn alloc(&mut self, count: u32) -> Option<SwapSlot> {
        assert!(
            (1..=BLIST_MAX_ALLOC).contains(&count),
            "blist alloc count out of range"
        );
        let top = self.meta.len() - 1;
        if u32::from(self.meta[top][0]) < count {
            return None;
        }
        // Descend: at each level take the first child whose hint fits.
        // Exact hints guarantee one exists.
        let mut node = 0usize;
        for level in (0..top).rev() {
            let first = node * BLIST_META_RADIX;
            let last = (first + BLIST_META_RADIX).min(self.meta[level].len());
            node = (first..last)
                .find(|&c| u32::from(self.meta[level][c]) >= count)
                .expect("blist hint inconsistent");
        }
        let starts = run_starts(self.leaves[node], count);
        debug_assert!(starts != 0, "blist leaf hint inconsistent");
        let bit = starts.trailing_zeros();
        self.leaves[node] &= !mask(bit, count);
        self.free -= u64::from(count);
        self.update_leaf(node);
        Some(SwapSlot((node as u64 * 64 + u64::from(bit)) as u32))
    }

    /// Frees `count` slots from `start` (`blist_free`); bad slots among
    /// them stay allocated and leave the in-use count.
    ///
    /// Caller contract: the range is in bounds and every slot in it is
    /// allocated (a double free panics, as in BSD).
    pub fn free(&mut self, start: SwapSlot, count: u64) {
        self.for_each_leaf(start.block(), count, |bl, leaf, m| {
            assert!(bl.leaves[leaf] & m == 0, "blist: freeing free slots");
            let good = m & !bl.bad_mask(leaf);
            bl.leaves[leaf] |= good;
            bl.free += u64::from(good.count_ones());
        });
    }

    /// Allocates every free slot in the range (`blist_fill`), e.g. to
    /// reserve a header or a region the device reports unusable, and
    /// returns how many were free. Caller contract: the range is in bounds.
    pub fn fill(&mut self, start: SwapSlot, count: u64) -> u64 {
        let mut filled = 0;
        self.for_each_leaf(start.block(), count, |bl, leaf, m| {
            let was_free = bl.leaves[leaf] & m;
            bl.leaves[leaf] &= !m;
            let n = u64::from(was_free.count_ones());
            bl.free -= n;
            filled += n;
        });
        filled
    }

    /// Marks the range bad: its slots are never handed out again. A free
    /// slot is taken out of the free map; an allocated one stays allocated
    /// and a later [`free`](Self::free) leaves it so. Returns how many
    /// slots were newly marked. Caller contract: the range is in bounds.
    pub fn mark_bad(&mut self, start: SwapSlot, count: u64) -> u64 {
        let mut marked = 0;
        self.for_each_leaf(start.block(), count, |bl, leaf, m| {
            let new = m & !bl.bad_mask(leaf);
            *bl.bad.entry(leaf).or_insert(0) |= new;
            let was_free = bl.leaves[leaf] & new;
            bl.leaves[leaf] &= !new;
            bl.free -= u64::from(was_free.count_ones());
            let n = u64::from(new.count_ones());
            bl.bad_count += n;
            marked += n;
        });
        marked
    }

    /// The bad-slot mask of `leaf`.
    fn bad_mask(&self, leaf: usize) -> u64 {
        if self.bad.is_empty() {
            0
        } else {
            self.bad.get(&leaf).copied().unwrap_or(0)
        }
    }

    /// Applies `f(self, leaf, mask)` to each leaf the range touches, then
    /// refreshes the hints of those leaves.
    fn for_each_leaf(&mut self, start: u64, count: u64, mut f: impl FnMut(&mut Self, usize, u64)) {
        let end = start.checked_add(count).expect("blist range overflow");
        assert!(end <= self.blocks, "blist range out of bounds");
        let mut b = start;
        while b < end {
            let leaf = (b / 64) as usize;
            let bit = (b % 64) as u32;
            let n = (64 - u64::from(bit)).min(end - b) as u32;
            f(self, leaf, mask(bit, n));
            self.update_leaf(leaf);
            b += u64::from(n);
        }
    }

    /// Recomputes the hint of `leaf` and of its ancestors while they change.
    fn update_leaf(&mut self, leaf: usize) {
        let mut v = longest_run(self.leaves[leaf]);
        let mut idx = leaf;
        for level in 0..self.meta.len() {
            // Hints were consistent before this change: an unchanged node
            // leaves its ancestors unchanged.
            if self.meta[level][idx] == v {
                return;
            }
            self.meta[level][idx] = v;
            if level + 1 == self.meta.len() {
                return;
            }
            let parent = idx / BLIST_META_RADIX;
            let first = parent * BLIST_META_RADIX;
            let last = (first + BLIST_META_RADIX).min(self.meta[level].len());
            v = self.meta[level][first..last]
                .iter()
                .copied()
                .max()
                .unwrap_or(0);
            idx = parent;
        }
    }

    /// Iterates over the allocated, not-bad slots in order (for leak checks
    /// and swapoff bookkeeping).
    pub fn iter_in_use(&self) -> impl Iterator<Item = SwapSlot> + '_ {
        (0..self.blocks)
            .filter(move |&b| {
                let (l, m) = ((b / 64) as usize, 1u64 << (b % 64));
                self.leaves[l] & m == 0 && self.bad_mask(l) & m == 0
            })
            .map(|b| SwapSlot(b as u32))
    }

    /// Checks the hints and counters against the bitmaps (tests, debug).
    pub fn check(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        let mut free = 0u64;
        let mut bad = 0u64;
        for (i, &l) in self.leaves.iter().enumerate() {
            let b = self.bad_mask(i);
            if l & b != 0 {
                return Err(format!("leaf {i}: bad slot marked free"));
            }
            free += u64::from(l.count_ones());
            bad += u64::from(b.count_ones());
            if self.meta[0][i] != longest_run(l) {
                return Err(format!(
                    "leaf {i}: hint {} != {}",
                    self.meta[0][i],
                    longest_run(l)
                ));
            }
        }
        let tail = self.blocks % 64;
        if tail != 0 && self.leaves[self.leaves.len() - 1] >> tail != 0 {
            return Err("slots past the end are free".into());
        }
        for level in 1..self.meta.len() {
            for (i, &h) in self.meta[level].iter().enumerate() {
                let first = i * BLIST_META_RADIX;
                let last = (first + BLIST_META_RADIX).min(self.meta[level - 1].len());
                let want = self.meta[level - 1][first..last]
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(0);
                if h != want {
                    return Err(format!("level {level} node {i}: hint {h} != {want}"));
                }
            }
        }
        if free != self.free || bad != self.bad_count {
            return Err(format!(
                "counters free {} bad {} != bitmaps {free} {bad}",
                self.free, self.bad_count
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_run_matches_naive() {
        let naive = |x: u64| {
            let (mut best, mut cur) = (0, 0);
            for i in 0..64 {
                if x & (1 << i) != 0 {
                    cur += 1;
                    best = best.max(cur);
                } else {
                    cur = 0;
                }
            }
            best as u8
        };
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for v in [x, x | (x >> 1), x & (x >> 3), !x & (x << 5) | 0xffff_0000] {
                assert_eq!(longest_run(v), naive(v), "{v:#x}");
            }
        }
        assert_eq!(longest_run(0), 0);
        assert_eq!(longest_run(u64::MAX), 64);
        assert_eq!(longest_run(u64::MAX >> 1), 63);
        assert_eq!(longest_run(u64::MAX << 1), 63);
    }

    #[test]
    fn alloc_free_basic() {
        let mut bl = Blist::new_free(1000);
        assert_eq!(bl.free_count(), 1000);
        assert_eq!(bl.largest_free_run(), 64);
        assert_eq!(bl.alloc(16), Some(SwapSlot(0)));
        assert_eq!(bl.alloc(1), Some(SwapSlot(16)));
        assert_eq!(bl.alloc(64), Some(SwapSlot(64)));
        // 47 slots left in leaf 0: a 48-run goes to leaf 2.
        assert_eq!(bl.alloc(48), Some(SwapSlot(128)));
        assert_eq!(bl.alloc(47), Some(SwapSlot(17)));
        bl.free(SwapSlot(0), 16);
        assert_eq!(bl.alloc(16), Some(SwapSlot(0)));
        bl.check().unwrap();
        assert_eq!(bl.in_use(), 16 + 1 + 64 + 48 + 47);
    }

    #[test]
    fn tail_is_never_allocated() {
        let mut bl = Blist::new_free(70);
        assert_eq!(bl.alloc(64), Some(SwapSlot(0)));
        assert_eq!(bl.largest_free_run(), 6);
        assert_eq!(bl.alloc(7), None);
        assert_eq!(bl.alloc(6), Some(SwapSlot(64)));
        assert_eq!(bl.alloc(1), None);
        assert_eq!(bl.free_count(), 0);
        bl.check().unwrap();
    }

    #[test]
    fn empty_and_full() {
        let mut bl = Blist::new_free(0);
        assert_eq!(bl.alloc(1), None);
        let mut bl = Blist::new(128);
        assert_eq!(bl.alloc(1), None);
        bl.free(SwapSlot(10), 100);
        assert_eq!(bl.free_count(), 100);
        assert_eq!(bl.fill(SwapSlot(0), 128), 100);
        assert_eq!(bl.free_count(), 0);
        bl.check().unwrap();
    }

    #[test]
    fn bad_slots_are_never_reused() {
        let mut bl = Blist::new_free(128);
        let s = bl.alloc(4).unwrap();
        assert_eq!(bl.mark_bad(SwapSlot(s.0 + 1), 1), 1);
        bl.free(s, 4);
        assert!(bl.is_bad(SwapSlot(1)) && !bl.is_free(SwapSlot(1)));
        assert_eq!(bl.free_count(), 127);
        assert_eq!(bl.bad_count(), 1);
        assert_eq!(bl.in_use(), 0);
        // A free slot marked bad leaves the free map.
        assert_eq!(bl.mark_bad(SwapSlot(100), 2), 2);
        assert_eq!(bl.free_count(), 125);
        for _ in 0..125 {
            let s = bl.alloc(1).unwrap();
            assert!(![1, 100, 101].contains(&s.0));
        }
        assert_eq!(bl.alloc(1), None);
        bl.check().unwrap();
    }

    #[test]
    #[should_panic(expected = "freeing free slots")]
    fn double_free_panics() {
        let mut bl = Blist::new_free(64);
        bl.free(SwapSlot(3), 1);
    }

    #[test]
    fn large_device_depth() {
        // 2^22 slots (16 GiB of swap): 65536 leaves, four meta levels.
        let mut bl = Blist::new_free(1 << 22);
        assert_eq!(bl.meta.len(), 5);
        let mut last = None;
        for _ in 0..1000 {
            last = bl.alloc(32);
        }
        assert_eq!(last, Some(SwapSlot(999 * 32)));
        bl.fill(SwapSlot(0), 1 << 22);
        assert_eq!(bl.alloc(1), None);
        bl.free(SwapSlot((1 << 22) - 5), 5);
        assert_eq!(bl.alloc(5), Some(SwapSlot((1 << 22) - 5)));
        bl.check().unwrap();
    }
}
