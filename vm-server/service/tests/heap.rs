//! The heap bound, measured: every per-item cost in `vm_service::heap::cost` is at least what the item really takes (with a counting allocator), and hostile clients driving every quota at once keep the server's heap within `heap::bound`.
//!
//! One `#[test]` per binary would not be needed if the counter were per
//! thread; it is global, so everything runs in one test, in order.

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use vm_api::{ApiError, MmapRequest, Prot as WireProt};
use vm_core::sim::Sim;
use vm_core::{Limits, MmapArgs, Prot, SpaceId, Vm, VmConfig, PAGE_SIZE};
use vm_service::heap::{self, cost};
use vm_service::{Privileges, Service};

mod common;
use common::{client, TestPlatform};

/// Counts the bytes allocated now and the peak since the last reset.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only
// adds bookkeeping with atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let n = NOW.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(n, Ordering::Relaxed);
        // SAFETY: the caller's layout contract is passed on.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn now() -> u64 {
    NOW.load(Ordering::Relaxed) as u64
}

fn reset_peak() -> u64 {
    let n = NOW.load(Ordering::Relaxed);
    PEAK.store(n, Ordering::Relaxed);
    n as u64
}

fn peak() -> u64 {
    PEAK.load(Ordering::Relaxed) as u64
}

const P: u64 = PAGE_SIZE;
const N: u64 = 3000;

fn per_item(what: &str, bytes: u64, n: u64, limit: u64) {
    let each = bytes / n;
    eprintln!("{what}: {each} bytes each (limit {limit})");
    assert!(
        each <= limit,
        "{what} costs {each} bytes, the bound assumes {limit}"
    );
}

/// Random single-page addresses, so B-tree nodes fill as they will.
fn addresses(rng: &mut SmallRng) -> Vec<u64> {
    let mut v: Vec<u64> = (0..N).map(|i| 0x1000_0000 + 2 * i * P).collect();
    v.shuffle(rng);
    v
}

fn measure_costs() {
    let mut rng = SmallRng::seed_from_u64(1);
    let mut s = Sim::new(VmConfig::default(), 4096);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let addrs = addresses(&mut rng);
    // Map entries (no object until touched).
    let start = now();
    for (i, &a) in addrs.iter().enumerate() {
        let prot = if i % 2 == 0 { Prot::READ } else { Prot::RW };
        s.vm.mmap(sp, &MmapArgs::anon(P, prot).fixed(a), &mut s.pmap)
            .unwrap();
    }
    per_item("map entry", now() - start, N, cost::MAP_ENTRY);
    // An eager object per entry (OVERLAY), no page yet.
    let sp2 = s.vm.space_create(&mut s.pmap).unwrap();
    let before = now();
    for &a in &addrs {
        let mut args = MmapArgs::anon(P, Prot::RW).fixed(a);
        args.flags |= vm_core::MapFlags::OVERLAY;
        s.vm.mmap(sp2, &args, &mut s.pmap).unwrap();
        // Unmergeable neighbours: every other one read-only.
        if (a / P).is_multiple_of(4) {
            s.vm.mprotect(sp2, a, P, Prot::READ, &mut s.pmap).unwrap();
        }
    }
    per_item(
        "map entry + object",
        now() - before,
        N,
        cost::MAP_ENTRY + cost::OBJECT,
    );
    s.vm.exit(sp2, &mut s.pmap).unwrap();
    // Touching each makes its object, a resident page and a mapping.
    let before = now();
    for &a in &addrs {
        s.read_u8(sp, a).unwrap();
    }
    let each = cost::MAP_ENTRY + cost::OBJECT + cost::RESIDENT_PAGE + cost::MAPPING;
    per_item(
        "object + resident page + mapping",
        now() - before,
        N,
        each - cost::MAP_ENTRY,
    );
    // Half unmapped at random: the trees' nodes are emptier now, and what
    // is left must still fit the bound.
    for &a in addrs.iter().step_by(2) {
        s.vm.munmap(sp, a, P, &mut s.pmap).unwrap();
    }
    per_item("all of it, half unmapped", now() - start, N / 2, each);
    s.vm.exit(sp, &mut s.pmap).unwrap();

    // Handles and names.
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let before = now();
    for _ in 0..N {
        s.vm.shm_create(sp, None, P, Prot::ALL).unwrap();
    }
    per_item(
        "handle + object",
        now() - before,
        N,
        cost::HANDLE + cost::OBJECT,
    );
    let before = now();
    for i in 0..N {
        let name = format!("{i:0>64}");
        s.vm.shm_create(sp, Some(&name), P, Prot::ALL).unwrap();
    }
    // The test's own `name` strings are freed again; what stays is the VM's.
    per_item(
        "name + handle + object",
        now() - before,
        N,
        cost::NAME + cost::HANDLE + cost::OBJECT,
    );
    s.vm.exit(sp, &mut s.pmap).unwrap();

    // A chain at the depth limit, clipped into one-page entries: each
    // entry holds its own vector of the five links (the objects are
    // shared, counted once).
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let base = 0x1000_0000;
    s.vm.mmap(
        sp,
        &MmapArgs::anon(N * P, Prot::RW).fixed(base),
        &mut s.pmap,
    )
    .unwrap();
    let mut forks = Vec::new();
    for _ in 0..4 {
        s.write(sp, base, &[1]).unwrap();
        forks.push(s.vm.fork(sp, &mut s.pmap).unwrap());
    }
    s.write(sp, base, &[2]).unwrap();
    let depth =
        s.vm.space(sp)
            .unwrap()
            .map()
            .lookup(base)
            .unwrap()
            .chain()
            .len();
    assert_eq!(depth, 5, "the chain at the depth limit");
    let before = now();
    for i in (0..N).step_by(2) {
        s.vm.mprotect(sp, base + i * P, P, Prot::READ, &mut s.pmap)
            .unwrap();
    }
    per_item(
        "map entry with a five-link chain",
        now() - before,
        N - 1,
        cost::MAP_ENTRY + cost::CHAIN,
    );
    for c in forks {
        s.vm.exit(c, &mut s.pmap).unwrap();
    }
    s.vm.exit(sp, &mut s.pmap).unwrap();

    // Spaces.
    let before = now();
    let spaces: Vec<SpaceId> = (0..N / 10)
        .map(|_| s.vm.space_create(&mut s.pmap).unwrap())
        .collect();
    per_item(
        "space",
        now() - before - spaces.capacity() as u64 * 4,
        N / 10,
        cost::SPACE,
    );
    for sp in spaces {
        s.vm.exit(sp, &mut s.pmap).unwrap();
    }

    // Swap slots: the metadata of an object with pages on swap.
    let mut meta = vm_swap::SwapMeta::new();
    let before = now();
    let mut idx: Vec<u64> = (0..N).map(|i| i * 3).collect();
    idx.shuffle(&mut rng);
    for (k, &i) in idx.iter().enumerate() {
        meta.insert(i, vm_swap::SwapSlot(k as u32));
    }
    per_item("swap slot", now() - before, N, cost::SWAP_SLOT);
    drop(meta);
    // At its sparsest: every slot alone in its 16-page block.
    let mut meta = vm_swap::SwapMeta::new();
    let before = now();
    let mut idx: Vec<u64> = (0..N).map(|i| i * vm_swap::SWAP_META_PAGES).collect();
    idx.shuffle(&mut rng);
    for (k, &i) in idx.iter().enumerate() {
        meta.insert(i, vm_swap::SwapSlot(k as u32));
    }
    per_item(
        "swap slot alone in its block",
        now() - before,
        N,
        cost::SWAP_SLOT,
    );
    drop(meta);
}

/// Hostile clients drive every quota to its end at once; the heap stays
/// within the bound computed from their limits. With an `objects` limit
/// (`Some`) the bound counts that many objects instead of five a map
/// entry, and the clients' objects run out first where they make them
/// (shared memory, wired pages).
fn attack_within_bound(objects: Option<u64>) {
    const FRAMES: u32 = 1024;
    const CLIENTS: u64 = 6;
    let limits = Limits {
        map_entries: 2000,
        handles: 200,
        children: 4,
        wired_pages: 64,
        objects: objects.unwrap_or(u64::MAX),
        ..Limits::UNLIMITED
    };
    let base = reset_peak();
    let vm = Vm::new(VmConfig::default(), FRAMES).unwrap();
    let mut svc = Service::new(vm, TestPlatform::new(FRAMES));
    // The simulator's frame bytes are the machine's memory, not heap.
    let frames_bytes = u64::from(FRAMES) * P;
    for id in 1..=CLIENTS {
        let space = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
        svc.vm
            .set_limits(space, limits, &mut svc.platform.pmap)
            .unwrap();
        svc.add_client(id, format!("hostile-{id}"), space, Privileges::default());
    }
    let mut refused = [0u64; 4];
    for id in 1..=CLIENTS {
        // Mappings that cannot merge, until refused.
        let mut c = client(&mut svc, id);
        for i in 0u64.. {
            let prot = if i.is_multiple_of(2) {
                WireProt::READ
            } else {
                WireProt::RW
            };
            let req = MmapRequest::anon(P, prot).fixed(0x1000_0000 + 2 * i * P);
            match c.mmap(&req) {
                Ok(_) => {}
                Err(ApiError::QuotaMapEntries) => {
                    refused[0] += 1;
                    break;
                }
                Err(e) => panic!("mmap: {e:?}"),
            }
        }
        // Names and handles, until refused.
        for i in 0.. {
            match c.shm_create(&format!("n{i}"), P, WireProt::READ) {
                Ok(_) => {}
                Err(ApiError::QuotaHandles | ApiError::QuotaObjects) => {
                    refused[1] += 1;
                    break;
                }
                Err(e) => panic!("shm_create: {e:?}"),
            }
        }
        // Wired pages, one mapping at a time, until refused.
        for i in 0.. {
            match c.mlock(0x1000_0000 + 2 * i * P, P) {
                Ok(()) => {}
                Err(ApiError::QuotaWired | ApiError::QuotaObjects) => {
                    refused[3] += 1;
                    break;
                }
                Err(e) => panic!("mlock: {e:?}"),
            }
        }
        // Forks, until refused (the children are clients too; they idle).
        let mut forks = 0;
        loop {
            match client(&mut svc, id).fork() {
                Ok(_) => forks += 1,
                Err(
                    ApiError::QuotaChildren
                    | ApiError::QuotaMapEntries
                    | ApiError::QuotaHandles
                    | ApiError::QuotaObjects,
                ) => {
                    refused[2] += 1;
                    break;
                }
                Err(e) => panic!("fork: {e:?}"),
            }
            assert!(forks <= 4);
        }
    }
    let used = peak() - base - frames_bytes;
    let all = vec![limits; CLIENTS as usize];
    let bound = heap::bound(
        &all,
        u64::from(FRAMES),
        0,
        u64::from(FRAMES) * (CLIENTS * 5),
    )
    .expect("finite limits");
    eprintln!(
        "hostile clients (objects {objects:?}): peak heap {used} bytes, bound {bound}; refusals {refused:?}"
    );
    assert_eq!(refused, [CLIENTS; 4]);
    assert!(used <= bound, "peak heap {used} above the bound {bound}");
    drop(svc);
}

/// An object one group made may be held by another's handle or chain, so
/// the `objects` limits bound the objects only when every client has one:
/// one client without a limit leaves the bound at five objects an entry
/// and one a handle, whatever the others' limits.
#[test]
fn objects_limits_count_only_when_every_client_has_one() {
    let plain = Limits {
        map_entries: 1000,
        handles: 100,
        children: 2,
        ..Limits::UNLIMITED
    };
    let limited = Limits {
        objects: 50,
        ..plain
    };
    let old = |n: u64| {
        n * (1000 * (cost::MAP_ENTRY + cost::OBJECTS_PER_ENTRY * cost::OBJECT)
            + 100 * (cost::HANDLE.max(cost::NAME) + cost::OBJECT)
            + 3 * cost::SPACE)
    };
    assert_eq!(heap::clients_bound([&plain, &plain]), old(2));
    assert_eq!(heap::clients_bound([&limited, &plain]), old(2));
    let both = 2
        * (1000 * (cost::MAP_ENTRY + cost::CHAIN)
            + 100 * cost::HANDLE.max(cost::NAME)
            + 50 * cost::OBJECT
            + 3 * cost::SPACE);
    assert_eq!(heap::clients_bound([&limited, &limited]), both);
    assert!(both < old(2));
    // A limit above what the entries and handles can hold changes nothing.
    let loose = Limits {
        objects: 1 << 40,
        ..plain
    };
    assert_eq!(heap::clients_bound([&loose, &loose]), old(2));
}

/// `fit` lowers limits until the clients' bound fits the room, raises
/// none, leaves limits that fit alone, gives unlimited ones a value, and
/// scales objects limits only where every client has one.
#[test]
fn fit_lowers_limits_until_the_bound_holds() {
    let l = Limits {
        map_entries: 1000,
        handles: 100,
        children: 2,
        ..Limits::UNLIMITED
    };
    let fits = heap::clients_bound([&l, &l]);
    let mut same = [l, l];
    let f = heap::fit(&mut same, fits);
    assert_eq!((f.lowered, f.fits, same), (false, true, [l, l]));
    // Half the room: lowered, within it, none raised.
    let small = Limits {
        map_entries: 10,
        ..l
    };
    let mut lowered = [l, small, Limits { objects: 500, ..l }];
    let room = heap::clients_bound(lowered.iter()) / 2;
    let f = heap::fit(&mut lowered, room);
    assert!(f.lowered && f.fits, "{f:?}");
    assert!(heap::clients_bound(lowered.iter()) <= room);
    assert!(lowered[0].map_entries < 1000 && lowered[0].handles < 100);
    assert_eq!(lowered[1].map_entries, 10, "below the floor: not raised");
    assert_eq!(
        lowered[2].objects, 500,
        "not every client has one: left alone"
    );
    // Every client with an objects limit: those scale too.
    let lim = Limits { objects: 800, ..l };
    let mut both = [lim, lim];
    let room = heap::clients_bound(both.iter()) / 2;
    assert!(heap::fit(&mut both, room).fits);
    assert!(both[0].objects < 800);
    // Unlimited: given a share, and then within the room.
    let mut open = [Limits::UNLIMITED; 3];
    let f = heap::fit(&mut open, 8 << 20);
    assert!(f.lowered && f.fits, "{f:?}");
    assert!(open
        .iter()
        .all(|l| l.map_entries < u64::MAX && l.children == 64));
    // No room at all: the floors stay, and it says the bound does not fit.
    let mut none = [l, l];
    let f = heap::fit(&mut none, 1000);
    assert!(!f.fits);
    assert!(none.iter().all(|l| l.map_entries == 16 && l.handles == 16));
}

#[test]
fn the_heap_bound_holds() {
    measure_costs();
    attack_within_bound(None);
    attack_within_bound(Some(48));
}
