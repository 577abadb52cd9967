//! The mapping calls (`vm_mmap.c`, `uvm_map`): mmap, munmap, mprotect, minherit, msync, mincore, and taking a range out of a map.
//!
//! Locking: runs inside the single-threaded `Vm`. Every call validates its
//! whole range and arguments first, so a refused call changes nothing.

use crate::chain::{BackingChain, BackingLink};
use crate::error::VmError;
use crate::limits::Quota;
use crate::map::{EntryFlags, VmMapEntry};
use crate::object::{ObjectFlags, ObjectKind};
use crate::page::PageFlags;
use crate::pmap::Pmap;
use crate::types::{
    page_aligned, Advice, FrameNumber, Handle, Inheritance, ObjectId, Prot, SpaceId, PAGE_SHIFT,
    PAGE_SIZE,
};
use crate::vm::{Memory, Vm};
use alloc::vec::Vec;
use bitflags::bitflags;
use vm_swap::IoTag;

bitflags! {
    /// `mmap` flags, with UVM's `uvm_map` placement semantics.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct MapFlags: u8 {
        /// Writes are seen by every mapping of the memory; fork shares it.
        const SHARED = 1 << 0;
        /// Copy-on-write (`UVM_FLAG_COPYONW`); fork copies it.
        const PRIVATE = 1 << 1;
        /// Place exactly at `addr` (`UVM_FLAG_FIXED`), replacing what is
        /// there unless `NOREPLACE`.
        const FIXED = 1 << 2;
        /// With `FIXED`: fail with `Exists` instead of replacing
        /// (`MAP_FIXED_NOREPLACE`; UVM's fixed placement without `UVM_FLAG_UNMAP`).
        const NOREPLACE = 1 << 3;
        /// Private anonymous only: make the anonymous object now instead of
        /// at the first fault (`UVM_FLAG_OVERLAY`'s eager amap).
        const OVERLAY = 1 << 4;
    }
}

bitflags! {
    /// `msync` flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct MsyncFlags: u8 {
        const ASYNC = 1 << 0;
        const SYNC = 1 << 1;
        /// Drop this space's mappings of the range so it refaults.
        const INVALIDATE = 1 << 2;
    }
}

/// `mincore` result bits.
pub const MINCORE_INCORE: u8 = 1;

pub const MINCORE_REFERENCED: u8 = 2;

pub const MINCORE_MODIFIED: u8 = 4;

/// What a new mapping maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapSource {
    /// Zero-fill memory.
    Anonymous,
    /// A shared-memory, pager or physical (device) object through a
    /// handle of the space, from byte `offset` (page aligned). A physical
    /// object may only be mapped `SHARED`.
    Handle { handle: Handle, offset: u64 },
}

/// Arguments of `mmap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmapArgs {
    /// Exact address with `FIXED`, else a hint (0: the bottom of the range).
    pub addr: u64,
    pub len: u64,
    pub prot: Prot,
    pub max_prot: Prot,
    pub flags: MapFlags,
    pub source: MapSource,
    /// Alignment of the address: 0 or a power of two of at least a page.
    pub align: u64,
}

impl MmapArgs {
    /// Private anonymous memory anywhere, max protection `ALL`.
    pub fn anon(len: u64, prot: Prot) -> Self {
        MmapArgs {
            addr: 0,
            len,
            prot,
            max_prot: Prot::ALL,
            flags: MapFlags::PRIVATE,
            source: MapSource::Anonymous,
            align: 0,
        }
    }

    /// Shared anonymous memory anywhere.
    pub fn anon_shared(len: u64, prot: Prot) -> Self {
        MmapArgs {
            flags: MapFlags::SHARED,
            ..Self::anon(len, prot)
        }
    }

    /// Map `handle` from `offset`, shared.
    pub fn object(handle: Handle, offset: u64, len: u64, prot: Prot) -> Self {
        MmapArgs {
            flags: MapFlags::SHARED,
            source: MapSource::Handle { handle, offset },
            ..Self::anon(len, prot)
        }
    }

    /// The same request at exactly `addr`.
    pub fn fixed(mut self, addr: u64) -> Self {
        self.addr = addr;
        self.flags |= MapFlags::FIXED;
        self
    }
}

impl Vm {
    /// Map memory (`mmap`/`uvm_map`). Returns the address chosen.
    pub fn mmap<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        args: &MmapArgs,
        pmap: &mut P,
    ) -> Result<u64, VmError> {
        self.charge_to(space);
        let sp = self.space_ref(space)?;
        let f = args.flags;
        let shared = f.contains(MapFlags::SHARED);
        if shared == f.contains(MapFlags::PRIVATE)
            || (f.contains(MapFlags::NOREPLACE) && !f.contains(MapFlags::FIXED))
            || (f.contains(MapFlags::OVERLAY) && (shared || args.source != MapSource::Anonymous))
        {
            return Err(VmError::InvalidArgument);
        }
        let align = match args.align {
            0 => PAGE_SIZE,
            a if a.is_power_of_two() && a >= PAGE_SIZE => a,
            _ => return Err(VmError::InvalidArgument),
        };
        if args.len == 0 {
            return Err(VmError::ZeroLength);
        }
        if !page_aligned(args.len) {
            return Err(VmError::Unaligned);
        }
        if !args.max_prot.contains(args.prot) {
            return Err(VmError::MaxProtection);
        }
        let mut max_prot = args.max_prot;
        // The object and the reference rules of the source.
        let target = match args.source {
            MapSource::Anonymous => None,
            MapSource::Handle { handle, offset } => {
                let h = sp.handle(handle).ok_or(VmError::BadHandle)?;
                // Device memory has no private copy (semantics: device-map).
                if !shared && self.mem.objects.get(h.object).is_physical() {
                    return Err(VmError::InvalidArgument);
                }
                if !page_aligned(offset) {
                    return Err(VmError::Unaligned);
                }
                offset.checked_add(args.len).ok_or(VmError::Overflow)?;
                let mut need = args.prot;
                if !shared {
                    // A private copy may be written without write rights.
                    need.remove(Prot::WRITE);
                } else {
                    max_prot &= h.rights;
                }
                if !h.rights.contains(need) {
                    return Err(VmError::Protection);
                }
                if self
                    .mem
                    .objects
                    .get(h.object)
                    .flags()
                    .contains(ObjectFlags::DEAD)
                {
                    return Err(VmError::PagerDead);
                }
                Some((h.object, offset))
            }
        };
        let start = if f.contains(MapFlags::FIXED) {
            if args.addr & (align - 1) != 0 {
                return Err(VmError::Unaligned);
            }
            let end = self.check_range(args.addr, args.len)?;
            if f.contains(MapFlags::NOREPLACE) && !sp.map.is_free(args.addr, end) {
                return Err(VmError::Exists);
            }
            args.addr
        } else {
            self.check_range(self.mem.config.user_min, args.len)?;
            let hint = if args.addr == 0 {
                self.mem.config.user_min
            } else {
                args.addr & !(PAGE_SIZE - 1)
            };
            sp.map
                .findspace(hint, args.len, align)
                .ok_or(VmError::NoSpace)?
        };
        let end = start + args.len;
        // A fixed mapping replaces what it covers (semantics:
        // quota-map-entries).
        let added = if f.contains(MapFlags::FIXED) {
            self.replace_delta(space, start, end, 1)
        } else {
            1
        };
        self.charge(space, Quota::MapEntries, added)?;
        // An anonymous shared or overlay mapping makes its object now.
        if target.is_none() && (shared || f.contains(MapFlags::OVERLAY)) {
            self.mem.objects.may_allocate(1)?;
        }
        // Nothing fails from here on.
        if f.contains(MapFlags::FIXED) {
            self.unmap_range(space, start, end, pmap);
            self.mem.flush_dead_slots();
        }
        let mem = &mut self.mem;
        let (chain, flags, inheritance) = match (target, shared) {
            (None, false) => {
                let chain = if f.contains(MapFlags::OVERLAY) {
                    let o = mem
                        .objects
                        .allocate(ObjectKind::Anonymous, args.len >> PAGE_SHIFT);
                    BackingChain::single(o, 0)
                } else {
                    BackingChain::default()
                };
                (chain, EntryFlags::COW, Inheritance::Copy)
            }
            (None, true) => {
                let o = mem
                    .objects
                    .allocate(ObjectKind::Anonymous, args.len >> PAGE_SHIFT);
                mem.objects.set_flags(o, ObjectFlags::SHARED);
                (
                    BackingChain::single(o, 0),
                    EntryFlags::empty(),
                    Inheritance::Share,
                )
            }
            (Some((o, off)), true) => {
                mem.objects.reference(o);
                (
                    BackingChain::single(o, off),
                    EntryFlags::empty(),
                    Inheritance::Share,
                )
            }
            (Some((o, off)), false) => {
                mem.objects.reference(o);
                (
                    BackingChain::single(o, off),
                    EntryFlags::COW | EntryFlags::NEEDS_COPY,
                    Inheritance::Copy,
                )
            }
        };
        let entry = VmMapEntry {
            start,
            end,
            prot: args.prot,
            max_prot,
            inheritance,
            advice: Advice::Normal,
            wired_count: 0,
            flags,
            chain,
            next_fault: 0,
        };
        let sp = self.spaces.get_mut(&space.0).expect("checked");
        sp.map.insert(entry);
        sp.map
            .simplify(start, &mut self.mem.objects, &mut self.mem.pool);
        self.mem.stats.mmaps += 1;
        Ok(start)
    }

    /// Unmap `[addr, addr + len)` (`munmap`). Holes are fine.
    pub fn munmap<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        addr: u64,
        len: u64,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        self.space_ref(space)?;
        let end = self.check_range(addr, len)?;
        // Unmapping the middle of an entry splits it (as Linux's
        // max_map_count, semantics: quota-map-entries).
        self.charge(
            space,
            Quota::MapEntries,
            self.replace_delta(space, addr, end, 0),
        )?;
        self.unmap_range(space, addr, end, pmap);
        // Slots of the pages it dropped go back now, not at the next fault.
        self.mem.flush_dead_slots();
        self.mem.stats.munmaps += 1;
        Ok(())
    }

    /// Remove every mapping in `[start, end)`, splitting entries at the
    /// ends, unwiring and dropping chains (`vm_map_delete`). The caller
    /// has validated the range of the existing `space`.
    pub(crate) fn unmap_range<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        start: u64,
        end: u64,
        pmap: &mut P,
    ) {
        let (mem, spaces) = (&mut self.mem, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).expect("space checked");
        sp.map.clip_range(start, end, &mut mem.objects);
        for s in sp.map.overlapping(start, end) {
            let e = sp.map.remove(s);
            mem.delete_entry(space, e, pmap);
        }
    }

    /// Change the protection of a mapped range (`mprotect`); never above
    /// the maximum protection of any entry in it.
    pub fn mprotect<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        addr: u64,
        len: u64,
        prot: Prot,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        let end = self.check_mapped(space, addr, len)?;
        if self.spaces[&space.0]
            .map
            .entries_in(addr, end)
            .any(|e| !e.max_prot.contains(prot))
        {
            return Err(VmError::MaxProtection);
        }
        self.change_entries(space, addr, end, |_, e| {
            let old = e.prot;
            e.prot = prot;
            if !prot.contains(old) {
                pmap.protect(space, e.start, e.end, prot);
            }
        })?;
        self.mem.stats.mprotects += 1;
        Ok(())
    }

    /// Set what fork does with a range (`minherit`). Holes are skipped.
    pub fn minherit(
        &mut self,
        space: SpaceId,
        addr: u64,
        len: u64,
        inheritance: Inheritance,
    ) -> Result<(), VmError> {
        let sp = self.space_ref(space)?;
        let end = self.check_range(addr, len)?;
        // Sharing a private file mapping would fold its chain into one
        // object, reading every page of the file (semantics:
        // minherit-share-private-file).
        if inheritance == Inheritance::Share
            && sp
                .map
                .entries_in(addr, end)
                .any(|e| e.flags.contains(EntryFlags::COW) && e.chain.over_pager(&self.mem.objects))
        {
            return Err(VmError::InvalidArgument);
        }
        // Device memory is shared with a child or left out, never copied
        // (semantics: device-minherit-copy).
        if inheritance == Inheritance::Copy
            && sp.map.entries_in(addr, end).any(|e| {
                e.chain
                    .links()
                    .iter()
                    .any(|l| self.mem.objects.get(l.object).is_physical())
            })
        {
            return Err(VmError::InvalidArgument);
        }
        self.change_entries(space, addr, end, |_, e| e.inheritance = inheritance)
    }

    /// Write back a mapped range (`msync`) and wait: `msync_start`, then
    /// `wait_for` each tag it returns, until it has nothing left to wait
    /// for. Blocks on the pagers involved, so it is for callers that may
    /// (tests, host tools); the server uses `msync_start` and keeps the
    /// client's reply instead.
    pub fn msync<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        addr: u64,
        len: u64,
        flags: MsyncFlags,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        while let Some(tag) = self.msync_start(space, addr, len, flags, pmap)? {
            self.mem.wait_for(tag, pmap)?;
        }
        Ok(())
    }

    /// Start writing back a mapped range (`msync`, semantics: msync-*).
    /// Only shared mappings of pager objects have a store to write to
    /// (anonymous memory reaches swap through pageout): their dirty pages
    /// in the range are written back to the pager, clustered, and stay
    /// resident and clean. With `SYNC` the caller must wait: `Some(tag)`
    /// means "wait for this request, then call again"; `None` means every
    /// page dirty at the call is on the pager's store. `ASYNC` starts the
    /// writes and never asks to wait. A write-back that failed since the
    /// last call makes this one fail with `Io` (once; the pages stay
    /// dirty). `INVALIDATE` drops this space's mappings of the range and,
    /// for pager objects, their clean pages from the cache, so the next
    /// access reads the pager again; invalidating wired memory fails with
    /// `Busy`.
    pub fn msync_start<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        addr: u64,
        len: u64,
        flags: MsyncFlags,
        pmap: &mut P,
    ) -> Result<Option<IoTag>, VmError> {
        if flags.contains(MsyncFlags::ASYNC | MsyncFlags::SYNC) {
            return Err(VmError::InvalidArgument);
        }
        let end = self.check_mapped(space, addr, len)?;
        let sp = self.space_ref(space)?;
        if flags.contains(MsyncFlags::INVALIDATE)
            && sp.map.entries_in(addr, end).any(|e| e.is_wired())
        {
            return Err(VmError::Busy);
        }
        // The pager objects behind the range, each with its page window.
        let windows: Vec<(ObjectId, bool, u64, u64)> = sp
            .map
            .entries_in(addr, end)
            .filter_map(|e| {
                let base = *e.chain.links().last()?;
                let o = self.mem.objects.get(base.object);
                if !matches!(o.kind(), ObjectKind::Paged { .. }) {
                    return None;
                }
                let shared = !e.flags.contains(EntryFlags::COW);
                let (lo, hi) = (e.start.max(addr), e.end.min(end));
                Some((
                    base.object,
                    shared,
                    base.pindex(e.rel(lo)),
                    base.pindex(e.rel(hi - 1)) + 1,
                ))
            })
            .collect();
        let mut wait = None;
        if flags.intersects(MsyncFlags::SYNC | MsyncFlags::ASYNC) {
            for &(o, shared, lo, hi) in &windows {
                if !shared {
                    continue;
                }
                let oflags = self.mem.objects.get(o).flags();
                if oflags.contains(ObjectFlags::DEAD) {
                    // semantics: pager-death
                    return Err(VmError::PagerDead);
                }
                if oflags.contains(ObjectFlags::WRITE_ERROR) {
                    self.mem.objects.clear_flags(o, ObjectFlags::WRITE_ERROR);
                    return Err(VmError::Io);
                }
                if let Some(tag) = self.mem.write_back(o, lo, hi, pmap)? {
                    wait.get_or_insert(tag);
                }
            }
        }
        if flags.contains(MsyncFlags::INVALIDATE) {
            pmap.remove(space, addr, end);
            for &(o, _, lo, hi) in &windows {
                self.mem.drop_clean(o, lo, hi, pmap);
            }
        }
        Ok(if flags.contains(MsyncFlags::SYNC) {
            wait
        } else {
            None
        })
    }

    /// Residency of each page of a mapped range (`mincore`): `MINCORE_*` bits.
    pub fn mincore(&self, space: SpaceId, addr: u64, len: u64) -> Result<Vec<u8>, VmError> {
        let end = self.check_mapped(space, addr, len)?;
        let sp = self.space_ref(space)?;
        let mut out = Vec::with_capacity((len >> PAGE_SHIFT) as usize);
        for e in sp.map.entries_in(addr, end) {
            let (lo, hi) = (e.start.max(addr), e.end.min(end));
            let mut va = lo;
            while va < hi {
                let bits = match e.chain.visible(&self.mem.objects, e.rel(va)) {
                    None => 0,
                    Some(f) => {
                        let fl = self.mem.pool.page(f).flags();
                        MINCORE_INCORE
                            | if fl.contains(PageFlags::REFERENCED) {
                                MINCORE_REFERENCED
                            } else {
                                0
                            }
                            | if fl.contains(PageFlags::DIRTY) {
                                MINCORE_MODIFIED
                            } else {
                                0
                            }
                    }
                };
                out.push(bits);
                va += PAGE_SIZE;
            }
        }
        Ok(out)
    }

    /// The page `space` sees at `va` without faulting it in
    /// (`pmap_extract` at the VM level): `None` if nothing is resident
    /// there (the page would zero-fill, or is on swap). Fails with
    /// `NoMapping` outside every entry.
    pub fn extract(&self, space: SpaceId, va: u64) -> Result<Option<FrameNumber>, VmError> {
        let sp = self.space_ref(space)?;
        let e = sp.map.lookup(va).ok_or(VmError::NoMapping)?;
        Ok(e.chain.visible(&self.mem.objects, e.rel(va)))
    }

    /// True when the page `space` sees at `va` is on swap and not
    /// resident (a fault there pages it in). Fails with `NoMapping`
    /// outside every entry.
    pub fn page_on_swap(&self, space: SpaceId, va: u64) -> Result<bool, VmError> {
        let sp = self.space_ref(space)?;
        let e = sp.map.lookup(va).ok_or(VmError::NoMapping)?;
        Ok(matches!(
            e.chain.lookup(&self.mem.objects, e.rel(va)),
            Ok(crate::chain::Lookup::Swapped(_))
        ))
    }

    /// Clip `space`'s map at `addr` and `end` and return the starts of
    /// the entries in between. The entries the clips add are charged to
    /// the group first, so a refusal changes nothing. The caller checked
    /// the range.
    pub(crate) fn clip_entries(
        &mut self,
        space: SpaceId,
        addr: u64,
        end: u64,
    ) -> Result<Vec<u64>, VmError> {
        self.charge(space, Quota::MapEntries, self.clips(space, addr, end))?;
        let sp = self.spaces.get_mut(&space.0).expect("checked");
        sp.map.clip_range(addr, end, &mut self.mem.objects);
        Ok(sp.map.overlapping(addr, end))
    }

    /// Apply `change` to every entry of `space` in `[addr, end)`, clipped
    /// to the range, then merge each with its neighbours where they now
    /// match (`vm_map_simplify_entry`). The entries the clips add are
    /// charged to the group first, so a refusal changes nothing. The
    /// caller checked the range; holes in it are skipped.
    pub(crate) fn change_entries(
        &mut self,
        space: SpaceId,
        addr: u64,
        end: u64,
        mut change: impl FnMut(&mut Memory, &mut VmMapEntry),
    ) -> Result<(), VmError> {
        let starts = self.clip_entries(space, addr, end)?;
        let (mem, spaces) = (&mut self.mem, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).expect("checked");
        for &s in &starts {
            change(mem, sp.map.get_mut(s).expect("entry"));
        }
        for &s in starts.iter().rev() {
            sp.map.simplify(s, &mut mem.objects, &mut mem.pool);
        }
        Ok(())
    }
}

impl Memory {
    /// Tear down a removed entry: drop its mappings, its wirings and its
    /// chain. The caller has taken `e` out of `space`'s map.
    pub(crate) fn delete_entry<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        mut e: VmMapEntry,
        pmap: &mut P,
    ) {
        pmap.remove(space, e.start, e.end);
        self.trace_frees(space, &e);
        if e.is_wired() {
            self.unwire_entry(&mut e);
        }
        self.discard_window(&e);
        let chain = core::mem::take(&mut e.chain);
        self.stats.pages_freed += chain.release(&mut self.objects, &mut self.pool);
    }

    /// Free what only `e` could see of its front object when clipped
    /// siblings keep the object alive (FreeBSD's `OBJ_ONEMAPPING` case of
    /// `vm_map_entry_delete`): its pages and swap slots in the window,
    /// which would otherwise sit unreachable until the object dies
    /// (semantics: munmap-slots). Pages under swap I/O leave the object
    /// as orphans: their completion frees them and a write's slot.
    /// Caller contract: `e` is unmapped, unwired and out of its map.
    pub(crate) fn discard_window(&mut self, e: &VmMapEntry) {
        let Some(front) = e.chain.front() else {
            return;
        };
        let o = self.objects.get(front.object);
        if !o.is_private_anon()
            || !o.flags().contains(ObjectFlags::ONEMAPPING)
            || o.ref_count() == 1
        {
            return;
        }
        self.free_window(front, e.npages());
    }

    /// Free the pages and swap slots of `front`'s object in the window of
    /// `npages` pages the link starts at. Pages under swap I/O leave the
    /// object as orphans their completion frees. The caller has unmapped
    /// the window and nothing else sees it.
    pub(crate) fn free_window(&mut self, front: BackingLink, npages: u64) {
        let (lo, hi) = (front.pindex(0), front.pindex(npages));
        let o = self.objects.get(front.object);
        let pages: Vec<(u64, FrameNumber)> = o.pages_in(lo, hi).collect();
        for (i, f) in pages {
            if self.pool.page(f).flags().contains(PageFlags::BUSY) {
                self.objects.orphan_page(front.object, i);
                continue;
            }
            self.objects.remove_page(front.object, i);
            self.pool.free(f);
            self.stats.pages_freed += 1;
        }
        self.objects.swap_discard(front.object, lo, hi);
    }
}
