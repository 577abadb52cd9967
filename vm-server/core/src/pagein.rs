//! Page-in (`swap_pager_getpages` with read-ahead): start the read of a page on swap and its device-contiguous neighbours (for a fault, also the window's runs past resident pages), page in a whole chain synchronously, and swapoff.
//!
//! Locking: runs inside the single-threaded `Vm`. A page being read is
//! `BUSY` and inserted in its object, so a second fault finds it and
//! waits on the same tag.

use crate::chain::BackingChain;
use crate::error::VmError;
use crate::page::{AllocClass, PageFlags};
use crate::pmap::Pmap;
use crate::swap_backend::{saturated, IoReq, SwapBackend};
use crate::types::{FrameNumber, ObjectId, SpaceId};
use crate::vm::{Memory, Vm};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use vm_swap::{IoOp, IoTag, SwapSlot};

/// Swap read-ahead's state (one for the VM, as Linux keeps
/// `swapin_readahead_hits` global): the window grows with the read-ahead
/// pages faults touched since it was last sized and halves without them
/// (Linux's `__swapin_nr_pages`), and a marker page in the last window
/// starts the next one asynchronously when a fault touches it
/// (DragonFly's `PG_RAM`); that window doubles, since the scan went on
/// into the read-ahead (Linux's `get_next_ra_size`). A window spans
/// resident pages: its non-resident runs go to the device as one request
/// each, under one doorbell (the policy keeps some pages of a scanned
/// region resident, and a window that stopped at each cost a doorbell
/// every 8 pages or so: docs/performance.md, "Read-ahead across resident
/// pages"). One marker: of several scans at once only the latest reads
/// ahead asynchronously; the others read at their faults.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReadAhead {
    /// Read-ahead pages touched since the window was last sized.
    hits: u32,
    /// The last window, in pages.
    window: u32,
    /// Where the last window was sized for.
    last: Option<(ObjectId, u64)>,
    /// Touching this page starts the next window.
    marker: Option<Marker>,
}

/// DragonFly's `PG_RAM`, kept beside the pages (one at a time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Marker {
    object: ObjectId,
    pindex: u64,
    /// The first page of the next window (`u64::MAX`: none).
    next: u64,
    forward: bool,
}

impl ReadAhead {
    /// The window for a read of `pindex` of `o`, at most `limit` pages:
    /// hits + 2 rounded up to a power of two; without hits 2 next to the
    /// last read and 1 elsewhere; never below half the last window.
    fn size(&mut self, o: ObjectId, pindex: u64, limit: u32) -> u32 {
        let hits = core::mem::take(&mut self.hits);
        let pages = if hits > 0 {
            hits.saturating_add(2)
                .checked_next_power_of_two()
                .unwrap_or(u32::MAX)
        } else if self
            .last
            .is_some_and(|(lo, lp)| lo == o && lp.abs_diff(pindex) <= 1)
        {
            2
        } else {
            1
        };
        let pages = pages.min(limit).max(self.window / 2).clamp(1, limit);
        self.window = pages;
        self.last = Some((o, pindex));
        pages
    }

    /// The window after a marker: twice the last, at least what
    /// [`size`](Self::size) gives, at most `limit` pages.
    fn grow(&mut self, o: ObjectId, pindex: u64, limit: u32) -> u32 {
        let doubled = self.window.saturating_mul(2);
        let pages = self.size(o, pindex, limit).max(doubled).clamp(1, limit);
        self.window = pages;
        pages
    }
}

impl Memory {
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
    /// (`swap_pager_getpages`), and for a fault the window's other runs;
    /// `by` is the space whose fault asks (a
    /// failed read fails only that space's next fault on the page), and
    /// `reserve` frames of `o`'s group's resident quota stay free after
    /// the read (for a copy-on-write copy that follows it). The window is
    /// adaptive ([`ReadAhead`]), and for a fault spans resident pages
    /// (more requests, under one doorbell). Returns the tag to wait for: the read's,
    /// or, while the device is saturated (every staging buffer or queue
    /// entry in use), its oldest request's, after which the caller faults
    /// again. Caller contract: a pager is attached; `class` is `Normal`
    /// for faults.
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
        let (behind, ahead) = (self.config.pagein_behind, self.config.pagein_ahead);
        let adaptive = self.config.pagein_adaptive;
        let win = if adaptive {
            let limit = self.readahead_limit();
            self.readahead.size(o, pindex, limit)
        } else {
            behind + ahead + 1
        };
        let obj = self.objects.get(o);
        // Sequential access reads the whole window in its direction:
        // a resident page just behind (and none just ahead) means a
        // forward scan, whose pages behind are already in (the
        // `vm_fault` sequential heuristic, for swap).
        let resident = |p: Option<u64>| p.is_some_and(|p| obj.lookup(p).is_some());
        let (before, after) = match (
            resident(pindex.checked_sub(1)),
            resident(pindex.checked_add(1)),
        ) {
            (true, false) => (0, win - 1),
            (false, true) => (win - 1, 0),
            _ if !adaptive => (behind, ahead),
            _ => {
                let before = ((win - 1) / 2).min(behind);
                (before, (win - 1 - before).min(ahead))
            }
        };
        let spare = self.read_spare(o, reserve)?;
        self.swap.as_mut().expect("pager attached").hold_doorbell();
        let read = match self.read_window(o, pindex, before, after, spare, class, true, by) {
            Ok((tag, lo, hi)) => {
                // Only a fault's page-in (`by`) reads past its own request:
                // `swapin_chain` and swapoff wait for that request and then
                // take every page they find resident as read, so no read
                // of theirs may still be in flight.
                if adaptive && by.is_some() {
                    let window = pindex.saturating_sub(u64::from(before))
                        ..pindex.saturating_add(u64::from(after) + 1);
                    self.read_ahead_around(o, pindex, (lo, hi), window, reserve, class);
                }
                Ok(tag)
            }
            Err(Some(e)) => Err(e),
            // Every staging buffer or queue entry is in use: the caller
            // waits for the oldest request and faults again (a fault no
            // longer blocks the server here).
            Err(None) => self.oldest_io().ok_or(VmError::Io),
        };
        self.swap
            .as_mut()
            .expect("pager attached")
            .release_doorbell();
        read
    }

    /// The rest of a fault's adaptive `window` around `pindex`, after the
    /// fault's own read of `lo..hi` (which holds `pindex`): the window's
    /// non-resident runs on both sides, read ahead; then the marker on the
    /// first page read ahead in the scan's direction (forward first), the
    /// next window starting past the last page read that way. Caller
    /// contract: the doorbell is held.
    fn read_ahead_around(
        &mut self,
        o: ObjectId,
        pindex: u64,
        (lo, hi): (u64, u64),
        window: core::ops::Range<u64>,
        reserve: u64,
        class: AllocClass,
    ) {
        let ahead = self.read_ahead_range(o, hi..window.end, reserve, class);
        let behind = self.read_ahead_range(o, window.start..lo, reserve, class);
        let forward = hi > pindex + 1 || ahead.is_some();
        self.readahead.marker = if forward {
            Some(Marker {
                object: o,
                pindex: if hi > pindex + 1 {
                    pindex + 1
                } else {
                    ahead.as_ref().map_or(hi, |r| r.start)
                },
                next: ahead.map_or(hi, |r| r.end),
                forward: true,
            })
        } else if lo < pindex || behind.is_some() {
            let first = if lo < pindex {
                pindex - 1
            } else {
                behind.as_ref().map_or(lo, |r| r.end) - 1
            };
            Some(Marker {
                object: o,
                pindex: first,
                next: behind.map_or(lo, |r| r.start).wrapping_sub(1),
                forward: false,
            })
        } else {
            None
        };
    }

    /// Read ahead the pages of `range` of `o` that are on swap and not
    /// resident, one request per run (split where a page is resident,
    /// the device's run of slots breaks or the request limit is reached),
    /// while memory and the group's resident quota leave frames beyond
    /// `reserve` (see [`read_spare`](Self::read_spare)). Returns the pages
    /// from the first read to the end of the last, `None` if none was.
    /// Caller contract: the doorbell is held, so the requests reach the
    /// device together.
    fn read_ahead_range(
        &mut self,
        o: ObjectId,
        range: core::ops::Range<u64>,
        reserve: u64,
        class: AllocClass,
    ) -> Option<core::ops::Range<u64>> {
        let mut read: Option<core::ops::Range<u64>> = None;
        let mut p = range.start;
        while p < range.end {
            let obj = self.objects.get(o);
            let Some(q) =
                (p..range.end).find(|&q| obj.lookup(q).is_none() && obj.swap().lookup(q).is_some())
            else {
                break;
            };
            // Frames for the pages read, none for a fault's: `spare`
            // counts those beyond one.
            let spare = match self.read_spare(o, reserve) {
                Ok(s) if s > 0 => s,
                _ => break,
            };
            let after = u32::try_from(range.end - q - 1).unwrap_or(u32::MAX);
            let Ok((_, lo, hi)) = self.read_window(o, q, 0, after, spare - 1, class, false, None)
            else {
                break;
            };
            read = Some(read.map_or(lo, |r| r.start)..hi);
            p = hi;
        }
        read
    }

    /// The largest adaptive read-ahead window (`pagein_window`).
    fn readahead_limit(&self) -> u32 {
        self.config.pagein_window.max(1)
    }

    /// Read the non-resident pages of `o` around `pindex` (up to `before`
    /// pages before and `after` after it, device-contiguous, within the
    /// request limit and `spare` frames beyond the one page), as one
    /// request. `wanted`: a fault waits for `pindex` (else it is read
    /// ahead too, and a failed read fails nobody). Returns the tag and the
    /// pages read, `lo..hi`. `Err(None)`: the device is saturated; nothing
    /// changed on any error. Caller contract: `pindex` has a slot and is
    /// not resident; a pager is attached.
    #[allow(clippy::too_many_arguments)]
    fn read_window(
        &mut self,
        o: ObjectId,
        pindex: u64,
        before: u32,
        after: u32,
        spare: u64,
        class: AllocClass,
        wanted: bool,
        by: Option<SpaceId>,
    ) -> Result<(IoTag, u64, u64), Option<VmError>> {
        let max = self.swap.as_ref().expect("pager attached").max_cluster();
        let obj = self.objects.get(o);
        let run = obj
            .swap()
            .cluster(pindex, before, after)
            .expect("page has a slot");
        // Narrow to the non-resident pages around `pindex`, within the
        // request limit, and to what memory and the group's resident
        // quota allow beyond the one page.
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
        let frames = self.alloc_window(o, lo, hi, class).map_err(Some)?;
        let sw = self.swap.as_mut().expect("pager attached");
        let tag = match sw.start_read(slot, &frames, 0) {
            Ok(t) => t,
            Err(e) => {
                for f in frames {
                    self.pool.free(f);
                }
                return Err((!saturated(e)).then_some(VmError::Io));
            }
        };
        let want = wanted.then_some(pindex);
        self.track_read(o, lo, want, frames, tag, slot, None, by);
        Ok((tag, lo, hi))
    }

    /// A fault touched `f` (entered it in a page table): if it was read
    /// ahead, count the hit (the next window grows), and if it is the
    /// marker, start the next window without waiting for it. Caller
    /// contract: after `f` is entered, from the fault path or fault-around.
    // The check in line, the rest out: every fault asks, few pages were
    // read ahead, and a call is two block lookups under TCG
    // (docs/performance.md, "Data pages of a fault").
    #[inline(always)]
    pub(crate) fn readahead_touched(&mut self, f: FrameNumber) {
        if self.pool.page(f).flags().contains(PageFlags::READAHEAD) {
            self.readahead_hit(f);
        }
    }

    /// `readahead_touched` of a page that was read ahead.
    #[inline(never)]
    fn readahead_hit(&mut self, f: FrameNumber) {
        let page = self.pool.page(f);
        let (o, p) = (page.object(), page.pindex());
        self.pool.clear_flags(f, PageFlags::READAHEAD);
        if !self.config.pagein_adaptive {
            return;
        }
        self.readahead.hits = self.readahead.hits.saturating_add(1);
        let Some(m) = self.readahead.marker else {
            return;
        };
        if Some(m.object) != o || m.pindex != p || self.swap.is_none() {
            return;
        }
        self.readahead.marker = None;
        self.readahead_async(m);
    }

    /// Start the window after marker `m` asynchronously: [`ReadAhead::grow`]
    /// pages from `m.next` on in `m`'s direction, its pages on swap and
    /// not resident read ahead under one doorbell, with frames to spare;
    /// the marker then moves to the first page read in that direction.
    /// Nothing read: no marker, and the next fault reads.
    fn readahead_async(&mut self, m: Marker) {
        if m.next == u64::MAX {
            return;
        }
        let limit = self.readahead_limit();
        let win = u64::from(self.readahead.grow(m.object, m.next, limit));
        let range = if m.forward {
            m.next..m.next.saturating_add(win)
        } else {
            m.next.saturating_sub(win - 1)..m.next + 1
        };
        let sw = self.swap.as_mut().expect("marker set with a pager");
        sw.hold_doorbell();
        let read = self.read_ahead_range(m.object, range, 0, AllocClass::Normal);
        self.swap
            .as_mut()
            .expect("pager attached")
            .release_doorbell();
        self.readahead.marker = read.map(|r| Marker {
            object: m.object,
            pindex: if m.forward { r.start } else { r.end - 1 },
            next: if m.forward {
                r.end
            } else {
                r.start.wrapping_sub(1)
            },
            forward: m.forward,
        });
    }

    /// Frames a read for `o` may take beyond the wanted page: what memory
    /// above `prefault_min_free` and the group's resident quota leave
    /// after `1 + reserve`. `QuotaExceeded(Resident)` when not even the
    /// wanted page and the reserve fit.
    pub(crate) fn read_spare(&self, o: ObjectId, reserve: u64) -> Result<u64, VmError> {
        let room = self.objects.resident_room(o);
        if room < 1 + reserve {
            return Err(VmError::QuotaExceeded(crate::Quota::Resident));
        }
        let free = self
            .pool
            .available()
            .saturating_sub(self.config.prefault_min_free);
        Ok(u64::from(free).min(room - (1 + reserve)))
    }

    /// A frame for each page `lo..hi` of `o`, or the error with none
    /// taken.
    pub(crate) fn alloc_window(
        &mut self,
        o: ObjectId,
        lo: u64,
        hi: u64,
        class: AllocClass,
    ) -> Result<Vec<FrameNumber>, VmError> {
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
        Ok(frames)
    }

    /// Enter the frames of a started read as busy pages `lo..` of `o`
    /// and record the request (`slot` for swap, `pager` for a pager's),
    /// `wanted` being the page a fault wants (`None`: all read ahead).
    /// Caller contract: the read `tag` was accepted by its device and the
    /// pages are not resident.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn track_read(
        &mut self,
        o: ObjectId,
        lo: u64,
        wanted: Option<u64>,
        frames: Vec<FrameNumber>,
        tag: IoTag,
        slot: SwapSlot,
        pager: Option<u32>,
        by: Option<SpaceId>,
    ) {
        let wanted = wanted.map(|p| frames[(p - lo) as usize]);
        for (k, &f) in frames.iter().enumerate() {
            self.objects.insert_page(o, lo + k as u64, f);
            self.objects.set_busy(o, true);
        }
        self.io.insert(
            tag.0,
            IoReq {
                tag,
                op: IoOp::Read,
                frames,
                slot,
                wanted,
                by,
                charge: None,
                pager,
                evict: false,
            },
        );
        self.stats.pageins += 1;
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
    /// Page everything on swap back in and detach the device (`swapoff`);
    /// returns the detached backend, which `swap_on` attaches again.
    /// Synchronous: it waits for the I/O in flight and for every read.
    /// Fails with `InvalidArgument` when no device is attached; with
    /// `OutOfMemory`, changing nothing, when the pages on swap do not fit
    /// in the free pages above the reserve, or a quota group's pages on
    /// swap do not fit in what its resident limit leaves (semantics:
    /// swapctl-off-nomem); with `Io` (device still attached, pages read so
    /// far resident) on a read error.
    pub fn swap_off<P: Pmap + ?Sized>(
        &mut self,
        pmap: &mut P,
    ) -> Result<Box<dyn SwapBackend>, VmError> {
        if self.mem.swap.is_none() {
            return Err(VmError::InvalidArgument);
        }
        self.mem.drain(pmap);
        let ids: Vec<ObjectId> = self
            .mem
            .objects
            .iter()
            .filter(|(_, o)| !o.swap().is_empty())
            .map(|(id, _)| id)
            .collect();
        // Pages to read: in total, and per quota group (with one of the
        // group's objects, which tells its room).
        let mut need = 0u64;
        let mut groups: BTreeMap<u32, (u64, ObjectId)> = BTreeMap::new();
        for &id in &ids {
            let o = self.mem.objects.get(id);
            let n = o
                .swap()
                .iter()
                .filter(|&(p, _)| o.lookup(p).is_none())
                .count() as u64;
            need += n;
            if let Some(g) = o.charge() {
                groups.entry(g).or_insert((0, id)).0 += n;
            }
        }
        let over_quota = groups
            .values()
            .any(|&(n, id)| n > self.mem.objects.resident_room(id));
        if need > u64::from(self.mem.pool.available()) || over_quota {
            return Err(VmError::OutOfMemory);
        }
        for id in ids {
            loop {
                let o = self.mem.objects.get(id);
                let Some(p) = o
                    .swap()
                    .iter()
                    .map(|(p, _)| p)
                    .find(|&p| o.lookup(p).is_none())
                else {
                    break;
                };
                let tag = self.mem.pagein_for(id, p, AllocClass::Normal, None)?;
                self.mem.wait_for(tag, pmap)?;
            }
            // Every page is resident: they become dirty (their only copy)
            // and the slots go.
            let pages: Vec<FrameNumber> = self
                .mem
                .objects
                .get(id)
                .pages_in(0, u64::MAX)
                .map(|(_, f)| f)
                .collect();
            for f in pages {
                self.mem.pool.set_flags(f, PageFlags::DIRTY);
            }
            self.mem.objects.swap_discard(id, 0, u64::MAX);
        }
        self.mem.drain(pmap);
        let sw = self.mem.swap.as_ref().expect("attached");
        if sw.blist().in_use() != 0 || sw.busy() != 0 {
            return Err(VmError::Busy);
        }
        let backend = self.mem.swap.take().expect("attached");
        self.mem.pool.set_severe(0);
        Ok(backend)
    }
}
