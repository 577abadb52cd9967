//! System test: a client reading the files disk through the file server — a small text file, a multi-page file with a known pattern (whole, and in pieces across block boundaries), a file three directories down, a hole, directory and file stats, missing paths — and the rate of sequential reads.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use file_api::embedded_io::{Read, Seek, SeekFrom};
use file_api::{FileClient, FileError, FileKind, Rights, READ_MAX};
use vm_client::{println, Env};

vm_client::client_main!(main);

/// Byte `i` of `/data/pattern.bin` (see `files/README.txt`).
fn pattern(i: u64) -> u8 {
    ((i.wrapping_mul(0x9e37_79b1) & 0xffff_ffff) >> 11 ^ i >> 12) as u8
}
const PATTERN_LEN: u64 = 5 * 4096 + 123;
const HELLO: &[u8] = b"Hello from the file server.\n";
const NOTE: &[u8] = b"A file three directories down: /docs/nested/deep/note.txt\n";
/// Passes over `/data/pattern.bin` for the rate.
const RATE_PASSES: u64 = 40;

fn rdtsc() -> u64 {
    // SAFETY: rdtsc only reads the time-stamp counter (user mode may).
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn main(env: &mut Env) -> u64 {
    env.plan(10);
    let Some(ep) = env.info.cap("fs_ep") else {
        println!("TEST FAIL client-file-reader/setup: no fs_ep cap");
        return 1;
    };
    let mut fs = FileClient::new(ep);

    let hello = fs.open("/hello.txt", Rights::READ).and_then(|mut f| {
        let st = f.stat()?;
        let mut buf = [0u8; 64];
        let n = f.read(&mut buf)?;
        let end = f.read(&mut buf[n..])?;
        Ok((st, buf, n, end))
    });
    env.check(
        "small-file",
        matches!(&hello, Ok((st, buf, n, 0)) if st.kind == FileKind::Regular
            && st.size == HELLO.len() as u64 && &buf[..*n] == HELLO),
        format_args!("{hello:?}"),
    );

    let mut whole = vec![0u8; PATTERN_LEN as usize];
    let r = fs
        .open("/data/pattern.bin", Rights::READ)
        .and_then(|mut f| f.read_exact(&mut whole).map_err(read_error));
    let bad = whole
        .iter()
        .enumerate()
        .position(|(i, &b)| b != pattern(i as u64));
    env.check(
        "multi-page-file",
        r.is_ok() && bad.is_none(),
        format_args!("{r:?}, first wrong byte {bad:?}"),
    );

    // Pieces straddling block boundaries, read after seeks.
    let pieces = fs
        .open("/data/pattern.bin", Rights::READ)
        .and_then(|mut f| {
            for (at, len) in [
                (4090u64, 20usize),
                (8191, 2),
                (12_000, READ_MAX),
                (PATTERN_LEN - 3, 3),
            ] {
                f.seek(SeekFrom::Start(at))?;
                let mut buf = vec![0u8; len];
                f.read_exact(&mut buf).map_err(read_error)?;
                if let Some(k) = (0..len).find(|&k| buf[k] != pattern(at + k as u64)) {
                    return Ok(Some(at + k as u64));
                }
            }
            Ok(None)
        });
    env.check(
        "across-blocks",
        matches!(pieces, Ok(None)),
        format_args!("{pieces:?}"),
    );

    let note = fs
        .open("/docs/nested/deep/note.txt", Rights::READ)
        .and_then(|mut f| {
            let mut buf = [0u8; 128];
            let n = f.read(&mut buf)?;
            Ok(buf[..n] == *NOTE)
        });
    env.check("nested-file", note == Ok(true), format_args!("{note:?}"));

    let hole = fs.open("/data/sparse.bin", Rights::READ).and_then(|mut f| {
        let mut buf = vec![0xffu8; 3 * 4096];
        f.read_exact(&mut buf).map_err(read_error)?;
        Ok(buf[4096..8192].iter().all(|&b| b == 0) && buf[0] == b's' && buf[8192] == b's')
    });
    env.check(
        "hole-reads-zeros",
        hole == Ok(true),
        format_args!("{hole:?}"),
    );

    let dir = fs
        .open("/docs/nested", Rights::READ)
        .and_then(|mut d| Ok((d.stat()?.kind, d.read(&mut [0u8; 4]))));
    env.check(
        "directory-stat",
        matches!(dir, Ok((FileKind::Directory, Err(FileError::IsADirectory)))),
        format_args!("{dir:?}"),
    );

    let missing = fs.open("/no/such/file.txt", Rights::READ).map(drop);
    env.check_file("missing-path", missing, FileError::NotFound);
    let through_file = fs.open("/hello.txt/inside", Rights::READ).map(drop);
    env.check_file("file-as-directory", through_file, FileError::NotADirectory);
    let relative = fs.open("hello.txt", Rights::READ).map(drop);
    env.check_file("relative-path", relative, FileError::BadPath);

    // The rate of sequential reads in calls of READ_MAX bytes.
    let start = rdtsc();
    let rate = fs
        .open("/data/pattern.bin", Rights::READ)
        .and_then(|mut f| {
            let mut buf = vec![0u8; PATTERN_LEN as usize];
            for _ in 0..RATE_PASSES {
                f.seek(SeekFrom::Start(0))?;
                f.read_exact(&mut buf).map_err(read_error)?;
            }
            Ok(buf == whole)
        });
    let cycles = rdtsc() - start;
    let bytes = RATE_PASSES * PATTERN_LEN;
    let calls = RATE_PASSES * PATTERN_LEN.div_ceil(READ_MAX as u64);
    println!(
        "BENCH file-read-cycles-per-kib {} ({} KiB in {} calls of up to {READ_MAX} bytes, {} cycles per call)",
        cycles * 1024 / bytes,
        bytes >> 10,
        calls,
        cycles / calls
    );
    env.check(
        "sequential-rereads",
        rate == Ok(true),
        format_args!("{rate:?}"),
    );
    env.failures()
}

/// `read_exact`'s error as the server's.
fn read_error(e: file_api::embedded_io::ReadExactError<FileError>) -> FileError {
    match e {
        file_api::embedded_io::ReadExactError::UnexpectedEof => FileError::PastEnd,
        file_api::embedded_io::ReadExactError::Other(e) => e,
    }
}

/// `check_err` for the file server's errors.
trait CheckFile {
    fn check_file(&mut self, what: &str, r: Result<(), FileError>, want: FileError) -> bool;
}

impl CheckFile for Env {
    fn check_file(&mut self, what: &str, r: Result<(), FileError>, want: FileError) -> bool {
        self.check(
            what,
            r == Err(want),
            format_args!("got {r:?}, expected Err({want:?})"),
        )
    }
}
