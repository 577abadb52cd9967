//! What the specs under `capdl/` may name: every seL4 program of the
//! workspace (the images `cargo qemu` builds).

pub const IMAGES: &[&str] = &[
    "vm-server",
    "block-server",
    "block-test",
    "bench-fault",
    "vmstat",
    "client-demand-zero",
    "client-mprotect",
    "client-fork-cow",
    "client-fork-pressure",
    "client-shm-a",
    "client-shm-b",
    "client-bad-requests",
    "client-pagein-error",
    "client-panic",
    "client-swap-hog",
    "client-swap-bystander",
    "client-madv-free",
    "client-minherit-copy",
    "client-mlock-pressure",
    "client-munmap-slots",
    "client-stats",
];
