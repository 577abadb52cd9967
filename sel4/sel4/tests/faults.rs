//! Fault decoding for each kind, and the replies that resume a thread.

use sel4::fault::{
    label, lookup_failure, mr, CapFault, LookupFailure, UnknownSyscall, UserException, VmFault,
};
use sel4::{Error, Fault, Word};

#[test]
fn vm_fault() {
    let mut m = [0; 4];
    m[mr::VM_FAULT_IP] = 0x40_1000;
    m[mr::VM_FAULT_ADDR] = 0x1234_5678;
    m[mr::VM_FAULT_PREFETCH_FAULT] = 0;
    m[mr::VM_FAULT_FSR] = 0b110; // user write to a non-present page
    let f = Fault::decode(label::VM_FAULT, &m).unwrap();
    let Fault::VmFault(v) = f else {
        panic!("{f:?}")
    };
    assert_eq!(
        v,
        VmFault {
            ip: 0x40_1000,
            addr: 0x1234_5678,
            prefetch_fault: false,
            fsr: 6
        }
    );
    assert!(v.is_write() && !v.is_protection_violation() && !v.is_instruction_fetch());
    assert_eq!(label::VM_FAULT, 5);
    assert_eq!(mr::VM_FAULT_LENGTH, 4);
}

#[test]
fn user_exception_and_its_reply() {
    let m = [0x40_2000, 0x7fff_0000, 0x202, 13, 0];
    let f = Fault::decode(label::USER_EXCEPTION, &m).unwrap();
    let Fault::UserException(mut e) = f else {
        panic!("{f:?}")
    };
    assert_eq!(
        e,
        UserException {
            fault_ip: 0x40_2000,
            stack: 0x7fff_0000,
            flags: 0x202,
            number: 13,
            code: 0
        }
    );
    e.fault_ip += 2;
    let (info, regs) = e.reply();
    assert_eq!((info.label(), info.length()), (0, 3));
    assert_eq!(regs, [0x40_2002, 0x7fff_0000, 0x202]);
}

#[test]
fn unknown_syscall_and_its_reply() {
    let m: Vec<Word> = (0..=mr::UNKNOWN_SYSCALL_SYSCALL as Word)
        .map(|i| 100 + i)
        .collect();
    let f = Fault::decode(label::UNKNOWN_SYSCALL, &m).unwrap();
    let Fault::UnknownSyscall(mut s) = f else {
        panic!("{f:?}")
    };
    assert_eq!((s.rax, s.rbx, s.r15), (100, 101, 114));
    assert_eq!((s.fault_ip, s.sp, s.flags, s.syscall), (115, 116, 117, 118));
    s.rax = 42;
    let (info, regs) = s.reply();
    assert_eq!((info.label(), info.length()), (0, 18));
    assert_eq!(regs[mr::UNKNOWN_SYSCALL_RAX], 42);
    assert_eq!(regs[mr::UNKNOWN_SYSCALL_FLAGS], 117);
    assert_eq!(UnknownSyscall::default().reply().1.len(), 18);
}

#[test]
fn cap_fault_lookup_failures() {
    let cap = |ty: Word, rest: [Word; 3]| {
        let m = [0x40_3000, 77, 1, ty, rest[0], rest[1], rest[2]];
        match Fault::decode(label::CAP_FAULT, &m).unwrap() {
            Fault::CapFault(c) => c,
            f => panic!("{f:?}"),
        }
    };
    let c = cap(lookup_failure::MISSING_CAPABILITY, [12, 0, 0]);
    assert_eq!(
        c,
        CapFault {
            ip: 0x40_3000,
            addr: 77,
            in_recv_phase: true,
            lookup_failure: LookupFailure::MissingCapability { bits_left: 12 }
        }
    );
    assert_eq!(
        cap(lookup_failure::INVALID_ROOT, [0; 3]).lookup_failure,
        LookupFailure::InvalidRoot
    );
    assert_eq!(
        cap(lookup_failure::DEPTH_MISMATCH, [5, 7, 0]).lookup_failure,
        LookupFailure::DepthMismatch {
            bits_left: 5,
            bits_found: 7
        }
    );
    assert_eq!(
        cap(lookup_failure::GUARD_MISMATCH, [5, 0x3, 2]).lookup_failure,
        LookupFailure::GuardMismatch {
            bits_left: 5,
            guard_found: 3,
            bits_found: 2
        }
    );
    assert_eq!(cap(9, [0; 3]).lookup_failure, LookupFailure::Other(9));
}

#[test]
fn null_fault_and_non_faults() {
    assert_eq!(
        Fault::decode(label::NULL_FAULT, &[]),
        Some(Fault::NullFault)
    );
    assert_eq!(Fault::decode(0x777, &[1, 2, 3]), None);
    // Short messages read missing registers as zero.
    assert!(matches!(
        Fault::decode(label::VM_FAULT, &[1]),
        Some(Fault::VmFault(VmFault { ip: 1, addr: 0, .. }))
    ));
}

#[test]
fn errors_from_reply_labels() {
    assert_eq!(Error::from_label(0), None);
    assert_eq!(Error::check(0), Ok(()));
    assert_eq!(Error::check(3), Err(Error::IllegalOperation));
    assert_eq!(Error::from_label(10), Some(Error::NotEnoughMemory));
    assert_eq!(Error::from_label(999), Some(Error::Unknown));
    assert_eq!(Error::FailedLookup.to_string(), "FailedLookup");
}
