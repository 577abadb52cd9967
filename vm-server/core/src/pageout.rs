//! Pageout (`vm_pageout.c`): the paging targets the server loop asks about, the pass that asks the replacement policy for victims, frees clean ones and hands dirty ones to the launderer, and reclaim for callers that need frames now.
//!
//! Which pages go is the replacement policy's decision alone (vm-swap's
//! `ReplacementPolicy`; BSD's active/inactive CLOCK is its default
//! implementation, `ClockPolicy`): this file only carries it out, so a
//! policy can be tried on the live system by name.
//!
//! Locking: runs inside the single-threaded `Vm`; a scan holds no page
//! across calls. Group-local pageout (`Memory::scan_only`) limits a scan
//! to one quota group's pages: the policy sees the others as referenced
//! and not evictable, so their mappings and bits are left alone.

use crate::error::VmError;
use crate::object::ObjectKind;
use crate::page::{PageFlags, PageQueue};
use crate::pmap::Pmap;
use crate::types::{FrameNumber, Prot};
use crate::vm::{Memory, Vm};
use alloc::boxed::Box;
use alloc::vec::Vec;
use vm_swap::{PagingTargets, Pressure};

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

impl Vm {
    /// The effective paging targets (`None`: pool too small to derive them).
    pub fn paging_targets(&self) -> Option<PagingTargets> {
        self.mem.targets
    }

    /// How short of free pages the pool is (`Plenty` without targets).
    pub fn pressure(&self) -> Pressure {
        self.mem
            .targets
            .map_or(Pressure::Plenty, |t| t.pressure(self.mem.pool.free_count()))
    }

    /// Pages a pageout pass should free now (`vm_paging_needed` +
    /// `vm_paging_target`): zero while free is at or above `start`.
    /// `faults_waiting` (faults waiting for memory, `memory_waits`, not
    /// for their own page-in) raises the goal to `target2` (hysteresis).
    pub fn pageout_shortage(&self, faults_waiting: bool) -> u32 {
        self.mem.targets.map_or(0, |t| {
            t.shortage(self.mem.pool.free_count(), faults_waiting)
        })
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
        let Some(sw) = self.mem.swap.as_ref() else {
            return false;
        };
        let free_slots = sw.blist().free_count();
        let cluster = self.mem.config.pageout_cluster.min(sw.max_cluster()).max(1);
        let pressure = self.pressure();
        self.mem.write_in_flight().is_none()
            && ((free_slots == 0 && pressure < Pressure::Plenty)
                || (free_slots < u64::from(cluster) && pressure <= Pressure::Minimum))
    }

    /// One pageout pass (`vm_pageout_scan`) aiming to free `want` pages:
    /// the policy picks victims (testing and clearing reference bits, the
    /// emulated ones by unmapping); clean ones with their contents on swap
    /// are freed at once, dirty ones laundered in clusters and freed when
    /// their writes complete. Caller contract: the server loop, between
    /// requests (typically with `want = pageout_shortage(..)`).
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    pub fn pageout<P: Pmap + ?Sized>(&mut self, pmap: &mut P, want: u32) -> PageoutReport {
        let mut rep = PageoutReport::default();
        self.mem.flush_dead_slots();
        self.mem.stats.pdwoke += 1;
        // The pass's writes reach the device together: with the block
        // server polling at a higher priority, a doorbell per write would
        // carry each to its end before the next is started.
        if let Some(sw) = self.mem.swap.as_mut() {
            sw.hold_doorbell();
        }
        self.mem.policy_scan(pmap, want, &mut rep);
        if let Some(sw) = self.mem.swap.as_mut() {
            sw.release_doorbell();
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
            let avail = u64::from(self.mem.pool.available());
            if avail >= need {
                return Ok(());
            }
            let short = u32::try_from(need - avail).unwrap_or(u32::MAX);
            let want = short.max(self.pageout_shortage(true));
            self.pageout(pmap, want);
            self.mem.drain(pmap);
            if u64::from(self.mem.pool.available()) > avail {
                idle = 0;
                continue;
            }
            // The first passes may only clear reference bits.
            idle += 1;
            if idle == 3 {
                return Err(if self.mem.swap_exhausted() {
                    VmError::NoSwap
                } else {
                    VmError::OutOfMemory
                });
            }
        }
    }

    /// Install a replacement policy (one of `vm_swap::POLICIES`, or any
    /// `ReplacementPolicy`) made for `policy_frames()` frames, in place
    /// of the current one (CLOCK from the start); it adopts every pageable
    /// page. Returns the previous policy.
    pub fn set_replacement_policy(
        &mut self,
        policy: Box<dyn vm_swap::ReplacementPolicy>,
    ) -> Box<dyn vm_swap::ReplacementPolicy> {
        self.mem.pool.set_policy(policy)
    }

    /// The frame numbers a replacement policy must cover: the small pool
    /// and the large regions' frames, which are pageable pages too
    /// (`config::ram_frame_end`; the pool size without large pages).
    pub fn policy_frames(&self) -> u32 {
        self.mem.pool.ram_end()
    }

    /// The name of the replacement policy pageout runs.
    pub fn replacement_policy(&self) -> &'static str {
        self.mem.pool.policy().name()
    }
}

impl Memory {
    /// A page the scan may free or launder now: managed, pageable, not
    /// busy, held or wired, and in the scan's group if it has one.
    pub(crate) fn pageable(&self, f: FrameNumber) -> bool {
        let p = self.pool.page(f);
        p.queue() == PageQueue::Paging
            && p.hold_count() == 0
            && !p.is_wired()
            && !p.flags().contains(PageFlags::BUSY)
            && self.in_scan_scope(f)
    }

    /// Whether the scan may touch `f`. A group-local scan (`scan_only`)
    /// takes the group's pages, region pages too (they count against its
    /// resident limit). The global scan takes a large region's page only
    /// while no region is wholly free: freeing one gives no small frame
    /// back (regions never become small frames), so under small-frame
    /// pressure it would cost a write and relieve nothing, and a pass
    /// aimed at small frames would end short of them.
    fn in_scan_scope(&self, f: FrameNumber) -> bool {
        match self.scan_only {
            Some(g) => self
                .pool
                .page(f)
                .object()
                .is_some_and(|o| self.objects.get(o).charge() == Some(g)),
            None => !self.pool.is_region_frame(f) || self.pool.large().free_count() == 0,
        }
    }

    /// The pageout pass: the policy picks the victims, which are freed
    /// when clean with their contents on swap, laundered (with their
    /// neighbours) otherwise, or given back when neither is possible now.
    /// Caller contract: `Vm::pageout`.
    pub(crate) fn policy_scan<P: Pmap + ?Sized>(
        &mut self,
        pmap: &mut P,
        want: u32,
        rep: &mut PageoutReport,
    ) {
        let mut taken = self.pool.take_policy();
        let pol = taken.as_dyn_mut();
        let before = pol.stats();
        let mut victims = Vec::new();
        pol.select_victims(want, &mut Host { mem: self, pmap }, &mut victims);
        let after = pol.stats();
        self.pool.put_policy(taken, &victims);
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
            if self.evict(f, pmap, rep) == Evicted::Kept {
                self.pool.retrack(f);
            }
        }
    }

    /// Evict an unreferenced pageable page: free it at once when clean
    /// with its contents on swap (or let go by `MADV_FREE`), else start
    /// the write of its cluster. `Kept` when the device cannot take the
    /// write now (no pager, full, or every buffer busy).
    pub(crate) fn evict<P: Pmap + ?Sized>(
        &mut self,
        f: FrameNumber,
        pmap: &mut P,
        rep: &mut PageoutReport,
    ) -> Evicted {
        if !self.needs_launder(f, pmap) {
            let o = self.pool.page(f).object().expect("managed");
            pmap.page_protect(f, Prot::NONE);
            let p = self.pool.page(f).pindex();
            self.objects.remove_page(o, p);
            self.pool.free(f);
            rep.freed += 1;
            self.stats.pdfreed += 1;
            return Evicted::Freed;
        }
        let o = self.pool.page(f).object().expect("managed");
        if let ObjectKind::Paged { .. } = self.objects.get(o).kind() {
            // Written back to its pager, never to swap.
            return match self.pager_write(f, pmap, true) {
                Ok(Some(tag)) => {
                    let n = self.io[&tag.0].frames.len() as u32;
                    rep.laundering += n;
                    self.stats.pdlaunder += u64::from(n);
                    Evicted::Laundering
                }
                Ok(None) | Err(_) => Evicted::Kept,
            };
        }
        if self.swap.is_none() || rep.swap_full || rep.io_full {
            return Evicted::Kept;
        }
        let n = self.launder(f, pmap, rep);
        rep.laundering += n;
        self.stats.pdlaunder += u64::from(n);
        if n == 0 {
            Evicted::Kept
        } else {
            Evicted::Laundering
        }
    }
}

/// What `Memory::evict` did with a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Evicted {
    /// Clean: freed now.
    Freed,
    /// Its cluster's write started; freed at the completion.
    Laundering,
    /// Still resident: the write could not start now.
    Kept,
}

/// The policy's view of the VM during a scan (`PolicyHost`): reference
/// bits are the core's emulated ones, cleared by unmapping.
pub(crate) struct Host<'a, P: Pmap + ?Sized> {
    mem: &'a mut Memory,
    pmap: &'a mut P,
}

impl<P: Pmap + ?Sized> vm_swap::PolicyHost for Host<'_, P> {
    fn test_and_clear_referenced(&mut self, f: u32) -> bool {
        let f = FrameNumber(f);
        if !self.mem.in_scan_scope(f) {
            // Another group's page: leave its bit and mappings alone.
            return true;
        }
        let r = self.mem.referenced(f, self.pmap);
        self.mem.clear_reference(f, self.pmap, r);
        if r && !self.pmap.tracks_ref_mod() {
            self.mem.pool.set_flags(f, PageFlags::REF_UNMAPPED);
        }
        self.mem.stats.ref_clears += 1;
        r
    }
    fn evictable(&mut self, f: u32) -> bool {
        self.mem.pageable(FrameNumber(f))
    }
}
