//! Quota limits and usage (semantics: quota-*): the kinds of limit, a group's `Limits` and `Usage`, and the `Group` record the `Vm` keeps per quota group.
//!
//! A leaf: the checks that charge requests against these live in
//! `quota.rs`, so the `Vm` can hold groups without an import circle.
//!
//! A *quota group* is a space made by `space_create` and every space
//! forked from it, transitively: fork charges the child to its parent's
//! limits, as `RLIMIT_*` and cgroups do, so a fork bomb runs into the
//! family's limits.

use crate::error::VmError;

/// One kind of limit; `VmError::QuotaExceeded` names the one hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Quota {
    /// Frames holding the group's pages: past it, the group's own pages
    /// are paged out first (group-local pageout).
    Resident = 0,
    /// Pages of the group's `mlock`ed ranges.
    Wired = 1,
    /// Swap slots holding the group's pages (and pages being written).
    Swap = 2,
    /// Map entries of all the group's spaces.
    MapEntries = 3,
    /// Open handles of all its spaces plus names the group created.
    Handles = 4,
    /// Page tables of one address space (the pmap enforces it).
    PageTables = 5,
    /// Forked spaces alive at once.
    Children = 6,
    /// VM objects charged to the group: the anonymous objects and shadows
    /// made for its entries, the shared-memory and file objects it
    /// created. Bounds the server's heap without counting the worst
    /// chain for every map entry (docs/isolation.md).
    Objects = 7,
}

impl Quota {
    /// Every kind, in code order.
    pub const ALL: [Quota; 8] = [
        Quota::Resident,
        Quota::Wired,
        Quota::Swap,
        Quota::MapEntries,
        Quota::Handles,
        Quota::PageTables,
        Quota::Children,
        Quota::Objects,
    ];
}

/// A group's limits; `u64::MAX` is no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub resident_pages: u64,
    pub wired_pages: u64,
    pub swap_slots: u64,
    pub map_entries: u64,
    pub handles: u64,
    pub page_tables: u64,
    pub children: u64,
    pub objects: u64,
}

impl Limits {
    /// No limits at all (the default of a new group).
    pub const UNLIMITED: Limits = Limits {
        resident_pages: u64::MAX,
        wired_pages: u64::MAX,
        swap_slots: u64::MAX,
        map_entries: u64::MAX,
        handles: u64::MAX,
        page_tables: u64::MAX,
        children: u64::MAX,
        objects: u64::MAX,
    };

    /// The limit of one kind.
    pub fn get(&self, q: Quota) -> u64 {
        match q {
            Quota::Resident => self.resident_pages,
            Quota::Wired => self.wired_pages,
            Quota::Swap => self.swap_slots,
            Quota::MapEntries => self.map_entries,
            Quota::Handles => self.handles,
            Quota::PageTables => self.page_tables,
            Quota::Children => self.children,
            Quota::Objects => self.objects,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::UNLIMITED
    }
}

/// What a group uses now, kind by kind (page tables: the pmap's count,
/// not known here, reported as 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub resident_pages: u64,
    pub wired_pages: u64,
    pub swap_slots: u64,
    pub map_entries: u64,
    pub handles: u64,
    pub children: u64,
    pub objects: u64,
}

/// A quota group. Owned by the `Vm`; gone with its last space.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub(crate) limits: Limits,
    /// Live spaces in it (the first one and its forked descendants).
    pub(crate) spaces: u32,
    /// Names it created that still exist.
    pub(crate) names: u64,
}

impl Group {
    pub(crate) fn new() -> Self {
        Group {
            limits: Limits::UNLIMITED,
            spaces: 0,
            names: 0,
        }
    }
}

/// `u + extra <= limit`, else `QuotaExceeded(q)`.
pub(crate) fn within(q: Quota, used: u64, extra: u64, limit: u64) -> Result<(), VmError> {
    if used.saturating_add(extra) > limit {
        return Err(VmError::QuotaExceeded(q));
    }
    Ok(())
}
