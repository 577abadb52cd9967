//! System test: a file of the file server mapped through the VM server (docs/pager.md) — a private view reads the file and keeps its writes to itself, a fresh shared view still shows the file, a shared writable view's pages reach the file by `msync(SYNC)` (read back through the file server's `read`, and by `cargo qemu test` in the image on the host), and `Map`'s refusals.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use file_api::embedded_io::Read;
use file_api::{FileClient, FileError, Handle as FileHandle, Rights};
use vm_client::vm_api::{Handle, MapFlags, MmapRequest, MsyncFlags, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

/// The file this program maps: 8 pages of [`original`] bytes. Keep in
/// step with `files/README.txt` and `qemu/src/files.rs`, which checks
/// the image after the boot.
const PATH: &str = "/map/shared.bin";
const PAGE: u64 = 4096;
const SIZE: u64 = 8 * PAGE;
/// The pages the shared writable view writes and syncs: each becomes
/// [`synced`] of its file offset.
const SYNCED_PAGES: [u64; 2] = [2, 5];

/// Byte `i` of the file as `files/` has it.
fn original(i: u64) -> u8 {
    ((i * 7 + (i >> 12) * 13 + 1) % 251) as u8
}

/// What the shared view writes at file offset `i` (pages 2 and 5).
fn synced(i: u64) -> u8 {
    ((i * 13 + 5) % 241) as u8 ^ 0x5c
}

/// What the private view writes at offset `i` (never reaches the file).
fn private(i: u64) -> u8 {
    !original(i) ^ (i >> 12) as u8
}

/// The file's bytes after this program: `synced` in the synced pages.
fn expected(i: u64) -> u8 {
    if SYNCED_PAGES.contains(&(i / PAGE)) {
        synced(i)
    } else {
        original(i)
    }
}

/// The first offset in `[0, SIZE)` of the mapping at `base` whose byte
/// is not `want(offset)`, if any.
fn first_wrong(base: u64, want: impl Fn(u64) -> u8) -> Option<u64> {
    (0..SIZE).find(|&i| {
        // SAFETY: `base..base + SIZE` is a live mapping of this program
        // (the VM server pages it in from the file server on a fault).
        let b = unsafe { core::ptr::read_volatile((base + i) as *const u8) };
        b != want(i)
    })
}

/// Maps VM handle `h` (`len` bytes) with `prot`, shared or private.
fn map(
    env: &mut Env,
    h: u32,
    prot: Prot,
    shared: bool,
) -> Result<u64, vm_client::vm_api::ApiError> {
    let mut req = MmapRequest::object(Handle(h), 0, SIZE, prot);
    if !shared {
        req.flags = MapFlags::PRIVATE;
    }
    env.vm.mmap(&req)
}

fn main(env: &mut Env) -> u64 {
    env.plan(10);
    let Some(ep) = env.info.cap("fs_ep") else {
        println!("TEST FAIL client-file-map/setup: no fs_ep cap");
        return 1;
    };
    let mut fs = FileClient::new(ep);
    let fh = match fs.open_handle(PATH, Rights::RW) {
        Ok(h) => h,
        Err(e) => {
            println!("TEST FAIL client-file-map/setup: open {PATH}: {e:?}");
            return 1;
        }
    };

    // A private view: the file's bytes, then writes of its own.
    // semantics: map-private-file
    let private_view = fs
        .map(fh, false)
        .map_err(|e| alloc::format!("{e:?}"))
        .and_then(|h| map(env, h, Prot::RW, false).map_err(|e| alloc::format!("{e:?}")));
    let pv = private_view.clone().unwrap_or(0);
    let read = private_view.map(|base| first_wrong(base, original));
    env.check(
        "private-reads-the-file",
        read == Ok(None),
        format_args!("{read:?}"),
    );
    if pv != 0 {
        for i in (0..SIZE).step_by(64) {
            // SAFETY: inside the private mapping, mapped read-write.
            unsafe { core::ptr::write_volatile((pv + i) as *mut u8, private(i)) };
        }
    }
    let own = first_wrong(pv, |i| if i % 64 == 0 { private(i) } else { original(i) });
    env.check(
        "private-writes-stay",
        pv != 0 && own.is_none(),
        format_args!("first wrong byte {own:?}"),
    );

    // A fresh shared view still shows the file.
    // semantics: map-shared-file
    let fresh = fs
        .map(fh, false)
        .map_err(|e| alloc::format!("{e:?}"))
        .and_then(|h| map(env, h, Prot::READ, true).map_err(|e| alloc::format!("{e:?}")));
    let rv = fresh.clone().unwrap_or(0);
    let seen = fresh.map(|base| first_wrong(base, original));
    env.check(
        "shared-view-shows-the-file",
        seen == Ok(None),
        format_args!("{seen:?}"),
    );

    // A shared writable view: two pages rewritten, msync(SYNC), unmap.
    // semantics: msync-sync
    let shared = fs
        .map(fh, true)
        .map_err(|e| alloc::format!("{e:?}"))
        .and_then(|h| map(env, h, Prot::RW, true).map_err(|e| alloc::format!("{e:?}")));
    let synced_ok = shared.clone().and_then(|sv| {
        for p in SYNCED_PAGES {
            for i in p * PAGE..(p + 1) * PAGE {
                // SAFETY: inside the shared mapping, mapped read-write.
                unsafe { core::ptr::write_volatile((sv + i) as *mut u8, synced(i)) };
            }
        }
        env.vm
            .msync(sv, SIZE, MsyncFlags::SYNC)
            .map_err(|e| alloc::format!("msync: {e:?}"))?;
        env.vm
            .munmap(sv, SIZE)
            .map_err(|e| alloc::format!("munmap: {e:?}"))
    });
    env.check(
        "shared-msync-sync",
        synced_ok.is_ok(),
        format_args!("{synced_ok:?}"),
    );
    // One cache: the read-only shared view sees the shared writes; the
    // private view keeps its own bytes and sees the rest of the file.
    let one = first_wrong(rv, expected);
    env.check(
        "one-cache-for-shared-views",
        rv != 0 && one.is_none(),
        format_args!("first wrong byte {one:?}"),
    );

    // The file server's read sees the synced pages and no private byte.
    let back = fs.open(PATH, Rights::READ).and_then(|mut f| {
        let mut all = vec![0u8; SIZE as usize];
        f.read_exact(&mut all).map_err(|_| FileError::PastEnd)?;
        Ok((0..SIZE).find(|&i| all[i as usize] != expected(i)))
    });
    env.check(
        "read-back-through-the-file-server",
        back == Ok(None),
        format_args!("first wrong byte {back:?}"),
    );
    for base in [pv, rv] {
        if base != 0 {
            let _ = env.vm.munmap(base, SIZE);
        }
    }

    // Map's refusals.
    let ro = fs.open_handle("/hello.txt", Rights::READ);
    let r = ro.and_then(|h| fs.map(h, true));
    env.check(
        "map-writable-needs-write",
        r == Err(FileError::Protection),
        format_args!("{r:?}"),
    );
    let r = fs
        .open_handle("/docs", Rights::READ)
        .and_then(|h| fs.map(h, false));
    env.check(
        "map-a-directory",
        r == Err(FileError::IsADirectory),
        format_args!("{r:?}"),
    );
    let r = fs.map(FileHandle(999), false);
    env.check(
        "map-a-bad-handle",
        r == Err(FileError::BadHandle),
        format_args!("{r:?}"),
    );
    let closed = fs.close(fh);
    env.check("close", closed.is_ok(), format_args!("{closed:?}"));
    env.failures()
}
