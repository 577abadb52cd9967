//! Floor benchmarks, measured in every boot so the VM server's fault costs
//! can be reported as ratios against them (`cargo qemu bench`):
//!
//! * `floor-ipc-call-replyrecv`: a thread `Call`s an endpoint the root
//!   task serves with `ReplyRecv`: the bare IPC round trip.
//! * `floor-fault-map-reply`: a thread touches unmapped pages; the root
//!   task, as a minimal pager, maps a ready frame (its page table already
//!   exists) and replies: the least any user-level pager can do per fault.
//!
//! The measured thread runs in an address space of its own, as a client
//! does, so each round trip switches page tables twice (which under QEMU's
//! TCG flushes its software TLB and is a large part of the cost): the
//! *alias* VSpace maps the root task's own image frames at the same
//! addresses, so the thread runs the root task's code with its own PML4.
//!
//! Each prints `BENCH <name> <median cycles> cycles` (rdtsc, per operation).

use crate::component::{maker, object};
use crate::thread;
use crate::RootState;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use sel4::{cap, CPtr, CapRights, MessageInfo, ObjectType, VmAttributes};
use sel4_root_task::println;

/// Operations measured per benchmark.
const N: usize = 256;
/// Where the fault benchmark's pages go (a PML4 slot of its own).
const FLOOR_VADDR: u64 = 0x82_0000_0000;
const IPC_BUFFER_A: u64 = 0x80_0000_4000;
const IPC_BUFFER_B: u64 = 0x80_0000_5000;
/// Label of a thread's "done" message.
const DONE: u64 = 0xd0e;

/// Per-operation cycles, written by the measured thread before it says done.
static SAMPLES: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];

#[repr(C, align(16))]
struct Stack([u8; 16 * 1024]);
static mut STACK_A: Stack = Stack([0; 16 * 1024]);
static mut STACK_B: Stack = Stack([0; 16 * 1024]);

fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no preconditions in user mode on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn median() -> u64 {
    let mut v: Vec<u64> = SAMPLES.iter().map(|s| s.load(Ordering::Relaxed)).collect();
    v.sort_unstable();
    v[N / 2]
}

extern "C" fn ipc_thread(ep: u64, _: u64) -> ! {
    for s in SAMPLES.iter() {
        let t0 = rdtsc();
        sel4::call(CPtr::from_bits(ep), MessageInfo::new(0, 0, 0, 0));
        s.store(rdtsc() - t0, Ordering::Relaxed);
    }
    sel4::call(CPtr::from_bits(ep), MessageInfo::new(DONE, 0, 0, 0));
    loop {
        sel4::yield_now();
    }
}

extern "C" fn fault_thread(base: u64, ep: u64) -> ! {
    for (i, s) in SAMPLES.iter().enumerate() {
        let t0 = rdtsc();
        // SAFETY: the root task maps a frame here when the read faults.
        unsafe { ((base + i as u64 * 4096) as *const u64).read_volatile() };
        s.store(rdtsc() - t0, Ordering::Relaxed);
    }
    sel4::call(CPtr::from_bits(ep), MessageInfo::new(DONE, 0, 0, 0));
    loop {
        sel4::yield_now();
    }
}

/// A VSpace that maps the root task's image (copies of its frame caps) at
/// the same addresses, plus the paging structures `FLOOR_VADDR` needs.
fn alias_vspace(state: &mut RootState, bootinfo: &sel4::BootInfo) -> Result<cap::VSpace, String> {
    let root = sel4::init_cap::INIT_THREAD_CNODE;
    let vs: cap::VSpace = object(state, ObjectType::X64Pml4, 0)?.cast();
    sel4::init_cap::INIT_THREAD_ASID_POOL
        .x86_asid_pool_assign(vs)
        .map_err(|e| format!("alias ASID: {e:?}"))?;
    // The kernel hands over the image frames in address order from the
    // image's start, where our linker script puts the first segment.
    const IMAGE_BASE: u64 = 0x40_0000;
    for (i, frame) in bootinfo.user_image_frames().enumerate() {
        let copy = state.slots.alloc().ok_or("root CNode full")?;
        root.cnode_copy(copy.bits(), 64, root, frame, 64, CapRights::all())
            .map_err(|e| format!("alias frame copy: {e:?}"))?;
        sel4_objects::map_page(
            vs,
            copy.cast(),
            IMAGE_BASE + i as u64 * 4096,
            CapRights::read_write(),
            &mut maker(state),
        )
        .map_err(|e| format!("alias image map: {e}"))?;
    }
    Ok(vs)
}

/// Runs both floor benchmarks and prints their lines.
pub fn run(state: &mut RootState, bootinfo: &sel4::BootInfo) -> Result<(), String> {
    let alias = alias_vspace(state, bootinfo)?;
    // IPC round trip.
    let ep = object(state, ObjectType::Endpoint, 0)?;
    let badged = crate::component::badged(state, ep, CapRights::all(), 1)?;
    let top = core::ptr::addr_of_mut!(STACK_A) as u64 + 16 * 1024;
    let tcb = thread::spawn(
        state,
        alias,
        ipc_thread,
        (badged.bits(), 0),
        badged,
        IPC_BUFFER_A,
        top,
        200,
    )?;
    let (mut info, _) = sel4::recv(ep);
    while info.label() != DONE {
        (info, _) = sel4::reply_recv(ep, MessageInfo::new(0, 0, 0, 0));
    }
    tcb.tcb_suspend().map_err(|e| format!("suspend: {e:?}"))?;
    println!("BENCH floor-ipc-call-replyrecv {} cycles", median());

    // Fault, map, reply. The page table for the range exists before the
    // first fault (as for a pager's second fault nearby).
    let vspace = alias;
    let mut frames: Vec<cap::Granule> = Vec::with_capacity(N);
    for _ in 0..N {
        frames.push(object(state, ObjectType::X86_4K, 0)?.cast());
    }
    let warm: cap::Granule = object(state, ObjectType::X86_4K, 0)?.cast();
    sel4_objects::map_page(
        vspace,
        warm,
        FLOOR_VADDR + (N as u64) * 4096,
        CapRights::read_write(),
        &mut maker(state),
    )
    .map_err(|e| format!("floor page table: {e}"))?;
    let ep = object(state, ObjectType::Endpoint, 0)?;
    let badged = crate::component::badged(state, ep, CapRights::all(), 2)?;
    let top = core::ptr::addr_of_mut!(STACK_B) as u64 + 16 * 1024;
    let tcb = thread::spawn(
        state,
        alias,
        fault_thread,
        (FLOOR_VADDR, badged.bits()),
        badged,
        IPC_BUFFER_B,
        top,
        200,
    )?;
    let (mut info, _) = sel4::recv(ep);
    let mut next = 0;
    while info.label() != DONE {
        let addr = sel4::get_mr(1) & !0xfff;
        let r = frames[next % N].x86_page_map(
            vspace,
            addr,
            CapRights::read_write(),
            VmAttributes::default(),
        );
        if let Err(e) = r {
            return Err(format!("floor map at {addr:#x}: {e:?}"));
        }
        next += 1;
        (info, _) = sel4::reply_recv(ep, MessageInfo::new(0, 0, 0, 0));
    }
    tcb.tcb_suspend().map_err(|e| format!("suspend: {e:?}"))?;
    for f in frames.iter().chain([&warm]) {
        let _ = f.x86_page_unmap();
    }
    println!("BENCH floor-fault-map-reply {} cycles", median());
    Ok(())
}
