//! Unit tests of the build-time generator's modules (compiled here from
//! `build/`), including configurations other than ours: the numbering must
//! follow the config the way the kernel's own tools do.

#[allow(dead_code)]
#[path = "../build/cpp.rs"]
mod cpp;
#[allow(dead_code)]
#[path = "../build/interface.rs"]
mod interface;
#[allow(dead_code)]
#[path = "../build/names.rs"]
mod names;

use std::collections::BTreeMap;
use std::path::PathBuf;

fn src(rel: &str) -> String {
    let p = PathBuf::from(env!("SEL4_KERNEL_DIR_RESOLVED"))
        .join("src")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn our_defines() -> cpp::Defines {
    cpp::parse_defines(&src("include/plat/pc99/autoconf.h"))
}

fn object_types(defines: &cpp::Defines) -> BTreeMap<String, i128> {
    let mut symbols = BTreeMap::new();
    for h in [
        "libsel4/include/sel4/objecttype.h",
        "libsel4/sel4_arch_include/x86_64/sel4/sel4_arch/objecttype.h",
        "libsel4/arch_include/x86/sel4/arch/objecttype.h",
    ] {
        let lines = cpp::active_lines(&src(h), defines).unwrap();
        cpp::parse_enums(&lines, &mut symbols).unwrap();
    }
    symbols
}

#[test]
fn conditions_evaluate_like_cpp() {
    let mut d = cpp::Defines::new();
    d.insert("CONFIG_MAX_NUM_NODES".into(), "1".into());
    d.insert("CONFIG_X".into(), String::new());
    let t = |e: &str| cpp::eval_condition(e, &d).unwrap();
    assert!(t("defined CONFIG_X") && t("defined(CONFIG_X)"));
    assert!(!t("defined(CONFIG_Y)") && t("!defined CONFIG_Y"));
    assert!(!t("CONFIG_MAX_NUM_NODES > 1") && t("CONFIG_MAX_NUM_NODES == 1"));
    assert!(!t("CONFIG_UNDEFINED") && t("defined CONFIG_X && (2 << 3) == 16 || 0"));
}

#[test]
fn active_lines_follow_nested_conditionals() {
    let mut d = cpp::Defines::new();
    d.insert("A".into(), "1".into());
    let text = "x\n#ifdef A\na /* c */\n#if 0\nno\n#elif 1\nyes\n#else\nno2\n#endif\n#else\nnotA\n#endif\n#ifndef A\nno3\n#endif\n";
    assert_eq!(cpp::active_lines(text, &d).unwrap(), ["x", "a", "yes"]);
}

#[test]
fn object_type_numbers_follow_the_config() {
    let ours = object_types(&our_defines());
    assert_eq!(ours["seL4_X86_4K"], 7);
    assert!(!ours.contains_key("seL4_X64_HugePageObject"));
    // HUGE_PAGE inserts an object type and moves X86_4K to 8.
    let mut huge = our_defines();
    huge.insert("CONFIG_HUGE_PAGE".into(), "1".into());
    let h = object_types(&huge);
    assert_eq!((h["seL4_X64_HugePageObject"], h["seL4_X86_4K"]), (7, 8));
}

fn labels(defines: &cpp::Defines) -> BTreeMap<String, u64> {
    let files: Vec<(String, String)> = [
        "libsel4/include/interfaces/sel4.xml",
        "libsel4/sel4_arch_include/x86_64/interfaces/sel4arch.xml",
        "libsel4/arch_include/x86/interfaces/sel4arch.xml",
    ]
    .iter()
    .map(|p| (p.to_string(), src(p)))
    .collect();
    let ifs = interface::parse_interfaces(&files, defines).unwrap();
    ifs.methods
        .iter()
        .map(|m| (m.id.clone(), m.label))
        .collect()
}

#[test]
fn labels_shift_with_conditional_methods() {
    let ours = labels(&our_defines());
    assert_eq!(ours["UntypedRetype"], 1);
    assert!(!ours.contains_key("X86PageMapEPT"));
    let mut vtx = our_defines();
    vtx.insert("CONFIG_VTX".into(), "1".into());
    let v = labels(&vtx);
    assert_eq!(v["X86PageGetAddress"], ours["X86PageGetAddress"]);
    assert_eq!(v["X86PageMapEPT"], ours["X86PageGetAddress"] + 1);
    assert_eq!(
        v["X86ASIDControlMakePool"],
        ours["X86ASIDControlMakePool"] + 1
    );
    // Two cores: TCBSetAffinity appears and every later generic label moves.
    let mut smp = our_defines();
    smp.insert("CONFIG_MAX_NUM_NODES".into(), "2".into());
    let s = labels(&smp);
    assert_eq!(s["CNodeRevoke"], ours["CNodeRevoke"] + 1);
}

#[test]
fn syscalls_keep_numbers_whatever_is_enabled() {
    let sc =
        interface::parse_syscalls(&src("libsel4/include/api/syscall.xml"), &our_defines()).unwrap();
    let find = |n: &str| sc.iter().find(|s| s.name == n).unwrap();
    assert_eq!((find("Call").number, find("NBRecv").number), (-1, -8));
    assert!(find("DebugPutChar").enabled && find("DebugPutChar").number == -9);
    assert!(!find("VMEnter").enabled && find("VMEnter").number == -22);
}

#[test]
fn names_follow_rust_sel4() {
    assert_eq!(names::snake("seL4_X86_PageDirectory"), "x86_page_directory");
    assert_eq!(names::snake("seL4_CNode"), "cnode");
    assert_eq!(names::snake("GetIOAPIC"), "get_ioapic");
    assert_eq!(names::snake("SetIPCBuffer"), "set_ipc_buffer");
    assert_eq!(names::snake("seL4_X86_ASIDPool"), "x86_asid_pool");
    assert_eq!(names::snake("In8"), "in8");
    assert_eq!(names::param("type"), "type_");
    assert_eq!(names::param("bufferFrame"), "buffer_frame");
    assert_eq!(names::camel("X86_4K"), "X86_4K");
    assert_eq!(names::camel("TCB"), "Tcb");
    assert_eq!(names::camel("X86_LargePage"), "X86LargePage");
    assert_eq!(names::screaming("seL4_PML4Bits"), "PML4_BITS");
    assert_eq!(
        names::screaming("seL4_InitThreadVSpace"),
        "INIT_THREAD_VSPACE"
    );
}
