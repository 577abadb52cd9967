//! `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp`: the compiler emits
//! calls to these, and on this target `compiler_builtins` leaves them to
//! libc, which seL4 programs do not have.
//!
//! Written as small assembly loops that move four quadwords per step,
//! then single quadwords, then bytes for the tail, plus a volatile compare
//! loop, so the optimiser cannot turn their bodies back into calls to
//! themselves. Not `rep movs`/`rep stos`: QEMU's TCG runs a string
//! instruction through a helper call per element, which made zeroing a
//! 1 KiB IPC message buffer cost as much as a kernel IPC round trip; a
//! plain load/store loop is translated into host code directly. Four
//! quadwords a step: under TCG each step is a pass through a translated
//! block, so a 4 KiB page copy (copy-on-write) or zeroing runs 128 steps
//! instead of 512 (docs/performance.md, "Code pages"). On hardware the
//! loop is within a small factor of `rep movsb` for the sizes we copy
//! (pages and message buffers).

use core::arch::asm;

#[no_mangle]
unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: memcpy's contract, which its callers (the compiler's included)
    // keep: both ranges valid for `n` bytes and disjoint, which satisfies
    // `copy_forward`.
    unsafe { copy_forward(dst, src, n) };
    dst
}

/// Copies `n` bytes from `src` to `dst`, lowest address first.
///
/// # Safety
/// Both ranges are valid; if they overlap, `dst` is below `src`.
unsafe fn copy_forward(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller guarantees both ranges valid for `n` bytes, so the
    // n/32 four-quadword, (n%32)/8 quadword and n%8 byte moves stay inside
    // them (x86 allows the unaligned ones); with `dst` below an overlapping
    // `src`, every source byte is loaded before a store can reach it (each
    // quadword is loaded, then stored, in address order). All operands are
    // inout/out, so no two share a register; no stack is used.
    unsafe {
        asm!(
            "test {k}, {k}",
            "jz 3f",
            "2:",
            "mov {t}, qword ptr [{s}]",
            "mov qword ptr [{d}], {t}",
            "mov {t}, qword ptr [{s} + 8]",
            "mov qword ptr [{d} + 8], {t}",
            "mov {t}, qword ptr [{s} + 16]",
            "mov qword ptr [{d} + 16], {t}",
            "mov {t}, qword ptr [{s} + 24]",
            "mov qword ptr [{d} + 24], {t}",
            "add {s}, 32",
            "add {d}, 32",
            "dec {k}",
            "jnz 2b",
            "3:",
            "test {q}, {q}",
            "jz 5f",
            "4:",
            "mov {t}, qword ptr [{s}]",
            "mov qword ptr [{d}], {t}",
            "add {s}, 8",
            "add {d}, 8",
            "dec {q}",
            "jnz 4b",
            "5:",
            "test {b}, {b}",
            "jz 7f",
            "6:",
            "mov {t:l}, byte ptr [{s}]",
            "mov byte ptr [{d}], {t:l}",
            "inc {s}",
            "inc {d}",
            "dec {b}",
            "jnz 6b",
            "7:",
            k = inout(reg) n / 32 => _,
            q = inout(reg) n % 32 / 8 => _,
            b = inout(reg) n % 8 => _,
            s = inout(reg) src => _,
            d = inout(reg) dst => _,
            t = out(reg) _,
            options(nostack),
        );
    }
}

#[no_mangle]
unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // No overlap, or dst below src: copying forwards is safe.
        // SAFETY: memmove's contract gives two ranges valid for `n` bytes,
        // and this branch has them disjoint or `dst` below `src`, which is
        // `copy_forward`'s requirement.
        unsafe { copy_forward(dst, src, n) };
    } else {
        // dst above src and overlapping: highest address first, bytewise
        // (rare: element shifts inside one buffer).
        // SAFETY: both ranges are valid for `n` bytes (memmove's contract);
        // offsets run n-1 down to 0, so accesses stay inside them, and as
        // `dst` is above `src`, each source byte is read before the store
        // that could overwrite it. `t` is an output, so it shares no
        // register with the inputs; no stack is used.
        unsafe {
            asm!(
                "test {n}, {n}",
                "jz 3f",
                "2:",
                "dec {n}",
                "mov {t:l}, byte ptr [{s} + {n}]",
                "mov byte ptr [{d} + {n}], {t:l}",
                "jnz 2b",
                "3:",
                n = inout(reg) n => _,
                s = in(reg) src,
                d = in(reg) dst,
                t = out(reg) _,
                options(nostack),
            );
        }
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // The byte repeated in every byte of a quadword.
    let q = (c as u8 as u64).wrapping_mul(0x0101_0101_0101_0101);
    // SAFETY: memset's contract: `dst` is valid for `n` bytes of writes;
    // the asm stores exactly n/32 four-quadword groups, (n%32)/8 quadwords
    // then n%8 bytes from `dst`, and changes only the registers it
    // declares, using no stack.
    unsafe {
        asm!(
            "test {k}, {k}",
            "jz 3f",
            "2:",
            "mov qword ptr [{d}], {v}",
            "mov qword ptr [{d} + 8], {v}",
            "mov qword ptr [{d} + 16], {v}",
            "mov qword ptr [{d} + 24], {v}",
            "add {d}, 32",
            "dec {k}",
            "jnz 2b",
            "3:",
            "test {q}, {q}",
            "jz 5f",
            "4:",
            "mov qword ptr [{d}], {v}",
            "add {d}, 8",
            "dec {q}",
            "jnz 4b",
            "5:",
            "test {b}, {b}",
            "jz 7f",
            "6:",
            "mov byte ptr [{d}], {v:l}",
            "inc {d}",
            "dec {b}",
            "jnz 6b",
            "7:",
            k = inout(reg) n / 32 => _,
            q = inout(reg) n % 32 / 8 => _,
            b = inout(reg) n % 8 => _,
            d = inout(reg) dst => _,
            v = in(reg) q,
            options(nostack),
        );
    }
    dst
}

#[no_mangle]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: memcmp's contract: `a` and `b` are valid for `n` bytes of
        // reads, and `i < n`.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return x as i32 - y as i32;
        }
    }
    0
}

#[no_mangle]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: bcmp's contract is memcmp's, passed on unchanged.
    unsafe { memcmp(a, b, n) }
}
