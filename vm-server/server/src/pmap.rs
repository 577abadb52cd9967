//! The pmap over seL4: the VM core's `Pmap` carried out as capability
//! invocations on the clients' VSpaces.
//!
//! Each mapping is a copy of the pool frame's cap (seL4 maps a cap at most
//! once), kept in a slot of the server's CNode and recorded per space
//! (`va -> mapping`) and per frame (the reverse map `page_protect` walks).
//! Paging structures are retyped on demand, accounted to the space that
//! needed them, and go back to the server's object cache when the space is
//! destroyed. Rights changes use `X86Page_Remap`. seL4 on x86_64 cannot
//! read accessed/dirty bits, so this pmap leaves reference and modified
//! tracking to the core's emulation (`tracks_ref_mod` stays false).
//! 2 MiB mappings of the large regions are `large.rs`'s. Owned by the
//! server's single thread.

use crate::frames::FramePool;
use crate::kernel::Kernel;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use sel4::{cap, CPtr, CapRights, ObjectType, VmAttributes};
use sel4_objects::{map_page, map_page_attrs};
use sel4_root_task::println;
use vm_core::{FrameNumber, Pmap, PmapError, Prot, PvList, SpaceId};

#[path = "pmap_large.rs"]
mod large;
pub use large::LargeMapping;
#[path = "mapping_table.rs"]
mod mapping_table;
use mapping_table::{Mapping, MappingTable};

/// Bytes one page-directory entry maps: a page table's reach, a large page.
const LARGE_SIZE: u64 = 2 << 20;

/// A client address space as the pmap sees it.
struct SpaceMaps {
    vspace: cap::VSpace,
    /// The server made this PML4 (fork) and recycles it at destroy; the
    /// root task's PML4s of spec clients stay theirs.
    owned_root: bool,
    mappings: MappingTable,
    /// 2 MiB mappings, by their first address.
    large: BTreeMap<u64, LargeMapping>,
    /// Page directories and PDPTs made for this space: (type, cap).
    tables: Vec<(ObjectType, CPtr)>,
    /// Page tables made for this space, by the 2 MiB slot they fill
    /// (`va / 2 MiB`), so a large mapping can take the slot back.
    page_tables: BTreeMap<u64, CPtr>,
    /// Most paging structures it may have (its client's quota).
    table_limit: u64,
    /// Mapping copies of frames outside the pool (a forked child's IPC
    /// buffer and start-info page).
    wired: Vec<(cap::Granule, u64)>,
}

impl SpaceMaps {
    /// Paging structures held, of every level.
    fn table_count(&self) -> usize {
        self.tables.len() + self.page_tables.len()
    }
}

/// Records a paging structure `make` just made for `va`: a page table by
/// its 2 MiB slot, the levels above in `tables`.
fn record_table(
    tables: &mut Vec<(ObjectType, CPtr)>,
    page_tables: &mut BTreeMap<u64, CPtr>,
    ty: ObjectType,
    va: u64,
    c: CPtr,
) {
    if ty == ObjectType::X86PageTable {
        page_tables.insert(va / LARGE_SIZE, c);
    } else {
        tables.push((ty, c));
    }
}

/// Per mappable frame, its idle mapping cap as the slot number, 0 (the
/// null slot, which the server never allocates) for none: 4 bytes a
/// frame where `Option<cap::Granule>` takes 16 (slot numbers fit: the
/// server's CNode has at most 2^20 slots, `capdl::MAX_CNODE_BITS`).
struct SpareCaps(Vec<u32>);

impl SpareCaps {
    /// Takes frame `i`'s idle cap, if it has one.
    fn take(&mut self, i: usize) -> Option<cap::Granule> {
        let slot = core::mem::take(&mut self.0[i]);
        (slot != 0).then(|| cap::Granule::from_bits(u64::from(slot)))
    }

    /// Keeps `c` as frame `i`'s idle cap; gives it back if there is one
    /// (or, impossibly, its slot number does not fit).
    fn put(&mut self, i: usize, c: cap::Granule) -> Option<cap::Granule> {
        match u32::try_from(c.bits()) {
            Ok(slot) if self.0[i] == 0 => {
                self.0[i] = slot;
                None
            }
            _ => Some(c),
        }
    }

    fn idle(&self) -> usize {
        self.0.iter().filter(|&&b| b != 0).count()
    }
}

/// Pmap counters (reported with the VM statistics).
#[derive(Clone, Copy, Debug, Default)]
pub struct PmapStats {
    pub mappings: u64,
    pub page_tables: u64,
    pub enters: u64,
    pub removes: u64,
    pub remaps: u64,
    /// Mappings dropped to stay within the budget.
    pub stolen: u64,
    /// 2 MiB mappings made (`enter_large`).
    pub large_enters: u64,
    /// Page tables unmapped to make room for a 2 MiB mapping.
    pub tables_replaced: u64,
}

/// The seL4 pmap: the kernel bookkeeping, the pool, and all client spaces.
pub struct Sel4Pmap {
    pub kernel: Kernel,
    pub pool: FramePool,
    asid_pool: cap::AsidPool,
    spaces: BTreeMap<u32, SpaceMaps>,
    /// Reverse map: where each frame is mapped. Indexed by
    /// `FramePool::mappable_index`, as `spare`: the large regions' frames
    /// (most of the frame numbers in bench.spec) have no records here.
    pv: Vec<PvList>,
    /// Per frame, an unmapped copy of its cap kept for the next mapping:
    /// most frames are mapped in one space at a time, so most faults need
    /// no `CNode_Copy` (about a sixth of a fault's cost under QEMU).
    spare: SpareCaps,
    /// Per large region: where it is mapped, as `pv` for small frames.
    large_pv: Vec<PvList>,
    /// Per large region, an unmapped copy of its cap, as `spare`.
    large_spare: Vec<Option<cap::LargePage>>,
    /// The VSpace the next `create_space` adopts instead of making one.
    adopt: Option<cap::VSpace>,
    /// Most mappings held at once (their records are heap the server's
    /// bound counts: `vm_service::heap`); past it, `enter` first drops an
    /// older mapping, which simply faults back in (a pmap is a cache).
    budget: u64,
    /// Where the next dropped mapping is looked for (a frame number).
    steal_cursor: usize,
    pub stats: PmapStats,
}

fn rights(writable: bool) -> CapRights {
    if writable {
        CapRights::read_write()
    } else {
        CapRights::read_only()
    }
}

impl Sel4Pmap {
    pub fn new(mut kernel: Kernel, pool: FramePool, asid_pool: cap::AsidPool, budget: u64) -> Self {
        // No device frames yet: the mappable frames are the pool's.
        let pv = (0..pool.mappable()).map(|_| PvList::new()).collect();
        let spare = (0..pool.mappable() as u32)
            .map(|n| {
                let c = pool.cap(FrameNumber(n)).expect("a pool frame's cap");
                kernel
                    .copy(c.cptr(), CapRights::read_write())
                    .ok()
                    .and_then(|c| u32::try_from(c.bits()).ok())
                    .unwrap_or(0)
            })
            .collect();
        let large_pv = (0..pool.large_count()).map(|_| PvList::new()).collect();
        let large_spare = (0..pool.large_count() as usize)
            .map(|r| {
                kernel
                    .copy(pool.large_cap(r).cptr(), CapRights::read_write())
                    .ok()
                    .map(|c| c.cast())
            })
            .collect();
        Sel4Pmap {
            kernel,
            pool,
            asid_pool,
            spaces: BTreeMap::new(),
            pv,
            spare: SpareCaps(spare),
            large_pv,
            large_spare,
            adopt: None,
            budget,
            steal_cursor: 0,
            stats: PmapStats::default(),
        }
    }

    /// Keeps the unmapped copy `c` as mappable frame `i`'s spare, or
    /// frees its slot when the frame has one.
    // Out of line: `enter` keeps a spare only when it fails (every unmap
    // does); the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    fn keep_spare(&mut self, i: usize, c: cap::Granule) {
        if let Some(extra) = self.spare.put(i, c) {
            self.kernel.free_slot(extra.cptr());
        }
    }

    /// Where frame `f`'s records are in `pv` and `spare`. The caller
    /// knows `f` has a 4 KiB cap (it is mapped, or `pool.cap` gave one).
    fn record(&self, f: FrameNumber) -> usize {
        self.pool.mappable_index(f).expect("a mappable frame")
    }

    /// `enter`'s 4 KiB page over the 2 MiB mapping `m` at `slot`: that
    /// goes first.
    // Rare, and out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[cold]
    #[inline(never)]
    fn replace_large(&mut self, space: SpaceId, slot: u64, m: LargeMapping) {
        if let Some(sp) = self.spaces.get_mut(&space.0) {
            sp.large.remove(&slot);
        }
        self.unmap_large(space, slot, m);
    }

    /// `enter`'s new frame over the mapping `m` at `va` (copy-on-write
    /// replaces the shared page so): that goes first.
    // Out of line, as `replace_large`, but not cold.
    #[inline(never)]
    fn replace(&mut self, space: SpaceId, va: u64, m: Mapping) {
        if let Some(sp) = self.spaces.get_mut(&space.0) {
            sp.mappings.remove(va);
        }
        self.unmap_one(space, va, m);
    }

    /// Drop one mapping of some frame other than `keep` at `va` of
    /// `space`, round robin over the frames: the budget is full.
    // Rare, and out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[cold]
    #[inline(never)]
    fn steal(&mut self, space: SpaceId, va: u64) {
        for _ in 0..self.pv.len() {
            self.steal_cursor = (self.steal_cursor + 1) % self.pv.len();
            let Some((s, a)) = self.pv[self.steal_cursor]
                .iter()
                .find(|&(s, a)| (s, a) != (space, va))
            else {
                continue;
            };
            let m = self
                .spaces
                .get_mut(&s.0)
                .and_then(|sp| sp.mappings.remove(a));
            if let Some(m) = m {
                self.unmap_one(s, a, m);
                self.stats.stolen += 1;
                return;
            }
        }
    }

    /// Gives the next `pages` frame numbers to a device region whose
    /// frame caps are in `first_slot..`; returns the first (it equals the
    /// number the VM core gave the region).
    pub fn add_device_frames(&mut self, first_slot: u64, pages: u32) -> FrameNumber {
        let base = self.pool.add_device(first_slot, pages);
        let n = self.pool.mappable();
        self.pv.resize(n, PvList::new());
        self.spare.0.resize(n, 0);
        base
    }

    /// The caching attributes of frame `f`'s mappings: device memory is
    /// uncacheable (PAT UC: no caching, no write combining, whatever the
    /// MTRRs say), RAM write-back.
    fn attrs(&self, f: FrameNumber) -> VmAttributes {
        if self.pool.is_device(f) {
            VmAttributes::UNCACHEABLE
        } else {
            VmAttributes::default()
        }
    }

    /// Makes the next `create_space` use `vspace` (a client the root task built).
    pub fn adopt_next(&mut self, vspace: cap::VSpace) {
        self.adopt = Some(vspace);
    }

    /// The VSpace of `space`.
    pub fn vspace(&self, space: SpaceId) -> Option<cap::VSpace> {
        self.spaces.get(&space.0).map(|s| s.vspace)
    }

    /// Idle spare mapping caps (slots in use but holding no mapping).
    pub fn idle_spares(&self) -> usize {
        self.spare.idle() + self.large_spare.iter().filter(|c| c.is_some()).count()
    }

    /// Paging structures held by all client spaces (for statistics).
    pub fn tables_held(&self) -> usize {
        self.spaces.values().map(|s| s.table_count()).sum()
    }

    /// Pages mapped (a large mapping counts its 512) and paging
    /// structures held for `space` (for statistics).
    pub fn footprint(&self, space: SpaceId) -> (usize, usize) {
        self.spaces
            .get(&space.0)
            .map(|s| {
                let pages = s.mappings.len() + s.large.len() * (LARGE_SIZE / 4096) as usize;
                (pages, s.table_count())
            })
            .unwrap_or((0, 0))
    }

    /// Maps a frame the server owns outside the pool (a forked child's
    /// IPC buffer or start-info page) into `space` at `va` with `rights`,
    /// through a copy of its cap, so the original stays free to map in the
    /// server's scratch window. Undone when the space is destroyed.
    pub fn map_wired(
        &mut self,
        space: SpaceId,
        frame: cap::Granule,
        va: u64,
        rights: CapRights,
    ) -> Result<(), PmapError> {
        let copy: cap::Granule = self
            .kernel
            .copy(frame.cptr(), CapRights::all())
            .map_err(|_| PmapError::ResourceShortage)?
            .cast();
        let kernel = &mut self.kernel;
        let sp = self
            .spaces
            .get_mut(&space.0)
            .ok_or(PmapError::ResourceShortage)?;
        let (tables, page_tables) = (&mut sp.tables, &mut sp.page_tables);
        let mut make = |ty| {
            let c = kernel.object(ty, 0)?;
            record_table(tables, page_tables, ty, va, c);
            Ok(c)
        };
        match map_page(sp.vspace, copy, va, rights, &mut make) {
            Ok(()) => {
                sp.wired.push((copy, va));
                Ok(())
            }
            Err(e) => {
                println!("vm-server: pmap: wired map at {va:#x}: {e}");
                self.kernel.free_slot(copy.cptr());
                Err(PmapError::ResourceShortage)
            }
        }
    }

    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    fn unmap_one(&mut self, space: SpaceId, va: u64, m: Mapping) {
        let _ = m.cap.x86_page_unmap();
        let i = self.record(m.frame);
        self.keep_spare(i, m.cap);
        self.pv[i].remove(space, va);
        self.stats.mappings -= 1;
        self.stats.removes += 1;
    }

    fn set_rights(&mut self, space: SpaceId, va: u64, writable: bool) {
        let Some(sp) = self.spaces.get_mut(&space.0) else {
            return;
        };
        let Some(m) = sp.mappings.get(va) else {
            return;
        };
        if m.writable == writable {
            return;
        }
        // A remap keeps the page's caching attributes.
        let attrs = if self.pool.is_device(m.frame) {
            VmAttributes::UNCACHEABLE
        } else {
            VmAttributes::default()
        };
        match m.cap.x86_page_remap(sp.vspace, rights(writable), attrs) {
            Ok(()) => {
                sp.mappings.set_writable(va, writable);
                self.stats.remaps += 1;
            }
            Err(e) => {
                // Cannot happen for a live mapping; dropping it is safe (it refaults).
                println!("vm-server: pmap: remap {va:#x} failed ({e:?}); unmapping");
                sp.mappings.remove(va);
                self.unmap_one(space, va, m);
            }
        }
    }
}

impl Pmap for Sel4Pmap {
    fn create_space(&mut self, space: SpaceId) -> Result<(), PmapError> {
        let (vspace, owned_root) = match self.adopt.take() {
            Some(v) => (v, false),
            None => {
                let (v, reused) = self
                    .kernel
                    .object_reused(ObjectType::X64Pml4, 0)
                    .map_err(|_| PmapError::ResourceShortage)?;
                let v: cap::VSpace = v.cast();
                // A reused PML4 keeps the ASID it was given when new.
                if !reused {
                    if let Err(e) = self.asid_pool.x86_asid_pool_assign(v) {
                        println!("vm-server: pmap: ASID assign: {e:?}");
                        self.kernel.release(ObjectType::X64Pml4, 0, v.cptr());
                        return Err(PmapError::ResourceShortage);
                    }
                }
                (v, true)
            }
        };
        self.spaces.insert(
            space.0,
            SpaceMaps {
                vspace,
                owned_root,
                mappings: MappingTable::default(),
                large: BTreeMap::new(),
                tables: Vec::new(),
                page_tables: BTreeMap::new(),
                table_limit: u64::MAX,
                wired: Vec::new(),
            },
        );
        Ok(())
    }

    fn destroy_space(&mut self, space: SpaceId) {
        let Some(sp) = self.spaces.remove(&space.0) else {
            return;
        };
        for (va, m) in sp.mappings.into_mappings() {
            self.unmap_one(space, va, m);
        }
        for (va, m) in sp.large {
            self.unmap_large(space, va, m);
        }
        // Recycled page tables must be empty: unmap the wired pages too.
        for (copy, _) in sp.wired {
            let _ = copy.x86_page_unmap();
            self.kernel.free_slot(copy.cptr());
        }
        // Lowest levels first, so each unmap finds its parent still in place.
        let mut tables = sp.tables;
        tables.extend(
            sp.page_tables
                .into_values()
                .map(|c| (ObjectType::X86PageTable, c)),
        );
        tables.sort_by_key(|(ty, _)| match ty {
            ObjectType::X86PageTable => 0,
            ObjectType::X86PageDirectory => 1,
            _ => 2,
        });
        for (ty, c) in tables {
            let r = match ty {
                ObjectType::X86PageTable => {
                    c.cast::<sel4::cap_type::PageTable>().x86_page_table_unmap()
                }
                ObjectType::X86PageDirectory => c
                    .cast::<sel4::cap_type::PageDirectory>()
                    .x86_page_directory_unmap(),
                _ => c.cast::<sel4::cap_type::PDPT>().x86_pdpt_unmap(),
            };
            if let Err(e) = r {
                println!("vm-server: pmap: unmap {ty:?}: {e:?}");
            }
            self.kernel.release(ty, 0, c);
        }
        if sp.owned_root {
            // The PML4 keeps its ASID; an empty PML4 is as good as new.
            self.kernel
                .release(ObjectType::X64Pml4, 0, sp.vspace.cptr());
        }
    }

    fn set_table_limit(&mut self, space: SpaceId, limit: u64) {
        if let Some(sp) = self.spaces.get_mut(&space.0) {
            sp.table_limit = limit;
        }
    }

    fn enter(
        &mut self,
        space: SpaceId,
        va: u64,
        frame: FrameNumber,
        prot: Prot,
    ) -> Result<(), PmapError> {
        let writable = prot.contains(Prot::WRITE);
        let sp = self
            .spaces
            .get(&space.0)
            .ok_or(PmapError::ResourceShortage)?;
        let existing = sp.mappings.get(va);
        // A 4 KiB page over part of a 2 MiB mapping replaces all of it.
        let slot = va & !(LARGE_SIZE - 1);
        if let Some(m) = sp.large.get(&slot).copied() {
            self.replace_large(space, slot, m);
        }
        if let Some(m) = existing {
            if m.frame == frame {
                self.set_rights(space, va, writable);
                return Ok(());
            }
            self.replace(space, va, m);
        }
        if self.stats.mappings >= self.budget {
            self.steal(space, va);
        }
        // A large region's frames have no 4 KiB cap and no records (the
        // core maps them only whole): refused, never a panic.
        let i = self
            .pool
            .mappable_index(frame)
            .ok_or(PmapError::ResourceShortage)?;
        // The pool's cap only when there is no spare copy: its array is a
        // data page the fault would touch for nothing (docs/performance.md,
        // "Data pages of a fault").
        let copy: cap::Granule = match self.spare.take(i) {
            Some(c) => c,
            None => {
                let pool_cap = self.pool.cap(frame).ok_or(PmapError::ResourceShortage)?;
                self.kernel
                    .copy(pool_cap.cptr(), CapRights::read_write())
                    .map_err(|_| PmapError::ResourceShortage)?
                    .cast()
            }
        };
        let attrs = self.attrs(frame);
        let kernel = &mut self.kernel;
        let sp = self.spaces.get_mut(&space.0).unwrap();
        let limit = sp.table_limit;
        let held = sp.table_count() as u64;
        let (tables, page_tables) = (&mut sp.tables, &mut sp.page_tables);
        let mut over = false;
        let mut made = 0;
        let mut make = |ty| {
            if held + made >= limit {
                over = true;
                return Err(alloc::string::String::from("page-table quota"));
            }
            let c = kernel.object(ty, 0)?;
            record_table(tables, page_tables, ty, va, c);
            made += 1;
            Ok(c)
        };
        if let Err(e) = map_page_attrs(sp.vspace, copy, va, rights(writable), attrs, &mut make) {
            self.keep_spare(i, copy);
            if over {
                return Err(PmapError::TableLimit);
            }
            println!("vm-server: pmap: map {va:#x}: {e}");
            return Err(PmapError::ResourceShortage);
        }
        let n_tables = sp.table_count();
        let m = Mapping {
            frame,
            cap: copy,
            writable,
        };
        if sp.mappings.insert(va, m).is_err() {
            // Not with a spec's CNode (`mapping_table.rs`); refused, not kept.
            let _ = copy.x86_page_unmap();
            self.keep_spare(i, copy);
            return Err(PmapError::ResourceShortage);
        }
        self.pv[i].push(space, va);
        self.stats.mappings += 1;
        self.stats.enters += 1;
        self.stats.page_tables = self.stats.page_tables.max(n_tables as u64);
        Ok(())
    }

    fn remove(&mut self, space: SpaceId, start: u64, end: u64) {
        let Some(sp) = self.spaces.get_mut(&space.0) else {
            return;
        };
        // One page (pageout's `page_protect`, for every page it evicts):
        // its slot alone, not a walk of its block and a list of what it
        // found (about 500 instructions a page; docs/performance.md, "The
        // swap rows' bound").
        if start & 0xfff == 0 && start.checked_add(4096) == Some(end) {
            if let Some(m) = sp.mappings.remove(start) {
                self.unmap_one(space, start, m);
            }
            return self.remove_large(space, start, end);
        }
        let vas: Vec<u64> = sp.mappings.range(start..end).map(|(va, _)| va).collect();
        for va in vas {
            let m = self
                .spaces
                .get_mut(&space.0)
                .unwrap()
                .mappings
                .remove(va)
                .unwrap();
            self.unmap_one(space, va, m);
        }
        self.remove_large(space, start, end);
    }

    fn protect(&mut self, space: SpaceId, start: u64, end: u64, prot: Prot) {
        if prot.is_empty() {
            return self.remove(space, start, end);
        }
        if prot.contains(Prot::WRITE) {
            return; // never raises rights
        }
        let Some(sp) = self.spaces.get(&space.0) else {
            return;
        };
        let vas: Vec<u64> = sp
            .mappings
            .range(start..end)
            .filter(|(_, m)| m.writable)
            .map(|(va, _)| va)
            .collect();
        for va in vas {
            self.set_rights(space, va, false);
        }
        self.write_protect_large(space, start, end);
    }

    fn page_protect(&mut self, frame: FrameNumber, prot: Prot) {
        if let Some(r) = self.pool.large_region(frame) {
            return self.page_protect_large(r, prot);
        }
        let Some(i) = self.pool.mappable_index(frame) else {
            return;
        };
        let places = self.pv[i].clone();
        for (space, va) in places.iter() {
            self.protect(space, va, va + 4096, prot);
        }
    }

    fn is_mapped(&self, space: SpaceId, va: u64) -> bool {
        self.spaces.get(&space.0).is_some_and(|s| {
            s.mappings.contains(va) || s.large.contains_key(&(va & !(LARGE_SIZE - 1)))
        })
    }

    fn sole_mapping(&self, frame: FrameNumber) -> Option<(SpaceId, u64)> {
        let i = self.pool.mappable_index(frame)?;
        self.pv[i].sole()
    }

    fn enter_large(
        &mut self,
        space: SpaceId,
        va: u64,
        base: FrameNumber,
        prot: Prot,
    ) -> Result<(), PmapError> {
        self.map_large(space, va, base, prot)
    }

    fn zero_page(&mut self, frame: FrameNumber) {
        self.pool.bytes(frame).fill(0);
    }

    fn read_frame(&self, frame: FrameNumber, buf: &mut [u8]) {
        buf.copy_from_slice(self.pool.bytes_ref(frame));
    }

    fn write_frame(&mut self, frame: FrameNumber, data: &[u8]) {
        self.pool.bytes(frame).copy_from_slice(data);
    }

    fn copy_page(&mut self, src: FrameNumber, dst: FrameNumber) {
        let (s, d) = self.pool.pair(src, dst);
        d.copy_from_slice(s);
    }
}
