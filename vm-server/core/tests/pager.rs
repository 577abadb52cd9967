//! Objects backed by an external pager (docs/pager.md) through the host RAM pager: page-in with read-ahead, one cached copy for every mapper, private copy-on-write over a file, msync write-back (sync, async, invalidate), pageout of dirty file pages to the pager and never to swap, truncation, pager errors, a hanging pager and pager death, and no leaks.

use vm_core::ram_pager::RamPager;
use vm_core::sim::Sim;
use vm_core::*;
use vm_swap::{RamDisk, SwapPager};

const P: u64 = PAGE_SIZE;
const PAGER: u32 = 7;
const KEY: u64 = 42;

fn cfg() -> VmConfig {
    VmConfig {
        reserved_pages: 4,
        prefault_min_free: 8,
        ..VmConfig::default()
    }
}

/// A file of `pages` pages whose page `i` is filled with byte `i + 1`.
fn file(pages: u64) -> Vec<u8> {
    (0..pages)
        .flat_map(|i| std::iter::repeat_n(i as u8 + 1, P as usize))
        .collect()
}

/// A sim of `frames` frames with pager `PAGER` holding file `KEY` of
/// `pages` pages, the pager's space and a handle to the file's object.
fn setup(frames: u32, pages: u64, tune: impl FnOnce(&mut RamPager)) -> (Sim, SpaceId, Handle) {
    let mut s = Sim::new(cfg(), frames);
    let mut pager = RamPager::new(1);
    pager.files.insert(KEY, file(pages));
    tune(&mut pager);
    s.vm.pager_attach(PAGER, Box::new(pager)).unwrap();
    let owner = s.vm.space_create(&mut s.pmap).unwrap();
    let h = s.vm.pager_create(owner, PAGER, KEY, pages).unwrap();
    (s, owner, h)
}

fn pager(s: &mut Sim) -> &mut RamPager {
    s.vm.pager_device_mut::<RamPager>(PAGER).unwrap()
}

/// A new space with the file shared with it (read-write) and mapped:
/// shared or private.
fn mapper(s: &mut Sim, owner: SpaceId, h: Handle, pages: u64, shared: bool) -> (SpaceId, u64) {
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    s.vm.handle_accept(sp, owner, 8).unwrap();
    let mine = s.vm.handle_share(owner, h, sp, Prot::RW).unwrap();
    let mut a = MmapArgs::object(mine, 0, pages * P, Prot::RW);
    if !shared {
        a.flags = MapFlags::PRIVATE;
    }
    let va = s.vm.mmap(sp, &a, &mut s.pmap).unwrap();
    (sp, va)
}

fn check(s: &Sim) {
    s.check().unwrap();
    s.vm.check_page_queues().unwrap();
    s.vm.check_swap().unwrap();
}

fn byte(s: &mut Sim, sp: SpaceId, va: u64) -> u8 {
    let b = s.read_u8(sp, va).unwrap();
    check(s);
    b
}

#[test]
fn pages_come_from_the_pager_once_for_every_mapper() {
    let (mut s, owner, h) = setup(64, 16, |_| {});
    let (a, va) = mapper(&mut s, owner, h, 16, true);
    let (b, vb) = mapper(&mut s, owner, h, 16, false);
    for i in 0..16 {
        assert_eq!(byte(&mut s, a, va + i * P + 5), i as u8 + 1);
    }
    let reads = pager(&mut s).reads;
    assert!(reads < 16, "read-ahead: {reads} requests for 16 pages");
    for i in 0..16 {
        assert_eq!(byte(&mut s, b, vb + i * P), i as u8 + 1);
    }
    assert_eq!(
        pager(&mut s).reads,
        reads,
        "the second mapper reads the cache"
    );
    // The same frame backs both.
    let (fa, fb) = (
        s.vm.extract(a, va).unwrap().unwrap(),
        s.vm.extract(b, vb).unwrap().unwrap(),
    );
    assert_eq!(fa, fb);
    assert_eq!(s.vm.stats().pager_pages_in, 16);
}

#[test]
fn private_writes_stay_private_and_shared_writes_reach_the_file() {
    let (mut s, owner, h) = setup(64, 4, |_| {});
    let (a, va) = mapper(&mut s, owner, h, 4, true);
    let (b, vb) = mapper(&mut s, owner, h, 4, false);
    // semantics: map-private-file
    s.write(b, vb + P, b"private").unwrap();
    check(&s);
    s.vm.msync(b, vb, 4 * P, MsyncFlags::SYNC, &mut s.pmap)
        .unwrap();
    assert_eq!(pager(&mut s).page(KEY, 1)[..7], [2u8; 7], "file unchanged");
    // semantics: map-shared-file, msync-sync
    s.write(a, va + 2 * P + 10, b"shared").unwrap();
    assert_eq!(
        pager(&mut s).page(KEY, 2)[10..16],
        [3u8; 6],
        "not yet written"
    );
    s.vm.msync(a, va, 4 * P, MsyncFlags::SYNC, &mut s.pmap)
        .unwrap();
    check(&s);
    assert_eq!(&pager(&mut s).page(KEY, 2)[10..16], b"shared");
    // The private view sees the shared write on a page it has not written.
    let mut buf = [0u8; 6];
    s.read(b, vb + 2 * P + 10, &mut buf).unwrap();
    assert_eq!(&buf, b"shared");
    let mut buf = [0u8; 7];
    s.read(b, vb + P, &mut buf).unwrap();
    assert_eq!(&buf, b"private");
    // Written pages stay resident and clean: a second msync writes nothing.
    let writes = pager(&mut s).writes;
    s.vm.msync(a, va, 4 * P, MsyncFlags::SYNC, &mut s.pmap)
        .unwrap();
    assert_eq!(pager(&mut s).writes, writes);
}

#[test]
fn msync_async_starts_and_invalidate_rereads() {
    let (mut s, owner, h) = setup(64, 4, |p| p.delay = 3);
    let (a, va) = mapper(&mut s, owner, h, 4, true);
    s.write(a, va, b"async").unwrap();
    // semantics: msync-async
    s.vm.msync_start(a, va, 4 * P, MsyncFlags::ASYNC, &mut s.pmap)
        .map(|w| assert_eq!(w, None))
        .unwrap();
    assert_eq!(pager(&mut s).in_flight(), 1);
    s.vm.swap_drain(&mut s.pmap);
    while pager(&mut s).in_flight() > 0 {
        s.vm.swap_poll(&mut s.pmap);
    }
    s.vm.swap_poll(&mut s.pmap);
    assert_eq!(&pager(&mut s).page(KEY, 0)[..5], b"async");
    check(&s);
    // The file changes behind the cache; INVALIDATE drops the clean copy.
    pager(&mut s).files.get_mut(&KEY).unwrap()[P as usize] = 0xee;
    assert_eq!(byte(&mut s, a, va + P), 2, "cached");
    // semantics: msync-invalidate
    s.vm.msync(a, va, 4 * P, MsyncFlags::INVALIDATE, &mut s.pmap)
        .unwrap();
    assert_eq!(byte(&mut s, a, va + P), 0xee, "read again");
}

/// msync writes a dirty page that a space has wired (semantics:
/// msync-sync): write-protected rather than unmapped while the write is
/// in flight, so the wired mapping still reads without a fault, and
/// still wired afterwards. Model seed 1933 found msync skipping it.
#[test]
fn msync_writes_wired_pages_and_keeps_them_mapped() {
    let (mut s, owner, h) = setup(64, 4, |p| p.delay = 3);
    let (a, va) = mapper(&mut s, owner, h, 4, true);
    let (b, vb) = mapper(&mut s, owner, h, 4, true);
    s.write(a, va + P, b"wired").unwrap();
    s.mlock(a, va, 4 * P).unwrap();
    check(&s);
    // Another mapper asks; the page is wired in `a`, not in `b`.
    s.vm.msync_start(b, vb, 4 * P, MsyncFlags::ASYNC, &mut s.pmap)
        .map(|w| assert_eq!(w, None))
        .unwrap();
    assert_eq!(pager(&mut s).in_flight(), 1);
    check(&s);
    let (_, prot) = s.pmap.lookup(a, va + P).expect("still mapped");
    assert_eq!(prot & Prot::WRITE, Prot::NONE, "write-protected");
    assert_eq!(byte(&mut s, a, va + P), b'w');
    while pager(&mut s).in_flight() > 0 {
        s.vm.swap_poll(&mut s.pmap);
    }
    s.vm.swap_poll(&mut s.pmap);
    assert_eq!(&pager(&mut s).page(KEY, 1)[..5], b"wired");
    check(&s);
    // Clean and still wired: a write re-dirties it, SYNC writes it again.
    s.write(a, va + P, b"again").unwrap();
    s.vm.msync(a, va, 4 * P, MsyncFlags::SYNC, &mut s.pmap)
        .unwrap();
    assert_eq!(&pager(&mut s).page(KEY, 1)[..5], b"again");
    s.vm.munlock(a, va, 4 * P).unwrap();
    check(&s);
}

#[test]
fn pageout_writes_dirty_file_pages_back_not_to_swap() {
    // 48 frames, a 96-page file written through a shared mapping: pageout
    // must write the file pages back to the pager (swap is attached, and
    // must stay unused).
    let (mut s, owner, h) = setup(48, 96, |p| {
        p.delay = 2;
        p.reorder = true;
    });
    s.vm.swap_on(Box::new(SwapPager::new(RamDisk::new(256, 64), 16)))
        .unwrap();
    let (a, va) = mapper(&mut s, owner, h, 96, true);
    for i in 0..96 {
        s.write(a, va + i * P + 7, &[0xa0 ^ i as u8; 9]).unwrap();
        check(&s);
    }
    for i in 0..96 {
        let mut b = [0u8; 9];
        s.read(a, va + i * P + 7, &mut b).unwrap();
        assert_eq!(b, [0xa0 ^ i as u8; 9], "page {i}");
        assert_eq!(byte(&mut s, a, va + i * P), i as u8 + 1);
    }
    let st = s.vm.stats();
    assert!(st.pager_pages_out > 0 && st.pgswapout == 0, "{st:?}");
    s.vm.msync(a, va, 96 * P, MsyncFlags::SYNC, &mut s.pmap)
        .unwrap();
    for i in 0..96 {
        let p = pager(&mut s).page(KEY, i);
        assert_eq!(p[7..16], [0xa0 ^ i as u8; 9], "file page {i}");
        assert_eq!(p[0], i as u8 + 1);
    }
}

#[test]
fn truncation_and_access_beyond_the_end() {
    let (mut s, owner, h) = setup(64, 8, |_| {});
    let (a, va) = mapper(&mut s, owner, h, 8, true);
    assert_eq!(byte(&mut s, a, va + 7 * P), 8);
    // semantics: file-truncate
    s.vm.pager_resize(owner, h, 4, &mut s.pmap).unwrap();
    check(&s);
    assert_eq!(s.read_u8(a, va + 5 * P), Err(VmError::BeyondObject));
    assert_eq!(byte(&mut s, a, va + 3 * P), 4);
    s.vm.pager_resize(owner, h, 8, &mut s.pmap).unwrap();
    assert_eq!(byte(&mut s, a, va + 7 * P), 8, "read again from the pager");
    let shm = s.vm.shm_create(a, None, 2 * P, Prot::RW).unwrap();
    assert_eq!(
        s.vm.pager_resize(a, shm, 2, &mut s.pmap),
        Err(VmError::InvalidArgument),
        "not a pager object",
    );
}

#[test]
fn a_failed_page_in_fails_only_the_fault_that_wanted_it() {
    let (mut s, owner, h) = setup(64, 4, |p| p.fail_next_read = true);
    let (a, va) = mapper(&mut s, owner, h, 4, true);
    let (b, vb) = mapper(&mut s, owner, h, 4, true);
    // semantics: pager-read-error
    assert_eq!(s.read_u8(a, va), Err(VmError::Io));
    check(&s);
    assert_eq!(byte(&mut s, b, vb), 1, "another reader reads again");
    assert_eq!(byte(&mut s, a, va), 1, "and so does the next fault");
}

#[test]
fn a_failed_write_back_keeps_the_data_and_fails_one_msync() {
    let (mut s, owner, h) = setup(64, 2, |p| p.fail_next_write = true);
    let (a, va) = mapper(&mut s, owner, h, 2, true);
    s.write(a, va, b"keep").unwrap();
    // semantics: msync-error
    assert_eq!(
        s.vm.msync(a, va, 2 * P, MsyncFlags::SYNC, &mut s.pmap),
        Err(VmError::Io)
    );
    check(&s);
    let mut b = [0u8; 4];
    s.read(a, va, &mut b).unwrap();
    assert_eq!(&b, b"keep");
    s.vm.msync(a, va, 2 * P, MsyncFlags::SYNC, &mut s.pmap)
        .unwrap();
    assert_eq!(&pager(&mut s).page(KEY, 0)[..4], b"keep");
}

#[test]
fn a_hanging_pager_stalls_only_its_own_objects() {
    let (mut s, owner, h) = setup(64, 4, |p| p.hold = true);
    let (a, va) = mapper(&mut s, owner, h, 4, true);
    assert!(matches!(
        s.vm.fault(a, va, Access::Read, &mut s.pmap),
        Ok(FaultOutcome::Wait(_))
    ));
    // Everyone else, including operations that drain I/O, goes on.
    let other = s.vm.space_create(&mut s.pmap).unwrap();
    let vo =
        s.vm.mmap(other, &MmapArgs::anon(4 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.write(other, vo, b"free").unwrap();
    let child = s.vm.fork(other, &mut s.pmap).unwrap();
    s.vm.madvise(other, vo, 4 * P, Advice::DontNeed, &mut s.pmap)
        .unwrap();
    assert_eq!(s.read_u8(child, vo).unwrap(), b'f');
    check(&s);
    // The client mapping the file can exit with its fault pending.
    s.vm.exit(a, &mut s.pmap).unwrap();
    check(&s);
}

#[test]
fn pager_death_fails_faults_on_its_objects_and_nothing_else() {
    let (mut s, owner, h) = setup(64, 32, |_| {});
    let (a, va) = mapper(&mut s, owner, h, 32, true);
    let (b, vb) = mapper(&mut s, owner, h, 32, false);
    assert_eq!(byte(&mut s, a, va), 1);
    s.write(b, vb + P, b"mine").unwrap();
    let vo =
        s.vm.mmap(b, &MmapArgs::anon(2 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.write(b, vo, b"anon").unwrap();
    pager(&mut s).hold = true;
    assert!(matches!(
        s.vm.fault(a, va + 20 * P, Access::Read, &mut s.pmap),
        Ok(FaultOutcome::Wait(_))
    ));
    // semantics: pager-death
    s.vm.pager_dead(PAGER, &mut s.pmap);
    check(&s);
    assert_eq!(
        s.read_u8(a, va),
        Err(VmError::PagerDead),
        "even a cached page"
    );
    assert_eq!(s.read_u8(a, va + 20 * P), Err(VmError::PagerDead));
    assert_eq!(s.read_u8(b, vb), Err(VmError::PagerDead));
    assert_eq!(
        s.vm.msync_start(a, va, P, MsyncFlags::SYNC, &mut s.pmap),
        Err(VmError::PagerDead)
    );
    // The private copy and anonymous memory are the client's own.
    let mut buf = [0u8; 4];
    s.read(b, vb + P, &mut buf).unwrap();
    assert_eq!(&buf, b"mine");
    s.read(b, vo, &mut buf).unwrap();
    assert_eq!(&buf, b"anon");
    let mine = s.vm.space(b).unwrap().handle(Handle(1)).is_some();
    assert!(mine);
    assert_eq!(
        s.vm.mmap(
            b,
            &MmapArgs::object(Handle(1), 0, P, Prot::READ),
            &mut s.pmap
        ),
        Err(VmError::PagerDead)
    );
    for sp in [a, b, owner] {
        s.vm.exit(sp, &mut s.pmap).unwrap();
    }
    check(&s);
    let st = s.vm.stats();
    assert_eq!((st.free, st.objects), (64, 0), "{st:?}");
}

#[test]
fn fork_gives_a_copy_of_a_shared_file_mapping_a_private_view() {
    let (mut s, owner, h) = setup(64, 4, |_| {});
    let (a, va) = mapper(&mut s, owner, h, 4, true);
    s.vm.minherit(a, va, 4 * P, Inheritance::Copy).unwrap();
    // semantics: fork-copy-file
    let c = s.vm.fork(a, &mut s.pmap).unwrap();
    s.write(c, va, b"child").unwrap();
    assert_eq!(byte(&mut s, a, va), 1, "the child's write is its own");
    s.write(a, va + P, b"parent").unwrap();
    let mut b = [0u8; 6];
    s.read(c, va + P, &mut b).unwrap();
    assert_eq!(&b, b"parent", "a page the child has not written");
    // semantics: minherit-share-private-file
    let (p, vp) = mapper(&mut s, owner, h, 4, false);
    assert_eq!(
        s.vm.minherit(p, vp, 4 * P, Inheritance::Share),
        Err(VmError::InvalidArgument)
    );
    check(&s);
}

#[test]
fn closing_the_last_reference_tells_the_pager_and_frees_everything() {
    let (mut s, owner, h) = setup(64, 4, |_| {});
    let (a, va) = mapper(&mut s, owner, h, 4, true);
    assert_eq!(byte(&mut s, a, va + 3 * P), 4);
    s.vm.exit(a, &mut s.pmap).unwrap();
    assert!(
        pager(&mut s).closed.is_empty(),
        "the pager's handle keeps it"
    );
    s.vm.handle_close(owner, h).unwrap();
    assert_eq!(pager(&mut s).closed, vec![KEY]);
    s.vm.exit(owner, &mut s.pmap).unwrap();
    check(&s);
    let st = s.vm.stats();
    assert_eq!((st.free, st.objects), (64, 0), "{st:?}");
    assert_eq!(
        s.vm.pager_create(SpaceId(99), PAGER, 1, 1),
        Err(VmError::BadSpace)
    );
}

/// `pager_open` (the VM server's `PagerCreate`): a handle straight in a
/// client's space with the rights asked, one shared cache per live
/// object of a pager and key, the client's handle quota, and refusals.
#[test]
fn pager_open_shares_the_live_object_and_keeps_its_rights() {
    let (mut s, owner, h) = setup(64, 4, |_| {});
    let c = s.vm.space_create(&mut s.pmap).unwrap();
    // semantics: map-shared-file — the same key opens the same object.
    let rw = s.vm.pager_open(c, PAGER, KEY, 4, Prot::RW).unwrap();
    let va =
        s.vm.mmap(c, &MmapArgs::object(rw, 0, 4 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.write(c, va + P, b"one cache").unwrap();
    let (a, vb) = mapper(&mut s, owner, h, 4, true);
    let mut buf = [0u8; 9];
    s.read(a, vb + P, &mut buf).unwrap();
    assert_eq!(&buf, b"one cache", "the owner's object is the client's");
    assert_eq!(s.vm.stats().objects, 1);
    // A read-only handle maps read-only and no more.
    let ro = s.vm.pager_open(c, PAGER, KEY, 4, Prot::READ).unwrap();
    let w = MmapArgs::object(ro, 0, 4 * P, Prot::RW);
    assert_eq!(s.vm.mmap(c, &w, &mut s.pmap), Err(VmError::Protection));
    let r = MmapArgs::object(ro, 0, 4 * P, Prot::READ);
    assert!(s.vm.mmap(c, &r, &mut s.pmap).is_ok());
    // Another size is another object.
    let other = s.vm.pager_open(c, PAGER, KEY, 2, Prot::READ).unwrap();
    assert_eq!(s.vm.stats().objects, 2);
    s.vm.handle_close(c, other).unwrap();
    // Refusals change nothing.
    assert_eq!(
        s.vm.pager_open(c, PAGER, KEY, 4, Prot::WRITE),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(
        s.vm.pager_open(c, PAGER + 1, KEY, 4, Prot::READ),
        Err(VmError::PagerDead)
    );
    let limits = Limits {
        handles: 2,
        ..Limits::default()
    };
    s.vm.set_limits(c, limits, &mut s.pmap).unwrap();
    assert_eq!(
        s.vm.pager_open(c, PAGER, KEY, 4, Prot::READ),
        Err(VmError::QuotaExceeded(Quota::Handles))
    );
    assert_eq!(s.vm.stats().objects, 1);
    check(&s);
}
