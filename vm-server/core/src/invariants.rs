//! Checks of every structural invariant (maps, chain shape and depth, reference counts, page ownership, wiring, page and swap accounting, mappings), for tests and the debug server.
//!
//! Locking: reads the single-threaded `Vm`. Each check's cost is stated on
//! it; none is meant for a production fast path.

use crate::object::ObjectKind;
use crate::page::PageFlags;
use crate::types::{page_aligned, FrameNumber, ObjectId, Prot, SpaceId};
use crate::vm::Vm;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use vm_swap::{IoOp, IoTag};

impl Vm {
    /// Check the page queues' links and counts against every page record.
    /// Cost is linear in the pool size.
    pub fn check_page_queues(&self) -> Result<(), String> {
        self.mem.pool.check()
    }

    /// Check that a mapping the pmap holds is one the VM would make: the
    /// page visible at `va` in `space`, with no more rights than the entry
    /// allows, writable only if private to this entry and dirty, and not
    /// a large region's frame (those are only mapped whole).
    pub fn check_mapping(
        &self,
        space: SpaceId,
        va: u64,
        frame: FrameNumber,
        prot: Prot,
    ) -> Result<(), String> {
        if self.mem.pool.is_region_frame(frame) {
            return Err(format!(
                "{space:?} {va:#x}: 4 KiB mapping of large region frame {frame:?}"
            ));
        }
        let sp = self.space_ref(space).map_err(|e| format!("{e}"))?;
        let e = sp
            .map
            .lookup(va)
            .ok_or_else(|| format!("{space:?} maps {va:#x} without an entry"))?;
        if !e.prot.contains(prot) {
            return Err(format!("{va:#x} mapped {prot:?} above entry {:?}", e.prot));
        }
        let rel = e.rel(va);
        let vis = e.chain.visible(&self.mem.objects, rel);
        if vis != Some(frame) {
            return Err(format!(
                "{space:?} {va:#x} maps {frame:?}, visible is {vis:?}"
            ));
        }
        if prot.contains(Prot::WRITE) {
            let front = e.chain.front().expect("visible page");
            let in_front =
                self.mem.objects.get(front.object).lookup(front.pindex(rel)) == Some(frame);
            let depth = if in_front { 0 } else { 1 };
            if !self.mem.enter_prot(e, depth, frame).contains(Prot::WRITE) {
                return Err(format!("{space:?} {va:#x} writable but not private/dirty"));
            }
        }
        Ok(())
    }

    /// Check that a large mapping the pmap holds (`Pmap::enter_large`) is
    /// one the VM would allow: entries allowing large pages cover all
    /// of `[va, va + 2 MiB)`, page `i` visible there is frame `base + i`
    /// (a region's first frame), the rights are within every entry's, and
    /// writable only where each page is private to its entry and dirty.
    /// Cost is the entries and resident pages of the range.
    pub fn check_large_mapping(
        &self,
        space: SpaceId,
        va: u64,
        base: FrameNumber,
        prot: Prot,
    ) -> Result<(), String> {
        let n = u64::from(crate::config::LARGE_PAGE_FRAMES);
        let end = va + n * crate::types::PAGE_SIZE;
        let region = self.mem.pool.large().region_of(base.0);
        if region.map(|r| self.mem.pool.large().region_base(r)) != Some(base.0)
            || !va.is_multiple_of(n * crate::types::PAGE_SIZE)
        {
            return Err(format!(
                "{space:?} {va:#x}: large mapping of {base:?}, not a region"
            ));
        }
        let sp = self.space_ref(space).map_err(|e| format!("{e}"))?;
        let mut at = va;
        for e in sp.map.entries_in(va, end) {
            if e.start > at {
                return Err(format!(
                    "{space:?} {va:#x}: large mapping over a hole at {at:#x}"
                ));
            }
            if !e.prot.contains(prot) || !self.mem.large_allowed(e) {
                return Err(format!(
                    "{space:?} {va:#x}: large mapping {prot:?} over entry {:#x} {:?} {:?}",
                    e.start, e.prot, e.flags
                ));
            }
            let (lo, hi) = (e.rel(at), e.rel(e.end.min(end) - 1) + 1);
            let mut count = 0;
            for (rel, f) in e.chain.visible_pages(&self.mem.objects, lo, hi, 0) {
                let want = base.0 + ((e.start + rel * crate::types::PAGE_SIZE - va) >> 12) as u32;
                if f.0 != want {
                    return Err(format!(
                        "{space:?} {va:#x}: large mapping of {base:?}, page {rel} of entry {:#x} is {f:?}",
                        e.start
                    ));
                }
                if prot.contains(Prot::WRITE) {
                    let front = e.chain.front().expect("visible page");
                    let in_front =
                        self.mem.objects.get(front.object).lookup(front.pindex(rel)) == Some(f);
                    if !in_front || !self.mem.enter_prot(e, 0, f).contains(Prot::WRITE) {
                        return Err(format!(
                            "{space:?} {va:#x}: large mapping writable, {f:?} not private/dirty"
                        ));
                    }
                }
                count += 1;
            }
            if count != hi - lo {
                return Err(format!(
                    "{space:?} {va:#x}: large mapping of {base:?} over {} pages not resident",
                    hi - lo - count
                ));
            }
            at = e.end.min(end);
            if at == end {
                return Ok(());
            }
        }
        Err(format!(
            "{space:?} {va:#x}: large mapping past its entries at {at:#x}"
        ))
    }

    /// Check every structural invariant: maps, chain shape and depth,
    /// reference counts, page ownership, wiring and page accounting.
    /// Cost is linear in entries, wired and resident pages, not in the
    /// pool size (`check_page_queues` covers the queue links).
    pub fn check_invariants(&self) -> Result<(), String> {
        let mem = &self.mem;
        let busy_io = self.busy_frames()?;
        let mut refs: BTreeMap<ObjectId, u32> = BTreeMap::new();
        let mut wires: BTreeMap<FrameNumber, u32> = BTreeMap::new();
        for sp in self.spaces.values() {
            sp.map.check().map_err(|e| format!("{:?}: {e}", sp.id))?;
            for e in sp.map.entries() {
                let links = e.chain.links();
                // A needs-copy entry has room for its push (fork merged
                // it below the limit: `depth_prepare`).
                let room = usize::from(e.needs_copy());
                if links.len() + room > mem.config.max_chain_depth {
                    return Err(format!(
                        "{:?} {:#x}: chain depth {}",
                        sp.id,
                        e.start,
                        links.len()
                    ));
                }
                // Device memory is mapped shared and never copied
                // (semantics: device-map, device-fork).
                if links.iter().any(|l| {
                    mem.objects.is_live(l.object) && mem.objects.get(l.object).is_physical()
                }) && (links.len() != 1
                    || e.flags.contains(crate::map::EntryFlags::COW)
                    || e.inheritance == crate::types::Inheritance::Copy)
                {
                    return Err(format!(
                        "{:?} {:#x}: device memory copied, private or inherited by copy",
                        sp.id, e.start
                    ));
                }
                for (i, l) in links.iter().enumerate() {
                    if !mem.objects.is_live(l.object) {
                        return Err(format!("{:?} {:#x}: dead object in chain", sp.id, e.start));
                    }
                    if !page_aligned(l.offset) {
                        return Err(format!("{:?} {:#x}: unaligned link", sp.id, e.start));
                    }
                    if i + 1 < links.len() && !mem.objects.get(l.object).is_private_anon() {
                        return Err(format!(
                            "{:?} {:#x}: non-private link above the base",
                            sp.id, e.start
                        ));
                    }
                    *refs.entry(l.object).or_default() += 1;
                }
                if e.is_wired() {
                    for rel in 0..e.npages() {
                        let f = e.chain.visible(&mem.objects, rel).ok_or_else(|| {
                            format!("{:?} {:#x}: wired entry with a hole", sp.id, e.start)
                        })?;
                        if !mem.pool.page(f).is_unmanaged() {
                            *wires.entry(f).or_default() += 1;
                        }
                    }
                }
            }
            for h in sp.handles.values() {
                *refs.entry(h.object).or_default() += 1;
            }
        }
        for n in self.names.values() {
            *refs.entry(n.object).or_default() += 1;
            if !self.groups.contains_key(&n.creator) {
                return Err(format!("name of a dead group {}", n.creator));
            }
        }
        for (id, g) in &self.groups {
            let spaces = self.spaces.values().filter(|s| s.group == *id).count() as u32;
            let names = self.names.values().filter(|n| n.creator == *id).count() as u64;
            if g.spaces != spaces || g.names != names || spaces == 0 {
                return Err(format!(
                    "group {id}: {} spaces, {} names counted; {spaces}, {names} found",
                    g.spaces, g.names
                ));
            }
        }
        for (o, n) in &self.external {
            *refs.entry(*o).or_default() += n;
        }
        let mut managed = 0u64;
        let mut unmanaged = 0u64;
        for (id, obj) in mem.objects.iter() {
            let want = refs.get(&id).copied().unwrap_or(0);
            if obj.ref_count() != want {
                return Err(format!(
                    "{id:?}: ref_count {} but {want} holders",
                    obj.ref_count()
                ));
            }
            match obj.kind() {
                ObjectKind::Physical { base } => {
                    for i in 0..obj.size() {
                        let p = mem.pool.page(FrameNumber(base.0 + i as u32));
                        if !p.is_unmanaged() || p.object() != Some(id) || p.pindex() != i {
                            return Err(format!("{id:?}: physical page {i} not owned"));
                        }
                        // Device pages are not the pool's.
                        unmanaged += u64::from(!p.is_device());
                    }
                }
                _ => {
                    for (i, f) in obj.pages_in(0, u64::MAX) {
                        let p = mem.pool.page(f);
                        if p.object() != Some(id) || p.pindex() != i {
                            return Err(format!(
                                "{f:?} in {id:?}[{i}] owned by {:?}[{}]",
                                p.object(),
                                p.pindex()
                            ));
                        }
                        let io = busy_io.contains_key(&f.0);
                        if p.flags().contains(PageFlags::BUSY) != io || p.hold_count() > 0 {
                            return Err(format!(
                                "{f:?} busy (not for swap I/O) or held between calls"
                            ));
                        }
                        if !io && !p.flags().contains(PageFlags::VALID) {
                            return Err(format!("{f:?} resident but invalid"));
                        }
                        if !io && p.is_dirty() && obj.swap_slot(i).is_some() {
                            return Err(format!("{id:?}[{i}] dirty with a stale swap slot"));
                        }
                        let w = wires.get(&f).copied().unwrap_or(0);
                        if mem.pool.wire_count(f) != w {
                            return Err(format!(
                                "{f:?}: wire_count {} but {w} wirings",
                                mem.pool.wire_count(f)
                            ));
                        }
                        managed += 1;
                    }
                }
            }
        }
        for f in refs.keys() {
            if !mem.objects.is_live(*f) {
                return Err(format!("{f:?} referenced but dead"));
            }
        }
        // Each group's charges are what its objects hold.
        let mut charged: BTreeMap<u32, (u64, u64, u64)> = BTreeMap::new();
        for (_, obj) in mem.objects.iter() {
            if let Some(g) = obj.charge() {
                let c = charged.entry(g).or_default();
                c.0 += obj.pages_in(0, u64::MAX).count() as u64;
                c.1 += obj.swap().len();
                c.2 += 1;
            }
        }
        for (g, c) in &mem.objects.charges {
            let want = charged.get(g).copied().unwrap_or_default();
            if (c.resident, c.swap, c.objects) != want {
                return Err(format!(
                    "group {g}: charged {} resident, {} swap, {} objects; its objects hold {want:?}",
                    c.resident, c.swap, c.objects
                ));
            }
        }
        let p = &mem.pool;
        let in_queues = (p.paging_count() + p.wired_count() + p.unqueued_count()) as u64;
        // Wired pages are on no queue, busy (msync) or not.
        let busy_unwired = busy_io
            .keys()
            .filter(|&&f| !p.page(FrameNumber(f)).is_wired())
            .count();
        if p.unqueued_count() as usize != busy_unwired {
            return Err(format!(
                "{} pages on no queue between calls, {busy_unwired} unwired under I/O",
                p.unqueued_count(),
            ));
        }
        let orphans = mem.objects.orphan_count() as u64;
        if managed + orphans != in_queues {
            return Err(format!(
                "{managed} resident pages, {in_queues} active+inactive+wired"
            ));
        }
        let managed = managed + orphans;
        // Large regions' frames: held by objects (in `managed`) or free
        // inside their regions, never on the small free queue.
        let region_frames = u64::from(p.large().count()) * u64::from(crate::LARGE_PAGE_FRAMES);
        let region_free = u64::from(p.region_free_count());
        if managed + unmanaged + p.free_count() as u64 + region_free
            != p.len() as u64 + region_frames
        {
            return Err(format!(
                "pages do not add up: {managed} managed + {unmanaged} unmanaged + {} free + {region_free} free in regions != {} + {region_frames} in regions",
                p.free_count(),
                p.len()
            ));
        }
        Ok(())
    }

    /// Every frame in a request in flight, with that request's tag; an
    /// error for a frame in two requests.
    fn busy_frames(&self) -> Result<BTreeMap<u32, IoTag>, String> {
        let mut busy = BTreeMap::new();
        for req in self.mem.io.values() {
            for f in &req.frames {
                if let Some(other) = busy.insert(f.0, req.tag) {
                    return Err(format!(
                        "{f:?} in two requests, {other:?} and {:?}",
                        req.tag
                    ));
                }
            }
        }
        Ok(busy)
    }

    /// Check the swap accounting: every slot in use is recorded by
    /// exactly one object's metadata, a write in flight, or a pending or
    /// deferred free; every busy page belongs to a request in flight.
    /// Cost is linear in slots and pages: tests call it.
    pub fn check_swap(&self) -> Result<(), String> {
        let mem = &self.mem;
        for f in self.busy_frames()?.keys() {
            if !mem
                .pool
                .page(FrameNumber(*f))
                .flags()
                .contains(PageFlags::BUSY)
            {
                return Err(format!("{f:?} under I/O but not busy"));
            }
        }
        let Some(sw) = mem.swap.as_ref() else {
            let n: u64 = mem.objects.iter().map(|(_, o)| o.swap().len()).sum();
            return if n == 0 && mem.objects.dead_slot_count() == 0 {
                Ok(())
            } else {
                Err(format!("{n} slots recorded without a swap device"))
            };
        };
        let recorded: u64 = mem.objects.iter().map(|(_, o)| o.swap().len()).sum();
        let writing: u64 = mem
            .io
            .values()
            .filter(|r| r.op == IoOp::Write && r.pager.is_none())
            .map(|r| r.frames.len() as u64)
            .sum();
        let pending = mem.objects.dead_slot_count() as u64;
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
