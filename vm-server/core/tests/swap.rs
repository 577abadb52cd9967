//! Pageout and swap through the host RAM disk: contents survive pageout and page-in, busy pages, I/O errors, swap full, swapoff, exit and fork with pages on swap, and no slot or page leaks.

use vm_core::sim::Sim;
use vm_core::*;
use vm_swap::{Delay, RamDisk, SwapPager};

const P: u64 = PAGE_SIZE;

fn cfg() -> VmConfig {
    VmConfig {
        reserved_pages: 4,
        prefault_min_free: 8,
        ..VmConfig::default()
    }
}

/// A sim of `frames` frames with a RAM disk of `blocks` slots.
fn sim_with_swap(frames: u32, blocks: u64, setup: impl FnOnce(&mut RamDisk)) -> (Sim, SpaceId) {
    let mut s = Sim::new(cfg(), frames);
    let mut d = RamDisk::new(blocks, 64);
    setup(&mut d);
    s.vm.swap_on(Box::new(SwapPager::new(d, 16))).unwrap();
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    (s, sp)
}

fn check(s: &Sim) {
    s.check().unwrap();
    s.vm.check_page_queues().unwrap();
    s.vm.check_swap().unwrap();
}

fn fill(s: &mut Sim, sp: SpaceId, va: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        let b = [tag.wrapping_add(i as u8); 64];
        s.write(sp, va + i * P + 100, &b).unwrap();
        check(s);
    }
}

fn verify(s: &mut Sim, sp: SpaceId, va: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        let mut b = [0u8; 64];
        s.read(sp, va + i * P + 100, &mut b).unwrap();
        assert_eq!(b, [tag.wrapping_add(i as u8); 64], "page {i}");
        assert_eq!(s.read_u8(sp, va + i * P).unwrap(), 0);
        check(s);
    }
}

fn no_leaks(s: &mut Sim, frames: u32) {
    s.vm.swap_drain(&mut s.pmap);
    s.vm.swap_poll(&mut s.pmap);
    check(s);
    let st = s.vm.stats();
    assert_eq!((st.free, st.objects, st.swpginuse), (frames, 0, 0));
}

#[test]
fn working_set_four_times_memory_survives() {
    let (mut s, sp) = sim_with_swap(64, 1024, |_| {});
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(256 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 256, 7);
    verify(&mut s, sp, va, 256, 7);
    verify(&mut s, sp, va, 256, 7);
    let st = s.vm.stats();
    assert!(st.pgswapout >= 192 && st.pgswapin > 0, "{st:?}");
    assert!(st.pdlaunder > 0 && st.pddeact > 0 && st.swpginuse > 0);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 64);
}

/// Page everything of `sp` out: pageout passes until nothing more goes.
/// The tag a read fault at `va` must wait for (panics on any other outcome).
fn fault_waits(s: &mut Sim, sp: SpaceId, va: u64) -> IoTag {
    match s.vm.fault(sp, va, Access::Read, &mut s.pmap) {
        Ok(FaultOutcome::Wait(t)) => t,
        other => panic!("expected a wait at {va:#x}, got {other:?}"),
    }
}

/// Makes the RAM disk fail its next read.
fn fail_next_read(s: &mut Sim) {
    s.vm.swap_device_mut::<RamDisk>()
        .unwrap()
        .fail_next_reads(1);
}

fn evict_all(s: &mut Sim) {
    for _ in 0..16 {
        s.vm.pageout(&mut s.pmap, 1 << 20);
        s.vm.swap_drain(&mut s.pmap);
        s.completed.extend(s.vm.swap_poll(&mut s.pmap));
        check(s);
    }
}

#[test]
fn pageout_clusters_dirty_pages_and_clean_pages_go_for_free() {
    let (mut s, sp) = sim_with_swap(128, 1024, |_| {});
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(32 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 32, 1);
    evict_all(&mut s);
    let st = s.vm.stats();
    assert_eq!((st.pgswapout, st.pdpageouts), (32, 2), "two clusters of 16");
    assert_eq!(st.swpginuse, 32);
    assert_eq!(s.vm.pool().free_count(), 128);
    // Reading pages back keeps their slots: evicting them again is free.
    verify(&mut s, sp, va, 32, 1);
    let before = s.vm.stats();
    assert!(
        before.pageins <= 32 / 8 + 2,
        "read-ahead: {}",
        before.pageins
    );
    evict_all(&mut s);
    let st = s.vm.stats();
    assert_eq!(st.pgswapout, before.pgswapout);
    assert!(st.pdfreed >= 32);
    // A write drops the stale slot.
    s.write(sp, va, &[9]).unwrap();
    assert_eq!(s.vm.stats().swpginuse, 31);
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 128);
}

#[test]
fn a_second_fault_on_a_page_being_read_waits_for_the_same_read() {
    let (mut s, sp) = sim_with_swap(128, 1024, |d| {
        d.set_delay(Delay::Fixed(3));
    });
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(4 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 4, 3);
    evict_all(&mut s);
    let t1 = s.vm.fault(sp, va, Access::Read, &mut s.pmap).unwrap();
    let t2 = s.vm.fault(sp, va, Access::Write, &mut s.pmap).unwrap();
    let (FaultOutcome::Wait(a), FaultOutcome::Wait(b)) = (t1, t2) else {
        panic!("{t1:?} {t2:?}");
    };
    assert_eq!(a, b);
    assert_eq!(s.vm.stats().pageins, 1);
    check(&s);
    assert_eq!(s.wait(a), Ok(()));
    verify(&mut s, sp, va, 4, 3);
    assert_eq!(s.vm.stats().pageins, 1, "read once, with read-ahead");
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 128);
}

#[test]
fn write_error_keeps_the_page_dirty_and_resident_and_marks_the_slot_bad() {
    let (mut s, sp) = sim_with_swap(128, 64, |d| {
        d.fail_writes_at(0);
    });
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(4 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 4, 5);
    s.vm.pageout(&mut s.pmap, 1 << 20);
    s.vm.pageout(&mut s.pmap, 1 << 20);
    s.vm.swap_drain(&mut s.pmap);
    let done = s.vm.swap_poll(&mut s.pmap);
    assert!(
        done.iter().any(|d| d.result == Err(VmError::Io)),
        "{done:?}"
    );
    check(&s);
    let st = s.vm.stats();
    assert_eq!((st.swpgbad, st.swap_io_errors), (1, 1));
    assert_eq!(st.free, 124, "pages stay resident");
    // The retry lands on other slots and succeeds.
    evict_all(&mut s);
    assert_eq!(s.vm.stats().free, 128);
    verify(&mut s, sp, va, 4, 5);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    s.vm.swap_drain(&mut s.pmap);
    s.vm.swap_poll(&mut s.pmap);
    let st = s.vm.stats();
    assert_eq!((st.free, st.swpginuse, st.swpgbad), (128, 0, 1));
}

#[test]
fn read_error_fails_only_the_access_it_hits() {
    let (mut s, sp) = sim_with_swap(128, 64, |_| {});
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(4 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 4, 11);
    evict_all(&mut s);
    fail_next_read(&mut s);
    assert_eq!(s.read_u8(sp, va + 100), Err(VmError::Io));
    check(&s);
    assert_eq!(s.vm.stats().swpginuse, 4, "slots stay");
    verify(&mut s, sp, va, 4, 11);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 128);
}

#[test]
fn swap_exactly_full_stops_anonymous_pageout_and_faults_get_no_swap() {
    let (mut s, sp) = sim_with_swap(64, 32, |_| {});
    // Two entries (a gap between them): the second is unmapped later.
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(24 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    let vb = va + 25 * P;
    s.vm.mmap(
        sp,
        &MmapArgs::anon(100 * P, Prot::RW).fixed(vb),
        &mut s.pmap,
    )
    .unwrap();
    fill(&mut s, sp, va, 24, 1);
    assert!(
        !s.vm.out_of_swap(),
        "slots left: pageout can still make room"
    );
    let mut written = 0;
    let err = loop {
        match s.write(sp, vb + written * P, &[written as u8 + 1]) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
        check(&s);
    };
    assert_eq!(err, VmError::NoSwap);
    let st = s.vm.stats();
    assert_eq!((st.swpginuse, st.swpages), (32, 32), "every slot used");
    let rep = s.vm.pageout(&mut s.pmap, 8);
    assert!(rep.swap_full && rep.laundering == 0);
    assert!(s.vm.out_of_swap(), "the server's OOM killer must act now");
    assert_eq!(s.vm.oom_victim(), Some(sp), "the only space is the largest");
    // Resident pages still read; a page on swap needs a frame nobody can
    // give back (every resident page is dirty), so its fault gets NoSwap.
    for i in 0..written {
        match s.read_u8(sp, vb + i * P) {
            Ok(b) => assert_eq!(b, i as u8 + 1),
            Err(e) => assert_eq!(e, VmError::NoSwap),
        }
        check(&s);
    }
    // Freeing memory frees slots and frames: everything reads again.
    s.vm.munmap(sp, vb, 100 * P, &mut s.pmap).unwrap();
    s.vm.swap_poll(&mut s.pmap);
    check(&s);
    assert!(!s.vm.out_of_swap());
    verify(&mut s, sp, va, 24, 1);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 64);
}

#[test]
fn swapoff_with_and_without_room() {
    let (mut s, sp) = sim_with_swap(64, 1024, |_| {});
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(56 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    // A separate entry (a gap keeps it from merging with the first).
    let vb = va + 57 * P;
    s.vm.mmap(sp, &MmapArgs::anon(40 * P, Prot::RW).fixed(vb), &mut s.pmap)
        .unwrap();
    fill(&mut s, sp, va, 56, 21);
    fill(&mut s, sp, vb, 40, 22);
    // Too much on swap: refused up front, nothing changed (semantics:
    // swapctl-off-nomem).
    let in_use = s.vm.stats().swpginuse;
    assert_eq!(s.vm.swap_off(&mut s.pmap).err(), Some(VmError::OutOfMemory));
    assert!(s.vm.swap().is_some());
    assert_eq!(s.vm.stats().swpginuse, in_use);
    check(&s);
    s.vm.munmap(sp, vb, 40 * P, &mut s.pmap).unwrap();
    evict_all(&mut s);
    // semantics: swapctl-off
    s.vm.swap_off(&mut s.pmap).unwrap();
    assert!(s.vm.swap().is_none());
    assert_eq!(
        s.vm.swap_off(&mut s.pmap).err(),
        Some(VmError::InvalidArgument),
        "nothing attached"
    );
    check(&s);
    assert_eq!(s.vm.stats().swpginuse, 0);
    verify(&mut s, sp, va, 56, 21);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    let st = s.vm.stats();
    assert_eq!((st.free, st.objects), (64, 0));
}

/// swap_off hands the detached device back; swap_on attaches it again,
/// empty, with its counters going on (semantics: swapctl-off,
/// swapctl-on).
#[test]
fn swapoff_hands_the_device_back_and_swapon_attaches_it_again() {
    let (mut s, sp) = sim_with_swap(64, 1024, |_| {});
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(48 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 48, 31);
    evict_all(&mut s);
    let out = s.vm.stats().pgswapout;
    assert!(out > 0 && s.vm.stats().swpginuse > 0);
    // The upper half goes, so the rest fits.
    s.vm.munmap(sp, va + 24 * P, 24 * P, &mut s.pmap).unwrap();
    let mut dev = s.vm.swap_off(&mut s.pmap).unwrap();
    assert!(s.vm.swap().is_none());
    let st = dev.stats();
    assert_eq!((st.swpages, st.swpginuse, st.swpgbad), (1024, 0, 0));
    assert_eq!(st.pgswapout, out, "the device's own counters are kept");
    assert_eq!(dev.busy(), 0);
    check(&s);
    verify(&mut s, sp, va, 24, 31);
    // Attach the same device again: memory pages out to it again.
    s.vm.swap_on(dev).unwrap();
    let vb =
        s.vm.mmap(sp, &MmapArgs::anon(64 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, vb, 64, 33);
    evict_all(&mut s);
    let st = s.vm.swap_stats().unwrap();
    assert!(st.swpginuse > 0, "{st:?}");
    assert!(st.pgswapout > out, "counters go on: {st:?}");
    verify(&mut s, sp, va, 24, 31);
    verify(&mut s, sp, vb, 64, 33);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 64);
}

/// A group whose resident limit cannot hold its pages on swap refuses
/// swapoff up front, though the pool could (semantics: swapctl-off-nomem).
#[test]
fn swapoff_refused_when_a_resident_limit_cannot_hold_the_pages() {
    let (mut s, sp) = sim_with_swap(256, 1024, |_| {});
    let limits = Limits {
        resident_pages: 32,
        ..Limits::UNLIMITED
    };
    s.vm.set_limits(sp, limits, &mut s.pmap).unwrap();
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(64 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 64, 41);
    assert!(
        s.vm.stats().swpginuse >= 32,
        "the group paged against itself"
    );
    let in_use = s.vm.stats().swpginuse;
    assert_eq!(s.vm.swap_off(&mut s.pmap).err(), Some(VmError::OutOfMemory));
    assert!(s.vm.swap().is_some());
    assert_eq!(s.vm.stats().swpginuse, in_use, "nothing read in");
    check(&s);
    verify(&mut s, sp, va, 64, 41);
    // Within its limit, it goes.
    s.vm.munmap(sp, va + 16 * P, 48 * P, &mut s.pmap).unwrap();
    evict_all(&mut s);
    s.vm.swap_off(&mut s.pmap).unwrap();
    verify(&mut s, sp, va, 16, 41);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    let st = s.vm.stats();
    assert_eq!((st.free, st.objects), (256, 0));
}

/// A read error stops swapoff with `Io`; the device stays attached and a
/// second swapoff reads the page again (semantics: swapctl-off).
#[test]
fn swapoff_read_error_keeps_the_device() {
    let (mut s, sp) = sim_with_swap(128, 1024, |_| {});
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(32 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 32, 51);
    evict_all(&mut s);
    fail_next_read(&mut s);
    assert_eq!(s.vm.swap_off(&mut s.pmap).err(), Some(VmError::Io));
    assert!(s.vm.swap().is_some());
    check(&s);
    s.vm.swap_off(&mut s.pmap).unwrap();
    check(&s);
    verify(&mut s, sp, va, 32, 51);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    let st = s.vm.stats();
    assert_eq!((st.free, st.objects), (128, 0));
}

#[test]
fn exit_while_pages_are_under_io() {
    let (mut s, sp) = sim_with_swap(128, 1024, |d| {
        d.set_delay(Delay::Fixed(5));
    });
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(48 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 48, 2);
    // Half out on swap, then reads and writes in flight together.
    s.vm.pageout(&mut s.pmap, 24);
    s.vm.swap_drain(&mut s.pmap);
    s.vm.swap_poll(&mut s.pmap);
    let r = s.vm.fault(sp, va, Access::Read, &mut s.pmap).unwrap();
    assert!(matches!(r, FaultOutcome::Wait(_)));
    s.vm.pageout(&mut s.pmap, 24);
    assert!(s.vm.swap_io_in_flight() >= 2);
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    check(&s);
    no_leaks(&mut s, 128);
}

#[test]
fn fork_while_pages_are_on_swap() {
    let (mut s, sp) = sim_with_swap(64, 1024, |d| {
        d.set_delay(Delay::Random(3));
        d.set_reorder(true);
    });
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(40 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    let sh =
        s.vm.mmap(sp, &MmapArgs::anon_shared(8 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 40, 4);
    fill(&mut s, sp, sh, 8, 40);
    evict_all(&mut s);
    let child = s.vm.fork(sp, &mut s.pmap).unwrap();
    check(&s);
    // The child sees the parent's pages; writes stay private.
    verify(&mut s, child, va, 40, 4);
    fill(&mut s, child, va, 40, 50);
    verify(&mut s, sp, va, 40, 4);
    // Shared memory stays shared through swap.
    s.write(child, sh + 200, &[77]).unwrap();
    evict_all(&mut s);
    assert_eq!(s.read_u8(sp, sh + 200).unwrap(), 77);
    verify(&mut s, child, va, 40, 50);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    verify(&mut s, child, va, 40, 50);
    s.vm.exit(child, &mut s.pmap).unwrap();
    no_leaks(&mut s, 64);
}

#[test]
fn oom_victim_follows_the_policy() {
    let (mut s, a) = sim_with_swap(128, 1024, |_| {});
    let va =
        s.vm.mmap(a, &MmapArgs::anon(8 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, a, va, 8, 1);
    let b = s.vm.fork(a, &mut s.pmap).unwrap();
    // The child writes 3 pages of its own; the parent's 8 stay its own.
    fill(&mut s, b, va, 3, 2);
    evict_all(&mut s);
    assert_eq!(s.vm.space_footprint(a).unwrap(), 0);
    assert_eq!(
        s.vm.space_footprint(b).unwrap(),
        3,
        "private pages on swap count"
    );
    let vb =
        s.vm.mmap(b, &MmapArgs::anon(16 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, b, vb, 16, 3);
    assert_eq!(s.vm.oom_victim(), Some(b));
    for (policy, want) in [(OomPolicy::Newest, Some(b)), (OomPolicy::None, None)] {
        let mut v = Vm::new(
            VmConfig {
                oom_policy: policy,
                ..cfg()
            },
            64,
        )
        .unwrap();
        let x = v.space_create(&mut s.pmap).unwrap();
        let y = v.space_create(&mut s.pmap).unwrap();
        let got = v.oom_victim();
        assert_eq!(got, want.map(|w| if w == a { x } else { y }), "{policy:?}");
    }
}

#[test]
fn a_fault_out_of_memory_waits_for_a_pageout_write() {
    let (mut s, sp) = sim_with_swap(64, 1024, |d| {
        d.set_delay(Delay::Fixed(4));
    });
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(128 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    // Fill memory straight through the VM (no pageout from the harness).
    let mut i = 0;
    loop {
        match s.vm.fault(sp, va + i * P, Access::Write, &mut s.pmap) {
            Ok(FaultOutcome::Mapped(_)) => i += 1,
            Err(VmError::OutOfMemory) => break,
            other => panic!("{other:?}"),
        }
    }
    // Ordinary faults stop at `severe`: the rest is the pageout path's.
    let t = s.vm.paging_targets().unwrap();
    assert_eq!(s.vm.pool().free_count(), t.severe);
    assert!(t.severe > t.reserved);
    s.vm.pageout(&mut s.pmap, 8);
    s.vm.pageout(&mut s.pmap, 8);
    assert!(s.vm.swap_io_in_flight() > 0);
    let r =
        s.vm.fault(sp, va + i * P, Access::Write, &mut s.pmap)
            .unwrap();
    let FaultOutcome::Wait(tag) = r else {
        panic!("{r:?}");
    };
    assert_eq!(s.wait(tag), Ok(()));
    let r =
        s.vm.fault(sp, va + i * P, Access::Write, &mut s.pmap)
            .unwrap();
    assert!(matches!(r, FaultOutcome::Mapped(_)), "{r:?}");
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 64);
}

#[test]
fn every_pluggable_policy_pages_a_working_set_through() {
    for &(policy, make) in vm_swap::POLICIES {
        let (mut s, sp) = sim_with_swap(64, 1024, |_| {});
        let va =
            s.vm.mmap(sp, &MmapArgs::anon(200 * P, Prot::RW), &mut s.pmap)
                .unwrap();
        fill(&mut s, sp, va, 20, 3);
        // Installed with pages already resident: it adopts them.
        assert_eq!(s.vm.set_replacement_policy(make(64)).name(), "clock");
        let name = s.vm.pool().policy().name();
        assert_eq!(name, policy);
        fill(&mut s, sp, va + 20 * P, 180, 23);
        verify(&mut s, sp, va, 20, 3);
        verify(&mut s, sp, va + 20 * P, 180, 23);
        let st = s.vm.stats();
        assert!(
            st.pgswapout > 100 && st.pgswapin > 0 && st.pdscans > 0,
            "{name}: {st:?}"
        );
        s.vm.exit(sp, &mut s.pmap).unwrap();
        no_leaks(&mut s, 64);
        assert_eq!(s.vm.pool().policy().resident(), 0, "{name}");
    }
}

#[test]
fn partial_munmap_frees_the_window_unless_fork_shares_it() {
    let (mut s, sp) = sim_with_swap(128, 1024, |_| {});
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(64 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 64, 8);
    s.vm.pageout(&mut s.pmap, 1 << 20);
    s.vm.pageout(&mut s.pmap, 24);
    s.vm.swap_drain(&mut s.pmap);
    s.vm.swap_poll(&mut s.pmap);
    let before = s.vm.stats();
    assert!(before.swpginuse > 0, "{before:?}");
    s.vm.munmap(sp, va + 16 * P, 32 * P, &mut s.pmap).unwrap();
    s.vm.swap_poll(&mut s.pmap);
    check(&s);
    let after = s.vm.stats();
    // Every page of the middle went, resident or on swap.
    let gone = (after.free - before.free) as u64 + (before.swpginuse - after.swpginuse);
    assert_eq!(gone, 32);
    verify(&mut s, sp, va, 16, 8);
    verify(&mut s, sp, va + 48 * P, 16, 8 + 48);
    // After a fork the child may still see the window: nothing is freed.
    let c = s.vm.fork(sp, &mut s.pmap).unwrap();
    let before = s.vm.stats();
    s.vm.munmap(sp, va, 8 * P, &mut s.pmap).unwrap();
    let after = s.vm.stats();
    assert_eq!(
        (after.free, after.swpginuse),
        (before.free, before.swpginuse)
    );
    verify(&mut s, c, va, 16, 8);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    s.vm.exit(c, &mut s.pmap).unwrap();
    no_leaks(&mut s, 128);
}

#[test]
fn sequential_page_ins_read_the_whole_window_ahead() {
    let (mut s, sp) = sim_with_swap(128, 1024, |_| {});
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(64 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 64, 3);
    evict_all(&mut s);
    let resident = |s: &Sim, from: u64, to: u64| {
        let m = s.vm.mincore(sp, va + from * P, (to - from) * P).unwrap();
        m.iter()
            .filter(|&&b| b & vm_core::MINCORE_INCORE != 0)
            .count() as u64
    };
    assert_eq!(resident(&s, 0, 64), 0, "all on swap");
    // A first fault has no direction: the default window (page 0 has
    // nothing behind it, 8 ahead).
    let reads = s.vm.stats().pageins;
    s.read_u8(sp, va).unwrap();
    assert_eq!(s.vm.stats().pageins, reads + 1);
    assert_eq!(resident(&s, 0, 64), 9);
    // The next miss, page 9, has page 8 resident behind it and nothing
    // ahead: a forward scan, so one read fills the whole window ahead.
    s.read_u8(sp, va + 9 * P).unwrap();
    assert_eq!(s.vm.stats().pageins, reads + 2);
    assert_eq!(resident(&s, 9, 25), 16, "pages 9..25 in one read");
    // Backwards from the end works the same way, downwards.
    s.read_u8(sp, va + 63 * P).unwrap();
    s.read_u8(sp, va + 55 * P).unwrap();
    assert_eq!(resident(&s, 40, 56), 16, "pages 40..56 in one read");
    check(&s);
    verify(&mut s, sp, va, 64, 3);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 128);
}

/// Adaptive read-ahead in order: the window doubles at each marker up to
/// `pagein_window` (past the device's 16-page request limit), and spans
/// the pages the scan finds resident: its runs between them are separate
/// requests that reach the device under one doorbell.
#[test]
fn adaptive_read_ahead_spans_resident_pages_under_one_doorbell() {
    let mut s = Sim::new(
        VmConfig {
            pagein_adaptive: true,
            pagein_window: 32,
            ..cfg()
        },
        256,
    );
    s.vm.swap_on(Box::new(SwapPager::new(RamDisk::new(1024, 64), 16)))
        .unwrap();
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(160 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 160, 9);
    evict_all(&mut s);
    let resident = |s: &Sim, i: u64| {
        s.vm.mincore(sp, va + i * P, P).unwrap()[0] & vm_core::MINCORE_INCORE != 0
    };
    assert!((0..160).all(|i| !resident(&s, i)), "all on swap");
    // Every eighth page from 40 on resident, far apart: each a window of
    // one (no hits, not next to the last read).
    let holes: Vec<u64> = (40..160).step_by(8).collect();
    for &i in holes.iter().rev() {
        s.read_u8(sp, va + i * P).unwrap();
    }
    assert_eq!(
        (0..160).filter(|&i| resident(&s, i)).collect::<Vec<_>>(),
        holes
    );
    let disk = |s: &mut Sim| s.vm.swap_device_mut::<RamDisk>().unwrap().stats().clone();
    let before = disk(&mut s);
    // The scan, in order: the windows grow to 32 pages, and none stops
    // at a resident page.
    for i in 0..160 {
        let mut b = [0u8; 64];
        s.read(sp, va + i * P + 100, &mut b).unwrap();
        assert_eq!(b, [9u8.wrapping_add(i as u8); 64], "page {i}");
    }
    let after = disk(&mut s);
    let (reads, doorbells) = (
        after.reads - before.reads,
        after.doorbells - before.doorbells,
    );
    assert_eq!(
        after.blocks_read - before.blocks_read,
        160 - holes.len() as u64
    );
    // Past page 40 a window of 32 pages holds four resident ones: five
    // requests, one doorbell (a window that stopped at each would ring
    // once a request).
    assert!(reads >= 20, "{reads} reads: split at the resident pages");
    assert!(
        doorbells * 2 <= reads,
        "{doorbells} doorbells for {reads} reads"
    );
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 256);
}

/// Fault-around leaves pages read ahead from swap unmapped after a
/// scattered fault (each would cost a map now and an unmap at pageout),
/// and enters them once the toucher comes back in order.
#[test]
fn read_ahead_pages_are_mapped_only_on_a_touch_in_order() {
    let (mut s, sp) = sim_with_swap(128, 1024, |_| {});
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(64 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 64, 5);
    evict_all(&mut s);
    let mapped = |s: &Sim, from: u64, to: u64| {
        (from..to)
            .filter(|&i| s.pmap.is_mapped(sp, va + i * P))
            .count()
    };
    s.read_u8(sp, va + 20 * P).unwrap();
    let faults = s.vm.stats().faults;
    let m = s.vm.mincore(sp, va + 13 * P, 16 * P).unwrap();
    assert!(m.iter().all(|&b| b & vm_core::MINCORE_INCORE != 0));
    assert_eq!(mapped(&s, 0, 64), 1, "the faulting page only");
    // The next page in order: a soft fault that enters the read-ahead
    // ahead of it (pages 22..29 are resident up to 28).
    s.read_u8(sp, va + 21 * P).unwrap();
    assert_eq!(mapped(&s, 20, 29), 9);
    assert_eq!(s.vm.stats().faults, faults + 1);
    for i in 22..29 {
        s.read_u8(sp, va + i * P).unwrap();
    }
    assert_eq!(s.vm.stats().faults, faults + 1, "no fault on 22..29");
    check(&s);
    verify(&mut s, sp, va, 64, 5);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 128);
}

#[test]
fn a_page_in_on_a_saturated_device_waits_instead_of_blocking() {
    // 16 staging buffers: one laundering cluster fills them all.
    let mut s = Sim::new(cfg(), 64);
    s.vm.swap_on(Box::new(SwapPager::new(RamDisk::new(1024, 16), 16)))
        .unwrap();
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(48 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, sp, va, 16, 5);
    evict_all(&mut s);
    fill(&mut s, sp, va + 16 * P, 32, 6);
    // A write of 16 pages holds every buffer...
    let rep = s.vm.pageout(&mut s.pmap, 16);
    assert_eq!(rep.laundering, 16);
    // ...so a fault on a page on swap cannot start its read: it gets a
    // request to wait for (the write), not a blocked server or an error.
    let reads = s.vm.stats().pageins;
    let tag = fault_waits(&mut s, sp, va);
    assert_eq!(s.vm.stats().pageins, reads, "no read could start");
    assert_eq!(s.wait(tag), Ok(()));
    check(&s);
    // Then the fault goes through (the read starts, completes, maps).
    verify(&mut s, sp, va, 16, 5);
    verify(&mut s, sp, va + 16 * P, 32, 6);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 64);
}

#[test]
fn a_failed_page_in_fails_only_the_space_that_asked() {
    let (mut s, a) = sim_with_swap(128, 1024, |_| {});
    let va =
        s.vm.mmap(a, &MmapArgs::anon(4 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, a, va, 4, 40);
    // B shares A's pages copy-on-write, and they go to swap.
    let b = s.vm.fork(a, &mut s.pmap).unwrap();
    evict_all(&mut s);
    fail_next_read(&mut s);
    // A's fault starts the read that will fail; B's fault waits for it.
    let ta = fault_waits(&mut s, a, va);
    let tb = fault_waits(&mut s, b, va);
    assert_eq!(ta, tb, "one read for the shared page");
    assert_eq!(s.wait(ta), Ok(()));
    // A's retry gets the error, once; B's (it did not start the read)
    // reads the page again.
    assert_eq!(s.read_u8(a, va + 100), Err(VmError::Io));
    let mut bv = [0u8; 64];
    s.read(b, va + 100, &mut bv).unwrap();
    assert_eq!(bv, [40; 64]);
    // The other order: when B's read brings the page back first, A's
    // retry just finds it (nothing of A's is lost).
    evict_all(&mut s);
    fail_next_read(&mut s);
    let ta = fault_waits(&mut s, a, va);
    assert_eq!(s.wait(ta), Ok(()));
    s.read(b, va + 100, &mut bv).unwrap();
    assert_eq!(bv, [40; 64]);
    assert_eq!(s.read_u8(a, va + 100), Ok(40));
    // And no stale failure is left to hit A later.
    evict_all(&mut s);
    check(&s);
    verify(&mut s, a, va, 4, 40);
    verify(&mut s, b, va, 4, 40);
    s.vm.exit(b, &mut s.pmap).unwrap();
    s.vm.exit(a, &mut s.pmap).unwrap();
    no_leaks(&mut s, 128);
}
