//! A VM end and a pager end on one in-memory channel: requests and
//! completions round-trip, page data moves through the window both ways,
//! closes arrive unanswered, answers come in any order, and the indices
//! wrap over many rounds.

mod common;

use common::*;
use pager_api::*;

/// Fills `n` pages with a pattern of `seed`.
fn pattern(seed: u8, n: usize) -> Vec<u8> {
    (0..n * PAGE_SIZE)
        .map(|i| seed ^ (i as u8) ^ (i >> 12) as u8)
        .collect()
}

fn done(ev: Option<VmEvent>) -> (u64, usize, Result<Outcome, PagerError>) {
    match ev {
        Some(VmEvent::Done {
            cookie,
            slot,
            result,
        }) => (cookie, slot, result),
        other => panic!("expected a completion, got {other:?}"),
    }
}

#[test]
fn page_in_brings_the_pagers_data() {
    let (mut vm, end, _) = pair(16, 4);
    assert_eq!((vm.slots(), vm.cluster()), (4, 4));
    let mut p = FilePager::new(end);
    p.files.insert(7, pattern(0x5a, 6));
    let slot = vm.page_in(7, 2, 3, 100).unwrap();
    vm.kick();
    assert_eq!(vm.in_flight(), 1);
    assert_eq!(vm.poll(), None, "nothing answered yet");
    assert_eq!(p.serve(), 1);
    let (cookie, s, result) = done(vm.poll());
    assert_eq!((cookie, s, result), (100, slot, Ok(Outcome::Supplied)));
    assert_eq!(vm.held(100), Some(slot));
    let want = pattern(0x5a, 6);
    for i in 0..3 {
        let lo = (2 + i) * PAGE_SIZE;
        assert_eq!(
            vm.page(slot, i as u64).unwrap(),
            &want[lo..lo + PAGE_SIZE],
            "page {i}"
        );
    }
    assert_eq!(vm.page(slot, 3), None, "past the request");
    vm.release(slot);
    assert_eq!(vm.held(100), None);
    assert_eq!(vm.page(slot, 0), None);
    assert_eq!(vm.in_flight(), 0);
}

#[test]
fn holes_read_as_zero_and_failures_carry_their_code() {
    let (mut vm, end, _) = pair(8, 2);
    let mut p = FilePager::new(end);
    p.holes.insert(1);
    vm.page_in(1, 0, 2, 1).unwrap();
    p.serve();
    let (_, slot, r) = done(vm.poll());
    assert_eq!(r, Ok(Outcome::Zero));
    assert_eq!(vm.page(slot, 0), None, "a hole holds no data");
    for e in [
        PagerError::Io,
        PagerError::NoSuchObject,
        PagerError::NoSpace,
    ] {
        p.fail_next = Some(e);
        vm.page_in(2, 0, 1, 2).unwrap();
        p.serve();
        assert_eq!(done(vm.poll()).2, Err(e));
    }
    assert_eq!(vm.in_flight(), 0);
    assert_eq!(vm.protocol_errors(), 0);
}

#[test]
fn write_back_moves_the_data_to_the_pager() {
    let (mut vm, end, _) = pair(8, 4);
    let mut p = FilePager::new(end);
    let data = pattern(0x33, 4);
    vm.write_back(9, 10, 4, 55, |buf| buf.copy_from_slice(&data))
        .unwrap();
    vm.kick();
    p.serve();
    assert_eq!(done(vm.poll()), (55, 0, Ok(Outcome::Written)));
    for i in 0..4 {
        assert_eq!(
            p.page(9, 10 + i),
            &data[i as usize * PAGE_SIZE..(i as usize + 1) * PAGE_SIZE]
        );
    }
    assert_eq!(vm.held(55), None, "a write holds nothing after");
}

#[test]
fn close_is_delivered_and_not_answered() {
    let (mut vm, end, _) = pair(8, 4);
    let mut p = FilePager::new(end);
    vm.close(4).unwrap();
    vm.close(5).unwrap();
    assert_eq!(p.serve(), 0, "nothing to answer");
    assert_eq!(p.closed, vec![4, 5]);
    assert_eq!(p.end.owed(), 0);
    assert_eq!(vm.poll(), None);
}

#[test]
fn every_slot_in_flight_answered_in_reverse() {
    let (mut vm, end, _) = pair(32, 4);
    let mut p = FilePager::new(end);
    p.reverse = true;
    for k in 0..8u64 {
        p.files.insert(k, pattern(k as u8, 4));
    }
    let slots: Vec<usize> = (0..8u64)
        .map(|k| vm.page_in(k, 0, 4, 1000 + k).unwrap())
        .collect();
    assert_eq!(vm.page_in(9, 0, 1, 9), Err(PagerError::Busy), "all slots");
    p.serve();
    let mut seen = Vec::new();
    while let Some(ev) = vm.poll() {
        let (cookie, slot, r) = done(Some(ev));
        assert_eq!(r, Ok(Outcome::Supplied));
        let k = cookie - 1000;
        assert_eq!(slot, slots[k as usize]);
        assert_eq!(
            vm.page(slot, 3).unwrap(),
            &pattern(k as u8, 4)[3 * PAGE_SIZE..]
        );
        vm.release(slot);
        seen.push(k);
    }
    assert_eq!(seen, (0..8).rev().collect::<Vec<_>>());
    assert_eq!(vm.protocol_errors(), 0);
}

#[test]
fn held_data_keeps_its_slot_until_released() {
    let (mut vm, end, _) = pair(2, 1);
    let mut p = FilePager::new(end);
    vm.page_in(0, 0, 1, 1).unwrap();
    vm.page_in(0, 1, 1, 2).unwrap();
    p.serve();
    assert_eq!(done(vm.poll()).2, Ok(Outcome::Supplied));
    assert_eq!(done(vm.poll()).2, Ok(Outcome::Supplied));
    assert_eq!(vm.page_in(0, 2, 1, 3), Err(PagerError::Busy));
    vm.release(vm.held(2).unwrap());
    assert_eq!(vm.page_in(0, 2, 1, 3), Ok(1));
}

#[test]
fn many_rounds_wrap_the_indices() {
    let (mut vm, end, _) = pair(8, 2);
    let mut p = FilePager::new(end);
    let mut file = pattern(0x77, 16);
    p.files.insert(1, file.clone());
    for round in 0..700u64 {
        let pindex = round % 15;
        if round % 3 == 0 {
            let data = pattern(round as u8, 1);
            vm.write_back(1, pindex, 1, round, |b| b.copy_from_slice(&data))
                .unwrap();
            let lo = pindex as usize * PAGE_SIZE;
            file[lo..lo + PAGE_SIZE].copy_from_slice(&data);
        } else {
            vm.page_in(1, pindex, 2, round).unwrap();
        }
        if round % 5 == 0 {
            vm.close(round).unwrap();
        }
        p.serve();
        let (cookie, slot, r) = done(vm.poll());
        assert_eq!(cookie, round);
        if r == Ok(Outcome::Supplied) {
            let lo = pindex as usize * PAGE_SIZE;
            assert_eq!(
                vm.page(slot, 1).unwrap(),
                &file[lo + PAGE_SIZE..lo + 2 * PAGE_SIZE]
            );
            vm.release(slot);
        }
    }
    assert_eq!(p.files[&1], file);
    assert_eq!(p.closed.len(), 140);
    assert_eq!(vm.protocol_errors(), 0);
}

#[test]
fn a_request_the_channel_cannot_carry_is_refused_at_the_vm_end() {
    let (mut vm, _, _) = pair(8, 4);
    assert_eq!(vm.page_in(1, 0, 0, 1), Err(PagerError::Malformed));
    assert_eq!(vm.page_in(1, 0, 5, 1), Err(PagerError::Malformed));
    assert_eq!(vm.page_in(1, u64::MAX, 2, 1), Err(PagerError::Malformed));
    let mut called = false;
    assert_eq!(
        vm.write_back(1, 0, 9, 1, |_| called = true),
        Err(PagerError::Malformed)
    );
    assert!(!called);
    let base = channel(3);
    assert_eq!(
        VmEnd::new(ring(base), window(base, 3), 4, Quiet).err(),
        Some(PagerError::BadBuffer)
    );
    assert_eq!(
        VmEnd::new(ring(base), window(base, 3), 0, Quiet).err(),
        Some(PagerError::Malformed)
    );
    assert_eq!(
        VmEnd::new(ring(base), window(base, 3), MAX_CLUSTER + 1, Quiet).err(),
        Some(PagerError::Malformed)
    );
}
