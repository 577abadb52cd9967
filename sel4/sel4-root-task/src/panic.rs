//! The panic handler: prints where and why on the debug console, then runs
//! the program's panic hook (the root task's exits QEMU with a failure code)
//! or stops the kernel with `seL4_DebugHalt`.

use core::sync::atomic::{AtomicUsize, Ordering};

/// The hook as a function-pointer address; 0 = none. Written once at start.
static PANIC_HOOK: AtomicUsize = AtomicUsize::new(0);

/// Sets what runs after the panic message is printed.
pub fn set_panic_hook(hook: fn() -> !) {
    PANIC_HOOK.store(hook as usize, Ordering::SeqCst);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(l) => crate::println!(
            "panicked at {}:{}:{}: {}",
            l.file(),
            l.line(),
            l.column(),
            info.message()
        ),
        None => crate::println!("panicked: {}", info.message()),
    }
    let hook = PANIC_HOOK.load(Ordering::SeqCst);
    if hook != 0 {
        // SAFETY: only `set_panic_hook` stores here, always a `fn() -> !`.
        let hook: fn() -> ! = unsafe { core::mem::transmute(hook) };
        hook();
    }
    sel4::debug_halt();
    loop {
        core::hint::spin_loop();
    }
}
