//! System test: hostile and malformed requests. Each gets its own distinct
//! error and changes nothing; afterwards the server still serves this
//! client (and all the others keep running meanwhile). Among them:
//! swapoff and swapon without the spec's `privileges { swapctl }`
//! (semantics: swapctl-privilege), swap device statistics, which are
//! open to every client (semantics: swapctl-info), and other clients'
//! counters without `privileges { observe }` (semantics:
//! observe-privilege).
#![no_std]
#![no_main]

use sel4::MessageInfo;
use vm_client::vm_api::{ApiError, MapFlags, MmapRequest, Prot};
use vm_client::Env;

vm_client::client_main!(main);

const PAGE: u64 = 4096;

/// Sends a raw message; returns the reply's label.
fn raw(ep: sel4::CPtr, label: u64, words: &[u64]) -> u64 {
    for (i, w) in words.iter().enumerate() {
        sel4::set_mr(i, *w);
    }
    sel4::call(ep, MessageInfo::new(label, 0, 0, words.len() as u64)).label()
}

fn main(env: &mut Env) -> u64 {
    env.plan(20);
    let ep = env.info.cap(vm_client::VM_ENDPOINT).unwrap();
    let vm = &mut env.vm;
    let results = [
        (
            "unknown-operation",
            raw(ep, 0x1ff, &[]),
            ApiError::UnknownOperation.code(),
        ),
        (
            "short-message",
            raw(ep, 0x110, &[0, PAGE]),
            ApiError::MalformedRequest.code(),
        ),
        (
            "long-message",
            raw(ep, 0x111, &[0, PAGE, 0, 0]),
            ApiError::MalformedRequest.code(),
        ),
    ];
    let mut fixed = MmapRequest::anon(PAGE, Prot::RW);
    fixed.addr = 0x4000_0000;
    fixed.flags = MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::NOREPLACE;
    let first = vm.mmap(&fixed);
    let calls = [
        (
            "mmap-zero-length",
            vm.mmap(&MmapRequest::anon(0, Prot::RW)).map(|_| ()),
            ApiError::ZeroLength,
        ),
        (
            "mmap-unaligned-length",
            vm.mmap(&MmapRequest::anon(PAGE + 1, Prot::RW)).map(|_| ()),
            ApiError::Unaligned,
        ),
        (
            "mmap-overflow",
            vm.mmap(&MmapRequest::anon(!(PAGE - 1), Prot::RW))
                .map(|_| ()),
            ApiError::Overflow,
        ),
        (
            "mmap-fixed-overlap",
            vm.mmap(&fixed).map(|_| ()),
            ApiError::Exists,
        ),
        (
            "munmap-out-of-range",
            vm.munmap(0xffff_8000_0000_0000, PAGE),
            ApiError::OutOfRange,
        ),
        (
            "munmap-unaligned",
            vm.munmap(0x4000_0001, PAGE),
            ApiError::Unaligned,
        ),
        (
            "bad-handle",
            vm.shm_truncate(vm_client::vm_api::Handle(9999), PAGE),
            ApiError::BadHandle,
        ),
        (
            "share-to-unknown-client",
            vm.handle_share(vm_client::vm_api::Handle(1), 0xdead, Prot::READ)
                .map(|_| ()),
            ApiError::BadClient,
        ),
        (
            "swapoff-not-permitted",
            vm.swap_off(0),
            ApiError::NotPermitted,
        ),
        (
            "swapon-not-permitted",
            vm.swap_on(0),
            ApiError::NotPermitted,
        ),
        // The privilege is checked first: no probing for devices.
        (
            "swapoff-of-no-device-not-permitted",
            vm.swap_off(7),
            ApiError::NotPermitted,
        ),
        // Other clients' counters are not its own.
        (
            "client-list-not-permitted",
            vm.client_list_page(0).map(|_| ()),
            ApiError::NotPermitted,
        ),
        (
            "client-list-from-anywhere-not-permitted",
            vm.client_list_page(u64::MAX).map(|_| ()),
            ApiError::NotPermitted,
        ),
        (
            "swap-info-no-such-device",
            vm.swap_info(7).map(|_| ()),
            ApiError::NoSuchDevice,
        ),
    ];
    for (name, got, want) in results {
        env.check(
            name,
            got == want,
            format_args!("reply label {got:#x}, expected {want:#x}"),
        );
    }
    for (name, got, want) in calls {
        env.check_err(name, got, want);
    }
    // Nothing changed, and the server still answers properly.
    // SAFETY: read only if `first`, the read-write page fixed at
    // 0x4000_0000, was mapped (`&&` short-circuits); nothing here unmaps it
    // (the requests above are all refused, and a server that wrongly
    // obeyed one would make the read fault and stop this client), and no
    // Rust reference points into it.
    let still = first.is_ok() && unsafe { (0x4000_0000 as *const u64).read_volatile() } == 0;
    env.check(
        "state-unchanged",
        still,
        format_args!("first fixed mapping {first:?}"),
    );
    // The refused swapoff changed nothing: swap is still on, and anyone
    // may look.
    let info = env.vm.swap_info(0);
    env.check(
        "swap-info-open-to-all-and-swap-still-on",
        info.is_ok_and(|i| i.attached && i.slots > 0),
        format_args!("{info:?}"),
    );
    let ping = env.vm.ping(42);
    env.check("still-served", ping == Ok(42), format_args!("{ping:?}"));
    env.failures()
}
