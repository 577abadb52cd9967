//! The VM core's `PagerBackend` over a [`VmEnd`]: what the VM server
//! attaches with `Vm::pager_attach` for each pager channel (feature
//! `vm-backend`; a pager component never builds it).

use crate::{Notifier, Outcome, PagerError, VmEnd, VmEvent, PAGE_SIZE, RING_ENTRIES};
use alloc::vec::Vec;
use core::any::Any;
use vm_core::pager_backend::{PagerBackend, PagerEvent, PagerRefusal, PagerResult};
use vm_core::VmError;

/// What `read_page` gives for a page it does not hold (never asked for by
/// the core, which reads only pages of a `Supplied` page-in).
static ZERO_PAGE: [u8; PAGE_SIZE] = [0; PAGE_SIZE];

/// A pager channel as the VM core's pager backend: the core's request
/// tags are the VM end's cookies.
///
/// Locking note: owned by the single-threaded `Vm` (`Vm::pager_attach`).
pub struct ChannelPager<N: Notifier> {
    end: VmEnd<N>,
    /// Closes that found the submission queue full, sent at the next poll.
    closes: Vec<u64>,
}

impl<N: Notifier> ChannelPager<N> {
    /// The backend over `end`.
    pub fn new(end: VmEnd<N>) -> Self {
        ChannelPager {
            end,
            closes: Vec::new(),
        }
    }

    /// The channel's VM end (protocol error count, notifier).
    pub fn end(&self) -> &VmEnd<N> {
        &self.end
    }

    /// Closes not yet sent (the submission queue was full).
    pub fn closes_pending(&self) -> usize {
        self.closes.len()
    }

    fn send_closes(&mut self) {
        let mut sent = 0;
        while sent < self.closes.len() && self.end.close(self.closes[sent]).is_ok() {
            sent += 1;
        }
        self.closes.drain(..sent);
        if sent > 0 {
            self.end.kick();
        }
    }
}

/// The core's refusal for a VM end's.
fn refusal(e: PagerError) -> PagerRefusal {
    match e {
        PagerError::Busy => PagerRefusal::Busy,
        _ => PagerRefusal::Failed,
    }
}

/// The core's result for a completion: every pager error is an I/O error
/// to the client that faulted or synced (the pager's code is its own
/// business; the core only needs to fail the request).
fn result(r: Result<Outcome, PagerError>) -> PagerResult {
    match r {
        Ok(Outcome::Supplied) => PagerResult::Supplied,
        Ok(Outcome::Zero) => PagerResult::Zero,
        Ok(Outcome::Written) => PagerResult::Written,
        Err(_) => PagerResult::Failed(VmError::Io),
    }
}

impl<N: Notifier + 'static> PagerBackend for ChannelPager<N> {
    fn max_cluster(&self) -> u32 {
        self.end.cluster() as u32
    }

    fn start_read(
        &mut self,
        key: u64,
        pindex: u64,
        count: u32,
        tag: u64,
    ) -> Result<(), PagerRefusal> {
        self.end
            .page_in(key, pindex, u64::from(count), tag)
            .map_err(refusal)?;
        self.end.kick();
        Ok(())
    }

    fn start_write(
        &mut self,
        key: u64,
        pindex: u64,
        count: u32,
        tag: u64,
        fill: &mut dyn FnMut(u32, &mut [u8]),
    ) -> Result<(), PagerRefusal> {
        self.end
            .write_back(key, pindex, u64::from(count), tag, |bytes| {
                for (i, page) in bytes.chunks_mut(PAGE_SIZE).enumerate() {
                    fill(i as u32, page);
                }
            })
            .map_err(refusal)?;
        self.end.kick();
        Ok(())
    }

    fn wait(&mut self) {
        self.end.notifier.wait();
    }

    /// Moves up to [`RING_ENTRIES`] completions (a bound against a pager
    /// that publishes without end); protocol errors are counted in the VM
    /// end and otherwise dropped.
    fn poll(&mut self, out: &mut Vec<PagerEvent>) -> usize {
        self.send_closes();
        let mut n = 0;
        for _ in 0..RING_ENTRIES {
            match self.end.poll() {
                None => break,
                Some(VmEvent::Done {
                    cookie, result: r, ..
                }) => {
                    out.push(PagerEvent {
                        tag: cookie,
                        result: result(r),
                    });
                    n += 1;
                }
                Some(VmEvent::Protocol(_)) => {}
            }
        }
        n
    }

    fn read_page(&self, tag: u64, i: u32) -> &[u8] {
        self.end
            .held(tag)
            .and_then(|slot| self.end.page(slot, u64::from(i)))
            .unwrap_or(&ZERO_PAGE)
    }

    fn finish_read(&mut self, tag: u64) {
        if let Some(slot) = self.end.held(tag) {
            self.end.release(slot);
        }
    }

    fn close(&mut self, key: u64) {
        self.closes.push(key);
        self.send_closes();
    }

    fn device_any(&mut self) -> &mut dyn Any {
        self
    }
}
