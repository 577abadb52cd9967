//! System test: file pages are reclaimed under memory pressure and read back intact (issue 14, docs/pager.md). It maps [`PATH`] (4 MiB) shared read-only through the file server, reads every page (all cached), writes more anonymous memory than the VM server's pool (pageout drops the clean file pages and sends the anonymous ones to swap), then reads the whole file mapping again: the pages reclaimed come back from the file server (this client's page-ins grow) and every byte is the file's.
#![no_std]
#![no_main]

use file_api::{FileClient, Rights};
use vm_client::region::PAGE_WORDS;
use vm_client::vm_api::{Handle, Mincore, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

/// The file this program maps: 4 MiB of [`original`] bytes. Keep in
/// step with `files/README.txt`; nothing writes it.
const PATH: &str = "/bench/read.bin";
const PAGES: u64 = 1024;
const SIZE: u64 = PAGES * PAGE_SIZE;
/// Anonymous memory written: more than the VM server's pool (about
/// 16 MiB of `untyped = 24M` in `capdl/files.spec`).
const PRESSURE: u64 = 24 << 20;
/// Every this many anonymous pages one is read back.
const SAMPLE: u64 = 7;
/// File pages pageout must have dropped at least (of [`PAGES`]).
const MIN_RECLAIMED: u64 = 256;
/// Pages one pager read brings at most (`pager_api::SYSTEM_CLUSTER`):
/// `n` pages paged back in take at least `n / CLUSTER` page-ins.
const CLUSTER: u64 = 8;

/// Byte `i` of the file as `files/` has it (never zero).
fn original(i: u64) -> u8 {
    (1 + (i * 7 + (i >> 12) * 13) % 251) as u8
}

/// Word `w` of the file (little-endian bytes).
fn word(w: u64) -> u64 {
    (0..8).fold(0u64, |acc, k| {
        acc | u64::from(original(w * 8 + k)) << (8 * k)
    })
}

/// What the pressure writes in word 0 of anonymous page `p`.
fn anon(p: u64) -> u64 {
    !p ^ 0x5eed_f11e_0000_0000
}

/// The first byte offset of the file mapping whose word is wrong, if any.
fn first_wrong(r: &Region) -> Option<u64> {
    (0..PAGES * PAGE_WORDS)
        .find(|&w| r.read(w / PAGE_WORDS, w % PAGE_WORDS) != word(w))
        .map(|w| w * 8)
}

/// File pages of `r` resident in the VM server, or `None` if `mincore`
/// failed.
fn resident(env: &mut Env, r: &Region) -> Option<u64> {
    let mut v = [Mincore::empty(); PAGES as usize];
    let n = env.vm.mincore(r.base(), SIZE, &mut v).ok()?;
    Some(
        v[..n]
            .iter()
            .filter(|m| m.contains(Mincore::INCORE))
            .count() as u64,
    )
}

fn pageins(env: &mut Env) -> u64 {
    env.vm.client_stats().map_or(0, |s| s.pageins)
}

fn main(env: &mut Env) -> u64 {
    env.plan(3);
    let Some(ep) = env.info.cap("fs_ep") else {
        println!("TEST FAIL client-file-pressure/setup: no fs_ep cap");
        return 1;
    };
    let mut fs = FileClient::new(ep);
    let file = fs
        .open_handle(PATH, Rights::READ)
        .map_err(|e| failed("open", e))
        .and_then(|fh| fs.map(fh, false).map_err(|e| failed("map", e)))
        .and_then(|h| {
            let req = MmapRequest::object(Handle(h), 0, SIZE, Prot::READ);
            Region::map(&mut env.vm, &req).map_err(|e| failed("mmap", e))
        });
    let file = match file {
        Ok(r) => r,
        Err(what) => {
            println!("TEST FAIL client-file-pressure/setup: {what} of {PATH} failed");
            return 1;
        }
    };

    // Every page read once: all of them cached.
    let before = pageins(env);
    let wrong = first_wrong(&file);
    let first = pageins(env).saturating_sub(before);
    let cached = resident(env, &file);
    env.check(
        "cached",
        wrong.is_none() && first >= PAGES / CLUSTER && cached == Some(PAGES),
        format_args!(
            "first read of {PAGES} pages: first wrong byte {wrong:?}, page-ins +{first} \
             (at least {}), resident {cached:?}",
            PAGES / CLUSTER
        ),
    );

    // More anonymous memory than the pool, every page written.
    let pages = PRESSURE / PAGE_SIZE;
    let pressure = match Region::map(&mut env.vm, &MmapRequest::anon(PRESSURE, Prot::RW)) {
        Ok(r) => r,
        Err(e) => {
            println!("TEST FAIL client-file-pressure/setup: mmap {PRESSURE:#x} anonymous: {e:?}");
            return env.failures() + 1;
        }
    };
    for p in 0..pages {
        pressure.write(p, 0, anon(p));
    }
    let left = resident(env, &file);
    let reclaimed = left.map_or(0, |n| PAGES - n);

    // The whole file again: the reclaimed pages come from the pager.
    let before = pageins(env);
    let wrong = first_wrong(&file);
    let second = pageins(env).saturating_sub(before);
    println!(
        "{}: first read page-ins +{first}; {reclaimed} of {PAGES} file pages reclaimed by \
         pageout; second read page-ins +{second}",
        env.name()
    );
    env.check(
        "reclaimed-and-read-back",
        reclaimed >= MIN_RECLAIMED && second >= reclaimed / CLUSTER,
        format_args!(
            "after writing {pages} anonymous pages: {reclaimed} of {PAGES} file pages \
             reclaimed (at least {MIN_RECLAIMED}; resident {left:?}); second read: page-ins \
             +{second} (at least {})",
            reclaimed / CLUSTER
        ),
    );
    let bad_anon = (0..pages)
        .step_by(SAMPLE as usize)
        .find(|&p| pressure.read(p, 0) != anon(p));
    env.check(
        "intact",
        wrong.is_none() && bad_anon.is_none(),
        format_args!(
            "second read: first wrong file byte {wrong:?}; anonymous pages sampled \
             (every {SAMPLE}th): first wrong page {bad_anon:?}"
        ),
    );
    let _ = pressure.unmap(&mut env.vm);
    let _ = file.unmap(&mut env.vm);
    env.failures()
}

/// Prints the error of setup step `what` and names the step.
fn failed<E: core::fmt::Debug>(what: &'static str, e: E) -> &'static str {
    println!("client-file-pressure: {what}: {e:?}");
    what
}
