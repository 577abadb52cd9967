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
use vm_swap::PageKey;

impl PagePool {
    /// `copy`, as `alloc` left it (busy, on no queue) and holding `old`'s
    /// contents, takes `old`'s place: its record (owner, flags, queue) and
    /// its place and history in the policy, so the policy sees what it
    /// would have seen without the trade. `old` gets the record `alloc`
    /// made for `copy`: the front's page, busy, on no queue. The caller
    /// checked `Memory::may_trade` (so `old` is tracked, `copy` is not).
    fn trade(&mut self, old: FrameNumber, copy: FrameNumber) {
        debug_assert_eq!(self.pages[copy.index()].queue(), PageQueue::None);
        debug_assert!(self.pages[old.index()].tracked() && self.policy.is_some());
        // Paging and None are counts, not lists: the counts stay.
        self.pages.swap(old.index(), copy.index());
        if let Some(p) = self.policy.as_mut() {
            let pg = &self.pages[copy.index()];
            p.replace(old.0, copy.0, PageKey::of(pg.object, pg.pindex));
        }
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
    /// busy page for the front that `alloc` made `copy`. A hardware
    /// modified bit of `old` (a pmap that keeps one) becomes `copy`'s
    /// dirty flag, as `copy` has no mapping to carry it: else pageout
    /// could free the lower page against a stale swap copy. The caller
    /// checked `may_trade` and validates `old` as it would have `copy`.
    pub(crate) fn trade<P: Pmap + ?Sized>(
        &mut self,
        old: FrameNumber,
        copy: FrameNumber,
        pmap: &P,
    ) {
        let p = &self.pool.pages[old.index()];
        let (object, pindex) = (p.object().expect("a trade's page has an owner"), p.pindex());
        let modified = pmap.tracks_ref_mod() && pmap.is_modified(old);
        self.pool.trade(old, copy);
        if modified {
            self.pool.set_flags(copy, PageFlags::DIRTY);
        }
        let was = self.objects.replace_page(object, pindex, copy);
        debug_assert_eq!(was, old);
        self.stats.flt_cow_trade += 1;
    }
}
