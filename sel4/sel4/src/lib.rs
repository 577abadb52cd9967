//! Our interface to the seL4 5.0.0 kernel on x86_64: system calls, IPC
//! buffer, capabilities, boot information, faults, and a stub for every
//! method of the kernel's interface XML.
//!
//! Numbers (syscalls, invocation labels, object types, errors) are generated
//! at build time by `build.rs` from the same kernel source tree and
//! configuration (`autoconf.h`) that `cargo qemu` builds the kernel from; see
//! `build/README.md`. Names follow rust-sel4 where that costs nothing, so a
//! later move to upstream stays small.
//!
//! Map:
//! * invocations: methods on typed caps, `<interface>_<method>` in snake
//!   case (`Cap<cap_type::Untyped>::untyped_retype`,
//!   `cap::Granule::x86_page_map`, ...), each returning [`Result`]; the pure
//!   marshalling is in [`invocations::encode`] / [`invocations::decode`];
//! * numbers: [`Syscall`], [`InvocationLabel`], [`ObjectType`], [`Error`],
//!   [`config`], [`consts`], [`init_cap`];
//! * [`BootInfo`] (from a pointer or a byte slice) and [`Fault`] decoding.
//!
//! seL4 5.0.0 differences worth knowing: there is no IOPortControl (the
//! initial `init_cap::IO_PORT` covers every port; narrow it with
//! `cnode_mint` and [`CapData::io_port_range`]); `TCB_Configure` takes a
//! [`PrioProps`]; badges are [`CapData::badge`]s; and stock 5.0.0 reports
//! only the low 32 bits of a page fault's address, which our kernel build
//! patches (see [`fault`]).
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
pub use invocations::{invocations, invoke, Request};
pub use ipc_buffer::{
    forget_ipc_buffer_borrow, get_badge, get_mr, init_ipc_buffer, set_cap, set_mr,
    set_receive_path, with_ipc_buffer_mut, IpcBuffer, MSG_MAX_EXTRA_CAPS, MSG_MAX_LENGTH,
};
pub use labels::{InvocationLabel, Syscall};
pub use message_info::MessageInfo;
pub use object::{consts, ObjectType};
pub use syscalls::*;
pub use types::{CapData, CapRights, PrioProps, UserContext, VcpuContext, VmAttributes};
