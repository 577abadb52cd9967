//! Per-object swap metadata: which swap slot holds each paged-out page of one VM object (DragonFly's `swblock`s).
//!
//! An object's page indices map to [`SwapSlot`]s through a `BTreeMap` from
//! a cluster-aligned base index to a [`SwBlock`] of [`SWAP_META_PAGES`]
//! slots, as DragonFly keeps a per-object red-black tree of `swblock`s.
//! A sparse object pays one boxed 68-byte block (plus its 8-byte key,
//! the box pointer and the tree's overhead) per 16-page cluster that has
//! anything on swap, a dense one about 6 bytes per page.
//!
//! Why a `BTreeMap` and not a hash map: truncation, `munmap`, collapse and
//! swapoff walk index *ranges* in order, and page-in read-ahead looks at
//! neighbours; an ordered map makes those O(blocks in range) rather than a
//! scan of the whole table.
//!
//! The map never frees slots itself: every operation that drops a slot
//! returns it (or hands it to a callback) so the caller returns it to the
//! [`Blist`](crate::blist::Blist) — or defers that while a write to it is
//! in flight.
//!
//! Locking: none. Owned by its VM object, which the single-threaded VM
//! server loop owns.

use crate::blist::SwapSlot;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::Range;

/// Slots per [`SwBlock`] (DragonFly's `SWAP_META_PAGES`).
pub const SWAP_META_PAGES: u64 = 16;

const NONE: u32 = u32::MAX;

/// One cluster of swap slots (`struct swblock`): slot `i` belongs to page
/// `base + i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwBlock {
    slots: [u32; SWAP_META_PAGES as usize],
    count: u8,
}

impl SwBlock {
    fn new() -> Self {
        SwBlock {
            slots: [NONE; SWAP_META_PAGES as usize],
            count: 0,
        }
    }
}

/// A run of pages whose slots are also contiguous: one device transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwapRun {
    /// First page index of the run.
    pub pindex: u64,
    /// Slot of the first page; page `pindex + i` is in slot `slot + i`.
    pub slot: SwapSlot,
    /// Pages in the run (≥ 1).
    pub count: u32,
}

/// The swap metadata of one object (`swblock` tree + `swb_npages`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SwapMeta {
    /// Boxed: a leaf of the tree then holds 11 keys and pointers (192
    /// bytes) rather than 11 blocks (850), so a sparse object's few
    /// blocks do not pay for a wide node, and a dense one pays less slack.
    blocks: BTreeMap<u64, Box<SwBlock>>,
    count: u64,
}

fn split(pindex: u64) -> (u64, usize) {
    (
        pindex & !(SWAP_META_PAGES - 1),
        (pindex % SWAP_META_PAGES) as usize,
    )
}

impl SwapMeta {
    /// An object with nothing on swap.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pages with a slot.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no page has a slot.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of `SwBlock`s allocated (about 80–90 bytes each in the tree).
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// The slot of page `pindex`, if it has one.
    pub fn lookup(&self, pindex: u64) -> Option<SwapSlot> {
        let (base, i) = split(pindex);
        let s = self.blocks.get(&base)?.slots[i];
        (s != NONE).then_some(SwapSlot(s))
    }

    /// Records that page `pindex` is in `slot` and returns the slot it had
    /// before, which the caller must free (`swp_pager_meta_build`).
    ///
    /// Caller contract: `slot` is not `SwapSlot(u32::MAX)`.
    pub fn insert(&mut self, pindex: u64, slot: SwapSlot) -> Option<SwapSlot> {
        assert!(slot.0 != NONE, "SwapSlot(u32::MAX) is the none marker");
        let (base, i) = split(pindex);
        let b = self
            .blocks
            .entry(base)
            .or_insert_with(|| Box::new(SwBlock::new()));
        let old = core::mem::replace(&mut b.slots[i], slot.0);
        if old == NONE {
            b.count += 1;
            self.count += 1;
            None
        } else {
            Some(SwapSlot(old))
        }
    }

    /// Forgets page `pindex`'s slot and returns it for the caller to free
    /// (`swp_pager_meta_ctl(SWM_POP)`).
    pub fn remove(&mut self, pindex: u64) -> Option<SwapSlot> {
        let (base, i) = split(pindex);
        let b = self.blocks.get_mut(&base)?;
        let old = core::mem::replace(&mut b.slots[i], NONE);
        if old == NONE {
            return None;
        }
        b.count -= 1;
        self.count -= 1;
        if b.count == 0 {
            self.blocks.remove(&base);
        }
        Some(SwapSlot(old))
    }

    /// Removes every slot of pages in `range`, handing each `(pindex,
    /// slot)` to `freed` in index order, and returns how many there were
    /// (`swp_pager_meta_free`: truncate, munmap of a private range, object
    /// death).
    pub fn remove_range(&mut self, range: Range<u64>, mut freed: impl FnMut(u64, SwapSlot)) -> u64 {
        if range.start >= range.end {
            return 0;
        }
        let (first_base, _) = split(range.start);
        let mut n = 0;
        let mut emptied = Vec::new();
        for (&base, b) in self.blocks.range_mut(first_base..range.end) {
            for i in 0..SWAP_META_PAGES {
                let p = base + i;
                if p < range.start || p >= range.end || b.slots[i as usize] == NONE {
                    continue;
                }
                freed(p, SwapSlot(b.slots[i as usize]));
                b.slots[i as usize] = NONE;
                b.count -= 1;
                n += 1;
            }
            if b.count == 0 {
                emptied.push(base);
            }
        }
        for base in emptied {
            self.blocks.remove(&base);
        }
        self.count -= n;
        n
    }

    /// Removes everything (object death), handing each slot to `freed`.
    pub fn clear(&mut self, freed: impl FnMut(u64, SwapSlot)) -> u64 {
        self.remove_range(0..u64::MAX, freed)
    }

    /// Iterates `(pindex, slot)` in index order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, SwapSlot)> + '_ {
        self.range(0..u64::MAX)
    }

    /// Iterates `(pindex, slot)` for pages in `range`, in index order.
    pub fn range(&self, range: Range<u64>) -> impl Iterator<Item = (u64, SwapSlot)> + '_ {
        let (first_base, _) = split(range.start.min(range.end));
        self.blocks
            .range(first_base..range.end.max(first_base))
            .flat_map(|(&base, b)| {
                b.slots
                    .iter()
                    .enumerate()
                    .filter(|(_, &s)| s != NONE)
                    .map(move |(i, &s)| (base + i as u64, SwapSlot(s)))
            })
            .filter(move |(p, _)| range.contains(p))
    }

    /// The run of pages around `pindex` whose slots are contiguous on the
    /// device, extended at most `max_before` pages down and `max_after` up
    /// (`swap_pager_haspage`'s before/after): page-in reads it with one
    /// request. `None` if `pindex` has no slot.
    pub fn cluster(&self, pindex: u64, max_before: u32, max_after: u32) -> Option<SwapRun> {
        let slot = self.lookup(pindex)?;
        // Each step reads the slot array of its page's block, searched for
        // in the tree again only when the step crosses into another block:
        // a search a page was a third of a page-in window's set-up
        // (docs/performance.md, "The swap rows' bound").
        let mut block: Option<(u64, &SwBlock)> = None;
        let mut slot_of = |p: u64| -> Option<SwapSlot> {
            let (base, i) = split(p);
            let b = match block {
                Some((at, b)) if at == base => b,
                _ => {
                    let b = self.blocks.get(&base)?;
                    block = Some((base, b));
                    b
                }
            };
            let s = b.slots[i];
            (s != NONE).then_some(SwapSlot(s))
        };
        let mut before = 0u32;
        while before < max_before {
            let (p, want) = (
                pindex.checked_sub(u64::from(before) + 1),
                slot.0.checked_sub(before + 1),
            );
            match (p, want) {
                (Some(p), Some(w)) if slot_of(p) == Some(SwapSlot(w)) => before += 1,
                _ => break,
            }
        }
        let mut after = 0u32;
        while after < max_after {
            let p = pindex.checked_add(u64::from(after) + 1);
            let w = slot.0.checked_add(after + 1);
            match (p, w) {
                (Some(p), Some(w)) if w != NONE && slot_of(p) == Some(SwapSlot(w)) => after += 1,
                _ => break,
            }
        }
        Some(SwapRun {
            pindex: pindex - u64::from(before),
            slot: SwapSlot(slot.0 - before),
            count: before + 1 + after,
        })
    }

    /// Moves the slots of `src`'s pages in `range` into `self`, page `p`
    /// becoming page `p - range.start + dst_start` (`swap_pager_copy`, for
    /// collapse and object split). A moved slot whose destination page is
    /// already valid — `dst_has_page(dst_index)` says a resident page
    /// exists, or `self` already has a slot — is handed to `freed` instead,
    /// since the destination's copy is newer. Returns how many moved.
    ///
    /// Caller contract: `range` and the destination range do not overflow.
    pub fn move_range(
        &mut self,
        src: &mut SwapMeta,
        range: Range<u64>,
        dst_start: u64,
        mut dst_has_page: impl FnMut(u64) -> bool,
        mut freed: impl FnMut(SwapSlot),
    ) -> u64 {
        let mut moved = 0;
        let mut taken = Vec::new();
        src.remove_range(range.clone(), |p, s| taken.push((p, s)));
        for (p, s) in taken {
            let d = p - range.start + dst_start;
            if dst_has_page(d) || self.lookup(d).is_some() {
                freed(s);
            } else {
                self.insert(d, s);
                moved += 1;
            }
        }
        moved
    }

    /// Checks counters against the blocks (tests, debug).
    pub fn check(&self) -> Result<(), alloc::string::String> {
        let mut total = 0;
        for (&base, b) in &self.blocks {
            let n = b.slots.iter().filter(|&&s| s != NONE).count();
            if base % SWAP_META_PAGES != 0 || n != usize::from(b.count) || n == 0 {
                return Err(alloc::format!(
                    "swblock {base}: count {} slots {n}",
                    b.count
                ));
            }
            total += n as u64;
        }
        if total != self.count {
            return Err(alloc::format!("count {} != {total}", self.count));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_lookup_remove() {
        let mut m = SwapMeta::new();
        assert_eq!(m.insert(5, SwapSlot(100)), None);
        assert_eq!(m.insert(5, SwapSlot(101)), Some(SwapSlot(100)));
        assert_eq!(m.insert(1 << 40, SwapSlot(7)), None);
        assert_eq!(m.lookup(5), Some(SwapSlot(101)));
        assert_eq!(m.lookup(6), None);
        assert_eq!(m.len(), 2);
        assert_eq!(m.block_count(), 2);
        assert_eq!(m.remove(5), Some(SwapSlot(101)));
        assert_eq!(m.remove(5), None);
        assert_eq!(m.block_count(), 1);
        m.check().unwrap();
    }

    #[test]
    fn range_removal_and_iteration() {
        let mut m = SwapMeta::new();
        for p in (0..100).step_by(3) {
            m.insert(p, SwapSlot(p as u32 * 2));
        }
        let got: Vec<_> = m.range(10..20).map(|(p, _)| p).collect();
        assert_eq!(got, [12, 15, 18]);
        let mut freed = Vec::new();
        assert_eq!(m.remove_range(17..40, |p, s| freed.push((p, s))), 8);
        assert_eq!(freed[0], (18, SwapSlot(36)));
        assert!(m.range(17..40).next().is_none());
        assert_eq!(m.clear(|_, _| {}), 34 - 8);
        assert!(m.is_empty() && m.block_count() == 0);
    }

    #[test]
    fn cluster_finds_contiguous_runs() {
        let mut m = SwapMeta::new();
        for i in 0..10u64 {
            m.insert(30 + i, SwapSlot(500 + i as u32));
        }
        m.insert(40, SwapSlot(9)); // not contiguous on the device
        let r = m.cluster(33, 8, 8).unwrap();
        assert_eq!((r.pindex, r.slot, r.count), (30, SwapSlot(500), 10));
        let r = m.cluster(33, 1, 2).unwrap();
        assert_eq!((r.pindex, r.slot, r.count), (32, SwapSlot(502), 4));
        assert_eq!(m.cluster(29, 4, 4), None);
        assert_eq!(m.cluster(40, 4, 4).unwrap().count, 1);
    }

    #[test]
    fn move_range_frees_shadowed_slots() {
        let mut src = SwapMeta::new();
        let mut dst = SwapMeta::new();
        for p in 0..8 {
            src.insert(p, SwapSlot(p as u32));
        }
        dst.insert(102, SwapSlot(50));
        let mut freed = Vec::new();
        // Pages 2..6 of src become 101..105 of dst; dst page 103 is resident.
        let n = dst.move_range(&mut src, 2..6, 101, |d| d == 103, |s| freed.push(s));
        assert_eq!(n, 2);
        assert_eq!(freed, [SwapSlot(3), SwapSlot(4)]);
        assert_eq!(dst.lookup(101), Some(SwapSlot(2)));
        assert_eq!(dst.lookup(102), Some(SwapSlot(50)));
        assert_eq!(dst.lookup(104), Some(SwapSlot(5)));
        assert_eq!(src.len(), 4);
        src.check().unwrap();
        dst.check().unwrap();
    }
}
