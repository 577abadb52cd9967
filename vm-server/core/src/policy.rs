//! The page pool's replacement policy: CLOCK, the default, held by value so that the fault path calls it directly; any other policy behind its vtable.
//!
//! Every fault that makes or touches a pageable page tells the policy
//! (`insert`, `referenced`). Through a `Box<dyn ReplacementPolicy>` each
//! of those was an indirect call and a read of the vtable's page, and
//! under QEMU every indirect call is a lookup of the next translated
//! block, so the default policy costs the fault path two lookups and a
//! data page less held this way (docs/performance.md, "Data pages of a
//! fault"). A policy installed with `Vm::set_replacement_policy` is kept
//! boxed, CLOCK included: research policies stay pluggable.
//! Owned by the `PagePool`.

use alloc::boxed::Box;
use vm_swap::{ClockPolicy, FrameId, PageKey, ReplacementPolicy};

/// The replacement policy the pool runs.
pub enum Policy {
    /// The default, called directly.
    Clock(ClockPolicy),
    /// One installed in its place.
    Other(Box<dyn ReplacementPolicy>),
}

impl Policy {
    pub fn as_dyn(&self) -> &dyn ReplacementPolicy {
        match self {
            Policy::Clock(c) => c,
            Policy::Other(p) => p.as_ref(),
        }
    }

    pub fn as_dyn_mut(&mut self) -> &mut dyn ReplacementPolicy {
        match self {
            Policy::Clock(c) => c,
            Policy::Other(p) => p.as_mut(),
        }
    }

    /// The policy as the boxed trait object `set_policy` hands back.
    pub fn into_box(self) -> Box<dyn ReplacementPolicy> {
        match self {
            Policy::Clock(c) => Box::new(c),
            Policy::Other(p) => p,
        }
    }

    #[inline]
    pub fn insert(&mut self, f: FrameId, key: PageKey) {
        match self {
            Policy::Clock(c) => c.insert(f, key),
            Policy::Other(p) => p.insert(f, key),
        }
    }

    #[inline]
    pub fn referenced(&mut self, f: FrameId) {
        match self {
            Policy::Clock(c) => c.referenced(f),
            Policy::Other(p) => p.referenced(f),
        }
    }

    #[inline]
    pub fn replace(&mut self, old: FrameId, new: FrameId, key: PageKey) {
        match self {
            Policy::Clock(c) => c.replace(old, new, key),
            Policy::Other(p) => p.replace(old, new, key),
        }
    }

    #[inline]
    pub fn remove(&mut self, f: FrameId) {
        match self {
            Policy::Clock(c) => c.remove(f),
            Policy::Other(p) => p.remove(f),
        }
    }
}
