//! The console form of a recorded trace: `TRACE <seq> <count> <base64 of count records>` lines the live server prints (encoded without allocating) and the host parses back, with the `TRACE-BEGIN` and `TRACE-SUMMARY` lines around them.
//!
//! ```text
//! TRACE-BEGIN page_size=4096 frames=1433 policy=clock ring=16384
//! TRACE 0 32 AQAAAAEAAAAQAAAAAAAAAGQAAAAC...
//! TRACE 1 7 ...
//! TRACE-SUMMARY records=39 dropped=0 lines=2 pageins=12 flt_pagein=10 flt_reference=3
//! ```
//!
//! A `TRACE` line carries at most [`RECORDS_PER_LINE`] records of
//! [`RECORD_SIZE`] bytes (the file format's, `trace_file`), in standard
//! base64 with padding; `seq` counts lines from 0, so the host sees a lost
//! line as a gap. The line stays under the 952 bytes one console message
//! to the root task carries. `TRACE-SUMMARY` is printed at every flush
//! (each client exit); the last one holds the run's totals: records kept,
//! records dropped (ring full), lines printed, and the VM's page-ins
//! (pages read, `pgswapin` plus pager pages), faults that waited for a
//! page-in (`flt_pagein`) and reference faults (`flt_reference`).
//!
//! Locking: none; pure functions.

use crate::trace_file::{TraceRecord, RECORD_SIZE};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Records in one `TRACE` line (640 bytes, 856 base64 characters).
pub const RECORDS_PER_LINE: usize = 32;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Displays `records` as one `TRACE` line (without the newline); no
/// allocation, for the server. Caller contract: at most
/// [`RECORDS_PER_LINE`] records.
pub struct TraceLine<'a> {
    pub seq: u64,
    pub records: &'a [TraceRecord],
}

impl fmt::Display for TraceLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = [0u8; RECORDS_PER_LINE * RECORD_SIZE];
        let n = self.records.len().min(RECORDS_PER_LINE);
        for (r, out) in self.records[..n]
            .iter()
            .zip(bytes.chunks_exact_mut(RECORD_SIZE))
        {
            let out: &mut [u8; RECORD_SIZE] = out.try_into().expect("chunk of RECORD_SIZE");
            r.encode(out);
        }
        write!(f, "TRACE {} {n} ", self.seq)?;
        base64(f, &bytes[..n * RECORD_SIZE])
    }
}

/// Writes `bytes` in standard base64 with padding.
fn base64(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let mut out = [b'='; 4];
        for (i, o) in out.iter_mut().enumerate().take(c.len() + 1) {
            *o = ALPHABET[(v >> (18 - 6 * i) & 63) as usize];
        }
        // ASCII from the alphabet or '='.
        f.write_str(core::str::from_utf8(&out).map_err(|_| fmt::Error)?)?;
    }
    Ok(())
}

/// Decodes standard base64 with padding; `None` if malformed.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if !t.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|v| v as u32);
    let mut out = Vec::with_capacity(t.len() / 4 * 3);
    for (i, q) in t.chunks(4).enumerate() {
        let last = i + 1 == t.len() / 4;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut v = 0u32;
        for &c in &q[..4 - pad] {
            v = (v << 6) | value(c)?;
        }
        v <<= 6 * pad as u32;
        let b = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&b[..3 - pad]);
    }
    Some(out)
}

/// A console line of a trace, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParsedLine {
    /// `TRACE-BEGIN`: the recording's parameters.
    Begin {
        page_size: u32,
        frames: u32,
        policy: String,
        ring: u32,
    },
    /// `TRACE`: line `seq`'s records.
    Records { seq: u64, records: Vec<TraceRecord> },
    /// `TRACE-SUMMARY`: the totals so far, by name.
    Summary(Vec<(String, u64)>),
}

/// Why a line that starts like a trace line is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine(pub &'static str);

/// Parses one console line: `Ok(None)` if it is no trace line, an error
/// if it starts like one but is malformed (a torn or corrupted line).
pub fn parse_line(line: &str) -> Result<Option<ParsedLine>, BadLine> {
    let line = line.trim_end();
    let Some(at) = line.find("TRACE") else {
        return Ok(None);
    };
    let mut words = line[at..].split_ascii_whitespace();
    match words.next() {
        Some("TRACE") => {
            let num = |w: Option<&str>| w.and_then(|w| w.parse::<u64>().ok());
            let seq = num(words.next()).ok_or(BadLine("TRACE: no sequence number"))?;
            let n = num(words.next()).ok_or(BadLine("TRACE: no record count"))? as usize;
            let data = words.next().unwrap_or("");
            if words.next().is_some() {
                return Err(BadLine("TRACE: trailing words"));
            }
            let bytes = decode_base64(data).ok_or(BadLine("TRACE: bad base64"))?;
            if n > RECORDS_PER_LINE || bytes.len() != n * RECORD_SIZE {
                return Err(BadLine("TRACE: count and data disagree"));
            }
            let records = bytes
                .chunks_exact(RECORD_SIZE)
                .enumerate()
                .map(|(i, c)| TraceRecord::decode(c.try_into().expect("exact chunk"), i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| BadLine("TRACE: bad record"))?;
            Ok(Some(ParsedLine::Records { seq, records }))
        }
        Some("TRACE-BEGIN") => {
            let pairs = pairs(words)?;
            let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let num = |k: &str| {
                get(k)
                    .and_then(|v| v.parse::<u32>().ok())
                    .ok_or(BadLine("TRACE-BEGIN: a field is missing or not a number"))
            };
            Ok(Some(ParsedLine::Begin {
                page_size: num("page_size")?,
                frames: num("frames")?,
                policy: get("policy")
                    .ok_or(BadLine("TRACE-BEGIN: no policy"))?
                    .into(),
                ring: num("ring")?,
            }))
        }
        Some("TRACE-SUMMARY") => {
            let pairs = pairs(words)?;
            pairs
                .into_iter()
                .map(|(k, v)| v.parse().map(|v| (k, v)))
                .collect::<Result<Vec<_>, _>>()
                .map(|p| Some(ParsedLine::Summary(p)))
                .map_err(|_| BadLine("TRACE-SUMMARY: not a number"))
        }
        _ => Ok(None),
    }
}

/// `key=value` words.
fn pairs<'a>(words: impl Iterator<Item = &'a str>) -> Result<Vec<(String, String)>, BadLine> {
    words
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.into(), v.into()))
                .ok_or(BadLine("a word that is not key=value"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace_file::RecordKind;
    use alloc::format;
    use alloc::string::ToString;
    use proptest::prelude::*;

    #[test]
    fn base64_matches_the_standard_examples() {
        struct B<'a>(&'a [u8]);
        impl fmt::Display for B<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                base64(f, self.0)
            }
        }
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(B(plain.as_bytes()).to_string(), enc);
            assert_eq!(decode_base64(enc).unwrap(), plain.as_bytes());
        }
        assert_eq!(decode_base64("Zm9"), None);
        assert_eq!(decode_base64("Z=9v"), None);
        assert_eq!(decode_base64("Zg==Zg=="), None);
        assert_eq!(decode_base64("Zm9*"), None);
    }

    #[test]
    fn a_full_line_fits_one_console_message() {
        let r = TraceRecord {
            kind: RecordKind::PageIn,
            badge: u32::MAX,
            page: u64::MAX,
            cycles: u32::MAX,
        };
        let recs = [r; RECORDS_PER_LINE];
        let line = TraceLine {
            seq: u64::MAX,
            records: &recs,
        }
        .to_string();
        // The root task prints a component's line in messages of 952 bytes.
        assert!(line.len() < 952, "{}", line.len());
        assert_eq!(
            parse_line(&line),
            Ok(Some(ParsedLine::Records {
                seq: u64::MAX,
                records: recs.to_vec()
            }))
        );
    }

    #[test]
    fn begin_and_summary_lines_parse_and_others_are_ignored() {
        assert_eq!(
            parse_line("TRACE-BEGIN page_size=4096 frames=1433 policy=clock-pro ring=16384\r"),
            Ok(Some(ParsedLine::Begin {
                page_size: 4096,
                frames: 1433,
                policy: "clock-pro".into(),
                ring: 16384
            }))
        );
        assert_eq!(
            parse_line("TRACE-SUMMARY records=5 dropped=1"),
            Ok(Some(ParsedLine::Summary(
                [("records".into(), 5), ("dropped".into(), 1)].to_vec()
            )))
        );
        assert_eq!(parse_line("vm-server: pageout policy clock"), Ok(None));
        assert_eq!(parse_line("TEST PASS tracer"), Ok(None));
        assert!(parse_line("TRACE 3 2 AAAA").is_err());
        assert!(parse_line("TRACE 3").is_err());
        assert!(parse_line("TRACE-BEGIN frames=x").is_err());
        assert!(parse_line("TRACE-SUMMARY records=x").is_err());
        // A record with a bad kind.
        let bad = format!("TRACE 0 1 {}", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(parse_line(&bad), Err(BadLine("TRACE: bad record")));
    }

    proptest! {
        #[test]
        fn lines_round_trip(seq in any::<u64>(),
                            recs in prop::collection::vec(
                                (1u8..=6, any::<u32>(), any::<u64>(), any::<u32>()), 0..=RECORDS_PER_LINE)) {
            let recs: Vec<TraceRecord> = recs.into_iter().map(|(k, badge, page, cycles)| {
                let mut b = [0u8; RECORD_SIZE];
                b[0] = k;
                TraceRecord { kind: TraceRecord::decode(&b, 0).unwrap().kind, badge, page, cycles }
            }).collect();
            let line = TraceLine { seq, records: &recs }.to_string();
            prop_assert_eq!(parse_line(&line), Ok(Some(ParsedLine::Records { seq, records: recs })));
        }

        #[test]
        fn arbitrary_text_never_panics(s in "TRACE[ -~]{0,80}") {
            let _ = parse_line(&s);
        }
    }
}
