//! The swap pager's I/O engine: slot runs from the blist, staging buffers, asynchronous writes and reads through a [`BlockDevice`], completion handling with bad-slot marking and deferred frees.
//!
//! It is the part of DragonFly's `swap_pager.c` that does not need pages
//! or objects (`swap_pager_putpages`/`getpages` minus the page handling,
//! `swp_pager_async_iodone`): the VM core keeps the pages, their busy
//! state and each object's [`SwapMeta`](crate::swapmeta::SwapMeta), and
//! relates completions to its pages through a caller-chosen `cookie`.
//!
//! Slot ownership: slots of a write belong to the pager until the write
//! completes successfully, then to the caller (who records them in the
//! object's `SwapMeta` and later gives them back with
//! [`SwapPager::free_slots`]). A failed write's slots are freed here, the
//! failed one marked bad, so the caller only has to leave its pages dirty.
//! Freeing slots that an in-flight read still targets is deferred until
//! the read completes, so a slot is never reused (and rewritten) while
//! the device may still be reading it.
//!
//! Locking: none; owned by the single-threaded VM server loop.

use crate::blist::{Blist, SwapSlot, BLIST_MAX_ALLOC};
use crate::counters::SwapStats;
use crate::device::{
    BlockDevice, BufferId, IoCompletion, IoError, IoOp, IoRequest, IoStatus, IoTag, FRAME_LIST_MAX,
};
use alloc::vec::Vec;
use hashbrown::HashMap;

/// Why a write or read was not started (nothing changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapError {
    /// No run of that many free slots; `largest_run` would fit (0: swap
    /// is full). The caller splits the cluster or stops laundering.
    NoSpace { largest_run: u32 },
    /// Not enough free staging buffers: poll completions and retry.
    NoBuffers,
    /// `count` is 0, above the pager's cluster limit, or (staged) above
    /// the staging window.
    BadCount,
    /// The device refused the request.
    Device(IoError),
}

/// A finished transfer, as reported by [`SwapPager::poll`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwapEvent {
    pub tag: IoTag,
    pub op: IoOp,
    /// The caller's cookie given at start.
    pub cookie: u64,
    /// First slot of the run.
    pub slot: SwapSlot,
    pub count: u32,
    /// `Err(i)`: page `i` of the run failed; pages before it were
    /// transferred. For a write the pager has already freed the run and
    /// marked slot `slot + i` bad; for a read the slots are untouched.
    pub result: Result<(), u32>,
}

#[derive(Clone, Copy, Debug)]
struct Inflight {
    req: IoRequest,
    cookie: u64,
    slot: SwapSlot,
}

/// The swap pager's device side (see the module docs).
#[derive(Debug)]
pub struct SwapPager<D: BlockDevice> {
    dev: D,
    blist: Blist,
    /// Staging-buffer allocator: a small blist over the device's window.
    staging: Blist,
    max_cluster: u32,
    inflight: HashMap<IoTag, Inflight>,
    /// Completed reads whose buffers the caller has not released yet.
    done_reads: HashMap<IoTag, Inflight>,
    /// Slot runs freed while a read of them was in flight.
    deferred: Vec<(SwapSlot, u32)>,
    completions: Vec<IoCompletion>,
    stats: SwapStats,
}

impl<D: BlockDevice> SwapPager<D> {
    /// A pager over the whole device, every slot free, clusters of at most
    /// `max_cluster` pages (capped by the blist's run limit, and by the
    /// staging window or, on a device taking frame lists, a list's size).
    pub fn new(dev: D, max_cluster: u32) -> Self {
        let blist = Blist::new_free(dev.block_count());
        let staging = Blist::new_free(u64::from(dev.buffer_count()));
        let window = if dev.frame_lists() {
            FRAME_LIST_MAX
        } else {
            dev.buffer_count()
        };
        let max_cluster = max_cluster.min(BLIST_MAX_ALLOC).min(window).max(1);
        let mut p = SwapPager {
            dev,
            blist,
            staging,
            max_cluster,
            inflight: HashMap::new(),
            done_reads: HashMap::new(),
            deferred: Vec::new(),
            completions: Vec::new(),
            stats: SwapStats::default(),
        };
        p.stats.sync_slots(&p.blist);
        p
    }

    /// The device (for tests and the server's notification handling).
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// Mutable access to the device (fault injection in tests).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// The slot allocator (read-only: counters, leak checks).
    pub fn blist(&self) -> &Blist {
        &self.blist
    }

    /// The largest cluster one request may carry.
    pub fn max_cluster(&self) -> u32 {
        self.max_cluster
    }

    /// Counters, with slot populations refreshed.
    pub fn stats(&mut self) -> &SwapStats {
        self.stats.sync_slots(&self.blist);
        &self.stats
    }

    /// Requests in flight plus completed reads not yet released.
    pub fn busy(&self) -> usize {
        self.inflight.len() + self.done_reads.len()
    }

    /// Whether the device moves pages straight to and from frames named
    /// by physical address ([`start_write_direct`](Self::start_write_direct),
    /// [`start_read_direct`](Self::start_read_direct)).
    pub fn direct(&self) -> bool {
        self.dev.frame_lists()
    }

    /// A request of `count` pages is allowed: within the cluster limit,
    /// and a staged one within the staging window.
    fn fits(&self, count: u32, direct: bool) -> bool {
        count > 0 && count <= self.max_cluster && (direct || count <= self.dev.buffer_count())
    }

    fn alloc_buffers(&mut self, count: u32) -> Result<BufferId, SwapError> {
        self.staging
            .alloc(count)
            .map(|s| BufferId(s.0))
            .ok_or(SwapError::NoBuffers)
    }

    fn free_buffers(&mut self, buf: BufferId, count: u32) {
        self.staging.free(SwapSlot(buf.0), u64::from(count));
    }

    /// Starts writing `count` pages (`swap_pager_putpages`): allocates a
    /// run of slots and staging buffers, lets `fill(i, bytes)` copy page
    /// `i` into its 4 KiB buffer, submits, and returns the tag and the
    /// first slot. Caller contract: the pages stay busy (unchanged) until
    /// the completion, and `count` ≤ [`max_cluster`](Self::max_cluster).
    pub fn start_write(
        &mut self,
        count: u32,
        cookie: u64,
        mut fill: impl FnMut(u32, &mut [u8]),
    ) -> Result<(IoTag, SwapSlot), SwapError> {
        self.write(count, cookie, None, &mut fill)
    }

    /// Starts writing the frames at physical addresses `frames` with no
    /// copy (a frame list); otherwise as [`start_write`](Self::start_write).
    /// Caller contract: [`direct`](Self::direct), and the frames stay
    /// busy (unchanged, not reused) until the completion.
    pub fn start_write_direct(
        &mut self,
        frames: &[u64],
        cookie: u64,
    ) -> Result<(IoTag, SwapSlot), SwapError> {
        self.write(frames.len() as u32, cookie, Some(frames), &mut |_, _| {})
    }

    fn write(
        &mut self,
        count: u32,
        cookie: u64,
        frames: Option<&[u64]>,
        fill: &mut dyn FnMut(u32, &mut [u8]),
    ) -> Result<(IoTag, SwapSlot), SwapError> {
        if !self.fits(count, frames.is_some()) {
            return Err(SwapError::BadCount);
        }
        let Some(slot) = self.blist.alloc(count) else {
            return Err(SwapError::NoSpace {
                largest_run: self.blist.largest_free_run(),
            });
        };
        let buf = match self.alloc_buffers(if frames.is_some() { 1 } else { count }) {
            Ok(b) => b,
            Err(e) => {
                self.blist.free(slot, u64::from(count));
                return Err(e);
            }
        };
        match frames {
            Some(list) => self.dev.write_frame_list(buf, list),
            None => {
                let bytes = self.dev.buffer_mut(buf, count);
                for (i, page) in bytes
                    .chunks_exact_mut(crate::device::BLOCK_SIZE)
                    .enumerate()
                {
                    fill(i as u32, page);
                }
            }
        }
        let req = IoRequest {
            op: IoOp::Write,
            block: slot.block(),
            count,
            buf,
            direct: frames.is_some(),
        };
        self.submit(req, slot, cookie)
            .inspect_err(|_| self.blist.free(slot, u64::from(count)))
            .map(|tag| (tag, slot))
    }

    /// Starts reading `count` pages from slot `slot` on (`swap_pager_
    /// getpages`); the completion is reported by [`poll`](Self::poll) and
    /// the data read with [`read_page`](Self::read_page) until
    /// [`finish_read`](Self::finish_read). Caller contract: the slots are
    /// the caller's (recorded in an object's swap metadata), and
    /// `count` ≤ [`max_cluster`](Self::max_cluster).
    pub fn start_read(
        &mut self,
        slot: SwapSlot,
        count: u32,
        cookie: u64,
    ) -> Result<IoTag, SwapError> {
        self.read(slot, count, cookie, None)
    }

    /// Starts reading `frames.len()` pages from slot `slot` on straight
    /// into the frames at physical addresses `frames` (a frame list; the
    /// completion needs no [`read_page`](Self::read_page) copy, only
    /// [`finish_read`](Self::finish_read)). Caller contract: as for
    /// [`start_read`](Self::start_read), [`direct`](Self::direct), and the
    /// frames stay busy (untouched, not reused) until the completion.
    pub fn start_read_direct(
        &mut self,
        slot: SwapSlot,
        frames: &[u64],
        cookie: u64,
    ) -> Result<IoTag, SwapError> {
        self.read(slot, frames.len() as u32, cookie, Some(frames))
    }

    fn read(
        &mut self,
        slot: SwapSlot,
        count: u32,
        cookie: u64,
        frames: Option<&[u64]>,
    ) -> Result<IoTag, SwapError> {
        if !self.fits(count, frames.is_some()) {
            return Err(SwapError::BadCount);
        }
        let buf = self.alloc_buffers(if frames.is_some() { 1 } else { count })?;
        if let Some(list) = frames {
            self.dev.write_frame_list(buf, list);
        }
        let req = IoRequest {
            op: IoOp::Read,
            block: slot.block(),
            count,
            buf,
            direct: frames.is_some(),
        };
        self.submit(req, slot, cookie)
    }

    fn submit(&mut self, req: IoRequest, slot: SwapSlot, cookie: u64) -> Result<IoTag, SwapError> {
        match self.dev.submit(req) {
            Ok(tag) => {
                self.stats.submitted(&req);
                self.inflight.insert(tag, Inflight { req, cookie, slot });
                Ok(tag)
            }
            Err(e) => {
                self.stats.io_rejected += 1;
                self.free_buffers(req.buf, req.buffers());
                Err(SwapError::Device(e))
            }
        }
    }

    /// Holds the device's doorbell ([`BlockDevice::hold_doorbell`]): the
    /// requests started until [`release_doorbell`](Self::release_doorbell)
    /// reach the device together.
    pub fn hold_doorbell(&mut self) {
        self.dev.hold_doorbell();
    }

    /// Rings the held doorbell for the requests started meanwhile.
    pub fn release_doorbell(&mut self) {
        self.dev.release_doorbell();
    }

    /// The device's [`BlockDevice::quiet`].
    pub fn quiet(&self) -> bool {
        self.dev.quiet()
    }

    /// The device's [`BlockDevice::end_quiet`].
    pub fn end_quiet(&mut self) -> bool {
        self.dev.end_quiet()
    }

    /// Blocks until a request in flight may have completed (the device's
    /// `wait_for_completion`); returns at once with nothing in flight.
    pub fn wait(&mut self) {
        if self.dev.in_flight() > 0 {
            self.dev.wait_for_completion();
        }
    }

    /// Collects completions into `out` (`swp_pager_async_iodone`): a
    /// failed write has its run freed and its failed slot marked bad; a
    /// write's staging buffers are released at once, a read's when the
    /// caller calls [`finish_read`](Self::finish_read). Returns how many.
    pub fn poll(&mut self, out: &mut Vec<SwapEvent>) -> usize {
        let mut done = core::mem::take(&mut self.completions);
        done.clear();
        self.dev.poll_completions(&mut done);
        let n = done.len();
        for c in &done {
            self.stats.completed(c);
            let Some(io) = self.inflight.remove(&c.tag) else {
                panic!("swap pager: completion of unknown tag {:?}", c.tag);
            };
            let result = match c.status {
                IoStatus::Ok => Ok(()),
                IoStatus::Error { block } => Err((block - io.slot.block()) as u32),
            };
            match io.req.op {
                IoOp::Write => {
                    self.free_buffers(io.req.buf, io.req.buffers());
                    if let Err(i) = result {
                        self.blist.mark_bad(SwapSlot(io.slot.0 + i), 1);
                        self.blist.free(io.slot, u64::from(io.req.count));
                    }
                }
                IoOp::Read => {
                    self.done_reads.insert(c.tag, io);
                }
            }
            out.push(SwapEvent {
                tag: c.tag,
                op: io.req.op,
                cookie: io.cookie,
                slot: io.slot,
                count: io.req.count,
                result,
            });
        }
        self.completions = done;
        if n > 0 && !self.deferred.is_empty() {
            self.run_deferred();
        }
        n
    }

    /// Bytes of page `i` of a completed read; `None` for a direct read,
    /// whose bytes are in its frames already. Caller contract: `tag` was
    /// reported by `poll` as a read and not yet finished; `i` < its count.
    pub fn read_page(&self, tag: IoTag, i: u32) -> Option<&[u8]> {
        let io = self
            .done_reads
            .get(&tag)
            .expect("read_page: not a completed read");
        assert!(i < io.req.count, "read_page: page out of range");
        (!io.req.direct).then(|| self.dev.buffer(BufferId(io.req.buf.0 + i), 1))
    }

    /// Releases a completed read's staging buffers. Caller contract: as
    /// for [`read_page`](Self::read_page).
    pub fn finish_read(&mut self, tag: IoTag) {
        let io = self
            .done_reads
            .remove(&tag)
            .expect("finish_read: not a completed read");
        self.free_buffers(io.req.buf, io.req.buffers());
    }

    /// Gives `count` slots from `slot` back (page freed, overwritten,
    /// object dead, swapoff). Deferred while a read of any of them is in
    /// flight. Caller contract: the caller owns the slots.
    pub fn free_slots(&mut self, slot: SwapSlot, count: u32) {
        if self.read_in_flight(slot, count) {
            self.deferred.push((slot, count));
        } else {
            self.blist.free(slot, u64::from(count));
        }
    }

    fn read_in_flight(&self, slot: SwapSlot, count: u32) -> bool {
        let (s, e) = (slot.block(), slot.block() + u64::from(count));
        self.inflight.values().any(|io| {
            io.req.op == IoOp::Read
                && io.slot.block() < e
                && s < io.slot.block() + u64::from(io.req.count)
        })
    }

    fn run_deferred(&mut self) {
        let pending = core::mem::take(&mut self.deferred);
        for (slot, count) in pending {
            self.free_slots(slot, count);
        }
    }

    /// Slot runs whose free waits for a read (leak checks).
    pub fn deferred_frees(&self) -> usize {
        self.deferred.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ramdisk::RamDisk;

    fn pattern(tag: u8) -> impl FnMut(u32, &mut [u8]) {
        move |i, b| b.fill(tag.wrapping_add(i as u8))
    }

    fn poll_all<D: BlockDevice>(p: &mut SwapPager<D>) -> Vec<SwapEvent> {
        let mut v = Vec::new();
        while !p.inflight.is_empty() {
            p.poll(&mut v);
        }
        v
    }

    #[test]
    fn write_then_read_back() {
        let mut p = SwapPager::new(RamDisk::new(256, 32), 16);
        let (_, slot) = p.start_write(4, 7, pattern(10)).unwrap();
        assert_eq!(p.blist().in_use(), 4);
        let ev = poll_all(&mut p);
        assert_eq!((ev[0].cookie, ev[0].slot, ev[0].result), (7, slot, Ok(())));
        let t = p.start_read(SwapSlot(slot.0 + 1), 3, 8).unwrap();
        let ev = poll_all(&mut p);
        assert_eq!((ev[0].tag, ev[0].op), (t, IoOp::Read));
        assert!(p.read_page(t, 0).unwrap().iter().all(|&b| b == 11));
        assert!(p.read_page(t, 2).unwrap().iter().all(|&b| b == 13));
        p.finish_read(t);
        p.free_slots(slot, 4);
        let st = p.stats().clone();
        assert_eq!((st.swpginuse, st.pgswapout, st.pgswapin), (0, 4, 3));
        assert_eq!((st.pageouts, st.pageins), (1, 1));
        assert_eq!(p.busy(), 0);
    }

    fn direct_pager(buffers: u32) -> (SwapPager<RamDisk>, crate::ramdisk::PhysMemory) {
        let mem = alloc::rc::Rc::new(core::cell::RefCell::new(alloc::vec![0u8; 64 * 4096]));
        let mut d = RamDisk::new(256, buffers);
        d.attach_memory(mem.clone());
        (SwapPager::new(d, 16), mem)
    }

    #[test]
    fn direct_transfers_move_frames_without_staging_copies() {
        let (mut p, mem) = direct_pager(4);
        assert!(p.direct());
        for (f, b) in [(3usize, 30u8), (9, 90), (4, 40)] {
            mem.borrow_mut()[f * 4096..][..4096].fill(b);
        }
        let (_, slot) = p
            .start_write_direct(&[3 * 4096, 9 * 4096, 4 * 4096], 1)
            .unwrap();
        // Nothing moves before the completion: a frame changed now is
        // what reaches the disk (the caller's contract forbids it).
        mem.borrow_mut()[9 * 4096] = 91;
        assert_eq!(poll_all(&mut p)[0].result, Ok(()));
        assert_eq!(p.device().peek(slot.block() + 1)[..2], [91, 90]);
        let t = p
            .start_read_direct(slot, &[20 * 4096, 21 * 4096, 7 * 4096], 2)
            .unwrap();
        assert!(mem.borrow()[20 * 4096..][..4096].iter().all(|&b| b == 0));
        assert_eq!(poll_all(&mut p)[0].result, Ok(()));
        let m = mem.borrow();
        assert!(m[20 * 4096..][..4096].iter().all(|&b| b == 30));
        assert_eq!(m[21 * 4096..][..2], [91, 90]);
        assert!(m[7 * 4096..][..4096].iter().all(|&b| b == 40));
        drop(m);
        p.finish_read(t);
        assert_eq!(p.busy(), 0);
    }

    #[test]
    fn a_direct_request_holds_one_staging_buffer() {
        // Four buffers, and eight 16-page requests in flight at once.
        let (mut p, _mem) = direct_pager(4);
        let frames: Vec<u64> = (0..16).map(|f| f * 4096).collect();
        let mut tags = Vec::new();
        for _ in 0..4 {
            tags.push(p.start_write_direct(&frames, 0).unwrap());
        }
        assert_eq!(p.start_write_direct(&frames, 0), Err(SwapError::NoBuffers));
        // The window, not the cluster limit, bounds a staged request here.
        assert_eq!(p.max_cluster(), 16);
        assert_eq!(p.start_write(5, 0, pattern(0)), Err(SwapError::BadCount));
        assert_eq!(p.start_read(SwapSlot(0), 5, 0), Err(SwapError::BadCount));
        assert_eq!(p.start_write(1, 0, pattern(0)), Err(SwapError::NoBuffers));
        let ev = poll_all(&mut p);
        assert!(ev.iter().all(|e| e.result == Ok(())));
        for (_, slot) in &tags {
            p.start_read_direct(*slot, &frames, 0).unwrap();
        }
        assert_eq!(poll_all(&mut p).len(), 4);
        assert_eq!(p.blist().in_use(), 64);
    }

    #[test]
    fn a_bad_frame_address_is_refused_whole() {
        let (mut p, mem) = direct_pager(4);
        let (_, slot) = p.start_write_direct(&[0, 4096], 0).unwrap();
        poll_all(&mut p);
        // Unaligned, and past the memory: refused, nothing moved, the
        // buffer back.
        for bad in [[8192u64, 4097], [8192, 64 * 4096]] {
            mem.borrow_mut()[8192] = 7;
            assert_eq!(
                p.start_read_direct(slot, &bad, 0),
                Err(SwapError::Device(IoError::BadBuffer))
            );
            assert_eq!(mem.borrow()[8192], 7);
        }
        assert_eq!(p.busy(), 0);
        // A device without memory takes no direct request.
        let mut plain = SwapPager::new(RamDisk::new(64, 4), 16);
        assert!(!plain.direct());
        assert_eq!(
            plain.start_read_direct(SwapSlot(0), &[0], 0),
            Err(SwapError::Device(IoError::BadBuffer))
        );
    }

    #[test]
    fn a_held_doorbell_starts_nothing_until_it_rings() {
        let mut p = SwapPager::new(RamDisk::new(256, 32), 16);
        p.hold_doorbell();
        p.start_write(4, 1, pattern(1)).unwrap();
        p.start_write(4, 2, pattern(2)).unwrap();
        let mut ev = Vec::new();
        assert_eq!(p.poll(&mut ev), 0, "the device was not told");
        p.release_doorbell();
        assert_eq!(p.poll(&mut ev), 2, "both, together");
        // Waiting rings a held doorbell first, or nothing would complete.
        p.hold_doorbell();
        p.start_write(4, 3, pattern(3)).unwrap();
        p.wait();
        assert_eq!(p.poll(&mut ev), 1);
        p.release_doorbell();
        assert_eq!(p.busy(), 0);
    }

    #[test]
    fn write_error_marks_the_slot_bad_and_frees_the_run() {
        let mut d = RamDisk::new(64, 16);
        d.fail_writes_at(2);
        let mut p = SwapPager::new(d, 16);
        let (_, slot) = p.start_write(4, 1, pattern(0)).unwrap();
        assert_eq!(slot, SwapSlot(0));
        let ev = poll_all(&mut p);
        assert_eq!(ev[0].result, Err(2));
        assert!(p.blist().is_bad(SwapSlot(2)));
        assert_eq!((p.blist().in_use(), p.blist().free_count()), (0, 63));
        // The retry gets other slots, never the bad one.
        let (_, again) = p.start_write(4, 1, pattern(0)).unwrap();
        assert_eq!(again, SwapSlot(3));
        assert_eq!(p.stats().swpgbad, 1);
    }

    #[test]
    fn swap_full_and_fragmented() {
        let mut p = SwapPager::new(RamDisk::new(20, 16), 16);
        let (_, a) = p.start_write(16, 0, pattern(0)).unwrap();
        assert_eq!(
            p.start_write(8, 0, pattern(0)),
            Err(SwapError::NoSpace { largest_run: 4 })
        );
        p.start_write(4, 0, pattern(0)).unwrap_err(); // staging window full
        poll_all(&mut p);
        p.start_write(4, 0, pattern(0)).unwrap();
        assert_eq!(
            p.start_write(1, 0, pattern(0)),
            Err(SwapError::NoSpace { largest_run: 0 })
        );
        poll_all(&mut p);
        p.free_slots(a, 16);
        assert_eq!(p.blist().in_use(), 4);
        assert_eq!(p.start_write(17, 0, pattern(0)), Err(SwapError::BadCount));
    }

    #[test]
    fn read_error_leaves_slots_alone() {
        let mut p = SwapPager::new(RamDisk::new(64, 16), 16);
        let (_, slot) = p.start_write(2, 0, pattern(5)).unwrap();
        poll_all(&mut p);
        p.device_mut().fail_next_reads(1);
        let t = p.start_read(slot, 2, 0).unwrap();
        let ev = poll_all(&mut p);
        assert_eq!(ev[0].result, Err(0));
        p.finish_read(t);
        assert_eq!(p.blist().in_use(), 2);
        let t = p.start_read(slot, 2, 0).unwrap();
        assert_eq!(poll_all(&mut p)[0].result, Ok(()));
        assert!(p.read_page(t, 1).unwrap().iter().all(|&b| b == 6));
        p.finish_read(t);
        assert_eq!(p.stats().io_read_errors, 1);
    }

    #[test]
    fn frees_wait_for_reads_in_flight() {
        let mut d = RamDisk::new(64, 16);
        d.set_delay(crate::ramdisk::Delay::Fixed(2));
        let mut p = SwapPager::new(d, 16);
        let (_, slot) = p.start_write(4, 0, pattern(1)).unwrap();
        poll_all(&mut p);
        let t = p.start_read(slot, 4, 0).unwrap();
        // The page's owner dies while its page-in is in flight.
        p.free_slots(slot, 4);
        assert_eq!((p.deferred_frees(), p.blist().in_use()), (1, 4));
        // A new write cannot land on those blocks meanwhile.
        let (_, other) = p.start_write(4, 0, pattern(9)).unwrap();
        assert_eq!(other, SwapSlot(4));
        let ev = poll_all(&mut p);
        assert_eq!(ev.len(), 2);
        assert_eq!((p.deferred_frees(), p.blist().in_use()), (0, 4));
        assert!(p.read_page(t, 3).unwrap().iter().all(|&b| b == 4));
        p.finish_read(t);
    }
}
