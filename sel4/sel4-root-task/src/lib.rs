//! Runtime for programs on seL4: the root task and every component the root
//! task starts. It owns the entry point (`_start` sets up the stack and calls
//! the program's main), the heap (`talc` over a static array or memory the
//! program maps), the panic handler (the program's name, location and
//! message on the console, then the program's panic hook, or a `PANIC`
//! report to the root task and the thread suspended: a panic ends its
//! program, never the system; see [`mod@panic`]), the `mem*` functions the
//! compiler expects from a libc. Binaries link with the `sel4-link` build
//! helper's linker script.
//!
//! A binary declares its entry with [`root_task!`] (its argument is the
//! boot info the kernel passes in rdi) or [`component!`] (its argument is
//! the word its creator put in rdi).
#![cfg_attr(not(test), no_std)]

pub use sel4;

mod console;
pub mod control;
pub mod device_info;
#[cfg(not(test))]
mod entry;
pub mod heap;
#[cfg(not(test))]
mod mem;
pub mod panic;
pub mod start_info;

pub use console::{debug_write_fmt, print_routed_line, received_text, route_to_root, DebugConsole};
pub use panic::{set_panic_hook, set_program_name};

/// Offset of `ipcBuffer` in `seL4_BootInfo` (after extraLen, nodeID,
/// numNodes, numIOPTLevels); the runtime needs only this field before the
/// program parses the rest.
const BOOTINFO_IPC_BUFFER_OFFSET: usize = 4 * core::mem::size_of::<sel4::Word>();

/// Prepares the root task: its IPC buffer and heap.
///
/// # Safety
/// Called once, from the entry point, with the kernel's boot info pointer.
#[doc(hidden)]
pub unsafe fn init_root_task(bootinfo: *const u8, heap: *mut u8, heap_size: usize) {
    // SAFETY: the caller passes the kernel's boot info frame (a mapped
    // page; `read_unaligned` as seL4_BootInfo is packed), whose `ipcBuffer`
    // is the initial thread's IPC buffer, mapped read-write by the kernel;
    // and, once, heap memory nothing else uses (`root_task!`'s HEAP).
    unsafe {
        let ipc = bootinfo
            .add(BOOTINFO_IPC_BUFFER_OFFSET)
            .cast::<*mut sel4::IpcBuffer>()
            .read_unaligned();
        sel4::init_ipc_buffer(ipc);
        heap::init(heap, heap_size);
    }
    panic::set_program_name("root-task");
}

/// Prepares a component whose creator already recorded its IPC buffer's
/// address in the buffer's `user_data` word (see `sel4::init_ipc_buffer`;
/// the root task maps it at [`start_info::IPC_BUFFER_VADDR`]): its heap,
/// and the name its panic lines carry, from its start-info page `info`.
///
/// # Safety
/// Called once, from the entry point, with the start-info page's address.
#[doc(hidden)]
pub unsafe fn init_component(info: *const start_info::StartInfo, heap: *mut u8, heap_size: usize) {
    // SAFETY: the root task mapped the start-info page at `info` (and a
    // pager maps a forked child's copy at the same address).
    let info = unsafe { &*info };
    if info.magic == start_info::START_INFO_MAGIC {
        panic::set_program_name(info.name());
    }
    // SAFETY: the caller's heap memory, handed over once.
    unsafe { heap::init(heap, heap_size) }
}

/// Declares the root task's main: `fn main(bootinfo: *const u8) -> !`.
///
/// `heap_size` bytes of `.bss` back the global allocator.
#[macro_export]
macro_rules! root_task {
    ($main:path, heap_size = $heap:expr) => {
        #[no_mangle]
        extern "C" fn __sel4_runtime_main(arg: usize) -> ! {
            static mut HEAP: [u8; $heap] = [0; $heap];
            // SAFETY: called once, here, from `_start`; `arg` is the boot
            // info pointer the kernel passes the root task in rdi, and HEAP
            // is used by nothing else.
            unsafe {
                $crate::init_root_task(
                    arg as *const u8,
                    core::ptr::addr_of_mut!(HEAP).cast(),
                    $heap,
                );
            }
            $main(arg as *const u8)
        }
    };
}

/// Declares a component's main: `fn main(info: &'static StartInfo) -> !`.
///
/// The root task starts components with the address of their start-info
/// page in rdi (see [`start_info`]).
#[macro_export]
macro_rules! component {
    ($main:path, heap_size = $heap:expr) => {
        #[no_mangle]
        extern "C" fn __sel4_runtime_main(arg: usize) -> ! {
            static mut HEAP: [u8; $heap] = [0; $heap];
            let info = arg as *const $crate::start_info::StartInfo;
            // SAFETY: called once, here; the root task mapped the start-info
            // page at `arg` and HEAP is used by nothing else.
            unsafe {
                $crate::init_component(info, core::ptr::addr_of_mut!(HEAP).cast(), $heap);
            }
            // SAFETY: the root task mapped the start-info page at `arg`.
            let info = unsafe { &*info };
            if info.cap("root").is_some() {
                $crate::route_to_root();
            }
            $main(info)
        }
    };
}

/// Prints to the seL4 debug console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::debug_write_fmt(format_args!($($arg)*)) };
}

/// Prints a line to the seL4 debug console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::debug_write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
