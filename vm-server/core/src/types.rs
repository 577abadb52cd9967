//! The shared vocabulary: identifiers, page arithmetic, protections, access kinds, inheritance and advice.

use bitflags::bitflags;

/// Size of a page, the unit of every mapping and of the frame pool.
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;
/// Mask of the offset bits inside a page.
pub const PAGE_MASK: u64 = PAGE_SIZE - 1;

/// True when `v` is a multiple of the page size.
#[inline]
pub const fn page_aligned(v: u64) -> bool {
    v & PAGE_MASK == 0
}

/// Round `v` down to a page boundary.
#[inline]
pub const fn trunc_page(v: u64) -> u64 {
    v & !PAGE_MASK
}

/// A frame of the server's pool: an index into the page array, never a
/// physical address (the server maps indices to frame capabilities).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameNumber(pub u32);

impl FrameNumber {
    /// The index as `usize`, for the page array.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A VM object: an index into the object table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub u32);

/// An address space (`vmspace`); ids are never reused while the `Vm` lives,
/// so a stale id from the IPC layer fails with `BadSpace` instead of
/// reaching another client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpaceId(pub u32);

/// A client's handle to a shared-memory or physical object, local to one
/// space (like a file descriptor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(pub u32);

bitflags! {
    /// Page protection (`vm_prot_t`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Prot: u8 {
        const READ = 1;
        const WRITE = 2;
        const EXEC = 4;
    }
}

impl Prot {
    /// No access.
    pub const NONE: Prot = Prot::empty();
    /// Read and write.
    pub const RW: Prot = Prot::READ.union(Prot::WRITE);
    /// Everything.
    pub const ALL: Prot = Prot::all();
}

/// The kind of access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
    Execute,
}

impl Access {
    /// The protection bit this access needs.
    #[inline]
    pub const fn required(self) -> Prot {
        match self {
            Access::Read => Prot::READ,
            Access::Write => Prot::WRITE,
            Access::Execute => Prot::EXEC,
        }
    }
}

/// What `fork` does with an entry (`vm_inherit_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Inheritance {
    /// Parent and child share the memory.
    Share,
    /// The child gets a copy-on-write copy.
    Copy,
    /// The child gets nothing here.
    None,
}

/// `madvise` advice. The first three are stored in the entry and steer
/// fault-around; the last three are actions on the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Advice {
    Normal,
    Random,
    Sequential,
    /// Map the resident pages now.
    WillNeed,
    /// Private memory starts over from what it was mapped from: anonymous
    /// pages read as zero again, a private view of an object shows the
    /// object (Linux's `MADV_DONTNEED`). Shared memory is unmapped and
    /// deactivated; its contents stay. Refused (`Busy`) on wired memory.
    DontNeed,
    /// The contents of private anonymous pages may be discarded: each page
    /// then reads as its old contents or zero until written, and a write
    /// keeps whichever it found (lazy: pageout discards clean pages
    /// unwritten). No effect where a backing object lies below (after
    /// fork), on shared memory or on private views of objects; refused
    /// (`Busy`) on wired memory (semantics: madvise-free-*).
    Free,
    /// Map the range's 2 MiB-aligned, 2 MiB-sized parts with large pages
    /// where the memory allows (Linux's `MADV_HUGEPAGE`); stored in the
    /// entry. Clients observe nothing but speed (semantics: large-pages).
    HugePage,
    /// Map the range with 4 KiB pages only (Linux's `MADV_NOHUGEPAGE`);
    /// pages already on large frames move to small ones as they fault.
    NoHugePage,
}
