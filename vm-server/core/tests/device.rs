//! Device memory in the core: regions past the pool, opening one through a quota-counted handle, shared-only mappings, never paged out under pressure, shared or left out at fork (never copied), and nothing given back to the pool at exit (docs/semantics.md, `device-*`).

use vm_core::sim::Sim;
use vm_core::*;
use vm_swap::{RamDisk, SwapPager};

const P: u64 = PAGE_SIZE;
const FRAMES: u32 = 64;
const DEV: u32 = 8;

fn check(s: &Sim) {
    s.check().unwrap();
    s.vm.check_page_queues().unwrap();
    s.vm.check_swap().unwrap();
}

/// A sim with a device region of `DEV` pages, a space and a handle to it.
fn setup(rights: Prot) -> (Sim, SpaceId, ObjectId, FrameNumber, Handle) {
    let mut s = Sim::new(VmConfig::default(), FRAMES);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let (o, base) = s.device_create(DEV).unwrap();
    let h = s.vm.device_open(sp, o, rights).unwrap();
    (s, sp, o, base, h)
}

fn map(s: &mut Sim, sp: SpaceId, h: Handle, prot: Prot) -> u64 {
    s.vm.mmap(
        sp,
        &MmapArgs::object(h, 0, DEV as u64 * P, prot),
        &mut s.pmap,
    )
    .unwrap()
}

/// A byte per page that tells pages (and writers) apart.
fn pattern(page: u64, seed: u8) -> u8 {
    (page as u8).wrapping_mul(31).wrapping_add(seed)
}

#[test]
fn regions_are_numbered_past_the_pool_and_never_its_memory() {
    let (mut s, _, _, base, _) = setup(Prot::RW);
    assert_eq!(base, FrameNumber(FRAMES));
    let (_, second) = s.device_create(2).unwrap();
    assert_eq!(second, FrameNumber(FRAMES + DEV));
    assert_eq!(s.vm.device_create(0), Err(VmError::ZeroLength));
    assert_eq!(s.vm.device_create(u32::MAX), Err(VmError::Overflow));
    let st = s.vm.stats();
    // semantics: device-resident: not pool memory, not free, not unmanaged RAM.
    assert_eq!(
        (st.npages, st.free, st.unmanaged, st.device),
        (FRAMES, FRAMES, 0, DEV + 2)
    );
    check(&s);
}

#[test]
fn opening_checks_the_space_the_object_and_the_handle_quota() {
    // semantics: device-open
    let (mut s, sp, o, _, _) = setup(Prot::RW);
    let anon = s.vm.shm_create(sp, None, P, Prot::RW).unwrap();
    let shm = s.vm.space(sp).unwrap().handle(anon).unwrap().object;
    assert_eq!(
        s.vm.device_open(SpaceId(99), o, Prot::READ),
        Err(VmError::BadSpace)
    );
    assert_eq!(
        s.vm.device_open(sp, shm, Prot::READ),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(
        s.vm.device_open(sp, ObjectId(4000), Prot::READ),
        Err(VmError::InvalidArgument)
    );
    let limits = Limits {
        handles: 3,
        ..Limits::UNLIMITED
    };
    s.vm.set_limits(sp, limits, &mut s.pmap).unwrap();
    // Two handles so far (the device's and the shm object's).
    s.vm.device_open(sp, o, Prot::READ).unwrap();
    assert_eq!(
        s.vm.device_open(sp, o, Prot::READ),
        Err(VmError::QuotaExceeded(Quota::Handles))
    );
    assert_eq!(s.vm.usage(sp).unwrap().handles, 3);
    check(&s);
}

#[test]
fn mapped_shared_only_and_written_straight_into_the_device() {
    // semantics: device-map
    let (mut s, sp, _, base, h) = setup(Prot::RW);
    let private = MmapArgs {
        flags: MapFlags::PRIVATE,
        ..MmapArgs::object(h, 0, P, Prot::READ)
    };
    assert_eq!(
        s.vm.mmap(sp, &private, &mut s.pmap),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(s.vm.space(sp).unwrap().map().entry_count(), 0);
    let va = map(&mut s, sp, h, Prot::RW);
    for i in 0..DEV as u64 {
        s.write(sp, va + i * P + 7, &[pattern(i, 1)]).unwrap();
    }
    for i in 0..DEV as u64 {
        let f = FrameNumber(base.0 + i as u32);
        assert_eq!(s.pmap.frame(f)[7], pattern(i, 1), "device page {i}");
        assert_eq!(s.pmap.lookup(sp, va + i * P).unwrap().0, f);
    }
    // Past the region: no page.
    assert_eq!(s.read_u8(sp, va + DEV as u64 * P), Err(VmError::NoMapping));
    let beyond = MmapArgs::object(h, P, DEV as u64 * P, Prot::READ);
    let vb = s.vm.mmap(sp, &beyond, &mut s.pmap).unwrap();
    assert_eq!(
        s.read_u8(sp, vb + (DEV as u64 - 1) * P),
        Err(VmError::BeyondObject)
    );
    // The mapping counts as an entry and a mapped range of the space.
    assert_eq!(s.vm.usage(sp).unwrap().map_entries, 2);
    assert_eq!(s.vm.usage(sp).unwrap().resident_pages, 0);
    check(&s);
}

#[test]
fn rights_come_from_the_handle() {
    // semantics: device-mprotect
    let (mut s, sp, o, _, h) = setup(Prot::READ);
    assert_eq!(
        s.vm.mmap(sp, &MmapArgs::object(h, 0, P, Prot::RW), &mut s.pmap),
        Err(VmError::Protection)
    );
    let va = map(&mut s, sp, h, Prot::READ);
    assert_eq!(
        s.vm.mprotect(sp, va, P, Prot::RW, &mut s.pmap),
        Err(VmError::MaxProtection)
    );
    assert_eq!(s.write(sp, va, &[1]), Err(VmError::Protection));
    // A writable handle: mprotect goes down and up within it.
    let hw = s.vm.device_open(sp, o, Prot::RW).unwrap();
    let vw = map(&mut s, sp, hw, Prot::RW);
    s.vm.mprotect(sp, vw, P, Prot::READ, &mut s.pmap).unwrap();
    assert_eq!(s.write(sp, vw, &[2]), Err(VmError::Protection));
    s.vm.mprotect(sp, vw, P, Prot::RW, &mut s.pmap).unwrap();
    s.write(sp, vw, &[3]).unwrap();
    assert_eq!(s.read_u8(sp, va).unwrap(), 3);
    // Passing it on: never more rights than the sender's.
    let other = s.vm.space_create(&mut s.pmap).unwrap();
    s.vm.handle_accept(other, sp, 2).unwrap();
    assert_eq!(
        s.vm.handle_share(sp, h, other, Prot::RW),
        Err(VmError::Protection)
    );
    s.vm.handle_share(sp, h, other, Prot::READ).unwrap();
    // semantics: device-truncate
    assert_eq!(
        s.vm.shm_truncate(sp, hw, P, &mut s.pmap),
        Err(VmError::InvalidArgument)
    );
    check(&s);
}

#[test]
fn fork_shares_or_leaves_out_and_never_copies() {
    // semantics: device-fork, device-minherit-copy
    let (mut s, sp, _, base, h) = setup(Prot::RW);
    let va = map(&mut s, sp, h, Prot::RW);
    let half = DEV as u64 / 2 * P;
    for i in 0..DEV as u64 {
        s.write(sp, va + i * P, &[pattern(i, 2)]).unwrap();
    }
    assert_eq!(
        s.vm.minherit(sp, va, DEV as u64 * P, Inheritance::Copy),
        Err(VmError::InvalidArgument)
    );
    // A range that is partly device memory is refused whole.
    let anon = s.vm.mmap(
        sp,
        &MmapArgs::anon(P, Prot::RW).fixed(va + DEV as u64 * P),
        &mut s.pmap,
    );
    let anon = anon.unwrap();
    assert_eq!(
        s.vm.minherit(sp, anon - P, 2 * P, Inheritance::Copy),
        Err(VmError::InvalidArgument)
    );
    let e = s.vm.space(sp).unwrap().map().lookup(va).unwrap();
    assert_eq!(e.inheritance(), Inheritance::Share);
    s.vm.minherit(sp, va + half, half, Inheritance::None)
        .unwrap();
    let c = s.vm.fork(sp, &mut s.pmap).unwrap();
    check(&s);
    // Shared half: the same frames; the child's writes are the parent's.
    for i in 0..DEV as u64 / 2 {
        assert_eq!(s.read_u8(c, va + i * P).unwrap(), pattern(i, 2));
        s.write(c, va + i * P, &[pattern(i, 3)]).unwrap();
        assert_eq!(s.read_u8(sp, va + i * P).unwrap(), pattern(i, 3));
        let f = FrameNumber(base.0 + i as u32);
        assert_eq!(s.pmap.lookup(c, va + i * P).unwrap().0, f);
    }
    // Left-out half: a hole in the child, untouched in the parent.
    assert_eq!(s.read_u8(c, va + half), Err(VmError::NoMapping));
    assert_eq!(
        s.read_u8(sp, va + half).unwrap(),
        pattern(DEV as u64 / 2, 2)
    );
    // The child got a handle too (handles are duplicated at fork).
    assert!(s.vm.space(c).unwrap().handle(h).is_some());
    assert_eq!(s.vm.stats().flt_cow, 0);
    check(&s);
}

#[test]
fn never_paged_out_under_pressure() {
    // semantics: device-resident
    let frames = 48;
    let cfg = VmConfig {
        reserved_pages: 4,
        prefault_min_free: 8,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, frames);
    s.vm.swap_on(Box::new(SwapPager::new(RamDisk::new(1024, 64), 16)))
        .unwrap();
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let (o, base) = s.device_create(DEV).unwrap();
    let h = s.vm.device_open(sp, o, Prot::RW).unwrap();
    let va = map(&mut s, sp, h, Prot::RW);
    for i in 0..DEV as u64 {
        s.write(sp, va + i * P, &[pattern(i, 4)]).unwrap();
    }
    // Four times the pool of anonymous memory, written twice over.
    let n = 4 * frames as u64;
    let anon =
        s.vm.mmap(sp, &MmapArgs::anon(n * P, Prot::RW), &mut s.pmap)
            .unwrap();
    for round in 0..2u8 {
        for i in 0..n {
            s.write(sp, anon + i * P, &[round ^ i as u8]).unwrap();
        }
        // Every device page is still mapped, where it was, with its bytes.
        for i in 0..DEV as u64 {
            let f = FrameNumber(base.0 + i as u32);
            assert_eq!(s.pmap.lookup(sp, va + i * P).map(|m| m.0), Some(f));
            assert_eq!(s.pmap.frame(f)[0], pattern(i, 4));
        }
        check(&s);
    }
    let st = s.vm.stats();
    assert!(st.pdpageouts > 0, "no pressure: {st:?}");
    assert_eq!(st.device, DEV);
    // mincore: always in core.
    let inc = s.vm.mincore(sp, va, DEV as u64 * P).unwrap();
    assert!(inc.iter().all(|b| b & MINCORE_INCORE != 0));
}

#[test]
fn madvise_mlock_msync_keep_the_device_contents() {
    // semantics: device-madvise, device-mlock, device-msync, device-resident
    let (mut s, sp, _, _, h) = setup(Prot::RW);
    let va = map(&mut s, sp, h, Prot::RW);
    let len = DEV as u64 * P;
    for i in 0..DEV as u64 {
        s.write(sp, va + i * P, &[pattern(i, 5)]).unwrap();
    }
    for advice in [
        Advice::DontNeed,
        Advice::Free,
        Advice::Random,
        Advice::WillNeed,
    ] {
        s.vm.madvise(sp, va, len, advice, &mut s.pmap).unwrap();
        check(&s);
    }
    // WILLNEED mapped every page: reading faults nothing.
    let faults = s.vm.stats().faults;
    for i in 0..DEV as u64 {
        assert_eq!(s.read_u8(sp, va + i * P).unwrap(), pattern(i, 5));
    }
    assert_eq!(s.vm.stats().faults, faults);
    let wired_before = s.vm.stats().wired;
    s.vm.mlock(sp, va, len, &mut s.pmap).unwrap();
    assert_eq!(s.vm.usage(sp).unwrap().wired_pages, DEV as u64);
    assert_eq!(s.vm.stats().wired, wired_before);
    assert_eq!(
        s.vm.msync(sp, va, len, MsyncFlags::INVALIDATE, &mut s.pmap),
        Err(VmError::Busy)
    );
    s.vm.munlock(sp, va, len).unwrap();
    for flags in [MsyncFlags::SYNC, MsyncFlags::ASYNC, MsyncFlags::INVALIDATE] {
        s.vm.msync(sp, va, len, flags, &mut s.pmap).unwrap();
    }
    assert!(!s.pmap.is_mapped(sp, va));
    for i in 0..DEV as u64 {
        assert_eq!(s.read_u8(sp, va + i * P).unwrap(), pattern(i, 5));
    }
    let inc = s.vm.mincore(sp, va, len).unwrap();
    assert!(inc.iter().all(|b| b & MINCORE_INCORE != 0));
    check(&s);
}

#[test]
fn exit_unmaps_and_gives_nothing_to_the_pool() {
    // semantics: device-exit
    let (mut s, sp, o, base, h) = setup(Prot::RW);
    let va = map(&mut s, sp, h, Prot::RW);
    s.write(sp, va + 3 * P, &[0x5a]).unwrap();
    let c = s.vm.fork(sp, &mut s.pmap).unwrap();
    s.vm.exit(c, &mut s.pmap).unwrap();
    s.vm.exit(sp, &mut s.pmap).unwrap();
    check(&s);
    let st = s.vm.stats();
    assert_eq!(
        (st.free, st.npages, st.device, st.objects),
        (FRAMES, FRAMES, DEV, 1)
    );
    for i in 0..DEV {
        assert_eq!(s.pmap.mapping_count(FrameNumber(base.0 + i)), 0);
    }
    // The region lives on with the server: a new client sees the device's bytes.
    let sp2 = s.vm.space_create(&mut s.pmap).unwrap();
    let h2 = s.vm.device_open(sp2, o, Prot::READ).unwrap();
    let v2 = map(&mut s, sp2, h2, Prot::READ);
    assert_eq!(s.read_u8(sp2, v2 + 3 * P).unwrap(), 0x5a);
    s.vm.exit(sp2, &mut s.pmap).unwrap();
    // Even the server's own release leaves the pages out of the pool.
    s.vm.object_release(o).unwrap();
    check(&s);
    let st = s.vm.stats();
    assert_eq!((st.free, st.objects, st.device), (FRAMES, 0, DEV));
    assert_eq!(s.vm.pool().page(base).object(), None);
}
