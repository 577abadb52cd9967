//! Changing a chain's shape (`vm_map_entry_shadow`, `vm_object_collapse`): push a front object on first write, collapse objects only this chain holds, merge the two front links at the depth limit (at fork), snapshot and flatten a chain into one object.
//!
//! Locking: the caller holds the map entry whose chain changes, inside the
//! single-threaded `Vm`. Every function keeps the shape invariant stated
//! in `chain.rs`.

use crate::chain::{transfer_wiring, BackingChain, BackingLink};
use crate::error::VmError;
use crate::map::{EntryFlags, VmMapEntry};
use crate::object::{adopt, ObjectKind};
use crate::page::{AllocClass, PageFlags};
use crate::pmap::Pmap;
use crate::types::{SpaceId, PAGE_SHIFT, PAGE_SIZE};
use crate::vm::Memory;

impl Memory {
    /// Give a needs-copy entry a front object of its own before it writes
    /// (`vm_map_entry_shadow`): reuse the front if no other chain holds
    /// it, else push a fresh anonymous object. Needs no frame: fork left
    /// room for the push below the depth limit (`depth_prepare`), so a
    /// write fault never copies a chain. `QuotaExceeded(Objects)` when a
    /// push is needed past the group's object limit. The caller holds the
    /// entry; it needs copy and has a chain.
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    pub(crate) fn shadow_entry(&mut self, entry: &mut VmMapEntry) -> Result<(), VmError> {
        debug_assert!(entry.needs_copy() && !entry.chain.is_empty());
        self.collapse_chain(entry);
        let fo = self.objects.get(entry.chain.links[0].object);
        if fo.is_private_anon() && fo.ref_count() == 1 {
            entry.flags.remove(EntryFlags::NEEDS_COPY);
            return Ok(());
        }
        debug_assert!(entry.chain.len() < self.config.max_chain_depth);
        // Past the group's object limit the write is refused; the collapse
        // above changed nothing a lookup sees.
        self.objects.may_allocate(1)?;
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
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
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
    pub(crate) fn collapse_pair(&mut self, entry: &mut VmMapEntry, i: usize) {
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
            links: smallvec::smallvec![a, b],
        };
        let copies = pair.visible_pages(&self.objects, 0, n, if in_place { 1 } else { 0 });
        // Links above `i` may hide some of them; those are copied too
        // (nothing uncovers them today, so that only costs memory) but are
        // neither mapped nor wired.
        let upper = BackingChain {
            links: smallvec::SmallVec::from_slice(&entry.chain.links[..i]),
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
            entry.chain.links.remove(i + 1);
            entry.chain.links[i] = target;
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
