//! The VM core driving a pager component through the channel: `ChannelPager`
//! attached to a simulated `Vm`, the pager end served whenever the VM end
//! kicks it. Faults read pages in with read-ahead, shared writes reach the
//! pager's store by msync and by pageout, holes read as zero, failures and
//! garbage fail only the fault that wanted the page, a hung pager stalls
//! only its own objects, and closes arrive.

mod common;

use common::*;
use pager_api::{
    ChannelPager, Incoming, Notifier, Outcome, PagerEnd, PagerError, VmEnd, PAGE_SIZE,
};
use std::cell::RefCell;
use std::rc::Rc;
use vm_core::sim::Sim;
use vm_core::*;
use vm_swap::{RamDisk, SwapPager};

const P: u64 = PAGE_SIZE as u64;
const PAGER: u32 = 3;
const KEY: u64 = 11;

type Pager = Rc<RefCell<FilePager<Quiet>>>;

/// The VM end's notifier in these tests: a kick runs the pager component.
struct Serve(Pager);

impl Notifier for Serve {
    fn kick(&mut self) {
        self.0.borrow_mut().serve();
    }
    fn wait(&mut self) {
        self.0.borrow_mut().serve();
    }
}

/// A file of `pages` pages, page `i` filled with byte `i + 1`.
fn file(pages: u64) -> Vec<u8> {
    (0..pages)
        .flat_map(|i| vec![i as u8 + 1; PAGE_SIZE])
        .collect()
}

/// A sim of `frames` frames with a channel of `buffers` buffers and
/// cluster `cluster` to a file pager holding file `KEY` of `pages` pages;
/// returns the sim, the pager, and a space mapping the file shared.
fn setup(frames: u32, buffers: u64, cluster: u64, pages: u64) -> (Sim, Pager, SpaceId, u64) {
    let base = channel(buffers);
    let pager: Pager = Rc::new(RefCell::new(FilePager::new(PagerEnd::new(
        ring(base),
        window(base, buffers),
        cluster,
        Quiet,
    ))));
    pager.borrow_mut().files.insert(KEY, file(pages));
    let end = VmEnd::new(
        ring(base),
        window(base, buffers),
        cluster,
        Serve(pager.clone()),
    )
    .unwrap();
    let cfg = VmConfig {
        reserved_pages: 4,
        prefault_min_free: 8,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, frames);
    s.vm.pager_attach(PAGER, Box::new(ChannelPager::new(end)))
        .unwrap();
    let owner = s.vm.space_create(&mut s.pmap).unwrap();
    let h = s.vm.pager_create(owner, PAGER, KEY, pages).unwrap();
    let va =
        s.vm.mmap(
            owner,
            &MmapArgs::object(h, 0, pages * P, Prot::RW),
            &mut s.pmap,
        )
        .unwrap();
    (s, pager, owner, va)
}

fn protocol_errors(s: &mut Sim) -> u64 {
    s.vm.pager_device_mut::<ChannelPager<Serve>>(PAGER)
        .unwrap()
        .end()
        .protocol_errors()
}

fn check(s: &Sim) {
    s.check().unwrap();
    s.vm.check_page_queues().unwrap();
}

#[test]
fn faults_read_through_the_channel_and_msync_writes_back() {
    let (mut s, pager, sp, va) = setup(64, 16, 4, 12);
    for i in 0..12 {
        assert_eq!(s.read_u8(sp, va + i * P + 9).unwrap(), i as u8 + 1);
        check(&s);
    }
    let reads = pager.borrow().reads;
    assert!(reads <= 6, "read-ahead: {reads} page-ins for 12 pages");
    assert_eq!(s.vm.stats().pager_pages_in, 12);
    s.write(sp, va + 5 * P + 100, b"through the window")
        .unwrap();
    s.write(sp, va + 6 * P, b"and its neighbour").unwrap();
    assert_eq!(pager.borrow().page(KEY, 5)[100], 6, "not written yet");
    s.vm.msync(sp, va, 12 * P, MsyncFlags::SYNC, &mut s.pmap)
        .unwrap();
    check(&s);
    let p = pager.borrow();
    assert_eq!(&p.page(KEY, 5)[100..118], b"through the window");
    assert_eq!(&p.page(KEY, 6)[..17], b"and its neighbour");
    assert_eq!(p.page(KEY, 7), vec![8u8; PAGE_SIZE], "clean pages stay");
    assert!(p.writes >= 1);
    drop(p);
    assert_eq!(protocol_errors(&mut s), 0);
}

#[test]
fn pageout_writes_dirty_pages_to_the_pager() {
    // 40 frames, a 64-page file dirtied through a shared mapping.
    let (mut s, pager, sp, va) = setup(40, 32, 8, 64);
    s.vm.swap_on(Box::new(SwapPager::new(RamDisk::new(256, 64), 16)))
        .unwrap();
    for i in 0..64 {
        s.write(sp, va + i * P + 3, &[0xc0 ^ i as u8; 5]).unwrap();
        check(&s);
    }
    for i in 0..64 {
        let mut b = [0u8; 5];
        s.read(sp, va + i * P + 3, &mut b).unwrap();
        assert_eq!(b, [0xc0 ^ i as u8; 5], "page {i}");
    }
    let st = s.vm.stats();
    assert!(st.pager_pages_out > 0 && st.pgswapout == 0, "{st:?}");
    s.vm.msync(sp, va, 64 * P, MsyncFlags::SYNC, &mut s.pmap)
        .unwrap();
    for i in 0..64 {
        let p = pager.borrow().page(KEY, i);
        assert_eq!(p[3..8], [0xc0 ^ i as u8; 5], "file page {i}");
        assert_eq!((p[0], p[8]), (i as u8 + 1, i as u8 + 1));
    }
    assert_eq!(protocol_errors(&mut s), 0);
}

#[test]
fn holes_and_failures_reach_the_faulting_client() {
    let (mut s, pager, sp, va) = setup(64, 8, 2, 4);
    pager.borrow_mut().fail_next = Some(PagerError::Io);
    assert_eq!(s.read_u8(sp, va), Err(VmError::Io));
    check(&s);
    assert_eq!(s.read_u8(sp, va).unwrap(), 1, "the next fault reads again");
    pager.borrow_mut().holes.insert(KEY);
    s.vm.msync(sp, va, 4 * P, MsyncFlags::INVALIDATE, &mut s.pmap)
        .unwrap();
    assert_eq!(s.read_u8(sp, va + 3 * P).unwrap(), 0, "a hole");
    pager.borrow_mut().holes.clear();
    s.write(sp, va + 2 * P, b"x").unwrap();
    pager.borrow_mut().fail_next = Some(PagerError::NoSpace);
    assert_eq!(
        s.vm.msync(sp, va, 4 * P, MsyncFlags::SYNC, &mut s.pmap),
        Err(VmError::Io)
    );
    s.vm.msync(sp, va, 4 * P, MsyncFlags::SYNC, &mut s.pmap)
        .unwrap();
    assert_eq!(pager.borrow().page(KEY, 2)[0], b'x');
    check(&s);
}

#[test]
fn a_hung_pager_stalls_its_faults_and_dies_cleanly() {
    let (mut s, pager, sp, va) = setup(64, 8, 2, 8);
    assert_eq!(s.read_u8(sp, va).unwrap(), 1);
    pager.borrow_mut().hold = true;
    assert!(matches!(
        s.vm.fault(sp, va + 6 * P, Access::Read, &mut s.pmap),
        Ok(FaultOutcome::Wait(_))
    ));
    // Anonymous memory of another space is not affected.
    let other = s.vm.space_create(&mut s.pmap).unwrap();
    let vo =
        s.vm.mmap(other, &MmapArgs::anon(2 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.write(other, vo, b"free").unwrap();
    assert_eq!(s.read_u8(other, vo).unwrap(), b'f');
    s.vm.pager_dead(PAGER, &mut s.pmap);
    check(&s);
    assert_eq!(s.read_u8(sp, va), Err(VmError::PagerDead));
    s.vm.exit(sp, &mut s.pmap).unwrap();
    s.vm.exit(other, &mut s.pmap).unwrap();
    check(&s);
    assert_eq!(s.vm.stats().free, 64);
}

#[test]
fn garbage_answers_fail_the_fault_and_count_against_the_pager() {
    let (mut s, pager, sp, va) = setup(64, 8, 1, 4);
    // The pager answers the next page-in twice: once with a result that
    // does not decode, once more as a duplicate.
    pager.borrow_mut().hold = true;
    assert!(matches!(
        s.vm.fault(sp, va, Access::Read, &mut s.pmap),
        Ok(FaultOutcome::Wait(_))
    ));
    {
        let mut p = pager.borrow_mut();
        let Some(Incoming::Request(r)) = p.end.take() else {
            panic!("the page-in is queued")
        };
        p.end.complete(r.tag, Err(PagerError::Busy));
        p.end.complete(r.tag, Ok(Outcome::Supplied));
    }
    pager.borrow_mut().hold = false;
    assert_eq!(s.read_u8(sp, va), Err(VmError::Io), "a malformed answer");
    assert_eq!(protocol_errors(&mut s), 2, "the answer and its duplicate");
    assert_eq!(s.read_u8(sp, va).unwrap(), 1);
    check(&s);
}

#[test]
fn closing_the_object_tells_the_pager() {
    let (mut s, pager, sp, va) = setup(64, 8, 2, 4);
    assert_eq!(s.read_u8(sp, va + P).unwrap(), 2);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    assert_eq!(pager.borrow().closed, vec![KEY]);
    check(&s);
    assert_eq!(s.vm.stats().free, 64);
}
