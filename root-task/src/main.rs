//! The root task: the first user-level program seL4 starts. It receives
//! every capability (untyped memory, I/O ports, IRQ control, ASIDs) and
//! sets up the rest of the system.
//!
//! `run()` is an ordered list of phases, one function each, each logged.
#![no_std]
#![no_main]

extern crate alloc;

mod bootinfo;
mod component;
mod devices;
mod exit;
mod floor;
mod images;
mod selftest;
mod system;
mod thread;

use bootinfo::BootSummary;
use sel4_objects::{SlotAllocator, UntypedAllocator};
use sel4_root_task::println;

sel4_root_task::root_task!(main, heap_size = 4 << 20);

/// What the phases share: the root task's allocators. Owned by `run`.
pub struct RootState {
    pub slots: SlotAllocator,
    pub untyped: UntypedAllocator,
    /// Device untyped, for the spec's device regions.
    pub devices: devices::DeviceUntypeds,
}

fn main(bootinfo: *const u8) -> ! {
    sel4_root_task::set_panic_hook(exit::panic_exit);
    // SAFETY: the kernel passed us its boot info frame, mapped read-only.
    let bootinfo = unsafe { sel4::BootInfo::from_ptr(bootinfo) };
    let ok = run(&bootinfo);
    exit::exit_qemu(if ok { exit::SUCCESS } else { exit::FAILURE })
}

/// The boot, phase by phase. Returns whether every phase succeeded.
fn run(bootinfo: &sel4::BootInfo) -> bool {
    println!("root-task: seL4 root task started");
    let summary = phase("boot info", || Ok(bootinfo::summarize(bootinfo)));
    let Some(summary) = summary else { return false };
    let mut state = phase("allocators", || Ok(init_allocators(bootinfo, &summary)));
    let Some(state) = state.as_mut() else {
        return false;
    };
    let self_test_ok = phase("self-test", || Ok(selftest::run(state))).unwrap_or(false);
    // Numbers only: a failed measurement is logged, not a test failure.
    // Kept for the benchmark's interleaved rounds (control::FLOOR_ROUND).
    let mut floors = phase("floor benchmarks", || floor::run(state, bootinfo));
    let Some(spec) = phase("system spec", system::load_spec) else {
        return false;
    };
    let Some(mut system) = phase("realise system", || system::realise(state, spec)) else {
        return false;
    };
    let supervised_ok = phase("supervise", || {
        Ok(system::supervise(&mut system, state, floors.as_mut()))
    })
    .unwrap_or(false);
    self_test_ok && supervised_ok
}

/// Runs one phase between log lines; `None` if it failed.
fn phase<T>(name: &str, f: impl FnOnce() -> Result<T, alloc::string::String>) -> Option<T> {
    println!("root-task: phase {name}");
    match f() {
        Ok(v) => Some(v),
        Err(e) => {
            println!("root-task: phase {name} FAILED: {e}");
            None
        }
    }
}

fn init_allocators(bootinfo: &sel4::BootInfo, summary: &BootSummary) -> RootState {
    let slots = SlotAllocator::new(summary.empty.start, summary.empty.end);
    let untyped = UntypedAllocator::new(
        bootinfo
            .untyped_list()
            .filter(|u| !u.is_device)
            .map(|u| (u.cap, u.size_bits)),
    );
    println!(
        "root-task: {} free slots, {} MiB of untyped RAM to allocate from",
        slots.remaining(),
        untyped.free_bytes() >> 20
    );
    let devices = devices::DeviceUntypeds::new(
        bootinfo
            .untyped_list()
            .filter(|u| u.is_device)
            .map(|u| (u.cap, u.paddr, u.size_bits)),
    );
    RootState {
        slots,
        untyped,
        devices,
    }
}
