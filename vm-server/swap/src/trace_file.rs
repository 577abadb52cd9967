//! The binary trace format the live VM server records (a header, then fixed-size little-endian records), its allocation-free encoder, a decoder that rejects malformed input with errors, and the replay of a recorded trace through every policy.
//!
//! # Layout (version 3, all integers little-endian)
//!
//! Header, [`HEADER_SIZE`] = 64 bytes:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `b"VMTRACE\0"` |
//! | 8 | 2 | version = 3 (1 and 2 are read too: 1 has no dropped count; neither has prefault records) |
//! | 10 | 2 | record size = 20 |
//! | 12 | 4 | page size in bytes (a power of two) |
//! | 16 | 4 | frames in the VM server's pool |
//! | 20 | 32 | policy name, ASCII, NUL-padded (e.g. `s3-fifo`) |
//! | 52 | 8 | records the server's ring dropped (full ring; 0 in version 1) |
//! | 60 | 4 | reserved, zero |
//!
//! Record, [`RECORD_SIZE`] = 20 bytes, one per event:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 1 | kind ([`RecordKind`], 1..=7) |
//! | 1 | 3 | reserved, zero |
//! | 4 | 4 | client badge |
//! | 8 | 8 | page |
//! | 16 | 4 | cycles the server spent on the event (saturating; 0 if not measured) |
//!
//! What `page` holds depends on the kind. For the client's own events
//! (read and write faults, reference faults, prefaults, frees) it is the virtual
//! page number of the client address (`addr / page_size`), which with
//! the badge names the page as the client sees it. For page-ins and
//! page-outs, which the pager does to objects' pages whoever maps them,
//! it is the [`PageKey`] the VM core gives the policy (`object << 40 |
//! pindex`), and the badge is that of the client whose fault caused the
//! page-in, or 0 for a page read ahead (no fault wanted it) and for a
//! page-out. Only the client events are replayed;
//! page-ins and page-outs are the live system's own decisions, counted by
//! [`RecordedTrace::live_counts`] to set beside the replay's.
//!
//! # From a recorded trace to a replay
//!
//! The live server sees faults, not accesses: a page that stays mapped is
//! used invisibly. [`RecordedTrace::to_trace_ops`] therefore replays one
//! access per recorded fault, keyed by (badge, virtual page): read and
//! reference faults become reads, write faults writes, frees frees; and
//! one read per page fault-around entered without a fault (prefault),
//! since without it a page whose first touch was never a fault would
//! first appear at its refault after an eviction, which the replay can
//! only count as a first touch, not a page-in. The
//! result is a lower bound on the real access stream, and it is shaped by
//! the policy that was running (another policy would have unmapped pages
//! at other times and seen other faults). So compare policies on a
//! recorded trace with that in mind: the recording policy is favoured,
//! and OPT is computed on the same reduced stream. A page shared by two
//! clients counts as two pages.
//!
//! Locking: none; the encoder writes into the caller's buffer.

use crate::policy::PageKey;
use crate::trace::{sweep, PoolReplay, TraceOp};
use alloc::vec::Vec;

/// The file's first eight bytes.
pub const MAGIC: [u8; 8] = *b"VMTRACE\0";
/// The format version this module writes (it reads 1 and 2 as well).
pub const VERSION: u16 = 3;
/// Bytes of the header.
pub const HEADER_SIZE: usize = 64;
/// Bytes of one record.
pub const RECORD_SIZE: usize = 20;
/// Bytes of the policy name field.
pub const POLICY_NAME_SIZE: usize = 32;

/// What a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// A read fault on a page that was not resident or not mapped.
    FaultRead = 1,
    /// A write fault (not resident, copy-on-write, or write-protected).
    FaultWrite = 2,
    /// A page came in from swap or its pager (`page` is a [`PageKey`]).
    PageIn = 3,
    /// A page went out to swap (`page` is a [`PageKey`]).
    PageOut = 4,
    /// The client unmapped the page or exited.
    Free = 5,
    /// A soft fault that only re-enabled an emulated reference bit.
    ReferenceFault = 6,
    /// Fault-around entered the page after a fault on a neighbour: the
    /// client may touch it without a fault of its own (version 3).
    Prefault = 7,
}

impl RecordKind {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => RecordKind::FaultRead,
            2 => RecordKind::FaultWrite,
            3 => RecordKind::PageIn,
            4 => RecordKind::PageOut,
            5 => RecordKind::Free,
            6 => RecordKind::ReferenceFault,
            7 => RecordKind::Prefault,
            _ => return None,
        })
    }
}

/// One recorded event (see the module docs for what `page` holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceRecord {
    pub kind: RecordKind,
    pub badge: u32,
    pub page: u64,
    pub cycles: u32,
}

impl TraceRecord {
    /// Writes the record's 20 bytes; no allocation, usable in the server.
    pub fn encode(&self, out: &mut [u8; RECORD_SIZE]) {
        out[0] = self.kind as u8;
        out[1..4].fill(0);
        out[4..8].copy_from_slice(&self.badge.to_le_bytes());
        out[8..16].copy_from_slice(&self.page.to_le_bytes());
        out[16..20].copy_from_slice(&self.cycles.to_le_bytes());
    }

    /// Reads one record; `index` only labels the error.
    pub fn decode(bytes: &[u8; RECORD_SIZE], index: usize) -> Result<Self, DecodeError> {
        let kind = RecordKind::from_byte(bytes[0]).ok_or(DecodeError::BadKind {
            index,
            kind: bytes[0],
        })?;
        if bytes[1..4] != [0; 3] {
            return Err(DecodeError::ReservedNotZero { index: Some(index) });
        }
        Ok(TraceRecord {
            kind,
            badge: u32::from_le_bytes(sub(bytes, 4)),
            page: u64::from_le_bytes(sub(bytes, 8)),
            cycles: u32::from_le_bytes(sub(bytes, 16)),
        })
    }
}

/// `N` bytes of `b` from `at`. Caller contract: `at + N <= b.len()`.
fn sub<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

/// The header's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHeader {
    pub page_size: u32,
    pub frames: u32,
    /// Records the live server could not keep (its ring was full): the
    /// trace misses that many events.
    pub dropped: u64,
    policy: [u8; POLICY_NAME_SIZE],
    policy_len: u8,
}

impl TraceHeader {
    /// A header; `None` if `policy` is longer than 32 bytes, not ASCII or
    /// holds a NUL, or `page_size` is not a power of two.
    pub fn new(page_size: u32, frames: u32, policy: &str) -> Option<Self> {
        let name = policy.as_bytes();
        if name.len() > POLICY_NAME_SIZE
            || !policy.is_ascii()
            || name.contains(&0)
            || !page_size.is_power_of_two()
        {
            return None;
        }
        let mut field = [0; POLICY_NAME_SIZE];
        field[..name.len()].copy_from_slice(name);
        Some(TraceHeader {
            page_size,
            frames,
            dropped: 0,
            policy: field,
            policy_len: name.len() as u8,
        })
    }

    /// The policy that was running when the trace was recorded.
    pub fn policy(&self) -> &str {
        // Checked ASCII at construction and decoding.
        core::str::from_utf8(&self.policy[..usize::from(self.policy_len)]).unwrap_or("")
    }

    /// Writes the header's 64 bytes; no allocation.
    pub fn encode(&self, out: &mut [u8; HEADER_SIZE]) {
        out.fill(0);
        out[0..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&VERSION.to_le_bytes());
        out[10..12].copy_from_slice(&(RECORD_SIZE as u16).to_le_bytes());
        out[12..16].copy_from_slice(&self.page_size.to_le_bytes());
        out[16..20].copy_from_slice(&self.frames.to_le_bytes());
        out[20..52].copy_from_slice(&self.policy);
        out[52..60].copy_from_slice(&self.dropped.to_le_bytes());
    }

    /// Reads a header from the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let Some(h) = bytes.get(..HEADER_SIZE) else {
            return Err(DecodeError::Truncated {
                needed: HEADER_SIZE,
                got: bytes.len(),
            });
        };
        if h[0..8] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = u16::from_le_bytes(sub(h, 8));
        if !(1..=VERSION).contains(&version) {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let record_size = u16::from_le_bytes(sub(h, 10));
        if usize::from(record_size) != RECORD_SIZE {
            return Err(DecodeError::BadRecordSize(record_size));
        }
        // Version 1 reserved the dropped count's bytes too.
        let reserved = if version == 1 { 52 } else { 60 };
        if h[reserved..64].iter().any(|&b| b != 0) {
            return Err(DecodeError::ReservedNotZero { index: None });
        }
        let field: [u8; POLICY_NAME_SIZE] = sub(h, 20);
        let len = field
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(POLICY_NAME_SIZE);
        if field[len..].iter().any(|&b| b != 0) {
            return Err(DecodeError::BadPolicyName);
        }
        let name = core::str::from_utf8(&field[..len]).map_err(|_| DecodeError::BadPolicyName)?;
        let mut header = TraceHeader::new(
            u32::from_le_bytes(sub(h, 12)),
            u32::from_le_bytes(sub(h, 16)),
            name,
        )
        .ok_or(DecodeError::BadHeaderField)?;
        header.dropped = u64::from_le_bytes(sub(h, 52));
        Ok(header)
    }
}

/// Why bytes are not a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than a header.
    Truncated {
        needed: usize,
        got: usize,
    },
    BadMagic,
    UnsupportedVersion(u16),
    BadRecordSize(u16),
    /// Reserved bytes of the header (`None`) or of record `index` are set.
    ReservedNotZero {
        index: Option<usize>,
    },
    /// The policy name is not NUL-padded ASCII.
    BadPolicyName,
    /// The page size is not a power of two.
    BadHeaderField,
    BadKind {
        index: usize,
        kind: u8,
    },
    /// The bytes after the last whole record are not a whole record.
    PartialRecord {
        index: usize,
        bytes: usize,
    },
}

/// A decoded trace file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedTrace {
    pub header: TraceHeader,
    pub records: Vec<TraceRecord>,
}

/// What the live system did while recording, by record kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Read and write faults.
    pub faults: u64,
    /// Pages read in (swap or pager), read-ahead included.
    pub page_ins: u64,
    /// Of those, the pages a fault wanted (badge not 0): one per fault
    /// that waited for a read, the count a replay's page-ins compare to.
    pub demand_page_ins: u64,
    pub page_outs: u64,
    pub ref_faults: u64,
    /// Pages fault-around entered without a fault of their own.
    pub prefaults: u64,
    pub frees: u64,
    /// Cycles summed over all records.
    pub cycles: u64,
}

impl RecordedTrace {
    /// Decodes a whole file: the header, then records to the end.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let header = TraceHeader::decode(bytes)?;
        let body = &bytes[HEADER_SIZE..];
        let chunks = body.chunks_exact(RECORD_SIZE);
        if !chunks.remainder().is_empty() {
            return Err(DecodeError::PartialRecord {
                index: body.len() / RECORD_SIZE,
                bytes: chunks.remainder().len(),
            });
        }
        let records = chunks
            .enumerate()
            .map(|(i, c)| TraceRecord::decode(&sub(c, 0), i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordedTrace { header, records })
    }

    /// Encodes the header and every record (host side: tools, tests).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_SIZE + RECORD_SIZE * self.records.len());
        let mut h = [0; HEADER_SIZE];
        self.header.encode(&mut h);
        out.extend_from_slice(&h);
        let mut r = [0; RECORD_SIZE];
        for rec in &self.records {
            rec.encode(&mut r);
            out.extend_from_slice(&r);
        }
        out
    }

    /// The replay key of a client page: badge in the top 24 bits, the
    /// virtual page number (mod 2^40) below, as [`PageKey::of`] does.
    pub fn client_key(badge: u32, vpn: u64) -> PageKey {
        PageKey::of(badge, vpn)
    }

    /// One replay step per client event (see the module docs for the
    /// approximation); page-ins and page-outs are left out.
    pub fn to_trace_ops(&self) -> Vec<TraceOp> {
        self.records
            .iter()
            .filter_map(|r| {
                let k = Self::client_key(r.badge, r.page);
                match r.kind {
                    RecordKind::FaultRead | RecordKind::ReferenceFault | RecordKind::Prefault => {
                        Some(TraceOp::Read(k))
                    }
                    RecordKind::FaultWrite => Some(TraceOp::Write(k)),
                    RecordKind::Free => Some(TraceOp::Free(k)),
                    RecordKind::PageIn | RecordKind::PageOut => None,
                }
            })
            .collect()
    }

    /// Counts of what the live system recorded.
    pub fn live_counts(&self) -> LiveCounts {
        let mut c = LiveCounts::default();
        for r in &self.records {
            c.cycles += u64::from(r.cycles);
            match r.kind {
                RecordKind::FaultRead | RecordKind::FaultWrite => c.faults += 1,
                RecordKind::PageIn => {
                    c.page_ins += 1;
                    c.demand_page_ins += u64::from(r.badge != 0);
                }
                RecordKind::PageOut => c.page_outs += 1,
                RecordKind::ReferenceFault => c.ref_faults += 1,
                RecordKind::Prefault => c.prefaults += 1,
                RecordKind::Free => c.frees += 1,
            }
        }
        c
    }
}

/// Replays a recorded trace through every policy in
/// [`POLICIES`](crate::POLICIES) and every pool size in `pools` (the
/// recorded pool size when `pools` is empty), each with OPT: rows for
/// [`crate::trace::format_table`] or [`crate::trace::format_csv`].
///
/// Caller contract: every pool size ≥ 1 (and the header's, if used).
pub fn replay_recorded(trace: &RecordedTrace, pools: &[u32]) -> Vec<PoolReplay> {
    let ops = trace.to_trace_ops();
    if pools.is_empty() {
        sweep(&ops, &[trace.header.frames])
    } else {
        sweep(&ops, pools)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kind() -> impl Strategy<Value = RecordKind> {
        (1u8..=6).prop_map(|b| RecordKind::from_byte(b).unwrap())
    }

    fn record() -> impl Strategy<Value = TraceRecord> {
        (kind(), any::<u32>(), any::<u64>(), any::<u32>()).prop_map(
            |(kind, badge, page, cycles)| TraceRecord {
                kind,
                badge,
                page,
                cycles,
            },
        )
    }

    fn sample() -> RecordedTrace {
        let r = |kind, badge, page| TraceRecord {
            kind,
            badge,
            page,
            cycles: 100,
        };
        use RecordKind::*;
        RecordedTrace {
            header: TraceHeader::new(4096, 3, "s3-fifo").unwrap(),
            records: [
                r(FaultWrite, 1, 0x10),
                r(FaultRead, 1, 0x11),
                r(FaultRead, 2, 0x10),
                r(PageOut, 0, PageKey::of(7, 0).0),
                r(FaultRead, 1, 0x12),
                r(ReferenceFault, 1, 0x11),
                r(PageIn, 1, PageKey::of(7, 0).0),
                r(FaultRead, 1, 0x10),
                r(Free, 2, 0x10),
            ]
            .to_vec(),
        }
    }

    #[test]
    fn header_layout_is_the_documented_one() {
        let mut b = [0xff; HEADER_SIZE];
        TraceHeader::new(4096, 4096, "clock")
            .unwrap()
            .encode(&mut b);
        assert_eq!(&b[0..8], b"VMTRACE\0");
        assert_eq!(&b[8..12], &[3, 0, 20, 0]);
        assert_eq!(&b[12..20], &[0, 0x10, 0, 0, 0, 0x10, 0, 0]);
        assert_eq!(&b[20..25], b"clock");
        assert!(b[25..].iter().all(|&x| x == 0));
        let mut r = [0xff; RECORD_SIZE];
        TraceRecord {
            kind: RecordKind::ReferenceFault,
            badge: 0x0102_0304,
            page: 0x1122_3344_5566_7788,
            cycles: 9,
        }
        .encode(&mut r);
        assert_eq!(
            r,
            [6, 0, 0, 0, 4, 3, 2, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 9, 0, 0, 0]
        );
    }

    #[test]
    fn round_trip_of_a_file() {
        let t = sample();
        let bytes = t.encode();
        assert_eq!(bytes.len(), HEADER_SIZE + 9 * RECORD_SIZE);
        let back = RecordedTrace::decode(&bytes).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.header.policy(), "s3-fifo");
        let c = back.live_counts();
        assert_eq!(
            (
                c.faults,
                c.page_ins,
                c.page_outs,
                c.ref_faults,
                c.frees,
                c.cycles
            ),
            (5, 1, 1, 1, 1, 900)
        );
    }

    #[test]
    fn malformed_files_are_errors() {
        let good = sample().encode();
        let mut b = good.clone();
        b[0] = b'X';
        assert_eq!(RecordedTrace::decode(&b), Err(DecodeError::BadMagic));
        let mut b = good.clone();
        b[8] = 4;
        assert_eq!(
            RecordedTrace::decode(&b),
            Err(DecodeError::UnsupportedVersion(4))
        );
        b[8] = 0;
        assert_eq!(
            RecordedTrace::decode(&b),
            Err(DecodeError::UnsupportedVersion(0))
        );
        let mut b = good.clone();
        b[61] = 1;
        assert_eq!(
            RecordedTrace::decode(&b),
            Err(DecodeError::ReservedNotZero { index: None })
        );
        // Version 1: no dropped count, its bytes reserved.
        let mut b = good.clone();
        b[8] = 1;
        assert_eq!(RecordedTrace::decode(&b).map(|t| t.header.dropped), Ok(0));
        b[52] = 1;
        assert_eq!(
            RecordedTrace::decode(&b),
            Err(DecodeError::ReservedNotZero { index: None })
        );
        let mut b = good.clone();
        b[10] = 24;
        assert_eq!(
            RecordedTrace::decode(&b),
            Err(DecodeError::BadRecordSize(24))
        );
        let mut b = good.clone();
        b[12] = 3; // page size 4099
        assert_eq!(RecordedTrace::decode(&b), Err(DecodeError::BadHeaderField));
        let mut b = good.clone();
        b[30] = b'x'; // a byte after the name's NUL
        assert_eq!(RecordedTrace::decode(&b), Err(DecodeError::BadPolicyName));
        let mut b = good.clone();
        b[HEADER_SIZE + RECORD_SIZE] = 9;
        assert_eq!(
            RecordedTrace::decode(&b),
            Err(DecodeError::BadKind { index: 1, kind: 9 })
        );
        let mut b = good.clone();
        b[HEADER_SIZE + 2] = 1;
        assert_eq!(
            RecordedTrace::decode(&b),
            Err(DecodeError::ReservedNotZero { index: Some(0) })
        );
        assert_eq!(
            RecordedTrace::decode(&good[..good.len() - 3]),
            Err(DecodeError::PartialRecord {
                index: 8,
                bytes: 17
            })
        );
        assert_eq!(
            RecordedTrace::decode(&good[..10]),
            Err(DecodeError::Truncated {
                needed: 64,
                got: 10
            })
        );
        assert!(TraceHeader::new(4096, 1, &"x".repeat(33)).is_none());
        assert!(TraceHeader::new(4096, 1, "é").is_none());
        assert!(TraceHeader::new(3000, 1, "clock").is_none());
    }

    #[test]
    fn recorded_trace_becomes_replay_steps() {
        let ops = sample().to_trace_ops();
        let k = RecordedTrace::client_key;
        assert_eq!(
            ops,
            [
                TraceOp::Write(k(1, 0x10)),
                TraceOp::Read(k(1, 0x11)),
                TraceOp::Read(k(2, 0x10)),
                TraceOp::Read(k(1, 0x12)),
                TraceOp::Read(k(1, 0x11)),
                TraceOp::Read(k(1, 0x10)),
                TraceOp::Free(k(2, 0x10)),
            ]
        );
        assert_ne!(k(1, 0x10), k(2, 0x10));
    }

    #[test]
    fn a_prefaulted_page_is_an_access_so_its_refault_is_a_page_in() {
        let r = |kind, page| TraceRecord {
            kind,
            badge: 1,
            page,
            cycles: 0,
        };
        use RecordKind::*;
        // A fault on 0x10 enters 0x11 too; in two frames FIFO lets 0x12
        // and 0x13 push both out, and 0x11 faults back.
        let t = RecordedTrace {
            header: TraceHeader::new(4096, 2, "clock").unwrap(),
            records: [
                r(FaultRead, 0x10),
                r(Prefault, 0x11),
                r(FaultRead, 0x12),
                r(FaultRead, 0x13),
                r(FaultRead, 0x11),
            ]
            .to_vec(),
        };
        assert_eq!(
            t.to_trace_ops()[1],
            TraceOp::Read(RecordedTrace::client_key(1, 0x11))
        );
        assert_eq!(t.live_counts().prefaults, 1);
        let bytes = t.encode();
        assert_eq!(RecordedTrace::decode(&bytes).unwrap(), t);
        // 0x11 was seen before its eviction: its fault is a page-in.
        let pools = replay_recorded(&t, &[2]);
        let fifo = pools[0].policies.iter().find(|r| r.policy == "fifo");
        assert_eq!(fifo.map(|r| r.page_ins), Some(1));
    }

    #[test]
    fn recorded_trace_replays_through_every_policy_with_opt() {
        let t = sample();
        let pools = replay_recorded(&t, &[1, 2]);
        assert_eq!(pools.len(), 2);
        for p in &pools {
            assert_eq!(p.policies.len(), crate::POLICIES.len());
            for r in &p.policies {
                assert!(p.opt.page_ins <= r.page_ins, "{p:?}");
            }
        }
        // With one frame every step after the first misses: 6 faults,
        // of which 2 are page-ins (1:0x10 and 1:0x11 come back).
        assert_eq!((pools[0].opt.faults, pools[0].opt.page_ins), (6, 2));
        // No pool given: the recorded one (3 frames; 4 pages, no page-in
        // needed by OPT).
        let recorded = replay_recorded(&t, &[]);
        assert_eq!(recorded[0].frames, 3);
        assert_eq!(recorded[0].opt.page_ins, 0);
    }

    proptest! {
        #[test]
        fn records_round_trip(recs in prop::collection::vec(record(), 0..50),
                              frames in any::<u32>(), shift in 0u32..32,
                              name in "[a-z0-9-]{0,32}", dropped in any::<u64>()) {
            let mut header = TraceHeader::new(1 << shift, frames, &name).unwrap();
            header.dropped = dropped;
            let t = RecordedTrace { header, records: recs };
            prop_assert_eq!(RecordedTrace::decode(&t.encode()), Ok(t));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = RecordedTrace::decode(&bytes);
        }

        #[test]
        fn valid_header_with_arbitrary_body_never_panics(
            body in prop::collection::vec(any::<u8>(), 0..400)
        ) {
            let mut h = [0; HEADER_SIZE];
            TraceHeader::new(4096, 8, "clock").unwrap().encode(&mut h);
            let mut bytes = h.to_vec();
            bytes.extend_from_slice(&body);
            if let Ok(t) = RecordedTrace::decode(&bytes) {
                prop_assert_eq!(t.records.len() * RECORD_SIZE, body.len());
                let _ = replay_recorded(&t, &[1, 3]);
            }
        }
    }
}
