//! The server's heap bound: the most the VM and the service can allocate, from the pool, swap and capability-slot sizes and every client's limits — the arithmetic `docs/isolation.md` shows, checked by `tests/heap.rs`.
//!
//! Everything the server allocates on a client's behalf is bounded by a
//! quota of that client (map entries, handles and names, forked spaces,
//! objects) or by a global size fixed at start (frames, swap slots,
//! capability slots for mappings). Every live object a client can make
//! is held by some entry's chain (at most `OBJECTS_PER_ENTRY` each), some
//! handle or some name (counted as handles), of any group: an object one
//! group made may be held by another's (a shared handle), so the objects
//! are bounded over all groups together, not group by group. When every
//! client has an `objects` limit, the sum of the limits bounds them too,
//! and the smaller of the two counts; that is what lets one client hold
//! 100,000 map entries (docs/isolation.md). Each `cost` constant is the most one item takes
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
    /// A map entry's chain storage beyond its one inline link: a chain of
    /// two or more links is a vector of its own for each entry (8 links
    /// of 16 bytes at the depth limit). `OBJECT` includes it where objects
    /// are counted per entry; where the `objects` limits count them, each
    /// entry's chain is counted here.
    pub const CHAIN: u64 = 128;
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

/// The heap the client groups with `limits` (one per client) may cost at
/// most together (unlimited kinds count as 0: the caller must give every
/// client finite map-entry, handle and children limits for the bound to
/// mean anything). Without an `objects` limit on every client this is
/// five objects per entry and one per handle, as before the objects
/// quota existed.
pub fn clients_bound<'a>(limits: impl IntoIterator<Item = &'a Limits>) -> u64 {
    let fin = |v: u64| if v == u64::MAX { 0 } else { v };
    let (mut entries, mut handles, mut spaces) = (0u64, 0u64, 0u64);
    let mut objects_limit = Some(0u64);
    for l in limits {
        entries = entries.saturating_add(fin(l.map_entries));
        handles = handles.saturating_add(fin(l.handles));
        spaces = spaces.saturating_add(fin(l.children).saturating_add(1));
        objects_limit = objects_limit
            .zip((l.objects != u64::MAX).then_some(l.objects))
            .map(|(a, b)| a.saturating_add(b));
    }
    let held = entries
        .saturating_mul(cost::OBJECTS_PER_ENTRY)
        .saturating_add(handles)
        .saturating_mul(cost::OBJECT);
    let objects = match objects_limit {
        Some(n) => n
            .saturating_mul(cost::OBJECT)
            .saturating_add(entries.saturating_mul(cost::CHAIN))
            .min(held),
        None => held,
    };
    entries
        .saturating_mul(cost::MAP_ENTRY)
        .saturating_add(handles.saturating_mul(cost::HANDLE.max(cost::NAME)))
        .saturating_add(objects)
        .saturating_add(spaces.saturating_mul(cost::SPACE))
}

/// The heap the whole server may need at most: fixed, per frame, per swap
/// slot, per mapping slot, plus the client groups' `clients_bound`.
/// `None` when some client has an unlimited map-entry, handle or
/// children quota.
pub fn bound(clients: &[Limits], frames: u64, swap_slots: u64, mapping_slots: u64) -> Option<u64> {
    if clients
        .iter()
        .any(|l| [l.map_entries, l.handles, l.children].contains(&u64::MAX))
    {
        return None;
    }
    let global = cost::BASE
        + frames * (cost::FRAME + cost::RESIDENT_PAGE)
        + swap_slots * cost::SWAP_SLOT
        + mapping_slots * cost::MAPPING;
    Some(global.saturating_add(clients_bound(clients)))
}

/// What [`fit`] did to the clients' limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// Some limit was lowered (or an unlimited one given a value).
    pub lowered: bool,
    /// The clients' bound fits `room` now; false only when even the
    /// smallest limits it leaves (16, or lower ones as they were) do not.
    pub fits: bool,
}

/// The fewest map entries and handles `fit` leaves a client: enough to
/// load its program and make a few mappings.
const FLOOR: u64 = 16;

/// Lowers `limits` (one per client) until `clients_bound` fits `room`:
/// an unlimited map-entry or handle limit first gets an even share of an
/// eighth of the room, an unlimited children limit 64; then the finite
/// map-entry and handle limits, and the objects limits where every client
/// has one (elsewhere they do not enter the bound), are scaled down
/// together, never below [`FLOOR`] and never raised.
pub fn fit(limits: &mut [Limits], room: u64) -> Fit {
    let mut lowered = false;
    let n = limits.len().max(1) as u64;
    for l in limits.iter_mut() {
        let share = (room / 8 / cost::MAP_ENTRY / n).max(FLOOR);
        for v in [&mut l.map_entries, &mut l.handles] {
            if *v == u64::MAX {
                *v = share;
                lowered = true;
            }
        }
        if l.children == u64::MAX {
            l.children = 64;
            lowered = true;
        }
    }
    let objects_count = limits.iter().all(|l| l.objects != u64::MAX);
    // Each pass scales by what is left over what is needed; the spaces
    // term does not scale, so a pass may fall short and another follows.
    for _ in 0..64 {
        let need = clients_bound(limits.iter());
        if need <= room {
            return Fit {
                lowered,
                fits: true,
            };
        }
        let mut changed = false;
        let mut scale = |v: &mut u64| {
            let scaled = (*v as u128 * room as u128 / need as u128) as u64;
            let new = scaled.max((*v).min(FLOOR));
            if new < *v {
                *v = new;
                changed = true;
            }
        };
        for l in limits.iter_mut() {
            scale(&mut l.map_entries);
            scale(&mut l.handles);
            if objects_count {
                scale(&mut l.objects);
            }
        }
        lowered |= changed;
        if !changed {
            break;
        }
    }
    Fit {
        lowered,
        fits: clients_bound(limits.iter()) <= room,
    }
}
