//! Links the root task as a static, non-PIE seL4 program with the runtime's linker script.
fn main() {
    let script = std::env::var("DEP_SEL4_ROOT_TASK_LINKER_SCRIPT")
        .expect("sel4-root-task publishes its linker script");
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
    println!("cargo:rustc-link-arg-bins=-T{script}");
}
