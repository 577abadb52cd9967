//! VM objects (`vm_object`): anonymous, shared-memory, physical and pager-backed objects, their resident pages, reference counts and termination.
//!
//! Locking: the table belongs to the single-threaded `Vm`; the `&mut`
//! borrow is the lock. Objects do not point at their backing objects: as in
//! DragonFly since `vm_map_backing`, the chain lives in each map entry
//! (see `chain.rs`), so an object is just pages plus a pager.

use crate::block_map::{BlockMap, BlockSlot};
use crate::page::PageFlags;
use crate::page::PagePool;
use crate::types::{FrameNumber, ObjectId, SpaceId};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use bitflags::bitflags;
use vm_swap::{SwapMeta, SwapSlot};

/// What an object's pages are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// Zero-fill memory (`OBJT_DEFAULT`, later `OBJT_SWAP`).
    Anonymous,
    /// A client-created, sizable, nameable object; pages zero-fill like
    /// anonymous memory but the object is always mapped shared (and may be
    /// mapped privately under a copy-on-write front).
    SharedMemory,
    /// A fixed run of frames starting at `base` (`OBJT_DEVICE`): device
    /// pages past the pool's RAM (`Vm::device_create`) or pool frames the
    /// server claimed (`Vm::create_physical`). Always resident, never
    /// paged, zeroed or copied; mapped shared only, shared or left out at
    /// fork, never copied (docs/semantics.md, `device-*`).
    Physical { base: FrameNumber },
    /// Pages supplied by external pager `pager`, which calls the object
    /// `key` (`OBJT_VNODE`, docs/pager.md): page-in asks the pager,
    /// dirty pages are written back to it, never to swap. Mapped shared,
    /// or privately under a copy-on-write front; never collapsed.
    Paged { pager: u32, key: u64 },
}

bitflags! {
    /// Object state bits (`OBJ_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct ObjectFlags: u8 {
        /// Anonymous memory that is mapped shared: its pages may change under
        /// any chain that holds it, so it is never collapsed or flattened
        /// and may only be the last link of a chain.
        const SHARED = 1 << 0;
        /// Private anonymous memory whose pages only one map entry's
        /// window sees (clipped siblings see disjoint windows): set at
        /// creation, cleared when fork makes a second space see it
        /// (FreeBSD's `OBJ_ONEMAPPING`). Unmapping part of such an object
        /// may free that part's pages and slots.
        const ONEMAPPING = 1 << 1;
        /// A pager object whose pager is gone: every fault on it fails
        /// with `PagerDead` and it holds no pages.
        const DEAD = 1 << 2;
        /// A pager object a write-back of failed since `msync` last
        /// reported it (Linux's `AS_EIO`): the next `msync` fails with `Io`.
        const WRITE_ERROR = 1 << 3;
    }
}

/// One VM object.
#[derive(Debug)]
pub struct VmObject {
    kind: ObjectKind,
    flags: ObjectFlags,
    /// Size in pages. Enforced for shared-memory and physical objects;
    /// anonymous objects are sized to the entry that made them and grow
    /// implicitly (pages beyond are simply never reached).
    size: u64,
    ref_count: u32,
    /// Resident pages by page index: O(log n) lookup (DragonFly's RB
    /// tree), in dense blocks (`block_map.rs`: most of the per-page heap).
    pages: BlockMap<FrameNumber>,
    /// Page index -> swap slot (`swblock`s). A page with a slot is either
    /// non-resident (its contents are on swap) or resident and clean (the
    /// slot still holds its contents; a write frees the slot).
    swap: SwapMeta,
    /// Resident pages busy under swap I/O (`paging_in_progress`):
    /// collapse leaves such an object alone.
    busy: u32,
    /// The quota group its pages and slots count against (`None`: the
    /// server's own, e.g. a physical object).
    charge: Option<u32>,
}

impl VmObject {
    pub fn kind(&self) -> ObjectKind {
        self.kind
    }
    pub fn flags(&self) -> ObjectFlags {
        self.flags
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn ref_count(&self) -> u32 {
        self.ref_count
    }
    /// Number of resident pages (for physical objects: all of them).
    pub fn resident_count(&self) -> u64 {
        match self.kind {
            ObjectKind::Physical { .. } => self.size,
            _ => self.pages.len() as u64,
        }
    }
    /// True for anonymous memory that only copy-on-write chains see, the
    /// only kind collapse may move pages into or out of.
    pub fn is_private_anon(&self) -> bool {
        self.kind == ObjectKind::Anonymous && !self.flags.contains(ObjectFlags::SHARED)
    }
    /// True for a physical (device) object: mapped shared only, never
    /// copied (semantics: device-map, device-fork).
    pub fn is_physical(&self) -> bool {
        matches!(self.kind, ObjectKind::Physical { .. })
    }
    /// True when the object limits faults to its size.
    pub fn bounded(&self) -> bool {
        self.kind != ObjectKind::Anonymous
    }
    /// The resident page at `pindex` (`vm_page_lookup`).
    #[inline]
    pub fn lookup(&self, pindex: u64) -> Option<FrameNumber> {
        match self.kind {
            ObjectKind::Physical { base } => {
                (pindex < self.size).then(|| FrameNumber(base.0 + pindex as u32))
            }
            _ => self.pages.get(pindex),
        }
    }
    /// The swap metadata (page index -> slot).
    pub fn swap(&self) -> &SwapMeta {
        &self.swap
    }
    /// The swap slot of page `pindex`, if it has one.
    #[inline]
    pub fn swap_slot(&self, pindex: u64) -> Option<SwapSlot> {
        if self.swap.is_empty() {
            return None;
        }
        self.swap.lookup(pindex)
    }
    /// True when page `pindex` has contents here: resident or on swap.
    #[inline]
    pub fn has_page(&self, pindex: u64) -> bool {
        self.lookup(pindex).is_some() || self.swap_slot(pindex).is_some()
    }
    /// Resident pages busy under swap I/O.
    pub fn busy_count(&self) -> u32 {
        self.busy
    }
    /// The quota group its pages and slots count against.
    pub fn charge(&self) -> Option<u32> {
        self.charge
    }
    /// Resident pages with index in `[lo, hi)`, in index order.
    pub fn pages_in(&self, lo: u64, hi: u64) -> impl Iterator<Item = (u64, FrameNumber)> + '_ {
        self.pages.range(lo..hi)
    }
}

/// The object table (a slab indexed by `ObjectId`). Owned by the
/// single-threaded `Vm`.
#[derive(Default)]
pub struct ObjectTable {
    slots: Vec<Option<VmObject>>,
    free_slots: Vec<u32>,
    live: u32,
    /// Busy pages whose object died under I/O: the completion frees them.
    orphans: BTreeSet<u32>,
    /// Swap slots given up (object death, truncation, overwrite) and not
    /// yet returned to the swap pager, which the `Vm` does at its next
    /// swap call (the table has no access to the pager).
    dead_slots: Vec<SwapSlot>,
    /// (pager, key) of pager objects that died and whose pager has not yet
    /// been told (`PagerBackend::close`), as `dead_slots`.
    closed: Vec<(u32, u64)>,
    /// Pages (object, index) whose page-in failed, with the space whose
    /// fault started the read (`None`: a read no fault started): that
    /// space's next fault on the page gets `Io`; anyone else reads again.
    read_failed: BTreeMap<(u32, u64), Option<u32>>,
    /// What each quota group's objects hold (semantics: quota-resident,
    /// quota-swap): kept in step by every change of pages and slots here.
    pub(crate) charges: BTreeMap<u32, Charge>,
    /// The group new objects are charged to: the `Vm` sets it before an
    /// operation on a space's behalf (`Vm::charge_to`).
    pub(crate) charge_to: Option<u32>,
}

impl ObjectTable {
    /// Number of live objects.
    pub fn live(&self) -> u32 {
        self.live
    }

    /// Create an object with one reference (`vm_object_allocate`),
    /// charged to the group `charge_to` names (device memory to none).
    /// The caller checked the group's room (`may_allocate`).
    pub fn allocate(&mut self, kind: ObjectKind, size: u64) -> ObjectId {
        let charge = match kind {
            ObjectKind::Physical { .. } => None,
            _ => self.charge_to,
        };
        if let Some(g) = charge {
            self.with_charge(g, |c| c.objects += 1);
        }
        let obj = VmObject {
            kind,
            flags: if kind == ObjectKind::Anonymous {
                ObjectFlags::ONEMAPPING
            } else {
                ObjectFlags::empty()
            },
            size,
            ref_count: 1,
            pages: BlockMap::new(),
            swap: SwapMeta::new(),
            busy: 0,
            charge,
        };
        self.live += 1;
        match self.free_slots.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(obj);
                ObjectId(i)
            }
            None => {
                self.slots.push(Some(obj));
                ObjectId(self.slots.len() as u32 - 1)
            }
        }
    }

    /// The object `id`. The caller holds a reference to it.
    #[inline]
    pub fn get(&self, id: ObjectId) -> &VmObject {
        self.slots[id.0 as usize].as_ref().expect("dead object")
    }

    pub(crate) fn get_mut(&mut self, id: ObjectId) -> &mut VmObject {
        self.slots[id.0 as usize].as_mut().expect("dead object")
    }

    /// True when `id` names a live object (for checks on untrusted ids).
    pub fn is_live(&self, id: ObjectId) -> bool {
        self.slots.get(id.0 as usize).is_some_and(|s| s.is_some())
    }

    /// Iterate over live objects.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectId, &VmObject)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|o| (ObjectId(i as u32), o)))
    }

    /// Add a reference (`vm_object_reference`). The caller holds one.
    pub fn reference(&mut self, id: ObjectId) {
        self.get_mut(id).ref_count += 1;
    }

    /// Drop a reference; the last one terminates the object and frees its
    /// pages (`vm_object_deallocate` + `vm_object_terminate`). The caller
    /// holds the reference and has removed every mapping that reaches the
    /// object only through it. Returns the pages freed.
    pub fn deallocate(&mut self, id: ObjectId, pool: &mut PagePool) -> u64 {
        let obj = self.get_mut(id);
        obj.ref_count -= 1;
        if obj.ref_count > 0 {
            return 0;
        }
        let obj = self.slots[id.0 as usize].take().expect("dead object");
        self.live -= 1;
        if let Some(g) = obj.charge {
            self.with_charge(g, |c| c.objects -= 1);
        }
        self.read_failed.retain(|&(o, _), _| o != id.0);
        self.free_slots.push(id.0);
        match obj.kind {
            ObjectKind::Physical { base } => {
                for i in 0..obj.size {
                    let f = FrameNumber(base.0 + i as u32);
                    // Device pages are never the pool's (semantics:
                    // device-exit): only their owner goes.
                    if pool.page(f).is_device() {
                        pool.release_device(f);
                    } else {
                        pool.release_unmanaged(f);
                    }
                }
                0
            }
            kind => {
                if let ObjectKind::Paged { pager, key } = kind {
                    if !obj.flags.contains(ObjectFlags::DEAD) {
                        self.closed.push((pager, key));
                    }
                }
                let mut obj = obj;
                let n = obj.pages.len() as u64;
                self.account(obj.charge, -(n as i64), -(obj.swap.len() as i64));
                let dead = &mut self.dead_slots;
                obj.swap.clear(|_, s| dead.push(s));
                for (_, f) in obj.pages {
                    if pool.page(f).flags().contains(PageFlags::BUSY) {
                        // Under swap I/O: the completion frees it.
                        self.orphans.insert(f.0);
                    } else {
                        pool.free(f);
                    }
                }
                n
            }
        }
    }

    /// Forget the slots of pages `[lo, hi)` of `id` (truncation, discard,
    /// overwrite); they go back to the pager at its next call.
    /// The caller holds a reference to `id`.
    pub fn swap_discard(&mut self, id: ObjectId, lo: u64, hi: u64) {
        let obj = self.slots[id.0 as usize].as_mut().expect("dead object");
        if obj.swap.is_empty() {
            return;
        }
        let (before, charge) = (obj.swap.len(), obj.charge);
        let dead = &mut self.dead_slots;
        obj.swap.remove_range(lo..hi, |_, s| dead.push(s));
        let gone = before - obj.swap.len();
        self.account(charge, 0, -(gone as i64));
    }

    /// Give up a slot (its page's object is gone).
    /// The page-in of page `pindex` of `id` that `by` started failed.
    pub(crate) fn mark_read_failed(&mut self, id: ObjectId, pindex: u64, by: Option<SpaceId>) {
        self.read_failed.insert((id.0, pindex), by.map(|s| s.0));
    }

    /// Whether `by` has a failed page-in of page `pindex` of `id` still
    /// to report (and forgets it: one fault gets the error).
    pub(crate) fn take_read_failed(
        &mut self,
        id: ObjectId,
        pindex: u64,
        by: Option<SpaceId>,
    ) -> bool {
        let key = (id.0, pindex);
        if self.read_failed.get(&key) == Some(&by.map(|s| s.0)) {
            self.read_failed.remove(&key);
            return true;
        }
        false
    }

    /// Page `pindex` of `id` was read after all: no failure to report.
    pub(crate) fn clear_read_failed(&mut self, id: ObjectId, pindex: u64) {
        self.read_failed.remove(&(id.0, pindex));
    }

    /// Forget the failed page-ins `space` had still to report (it exited).
    pub(crate) fn forget_read_failures(&mut self, space: SpaceId) {
        self.read_failed.retain(|_, by| *by != Some(space.0));
    }

    pub(crate) fn push_dead_slot(&mut self, slot: SwapSlot) {
        self.dead_slots.push(slot);
    }

    /// Pager objects that died since the last call, for their pagers.
    pub(crate) fn take_closed(&mut self) -> Vec<(u32, u64)> {
        core::mem::take(&mut self.closed)
    }

    /// Slots given up since the last call, for the pager.
    pub(crate) fn take_dead_slots(&mut self) -> Vec<SwapSlot> {
        core::mem::take(&mut self.dead_slots)
    }

    /// Slots given up and not yet handed to the pager.
    pub fn dead_slot_count(&self) -> usize {
        self.dead_slots.len()
    }

    /// Take page `pindex` of `id`, busy under swap I/O, out of the object
    /// as an orphan: no mapping can reach it any more, and its completion
    /// frees it (and a write's slot). The caller holds a reference to `id`.
    pub(crate) fn orphan_page(&mut self, id: ObjectId, pindex: u64) {
        if let Some(f) = self.remove_page(id, pindex) {
            self.set_busy(id, false);
            self.orphans.insert(f.0);
        }
    }

    /// Take `f` out of the orphan set; true if it was an orphan.
    pub(crate) fn take_orphan(&mut self, f: FrameNumber) -> bool {
        self.orphans.remove(&f.0)
    }

    /// Busy pages whose object died under I/O.
    pub fn orphan_count(&self) -> usize {
        self.orphans.len()
    }

    /// Count a page of `id` going busy (`true`) or idle under swap I/O.
    pub(crate) fn set_busy(&mut self, id: ObjectId, busy: bool) {
        let o = self.get_mut(id);
        if busy {
            o.busy += 1;
        } else {
            o.busy -= 1;
        }
    }

    /// Record that page `pindex` of `id` is in `slot`; a slot it had
    /// goes to the dead-slot list for the pager.
    pub(crate) fn swap_insert(&mut self, id: ObjectId, pindex: u64, slot: SwapSlot) {
        let o = self.get_mut(id);
        let charge = o.charge;
        match o.swap.insert(pindex, slot) {
            Some(old) => self.dead_slots.push(old),
            None => self.account(charge, 0, 1),
        }
    }

    /// Move the slots of `src`'s pages `range` to `dst` from `dst_start`
    /// on (collapse, split); slots shadowed by a page `dst` has are freed.
    pub(crate) fn swap_move(
        &mut self,
        src: ObjectId,
        range: core::ops::Range<u64>,
        dst: ObjectId,
        dst_start: u64,
    ) {
        if self.get(src).swap.is_empty() {
            return;
        }
        let mut s = core::mem::take(&mut self.get_mut(src).swap);
        let mut d = core::mem::take(&mut self.get_mut(dst).swap);
        let (s_before, d_before) = (s.len(), d.len());
        let dst_pages = &self.slots[dst.0 as usize]
            .as_ref()
            .expect("dead object")
            .pages;
        let dead = &mut self.dead_slots;
        d.move_range(
            &mut s,
            range,
            dst_start,
            |i| dst_pages.contains(i),
            |slot| dead.push(slot),
        );
        let (s_gone, d_new) = (s_before - s.len(), d.len() - d_before);
        let (sc, dc) = (self.get(src).charge, self.get(dst).charge);
        self.account(sc, 0, -(s_gone as i64));
        self.account(dc, 0, d_new as i64);
        self.get_mut(src).swap = s;
        self.get_mut(dst).swap = d;
    }

    /// Set state bits. The caller holds a reference to `id`.
    pub fn set_flags(&mut self, id: ObjectId, flags: ObjectFlags) {
        self.get_mut(id).flags.insert(flags);
    }

    /// Clear state bits. The caller holds a reference to `id`.
    pub fn clear_flags(&mut self, id: ObjectId, flags: ObjectFlags) {
        self.get_mut(id).flags.remove(flags);
    }

    /// Change the size in pages. The caller holds a reference to `id` and
    /// has removed the pages past a smaller size.
    pub fn set_size(&mut self, id: ObjectId, size: u64) {
        self.get_mut(id).size = size;
    }

    /// Enter a page into the object (`vm_page_insert`). The caller owns the
    /// frame (fresh from the pool or renamed) and the index is free.
    pub fn insert_page(&mut self, id: ObjectId, pindex: u64, f: FrameNumber) {
        let o = self.get_mut(id);
        let old = o.pages.insert(pindex, f);
        debug_assert!(old.is_none(), "page index already resident");
        let charge = o.charge;
        self.account(charge, 1, 0);
    }

    /// Put frame `f` in place of the resident page at `pindex` and return
    /// the frame that was there; counts do not change. The caller renamed
    /// both frames (`PagePool::trade`).
    pub(crate) fn replace_page(
        &mut self,
        id: ObjectId,
        pindex: u64,
        f: FrameNumber,
    ) -> FrameNumber {
        let slot = self
            .get_mut(id)
            .pages
            .get_mut(pindex)
            .expect("replace_page of a resident page");
        core::mem::replace(slot, f)
    }

    /// Remove the page at `pindex` from the object (`vm_page_remove`) and
    /// return it; the caller frees or renames it.
    pub fn remove_page(&mut self, id: ObjectId, pindex: u64) -> Option<FrameNumber> {
        let o = self.get_mut(id);
        let f = o.pages.remove(pindex);
        let charge = o.charge;
        if f.is_some() {
            self.account(charge, -1, 0);
        }
        f
    }

    /// Remove and return every page at index `>= from` (truncation).
    pub fn split_off_pages(&mut self, id: ObjectId, from: u64) -> BlockMap<FrameNumber> {
        let o = self.get_mut(id);
        let gone = o.pages.split_off(from);
        let charge = o.charge;
        self.account(charge, -(gone.len() as i64), 0);
        gone
    }

    /// Changes `g`'s counts with `f`; they are made (empty, with no
    /// limits) at the group's first use. One lookup when they exist.
    fn with_charge(&mut self, g: u32, f: impl FnOnce(&mut Charge)) {
        match self.charges.get_mut(&g) {
            Some(c) => f(c),
            None => f(self.new_charge(g)),
        }
    }

    /// `with_charge`'s first use of `g`.
    // Out of line: every page added or taken counts, once per group
    // makes it; the B-tree's insertion code then stays off the fault
    // path's code pages (docs/performance.md, "Code pages").
    #[cold]
    #[inline(never)]
    fn new_charge(&mut self, g: u32) -> &mut Charge {
        self.charges.entry(g).or_default()
    }

    /// Add to (or take from) a group's counts.
    fn account(&mut self, charge: Option<u32>, resident: i64, swap: i64) {
        let Some(g) = charge else {
            return;
        };
        self.with_charge(g, |c| {
            c.resident = c
                .resident
                .checked_add_signed(resident)
                .expect("resident count");
            c.swap = c.swap.checked_add_signed(swap).expect("swap count");
        });
    }

    /// Pages that may still be added to objects charged like `id`
    /// (`u64::MAX` without a limit).
    pub(crate) fn resident_room(&self, id: ObjectId) -> u64 {
        self.get(id).charge.map_or(u64::MAX, |g| self.group_room(g))
    }

    /// Pages group `g` may still add before its resident limit.
    pub(crate) fn group_room(&self, g: u32) -> u64 {
        self.charges
            .get(&g)
            .map_or(u64::MAX, |c| c.max_resident.saturating_sub(c.resident))
    }

    /// Pages that may still be added to new objects (charged to the
    /// group `charge_to` names).
    pub(crate) fn new_room(&self) -> u64 {
        self.charge_to.map_or(u64::MAX, |g| self.group_room(g))
    }

    /// Refuse `n` more objects for the group `charge_to` names past its
    /// object limit (`QuotaExceeded(Objects)`); the caller asks before it
    /// changes anything and then makes at most `n`.
    pub(crate) fn may_allocate(&self, n: u64) -> Result<(), crate::VmError> {
        let room = self
            .charge_to
            .and_then(|g| self.charges.get(&g))
            .map_or(u64::MAX, |c| c.max_objects.saturating_sub(c.objects));
        if room < n {
            return Err(crate::VmError::QuotaExceeded(crate::Quota::Objects));
        }
        Ok(())
    }

    /// Refuse one more page of `id` past its group's resident limit.
    pub(crate) fn may_add_page(&self, id: ObjectId) -> Result<(), crate::VmError> {
        if self.resident_room(id) == 0 {
            return Err(crate::VmError::QuotaExceeded(crate::Quota::Resident));
        }
        Ok(())
    }

    /// Slots that may still be written for `group` (counting writes in
    /// flight).
    pub(crate) fn swap_room(&self, group: Option<u32>) -> u64 {
        group
            .and_then(|g| self.charges.get(&g))
            .map_or(u64::MAX, |c| c.max_swap.saturating_sub(c.swap + c.writing))
    }

    /// Count `n` pages of `group` going to swap (`n > 0`) or done.
    pub(crate) fn writing(&mut self, group: Option<u32>, n: i64) {
        if let Some(g) = group {
            self.with_charge(g, |c| {
                c.writing = c.writing.checked_add_signed(n).expect("writing count");
            });
        }
    }
}

/// What one quota group's objects hold, and its limits of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Charge {
    pub(crate) resident: u64,
    pub(crate) swap: u64,
    /// Pages of its objects under a pageout write now.
    pub(crate) writing: u64,
    pub(crate) max_resident: u64,
    pub(crate) max_swap: u64,
    /// Live objects charged to the group, and its limit (semantics:
    /// quota-objects).
    pub(crate) objects: u64,
    pub(crate) max_objects: u64,
}

impl Default for Charge {
    fn default() -> Self {
        Charge {
            resident: 0,
            swap: 0,
            writing: 0,
            max_resident: u64::MAX,
            max_swap: u64::MAX,
            objects: 0,
            max_objects: u64::MAX,
        }
    }
}

/// Make a page's frame owned by `object` at `pindex` in both tables.
pub(crate) fn adopt(
    objects: &mut ObjectTable,
    pool: &mut PagePool,
    f: FrameNumber,
    object: ObjectId,
    pindex: u64,
) {
    if pool.page(f).flags().contains(PageFlags::BUSY) {
        if let Some(old) = pool.page(f).object() {
            objects.set_busy(old, false);
        }
        objects.set_busy(object, true);
    }
    pool.rename(f, object, pindex);
    objects.insert_page(object, pindex, f);
}

/// A page tree slot: frame numbers stop below `u32::MAX` (`Vm::new`).
impl BlockSlot for FrameNumber {
    const EMPTY: FrameNumber = FrameNumber(u32::MAX);
    fn is_empty(&self) -> bool {
        self.0 == u32::MAX
    }
}
