//! The global allocator: `talc` over memory the program hands it (a static
//! array its entry macro provides, or memory a client maps from its pager).
//!
//! talc rather than a linked-list allocator: the VM server allocates and
//! frees map entries, B-tree nodes and reverse-map vectors on every fault,
//! and a first-fit free list grows slower with fragmentation (measured
//! under QEMU: it dominated the server's fault path). The heap is protected
//! by `sel4-sync`'s mutex, unbound (a test-and-set lock that yields), since
//! no notification exists before the heap does.

#[cfg(not(test))]
use talc::{ErrOnOom, Span, Talc, Talck};

#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: Talck<sel4_sync::RawNotificationMutex, ErrOnOom> = Talc::new(ErrOnOom).lock();

/// Hands `size` bytes at `start` to the global allocator. A program whose
/// entry macro asked for no static heap (size 0) calls this itself later,
/// e.g. with memory it mapped from its pager.
///
/// # Safety
/// Called with memory nothing else uses, which stays valid for the
/// program's lifetime.
pub unsafe fn init(start: *mut u8, size: usize) {
    #[cfg(not(test))]
    if size > 0 {
        // SAFETY: the caller gives us exclusive, live memory.
        let _ = unsafe { ALLOCATOR.lock().claim(Span::from_base_size(start, size)) };
    }
    #[cfg(test)]
    let _ = (start, size);
}

/// Bytes of the heap in allocations now (talc's counters: the sum of the
/// live allocations' sizes): what a server's data structures take.
pub fn allocated_bytes() -> usize {
    #[cfg(not(test))]
    return ALLOCATOR.lock().get_counters().allocated_bytes;
    #[cfg(test)]
    0
}
