//! Links the VM server as an seL4 program (see `sel4-link`): its text at
//! 256 MiB, apart from the other programs' (4 MiB), so QEMU's `-dfilter`
//! can trace it alone, and the functions faults and requests run most
//! first (`hot-text.ld`, written by `cargo qemu bench --hot-text`), and
//! its stack on pages of its own after the heap, its top a page's end.
fn main() {
    sel4_link::link_program_with(&sel4_link::Layout {
        base: 0x1000_0000,
        hot_text: Some("hot-text.ld"),
        images_end_align: None,
        stack_on_own_pages: true,
    });
}
