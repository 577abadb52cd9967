//! System test: a pager's death reaches only the clients that mapped its objects (docs/pager.md, "Pager death"). One program, two components of `capdl/pager-death.spec`:
//!
//! * `client-death-mapper` (a name ending `mapper`) maps [`PATH`]
//!   and reads it, then waits for the other to be gone. It then checks
//!   that the VM server serves it as ever (anonymous memory, a request),
//!   that mapping the dead file's handle again is refused with
//!   `PagerDead`, and announces that its next touch of its old mapping
//!   stops it with `PagerDead`: the cached pages died with the pager.
//! * `client-pager-death` maps the same file, drops page [`VICTIM`] from
//!   the cache (`msync(INVALIDATE)`), arms the file server's
//!   `CrashOnNextPageIn` test hook, and touches that page: the file
//!   server dies serving its page-in (a fault of its own thread, which
//!   the spec sends to the VM server), and the VM server stops this
//!   client with `PagerDead`.
//!
//! Neither calls the file server after its death: a `Call` to a dead
//! server blocks for good (seL4 has no timeout on it).
//!
//! They meet through the shared-memory object [`SHM`] (one name group in
//! the spec), created by the mapper, which outlives the other.
#![no_std]
#![no_main]

use file_api::{FileClient, FileError, Handle as FileHandle, Rights};
use sel4_root_task::control::{expect_exit, STATUS_KILLED};
use vm_client::vm_api::{ApiError, Handle, MmapRequest, MsyncFlags, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

/// The file both map: 8 pages of [`original`] bytes, read only here.
/// Keep in step with `files/map/pagein-fail.bin`.
const PATH: &str = "/map/pagein-fail.bin";
const PAGE: u64 = 4096;
const SIZE: u64 = 8 * PAGE;
/// The page whose page-in the file server dies serving.
const VICTIM: u64 = 5;
/// The shared-memory object the two meet through: word 0 is the
/// progress of the two.
const SHM: &str = "pager-death";
const MAPPED: u64 = 1;
const ARMED: u64 = 2;
const SURVIVED: u64 = 3;
/// Most yields one wait takes before it gives up.
const WAIT_YIELDS: u64 = 500_000;

/// Byte `i` of the file as `files/` has it.
fn original(i: u64) -> u8 {
    ((i * 5 + (i >> 12) * 29 + 2) % 247 + 1) as u8
}

/// Byte `i` of the mapping at `base`.
fn byte(base: u64, i: u64) -> u8 {
    // SAFETY: inside the file's read-only shared mapping; a fault the VM
    // server refuses stops this thread here.
    unsafe { ((base + i) as *const u8).read_volatile() }
}

/// Opens [`PATH`] for reading and maps the whole file shared, read-only;
/// returns the file handle, the VM handle and the mapping's address.
fn map_file(env: &mut Env, fs: &mut FileClient) -> Result<(FileHandle, Handle, u64), FileError> {
    let fh = fs.open_handle(PATH, Rights::READ)?;
    let vh = Handle(fs.map(fh, false)?);
    let base = env
        .vm
        .mmap(&MmapRequest::object(vh, 0, SIZE, Prot::READ))
        .map_err(|_| FileError::MapRefused)?;
    Ok((fh, vh, base))
}

fn main(env: &mut Env) -> u64 {
    let Some(ep) = env.info.cap("fs_ep") else {
        println!("TEST FAIL {}/setup: no fs_ep cap", env.name());
        return 1;
    };
    let fs = FileClient::new(ep);
    if env.name().ends_with("mapper") {
        mapper(env, fs)
    } else {
        faulting(env, fs)
    }
}

/// Maps the file, arms the crash hook, and touches a page the file
/// server dies paging in; never returns unless the VM server lets it on.
fn faulting(env: &mut Env, mut fs: FileClient) -> u64 {
    env.plan(3);
    let board = env.board(SHM, false, WAIT_YIELDS);
    let mapped = map_file(env, &mut fs);
    let (Ok(board), Ok((fh, _, base))) = (board, mapped) else {
        println!(
            "TEST FAIL {}/setup: {SHM}: {board:?}, {PATH}: {mapped:?}",
            env.name()
        );
        return 1;
    };
    let joined = board.wait_for(0, 0, MAPPED, WAIT_YIELDS);
    env.check(
        "the-mapper-mapped-first",
        joined,
        format_args!("progress word {}", board.read(0, 0)),
    );
    // The mapper's reads cached the whole file (read-ahead): drop the
    // victim page so touching it needs a page-in.
    let r = env
        .vm
        .msync(base + VICTIM * PAGE, PAGE, MsyncFlags::INVALIDATE);
    env.check("drop-the-page", r.is_ok(), format_args!("{r:?}"));
    let r = fs.crash_on_next_page_in(fh);
    env.check("arm-the-crash-hook", r.is_ok(), format_args!("{r:?}"));

    let failures = env.failures();
    expect_exit(if failures == 0 {
        STATUS_KILLED + ApiError::PagerDead.code()
    } else {
        failures
    });
    board.write(0, 0, ARMED);
    println!(
        "{}: touching page {VICTIM} of {PATH}; the file server dies paging it in, and the VM server must stop me",
        env.name()
    );
    let b = byte(base, VICTIM * PAGE);
    board.write(0, 0, SURVIVED);
    println!(
        "TEST FAIL {}/stopped-by-the-pager-death: read {b:#04x} instead",
        env.name()
    );
    failures + 1
}

/// Maps and reads the file, waits for the pager's death, checks that
/// only its file mapping noticed, and touches it last.
fn mapper(env: &mut Env, mut fs: FileClient) -> u64 {
    env.plan(4);
    let board = env.board(SHM, true, 0);
    let mapped = map_file(env, &mut fs);
    let (Ok(board), Ok((_, vh, base))) = (board, mapped) else {
        println!(
            "TEST FAIL {}/setup: {SHM}: {board:?}, {PATH}: {mapped:?}",
            env.name()
        );
        return 1;
    };
    let wrong = (0..SIZE).find(|&i| byte(base, i) != original(i));
    env.check(
        "reads-the-file-before",
        wrong.is_none(),
        format_args!("first wrong byte at {wrong:?}"),
    );
    board.write(0, 0, MAPPED);
    let armed = board.wait_for(0, 0, ARMED, WAIT_YIELDS);
    // The faulting client gone: the pager died and the VM server knows.
    let alone = armed && env.wait_spaces(1);
    let state = board.read(0, 0);
    env.check(
        "faulting-client-stopped",
        armed && alone && state == ARMED,
        format_args!(
            "armed {armed}, every other client gone {alone}, its progress word {state} ({ARMED} armed, {SURVIVED} survived)"
        ),
    );
    // Anonymous memory and requests go on as ever.
    let anon = env.vm.mmap(&MmapRequest::anon(16 * PAGE, Prot::RW));
    let anon_ok = anon.is_ok_and(|a| {
        (0..16).for_each(|p| {
            // SAFETY: inside the fresh anonymous mapping.
            unsafe { ((a + p * PAGE) as *mut u64).write_volatile(p * 31 + 7) }
        });
        // SAFETY: as above.
        (0..16).all(|p| unsafe { ((a + p * PAGE) as *const u64).read_volatile() } == p * 31 + 7)
            && env.vm.munmap(a, 16 * PAGE).is_ok()
    });
    let ping = env.vm.ping(42);
    env.check(
        "served-as-ever",
        anon_ok && ping == Ok(42),
        format_args!("anonymous mapping {anon:?}, ping {ping:?}"),
    );
    let again = env.vm.mmap(&MmapRequest::object(vh, 0, SIZE, Prot::READ));
    env.check(
        "mapping-the-dead-file-refused",
        again == Err(ApiError::PagerDead),
        format_args!("{again:?}"),
    );
    let failures = env.failures();
    expect_exit(if failures == 0 {
        STATUS_KILLED + ApiError::PagerDead.code()
    } else {
        failures
    });
    println!(
        "{}: touching my old mapping of {PATH}; its pages died with the pager, so the VM server must stop me",
        env.name()
    );
    let b = byte(base, 0);
    println!(
        "TEST FAIL {}/stopped-at-the-dead-mapping: read {b:#04x} instead",
        env.name()
    );
    failures + 1
}
