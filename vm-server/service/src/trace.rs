//! The live trace on the service's side: recording each resolved fault (read, write or reference, with the cycles it took) into the VM's ring, and draining the ring as `TRACE` console lines between messages and at every client exit (`vm_swap::trace_line`).
//!
//! Locking: runs inside the single-threaded `Service`.
//!
//! A fault is recorded once, when it is resolved (mapped): a fault that
//! waited for a page-in is recorded at its retry, with the cycles of
//! that last attempt. Faults that fail are not recorded. The drain
//! prints only whole lines while the ring is less than half full,
//! everything at a client's exit (before its exit report, after which the
//! root task may end the run), then a `TRACE-SUMMARY` line with the
//! totals. Not recording, every hook costs one branch.

use crate::platform::{ClientId, Platform};
use crate::service::Service;
use vm_core::{Access, FaultMapping, SpaceId};
use vm_swap::trace_file::{RecordKind, TraceRecord};
use vm_swap::trace_line::{TraceLine, RECORDS_PER_LINE};

impl<P: Platform> Service<P> {
    /// Start recording into a ring of `capacity` records and say so
    /// (`TRACE-BEGIN`); the caller then adds its clients.
    pub fn trace_start(&mut self, capacity: u32) {
        self.vm.trace_start(capacity);
        let st = self.vm.stats();
        let ring = self.vm.trace_ring().map_or(0, |r| r.capacity());
        self.platform.log(format_args!(
            "TRACE-BEGIN page_size={} frames={} policy={} ring={ring}",
            st.pagesize,
            st.npages,
            self.vm.replacement_policy()
        ));
    }

    /// Name `client`'s records (its badge) for the core's page-ins and frees.
    pub(crate) fn trace_label(&mut self, space: SpaceId, client: Option<ClientId>) {
        self.vm.trace_label(space, client.map(|c| c as u32));
    }

    /// The cycle a fault's handling starts at, for its trace record; 0
    /// without reading the clock when not recording, so the fault path
    /// pays nothing for the trace then.
    pub(crate) fn trace_clock(&self) -> u64 {
        if self.vm.trace_ring().is_some() {
            self.platform.cycles()
        } else {
            0
        }
    }

    /// Record a resolved fault of `client` at `addr`, begun at cycle
    /// `start` (of `Platform::cycles`).
    pub(crate) fn trace_fault(
        &mut self,
        client: ClientId,
        addr: u64,
        access: Access,
        mapping: &FaultMapping,
        start: u64,
    ) {
        if self.vm.trace_ring().is_none() {
            return;
        }
        let kind = if mapping.reference {
            RecordKind::ReferenceFault
        } else if access == Access::Write {
            RecordKind::FaultWrite
        } else {
            RecordKind::FaultRead
        };
        let cycles = self.platform.cycles().saturating_sub(start);
        let rec = TraceRecord {
            kind,
            badge: client as u32,
            page: addr / vm_core::PAGE_SIZE,
            cycles: u32::try_from(cycles).unwrap_or(u32::MAX),
        };
        if let Some(t) = self.vm.trace_ring_mut() {
            t.push(rec);
        }
    }

    /// Print the ring as `TRACE` lines: whole lines once it is half full,
    /// or (`all`) everything followed by a `TRACE-SUMMARY`. The caller is
    /// between messages, or stopping a client before its exit report.
    pub fn trace_drain(&mut self, all: bool) {
        let Some(ring) = self.vm.trace_ring() else {
            return;
        };
        if !all && ring.len() < ring.capacity() / 2 {
            return;
        }
        self.trace_print(all);
    }

    /// `trace_drain`'s printing, once it found something to print.
    // Out of line: every message asks `trace_drain`, few print
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    fn trace_print(&mut self, all: bool) {
        let empty = TraceRecord {
            kind: RecordKind::Free,
            badge: 0,
            page: 0,
            cycles: 0,
        };
        let mut chunk = [empty; RECORDS_PER_LINE];
        loop {
            let Some(ring) = self.vm.trace_ring_mut() else {
                return;
            };
            if ring.is_empty() || (!all && ring.len() < RECORDS_PER_LINE) {
                break;
            }
            let n = ring.pop_into(&mut chunk);
            let seq = ring.lines;
            ring.lines += 1;
            self.platform.log(format_args!(
                "{}",
                TraceLine {
                    seq,
                    records: &chunk[..n]
                }
            ));
        }
        if all {
            let st = self.vm.stats();
            let Some(ring) = self.vm.trace_ring() else {
                return;
            };
            let (records, dropped, lines) = (ring.recorded(), ring.dropped(), ring.lines);
            self.platform.log(format_args!(
                "TRACE-SUMMARY records={records} dropped={dropped} lines={lines} pageins={} flt_pagein={} flt_reference={} faults={}",
                st.pgswapin + st.pager_pages_in,
                st.flt_pagein,
                st.flt_reference,
                st.faults
            ));
        }
    }
}
