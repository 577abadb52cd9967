//! `Sel4Platform`: the kernel side of the VM server, everything `vm_service::Platform` asks for as seL4 invocations: reply caps, suspending and reaping clients, the exit report to the root task, counters; a forked child's objects are made in `fork.rs`.
//!
//! Owned by the server's single-threaded loop (inside the `Service`).
//! It decides nothing: when to wait, retry, kill or fork is the
//! service's business (`vm-server/service`).

use crate::fork::ForkedObjects;
use crate::pagers::PagerChannels;
use crate::pmap::Sel4Pmap;
use crate::swapdev::SwapDisk;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use sel4::{cap, CPtr, CapRights, MessageInfo, ObjectType};
use sel4_root_task::control::{EXIT_REPORT, STATUS_KILLED};
use sel4_root_task::println;
use vm_core::{SpaceId, Vm};
use vm_service::{ClientId, ExitStatus, KernelCounters, Platform, ReplyMsg};

/// Page tables the idle thread keeps ready in the object cache
/// (`prepare_ahead`), beside one page directory: enough for a burst of
/// faults in as many new 2 MiB regions; 20 KiB of the server's untyped
/// memory with the directory.
const TABLES_AHEAD: usize = 4;

/// Fixed slots of every component's CSpace: the system spec's layout
/// (`capdl::slots`), as capability addresses.
pub mod slots {
    use capdl::slots as spec;
    pub const TCB: u64 = spec::TCB as u64;
    pub const CNODE: u64 = spec::CNODE as u64;
    pub const VSPACE: u64 = spec::VSPACE as u64;
    pub const IPC_BUFFER: u64 = spec::IPC_BUFFER as u64;
    pub const FAULT_EP: u64 = spec::FAULT_EP as u64;
    pub const ASID_POOL: u64 = spec::ASID_POOL as u64;
}

/// A client's kernel objects.
pub struct ClientCaps {
    pub tcb: cap::Tcb,
    pub cnode: cap::CNode,
    pub cnode_bits: u8,
    pub priority: u8,
    /// Its start-info page (read-only in its VSpace).
    pub start_info: cap::Granule,
    /// Slot of its request-endpoint cap, re-badged for forked children.
    pub request_slot: u64,
    /// Made by `fork`: the server owns its TCB, CNode, IPC buffer and start info.
    pub forked: Option<ForkedObjects>,
}

/// The seL4 side of the VM server.
pub struct Sel4Platform {
    pub pmap: Sel4Pmap,
    pub clients: BTreeMap<ClientId, ClientCaps>,
    /// Unbadged, full-rights cap to the endpoint the server receives on
    /// (for minting children's caps).
    pub endpoint: CPtr,
    /// The root task's control endpoint (exit reports), if given.
    pub root: Option<CPtr>,
    /// A frame-sized window in the server's VSpace for filling pages that
    /// are not in the pool.
    pub scratch: u64,
    /// (kernel objects, cap slots) in use when the server was ready, before
    /// any client: what it must be back to when no client is left.
    pub baseline: (u64, u64),
    /// The pager channels, for their attach words.
    pub pagers: PagerChannels,
    /// TSC cycles the loop spent handling messages (from the return of
    /// its receive to its reply), and the messages handled.
    pub loop_time: (u64, u64),
    /// The notification the block server and the pagers signal
    /// completions on (`swap_done`, bound to the server's TCB), once swap
    /// is attached.
    pub completion_signal: Option<CPtr>,
}

impl Sel4Platform {
    pub fn new(pmap: Sel4Pmap, endpoint: CPtr, root: Option<CPtr>, scratch: u64) -> Self {
        let mut p = Sel4Platform {
            pmap,
            clients: BTreeMap::new(),
            endpoint,
            root,
            scratch,
            baseline: (0, 0),
            pagers: PagerChannels::default(),
            completion_signal: None,
            loop_time: (0, 0),
        };
        // The scratch window's paging structures are the server's own:
        // make them now, so they are part of the baseline.
        if let Ok(probe) = p.pmap.kernel.object(ObjectType::X86_4K, 0) {
            let _ = p.with_scratch(probe.cast(), |_| ());
            p.pmap.kernel.release(ObjectType::X86_4K, 0, probe);
        }
        p.baseline = p.kernel_use();
        p
    }

    /// (kernel objects in use, capability slots in use) as `Stats`
    /// reports them. Slots holding idle spare mapping caps or cached
    /// objects are a reserve kept for reuse, not use.
    pub fn kernel_use(&self) -> (u64, u64) {
        let k = &self.pmap.kernel.stats;
        (
            k.in_use,
            k.slots_in_use - self.pmap.idle_spares() as u64 - k.cached,
        )
    }

    /// Runs `f` on the contents of `frame` (not a pool frame) mapped in
    /// the scratch window.
    pub(crate) fn with_scratch<R>(
        &mut self,
        frame: cap::Granule,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, String> {
        let own = cap::VSpace::from_bits(slots::VSPACE);
        let k = &mut self.pmap.kernel;
        let mut make = |ty| k.object(ty, 0);
        sel4_objects::map_page(own, frame, self.scratch, CapRights::read_write(), &mut make)
            .map_err(|e| format!("scratch map: {e}"))?;
        // SAFETY: mapped read-write at `scratch` until the unmap below,
        // and nothing else uses the window meanwhile.
        let r = f(unsafe { core::slice::from_raw_parts_mut(self.scratch as *mut u8, 4096) });
        frame
            .x86_page_unmap()
            .map_err(|e| format!("scratch unmap: {e:?}"))?;
        Ok(r)
    }

    /// The contents of a frame outside the pool.
    pub(crate) fn read_frame(&mut self, frame: cap::Granule) -> Result<Vec<u8>, String> {
        let mut page = alloc::vec![0u8; 4096];
        self.with_scratch(frame, |b| page.copy_from_slice(b))?;
        Ok(page)
    }
}

/// The reply cap of a fault that waits, moved to a slot of its own.
pub struct SavedReply(CPtr);

impl Platform for Sel4Platform {
    type Pmap = Sel4Pmap;
    type Reply = SavedReply;

    fn pmap(&mut self) -> &mut Sel4Pmap {
        &mut self.pmap
    }

    fn pmap_ref(&self) -> &Sel4Pmap {
        &self.pmap
    }

    fn save_reply(&mut self) -> Result<SavedReply, String> {
        let slot = self.pmap.kernel.slot()?;
        let own = cap::CNode::from_bits(slots::CNODE);
        if let Err(e) = own.cnode_save_caller(slot.bits(), 64) {
            self.pmap.kernel.free_slot(slot);
            return Err(format!("save caller: {e:?}"));
        }
        Ok(SavedReply(slot))
    }

    fn clear_completion_signal(&mut self) {
        if let Some(n) = self.completion_signal {
            sel4::poll(n);
        }
    }

    fn resume(&mut self, reply: SavedReply) {
        sel4::send(reply.0, MessageInfo::new(0, 0, 0, 0));
        self.pmap.kernel.free_slot(reply.0);
    }

    fn drop_reply(&mut self, reply: SavedReply) {
        let own = cap::CNode::from_bits(slots::CNODE);
        let _ = own.cnode_delete(reply.0.bits(), 64);
        self.pmap.kernel.free_slot(reply.0);
    }

    fn answer(&mut self, reply: SavedReply, msg: &ReplyMsg) {
        sel4::with_ipc_buffer_mut(|b| b.msg[..msg.len].copy_from_slice(msg.words()));
        sel4::send(reply.0, MessageInfo::new(msg.label, 0, 0, msg.len as u64));
        self.pmap.kernel.free_slot(reply.0);
    }

    fn pager_attach_word(&self, pager: u32) -> Option<u64> {
        self.pagers.attach_word(pager)
    }

    fn start_client(&mut self, client: ClientId, entry: u64) -> Result<(), String> {
        use crate::fork::USER_CONTEXT_WORDS;
        let c = self.clients.get(&client).ok_or("no such client")?;
        // The root task set the rest (the start-info pointer in rdi).
        let mut regs = c
            .tcb
            .tcb_read_registers(false, 0, USER_CONTEXT_WORDS)
            .map_err(|e| format!("read registers: {e:?}"))?;
        regs.rip = entry;
        c.tcb
            .tcb_write_registers(true, 0, USER_CONTEXT_WORDS, &regs)
            .map_err(|e| format!("start at {entry:#x}: {e:?}"))
    }

    fn suspend(&mut self, client: ClientId) {
        if let Some(c) = self.clients.get(&client) {
            let _ = c.tcb.tcb_suspend();
        }
    }

    fn reap(&mut self, client: ClientId, status: ExitStatus) {
        let Some(c) = self.clients.remove(&client) else {
            return;
        };
        if let Some(objs) = &c.forked {
            // Everything the server made for the child goes back to its
            // caches; forked children are the server's, not the root task's.
            self.release_forked(&c, objs);
            return;
        }
        let status = match status {
            ExitStatus::Exited(s) => s,
            ExitStatus::Killed(None) => STATUS_KILLED,
            ExitStatus::Killed(Some(e)) => STATUS_KILLED + e.code(),
        };
        if let Some(root) = self.root {
            sel4::set_mr(0, client);
            sel4::set_mr(1, status);
            sel4::call(root, MessageInfo::new(EXIT_REPORT, 0, 0, 2));
        }
    }

    fn spawn_child(
        &mut self,
        parent: ClientId,
        child: ClientId,
        space: SpaceId,
    ) -> Result<(), String> {
        self.fork_child(parent, child, space)
    }

    fn arm_read_failure(&mut self, vm: &mut Vm) -> bool {
        match vm.swap_device_mut::<SwapDisk>() {
            Some(disk) => {
                disk.fail_next_read = true;
                true
            }
            None => false,
        }
    }

    fn disarm_read_failure(&mut self, vm: &mut Vm) -> bool {
        vm.swap_device_mut::<SwapDisk>()
            .is_some_and(|disk| !core::mem::take(&mut disk.fail_next_read))
    }

    fn space_footprint(&self, space: SpaceId) -> (u64, u64) {
        let (pages, tables) = self.pmap.footprint(space);
        (pages as u64, tables as u64)
    }

    fn kernel_counters(&self) -> KernelCounters {
        let k = &self.pmap.kernel.stats;
        let (in_use, slots) = self.kernel_use();
        KernelCounters {
            objects_in_use: in_use,
            objects_cached: k.cached,
            objects_retyped: k.retyped,
            objects_prepared: k.prepared,
            slots_in_use: slots,
            mappings: self.pmap.stats.mappings,
            page_tables: self.pmap.tables_held() as u64,
            objects_baseline: self.baseline.0,
            slots_baseline: self.baseline.1,
            invocations: sel4::invocations(),
            heap_bytes: sel4_root_task::heap::allocated_bytes() as u64,
            handling_cycles: self.loop_time.0,
            messages: self.loop_time.1,
            swap_doorbells: crate::swapdev::doorbells().0,
            swap_doorbell_cycles: crate::swapdev::doorbells().1,
        }
    }

    fn log(&mut self, line: fmt::Arguments) {
        println!("{line}");
    }

    /// Keeps [`TABLES_AHEAD`] page tables and a page directory in the
    /// object cache. A fault that needs one then maps it without retyping
    /// it; out of untyped memory this does nothing, and the fault that
    /// needs a table says so.
    fn prepare_ahead(&mut self) -> bool {
        let k = &mut self.pmap.kernel;
        match k.prepare(ObjectType::X86PageTable, 0, TABLES_AHEAD) {
            Ok(true) => true,
            Ok(false) => matches!(k.prepare(ObjectType::X86PageDirectory, 0, 1), Ok(true)),
            Err(_) => false,
        }
    }

    fn cycles(&self) -> u64 {
        crate::rdtsc()
    }
}
