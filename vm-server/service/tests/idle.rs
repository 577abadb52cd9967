//! The idle thread through the service (`idle.rs`): each call zeroes a batch and is answered while the VM wants more, then sleeps with its reply kept until a message leaves the VM short again; `IdleWait` is answered once that work is done, refused without an idle thread, and dropped with a client that goes; with no slot for a reply, both are answered rather than kept.

use vm_api::{ApiError, MmapRequest, Operation, Prot, PAGE_SIZE};
use vm_core::{Vm, VmConfig};
use vm_service::idle::IDLE_ZERO_BATCH;
use vm_service::{ClientId, ExitStatus, Message, Outcome, Privileges, Service};

mod common;
use common::{client, write_fault, Svc, TestPlatform};

const FRAMES: u32 = 128;
const ONE: ClientId = 1;
const TWO: ClientId = 2;

fn service() -> Svc {
    let vm = Vm::new(VmConfig::default(), FRAMES).unwrap();
    let mut svc = Service::new(vm, TestPlatform::new(FRAMES));
    for id in [ONE, TWO] {
        let space = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
        svc.add_client(id, format!("client-{id}"), space, Privileges::default());
    }
    svc
}

fn idle_wait(svc: &mut Svc, id: ClientId) -> Outcome {
    svc.handle(Message::Request {
        client: id,
        label: Operation::IdleWait.label(),
        words: &[],
    })
}

/// Idle calls until one is not answered; returns how many were.
fn run_idle(svc: &mut Svc) -> u32 {
    let mut answered = 0;
    while let Outcome::Reply(r) = svc.handle(Message::Idle) {
        assert_eq!(r.label, 0);
        answered += 1;
        assert!(answered < 1000, "the idle thread never sleeps");
    }
    answered
}

#[test]
fn idle_wait_without_an_idle_thread_is_not_supported() {
    let mut svc = service();
    match idle_wait(&mut svc, ONE) {
        Outcome::Reply(r) => assert_eq!(r.label, ApiError::NotSupported.code()),
        o => panic!("{o:?}"),
    }
    assert_eq!(
        client(&mut svc, ONE).idle_wait(),
        Err(ApiError::NotSupported)
    );
}

#[test]
fn the_idle_thread_zeroes_in_batches_then_sleeps_until_frames_are_wanted() {
    let mut svc = service();
    svc.set_idle_thread(true);
    let answered = run_idle(&mut svc);
    let st = svc.vm.stats();
    // Batches of IDLE_ZERO_BATCH up to four fifths of the free frames
    // above pageout's highest target.
    let above = st.free - svc.vm.paging_targets().unwrap().target2;
    assert!(st.zeropages * 5 >= above * 4, "{st:?}");
    assert_eq!(answered, st.zeropages.div_ceil(IDLE_ZERO_BATCH) - 1);
    assert!(svc.idle_parked());
    let saved = svc.platform.saved();
    assert!(svc.platform.resumed.is_empty());
    svc.platform.pmap.check_zeroed(&svc.vm).unwrap();
    // Zero-fill faults take pre-zeroed frames; below two thirds of the
    // free frames the idle thread wakes.
    let mut c = client(&mut svc, ONE);
    let pages = 64;
    let base = c
        .mmap(&MmapRequest::anon(pages * PAGE_SIZE, Prot::RW))
        .unwrap();
    c.madvise(base, pages * PAGE_SIZE, vm_api::Advice::Random)
        .unwrap();
    let mut woke_at = None;
    for p in 0..pages {
        write_fault(&mut svc, ONE, base + p * PAGE_SIZE);
        if woke_at.is_none() && svc.platform.resumed.contains(&saved) {
            woke_at = Some(p);
        }
    }
    let st = svc.vm.stats();
    assert_eq!(st.pga_zeromiss, 0, "{st:?}");
    assert_eq!(st.pga_zerohit, pages);
    // Woken exactly once, by the fault that left too few pre-zeroed.
    let woke_at = woke_at.expect("the idle thread woke");
    assert!(woke_at > 0 && woke_at < pages - 1, "{woke_at}");
    assert!(!svc.idle_parked());
    assert_eq!(svc.platform.resumed, [saved]);
    run_idle(&mut svc);
    assert!(svc.idle_parked());
    svc.platform.pmap.check_zeroed(&svc.vm).unwrap();
}

#[test]
fn idle_wait_is_answered_when_the_idle_work_is_done() {
    let mut svc = service();
    svc.set_idle_thread(true);
    // Work to do: the caller waits.
    assert!(matches!(idle_wait(&mut svc, ONE), Outcome::NoReply));
    let waiter = svc.platform.saved();
    assert!(matches!(idle_wait(&mut svc, TWO), Outcome::NoReply));
    let gone = svc.platform.saved();
    // A waiter that goes is dropped, not answered.
    svc.handle(Message::Request {
        client: TWO,
        label: Operation::Exit.label(),
        words: &[0],
    });
    assert_eq!(svc.platform.reaped, [(TWO, ExitStatus::Exited(0))]);
    assert_eq!(svc.platform.dropped, [gone]);
    assert!(svc.platform.resumed.is_empty());
    run_idle(&mut svc);
    assert_eq!(svc.platform.resumed, [waiter]);
    // Nothing left to do: answered at once.
    match idle_wait(&mut svc, ONE) {
        Outcome::Reply(r) => assert_eq!(r.label, 0),
        o => panic!("{o:?}"),
    }
}

/// Each idle call also lets the platform prepare one thing ahead (seL4:
/// a paging structure), one a call; the thread stays up while that
/// finds work, even with no zeroing left; no other message prepares.
#[test]
fn each_idle_call_prepares_one_thing_ahead() {
    let mut svc = service();
    svc.set_idle_thread(true);
    let zeroing_only = run_idle(&mut svc);
    assert!(svc.idle_parked());
    // The same start with more ahead work than the zeroing took calls.
    let mut svc = service();
    svc.set_idle_thread(true);
    svc.platform.ahead_work = zeroing_only + 20;
    let answered = run_idle(&mut svc);
    assert_eq!(
        answered,
        zeroing_only + 20,
        "up until the platform's work is done"
    );
    assert_eq!(
        svc.platform.ahead_calls,
        answered + 1,
        "one a call, the parked one too"
    );
    assert_eq!(svc.platform.ahead_work, 0);
    let calls = svc.platform.ahead_calls;
    assert!(matches!(idle_wait(&mut svc, ONE), Outcome::Reply(_)));
    assert_eq!(svc.platform.ahead_calls, calls, "only idle calls");
}

#[test]
fn a_malformed_idle_wait_is_refused() {
    let mut svc = service();
    svc.set_idle_thread(true);
    match svc.handle(Message::Request {
        client: ONE,
        label: Operation::IdleWait.label(),
        words: &[7],
    }) {
        Outcome::Reply(r) => assert_eq!(r.label, ApiError::MalformedRequest.code()),
        o => panic!("{o:?}"),
    }
    assert_eq!(svc.vm.stats().prezeroed, 0, "no idle work done for it");
    assert_eq!(svc.platform.saved(), 0);
}

/// Only one idle thread sleeps: a second idle call meanwhile (none can
/// come: no client has the idle badge) is answered at once, and the
/// sleeping one's reply is kept, not lost.
#[test]
fn an_idle_call_while_the_idle_thread_sleeps_is_answered() {
    let mut svc = service();
    svc.set_idle_thread(true);
    run_idle(&mut svc);
    assert!(svc.idle_parked());
    let parked = svc.platform.saved();
    match svc.handle(Message::Idle) {
        Outcome::Reply(r) => assert_eq!(r.label, 0),
        o => panic!("{o:?}"),
    }
    assert_eq!(svc.platform.saved(), parked, "no second reply kept");
    assert!(svc.idle_parked());
    assert!(svc.platform.resumed.is_empty() && svc.platform.dropped.is_empty());
}

/// `IdleWait` through `vm_api::dispatch` called directly (no loop to keep
/// a reply): the idle work is done at once, or refused without an idle
/// thread.
#[test]
fn idle_wait_dispatched_directly_does_the_work_at_once() {
    let mut svc = service();
    let mut out = [0u64; vm_api::MAX_WORDS];
    let label = Operation::IdleWait.label();
    let (l, _) = vm_api::dispatch(&mut svc, ONE, label, &[], &mut out);
    assert_eq!(l, ApiError::NotSupported.code());
    assert_eq!(svc.vm.stats().prezeroed, 0);
    svc.set_idle_thread(true);
    assert!(svc.vm.zero_wanted());
    let (l, _) = vm_api::dispatch(&mut svc, ONE, label, &[], &mut out);
    assert_eq!(l, 0);
    assert!(!svc.vm.zero_wanted(), "the work is done");
    assert!(svc.vm.stats().zeropages > 0);
    assert_eq!(svc.platform.saved(), 0, "no reply kept");
}

/// With no slot to keep a reply in, the idle thread is answered instead
/// of sleeping (it calls again and finds no work), and an `IdleWait`
/// that would wait is refused with `OutOfMemory`; nothing is kept, and
/// both work once a slot is free.
#[test]
fn without_a_slot_for_the_reply_idle_calls_are_answered_not_kept() {
    let mut svc = service();
    svc.set_idle_thread(true);
    svc.platform.save_failures = 1;
    match idle_wait(&mut svc, ONE) {
        Outcome::Reply(r) => assert_eq!(r.label, ApiError::OutOfMemory.code()),
        o => panic!("{o:?}"),
    }
    // The idle work, then two more calls: the batch that ends the work
    // and the two after it find no slot, so each is answered.
    svc.platform.save_failures = 3;
    let mut answered = 0;
    while svc.platform.save_failures > 0 {
        match svc.handle(Message::Idle) {
            Outcome::Reply(r) => assert_eq!(r.label, 0),
            o => panic!("{o:?}"),
        }
        assert!(!svc.idle_parked(), "not asleep without its reply");
        answered += 1;
        assert!(answered < 1000, "the idle work never ends");
    }
    assert!(!svc.vm.zero_wanted(), "the work was done meanwhile");
    assert_eq!(svc.platform.saved(), 0, "no reply kept");
    // A slot again: the next call sleeps.
    assert!(matches!(svc.handle(Message::Idle), Outcome::NoReply));
    assert!(svc.idle_parked());
    assert!(svc.platform.resumed.is_empty() && svc.platform.dropped.is_empty());
}
