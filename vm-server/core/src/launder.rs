//! Laundering (`vm_pageout_clean`, `swap_pager_putpages`): write a dirty page, clustered with its dirty neighbours of the same object, to swap so it can be freed.
//!
//! Locking: runs inside the single-threaded `Vm`. Pages being written are
//! `BUSY`, unmapped and on no queue until their completion.

use crate::object::ObjectKind;
use crate::page::PageFlags;
use crate::pageout::PageoutReport;
use crate::pmap::Pmap;
use crate::swap_backend::{saturated, IoReq};
use crate::types::{FrameNumber, Prot};
use crate::vm::Memory;
use alloc::vec::Vec;
use vm_swap::{IoOp, SwapError};

impl Memory {
    /// True when some page has to be written before it can be freed:
    /// dirty (by the emulated bit or, where the pmap keeps one, the
    /// hardware's), or without a slot holding its contents, unless
    /// `MADV_FREE` let its contents go.
    pub(crate) fn needs_launder<P: Pmap + ?Sized>(&self, f: FrameNumber, pmap: &P) -> bool {
        let p = self.pool.page(f);
        if p.object()
            .is_some_and(|o| matches!(self.objects.get(o).kind(), ObjectKind::Paged { .. }))
        {
            // The pager holds the contents of a clean page.
            return self.modified(f, pmap);
        }
        self.modified(f, pmap)
            || (!p.flags().contains(PageFlags::FREED)
                && p.object()
                    .is_some_and(|o| self.objects.get(o).swap_slot(p.pindex()).is_none()))
    }

    /// Launder `f` with its dirty neighbours of the same object
    /// (`vm_pageout_clean`): one write of up to `pageout_cluster`
    /// contiguous pages. Returns the pages now under write (0: nothing
    /// started; `swap_full` set when no slot was free). Caller contract:
    /// `f` is pageable and needs laundering; a pager is attached.
    pub(crate) fn launder<P: Pmap + ?Sized>(
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
                && !self.pool.page(g).flags().contains(PageFlags::REFERENCED)
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
            // Unmap before copying (or the device reading the frames): a
            // write between the copy and the unmap (another CPU, or
            // hardware modified bits) would be lost.
            for &g in &frames {
                pmap.page_protect(g, Prot::NONE);
            }
            let count = frames.len() as u32;
            let fr = &frames;
            let pm = &*pmap;
            let r = sw.start_write(fr, 0, &mut |i, buf| pm.read_frame(fr[i as usize], buf));
            match r {
                Ok((tag, slot)) => {
                    for &g in &frames {
                        self.pool.start_io(g);
                        self.objects.set_busy(o, true);
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
                            pager: None,
                            evict: true,
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
}
