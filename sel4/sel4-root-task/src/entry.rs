//! `_start`: the first instruction of every program.
//!
//! The kernel (for the root task) or the root task (for components) starts a
//! thread at `_start` with its one argument in rdi and no usable stack, so
//! the entry switches to a static stack, keeps rdi, and calls the main the
//! binary declared with `root_task!`/`component!`.

use core::arch::global_asm;

/// Stack of the program's first thread.
const STACK_SIZE: usize = 256 * 1024;

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

static mut STACK: Stack = Stack([0; STACK_SIZE]);

global_asm!(
    ".section .text._start, \"ax\"",
    ".global _start",
    "_start:",
    "    lea rsp, [rip + {stack} + {size}]",
    "    xor ebp, ebp",
    // The System V ABI wants rsp + 8 aligned at function entry.
    "    call __sel4_runtime_main",
    "    ud2",
    stack = sym STACK,
    size = const STACK_SIZE,
);

// The precompiled `core` for x86_64-unknown-linux-gnu was built with
// unwinding; with panic=abort nothing unwinds, but the symbols must exist.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

#[no_mangle]
extern "C" fn _Unwind_Resume() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
