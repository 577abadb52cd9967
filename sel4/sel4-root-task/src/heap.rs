//! The global allocator: `linked_list_allocator` over a static array that
//! the binary's entry macro provides (its size is the binary's choice).
//!
//! The heap is protected by the allocator's spin lock; programs here never
//! allocate from an interrupt-like context, so spinning cannot deadlock.

#[cfg(not(test))]
use linked_list_allocator::LockedHeap;

#[cfg(not(test))]
#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// Hands `size` bytes at `start` to the global allocator. A program whose
/// entry macro asked for no static heap (size 0) calls this itself later,
/// e.g. with memory it mapped from its pager.
///
/// # Safety
/// Called once with a non-zero size, before any allocation, with memory
/// nothing else uses.
pub unsafe fn init(start: *mut u8, size: usize) {
    #[cfg(not(test))]
    if size > 0 {
        unsafe { ALLOCATOR.lock().init(start, size) };
    }
    #[cfg(test)]
    let _ = (start, size);
}
