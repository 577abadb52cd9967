//! System test: demand-zero memory. Maps 64 MiB, writes a pattern to every
//! page, verifies it forwards and backwards (with the system spec's VM pool
//! of a quarter of that, the pages go through swap and come back, which
//! the statistics must show), unmaps a hole in the middle and checks the hole is
//! gone while the rest survives; `MADV_DONTNEED` and `MADV_FREE` give
//! zero-fill pages back (the pages leave the client: `mincore` shows them
//! gone until touched again). Last, it touches the hole: the VM server
//! must stop it with a no-mapping fault, which it announces to the root
//! task first.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use sel4_root_task::control::{expect_exit, STATUS_KILLED};
use vm_client::vm_api::{Advice, ApiError, Mincore, MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;
const SIZE: u64 = 64 * MIB;

/// Per-instance seed, from the component name: the system spec runs this
/// program twice at once, and neither may pass with the other's pages.
static SEED: AtomicU64 = AtomicU64::new(0x5eed);

/// The word written at `offset` of the region.
fn pattern(offset: u64) -> u64 {
    offset.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ SEED.load(Relaxed)
}

/// FNV-1a of `name`.
fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn word(addr: u64) -> *mut u64 {
    addr as *mut u64
}

fn main(env: &mut Env) -> u64 {
    env.plan(8);
    SEED.store(seed_of(env.name()), Relaxed);
    let base = match env.vm.mmap(&MmapRequest::anon(SIZE, Prot::RW)) {
        Ok(a) => a,
        Err(e) => {
            env.check("mmap-64m", false, format_args!("{e:?}"));
            return env.failures();
        }
    };
    env.check(
        "mmap-64m",
        base % PAGE == 0,
        format_args!("address {base:#x}"),
    );

    // First touch reads zero; then a pattern word at the start of every page.
    let mut zero = true;
    for off in (0..SIZE).step_by(PAGE as usize) {
        // SAFETY: inside the mapping just made.
        unsafe {
            zero &= word(base + off).read_volatile() == 0;
            word(base + off).write_volatile(pattern(off));
            word(base + off + PAGE - 8).write_volatile(!pattern(off));
        }
    }
    env.check(
        "first-touch-reads-zero",
        zero,
        format_args!("a fresh page was not zero"),
    );
    let bad = verify(base, 0, SIZE, &[]);
    env.check(
        "pattern-64m",
        bad.is_none(),
        format_args!("mismatch at offset {:#x}", bad.unwrap_or(0)),
    );
    // Again in the other order: with a pool smaller than 64 MiB the pages
    // come back from swap in a different order than they went out.
    let bad = verify_backward(base, SIZE);
    env.check(
        "pattern-64m-backward",
        bad.is_none(),
        format_args!("mismatch at offset {:#x}", bad.unwrap_or(0)),
    );
    // With the system spec's small VM pool, that was paging.
    let stats = env.vm.stats();
    let pool = stats.as_ref().map(|s| s.npages * PAGE).unwrap_or(0);
    env.check(
        "paged-through-swap",
        stats
            .as_ref()
            .is_ok_and(|s| pool >= SIZE || (s.pageouts > 0 && s.pageins > 0)),
        format_args!(
            "pool {} MiB, {:?}",
            pool >> 20,
            stats.map(|s| (s.pageouts, s.pageins))
        ),
    );

    // A 1 MiB hole at 32 MiB.
    let hole = base + 32 * MIB;
    let r = env.vm.munmap(hole, MIB);
    let mut buf = [Mincore::empty(); 4];
    let hole_gone = matches!(
        env.vm.mincore(hole, 4 * PAGE, &mut buf),
        Err(ApiError::NoMapping)
    );
    let bad = verify(base, 0, SIZE, &[(32 * MIB, 33 * MIB)]);
    env.check(
        "partial-munmap",
        r.is_ok() && hole_gone && bad.is_none(),
        format_args!("munmap {r:?}, hole gone {hole_gone}, mismatch {bad:?}"),
    );

    // MADV_FREE: private anonymous contents may go (semantics:
    // madvise-free-private): each page reads its old word or zero,
    // whichever pageout left it (which pages go depends on the policy and
    // on what was resident; the model test checks the exact rules).
    let free_at = base + 8 * MIB;
    let r = env.vm.madvise(free_at, 16 * PAGE, Advice::Free);
    let bad = (0..16u64).find(|&i| {
        // SAFETY: 16 pages from 8 MiB: inside the 64 MiB mapping, clear
        // of the hole at 32 MiB; MADV_FREE drops contents, never the
        // mapping.
        let w = unsafe { word(free_at + i * PAGE).read_volatile() };
        w != 0 && w != pattern(8 * MIB + i * PAGE)
    });
    env.check(
        "madvise-free-zero-fill",
        r.is_ok() && bad.is_none(),
        format_args!("madvise {r:?}, first page neither zero nor its old word: {bad:?}"),
    );

    // MADV_DONTNEED: the pages go; touching them again gives zero pages.
    let dn = base + 16 * MIB;
    let r = env.vm.madvise(dn, 16 * PAGE, Advice::DontNeed);
    let n = env.vm.mincore(dn, 4 * PAGE, &mut buf);
    let gone = n.is_ok() && buf.iter().all(|m| !m.contains(Mincore::INCORE));
    // SAFETY: 16 pages from 16 MiB: inside the mapping, clear of the hole;
    // MADV_DONTNEED drops the pages, never the mapping.
    let zeroed = (0..16).all(|i| unsafe { word(dn + i * PAGE).read_volatile() } == 0);
    let rest = verify(base, 16 * MIB + 16 * PAGE, 17 * MIB, &[]).is_none();
    env.check(
        "madvise-dontneed-zero-fill",
        r.is_ok() && gone && zeroed && rest,
        format_args!("madvise {r:?}, gone {gone}, zeroed {zeroed}, neighbours intact {rest}"),
    );

    // Touching the hole ends the program: announce it, then do it.
    let failures = env.failures();
    println!(
        "{}: touching the unmapped hole at {hole:#x}; the VM server must stop me",
        env.name()
    );
    expect_exit(if failures == 0 {
        STATUS_KILLED + ApiError::NoMapping.code()
    } else {
        failures
    });
    // SAFETY: deliberately faulting; the VM server stops this thread.
    unsafe { word(hole).read_volatile() }
}

/// First offset, walking down from the end, whose pattern is wrong.
fn verify_backward(base: u64, size: u64) -> Option<u64> {
    (0..size / PAGE).rev().map(|i| i * PAGE).find(|&off| {
        // SAFETY: inside the mapping.
        let (a, b) = unsafe {
            (
                word(base + off).read_volatile(),
                word(base + off + PAGE - 8).read_volatile(),
            )
        };
        a != pattern(off) || b != !pattern(off)
    })
}

/// First offset in `[from, to)` whose pattern is wrong, skipping `holes`.
fn verify(base: u64, from: u64, to: u64, holes: &[(u64, u64)]) -> Option<u64> {
    for off in (from..to).step_by(PAGE as usize) {
        if holes.iter().any(|&(a, b)| off >= a && off < b) {
            continue;
        }
        // SAFETY: inside the mapping, outside the holes.
        let (a, b) = unsafe {
            (
                word(base + off).read_volatile(),
                word(base + off + PAGE - 8).read_volatile(),
            )
        };
        if a != pattern(off) || b != !pattern(off) {
            return Some(off);
        }
    }
    None
}
