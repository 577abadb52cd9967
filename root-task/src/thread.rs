//! Threads running the root task's code in its CSpace, for the boot
//! self-test and the floor benchmarks: a TCB, an IPC buffer page at a
//! given address, a static stack, and a fault endpoint the root task
//! holds; in the root task's VSpace or in another that maps its image.

use crate::component::{maker, object};
use crate::RootState;
use alloc::format;
use alloc::string::String;
use sel4::{cap, CPtr, CapData, CapRights, ObjectType, PrioProps, VmAttributes};

/// Entry of a root-task thread: two arguments, never returns.
pub type Entry = sel4_objects::ThreadEntry;

/// Starts `entry(arg0, arg1)` in `vspace` on `stack`, with its IPC
/// buffer mapped at `ipc_vaddr` (in that VSpace, and also in the root
/// task's when they differ, so the root task can initialise it) and
/// faults sent to `fault_ep` (a slot of the root CNode). The caller keeps
/// `stack` unused while the thread lives.
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    state: &mut RootState,
    vspace: cap::VSpace,
    entry: Entry,
    args: (u64, u64),
    fault_ep: CPtr,
    ipc_vaddr: u64,
    stack_top: u64,
    priority: u8,
) -> Result<cap::Tcb, String> {
    let cnode = sel4::init_cap::INIT_THREAD_CNODE;
    let own = sel4::init_cap::INIT_THREAD_VSPACE;
    let ipc_frame: cap::Granule = object(state, ObjectType::X86_4K, 0)?.cast();
    ipc_frame
        .x86_page_map(
            own,
            ipc_vaddr,
            CapRights::read_write(),
            VmAttributes::default(),
        )
        .map_err(|e| format!("IPC buffer map: {e:?}"))?;
    // SAFETY: just mapped at this address, which the thread uses too.
    unsafe { sel4::init_ipc_buffer(ipc_vaddr as *mut sel4::IpcBuffer) };
    if vspace != own {
        let copy = state.slots.alloc().ok_or("root CNode full")?;
        cnode
            .cnode_copy(
                copy.bits(),
                64,
                cnode,
                ipc_frame.bits(),
                64,
                CapRights::all(),
            )
            .map_err(|e| format!("IPC buffer copy: {e:?}"))?;
        sel4_objects::map_page(
            vspace,
            copy.cast(),
            ipc_vaddr,
            CapRights::read_write(),
            &mut maker(state),
        )
        .map_err(|e| format!("IPC buffer map: {e}"))?;
    }
    let tcb: cap::Tcb = object(state, ObjectType::Tcb, 0)?.cast();
    tcb.tcb_configure(
        fault_ep.bits(),
        PrioProps::new(0, priority),
        cnode,
        CapData::NONE,
        vspace,
        CapData::NONE,
        ipc_vaddr,
        ipc_frame,
    )
    .map_err(|e| format!("TCB configure: {e:?}"))?;
    sel4_objects::start_thread(tcb, entry, args, stack_top)?;
    Ok(tcb)
}
