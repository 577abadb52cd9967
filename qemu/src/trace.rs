//! `cargo qemu trace`: boots with the VM server's live trace on, collects its `TRACE` lines into a trace file (`vm_swap::trace_file`), replays the file through every policy and pool size with OPT, and sets the live page-ins beside the replay's; `--replay FILE` replays a file recorded earlier.

use crate::cli::TraceArgs;
use crate::machine::{self, Exit};
use crate::step::{progress, Failure, Result};
use crate::{Boot, Workspace};
use std::path::{Path, PathBuf};
use vm_swap::trace::{format_table, PoolReplay};
use vm_swap::trace_file::{replay_recorded, RecordedTrace, TraceHeader, TraceRecord};
use vm_swap::trace_line::{parse_line, ParsedLine};

/// The spec `cargo qemu trace` boots unless `--spec` names another: the
/// workloads client on a small pool, which pages.
pub const DEFAULT_SPEC: &str = crate::policies::SPEC;

/// What the console said about the trace.
#[derive(Debug, Default)]
pub struct Collector {
    /// `TRACE-BEGIN`: page size, frames, policy, ring size.
    pub begin: Option<(u32, u32, String, u32)>,
    pub records: Vec<TraceRecord>,
    /// The next `TRACE` line expected.
    next_seq: u64,
    /// `TRACE` lines missing (gaps in the sequence) or unreadable.
    pub lost_lines: u64,
    /// The last `TRACE-SUMMARY`'s fields.
    pub summary: Vec<(String, u64)>,
}

impl Collector {
    /// Takes in one console line.
    pub fn observe(&mut self, line: &str) {
        match parse_line(line) {
            Ok(Some(ParsedLine::Begin {
                page_size,
                frames,
                policy,
                ring,
            })) => self.begin = Some((page_size, frames, policy, ring)),
            Ok(Some(ParsedLine::Records { seq, records })) => {
                self.lost_lines += seq.saturating_sub(self.next_seq);
                self.next_seq = seq + 1;
                self.records.extend(records);
            }
            Ok(Some(ParsedLine::Summary(s))) => self.summary = s,
            Ok(None) => {}
            Err(_) => self.lost_lines += 1,
        }
    }

    /// A field of the last summary.
    pub fn summary(&self, key: &str) -> Option<u64> {
        self.summary.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// The trace file's contents: the header from `TRACE-BEGIN` and the
    /// summary's dropped count, the records in order.
    pub fn trace(&self) -> std::result::Result<RecordedTrace, String> {
        let (page_size, frames, policy, _) = self
            .begin
            .as_ref()
            .ok_or("no TRACE-BEGIN line: was tracing on?")?;
        let mut header = TraceHeader::new(*page_size, *frames, policy)
            .ok_or_else(|| format!("TRACE-BEGIN: bad page size or policy {policy:?}"))?;
        header.dropped = self.summary("dropped").unwrap_or(0);
        Ok(RecordedTrace {
            header,
            records: self.records.clone(),
        })
    }
}

/// The pool sizes to replay at: `given`, else eight from an eighth to
/// twice the live pool; always with the live pool, sorted, no duplicates.
pub fn pools(live: u32, given: &[u32]) -> Vec<u32> {
    let mut p: Vec<u32> = if given.is_empty() {
        [1, 2, 4, 6, 8, 10, 12, 16]
            .iter()
            .map(|&k| (u64::from(live) * k / 8) as u32)
            .collect()
    } else {
        given.to_vec()
    };
    p.push(live);
    p.retain(|&n| n >= 1);
    p.sort_unstable();
    p.dedup();
    p
}

/// The live run's page-ins against the replay's for the live policy at
/// the live pool: a text block.
pub fn agreement(trace: &RecordedTrace, replays: &[PoolReplay], vm_pageins: Option<u64>) -> String {
    let live = trace.live_counts();
    let policy = trace.header.policy();
    let row = replays
        .iter()
        .find(|p| p.frames == trace.header.frames)
        .and_then(|p| p.policies.iter().find(|r| r.policy == policy));
    let mut out = format!(
        "Live run ({policy}, {} frames): {} faults, {} reference faults, {} pages entered by \
         fault-around, {} page-ins ({} wanted by a fault, {} read ahead), {} page-outs, {} frees; \
         {} records dropped\n",
        trace.header.frames,
        live.faults,
        live.ref_faults,
        live.prefaults,
        live.page_ins,
        live.demand_page_ins,
        live.page_ins - live.demand_page_ins,
        live.page_outs,
        live.frees,
        trace.header.dropped,
    );
    if let Some(n) = vm_pageins {
        out += &format!("  the VM server's own count of pages read in: {n}\n");
    }
    match row {
        Some(r) => {
            let ratio = |live: u64| {
                if live == 0 {
                    "-".to_string()
                } else {
                    format!("{:.3}", r.page_ins as f64 / live as f64)
                }
            };
            out += &format!(
                "Replay of {policy} at {} frames: {} page-ins; replay / live: {} against the \
                 faults that waited for a page-in, {} against every page read in\n",
                trace.header.frames,
                r.page_ins,
                ratio(live.demand_page_ins),
                ratio(live.page_ins)
            );
        }
        None => {
            out +=
                &format!("No replay of policy {policy:?} at the live pool (not a known policy)\n")
        }
    }
    out
}

/// Replays `trace` at `pools` and prints the tables and the agreement.
fn report(trace: &RecordedTrace, pools_given: &[u32], vm_pageins: Option<u64>) {
    let pools = pools(trace.header.frames, pools_given);
    let ops = trace.to_trace_ops();
    progress(
        "replay",
        format!(
            "{} records ({} replay steps) through every policy at {} pool sizes, with OPT",
            trace.records.len(),
            ops.len(),
            pools.len()
        ),
    );
    let replays = replay_recorded(trace, &pools);
    for p in &replays {
        let live = if p.frames == trace.header.frames {
            " (the live pool)"
        } else {
            ""
        };
        print!(
            "{}",
            format_table(&format!("recorded trace, {} frames{live}", p.frames), p)
        );
        println!();
    }
    print!("{}", agreement(trace, &replays, vm_pageins));
}

/// `cargo qemu trace`.
pub fn command(ws: &Workspace, args: &TraceArgs) -> Result<bool> {
    if let Some(file) = &args.replay {
        let bytes =
            std::fs::read(file).map_err(|e| Failure::msg(format!("{}: {e}", file.display())))?;
        let trace = RecordedTrace::decode(&bytes)
            .map_err(|e| Failure::msg(format!("{}: not a trace file: {e:?}", file.display())))?;
        report(&trace, &args.pools, None);
        return Ok(true);
    }
    let o = args.machine.options();
    let spec = args.machine.spec.as_deref().unwrap_or(DEFAULT_SPEC);
    let boot = Boot {
        trace_ring: Some(args.ring),
        ..o.boot_of(spec)
    };
    let machine = crate::build(ws, &boot, &o)?;
    let mut c = Collector::default();
    let exit = machine::run_captured(&machine, o.timeout, |line| {
        if !line.starts_with("TRACE ") {
            println!("  | {line}");
        }
        c.observe(line);
        true
    })?;
    let trace = c.trace().map_err(Failure::msg)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| ws.target.join("trace.vmt"));
    write_trace(&out, &trace)?;
    println!(
        "\nWrote {} ({} records, {} dropped by the ring, {} TRACE lines lost on the console)",
        out.display(),
        trace.records.len(),
        trace.header.dropped,
        c.lost_lines
    );
    if let Some(n) = c.summary("records") {
        if n != trace.records.len() as u64 {
            println!(
                "  the server recorded {n} records; {} arrived",
                trace.records.len()
            );
        }
    }
    report(&trace, &args.pools, c.summary("pageins"));
    let ok = exit == Exit::Guest(machine::GUEST_SUCCESS) && c.lost_lines == 0;
    if exit != Exit::Guest(machine::GUEST_SUCCESS) {
        println!("the boot ended with {exit:?}");
    }
    Ok(ok)
}

/// Writes `trace` to `path` (making its directory).
pub fn write_trace(path: &Path, trace: &RecordedTrace) -> Result<PathBuf> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::msg(format!("{}: {e}", dir.display())))?;
    }
    std::fs::write(path, trace.encode())
        .map_err(|e| Failure::msg(format!("{}: {e}", path.display())))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_swap::trace_file::RecordKind;
    use vm_swap::trace_line::TraceLine;

    fn count(trace: &RecordedTrace, kind: RecordKind) -> usize {
        trace.records.iter().filter(|r| r.kind == kind).count()
    }

    fn rec(kind: RecordKind, badge: u32, page: u64) -> TraceRecord {
        TraceRecord {
            kind,
            badge,
            page,
            cycles: 10,
        }
    }

    #[test]
    fn console_lines_become_a_trace_file_that_replays() {
        use RecordKind::*;
        let recs = [
            rec(FaultWrite, 1, 0x400),
            rec(FaultWrite, 1, 0x401),
            rec(FaultRead, 1, 0x402),
            rec(PageOut, 0, 5 << 40),
            rec(PageIn, 1, 5 << 40),
            rec(PageIn, 0, (5 << 40) + 1),
            rec(FaultRead, 1, 0x400),
            rec(ReferenceFault, 1, 0x402),
            rec(Free, 1, 0x400),
        ];
        let mut c = Collector::default();
        c.observe("vm-server: starting");
        c.observe("TRACE-BEGIN page_size=4096 frames=2 policy=clock ring=64");
        c.observe(
            &TraceLine {
                seq: 0,
                records: &recs[..4],
            }
            .to_string(),
        );
        c.observe("  | something else");
        c.observe(
            &TraceLine {
                seq: 1,
                records: &recs[4..],
            }
            .to_string(),
        );
        c.observe("TRACE-SUMMARY records=9 dropped=3 lines=2 pageins=2");
        assert_eq!(c.lost_lines, 0);
        let t = c.trace().unwrap();
        assert_eq!(t.records, recs);
        assert_eq!(
            (t.header.frames, t.header.policy(), t.header.dropped),
            (2, "clock", 3)
        );
        let dir = std::env::temp_dir().join(format!("qemu-trace-test-{}", std::process::id()));
        let path = write_trace(&dir.join("t.vmt"), &t).unwrap();
        let back = RecordedTrace::decode(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back, t);
        assert_eq!(count(&back, PageIn), 2);
        let replays = replay_recorded(&back, &pools(2, &[1]));
        assert_eq!(replays.iter().map(|p| p.frames).collect::<Vec<_>>(), [1, 2]);
        let text = agreement(&back, &replays, Some(2));
        assert!(
            text.contains("2 page-ins (1 wanted by a fault, 1 read ahead)"),
            "{text}"
        );
        assert!(text.contains("Replay of clock at 2 frames"), "{text}");
    }

    #[test]
    fn lost_and_torn_lines_are_counted() {
        let r = [rec(RecordKind::FaultRead, 1, 1)];
        let mut c = Collector::default();
        c.observe(
            &TraceLine {
                seq: 0,
                records: &r,
            }
            .to_string(),
        );
        c.observe(
            &TraceLine {
                seq: 3,
                records: &r,
            }
            .to_string(),
        );
        c.observe("TRACE 4 1 AAA");
        assert_eq!(c.lost_lines, 3);
        assert_eq!(c.records.len(), 2);
        assert!(c.trace().is_err(), "no TRACE-BEGIN");
    }

    #[test]
    fn pools_include_the_live_one() {
        assert_eq!(pools(800, &[]), [100, 200, 400, 600, 800, 1000, 1200, 1600]);
        assert_eq!(pools(3, &[5, 0, 3]), [3, 5]);
    }
}
