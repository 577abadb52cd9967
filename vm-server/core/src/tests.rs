//! Focused unit tests: each operation's edge cases and errors, fault kinds, chains, fork, wiring, shared memory, emulated bits, the reserve.

use crate::sim::Sim;
use crate::*;

const P: u64 = PAGE_SIZE;

fn sim(frames: u32) -> (Sim, SpaceId) {
    let mut s = Sim::new(VmConfig::default(), frames);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    (s, sp)
}

/// A config without fault-around, so fault counts are exact.
fn sim_exact(frames: u32) -> (Sim, SpaceId) {
    let cfg = VmConfig {
        prefault_ahead: 0,
        prefault_behind: 0,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, frames);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    (s, sp)
}

fn map_anon(s: &mut Sim, sp: SpaceId, pages: u64) -> u64 {
    s.vm.mmap(sp, &MmapArgs::anon(pages * P, Prot::RW), &mut s.pmap)
        .unwrap()
}

fn fault(s: &mut Sim, sp: SpaceId, va: u64, a: Access) -> Result<FaultMapping, VmError> {
    s.vm.fault(sp, va, a, &mut s.pmap)
        .map(|o| *o.mapping().unwrap())
}

/// The length of the chain of `sp`'s entry at `va`.
fn chain_len(s: &Sim, sp: SpaceId, va: u64) -> usize {
    s.vm.space(sp)
        .unwrap()
        .map()
        .lookup(va)
        .unwrap()
        .chain()
        .len()
}

fn ok(s: &Sim) {
    s.check().unwrap();
    s.vm.check_page_queues().unwrap();
}

const MIN: u64 = 0x1000_0000;

#[test]
fn mmap_argument_errors_are_distinct_and_change_nothing() {
    let (mut s, sp) = sim(64);
    let a = |addr: u64, len: u64| MmapArgs::anon(len, Prot::RW).fixed(addr);
    let cases: &[(MmapArgs, VmError)] = &[
        (a(MIN, 0), VmError::ZeroLength),
        (a(MIN + 1, P), VmError::Unaligned),
        (a(MIN, P + 1), VmError::Unaligned),
        (a(!(P - 1), 2 * P), VmError::Overflow),
        (a(0x1000, P), VmError::OutOfRange),
        (a(0x7fff_ffff_f000, P), VmError::OutOfRange),
        (
            MmapArgs {
                max_prot: Prot::READ,
                ..a(MIN, P)
            },
            VmError::MaxProtection,
        ),
        (
            MmapArgs {
                flags: MapFlags::SHARED | MapFlags::PRIVATE,
                ..a(MIN, P)
            },
            VmError::InvalidArgument,
        ),
        (
            MmapArgs {
                flags: MapFlags::PRIVATE | MapFlags::NOREPLACE,
                ..a(MIN, P)
            },
            VmError::InvalidArgument,
        ),
        (
            MmapArgs {
                align: 3 * P,
                ..a(MIN, P)
            },
            VmError::InvalidArgument,
        ),
        (
            MmapArgs {
                align: 1 << 20,
                ..a(MIN + P, P)
            },
            VmError::Unaligned,
        ),
        (
            MmapArgs {
                flags: MapFlags::SHARED | MapFlags::OVERLAY,
                ..a(MIN, P)
            },
            VmError::InvalidArgument,
        ),
        (
            MmapArgs::object(Handle(9), 0, P, Prot::READ),
            VmError::BadHandle,
        ),
    ];
    for (args, want) in cases {
        assert_eq!(s.vm.mmap(sp, args, &mut s.pmap), Err(*want), "{args:?}");
    }
    assert_eq!(
        s.vm.mmap(SpaceId(99), &a(MIN, P), &mut s.pmap),
        Err(VmError::BadSpace)
    );
    assert_eq!(s.vm.space(sp).unwrap().map().entry_count(), 0);
    // No-replace over an existing mapping.
    s.vm.mmap(sp, &a(MIN, 4 * P), &mut s.pmap).unwrap();
    s.write(sp, MIN, b"keep").unwrap();
    let mut nr = a(MIN + 2 * P, 4 * P);
    nr.flags |= MapFlags::NOREPLACE;
    assert_eq!(s.vm.mmap(sp, &nr, &mut s.pmap), Err(VmError::Exists));
    let mut b = [0; 4];
    s.read(sp, MIN, &mut b).unwrap();
    assert_eq!(&b, b"keep");
    ok(&s);
}

#[test]
fn mmap_fixed_replaces_and_hint_finds_space() {
    let (mut s, sp) = sim(64);
    let at =
        s.vm.mmap(sp, &MmapArgs::anon(4 * P, Prot::RW).fixed(MIN), &mut s.pmap)
            .unwrap();
    assert_eq!(at, MIN);
    s.write(sp, MIN + P, b"old").unwrap();
    // Fixed over the middle replaces: the page reads zero afterwards.
    s.vm.mmap(sp, &MmapArgs::anon(P, Prot::RW).fixed(MIN + P), &mut s.pmap)
        .unwrap();
    assert_eq!(s.read_u8(sp, MIN + P).unwrap(), 0);
    // A hint inside a mapping moves up past it.
    let mut h = MmapArgs::anon(P, Prot::READ);
    h.addr = MIN + P;
    let got = s.vm.mmap(sp, &h, &mut s.pmap).unwrap();
    assert_eq!(got, MIN + 4 * P);
    // Alignment.
    let mut al = MmapArgs::anon(P, Prot::READ);
    al.align = 1 << 21;
    let got = s.vm.mmap(sp, &al, &mut s.pmap).unwrap();
    assert_eq!(got % (1 << 21), 0);
    ok(&s);
}

#[test]
fn mmap_no_space() {
    let cfg = VmConfig {
        user_min: MIN,
        user_max: MIN + 8 * P,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, 64);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    s.vm.mmap(sp, &MmapArgs::anon(6 * P, Prot::RW), &mut s.pmap)
        .unwrap();
    assert_eq!(
        s.vm.mmap(sp, &MmapArgs::anon(4 * P, Prot::RW), &mut s.pmap),
        Err(VmError::NoSpace)
    );
    assert_eq!(
        s.vm.mmap(sp, &MmapArgs::anon(2 * P, Prot::RW), &mut s.pmap),
        Ok(MIN + 6 * P)
    );
    assert_eq!(
        s.vm.mmap(sp, &MmapArgs::anon(16 * P, Prot::RW), &mut s.pmap),
        Err(VmError::OutOfRange)
    );
}

#[test]
fn anonymous_neighbours_merge() {
    let (mut s, sp) = sim(64);
    for i in 0..4 {
        s.vm.mmap(
            sp,
            &MmapArgs::anon(P, Prot::RW).fixed(MIN + i * P),
            &mut s.pmap,
        )
        .unwrap();
    }
    assert_eq!(s.vm.space(sp).unwrap().map().entry_count(), 1);
    // A different protection does not merge; restoring it merges again.
    s.vm.mprotect(sp, MIN + P, P, Prot::READ, &mut s.pmap)
        .unwrap();
    assert_eq!(s.vm.space(sp).unwrap().map().entry_count(), 3);
    s.vm.mprotect(sp, MIN + P, P, Prot::RW, &mut s.pmap)
        .unwrap();
    assert_eq!(s.vm.space(sp).unwrap().map().entry_count(), 1);
    ok(&s);
}

#[test]
fn munmap_splits_and_validates() {
    let (mut s, sp) = sim(64);
    let a = map_anon(&mut s, sp, 8);
    for i in 0..8 {
        s.write(sp, a + i * P, &[i as u8 + 1]).unwrap();
    }
    s.vm.munmap(sp, a + 2 * P, 3 * P, &mut s.pmap).unwrap();
    let map = s.vm.space(sp).unwrap().map();
    assert_eq!(map.entry_count(), 2);
    assert_eq!(map.size(), 5 * P);
    assert_eq!(s.read_u8(sp, a + 3 * P), Err(VmError::NoMapping));
    assert_eq!(s.read_u8(sp, a + P).unwrap(), 2);
    assert_eq!(s.read_u8(sp, a + 5 * P).unwrap(), 6);
    assert_eq!(s.vm.munmap(sp, a, 0, &mut s.pmap), Err(VmError::ZeroLength));
    assert_eq!(
        s.vm.munmap(sp, a + 1, P, &mut s.pmap),
        Err(VmError::Unaligned)
    );
    assert_eq!(
        s.vm.munmap(sp, u64::MAX - P + 1, 2 * P, &mut s.pmap),
        Err(VmError::Overflow)
    );
    assert_eq!(s.vm.munmap(sp, 0, P, &mut s.pmap), Err(VmError::OutOfRange));
    // A range with holes is fine.
    s.vm.munmap(sp, a, 8 * P, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().free, 64);
    ok(&s);
}

#[test]
fn mprotect_rules() {
    let (mut s, sp) = sim(64);
    let a = map_anon(&mut s, sp, 4);
    s.write(sp, a, b"x").unwrap();
    s.vm.mprotect(sp, a, P, Prot::READ, &mut s.pmap).unwrap();
    assert_eq!(s.write(sp, a, b"y"), Err(VmError::Protection));
    assert_eq!(s.read_u8(sp, a).unwrap(), b'x');
    assert_eq!(
        s.vm.mprotect(sp, a, 8 * P, Prot::READ, &mut s.pmap),
        Err(VmError::NoMapping)
    );
    let mut ro = MmapArgs::anon(P, Prot::READ);
    ro.max_prot = Prot::READ;
    let b = s.vm.mmap(sp, &ro, &mut s.pmap).unwrap();
    assert_eq!(
        s.vm.mprotect(sp, b, P, Prot::RW, &mut s.pmap),
        Err(VmError::MaxProtection)
    );
    s.vm.mprotect(sp, a, P, Prot::NONE, &mut s.pmap).unwrap();
    assert_eq!(s.read_u8(sp, a), Err(VmError::Protection));
    s.vm.mprotect(sp, a, P, Prot::RW, &mut s.pmap).unwrap();
    assert_eq!(s.read_u8(sp, a).unwrap(), b'x');
    ok(&s);
}

#[test]
fn fault_kinds_and_errors() {
    let (mut s, sp) = sim_exact(64);
    let a = map_anon(&mut s, sp, 4);
    assert_eq!(
        fault(&mut s, sp, a - P, Access::Read),
        Err(VmError::NoMapping)
    );
    assert_eq!(
        fault(&mut s, sp, a, Access::Execute),
        Err(VmError::Protection)
    );
    assert_eq!(
        fault(&mut s, SpaceId(77), a, Access::Read),
        Err(VmError::BadSpace)
    );
    let m = fault(&mut s, sp, a, Access::Read).unwrap();
    assert_eq!((m.kind, m.prot), (FaultKind::ZeroFill, Prot::READ));
    let m = fault(&mut s, sp, a, Access::Write).unwrap();
    assert_eq!((m.kind, m.prot), (FaultKind::Modify, Prot::RW));
    let m = fault(&mut s, sp, a + P, Access::Write).unwrap();
    assert_eq!((m.kind, m.prot), (FaultKind::ZeroFill, Prot::RW));
    s.pmap.remove(sp, a, a + P);
    let m = fault(&mut s, sp, a, Access::Read).unwrap();
    assert_eq!((m.kind, m.prot), (FaultKind::Resident, Prot::RW));
    let st = s.vm.stats();
    assert_eq!(
        (
            st.flt_zero,
            st.flt_modify,
            st.flt_resident,
            st.flt_nomap,
            st.flt_prot
        ),
        (2, 1, 1, 1, 1)
    );
    ok(&s);
}

#[test]
fn fork_copy_on_write_both_ways() {
    let (mut s, p) = sim_exact(64);
    let a = map_anon(&mut s, p, 2);
    s.write(p, a, b"parent").unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    let mut b = [0; 6];
    s.read(c, a, &mut b).unwrap();
    assert_eq!(&b, b"parent");
    // Child reads share the parent's frame read-only.
    assert_eq!(
        s.pmap.lookup(c, a).unwrap().0,
        s.pmap.lookup(p, a).unwrap().0
    );
    s.write(c, a, b"child!").unwrap();
    s.read(p, a, &mut b).unwrap();
    assert_eq!(&b, b"parent");
    s.write(p, a, b"PARENT").unwrap();
    s.read(c, a, &mut b).unwrap();
    assert_eq!(&b, b"child!");
    assert!(s.vm.stats().flt_cow >= 1);
    ok(&s);
    s.vm.exit(c, &mut s.pmap).unwrap();
    s.read(p, a, &mut b).unwrap();
    assert_eq!(&b, b"PARENT");
    ok(&s);
}

#[test]
fn fork_inheritance_share_copy_none() {
    let (mut s, p) = sim(64);
    let shared =
        s.vm.mmap(p, &MmapArgs::anon_shared(P, Prot::RW), &mut s.pmap)
            .unwrap();
    let none = map_anon(&mut s, p, 1);
    s.vm.minherit(p, none, P, Inheritance::None).unwrap();
    let private_shared = map_anon(&mut s, p, 1);
    s.write(p, private_shared, b"a").unwrap();
    s.vm.minherit(p, private_shared, P, Inheritance::Share)
        .unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    assert_eq!(s.read_u8(c, none), Err(VmError::NoMapping));
    s.write(c, shared, b"s").unwrap();
    assert_eq!(s.read_u8(p, shared).unwrap(), b's');
    assert_eq!(s.read_u8(c, private_shared).unwrap(), b'a');
    s.write(p, private_shared, b"b").unwrap();
    assert_eq!(s.read_u8(c, private_shared).unwrap(), b'b');
    assert_eq!(s.vm.stats().fork_shared_entries, 2);
    ok(&s);
    // A shared entry that had been copied on write is folded on sharing.
    let cow = map_anon(&mut s, p, 2);
    s.write(p, cow, b"1").unwrap();
    let c2 = s.vm.fork(p, &mut s.pmap).unwrap();
    s.write(p, cow + P, b"2").unwrap();
    s.vm.minherit(p, cow, 2 * P, Inheritance::Share).unwrap();
    let c3 = s.vm.fork(p, &mut s.pmap).unwrap();
    s.write(c3, cow, b"3").unwrap();
    assert_eq!(s.read_u8(p, cow).unwrap(), b'3');
    assert_eq!(s.read_u8(p, cow + P).unwrap(), b'2');
    assert_eq!(s.read_u8(c2, cow).unwrap(), b'1');
    assert_eq!(s.read_u8(c2, cow + P).unwrap(), 0);
    ok(&s);
}

#[test]
fn chain_depth_stays_bounded_under_fork_chains() {
    // The depth bound's copies are made at fork; the writes after it only
    // push (semantics: fork-depth).
    let (mut s, mut p) = sim(512);
    let a = map_anon(&mut s, p, 4);
    let mut live = Vec::new();
    let merges = |s: &Sim| s.vm.stats().chain_merges;
    let mut at_fork = 0;
    for gen in 0..40u8 {
        s.write(p, a + (gen as u64 % 4) * P, &[gen]).unwrap();
        assert_eq!(merges(&s), at_fork, "gen {gen}: a write fault merged");
        let c = s.vm.fork(p, &mut s.pmap).unwrap();
        at_fork = merges(&s);
        s.write(c, a, &[gen, 1]).unwrap();
        assert_eq!(merges(&s), at_fork, "gen {gen}: a write fault merged");
        live.push(p);
        p = c;
        ok(&s);
        for sp in s.vm.spaces() {
            for e in sp.map().entries() {
                assert!(e.chain().len() <= 5, "depth {}", e.chain().len());
            }
        }
    }
    // Everything each ancestor wrote is still its own.
    for (gen, &sp) in live.iter().enumerate() {
        let mut b = [0u8; 2];
        s.read(sp, a, &mut b).unwrap();
        // Space `gen` was forked at generation gen - 1 (writing gen - 1
        // at page 0) and then wrote `gen` at page gen % 4.
        let want = if gen % 4 == 0 { gen } else { gen - 1 };
        assert_eq!(b[0] as usize, want, "gen {gen}");
    }
    assert!(s.vm.stats().chain_merges > 0);
    for sp in live {
        s.vm.exit(sp, &mut s.pmap).unwrap();
        ok(&s);
    }
    s.vm.exit(p, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().free, 512);
}

#[test]
fn collapse_after_child_exit() {
    let (mut s, p) = sim_exact(64);
    let a = map_anon(&mut s, p, 4);
    for i in 0..4 {
        s.write(p, a + i * P, &[i as u8 + 10]).unwrap();
    }
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    s.write(p, a, b"p").unwrap();
    let depth = |s: &Sim| chain_len(s, p, a);
    assert_eq!(depth(&s), 2);
    s.vm.exit(c, &mut s.pmap).unwrap();
    // The next fault walking the chain collapses it, moving pages up.
    s.read_u8(p, a + 3 * P).unwrap();
    s.pmap.remove(p, a, a + 4 * P);
    assert_eq!(s.read_u8(p, a + 2 * P).unwrap(), 12);
    assert_eq!(depth(&s), 1);
    let st = s.vm.stats();
    assert_eq!(st.collapses, 1);
    assert_eq!(st.collapse_pages, 3);
    // No copy needed for a write now.
    let before = s.vm.stats().flt_cow;
    s.write(p, a + P, b"q").unwrap();
    assert_eq!(s.vm.stats().flt_cow, before);
    ok(&s);
}

#[test]
fn prefault_maps_neighbours() {
    let (mut s, sp) = sim(256);
    let a = map_anon(&mut s, sp, 16);
    let m = fault(&mut s, sp, a + 8 * P, Access::Write).unwrap();
    assert_eq!(m.prefaulted, 7);
    assert!(s.pmap.is_mapped(sp, a + 12 * P) && s.pmap.is_mapped(sp, a + 5 * P));
    assert!(!s.pmap.is_mapped(sp, a + 13 * P));
    // Random advice turns it off; sequential looks ahead only.
    s.vm.madvise(sp, a, 16 * P, Advice::Random, &mut s.pmap)
        .unwrap();
    let m = fault(&mut s, sp, a, Access::Read).unwrap();
    assert_eq!(m.prefaulted, 0);
    s.vm.madvise(sp, a, 16 * P, Advice::Sequential, &mut s.pmap)
        .unwrap();
    let b = map_anon(&mut s, sp, 16);
    s.vm.madvise(sp, b, 16 * P, Advice::Sequential, &mut s.pmap)
        .unwrap();
    let m = fault(&mut s, sp, b + 4 * P, Access::Read).unwrap();
    assert_eq!(m.prefaulted, 8);
    assert!(!s.pmap.is_mapped(sp, b + 3 * P));
    ok(&s);
}

/// Without advice, a fault just past the last window ahead is a touch
/// in order: the window doubles ahead (`next_fault`), so a first touch in
/// order of 90 pages faults once per 9 pages after the first window.
#[test]
fn prefault_follows_a_touch_in_order() {
    let (mut s, sp) = sim(256);
    let a = map_anon(&mut s, sp, 90);
    let before = s.vm.stats().faults;
    for i in 0..90 {
        s.write(sp, a + i * P, &[i as u8]).unwrap();
    }
    // Pages 0..5 (first window), then 5..14, 14..23, ... : 1 + 10 faults.
    assert_eq!(s.vm.stats().faults - before, 11);
    for i in 0..90 {
        assert_eq!(s.read_u8(sp, a + i * P).unwrap(), i as u8);
    }
    // A fault anywhere else keeps the ordinary window, behind included.
    let b = map_anon(&mut s, sp, 16);
    let m = fault(&mut s, sp, b + 8 * P, Access::Write).unwrap();
    assert_eq!(m.prefaulted, 7);
    ok(&s);
}

/// A fault retried after the I/O it waited for (`Vm::refault`) enters
/// its page alone unless the touch is in order; a scattered `Vm::fault`
/// enters the resident neighbours.
#[test]
fn a_refault_faults_around_only_in_order() {
    let (mut s, sp) = sim(256);
    let a = map_anon(&mut s, sp, 32);
    for i in 0..32 {
        s.write(sp, a + i * P, &[i as u8]).unwrap();
    }
    // Resident and unmapped, with no flag that keeps fault-around off.
    s.vm.mprotect(sp, a, 32 * P, Prot::NONE, &mut s.pmap)
        .unwrap();
    s.vm.mprotect(sp, a, 32 * P, Prot::RW, &mut s.pmap).unwrap();
    assert!((0..32).all(|i| !s.pmap.is_mapped(sp, a + i * P)));
    let r = s.vm.refault(sp, a + 8 * P, Access::Read, &mut s.pmap);
    assert_eq!(r.unwrap().mapping().unwrap().prefaulted, 0);
    assert!(!s.pmap.is_mapped(sp, a + 9 * P) && !s.pmap.is_mapped(sp, a + 7 * P));
    // It leaves the next page as the place of a touch in order.
    let r = s.vm.refault(sp, a + 9 * P, Access::Read, &mut s.pmap);
    assert_eq!(r.unwrap().mapping().unwrap().prefaulted, 8, "pages 10..18");
    // A scattered fault through `fault` enters its neighbours, 3 behind
    // and 4 ahead ...
    let m = fault(&mut s, sp, a + 23 * P, Access::Read).unwrap();
    assert_eq!(m.prefaulted, 7);
    // ... and a refault where that window left off ahead is in order.
    let r = s.vm.refault(sp, a + 28 * P, Access::Read, &mut s.pmap);
    assert_eq!(r.unwrap().mapping().unwrap().prefaulted, 3, "pages 29..32");
    for i in 0..32 {
        assert_eq!(s.read_u8(sp, a + i * P).unwrap(), i as u8);
    }
    ok(&s);
}

/// Fault-around leaves alone the pages the scan unmapped to test their
/// reference bits, unless the touch is in order (`prefault_candidate`).
#[test]
fn prefault_leaves_pages_under_a_reference_test_unless_in_order() {
    let (mut s, sp) = sim(64);
    let a = map_anon(&mut s, sp, 16);
    // Each page faulted on (fault-around off), so each is referenced.
    s.vm.madvise(sp, a, 16 * P, Advice::Random, &mut s.pmap)
        .unwrap();
    for i in 0..16 {
        s.write(sp, a + i * P, &[i as u8]).unwrap();
    }
    s.vm.madvise(sp, a, 16 * P, Advice::Normal, &mut s.pmap)
        .unwrap();
    // No swap: the pass only tests reference bits, by unmapping.
    s.vm.pageout(&mut s.pmap, 64);
    assert!((0..16).all(|i| !s.pmap.is_mapped(sp, a + i * P)));
    let m = fault(&mut s, sp, a + 8 * P, Access::Read).unwrap();
    assert_eq!(m.prefaulted, 0, "a scattered fault maps its page only");
    // The next page is a touch in order: its window enters them.
    let m = fault(&mut s, sp, a + 9 * P, Access::Read).unwrap();
    assert_eq!(m.prefaulted, 6, "pages 10..16");
    for i in 0..16 {
        assert_eq!(s.read_u8(sp, a + i * P).unwrap(), i as u8);
    }
    ok(&s);
}

#[test]
fn willneed_dontneed_free() {
    let (mut s, sp) = sim_exact(64);
    let a = map_anon(&mut s, sp, 4);
    for i in 0..4 {
        s.write(sp, a + i * P, &[7]).unwrap();
    }
    s.vm.madvise(sp, a, 4 * P, Advice::WillNeed, &mut s.pmap)
        .unwrap();
    assert!(s.pmap.is_mapped(sp, a + 3 * P));
    assert_eq!(s.read_u8(sp, a + 2 * P).unwrap(), 7);
    // MADV_FREE is lazy (semantics: madvise-free-private): the pages keep
    // their contents until pageout takes them, a write keeps them for
    // good, and what pageout took reads as zero.
    s.vm.madvise(sp, a, 4 * P, Advice::Free, &mut s.pmap)
        .unwrap();
    assert_eq!(s.read_u8(sp, a + P).unwrap(), 7);
    s.write(sp, a + 3 * P, &[9]).unwrap();
    // Two pages wanted: the policy takes the two cold ones and keeps the
    // two just used (a larger want may take page 1 too: old or zero).
    s.vm.pageout(&mut s.pmap, 2);
    assert_eq!(s.read_u8(sp, a).unwrap(), 0);
    assert_eq!(s.read_u8(sp, a + 2 * P).unwrap(), 0);
    assert_eq!(s.read_u8(sp, a + P).unwrap(), 7, "touched again: kept");
    assert_eq!(s.read_u8(sp, a + 3 * P).unwrap(), 9, "written: kept");
    assert_eq!(
        s.vm.madvise(sp, a, 8 * P, Advice::Normal, &mut s.pmap),
        Err(VmError::NoMapping)
    );
    ok(&s);
}

#[test]
fn mincore_reports_residency_and_bits() {
    let (mut s, sp) = sim_exact(64);
    let a = map_anon(&mut s, sp, 3);
    s.write(sp, a, b"x").unwrap();
    s.read_u8(sp, a + P).unwrap();
    let v = s.vm.mincore(sp, a, 3 * P).unwrap();
    assert_eq!(v[0], MINCORE_INCORE | MINCORE_REFERENCED | MINCORE_MODIFIED);
    assert_eq!(v[1], MINCORE_INCORE | MINCORE_REFERENCED);
    assert_eq!(v[2], 0);
    assert_eq!(s.vm.mincore(sp, a, 4 * P), Err(VmError::NoMapping));
}

#[test]
fn mlock_wires_and_survives_cow() {
    let (mut s, p) = sim_exact(64);
    let a = map_anon(&mut s, p, 4);
    s.vm.mlock(p, a, 4 * P, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().wired, 4);
    s.vm.mlock(p, a, 2 * P, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().wired, 4);
    ok(&s);
    // Fork: the parent's next write copies, and the wiring moves along.
    s.write(p, a, b"w").unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    s.write(p, a, b"W").unwrap();
    assert_eq!(s.read_u8(c, a).unwrap(), b'w');
    ok(&s);
    // Locks do not stack: one munlock unlocks the range locked twice
    // (semantics: mlock-stacking), and a second is harmless.
    s.vm.munlock(p, a, 4 * P).unwrap();
    assert_eq!(s.vm.stats().wired, 0);
    s.vm.munlock(p, a, 4 * P).unwrap();
    assert_eq!(s.vm.stats().wired, 0);
    assert_eq!(
        s.vm.mlock(p, a, 8 * P, &mut s.pmap),
        Err(VmError::NoMapping)
    );
    // Unmapping wired memory unwires it.
    s.vm.mlock(p, a, 4 * P, &mut s.pmap).unwrap();
    s.vm.munmap(p, a, 4 * P, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().wired, 0);
    ok(&s);
}

#[test]
fn mlock_out_of_memory_changes_nothing_visible() {
    let cfg = VmConfig {
        reserved_pages: 4,
        prefault_ahead: 0,
        prefault_behind: 0,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, 12);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let a =
        s.vm.mmap(sp, &MmapArgs::anon(16 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    assert_eq!(
        s.vm.mlock(sp, a, 16 * P, &mut s.pmap),
        Err(VmError::OutOfMemory)
    );
    assert_eq!(s.vm.stats().wired, 0);
    assert_eq!(s.vm.space(sp).unwrap().map().entry_count(), 1);
    ok(&s);
}

#[test]
fn reserve_keeps_last_pages_from_faults() {
    let cfg = VmConfig {
        reserved_pages: 4,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, 10);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let a =
        s.vm.mmap(sp, &MmapArgs::anon(16 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    for i in 0..6 {
        s.write(sp, a + i * P, &[1]).unwrap();
    }
    assert_eq!(s.write(sp, a + 6 * P, &[1]), Err(VmError::OutOfMemory));
    let st = s.vm.stats();
    assert_eq!((st.free, st.flt_noram), (4, 1));
    ok(&s);
}

#[test]
fn msync_flags() {
    let (mut s, sp) = sim(64);
    let a = map_anon(&mut s, sp, 2);
    s.write(sp, a, b"m").unwrap();
    assert_eq!(
        s.vm.msync(sp, a, P, MsyncFlags::SYNC | MsyncFlags::ASYNC, &mut s.pmap),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(
        s.vm.msync(sp, a, 4 * P, MsyncFlags::SYNC, &mut s.pmap),
        Err(VmError::NoMapping)
    );
    s.vm.msync(sp, a, 2 * P, MsyncFlags::INVALIDATE, &mut s.pmap)
        .unwrap();
    assert!(!s.pmap.is_mapped(sp, a));
    assert_eq!(s.read_u8(sp, a).unwrap(), b'm');
    s.vm.mlock(sp, a, P, &mut s.pmap).unwrap();
    assert_eq!(
        s.vm.msync(sp, a, P, MsyncFlags::INVALIDATE, &mut s.pmap),
        Err(VmError::Busy)
    );
}

#[test]
fn shared_memory_objects() {
    let (mut s, a) = sim(64);
    let b = s.vm.space_create(&mut s.pmap).unwrap();
    // One name group (semantics: names-group).
    s.vm.set_name_group(a, 1).unwrap();
    s.vm.set_name_group(b, 1).unwrap();
    let h = s.vm.shm_create(a, Some("buf"), 2 * P, Prot::ALL).unwrap();
    assert_eq!(
        s.vm.shm_create(a, Some("buf"), P, Prot::ALL),
        Err(VmError::NameExists)
    );
    assert_eq!(
        s.vm.shm_create(a, None, P + 1, Prot::ALL),
        Err(VmError::Unaligned)
    );
    assert_eq!(
        s.vm.shm_open(b, "nope", Prot::READ),
        Err(VmError::NoSuchName)
    );
    let hb = s.vm.shm_open(b, "buf", Prot::READ).unwrap();
    let va =
        s.vm.mmap(a, &MmapArgs::object(h, 0, 2 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    assert_eq!(
        s.vm.mmap(b, &MmapArgs::object(hb, 0, 2 * P, Prot::RW), &mut s.pmap),
        Err(VmError::Protection)
    );
    let vb =
        s.vm.mmap(b, &MmapArgs::object(hb, 0, 2 * P, Prot::READ), &mut s.pmap)
            .unwrap();
    assert_eq!(
        s.vm.mprotect(b, vb, P, Prot::RW, &mut s.pmap),
        Err(VmError::MaxProtection)
    );
    s.write(a, va + P, b"hello").unwrap();
    assert_eq!(s.read_u8(b, vb + P).unwrap(), b'h');
    // A private mapping copies on write and keeps seeing the rest.
    let mut pr = MmapArgs::object(hb, 0, 2 * P, Prot::RW);
    pr.flags = MapFlags::PRIVATE;
    let vp = s.vm.mmap(b, &pr, &mut s.pmap).unwrap();
    s.write(b, vp + P, b"J").unwrap();
    assert_eq!(s.read_u8(a, va + P).unwrap(), b'h');
    assert_eq!(s.read_u8(b, vp + P).unwrap(), b'J');
    // Handle passing with fewer rights only, into a space that accepts.
    let c = s.vm.space_create(&mut s.pmap).unwrap();
    assert_eq!(
        s.vm.handle_share(a, h, c, Prot::READ),
        Err(VmError::Protection)
    );
    s.vm.handle_accept(c, a, 1).unwrap();
    s.vm.handle_accept(c, b, 1).unwrap();
    assert_eq!(
        s.vm.handle_share(b, hb, c, Prot::RW),
        Err(VmError::Protection)
    );
    let hc = s.vm.handle_share(a, h, c, Prot::READ).unwrap();
    let vc =
        s.vm.mmap(c, &MmapArgs::object(hc, P, P, Prot::READ), &mut s.pmap)
            .unwrap();
    assert_eq!(s.read_u8(c, vc).unwrap(), b'h');
    // Truncation: pages past the end go from every mapping.
    assert_eq!(
        s.vm.shm_truncate(b, hb, P, &mut s.pmap),
        Err(VmError::Protection)
    );
    s.vm.shm_truncate(a, h, P, &mut s.pmap).unwrap();
    assert_eq!(s.read_u8(a, va + P), Err(VmError::BeyondObject));
    assert_eq!(s.read_u8(c, vc), Err(VmError::BeyondObject));
    assert_eq!(s.read_u8(b, vp + P).unwrap(), b'J');
    s.vm.shm_truncate(a, h, 2 * P, &mut s.pmap).unwrap();
    assert_eq!(s.read_u8(a, va + P).unwrap(), 0);
    ok(&s);
    // Unlink and close: the object lives while mapped.
    assert_eq!(s.vm.shm_unlink(b, "buf"), Err(VmError::Protection));
    s.vm.shm_unlink(a, "buf").unwrap();
    assert_eq!(s.vm.shm_unlink(a, "buf"), Err(VmError::NoSuchName));
    s.vm.handle_close(a, h).unwrap();
    assert_eq!(s.vm.handle_close(a, h), Err(VmError::BadHandle));
    s.write(a, va, b"z").unwrap();
    assert_eq!(s.read_u8(b, vb).unwrap(), b'z');
    for sp in [a, b, c] {
        s.vm.exit(sp, &mut s.pmap).unwrap();
    }
    let st = s.vm.stats();
    assert_eq!((st.free, st.objects), (64, 0));
}

#[test]
fn physical_objects() {
    let (mut s, sp) = sim(64);
    let o = s.vm.create_physical(FrameNumber(60), 4).unwrap();
    assert_eq!(
        s.vm.create_physical(FrameNumber(62), 4),
        Err(VmError::OutOfRange)
    );
    assert_eq!(s.vm.create_physical(FrameNumber(60), 1), Err(VmError::Busy));
    assert_eq!(
        s.vm.create_physical(FrameNumber(0), 0),
        Err(VmError::ZeroLength)
    );
    let h = s.vm.handle_insert(sp, o, Prot::RW).unwrap();
    let va =
        s.vm.mmap(sp, &MmapArgs::object(h, 0, 4 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.write(sp, va + 2 * P, b"dev").unwrap();
    assert_eq!(s.pmap.lookup(sp, va + 2 * P).unwrap().0, FrameNumber(62));
    assert_eq!(s.read_u8(sp, va + 4 * P), Err(VmError::NoMapping));
    s.vm.mlock(sp, va, 4 * P, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().unmanaged, 4);
    ok(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    s.vm.object_release(o).unwrap();
    assert_eq!(s.vm.stats().free, 64);
}

#[test]
fn emulated_reference_and_modify_bits() {
    let (mut s, sp) = sim_exact(64);
    let a = map_anon(&mut s, sp, 1);
    s.read_u8(sp, a).unwrap();
    let f = s.pmap.lookup(sp, a).unwrap().0;
    assert!(s.vm.page_is_referenced(f, &s.pmap));
    assert!(!s.vm.page_is_modified(f, &s.pmap));
    s.write(sp, a, b"d").unwrap();
    assert!(s.vm.page_is_modified(f, &s.pmap));
    s.vm.page_clear_modify(f, &mut s.pmap);
    assert_eq!(s.pmap.lookup(sp, a).unwrap().1, Prot::READ);
    s.write(sp, a, b"e").unwrap();
    assert!(s.vm.page_is_modified(f, &s.pmap));
    s.vm.page_clear_reference(f, &mut s.pmap);
    assert!(!s.vm.page_is_referenced(f, &s.pmap));
    assert!(!s.pmap.is_mapped(sp, a));
    assert_eq!(s.read_u8(sp, a).unwrap(), b'e');
    assert!(s.vm.page_is_referenced(f, &s.pmap));
    ok(&s);
}

#[test]
fn pmap_failure_is_out_of_memory() {
    let (mut s, sp) = sim(64);
    let a = map_anon(&mut s, sp, 1);
    s.pmap.fail_enter = true;
    assert_eq!(
        fault(&mut s, sp, a, Access::Read),
        Err(VmError::OutOfMemory)
    );
    s.pmap.fail_enter = false;
    assert_eq!(s.read_u8(sp, a).unwrap(), 0);
    ok(&s);
}

#[test]
fn exit_frees_everything() {
    let (mut s, p) = sim(128);
    let a = map_anon(&mut s, p, 8);
    s.write(p, a, &[1; 8 * 4096]).unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    s.write(c, a, &[2; 3 * 4096]).unwrap();
    s.vm.exit(p, &mut s.pmap).unwrap();
    assert_eq!(s.read_u8(c, a + 5 * P).unwrap(), 1);
    assert_eq!(s.vm.exit(p, &mut s.pmap), Err(VmError::BadSpace));
    s.vm.exit(c, &mut s.pmap).unwrap();
    let st = s.vm.stats();
    assert_eq!((st.free, st.objects, st.spaces), (128, 0, 0));
    ok(&s);
}

#[test]
fn a_fork_whose_merge_does_not_fit_fails_and_changes_nothing() {
    // semantics: fork-depth, fork-atomic
    let (mut s, p) = sim(96);
    let n = 8;
    let a = map_anon(&mut s, p, n);
    let depth = |s: &Sim| chain_len(s, p, a);
    let max = VmConfig::default().max_chain_depth;
    let mut kids = Vec::new();
    // Fork and rewrite every page until the chain is at the limit.
    for gen in 1..=5u8 {
        s.write(p, a, &[gen; 8 * 4096]).unwrap();
        if depth(&s) == max {
            break;
        }
        kids.push(s.vm.fork(p, &mut s.pmap).unwrap());
    }
    assert_eq!(depth(&s), max);
    // Fill memory (no swap) until one more page does not fit.
    let fill = map_anon(&mut s, p, 96);
    let mut used = 0;
    while s.write(p, fill + used * P, &[1]).is_ok() {
        used += 1;
    }
    let merges = s.vm.stats().chain_merges;
    assert_eq!(s.vm.fork(p, &mut s.pmap), Err(VmError::OutOfMemory));
    assert_eq!(s.vm.stats().chain_merges, merges);
    ok(&s);
    // The parent goes on as before the failed fork.
    s.vm.munmap(p, fill, P, &mut s.pmap).unwrap();
    s.write(p, a + 3 * P, &[9]).unwrap();
    for i in 0..n {
        let want = if i == 3 { 9 } else { 5 };
        assert_eq!(s.read_u8(p, a + i * P).unwrap(), want, "page {i}");
    }
    // With room, the same fork merges and succeeds.
    s.vm.munmap(p, fill + P, 95 * P, &mut s.pmap).unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    assert!(s.vm.stats().chain_merges > merges);
    assert_eq!(s.read_u8(c, a + 3 * P).unwrap(), 9);
    ok(&s);
}

#[test]
fn config_validation() {
    let bad = VmConfig {
        max_chain_depth: 2,
        ..VmConfig::default()
    };
    assert!(Vm::new(bad, 10).is_err());
    let bad = VmConfig {
        user_min: 5,
        ..VmConfig::default()
    };
    assert!(Vm::new(bad, 10).is_err());
}

#[test]
fn lookup_many_entries() {
    let (mut s, sp) = sim(16);
    // Alternate protections so entries do not merge.
    for i in 0..2000u64 {
        let prot = if i % 2 == 0 { Prot::READ } else { Prot::RW };
        s.vm.mmap(sp, &MmapArgs::anon(P, prot).fixed(MIN + i * P), &mut s.pmap)
            .unwrap();
    }
    let map = s.vm.space(sp).unwrap().map();
    assert_eq!(map.entry_count(), 2000);
    for i in (0..2000u64).step_by(37) {
        assert_eq!(map.lookup(MIN + i * P + 5).unwrap().start(), MIN + i * P);
    }
    assert_eq!(map.findspace(MIN, P, P), Some(MIN + 2000 * P));
    map.check().unwrap();
}

#[test]
fn overlay_makes_the_object_at_map_time() {
    let (mut s, sp) = sim(64);
    let mut args = MmapArgs::anon(4 * P, Prot::RW);
    args.flags |= MapFlags::OVERLAY;
    let a = s.vm.mmap(sp, &args, &mut s.pmap).unwrap();
    let e = s.vm.space(sp).unwrap().map().lookup(a).unwrap();
    assert_eq!(e.chain().len(), 1);
    assert_eq!(s.vm.stats().objects, 1);
    // Without it the object waits for the first fault.
    let b = map_anon(&mut s, sp, 4);
    assert!(s
        .vm
        .space(sp)
        .unwrap()
        .map()
        .lookup(b)
        .unwrap()
        .chain()
        .is_empty());
    s.read_u8(sp, b).unwrap();
    assert_eq!(s.vm.stats().objects, 2);
    ok(&s);
}

#[test]
fn exec_access_needs_exec() {
    let (mut s, sp) = sim_exact(64);
    let a =
        s.vm.mmap(sp, &MmapArgs::anon(P, Prot::READ | Prot::EXEC), &mut s.pmap)
            .unwrap();
    let m = fault(&mut s, sp, a, Access::Execute).unwrap();
    assert_eq!(m.prot, Prot::READ | Prot::EXEC);
    assert_eq!(
        fault(&mut s, sp, a, Access::Write),
        Err(VmError::Protection)
    );
    ok(&s);
}

#[test]
fn fork_duplicates_handles() {
    let (mut s, p) = sim(64);
    let h = s.vm.shm_create(p, None, P, Prot::ALL).unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    let va =
        s.vm.mmap(c, &MmapArgs::object(h, 0, P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.write(c, va, b"c").unwrap();
    let vp =
        s.vm.mmap(p, &MmapArgs::object(h, 0, P, Prot::READ), &mut s.pmap)
            .unwrap();
    assert_eq!(s.read_u8(p, vp).unwrap(), b'c');
    // Handle numbers continue independently.
    let h2 = s.vm.shm_create(c, None, P, Prot::ALL).unwrap();
    assert!(h2.0 > h.0);
    s.vm.exit(p, &mut s.pmap).unwrap();
    s.vm.exit(c, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().objects, 0);
}

#[test]
fn private_mapping_of_shared_memory_forks() {
    let (mut s, p) = sim(64);
    let h = s.vm.shm_create(p, None, 2 * P, Prot::ALL).unwrap();
    let shared =
        s.vm.mmap(p, &MmapArgs::object(h, 0, 2 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    let mut pr = MmapArgs::object(h, 0, 2 * P, Prot::RW);
    pr.flags = MapFlags::PRIVATE;
    let private = s.vm.mmap(p, &pr, &mut s.pmap).unwrap();
    s.write(p, shared, b"1").unwrap();
    assert_eq!(s.read_u8(p, private).unwrap(), b'1');
    s.write(p, private, b"2").unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    assert_eq!(s.read_u8(c, private).unwrap(), b'2');
    // Untouched private pages still show the object.
    s.write(p, shared + P, b"3").unwrap();
    assert_eq!(s.read_u8(c, private + P).unwrap(), b'3');
    assert_eq!(s.read_u8(c, shared + P).unwrap(), b'3');
    ok(&s);
}

#[test]
fn sharing_one_clipped_piece_keeps_the_rest_private() {
    let (mut s, p) = sim_exact(64);
    let a = map_anon(&mut s, p, 4);
    for i in 0..4 {
        s.write(p, a + i * P, &[i as u8]).unwrap();
    }
    s.vm.minherit(p, a, 2 * P, Inheritance::Share).unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    // The shared half is shared, the copied half a snapshot.
    s.write(p, a + P, &[9]).unwrap();
    s.write(p, a + 3 * P, &[9]).unwrap();
    assert_eq!(s.read_u8(c, a + P).unwrap(), 9);
    assert_eq!(s.read_u8(c, a + 3 * P).unwrap(), 3);
    // A copy-fork of the private half from the parent stays a snapshot.
    let c2 = s.vm.fork(p, &mut s.pmap).unwrap();
    s.write(p, a + 2 * P, &[7]).unwrap();
    assert_eq!(s.read_u8(c2, a + 2 * P).unwrap(), 2);
    ok(&s);
}

#[test]
fn failed_fork_leaves_no_child() {
    let cfg = VmConfig {
        reserved_pages: 0,
        prefault_ahead: 0,
        prefault_behind: 0,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, 6);
    let p = s.vm.space_create(&mut s.pmap).unwrap();
    let a =
        s.vm.mmap(p, &MmapArgs::anon(4 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.write(p, a, &[1; 4 * 4096]).unwrap();
    let _c = s.vm.fork(p, &mut s.pmap).unwrap();
    // Sharing now needs a flattened copy of 4 pages, and 2 are free.
    s.vm.minherit(p, a, 4 * P, Inheritance::Share).unwrap();
    assert_eq!(s.vm.fork(p, &mut s.pmap), Err(VmError::OutOfMemory));
    assert_eq!(s.vm.stats().spaces, 2);
    assert_eq!(s.read_u8(p, a + 3 * P).unwrap(), 1);
    ok(&s);
}

#[test]
fn findspace_wraps_below_the_hint() {
    let cfg = VmConfig {
        user_min: MIN,
        user_max: MIN + 16 * P,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, 16);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    s.vm.mmap(
        sp,
        &MmapArgs::anon(4 * P, Prot::RW).fixed(MIN + 12 * P),
        &mut s.pmap,
    )
    .unwrap();
    let mut h = MmapArgs::anon(4 * P, Prot::RW);
    h.addr = MIN + 10 * P;
    assert_eq!(s.vm.mmap(sp, &h, &mut s.pmap), Ok(MIN));
    let map = s.vm.space(sp).unwrap().map();
    assert_eq!(map.findspace(MIN, 8 * P, P), Some(MIN + 4 * P));
    assert_eq!(map.findspace(MIN, 9 * P, P), None);
    assert_eq!(map.findspace(MIN, 4 * P, 8 * P), Some(MIN + 8 * P));
}

#[test]
fn handle_errors() {
    let (mut s, a) = sim(64);
    assert_eq!(
        s.vm.shm_create(SpaceId(42), None, P, Prot::ALL),
        Err(VmError::BadSpace)
    );
    assert_eq!(
        s.vm.shm_create(a, Some(""), P, Prot::ALL),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(s.vm.handle_close(a, Handle(5)), Err(VmError::BadHandle));
    assert_eq!(
        s.vm.shm_truncate(a, Handle(5), P, &mut s.pmap),
        Err(VmError::BadHandle)
    );
    let h = s.vm.shm_create(a, None, P, Prot::ALL).unwrap();
    assert_eq!(
        s.vm.shm_truncate(a, h, 3, &mut s.pmap),
        Err(VmError::Unaligned)
    );
    assert_eq!(
        s.vm.handle_share(a, h, SpaceId(42), Prot::READ),
        Err(VmError::BadSpace)
    );
    let mut off = MmapArgs::object(h, 1, P, Prot::READ);
    assert_eq!(s.vm.mmap(a, &off, &mut s.pmap), Err(VmError::Unaligned));
    off.source = MapSource::Handle {
        handle: h,
        offset: !(P - 1),
    };
    assert_eq!(s.vm.mmap(a, &off, &mut s.pmap), Err(VmError::Overflow));
    // Truncating wired pages away is refused.
    let va =
        s.vm.mmap(a, &MmapArgs::object(h, 0, P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.vm.mlock(a, va, P, &mut s.pmap).unwrap();
    assert_eq!(s.vm.shm_truncate(a, h, 0, &mut s.pmap), Err(VmError::Busy));
    s.vm.munlock(a, va, P).unwrap();
    s.vm.shm_truncate(a, h, 0, &mut s.pmap).unwrap();
    assert_eq!(s.read_u8(a, va), Err(VmError::BeyondObject));
    assert_eq!(
        s.vm.mlock(a, va, P, &mut s.pmap),
        Err(VmError::BeyondObject)
    );
    ok(&s);
}

#[test]
fn counters_track_events() {
    let (mut s, p) = sim_exact(64);
    let a = map_anon(&mut s, p, 2);
    s.write(p, a, b"x").unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    s.read_u8(c, a).unwrap();
    s.write(c, a, b"y").unwrap();
    s.vm.exit(c, &mut s.pmap).unwrap();
    let st = s.vm.stats();
    assert_eq!((st.forks, st.exits, st.mmaps), (1, 1, 1));
    assert_eq!((st.flt_zero, st.flt_share, st.flt_cow), (1, 1, 1));
    assert_eq!(st.fork_copied_entries, 1);
    assert_eq!(st.shadows, 1);
    assert_eq!(
        st.free + st.active + st.inactive + st.wired + st.unmanaged,
        st.npages
    );
}

#[test]
fn every_range_operation_validates_its_range() {
    let (mut s, sp) = sim(64);
    let a = map_anon(&mut s, sp, 4);
    let bad: [(u64, u64, VmError); 5] = [
        (a, 0, VmError::ZeroLength),
        (a + 1, P, VmError::Unaligned),
        (a, P + 7, VmError::Unaligned),
        (!(P - 1), 2 * P, VmError::Overflow),
        (P, P, VmError::OutOfRange),
    ];
    for (addr, len, want) in bad {
        let pm = &mut s.pmap;
        let vm = &mut s.vm;
        assert_eq!(vm.munmap(sp, addr, len, pm), Err(want));
        assert_eq!(vm.mprotect(sp, addr, len, Prot::READ, pm), Err(want));
        assert_eq!(vm.minherit(sp, addr, len, Inheritance::None), Err(want));
        assert_eq!(vm.madvise(sp, addr, len, Advice::Free, pm), Err(want));
        assert_eq!(vm.mincore(sp, addr, len), Err(want));
        assert_eq!(vm.mlock(sp, addr, len, pm), Err(want));
        assert_eq!(vm.munlock(sp, addr, len), Err(want));
        assert_eq!(vm.msync(sp, addr, len, MsyncFlags::SYNC, pm), Err(want));
    }
    // A bad space beats everything.
    assert_eq!(
        s.vm.munmap(SpaceId(9), a, P, &mut s.pmap),
        Err(VmError::BadSpace)
    );
    assert_eq!(
        s.vm.mprotect(SpaceId(9), a, P, Prot::READ, &mut s.pmap),
        Err(VmError::BadSpace)
    );
    assert_eq!(s.vm.fork(SpaceId(9), &mut s.pmap), Err(VmError::BadSpace));
    // Nothing changed.
    let map = s.vm.space(sp).unwrap().map();
    assert_eq!((map.entry_count(), map.size()), (1, 4 * P));
    assert_eq!(map.lookup(a).unwrap().prot(), Prot::RW);
    ok(&s);
}

#[test]
fn dontneed_gives_zero_fill_back_on_private_memory() {
    let (mut s, sp) = sim_exact(64);
    let a = map_anon(&mut s, sp, 4);
    for i in 0..4 {
        s.write(sp, a + i * P, &[7]).unwrap();
    }
    let free = s.vm.stats().free;
    s.vm.madvise(sp, a, 2 * P, Advice::DontNeed, &mut s.pmap)
        .unwrap();
    assert!(!s.pmap.is_mapped(sp, a));
    assert_eq!(s.vm.stats().free, free + 2, "the discarded pages are free");
    assert_eq!(s.read_u8(sp, a).unwrap(), 0);
    assert_eq!(s.read_u8(sp, a + P).unwrap(), 0);
    assert_eq!(s.read_u8(sp, a + 2 * P).unwrap(), 7, "outside the range");
    // Whatever the fork history: the child's copy-on-write view goes too.
    let child = s.vm.fork(sp, &mut s.pmap).unwrap();
    s.vm.madvise(child, a + 2 * P, 2 * P, Advice::DontNeed, &mut s.pmap)
        .unwrap();
    assert_eq!(s.read_u8(child, a + 2 * P).unwrap(), 0);
    assert_eq!(
        s.read_u8(sp, a + 2 * P).unwrap(),
        7,
        "the parent keeps its data"
    );
    ok(&s);
}

#[test]
fn dontneed_keeps_shared_contents_and_refuses_wired() {
    let (mut s, sp) = sim_exact(64);
    let a =
        s.vm.mmap(sp, &MmapArgs::anon_shared(4 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.write(sp, a, &[9]).unwrap();
    s.vm.madvise(sp, a, 4 * P, Advice::DontNeed, &mut s.pmap)
        .unwrap();
    assert!(!s.pmap.is_mapped(sp, a));
    assert_eq!(s.vm.stats().inactive, 1, "deactivated, not freed");
    assert_eq!(s.read_u8(sp, a).unwrap(), 9);
    let w = map_anon(&mut s, sp, 2);
    s.write(sp, w, &[5]).unwrap();
    s.vm.mlock(sp, w, 2 * P, &mut s.pmap).unwrap();
    assert_eq!(
        s.vm.madvise(sp, w, 2 * P, Advice::DontNeed, &mut s.pmap),
        Err(VmError::Busy)
    );
    assert_eq!(s.read_u8(sp, w).unwrap(), 5, "nothing changed");
    ok(&s);
}

#[test]
fn paging_targets_derive_from_the_pool_and_overrides_are_checked() {
    let (s, _) = sim(1000);
    let t = s.vm.paging_targets().unwrap();
    assert_eq!(t.reserved, VmConfig::default().reserved_pages);
    t.validate(1000).unwrap();
    assert_eq!(s.vm.pressure(), Pressure::Plenty);
    assert_eq!(s.vm.pageout_shortage(false), 0);
    // Too small a pool for seven levels: no targets, no pageout demand.
    let (s, _) = sim(40);
    assert_eq!(s.vm.paging_targets(), None);
    assert_eq!(s.vm.pressure(), Pressure::Plenty);
    let mut cfg = VmConfig {
        paging_targets: Some(t),
        ..VmConfig::default()
    };
    assert!(Vm::new(cfg.clone(), 1000).is_ok());
    assert!(Vm::new(cfg.clone(), t.target2).is_err());
    cfg.reserved_pages += 1;
    assert!(Vm::new(cfg.clone(), 1000).is_err());
    let cfg = VmConfig {
        pageout_cluster: 0,
        ..VmConfig::default()
    };
    assert!(Vm::new(cfg, 1000).is_err());
}

#[test]
fn pressure_follows_the_free_count() {
    let cfg = VmConfig {
        prefault_ahead: 0,
        prefault_behind: 0,
        reserved_pages: 4,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, 64);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    let t = s.vm.paging_targets().unwrap();
    assert_eq!(t.reserved, 4);
    let va = map_anon(&mut s, sp, 64);
    let mut i = 0;
    while s.vm.pool().free_count() >= t.start {
        fault(&mut s, sp, va + i * P, Access::Write).unwrap();
        i += 1;
    }
    assert_eq!(s.vm.pressure(), Pressure::Start);
    assert_eq!(s.vm.pageout_shortage(false), t.target1 - t.start + 1);
    assert_eq!(s.vm.pageout_shortage(true), t.target2 - t.start + 1);
}

#[test]
fn zero_fill_maps_pre_zeroed_frames_after_idle_zeroing() {
    let (mut s, sp) = sim_exact(64);
    let a = map_anon(&mut s, sp, 8);
    // Dirty 48 of the pool's 64 frames, then give them back.
    let b = map_anon(&mut s, sp, 48);
    for i in 0..48 {
        s.write(sp, b + i * P, &[0xa5; P as usize]).unwrap();
    }
    s.vm.munmap(sp, b, 48 * P, &mut s.pmap).unwrap();
    assert!(s.vm.zero_wanted());
    let n = s.vm.zero_idle(&mut s.pmap, 1000);
    let st = s.vm.stats();
    assert_eq!(st.zeropages, n);
    assert_eq!(st.prezeroed, u64::from(n));
    // Four fifths of the free frames above pageout's highest target,
    // then it rests.
    let above = st.free - s.vm.paging_targets().unwrap().target2;
    assert!(
        n * 5 >= above * 4 && (n - 1) * 5 < above * 4,
        "{n} of {above}"
    );
    assert!(!s.vm.zero_wanted());
    s.pmap.check_zeroed(&s.vm).unwrap();
    for i in 0..8 {
        let mut buf = [1u8; 64];
        s.read(sp, a + i * P, &mut buf).unwrap();
        assert_eq!(buf, [0; 64]);
    }
    let st = s.vm.stats();
    // The 48 before the idle zeroing zeroed their own frames.
    assert_eq!((st.pga_zerohit, st.pga_zeromiss), (8, 48));
    assert_eq!(st.zeropages, n - 8);
    ok(&s);
}

#[test]
fn copies_take_frames_that_are_not_pre_zeroed() {
    let (mut s, sp) = sim_exact(64);
    let a = map_anon(&mut s, sp, 1);
    s.write(sp, a, &[7; 16]).unwrap();
    let zeroed = s.vm.zero_idle(&mut s.pmap, 4);
    assert_eq!(zeroed, 4);
    // The child's write copies the page: an ordinary allocation.
    let child = s.vm.fork(sp, &mut s.pmap).unwrap();
    let cows = s.vm.stats().flt_cow;
    s.write(child, a, &[8; 16]).unwrap();
    assert_eq!(s.vm.stats().flt_cow, cows + 1, "the write copied");
    assert_eq!(s.vm.stats().zeropages, 4);
    ok(&s);
}

#[test]
fn idle_zeroing_rests_when_a_batch_ends_on_the_target() {
    let (mut s, sp) = sim_exact(64);
    // Batches of one frame, until one reaches the target exactly.
    while s.vm.zero_wanted() {
        assert_eq!(s.vm.zero_idle(&mut s.pmap, 1), 1);
    }
    // One frame taken: below four fifths, above two thirds: still resting.
    let a = map_anon(&mut s, sp, 1);
    s.write(sp, a, &[1]).unwrap();
    assert_eq!(s.vm.stats().pga_zerohit, 1);
    assert!(!s.vm.zero_wanted(), "woken for a single frame");
    ok(&s);
}

#[test]
fn copy_on_write_keeps_the_frame_mapped_only_by_the_writer() {
    let (mut s, p) = sim_exact(64);
    let a = map_anon(&mut s, p, 2);
    s.write(p, a, b"before").unwrap();
    s.write(p, a + P, b"second").unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    let (old, prot) = s.pmap.lookup(p, a).unwrap();
    assert_eq!(prot, Prot::READ, "fork write-protects the parent");
    let st = s.vm.stats();
    s.write(p, a, b"after!").unwrap();
    // The parent kept its frame, now writable; the copy went down.
    assert_eq!(s.pmap.lookup(p, a).unwrap(), (old, Prot::RW));
    let after = s.vm.stats();
    assert_eq!(after.flt_cow, st.flt_cow + 1);
    assert_eq!(after.flt_cow_trade, st.flt_cow_trade + 1);
    let mut b = [0; 6];
    s.read(c, a, &mut b).unwrap();
    assert_eq!(&b, b"before");
    assert_ne!(
        s.pmap.lookup(c, a).unwrap().0,
        old,
        "the child reads the copy"
    );
    s.read(p, a, &mut b).unwrap();
    assert_eq!(&b, b"after!");
    ok(&s);
    // Either side's exit leaves the other's contents.
    s.vm.exit(p, &mut s.pmap).unwrap();
    s.read(c, a, &mut b).unwrap();
    assert_eq!(&b, b"before");
    s.read(c, a + P, &mut b).unwrap();
    assert_eq!(&b, b"second");
    ok(&s);
}

#[test]
fn copy_on_write_copies_up_when_another_space_maps_the_frame() {
    let (mut s, p) = sim_exact(64);
    let a = map_anon(&mut s, p, 1);
    s.write(p, a, b"before").unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    let mut b = [0; 6];
    s.read(c, a, &mut b).unwrap();
    let (old, _) = s.pmap.lookup(p, a).unwrap();
    assert_eq!(s.pmap.lookup(c, a).unwrap().0, old, "both map it");
    s.write(p, a, b"after!").unwrap();
    assert_ne!(s.pmap.lookup(p, a).unwrap().0, old);
    assert_eq!(
        s.pmap.lookup(c, a).unwrap().0,
        old,
        "the child's mapping stays"
    );
    assert_eq!(s.vm.stats().flt_cow_trade, 0);
    s.read(c, a, &mut b).unwrap();
    assert_eq!(&b, b"before");
    // The child's own write: the parent no longer maps the frame, the
    // child alone does.
    s.write(c, a, b"child!").unwrap();
    assert_eq!(s.pmap.lookup(c, a).unwrap().0, old);
    assert_eq!(s.vm.stats().flt_cow_trade, 1);
    s.read(p, a, &mut b).unwrap();
    assert_eq!(&b, b"after!");
    ok(&s);
}

#[test]
fn copy_on_write_without_trading_copies_up() {
    let cfg = VmConfig {
        prefault_ahead: 0,
        prefault_behind: 0,
        cow_trade: false,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, 64);
    let p = s.vm.space_create(&mut s.pmap).unwrap();
    let a = map_anon(&mut s, p, 1);
    s.write(p, a, b"before").unwrap();
    let c = s.vm.fork(p, &mut s.pmap).unwrap();
    let (old, _) = s.pmap.lookup(p, a).unwrap();
    s.write(p, a, b"after!").unwrap();
    assert_ne!(s.pmap.lookup(p, a).unwrap().0, old);
    assert_eq!(s.vm.stats().flt_cow_trade, 0);
    let mut b = [0; 6];
    s.read(c, a, &mut b).unwrap();
    assert_eq!(&b, b"before");
    ok(&s);
}
