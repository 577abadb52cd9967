//! The client stub: `VmClient`, one method per operation over a `Transport` (seL4 `Call` in the system, a loopback into `dispatch` in host tests).

use crate::error::ApiError;
use crate::reply::*;
use crate::request::*;
use crate::service::{dispatch, VmService};
use crate::types::*;
use crate::wire::MAX_WORDS;
use crate::Operation;

/// A request-reply channel to the VM server.
pub trait Transport {
    /// Sends the request (`label`, `words`) and waits for the reply; the
    /// reply's words are written to `reply` (of [`MAX_WORDS`]), and its label
    /// and length (at most `reply.len()`) are returned.
    fn call(&mut self, label: u64, words: &[u64], reply: &mut [u64]) -> (u64, usize);
}

/// The system transport: `seL4_Call` on an endpoint capability, with the
/// message in the calling thread's IPC buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sel4Transport {
    pub endpoint: sel4::CPtr,
}

impl Transport for Sel4Transport {
    fn call(&mut self, label: u64, words: &[u64], reply: &mut [u64]) -> (u64, usize) {
        let n = words.len().min(MAX_WORDS);
        sel4::with_ipc_buffer_mut(|b| b.msg[..n].copy_from_slice(&words[..n]));
        let info = sel4::call(self.endpoint, sel4::MessageInfo::new(label, 0, 0, n as u64));
        let len = (info.length() as usize).min(MAX_WORDS).min(reply.len());
        sel4::with_ipc_buffer_mut(|b| reply[..len].copy_from_slice(&b.msg[..len]));
        (info.label(), len)
    }
}

/// A transport that runs [`dispatch`] on a service in the same program,
/// as client `client` (host tests, and a server calling itself).
pub struct Loopback<'a, S: VmService + ?Sized> {
    pub service: &'a mut S,
    pub client: u64,
}

impl<S: VmService + ?Sized> Transport for Loopback<'_, S> {
    fn call(&mut self, label: u64, words: &[u64], reply: &mut [u64]) -> (u64, usize) {
        dispatch(self.service, self.client, label, words, reply)
    }
}

/// The VM server's client stub: one method per operation. Every method
/// makes one call (`mincore` as many as the range needs).
#[derive(Clone, Copy, Debug)]
pub struct VmClient<T: Transport = Sel4Transport> {
    pub transport: T,
}

impl VmClient<Sel4Transport> {
    /// A client calling the server through `endpoint`.
    pub const fn new(endpoint: sel4::CPtr) -> Self {
        VmClient {
            transport: Sel4Transport { endpoint },
        }
    }
}

impl<T: Transport> VmClient<T> {
    /// A client over any transport.
    pub const fn with_transport(transport: T) -> Self {
        VmClient { transport }
    }

    /// Sends `req` and decodes the reply; a reply that does not decode, or
    /// that answers another operation, is `MalformedReply`.
    pub fn request(&mut self, req: &Request) -> Result<Reply, ApiError> {
        let mut msg = [0u64; MAX_WORDS];
        let (label, len) = req.encode(&mut msg);
        let mut reply = [0u64; MAX_WORDS];
        let (rlabel, rlen) = self.transport.call(label, &msg[..len], &mut reply);
        let words = reply.get(..rlen).ok_or(ApiError::MalformedReply)?;
        Reply::decode(req.operation(), rlabel, words).map_err(|_| ApiError::MalformedReply)?
    }

    /// A no-op round trip; returns the echoed cookie.
    pub fn ping(&mut self, cookie: u64) -> Result<u64, ApiError> {
        match self.request(&Request::Ping(PingRequest { cookie }))? {
            Reply::Ping(r) => Ok(r.cookie),
            _ => Err(ApiError::MalformedReply),
        }
    }

    /// Global VM statistics.
    pub fn stats(&mut self) -> Result<VmStats, ApiError> {
        match self.request(&Request::Stats)? {
            Reply::Stats(s) => Ok(s),
            _ => Err(ApiError::MalformedReply),
        }
    }

    /// The caller's statistics.
    pub fn client_stats(&mut self) -> Result<ClientStats, ApiError> {
        match self.request(&Request::ClientStats)? {
            Reply::ClientStats(s) => Ok(s),
            _ => Err(ApiError::MalformedReply),
        }
    }

    /// Maps memory; returns its address.
    pub fn mmap(&mut self, req: &MmapRequest) -> Result<u64, ApiError> {
        match self.request(&Request::Mmap(*req))? {
            Reply::Mmap(r) => Ok(r.addr),
            _ => Err(ApiError::MalformedReply),
        }
    }

    fn unit(&mut self, req: Request) -> Result<(), ApiError> {
        self.request(&req).map(drop)
    }

    /// Unmaps `[addr, addr + len)`.
    pub fn munmap(&mut self, addr: u64, len: u64) -> Result<(), ApiError> {
        self.unit(Request::Munmap(RangeRequest { addr, len }))
    }

    /// Sets the protection of a mapped range.
    pub fn mprotect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), ApiError> {
        self.unit(Request::Mprotect(MprotectRequest { addr, len, prot }))
    }

    /// Sets what fork does with a range.
    pub fn minherit(
        &mut self,
        addr: u64,
        len: u64,
        inheritance: Inheritance,
    ) -> Result<(), ApiError> {
        self.unit(Request::Minherit(MinheritRequest {
            addr,
            len,
            inheritance,
        }))
    }

    /// Advises on a mapped range.
    pub fn madvise(&mut self, addr: u64, len: u64, advice: Advice) -> Result<(), ApiError> {
        self.unit(Request::Madvise(MadviseRequest { addr, len, advice }))
    }

    /// Writes back or invalidates a mapped range.
    pub fn msync(&mut self, addr: u64, len: u64, flags: MsyncFlags) -> Result<(), ApiError> {
        self.unit(Request::Msync(MsyncRequest { addr, len, flags }))
    }

    /// Residency of each page of `[addr, addr + len)` into `out` (one
    /// entry per page, `out.len()` at least `len / PAGE_SIZE` rounded up,
    /// else `InvalidArgument` before any call); returns the pages written.
    /// Asks in runs of [`MINCORE_MAX_PAGES`]; an error on a later run is
    /// returned as is.
    pub fn mincore(&mut self, addr: u64, len: u64, out: &mut [Mincore]) -> Result<usize, ApiError> {
        let pages = len.div_ceil(PAGE_SIZE);
        if (out.len() as u64) < pages {
            return Err(ApiError::InvalidArgument);
        }
        let max = MINCORE_MAX_PAGES as u64 * PAGE_SIZE;
        let mut done = 0usize;
        let (mut a, mut left) = (addr, len);
        loop {
            let chunk = left.min(max);
            let r = match self.request(&Request::Mincore(RangeRequest {
                addr: a,
                len: chunk,
            }))? {
                Reply::Mincore(r) => r,
                _ => return Err(ApiError::MalformedReply),
            };
            let n = r.len();
            if n as u64 > chunk.div_ceil(PAGE_SIZE) || (n == 0 && left > 0) {
                return Err(ApiError::MalformedReply);
            }
            out[done..done + n].copy_from_slice(r.pages());
            done += n;
            let step = (n as u64 * PAGE_SIZE).min(left);
            left -= step;
            a = a.wrapping_add(step);
            if left == 0 {
                return Ok(done);
            }
        }
    }

    /// Wires a mapped range.
    pub fn mlock(&mut self, addr: u64, len: u64) -> Result<(), ApiError> {
        self.unit(Request::Mlock(RangeRequest { addr, len }))
    }

    /// Unwires a mapped range.
    pub fn munlock(&mut self, addr: u64, len: u64) -> Result<(), ApiError> {
        self.unit(Request::Munlock(RangeRequest { addr, len }))
    }

    fn handle(&mut self, req: Request) -> Result<Handle, ApiError> {
        match self.request(&req)? {
            Reply::ShmCreate(r) | Reply::ShmOpen(r) | Reply::HandleShare(r) => Ok(r.handle),
            _ => Err(ApiError::MalformedReply),
        }
    }

    /// Creates a shared-memory object of `size` bytes, named unless `name`
    /// is empty; returns a read-write handle.
    pub fn shm_create(
        &mut self,
        name: &str,
        size: u64,
        open_rights: Prot,
    ) -> Result<Handle, ApiError> {
        let name = ShmName::new(name)?;
        self.handle(Request::ShmCreate(ShmCreateRequest {
            name,
            size,
            open_rights,
        }))
    }

    /// Opens the object named `name` with `rights`.
    pub fn shm_open(&mut self, name: &str, rights: Prot) -> Result<Handle, ApiError> {
        let name = ShmName::new(name)?;
        self.handle(Request::ShmOpen(ShmOpenRequest { name, rights }))
    }

    /// Removes a name.
    pub fn shm_unlink(&mut self, name: &str) -> Result<(), ApiError> {
        let name = ShmName::new(name)?;
        self.unit(Request::ShmUnlink(ShmUnlinkRequest { name }))
    }

    /// Resizes the object behind `handle`.
    pub fn shm_truncate(&mut self, handle: Handle, size: u64) -> Result<(), ApiError> {
        self.unit(Request::ShmTruncate(ShmTruncateRequest { handle, size }))
    }

    /// Closes a handle.
    pub fn handle_close(&mut self, handle: Handle) -> Result<(), ApiError> {
        self.unit(Request::HandleClose(HandleCloseRequest { handle }))
    }

    /// Gives client `to` a handle with `rights` to `handle`'s object;
    /// returns the receiver's handle.
    pub fn handle_share(
        &mut self,
        handle: Handle,
        to: u64,
        rights: Prot,
    ) -> Result<Handle, ApiError> {
        self.handle(Request::HandleShare(HandleShareRequest {
            handle,
            to,
            rights,
        }))
    }

    /// Lets client `from` push up to `count` handles into this one with
    /// `handle_share` (0 withdraws).
    pub fn handle_accept(&mut self, from: u64, count: u32) -> Result<(), ApiError> {
        self.unit(Request::HandleAccept(HandleAcceptRequest { from, count }))
    }

    /// Forks the caller: `Parent { child }` in the parent, `Child { parent }`
    /// in the child.
    pub fn fork(&mut self) -> Result<ForkReply, ApiError> {
        match self.request(&Request::Fork)? {
            Reply::Fork(r) => Ok(r),
            _ => Err(ApiError::MalformedReply),
        }
    }

    /// Test hook: the caller's next fault that reads from swap fails with
    /// an injected disk error (the server stops the caller with `Io`).
    pub fn fail_next_pagein(&mut self) -> Result<(), ApiError> {
        self.unit(Request::FailNextPagein)
    }

    /// Ends the caller. Through seL4 a successful exit never returns;
    /// `Ok(())` is only seen through a transport that answers it (tests).
    pub fn exit(&mut self, status: u64) -> Result<(), ApiError> {
        debug_assert!(!Operation::Exit.replies_on_success());
        self.unit(Request::Exit(ExitRequest { status }))
    }
}
