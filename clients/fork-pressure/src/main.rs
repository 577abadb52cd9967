//! System test: a forked pair sharing copy-on-write pages under memory
//! pressure. The parent writes a checksummed 64 MiB region (four times the
//! system spec's VM pool, so most of it lives on swap) and forks. While
//! the two run at once, the child checks it inherited every page, then
//! rewrites every fourth page (offset 1) and the parent every fourth page
//! (offset 2): each must see its own writes and the original everywhere
//! else, though the shared pages go to swap and come back in between.
//! After the child exits (its shadow objects go, the chain collapses),
//! the parent checks its view once more.
#![no_std]
#![no_main]

use vm_client::vm_api::{ForkReply, MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;
const SIZE: u64 = 64 * MIB;
const PAGES: u64 = SIZE / PAGE;

/// Whose value a page holds: the original, the child's or the parent's.
#[derive(Clone, Copy)]
enum Writer {
    Original = 0x0e1,
    Child = 0xc41,
    Parent = 0xa7e,
}

fn value(page: u64, w: Writer) -> u64 {
    page.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((w as u64) << 48)
}

/// Verdict slots in the shared page, written by the child.
const PENDING: u64 = 0;
const OK: u64 = 1;
const BAD: u64 = 2;

fn main(env: &mut Env) -> u64 {
    env.plan(5);
    let shared = env.vm.mmap(&MmapRequest::anon_shared(PAGE, Prot::RW));
    let region = env.vm.mmap(&MmapRequest::anon(SIZE, Prot::RW));
    let (Ok(shared), Ok(base)) = (shared, region) else {
        env.check("mmap", false, format_args!("{shared:?} {region:?}"));
        return env.failures();
    };
    let verdict = |i: u64| (shared + i * 8) as *mut u64;
    let word = |page: u64| (base + page * PAGE) as *mut u64;
    let last = |page: u64| (base + page * PAGE + PAGE - 8) as *mut u64;
    // SAFETY: callers pass `page` < PAGES: the first and last word of a page
    // of the region mapped read-write above, never unmapped, and at the
    // same address in the forked child.
    let write = |page: u64, w: Writer| unsafe {
        word(page).write_volatile(value(page, w));
        last(page).write_volatile(!value(page, w));
    };
    // First page whose value is not `expect(page)`'s.
    let check = |expect: &dyn Fn(u64) -> Writer| {
        (0..PAGES).find(|&p| {
            let v = value(p, expect(p));
            // SAFETY: inside the region.
            unsafe { word(p).read_volatile() != v || last(p).read_volatile() != !v }
        })
    };
    for p in 0..PAGES {
        write(p, Writer::Original);
    }
    match env.vm.fork() {
        Ok(ForkReply::Child { .. }) => {
            let inherited = check(&|_| Writer::Original);
            // SAFETY: the shared verdict page.
            unsafe { verdict(0).write_volatile(if inherited.is_none() { OK } else { BAD }) };
            for p in (1..PAGES).step_by(4) {
                write(p, Writer::Child);
            }
            let mine = check(&|p| {
                if p % 4 == 1 {
                    Writer::Child
                } else {
                    Writer::Original
                }
            });
            // SAFETY: the shared verdict page.
            unsafe { verdict(1).write_volatile(if mine.is_none() { OK } else { BAD }) };
            if let Some(p) = inherited.or(mine) {
                println!("{}: child: page {p} is wrong", env.name());
            }
            let _ = env.vm.exit(0);
            return 1;
        }
        Ok(ForkReply::Parent { child }) => println!("{}: forked child {child:#x}", env.name()),
        Err(e) => {
            env.check("fork", false, format_args!("{e:?}"));
            return env.failures();
        }
    }
    for p in (2..PAGES).step_by(4) {
        write(p, Writer::Parent);
    }
    let parents = |p: u64| {
        if p % 4 == 2 {
            Writer::Parent
        } else {
            Writer::Original
        }
    };
    let bad = check(&parents);
    env.check(
        "parent-own-writes-and-original",
        bad.is_none(),
        format_args!("page {bad:?} is wrong"),
    );
    let gone = env.wait_children(20_000_000);
    env.check("child-exited", gone, format_args!("the child still runs"));
    for (i, name) in [
        (0, "child-inherited-64m"),
        (1, "child-own-writes-and-original"),
    ] {
        // SAFETY: the shared verdict page.
        let v = unsafe { verdict(i).read_volatile() };
        env.check(
            name,
            v == OK,
            format_args!(
                "{}",
                if v == PENDING {
                    "no verdict"
                } else {
                    "mismatch"
                }
            ),
        );
    }
    let bad = check(&parents);
    env.check(
        "parent-intact-after-child-exit",
        bad.is_none(),
        format_args!("page {bad:?} is wrong"),
    );
    env.failures()
}
