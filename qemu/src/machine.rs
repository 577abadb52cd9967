//! Running the system image in `qemu-system-x86_64`: the command line, the
//! serial console (streamed, and for tests read line by line with a
//! timeout) and the exit status the guest chose through isa-debug-exit.

use crate::step::{describe, progress, Failure, Result};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// I/O port of QEMU's isa-debug-exit device; the root task writes its exit
/// code there through an IOPort capability.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;
/// The root task's exit codes (`root-task/src/exit.rs`). Success is not 0
/// because QEMU turns code 0 into status 1, the same status it exits with
/// when it cannot start at all.
pub const GUEST_SUCCESS: u32 = 0x2a;
pub const GUEST_FAILURE: u32 = 0x2b;

/// How to boot.
pub struct BootOptions {
    pub kernel: PathBuf,
    pub root_task: PathBuf,
    pub memory_mib: u32,
    pub kvm: bool,
    /// Extra QEMU arguments (e.g. a disk) from the caller.
    pub extra: Vec<String>,
    /// The files disk among them, if the spec runs the file server (its
    /// image is checked on the host after a test boot).
    pub files_disk: Option<crate::files::FilesDisk>,
    /// The ivshmem-plain devices among them (their host files are checked
    /// after a test boot).
    pub devices: Vec<crate::devices::Ivshmem>,
    /// A monitor socket to sample the CPU through if the boot times out
    /// (`crate::hang`).
    pub hang: Option<crate::hang::Probe>,
}

/// How a boot ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// The guest wrote `code` to the debug-exit port ([`GUEST_SUCCESS`] = success).
    Guest(u32),
    /// QEMU exited by itself with this status (not through the debug port).
    Qemu(i32),
    /// Killed after the timeout.
    Timeout,
}

impl Exit {
    /// Decodes QEMU's exit status: isa-debug-exit makes it `(v << 1) | 1`.
    pub fn from_status(code: Option<i32>) -> Exit {
        match code {
            Some(c) if c & 1 == 1 => Exit::Guest((c as u32) >> 1),
            Some(c) => Exit::Qemu(c),
            None => Exit::Qemu(-1),
        }
    }
}

fn command(opts: &BootOptions, interactive: bool) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-machine", "q35", "-cpu", "qemu64", "-m"])
        .arg(format!("{}M", opts.memory_mib))
        .arg("-kernel")
        .arg(&opts.kernel)
        .arg("-initrd")
        .arg(&opts.root_task)
        .args([
            "-device",
            &format!("isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=0x04"),
        ])
        .args(["-no-reboot"]);
    if opts.kvm {
        cmd.args(["-accel", "kvm"]);
    } else {
        cmd.args(["-accel", "tcg"]);
    }
    if interactive {
        cmd.arg("-nographic");
    } else {
        cmd.args(["-display", "none", "-serial", "stdio", "-monitor", "none"]);
    }
    cmd.args(&opts.extra);
    if let (Some(probe), false) = (&opts.hang, interactive) {
        cmd.args(probe.qemu_args());
    }
    cmd
}

/// Boots with the console on this terminal (Ctrl-A X quits QEMU).
pub fn run_interactive(opts: &BootOptions) -> Result<Exit> {
    let mut cmd = command(opts, true);
    progress("boot", describe(&cmd));
    let status = cmd.status().map_err(|e| Failure {
        what: format!("cannot start QEMU: {e}"),
        command: Some(describe(&cmd)),
        output: String::new(),
    })?;
    Ok(Exit::from_status(status.code()))
}

/// Boots and hands each console line to `on_line` (which may end the run by
/// returning false) until the guest exits or `timeout` passes.
pub fn run_captured(
    opts: &BootOptions,
    timeout: Duration,
    mut on_line: impl FnMut(&str) -> bool,
) -> Result<Exit> {
    let mut cmd = command(opts, false);
    progress("boot", describe(&cmd));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure {
            what: format!("cannot start QEMU: {e}"),
            command: Some(describe(&cmd)),
            output: String::new(),
        })?;
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || forward_lines(stdout, tx));
    std::thread::spawn(move || forward_lines(stderr, tx2));
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(line) => {
                if !on_line(&line) {
                    kill(&mut child);
                    return Ok(Exit::Timeout);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = child.try_wait().ok().flatten() {
                    // Drain what the readers still hold.
                    while let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                        on_line(&line);
                    }
                    return Ok(Exit::from_status(status.code()));
                }
                if Instant::now() >= deadline {
                    if let Some(probe) = &opts.hang {
                        progress("hang", probe.report());
                    }
                    kill(&mut child);
                    return Ok(Exit::Timeout);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child
                    .wait()
                    .map_err(|e| Failure::msg(format!("waiting for QEMU: {e}")))?;
                return Ok(Exit::from_status(status.code()));
            }
        }
    }
}

fn forward_lines(r: impl std::io::Read, tx: mpsc::Sender<String>) {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
                if tx.send(line).is_err() {
                    return;
                }
            }
        }
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_exit_status_decodes() {
        assert_eq!(Exit::from_status(Some(0x55)), Exit::Guest(GUEST_SUCCESS));
        assert_eq!(Exit::from_status(Some(0x57)), Exit::Guest(GUEST_FAILURE));
        // QEMU failing to start is never the guest's success.
        assert_ne!(Exit::from_status(Some(1)), Exit::Guest(GUEST_SUCCESS));
        assert_eq!(Exit::from_status(Some(0)), Exit::Qemu(0));
        assert_eq!(Exit::from_status(None), Exit::Qemu(-1));
    }
}
