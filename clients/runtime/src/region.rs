//! A mapping a test program made, with bounds-checked word access: the
//! one place a client turns the VM server's addresses into memory
//! accesses, so test code needs no `unsafe` of its own.

use vm_api::{ApiError, MmapRequest, VmClient, PAGE_SIZE};

/// Words per page.
pub const PAGE_WORDS: u64 = PAGE_SIZE / 8;

/// A range the VM server mapped for this program (`mmap`), until
/// [`Region::unmap`]. Copies are fine: a forked child has the same
/// mapping at the same address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    base: u64,
    len: u64,
}

impl Region {
    /// Maps `req` (its length a multiple of the page size).
    pub fn map(vm: &mut VmClient, req: &MmapRequest) -> Result<Region, ApiError> {
        let base = vm.mmap(req)?;
        Ok(Region { base, len: req.len })
    }

    /// Its first address.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty region.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its pages.
    pub fn pages(&self) -> u64 {
        self.len / PAGE_SIZE
    }

    /// Address of word `word` of page `page`; panics outside the region.
    fn addr(&self, page: u64, word: u64) -> *mut u64 {
        assert!(
            page < self.pages() && word < PAGE_WORDS,
            "word {word} of page {page} is outside a region of {} pages",
            self.pages()
        );
        (self.base + page * PAGE_SIZE + word * 8) as *mut u64
    }

    /// Reads word `word` of page `page` (a fault the VM server refuses
    /// stops the program, as any bad access would).
    pub fn read(&self, page: u64, word: u64) -> u64 {
        let p = self.addr(page, word);
        // SAFETY: `p` is an aligned word inside a mapping the VM server
        // made for this program (checked by `addr`); a `u64` has no
        // invalid values, and other mappings of the same page (shared
        // memory, another client) are why the access is volatile.
        unsafe { p.read_volatile() }
    }

    /// Writes word `word` of page `page`.
    pub fn write(&self, page: u64, word: u64, value: u64) {
        let p = self.addr(page, word);
        // SAFETY: as in `read`; nothing in this program holds a Rust
        // reference into the mapping, so the write aliases nothing.
        unsafe { p.write_volatile(value) }
    }

    /// Waits (yielding) until word `word` of page `page` holds `value`,
    /// at most `spins` yields: a handshake through shared memory with
    /// another program or a forked child. Returns whether it did.
    pub fn wait_for(&self, page: u64, word: u64, value: u64, spins: u64) -> bool {
        for _ in 0..spins {
            if self.read(page, word) == value {
                return true;
            }
            sel4::yield_now();
        }
        self.read(page, word) == value
    }

    /// Address of page `page` (for requests over part of the region).
    pub fn page_addr(&self, page: u64) -> u64 {
        assert!(page <= self.pages(), "page {page} is past the region");
        self.base + page * PAGE_SIZE
    }

    /// Unmaps the region.
    pub fn unmap(self, vm: &mut VmClient) -> Result<(), ApiError> {
        vm.munmap(self.base, self.len)
    }
}
