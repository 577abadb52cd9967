//! Links the root task as an seL4 program (see `sel4-link`) and embeds the
//! component images.
//!
//! `cargo qemu` builds every component first and passes their ELF files as
//! `SEL4_COMPONENT_IMAGES=name=path,name=path,...`; they become the
//! `IMAGES` table in `$OUT_DIR/images.rs` (the kernel loads only the root
//! task, so the other programs travel inside it). A plain `cargo build`
//! without the variable embeds no components. `SEL4_SYSTEM_SPEC` names the
//! encoded system spec the same way.
use std::fmt::Write;

fn main() {
    sel4_link::link_program();

    println!("cargo:rerun-if-env-changed=SEL4_COMPONENT_IMAGES");
    let mut table = String::from(
        "/// Component ELF images, by image name.\npub static IMAGES: &[(&str, &[u8])] = &[\n",
    );
    if let Ok(list) = std::env::var("SEL4_COMPONENT_IMAGES") {
        for item in list.split(',').filter(|s| !s.is_empty()) {
            let (name, path) = item
                .split_once('=')
                .expect("SEL4_COMPONENT_IMAGES items are name=path");
            println!("cargo:rerun-if-changed={path}");
            writeln!(table, "    ({name:?}, include_bytes!({path:?})),").unwrap();
        }
    }
    table.push_str("];\n");
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
