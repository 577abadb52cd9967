//! `cargo qemu bench`: boots `capdl/bench.spec` (the VM server, the block
//! server with block-test, the file server with the files disk, and the
//! benchmark client), collects the `BENCH <name> <value> <unit>` lines the
//! root task (floors), block-test (raw disk throughput) and the benchmark
//! client print, and shows each VM-server cost as a ratio to its floor or
//! raw counterpart measured in the same boot. No number here is a
//! pass/fail threshold.
//!
//! The file rows (bench-fault's file phase, a 4 MiB file of the files
//! disk mapped through the file server): a page-in of one file page is
//! divided by a soft fault on a cached file page (what the pager round
//! trip adds), and that soft fault by the fault floor; the mapped file's
//! read MB/s by the file server's own `read` of the same bytes and by the
//! raw disk.
//!
//! It also draws bench-fault's latency distributions (`BENCH-HIST`)
//! against their floors: `target/bench/fault-latency.{svg,png}`
//! (`plots`). `--policies` is the replacement-policy comparison
//! (`policies`).

use crate::machine::{self, Exit};
use crate::plots::{self, Histogram};
use crate::step::{progress, Failure, Result};
use crate::{Options, Workspace};
use std::collections::BTreeMap;

/// Which floor each measured operation (cycles) is divided by.
const FLOOR_OF: &[(&str, &str)] = &[
    ("vm-fault-zero-fill", "floor-fault-map-reply"),
    ("vm-fault-zero-fill-busy", "floor-fault-map-reply"),
    ("vm-fault-resident", "floor-fault-map-reply"),
    ("vm-fault-cow", "floor-fault-map-reply"),
    ("vm-fault-pagein", "floor-fault-map-reply"),
    ("vm-fault-pagein", FLOOR_PAGEIN),
    ("vm-file-fault-cached", "floor-fault-map-reply"),
    ("vm-file-fault-pagein", "vm-file-fault-cached"),
    ("vm-request-ping", "floor-ipc-call-replyrecv"),
];

/// The floor of a page-in fault: the fault floor plus one 4 KiB read
/// of the raw disk alone (`blk-read-4k`, block-test), both from the same
/// boot; derived by [`table`] and [`summary`].
const FLOOR_PAGEIN: &str = "floor-fault+blk-read-4k";

/// `results` with the derived floors added.
fn with_derived(results: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut r = results.clone();
    if let (Some(&f), Some(&d)) = (
        results.get("floor-fault-map-reply"),
        results.get("blk-read-4k"),
    ) {
        r.insert(FLOOR_PAGEIN.to_string(), f + d);
    }
    r
}

/// Which raw throughput (MB/s) each swap and file throughput is divided
/// by: the block server's, and for the mapped file also the file server's
/// `read`. Each swap pass also has its kernel bound (`-bound-`: 4 KiB
/// per map and unmap, the root task's `floor-map-unmap`), shown against
/// the raw rate (the most the pass could reach of it) and as the pass's
/// share of it.
const RAW_OF: &[(&str, &str)] = &[
    ("vm-swap-out-mbps", "blk-raw-write-mbps"),
    ("vm-swap-out-bound-mbps", "blk-raw-write-mbps"),
    ("vm-swap-out-mbps", "vm-swap-out-bound-mbps"),
    ("vm-swap-in-mbps", "blk-raw-read-mbps"),
    ("vm-swap-in-bound-mbps", "blk-raw-read-mbps"),
    ("vm-swap-in-mbps", "vm-swap-in-bound-mbps"),
    ("vm-file-map-read-mbps", "file-read-mbps"),
    ("vm-file-map-read-mbps", "blk-raw-read-mbps"),
];

/// Parses `BENCH <name> <value> <unit>` anywhere in a console line.
pub fn parse_line(line: &str) -> Option<(String, u64)> {
    let rest = &line[line.find("BENCH ")? + 6..];
    let mut words = rest.split_whitespace();
    let name = words.next()?.to_string();
    let value = words.next()?.parse().ok()?;
    Some((name, value))
}

/// The words after `tag` and a space anywhere in a console line (the
/// `BENCH-*` lines the benchmark prints beside `BENCH`).
pub(crate) fn fields<'a>(line: &'a str, tag: &str) -> Option<Vec<&'a str>> {
    let at = line.find(tag)? + tag.len();
    let rest = line[at..].strip_prefix(' ')?;
    Some(rest.split_whitespace().collect())
}

/// Parses `BENCH-HIST <name> <floor> <lower>:<count> ...`: an
/// operation's latency samples in log-spaced buckets with its floor's
/// median (bench-fault's `Histogram`).
pub fn parse_hist(line: &str) -> Option<Histogram> {
    let w = fields(line, "BENCH-HIST")?;
    let buckets = w
        .get(2..)?
        .iter()
        .map(|b| {
            let (lower, n) = b.split_once(':')?;
            Some((lower.parse().ok()?, n.parse().ok()?))
        })
        .collect::<Option<Vec<(u64, u64)>>>()?;
    Some(Histogram {
        name: w.first()?.to_string(),
        floor: w.get(1)?.parse().ok()?,
        buckets,
    })
}

/// Takes every result a console line of a bench boot carries into
/// `results` (each row's value, rounds, calls, fault-around, large-page
/// and growth figures).
fn collect(results: &mut BTreeMap<String, u64>, line: &str) {
    if let Some((name, v)) = parse_line(line) {
        results.insert(name, v);
    }
    results.extend(parse_rounds(line));
    results.extend(parse_calls(line));
    results.extend(parse_around(line));
    results.extend(parse_zero(line));
    results.extend(parse_large(line));
    results.extend(crate::growth::parse_growth(line));
}

/// Parses `BENCH-ROUNDS <name> <floor> <rounds> <median> <min> <max>
/// [<floor median>]` (ratios in thousandths, each round against a floor
/// round measured just before it; the floor rounds' median in the
/// floor's unit) into the results' keys `name@floor#median`, `#min`,
/// `#max`, `#rounds` and `#floor`.
pub fn parse_rounds(line: &str) -> Vec<(String, u64)> {
    let Some(w) = fields(line, "BENCH-ROUNDS") else {
        return Vec::new();
    };
    let nums: Option<Vec<u64>> = w
        .get(2..)
        .map(|n| n.iter().map_while(|x| x.parse().ok()).collect());
    match (w.first(), w.get(1), nums) {
        (Some(name), Some(floor), Some(n)) if n.len() == 4 || n.len() == 5 => {
            let key = |k: &str| format!("{name}@{floor}#{k}");
            ["rounds", "median", "min", "max", "floor"]
                .iter()
                .zip(n)
                .map(|(k, v)| (key(k), v))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Parses `BENCH-CALLS <name> <invocations> <operations>` into the
/// results' keys `name#invocations` and `name#operations`.
pub fn parse_calls(line: &str) -> Vec<(String, u64)> {
    let Some(w) = fields(line, "BENCH-CALLS") else {
        return Vec::new();
    };
    let num = |i: usize| w.get(i).and_then(|n| n.parse::<u64>().ok());
    let (Some(name), Some(calls), Some(ops)) = (w.first(), num(1), num(2)) else {
        return Vec::new();
    };
    let mut out = vec![
        (format!("{name}#invocations"), calls),
        (format!("{name}#operations"), ops),
    ];
    if let (Some(cycles), Some(messages)) = (num(3), num(4)) {
        out.push((format!("{name}#handling-cycles"), cycles));
        out.push((format!("{name}#messages"), messages));
    }
    out
}

/// The kernel invocations the VM server made per operation, for every
/// row measured with them (`BENCH-CALLS`): besides each fault's own IPC
/// (the fault message and the server's `ReplyRecv`).
fn calls_section(results: &BTreeMap<String, u64>) -> String {
    let mut out = String::new();
    for (name, _) in FLOOR_OF {
        let (Some(&calls), Some(&ops)) = (
            results.get(&format!("{name}#invocations")),
            results.get(&format!("{name}#operations")),
        ) else {
            continue;
        };
        if out.is_empty() {
            out = format!(
                "{:<28} {:>12} {:>12} {:>14} {:>22}\n",
                "kernel calls",
                "invocations",
                "operations",
                "per operation",
                "server cycles/message"
            );
        }
        let per = if ops == 0 {
            f64::NAN
        } else {
            calls as f64 / ops as f64
        };
        let server = match (
            results.get(&format!("{name}#handling-cycles")),
            results.get(&format!("{name}#messages")),
        ) {
            (Some(&c), Some(&m)) if m > 0 => format!("{}", c / m),
            _ => String::from("-"),
        };
        out.push_str(&format!(
            "{name:<28} {calls:>12} {ops:>12} {per:>14.2} {server:>22}\n"
        ));
    }
    out
}

/// Parses `BENCH-ZERO <name> <found zeroed> <zeroed in the fault>` (a
/// zero-fill row's frames: zeroed ahead in idle time, or by the fault)
/// into the results' keys `name#zeroed-ahead` and `name#zeroed-in-fault`.
pub fn parse_zero(line: &str) -> Vec<(String, u64)> {
    let Some(w) = fields(line, "BENCH-ZERO") else {
        return Vec::new();
    };
    match (w.first(), w.get(1), w.get(2)) {
        (Some(name), Some(a), Some(b)) => match (a.parse(), b.parse()) {
            (Ok(a), Ok(b)) => vec![
                (format!("{name}#zeroed-ahead"), a),
                (format!("{name}#zeroed-in-fault"), b),
            ],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Where each zero-fill row's frames were zeroed (`BENCH-ZERO`).
fn zero_section(results: &BTreeMap<String, u64>) -> String {
    let mut out = String::new();
    for (name, _) in FLOOR_OF {
        let (Some(ahead), Some(fault)) = (
            results.get(&format!("{name}#zeroed-ahead")),
            results.get(&format!("{name}#zeroed-in-fault")),
        ) else {
            continue;
        };
        if out.is_empty() {
            out = format!(
                "{:<28} {:>14} {:>20}\n",
                "zero-fill frames", "zeroed ahead", "zeroed in the fault"
            );
        }
        out.push_str(&format!("{name:<28} {ahead:>14} {fault:>20}\n"));
    }
    out
}

/// Parses `BENCH-AROUND <advice> <pages> <faults> <cycles>` into the
/// results' keys `around-<advice>#pages`, `#faults` and `#cycles`.
pub fn parse_around(line: &str) -> Vec<(String, u64)> {
    let Some(w) = fields(line, "BENCH-AROUND") else {
        return Vec::new();
    };
    let nums: Vec<u64> = w.iter().skip(1).filter_map(|n| n.parse().ok()).collect();
    match (w.first(), nums.as_slice()) {
        (Some(advice), [pages, faults, cycles]) => ["pages", "faults", "cycles"]
            .iter()
            .zip([*pages, *faults, *cycles])
            .map(|(k, v)| (format!("around-{advice}#{k}"), v))
            .collect(),
        _ => Vec::new(),
    }
}

/// Fault-around on a first touch in order, per advice: faults taken,
/// pages per fault, cycles per page, and both against advice `random`
/// (fault-around off).
fn around_section(results: &BTreeMap<String, u64>) -> String {
    let get = |advice: &str, k: &str| results.get(&format!("around-{advice}#{k}")).copied();
    let Some(off_cycles) = get("random", "cycles") else {
        return String::new();
    };
    let mut out = format!(
        "{:<28} {:>8} {:>8} {:>12} {:>14} {:>12}\n",
        "first touch in order", "pages", "faults", "pages/fault", "cycles/page", "time vs off"
    );
    for advice in ["random", "normal", "sequential"] {
        let (Some(pages), Some(faults), Some(cycles)) = (
            get(advice, "pages"),
            get(advice, "faults"),
            get(advice, "cycles"),
        ) else {
            continue;
        };
        let per_fault = pages as f64 / faults.max(1) as f64;
        let per_page = cycles / pages.max(1);
        let vs = cycles as f64 / off_cycles.max(1) as f64;
        out.push_str(&format!(
            "{:<28} {pages:>8} {faults:>8} {per_fault:>12.1} {per_page:>14} {vs:>12.2}\n",
            format!("advice {advice}")
        ));
    }
    out
}

/// Parses `BENCH-LARGE <on|off> <MiB> <touch|random> <faults> <cycles>
/// <microseconds>` into the results' keys `large-<on|off>-<MiB>-<pass>#faults`,
/// `#cycles` and `#us`.
pub fn parse_large(line: &str) -> Vec<(String, u64)> {
    let Some(w) = fields(line, "BENCH-LARGE") else {
        return Vec::new();
    };
    let nums: Vec<u64> = w.iter().skip(3).filter_map(|n| n.parse().ok()).collect();
    match (w.first(), w.get(1), w.get(2), nums.as_slice()) {
        (Some(mode), Some(mib), Some(pass), [faults, cycles, us]) => ["faults", "cycles", "us"]
            .iter()
            .zip([*faults, *cycles, *us])
            .map(|(k, v)| (format!("large-{mode}-{mib}-{pass}#{k}"), v))
            .collect(),
        _ => Vec::new(),
    }
}

/// 2 MiB pages on and off, side by side: per region size and pass, the
/// faults and time of each, and the time with large pages against without.
fn large_section(results: &BTreeMap<String, u64>) -> String {
    let get = |mode: &str, mib: &str, pass: &str, k: &str| {
        results
            .get(&format!("large-{mode}-{mib}-{pass}#{k}"))
            .copied()
    };
    let mut out = String::new();
    for mib in ["64", "8"] {
        for pass in ["touch", "random"] {
            let (Some(f_on), Some(us_on), Some(f_off), Some(us_off)) = (
                get("on", mib, pass, "faults"),
                get("on", mib, pass, "us"),
                get("off", mib, pass, "faults"),
                get("off", mib, pass, "us"),
            ) else {
                continue;
            };
            if out.is_empty() {
                out = format!(
                    "{:<28} {:>10} {:>10} {:>10} {:>10} {:>12}\n",
                    "2 MiB pages", "faults on", "faults off", "ms on", "ms off", "time on/off"
                );
            }
            let what = if pass == "touch" {
                "first touch"
            } else {
                "random pass"
            };
            out.push_str(&format!(
                "{:<28} {f_on:>10} {f_off:>10} {:>10.1} {:>10.1} {:>12.2}\n",
                format!("{what}, {mib} MiB"),
                us_on as f64 / 1000.0,
                us_off as f64 / 1000.0,
                us_on as f64 / us_off.max(1) as f64
            ));
        }
    }
    out
}

/// The ratio of `name` to `base` in one boot: the median of its
/// interleaved rounds when it was measured so, else the two numbers'
/// ratio; with the rounds' smallest and largest.
fn ratio_of(
    results: &BTreeMap<String, u64>,
    name: &str,
    base: &str,
) -> Option<(f64, Option<(f64, f64)>)> {
    let key = |k: &str| format!("{name}@{base}#{k}");
    if let (Some(&m), Some(&lo), Some(&hi)) = (
        results.get(&key("median")),
        results.get(&key("min")),
        results.get(&key("max")),
    ) {
        return Some((
            m as f64 / 1000.0,
            Some((lo as f64 / 1000.0, hi as f64 / 1000.0)),
        ));
    }
    match (results.get(name), results.get(base)) {
        (Some(&v), Some(&f)) if f > 0 => Some((v as f64 / f as f64, None)),
        _ => None,
    }
}

/// Formats the tables: per measured operation, its reference (floor or
/// raw throughput) and the ratio of the two; cycles first, then MB/s.
pub fn table(results: &BTreeMap<String, u64>) -> String {
    let results = &with_derived(results);
    let mut out = section(
        results,
        ["operation", "cycles", "floor", "floor cycles"],
        FLOOR_OF,
    );
    out.push('\n');
    out += &section(results, ["throughput", "MB/s", "raw", "raw MB/s"], RAW_OF);
    let memory = results
        .get("vm-metadata-bytes-per-page")
        .map_or(String::new(), |b| {
            format!(
                "{:<28} {b:>12} (the server's heap in live allocations per managed frame (pool and large regions), pool full, swap in use)\n",
                "metadata bytes per page"
            )
        });
    for extra in [
        calls_section(results),
        zero_section(results),
        around_section(results),
        large_section(results),
        crate::growth::section(results),
        memory,
    ] {
        if !extra.is_empty() {
            out.push('\n');
            out += &extra;
        }
    }
    out
}

/// One table: a header of the four column titles, then a row per pair;
/// a row measured in interleaved rounds shows the median of its rounds'
/// ratios and their range.
fn section(results: &BTreeMap<String, u64>, titles: [&str; 4], pairs: &[(&str, &str)]) -> String {
    let [what, unit, reference, ref_unit] = titles;
    let mut out = format!(
        "{what:<28} {unit:>12} {reference:<26} {ref_unit:>12} {:>8}  spread over rounds\n",
        "ratio"
    );
    for (name, base) in pairs {
        // A floor measured in rounds beside the operation's: their median.
        let paired = results.get(&format!("{name}@{base}#floor"));
        let (Some(&v), Some(&f), Some((ratio, spread))) = (
            results.get(*name),
            paired.or(results.get(*base)),
            ratio_of(results, name, base),
        ) else {
            out.push_str(&format!("{name:<28} {:>12}\n", "missing"));
            continue;
        };
        let spread = spread.map_or(String::new(), |(lo, hi)| {
            let n = results
                .get(&format!("{name}@{base}#rounds"))
                .copied()
                .unwrap_or(0);
            format!("  {lo:.2}..{hi:.2} ({n} rounds)")
        });
        out.push_str(&format!(
            "{name:<28} {v:>12} {base:<26} {f:>12} {ratio:>8.2}{spread}\n"
        ));
    }
    out
}

/// Boots the benchmark `boots` times: each boot's table, then (for more
/// than one) the summary over the boots.
pub fn run(ws: &Workspace, o: &Options, boots: u32) -> Result<bool> {
    let boot = crate::build(ws, &o.boot_of("bench.spec"), o)?;
    check_floor_text(ws, &boot.root_task);
    let mut all = Vec::new();
    let mut hists = Vec::new();
    for n in 1..=boots {
        progress(
            "bench",
            format!("booting capdl/bench.spec ({n} of {boots})"),
        );
        let mut results = BTreeMap::new();
        hists.clear();
        let exit = machine::run_captured(&boot, o.timeout, |line| {
            println!("  | {line}");
            hists.extend(parse_hist(line));
            collect(&mut results, line);
            true
        })?;
        if exit != Exit::Guest(machine::GUEST_SUCCESS) {
            return Err(Failure::msg(format!(
                "benchmark boot {n} ended with {exit:?}"
            )));
        }
        println!(
            "\nPage-fault cost, file and swap throughput on seL4 under QEMU ({}; rdtsc cycles, \
             medians; MB/s = 10^6 bytes per second){}",
            if o.kvm { "KVM" } else { "TCG" },
            if boots > 1 {
                format!(", boot {n} of {boots}")
            } else {
                String::new()
            }
        );
        print!("{}", table(&results));
        all.push(results);
    }
    if boots > 1 {
        println!(
            "\nOver {boots} boots: the median ratio of each row, and its smallest and largest"
        );
        print!("{}", summary(&all));
    }
    // The last boot's latency distributions.
    crate::policies::report_files(plots::fault_latency(&ws.target.join("bench"), &hists));
    Ok(true)
}

/// Warns when the benchmark floors' code no longer sits on the root
/// task's first text page as `root-task/hot-text.ld` places it (a function
/// renamed since falls out of the fragment): the floors would then move
/// with unrelated root-task code again (docs/performance.md, "The floors'
/// own code, the recent client, and what swap waits for").
/// `root_task` is the image the benchmark boots.
fn check_floor_text(ws: &Workspace, root_task: &std::path::Path) {
    use crate::hot_text::{fragment_misplaced, nm, FLOOR_FRAGMENT};
    let (Ok(fragment), Ok(nm)) = (
        std::fs::read_to_string(ws.root.join(FLOOR_FRAGMENT)),
        nm(root_task),
    ) else {
        progress("bench", format!("warning: cannot check {FLOOR_FRAGMENT}"));
        return;
    };
    for problem in fragment_misplaced(&fragment, &nm, sel4_link::DEFAULT_BASE) {
        progress("bench", format!("warning: {FLOOR_FRAGMENT}: {problem}"));
    }
}

/// Per row of [`table`], the median of its ratio over `boots` (each a
/// boot's results), with the smallest and largest: how far one boot's
/// number can be trusted. Rows missing in a boot leave that boot out.
pub fn summary(boots: &[BTreeMap<String, u64>]) -> String {
    let mut out = format!(
        "{:<28} {:<26} {:>6} {:>8} {:>8} {:>8}\n",
        "row", "against", "boots", "median", "min", "max"
    );
    for (name, base) in FLOOR_OF.iter().chain(RAW_OF) {
        let mut ratios: Vec<f64> = boots
            .iter()
            .filter_map(|r| ratio_of(&with_derived(r), name, base).map(|(ratio, _)| ratio))
            .collect();
        if ratios.is_empty() {
            out.push_str(&format!("{name:<28} {base:<26} {:>6}\n", "missing"));
            continue;
        }
        ratios.sort_by(f64::total_cmp);
        let n = ratios.len();
        let median = if n % 2 == 1 {
            ratios[n / 2]
        } else {
            (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
        };
        out.push_str(&format!(
            "{name:<28} {base:<26} {n:>6} {median:>8.2} {:>8.2} {:>8.2}\n",
            ratios[0],
            ratios[n - 1]
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_fill_rows_show_where_their_frames_were_zeroed() {
        let mut r = BTreeMap::new();
        for line in [
            "bench-fault: BENCH-ZERO vm-fault-zero-fill 576 0",
            "BENCH-ZERO vm-fault-zero-fill-busy 3 573",
            "BENCH-ZERO vm-fault-cow x 1",
        ] {
            collect(&mut r, line);
        }
        assert_eq!(r.get("vm-fault-zero-fill#zeroed-ahead"), Some(&576));
        assert_eq!(r.get("vm-fault-zero-fill-busy#zeroed-in-fault"), Some(&573));
        assert!(!r.contains_key("vm-fault-cow#zeroed-ahead"));
        let t = zero_section(&r);
        let row: Vec<&str> = t
            .lines()
            .find(|l| l.starts_with("vm-fault-zero-fill-busy"))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(row, ["vm-fault-zero-fill-busy", "3", "573"]);
    }

    #[test]
    fn summary_takes_the_median_ratio_over_boots() {
        let boot = |fault: u64, floor: u64| {
            let mut r = BTreeMap::new();
            r.insert("vm-fault-zero-fill".to_string(), fault);
            r.insert("floor-fault-map-reply".to_string(), floor);
            r
        };
        let boots = [boot(150, 100), boot(300, 100), boot(120, 100)];
        let s = summary(&boots);
        let row: Vec<&str> = s
            .lines()
            .find(|l| l.starts_with("vm-fault-zero-fill"))
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(
            row,
            [
                "vm-fault-zero-fill",
                "floor-fault-map-reply",
                "3",
                "1.50",
                "1.20",
                "3.00"
            ]
        );
        // An even count averages the middle two; a row no boot has says so.
        let s = summary(&boots[..2]);
        assert!(s.contains("2.25"), "{s}");
        assert!(s
            .lines()
            .any(|l| l.starts_with("vm-fault-cow") && l.contains("missing")));
    }

    /// The results `run` collects from these console lines.
    fn results_of(lines: &[&str]) -> BTreeMap<String, u64> {
        let mut r = BTreeMap::new();
        for line in lines {
            collect(&mut r, line);
        }
        r
    }

    #[test]
    fn interleaved_rounds_give_the_ratio_and_its_spread() {
        let mut r = results_of(&[
            "BENCH floor-fault-map-reply 40000 cycles",
            "BENCH vm-fault-zero-fill 60000 cycles (median of 9 rounds of 64)",
            "BENCH-ROUNDS vm-fault-zero-fill floor-fault-map-reply 9 1380 1310 1520",
        ]);
        assert_eq!(parse_rounds("BENCH-ROUNDS x y 9 1 2"), Vec::new());
        r.extend(parse_calls(
            "  | BENCH-CALLS vm-fault-zero-fill 1152 576 5850000 585",
        ));
        assert_eq!(parse_calls("BENCH-CALLS x 1"), Vec::new());
        let t = table(&r);
        let row = t
            .lines()
            .find(|l| l.starts_with("vm-fault-zero-fill"))
            .unwrap();
        // The rounds' median (1.38), not 60000 / 40000.
        assert!(row.contains(" 1.38  1.31..1.52 (9 rounds)"), "{row}");
        let calls = t
            .lines()
            .skip_while(|l| !l.starts_with("kernel calls"))
            .find(|l| l.starts_with("vm-fault-zero-fill"))
            .unwrap();
        assert!(
            calls.contains(" 2.00 ") && calls.ends_with(" 10000"),
            "{calls}"
        );
        let s = summary(&[r.clone(), r]);
        assert!(s
            .lines()
            .any(|l| l.starts_with("vm-fault-zero-fill") && l.contains("1.38")));
    }

    /// The swap rows' rounds (bench-fault's swap phase) carry the median
    /// of the floor rounds measured beside them; the table shows it, not
    /// block-test's early measurement, and the page-in row's derived floor
    /// gives way to it too.
    #[test]
    fn rounds_with_a_paired_floor_show_that_floor() {
        let r = results_of(&[
            "BENCH blk-raw-write-mbps 400 MB/s (32 MiB in 80 ms, 64 KiB requests)",
            "BENCH vm-swap-out-mbps 100 MB/s (50 MiB in 500 ms over 4 rounds)",
            "BENCH-ROUNDS vm-swap-out-mbps blk-raw-write-mbps 4 310 250 330 320",
            "BENCH floor-fault-map-reply 40000 cycles",
            "BENCH blk-read-4k 20000 cycles (median of 64 reads of 4 KiB, one at a time)",
            "BENCH vm-fault-pagein 90000 cycles (median of 200 faults)",
            "BENCH-ROUNDS vm-fault-pagein floor-fault+blk-read-4k 9 1500 1400 1700 61000",
        ]);
        assert_eq!(r["vm-swap-out-mbps@blk-raw-write-mbps#floor"], 320);
        assert_eq!(parse_rounds("BENCH-ROUNDS x y 9 1 2 3 4 5"), Vec::new());
        let t = table(&r);
        let row = |name: &str, base: &str| {
            t.lines()
                .find(|l| l.starts_with(name) && l.contains(base))
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            row("vm-swap-out-mbps", "blk-raw-write-mbps")[..5],
            [
                "vm-swap-out-mbps",
                "100",
                "blk-raw-write-mbps",
                "320",
                "0.31"
            ]
        );
        assert_eq!(
            row("vm-fault-pagein", "floor-fault+blk-read-4k")[..5],
            [
                "vm-fault-pagein",
                "90000",
                "floor-fault+blk-read-4k",
                "61000",
                "1.50"
            ]
        );
        // Against the fault floor alone there are no rounds: the plain ratio.
        assert_eq!(
            row("vm-fault-pagein", "floor-fault-map-reply")[..5],
            [
                "vm-fault-pagein",
                "90000",
                "floor-fault-map-reply",
                "40000",
                "2.25"
            ]
        );
    }

    #[test]
    fn fault_around_rows_compare_with_advice_random() {
        let mut r = BTreeMap::new();
        for line in [
            "BENCH-AROUND random 2048 2048 204800000",
            "BENCH-AROUND normal 2048 256 51200000",
            "BENCH-AROUND sequential 2048 128",
        ] {
            r.extend(parse_around(line));
        }
        let t = table(&r);
        let row = |a: &str| {
            t.lines()
                .find(|l| l.starts_with(&format!("advice {a}")))
                .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>())
        };
        assert_eq!(
            row("random").unwrap(),
            ["2048", "2048", "1.0", "100000", "1.00"]
        );
        assert_eq!(
            row("normal").unwrap(),
            ["2048", "256", "8.0", "25000", "0.25"]
        );
        assert!(row("sequential").is_none(), "a short line is no row");
    }

    #[test]
    fn large_page_rows_set_on_beside_off() {
        let mut r = BTreeMap::new();
        for line in [
            "BENCH-LARGE on 64 touch 32 1000000 500",
            "BENCH-LARGE off 64 touch 16384 8000000 4000",
            "BENCH-LARGE on 64 random 0 100000",
        ] {
            r.extend(parse_large(line));
        }
        let t = table(&r);
        let row = t
            .lines()
            .find(|l| l.starts_with("first touch, 64 MiB"))
            .map(|l| l.split_whitespace().skip(4).collect::<Vec<_>>());
        assert_eq!(row.unwrap(), ["32", "16384", "0.5", "4.0", "0.12"]);
        assert!(!t.contains("random pass"), "a short line is no row");
    }

    #[test]
    fn histogram_lines_parse() {
        assert_eq!(
            parse_hist("  | BENCH-HIST vm-fault-cow 63945 98304:3 114688:500 262144:1"),
            Some(Histogram {
                name: "vm-fault-cow".into(),
                floor: 63945,
                buckets: vec![(98304, 3), (114688, 500), (262144, 1)],
            })
        );
        assert_eq!(
            parse_hist("BENCH-HIST vm-request-ping 0").map(|h| h.buckets),
            Some(Vec::new())
        );
        assert_eq!(parse_hist("BENCH-HIST x 1 2:"), None);
        assert_eq!(parse_hist("BENCH-HIST x"), None);
        assert_eq!(parse_line("BENCH-HIST x 1 2:3"), None);
    }

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

    #[test]
    fn table_shows_swap_throughput_against_raw_and_pagein_against_floor() {
        let mut r = BTreeMap::new();
        for line in [
            "BENCH floor-fault-map-reply 40000 cycles",
            "BENCH blk-raw-write-mbps 400 MB/s (32 MiB in 80 ms, 64 KiB requests)",
            "BENCH blk-raw-read-mbps 500 MB/s (32 MiB in 64 ms, 64 KiB requests)",
            "BENCH vm-swap-out-mbps 100 MB/s (48 MiB in 480 ms; 12288 pages out, 0 in)",
            "BENCH vm-swap-in-mbps 250 MB/s (48 MiB in 192 ms; 0 pages out, 12288 in)",
            "BENCH vm-fault-pagein 120000 cycles (median of 256 reads 128 KiB apart)",
            "BENCH blk-read-4k 20000 cycles (median of 64 reads of 4 KiB, one at a time)",
        ] {
            let (name, v) = parse_line(line).expect("a BENCH line");
            r.insert(name, v);
        }
        let t = table(&r);
        let row = |name: &str| {
            t.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("no {name} row in\n{t}"))
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            row("vm-swap-out-mbps"),
            [
                "vm-swap-out-mbps",
                "100",
                "blk-raw-write-mbps",
                "400",
                "0.25"
            ]
        );
        assert_eq!(
            row("vm-swap-in-mbps"),
            ["vm-swap-in-mbps", "250", "blk-raw-read-mbps", "500", "0.50"]
        );
        assert_eq!(
            row("vm-fault-pagein"),
            [
                "vm-fault-pagein",
                "120000",
                "floor-fault-map-reply",
                "40000",
                "3.00"
            ]
        );
        // And against the fault floor plus one 4 KiB read: 120000 / 60000.
        assert!(t.lines().any(|l| l.starts_with("vm-fault-pagein")
            && l.contains("floor-fault+blk-read-4k")
            && l.contains(" 60000 ")
            && l.ends_with("2.00")));
        assert!(t
            .lines()
            .any(|l| l.starts_with("throughput") && l.contains("raw MB/s")));
        // Without the raw numbers the swap rows say so instead of a ratio.
        r.remove("blk-raw-read-mbps");
        assert!(table(&r)
            .lines()
            .any(|l| l.starts_with("vm-swap-in-mbps") && l.contains("missing")));
    }

    #[test]
    fn table_shows_each_swap_pass_against_its_kernel_bound() {
        let r = results_of(&[
            "BENCH blk-raw-write-mbps 400 MB/s (32 MiB in 80 ms, 64 KiB requests)",
            "BENCH vm-swap-out-mbps 100 MB/s (48 MiB in 480 ms; 12288 pages out, 0 in)",
            "BENCH-ROUNDS vm-swap-out-mbps blk-raw-write-mbps 4 260 240 280 410",
            "BENCH vm-swap-out-bound-mbps 300 MB/s (4 KiB per Page_Map and Page_Unmap: 35000 cycles the pair)",
            "BENCH-ROUNDS vm-swap-out-bound-mbps blk-raw-write-mbps 4 740 700 760 410",
            "BENCH-ROUNDS vm-swap-out-mbps vm-swap-out-bound-mbps 4 350 330 370 298",
        ]);
        let t = table(&r);
        let rows: Vec<&str> = t.lines().filter(|l| l.starts_with("vm-swap-out")).collect();
        assert_eq!(rows.len(), 3, "{t}");
        // The pass and the bound each against the raw rounds beside them,
        // then the pass against the bound.
        assert!(rows[0].contains("blk-raw-write-mbps") && rows[0].contains("0.26  0.24..0.28"));
        assert!(
            rows[1].starts_with("vm-swap-out-bound-mbps") && rows[1].contains("0.74  0.70..0.76")
        );
        assert!(rows[2].contains(" vm-swap-out-bound-mbps ") && rows[2].contains(" 298 "));
        assert!(rows[2].contains("0.35  0.33..0.37"));
        // The summary over boots has the three rows too.
        let s = summary(&[r.clone(), r]);
        assert_eq!(
            s.lines().filter(|l| l.starts_with("vm-swap-out")).count(),
            3
        );
    }

    #[test]
    fn table_shows_file_rows_against_cached_fault_file_read_and_raw() {
        let mut r = BTreeMap::new();
        for line in [
            "BENCH floor-fault-map-reply 64925 cycles",
            "BENCH blk-raw-read-mbps 228 MB/s (32 MiB in 140 ms, 64 KiB requests)",
            "BENCH vm-file-map-read-mbps 9 MB/s (median of 5 rounds, 8..10: 4096 KiB mapped and read in order after msync(INVALIDATE), TSC 2400 MHz)",
            "BENCH file-read-mbps 12 MB/s (median of 5 rounds, 11..13: the same bytes through the file server's read, 952 bytes a call)",
            "BENCH vm-file-fault-pagein 1612492 cycles (median of 320 read faults, each paging in one page of the file through the pager)",
            "BENCH vm-file-fault-cached 93174 cycles (median of 320 read faults on the same pages, cached and unmapped)",
        ] {
            let (name, v) = parse_line(line).expect("a BENCH line");
            r.insert(name, v);
        }
        let t = table(&r);
        let rows = |name: &str| -> Vec<Vec<String>> {
            t.lines()
                .filter(|l| l.starts_with(name))
                .map(|l| l.split_whitespace().map(str::to_string).collect())
                .collect()
        };
        assert_eq!(
            rows("vm-file-fault-cached"),
            [[
                "vm-file-fault-cached",
                "93174",
                "floor-fault-map-reply",
                "64925",
                "1.44"
            ]]
        );
        assert_eq!(
            rows("vm-file-fault-pagein"),
            [[
                "vm-file-fault-pagein",
                "1612492",
                "vm-file-fault-cached",
                "93174",
                "17.31"
            ]]
        );
        // The mapped read twice: against the file server's read, then the
        // raw disk, both in the throughput table.
        assert_eq!(
            rows("vm-file-map-read-mbps"),
            [
                ["vm-file-map-read-mbps", "9", "file-read-mbps", "12", "0.75"],
                [
                    "vm-file-map-read-mbps",
                    "9",
                    "blk-raw-read-mbps",
                    "228",
                    "0.04"
                ]
            ]
        );
        let throughput = t.find("throughput").expect("a throughput table");
        assert!(t[throughput..].contains("file-read-mbps"));
        // Without the file phase its rows say so.
        r.remove("vm-file-fault-cached");
        let t = table(&r);
        for name in ["vm-file-fault-cached", "vm-file-fault-pagein"] {
            assert!(t
                .lines()
                .any(|l| l.starts_with(name) && l.contains("missing")));
        }
    }
}
