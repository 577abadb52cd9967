//! The raw-disk floor rounds `block-test` measures on request, so that a
//! benchmark can interleave them with the operations it compares against
//! them (`cargo qemu bench`: the page-in fault and swap throughput rows).
//!
//! Not the block server's protocol: a `Call` on an endpoint block-test
//! receives on (the spec's `floor_ep`), after its tests and raw benchmark
//! are through. Label = the measure, MR0 = its size; the reply's label is
//! 0 with MR0 = the result, or [`FLOOR_FAILED`] with no words.

/// MR0 reads of one block, one at a time, spread over block-test's area:
/// the reply is their median in TSC cycles.
pub const FLOOR_READ_4K: u64 = 1;
/// MR0 MiB written in 64 KiB requests, 8 in flight: the reply is the rate
/// in KB/s (10^3 bytes per second).
pub const FLOOR_WRITE_RATE: u64 = 2;
/// As [`FLOOR_WRITE_RATE`], read.
pub const FLOOR_READ_RATE: u64 = 3;
/// Reply label: unknown measure, a size out of range, or an I/O error.
pub const FLOOR_FAILED: u64 = 1;
/// The most MiB one rate round may move (block-test's benchmark area).
pub const FLOOR_MAX_MIB: u64 = 32;
/// The most reads one latency round may make.
pub const FLOOR_MAX_READS: u64 = 256;
