//! The decoders are total: random labels and word vectors never panic, and whatever decodes re-encodes to the same message.

mod common;

use common::*;
use ipc_protocol::testing;
use proptest::prelude::*;
use vm_api::*;

/// A service that succeeds with fixed answers, for driving `dispatch`.
struct Ok_;

impl VmService for Ok_ {
    fn stats(&mut self, _: u64) -> Result<VmStats, ApiError> {
        Ok(VmStats::default())
    }
    fn client_stats(&mut self, client: u64) -> Result<ClientStats, ApiError> {
        Ok(ClientStats {
            client,
            ..Default::default()
        })
    }
    fn client_list(
        &mut self,
        client: u64,
        r: ClientListRequest,
    ) -> Result<ClientListReply, ApiError> {
        // One entry, the caller, when it is at or above `from`.
        let mut list = ClientListReply::new();
        if client >= r.from {
            list.push(ClientSummary {
                client,
                name: ClientName::truncated("ok"),
                ..Default::default()
            });
        }
        Ok(list)
    }
    fn mmap(&mut self, _: u64, r: MmapRequest) -> Result<MmapReply, ApiError> {
        Ok(MmapReply { addr: r.addr })
    }
    fn munmap(&mut self, _: u64, _: RangeRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn mprotect(&mut self, _: u64, _: MprotectRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn minherit(&mut self, _: u64, _: MinheritRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn madvise(&mut self, _: u64, _: MadviseRequest) -> Result<(), ApiError> {
        Err(ApiError::InvalidArgument)
    }
    fn msync(&mut self, _: u64, _: MsyncRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn mincore(&mut self, _: u64, r: RangeRequest) -> Result<MincoreReply, ApiError> {
        let n = (r.len / PAGE_SIZE).min(MINCORE_MAX_PAGES as u64) as usize;
        Ok(MincoreReply::from_bytes(
            &[Mincore::INCORE.bits(); MINCORE_MAX_PAGES][..n],
        ))
    }
    fn mlock(&mut self, _: u64, _: RangeRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn munlock(&mut self, _: u64, _: RangeRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn shm_create(&mut self, _: u64, _: ShmCreateRequest) -> Result<HandleReply, ApiError> {
        Ok(HandleReply { handle: Handle(1) })
    }
    fn shm_open(&mut self, _: u64, _: ShmOpenRequest) -> Result<HandleReply, ApiError> {
        Err(ApiError::NoSuchName)
    }
    fn shm_unlink(&mut self, _: u64, _: ShmUnlinkRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn shm_truncate(&mut self, _: u64, _: ShmTruncateRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn handle_close(&mut self, _: u64, _: HandleCloseRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn handle_share(&mut self, _: u64, r: HandleShareRequest) -> Result<HandleReply, ApiError> {
        Ok(HandleReply { handle: r.handle })
    }
    fn handle_accept(&mut self, _: u64, _: HandleAcceptRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn fork(&mut self, client: u64) -> Result<ForkReply, ApiError> {
        Ok(ForkReply::Parent { child: client + 1 })
    }
    fn exit(&mut self, _: u64, _: ExitRequest) -> Result<(), ApiError> {
        Ok(())
    }
    fn swap_info(&mut self, _: u64, r: SwapDeviceRequest) -> Result<SwapDeviceInfo, ApiError> {
        Ok(SwapDeviceInfo {
            device: r.device,
            attached: r.device.is_multiple_of(2),
            ..Default::default()
        })
    }
    fn swap_off(&mut self, _: u64, _: SwapDeviceRequest) -> Result<(), ApiError> {
        Err(ApiError::NotPermitted)
    }
    fn swap_on(&mut self, _: u64, _: SwapDeviceRequest) -> Result<(), ApiError> {
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Request decoding never panics; a decoded request re-encodes to
    /// exactly the message (the encoding is canonical).
    #[test]
    fn request_decoder_is_total(label in label(), words in words()) {
        testing::check_request::<Operation>(label, &words)?;
    }

    /// A valid request with one word changed (or cut or extended) still
    /// decodes or is refused, never panics, and stays canonical.
    #[test]
    fn mutated_requests(req in request(), at in any::<prop::sample::Index>(), v in word(), cut in any::<bool>()) {
        let mut w = [0u64; MAX_WORDS + 1];
        let (label, len) = req.encode(&mut w);
        let msg = if len == 0 {
            &w[..usize::from(cut)]
        } else if cut {
            &w[..at.index(len)]
        } else {
            w[at.index(len)] = v;
            &w[..len]
        };
        testing::check_request::<Operation>(label, msg)?;
    }

    /// A valid reply with one word changed decodes or is refused, never panics.
    #[test]
    fn mutated_replies(rep in reply(), at in any::<prop::sample::Index>(), v in word()) {
        let mut w = [0u64; MAX_WORDS];
        let (label, len) = rep.encode(&mut w);
        if len > 0 {
            w[at.index(len)] = v;
        }
        testing::check_reply(rep.operation(), label, &w[..len], false)?;
    }

    /// Reply decoding never panics; a decoded reply re-encodes to the
    /// message (for the versioned statistics, to its first `WORDS` words).
    #[test]
    fn reply_decoder_is_total(op in operation(), label in label(), words in words()) {
        let versioned = matches!(op, Operation::Stats | Operation::ClientStats);
        testing::check_reply(op, label, &words, versioned)?;
    }

    /// `dispatch` never panics and always answers 0 with a reply that
    /// decodes, or a known error code with no words.
    #[test]
    fn dispatch_is_total(client in any::<u64>(), label in label(), words in words()) {
        let client = client.wrapping_sub(1);
        testing::check_dispatch::<Operation>(label, &words, |l, w, out| {
            dispatch(&mut Ok_, client, l, w, out)
        })?;
    }
}

#[test]
fn unknown_labels_are_unknown_operations() {
    let mut out = [0u64; MAX_WORDS];
    for label in [0, 1, 5, 0xff, 0x10f, 0x119, 0x132, u64::MAX] {
        assert_eq!(
            Request::decode(label, &[]),
            Err(DecodeError::UnknownOperation { label })
        );
        assert_eq!(
            dispatch(&mut Ok_, 1, label, &[], &mut out),
            (ApiError::UnknownOperation.code(), 0)
        );
    }
}

#[test]
fn malformed_requests_get_protocol_errors() {
    let mut out = [0u64; MAX_WORDS];
    // Truncated mmap.
    assert_eq!(
        dispatch(&mut Ok_, 1, Operation::Mmap.label(), &[0; 8], &mut out),
        (ApiError::MalformedRequest.code(), 0)
    );
    // A 65-byte name (size, open rights, name length, name).
    let mut w = [0u64; 11];
    w[2] = 65;
    assert_eq!(
        dispatch(&mut Ok_, 1, Operation::ShmCreate.label(), &w, &mut out),
        (ApiError::NameTooLong.code(), 0)
    );
    // A successful exit is not answered; a failed one is.
    let (l, _) = dispatch(&mut Ok_, 1, Operation::Exit.label(), &[0], &mut out);
    assert!(!needs_reply(Operation::Exit.label(), l));
    assert!(needs_reply(
        Operation::Exit.label(),
        ApiError::BadClient.code()
    ));
    assert!(needs_reply(Operation::Munmap.label(), 0));
}

/// The pager operations (docs/pager.md): exact lengths, reserved rights
/// bits refused, and a service without pagers refuses each with
/// `NotSupported` (the default methods).
#[test]
fn pager_requests_are_checked_and_refused_by_default() {
    let mut out = [0u64; MAX_WORDS];
    let create = Operation::PagerCreate.label();
    // key, size_bytes, client, rights: READ | WRITE | EXEC, then reserved.
    for (words, want) in [
        (&[7, 4096, 4, 3][..], ApiError::NotSupported),
        (&[7, 4096, 4, 8][..], ApiError::MalformedRequest),
        (&[7, 4096, 4, 1 << 63][..], ApiError::MalformedRequest),
        (&[7, 4096, 4][..], ApiError::MalformedRequest),
        (&[7, 4096, 4, 3, 0][..], ApiError::MalformedRequest),
    ] {
        assert_eq!(
            dispatch(&mut Ok_, 0x1000, create, words, &mut out),
            (want.code(), 0),
            "{words:?}"
        );
    }
    assert_eq!(
        Request::decode(create, &[7, 4096, 4, 8]),
        Err(DecodeError::ReservedBits { word: 3 })
    );
    let attach = Operation::PagerAttach.label();
    assert_eq!(
        dispatch(&mut Ok_, 0x1000, attach, &[5], &mut out),
        (ApiError::NotSupported.code(), 0)
    );
    assert_eq!(
        dispatch(&mut Ok_, 0x1000, attach, &[], &mut out),
        (ApiError::MalformedRequest.code(), 0)
    );
    let challenge = Operation::PagerChallenge.label();
    assert_eq!(
        dispatch(&mut Ok_, 0x1000, challenge, &[], &mut out),
        (ApiError::NotSupported.code(), 0)
    );
    // PagerProgram: index, error, key, size_bytes; a failure names no
    // object (key and size 0).
    let program = Operation::PagerProgram.label();
    for (words, want) in [
        (&[0, 0, 12, 4096][..], ApiError::NotSupported),
        (&[0, 2, 0, 0][..], ApiError::NotSupported),
        (&[0, 2, 12, 0][..], ApiError::MalformedRequest),
        (&[0, 2, 0, 1][..], ApiError::MalformedRequest),
        (&[0, 0, 12][..], ApiError::MalformedRequest),
    ] {
        assert_eq!(
            dispatch(&mut Ok_, 0x1000, program, words, &mut out),
            (want.code(), 0),
            "{words:?}"
        );
    }
    let name = Operation::PagerProgramName.label();
    assert_eq!(
        dispatch(&mut Ok_, 0x1000, name, &[0], &mut out),
        (ApiError::NotSupported.code(), 0)
    );
    assert_eq!(
        dispatch(&mut Ok_, 0x1000, name, &[], &mut out),
        (ApiError::MalformedRequest.code(), 0)
    );
    assert_eq!(
        dispatch(&mut Ok_, 0x1000, challenge, &[1], &mut out),
        (ApiError::MalformedRequest.code(), 0)
    );
}
