//! Links this program as an seL4 program (see `sel4-link`).
fn main() {
    sel4_link::link_program();
}
