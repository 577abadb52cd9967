//! `cargo qemu bench --policies`: boots `capdl/policies.spec` once per
//! replacement policy (`vm_swap::POLICIES`), collects the workloads'
//! `BENCH-WORKLOAD` and `BENCH-PROGRESS` lines (clients/workloads), and
//! prints a table per workload: page-ins, page-outs and run time relative
//! to the default policy (CLOCK). Then it draws page-ins over time per
//! policy (from the boots) and a miss-ratio curve per workload: page-ins
//! against pool size, from the host replay (`vm_swap::trace::replay`) of
//! a synthetic trace shaped like each workload ([`workload_traces`]).

use crate::machine::{self, BootOptions, Exit};
use crate::plots::{self, Panel, Series};
use crate::step::{progress, Result};
use crate::{Options, Workspace};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vm_swap::trace::{self, TraceOp};
use vm_swap::PageKey;

/// The spec the policy comparison boots.
pub const SPEC: &str = "policies.spec";

/// The workloads in the order the client runs them.
pub const WORKLOADS: &[&str] = &["scan", "loop", "zipf", "hot-scan", "fork-mix"];

/// The policy the run times are divided by: the default, CLOCK.
const BASELINE: &str = vm_swap::POLICIES[0].0;

/// The pool the miss-ratio curves assume when no boot reported one
/// (about what `policies.spec`'s 8M gives).
const DEFAULT_POOL: u64 = 1400;

/// What one workload counted in one boot (`BENCH-WORKLOAD`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkloadResult {
    pub pageins: u64,
    pub pageouts: u64,
    pub cycles: u64,
}

/// What one boot under one policy printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyRun {
    pub policy: String,
    /// The VM server's pool in frames (`BENCH workload-pool-frames`).
    pub pool: Option<u64>,
    pub workloads: BTreeMap<String, WorkloadResult>,
    /// Per workload: (cycles since its start, page-ins since its start).
    pub progress: BTreeMap<String, Vec<(u64, u64)>>,
    /// Why the boot did not end well, if it did not.
    pub failure: Option<String>,
}

impl PolicyRun {
    pub fn new(policy: &str) -> PolicyRun {
        PolicyRun {
            policy: policy.to_string(),
            ..PolicyRun::default()
        }
    }

    /// Takes in one console line.
    pub fn observe(&mut self, line: &str) {
        if let Some((name, r)) = parse_workload(line) {
            self.workloads.insert(name, r);
        } else if let Some((name, cycles, pageins)) = parse_progress(line) {
            self.progress
                .entry(name)
                .or_default()
                .push((cycles, pageins));
        } else if let Some(("workload-pool-frames", n)) = crate::bench::parse_line(line)
            .as_ref()
            .map(|(k, v)| (k.as_str(), *v))
        {
            self.pool = Some(n);
        }
    }
}

/// Parses `BENCH-WORKLOAD <name> <pageins> <pageouts> <cycles>`.
pub fn parse_workload(line: &str) -> Option<(String, WorkloadResult)> {
    let w = crate::bench::fields(line, "BENCH-WORKLOAD")?;
    let num = |i: usize| w.get(i).and_then(|n| n.parse::<u64>().ok());
    Some((
        w.first()?.to_string(),
        WorkloadResult {
            pageins: num(1)?,
            pageouts: num(2)?,
            cycles: num(3)?,
        },
    ))
}

/// Parses `BENCH-PROGRESS <name> <cycles> <pageins>`.
pub fn parse_progress(line: &str) -> Option<(String, u64, u64)> {
    let w = crate::bench::fields(line, "BENCH-PROGRESS")?;
    let num = |i: usize| w.get(i).and_then(|n| n.parse::<u64>().ok());
    Some((w.first()?.to_string(), num(1)?, num(2)?))
}

/// The tables: per workload, a row per policy with its page-ins,
/// page-outs, cycles and run time divided by [`BASELINE`]'s.
pub fn table(runs: &[PolicyRun]) -> String {
    let mut out = String::new();
    for workload in WORKLOADS {
        let base = runs
            .iter()
            .find(|r| r.policy == BASELINE)
            .and_then(|r| r.workloads.get(*workload))
            .map(|r| r.cycles);
        out.push_str(&format!(
            "{:<28} {:>10} {:>10} {:>14} {:>14}\n",
            format!("{workload}"),
            "page-ins",
            "page-outs",
            "cycles",
            format!("time vs {BASELINE}")
        ));
        for run in runs {
            let label = format!("  {}", run.policy);
            match run.workloads.get(*workload) {
                Some(r) => {
                    let vs = match base {
                        Some(b) if b > 0 => format!("{:.2}", r.cycles as f64 / b as f64),
                        _ => "-".to_string(),
                    };
                    out.push_str(&format!(
                        "{label:<28} {:>10} {:>10} {:>14} {vs:>14}\n",
                        r.pageins, r.pageouts, r.cycles
                    ));
                }
                None => out.push_str(&format!("{label:<28} {:>10}\n", "missing")),
            }
        }
        out.push('\n');
    }
    out
}

/// The machine that boots the workloads with every pager running `policy`.
fn boot_under(ws: &Workspace, o: &Options, policy: &str) -> Result<BootOptions> {
    let boot = crate::Boot {
        policy: Some(policy.to_string()),
        ..o.boot_of(SPEC)
    };
    crate::build(ws, &boot, o)
}

/// Boots the workloads once per policy, prints the tables and writes the
/// pictures under `target/bench/`. Fails if any boot failed.
pub fn run(ws: &Workspace, o: &Options) -> Result<bool> {
    let mut runs = Vec::new();
    let n = vm_swap::POLICIES.len();
    for (i, (policy, _)) in vm_swap::POLICIES.iter().enumerate() {
        let boot = boot_under(ws, o, policy)?;
        progress(
            "bench",
            format!(
                "booting capdl/{SPEC} under policy {policy} ({} of {n})",
                i + 1
            ),
        );
        let mut run = PolicyRun::new(policy);
        let exit = machine::run_captured(&boot, o.timeout, |line| {
            println!("  | {line}");
            run.observe(line);
            true
        })?;
        if exit != Exit::Guest(machine::GUEST_SUCCESS) {
            run.failure = Some(format!("the boot ended with {exit:?}"));
        }
        runs.push(run);
    }
    println!(
        "\nThe workloads under each replacement policy (capdl/{SPEC}, pool of {} frames; QEMU {}; \
         page-ins and page-outs in pages, run time in rdtsc cycles)",
        runs.iter()
            .find_map(|r| r.pool)
            .map_or("?".to_string(), |p| p.to_string()),
        if o.kvm { "KVM" } else { "TCG" }
    );
    print!("{}", table(&runs));
    let pool = runs.iter().find_map(|r| r.pool).unwrap_or(DEFAULT_POOL);
    report_files(write_plots(&ws.target.join("bench"), &runs, pool, 24));
    let mut ok = true;
    for r in runs.iter().filter(|r| r.failure.is_some()) {
        println!(
            "policy {}: {}",
            r.policy,
            r.failure.as_deref().unwrap_or("")
        );
        ok = false;
    }
    Ok(ok)
}

/// Says where the pictures went (or why they did not).
pub fn report_files(files: std::result::Result<Vec<PathBuf>, String>) {
    match files {
        Ok(files) => {
            for f in files {
                progress("plot", format!("{}", f.display()));
            }
        }
        Err(e) => println!("plot failed: {e}"),
    }
}

/// Per workload, page-ins over time: a line per policy, time in
/// millions of cycles since the workload started.
pub fn over_time_panels(runs: &[PolicyRun]) -> Vec<Panel> {
    WORKLOADS
        .iter()
        .map(|w| Panel {
            title: format!("{w}: page-ins over time"),
            x_label: "million cycles since the workload started".into(),
            y_label: "pages read from swap".into(),
            series: runs
                .iter()
                .filter_map(|r| {
                    let points = r.progress.get(*w)?;
                    Some(Series {
                        label: r.policy.clone(),
                        points: points
                            .iter()
                            .map(|&(c, p)| (c as f64 / 1e6, p as f64))
                            .collect(),
                    })
                })
                .collect(),
            marker: None,
        })
        .collect()
}

/// Synthetic traces shaped like the workloads of clients/workloads for a
/// pool of `pool` frames: the same regions, passes and proportions (the
/// fork mix through `trace::fork_heavy`, whose copy-on-write model is
/// the replay's own).
pub fn workload_traces(pool: u64) -> Vec<(&'static str, Vec<TraceOp>)> {
    let write_pass = |pages: u64| trace::sequential(pages, 1, true);
    let scan = [write_pass(2 * pool), trace::sequential(2 * pool, 2, false)].concat();
    let loop_pages = pool * 5 / 4;
    let looping = [
        write_pass(loop_pages),
        trace::looping(loop_pages, 4 * loop_pages as usize, false),
    ]
    .concat();
    let zipf = [
        write_pass(2 * pool),
        trace::zipf(2 * pool, 6 * pool as usize, 1.0, 30, 16),
    ]
    .concat();
    let (hot, chunk) = (pool / 2, pool / 2);
    let mut hot_scan = write_pass(hot);
    for round in 0..6 {
        for _ in 0..2 {
            hot_scan.extend((0..hot).map(|p| TraceOp::Read(PageKey(p))));
        }
        let first = hot + round * chunk;
        hot_scan.extend((first..first + chunk).map(|p| TraceOp::Write(PageKey(p))));
    }
    let fork_pages = pool * 3 / 4;
    let fork_mix = trace::fork_heavy(fork_pages, 4, (fork_pages * 3 / 2) as usize, 16);
    vec![
        ("scan", scan),
        ("loop", looping),
        ("zipf", zipf),
        ("hot-scan", hot_scan),
        ("fork-mix", fork_mix),
    ]
}

/// Per workload, page-ins against the number of frames: every policy of
/// `vm_swap::POLICIES` replayed over `steps` pool sizes from an eighth of
/// `pool` to three times it; the live pool marked.
pub fn miss_ratio_panels(pool: u64, steps: u64) -> Vec<Panel> {
    let sizes: Vec<u32> = (1..=steps)
        .map(|i| (pool / 8 + (3 * pool - pool / 8) * i / steps).max(1) as u32)
        .collect();
    workload_traces(pool)
        .into_iter()
        .map(|(name, t)| {
            let mut series: Vec<Series> = vm_swap::POLICIES
                .iter()
                .map(|(policy, make)| Series {
                    label: policy.to_string(),
                    points: sizes
                        .iter()
                        .map(|&frames| {
                            let r = trace::replay(&t, make(frames).as_mut(), frames);
                            (f64::from(frames), r.page_ins as f64)
                        })
                        .collect(),
                })
                .collect();
            // Belady's MIN: the floor no policy can go below.
            series.push(Series {
                label: "OPT (MIN)".into(),
                points: sizes
                    .iter()
                    .map(|&frames| {
                        let o = vm_swap::opt::opt(&t, frames);
                        (f64::from(frames), o.page_ins as f64)
                    })
                    .collect(),
            });
            Panel {
                title: format!("{name}: miss-ratio curve (host replay)"),
                x_label: "frames".into(),
                y_label: "page-ins".into(),
                series,
                marker: Some((pool as f64, format!("the live pool ({pool})"))),
            }
        })
        .collect()
}

/// Writes the policy pictures under `dir`: page-ins over time from
/// `runs`, and the miss-ratio curves of a `pool`-frame pool over `steps`
/// pool sizes; returns the files.
pub fn write_plots(
    dir: &Path,
    runs: &[PolicyRun],
    pool: u64,
    steps: u64,
) -> std::result::Result<Vec<PathBuf>, String> {
    let mut files = plots::line_panels(dir, "pageins-over-time", &over_time_panels(runs))?;
    files.extend(plots::line_panels(
        dir,
        "miss-ratio",
        &miss_ratio_panels(pool, steps),
    )?);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_and_progress_lines_parse() {
        assert_eq!(
            parse_workload("  | BENCH-WORKLOAD loop 7000 1750 123456789"),
            Some((
                "loop".into(),
                WorkloadResult {
                    pageins: 7000,
                    pageouts: 1750,
                    cycles: 123456789
                }
            ))
        );
        assert_eq!(parse_workload("BENCH-WORKLOAD loop 7000 1750"), None);
        assert_eq!(
            parse_progress("BENCH-PROGRESS hot-scan 5000000 12"),
            Some(("hot-scan".into(), 5000000, 12))
        );
        assert_eq!(parse_progress("BENCH-PROGRESS x y z"), None);
        let mut run = PolicyRun::new("clock");
        for line in [
            "BENCH workload-pool-frames 1400 frames",
            "BENCH-PROGRESS scan 0 0",
            "BENCH-PROGRESS scan 100 5",
            "BENCH-WORKLOAD scan 10 20 300",
            "TEST PASS workloads/scan",
        ] {
            run.observe(line);
        }
        assert_eq!(run.pool, Some(1400));
        assert_eq!(run.progress["scan"], [(0, 0), (100, 5)]);
        assert_eq!(run.workloads["scan"].pageouts, 20);
    }

    #[test]
    fn table_divides_run_time_by_clocks() {
        let run = |policy: &str, cycles: u64| {
            let mut r = PolicyRun::new(policy);
            r.observe(&format!("BENCH-WORKLOAD loop 100 50 {cycles}"));
            r
        };
        let t = table(&[run(BASELINE, 1000), run("fifo", 1500)]);
        let rows: Vec<Vec<&str>> = t
            .lines()
            .skip_while(|l| !l.starts_with("loop"))
            .skip(1)
            .take(2)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(rows[0], [BASELINE, "100", "50", "1000", "1.00"]);
        assert_eq!(rows[1], ["fifo", "100", "50", "1500", "1.50"]);
        assert!(t
            .lines()
            .skip_while(|l| !l.starts_with("zipf"))
            .nth(1)
            .is_some_and(|l| l.contains("missing")));
    }

    #[test]
    fn traces_mirror_the_workloads_and_a_bigger_pool_reads_in_less() {
        let traces = workload_traces(64);
        assert_eq!(
            traces.iter().map(|t| t.0).collect::<Vec<_>>(),
            WORKLOADS.to_vec()
        );
        let panels = miss_ratio_panels(64, 4);
        assert_eq!(panels.len(), WORKLOADS.len());
        for p in &panels {
            // Every policy, then OPT, which no policy beats.
            assert_eq!(p.series.len(), vm_swap::POLICIES.len() + 1);
            let opt = &p.series[p.series.len() - 1];
            assert_eq!(opt.label, "OPT (MIN)");
            for s in &p.series {
                for (o, v) in opt.points.iter().zip(&s.points) {
                    assert!(o.1 <= v.1, "{}: {} below OPT", p.title, s.label);
                }
                // More frames never read in more here, and three pools
                // hold the scan and the loop whole.
                let (first, last) = (s.points[0].1, s.points[s.points.len() - 1].1);
                assert!(last <= first, "{}: {:?}", p.title, s.points);
                if p.title.starts_with("scan") || p.title.starts_with("loop") {
                    assert_eq!(last, 0.0, "{}", p.title);
                }
            }
        }
    }

    #[test]
    fn policy_plots_write_files() {
        let dir = std::env::temp_dir().join(format!("qemu-policies-{}", std::process::id()));
        let mut run = PolicyRun::new(BASELINE);
        for line in ["BENCH-PROGRESS zipf 0 0", "BENCH-PROGRESS zipf 1000000 40"] {
            run.observe(line);
        }
        assert_eq!(write_plots(&dir, &[run], 32, 3).unwrap().len(), 4);
        for stem in ["pageins-over-time", "miss-ratio"] {
            for ext in ["svg", "png"] {
                let f = dir.join(format!("{stem}.{ext}"));
                assert!(
                    std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0) > 1000,
                    "{f:?}"
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
