//! A channel's data window: page-sized buffers after the ring page, named
//! by index, shared with the other side (block and pager channels alike).

use crate::BLOCK_SIZE;

/// A view of a data window of `buffers` buffers of [`BLOCK_SIZE`] bytes.
///
/// Not `Clone`: [`buffer_mut`](Self::buffer_mut) borrows the view
/// mutably, so one view never hands out overlapping slices.
#[derive(Debug)]
pub struct Window {
    base: *mut u8,
    buffers: u64,
}

impl Window {
    /// A view of the window at `base`.
    ///
    /// # Safety
    /// `base` is page aligned and valid for reads and writes of
    /// `buffers * BLOCK_SIZE` bytes for as long as the view is used, and
    /// reached only through `Window` views: one per end of the channel
    /// (both in one program in loopback tests), each used under the
    /// caller contracts of [`buffer`](Self::buffer) and
    /// [`buffer_mut`](Self::buffer_mut).
    pub unsafe fn new(base: *mut u8, buffers: u64) -> Window {
        Window { base, buffers }
    }

    /// Buffers in the window.
    pub fn buffers(&self) -> u64 {
        self.buffers
    }

    /// True when buffers `buf..buf + count` lie in the window.
    pub fn contains(&self, buf: u64, count: u64) -> bool {
        buf.checked_add(count)
            .is_some_and(|end| end <= self.buffers)
    }

    fn range(&self, buf: u64, count: u64) -> (usize, usize) {
        assert!(
            self.contains(buf, count),
            "buffers {buf}+{count} outside the window"
        );
        (buf as usize * BLOCK_SIZE, count as usize * BLOCK_SIZE)
    }

    /// Bytes of buffers `buf..buf + count`. Caller contract: the other
    /// side does not write them meanwhile (no request in flight names
    /// them; a hostile peer can only garble its own data).
    ///
    /// # Panics
    /// If the range leaves the window.
    pub fn buffer(&self, buf: u64, count: u64) -> &[u8] {
        let (off, len) = self.range(buf, count);
        // SAFETY: inside the window (checked); the other side leaves it
        // alone meanwhile (caller's contract).
        unsafe { core::slice::from_raw_parts(self.base.add(off), len) }
    }

    /// Mutable bytes of buffers `buf..buf + count`. Caller contract: as
    /// for [`buffer`](Self::buffer).
    ///
    /// # Panics
    /// If the range leaves the window.
    pub fn buffer_mut(&mut self, buf: u64, count: u64) -> &mut [u8] {
        let (off, len) = self.range(buf, count);
        // SAFETY: as for `buffer`, and `&mut self` excludes other slices
        // of this view.
        unsafe { core::slice::from_raw_parts_mut(self.base.add(off), len) }
    }
}
