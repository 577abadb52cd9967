//! System test: device memory (docs/devices.md). The spec grants `ivshmem` (QEMU's ivshmem-plain, backed by a host file) to this program: it opens the region through the VM server, maps it shared, reads the seed the host wrote, writes a seeded pattern into every word (checked in the host file after the boot), checks that a private mapping and `minherit(Copy)` are refused, that a forked child shares the device (its write is the parent's) and does not inherit a range marked `None`, and that writing more anonymous memory than the pool never pages the device out. Run as `client-device-reader` (granted `R`) it checks the read-only grant; as `client-device-stranger` (granted nothing) that the region does not exist for it.
#![no_std]
#![no_main]

use vm_client::region::PAGE_WORDS;
use vm_client::vm_api::{
    ApiError, ForkReply, Handle, Inheritance, MapFlags, Mincore, MmapRequest, MsyncFlags, Prot,
    PAGE_SIZE,
};
use vm_client::{println, Env, Region};

mod pattern;

vm_client::client_main!(main);

/// The region's name in the spec, and its size (`capdl/vm-findings.spec`:
/// `ivshmem = device_frame (1M, ...)`).
const DEVICE: &str = "ivshmem";
const PAGES: u64 = 256;
const SIZE: u64 = PAGES * PAGE_SIZE;
/// The last pages, which the child does not inherit.
const LEFT_OUT: u64 = 16;
/// The word the child writes in page 1 (the parent puts the pattern back).
const CHILD_PAGE: u64 = 1;
const CHILD_WORD: u64 = 1;
const CHILD_MARK: u64 = 0xc41d_0fde_71ce;
/// Anonymous memory written to make the VM server page out: more than
/// its pool (about 16 MiB of `untyped = 24M`).
const PRESSURE: u64 = 20 << 20;
/// Yields to wait for the child at most.
const SPINS: u64 = 2_000_000;

/// Words of the turn page shared with the child.
const TURN: u64 = 0;
const VERDICT: u64 = 1;
const CHILD_DONE: u64 = 1;
/// Verdict bits: what the child found wrong.
const SAW_WRONG: u64 = 1;
const INHERITED_LEFT_OUT: u64 = 2;

fn main(env: &mut Env) -> u64 {
    let name = env.name();
    if name.ends_with("-reader") {
        reader(env)
    } else if name.ends_with("-stranger") {
        stranger(env)
    } else {
        writer(env)
    }
}

/// Word `w` of the region as the pattern has it for `seed` (word 0 is the
/// seed itself).
fn want(seed: u64, w: u64) -> u64 {
    if w == pattern::SEED_WORD {
        seed
    } else {
        pattern::word(seed, w)
    }
}

/// The first word of `r` that is not the pattern for `seed`, if any.
fn first_wrong(r: &Region, seed: u64) -> Option<(u64, u64)> {
    (0..PAGES * PAGE_WORDS)
        .map(|w| (w, r.read(w / PAGE_WORDS, w % PAGE_WORDS)))
        .find(|&(w, got)| got != want(seed, w))
}

/// Every page of `r` resident, as `mincore` says.
fn all_in_core(env: &mut Env, r: &Region) -> bool {
    let mut v = [Mincore::empty(); PAGES as usize];
    let n = env.vm.mincore(r.base(), SIZE, &mut v);
    n == Ok(PAGES as usize) && v.iter().all(|m| m.contains(Mincore::INCORE))
}

fn writer(env: &mut Env) -> u64 {
    env.plan(9);
    // semantics: device-open
    let none = env.vm.device_open("no-such-region", Prot::READ);
    let exec = env.vm.device_open(DEVICE, Prot::RW | Prot::EXEC);
    env.check(
        "open-refusals",
        none == Err(ApiError::NoSuchName) && exec == Err(ApiError::Protection),
        format_args!("unknown name: {none:?}; more than granted: {exec:?}"),
    );
    let dev = env.vm.device_open(DEVICE, Prot::RW).and_then(|h| {
        Ok((
            h,
            Region::map(&mut env.vm, &MmapRequest::object(h, 0, SIZE, Prot::RW))?,
        ))
    });
    let (h, dev) = match dev {
        Ok(x) => x,
        Err(e) => {
            env.check("open-and-map", false, format_args!("{e:?}"));
            return env.failures();
        }
    };
    env.check("open-and-map", true, format_args!(""));
    // semantics: device-map
    let private = MmapRequest {
        flags: MapFlags::PRIVATE,
        ..MmapRequest::object(h, 0, SIZE, Prot::READ)
    };
    let r = env.vm.mmap(&private);
    env.check_err("private-map-refused", r, ApiError::InvalidArgument);

    let seed = dev.read(0, pattern::SEED_WORD);
    env.check(
        "seed-from-host",
        seed != 0,
        format_args!("word 0 of the region is 0: the host's seed did not arrive"),
    );
    for w in 1..PAGES * PAGE_WORDS {
        dev.write(w / PAGE_WORDS, w % PAGE_WORDS, pattern::word(seed, w));
    }
    let wrong = first_wrong(&dev, seed);
    env.check(
        "pattern-read-back",
        wrong.is_none(),
        format_args!("(word, value) {wrong:?}"),
    );

    // semantics: device-resident, device-msync, device-mprotect,
    // device-madvise, device-mlock
    let ops = [
        (
            "msync-sync",
            env.vm.msync(dev.base(), SIZE, MsyncFlags::SYNC),
        ),
        (
            "msync-async",
            env.vm.msync(dev.base(), SIZE, MsyncFlags::ASYNC),
        ),
        (
            "mprotect-read",
            env.vm.mprotect(dev.base(), SIZE, Prot::READ),
        ),
        ("mprotect-rw", env.vm.mprotect(dev.base(), SIZE, Prot::RW)),
        (
            "willneed",
            env.vm
                .madvise(dev.base(), SIZE, vm_client::vm_api::Advice::WillNeed),
        ),
        ("mlock", env.vm.mlock(dev.base(), SIZE)),
        ("munlock", env.vm.munlock(dev.base(), SIZE)),
    ];
    let failed = ops.iter().find(|(_, r)| r.is_err());
    let in_core = all_in_core(env, &dev);
    env.check(
        "range-operations",
        failed.is_none() && in_core && first_wrong(&dev, seed).is_none(),
        format_args!("{failed:?}; every page in core: {in_core}"),
    );

    fork_checks(env, &dev, seed);
    pressure_checks(env, &dev, seed);
    let _ = env.vm.handle_close(h);
    // The mapping goes at exit (semantics: device-exit): the root task's
    // vm-server-gives-everything-back checks nothing is left of it.
    env.failures()
}

/// Fork: `Copy` refused, the device shared with the child (its write is
/// the parent's), the range marked `None` not inherited.
fn fork_checks(env: &mut Env, dev: &Region, seed: u64) {
    // semantics: device-minherit-copy
    let r = env.vm.minherit(dev.base(), SIZE, Inheritance::Copy);
    env.check_err("minherit-copy-refused", r, ApiError::InvalidArgument);
    let turn = match Region::map(&mut env.vm, &MmapRequest::anon_shared(PAGE_SIZE, Prot::RW)) {
        Ok(t) => t,
        Err(e) => {
            env.check(
                "fork-shares-the-device",
                false,
                format_args!("turn page: {e:?}"),
            );
            return;
        }
    };
    let left_out = dev.page_addr(PAGES - LEFT_OUT);
    // semantics: device-fork
    let forked = env
        .vm
        .minherit(left_out, LEFT_OUT * PAGE_SIZE, Inheritance::None)
        .and_then(|()| env.vm.fork());
    match forked {
        Ok(ForkReply::Child { .. }) => child(env, dev, &turn, seed),
        Ok(ForkReply::Parent { child }) => println!("{}: child {child:#x}", env.name()),
        Err(e) => {
            env.check("fork-shares-the-device", false, format_args!("fork: {e:?}"));
            return;
        }
    }
    let done = turn.wait_for(0, TURN, CHILD_DONE, SPINS) && env.wait_children(SPINS);
    let verdict = turn.read(0, VERDICT);
    let seen = dev.read(CHILD_PAGE, CHILD_WORD);
    env.check(
        "fork-shares-the-device",
        done && verdict == 0 && seen == CHILD_MARK,
        format_args!(
            "child done {done}, verdict {verdict:#b} (1: saw wrong bytes, 2: inherited the \
             range marked None), the child's write reads {seen:#x} here (want {CHILD_MARK:#x})"
        ),
    );
    dev.write(
        CHILD_PAGE,
        CHILD_WORD,
        want(seed, CHILD_PAGE * PAGE_WORDS + CHILD_WORD),
    );
    let _ = turn.unmap(&mut env.vm);
}

/// The forked child: reads the parent's pattern, writes its mark, finds
/// the range marked `None` unmapped, reports, exits.
fn child(env: &mut Env, dev: &Region, turn: &Region, seed: u64) -> ! {
    let mut verdict = 0;
    let shared = PAGES - LEFT_OUT;
    if (0..shared).any(|p| dev.read(p, 7) != want(seed, p * PAGE_WORDS + 7)) {
        verdict |= SAW_WRONG;
    }
    dev.write(CHILD_PAGE, CHILD_WORD, CHILD_MARK);
    let mut v = [Mincore::empty(); LEFT_OUT as usize];
    let r = env
        .vm
        .mincore(dev.page_addr(shared), LEFT_OUT * PAGE_SIZE, &mut v);
    if r != Err(ApiError::NoMapping) {
        verdict |= INHERITED_LEFT_OUT;
    }
    turn.write(0, VERDICT, verdict);
    turn.write(0, TURN, CHILD_DONE);
    vm_client::exit(env, 0)
}

/// More anonymous memory than the pool: the VM server pages out, never
/// the device (semantics: device-resident).
fn pressure_checks(env: &mut Env, dev: &Region, seed: u64) {
    let before = env.vm.stats().map_or(0, |s| s.pageouts);
    let anon = match Region::map(&mut env.vm, &MmapRequest::anon(PRESSURE, Prot::RW)) {
        Ok(r) => r,
        Err(e) => {
            env.check("never-paged-out", false, format_args!("mmap: {e:?}"));
            return;
        }
    };
    for p in 0..anon.pages() {
        anon.write(p, 0, !p);
    }
    let paged = env.vm.stats().map_or(0, |s| s.pageouts) - before;
    let in_core = all_in_core(env, dev);
    let wrong = first_wrong(dev, seed);
    let bad_anon = (0..anon.pages())
        .step_by(13)
        .find(|&p| anon.read(p, 0) != !p);
    env.check(
        "never-paged-out",
        paged > 0 && in_core && wrong.is_none() && bad_anon.is_none(),
        format_args!(
            "{paged} pages paged out meanwhile; device every page in core: {in_core}, first \
             wrong (word, value) {wrong:?}; anonymous page {bad_anon:?} wrong"
        ),
    );
    let _ = anon.unmap(&mut env.vm);
}

/// Granted `R`: opens and maps read-only, no more.
fn reader(env: &mut Env) -> u64 {
    env.plan(2);
    // semantics: device-open, device-mprotect
    let rw = env.vm.device_open(DEVICE, Prot::RW);
    let h = env.vm.device_open(DEVICE, Prot::READ);
    let map_rw = h.and_then(|h| env.vm.mmap(&MmapRequest::object(h, 0, SIZE, Prot::RW)));
    env.check(
        "write-refused",
        rw == Err(ApiError::Protection) && map_rw == Err(ApiError::Protection),
        format_args!("open RW: {rw:?}; map RW through a read handle: {map_rw:?}"),
    );
    let read = h.and_then(|h: Handle| {
        let r = Region::map(&mut env.vm, &MmapRequest::object(h, 0, SIZE, Prot::READ))?;
        let up = env.vm.mprotect(r.base(), SIZE, Prot::RW);
        Ok((r.read(0, pattern::SEED_WORD), up))
    });
    env.check(
        "maps-read-only",
        matches!(read, Ok((seed, Err(ApiError::MaxProtection))) if seed != 0),
        format_args!("(the host's seed, mprotect RW) = {read:?}"),
    );
    env.failures()
}

/// Granted nothing: the region does not exist for it, whatever it asks.
fn stranger(env: &mut Env) -> u64 {
    env.plan(1);
    // semantics: device-open
    let asks = [
        env.vm.device_open(DEVICE, Prot::READ),
        env.vm.device_open(DEVICE, Prot::RW),
        env.vm.device_open("no-such-region", Prot::READ),
    ];
    env.check(
        "not-granted",
        asks.iter().all(|r| *r == Err(ApiError::NoSuchName)),
        format_args!("{asks:?}"),
    );
    env.failures()
}
