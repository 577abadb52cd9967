//! The client stub's hand-written part: `VmClient::mincore` and `VmClient::clients`, which loop over as many calls as the answer needs.
//!
//! `VmClient` itself, its one generic call ([`VmClient::request`]) and its
//! methods, one per operation, are generated from the table in
//! `protocol.rs`; the transports are `ipc-protocol`'s.

use crate::client_list::ClientSummary;
use crate::error::ApiError;
use crate::protocol::VmClient;
use crate::reply::MINCORE_MAX_PAGES;
use crate::types::{Mincore, PAGE_SIZE};
use ipc_protocol::Transport;

impl<T: Transport> VmClient<T> {
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

    /// Every client's counters (`ClientList`, privileged: `observe`) into
    /// `out`, in id order, asking page after page (`client_list_page`);
    /// returns the entries written, `out.len()` when more clients exist
    /// than it holds (the rest are not asked for). A reply that lists an
    /// id below what was asked for, or whose `next` does not advance, is
    /// `MalformedReply`; an error on a later page is returned as is.
    /// Pages are separate calls: a client that starts or ends between
    /// them may be missed or listed once.
    pub fn clients(&mut self, out: &mut [ClientSummary]) -> Result<usize, ApiError> {
        let mut done = 0usize;
        let mut from = 0u64;
        loop {
            let page = self.client_list_page(from)?;
            if page.entries().first().is_some_and(|e| e.client < from) {
                return Err(ApiError::MalformedReply);
            }
            for e in page.entries() {
                let Some(slot) = out.get_mut(done) else {
                    return Ok(done);
                };
                *slot = *e;
                done += 1;
            }
            match page.next() {
                None => return Ok(done),
                Some(next) if next > from => from = next,
                Some(_) => return Err(ApiError::MalformedReply),
            }
        }
    }
}
