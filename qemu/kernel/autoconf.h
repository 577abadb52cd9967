/*
 * Kernel configuration of this project's seL4 5.0.0 build (x86_64, pc99),
 * for QEMU's TCG x86_64 emulation. Written into the copied kernel source
 * tree as include/plat/pc99/autoconf.h (the kernel includes that path
 * before the build directory's copy). The sel4 crate's generator reads this
 * same file, so object types and labels always match the kernel.
 *
 * Choices, and why:
 *  - XAPIC: TCG has no x2APIC.
 *  - FSGSBASE_MSR: TCG's qemu64 CPU lacks the FSGSBASE instructions.
 *  - no SUPPORT_PCID (TCG lacks INVPCID), no HUGE_PAGE, no IOMMU, no VTX.
 *  - PRINTING + DEBUG_BUILD: seL4_DebugPutChar and the other debug
 *    syscalls, which the root task and the servers' consoles use.
 *  - ROOT_CNODE_SIZE_BITS 16: the root task realises the whole system and
 *    holds every frame of every component image while it builds them.
 */
#define AUTOCONF_INCLUDED
#define CONFIG_ARCH_X86 1
#define CONFIG_ARCH_X86_64 1
#define CONFIG_PLAT_PC99 1
#define CONFIG_ARCH_X86_GENERIC 1
#define CONFIG_WORD_SIZE 64
#define CONFIG_MAX_NUM_NODES 1
#define CONFIG_KERNEL_STACK_BITS 12
#define CONFIG_FASTPATH 1
#define CONFIG_NUM_DOMAINS 1
#define CONFIG_NUM_PRIORITIES 256
#define CONFIG_TIME_SLICE 5
#define CONFIG_TIMER_TICK_MS 2
#define CONFIG_RETYPE_FAN_OUT_LIMIT 256
#define CONFIG_MAX_NUM_WORK_UNITS_PER_PREEMPTION 100
#define CONFIG_ROOT_CNODE_SIZE_BITS 16
#define CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS 230
#define CONFIG_MAX_NUM_IOAPIC 1
#define CONFIG_MAX_RMRR_ENTRIES 32
#define CONFIG_CACHE_LN_SZ 64
#define CONFIG_IRQ_IOAPIC 1
#define CONFIG_XAPIC 1
#define CONFIG_SYSCALL 1
#define CONFIG_FSGSBASE_MSR 1
#define CONFIG_HAVE_FPU 1
#define CONFIG_FXSAVE 1
#define CONFIG_XSAVE_SIZE 512
#define CONFIG_FPU_MAX_RESTORES_SINCE_SWITCH 64
#define CONFIG_OPTIMISATION_O2 1
#define CONFIG_DEBUG_BUILD 1
#define CONFIG_PRINTING 1
#define CONFIG_MULTIBOOT_GRAPHICS_MODE_NONE 1
#define CONFIG_KERNEL_CFLAGS ""
#define CONFIG_KERNEL_EXTRA_CPPFLAGS ""
