//! The live trace through the service: a paging run with tracing on logs a `TRACE-BEGIN`, `TRACE` lines in sequence and a `TRACE-SUMMARY` at the client's exit; the records decode, hold one fault record per resolved fault (reference faults as such, counted as the VM counts them), the page-ins, page-outs and frees; with tracing off nothing is logged.

mod common;

use common::{Svc, TestPlatform};
use vm_core::{Access, MmapArgs, Prot, Vm, VmConfig, PAGE_SIZE};
use vm_service::{ExitStatus, Message, Outcome, Privileges};
use vm_swap::trace_file::{RecordKind, TraceRecord};
use vm_swap::trace_line::{parse_line, ParsedLine};
use vm_swap::{RamDisk, SwapPager};

const P: u64 = PAGE_SIZE;
const BADGE: u64 = 7;

fn service(ring: Option<u32>) -> (Svc, u64) {
    let cfg = VmConfig {
        reserved_pages: 4,
        prefault_min_free: 8,
        ..VmConfig::default()
    };
    let mut vm = Vm::new(cfg, 64).unwrap();
    vm.swap_on(Box::new(SwapPager::new(RamDisk::new(2048, 64), 16)))
        .unwrap();
    let mut svc = Svc::new(vm, TestPlatform::new(64));
    if let Some(n) = ring {
        svc.trace_start(n);
    }
    let space = svc.vm.space_create(&mut svc.platform.pmap).unwrap();
    svc.add_client(BADGE, "traced".into(), space, Privileges::default());
    let va = svc
        .vm
        .mmap(
            space,
            &MmapArgs::anon(200 * P, Prot::RW),
            &mut svc.platform.pmap,
        )
        .unwrap();
    (svc, va)
}

/// The client touches `va`: a fault message unless mapped with the
/// rights, and swap signals until it is resumed. Returns whether it faulted.
fn touch(svc: &mut Svc, va: u64, access: Access) -> bool {
    let space = svc.client(BADGE).unwrap().space;
    if let Some((_, prot)) = svc.platform.pmap.lookup(space, va) {
        if prot.contains(access.required()) {
            return false;
        }
    }
    let resumed = svc.platform.resumed.len();
    let msg = Message::Fault {
        client: BADGE,
        addr: va,
        access,
        ip: 0,
    };
    if let Outcome::NoReply = svc.handle(msg) {
        for _ in 0..1000 {
            if svc.platform.resumed.len() > resumed {
                break;
            }
            svc.handle(Message::SwapSignal);
        }
        assert!(
            svc.platform.resumed.len() > resumed,
            "fault at {va:#x} never resumed"
        );
    }
    true
}

/// 200 pages written on 64 frames, then a hot set of 8 read between
/// passes over the rest. Returns the faults taken.
fn run(svc: &mut Svc, va: u64) -> u64 {
    let mut faults = 0;
    for i in 0..200 {
        faults += u64::from(touch(svc, va + i * P, Access::Write));
        svc.trace_drain(false);
    }
    for round in 0..4 {
        for i in 8..200 {
            if i % 16 == round {
                for h in 0..8 {
                    faults += u64::from(touch(svc, va + h * P, Access::Read));
                }
            }
            faults += u64::from(touch(svc, va + i * P, Access::Read));
            svc.trace_drain(false);
        }
    }
    faults
}

#[test]
fn a_traced_run_logs_every_resolved_fault_and_the_pagers_work() {
    let (mut svc, va) = service(Some(256));
    let faults = run(&mut svc, va);
    let st = svc.vm.stats();
    svc.kill(BADGE, "done", ExitStatus::Exited(0));
    let lines = &svc.platform.logged;
    assert!(lines[0].starts_with("TRACE-BEGIN page_size=4096 frames=64 policy=clock ring=256"));
    let mut records: Vec<TraceRecord> = Vec::new();
    let mut next_seq = 0;
    let mut summary = None;
    for l in lines {
        match parse_line(l).unwrap() {
            Some(ParsedLine::Records { seq, records: r }) => {
                assert_eq!(seq, next_seq, "lines in order, none lost");
                next_seq += 1;
                records.extend(r);
            }
            Some(ParsedLine::Summary(s)) => summary = Some(s),
            _ => {}
        }
    }
    let summary = summary.expect("a summary at the exit");
    let get = |k: &str| summary.iter().find(|(n, _)| n == k).unwrap().1;
    assert_eq!(get("records"), records.len() as u64);
    assert_eq!(get("dropped"), 0, "the run drains before the ring fills");
    assert_eq!(get("lines"), next_seq);
    let count = |k| records.iter().filter(|r| r.kind == k).count() as u64;
    let fault_records = count(RecordKind::FaultRead)
        + count(RecordKind::FaultWrite)
        + count(RecordKind::ReferenceFault);
    assert_eq!(fault_records, faults);
    assert_eq!(count(RecordKind::ReferenceFault), st.flt_reference);
    assert!(st.flt_reference > 0, "{st:?}");
    assert_eq!(get("flt_reference"), st.flt_reference);
    assert_eq!(count(RecordKind::PageIn), st.pgswapin);
    assert!(count(RecordKind::PageOut) > 0 && count(RecordKind::Free) > 0);
    // Client events carry the client's badge and its virtual pages.
    for r in records.iter().filter(|r| r.kind != RecordKind::PageOut) {
        if r.kind != RecordKind::PageIn {
            assert_eq!(u64::from(r.badge), BADGE);
            assert!((va / P..va / P + 200).contains(&r.page), "{r:?}");
        }
    }
    // The first fault on each page was a write.
    assert_eq!(
        records
            .iter()
            .find(|r| r.kind == RecordKind::FaultWrite)
            .unwrap()
            .page,
        va / P
    );
}

#[test]
fn a_small_ring_counts_what_it_drops_and_off_logs_nothing() {
    let (mut svc, va) = service(Some(8));
    // No drains between faults: the exit's flush finds the ring full.
    for i in 0..40 {
        touch(&mut svc, va + i * P, Access::Write);
    }
    svc.kill(BADGE, "done", ExitStatus::Exited(0));
    let summary = svc
        .platform
        .logged
        .iter()
        .find_map(|l| match parse_line(l) {
            Ok(Some(ParsedLine::Summary(s))) => Some(s),
            _ => None,
        })
        .unwrap();
    let get = |k: &str| summary.iter().find(|(n, _)| n == k).unwrap().1;
    assert_eq!(get("records"), 8);
    assert!(get("dropped") >= 32);
    let (mut off, va) = service(None);
    run(&mut off, va);
    off.kill(BADGE, "done", ExitStatus::Exited(0));
    assert!(off.platform.logged.iter().all(|l| !l.contains("TRACE")));
}
