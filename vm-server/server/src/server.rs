//! The server's state and the handling of one message: a client's page
//! fault, or a request over the `vm-api` protocol.
//!
//! A client is known by the badge of its endpoint caps (the same badge on
//! its fault endpoint and its request endpoint: fault messages carry kernel
//! fault labels, requests labels from `0x100`). A client forged "fault" can
//! only ask for what touching its own memory would do. An unresolvable
//! fault stops the client cleanly: the server reports it on the console,
//! frees everything the client held, and tells the root task; every other
//! client keeps being served. Owned by the single-threaded server loop.

use crate::convert;
use crate::pmap::Sel4Pmap;
use crate::swapdev::SwapDisk;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use sel4::{cap, CPtr, CapData, CapRights, Fault, MessageInfo, ObjectType, PrioProps, Word};
use sel4_root_task::println;
use sel4_root_task::start_info::{StartInfo, IPC_BUFFER_VADDR, START_INFO_VADDR};
use vm_api::{ApiError, ForkReply, Reply, VmService};
use vm_core::{Access, FaultOutcome, SpaceId, Vm, VmError};

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

pub use sel4_root_task::control::STATUS_KILLED;
use sel4_root_task::control::{EXIT_REPORT, OBSERVER_BADGE};
/// Requests are labelled from here on (`vm-api`); lower labels are kernel fault messages.
const FIRST_REQUEST_LABEL: Word = 0x100;
/// Badges of forked children start here, above any the spec hands out.
const FIRST_CHILD_BADGE: u64 = 0x10_0000;

/// One client the server pages for.
pub struct Client {
    pub name: String,
    pub space: SpaceId,
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
    /// The client that forked this one, if any.
    pub parent: Option<u64>,
    pub faults: u64,
}

/// Kernel objects the server made for a forked child.
pub struct ForkedObjects {
    ipc_frame: cap::Granule,
    start_info: cap::Granule,
    /// Slots of the child's CNode that fork filled.
    filled: alloc::vec::Vec<u64>,
}

/// A fault waiting for swap I/O: its reply cap is saved (`CNode_SaveCaller`)
/// so the server serves everyone else meanwhile, and the fault is retried
/// after each completion.
struct Waiter {
    badge: Word,
    addr: u64,
    access: Access,
    /// Slot of the saved reply cap.
    reply: CPtr,
}

/// Badge bit of the server's bound notification (the block server's
/// completion signal). Client badges never have it (spec badges are small,
/// forked children count up from 2^20); the observer badge has every bit
/// and is checked first.
pub const NOTIFY_BADGE: Word = 1 << 27;

/// The VM server.
pub struct Server {
    pub vm: Vm,
    pub pmap: Sel4Pmap,
    pub clients: BTreeMap<u64, Client>,
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
    next_child: u64,
    /// Faults waiting for swap I/O.
    waiting: alloc::vec::Vec<Waiter>,
    /// The client whose next page-in read is to fail (`FailNextPagein`).
    fail_pagein: Option<Word>,
    /// Clients the OOM killer stopped.
    pub oom_kills: u64,
}

/// What to do after handling a message.
pub enum Outcome {
    /// Reply with this message (its words are in the IPC buffer).
    Reply(MessageInfo),
    /// Send nothing: the sender is gone or was stopped.
    NoReply,
}

impl Server {
    pub fn new(vm: Vm, pmap: Sel4Pmap, endpoint: CPtr, root: Option<CPtr>, scratch: u64) -> Self {
        let mut s = Server {
            vm,
            pmap,
            clients: BTreeMap::new(),
            endpoint,
            root,
            scratch,
            baseline: (0, 0),
            next_child: FIRST_CHILD_BADGE,
            waiting: alloc::vec::Vec::new(),
            fail_pagein: None,
            oom_kills: 0,
        };
        // The scratch window's paging structures are the server's own:
        // make them now, so they are part of the baseline.
        if let Ok(probe) = s.pmap.kernel.object(ObjectType::X86_4K, 0) {
            let _ = s.with_scratch(probe.cast(), |_| ());
            s.pmap.kernel.release(ObjectType::X86_4K, 0, probe);
        }
        s.baseline = crate::stats::kernel_use(&s);
        s
    }

    /// Handles one received message from the client with `badge`, then
    /// lets pageout catch up if free pages ran short.
    pub fn handle(&mut self, info: MessageInfo, badge: Word) -> Outcome {
        let out = self.handle_message(info, badge);
        if self.vm.swap().is_none() {
            return out;
        }
        let short = self.vm.pageout_shortage(!self.waiting.is_empty());
        // A synchronous wait in the core (fork, mlock, ...) may have taken
        // the completion signal of faults that are waiting.
        let pending = self.vm.swap_completions_pending();
        if short == 0 && !pending {
            return out;
        }
        // Pageout and deferred replies use the IPC buffer; the reply for
        // `out` is in it, so keep it.
        let saved = sel4::with_ipc_buffer_mut(|b| b.msg);
        if short > 0 {
            self.vm.pageout(&mut self.pmap, short);
            if self.vm.out_of_swap() {
                self.oom_kill();
            }
        }
        if pending {
            self.swap_completions();
        }
        sel4::with_ipc_buffer_mut(|b| b.msg = saved);
        match out {
            // The sender itself was stopped meanwhile: its reply cap is gone.
            Outcome::Reply(_) if self.is_stopped_client(badge) => Outcome::NoReply,
            out => out,
        }
    }

    /// True for a client badge whose client is gone (not the observer's
    /// or the notification's badge).
    fn is_stopped_client(&self, badge: Word) -> bool {
        badge != OBSERVER_BADGE && badge & NOTIFY_BADGE == 0 && !self.clients.contains_key(&badge)
    }

    /// The OOM killer: stops the client the core's `OomPolicy` picks
    /// (by default the one charged with the most pages) with `NoSwap`, or
    /// `OutOfMemory` when there is no swap. Returns its badge (`None`: the
    /// policy picked nobody).
    fn oom_kill(&mut self) -> Option<Word> {
        let victim = self.vm.oom_victim()?;
        let badge = self
            .clients
            .iter()
            .find(|(_, c)| c.space == victim)
            .map(|(&b, _)| b)?;
        let (error, why) = if self.vm.swap().is_some() {
            (ApiError::NoSwap, "out of swap space")
        } else {
            (ApiError::OutOfMemory, "out of memory")
        };
        self.oom_kills += 1;
        self.kill(badge, why, STATUS_KILLED + error.code());
        Some(badge)
    }

    fn handle_message(&mut self, info: MessageInfo, badge: Word) -> Outcome {
        if badge == OBSERVER_BADGE {
            return Outcome::Reply(self.observe(info));
        }
        if badge & NOTIFY_BADGE != 0 {
            self.swap_completions();
            return Outcome::NoReply;
        }
        if !self.clients.contains_key(&badge) {
            println!(
                "vm-server: message from unknown badge {badge:#x} (label {:#x}) ignored",
                info.label()
            );
            return Outcome::NoReply;
        }
        if info.label() < FIRST_REQUEST_LABEL {
            return match Fault::get_from_ipc_buffer(info) {
                Some(Fault::VmFault(f)) => self.page_fault(badge, f),
                Some(other) => {
                    self.kill(badge, &format!("{other:?}"), STATUS_KILLED);
                    Outcome::NoReply
                }
                None => Outcome::Reply(self.error_reply(ApiError::UnknownOperation)),
            };
        }
        let len = (info.length() as usize).min(sel4::MSG_MAX_LENGTH);
        let mut words = [0 as Word; sel4::MSG_MAX_LENGTH];
        sel4::with_ipc_buffer_mut(|b| words[..len].copy_from_slice(&b.msg[..len]));
        let mut out = [0 as Word; sel4::MSG_MAX_LENGTH];
        let (label, n) = vm_api::dispatch(self, badge, info.label(), &words[..len], &mut out);
        if !vm_api::needs_reply(info.label(), label) || !self.clients.contains_key(&badge) {
            return Outcome::NoReply;
        }
        sel4::with_ipc_buffer_mut(|b| b.msg[..n].copy_from_slice(&out[..n]));
        Outcome::Reply(MessageInfo::new(label, 0, 0, n as Word))
    }

    /// The root task's read-only view: `Stats` and nothing else.
    fn observe(&mut self, info: MessageInfo) -> MessageInfo {
        if info.label() != vm_api::Operation::Stats.label() {
            return self.error_reply(ApiError::BadClient);
        }
        let mut out = [0 as Word; sel4::MSG_MAX_LENGTH];
        let (label, n) = Reply::Stats(crate::stats::global(self)).encode(&mut out);
        sel4::with_ipc_buffer_mut(|b| b.msg[..n].copy_from_slice(&out[..n]));
        MessageInfo::new(label, 0, 0, n as Word)
    }

    fn error_reply(&self, e: ApiError) -> MessageInfo {
        MessageInfo::new(e.code(), 0, 0, 0)
    }

    /// Resolves a VMFault; a fault the core refuses stops the client.
    fn page_fault(&mut self, badge: Word, f: sel4::fault::VmFault) -> Outcome {
        let access = if f.is_instruction_fetch() {
            Access::Execute
        } else if f.is_write() {
            Access::Write
        } else {
            Access::Read
        };
        let client = self.clients.get_mut(&badge).unwrap();
        client.faults += 1;
        let space = client.space;
        let Some(result) = self.fault_or_oom(badge, space, f.addr, access) else {
            return Outcome::NoReply;
        };
        match result {
            Ok(FaultOutcome::Mapped(_)) => Outcome::Reply(MessageInfo::new(0, 0, 0, 0)),
            Ok(FaultOutcome::Wait(_)) => {
                // Keep the reply cap and serve others until the I/O is done.
                match self.save_reply() {
                    Ok(reply) => {
                        self.waiting.push(Waiter {
                            badge,
                            addr: f.addr,
                            access,
                            reply,
                        });
                        Outcome::NoReply
                    }
                    Err(e) => {
                        self.kill(badge, &e, STATUS_KILLED + ApiError::OutOfMemory.code());
                        Outcome::NoReply
                    }
                }
            }
            Ok(other) => {
                println!("vm-server: fault outcome {other:?} not handled yet");
                self.kill(badge, "unsupported fault outcome", STATUS_KILLED);
                Outcome::NoReply
            }
            Err(e) => {
                let why = format!("{access:?} fault at {:#x} (ip {:#x}): {e:?}", f.addr, f.ip);
                self.kill(badge, &why, STATUS_KILLED + convert::error(e).code());
                Outcome::NoReply
            }
        }
    }

    /// `Vm::fault` (with the client's `FailNextPagein` armed, if it
    /// asked). Out of memory, pageout runs first and the fault is tried
    /// again (it then waits for the writes pageout started). Only when
    /// memory and swap are exhausted (`Vm::out_of_swap`), or there is no
    /// swap, does the OOM killer stop someone; unless that was the
    /// faulting client (`None`), the fault is tried again.
    fn fault_or_oom(
        &mut self,
        badge: Word,
        space: SpaceId,
        addr: u64,
        access: Access,
    ) -> Option<Result<FaultOutcome, VmError>> {
        let mut paged_out = false;
        loop {
            let armed = self.arm_pagein_failure(badge);
            let result = self.vm.fault(space, addr, access, &mut self.pmap);
            if armed {
                self.disarm_pagein_failure();
            }
            if !matches!(result, Err(VmError::OutOfMemory | VmError::NoSwap)) {
                return Some(result);
            }
            let swap = self.vm.swap().is_some();
            if swap && !paged_out {
                paged_out = true;
                let want = self.vm.pageout_shortage(true).max(1);
                self.vm.pageout(&mut self.pmap, want);
                continue;
            }
            if swap && !self.vm.out_of_swap() {
                // Short of something pageout cannot give (kernel objects,
                // say): this fault fails alone.
                return Some(result);
            }
            match self.oom_kill() {
                Some(victim) if victim == badge => return None,
                Some(_) => paged_out = false,
                None => return Some(result),
            }
        }
    }

    /// Arms the swap device to fail the next read when `badge` asked for
    /// it (`FailNextPagein`); returns whether it did.
    fn arm_pagein_failure(&mut self, badge: Word) -> bool {
        if self.fail_pagein != Some(badge) {
            return false;
        }
        match self.vm.swap_device_mut::<SwapDisk>() {
            Some(disk) => {
                disk.fail_next_read = true;
                true
            }
            None => false,
        }
    }

    /// After the armed client's fault: a read it started used the failure
    /// up; otherwise it stays pending for that client, not the next reader.
    fn disarm_pagein_failure(&mut self) {
        if let Some(disk) = self.vm.swap_device_mut::<SwapDisk>() {
            if !core::mem::take(&mut disk.fail_next_read) {
                self.fail_pagein = None;
            }
        }
    }

    /// Moves the current reply cap into a fresh slot.
    fn save_reply(&mut self) -> Result<CPtr, String> {
        let slot = self.pmap.kernel.slot()?;
        let own = cap::CNode::from_bits(slots::CNODE);
        if let Err(e) = own.cnode_save_caller(slot.bits(), 64) {
            self.pmap.kernel.free_slot(slot);
            return Err(format!("save caller: {e:?}"));
        }
        Ok(slot)
    }

    /// Takes the swap device's completions and retries the waiting faults:
    /// mapped ones are answered through their saved reply caps, ones that
    /// must still wait stay, failed ones stop their client.
    fn swap_completions(&mut self) {
        // Only which faults to retry matters, not which requests finished:
        // a retried fault maps, waits again, or fails (`Io` for the one
        // whose page-in failed).
        self.vm.swap_poll(&mut self.pmap);
        let waiting = core::mem::take(&mut self.waiting);
        for w in waiting {
            let Some(space) = self.clients.get(&w.badge).map(|c| c.space) else {
                self.pmap.kernel.free_slot(w.reply);
                continue;
            };
            let Some(result) = self.fault_or_oom(w.badge, space, w.addr, w.access) else {
                // Stopped by the OOM killer; this waiter was already taken
                // off the list its cleanup frees.
                self.pmap.kernel.free_slot(w.reply);
                continue;
            };
            match result {
                Ok(FaultOutcome::Mapped(_)) => {
                    sel4::send(w.reply, MessageInfo::new(0, 0, 0, 0));
                    self.pmap.kernel.free_slot(w.reply);
                }
                Ok(FaultOutcome::Wait(_)) => self.waiting.push(w),
                Ok(other) => {
                    self.pmap.kernel.free_slot(w.reply);
                    self.kill(
                        w.badge,
                        &format!("unsupported fault outcome {other:?}"),
                        STATUS_KILLED,
                    );
                }
                Err(e) => {
                    self.pmap.kernel.free_slot(w.reply);
                    let why = format!(
                        "{:?} fault at {:#x} after swap I/O: {e:?}",
                        w.access, w.addr
                    );
                    self.kill(w.badge, &why, STATUS_KILLED + convert::error(e).code());
                }
            }
        }
    }

    /// Stops a client: reports why, frees its memory and objects, tells the root task.
    pub fn kill(&mut self, badge: Word, why: &str, status: u64) {
        if let Some(c) = self.clients.get(&badge) {
            println!(
                "vm-server: stopping client {} (badge {badge:#x}): {why}",
                c.name
            );
        }
        self.destroy(badge, status);
    }

    /// Frees everything a client held and reports its exit to the root task.
    fn destroy(&mut self, badge: Word, status: u64) {
        let Some(c) = self.clients.remove(&badge) else {
            return;
        };
        for w in self.waiting.iter().filter(|w| w.badge == badge) {
            self.pmap.kernel.free_slot(w.reply);
        }
        self.waiting.retain(|w| w.badge != badge);
        if self.fail_pagein == Some(badge) {
            self.fail_pagein = None;
        }
        let _ = c.tcb.tcb_suspend();
        if let Err(e) = self.vm.exit(c.space, &mut self.pmap) {
            println!("vm-server: exit of {}: {e:?}", c.name);
        }
        let forked = c.forked.is_some();
        if let Some(objs) = c.forked {
            // Everything the server made for the child goes back to its caches.
            let k = &mut self.pmap.kernel;
            // Empty the CNode before it is reused.
            for &slot in &objs.filled {
                let _ = c.cnode.cnode_delete(slot, c.cnode_bits);
            }
            k.release(ObjectType::Tcb, 0, c.tcb.cptr());
            k.release(ObjectType::CapTable, c.cnode_bits, c.cnode.cptr());
            k.release(ObjectType::X86_4K, 0, objs.ipc_frame.cptr());
            k.release(ObjectType::X86_4K, 0, objs.start_info.cptr());
        }
        // The root task tracks the clients it made; forked children are ours.
        if let (Some(root), false) = (self.root, forked) {
            sel4::set_mr(0, badge);
            sel4::set_mr(1, status);
            sel4::call(root, MessageInfo::new(EXIT_REPORT, 0, 0, 2));
        }
    }

    /// Registers a client the root task built and loads its program.
    pub fn add_client(
        &mut self,
        badge: u64,
        client: ClientSetup,
        image: &[u8],
    ) -> Result<(), String> {
        self.pmap.adopt_next(client.vspace);
        let space = self
            .vm
            .space_create(&mut self.pmap)
            .map_err(|e| format!("space: {e:?}"))?;
        if let Err(e) = crate::loader::load(self, space, image) {
            // Give back what the partial load took.
            let _ = self.vm.exit(space, &mut self.pmap);
            return Err(format!("{}: {e}", client.name));
        }
        self.clients.insert(
            badge,
            Client {
                name: client.name,
                space,
                tcb: client.tcb,
                cnode: client.cnode,
                cnode_bits: client.cnode_bits,
                priority: client.priority,
                start_info: client.start_info,
                request_slot: client.request_slot,
                forked: None,
                parent: None,
                faults: 0,
            },
        );
        Ok(())
    }

    /// Runs `f` on the contents of `frame` (not a pool frame) mapped in the scratch window.
    fn with_scratch<R>(
        &mut self,
        frame: cap::Granule,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R, String> {
        let own = cap::VSpace::from_bits(slots::VSPACE);
        let k = &mut self.pmap.kernel;
        let mut make = |ty| k.object(ty, 0);
        sel4_objects::map_page(own, frame, self.scratch, CapRights::read_write(), &mut make)
            .map_err(|e| format!("scratch map: {e}"))?;
        // SAFETY: mapped read-write at `scratch` until the unmap below.
        let r = f(unsafe { core::slice::from_raw_parts_mut(self.scratch as *mut u8, 4096) });
        frame
            .x86_page_unmap()
            .map_err(|e| format!("scratch unmap: {e:?}"))?;
        Ok(r)
    }

    /// The contents of a frame outside the pool.
    fn read_frame(&mut self, frame: cap::Granule) -> Result<alloc::vec::Vec<u8>, String> {
        let mut page = alloc::vec![0u8; 4096];
        self.with_scratch(frame, |b| page.copy_from_slice(b))?;
        Ok(page)
    }

    /// Makes the child of `parent_badge`; see `VmService::fork`.
    fn fork_client(&mut self, parent_badge: u64) -> Result<u64, String> {
        let child_badge = self.next_child;
        let p = self.clients.get(&parent_badge).ok_or("no parent")?;
        let (p_tcb, p_cnode, bits, prio, p_info, req_slot, name) = (
            p.tcb,
            p.cnode,
            p.cnode_bits,
            p.priority,
            p.start_info,
            p.request_slot,
            p.name.clone(),
        );
        let mut regs = p_tcb
            .tcb_read_registers(false, 0, USER_CONTEXT_WORDS)
            .map_err(|e| format!("read registers: {e:?}"))?;
        let child_space = self
            .vm
            .fork(self.clients[&parent_badge].space, &mut self.pmap)
            .map_err(|e| format!("fork: {e:?}"))?;
        let vspace = self.pmap.vspace(child_space).ok_or("child has no VSpace")?;
        let k = &mut self.pmap.kernel;
        let objects = (|| -> Result<_, String> {
            Ok((
                k.object(ObjectType::CapTable, bits)?
                    .cast::<sel4::cap_type::CNode>(),
                k.object(ObjectType::Tcb, 0)?.cast::<sel4::cap_type::Tcb>(),
                k.object(ObjectType::X86_4K, 0)?
                    .cast::<sel4::cap_type::Granule>(),
                k.object(ObjectType::X86_4K, 0)?
                    .cast::<sel4::cap_type::Granule>(),
            ))
        })();
        let (cnode, tcb, ipc_frame, info_frame) = match objects {
            Ok(o) => o,
            Err(e) => {
                let _ = self.vm.exit(child_space, &mut self.pmap);
                return Err(e);
            }
        };
        self.next_child += 1;
        let own = cap::CNode::from_bits(slots::CNODE);
        // The caps the parent's start info names (its spec caps and the
        // root task's), then the child's own objects over the fixed slots,
        // then its request cap re-badged.
        let info_page = match self.read_frame(p_info) {
            Ok(p) => p,
            Err(e) => {
                let _ = self.vm.exit(child_space, &mut self.pmap);
                return Err(e);
            }
        };
        // SAFETY: the page holds a StartInfo the root task wrote (plain old
        // data: any bit pattern is a valid value).
        let named: StartInfo = unsafe { core::ptr::read_unaligned(info_page.as_ptr().cast()) };
        let mut filled: alloc::vec::Vec<u64> = alloc::vec![
            slots::TCB,
            slots::CNODE,
            slots::VSPACE,
            slots::IPC_BUFFER,
            slots::FAULT_EP
        ];
        for c in named.caps().iter().filter(|c| c.slot != 0) {
            if cnode
                .cnode_copy(c.slot, bits, p_cnode, c.slot, bits, CapRights::all())
                .is_ok()
            {
                filled.push(c.slot);
            }
        }
        let mint = |dest: u64, src: CPtr, data: CapData| {
            cnode.cnode_mint(dest, bits, own, src.bits(), 64, CapRights::all(), data)
        };
        let guard = CapData::guard(0, 64 - bits as u64);
        let mut result = mint(slots::TCB, tcb.cptr(), CapData::NONE)
            .and_then(|_| mint(slots::CNODE, cnode.cptr(), guard))
            .and_then(|_| mint(slots::VSPACE, vspace.cptr(), CapData::NONE))
            .and_then(|_| mint(slots::IPC_BUFFER, ipc_frame.cptr(), CapData::NONE))
            .and_then(|_| mint(slots::FAULT_EP, self.endpoint, CapData::badge(child_badge)))
            .map_err(|e| format!("child CSpace: {e:?}"));
        if result.is_ok() && req_slot != 0 {
            let _ = cnode.cnode_delete(req_slot, bits);
            result = cnode
                .cnode_mint(
                    req_slot,
                    bits,
                    own,
                    self.endpoint.bits(),
                    64,
                    CapRights::new(true, false, true),
                    CapData::badge(child_badge),
                )
                .map_err(|e| format!("child request cap: {e:?}"));
        }
        // The IPC buffer: the runtime finds it through its user_data word.
        let result = result
            .and_then(|_| {
                self.with_scratch(ipc_frame, |b| {
                    b.fill(0);
                    let off = core::mem::offset_of!(sel4::IpcBuffer, user_data);
                    b[off..off + 8].copy_from_slice(&IPC_BUFFER_VADDR.to_le_bytes());
                })
            })
            .and_then(|_| self.with_scratch(info_frame, |b| b.copy_from_slice(&info_page)))
            .and_then(|_| {
                self.pmap
                    .map_wired(
                        child_space,
                        ipc_frame,
                        IPC_BUFFER_VADDR,
                        CapRights::read_write(),
                    )
                    .map_err(|e| format!("{e:?}"))?;
                self.pmap
                    .map_wired(
                        child_space,
                        info_frame,
                        START_INFO_VADDR,
                        CapRights::read_only(),
                    )
                    .map_err(|e| format!("{e:?}"))
            })
            .and_then(|_| {
                tcb.tcb_configure(
                    slots::FAULT_EP,
                    PrioProps::new(0, prio),
                    cnode,
                    guard,
                    vspace,
                    CapData::NONE,
                    IPC_BUFFER_VADDR,
                    ipc_frame,
                )
                .map_err(|e| format!("child TCB: {e:?}"))
            });
        let forked = ForkedObjects {
            ipc_frame,
            start_info: info_frame,
            filled,
        };
        self.clients.insert(
            child_badge,
            Client {
                name: format!("{name}+{}", child_badge - FIRST_CHILD_BADGE + 1),
                space: child_space,
                tcb,
                cnode,
                cnode_bits: bits,
                priority: prio,
                start_info: info_frame,
                request_slot: req_slot,
                forked: Some(forked),
                parent: Some(parent_badge),
                faults: 0,
            },
        );
        if let Err(e) = result {
            self.destroy(child_badge, STATUS_KILLED);
            return Err(e);
        }
        // The child returns from the same Call as the parent, with the
        // child's reply: past the `syscall` instruction (2 bytes), reply in
        // rsi (info) and r10/r8/r9/r15 (MR0..3).
        let mut words = [0 as Word; 4];
        let (label, len) = Reply::Fork(ForkReply::Child {
            parent: parent_badge,
        })
        .encode(&mut words);
        regs.rip += 2;
        regs.rsi = MessageInfo::new(label, 0, 0, len as Word).into_word();
        regs.r10 = words[0];
        regs.r8 = words[1];
        regs.r9 = words[2];
        regs.r15 = words[3];
        if let Err(e) = tcb.tcb_write_registers(true, 0, USER_CONTEXT_WORDS, &regs) {
            self.destroy(child_badge, STATUS_KILLED);
            return Err(format!("child registers: {e:?}"));
        }
        Ok(child_badge)
    }

    fn space_of(&self, client: u64) -> Result<SpaceId, ApiError> {
        self.clients
            .get(&client)
            .map(|c| c.space)
            .ok_or(ApiError::BadSpace)
    }
}

const USER_CONTEXT_WORDS: Word = (core::mem::size_of::<sel4::UserContext>() / 8) as Word;

/// What the root task tells the server about a client.
pub struct ClientSetup {
    pub name: String,
    pub tcb: cap::Tcb,
    pub cnode: cap::CNode,
    pub vspace: cap::VSpace,
    pub start_info: cap::Granule,
    pub cnode_bits: u8,
    pub priority: u8,
    pub request_slot: u64,
}

fn core_err(e: VmError) -> ApiError {
    convert::error(e)
}

impl VmService for Server {
    fn stats(&mut self, _client: u64) -> Result<vm_api::VmStats, ApiError> {
        Ok(crate::stats::global(self))
    }

    fn client_stats(&mut self, client: u64) -> Result<vm_api::ClientStats, ApiError> {
        crate::stats::client(self, client)
    }

    fn mmap(
        &mut self,
        client: u64,
        req: vm_api::MmapRequest,
    ) -> Result<vm_api::MmapReply, ApiError> {
        let space = self.space_of(client)?;
        let addr = self
            .vm
            .mmap(space, &convert::mmap_args(&req), &mut self.pmap)
            .map_err(core_err)?;
        Ok(vm_api::MmapReply { addr })
    }

    fn munmap(&mut self, client: u64, req: vm_api::RangeRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .munmap(space, req.addr, req.len, &mut self.pmap)
            .map_err(core_err)
    }

    fn mprotect(&mut self, client: u64, req: vm_api::MprotectRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .mprotect(
                space,
                req.addr,
                req.len,
                convert::prot(req.prot),
                &mut self.pmap,
            )
            .map_err(core_err)
    }

    fn minherit(&mut self, client: u64, req: vm_api::MinheritRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .minherit(
                space,
                req.addr,
                req.len,
                convert::inheritance(req.inheritance),
            )
            .map_err(core_err)
    }

    fn madvise(&mut self, client: u64, req: vm_api::MadviseRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .madvise(
                space,
                req.addr,
                req.len,
                convert::advice(req.advice),
                &mut self.pmap,
            )
            .map_err(core_err)
    }

    fn msync(&mut self, client: u64, req: vm_api::MsyncRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .msync(
                space,
                req.addr,
                req.len,
                convert::msync_flags(req.flags),
                &mut self.pmap,
            )
            .map_err(core_err)
    }

    fn mincore(
        &mut self,
        client: u64,
        req: vm_api::RangeRequest,
    ) -> Result<vm_api::MincoreReply, ApiError> {
        let space = self.space_of(client)?;
        // Only what one reply carries; the client stub asks for the rest.
        let max = (vm_api::MINCORE_MAX_PAGES as u64) * 4096;
        let len = if req.len > max { max } else { req.len };
        let bytes = self.vm.mincore(space, req.addr, len).map_err(core_err)?;
        Ok(vm_api::MincoreReply::from_bytes(&bytes))
    }

    fn mlock(&mut self, client: u64, req: vm_api::RangeRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .mlock(space, req.addr, req.len, &mut self.pmap)
            .map_err(core_err)
    }

    fn munlock(&mut self, client: u64, req: vm_api::RangeRequest) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm.munlock(space, req.addr, req.len).map_err(core_err)
    }

    fn shm_create(
        &mut self,
        client: u64,
        req: vm_api::ShmCreateRequest,
    ) -> Result<vm_api::HandleReply, ApiError> {
        let space = self.space_of(client)?;
        let name = if req.name.is_empty() {
            None
        } else {
            Some(req.name.as_str())
        };
        let h = self
            .vm
            .shm_create(space, name, req.size)
            .map_err(core_err)?;
        Ok(vm_api::HandleReply {
            handle: vm_api::Handle(h.0),
        })
    }

    fn shm_open(
        &mut self,
        client: u64,
        req: vm_api::ShmOpenRequest,
    ) -> Result<vm_api::HandleReply, ApiError> {
        let space = self.space_of(client)?;
        let h = self
            .vm
            .shm_open(space, req.name.as_str(), convert::prot(req.rights))
            .map_err(core_err)?;
        Ok(vm_api::HandleReply {
            handle: vm_api::Handle(h.0),
        })
    }

    fn shm_unlink(&mut self, client: u64, req: vm_api::ShmUnlinkRequest) -> Result<(), ApiError> {
        self.space_of(client)?;
        self.vm.shm_unlink(req.name.as_str()).map_err(core_err)
    }

    fn shm_truncate(
        &mut self,
        client: u64,
        req: vm_api::ShmTruncateRequest,
    ) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .shm_truncate(
                space,
                vm_core::Handle(req.handle.0),
                req.size,
                &mut self.pmap,
            )
            .map_err(core_err)
    }

    fn handle_close(
        &mut self,
        client: u64,
        req: vm_api::HandleCloseRequest,
    ) -> Result<(), ApiError> {
        let space = self.space_of(client)?;
        self.vm
            .handle_close(space, vm_core::Handle(req.handle.0))
            .map_err(core_err)
    }

    fn handle_share(
        &mut self,
        client: u64,
        req: vm_api::HandleShareRequest,
    ) -> Result<vm_api::HandleReply, ApiError> {
        let from = self.space_of(client)?;
        let to = self.space_of(req.to).map_err(|_| ApiError::BadClient)?;
        let h = self
            .vm
            .handle_share(
                from,
                vm_core::Handle(req.handle.0),
                to,
                convert::prot(req.rights),
            )
            .map_err(core_err)?;
        Ok(vm_api::HandleReply {
            handle: vm_api::Handle(h.0),
        })
    }

    fn fork(&mut self, client: u64) -> Result<ForkReply, ApiError> {
        match self.fork_client(client) {
            Ok(child) => Ok(ForkReply::Parent { child }),
            Err(e) => {
                println!("vm-server: fork of client {client:#x} failed: {e}");
                Err(ApiError::OutOfMemory)
            }
        }
    }

    fn fail_next_pagein(&mut self, client: u64) -> Result<(), ApiError> {
        self.space_of(client)?;
        if self.vm.swap_device_mut::<SwapDisk>().is_none() {
            return Err(ApiError::NoSwap);
        }
        self.fail_pagein = Some(client);
        Ok(())
    }

    fn exit(&mut self, client: u64, req: vm_api::ExitRequest) -> Result<(), ApiError> {
        self.space_of(client)?;
        self.destroy(client, req.status);
        Ok(())
    }
}
