//! Build-script helper for seL4 programs: `sel4_link::link_program()` from
//! a binary crate's `build.rs` links its binaries static and non-PIE,
//! without the C runtime, against our linker script (`link.ld`).
//! `link_program_with` also moves the program's text and puts the
//! functions a profile found hot at its start (`Layout`).
//!
//! Link arguments go through `cargo:rustc-link-arg-bins`, so the crate's
//! host-side test builds are untouched.

/// The linker script every seL4 program uses.
pub const LINKER_SCRIPT: &str = include_str!("../link.ld");

/// Where every program's text starts unless its `Layout` says otherwise.
pub const DEFAULT_BASE: u64 = 0x40_0000;

/// How one program's text is laid out.
pub struct Layout<'a> {
    /// Where its text starts (page aligned, below 2 GiB: the code model).
    pub base: u64,
    /// A linker-script fragment, relative to the crate's directory, of
    /// input-section patterns (`*(.text.NAME*)`, one a line) placed first
    /// in the text, in order: the functions the program runs most.
    pub hot_text: Option<&'a str>,
}

/// Emits the link arguments for the calling crate's binaries.
pub fn link_program() {
    link_program_with(&Layout {
        base: DEFAULT_BASE,
        hot_text: None,
    });
}

/// [`link_program`], with the text laid out as `layout` says.
pub fn link_program_with(layout: &Layout) {
    let env = |k: &str| std::env::var(k).expect("called from a build script");
    let out = std::path::PathBuf::from(env("OUT_DIR"));
    let hot = match layout.hot_text {
        Some(file) => {
            let path = std::path::Path::new(&env("CARGO_MANIFEST_DIR")).join(file);
            println!("cargo:rerun-if-changed={}", path.display());
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }
        None => String::new(),
    };
    let script_text = script(layout.base, &hot);
    let script = out.join("sel4-link.ld");
    std::fs::write(&script, script_text).expect("write linker script");
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

/// [`LINKER_SCRIPT`] with the text at `base` and `hot` (input-section
/// lines) right after the entry point.
fn script(base: u64, hot: &str) -> String {
    const BASE: &str = ". = 0x400000;";
    const START: &str = "*(.text._start)\n";
    assert!(LINKER_SCRIPT.contains(BASE) && LINKER_SCRIPT.contains(START));
    assert!(
        base.is_multiple_of(4096) && base < 1 << 31,
        "text base {base:#x}"
    );
    LINKER_SCRIPT
        .replace(BASE, &format!(". = {base:#x};"))
        .replace(START, &format!("{START}{hot}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_layout_is_the_script_as_written() {
        let s = script(DEFAULT_BASE, "");
        assert!(s.contains(". = 0x400000;"));
        assert_eq!(
            s.replace("*(.text._start)\n\n", "*(.text._start)\n"),
            LINKER_SCRIPT
        );
    }

    #[test]
    fn hot_text_follows_the_entry_point_before_the_rest() {
        let s = script(0x1000_0000, "        *(.text.hot_one*)\n");
        assert!(s.contains(". = 0x10000000;"));
        let (start, hot, rest) = (
            s.find("*(.text._start)").unwrap(),
            s.find("*(.text.hot_one*)").unwrap(),
            s.find("*(.text .text.*)").unwrap(),
        );
        assert!(start < hot && hot < rest);
    }
}
