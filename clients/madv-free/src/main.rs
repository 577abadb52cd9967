//! System test: `MADV_FREE` never brings back what another space wrote.
//!
//! Checks two rows of docs/semantics.md. Where the mapping has a backing
//! object the answer is never the pre-fork contents underneath
//! (semantics: madvise-free-shadowed; the row's "no effect" is stricter,
//! this test accepts the "old or zero" every MADV_FREE allows); on
//! private anonymous memory not shadowed by a fork each page afterwards
//! reads its old contents or zero until it is written, and a write sticks
//! (semantics: madvise-free-private). The parent writes V to 16 private
//! pages and forks; the child writes C to pages 0-3 (so they live in its
//! own shadow over the parent's object) and frees all 16. Pages 0-3 must
//! read C or zero (a VM that drops the child's copies and lets the
//! backing object show through returns V, the parent's pre-fork data);
//! pages 4-15 were never written by the child, so V or zero is right
//! there. A page written after the advice must keep the write, and the
//! parent's pages must be untouched. Then the same on a fresh mapping
//! without a fork, where the lazy free really applies. The child's
//! verdict travels back through a shared page.
#![no_std]
#![no_main]

use vm_client::region::PAGE_WORDS;
use vm_client::vm_api::{Advice, ApiError, ForkReply, MmapRequest, Prot, PAGE_SIZE};
use vm_client::{println, Env, Region};

vm_client::client_main!(main);

const PAGES: u64 = 16;
/// Pages the child writes before the advice.
const CHILD_PAGES: u64 = 4;
/// Page the child writes after the advice.
const REWRITTEN: u64 = 9;
/// Yields to wait for the child at most.
const SPINS: u64 = 2_000_000;

/// Words of the shared verdict page.
const STATE: u64 = 0;
/// madvise's result: 0 for Ok, else the error's (non-zero) code.
const ADVICE: u64 = 1;
/// Bit `i`: page `i` (0-3) read neither C nor zero.
const BAD_OWN: u64 = 2;
/// Bit `i`: page `i` (4-15) read neither V nor zero.
const BAD_INHERITED: u64 = 3;
/// What the first bad page read.
const BAD_VALUE: u64 = 4;
/// 1 when the page written after the advice kept the write.
const REWRITE_KEPT: u64 = 5;
/// `STATE` when the child is done.
const DONE: u64 = 1;

/// The parent's value for word `w` of page `i`.
fn v(i: u64, w: u64) -> u64 {
    0x7600_0000_0000 | i << 16 | w
}

/// The child's value.
fn c(i: u64, w: u64) -> u64 {
    0xc400_0000_0000 | i << 16 | w
}

/// What a write after the advice stores.
fn after(i: u64, w: u64) -> u64 {
    0xaf00_0000_0000 | i << 16 | w
}

/// Words checked on each page: first, middle, last.
const WORDS: [u64; 3] = [0, PAGE_WORDS / 2, PAGE_WORDS - 1];

fn fill(r: &Region, page: u64, value: fn(u64, u64) -> u64) {
    for w in WORDS {
        r.write(page, w, value(page, w));
    }
}

/// True when page `page` reads `value`'s contents or zero, word by word
/// in order, and zero once seen stays zero (the semantics row's words):
/// pageout may take a freed page between two of the reads, so a page can
/// read old in its first words and zero in the rest, never the reverse.
fn old_or_zero(r: &Region, page: u64, value: fn(u64, u64) -> u64) -> bool {
    let mut zero_seen = false;
    WORDS.iter().all(|&w| {
        let x = r.read(page, w);
        if !zero_seen && x == value(page, w) {
            true
        } else {
            zero_seen = true;
            x == 0
        }
    })
}

fn holds(r: &Region, page: u64, value: fn(u64, u64) -> u64) -> bool {
    WORDS.iter().all(|&w| r.read(page, w) == value(page, w))
}

fn code(r: Result<(), ApiError>) -> u64 {
    match r {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}

fn main(env: &mut Env) -> u64 {
    env.plan(6);
    let private = Region::map(&mut env.vm, &MmapRequest::anon(PAGES * PAGE_SIZE, Prot::RW));
    let shared = Region::map(&mut env.vm, &MmapRequest::anon_shared(PAGE_SIZE, Prot::RW));
    let (Ok(private), Ok(shared)) = (private, shared) else {
        env.check(
            "mmap",
            false,
            format_args!("private {private:?}, shared {shared:?}"),
        );
        return env.failures();
    };
    for i in 0..PAGES {
        fill(&private, i, v);
    }
    match env.vm.fork() {
        Ok(ForkReply::Child { .. }) => child(env, &private, &shared),
        Ok(ForkReply::Parent { child }) => {
            println!("{}: child {child:#x} frees its copy", env.name())
        }
        Err(e) => {
            env.check("fork", false, format_args!("{e:?}"));
            return env.failures();
        }
    }
    let done = shared.wait_for(0, STATE, DONE, SPINS);
    let gone = env.wait_children(SPINS);
    let advice = shared.read(0, ADVICE);
    let (bad_own, bad_inherited) = (shared.read(0, BAD_OWN), shared.read(0, BAD_INHERITED));
    let first_bad = shared.read(0, BAD_VALUE);
    env.check(
        "forked-child-free-accepted",
        done && gone && advice == 0,
        format_args!("child reported {done}, exited {gone}, madvise error code {advice}"),
    );
    env.check(
        "forked-child-freed-own-pages-read-own-data-or-zero",
        done && bad_own == 0,
        format_args!(
            "pages {bad_own:#b} of 0-3 read neither the child's data nor zero \
             (first read {first_bad:#x}; the parent's pre-fork data is {:#x})",
            v(bad_own.trailing_zeros() as u64, 0)
        ),
    );
    env.check(
        "forked-child-freed-inherited-pages-read-pre-fork-data-or-zero",
        done && bad_inherited == 0,
        format_args!("pages {bad_inherited:#b} read neither V nor zero (first {first_bad:#x})"),
    );
    env.check(
        "forked-child-write-after-free-kept",
        done && shared.read(0, REWRITE_KEPT) == 1,
        format_args!("page {REWRITTEN} lost the child's write after the advice"),
    );
    let parent_bad = (0..PAGES).find(|&i| !holds(&private, i, v));
    env.check(
        "parent-unchanged-by-child-free",
        parent_bad.is_none(),
        format_args!(
            "parent's page {parent_bad:?} reads {:#x}",
            private.read(parent_bad.unwrap_or(0), 0)
        ),
    );
    // Without a fork the front object is the whole chain, so the lazy
    // free applies: each page reads V or zero, and a write sticks
    // (semantics: madvise-free-private).
    let own = Region::map(&mut env.vm, &MmapRequest::anon(PAGES * PAGE_SIZE, Prot::RW));
    let (r, bad) = match own {
        Ok(own) => {
            for i in 0..PAGES {
                fill(&own, i, v);
            }
            let r = env.vm.madvise(own.base(), own.len(), Advice::Free);
            fill(&own, REWRITTEN, after);
            let bad = (0..PAGES)
                .find(|&i| {
                    if i == REWRITTEN {
                        !holds(&own, i, after)
                    } else {
                        !old_or_zero(&own, i, v)
                    }
                })
                .map(|i| (i, own.read(i, 0)));
            (r, bad)
        }
        Err(e) => (Err(e), None),
    };
    env.check(
        "unforked-free-reads-old-data-or-zero-and-keeps-writes",
        r.is_ok() && bad.is_none(),
        format_args!("madvise {r:?}; (page, value) {bad:x?}"),
    );
    env.failures()
}

/// The child: write C to pages 0-3, free all, report what each page reads.
fn child(env: &mut Env, private: &Region, shared: &Region) -> ! {
    for i in 0..CHILD_PAGES {
        fill(private, i, c);
    }
    let advice = env.vm.madvise(private.base(), private.len(), Advice::Free);
    shared.write(0, ADVICE, code(advice));
    let (mut bad_own, mut bad_inherited, mut first) = (0u64, 0u64, None);
    for i in 0..PAGES {
        let (ok, mask) = if i < CHILD_PAGES {
            (old_or_zero(private, i, c), &mut bad_own)
        } else {
            (old_or_zero(private, i, v), &mut bad_inherited)
        };
        if !ok {
            *mask |= 1 << i;
            first.get_or_insert(private.read(i, 0));
        }
    }
    fill(private, REWRITTEN, after);
    let kept = holds(private, REWRITTEN, after);
    shared.write(0, BAD_OWN, bad_own);
    shared.write(0, BAD_INHERITED, bad_inherited);
    shared.write(0, BAD_VALUE, first.unwrap_or(0));
    shared.write(0, REWRITE_KEPT, u64::from(kept));
    shared.write(0, STATE, DONE);
    vm_client::exit(env, 0)
}
