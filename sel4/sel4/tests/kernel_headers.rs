//! Checks the generated numbers against the kernel's own headers, without
//! the generator: a C program compiled (with the system's `cc`) against the
//! kernel build's generated headers and libsel4's headers, under our
//! `autoconf.h`, prints each constant the Rust side names; counts close the
//! other direction (no C value missing from Rust).

use sel4::{
    bootinfo::layout, cap_type, fault, init_cap, Cap, CapType, Error, InvocationLabel, ObjectType,
    Syscall, UserContext, VmAttributes, Word,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn kernel_dir() -> PathBuf {
    PathBuf::from(env!("SEL4_KERNEL_DIR_RESOLVED"))
}

/// Compiles and runs a C program made of `body` (statements inside main)
/// and returns what it printed as `name value` pairs.
fn run_c(name: &str, body: &str) -> BTreeMap<String, i128> {
    let k = kernel_dir();
    let (src, build) = (k.join("src"), k.join("build"));
    assert!(
        build.join("arch/api/invocation.h").exists(),
        "no kernel build at {} (run `cargo qemu build` first)",
        build.display()
    );
    let lib = src.join("libsel4");
    let program = format!(
        r#"
#include <stdio.h>
#include <stddef.h>
#include <autoconf.h>
/* what the kernel's generated headers expect from the kernel */
typedef unsigned long word_t;
#define UNUSED __attribute__((unused))
#include <api/invocation.h>
#include <arch/api/sel4_invocation.h>
#include <arch/api/invocation.h>
#include <arch/api/syscall.h>
/* libsel4 (its bitfield-generated types are not needed here) */
#include <sel4/macros.h>
#include <sel4/sel4_arch/types.h>
#include <sel4/arch/types.h>
typedef struct {{ seL4_Word words[1]; }} seL4_MessageInfo_t;
#include <sel4/constants.h>
#include <sel4/sel4_arch/constants.h>
#include <sel4/objecttype.h>
#include <sel4/sel4_arch/objecttype.h>
#include <sel4/arch/objecttype.h>
#include <sel4/arch/constants.h>
#include <sel4/errors.h>
#include <sel4/shared_types.h>
#include <sel4/bootinfo_types.h>
#define P(x) printf("%s %lld\n", #x, (long long)(x))
int main(void) {{
{body}
    return 0;
}}
"#
    );
    let dir = std::env::temp_dir().join(format!("sel4-hdr-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("check.c");
    let exe = dir.join("check");
    std::fs::write(&c, program).unwrap();
    let out = Command::new("cc")
        .arg("-w")
        .arg("-DHAVE_AUTOCONF")
        .arg(format!("-I{}", src.join("include/plat/pc99").display()))
        .arg(format!("-I{}", build.display()))
        .arg(format!("-I{}", lib.join("include").display()))
        .arg(format!("-I{}", lib.join("arch_include/x86").display()))
        .arg(format!(
            "-I{}",
            lib.join("sel4_arch_include/x86_64").display()
        ))
        .arg(format!(
            "-I{}",
            lib.join("sel4_plat_include/pc99").display()
        ))
        .arg(&c)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("running cc");
    assert!(
        out.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (n, v) = l.split_once(' ').unwrap();
            (n.to_string(), v.parse().unwrap())
        })
        .collect()
}

/// Emits `P(name);` lines.
fn prints<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| format!("    P({n});\n"))
        .collect()
}

#[test]
fn invocation_labels_match_kernel() {
    let mut body = prints(InvocationLabel::ALL.iter().map(|l| l.c_name()));
    body += &prints(["nArchInvocationLabels"]);
    let c = run_c("labels", &body);
    for l in InvocationLabel::ALL {
        assert_eq!(c[l.c_name()], l as i128, "{}", l.c_name());
    }
    // Labels are dense from 0: equal counts mean no C label is missing.
    assert_eq!(
        c["nArchInvocationLabels"],
        InvocationLabel::ALL.len() as i128
    );
}

#[test]
fn syscalls_match_kernel() {
    // The kernel's `enum syscall` names them Sys<Name>.
    let kernel_names: Vec<String> = Syscall::ALL
        .iter()
        .map(|s| s.c_name().replace("seL4_Sys", "Sys"))
        .collect();
    let c = run_c("syscalls", &prints(kernel_names.iter().map(String::as_str)));
    for (s, n) in Syscall::ALL.iter().zip(&kernel_names) {
        assert_eq!(c[n], *s as i128, "{n}");
    }
    // Every syscall the kernel enables under this config (preprocess the header).
    let k = kernel_dir();
    let out = Command::new("cc")
        .args(["-E", "-P", "-x", "c", "-include"])
        .arg(k.join("src/include/plat/pc99/autoconf.h"))
        .arg(k.join("build/arch/api/syscall.h"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let enabled = text
        .lines()
        .filter(|l| l.trim_start().starts_with("Sys"))
        .count();
    assert_eq!(enabled, Syscall::ALL.len());
    // The ABI the team lead's syscalls.rs relies on.
    assert_eq!(Syscall::Call as i64, -1);
    assert_eq!(Syscall::DebugPutChar as i64, -9);
}

#[test]
fn object_types_and_errors_match_libsel4() {
    let mut body = prints(ObjectType::ALL.iter().map(|o| o.c_name()));
    body += &prints(Error::ALL.iter().map(|e| e.c_name()));
    body += &prints(["seL4_ObjectTypeCount", "seL4_NoError"]);
    let c = run_c("objects", &body);
    for o in ObjectType::ALL {
        assert_eq!(c[o.c_name()], o.value() as i128, "{}", o.c_name());
    }
    assert_eq!(c["seL4_ObjectTypeCount"], ObjectType::ALL.len() as i128);
    for e in Error::ALL {
        assert_eq!(c[e.c_name()], e as i128, "{}", e.c_name());
    }
    assert_eq!(c["seL4_NoError"], 0);
    // Error::ALL is seL4_InvalidArgument..=seL4_NotEnoughMemory plus Unknown (= seL4_NumErrors).
    assert_eq!(c["seL4_NumErrors"], Error::ALL.len() as i128);
}

#[test]
fn object_sizes_match_libsel4() {
    let pairs = [
        (ObjectType::Tcb, "seL4_TCBBits"),
        (ObjectType::Endpoint, "seL4_EndpointBits"),
        (ObjectType::Notification, "seL4_NotificationBits"),
        (ObjectType::X86_4K, "seL4_PageBits"),
        (ObjectType::X86LargePage, "seL4_LargePageBits"),
        (ObjectType::X86PageTable, "seL4_PageTableBits"),
        (ObjectType::X86PageDirectory, "seL4_PageDirBits"),
        (ObjectType::X86Pdpt, "seL4_PDPTBits"),
        (ObjectType::X64Pml4, "seL4_PML4Bits"),
    ];
    let c = run_c("sizes", &prints(pairs.iter().map(|p| p.1)));
    for (o, n) in pairs {
        assert_eq!(o.fixed_size_bits().map(|b| b as i128), Some(c[n]), "{n}");
    }
    assert_eq!(ObjectType::Untyped.fixed_size_bits(), None);
    assert_eq!(ObjectType::CapTable.fixed_size_bits(), None);
}

fn slot<T: CapType>(c: Cap<T>) -> i128 {
    c.bits() as i128
}

#[test]
fn init_caps_vm_attributes_and_fault_mrs_match_libsel4() {
    let checks: Vec<(&str, i128)> = vec![
        ("seL4_CapInitThreadTCB", slot(init_cap::INIT_THREAD_TCB)),
        ("seL4_CapInitThreadCNode", slot(init_cap::INIT_THREAD_CNODE)),
        (
            "seL4_CapInitThreadVSpace",
            slot(init_cap::INIT_THREAD_VSPACE),
        ),
        ("seL4_CapIRQControl", slot(init_cap::IRQ_CONTROL)),
        ("seL4_CapASIDControl", slot(init_cap::ASID_CONTROL)),
        (
            "seL4_CapInitThreadASIDPool",
            slot(init_cap::INIT_THREAD_ASID_POOL),
        ),
        ("seL4_CapIOPort", slot(init_cap::IO_PORT)),
        ("seL4_CapIOSpace", slot(init_cap::IO_SPACE)),
        ("seL4_CapBootInfoFrame", slot(init_cap::BOOT_INFO_FRAME)),
        (
            "seL4_CapInitThreadIPCBuffer",
            slot(init_cap::INIT_THREAD_IPC_BUFFER),
        ),
        ("seL4_CapDomain", slot(init_cap::DOMAIN)),
        ("seL4_NumInitialCaps", init_cap::NUM_INITIAL_CAPS as i128),
        (
            "seL4_X86_Default_VMAttributes",
            VmAttributes::DEFAULT.into_word() as i128,
        ),
        (
            "seL4_X86_WriteThrough",
            VmAttributes::WRITE_THROUGH.into_word() as i128,
        ),
        (
            "seL4_X86_CacheDisabled",
            VmAttributes::CACHE_DISABLED.into_word() as i128,
        ),
        (
            "seL4_X86_Uncacheable",
            VmAttributes::UNCACHEABLE.into_word() as i128,
        ),
        (
            "seL4_X86_WriteCombining",
            VmAttributes::WRITE_COMBINING.into_word() as i128,
        ),
        ("seL4_VMFault_IP", fault::mr::VM_FAULT_IP as i128),
        ("seL4_VMFault_Addr", fault::mr::VM_FAULT_ADDR as i128),
        (
            "seL4_VMFault_PrefetchFault",
            fault::mr::VM_FAULT_PREFETCH_FAULT as i128,
        ),
        ("seL4_VMFault_FSR", fault::mr::VM_FAULT_FSR as i128),
        (
            "seL4_UserException_FaultIP",
            fault::mr::USER_EXCEPTION_FAULT_IP as i128,
        ),
        (
            "seL4_UserException_Number",
            fault::mr::USER_EXCEPTION_NUMBER as i128,
        ),
        (
            "seL4_UserException_Code",
            fault::mr::USER_EXCEPTION_CODE as i128,
        ),
        (
            "seL4_UnknownSyscall_RAX",
            fault::mr::UNKNOWN_SYSCALL_RAX as i128,
        ),
        (
            "seL4_UnknownSyscall_FaultIP",
            fault::mr::UNKNOWN_SYSCALL_FAULT_IP as i128,
        ),
        (
            "seL4_UnknownSyscall_Syscall",
            fault::mr::UNKNOWN_SYSCALL_SYSCALL as i128,
        ),
        ("seL4_CapFault_IP", fault::mr::CAP_FAULT_IP as i128),
        (
            "seL4_CapFault_LookupFailureType",
            fault::mr::CAP_FAULT_LOOKUP_FAILURE_TYPE as i128,
        ),
        (
            "seL4_CapFault_GuardMismatch_BitsFound",
            fault::mr::CAP_FAULT_GUARD_MISMATCH_BITS_FOUND as i128,
        ),
        (
            "seL4_GuardMismatch",
            fault::lookup_failure::GUARD_MISMATCH as i128,
        ),
        ("seL4_SlotBits", sel4::consts::SLOT_BITS as i128),
        ("seL4_WordBits", sel4::consts::WORD_BITS as i128),
        (
            "seL4_MinUntypedBits",
            sel4::consts::MIN_UNTYPED_BITS as i128,
        ),
        (
            "seL4_MaxUntypedBits",
            sel4::consts::MAX_UNTYPED_BITS as i128,
        ),
        ("IRQ_OFFSET", sel4::consts::IRQ_OFFSET as i128),
        ("VECTOR_MAX", sel4::consts::VECTOR_MAX as i128),
        ("MSI_MAX", sel4::consts::MSI_MAX as i128),
    ];
    let c = run_c("misc", &prints(checks.iter().map(|p| p.0)));
    for (n, v) in checks {
        assert_eq!(c[n], v, "{n}");
    }
    let _: Cap<cap_type::Tcb> = init_cap::INIT_THREAD_TCB;
}

#[test]
fn fault_labels_match_kernel() {
    // The kernel's bitfield generator wrote the seL4_Fault tags into the
    // preprocessed kernel source.
    static PP: OnceLock<String> = OnceLock::new();
    let pp = PP.get_or_init(|| {
        std::fs::read_to_string(kernel_dir().join("build/kernel_all.c_pp")).unwrap()
    });
    let tag = |name: &str| -> Word {
        let key = format!("seL4_Fault_{name} = ");
        let line = pp
            .lines()
            .find(|l| l.trim_start().starts_with(&key))
            .unwrap();
        line.split('=')
            .nth(1)
            .unwrap()
            .trim()
            .trim_end_matches(',')
            .parse()
            .unwrap()
    };
    assert_eq!(tag("NullFault"), fault::label::NULL_FAULT);
    assert_eq!(tag("CapFault"), fault::label::CAP_FAULT);
    assert_eq!(tag("UnknownSyscall"), fault::label::UNKNOWN_SYSCALL);
    assert_eq!(tag("UserException"), fault::label::USER_EXCEPTION);
    assert_eq!(tag("VMFault"), fault::label::VM_FAULT);
}

#[test]
fn layouts_match_libsel4() {
    let mut body = String::new();
    let bi_fields = [
        ("extraLen", layout::EXTRA_LEN),
        ("nodeID", layout::NODE_ID),
        ("numNodes", layout::NUM_NODES),
        ("numIOPTLevels", layout::NUM_IOPT_LEVELS),
        ("ipcBuffer", layout::IPC_BUFFER),
        ("empty", layout::EMPTY),
        ("sharedFrames", layout::SHARED_FRAMES),
        ("userImageFrames", layout::USER_IMAGE_FRAMES),
        ("userImagePaging", layout::USER_IMAGE_PAGING),
        ("ioSpaceCaps", layout::IO_SPACE_CAPS),
        ("extraBIPages", layout::EXTRA_BI_PAGES),
        (
            "initThreadCNodeSizeBits",
            layout::INIT_THREAD_CNODE_SIZE_BITS,
        ),
        ("initThreadDomain", layout::INIT_THREAD_DOMAIN),
        ("archInfo", layout::ARCH_INFO),
        ("untyped", layout::UNTYPED),
        ("untypedList", layout::UNTYPED_LIST),
    ];
    for (f, _) in bi_fields {
        body += &format!("    printf(\"bi.{f} %zu\\n\", offsetof(seL4_BootInfo, {f}));\n");
    }
    body += "    printf(\"bi.size %zu\\n\", sizeof(seL4_BootInfo));\n";
    body += "    printf(\"ud.size %zu\\n\", sizeof(seL4_UntypedDesc));\n";
    body += "    printf(\"ud.sizeBits %zu\\n\", offsetof(seL4_UntypedDesc, sizeBits));\n";
    body += "    printf(\"ud.isDevice %zu\\n\", offsetof(seL4_UntypedDesc, isDevice));\n";
    for m in UserContext::FIELD_NAMES {
        body += &format!("    printf(\"uc.{m} %zu\\n\", offsetof(seL4_UserContext, {m}));\n");
    }
    body += "    printf(\"uc.size %zu\\n\", sizeof(seL4_UserContext));\n";
    let c = run_c("layout", &body);
    for (f, off) in bi_fields {
        assert_eq!(c[&format!("bi.{f}")], off as i128, "seL4_BootInfo.{f}");
    }
    assert_eq!(c["bi.size"], layout::SIZE as i128);
    assert_eq!(c["ud.size"], layout::UNTYPED_DESC_SIZE as i128);
    assert_eq!(c["ud.sizeBits"], layout::UNTYPED_DESC_SIZE_BITS as i128);
    assert_eq!(c["ud.isDevice"], layout::UNTYPED_DESC_IS_DEVICE as i128);
    for (i, m) in UserContext::FIELD_NAMES.iter().enumerate() {
        assert_eq!(c[&format!("uc.{m}")], 8 * i as i128, "seL4_UserContext.{m}");
    }
    assert_eq!(c["uc.size"], std::mem::size_of::<UserContext>() as i128);
}
