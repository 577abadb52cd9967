//! Fork and exit (`vmspace_fork`, `vmspace_exit`): copy a space entry by entry by inheritance, sharing or lazily copying its chains, and tear a space down.
//!
//! Locking: runs inside the single-threaded `Vm`. Fork is atomic: it checks
//! quotas and makes room before it changes the parent, so a refused fork
//! leaves both as they were.

use crate::chain::BackingChain;
use crate::error::VmError;
use crate::limits::Quota;
use crate::map::{EntryFlags, VmMapEntry};
use crate::object::{ObjectFlags, ObjectKind};
use crate::page::PageFlags;
use crate::pmap::Pmap;
use crate::space::VmSpace;
use crate::types::{FrameNumber, Inheritance, Prot, SpaceId, PAGE_SHIFT};
use crate::vm::{Memory, Vm};
use alloc::collections::BTreeSet;
use alloc::vec::Vec;

impl Vm {
    /// Duplicate `parent` (`vmspace_fork`): `Share` entries stay shared,
    /// `Copy` entries become copy-on-write in both (a shared mapping
    /// inherited by copy gives the child a private copy of its contents
    /// now), `None` entries are left out. Wiring is not inherited. Handles
    /// are duplicated. All or nothing: the pages fork must copy are made
    /// room for (pageout first, `reclaim`) and read in from swap before
    /// anything visible changes, so a failed fork (`OutOfMemory`,
    /// `NoSwap`, `Io`) leaves every space as it was.
    pub fn fork<P: Pmap + ?Sized>(
        &mut self,
        parent: SpaceId,
        pmap: &mut P,
    ) -> Result<SpaceId, VmError> {
        self.charge_to(parent);
        // Pages under swap I/O must not move or go under this operation.
        self.mem.drain(pmap);
        let p = self.space_ref(parent)?;
        // The child counts against the family's limits (semantics:
        // quota-fork).
        let (entries, handles) = (
            p.map
                .entries()
                .filter(|e| e.inheritance != Inheritance::None)
                .count() as u64,
            p.handle_count() as u64,
        );
        self.charge(parent, Quota::Children, 1)?;
        self.charge(parent, Quota::MapEntries, entries)?;
        self.charge(parent, Quota::Handles, handles)?;
        // Fork makes at most one object for an entry (a shareable front, a
        // split, a snapshot or a merge at the depth limit); it asks room
        // for two, so the bound never rests on that count being exact.
        self.mem.objects.may_allocate(2 * entries)?;
        let starts: Vec<u64> = self.spaces[&parent.0]
            .map
            .entries()
            .map(|e| e.start)
            .collect();
        // 1. Normalise the entries (nothing anyone sees changes) and
        // count the pages fork must copy, and how many of them are on swap.
        let (mut copies, mut swapped) = (0u64, 0u64);
        // Entries to merge at the depth limit, by start: a set, as fork asks
        // it once per entry to copy (a client may have many).
        let (mut to_copy, mut to_merge) = (Vec::new(), BTreeSet::new());
        {
            let (mem, spaces) = (&mut self.mem, &mut self.spaces);
            let map = &mut spaces.get_mut(&parent.0).expect("parent").map;
            for &s in &starts {
                let pe = map.get_mut(s).expect("entry");
                let cost = match pe.inheritance {
                    Inheritance::Share => mem.share_prepare(pe),
                    Inheritance::Copy
                        if !pe.flags.contains(EntryFlags::COW)
                            && !pe.chain.over_pager(&mem.objects) =>
                    {
                        Some(pe.chain.visible_counts(&mem.objects, pe.npages()))
                    }
                    Inheritance::Copy => mem.depth_prepare(pe).inspect(|_| {
                        to_merge.insert(s);
                    }),
                    Inheritance::None => None,
                };
                if let Some((resident, on_swap)) = cost {
                    copies += resident + on_swap;
                    swapped += on_swap;
                    to_copy.push(s);
                }
            }
        }
        // 2. Room for the copies, then what they copy from swap: both
        // invisible, and nothing pages out between them and the copies.
        if copies > 0 {
            // The copies (and what is read in for them) are the family's
            // pages too (semantics: quota-resident).
            if self.mem.objects.new_room() < copies + swapped {
                return Err(VmError::QuotaExceeded(Quota::Resident));
            }
            self.reclaim(copies + swapped, pmap)?;
            let mut need = 0;
            for &s in &to_copy {
                let pe = self.spaces[&parent.0].map.lookup(s).expect("entry");
                let (chain, n) = (&pe.chain, pe.npages());
                // A merge copies what its two front links show; a copy
                // what the whole chain shows.
                let links = if to_merge.contains(&s) {
                    2
                } else {
                    chain.len()
                };
                self.mem.swapin_chain(chain, 0..links, n, pmap)?;
                need += chain.prefix(links).visible_counts(&self.mem.objects, n).0;
            }
            // Count again: the pageout above may have sent some of the
            // pages to copy to swap, which the swap-ins brought back into
            // the group. From here on nothing pages out, so this is exact.
            if u64::from(self.mem.pool.available()) < need {
                return Err(VmError::OutOfMemory);
            }
            if self.mem.objects.new_room() < need {
                return Err(VmError::QuotaExceeded(Quota::Resident));
            }
        }
        // Make room for the push each side's first write makes: nobody
        // sees a merge, and the copies fit (counted above).
        for &s in &to_merge {
            let pe = self
                .spaces
                .get_mut(&parent.0)
                .expect("parent")
                .map
                .get_mut(s)
                .expect("entry");
            self.mem.merge_pair(parent, pe, 0, pmap)?;
        }
        let child = self.new_space(Some(parent), pmap)?;
        // 3. Build the child; nothing fails from here on.
        let (mem, spaces) = (&mut self.mem, &mut self.spaces);
        let mut new_entries = Vec::new();
        let mut failed = None;
        for s in starts {
            let pe = spaces
                .get_mut(&parent.0)
                .expect("parent")
                .map
                .get_mut(s)
                .expect("entry");
            let flags;
            let mut chain = None;
            match pe.inheritance {
                Inheritance::None => continue,
                Inheritance::Share => {
                    if let Err(e) = mem.make_shareable(parent, pe, pmap) {
                        failed = Some(e);
                        break;
                    }
                    flags = pe.flags;
                    mem.stats.fork_shared_entries += 1;
                }
                Inheritance::Copy
                    if !pe.flags.contains(EntryFlags::COW) && pe.chain.over_pager(&mem.objects) =>
                {
                    // A copy of a shared file mapping: a private view of
                    // the file, as a private mapping of it is (semantics:
                    // fork-copy-file); the pages need not be resident.
                    flags = EntryFlags::COW | EntryFlags::NEEDS_COPY;
                    mem.stats.fork_copied_entries += 1;
                }
                Inheritance::Copy if !pe.flags.contains(EntryFlags::COW) => {
                    // A copy of a shared mapping: the child's own
                    // anonymous memory with what the parent sees now.
                    chain = Some(mem.snapshot(pe, pmap));
                    flags = EntryFlags::COW;
                    mem.stats.fork_copied_entries += 1;
                }
                Inheritance::Copy => {
                    if let Some(front) = pe.chain.front() {
                        if !pe.needs_copy() && mem.objects.get(front.object).is_private_anon() {
                            pe.flags |= EntryFlags::NEEDS_COPY;
                            if pe.prot.contains(Prot::WRITE) {
                                let mut ro = pe.prot;
                                ro.remove(Prot::WRITE);
                                pmap.protect(parent, pe.start, pe.end, ro);
                            }
                        }
                        flags = EntryFlags::COW | EntryFlags::NEEDS_COPY;
                    } else {
                        flags = EntryFlags::COW;
                    }
                    mem.stats.fork_copied_entries += 1;
                }
            }
            let chain = chain.unwrap_or_else(|| {
                // Two spaces now see these objects' windows.
                for l in pe.chain.links() {
                    mem.objects.clear_flags(l.object, ObjectFlags::ONEMAPPING);
                }
                pe.chain.clone_ref(&mut mem.objects)
            });
            new_entries.push(VmMapEntry {
                start: pe.start,
                end: pe.end,
                prot: pe.prot,
                max_prot: pe.max_prot,
                inheritance: pe.inheritance,
                advice: pe.advice,
                wired_count: 0,
                flags: flags | (pe.flags & EntryFlags::HUGE_ADVICE),
                chain,
                next_fault: 0,
            });
        }
        let handles = spaces[&parent.0].handles.clone();
        let next_handle = spaces[&parent.0]
            .handles
            .keys()
            .next_back()
            .map_or(1, |k| k + 1);
        let cs = spaces.get_mut(&child.0).expect("child");
        for e in new_entries {
            cs.map.insert(e);
        }
        if let Some(err) = failed {
            self.exit(child, pmap).expect("child exists");
            return Err(err);
        }
        for h in handles.values() {
            mem.objects.reference(h.object);
        }
        cs.handles = handles;
        cs.next_handle = next_handle;
        mem.stats.forks += 1;
        Ok(child)
    }

    /// Destroy a space and everything only it held (`vmspace_exit`).
    pub fn exit<P: Pmap + ?Sized>(&mut self, space: SpaceId, pmap: &mut P) -> Result<(), VmError> {
        let sp = self.spaces.remove(&space.0).ok_or(VmError::BadSpace)?;
        let VmSpace {
            mut map,
            handles,
            group,
            ..
        } = sp;
        self.accepts
            .retain(|&(to, from), _| to != space.0 && from != space.0);
        let starts: Vec<u64> = map.entries().map(|e| e.start).collect();
        for s in starts {
            let e = map.remove(s);
            self.mem.delete_entry(space, e, pmap);
        }
        for h in handles.values() {
            self.mem.stats.pages_freed += self.mem.objects.deallocate(h.object, &mut self.mem.pool);
        }
        pmap.destroy_space(space);
        self.mem.objects.forget_read_failures(space);
        let g = self.groups.get_mut(&group).expect("live group");
        g.spaces -= 1;
        if g.spaces == 0 {
            // Nobody left who may unlink its names: they go too.
            self.drop_names_of(group);
            self.groups.remove(&group);
        }
        // Its slots go back now; those of pages still under I/O at the
        // completion (`swap_poll`).
        self.mem.flush_dead_slots();
        self.mem.stats.exits += 1;
        Ok(())
    }
}

impl Memory {
    /// Prepare a parent entry to be shared with a child: give it an object
    /// of its own (breaking needs-copy) and a one-link chain, so writes
    /// through either space land in the same object, which is then marked
    /// shared. The caller holds the entry of `space`.
    pub(crate) fn make_shareable<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        e: &mut VmMapEntry,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        if e.chain.is_empty() {
            let o = self.objects.allocate(ObjectKind::Anonymous, e.npages());
            e.chain = BackingChain::single(o, 0);
        }
        if e.needs_copy() {
            let front = e.chain.links()[0].object;
            let fo = self.objects.get(front);
            if fo.is_private_anon() && fo.ref_count() == 1 {
                e.flags.remove(EntryFlags::NEEDS_COPY);
            } else {
                self.swapin_chain(&e.chain, 0..e.chain.len(), e.npages(), pmap)?;
                self.flatten(space, e, pmap)?;
            }
        }
        if e.chain.len() > 1 {
            self.collapse_chain(e);
        }
        if e.chain.len() > 1 {
            self.swapin_chain(&e.chain, 0..e.chain.len(), e.npages(), pmap)?;
            self.flatten(space, e, pmap)?;
        }
        let front = e.chain.links()[0];
        let fo = self.objects.get(front.object);
        if fo.is_private_anon() && fo.ref_count() > 1 {
            // Clipped siblings in this space still use the object
            // privately: move this entry's window to an object of its own
            // (`vm_object_split`); frames, mappings and wirings stay.
            let lo = front.offset >> PAGE_SHIFT;
            let pages: Vec<(u64, FrameNumber)> = fo.pages_in(lo, lo + e.npages()).collect();
            let n = self.objects.allocate(ObjectKind::Anonymous, e.npages());
            for (i, f) in pages {
                self.objects.remove_page(front.object, i);
                crate::object::adopt(&mut self.objects, &mut self.pool, f, n, i - lo);
            }
            self.objects
                .swap_move(front.object, lo..lo + e.npages(), n, 0);
            let old = core::mem::replace(&mut e.chain, BackingChain::single(n, 0));
            old.release(&mut self.objects, &mut self.pool);
        }
        let front = e.chain.links()[0];
        if self.objects.get(front.object).kind() == ObjectKind::Anonymous {
            // Contents MADV_FREE let go become the sharers' contents:
            // pageout may no longer discard them.
            let (lo, hi) = (front.pindex(0), front.pindex(e.npages()));
            let freed: Vec<FrameNumber> = self
                .objects
                .get(front.object)
                .pages_in(lo, hi)
                .map(|(_, f)| f)
                .filter(|&f| self.pool.page(f).flags().contains(PageFlags::FREED))
                .collect();
            for f in freed {
                self.pool.set_flags(f, PageFlags::DIRTY);
            }
            self.objects.set_flags(front.object, ObjectFlags::SHARED);
        }
        e.flags.remove(EntryFlags::COW);
        Ok(())
    }

    /// Fork's step 1 for a lazily copied entry: after the fork each
    /// side's first write pushes a front object, so a chain already at
    /// `max_chain_depth` has its two front links merged first (at fork,
    /// where running short of memory fails the fork, not a later fault).
    /// Collapses what it can; returns what the merge copies (resident, on
    /// swap), `None` when the chain has room. The caller is `Vm::fork`.
    pub(crate) fn depth_prepare(&mut self, e: &mut VmMapEntry) -> Option<(u64, u64)> {
        if e.chain.len() > 1 {
            self.collapse_chain(e);
        }
        (e.chain.len() >= self.config.max_chain_depth)
            .then(|| e.chain.prefix(2).visible_counts(&self.objects, e.npages()))
    }

    /// Ready a parent entry for `make_shareable` without changing what
    /// anyone sees: give it an object, take over a needs-copy front no
    /// other chain holds, collapse. Returns `Some((resident, on swap))`,
    /// the pages a flatten will copy, when sharing must still copy.
    /// The caller holds the entry.
    pub(crate) fn share_prepare(&mut self, e: &mut VmMapEntry) -> Option<(u64, u64)> {
        if !e.flags.contains(EntryFlags::COW) {
            return None;
        }
        if e.chain.is_empty() {
            let o = self.objects.allocate(ObjectKind::Anonymous, e.npages());
            e.chain = BackingChain::single(o, 0);
        }
        if e.needs_copy() {
            let fo = self.objects.get(e.chain.links()[0].object);
            if fo.is_private_anon() && fo.ref_count() == 1 {
                e.flags.remove(EntryFlags::NEEDS_COPY);
            }
        }
        if !e.needs_copy() && e.chain.len() > 1 {
            self.collapse_chain(e);
        }
        (e.needs_copy() || e.chain.len() > 1)
            .then(|| e.chain.visible_counts(&self.objects, e.npages()))
    }
}
