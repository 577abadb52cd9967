//! Host tests of the protocol: encode/decode round trips and totality, and
//! a client stub talking to a RAM-disk server through a real ring page.

use block_api::ring::{SQ_OFFSET, SQ_PROD};
use block_api::*;
use proptest::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;

/// A page-aligned shared region: ring page + `buffers` buffers.
struct Shared {
    mem: Vec<u8>,
    off: usize,
}

impl Shared {
    fn new(buffers: usize) -> Shared {
        let mut mem = vec![0u8; (buffers + 2) * BLOCK_SIZE];
        let off = mem.as_mut_ptr().align_offset(BLOCK_SIZE);
        Shared { mem, off }
    }
    fn base(&mut self) -> *mut u8 {
        // SAFETY: `off` is `align_offset` of the allocation, below one
        // block, and the allocation has two spare blocks for it.
        unsafe { self.mem.as_mut_ptr().add(self.off) }
    }
}

/// A RAM disk behind a server channel; completes in reverse order of
/// arrival when `reverse` is set.
struct RamServer {
    chan: ServerChannel,
    disk: Vec<u8>,
    window: *mut u8,
    reverse: bool,
    fail_block: Option<u64>,
}

impl RamServer {
    fn run(&mut self) {
        let mut done = Vec::new();
        while let Some(inc) = self.chan.take() {
            done.push(match inc {
                Incoming::Refused { tag, error } => Completion {
                    tag,
                    result: Err(error),
                    failed_block: 0,
                },
                Incoming::Request(r) => self.exec(r),
            });
        }
        if self.reverse {
            done.reverse();
        }
        for c in done {
            self.chan.complete(c);
        }
    }

    fn exec(&mut self, r: Request) -> Completion {
        let ok = |v| Completion {
            tag: r.tag,
            result: Ok(v),
            failed_block: 0,
        };
        if r.flags & FLAG_INJECT_IO_ERROR != 0 {
            return Completion {
                tag: r.tag,
                result: Err(BlockError::Io),
                failed_block: r.kind.transfer().map_or(0, |t| t.0),
            };
        }
        match r.kind {
            RequestKind::Info => ok(self.chan.blocks()),
            RequestKind::Flush => ok(0),
            RequestKind::Read { block, count, buf } | RequestKind::Write { block, count, buf } => {
                if let Some(b) = self
                    .fail_block
                    .filter(|b| (block..block + count).contains(b))
                {
                    return Completion {
                        tag: r.tag,
                        result: Err(BlockError::Io),
                        failed_block: b,
                    };
                }
                let (d, n) = (block as usize * BLOCK_SIZE, count as usize * BLOCK_SIZE);
                // SAFETY: the channel checked `buf` and `count` against
                // the buffer count, so the range lies in the window the
                // `Shared` region (alive for the whole test) provides; the
                // client does not touch a buffer while its request is out.
                let w = unsafe {
                    std::slice::from_raw_parts_mut(self.window.add(buf as usize * BLOCK_SIZE), n)
                };
                if matches!(r.kind, RequestKind::Read { .. }) {
                    w.copy_from_slice(&self.disk[d..d + n]);
                } else {
                    self.disk[d..d + n].copy_from_slice(w);
                }
                ok(0)
            }
        }
    }
}

/// The host notifier: the doorbell runs the server at once.
struct Direct(Rc<RefCell<RamServer>>);

impl Notifier for Direct {
    fn kick(&mut self) {
        self.0.borrow_mut().run();
    }
    fn wait(&mut self) {
        self.0.borrow_mut().run();
    }
}

const BLOCKS: u64 = 256;
const BUFFERS: u64 = 32;

fn setup(shared: &mut Shared) -> (BlockClient<Direct>, Rc<RefCell<RamServer>>) {
    let base = shared.base();
    // SAFETY: `base` is page aligned, `shared` holds the ring page and
    // every buffer for the whole test, and only `Ring` views touch it.
    let ring = unsafe { Ring::new(base) };
    let server = Rc::new(RefCell::new(RamServer {
        chan: ServerChannel::new(ring, BLOCKS, BUFFERS),
        disk: vec![0; BLOCKS as usize * BLOCK_SIZE],
        // SAFETY: the buffers start one block past the ring page, inside
        // `shared`.
        window: unsafe { base.add(BLOCK_SIZE) },
        reverse: false,
        fail_block: None,
    }));
    // SAFETY: as for the ring: `shared` is page aligned, holds the ring
    // page and `BUFFERS` buffers, and outlives the client.
    let client = unsafe { BlockClient::new(base, BUFFERS, Direct(server.clone())) };
    (client, server)
}

#[test]
fn write_read_info_flush() {
    let mut shared = Shared::new(BUFFERS as usize);
    let (mut c, _s) = setup(&mut shared);
    assert_eq!(c.info(), Ok(BLOCKS));
    for (i, b) in c.buffer_mut(0, 4).iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    c.write(10, 4, 0).unwrap();
    c.flush().unwrap();
    c.buffer_mut(4, 4).fill(0);
    c.read(10, 4, 4).unwrap();
    assert_eq!(c.buffer(0, 4), c.buffer(4, 4));
    assert_eq!(c.in_flight(), 0);
}

#[test]
fn bounds_are_checked() {
    let mut shared = Shared::new(BUFFERS as usize);
    let (mut c, _s) = setup(&mut shared);
    assert_eq!(c.read(BLOCKS, 1, 0), Err(BlockError::OutOfRange));
    assert_eq!(c.read(BLOCKS - 1, 2, 0), Err(BlockError::OutOfRange));
    assert_eq!(c.read(u64::MAX, 1, 0), Err(BlockError::OutOfRange));
    assert_eq!(c.write(0, 2, BUFFERS - 1), Err(BlockError::BadBuffer));
    assert_eq!(c.read(0, 0, 0), Err(BlockError::Malformed));
    assert_eq!(c.read(0, MAX_BLOCKS + 1, 0), Err(BlockError::Malformed));
    assert_eq!(c.read(BLOCKS - 1, 1, BUFFERS - 1), Ok(()));
}

#[test]
fn injected_and_device_errors() {
    let mut shared = Shared::new(BUFFERS as usize);
    let (mut c, s) = setup(&mut shared);
    let kind = RequestKind::Write {
        block: 5,
        count: 1,
        buf: 0,
    };
    assert_eq!(c.call(kind, FLAG_INJECT_IO_ERROR), Err(BlockError::Io));
    assert_eq!(c.call(kind, 4), Err(BlockError::Malformed), "reserved bit");
    s.borrow_mut().fail_block = Some(7);
    let tag = c
        .submit(
            RequestKind::Read {
                block: 6,
                count: 3,
                buf: 0,
            },
            0,
        )
        .unwrap();
    c.kick();
    let done = c.wait_one();
    assert_eq!(
        (done.tag, done.result, done.failed_block),
        (tag, Err(BlockError::Io), 7)
    );
}

#[test]
fn full_queue_in_flight_out_of_order() {
    let mut shared = Shared::new(BUFFERS as usize);
    let (mut c, s) = setup(&mut shared);
    s.borrow_mut().reverse = true;
    let mut tags = Vec::new();
    for i in 0..RING_ENTRIES as u64 {
        let b = c.buffer_mut(i, 1);
        b.fill(i as u8 + 1);
        tags.push(
            c.submit(
                RequestKind::Write {
                    block: i,
                    count: 1,
                    buf: i,
                },
                0,
            )
            .unwrap(),
        );
    }
    assert_eq!(
        c.submit(RequestKind::Info, 0),
        Err(BlockError::Busy),
        "a full queue refuses"
    );
    c.kick();
    let mut seen = Vec::new();
    while c.in_flight() > 0 {
        let d = c.wait_one();
        assert_eq!(d.result, Ok(0));
        seen.push(d.tag);
    }
    tags.reverse();
    assert_eq!(seen, tags, "completions come back in the server's order");
    for i in 0..RING_ENTRIES as u64 {
        c.read(i, 1, 0).unwrap();
        assert!(c.buffer(0, 1).iter().all(|&b| b == i as u8 + 1));
    }
}

#[test]
fn many_rounds_wrap_the_indices() {
    let mut shared = Shared::new(BUFFERS as usize);
    let (mut c, _s) = setup(&mut shared);
    for round in 0..200u64 {
        for i in 0..5 {
            c.submit(
                RequestKind::Write {
                    block: (round * 5 + i) % BLOCKS,
                    count: 1,
                    buf: i,
                },
                0,
            )
            .unwrap();
        }
        c.kick();
        for _ in 0..5 {
            assert_eq!(c.wait_one().result, Ok(0));
        }
    }
}

#[test]
fn hostile_client_index_is_survived() {
    let mut shared = Shared::new(BUFFERS as usize);
    let base = shared.base();
    // SAFETY: page aligned, alive for the test, touched only through `Ring`.
    let ring = unsafe { Ring::new(base) };
    let mut chan = ServerChannel::new(ring, BLOCKS, BUFFERS);
    ring.poke_index(SQ_PROD, 1000);
    assert_eq!(
        chan.take(),
        None,
        "an impossible index is a resync, not a read"
    );
    ring.poke_request(
        1000,
        &RequestWire {
            op: 3,
            tag: 9,
            ..Default::default()
        },
    );
    ring.poke_index(SQ_PROD, 1001);
    assert!(matches!(chan.take(), Some(Incoming::Request(r)) if r.tag == 9));
    assert_eq!(SQ_OFFSET, 256);
}

fn any_kind() -> impl Strategy<Value = RequestKind> {
    prop_oneof![
        (any::<u64>(), 1..=MAX_BLOCKS, any::<u64>())
            .prop_map(|(block, count, buf)| RequestKind::Read { block, count, buf }),
        (any::<u64>(), 1..=MAX_BLOCKS, any::<u64>())
            .prop_map(|(block, count, buf)| RequestKind::Write { block, count, buf }),
        Just(RequestKind::Info),
        Just(RequestKind::Flush),
    ]
}

proptest! {
    #[test]
    fn request_round_trip(tag in any::<u64>(), kind in any_kind(), flags in 0..=FLAGS_ALL) {
        // Frame lists are for transfers only.
        let flags = if kind.transfer().is_some() { flags } else { flags & !FLAG_FRAME_LIST };
        let r = Request { tag, kind, flags };
        prop_assert_eq!(Request::decode(&r.encode()), Ok(r));
    }

    #[test]
    fn request_decode_is_total(words in any::<[u64; 8]>()) {
        let w = RequestWire {
            op: words[0] % 8, tag: words[1], block: words[2], count: words[3] % 40,
            buf: words[4], flags: words[5] % 4, reserved: [words[6] % 2, words[7] % 2],
        };
        // Whatever it is, it decodes to a request that encodes back to it, or is refused.
        if let Ok(r) = Request::decode(&w) {
            prop_assert_eq!(r.encode(), w);
        }
    }

    #[test]
    fn completion_round_trip(tag in any::<u64>(), value in any::<u64>(), err in 0usize..8, block in any::<u64>()) {
        let c = if err == 0 {
            Completion { tag, result: Ok(value), failed_block: 0 }
        } else {
            let e = BlockError::ALL[err - 1];
            Completion { tag, result: Err(e), failed_block: if e == BlockError::Io { block } else { 0 } }
        };
        prop_assert_eq!(Completion::decode(&c.encode()), Ok(c));
    }

    #[test]
    fn completion_decode_is_total(w in any::<[u64; 4]>()) {
        let w = CompletionWire { tag: w[0], status: w[1] % 10, value: w[2] % 2, block: w[3] % 2 };
        if let Ok(c) = Completion::decode(&w) {
            prop_assert_eq!(c.encode(), w);
        }
    }

    /// Random entries from a hostile client: the server answers every one
    /// it takes, with a request inside the geometry or an error, and never
    /// panics.
    #[test]
    fn server_refuses_garbage(entries in proptest::collection::vec(any::<[u64; 8]>(), 1..40)) {
        let mut shared = Shared::new(BUFFERS as usize);
        let base = shared.base();
        // SAFETY: page aligned, alive for the test, touched only through `Ring`.
        let ring = unsafe { Ring::new(base) };
        let mut chan = ServerChannel::new(ring, BLOCKS, BUFFERS);
        for (i, e) in entries.iter().enumerate() {
            let w = RequestWire { op: e[0] % 6, tag: e[1], block: e[2] % 300, count: e[3] % 40,
                buf: e[4] % 40, flags: e[5] % 4, reserved: [0, e[7] % 2] };
            ring.poke_request(i as u32, &w);
            ring.poke_index(SQ_PROD, i as u32 + 1);
            if let Some(inc) = chan.take() {
                if let Incoming::Request(r) = inc {
                    prop_assert_eq!(r.check(BLOCKS, BUFFERS), Ok(()));
                }
                chan.complete(Completion { tag: 0, result: Ok(0), failed_block: 0 });
                // The client consumes it.
                ring.poke_index(block_api::ring::CQ_CONS, ring.peek_index(block_api::ring::CQ_PROD));
            }
        }
    }
}

#[test]
fn errors_have_distinct_codes() {
    for (i, e) in BlockError::ALL.iter().enumerate() {
        assert_eq!(BlockError::from_code(e.code()), Some(*e));
        assert_eq!(e.code(), i as u64 + 1);
    }
    assert_eq!(BlockError::from_code(0), None);
}

fn wire(op: Operation, block: u64, count: u64, buf: u64, flags: u64) -> RequestWire {
    RequestWire {
        op: op as u64,
        tag: 3,
        block,
        count,
        buf,
        flags,
        reserved: [0; 2],
    }
}

#[test]
fn frame_list_flag_on_transfers_only() {
    assert_eq!(FLAG_FRAME_LIST, 2, "numbering is stable");
    assert_eq!(FLAGS_ALL, FLAG_INJECT_IO_ERROR | FLAG_FRAME_LIST);
    for op in [Operation::Read, Operation::Write] {
        let r = Request::decode(&wire(op, 7, 16, 2, FLAG_FRAME_LIST)).unwrap();
        assert!(r.frame_list());
        assert_eq!(r.kind.transfer(), Some((7, 16, 2)));
        assert_eq!(r.encode(), wire(op, 7, 16, 2, FLAG_FRAME_LIST));
        let both = FLAG_FRAME_LIST | FLAG_INJECT_IO_ERROR;
        assert_eq!(
            Request::decode(&wire(op, 7, 16, 2, both)).unwrap().flags,
            both
        );
        assert!(!Request::decode(&wire(op, 7, 16, 2, 0))
            .unwrap()
            .frame_list());
    }
    for op in [Operation::Info, Operation::Flush] {
        for flags in [FLAG_FRAME_LIST, FLAG_FRAME_LIST | FLAG_INJECT_IO_ERROR] {
            assert_eq!(
                Request::decode(&wire(op, 0, 0, 0, flags)),
                Err(BlockError::Malformed),
                "{op:?} {flags:#x}"
            );
        }
        // As before: the test flag is accepted (and has no effect) there.
        assert!(Request::decode(&wire(op, 0, 0, 0, FLAG_INJECT_IO_ERROR)).is_ok());
    }
    assert_eq!(
        Request::decode(&wire(Operation::Read, 0, 1, 0, 4)),
        Err(BlockError::Malformed),
        "bit 2 is still reserved"
    );
}

#[test]
fn a_frame_list_names_one_buffer() {
    let list = |block, count, buf| Request {
        tag: 1,
        kind: RequestKind::Write { block, count, buf },
        flags: FLAG_FRAME_LIST,
    };
    let window = |block, count, buf| Request {
        flags: 0,
        ..list(block, count, buf)
    };
    // The last buffer holds a list of 32 pages; as a window request the
    // 32 buffers would run past the window.
    assert_eq!(
        list(0, MAX_BLOCKS, BUFFERS - 1).check(BLOCKS, BUFFERS),
        Ok(())
    );
    assert_eq!(
        window(0, MAX_BLOCKS, BUFFERS - 1).check(BLOCKS, BUFFERS),
        Err(BlockError::BadBuffer)
    );
    assert_eq!(
        list(0, 1, BUFFERS).check(BLOCKS, BUFFERS),
        Err(BlockError::BadBuffer)
    );
    assert_eq!(
        list(0, 1, u64::MAX).check(BLOCKS, BUFFERS),
        Err(BlockError::BadBuffer)
    );
    // The partition check is unchanged.
    assert_eq!(
        list(BLOCKS - 1, 2, 0).check(BLOCKS, BUFFERS),
        Err(BlockError::OutOfRange)
    );
}

#[test]
fn a_frame_list_is_written_little_endian_into_its_buffer() {
    let mut shared = Shared::new(BUFFERS as usize);
    let base = shared.base();
    // SAFETY: `shared` is page aligned, holds the ring page and every
    // buffer for the whole test; the client stub and the `Window` below are
    // the channel's two ends, used one at a time.
    let mut c = unsafe { BlockClient::new(base, BUFFERS, Direct(setup_server(base))) };
    let addrs = [0x1234_5000u64, 0xffff_ffff_ffff_f000, 0x1000];
    c.buffer_mut(3, 1).fill(0xaa);
    c.write_frame_list(3, &addrs);
    let b = c.buffer(3, 1);
    assert_eq!(b[..8], 0x1234_5000u64.to_le_bytes());
    assert_eq!(
        b[8..16],
        [0x00, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..]
    );
    assert_eq!(b[24], 0xaa, "the rest of the buffer is left alone");
    // SAFETY: the window follows the ring page inside `shared`; this view
    // is the server's end.
    let server = unsafe { Window::new(base.add(BLOCK_SIZE), BUFFERS) };
    let mut got = [0u64; 4];
    server.read_u64s(3, &mut got);
    assert_eq!(got[..3], addrs);
    assert_eq!(got[3], u64::from_le_bytes([0xaa; 8]));
    assert_eq!(FRAME_LIST_ENTRIES, 512);
    c.write_frame_list(BUFFERS - 1, &[0x5000; FRAME_LIST_ENTRIES]);
}

#[test]
#[should_panic(expected = "words in a buffer")]
fn a_frame_list_fits_in_a_buffer() {
    let mut shared = Shared::new(BUFFERS as usize);
    let base = shared.base();
    // SAFETY: as above.
    let mut c = unsafe { BlockClient::new(base, BUFFERS, Direct(setup_server(base))) };
    c.write_frame_list(0, &[0; FRAME_LIST_ENTRIES + 1]);
}

fn setup_server(base: *mut u8) -> Rc<RefCell<RamServer>> {
    // SAFETY: the caller's `base` is a page-aligned `Shared` region alive
    // for the test; only `Ring` views touch the ring page.
    let ring = unsafe { Ring::new(base) };
    Rc::new(RefCell::new(RamServer {
        chan: ServerChannel::new(ring, BLOCKS, BUFFERS),
        disk: vec![0; BLOCKS as usize * BLOCK_SIZE],
        // SAFETY: one block past the ring page, inside the region.
        window: unsafe { base.add(BLOCK_SIZE) },
        reverse: false,
        fail_block: None,
    }))
}
