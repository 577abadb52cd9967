//! File mappings through the service (docs/pager.md): a pager's badge bound to its channel only by the challenge written into the channel's ring page, `PagerCreate` and its refusals (each changing nothing), and an `msync(SYNC)` whose reply waits for the write-back — answered after the completion, failed with `Io` after a failed write, dropped when its client is stopped.

use vm_api::{ApiError, Handle, MmapRequest, MsyncFlags, Operation, Prot};
use vm_core::ram_pager::RamPager;
use vm_core::{Limits, SpaceId, Vm, VmConfig, PAGE_SIZE};
use vm_service::{ClientId, ExitStatus, Message, Outcome, Privileges, ReplyMsg, Service};

mod common;
use common::{client as as_badge, with_sim, Svc, TestPlatform};

const P: u64 = PAGE_SIZE;
const FRAMES: u32 = 128;
/// The client that maps the file, and the pager's badge (no client has
/// it), and a stranger's.
const CLIENT: ClientId = 4;
const PAGER_BADGE: ClientId = 0x1000;
const STRANGER: ClientId = 0x2000;
/// The channel's pager id and the file's key (its inode number).
const CHANNEL: u32 = 0;
const KEY: u64 = 12;
const FILE_PAGES: u64 = 4;

/// Byte `i` of the file.
fn file_byte(i: u64) -> u8 {
    (i * 7 % 251) as u8
}

/// A service whose VM has pager channel `CHANNEL` (a RAM pager holding
/// the file `KEY`), serving `CLIENT`; no pager attached yet.
fn service() -> (Svc, SpaceId) {
    let mut vm = Vm::new(VmConfig::default(), FRAMES).unwrap();
    let mut pager = RamPager::new(3);
    pager
        .files
        .insert(KEY, (0..FILE_PAGES * P).map(file_byte).collect());
    vm.pager_attach(CHANNEL, Box::new(pager)).unwrap();
    let platform = TestPlatform::new(FRAMES);
    let mut svc = Service::new(vm, platform);
    svc.add_pager_channel(CHANNEL);
    let space = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
    svc.add_client(CLIENT, "client".into(), space, Privileges::default());
    (svc, space)
}

/// The pager attaches: a challenge, written into the ring page, echoed.
fn attach(svc: &mut Svc) {
    let c = as_badge(svc, PAGER_BADGE).pager_challenge().unwrap();
    svc.platform.attach_words.insert(CHANNEL, c);
    as_badge(svc, PAGER_BADGE).pager_attach(c).unwrap();
    assert_eq!(svc.pager_of(PAGER_BADGE), Some(CHANNEL));
}

fn ram(svc: &mut Svc) -> &mut RamPager {
    svc.vm.pager_device_mut::<RamPager>(CHANNEL).unwrap()
}

/// The file mapped shared and read-write in `CLIENT`'s space.
fn map_file(svc: &mut Svc) -> u64 {
    let h = as_badge(svc, PAGER_BADGE)
        .pager_create(KEY, FILE_PAGES * P - 100, CLIENT, Prot::RW)
        .unwrap();
    let req = MmapRequest::object(h, 0, FILE_PAGES * P, Prot::RW);
    as_badge(svc, CLIENT).mmap(&req).unwrap()
}

/// A second client `id` with the file mapped shared and read-only: its
/// space and the mapping's address.
fn read_only_mapper(svc: &mut Svc, id: ClientId) -> (SpaceId, u64) {
    let space = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
    svc.add_client(id, format!("mapper-{id}"), space, Privileges::default());
    let h = as_badge(svc, PAGER_BADGE)
        .pager_create(KEY, FILE_PAGES * P - 100, id, Prot::READ)
        .unwrap();
    let va = as_badge(svc, id)
        .mmap(&MmapRequest::object(h, 0, FILE_PAGES * P, Prot::READ))
        .unwrap();
    (space, va)
}

/// `CLIENT`'s `msync(SYNC)` of the whole mapping as the loop sees it.
fn msync(svc: &mut Svc, va: u64) -> Outcome {
    let words = [va, FILE_PAGES * P, MsyncFlags::SYNC.bits()];
    svc.handle(Message::Request {
        client: CLIENT,
        label: Operation::Msync.label(),
        words: &words,
    })
}

#[test]
fn a_badge_attaches_only_by_the_challenge_in_its_ring_page() {
    let (mut svc, _) = service();
    let create =
        |svc: &mut Svc, badge| as_badge(svc, badge).pager_create(KEY, P, CLIENT, Prot::READ);
    // Not attached: no object for anyone, and a client is no pager.
    assert_eq!(create(&mut svc, PAGER_BADGE), Err(ApiError::NotPermitted));
    assert_eq!(create(&mut svc, CLIENT), Err(ApiError::NotPermitted));
    // Echoing a challenge nobody gave, or one given to another badge.
    assert_eq!(
        as_badge(&mut svc, PAGER_BADGE).pager_attach(0),
        Err(ApiError::NotPermitted)
    );
    let mine = as_badge(&mut svc, PAGER_BADGE).pager_challenge().unwrap();
    let theirs = as_badge(&mut svc, STRANGER).pager_challenge().unwrap();
    assert_ne!(mine, theirs);
    assert_ne!(mine, 0);
    // The ring page does not hold it yet.
    assert_eq!(
        as_badge(&mut svc, PAGER_BADGE).pager_attach(mine),
        Err(ApiError::NotPermitted)
    );
    svc.platform.attach_words.insert(CHANNEL, mine);
    // A stranger cannot write the ring page: its own challenge is not
    // there, and the pager's is not its own.
    for c in [theirs, mine] {
        assert_eq!(
            as_badge(&mut svc, STRANGER).pager_attach(c),
            Err(ApiError::NotPermitted)
        );
    }
    assert_eq!(svc.pager_of(STRANGER), None);
    as_badge(&mut svc, PAGER_BADGE).pager_attach(mine).unwrap();
    assert_eq!(svc.pager_of(PAGER_BADGE), Some(CHANNEL));
    // Once: the challenge is used up, the channel taken.
    assert_eq!(
        as_badge(&mut svc, PAGER_BADGE).pager_attach(mine),
        Err(ApiError::NotPermitted)
    );
    assert_eq!(
        as_badge(&mut svc, STRANGER).pager_challenge(),
        Err(ApiError::NotPermitted),
        "every channel has its pager"
    );
    // Even with the stranger's old challenge in the ring page.
    svc.platform.attach_words.insert(CHANNEL, theirs);
    assert_eq!(
        as_badge(&mut svc, STRANGER).pager_attach(theirs),
        Err(ApiError::NotPermitted),
        "the channel has its pager"
    );
    assert_eq!(svc.pager_of(STRANGER), None);
    assert!(create(&mut svc, PAGER_BADGE).is_ok());
}

#[test]
fn a_server_without_channels_supports_no_pagers() {
    let vm = Vm::new(VmConfig::default(), FRAMES).unwrap();
    let platform = TestPlatform::new(FRAMES);
    let mut svc = Service::new(vm, platform);
    assert_eq!(
        as_badge(&mut svc, PAGER_BADGE).pager_challenge(),
        Err(ApiError::NotSupported)
    );
}

#[test]
fn pager_create_refusals_change_nothing() {
    let (mut svc, space) = service();
    attach(&mut svc);
    let objects = svc.vm.stats().objects;
    let mut pager = as_badge(&mut svc, PAGER_BADGE);
    assert_eq!(
        pager.pager_create(KEY, P, 99, Prot::READ),
        Err(ApiError::BadClient)
    );
    assert_eq!(
        pager.pager_create(KEY, P, CLIENT, Prot::WRITE),
        Err(ApiError::InvalidArgument)
    );
    assert_eq!(
        pager.pager_create(KEY, u64::MAX, CLIENT, Prot::READ),
        Err(ApiError::OutOfRange)
    );
    let ro = pager.pager_create(KEY, 3 * P, CLIENT, Prot::READ).unwrap();
    // The client's handle quota applies.
    let limits = Limits {
        handles: 1,
        ..Limits::default()
    };
    svc.vm
        .set_limits(space, limits, &mut svc.platform.pmap)
        .unwrap();
    assert_eq!(
        as_badge(&mut svc, PAGER_BADGE).pager_create(KEY, P, CLIENT, Prot::RW),
        Err(ApiError::QuotaHandles)
    );
    assert_eq!(svc.vm.stats().objects, objects + 1);
    // A read-only handle maps read-only only.
    let req = |prot| MmapRequest::object(ro, 0, 3 * P, prot);
    assert_eq!(
        as_badge(&mut svc, CLIENT).mmap(&req(Prot::RW)),
        Err(ApiError::Protection)
    );
    let va = as_badge(&mut svc, CLIENT).mmap(&req(Prot::READ)).unwrap();
    let b = with_sim(&mut svc, |s| s.read_u8(space, va + 2 * P + 9).unwrap());
    assert_eq!(
        b,
        file_byte(2 * P + 9),
        "the file's bytes through the mapping"
    );
    // Handles are the client's own, not the pager's.
    assert_eq!(
        as_badge(&mut svc, CLIENT).handle_close(Handle(ro.0 + 1)),
        Err(ApiError::BadHandle)
    );
}

#[test]
fn msync_sync_waits_for_the_write_back_then_answers() {
    let (mut svc, space) = service();
    attach(&mut svc);
    let va = map_file(&mut svc);
    with_sim(&mut svc, |s| s.write(space, va + P + 5, b"synced").unwrap());
    ram(&mut svc).hold = true;
    // semantics: msync-sync — the reply waits; the loop serves others.
    assert_eq!(msync(&mut svc, va), Outcome::NoReply);
    assert_eq!(svc.syncs_waiting(), 1);
    assert_eq!(as_badge(&mut svc, CLIENT).ping(7), Ok(7));
    assert_eq!(svc.handle(Message::SwapSignal), Outcome::NoReply);
    assert_eq!(svc.syncs_waiting(), 1, "the pager has not answered");
    assert!(svc.platform.answered.is_empty());
    assert_eq!(
        ram(&mut svc).page(KEY, 1)[5],
        file_byte(P + 5),
        "not written yet"
    );
    ram(&mut svc).hold = false;
    svc.handle(Message::SwapSignal);
    assert_eq!(svc.syncs_waiting(), 0);
    assert_eq!(svc.platform.answered, vec![(1, 0)]);
    assert_eq!(&ram(&mut svc).page(KEY, 1)[5..11], b"synced");
    // Clean now: a second msync is answered at once.
    assert_eq!(msync(&mut svc, va), Outcome::Reply(ReplyMsg::empty(0)));
}

#[test]
fn msync_sync_after_a_failed_write_answers_io() {
    let (mut svc, space) = service();
    attach(&mut svc);
    let va = map_file(&mut svc);
    with_sim(&mut svc, |s| s.write(space, va + 2 * P, b"lost").unwrap());
    ram(&mut svc).fail_next_write = true;
    // semantics: msync-error
    assert_eq!(msync(&mut svc, va), Outcome::NoReply);
    svc.handle(Message::SwapSignal);
    assert_eq!(svc.syncs_waiting(), 0);
    assert_eq!(svc.platform.answered, vec![(1, ApiError::Io.code())]);
    // The page stayed dirty: the next msync writes it.
    assert_eq!(msync(&mut svc, va), Outcome::NoReply);
    svc.handle(Message::SwapSignal);
    assert_eq!(svc.platform.answered[1], (2, 0));
    assert_eq!(&ram(&mut svc).page(KEY, 2)[..4], b"lost");
}

#[test]
fn a_stopped_client_leaves_no_waiting_msync() {
    let (mut svc, space) = service();
    attach(&mut svc);
    let va = map_file(&mut svc);
    with_sim(&mut svc, |s| s.write(space, va, b"gone").unwrap());
    ram(&mut svc).hold = true;
    assert_eq!(msync(&mut svc, va), Outcome::NoReply);
    svc.kill(CLIENT, "test", ExitStatus::Killed(None));
    assert_eq!(svc.syncs_waiting(), 0);
    assert_eq!(svc.platform.dropped, vec![1]);
    ram(&mut svc).hold = false;
    svc.handle(Message::SwapSignal);
    assert!(svc.platform.answered.is_empty());
}

/// The pager's thread faults (its fault endpoint is the VM server's,
/// with its pager badge): the pager is dead. The msync and the fault
/// waiting on it end with `PagerDead`, a client that mapped the file
/// stops at its next fault on it, and a client that never did goes on.
#[test]
fn a_pager_that_faults_is_dead_and_only_its_mappers_notice() {
    const SECOND: ClientId = 5;
    const BYSTANDER: ClientId = 6;
    let (mut svc, space) = service();
    attach(&mut svc);
    let (second, vb) = read_only_mapper(&mut svc, SECOND);
    let other = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
    svc.add_client(BYSTANDER, "bystander".into(), other, Privileges::default());
    let anon = as_badge(&mut svc, BYSTANDER)
        .mmap(&MmapRequest::anon(4 * P, Prot::RW))
        .unwrap();
    with_sim(&mut svc, |s| s.write(other, anon, b"mine").unwrap());

    let va = map_file(&mut svc);
    // Page 0 is cached; page 1 dirty in the cache.
    with_sim(&mut svc, |s| s.write(space, va + P, b"dirty").unwrap());
    assert_eq!(
        with_sim(&mut svc, |s| s.read_u8(second, vb)),
        Ok(file_byte(0))
    );
    // Page 3 (read ahead) leaves the cache, so a fault on it pages in.
    as_badge(&mut svc, CLIENT)
        .msync(va + 3 * P, P, MsyncFlags::INVALIDATE)
        .unwrap();
    ram(&mut svc).hold = true;
    // CLIENT waits in msync, SECOND in a fault on page 3.
    assert_eq!(msync(&mut svc, va), Outcome::NoReply);
    let fault = |client, addr| Message::Fault {
        client,
        addr,
        access: vm_core::Access::Read,
        ip: 0,
    };
    assert_eq!(svc.handle(fault(SECOND, vb + 3 * P)), Outcome::NoReply);
    assert_eq!((svc.syncs_waiting(), svc.waiting()), (1, 1));

    // semantics: pager-death
    assert_eq!(svc.handle(fault(PAGER_BADGE, 0x1000)), Outcome::NoReply);
    assert_eq!((svc.syncs_waiting(), svc.waiting()), (0, 0));
    assert_eq!(svc.platform.answered, vec![(1, ApiError::PagerDead.code())]);
    assert_eq!(
        svc.platform.reaped,
        vec![(SECOND, ExitStatus::Killed(Some(ApiError::PagerDead)))]
    );
    // CLIENT's cached pages are gone too: its next fault on them stops it.
    assert_eq!(svc.handle(fault(CLIENT, va)), Outcome::NoReply);
    assert_eq!(
        svc.platform.reaped[1],
        (CLIENT, ExitStatus::Killed(Some(ApiError::PagerDead)))
    );
    // The dead pager makes no more objects, and nothing can attach again.
    assert!(as_badge(&mut svc, PAGER_BADGE)
        .pager_create(KEY, P, BYSTANDER, Prot::READ)
        .is_err());
    assert_eq!(
        as_badge(&mut svc, STRANGER).pager_challenge(),
        Err(ApiError::NotPermitted)
    );
    // The bystander is served as ever.
    assert_eq!(with_sim(&mut svc, |s| s.read_u8(other, anon + 3)), Ok(b'e'));
    assert_eq!(as_badge(&mut svc, BYSTANDER).ping(9), Ok(9));
    assert_eq!(svc.platform.reaped.len(), 2);
}

/// mlock of a file range the pager has not supplied does not block the
/// server (the pager may be calling it: docs/pager.md, "Waiting for a
/// pager"): the request waits with its reply kept, the server goes on
/// serving (the pager's own `PagerCreate` included), and the answer
/// comes after the page-in, with the pages wired.
#[test]
fn mlock_of_a_file_range_waits_without_blocking_the_server() {
    const SECOND: ClientId = 5;
    let (mut svc, space) = service();
    attach(&mut svc);
    let (_, vb) = read_only_mapper(&mut svc, SECOND);
    let va = map_file(&mut svc);
    ram(&mut svc).hold = true;
    let mlock = |svc: &mut Svc, client, addr| {
        svc.handle(Message::Request {
            client,
            label: Operation::Mlock.label(),
            words: &[addr, FILE_PAGES * P],
        })
    };
    // A client stopped while its mlock waits leaves nothing behind.
    assert_eq!(mlock(&mut svc, SECOND, vb), Outcome::NoReply);
    assert_eq!(svc.requests_deferred(), 1);
    svc.kill(SECOND, "test", ExitStatus::Killed(None));
    assert_eq!(svc.requests_deferred(), 0);
    assert_eq!(svc.platform.dropped, vec![1]);

    assert_eq!(mlock(&mut svc, CLIENT, va), Outcome::NoReply);
    assert_eq!(svc.requests_deferred(), 1);
    // The pager calls meanwhile and is answered.
    assert!(as_badge(&mut svc, PAGER_BADGE)
        .pager_create(KEY, P, CLIENT, Prot::READ)
        .is_ok());
    svc.handle(Message::SwapSignal);
    assert_eq!(svc.requests_deferred(), 1, "the pager has not answered");
    assert!(svc.platform.answered.is_empty());
    ram(&mut svc).hold = false;
    svc.handle(Message::SwapSignal);
    assert_eq!(svc.requests_deferred(), 0);
    assert_eq!(svc.platform.answered, vec![(2, 0)]);
    assert_eq!(svc.vm.stats().wired, FILE_PAGES as u32);
    assert_eq!(
        with_sim(&mut svc, |s| s.read_u8(space, va + 5)),
        Ok(file_byte(5))
    );
}

#[test]
fn the_challenge_table_is_bounded_and_forgets_the_oldest() {
    let (mut svc, _) = service();
    let first = as_badge(&mut svc, PAGER_BADGE).pager_challenge().unwrap();
    for badge in 0..vm_service::pagers::MAX_CHALLENGES as u64 {
        as_badge(&mut svc, 0x10_0000 + badge)
            .pager_challenge()
            .unwrap();
    }
    // The pager's challenge was the oldest: forgotten, so refused even
    // from its ring page; a new one works.
    svc.platform.attach_words.insert(CHANNEL, first);
    assert_eq!(
        as_badge(&mut svc, PAGER_BADGE).pager_attach(first),
        Err(ApiError::NotPermitted)
    );
    attach(&mut svc);
}

/// A client whose badge has the bound pager's bit in the service's filter
/// of pager badges is still a client: its faults are served.
#[test]
fn a_client_sharing_the_pagers_filter_bit_is_no_pager() {
    let (mut svc, _) = service();
    attach(&mut svc);
    let twin = PAGER_BADGE + 64;
    let space = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
    svc.add_client(twin, "twin".into(), space, Privileges::default());
    assert_eq!(svc.pager_of(twin), None);
    let va = as_badge(&mut svc, twin)
        .mmap(&MmapRequest::anon(P, Prot::RW))
        .unwrap();
    let fault = Message::Fault {
        client: twin,
        addr: va,
        access: vm_core::Access::Write,
        ip: 0,
    };
    assert!(matches!(svc.handle(fault), Outcome::Reply(r) if r.label == 0));
    assert!(svc.platform.reaped.is_empty());
    assert_eq!(svc.pager_of(PAGER_BADGE), Some(CHANNEL));
}

/// A fault whose read completes polls the pagers too: a write-back an
/// msync waits for, completed meanwhile, is taken by that poll, and the
/// msync must then be retried in the same message. Before, only waiting
/// faults were retried there, and an msync (or a deferred request or a
/// launch) waited for a completion already handled, with nothing in
/// flight to wake it.
#[test]
fn a_faults_poll_that_takes_an_msyncs_write_back_retries_the_msync() {
    const SECOND: ClientId = 5;
    const KEY2: u64 = 13;
    let (mut svc, space) = service();
    ram(&mut svc)
        .files
        .insert(KEY2, (0..FILE_PAGES * P).map(file_byte).collect());
    attach(&mut svc);
    let va = map_file(&mut svc);
    let s2 = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
    svc.add_client(SECOND, "second".into(), s2, Privileges::default());
    let h = as_badge(&mut svc, PAGER_BADGE)
        .pager_create(KEY2, FILE_PAGES * P, SECOND, Prot::READ)
        .unwrap();
    let vb = as_badge(&mut svc, SECOND)
        .mmap(&MmapRequest::object(h, 0, FILE_PAGES * P, Prot::READ))
        .unwrap();
    with_sim(&mut svc, |s| s.write(space, va + P + 5, b"synced").unwrap());
    ram(&mut svc).hold = true;
    assert_eq!(msync(&mut svc, va), Outcome::NoReply);
    assert_eq!((svc.syncs_waiting(), svc.waiting()), (1, 0));
    // The pager answers; before its signal is handled, SECOND faults on
    // a page of its own file, whose read completes in the same message.
    ram(&mut svc).hold = false;
    let fault = Message::Fault {
        client: SECOND,
        addr: vb,
        access: vm_core::Access::Read,
        ip: 0,
    };
    assert!(matches!(svc.handle(fault), Outcome::Reply(r) if r.label == 0));
    assert_eq!(svc.syncs_waiting(), 0, "the msync was retried and answered");
    assert_eq!(svc.vm.swap_io_in_flight(), 0);
}
