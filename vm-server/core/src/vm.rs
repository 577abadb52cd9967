//! The VM system (`vmspace` and the syscall layer of `vm_mmap.c`): the `Vm` that owns pages, objects and address spaces, and every client operation on them.
//!
//! Locking: one `Vm` is owned by the server's single-threaded loop and
//! every method takes `&mut self`; that borrow is the only lock, so no
//! structure inside needs one of its own.
//!
//! Every operation validates all its arguments before it changes anything,
//! so a failed call leaves the VM as it was.

use crate::backing::BackingChain;
use crate::counters::{SpaceCounters, Uvmexp};
use crate::error::VmError;
use crate::map::{EntryFlags, VmMap, VmMapEntry};
use crate::object::{ObjectFlags, ObjectKind, ObjectTable};
use crate::page::{PageFlags, PagePool, PageQueue};
use crate::pmap::Pmap;
use crate::quota::{Group, Quota};
use crate::shm::{NameEntry, NameKey};
use crate::swap::{IoDone, IoReq, SwapBackend};
use crate::types::{
    page_aligned, Advice, FrameNumber, Handle, Inheritance, ObjectId, Prot, SpaceId, PAGE_SHIFT,
    PAGE_SIZE,
};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use bitflags::bitflags;
use vm_swap::{IoTag, PagingTargets, Pressure};

/// Tunables, fixed at `Vm::new`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmConfig {
    /// Lowest user address (page aligned).
    pub user_min: u64,
    /// End of the user range (exclusive, page aligned).
    pub user_max: u64,
    /// Free pages normal allocations may not take, kept for the pageout
    /// path (`uvmexp.reserve_pagedaemon`).
    pub reserved_pages: u32,
    /// Longest backing chain (DragonFly's limit is 5; at least 3).
    pub max_chain_depth: usize,
    /// Fault-around pages after the faulting one.
    pub prefault_ahead: u32,
    /// Fault-around pages before the faulting one.
    pub prefault_behind: u32,
    /// Let fault-around zero-fill after a zero-fill fault.
    pub prefault_zero_fill: bool,
    /// Fault-around never zero-fills when free pages are at or below this.
    pub prefault_min_free: u32,
    /// Paging targets (`v_free_*`, `v_paging_*`); `None` derives them from
    /// the pool size with [`PagingTargets::for_pool`], shifted so that
    /// `reserved` equals `reserved_pages`. An override must have
    /// `reserved == reserved_pages` and pass [`PagingTargets::validate`].
    pub paging_targets: Option<PagingTargets>,
    /// Most dirty pages of one object laundered in one write (BSD's
    /// `vm_pageout_clean` cluster), at least 1.
    pub pageout_cluster: u32,
    /// Page-in read-ahead: slots read before and after the faulting page
    /// when they are device-contiguous (`swap_pager_haspage`).
    pub pagein_behind: u32,
    pub pagein_ahead: u32,
    /// Which client to stop when memory and swap are exhausted
    /// (`Vm::oom_victim`, the server's OOM killer).
    pub oom_policy: OomPolicy,
}

/// How `Vm::oom_victim` picks the space to kill when a fault cannot get a
/// page (`OutOfMemory`/`NoSwap`) and pageout can free nothing.
#[derive(Clone, Copy, Debug)]
pub enum OomPolicy {
    /// The space charged with the most private pages, resident or on
    /// swap (Linux's badness without the tuning knobs).
    Largest,
    /// The most recently created space (the newest fork child).
    Newest,
    /// Never pick: the faulting client gets the error and nobody dies.
    None,
    /// The server's own choice.
    Custom(fn(&Vm) -> Option<SpaceId>),
}

/// Policies compare by kind; custom ones by function address (configs
/// compare equal when they were built from the same function).
impl PartialEq for OomPolicy {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (OomPolicy::Custom(a), OomPolicy::Custom(b)) => core::ptr::fn_addr_eq(*a, *b),
            _ => core::mem::discriminant(self) == core::mem::discriminant(other),
        }
    }
}
impl Eq for OomPolicy {}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            user_min: 0x1000_0000,
            user_max: 0x7fff_ffff_f000,
            reserved_pages: 16,
            max_chain_depth: 5,
            prefault_ahead: 4,
            prefault_behind: 3,
            prefault_zero_fill: true,
            prefault_min_free: 64,
            paging_targets: None,
            pageout_cluster: 16,
            pagein_behind: 7,
            pagein_ahead: 8,
            oom_policy: OomPolicy::Largest,
        }
    }
}

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
    /// A shared-memory or physical object through a handle of the space,
    /// from byte `offset` (page aligned).
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

/// A handle's target and the rights it grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleEntry {
    pub object: ObjectId,
    pub rights: Prot,
}

/// One address space (`struct vmspace`): its map and its object handles.
/// Owned by the single-threaded `Vm`.
#[derive(Debug)]
pub struct VmSpace {
    id: SpaceId,
    pub(crate) map: VmMap,
    pub(crate) handles: BTreeMap<u32, HandleEntry>,
    pub(crate) next_handle: u32,
    pub(crate) counters: SpaceCounters,
    /// Its quota group (the space `space_create` made and its forks).
    pub(crate) group: u32,
    /// The name group its shared-memory names live in.
    pub(crate) name_group: u64,
}

impl VmSpace {
    pub fn id(&self) -> SpaceId {
        self.id
    }
    pub fn map(&self) -> &VmMap {
        &self.map
    }
    pub fn handle(&self, h: Handle) -> Option<HandleEntry> {
        self.handles.get(&h.0).copied()
    }
    /// Its quota group: the space `space_create` made, shared by every
    /// space forked from it.
    pub fn quota_group(&self) -> u32 {
        self.group
    }
    /// The name group its shared-memory names are looked up in.
    pub fn name_group(&self) -> u64 {
        self.name_group
    }
    /// Open handles.
    pub fn handle_count(&self) -> usize {
        self.handles.len()
    }
    /// Its fault and page-in counts.
    pub fn counters(&self) -> SpaceCounters {
        self.counters
    }
    /// Pages of its wired (`mlock`ed) entries.
    pub fn wired_pages(&self) -> u64 {
        self.map
            .entries()
            .filter(|e| e.is_wired())
            .map(|e| e.npages())
            .sum()
    }
}

/// Everything but the spaces, so a method can hold an entry of a space
/// and the pools at once. Owned by `Vm`.
pub(crate) struct Res {
    pub(crate) pool: PagePool,
    pub(crate) objects: ObjectTable,
    pub(crate) stats: Uvmexp,
    pub(crate) config: VmConfig,
    /// The effective paging targets; `None` when the pool is too small
    /// for seven distinct levels (pageout then only runs when asked).
    pub(crate) targets: Option<PagingTargets>,
    /// The swap pager, once `swap_on` attached one.
    pub(crate) swap: Option<Box<dyn SwapBackend>>,
    /// Swap requests in flight by tag.
    pub(crate) io: BTreeMap<u64, IoReq>,
    /// Busy frame -> the tag of the request it is in.
    pub(crate) busy_io: BTreeMap<u32, IoTag>,
    /// Completions not yet reported by `Vm::swap_poll`.
    pub(crate) done: Vec<IoDone>,
    /// While set, pageout looks only at pages of this quota group's
    /// objects (group-local pageout for its resident quota).
    pub(crate) scan_only: Option<u32>,
}

/// The VM system: the frame pool, the objects, the address spaces and the
/// shared-memory name table. Owned by the server's single-threaded loop.
pub struct Vm {
    pub(crate) res: Res,
    pub(crate) spaces: BTreeMap<u32, VmSpace>,
    next_space: u32,
    /// Shared-memory names by (name group, name).
    pub(crate) names: BTreeMap<NameKey, NameEntry>,
    /// Quota groups by id (the id of the space that started each).
    pub(crate) groups: BTreeMap<u32, Group>,
    /// (receiver, sender) -> handles the sender may still push.
    pub(crate) accepts: BTreeMap<(u32, u32), u32>,
    /// References the server holds itself (`create_physical`).
    external: BTreeMap<ObjectId, u32>,
}

impl Vm {
    /// A VM over a pool of `frame_count` frames, numbered `0..frame_count`.
    /// Fails with `InvalidArgument` for an inconsistent configuration.
    pub fn new(config: VmConfig, frame_count: u32) -> Result<Self, VmError> {
        if !page_aligned(config.user_min)
            || !page_aligned(config.user_max)
            || config.user_min >= config.user_max
            || config.max_chain_depth < 3
            || config.reserved_pages > frame_count
            || config.pageout_cluster == 0
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
            res: Res {
                pool: PagePool::new(frame_count, config.reserved_pages),
                objects: ObjectTable::default(),
                stats: Uvmexp::default(),
                config,
                targets,
                swap: None,
                io: BTreeMap::new(),
                busy_io: BTreeMap::new(),
                done: Vec::new(),
                scan_only: None,
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
        &self.res.config
    }

    /// Pages charged to `space`: resident or on swap in the front object
    /// of each of its entries when no other chain holds that object (what
    /// its exit gives back, at least). Cost is linear in its entries and
    /// those pages.
    pub fn space_footprint(&self, space: SpaceId) -> Result<u64, VmError> {
        let sp = self.space_ref(space)?;
        let mut n = 0;
        for e in sp.map.entries() {
            let Some(front) = e.chain.front() else {
                continue;
            };
            let o = self.res.objects.get(front.object);
            if !o.is_private_anon() || o.ref_count() != 1 {
                continue;
            }
            let (lo, hi) = (front.pindex(0), front.pindex(e.npages()));
            n += o.pages_in(lo, hi).count() as u64;
            n += o
                .swap()
                .range(lo..hi)
                .filter(|&(p, _)| o.lookup(p).is_none())
                .count() as u64;
        }
        Ok(n)
    }

    /// The space the configured `OomPolicy` would stop to get memory
    /// back, if any (`None` with no spaces or `OomPolicy::None`). The
    /// server calls it when a fault fails with `OutOfMemory` or `NoSwap`
    /// after pageout could free nothing, kills that client (`exit`) and
    /// retries.
    pub fn oom_victim(&self) -> Option<SpaceId> {
        match self.res.config.oom_policy {
            OomPolicy::None => None,
            OomPolicy::Newest => self.spaces.keys().next_back().map(|&k| SpaceId(k)),
            OomPolicy::Largest => self
                .spaces
                .keys()
                .map(|&k| SpaceId(k))
                .max_by_key(|&s| (self.space_footprint(s).unwrap_or(0), s.0)),
            OomPolicy::Custom(f) => f(self),
        }
    }

    /// vm-swap's counters of the attached pager (slots, I/O, errors).
    pub fn swap_stats(&mut self) -> Option<vm_swap::SwapStats> {
        self.res.swap.as_mut().map(|s| s.stats())
    }

    /// The effective paging targets (`None`: pool too small to derive them).
    pub fn paging_targets(&self) -> Option<PagingTargets> {
        self.res.targets
    }

    /// How short of free pages the pool is (`Plenty` without targets).
    pub fn pressure(&self) -> Pressure {
        self.res
            .targets
            .map_or(Pressure::Plenty, |t| t.pressure(self.res.pool.free_count()))
    }

    /// Pages a pageout pass should free now (`vm_paging_needed` +
    /// `vm_paging_target`): zero while free is at or above `start`.
    /// `faults_waiting` raises the goal to `target2` (hysteresis).
    pub fn pageout_shortage(&self, faults_waiting: bool) -> u32 {
        self.res.targets.map_or(0, |t| {
            t.shortage(self.res.pool.free_count(), faults_waiting)
        })
    }
    pub fn pool(&self) -> &PagePool {
        &self.res.pool
    }
    pub fn objects(&self) -> &ObjectTable {
        &self.res.objects
    }
    pub fn space(&self, id: SpaceId) -> Option<&VmSpace> {
        self.spaces.get(&id.0)
    }
    pub fn spaces(&self) -> impl Iterator<Item = &VmSpace> {
        self.spaces.values()
    }

    /// A snapshot of the counters (`uvmexp`).
    pub fn stats(&self) -> Uvmexp {
        let p = &self.res.pool;
        let (swpages, swpginuse, swpgbad) = self.res.swap.as_ref().map_or((0, 0, 0), |s| {
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
            active: p.active_count(),
            inactive: p.inactive_count(),
            wired: p.wired_count(),
            unmanaged: p.unmanaged_count(),
            reserve_pagedaemon: p.reserved(),
            objects: self.res.objects.live(),
            spaces: self.spaces.len() as u32,
            map_entries: self
                .spaces
                .values()
                .map(|s| s.map.entry_count() as u64)
                .sum(),
            ..self.res.stats.clone()
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
    fn check_range(&self, addr: u64, len: u64) -> Result<u64, VmError> {
        if len == 0 {
            return Err(VmError::ZeroLength);
        }
        if !page_aligned(addr) || !page_aligned(len) {
            return Err(VmError::Unaligned);
        }
        let end = addr.checked_add(len).ok_or(VmError::Overflow)?;
        if addr < self.res.config.user_min || end > self.res.config.user_max {
            return Err(VmError::OutOfRange);
        }
        Ok(end)
    }

    /// Check a range that must be mapped without holes in `space`.
    fn check_mapped(&self, space: SpaceId, addr: u64, len: u64) -> Result<u64, VmError> {
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
    fn new_space<P: Pmap + ?Sized>(
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
        let c = &self.res.config;
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
            self.check_range(self.res.config.user_min, args.len)?;
            let hint = if args.addr == 0 {
                self.res.config.user_min
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
        // Nothing fails from here on.
        if f.contains(MapFlags::FIXED) {
            self.unmap_range(space, start, end, pmap);
            self.res.flush_dead_slots();
        }
        let res = &mut self.res;
        let (chain, flags, inheritance) = match (target, shared) {
            (None, false) => {
                let chain = if f.contains(MapFlags::OVERLAY) {
                    let o = res
                        .objects
                        .allocate(ObjectKind::Anonymous, args.len >> PAGE_SHIFT);
                    BackingChain::single(o, 0)
                } else {
                    BackingChain::default()
                };
                (chain, EntryFlags::COW, Inheritance::Copy)
            }
            (None, true) => {
                let o = res
                    .objects
                    .allocate(ObjectKind::Anonymous, args.len >> PAGE_SHIFT);
                res.objects.set_flags(o, ObjectFlags::SHARED);
                (
                    BackingChain::single(o, 0),
                    EntryFlags::empty(),
                    Inheritance::Share,
                )
            }
            (Some((o, off)), true) => {
                res.objects.reference(o);
                (
                    BackingChain::single(o, off),
                    EntryFlags::empty(),
                    Inheritance::Share,
                )
            }
            (Some((o, off)), false) => {
                res.objects.reference(o);
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
        };
        let sp = self.spaces.get_mut(&space.0).expect("checked");
        sp.map.insert(entry);
        sp.map
            .simplify(start, &mut self.res.objects, &mut self.res.pool);
        self.res.stats.mmaps += 1;
        Ok(start)
    }

    /// Remove every mapping in `[start, end)`, splitting entries at the
    /// ends, unwiring and dropping chains (`vm_map_delete`). The caller
    /// has validated the range of the existing `space`.
    fn unmap_range<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        start: u64,
        end: u64,
        pmap: &mut P,
    ) {
        let (res, spaces) = (&mut self.res, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).expect("space checked");
        sp.map.clip_range(start, end, &mut res.objects);
        for s in sp.map.overlapping(start, end) {
            let e = sp.map.remove(s);
            res.delete_entry(space, e, pmap);
        }
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
        self.res.flush_dead_slots();
        self.res.stats.munmaps += 1;
        Ok(())
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
        self.charge(space, Quota::MapEntries, self.clips(space, addr, end))?;
        let (res, spaces) = (&mut self.res, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).expect("checked");
        sp.map.clip_range(addr, end, &mut res.objects);
        let starts = sp.map.overlapping(addr, end);
        for &s in &starts {
            let e = sp.map.get_mut(s).expect("entry");
            let old = e.prot;
            e.prot = prot;
            if !prot.contains(old) {
                pmap.protect(space, e.start, e.end, prot);
            }
        }
        for &s in starts.iter().rev() {
            sp.map.simplify(s, &mut res.objects, &mut res.pool);
        }
        res.stats.mprotects += 1;
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
        self.space_ref(space)?;
        let end = self.check_range(addr, len)?;
        self.charge(space, Quota::MapEntries, self.clips(space, addr, end))?;
        let (res, spaces) = (&mut self.res, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).expect("checked");
        sp.map.clip_range(addr, end, &mut res.objects);
        let starts = sp.map.overlapping(addr, end);
        for &s in &starts {
            sp.map.get_mut(s).expect("entry").inheritance = inheritance;
        }
        for &s in starts.iter().rev() {
            sp.map.simplify(s, &mut res.objects, &mut res.pool);
        }
        Ok(())
    }

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
        self.res.drain(pmap);
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
        if !matches!(advice, Advice::WillNeed | Advice::Free) {
            self.charge(space, Quota::MapEntries, self.clips(space, addr, end))?;
        }
        let (res, spaces) = (&mut self.res, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).expect("checked");
        res.stats.madvises += 1;
        match advice {
            Advice::Normal | Advice::Random | Advice::Sequential => {
                sp.map.clip_range(addr, end, &mut res.objects);
                let starts = sp.map.overlapping(addr, end);
                for &s in &starts {
                    sp.map.get_mut(s).expect("entry").advice = advice;
                }
                for &s in starts.iter().rev() {
                    sp.map.simplify(s, &mut res.objects, &mut res.pool);
                }
            }
            Advice::WillNeed => {
                for s in sp.map.overlapping(addr, end) {
                    let e = sp.map.get_mut(s).expect("entry");
                    let (lo, hi) = (e.start.max(addr), e.end.min(end));
                    res.enter_resident(space, e, lo, hi, pmap);
                }
            }
            Advice::DontNeed => {
                // As Linux's MADV_DONTNEED: private memory starts over
                // from what it was mapped from (zero-fill for anonymous
                // memory, the object for a private view of one); shared
                // memory keeps its contents for the other sharers and is
                // only unmapped and deactivated. Wired memory was refused
                // above.
                sp.map.clip_range(addr, end, &mut res.objects);
                let starts = sp.map.overlapping(addr, end);
                for &s in &starts {
                    let e = sp.map.get_mut(s).expect("entry");
                    if !e.flags.contains(EntryFlags::COW) {
                        pmap.remove(space, e.start, e.end);
                        if let Some(front) = e.chain.front() {
                            let (plo, phi) = (front.pindex(0), front.pindex(e.npages()));
                            let pages: Vec<FrameNumber> = res
                                .objects
                                .get(front.object)
                                .pages_in(plo, phi)
                                .map(|(_, f)| f)
                                .collect();
                            for f in pages {
                                res.pool.deactivate(f);
                            }
                        }
                        continue;
                    }
                    let base = e
                        .chain
                        .links()
                        .last()
                        .copied()
                        .filter(|b| !res.objects.get(b.object).is_private_anon());
                    // Pages of a private front only this range sees go
                    // now (a clipped entry's other half keeps the object).
                    if let Some(front) = e
                        .chain
                        .front()
                        .filter(|f| !e.needs_copy() && res.objects.get(f.object).is_private_anon())
                    {
                        let (plo, phi) = (front.pindex(0), front.pindex(e.npages()));
                        let pages: Vec<(u64, FrameNumber)> =
                            res.objects.get(front.object).pages_in(plo, phi).collect();
                        pmap.remove(space, e.start, e.end);
                        for (i, f) in pages {
                            res.objects.remove_page(front.object, i);
                            res.pool.free(f);
                            res.stats.pages_freed += 1;
                        }
                        res.objects.swap_discard(front.object, plo, phi);
                    }
                    let old = sp.map.remove(s);
                    let (chain, flags) = match base {
                        Some(b) => {
                            res.objects.reference(b.object);
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
                        flags,
                        chain,
                    };
                    res.delete_entry(space, old, pmap);
                    sp.map.insert(fresh);
                }
                for &s in starts.iter().rev() {
                    sp.map.simplify(s, &mut res.objects, &mut res.pool);
                }
            }
            Advice::Free => {
                // Lazy free (`MADV_FREE`, semantics table "madvise"): only
                // where the entry's front object is the whole chain and no
                // other entry or space sees its window, so a discarded
                // page reads as zero. Resident pages turn clean and
                // `FREED` (pageout frees them unwritten; a write keeps
                // them), pages on swap go at once. Elsewhere (a chain
                // with a backing object, shared memory, a private view)
                // nothing changes, as FreeBSD skips shadowed objects: the
                // old contents are the other allowed outcome.
                for e in sp.map.entries_in(addr, end) {
                    let Some(front) = e.chain.front() else {
                        continue;
                    };
                    let fo = res.objects.get(front.object);
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
                        res.pool.clear_flags(f, PageFlags::DIRTY);
                        res.pool.set_flags(f, PageFlags::FREED);
                        // The next write must fault to keep the page, and
                        // a page touched again before pageout stays.
                        if pmap.tracks_ref_mod() {
                            pmap.clear_modify(f);
                        }
                        res.clear_reference(f, pmap, true);
                        res.pool.deactivate(f);
                    }
                    res.objects.swap_discard(front.object, plo, phi);
                }
            }
        }
        res.flush_dead_slots();
        Ok(())
    }

    /// True when the page `space` sees at `va` is on swap and not
    /// resident (a fault there pages it in). Fails with `NoMapping`
    /// outside every entry.
    pub fn page_on_swap(&self, space: SpaceId, va: u64) -> Result<bool, VmError> {
        let sp = self.space_ref(space)?;
        let e = sp.map.lookup(va).ok_or(VmError::NoMapping)?;
        Ok(matches!(
            e.chain.lookup(&self.res.objects, e.rel(va)),
            Ok(crate::backing::Lookup::Swapped(_))
        ))
    }

    /// The page `space` sees at `va` without faulting it in
    /// (`pmap_extract` at the VM level): `None` if nothing is resident
    /// there (the page would zero-fill, or is on swap). Fails with
    /// `NoMapping` outside every entry.
    pub fn extract(&self, space: SpaceId, va: u64) -> Result<Option<FrameNumber>, VmError> {
        let sp = self.space_ref(space)?;
        let e = sp.map.lookup(va).ok_or(VmError::NoMapping)?;
        Ok(e.chain.visible(&self.res.objects, e.rel(va)))
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
                let bits = match e.chain.visible(&self.res.objects, e.rel(va)) {
                    None => 0,
                    Some(f) => {
                        let fl = self.res.pool.page(f).flags();
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

    /// Wire a mapped range (`mlock`, `vm_map_wire`): fault every page in,
    /// then hold one wiring per page for as long as the range stays locked.
    /// Locks do not stack: locked entries are left as they are
    /// (semantics: mlock-stacking). Errors in the order of the semantics
    /// table: the range's shape, `NoMapping` for a hole, `BeyondObject`
    /// for a page past its object's end (checked before anything is
    /// faulted), then `OutOfMemory`/`NoSwap`/`Io`. Out
    /// of memory it runs pageout and waits for its writes first
    /// (`Vm::reclaim`), so it fails only when memory and swap are both
    /// exhausted; on failure every page it wired is unwired again.
    pub fn mlock<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        addr: u64,
        len: u64,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        self.charge_to(space);
        // Pages under swap I/O must not move or go under this operation.
        self.res.drain(pmap);
        let end = self.check_mapped(space, addr, len)?;
        let sp = &self.spaces[&space.0];
        let mut newly = 0;
        for e in sp.map.entries_in(addr, end).filter(|e| e.wired_count == 0) {
            let (lo, hi) = (e.start.max(addr), e.end.min(end));
            newly += (hi - lo) >> PAGE_SHIFT;
            for rel in e.rel(lo)..=e.rel(hi - 1) {
                if e.chain.is_empty() {
                    break;
                }
                e.chain.lookup(&self.res.objects, rel)?;
            }
        }
        self.charge(space, Quota::Wired, newly)?;
        self.charge(space, Quota::MapEntries, self.clips(space, addr, end))?;
        let sp = self.spaces.get_mut(&space.0).expect("checked");
        sp.map.clip_range(addr, end, &mut self.res.objects);
        let starts = sp.map.overlapping(addr, end);
        // Each page is wired as soon as it is in, so the pageout that a
        // later page may need cannot take it.
        let mut wired: Vec<FrameNumber> = Vec::new();
        let mut result = Ok(());
        'entries: for &s in &starts {
            let e = self.spaces[&space.0].map.lookup(s).expect("entry");
            if e.wired_count != 0 {
                continue;
            }
            let e_end = e.end;
            let mut va = s;
            while va < e_end {
                match self.fault_wire_page(space, va, pmap) {
                    Ok(f) => {
                        self.res.pool.wire(f);
                        wired.push(f);
                    }
                    Err(err) => {
                        result = Err(err);
                        break 'entries;
                    }
                }
                va += PAGE_SIZE;
            }
        }
        let (res, spaces) = (&mut self.res, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).expect("checked");
        if result.is_ok() {
            for &s in &starts {
                sp.map.get_mut(s).expect("entry").wired_count = 1;
            }
        } else {
            for f in wired {
                res.pool.unwire(f);
            }
        }
        for &s in starts.iter().rev() {
            sp.map.simplify(s, &mut res.objects, &mut res.pool);
        }
        result
    }

    /// Unwire a mapped range (`munlock`): one call unlocks, however often
    /// it was locked; unlocked parts are left alone.
    pub fn munlock(&mut self, space: SpaceId, addr: u64, len: u64) -> Result<(), VmError> {
        let end = self.check_mapped(space, addr, len)?;
        self.charge(space, Quota::MapEntries, self.clips(space, addr, end))?;
        let (res, spaces) = (&mut self.res, &mut self.spaces);
        let sp = spaces.get_mut(&space.0).expect("checked");
        sp.map.clip_range(addr, end, &mut res.objects);
        let starts = sp.map.overlapping(addr, end);
        for &s in &starts {
            let e = sp.map.get_mut(s).expect("entry");
            if e.wired_count != 0 {
                res.unwire_entry(e);
            }
        }
        for &s in starts.iter().rev() {
            sp.map.simplify(s, &mut res.objects, &mut res.pool);
        }
        Ok(())
    }

    /// Write back a mapped range (`msync`). No object kind of today has a
    /// backing store (anonymous pages reach swap through pageout, next
    /// issue), so only `INVALIDATE` has an effect: this space's mappings of
    /// the range go, and the next access refaults. Invalidating wired
    /// memory fails with `Busy`.
    pub fn msync<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        addr: u64,
        len: u64,
        flags: MsyncFlags,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        if flags.contains(MsyncFlags::ASYNC | MsyncFlags::SYNC) {
            return Err(VmError::InvalidArgument);
        }
        let end = self.check_mapped(space, addr, len)?;
        if flags.contains(MsyncFlags::INVALIDATE) {
            let sp = self.space_ref(space)?;
            if sp.map.entries_in(addr, end).any(|e| e.is_wired()) {
                return Err(VmError::Busy);
            }
            pmap.remove(space, addr, end);
        }
        Ok(())
    }

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
        self.res.drain(pmap);
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
        let starts: Vec<u64> = self.spaces[&parent.0]
            .map
            .entries()
            .map(|e| e.start)
            .collect();
        // 1. Normalise the entries (nothing anyone sees changes) and
        // count the pages fork must copy, and how many of them are on swap.
        let (mut copies, mut swapped) = (0u64, 0u64);
        let mut to_copy = Vec::new();
        {
            let (res, spaces) = (&mut self.res, &mut self.spaces);
            let map = &mut spaces.get_mut(&parent.0).expect("parent").map;
            for &s in &starts {
                let pe = map.get_mut(s).expect("entry");
                let cost = match pe.inheritance {
                    Inheritance::Share => res.share_prepare(pe),
                    Inheritance::Copy if !pe.flags.contains(EntryFlags::COW) => {
                        Some(pe.chain.visible_counts(&res.objects, pe.npages()))
                    }
                    _ => None,
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
            if self.res.objects.new_room() < copies + swapped {
                return Err(VmError::QuotaExceeded(Quota::Resident));
            }
            self.reclaim(copies + swapped, pmap)?;
            for &s in &to_copy {
                let pe = self.spaces[&parent.0].map.lookup(s).expect("entry");
                let (chain, n) = (&pe.chain, pe.npages());
                self.res.swapin_chain(chain, 0..chain.len(), n, pmap)?;
            }
            if u64::from(self.res.pool.available()) < copies {
                return Err(VmError::OutOfMemory);
            }
        }
        let child = self.new_space(Some(parent), pmap)?;
        // 3. Build the child; nothing fails from here on.
        let (res, spaces) = (&mut self.res, &mut self.spaces);
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
                    if let Err(e) = res.make_shareable(parent, pe, pmap) {
                        failed = Some(e);
                        break;
                    }
                    flags = pe.flags;
                    res.stats.fork_shared_entries += 1;
                }
                Inheritance::Copy if !pe.flags.contains(EntryFlags::COW) => {
                    // A copy of a shared mapping: the child's own
                    // anonymous memory with what the parent sees now.
                    chain = Some(res.snapshot(pe, pmap));
                    flags = EntryFlags::COW;
                    res.stats.fork_copied_entries += 1;
                }
                Inheritance::Copy => {
                    if let Some(front) = pe.chain.front() {
                        if !pe.needs_copy() && res.objects.get(front.object).is_private_anon() {
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
                    res.stats.fork_copied_entries += 1;
                }
            }
            let chain = chain.unwrap_or_else(|| {
                // Two spaces now see these objects' windows.
                for l in pe.chain.links() {
                    res.objects.clear_flags(l.object, ObjectFlags::ONEMAPPING);
                }
                pe.chain.clone_ref(&mut res.objects)
            });
            new_entries.push(VmMapEntry {
                start: pe.start,
                end: pe.end,
                prot: pe.prot,
                max_prot: pe.max_prot,
                inheritance: pe.inheritance,
                advice: pe.advice,
                wired_count: 0,
                flags,
                chain,
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
            res.objects.reference(h.object);
        }
        cs.handles = handles;
        cs.next_handle = next_handle;
        res.stats.forks += 1;
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
            self.res.delete_entry(space, e, pmap);
        }
        for h in handles.values() {
            self.res.stats.pages_freed += self.res.objects.deallocate(h.object, &mut self.res.pool);
        }
        pmap.destroy_space(space);
        self.res.objects.forget_read_failures(space);
        let g = self.groups.get_mut(&group).expect("live group");
        g.spaces -= 1;
        if g.spaces == 0 {
            // Nobody left who may unlink its names: they go too.
            self.drop_names_of(group);
            self.groups.remove(&group);
        }
        // Its slots go back now; those of pages still under I/O at the
        // completion (`swap_poll`).
        self.res.flush_dead_slots();
        self.res.stats.exits += 1;
        Ok(())
    }

    /// Make a physical object over frames `base .. base + count` of the
    /// pool, which must be free (device memory handed in at init, or a DMA
    /// buffer). The server owns the returned reference; the frames return
    /// to the free pool when the last reference goes.
    pub fn create_physical(&mut self, base: FrameNumber, count: u32) -> Result<ObjectId, VmError> {
        if count == 0 {
            return Err(VmError::ZeroLength);
        }
        let end = base.0.checked_add(count).ok_or(VmError::Overflow)?;
        if end > self.res.pool.len() {
            return Err(VmError::OutOfRange);
        }
        if (base.0..end).any(|f| self.res.pool.page(FrameNumber(f)).queue() != PageQueue::Free) {
            return Err(VmError::Busy);
        }
        let o = self
            .res
            .objects
            .allocate(ObjectKind::Physical { base }, count as u64);
        for i in 0..count {
            self.res
                .pool
                .claim_unmanaged(FrameNumber(base.0 + i), o, i as u64)
                .expect("checked free");
        }
        *self.external.entry(o).or_default() += 1;
        Ok(o)
    }

    /// Drop a reference the server holds (from `create_physical`).
    pub fn object_release(&mut self, object: ObjectId) -> Result<(), VmError> {
        let n = self
            .external
            .get_mut(&object)
            .ok_or(VmError::InvalidArgument)?;
        *n -= 1;
        if *n == 0 {
            self.external.remove(&object);
        }
        self.res.objects.deallocate(object, &mut self.res.pool);
        Ok(())
    }

    /// Referenced since last cleared: the emulated bit, or the hardware's
    /// if the pmap keeps one (`pmap_is_referenced`).
    pub fn page_is_referenced<P: Pmap + ?Sized>(&self, f: FrameNumber, pmap: &P) -> bool {
        self.res.referenced(f, pmap)
    }

    /// Modified since last cleaned (`pmap_is_modified`).
    pub fn page_is_modified<P: Pmap + ?Sized>(&self, f: FrameNumber, pmap: &P) -> bool {
        self.res.pool.page(f).is_dirty() || (pmap.tracks_ref_mod() && pmap.is_modified(f))
    }

    /// Clear the reference bit. Emulated: every mapping of the page goes,
    /// so the next access faults and sets it again. Wired pages keep
    /// their mappings (they are never reclaimed).
    pub fn page_clear_reference<P: Pmap + ?Sized>(&mut self, f: FrameNumber, pmap: &mut P) {
        // A wired page keeps its mappings.
        let unmap = self.res.pool.page(f).wire_count() == 0;
        self.res.clear_reference(f, pmap, unmap);
        self.res.stats.ref_clears += 1;
    }

    /// Clear the modified bit (after a clean write-back). Emulated: every
    /// mapping loses write access, so the next write faults and sets it.
    pub fn page_clear_modify<P: Pmap + ?Sized>(&mut self, f: FrameNumber, pmap: &mut P) {
        self.res.pool.clear_flags(f, PageFlags::DIRTY);
        if pmap.tracks_ref_mod() {
            pmap.clear_modify(f);
        } else {
            pmap.page_protect(f, Prot::READ | Prot::EXEC);
        }
        self.res.stats.mod_clears += 1;
    }

    /// Check the page queues' links and counts against every page record.
    /// Cost is linear in the pool size.
    pub fn check_page_queues(&self) -> Result<(), String> {
        self.res.pool.check()
    }

    /// Check that a mapping the pmap holds is one the VM would make: the
    /// page visible at `va` in `space`, with no more rights than the entry
    /// allows, writable only if private to this entry and dirty.
    pub fn check_mapping(
        &self,
        space: SpaceId,
        va: u64,
        frame: FrameNumber,
        prot: Prot,
    ) -> Result<(), String> {
        let sp = self.space_ref(space).map_err(|e| format!("{e}"))?;
        let e = sp
            .map
            .lookup(va)
            .ok_or_else(|| format!("{space:?} maps {va:#x} without an entry"))?;
        if !e.prot.contains(prot) {
            return Err(format!("{va:#x} mapped {prot:?} above entry {:?}", e.prot));
        }
        let rel = e.rel(va);
        let vis = e.chain.visible(&self.res.objects, rel);
        if vis != Some(frame) {
            return Err(format!(
                "{space:?} {va:#x} maps {frame:?}, visible is {vis:?}"
            ));
        }
        if prot.contains(Prot::WRITE) {
            let front = e.chain.front().expect("visible page");
            let in_front =
                self.res.objects.get(front.object).lookup(front.pindex(rel)) == Some(frame);
            if !in_front || e.needs_copy() || !self.res.pool.page(frame).is_dirty() {
                return Err(format!("{space:?} {va:#x} writable but not private/dirty"));
            }
        }
        Ok(())
    }

    /// Check every structural invariant: maps, chain shape and depth,
    /// reference counts, page ownership, wiring and page accounting.
    /// Cost is linear in entries, wired and resident pages, not in the
    /// pool size (`check_page_queues` covers the queue links).
    pub fn check_invariants(&self) -> Result<(), String> {
        let res = &self.res;
        let mut refs: BTreeMap<ObjectId, u32> = BTreeMap::new();
        let mut wires: BTreeMap<FrameNumber, u32> = BTreeMap::new();
        for sp in self.spaces.values() {
            sp.map.check().map_err(|e| format!("{:?}: {e}", sp.id))?;
            for e in sp.map.entries() {
                let links = e.chain.links();
                if links.len() > res.config.max_chain_depth {
                    return Err(format!(
                        "{:?} {:#x}: chain depth {}",
                        sp.id,
                        e.start,
                        links.len()
                    ));
                }
                for (i, l) in links.iter().enumerate() {
                    if !res.objects.is_live(l.object) {
                        return Err(format!("{:?} {:#x}: dead object in chain", sp.id, e.start));
                    }
                    if !page_aligned(l.offset) {
                        return Err(format!("{:?} {:#x}: unaligned link", sp.id, e.start));
                    }
                    if i + 1 < links.len() && !res.objects.get(l.object).is_private_anon() {
                        return Err(format!(
                            "{:?} {:#x}: non-private link above the base",
                            sp.id, e.start
                        ));
                    }
                    *refs.entry(l.object).or_default() += 1;
                }
                if e.is_wired() {
                    for rel in 0..e.npages() {
                        let f = e.chain.visible(&res.objects, rel).ok_or_else(|| {
                            format!("{:?} {:#x}: wired entry with a hole", sp.id, e.start)
                        })?;
                        if !res.pool.page(f).is_unmanaged() {
                            *wires.entry(f).or_default() += 1;
                        }
                    }
                }
            }
            for h in sp.handles.values() {
                *refs.entry(h.object).or_default() += 1;
            }
        }
        for n in self.names.values() {
            *refs.entry(n.object).or_default() += 1;
            if !self.groups.contains_key(&n.creator) {
                return Err(format!("name of a dead group {}", n.creator));
            }
        }
        for (id, g) in &self.groups {
            let spaces = self.spaces.values().filter(|s| s.group == *id).count() as u32;
            let names = self.names.values().filter(|n| n.creator == *id).count() as u64;
            if g.spaces != spaces || g.names != names || spaces == 0 {
                return Err(format!(
                    "group {id}: {} spaces, {} names counted; {spaces}, {names} found",
                    g.spaces, g.names
                ));
            }
        }
        for (o, n) in &self.external {
            *refs.entry(*o).or_default() += n;
        }
        let mut managed = 0u64;
        let mut unmanaged = 0u64;
        for (id, obj) in res.objects.iter() {
            let want = refs.get(&id).copied().unwrap_or(0);
            if obj.ref_count() != want {
                return Err(format!(
                    "{id:?}: ref_count {} but {want} holders",
                    obj.ref_count()
                ));
            }
            match obj.kind() {
                ObjectKind::Physical { base } => {
                    unmanaged += obj.size();
                    for i in 0..obj.size() {
                        let p = res.pool.page(FrameNumber(base.0 + i as u32));
                        if !p.is_unmanaged() || p.object() != Some(id) || p.pindex() != i {
                            return Err(format!("{id:?}: physical page {i} not owned"));
                        }
                    }
                }
                _ => {
                    for (i, f) in obj.pages_in(0, u64::MAX) {
                        let p = res.pool.page(f);
                        if p.object() != Some(id) || p.pindex() != i {
                            return Err(format!(
                                "{f:?} in {id:?}[{i}] owned by {:?}[{}]",
                                p.object(),
                                p.pindex()
                            ));
                        }
                        let io = res.busy_io.contains_key(&f.0);
                        if p.flags().contains(PageFlags::BUSY) != io || p.hold_count() > 0 {
                            return Err(format!(
                                "{f:?} busy (not for swap I/O) or held between calls"
                            ));
                        }
                        if !io && !p.flags().contains(PageFlags::VALID) {
                            return Err(format!("{f:?} resident but invalid"));
                        }
                        if !io && p.is_dirty() && obj.swap_slot(i).is_some() {
                            return Err(format!("{id:?}[{i}] dirty with a stale swap slot"));
                        }
                        let w = wires.get(&f).copied().unwrap_or(0);
                        if p.wire_count() != w {
                            return Err(format!(
                                "{f:?}: wire_count {} but {w} wirings",
                                p.wire_count()
                            ));
                        }
                        managed += 1;
                    }
                }
            }
        }
        for f in refs.keys() {
            if !res.objects.is_live(*f) {
                return Err(format!("{f:?} referenced but dead"));
            }
        }
        // Each group's charges are what its objects hold.
        let mut charged: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        for (_, obj) in res.objects.iter() {
            if let Some(g) = obj.charge() {
                let c = charged.entry(g).or_default();
                c.0 += obj.pages_in(0, u64::MAX).count() as u64;
                c.1 += obj.swap().len();
            }
        }
        for (g, c) in &res.objects.charges {
            let want = charged.get(g).copied().unwrap_or_default();
            if (c.resident, c.swap) != want {
                return Err(format!(
                    "group {g}: charged {} resident, {} swap; its objects hold {want:?}",
                    c.resident, c.swap
                ));
            }
        }
        let p = &res.pool;
        let in_queues =
            (p.active_count() + p.inactive_count() + p.wired_count() + p.unqueued_count()) as u64;
        if p.unqueued_count() as usize != res.busy_io.len() {
            return Err(format!(
                "{} pages on no queue between calls, {} under swap I/O",
                p.unqueued_count(),
                res.busy_io.len()
            ));
        }
        let orphans = res.objects.orphan_count() as u64;
        if managed + orphans != in_queues {
            return Err(format!(
                "{managed} resident pages, {in_queues} active+inactive+wired"
            ));
        }
        let managed = managed + orphans;
        if managed + unmanaged + p.free_count() as u64 != p.len() as u64 {
            return Err(format!(
                "pages do not add up: {managed} managed + {unmanaged} unmanaged + {} free != {}",
                p.free_count(),
                p.len()
            ));
        }
        Ok(())
    }
}

/// The default targets for a pool of `frames` with `reserved` pages held
/// back: vm-swap's derivation shifted up so its `reserved` level is the
/// pool's reserve (the server's reserve predates the targets and keeps
/// its meaning). `None` when the shifted levels no longer fit the pool.
fn derive_targets(frames: u32, reserved: u32) -> Option<PagingTargets> {
    let t = PagingTargets::for_pool(frames).ok()?;
    let Some(up) = reserved.checked_sub(t.reserved) else {
        // A smaller reserve than derived: the other levels stay.
        let s = PagingTargets { reserved, ..t };
        return s.validate(frames).ok().map(|_| s);
    };
    let s = PagingTargets {
        reserved,
        severe: t.severe + up,
        minimum: t.minimum + up,
        wait: t.wait + up,
        start: t.start + up,
        target1: t.target1 + up,
        target2: t.target2 + up,
    };
    s.validate(frames).ok().map(|_| s)
}

impl Res {
    /// Tear down a removed entry: drop its mappings, its wirings and its
    /// chain. The caller has taken `e` out of `space`'s map.
    pub(crate) fn delete_entry<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        mut e: VmMapEntry,
        pmap: &mut P,
    ) {
        pmap.remove(space, e.start, e.end);
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
    fn discard_window(&mut self, e: &VmMapEntry) {
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
        let (lo, hi) = (front.pindex(0), front.pindex(e.npages()));
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

    /// Drop the entry's wiring of each visible page. The caller holds the
    /// entry, whose wired count just dropped to zero (or which is going).
    pub(crate) fn unwire_entry(&mut self, e: &mut VmMapEntry) {
        for rel in 0..e.npages() {
            if let Some(f) = e.chain.visible(&self.objects, rel) {
                self.pool.unwire(f);
            }
        }
        e.wired_count = 0;
    }

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
        let mut readonly = e.prot;
        readonly.remove(Prot::WRITE);
        let front = e.chain.front();
        let pages = e
            .chain
            .visible_pages(&self.objects, e.rel(lo), e.rel(hi - 1) + 1, 0);
        for (rel, f) in pages {
            let va = e.start + rel * PAGE_SIZE;
            if pmap.is_mapped(space, va) || self.pool.page(f).flags().contains(PageFlags::BUSY) {
                continue;
            }
            let in_front =
                front.is_some_and(|l| self.objects.get(l.object).lookup(l.pindex(rel)) == Some(f));
            let prot = if in_front && !e.needs_copy() && self.pool.page(f).is_dirty() {
                e.prot
            } else {
                readonly
            };
            if pmap.enter(space, va, f, prot).is_err() {
                return;
            }
        }
    }
}
