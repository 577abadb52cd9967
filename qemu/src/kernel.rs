//! The kernel build: seL4 5.0.0 from the crates.io package sel4-sys 0.0.28,
//! patched for gcc 12 and configured by `qemu/kernel/autoconf.h`.
//!
//! Output under `target/sel4-kernel/`: `src/` (the patched source tree with
//! our config, also read by the `sel4` crate's generator), `build/` (the
//! kernel build, `build/kernel.elf`), `kernel32.elf` (the ELF32 copy QEMU's
//! multiboot loader accepts) and `venv/` (the Python tools' packages). All of
//! it is rebuilt only when the config, the patches or the source change: a
//! stamp file records the hash of those inputs.

use crate::step::{progress, run_captured, run_stdout, Failure, Result};
use crate::Workspace;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bumped when the build recipe below changes in a way the inputs don't show.
const RECIPE_VERSION: &str = "1";

/// Paths of a prepared kernel.
pub struct Kernel {
    pub elf32: PathBuf,
}

/// Prepares the kernel source and builds the kernel unless up to date.
pub fn build(ws: &Workspace) -> Result<Kernel> {
    let dir = ws.target.join("sel4-kernel");
    let kernel = Kernel {
        elf32: dir.join("kernel32.elf"),
    };
    let upstream = locate_source(ws)?;
    let config_dir = ws.root.join("qemu/kernel");
    let autoconf = read(&config_dir.join("autoconf.h"))?;
    let patches = patch_files(&config_dir.join("patches"))?;

    let mut hash = Sha256::new();
    hash.update(RECIPE_VERSION);
    hash.update(upstream.to_string_lossy().as_bytes());
    hash.update(&autoconf);
    for p in &patches {
        hash.update(p.file_name().unwrap().to_string_lossy().as_bytes());
        hash.update(read(p)?);
    }
    let stamp = format!("{:x}", hash.finalize());
    let stamp_file = dir.join("stamp");
    if kernel.elf32.exists()
        && fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str())
    {
        progress("kernel", format!("up to date ({})", kernel.elf32.display()));
        return Ok(kernel);
    }

    let src = dir.join("src");
    let build = dir.join("build");
    progress(
        "kernel",
        format!("preparing seL4 source from {}", upstream.display()),
    );
    let _ = fs::remove_file(&stamp_file);
    for d in [&src, &build] {
        if d.exists() {
            fs::remove_dir_all(d).map_err(|e| io_failure("remove old kernel tree", d, e))?;
        }
    }
    copy_tree(&upstream, &src)?;
    fs::write(src.join("include/plat/pc99/autoconf.h"), &autoconf)
        .map_err(|e| io_failure("write kernel config", &src, e))?;
    for p in &patches {
        progress(
            "kernel",
            format!("patch {}", p.file_name().unwrap().to_string_lossy()),
        );
        run_captured(
            "applying kernel patch",
            Command::new("patch")
                .arg("-p1")
                .arg("--forward")
                .arg("-d")
                .arg(&src)
                .arg("-i")
                .arg(p),
        )?;
    }

    let venv = python_venv(ws, &dir)?;
    fs::create_dir_all(&build).map_err(|e| io_failure("create build dir", &build, e))?;
    progress("kernel", "make (seL4 5.0.0, x86_64 pc99, debug)");
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run_captured(
        "kernel build",
        Command::new("make")
            .current_dir(&build)
            .arg("-f")
            .arg(src.join("Makefile"))
            .arg(format!("SOURCE_ROOT={}", src.display()))
            .args(["ARCH=x86", "PLAT=pc99", "SEL4_ARCH=x86_64", "DEBUG=1"])
            .args(["SKIP_PATH_CHECKS=1", "XMLLINT_PATH=true", "PYTHON=python"])
            .arg(format!(
                "-j{}",
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            ))
            .env("PATH", path),
    )?;
    // QEMU's multiboot loader refuses ELF64 kernels.
    run_captured(
        "kernel objcopy to elf32",
        Command::new("objcopy")
            .args(["-O", "elf32-i386"])
            .arg(build.join("kernel.elf"))
            .arg(&kernel.elf32),
    )?;
    fs::write(&stamp_file, stamp).map_err(|e| io_failure("write stamp", &stamp_file, e))?;
    progress("kernel", format!("built {}", kernel.elf32.display()));
    Ok(kernel)
}

/// Finds the kernel source in cargo's registry cache, fetching the package
/// if needed (`cargo metadata` fetches without compiling anything).
fn locate_source(ws: &Workspace) -> Result<PathBuf> {
    let manifest = ws.root.join("qemu/kernel-source/Cargo.toml");
    let out = run_stdout(
        "locating the sel4-sys 0.0.28 package (kernel source)",
        Command::new(&ws.cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--locked",
                "--manifest-path",
            ])
            .arg(&manifest),
    )?;
    let json: serde_json::Value = serde_json::from_str(&out)
        .map_err(|e| Failure::msg(format!("cannot parse cargo metadata output: {e}")))?;
    let manifest_path = json["packages"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["name"] == "sel4-sys" && p["version"] == "0.0.28")
        })
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or_else(|| Failure::msg("cargo metadata does not list sel4-sys 0.0.28"))?;
    let dir = Path::new(manifest_path).parent().unwrap().join("seL4");
    if !dir.join("Makefile").exists() {
        return Err(Failure::msg(format!(
            "no kernel source at {}",
            dir.display()
        )));
    }
    Ok(dir)
}

/// Creates the venv with the pinned Python packages, once per requirements file.
fn python_venv(ws: &Workspace, dir: &Path) -> Result<PathBuf> {
    let venv = dir.join("venv");
    let req = ws.root.join("qemu/kernel/requirements.txt");
    let wanted = read(&req)?;
    let stamp = venv.join("requirements.txt");
    if fs::read(&stamp).ok().as_deref() == Some(wanted.as_slice()) {
        return Ok(venv);
    }
    progress("python", format!("venv with {}", req.display()));
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|e| io_failure("remove old venv", &venv, e))?;
    }
    run_captured(
        "python venv",
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
    )?;
    run_captured(
        "pip install of the kernel build's Python tools",
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&req),
    )?;
    fs::write(&stamp, wanted).map_err(|e| io_failure("write venv stamp", &stamp, e))?;
    Ok(venv)
}

fn patch_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| io_failure("list kernel patches", dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    v.sort();
    Ok(v)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| io_failure("create dir", to, e))?;
    for entry in fs::read_dir(from).map_err(|e| io_failure("read dir", from, e))? {
        let entry = entry.map_err(|e| io_failure("read dir", from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            copy_tree(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).map_err(|e| io_failure("copy", &src, e))?;
        }
    }
    Ok(())
}

fn read(p: &Path) -> Result<Vec<u8>> {
    fs::read(p).map_err(|e| io_failure("read", p, e))
}

pub fn io_failure(what: &str, path: &Path, e: std::io::Error) -> Failure {
    Failure::msg(format!("{what} {}: {e}", path.display()))
}
