//! System test: a pager error reaches only the faulting client (docs/pager.md). One program, two components of `capdl/files.spec`:
//!
//! * `client-file-pagein-fail` maps [`PATH`], arms the file server's
//!   `FailNextPageIn` test hook for its own handle (the next page-in of
//!   the file answers `Failed(Io)`), announces the exit status to expect
//!   (`STATUS_KILLED + Io`) and touches a page no one has paged in: the
//!   VM server must stop it at that fault.
//! * `client-file-bystander` (a name ending `bystander`) waits until
//!   the other is armed and every other client has ended (so no page-in
//!   of its own can meet the armed failure), then maps the same file and
//!   reads every page,
//!   the one whose page-in failed included: the failure cost nothing but
//!   the faulting client.
//!
//! They meet through the shared-memory object [`SHM`] (one name group in
//! the spec), created by the bystander, which outlives the other.
#![no_std]
#![no_main]

use file_api::{FileClient, FileError, Handle as FileHandle, Rights};
use sel4_root_task::control::{expect_exit, STATUS_KILLED};
use vm_client::vm_api::{ApiError, Handle, MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

/// The file both map: 8 pages of [`original`] bytes (non-zero, so every
/// page has a block). Keep in step with `files/map/pagein-fail.bin`;
/// nothing writes it.
const PATH: &str = "/map/pagein-fail.bin";
const PAGE: u64 = 4096;
const SIZE: u64 = 8 * PAGE;
/// The page the faulting client touches (its fault's page-in fails).
const VICTIM: u64 = 3;
/// The shared-memory object the two meet through: word 0 is the
/// faulting client's progress.
const SHM: &str = "file-pagein-fail";
const JOINED: u64 = 1;
const ARMED: u64 = 2;
const SURVIVED: u64 = 3;
/// Most yields one wait takes before it gives up.
const WAIT_YIELDS: u64 = 500_000;

/// Byte `i` of the file as `files/` has it.
fn original(i: u64) -> u8 {
    ((i * 5 + (i >> 12) * 29 + 2) % 247 + 1) as u8
}

/// Opens [`PATH`] for reading and maps the whole file shared, read-only.
fn map_file(env: &mut Env, fs: &mut FileClient) -> Result<(FileHandle, u64), FileError> {
    let fh = fs.open_handle(PATH, Rights::READ)?;
    let vh = fs.map(fh, false)?;
    let base = env
        .vm
        .mmap(&MmapRequest::object(Handle(vh), 0, SIZE, Prot::READ))
        .map_err(|_| FileError::MapRefused)?;
    Ok((fh, base))
}

fn main(env: &mut Env) -> u64 {
    let Some(ep) = env.info.cap("fs_ep") else {
        println!("TEST FAIL {}/setup: no fs_ep cap", env.name());
        return 1;
    };
    let fs = FileClient::new(ep);
    if env.name().ends_with("bystander") {
        bystander(env, fs)
    } else {
        faulting(env, fs)
    }
}

/// Arms the hook, then touches a page whose page-in fails; never returns
/// unless the VM server lets it through.
fn faulting(env: &mut Env, mut fs: FileClient) -> u64 {
    env.plan(2);
    // The bystander creates the object; it may not have yet.
    let board = env.board(SHM, false, WAIT_YIELDS);
    let mapped = map_file(env, &mut fs);
    let (Ok(board), Ok((fh, base))) = (board, mapped) else {
        println!(
            "TEST FAIL {}/setup: {SHM}: {board:?}, {PATH}: {mapped:?}",
            env.name()
        );
        return 1;
    };
    board.write(0, 0, JOINED);
    // The hook is armed only through a handle of the caller's.
    let r = fs.fail_next_page_in(FileHandle(999));
    env.check(
        "arm-needs-its-own-handle",
        r == Err(FileError::BadHandle),
        format_args!("{r:?}"),
    );
    let r = fs.fail_next_page_in(fh);
    env.check("arm-the-hook", r.is_ok(), format_args!("{r:?}"));

    let failures = env.failures();
    expect_exit(if failures == 0 {
        STATUS_KILLED + ApiError::Io.code()
    } else {
        failures
    });
    board.write(0, 0, ARMED);
    println!(
        "{}: touching page {VICTIM} of {PATH}, whose page-in fails; the VM server must stop me",
        env.name()
    );
    // SAFETY: inside the file's read-only shared mapping; the page-in
    // fails, so the VM server stops this thread here.
    let b = unsafe { ((base + VICTIM * PAGE) as *const u8).read_volatile() };
    board.write(0, 0, SURVIVED);
    println!(
        "TEST FAIL {}/stopped-by-the-failed-page-in: read {b:#04x} instead",
        env.name()
    );
    failures + 1
}

/// Waits for the faulting client to be gone, then reads the file whole
/// through a mapping of its own.
fn bystander(env: &mut Env, mut fs: FileClient) -> u64 {
    env.plan(2);
    let board = match env.board(SHM, true, 0) {
        Ok(b) => b,
        Err(e) => {
            println!("TEST FAIL {}/setup: {SHM}: {e:?}", env.name());
            return 1;
        }
    };
    let armed = board.wait_for(0, 0, ARMED, WAIT_YIELDS);
    // Every other client gone, the faulting one included: nothing else
    // can page the file in now, and its armed page-in has happened.
    let alone = armed && env.wait_spaces(1);
    let state = board.read(0, 0);
    env.check(
        "faulting-client-stopped",
        armed && alone && state == ARMED,
        format_args!(
            "armed {armed}, every other client gone {alone}, its progress word {state} ({ARMED} armed, {SURVIVED} survived)"
        ),
    );
    let r = map_file(env, &mut fs);
    let wrong = r.map(|(_, base)| {
        (0..SIZE).find(|&i| {
            // SAFETY: inside the file's read-only shared mapping.
            let b = unsafe { ((base + i) as *const u8).read_volatile() };
            b != original(i)
        })
    });
    env.check(
        "reads-the-file-after-the-failure",
        wrong == Ok(None),
        format_args!("first wrong byte {wrong:?}"),
    );
    if let Ok((fh, base)) = r {
        let _ = env.vm.munmap(base, SIZE);
        let _ = fs.close(fh);
    }
    let _ = env.vm.shm_unlink(SHM);
    env.failures()
}
