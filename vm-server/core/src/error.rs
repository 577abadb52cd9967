//! The error vocabulary of every VM operation, each with a stable numeric code for the IPC layer.

use core::fmt;

/// Why an operation failed. Every failing operation leaves the VM unchanged,
/// except a fault that ran out of memory after part of its fault-around
/// (the pages it did enter stay valid).
///
/// `code()` is part of the IPC protocol: never renumber, only append.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VmError {
    /// An address, length or offset is not a multiple of the page size.
    Unaligned,
    /// A length of zero.
    ZeroLength,
    /// `addr + len` wraps around.
    Overflow,
    /// The range leaves the user part of the address space.
    OutOfRange,
    /// A fixed, no-replace mapping overlaps an existing one.
    Exists,
    /// No free range large enough (with the requested alignment).
    NoSpace,
    /// Part of the range is not mapped (for faults: the address is not).
    NoMapping,
    /// The access is not allowed by the entry's (or the handle's) rights.
    Protection,
    /// The requested protection exceeds the maximum protection.
    MaxProtection,
    /// No free page is left above the reserve (or the pmap ran out).
    OutOfMemory,
    /// A bad flag, advice or combination of arguments.
    InvalidArgument,
    /// No such address space.
    BadSpace,
    /// No such handle in this space.
    BadHandle,
    /// The access falls beyond the end of the object behind the mapping.
    BeyondObject,
    /// The pages are wired or otherwise in use.
    Busy,
    /// A shared-memory object of that name already exists.
    NameExists,
    /// No shared-memory object has that name.
    NoSuchName,
    /// A pager failed to read or write a page: a page-in read error fails
    /// the one fault (and its waiters) that needed the page.
    Io,
    /// Memory is short and the swap device is full (or absent while
    /// anonymous pages would have to be paged out to make room).
    NoSwap,
    /// The request would take the client's group past one of its limits
    /// (semantics: quota-*); nothing changed.
    QuotaExceeded(crate::Quota),
    /// The pager behind the object is gone (docs/pager.md): its pages can
    /// no longer be read or written.
    PagerDead,
    /// The operation needs a pager's answer first (docs/pager.md,
    /// "Waiting for a pager"): it changed nothing, and the server runs it
    /// again after the pager's next completion. Never sent to a client.
    PagerWait,
}

impl VmError {
    /// The stable number sent over IPC (0 means success there).
    pub const fn code(self) -> u16 {
        match self {
            VmError::Unaligned => 1,
            VmError::ZeroLength => 2,
            VmError::Overflow => 3,
            VmError::OutOfRange => 4,
            VmError::Exists => 5,
            VmError::NoSpace => 6,
            VmError::NoMapping => 7,
            VmError::Protection => 8,
            VmError::MaxProtection => 9,
            VmError::OutOfMemory => 10,
            VmError::InvalidArgument => 11,
            VmError::BadSpace => 12,
            VmError::BadHandle => 13,
            VmError::BeyondObject => 14,
            VmError::Busy => 15,
            VmError::NameExists => 16,
            VmError::NoSuchName => 17,
            VmError::Io => 18,
            VmError::NoSwap => 19,
            // Codes 27 and 28 were taken when the eighth kind came.
            VmError::QuotaExceeded(crate::Quota::Objects) => 29,
            VmError::QuotaExceeded(q) => 20 + q as u16,
            VmError::PagerDead => 27,
            VmError::PagerWait => 28,
        }
    }

    /// Every variant, in code order (for tests and the IPC layer's tables).
    pub const ALL: [VmError; 29] = [
        VmError::Unaligned,
        VmError::ZeroLength,
        VmError::Overflow,
        VmError::OutOfRange,
        VmError::Exists,
        VmError::NoSpace,
        VmError::NoMapping,
        VmError::Protection,
        VmError::MaxProtection,
        VmError::OutOfMemory,
        VmError::InvalidArgument,
        VmError::BadSpace,
        VmError::BadHandle,
        VmError::BeyondObject,
        VmError::Busy,
        VmError::NameExists,
        VmError::NoSuchName,
        VmError::Io,
        VmError::NoSwap,
        VmError::QuotaExceeded(crate::Quota::Resident),
        VmError::QuotaExceeded(crate::Quota::Wired),
        VmError::QuotaExceeded(crate::Quota::Swap),
        VmError::QuotaExceeded(crate::Quota::MapEntries),
        VmError::QuotaExceeded(crate::Quota::Handles),
        VmError::QuotaExceeded(crate::Quota::PageTables),
        VmError::QuotaExceeded(crate::Quota::Children),
        VmError::PagerDead,
        VmError::PagerWait,
        VmError::QuotaExceeded(crate::Quota::Objects),
    ];
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            VmError::Unaligned => "not page aligned",
            VmError::ZeroLength => "zero length",
            VmError::Overflow => "range wraps around",
            VmError::OutOfRange => "outside the user address range",
            VmError::Exists => "overlaps an existing mapping",
            VmError::NoSpace => "no free address range",
            VmError::NoMapping => "not mapped",
            VmError::Protection => "protection violation",
            VmError::MaxProtection => "above maximum protection",
            VmError::OutOfMemory => "out of memory",
            VmError::InvalidArgument => "invalid argument",
            VmError::BadSpace => "no such address space",
            VmError::BadHandle => "no such handle",
            VmError::BeyondObject => "beyond the end of the object",
            VmError::Busy => "pages busy or wired",
            VmError::NameExists => "name exists",
            VmError::NoSuchName => "no such name",
            VmError::Io => "I/O error",
            VmError::NoSwap => "out of swap space",
            VmError::PagerDead => "the object's pager is gone",
            VmError::PagerWait => "waits for a pager",
            VmError::QuotaExceeded(q) => {
                return write!(f, "over the {q:?} quota");
            }
        };
        f.write_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_ordered() {
        for (i, e) in VmError::ALL.iter().enumerate() {
            assert_eq!(e.code() as usize, i + 1);
        }
    }
}
