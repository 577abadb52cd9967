//! Pageout and the swap pager's page side (`vm_pageout.c`, the page half of `swap_pager.c`): the pageout scan over the active and inactive queues, laundering dirty pages in clusters, page-in with read-ahead, completions, draining, swapoff.
//!
//! Locking: everything here runs inside the single-threaded `Vm`. Pages
//! under swap I/O are `BUSY`, on no queue and unmapped; the request that
//! made them busy is found through `Res::busy_io` (frame -> tag) and
//! `Res::io` (tag -> request). The device side (slots, staging buffers,
//! submit/poll) is vm-swap's `SwapPager`, which the `Vm` owns behind the
//! object-safe [`SwapBackend`] trait (see the crate docs for why).

use crate::backing::BackingChain;
use crate::error::VmError;
use crate::page::{AllocClass, PageFlags, PageQueue};
use crate::pmap::Pmap;
use crate::types::{FrameNumber, ObjectId, Prot, SpaceId};
use crate::vm::{Res, Vm};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::any::Any;
use vm_swap::Pressure;
use vm_swap::{
    Blist, BlockDevice, IoOp, IoTag, SwapError, SwapEvent, SwapPager, SwapSlot, SwapStats,
};

/// The swap pager's device side as the core sees it: vm-swap's
/// [`SwapPager`] over any [`BlockDevice`], behind a trait object so the
/// `Vm` type stays non-generic (the server names `Vm` without type
/// arguments) and every operation (munmap, exit, faults) can reach it.
/// One virtual call per request is nothing next to the device round trip.
pub trait SwapBackend {
    /// Largest pages per request.
    fn max_cluster(&self) -> u32;
    /// [`SwapPager::start_write`].
    fn start_write(
        &mut self,
        count: u32,
        cookie: u64,
        fill: &mut dyn FnMut(u32, &mut [u8]),
    ) -> Result<(IoTag, SwapSlot), SwapError>;
    /// [`SwapPager::start_read`].
    fn start_read(&mut self, slot: SwapSlot, count: u32, cookie: u64) -> Result<IoTag, SwapError>;
    /// [`SwapPager::poll`].
    fn poll(&mut self, out: &mut Vec<SwapEvent>) -> usize;
    /// [`SwapPager::wait`].
    fn wait(&mut self);
    /// [`SwapPager::read_page`].
    fn read_page(&self, tag: IoTag, i: u32) -> &[u8];
    /// [`SwapPager::finish_read`].
    fn finish_read(&mut self, tag: IoTag);
    /// [`SwapPager::free_slots`].
    fn free_slots(&mut self, slot: SwapSlot, count: u32);
    /// The slot allocator (counters, leak checks).
    fn blist(&self) -> &Blist;
    /// Counters with slot populations refreshed.
    fn stats(&mut self) -> SwapStats;
    /// Requests in flight plus completed reads not released.
    fn busy(&self) -> usize;
    /// Slot runs whose free waits for a read.
    fn deferred_frees(&self) -> usize;
    /// The device, for downcasting (fault injection in tests).
    fn device_any(&mut self) -> &mut dyn Any;
}

impl<D: BlockDevice + 'static> SwapBackend for SwapPager<D> {
    fn max_cluster(&self) -> u32 {
        SwapPager::max_cluster(self)
    }
    fn start_write(
        &mut self,
        count: u32,
        cookie: u64,
        fill: &mut dyn FnMut(u32, &mut [u8]),
    ) -> Result<(IoTag, SwapSlot), SwapError> {
        SwapPager::start_write(self, count, cookie, fill)
    }
    fn start_read(&mut self, slot: SwapSlot, count: u32, cookie: u64) -> Result<IoTag, SwapError> {
        SwapPager::start_read(self, slot, count, cookie)
    }
    fn poll(&mut self, out: &mut Vec<SwapEvent>) -> usize {
        SwapPager::poll(self, out)
    }
    fn wait(&mut self) {
        SwapPager::wait(self)
    }
    fn read_page(&self, tag: IoTag, i: u32) -> &[u8] {
        SwapPager::read_page(self, tag, i)
    }
    fn finish_read(&mut self, tag: IoTag) {
        SwapPager::finish_read(self, tag)
    }
    fn free_slots(&mut self, slot: SwapSlot, count: u32) {
        SwapPager::free_slots(self, slot, count)
    }
    fn blist(&self) -> &Blist {
        SwapPager::blist(self)
    }
    fn stats(&mut self) -> SwapStats {
        SwapPager::stats(self).clone()
    }
    fn busy(&self) -> usize {
        SwapPager::busy(self)
    }
    fn deferred_frees(&self) -> usize {
        SwapPager::deferred_frees(self)
    }
    fn device_any(&mut self) -> &mut dyn Any {
        self.device_mut()
    }
}

/// One request in flight: its pages in page-index order.
#[derive(Clone, Debug)]
pub(crate) struct IoReq {
    tag: IoTag,
    op: IoOp,
    frames: Vec<FrameNumber>,
    slot: SwapSlot,
    /// For a page-in, the page a fault asked for (the others are read-ahead).
    wanted: Option<FrameNumber>,
    /// For a page-in, the space whose fault started it (`None`: no fault).
    by: Option<SpaceId>,
    /// For a pageout write, the quota group whose pages it writes.
    charge: Option<u32>,
}

/// A finished swap transfer, reported by [`Vm::swap_poll`]: the server
/// retries every fault that got `FaultOutcome::Wait` with this tag. A
/// fault whose wanted page failed to read then gets `Io` (the core
/// remembers the page: that one fault fails, the next one reads again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoDone {
    pub tag: IoTag,
    pub op: IoOp,
    /// `Err(VmError::Io)`: a page-in failed for the page its fault wanted
    /// or a pageout failed (its pages stay dirty and resident). For
    /// counters and logs: retrying the faults gives each its outcome.
    pub result: Result<(), VmError>,
}

/// What one pageout pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageoutReport {
    /// Pages looked at on both queues.
    pub scanned: u32,
    /// Active pages moved to the inactive queue.
    pub deactivated: u32,
    /// Clean pages freed at once.
    pub freed: u32,
    /// Dirty pages whose write was started (freed at its completion).
    pub laundering: u32,
    /// The swap device had no free slot (anonymous laundering stopped).
    pub swap_full: bool,
    /// Every staging buffer was in use: laundering stopped for this pass
    /// (poll completions, then run pageout again).
    pub io_full: bool,
    /// A page's group had no swap quota left (its pages stay resident).
    pub swap_quota: bool,
}

/// True for the errors that only mean "the device is busy now": every
/// staging buffer or every queue entry is in use; a completion ends it.
fn saturated(e: SwapError) -> bool {
    matches!(
        e,
        SwapError::NoBuffers | SwapError::Device(vm_swap::device::IoError::QueueFull)
    )
}

/// How many device polls (each after a blocking wait where the device
/// has one) a synchronous wait makes before it gives up with `Io` (a
/// device that never completes).
const WAIT_POLLS: u32 = 1 << 20;

impl Res {
    /// The oldest request in flight, if any: a fault out of memory, or
    /// one whose read cannot start, waits for it.
    pub(crate) fn oldest_io(&self) -> Option<IoTag> {
        self.io.keys().next().map(|&t| IoTag(t))
    }

    /// A pageout write of quota group `g`'s pages in flight, if any.
    pub(crate) fn group_write_in_flight(&self, g: u32) -> Option<IoTag> {
        self.io
            .values()
            .find(|r| r.op == IoOp::Write && r.charge == Some(g))
            .map(|r| r.tag)
    }

    /// A pageout write in flight (the oldest by tag), if any.
    pub(crate) fn write_in_flight(&self) -> Option<IoTag> {
        self.io
            .values()
            .find(|r| r.op == IoOp::Write)
            .map(|r| r.tag)
    }

    /// True when a swap device is attached and has no free slot: an
    /// allocation failure is then a swap shortage (`NoSwap`).
    pub(crate) fn swap_exhausted(&self) -> bool {
        self.swap
            .as_ref()
            .is_some_and(|s| s.blist().free_count() == 0)
    }

    /// Give slots dropped by object death, truncation and overwrites back
    /// to the pager. Without a pager there are none.
    #[inline]
    pub(crate) fn flush_dead_slots(&mut self) {
        if self.objects.dead_slot_count() == 0 {
            return;
        }
        let dead = self.objects.take_dead_slots();
        if let Some(sw) = self.swap.as_mut() {
            for s in dead {
                sw.free_slots(s, 1);
            }
        } else {
            debug_assert!(dead.is_empty(), "slots without a swap device");
        }
    }

    /// True when some page has to be written before it can be freed:
    /// dirty (by the emulated bit or, where the pmap keeps one, the
    /// hardware's), or without a slot holding its contents, unless
    /// `MADV_FREE` let its contents go.
    fn needs_launder<P: Pmap + ?Sized>(&self, f: FrameNumber, pmap: &P) -> bool {
        let p = self.pool.page(f);
        p.is_dirty()
            || (pmap.tracks_ref_mod() && pmap.is_modified(f))
            || (!p.flags().contains(PageFlags::FREED)
                && p.object()
                    .is_some_and(|o| self.objects.get(o).swap_slot(p.pindex()).is_none()))
    }

    /// Whether `f` was referenced since its bit was last cleared: the
    /// page's flag, or the hardware bit where the pmap tracks one.
    pub(crate) fn referenced<P: Pmap + ?Sized>(&self, f: FrameNumber, pmap: &P) -> bool {
        self.pool.page(f).flags().contains(PageFlags::REFERENCED)
            || (pmap.tracks_ref_mod() && pmap.is_referenced(f))
    }

    /// Clear `f`'s reference bit. Where the bit is emulated, `unmap` also
    /// takes the page's mappings away, so the next access faults and sets
    /// it again (`pmap_clear_reference`). The caller counts `ref_clears`.
    pub(crate) fn clear_reference<P: Pmap + ?Sized>(
        &mut self,
        f: FrameNumber,
        pmap: &mut P,
        unmap: bool,
    ) {
        self.pool.clear_flags(f, PageFlags::REFERENCED);
        if pmap.tracks_ref_mod() {
            pmap.clear_reference(f);
        } else if unmap {
            pmap.page_protect(f, Prot::NONE);
        }
    }

    /// A page the scan may free or launder now: managed, on a paging
    /// queue, not busy, held or wired.
    fn pageable(&self, f: FrameNumber) -> bool {
        let p = self.pool.page(f);
        matches!(p.queue(), PageQueue::Active | PageQueue::Inactive)
            && p.hold_count() == 0
            && p.wire_count() == 0
            && !p.flags().contains(PageFlags::BUSY)
            && self.scan_only.is_none_or(|g| {
                p.object()
                    .is_some_and(|o| self.objects.get(o).charge() == Some(g))
            })
    }

    /// Launder `f` with its dirty neighbours of the same object
    /// (`vm_pageout_clean`): one write of up to `pageout_cluster`
    /// contiguous pages. Returns the pages now under write (0: nothing
    /// started; `swap_full` set when no slot was free). Caller contract:
    /// `f` is pageable and needs laundering; a pager is attached.
    fn launder<P: Pmap + ?Sized>(
        &mut self,
        f: FrameNumber,
        pmap: &mut P,
        rep: &mut PageoutReport,
    ) -> u32 {
        let sw = self.swap.as_ref().expect("pager attached");
        let max = self.config.pageout_cluster.min(sw.max_cluster()).max(1);
        let page = self.pool.page(f);
        let (o, p) = (page.object().expect("managed page"), page.pindex());
        let obj = self.objects.get(o);
        let fits = |g: FrameNumber| {
            self.pageable(g)
                && self.needs_launder(g, pmap)
                && (self.pool.page(g).queue() == PageQueue::Inactive
                    || !self.pool.page(g).flags().contains(PageFlags::REFERENCED))
        };
        let mut lo = p;
        while p - lo + 1 < u64::from(max) && lo > 0 && obj.lookup(lo - 1).is_some_and(&fits) {
            lo -= 1;
        }
        let mut hi = p + 1;
        while hi - lo < u64::from(max) && obj.lookup(hi).is_some_and(&fits) {
            hi += 1;
        }
        let mut frames: Vec<FrameNumber> =
            (lo..hi).map(|i| obj.lookup(i).expect("resident")).collect();
        // The group's swap quota counts the slots this write will take.
        let charge = obj.charge();
        let room = self.objects.swap_room(charge);
        if room == 0 {
            rep.swap_quota = true;
            return 0;
        }
        if (frames.len() as u64) > room {
            let at = frames.iter().position(|&g| g == f).expect("victim");
            let start = at.min(frames.len() - room as usize);
            frames = frames[start..start + room as usize].to_vec();
        }
        let sw = self.swap.as_mut().expect("pager attached");
        loop {
            // Unmap before copying: a write between the copy and the
            // unmap (another CPU, or hardware modified bits) would be lost.
            for &g in &frames {
                pmap.page_protect(g, Prot::NONE);
            }
            let count = frames.len() as u32;
            let fr = &frames;
            let pm = &*pmap;
            let r = sw.start_write(count, 0, &mut |i, buf| pm.read_frame(fr[i as usize], buf));
            match r {
                Ok((tag, slot)) => {
                    for &g in &frames {
                        self.pool.start_io(g);
                        self.objects.set_busy(o, true);
                        self.busy_io.insert(g.0, tag);
                    }
                    self.objects.writing(charge, i64::from(count));
                    self.io.insert(
                        tag.0,
                        IoReq {
                            tag,
                            op: IoOp::Write,
                            frames,
                            slot,
                            wanted: None,
                            by: None,
                            charge,
                        },
                    );
                    self.stats.pdpageouts += 1;
                    return count;
                }
                Err(SwapError::NoSpace { largest_run: 0 }) => {
                    rep.swap_full = true;
                    return 0;
                }
                Err(e) if saturated(e) => {
                    rep.io_full = true;
                    return 0;
                }
                Err(SwapError::NoSpace { largest_run }) => {
                    // Keep the victim, cut the run to what fits.
                    let at = frames.iter().position(|&g| g == f).expect("victim");
                    let start = at.min(frames.len() - largest_run as usize);
                    frames = frames[start..start + largest_run as usize].to_vec();
                }
                Err(_) => return 0,
            }
        }
    }

    /// `pagein` with no frames of the group's quota kept in reserve.
    pub(crate) fn pagein_for(
        &mut self,
        o: ObjectId,
        pindex: u64,
        class: AllocClass,
        by: Option<SpaceId>,
    ) -> Result<IoTag, VmError> {
        self.pagein(o, pindex, class, by, 0)
    }

    /// Start a page-in of page `pindex` of `o` (which has a slot and is
    /// not resident) with read-ahead over device-contiguous neighbours
    /// (`swap_pager_getpages`); `by` is the space whose fault asks (a
    /// failed read fails only that space's next fault on the page), and
    /// `reserve` frames of `o`'s group's resident quota stay free after
    /// the read (for a copy-on-write copy that follows it). Returns the
    /// tag to wait for: the read's, or, while the device is saturated
    /// (every staging buffer or queue entry in use), its oldest
    /// request's, after which the caller faults again. Caller contract: a
    /// pager is attached; `class` is `Normal` for faults.
    pub(crate) fn pagein(
        &mut self,
        o: ObjectId,
        pindex: u64,
        class: AllocClass,
        by: Option<SpaceId>,
        reserve: u64,
    ) -> Result<IoTag, VmError> {
        if self.objects.take_read_failed(o, pindex, by) {
            // The read this fault waited for failed: it fails; the next
            // fault on the page reads again.
            return Err(VmError::Io);
        }
        let max = self.swap.as_ref().expect("pager attached").max_cluster();
        let obj = self.objects.get(o);
        // Sequential access reads the whole window in its direction:
        // a resident page just behind (and none just ahead) means a
        // forward scan, whose pages behind are already in (the
        // `vm_fault` sequential heuristic, for swap).
        let (behind, ahead) = (self.config.pagein_behind, self.config.pagein_ahead);
        let resident = |p: Option<u64>| p.is_some_and(|p| obj.lookup(p).is_some());
        let (before, after) = match (
            resident(pindex.checked_sub(1)),
            resident(pindex.checked_add(1)),
        ) {
            (true, false) => (0, behind + ahead),
            (false, true) => (behind + ahead, 0),
            _ => (behind, ahead),
        };
        let run = obj
            .swap()
            .cluster(pindex, before, after)
            .expect("page has a slot");
        // Narrow to the non-resident pages around `pindex`, within the
        // request limit, and to what memory and the group's resident
        // quota allow beyond the one page.
        if self.objects.resident_room(o) < 1 + reserve {
            return Err(VmError::QuotaExceeded(crate::Quota::Resident));
        }
        let spare = u64::from(
            self.pool
                .available()
                .saturating_sub(self.config.prefault_min_free),
        )
        .min(self.objects.resident_room(o).saturating_sub(1 + reserve));
        let room = |lo: u64, hi: u64| hi - lo < u64::from(max) && hi - lo <= spare;
        let (mut lo, mut hi) = (pindex, pindex + 1);
        while lo > run.pindex && room(lo, hi) && obj.lookup(lo - 1).is_none() {
            lo -= 1;
        }
        let end = run.pindex + u64::from(run.count);
        while hi < end && room(lo, hi) && obj.lookup(hi).is_none() {
            hi += 1;
        }
        let slot = SwapSlot(run.slot.0 + (lo - run.pindex) as u32);
        let mut frames = Vec::with_capacity((hi - lo) as usize);
        for i in lo..hi {
            match self.pool.alloc(o, i, class) {
                Ok(f) => frames.push(f),
                Err(e) => {
                    for f in frames {
                        self.pool.free(f);
                    }
                    return Err(e);
                }
            }
        }
        let count = frames.len() as u32;
        let sw = self.swap.as_mut().expect("pager attached");
        let tag = match sw.start_read(slot, count, 0) {
            Ok(t) => t,
            Err(e) => {
                for f in frames {
                    self.pool.free(f);
                }
                if !saturated(e) {
                    return Err(VmError::Io);
                }
                // Every staging buffer or queue entry is in use: the
                // caller waits for the oldest request and faults again
                // (a fault no longer blocks the server here).
                return self.oldest_io().ok_or(VmError::Io);
            }
        };
        let wanted = frames[(pindex - lo) as usize];
        for (k, &f) in frames.iter().enumerate() {
            self.objects.insert_page(o, lo + k as u64, f);
            self.objects.set_busy(o, true);
            self.busy_io.insert(f.0, tag);
        }
        self.io.insert(
            tag.0,
            IoReq {
                tag,
                op: IoOp::Read,
                frames,
                slot,
                wanted: Some(wanted),
                by,
                charge: None,
            },
        );
        self.stats.pageins += 1;
        Ok(tag)
    }

    /// `poll_once`, and when nothing had completed, block until something
    /// may have (the device's `wait_for_completion`; on seL4 the swap
    /// channel's notification) instead of spinning. For the synchronous
    /// waits only. Caller contract: a request is in flight.
    fn poll_or_wait<P: Pmap + ?Sized>(&mut self, pmap: &mut P) {
        if self.poll_once(pmap) == 0 {
            if let Some(sw) = self.swap.as_mut() {
                sw.wait();
            }
        }
    }

    /// Poll the device once and handle what completed
    /// (`swp_pager_async_iodone`); results queue up for `Vm::swap_poll`.
    pub(crate) fn poll_once<P: Pmap + ?Sized>(&mut self, pmap: &mut P) -> usize {
        let Some(sw) = self.swap.as_mut() else {
            return 0;
        };
        let mut events = Vec::new();
        let n = sw.poll(&mut events);
        for ev in events {
            self.complete(ev, pmap);
        }
        n
    }

    /// One completion. Pages of dead objects (orphans) are freed; a read
    /// fills and validates its pages up to the failed one and frees the
    /// rest (their slots stay); a write records its slots and frees its
    /// pages, or on failure leaves them dirty and resident.
    fn complete<P: Pmap + ?Sized>(&mut self, ev: SwapEvent, pmap: &mut P) {
        let req = self
            .io
            .remove(&ev.tag.0)
            .expect("completion of a known request");
        let failed_at = ev.result.err().map_or(u32::MAX, |i| i);
        let mut result = Ok(());
        if req.op == IoOp::Write {
            self.objects.writing(req.charge, -(req.frames.len() as i64));
        }
        for (i, &f) in req.frames.iter().enumerate() {
            let i = i as u32;
            self.busy_io.remove(&f.0);
            let ok = i < failed_at;
            if self.objects.take_orphan(f) {
                self.pool.free(f);
                if req.op == IoOp::Write && ev.result.is_ok() {
                    self.objects.push_dead_slot(SwapSlot(req.slot.0 + i));
                }
                continue;
            }
            let page = self.pool.page(f);
            let (o, p) = (page.object().expect("owned"), page.pindex());
            self.objects.set_busy(o, false);
            match req.op {
                IoOp::Read if ok => {
                    self.objects.clear_read_failed(o, p);
                    let sw = self.swap.as_ref().expect("pager attached");
                    pmap.write_frame(f, sw.read_page(ev.tag, i));
                    if Some(f) == req.wanted {
                        // Referenced, so the pageout pass that may run
                        // before the fault is retried only clears the bit
                        // (else a short pool could evict it again first).
                        self.pool.validate(f, PageFlags::REFERENCED);
                    } else {
                        self.pool.validate(f, PageFlags::empty());
                        self.pool.deactivate(f);
                    }
                    self.stats.pgswapin += 1;
                }
                IoOp::Read => {
                    if Some(f) == req.wanted {
                        result = Err(VmError::Io);
                        self.objects.mark_read_failed(o, p, req.by);
                    }
                    self.objects.remove_page(o, p);
                    self.pool.free(f);
                }
                IoOp::Write if ev.result.is_ok() => {
                    self.objects.swap_insert(o, p, SwapSlot(req.slot.0 + i));
                    self.objects.remove_page(o, p);
                    self.pool.free(f);
                    self.stats.pgswapout += 1;
                }
                IoOp::Write => {
                    // The pager marked the failed slot bad and freed the
                    // run: the page stays dirty and resident, to be
                    // laundered again elsewhere.
                    self.pool.clear_flags(f, PageFlags::BUSY);
                    self.pool.set_flags(f, PageFlags::DIRTY);
                    self.pool.deactivate(f);
                    result = Err(VmError::Io);
                }
            }
        }
        if ev.result.is_err() {
            self.stats.swap_io_errors += 1;
        }
        if req.op == IoOp::Read {
            self.swap
                .as_mut()
                .expect("pager attached")
                .finish_read(ev.tag);
        }
        self.done.push(IoDone {
            tag: ev.tag,
            op: req.op,
            result,
        });
    }

    /// Wait until request `tag` has completed. The caller looks again
    /// (a failed page-in it wanted then fails in `pagein`); `Io` only for
    /// a device that never completes. Caller contract: `tag` is in flight.
    pub(crate) fn wait_for<P: Pmap + ?Sized>(
        &mut self,
        tag: IoTag,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        let mut polls = 0;
        while self.io.contains_key(&tag.0) {
            if polls == WAIT_POLLS {
                return Err(VmError::Io);
            }
            polls += 1;
            self.poll_or_wait(pmap);
        }
        Ok(())
    }

    /// Finish every request in flight (`vm_object_pip_wait` for all):
    /// operations that move or drop many pages (fork, madvise, truncate,
    /// mlock) start from a quiet state. On seL4 this waits for the block
    /// server; without a pager it costs nothing.
    pub(crate) fn drain<P: Pmap + ?Sized>(&mut self, pmap: &mut P) {
        let mut polls = 0;
        while !self.io.is_empty() && polls < WAIT_POLLS {
            polls += 1;
            self.poll_or_wait(pmap);
        }
        self.flush_dead_slots();
    }

    /// Make every page of the window of `npages` of `chain`'s `links`
    /// that is on swap resident again, synchronously (chain merge and
    /// flatten copy what they see through those links). Fails with `Io` on a read error, `OutOfMemory` when
    /// frames run out. Caller contract: the caller holds the entry.
    pub(crate) fn swapin_chain<P: Pmap + ?Sized>(
        &mut self,
        chain: &BackingChain,
        links: core::ops::Range<usize>,
        npages: u64,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        if self.swap.is_none() {
            return Ok(());
        }
        self.drain(pmap);
        for l in &chain.links()[links] {
            let lo = l.pindex(0);
            loop {
                let obj = self.objects.get(l.object);
                let Some(p) = obj
                    .swap()
                    .range(lo..lo + npages)
                    .map(|(p, _)| p)
                    .find(|&p| obj.lookup(p).is_none())
                else {
                    break;
                };
                let tag = self.pagein_for(l.object, p, AllocClass::System, None)?;
                self.wait_for(tag, pmap)?;
            }
        }
        Ok(())
    }
}

impl Vm {
    /// Attach a swap device (`swapon`). Fails with `Busy` if one is
    /// attached. From now on ordinary faults stop allocating at the
    /// `severe` paging target (waiting for pageout writes, or failing),
    /// leaving the pages down to the reserve to the pageout path.
    /// Caller contract: `pmap` later passed to the VM implements
    /// `Pmap::read_frame`/`write_frame`.
    pub fn swap_on(&mut self, backend: Box<dyn SwapBackend>) -> Result<(), VmError> {
        if self.res.swap.is_some() {
            return Err(VmError::Busy);
        }
        self.res.swap = Some(backend);
        // Below `severe` ordinary faults wait for pageout (or fail); the
        // pages down to the reserve are the pageout path's.
        if let Some(t) = self.res.targets {
            self.res.pool.set_severe(t.severe);
        }
        Ok(())
    }

    /// The attached swap pager, if any.
    pub fn swap(&self) -> Option<&dyn SwapBackend> {
        self.res.swap.as_deref()
    }

    /// The attached device downcast to `D` (fault injection in tests).
    pub fn swap_device_mut<D: 'static>(&mut self) -> Option<&mut D> {
        self.res.swap.as_mut()?.device_any().downcast_mut::<D>()
    }

    /// Install a pluggable replacement policy (vm-swap's `ClockPolicy`,
    /// `TwoQPolicy`, `ClockProPolicy`, ...; capacity at least the pool
    /// size) in place of the built-in CLOCK over the active/inactive
    /// queues, or `None` to go back to it. Returns the previous policy.
    pub fn set_replacement_policy(
        &mut self,
        policy: Option<Box<dyn vm_swap::ReplacementPolicy>>,
    ) -> Option<Box<dyn vm_swap::ReplacementPolicy>> {
        self.res.pool.set_policy(policy)
    }

    /// Requests in flight.
    pub fn swap_io_in_flight(&self) -> usize {
        self.res.io.len()
    }

    /// True when requests finished that `swap_poll` has not reported:
    /// a synchronous wait took their completion signal, so the server
    /// must not wait for one before it retries their faults.
    pub fn swap_completions_pending(&self) -> bool {
        !self.res.done.is_empty()
    }

    /// Poll the swap device and handle completions; returns every request
    /// finished since the last call (including those finished while other
    /// operations waited for the device). The server calls it when the
    /// block server signals, then retries or fails the waiting faults.
    pub fn swap_poll<P: Pmap + ?Sized>(&mut self, pmap: &mut P) -> Vec<IoDone> {
        self.res.poll_once(pmap);
        self.res.flush_dead_slots();
        core::mem::take(&mut self.res.done)
    }

    /// Wait for every request in flight (tests, shutdown); completions are
    /// reported by the next `swap_poll`.
    pub fn swap_drain<P: Pmap + ?Sized>(&mut self, pmap: &mut P) {
        self.res.drain(pmap);
    }

    /// True when memory and swap are both exhausted (DragonFly's
    /// `vm_pageout_scan` "out of swap space" test): with no pageout write
    /// in flight (its completion would free pages), either swap is full
    /// and free pages are short of the paging target, or swap has less
    /// than one laundering cluster left and free pages are below the
    /// `minimum` target. Pageout can then free only clean pages, which
    /// their owners fault straight back in; the server's OOM killer stops
    /// `oom_victim()` instead of letting everyone thrash.
    pub fn out_of_swap(&self) -> bool {
        let Some(sw) = self.res.swap.as_ref() else {
            return false;
        };
        let free_slots = sw.blist().free_count();
        let cluster = self.res.config.pageout_cluster.min(sw.max_cluster()).max(1);
        let pressure = self.pressure();
        self.res.write_in_flight().is_none()
            && ((free_slots == 0 && pressure < Pressure::Plenty)
                || (free_slots < u64::from(cluster) && pressure <= Pressure::Minimum))
    }

    /// One pageout pass (`vm_pageout_scan`) aiming to free `want` pages:
    /// the inactive scan reactivates referenced pages, frees clean pages
    /// whose contents are on swap and launders the others in clusters;
    /// when that is short, the active scan clears reference bits
    /// (unmapping, the emulated bit) and deactivates unreferenced pages,
    /// and the inactive scan runs again. Laundered pages are freed when
    /// their writes complete. Caller contract: the server loop, between
    /// requests (typically with `want = pageout_shortage(..)`).
    pub fn pageout<P: Pmap + ?Sized>(&mut self, pmap: &mut P, want: u32) -> PageoutReport {
        let mut rep = PageoutReport::default();
        self.res.flush_dead_slots();
        self.res.stats.pdwoke += 1;
        if self.res.pool.policy().is_some() && self.res.scan_only.is_none() {
            self.res.policy_scan(pmap, want, &mut rep);
            return rep;
        }
        self.res.inactive_scan(pmap, want, &mut rep);
        let got = rep.freed + rep.laundering;
        if got < want {
            self.res.active_scan(pmap, want - got, &mut rep);
            self.res.inactive_scan(pmap, want, &mut rep);
        }
        rep
    }

    /// Make at least `need` pages available to ordinary allocations for a
    /// synchronous operation (mlock's fault-in, fork's copies): run
    /// pageout passes and wait for their writes (`vm_wait` in a loop),
    /// until enough is free or a few passes in a row gain nothing. Fails
    /// with `NoSwap` when swap is full, else `OutOfMemory`: memory and
    /// swap are then truly exhausted for this request. Works without a
    /// swap device too (it can then only free `MADV_FREE`d pages).
    pub fn reclaim<P: Pmap + ?Sized>(&mut self, need: u64, pmap: &mut P) -> Result<(), VmError> {
        let mut idle = 0;
        loop {
            let avail = u64::from(self.res.pool.available());
            if avail >= need {
                return Ok(());
            }
            let short = u32::try_from(need - avail).unwrap_or(u32::MAX);
            let want = short.max(self.pageout_shortage(true));
            self.pageout(pmap, want);
            self.res.drain(pmap);
            if u64::from(self.res.pool.available()) > avail {
                idle = 0;
                continue;
            }
            // The first passes may only clear reference bits.
            idle += 1;
            if idle == 3 {
                return Err(if self.res.swap_exhausted() {
                    VmError::NoSwap
                } else {
                    VmError::OutOfMemory
                });
            }
        }
    }

    /// Page everything on swap back in and detach the device (`swapoff`).
    /// Fails with `OutOfMemory`, changing nothing, when the pages on swap
    /// do not fit in the free pages above the reserve; with `Io` (device
    /// still attached, pages read so far resident) on a read error.
    pub fn swap_off<P: Pmap + ?Sized>(&mut self, pmap: &mut P) -> Result<(), VmError> {
        if self.res.swap.is_none() {
            return Err(VmError::InvalidArgument);
        }
        self.res.drain(pmap);
        let ids: Vec<ObjectId> = self
            .res
            .objects
            .iter()
            .filter(|(_, o)| !o.swap().is_empty())
            .map(|(id, _)| id)
            .collect();
        let need: u64 = ids
            .iter()
            .map(|&id| {
                let o = self.res.objects.get(id);
                o.swap()
                    .iter()
                    .filter(|&(p, _)| o.lookup(p).is_none())
                    .count() as u64
            })
            .sum();
        if need > u64::from(self.res.pool.available()) {
            return Err(VmError::OutOfMemory);
        }
        for id in ids {
            loop {
                let o = self.res.objects.get(id);
                let Some(p) = o
                    .swap()
                    .iter()
                    .map(|(p, _)| p)
                    .find(|&p| o.lookup(p).is_none())
                else {
                    break;
                };
                let tag = self.res.pagein_for(id, p, AllocClass::Normal, None)?;
                self.res.wait_for(tag, pmap)?;
            }
            // Every page is resident: they become dirty (their only copy)
            // and the slots go.
            let pages: Vec<FrameNumber> = self
                .res
                .objects
                .get(id)
                .pages_in(0, u64::MAX)
                .map(|(_, f)| f)
                .collect();
            for f in pages {
                self.res.pool.set_flags(f, PageFlags::DIRTY);
            }
            self.res.objects.swap_discard(id, 0, u64::MAX);
        }
        self.res.drain(pmap);
        let sw = self.res.swap.as_ref().expect("attached");
        if sw.blist().in_use() != 0 || sw.busy() != 0 {
            return Err(VmError::Busy);
        }
        self.res.swap = None;
        self.res.pool.set_severe(0);
        Ok(())
    }

    /// Check the swap accounting: every slot in use is recorded by
    /// exactly one object's metadata, a write in flight, or a pending or
    /// deferred free; every busy page belongs to a request in flight.
    /// Cost is linear in slots and pages: tests call it.
    pub fn check_swap(&self) -> Result<(), String> {
        let res = &self.res;
        let mut busy = 0usize;
        for req in res.io.values() {
            for f in &req.frames {
                if res.busy_io.get(&f.0) != Some(&req.tag) {
                    return Err(format!("{f:?} of a request not mapped to it"));
                }
                if !res.pool.page(*f).flags().contains(PageFlags::BUSY) {
                    return Err(format!("{f:?} under I/O but not busy"));
                }
                busy += 1;
            }
        }
        if busy != res.busy_io.len() {
            return Err(format!(
                "{} busy frames, {busy} in requests",
                res.busy_io.len()
            ));
        }
        let Some(sw) = res.swap.as_ref() else {
            let n: u64 = res.objects.iter().map(|(_, o)| o.swap().len()).sum();
            return if n == 0 && res.objects.dead_slot_count() == 0 {
                Ok(())
            } else {
                Err(format!("{n} slots recorded without a swap device"))
            };
        };
        let recorded: u64 = res.objects.iter().map(|(_, o)| o.swap().len()).sum();
        let writing: u64 = res
            .io
            .values()
            .filter(|r| r.op == IoOp::Write)
            .map(|r| r.frames.len() as u64)
            .sum();
        let pending = res.objects.dead_slot_count() as u64;
        let in_use = sw.blist().in_use();
        // Deferred frees are runs the pager still counts as in use.
        if recorded + writing + pending > in_use
            || (sw.deferred_frees() == 0 && recorded + writing + pending != in_use)
        {
            return Err(format!(
                "slots: {recorded} recorded + {writing} writing + {pending} pending, {in_use} in use"
            ));
        }
        Ok(())
    }
}

/// The policy's view of the VM during a scan (`PolicyHost`): reference
/// bits are the core's emulated ones, cleared by unmapping.
struct Host<'a, P: Pmap + ?Sized> {
    res: &'a mut Res,
    pmap: &'a mut P,
}

impl<P: Pmap + ?Sized> vm_swap::PolicyHost for Host<'_, P> {
    fn test_and_clear_referenced(&mut self, f: u32) -> bool {
        let f = FrameNumber(f);
        let r = self.res.referenced(f, self.pmap);
        self.res.clear_reference(f, self.pmap, r);
        self.res.stats.ref_clears += 1;
        r
    }
    fn evictable(&mut self, f: u32) -> bool {
        self.res.pageable(FrameNumber(f))
    }
}

impl Res {
    /// The pageout pass with a pluggable policy: it picks the victims,
    /// which are freed when clean with their contents on swap, laundered
    /// (with their neighbours) otherwise, or given back when neither is
    /// possible now. Caller contract: `Vm::pageout`, a policy installed.
    fn policy_scan<P: Pmap + ?Sized>(&mut self, pmap: &mut P, want: u32, rep: &mut PageoutReport) {
        let mut pol = self.pool.take_policy().expect("policy installed");
        let before = pol.stats();
        let mut victims = Vec::new();
        pol.select_victims(want, &mut Host { res: self, pmap }, &mut victims);
        let after = pol.stats();
        self.pool.put_policy(pol, &victims);
        rep.scanned += (after.scanned - before.scanned) as u32;
        rep.deactivated += (after.deactivated - before.deactivated) as u32;
        self.stats.pdscans += after.scanned - before.scanned;
        self.stats.pddeact += after.deactivated - before.deactivated;
        self.stats.pdreact += after.reactivated - before.reactivated;
        for f in victims {
            let f = FrameNumber(f);
            // A neighbour's cluster may have taken it already.
            if !self.pageable(f) {
                continue;
            }
            let o = self.pool.page(f).object().expect("managed");
            if !self.needs_launder(f, pmap) {
                pmap.page_protect(f, Prot::NONE);
                let p = self.pool.page(f).pindex();
                self.objects.remove_page(o, p);
                self.pool.free(f);
                rep.freed += 1;
                self.stats.pdfreed += 1;
                continue;
            }
            let n = if self.swap.is_none() || rep.swap_full || rep.io_full {
                0
            } else {
                self.launder(f, pmap, rep)
            };
            if n == 0 {
                self.pool.retrack(f);
            }
            rep.laundering += n;
            self.stats.pdlaunder += u64::from(n);
        }
    }

    /// The inactive scan: reactivate referenced pages, free clean ones
    /// with their contents on swap, launder the rest until `want` pages
    /// are freed or under write. Caller contract: `Vm::pageout`.
    fn inactive_scan<P: Pmap + ?Sized>(
        &mut self,
        pmap: &mut P,
        want: u32,
        rep: &mut PageoutReport,
    ) {
        let snapshot: Vec<FrameNumber> = self.pool.queue_iter(PageQueue::Inactive).collect();
        for f in snapshot {
            if rep.freed + rep.laundering >= want {
                break;
            }
            if self.pool.page(f).queue() != PageQueue::Inactive || !self.pageable(f) {
                continue;
            }
            rep.scanned += 1;
            self.stats.pdscans += 1;
            if self.referenced(f, pmap) {
                // Back to the active queue; its mappings stay.
                self.clear_reference(f, pmap, false);
                self.pool.activate(f);
                self.stats.pdreact += 1;
                continue;
            }
            let o = self.pool.page(f).object().expect("managed");
            if !self.needs_launder(f, pmap) {
                pmap.page_protect(f, Prot::NONE);
                let p = self.pool.page(f).pindex();
                self.objects.remove_page(o, p);
                self.pool.free(f);
                rep.freed += 1;
                self.stats.pdfreed += 1;
                continue;
            }
            if self.swap.is_none() || rep.swap_full || rep.io_full {
                continue;
            }
            let n = self.launder(f, pmap, rep);
            rep.laundering += n;
            self.stats.pdlaunder += u64::from(n);
        }
    }

    /// The active scan: referenced pages lose the bit (their mappings go,
    /// so the next access faults it back) and stay; unreferenced pages
    /// move to the inactive queue, up to `want` of them. Caller contract:
    /// `Vm::pageout`.
    fn active_scan<P: Pmap + ?Sized>(&mut self, pmap: &mut P, want: u32, rep: &mut PageoutReport) {
        let snapshot: Vec<FrameNumber> = self.pool.queue_iter(PageQueue::Active).collect();
        let mut moved = 0;
        for f in snapshot {
            if moved >= want {
                break;
            }
            if self.pool.page(f).queue() != PageQueue::Active || !self.pageable(f) {
                continue;
            }
            rep.scanned += 1;
            self.stats.pdscans += 1;
            if self.referenced(f, pmap) {
                self.clear_reference(f, pmap, true);
                self.stats.ref_clears += 1;
                self.pool.activate(f);
            } else {
                self.pool.deactivate(f);
                moved += 1;
                rep.deactivated += 1;
                self.stats.pddeact += 1;
            }
        }
    }
}
