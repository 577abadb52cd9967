//! Every client's counters through the service (`ClientList`): only for clients the spec grants `observe` (and their forks), each entry the same numbers as that client's own `ClientStats`, pages of nine with the id the rest start at, and malformed requests refused before anything is looked at.

use vm_api::{
    ApiError, ClientSummary, ForkReply, MmapRequest, Operation, Prot, CLIENT_LIST_MAX, PAGE_SIZE,
};
use vm_core::{Vm, VmConfig};
use vm_service::{ClientId, Message, Outcome, Privileges, Service, FIRST_CHILD};

mod common;
use common::{client, write_fault, Svc, TestPlatform};

const FRAMES: u32 = 256;
/// The client the spec grants `observe`, an ordinary one, and the last
/// of the others (3..=LAST).
const OBSERVER: ClientId = 1;
const PLAIN: ClientId = 2;
const LAST: ClientId = 12;

/// A service serving clients `1..=LAST` (`OBSERVER` with `observe`),
/// client `i` named `client-i` with `i` pages touched (so `i` faults).
fn service() -> Svc {
    let vm = Vm::new(VmConfig::default(), FRAMES).unwrap();
    let mut platform = TestPlatform::new(FRAMES);
    platform.requests_wait = false;
    let mut svc = Service::new(vm, platform);
    for id in 1..=LAST {
        let space = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
        let privileges = Privileges {
            observe: id == OBSERVER,
            ..Privileges::default()
        };
        svc.add_client(id, format!("client-{id}"), space, privileges);
        touch(&mut svc, id, id);
    }
    svc
}

/// Maps `pages` fresh pages for `id` (fault-around off) and write-faults
/// each once through the service, as the kernel would send them.
fn touch(svc: &mut Svc, id: ClientId, pages: u64) {
    let mut c = client(svc, id);
    let base = c
        .mmap(&MmapRequest::anon(pages * PAGE_SIZE, Prot::RW))
        .unwrap();
    c.madvise(base, pages * PAGE_SIZE, vm_api::Advice::Random)
        .unwrap();
    for p in 0..pages {
        write_fault(svc, id, base + p * PAGE_SIZE);
    }
}

/// Every client, through the stub's paging.
fn list(svc: &mut Svc, id: ClientId) -> Result<Vec<ClientSummary>, ApiError> {
    let mut out = [ClientSummary::default(); 64];
    let n = client(svc, id).clients(&mut out)?;
    Ok(out[..n].to_vec())
}

/// A client without `observe` is refused, whatever it asks from, and
/// learns nothing; the observer's fork has the privilege and is listed
/// (semantics: observe-privilege).
#[test]
fn only_observers_and_their_forks_list_clients() {
    let mut svc = service();
    for from in [0, PLAIN, LAST + 1, u64::MAX] {
        assert_eq!(
            client(&mut svc, PLAIN).client_list_page(from),
            Err(ApiError::NotPermitted),
            "from {from}"
        );
    }
    assert_eq!(list(&mut svc, LAST), Err(ApiError::NotPermitted));
    // Not a client: not answered at all.
    let out = svc.handle(Message::Request {
        client: 99,
        label: Operation::ClientList.label(),
        words: &[0],
    });
    assert_eq!(out, Outcome::NoReply);
    let child = match client(&mut svc, OBSERVER).fork() {
        Ok(ForkReply::Parent { child }) => child,
        other => panic!("fork: {other:?}"),
    };
    assert_eq!(child, FIRST_CHILD);
    assert!(svc.client(child).unwrap().privileges.observe);
    let seen = list(&mut svc, child).unwrap();
    assert_eq!(seen.len(), LAST as usize + 1);
    assert_eq!(seen.last().unwrap().client, child);
    assert_eq!(seen.last().unwrap().name.as_str(), "client-1+1");
    // The plain client's fork has no more than its parent.
    let plain_child = match client(&mut svc, PLAIN).fork() {
        Ok(ForkReply::Parent { child }) => child,
        other => panic!("fork: {other:?}"),
    };
    assert_eq!(list(&mut svc, plain_child), Err(ApiError::NotPermitted));
}

/// Each entry is that client's own `ClientStats` under the same names,
/// in id order, and moves when the client does.
#[test]
fn entries_are_each_clients_own_counters() {
    let mut svc = service();
    let seen = list(&mut svc, OBSERVER).unwrap();
    let ids: Vec<ClientId> = seen.iter().map(|e| e.client).collect();
    assert_eq!(ids, (1..=LAST).collect::<Vec<_>>());
    for e in &seen {
        let own = client(&mut svc, e.client).client_stats().unwrap();
        assert_eq!(e.name.as_str(), format!("client-{}", e.client));
        assert_eq!(
            (
                e.resident_pages,
                e.wired_pages,
                e.faults,
                e.flt_zero,
                e.flt_cow,
                e.flt_prefault,
                e.pageins,
                e.flt_large
            ),
            (
                own.resident_pages,
                own.wired_pages,
                own.faults,
                own.flt_zero,
                own.flt_cow,
                own.flt_prefault,
                own.pageins,
                own.flt_large
            ),
            "client {}",
            e.client
        );
        // Client `i` touched `i` pages, one write fault each.
        assert_eq!((e.faults, e.flt_zero), (e.client, e.client), "{e:?}");
        assert!(e.resident_pages >= e.client, "{e:?}");
    }
    // Client 5 touches 3 more pages: only its entry moves, by 3 faults.
    touch(&mut svc, 5, 3);
    let again = list(&mut svc, OBSERVER).unwrap();
    for (before, after) in seen.iter().zip(&again) {
        let moved = if before.client == 5 { 3 } else { 0 };
        assert_eq!(after.faults, before.faults + moved, "{after:?}");
    }
}

/// Nine clients a reply; `next` is the first id not listed, given only
/// with a full reply; asking from between or past the ids works.
#[test]
fn pages_hold_nine_and_say_where_the_rest_start() {
    let mut svc = service();
    let mut c = client(&mut svc, OBSERVER);
    let first = c.client_list_page(0).unwrap();
    assert_eq!(first.entries().len(), CLIENT_LIST_MAX);
    assert_eq!(first.next(), Some(CLIENT_LIST_MAX as u64 + 1));
    let rest = c.client_list_page(first.next().unwrap()).unwrap();
    let ids: Vec<ClientId> = rest.entries().iter().map(|e| e.client).collect();
    assert_eq!(ids, (10..=LAST).collect::<Vec<_>>());
    assert_eq!(rest.next(), None);
    // Exactly nine from 4 on: a full reply that ends the list.
    let nine = c.client_list_page(4).unwrap();
    assert_eq!(nine.entries().len(), CLIENT_LIST_MAX);
    assert_eq!((nine.entries()[0].client, nine.next()), (4, None));
    assert!(c.client_list_page(LAST + 1).unwrap().entries().is_empty());
    assert_eq!(c.client_list_page(u64::MAX).unwrap().next(), None);
    // A short `out` gets the first clients.
    let mut few = [ClientSummary::default(); 4];
    assert_eq!(c.clients(&mut few), Ok(4));
    assert_eq!(few[3].client, 4);
}

/// A request of the wrong length is `MalformedRequest`, before the
/// privilege is looked at, and changes nothing.
#[test]
fn malformed_requests_are_refused() {
    let mut svc = service();
    let label = Operation::ClientList.label();
    for (id, words) in [
        (OBSERVER, &[][..]),
        (OBSERVER, &[0, 0][..]),
        (PLAIN, &[][..]),
    ] {
        let before = svc.vm.stats();
        match svc.handle(Message::Request {
            client: id,
            label,
            words,
        }) {
            Outcome::Reply(r) => {
                assert_eq!(r.label, ApiError::MalformedRequest.code());
                assert_eq!(r.len, 0);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(svc.vm.stats(), before);
    }
    assert_eq!(list(&mut svc, OBSERVER).unwrap().len(), LAST as usize);
}

/// A client's fault count is exact while its message came last (its
/// faults are then kept beside the service's state, not in its record)
/// and after another client's, in its own `ClientStats` and in the
/// `ClientList` entries, the lister's own among them; once it has
/// exited, its messages are a stranger's, even right after its own exit.
#[test]
fn fault_counts_are_exact_whichever_client_came_last() {
    let mut svc = service();
    touch(&mut svc, PLAIN, 4);
    let own = |svc: &mut Svc| client(svc, PLAIN).client_stats().unwrap().faults;
    let listed = |svc: &mut Svc| {
        let all = list(svc, OBSERVER).unwrap();
        all.iter().find(|e| e.client == PLAIN).unwrap().faults
    };
    assert_eq!(own(&mut svc), 2 + 4, "asked by itself, its faults last");
    assert_eq!(listed(&mut svc), 6, "asked by another client");
    touch(&mut svc, PLAIN, 1);
    assert_eq!(listed(&mut svc), 7);
    assert_eq!(own(&mut svc), 7);
    // The observer's own entry while its own faults came last.
    touch(&mut svc, OBSERVER, 2);
    let me = list(&mut svc, OBSERVER).unwrap();
    assert_eq!(
        me.iter().find(|e| e.client == OBSERVER).unwrap().faults,
        1 + 2
    );
    let exit = svc.handle(Message::Request {
        client: PLAIN,
        label: Operation::Exit.label(),
        words: &[0],
    });
    assert_eq!(exit, Outcome::NoReply, "an exit is not answered");
    assert!(svc.client(PLAIN).is_none());
    let out = svc.handle(Message::Fault {
        client: PLAIN,
        addr: 0x1000_0000,
        access: vm_core::Access::Write,
        ip: 0,
    });
    assert_eq!(out, Outcome::NoReply);
    assert!(
        svc.platform
            .logged
            .last()
            .unwrap()
            .contains("unknown client"),
        "{:?}",
        svc.platform.logged.last()
    );
    assert!(list(&mut svc, OBSERVER)
        .unwrap()
        .iter()
        .all(|e| e.client != PLAIN));
}
