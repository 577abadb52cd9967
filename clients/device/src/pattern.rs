//! The bytes of the device region `client-device` writes and `cargo qemu test` checks in the host file behind QEMU's ivshmem-plain (shared by both through `#[path]`, so they cannot drift apart).
//!
//! Before the boot the host writes a seed (never 0) into word 0 of the
//! file; the client reads it through its mapping and writes
//! [`word`]`(seed, i)` into every other 8-byte word `i` of the region,
//! so each page, and each run, holds bytes of its own.

/// The word that holds the host's seed.
pub const SEED_WORD: u64 = 0;

/// Word `i` (counted from the region's start) for `seed`: splitmix64 of
/// both, distinct for every page and word.
pub fn word(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
