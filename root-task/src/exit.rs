//! Leaving QEMU: the root task writes an exit code to the isa-debug-exit
//! device's port through the kernel's global I/O-port capability, which
//! makes QEMU exit with status `(code << 1) | 1`.

use sel4_root_task::println;

/// I/O port of QEMU's isa-debug-exit device (`cargo qemu` adds the device).
const DEBUG_EXIT_PORT: u64 = 0xf4;
/// Exit codes (`cargo qemu`'s `machine::GUEST_SUCCESS`/`GUEST_FAILURE`).
/// Not 0: QEMU's status for code 0 would be 1, which is also what QEMU
/// returns when it fails to start, and a run that never booted must not
/// pass.
pub const SUCCESS: u32 = 0x2a;
pub const FAILURE: u32 = 0x2b;

/// Ends the run with `code`; halts the kernel if there is no debug-exit device.
pub fn exit_qemu(code: u32) -> ! {
    println!("root-task: exit code {code}");
    let _ = sel4::init_cap::IO_PORT.x86_io_port_out32(DEBUG_EXIT_PORT, code as u64);
    // Only reached without the debug-exit device (e.g. on real hardware).
    sel4::debug_halt();
    loop {
        core::hint::spin_loop();
    }
}

/// Panic hook: a panicking root task fails the run.
pub fn panic_exit() {
    exit_qemu(FAILURE)
}
