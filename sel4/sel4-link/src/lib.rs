//! Build-script helper for seL4 programs: `sel4_link::link_program()` from
//! a binary crate's `build.rs` links its binaries static and non-PIE,
//! without the C runtime, against our linker script (`link.ld`).
//!
//! Link arguments go through `cargo:rustc-link-arg-bins`, so the crate's
//! host-side test builds are untouched.

/// The linker script every seL4 program uses.
pub const LINKER_SCRIPT: &str = include_str!("../link.ld");

/// Emits the link arguments for the calling crate's binaries.
pub fn link_program() {
    let out =
        std::path::PathBuf::from(std::env::var("OUT_DIR").expect("called from a build script"));
    let script = out.join("sel4-link.ld");
    std::fs::write(&script, LINKER_SCRIPT).expect("write linker script");
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--build-id=none",
        "-Wl,-z,max-page-size=4096",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
}
