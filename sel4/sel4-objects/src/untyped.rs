//! Untyped memory: choosing an untyped cap for each new kernel object and
//! retyping it into a free slot.
//!
//! seL4 carves objects from an untyped at a watermark that only grows, each
//! object aligned to its own size. We mirror that watermark per untyped so
//! we can pick one with room without asking the kernel; every retype of the
//! program's RAM untypeds must go through here. Not synchronised: owned by
//! the program's single thread of control.

use crate::SlotAllocator;
use alloc::vec::Vec;
use sel4::{cap, CPtr, ObjectType};

/// One RAM untyped and how much of it is used.
struct Region {
    cap: cap::Untyped,
    size_bits: u8,
    watermark: u64,
}

/// Allocates kernel objects from the root task's RAM untypeds.
pub struct UntypedAllocator {
    regions: Vec<Region>,
}

/// Why an object could not be made.
#[derive(Debug)]
pub enum AllocError {
    OutOfMemory { size_bits: u8 },
    OutOfSlots,
    Kernel(sel4::Error),
}

impl core::fmt::Display for AllocError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AllocError::OutOfMemory { size_bits } => {
                write!(f, "no untyped with room for 2^{size_bits} bytes")
            }
            AllocError::OutOfSlots => write!(f, "CNode is full"),
            AllocError::Kernel(e) => write!(f, "retype failed: {e:?}"),
        }
    }
}

impl UntypedAllocator {
    /// Takes RAM (non-device) untypeds, smallest first so large ones stay whole.
    pub fn new(untypeds: impl Iterator<Item = (cap::Untyped, u8)>) -> Self {
        let mut regions: Vec<Region> = untypeds
            .map(|(cap, size_bits)| Region {
                cap,
                size_bits,
                watermark: 0,
            })
            .collect();
        regions.sort_by_key(|r| r.size_bits);
        UntypedAllocator { regions }
    }

    /// Bytes not yet carved into objects.
    pub fn free_bytes(&self) -> u64 {
        self.regions
            .iter()
            .map(|r| (1u64 << r.size_bits) - r.watermark)
            .sum()
    }

    /// Retypes one object of `ty` (with `size_bits` for variable-size types,
    /// else the type's fixed size) into a fresh slot of `cnode`, the
    /// program's own CNode whose free slots `slots` manages.
    pub fn allocate_in(
        &mut self,
        cnode: cap::CNode,
        slots: &mut SlotAllocator,
        ty: ObjectType,
        size_bits: u8,
    ) -> Result<CPtr, AllocError> {
        let bytes_bits = object_size_bits(ty, size_bits);
        let size = 1u64 << bytes_bits;
        let region = self
            .regions
            .iter_mut()
            .find(|r| {
                let start = r.watermark.next_multiple_of(size);
                start + size <= 1u64 << r.size_bits
            })
            .ok_or(AllocError::OutOfMemory {
                size_bits: bytes_bits,
            })?;
        let slot = slots.alloc().ok_or(AllocError::OutOfSlots)?;
        let user_size = if ty.fixed_size_bits().is_none() {
            size_bits as u64
        } else {
            0
        };
        let res = region
            .cap
            .untyped_retype(ty, user_size, cnode, 0, 0, slot.bits(), 1);
        if let Err(e) = res {
            slots.free(slot);
            return Err(AllocError::Kernel(e));
        }
        region.watermark = region.watermark.next_multiple_of(size) + size;
        Ok(slot)
    }

    /// `allocate_in` for the root task, whose CNode is the initial thread's.
    pub fn allocate(
        &mut self,
        slots: &mut SlotAllocator,
        ty: ObjectType,
        size_bits: u8,
    ) -> Result<CPtr, AllocError> {
        self.allocate_in(sel4::init_cap::INIT_THREAD_CNODE, slots, ty, size_bits)
    }
}

/// Size in bytes (log2) of an object as the kernel carves it.
fn object_size_bits(ty: ObjectType, size_bits: u8) -> u8 {
    match ty.fixed_size_bits() {
        Some(bits) => bits as u8,
        // CNodes: size_bits is the slot count; each slot is 2^SLOT_BITS bytes.
        None if ty == ObjectType::CapTable => size_bits + sel4::consts::SLOT_BITS as u8,
        None => size_bits,
    }
}
