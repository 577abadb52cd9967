//! A host external pager for tests: files kept in memory behind the `PagerBackend` trait, answering requests late, out of order, failed or never, as a pager component on seL4 can.
//!
//! Locking: owned by one test thread (inside the `Vm`, reached with
//! `Vm::pager_device_mut`).
//!
//! Its randomness is a seeded xorshift generator, so a failing test is
//! rerun exactly; the crate needs no random-number dependency for it.

use crate::pager_backend::{PagerBackend, PagerEvent, PagerRefusal, PagerResult};
use crate::types::PAGE_SIZE;
use crate::VmError;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;
use core::any::Any;

const PAGE: usize = PAGE_SIZE as usize;

/// A request queued in the pager.
#[derive(Clone, Debug)]
struct Pending {
    tag: u64,
    key: u64,
    pindex: u64,
    count: u32,
    /// The pages of a write-back; `None` for a page-in.
    data: Option<Vec<u8>>,
    /// Polls left before it may complete.
    due: u32,
}

/// Files in memory, served as an external pager.
pub struct RamPager {
    /// Contents of each file by key; a file's pages past its length read
    /// as zero and writes past it are dropped (a file server does not
    /// grow a file by write-back).
    pub files: BTreeMap<u64, Vec<u8>>,
    /// Keys whose pages are answered `Zero` (a file of holes).
    pub holes: BTreeSet<u64>,
    /// Keys the VM closed (`close`), in order.
    pub closed: Vec<u64>,
    /// Most polls before a request completes (0: at the next poll).
    pub delay: u32,
    /// Complete requests in random order rather than arrival order.
    pub reorder: bool,
    /// Failure rate of each request, in thousandths.
    pub fail_per_mille: u32,
    /// Fail the next page-in / write-back with `Io`.
    pub fail_next_read: bool,
    pub fail_next_write: bool,
    /// Answer nothing (a pager that hangs); requests stay queued.
    pub hold: bool,
    /// Requests taken and pages written back.
    pub reads: u64,
    pub writes: u64,
    max_cluster: u32,
    max_in_flight: usize,
    queue: Vec<Pending>,
    /// Finished page-ins' data until `finish_read`.
    supplied: BTreeMap<u64, Vec<u8>>,
    rng: u64,
}

impl RamPager {
    /// A pager with no files, answering at the next poll; `seed` drives
    /// delays, order and failures once they are turned on.
    pub fn new(seed: u64) -> Self {
        RamPager {
            files: BTreeMap::new(),
            holes: BTreeSet::new(),
            closed: Vec::new(),
            delay: 0,
            reorder: false,
            fail_per_mille: 0,
            fail_next_read: false,
            fail_next_write: false,
            hold: false,
            reads: 0,
            writes: 0,
            max_cluster: 8,
            max_in_flight: 16,
            queue: Vec::new(),
            supplied: BTreeMap::new(),
            rng: seed | 1,
        }
    }

    /// Requests queued and not answered.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Page `pindex` of file `key` as the pager holds it.
    pub fn page(&self, key: u64, pindex: u64) -> Vec<u8> {
        let mut out = vec![0u8; PAGE];
        if let Some(f) = self.files.get(&key) {
            let lo = (pindex as usize).saturating_mul(PAGE);
            if lo < f.len() {
                let hi = (lo + PAGE).min(f.len());
                out[..hi - lo].copy_from_slice(&f[lo..hi]);
            }
        }
        out
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn due(&mut self) -> u32 {
        if self.delay == 0 {
            0
        } else {
            (self.next() % u64::from(self.delay + 1)) as u32
        }
    }

    fn fails(&mut self) -> bool {
        self.fail_per_mille > 0 && (self.next() % 1000) < u64::from(self.fail_per_mille)
    }

    fn answer(&mut self, p: Pending) -> PagerEvent {
        let result = match &p.data {
            None => {
                self.reads += 1;
                if core::mem::take(&mut self.fail_next_read) || self.fails() {
                    PagerResult::Failed(VmError::Io)
                } else if self.holes.contains(&p.key) {
                    PagerResult::Zero
                } else {
                    let mut buf = Vec::with_capacity(p.count as usize * PAGE);
                    for i in 0..u64::from(p.count) {
                        buf.extend_from_slice(&self.page(p.key, p.pindex + i));
                    }
                    self.supplied.insert(p.tag, buf);
                    PagerResult::Supplied
                }
            }
            Some(data) => {
                self.writes += 1;
                if core::mem::take(&mut self.fail_next_write) || self.fails() {
                    PagerResult::Failed(VmError::Io)
                } else {
                    let f = self.files.entry(p.key).or_default();
                    let lo = p.pindex as usize * PAGE;
                    let hi = (lo + data.len()).min(f.len());
                    if lo < hi {
                        f[lo..hi].copy_from_slice(&data[..hi - lo]);
                    }
                    PagerResult::Written
                }
            }
        };
        PagerEvent { tag: p.tag, result }
    }
}

impl PagerBackend for RamPager {
    fn max_cluster(&self) -> u32 {
        self.max_cluster
    }

    fn start_read(
        &mut self,
        key: u64,
        pindex: u64,
        count: u32,
        tag: u64,
    ) -> Result<(), PagerRefusal> {
        if self.queue.len() >= self.max_in_flight {
            return Err(PagerRefusal::Busy);
        }
        let due = self.due();
        self.queue.push(Pending {
            tag,
            key,
            pindex,
            count,
            data: None,
            due,
        });
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
        if self.queue.len() >= self.max_in_flight {
            return Err(PagerRefusal::Busy);
        }
        let mut data = vec![0u8; count as usize * PAGE];
        for (i, page) in data.chunks_mut(PAGE).enumerate() {
            fill(i as u32, page);
        }
        let due = self.due();
        self.queue.push(Pending {
            tag,
            key,
            pindex,
            count,
            data: Some(data),
            due,
        });
        Ok(())
    }

    fn wait(&mut self) {}

    fn poll(&mut self, out: &mut Vec<PagerEvent>) -> usize {
        if self.hold {
            return 0;
        }
        for p in &mut self.queue {
            p.due = p.due.saturating_sub(1);
        }
        let mut ready: Vec<Pending> = Vec::new();
        let mut i = 0;
        while i < self.queue.len() {
            if self.queue[i].due == 0 {
                ready.push(self.queue.remove(i));
            } else {
                i += 1;
            }
        }
        if self.reorder {
            for k in (1..ready.len()).rev() {
                let j = (self.next() % (k as u64 + 1)) as usize;
                ready.swap(k, j);
            }
        }
        let n = ready.len();
        for p in ready {
            let ev = self.answer(p);
            out.push(ev);
        }
        n
    }

    fn read_page(&self, tag: u64, i: u32) -> &[u8] {
        let b = &self.supplied[&tag];
        &b[i as usize * PAGE..(i as usize + 1) * PAGE]
    }

    fn finish_read(&mut self, tag: u64) {
        self.supplied.remove(&tag);
    }

    fn close(&mut self, key: u64) {
        self.closed.push(key);
    }

    fn device_any(&mut self) -> &mut dyn Any {
        self
    }
}
