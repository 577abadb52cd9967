//! One address space (`struct vmspace`): its map, its object handles, its counters and the groups it belongs to.
//!
//! Locking: spaces are owned by the single-threaded `Vm`.

use crate::counters::SpaceCounters;
use crate::map::VmMap;
use crate::types::{Handle, ObjectId, Prot, SpaceId};
use alloc::collections::BTreeMap;

/// A handle's target and the rights it grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleEntry {
    pub object: ObjectId,
    pub rights: Prot,
}

/// One address space (`struct vmspace`): its map and its object handles.
/// Owned by the single-threaded `Vm`.
#[derive(Debug)]
pub struct VmSpace {
    pub(crate) id: SpaceId,
    pub(crate) map: VmMap,
    pub(crate) handles: BTreeMap<u32, HandleEntry>,
    pub(crate) next_handle: u32,
    pub(crate) counters: SpaceCounters,
    /// Its quota group (the space `space_create` made and its forks).
    pub(crate) group: u32,
    /// The name group its shared-memory names live in.
    pub(crate) name_group: u64,
}

impl VmSpace {
    pub fn id(&self) -> SpaceId {
        self.id
    }

    pub fn map(&self) -> &VmMap {
        &self.map
    }

    pub fn handle(&self, h: Handle) -> Option<HandleEntry> {
        self.handles.get(&h.0).copied()
    }

    /// Its quota group: the space `space_create` made, shared by every
    /// space forked from it.
    pub fn quota_group(&self) -> u32 {
        self.group
    }

    /// The name group its shared-memory names are looked up in.
    pub fn name_group(&self) -> u64 {
        self.name_group
    }

    /// Open handles.
    pub fn handle_count(&self) -> usize {
        self.handles.len()
    }

    /// Its fault and page-in counts.
    pub fn counters(&self) -> SpaceCounters {
        self.counters
    }

    /// Pages of its wired (`mlock`ed) entries.
    pub fn wired_pages(&self) -> u64 {
        self.map
            .entries()
            .filter(|e| e.is_wired())
            .map(|e| e.npages())
            .sum()
    }
}
