//! Build-script helper for seL4 programs: `sel4_link::link_program()` from
//! a binary crate's `build.rs` links its binaries static and non-PIE,
//! without the C runtime, against our linker script (`link.ld`).
//! `link_program_with` also moves the program's text, puts the functions
//! a profile found hot at its start, and can put the programs a root task
//! carries last, its end rounded up (`Layout`).
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
    /// For the root task: its `.images` input sections (the programs it
    /// carries) go after `.bss`, in a read-only segment of their own, and
    /// its end is rounded up to a multiple of this many bytes. The kernel
    /// puts its first objects and the free memory right after the root
    /// task's image, so without this their physical addresses, and with
    /// them what QEMU's software TLB makes of the benchmark floors, follow
    /// the size of every program (docs/performance.md, "The floors and the
    /// layout").
    pub images_end_align: Option<u64>,
    /// The first thread's stack (`sel4-root-task`'s `STACK`, 256 KiB)
    /// on pages of its own right after the heap (the program's
    /// `__sel4_runtime_main::HEAP`, still first in `.bss`, so it still
    /// shares a page with the end of `.data`): the stack's top is then a
    /// page's end. A server's loop runs in the frames just below it, and
    /// under QEMU's TCG every page a message touches costs a software-TLB
    /// refill; from a top mid-page the loop's frames straddled two pages,
    /// which ones following the layout of every other static
    /// (docs/performance.md, "The stack's pages"). As before, no guard
    /// page: the statics after it (the VM server's idle-thread stack
    /// first) lie right above its top.
    pub stack_on_own_pages: bool,
}

/// Emits the link arguments for the calling crate's binaries.
pub fn link_program() {
    link_program_with(&Layout {
        base: DEFAULT_BASE,
        hot_text: None,
        images_end_align: None,
        stack_on_own_pages: false,
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
    let mut script_text = script(layout.base, &hot, layout.images_end_align);
    if layout.stack_on_own_pages {
        script_text = stack_on_own_pages(&script_text);
    }
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

/// [`LINKER_SCRIPT`] with the text at `base`, `hot` (input-section
/// lines) right after the entry point, and the `.images` sections last
/// with the end aligned to `images_end_align` when given.
fn script(base: u64, hot: &str, images_end_align: Option<u64>) -> String {
    const BASE: &str = ". = 0x400000;";
    const START: &str = "*(.text._start)\n";
    const DATA_PHDR: &str = "    data   PT_LOAD FLAGS(6);   /* rw- */\n";
    const END: &str = "    _end = .;\n";
    assert!(LINKER_SCRIPT.contains(BASE) && LINKER_SCRIPT.contains(START));
    assert!(LINKER_SCRIPT.contains(DATA_PHDR) && LINKER_SCRIPT.contains(END));
    assert!(
        base.is_multiple_of(4096) && base < 1 << 31,
        "text base {base:#x}"
    );
    let mut s = LINKER_SCRIPT
        .replace(BASE, &format!(". = {base:#x};"))
        .replace(START, &format!("{START}{hot}\n"));
    if let Some(align) = images_end_align {
        assert!(
            align.is_power_of_two() && align >= 4096,
            "image end alignment {align:#x}"
        );
        s = s
            .replace(
                DATA_PHDR,
                &format!("{DATA_PHDR}    images PT_LOAD FLAGS(4);   /* r-- */\n"),
            )
            .replace(
                END,
                &format!(
                    "    . = ALIGN(4096);\n    .images : {{ *(.images .images.*) }} :images\n    \
                     .images_end (NOLOAD) : {{ . = ALIGN({align:#x}); }} :images\n{END}"
                ),
            );
    }
    s
}

/// `script` with the heap first in `.bss`, then, from the next page, the
/// first thread's stack ([`Layout::stack_on_own_pages`]). Input sections
/// go to the first pattern that matches them, so these come before the
/// catch-all; the link fails if either matched nothing (a static renamed,
/// or another symbol mangling) or the stack's top is not a page's end
/// (`ABSOLUTE`: GNU ld reads a symbol defined in a section relative to
/// it, rust-lld as an address).
fn stack_on_own_pages(script: &str) -> String {
    const BSS: &str = "        *(.bss .bss.*)\n";
    assert!(script.contains(BSS));
    script.replace(
        BSS,
        &format!(
            "        __sel4_heap_start = .;\n        *(.bss.*__sel4_runtime_main4HEAP*)\n        \
             __sel4_heap_end = .;\n        . = ALIGN(4096);\n        __sel4_stack_bottom = .;\n        \
             *(.bss._ZN14sel4_root_task5entry5STACK*)\n        __sel4_stack_top = .;\n        \
             ASSERT(__sel4_heap_end > __sel4_heap_start, \"sel4-link: no heap static matched\");\n        \
             ASSERT(__sel4_stack_top > __sel4_stack_bottom && ABSOLUTE(__sel4_stack_top) % 4096 == 0, \
             \"sel4-link: the stack static matched nothing or does not end on a page\");\n{BSS}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_layout_is_the_script_as_written() {
        let s = script(DEFAULT_BASE, "", None);
        assert!(s.contains(". = 0x400000;"));
        assert_eq!(
            s.replace("*(.text._start)\n\n", "*(.text._start)\n"),
            LINKER_SCRIPT
        );
    }

    #[test]
    fn hot_text_follows_the_entry_point_before_the_rest() {
        let s = script(0x1000_0000, "        *(.text.hot_one*)\n", None);
        assert!(s.contains(". = 0x10000000;"));
        let (start, hot, rest) = (
            s.find("*(.text._start)").unwrap(),
            s.find("*(.text.hot_one*)").unwrap(),
            s.find("*(.text .text.*)").unwrap(),
        );
        assert!(start < hot && hot < rest);
    }

    #[test]
    fn the_stack_follows_the_heap_on_a_page_of_its_own() {
        let s = stack_on_own_pages(&script(DEFAULT_BASE, "", None));
        let at = |x: &str| s.find(x).unwrap_or_else(|| panic!("{x} in {s}"));
        assert!(at(".bss :") < at("__sel4_runtime_main4HEAP"));
        let aligned = ". = ALIGN(4096);\n        __sel4_stack_bottom = .;";
        assert!(at("__sel4_runtime_main4HEAP") < at(aligned));
        assert!(at(aligned) < at("entry5STACK"));
        assert!(at("entry5STACK") < at("ABSOLUTE(__sel4_stack_top) % 4096 == 0"));
        assert!(at("ABSOLUTE(__sel4_stack_top) % 4096 == 0") < at("*(.bss .bss.*)"));
    }

    #[test]
    fn images_go_after_the_bss_and_the_end_is_aligned() {
        let s = script(DEFAULT_BASE, "", Some(4 << 20));
        let at = |x: &str| s.find(x).unwrap_or_else(|| panic!("{x} in {s}"));
        assert!(at("data   PT_LOAD") < at("images PT_LOAD"));
        assert!(at(".bss :") < at(".images :"));
        assert!(at(".images :") < at(".images_end (NOLOAD)"));
        assert!(at("ALIGN(0x400000)") < at("_end = ."));
        assert!(!script(DEFAULT_BASE, "", None).contains(".images"));
    }
}
