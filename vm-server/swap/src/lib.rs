//! Swap-side building blocks of the VM server: the swap-slot allocator, per-object swap metadata, the asynchronous block-device boundary, a fault-injecting RAM disk, replacement policies, trace replay and counters (pure `no_std` library).
//!
//! TODO(crate docs): filled in below.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod blist;
pub mod counters;
pub mod device;
pub mod policy;
pub mod ramdisk;
pub mod swapmeta;
pub mod trace;

pub use blist::{Blist, SwapSlot, BLIST_MAX_ALLOC};
pub use counters::SwapStats;
pub use device::{
    BlockDevice, BufferId, IoCompletion, IoError, IoOp, IoRequest, IoStatus, IoTag, BLOCK_SIZE,
};
pub use policy::{
    ClockConfig, ClockPolicy, FifoPolicy, FrameId, PageKey, PolicyHost, PolicyStats,
    ReplacementPolicy, TwoQPolicy,
};
pub use ramdisk::{Delay, RamDisk, RamDiskStats};
pub use swapmeta::{SwBlock, SwapMeta, SwapRun, SWAP_META_PAGES};
