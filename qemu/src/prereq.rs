//! Host prerequisites: the programs the kernel and image builds and the
//! emulator need, installed from Debian's packages when we can (root with
//! apt-get), otherwise named with the exact command to run.

use crate::step::{find_program, on_path, progress, run_captured, Failure, Result};
use std::process::Command;

/// A program we need and the Debian package that provides it.
struct Prerequisite {
    program: &'static str,
    package: &'static str,
}

const NEEDED: &[Prerequisite] = &[
    Prerequisite {
        program: "qemu-system-x86_64",
        package: "qemu-system-x86",
    },
    Prerequisite {
        program: "gcc",
        package: "gcc",
    },
    Prerequisite {
        program: "make",
        package: "make",
    },
    Prerequisite {
        program: "python3",
        package: "python3",
    },
    Prerequisite {
        program: "objcopy",
        package: "binutils",
    },
    Prerequisite {
        program: "patch",
        package: "patch",
    },
    // The files disk (`files.rs`): mke2fs builds it, e2fsck and debugfs
    // check it after the boot.
    Prerequisite {
        program: "mke2fs",
        package: "e2fsprogs",
    },
    Prerequisite {
        program: "debugfs",
        package: "e2fsprogs",
    },
];

/// Checks every prerequisite; installs the missing ones with apt-get when
/// running as root, or fails naming the command that would.
pub fn ensure() -> Result<()> {
    let mut missing: Vec<&Prerequisite> = NEEDED
        .iter()
        .filter(|p| find_program(p.program).is_none())
        .collect();
    // The venv module is a separate Debian package for the system python.
    let venv_ok = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let mut packages: Vec<&str> = missing.iter().map(|p| p.package).collect();
    packages.dedup();
    if on_path("python3") && !venv_ok {
        packages.push("python3-venv");
    }
    if packages.is_empty() {
        return Ok(());
    }
    let install = format!(
        "apt-get update && apt-get install -y {}",
        packages.join(" ")
    );
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root || !on_path("apt-get") {
        return Err(Failure::msg(format!(
            "missing prerequisites: {}\n  install them with:  sudo sh -c '{install}'",
            packages.join(", ")
        )));
    }
    progress("install", format!("{} (apt-get)", packages.join(" ")));
    run_captured(
        "apt-get update",
        Command::new("apt-get").arg("update").arg("-q"),
    )?;
    run_captured(
        "apt-get install",
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    missing.retain(|p| find_program(p.program).is_none());
    if let Some(p) = missing.first() {
        return Err(Failure::msg(format!(
            "{} still missing after installing {}",
            p.program, p.package
        )));
    }
    Ok(())
}
