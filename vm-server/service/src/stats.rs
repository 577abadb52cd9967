//! The `Stats`, `ClientStats` and `ClientList` replies, from the VM's `uvmexp`-style counters, its per-space counters and the platform's kernel bookkeeping.

use crate::platform::{ClientId, Platform};
use crate::service::Client;
use crate::service::Service;
use vm_api::{ApiError, ClientListReply, ClientName, ClientStats, ClientSummary, VmStats};

/// The global counters.
pub fn global<P: Platform>(s: &Service<P>) -> VmStats {
    let u = s.vm.stats();
    let k = s.platform.kernel_counters();
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
        filepages: u.filepages,
        pager_reads: u.pager_reads,
        pager_pages_in: u.pager_pages_in,
        pager_writes: u.pager_writes,
        pager_pages_out: u.pager_pages_out,
        pager_io_errors: u.pager_io_errors,
        kernel_invocations: k.invocations,
        heap_bytes: k.heap_bytes,
        handling_cycles: k.handling_cycles,
        messages: k.messages,
        flt_reference: u.flt_reference,
        flt_large: u.flt_large,
        large_allocs: u.large_allocs,
        large_demotes: u.large_demotes,
        large_pages: u.large_pages,
        large_pages_used: u.large_pages_used,
        large_cow_copies: u.large_cow_copies,
        large_promotes: u.large_promotes,
        large_reclaims: u.large_reclaims,
        zeropages: u64::from(u.zeropages),
        pga_zerohit: u.pga_zerohit,
        pga_zeromiss: u.pga_zeromiss,
        prezeroed: u.prezeroed,
        flt_cow_trade: u.flt_cow_trade,
        pageins: u.pgswapin,
        pageouts: u.pgswapout,
        swpages: u.swpages,
        swpginuse: u.swpginuse,
        pdwoke: u.pdwoke,
        pdscans: u.pdscans,
        pdfreed: u.pdfreed,
        kobj_in_use: k.objects_in_use,
        kobj_cached: k.objects_cached,
        kobj_prepared: k.objects_prepared,
        swap_doorbells: k.swap_doorbells,
        swap_doorbell_cycles: k.swap_doorbell_cycles,
        kobj_retyped: k.objects_retyped,
        // The sleeping idle thread's saved reply (one slot) is the
        // server's own, like the pool's spare caps: not a client's.
        cap_slots_in_use: k.slots_in_use.saturating_sub(u64::from(s.idle_parked())),
        pmap_mappings: k.mappings,
        pmap_page_tables: k.page_tables,
        kobj_baseline: k.objects_baseline,
        cap_slots_baseline: k.slots_baseline,
    }
}

/// One client's counters (semantics: statistics).
pub fn client<P: Platform>(s: &Service<P>, id: ClientId) -> Result<ClientStats, ApiError> {
    let c = s.clients.get(&id).ok_or(ApiError::BadSpace)?;
    let space = s.vm.space(c.space).ok_or(ApiError::BadSpace)?;
    let map = space.map();
    let n = space.counters();
    let limits = s.vm.limits(c.space).map_err(crate::convert::error)?;
    let usage = s.vm.usage(c.space).map_err(crate::convert::error)?;
    let (resident, tables) = s.platform.space_footprint(c.space);
    // Every field is set: a new one must be filled here, not left at its
    // default (which would read as "never happened").
    Ok(ClientStats {
        client: id,
        resident_pages: resident,
        wired_pages: space.wired_pages(),
        mapped_bytes: map.entries().map(|e| e.end() - e.start()).sum(),
        map_entries: map.entries().count() as u64,
        handles: space.handle_count() as u64,
        faults: s.faults_of(id, c),
        flt_zero: n.flt_zero,
        flt_cow: n.flt_cow,
        flt_share: n.flt_share,
        flt_prefault: n.flt_prefault,
        pageins: n.pageins,
        live_children: s.clients.values().filter(|k| k.parent == Some(id)).count() as u64,
        resident_limit: limits.resident_pages,
        wired_limit: limits.wired_pages,
        swap_slots: usage.swap_slots,
        swap_limit: limits.swap_slots,
        group_map_entries: usage.map_entries,
        map_entries_limit: limits.map_entries,
        group_handles: usage.handles,
        handles_limit: limits.handles,
        page_tables: tables,
        page_tables_limit: limits.page_tables,
        group_children: usage.children,
        children_limit: limits.children,
        flt_large: n.flt_large,
        group_objects: usage.objects,
        objects_limit: limits.objects,
    })
}

/// `ClientList` for `caller`: the clients from id `from` on, as many as
/// one reply holds, and the id the rest start at (semantics:
/// observe-privilege). Errors in order: `BadSpace` (the caller is no
/// client), `NotPermitted` (no `observe`).
pub fn client_list<P: Platform>(
    s: &Service<P>,
    caller: ClientId,
    from: u64,
) -> Result<ClientListReply, ApiError> {
    let c = s.clients.get(&caller).ok_or(ApiError::BadSpace)?;
    if !c.privileges.observe {
        return Err(ApiError::NotPermitted);
    }
    let mut reply = ClientListReply::new();
    for (&id, client) in s.clients.range(from..) {
        if !reply.push(summary(s, id, client)) {
            // Full: `id` is above every id listed, so this holds.
            reply.set_next(id);
            break;
        }
    }
    Ok(reply)
}

/// One client's `ClientList` entry: the `ClientStats` fields of the same
/// names (zero for a space the VM no longer has).
fn summary<P: Platform>(s: &Service<P>, id: ClientId, c: &Client) -> ClientSummary {
    let (resident_pages, _) = s.platform.space_footprint(c.space);
    let space = s.vm.space(c.space);
    let n = space.map(|sp| sp.counters()).unwrap_or_default();
    ClientSummary {
        client: id,
        name: ClientName::truncated(&c.name),
        resident_pages,
        wired_pages: space.map_or(0, |sp| sp.wired_pages()),
        faults: s.faults_of(id, c),
        flt_zero: n.flt_zero,
        flt_cow: n.flt_cow,
        flt_prefault: n.flt_prefault,
        pageins: n.pageins,
        flt_large: n.flt_large,
    }
}
