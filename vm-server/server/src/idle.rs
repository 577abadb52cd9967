//! The server's idle thread: a second thread in the server's own VSpace and CSpace, at priority 1 (below every client), calling the server's endpoint in a loop, so each call (`Message::Idle`, `vm_service::idle`) means nothing else in the system could run.
//!
//! It shares no data with the server's thread: it only makes empty calls
//! with a badge of its own, on a stack and an IPC buffer nothing else
//! uses. The service keeps its reply while there is no idle work, so an
//! idle system does not spin.

use crate::kernel::Kernel;
use crate::platform::slots;
use alloc::format;
use alloc::string::String;
use sel4::{cap, CPtr, CapData, CapRights, MessageInfo, ObjectType, PrioProps, Word};

/// The badge of the idle thread's endpoint cap: the first past every
/// client id (`vm_service::CLIENT_ID_END`, which spec badges and forks
/// stay below); `NOTIFY_BADGE` is the next bit up.
pub const IDLE_BADGE: Word = vm_service::CLIENT_ID_END;
/// Below every client's priority (seL4's own idle thread is below all).
const IDLE_PRIORITY: u8 = 1;
/// The idle thread's IPC buffer in the server's VSpace, beside the
/// scratch page.
const IDLE_IPC_VADDR: u64 = 0x0e_0010_0000;
const STACK_BYTES: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stack([u8; STACK_BYTES]);
/// The idle thread's stack: only that thread touches it.
static mut IDLE_STACK: Stack = Stack([0; STACK_BYTES]);

/// The idle thread's whole life: empty calls to the endpoint in `ep`.
extern "C" fn idle_thread(ep: u64, ipc_buffer: u64) -> ! {
    // SAFETY: `ipc_buffer` is this thread's own IPC buffer, the one its
    // TCB names, mapped read-write at that address (`start`).
    unsafe { sel4::init_ipc_buffer(ipc_buffer as *mut sel4::IpcBuffer) };
    loop {
        sel4::call(CPtr::from_bits(ep), MessageInfo::new(0, 0, 0, 0));
    }
}

/// Makes the idle thread (a TCB, an IPC buffer frame mapped at
/// `IDLE_IPC_VADDR`, an endpoint cap badged `IDLE_BADGE`) and starts it.
pub fn start(kernel: &mut Kernel, endpoint: CPtr) -> Result<(), String> {
    let own_cnode = cap::CNode::from_bits(slots::CNODE);
    let own_vspace = cap::VSpace::from_bits(slots::VSPACE);
    let ep = kernel.slot()?;
    own_cnode
        .cnode_mint(
            ep.bits(),
            64,
            own_cnode,
            endpoint.bits(),
            64,
            CapRights::new(true, false, true),
            CapData::badge(IDLE_BADGE),
        )
        .map_err(|e| format!("idle endpoint cap: {e:?}"))?;
    let ipc_frame: cap::Granule = kernel.object(ObjectType::X86_4K, 0)?.cast();
    let mut make = |ty| kernel.object(ty, 0);
    sel4_objects::map_page(
        own_vspace,
        ipc_frame,
        IDLE_IPC_VADDR,
        CapRights::read_write(),
        &mut make,
    )
    .map_err(|e| format!("idle IPC buffer: {e}"))?;
    let tcb: cap::Tcb = kernel.object(ObjectType::Tcb, 0)?.cast();
    tcb.tcb_configure(
        0,
        PrioProps::new(0, IDLE_PRIORITY),
        own_cnode,
        CapData::NONE,
        own_vspace,
        CapData::NONE,
        IDLE_IPC_VADDR,
        ipc_frame,
    )
    .map_err(|e| format!("idle TCB: {e:?}"))?;
    let stack_top = core::ptr::addr_of_mut!(IDLE_STACK) as u64 + STACK_BYTES as u64;
    sel4_objects::start_thread(tcb, idle_thread, (ep.bits(), IDLE_IPC_VADDR), stack_top)
}
