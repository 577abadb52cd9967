//! Swap I/O bookkeeping: attaching the pager, polling and completing requests, waiting for one synchronously, draining, and returning slots whose objects died.
//!
//! Locking: runs inside the single-threaded `Vm`. Pages under swap I/O are
//! `BUSY`, on no queue and unmapped; the request that made them busy is
//! in `Memory::io` (tag -> request), and `Memory::io_tag_of` finds it for
//! a busy frame. A completion unbusies its pages: a read validates them,
//! a write frees the clean ones (or leaves them dirty on an error).

use crate::error::VmError;
use crate::page::PageFlags;
use crate::pmap::Pmap;
use crate::swap_backend::{IoDone, SwapBackend};
use crate::types::FrameNumber;
use crate::vm::{Memory, Vm};
use alloc::boxed::Box;
use alloc::vec::Vec;
use vm_swap::trace_file::RecordKind;
use vm_swap::{IoOp, IoTag, SwapEvent, SwapSlot};

/// How many device polls (each after a blocking wait where the device
/// has one) a synchronous wait makes before it gives up with `Io` (a
/// device that never completes).
pub(crate) const WAIT_POLLS: u32 = 1 << 20;

impl Vm {
    /// Attach a swap device (`swapon`). Fails with `Busy` if one is
    /// attached. From now on ordinary faults stop allocating at the
    /// `severe` paging target (waiting for pageout writes, or failing),
    /// leaving the pages down to the reserve to the pageout path.
    /// Caller contract: `pmap` later passed to the VM implements
    /// `Pmap::read_frame`/`write_frame`.
    pub fn swap_on(&mut self, backend: Box<dyn SwapBackend>) -> Result<(), VmError> {
        if self.mem.swap.is_some() {
            return Err(VmError::Busy);
        }
        self.mem.swap = Some(backend);
        // Below `severe` ordinary faults wait for pageout (or fail); the
        // pages down to the reserve are the pageout path's.
        if let Some(t) = self.mem.targets {
            self.mem.pool.set_severe(t.severe);
        }
        Ok(())
    }

    /// The attached swap pager, if any.
    pub fn swap(&self) -> Option<&dyn SwapBackend> {
        self.mem.swap.as_deref()
    }

    /// The attached device downcast to `D` (fault injection in tests).
    pub fn swap_device_mut<D: 'static>(&mut self) -> Option<&mut D> {
        self.mem.swap.as_mut()?.device_any().downcast_mut::<D>()
    }

    /// vm-swap's counters of the attached pager (slots, I/O, errors).
    pub fn swap_stats(&mut self) -> Option<vm_swap::SwapStats> {
        self.mem.swap.as_mut().map(|s| s.stats())
    }

    /// Requests in flight.
    pub fn swap_io_in_flight(&self) -> usize {
        self.mem.io.len()
    }

    /// Whether request `tag` is still in flight: its completion has not
    /// been handled yet (by any poll, whoever's).
    pub fn io_pending(&self, tag: IoTag) -> bool {
        self.mem.io.contains_key(&tag.0)
    }

    /// True when completions may be waiting that no signal will
    /// announce: requests finished that `swap_poll` has not reported (a
    /// synchronous wait took their signal), or the device published some
    /// quietly while the server was awake (vm-swap's `device` docs, "Quiet
    /// completions"). With requests in flight this ends the device's quiet
    /// stretch. So the server asks before it sleeps and, while the answer
    /// is yes, retries its waiters (which polls): it then sleeps with
    /// every completion still to come signalled.
    pub fn swap_completions_pending(&mut self) -> bool {
        if !self.mem.done.is_empty() {
            return true;
        }
        // Nothing in flight, nothing to come, quiet or not (and a message
        // with nothing in flight reaches no further than this).
        if self.mem.io.is_empty() {
            return false;
        }
        self.end_swap_quiet()
    }

    /// `swap_completions_pending`'s device part.
    // Out of line: every message asks, and the fault path's code stays on
    // few pages (docs/performance.md, "Code pages").
    #[inline(never)]
    fn end_swap_quiet(&mut self) -> bool {
        self.mem.swap.as_mut().is_some_and(|s| s.end_quiet())
    }

    /// Whether the swap device publishes completions without a signal
    /// now: those a poll just took left no signal to clear, but for one
    /// published before the quiet stretch began (whose pending signal
    /// costs only a spurious wake-up).
    pub fn swap_quiet(&self) -> bool {
        self.mem.swap.as_ref().is_some_and(|s| s.quiet())
    }

    /// Poll the swap device and handle completions; returns every request
    /// finished since the last call (including those finished while other
    /// operations waited for the device). The server calls it when the
    /// block server signals, then retries or fails the waiting faults.
    pub fn swap_poll<P: Pmap + ?Sized>(&mut self, pmap: &mut P) -> Vec<IoDone> {
        self.mem.poll_once(pmap);
        self.mem.flush_dead_slots();
        core::mem::take(&mut self.mem.done)
    }

    /// Wait for every request in flight (tests, shutdown); completions are
    /// reported by the next `swap_poll`.
    pub fn swap_drain<P: Pmap + ?Sized>(&mut self, pmap: &mut P) {
        self.mem.drain(pmap);
    }
}

impl Memory {
    /// The tag of the request in flight (swap or pager) that frame `f` is
    /// in, if any: every `BUSY` page between calls. A scan of the
    /// requests in flight (the devices' queues bound them: a few dozen, a
    /// few hundred frames), asked only about a page found `BUSY`, rarely
    /// beside the pages every request moves, which an index by frame made
    /// pay a tree insert and remove each (docs/performance.md, "The swap
    /// rows' bound").
    // Out of line: the fault path asks only for a busy page, and its code
    // stays on few pages (docs/performance.md, "Code pages").
    #[inline(never)]
    pub(crate) fn io_tag_of(&self, f: FrameNumber) -> Option<IoTag> {
        self.io
            .values()
            .find(|r| r.frames.contains(&f))
            .map(|r| r.tag)
    }

    /// The oldest request in flight, if any: a fault out of memory, or
    /// one whose read cannot start, waits for it.
    // Out of line: asked only when memory ran out or a read cannot start;
    // the fault path's code stays on few pages (docs/performance.md,
    // "Code pages").
    #[inline(never)]
    pub(crate) fn oldest_io(&self) -> Option<IoTag> {
        self.io.keys().next().map(|&t| IoTag(t))
    }

    /// A pageout write in flight (the oldest by tag), if any.
    pub(crate) fn write_in_flight(&self) -> Option<IoTag> {
        self.io
            .values()
            .find(|r| r.op == IoOp::Write)
            .map(|r| r.tag)
    }

    /// A pageout write of quota group `g`'s pages in flight, if any.
    pub(crate) fn group_write_in_flight(&self, g: u32) -> Option<IoTag> {
        self.io
            .values()
            .find(|r| r.op == IoOp::Write && r.charge == Some(g))
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
    /// to the swap pager (without one there are none), and tell external
    /// pagers which of their objects died.
    #[inline]
    pub(crate) fn flush_dead_slots(&mut self) {
        self.flush_closed();
        if self.objects.dead_slot_count() != 0 {
            self.free_dead_slots();
        }
    }

    /// `flush_dead_slots` once there are some.
    // Out of line: every fault asks, few find any; the fault path's code
    // stays on few pages (docs/performance.md, "Code pages").
    #[inline(never)]
    fn free_dead_slots(&mut self) {
        let dead = self.objects.take_dead_slots();
        if let Some(sw) = self.swap.as_mut() {
            for s in dead {
                sw.free_slots(s, 1);
            }
        } else {
            debug_assert!(dead.is_empty(), "slots without a swap device");
        }
    }

    /// `poll_once`, and when nothing had completed, block until something
    /// may have (the device's `wait_for_completion`; on seL4 the swap
    /// channel's notification) instead of spinning. For the synchronous
    /// waits only. Caller contract: a request is in flight.
    pub(crate) fn poll_or_wait<P: Pmap + ?Sized>(&mut self, pmap: &mut P) {
        if self.poll_once(pmap) != 0 {
            return;
        }
        // Block on whichever device has a request in flight (on seL4 both
        // wait on the server's one notification).
        match self.io.values().next().map(|r| r.pager) {
            Some(None) => {
                if let Some(sw) = self.swap.as_mut() {
                    sw.wait();
                }
            }
            Some(Some(p)) => {
                if let Some(b) = self.pagers.get_mut(&p) {
                    b.wait();
                }
            }
            None => {}
        }
    }

    /// Poll the device once and handle what completed
    /// (`swp_pager_async_iodone`); results queue up for `Vm::swap_poll`.
    pub(crate) fn poll_once<P: Pmap + ?Sized>(&mut self, pmap: &mut P) -> usize {
        let mut n = self.poll_pagers(pmap);
        let Some(sw) = self.swap.as_mut() else {
            return n;
        };
        let mut events = Vec::new();
        n += sw.poll(&mut events);
        for ev in events {
            self.complete(ev, pmap);
        }
        n
    }

    /// One completion. Pages of dead objects (orphans) are freed; a read
    /// fills and validates its pages up to the failed one and frees the
    /// rest (their slots stay); a write records its slots and frees its
    /// pages, or on failure leaves them dirty and resident.
    pub(crate) fn complete<P: Pmap + ?Sized>(&mut self, ev: SwapEvent, pmap: &mut P) {
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
                    // A direct read has put the bytes in the frame.
                    if let Some(bytes) = sw.read_page(ev.tag, i) {
                        pmap.write_frame(f, bytes);
                    }
                    if Some(f) == req.wanted {
                        // Referenced, so the pageout pass that may run
                        // before the fault is retried only clears the bit
                        // (else a short pool could evict it again first).
                        self.pool.validate(f, PageFlags::REFERENCED);
                    } else {
                        // Read ahead: a fault that touches it is a hit.
                        // Not deactivated: every policy takes a
                        // deactivated page next, so a scan's read-ahead
                        // went before the scan came, to be read again
                        // (BSD's `vm_page_deactivate` queues at the
                        // inactive tail, scanned last; Linux ages it as
                        // any new page). docs/performance.md,
                        // "Read-ahead pages not deactivated".
                        self.pool.validate(f, PageFlags::READAHEAD);
                    }
                    self.stats.pgswapin += 1;
                    let by = if Some(f) == req.wanted { req.by } else { None };
                    self.trace_page(RecordKind::PageIn, by, o, p);
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
                    self.trace_page(RecordKind::PageOut, None, o, p);
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

    /// [`wait_for`](Self::wait_for), except that a pager's request is not
    /// waited for: `PagerWait` at once. An operation the server runs
    /// inside one request must not block on a pager, which may itself be
    /// blocked calling the server (docs/pager.md, "Waiting for a pager");
    /// the server runs the operation again after the pager's completion.
    /// Caller contract: `tag` is in flight, and the operation undoes what
    /// it did on error.
    pub(crate) fn wait_unless_pager<P: Pmap + ?Sized>(
        &mut self,
        tag: IoTag,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        if self.io.get(&tag.0).is_some_and(|r| r.pager.is_some()) {
            return Err(VmError::PagerWait);
        }
        self.wait_for(tag, pmap)
    }

    /// Finish every swap request in flight (`vm_object_pip_wait` for
    /// all): operations that move or drop many pages (fork, madvise,
    /// truncate, mlock) start from a quiet state. On seL4 this waits for
    /// the block server; without swap it costs nothing. Requests of
    /// external pagers are not waited for (a pager may never answer):
    /// their pages are only in pager objects, which these operations
    /// neither copy nor move, and a page that goes meanwhile is freed by
    /// its completion (an orphan).
    pub(crate) fn drain<P: Pmap + ?Sized>(&mut self, pmap: &mut P) {
        let mut polls = 0;
        while self.io.values().any(|r| r.pager.is_none()) && polls < WAIT_POLLS {
            polls += 1;
            self.poll_or_wait(pmap);
        }
        self.flush_dead_slots();
    }
}
