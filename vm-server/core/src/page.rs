//! Physical page records (`vm_page`): the frame pool indexed by frame number, the free queue, wiring, holding, the free-page reserve, and the replacement policy that orders the pageable pages.
//!
//! Locking: the pool belongs to the single-threaded `Vm`; no page record is
//! shared with anything else, so the `&mut` borrow is the only lock.
//!
//! A record is 16 bytes (DragonFly's `vm_page` is 128): the owner is a 32-bit
//! object index, the free queue's links (32-bit frame numbers) are beside
//! the records for the small frames only, wire counts are in a side table,
//! and the queue, two marks and the hold count fit in two bytes.

use crate::config::{large_region_base, LARGE_PAGE_FRAMES};
use crate::error::VmError;
use crate::large_pool::LargePool;
use crate::policy::Policy;
use crate::types::{FrameNumber, ObjectId};
use alloc::boxed::Box;
use bitflags::bitflags;
use vm_swap::{PageKey, ReplacementPolicy};

#[path = "page_check.rs"]
mod check;
#[path = "cow_trade.rs"]
mod cow_trade;
#[path = "zero_idle.rs"]
pub(crate) mod zero_idle;

/// "No frame" in the intrusive queue links, and "no object" as owner.
const NIL: u32 = u32::MAX;

bitflags! {
    /// Page state bits (`PG_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PageFlags: u16 {
        /// Contents are being produced (zero-fill, copy, page-in) or written;
        /// nobody else may map or free the page meanwhile.
        const BUSY = 1 << 0;
        /// Contents are valid.
        const VALID = 1 << 1;
        /// Modified since last clean (emulated modify bit).
        const DIRTY = 1 << 2;
        /// Referenced since last cleared (emulated reference bit).
        const REFERENCED = 1 << 3;
        /// Belongs to a physical object: never queued, never paged, never
        /// freed while the object lives (`PG_FICTITIOUS`/`PG_UNMANAGED`).
        const UNMANAGED = 1 << 4;
        /// `MADV_FREE`d: clean private anonymous contents whose owner lets
        /// pageout discard them without writing (the page then reads as
        /// zero: nothing lies below its object). Any write sets `DIRTY`,
        /// which clears this bit and keeps the contents.
        const FREED = 1 << 5;
        /// Device memory past the pool's RAM (`PagePool::add_device`):
        /// always `UNMANAGED`, never free, never counted as the pool's
        /// (`OBJT_DEVICE`'s fictitious pages, `PG_FICTITIOUS`).
        const DEVICE = 1 << 6;
        /// The pageout scan unmapped the page only to learn whether it is
        /// used (it cleared a set emulated reference bit): the next fault
        /// that finds it resident is a reference fault
        /// (`Uvmexp::flt_reference`). Cleared when the page is entered.
        const REF_UNMAPPED = 1 << 7;
        /// Read ahead from swap and not touched by a fault since: a
        /// fault that touches it is a read-ahead hit (`PageReadahead`).
        const READAHEAD = 1 << 8;
        /// Free and known to hold zeros (`PG_ZERO`): zeroed in idle time
        /// (`zero_idle.rs`). Such frames are the free queue's tail, so
        /// other allocations take the rest first; any allocation clears it.
        const ZERO = 1 << 9;
    }
}

/// Which queue a page is on. Wired, busy, held-only and unmanaged pages
/// are on none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageQueue {
    None = 0,
    Free = 1,
    /// Pageable: the replacement policy tracks it and orders it (BSD's
    /// active and inactive queues are the default CLOCK policy's, in
    /// vm-swap, not the pool's).
    Paging = 2,
    /// A large region's frame, free inside its region (`LargePool`):
    /// never on the small free queue, only counted.
    Region = 3,
}

/// Who is asking for a page: normal faults may not dip into the reserve,
/// the pageout path (page-ins for merges and swapoff) may
/// (`VM_ALLOC_NORMAL` vs `VM_ALLOC_SYSTEM`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocClass {
    Normal,
    System,
}

/// One frame's metadata. 16 bytes.
///
/// Every frame number has one, the large regions' too, so each byte here
/// is paid about five times per small frame in bench.spec: the free-queue
/// links are beside the records for the small frames only, a wiring's
/// count is in the pool's side table (few pages are wired), and the
/// queue and two marks share one byte.
#[derive(Clone, Debug)]
pub struct VmPage {
    pindex: u64,
    object: u32,
    flags: PageFlags,
    state: PageState,
    /// Holds never outlive the call that takes them (the server is one
    /// thread), so a byte is ample.
    hold_count: u8,
}

/// A page's queue and the pool's two marks on it, in one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PageState(u8);

impl PageState {
    const QUEUE: u8 = 0b11;
    /// The replacement policy tracks the page.
    const TRACKED: u8 = 1 << 2;
    /// Its wire count (in `PagePool::wirings`) is not zero.
    const WIRED: u8 = 1 << 3;

    const fn on(q: PageQueue) -> Self {
        PageState(q as u8)
    }
    fn queue(self) -> PageQueue {
        match self.0 & Self::QUEUE {
            0 => PageQueue::None,
            1 => PageQueue::Free,
            2 => PageQueue::Paging,
            _ => PageQueue::Region,
        }
    }
    fn set_queue(&mut self, q: PageQueue) {
        self.0 = (self.0 & !Self::QUEUE) | q as u8;
    }
    fn has(self, mark: u8) -> bool {
        self.0 & mark != 0
    }
    fn set(&mut self, mark: u8, on: bool) {
        if on {
            self.0 |= mark;
        } else {
            self.0 &= !mark;
        }
    }
}

impl VmPage {
    const fn free() -> Self {
        VmPage {
            pindex: 0,
            object: NIL,
            flags: PageFlags::empty(),
            state: PageState::on(PageQueue::Free),
            hold_count: 0,
        }
    }
    /// The owning object, if any.
    pub fn object(&self) -> Option<ObjectId> {
        (self.object != NIL).then_some(ObjectId(self.object))
    }
    /// Page index inside the owning object.
    pub fn pindex(&self) -> u64 {
        self.pindex
    }
    /// Wired at least once (`PagePool::wire_count` has the count).
    pub fn is_wired(&self) -> bool {
        self.state.has(PageState::WIRED)
    }
    pub fn hold_count(&self) -> u8 {
        self.hold_count
    }
    pub fn flags(&self) -> PageFlags {
        self.flags
    }
    pub fn queue(&self) -> PageQueue {
        self.state.queue()
    }
    fn tracked(&self) -> bool {
        self.state.has(PageState::TRACKED)
    }
    fn set_tracked(&mut self, on: bool) {
        self.state.set(PageState::TRACKED, on);
    }
    pub fn is_dirty(&self) -> bool {
        self.flags.contains(PageFlags::DIRTY)
    }
    pub fn is_unmanaged(&self) -> bool {
        self.flags.contains(PageFlags::UNMANAGED)
    }
    /// A device page: not RAM of the pool (`PagePool::add_device`).
    pub fn is_device(&self) -> bool {
        self.flags.contains(PageFlags::DEVICE)
    }
}

#[derive(Clone, Copy, Debug)]
struct QueueHead {
    head: u32,
    tail: u32,
    count: u32,
}

/// A frame's links on the free queue. Only small frames are ever free
/// (a region's frame goes back to its region, device pages never), so
/// the links are an array over the small pool beside the page records,
/// not 8 bytes in every record: most frame numbers are the regions'.
#[derive(Clone, Copy, Debug)]
struct FreeLink {
    prev: u32,
    next: u32,
}

const UNLINKED: FreeLink = FreeLink {
    prev: NIL,
    next: NIL,
};

const EMPTY_QUEUE: QueueHead = QueueHead {
    head: NIL,
    tail: NIL,
    count: 0,
};

/// The frame pool: every frame the server owns, its queues and reserve,
/// and past its RAM the records of device pages. Owned by the
/// single-threaded `Vm`.
pub struct PagePool {
    /// Frames `0..ram` are RAM; records past them are device pages.
    pages: alloc::vec::Vec<VmPage>,
    /// Frames of RAM: the pool proper.
    ram: u32,
    /// Device pages (records past `ram_end`).
    device: u32,
    /// The large regions (records `large.base() .. large.end()`; the
    /// records between `ram` and `large.base()` are unused numbers).
    large: LargePool,
    /// One past the last RAM record: `ram` without regions, else the
    /// regions' end (`config::ram_frame_end`).
    ram_end: u32,
    /// Indexed by `PageQueue as usize`; only the free queue is linked,
    /// the others keep a count (the policy orders the pageable pages).
    queues: [QueueHead; 4],
    /// Per small frame (`0..ram`): its free-queue links.
    free_links: alloc::vec::Vec<FreeLink>,
    /// The first pre-zeroed (`PageFlags::ZERO`) frame on the free queue,
    /// `NIL` if none: from it to the tail every frame is pre-zeroed.
    zero_head: u32,
    /// Free frames pre-zeroed.
    zeroed: u32,
    /// The wire count of each wired page (`VmPage::is_wired`): a side
    /// table, as wiring is rare (mlock, wired entries) and a count in
    /// every record would cost every frame 4 bytes.
    wirings: alloc::collections::BTreeMap<u32, u32>,
    wired: u32,
    unmanaged: u32,
    reserved: u32,
    /// Normal allocations stop here when above `reserved` (swap attached).
    severe: u32,
    /// The replacement policy (`Vm::set_replacement_policy`; CLOCK by
    /// default). It tracks exactly the pages on the `Paging` queue, except
    /// victims it has handed out and the pageout path has not yet freed or
    /// given back. `None` only while a scan has it out (`take_policy`).
    policy: Option<Policy>,
}

/// The queue of pageable pages (what the replacement policy tracks).
fn pageable_queue(q: PageQueue) -> bool {
    q == PageQueue::Paging
}

impl PagePool {
    /// A pool of `frame_count` free frames, `reserved` of which only
    /// `AllocClass::System` may take, ordered for pageout by CLOCK.
    pub fn new(frame_count: u32, reserved: u32) -> Self {
        Self::with_large(frame_count, reserved, 0)
    }

    /// `new` plus `large_pages` free 2 MiB regions numbered from
    /// `large_region_base(frame_count)` (`VmConfig::large_pages`).
    pub fn with_large(frame_count: u32, reserved: u32, large_pages: u32) -> Self {
        let large = if large_pages == 0 {
            LargePool::new(0, 0)
        } else {
            LargePool::new(large_region_base(frame_count), large_pages)
        };
        let ram_end = if large_pages == 0 {
            frame_count
        } else {
            large.end()
        };
        let unused = VmPage {
            state: PageState::on(PageQueue::None),
            ..VmPage::free()
        };
        let mut pool = PagePool {
            pages: alloc::vec![unused; ram_end as usize],
            ram: frame_count,
            device: 0,
            large,
            ram_end,
            queues: [EMPTY_QUEUE; 4],
            free_links: alloc::vec![UNLINKED; frame_count as usize],
            zero_head: NIL,
            zeroed: 0,
            wirings: alloc::collections::BTreeMap::new(),
            wired: 0,
            unmanaged: 0,
            reserved,
            severe: 0,
            policy: Some(Policy::Clock(vm_swap::ClockPolicy::new(ram_end))),
        };
        for f in 0..frame_count {
            pool.link(f, PageQueue::Free);
        }
        for f in pool.large.base()..pool.large.end() {
            pool.link(f, PageQueue::Region);
        }
        pool
    }

    /// Number of frames of RAM in the pool (device pages not counted).
    pub fn len(&self) -> u32 {
        self.ram
    }
    pub fn is_empty(&self) -> bool {
        self.ram == 0
    }
    /// Device pages (frame numbers from `ram_end()` on).
    pub fn device_count(&self) -> u32 {
        self.device
    }
    /// One past the last frame number of RAM, small pool and large
    /// regions (`config::ram_frame_end`): device pages start here, and
    /// a replacement policy must cover frame numbers up to it.
    pub fn ram_end(&self) -> u32 {
        self.ram_end
    }
    /// The large regions.
    pub fn large(&self) -> &LargePool {
        &self.large
    }
    /// True when `f` is a large region's frame: only ever mapped whole,
    /// with `Pmap::enter_large`.
    #[inline]
    pub fn is_region_frame(&self, f: FrameNumber) -> bool {
        self.large.region_of(f.0).is_some()
    }
    pub fn page(&self, f: FrameNumber) -> &VmPage {
        &self.pages[f.index()]
    }
    pub fn free_count(&self) -> u32 {
        self.queues[PageQueue::Free as usize].count
    }
    /// Large regions' frames free inside their regions (`PageQueue::Region`).
    pub fn region_free_count(&self) -> u32 {
        self.queues[PageQueue::Region as usize].count
    }
    /// Pageable pages: on the `Paging` queue, the policy's to order.
    pub fn paging_count(&self) -> u32 {
        self.queues[PageQueue::Paging as usize].count
    }
    /// Pageable pages on the policy's hot and cold sides (`vmstat`'s
    /// active and inactive).
    pub fn hot_cold(&self) -> (u32, u32) {
        self.policy
            .as_ref()
            .map_or((0, 0), |p| p.as_dyn().hot_cold())
    }
    /// Managed pages with a non-zero wire count.
    pub fn wired_count(&self) -> u32 {
        self.wired
    }
    pub fn unmanaged_count(&self) -> u32 {
        self.unmanaged
    }
    /// Managed pages on no queue and unwired: held or busy in transit.
    pub fn unqueued_count(&self) -> u32 {
        self.queues[PageQueue::None as usize].count
    }
    pub fn reserved(&self) -> u32 {
        self.reserved
    }
    /// Free pages a normal allocation leaves: the reserve, or the
    /// `severe` level while swap is attached (`set_severe`).
    pub fn normal_floor(&self) -> u32 {
        self.reserved.max(self.severe)
    }
    /// Make normal allocations stop at `severe` free pages (0: at the
    /// reserve): with swap, faults then wait for pageout before the pages
    /// between the reserve and `severe` go, which the pageout path's own
    /// allocations (`AllocClass::System`) keep.
    pub fn set_severe(&mut self, severe: u32) {
        self.severe = severe;
    }
    /// Pages a normal allocation may still take.
    pub fn available(&self) -> u32 {
        self.free_count().saturating_sub(self.normal_floor())
    }

    /// Put an unlinked page on queue `q`, telling the policy when it
    /// becomes pageable.
    fn link(&mut self, f: u32, q: PageQueue) {
        self.link_raw(f, q);
        if pageable_queue(q) {
            self.track(f);
        }
    }

    /// Take `f` off its queue, telling the policy when it stops being
    /// pageable.
    fn unlink(&mut self, f: u32) {
        if pageable_queue(self.pages[f as usize].queue()) {
            self.untrack(f);
        }
        self.unlink_raw(f);
    }

    fn track(&mut self, f: u32) {
        if let Some(p) = self.policy.as_mut() {
            let pg = &mut self.pages[f as usize];
            if !pg.tracked() {
                p.insert(f, PageKey::of(pg.object, pg.pindex));
                pg.set_tracked(true);
            }
        }
    }

    fn untrack(&mut self, f: u32) {
        if let Some(p) = self.policy.as_mut() {
            let pg = &mut self.pages[f as usize];
            if pg.tracked() {
                p.remove(f);
                pg.set_tracked(false);
            }
        }
    }

    /// Put an unlinked page on queue `q`; only `Free` is a list, the
    /// others only count it. Inlined, as are `unlink_raw` and
    /// `alloc_from`: a fault's allocation is one call, and under QEMU each
    /// call on the fault path costs about 330 cycles (docs/performance.md).
    #[inline(always)]
    fn link_raw(&mut self, f: u32, q: PageQueue) {
        let qi = q as usize;
        self.queues[qi].count += 1;
        self.pages[f as usize].state.set_queue(q);
        if q != PageQueue::Free {
            return;
        }
        if self.pages[f as usize].flags.contains(PageFlags::ZERO) {
            self.zeroed += 1;
            if self.zero_head == NIL {
                self.zero_head = f;
            }
        } else if self.zero_head != NIL {
            // Before the pre-zeroed tail.
            let next = self.zero_head;
            let prev = self.free_links[next as usize].prev;
            self.free_links[f as usize] = FreeLink { prev, next };
            self.free_links[next as usize].prev = f;
            if prev == NIL {
                self.queues[qi].head = f;
            } else {
                self.free_links[prev as usize].next = f;
            }
            return;
        }
        let tail = self.queues[qi].tail;
        self.free_links[f as usize] = FreeLink {
            prev: tail,
            next: NIL,
        };
        if tail == NIL {
            self.queues[qi].head = f;
        } else {
            self.free_links[tail as usize].next = f;
        }
        self.queues[qi].tail = f;
    }

    /// Take `f` off whatever queue (or the unqueued count) it is on.
    #[inline(always)]
    fn unlink_raw(&mut self, f: u32) {
        let q = self.pages[f as usize].queue();
        let qi = q as usize;
        self.queues[qi].count -= 1;
        if q == PageQueue::Free {
            let FreeLink { prev, next } = self.free_links[f as usize];
            if self.pages[f as usize].flags.contains(PageFlags::ZERO) {
                self.zeroed -= 1;
                if self.zero_head == f {
                    self.zero_head = next;
                }
            }
            if prev == NIL {
                self.queues[qi].head = next;
            } else {
                self.free_links[prev as usize].next = next;
            }
            if next == NIL {
                self.queues[qi].tail = prev;
            } else {
                self.free_links[next as usize].prev = prev;
            }
            self.free_links[f as usize] = UNLINKED;
        }
        self.pages[f as usize].state.set_queue(PageQueue::None);
    }

    /// Install a replacement policy (capacity at least the pool size); it
    /// starts tracking every pageable page, in frame order (the old one's
    /// order is lost). Returns the previous one.
    pub fn set_policy(&mut self, policy: Box<dyn ReplacementPolicy>) -> Box<dyn ReplacementPolicy> {
        let old = self
            .policy
            .replace(Policy::Other(policy))
            .expect("policy present")
            .into_box();
        for p in &mut self.pages {
            p.set_tracked(false);
        }
        for f in 0..self.ram_end {
            if pageable_queue(self.pages[f as usize].queue()) {
                self.track(f);
            }
        }
        old
    }

    /// The replacement policy.
    pub fn policy(&self) -> &dyn ReplacementPolicy {
        self.policy.as_ref().expect("policy present").as_dyn()
    }

    /// Take the policy out for a scan (its host borrows the pool); the
    /// caller puts it back with `put_policy`.
    pub(crate) fn take_policy(&mut self) -> Policy {
        self.policy.take().expect("policy present")
    }

    /// Put back the policy taken by `take_policy`. `victims` were handed
    /// out by its scan: the policy no longer tracks them.
    pub(crate) fn put_policy(&mut self, p: Policy, victims: &[u32]) {
        for &f in victims {
            self.pages[f as usize].set_tracked(false);
        }
        self.policy = Some(p);
    }

    /// Give a victim the pageout path did not evict back to the policy.
    pub(crate) fn retrack(&mut self, f: FrameNumber) {
        if pageable_queue(self.pages[f.index()].queue()) {
            self.track(f.0);
        }
    }

    /// Tell the policy about an access to `f` (an emulated reference fault).
    pub(crate) fn policy_referenced(&mut self, f: FrameNumber) {
        if let Some(p) = self.policy.as_mut() {
            if self.pages[f.index()].tracked() {
                p.referenced(f.0);
            }
        }
    }

    /// Take a free frame for `object` at `pindex`, busy and invalid; it is
    /// on no queue until the caller activates it (`vm_page_alloc`).
    pub fn alloc(
        &mut self,
        object: ObjectId,
        pindex: u64,
        class: AllocClass,
    ) -> Result<FrameNumber, VmError> {
        self.alloc_from(object, pindex, class, false)
            .map(|(f, _)| f)
    }

    /// `alloc`, taking a pre-zeroed frame when there is one (UVM's
    /// `UVM_PGA_ZERO`); true if the frame taken holds zeros.
    pub fn alloc_zeroed(
        &mut self,
        object: ObjectId,
        pindex: u64,
        class: AllocClass,
    ) -> Result<(FrameNumber, bool), VmError> {
        self.alloc_from(object, pindex, class, true)
    }

    #[inline(always)]
    fn alloc_from(
        &mut self,
        object: ObjectId,
        pindex: u64,
        class: AllocClass,
        want_zero: bool,
    ) -> Result<(FrameNumber, bool), VmError> {
        let free = self.free_count();
        let limit = match class {
            AllocClass::Normal => self.normal_floor(),
            AllocClass::System => 0,
        };
        if free <= limit {
            return Err(VmError::OutOfMemory);
        }
        let f = if want_zero && self.zero_head != NIL {
            self.zero_head
        } else {
            self.queues[PageQueue::Free as usize].head
        };
        let zero = self.pages[f as usize].flags.contains(PageFlags::ZERO);
        self.unlink(f);
        self.link(f, PageQueue::None);
        let p = &mut self.pages[f as usize];
        p.object = object.0;
        p.pindex = pindex;
        p.flags = PageFlags::BUSY;
        Ok((FrameNumber(f), zero))
    }

    /// Take the oldest free large region for `object`: frame `base + i`
    /// becomes page `p0 + i`, busy and invalid, on no queue, as `alloc`
    /// leaves a page. Returns `base`, or `None` when no region is free.
    /// The caller produces and validates all 512 (FreeBSD's
    /// `vm_reserv_alloc_page` for a whole reservation).
    pub fn alloc_large(&mut self, object: ObjectId, p0: u64) -> Option<FrameNumber> {
        let r = self.large.take()?;
        let base = self.large.region_base(r);
        for i in 0..LARGE_PAGE_FRAMES {
            let f = base + i;
            self.unlink(f);
            self.link(f, PageQueue::None);
            let p = &mut self.pages[f as usize];
            p.object = object.0;
            p.pindex = p0 + u64::from(i);
            p.flags = PageFlags::BUSY;
        }
        Some(FrameNumber(base))
    }

    /// Claim a specific free frame for a physical object. Fails with `Busy`
    /// if it is in use.
    pub fn claim_unmanaged(
        &mut self,
        f: FrameNumber,
        object: ObjectId,
        pindex: u64,
    ) -> Result<(), VmError> {
        if self.pages[f.index()].queue() != PageQueue::Free {
            return Err(VmError::Busy);
        }
        self.unlink(f.0);
        self.unmanaged += 1;
        let p = &mut self.pages[f.index()];
        p.object = object.0;
        p.pindex = pindex;
        p.flags = PageFlags::UNMANAGED | PageFlags::VALID;
        Ok(())
    }

    /// Add `count` device pages owned by `object` (page indices from 0)
    /// past every frame so far; returns the first one's number. They are
    /// unmanaged from the start and never free: no queue, no allocation,
    /// no pageout ever sees them. Fails with `Overflow` when the frame
    /// numbers would run out, changing nothing.
    pub fn add_device(&mut self, object: ObjectId, count: u32) -> Result<FrameNumber, VmError> {
        let base = self.pages.len() as u32;
        if base.checked_add(count).is_none_or(|end| end == NIL) {
            return Err(VmError::Overflow);
        }
        for i in 0..count {
            self.pages.push(VmPage {
                pindex: i as u64,
                object: object.0,
                flags: PageFlags::UNMANAGED | PageFlags::VALID | PageFlags::DEVICE,
                state: PageState::on(PageQueue::None),
                ..VmPage::free()
            });
        }
        self.device += count;
        Ok(FrameNumber(base))
    }

    /// Forget the owner of a device page (its object died); the page
    /// stays a device page, never free.
    pub fn release_device(&mut self, f: FrameNumber) {
        let p = &mut self.pages[f.index()];
        debug_assert!(p.is_device());
        p.object = NIL;
        p.pindex = 0;
    }

    /// Return an unmanaged frame to the free queue.
    /// The caller has removed every mapping of it.
    pub fn release_unmanaged(&mut self, f: FrameNumber) {
        debug_assert!(self.pages[f.index()].is_unmanaged());
        self.unmanaged -= 1;
        self.pages[f.index()] = VmPage::free();
        self.link(f.0, PageQueue::Free);
    }

    /// Free a managed page (`vm_page_free`). The caller has removed it from
    /// its object and every mapping of it; it is neither wired nor held.
    pub fn free(&mut self, f: FrameNumber) {
        let p = &self.pages[f.index()];
        debug_assert!(!p.is_unmanaged());
        debug_assert!(!p.is_wired(), "freeing a wired page");
        debug_assert_eq!(p.hold_count, 0, "freeing a held page");
        self.unlink(f.0);
        self.pages[f.index()] = VmPage::free();
        // A region's frame goes back to its region, never to the small
        // free queue.
        if let Some(r) = self.large.region_of(f.0) {
            self.link(f.0, PageQueue::Region);
            self.large.put(r);
        } else {
            self.link(f.0, PageQueue::Free);
        }
    }

    /// Finish producing a page: clear busy, set valid plus `extra`, and
    /// make it pageable unless wired (`vm_page_wakeup` + activate).
    pub fn validate(&mut self, f: FrameNumber, extra: PageFlags) {
        let p = &mut self.pages[f.index()];
        p.flags.remove(PageFlags::BUSY);
        p.flags.insert(PageFlags::VALID | extra);
        self.activate(f);
    }

    /// Make a managed, unwired, unbusy page pageable: the policy starts
    /// tracking it as a new page (`vm_page_activate`). An access to a page
    /// already pageable is `policy_referenced`'s business.
    pub fn activate(&mut self, f: FrameNumber) {
        let p = &self.pages[f.index()];
        if p.is_unmanaged()
            || p.is_wired()
            || p.flags.contains(PageFlags::BUSY)
            || p.queue() == PageQueue::Paging
        {
            return;
        }
        self.unlink(f.0);
        self.link(f.0, PageQueue::Paging);
    }

    /// Make a managed, unwired, unbusy page pageable and tell the policy
    /// it will likely not be used soon (`vm_page_deactivate`).
    pub fn deactivate(&mut self, f: FrameNumber) {
        self.activate(f);
        let p = &self.pages[f.index()];
        if p.queue() == PageQueue::Paging && p.tracked() {
            if let Some(p) = self.policy.as_mut() {
                p.as_dyn_mut().deactivate(f.0);
            }
        }
    }

    /// Make a managed page busy for I/O: it leaves the paging queues
    /// (for the `None` queue, which counts the busy pages that are not
    /// wired) until the completion frees it, revalidates it or calls
    /// `end_io`. A wired page is on no queue already and stays so: only
    /// a pager write-back (`msync`) makes a wired page busy.
    pub fn start_io(&mut self, f: FrameNumber) {
        debug_assert!(!self.pages[f.index()].is_unmanaged());
        self.pages[f.index()].flags.insert(PageFlags::BUSY);
        if !self.pages[f.index()].is_wired() {
            self.unlink(f.0);
            self.link(f.0, PageQueue::None);
        }
    }

    /// A write-back of a page that stays resident finished: clear busy
    /// and put it back where it belongs (wired: on no queue; otherwise
    /// pageable and cold, as a page just cleaned). The caller clears
    /// or sets `DIRTY` first.
    pub fn end_io(&mut self, f: FrameNumber) {
        self.pages[f.index()].flags.remove(PageFlags::BUSY);
        self.deactivate(f);
    }

    /// Wire a page: it leaves the paging queues (`vm_page_wire`).
    /// Unmanaged pages are always resident and ignore wiring.
    pub fn wire(&mut self, f: FrameNumber) {
        let p = &mut self.pages[f.index()];
        if p.is_unmanaged() {
            return;
        }
        let count = self.wirings.entry(f.0).or_insert(0);
        *count += 1;
        if *count == 1 {
            p.state.set(PageState::WIRED, true);
            self.wired += 1;
            self.unlink(f.0);
        }
    }

    /// Drop one wiring; the last one makes the page pageable again.
    /// The caller holds a wiring of `f`.
    pub fn unwire(&mut self, f: FrameNumber) {
        let p = &mut self.pages[f.index()];
        if p.is_unmanaged() {
            return;
        }
        let Some(count) = self.wirings.get_mut(&f.0) else {
            debug_assert!(false, "unwiring an unwired page");
            return;
        };
        *count -= 1;
        if *count == 0 {
            self.wirings.remove(&f.0);
            p.state.set(PageState::WIRED, false);
            self.wired -= 1;
            // A busy page waits on `None` for the end of its I/O.
            let q = if p.flags.contains(PageFlags::BUSY) {
                PageQueue::None
            } else {
                PageQueue::Paging
            };
            self.link(f.0, q);
        }
    }

    /// Frame `f`'s wire count.
    pub fn wire_count(&self, f: FrameNumber) -> u32 {
        self.wirings.get(&f.0).copied().unwrap_or(0)
    }

    /// Hold a page so it is not freed while the caller reads it (`vm_page_hold`).
    pub fn hold(&mut self, f: FrameNumber) {
        let p = &mut self.pages[f.index()];
        debug_assert!(p.hold_count < u8::MAX, "holds nest only within a call");
        p.hold_count = p.hold_count.saturating_add(1);
    }

    /// Release a hold. The caller holds `f`.
    pub fn unhold(&mut self, f: FrameNumber) {
        let p = &mut self.pages[f.index()];
        debug_assert!(p.hold_count > 0);
        p.hold_count -= 1;
    }

    /// Set state bits of an allocated page. `DIRTY` cancels `FREED`: a
    /// write keeps the contents the owner had allowed to be discarded.
    pub fn set_flags(&mut self, f: FrameNumber, flags: PageFlags) {
        let p = &mut self.pages[f.index()];
        p.flags.insert(flags);
        if flags.contains(PageFlags::DIRTY) {
            p.flags.remove(PageFlags::FREED);
        }
    }
    /// Clear state bits of an allocated page.
    pub fn clear_flags(&mut self, f: FrameNumber, flags: PageFlags) {
        self.pages[f.index()].flags.remove(flags);
    }

    /// Give a page a new owner (`vm_page_rename`, used by collapse).
    pub fn rename(&mut self, f: FrameNumber, object: ObjectId, pindex: u64) {
        let p = &mut self.pages[f.index()];
        p.object = object.0;
        p.pindex = pindex;
    }

    /// Walk the free queue from head to tail (for invariant checks).
    pub fn free_iter(&self) -> impl Iterator<Item = FrameNumber> + '_ {
        let mut cur = self.queues[PageQueue::Free as usize].head;
        core::iter::from_fn(move || {
            if cur == NIL {
                return None;
            }
            let f = cur;
            cur = self.free_links[f as usize].next;
            Some(FrameNumber(f))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_record_is_compact() {
        assert!(core::mem::size_of::<VmPage>() <= 48);
        assert_eq!(core::mem::size_of::<VmPage>(), 16);
    }

    #[test]
    fn reserve_blocks_normal_but_not_system() {
        let mut pool = PagePool::new(4, 2);
        let o = ObjectId(0);
        pool.alloc(o, 0, AllocClass::Normal).unwrap();
        pool.alloc(o, 1, AllocClass::Normal).unwrap();
        assert_eq!(
            pool.alloc(o, 2, AllocClass::Normal),
            Err(VmError::OutOfMemory)
        );
        pool.alloc(o, 2, AllocClass::System).unwrap();
        pool.alloc(o, 3, AllocClass::System).unwrap();
        assert_eq!(
            pool.alloc(o, 4, AllocClass::System),
            Err(VmError::OutOfMemory)
        );
        pool.check().unwrap();
    }

    #[test]
    fn a_policy_tracks_exactly_the_pageable_pages() {
        let mut pool = PagePool::new(8, 0);
        let o = ObjectId(1);
        let a = pool.alloc(o, 0, AllocClass::Normal).unwrap();
        let b = pool.alloc(o, 1, AllocClass::Normal).unwrap();
        pool.validate(a, PageFlags::empty());
        // Installed late, it adopts the pages already pageable.
        let old = pool.set_policy(Box::new(vm_swap::FifoPolicy::new(8)));
        assert_eq!((old.name(), old.resident()), ("clock", 1));
        assert_eq!(pool.policy().resident(), 1);
        pool.validate(b, PageFlags::DIRTY);
        pool.deactivate(b);
        assert_eq!(pool.policy().resident(), 2);
        pool.wire(a);
        assert_eq!(pool.policy().resident(), 1);
        pool.unwire(a);
        pool.start_io(b);
        assert_eq!(pool.policy().resident(), 1);
        pool.check().unwrap();
        pool.free(b);
        pool.free(a);
        assert_eq!(pool.policy().resident(), 0);
        pool.check().unwrap();
    }

    #[test]
    fn queues_wire_and_free() {
        let mut pool = PagePool::new(8, 0);
        let o = ObjectId(1);
        let a = pool.alloc(o, 0, AllocClass::Normal).unwrap();
        let b = pool.alloc(o, 1, AllocClass::Normal).unwrap();
        assert_eq!(pool.unqueued_count(), 2);
        pool.validate(a, PageFlags::empty());
        pool.validate(b, PageFlags::DIRTY);
        assert_eq!((pool.paging_count(), pool.hot_cold()), (2, (2, 0)));
        pool.deactivate(a);
        assert_eq!(pool.hot_cold(), (1, 1));
        pool.wire(a);
        pool.wire(a);
        assert_eq!((pool.wired_count(), pool.hot_cold()), (1, (1, 0)));
        pool.unwire(a);
        assert_eq!(pool.wired_count(), 1);
        pool.unwire(a);
        assert_eq!((pool.wired_count(), pool.hot_cold()), (0, (2, 0)));
        pool.check().unwrap();
        pool.free(a);
        pool.free(b);
        assert_eq!(pool.free_count(), 8);
        pool.check().unwrap();
        let c = FrameNumber(3);
        pool.claim_unmanaged(c, o, 0).unwrap();
        assert_eq!(pool.claim_unmanaged(c, o, 0), Err(VmError::Busy));
        pool.check().unwrap();
        pool.release_unmanaged(c);
        assert_eq!(pool.free_count(), 8);
        pool.check().unwrap();
    }

    #[test]
    fn device_pages_are_never_the_pools() {
        let mut pool = PagePool::new(4, 0);
        let o = ObjectId(7);
        let d = pool.add_device(o, 3).unwrap();
        assert_eq!(d, FrameNumber(4));
        assert_eq!((pool.len(), pool.device_count()), (4, 3));
        assert_eq!((pool.free_count(), pool.unmanaged_count()), (4, 0));
        let p = pool.page(FrameNumber(6));
        assert!(p.is_device() && p.is_unmanaged());
        assert_eq!((p.object(), p.pindex()), (Some(o), 2));
        // Wiring and activation leave them alone; claiming one is refused.
        pool.wire(d);
        pool.activate(d);
        assert_eq!(pool.claim_unmanaged(d, o, 0), Err(VmError::Busy));
        assert_eq!((pool.wired_count(), pool.paging_count()), (0, 0));
        pool.check().unwrap();
        // Every page of the pool is still allocatable; none is a device page.
        for i in 0..4 {
            assert!(pool.alloc(o, i, AllocClass::System).unwrap().0 < 4);
        }
        assert_eq!(
            pool.alloc(o, 5, AllocClass::System),
            Err(VmError::OutOfMemory)
        );
        pool.release_device(d);
        assert_eq!(pool.page(d).object(), None);
        assert_eq!(pool.free_count(), 0);
        pool.check().unwrap();
        assert_eq!(pool.add_device(o, u32::MAX - 7), Err(VmError::Overflow));
        assert_eq!(pool.device_count(), 3);
    }
}
