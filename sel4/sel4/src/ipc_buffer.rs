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

/// The calling thread's `user_data` word, read through GS.
fn user_data() -> Word {
    let w: Word;
    // SAFETY: one load from gs:USER_DATA_OFFSET, no stack, no writes, no
    // flags, as the options say. seL4 loads GS base with the current
    // thread's IPC buffer address on every return to user mode, so the
    // load reads this thread's own buffer (a thread without one takes a
    // VM fault on it rather than reading anything else).
    unsafe {
        asm!("mov {}, gs:[{}]", out(reg) w, in(reg) USER_DATA_OFFSET, options(nostack, readonly, preserves_flags));
    }
    w
}

/// Writes the calling thread's `user_data` word through GS.
fn set_user_data(w: Word) {
    // SAFETY: one store to gs:USER_DATA_OFFSET of this thread's own IPC
    // buffer (see `user_data`), no stack, no flags; no reference to the
    // buffer is alive when the callers store (they make or end one
    // around it), so the store aliases nothing.
    unsafe {
        asm!("mov gs:[{}], {}", in(reg) USER_DATA_OFFSET, in(reg) w, options(nostack, preserves_flags));
    }
}

/// Set in `user_data` while a `&mut IpcBuffer` is handed out: the buffer
/// is 512-byte aligned, so the address's low bits are free.
const BORROWED: Word = 1;

/// Runs `f` with the calling thread's IPC buffer.
///
/// The thread must have been set up with [`init_ipc_buffer`] (else this
/// panics). `f` must not make system calls or reach the buffer again
/// (`get_mr`, `set_mr`, another `with_ipc_buffer_mut`): a nested use
/// panics instead of making a second `&mut` to the buffer.
#[inline(always)]
pub fn with_ipc_buffer_mut<R>(f: impl FnOnce(&mut IpcBuffer) -> R) -> R {
    let raw = user_data();
    assert!(
        raw & BORROWED == 0,
        "IPC buffer used inside with_ipc_buffer_mut"
    );
    let p = (raw & !BORROWED) as *mut IpcBuffer;
    assert!(!p.is_null(), "IPC buffer not initialised (init_ipc_buffer)");
    set_user_data(raw | BORROWED);
    // SAFETY: `p` is this thread's IPC buffer (its own address, recorded by
    // `init_ipc_buffer`), mapped read-write for the thread's life. The
    // `BORROWED` mark makes any nested use panic before it could make a
    // second reference, and the kernel writes the buffer only during a
    // system call, which `f` may not make; so this `&mut` is unique.
    let r = f(unsafe { &mut *p });
    set_user_data(raw);
    r
}

/// Ends a borrow of the IPC buffer that will never end by itself: for
/// the panic handler, since a panic inside `with_ipc_buffer_mut`'s closure
/// never returns to it, and the handler needs the buffer to report.
pub fn forget_ipc_buffer_borrow() {
    set_user_data(user_data() & !BORROWED);
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
