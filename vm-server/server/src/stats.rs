//! The `Stats` and `ClientStats` replies, from the core's `uvmexp`-style
//! counters and the pmap's bookkeeping.

use crate::server::Server;
use vm_api::{ApiError, ClientStats, VmStats};

/// (kernel objects in use, capability slots in use) as `Stats` reports
/// them. Slots holding idle spare mapping caps or cached objects are a
/// reserve kept for reuse, not use.
pub fn kernel_use(s: &Server) -> (u64, u64) {
    let k = &s.pmap.kernel.stats;
    (
        k.in_use,
        k.slots_in_use - s.pmap.idle_spares() as u64 - k.cached,
    )
}

/// The global counters.
pub fn global(s: &Server) -> VmStats {
    let u = s.vm.stats();
    VmStats {
        pagesize: u.pagesize,
        npages: u.npages as u64,
        free: u.free as u64,
        active: u.active as u64,
        inactive: u.inactive as u64,
        wired: u.wired as u64,
        unmanaged: u.unmanaged as u64,
        reserve_pagedaemon: u.reserve_pagedaemon as u64,
        faults: u.faults,
        flt_zero: u.flt_zero,
        flt_cow: u.flt_cow,
        flt_share: u.flt_share,
        flt_resident: u.flt_resident,
        flt_modify: u.flt_modify,
        flt_prefault: u.flt_prefault,
        flt_prefault_zero: u.flt_prefault_zero,
        flt_nomap: u.flt_nomap,
        flt_prot: u.flt_prot,
        flt_noram: u.flt_noram,
        wire_faults: u.wire_faults,
        shadows: u.shadows,
        collapses: u.collapses,
        collapse_pages: u.collapse_pages,
        chain_merges: u.chain_merges,
        chain_merge_pages: u.chain_merge_pages,
        pages_freed: u.pages_freed,
        forks: u.forks,
        fork_shared_entries: u.fork_shared_entries,
        fork_copied_entries: u.fork_copied_entries,
        exits: u.exits,
        mmaps: u.mmaps,
        munmaps: u.munmaps,
        mprotects: u.mprotects,
        madvises: u.madvises,
        ref_clears: u.ref_clears,
        mod_clears: u.mod_clears,
        objects: u.objects as u64,
        spaces: u.spaces as u64,
        map_entries: u.map_entries,
        swpgbad: u.swpgbad,
        swap_io_errors: u.swap_io_errors,
        oom_kills: s.oom_kills,
        pageins: u.pgswapin,
        pageouts: u.pgswapout,
        swpages: u.swpages,
        swpginuse: u.swpginuse,
        pdwoke: u.pdwoke,
        pdscans: u.pdscans,
        pdfreed: u.pdfreed,
        kobj_in_use: kernel_use(s).0,
        kobj_cached: s.pmap.kernel.stats.cached,
        kobj_retyped: s.pmap.kernel.stats.retyped,
        cap_slots_in_use: kernel_use(s).1,
        pmap_mappings: s.pmap.stats.mappings,
        pmap_page_tables: s.pmap.tables_held() as u64,
        kobj_baseline: s.baseline.0,
        cap_slots_baseline: s.baseline.1,
    }
}

/// One client's counters.
pub fn client(s: &Server, badge: u64) -> Result<ClientStats, ApiError> {
    let c = s.clients.get(&badge).ok_or(ApiError::BadSpace)?;
    let (resident, _tables) = s.pmap.footprint(c.space);
    let space = s.vm.space(c.space).ok_or(ApiError::BadSpace)?;
    let map = space.map();
    Ok(ClientStats {
        client: badge,
        resident_pages: resident as u64,
        mapped_bytes: map.entries().map(|e| e.end() - e.start()).sum(),
        map_entries: map.entries().count() as u64,
        faults: c.faults,
        live_children: s
            .clients
            .values()
            .filter(|k| k.parent == Some(badge))
            .count() as u64,
        ..ClientStats::default()
    })
}
