//! The boot self-test: proves the kernel interface works end to end before
//! anything is built on it. It retypes paging structures and a frame from
//! untyped memory, maps them in the root task's own VSpace and uses them;
//! then starts a second thread whose fault endpoint the root task holds,
//! resolves that thread's page fault by mapping a frame, and checks the
//! resumed thread read what the root task wrote.
//!
//! Each check prints a `TEST PASS|FAIL <name>` line for `cargo qemu test`.

use crate::component::object;
use crate::RootState;
use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use sel4::{cap, CPtr, CapRights, Fault, MessageInfo, ObjectType, VmAttributes};
use sel4_root_task::println;

/// A PML4 slot the root task's image (at 4 MiB) does not use, so the test
/// needs a fresh PDPT, page directory and page table.
const TEST_VADDR: u64 = 0x80_0000_0000;
/// Where the second thread's IPC buffer is mapped.
const IPC_BUFFER_VADDR: u64 = TEST_VADDR + 0x1000;
/// The address the second thread reads before anything is mapped there.
const FAULT_VADDR: u64 = TEST_VADDR + 0x10_0008;
/// The value the root task puts behind the fault address.
const FAULT_MAGIC: u64 = 0x5e14_f417_c0de_0001;
/// Badge of the second thread's fault endpoint cap.
const FAULT_BADGE: u64 = 0x42;
/// Label of the second thread's report message.
const REPORT_LABEL: u64 = 0x7e57;

const TESTS: usize = 3;

/// Runs the self-test; returns whether every check passed.
pub fn run(state: &mut RootState) -> bool {
    println!("TEST PLAN {TESTS}");
    let results = [
        report("kernel-objects-retype", retype_objects(state)),
        report("vspace-map-own", map_own_vspace(state)),
        report("fault-endpoint-resolve", resolve_thread_fault(state)),
    ];
    results.iter().all(|ok| *ok)
}

fn report(name: &str, r: Result<(), String>) -> bool {
    match r {
        Ok(()) => {
            println!("TEST PASS {name}");
            true
        }
        Err(e) => {
            println!("TEST FAIL {name}: {e}");
            false
        }
    }
}

/// One of each object kind the VM server will need, and the kernel agrees on their types.
fn retype_objects(state: &mut RootState) -> Result<(), String> {
    for ty in [
        ObjectType::Endpoint,
        ObjectType::Notification,
        ObjectType::Tcb,
        ObjectType::X86_4K,
    ] {
        let slot = object(state, ty, 0)?;
        if sel4::debug_cap_identify(slot) == 0 {
            return Err(format!("{ty:?} retype left slot {slot:?} empty"));
        }
    }
    let cnode = object(state, ObjectType::CapTable, 4)?;
    if sel4::debug_cap_identify(cnode) == 0 {
        return Err("CNode retype left its slot empty".into());
    }
    Ok(())
}

/// PDPT, page directory, page table and a frame mapped at an unused address; write and read back.
fn map_own_vspace(state: &mut RootState) -> Result<(), String> {
    let vspace = sel4::init_cap::INIT_THREAD_VSPACE;
    let attrs = VmAttributes::default();
    let pdpt: cap::PDPT = object(state, ObjectType::X86Pdpt, 0)?.cast();
    pdpt.x86_pdpt_map(vspace, TEST_VADDR, attrs)
        .map_err(|e| format!("PDPT map: {e:?}"))?;
    let pd: cap::PageDirectory = object(state, ObjectType::X86PageDirectory, 0)?.cast();
    pd.x86_page_directory_map(vspace, TEST_VADDR, attrs)
        .map_err(|e| format!("page directory map: {e:?}"))?;
    let pt: cap::PageTable = object(state, ObjectType::X86PageTable, 0)?.cast();
    pt.x86_page_table_map(vspace, TEST_VADDR, attrs)
        .map_err(|e| format!("page table map: {e:?}"))?;
    let frame: cap::Granule = object(state, ObjectType::X86_4K, 0)?.cast();
    frame
        .x86_page_map(vspace, TEST_VADDR, CapRights::read_write(), attrs)
        .map_err(|e| format!("frame map: {e:?}"))?;
    let words = TEST_VADDR as *mut u64;
    for i in 0..512 {
        // SAFETY: the frame was just mapped read-write at TEST_VADDR.
        unsafe {
            words
                .add(i)
                .write_volatile(0x1000_0000_0000_0000 | i as u64)
        };
    }
    for i in 0..512 {
        // SAFETY: word `i` < 512 of the 4 KiB frame mapped read-write at
        // TEST_VADDR above, which stays mapped; no Rust object lives there.
        let v = unsafe { words.add(i).read_volatile() };
        if v != 0x1000_0000_0000_0000 | i as u64 {
            return Err(format!("word {i} read back {v:#x}"));
        }
    }
    let paddr = frame
        .x86_page_get_address()
        .map_err(|e| format!("get address: {e:?}"))?;
    println!("root-task:   test frame at paddr {paddr:#x} mapped at {TEST_VADDR:#x}");
    Ok(())
}

/// The value the second thread read after its fault was resolved.
static THREAD_SAW: AtomicU64 = AtomicU64::new(0);

/// Stack of the second thread.
#[repr(C, align(16))]
struct ThreadStack([u8; 16 * 1024]);
static mut THREAD_STACK: ThreadStack = ThreadStack([0; 16 * 1024]);

/// The second thread: reads an unmapped address (faults; the root task
/// maps a frame there and replies), then reports what it read.
extern "C" fn fault_thread(addr: u64, report_ep: u64) -> ! {
    // SAFETY: the root task maps a frame here when the read faults.
    let v = unsafe { (addr as *const u64).read_volatile() };
    THREAD_SAW.store(v, Ordering::SeqCst);
    sel4::set_mr(0, v);
    sel4::send(
        CPtr::from_bits(report_ep),
        MessageInfo::new(REPORT_LABEL, 0, 0, 1),
    );
    loop {
        sel4::yield_now();
    }
}

fn resolve_thread_fault(state: &mut RootState) -> Result<(), String> {
    let vspace = sel4::init_cap::INIT_THREAD_VSPACE;
    let attrs = VmAttributes::default();
    let ep = object(state, ObjectType::Endpoint, 0)?;
    let badged = crate::component::badged(state, ep, CapRights::all(), FAULT_BADGE)?;
    let stack_top = core::ptr::addr_of_mut!(THREAD_STACK) as u64 + 16 * 1024;
    let tcb = crate::thread::spawn(
        state,
        sel4::init_cap::INIT_THREAD_VSPACE,
        fault_thread,
        (FAULT_VADDR, badged.bits()),
        badged,
        IPC_BUFFER_VADDR,
        stack_top,
        200,
    )?;

    // 1. The fault arrives as a message on the endpoint.
    let (info, badge) = sel4::recv(ep);
    if badge != FAULT_BADGE {
        return Err(format!("fault message had badge {badge:#x}"));
    }
    let fault_addr = match Fault::get_from_ipc_buffer(info) {
        Some(Fault::VmFault(f)) => {
            println!(
                "root-task:   VMFault at {:#x}, ip {:#x}, fsr {:#x}",
                f.addr, f.ip, f.fsr
            );
            f.addr
        }
        other => return Err(format!("expected a VMFault, got {other:?}")),
    };
    if fault_addr != FAULT_VADDR {
        return Err(format!(
            "fault address {fault_addr:#x}, expected {FAULT_VADDR:#x}"
        ));
    }
    // 2. Map a frame there, put the value in, and let the thread retry.
    let page = fault_addr & !0xfff;
    let frame: cap::Granule = object(state, ObjectType::X86_4K, 0)?.cast();
    frame
        .x86_page_map(vspace, page, CapRights::read_write(), attrs)
        .map_err(|e| format!("fault frame map: {e:?}"))?;
    // SAFETY: FAULT_VADDR (checked equal to `fault_addr` above, 8-byte
    // aligned) lies in the page just mapped read-write in our own VSpace;
    // the only other thread using it is blocked in its fault until the
    // reply below, and no Rust object lives there.
    unsafe { (FAULT_VADDR as *mut u64).write_volatile(FAULT_MAGIC) };
    sel4::reply(MessageInfo::new(0, 0, 0, 0));

    // 3. The thread reports what it read.
    let (info, _) = sel4::recv(ep);
    let reported = sel4::get_mr(0);
    tcb.tcb_suspend()
        .map_err(|e| format!("TCB suspend: {e:?}"))?;
    if info.label() != REPORT_LABEL {
        return Err(format!(
            "second message has label {:#x}, not the report",
            info.label()
        ));
    }
    if reported != FAULT_MAGIC || THREAD_SAW.load(Ordering::SeqCst) != FAULT_MAGIC {
        return Err(format!(
            "thread read {reported:#x}, expected {FAULT_MAGIC:#x}"
        ));
    }
    Ok(())
}
