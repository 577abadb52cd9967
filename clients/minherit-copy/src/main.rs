//! System test: `minherit(Copy)` on a shared mapping gives the child a
//! copy as of the fork.
//!
//! Checks docs/semantics.md (semantics: minherit-copy-shared): a shared
//! range inherited by copy is the child's own private copy of what the
//! parent saw at the fork; later writes by the parent are not seen. The
//! parent maps 8 shared anonymous pages, writes V, sets their inheritance
//! to Copy and forks. The child writes C to pages 0-3; once it has, the
//! parent checks its pages 0-3 still hold V and writes W to pages 4-7;
//! once it has, the child reads: pages 4-7 must be V (a VM that shares
//! the object under the child's copy-on-write shows it W), pages 0-3 C.
//! The two take turns through a separate shared page (inherited shared,
//! the default), which also carries the child's verdict.
#![no_std]
#![no_main]

use vm_client::vm_api::{ForkReply, Inheritance, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

const PAGES: u64 = 8;
/// The child writes pages `0..SPLIT`, the parent `SPLIT..PAGES`.
const SPLIT: u64 = 4;
/// Yields to wait for the other side at most.
const SPINS: u64 = 2_000_000;

/// Words of the turn page.
const TURN: u64 = 0;
/// Bit `i`: page `i` read wrong in the child.
const CHILD_BAD: u64 = 1;
/// What the first wrong page read.
const CHILD_BAD_VALUE: u64 = 2;
/// `TURN` values, in order.
const CHILD_WROTE: u64 = 1;
const PARENT_WROTE: u64 = 2;
const CHILD_DONE: u64 = 3;

fn v(i: u64) -> u64 {
    0x7700 + i
}
fn c(i: u64) -> u64 {
    0xc700 + i
}
fn w(i: u64) -> u64 {
    0x3700 + i
}

fn main(env: &mut Env) -> u64 {
    env.plan(4);
    let mem = Region::map(
        &mut env.vm,
        &MmapRequest::anon_shared(PAGES * PAGE_SIZE, Prot::RW),
    );
    let turn = Region::map(&mut env.vm, &MmapRequest::anon_shared(PAGE_SIZE, Prot::RW));
    let (Ok(mem), Ok(turn)) = (mem, turn) else {
        env.check("mmap", false, format_args!("{mem:?} {turn:?}"));
        return env.failures();
    };
    for i in 0..PAGES {
        mem.write(i, 0, v(i));
    }
    let r = env.vm.minherit(mem.base(), mem.len(), Inheritance::Copy);
    let forked = r.and_then(|()| env.vm.fork());
    match forked {
        Ok(ForkReply::Child { .. }) => child(env, &mem, &turn),
        Ok(ForkReply::Parent { child }) => {
            println!("{}: child {child:#x} has a copy", env.name())
        }
        Err(e) => {
            env.check("minherit-and-fork", false, format_args!("{e:?}"));
            return env.failures();
        }
    }
    let child_wrote = turn.wait_for(0, TURN, CHILD_WROTE, SPINS);
    let parent_bad = (0..SPLIT).find(|&i| mem.read(i, 0) != v(i));
    env.check(
        "parent-unchanged-by-child-writes",
        child_wrote && parent_bad.is_none(),
        format_args!(
            "child wrote {child_wrote}; parent's page {parent_bad:?} reads {:#x}",
            mem.read(parent_bad.unwrap_or(0), 0)
        ),
    );
    for i in SPLIT..PAGES {
        mem.write(i, 0, w(i));
    }
    turn.write(0, TURN, PARENT_WROTE);
    let done = turn.wait_for(0, TURN, CHILD_DONE, SPINS);
    let gone = env.wait_children(SPINS);
    let bad = turn.read(0, CHILD_BAD);
    let value = turn.read(0, CHILD_BAD_VALUE);
    env.check(
        "child-finished",
        done && gone,
        format_args!("child reported {done}, exited {gone}"),
    );
    let copy_bad = bad >> SPLIT;
    env.check(
        "child-copy-unchanged-by-later-parent-writes",
        done && copy_bad == 0,
        format_args!(
            "child's pages {:#b} (from page {SPLIT}) changed after the fork: first read {value:#x} \
             (V = {:#x}, the parent's later write W = {:#x})",
            copy_bad,
            v(SPLIT),
            w(SPLIT)
        ),
    );
    let own_bad = bad & ((1 << SPLIT) - 1);
    env.check(
        "child-copy-keeps-own-writes",
        done && own_bad == 0,
        format_args!("child's pages {own_bad:#b} lost its writes (first read {value:#x})"),
    );
    env.failures()
}

/// The child: write its half, let the parent write the other, read all.
fn child(env: &mut Env, mem: &Region, turn: &Region) -> ! {
    for i in 0..SPLIT {
        mem.write(i, 0, c(i));
    }
    turn.write(0, TURN, CHILD_WROTE);
    if turn.wait_for(0, TURN, PARENT_WROTE, SPINS) {
        let (mut bad, mut first) = (0u64, None);
        for i in 0..PAGES {
            let want = if i < SPLIT { c(i) } else { v(i) };
            let got = mem.read(i, 0);
            if got != want {
                bad |= 1 << i;
                first.get_or_insert(got);
            }
        }
        turn.write(0, CHILD_BAD, bad);
        turn.write(0, CHILD_BAD_VALUE, first.unwrap_or(0));
        turn.write(0, TURN, CHILD_DONE);
    }
    vm_client::exit(env, 0)
}
