//! The out-of-memory victim (`vm_pageout_oom`): which client the server stops when memory and swap are exhausted, by `OomPolicy`.
//!
//! Locking: reads the single-threaded `Vm`; the server does the killing.

use crate::config::OomPolicy;
use crate::error::VmError;
use crate::types::SpaceId;
use crate::vm::Vm;

impl Vm {
    /// Pages charged to `space`: resident or on swap in the front object
    /// of each of its entries when no other chain holds that object (what
    /// its exit gives back, at least). Cost is linear in its entries and
    /// those pages.
    pub fn space_footprint(&self, space: SpaceId) -> Result<u64, VmError> {
        let sp = self.space_ref(space)?;
        let mut n = 0;
        for e in sp.map.entries() {
            let Some(front) = e.chain.front() else {
                continue;
            };
            let o = self.mem.objects.get(front.object);
            if !o.is_private_anon() || o.ref_count() != 1 {
                continue;
            }
            let (lo, hi) = (front.pindex(0), front.pindex(e.npages()));
            n += o.pages_in(lo, hi).count() as u64;
            n += o
                .swap()
                .range(lo..hi)
                .filter(|&(p, _)| o.lookup(p).is_none())
                .count() as u64;
        }
        Ok(n)
    }

    /// The space the configured `OomPolicy` would stop to get memory
    /// back, if any (`None` with no spaces or `OomPolicy::None`). The
    /// server calls it when a fault fails with `OutOfMemory` or `NoSwap`
    /// after pageout could free nothing, kills that client (`exit`) and
    /// retries.
    pub fn oom_victim(&self) -> Option<SpaceId> {
        match self.mem.config.oom_policy {
            OomPolicy::None => None,
            OomPolicy::Newest => self.spaces.keys().next_back().map(|&k| SpaceId(k)),
            OomPolicy::Largest => self
                .spaces
                .keys()
                .map(|&k| SpaceId(k))
                .max_by_key(|&s| (self.space_footprint(s).unwrap_or(0), s.0)),
        }
    }
}
