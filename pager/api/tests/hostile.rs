//! A pager that breaks the protocol hurts only itself: garbage
//! completions, completions for strangers, duplicates, answers of the
//! wrong kind, nonsense indices, requests outside the window and a pager
//! that never answers are reported (or refused with `Busy`), never a
//! panic; and a VM end over a ring page full of random bytes survives.

mod common;

use block_api::ring::{CQ_CONS, CQ_PROD, SQ_CONS, SQ_PROD};
use common::*;
use pager_api::*;
use proptest::prelude::*;

/// Publishes `w` as the pager's next completion, behind the end's back.
fn forge(ring: PagerRing, w: CompletionWire) {
    let prod = ring.peek_index(CQ_PROD);
    ring.write_completion(prod, &w);
    ring.poke_index(CQ_PROD, prod.wrapping_add(1));
}

/// The wire tag of the request in the submission queue at `i`.
fn wire_tag(ring: PagerRing, i: u32) -> u64 {
    ring.read_request(i).tag
}

fn ok(tag: u64, o: Outcome) -> CompletionWire {
    Completion { tag, result: Ok(o) }.encode()
}

#[test]
fn completions_for_strangers_and_duplicates_are_protocol_errors() {
    let (mut vm, _end, ring) = pair(8, 2);
    vm.page_in(1, 0, 2, 10).unwrap();
    let tag = wire_tag(ring, 0);
    forge(ring, ok(tag ^ 0xdead, Outcome::Supplied));
    assert_eq!(
        vm.poll(),
        Some(VmEvent::Protocol(ProtocolError::UnknownTag(tag ^ 0xdead)))
    );
    assert_eq!(vm.in_flight(), 1, "the real request is still in flight");
    forge(ring, ok(tag, Outcome::Zero));
    forge(ring, ok(tag, Outcome::Zero));
    assert!(matches!(
        vm.poll(),
        Some(VmEvent::Done {
            cookie: 10,
            result: Ok(Outcome::Zero),
            ..
        })
    ));
    assert_eq!(
        vm.poll(),
        Some(VmEvent::Protocol(ProtocolError::UnknownTag(tag))),
        "a duplicate"
    );
    assert_eq!(vm.poll(), None);
    assert_eq!(vm.protocol_errors(), 2);
}

#[test]
fn garbage_and_wrong_answers_fail_their_request() {
    let (mut vm, _end, ring) = pair(8, 1);
    let garbage = |tag| {
        [
            CompletionWire {
                tag,
                status: 0,
                error: 0,
                reserved: 0,
            },
            CompletionWire {
                tag,
                status: 99,
                error: 0,
                reserved: 0,
            },
            CompletionWire {
                tag,
                status: STATUS_FAILED,
                error: 77,
                reserved: 0,
            },
            CompletionWire {
                tag,
                status: STATUS_FAILED,
                error: PagerError::Busy.code(),
                reserved: 0,
            },
            CompletionWire {
                tag,
                status: 1,
                error: 3,
                reserved: 0,
            },
            CompletionWire {
                tag,
                status: 1,
                error: 0,
                reserved: 5,
            },
            ok(tag, Outcome::Written),
        ]
    };
    let mut i = 0;
    for (n, w) in garbage(0).into_iter().enumerate() {
        vm.page_in(3, 0, 1, n as u64).unwrap();
        let tag = wire_tag(ring, i);
        i += 1;
        forge(ring, CompletionWire { tag, ..w });
        assert_eq!(
            vm.poll(),
            Some(VmEvent::Done {
                cookie: n as u64,
                slot: 0,
                result: Err(PagerError::MalformedReply)
            }),
            "{w:?}"
        );
    }
    // A write-back answered as a page-in.
    for o in [Outcome::Supplied, Outcome::Zero] {
        vm.write_back(3, 0, 1, 50, |_| {}).unwrap();
        let tag = wire_tag(ring, i);
        i += 1;
        forge(ring, ok(tag, o));
        assert!(matches!(
            vm.poll(),
            Some(VmEvent::Done {
                result: Err(PagerError::MalformedReply),
                ..
            })
        ));
        assert_eq!(vm.held(50), None, "no data held for a write");
    }
    assert_eq!(vm.protocol_errors(), 9);
    assert_eq!(vm.in_flight(), 0);
}

#[test]
fn a_pager_that_never_answers_gets_busy() {
    let (mut vm, end, _) = pair(32, 8);
    let mut p = FilePager::new(end);
    p.hold = true;
    for k in 0..4 {
        vm.page_in(k, 0, 8, k).unwrap();
    }
    assert_eq!(vm.page_in(9, 0, 1, 9), Err(PagerError::Busy));
    assert_eq!(
        vm.write_back(9, 0, 1, 9, |_| panic!("not filled")),
        Err(PagerError::Busy)
    );
    // Closes need only queue entries: they fill the queue, then `Busy`.
    let mut closes = 0;
    while vm.close(closes).is_ok() {
        closes += 1;
    }
    assert_eq!(closes, RING_ENTRIES as u64 - 4);
    assert_eq!(vm.close(99), Err(PagerError::Busy));
    assert_eq!(vm.poll(), None);
    // It wakes up: everything goes through.
    p.hold = false;
    p.serve();
    let mut n = 0;
    while let Some(VmEvent::Done { slot, .. }) = vm.poll() {
        vm.release(slot);
        n += 1;
    }
    assert_eq!(n, 4);
    assert_eq!(p.closed.len() as u64, closes);
    assert!(vm.page_in(9, 0, 1, 9).is_ok());
}

#[test]
fn nonsense_indices_stall_only_the_pager() {
    let (mut vm, _end, ring) = pair(8, 2);
    // The pager claims to have consumed entries never submitted.
    ring.poke_index(SQ_CONS, 1000);
    assert_eq!(vm.page_in(1, 0, 1, 1), Err(PagerError::Busy));
    assert_eq!(vm.close(1), Err(PagerError::Busy));
    ring.poke_index(SQ_CONS, 0);
    vm.page_in(1, 0, 1, 1).unwrap();
    // It publishes completions impossibly far ahead.
    ring.poke_index(CQ_PROD, 5000);
    assert_eq!(vm.poll(), Some(VmEvent::Protocol(ProtocolError::Overrun)));
    assert_eq!(vm.poll(), None);
    assert_eq!(ring.peek_index(CQ_CONS), 5000, "resynchronised");
    assert_eq!(vm.protocol_errors(), 1);
}

#[test]
fn the_pager_end_refuses_what_the_channel_cannot_carry() {
    let (_vm, end, ring) = pair(8, 2);
    let mut p = FilePager::new(end);
    let req = |kind| Request { tag: 5, kind }.encode();
    let bad = [
        // Buffers outside the window.
        req(RequestKind::PageIn {
            key: 1,
            pindex: 0,
            count: 2,
            buf: 7,
        }),
        req(RequestKind::WriteBack {
            key: 1,
            pindex: 0,
            count: 1,
            buf: u64::MAX,
        }),
        // Over the cluster.
        req(RequestKind::PageIn {
            key: 1,
            pindex: 0,
            count: 3,
            buf: 0,
        }),
        // Undecodable.
        RequestWire {
            op: 9,
            tag: 5,
            ..Default::default()
        },
    ];
    for (i, w) in bad.iter().enumerate() {
        ring.poke_request(i as u32, w);
    }
    ring.poke_index(SQ_PROD, bad.len() as u32);
    assert_eq!(p.serve(), 4);
    assert_eq!(
        p.refused,
        vec![
            (5, PagerError::BadBuffer),
            (5, PagerError::BadBuffer),
            (5, PagerError::Malformed),
            (5, PagerError::Malformed),
        ]
    );
    assert_eq!(p.reads + p.writes, 0);
    // A VM end that moves its index impossibly far is resynchronised.
    ring.poke_index(SQ_PROD, 4 + 4000);
    assert_eq!(p.serve(), 0);
    assert_eq!(ring.peek_index(SQ_CONS), 4004);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The pager scribbles random bytes over the whole ring page (indices
    /// and entries) between the VM end's calls.
    #[test]
    fn a_ring_page_of_random_bytes_never_panics_the_vm_end(
        scribbles in prop::collection::vec(
            (prop::collection::vec(any::<u32>(), 4), prop::collection::vec(any::<u64>(), 128)),
            1..6,
        ),
    ) {
        let (mut vm, _end, ring) = pair(8, 2);
        let mut cookie = 0;
        for (idx, words) in scribbles {
            for k in 0..2 {
                cookie += 1;
                let _ = vm.page_in(k, 0, 2, cookie);
                let _ = vm.write_back(k, 0, 1, cookie + 100, |_| {});
                let _ = vm.close(k);
            }
            for (i, off) in [SQ_PROD, SQ_CONS, CQ_PROD, CQ_CONS].into_iter().enumerate() {
                // Mostly near the truth, sometimes anywhere.
                let v = if idx[i] % 3 == 0 { idx[i] } else { ring.peek_index(off).wrapping_add(idx[i] % 5) };
                ring.poke_index(off, v);
            }
            for (i, c) in words.chunks(4).enumerate() {
                let w = CompletionWire { tag: c[0] % 64, status: c[1] % 6, error: c[2] % 10, reserved: c[3] % 2 };
                ring.write_completion(i as u32, &w);
            }
            for _ in 0..3 * RING_ENTRIES {
                match vm.poll() {
                    Some(VmEvent::Done { slot, .. }) => vm.release(slot),
                    Some(VmEvent::Protocol(_)) => {}
                    None => break,
                }
            }
            prop_assert!(vm.in_flight() <= vm.slots());
        }
    }
}
