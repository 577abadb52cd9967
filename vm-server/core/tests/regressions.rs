//! Regression tests for what went wrong: each is named after the bug, cites the semantics-table row (`docs/semantics.md`) it checks, and failed before its fix.
//!
//! The first ones are the findings of an outside test suite run against
//! the system in QEMU (each also has a system test there); then the
//! model-test seeds that failed, reduced to the history that matters.
//! The last two pin the rule that clearing the modified bit never loses
//! a write (emulated and hardware bits); they passed before too.

use vm_core::sim::Sim;
use vm_core::*;
use vm_swap::{RamDisk, SwapPager};

const P: u64 = PAGE_SIZE;

fn cfg() -> VmConfig {
    VmConfig {
        reserved_pages: 4,
        prefault_min_free: 8,
        ..VmConfig::default()
    }
}

fn sim(frames: u32) -> (Sim, SpaceId) {
    let mut s = Sim::new(cfg(), frames);
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    (s, sp)
}

/// A sim of `frames` frames swapping to a RAM disk of `blocks` slots.
fn sim_with_swap(frames: u32, blocks: u64) -> (Sim, SpaceId) {
    let mut s = Sim::new(cfg(), frames);
    s.vm.swap_on(Box::new(SwapPager::new(RamDisk::new(blocks, 64), 16)))
        .unwrap();
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    (s, sp)
}

fn check(s: &Sim) {
    s.check().unwrap();
    s.vm.check_page_queues().unwrap();
    s.vm.check_swap().unwrap();
}

fn anon(s: &mut Sim, sp: SpaceId, pages: u64) -> u64 {
    s.vm.mmap(sp, &MmapArgs::anon(pages * P, Prot::RW), &mut s.pmap)
        .unwrap()
}

fn fill(s: &mut Sim, sp: SpaceId, va: u64, pages: u64, byte: u8) {
    for i in 0..pages {
        s.write(sp, va + i * P, &[byte; 16]).unwrap();
    }
}

/// Every frame, object and slot back after everyone exited.
fn no_leaks(s: &mut Sim, frames: u32) {
    s.vm.swap_drain(&mut s.pmap);
    s.vm.swap_poll(&mut s.pmap);
    check(s);
    let st = s.vm.stats();
    assert_eq!((st.free, st.objects, st.swpginuse), (frames, 0, 0));
}

// semantics: madvise-free-shadowed, madvise-free-private
#[test]
fn madv_free_after_fork_never_shows_the_pre_fork_contents() {
    let (mut s, parent) = sim(256);
    let va = anon(&mut s, parent, 16);
    fill(&mut s, parent, va, 16, b'V');
    let child = s.vm.fork(parent, &mut s.pmap).unwrap();
    fill(&mut s, child, va, 4, b'C');
    s.vm.madvise(child, va, 16 * P, Advice::Free, &mut s.pmap)
        .unwrap();
    // However much pageout runs, pages 0-3 read C or zero, never V.
    for _ in 0..3 {
        s.vm.pageout(&mut s.pmap, 256);
        for i in 0..4 {
            let b = s.read_u8(child, va + i * P).unwrap();
            assert!(b == b'C' || b == 0, "page {i} reads {b:#x}");
        }
        for i in 4..16 {
            let b = s.read_u8(child, va + i * P).unwrap();
            assert!(b == b'V' || b == 0, "page {i} reads {b:#x}");
        }
        check(&s);
    }
    for i in 0..16 {
        assert_eq!(s.read_u8(parent, va + i * P).unwrap(), b'V');
    }
}

// semantics: madvise-free-private
#[test]
fn madv_free_pages_on_swap_read_zero_and_give_their_slots_back() {
    let (mut s, sp) = sim_with_swap(48, 512);
    let va = anon(&mut s, sp, 128);
    fill(&mut s, sp, va, 128, 7);
    let before = s.vm.stats().swpginuse;
    assert!(before > 64, "{before} slots in use");
    s.vm.madvise(sp, va, 128 * P, Advice::Free, &mut s.pmap)
        .unwrap();
    assert_eq!(s.vm.stats().swpginuse, 0, "slots come back at once");
    for i in 0..128 {
        let b = s.read_u8(sp, va + i * P).unwrap();
        assert!(b == 7 || b == 0, "page {i} reads {b:#x}");
    }
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 48);
}

// semantics: minherit-copy-shared
#[test]
fn minherit_copy_of_shared_memory_gives_the_child_a_snapshot() {
    let (mut s, parent) = sim(256);
    let va =
        s.vm.mmap(parent, &MmapArgs::anon_shared(8 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    fill(&mut s, parent, va, 8, b'V');
    s.vm.minherit(parent, va, 8 * P, Inheritance::Copy).unwrap();
    let child = s.vm.fork(parent, &mut s.pmap).unwrap();
    fill(&mut s, child, va, 4, b'C');
    for i in 4..8 {
        s.write(parent, va + i * P, b"W").unwrap();
    }
    for i in 0..8 {
        let want = if i < 4 { b'C' } else { b'V' };
        assert_eq!(s.read_u8(child, va + i * P).unwrap(), want, "page {i}");
        let want = if i < 4 { b'V' } else { b'W' };
        assert_eq!(s.read_u8(parent, va + i * P).unwrap(), want, "page {i}");
    }
    check(&s);
}

// semantics: mlock-pressure
#[test]
fn mlock_pages_out_before_it_reports_out_of_memory() {
    let (mut s, sp) = sim_with_swap(256, 2048);
    let big = anon(&mut s, sp, 384);
    fill(&mut s, sp, big, 384, 3);
    let half = anon(&mut s, sp, 128);
    assert_eq!(s.vm.mlock(sp, half, 128 * P, &mut s.pmap), Ok(()));
    assert_eq!(s.vm.stats().wired, 128);
    check(&s);
    // Everything else still reads back.
    for i in 0..384 {
        assert_eq!(s.read_u8(sp, big + i * P).unwrap(), 3);
    }
    // More than memory can hold fails, and leaves nothing wired.
    let huge = anon(&mut s, sp, 300);
    assert_eq!(
        s.vm.mlock(sp, huge, 300 * P, &mut s.pmap),
        Err(VmError::OutOfMemory)
    );
    assert_eq!(s.vm.stats().wired, 128);
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 256);
}

// semantics: munmap-slots
#[test]
fn munmap_gives_swap_slots_back_at_once() {
    let (mut s, sp) = sim_with_swap(64, 1024);
    let va = anon(&mut s, sp, 192);
    fill(&mut s, sp, va, 192, 5);
    s.vm.swap_drain(&mut s.pmap);
    s.vm.swap_poll(&mut s.pmap);
    assert!(s.vm.stats().swpginuse > 100);
    s.vm.munmap(sp, va, 192 * P, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().swpginuse, 0);
    check(&s);
}

// semantics: munmap-slots
#[test]
fn munmap_of_part_of_a_mapping_under_pageout_gives_its_slots_back() {
    let (mut s, sp) = sim_with_swap(64, 1024);
    let va = anon(&mut s, sp, 192);
    fill(&mut s, sp, va, 192, 5);
    // Writes in flight now; unmap the first half while they are.
    s.vm.pageout(&mut s.pmap, 32);
    assert!(s.vm.swap_io_in_flight() > 0);
    s.vm.munmap(sp, va, 96 * P, &mut s.pmap).unwrap();
    s.vm.swap_drain(&mut s.pmap);
    s.vm.swap_poll(&mut s.pmap);
    check(&s);
    // Only the second half's pages may hold slots.
    let on_swap = (96..192)
        .filter(|&i| s.vm.page_on_swap(sp, va + i * P).unwrap())
        .count() as u64;
    let resident_with_slot = s.vm.stats().swpginuse - on_swap;
    assert!(
        resident_with_slot <= 96,
        "{} slots for the 96 pages left",
        s.vm.stats().swpginuse
    );
    for i in 96..192 {
        assert_eq!(s.read_u8(sp, va + i * P).unwrap(), 5);
    }
    s.vm.munmap(sp, va + 96 * P, 96 * P, &mut s.pmap).unwrap();
    assert_eq!(s.vm.stats().swpginuse, 0);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 64);
}

// semantics: statistics
#[test]
fn per_space_counters_count_each_kind_of_fault() {
    let (mut s, parent) = sim_with_swap(64, 1024);
    let va = anon(&mut s, parent, 8);
    fill(&mut s, parent, va, 8, 1);
    let c = s.vm.space(parent).unwrap().counters();
    assert!(c.flt_zero > 0 && c.flt_prefault > 0, "{c:?}");
    let child = s.vm.fork(parent, &mut s.pmap).unwrap();
    s.read_u8(child, va).unwrap();
    s.write(child, va + P, b"x").unwrap();
    let c = s.vm.space(child).unwrap().counters();
    assert!(c.flt_share > 0 && c.flt_cow > 0, "{c:?}");
    s.vm.mlock(child, va, 2 * P, &mut s.pmap).unwrap();
    assert_eq!(s.vm.space(child).unwrap().wired_pages(), 2);
    let h = s.vm.shm_create(child, None, P, Prot::ALL).unwrap();
    assert_eq!(s.vm.space(child).unwrap().handle_count(), 1);
    s.vm.handle_close(child, h).unwrap();
    assert_eq!(s.vm.space(child).unwrap().handle_count(), 0);
    // Page-ins: more than memory, read back.
    let big = anon(&mut s, parent, 128);
    fill(&mut s, parent, big, 128, 2);
    for i in 0..128 {
        s.read_u8(parent, big + i * P).unwrap();
    }
    assert!(s.vm.space(parent).unwrap().counters().pageins > 0);
    check(&s);
}

// semantics: fork-atomic (model seeds 1037, 1124, 1458)
#[test]
fn a_failed_fork_leaves_private_views_following_their_object() {
    let (mut s, parent) = sim(48);
    let h = s.vm.shm_create(parent, None, 4 * P, Prot::ALL).unwrap();
    let shared =
        s.vm.mmap(
            parent,
            &MmapArgs::object(h, 0, 4 * P, Prot::RW),
            &mut s.pmap,
        )
        .unwrap();
    fill(&mut s, parent, shared, 4, b'1');
    let mut view = MmapArgs::object(h, 0, 4 * P, Prot::RW);
    view.flags = MapFlags::PRIVATE;
    let view = s.vm.mmap(parent, &view, &mut s.pmap).unwrap();
    let big = anon(&mut s, parent, 24);
    fill(&mut s, parent, big, 24, 9);
    let child = s.vm.fork(parent, &mut s.pmap).unwrap();
    s.write(child, big, b"c").unwrap();
    // The view is to be shared at fork (flattened, so it no longer
    // follows the object), and so is the big mapping, which now needs
    // copying to be shared and cannot be: the fork must fail before it
    // touches the view, which comes first in the map.
    assert!(view < big);
    s.vm.minherit(parent, view, 4 * P, Inheritance::Share)
        .unwrap();
    s.vm.minherit(parent, big, 24 * P, Inheritance::Share)
        .unwrap();
    assert_eq!(s.vm.fork(parent, &mut s.pmap), Err(VmError::OutOfMemory));
    // The view still follows the object.
    s.write(parent, shared + P, b"2").unwrap();
    assert_eq!(s.read_u8(parent, view + P).unwrap(), b'2');
    check(&s);
}

// semantics: mlock-beyond, errors-order (model seeds 1201, 1243, 1296)
#[test]
fn mlock_past_an_objects_end_fails_before_it_faults_anything() {
    let (mut s, sp) = sim(64);
    let h = s.vm.shm_create(sp, None, 4 * P, Prot::ALL).unwrap();
    let view =
        s.vm.mmap(sp, &MmapArgs::object(h, 0, 4 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    s.vm.shm_truncate(sp, h, 2 * P, &mut s.pmap).unwrap();
    // Use up memory: faulting the first pages would fail first.
    let hog = anon(&mut s, sp, 64);
    for i in 0..64 {
        if s.write(sp, hog + i * P, b"h").is_err() {
            break;
        }
    }
    let faults = s.vm.stats().wire_faults;
    assert_eq!(
        s.vm.mlock(sp, view, 4 * P, &mut s.pmap),
        Err(VmError::BeyondObject)
    );
    assert_eq!(s.vm.stats().wire_faults, faults, "nothing faulted");
    assert_eq!(s.vm.stats().wired, 0);
    check(&s);
}

// semantics: errors-order, truncate-beyond-private (model seeds 1744,
// 1927, 2521: an out-of-memory or failed read while shadowing came first)
#[test]
fn a_write_past_an_objects_end_is_refused_before_shadowing_needs_memory() {
    let mut s = Sim::new(
        VmConfig {
            max_chain_depth: 3,
            prefault_ahead: 0,
            prefault_behind: 0,
            ..cfg()
        },
        48,
    );
    let p = s.vm.space_create(&mut s.pmap).unwrap();
    let h = s.vm.shm_create(p, None, 4 * P, Prot::ALL).unwrap();
    let mut args = MmapArgs::object(h, 0, 4 * P, Prot::RW);
    args.flags = MapFlags::PRIVATE;
    let view = s.vm.mmap(p, &args, &mut s.pmap).unwrap();
    // A chain that reached the depth limit: the second fork merged its
    // front pair (semantics: fork-depth), so a write only pushes a front;
    // past the object's end it is refused before even that.
    s.write(p, view, b"a").unwrap();
    let _c1 = s.vm.fork(p, &mut s.pmap).unwrap();
    s.write(p, view, b"b").unwrap();
    let _c2 = s.vm.fork(p, &mut s.pmap).unwrap();
    s.vm.shm_truncate(p, h, P, &mut s.pmap).unwrap();
    // Use up memory.
    let hog = anon(&mut s, p, 64);
    for i in 0..64 {
        if s.write(p, hog + i * P, b"h").is_err() {
            break;
        }
    }
    assert_eq!(
        s.vm.fault(p, view + 2 * P, Access::Write, &mut s.pmap),
        Err(VmError::BeyondObject)
    );
    check(&s);
}

// semantics: fork-depth
#[test]
fn a_write_at_the_depth_limit_never_needs_more_frames_than_the_pool_has() {
    // Server simulation, seed 7 with large pages: a write fault at the
    // depth limit merged the two front links inside the fault and needed
    // 460 free frames of a 96-frame pool, so the client was stopped out
    // of memory with swap to spare. Fork now merges; it may fail, a
    // write may not.
    let (mut s, p) = sim_with_swap(96, 4096);
    let n = 200;
    let a = anon(&mut s, p, n);
    let mut kids = Vec::new();
    let mut refused = 0;
    for gen in 1..=8u8 {
        fill(&mut s, p, a, n, gen);
        match s.vm.fork(p, &mut s.pmap) {
            Ok(c) => kids.push(c),
            Err(VmError::OutOfMemory | VmError::NoSwap) => refused += 1,
            Err(e) => panic!("gen {gen}: fork: {e:?}"),
        }
        check(&s);
    }
    assert!(refused > 0, "every fork fitted: the test proves nothing");
    for (gen, &c) in kids.iter().enumerate() {
        assert_eq!(s.read_u8(c, a).unwrap(), gen as u8 + 1);
    }
    for i in 0..n {
        assert_eq!(s.read_u8(p, a + i * P).unwrap(), 8, "page {i}");
    }
    for c in kids {
        s.vm.exit(c, &mut s.pmap).unwrap();
    }
    s.vm.exit(p, &mut s.pmap).unwrap();
    no_leaks(&mut s, 96);
}

/// Page everything pageable out: pageout passes and their writes, until
/// `va` of `sp` is on swap.
fn page_out(s: &mut Sim, sp: SpaceId, va: u64) {
    for _ in 0..16 {
        s.vm.pageout(&mut s.pmap, 1024);
        s.vm.swap_drain(&mut s.pmap);
        s.vm.swap_poll(&mut s.pmap);
        if s.vm.page_on_swap(sp, va).unwrap() {
            return;
        }
    }
    panic!("{va:#x} never went to swap");
}

// The emulated modified bit: a page read back from swap is clean with a
// valid slot; a write must make that slot stale (freed) and the page
// dirty again, and clearing the bit afterwards (page_clear_modify, as a
// write-back would) must still leave it to be laundered, not freed.
#[test]
fn page_clear_modify_never_loses_a_write_whose_swap_copy_is_stale() {
    let (mut s, sp) = sim_with_swap(48, 512);
    let va = anon(&mut s, sp, 4);
    s.write(sp, va, b"A").unwrap();
    page_out(&mut s, sp, va);
    assert_eq!(s.read_u8(sp, va).unwrap(), b'A');
    s.write(sp, va, b"B").unwrap();
    let f = s.vm.extract(sp, va).unwrap().unwrap();
    s.vm.page_clear_modify(f, &mut s.pmap);
    check(&s);
    page_out(&mut s, sp, va);
    assert_eq!(s.read_u8(sp, va).unwrap(), b'B');
    check(&s);
    s.vm.exit(sp, &mut s.pmap).unwrap();
    no_leaks(&mut s, 48);
}

/// A pmap whose "hardware" keeps modified bits: the simulator's, plus a
/// set of frames written through writable mappings since their bit was
/// cleared. Writes go through `write`.
struct HwBits {
    sim: vm_core::sim::SimPmap,
    modified: std::collections::BTreeSet<FrameNumber>,
}

impl HwBits {
    /// Write `b` at `va` as the CPU would: fault until mapped writable.
    fn write(&mut self, vm: &mut Vm, sp: SpaceId, va: u64, b: u8) {
        for _ in 0..64 {
            if let Some((f, p)) = self.sim.lookup(sp, va) {
                if p.contains(Prot::WRITE) {
                    self.sim.frame_mut(f)[(va % P) as usize] = b;
                    self.modified.insert(f);
                    return;
                }
            }
            if let FaultOutcome::Wait(_) = vm.fault(sp, va, Access::Write, self).unwrap() {
                vm.swap_drain(self);
                vm.swap_poll(self);
            }
        }
        panic!("write at {va:#x} never mapped");
    }
}

impl Pmap for HwBits {
    fn create_space(&mut self, s: SpaceId) -> Result<(), PmapError> {
        self.sim.create_space(s)
    }
    fn destroy_space(&mut self, s: SpaceId) {
        self.sim.destroy_space(s)
    }
    fn enter(&mut self, s: SpaceId, va: u64, f: FrameNumber, p: Prot) -> Result<(), PmapError> {
        self.sim.enter(s, va, f, p)
    }
    fn remove(&mut self, s: SpaceId, a: u64, b: u64) {
        self.sim.remove(s, a, b)
    }
    fn protect(&mut self, s: SpaceId, a: u64, b: u64, p: Prot) {
        self.sim.protect(s, a, b, p)
    }
    fn page_protect(&mut self, f: FrameNumber, p: Prot) {
        self.sim.page_protect(f, p)
    }
    fn is_mapped(&self, s: SpaceId, va: u64) -> bool {
        self.sim.is_mapped(s, va)
    }
    fn sole_mapping(&self, f: FrameNumber) -> Option<(SpaceId, u64)> {
        self.sim.sole_mapping(f)
    }
    fn zero_page(&mut self, f: FrameNumber) {
        self.modified.remove(&f);
        self.sim.zero_page(f)
    }
    fn copy_page(&mut self, a: FrameNumber, b: FrameNumber) {
        self.modified.remove(&b);
        self.sim.copy_page(a, b)
    }
    fn read_frame(&self, f: FrameNumber, buf: &mut [u8]) {
        self.sim.read_frame(f, buf)
    }
    fn write_frame(&mut self, f: FrameNumber, data: &[u8]) {
        self.modified.remove(&f);
        self.sim.write_frame(f, data)
    }
    fn tracks_ref_mod(&self) -> bool {
        true
    }
    fn is_modified(&self, f: FrameNumber) -> bool {
        self.modified.contains(&f)
    }
    fn clear_modify(&mut self, f: FrameNumber) {
        self.modified.remove(&f);
    }
}

/// A VM over the hardware-bits pmap (with a swap device when `swap`),
/// one space, and a 4-page mapping whose first page was written `'A'`,
/// had its modified bits cleared (the writable mapping stays), then was
/// written `'C'`: only the hardware bit knows of the second write.
/// Returns the pmap, the VM, the space, the page's address and frame.
fn written_behind_a_clean_flag(swap: bool) -> (HwBits, Vm, SpaceId, u64, FrameNumber) {
    let mut hw = HwBits {
        sim: vm_core::sim::SimPmap::new(48),
        modified: Default::default(),
    };
    let mut vm = Vm::new(cfg(), 48).unwrap();
    if swap {
        vm.swap_on(Box::new(SwapPager::new(RamDisk::new(512, 64), 16)))
            .unwrap();
    }
    let sp = vm.space_create(&mut hw).unwrap();
    let va = vm
        .mmap(sp, &MmapArgs::anon(4 * P, Prot::RW), &mut hw)
        .unwrap();
    hw.write(&mut vm, sp, va, b'A');
    let f = vm.extract(sp, va).unwrap().unwrap();
    vm.page_clear_modify(f, &mut hw);
    hw.write(&mut vm, sp, va, b'C');
    (hw, vm, sp, va, f)
}

// With hardware modified bits, page_clear_modify keeps the writable
// mapping: a later write sets only the hardware bit, and pageout must ask
// for it rather than trust the page's clean flag.
#[test]
fn a_write_seen_only_by_hardware_modified_bits_is_laundered() {
    let (mut hw, mut vm, sp, va, _) = written_behind_a_clean_flag(true);
    for _ in 0..16 {
        vm.pageout(&mut hw, 1024);
        vm.swap_drain(&mut hw);
        vm.swap_poll(&mut hw);
    }
    assert!(vm.page_on_swap(sp, va).unwrap(), "laundered, not freed");
    // Read it back through a fault.
    while let FaultOutcome::Wait(_) = vm.fault(sp, va, Access::Read, &mut hw).unwrap() {
        vm.swap_drain(&mut hw);
        vm.swap_poll(&mut hw);
    }
    let f = vm.extract(sp, va).unwrap().unwrap();
    assert_eq!(hw.sim.frame(f)[(va % P) as usize], b'C');
    vm.exit(sp, &mut hw).unwrap();
}

// Copy-on-write that keeps the mapped frame sends the copy down: a write
// the hardware bit alone recorded must make the lower page dirty, or
// pageout could free it against an older swap copy.
#[test]
fn a_traded_page_keeps_a_write_seen_only_by_hardware_modified_bits() {
    let (mut hw, mut vm, sp, va, f) = written_behind_a_clean_flag(false);
    assert!(!vm.pool().page(f).is_dirty(), "only the hardware saw it");
    let child = vm.fork(sp, &mut hw).unwrap();
    hw.write(&mut vm, sp, va, b'D');
    assert_eq!(vm.stats().flt_cow_trade, 1);
    assert_eq!(
        vm.extract(sp, va).unwrap(),
        Some(f),
        "the parent kept its frame"
    );
    let lower = vm.extract(child, va).unwrap().unwrap();
    assert_ne!(lower, f);
    assert!(
        vm.pool().page(lower).is_dirty(),
        "the copy carries the write"
    );
    assert_eq!(hw.sim.frame(lower)[(va % P) as usize], b'C');
    vm.exit(child, &mut hw).unwrap();
    vm.exit(sp, &mut hw).unwrap();
}
