//! Host prerequisites: the programs the kernel and image builds and the
//! emulator need, installed from Debian's packages when we can (root with
//! apt-get), otherwise named with the exact command to run.

use crate::step::{find_program, on_path, progress, run_captured, Failure, Result};
use std::path::Path;
use std::process::Command;

/// Free space below which a build stops before it starts: a build that
/// runs out midway fails with a linker's bus error or a half-written
/// cache instead (seen on CI).
const DISK_MIN: u64 = 2 << 30;
/// Free space a cold build of everything `cargo qemu test` runs takes,
/// about (a fresh clone's `target/` measured 4.7 GiB): below it, warn.
const DISK_COLD_BUILD: u64 = 6 << 30;

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
    // Every build reads the VM server's text with it (`fpu_free`).
    Prerequisite {
        program: "objdump",
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

/// Checks the free space where `dir` (the target directory, made if need
/// be) lives: fails below `DISK_MIN`, warns below `DISK_COLD_BUILD`.
/// Unknown free space (no `df`) passes.
pub fn ensure_disk_space(dir: &Path) -> Result<()> {
    let _ = std::fs::create_dir_all(dir);
    let Some(free) = free_bytes(dir) else {
        return Ok(());
    };
    if let Some(warning) = disk_verdict(free, dir)? {
        progress("disk", warning);
    }
    Ok(())
}

/// `free` bytes under `dir`: a failure below `DISK_MIN`, a warning
/// below `DISK_COLD_BUILD`, else nothing to say.
fn disk_verdict(free: u64, dir: &Path) -> Result<Option<String>> {
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    if free < DISK_MIN {
        return Err(Failure::msg(format!(
            "only {:.1} GiB free on the disk holding {}: the build needs at least {:.0} GiB \
             (a cold build about {:.0} GiB); free some (for example `cargo clean`) and run again",
            gib(free),
            dir.display(),
            gib(DISK_MIN),
            gib(DISK_COLD_BUILD)
        )));
    }
    Ok((free < DISK_COLD_BUILD).then(|| {
        format!(
            "{:.1} GiB free under {}: a cold build takes about {:.0} GiB",
            gib(free),
            dir.display(),
            gib(DISK_COLD_BUILD)
        )
    }))
}

/// Bytes free to unprivileged users on `dir`'s file system (`df -Pk`).
fn free_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    if !out.status.success() {
        return None;
    }
    parse_df(&String::from_utf8_lossy(&out.stdout))
}

/// The available column of `df -Pk`'s one data line, in bytes.
fn parse_df(text: &str) -> Option<u64> {
    let line = text.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_available_column_in_bytes() {
        let text = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n\
                    /dev/vda        263174148  92221880  3012344      97% /\n";
        assert_eq!(parse_df(text), Some(3012344 * 1024));
        assert_eq!(parse_df("Filesystem\n"), None);
    }

    #[test]
    fn too_little_disk_fails_naming_the_directory_and_a_little_warns() {
        let dir = Path::new("/x/target");
        let e = disk_verdict(DISK_MIN - 1, dir).unwrap_err().to_string();
        assert!(e.contains("/x/target") && e.contains("cargo clean"), "{e}");
        let w = disk_verdict(DISK_MIN, dir).unwrap().expect("a warning");
        assert!(w.contains("cold build"), "{w}");
        assert_eq!(disk_verdict(DISK_COLD_BUILD, dir).unwrap(), None);
    }
}
