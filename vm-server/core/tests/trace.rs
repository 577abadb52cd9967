//! The live trace's hooks in the core: a paging run records page-ins (the wanted ones with the client's badge), page-outs and the frees of an exit in the ring, matching the core's counters; reference faults are counted and reported on the fault; the ring stays bounded and counts what it drops; nothing is recorded when tracing is off.

use vm_core::sim::Sim;
use vm_core::*;
use vm_swap::trace_file::{RecordKind, TraceRecord};
use vm_swap::{RamDisk, SwapPager};

const P: u64 = PAGE_SIZE;
const BADGE: u32 = 0x42;

fn sim(frames: u32, ring: Option<u32>) -> (Sim, SpaceId) {
    let cfg = VmConfig {
        reserved_pages: 4,
        prefault_min_free: 8,
        ..VmConfig::default()
    };
    let mut s = Sim::new(cfg, frames);
    s.vm.swap_on(Box::new(SwapPager::new(RamDisk::new(2048, 64), 16)))
        .unwrap();
    if let Some(n) = ring {
        s.vm.trace_start(n);
    }
    let sp = s.vm.space_create(&mut s.pmap).unwrap();
    s.vm.trace_label(sp, Some(BADGE));
    (s, sp)
}

/// A read fault at `va` as the server makes it (pageout first, waits
/// retried); returns whether the fault that mapped it was a reference
/// fault, or `None` if the page was mapped already.
fn read_fault(s: &mut Sim, sp: SpaceId, va: u64) -> Option<bool> {
    if s.pmap.lookup(sp, va).is_some() {
        return None;
    }
    let want = s.vm.pageout_shortage(false);
    if want > 0 {
        s.vm.pageout(&mut s.pmap, want);
    }
    for _ in 0..64 {
        match s.vm.fault(sp, va, Access::Read, &mut s.pmap) {
            Ok(FaultOutcome::Mapped(m)) => return Some(m.reference),
            Ok(FaultOutcome::Wait(tag)) => s.wait(tag).unwrap(),
            Err(VmError::OutOfMemory | VmError::NoSwap) => s.reclaim(),
            Err(e) => panic!("fault at {va:#x}: {e:?}"),
            Ok(other) => panic!("{other:?}"),
        }
    }
    panic!("fault at {va:#x} never mapped");
}

/// Writes 200 pages on 64 frames, then reads a hot set of 8 pages between
/// passes over the rest: pages go out and come back, and the hot pages
/// take reference faults. Returns the reference faults the faults
/// reported.
fn paging_run(s: &mut Sim, sp: SpaceId) -> u64 {
    let va =
        s.vm.mmap(sp, &MmapArgs::anon(200 * P, Prot::RW), &mut s.pmap)
            .unwrap();
    for i in 0..200 {
        s.write(sp, va + i * P, &[i as u8]).unwrap();
    }
    let mut reported = 0;
    for round in 0..6 {
        for i in 8..200 {
            if i % 16 == round {
                for h in 0..8 {
                    reported += u64::from(read_fault(s, sp, va + h * P) == Some(true));
                }
            }
            reported += u64::from(read_fault(s, sp, va + i * P) == Some(true));
        }
    }
    reported
}

fn drain(s: &mut Sim) -> Vec<TraceRecord> {
    let ring = s.vm.trace_ring_mut().unwrap();
    let mut out = vec![
        TraceRecord {
            kind: RecordKind::Free,
            badge: 0,
            page: 0,
            cycles: 0
        };
        ring.len()
    ];
    let n = ring.pop_into(&mut out);
    assert_eq!(n, out.len());
    out
}

#[test]
fn a_paging_run_records_what_the_counters_count() {
    let (mut s, sp) = sim(64, Some(1 << 16));
    let reported = paging_run(&mut s, sp);
    s.vm.swap_drain(&mut s.pmap);
    s.vm.swap_poll(&mut s.pmap);
    let st = s.vm.stats();
    let recs = drain(&mut s);
    let count = |k| recs.iter().filter(|r| r.kind == k).count() as u64;
    assert_eq!(count(RecordKind::PageIn), st.pgswapin, "{st:?}");
    assert_eq!(count(RecordKind::PageOut), st.pgswapout);
    assert!(st.pgswapin > 0 && st.pgswapout > 0);
    // Each fault that waited for a read wanted one page: its badge's.
    let wanted = recs
        .iter()
        .filter(|r| r.kind == RecordKind::PageIn && r.badge == BADGE)
        .count() as u64;
    assert_eq!(wanted, st.flt_pagein);
    assert!(recs
        .iter()
        .filter(|r| r.kind == RecordKind::PageOut)
        .all(|r| r.badge == 0));
    // Reference faults: counted, each reported on its fault.
    assert!(st.flt_reference > 0, "{st:?}");
    assert_eq!(reported, st.flt_reference);
    // The core records no faults itself (the service does, with cycles).
    assert_eq!(
        count(RecordKind::FaultRead) + count(RecordKind::FaultWrite),
        0
    );
    // Exit: a free per resident page, as the client's virtual pages.
    let resident = s.vm.stats().npages - s.vm.stats().free;
    s.vm.exit(sp, &mut s.pmap).unwrap();
    let frees = drain(&mut s);
    assert!(!frees.is_empty() && frees.len() as u32 <= resident);
    assert!(frees
        .iter()
        .all(|r| r.kind == RecordKind::Free && r.badge == BADGE));
    let ring = s.vm.trace_ring().unwrap();
    assert_eq!(ring.dropped(), 0);
    assert_eq!(ring.recorded(), (recs.len() + frees.len()) as u64);
}

#[test]
fn a_small_ring_drops_and_counts_and_off_records_nothing() {
    let (mut s, sp) = sim(64, Some(16));
    paging_run(&mut s, sp);
    let ring = s.vm.trace_ring().unwrap();
    assert_eq!(ring.len(), 16);
    assert!(ring.dropped() > 0);
    assert_eq!(ring.recorded(), 16);
    let (mut off, sp) = sim(64, None);
    paging_run(&mut off, sp);
    assert!(off.vm.trace_ring().is_none());
    // The counter does not depend on tracing.
    assert!(off.vm.stats().flt_reference > 0);
}
