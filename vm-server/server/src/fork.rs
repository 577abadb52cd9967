//! Forking a client on seL4: the child's CNode (the parent's named caps, its own objects over the fixed slots, caps re-badged with its id), IPC buffer and start-info page, a TCB at the parent's priority, and the parent's registers edited so the child returns from the same `Call` with "you are the child".
//!
//! Owned by the server's single-threaded loop (inside `Sel4Platform`).
//! The VM side of fork (`Vm::fork`) has already copied the address space
//! when this runs.

use crate::platform::{slots, ClientCaps, Sel4Platform};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use sel4::{cap, CPtr, CapData, CapRights, MessageInfo, ObjectType, PrioProps, Word};
use sel4_root_task::start_info::{StartInfo, IPC_BUFFER_VADDR, START_INFO_VADDR};
use vm_api::{ForkReply, Reply};
use vm_core::SpaceId;
use vm_service::{ClientId, FIRST_CHILD};

pub(crate) const USER_CONTEXT_WORDS: Word = (core::mem::size_of::<sel4::UserContext>() / 8) as Word;

/// Kernel objects the server made for a forked child.
pub struct ForkedObjects {
    pub(crate) ipc_frame: cap::Granule,
    pub(crate) start_info: cap::Granule,
    /// Slots of the child's CNode that fork filled.
    pub(crate) filled: Vec<u64>,
}

impl Sel4Platform {
    /// Make and start `child` (id `child`, in `space`, which `Vm::fork`
    /// made from `parent`'s). On failure every object made for it goes
    /// back to the caches and the caller exits `space`.
    pub(crate) fn fork_child(
        &mut self,
        parent: ClientId,
        child: ClientId,
        space: SpaceId,
    ) -> Result<(), String> {
        let p = self.clients.get(&parent).ok_or("no parent")?;
        let (bits, priority, start_info, request_slot) =
            (p.cnode_bits, p.priority, p.start_info, p.request_slot);
        let pcaps = ClientCaps {
            tcb: p.tcb,
            cnode: p.cnode,
            cnode_bits: bits,
            priority,
            start_info,
            request_slot,
            forked: None,
        };
        let k = &mut self.pmap.kernel;
        let mut made: Vec<(ObjectType, u8, CPtr)> = Vec::new();
        let mut make = |ty: ObjectType, size: u8| -> Result<CPtr, String> {
            let c = k.object(ty, size)?;
            made.push((ty, size, c));
            Ok(c)
        };
        let objects = (|| {
            Ok::<_, String>((
                make(ObjectType::CapTable, bits)?,
                make(ObjectType::Tcb, 0)?,
                make(ObjectType::X86_4K, 0)?,
                make(ObjectType::X86_4K, 0)?,
            ))
        })();
        let (cnode, tcb, ipc_frame, info_frame) = match objects {
            Ok(o) => o,
            Err(e) => {
                for (ty, size, c) in made {
                    self.pmap.kernel.release(ty, size, c);
                }
                return Err(e);
            }
        };
        let mut objs = ForkedObjects {
            ipc_frame: ipc_frame.cast(),
            start_info: info_frame.cast(),
            filled: Vec::new(),
        };
        let caps = ClientCaps {
            tcb: tcb.cast(),
            cnode: cnode.cast(),
            cnode_bits: bits,
            priority,
            start_info: info_frame.cast(),
            request_slot,
            forked: None,
        };
        if let Err(e) = self.build_child(&pcaps, parent, &caps, child, space, &mut objs) {
            self.release_forked(&caps, &objs);
            return Err(e);
        }
        self.clients.insert(
            child,
            ClientCaps {
                forked: Some(objs),
                ..caps
            },
        );
        debug_assert!(child >= FIRST_CHILD);
        Ok(())
    }

    /// Empty a forked child's CNode and give its objects back to the
    /// caches. The child is suspended (or never ran).
    pub(crate) fn release_forked(&mut self, c: &ClientCaps, objs: &ForkedObjects) {
        let k = &mut self.pmap.kernel;
        for &slot in &objs.filled {
            let _ = c.cnode.cnode_delete(slot, c.cnode_bits);
        }
        k.release(ObjectType::Tcb, 0, c.tcb.cptr());
        k.release(ObjectType::CapTable, c.cnode_bits, c.cnode.cptr());
        k.release(ObjectType::X86_4K, 0, objs.ipc_frame.cptr());
        k.release(ObjectType::X86_4K, 0, objs.start_info.cptr());
    }

    /// Fill a new child's CNode, IPC buffer and start-info page, map them,
    /// configure its TCB and set its registers to return from `fork` as
    /// the child. The caller gives the objects back on failure.
    fn build_child(
        &mut self,
        parent: &ClientCaps,
        parent_id: ClientId,
        child: &ClientCaps,
        child_id: ClientId,
        space: SpaceId,
        objs: &mut ForkedObjects,
    ) -> Result<(), String> {
        let bits = parent.cnode_bits;
        let mut regs = parent
            .tcb
            .tcb_read_registers(false, 0, USER_CONTEXT_WORDS)
            .map_err(|e| format!("read registers: {e:?}"))?;
        let vspace = self.pmap.vspace(space).ok_or("child has no VSpace")?;
        // The caps the parent's start info names (its spec caps and the
        // root task's), then the child's own objects over the fixed slots,
        // then its request cap re-badged.
        let info_page = self.read_frame(parent.start_info)?;
        // SAFETY: the page holds a StartInfo the root task wrote (plain old
        // data: any bit pattern is a valid value).
        let named: StartInfo = unsafe { core::ptr::read_unaligned(info_page.as_ptr().cast()) };
        let cnode = child.cnode;
        objs.filled.extend([
            slots::TCB,
            slots::CNODE,
            slots::VSPACE,
            slots::IPC_BUFFER,
            slots::FAULT_EP,
        ]);
        for c in named.caps().iter().filter(|c| c.slot != 0) {
            if cnode
                .cnode_copy(c.slot, bits, parent.cnode, c.slot, bits, CapRights::all())
                .is_ok()
            {
                objs.filled.push(c.slot);
            }
        }
        let own = cap::CNode::from_bits(slots::CNODE);
        let mint = |dest: u64, src: CPtr, data: CapData| {
            cnode.cnode_mint(dest, bits, own, src.bits(), 64, CapRights::all(), data)
        };
        let guard = CapData::guard(0, 64 - bits as u64);
        mint(slots::TCB, child.tcb.cptr(), CapData::NONE)
            .and_then(|_| mint(slots::CNODE, cnode.cptr(), guard))
            .and_then(|_| mint(slots::VSPACE, vspace.cptr(), CapData::NONE))
            .and_then(|_| mint(slots::IPC_BUFFER, objs.ipc_frame.cptr(), CapData::NONE))
            .and_then(|_| mint(slots::FAULT_EP, self.endpoint, CapData::badge(child_id)))
            .map_err(|e| format!("child CSpace: {e:?}"))?;
        if parent.request_slot != 0 {
            let _ = cnode.cnode_delete(parent.request_slot, bits);
            cnode
                .cnode_mint(
                    parent.request_slot,
                    bits,
                    own,
                    self.endpoint.bits(),
                    64,
                    CapRights::new(true, false, true),
                    CapData::badge(child_id),
                )
                .map_err(|e| format!("child request cap: {e:?}"))?;
        }
        // The IPC buffer: the runtime finds it through its user_data word.
        self.with_scratch(objs.ipc_frame, |b| {
            b.fill(0);
            let off = core::mem::offset_of!(sel4::IpcBuffer, user_data);
            b[off..off + 8].copy_from_slice(&IPC_BUFFER_VADDR.to_le_bytes());
        })?;
        self.with_scratch(objs.start_info, |b| b.copy_from_slice(&info_page))?;
        self.pmap
            .map_wired(
                space,
                objs.ipc_frame,
                IPC_BUFFER_VADDR,
                CapRights::read_write(),
            )
            .map_err(|e| format!("{e:?}"))?;
        self.pmap
            .map_wired(
                space,
                objs.start_info,
                START_INFO_VADDR,
                CapRights::read_only(),
            )
            .map_err(|e| format!("{e:?}"))?;
        child
            .tcb
            .tcb_configure(
                slots::FAULT_EP,
                PrioProps::new(0, parent.priority),
                cnode,
                guard,
                vspace,
                CapData::NONE,
                IPC_BUFFER_VADDR,
                objs.ipc_frame,
            )
            .map_err(|e| format!("child TCB: {e:?}"))?;
        // The child returns from the same Call as the parent, with the
        // child's reply: past the `syscall` instruction (2 bytes), reply in
        // rsi (info) and r10/r8/r9/r15 (MR0..3).
        let mut words = [0 as Word; 4];
        let (label, len) = Reply::Fork(ForkReply::Child { parent: parent_id }).encode(&mut words);
        regs.rip += 2;
        regs.rsi = MessageInfo::new(label, 0, 0, len as Word).into_word();
        regs.r10 = words[0];
        regs.r8 = words[1];
        regs.r9 = words[2];
        regs.r15 = words[3];
        child
            .tcb
            .tcb_write_registers(true, 0, USER_CONTEXT_WORDS, &regs)
            .map_err(|e| format!("child registers: {e:?}"))
    }
}
