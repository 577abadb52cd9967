//! Swap control through the service: device statistics for every client, swapoff and swapon only for the privileged (and their forks), refusals that change nothing, the detached device attached again, faults waiting for swap resumed by a swapoff, and no pageout pass on account of a fault that waits for its own page-in; a fault that cannot keep its reply stops its client; a fault whose client a retried fault stopped meanwhile is not answered; a fault retried after its own page-in, at once or by its completion signal, enters its page alone.

use vm_api::{ApiError, ForkReply, SwapDeviceInfo};
use vm_core::{Access, MmapArgs, Prot, SpaceId, Vm, VmConfig, MINCORE_INCORE, PAGE_SIZE};
use vm_service::{ClientId, ExitStatus, Message, Outcome, Privileges, Service, FIRST_CHILD};
use vm_swap::{Delay, RamDisk, SwapPager};

const P: u64 = PAGE_SIZE;
const FRAMES: u32 = 128;
const SLOTS: u64 = 1024;
/// The privileged client and an ordinary one.
const ADMIN: ClientId = 1;
const PLAIN: ClientId = 2;
const BASE: u64 = 0x1000_0000;

mod common;
use common::{client, with_sim, Svc, TestPlatform};

fn info(svc: &mut Svc, id: ClientId) -> SwapDeviceInfo {
    client(svc, id).swap_info(0).unwrap()
}

/// A service of `FRAMES` frames (swapping to a RAM disk of `SLOTS`
/// slots if `swap`) serving `ADMIN` (with `swapctl`) and `PLAIN`. Its
/// disk holds each completion back for one poll, so a read is still in
/// flight when the fault that started it returns.
fn service(swap: bool) -> (Svc, SpaceId, SpaceId) {
    service_on(swap, Delay::Fixed(1))
}

/// `service`, its disk delaying completions by `delay` (`Delay::None`:
/// a fault finds its read done and is retried at once).
fn service_on(swap: bool, delay: Delay) -> (Svc, SpaceId, SpaceId) {
    let cfg = VmConfig::default();
    let mut vm = Vm::new(cfg, FRAMES).unwrap();
    if swap {
        let mut disk = RamDisk::new(SLOTS, 64);
        disk.set_delay(delay);
        vm.swap_on(Box::new(SwapPager::new(disk, 16))).unwrap();
    }
    let mut platform = TestPlatform::new(FRAMES);
    platform.requests_wait = false;
    let mut svc = Service::new(vm, platform);
    let a = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
    let b = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
    let admin = Privileges {
        swapctl: true,
        ..Privileges::default()
    };
    svc.add_client(ADMIN, "admin".into(), a, admin);
    svc.add_client(PLAIN, "plain".into(), b, Privileges::default());
    (svc, a, b)
}

fn word(page: u64, tag: u8) -> [u8; 8] {
    (page.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(tag)).to_le_bytes()
}

/// Maps `pages` at `va` in `sp` and writes a pattern into each.
fn fill(svc: &mut Svc, sp: SpaceId, va: u64, pages: u64, tag: u8) {
    with_sim(svc, |s| {
        s.vm.mmap(
            sp,
            &MmapArgs::anon(pages * P, Prot::RW).fixed(va),
            &mut s.pmap,
        )
        .unwrap();
        for p in 0..pages {
            s.write(sp, va + p * P + 8, &word(p, tag)).unwrap();
        }
    });
}

/// Every page of what `fill` wrote is intact.
fn verify(svc: &mut Svc, sp: SpaceId, va: u64, pages: u64, tag: u8) {
    with_sim(svc, |s| {
        for p in 0..pages {
            let mut b = [0u8; 8];
            s.read(sp, va + p * P + 8, &mut b).unwrap();
            assert_eq!(b, word(p, tag), "page {p}");
            assert_eq!(s.read_u8(sp, va + p * P).unwrap(), 0);
        }
        s.check().unwrap();
    });
}

/// Device statistics are open to every client; an index with no device
/// is `NoSuchDevice` (semantics: swapctl-info).
#[test]
fn info_is_open_to_every_client() {
    let (mut svc, a, _) = service(true);
    fill(&mut svc, a, BASE, 2 * FRAMES as u64, 1);
    let i = info(&mut svc, PLAIN);
    assert!(i.attached, "{i:?}");
    assert_eq!((i.device, i.slots, i.bad), (0, SLOTS, 0));
    assert!(
        i.in_use > 0 && i.pgswapout >= i.in_use && i.pageouts > 0,
        "{i:?}"
    );
    assert_eq!(i, info(&mut svc, ADMIN));
    assert_eq!(
        client(&mut svc, PLAIN).swap_info(1),
        Err(ApiError::NoSuchDevice)
    );
    // Not a client: not answered at all.
    let words = [0u64];
    let label = vm_api::Operation::SwapInfo.label();
    let out = svc.handle(Message::Request {
        client: 99,
        label,
        words: &words,
    });
    assert_eq!(out, Outcome::NoReply);
}

/// A client without `swapctl` is refused with `NotPermitted` before
/// anything else is looked at, and nothing changes; a fork of the
/// privileged client has its privilege (semantics: swapctl-privilege).
#[test]
fn only_the_privileged_and_their_forks_switch_swap() {
    let (mut svc, a, b) = service(true);
    fill(&mut svc, a, BASE, FRAMES as u64 / 2, 2);
    fill(&mut svc, b, BASE, FRAMES as u64, 3);
    let before = (info(&mut svc, PLAIN), svc.vm.stats());
    let mut c = client(&mut svc, PLAIN);
    assert_eq!(c.swap_off(0), Err(ApiError::NotPermitted));
    assert_eq!(c.swap_on(0), Err(ApiError::NotPermitted));
    assert_eq!(
        c.swap_off(7),
        Err(ApiError::NotPermitted),
        "no device probe"
    );
    assert_eq!((info(&mut svc, PLAIN), svc.vm.stats()), before);
    verify(&mut svc, b, BASE, FRAMES as u64, 3);
    // The admin's fork inherits the privilege.
    let child = match client(&mut svc, ADMIN).fork() {
        Ok(ForkReply::Parent { child }) => child,
        other => panic!("fork: {other:?}"),
    };
    assert_eq!(child, FIRST_CHILD);
    assert!(svc.client(child).unwrap().privileges.swapctl);
    // Everything fits once the plain client's memory is gone.
    with_sim(&mut svc, |s| {
        s.vm.munmap(b, BASE, FRAMES as u64 * P, &mut s.pmap)
            .unwrap()
    });
    assert_eq!(client(&mut svc, child).swap_off(0), Ok(()));
    assert!(!info(&mut svc, PLAIN).attached);
    assert_eq!(
        client(&mut svc, PLAIN).swap_on(0),
        Err(ApiError::NotPermitted)
    );
    assert!(!info(&mut svc, PLAIN).attached);
    assert_eq!(client(&mut svc, ADMIN).swap_on(0), Ok(()));
    verify(&mut svc, a, BASE, FRAMES as u64 / 2, 2);
}

/// More on swap than memory can hold: `OutOfMemory`, the device stays
/// attached and every page where it was (semantics: swapctl-off-nomem).
#[test]
fn swapoff_without_room_changes_nothing() {
    let (mut svc, a, _) = service(true);
    let pages = FRAMES as u64 * 3 / 2;
    fill(&mut svc, a, BASE, pages, 4);
    let before = info(&mut svc, ADMIN);
    let stats = svc.vm.stats();
    assert_eq!(
        client(&mut svc, ADMIN).swap_off(0),
        Err(ApiError::OutOfMemory)
    );
    assert_eq!(info(&mut svc, ADMIN), before);
    let after = svc.vm.stats();
    assert_eq!(
        (after.swpginuse, after.pgswapin, after.free),
        (stats.swpginuse, stats.pgswapin, stats.free),
        "nothing read in"
    );
    verify(&mut svc, a, BASE, pages, 4);
}

/// Swapoff brings every page in and detaches the device, which reports
/// itself detached and empty; the second swapoff and a second swapon are
/// refused; swapon attaches the same device, and memory pages out to it
/// again (semantics: swapctl-off, swapctl-state, swapctl-on).
#[test]
fn swapoff_then_swapon_round_trip() {
    let (mut svc, a, _) = service(true);
    let pages = FRAMES as u64 * 3 / 2;
    fill(&mut svc, a, BASE, pages, 5);
    let before = info(&mut svc, ADMIN);
    with_sim(&mut svc, |s| {
        s.vm.munmap(a, BASE + 32 * P, (pages - 32) * P, &mut s.pmap)
            .unwrap()
    });
    let mut c = client(&mut svc, ADMIN);
    assert_eq!(c.swap_on(0), Err(ApiError::AlreadyOn));
    assert_eq!(c.swap_off(0), Ok(()));
    assert_eq!(c.swap_off(0), Err(ApiError::AlreadyOff));
    assert_eq!(c.swap_off(1), Err(ApiError::NoSuchDevice));
    let off = c.swap_info(0).unwrap();
    assert!(!off.attached && off.in_use == 0, "{off:?}");
    assert_eq!((off.slots, off.pgswapout), (SLOTS, before.pgswapout));
    assert!(off.pgswapin > before.pgswapin, "the pages were read in");
    assert!(svc.vm.swap().is_none());
    verify(&mut svc, a, BASE, 32, 5);
    let mut c = client(&mut svc, ADMIN);
    assert_eq!(c.swap_on(0), Ok(()));
    assert_eq!(c.swap_on(0), Err(ApiError::AlreadyOn));
    // Touch memory again until pages are on swap again.
    fill(&mut svc, a, BASE + 0x100_0000, FRAMES as u64, 6);
    let on = info(&mut svc, ADMIN);
    assert!(on.attached && on.in_use > 0, "{on:?}");
    assert!(on.pgswapout > off.pgswapout, "counters go on: {on:?}");
    verify(&mut svc, a, BASE, 32, 5);
    verify(&mut svc, a, BASE + 0x100_0000, FRAMES as u64, 6);
}

/// `PLAIN`'s read fault at `BASE`.
fn plain_read_fault(svc: &mut Svc) -> Outcome {
    svc.handle(Message::Fault {
        client: PLAIN,
        addr: BASE,
        access: Access::Read,
        ip: 0,
    })
}

/// `PLAIN`'s read fault at `BASE`, whose page is on swap: it waits for
/// its page-in.
fn plain_fault_waits_for_its_page_in(svc: &mut Svc) {
    assert_eq!(plain_read_fault(svc), Outcome::NoReply);
    assert_eq!(svc.waiting(), 1, "the fault waits for its page-in");
}

/// A fault waiting for a page-in when swapoff runs is resumed after it
/// (the swapoff drained the read and brought the page in).
#[test]
fn swapoff_resumes_faults_waiting_for_swap() {
    let (mut svc, a, b) = service(true);
    fill(&mut svc, b, BASE, 32, 7);
    fill(&mut svc, a, BASE, FRAMES as u64, 8);
    assert!(svc.vm.space(b).is_some());
    // The plain client's first page is on swap by now.
    plain_fault_waits_for_its_page_in(&mut svc);
    with_sim(&mut svc, |s| {
        s.vm.munmap(a, BASE, FRAMES as u64 * P, &mut s.pmap)
            .unwrap()
    });
    assert_eq!(client(&mut svc, ADMIN).swap_off(0), Ok(()));
    assert_eq!(svc.waiting(), 0);
    assert_eq!(svc.platform.resumed, vec![1], "the waiting fault resumed");
    verify(&mut svc, b, BASE, 32, 7);
}

/// A read error stops swapoff with `Io`; the device stays attached and
/// the next swapoff succeeds (semantics: swapctl-off).
#[test]
fn swapoff_read_error_keeps_the_device() {
    let (mut svc, a, _) = service(true);
    fill(&mut svc, a, BASE, FRAMES as u64, 9);
    with_sim(&mut svc, |s| {
        s.vm.munmap(a, BASE + 16 * P, (FRAMES as u64 - 16) * P, &mut s.pmap)
            .unwrap()
    });
    svc.vm
        .swap_device_mut::<RamDisk>()
        .unwrap()
        .fail_next_reads(1);
    assert_eq!(client(&mut svc, ADMIN).swap_off(0), Err(ApiError::Io));
    assert!(info(&mut svc, ADMIN).attached);
    assert_eq!(client(&mut svc, ADMIN).swap_off(0), Ok(()));
    verify(&mut svc, a, BASE, 16, 9);
}

/// A server that never had swap has no device 0.
#[test]
fn no_device_without_swap() {
    let (mut svc, _, _) = service(false);
    let mut c = client(&mut svc, ADMIN);
    assert_eq!(c.swap_info(0), Err(ApiError::NoSuchDevice));
    assert_eq!(c.swap_off(0), Err(ApiError::NoSuchDevice));
    assert_eq!(c.swap_on(0), Err(ApiError::NoSuchDevice));
    assert_eq!(
        client(&mut svc, PLAIN).swap_on(0),
        Err(ApiError::NotPermitted)
    );
}

/// A fault waiting for its own page-in has its frame already: while its
/// read is in flight, messages run no pageout pass unless memory is short
/// (a fault waiting for memory would make each aim at the higher target).
#[test]
fn a_fault_waiting_for_its_page_in_runs_no_pageout_pass() {
    let (mut svc, a, b) = service(true);
    fill(&mut svc, b, BASE, 32, 7);
    fill(&mut svc, a, BASE, FRAMES as u64, 8);
    let memory_waits = svc.vm.memory_waits();
    plain_fault_waits_for_its_page_in(&mut svc);
    assert_eq!(svc.vm.memory_waits(), memory_waits, "not for memory");
    let st = svc.vm.stats();
    assert_eq!(svc.vm.pageout_shortage(false), 0, "not short: {st:?}");
    assert!(
        svc.vm.pageout_shortage(true) > 0,
        "a memory wait would aim higher"
    );
    info(&mut svc, PLAIN);
    assert_eq!(svc.vm.stats().pdwoke, st.pdwoke, "no pass");
    // The read completes; the fault is resumed and the page is intact.
    svc.vm.swap_drain(&mut svc.platform.pmap);
    assert_eq!(svc.handle(Message::SwapSignal), Outcome::NoReply);
    assert_eq!(svc.waiting(), 0);
    verify(&mut svc, b, BASE, 32, 7);
}

/// A fault whose read the disk has finished by the time the fault
/// returns (the block server polling at a higher priority does that) is
/// retried at once and answered in its own message: no reply saved, no
/// waiter, no second message.
#[test]
fn a_read_done_at_once_is_answered_in_the_faults_own_message() {
    let (mut svc, a, b) = service_on(true, Delay::None);
    fill(&mut svc, b, BASE, 32, 7);
    fill(&mut svc, a, BASE, FRAMES as u64, 8);
    let before = svc.vm.stats();
    let out = plain_read_fault(&mut svc);
    assert!(matches!(out, Outcome::Reply(_)), "{out:?}");
    let after = svc.vm.stats();
    assert_eq!(after.pageins, before.pageins + 1, "it read");
    assert_eq!(after.flt_wait, before.flt_wait + 1, "it was told to wait");
    assert_eq!(svc.waiting(), 0);
    assert_eq!(svc.platform.saved(), 0, "no reply saved");
    assert_eq!(svc.platform.signals_cleared, 1, "no second message");
    // A signal that came anyway finds nothing to do.
    assert_eq!(svc.handle(Message::SwapSignal), Outcome::NoReply);
    assert!(svc.platform.resumed.is_empty());
    verify(&mut svc, b, BASE, 32, 7);
}

/// A fault that must wait for its page-in but finds no slot to keep its
/// reply in cannot be answered later: its client is stopped with
/// `OutOfMemory`. The read it started completes with no one waiting,
/// and the other client's pages are intact.
#[test]
fn a_fault_that_cannot_keep_its_reply_stops_its_client() {
    let (mut svc, a, b) = service(true);
    fill(&mut svc, b, BASE, 32, 7);
    fill(&mut svc, a, BASE, FRAMES as u64, 8);
    svc.platform.save_failures = 1;
    assert_eq!(plain_read_fault(&mut svc), Outcome::NoReply);
    assert_eq!(svc.waiting(), 0, "nothing kept");
    assert_eq!(
        svc.platform.reaped,
        [(PLAIN, ExitStatus::Killed(Some(ApiError::OutOfMemory)))]
    );
    svc.vm.swap_drain(&mut svc.platform.pmap);
    assert_eq!(svc.handle(Message::SwapSignal), Outcome::NoReply);
    assert!(svc.platform.resumed.is_empty() && svc.platform.dropped.is_empty());
    verify(&mut svc, a, BASE, FRAMES as u64, 8);
}

/// A client with two faults at once (two threads): the first waits for a
/// page-in that fails; the second's own read is still in flight when it
/// finds the first's done, retries the first, which stops the client,
/// and so ends unanswered too (`Retry::Stopped`), with no reply kept for
/// it; the first fault's reply is dropped, the second's read completes
/// with no one waiting, and the other client's pages are intact.
#[test]
fn a_fault_whose_client_a_retried_fault_stops_is_not_answered() {
    // Completions held back two polls: the first read is done at the
    // second fault's first poll, the second read after that fault.
    let (mut svc, a, b) = service_on(true, Delay::Fixed(2));
    fill(&mut svc, b, BASE, 32, 7);
    fill(&mut svc, a, BASE, FRAMES as u64, 8);
    svc.vm
        .swap_device_mut::<RamDisk>()
        .unwrap()
        .fail_next_reads(1);
    plain_fault_waits_for_its_page_in(&mut svc);
    // A completion signal between the faults: the first read's second
    // poll; it is not done yet and its fault waits on.
    assert_eq!(svc.handle(Message::SwapSignal), Outcome::NoReply);
    assert_eq!(svc.waiting(), 1);
    // Beyond the first read's window (7 behind, 8 ahead): a read of its own.
    let out = svc.handle(Message::Fault {
        client: PLAIN,
        addr: BASE + 20 * P,
        access: Access::Read,
        ip: 0,
    });
    assert_eq!(out, Outcome::NoReply);
    assert_eq!(
        svc.platform.reaped,
        [(PLAIN, ExitStatus::Killed(Some(ApiError::Io)))]
    );
    assert_eq!(svc.waiting(), 0, "nothing kept");
    assert_eq!(svc.platform.saved(), 1, "only the first fault's reply");
    assert_eq!(svc.platform.dropped, [1], "the first fault's reply dropped");
    assert!(svc.platform.resumed.is_empty());
    svc.vm.swap_drain(&mut svc.platform.pmap);
    assert_eq!(svc.handle(Message::SwapSignal), Outcome::NoReply);
    assert!(
        svc.vm.space(b).is_none(),
        "the stopped client's space is gone"
    );
    verify(&mut svc, a, BASE, FRAMES as u64, 8);
}

/// `PLAIN`'s 32 pages at `BASE`, some resident and unmapped, the rest on
/// swap; returns the first page on swap after a run of three resident
/// ones (none of them marked read-ahead), which fault-around would enter.
fn resident_run_before_a_page_on_swap(svc: &mut Svc, a: SpaceId, b: SpaceId) -> u64 {
    fill(svc, b, BASE, 32, 7);
    fill(svc, a, BASE, FRAMES as u64, 8);
    // Room again; some of `PLAIN`'s pages back in, each entered by a
    // fault (so none is marked read-ahead), then all unmapped.
    with_sim(svc, |s| {
        s.vm.munmap(a, BASE, FRAMES as u64 * P, &mut s.pmap)
            .unwrap();
        for p in 8..12 {
            s.read_u8(b, BASE + p * P).unwrap();
        }
    });
    for _ in 0..4 {
        for p in 0..32 {
            if resident(svc, b, p) {
                with_sim(svc, |s| s.read_u8(b, BASE + p * P).unwrap());
            }
        }
    }
    with_sim(svc, |s| {
        s.vm.mprotect(b, BASE, 32 * P, Prot::NONE, &mut s.pmap)
            .unwrap();
        s.vm.mprotect(b, BASE, 32 * P, Prot::RW, &mut s.pmap)
            .unwrap();
    });
    (3..32)
        .find(|&p| !resident(svc, b, p) && (p - 3..p).all(|q| resident(svc, b, q)))
        .expect("a page on swap after three resident ones")
}

/// Page `p` of `sp`'s region at `BASE` is resident.
fn resident(svc: &mut Svc, sp: SpaceId, p: u64) -> bool {
    with_sim(svc, |s| {
        s.vm.mincore(sp, BASE + p * P, P).unwrap()[0] & MINCORE_INCORE != 0
    })
}

/// Page `p` of `sp`'s region at `BASE` is mapped.
fn mapped(svc: &Svc, sp: SpaceId, p: u64) -> bool {
    svc.platform.pmap.lookup(sp, BASE + p * P).is_some()
}

/// `PLAIN`'s read fault on page `p` at `BASE`.
fn plain_read_fault_on(svc: &mut Svc, p: u64) -> Outcome {
    svc.handle(Message::Fault {
        client: PLAIN,
        addr: BASE + p * P,
        access: Access::Read,
        ip: 0,
    })
}

/// A fault retried after its own page-in (`Vm::refault`) enters its page
/// alone unless the touch is in order: resident neighbours that
/// fault-around would enter stay unmapped for their own faults. Here the
/// read is done when the fault returns (`Service::retry_if_done`).
#[test]
fn a_fault_retried_after_its_page_in_enters_its_page_alone() {
    let (mut svc, a, b) = service_on(true, Delay::None);
    let f = resident_run_before_a_page_on_swap(&mut svc, a, b);
    let out = plain_read_fault_on(&mut svc, f);
    assert!(matches!(out, Outcome::Reply(_)), "read at once: {out:?}");
    assert!(mapped(&svc, b, f));
    for p in f - 3..f {
        assert!(!mapped(&svc, b, p), "page {p} waits for its own fault");
    }
    verify(&mut svc, b, BASE, 32, 7);
}

/// The same when the read completes after the fault's message and the
/// fault waited for it: its completion signal retries it
/// (`Service::retry_waiters`) with `Vm::refault` too.
#[test]
fn a_waiting_fault_retried_after_its_page_in_enters_its_page_alone() {
    let (mut svc, a, b) = service(true);
    let f = resident_run_before_a_page_on_swap(&mut svc, a, b);
    assert_eq!(plain_read_fault_on(&mut svc, f), Outcome::NoReply);
    assert_eq!(svc.waiting(), 1, "the fault waits for its page-in");
    svc.vm.swap_drain(&mut svc.platform.pmap);
    assert_eq!(svc.handle(Message::SwapSignal), Outcome::NoReply);
    assert_eq!(svc.waiting(), 0);
    assert_eq!(svc.platform.resumed, vec![1], "the waiting fault resumed");
    assert!(mapped(&svc, b, f));
    for p in f - 3..f {
        assert!(!mapped(&svc, b, p), "page {p} waits for its own fault");
    }
    verify(&mut svc, b, BASE, 32, 7);
}
