//! The decoders are total: random labels and word vectors never panic, whatever decodes re-encodes to the same message, and `dispatch` always answers with a reply that decodes or a known error code.

use file_api::*;
use ipc_protocol::testing;
use proptest::prelude::*;

/// Any value, often a small one or one at a bound.
fn word() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..16,
        Just(READ_MAX as u64),
        Just(WRITE_MAX as u64 + 1),
        Just(PATH_MAX as u64),
        Just(u64::MAX),
    ]
}

fn words() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(word(), 0..=MAX_WORDS + 1)
}

fn handle() -> impl Strategy<Value = Handle> {
    prop_oneof![any::<u32>(), 0u32..8].prop_map(Handle)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (
            (1u64..4).prop_map(Rights::from_bits_truncate),
            bytes(PATH_MAX)
        )
            .prop_map(|(rights, p)| Request::Open(OpenRequest {
                rights,
                path: PathBytes::from_slice(&p).unwrap()
            })),
        handle().prop_map(|handle| Request::Stat(HandleRequest { handle })),
        (handle(), word(), 0..=READ_MAX as u64).prop_map(|(handle, offset, len)| {
            Request::Read(ReadRequest {
                handle,
                offset,
                len,
            })
        }),
        (handle(), word(), bytes(WRITE_MAX)).prop_map(|(handle, offset, d)| {
            Request::Write(WriteRequest {
                handle,
                offset,
                data: WriteData::from_slice(&d).unwrap(),
            })
        }),
        handle().prop_map(|handle| Request::Close(HandleRequest { handle })),
        handle().prop_map(|handle| Request::Sync(HandleRequest { handle })),
        (handle(), any::<bool>())
            .prop_map(|(handle, writable)| Request::Map(MapRequest { handle, writable })),
        handle().prop_map(|handle| Request::FailNextPageIn(HandleRequest { handle })),
        handle().prop_map(|handle| Request::CrashOnNextPageIn(HandleRequest { handle })),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        handle().prop_map(|handle| Reply::Open(HandleReply { handle })),
        (1u64..=4, word(), 0u16..=0o7777).prop_map(|(k, size, mode)| Reply::Stat(Stat {
            kind: FileKind::from_u64(k).unwrap(),
            size,
            mode
        })),
        bytes(READ_MAX).prop_map(|d| Reply::Read(ReadReply {
            data: ReadData::from_slice(&d).unwrap()
        })),
        (0..=WRITE_MAX as u64).prop_map(|written| Reply::Write(WriteReply { written })),
        Just(Reply::Close(())),
        Just(Reply::Sync(())),
        any::<u32>().prop_map(|vm_handle| Reply::Map(MapReply { vm_handle })),
        Just(Reply::FailNextPageIn(())),
        Just(Reply::CrashOnNextPageIn(())),
    ]
}

/// A service that answers everything, for driving `dispatch`.
struct Answers;

impl FileService for Answers {
    fn open(&mut self, _: u64, r: OpenRequest) -> Result<HandleReply, FileError> {
        if r.path.is_empty() {
            return Err(FileError::BadPath);
        }
        Ok(HandleReply { handle: Handle(1) })
    }
    fn stat(&mut self, _: u64, r: HandleRequest) -> Result<Stat, FileError> {
        Ok(Stat {
            kind: FileKind::Regular,
            size: r.handle.0 as u64,
            mode: 0o644,
        })
    }
    fn read(&mut self, _: u64, r: ReadRequest) -> Result<ReadReply, FileError> {
        let data = vec![0x5a; r.len as usize];
        Ok(ReadReply {
            data: ReadData::from_slice(&data).ok_or(FileError::LengthTooLarge)?,
        })
    }
    fn write(&mut self, _: u64, r: WriteRequest) -> Result<WriteReply, FileError> {
        Ok(WriteReply {
            written: r.data.len() as u64,
        })
    }
    fn close(&mut self, _: u64, r: HandleRequest) -> Result<(), FileError> {
        if r.handle.0 == 0 {
            return Err(FileError::BadHandle);
        }
        Ok(())
    }
    fn sync(&mut self, _: u64, _: HandleRequest) -> Result<(), FileError> {
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Request decoding never panics; a decoded request re-encodes to
    /// exactly the message (the encoding is canonical).
    #[test]
    fn request_decoder_is_total(label in testing::labels::<Operation>(), words in words()) {
        testing::check_request::<Operation>(label, &words)?;
    }

    /// Every request survives encode -> decode, and fits one message.
    #[test]
    fn requests_round_trip(req in request()) {
        testing::check_request_round_trip::<Operation>(&req)?;
    }

    /// A valid request with one word changed, cut or extended still
    /// decodes canonically or is refused, never panics.
    #[test]
    fn mutated_requests(req in request(), at in any::<prop::sample::Index>(), v in word(), how in 0..3u8) {
        let mut w = [0u64; MAX_WORDS + 1];
        let (label, len) = req.encode(&mut w);
        let msg = match how {
            0 if len > 0 => { w[at.index(len)] = v; &w[..len] }
            1 => &w[..at.index(len + 1)],
            _ => { w[len] = v; &w[..len + 1] }
        };
        testing::check_request::<Operation>(label, msg)?;
    }

    /// Reply decoding never panics; a decoded reply re-encodes to the
    /// message; an error reply has no words.
    #[test]
    fn reply_decoder_is_total(op in testing::operations::<Operation>(), label in prop_oneof![Just(0u64), any::<u64>(), 1u64..0x110], words in words()) {
        testing::check_reply(op, label, &words, false)?;
    }

    /// Every reply survives encode -> decode.
    #[test]
    fn replies_round_trip(rep in reply()) {
        testing::check_reply_round_trip::<Operation>(&rep)?;
    }

    /// `dispatch` never panics and always answers 0 with a reply that
    /// decodes, or a known error code with no words.
    #[test]
    fn dispatch_is_total(client in any::<u64>(), label in testing::labels::<Operation>(), words in words()) {
        testing::check_dispatch::<Operation>(label, &words, |l, w, out| {
            dispatch(&mut Answers, client, l, w, out)
        })?;
    }
}

#[test]
fn hostile_messages_get_the_documented_errors() {
    let mut out = [0u64; MAX_WORDS];
    let mut ask = |label: u64, words: &[u64]| dispatch(&mut Answers, 7, label, words, &mut out);
    let err = |e: FileError| (e.code(), 0);
    let (open, read, write, stat) = (
        Operation::Open.label(),
        Operation::Read.label(),
        Operation::Write.label(),
        Operation::Stat.label(),
    );
    // Unknown labels, including vm-api's and kernel fault labels.
    for label in [0, 5, 0x100, 0x131, 0x1ff, 0x209, u64::MAX] {
        assert_eq!(ask(label, &[]), err(FileError::UnknownOperation));
    }
    // A path longer than PATH_MAX, whatever the words that follow.
    assert_eq!(ask(open, &[1, 257]), err(FileError::PathTooLong));
    assert_eq!(ask(open, &[1, u64::MAX]), err(FileError::PathTooLong));
    assert_eq!(ask(open, &[1, 300, 0, 0]), err(FileError::PathTooLong));
    // Fewer path words than the length says, rights 0 or reserved.
    assert_eq!(ask(open, &[1, 9, 0x2f]), err(FileError::MalformedRequest));
    assert_eq!(ask(open, &[0, 1, 0x2f]), err(FileError::MalformedRequest));
    assert_eq!(ask(open, &[4, 1, 0x2f]), err(FileError::MalformedRequest));
    // A byte in the padding past the path.
    assert_eq!(ask(open, &[1, 1, 0x2f2f]), err(FileError::MalformedRequest));
    // Huge reads and writes.
    assert_eq!(ask(read, &[1, 0, u64::MAX]), err(FileError::LengthTooLarge));
    assert_eq!(
        ask(read, &[1, 0, READ_MAX as u64 + 1]),
        err(FileError::LengthTooLarge)
    );
    assert_eq!(ask(write, &[1, 0, 1 << 40]), err(FileError::LengthTooLarge));
    // Map: flags other than bit 0, a handle's high half, wrong lengths;
    // a well-formed one reaches the service (which pages nothing).
    let map = Operation::Map.label();
    assert_eq!(ask(map, &[1, 2]), err(FileError::MalformedRequest));
    assert_eq!(ask(map, &[1, u64::MAX]), err(FileError::MalformedRequest));
    assert_eq!(ask(map, &[1 << 32, 1]), err(FileError::MalformedRequest));
    assert_eq!(ask(map, &[1]), err(FileError::MalformedRequest));
    assert_eq!(ask(map, &[1, 1, 0]), err(FileError::MalformedRequest));
    assert_eq!(ask(map, &[1, 1]), err(FileError::NoPager));
    // FailNextPageIn: one handle word, its high half clear; a well-formed
    // one reaches the service (whose default pages nothing).
    let hook = Operation::FailNextPageIn.label();
    assert_eq!(hook, 0x207);
    assert_eq!(ask(hook, &[]), err(FileError::MalformedRequest));
    assert_eq!(ask(hook, &[1, 0]), err(FileError::MalformedRequest));
    assert_eq!(ask(hook, &[1 << 32]), err(FileError::MalformedRequest));
    assert_eq!(ask(hook, &[1]), err(FileError::NoPager));
    let crash = Operation::CrashOnNextPageIn.label();
    assert_eq!(crash, 0x208);
    assert_eq!(ask(crash, &[]), err(FileError::MalformedRequest));
    assert_eq!(ask(crash, &[1 << 32]), err(FileError::MalformedRequest));
    assert_eq!(ask(crash, &[1]), err(FileError::NoPager));
    // A handle with its reserved high half set, a short stat.
    assert_eq!(ask(stat, &[1 << 32]), err(FileError::MalformedRequest));
    assert_eq!(ask(stat, &[]), err(FileError::MalformedRequest));
    // Well-formed ones reach the service.
    assert_eq!(ask(read, &[1, 0, READ_MAX as u64]).0, 0);
    assert_eq!(ask(open, &[3, 1, 0x2f]), (0, 1));
}
