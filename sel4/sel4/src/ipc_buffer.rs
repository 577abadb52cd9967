//! The IPC buffer: message registers beyond the four passed in registers,
//! extra caps, and the receive slot.
//!
//! On x86_64 seL4 5.0 the kernel loads each thread's GS base with its IPC
//! buffer address on every return to user mode, so the buffer is reached
//! through `gs:` and is naturally per thread. Like libsel4 we keep the
//! buffer's own address in its `user_data` word (written by whoever sets the
//! thread up, see [`init_ipc_buffer`]) so Rust code can take an ordinary
//! reference to it.

use crate::Word;
use core::arch::asm;

/// Number of message registers in the IPC buffer (`seL4_MsgMaxLength`).
pub const MSG_MAX_LENGTH: usize = 120;
/// Maximum number of extra caps per message (`seL4_MsgMaxExtraCaps`).
pub const MSG_MAX_EXTRA_CAPS: usize = 3;

/// `seL4_IPCBuffer`, laid out exactly as the kernel expects.
#[repr(C)]
#[derive(Clone)]
pub struct IpcBuffer {
    pub tag: Word,
    pub msg: [Word; MSG_MAX_LENGTH],
    pub user_data: Word,
    pub caps_or_badges: [Word; MSG_MAX_EXTRA_CAPS],
    pub receive_cnode: Word,
    pub receive_index: Word,
    pub receive_depth: Word,
}

const USER_DATA_OFFSET: usize = core::mem::offset_of!(IpcBuffer, user_data);

/// Records the buffer's own address in its `user_data` word.
///
/// # Safety
/// `buffer` must be the calling thread's IPC buffer (the one its TCB names).
pub unsafe fn init_ipc_buffer(buffer: *mut IpcBuffer) {
    // SAFETY: the caller guarantees `buffer` is an IPC buffer mapped
    // read-write here; the kernel only accepts a 512-byte-aligned one, so
    // the one-word write through the raw pointer is in bounds and aligned,
    // and it makes no reference that could alias another.
    unsafe { (*buffer).user_data = buffer as Word };
}

/// Address of the calling thread's IPC buffer, read through GS.
fn ipc_buffer_ptr() -> *mut IpcBuffer {
    let p: Word;
    // SAFETY: one load from gs:USER_DATA_OFFSET, no stack, no writes, no
    // flags, as the options say. seL4 loads GS base with the current
    // thread's IPC buffer address on every return to user mode, so the
    // load reads this thread's own buffer (a thread without one takes a
    // VM fault on it rather than reading anything else).
    unsafe {
        asm!("mov {}, gs:[{}]", out(reg) p, in(reg) USER_DATA_OFFSET, options(nostack, readonly, preserves_flags));
    }
    p as *mut IpcBuffer
}

/// Runs `f` with the calling thread's IPC buffer.
///
/// The thread must have been set up with [`init_ipc_buffer`]. The closure
/// must not make system calls (they rewrite the buffer underneath it).
#[inline(always)]
pub fn with_ipc_buffer_mut<R>(f: impl FnOnce(&mut IpcBuffer) -> R) -> R {
    // SAFETY: the buffer is private to this thread; the closure form keeps
    // the borrow from living across a system call.
    // FIXME: not enforced: `f` calling this function again (a syscall
    // wrapper, `get_mr`, `set_mr`) makes a second `&mut` to the buffer,
    // and a thread whose `user_data` was never set dereferences 0.
    f(unsafe { &mut *ipc_buffer_ptr() })
}

/// Reads message register `i`.
pub fn get_mr(i: usize) -> Word {
    with_ipc_buffer_mut(|b| b.msg[i])
}

/// Writes message register `i`.
pub fn set_mr(i: usize, value: Word) {
    with_ipc_buffer_mut(|b| b.msg[i] = value)
}

/// Sets extra cap `i` of the next message.
pub fn set_cap(i: usize, cap: crate::CPtr) {
    with_ipc_buffer_mut(|b| b.caps_or_badges[i] = cap.bits())
}

/// Badge of extra cap `i` of the last received message (when unwrapped).
pub fn get_badge(i: usize) -> Word {
    with_ipc_buffer_mut(|b| b.caps_or_badges[i])
}

/// Sets where a cap received in the next message is stored.
pub fn set_receive_path(cnode: crate::CPtr, index: crate::CPtr, depth: u8) {
    with_ipc_buffer_mut(|b| {
        b.receive_cnode = cnode.bits();
        b.receive_index = index.bits();
        b.receive_depth = depth as Word;
    })
}
