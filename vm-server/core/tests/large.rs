//! Large pages (`large.rs`, `large_pool.rs`): a `MADV_HUGEPAGE` range faults once per 2 MiB, and every operation that takes part of a large mapping (munmap, mprotect, fork, pageout, NoHugePage, quotas, an empty pool) keeps every byte, with every region back at exit.
//!
//! Clients observe nothing but speed (semantics: large-pages): each test
//! checks every page's bytes, and the simulator panics on a 4 KiB
//! mapping of a region frame (a missed demotion).

use vm_core::sim::Sim;
use vm_core::*;
use vm_swap::{RamDisk, SwapPager};

const P: u64 = PAGE_SIZE;
const L: u64 = 2 << 20;
const N: u64 = L / P;

fn cfg(large: u32) -> VmConfig {
    VmConfig {
        large_pages: large,
        ..VmConfig::default()
    }
}

/// A sim of `frames` small frames and `large` regions, one space.
fn sim(frames: u32, large: u32) -> (Sim, SpaceId) {
    let mut s = Sim::new(cfg(large), frames);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    (s, sp)
}

fn check(s: &Sim) {
    s.check().unwrap();
    s.vm.check_page_queues().unwrap();
    s.vm.check_swap().unwrap();
}

/// A sim under pressure: `frames` small frames, `large` regions, a swap
/// disk of `blocks` 4 KiB blocks, one space.
fn swap_sim(frames: u32, large: u32, blocks: u64) -> (Sim, SpaceId) {
    let mut s = Sim::new(
        VmConfig {
            reserved_pages: 4,
            prefault_min_free: 8,
            large_pages: large,
            ..VmConfig::default()
        },
        frames,
    );
    s.vm.swap_on(Box::new(SwapPager::new(RamDisk::new(blocks, 64), 16)))
        .unwrap();
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    (s, sp)
}

/// Force the scan through every pageable page, twice (the first pass
/// clears the emulated reference bits), and finish the writes.
fn force_pageout(s: &mut Sim) {
    for _ in 0..4 {
        s.vm.pageout(&mut s.pmap, 1 << 20);
        s.vm.swap_drain(&mut s.pmap);
        let done = s.vm.swap_poll(&mut s.pmap);
        s.completed.extend(done);
        check(s);
    }
}

/// 2048 small frames and `large` regions without fault-around (so the
/// fault that fills a chunk is the last page's own), one space.
fn exact_sim(large: u32, transparent: bool) -> (Sim, SpaceId) {
    let mut s = Sim::new(
        VmConfig {
            large_pages: large,
            large_transparent: transparent,
            prefault_ahead: 0,
            prefault_behind: 0,
            ..VmConfig::default()
        },
        2048,
    );
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    (s, sp)
}

/// After the last exit: every region and all `free` small frames back.
fn all_back(s: &Sim, free: u32) {
    let st = s.vm.stats();
    assert_eq!((st.large_pages_used, st.free), (0, free));
    check(s);
}

/// A private RW mapping of `len` at the 2 MiB-aligned `va`, advised HUGEPAGE.
fn huge_map(s: &mut Sim, sp: SpaceId, va: u64, len: u64) {
    let args = MmapArgs::anon(len, Prot::RW).fixed(va);
    assert_eq!(s.vm.mmap(sp, &args, &mut s.pmap).unwrap(), va);
    s.vm.madvise(sp, va, len, Advice::HugePage, &mut s.pmap)
        .unwrap();
}

fn byte(tag: u8, i: u64) -> u8 {
    tag.wrapping_add((i * 7 + (i >> 8)) as u8) | 1
}

/// Write one tagged byte at the start and the end of every page.
fn fill(s: &mut Sim, sp: SpaceId, va: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        let b = byte(tag, i);
        s.write(sp, va + i * P, &[b]).unwrap();
        s.write(sp, va + i * P + P - 1, &[b]).unwrap();
    }
}

/// Check every byte of `pages` pages written by `fill` with `tag`
/// (`None`: zero).
fn verify(s: &mut Sim, sp: SpaceId, va: u64, pages: u64, tag: Option<u8>) {
    let mut buf = vec![0u8; P as usize];
    for i in 0..pages {
        s.read(sp, va + i * P, &mut buf).unwrap();
        let mut want = vec![0u8; P as usize];
        if let Some(t) = tag {
            want[0] = byte(t, i);
            want[P as usize - 1] = byte(t, i);
        }
        assert!(buf == want, "page {i} at {:#x}", va + i * P);
    }
}

fn base(s: &Sim) -> u64 {
    // 2 MiB-aligned, inside the user range.
    (s.vm.config().user_min + 4 * L) & !(L - 1)
}

#[test]
fn a_hugepage_range_faults_once_per_2mib() {
    // semantics: large-pages
    let (mut s, sp) = sim(256, 2);
    let va = base(&s);
    huge_map(&mut s, sp, va, 2 * L);
    fill(&mut s, sp, va, N, 3);
    assert_eq!(s.faults, 1);
    let st = s.vm.stats();
    assert_eq!((st.flt_large, st.large_allocs, st.large_demotes), (1, 1, 0));
    assert_eq!((st.large_pages, st.large_pages_used), (2, 1));
    assert_eq!(s.vm.space(sp).unwrap().counters().flt_large, 1);
    fill(&mut s, sp, va + L, N, 4);
    assert_eq!(s.faults, 2);
    assert_eq!(s.vm.stats().large_pages_used, 2);
    verify(&mut s, sp, va, N, Some(3));
    verify(&mut s, sp, va + L, N, Some(4));
    assert_eq!(s.faults, 2);
    // No small frame was used for the 1024 pages.
    assert_eq!(s.vm.stats().free, 256);
    assert!(s
        .vm
        .mincore(sp, va, 2 * L)
        .unwrap()
        .iter()
        .all(|&b| b & 1 == 1));
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    let st = s.vm.stats();
    assert_eq!((st.large_pages_used, st.free, st.objects), (0, 256, 0));
    check(&s);
}

#[test]
fn a_read_first_maps_read_only_then_a_write_re_enters_writable() {
    let (mut s, sp) = sim(64, 1);
    let va = base(&s);
    huge_map(&mut s, sp, va, L);
    verify(&mut s, sp, va, N, None);
    assert_eq!(s.faults, 1);
    fill(&mut s, sp, va, N, 9);
    // Zero-filled dirty: the read fault's mapping was writable already.
    assert_eq!(s.faults, 1);
    verify(&mut s, sp, va, N, Some(9));
    check(&s);
}

#[test]
fn without_the_advice_or_aligned_room_faults_are_4k() {
    let (mut s, sp) = sim(1024, 2);
    let va = base(&s);
    // Advised but only 1 MiB: no 2 MiB chunk fits.
    huge_map(&mut s, sp, va, L / 2);
    fill(&mut s, sp, va, N / 2, 1);
    // Not advised.
    let args = MmapArgs::anon(L, Prot::RW).fixed(va + L);
    s.vm.mmap(sp, &args, &mut s.pmap).unwrap();
    fill(&mut s, sp, va + L, 16, 2);
    assert_eq!(s.vm.stats().flt_large, 0);
    assert_eq!(s.vm.stats().large_pages_used, 0);
    verify(&mut s, sp, va, N / 2, Some(1));
    check(&s);
}

#[test]
fn partial_munmap_and_mprotect_demote_page_by_page() {
    let (mut s, sp) = sim(2048, 2);
    let va = base(&s);
    huge_map(&mut s, sp, va, 2 * L);
    fill(&mut s, sp, va, 2 * N, 5);
    // munmap one page inside the first large page.
    s.vm.munmap(sp, va + 10 * P, P, &mut s.pmap).unwrap();
    check(&s);
    assert_eq!(s.read_u8(sp, va + 10 * P), Err(VmError::NoMapping));
    let mut buf = vec![0u8; P as usize];
    for i in (0..2 * N).filter(|&i| i != 10) {
        s.read(sp, va + i * P, &mut buf).unwrap();
        assert_eq!(
            (buf[0], buf[P as usize - 1]),
            (byte(5, i), byte(5, i)),
            "page {i}"
        );
    }
    let st = s.vm.stats();
    // The first large page's other 511 pages moved to small frames (its
    // region is whole and free again); the second was mapped whole again.
    assert_eq!(st.large_demotes, N - 1);
    assert_eq!(st.large_pages_used, 1);
    // mprotect a part of the second one read-only.
    s.vm.mprotect(sp, va + L + 4 * P, 4 * P, Prot::READ, &mut s.pmap)
        .unwrap();
    check(&s);
    assert_eq!(s.write(sp, va + L + 5 * P, &[1]), Err(VmError::Protection));
    s.write(sp, va + L + 100 * P + 1, &[0xaa]).unwrap();
    assert_eq!(s.read_u8(sp, va + L + 100 * P + 1).unwrap(), 0xaa);
    s.write(sp, va + L + 100 * P + 1, &[0]).unwrap();
    verify_from(&mut s, sp, va + L, N, N, 5);
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().large_pages_used, 0);
    assert_eq!(s.vm.stats().free, 2048);
    check(&s);
}

/// Check the first and last byte of `pages` pages at `va`, written by
/// `fill` with `tag` from page index `off` on.
fn verify_from(s: &mut Sim, sp: SpaceId, va: u64, off: u64, pages: u64, tag: u8) {
    let mut buf = vec![0u8; P as usize];
    for i in 0..pages {
        s.read(sp, va + i * P, &mut buf).unwrap();
        let b = byte(tag, off + i);
        assert_eq!((buf[0], buf[P as usize - 1]), (b, b), "page {i}");
    }
}

#[test]
fn fork_then_child_and_parent_writes_stay_apart() {
    let (mut s, parent) = sim(2048, 2);
    let va = base(&s);
    huge_map(&mut s, parent, va, L);
    fill(&mut s, parent, va, N, 1);
    let child = s.vm.fork(parent, &mut s.pmap).unwrap();
    check(&s);
    fill(&mut s, child, va, N / 2, 2);
    check(&s);
    fill(&mut s, parent, va + L / 2, N / 2, 3);
    check(&s);
    verify_from(&mut s, child, va, 0, N / 2, 2);
    verify_from(&mut s, parent, va, 0, N / 2, 1);
    let mut buf = vec![0u8; P as usize];
    for i in N / 2..N {
        s.read(child, va + i * P, &mut buf).unwrap();
        assert_eq!(buf[0], byte(1, i), "child page {i}");
        s.read(parent, va + i * P, &mut buf).unwrap();
        assert_eq!(buf[0], byte(3, i - N / 2), "parent page {i}");
    }
    check(&s);
    s.vm.exit(child, &mut s.pmap).unwrap();
    s.vm.exit(parent, &mut s.pmap).unwrap();
    let st = s.vm.stats();
    assert_eq!((st.large_pages_used, st.free, st.objects), (0, 2048, 0));
    check(&s);
}

#[test]
fn pageout_and_page_in_of_large_pages_keep_every_byte() {
    let (mut s, sp) = swap_sim(64, 1, 2048);
    let va = base(&s);
    huge_map(&mut s, sp, va, L);
    fill(&mut s, sp, va, N, 7);
    assert_eq!(s.vm.stats().flt_large, 1);
    force_pageout(&mut s);
    let st = s.vm.stats();
    assert!(st.pgswapout > 0, "nothing paged out: {st:?}");
    // Read back everything: pages come in on small frames.
    verify(&mut s, sp, va, N, Some(7));
    check(&s);
    assert!(s.vm.stats().pgswapin > 0);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    s.vm.swap_drain(&mut s.pmap);
    s.vm.swap_poll(&mut s.pmap);
    let st = s.vm.stats();
    assert_eq!((st.large_pages_used, st.free, st.swpginuse), (0, 64, 0));
    check(&s);
}

#[test]
fn nohugepage_moves_pages_to_small_frames_as_they_fault() {
    let (mut s, sp) = sim(1024, 1);
    let va = base(&s);
    huge_map(&mut s, sp, va, L);
    fill(&mut s, sp, va, N, 4);
    s.vm.madvise(sp, va, L, Advice::NoHugePage, &mut s.pmap)
        .unwrap();
    check(&s);
    assert!(s.pmap.large_mappings(sp).next().is_none());
    verify_from(&mut s, sp, va, 0, N, 4);
    let st = s.vm.stats();
    assert_eq!(
        (st.flt_large, st.large_demotes, st.large_pages_used),
        (1, N, 0)
    );
    // msync and mincore see 4 KiB pages as ever.
    s.vm.msync(sp, va, L, MsyncFlags::SYNC, &mut s.pmap)
        .unwrap();
    assert!(s.vm.mincore(sp, va, L).unwrap().iter().all(|&b| b & 1 == 1));
    check(&s);
}

#[test]
fn a_full_quota_or_an_empty_pool_falls_back_to_4k() {
    // semantics: quota-resident: 512 pages do not fit, 4 KiB pages do.
    let (mut s, sp) = sim(1024, 1);
    let limits = Limits {
        resident_pages: 500,
        ..Limits::UNLIMITED
    };
    s.vm.set_limits(sp, limits, &mut s.pmap).unwrap();
    let va = base(&s);
    huge_map(&mut s, sp, va, 2 * L);
    fill(&mut s, sp, va, 8, 1);
    assert_eq!(s.vm.stats().flt_large, 0);
    fill(&mut s, sp, va + L, 8, 2);
    assert_eq!(s.vm.stats().flt_large, 0);
    verify_from(&mut s, sp, va, 0, 8, 1);
    check(&s);

    // One region: the second chunk gets small pages.
    let (mut s, sp) = sim(1024, 1);
    let va = base(&s);
    huge_map(&mut s, sp, va, 2 * L);
    fill(&mut s, sp, va, N, 1);
    fill(&mut s, sp, va + L, 8, 2);
    let st = s.vm.stats();
    assert_eq!(
        (st.flt_large, st.large_allocs, st.large_pages_used),
        (1, 1, 1)
    );
    verify_from(&mut s, sp, va, 0, N, 1);
    verify_from(&mut s, sp, va + L, 0, 8, 2);
    // The region comes back whole when its object goes, and is taken again.
    s.vm.munmap(sp, va, L, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().large_pages_used, 0);
    huge_map(&mut s, sp, va, L);
    verify(&mut s, sp, va, N, None);
    assert_eq!(s.vm.stats().large_allocs, 2);
    check(&s);
}

#[test]
fn device_regions_are_numbered_past_the_large_regions() {
    let (mut s, _) = sim(100, 2);
    let (_, first) = s.device_create(4).unwrap();
    assert_eq!(first.0, ram_frame_end(100, 2));
    assert_eq!(first.0, 512 + 2 * 512);
    check(&s);
}

#[test]
fn mlock_of_part_of_a_large_page_wires_small_copies() {
    // semantics: large-pages, mlock-write
    let (mut s, sp) = sim(2048, 1);
    let va = base(&s);
    huge_map(&mut s, sp, va, L);
    fill(&mut s, sp, va, N, 6);
    s.mlock(sp, va + 8 * P, 4 * P).unwrap();
    check(&s);
    let st = s.vm.stats();
    assert_eq!((st.wired, st.large_demotes), (4, 4));
    // The rest of the chunk is no longer in one entry: it demotes as touched.
    verify_from(&mut s, sp, va, 0, N, 6);
    s.vm.munlock(sp, va + 8 * P, 4 * P).unwrap();
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    let st = s.vm.stats();
    assert_eq!((st.large_pages_used, st.free, st.wired), (0, 2048, 0));
    check(&s);
}

#[test]
fn a_pmap_that_refuses_large_mappings_gets_4k_pages() {
    let (mut s, sp) = sim(2048, 1);
    s.pmap.refuse_large = true;
    let va = base(&s);
    huge_map(&mut s, sp, va, L);
    fill(&mut s, sp, va, 16, 8);
    let st = s.vm.stats();
    // The region was taken, then each touched page moved to a small frame.
    assert_eq!((st.flt_large, st.large_allocs), (0, 1));
    assert!(st.large_demotes >= 16);
    assert!(s.pmap.large_mappings(sp).next().is_none());
    verify_from(&mut s, sp, va, 0, 16, 8);
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    all_back(&s, 2048);
}

#[test]
fn after_fork_reads_map_the_shared_chunks_read_only_once_each() {
    let (mut s, parent) = sim(2048, 4);
    let va = base(&s);
    huge_map(&mut s, parent, va, 2 * L);
    fill(&mut s, parent, va, 2 * N, 1);
    let child = s.vm.fork(parent, &mut s.pmap).unwrap();
    check(&s);
    let f0 = s.faults;
    verify(&mut s, parent, va, 2 * N, Some(1));
    // Fork only write-protected the parent's large mappings.
    assert_eq!(s.faults - f0, 0, "parent reads");
    verify(&mut s, child, va, 2 * N, Some(1));
    assert_eq!(s.faults - f0, 2, "child: one read fault per chunk");
    // Pageout's reference clearing or a NoHugePage/HugePage round
    // unmaps the parent's: it comes back with one read fault per chunk.
    s.vm.madvise(parent, va, 2 * L, Advice::NoHugePage, &mut s.pmap)
        .unwrap();
    s.vm.madvise(parent, va, 2 * L, Advice::HugePage, &mut s.pmap)
        .unwrap();
    verify(&mut s, parent, va, 2 * N, Some(1));
    assert_eq!(s.faults - f0, 4, "parent: one read fault per chunk");
    let st = s.vm.stats();
    assert_eq!(
        (st.large_demotes, st.large_pages_used, st.flt_large),
        (0, 2, 6)
    );
    assert_eq!(s.vm.space(child).unwrap().counters().flt_large, 2);
    check(&s);
    // A write in the child copies the whole chunk in one fault.
    let f1 = s.faults;
    fill(&mut s, child, va, N, 2);
    assert_eq!(s.faults - f1, 1);
    let st = s.vm.stats();
    assert_eq!((st.large_cow_copies, st.large_pages_used), (1, 3));
    check(&s);
    // The parent's write takes the last free region.
    fill(&mut s, parent, va + L, N, 3);
    assert_eq!(s.faults - f1, 2);
    assert_eq!(s.vm.stats().large_cow_copies, 2);
    // No region left: the child's write copies 4 KiB pages.
    fill(&mut s, child, va + L, 4, 4);
    assert_eq!(s.vm.stats().large_cow_copies, 2);
    check(&s);
    verify_from(&mut s, child, va, 0, N, 2);
    verify_from(&mut s, parent, va, 0, N, 1);
    verify_from(&mut s, parent, va + L, 0, N, 3);
    verify_from(&mut s, child, va + L, 0, 4, 4);
    verify_from(&mut s, child, va + L + 4 * P, N + 4, N - 4, 1);
    check(&s);
    s.vm.exit(child, &mut s.pmap).unwrap();
    verify_from(&mut s, parent, va, 0, N, 1);
    verify_from(&mut s, parent, va + L, 0, N, 3);
    s.vm.exit(parent, &mut s.pmap).unwrap();
    let st = s.vm.stats();
    assert_eq!((st.large_pages_used, st.free, st.objects), (0, 2048, 0));
    check(&s);
}

#[test]
fn a_cow_write_without_a_free_region_or_with_copy_off_copies_4k() {
    for copy in [true, false] {
        let mut s = Sim::new(
            VmConfig {
                large_pages: if copy { 1 } else { 2 },
                large_cow_copy: copy,
                ..VmConfig::default()
            },
            2048,
        );
        let parent = s.vm.space_create(&mut s.pmap).unwrap();
        let va = base(&s);
        huge_map(&mut s, parent, va, L);
        fill(&mut s, parent, va, N, 5);
        let child = s.vm.fork(parent, &mut s.pmap).unwrap();
        fill(&mut s, child, va, 8, 6);
        let st = s.vm.stats();
        assert_eq!(st.large_cow_copies, 0);
        assert!(st.flt_cow >= 8);
        check(&s);
        verify_from(&mut s, child, va, 0, 8, 6);
        verify_from(&mut s, child, va + 8 * P, 8, N - 8, 5);
        verify_from(&mut s, parent, va, 0, N, 5);
        check(&s);
        s.vm.exit(child, &mut s.pmap).unwrap();
        s.vm.exit(parent, &mut s.pmap).unwrap();
        assert_eq!(s.vm.stats().large_pages_used, 0);
        check(&s);
    }
}

#[test]
fn a_cow_write_copies_2mib_from_small_frame_sources_too() {
    let (mut s, parent) = sim(2048, 1);
    let va = base(&s);
    huge_map(&mut s, parent, va, L);
    // NoHugePage first: the chunk is populated on small frames.
    s.vm.madvise(parent, va, L, Advice::NoHugePage, &mut s.pmap)
        .unwrap();
    fill(&mut s, parent, va, N, 7);
    s.vm.madvise(parent, va, L, Advice::HugePage, &mut s.pmap)
        .unwrap();
    assert_eq!(s.vm.stats().large_pages_used, 0);
    let child = s.vm.fork(parent, &mut s.pmap).unwrap();
    let f0 = s.faults;
    fill(&mut s, child, va, N, 8);
    assert_eq!(s.faults - f0, 1);
    assert_eq!(s.vm.stats().large_cow_copies, 1);
    check(&s);
    verify_from(&mut s, child, va, 0, N, 8);
    verify_from(&mut s, parent, va, 0, N, 7);
    check(&s);
}

#[test]
fn a_chunk_filled_by_4k_faults_is_promoted_when_full() {
    // No fault-around: the last page's own fault fills the chunk.
    let (mut s, sp) = exact_sim(1, false);
    let va = base(&s);
    huge_map(&mut s, sp, va, L);
    // NoHugePage while it fills: 4 KiB pages on small frames.
    s.vm.madvise(sp, va, L, Advice::NoHugePage, &mut s.pmap)
        .unwrap();
    fill(&mut s, sp, va, N - 1, 2);
    s.vm.madvise(sp, va, L, Advice::HugePage, &mut s.pmap)
        .unwrap();
    assert_eq!(s.vm.stats().large_promotes, 0);
    // The last page's fault makes the chunk full: one copy, one mapping.
    fill(&mut s, sp, va + (N - 1) * P, 1, 200);
    let st = s.vm.stats();
    assert_eq!((st.large_promotes, st.large_pages_used), (1, 1));
    assert_eq!(st.free, 2048);
    assert_eq!(s.pmap.large_mappings(sp).count(), 1);
    check(&s);
    let f0 = s.faults;
    verify_from(&mut s, sp, va, 0, N - 1, 2);
    verify_from(&mut s, sp, va + (N - 1) * P, 0, 1, 200);
    assert_eq!(s.faults, f0);
    // All dirty: the mapping is writable already.
    fill(&mut s, sp, va, N, 3);
    assert_eq!(s.faults, f0);
    verify(&mut s, sp, va, N, Some(3));
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    all_back(&s, 2048);
}

#[test]
fn transparent_large_pages_promote_an_unadvised_chunk_once_full() {
    // semantics: large-pages (transparent): no region at the first
    // fault, one promotion when the 512th page arrives; NoHugePage opts
    // out; without the mode nothing is promoted.
    for (transparent, no_huge) in [(true, false), (true, true), (false, false)] {
        let (mut s, sp) = exact_sim(2, transparent);
        let va = base(&s);
        let args = MmapArgs::anon(L + 8 * P, Prot::RW).fixed(va);
        s.vm.mmap(sp, &args, &mut s.pmap).unwrap();
        if no_huge {
            s.vm.madvise(sp, va, L, Advice::NoHugePage, &mut s.pmap)
                .unwrap();
        }
        fill(&mut s, sp, va, 1, 4);
        let st = s.vm.stats();
        assert_eq!((st.flt_large, st.large_pages_used), (0, 0), "first fault");
        fill(&mut s, sp, va + P, N - 1, 5);
        // The tail past the chunk stays small either way.
        fill(&mut s, sp, va + L, 8, 6);
        let st = s.vm.stats();
        let promoted = transparent && !no_huge;
        assert_eq!(
            st.large_promotes,
            u64::from(promoted),
            "{transparent} {no_huge}"
        );
        assert_eq!(st.large_pages_used, u64::from(promoted));
        assert_eq!(s.pmap.large_mappings(sp).count(), usize::from(promoted));
        check(&s);
        verify_from(&mut s, sp, va, 0, 1, 4);
        verify_from(&mut s, sp, va + P, 0, N - 1, 5);
        verify(&mut s, sp, va + L, 8, Some(6));
        // A fork shares the large page; the child's write keeps bytes.
        let c = s.vm.fork(sp, &mut s.pmap).unwrap();
        fill(&mut s, c, va, 3, 7);
        verify_from(&mut s, sp, va, 0, 1, 4);
        verify_from(&mut s, c, va, 0, 3, 7);
        check(&s);
        s.vm.exit(c, &mut s.pmap).unwrap();
        s.vm.exit(sp, &mut s.pmap).unwrap();
        all_back(&s, 2048);
    }
}

#[test]
fn pageout_takes_region_pages_only_while_no_region_is_free() {
    // A region's frame freed gives no small frame back: under small-frame
    // pressure with a region still free, pageout leaves region pages be.
    let (mut s, sp) = swap_sim(128, 2, 4096);
    let va = base(&s);
    huge_map(&mut s, sp, va, L);
    fill(&mut s, sp, va, N, 5);
    let small = va + 2 * L;
    let args = MmapArgs::anon(64 * P, Prot::RW).fixed(small);
    s.vm.mmap(sp, &args, &mut s.pmap).unwrap();
    fill(&mut s, sp, small, 64, 6);
    force_pageout(&mut s);
    let st = s.vm.stats();
    assert_eq!(st.pgswapout, 64, "only the small pages go: {st:?}");
    assert_eq!(st.large_pages_used, 1);
    // The second region taken, region pages are fair game.
    let va2 = va + L;
    huge_map(&mut s, sp, va2, L);
    fill(&mut s, sp, va2, N, 7);
    assert_eq!(s.vm.stats().flt_large, 2);
    force_pageout(&mut s);
    assert!(s.vm.stats().pgswapout > 64);
    verify(&mut s, sp, va, N, Some(5));
    verify(&mut s, sp, va2, N, Some(7));
    verify(&mut s, sp, small, 64, Some(6));
    check(&s);
}

#[test]
fn a_chunk_paged_out_and_back_in_is_promoted_again() {
    // One region: pageout takes region pages only while no region is
    // wholly free (`Memory::in_scan_scope`).
    let (mut s, sp) = swap_sim(600, 1, 4096);
    let va = base(&s);
    huge_map(&mut s, sp, va, L);
    fill(&mut s, sp, va, N, 7);
    force_pageout(&mut s);
    assert!(s.vm.stats().pgswapout > 0);
    // Reading everything back brings the pages in on small frames; the
    // fault that makes the chunk full promotes it.
    verify(&mut s, sp, va, N, Some(7));
    check(&s);
    let st = s.vm.stats();
    assert!(st.pgswapin > 0);
    assert_eq!(st.large_promotes, 1, "{st:?}");
    assert_eq!(s.pmap.large_mappings(sp).count(), 1);
    let f0 = s.faults;
    verify(&mut s, sp, va, N, Some(7));
    assert_eq!(s.faults, f0);
    // Clean pages from swap: the first write re-enters it writable.
    fill(&mut s, sp, va, N, 8);
    assert_eq!(s.faults, f0 + 1);
    verify(&mut s, sp, va, N, Some(8));
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    s.vm.swap_drain(&mut s.pmap);
    s.vm.swap_poll(&mut s.pmap);
    let st = s.vm.stats();
    assert_eq!((st.large_pages_used, st.free, st.swpginuse), (0, 600, 0));
    check(&s);
}

#[test]
fn a_partly_used_region_is_broken_up_when_no_region_is_free() {
    // FreeBSD's vm_reserv_reclaim_inactive, by copy.
    let (mut s, sp) = sim(2048, 2);
    let va = base(&s);
    huge_map(&mut s, sp, va, 3 * L);
    fill(&mut s, sp, va, 2 * N, 6);
    assert_eq!(s.vm.stats().large_pages_used, 2);
    // Half of the first large page goes: its region is partly used, the
    // other half still on it (untouched since, so not demoted yet).
    s.vm.munmap(sp, va, L / 2, &mut s.pmap).unwrap();
    check(&s);
    assert_eq!(s.vm.stats().large_demotes, 0);
    // The third 2 MiB finds no region free: the partly used one gives its
    // 256 pages small frames and is taken whole.
    fill(&mut s, sp, va + 2 * L, N, 7);
    let st = s.vm.stats();
    assert_eq!((st.large_reclaims, st.large_demotes), (1, N / 2));
    assert_eq!(
        (st.large_allocs, st.flt_large, st.large_pages_used),
        (3, 3, 2)
    );
    check(&s);
    verify_from(&mut s, sp, va + L / 2, N / 2, N / 2, 6);
    verify_from(&mut s, sp, va + L, N, N, 6);
    verify(&mut s, sp, va + 2 * L, N, Some(7));
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    all_back(&s, 2048);
}

#[test]
fn without_spare_small_frames_a_partly_used_region_is_only_deactivated() {
    let (mut s, sp) = sim(512, 2);
    let va = base(&s);
    huge_map(&mut s, sp, va, 3 * L);
    fill(&mut s, sp, va, 2 * N, 8);
    s.vm.munmap(sp, va, L / 2, &mut s.pmap).unwrap();
    // 512 small frames are not a region's worth to spare above the
    // floor: nothing is copied, the third 2 MiB takes 4 KiB pages, and
    // every byte stays (read back by demotion, one page at a time).
    fill(&mut s, sp, va + 2 * L, 16, 9);
    let st = s.vm.stats();
    assert_eq!(
        (st.large_reclaims, st.large_demotes, st.large_allocs),
        (1, 0, 2)
    );
    verify_from(&mut s, sp, va + L / 2, N / 2, N / 2, 8);
    verify(&mut s, sp, va + 2 * L, 16, Some(9));
    check(&s);
}
