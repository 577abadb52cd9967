//! One client space's 4 KiB mappings as the pmap records them: a `vm_core::BlockMap` of page numbers to 8-byte slots (frame, cap, rights).
//!
//! A B-tree entry per mapping (address, frame, cap, rights) took about 43
//! bytes with the tree's slack; mappings mostly come in runs
//! (fault-around, sequential touches), and in dense blocks a mapping
//! costs 8 bytes plus a sixteenth of one block's entry. At its sparsest
//! (one mapping a block) a block costs its 128-byte box, one outer entry
//! and at most 24 bytes in the block vector, within
//! `vm_service::heap::cost::MAPPING`.
//!
//! A cap is kept as its slot number in 31 bits, the rights in the top bit:
//! the server's CNode has at most 2^20 slots (`capdl::MAX_CNODE_BITS`).
//! Owned by its `SpaceMaps`; the server's single thread.

use core::ops::Range;
use sel4::cap;
use vm_core::block_map::{BlockMap, BlockSlot};
use vm_core::FrameNumber;

const PAGE_SHIFT: u32 = 12;
/// The rights bit of a slot's `cap` word.
const WRITABLE: u32 = 1 << 31;

/// One page mapped into a client.
#[derive(Clone, Copy)]
pub struct Mapping {
    pub frame: FrameNumber,
    /// The cap copy the mapping uses.
    pub cap: cap::Granule,
    pub writable: bool,
}

/// A block's slot: `cap == 0` (the null slot, never a copy) is empty.
#[derive(Clone, Copy, Debug)]
struct Slot {
    frame: u32,
    cap: u32,
}

impl BlockSlot for Slot {
    const EMPTY: Slot = Slot { frame: 0, cap: 0 };
    fn is_empty(&self) -> bool {
        self.cap == 0
    }
}

impl Slot {
    fn mapping(self) -> Option<Mapping> {
        (self.cap != 0).then(|| Mapping {
            frame: FrameNumber(self.frame),
            cap: cap::Granule::from_bits(u64::from(self.cap & !WRITABLE)),
            writable: self.cap & WRITABLE != 0,
        })
    }
}

/// A cap slot too large to record (cannot happen with a spec's CNode).
#[derive(Debug)]
pub struct SlotTooLarge;

/// The mappings of one space, by page address.
#[derive(Default)]
pub struct MappingTable(BlockMap<Slot>);

impl MappingTable {
    /// Mappings recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The mapping at page address `va`, if any.
    pub fn get(&self, va: u64) -> Option<Mapping> {
        self.0.get(va >> PAGE_SHIFT)?.mapping()
    }

    pub fn contains(&self, va: u64) -> bool {
        self.0.contains(va >> PAGE_SHIFT)
    }

    /// Records `m` at page address `va`, which holds no mapping.
    pub fn insert(&mut self, va: u64, m: Mapping) -> Result<(), SlotTooLarge> {
        let cap = u32::try_from(m.cap.bits())
            .ok()
            .filter(|&c| c != 0 && c & WRITABLE == 0)
            .ok_or(SlotTooLarge)?;
        let slot = Slot {
            frame: m.frame.0,
            cap: cap | if m.writable { WRITABLE } else { 0 },
        };
        let old = self.0.insert(va >> PAGE_SHIFT, slot);
        debug_assert!(old.is_none(), "a mapping over a mapping at {va:#x}");
        Ok(())
    }

    /// Forgets the mapping at `va` and returns it.
    pub fn remove(&mut self, va: u64) -> Option<Mapping> {
        self.0.remove(va >> PAGE_SHIFT)?.mapping()
    }

    /// Records new rights for the mapping at `va` (if there is one).
    pub fn set_writable(&mut self, va: u64, writable: bool) {
        if let Some(s) = self.0.get_mut(va >> PAGE_SHIFT) {
            s.cap = (s.cap & !WRITABLE) | if writable { WRITABLE } else { 0 };
        }
    }

    /// The mappings at page addresses in `r`, in address order.
    pub fn range(&self, r: Range<u64>) -> impl Iterator<Item = (u64, Mapping)> + '_ {
        let pages = (r.start >> PAGE_SHIFT)..r.end.div_ceil(1 << PAGE_SHIFT);
        self.0
            .range(pages)
            .filter_map(|(p, s)| Some((p << PAGE_SHIFT, s.mapping()?)))
    }

    /// Every mapping, the table consumed.
    pub fn into_mappings(self) -> impl Iterator<Item = (u64, Mapping)> {
        self.0
            .into_iter()
            .filter_map(|(p, s)| Some((p << PAGE_SHIFT, s.mapping()?)))
    }
}
