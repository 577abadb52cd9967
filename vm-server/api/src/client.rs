//! The client stub: `VmClient` over a `Transport` (seL4 `Call` in the system, a loopback into `dispatch` in host tests).
//!
//! The stub's methods, one per operation, are generated from the table in
//! `protocol.rs`; this file holds the transports, the one generic call
//! they all make ([`VmClient::request`]) and `mincore`, which loops over
//! as many calls as the range needs.

use crate::error::ApiError;
use crate::protocol::{Reply, Request, VmService};
use crate::reply::MINCORE_MAX_PAGES;
use crate::service::dispatch;
use crate::types::{Mincore, PAGE_SIZE};
use crate::wire::MAX_WORDS;

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

/// The VM server's client stub: one method per operation (generated from
/// the table in [`crate::protocol`]). Every method makes one call
/// (`mincore` as many as the range needs).
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

    /// Residency of each page of `[addr, addr + len)` into `out` (one
    /// entry per page, `out.len()` at least `len / PAGE_SIZE` rounded up,
    /// else `InvalidArgument` before any call); returns the pages written.
    /// Asks in runs of [`MINCORE_MAX_PAGES`] (`mincore_run`, from the
    /// table); an error on a later run is returned as is.
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
            let r = self.mincore_run(a, chunk)?;
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
}
