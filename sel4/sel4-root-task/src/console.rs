//! Formatted output on the kernel's debug console (`seL4_DebugPutChar`, COM1).
//!
//! Each character is one system call, so two threads printing at once
//! could interleave mid-line (and did: a torn `TEST PASS` line fails a
//! run). So components send each line to the root task as one message
//! (`control::CONSOLE`, a non-blocking send) and the root task, at the
//! highest priority, prints it whole. The root task itself, and any
//! program before [`route_to_root`], prints directly. If the root task is
//! not receiving (it has finished), the line is dropped rather than
//! blocking the component.

use crate::control::{pack_text, unpack_text, TEXT_MAX};
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

/// The endpoint lines go to; 0 = print directly.
static CONSOLE_EP: AtomicU64 = AtomicU64::new(0);

/// Sends this program's console lines through the root task's control
/// endpoint (the cap in `control::ROOT_SLOT`).
pub fn route_to_root() {
    CONSOLE_EP.store(crate::control::ROOT_SLOT, Ordering::Relaxed);
}

/// Bytes one console message carries: the message registers after the length.
const LINE_MAX: usize = TEXT_MAX;

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

/// Collects formatted text and sends it to the root task in messages.
struct RoutedLine {
    ep: u64,
    buf: [u8; LINE_MAX],
    len: usize,
}

impl RoutedLine {
    fn flush(&mut self) {
        if self.len == 0 {
            return;
        }
        let words = sel4::with_ipc_buffer_mut(|b| pack_text(&mut b.msg, &self.buf[..self.len]));
        let info = sel4::MessageInfo::new(crate::control::CONSOLE, 0, 0, words as u64);
        sel4::nb_send(sel4::CPtr::from_bits(self.ep), info);
        self.len = 0;
    }
}

impl fmt::Write for RoutedLine {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == LINE_MAX {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Writes formatted text to the debug console (through the root task once
/// routed).
pub fn debug_write_fmt(args: fmt::Arguments<'_>) {
    match CONSOLE_EP.load(Ordering::Relaxed) {
        0 => {
            let _ = fmt::Write::write_fmt(&mut DebugConsole, args);
        }
        ep => {
            let mut line = RoutedLine {
                ep,
                buf: [0; LINE_MAX],
                len: 0,
            };
            let _ = fmt::Write::write_fmt(&mut line, args);
            line.flush();
        }
    }
}

/// Copies the text of a received `CONSOLE` or `PANIC` message (`info`)
/// out of the caller's IPC buffer into `out`; returns it (or a marker if
/// it is not UTF-8). Called by the root task.
pub fn received_text(info: sel4::MessageInfo, out: &mut [u8; TEXT_MAX]) -> &str {
    let words = (info.length() as usize).min(sel4::MSG_MAX_LENGTH);
    let len = sel4::with_ipc_buffer_mut(|b| unpack_text(&b.msg[..words], out));
    core::str::from_utf8(&out[..len]).unwrap_or("<bad utf-8>\n")
}

/// Prints a console message a component sent (`control::CONSOLE`, `info`)
/// from the caller's IPC buffer. Called by the root task.
pub fn print_routed_line(info: sel4::MessageInfo) {
    let mut buf = [0u8; TEXT_MAX];
    let _ = fmt::Write::write_str(&mut DebugConsole, received_text(info, &mut buf));
}
