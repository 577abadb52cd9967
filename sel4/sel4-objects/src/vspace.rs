//! Mapping frames into a VSpace, creating the paging structures on the
//! way (PDPT, page directory, page table), as seL4 leaves to user level.
//!
//! The kernel answers a map whose next level is missing with
//! `FailedLookup`; we then map the missing structure one level up and
//! retry, so a page in an empty region costs at most three extra objects.
//! The root task uses it for its scratch window and every component's image;
//! the VM server's pmap for every page it maps into a client.

use sel4::{cap, CPtr, CapRights, ObjectType, VmAttributes};

/// Why a page could not be mapped.
#[derive(Debug)]
pub enum MapError {
    /// The allocator could not provide a paging structure.
    NoMemory(alloc::string::String),
    /// The kernel refused (already mapped, bad address, ...).
    Kernel(sel4::Error),
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MapError::NoMemory(e) => write!(f, "no memory for a paging structure: {e}"),
            MapError::Kernel(e) => write!(f, "kernel refused the mapping: {e:?}"),
        }
    }
}

/// Maps `frame` at `vaddr` in `vspace`. `make` retypes a paging structure
/// of the given type into a fresh slot (the caller accounts for it).
pub fn map_page(
    vspace: cap::VSpace,
    frame: cap::Granule,
    vaddr: u64,
    rights: CapRights,
    make: &mut impl FnMut(ObjectType) -> Result<CPtr, alloc::string::String>,
) -> Result<(), MapError> {
    map_page_attrs(vspace, frame, vaddr, rights, VmAttributes::default(), make)
}

/// [`map_page`] with the caching attributes `attrs` for the page (device
/// memory is mapped uncacheable); paging structures made on the way get
/// the default attributes.
pub fn map_page_attrs(
    vspace: cap::VSpace,
    frame: cap::Granule,
    vaddr: u64,
    rights: CapRights,
    attrs: VmAttributes,
    make: &mut impl FnMut(ObjectType) -> Result<CPtr, alloc::string::String>,
) -> Result<(), MapError> {
    // At most one retry per level below the PML4.
    for _ in 0..4 {
        match frame.x86_page_map(vspace, vaddr, rights, attrs) {
            Ok(()) => return Ok(()),
            Err(sel4::Error::FailedLookup) => ensure_table(vspace, vaddr, 0, make)?,
            Err(e) => return Err(MapError::Kernel(e)),
        }
    }
    Err(MapError::Kernel(sel4::Error::FailedLookup))
}

/// Maps the 2 MiB `frame` at the 2 MiB-aligned `vaddr` in `vspace`, into
/// a page-directory slot, making the page directory and PDPT on the way
/// if missing (never a page table). A page table already in that slot
/// makes the kernel refuse (`DeleteFirst`): the caller unmaps it first.
pub fn map_large_page_attrs(
    vspace: cap::VSpace,
    frame: cap::LargePage,
    vaddr: u64,
    rights: CapRights,
    attrs: VmAttributes,
    make: &mut impl FnMut(ObjectType) -> Result<CPtr, alloc::string::String>,
) -> Result<(), MapError> {
    for _ in 0..3 {
        match frame.x86_page_map(vspace, vaddr, rights, attrs) {
            Ok(()) => return Ok(()),
            Err(sel4::Error::FailedLookup) => ensure_table(vspace, vaddr, 1, make)?,
            Err(e) => return Err(MapError::Kernel(e)),
        }
    }
    Err(MapError::Kernel(sel4::Error::FailedLookup))
}

/// Maps the paging structure of level `lowest` (0: page table, 1: page
/// directory) covering `vaddr`, and above it whatever is missing.
// Cold and out of line: a map that finds its tables, the common case,
// then runs through few code pages (the VM server's fault path under
// QEMU, docs/performance.md "Code pages").
#[cold]
#[inline(never)]
fn ensure_table(
    vspace: cap::VSpace,
    vaddr: u64,
    lowest: usize,
    make: &mut impl FnMut(ObjectType) -> Result<CPtr, alloc::string::String>,
) -> Result<(), MapError> {
    let attrs = VmAttributes::default();
    // Try the lowest missing level first; on FailedLookup go one level up.
    let levels = [
        ObjectType::X86PageTable,
        ObjectType::X86PageDirectory,
        ObjectType::X86Pdpt,
    ];
    let mut level = lowest;
    let mut made: [Option<CPtr>; 3] = [None; 3];
    loop {
        let obj = match made[level] {
            Some(c) => c,
            None => {
                let c = make(levels[level]).map_err(MapError::NoMemory)?;
                made[level] = Some(c);
                c
            }
        };
        let r = match levels[level] {
            ObjectType::X86PageTable => obj
                .cast::<sel4::cap_type::PageTable>()
                .x86_page_table_map(vspace, vaddr, attrs),
            ObjectType::X86PageDirectory => obj
                .cast::<sel4::cap_type::PageDirectory>()
                .x86_page_directory_map(vspace, vaddr, attrs),
            _ => obj
                .cast::<sel4::cap_type::PDPT>()
                .x86_pdpt_map(vspace, vaddr, attrs),
        };
        match r {
            Ok(()) if level == lowest => return Ok(()),
            // A higher level is in place now: go back down.
            Ok(()) => level -= 1,
            Err(sel4::Error::FailedLookup) if level < 2 => level += 1,
            // Someone mapped this level already: fine, go back down.
            Err(sel4::Error::DeleteFirst) if level > lowest => level -= 1,
            Err(sel4::Error::DeleteFirst) => return Ok(()),
            Err(e) => return Err(MapError::Kernel(e)),
        }
    }
}
