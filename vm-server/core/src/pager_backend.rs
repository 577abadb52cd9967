//! An external pager as the core sees it (`vnode_pager.c`'s getpages/putpages, Mach's memory object): page-in and write-back requests for the objects it backs, completions polled later, and the close of an object (docs/pager.md).
//!
//! Locking: each backend is owned by the single-threaded `Vm`
//! (`Memory::pagers`), like the swap backend.
//!
//! The core names every request with a tag it chose itself (above
//! [`PAGER_TAG`], so it never meets a swap tag) and the backend echoes it
//! in the completion. A backend never blocks: `start_*` queues the request
//! or refuses it at once, and `poll` reports what finished. On seL4 it is
//! the pager channel, a ring page and a data window shared with the pager
//! component; on the host a RAM file store that delays, reorders and fails
//! requests.

use crate::error::VmError;
use alloc::vec::Vec;
use core::any::Any;

/// Tags of pager requests have this bit set; swap tags never do.
pub const PAGER_TAG: u64 = 1 << 63;

/// Why a backend could not take a request now or at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagerRefusal {
    /// Every request slot or window buffer is in use: retry after a
    /// completion.
    Busy,
    /// The pager is gone or the request can never be served.
    Failed,
}

/// How a pager answered one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagerResult {
    /// A page-in's data is in the backend's buffers (`read_page`).
    Supplied,
    /// A page-in's range reads as zero (a hole); no data.
    Zero,
    /// A write-back's data is durable.
    Written,
    /// The pager failed the request with this error.
    Failed(VmError),
}

/// One finished request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagerEvent {
    /// The tag the core gave the request.
    pub tag: u64,
    pub result: PagerResult,
}

/// A pager component's channel, behind a trait object so the `Vm` stays
/// non-generic (as `SwapBackend`).
pub trait PagerBackend {
    /// Largest pages per request.
    fn max_cluster(&self) -> u32;
    /// Ask for pages `pindex..pindex + count` of object `key`.
    fn start_read(
        &mut self,
        key: u64,
        pindex: u64,
        count: u32,
        tag: u64,
    ) -> Result<(), PagerRefusal>;
    /// Write pages `pindex..pindex + count` of object `key`; `fill(i, buf)`
    /// copies page `i` of the request into the backend's buffer.
    fn start_write(
        &mut self,
        key: u64,
        pindex: u64,
        count: u32,
        tag: u64,
        fill: &mut dyn FnMut(u32, &mut [u8]),
    ) -> Result<(), PagerRefusal>;
    /// Block until something may have finished (on seL4 the VM server's
    /// notification); for the synchronous waits only.
    fn wait(&mut self);
    /// Move finished requests to `out`; returns how many.
    fn poll(&mut self, out: &mut Vec<PagerEvent>) -> usize;
    /// Page `i` of the finished page-in `tag` (valid after `Supplied`,
    /// until `finish_read`).
    fn read_page(&self, tag: u64, i: u32) -> &[u8];
    /// The core has copied a finished page-in out; its buffers are free.
    fn finish_read(&mut self, tag: u64);
    /// The last reference to object `key` is gone.
    fn close(&mut self, key: u64);
    /// The backend, for downcasting (fault injection in tests).
    fn device_any(&mut self) -> &mut dyn Any;
}
