//! The client runtime: what every program paged by the VM server starts
//! with. [`client_main!`] declares the program's entry; the runtime finds
//! the program's request endpoint to the VM server, maps its heap from the
//! VM server (so even the heap is demand-paged), runs `main`, and exits
//! through the VM server with `main`'s status, which the root task reports.
//!
//! Test programs report each check with [`Env::check`], which prints the
//! `TEST PASS|FAIL` lines `cargo qemu test` counts; the exit status is the
//! number of failed checks.
//!
//! A client that panics ends alone: the runtime's panic hook asks the VM
//! server to end it with `control::STATUS_PANICKED` (an ordinary `Exit`),
//! and the server cleans it up like any exit; the root task reports that
//! status as the client's verdict.
#![cfg_attr(not(test), no_std)]

pub use sel4_root_task::{print, println};
pub use vm_api;

pub mod region;
pub use region::Region;

use core::sync::atomic::{AtomicU64, Ordering};
use sel4_root_task::control::STATUS_PANICKED;
use sel4_root_task::start_info::StartInfo;
use vm_api::{ApiError, Handle, MmapRequest, Prot, VmClient, PAGE_SIZE};

/// Bytes of heap the runtime maps at start.
pub const HEAP_SIZE: u64 = 1 << 20;
/// Name of the request-endpoint cap in the system spec.
pub const VM_ENDPOINT: &str = "vm_ep";

/// What a client program gets: its start info and its VM server connection.
pub struct Env {
    pub info: &'static StartInfo,
    pub vm: VmClient,
    failures: u64,
    checks: u64,
}

impl Env {
    /// The program's name, as the spec calls it.
    pub fn name(&self) -> &str {
        self.info.name()
    }

    /// Reports one check as a test outcome named `<program>/<what>`.
    pub fn check(&mut self, what: &str, ok: bool, detail: core::fmt::Arguments<'_>) -> bool {
        self.checks += 1;
        if ok {
            println!("TEST PASS {}/{what}", self.name());
        } else {
            self.failures += 1;
            println!("TEST FAIL {}/{what}: {detail}", self.name());
        }
        ok
    }

    /// Checks that `r` is the error `want`.
    pub fn check_err<T: core::fmt::Debug>(
        &mut self,
        what: &str,
        r: Result<T, vm_api::ApiError>,
        want: vm_api::ApiError,
    ) -> bool {
        let ok = matches!(&r, Err(e) if *e == want);
        self.check(what, ok, format_args!("got {r:?}, expected Err({want:?})"))
    }

    /// Failed checks so far.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Waits (yielding) until every child this program forked has exited,
    /// at most `spins` yields; returns whether they all did.
    pub fn wait_children(&mut self, spins: u64) -> bool {
        for _ in 0..spins {
            match self.vm.client_stats() {
                Ok(s) if s.live_children == 0 => return true,
                Ok(_) => sel4::yield_now(),
                Err(_) => return false,
            }
        }
        false
    }

    /// Waits (yielding) until the VM server has at most `spaces` live
    /// address spaces, this program's included, asking every 16 yields,
    /// at most 1,000,000 times (long enough for a pageout-heavy client of
    /// the spec to finish on a loaded host; 10,000 asks of 50 yields once
    /// ran out); returns whether it came to that. Tests that need a quiet
    /// system (nothing else paging) start with this, at a priority below
    /// the others.
    pub fn wait_spaces(&mut self, spaces: u64) -> bool {
        for _ in 0..1_000_000 {
            match self.vm.stats() {
                Ok(s) if s.spaces <= spaces => return true,
                Ok(_) => (0..16).for_each(|_| sel4::yield_now()),
                Err(_) => return false,
            }
        }
        false
    }

    /// The one-page shared-memory board two test programs of one name
    /// group meet through, mapped read-write: made under `name` when
    /// `create`, else opened, asking again (yielding) while the other has
    /// not made it yet, at most `tries` times.
    pub fn board(&mut self, name: &str, create: bool, tries: u64) -> Result<Region, ApiError> {
        let handle = if create {
            self.vm.shm_create(name, PAGE_SIZE, Prot::RW)
        } else {
            let mut r = self.vm.shm_open(name, Prot::RW);
            for _ in 0..tries {
                if r != Err(ApiError::NoSuchName) {
                    break;
                }
                sel4::yield_now();
                r = self.vm.shm_open(name, Prot::RW);
            }
            r
        }?;
        Region::map(
            &mut self.vm,
            &MmapRequest::object(handle, 0, PAGE_SIZE, Prot::RW),
        )
    }

    /// Anonymous one-page shared-memory objects into `handles` until the
    /// server refuses one: how many it made, and the refusal (`None`:
    /// `handles` filled first). The hostile tests' way to run a quota out.
    pub fn shm_until_refused(&mut self, handles: &mut [Handle]) -> (usize, Option<ApiError>) {
        for (n, slot) in handles.iter_mut().enumerate() {
            match self.vm.shm_create("", PAGE_SIZE, Prot::RW) {
                Ok(h) => *slot = h,
                Err(e) => return (n, Some(e)),
            }
        }
        (handles.len(), None)
    }

    /// Announces the plan: how many checks this program will report.
    pub fn plan(&self, n: usize) {
        println!("TEST PLAN {n}");
    }
}

/// The request endpoint the panic hook exits through (0 until [`init`]).
static PANIC_EXIT_EP: AtomicU64 = AtomicU64::new(0);

/// The panic hook: asks the VM server to end this client (or this forked
/// child) with [`STATUS_PANICKED`]. Returns only if the server refused,
/// and the panic handler then reports the panic to the root task.
fn exit_on_panic() {
    let ep = PANIC_EXIT_EP.load(Ordering::Relaxed);
    if ep != 0 {
        let _ = VmClient::new(sel4::CPtr::from_bits(ep)).exit(STATUS_PANICKED);
    }
}

/// Sets up the environment; called by [`client_main!`].
pub fn init(info: &'static StartInfo) -> Env {
    let Some(ep) = info.cap(VM_ENDPOINT) else {
        println!("{}: no '{VM_ENDPOINT}' capability in its spec", info.name());
        panic!("client without a VM server");
    };
    // From here on a panic ends this client only.
    PANIC_EXIT_EP.store(ep.bits(), Ordering::Relaxed);
    sel4_root_task::set_panic_hook(exit_on_panic);
    let mut vm = VmClient::new(ep);
    match vm.mmap(&MmapRequest::anon(HEAP_SIZE, Prot::RW)) {
        // SAFETY: the VM server just mapped this range for us alone.
        Ok(addr) => unsafe { sel4_root_task::heap::init(addr as *mut u8, HEAP_SIZE as usize) },
        Err(e) => println!("{}: no heap ({e:?})", info.name()),
    }
    Env {
        info,
        vm,
        failures: 0,
        checks: 0,
    }
}

/// Ends the program through the VM server with `status`.
pub fn exit(env: &mut Env, status: u64) -> ! {
    let _ = env.vm.exit(status);
    // Only reached if the VM server refused: nothing else to do.
    println!("{}: exit refused", env.name());
    loop {
        sel4::yield_now();
    }
}

/// Declares a client program: `fn main(env: &mut Env) -> u64` (the exit status).
#[macro_export]
macro_rules! client_main {
    ($main:path) => {
        sel4_root_task::component!(__vm_client_entry, heap_size = 0);
        fn __vm_client_entry(info: &'static sel4_root_task::start_info::StartInfo) -> ! {
            let mut env = $crate::init(info);
            let status = $main(&mut env);
            $crate::exit(&mut env, status)
        }
    };
}
