//! Building one component: a CNode, a VSpace (with its ELF image loaded,
//! unless a pager will load it), an IPC buffer, a start-info page and a
//! TCB, from the root task's untyped memory, with its CSpace laid out as
//! the system spec's fixed slots say (`capdl::slots`).
//!
//! Every component's CNode cap carries a guard so that slot `n` is
//! capability address `n` at depth 64. Image segments are copied into
//! fresh frames through the root task's scratch window, then mapped into
//! the component with the segment's rights.

use crate::RootState;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use capdl::slots;
use elf::abi::{PF_W, PT_LOAD};
use elf::endian::LittleEndian;
use elf::ElfBytes;
use sel4::{cap, CPtr, CapData, CapRights, ObjectType, PrioProps};
use sel4_objects::map_page;
use sel4_root_task::start_info::{
    encode_name, StartInfo, IPC_BUFFER_VADDR, START_INFO_MAGIC, START_INFO_VADDR,
};

pub const PAGE: u64 = 4096;
/// The root task's window for filling frames before they are given away.
const SCRATCH_VADDR: u64 = 0x81_0000_0000;

/// Retypes one object for `map_page`.
pub fn maker(state: &mut RootState) -> impl FnMut(ObjectType) -> Result<CPtr, String> + '_ {
    move |ty| {
        state
            .untyped
            .allocate(&mut state.slots, ty, 0)
            .map_err(|e| e.to_string())
    }
}

/// A copy of `src` with `rights` and `badge` in a fresh root-CNode slot.
pub fn badged(
    state: &mut RootState,
    src: CPtr,
    rights: CapRights,
    badge: u64,
) -> Result<CPtr, String> {
    let root = sel4::init_cap::INIT_THREAD_CNODE;
    let slot = state.slots.alloc().ok_or("root CNode full")?;
    root.cnode_mint(
        slot.bits(),
        64,
        root,
        src.bits(),
        64,
        rights,
        CapData::badge(badge),
    )
    .map_err(|e| format!("badged copy of {src:?}: {e:?}"))?;
    Ok(slot)
}

/// A fresh object of `ty` in the root CNode.
pub fn object(state: &mut RootState, ty: ObjectType, size_bits: u8) -> Result<CPtr, String> {
    state
        .untyped
        .allocate(&mut state.slots, ty, size_bits)
        .map_err(|e| format!("allocating {ty:?}: {e}"))
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

/// Copies `bytes` into fresh frames mapped at `vaddr` in `vspace` with `rights`.
pub fn map_bytes(
    state: &mut RootState,
    vspace: cap::VSpace,
    vaddr: u64,
    bytes: &[u8],
    rights: CapRights,
) -> Result<(), String> {
    for (i, chunk) in bytes.chunks(PAGE as usize).enumerate() {
        let frame: cap::Granule = object(state, ObjectType::X86_4K, 0)?.cast();
        // Fresh frames are zeroed by the kernel's retype.
        with_frame(state, frame, |b| b[..chunk.len()].copy_from_slice(chunk))?;
        let va = vaddr + i as u64 * PAGE;
        map_page(vspace, frame, va, rights, &mut maker(state))
            .map_err(|e| format!("map {va:#x}: {e}"))?;
    }
    Ok(())
}

/// A component under construction.
pub struct Component {
    pub name: String,
    pub tcb: cap::Tcb,
    pub cnode: cap::CNode,
    pub cnode_bits: u8,
    pub vspace: cap::VSpace,
    pub ipc_frame: cap::Granule,
    pub entry: u64,
    pub info: Box<StartInfo>,
}

/// The capability rights a spec rights word grants. seL4 5.0 has no
/// grant-reply right: a `Call` needs Grant on the endpoint cap for the
/// kernel to make a reply cap, so P means Grant here.
pub fn rights(r: capdl::Rights) -> CapRights {
    CapRights::new(r.grant() || r.grant_reply(), r.read(), r.write())
}

impl Component {
    /// Creates the kernel objects of component `id` and fills its fixed slots.
    pub fn create(
        state: &mut RootState,
        id: u64,
        spec: &capdl::Component,
    ) -> Result<Component, String> {
        let name = spec.name.as_str();
        let bits = spec.cnode_bits;
        let cnode: cap::CNode = object(state, ObjectType::CapTable, bits)?.cast();
        let vspace: cap::VSpace = object(state, ObjectType::X64Pml4, 0)?.cast();
        sel4::init_cap::INIT_THREAD_ASID_POOL
            .x86_asid_pool_assign(vspace)
            .map_err(|e| format!("ASID assign: {e:?}"))?;
        let tcb: cap::Tcb = object(state, ObjectType::Tcb, 0)?.cast();
        let ipc_frame: cap::Granule = object(state, ObjectType::X86_4K, 0)?.cast();
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
        .map_err(|e| format!("IPC buffer: {e}"))?;

        // SAFETY: StartInfo is plain old data; all zeros is its empty value.
        let mut info: Box<StartInfo> = Box::new(unsafe { core::mem::zeroed() });
        info.magic = START_INFO_MAGIC;
        info.name = encode_name(name);
        info.id = id;
        info.cnode_size_bits = bits as u64;
        info.first_free_slot = spec.first_free_slot as u64;
        let c = Component {
            name: name.to_string(),
            tcb,
            cnode,
            cnode_bits: bits,
            vspace,
            ipc_frame,
            entry: 0,
            info,
        };
        c.put(
            slots::TCB as u64,
            tcb.cptr(),
            CapRights::all(),
            CapData::NONE,
        )?;
        let guard = CapData::guard(0, 64 - bits as u64);
        c.put(slots::CNODE as u64, cnode.cptr(), CapRights::all(), guard)?;
        c.put(
            slots::VSPACE as u64,
            vspace.cptr(),
            CapRights::all(),
            CapData::NONE,
        )?;
        c.put(
            slots::IPC_BUFFER as u64,
            ipc_frame.cptr(),
            CapRights::all(),
            CapData::NONE,
        )?;
        Ok(c)
    }

    /// Mints `src` (a cap in the root CNode) into `slot` of the component's CNode.
    pub fn put(
        &self,
        slot: u64,
        src: CPtr,
        rights: CapRights,
        data: CapData,
    ) -> Result<(), String> {
        if slot >= 1 << self.cnode_bits {
            return Err(format!(
                "slot {slot} outside its 2^{} CNode",
                self.cnode_bits
            ));
        }
        let root = sel4::init_cap::INIT_THREAD_CNODE;
        self.cnode
            .cnode_mint(slot, self.cnode_bits, root, src.bits(), 64, rights, data)
            .map_err(|e| format!("cap into slot {slot}: {e:?}"))
    }

    /// Moves `src` out of the root CNode into `slot` (for caps that must
    /// stay original, such as untyped memory).
    pub fn move_in(&self, slot: u64, src: CPtr) -> Result<(), String> {
        let root = sel4::init_cap::INIT_THREAD_CNODE;
        self.cnode
            .cnode_move(slot, self.cnode_bits, root, src.bits(), 64)
            .map_err(|e| format!("move into slot {slot}: {e:?}"))
    }

    /// Copies every PT_LOAD segment into fresh frames mapped with the segment's rights.
    pub fn load_elf(&mut self, state: &mut RootState, image: &[u8]) -> Result<(), String> {
        let file = ElfBytes::<LittleEndian>::minimal_parse(image)
            .map_err(|e| format!("bad ELF: {e:?}"))?;
        self.entry = file.ehdr.e_entry;
        let segments = file.segments().ok_or("ELF has no program headers")?;
        for ph in segments.iter().filter(|p| p.p_type == PT_LOAD) {
            if ph.p_vaddr % PAGE != 0 {
                return Err(format!(
                    "segment at {:#x} is not page aligned (link with sel4-link)",
                    ph.p_vaddr
                ));
            }
            let data = file
                .segment_data(&ph)
                .map_err(|e| format!("segment data: {e:?}"))?;
            let rights = if ph.p_flags & PF_W != 0 {
                CapRights::read_write()
            } else {
                CapRights::read_only()
            };
            // Page by page: the file bytes, then zeros up to the memory size.
            for page in (ph.p_vaddr..ph.p_vaddr + ph.p_memsz).step_by(PAGE as usize) {
                let off = (page - ph.p_vaddr) as usize;
                let chunk = data
                    .get(off..data.len().min(off + PAGE as usize))
                    .unwrap_or(&[]);
                let frame: cap::Granule = object(state, ObjectType::X86_4K, 0)?.cast();
                if !chunk.is_empty() {
                    // Fresh frames are zeroed by the kernel's retype.
                    with_frame(state, frame, |b| b[..chunk.len()].copy_from_slice(chunk))?;
                }
                map_page(self.vspace, frame, page, rights, &mut maker(state))
                    .map_err(|e| format!("map {page:#x}: {e}"))?;
            }
        }
        Ok(())
    }

    /// The ELF entry point of `image`.
    pub fn entry_of(image: &[u8]) -> Result<u64, String> {
        let file = ElfBytes::<LittleEndian>::minimal_parse(image)
            .map_err(|e| format!("bad ELF: {e:?}"))?;
        Ok(file.ehdr.e_entry)
    }

    /// Maps the start-info page, configures the TCB and sets its
    /// registers. The thread runs when `resume` is set; otherwise its pager
    /// resumes it. Returns the start-info frame.
    pub fn configure(
        &mut self,
        state: &mut RootState,
        spec: &capdl::Component,
        resume: bool,
    ) -> Result<cap::Granule, String> {
        let info_frame: cap::Granule = object(state, ObjectType::X86_4K, 0)?.cast();
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
        // The pager keeps the original cap (to copy the page for forked
        // children); the component's mapping uses a copy.
        let copy = state.slots.alloc().ok_or("root CNode full")?;
        let root = sel4::init_cap::INIT_THREAD_CNODE;
        root.cnode_copy(
            copy.bits(),
            64,
            root,
            info_frame.bits(),
            64,
            CapRights::all(),
        )
        .map_err(|e| format!("start info copy: {e:?}"))?;
        map_page(
            self.vspace,
            copy.cast(),
            START_INFO_VADDR,
            CapRights::read_only(),
            &mut maker(state),
        )
        .map_err(|e| format!("start info: {e}"))?;
        let fault_ep = if spec.fault.is_some() {
            slots::FAULT_EP as u64
        } else {
            0
        };
        let guard = CapData::guard(0, 64 - self.cnode_bits as u64);
        self.tcb
            .tcb_configure(
                fault_ep,
                PrioProps::new(spec.max_priority, spec.priority),
                self.cnode,
                guard,
                self.vspace,
                CapData::NONE,
                IPC_BUFFER_VADDR,
                self.ipc_frame,
            )
            .map_err(|e| format!("TCB configure: {e:?}"))?;
        sel4::debug_name_thread(self.tcb.cptr(), &self.name);
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
            .map_err(|e| format!("TCB registers: {e:?}"))?;
        Ok(info_frame)
    }
}
