//! Progress lines and external commands: every step prints one line, and a
//! failing command is reported with its command line and output, never as a
//! Rust panic.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// A failed step: what was being done, and the command and output that failed.
#[derive(Debug)]
pub struct Failure {
    pub what: String,
    pub command: Option<String>,
    pub output: String,
}

impl Failure {
    /// A failure that is not about a command (bad arguments, missing tool, ...).
    pub fn msg(what: impl Into<String>) -> Self {
        Failure {
            what: what.into(),
            command: None,
            output: String::new(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.what)?;
        if let Some(cmd) = &self.command {
            writeln!(f, "  command: {cmd}")?;
        }
        if !self.output.is_empty() {
            // The end of the output is where compilers and make say what broke.
            let lines: Vec<&str> = self.output.lines().collect();
            let start = lines.len().saturating_sub(60);
            if start > 0 {
                writeln!(f, "  ... ({start} earlier lines of output omitted)")?;
            }
            for line in &lines[start..] {
                writeln!(f, "  | {line}")?;
            }
        }
        Ok(())
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// Prints a progress line for the step about to run.
pub fn progress(step: &str, detail: impl fmt::Display) {
    println!("[cargo qemu] {step:<8} {detail}");
    let _ = std::io::stdout().flush();
}

/// Renders a command line for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = String::new();
    if let Some(dir) = cmd.get_current_dir() {
        s.push_str(&format!("(cd {} && ", dir.display()));
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.contains(' ') {
            s.push_str(&format!("'{a}'"));
        } else {
            s.push_str(&a);
        }
    }
    if cmd.get_current_dir().is_some() {
        s.push(')');
    }
    s
}

/// Runs a command capturing its output; on failure reports both streams.
pub fn run_captured(what: &str, cmd: &mut Command) -> Result<String> {
    run_output(what, cmd).map(|(stdout, stderr)| stdout + &stderr)
}

/// Like `run_captured`, but returns only standard output (for commands
/// whose output is data, such as `cargo metadata`).
pub fn run_stdout(what: &str, cmd: &mut Command) -> Result<String> {
    run_output(what, cmd).map(|(stdout, _)| stdout)
}

/// The standard output of binutils' `tool` run with `args` on `elf`.
pub fn binutils(tool: &str, args: &[&str], elf: &std::path::Path) -> Result<String> {
    run_stdout(
        &format!("{tool} (binutils) on {}", elf.display()),
        Command::new(tool).args(args).arg(elf),
    )
}

fn run_output(what: &str, cmd: &mut Command) -> Result<(String, String)> {
    let started = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| Failure {
        what: format!(
            "{what}: cannot start {}: {e}",
            cmd.get_program().to_string_lossy()
        ),
        command: Some(describe(cmd)),
        output: String::new(),
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(Failure {
            what: format!(
                "{what} failed ({}) after {:.1}s",
                out.status,
                started.elapsed().as_secs_f64()
            ),
            command: Some(describe(cmd)),
            output: stdout + &stderr,
        });
    }
    Ok((stdout, stderr))
}

/// Runs a command with its output going straight to the terminal.
pub fn run_streaming(what: &str, cmd: &mut Command) -> Result<()> {
    let status = cmd.status().map_err(|e| Failure {
        what: format!(
            "{what}: cannot start {}: {e}",
            cmd.get_program().to_string_lossy()
        ),
        command: Some(describe(cmd)),
        output: String::new(),
    })?;
    streamed_status(what, cmd, status)
}

/// [`run_streaming`], but the command's standard error is passed on line
/// by line only where `keep` says so (standard output as is).
pub fn run_filtering_stderr(
    what: &str,
    cmd: &mut Command,
    mut keep: impl FnMut(&str) -> bool,
) -> Result<()> {
    use std::io::BufRead;
    let failure = |e: std::io::Error, cmd: &Command| Failure {
        what: format!("{what}: {}: {e}", cmd.get_program().to_string_lossy()),
        command: Some(describe(cmd)),
        output: String::new(),
    };
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failure(e, cmd))?;
    if let Some(stderr) = child.stderr.take() {
        // By bytes, so a line that is not UTF-8 cannot stop the reading
        // (and lose the rest of the output, an error's among it).
        for line in std::io::BufReader::new(stderr).split(b'\n') {
            let Ok(bytes) = line else { break };
            let line = String::from_utf8_lossy(&bytes);
            if keep(&line) {
                eprintln!("{line}");
            }
        }
    }
    let status = child.wait().map_err(|e| failure(e, cmd))?;
    streamed_status(what, cmd, status)
}

/// A streamed command's exit: a failure points at the output it already
/// printed.
fn streamed_status(what: &str, cmd: &Command, status: std::process::ExitStatus) -> Result<()> {
    if !status.success() {
        return Err(Failure {
            what: format!("{what} failed ({status}); its output is above"),
            command: Some(describe(cmd)),
            output: String::new(),
        });
    }
    Ok(())
}

/// Whether `program` is found on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(program))))
        .unwrap_or(false)
}

/// Where `program` is: on PATH, else in `/usr/sbin` or `/sbin` (where
/// Debian puts e2fsprogs, and which a user's PATH often leaves out).
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
