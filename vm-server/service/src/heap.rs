//! The server's heap bound: the most the VM and the service can allocate, from the pool, swap and capability-slot sizes and every client's limits — the arithmetic `docs/isolation.md` shows, checked by `tests/heap.rs`.
//!
//! Everything the server allocates on a client's behalf is bounded by a
//! quota of that client (map entries, handles and names, forked spaces,
//! objects) or by a global size fixed at start (frames, swap slots,
//! capability slots for mappings). A group's objects are at most
//! `OBJECTS_PER_ENTRY` a map entry and one a handle; a spec that sets an
//! `objects` limit below that bounds them by the limit instead, which is
//! what lets one client hold 100,000 map entries (docs/isolation.md). Each `cost` constant is the most one item takes
//! on the heap, B-tree nodes at their emptiest included; the host test
//! measures each and fails if one grows past its constant.

use vm_core::Limits;

/// Bytes per item, at most.
pub mod cost {
    /// A map entry: its record and its gap record in the map's B-trees.
    pub const MAP_ENTRY: u64 = 192;
    /// An object (slab slot, empty page tree and swap metadata) plus the
    /// chain link that holds it.
    pub const OBJECT: u64 = 256;
    /// Objects a map entry's chain holds at most (`max_chain_depth`).
    pub const OBJECTS_PER_ENTRY: u64 = 5;
    /// A handle (or a name: its 64-byte key and entry).
    pub const HANDLE: u64 = 96;
    pub const NAME: u64 = 256;
    /// An address space (map, tables, counters) and the service's and
    /// platform's records of its client.
    pub const SPACE: u64 = 1024;
    /// Every frame's fixed records, made at start: its `VmPage` (16), the
    /// replacement policy's links and counts (CLOCK: 10), and for a frame
    /// a 4 KiB mapping may use the seL4 pmap's cap, spare cap, reverse
    /// map and the free queue's links (40), and the swap device's frame
    /// address (4), rounded up. (32 until
    /// 2026-12-06, which undercounted the pmap's records.)
    pub const FRAME: u64 = 72;
    /// A resident page's slot in its object's page tree: at worst alone
    /// in its 64-byte block (`vm_core::block_map`), the object's first,
    /// whose outer tree node (144 bytes) and place in the block vector
    /// (16 bytes, at most 24 with its slack) come with it.
    pub const RESIDENT_PAGE: u64 = 160;
    /// A swap slot's entry in its object's swap metadata: at worst alone
    /// in its boxed 16-slot block (measured 103; 64 until 2026-12-06,
    /// which only a dense object's slots kept within).
    pub const SWAP_SLOT: u64 = 112;
    /// The platform's record of one mapping (seL4: the space's mapping
    /// tree plus the frame's reverse-map entry).
    pub const MAPPING: u64 = 192;
    /// Fixed: the service, the VM's tables, the swap pager's buffers.
    pub const BASE: u64 = 256 << 10;
}

/// The heap one client group may cost at most with `limits` (unlimited
/// kinds count as 0: the caller must give every client finite limits
/// for the bound to mean anything).
pub fn group_bound(l: &Limits) -> u64 {
    let fin = |v: u64| if v == u64::MAX { 0 } else { v };
    let entries = fin(l.map_entries);
    let handles = fin(l.handles);
    let spaces = fin(l.children).saturating_add(1);
    let objects = entries
        .saturating_mul(cost::OBJECTS_PER_ENTRY)
        .saturating_add(handles)
        .min(l.objects);
    entries
        .saturating_mul(cost::MAP_ENTRY)
        .saturating_add(handles.saturating_mul(cost::HANDLE.max(cost::NAME)))
        .saturating_add(objects.saturating_mul(cost::OBJECT))
        .saturating_add(spaces.saturating_mul(cost::SPACE))
}

/// The heap the whole server may need at most: fixed, per frame, per swap
/// slot, per mapping slot, plus every client group's bound. `None` when
/// some client has an unlimited map-entry, handle or children quota.
pub fn bound<'a>(
    clients: impl IntoIterator<Item = &'a Limits>,
    frames: u64,
    swap_slots: u64,
    mapping_slots: u64,
) -> Option<u64> {
    let mut total = cost::BASE
        + frames * (cost::FRAME + cost::RESIDENT_PAGE)
        + swap_slots * cost::SWAP_SLOT
        + mapping_slots * cost::MAPPING;
    for l in clients {
        if [l.map_entries, l.handles, l.children].contains(&u64::MAX) {
            return None;
        }
        total = total.saturating_add(group_bound(l));
    }
    Some(total)
}
