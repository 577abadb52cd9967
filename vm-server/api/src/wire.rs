//! The fixed `#[repr(C)]` word layouts of every message body and the length-checked reader and writer over them; each typed payload's `Body` converts to and from its layout.
//!
//! Each layout is a run of `u64` fields, field `i` in message register
//! `i`. Typed requests and replies convert to and from these (their
//! `Body` impls, next to each type in `request.rs` and `reply.rs`); only
//! the conversions validate. `Body` and `MAX_WORDS` are `ipc-protocol`'s,
//! shared with the file server's protocol.

use crate::error::DecodeError;
use crate::types::{CLIENT_NAME_WORDS, NAME_WORDS};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub(crate) use ipc_protocol::Body;
pub use ipc_protocol::MAX_WORDS;

/// Words of the layout `W`.
pub const fn words_of<W>() -> usize {
    core::mem::size_of::<W>() / 8
}

/// Reads layout `W` from a message of exactly its length.
pub fn read<W: FromBytes + KnownLayout + Immutable>(words: &[u64]) -> Result<W, DecodeError> {
    let expected = words_of::<W>();
    let words = ipc_protocol::words::exactly(words, expected)?;
    W::read_from_bytes(words.as_bytes()).map_err(|_| DecodeError::Truncated {
        expected,
        got: words.len(),
    })
}

/// Writes layout `w` at the start of `out`; returns its length in words.
///
/// # Panics
/// If `out` is shorter than the layout (callers pass a buffer of
/// [`MAX_WORDS`]).
pub fn write<W: IntoBytes + Immutable>(w: &W, out: &mut [u64]) -> usize {
    let n = words_of::<W>();
    out[..n].as_mut_bytes().copy_from_slice(w.as_bytes());
    n
}

/// `Ping` request and reply: a cookie echoed back.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PingWire {
    pub cookie: u64,
}

/// `Mmap` request.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct MmapWire {
    pub addr: u64,
    pub len: u64,
    pub prot: u64,
    pub max_prot: u64,
    pub flags: u64,
    /// 0 anonymous, 1 handle.
    pub source: u64,
    /// Zero unless `source` is 1.
    pub handle: u64,
    /// Zero unless `source` is 1.
    pub offset: u64,
    pub align: u64,
}

/// `Munmap`, `Mincore`, `Mlock`, `Munlock` requests.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct RangeWire {
    pub addr: u64,
    pub len: u64,
}

/// `Mprotect` (prot), `Minherit` (inheritance), `Madvise` (advice) and
/// `Msync` (flags) requests.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct RangeArgWire {
    pub addr: u64,
    pub len: u64,
    pub arg: u64,
}

/// `ShmOpen` request (arg = rights).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct NameArgWire {
    pub arg: u64,
    pub name_len: u64,
    pub name: [u64; NAME_WORDS],
}

/// `ShmCreate` request: size, the most rights others may open it with,
/// the name.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ShmCreateWire {
    pub size: u64,
    pub open_rights: u64,
    pub name_len: u64,
    pub name: [u64; NAME_WORDS],
}

/// `HandleAccept` request.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct HandleAcceptWire {
    pub from: u64,
    pub count: u64,
}

/// `ShmUnlink` request.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct NameWire {
    pub name_len: u64,
    pub name: [u64; NAME_WORDS],
}

/// `ShmTruncate` request.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ShmTruncateWire {
    pub handle: u64,
    pub size: u64,
}

/// `HandleClose` request; `ShmCreate`, `ShmOpen`, `HandleShare` replies.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct HandleWire {
    pub handle: u64,
}

/// `HandleShare` request.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct HandleShareWire {
    pub handle: u64,
    pub to: u64,
    pub rights: u64,
}

/// `Exit` request.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ExitWire {
    pub status: u64,
}

/// `SwapInfo`, `SwapOff`, `SwapOn` requests: a swap device index.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct DeviceWire {
    pub device: u64,
}

/// `SwapInfo` reply: bit 0 of `flags` is "attached", the other bits are
/// reserved.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct SwapInfoWire {
    pub device: u64,
    pub flags: u64,
    pub slots: u64,
    pub in_use: u64,
    pub bad: u64,
    pub pageins: u64,
    pub pgswapin: u64,
    pub pageouts: u64,
    pub pgswapout: u64,
    pub read_errors: u64,
    pub write_errors: u64,
}

/// `Fork`, `Stats`, `ClientStats` requests; replies of operations that
/// return nothing.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct EmptyWire {}

/// `Mmap` reply.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct AddrWire {
    pub addr: u64,
}

/// `Fork` reply: `is_child` 0 in the parent (`id` = the child's client id),
/// 1 in the child (`id` = the parent's client id).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ForkWire {
    pub is_child: u64,
    pub id: u64,
}

/// `PagerChallenge` reply, `PagerAttach` request: a challenge.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ChallengeWire {
    pub challenge: u64,
}

/// `PagerCreate` request.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PagerCreateWire {
    pub key: u64,
    pub size_bytes: u64,
    pub client: u64,
    pub rights: u64,
}

/// `PagerProgram` request.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct PagerProgramWire {
    pub index: u64,
    pub error: u64,
    pub key: u64,
    pub size_bytes: u64,
}

/// `ClientList` request: list the clients from this id on.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ClientListWire {
    pub from: u64,
}

/// `ClientList` reply's first two words: entries that follow (at most
/// `CLIENT_LIST_MAX`), and the id to ask from next (0: no more).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ClientListHeaderWire {
    pub count: u64,
    pub next: u64,
}

/// One `ClientList` entry.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct ClientSummaryWire {
    pub client: u64,
    pub name_len: u64,
    pub name: [u64; CLIENT_NAME_WORDS],
    pub resident_pages: u64,
    pub wired_pages: u64,
    pub faults: u64,
    pub flt_zero: u64,
    pub flt_cow: u64,
    pub flt_prefault: u64,
    pub pageins: u64,
    pub flt_large: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_the_documented_word_counts() {
        assert_eq!(words_of::<PingWire>(), 1);
        assert_eq!(words_of::<MmapWire>(), 9);
        assert_eq!(words_of::<RangeWire>(), 2);
        assert_eq!(words_of::<RangeArgWire>(), 3);
        assert_eq!(words_of::<NameArgWire>(), 10);
        assert_eq!(words_of::<NameWire>(), 9);
        assert_eq!(words_of::<ShmTruncateWire>(), 2);
        assert_eq!(words_of::<HandleWire>(), 1);
        assert_eq!(words_of::<HandleShareWire>(), 3);
        assert_eq!(words_of::<ExitWire>(), 1);
        assert_eq!(words_of::<EmptyWire>(), 0);
        assert_eq!(words_of::<AddrWire>(), 1);
        assert_eq!(words_of::<ForkWire>(), 2);
        assert_eq!(words_of::<DeviceWire>(), 1);
        assert_eq!(words_of::<SwapInfoWire>(), 11);
        assert_eq!(words_of::<ChallengeWire>(), 1);
        assert_eq!(words_of::<PagerCreateWire>(), 4);
        assert_eq!(words_of::<PagerProgramWire>(), 4);
        assert_eq!(words_of::<ClientListWire>(), 1);
        assert_eq!(words_of::<ClientListHeaderWire>(), 2);
        assert_eq!(words_of::<ClientSummaryWire>(), 13);
        assert_eq!(MAX_WORDS, 120);
    }

    #[test]
    fn read_checks_the_length_and_write_matches_fields() {
        let w = RangeArgWire {
            addr: 1,
            len: 2,
            arg: 3,
        };
        let mut out = [0u64; 4];
        assert_eq!(write(&w, &mut out), 3);
        assert_eq!(out, [1, 2, 3, 0]);
        assert_eq!(read::<RangeArgWire>(&out[..3]), Ok(w));
        assert_eq!(
            read::<RangeArgWire>(&out[..2]),
            Err(DecodeError::Truncated {
                expected: 3,
                got: 2
            })
        );
        assert_eq!(
            read::<RangeArgWire>(&out),
            Err(DecodeError::TooLong {
                expected: 3,
                got: 4
            })
        );
        assert_eq!(read::<EmptyWire>(&[]), Ok(EmptyWire {}));
    }
}
