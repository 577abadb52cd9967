//! Proptest strategies for every request and reply, shared by the integration tests.
#![allow(dead_code)]

use proptest::prelude::*;
use vm_api::*;
use zerocopy::FromBytes;

pub fn prot() -> impl Strategy<Value = Prot> {
    (0u64..8).prop_map(Prot::from_bits_truncate)
}

pub fn handle() -> impl Strategy<Value = Handle> {
    prop_oneof![any::<u32>(), 0u32..8].prop_map(Handle)
}

/// Any value, often a small or page-aligned one.
pub fn word() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..16,
        (0u64..1 << 20).prop_map(|p| p * PAGE_SIZE),
        Just(u64::MAX),
    ]
}

pub fn name() -> impl Strategy<Value = ShmName> {
    "\\PC{0,16}".prop_map(|s| ShmName::new(&s).expect("at most 64 bytes"))
}

pub fn source() -> impl Strategy<Value = MapSource> {
    prop_oneof![
        Just(MapSource::Anonymous),
        (handle(), word()).prop_map(|(handle, offset)| MapSource::Handle { handle, offset }),
    ]
}

pub fn mmap() -> impl Strategy<Value = MmapRequest> {
    (
        word(),
        word(),
        prot(),
        prot(),
        (0u64..32).prop_map(MapFlags::from_bits_truncate),
        source(),
        word(),
    )
        .prop_map(
            |(addr, len, prot, max_prot, flags, source, align)| MmapRequest {
                addr,
                len,
                prot,
                max_prot,
                flags,
                source,
                align,
            },
        )
}

pub fn range() -> impl Strategy<Value = RangeRequest> {
    (word(), word()).prop_map(|(addr, len)| RangeRequest { addr, len })
}

pub fn request() -> impl Strategy<Value = Request> {
    let memory = prop_oneof![
        mmap().prop_map(Request::Mmap),
        range().prop_map(Request::Munmap),
        (range(), prot()).prop_map(|(r, prot)| Request::Mprotect(MprotectRequest {
            addr: r.addr,
            len: r.len,
            prot
        })),
        (range(), prop::sample::select(Inheritance::ALL.to_vec())).prop_map(|(r, inheritance)| {
            Request::Minherit(MinheritRequest {
                addr: r.addr,
                len: r.len,
                inheritance,
            })
        }),
        (range(), prop::sample::select(Advice::ALL.to_vec())).prop_map(|(r, advice)| {
            Request::Madvise(MadviseRequest {
                addr: r.addr,
                len: r.len,
                advice,
            })
        }),
        (range(), (0u64..8).prop_map(MsyncFlags::from_bits_truncate)).prop_map(|(r, flags)| {
            Request::Msync(MsyncRequest {
                addr: r.addr,
                len: r.len,
                flags,
            })
        }),
        range().prop_map(Request::Mincore),
        range().prop_map(Request::Mlock),
        range().prop_map(Request::Munlock),
    ];
    let objects = prop_oneof![
        (name(), word(), prot()).prop_map(|(name, size, open_rights)| Request::ShmCreate(
            ShmCreateRequest {
                name,
                size,
                open_rights
            }
        )),
        (name(), prot())
            .prop_map(|(name, rights)| Request::ShmOpen(ShmOpenRequest { name, rights })),
        name().prop_map(|name| Request::ShmUnlink(ShmUnlinkRequest { name })),
        (handle(), word())
            .prop_map(|(handle, size)| Request::ShmTruncate(ShmTruncateRequest { handle, size })),
        handle().prop_map(|handle| Request::HandleClose(HandleCloseRequest { handle })),
        (handle(), word(), prot()).prop_map(|(handle, to, rights)| Request::HandleShare(
            HandleShareRequest { handle, to, rights }
        )),
        (word(), any::<u32>())
            .prop_map(|(from, count)| Request::HandleAccept(HandleAcceptRequest { from, count })),
    ];
    let other = prop_oneof![
        word().prop_map(|cookie| Request::Ping(PingRequest { cookie })),
        Just(Request::Stats),
        Just(Request::ClientStats),
        word().prop_map(|from| Request::ClientList(ClientListRequest { from })),
        Just(Request::Fork),
        word().prop_map(|status| Request::Exit(ExitRequest { status })),
        Just(Request::FailNextPagein),
    ];
    let swap = prop_oneof![
        word().prop_map(|device| Request::SwapInfo(SwapDeviceRequest { device })),
        word().prop_map(|device| Request::SwapOff(SwapDeviceRequest { device })),
        word().prop_map(|device| Request::SwapOn(SwapDeviceRequest { device })),
    ];
    let pagers = prop_oneof![
        Just(Request::PagerChallenge),
        word().prop_map(|challenge| Request::PagerAttach(PagerAttachRequest { challenge })),
        (word(), word(), word(), prot()).prop_map(|(key, size_bytes, client, rights)| {
            Request::PagerCreate(PagerCreateRequest {
                key,
                size_bytes,
                client,
                rights,
            })
        }),
        word().prop_map(|index| Request::PagerProgramName(PagerProgramNameRequest { index })),
        (word(), word(), word()).prop_map(|(index, key, size_bytes)| {
            Request::PagerProgram(PagerProgramRequest {
                index,
                error: 0,
                key,
                size_bytes,
            })
        }),
        (word(), 1u64..).prop_map(|(index, error)| {
            Request::PagerProgram(PagerProgramRequest {
                index,
                error,
                key: 0,
                size_bytes: 0,
            })
        }),
    ];
    // Boxed: the nested unions' types are deep enough to overflow a
    // test thread's stack in a debug build otherwise.
    prop_oneof![
        memory.boxed(),
        objects.boxed(),
        other.boxed(),
        swap.boxed(),
        pagers.boxed()
    ]
}

pub fn vm_stats() -> impl Strategy<Value = VmStats> {
    prop::collection::vec(word(), <VmStats as vm_api::Versioned>::WORDS)
        .prop_map(|v| VmStats::read_from_bytes(zerocopy::IntoBytes::as_bytes(&v[..])).unwrap())
}

pub fn client_stats() -> impl Strategy<Value = ClientStats> {
    prop::collection::vec(word(), <ClientStats as vm_api::Versioned>::WORDS)
        .prop_map(|v| ClientStats::read_from_bytes(zerocopy::IntoBytes::as_bytes(&v[..])).unwrap())
}

/// A client name of up to 24 bytes, often one cut in the middle.
pub fn client_name() -> impl Strategy<Value = ClientName> {
    "\\PC{0,30}".prop_map(|s| ClientName::truncated(&s))
}

pub fn client_summary() -> impl Strategy<Value = ClientSummary> {
    (word(), client_name(), prop::array::uniform8(word())).prop_map(|(client, name, w)| {
        ClientSummary {
            client,
            name,
            resident_pages: w[0],
            wired_pages: w[1],
            faults: w[2],
            flt_zero: w[3],
            flt_cow: w[4],
            flt_prefault: w[5],
            pageins: w[6],
            flt_large: w[7],
        }
    })
}

/// A `ClientList` reply: up to a full one, the ids made increasing, and
/// a `next` above them when full (sometimes).
pub fn client_list() -> impl Strategy<Value = ClientListReply> {
    (
        prop::collection::vec(client_summary(), 0..=CLIENT_LIST_MAX),
        0u64..1 << 40,
        any::<bool>(),
    )
        .prop_map(|(mut entries, first, more)| {
            let mut r = ClientListReply::new();
            let mut id = first;
            for e in &mut entries {
                e.client = id;
                id += 1 + (e.faults & 0xff);
                assert!(r.push(*e));
            }
            if more && entries.len() == CLIENT_LIST_MAX {
                assert!(r.set_next(id));
            }
            r
        })
}

pub fn mincore() -> impl Strategy<Value = MincoreReply> {
    prop_oneof![
        prop::collection::vec(0u8..8, 0..=20),
        prop::collection::vec(0u8..8, 0..=MINCORE_MAX_PAGES),
    ]
    .prop_map(|v| MincoreReply::from_bytes(&v))
}

pub fn swap_info() -> impl Strategy<Value = SwapDeviceInfo> {
    (word(), any::<bool>(), prop::array::uniform9(word())).prop_map(|(device, attached, w)| {
        SwapDeviceInfo {
            device,
            attached,
            slots: w[0],
            in_use: w[1],
            bad: w[2],
            pageins: w[3],
            pgswapin: w[4],
            pageouts: w[5],
            pgswapout: w[6],
            read_errors: w[7],
            write_errors: w[8],
        }
    })
}

/// A successful reply (any operation).
pub fn reply() -> impl Strategy<Value = Reply> {
    let hr = || handle().prop_map(|handle| HandleReply { handle });
    prop_oneof![
        word().prop_map(|cookie| Reply::Ping(PingReply { cookie })),
        vm_stats().prop_map(Reply::Stats),
        client_stats().prop_map(Reply::ClientStats),
        client_list().prop_map(Reply::ClientList),
        word().prop_map(|addr| Reply::Mmap(MmapReply { addr })),
        mincore().prop_map(Reply::Mincore),
        hr().prop_map(Reply::ShmCreate),
        hr().prop_map(Reply::ShmOpen),
        hr().prop_map(Reply::HandleShare),
        word().prop_map(|child| Reply::Fork(ForkReply::Parent { child })),
        word().prop_map(|parent| Reply::Fork(ForkReply::Child { parent })),
        swap_info().prop_map(Reply::SwapInfo),
        word().prop_map(|challenge| Reply::PagerChallenge(PagerChallengeReply { challenge })),
        hr().prop_map(Reply::PagerCreate),
        name().prop_map(|name| Reply::PagerProgramName(PagerProgramNameReply { name })),
        prop::sample::select(vec![
            Reply::Munmap,
            Reply::Mprotect,
            Reply::Minherit,
            Reply::Madvise,
            Reply::Msync,
            Reply::Mlock,
            Reply::Munlock,
            Reply::ShmUnlink,
            Reply::ShmTruncate,
            Reply::HandleClose,
            Reply::HandleAccept,
            Reply::Exit,
            Reply::FailNextPagein,
            Reply::SwapOff,
            Reply::SwapOn,
            Reply::PagerAttach,
            Reply::PagerProgram,
        ]),
    ]
}

pub fn operation() -> impl Strategy<Value = Operation> {
    prop::sample::select(Operation::ALL.to_vec())
}

pub fn api_error() -> impl Strategy<Value = ApiError> {
    prop::sample::select(ApiError::ALL.to_vec())
}

/// A label: an operation's, a small one, an error code or anything.
pub fn label() -> impl Strategy<Value = u64> {
    prop_oneof![
        operation().prop_map(u64::from),
        0u64..0x200,
        api_error().prop_map(ApiError::code),
        any::<u64>(),
    ]
}

/// A message body of up to a little more than the most a message holds.
pub fn words() -> impl Strategy<Value = Vec<u64>> {
    prop_oneof![
        prop::collection::vec(prop_oneof![Just(0u64), 0u64..8, word()], 0..=12),
        prop::collection::vec(word(), 0..=MAX_WORDS + 8),
    ]
}
