//! Address-space maps (`vm_map`): ordered entries, lookup, `findspace`, clipping and merging of neighbours.
//!
//! Locking: a map belongs to its `VmSpace`, which belongs to the
//! single-threaded `Vm`; the `&mut` borrow is the map lock.
//!
//! Entries live in a `BTreeMap` keyed by start address, so lookup, insert
//! and removal are O(log n) (DragonFly uses an RB tree). Entries never
//! overlap and never cover a hole; `check` verifies it.

use crate::chain::BackingChain;
use crate::object::ObjectTable;
use crate::page::PagePool;
use crate::types::{Advice, Inheritance, Prot, PAGE_SHIFT, PAGE_SIZE};
use alloc::collections::BTreeMap;
use alloc::string::String;
use bitflags::bitflags;

bitflags! {
    /// Entry state bits (`MAP_ENTRY_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct EntryFlags: u8 {
        /// Private mapping: writes go to a private front object
        /// (`MAP_ENTRY_COW`).
        const COW = 1 << 0;
        /// The front object is shared with another chain (after fork, or a
        /// private mapping of a shared object): the first write pushes a
        /// new front object (`MAP_ENTRY_NEEDS_COPY`).
        const NEEDS_COPY = 1 << 1;
        /// `MADV_HUGEPAGE`: faults may map the entry's 2 MiB-aligned
        /// parts with large pages (`large.rs`). Kept by clipping and
        /// fork, as the other stored advice is.
        const HUGE = 1 << 2;
        /// `MADV_NOHUGEPAGE`: no large page covers the entry, not even by
        /// transparent promotion (`VmConfig::large_transparent`). Kept
        /// as `HUGE` is.
        const NOHUGE = 1 << 3;
        /// The stored large-page advice.
        const HUGE_ADVICE = Self::HUGE.bits() | Self::NOHUGE.bits();
    }
}

/// One mapping (`vm_map_entry`).
#[derive(Debug)]
pub struct VmMapEntry {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) prot: Prot,
    pub(crate) max_prot: Prot,
    pub(crate) inheritance: Inheritance,
    /// Normal, Random or Sequential only.
    pub(crate) advice: Advice,
    /// 1 while locked by mlock, else 0 (locks do not stack: semantics
    /// table, mlock-stacking); each page of a wired entry holds one
    /// wiring of the page visible at its address.
    pub(crate) wired_count: u16,
    pub(crate) flags: EntryFlags,
    pub(crate) chain: BackingChain,
    /// Where a touch in order faults next (FreeBSD's `next_read`): the
    /// first page the last fault-around window left unmapped ahead, or
    /// the page after a fault `Vm::refault` entered alone. A fault there
    /// means the entry is touched in order, and fault-around looks
    /// further ahead. A hint only: no semantics, ignored by merging,
    /// reset by mmap, fork and madvise.
    pub(crate) next_fault: u64,
}

impl VmMapEntry {
    pub fn start(&self) -> u64 {
        self.start
    }
    pub fn end(&self) -> u64 {
        self.end
    }
    pub fn prot(&self) -> Prot {
        self.prot
    }
    pub fn max_prot(&self) -> Prot {
        self.max_prot
    }
    pub fn inheritance(&self) -> Inheritance {
        self.inheritance
    }
    pub fn advice(&self) -> Advice {
        self.advice
    }
    pub fn wired_count(&self) -> u16 {
        self.wired_count
    }
    pub fn flags(&self) -> EntryFlags {
        self.flags
    }
    pub fn chain(&self) -> &BackingChain {
        &self.chain
    }
    pub fn needs_copy(&self) -> bool {
        self.flags.contains(EntryFlags::NEEDS_COPY)
    }
    pub fn is_wired(&self) -> bool {
        self.wired_count > 0
    }
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
    pub fn npages(&self) -> u64 {
        self.len() >> PAGE_SHIFT
    }
    /// Page number of `va` relative to the entry start.
    #[inline]
    pub fn rel(&self, va: u64) -> u64 {
        (va - self.start) >> PAGE_SHIFT
    }

    /// Whether a fault at page `va` is a touch in order: advice
    /// Sequential, or the page `next_fault` names.
    #[inline]
    pub(crate) fn touched_in_order(&self, va: u64) -> bool {
        self.advice == Advice::Sequential || va == self.next_fault
    }

    /// Attributes that must match for two neighbours to merge.
    fn same_attributes(&self, o: &VmMapEntry) -> bool {
        self.prot == o.prot
            && self.max_prot == o.max_prot
            && self.inheritance == o.inheritance
            && self.advice == o.advice
            && self.wired_count == o.wired_count
            && self.flags == o.flags
    }
}

/// An ordered set of entries over `[min, max)`. Owned by its space.
#[derive(Debug)]
pub struct VmMap {
    entries: BTreeMap<u64, VmMapEntry>,
    /// The free ranges, start -> end: the exact complement of the
    /// entries, so `findspace` walks holes, not entries (a packed map of
    /// any size has few holes). Only `insert` and `remove` change it.
    gaps: BTreeMap<u64, u64>,
    min: u64,
    max: u64,
    /// Bytes mapped.
    size: u64,
}

impl VmMap {
    pub fn new(min: u64, max: u64) -> Self {
        let mut gaps = BTreeMap::new();
        gaps.insert(min, max);
        VmMap {
            entries: BTreeMap::new(),
            gaps,
            min,
            max,
            size: 0,
        }
    }
    pub fn min(&self) -> u64 {
        self.min
    }
    pub fn max(&self) -> u64 {
        self.max
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }
    pub fn entries(&self) -> impl Iterator<Item = &VmMapEntry> {
        self.entries.values()
    }

    /// The entry containing `va` (`vm_map_lookup_entry`), O(log n).
    #[inline]
    pub fn lookup(&self, va: u64) -> Option<&VmMapEntry> {
        self.entries
            .range(..=va)
            .next_back()
            .map(|(_, e)| e)
            .filter(|e| va < e.end)
    }

    /// The entry containing `va`, for changing it. The caller keeps the
    /// entry's range as it is (only attributes and chain may change).
    pub(crate) fn lookup_mut(&mut self, va: u64) -> Option<&mut VmMapEntry> {
        self.entries
            .range_mut(..=va)
            .next_back()
            .map(|(_, e)| e)
            .filter(|e| va < e.end)
    }

    /// Entry starting exactly at `start`.
    pub(crate) fn get_mut(&mut self, start: u64) -> Option<&mut VmMapEntry> {
        self.entries.get_mut(&start)
    }

    /// Start addresses of the entries overlapping `[start, end)`, in order.
    pub(crate) fn overlapping(&self, start: u64, end: u64) -> alloc::vec::Vec<u64> {
        let first = match self.lookup(start) {
            Some(e) => e.start,
            None => start,
        };
        self.entries.range(first..end).map(|(&s, _)| s).collect()
    }

    /// Entries overlapping `[start, end)`, in order.
    pub fn entries_in(&self, start: u64, end: u64) -> impl Iterator<Item = &VmMapEntry> {
        let first = self.lookup(start).map_or(start, |e| e.start);
        self.entries.range(first..end).map(|(_, e)| e)
    }

    /// True when no entry overlaps `[start, end)`.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        self.entries_in(start, end).next().is_none()
    }

    /// True when `[start, end)` is covered by entries without holes.
    pub fn fully_mapped(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        for e in self.entries_in(start, end) {
            if e.start > at {
                return false;
            }
            at = e.end;
            if at >= end {
                return true;
            }
        }
        at >= end
    }

    /// Find a free range of `len` bytes aligned to `align` (a power of two,
    /// at least a page), first fit at or above `hint`, wrapping to the map's
    /// bottom once (`vm_map_findspace`). Walks the holes above the hint,
    /// starting with one O(log n) lookup.
    pub fn findspace(&self, hint: u64, len: u64, align: u64) -> Option<u64> {
        let align = align.max(PAGE_SIZE);
        let up = |v: u64| v.checked_add(align - 1).map(|v| v & !(align - 1));
        let start_from = hint.clamp(self.min, self.max);
        let pass = |from: u64| -> Option<u64> {
            let first = match self.gaps.range(..=from).next_back() {
                Some((&gs, &ge)) if ge > from => gs,
                _ => from,
            };
            for (&gs, &ge) in self.gaps.range(first..) {
                let Some(addr) = up(gs.max(from)) else { break };
                if addr.checked_add(len).is_some_and(|end| end <= ge) {
                    return Some(addr);
                }
            }
            None
        };
        pass(start_from).or_else(|| {
            if start_from > self.min {
                pass(self.min)
            } else {
                None
            }
        })
    }

    /// Insert an entry. The caller has checked that its range is free and
    /// inside the map.
    pub(crate) fn insert(&mut self, e: VmMapEntry) {
        debug_assert!(self.is_free(e.start, e.end));
        let (&gs, &ge) = self.gaps.range(..=e.start).next_back().expect("free range");
        debug_assert!(ge >= e.end);
        self.gaps.remove(&gs);
        if gs < e.start {
            self.gaps.insert(gs, e.start);
        }
        if e.end < ge {
            self.gaps.insert(e.end, ge);
        }
        self.size += e.len();
        self.entries.insert(e.start, e);
    }

    /// Remove the entry starting at `start`. The caller releases its chain.
    pub(crate) fn remove(&mut self, start: u64) -> VmMapEntry {
        let e = self.entries.remove(&start).expect("no entry at start");
        self.size -= e.len();
        // The hole it leaves joins the holes on either side.
        let mut gs = e.start;
        let mut ge = e.end;
        if let Some((&ps, &pe)) = self.gaps.range(..e.start).next_back() {
            if pe == e.start {
                self.gaps.remove(&ps);
                gs = ps;
            }
        }
        if let Some(ne) = self.gaps.remove(&e.end) {
            ge = ne;
        }
        self.gaps.insert(gs, ge);
        e
    }

    /// Split the entry containing `addr` so that an entry starts at `addr`
    /// (`vm_map_clip_start`/`vm_map_clip_end` in one). Both halves share
    /// the chain, so each link gains a reference.
    pub(crate) fn clip(&mut self, addr: u64, objects: &mut ObjectTable) {
        let Some(e) = self.lookup_mut(addr) else {
            return;
        };
        if e.start == addr {
            return;
        }
        let delta = addr - e.start;
        let mut chain = e.chain.clone_ref(objects);
        chain.shift(delta);
        let right = VmMapEntry {
            start: addr,
            end: e.end,
            prot: e.prot,
            max_prot: e.max_prot,
            inheritance: e.inheritance,
            advice: e.advice,
            wired_count: e.wired_count,
            flags: e.flags,
            chain,
            next_fault: e.next_fault,
        };
        e.end = addr;
        self.entries.insert(addr, right);
    }

    /// Clip so that entries begin at `start` and at `end`.
    pub(crate) fn clip_range(&mut self, start: u64, end: u64, objects: &mut ObjectTable) {
        self.clip(start, objects);
        self.clip(end, objects);
    }

    /// Merge the entry starting at `start` with its neighbours where they
    /// are contiguous, alike and see the same objects at contiguous
    /// offsets (`vm_map_simplify_entry`).
    pub(crate) fn simplify(&mut self, start: u64, objects: &mut ObjectTable, pool: &mut PagePool) {
        // Merge with the next one, then let the previous one absorb us.
        if let Some(e) = self.entries.get(&start) {
            let end = e.end;
            if self.mergeable(start, end) {
                self.absorb(start, end, objects, pool);
            }
        } else {
            return;
        }
        let prev = self
            .entries
            .range(..start)
            .next_back()
            .map(|(&s, e)| (s, e.end));
        if let Some((ps, pe)) = prev {
            if pe == start && self.mergeable(ps, start) {
                self.absorb(ps, start, objects, pool);
            }
        }
    }

    /// True when the entries starting at `left` and `right` may merge.
    fn mergeable(&self, left: u64, right: u64) -> bool {
        let (Some(l), Some(r)) = (self.entries.get(&left), self.entries.get(&right)) else {
            return false;
        };
        l.end == r.start && l.same_attributes(r) && l.chain.continues_into(&r.chain, l.len())
    }

    /// Extend `left` over `right` and drop `right`'s references. The
    /// caller has checked `mergeable(left, right)`.
    fn absorb(&mut self, left: u64, right: u64, objects: &mut ObjectTable, pool: &mut PagePool) {
        let r = self.entries.remove(&right).expect("right neighbour");
        let l = self.entries.get_mut(&left).expect("left neighbour");
        l.end = r.end;
        r.chain.release(objects, pool);
    }

    /// Check ordering, bounds and the size total.
    pub fn check(&self) -> Result<(), String> {
        use alloc::format;
        let mut prev_end = self.min;
        let mut size = 0;
        for (&s, e) in &self.entries {
            if s != e.start
                || e.start >= e.end
                || e.start & (PAGE_SIZE - 1) != 0
                || e.end & (PAGE_SIZE - 1) != 0
            {
                return Err(format!("bad entry {:#x}..{:#x}", e.start, e.end));
            }
            if e.start < prev_end || e.end > self.max {
                return Err(format!(
                    "entry {:#x}..{:#x} overlaps or leaves the map",
                    e.start, e.end
                ));
            }
            if !e.max_prot.contains(e.prot) {
                return Err(format!("entry {:#x}: prot above max", e.start));
            }
            if e.needs_copy() && e.chain.is_empty() {
                return Err(format!("entry {:#x}: needs-copy without object", e.start));
            }
            prev_end = e.end;
            size += e.len();
        }
        if size != self.size {
            return Err(format!("map size {} vs entries {}", self.size, size));
        }
        // The holes are exactly the complement of the entries.
        let mut at = self.min;
        let mut holes = self.gaps.iter();
        for e in self.entries.values() {
            if e.start > at && holes.next() != Some((&at, &e.start)) {
                return Err(format!("hole {at:#x}..{:#x} missing", e.start));
            }
            at = e.end;
        }
        if at < self.max && holes.next() != Some((&at, &self.max)) {
            return Err(format!("hole {at:#x}..{:#x} missing", self.max));
        }
        if let Some((s, e)) = holes.next() {
            return Err(format!("stray hole {s:#x}..{e:#x}"));
        }
        Ok(())
    }
}
