//! Backing chains (`vm_map_backing`): the per-entry list of objects a private mapping reads through, shadowing on first write, collapse and depth bounding.
//!
//! Locking: chains live in map entries, objects in the object table, both
//! owned by the single-threaded `Vm`.
//!
//! A chain is front-first: `links[0]` is where this entry's writes go,
//! deeper links hold older copy-on-write generations. Each link stores its
//! own byte offset of the entry's start in its object (DragonFly's
//! cumulative `ba->offset`), so the page index at any depth is one add, and
//! clipping shifts every link by the same amount.
//!
//! Shape invariant (checked by `Vm::check_invariants`):
//! * every link but the last is private anonymous memory (`is_private_anon`);
//!   the last may also be a shared anonymous, shared-memory or physical
//!   object (a *base*), which is never collapsed;
//! * two chains holding the same object hold the same links below it, so an
//!   object referenced only by this chain may be changed in place;
//! * the length never exceeds `VmConfig::max_chain_depth`.

use crate::error::VmError;
use crate::map::{EntryFlags, VmMapEntry};
use crate::object::{adopt, ObjectKind, ObjectTable};
use crate::page::{AllocClass, PageFlags, PagePool};
use crate::pmap::Pmap;
use crate::types::{FrameNumber, ObjectId, SpaceId, PAGE_SHIFT, PAGE_SIZE};
use crate::vm::Res;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

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
    links: Vec<BackingLink>,
}

impl BackingChain {
    /// A chain of one object (which the caller's reference now belongs to).
    pub(crate) fn single(object: ObjectId, offset: u64) -> Self {
        BackingChain {
            links: alloc::vec![BackingLink { object, offset }],
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
    /// hides everything below it. Fails with `BeyondObject` when the walk
    /// reaches a sized object past its end.
    #[inline]
    pub fn lookup(&self, objects: &ObjectTable, rel: u64) -> Result<Lookup, VmError> {
        for (depth, l) in self.links.iter().enumerate() {
            let obj = objects.get(l.object);
            let pindex = l.pindex(rel);
            if let Some(f) = obj.lookup(pindex) {
                return Ok(Lookup::Resident(depth, f));
            }
            if obj.swap_slot(pindex).is_some() {
                return Ok(Lookup::Swapped(depth));
            }
            if obj.bounded() && pindex >= obj.size() {
                return Err(VmError::BeyondObject);
            }
        }
        Ok(Lookup::Empty)
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
}

impl BackingChain {
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

impl Res {
    /// Give a needs-copy entry a front object of its own before it writes
    /// (`vm_map_entry_shadow`): reuse the front if no other chain holds
    /// it, else push a fresh anonymous object, first shortening the chain
    /// so it stays within the depth limit. The caller holds the entry of
    /// `space`; the entry needs copy and has a chain.
    pub(crate) fn shadow_entry<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        entry: &mut VmMapEntry,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        debug_assert!(entry.needs_copy() && !entry.chain.is_empty());
        self.collapse_chain(entry);
        loop {
            let front = entry.chain.links[0].object;
            let fo = self.objects.get(front);
            if fo.is_private_anon() && fo.ref_count() == 1 {
                entry.flags.remove(EntryFlags::NEEDS_COPY);
                return Ok(());
            }
            if entry.chain.len() < self.config.max_chain_depth {
                break;
            }
            // Full: fold the two front links into one private copy. The
            // result has one reference, so the loop then ends above. The
            // copy needs what the two links have on swap resident first.
            self.swapin_chain(&entry.chain, 0..2, entry.npages(), pmap)?;
            self.merge_pair(space, entry, 0, pmap)?;
        }
        let obj = self.objects.allocate(ObjectKind::Anonymous, entry.npages());
        entry.chain.links.insert(
            0,
            BackingLink {
                object: obj,
                offset: 0,
            },
        );
        entry.flags.remove(EntryFlags::NEEDS_COPY);
        self.stats.shadows += 1;
        Ok(())
    }

    /// Collapse every pair of private links that no other chain holds,
    /// moving the deeper object's pages up (`vm_object_collapse`). Needs
    /// no memory and leaves every mapping valid (frames stay the same).
    /// The caller holds the entry.
    pub(crate) fn collapse_chain(&mut self, entry: &mut VmMapEntry) {
        let mut i = entry.chain.len();
        while i >= 2 {
            i -= 1;
            let a = entry.chain.links[i - 1].object;
            let b = entry.chain.links[i].object;
            let (oa, ob) = (self.objects.get(a), self.objects.get(b));
            if oa.is_private_anon()
                && ob.is_private_anon()
                && oa.ref_count() == 1
                && ob.ref_count() == 1
                && oa.busy_count() == 0
                && ob.busy_count() == 0
            {
                // Objects with pages under swap I/O wait for the next fault.
                self.collapse_pair(entry, i - 1);
            }
        }
    }

    /// Move link `i + 1`'s pages into link `i` and drop it. Both are private
    /// anonymous objects referenced only by this chain.
    fn collapse_pair(&mut self, entry: &mut VmMapEntry, i: usize) {
        let a = entry.chain.links[i];
        let b = entry.chain.links.remove(i + 1);
        let (alo, blo, n) = (
            a.offset >> PAGE_SHIFT,
            b.offset >> PAGE_SHIFT,
            entry.npages(),
        );
        let pages = self.objects.split_off_pages(b.object, 0);
        let mut moved = 0;
        for (bi, f) in pages {
            let inside = bi >= blo && bi < blo + n;
            let ai = bi.wrapping_sub(blo).wrapping_add(alo);
            if inside && !self.objects.get(a.object).has_page(ai) {
                // The page's slot (if any) moves with it below.
                adopt(&mut self.objects, &mut self.pool, f, a.object, ai);
                moved += 1;
            } else {
                // Shadowed by `a` or outside every window: nobody sees it,
                // so nobody maps or wires it.
                self.pool.free(f);
                self.stats.pages_freed += 1;
            }
        }
        // Slots of b's window move up unless a has the page (resident or
        // on swap); the rest are freed with b.
        self.objects
            .swap_move(b.object, blo..blo + n, a.object, alo);
        self.objects.deallocate(b.object, &mut self.pool);
        self.stats.collapses += 1;
        self.stats.collapse_pages += moved;
    }

    /// Replace links `i` and `i + 1` by one private object holding what the
    /// entry sees through them, copying the pages (objects other chains
    /// hold cannot be changed). Used to bound depth. Fails with
    /// `OutOfMemory`, changing nothing, when the copies do not fit.
    /// The caller holds the entry of `space`; links `i`, `i + 1` are
    /// private anonymous.
    pub(crate) fn merge_pair<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        entry: &mut VmMapEntry,
        i: usize,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        let a = entry.chain.links[i];
        let b = entry.chain.links[i + 1];
        let n = entry.npages();
        if self.objects.get(a.object).ref_count() == 1
            && self.objects.get(b.object).ref_count() == 1
        {
            self.collapse_pair(entry, i);
            return Ok(());
        }
        let in_place = self.objects.get(a.object).ref_count() == 1;
        // Pages visible through a and b, relative to the entry, that
        // links above i do not hide.
        let pair = BackingChain {
            links: alloc::vec![a, b],
        };
        let copies = pair.visible_pages(&self.objects, 0, n, if in_place { 1 } else { 0 });
        // Links above `i` may hide some of them; those are copied too
        // (nothing uncovers them today, so that only costs memory) but are
        // neither mapped nor wired.
        let upper = BackingChain {
            links: entry.chain.links[..i].to_vec(),
        };
        if (self.pool.available() as u64) < copies.len() as u64 {
            return Err(VmError::OutOfMemory);
        }
        let room = if in_place {
            self.objects.resident_room(a.object)
        } else {
            self.objects.new_room()
        };
        if room < copies.len() as u64 {
            return Err(VmError::QuotaExceeded(crate::Quota::Resident));
        }
        let target = if in_place {
            a
        } else {
            BackingLink {
                object: self.objects.allocate(ObjectKind::Anonymous, n),
                offset: 0,
            }
        };
        let wired = entry.is_wired();
        for (&rel, &src) in &copies {
            let pindex = target.pindex(rel);
            let dst = self
                .pool
                .alloc(target.object, pindex, AllocClass::Normal)
                .expect("pages counted above");
            pmap.copy_page(src, dst);
            self.objects.insert_page(target.object, pindex, dst);
            let keep = self.pool.page(src).flags() & (PageFlags::DIRTY | PageFlags::REFERENCED);
            self.pool.validate(dst, keep | PageFlags::DIRTY);
            if i == 0 || upper.visible(&self.objects, rel).is_none() {
                // This space may map the old frame here; it no longer sees it.
                let va = entry.start + rel * PAGE_SIZE;
                pmap.remove(space, va, va + PAGE_SIZE);
                if wired {
                    transfer_wiring(&mut self.pool, Some(src), dst);
                }
            }
        }
        if in_place {
            entry.chain.links.remove(i + 1);
            self.objects.deallocate(b.object, &mut self.pool);
        } else {
            entry.chain.links.splice(i..=i + 1, [target]);
            self.objects.deallocate(a.object, &mut self.pool);
            self.objects.deallocate(b.object, &mut self.pool);
        }
        self.stats.chain_merges += 1;
        self.stats.chain_merge_pages += copies.len() as u64;
        Ok(())
    }

    /// A chain of one private anonymous object holding a copy of every
    /// page `entry` sees now (a child's copy of a shared mapping at
    /// fork): later writes through the entry no longer reach it. The
    /// caller has made room (`Vm::reclaim`) and read in what is on swap.
    pub(crate) fn snapshot<P: Pmap + ?Sized>(
        &mut self,
        entry: &VmMapEntry,
        pmap: &mut P,
    ) -> BackingChain {
        let n = entry.npages();
        let copies = entry.chain.visible_pages(&self.objects, 0, n, 0);
        let obj = self.objects.allocate(ObjectKind::Anonymous, n);
        for (&rel, &src) in &copies {
            let dst = self
                .pool
                .alloc(obj, rel, AllocClass::Normal)
                .expect("room made by the caller");
            pmap.copy_page(src, dst);
            self.objects.insert_page(obj, rel, dst);
            self.pool.validate(dst, PageFlags::DIRTY);
        }
        self.stats.chain_merge_pages += copies.len() as u64;
        BackingChain::single(obj, 0)
    }

    /// Replace the whole chain by one fresh object holding a copy of every
    /// page the entry sees, so the entry can be shared (fork with
    /// `Inheritance::Share` of a copy-on-write entry). Fails with
    /// `OutOfMemory`, changing nothing, when the copies do not fit.
    /// The caller holds the entry of `space`.
    pub(crate) fn flatten<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        entry: &mut VmMapEntry,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        let n = entry.npages();
        let copies = entry.chain.visible_pages(&self.objects, 0, n, 0);
        if (self.pool.available() as u64) < copies.len() as u64 {
            return Err(VmError::OutOfMemory);
        }
        if self.objects.new_room() < copies.len() as u64 {
            return Err(VmError::QuotaExceeded(crate::Quota::Resident));
        }
        let obj = self.objects.allocate(ObjectKind::Anonymous, n);
        pmap.remove(space, entry.start, entry.end);
        for (&rel, &src) in &copies {
            let dst = self
                .pool
                .alloc(obj, rel, AllocClass::Normal)
                .expect("pages counted above");
            pmap.copy_page(src, dst);
            self.objects.insert_page(obj, rel, dst);
            self.pool.validate(dst, PageFlags::DIRTY);
            if entry.is_wired() {
                transfer_wiring(&mut self.pool, Some(src), dst);
            }
        }
        let old = core::mem::replace(&mut entry.chain, BackingChain::single(obj, 0));
        self.stats.pages_freed += old.release(&mut self.objects, &mut self.pool);
        entry.flags.remove(EntryFlags::NEEDS_COPY);
        self.stats.chain_merges += 1;
        self.stats.chain_merge_pages += copies.len() as u64;
        Ok(())
    }
}
