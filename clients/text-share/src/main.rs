//! System test: a program paged from a file (docs/pager.md, "Programs paged from files"). Two components of `capdl/files.spec` run this program with `image_from_files`: the VM server maps it from `/bin/client-text-share` on the files disk instead of copying it from the boot image.
//!
//! * `client-text-share-a` reads [`TABLE`] (64 KiB of read-only data in
//!   the program file, so in the file's cache afterwards), checks its
//!   bytes, its data and bss, writes its data, and says so on the board.
//! * `client-text-share-b` then finds every page of [`TABLE`] resident
//!   before it touches one (`mincore`): the pages are the file's, cached
//!   by `a`, not copies of its own. It reads them with no page-in of its
//!   own (its `ClientStats::pageins` does not move) and finds its data as
//!   the file has it, untouched by `a`'s write (copy-on-write).
//!
//! They meet through the shared-memory object [`SHM`] (one name group).
#![no_std]
#![no_main]

use vm_client::vm_api::{ApiError, Mincore};
use vm_client::{println, Env};

vm_client::client_main!(main);

const PAGE: u64 = 4096;
const TABLE_PAGES: usize = 16;
const TABLE_LEN: usize = TABLE_PAGES * PAGE as usize;

/// Byte `i` of [`TABLE`].
const fn table_byte(i: usize) -> u8 {
    ((i * 131 + (i >> 12) * 7) % 251 + 1) as u8
}

const fn make_table() -> [u8; TABLE_LEN] {
    let mut t = [0u8; TABLE_LEN];
    let mut i = 0;
    while i < TABLE_LEN {
        t[i] = table_byte(i);
        i += 1;
    }
    t
}

/// Read-only data of the program file, page aligned (its own pages).
#[repr(C, align(4096))]
struct Table([u8; TABLE_LEN]);
static TABLE: Table = Table(make_table());

/// Initialised data (in the file) and bss (not in it).
static mut DATA: [u64; 4] = [0x1234_5678, 0x9abc_def0, 7, 11];
static mut BSS: [u64; 512] = [0; 512];

/// The board: word 0 is `a`'s progress, word 1 `b`'s.
const SHM: &str = "text-share";
const A_READ: u64 = 1;
const B_DONE: u64 = 2;
const WAIT_YIELDS: u64 = 500_000;

/// The first byte of [`TABLE`] that is wrong, read volatile (page by page
/// the reads fault the pages in).
fn first_wrong() -> Option<usize> {
    let base = TABLE.0.as_ptr();
    // SAFETY: reads inside the static table.
    (0..TABLE_LEN).find(|&i| unsafe { base.add(i).read_volatile() } != table_byte(i))
}

fn data() -> [u64; 4] {
    // SAFETY: this thread alone touches DATA; read volatile so the
    // compiler does not fold the initial value.
    unsafe { core::ptr::addr_of!(DATA).read_volatile() }
}

fn bss_is_zero() -> bool {
    // SAFETY: as in `data`, for BSS.
    let b = unsafe { core::ptr::addr_of!(BSS).read_volatile() };
    b.iter().all(|&w| w == 0)
}

/// Pages of [`TABLE`] resident in the VM server, or the error.
fn table_resident(env: &mut Env) -> Result<usize, ApiError> {
    let mut v = [Mincore::empty(); TABLE_PAGES];
    let n = env
        .vm
        .mincore(TABLE.0.as_ptr() as u64, TABLE_LEN as u64, &mut v)?;
    Ok(v[..n]
        .iter()
        .filter(|m| m.contains(Mincore::INCORE))
        .count())
}

fn main(env: &mut Env) -> u64 {
    let first = !env.name().ends_with("-b");
    let board = match env.board(SHM, first, WAIT_YIELDS) {
        Ok(b) => b,
        Err(e) => {
            println!("TEST FAIL {}/setup: {SHM}: {e:?}", env.name());
            return 1;
        }
    };
    let initial = [0x1234_5678, 0x9abc_def0, 7, 11];
    env.plan(4);
    env.check(
        "data-and-bss-from-the-file",
        data() == initial && bss_is_zero(),
        format_args!("data {:x?}, bss zero {}", data(), bss_is_zero()),
    );
    if first {
        let wrong = first_wrong();
        env.check(
            "reads-its-read-only-data",
            wrong.is_none(),
            format_args!("first wrong byte at {wrong:?}"),
        );
        // SAFETY: this thread alone touches DATA.
        unsafe { core::ptr::addr_of_mut!(DATA).write_volatile([1, 2, 3, 4]) };
        env.check(
            "writes-its-data",
            data() == [1, 2, 3, 4],
            format_args!("{:x?}", data()),
        );
        board.write(0, 0, A_READ);
        let done = board.wait_for(0, 1, B_DONE, WAIT_YIELDS);
        env.check(
            "the-other-instance-ran",
            done,
            format_args!("board word 1 {}", board.read(0, 1)),
        );
        let _ = env.vm.shm_unlink(SHM);
        return env.failures();
    }
    let ready = board.wait_for(0, 0, A_READ, WAIT_YIELDS);
    let before = env.vm.client_stats().map(|s| s.pageins);
    let resident = table_resident(env);
    env.check(
        "shares-the-cached-pages",
        ready && resident == Ok(TABLE_PAGES),
        format_args!(
            "the first instance read them: {ready}; resident before any touch {resident:?} of {TABLE_PAGES}"
        ),
    );
    let wrong = first_wrong();
    let after = env.vm.client_stats().map(|s| s.pageins);
    env.check(
        "reads-them-without-a-page-in",
        wrong.is_none() && before.is_ok() && before == after,
        format_args!("first wrong byte at {wrong:?}; its page-ins {before:?} then {after:?}"),
    );
    let st = env.vm.stats();
    println!(
        "{}: file cache {:?} pages, {:?} pager page-ins so far",
        env.name(),
        st.map(|s| s.filepages),
        st.map(|s| s.pager_pages_in)
    );
    env.check(
        "its-data-is-its-own",
        data() == initial,
        format_args!("{:x?} (the other instance wrote 1, 2, 3, 4)", data()),
    );
    board.write(0, 1, B_DONE);
    env.failures()
}
