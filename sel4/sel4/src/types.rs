//! Word-sized parameter types of the invocations: cap rights, cap data
//! (badges, CNode guards, I/O port ranges), priorities, VM attributes, and
//! the register set (`UserContext`, generated from the interface XML).

use crate::Word;

include!(concat!(env!("OUT_DIR"), "/structs.rs"));

/// `seL4_CapRights_t`: which of grant, read and write a new cap keeps.
///
/// Layout from libsel4's `shared_types_64.bf`: grant (bit 2), read (bit 1),
/// write (bit 0).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub struct CapRights(Word);

impl CapRights {
    /// `seL4_CapRights_new(grant, read, write)`.
    pub const fn new(grant: bool, read: bool, write: bool) -> Self {
        Self(((grant as Word) << 2) | ((read as Word) << 1) | write as Word)
    }
    /// `seL4_ReadWrite`.
    pub const fn read_write() -> Self {
        Self::new(false, true, true)
    }
    /// `seL4_CanRead`.
    pub const fn read_only() -> Self {
        Self::new(false, true, false)
    }
    /// `seL4_CanWrite`.
    pub const fn write_only() -> Self {
        Self::new(false, false, true)
    }
    /// `seL4_AllRights`.
    pub const fn all() -> Self {
        Self::new(true, true, true)
    }
    /// `seL4_NoRights`.
    pub const fn none() -> Self {
        Self::new(false, false, false)
    }
    pub const fn grant(self) -> bool {
        self.0 & 4 != 0
    }
    pub const fn read(self) -> bool {
        self.0 & 2 != 0
    }
    pub const fn write(self) -> bool {
        self.0 & 1 != 0
    }
    /// The word as the kernel reads it.
    pub const fn into_word(self) -> Word {
        self.0
    }
    pub const fn from_word(w: Word) -> Self {
        Self(w & 7)
    }
}

/// `seL4_CapData_t`: the data word of `cnode_mint`, `cnode_mutate` and of
/// the CSpace-root arguments of `tcb_configure`/`tcb_set_space`.
///
/// The kernel reads it according to the cap it modifies: a badge for
/// endpoints and notifications, a guard for CNodes, a port range for I/O
/// port caps (seL4 5.0 has no IOPortControl: a narrower I/O port cap is
/// minted from `init_cap::IO_PORT` with [`CapData::io_port_range`]).
/// Layouts from libsel4's `types_64.bf` and the kernel's `io_port_capdata`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub struct CapData(Word);

impl CapData {
    /// Bits a badge may have in libsel4's `seL4_CapData_Badge` (endpoint badges are 28 bits).
    pub const BADGE_BITS: u32 = 28;
    /// Leaves the cap unchanged (`seL4_NilData`).
    pub const NONE: Self = Self(0);

    /// `seL4_CapData_Badge_new(badge)`: a badge (truncated to 28 bits).
    pub const fn badge(badge: Word) -> Self {
        Self(badge & ((1 << Self::BADGE_BITS) - 1))
    }
    /// `seL4_CapData_Guard_new(guard, guard_size)`: a CNode guard of
    /// `guard_size` bits (guard 18 bits at bit 8, size 6 bits at bit 2,
    /// type bit 31).
    pub const fn guard(guard: Word, guard_size: Word) -> Self {
        Self((1 << 31) | ((guard & 0x3_ffff) << 8) | ((guard_size & 0x3f) << 2))
    }
    /// An I/O port cap restricted to ports `first..=last`.
    pub const fn io_port_range(first: u16, last: u16) -> Self {
        Self(((first as Word) << 16) | last as Word)
    }
    pub const fn into_word(self) -> Word {
        self.0
    }
    /// Any raw word (e.g. a 64-bit notification badge).
    pub const fn from_word(w: Word) -> Self {
        Self(w)
    }
}

/// `seL4_PrioProps_t`: priority and maximum controlled priority for `tcb_configure`.
///
/// Layout from `shared_types_64.bf`: mcp bits 8..16, prio bits 0..8.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Hash)]
pub struct PrioProps(Word);

impl PrioProps {
    /// `seL4_PrioProps_new(mcp, prio)`.
    pub const fn new(mcp: u8, prio: u8) -> Self {
        Self(((mcp as Word) << 8) | prio as Word)
    }
    pub const fn mcp(self) -> u8 {
        (self.0 >> 8) as u8
    }
    pub const fn prio(self) -> u8 {
        self.0 as u8
    }
    pub const fn into_word(self) -> Word {
        self.0
    }
    pub const fn from_word(w: Word) -> Self {
        Self(w & 0xffff)
    }
}

/// `seL4_X86_VMAttributes`: the caching mode of a mapping.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct VmAttributes(Word);

include!(concat!(env!("OUT_DIR"), "/vm_attributes.rs"));

impl Default for VmAttributes {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl VmAttributes {
    pub const fn into_word(self) -> Word {
        self.0
    }
    pub const fn from_word(w: Word) -> Self {
        Self(w)
    }
}
