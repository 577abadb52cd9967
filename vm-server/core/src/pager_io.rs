//! Pager I/O (`vnode_pager_getpages`/`putpages`): objects backed by an external pager, reading their pages with read-ahead, writing their dirty pages back in clusters (for pageout and `msync`), completions, and a pager's death (docs/pager.md).
//!
//! Locking: runs inside the single-threaded `Vm`. Pages under pager I/O
//! are `BUSY`, on no queue and unmapped, exactly as under swap I/O, and
//! share its bookkeeping (`Memory::io`, `Memory::io_tag_of`); a request's
//! `IoReq::pager` says which pager serves it. The VM never waits for a
//! pager on its own: only operations a client asked for on the pager's
//! objects (a fault, `mlock`, `msync`) wait, so a pager that never
//! answers stalls its own objects' users and no one else.

use crate::error::VmError;
use crate::object::{ObjectFlags, ObjectKind};
use crate::page::{AllocClass, PageFlags, PageQueue};
use crate::pager_backend::{PagerBackend, PagerEvent, PagerRefusal, PagerResult, PAGER_TAG};
use crate::pmap::Pmap;
use crate::swap_backend::{IoDone, IoReq};
use crate::types::{FrameNumber, Handle, ObjectId, Prot, SpaceId};
use crate::vm::{Memory, Vm};
use alloc::boxed::Box;
use alloc::vec::Vec;
use vm_swap::{IoOp, IoTag, SwapSlot};

impl Vm {
    /// Attach external pager number `pager` (docs/pager.md). Fails with
    /// `Busy` if that number is attached.
    pub fn pager_attach(
        &mut self,
        pager: u32,
        backend: Box<dyn PagerBackend>,
    ) -> Result<(), VmError> {
        if self.mem.pagers.contains_key(&pager) {
            return Err(VmError::Busy);
        }
        self.mem.pagers.insert(pager, backend);
        Ok(())
    }

    /// The attached pager `pager` downcast to `D` (fault injection in tests).
    pub fn pager_device_mut<D: 'static>(&mut self, pager: u32) -> Option<&mut D> {
        self.mem
            .pagers
            .get_mut(&pager)?
            .device_any()
            .downcast_mut::<D>()
    }

    /// A new object of `size` pages whose pages pager `pager` supplies,
    /// which it calls `key`; returns a read-write handle in `space` (the
    /// pager's own). Fails with `PagerDead` when no such pager is
    /// attached, `OutOfRange` for a size above the user range, and
    /// `QuotaExceeded(Handles)` past the space's handle limit, then
    /// `QuotaExceeded(Objects)` past its group's object limit.
    pub fn pager_create(
        &mut self,
        space: SpaceId,
        pager: u32,
        key: u64,
        size: u64,
    ) -> Result<Handle, VmError> {
        self.pager_open(space, pager, key, size, Prot::READ | Prot::WRITE)
    }

    /// A handle with `rights` in `space` to pager `pager`'s object `key`
    /// of `size` pages: the live object of that pager and key when there
    /// is one of that size (so every mapping of one file shares one
    /// cache, semantics: map-shared-file), else a new one. Errors as
    /// `pager_create`, and `InvalidArgument` for rights without read.
    pub fn pager_open(
        &mut self,
        space: SpaceId,
        pager: u32,
        key: u64,
        size: u64,
        rights: Prot,
    ) -> Result<Handle, VmError> {
        self.space_ref(space)?;
        if !self.mem.pagers.contains_key(&pager) {
            return Err(VmError::PagerDead);
        }
        if size > self.mem.config.user_max >> crate::types::PAGE_SHIFT {
            return Err(VmError::OutOfRange);
        }
        if !rights.contains(Prot::READ) {
            return Err(VmError::InvalidArgument);
        }
        let live = self
            .mem
            .objects
            .iter()
            .find(|(_, o)| {
                o.kind() == ObjectKind::Paged { pager, key }
                    && o.size() == size
                    && !o.flags().contains(ObjectFlags::DEAD)
            })
            .map(|(id, _)| id);
        self.charge(space, crate::Quota::Handles, 1)?;
        let o = match live {
            Some(o) => {
                self.mem.objects.reference(o);
                o
            }
            None => {
                self.charge_to(space);
                self.mem.objects.may_allocate(1)?;
                self.mem
                    .objects
                    .allocate(ObjectKind::Paged { pager, key }, size)
            }
        };
        Ok(self.insert_handle(space, o, rights))
    }

    /// Set the size in pages of the pager object behind `handle` of
    /// `space` (the pager's: a file grew or was truncated). Pages past a
    /// smaller size go, dirty or not; pages being read are freed by their
    /// completion. Fails with `Busy` when a page past the new end is
    /// wired or being written back (try again after the completion),
    /// `InvalidArgument` for an object that is not a pager's.
    /// The caller has checked that `space` is the object's pager.
    pub fn pager_resize<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        handle: Handle,
        size: u64,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        let h = self
            .space_ref(space)?
            .handle(handle)
            .ok_or(VmError::BadHandle)?;
        let obj = self.mem.objects.get(h.object);
        if !matches!(obj.kind(), ObjectKind::Paged { .. }) {
            return Err(VmError::InvalidArgument);
        }
        if size > self.mem.config.user_max >> crate::types::PAGE_SHIFT {
            return Err(VmError::OutOfRange);
        }
        // Wired pages, and pages whose write-back is in flight (it could
        // land in the file after a later regrowth), keep the end.
        if obj.pages_in(size, u64::MAX).any(|(_, f)| {
            let p = self.mem.pool.page(f);
            p.is_wired()
                || (p.flags().contains(PageFlags::BUSY)
                    && self
                        .mem
                        .io_tag_of(f)
                        .is_some_and(|t| self.mem.io[&t.0].op == IoOp::Write))
        }) {
            return Err(VmError::Busy);
        }
        let gone: Vec<(u64, FrameNumber)> = obj.pages_in(size, u64::MAX).collect();
        for (i, f) in gone {
            pmap.page_protect(f, Prot::NONE);
            if self.mem.pool.page(f).flags().contains(PageFlags::BUSY) {
                self.mem.objects.orphan_page(h.object, i);
            } else {
                self.mem.objects.remove_page(h.object, i);
                self.mem.pool.free(f);
                self.mem.stats.pages_freed += 1;
            }
        }
        self.mem.objects.set_size(h.object, size);
        Ok(())
    }

    /// Pager `pager` is gone (its component exited or was stopped): its
    /// requests in flight fail, every object it backs becomes dead (its
    /// pages are unmapped and, unless wired or busy, freed: dirty data
    /// has nowhere to go), and later faults on them fail with
    /// `PagerDead`. Objects of other pagers and anonymous memory are not
    /// touched. Does nothing for an unknown pager.
    pub fn pager_dead<P: Pmap + ?Sized>(&mut self, pager: u32, pmap: &mut P) {
        if self.mem.pagers.remove(&pager).is_none() {
            return;
        }
        let tags: Vec<u64> = self
            .mem
            .io
            .values()
            .filter(|r| r.pager == Some(pager))
            .map(|r| r.tag.0)
            .collect();
        for tag in tags {
            let ev = PagerEvent {
                tag,
                result: PagerResult::Failed(VmError::PagerDead),
            };
            self.mem.complete_pager(ev, pmap);
        }
        let ids: Vec<ObjectId> = self
            .mem
            .objects
            .iter()
            .filter(|(_, o)| matches!(o.kind(), ObjectKind::Paged { pager: p, .. } if p == pager))
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            self.mem.objects.set_flags(id, ObjectFlags::DEAD);
            let pages: Vec<(u64, FrameNumber)> =
                self.mem.objects.get(id).pages_in(0, u64::MAX).collect();
            for (i, f) in pages {
                pmap.page_protect(f, Prot::NONE);
                let p = self.mem.pool.page(f);
                if !p.is_wired() && !p.flags().contains(PageFlags::BUSY) {
                    self.mem.objects.remove_page(id, i);
                    self.mem.pool.free(f);
                    self.mem.stats.pages_freed += 1;
                }
            }
        }
    }
}

impl Memory {
    /// The pager serving object `o`, with the object's key: `PagerDead`
    /// when it is gone. The caller holds a reference to `o`.
    fn pager_of(&self, o: ObjectId) -> Result<(u32, u64), VmError> {
        let obj = self.objects.get(o);
        match obj.kind() {
            ObjectKind::Paged { pager, key }
                if !obj.flags().contains(ObjectFlags::DEAD) && self.pagers.contains_key(&pager) =>
            {
                Ok((pager, key))
            }
            ObjectKind::Paged { .. } => Err(VmError::PagerDead),
            _ => Err(VmError::InvalidArgument),
        }
    }

    /// A fresh tag for a pager request.
    fn pager_tag(&mut self) -> IoTag {
        self.next_pager_tag += 1;
        IoTag(PAGER_TAG | self.next_pager_tag)
    }

    /// The oldest request of pager `pager` in flight, if any.
    fn oldest_pager_io(&self, pager: u32) -> Option<IoTag> {
        self.io
            .values()
            .find(|r| r.pager == Some(pager))
            .map(|r| r.tag)
    }

    /// Start reading page `pindex` of pager object `o` (not resident,
    /// below its size) with read-ahead over the non-resident pages
    /// around it (`vnode_pager_getpages`); `by` and `reserve` as for
    /// `pagein`. Returns the tag to wait for: the read's, or while the
    /// pager's channel is full its oldest request's, after which the
    /// caller faults again. Fails with `PagerDead` when the pager is gone
    /// and with `Io` for the fault whose read failed.
    pub(crate) fn pager_read(
        &mut self,
        o: ObjectId,
        pindex: u64,
        class: AllocClass,
        by: Option<SpaceId>,
        reserve: u64,
    ) -> Result<IoTag, VmError> {
        if self.objects.take_read_failed(o, pindex, by) {
            return Err(VmError::Io);
        }
        let (pager, key) = self.pager_of(o)?;
        let max = self.pagers[&pager].max_cluster().max(1);
        let spare = self.read_spare(o, reserve)?;
        let obj = self.objects.get(o);
        let (behind, ahead) = (
            u64::from(self.config.pagein_behind),
            u64::from(self.config.pagein_ahead),
        );
        let room = |lo: u64, hi: u64| hi - lo < u64::from(max) && hi - lo <= spare;
        let (mut lo, mut hi) = (pindex, pindex + 1);
        while lo > 0 && pindex - lo < behind && room(lo, hi) && obj.lookup(lo - 1).is_none() {
            lo -= 1;
        }
        while hi < obj.size() && hi - pindex <= ahead && room(lo, hi) && obj.lookup(hi).is_none() {
            hi += 1;
        }
        let frames = self.alloc_window(o, lo, hi, class)?;
        let tag = self.pager_tag();
        let count = frames.len() as u32;
        let backend = self.pagers.get_mut(&pager).expect("checked");
        if let Err(refusal) = backend.start_read(key, lo, count, tag.0) {
            for f in frames {
                self.pool.free(f);
            }
            return match refusal {
                PagerRefusal::Busy => self.oldest_pager_io(pager).ok_or(VmError::Io),
                PagerRefusal::Failed => Err(VmError::Io),
            };
        }
        self.track_read(
            o,
            lo,
            Some(pindex),
            frames,
            tag,
            SwapSlot(0),
            Some(pager),
            by,
        );
        self.stats.pager_reads += 1;
        Ok(tag)
    }

    /// Write the dirty page `f` of a pager object back with its dirty
    /// neighbours (`vnode_pager_putpages`, clustered as `launder`), busy
    /// until the pager answers. `evict` (pageout): pageable pages only,
    /// unmapped, freed when written. Otherwise (`msync`): wired pages
    /// too, write-protected rather than unmapped (reads go on, a write
    /// waits for the completion), resident and clean when written.
    /// Returns the request's tag, or `None` when the pager's channel is
    /// full (`Err(PagerDead)` when the pager is gone).
    /// Caller contract: `f` is a dirty page of a pager object, not busy
    /// or held, and not wired when `evict`.
    pub(crate) fn pager_write<P: Pmap + ?Sized>(
        &mut self,
        f: FrameNumber,
        pmap: &mut P,
        evict: bool,
    ) -> Result<Option<IoTag>, VmError> {
        let page = self.pool.page(f);
        let (o, p) = (page.object().expect("managed page"), page.pindex());
        let (pager, key) = self.pager_of(o)?;
        let max = self
            .config
            .pageout_cluster
            .min(self.pagers[&pager].max_cluster())
            .max(1);
        let obj = self.objects.get(o);
        let fits = |g: FrameNumber| {
            let pg = self.pool.page(g);
            self.modified(g, pmap)
                && pg.hold_count() == 0
                && !pg.flags().contains(PageFlags::BUSY)
                && (!evict || (!pg.is_wired() && pg.queue() == PageQueue::Paging))
        };
        let mut lo = p;
        while p - lo + 1 < u64::from(max) && lo > 0 && obj.lookup(lo - 1).is_some_and(&fits) {
            lo -= 1;
        }
        let mut hi = p + 1;
        while hi - lo < u64::from(max) && obj.lookup(hi).is_some_and(&fits) {
            hi += 1;
        }
        let frames: Vec<FrameNumber> = (lo..hi).map(|i| obj.lookup(i).expect("resident")).collect();
        // Unmap (or write-protect) before copying: a write between the
        // copy and the protection would be lost.
        let keep = if evict {
            Prot::NONE
        } else {
            Prot::READ | Prot::EXEC
        };
        for &g in &frames {
            pmap.page_protect(g, keep);
        }
        let tag = self.pager_tag();
        let count = frames.len() as u32;
        let pm = &*pmap;
        let fr = &frames;
        let backend = self.pagers.get_mut(&pager).expect("checked");
        match backend.start_write(key, lo, count, tag.0, &mut |i, buf| {
            pm.read_frame(fr[i as usize], buf)
        }) {
            Ok(()) => {}
            Err(PagerRefusal::Busy) => return Ok(None),
            Err(PagerRefusal::Failed) => return Err(VmError::Io),
        }
        for &g in &frames {
            self.pool.start_io(g);
            self.objects.set_busy(o, true);
        }
        self.io.insert(
            tag.0,
            IoReq {
                tag,
                op: IoOp::Write,
                frames,
                slot: SwapSlot(0),
                wanted: None,
                by: None,
                charge: None,
                pager: Some(pager),
                evict,
            },
        );
        self.stats.pager_writes += 1;
        Ok(Some(tag))
    }

    /// Start writing back the dirty pages of pager object `o` in page
    /// window `[lo, hi)` (clusters as `pager_write`, kept resident).
    /// Returns a tag to wait for while any page of the window is under a
    /// write (or the pager's channel was full): `None` when every page
    /// dirty now is written. `PagerDead` when the pager is gone.
    /// The caller holds a reference to `o`.
    pub(crate) fn write_back<P: Pmap + ?Sized>(
        &mut self,
        o: ObjectId,
        lo: u64,
        hi: u64,
        pmap: &mut P,
    ) -> Result<Option<IoTag>, VmError> {
        self.pager_of(o)?;
        let mut wait = None;
        let pages: Vec<FrameNumber> = self
            .objects
            .get(o)
            .pages_in(lo, hi)
            .map(|(_, f)| f)
            .collect();
        for f in pages {
            let p = self.pool.page(f);
            if p.flags().contains(PageFlags::BUSY) {
                // Under a read or an earlier write: wait for it (a busy
                // page is always in a request; one scan per call at most).
                if wait.is_none() {
                    wait = self.io_tag_of(f);
                }
                continue;
            }
            if !self.modified(f, pmap) || p.hold_count() > 0 {
                continue;
            }
            match self.pager_write(f, pmap, false)? {
                Some(tag) => {
                    wait.get_or_insert(tag);
                }
                None => {
                    // The channel is full: wait for its oldest request.
                    let (pager, _) = self.pager_of(o)?;
                    return Ok(self.oldest_pager_io(pager).or(wait));
                }
            }
        }
        Ok(wait)
    }

    /// Drop the clean, unused pages of pager object `o` in `[lo, hi)`
    /// from the cache (`msync(INVALIDATE)`): every mapping of them goes,
    /// and the next access reads the pager again. Dirty, wired, held and
    /// busy pages stay. The caller holds a reference to `o`.
    pub(crate) fn drop_clean<P: Pmap + ?Sized>(
        &mut self,
        o: ObjectId,
        lo: u64,
        hi: u64,
        pmap: &mut P,
    ) {
        let pages: Vec<(u64, FrameNumber)> = self.objects.get(o).pages_in(lo, hi).collect();
        for (i, f) in pages {
            let p = self.pool.page(f);
            if self.modified(f, pmap)
                || p.is_wired()
                || p.hold_count() > 0
                || p.flags().contains(PageFlags::BUSY)
            {
                continue;
            }
            pmap.page_protect(f, Prot::NONE);
            self.objects.remove_page(o, i);
            self.pool.free(f);
            self.stats.pages_freed += 1;
        }
    }

    /// Poll every attached pager once and handle what finished; returns
    /// how many requests finished.
    pub(crate) fn poll_pagers<P: Pmap + ?Sized>(&mut self, pmap: &mut P) -> usize {
        let mut events = Vec::new();
        for backend in self.pagers.values_mut() {
            backend.poll(&mut events);
        }
        let n = events.len();
        for ev in events {
            self.complete_pager(ev, pmap);
        }
        self.flush_closed();
        n
    }

    /// Tell pagers about their objects that died.
    pub(crate) fn flush_closed(&mut self) {
        for (pager, key) in self.objects.take_closed() {
            if let Some(b) = self.pagers.get_mut(&pager) {
                b.close(key);
            }
        }
    }

    /// One pager completion. An event for no request in flight is
    /// ignored (the backend checks what its pager sends, but the core
    /// does not rely on it). A page-in fills and validates its pages
    /// (`Supplied`: the pager's data; `Zero`: zeros) or, failed, frees
    /// them and fails the fault that wanted the page; a write-back makes
    /// its pages clean (freeing them when `evict`) or, failed, leaves
    /// them dirty and marks the object for the next `msync`.
    pub(crate) fn complete_pager<P: Pmap + ?Sized>(&mut self, ev: PagerEvent, pmap: &mut P) {
        let Some(req) = self.io.get(&ev.tag) else {
            return;
        };
        let Some(pager) = req.pager else {
            return;
        };
        // A page-in answered `Written` (or a write `Supplied`) is a
        // malformed answer: it fails.
        let result = match (req.op, ev.result) {
            (IoOp::Read, r @ (PagerResult::Supplied | PagerResult::Zero)) => r,
            (IoOp::Write, PagerResult::Written) => PagerResult::Written,
            (_, PagerResult::Failed(e)) => PagerResult::Failed(e),
            _ => PagerResult::Failed(VmError::Io),
        };
        let req = self.io.remove(&ev.tag).expect("checked");
        let mut done = Ok(());
        for (i, &f) in req.frames.iter().enumerate() {
            if self.objects.take_orphan(f) {
                self.pool.free(f);
                continue;
            }
            let page = self.pool.page(f);
            let (o, p) = (page.object().expect("owned"), page.pindex());
            self.objects.set_busy(o, false);
            match result {
                PagerResult::Supplied | PagerResult::Zero => {
                    self.objects.clear_read_failed(o, p);
                    if result == PagerResult::Supplied {
                        let b = self.pagers.get(&pager).expect("attached");
                        pmap.write_frame(f, b.read_page(ev.tag, i as u32));
                    } else {
                        pmap.zero_page(f);
                    }
                    if Some(f) == req.wanted {
                        // As for swap: referenced, so a pageout before the
                        // retried fault only clears the bit.
                        self.pool.validate(f, PageFlags::REFERENCED);
                    } else {
                        self.pool.validate(f, PageFlags::empty());
                        self.pool.deactivate(f);
                    }
                    self.stats.pager_pages_in += 1;
                    let by = if Some(f) == req.wanted { req.by } else { None };
                    self.trace_page(vm_swap::trace_file::RecordKind::PageIn, by, o, p);
                }
                PagerResult::Failed(e) if req.op == IoOp::Read => {
                    if Some(f) == req.wanted {
                        done = Err(e);
                        self.objects.mark_read_failed(o, p, req.by);
                    }
                    self.objects.remove_page(o, p);
                    self.pool.free(f);
                }
                PagerResult::Written => {
                    self.pool.clear_flags(f, PageFlags::DIRTY);
                    self.stats.pager_pages_out += 1;
                    if req.evict {
                        self.pool.clear_flags(f, PageFlags::BUSY);
                        self.objects.remove_page(o, p);
                        self.pool.free(f);
                    } else {
                        self.pool.end_io(f);
                    }
                }
                PagerResult::Failed(e) => {
                    // The data is still only here: keep it dirty for the
                    // next write-back, and tell the next msync.
                    self.pool.set_flags(f, PageFlags::DIRTY);
                    self.pool.end_io(f);
                    self.objects.set_flags(o, ObjectFlags::WRITE_ERROR);
                    done = Err(e);
                }
            }
        }
        if req.op == IoOp::Read && result == PagerResult::Supplied {
            if let Some(b) = self.pagers.get_mut(&pager) {
                b.finish_read(ev.tag);
            }
        }
        if done.is_err() {
            self.stats.pager_io_errors += 1;
        }
        self.done.push(IoDone {
            tag: IoTag(ev.tag),
            op: req.op,
            result: done,
        });
    }
}
