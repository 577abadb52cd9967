//! The boot information the kernel hands the root task (`seL4_BootInfo`),
//! and the initial thread's fixed capability slots.
//!
//! The layout is libsel4's `bootinfo_types.h` for seL4 5.0 x86_64: a packed
//! struct (so fields after the one-byte `initThreadCNodeSizeBits` are
//! unaligned) ending in `CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS` untyped
//! descriptors. Extra boot info (`seL4_BootInfoHeader` chunks) starts one
//! page after the boot info and is `extraLen` bytes long. [`BootInfo`]
//! reads a byte slice, so a captured image parses on the host as well.

use crate::{cap_type, config, consts, Cap, IpcBuffer, Word};
use core::mem::{offset_of, size_of};
use core::ops::Range;

/// The initial thread's capability slots (`seL4_CapInitThreadTCB`, ...),
/// generated from `bootinfo_types.h`. seL4 5.0 has no IOPortControl: the
/// `IO_PORT` cap covers every port and is narrowed by minting.
pub mod init_cap {
    use crate::{cap_type, Cap, Word};
    include!(concat!(env!("OUT_DIR"), "/init_caps.rs"));
}

/// `seL4_SlotRegion`: first slot, first slot after.
#[repr(C, packed)]
#[derive(Clone, Copy)]
#[allow(dead_code)]
struct RawSlotRegion {
    start: Word,
    end: Word,
}

/// `seL4_UntypedDesc`.
#[repr(C, packed)]
#[derive(Clone, Copy)]
#[allow(dead_code)]
struct RawUntypedDesc {
    paddr: Word,
    padding1: u8,
    padding2: u8,
    size_bits: u8,
    is_device: u8,
}

/// `seL4_BootInfo`, field for field; used only for its offsets and size.
#[repr(C, packed)]
#[allow(dead_code)]
struct RawBootInfo {
    extra_len: Word,
    node_id: Word,
    num_nodes: Word,
    num_iopt_levels: Word,
    ipc_buffer: Word,
    empty: RawSlotRegion,
    shared_frames: RawSlotRegion,
    user_image_frames: RawSlotRegion,
    user_image_paging: RawSlotRegion,
    io_space_caps: RawSlotRegion,
    extra_bi_pages: RawSlotRegion,
    init_thread_cnode_size_bits: u8,
    init_thread_domain: Word,
    arch_info: Word,
    untyped: RawSlotRegion,
    untyped_list: [RawUntypedDesc; config::MAX_NUM_BOOTINFO_UNTYPED_CAPS as usize],
}

/// Byte offsets of the fields of `seL4_BootInfo` (checked against the C
/// header by the host tests).
pub mod layout {
    use super::*;
    pub const EXTRA_LEN: usize = offset_of!(RawBootInfo, extra_len);
    pub const NODE_ID: usize = offset_of!(RawBootInfo, node_id);
    pub const NUM_NODES: usize = offset_of!(RawBootInfo, num_nodes);
    pub const NUM_IOPT_LEVELS: usize = offset_of!(RawBootInfo, num_iopt_levels);
    pub const IPC_BUFFER: usize = offset_of!(RawBootInfo, ipc_buffer);
    pub const EMPTY: usize = offset_of!(RawBootInfo, empty);
    pub const SHARED_FRAMES: usize = offset_of!(RawBootInfo, shared_frames);
    pub const USER_IMAGE_FRAMES: usize = offset_of!(RawBootInfo, user_image_frames);
    pub const USER_IMAGE_PAGING: usize = offset_of!(RawBootInfo, user_image_paging);
    pub const IO_SPACE_CAPS: usize = offset_of!(RawBootInfo, io_space_caps);
    pub const EXTRA_BI_PAGES: usize = offset_of!(RawBootInfo, extra_bi_pages);
    pub const INIT_THREAD_CNODE_SIZE_BITS: usize =
        offset_of!(RawBootInfo, init_thread_cnode_size_bits);
    pub const INIT_THREAD_DOMAIN: usize = offset_of!(RawBootInfo, init_thread_domain);
    pub const ARCH_INFO: usize = offset_of!(RawBootInfo, arch_info);
    pub const UNTYPED: usize = offset_of!(RawBootInfo, untyped);
    pub const UNTYPED_LIST: usize = offset_of!(RawBootInfo, untyped_list);
    /// `sizeof(seL4_UntypedDesc)`.
    pub const UNTYPED_DESC_SIZE: usize = size_of::<RawUntypedDesc>();
    /// Offset of `sizeBits` within a descriptor.
    pub const UNTYPED_DESC_SIZE_BITS: usize = offset_of!(RawUntypedDesc, size_bits);
    /// Offset of `isDevice` within a descriptor.
    pub const UNTYPED_DESC_IS_DEVICE: usize = offset_of!(RawUntypedDesc, is_device);
    /// `sizeof(seL4_BootInfo)`.
    pub const SIZE: usize = size_of::<RawBootInfo>();
    /// Where the extra boot info starts, relative to the boot info.
    pub const EXTRA_OFFSET: usize = 1 << consts::PAGE_BITS;
}

/// Why a byte slice is not a boot info.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// Fewer bytes than `sizeof(seL4_BootInfo)`.
    TooShort,
    /// The untyped region lists more caps than the descriptor array holds.
    BadUntypedRegion,
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::TooShort => "boot info shorter than seL4_BootInfo",
            Self::BadUntypedRegion => "boot info untyped region exceeds its descriptor array",
        })
    }
}

/// A view of `seL4_BootInfo` (and the extra boot info after it, when the
/// slice covers it).
#[derive(Clone, Copy)]
pub struct BootInfo<'a> {
    bytes: &'a [u8],
}

/// One untyped cap the kernel handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntypedDesc {
    pub cap: Cap<cap_type::Untyped>,
    pub paddr: Word,
    pub size_bits: u8,
    pub is_device: bool,
}

impl UntypedDesc {
    /// Size of the region in bytes.
    pub const fn size(&self) -> Word {
        1 << self.size_bits
    }
}

impl<'a> BootInfo<'a> {
    /// Views `bytes` (starting at the boot info) as a boot info.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BootInfoError> {
        if bytes.len() < layout::SIZE {
            return Err(BootInfoError::TooShort);
        }
        let bi = Self { bytes };
        let u = bi.untyped();
        if u.end < u.start
            || (u.end - u.start) as usize > config::MAX_NUM_BOOTINFO_UNTYPED_CAPS as usize
        {
            return Err(BootInfoError::BadUntypedRegion);
        }
        Ok(bi)
    }

    /// Views the boot info the kernel passed the root task (in rdi).
    ///
    /// # Safety
    /// `p` must point at the kernel's boot info frame, which stays mapped
    /// (with its extra pages) for the program's lifetime.
    pub unsafe fn from_ptr(p: *const u8) -> BootInfo<'static> {
        // SAFETY: the caller guarantees `p` is the boot info frame, a whole
        // mapped page, so the word at EXTRA_LEN (bytes 0..8) is readable;
        // `read_unaligned` needs no alignment.
        let extra = unsafe { core::ptr::read_unaligned(p.add(layout::EXTRA_LEN) as *const Word) };
        let len = if extra == 0 {
            layout::SIZE
        } else {
            layout::EXTRA_OFFSET + extra as usize
        };
        // SAFETY: the kernel maps the boot info page and, from one page
        // after it, `extraLen` bytes of extra boot info contiguously; with
        // no extra the length is `sizeof(seL4_BootInfo)`, within the first
        // page. The caller guarantees it all stays mapped for the program's
        // lifetime, and nothing writes the boot info once the kernel has.
        let bytes = unsafe { core::slice::from_raw_parts(p, len) };
        BootInfo::parse(bytes).expect("kernel boot info is malformed")
    }

    fn word(&self, off: usize) -> Word {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.bytes[off..off + 8]);
        Word::from_le_bytes(b)
    }

    fn region(&self, off: usize) -> Range<Word> {
        self.word(off)..self.word(off + 8)
    }

    /// `extraLen`: bytes of extra boot info after the first page.
    pub fn extra_len(&self) -> usize {
        self.word(layout::EXTRA_LEN) as usize
    }
    /// `nodeID` (0 on a uniprocessor).
    pub fn node_id(&self) -> Word {
        self.word(layout::NODE_ID)
    }
    pub fn num_nodes(&self) -> Word {
        self.word(layout::NUM_NODES)
    }
    pub fn num_iopt_levels(&self) -> Word {
        self.word(layout::NUM_IOPT_LEVELS)
    }
    /// The initial thread's IPC buffer.
    pub fn ipc_buffer(&self) -> *mut IpcBuffer {
        self.word(layout::IPC_BUFFER) as *mut IpcBuffer
    }
    /// Free slots of the root CNode.
    pub fn empty(&self) -> Range<Word> {
        self.region(layout::EMPTY)
    }
    pub fn shared_frames(&self) -> Range<Word> {
        self.region(layout::SHARED_FRAMES)
    }
    /// Caps to the frames of the root task's image, in address order.
    pub fn user_image_frames(&self) -> Range<Word> {
        self.region(layout::USER_IMAGE_FRAMES)
    }
    /// Caps to the paging structures of the root task's image.
    pub fn user_image_paging(&self) -> Range<Word> {
        self.region(layout::USER_IMAGE_PAGING)
    }
    pub fn io_space_caps(&self) -> Range<Word> {
        self.region(layout::IO_SPACE_CAPS)
    }
    /// Caps to the frames backing the extra boot info.
    pub fn extra_bi_pages(&self) -> Range<Word> {
        self.region(layout::EXTRA_BI_PAGES)
    }
    /// The root CNode has 2^this slots.
    pub fn init_thread_cnode_size_bits(&self) -> usize {
        self.bytes[layout::INIT_THREAD_CNODE_SIZE_BITS] as usize
    }
    pub fn init_thread_domain(&self) -> Word {
        self.word(layout::INIT_THREAD_DOMAIN)
    }
    /// `archInfo`: the TSC frequency on x86 (MHz).
    pub fn arch_info(&self) -> Word {
        self.word(layout::ARCH_INFO)
    }
    /// Slots of the untyped caps.
    pub fn untyped(&self) -> Range<Word> {
        self.region(layout::UNTYPED)
    }

    /// The untyped caps with their descriptors, in slot order.
    pub fn untyped_list(&self) -> impl Iterator<Item = UntypedDesc> + 'a {
        let this = *self;
        let r = self.untyped();
        (r.start..r.end).enumerate().map(move |(i, slot)| {
            let off = layout::UNTYPED_LIST + i * layout::UNTYPED_DESC_SIZE;
            UntypedDesc {
                cap: Cap::from_bits(slot),
                paddr: this.word(off),
                size_bits: this.bytes[off + layout::UNTYPED_DESC_SIZE_BITS],
                is_device: this.bytes[off + layout::UNTYPED_DESC_IS_DEVICE] != 0,
            }
        })
    }

    /// The extra boot info bytes, if the slice covers them.
    pub fn extra(&self) -> Option<&'a [u8]> {
        let end = layout::EXTRA_OFFSET.checked_add(self.extra_len())?;
        self.bytes.get(layout::EXTRA_OFFSET..end)
    }

    /// The extra boot info chunks: `(id, chunk including its header)`.
    /// Ids: 0 padding, 1 x86 VBE (`SEL4_BOOTINFO_HEADER_*`).
    pub fn extra_chunks(&self) -> impl Iterator<Item = (Word, &'a [u8])> + 'a {
        let mut rest = self.extra().unwrap_or(&[]);
        core::iter::from_fn(move || {
            if rest.len() < 16 {
                return None;
            }
            let id = Word::from_le_bytes(rest[..8].try_into().unwrap());
            let len = Word::from_le_bytes(rest[8..16].try_into().unwrap()) as usize;
            if len < 16 || len > rest.len() {
                return None;
            }
            let (chunk, tail) = rest.split_at(len);
            rest = tail;
            Some((id, chunk))
        })
    }
}

impl core::fmt::Debug for BootInfo<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BootInfo")
            .field("node_id", &self.node_id())
            .field("empty", &self.empty())
            .field("user_image_frames", &self.user_image_frames())
            .field("user_image_paging", &self.user_image_paging())
            .field("untyped", &self.untyped())
            .field(
                "init_thread_cnode_size_bits",
                &self.init_thread_cnode_size_bits(),
            )
            .field("extra_len", &self.extra_len())
            .finish()
    }
}
