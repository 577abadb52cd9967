//! Formatted output on the kernel's debug console (`seL4_DebugPutChar`, COM1).
//!
//! Unlocked: each character is one system call, so lines of two threads
//! may interleave, which is acceptable for a debug console.

use core::fmt;

/// `core::fmt::Write` over `seL4_DebugPutChar`.
pub struct DebugConsole;

impl fmt::Write for DebugConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        #[cfg(not(test))]
        sel4::debug_print(s);
        #[cfg(test)]
        let _ = s;
        Ok(())
    }
}

/// Writes formatted text to the debug console.
pub fn debug_write_fmt(args: fmt::Arguments<'_>) {
    let _ = fmt::Write::write_fmt(&mut DebugConsole, args);
}
