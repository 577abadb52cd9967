//! Every request and reply survives encode then decode unchanged, within one message.

mod common;

use common::*;
use proptest::prelude::*;
use vm_api::*;
use vm_api::{ClientStats, VmStats};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn request_round_trip(req in request()) {
        let mut w = [0u64; MAX_WORDS];
        let (label, len) = req.encode(&mut w);
        prop_assert_eq!(label, req.operation().label());
        prop_assert!(len <= MAX_WORDS);
        prop_assert_eq!(Request::decode(label, &w[..len]), Ok(req));
    }

    #[test]
    fn reply_round_trip(rep in reply()) {
        let mut w = [0u64; MAX_WORDS];
        let (label, len) = rep.encode(&mut w);
        prop_assert_eq!(label, 0);
        prop_assert!(len <= MAX_WORDS);
        prop_assert_eq!(Reply::decode(rep.operation(), label, &w[..len]), Ok(Ok(rep)));
    }

    #[test]
    fn error_reply_round_trip(op in operation(), e in api_error()) {
        let mut w = [0u64; MAX_WORDS];
        let (label, len) = Reply::encode_result(&Err(e), &mut w);
        prop_assert_eq!((label, len), (e.code(), 0));
        prop_assert_eq!(Reply::decode(op, label, &[]), Ok(Err(e)));
    }

    /// Every strict prefix of a request is rejected as truncated, and one
    /// extra word as too long.
    #[test]
    fn truncated_and_padded_requests_rejected(req in request(), extra in any::<u64>()) {
        let mut w = [0u64; MAX_WORDS + 1];
        let (label, len) = req.encode(&mut w);
        for cut in 0..len {
            let is_truncated = matches!(
                Request::decode(label, &w[..cut]),
                Err(DecodeError::Truncated { expected, got }) if expected == len && got == cut
            );
            prop_assert!(is_truncated);
        }
        w[len] = extra;
        let is_too_long = matches!(
            Request::decode(label, &w[..len + 1]),
            Err(DecodeError::TooLong { .. })
        );
        prop_assert!(is_too_long);
    }

    /// Every strict prefix of a reply is rejected.
    #[test]
    fn truncated_replies_rejected(rep in reply()) {
        let mut w = [0u64; MAX_WORDS];
        let (label, len) = rep.encode(&mut w);
        // Statistics records decode from any version's length on.
        let shortest = match rep {
            Reply::Stats(_) => VmStats::MIN_WORDS,
            Reply::ClientStats(_) => ClientStats::MIN_WORDS,
            _ => len,
        };
        for cut in 0..shortest {
            prop_assert!(Reply::decode(rep.operation(), label, &w[..cut]).is_err());
        }
    }
}
