//! System test: copy-on-write fork. Parent and child write different
//! values to pages they shared before the fork and each sees only its own;
//! the child forks again, and its child too (three generations). Results
//! travel back through a shared anonymous page, which fork shares rather
//! than copies.
#![no_std]
#![no_main]

use vm_client::vm_api::{ForkReply, MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

const PAGE: u64 = 4096;
const PAGES: u64 = 16;
const GENERATIONS: u64 = 3;
/// Verdicts in the shared page: word `g` for generation `g` (1..=3).
const PENDING: u64 = 0;
const OK: u64 = 1;
const BAD: u64 = 2;

fn fill(base: u64, v: u64) {
    for i in 0..PAGES {
        // SAFETY: inside the private mapping.
        unsafe { ((base + i * PAGE) as *mut u64).write_volatile(v + i) };
    }
}

fn holds(base: u64, v: u64) -> bool {
    // SAFETY: `base` is always `private` (see `fill`), PAGES pages mapped
    // read-write in main, never unmapped, and kept at the same address in
    // every forked child.
    (0..PAGES).all(|i| unsafe { ((base + i * PAGE) as *const u64).read_volatile() } == v + i)
}

fn verdict(shared: u64, generation: u64) -> *mut u64 {
    (shared + generation * 8) as *mut u64
}

fn main(env: &mut Env) -> u64 {
    env.plan(3 + GENERATIONS as usize);
    let private = env.vm.mmap(&MmapRequest::anon(PAGES * PAGE, Prot::RW));
    let shared = env.vm.mmap(&MmapRequest::anon_shared(PAGE, Prot::RW));
    let (Ok(private), Ok(shared)) = (private, shared) else {
        env.check(
            "mmap",
            false,
            format_args!("private {private:?}, shared {shared:?}"),
        );
        return env.failures();
    };
    fill(private, 0xa000);
    let mut generation = 0;
    // Each generation forks the next; only the original parent checks.
    loop {
        match env.vm.fork() {
            Ok(ForkReply::Parent { child }) => {
                if generation == 0 {
                    println!("{}: forked child {child:#x}", env.name());
                    break;
                }
                // A child that forked: its own value must survive its child's writes.
                let mine = 0xa000 + generation * 0x1000;
                let ok = holds(private, mine);
                // SAFETY: word `generation` (<= 3) of the shared page mapped
                // read-write in main, which fork shares at the same address
                // and nothing unmaps; volatile as other generations use it.
                unsafe { verdict(shared, generation).write_volatile(if ok { OK } else { BAD }) };
                env.wait_children(2_000_000);
                let _ = env.vm.exit(0);
            }
            Ok(ForkReply::Child { .. }) => {
                generation += 1;
                // It sees what its parent had at the fork...
                let inherited = 0xa000 + (generation - 1) * 0x1000;
                let saw_parent = holds(private, inherited);
                // ...and its own writes are its own.
                fill(private, 0xa000 + generation * 0x1000);
                let own = holds(private, 0xa000 + generation * 0x1000);
                if !(saw_parent && own) {
                    // SAFETY: as above: a word of the shared verdict page.
                    unsafe { verdict(shared, generation).write_volatile(BAD) };
                    let _ = env.vm.exit(1);
                }
                if generation == GENERATIONS {
                    // SAFETY: as above: a word of the shared verdict page.
                    unsafe { verdict(shared, generation).write_volatile(OK) };
                    let _ = env.vm.exit(0);
                }
                // Fork the next generation.
            }
            Err(e) => {
                env.check("fork", false, format_args!("{e:?}"));
                return env.failures();
            }
        }
    }
    // The original parent: write its own values right after the fork.
    fill(private, 0xb000);
    env.check(
        "parent-sees-own-writes",
        holds(private, 0xb000),
        format_args!("private pages changed under the parent"),
    );
    // Wait for the generations to report (bounded).
    let mut spins = 0u64;
    // SAFETY: words 1..=3 of the shared verdict page mapped in main, which
    // this original parent never unmaps; volatile as children write it.
    while (1..=GENERATIONS).any(|g| unsafe { verdict(shared, g).read_volatile() } == PENDING)
        && spins < 2_000_000
    {
        sel4::yield_now();
        spins += 1;
    }
    for g in 1..=GENERATIONS {
        // SAFETY: as above: word `g` of the shared verdict page.
        let v = unsafe { verdict(shared, g).read_volatile() };
        env.check(
            match g {
                1 => "child-generation-1",
                2 => "child-generation-2",
                _ => "child-generation-3",
            },
            v == OK,
            format_args!("verdict {v} (0 = never reported, 2 = wrong contents)"),
        );
    }
    env.check(
        "parent-unchanged-after-children",
        holds(private, 0xb000),
        format_args!("children's writes leaked"),
    );
    let stats = env.vm.stats();
    env.check(
        "cow-copies-counted",
        stats
            .as_ref()
            .is_ok_and(|s| s.forks >= GENERATIONS && s.flt_cow > 0),
        format_args!("{:?}", stats.map(|s| (s.forks, s.flt_cow))),
    );
    env.failures()
}
