//! Requests: one typed struct per operation and their word layouts (`Body`); `Request` and its decoder are generated from the table in `protocol.rs`.

use crate::error::DecodeError;
use crate::types::{Advice, Handle, Inheritance, MapFlags, MapSource, MsyncFlags, Prot, ShmName};
use crate::wire::{self, *};
use bitflags::Flags;

/// Flags from word `word`; reserved bits are an error.
pub(crate) fn flags<F: Flags<Bits = u64>>(v: u64, word: usize) -> Result<F, DecodeError> {
    F::from_bits(v).ok_or(DecodeError::ReservedBits { word })
}

/// A 32-bit handle from word `word`; the high half is reserved.
pub(crate) fn handle(v: u64, word: usize) -> Result<Handle, DecodeError> {
    u32::try_from(v)
        .map(Handle)
        .map_err(|_| DecodeError::ReservedBits { word })
}

/// `Ping`: a no-op round trip; the reply echoes `cookie`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PingRequest {
    pub cookie: u64,
}

/// `Mmap`: map memory (the VM core's `MmapArgs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MmapRequest {
    /// Exact address with `FIXED`, else a hint (0: anywhere).
    pub addr: u64,
    pub len: u64,
    pub prot: Prot,
    pub max_prot: Prot,
    pub flags: MapFlags,
    pub source: MapSource,
    /// 0 or a power of two of at least a page.
    pub align: u64,
}

impl MmapRequest {
    /// Private anonymous memory anywhere, max protection `ALL`.
    pub const fn anon(len: u64, prot: Prot) -> Self {
        MmapRequest {
            addr: 0,
            len,
            prot,
            max_prot: Prot::ALL,
            flags: MapFlags::PRIVATE,
            source: MapSource::Anonymous,
            align: 0,
        }
    }

    /// Shared anonymous memory anywhere.
    pub const fn anon_shared(len: u64, prot: Prot) -> Self {
        let mut r = Self::anon(len, prot);
        r.flags = MapFlags::SHARED;
        r
    }

    /// `handle`'s object from `offset`, shared.
    pub const fn object(handle: Handle, offset: u64, len: u64, prot: Prot) -> Self {
        let mut r = Self::anon_shared(len, prot);
        r.source = MapSource::Handle { handle, offset };
        r
    }

    /// The same request at exactly `addr`.
    pub const fn fixed(mut self, addr: u64) -> Self {
        self.addr = addr;
        self.flags = self.flags.union(MapFlags::FIXED);
        self
    }
}

impl From<&MmapRequest> for MmapWire {
    fn from(r: &MmapRequest) -> Self {
        let (source, handle, offset) = match r.source {
            MapSource::Anonymous => (0, 0, 0),
            MapSource::Handle { handle, offset } => (1, handle.into(), offset),
        };
        MmapWire {
            addr: r.addr,
            len: r.len,
            prot: r.prot.bits(),
            max_prot: r.max_prot.bits(),
            flags: r.flags.bits(),
            source,
            handle,
            offset,
            align: r.align,
        }
    }
}

impl TryFrom<MmapWire> for MmapRequest {
    type Error = DecodeError;
    fn try_from(w: MmapWire) -> Result<Self, DecodeError> {
        let source = match w.source {
            0 if w.handle == 0 && w.offset == 0 => MapSource::Anonymous,
            0 => {
                return Err(DecodeError::ReservedBits {
                    word: if w.handle != 0 { 6 } else { 7 },
                })
            }
            1 => MapSource::Handle {
                handle: handle(w.handle, 6)?,
                offset: w.offset,
            },
            v => return Err(DecodeError::BadValue { word: 5, value: v }),
        };
        Ok(MmapRequest {
            addr: w.addr,
            len: w.len,
            prot: flags(w.prot, 2)?,
            max_prot: flags(w.max_prot, 3)?,
            flags: flags(w.flags, 4)?,
            source,
            align: w.align,
        })
    }
}

/// `Munmap`, `Mincore`, `Mlock`, `Munlock`: a range of the caller's space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RangeRequest {
    pub addr: u64,
    pub len: u64,
}

/// `Mprotect`: set the protection of a mapped range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MprotectRequest {
    pub addr: u64,
    pub len: u64,
    pub prot: Prot,
}

/// `Minherit`: set what fork does with a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MinheritRequest {
    pub addr: u64,
    pub len: u64,
    pub inheritance: Inheritance,
}

/// `Madvise`: advise on a mapped range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MadviseRequest {
    pub addr: u64,
    pub len: u64,
    pub advice: Advice,
}

/// `Msync`: write back or invalidate a mapped range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MsyncRequest {
    pub addr: u64,
    pub len: u64,
    pub flags: MsyncFlags,
}

/// `ShmCreate`: a shared-memory object of `size` bytes (a page multiple,
/// may be 0), named unless `name` is empty; replies a read-write handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ShmCreateRequest {
    pub name: ShmName,
    pub size: u64,
    /// The most rights anyone may open the name with (the creator's
    /// handle has every right; semantics: names-rights).
    pub open_rights: Prot,
}

/// `ShmOpen`: a handle with `rights` to the object named `name`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ShmOpenRequest {
    pub name: ShmName,
    pub rights: Prot,
}

/// `ShmUnlink`: remove a name (the object lives while referenced).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ShmUnlinkRequest {
    pub name: ShmName,
}

/// `ShmTruncate`: resize the shared-memory object behind `handle`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShmTruncateRequest {
    pub handle: Handle,
    pub size: u64,
}

/// `HandleClose`: close one of the caller's handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandleCloseRequest {
    pub handle: Handle,
}

/// `HandleShare`: give client `to` a handle with `rights` (at most the
/// caller's) to the object behind `handle`; replies the receiver's handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandleShareRequest {
    pub handle: Handle,
    /// The receiver's client id.
    pub to: u64,
    pub rights: Prot,
}

/// `HandleAccept`: let client `from` push up to `count` handles into the
/// caller with `HandleShare` (0 withdraws); each counts against the
/// caller's quota, so nobody may push without this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HandleAcceptRequest {
    pub from: u64,
    pub count: u32,
}

/// `Exit`: destroy the caller's address space; no reply on success.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExitRequest {
    pub status: u64,
}

/// `SwapInfo`, `SwapOff`, `SwapOn`: swap device `device` (0 is the VM
/// server's swap partition).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SwapDeviceRequest {
    pub device: u64,
}

/// `PagerAttach`: the caller, as the pager of a channel, proves it by
/// the challenge it wrote into that channel's ring page (docs/pager.md,
/// "Identity").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PagerAttachRequest {
    pub challenge: u64,
}

/// `PagerCreate`: a pager object `key` of `size_bytes` bytes of the
/// caller's channel, installed with `rights` in client `client`'s space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PagerCreateRequest {
    /// The pager's own name for the object (the file server: the inode).
    pub key: u64,
    /// The object's size; its pages are `size_bytes` rounded up.
    pub size_bytes: u64,
    /// The client whose space gets the handle.
    pub client: u64,
    /// The handle's rights (`READ` at least).
    pub rights: Prot,
}

/// `PagerProgramName`: the name of the program `index` that clients
/// wait for (docs/pager.md, "Programs paged from files").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PagerProgramNameRequest {
    pub index: u64,
}

/// `PagerProgram`: the pager's answer for program `index`: the object
/// `key` of `size_bytes` bytes that holds its ELF file, or why it has
/// none (`error`, the pager's own non-zero code; then `key` and
/// `size_bytes` are 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PagerProgramRequest {
    pub index: u64,
    pub error: u64,
    pub key: u64,
    pub size_bytes: u64,
}

/// `ClientList`: the clients whose id is `from` or above, in id order
/// (0: from the first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ClientListRequest {
    pub from: u64,
}

// The word layouts: each request type to and from its `wire` struct.

impl Body<DecodeError> for PingRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        wire::write(
            &PingWire {
                cookie: self.cookie,
            },
            out,
        )
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: PingWire = wire::read(words)?;
        Ok(PingRequest { cookie: w.cookie })
    }
}

impl Body<DecodeError> for MmapRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        wire::write(&MmapWire::from(self), out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        wire::read::<MmapWire>(words)?.try_into()
    }
}

impl Body<DecodeError> for RangeRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (addr, len) = (self.addr, self.len);
        wire::write(&RangeWire { addr, len }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: RangeWire = wire::read(words)?;
        Ok(RangeRequest {
            addr: w.addr,
            len: w.len,
        })
    }
}

impl Body<DecodeError> for MprotectRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (addr, len, arg) = (self.addr, self.len, self.prot.bits());
        wire::write(&RangeArgWire { addr, len, arg }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: RangeArgWire = wire::read(words)?;
        Ok(MprotectRequest {
            addr: w.addr,
            len: w.len,
            prot: flags(w.arg, 2)?,
        })
    }
}

impl Body<DecodeError> for MinheritRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (addr, len, arg) = (self.addr, self.len, self.inheritance.into());
        wire::write(&RangeArgWire { addr, len, arg }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: RangeArgWire = wire::read(words)?;
        Ok(MinheritRequest {
            addr: w.addr,
            len: w.len,
            inheritance: Inheritance::try_from(w.arg)
                .map_err(|value| DecodeError::BadValue { word: 2, value })?,
        })
    }
}

impl Body<DecodeError> for MadviseRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (addr, len, arg) = (self.addr, self.len, self.advice.into());
        wire::write(&RangeArgWire { addr, len, arg }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: RangeArgWire = wire::read(words)?;
        Ok(MadviseRequest {
            addr: w.addr,
            len: w.len,
            advice: Advice::try_from(w.arg)
                .map_err(|value| DecodeError::BadValue { word: 2, value })?,
        })
    }
}

impl Body<DecodeError> for MsyncRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (addr, len, arg) = (self.addr, self.len, self.flags.bits());
        wire::write(&RangeArgWire { addr, len, arg }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: RangeArgWire = wire::read(words)?;
        Ok(MsyncRequest {
            addr: w.addr,
            len: w.len,
            flags: flags(w.arg, 2)?,
        })
    }
}

impl Body<DecodeError> for ShmCreateRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (name_len, name) = self.name.to_words();
        let w = ShmCreateWire {
            size: self.size,
            open_rights: self.open_rights.bits(),
            name_len,
            name,
        };
        wire::write(&w, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: ShmCreateWire = wire::read(words)?;
        Ok(ShmCreateRequest {
            name: ShmName::from_words(w.name_len, &w.name, 2)?,
            size: w.size,
            open_rights: flags(w.open_rights, 1)?,
        })
    }
}

impl Body<DecodeError> for ShmOpenRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (name_len, name) = self.name.to_words();
        let arg = self.rights.bits();
        wire::write(
            &NameArgWire {
                arg,
                name_len,
                name,
            },
            out,
        )
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: NameArgWire = wire::read(words)?;
        Ok(ShmOpenRequest {
            name: ShmName::from_words(w.name_len, &w.name, 1)?,
            rights: flags(w.arg, 0)?,
        })
    }
}

impl Body<DecodeError> for ShmUnlinkRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (name_len, name) = self.name.to_words();
        wire::write(&NameWire { name_len, name }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: NameWire = wire::read(words)?;
        Ok(ShmUnlinkRequest {
            name: ShmName::from_words(w.name_len, &w.name, 0)?,
        })
    }
}

impl Body<DecodeError> for ShmTruncateRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (handle, size) = (self.handle.into(), self.size);
        wire::write(&ShmTruncateWire { handle, size }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: ShmTruncateWire = wire::read(words)?;
        Ok(ShmTruncateRequest {
            handle: handle(w.handle, 0)?,
            size: w.size,
        })
    }
}

impl Body<DecodeError> for HandleCloseRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let handle = self.handle.into();
        wire::write(&HandleWire { handle }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: HandleWire = wire::read(words)?;
        Ok(HandleCloseRequest {
            handle: handle(w.handle, 0)?,
        })
    }
}

impl Body<DecodeError> for HandleShareRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (handle, to, rights) = (self.handle.into(), self.to, self.rights.bits());
        wire::write(&HandleShareWire { handle, to, rights }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: HandleShareWire = wire::read(words)?;
        Ok(HandleShareRequest {
            handle: handle(w.handle, 0)?,
            to: w.to,
            rights: flags(w.rights, 2)?,
        })
    }
}

impl Body<DecodeError> for HandleAcceptRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let (from, count) = (self.from, self.count.into());
        wire::write(&HandleAcceptWire { from, count }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: HandleAcceptWire = wire::read(words)?;
        Ok(HandleAcceptRequest {
            from: w.from,
            count: u32::try_from(w.count).map_err(|_| DecodeError::BadValue {
                word: 1,
                value: w.count,
            })?,
        })
    }
}

impl Body<DecodeError> for ExitRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        wire::write(
            &ExitWire {
                status: self.status,
            },
            out,
        )
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: ExitWire = wire::read(words)?;
        Ok(ExitRequest { status: w.status })
    }
}

impl Body<DecodeError> for SwapDeviceRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        wire::write(
            &DeviceWire {
                device: self.device,
            },
            out,
        )
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: DeviceWire = wire::read(words)?;
        Ok(SwapDeviceRequest { device: w.device })
    }
}

impl Body<DecodeError> for PagerAttachRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let challenge = self.challenge;
        wire::write(&ChallengeWire { challenge }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: ChallengeWire = wire::read(words)?;
        Ok(PagerAttachRequest {
            challenge: w.challenge,
        })
    }
}

impl Body<DecodeError> for PagerCreateRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let w = PagerCreateWire {
            key: self.key,
            size_bytes: self.size_bytes,
            client: self.client,
            rights: self.rights.bits(),
        };
        wire::write(&w, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: PagerCreateWire = wire::read(words)?;
        Ok(PagerCreateRequest {
            key: w.key,
            size_bytes: w.size_bytes,
            client: w.client,
            rights: flags(w.rights, 3)?,
        })
    }
}

impl Body<DecodeError> for ClientListRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        wire::write(&ClientListWire { from: self.from }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: ClientListWire = wire::read(words)?;
        Ok(ClientListRequest { from: w.from })
    }
}

impl Body<DecodeError> for PagerProgramNameRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        wire::write(&AddrWire { addr: self.index }, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: AddrWire = wire::read(words)?;
        Ok(PagerProgramNameRequest { index: w.addr })
    }
}

impl Body<DecodeError> for PagerProgramRequest {
    fn encode(&self, out: &mut [u64]) -> usize {
        let w = PagerProgramWire {
            index: self.index,
            error: self.error,
            key: self.key,
            size_bytes: self.size_bytes,
        };
        wire::write(&w, out)
    }
    fn decode(words: &[u64]) -> Result<Self, DecodeError> {
        let w: PagerProgramWire = wire::read(words)?;
        // A failure names no object: its other words are zero.
        if w.error != 0 && (w.key != 0 || w.size_bytes != 0) {
            return Err(DecodeError::ReservedBits { word: 2 });
        }
        Ok(PagerProgramRequest {
            index: w.index,
            error: w.error,
            key: w.key,
            size_bytes: w.size_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Operation, Request};

    fn rt(r: Request) -> (u64, usize) {
        let mut w = [0u64; crate::MAX_WORDS];
        let (label, len) = r.encode(&mut w);
        assert_eq!(Request::decode(label, &w[..len]), Ok(r));
        (label, len)
    }

    #[test]
    fn mmap_layout() {
        let r = MmapRequest::object(Handle(3), 0x2000, 0x4000, Prot::READ).fixed(0x1000_0000);
        let mut w = [0u64; 9];
        let (label, len) = Request::Mmap(r).encode(&mut w);
        assert_eq!((label, len), (0x110, 9));
        assert_eq!(w, [0x1000_0000, 0x4000, 1, 7, 0b101, 1, 3, 0x2000, 0]);
        rt(Request::Mmap(r));
        rt(Request::Mmap(MmapRequest::anon(0x1000, Prot::RW)));
    }

    #[test]
    fn mmap_rejects_bad_words() {
        let good = [0, 0x1000, 3, 7, 2, 0, 0, 0, 0];
        assert!(Request::decode(0x110, &good).is_ok());
        let bad = |i: usize, v: u64| {
            let mut w = good;
            w[i] = v;
            Request::decode(0x110, &w)
        };
        assert_eq!(bad(2, 8), Err(DecodeError::ReservedBits { word: 2 }));
        assert_eq!(bad(3, 1 << 40), Err(DecodeError::ReservedBits { word: 3 }));
        assert_eq!(bad(4, 0x20), Err(DecodeError::ReservedBits { word: 4 }));
        assert_eq!(bad(5, 2), Err(DecodeError::BadValue { word: 5, value: 2 }));
        assert_eq!(bad(6, 1), Err(DecodeError::ReservedBits { word: 6 }));
        assert_eq!(bad(7, 1), Err(DecodeError::ReservedBits { word: 7 }));
        let mut h = good;
        h[5] = 1;
        h[6] = 1 << 32;
        assert_eq!(
            Request::decode(0x110, &h),
            Err(DecodeError::ReservedBits { word: 6 })
        );
        assert_eq!(
            Request::decode(0x110, &good[..8]),
            Err(DecodeError::Truncated {
                expected: 9,
                got: 8
            })
        );
    }

    #[test]
    fn enums_and_names() {
        assert_eq!(
            Request::decode(Operation::Madvise.label(), &[0, 0, 8]),
            Err(DecodeError::BadValue { word: 2, value: 8 })
        );
        assert_eq!(
            Request::decode(Operation::Minherit.label(), &[0, 0, 3]),
            Err(DecodeError::BadValue { word: 2, value: 3 })
        );
        let (_, len) = rt(Request::ShmCreate(ShmCreateRequest {
            name: ShmName::new("a").unwrap(),
            size: 4096,
            open_rights: Prot::READ,
        }));
        assert_eq!(len, 11);
        let mut w = [0u64; 11];
        w[2] = 65;
        assert_eq!(
            Request::decode(Operation::ShmCreate.label(), &w),
            Err(DecodeError::NameTooLong { len: 65 })
        );
    }

    #[test]
    fn empty_requests_take_no_words() {
        for r in [
            Request::Fork,
            Request::Stats,
            Request::ClientStats,
            Request::FailNextPagein,
        ] {
            assert_eq!(rt(r).1, 0);
            assert_eq!(
                Request::decode(r.operation().label(), &[0]),
                Err(DecodeError::TooLong {
                    expected: 0,
                    got: 1
                })
            );
        }
    }
}
