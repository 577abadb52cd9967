//! Building a component: a CNode, a VSpace with its ELF image loaded, an IPC
//! buffer, a start-info page and a TCB, from the root task's untyped memory.
//!
//! Every component gets its own CSpace (a CNode with a guard so that
//! slot `n` is capability address `n` at depth 64) and its own VSpace (a
//! PML4 assigned to the root task's ASID pool). Image segments are copied
//! into fresh frames through the root task's scratch window, then mapped
//! into the component with the segment's rights.

use crate::RootState;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use elf::abi::{PF_W, PT_LOAD};
use elf::endian::LittleEndian;
use elf::ElfBytes;
use sel4::{cap, CPtr, CapData, CapRights, ObjectType, PrioProps};
use sel4_objects::{map_page, MapError};
use sel4_root_task::start_info::{
    encode_name, StartInfo, IPC_BUFFER_VADDR, START_INFO_MAGIC, START_INFO_VADDR,
};

const PAGE: u64 = 4096;
/// The root task's window for filling frames before they are given away.
const SCRATCH_VADDR: u64 = 0x81_0000_0000;

/// Retypes one object for the caller, as `map_page` wants it.
fn maker(state: &mut RootState) -> impl FnMut(ObjectType) -> Result<CPtr, String> + '_ {
    move |ty| {
        state
            .untyped
            .allocate(&mut state.slots, ty, 0)
            .map_err(|e| e.to_string())
    }
}

/// Runs `f` on the contents of `frame`, mapped in the root task's scratch window.
pub fn with_frame<R>(
    state: &mut RootState,
    frame: cap::Granule,
    f: impl FnOnce(&mut [u8]) -> R,
) -> Result<R, String> {
    let vspace = sel4::init_cap::INIT_THREAD_VSPACE;
    map_page(
        vspace,
        frame,
        SCRATCH_VADDR,
        CapRights::read_write(),
        &mut maker(state),
    )
    .map_err(|e| format!("scratch map: {e}"))?;
    // SAFETY: the frame is mapped read-write at SCRATCH_VADDR until the unmap below.
    let bytes = unsafe { core::slice::from_raw_parts_mut(SCRATCH_VADDR as *mut u8, PAGE as usize) };
    let r = f(bytes);
    frame
        .x86_page_unmap()
        .map_err(|e| format!("scratch unmap: {e:?}"))?;
    Ok(r)
}

/// A component under construction (and, once started, its caps).
pub struct Component {
    pub name: String,
    pub id: u64,
    pub tcb: cap::Tcb,
    pub cnode: cap::CNode,
    pub cnode_bits: u8,
    pub vspace: cap::VSpace,
    pub ipc_frame: cap::Granule,
    pub entry: u64,
    /// Frames of the loaded image, by page address (a pager may take them over).
    pub image_frames: BTreeMap<u64, cap::Granule>,
    info: alloc::boxed::Box<StartInfo>,
}

impl Component {
    /// Creates the kernel objects of a component and loads its image.
    pub fn create(
        state: &mut RootState,
        id: u64,
        name: &str,
        elf: &[u8],
        cnode_bits: u8,
    ) -> Result<Component, String> {
        let alloc = |state: &mut RootState, ty: ObjectType, bits: u8| {
            state
                .untyped
                .allocate(&mut state.slots, ty, bits)
                .map_err(|e| format!("{name}: allocating {ty:?}: {e}"))
        };
        let cnode: cap::CNode = alloc(state, ObjectType::CapTable, cnode_bits)?.cast();
        let vspace: cap::VSpace = alloc(state, ObjectType::X64Pml4, 0)?.cast();
        sel4::init_cap::INIT_THREAD_ASID_POOL
            .x86_asid_pool_assign(vspace)
            .map_err(|e| format!("{name}: ASID assign: {e:?}"))?;
        let tcb: cap::Tcb = alloc(state, ObjectType::Tcb, 0)?.cast();
        let ipc_frame: cap::Granule = alloc(state, ObjectType::X86_4K, 0)?.cast();
        // The runtime finds its IPC buffer through the buffer's user_data word.
        with_frame(state, ipc_frame, |b| {
            b.fill(0);
            let off = core::mem::offset_of!(sel4::IpcBuffer, user_data);
            b[off..off + 8].copy_from_slice(&IPC_BUFFER_VADDR.to_le_bytes());
        })?;
        map_page(
            vspace,
            ipc_frame,
            IPC_BUFFER_VADDR,
            CapRights::read_write(),
            &mut maker(state),
        )
        .map_err(|e| format!("{name}: IPC buffer: {e}"))?;

        let mut info: alloc::boxed::Box<StartInfo> =
            alloc::boxed::Box::new(unsafe { core::mem::zeroed() });
        info.magic = START_INFO_MAGIC;
        info.name = encode_name(name);
        info.id = id;
        info.cnode_size_bits = cnode_bits as u64;
        let mut c = Component {
            name: name.to_string(),
            id,
            tcb,
            cnode,
            cnode_bits,
            vspace,
            ipc_frame,
            entry: 0,
            image_frames: BTreeMap::new(),
            info,
        };
        c.load_elf(state, elf)?;
        // Slot 0 stays null; the component's own caps come first.
        c.info.first_free_slot = 1;
        c.give(state, "self-tcb", tcb.cptr(), CapRights::all(), None, 0)?;
        c.give_cnode_self(state)?;
        c.give(
            state,
            "self-vspace",
            vspace.cptr(),
            CapRights::all(),
            None,
            0,
        )?;
        Ok(c)
    }

    /// Copies every PT_LOAD segment into fresh frames mapped with the segment's rights.
    fn load_elf(&mut self, state: &mut RootState, image: &[u8]) -> Result<(), String> {
        let name = self.name.clone();
        let file = ElfBytes::<LittleEndian>::minimal_parse(image)
            .map_err(|e| format!("{name}: bad ELF: {e:?}"))?;
        self.entry = file.ehdr.e_entry;
        let segments = file
            .segments()
            .ok_or_else(|| format!("{name}: ELF has no program headers"))?;
        for ph in segments.iter().filter(|p| p.p_type == PT_LOAD) {
            let data = file
                .segment_data(&ph)
                .map_err(|e| format!("{name}: segment data: {e:?}"))?;
            let writable = ph.p_flags & PF_W != 0;
            let rights = if writable {
                CapRights::read_write()
            } else {
                CapRights::read_only()
            };
            let (start, end) = (
                ph.p_vaddr & !(PAGE - 1),
                (ph.p_vaddr + ph.p_memsz).next_multiple_of(PAGE),
            );
            for page in (start..end).step_by(PAGE as usize) {
                let fresh = !self.image_frames.contains_key(&page);
                let frame = match self.image_frames.get(&page) {
                    Some(f) => *f,
                    None => {
                        let f: cap::Granule = state
                            .untyped
                            .allocate(&mut state.slots, ObjectType::X86_4K, 0)
                            .map_err(|e| format!("{name}: image frame: {e}"))?
                            .cast();
                        self.image_frames.insert(page, f);
                        f
                    }
                };
                if !fresh {
                    // Shared with the previous segment: already mapped; unmap to refill.
                    frame
                        .x86_page_unmap()
                        .map_err(|e| format!("{name}: remap: {e:?}"))?;
                }
                with_frame(state, frame, |bytes| {
                    if fresh {
                        bytes.fill(0);
                    }
                    // The part of the file image that falls into this page.
                    let file_end = ph.p_vaddr + ph.p_filesz;
                    let lo = page.max(ph.p_vaddr);
                    let hi = (page + PAGE).min(file_end);
                    if lo < hi {
                        let src = &data[(lo - ph.p_vaddr) as usize..(hi - ph.p_vaddr) as usize];
                        bytes[(lo - page) as usize..(hi - page) as usize].copy_from_slice(src);
                    }
                })?;
                map_page(self.vspace, frame, page, rights, &mut maker(state))
                    .map_err(|e: MapError| format!("{name}: map {page:#x}: {e}"))?;
            }
        }
        Ok(())
    }

    /// Puts a copy of `src` (from the root CNode) in the component's next
    /// free slot, badged if asked, and records it under `name`.
    pub fn give(
        &mut self,
        state: &mut RootState,
        name: &str,
        src: CPtr,
        rights: CapRights,
        badge: Option<u64>,
        data: u64,
    ) -> Result<CPtr, String> {
        let _ = state;
        let slot = self.info.first_free_slot;
        if slot >= 1 << self.cnode_bits {
            return Err(format!("{}: CNode full giving {name}", self.name));
        }
        let root = sel4::init_cap::INIT_THREAD_CNODE;
        let r = match badge {
            Some(b) => self.cnode.cnode_mint(
                slot,
                self.cnode_bits,
                root,
                src.bits(),
                64,
                rights,
                CapData::badge(b),
            ),
            None => self
                .cnode
                .cnode_copy(slot, self.cnode_bits, root, src.bits(), 64, rights),
        };
        r.map_err(|e| format!("{}: giving {name}: {e:?}", self.name))?;
        if !self.info.push(name, slot, data) {
            return Err(format!("{}: too many named caps", self.name));
        }
        self.info.first_free_slot += 1;
        Ok(CPtr::from_bits(slot))
    }

    /// The component's own CNode, with the guard that makes its slots depth-64 addresses.
    fn give_cnode_self(&mut self, state: &mut RootState) -> Result<(), String> {
        let _ = state;
        let slot = self.info.first_free_slot;
        let guard = CapData::guard(0, 64 - self.cnode_bits as u64);
        self.cnode
            .cnode_mint(
                slot,
                self.cnode_bits,
                sel4::init_cap::INIT_THREAD_CNODE,
                self.cnode.bits(),
                64,
                CapRights::all(),
                guard,
            )
            .map_err(|e| format!("{}: own CNode: {e:?}", self.name))?;
        self.info.push("self-cnode", slot, self.cnode_bits as u64);
        self.info.first_free_slot += 1;
        Ok(())
    }

    /// Writes the start-info page, configures the TCB and sets its registers.
    /// `fault_ep` is a slot in the component's own CSpace (0 = none).
    /// The thread runs when `resume` is set; otherwise its pager resumes it.
    pub fn start(
        &mut self,
        state: &mut RootState,
        fault_ep: u64,
        priority: u8,
        mcp: u8,
        resume: bool,
    ) -> Result<(), String> {
        let name = self.name.clone();
        let info_frame: cap::Granule = state
            .untyped
            .allocate(&mut state.slots, ObjectType::X86_4K, 0)
            .map_err(|e| format!("{name}: start info frame: {e}"))?
            .cast();
        let info: &StartInfo = &self.info;
        with_frame(state, info_frame, |bytes| {
            bytes.fill(0);
            // SAFETY: StartInfo is plain old data and fits in the page.
            let src = unsafe {
                core::slice::from_raw_parts(
                    (info as *const StartInfo).cast::<u8>(),
                    core::mem::size_of::<StartInfo>(),
                )
            };
            bytes[..src.len()].copy_from_slice(src);
        })?;
        map_page(
            self.vspace,
            info_frame,
            START_INFO_VADDR,
            CapRights::read_only(),
            &mut maker(state),
        )
        .map_err(|e| format!("{name}: start info: {e}"))?;
        let guard = CapData::guard(0, 64 - self.cnode_bits as u64);
        self.tcb
            .tcb_configure(
                fault_ep,
                PrioProps::new(mcp, priority),
                self.cnode,
                guard,
                self.vspace,
                CapData::NONE,
                IPC_BUFFER_VADDR,
                self.ipc_frame,
            )
            .map_err(|e| format!("{name}: TCB configure: {e:?}"))?;
        sel4::debug_name_thread(self.tcb.cptr(), &name);
        let regs = sel4::UserContext {
            rip: self.entry,
            rdi: START_INFO_VADDR,
            ..Default::default()
        };
        self.tcb
            .tcb_write_registers(
                resume,
                0,
                (core::mem::size_of::<sel4::UserContext>() / 8) as u64,
                &regs,
            )
            .map_err(|e| format!("{name}: TCB registers: {e:?}"))?;
        Ok(())
    }
}
