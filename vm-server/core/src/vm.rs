//! The VM system (`vmspace` and the object side of `vm_mmap.c`): the `Vm` that owns the frame pool, the objects, the address spaces and the name table; creating spaces and physical objects.
//!
//! Locking: one `Vm` is owned by the server's single-threaded loop and
//! every method takes `&mut self`; that borrow is the only lock, so no
//! structure inside needs one of its own.
//!
//! The `Vm` is split in two halves, the spaces and `Memory` (everything a
//! space's pages live in), so an operation can hold a map entry of one
//! space and change pages and objects at once. Each operation lives in the
//! module named after it (`mmap.rs`, `madvise.rs`, `fault.rs`, ...) as
//! another `impl Vm` or `impl Memory` block.
//!
//! Every operation validates all its arguments before it changes anything,
//! so a failed call leaves the VM as it was.

use crate::config::{derive_targets, VmConfig};
use crate::counters::{SpaceCounters, Uvmexp};
use crate::error::VmError;
use crate::limits::Group;
use crate::map::VmMap;
use crate::object::{ObjectKind, ObjectTable};
use crate::page::{PagePool, PageQueue};
use crate::pager_backend::PagerBackend;
use crate::pmap::Pmap;
use crate::space::VmSpace;
use crate::swap_backend::{IoDone, IoReq, SwapBackend};
use crate::types::{page_aligned, FrameNumber, ObjectId, Prot, SpaceId, PAGE_SIZE};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use vm_swap::PagingTargets;

/// One name: the object, the rights others may open it with, and the
/// quota group that created it. Owned by the `Vm`'s name table.
#[derive(Clone, Debug)]
pub(crate) struct NameEntry {
    pub(crate) object: ObjectId,
    pub(crate) open_rights: Prot,
    pub(crate) creator: u32,
}

/// The name table's key: (name group, name).
pub(crate) type NameKey = (u64, String);

/// The VM system: the frame pool, the objects, the address spaces and the
/// shared-memory name table. Owned by the server's single-threaded loop.
pub struct Vm {
    pub(crate) mem: Memory,
    pub(crate) spaces: BTreeMap<u32, VmSpace>,
    pub(crate) next_space: u32,
    /// Shared-memory names by (name group, name).
    pub(crate) names: BTreeMap<NameKey, NameEntry>,
    /// Quota groups by id (the id of the space that started each).
    pub(crate) groups: BTreeMap<u32, Group>,
    /// (receiver, sender) -> handles the sender may still push.
    pub(crate) accepts: BTreeMap<(u32, u32), u32>,
    /// References the server holds itself (`create_physical`,
    /// `device_create`).
    pub(crate) external: BTreeMap<ObjectId, u32>,
}

/// Everything but the spaces, so a method can hold an entry of a space
/// and the pools at once. Owned by `Vm`.
pub(crate) struct Memory {
    pub(crate) pool: PagePool,
    pub(crate) objects: ObjectTable,
    pub(crate) stats: Uvmexp,
    pub(crate) config: VmConfig,
    /// Idle zeroing reached its target and waits for the pre-zeroed
    /// frames to fall below the lower one (`zero_idle.rs`).
    pub(crate) zero_resting: bool,
    /// The effective paging targets; `None` when the pool is too small
    /// for seven distinct levels (pageout then only runs when asked).
    pub(crate) targets: Option<PagingTargets>,
    /// The swap pager, once `swap_on` attached one.
    pub(crate) swap: Option<Box<dyn SwapBackend>>,
    /// Swap requests in flight by tag.
    pub(crate) io: BTreeMap<u64, IoReq>,
    /// Completions not yet reported by `Vm::swap_poll`.
    pub(crate) done: Vec<IoDone>,
    /// While set, pageout looks only at pages of this quota group's
    /// objects (group-local pageout for its resident quota).
    pub(crate) scan_only: Option<u32>,
    /// External pagers by number (`Vm::pager_attach`); a number without
    /// an entry is a dead or unknown pager.
    pub(crate) pagers: BTreeMap<u32, Box<dyn PagerBackend>>,
    /// The next tag for a pager request (below `PAGER_TAG`'s bit).
    pub(crate) next_pager_tag: u64,
    /// The live trace's ring, while recording (`trace.rs`).
    pub(crate) trace: Option<crate::trace::TraceRing>,
    /// Swap read-ahead's adaptive window and marker (`pagein`).
    pub(crate) readahead: crate::pagein::ReadAhead,
}

impl Vm {
    /// A VM over a pool of `frame_count` frames, numbered `0..frame_count`,
    /// and `config.large_pages` large regions numbered from
    /// `large_region_base(frame_count)` (`large_pool.rs`).
    /// Fails with `InvalidArgument` for an inconsistent configuration.
    pub fn new(config: VmConfig, frame_count: u32) -> Result<Self, VmError> {
        if !page_aligned(config.user_min)
            || !page_aligned(config.user_max)
            || config.user_min >= config.user_max
            || config.max_chain_depth < 3
            || config.reserved_pages > frame_count
            || config.pageout_cluster == 0
            || config.pagein_window == 0
            || u64::from(crate::config::large_region_base(frame_count))
                + u64::from(config.large_pages) * u64::from(crate::config::LARGE_PAGE_FRAMES)
                >= u64::from(u32::MAX)
        {
            return Err(VmError::InvalidArgument);
        }
        let targets = match config.paging_targets {
            Some(t) => {
                if t.reserved != config.reserved_pages || t.validate(frame_count).is_err() {
                    return Err(VmError::InvalidArgument);
                }
                Some(t)
            }
            None => derive_targets(frame_count, config.reserved_pages),
        };
        Ok(Vm {
            mem: Memory {
                pool: PagePool::with_large(frame_count, config.reserved_pages, config.large_pages),
                objects: ObjectTable::default(),
                stats: Uvmexp::default(),
                config,
                zero_resting: false,
                targets,
                swap: None,
                io: BTreeMap::new(),
                done: Vec::new(),
                scan_only: None,
                pagers: BTreeMap::new(),
                next_pager_tag: 0,
                trace: None,
                readahead: crate::pagein::ReadAhead::default(),
            },
            spaces: BTreeMap::new(),
            next_space: 1,
            names: BTreeMap::new(),
            groups: BTreeMap::new(),
            accepts: BTreeMap::new(),
            external: BTreeMap::new(),
        })
    }

    pub fn config(&self) -> &VmConfig {
        &self.mem.config
    }

    pub fn pool(&self) -> &PagePool {
        &self.mem.pool
    }

    pub fn objects(&self) -> &ObjectTable {
        &self.mem.objects
    }

    pub fn space(&self, id: SpaceId) -> Option<&VmSpace> {
        self.spaces.get(&id.0)
    }

    pub fn spaces(&self) -> impl Iterator<Item = &VmSpace> {
        self.spaces.values()
    }

    /// Faults so far that waited for memory (`Uvmexp::flt_wait_memory`),
    /// without building a whole `stats` snapshot: the service asks around
    /// each fault whether one that waits is waiting for memory.
    pub fn memory_waits(&self) -> u64 {
        self.mem.stats.flt_wait_memory
    }

    /// A snapshot of the counters (`uvmexp`).
    pub fn stats(&self) -> Uvmexp {
        let p = &self.mem.pool;
        let (swpages, swpginuse, swpgbad) = self.mem.swap.as_ref().map_or((0, 0, 0), |s| {
            let b = s.blist();
            (b.blocks(), b.in_use(), b.bad_count())
        });
        Uvmexp {
            swpages,
            swpginuse,
            swpgbad,
            pagesize: PAGE_SIZE,
            npages: p.len(),
            free: p.free_count(),
            zeropages: p.zeroed_count(),
            active: p.hot_cold().0,
            inactive: p.hot_cold().1,
            wired: p.wired_count(),
            unmanaged: p.unmanaged_count(),
            device: p.device_count(),
            large_pages: u64::from(p.large().count()),
            large_pages_used: u64::from(p.large().used()),
            reserve_pagedaemon: p.reserved(),
            objects: self.mem.objects.live(),
            filepages: self
                .mem
                .objects
                .iter()
                .filter(|(_, o)| matches!(o.kind(), ObjectKind::Paged { .. }))
                .map(|(_, o)| o.resident_count())
                .sum(),
            spaces: self.spaces.len() as u32,
            map_entries: self
                .spaces
                .values()
                .map(|s| s.map.entry_count() as u64)
                .sum(),
            ..self.mem.stats.clone()
        }
    }

    /// The space `id`, or `BadSpace`.
    pub(crate) fn space_mut(&mut self, id: SpaceId) -> Result<&mut VmSpace, VmError> {
        self.spaces.get_mut(&id.0).ok_or(VmError::BadSpace)
    }

    /// The space `id`, or `BadSpace`.
    pub(crate) fn space_ref(&self, id: SpaceId) -> Result<&VmSpace, VmError> {
        self.spaces.get(&id.0).ok_or(VmError::BadSpace)
    }

    /// Check `[addr, addr + len)` as a user range; returns its end.
    pub(crate) fn check_range(&self, addr: u64, len: u64) -> Result<u64, VmError> {
        if len == 0 {
            return Err(VmError::ZeroLength);
        }
        if !page_aligned(addr) || !page_aligned(len) {
            return Err(VmError::Unaligned);
        }
        let end = addr.checked_add(len).ok_or(VmError::Overflow)?;
        if addr < self.mem.config.user_min || end > self.mem.config.user_max {
            return Err(VmError::OutOfRange);
        }
        Ok(end)
    }

    /// Check a range that must be mapped without holes in `space`.
    pub(crate) fn check_mapped(&self, space: SpaceId, addr: u64, len: u64) -> Result<u64, VmError> {
        let sp = self.space_ref(space)?;
        let end = self.check_range(addr, len)?;
        if !sp.map.fully_mapped(addr, end) {
            return Err(VmError::NoMapping);
        }
        Ok(end)
    }

    /// Create an empty address space (`vmspace_alloc`), the first of a
    /// new quota group (no limits until `set_limits`) and in a name group
    /// of its own (until `set_name_group`).
    pub fn space_create<P: Pmap + ?Sized>(&mut self, pmap: &mut P) -> Result<SpaceId, VmError> {
        let id = self.new_space(None, pmap)?;
        Ok(id)
    }

    /// Make a space in `parent`'s groups (a fork child), or in new ones.
    pub(crate) fn new_space<P: Pmap + ?Sized>(
        &mut self,
        parent: Option<SpaceId>,
        pmap: &mut P,
    ) -> Result<SpaceId, VmError> {
        let id = SpaceId(self.next_space);
        pmap.create_space(id).map_err(VmError::from)?;
        self.next_space += 1;
        let (group, name_group) = match parent.and_then(|p| self.spaces.get(&p.0)) {
            Some(p) => (p.group, p.name_group),
            None => {
                self.groups.insert(id.0, Group::new());
                // Spec name groups are small numbers; private ones are not.
                (id.0, (1 << 32) | u64::from(id.0))
            }
        };
        let g = self.groups.get_mut(&group).expect("live group");
        g.spaces += 1;
        pmap.set_table_limit(id, g.limits.page_tables);
        let c = &self.mem.config;
        self.spaces.insert(
            id.0,
            VmSpace {
                id,
                map: VmMap::new(c.user_min, c.user_max),
                handles: BTreeMap::new(),
                next_handle: 1,
                counters: SpaceCounters::default(),
                group,
                name_group,
            },
        );
        Ok(id)
    }

    /// Make a physical object over frames `base .. base + count` of the
    /// pool, which must be free (a DMA buffer; device memory that is not
    /// RAM comes through `device_create`). The server owns the returned
    /// reference; the frames return to the free pool when the last
    /// reference goes.
    pub fn create_physical(&mut self, base: FrameNumber, count: u32) -> Result<ObjectId, VmError> {
        if count == 0 {
            return Err(VmError::ZeroLength);
        }
        let end = base.0.checked_add(count).ok_or(VmError::Overflow)?;
        if end > self.mem.pool.len() {
            return Err(VmError::OutOfRange);
        }
        if (base.0..end).any(|f| self.mem.pool.page(FrameNumber(f)).queue() != PageQueue::Free) {
            return Err(VmError::Busy);
        }
        let o = self
            .mem
            .objects
            .allocate(ObjectKind::Physical { base }, count as u64);
        for i in 0..count {
            self.mem
                .pool
                .claim_unmanaged(FrameNumber(base.0 + i), o, i as u64)
                .expect("checked free");
        }
        *self.external.entry(o).or_default() += 1;
        Ok(o)
    }

    /// Drop a reference the server holds (from `create_physical` or
    /// `device_create`).
    pub fn object_release(&mut self, object: ObjectId) -> Result<(), VmError> {
        let n = self
            .external
            .get_mut(&object)
            .ok_or(VmError::InvalidArgument)?;
        *n -= 1;
        if *n == 0 {
            self.external.remove(&object);
        }
        self.mem.objects.deallocate(object, &mut self.mem.pool);
        Ok(())
    }
}
