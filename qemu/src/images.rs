//! Building the user-level images: the system spec (`capdl/system.spec`)
//! names the programs; each is built, then the root task with all of them
//! and the encoded spec embedded (the kernel loads only the first
//! multiboot module, so the other programs travel inside it).
//!
//! A program is any workspace binary crate whose build script links it
//! with `sel4-link`; the spec's validator checks every `image` against
//! that list.

use crate::fpu_free;
use crate::step::{progress, run_filtering_stderr, run_stdout, run_streaming, Failure, Result};
use crate::{Boot, Workspace};
use std::path::PathBuf;
use std::process::Command;

/// Programs built with a Cargo profile of their own instead of `release`
/// (the workspace's Cargo.toml says why): the VM server, with whole-program
/// optimisation, which takes 0.03–0.08 floor off every fault and request
/// row under TCG (docs/performance.md, "Whole-program optimisation").
const OWN_PROFILE: &[(&str, &str)] = &[("vm-server", "vm-server")];

/// Code-generation flags a profile adds to every crate it builds (Cargo
/// profiles cannot carry them on stable Rust). The VM server's: inline far
/// more than LLVM's default and compile no jump tables. Under TCG each
/// return, indirect jump and jump to another code page makes QEMU look up
/// the next translation block, and after every page-table switch that
/// lookup misses: with these a zero-fill fault makes 51 lookups instead of
/// 76, and the fault rows measured 0.04–0.09 floor lower, ping unchanged
/// (docs/performance.md, "The code side again"). And no SLP vectoriser:
/// the vectors it makes of neighbouring fields (the loop's two `Stats`
/// counters) load their constants from `.rodata`, a data page every
/// message touched for that alone (docs/performance.md, "Data pages of a
/// fault"). And no SSE (nor x87, which `-sse` leaves for floating point,
/// which the server does not use): seL4 switches the FPU lazily, so a
/// server using SSE took the FPU from a client that did, one trap on each
/// side of every request (docs/performance.md, "The FPU's lazy switch").
/// Rustc warns that the target's ABI wants SSE2 (not a lint: it fails no
/// `-Dwarnings`); whole-program optimisation compiles `core`, `alloc` and
/// every crate in one unit with the same features, so no call crosses
/// between the two ABIs. `compiler_builtins` stays precompiled with SSE
/// (`__udivti3` is in the server); `fpu_free` checks the linked text, so
/// an SSE instruction from it or anywhere fails the build. A profile with
/// flags builds with an explicit `--target` ([`FLAGGED_TARGET`]), so that
/// the flags reach only the program's crates and not the build scripts
/// and proc macros, which run on the host beside its precompiled `std`.
const PROFILE_FLAGS: &[(&str, &[&str])] = &[(
    "vm-server",
    &[
        "-Cllvm-args=-inline-threshold=1000",
        "-Cllvm-args=-min-jump-table-entries=10000",
        "-Cllvm-args=-vectorize-slp=false",
        "-Ctarget-feature=-sse,-sse2",
    ],
)];

/// The target a profile with [`PROFILE_FLAGS`] names explicitly: the
/// host's, which every seL4 program here is built for.
const FLAGGED_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The first line of rustc's warning that `-sse2` leaves the target's ABI
/// unimplementable; the flagged build drops it and its notes
/// ([`AbiWarnings`]), printed once per crate, since nothing crosses the two
/// ABIs there (above).
const ABI_WARNING: &str = "warning: target feature `sse2` must be enabled to ensure that the ABI \
                           of the current target can be implemented correctly";

/// Programs whose code must not touch the FPU ([`fpu_free::check`]).
const FPU_FREE: &[&str] = &["vm-server"];

/// The Cargo profile program `name` is built with.
fn profile_of(name: &str) -> &'static str {
    OWN_PROFILE
        .iter()
        .find(|&&(p, _)| p == name)
        .map_or("release", |&(_, profile)| profile)
}

/// Where the build puts program `name`'s ELF.
pub fn program_path(ws: &Workspace, name: &str) -> PathBuf {
    let profile = profile_of(name);
    if flags_of(profile).is_some() {
        ws.target.join(FLAGGED_TARGET).join(profile).join(name)
    } else {
        ws.target.join(profile).join(name)
    }
}

/// The flags `profile` adds, if any ([`PROFILE_FLAGS`]).
fn flags_of(profile: &str) -> Option<&'static [&'static str]> {
    PROFILE_FLAGS
        .iter()
        .find(|(p, _)| *p == profile)
        .map(|&(_, flags)| flags)
}

/// The seL4 programs of the workspace (other than the root task).
pub fn known_images(ws: &Workspace) -> Result<Vec<String>> {
    Ok(workspace_packages(ws)?
        .into_iter()
        .filter(|p| p.links_sel4 && p.name != "root-task")
        .map(|p| p.name)
        .collect())
}

/// Crates that only build for seL4: they link the runtime's panic handler
/// and allocator, which a host test harness cannot have beside std.
pub fn sel4_only(ws: &Workspace) -> Result<Vec<String>> {
    Ok(workspace_packages(ws)?
        .into_iter()
        .filter(|p| p.links_sel4 || p.uses_runtime)
        .map(|p| p.name)
        .collect())
}

/// What we need to know of a workspace package.
pub struct Package {
    pub name: String,
    /// Its build script links it as an seL4 program.
    links_sel4: bool,
    /// It depends on the seL4 runtime.
    uses_runtime: bool,
    /// The directory of its `Cargo.toml` (where `cargo test` runs its tests).
    pub dir: PathBuf,
    /// Its integration-test targets (`tests/*.rs`, `[[test]]`).
    pub tests: Vec<String>,
}

/// The workspace's packages, by name.
pub fn workspace_packages(ws: &Workspace) -> Result<Vec<Package>> {
    let out = run_stdout(
        "listing workspace packages",
        Command::new(&ws.cargo).current_dir(&ws.root).args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ]),
    )?;
    let json: serde_json::Value = serde_json::from_str(&out)
        .map_err(|e| Failure::msg(format!("cannot parse cargo metadata: {e}")))?;
    let mut packages = Vec::new();
    for p in json["packages"].as_array().into_iter().flatten() {
        let deps = || p["dependencies"].as_array().into_iter().flatten();
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
        packages.push(Package {
            name: p["name"].as_str().unwrap_or_default().to_string(),
            links_sel4: deps().any(|d| d["name"] == "sel4-link" && d["kind"] == "build"),
            uses_runtime: deps().any(|d| d["name"] == "sel4-root-task" && d["kind"].is_null()),
            dir: manifest.parent().map(PathBuf::from).unwrap_or_default(),
            tests: p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "test"))
                })
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect(),
        });
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(packages)
}

/// Parses and validates a spec under `capdl/`; returns it with its encoded form.
pub fn load_spec(ws: &Workspace, boot: &Boot) -> Result<(capdl::Spec, Vec<u8>)> {
    let path = ws.root.join("capdl").join(&boot.spec);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::msg(format!("{}: {e}", path.display())))?;
    let known = known_images(ws)?;
    let refs: Vec<&str> = known.iter().map(String::as_str).collect();
    let spec = capdl::load(&text, &refs).map_err(|errors| Failure {
        what: format!("the system spec {} is not valid", path.display()),
        command: None,
        output: errors.to_string(),
    })?;
    let mut spec = with_policy(spec, boot.policy.as_deref())
        .map_err(|e| Failure::msg(format!("{}: {e}", path.display())))?;
    if let Some(n) = boot.trace_ring {
        spec.set_trace_ring(n)
            .map_err(|e| Failure::msg(format!("{}: {e}", path.display())))?;
    }
    let bytes = capdl::encode(&spec);
    Ok((spec, bytes))
}

/// `spec` with every pager running `policy` (`--policy`) if one is given,
/// after checking that each pager's policy is one the VM server has
/// (`vm_swap::POLICIES`): the spec language does not know the names.
pub fn with_policy(
    mut spec: capdl::Spec,
    policy: Option<&str>,
) -> std::result::Result<capdl::Spec, String> {
    if let Some(p) = policy {
        spec.set_pageout_policy(p)?;
    }
    let known: Vec<&str> = vm_swap::POLICIES.iter().map(|p| p.0).collect();
    for c in &spec.components {
        if let Some(p) = &c.pageout_policy {
            if !known.contains(&p.as_str()) {
                return Err(format!(
                    "component {}: unknown pageout_policy {p:?} (known: {})",
                    c.name,
                    known.join(", ")
                ));
            }
        }
    }
    Ok(spec)
}

/// Builds the programs the spec (a file under `capdl/`) names and the root
/// task; returns the root task's ELF.
pub fn build(ws: &Workspace, boot: &Boot) -> Result<PathBuf> {
    let spec_file = boot.spec.as_str();
    let spec_name = spec_file;
    let (spec, encoded) = load_spec(ws, boot)?;
    let mut programs: Vec<&str> = spec.components.iter().map(|c| c.image.as_str()).collect();
    programs.sort();
    programs.dedup();
    progress(
        "spec",
        format!(
            "capdl/{spec_file}: {} components, {} programs",
            spec.components.len(),
            programs.len()
        ),
    );
    let spec_file = ws.target.join("system.capdl");
    std::fs::write(&spec_file, &encoded)
        .map_err(|e| Failure::msg(format!("{}: {e}", spec_file.display())))?;

    progress("build", format!("programs: {}", programs.join(", ")));
    // One build per profile the programs use.
    let mut profiles: Vec<&str> = programs.iter().map(|p| profile_of(p)).collect();
    profiles.sort();
    profiles.dedup();
    for profile in profiles {
        let mut cmd = cargo_build_with(ws, profile);
        for p in programs.iter().filter(|p| profile_of(p) == profile) {
            cmd.args(["-p", p]);
        }
        if flags_of(profile).is_some() {
            let mut abi = AbiWarnings::default();
            run_filtering_stderr("program build", &mut cmd, |l| abi.keep(l))?;
        } else {
            run_streaming("program build", &mut cmd)?;
        }
    }
    for p in programs.iter().filter(|p| FPU_FREE.contains(p)) {
        fpu_free::check(p, &program_path(ws, p))?;
    }
    let mut embedded = Vec::new();
    for p in &programs {
        // A program only paged from the files disk stays out of the
        // boot image (files::ensure puts it in /bin).
        if !spec
            .components
            .iter()
            .any(|c| c.image == *p && !c.image_from_files)
        {
            continue;
        }
        let path = program_path(ws, p);
        if !path.exists() {
            return Err(Failure::msg(format!(
                "program {p} built, but {} is missing",
                path.display()
            )));
        }
        embedded.push(format!("{p}={}", path.display()));
    }
    progress("build", "root task with the programs and the spec embedded");
    run_streaming(
        "root task build",
        cargo_build(ws)
            .args(["-p", "root-task"])
            .env("SEL4_COMPONENT_IMAGES", embedded.join(","))
            .env("SEL4_SYSTEM_SPEC", &spec_file),
    )?;
    // Kept per spec: the test boots build several root tasks in a row.
    let stem = spec_name.trim_end_matches(".spec");
    let image = ws.target.join(format!("root-task-{stem}.elf"));
    std::fs::copy(ws.target.join("release/root-task"), &image)
        .map_err(|e| Failure::msg(format!("{}: {e}", image.display())))?;
    Ok(image)
}

/// The programs of `spec` that some component runs from the files disk
/// (`image_from_files`), with the ELF files [`build`] made for them:
/// `files::ensure` puts each in the disk's `/bin`.
pub fn file_programs(ws: &Workspace, spec: &capdl::Spec) -> Vec<(String, PathBuf)> {
    let mut names: Vec<&str> = spec
        .components
        .iter()
        .filter(|c| c.image_from_files)
        .map(|c| c.image.as_str())
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| (n.to_string(), program_path(ws, n)))
        .collect()
}

fn cargo_build(ws: &Workspace) -> Command {
    cargo_build_with(ws, "release")
}

/// `cargo build` with Cargo profile `profile` (its output under
/// `target/<profile>/`, or `target/<FLAGGED_TARGET>/<profile>/` for a
/// profile with flags; `release` is `--release`).
fn cargo_build_with(ws: &Workspace, profile: &str) -> Command {
    let mut cmd = Command::new(&ws.cargo);
    cmd.current_dir(&ws.root)
        .args(["build", "--profile", profile, "--quiet"])
        .env("SEL4_KERNEL_DIR", ws.target.join("sel4-kernel"));
    if let Some(flags) = flags_of(profile) {
        cmd.args(["--target", FLAGGED_TARGET]);
        let caller = std::env::var("CARGO_ENCODED_RUSTFLAGS").ok();
        let rustflags = std::env::var("RUSTFLAGS").ok();
        cmd.env(
            "CARGO_ENCODED_RUSTFLAGS",
            encoded_rustflags(caller.as_deref(), rustflags.as_deref(), flags),
        );
    }
    cmd
}

/// Which lines of a flagged build's standard error to pass on: all but
/// each [`ABI_WARNING`] block (its first line, then its indented notes
/// and the blank line that ends it; any other line ends it and is kept,
/// so a changed format cannot hide an error).
#[derive(Default)]
pub struct AbiWarnings {
    dropping: bool,
}

impl AbiWarnings {
    /// Whether `line`, the next line of standard error, is passed on.
    pub fn keep(&mut self, line: &str) -> bool {
        if line == ABI_WARNING {
            self.dropping = true;
            return false;
        }
        if self.dropping {
            if line.starts_with(' ') {
                return false;
            }
            self.dropping = false;
            return !line.is_empty();
        }
        true
    }
}

/// The caller's flags (Cargo's encoded form first, else `RUSTFLAGS`),
/// then `extra`, in Cargo's encoded form (separated by 0x1f).
fn encoded_rustflags(encoded: Option<&str>, plain: Option<&str>, extra: &[&str]) -> String {
    let mut all: Vec<&str> = match (encoded, plain) {
        (Some(e), _) => e.split('\x1f').filter(|f| !f.is_empty()).collect(),
        (None, Some(p)) => p.split_whitespace().collect(),
        (None, None) => Vec::new(),
    };
    all.extend(extra);
    all.join("\x1f")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_abi_warning_and_its_notes_are_dropped() {
        let stderr = [
            ABI_WARNING,
            "  |",
            "  = note: this was previously accepted by the compiler but is being phased out",
            "  = note: for more information, see issue #116344",
            "",
            "warning: function `unused_thing` is never used",
            " --> src/main.rs:5:4",
            "",
            ABI_WARNING,
            "  |",
            "",
            ABI_WARNING,
            "  = note: no blank line after this one",
            "error: could not compile `vm-server`",
        ];
        let mut abi = AbiWarnings::default();
        let kept: Vec<&str> = stderr.into_iter().filter(|l| abi.keep(l)).collect();
        assert_eq!(
            kept,
            [
                "warning: function `unused_thing` is never used",
                " --> src/main.rs:5:4",
                "",
                "error: could not compile `vm-server`",
            ]
        );
    }

    #[test]
    fn profile_flags_follow_the_callers() {
        let extra = ["-Cx=1", "-Cy=2"];
        assert_eq!(encoded_rustflags(None, None, &extra), "-Cx=1\x1f-Cy=2");
        assert_eq!(
            encoded_rustflags(None, Some(" -Dwarnings  -Cz=3"), &extra),
            "-Dwarnings\x1f-Cz=3\x1f-Cx=1\x1f-Cy=2"
        );
        assert_eq!(
            encoded_rustflags(Some("-Ca b\x1f-Cc"), Some("-Cignored"), &extra),
            "-Ca b\x1f-Cc\x1f-Cx=1\x1f-Cy=2"
        );
        assert_eq!(profile_of("vm-server"), "vm-server");
        assert_eq!(profile_of("block-server"), "release");
    }
}
