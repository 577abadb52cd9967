//! Fault-around (`vm_prefault`): after a fault, enter the resident neighbours of the page (and zero-fill some) so a sequential toucher faults once per cluster, not per page.
//!
//! Locking: runs inside the single-threaded `Vm`, after the fault it
//! follows has entered its own page.
//!
//! A fault at the first page the previous window left unmapped ahead, or
//! just past it (`VmMapEntry::next_fault`), is taken as a touch in order,
//! and the window doubles ahead as with advice Sequential: a first touch
//! in order faults once per 9 pages without advice (`cargo qemu bench`'s
//! fault-around rows). Pages read ahead from swap, and pages the scan
//! unmapped to test their reference bits, are entered only on a touch in
//! order (`prefault_candidate`): a scattered fault maps its own page, not
//! the read-ahead or the pages under test around it.

use crate::chain::Lookup;
use crate::fault::FaultKind;
use crate::map::VmMapEntry;
use crate::page::PageFlags;
use crate::pmap::Pmap;
use crate::types::{Access, Advice, FrameNumber, SpaceId, PAGE_SIZE};
use crate::vm::Memory;

impl Memory {
    /// Whether a fault on `entry` tries fault-around at all: not for a
    /// large mapping, not under random advice, and only when configured.
    /// In line, so a fault that will not pays no call.
    #[inline(always)]
    pub(crate) fn fault_around_wanted(&self, entry: &VmMapEntry, large: bool) -> bool {
        !large
            && entry.advice != Advice::Random
            && self.config.prefault_ahead + self.config.prefault_behind > 0
    }

    /// Fault-around (`vm_prefault`): enter up to `prefault_ahead` pages after
    /// and `prefault_behind` before `va` that are unmapped and either
    /// resident in the chain or, after a zero-fill fault, cheap to
    /// zero-fill. Advice steers it: Random disables it, Sequential looks
    /// only ahead, twice as far. Never dips below `prefault_min_free` free
    /// pages; stops at the first pmap failure. Returns the pages entered.
    /// The caller holds the entry of `space` containing `va`, and
    /// `fault_around_wanted` said yes.
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    pub(crate) fn prefault<P: Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        entry: &mut VmMapEntry,
        va: u64,
        access: Access,
        kind: FaultKind,
        pmap: &mut P,
    ) -> u32 {
        // A fault where the last window left off ahead (`next_fault`) is
        // a touch in order: look twice as far ahead, as advice Sequential
        // does.
        debug_assert!(
            entry.advice != Advice::Random,
            "fault-around under random advice"
        );
        let in_order = entry.touched_in_order(va);
        let (behind, ahead) = if in_order {
            (0, self.config.prefault_ahead * 2)
        } else {
            (self.config.prefault_behind, self.config.prefault_ahead)
        };
        // Where a toucher in order faults next: the first page ahead this
        // window leaves unmapped, else the page past it.
        let mut next_fault = None;
        let zero_ok =
            kind == FaultKind::ZeroFill && self.config.prefault_zero_fill && !entry.is_wired();
        // A speculative private zero page is only equivalent to "nothing
        // there" when nothing below can change; over a shared base a
        // neighbour is zero-filled in the base, read-only, as a read would.
        let write = access == Access::Write
            && entry
                .chain
                .links()
                .last()
                .is_some_and(|l| self.objects.get(l.object).is_private_anon());
        let mut count = 0;
        let forward = (1..=ahead as u64).map_while(|d| va.checked_add(d * PAGE_SIZE));
        let backward = (1..=behind as u64).map_while(|d| va.checked_sub(d * PAGE_SIZE));
        for (dir, cva) in forward
            .map(|v| (true, v))
            .chain(backward.map(|v| (false, v)))
        {
            if cva < entry.start || cva >= entry.end {
                if dir {
                    continue;
                }
                break;
            }
            if pmap.is_mapped(space, cva) {
                continue;
            }
            let gap = if dir { Some(cva) } else { None };
            let rel = entry.rel(cva);
            let found = match entry.chain.lookup(&self.objects, rel) {
                Ok(Lookup::Resident(_, f)) if !self.prefault_candidate(f, in_order) => {
                    next_fault = next_fault.or(gap);
                    continue;
                }
                Ok(Lookup::Resident(d, f)) => Some((f, d)),
                Ok(Lookup::Swapped(_) | Lookup::Paged(_)) | Err(_) => {
                    next_fault = next_fault.or(gap);
                    continue;
                }
                Ok(Lookup::Empty) => None,
            };
            let (frame, depth) = match found {
                Some(found) => found,
                None => {
                    if !zero_ok || self.pool.free_count() <= self.config.prefault_min_free {
                        next_fault = next_fault.or(gap);
                        continue;
                    }
                    match self.zero_fill(entry, rel, write, pmap) {
                        Ok(x) => {
                            self.stats.flt_prefault_zero += 1;
                            x
                        }
                        Err(_) => {
                            next_fault = next_fault.or(gap);
                            break;
                        }
                    }
                }
            };
            let prot = self.enter_prot(entry, depth, frame);
            if pmap.enter(space, cva, frame, prot).is_err() {
                next_fault = next_fault.or(gap);
                break;
            }
            self.pool.clear_flags(frame, PageFlags::REF_UNMAPPED);
            self.trace_vpage(vm_swap::trace_file::RecordKind::Prefault, space, cva);
            if found.is_some() {
                self.readahead_touched(frame);
            }
            count += 1;
        }
        entry.next_fault =
            next_fault.unwrap_or(va.saturating_add((u64::from(ahead) + 1) * PAGE_SIZE));
        self.stats.flt_prefault += count as u64;
        count
    }

    /// Whether fault-around may enter the resident frame `f`. Not a busy
    /// one, nor a large region's (only mapped whole, by its fault). Only on
    /// a touch in order: a page read ahead from swap and not touched yet,
    /// and a page the scan unmapped to test its reference bit. Under seL4
    /// entering either costs a kernel invocation as dear as the fault's
    /// own map, and unless the toucher comes for it, pageout later pays
    /// another to unmap it (Linux maps swap read-ahead only when touched,
    /// too); the second would also hide its next use from the scan, as a
    /// page fault-around entered takes no fault when it is touched.
    fn prefault_candidate(&self, f: FrameNumber, in_order: bool) -> bool {
        let flags = self.pool.page(f).flags();
        !flags.contains(PageFlags::BUSY)
            && !self.pool.is_region_frame(f)
            && (in_order || !flags.intersects(PageFlags::READAHEAD | PageFlags::REF_UNMAPPED))
    }
}
