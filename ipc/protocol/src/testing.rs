//! Property-test helpers (feature `testing`) for any protocol's totality tests: strategies over its operations and labels, and the checks every protocol's decoders, encoders and dispatch must pass, generic over `Protocol`.
//!
//! Each check returns a proptest result, to be used with `?` inside
//! `proptest!` (or unwrapped in a plain test).

use crate::codec::{
    decode_reply, decode_request, encode_reply, encode_request, operation, Protocol,
};
use crate::errors::ErrorCode;
use crate::words::{Fault, MAX_WORDS};
use core::fmt::Debug;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Any operation of `P`.
pub fn operations<P: Protocol>() -> impl Strategy<Value = P> {
    prop::sample::select(P::OPERATIONS.to_vec())
}

/// A label, usually one of `P`'s operations', else any value.
pub fn labels<P: Protocol>() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => operations::<P>().prop_map(P::label),
        1 => any::<u64>(),
    ]
}

/// A message `label`, `words` decodes as a request that re-encodes to
/// exactly the message (the encoding is canonical), or is refused; a
/// refused message with one of `P`'s labels is never refused as an
/// unknown operation.
pub fn check_request<P: Protocol>(label: u64, words: &[u64]) -> Result<(), TestCaseError>
where
    P::Request: Debug,
{
    match decode_request::<P>(label, words) {
        Ok(req) => {
            let mut w = [0u64; MAX_WORDS];
            let (l, n) = encode_request::<P>(&req, &mut w);
            prop_assert_eq!(l, label);
            prop_assert_eq!(&w[..n], words);
        }
        Err(e) if operation::<P>(label).is_ok() => {
            let unknown = P::DecodeError::from(Fault::UnknownOperation { label });
            prop_assert_ne!(P::Error::from(e), P::Error::from(unknown));
        }
        Err(_) => {}
    }
    Ok(())
}

/// A reply to an `op` request (`label`, `words`) decodes as a reply to
/// `op` that re-encodes to the message, or as an error code with no
/// words, or is refused. With `prefix_only` (records that grow by
/// appended fields) the re-encoding need only agree on the words both
/// have.
pub fn check_reply<P: Protocol>(
    op: P,
    label: u64,
    words: &[u64],
    prefix_only: bool,
) -> Result<(), TestCaseError> {
    match decode_reply::<P>(op, label, words) {
        Ok(Ok(rep)) => {
            prop_assert_eq!(label, 0);
            prop_assert_eq!(P::of_reply(&rep), op);
            let mut w = [0u64; MAX_WORDS];
            let (l, n) = encode_reply::<P>(&rep, &mut w);
            prop_assert_eq!(l, 0);
            if prefix_only {
                let k = n.min(words.len());
                prop_assert_eq!(&w[..k], &words[..k]);
            } else {
                prop_assert_eq!(&w[..n], words);
            }
        }
        Ok(Err(e)) => {
            prop_assert_eq!(e.code(), label);
            prop_assert!(words.is_empty());
        }
        Err(_) => {}
    }
    Ok(())
}

/// `req` survives encode then decode unchanged, within one message.
pub fn check_request_round_trip<P: Protocol>(req: &P::Request) -> Result<(), TestCaseError>
where
    P::Request: Debug + PartialEq,
    P::DecodeError: Debug,
{
    let mut w = [0u64; MAX_WORDS];
    let (label, n) = encode_request::<P>(req, &mut w);
    prop_assert_eq!(label, P::of_request(req).label());
    prop_assert!(n <= MAX_WORDS);
    let back = decode_request::<P>(label, &w[..n]);
    prop_assert!(
        matches!(&back, Ok(r) if r == req),
        "{:?} came back as {:?}",
        req,
        back
    );
    Ok(())
}

/// `rep` survives encode then decode unchanged, within one message.
pub fn check_reply_round_trip<P: Protocol>(rep: &P::Reply) -> Result<(), TestCaseError>
where
    P::Reply: Debug + PartialEq,
    P::DecodeError: Debug,
{
    let mut w = [0u64; MAX_WORDS];
    let (label, n) = encode_reply::<P>(rep, &mut w);
    prop_assert_eq!(label, 0);
    prop_assert!(n <= MAX_WORDS);
    let back = decode_reply::<P>(P::of_reply(rep), label, &w[..n]);
    prop_assert!(
        matches!(&back, Ok(Ok(r)) if r == rep),
        "{:?} came back as {:?}",
        rep,
        back
    );
    Ok(())
}

/// `dispatch` (a server's, over some service) answers the message
/// `label`, `words` with a reply that decodes as the answer to its
/// request, or, for a message that does not decode, with its decode
/// error's code and no words; every answer's label is 0 or a known code.
pub fn check_dispatch<P: Protocol>(
    label: u64,
    words: &[u64],
    dispatch: impl FnOnce(u64, &[u64], &mut [u64]) -> (u64, usize),
) -> Result<(), TestCaseError> {
    let mut out = [0u64; MAX_WORDS];
    let (l, n) = dispatch(label, words, &mut out);
    prop_assert!(n <= MAX_WORDS);
    match decode_request::<P>(label, words) {
        Ok(req) => prop_assert!(decode_reply::<P>(P::of_request(&req), l, &out[..n]).is_ok()),
        Err(e) => prop_assert_eq!((l, n), (P::Error::from(e).code(), 0)),
    }
    prop_assert!(l == 0 || P::Error::from_code(l).is_some());
    Ok(())
}

/// `P`'s labels: each names its operation, they rise in table order, and
/// all lie in `lowest..=0xf_ffff` (seL4's 20-bit label field).
///
/// # Panics
/// If one does not.
pub fn check_labels<P: Protocol>(lowest: u64) {
    for (i, op) in P::OPERATIONS.iter().enumerate() {
        assert!(matches!(operation::<P>(op.label()), Ok(o) if o == *op));
        assert!(op.label() >= lowest && op.label() <= 0xf_ffff, "{op:?}");
        if i > 0 {
            assert!(P::OPERATIONS[i - 1].label() < op.label(), "{op:?}");
        }
    }
}

/// The table in a protocol's module docs (`source`, the text of the file
/// holding it) lists every operation in label order: one row starting
/// ``//! | `label` | `Name` `` each.
///
/// # Panics
/// If it does not.
pub fn check_doc_table<P: Protocol>(source: &str) {
    let rows: Vec<&str> = source
        .lines()
        .filter(|l| l.starts_with("//! | `0x"))
        .collect();
    assert_eq!(rows.len(), P::OPERATIONS.len());
    for (row, op) in rows.iter().zip(P::OPERATIONS) {
        let want = format!("//! | `{:#x}` | `{op:?}`", op.label());
        assert!(row.starts_with(&want), "{row} should start with {want}");
    }
}
