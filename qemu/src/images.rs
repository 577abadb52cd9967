//! Building the user-level images: every component the system runs, then
//! the root task with those images embedded (the kernel loads only the
//! first multiboot module, so the other programs travel inside it).

use crate::step::{progress, run_streaming, Failure, Result};
use crate::Workspace;
use std::path::PathBuf;
use std::process::Command;

/// The component images the root task starts.
pub const COMPONENTS: &[&str] = &["client-hello"];

/// Builds the components and the root task (release profile); returns the root task's ELF.
pub fn build(ws: &Workspace) -> Result<PathBuf> {
    progress("build", format!("components: {}", COMPONENTS.join(", ")));
    let mut cmd = cargo_build(ws);
    for c in COMPONENTS {
        cmd.args(["-p", c]);
    }
    run_streaming("component build", &mut cmd)?;
    let mut embedded = Vec::new();
    for c in COMPONENTS {
        let path = ws.target.join("release").join(c);
        if !path.exists() {
            return Err(Failure::msg(format!(
                "component {c} built, but {} is missing",
                path.display()
            )));
        }
        embedded.push(format!("{c}={}", path.display()));
    }
    progress("build", "root task with the component images embedded");
    run_streaming(
        "root task build",
        cargo_build(ws)
            .args(["-p", "root-task"])
            .env("SEL4_COMPONENT_IMAGES", embedded.join(",")),
    )?;
    Ok(ws.target.join("release/root-task"))
}

fn cargo_build(ws: &Workspace) -> Command {
    let mut cmd = Command::new(&ws.cargo);
    cmd.current_dir(&ws.root)
        .args(["build", "--release", "--quiet"])
        .env("SEL4_KERNEL_DIR", ws.target.join("sel4-kernel"));
    cmd
}
