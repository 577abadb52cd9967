//! The decoders are total: random words never panic, whatever decodes
//! re-encodes to the same entry, well-formed values round-trip, the codes
//! are stable and `check` says exactly when a request fits its channel.

use pager_api::*;
use proptest::prelude::*;

fn any_kind() -> impl Strategy<Value = RequestKind> {
    (
        0u8..3,
        any::<u64>(),
        any::<u64>(),
        1..=MAX_CLUSTER,
        any::<u64>(),
    )
        .prop_map(|(op, key, pindex, count, buf)| {
            let pindex = pindex.min(u64::MAX - count);
            match op {
                0 => RequestKind::PageIn {
                    key,
                    pindex,
                    count,
                    buf,
                },
                1 => RequestKind::WriteBack {
                    key,
                    pindex,
                    count,
                    buf,
                },
                _ => RequestKind::Close { key },
            }
        })
}

fn any_result() -> impl Strategy<Value = Result<Outcome, PagerError>> {
    prop_oneof![
        prop::sample::select(vec![Outcome::Supplied, Outcome::Zero, Outcome::Written]).prop_map(Ok),
        prop::sample::select(
            PagerError::ALL
                .into_iter()
                .filter(|e| e.sent_by_pager())
                .collect::<Vec<_>>()
        )
        .prop_map(Err),
    ]
}

/// Mostly small words, so that random entries often come close to valid.
fn word() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..6, 0u64..=40, any::<u64>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn request_decode_is_total(op in word(), tag in any::<u64>(), key in word(),
                               pindex in word(), count in word(), buf in word(),
                               r0 in prop_oneof![Just(0u64), word()], r1 in prop_oneof![Just(0u64), word()]) {
        let w = RequestWire { op, tag, key, pindex, count, buf, reserved: [r0, r1] };
        match Request::decode(&w) {
            Ok(r) => {
                prop_assert_eq!(r.encode(), w);
                prop_assert_eq!(r.tag, tag);
            }
            Err(e) => prop_assert_eq!(e, PagerError::Malformed),
        }
    }

    #[test]
    fn completion_decode_is_total(tag in any::<u64>(), status in word(), error in word(),
                                  reserved in prop_oneof![Just(0u64), word()]) {
        let w = CompletionWire { tag, status, error, reserved };
        match Completion::decode(&w) {
            Ok(c) => {
                prop_assert_eq!(c.encode(), w);
                if let Err(e) = c.result {
                    prop_assert!(e.sent_by_pager());
                }
            }
            Err(e) => prop_assert_eq!(e, PagerError::MalformedReply),
        }
    }

    #[test]
    fn requests_round_trip(tag in any::<u64>(), kind in any_kind()) {
        let r = Request { tag, kind };
        prop_assert_eq!(Request::decode(&r.encode()), Ok(r));
    }

    #[test]
    fn completions_round_trip(tag in any::<u64>(), result in any_result()) {
        let c = Completion { tag, result };
        prop_assert_eq!(Completion::decode(&c.encode()), Ok(c));
    }

    #[test]
    fn check_is_exactly_the_window_and_the_cluster(kind in any_kind(), buffers in 0u64..80,
                                                   cluster in 1..=MAX_CLUSTER) {
        let r = Request { tag: 1, kind };
        let want = match kind.transfer() {
            None => Ok(()),
            Some((_, count, _)) if count > cluster => Err(PagerError::Malformed),
            Some((_, count, buf)) if buf as u128 + count as u128 <= buffers as u128 => Ok(()),
            Some(_) => Err(PagerError::BadBuffer),
        };
        prop_assert_eq!(r.check(buffers, cluster), want);
    }

    #[test]
    fn entries_of_random_bytes_decode_or_fail(bytes in prop::collection::vec(any::<u8>(), 96)) {
        use zerocopy::FromBytes;
        let (r, rest) = RequestWire::read_from_prefix(&bytes).unwrap();
        let c = CompletionWire::read_from_bytes(&rest[..32]).unwrap();
        let _ = Request::decode(&r);
        let _ = Completion::decode(&c);
    }
}

#[test]
fn numbers_are_stable() {
    let ops = [Operation::PageIn, Operation::WriteBack, Operation::Close];
    assert_eq!(ops.map(|o| o as u64), [1, 2, 3]);
    for o in ops {
        assert_eq!(Operation::from_u64(o as u64), Some(o));
    }
    assert_eq!(Operation::from_u64(0), None);
    assert_eq!(Operation::from_u64(4), None);
    let outs = [Outcome::Supplied, Outcome::Zero, Outcome::Written];
    assert_eq!(outs.map(|o| o as u64), [1, 2, 3]);
    assert_eq!(STATUS_FAILED, 4);
    let codes: Vec<u64> = PagerError::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(codes, (1..=8).collect::<Vec<_>>());
    for e in PagerError::ALL {
        assert_eq!(PagerError::from_code(e.code()), Some(e));
    }
    assert_eq!(PagerError::from_code(0), None);
    assert_eq!(PagerError::from_code(9), None);
}

#[test]
fn outcomes_answer_their_operations_only() {
    use Operation::*;
    use Outcome::*;
    for (o, op, ok) in [
        (Supplied, PageIn, true),
        (Zero, PageIn, true),
        (Written, PageIn, false),
        (Supplied, WriteBack, false),
        (Zero, WriteBack, false),
        (Written, WriteBack, true),
        (Supplied, Close, false),
        (Written, Close, false),
    ] {
        assert_eq!(o.answers(op), ok, "{o:?} for {op:?}");
    }
}

#[test]
fn malformed_requests_are_refused() {
    let ok = RequestWire {
        op: 1,
        tag: 9,
        key: 3,
        pindex: 4,
        count: 2,
        buf: 0,
        reserved: [0; 2],
    };
    assert!(Request::decode(&ok).is_ok());
    let bad = [
        RequestWire { op: 0, ..ok },
        RequestWire { op: 4, ..ok },
        RequestWire { count: 0, ..ok },
        RequestWire {
            count: MAX_CLUSTER + 1,
            ..ok
        },
        RequestWire {
            pindex: u64::MAX,
            ..ok
        },
        RequestWire {
            reserved: [0, 1],
            ..ok
        },
        RequestWire { op: 3, ..ok },
    ];
    for w in bad {
        assert_eq!(Request::decode(&w), Err(PagerError::Malformed), "{w:?}");
    }
    let close = RequestWire {
        op: 3,
        pindex: 0,
        count: 0,
        ..ok
    };
    assert_eq!(
        Request::decode(&close).map(|r| r.kind),
        Ok(RequestKind::Close { key: 3 })
    );
}

#[test]
fn vm_side_errors_are_never_a_pagers_answer() {
    for e in [PagerError::Busy, PagerError::MalformedReply] {
        let w = CompletionWire {
            tag: 1,
            status: STATUS_FAILED,
            error: e.code(),
            reserved: 0,
        };
        assert_eq!(Completion::decode(&w), Err(PagerError::MalformedReply));
    }
}
