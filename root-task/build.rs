//! Links the root task as an seL4 program (see `sel4-link`) and embeds the
//! component images.
//!
//! `cargo qemu` builds every component first and passes their ELF files as
//! `SEL4_COMPONENT_IMAGES=name=path,name=path,...`; they become the
//! `IMAGES` table in `$OUT_DIR/images.rs` (the kernel loads only the root
//! task, so the other programs travel inside it). They are linked last, in
//! `.images`, and the root task's end is rounded up to [`IMAGES_END_ALIGN`]
//! (`sel4_link::Layout`): so neither the root task's own data nor the
//! physical addresses of what the kernel and the root task make after it
//! move when a program grows or shrinks. The benchmark floors' code goes
//! first in the text (`hot-text.ld`), so it stays on one page whatever
//! the rest of the root task becomes. A plain `cargo build`
//! without the variable embeds no components. `SEL4_SYSTEM_SPEC` names the
//! encoded system spec the same way.
use std::fmt::Write;

/// The root task's end is a multiple of this. 4 MiB: a shift by a multiple
/// of it keeps QEMU's software-TLB indices and the host's cache sets, and
/// costs at most that much memory (docs/performance.md, "The floors and
/// the layout").
const IMAGES_END_ALIGN: u64 = 4 << 20;

fn main() {
    sel4_link::link_program_with(&sel4_link::Layout {
        base: sel4_link::DEFAULT_BASE,
        hot_text: Some("hot-text.ld"),
        images_end_align: Some(IMAGES_END_ALIGN),
        stack_on_own_pages: false,
    });

    println!("cargo:rerun-if-env-changed=SEL4_COMPONENT_IMAGES");
    let mut table = String::from(
        "/// Component ELF images, by image name.\npub static IMAGES: &[(&str, &[u8])] = &[\n",
    );
    let mut statics = String::new();
    if let Ok(list) = std::env::var("SEL4_COMPONENT_IMAGES") {
        for (i, item) in list.split(',').filter(|s| !s.is_empty()).enumerate() {
            let (name, path) = item
                .split_once('=')
                .expect("SEL4_COMPONENT_IMAGES items are name=path");
            println!("cargo:rerun-if-changed={path}");
            let len = std::fs::metadata(path)
                .unwrap_or_else(|e| panic!("{path}: {e}"))
                .len();
            writeln!(
                statics,
                "#[unsafe(link_section = \".images\")]\nstatic IMAGE_{i}: [u8; {len}] = *include_bytes!({path:?});"
            )
            .unwrap();
            writeln!(table, "    ({name:?}, &IMAGE_{i}),").unwrap();
        }
    }
    table.push_str("];\n");
    table.push_str(&statics);
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out.join("images.rs"), table).unwrap();

    // The system spec in its compact form (`capdl::encode`), written by
    // `cargo qemu`; without it an empty blob, which the root task reports.
    println!("cargo:rerun-if-env-changed=SEL4_SYSTEM_SPEC");
    let spec = match std::env::var("SEL4_SYSTEM_SPEC") {
        Ok(path) => {
            println!("cargo:rerun-if-changed={path}");
            std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
        }
        Err(_) => Vec::new(),
    };
    std::fs::write(out.join("system.capdl"), spec).unwrap();
}
