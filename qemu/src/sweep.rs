//! `cargo qemu sweep`: runs randomized host tests over a range of seeds,
//! one process per seed and several at a time, and reduces every failing
//! seed to its first divergence.
//!
//! What can be swept is the table [`SUITES`]. A suite is one `#[test]`
//! function that runs the single seed its environment names (the VM
//! core's model test: `VM_MODEL_SEED`, `VM_MODEL_OPS`), built once with
//! `cargo test --release -p PACKAGE --test TARGET --no-run` and then run
//! directly as `<test binary> FN --exact --nocapture` with the seed's
//! environment. A run passes when it exits 0 having run one test (a test
//! function that is not there runs none, and that is a failure). Adding
//! a suite is one entry; a suite whose package or test target is not in
//! the workspace (yet) is skipped with a note.
//!
//! A failing seed is printed at once (`test sweep::<suite>/seed-<n> ...
//! FAILED: <message>`). After the sweep the first failures are rerun with
//! the suite's reduction environment (for the model: `VM_MODEL_PEEK=1`,
//! which compares every resident page with the model after every step,
//! and `VM_MODEL_TRACE=60`). The failing step of the rerun is the first
//! divergence; it is earlier than the sweep run's when the VM went wrong
//! some steps before a check noticed. Each report ends with the commands
//! that reproduce the seed.
//!
//! Environment: the runs inherit this process's environment (so
//! `VM_MODEL_SWEEP` and the like pass through) except every variable a
//! suite sets, which only the suite's own entry sets.
//!
//! `cargo qemu test` runs a bounded sweep ([`Plan::bounded`], from
//! [`BOUNDED`] and [`BOUNDED_LEN`]) after the host tests; each seed counts
//! as one test.

use crate::images;
use crate::report::Tally;
use crate::step::{describe, progress, run_stdout, Failure, Result};
use crate::Workspace;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A randomized test that runs one seed per process.
pub struct Suite {
    /// What `--suite` calls it; its runs are `sweep::<name>/seed-<n>`.
    pub name: &'static str,
    /// The cargo package and its test target (`-p PACKAGE --test TARGET`).
    pub package: &'static str,
    pub target: &'static str,
    /// The `#[test]` function that runs the one seed.
    pub test_fn: &'static str,
    /// The variables that choose the seed and the run's length.
    pub seed_env: &'static str,
    pub len_env: &'static str,
    /// More environment for every run of this suite.
    pub extra_env: &'static [(&'static str, &'static str)],
    /// Added for the rerun that reduces a failure to its first divergence
    /// (empty: failures are reported without a rerun).
    pub reduce_env: &'static [(&'static str, &'static str)],
    /// Its package depends on the `sel4` crate, whose build script reads
    /// the prepared kernel source (vm-api's seL4 transport).
    pub needs_kernel: bool,
}

/// The model test's reduction: compare resident pages after every step
/// (the first step where VM and model differ), keep 60 operations.
const MODEL_REDUCE: &[(&str, &str)] = &[("VM_MODEL_PEEK", "1"), ("VM_MODEL_TRACE", "60")];

/// Everything `cargo qemu sweep` can sweep. A suite whose package or test
/// target is not in the workspace is skipped with a note.
pub const SUITES: &[Suite] = &[
    Suite {
        name: PLAIN,
        package: "vm-core",
        target: "model",
        test_fn: "model_random_sequences",
        seed_env: "VM_MODEL_SEED",
        len_env: "VM_MODEL_OPS",
        extra_env: &[],
        reduce_env: MODEL_REDUCE,
        needs_kernel: false,
    },
    Suite {
        name: PRESSURE,
        package: "vm-core",
        target: "model",
        test_fn: "model_random_sequences",
        seed_env: "VM_MODEL_SEED",
        len_env: "VM_MODEL_OPS",
        extra_env: &[("VM_MODEL_PRESSURE", "1")],
        reduce_env: MODEL_REDUCE,
        needs_kernel: false,
    },
    // The server's decisions (vm-service) under the host simulation; its
    // length is simulation steps.
    Suite {
        name: SERVER_SIM,
        package: "vm-service",
        target: "server_sim",
        test_fn: "server_sim_random",
        seed_env: "VM_SIM_SEED",
        len_env: "VM_SIM_STEPS",
        extra_env: &[],
        reduce_env: &[],
        needs_kernel: true,
    },
];

/// The model suites `--plain` and `--pressure` stand for (`--both`: the two).
pub const PLAIN: &str = "model";
pub const PRESSURE: &str = "model-pressure";
/// The simulation of the server's own logic.
pub const SERVER_SIM: &str = "server-sim";

/// The bounded sweep of `cargo qemu test`: (suite, first seed, last seed),
/// each seed [`BOUNDED_LEN`] long. Pressure seeds start at 1000 as in the
/// in-tree suite. Measured on the 2-core machine with other builds
/// running: 30-40 s for the 100 runs, plus building the release test
/// binary (nothing when up to date, 27 s after a vm-core change, 77 s
/// in an empty target directory).
pub const BOUNDED: &[(&str, u64, u64)] =
    &[(PLAIN, 1, 50), (PRESSURE, 1001, 1050), (SERVER_SIM, 1, 50)];
pub const BOUNDED_LEN: u64 = 20_000;

/// What one sweep runs.
pub struct Plan {
    /// Each suite (by name) with its seeds.
    pub suites: Vec<(String, RangeInclusive<u64>)>,
    /// The length of every run (the suite's `len_env`).
    pub len: u64,
    /// Runs at a time.
    pub jobs: usize,
    /// How many failures to rerun for their first divergence.
    pub reduce: usize,
    /// How long one run may take before it counts as failed.
    pub seed_timeout: Duration,
    /// Print `test sweep::... ok` for passing seeds too (not only failures).
    pub list_passes: bool,
}

impl Plan {
    /// The bounded sweep `cargo qemu test` runs.
    pub fn bounded() -> Plan {
        Plan {
            suites: BOUNDED
                .iter()
                .map(|&(s, a, b)| (s.to_string(), a..=b))
                .collect(),
            len: BOUNDED_LEN,
            jobs: default_jobs(),
            reduce: 10,
            seed_timeout: Duration::from_secs(600),
            list_passes: true,
        }
    }
}

/// Runs at a time unless `--jobs` says: one per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Parses `A..B` (B excluded), `A..=B` or `N`.
pub fn parse_seeds(s: &str) -> std::result::Result<RangeInclusive<u64>, String> {
    let num = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("{v:?} is not a seed number"))
    };
    let range = if let Some((a, b)) = s.split_once("..=") {
        num(a)?..=num(b)?
    } else if let Some((a, b)) = s.split_once("..") {
        let b = num(b)?;
        num(a)?..=b.checked_sub(1).ok_or("the range A..0 is empty")?
    } else {
        let n = num(s)?;
        n..=n
    };
    if range.is_empty() {
        return Err(format!("the seed range {s} is empty"));
    }
    Ok(range)
}

/// One run of a suite: a seed, how long, and where its binary is.
struct Run<'a> {
    suite: &'a Suite,
    seed: u64,
    len: u64,
    exe: &'a Path,
    dir: &'a Path,
}

impl Run<'_> {
    /// Its name in the tally.
    fn name(&self) -> String {
        format!("sweep::{}/seed-{}", self.suite.name, self.seed)
    }

    /// The environment it runs with (`reduce`: the reduction rerun's).
    fn env(&self, reduce: bool) -> Vec<(&'static str, String)> {
        let s = self.suite;
        let mut env = vec![(s.seed_env, self.seed.to_string())];
        env.push((s.len_env, self.len.to_string()));
        env.extend(s.extra_env.iter().map(|&(k, v)| (k, v.to_string())));
        if reduce {
            env.extend(s.reduce_env.iter().map(|&(k, v)| (k, v.to_string())));
        }
        env
    }

    fn command(&self, reduce: bool) -> Command {
        let mut cmd = Command::new(self.exe);
        cmd.current_dir(self.dir)
            .args([self.suite.test_fn, "--exact", "--nocapture"])
            .args(["--test-threads", "1"]);
        for s in SUITES {
            for k in [s.seed_env, s.len_env]
                .into_iter()
                .chain(s.extra_env.iter().chain(s.reduce_env).map(|&(k, _)| k))
            {
                cmd.env_remove(k);
            }
        }
        cmd.envs(self.env(reduce))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// The command that reproduces it from the workspace root.
    fn repro(&self, reduce: bool) -> String {
        let env: Vec<String> = self
            .env(reduce)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let s = self.suite;
        format!(
            "{} cargo test --release -p {} --test {} {} -- --nocapture",
            env.join(" "),
            s.package,
            s.target,
            s.test_fn
        )
    }

    /// Runs it; never fails (a run that cannot start is a failed seed).
    fn execute(&self, reduce: bool, timeout: Duration) -> Verdict {
        let mut cmd = self.command(reduce);
        match execute(&mut cmd, timeout) {
            Ok(Finished::Exited {
                success,
                status,
                stdout,
                stderr,
            }) => judge(success, &status, &stdout, &stderr, self.suite.test_fn),
            Ok(Finished::TimedOut) => Verdict::failed(
                format!("timed out after {}s (killed)", timeout.as_secs()),
                false,
            ),
            Err(e) => Verdict::failed(format!("cannot run {}: {e}", describe(&cmd)), false),
        }
    }
}

/// How a run ended.
enum Finished {
    Exited {
        success: bool,
        status: String,
        stdout: String,
        stderr: String,
    },
    TimedOut,
}

/// Runs `cmd` (its output piped) for at most `timeout`; kills it after.
fn execute(cmd: &mut Command, timeout: Duration) -> std::io::Result<Finished> {
    let mut child = cmd.spawn()?;
    fn drain(r: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let started = Instant::now();
    let mut nap = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(50));
    };
    // After a kill, a child of the run may still hold the pipes: leave
    // their readers behind rather than wait for them.
    let Some(status) = status else {
        return Ok(Finished::TimedOut);
    };
    Ok(Finished::Exited {
        success: status.success(),
        status: status.to_string(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// What a run showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub passed: bool,
    /// The failure message (the panic's, whole), empty on success.
    pub message: String,
    /// The step it names (`... step T: ...`).
    pub step: Option<u64>,
    /// The operations it lists under `last operations:`.
    pub trace: Vec<String>,
    /// Whether a rerun could say more (not after a timeout, or a run
    /// that ran no test or could not start).
    pub rerun: bool,
}

impl Verdict {
    fn failed(message: String, rerun: bool) -> Verdict {
        let (step, trace) = (step_of(&message), trace_of(&message));
        Verdict {
            passed: false,
            message,
            step,
            trace,
            rerun,
        }
    }

    /// The message's first line.
    pub fn headline(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }
}

/// Judges a finished run from its exit and its output.
pub fn judge(success: bool, status: &str, stdout: &str, stderr: &str, test_fn: &str) -> Verdict {
    let (passed, _) = stdout
        .lines()
        .filter_map(crate::report::cargo_test_counts)
        .fold((0, 0), |(p, f), (a, b)| (p + a, f + b));
    if success && passed > 0 {
        return Verdict {
            passed: true,
            message: String::new(),
            step: None,
            trace: Vec::new(),
            rerun: false,
        };
    }
    if success {
        let m = format!("no test named {test_fn} ran (is the suite's test function right?)");
        return Verdict::failed(m, false);
    }
    let message = if let Some(m) = panic_message(stderr).or_else(|| panic_message(stdout)) {
        m
    } else {
        let all = format!("{stdout}{stderr}");
        let lines: Vec<&str> = all.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n  ");
        format!("exited with {status} without a panic message; its output ended:\n  {tail}")
    };
    Verdict::failed(message, true)
}

/// The message of the first panic in `output`: the lines after
/// `thread '...' panicked at FILE:LINE:COL:` up to the backtrace note.
pub fn panic_message(output: &str) -> Option<String> {
    let mut lines = output.lines().skip_while(|l| !l.contains("panicked at "));
    lines.next()?;
    let body: Vec<&str> = lines
        .take_while(|l| {
            !l.starts_with("note: run with `RUST_BACKTRACE")
                && !l.starts_with("stack backtrace:")
                && !l.starts_with("test result: ")
        })
        .collect();
    let text = body.join("\n").trim_end().to_string();
    (!text.is_empty()).then_some(text)
}

/// `T` of the first `step T` in the message's first line.
fn step_of(message: &str) -> Option<u64> {
    let first = message.lines().next()?;
    first.match_indices("step ").find_map(|(i, _)| {
        let digits: String = first[i + 5..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

/// The operations listed after `last operations:` (up to `(rerun ...`).
fn trace_of(message: &str) -> Vec<String> {
    message
        .lines()
        .skip_while(|l| l.trim() != "last operations:")
        .skip(1)
        .take_while(|l| !l.trim_start().starts_with("(rerun"))
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Runs `work` on every item, `jobs` at a time; `event` gets each result
/// as it comes (`Some((index, result))`), and `None` when `every` passed
/// without one.
fn pool<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    every: Duration,
    work: impl Fn(&T) -> R + Sync,
    mut event: impl FnMut(Option<(usize, R)>),
) {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            let (tx, next, work) = (tx.clone(), &next, &work);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() || tx.send((i, work(&items[i]))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        loop {
            match rx.recv_timeout(every) {
                Ok(done) => event(Some(done)),
                Err(mpsc::RecvTimeoutError::Timeout) => event(None),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
}

/// `1h02m`, `3m05s`, `42s`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// Builds the suites' test binaries (one build per package and target);
/// returns each one's executable.
fn build(
    ws: &Workspace,
    suites: &[&Suite],
) -> Result<BTreeMap<(&'static str, &'static str), PathBuf>> {
    let mut exes = BTreeMap::new();
    crate::prereq::ensure_disk_space(&ws.target)?;
    if suites.iter().any(|s| s.needs_kernel) {
        // A sweep on its own (not inside `cargo qemu test`) may run
        // before anything prepared the kernel source.
        crate::prereq::ensure()?;
        crate::kernel::build(ws)?;
    }
    for s in suites {
        if exes.contains_key(&(s.package, s.target)) {
            continue;
        }
        progress(
            "sweep",
            format!(
                "building {} test {} (cargo test --release --no-run)",
                s.package, s.target
            ),
        );
        let mut cmd = Command::new(&ws.cargo);
        cmd.current_dir(&ws.root)
            .args(["test", "--release", "--no-run", "-p", s.package])
            .args([
                "--test",
                s.target,
                "--message-format=json-render-diagnostics",
            ])
            // As for the host tests: the kernel source is under the
            // target directory, wherever CARGO_TARGET_DIR puts it.
            .env("SEL4_KERNEL_DIR", ws.target.join("sel4-kernel"));
        let out = run_stdout(
            &format!("building {} test {}", s.package, s.target),
            &mut cmd,
        )?;
        let exe = out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|j| j["reason"] == "compiler-artifact" && j["target"]["name"] == s.target)
            .find_map(|j| j["executable"].as_str().map(PathBuf::from))
            .ok_or_else(|| Failure {
                what: format!(
                    "cargo built no executable for {} test {}",
                    s.package, s.target
                ),
                command: Some(describe(&cmd)),
                output: String::new(),
            })?;
        exes.insert((s.package, s.target), exe);
    }
    Ok(exes)
}

/// Runs the sweep; returns one outcome per run (the caller prints the
/// total). Fails only when a test binary cannot be built or nothing is
/// left to run.
pub fn run(ws: &Workspace, plan: &Plan) -> Result<Tally> {
    let chosen = available(ws, plan)?;
    let suites: Vec<&Suite> = chosen.iter().map(|c| c.0).collect();
    let exes = build(ws, &suites)?;

    // Seed by seed across the suites, so every suite makes progress.
    let mut runs = Vec::new();
    let longest = chosen.iter().map(|c| c.1.clone().count()).max();
    for i in 0..longest.unwrap_or(0) as u64 {
        for (suite, seeds, dir) in &chosen {
            let seed = seeds.start() + i;
            if seed <= *seeds.end() {
                runs.push(Run {
                    suite,
                    seed,
                    len: plan.len,
                    exe: &exes[&(suite.package, suite.target)],
                    dir,
                });
            }
        }
    }
    let what: Vec<String> = chosen
        .iter()
        .map(|(s, seeds, _)| format!("{} seeds {}..={}", s.name, seeds.start(), seeds.end()))
        .collect();
    progress(
        "sweep",
        format!(
            "{} runs of {} steps ({}), {} at a time",
            runs.len(),
            plan.len,
            what.join(", "),
            plan.jobs
        ),
    );
    let started = Instant::now();
    let (tally, verdicts) = sweep(&runs, plan);
    reduce(&runs, &verdicts, plan);
    progress(
        "sweep",
        format!(
            "{} passed, {} failed in {}",
            tally.passed(),
            tally.failed(),
            clock(started.elapsed())
        ),
    );
    Ok(tally)
}

/// The plan's suites that are in the workspace, with their seeds and
/// package directories; notes the others.
fn available(
    ws: &Workspace,
    plan: &Plan,
) -> Result<Vec<(&'static Suite, RangeInclusive<u64>, PathBuf)>> {
    let packages = images::workspace_packages(ws)?;
    let mut chosen = Vec::new();
    for (name, seeds) in &plan.suites {
        let suite = SUITES.iter().find(|s| s.name == name).ok_or_else(|| {
            let known: Vec<&str> = SUITES.iter().map(|s| s.name).collect();
            Failure::msg(format!("no suite {name:?} (known: {})", known.join(", ")))
        })?;
        let why = match packages.iter().find(|p| p.name == suite.package) {
            Some(p) if p.tests.iter().any(|t| t == suite.target) => {
                chosen.push((suite, seeds.clone(), p.dir.clone()));
                continue;
            }
            Some(_) => format!(
                "package {} has no test target {}",
                suite.package, suite.target
            ),
            None => format!("package {} is not in the workspace", suite.package),
        };
        progress("sweep", format!("skipping suite {name}: {why} (yet)"));
    }
    if chosen.is_empty() {
        return Err(Failure::msg(
            "nothing to sweep: every chosen suite was skipped",
        ));
    }
    Ok(chosen)
}

/// How often a progress line is printed: every few seconds on a
/// terminal, less often into a log.
fn progress_every() -> Duration {
    if std::io::stdout().is_terminal() {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(10)
    }
}

/// Runs every run, `plan.jobs` at a time, printing failures as they come
/// and a progress line every few seconds.
fn sweep(runs: &[Run], plan: &Plan) -> (Tally, Vec<Option<Verdict>>) {
    let (started, every) = (Instant::now(), progress_every());
    let mut last = Instant::now();
    let mut verdicts: Vec<Option<Verdict>> = vec![None; runs.len()];
    let (mut done, mut failed) = (0usize, 0usize);
    let mut tally = Tally::default();
    let status = |done: usize, failed: usize| {
        let elapsed = started.elapsed();
        let eta = match done {
            0 => "?".to_string(),
            _ => clock(elapsed.mul_f64((runs.len() - done) as f64 / done as f64)),
        };
        format!(
            "{done}/{} runs, {failed} failed, {} elapsed, ETA {eta}",
            runs.len(),
            clock(elapsed)
        )
    };
    pool(
        runs,
        plan.jobs,
        every,
        |r| r.execute(false, plan.seed_timeout),
        |event| {
            if let Some((i, v)) = event {
                done += 1;
                let name = runs[i].name();
                if v.passed {
                    tally.pass(&name);
                    if plan.list_passes {
                        println!("test {name} ... ok");
                    }
                } else {
                    failed += 1;
                    println!("test {name} ... FAILED: {}", v.headline());
                    tally.fail(&name, v.headline());
                }
                verdicts[i] = Some(v);
            }
            if last.elapsed() >= every && done < runs.len() {
                progress("sweep", status(done, failed));
                last = Instant::now();
            }
        },
    );
    progress("sweep", status(done, failed));
    (tally, verdicts)
}

/// Reruns the first `plan.reduce` failures (suite order, then seed) with
/// their suite's reduction environment, and reports every failure.
fn reduce(runs: &[Run], verdicts: &[Option<Verdict>], plan: &Plan) {
    let failed = |i: usize| verdicts[i].as_ref().filter(|v| !v.passed);
    let mut failures: Vec<usize> = (0..runs.len()).filter(|&i| failed(i).is_some()).collect();
    failures.sort_by_key(|&i| (runs[i].suite.name, runs[i].seed));
    let to_reduce: Vec<usize> = failures
        .iter()
        .copied()
        .filter(|&i| !runs[i].suite.reduce_env.is_empty() && failed(i).is_some_and(|v| v.rerun))
        .take(plan.reduce)
        .collect();
    let mut reduced: BTreeMap<usize, Verdict> = BTreeMap::new();
    if !to_reduce.is_empty() {
        progress(
            "reduce",
            format!(
                "rerunning {} failing seed(s) for their first divergence",
                to_reduce.len()
            ),
        );
        pool(
            &to_reduce,
            plan.jobs,
            progress_every(),
            |&i| runs[i].execute(true, plan.seed_timeout),
            |event| {
                if let Some((k, v)) = event {
                    reduced.insert(to_reduce[k], v);
                }
            },
        );
    }
    for &i in &failures {
        let plain = failed(i).expect("a failure");
        print!("{}", failure_report(&runs[i], plain, reduced.get(&i)));
    }
    if failures.len() > to_reduce.len() {
        println!(
            "({} failure(s) not rerun: over --reduce {}, timed out, ran no test, or no reduction for the suite)",
            failures.len() - to_reduce.len(),
            plan.reduce
        );
    }
}

/// The report of one failing run: what failed, where the reduction rerun
/// (if any) first diverged, the operations leading there, and the
/// commands that reproduce it.
fn failure_report(run: &Run, plain: &Verdict, reduced: Option<&Verdict>) -> String {
    let mut out = format!("\n--- {} ({} steps", run.name(), run.len);
    for (k, v) in run.suite.extra_env {
        out += &format!(", {k}={v}");
    }
    out += ")\n";
    let rerun_env: Vec<String> = run
        .suite
        .reduce_env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let rerun_env = rerun_env.join(" ");
    let Some(r) = reduced else {
        out += "failed:\n";
        for l in plain.message.lines() {
            out += &format!("  {l}\n");
        }
        out += &format!("reproduce:\n  {}\n", run.repro(false));
        return out;
    };
    out += &format!("run:   {}\n", plain.headline());
    out += &format!(
        "rerun: {}\n",
        if r.passed { "passed" } else { r.headline() }
    );
    out += &match (plain.step, r.step, r.passed) {
        (Some(p), Some(q), false) if q < p => format!(
            "first divergence: step {q}, found by the rerun with {rerun_env}, {} step(s) before the run failed at step {p}\n",
            p - q
        ),
        (Some(p), Some(q), false) if q == p => format!(
            "first divergence: step {p}, where the run failed (the rerun with {rerun_env} found no earlier difference)\n"
        ),
        (_, _, true) => format!(
            "not reproduced: the rerun with {rerun_env} passed (is the seed deterministic?)\n"
        ),
        (Some(p), Some(q), false) => format!(
            "not reproduced: the rerun with {rerun_env} failed later, at step {q}, than the run (step {p}; is the seed deterministic?)\n"
        ),
        _ => format!("first divergence: unknown (no step named in the messages of the run and the rerun with {rerun_env})\n"),
    };
    let trace = if r.trace.is_empty() {
        &plain.trace
    } else {
        &r.trace
    };
    if !trace.is_empty() {
        let at = r
            .step
            .or(plain.step)
            .map_or(String::new(), |s| format!(" {s}"));
        out += &format!("operations leading to step{at} (oldest first):\n");
        for op in trace {
            out += &format!("  {op}\n");
        }
    }
    out += &format!("reproduce:\n  {}\n", run.repro(false));
    out += &format!("first divergence:\n  {}\n", run.repro(true));
    out
}

#[cfg(test)]
mod tests;
