//! Host benchmarks of the swap building blocks.
fn main() {}
