//! Event counters in the style of UVM's `uvmexp`: page populations are read from the pool, events are counted here.
//!
//! Owned by the single-threaded `Vm` and bumped in place; `Vm::stats`
//! returns a snapshot with the page counts filled in.

/// A snapshot of VM statistics (`struct uvmexp`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uvmexp {
    /// Bytes per page.
    pub pagesize: u64,
    /// Frames in the small pool; `free` counts only them. Large regions'
    /// frames are counted in `large_pages` (512 each); their pages are in
    /// `active`, `inactive` and `wired` like any page.
    pub npages: u32,
    pub free: u32,
    /// Free frames pre-zeroed in idle time (`zero_idle.rs`).
    pub zeropages: u32,
    pub active: u32,
    pub inactive: u32,
    pub wired: u32,
    /// Frames of the pool claimed by physical objects.
    pub unmanaged: u32,
    /// Device pages (past the pool, `Vm::device_create`): not in `npages`.
    pub device: u32,
    /// Free pages only the pageout path may take.
    pub reserve_pagedaemon: u32,

    /// Faults taken (every call of `fault`, successful or not).
    pub faults: u64,
    /// Zero-fill allocations that found a pre-zeroed frame, and those
    /// that had to zero one (UVM's `pga_zerohit`/`pga_zeromiss`).
    pub pga_zerohit: u64,
    pub pga_zeromiss: u64,
    /// Frames zeroed in idle time (DragonFly's `cnt_prezero`).
    pub prezeroed: u64,
    /// Pages zero-filled by faults (not counting fault-around).
    pub flt_zero: u64,
    /// Copy-on-write copies made by faults.
    pub flt_cow: u64,
    /// Of those, copies that went down to the lower object, the faulting
    /// space keeping its frame (`VmConfig::cow_trade`).
    pub flt_cow_trade: u64,
    /// Lower-chain pages mapped read-only (`flt_anon`-like sharing).
    pub flt_share: u64,
    /// Faults satisfied by a resident page of the front object.
    pub flt_resident: u64,
    /// Write faults that only set the emulated modified bit.
    pub flt_modify: u64,
    /// Faults on a resident page the pageout scan had unmapped only to
    /// emulate its reference bit (soft faults spent learning the page is
    /// used; `PageFlags::REF_UNMAPPED`).
    pub flt_reference: u64,
    /// Pages entered by fault-around, resident or zero-filled.
    pub flt_prefault: u64,
    /// Fault-around pages that were zero-filled.
    pub flt_prefault_zero: u64,
    /// Faults refused: no mapping.
    pub flt_nomap: u64,
    /// Faults refused: protection.
    pub flt_prot: u64,
    /// Faults that found no free page.
    pub flt_noram: u64,
    /// Pages wired by `fault_wire`.
    pub wire_faults: u64,
    /// Faults resolved with one 2 MiB mapping (`Pmap::enter_large`).
    pub flt_large: u64,
    /// Large frames taken from the large pool for an object.
    pub large_allocs: u64,
    /// Pages of large frames moved to 4 KiB frames (demotion by copy,
    /// one page as it is needed).
    pub large_demotes: u64,
    /// Partly used regions emptied because a large fault found none free
    /// (`Memory::reclaim_partial_region`).
    pub large_reclaims: u64,
    /// Write faults that copied a whole 2 MiB chunk from a lower object
    /// into a fresh region of the front (`VmConfig::large_cow_copy`).
    pub large_cow_copies: u64,
    /// Chunks of 512 small pages copied into a region and mapped whole
    /// (promotion by copy, `promote.rs`).
    pub large_promotes: u64,
    /// Large frames: in the pool, and holding at least one page.
    pub large_pages: u64,
    pub large_pages_used: u64,

    /// Front objects pushed on a chain (`vm_map_entry_shadow`).
    pub shadows: u64,
    /// Chain links removed by moving pages up (`vm_object_collapse`).
    pub collapses: u64,
    /// Pages moved by collapses.
    pub collapse_pages: u64,
    /// Chain links removed by copying to bound depth.
    pub chain_merges: u64,
    /// Pages copied by those merges.
    pub chain_merge_pages: u64,
    /// Pages freed by termination, truncation and `MADV_FREE`.
    pub pages_freed: u64,

    pub forks: u64,
    pub fork_shared_entries: u64,
    pub fork_copied_entries: u64,
    pub exits: u64,
    pub mmaps: u64,
    pub munmaps: u64,
    pub mprotects: u64,
    pub madvises: u64,
    /// Emulated reference/modified bit clears.
    pub ref_clears: u64,
    pub mod_clears: u64,

    /// Faults that found their page busy under swap I/O or started a
    /// page-in, and were told to wait (`FaultOutcome::Wait`).
    pub flt_wait: u64,
    /// Of those, faults that waited for memory: nothing to allocate, so
    /// they wait for I/O in flight that frees pages (a pageout write), or
    /// for their group's pageout (`Vm::memory_waits`).
    pub flt_wait_memory: u64,
    /// Faults that started a page-in.
    pub flt_pagein: u64,
    /// Pageout passes (`pdwoke`).
    pub pdwoke: u64,
    /// Pages looked at by the scans (`pdscans`).
    pub pdscans: u64,
    /// Active pages deactivated (`pddeact`).
    pub pddeact: u64,
    /// Inactive pages found referenced and reactivated (`pdreact`).
    pub pdreact: u64,
    /// Clean pages freed by the scan (`pdfreed`).
    pub pdfreed: u64,
    /// Dirty pages whose laundering started (`pdpageouts` counts writes).
    pub pdlaunder: u64,
    /// Swap writes started by laundering (`pdpageouts`).
    pub pdpageouts: u64,
    /// Swap reads started (`pageins`).
    pub pageins: u64,
    /// Pages read from swap (`pgswapin`).
    pub pgswapin: u64,
    /// Pages written to swap and freed (`pgswapout`).
    pub pgswapout: u64,
    /// Swap requests that failed (read or write).
    pub swap_io_errors: u64,
    /// Page-ins asked of external pagers (`vnode_pager_getpages` calls)
    /// and the pages they brought in (supplied or zero).
    pub pager_reads: u64,
    pub pager_pages_in: u64,
    /// Write-backs to external pagers (pageout and `msync`) and the
    /// pages written.
    pub pager_writes: u64,
    pub pager_pages_out: u64,
    /// Pager requests that failed (including those of a dead pager).
    pub pager_io_errors: u64,
    /// Resident pages of pager objects (`filepages`): the file cache.
    pub filepages: u64,
    /// Swap slots: total, in use (recorded, being written or waiting to
    /// be freed), bad (from the attached device; 0 without one).
    pub swpages: u64,
    pub swpginuse: u64,
    pub swpgbad: u64,

    /// Live objects, spaces and map entries.
    pub objects: u32,
    pub spaces: u32,
    pub map_entries: u64,
}

/// One address space's share of the events (`ClientStats`): kept in its
/// `VmSpace`, bumped where the global counters are, gone with the space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpaceCounters {
    /// Faults resolved by zero-fill, copy-on-write copy, read-only share
    /// of a lower page, and a resident page (including modify-bit faults).
    pub flt_zero: u64,
    pub flt_cow: u64,
    pub flt_share: u64,
    pub flt_resident: u64,
    /// Pages entered by fault-around.
    pub flt_prefault: u64,
    /// Faults resolved with one 2 MiB mapping.
    pub flt_large: u64,
    /// Page-ins its faults started (each reads one or more pages).
    pub pageins: u64,
}
