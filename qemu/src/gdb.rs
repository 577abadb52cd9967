//! `cargo qemu run --gdb`: the gdb command line that attaches to QEMU's gdb stub with the symbols of the kernel and of every program the spec boots.
//!
//! QEMU starts stopped (`-S`) with its stub on a TCP port; the kernel's
//! symbols come from the 64-bit `kernel.elf` of the kernel build (QEMU
//! boots its ELF32 copy; the code is the same), each program's from the
//! ELF the build made (`images::program_path`), loaded at the addresses
//! it was linked for. Every program
//! but the VM server (`0x1000_0000`) links at the same address (each has
//! an address space of its own), so gdb may resolve an address to the
//! wrong program; break on a function name, or load one program's
//! symbols alone.

use crate::Workspace;
use std::path::Path;

/// The command line that attaches gdb to the stub on `port` with the
/// kernel's, the root task's (`root_task`) and `spec`'s programs' symbols.
pub fn attach_line(ws: &Workspace, spec: &capdl::Spec, root_task: &Path, port: u16) -> String {
    let kernel = ws.target.join("sel4-kernel/build/kernel.elf");
    let mut programs: Vec<&str> = spec.components.iter().map(|c| c.image.as_str()).collect();
    programs.sort();
    programs.dedup();
    let mut line = format!("gdb -q {} -ex 'target remote :{port}'", kernel.display());
    line += &format!(" -ex 'add-symbol-file {}'", root_task.display());
    for p in programs {
        let elf = crate::images::program_path(ws, p);
        line += &format!(" -ex 'add-symbol-file {}'", elf.display());
    }
    format!(
        "[cargo qemu] gdb      QEMU waits for gdb on port {port}; in another terminal:\n{line}\n\
         [cargo qemu] gdb      then e.g. `hbreak boot_sys` and `continue` (hardware \
         breakpoints: the kernel moves to its virtual addresses; every client links at the \
         same address, so break on function names)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_kernel_the_root_task_and_each_program_once() {
        let ws = Workspace {
            root: "/w".into(),
            target: "/w/target".into(),
            cargo: "cargo".into(),
        };
        let text = "arch x86_64\nobjects { ep = ep }\n\
                    component p { image = \"server\" caps { 16: ep (R) } }\n\
                    component a { image = \"client\" pager = p fault = ep (badge: 1) }\n\
                    component b { image = \"client\" pager = p fault = ep (badge: 2) }\n";
        let spec = capdl::load(text, &["server", "client"]).unwrap();
        let line = attach_line(&ws, &spec, Path::new("/w/target/root-task-x.elf"), 4321);
        assert!(line.contains("gdb -q /w/target/sel4-kernel/build/kernel.elf"));
        assert!(line.contains("target remote :4321"));
        assert!(line.contains("add-symbol-file /w/target/root-task-x.elf"));
        assert_eq!(line.matches("release/client'").count(), 1);
        assert_eq!(line.matches("release/server'").count(), 1);
    }
}
