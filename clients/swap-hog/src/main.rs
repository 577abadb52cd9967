//! System test: swap exhaustion. Maps far more anonymous memory than the
//! VM server's pool and swap partition hold together and touches it page
//! by page. The server cannot page out forever: when swap is full and no
//! page can be freed, its OOM killer must pick this client (it is charged
//! with the most pages) and stop it with `NoSwap`, which it announces to
//! the root task first. Reaching the end of the mapping is a failure.
//! The root task's final check proves every swap slot came back.
#![no_std]
#![no_main]

use sel4_root_task::control::{expect_exit, STATUS_KILLED};
use vm_client::vm_api::{ApiError, MmapRequest, Prot};
use vm_client::{println, Env};

vm_client::client_main!(main);

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;

fn main(env: &mut Env) -> u64 {
    env.plan(1);
    let stats = env.vm.stats();
    let (pool, swap) = stats
        .as_ref()
        .map(|s| (s.npages * PAGE, s.swpages * PAGE))
        .unwrap_or((0, 0));
    // Twice what fits: there is no way this completes with memory intact.
    let size = (2 * (pool + swap)).next_multiple_of(MIB);
    env.check(
        "server-has-swap",
        swap > 0,
        format_args!("pool {} MiB, swap {} MiB", pool / MIB, swap / MIB),
    );
    let base = match env.vm.mmap(&MmapRequest::anon(size, Prot::RW)) {
        Ok(a) => a,
        Err(e) => {
            println!("client-swap-hog: mmap {e:?}");
            return 1;
        }
    };
    println!(
        "client-swap-hog: touching {} MiB (pool {} MiB + swap {} MiB)",
        size / MIB,
        pool / MIB,
        swap / MIB
    );
    // The outcome the OOM killer must produce; the root task checks it.
    expect_exit(if env.failures() == 0 {
        STATUS_KILLED + ApiError::NoSwap.code()
    } else {
        env.failures()
    });
    for off in (0..size).step_by(PAGE as usize) {
        // SAFETY: inside the mapping just made.
        unsafe { ((base + off) as *mut u64).write_volatile(off ^ 0x5eed) };
        if off % (16 * MIB) == 0 {
            println!("client-swap-hog: {} MiB touched", off / MIB);
        }
    }
    println!(
        "client-swap-hog: touched all {} MiB: nothing stopped it",
        size / MIB
    );
    1
}
