//! The check that the VM server's code never touches the FPU: no x87,
//! MMX or SSE instruction, so it never takes the FPU from a client.
//!
//! seL4 5.0 switches FPU state lazily: a thread that runs an FPU or SSE
//! instruction while another thread owns the FPU traps (`#NM`), and the
//! kernel saves the owner's registers and loads its own. When a client
//! and the server both use SSE (Rust does for copies, zeroing and
//! hashbrown's probes), every request and reply trapped once on each
//! side. The VM server is therefore built without SSE (`images.rs`,
//! `PROFILE_FLAGS`), and this check fails the build when its code uses
//! such state anyway: a profile without whole-program optimisation would
//! link in `core` precompiled with SSE, and floating point would bring in
//! x87 (docs/performance.md, "The FPU's lazy switch").

use crate::hot_text::disassembly;
use crate::step::{Failure, Result};
use std::path::Path;

/// Registers whose use needs the FPU: x87's stack, MMX, the vector
/// registers and AVX-512's masks and AMX's tiles (objdump's AT&T names).
const FPU_REGISTERS: &[&str] = &["%st", "%mm", "%xmm", "%ymm", "%zmm", "%k", "%tmm"];

/// Mnemonics, or their beginnings, that touch FPU state without naming
/// such a register (`xsave`, `xsaves`, `xsave64`, ... and the `xrstor`s).
const FPU_MNEMONICS: &[&str] = &[
    "emms",
    "ldmxcsr",
    "stmxcsr",
    "vldmxcsr",
    "vstmxcsr",
    "vzeroupper",
    "vzeroall",
    "xsave",
    "xrstor",
];

/// Prefixes objdump prints as words of their own, before the mnemonic.
const PREFIXES: &[&str] = &[
    "lock", "rep", "repz", "repnz", "data16", "data32", "addr32", "cs", "ds", "es", "fs", "gs",
    "ss", "notrack", "bnd", "xacquire", "xrelease",
];

/// Instructions of `objdump -d --no-show-raw-insn` output that need the
/// FPU, each as `function: instruction` (the function demangled).
pub fn fpu_instructions(disassembly: &str) -> Vec<String> {
    let mut function = "";
    let mut found = Vec::new();
    for line in disassembly.lines() {
        if let Some(name) = line.strip_suffix(">:").and_then(|l| l.split_once(" <")) {
            function = name.1;
            continue;
        }
        // An instruction: "  address:\tmnemonic operands".
        let Some((_, instruction)) = line.split_once(":\t") else {
            continue;
        };
        let mnemonic = instruction
            .split_whitespace()
            .find(|w| !PREFIXES.contains(w) && !w.starts_with("rex"))
            .unwrap_or("");
        let x87 = mnemonic.starts_with('f');
        let operands_need = FPU_REGISTERS.iter().any(|r| instruction.contains(r));
        if x87 || operands_need || FPU_MNEMONICS.iter().any(|m| mnemonic.starts_with(m)) {
            let function = rustc_demangle::demangle(function);
            found.push(format!("{function:#}: {}", instruction.trim()));
        }
    }
    found
}

/// Fails when the program at `elf` has an instruction that needs the FPU,
/// naming the first few.
pub fn check(program: &str, elf: &Path) -> Result<()> {
    let found = fpu_instructions(&disassembly(elf)?);
    if found.is_empty() {
        return Ok(());
    }
    let mut what = format!(
        "{program} must not touch the FPU (it would take it from every client it serves: \
         qemu/src/fpu_free.rs), but {} of its instructions do, such as:",
        found.len()
    );
    for f in found.iter().take(5) {
        what.push_str("\n  ");
        what.push_str(f);
    }
    Err(Failure::msg(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
target/vm-server/vm-server:     file format elf64-x86-64


Disassembly of section .text:

0000000010000010 <_ZN9vm_server5serve17h0123456789abcdefE>:
    10000010:\tpush   %r15
    10000012:\tmov    %fs:0x28,%rax
    10000016:\tlock cmpxchg %rcx,(%rdx)
    1000001a:\trep stos %rax,%es:(%rdi)
    1000001e:\tmovq   $0x0,0x8(%rsp)

0000000010000040 <_ZN9hashbrown5probe17h0123456789abcdefE>:
    10000040:\tmovd   %edi,%xmm0
    10000044:\tpshufd $0x44,%xmm0,%xmm0

0000000010000060 <ratio>:
    10000060:\tfildll 0x10(%rsp)
    10000064:\tfs nopw 0x0(%rax,%rax,1)
    10000068:\tldmxcsr 0x4(%rsp)
    1000006c:\txsaves64 (%rdi)
    10000070:\txrelease lock xchg %rax,(%rdx)
";

    #[test]
    fn names_each_instruction_that_needs_the_fpu_and_no_other() {
        let found = fpu_instructions(SAMPLE);
        assert_eq!(
            found,
            [
                "hashbrown::probe: movd   %edi,%xmm0",
                "hashbrown::probe: pshufd $0x44,%xmm0,%xmm0",
                "ratio: fildll 0x10(%rsp)",
                "ratio: ldmxcsr 0x4(%rsp)",
                "ratio: xsaves64 (%rdi)",
            ]
        );
    }

    #[test]
    fn a_program_without_them_passes() {
        let serve_only: String = SAMPLE.lines().take(12).collect::<Vec<_>>().join("\n");
        assert!(fpu_instructions(&serve_only).is_empty());
    }
}
