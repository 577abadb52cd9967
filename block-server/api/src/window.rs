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

    /// Reads `out.len()` little-endian `u64`s from the start of buffer
    /// `buf` (a frame list), each word once, with volatile loads: the other
    /// side may write the buffer meanwhile (a hostile or buggy peer), and
    /// every bit pattern is a value, so the caller gets some word for each
    /// entry and checks what it got, never the buffer again.
    ///
    /// # Panics
    /// If buffer `buf` is outside the window or `out` is longer than a
    /// buffer ([`FRAME_LIST_ENTRIES`](crate::FRAME_LIST_ENTRIES)).
    pub fn read_u64s(&self, buf: u64, out: &mut [u64]) {
        assert!(
            out.len() <= BLOCK_SIZE / 8,
            "{} words in a buffer",
            out.len()
        );
        let (off, _) = self.range(buf, 1);
        for (i, w) in out.iter_mut().enumerate() {
            // SAFETY: word `i` < BLOCK_SIZE / 8 of buffer `buf` lies inside
            // the window (checked) and is 8-byte aligned (the window is page
            // aligned, `new`'s contract); a volatile load of a `u64` the
            // other side may be writing yields some value, and any bits are
            // a valid `u64`.
            let v = unsafe { core::ptr::read_volatile(self.base.add(off + 8 * i).cast::<u64>()) };
            *w = u64::from_le(v);
        }
    }

    /// Writes `words` as little-endian `u64`s at the start of buffer `buf`
    /// (a frame list). Caller contract: as for
    /// [`buffer_mut`](Self::buffer_mut).
    ///
    /// # Panics
    /// If buffer `buf` is outside the window or `words` is longer than a
    /// buffer ([`FRAME_LIST_ENTRIES`](crate::FRAME_LIST_ENTRIES)).
    pub fn write_u64s(&mut self, buf: u64, words: &[u64]) {
        assert!(
            words.len() <= BLOCK_SIZE / 8,
            "{} words in a buffer",
            words.len()
        );
        let b = self.buffer_mut(buf, 1);
        for (chunk, w) in b.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
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
