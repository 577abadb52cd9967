//! System test: a client writing through the file server — a known pattern written in place into an existing file (`cargo qemu test` checks it in the image on the host after the boot), read back through the same and a new handle, synced; and the writes the server refuses: growing a file, filling a hole, writing through a read-only handle or into a read-only file.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use file_api::embedded_io::{Read, Seek, SeekFrom, Write};
use file_api::{FileClient, FileError, Rights, Stat};
use vm_client::{println, Env};

vm_client::client_main!(main);

/// What this program writes: bytes `START..END` of `PATH` become
/// [`written`] of their offset. Keep in step with `qemu/src/files.rs`,
/// which checks them in the image after the boot.
const PATH: &str = "/write/target.bin";
const START: u64 = 3000;
const END: u64 = 9000;

/// The byte written at file offset `offset`.
fn written(offset: u64) -> u8 {
    (offset.wrapping_mul(7).wrapping_add(offset >> 8) % 251) as u8 ^ 0xa5
}

fn main(env: &mut Env) -> u64 {
    env.plan(8);
    let Some(ep) = env.info.cap("fs_ep") else {
        println!("TEST FAIL client-file-writer/setup: no fs_ep cap");
        return 1;
    };
    let mut fs = FileClient::new(ep);
    let data: Vec<u8> = (START..END).map(written).collect();

    let size = fs.open(PATH, Rights::RW).and_then(|mut f| {
        let st: Stat = f.stat()?;
        f.seek(SeekFrom::Start(START))?;
        f.write_all(&data)?;
        f.flush()?;
        Ok(st.size)
    });
    env.check(
        "write-in-place",
        matches!(size, Ok(s) if s > END),
        format_args!("{size:?}"),
    );
    let size = size.unwrap_or(0);

    // Read back through a new handle: the bytes around the range too.
    let back = fs.open(PATH, Rights::READ).and_then(|mut f| {
        let mut buf = vec![0u8; (END - START + 200) as usize];
        f.seek(SeekFrom::Start(START - 100))?;
        f.read_exact(&mut buf).map_err(|_| FileError::PastEnd)?;
        let inside = buf[100..100 + data.len()] == data[..];
        let edges = buf[99] != written(START - 1) || buf[100 + data.len()] != written(END);
        Ok(inside && edges)
    });
    env.check("read-back", back == Ok(true), format_args!("{back:?}"));

    // Growing is refused, whole: at the end, across it, far past it.
    let grow = fs.open_handle(PATH, Rights::RW).and_then(|h| {
        let r = [
            fs.write_at(h, size, b"x"),
            fs.write_at(h, size - 2, b"xyz"),
            fs.write_at(h, 1 << 40, b"x"),
        ];
        fs.close(h)?;
        Ok(r)
    });
    env.check(
        "growing-refused",
        matches!(grow, Ok(r) if r.iter().all(|e| *e == Err(FileError::WouldGrow))),
        format_args!("{grow:?}"),
    );

    let hole = fs.open("/data/sparse.bin", Rights::RW).and_then(|mut f| {
        f.seek(SeekFrom::Start(4096 + 10))?;
        f.write(b"into the hole").map(drop)
    });
    env.check_file("hole-refused", hole, FileError::Hole);

    let ro = fs
        .open("/hello.txt", Rights::READ)
        .and_then(|mut f| f.write(b"J").map(drop));
    env.check_file("read-only-handle", ro, FileError::Protection);

    let dir = fs.open("/docs", Rights::RW).map(drop);
    env.check_file("directory-not-writable", dir, FileError::IsADirectory);

    // The last byte of the file, changed and put back (the host check
    // sees it unchanged).
    let tail = fs.open(PATH, Rights::RW).and_then(|mut f| {
        let end = f.seek(SeekFrom::End(-1))?;
        let mut old = [0u8; 1];
        f.read_exact(&mut old).map_err(|_| FileError::PastEnd)?;
        f.seek(SeekFrom::Start(end))?;
        f.write_all(&[!old[0]])?;
        f.seek(SeekFrom::Start(end))?;
        let mut new = [0u8; 1];
        f.read_exact(&mut new).map_err(|_| FileError::PastEnd)?;
        f.seek(SeekFrom::Start(end))?;
        f.write_all(&old)?;
        Ok(new[0] == !old[0])
    });
    env.check("last-byte", tail == Ok(true), format_args!("{tail:?}"));

    let synced = fs.open(PATH, Rights::READ).and_then(|mut f| f.flush());
    env.check("sync", synced.is_ok(), format_args!("{synced:?}"));
    env.failures()
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
