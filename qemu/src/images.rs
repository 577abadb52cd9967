//! Building the user-level images: the root task, with every component
//! image the system spec names embedded in it (the kernel loads only the
//! first multiboot module, so the other programs travel inside it).

use crate::step::{progress, run_streaming, Result};
use crate::Workspace;
use std::path::PathBuf;
use std::process::Command;

/// Builds the root task (release profile) and returns its ELF path.
pub fn build_root_task(ws: &Workspace) -> Result<PathBuf> {
    progress("build", "root task (cargo build --release -p root-task)");
    run_streaming(
        "root task build",
        Command::new(&ws.cargo)
            .current_dir(&ws.root)
            .args(["build", "--release", "--quiet", "-p", "root-task"])
            .env("SEL4_KERNEL_DIR", ws.target.join("sel4-kernel")),
    )?;
    Ok(ws.target.join("release/root-task"))
}
