//! System test: a hostile client of the file server. Raw messages with bad handles, huge lengths, offsets past the end, paths too long or not paths, unknown operations, and more open handles than allowed: each gets its own clear error, nothing changes, and the server goes on serving this client and the others.
#![no_std]
#![no_main]

extern crate alloc;

use file_api::{FileClient, FileError, Handle, Operation, Rights, MAX_WORDS, READ_MAX};
use sel4::MessageInfo;
use vm_client::{println, Env};

vm_client::client_main!(main);

/// Sends a raw message; returns the reply's label (0 or an error code).
fn raw(ep: sel4::CPtr, label: u64, words: &[u64]) -> u64 {
    for (i, w) in words.iter().enumerate() {
        sel4::set_mr(i, *w);
    }
    sel4::call(ep, MessageInfo::new(label, 0, 0, words.len() as u64)).label()
}

fn main(env: &mut Env) -> u64 {
    env.plan(17);
    let Some(ep) = env.info.cap("fs_ep") else {
        println!("TEST FAIL client-file-hostile/setup: no fs_ep cap");
        return 1;
    };
    let mut fs = FileClient::new(ep);
    let (open, stat, read, write, close) = (
        Operation::Open.label(),
        Operation::Stat.label(),
        Operation::Read.label(),
        Operation::Write.label(),
        Operation::Close.label(),
    );
    // A handle of our own to aim at; other clients' handles 1.. are not
    // ours to use (we ask before opening anything).
    let others = raw(ep, stat, &[1]);
    let h = fs
        .open_handle("/hello.txt", Rights::READ)
        .unwrap_or(Handle(0));
    let hw = h.0 as u64;
    let w = fs
        .open_handle("/write/target.bin", Rights::RW)
        .unwrap_or(Handle(0));
    let ww = w.0 as u64;
    let slashes = u64::from_le_bytes(*b"////////");
    let mut long = [slashes; MAX_WORDS];
    long[0] = 1;
    long[1] = 1000;
    let cases = [
        ("another-clients-handle", others, FileError::BadHandle),
        (
            "unknown-handle",
            raw(ep, stat, &[hw + 100]),
            FileError::BadHandle,
        ),
        (
            "reserved-handle-bits",
            raw(ep, stat, &[hw | 1 << 32]),
            FileError::MalformedRequest,
        ),
        (
            "huge-read",
            raw(ep, read, &[hw, 0, u64::MAX]),
            FileError::LengthTooLarge,
        ),
        (
            "read-over-one-message",
            raw(ep, read, &[hw, 0, READ_MAX as u64 + 1]),
            FileError::LengthTooLarge,
        ),
        (
            "huge-write",
            raw(ep, write, &[ww, 0, 1 << 40]),
            FileError::LengthTooLarge,
        ),
        (
            "read-past-end",
            raw(ep, read, &[hw, 1 << 40, 16]),
            FileError::PastEnd,
        ),
        (
            "write-past-end",
            raw(ep, write, &[ww, u64::MAX, 1, 0x41]),
            FileError::WouldGrow,
        ),
        (
            "path-too-long",
            raw(ep, open, &long[..MAX_WORDS]),
            FileError::PathTooLong,
        ),
        (
            "path-words-missing",
            raw(ep, open, &[1, 16, slashes]),
            FileError::MalformedRequest,
        ),
        (
            "relative-path",
            raw(ep, open, &[1, 1, 0x61]),
            FileError::BadPath,
        ),
        (
            "no-rights",
            raw(ep, open, &[0, 1, 0x2f]),
            FileError::MalformedRequest,
        ),
        (
            "unknown-operation",
            raw(ep, 0x2ff, &[]),
            FileError::UnknownOperation,
        ),
        (
            "vm-api-label",
            raw(ep, 0x110, &[0; 9]),
            FileError::UnknownOperation,
        ),
        (
            "close-twice",
            {
                let _ = raw(ep, close, &[hw]);
                raw(ep, close, &[hw])
            },
            FileError::BadHandle,
        ),
    ];
    for (name, got, want) in cases {
        env.check(
            name,
            got == want.code(),
            format_args!(
                "reply label {got:#x}, expected {want:?} ({:#x})",
                want.code()
            ),
        );
    }
    // More handles than a client may hold (`w` is one of them).
    let mut held = alloc::vec![w];
    let mut refused = None;
    for _ in 0..64 {
        match fs.open_handle("/hello.txt", Rights::READ) {
            Ok(h) => held.push(h),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    env.check(
        "too-many-handles",
        refused == Some(FileError::TooManyHandles),
        format_args!("{} handles, then {refused:?}", held.len()),
    );
    // After all that, the server still serves this client correctly once
    // it closes a handle.
    let closed = held.pop().map(|h| fs.close(h));
    let read_back = fs.open("/hello.txt", Rights::READ).and_then(|mut f| {
        let mut buf = [0u8; 5];
        file_api::embedded_io::Read::read_exact(&mut f, &mut buf)
            .map_err(|_| FileError::PastEnd)?;
        Ok(buf)
    });
    env.check(
        "still-served",
        closed == Some(Ok(())) && read_back == Ok(*b"Hello"),
        format_args!("close {closed:?}, then {read_back:?}"),
    );
    env.failures()
}
