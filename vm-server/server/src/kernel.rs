//! The VM server's kernel resources: its CNode's free slots, its untyped
//! memory, and caches of kernel objects it hands out and takes back.
//!
//! seL4 only reuses untyped memory when every object carved from it is
//! revoked, so objects whose lives end one by one (paging structures of an
//! exited client, a forked child's TCB and CNode) are not deleted but kept
//! on a free list per type and handed out again. Owned by the server's
//! single thread.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use sel4::{cap, CPtr, ObjectType};
use sel4_objects::{SlotAllocator, UntypedAllocator};

/// Counters that prove cleanup returns everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelStats {
    /// Objects retyped from untyped, ever.
    pub retyped: u64,
    /// Objects handed out now (retyped or reused, not yet returned).
    pub in_use: u64,
    /// Objects waiting in the caches for reuse.
    pub cached: u64,
    /// Capability slots in use for mapping copies and objects.
    pub slots_in_use: u64,
    /// Objects retyped ahead of need (`Kernel::prepare`), ever.
    pub prepared: u64,
}

/// Slots, untyped and object caches.
pub struct Kernel {
    pub cnode: cap::CNode,
    slots: SlotAllocator,
    untyped: UntypedAllocator,
    cache: BTreeMap<(u64, u8), Vec<CPtr>>,
    pub stats: KernelStats,
}

impl Kernel {
    pub fn new(cnode: cap::CNode, slots: SlotAllocator, untyped: UntypedAllocator) -> Self {
        Kernel {
            cnode,
            slots,
            untyped,
            cache: BTreeMap::new(),
            stats: KernelStats::default(),
        }
    }

    /// Bytes of untyped not yet carved into objects.
    pub fn untyped_free(&self) -> u64 {
        self.untyped.free_bytes()
    }

    /// A free slot of the server's CNode.
    pub fn slot(&mut self) -> Result<CPtr, String> {
        let s = self
            .slots
            .alloc()
            .ok_or_else(|| String::from("VM server CNode is full"))?;
        self.stats.slots_in_use += 1;
        Ok(s)
    }

    /// Deletes the cap in `slot` and returns the slot.
    pub fn free_slot(&mut self, slot: CPtr) {
        let _ = self.cnode.cnode_delete(slot.bits(), 64);
        self.slots.free(slot);
        self.stats.slots_in_use -= 1;
    }

    /// An object of `ty`, from the cache or freshly retyped.
    pub fn object(&mut self, ty: ObjectType, size_bits: u8) -> Result<CPtr, String> {
        self.object_reused(ty, size_bits).map(|(c, _)| c)
    }

    /// Like `object`; also says whether it came from the cache (a reused
    /// PML4 keeps its ASID, for instance).
    pub fn object_reused(&mut self, ty: ObjectType, size_bits: u8) -> Result<(CPtr, bool), String> {
        if let Some(c) = self
            .cache
            .get_mut(&(ty.value(), size_bits))
            .and_then(|v| v.pop())
        {
            self.stats.cached -= 1;
            self.stats.in_use += 1;
            return Ok((c, true));
        }
        let c = self.retype(ty, size_bits)?;
        self.stats.in_use += 1;
        Ok((c, false))
    }

    /// A fresh object of `ty` from untyped memory, in a slot of its own.
    fn retype(&mut self, ty: ObjectType, size_bits: u8) -> Result<CPtr, String> {
        let c = self
            .untyped
            .allocate_in(self.cnode, &mut self.slots, ty, size_bits)
            .map_err(|e| format!("{ty:?}: {e}"))?;
        self.stats.slots_in_use += 1;
        self.stats.retyped += 1;
        Ok(c)
    }

    /// Keeps `want` objects of `ty` ready in the cache (made ahead of
    /// need, in idle time): retypes one if fewer are there. `Ok(true)`:
    /// one was made. Cached objects are a reserve, not use (`Stats`).
    pub fn prepare(&mut self, ty: ObjectType, size_bits: u8, want: usize) -> Result<bool, String> {
        let key = (ty.value(), size_bits);
        if self.cache.get(&key).map_or(0, Vec::len) >= want {
            return Ok(false);
        }
        let c = self.retype(ty, size_bits)?;
        self.cache.entry(key).or_default().push(c);
        self.stats.cached += 1;
        self.stats.prepared += 1;
        Ok(true)
    }

    /// Takes an object back for reuse. The caller has unmapped or
    /// suspended it, and holds no other reference to it.
    pub fn release(&mut self, ty: ObjectType, size_bits: u8, obj: CPtr) {
        self.stats.in_use -= 1;
        self.stats.cached += 1;
        self.cache
            .entry((ty.value(), size_bits))
            .or_default()
            .push(obj);
    }

    /// Copies `src` (a cap in the server's CNode) into a fresh slot with `rights`.
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    pub fn copy(&mut self, src: CPtr, rights: sel4::CapRights) -> Result<CPtr, String> {
        let slot = self.slot()?;
        if let Err(e) = self
            .cnode
            .cnode_copy(slot.bits(), 64, self.cnode, src.bits(), 64, rights)
        {
            self.slots.free(slot);
            self.stats.slots_in_use -= 1;
            return Err(format!("copy cap {src:?}: {e:?}"));
        }
        Ok(slot)
    }
}
