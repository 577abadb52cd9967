//! The panic handler every seL4 program links: a panic ends the program
//! that panicked, never the system.
//!
//! It prints `<program>: panicked at file:line:col: message`, where
//! `<program>` is the component's name as the spec gives it (recorded from
//! its start-info page at start, so the handler reads no page that may be
//! gone; the root task is `root-task`). Then:
//!
//! * a program that set a panic hook ([`set_panic_hook`]) runs it. The root
//!   task's exits QEMU with a failure code; the client runtime's (`vm-client`)
//!   asks the client's pager to end it with `control::STATUS_PANICKED`, so
//!   the pager cleans it up like any exit and the root task reports that
//!   status. A hook that returns could not end the program, and the handler
//!   goes on as without one;
//! * any other program (the VM server, the block server, test components)
//!   reports to the root task (`control::PANIC`, with the message), which
//!   fails the run at once, and suspends its own thread (or, if even that
//!   fails, yields forever).
//!
//! The handler allocates nothing (a failed allocation is a common panic)
//! and a panic inside it (in a hook) only reports and stops.

use crate::start_info::NAME_LEN;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// The hook as a function-pointer address; 0 = none. Written once at start.
static PANIC_HOOK: AtomicUsize = AtomicUsize::new(0);
/// The program's name, zero-padded (see [`set_program_name`]).
static NAME: [AtomicU8; NAME_LEN] = [const { AtomicU8::new(0) }; NAME_LEN];

/// Sets what runs after the panic message is printed. The hook ends the
/// program; if it returns, the handler reports the panic to the root task
/// and stops the thread, as for a program without a hook.
pub fn set_panic_hook(hook: fn()) {
    PANIC_HOOK.store(hook as usize, Ordering::SeqCst);
}

/// Records the name panic lines start with (truncated to `NAME_LEN` bytes).
/// The runtime calls it at start: from the start-info page for a component,
/// `root-task` for the root task.
pub fn set_program_name(name: &str) {
    let bytes = name.as_bytes();
    for (i, slot) in NAME.iter().enumerate() {
        slot.store(bytes.get(i).copied().unwrap_or(0), Ordering::Relaxed);
    }
}

/// The recorded program name, copied into `buf` ("?" if none was recorded
/// or it is not UTF-8).
pub fn program_name(buf: &mut [u8; NAME_LEN]) -> &str {
    for (b, slot) in buf.iter_mut().zip(&NAME) {
        *b = slot.load(Ordering::Relaxed);
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    match core::str::from_utf8(&buf[..len]) {
        Ok(s) if !s.is_empty() => s,
        _ => "?",
    }
}

/// Formats into a fixed buffer, dropping what does not fit (whole
/// characters only, so the text stays UTF-8).
struct Truncating<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for Truncating<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let n = c.len_utf8();
            if self.len + n > self.buf.len() {
                return Ok(());
            }
            c.encode_utf8(&mut self.buf[self.len..]);
            self.len += n;
        }
        Ok(())
    }
}

/// Formats `args` into `buf`, truncated to its size; returns the bytes.
fn format_truncated<'a>(buf: &'a mut [u8], args: fmt::Arguments<'_>) -> &'a [u8] {
    let mut w = Truncating { buf, len: 0 };
    let _ = w.write_fmt(args);
    let len = w.len;
    &w.buf[..len]
}

/// The handler itself (not in host test builds, which have std's).
#[cfg(not(test))]
mod handler {
    use super::{format_truncated, program_name, PANIC_HOOK};
    use crate::control::{pack_text, PANIC, ROOT_SLOT, TEXT_MAX};
    use crate::start_info::NAME_LEN;
    use core::sync::atomic::{AtomicBool, Ordering};

    /// Set by the first panic: a second one (in the hook, or another
    /// thread) goes straight to reporting and stopping.
    static PANICKING: AtomicBool = AtomicBool::new(false);

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        // A panic inside `with_ipc_buffer_mut`'s closure left the buffer
        // marked borrowed; that closure never runs again.
        sel4::forget_ipc_buffer_borrow();
        if PANICKING.swap(true, Ordering::SeqCst) {
            report_and_stop(b"panicked while panicking");
        }
        let mut name = [0u8; NAME_LEN];
        let name = program_name(&mut name);
        let mut text = [0u8; TEXT_MAX];
        let text = format_truncated(&mut text, format_args!("{}", info.message()));
        let message = core::str::from_utf8(text).unwrap_or("?");
        match info.location() {
            Some(l) => crate::println!(
                "{name}: panicked at {}:{}:{}: {message}",
                l.file(),
                l.line(),
                l.column(),
            ),
            None => crate::println!("{name}: panicked: {message}"),
        }
        let hook = PANIC_HOOK.load(Ordering::SeqCst);
        if hook != 0 {
            // SAFETY: only `set_panic_hook` stores here, always a `fn()`.
            let hook: fn() = unsafe { core::mem::transmute(hook) };
            hook();
        }
        report_and_stop(text)
    }

    /// Tells the root task the program panicked with `message` (`PANIC`, a
    /// `Call` it never answers: it ends the run), then stops the thread.
    fn report_and_stop(message: &[u8]) -> ! {
        let words = sel4::with_ipc_buffer_mut(|b| pack_text(&mut b.msg, message));
        sel4::call(
            sel4::CPtr::from_bits(ROOT_SLOT),
            sel4::MessageInfo::new(PANIC, 0, 0, words as u64),
        );
        stop_thread()
    }

    /// Suspends the calling thread through its own TCB cap; if that fails
    /// (no such cap), yields forever.
    fn stop_thread() -> ! {
        let tcb = sel4::cap::Tcb::from_bits(capdl::slots::TCB as sel4::Word);
        let _ = tcb.tcb_suspend();
        loop {
            sel4::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_at_a_character() {
        let mut buf = [0u8; 8];
        let text = format_truncated(&mut buf, format_args!("{}-{}", "abcdé", 42));
        // "abcdé-" is 7 bytes: "4" fills the eighth, "2" is dropped.
        assert_eq!(text, "abcdé-4".as_bytes());
        let mut buf = [0u8; 5];
        let text = format_truncated(&mut buf, format_args!("abcdé"));
        assert_eq!(text, b"abcd", "é takes two bytes and only one is left");
        let mut buf = [0u8; 16];
        let text = format_truncated(&mut buf, format_args!("short"));
        assert_eq!(text, b"short");
    }

    #[test]
    fn program_name_is_recorded_truncated() {
        let mut buf = [0u8; NAME_LEN];
        set_program_name("");
        assert_eq!(program_name(&mut buf), "?");
        set_program_name("a-component-with-a-very-long-name");
        assert_eq!(program_name(&mut buf), "a-component-with-a-very-");
        set_program_name("vm-server");
        assert_eq!(program_name(&mut buf), "vm-server");
    }
}
