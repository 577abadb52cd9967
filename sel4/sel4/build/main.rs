//! Build script of the `sel4` crate: generates every kernel number and the
//! invocation stubs from the kernel source tree the kernel is built from.
//!
//! Input: `$SEL4_KERNEL_DIR/src` (the patched seL4 5.0.0 source with our
//! `autoconf.h`). Output: Rust files in `OUT_DIR`, `include!`d by `src/`.
//! See `build/README.md`.

mod cpp;
mod emit;
mod interface;
mod names;
mod stubs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Reads a kernel source file and tells cargo to watch it.
fn read(src: &Path, rel: &str) -> String {
    let path = src.join(rel);
    println!("cargo:rerun-if-changed={}", path.display());
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())))
}

fn fail(msg: &str) -> ! {
    eprintln!("error: sel4 build script: {msg}");
    std::process::exit(1);
}

fn main() {
    println!("cargo:rerun-if-env-changed=SEL4_KERNEL_DIR");
    println!("cargo:rerun-if-changed=build");
    let Some(dir) = std::env::var_os("SEL4_KERNEL_DIR") else {
        fail("SEL4_KERNEL_DIR is not set (see .cargo/config.toml)");
    };
    // Relative paths in the config are relative to the workspace root,
    // and cargo resolves them; a plain relative env var is taken from the
    // workspace root too.
    let mut dir = PathBuf::from(dir);
    if dir.is_relative() {
        let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
        dir = manifest.join("../..").join(dir);
    }
    let src = dir.join("src");
    if !src.join("libsel4").is_dir() {
        fail(&format!(
            "kernel source not prepared: run `cargo qemu build` first (no {}/libsel4)",
            src.display()
        ));
    }
    // The host tests compare the output with the kernel build next to `src`.
    println!("cargo:rustc-env=SEL4_KERNEL_DIR_RESOLVED={}", dir.display());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    if let Err(e) = run(&src, &out) {
        fail(&e);
    }
}

fn run(src: &Path, out: &Path) -> Result<(), String> {
    let write = |name: &str, text: String| {
        std::fs::write(out.join(name), text).map_err(|e| format!("writing {name}: {e}"))
    };

    // The configuration the kernel was built with.
    let autoconf = read(src, "include/plat/pc99/autoconf.h");
    let defines = cpp::parse_defines(&autoconf);
    if defines.get("CONFIG_ARCH_X86_64").map(String::as_str) != Some("1") {
        return Err("autoconf.h is not an x86_64 configuration".into());
    }
    write("config.rs", emit::config(&defines)?)?;

    // System call numbers.
    let syscalls =
        interface::parse_syscalls(&read(src, "libsel4/include/api/syscall.xml"), &defines)?;
    write("syscalls.rs", emit::syscalls(&syscalls))?;

    // Invocation labels and stubs: generic, then sel4_arch, then arch.
    let files: Vec<(String, String)> = [
        "libsel4/include/interfaces/sel4.xml",
        "libsel4/sel4_arch_include/x86_64/interfaces/sel4arch.xml",
        "libsel4/arch_include/x86/interfaces/sel4arch.xml",
    ]
    .iter()
    .map(|p| (p.to_string(), read(src, p)))
    .collect();
    let ifs = interface::parse_interfaces(&files, &defines)?;
    write("invocation_labels.rs", emit::labels(&ifs))?;
    write("invocations.rs", stubs::generate(&ifs)?)?;
    write("structs.rs", stubs::generate_structs(&ifs))?;

    // C headers: one symbol table, so enums may continue each other.
    // Seeded with the numeric config values (`seL4_MaxPrio` uses one).
    let mut symbols: BTreeMap<String, i128> = defines
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), cpp::eval_expr(v, &|_| Err(String::new())).ok()?)))
        .collect();
    let mut header = |rel: &str| -> Result<Vec<cpp::CEnum>, String> {
        let lines =
            cpp::active_lines(&read(src, rel), &defines).map_err(|e| format!("{rel}: {e}"))?;
        cpp::parse_enums(&lines, &mut symbols).map_err(|e| format!("{rel}: {e}"))
    };
    let mut object_enums = header("libsel4/include/sel4/objecttype.h")?;
    object_enums.extend(header(
        "libsel4/sel4_arch_include/x86_64/sel4/sel4_arch/objecttype.h",
    )?);
    object_enums.extend(header("libsel4/arch_include/x86/sel4/arch/objecttype.h")?);
    let errors = header("libsel4/include/sel4/errors.h")?;
    let init_caps = header("libsel4/include/sel4/bootinfo_types.h")?;
    let arch_types = header("libsel4/arch_include/x86/sel4/arch/types.h")?;
    let api_consts = header("libsel4/include/sel4/constants.h")?;
    let mode_consts_rel = "libsel4/sel4_arch_include/x86_64/sel4/sel4_arch/constants.h";
    let fault_mrs = header(mode_consts_rel)?;
    let capfault_mrs = header("libsel4/include/sel4/shared_types.h")?;

    // `#define`d constants of the x86_64 and x86 constants.h.
    let mut const_lines = cpp::active_lines(&read(src, mode_consts_rel), &defines)?;
    const_lines.extend(cpp::active_lines(
        &read(src, "libsel4/arch_include/x86/sel4/arch/constants.h"),
        &defines,
    )?);
    let mode_consts = cpp::parse_defines(&const_lines.join("\n"));
    write("constants.rs", emit::constants(&mode_consts)?)?;
    write(
        "object_types.rs",
        emit::object_types(&object_enums, &mode_consts)?,
    )?;
    write("errors.rs", emit::errors(&errors)?)?;
    write("init_caps.rs", emit::init_caps(&init_caps)?)?;
    write("vm_attributes.rs", emit::vm_attributes(&arch_types)?)?;

    // Fault labels from the seL4_Fault tagged union's tags.
    let bf_rel = "libsel4/arch_include/x86/sel4/arch/shared_types.bf";
    let bf = cpp::active_lines(&read(src, bf_rel), &defines)?;
    let mut all_mrs = fault_mrs;
    all_mrs.extend(capfault_mrs);
    all_mrs.extend(api_consts);
    write("faults.rs", emit::faults(&bf, &all_mrs)?)?;
    Ok(())
}
