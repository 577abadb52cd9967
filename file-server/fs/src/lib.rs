//! `file-fs`: the file server's filesystem and request handling, with no unsafe code and no kernel calls, so all of it runs in host tests.
//!
//! | file | what |
//! | --- | --- |
//! | [`device`] | the [`BlockDevice`] trait (the server's block channel, the tests' [`MemDisk`]) and the byte reader `ext4-view` reads through |
//! | [`volume`] | the filesystem: open, stat and read through `ext4-view`; in-place writes; reloading after a write |
//! | [`layout`] | the narrow part written here: superblock geometry, inodes, block maps and extent trees, directory lookup — where a file's blocks are |
//! | [`service`] | `file-api`'s `FileService`: per-client handles, rights, bounds |
//! | [`pager`] | the pager of file mappings: what a `Map` asks for, whole pages read and written back by inode number |
//!
//! Why `ext4-view` reads and this crate writes, and how they stay
//! coherent, is in `docs/file-server.md`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod device;
pub mod layout;
pub mod pager;
pub mod service;
pub mod volume;

pub use device::{BlockDevice, DeviceError, MemDisk, BLOCK_SIZE};
pub use layout::{Layout, LayoutError, Mapping};
pub use pager::{MapTarget, PagerLink, PROGRAM_DIR};
pub use service::{Counters, FileServer, HANDLES_PER_CLIENT};
pub use volume::{Node, Volume};
