//! System test: one file mapped shared and writable by two clients (docs/pager.md): each writes its own pages, sees the other's through its own mapping before anyone syncs (one cached object), `msync(SYNC)`s its pages, and after both synced reads the whole file through the file server's `read`; a third instance that never maps the file reads it too.
//!
//! One program, three components of `capdl/files.spec`, told apart by the
//! last part of the component name:
//!
//! * `...-a` writes pages [`PAGES_A`] of [`PATH`], `...-b` pages
//!   [`PAGES_B`]; what each writes is seeded by its own component name
//!   ([`written`]), so neither passes with the other's bytes.
//! * `...-check` waits until both writers synced, then reads the file
//!   through `read` only (the bytes `cargo qemu test` should also find
//!   in the image after the boot: [`expected`]).
//!
//! They coordinate through a shared-memory object named [`SHM`] (the
//! spec puts the three in one name group): word `r` is role `r`'s
//! progress ([`JOINED`] .. [`DONE`]). Every wait is a bounded number of
//! yields and fails with a clear `TEST FAIL` line.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use file_api::embedded_io::Read;
use file_api::{FileClient, Rights};
use vm_client::vm_api::{ApiError, Handle, MmapRequest, MsyncFlags, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

/// The file both writers map: 8 pages of [`original`] bytes (non-zero,
/// so `mke2fs -d` gives every page a block). Keep in step with
/// `files/map/two-writers.bin`.
const PATH: &str = "/map/two-writers.bin";
const PAGE: u64 = 4096;
const SIZE: u64 = 8 * PAGE;
/// The pages writer `a` writes and syncs (contiguous: one `msync`).
const PAGES_A: [u64; 2] = [1, 2];
/// The pages writer `b` writes and syncs.
const PAGES_B: [u64; 2] = [5, 6];
/// The shared-memory object the three coordinate through.
const SHM: &str = "file-share";
/// Progress words (one per role, in the shared object's first page).
const JOINED: u64 = 1;
const WRITTEN: u64 = 2;
const SEEN: u64 = 3;
const SYNCED: u64 = 4;
const DONE: u64 = 5;
/// Roles: the index of each one's progress word.
const A: usize = 0;
const B: usize = 1;
const CHECK: usize = 2;
/// Most yields one wait takes before it gives up.
const WAIT_YIELDS: u64 = 500_000;

/// Byte `i` of the file as `files/` has it.
fn original(i: u64) -> u8 {
    ((i * 11 + (i >> 12) * 17 + 3) % 253 + 1) as u8
}

/// FNV-1a (32 bits) of a component name: the seed of what it writes.
fn seed(name: &str) -> u64 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    u64::from(h)
}

/// What the writer whose name has seed `seed` writes at file offset `i`.
fn written(seed: u64, i: u64) -> u8 {
    ((i * 29 + (i >> 12) * 7 + seed) % 253) as u8 ^ 0x3c
}

/// The pages writer `role` writes.
fn pages(role: usize) -> [u64; 2] {
    if role == A {
        PAGES_A
    } else {
        PAGES_B
    }
}

/// The file once both writers synced: `a`'s pages from `seed_a`, `b`'s
/// from `seed_b`, the rest as in `files/`.
fn expected(seed_a: u64, seed_b: u64, i: u64) -> u8 {
    let p = i / PAGE;
    if PAGES_A.contains(&p) {
        written(seed_a, i)
    } else if PAGES_B.contains(&p) {
        written(seed_b, i)
    } else {
        original(i)
    }
}

/// The shared progress words.
struct Board(u64);

impl Board {
    fn get(&self, role: usize) -> u64 {
        // SAFETY: word `role` (< 3) of the shared object's first page,
        // mapped read-write for good (`join`); volatile: the other
        // instances write it.
        unsafe { ((self.0 + role as u64 * 8) as *const u64).read_volatile() }
    }

    fn set(&self, role: usize, v: u64) {
        // SAFETY: as in `get`.
        unsafe { ((self.0 + role as u64 * 8) as *mut u64).write_volatile(v) }
    }

    /// Yields until `done()` holds, at most [`WAIT_YIELDS`] times;
    /// returns whether it came to hold.
    fn wait(&self, mut done: impl FnMut(&Self) -> bool) -> bool {
        for _ in 0..WAIT_YIELDS {
            if done(self) {
                return true;
            }
            sel4::yield_now();
        }
        done(self)
    }
}

/// Creates or opens [`SHM`], maps its first page, marks `role` joined
/// and waits for all three to join (so the name's lifetime, its
/// creator's, no longer matters).
fn join(env: &mut Env, role: usize) -> Result<Board, String> {
    let mut tries = 0u64;
    let h = loop {
        let r = match env.vm.shm_create(SHM, PAGE, Prot::RW) {
            Err(ApiError::NameExists) => env.vm.shm_open(SHM, Prot::RW),
            r => r,
        };
        match r {
            // Unlinked between the two calls (its creator ended): again.
            Err(ApiError::NoSuchName) if tries < 100 => tries += 1,
            r => break r.map_err(|e| alloc::format!("shm {SHM}: {e:?}"))?,
        }
    };
    let base = env
        .vm
        .mmap(&MmapRequest::object(h, 0, PAGE, Prot::RW))
        .map_err(|e| alloc::format!("mmap {SHM}: {e:?}"))?;
    let board = Board(base);
    board.set(role, JOINED);
    if !board.wait(|b| (0..3).all(|r| b.get(r) >= JOINED)) {
        return Err(alloc::format!(
            "the others never joined: progress {:?}",
            [board.get(A), board.get(B), board.get(CHECK)]
        ));
    }
    Ok(board)
}

/// The first offset of the file, read through the file server, whose
/// byte is not `want(offset)`, if any.
fn read_back(fs: &mut FileClient, want: impl Fn(u64) -> u8) -> Result<Option<u64>, String> {
    let mut f = fs
        .open(PATH, Rights::READ)
        .map_err(|e| alloc::format!("open {PATH}: {e:?}"))?;
    let mut all = vec![0u8; SIZE as usize];
    f.read_exact(&mut all)
        .map_err(|e| alloc::format!("read {PATH}: {e:?}"))?;
    Ok((0..SIZE).find(|&i| all[i as usize] != want(i)))
}

/// The first offset in pages `ps` of the mapping at `base` whose byte is
/// not `want(offset)`, if any.
fn first_wrong(base: u64, ps: [u64; 2], want: impl Fn(u64) -> u8) -> Option<u64> {
    ps.iter().flat_map(|p| p * PAGE..(p + 1) * PAGE).find(|&i| {
        // SAFETY: `base..base + SIZE` is a live shared mapping of the
        // file (the VM server pages it in from the file server).
        let b = unsafe { core::ptr::read_volatile((base + i) as *const u8) };
        b != want(i)
    })
}

fn main(env: &mut Env) -> u64 {
    let name = String::from(env.name());
    let Some((prefix, suffix)) = name.rsplit_once('-') else {
        println!("TEST FAIL {name}/setup: a name ending -a, -b or -check");
        return 1;
    };
    let role = match suffix {
        "a" => A,
        "b" => B,
        _ => CHECK,
    };
    let seed_a = seed(&alloc::format!("{prefix}-a"));
    let seed_b = seed(&alloc::format!("{prefix}-b"));
    env.plan(if role == CHECK { 1 } else { 5 });
    let Some(ep) = env.info.cap("fs_ep") else {
        println!("TEST FAIL {name}/setup: no fs_ep cap");
        return 1;
    };
    let mut fs = FileClient::new(ep);
    let board = match join(env, role) {
        Ok(b) => b,
        Err(e) => {
            println!("TEST FAIL {name}/setup: {e}");
            return 1;
        }
    };
    let both_synced = |b: &Board| b.get(A) >= SYNCED && b.get(B) >= SYNCED;
    if role == CHECK {
        // The file after both writers synced, read by a client that never
        // mapped it.
        let ready = board.wait(both_synced);
        let back = read_back(&mut fs, |i| expected(seed_a, seed_b, i));
        env.check(
            "read-after-both-synced",
            ready && back == Ok(None),
            format_args!(
                "writers' progress {:?}, first wrong byte {back:?}",
                [board.get(A), board.get(B)]
            ),
        );
        board.set(role, DONE);
        return env.failures();
    }
    let other = 1 - role;
    let (mine, theirs) = if role == A {
        (seed_a, seed_b)
    } else {
        (seed_b, seed_a)
    };

    // semantics: map-shared-file
    let fh = fs.open_handle(PATH, Rights::RW);
    let mapped = fh
        .map_err(|e| alloc::format!("open: {e:?}"))
        .and_then(|fh| fs.map(fh, true).map_err(|e| alloc::format!("map: {e:?}")))
        .and_then(|vh| {
            env.vm
                .mmap(&MmapRequest::object(Handle(vh), 0, SIZE, Prot::RW))
                .map_err(|e| alloc::format!("mmap: {e:?}"))
        });
    env.check(
        "map-shared-writable",
        mapped.is_ok(),
        format_args!("{mapped:?}"),
    );
    let Ok(base) = mapped else {
        // Let the others' waits end at once rather than time out.
        board.set(role, DONE);
        return env.failures();
    };
    let own = first_wrong(base, pages(role), original);
    env.check(
        "own-pages-read-the-file",
        own.is_none(),
        format_args!("first wrong byte {own:?}"),
    );
    for p in pages(role) {
        for i in p * PAGE..(p + 1) * PAGE {
            // SAFETY: inside the shared mapping, mapped read-write.
            unsafe { core::ptr::write_volatile((base + i) as *mut u8, written(mine, i)) };
        }
    }
    board.set(role, WRITTEN);

    // One cached object: the other's pages show in this mapping before
    // either of us syncs (each syncs only after the other saw its pages).
    let mut wrong = None;
    let seen = board.wait(|b| {
        wrong = first_wrong(base, pages(other), |i| written(theirs, i));
        b.get(other) >= WRITTEN && wrong.is_none()
    });
    env.check(
        "sees-other-writer-pages",
        seen,
        format_args!(
            "the other writer's progress {}, first byte of its pages not yet its pattern {wrong:?}",
            board.get(other)
        ),
    );
    board.set(role, SEEN);
    let both_seen = board.wait(|b| b.get(other) >= SEEN);

    // semantics: msync-sync
    let [first, last] = pages(role);
    let synced = env.vm.msync(
        base + first * PAGE,
        (last + 1 - first) * PAGE,
        MsyncFlags::SYNC,
    );
    env.check(
        "msync-own-pages",
        synced.is_ok(),
        format_args!("{synced:?}"),
    );
    board.set(role, SYNCED);

    // Both synced: the file server's read sees both writers' pages.
    let ready = both_seen && board.wait(both_synced);
    let back = read_back(&mut fs, |i| expected(seed_a, seed_b, i));
    env.check(
        "read-after-both-synced",
        ready && back == Ok(None),
        format_args!(
            "the other writer's progress {}, first wrong byte {back:?}",
            board.get(other)
        ),
    );
    let _ = env.vm.munmap(base, SIZE);
    if let Ok(fh) = fh {
        let _ = fs.close(fh);
    }
    board.set(role, DONE);
    env.failures()
}
