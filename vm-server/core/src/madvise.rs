//! `madvise` (`vm_map_madvise`, `uvm_map_advice`): access-pattern advice, `WILLNEED` prefetching, `DONTNEED` and lazy `FREE` (semantics: madvise-*).
//!
//! Locking: runs inside the single-threaded `Vm`.

use crate::chain::BackingChain;
use crate::error::VmError;
use crate::map::{EntryFlags, VmMapEntry};
use crate::object::ObjectFlags;
use crate::page::PageFlags;
use crate::pmap::Pmap;
use crate::types::{Advice, FrameNumber, SpaceId, PAGE_SIZE};
use crate::vm::{Memory, Vm};
use alloc::vec::Vec;

impl Vm {
    /// Advise on a mapped range (`madvise`, see `Advice`).
    pub fn madvise<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        addr: u64,
        len: u64,
        advice: Advice,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        self.charge_to(space);
        // Pages under swap I/O must not move or go under this operation.
        self.mem.drain(pmap);
        let end = self.check_mapped(space, addr, len)?;
        if matches!(advice, Advice::DontNeed | Advice::Free)
            && self.spaces[&space.0]
                .map
                .entries_in(addr, end)
                .any(|e| e.is_wired())
        {
            // Linux refuses locked memory too (EINVAL); nothing changes.
            return Err(VmError::Busy);
        }
        match advice {
            Advice::Normal | Advice::Random | Advice::Sequential => {
                self.change_entries(space, addr, end, |_, e| e.advice = advice)?
            }
            Advice::WillNeed => self.will_need(space, addr, end, pmap),
            Advice::DontNeed => self.dont_need(space, addr, end, pmap)?,
            Advice::Free => self.lazy_free(space, addr, end, pmap),
            // Stored in the entries; faults act on it (`large.rs`).
            Advice::HugePage => self.change_entries(space, addr, end, |_, e| {
                e.flags.remove(EntryFlags::NOHUGE);
                e.flags.insert(EntryFlags::HUGE);
            })?,
            // Later faults move the pages to small frames, one by one
            // (semantics: large-pages).
            Advice::NoHugePage => {
                self.change_entries(space, addr, end, |_, e| {
                    e.flags.remove(EntryFlags::HUGE);
                    e.flags.insert(EntryFlags::NOHUGE);
                })?;
                pmap.remove(space, addr, end);
            }
        }
        self.mem.stats.madvises += 1;
        self.mem.flush_dead_slots();
        Ok(())
    }

    /// `MADV_WILLNEED`: enter what is resident, so the range does not
    /// fault on it. The caller checked the range.
    fn will_need<P: Pmap + ?Sized>(&mut self, space: SpaceId, addr: u64, end: u64, pmap: &mut P) {
        let (mem, spaces) = (&mut self.mem, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).expect("checked");
        for s in sp.map.overlapping(addr, end) {
            let e = sp.map.get_mut(s).expect("entry");
            let (lo, hi) = (e.start.max(addr), e.end.min(end));
            mem.enter_resident(space, e, lo, hi, pmap);
        }
    }

    /// `MADV_DONTNEED`, as Linux's: private memory starts over from what
    /// it was mapped from (zero-fill for anonymous memory, the object for
    /// a private view of one); shared memory keeps its contents for the
    /// other sharers and is only unmapped and deactivated. The caller
    /// checked the range and refused wired memory in it.
    fn dont_need<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        addr: u64,
        end: u64,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        let starts = self.clip_entries(space, addr, end)?;
        let (mem, spaces) = (&mut self.mem, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).expect("checked");
        for &s in &starts {
            let e = sp.map.get_mut(s).expect("entry");
            if !e.flags.contains(EntryFlags::COW) {
                pmap.remove(space, e.start, e.end);
                if let Some(front) = e.chain.front() {
                    let (plo, phi) = (front.pindex(0), front.pindex(e.npages()));
                    let pages: Vec<FrameNumber> = mem
                        .objects
                        .get(front.object)
                        .pages_in(plo, phi)
                        .map(|(_, f)| f)
                        .collect();
                    for f in pages {
                        mem.pool.deactivate(f);
                    }
                }
                continue;
            }
            let base = e
                .chain
                .links()
                .last()
                .copied()
                .filter(|b| !mem.objects.get(b.object).is_private_anon());
            // Pages of a private front only this range sees go now (a
            // clipped entry's other half keeps the object).
            if let Some(front) = e
                .chain
                .front()
                .filter(|f| !e.needs_copy() && mem.objects.get(f.object).is_private_anon())
            {
                pmap.remove(space, e.start, e.end);
                mem.free_window(front, e.npages());
            }
            let old = sp.map.remove(s);
            let (chain, flags) = match base {
                Some(b) => {
                    mem.objects.reference(b.object);
                    (
                        BackingChain::single(b.object, b.offset),
                        EntryFlags::COW | EntryFlags::NEEDS_COPY,
                    )
                }
                None => (BackingChain::default(), EntryFlags::COW),
            };
            let fresh = VmMapEntry {
                start: old.start,
                end: old.end,
                prot: old.prot,
                max_prot: old.max_prot,
                inheritance: old.inheritance,
                advice: old.advice,
                wired_count: 0,
                flags: flags | (old.flags & EntryFlags::HUGE_ADVICE),
                chain,
                next_fault: 0,
            };
            mem.delete_entry(space, old, pmap);
            sp.map.insert(fresh);
        }
        for &s in starts.iter().rev() {
            sp.map.simplify(s, &mut mem.objects, &mut mem.pool);
        }
        Ok(())
    }

    /// Lazy free (`MADV_FREE`, semantics table "madvise"): only where the
    /// entry's front object is the whole chain and no other entry or
    /// space sees its window, so a discarded page reads as zero. Resident
    /// pages turn clean and `FREED` (pageout frees them unwritten; a
    /// write keeps them), pages on swap go at once. Elsewhere (a chain
    /// with a backing object, shared memory, a private view) nothing
    /// changes, as FreeBSD skips shadowed objects: the old contents are
    /// the other allowed outcome. The caller checked the range and
    /// refused wired memory in it.
    fn lazy_free<P: Pmap + ?Sized>(&mut self, space: SpaceId, addr: u64, end: u64, pmap: &mut P) {
        let (mem, spaces) = (&mut self.mem, &self.spaces);
        for e in spaces[&space.0].map.entries_in(addr, end) {
            let Some(front) = e.chain.front() else {
                continue;
            };
            let fo = mem.objects.get(front.object);
            if e.needs_copy()
                || e.chain.len() != 1
                || !e.flags.contains(EntryFlags::COW)
                || !fo.is_private_anon()
                || !(fo.ref_count() == 1 || fo.flags().contains(ObjectFlags::ONEMAPPING))
            {
                continue;
            }
            let (lo, hi) = (e.start.max(addr), e.end.min(end));
            let (plo, phi) = (front.pindex(e.rel(lo)), front.pindex(e.rel(hi - 1)) + 1);
            let pages: Vec<FrameNumber> = fo.pages_in(plo, phi).map(|(_, f)| f).collect();
            for f in pages {
                mem.pool.set_flags(f, PageFlags::FREED);
                // The next write must fault to keep the page, and a page
                // touched again before pageout stays (unmapped first, so
                // clearing the modified bit has no mapping left to
                // write-protect).
                mem.clear_reference(f, pmap, true);
                mem.clear_modify(f, pmap);
                mem.pool.deactivate(f);
            }
            mem.objects.swap_discard(front.object, plo, phi);
        }
    }
}

impl Memory {
    /// Enter the resident pages of `[lo, hi)` of `entry` that are not
    /// mapped (`MADV_WILLNEED`, `pmap_object_init_pt`), read-only unless
    /// private and dirty. Cost is the resident pages, not the range size.
    /// The caller holds the entry of `space`.
    pub(crate) fn enter_resident<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        e: &mut VmMapEntry,
        lo: u64,
        hi: u64,
        pmap: &mut P,
    ) {
        if e.prot.is_empty() {
            return;
        }
        let front = e.chain.front();
        let pages = e
            .chain
            .visible_pages(&self.objects, e.rel(lo), e.rel(hi - 1) + 1, 0);
        for (rel, f) in pages {
            let va = e.start + rel * PAGE_SIZE;
            // A large region's frame is only mapped whole: its fault does it.
            if pmap.is_mapped(space, va)
                || self.pool.page(f).flags().contains(PageFlags::BUSY)
                || self.pool.is_region_frame(f)
            {
                continue;
            }
            let in_front =
                front.is_some_and(|l| self.objects.get(l.object).lookup(l.pindex(rel)) == Some(f));
            let prot = self.enter_prot(e, if in_front { 0 } else { 1 }, f);
            if pmap.enter(space, va, f, prot).is_err() {
                return;
            }
        }
    }
}
