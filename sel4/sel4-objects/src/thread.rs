//! Starting a thread at a function of the caller's program: the register set of a call `entry(arg0, arg1)` on a given stack.

use alloc::format;
use alloc::string::String;
use sel4::cap;

/// Entry of a thread started by [`start_thread`]: two arguments, never
/// returns.
pub type ThreadEntry = extern "C" fn(u64, u64) -> !;

/// Starts (or restarts) `tcb` at `entry(arg0, arg1)` on the stack below
/// `stack_top`, as if called: the stack 16-byte aligned less the return
/// address's 8 bytes (the System V ABI at a function's first
/// instruction). The caller keeps the stack unused while the thread lives.
pub fn start_thread(
    tcb: cap::Tcb,
    entry: ThreadEntry,
    args: (u64, u64),
    stack_top: u64,
) -> Result<(), String> {
    let regs = sel4::UserContext {
        rip: entry as *const () as u64,
        rsp: (stack_top & !15) - 8,
        rdi: args.0,
        rsi: args.1,
        ..Default::default()
    };
    tcb.tcb_write_registers(
        true,
        0,
        (core::mem::size_of::<sel4::UserContext>() / 8) as u64,
        &regs,
    )
    .map_err(|e| format!("TCB start: {e:?}"))
}
