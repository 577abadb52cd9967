//! `cargo qemu`: builds the seL4 kernel and the system image, boots it in
//! QEMU, and runs the tests.
//!
//! ```text
//! cargo qemu build                 kernel + images
//! cargo qemu run [--kvm]           build, then boot with the console here
//! cargo qemu test [--host-only | --system-only] [--no-sweep] [--timeout SECS]
//!                                  host tests, a bounded model-seed sweep
//!                                  (`sweep::BOUNDED`), then system tests in
//!                                  QEMU (one boot per entry of `TEST_BOOTS`);
//!                                  ends with `N passed, N failed`
//! cargo qemu bench                 boots capdl/bench.spec and prints the
//!                                  fault costs as ratios to the floors,
//!                                  file page-in costs, and mapped-file and
//!                                  swap MB/s as ratios to the raw disk's;
//!                                  plots the fault latencies (target/bench/)
//! cargo qemu bench --policies      boots capdl/policies.spec once per
//!                                  replacement policy; a table per workload
//!                                  (page-ins, page-outs, time vs CLOCK) and
//!                                  plots (target/bench/)
//! cargo qemu trace [--spec FILE] [--out FILE] [--policy NAME] [--replay FILE]
//!                                  boots with the VM server's live trace on
//!                                  (default capdl/policies.spec), writes the
//!                                  trace file (target/trace.vmt), replays it
//!                                  through every policy and pool size with OPT
//!                                  and sets the live page-ins beside the
//!                                  replay's (`trace`)
//! cargo qemu sweep [--seeds A..B] [--ops N] [--pressure | --plain | --both]
//!                  [--jobs J] [--suite NAME]...
//!                                  runs the VM core's model test once per
//!                                  seed (default 1..=1000, both modes, 20,000
//!                                  ops), J processes at a time, and reduces
//!                                  each failing seed to its first divergence
//!                                  (see `sweep`); ends with `N passed, N failed`
//! ```
//!
//! Every boot attaches a swap disk (`--swap SIZE`, default 512M) as a
//! virtio block device; a spec that runs the file server also gets the
//! files disk (`files`), an ext2 image made afresh from `files/`, which
//! `test` checks on the host after the boot. `--spec FILE` boots another spec under `capdl/`
//! (for `run` and `test`). `cargo qemu <command> --help` describes every
//! option (the command line is in `cli`).

mod bench;
mod cli;
mod data_pages;
mod devices;
mod disk;
mod files;
mod fpu_free;
mod gdb;
mod growth;
mod hang;
mod hot_text;
mod images;
mod kernel;
mod machine;
mod plots;
mod policies;
mod prereq;
mod report;
mod step;
mod swap_profile;
mod sweep;
mod trace;

use clap::Parser;
use cli::Cmd;
use machine::{BootOptions, Exit};
use report::Tally;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;
use step::{describe, progress, Failure, Result};

/// Where things are.
pub struct Workspace {
    pub root: PathBuf,
    pub target: PathBuf,
    pub cargo: PathBuf,
}

impl Workspace {
    fn locate() -> Workspace {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let cargo = std::env::var_os("CARGO")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("cargo"));
        Workspace {
            root,
            target,
            cargo,
        }
    }
}

/// The options of a command, from the command line (`cli`).
pub struct Options {
    pub kvm: bool,
    host_only: bool,
    system_only: bool,
    /// Skip the bounded model sweep in `test`.
    no_sweep: bool,
    /// `test` also boots the chosen spec under every other policy.
    every_policy: bool,
    pub timeout: Duration,
    pub memory_mib: u32,
    /// Size of the swap partition on the virtio disk (`None`: the boot's default).
    pub swap_bytes: Option<u64>,
    /// The one spec to boot instead of the defaults.
    spec: Option<String>,
    /// The replacement policy every boot's pagers run (`--policy`).
    pub policy: Option<String>,
}

fn main() -> ExitCode {
    let ws = Workspace::locate();
    let result = match cli::Cli::parse().command {
        Cmd::Build(m) => {
            let o = m.options();
            build(&ws, &o.chosen(), &o).map(|_| true)
        }
        Cmd::Bench(b) if b.policies => policies::run(&ws, &b.machine.options()),
        Cmd::Bench(b) if b.hot_text => hot_text::run(&ws, &b.machine.options()),
        Cmd::Bench(b) if b.data_pages => data_pages::run(&ws, &b.machine.options()),
        Cmd::Bench(b) => bench::run(&ws, &b.machine.options(), b.boots),
        Cmd::Run(r) => run(&ws, &r.machine.options(), r.gdb.then_some(r.gdb_port)),
        Cmd::Test(t) => test(&ws, &t.options()),
        Cmd::Sweep(s) => sweep_command(&ws, &s.plan()),
        Cmd::Trace(t) => trace::command(&ws, &t),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(f) => {
            eprint!("{f}");
            ExitCode::FAILURE
        }
    }
}

/// The spec `run` boots.
const SYSTEM_SPEC: &str = "system.spec";
/// The swap partition's size unless `--swap` or the boot says otherwise.
const DEFAULT_SWAP: u64 = 512 << 20;

/// A spec under `capdl/` and the swap partition it boots with.
#[derive(Clone, Debug)]
pub struct Boot {
    pub spec: String,
    pub swap_bytes: u64,
    /// The policy its pagers run instead of the spec's `pageout_policy`.
    pub policy: Option<String>,
    /// Its pagers record a live trace into a ring of this many records
    /// (`cargo qemu trace`), whatever the spec's `trace_ring` says.
    pub trace_ring: Option<u32>,
}

/// What `cargo qemu test` boots, in order: the whole system, then swap
/// exhaustion on its own disk (a small partition fills in seconds, and
/// an OOM kill would otherwise race the other system tests), the
/// findings of the outside test suite, the file server with its files
/// disk, the file server's death, and the policy workloads (under the
/// default policy: their content checks).
pub(crate) const TEST_BOOTS: &[(&str, u64)] = &[
    (SYSTEM_SPEC, DEFAULT_SWAP),
    ("swap-exhaustion.spec", 96 << 20),
    ("vm-findings.spec", 128 << 20),
    ("files.spec", 128 << 20),
    ("pager-death.spec", 128 << 20),
    (crate::policies::SPEC, 128 << 20),
    ("large-pages.spec", 256 << 20),
];

impl Options {
    /// The boot of `spec`: with its swap size (`swap_of`) unless
    /// `--swap` chose one.
    fn boot_of(&self, spec: &str) -> Boot {
        Boot {
            spec: spec.to_string(),
            swap_bytes: self.swap_bytes.unwrap_or_else(|| swap_of(spec)),
            policy: self.policy.clone(),
            trace_ring: None,
        }
    }

    /// What `build` and `run` boot: the `--spec` one, else the system.
    fn chosen(&self) -> Boot {
        self.boot_of(self.spec.as_deref().unwrap_or(SYSTEM_SPEC))
    }

    /// The test boots: `TEST_BOOTS`, or the one `--spec` names; with
    /// `--every-policy`, then the chosen spec once under each policy
    /// other than the default.
    fn test_boots(&self) -> Vec<Boot> {
        let mut boots = match &self.spec {
            Some(_) => vec![self.chosen()],
            None => TEST_BOOTS.iter().map(|&(s, _)| self.boot_of(s)).collect(),
        };
        if self.every_policy {
            for &(name, _) in &vm_swap::POLICIES[1..] {
                boots.push(Boot {
                    policy: Some(name.into()),
                    ..self.chosen()
                });
            }
        }
        boots
    }
}

/// The swap size `spec` boots with: its `TEST_BOOTS` entry's, else the default.
fn swap_of(spec: &str) -> u64 {
    TEST_BOOTS
        .iter()
        .find(|&&(s, _)| s == spec)
        .map_or(DEFAULT_SWAP, |&(_, b)| b)
}

/// Everything a boot needs: prerequisites, kernel, images for the boot's
/// spec, its swap disk, and the machine options.
pub fn build(ws: &Workspace, boot: &Boot, o: &Options) -> Result<BootOptions> {
    prereq::ensure()?;
    prereq::ensure_disk_space(&ws.target)?;
    let kernel = kernel::build(ws)?;
    let root_task = images::build(ws, boot)?;
    progress("image", format!("{}", root_task.display()));
    let disk = disk::ensure(ws, boot.swap_bytes)?;
    let mut extra = disk.qemu_args();
    let (spec, _) = images::load_spec(ws, boot)?;
    let files_disk = if spec
        .components
        .iter()
        .any(|c| c.image == files::FILE_SERVER_IMAGE)
    {
        let f = files::ensure(ws, &images::file_programs(ws, &spec))?;
        extra.extend(f.qemu_args());
        Some(f)
    } else {
        None
    };
    // Device regions QEMU provides (docs/devices.md): ivshmem-plain.
    let devices = devices::prepare(ws, &boot.spec, &spec)?;
    for d in &devices {
        extra.extend(d.qemu_args());
    }
    let hang = Some(hang::Probe::new(ws, &spec, &root_task));
    Ok(BootOptions {
        kernel: kernel.elf32,
        root_task,
        memory_mib: o.memory_mib,
        kvm: o.kvm,
        extra,
        files_disk,
        devices,
        hang,
    })
}

fn run(ws: &Workspace, o: &Options, gdb_port: Option<u16>) -> Result<bool> {
    let chosen = o.chosen();
    let mut boot = build(ws, &chosen, o)?;
    if let Some(port) = gdb_port {
        boot.extra
            .extend(["-gdb".into(), format!("tcp::{port}"), "-S".into()]);
        let (spec, _) = images::load_spec(ws, &chosen)?;
        println!("{}", gdb::attach_line(ws, &spec, &boot.root_task, port));
    }
    let exit = machine::run_interactive(&boot)?;
    progress("exit", format!("{exit:?}"));
    Ok(exit == Exit::Guest(machine::GUEST_SUCCESS))
}

fn test(ws: &Workspace, o: &Options) -> Result<bool> {
    // The kernel source must be prepared before the sel4 crate (a host-test
    // crate too) can generate its bindings: the first image is built first.
    let boots = o.test_boots();
    let mut first = Some(build(ws, &boots[0], o)?);
    let (mut passed, mut failed) = (0, 0);
    if !o.system_only {
        let (p, f) = host_tests(ws)?;
        passed += p;
        failed += f;
        if !o.no_sweep {
            let (p, f) = bounded_sweep(ws);
            passed += p;
            failed += f;
        }
    }
    if !o.host_only {
        for boot in &boots {
            let machine = match first.take() {
                Some(m) => m,
                None => build(ws, boot, o)?,
            };
            let label = match &boot.policy {
                Some(p) => format!("{} under policy {p}", boot.spec),
                None => boot.spec.clone(),
            };
            let mut tally = system_tests(&label, &machine, o.timeout)?;
            if let Some(disk) = &machine.files_disk {
                files::check(ws, disk, &boot.spec, &mut tally);
            }
            devices::check(&machine.devices, &mut tally);
            passed += tally.passed();
            failed += tally.failed();
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

/// `cargo qemu sweep`: the whole sweep, then the total.
fn sweep_command(ws: &Workspace, plan: &sweep::Plan) -> Result<bool> {
    let tally = sweep::run(ws, plan)?;
    println!("{} passed, {} failed", tally.passed(), tally.failed());
    Ok(tally.failed() == 0)
}

/// The bounded model sweep of `cargo qemu test` (`sweep::BOUNDED`): one
/// test per seed; a test binary that does not build is one failure.
fn bounded_sweep(ws: &Workspace) -> (usize, usize) {
    progress(
        "test",
        "bounded model sweep (cargo qemu sweep, sweep::BOUNDED)",
    );
    match sweep::run(ws, &sweep::Plan::bounded()) {
        Ok(tally) => (tally.passed(), tally.failed()),
        Err(f) => {
            eprint!("{f}");
            println!("test sweep::build ... FAILED: {}", f.what);
            (0, 1)
        }
    }
}

/// `cargo test` over the workspace's host-testable crates; returns the sums
/// of its `test result:` lines (a build failure counts as one failure).
fn host_tests(ws: &Workspace) -> Result<(usize, usize)> {
    progress("test", "host tests (cargo test --workspace)");
    let mut cmd = Command::new(&ws.cargo);
    cmd.current_dir(&ws.root)
        .args(["test", "--workspace", "--no-fail-fast"]);
    for p in images::sel4_only(ws)? {
        cmd.args(["--exclude", &p]);
    }
    cmd.env("SEL4_KERNEL_DIR", ws.target.join("sel4-kernel"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| Failure {
        what: format!("cannot start cargo test: {e}"),
        command: Some(describe(&cmd)),
        output: String::new(),
    })?;
    let (mut passed, mut failed) = (0, 0);
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(|l| l.ok())
    {
        println!("{line}");
        if let Some((p, f)) = report::cargo_test_counts(&line) {
            passed += p;
            failed += f;
        }
    }
    let status = child
        .wait()
        .map_err(|e| Failure::msg(format!("cargo test: {e}")))?;
    if !status.success() && failed == 0 {
        println!("test host::cargo-test ... FAILED ({status}; see the output above)");
        failed += 1;
    }
    progress("test", format!("host: {passed} passed, {failed} failed"));
    Ok((passed, failed))
}

/// Boots `spec` once and tallies the outcomes its programs print.
fn system_tests(spec: &str, boot: &BootOptions, timeout: Duration) -> Result<Tally> {
    progress(
        "test",
        format!(
            "system tests of capdl/{spec} in QEMU (timeout {}s)",
            timeout.as_secs()
        ),
    );
    let mut tally = Tally::default();
    let exit = machine::run_captured(boot, timeout, |line| {
        println!("  | {line}");
        if let Some(o) = tally.observe(line) {
            if o.passed {
                println!("test system::{} ... ok", o.name);
            } else {
                println!("test system::{} ... FAILED: {}", o.name, o.detail);
            }
        }
        true
    })?;
    match exit {
        Exit::Guest(machine::GUEST_SUCCESS) if tally.planned > 0 => {}
        Exit::Guest(machine::GUEST_SUCCESS) => tally.fail(
            "no-tests",
            "the system exited successfully without planning any test",
        ),
        Exit::Guest(machine::GUEST_FAILURE) => {
            tally.fail("exit-status", "the root task reported a failure")
        }
        Exit::Guest(code) => tally.fail(
            "exit-status",
            format!("exit code {code:#x} is not the root task's (did QEMU fail to start?)"),
        ),
        Exit::Qemu(code) => tally.fail(
            "exit-status",
            format!("QEMU exited with status {code} without a guest exit code"),
        ),
        Exit::Timeout => tally.fail("timeout", format!("no exit within {}s", timeout.as_secs())),
    }
    for o in tally
        .outcomes
        .iter()
        .filter(|o| matches!(o.name.as_str(), "exit-status" | "timeout" | "no-tests"))
    {
        println!("test system::{} ... FAILED: {}", o.name, o.detail);
    }
    if tally.missing() > 0 {
        println!(
            "test system::unreported ... FAILED: {} planned tests never reported",
            tally.missing()
        );
    }
    progress(
        "test",
        format!(
            "system: {} passed, {} failed",
            tally.passed(),
            tally.failed()
        ),
    );
    Ok(tally)
}
