//! Pluggable page-replacement policies behind one small trait: BSD's active/inactive CLOCK (default), 2Q, CLOCK-Pro, S3-FIFO, and FIFO as a baseline.
//!
//! # The contract between the VM core and a policy
//!
//! A policy tracks *resident, pageable* frames by [`FrameId`] (the VM
//! core's frame number) and decides which to evict. It owns no page state:
//! reference bits, dirtiness, wiring and busy state stay in the VM core,
//! which the policy consults through [`PolicyHost`] during a scan.
//!
//! * [`insert`](ReplacementPolicy::insert)`(f, key)` — frame `f` now holds
//!   a pageable page (after a zero-fill, copy or page-in). `key` names the
//!   *logical* page (e.g. `object << 40 | pindex`) so that policies with a
//!   history of evicted pages (2Q's A1out) recognise a page coming back.
//!   Caller contract: `f` is not tracked.
//! * [`referenced`](ReplacementPolicy::referenced)`(f)` — the host saw an
//!   access to `f` now, i.e. a fault on a page whose emulated reference bit
//!   had been cleared. A hint: accesses while mapped are invisible, and the
//!   reference bit read through the host stays authoritative.
//! * [`remove`](ReplacementPolicy::remove)`(f)` — `f` left the policy for a
//!   reason of the VM's own (freed, wired, unmanaged); no history is kept.
//!   Caller contract: `f` is tracked.
//! * [`replace`](ReplacementPolicy::replace)`(old, new, key)` — the page
//!   `key` moved from frame `old` to frame `new` (copy-on-write that keeps
//!   the mapped frame); it keeps its place and history. Caller contract:
//!   `old` is tracked, `new` is not. Optional: the default removes and
//!   inserts.
//! * [`select_victims`](ReplacementPolicy::select_victims)`(want, host,
//!   out)` — the pageout scan: pushes up to `want` frames onto `out` and
//!   stops tracking them. For each, the caller frees it if clean, or
//!   launders it (page busy until the write completes) and frees it then.
//!   If eviction does not happen after all (write error, page wired or
//!   referenced meanwhile), the caller gives the frame back with `insert`.
//!   During the scan the policy calls [`PolicyHost::test_and_clear_referenced`]
//!   (the VM core clears its emulated bit by unmapping or write-protecting
//!   the page in the pmap, so the next access faults) and
//!   [`PolicyHost::evictable`] (not wired, held or busy). Fewer than `want`
//!   victims means everything left was recently referenced or not
//!   evictable: the daemon retries at its next wakeup, and the allocator
//!   falls back to its out-of-memory path.
//!
//! The trait is object-safe so the server can hold a
//! `Box<dyn ReplacementPolicy>` chosen at boot.
//!
//! Locking: none. A policy is owned by the single-threaded VM server loop
//! (inside the VM core's page pool).

use alloc::vec::Vec;

/// A frame number as the VM core counts them.
pub type FrameId = u32;

/// A logical page identity, stable across eviction and page-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PageKey(pub u64);

impl PageKey {
    /// Bits of a key that hold the page index in [`PageKey::of`].
    pub const PINDEX_BITS: u32 = 40;

    /// The key of page `pindex` of object `object`: the object in the top
    /// 24 bits, the page index (mod 2^40, 4 PiB of 4 KiB pages) below.
    /// Only history-keeping policies read keys, and only for equality, so
    /// a reused object number merely risks a spurious "seen before"; the
    /// VM core may fold a generation into `object` to avoid even that.
    pub fn of(object: u32, pindex: u64) -> Self {
        PageKey(
            (u64::from(object) << Self::PINDEX_BITS) | (pindex & ((1 << Self::PINDEX_BITS) - 1)),
        )
    }
}

/// What a policy may ask the VM core about a frame during a scan.
pub trait PolicyHost {
    /// Returns whether `f` was referenced since the last call for it and
    /// clears the (emulated) reference bit.
    fn test_and_clear_referenced(&mut self, f: FrameId) -> bool;

    /// Whether `f` may be evicted now (not wired, held or busy under I/O).
    fn evictable(&mut self, _f: FrameId) -> bool {
        true
    }
}

/// What a policy's scans did (merged into the pageout counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyStats {
    /// Frames examined by scans.
    pub scanned: u64,
    /// Frames moved to a colder queue (active -> inactive).
    pub deactivated: u64,
    /// Frames moved to a hotter queue because they were referenced.
    pub reactivated: u64,
    /// Frames handed out as victims.
    pub victims: u64,
}

/// A page-replacement policy (see the module docs for the contract).
pub trait ReplacementPolicy {
    /// Short name for tables.
    fn name(&self) -> &'static str;
    /// Frames currently tracked.
    fn resident(&self) -> u32;
    /// `f` now holds the pageable page `key`. Caller contract: `f` is not
    /// tracked and is below the capacity given at construction.
    fn insert(&mut self, f: FrameId, key: PageKey);
    /// An access to `f` was observed (emulated reference fault).
    fn referenced(&mut self, f: FrameId);
    /// `f` stops being tracked without an eviction. Caller contract: `f`
    /// is tracked.
    fn remove(&mut self, f: FrameId);
    /// The page `key` moved from frame `old` to frame `new` (copy-on-write
    /// that keeps the mapped frame gives the lower object's page a new
    /// frame): `new` should keep `old`'s place and history, and `old` is
    /// no longer tracked. Caller contract: `old` is tracked, `new` is not.
    /// The default starts the page over (`remove`, then `insert`).
    fn replace(&mut self, old: FrameId, new: FrameId, key: PageKey) {
        self.remove(old);
        self.insert(new, key);
    }
    /// Picks up to `want` victims onto `out` and returns how many.
    fn select_victims(
        &mut self,
        want: u32,
        host: &mut dyn PolicyHost,
        out: &mut Vec<FrameId>,
    ) -> u32;
    /// Scan statistics so far.
    fn stats(&self) -> PolicyStats;
    /// The VM expects `f` not to be used soon (`vm_page_deactivate`:
    /// `MADV_DONTNEED`, a page just cleaned, a page a file pager read
    /// ahead): a policy with a cold end puts it there, next to go. A
    /// hint; `f` may be untracked, in which case nothing happens.
    fn deactivate(&mut self, _f: FrameId) {}
    /// Tracked frames on the policy's hot and cold sides (CLOCK's active
    /// and inactive queues, 2Q's Am and A1in, ...), which `vmstat` shows
    /// as "pages active" and "pages inactive". They add up to `resident`.
    fn hot_cold(&self) -> (u32, u32) {
        (self.resident(), 0)
    }
}

/// Builds a policy for frames `0..n`.
pub type PolicyMaker = fn(u32) -> alloc::boxed::Box<dyn ReplacementPolicy>;

/// Every policy the server can run, by the name a spec's
/// `pageout_policy` and `cargo qemu --policy` use; the first is the
/// default. Adding a policy is its file plus one line here.
pub const POLICIES: &[(&str, PolicyMaker)] = &[
    ("clock", |n| alloc::boxed::Box::new(ClockPolicy::new(n))),
    ("2q", |n| alloc::boxed::Box::new(TwoQPolicy::new(n))),
    ("clock-pro", |n| {
        alloc::boxed::Box::new(ClockProPolicy::new(n))
    }),
    ("fifo", |n| alloc::boxed::Box::new(FifoPolicy::new(n))),
    ("s3-fifo", |n| alloc::boxed::Box::new(S3FifoPolicy::new(n))),
];

/// The policy named `name` for frames `0..frames`, or `None` for a name
/// not in [`POLICIES`].
pub fn policy_by_name(name: &str, frames: u32) -> Option<alloc::boxed::Box<dyn ReplacementPolicy>> {
    POLICIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, make)| make(frames))
}

/// What the next reading of a frame's emulated reference bit means, for
/// policies that must not take the fault's own access for a re-use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NextReading {
    /// A set bit is a use since the previous reading.
    Use,
    /// The bit still holds the fault that brought the page in: the
    /// reading only clears it, and the page gets one more lap.
    Fault,
    /// The VM deactivated the page; the bit predates that and is no use.
    Stale,
}

mod clock;
mod clock_pro;
mod fifo;
mod queues;
mod s3_fifo;
#[cfg(test)]
mod tests;
mod two_q;

pub use clock::{ClockConfig, ClockPolicy};
pub use clock_pro::ClockProPolicy;
pub use fifo::FifoPolicy;
pub use s3_fifo::S3FifoPolicy;
pub use two_q::TwoQPolicy;
