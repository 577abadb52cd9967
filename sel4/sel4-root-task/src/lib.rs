//! Runtime for programs on seL4: the root task and every component the root
//! task starts. It owns the entry point (`_start` sets up the stack and calls
//! the program's main), the heap (a `linked_list_allocator` over a static
//! array), the panic handler (location and message on the debug console,
//! then the program's panic hook or `seL4_DebugHalt`), the `mem*` functions
//! the compiler expects from a libc. Binaries link with the `sel4-link`
//! build helper's linker script.
//!
//! A binary declares its entry with [`root_task!`] (its argument is the
//! boot info the kernel passes in rdi) or [`component!`] (its argument is
//! the word its creator put in rdi).
#![cfg_attr(not(test), no_std)]

pub use sel4;

mod console;
pub mod control;
#[cfg(not(test))]
mod entry;
pub mod heap;
#[cfg(not(test))]
mod mem;
#[cfg(not(test))]
mod panic;
pub mod start_info;

pub use console::{debug_write_fmt, print_routed_line, route_to_root, DebugConsole};
#[cfg(not(test))]
pub use panic::set_panic_hook;

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
    unsafe {
        let ipc = bootinfo
            .add(BOOTINFO_IPC_BUFFER_OFFSET)
            .cast::<*mut sel4::IpcBuffer>()
            .read_unaligned();
        sel4::init_ipc_buffer(ipc);
        heap::init(heap, heap_size);
    }
}

/// Prepares a component whose creator already recorded its IPC buffer's
/// address in the buffer's `user_data` word (see `sel4::init_ipc_buffer`;
/// the root task maps it at [`start_info::IPC_BUFFER_VADDR`]).
///
/// # Safety
/// Called once, from the entry point.
#[doc(hidden)]
pub unsafe fn init_component(heap: *mut u8, heap_size: usize) {
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
            unsafe {
                $crate::init_component(core::ptr::addr_of_mut!(HEAP).cast(), $heap);
            }
            // SAFETY: the root task mapped the start-info page at `arg`.
            let info = unsafe { &*(arg as *const $crate::start_info::StartInfo) };
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
