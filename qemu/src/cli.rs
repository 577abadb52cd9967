//! The command line (clap): one subcommand per action, every option
//! described in `cargo qemu <command> --help`.

use crate::sweep;
use crate::{disk, Options};
use clap::{Args, Parser, Subcommand};
use std::ops::RangeInclusive;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "cargo qemu",
    bin_name = "cargo qemu",
    about = "Builds the seL4 kernel and the system image, boots it in QEMU, and runs the tests",
    after_help = "Every boot attaches a swap disk (target/swap-disk-<size>K.img); a spec \
                  running the file server also gets target/files-disk.img, made from files/. \
                  `cargo qemu <command> --help` describes each command's options.",
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Build the kernel, the images for the spec and its swap disk (no boot)
    Build(Machine),
    /// Build, then boot the spec with the console here (quit QEMU: Ctrl-A X)
    Run(RunArgs),
    /// Host tests, a bounded sweep (model seeds, server simulation), then the system tests in QEMU;
    /// ends with `N passed, N failed`
    #[command(
        long_about = "Runs the host tests (cargo test over the host-testable crates), then a \
                      bounded sweep of the VM core's model test and the server simulation (see \
                      `cargo qemu sweep`), then boots capdl/system.spec, \
                      capdl/swap-exhaustion.spec, capdl/vm-findings.spec, capdl/files.spec, \
                      capdl/pager-death.spec, capdl/policies.spec and capdl/large-pages.spec (or the one \
                      --spec names) and tallies the TEST \
                      lines; after a boot with the file server it checks the files disk on the \
                      host (e2fsck, the written bytes). Ends \
                      with `N passed, N failed` and exits non-zero if anything failed."
    )]
    Test(TestArgs),
    /// Boot capdl/bench.spec; print fault costs, file page-in costs and
    /// mapped-file and swap throughput as ratios to the floors, the file
    /// server's read and the raw disk measured in the same boot
    Bench(BenchArgs),
    /// Run the model test over a range of seeds, one process per seed, and
    /// reduce each failing seed to its first divergence
    #[command(
        long_about = "Runs each seed of each chosen suite as its own process (the release test \
                      binary, built first), J at a time, with a progress line every few \
                      seconds. A failing seed is printed at once; after the sweep each failure \
                      is rerun with the suite's reduction environment (the model's: \
                      VM_MODEL_PEEK=1 VM_MODEL_TRACE=60) to find its first divergence, and reported with the operations leading to it and the \
                      command that reproduces it. Ends with `N passed, N failed` (one per seed \
                      and suite) and exits non-zero if anything failed.\n\n\
                      Every chosen suite runs the same seeds: the in-tree suite uses seeds \
                      from 1000 for pressure, the sweep does not offset them.",
        after_help = "Suites are the table SUITES in qemu/src/sweep.rs: model is the model \
                      test (VM_MODEL_SEED, VM_MODEL_OPS), model-pressure the same with \
                      VM_MODEL_PRESSURE=1 (a 40-frame pool and a faulty swap device).\n\
                      Example: cargo qemu sweep --seeds 1..=200 --pressure --jobs 2"
    )]
    Sweep(SweepArgs),
    /// Boot with the VM server's live trace on, write the trace file, and
    /// replay it through every policy and pool size with OPT
    #[command(
        long_about = "Builds the spec (default capdl/policies.spec, the workloads client) with \
                      every pager recording a live trace (`trace_ring`), boots it, collects the \
                      VM server's TRACE lines (faults, reference faults, page-ins, page-outs, \
                      frees, base64 records) and writes them as a trace file in the format of \
                      docs/policies.md (default target/trace.vmt). Then replays the trace through \
                      every replacement policy at a range of pool sizes including the live one, \
                      each with Belady's OPT, prints the table, and sets the page-ins the live \
                      server counted beside the replay's for the live policy and pool. With \
                      --replay FILE, only the replay of a trace recorded earlier (no boot).",
        after_help = "Example: cargo qemu trace --policy clock-pro --out target/clock-pro.vmt\n\
                      cargo qemu trace --replay target/clock-pro.vmt --pools 500,1000,1433"
    )]
    Trace(TraceArgs),
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    #[command(flatten)]
    pub machine: Machine,
    /// Where to write the trace file [default: target/trace.vmt]
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Records the VM server's ring holds between drains
    #[arg(long, value_name = "N", default_value_t = 16384,
          value_parser = clap::value_parser!(u32).range(1..=(1 << 18)))]
    pub ring: u32,
    /// Replay this trace file (recorded earlier) instead of booting
    #[arg(long, value_name = "FILE", conflicts_with_all = ["out", "policy", "spec"])]
    pub replay: Option<std::path::PathBuf>,
    /// Pool sizes to replay at, comma-separated [default: eight sizes from
    /// an eighth to twice the live pool, and the live pool]
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    pub pools: Vec<u32>,
}

/// What every boot takes (some commands ignore some of it).
#[derive(Args, Debug)]
pub struct Machine {
    /// Ask QEMU for KVM acceleration instead of TCG
    #[arg(long)]
    pub kvm: bool,
    /// The guest's RAM in MiB
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub memory: u32,
    /// Size of the swap partition on the virtio disk, such as 256M or 1G
    /// [default: the boot's own: 512M, 96M for swap-exhaustion.spec, 128M for vm-findings.spec,
    /// 128M for files.spec, pager-death.spec and policies.spec, 256M for large-pages.spec]
    #[arg(long, value_name = "SIZE", value_parser = parse_swap)]
    pub swap: Option<u64>,
    /// Boot only this spec, a file under capdl/ (build, run, test; bench
    /// always boots bench.spec)
    #[arg(long, value_name = "FILE")]
    pub spec: Option<String>,
    /// Run this page-replacement policy in every pager, whatever the
    /// spec's `pageout_policy` says
    #[arg(long, value_name = "NAME", value_parser = policy_names())]
    pub policy: Option<String>,
    /// Seconds a boot may run before it counts as timed out (test, bench)
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub machine: Machine,
    /// Start QEMU's gdb stub and wait for gdb before the first instruction;
    /// prints the gdb command line that attaches with the symbols of the
    /// kernel and every component
    #[arg(long)]
    pub gdb: bool,
    /// The TCP port of the gdb stub
    #[arg(long, value_name = "PORT", default_value_t = 1234, requires = "gdb")]
    pub gdb_port: u16,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub machine: Machine,
    /// Boot the benchmark this many times and report, per row, the median
    /// ratio over the boots with its smallest and largest
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=50))]
    pub boots: u32,
    /// Instead: boot capdl/policies.spec once per replacement policy and
    /// print, per workload, page-ins, page-outs and run time relative to
    /// CLOCK; plots under target/bench/
    #[arg(long, conflicts_with = "boots")]
    pub policies: bool,
    /// Instead: trace the VM server's code over bench-fault's request and
    /// fault rounds (QEMU's `-d exec`) and write the functions the most
    /// messages run to vm-server/server/hot-text.ld, which its link places
    /// first
    #[arg(long, conflicts_with_all = ["boots", "policies"])]
    pub hot_text: bool,
    /// Instead: count the distinct data pages the VM server touches per
    /// message over the same rounds (a QEMU plugin, qemu/data-pages), by
    /// kind, with the pages most messages touch and what is on them; and
    /// the instructions, blocks and code pages each message runs, with
    /// its instructions by function; then, in two more boots, the server's
    /// instructions, kernel invocations and messages per page of the
    /// timed swap-out and swap-in passes, with the instructions by
    /// function
    #[arg(long, conflicts_with_all = ["boots", "policies", "hot_text"])]
    pub data_pages: bool,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    #[command(flatten)]
    pub machine: Machine,
    /// Only the host tests and the bounded sweep; no QEMU boot
    #[arg(long, conflicts_with = "system_only")]
    pub host_only: bool,
    /// Only the system tests in QEMU; no host tests, no sweep
    #[arg(long)]
    pub system_only: bool,
    /// Skip the bounded model-seed sweep
    #[arg(long)]
    pub no_sweep: bool,
    /// Also boot the system spec (or the --spec one) once under every
    /// other page-replacement policy (about a minute each)
    #[arg(long, conflicts_with_all = ["host_only", "policy"])]
    pub every_policy: bool,
}

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Seeds to run in every chosen suite: A..B (B excluded), A..=B, or N
    #[arg(long, value_name = "RANGE", default_value = "1..=1000", value_parser = sweep::parse_seeds)]
    pub seeds: RangeInclusive<u64>,
    /// Operations per seed (the suite's length variable: VM_MODEL_OPS)
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub ops: u64,
    /// Only the model under memory pressure (suite model-pressure)
    #[arg(long, group = "mode")]
    pub pressure: bool,
    /// Only the plain model (suite model)
    #[arg(long, group = "mode")]
    pub plain: bool,
    /// Both model suites
    #[arg(long, group = "mode")]
    pub both: bool,
    /// Runs at a time [default: the number of cores]
    #[arg(long, short = 'j', value_name = "J", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Sweep this suite (repeatable; with --plain/--pressure/--both, their
    /// union) [default: every suite in the workspace]
    #[arg(long = "suite", value_name = "NAME", value_parser = suite_names())]
    pub suites: Vec<String>,
    /// How many failing seeds to rerun for their first divergence
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub reduce: usize,
    /// Seconds one seed may run before it counts as failed
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub seed_timeout: u64,
}

fn parse_swap(s: &str) -> Result<u64, String> {
    disk::parse_size(s).ok_or_else(|| format!("{s:?} is not a size such as 256M"))
}

fn policy_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(vm_swap::POLICIES.iter().map(|p| p.0))
}

fn suite_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(sweep::SUITES.iter().map(|s| s.name))
}

impl Machine {
    /// The options of a boot command (`test` adds its own).
    pub fn options(&self) -> Options {
        Options {
            kvm: self.kvm,
            host_only: false,
            system_only: false,
            no_sweep: false,
            every_policy: false,
            timeout: Duration::from_secs(self.timeout),
            memory_mib: self.memory,
            swap_bytes: self.swap,
            spec: self.spec.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl TestArgs {
    pub fn options(&self) -> Options {
        Options {
            host_only: self.host_only,
            system_only: self.system_only,
            no_sweep: self.no_sweep,
            every_policy: self.every_policy,
            ..self.machine.options()
        }
    }
}

impl SweepArgs {
    /// The suites chosen: `--suite`s and the mode shorthands, else all.
    fn suites(&self) -> Vec<String> {
        let mut names = self.suites.clone();
        if self.plain || self.both {
            names.push(sweep::PLAIN.into());
        }
        if self.pressure || self.both {
            names.push(sweep::PRESSURE.into());
        }
        if names.is_empty() {
            names = sweep::SUITES.iter().map(|s| s.name.to_string()).collect();
        }
        let mut seen = Vec::new();
        names.retain(|n| {
            let new = !seen.contains(n);
            seen.push(n.clone());
            new
        });
        names
    }

    pub fn plan(&self) -> sweep::Plan {
        sweep::Plan {
            suites: self
                .suites()
                .into_iter()
                .map(|n| (n, self.seeds.clone()))
                .collect(),
            len: self.ops,
            jobs: self.jobs.map_or_else(sweep::default_jobs, |j| j as usize),
            reduce: self.reduce,
            seed_timeout: Duration::from_secs(self.seed_timeout),
            list_passes: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cargo-qemu").chain(args.split_whitespace()))
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn test_help_names_every_boot_and_its_swap() {
        let mut cmd = Cli::command();
        let test = cmd.find_subcommand_mut("test").expect("test command");
        let help = test.render_long_help().to_string().replace('\n', " ");
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for &(spec, swap) in crate::TEST_BOOTS {
            assert!(
                help.contains(&format!("capdl/{spec}")),
                "{spec} missing: {help}"
            );
            let size = format!("{}M", swap >> 20);
            assert!(help.contains(&size), "{spec}'s {size} swap missing");
        }
    }

    #[test]
    fn old_command_lines_still_parse() {
        let Cmd::Test(t) = parse("test --host-only --timeout 60 --spec bench.spec")
            .unwrap()
            .command
        else {
            panic!("not test")
        };
        let o = t.options();
        assert!(o.host_only && !o.system_only && !o.no_sweep);
        assert_eq!(
            (o.timeout.as_secs(), o.spec.as_deref()),
            (60, Some("bench.spec"))
        );
        let Cmd::Run(r) = parse("run --kvm --memory 1024 --swap 256M")
            .unwrap()
            .command
        else {
            panic!("not run")
        };
        assert!(!r.gdb);
        let o = r.machine.options();
        assert!(o.kvm);
        let Cmd::Run(r) = parse("run --gdb --gdb-port 4321").unwrap().command else {
            panic!("not run")
        };
        assert!(r.gdb && r.gdb_port == 4321);
        assert!(
            parse("run --gdb-port 4321").is_err(),
            "the port needs --gdb"
        );
        assert_eq!((o.memory_mib, o.swap_bytes), (1024, Some(256 << 20)));
        for ok in [
            "build",
            "bench --kvm",
            "bench --boots 3",
            "bench --policies",
            "test --system-only",
            "test --no-sweep",
        ] {
            parse(ok).unwrap();
        }
        for bad in [
            "test --host-only --system-only",
            "run --swap lots",
            "bench --boots 0",
            "bench --policies --boots 2",
            "frobnicate",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sweep_options_choose_suites_and_seeds() {
        let Cmd::Sweep(s) = parse("sweep").unwrap().command else {
            panic!("not sweep")
        };
        let p = s.plan();
        assert_eq!(p.len, 20_000);
        assert_eq!(p.suites.len(), sweep::SUITES.len());
        assert!(p.suites.iter().all(|(_, r)| *r == (1..=1000)));
        let Cmd::Sweep(s) = parse("sweep --seeds 5..9 --pressure -j 3 --ops 100")
            .unwrap()
            .command
        else {
            panic!("not sweep")
        };
        let p = s.plan();
        assert_eq!(p.suites, [(sweep::PRESSURE.to_string(), 5..=8)]);
        assert_eq!((p.jobs, p.len), (3, 100));
        assert!(parse("sweep --plain --pressure").is_err());
        assert!(parse("sweep --suite nonesuch").is_err());
        assert!(parse("sweep --jobs 0").is_err());
    }
}
