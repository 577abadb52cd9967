//! 2 MiB mappings: a large region's frame mapped whole with one
//! page-directory entry in a client's VSpace (`Pmap::enter_large`).
//!
//! Each mapping is a copy of the region's 2 MiB cap, as a 4 KiB mapping
//! is of its frame's. A page table in the slot is emptied (its 4 KiB
//! mappings removed, as the core's contract allows) and unmapped, and goes
//! back to the kernel object cache. Removing, write-protecting or
//! `page_protect` over any part of a large mapping act on all of it; a
//! 4 KiB `enter` inside one removes it first (`pmap.rs`).

use super::{rights, Sel4Pmap, LARGE_SIZE};
use alloc::vec::Vec;
use sel4::{cap, CapRights, ObjectType, VmAttributes};
use sel4_objects::map_large_page_attrs;
use sel4_root_task::println;
use vm_core::{FrameNumber, PmapError, Prot, SpaceId};

/// One 2 MiB mapping of a large region in a client.
#[derive(Clone, Copy)]
pub struct LargeMapping {
    /// The large region (`FramePool::large_cap`).
    region: usize,
    /// The cap copy the mapping uses.
    cap: cap::LargePage,
    writable: bool,
}

impl Sel4Pmap {
    /// `Pmap::enter_large`: maps large region `base`'s frame at `va`.
    /// Refuses (`ResourceShortage`, nothing changed) a `base` that is not
    /// a region's first frame, a `va` not 2 MiB-aligned, a slot holding a
    /// wired page of the server's.
    pub(super) fn map_large(
        &mut self,
        space: SpaceId,
        va: u64,
        base: FrameNumber,
        prot: Prot,
    ) -> Result<(), PmapError> {
        let region = self
            .pool
            .large_region(base)
            .filter(|&r| self.pool.large_first(r) == base)
            .ok_or(PmapError::ResourceShortage)?;
        if !va.is_multiple_of(LARGE_SIZE) {
            return Err(PmapError::ResourceShortage);
        }
        let writable = prot.contains(Prot::WRITE);
        let sp = self
            .spaces
            .get(&space.0)
            .ok_or(PmapError::ResourceShortage)?;
        if sp
            .wired
            .iter()
            .any(|&(_, w)| w / LARGE_SIZE == va / LARGE_SIZE)
        {
            return Err(PmapError::ResourceShortage);
        }
        if let Some(m) = sp.large.get(&va).copied() {
            if m.region == region {
                self.set_large_rights(space, va, writable);
                return Ok(());
            }
            self.spaces.get_mut(&space.0).unwrap().large.remove(&va);
            self.unmap_large(space, va, m);
        }
        // Empty the slot: the 4 KiB mappings, then their page table.
        let small: Vec<u64> = sp_small_vas(self, space, va);
        for a in small {
            let m = self.spaces.get_mut(&space.0).unwrap().mappings.remove(a);
            if let Some(m) = m {
                self.unmap_one(space, a, m);
            }
        }
        let table = self
            .spaces
            .get_mut(&space.0)
            .unwrap()
            .page_tables
            .remove(&(va / LARGE_SIZE));
        if let Some(pt) = table {
            if let Err(e) = pt
                .cast::<sel4::cap_type::PageTable>()
                .x86_page_table_unmap()
            {
                println!("vm-server: pmap: page table unmap at {va:#x}: {e:?}");
            }
            // Empty now: every mapping in it was removed above.
            self.kernel.release(ObjectType::X86PageTable, 0, pt);
            self.stats.tables_replaced += 1;
        }
        if self.stats.mappings >= self.budget {
            self.steal(space, va);
        }
        let copy: cap::LargePage = match self.large_spare[region].take() {
            Some(c) => c,
            None => self
                .kernel
                .copy(self.pool.large_cap(region).cptr(), CapRights::read_write())
                .map_err(|_| PmapError::ResourceShortage)?
                .cast(),
        };
        let kernel = &mut self.kernel;
        let sp = self.spaces.get_mut(&space.0).unwrap();
        let limit = sp.table_limit;
        let held = sp.table_count() as u64;
        let tables = &mut sp.tables;
        let mut over = false;
        let mut made = 0;
        let mut make = |ty| {
            if held + made >= limit {
                over = true;
                return Err(alloc::string::String::from("page-table quota"));
            }
            let c = kernel.object(ty, 0)?;
            tables.push((ty, c));
            made += 1;
            Ok(c)
        };
        let attrs = VmAttributes::default();
        if let Err(e) =
            map_large_page_attrs(sp.vspace, copy, va, rights(writable), attrs, &mut make)
        {
            self.large_spare[region] = Some(copy);
            if over {
                return Err(PmapError::TableLimit);
            }
            println!("vm-server: pmap: large map {va:#x}: {e}");
            return Err(PmapError::ResourceShortage);
        }
        let n_tables = sp.table_count();
        sp.large.insert(
            va,
            LargeMapping {
                region,
                cap: copy,
                writable,
            },
        );
        self.large_pv[region].push(space, va);
        self.stats.mappings += 1;
        self.stats.enters += 1;
        self.stats.large_enters += 1;
        self.stats.page_tables = self.stats.page_tables.max(n_tables as u64);
        Ok(())
    }

    /// Unmaps one large mapping already taken out of its space's records.
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    pub(super) fn unmap_large(&mut self, space: SpaceId, va: u64, m: LargeMapping) {
        let _ = m.cap.x86_page_unmap();
        let spare = &mut self.large_spare[m.region];
        if spare.is_none() {
            *spare = Some(m.cap);
        } else {
            self.kernel.free_slot(m.cap.cptr());
        }
        self.large_pv[m.region].remove(space, va);
        self.stats.mappings -= 1;
        self.stats.removes += 1;
    }

    /// Removes every large mapping of `space` that reaches into `[start, end)`.
    pub(super) fn remove_large(&mut self, space: SpaceId, start: u64, end: u64) {
        for va in self.large_in(space, start, end, false) {
            let m = self.spaces.get_mut(&space.0).unwrap().large.remove(&va);
            if let Some(m) = m {
                self.unmap_large(space, va, m);
            }
        }
    }

    /// Makes read-only every large mapping of `space` that reaches into
    /// `[start, end)`, all 2 MiB of it.
    pub(super) fn write_protect_large(&mut self, space: SpaceId, start: u64, end: u64) {
        for va in self.large_in(space, start, end, true) {
            self.set_large_rights(space, va, false);
        }
    }

    /// `page_protect` of any frame of large region `r`: every mapping of it.
    pub(super) fn page_protect_large(&mut self, r: usize, prot: Prot) {
        let places = self.large_pv[r].clone();
        for (space, va) in places.iter() {
            if prot.is_empty() {
                self.remove_large(space, va, va.saturating_add(LARGE_SIZE));
            } else if !prot.contains(Prot::WRITE) {
                self.set_large_rights(space, va, false);
            }
        }
    }

    /// The first addresses of `space`'s large mappings that reach into
    /// `[start, end)` (only the writable ones if `writable_only`).
    fn large_in(&self, space: SpaceId, start: u64, end: u64, writable_only: bool) -> Vec<u64> {
        let Some(sp) = self.spaces.get(&space.0) else {
            return Vec::new();
        };
        if start >= end || sp.large.is_empty() {
            return Vec::new();
        }
        sp.large
            .range(start & !(LARGE_SIZE - 1)..end)
            .filter(|(&va, m)| {
                va.saturating_add(LARGE_SIZE) > start && (m.writable || !writable_only)
            })
            .map(|(&va, _)| va)
            .collect()
    }

    fn set_large_rights(&mut self, space: SpaceId, va: u64, writable: bool) {
        let Some(sp) = self.spaces.get_mut(&space.0) else {
            return;
        };
        let Some(m) = sp.large.get_mut(&va) else {
            return;
        };
        if m.writable == writable {
            return;
        }
        match m
            .cap
            .x86_page_remap(sp.vspace, rights(writable), VmAttributes::default())
        {
            Ok(()) => {
                m.writable = writable;
                self.stats.remaps += 1;
            }
            Err(e) => {
                // Cannot happen for a live mapping; dropping it is safe (it refaults).
                println!("vm-server: pmap: large remap {va:#x} failed ({e:?}); unmapping");
                let m = sp.large.remove(&va).unwrap();
                self.unmap_large(space, va, m);
            }
        }
    }
}

/// The 4 KiB mappings of `space` in the 2 MiB slot at `va`.
fn sp_small_vas(pmap: &Sel4Pmap, space: SpaceId, va: u64) -> Vec<u64> {
    pmap.spaces.get(&space.0).map_or_else(Vec::new, |sp| {
        sp.mappings
            .range(va..va.saturating_add(LARGE_SIZE))
            .map(|(a, _)| a)
            .collect()
    })
}
