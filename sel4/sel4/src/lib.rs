//! Our interface to the seL4 5.0.0 kernel on x86_64: system calls, IPC
//! buffer, capabilities, boot information, faults, and a stub for every
//! method of the kernel's interface XML.
//!
//! Numbers (syscalls, invocation labels, object types, errors) are generated
//! at build time by `build.rs` from the same kernel source tree and
//! configuration (`autoconf.h`) that `cargo qemu` builds the kernel from; see
//! `build/README.md`. Names follow rust-sel4 where that costs nothing, so a
//! later move to upstream stays small.
#![cfg_attr(not(test), no_std)]

/// A machine word; every message register and capability address is one.
pub type Word = u64;

pub mod bootinfo;
pub mod config;
mod cptr;
mod error;
pub mod fault;
pub mod invocations;
mod ipc_buffer;
mod labels;
mod message_info;
mod object;
mod syscalls;
mod types;

pub use bootinfo::{init_cap, BootInfo, BootInfoError, UntypedDesc};
pub use cptr::{cap, cap_type, CPtr, Cap, CapType};
pub use error::{Error, Result};
pub use fault::Fault;
pub use invocations::{invoke, Request};
pub use ipc_buffer::{
    get_badge, get_mr, init_ipc_buffer, set_cap, set_mr, set_receive_path, with_ipc_buffer_mut,
    IpcBuffer, MSG_MAX_EXTRA_CAPS, MSG_MAX_LENGTH,
};
pub use labels::{InvocationLabel, Syscall};
pub use message_info::MessageInfo;
pub use object::{consts, ObjectType};
pub use syscalls::*;
pub use types::{CapData, CapRights, PrioProps, UserContext, VcpuContext, VmAttributes};
