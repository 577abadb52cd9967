//! Copy-on-write that keeps the mapped frame: the copy goes down to the lower object and the faulting space keeps the frame it had mapped read-only (`VmConfig::cow_trade`).
//!
//! Why: seL4 maps no frame over a present page-table entry (`Map` fails
//! with `DeleteFirst`) and `Remap` only changes a mapping's rights. So
//! the usual copy up, where the front object gets the new frame, costs the
//! fault an `Unmap` of the old frame and a `Map` of the new one; when the
//! front object gets the old frame instead, one `Remap` makes it writable.
//! The contents every space sees are the same either way: the lower
//! object's page (now the copy) still holds what it held.
//!
//! When: the old frame's only mapping is the faulting one (nobody else's
//! entry changes under them, and no other mapping would go on reading a
//! frame that is now private), it is a pageable, unwired, unheld, idle
//! page of private anonymous memory (no pager or device identifies it),
//! and the faulting entry is not wired (its wiring follows the copy).
//! DragonFly's `vm_fault` moves a page up only when the lower object has
//! no other reference; this moves the copy down instead, which any
//! number of references allow.
//!
//! Owned by the single-threaded `Vm`, like the pool.

use super::{PagePool, PageQueue};
use crate::map::VmMapEntry;
use crate::page::PageFlags;
use crate::pmap::Pmap;
use crate::types::{FrameNumber, SpaceId};
use crate::vm::Memory;

impl PagePool {
    /// `copy`, as `alloc` left it (busy, on no queue) and holding `old`'s
    /// contents, takes `old`'s place: its owner, its flags, and pageable,
    /// told to the policy that it will not be used soon (its only mapping
    /// is the fault's, which will no longer see it). `old` becomes what
    /// `alloc` made of `copy`: the same owner, busy, on no queue. The
    /// caller checked `Memory::may_trade`.
    fn trade(&mut self, old: FrameNumber, copy: FrameNumber) {
        debug_assert_eq!(self.pages[copy.index()].queue(), PageQueue::None);
        debug_assert!(self.pages[copy.index()].flags.contains(PageFlags::BUSY));
        self.unlink(old.0);
        self.link_raw(old.0, PageQueue::None);
        self.unlink_raw(copy.0);
        let (o, c) = (old.index(), copy.index());
        let (object, pindex, flags) = (
            self.pages[o].object,
            self.pages[o].pindex,
            self.pages[o].flags,
        );
        self.pages[o].object = self.pages[c].object;
        self.pages[o].pindex = self.pages[c].pindex;
        self.pages[o].flags = self.pages[c].flags;
        let p = &mut self.pages[c];
        (p.object, p.pindex, p.flags) = (object, pindex, flags);
        self.link(copy.0, PageQueue::Paging);
        self.deactivate(copy);
    }
}

impl Memory {
    /// True when a write fault of `space` at `va` that copies `old` may
    /// keep `old` (see the module's "When"). The caller holds no hold on `old`.
    pub(crate) fn may_trade<P: Pmap + ?Sized>(
        &self,
        old: FrameNumber,
        space: SpaceId,
        va: u64,
        entry: &VmMapEntry,
        pmap: &P,
    ) -> bool {
        if !self.config.cow_trade || entry.is_wired() || self.pool.is_region_frame(old) {
            return false;
        }
        let p = &self.pool.pages[old.index()];
        let idle = p.queue() == PageQueue::Paging
            && p.tracked()
            && !p.is_wired()
            && p.hold_count == 0
            && !p
                .flags
                .intersects(PageFlags::BUSY | PageFlags::UNMANAGED | PageFlags::DEVICE);
        idle && p
            .object()
            .is_some_and(|o| self.objects.get(o).is_private_anon())
            && pmap.sole_mapping(old) == Some((space, va))
    }

    /// Trade `old`, the lower object's page a write fault found, with
    /// `copy`, allocated for the front object and holding `old`'s
    /// contents: the lower object's page is `copy` now, and `old` is the
    /// busy page for the front that `alloc` made `copy`. The caller checked
    /// `may_trade` and validates `old` as it would have `copy`.
    pub(crate) fn trade(&mut self, old: FrameNumber, copy: FrameNumber) {
        let p = &self.pool.pages[old.index()];
        let (object, pindex) = (p.object().expect("a trade's page has an owner"), p.pindex());
        self.pool.trade(old, copy);
        let was = self.objects.replace_page(object, pindex, copy);
        debug_assert_eq!(was, old);
        self.stats.flt_cow_trade += 1;
    }
}
