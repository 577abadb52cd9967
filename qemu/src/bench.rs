//! `cargo qemu bench`: boots `capdl/bench.spec` (the VM server and the
//! fault benchmark alone), collects the `BENCH <name> <value> cycles` lines
//! the root task (floors) and the benchmark client print, and shows each
//! VM-server cost as a ratio to its floor measured in the same boot. No
//! number here is a pass/fail threshold.

use crate::machine::{self, Exit};
use crate::step::{progress, Failure, Result};
use crate::{Options, Workspace};
use std::collections::BTreeMap;

/// Which floor each measured operation is divided by.
const FLOOR_OF: &[(&str, &str)] = &[
    ("vm-fault-zero-fill", "floor-fault-map-reply"),
    ("vm-fault-resident", "floor-fault-map-reply"),
    ("vm-fault-cow", "floor-fault-map-reply"),
    ("vm-request-ping", "floor-ipc-call-replyrecv"),
];

/// Parses `BENCH <name> <value> <unit>` anywhere in a console line.
pub fn parse_line(line: &str) -> Option<(String, u64)> {
    let rest = &line[line.find("BENCH ")? + 6..];
    let mut words = rest.split_whitespace();
    let name = words.next()?.to_string();
    let value = words.next()?.parse().ok()?;
    Some((name, value))
}

/// Formats the table: one row per measured operation, with its floor and ratio.
pub fn table(results: &BTreeMap<String, u64>) -> String {
    let mut out = format!(
        "{:<28} {:>12} {:<26} {:>12} {:>8}\n",
        "operation", "cycles", "floor", "floor cycles", "ratio"
    );
    for (name, floor) in FLOOR_OF {
        let (Some(&v), Some(&f)) = (results.get(*name), results.get(*floor)) else {
            out.push_str(&format!("{name:<28} {:>12}\n", "missing"));
            continue;
        };
        let ratio = if f == 0 {
            f64::NAN
        } else {
            v as f64 / f as f64
        };
        out.push_str(&format!(
            "{name:<28} {v:>12} {floor:<26} {f:>12} {ratio:>8.2}\n"
        ));
    }
    out
}

pub fn run(ws: &Workspace, o: &Options) -> Result<bool> {
    let boot = crate::build(ws, &o.boot("bench.spec", crate::DEFAULT_SWAP), o)?;
    progress("bench", "booting capdl/bench.spec");
    let mut results = BTreeMap::new();
    let exit = machine::run_captured(&boot, o.timeout, |line| {
        println!("  | {line}");
        if let Some((name, v)) = parse_line(line) {
            results.insert(name, v);
        }
        true
    })?;
    if exit != Exit::Guest(machine::GUEST_SUCCESS) {
        return Err(Failure::msg(format!(
            "the benchmark boot ended with {exit:?}"
        )));
    }
    println!(
        "\nPage-fault cost on seL4 under QEMU ({}; rdtsc cycles, median of 256)",
        if o.kvm { "KVM" } else { "TCG" }
    );
    print!("{}", table(&results));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_lines_parse() {
        assert_eq!(
            parse_line("  BENCH vm-fault-cow 1234 cycles"),
            Some(("vm-fault-cow".into(), 1234))
        );
        assert_eq!(parse_line("BENCH broken"), None);
        assert_eq!(parse_line("nothing"), None);
    }

    #[test]
    fn table_shows_ratios_and_missing_rows() {
        let mut r = BTreeMap::new();
        r.insert("floor-fault-map-reply".to_string(), 1000);
        r.insert("vm-fault-zero-fill".to_string(), 2500);
        let t = table(&r);
        assert!(t.contains("vm-fault-zero-fill"));
        assert!(t.contains("2.50"));
        assert!(t
            .lines()
            .any(|l| l.starts_with("vm-fault-cow") && l.contains("missing")));
    }
}
