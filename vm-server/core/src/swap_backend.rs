//! The swap pager's device side as the core sees it (`swap_pager.c`'s device half): the object-safe `SwapBackend` trait over vm-swap's `SwapPager`, and the records of a request in flight and of a finished one.
//!
//! Locking: the backend and the requests are owned by the single-threaded
//! `Vm` (`Memory::swap`, `Memory::io`).

use crate::error::VmError;
use crate::types::{FrameNumber, SpaceId};
use alloc::vec::Vec;
use core::any::Any;
use vm_swap::{
    Blist, BlockDevice, IoOp, IoTag, SwapError, SwapEvent, SwapPager, SwapSlot, SwapStats,
};

/// The swap pager's device side as the core sees it: vm-swap's
/// [`SwapPager`] over any [`BlockDevice`], behind a trait object so the
/// `Vm` type stays non-generic (the server names `Vm` without type
/// arguments) and every operation (munmap, exit, faults) can reach it.
/// One virtual call per request is nothing next to the device round trip.
pub trait SwapBackend {
    /// Largest pages per request.
    fn max_cluster(&self) -> u32;
    /// Writes `frames` to a new slot run: straight from the frames where
    /// the device takes frame lists and reaches them all
    /// ([`SwapPager::start_write_direct`]), else copied through staging
    /// buffers by `fill(i, bytes)` ([`SwapPager::start_write`]).
    fn start_write(
        &mut self,
        frames: &[FrameNumber],
        cookie: u64,
        fill: &mut dyn FnMut(u32, &mut [u8]),
    ) -> Result<(IoTag, SwapSlot), SwapError>;
    /// Reads slots `slot..` into `frames`: straight, as `start_write`, or
    /// through staging buffers ([`read_page`](Self::read_page) then has
    /// the bytes).
    fn start_read(
        &mut self,
        slot: SwapSlot,
        frames: &[FrameNumber],
        cookie: u64,
    ) -> Result<IoTag, SwapError>;
    /// [`SwapPager::poll`].
    fn poll(&mut self, out: &mut Vec<SwapEvent>) -> usize;
    /// [`SwapPager::wait`].
    fn wait(&mut self);
    /// [`SwapPager::quiet`].
    fn quiet(&self) -> bool;
    /// [`SwapPager::end_quiet`].
    fn end_quiet(&mut self) -> bool;
    /// [`SwapPager::hold_doorbell`].
    fn hold_doorbell(&mut self);
    /// [`SwapPager::release_doorbell`].
    fn release_doorbell(&mut self);
    /// [`SwapPager::read_page`]: `None` for a read straight into frames.
    fn read_page(&self, tag: IoTag, i: u32) -> Option<&[u8]>;
    /// [`SwapPager::finish_read`].
    fn finish_read(&mut self, tag: IoTag);
    /// [`SwapPager::free_slots`].
    fn free_slots(&mut self, slot: SwapSlot, count: u32);
    /// The slot allocator (counters, leak checks).
    fn blist(&self) -> &Blist;
    /// Counters with slot populations refreshed.
    fn stats(&mut self) -> SwapStats;
    /// Requests in flight plus completed reads not released.
    fn busy(&self) -> usize;
    /// Slot runs whose free waits for a read.
    fn deferred_frees(&self) -> usize;
    /// The device, for downcasting (fault injection in tests).
    fn device_any(&mut self) -> &mut dyn Any;
}

impl<D: BlockDevice + 'static> SwapBackend for SwapPager<D> {
    fn max_cluster(&self) -> u32 {
        SwapPager::max_cluster(self)
    }
    fn start_write(
        &mut self,
        frames: &[FrameNumber],
        cookie: u64,
        fill: &mut dyn FnMut(u32, &mut [u8]),
    ) -> Result<(IoTag, SwapSlot), SwapError> {
        match frame_list(self, frames) {
            Some(list) => self.start_write_direct(&list, cookie),
            None => SwapPager::start_write(self, frames.len() as u32, cookie, fill),
        }
    }
    fn start_read(
        &mut self,
        slot: SwapSlot,
        frames: &[FrameNumber],
        cookie: u64,
    ) -> Result<IoTag, SwapError> {
        match frame_list(self, frames) {
            Some(list) => self.start_read_direct(slot, &list, cookie),
            None => SwapPager::start_read(self, slot, frames.len() as u32, cookie),
        }
    }
    fn poll(&mut self, out: &mut Vec<SwapEvent>) -> usize {
        SwapPager::poll(self, out)
    }
    fn wait(&mut self) {
        SwapPager::wait(self)
    }
    fn quiet(&self) -> bool {
        SwapPager::quiet(self)
    }
    fn end_quiet(&mut self) -> bool {
        SwapPager::end_quiet(self)
    }
    fn hold_doorbell(&mut self) {
        SwapPager::hold_doorbell(self)
    }
    fn release_doorbell(&mut self) {
        SwapPager::release_doorbell(self)
    }
    fn read_page(&self, tag: IoTag, i: u32) -> Option<&[u8]> {
        SwapPager::read_page(self, tag, i)
    }
    fn finish_read(&mut self, tag: IoTag) {
        SwapPager::finish_read(self, tag)
    }
    fn free_slots(&mut self, slot: SwapSlot, count: u32) {
        SwapPager::free_slots(self, slot, count)
    }
    fn blist(&self) -> &Blist {
        SwapPager::blist(self)
    }
    fn stats(&mut self) -> SwapStats {
        SwapPager::stats(self).clone()
    }
    fn busy(&self) -> usize {
        SwapPager::busy(self)
    }
    fn deferred_frees(&self) -> usize {
        SwapPager::deferred_frees(self)
    }
    fn device_any(&mut self) -> &mut dyn Any {
        self.device_mut()
    }
}

/// The physical addresses of `frames` for a direct transfer, if the
/// device takes frame lists and reaches every one.
fn frame_list<D: BlockDevice>(p: &SwapPager<D>, frames: &[FrameNumber]) -> Option<Vec<u64>> {
    if !p.direct() {
        return None;
    }
    frames
        .iter()
        .map(|f| p.device().frame_address(f.0))
        .collect()
}

/// One request in flight: its pages in page-index order.
#[derive(Clone, Debug)]
pub(crate) struct IoReq {
    pub(crate) tag: IoTag,
    pub(crate) op: IoOp,
    pub(crate) frames: Vec<FrameNumber>,
    pub(crate) slot: SwapSlot,
    /// For a page-in, the page a fault asked for (the others are read-ahead).
    pub(crate) wanted: Option<FrameNumber>,
    /// For a page-in, the space whose fault started it (`None`: no fault).
    pub(crate) by: Option<SpaceId>,
    /// For a pageout write, the quota group whose pages it writes.
    pub(crate) charge: Option<u32>,
    /// The external pager serving it (`None`: the swap device; `slot` is
    /// then the device's, else unused).
    pub(crate) pager: Option<u32>,
    /// For a write: free the pages once written (pageout), or keep them
    /// resident and clean (`msync`).
    pub(crate) evict: bool,
}

/// A finished swap transfer, reported by [`Vm::swap_poll`](crate::Vm::swap_poll): the server
/// retries every fault that got `FaultOutcome::Wait` with this tag. A
/// fault whose wanted page failed to read then gets `Io` (the core
/// remembers the page: that one fault fails, the next one reads again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoDone {
    pub tag: IoTag,
    pub op: IoOp,
    /// `Err(VmError::Io)`: a page-in failed for the page its fault wanted
    /// or a pageout failed (its pages stay dirty and resident). For
    /// counters and logs: retrying the faults gives each its outcome.
    pub result: Result<(), VmError>,
}

/// True for the errors that only mean "the device is busy now": every
/// staging buffer or every queue entry is in use; a completion ends it.
pub(crate) fn saturated(e: SwapError) -> bool {
    matches!(
        e,
        SwapError::NoBuffers | SwapError::Device(vm_swap::device::IoError::QueueFull)
    )
}
