//! The x86_64 `syscall` ABI of seL4 5.0: one function per kernel system call.
//!
//! Register use (from libsel4's `syscalls_syscall.h`): rdx = syscall number,
//! rdi = destination cap or returned badge, rsi = message info, r10/r8/r9/r15
//! = message registers 0–3. The kernel returns to the user stack pointer
//! saved in rbx, and rbx is reserved in Rust `asm!`, so each block saves rbx
//! in a scratch register (r12), puts rsp in rbx, and restores both after.
//! Message registers beyond 3 live in the IPC buffer; these functions move
//! MR0–3 between registers and the IPC buffer, as libsel4's non-`WithMRs`
//! variants do, so callers only ever touch the IPC buffer.

use crate::ipc_buffer::with_ipc_buffer_mut;
use crate::{CPtr, MessageInfo, Syscall, Word};
use core::arch::asm;

/// Badge of the sender, as the kernel delivers it with a received message.
pub type Badge = Word;

/// Issues a system call that sends a message and receives one (Call, ReplyRecv).
///
/// # Safety
/// The syscall number must name a send-receive syscall.
#[inline(always)]
unsafe fn sys_send_recv(sys: Syscall, dest: Word, info: Word) -> (Word, Word) {
    let mut mr = with_ipc_buffer_mut(|b| [b.msg[0], b.msg[1], b.msg[2], b.msg[3]]);
    let out_info: Word;
    let out_badge: Word;
    // SAFETY: as libsel4's `x64_sys_send_recv`: the kernel's syscall return
    // path restores every register from the thread's saved context except
    // rcx/r11 (sysret), rsp (zeroed; put back from rbx) and the ones it
    // returns in (rdi, rsi, r10, r8, r9, r15), all declared here, and rbx
    // comes back from r12. The kernel validates every cap and reads or
    // writes no user memory but this thread's IPC buffer, which no Rust
    // reference borrows across the asm (not `nomem`, so the compiler
    // rereads it). The caller guarantees `sys` is a send-receive syscall,
    // whose results come back in exactly these registers.
    unsafe {
        asm!(
            "mov r12, rbx",
            "mov rbx, rsp",
            "syscall",
            "mov rsp, rbx",
            "mov rbx, r12",
            in("rdx") sys as i64,
            inout("rdi") dest => out_badge,
            inout("rsi") info => out_info,
            inout("r10") mr[0],
            inout("r8") mr[1],
            inout("r9") mr[2],
            inout("r15") mr[3],
            out("rcx") _,
            out("r11") _,
            out("r12") _,
        );
    }
    with_ipc_buffer_mut(|b| b.msg[..4].copy_from_slice(&mr));
    (out_info, out_badge)
}

/// Issues a system call that only sends (Send, NBSend, Reply).
///
/// # Safety
/// The syscall number must name a send-only syscall.
#[inline(always)]
unsafe fn sys_send(sys: Syscall, dest: Word, info: Word) {
    let mr = with_ipc_buffer_mut(|b| [b.msg[0], b.msg[1], b.msg[2], b.msg[3]]);
    // SAFETY: as libsel4's `x64_sys_send`: a send-only syscall (the
    // caller's guarantee) returns with every register restored from the
    // thread's saved context except rcx/r11 (sysret) and rsp (put back from
    // rbx), and rbx comes back from r12; all are declared here. The kernel
    // validates every cap and only reads this thread's IPC buffer, which
    // no Rust reference borrows across the asm.
    unsafe {
        asm!(
            "mov r12, rbx",
            "mov rbx, rsp",
            "syscall",
            "mov rsp, rbx",
            "mov rbx, r12",
            in("rdx") sys as i64,
            in("rdi") dest,
            in("rsi") info,
            in("r10") mr[0],
            in("r8") mr[1],
            in("r9") mr[2],
            in("r15") mr[3],
            out("rcx") _,
            out("r11") _,
            out("r12") _,
        );
    }
}

/// Issues a system call that only receives (Recv, NBRecv).
///
/// # Safety
/// The syscall number must name a receive syscall.
#[inline(always)]
unsafe fn sys_recv(sys: Syscall, src: Word) -> (Word, Word) {
    let mut mr = [0 as Word; 4];
    let out_info: Word;
    let out_badge: Word;
    // SAFETY: as libsel4's `x64_sys_recv`: a receive syscall (the caller's
    // guarantee) returns the badge, info and MR0-3 in rdi, rsi, r10, r8,
    // r9, r15, declared as outputs with rcx/r11 (sysret) and r12 (our rbx
    // save); rsp and rbx are put back before the asm ends. The kernel
    // validates `src` and writes no user memory but this thread's IPC
    // buffer, which no Rust reference borrows across the asm.
    unsafe {
        asm!(
            "mov r12, rbx",
            "mov rbx, rsp",
            "syscall",
            "mov rsp, rbx",
            "mov rbx, r12",
            in("rdx") sys as i64,
            inout("rdi") src => out_badge,
            out("rsi") out_info,
            out("r10") mr[0],
            out("r8") mr[1],
            out("r9") mr[2],
            out("r15") mr[3],
            out("rcx") _,
            out("r11") _,
            out("r12") _,
        );
    }
    with_ipc_buffer_mut(|b| b.msg[..4].copy_from_slice(&mr));
    (out_info, out_badge)
}

/// Issues a debug or argument-less system call with at most one argument in rdi.
///
/// # Safety
/// The syscall number must name a syscall taking only rdi (or nothing).
#[inline(always)]
unsafe fn sys_null(sys: Syscall, arg: Word) -> Word {
    let out: Word;
    // SAFETY: as libsel4's `x64_sys_null`: such a syscall (the caller's
    // guarantee) changes at most rdi and rsi besides rcx/r11 (sysret), all
    // declared, with r12 for our rbx save; rsp and rbx are put back before
    // the asm ends. The kernel validates any cap in rdi; the debug calls
    // read at most this thread's IPC buffer, which nothing borrows here.
    unsafe {
        asm!(
            "mov r12, rbx",
            "mov rbx, rsp",
            "syscall",
            "mov rsp, rbx",
            "mov rbx, r12",
            in("rdx") sys as i64,
            inout("rdi") arg => out,
            out("rsi") _,
            out("rcx") _,
            out("r11") _,
            out("r12") _,
        );
    }
    out
}

/// `seL4_Call`: sends the message in the IPC buffer to `dest` and waits for the reply.
pub fn call(dest: CPtr, info: MessageInfo) -> MessageInfo {
    // SAFETY: Call is a send-receive syscall, as `sys_send_recv` requires;
    // the kernel validates `dest` and the message.
    let (info, _) = unsafe { sys_send_recv(Syscall::Call, dest.bits(), info.into_word()) };
    MessageInfo::from_word(info)
}

/// `seL4_Call` returning the badge register too (used by invocations with out-params).
pub fn call_with_badge(dest: CPtr, info: MessageInfo) -> (MessageInfo, Badge) {
    // SAFETY: Call is a send-receive syscall, as `sys_send_recv` requires;
    // the kernel validates `dest` and the message.
    let (info, badge) = unsafe { sys_send_recv(Syscall::Call, dest.bits(), info.into_word()) };
    (MessageInfo::from_word(info), badge)
}

/// `seL4_Send`: blocking send of the IPC buffer's message.
pub fn send(dest: CPtr, info: MessageInfo) {
    // SAFETY: Send is a send-only syscall, as `sys_send` requires; the
    // kernel validates `dest` and the message.
    unsafe { sys_send(Syscall::Send, dest.bits(), info.into_word()) }
}

/// `seL4_NBSend`: send if a receiver waits, otherwise drop the message.
pub fn nb_send(dest: CPtr, info: MessageInfo) {
    // SAFETY: NBSend is a send-only syscall, as `sys_send` requires; the
    // kernel validates `dest` and the message.
    unsafe { sys_send(Syscall::NBSend, dest.bits(), info.into_word()) }
}

/// `seL4_Signal`: signals a notification (a send of an empty message).
pub fn signal(dest: CPtr) {
    let info = MessageInfo::new(0, 0, 0, 0).into_word();
    // SAFETY: as libsel4's `x64_sys_send_null`: Send returns with every
    // register restored from the thread's saved context except rcx/r11
    // (sysret) and rsp (put back from rbx), and rbx comes back from r12;
    // all are declared here. A message of length 0 reads no message
    // registers, and the kernel validates `dest`.
    unsafe {
        asm!(
            "mov r12, rbx",
            "mov rbx, rsp",
            "syscall",
            "mov rsp, rbx",
            "mov rbx, r12",
            in("rdx") Syscall::Send as i64,
            in("rdi") dest.bits(),
            in("rsi") info,
            out("rcx") _,
            out("r11") _,
            out("r12") _,
        );
    }
}

/// `seL4_Reply`: answers the caller whose reply cap the kernel holds for this thread.
pub fn reply(info: MessageInfo) {
    // SAFETY: Reply is a send-only syscall, as `sys_send` requires; the
    // kernel validates the message (`dest` is unused).
    unsafe { sys_send(Syscall::Reply, 0, info.into_word()) }
}

/// `seL4_Recv`: waits for a message on `src`; returns its info and the sender's badge.
pub fn recv(src: CPtr) -> (MessageInfo, Badge) {
    // SAFETY: Recv is a receive syscall, as `sys_recv` requires; the kernel
    // validates `src`.
    let (info, badge) = unsafe { sys_recv(Syscall::Recv, src.bits()) };
    (MessageInfo::from_word(info), badge)
}

/// `seL4_NBRecv`: polls `src`; the info has length 0 and label 0 when nothing was there.
pub fn nb_recv(src: CPtr) -> (MessageInfo, Badge) {
    // SAFETY: NBRecv is a receive syscall, as `sys_recv` requires; the kernel
    // validates `src`.
    let (info, badge) = unsafe { sys_recv(Syscall::NBRecv, src.bits()) };
    (MessageInfo::from_word(info), badge)
}

/// `seL4_Wait` on a notification: returns the accumulated badge bits.
pub fn wait(src: CPtr) -> Badge {
    recv(src).1
}

/// `seL4_Poll` on a notification: returns the badge bits, 0 if none were pending.
pub fn poll(src: CPtr) -> Badge {
    nb_recv(src).1
}

/// `seL4_ReplyRecv`: replies to the current caller, then waits on `src`.
pub fn reply_recv(src: CPtr, info: MessageInfo) -> (MessageInfo, Badge) {
    // SAFETY: ReplyRecv is a send-receive syscall, as `sys_send_recv` requires;
    // the kernel validates `src` and the message.
    let (info, badge) = unsafe { sys_send_recv(Syscall::ReplyRecv, src.bits(), info.into_word()) };
    (MessageInfo::from_word(info), badge)
}

/// `seL4_Yield`: gives up the rest of this time slice.
pub fn yield_now() {
    // SAFETY: Yield takes no argument, as `sys_null` requires.
    unsafe { sys_null(Syscall::Yield, 0) };
}

/// `seL4_DebugPutChar`: one byte to the kernel's serial console.
pub fn debug_put_char(c: u8) {
    // SAFETY: DebugPutChar takes only its byte in rdi, as `sys_null` requires.
    unsafe { sys_null(Syscall::DebugPutChar, c as Word) };
}

/// Writes a string through `debug_put_char`.
pub fn debug_print(s: &str) {
    for b in s.bytes() {
        debug_put_char(b);
    }
}

/// `seL4_DebugHalt`: stops the kernel (the machine keeps running QEMU).
pub fn debug_halt() {
    // SAFETY: DebugHalt takes no argument, as `sys_null` requires.
    unsafe { sys_null(Syscall::DebugHalt, 0) };
}

/// `seL4_DebugSnapshot`: prints the kernel's capability-space snapshot.
pub fn debug_snapshot() {
    // SAFETY: DebugSnapshot takes no argument, as `sys_null` requires.
    unsafe { sys_null(Syscall::DebugSnapshot, 0) };
}

/// `seL4_DebugCapIdentify`: the kernel's cap type tag of `cap` (0 = null cap).
pub fn debug_cap_identify(cap: CPtr) -> Word {
    // SAFETY: DebugCapIdentify takes the cap in rdi and returns its type
    // there, as `sys_null` requires; a bad cap reads as type 0.
    unsafe { sys_null(Syscall::DebugCapIdentify, cap.bits()) }
}

/// `seL4_DebugNameThread`: names a TCB for the kernel's debug output.
///
/// The name is copied into the IPC buffer's message registers as a C string.
pub fn debug_name_thread(tcb: CPtr, name: &str) {
    with_ipc_buffer_mut(|b| {
        let bytes = name.as_bytes();
        let max = b.msg.len() * core::mem::size_of::<Word>() - 1;
        let n = bytes.len().min(max);
        // SAFETY: `msg` is `max + 1` bytes of plain words, borrowed mutably
        // through `b` for as long as `dst` lives; bytes need no alignment.
        let dst =
            unsafe { core::slice::from_raw_parts_mut(b.msg.as_mut_ptr() as *mut u8, max + 1) };
        dst[..n].copy_from_slice(&bytes[..n]);
        dst[n] = 0;
    });
    // SAFETY: DebugNameThread takes the TCB in rdi (the name is in the IPC
    // buffer), as `sys_null` requires; the kernel validates the cap.
    unsafe { sys_null(Syscall::DebugNameThread, tcb.bits()) };
}
