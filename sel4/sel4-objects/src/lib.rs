//! Kernel-object bookkeeping every seL4 program that builds things needs:
//! which capability slots are free ([`SlotAllocator`]), how much of each
//! untyped is used ([`UntypedAllocator`]), and mapping frames with the
//! paging structures created on the way ([`map_page`]), and starting a
//! thread at a function ([`start_thread`]). The root task and the servers
//! use the same code.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod slots;
mod thread;
mod untyped;
mod vspace;

pub use slots::SlotAllocator;
pub use thread::{start_thread, ThreadEntry};
pub use untyped::{AllocError, UntypedAllocator};
pub use vspace::{map_large_page_attrs, map_page, map_page_attrs, MapError};
