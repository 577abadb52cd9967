//! Backing chains (`vm_map_backing`): the per-entry list of objects a private mapping reads through, and the walks over it (lookup, visibility, counts).
//!
//! Locking: chains live in map entries, objects in the object table, both
//! owned by the single-threaded `Vm`.
//!
//! A chain is front-first: `links[0]` is where this entry's writes go,
//! deeper links hold older copy-on-write generations. Each link stores its
//! own byte offset of the entry's start in its object (DragonFly's
//! cumulative `ba->offset`), so the page index at any depth is one add, and
//! clipping shifts every link by the same amount. Changing a chain's shape
//! (shadow, collapse, merge, flatten) is `collapse.rs`'s business.
//!
//! Shape invariant (checked by `Vm::check_invariants`):
//! * every link but the last is private anonymous memory (`is_private_anon`);
//!   the last may also be a shared anonymous, shared-memory or physical
//!   object (a *base*), which is never collapsed;
//! * two chains holding the same object hold the same links below it, so an
//!   object referenced only by this chain may be changed in place;
//! * the length never exceeds `VmConfig::max_chain_depth`, and a needs-copy
//!   entry's is below it (room for the push its first write makes).

use crate::error::VmError;
use crate::object::{ObjectFlags, ObjectKind, ObjectTable};
use crate::page::PagePool;
use crate::types::{FrameNumber, ObjectId, PAGE_SHIFT};
use alloc::collections::BTreeMap;
use smallvec::{smallvec, SmallVec};

/// One object a mapping sees, and where (`struct vm_map_backing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackingLink {
    pub object: ObjectId,
    /// Byte offset in `object` of the entry's first page.
    pub offset: u64,
}

impl BackingLink {
    /// Object page index for the entry-relative page `rel`.
    #[inline]
    pub fn pindex(&self, rel: u64) -> u64 {
        (self.offset >> PAGE_SHIFT) + rel
    }
}

/// The objects a map entry sees, front first. Each link holds one object
/// reference; the entry that owns the chain owns those references.
#[derive(Debug, Default)]
pub struct BackingChain {
    /// Inline while the chain has one link (most entries): the fault's
    /// walk then reads it from the map entry, not from an allocation on a
    /// data page of its own (docs/performance.md, "Data pages of a fault").
    pub(crate) links: SmallVec<[BackingLink; 1]>,
}

impl BackingChain {
    /// A chain of one object (which the caller's reference now belongs to).
    pub(crate) fn single(object: ObjectId, offset: u64) -> Self {
        BackingChain {
            links: smallvec![BackingLink { object, offset }],
        }
    }

    pub fn links(&self) -> &[BackingLink] {
        &self.links
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    pub fn front(&self) -> Option<BackingLink> {
        self.links.first().copied()
    }

    /// A copy of the chain with a new reference on every link.
    pub(crate) fn clone_ref(&self, objects: &mut ObjectTable) -> Self {
        for l in &self.links {
            objects.reference(l.object);
        }
        BackingChain {
            links: self.links.clone(),
        }
    }

    /// Drop every link's reference. The caller has removed this entry's
    /// mappings. Returns pages freed by terminations.
    pub(crate) fn release(self, objects: &mut ObjectTable, pool: &mut PagePool) -> u64 {
        self.links
            .into_iter()
            .map(|l| objects.deallocate(l.object, pool))
            .sum()
    }

    /// Move the chain's origin `delta` bytes forward (clipping).
    pub(crate) fn shift(&mut self, delta: u64) {
        for l in &mut self.links {
            l.offset += delta;
        }
    }

    /// True when `next` (an entry starting right after `left_len` bytes of
    /// this one) sees the same objects at contiguous offsets.
    pub(crate) fn continues_into(&self, next: &BackingChain, left_len: u64) -> bool {
        self.links.len() == next.links.len()
            && self
                .links
                .iter()
                .zip(&next.links)
                .all(|(a, b)| a.object == b.object && a.offset + left_len == b.offset)
    }

    /// First page visible at entry-relative page `rel`, with its depth
    /// (the chain walk of `vm_fault`). A page on swap counts as a page: it
    /// hides everything below it, and a pager object has every page below
    /// its size (`Paged`: the pager supplies what is not resident). Fails
    /// with `BeyondObject` when the walk reaches a sized object past its
    /// end, and with `PagerDead` when it reaches a dead pager's object.
    #[inline]
    pub fn lookup(&self, objects: &ObjectTable, rel: u64) -> Result<Lookup, VmError> {
        for (depth, l) in self.links.iter().enumerate() {
            let obj = objects.get(l.object);
            let pindex = l.pindex(rel);
            if obj.flags().contains(ObjectFlags::DEAD) {
                return Err(VmError::PagerDead);
            }
            if let Some(f) = obj.lookup(pindex) {
                return Ok(Lookup::Resident(depth, f));
            }
            if obj.swap_slot(pindex).is_some() {
                return Ok(Lookup::Swapped(depth));
            }
            if obj.bounded() && pindex >= obj.size() {
                return Err(VmError::BeyondObject);
            }
            if let ObjectKind::Paged { .. } = obj.kind() {
                return Ok(Lookup::Paged(depth));
            }
        }
        Ok(Lookup::Empty)
    }

    /// True when the chain ends in a pager object (a file mapping):
    /// its pages cannot be read synchronously, so fork gives a copy of
    /// such a mapping a copy-on-write view instead of a snapshot.
    pub(crate) fn over_pager(&self, objects: &ObjectTable) -> bool {
        self.links
            .last()
            .is_some_and(|l| matches!(objects.get(l.object).kind(), ObjectKind::Paged { .. }))
    }

    /// The visible resident page at `rel`, if any, ignoring object bounds
    /// (`None` when the visible page is on swap).
    pub fn visible(&self, objects: &ObjectTable, rel: u64) -> Option<FrameNumber> {
        for l in &self.links {
            let obj = objects.get(l.object);
            let pindex = l.pindex(rel);
            if let Some(f) = obj.lookup(pindex) {
                return Some(f);
            }
            if obj.swap_slot(pindex).is_some() {
                return None;
            }
        }
        None
    }

    /// Every visible resident page with entry-relative index in
    /// `[from, to)`, by index, walking each object's tree once (cost is
    /// resident pages, not the window size). Links above `from_depth` only
    /// hide pages.
    pub(crate) fn visible_pages(
        &self,
        objects: &ObjectTable,
        from: u64,
        to: u64,
        from_depth: usize,
    ) -> BTreeMap<u64, FrameNumber> {
        let mut seen: BTreeMap<u64, FrameNumber> = BTreeMap::new();
        let mut hidden: alloc::collections::BTreeSet<u64> = Default::default();
        for (depth, l) in self.links.iter().enumerate() {
            let obj = objects.get(l.object);
            let base = l.offset >> PAGE_SHIFT;
            let mut found = |rel: u64, f: FrameNumber| {
                if depth < from_depth {
                    hidden.insert(rel);
                } else if !hidden.contains(&rel) {
                    seen.entry(rel).or_insert(f);
                }
            };
            match obj.kind() {
                ObjectKind::Physical { .. } => {
                    let hi = obj.size().min(base + to);
                    for p in base + from..hi {
                        found(p - base, obj.lookup(p).expect("physical page"));
                    }
                }
                _ => {
                    for (p, f) in obj.pages_in(base + from, base + to) {
                        found(p - base, f);
                    }
                    // Pages on swap hide what lies below them.
                    for (p, _) in obj.swap().range(base + from..base + to) {
                        hidden.insert(p - base);
                    }
                }
            }
        }
        seen
    }

    /// The first `k` links alone (what a merge of them copies).
    pub(crate) fn prefix(&self, k: usize) -> BackingChain {
        BackingChain {
            links: SmallVec::from_slice(&self.links[..k]),
        }
    }

    /// Pages with contents visible in entry-relative `[0, n)`, as
    /// (resident, on swap only); pages past a sized object's end do not
    /// count. Cost is the pages and slots in the window.
    pub(crate) fn visible_counts(&self, objects: &ObjectTable, n: u64) -> (u64, u64) {
        let mut seen = alloc::collections::BTreeSet::new();
        let (mut resident, mut swapped) = (0, 0);
        for l in &self.links {
            let obj = objects.get(l.object);
            let base = l.offset >> PAGE_SHIFT;
            if let ObjectKind::Physical { .. } = obj.kind() {
                for p in base..obj.size().min(base + n) {
                    resident += u64::from(seen.insert(p - base));
                }
                continue;
            }
            for (p, _) in obj.pages_in(base, base + n) {
                resident += u64::from(seen.insert(p - base));
            }
            for (p, _) in obj.swap().range(base..base + n) {
                swapped += u64::from(seen.insert(p - base));
            }
        }
        (resident, swapped)
    }
}

/// What a chain walk found at one entry-relative page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A resident page at this depth (it may be busy under swap I/O).
    Resident(usize, FrameNumber),
    /// The page at this depth is on swap and not resident.
    Swapped(usize),
    /// The page at this depth belongs to a pager object and is not
    /// resident: its pager supplies it.
    Paged(usize),
    /// No link has the page: it is zero.
    Empty,
}

/// Make `f` the page visible at one address of a wired entry in place of
/// `old`: the entry's wiring moves with the visibility.
pub(crate) fn transfer_wiring(pool: &mut PagePool, old: Option<FrameNumber>, new: FrameNumber) {
    pool.wire(new);
    if let Some(o) = old {
        pool.unwire(o);
    }
}
