//! Errors: `ApiError`, the code a reply label carries, and `DecodeError`, why a message did not decode.

use core::fmt;

ipc_protocol::error_codes! {
    /// Why an operation failed: the label of an error reply.
    ///
    /// Codes `1..=0xff` are the VM core's (`vm_core::VmError::code()`, equal
    /// numbers, one to one); codes from `0x100` are the protocol's own. Code 0
    /// is success and never an error. Never renumber, only append.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum ApiError {
        /// An address, length or offset is not a multiple of the page size.
        Unaligned = 1 => "not page aligned",
        /// A length of zero.
        ZeroLength = 2 => "zero length",
        /// `addr + len` wraps around.
        Overflow = 3 => "range wraps around",
        /// The range leaves the user part of the address space.
        OutOfRange = 4 => "outside the user address range",
        /// A fixed, no-replace mapping overlaps an existing one.
        Exists = 5 => "overlaps an existing mapping",
        /// No free range large enough (findspace failed).
        NoSpace = 6 => "no free address range",
        /// Part of the range is not mapped.
        NoMapping = 7 => "not mapped",
        /// The access is not allowed by the mapping's or the handle's rights.
        Protection = 8 => "protection violation",
        /// The requested protection exceeds the maximum protection.
        MaxProtection = 9 => "above maximum protection",
        /// No free page is left.
        OutOfMemory = 10 => "out of memory",
        /// A bad flag, advice or combination of arguments.
        InvalidArgument = 11 => "invalid argument",
        /// The caller's (or the target's) address space does not exist.
        BadSpace = 12 => "no such address space",
        /// No such handle.
        BadHandle = 13 => "no such handle",
        /// The range reaches beyond the end of the object behind the mapping.
        BeyondObject = 14 => "beyond the end of the object",
        /// The pages are wired or otherwise in use.
        Busy = 15 => "pages busy or wired",
        /// A shared-memory object of that name already exists.
        NameExists = 16 => "name exists",
        /// No shared-memory object has that name.
        NoSuchName = 17 => "no such name",
        /// A pager failed to read or write a page.
        Io = 18 => "I/O error",
        /// Swap space is exhausted (reserved for the swap pager; the VM core
        /// should append it with the same code).
        NoSwap = 19 => "out of swap space",
        /// Over the caller's quota of resident frames (`vm_core::Quota`; the
        /// quota errors, these seven and `QuotaObjects`, name the limit that
        /// was hit; nothing changed).
        QuotaResident = 20 => "over the resident-frames quota",
        /// Over the quota of wired (`mlock`ed) pages.
        QuotaWired = 21 => "over the wired-pages quota",
        /// Over the quota of swap slots.
        QuotaSwap = 22 => "over the swap-slots quota",
        /// Over the quota of map entries.
        QuotaMapEntries = 23 => "over the map-entries quota",
        /// Over the quota of handles and names.
        QuotaHandles = 24 => "over the handles quota",
        /// Over the quota of page tables of one address space.
        QuotaPageTables = 25 => "over the page-tables quota",
        /// Over the quota of forked children alive at once.
        QuotaChildren = 26 => "over the children quota",
        /// The pager behind the object is gone (its pages cannot be read or
        /// written any more).
        PagerDead = 27 => "the object's pager is gone",
        /// Server-internal, never in a reply: the request waits for a
        /// pager's answer, and the server answers it once it has run
        /// again (docs/pager.md, "Waiting for a pager").
        PagerWait = 28 => "waits for a pager",
        /// Over the quota of VM objects (the eighth quota kind; its code
        /// follows the pager errors, which took 27 and 28 first).
        QuotaObjects = 29 => "over the objects quota",
        /// The label names no operation.
        UnknownOperation = 0x100 => "unknown operation",
        /// The request's length, reserved bits or enum values are wrong.
        MalformedRequest = 0x101 => "malformed request",
        /// A shared-memory name longer than [`crate::NAME_MAX`] bytes.
        NameTooLong = 0x102 => "name too long",
        /// The caller's badge, or the client a request names, is not a client.
        BadClient = 0x103 => "no such client",
        /// The server does not implement this operation.
        NotSupported = 0x104 => "operation not supported",
        /// Client side only, never sent: the server's reply did not decode.
        MalformedReply = 0x105 => "malformed reply",
        /// The caller lacks the privilege the operation needs (the spec's
        /// `privileges { }`, e.g. `swapctl` for `SwapOff` and `SwapOn`);
        /// nothing changed.
        NotPermitted = 0x106 => "not permitted (the spec grants no such privilege)",
        /// No swap device has that index.
        NoSuchDevice = 0x107 => "no such swap device",
        /// `SwapOff` of a swap device that is already detached.
        AlreadyOff = 0x108 => "swap device already off",
        /// `SwapOn` of a swap device that is already attached.
        AlreadyOn = 0x109 => "swap device already on",
    }
    malformed_reply: MalformedReply;
}

/// Why a request or reply message did not decode. Decoders never panic;
/// every bad message is one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The request label names no operation.
    UnknownOperation { label: u64 },
    /// The reply label is neither 0 nor an [`ApiError`] code.
    UnknownError { code: u64 },
    /// Fewer words than the layout needs.
    Truncated { expected: usize, got: usize },
    /// More words than the layout has.
    TooLong { expected: usize, got: usize },
    /// A word has bits set that the protocol reserves (must be zero).
    ReservedBits { word: usize },
    /// A word holds a value outside its enumeration.
    BadValue { word: usize, value: u64 },
    /// A name length above [`crate::NAME_MAX`].
    NameTooLong { len: u64 },
    /// A name that is not UTF-8.
    BadName,
}

ipc_protocol::from_fault!(DecodeError, unknown_error: |code| DecodeError::UnknownError { code });

impl DecodeError {
    /// The error the server replies with for a request that failed to decode.
    pub const fn to_api_error(self) -> ApiError {
        match self {
            DecodeError::UnknownOperation { .. } => ApiError::UnknownOperation,
            DecodeError::NameTooLong { .. } => ApiError::NameTooLong,
            _ => ApiError::MalformedRequest,
        }
    }
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> ApiError {
        e.to_api_error()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::UnknownOperation { label } => write!(f, "unknown operation {label:#x}"),
            DecodeError::UnknownError { code } => write!(f, "unknown error code {code:#x}"),
            DecodeError::Truncated { expected, got } => {
                write!(f, "truncated message: {got} words, need {expected}")
            }
            DecodeError::TooLong { expected, got } => {
                write!(f, "message too long: {got} words, layout has {expected}")
            }
            DecodeError::ReservedBits { word } => write!(f, "reserved bits set in word {word}"),
            DecodeError::BadValue { word, value } => {
                write!(f, "bad value {value:#x} in word {word}")
            }
            DecodeError::NameTooLong { len } => write!(f, "name length {len} too long"),
            DecodeError::BadName => f.write_str("name is not UTF-8"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_distinct_and_nonzero() {
        for (i, e) in ApiError::ALL.iter().enumerate() {
            assert_ne!(e.code(), 0);
            assert_eq!(ApiError::from_code(e.code()), Some(*e));
            // The core's codes 1..=CORE, then the protocol's from 0x100.
            const CORE: usize = 29;
            if i < CORE {
                assert_eq!(e.code(), i as u64 + 1, "{e:?}");
            } else {
                assert_eq!(e.code(), 0x100 + (i - CORE) as u64, "{e:?}");
            }
        }
        assert_eq!(ApiError::from_code(0), None);
        assert_eq!(ApiError::from_code(30), None);
    }

    #[test]
    fn decode_errors_map_to_api_errors() {
        assert_eq!(
            ApiError::from(DecodeError::UnknownOperation { label: 7 }),
            ApiError::UnknownOperation
        );
        assert_eq!(
            ApiError::from(DecodeError::NameTooLong { len: 65 }),
            ApiError::NameTooLong
        );
        assert_eq!(
            ApiError::from(DecodeError::ReservedBits { word: 2 }),
            ApiError::MalformedRequest
        );
    }
}
