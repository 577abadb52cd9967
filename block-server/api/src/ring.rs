//! The ring page: two single-producer single-consumer queues in one 4 KiB
//! page shared by a client and the server.
//!
//! | offset | field | written by |
//! | ---: | --- | --- |
//! | 0 | `sq_prod: u32` | client |
//! | 64 | `sq_cons: u32` | server |
//! | 128 | `cq_prod: u32` | server |
//! | 192 | `cq_cons: u32` | client |
//! | 256 | `sq[RING_ENTRIES]`: [`RequestWire`] (64 B each) | client |
//! | 2304 | `cq[RING_ENTRIES]`: [`CompletionWire`] (32 B each) | server |
//!
//! Indices run freely (wrapping `u32`); entry `i` lives at `i %
//! RING_ENTRIES`; a queue holds `prod - cons` entries. A producer writes
//! the entry, then publishes the index with a release store; a consumer
//! reads the index with an acquire load, then the entry (volatile: the
//! other side may write the page at any time). Each side keeps its own
//! index privately and only publishes it, so nothing the other side
//! writes can make it read outside the page.

use crate::wire::{CompletionWire, RequestWire};
use core::sync::atomic::{AtomicU32, Ordering};

/// Entries per queue.
pub const RING_ENTRIES: usize = 32;
pub const SQ_PROD: usize = 0;
pub const SQ_CONS: usize = 64;
pub const CQ_PROD: usize = 128;
pub const CQ_CONS: usize = 192;
pub const SQ_OFFSET: usize = 256;
pub const CQ_OFFSET: usize = SQ_OFFSET + RING_ENTRIES * 64;
/// Bytes of the ring page in use.
pub const RING_BYTES: usize = CQ_OFFSET + RING_ENTRIES * 32;
const _: () = assert!(RING_BYTES <= 4096);

/// A view of a ring page.
#[derive(Clone, Copy, Debug)]
pub struct Ring {
    base: *mut u8,
}

impl Ring {
    /// A view of the ring page at `base`.
    ///
    /// # Safety
    /// `base` is 64-byte aligned, valid for reads and writes of
    /// [`RING_BYTES`] for as long as the view is used, and only accessed
    /// through `Ring` views (by this program and the other side).
    pub unsafe fn new(base: *mut u8) -> Ring {
        Ring { base }
    }

    fn index(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: in the page (`new`'s contract), 4-byte aligned.
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast()) }
    }

    pub(crate) fn load(&self, offset: usize) -> u32 {
        self.index(offset).load(Ordering::Acquire)
    }

    pub(crate) fn store(&self, offset: usize, v: u32) {
        self.index(offset).store(v, Ordering::Release)
    }

    /// Zeroes the four indices (the owner of the page does this once, before
    /// the other side starts).
    pub fn reset(&self) {
        for off in [SQ_PROD, SQ_CONS, CQ_PROD, CQ_CONS] {
            self.store(off, 0);
        }
    }

    fn slot(i: u32) -> usize {
        i as usize % RING_ENTRIES
    }

    pub(crate) fn read_request(&self, i: u32) -> RequestWire {
        // SAFETY: in the page, 8-byte aligned; any bits are a valid RequestWire.
        unsafe {
            core::ptr::read_volatile(
                self.base
                    .add(SQ_OFFSET + Self::slot(i) * 64)
                    .cast::<RequestWire>(),
            )
        }
    }

    pub(crate) fn write_request(&self, i: u32, w: &RequestWire) {
        // SAFETY: in the page, 8-byte aligned.
        unsafe {
            core::ptr::write_volatile(
                self.base
                    .add(SQ_OFFSET + Self::slot(i) * 64)
                    .cast::<RequestWire>(),
                *w,
            )
        }
    }

    pub(crate) fn read_completion(&self, i: u32) -> CompletionWire {
        // SAFETY: as for read_request.
        unsafe {
            core::ptr::read_volatile(
                self.base
                    .add(CQ_OFFSET + Self::slot(i) * 32)
                    .cast::<CompletionWire>(),
            )
        }
    }

    pub(crate) fn write_completion(&self, i: u32, w: &CompletionWire) {
        // SAFETY: as for write_request.
        unsafe {
            core::ptr::write_volatile(
                self.base
                    .add(CQ_OFFSET + Self::slot(i) * 32)
                    .cast::<CompletionWire>(),
                *w,
            )
        }
    }

    /// Raw access for tests of a hostile peer: writes `v` at index `offset`.
    pub fn poke_index(&self, offset: usize, v: u32) {
        self.store(offset, v)
    }

    /// Reads index `offset` as the other side published it.
    pub fn peek_index(&self, offset: usize) -> u32 {
        self.load(offset)
    }

    /// Raw access for tests of a hostile peer: writes submission entry `i`.
    pub fn poke_request(&self, i: u32, w: &RequestWire) {
        self.write_request(i, w)
    }
}
