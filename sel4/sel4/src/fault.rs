//! Fault messages: what the kernel sends a thread's fault endpoint, and the
//! replies that resume the thread.
//!
//! Labels are the tags of libsel4's `seL4_Fault` union and the message
//! register indices are libsel4's `seL4_*_Msg` enums, both generated (see
//! [`label`], [`mr`]). Decoding is a pure function of (label, MRs).
//!
//! Kernel note: stock seL4 5.0.0 x86_64 keeps the fault address in a
//! `uint32_t` in `handleVMFault`; our kernel build patches that
//! (`qemu/kernel/patches/0003-x86-64-vmfault-address-is-a-word.patch`), so
//! [`VmFault::addr`] is the full address on our kernel.

use crate::{with_ipc_buffer_mut, MessageInfo, Word};

include!(concat!(env!("OUT_DIR"), "/faults.rs"));

/// A page fault (`seL4_Fault_VMFault`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmFault {
    /// Instruction pointer of the faulting instruction.
    pub ip: Word,
    /// The faulting address (full 64 bits with our kernel patch, see above).
    pub addr: Word,
    /// True for an instruction fetch fault.
    pub prefetch_fault: bool,
    /// The x86 page-fault error code.
    pub fsr: Word,
}

impl VmFault {
    /// Error code bit 0: the page was present (a protection violation).
    pub const fn is_protection_violation(&self) -> bool {
        self.fsr & 1 != 0
    }
    /// Error code bit 1: the access was a write.
    pub const fn is_write(&self) -> bool {
        self.fsr & 2 != 0
    }
    /// Error code bit 4: the access was an instruction fetch.
    pub const fn is_instruction_fetch(&self) -> bool {
        self.fsr & 0x10 != 0
    }
}

/// A processor exception other than a page fault (`seL4_Fault_UserException`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserException {
    pub fault_ip: Word,
    pub stack: Word,
    pub flags: Word,
    /// The exception vector.
    pub number: Word,
    /// The exception's error code.
    pub code: Word,
}

/// Registers of the thread as the reply to an unknown-syscall fault sets them.
pub const UNKNOWN_SYSCALL_REPLY_LENGTH: usize = mr::UNKNOWN_SYSCALL_SYSCALL;
/// Registers the reply to a user exception sets (fault IP, stack, flags).
pub const USER_EXCEPTION_REPLY_LENGTH: usize = mr::USER_EXCEPTION_NUMBER;

impl UserException {
    /// The reply that resumes the thread at `fault_ip` with `stack` and
    /// `flags` (change them first to redirect it): label 0 and the
    /// message registers to send.
    pub fn reply(&self) -> (MessageInfo, [Word; USER_EXCEPTION_REPLY_LENGTH]) {
        let mut mrs = [0; USER_EXCEPTION_REPLY_LENGTH];
        mrs[mr::USER_EXCEPTION_FAULT_IP] = self.fault_ip;
        mrs[mr::USER_EXCEPTION_SP] = self.stack;
        mrs[mr::USER_EXCEPTION_FLAGS] = self.flags;
        (MessageInfo::new(0, 0, 0, mrs.len() as Word), mrs)
    }
}

/// A syscall the kernel does not know (`seL4_Fault_UnknownSyscall`): the
/// thread's registers and the syscall number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UnknownSyscall {
    pub rax: Word,
    pub rbx: Word,
    pub rcx: Word,
    pub rdx: Word,
    pub rsi: Word,
    pub rdi: Word,
    pub rbp: Word,
    pub r8: Word,
    pub r9: Word,
    pub r10: Word,
    pub r11: Word,
    pub r12: Word,
    pub r13: Word,
    pub r14: Word,
    pub r15: Word,
    pub fault_ip: Word,
    pub sp: Word,
    pub flags: Word,
    pub syscall: Word,
}

impl UnknownSyscall {
    /// The reply that writes these registers back (change them first, e.g.
    /// `rax` for a return value, `fault_ip` to skip the instruction) and
    /// resumes the thread: label 0 and the message registers to send.
    pub fn reply(&self) -> (MessageInfo, [Word; UNKNOWN_SYSCALL_REPLY_LENGTH]) {
        let mut m = [0; UNKNOWN_SYSCALL_REPLY_LENGTH];
        m[mr::UNKNOWN_SYSCALL_RAX] = self.rax;
        m[mr::UNKNOWN_SYSCALL_RBX] = self.rbx;
        m[mr::UNKNOWN_SYSCALL_RCX] = self.rcx;
        m[mr::UNKNOWN_SYSCALL_RDX] = self.rdx;
        m[mr::UNKNOWN_SYSCALL_RSI] = self.rsi;
        m[mr::UNKNOWN_SYSCALL_RDI] = self.rdi;
        m[mr::UNKNOWN_SYSCALL_RBP] = self.rbp;
        m[mr::UNKNOWN_SYSCALL_R8] = self.r8;
        m[mr::UNKNOWN_SYSCALL_R9] = self.r9;
        m[mr::UNKNOWN_SYSCALL_R10] = self.r10;
        m[mr::UNKNOWN_SYSCALL_R11] = self.r11;
        m[mr::UNKNOWN_SYSCALL_R12] = self.r12;
        m[mr::UNKNOWN_SYSCALL_R13] = self.r13;
        m[mr::UNKNOWN_SYSCALL_R14] = self.r14;
        m[mr::UNKNOWN_SYSCALL_R15] = self.r15;
        m[mr::UNKNOWN_SYSCALL_FAULT_IP] = self.fault_ip;
        m[mr::UNKNOWN_SYSCALL_SP] = self.sp;
        m[mr::UNKNOWN_SYSCALL_FLAGS] = self.flags;
        (MessageInfo::new(0, 0, 0, m.len() as Word), m)
    }
}

/// Why a capability lookup failed (`seL4_LookupFailureType` and its data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupFailure {
    NoFailure,
    InvalidRoot,
    MissingCapability {
        bits_left: Word,
    },
    DepthMismatch {
        bits_left: Word,
        bits_found: Word,
    },
    GuardMismatch {
        bits_left: Word,
        guard_found: Word,
        bits_found: Word,
    },
    /// A type this crate does not know.
    Other(Word),
}

/// A failed cap lookup during a send or receive (`seL4_Fault_CapFault`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapFault {
    pub ip: Word,
    /// The capability address that failed.
    pub addr: Word,
    /// True if the lookup failed in the receive phase.
    pub in_recv_phase: bool,
    pub lookup_failure: LookupFailure,
}

/// A fault message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    NullFault,
    CapFault(CapFault),
    UnknownSyscall(UnknownSyscall),
    UserException(UserException),
    VmFault(VmFault),
}

impl Fault {
    /// Decodes a fault from its message label and message registers
    /// (registers beyond `mrs` read as 0). `None` if the label is no fault.
    pub fn decode(label: Word, mrs: &[Word]) -> Option<Fault> {
        let m = |i: usize| mrs.get(i).copied().unwrap_or(0);
        if label == label::VM_FAULT {
            return Some(Fault::VmFault(VmFault {
                ip: m(mr::VM_FAULT_IP),
                addr: m(mr::VM_FAULT_ADDR),
                prefetch_fault: m(mr::VM_FAULT_PREFETCH_FAULT) != 0,
                fsr: m(mr::VM_FAULT_FSR),
            }));
        }
        Fault::decode_other(label, mrs)
    }

    /// `decode` of every fault but a VM fault.
    // Out of line: a pager decodes VM faults by the thousand, the others
    // rarely; its fault path then reaches fewer code pages
    // (docs/performance.md in the VM server, "Code pages").
    #[inline(never)]
    fn decode_other(label: Word, mrs: &[Word]) -> Option<Fault> {
        let m = |i: usize| mrs.get(i).copied().unwrap_or(0);
        Some(match label {
            label::NULL_FAULT => Fault::NullFault,
            label::USER_EXCEPTION => Fault::UserException(UserException {
                fault_ip: m(mr::USER_EXCEPTION_FAULT_IP),
                stack: m(mr::USER_EXCEPTION_SP),
                flags: m(mr::USER_EXCEPTION_FLAGS),
                number: m(mr::USER_EXCEPTION_NUMBER),
                code: m(mr::USER_EXCEPTION_CODE),
            }),
            label::UNKNOWN_SYSCALL => Fault::UnknownSyscall(UnknownSyscall {
                rax: m(mr::UNKNOWN_SYSCALL_RAX),
                rbx: m(mr::UNKNOWN_SYSCALL_RBX),
                rcx: m(mr::UNKNOWN_SYSCALL_RCX),
                rdx: m(mr::UNKNOWN_SYSCALL_RDX),
                rsi: m(mr::UNKNOWN_SYSCALL_RSI),
                rdi: m(mr::UNKNOWN_SYSCALL_RDI),
                rbp: m(mr::UNKNOWN_SYSCALL_RBP),
                r8: m(mr::UNKNOWN_SYSCALL_R8),
                r9: m(mr::UNKNOWN_SYSCALL_R9),
                r10: m(mr::UNKNOWN_SYSCALL_R10),
                r11: m(mr::UNKNOWN_SYSCALL_R11),
                r12: m(mr::UNKNOWN_SYSCALL_R12),
                r13: m(mr::UNKNOWN_SYSCALL_R13),
                r14: m(mr::UNKNOWN_SYSCALL_R14),
                r15: m(mr::UNKNOWN_SYSCALL_R15),
                fault_ip: m(mr::UNKNOWN_SYSCALL_FAULT_IP),
                sp: m(mr::UNKNOWN_SYSCALL_SP),
                flags: m(mr::UNKNOWN_SYSCALL_FLAGS),
                syscall: m(mr::UNKNOWN_SYSCALL_SYSCALL),
            }),
            label::CAP_FAULT => {
                let bits_left = m(mr::CAP_FAULT_BITS_LEFT);
                let lookup_failure = match m(mr::CAP_FAULT_LOOKUP_FAILURE_TYPE) {
                    lookup_failure::NO_FAILURE => LookupFailure::NoFailure,
                    lookup_failure::INVALID_ROOT => LookupFailure::InvalidRoot,
                    lookup_failure::MISSING_CAPABILITY => {
                        LookupFailure::MissingCapability { bits_left }
                    }
                    lookup_failure::DEPTH_MISMATCH => LookupFailure::DepthMismatch {
                        bits_left,
                        bits_found: m(mr::CAP_FAULT_DEPTH_MISMATCH_BITS_FOUND),
                    },
                    lookup_failure::GUARD_MISMATCH => LookupFailure::GuardMismatch {
                        bits_left,
                        guard_found: m(mr::CAP_FAULT_GUARD_MISMATCH_GUARD_FOUND),
                        bits_found: m(mr::CAP_FAULT_GUARD_MISMATCH_BITS_FOUND),
                    },
                    other => LookupFailure::Other(other),
                };
                Fault::CapFault(CapFault {
                    ip: m(mr::CAP_FAULT_IP),
                    addr: m(mr::CAP_FAULT_ADDR),
                    in_recv_phase: m(mr::CAP_FAULT_IN_RECV_PHASE) != 0,
                    lookup_failure,
                })
            }
            _ => return None,
        })
    }

    /// Decodes the fault just received into the calling thread's IPC
    /// buffer with tag `info` (`seL4_getFault`).
    pub fn get_from_ipc_buffer(info: MessageInfo) -> Option<Fault> {
        let len = (info.length() as usize).min(crate::MSG_MAX_LENGTH);
        with_ipc_buffer_mut(|b| Fault::decode(info.label(), &b.msg[..len]))
    }
}

/// Puts a fault reply's registers in the calling thread's IPC buffer and
/// returns the tag to send with [`crate::reply`] or [`crate::reply_recv`]:
/// `let (info, regs) = exception.reply(); reply(set_reply(info, &regs));`
pub fn set_reply(info: MessageInfo, mrs: &[Word]) -> MessageInfo {
    with_ipc_buffer_mut(|b| b.msg[..mrs.len()].copy_from_slice(mrs));
    info
}
