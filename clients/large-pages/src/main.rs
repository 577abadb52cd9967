//! System test: 2 MiB large pages (`madvise(HUGEPAGE)`). Maps 64 MiB at a
//! 2 MiB-aligned address, asks for large pages, touches it in order
//! writing one distinct word per 4 KiB page and reads it all back: at
//! most 1/256 of the 16384 faults a 4 KiB first touch takes, and a large
//! fault per 2 MiB chunk. Then, in the middle of that memory: a partial
//! munmap inside one chunk, a read-only mprotect of part of another, a
//! fork whose child writes a third (each side keeps its own bytes), and
//! pageout forced by touching more 4 KiB pages than the small pool holds;
//! every remaining word is checked after each; a forked child that maps
//! large pages of its own and then crashes gives them back. Last, `NoHugePage` on it
//! all keeps every byte, and new writes read back; and a large page
//! mapped where 4 KiB pages were (the server unmaps their page table).
//! The spec turns transparent large pages on: an unadvised 2 MiB chunk
//! filled by 4 KiB faults is promoted once full, one advised `NoHugePage`
//! is not (the filler above is advised `NoHugePage` so it stays small).
//!
//! First, while this client is the only one (nothing else runs when it
//! blocks): `IdleWait` returns once the VM server's idle thread has
//! zeroed free frames ahead, and 4 KiB zero-fill faults then map those
//! frames, which read as zero.
#![no_std]
#![no_main]

use vm_client::vm_api::{Advice, ClientStats, ForkReply, MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;
const CHUNK: u64 = 2 * MIB;
const SIZE: u64 = 64 * MIB;
const PAGES: u64 = SIZE / PAGE;
/// The partial munmap: 16 KiB in the middle of chunk 1.
const HOLE: (u64, u64) = (CHUNK + 512 * 1024, 16 * 1024);
/// The read-only part of chunk 2.
const READ_ONLY: (u64, u64) = (2 * CHUNK + MIB, 256 * 1024);
/// The chunk the forked child writes.
const CHILD_CHUNK: u64 = 3 * CHUNK;
/// 4 KiB pages touched to force pageout: more than the spec's small
/// pool (capdl/large-pages.spec: about 11 MiB).
const FILLER: u64 = 20 * MIB;
/// Tags of the values written: the first touch, the child, the last pass.
const FIRST: u64 = 0x1a7e;
const CHILD: u64 = 0xc41d;
const LAST: u64 = 0x1a57;

/// The word written at the start of the page at `offset`, with `tag`.
fn pattern(offset: u64, tag: u64) -> u64 {
    offset.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (tag << 48)
}

fn in_range(off: u64, (start, len): (u64, u64)) -> bool {
    off >= start && off < start + len
}

/// Writes `pattern(off, tag)` at every page of `[from, to)` of the region
/// at `base`, skipping the hole.
fn fill(base: u64, from: u64, to: u64, tag: u64) {
    for off in (from..to).step_by(PAGE as usize) {
        if !in_range(off, HOLE) {
            // SAFETY: inside the region mapped read-write in main (the
            // hole skipped; callers skip the read-only part).
            unsafe { ((base + off) as *mut u64).write_volatile(pattern(off, tag)) };
        }
    }
}

/// The first page of `[from, to)` whose word is not `pattern(off,
/// tag_of(off))`, the hole skipped.
fn first_bad(base: u64, from: u64, to: u64, tag_of: impl Fn(u64) -> u64) -> Option<u64> {
    (from..to).step_by(PAGE as usize).find(|&off| {
        // SAFETY: inside the region mapped in main, at least readable
        // everywhere but the hole, which is skipped.
        !in_range(off, HOLE)
            && unsafe { ((base + off) as *const u64).read_volatile() } != pattern(off, tag_of(off))
    })
}

fn main(env: &mut Env) -> u64 {
    env.plan(15);
    idle_zeroed_frames(env);
    let req = MmapRequest {
        align: CHUNK,
        ..MmapRequest::anon(SIZE, Prot::RW)
    };
    let base = match env.vm.mmap(&req) {
        Ok(a) if a % CHUNK == 0 => a,
        r => {
            env.check("mmap-64m-aligned", false, format_args!("{r:?}"));
            return env.failures();
        }
    };
    let advised = env.vm.madvise(base, SIZE, Advice::HugePage);
    env.check(
        "madvise-hugepage",
        advised.is_ok(),
        format_args!("{advised:?}"),
    );
    first_touch(env, base);
    partial_operations(env, base);
    fork_writes_its_own(env, base);
    crashed_child_gives_large_pages_back(env, base);
    pageout_keeps_bytes(env, base);
    no_huge_page_keeps_bytes(env, base);
    let _ = env.vm.munmap(base, SIZE);
    large_over_old_page_table(env, base);
    transparent_promotion(env);
    env.failures()
}

/// Small pages touched after `IdleWait`.
const IDLE_PAGES: u64 = 64;

/// `IdleWait`, then [`IDLE_PAGES`] zero-fill faults that each find a
/// frame zeroed ahead and read zero in every byte.
fn idle_zeroed_frames(env: &mut Env) {
    let name = "idle-zeroed-frames";
    if let Err(e) = env.vm.idle_wait() {
        env.check(name, false, format_args!("IdleWait: {e:?}"));
        return;
    }
    let len = IDLE_PAGES * PAGE;
    let (Ok(before), Ok(a)) = (
        env.vm.stats(),
        env.vm.mmap(&MmapRequest::anon(len, Prot::RW)),
    ) else {
        env.check(name, false, format_args!("no stats or no mmap"));
        return;
    };
    // One fault a page: no fault-around, no large page.
    let _ = env.vm.madvise(a, len, Advice::Random);
    let _ = env.vm.madvise(a, len, Advice::NoHugePage);
    let nonzero = (0..len / 8).find(|&i| {
        // SAFETY: inside the mapping just made, read-write.
        unsafe { ((a + i * 8) as *const u64).read_volatile() != 0 }
    });
    let after = env.vm.stats();
    let _ = env.vm.munmap(a, len);
    let Ok(after) = after else {
        env.check(name, false, format_args!("no stats"));
        return;
    };
    let hits = after.pga_zerohit - before.pga_zerohit;
    env.check(
        name,
        nonzero.is_none() && before.zeropages >= IDLE_PAGES && hits >= IDLE_PAGES,
        format_args!(
            "{} frames zeroed ahead before, {hits} zero-fills found one for {IDLE_PAGES} touches, first nonzero word {nonzero:?}",
            before.zeropages
        ),
    );
}

/// (a): the first touch of 64 MiB takes at most 64 faults, 32 of them large.
fn first_touch(env: &mut Env, base: u64) {
    let before = env.vm.client_stats();
    fill(base, 0, SIZE, FIRST);
    let after = env.vm.client_stats();
    let (Ok(before), Ok(after)) = (before, after) else {
        env.check("first-touch-faults", false, format_args!("no ClientStats"));
        env.check(
            "first-touch-large-faults",
            false,
            format_args!("no ClientStats"),
        );
        return;
    };
    let delta = |f: fn(&ClientStats) -> u64| f(&after).saturating_sub(f(&before));
    let faults = delta(|s| s.faults);
    let large = delta(|s| s.flt_large);
    println!(
        "{}: first touch of 64 MiB: {faults} faults, {large} large, {} zero-fill",
        env.name(),
        delta(|s| s.flt_zero)
    );
    env.check(
        "first-touch-faults",
        faults <= PAGES / 256,
        format_args!("{faults} faults, want at most {}", PAGES / 256),
    );
    env.check(
        "first-touch-large-faults",
        large >= SIZE / CHUNK,
        format_args!("{large} large faults, want at least {}", SIZE / CHUNK),
    );
    let bad = first_bad(base, 0, SIZE, |_| FIRST);
    env.check(
        "first-touch-reads-back",
        bad.is_none(),
        format_args!("page at offset {:#x} lost its word", bad.unwrap_or(0)),
    );
}

/// (b), first part: a partial munmap and a partial read-only mprotect
/// inside large chunks; every other word stays.
fn partial_operations(env: &mut Env, base: u64) {
    let unmapped = env.vm.munmap(base + HOLE.0, HOLE.1);
    let protected = env.vm.mprotect(base + READ_ONLY.0, READ_ONLY.1, Prot::READ);
    let bad = first_bad(base, 0, SIZE, |_| FIRST);
    env.check(
        "partial-munmap-and-mprotect-keep-bytes",
        unmapped.is_ok() && protected.is_ok() && bad.is_none(),
        format_args!("munmap {unmapped:?}, mprotect {protected:?}, first bad page {bad:?}"),
    );
    // A write into the read-only part would stop this client (the VM
    // server refuses the fault), which it cannot observe and go on: the
    // protection is checked by the model and semantics tests instead.
}

/// (b), fork: the child writes `CHILD_CHUNK`; it sees its writes and the
/// parent's other bytes, the parent keeps its own.
fn fork_writes_its_own(env: &mut Env, base: u64) {
    let shared = match env.vm.mmap(&MmapRequest::anon_shared(PAGE, Prot::RW)) {
        Ok(a) => a,
        Err(e) => {
            env.check("fork-child-sees-its-writes", false, format_args!("{e:?}"));
            env.check("fork-parent-keeps-its-bytes", false, format_args!("{e:?}"));
            return;
        }
    };
    let verdict = shared as *mut u64;
    let child_tag = |off: u64| {
        if (CHILD_CHUNK..CHILD_CHUNK + CHUNK).contains(&off) {
            CHILD
        } else {
            FIRST
        }
    };
    match env.vm.fork() {
        Ok(ForkReply::Child { .. }) => {
            fill(base, CHILD_CHUNK, CHILD_CHUNK + CHUNK, CHILD);
            let bad = first_bad(base, 0, SIZE, child_tag);
            let v = match bad {
                None => 1,
                Some(off) => off | 1 << 63,
            };
            // SAFETY: the shared page mapped above, shared with the parent.
            unsafe { verdict.write_volatile(v) };
            let _ = env.vm.exit(u64::from(bad.is_some()));
            return;
        }
        Ok(ForkReply::Parent { .. }) => {}
        Err(e) => {
            env.check("fork-child-sees-its-writes", false, format_args!("{e:?}"));
            env.check("fork-parent-keeps-its-bytes", false, format_args!("{e:?}"));
            return;
        }
    }
    let waited = env.wait_children(5_000_000);
    // SAFETY: the shared page mapped above; the child has exited.
    let v = unsafe { verdict.read_volatile() };
    env.check(
        "fork-child-sees-its-writes",
        waited && v == 1,
        format_args!("child ended: {waited}, verdict {v:#x} (bit 63: first bad offset)"),
    );
    let bad = first_bad(base, 0, SIZE, |_| FIRST);
    env.check(
        "fork-parent-keeps-its-bytes",
        bad.is_none(),
        format_args!("page at offset {:#x} changed", bad.unwrap_or(0)),
    );
    let _ = env.vm.munmap(shared, PAGE);
}

/// Crash cleanup: a forked child maps 4 MiB of large pages of its own,
/// then touches the parent's munmapped hole, and the VM server stops it;
/// its large frames must come back (`large_pages_used` no higher than
/// before the fork).
fn crashed_child_gives_large_pages_back(env: &mut Env, base: u64) {
    const WHAT: &str = "crashed-child-gives-large-pages-back";
    let shared = match env.vm.mmap(&MmapRequest::anon_shared(PAGE, Prot::RW)) {
        Ok(a) => a,
        Err(e) => {
            env.check(WHAT, false, format_args!("{e:?}"));
            return;
        }
    };
    let large_faults = shared as *mut u64;
    let before = env.vm.stats().map(|s| s.large_pages_used);
    match env.vm.fork() {
        Ok(ForkReply::Child { .. }) => {
            let req = MmapRequest {
                align: CHUNK,
                ..MmapRequest::anon(2 * CHUNK, Prot::RW)
            };
            if let Ok(a) = env.vm.mmap(&req) {
                let _ = env.vm.madvise(a, 2 * CHUNK, Advice::HugePage);
                for off in (0..2 * CHUNK).step_by(PAGE as usize) {
                    // SAFETY: inside the 4 MiB this child just mapped.
                    unsafe { ((a + off) as *mut u64).write_volatile(off) };
                }
                let n = env.vm.client_stats().map_or(0, |s| s.flt_large);
                // SAFETY: the shared page mapped above, shared with the parent.
                unsafe { large_faults.write_volatile(n) };
            }
            // SAFETY: touches no memory of this program: the hole is
            // unmapped, so the VM server stops the child (NoMapping)
            // before the write happens, which is the point.
            unsafe { ((base + HOLE.0) as *mut u64).write_volatile(1) };
            let _ = env.vm.exit(1);
            return;
        }
        Ok(ForkReply::Parent { .. }) => {}
        Err(e) => {
            env.check(WHAT, false, format_args!("fork: {e:?}"));
            return;
        }
    }
    let waited = env.wait_children(5_000_000);
    let after = env.vm.stats().map(|s| s.large_pages_used);
    // SAFETY: the shared page mapped above; the child is gone.
    let n = unsafe { large_faults.read_volatile() };
    env.check(
        WHAT,
        waited && n >= 2 && matches!((before, after), (Ok(b), Ok(a)) if a <= b),
        format_args!(
            "child ended: {waited}, its large faults {n}, large pages used {before:?} -> {after:?}"
        ),
    );
    let _ = env.vm.munmap(shared, PAGE);
}

/// (b), pageout: touching more 4 KiB pages than the small pool holds
/// pages out; the large-page memory and the filler keep their bytes.
fn pageout_keeps_bytes(env: &mut Env, base: u64) {
    let before = env.vm.stats().map(|s| s.pageouts).unwrap_or(0);
    let filler = match env.vm.mmap(&MmapRequest::anon(FILLER, Prot::RW)) {
        Ok(a) => a,
        Err(e) => {
            env.check("pageout-ran", false, format_args!("filler mmap: {e:?}"));
            env.check(
                "pageout-keeps-bytes",
                false,
                format_args!("filler mmap: {e:?}"),
            );
            return;
        }
    };
    // 4 KiB pages, not promoted chunks: they must crowd the small pool.
    let _ = env.vm.madvise(filler, FILLER, Advice::NoHugePage);
    for off in (0..FILLER).step_by(PAGE as usize) {
        // SAFETY: inside the filler mapped read-write just above.
        unsafe { ((filler + off) as *mut u64).write_volatile(pattern(off, LAST)) };
    }
    let after = env.vm.stats().map(|s| s.pageouts).unwrap_or(0);
    env.check(
        "pageout-ran",
        after > before,
        format_args!("pageouts {before} -> {after}"),
    );
    let bad_filler = (0..FILLER).step_by(PAGE as usize).find(|&off| {
        // SAFETY: as above.
        let word = unsafe { ((filler + off) as *const u64).read_volatile() };
        word != pattern(off, LAST)
    });
    let bad = first_bad(base, 0, SIZE, |_| FIRST);
    env.check(
        "pageout-keeps-bytes",
        bad.is_none() && bad_filler.is_none(),
        format_args!("first bad page: large {bad:?}, filler {bad_filler:?}"),
    );
    let _ = env.vm.munmap(filler, FILLER);
}

/// (c): `NoHugePage` afterwards keeps every byte; new writes read back.
fn no_huge_page_keeps_bytes(env: &mut Env, base: u64) {
    // Around the hole: a range with a hole in it is refused (NoMapping).
    let advised = env
        .vm
        .madvise(base, HOLE.0, Advice::NoHugePage)
        .and_then(|()| {
            let after = HOLE.0 + HOLE.1;
            env.vm
                .madvise(base + after, SIZE - after, Advice::NoHugePage)
        });
    let bad = first_bad(base, 0, SIZE, |_| FIRST);
    env.check(
        "nohugepage-keeps-bytes",
        advised.is_ok() && bad.is_none(),
        format_args!("madvise {advised:?}, first bad page {bad:?}"),
    );
    let writable = env.vm.mprotect(base + READ_ONLY.0, READ_ONLY.1, Prot::RW);
    if writable.is_err() {
        env.check(
            "nohugepage-writes-read-back",
            false,
            format_args!("mprotect {writable:?}"),
        );
        return;
    }
    fill(base, 0, SIZE, LAST);
    let bad = first_bad(base, 0, SIZE, |_| LAST);
    env.check(
        "nohugepage-writes-read-back",
        bad.is_none(),
        format_args!("first bad page {bad:?}"),
    );
}

/// A fresh `HugePage` mapping at the address of 4 KiB pages just
/// unmapped: the server must take their page table out of the slot to map
/// the 2 MiB page there.
fn large_over_old_page_table(env: &mut Env, base: u64) {
    let req = MmapRequest::anon(CHUNK, Prot::RW).fixed(base);
    let mapped = env
        .vm
        .mmap(&req)
        .and_then(|_| env.vm.madvise(base, CHUNK, Advice::HugePage));
    let before = env.vm.client_stats().map(|s| s.flt_large);
    if mapped.is_ok() {
        for off in (0..CHUNK).step_by(PAGE as usize) {
            // SAFETY: inside the 2 MiB just mapped read-write at `base`.
            unsafe { ((base + off) as *mut u64).write_volatile(pattern(off, LAST)) };
        }
    }
    let after = env.vm.client_stats().map(|s| s.flt_large);
    let bad = mapped.is_ok().then(|| {
        (0..CHUNK).step_by(PAGE as usize).find(|&off| {
            // SAFETY: as above.
            let word = unsafe { ((base + off) as *const u64).read_volatile() };
            word != pattern(off, LAST)
        })
    });
    env.check(
        "large-over-old-page-table",
        matches!((before, after), (Ok(b), Ok(a)) if a > b) && bad == Some(None),
        format_args!(
            "mmap/madvise {mapped:?}, flt_large {before:?} -> {after:?}, first bad page {bad:?}"
        ),
    );
    let _ = env.vm.munmap(base, CHUNK);
}

/// (d), transparent large pages (`transparent_large_pages` in the spec):
/// of two unadvised 2 MiB chunks filled by 4 KiB writes, the first is
/// promoted to a large page once full; the second, advised `NoHugePage`,
/// is not. Every word reads back.
fn transparent_promotion(env: &mut Env) {
    let req = MmapRequest {
        align: CHUNK,
        ..MmapRequest::anon(2 * CHUNK, Prot::RW)
    };
    let at = match env.vm.mmap(&req) {
        Ok(a) => a,
        Err(e) => {
            env.check("transparent-promotion", false, format_args!("mmap: {e:?}"));
            return;
        }
    };
    let opted_out = env.vm.madvise(at + CHUNK, CHUNK, Advice::NoHugePage);
    let before = env.vm.stats().map(|s| s.large_promotes);
    for off in (0..2 * CHUNK).step_by(PAGE as usize) {
        // SAFETY: inside the 4 MiB just mapped read-write at `at`.
        unsafe { ((at + off) as *mut u64).write_volatile(pattern(off, FIRST)) };
    }
    let after = env.vm.stats().map(|s| s.large_promotes);
    let bad = (0..2 * CHUNK).step_by(PAGE as usize).find(|&off| {
        // SAFETY: as above.
        let word = unsafe { ((at + off) as *const u64).read_volatile() };
        word != pattern(off, FIRST)
    });
    env.check(
        "transparent-promotion",
        opted_out.is_ok()
            && matches!((before, after), (Ok(b), Ok(a)) if a == b + 1)
            && bad.is_none(),
        format_args!(
            "madvise {opted_out:?}, large_promotes {before:?} -> {after:?}, first bad page {bad:?}"
        ),
    );
    let _ = env.vm.munmap(at, 2 * CHUNK);
}
