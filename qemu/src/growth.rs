//! The growth curves of `cargo qemu bench`: `BENCH-GROWTH <what> <x> <cycles>` lines from bench-fault (fault cost against map entries, live clients and backing-chain depth) and their table, each point against the curve's first.

use std::collections::BTreeMap;

/// The curves, in the order the table shows them, with what `x` counts.
const CURVES: &[(&str, &str)] = &[
    ("map-entries", "resident fault, map entries beside it"),
    ("clients", "zero-fill fault, live clients"),
    ("chain-depth", "read fault, objects above the page"),
];

/// Parses `BENCH-GROWTH <what> <x> <cycles>` into the results' key
/// `growth-<what>#<x>` with the cycles.
pub fn parse_growth(line: &str) -> Option<(String, u64)> {
    let w = crate::bench::fields(line, "BENCH-GROWTH")?;
    match w.as_slice() {
        [what, x, cycles] => {
            let x: u64 = x.parse().ok()?;
            let cycles: u64 = cycles.parse().ok()?;
            Some((format!("growth-{what}#{x}"), cycles))
        }
        _ => None,
    }
}

/// The points of curve `what` in `results`, by increasing `x`.
fn points(results: &BTreeMap<String, u64>, what: &str) -> Vec<(u64, u64)> {
    let prefix = format!("growth-{what}#");
    let mut p: Vec<(u64, u64)> = results
        .iter()
        .filter_map(|(k, &v)| Some((k.strip_prefix(&prefix)?.parse().ok()?, v)))
        .collect();
    p.sort_unstable();
    p
}

/// A row per point: its cycles (median of the rounds' medians) and the
/// ratio to the curve's first point; empty when no curve was measured.
pub fn section(results: &BTreeMap<String, u64>) -> String {
    let mut out = String::new();
    for (what, title) in CURVES {
        let p = points(results, what);
        let Some(&(_, first)) = p.first() else {
            continue;
        };
        if out.is_empty() {
            out.push_str(&format!(
                "{:<44} {:>10} {:>12} {:>10}\n",
                "how the fault cost grows", "x", "cycles", "vs first"
            ));
        }
        for (x, cycles) in p {
            out.push_str(&format!(
                "{title:<44} {x:>10} {cycles:>12} {:>10.2}\n",
                cycles as f64 / first.max(1) as f64
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_points_and_rows_against_the_first() {
        assert_eq!(
            parse_growth("BENCH-GROWTH map-entries 1000 5100"),
            Some(("growth-map-entries#1000".into(), 5100))
        );
        assert_eq!(parse_growth("BENCH-GROWTH map-entries x 5100"), None);
        assert_eq!(parse_growth("BENCH-GROWTH clients 4"), None);
        assert_eq!(parse_growth("BENCH x 1 cycles"), None);
        let mut r = BTreeMap::new();
        for l in [
            "BENCH-GROWTH map-entries 100000 6000",
            "BENCH-GROWTH map-entries 10 5000",
            "BENCH-GROWTH chain-depth 1 4000",
        ] {
            let (k, v) = parse_growth(l).unwrap();
            r.insert(k, v);
        }
        let t = section(&r);
        let rows: Vec<&str> = t.lines().collect();
        assert_eq!(rows.len(), 4, "{t}");
        assert!(rows[1].contains(" 10 ") && rows[1].ends_with("1.00"), "{t}");
        assert!(
            rows[2].contains("100000") && rows[2].ends_with("1.20"),
            "{t}"
        );
        assert!(rows[3].starts_with("read fault") && rows[3].ends_with("1.00"));
        assert!(section(&BTreeMap::new()).is_empty());
    }
}
