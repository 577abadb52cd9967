//! The client stub's hand-written part: `VmClient::mincore`, which loops over as many calls as the range needs.
//!
//! `VmClient` itself, its one generic call ([`VmClient::request`]) and its
//! methods, one per operation, are generated from the table in
//! `protocol.rs`; the transports are `ipc-protocol`'s.

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
}
