//! Quotas: what one client (with every space it forked) may cost the VM — map entries, handles and names, wired pages, forked children, page tables, objects — and the checks that refuse a request before it changes anything (semantics: quota-*).
//!
//! Locking: groups live in the single-threaded `Vm`.
//!
//! A *quota group* is a space made by `space_create` and every space
//! forked from it, transitively: fork charges the child to its parent's
//! limits, as `RLIMIT_*` and cgroups do, so a fork bomb runs into the
//! family's limits. Usage of entries, handles, wired pages and children
//! is counted from the group's spaces when a check needs it (a group has
//! at most `children + 1` spaces), so no counter can drift from the
//! structures it counts; resident pages, swap slots and objects, which
//! only the object table sees change, are its counters (`Charge`),
//! recounted by the invariants. Page tables are the pmap's: the
//! core passes each space's limit down (`Pmap::set_table_limit`) and the
//! pmap refuses a table beyond it.

use crate::error::VmError;
use crate::limits::{within, Limits, Quota, Usage};
use crate::types::SpaceId;
use crate::vm::Vm;

impl Vm {
    /// Set the limits of the group `space` belongs to (every space of the
    /// family shares them), and pass the page-table limit to the pmap for
    /// each of its spaces. Lowering a limit below today's use refuses only
    /// what would grow it further.
    pub fn set_limits<P: crate::Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        limits: Limits,
        pmap: &mut P,
    ) -> Result<(), VmError> {
        let g = self.space_ref(space)?.group;
        self.groups.get_mut(&g).expect("live group").limits = limits;
        let c = self.mem.objects.charges.entry(g).or_default();
        c.max_resident = limits.resident_pages;
        c.max_swap = limits.swap_slots;
        c.max_objects = limits.objects;
        for sp in self.spaces.values().filter(|s| s.group == g) {
            pmap.set_table_limit(sp.id(), limits.page_tables);
        }
        Ok(())
    }

    /// The limits of `space`'s group.
    pub fn limits(&self, space: SpaceId) -> Result<Limits, VmError> {
        let g = self.space_ref(space)?.group;
        Ok(self.groups[&g].limits)
    }

    /// What `space`'s group uses now, kind by kind (`used`). Cost is
    /// linear in its spaces' map entries (the wired pages).
    pub fn usage(&self, space: SpaceId) -> Result<Usage, VmError> {
        let used = |q| self.used(space, q);
        Ok(Usage {
            resident_pages: used(Quota::Resident)?,
            wired_pages: used(Quota::Wired)?,
            swap_slots: used(Quota::Swap)?,
            map_entries: used(Quota::MapEntries)?,
            handles: used(Quota::Handles)?,
            children: used(Quota::Children)?,
            objects: used(Quota::Objects)?,
        })
    }

    /// Refuse `extra` more of `q` for `space`'s group if that would pass
    /// its limit. The caller checks before it changes anything.
    pub(crate) fn charge(&self, space: SpaceId, q: Quota, extra: u64) -> Result<(), VmError> {
        let limits = self.limits(space)?;
        let limit = limits.get(q);
        if limit == u64::MAX || extra == 0 {
            return Ok(());
        }
        within(q, self.used(space, q)?, extra, limit)
    }

    /// What `space`'s group uses of `q` now. Only wired pages cost more
    /// than the group's spaces: a walk of their entries; so a map entry's
    /// check does not grow with the map (a client mapping 100,000 entries
    /// one by one would otherwise walk them all each time).
    fn used(&self, space: SpaceId, q: Quota) -> Result<u64, VmError> {
        let g = self.space_ref(space)?.group;
        let group = &self.groups[&g];
        let spaces = || self.spaces.values().filter(move |s| s.group == g);
        let charge = || {
            self.mem
                .objects
                .charges
                .get(&g)
                .copied()
                .unwrap_or_default()
        };
        Ok(match q {
            Quota::Wired => spaces().map(|sp| sp.wired_pages()).sum(),
            Quota::MapEntries => spaces().map(|sp| sp.map.entry_count() as u64).sum(),
            Quota::Handles => {
                group.names + spaces().map(|sp| sp.handle_count() as u64).sum::<u64>()
            }
            Quota::Children => u64::from(group.spaces.saturating_sub(1)),
            // The object table's counters, kept where pages and objects
            // come and go (checked there too, not by `charge`).
            Quota::Resident => charge().resident,
            Quota::Swap => charge().swap,
            Quota::Objects => charge().objects,
            // The pmap's count, not known here (`Usage` reports 0).
            Quota::PageTables => 0,
        })
    }

    /// Charge the objects the next operation makes to `space`'s group
    /// (its pages and slots count against the group's resident and swap
    /// limits from then on). Every operation on a space's behalf that may
    /// make objects calls it first.
    pub(crate) fn charge_to(&mut self, space: SpaceId) {
        self.mem.objects.charge_to = self.spaces.get(&space.0).map(|s| s.group);
    }

    /// The quota group of `space` (`None`: no such space).
    pub(crate) fn group_of(&self, space: SpaceId) -> Option<u32> {
        self.spaces.get(&space.0).map(|s| s.group)
    }

    /// `space` needs a page past its group's resident quota: page out the
    /// group's own pages (group-local pageout, as a memory cgroup's
    /// reclaim). `Ok(None)`: pages were freed, try again now;
    /// `Ok(Some(tag))`: a write of the group's pages is in flight, try
    /// again when it completes; `Err(QuotaExceeded(..))`: nothing of the
    /// group's can go (wired, its swap quota full, or no swap device).
    // Out of line: only a group past its resident quota reclaims; the
    // fault path's code stays on few pages (docs/performance.md, "Code
    // pages").
    #[inline(never)]
    pub(crate) fn group_reclaim<P: crate::Pmap + ?Sized>(
        &mut self,
        space: SpaceId,
        pmap: &mut P,
    ) -> Result<Option<vm_swap::IoTag>, VmError> {
        let g = self.group_of(space).ok_or(VmError::BadSpace)?;
        let want = self.mem.config.pageout_cluster.max(8);
        let mut swap_quota = false;
        // The first passes may only clear reference bits.
        for _ in 0..3 {
            self.mem.scan_only = Some(g);
            let rep = self.pageout(pmap, want);
            self.mem.scan_only = None;
            swap_quota |= rep.swap_quota;
            if rep.freed > 0 {
                return Ok(None);
            }
            if let Some(tag) = self.mem.group_write_in_flight(g) {
                return Ok(Some(tag));
            }
        }
        Err(VmError::QuotaExceeded(if swap_quota {
            Quota::Swap
        } else {
            Quota::Resident
        }))
    }

    /// Map entries that unmapping `[start, end)` of `space` and putting
    /// `new` entries there adds, at least 0: the pieces clipping keeps
    /// (one for each end inside an entry) plus `new`, minus the entries
    /// the range overlaps.
    pub(crate) fn replace_delta(&self, space: SpaceId, start: u64, end: u64, new: u64) -> u64 {
        let Some(sp) = self.spaces.get(&space.0) else {
            return 0;
        };
        let overlapping = sp.map.entries_in(start, end).count() as u64;
        (self.clips(space, start, end) + new).saturating_sub(overlapping)
    }

    /// Map entries an operation on `[start, end)` of `space` adds by
    /// clipping: one for each end that falls inside an entry.
    pub(crate) fn clips(&self, space: SpaceId, start: u64, end: u64) -> u64 {
        let Some(sp) = self.spaces.get(&space.0) else {
            return 0;
        };
        [start, end]
            .iter()
            .filter(|&&a| sp.map.lookup(a).is_some_and(|e| e.start() != a))
            .count() as u64
    }
}
