//! Capability-slot allocation in a program's own CNode.
//!
//! A program's free slots form one range (the root task learns it from the
//! boot info, a component from its start-info page). Slots are handed out
//! in order and returned slots are reused first. Not synchronised: owned by
//! the program's single thread of control.

use alloc::vec::Vec;
use sel4::CPtr;

/// Hands out free slots of one CNode.
pub struct SlotAllocator {
    next: u64,
    end: u64,
    returned: Vec<u64>,
}

impl SlotAllocator {
    /// Manages the free slots `start..end`.
    pub fn new(start: u64, end: u64) -> Self {
        SlotAllocator {
            next: start,
            end,
            returned: Vec::new(),
        }
    }

    /// A free slot, or `None` when the CNode is full.
    pub fn alloc(&mut self) -> Option<CPtr> {
        if let Some(s) = self.returned.pop() {
            return Some(CPtr::from_bits(s));
        }
        if self.next >= self.end {
            return None;
        }
        self.next += 1;
        Some(CPtr::from_bits(self.next - 1))
    }

    /// `n` consecutive free slots (for a retype of several objects at once),
    /// the first of them returned; `None` when the range is exhausted.
    pub fn alloc_range(&mut self, n: u64) -> Option<CPtr> {
        if self.end - self.next < n {
            return None;
        }
        self.next += n;
        Some(CPtr::from_bits(self.next - n))
    }

    /// Gives back a slot. The caller has deleted the cap in it.
    pub fn free(&mut self, slot: CPtr) {
        self.returned.push(slot.bits());
    }

    /// Slots still free.
    pub fn remaining(&self) -> u64 {
        self.end - self.next + self.returned.len() as u64
    }
}
