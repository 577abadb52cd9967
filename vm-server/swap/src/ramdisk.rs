//! A RAM-disk [`BlockDevice`] for host tests and benchmarks, with fault injection: read and write errors, delayed and reordered completions.
//!
//! It keeps the asynchronous contract honestly: data moves when the
//! completion is *delivered* by [`poll_completions`](BlockDevice::poll_completions),
//! not at submit, so a caller that reuses a write buffer early or reads a
//! read buffer before its completion sees wrong bytes, as it would with
//! the block server. Blocks are stored sparsely (a hash map of 4 KiB
//! boxes), so a test can have a large device and pay only for what it
//! writes; never-written blocks read as zeros.
//!
//! Injected faults, all deterministic for a given seed:
//!
//! * bad blocks: every read (or write) touching block `b` fails at `b`;
//! * the next N reads (or writes) fail, at their first block;
//! * each read (write) fails with probability p, at a random block of it;
//! * every completion is held back for a fixed number of polls, or for a
//!   random number up to a maximum;
//! * completions that become ready in the same poll are delivered in a
//!   random order.
//!
//! It also enforces the device contract a real device cannot check: a
//! request overlapping the blocks of one in flight (unless both are
//! reads) is refused with [`IoError::Overlap`].
//!
//! It models quiet completions when asked ([`RamDisk::quiet_completions`],
//! `device` module docs): a submit starts a quiet stretch, and a
//! completion becomes *published* (what the next poll delivers) at its
//! submit, at the doorbell, or in the poll where its delay runs out,
//! unannounced if a stretch is on then. [`RamDisk::unannounced`] counts
//! those not yet delivered: an owner about to sleep must have none, or
//! it would sleep through them (a lost wake-up).
//!
//! It models the doorbell: a request submitted while it is held
//! ([`BlockDevice::hold_doorbell`]) never completes until it rings, so a
//! caller that forgets to release it hangs here as it would on seL4.
//!
//! Given a [`PhysMemory`] ([`RamDisk::attach_memory`]) it takes direct
//! requests too (frame lists, `device` module docs): the list is read
//! once at submit, as the block server reads it, and the data moves
//! between the store and the memory at delivery, so a caller that
//! touches a frame under I/O sees wrong bytes here as well.
//!
//! Locking: none; owned by one test or the single-threaded server loop.

use crate::device::{
    validate, BlockDevice, BufferId, IoCompletion, IoError, IoOp, IoRequest, IoStatus, IoTag,
    BLOCK_SIZE,
};
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use hashbrown::{HashMap, HashSet};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Byte a failed read leaves in its buffers, so tests notice use of them.
pub const POISON: u8 = 0xa5;

/// What the RAM disk did and injected (read by tests and benchmarks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RamDiskStats {
    /// Read requests accepted.
    pub reads: u64,
    /// Write requests accepted.
    pub writes: u64,
    /// Blocks actually read (failed blocks not counted).
    pub blocks_read: u64,
    /// Blocks actually written.
    pub blocks_written: u64,
    /// Read requests that completed with an injected error.
    pub read_errors: u64,
    /// Write requests that completed with an injected error.
    pub write_errors: u64,
    /// Requests refused by `submit`.
    pub rejected: u64,
    /// Completions delivered.
    pub completed: u64,
    /// Completions delivered out of submission order.
    pub reordered: u64,
    /// Completions delivered that were published during a quiet stretch.
    pub quiet: u64,
    /// Doorbells rung: a request submitted while the doorbell was free,
    /// or a release that started requests held back.
    pub doorbells: u64,
}

/// Delay applied to each completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delay {
    /// Delivered by the next poll.
    None,
    /// Held back for exactly this many polls.
    Fixed(u32),
    /// Held back for a uniformly random 0..=max polls.
    Random(u32),
}

/// Simulated physical memory a direct request's addresses index (byte
/// offsets), shared with whatever owns the frames (the VM core's
/// `SimPmap`).
pub type PhysMemory = Rc<RefCell<Vec<u8>>>;

#[derive(Clone, Debug)]
struct Pending {
    tag: IoTag,
    req: IoRequest,
    /// A direct request's frame addresses, read at submit.
    frames: Vec<u64>,
    /// Submitted while the doorbell was held: not started (it cannot
    /// complete) until the doorbell rings.
    unseen: bool,
    /// Polls still to skip before delivery.
    hold: u32,
    /// Published during a quiet stretch: no signal announces it.
    unannounced: bool,
    status: IoStatus,
}

/// The RAM disk.
#[derive(Debug)]
pub struct RamDisk {
    blocks: u64,
    store: HashMap<u64, Box<[u8; BLOCK_SIZE]>>,
    staging: Vec<u8>,
    buffers: u32,
    pending: Vec<Pending>,
    next_tag: u64,
    queue_depth: usize,
    rng: SmallRng,
    bad_read: HashSet<u64>,
    bad_write: HashSet<u64>,
    fail_next_reads: u32,
    fail_next_writes: u32,
    read_error_prob: f64,
    write_error_prob: f64,
    delay: Delay,
    reorder: bool,
    /// Where direct requests' frames live; `None`: no direct requests.
    memory: Option<PhysMemory>,
    /// The doorbell is held (`hold_doorbell`).
    held: bool,
    /// Quiet stretches happen (`quiet_completions`), and one is on.
    quiet_capable: bool,
    quiet: bool,
    stats: RamDiskStats,
}

impl RamDisk {
    /// A disk of `blocks` blocks with a staging window of `buffers`
    /// buffers, no faults, queue depth unlimited, RNG seed 0.
    pub fn new(blocks: u64, buffers: u32) -> Self {
        RamDisk {
            blocks,
            store: HashMap::new(),
            staging: vec![0; buffers as usize * BLOCK_SIZE],
            buffers,
            pending: Vec::new(),
            next_tag: 1,
            queue_depth: usize::MAX,
            rng: SmallRng::seed_from_u64(0),
            bad_read: HashSet::new(),
            bad_write: HashSet::new(),
            fail_next_reads: 0,
            fail_next_writes: 0,
            read_error_prob: 0.0,
            write_error_prob: 0.0,
            delay: Delay::None,
            reorder: false,
            memory: None,
            held: false,
            quiet_capable: false,
            quiet: false,
            stats: RamDiskStats::default(),
        }
    }

    /// Takes direct requests from now on, their addresses byte offsets
    /// into `memory`; the VM's frame `n` is at `n * BLOCK_SIZE`.
    pub fn attach_memory(&mut self, memory: PhysMemory) -> &mut Self {
        self.memory = Some(memory);
        self
    }

    /// Reseeds the injection RNG (probabilistic errors, random delays,
    /// reordering).
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        self.rng = SmallRng::seed_from_u64(seed);
        self
    }

    /// Limits requests in flight; more are refused with `QueueFull`.
    pub fn set_queue_depth(&mut self, depth: usize) -> &mut Self {
        self.queue_depth = depth;
        self
    }

    /// Every read touching `block` fails there until [`heal`](Self::heal).
    pub fn fail_reads_at(&mut self, block: u64) -> &mut Self {
        self.bad_read.insert(block);
        self
    }

    /// Every write touching `block` fails there until [`heal`](Self::heal).
    pub fn fail_writes_at(&mut self, block: u64) -> &mut Self {
        self.bad_write.insert(block);
        self
    }

    /// Forgets the bad-block injections of `block`.
    pub fn heal(&mut self, block: u64) -> &mut Self {
        self.bad_read.remove(&block);
        self.bad_write.remove(&block);
        self
    }

    /// The next `n` read requests fail at their first block.
    pub fn fail_next_reads(&mut self, n: u32) -> &mut Self {
        self.fail_next_reads = n;
        self
    }

    /// Read requests still to fail from `fail_next_reads`.
    pub fn pending_read_failures(&self) -> u32 {
        self.fail_next_reads
    }

    /// The next `n` write requests fail at their first block.
    pub fn fail_next_writes(&mut self, n: u32) -> &mut Self {
        self.fail_next_writes = n;
        self
    }

    /// Each read and write request fails with these probabilities.
    pub fn error_probability(&mut self, read: f64, write: f64) -> &mut Self {
        self.read_error_prob = read;
        self.write_error_prob = write;
        self
    }

    /// How long completions are held back.
    pub fn set_delay(&mut self, delay: Delay) -> &mut Self {
        self.delay = delay;
        self
    }

    /// Whether completions ready in one poll are delivered shuffled.
    pub fn set_reorder(&mut self, reorder: bool) -> &mut Self {
        self.reorder = reorder;
        self
    }

    /// Whether submits start quiet stretches (module docs).
    pub fn quiet_completions(&mut self, on: bool) -> &mut Self {
        self.quiet_capable = on;
        self
    }

    /// Completions published during a quiet stretch and not delivered yet:
    /// an owner about to sleep must have none (module docs).
    pub fn unannounced(&self) -> usize {
        self.pending.iter().filter(|p| p.unannounced).count()
    }

    /// Counters so far.
    pub fn stats(&self) -> &RamDiskStats {
        &self.stats
    }

    /// The stored bytes of `block` (zeros if never written), bypassing the
    /// queue: for tests that check what reached the medium.
    pub fn peek(&self, block: u64) -> [u8; BLOCK_SIZE] {
        self.store.get(&block).map_or([0; BLOCK_SIZE], |b| **b)
    }

    /// Decides at submit whether and where `req` fails.
    fn inject(&mut self, req: &IoRequest) -> IoStatus {
        let range = req.block..req.block + u64::from(req.count);
        let (bad, next, prob) = match req.op {
            IoOp::Read => (
                &self.bad_read,
                &mut self.fail_next_reads,
                self.read_error_prob,
            ),
            IoOp::Write => (
                &self.bad_write,
                &mut self.fail_next_writes,
                self.write_error_prob,
            ),
        };
        if let Some(b) = range.clone().find(|b| bad.contains(b)) {
            return IoStatus::Error { block: b };
        }
        if *next > 0 {
            *next -= 1;
            return IoStatus::Error { block: req.block };
        }
        if prob > 0.0 && self.rng.gen_bool(prob.min(1.0)) {
            return IoStatus::Error {
                block: self.rng.gen_range(range),
            };
        }
        IoStatus::Ok
    }

    /// A direct request's frame list, read once and checked as the block
    /// server checks it: page aligned and inside the memory.
    fn frame_list(&self, req: &IoRequest) -> Result<Vec<u64>, IoError> {
        let len = self.memory.as_ref().map_or(0, |m| m.borrow().len()) as u64;
        let list = &self.staging[req.buf.0 as usize * BLOCK_SIZE..][..req.count as usize * 8];
        list.chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
            .map(|a| {
                let inside = a.checked_add(BLOCK_SIZE as u64).is_some_and(|e| e <= len);
                if a % BLOCK_SIZE as u64 == 0 && inside {
                    Ok(a)
                } else {
                    Err(IoError::BadBuffer)
                }
            })
            .collect()
    }

    /// Moves the data of a completion being delivered (`frames`: a
    /// direct request's list).
    fn transfer(&mut self, req: &IoRequest, frames: &[u64], status: IoStatus) {
        let done = match status {
            IoStatus::Ok => req.count,
            IoStatus::Error { block } => (block - req.block) as u32,
        };
        let base = req.buf.0 as usize * BLOCK_SIZE;
        let memory = self.memory.clone();
        let mut memory = memory.as_ref().map(|m| m.borrow_mut());
        for i in 0..req.count {
            let buf = match (&mut memory, req.direct) {
                (Some(m), true) => {
                    let at = frames[i as usize] as usize;
                    &mut m[at..at + BLOCK_SIZE]
                }
                _ => &mut self.staging[base + i as usize * BLOCK_SIZE..][..BLOCK_SIZE],
            };
            let block = req.block + u64::from(i);
            match (req.op, i < done) {
                (IoOp::Write, true) => {
                    let dst = self
                        .store
                        .entry(block)
                        .or_insert_with(|| Box::new([0; BLOCK_SIZE]));
                    dst.copy_from_slice(buf);
                }
                (IoOp::Read, true) => match self.store.get(&block) {
                    Some(src) => buf.copy_from_slice(&src[..]),
                    None => buf.fill(0),
                },
                (IoOp::Read, false) => buf.fill(POISON),
                (IoOp::Write, false) => {}
            }
        }
        match req.op {
            IoOp::Read => self.stats.blocks_read += u64::from(done),
            IoOp::Write => self.stats.blocks_written += u64::from(done),
        }
        if done < req.count {
            match req.op {
                IoOp::Read => self.stats.read_errors += 1,
                IoOp::Write => self.stats.write_errors += 1,
            }
        }
    }
}

impl BlockDevice for RamDisk {
    fn frame_lists(&self) -> bool {
        self.memory.is_some()
    }

    fn frame_address(&self, frame: u32) -> Option<u64> {
        let len = self.memory.as_ref()?.borrow().len() as u64;
        let at = u64::from(frame) * BLOCK_SIZE as u64;
        (at + BLOCK_SIZE as u64 <= len).then_some(at)
    }

    fn block_count(&self) -> u64 {
        self.blocks
    }

    fn buffer_count(&self) -> u32 {
        self.buffers
    }

    fn buffer(&self, buf: BufferId, count: u32) -> &[u8] {
        assert!(buf.0 + count <= self.buffers, "staging buffer out of range");
        &self.staging[buf.0 as usize * BLOCK_SIZE..][..count as usize * BLOCK_SIZE]
    }

    fn buffer_mut(&mut self, buf: BufferId, count: u32) -> &mut [u8] {
        assert!(buf.0 + count <= self.buffers, "staging buffer out of range");
        &mut self.staging[buf.0 as usize * BLOCK_SIZE..][..count as usize * BLOCK_SIZE]
    }

    fn submit(&mut self, req: IoRequest) -> Result<IoTag, IoError> {
        let refused = if let Err(e) = validate(&req, self.blocks, self.buffers) {
            Some(e)
        } else if self.pending.len() >= self.queue_depth {
            Some(IoError::QueueFull)
        } else if self.pending.iter().any(|p| {
            p.req.buf.0 < req.buf.0 + req.buffers() && req.buf.0 < p.req.buf.0 + p.req.buffers()
        }) {
            Some(IoError::BufferBusy)
        } else if req.direct && self.memory.is_none() {
            Some(IoError::BadBuffer)
        } else if self.pending.iter().any(|p| {
            (p.req.op == IoOp::Write || req.op == IoOp::Write)
                && p.req.block < req.block + u64::from(req.count)
                && req.block < p.req.block + u64::from(p.req.count)
        }) {
            // The contract forbids it; checking it here catches pagers
            // that reuse a slot while the device still reads or writes it.
            Some(IoError::Overlap)
        } else {
            None
        };
        let frames = if req.direct && refused.is_none() {
            match self.frame_list(&req) {
                Ok(f) => f,
                Err(e) => {
                    self.stats.rejected += 1;
                    return Err(e);
                }
            }
        } else {
            Vec::new()
        };
        if let Some(e) = refused {
            self.stats.rejected += 1;
            return Err(e);
        }
        let status = self.inject(&req);
        let hold = match self.delay {
            Delay::None => 0,
            Delay::Fixed(k) => k,
            Delay::Random(max) => self.rng.gen_range(0..=max),
        };
        match req.op {
            IoOp::Read => self.stats.reads += 1,
            IoOp::Write => self.stats.writes += 1,
        }
        self.stats.doorbells += u64::from(!self.held);
        let tag = IoTag(self.next_tag);
        self.next_tag += 1;
        self.quiet |= self.quiet_capable;
        self.pending.push(Pending {
            tag,
            req,
            frames,
            unseen: self.held,
            hold,
            unannounced: !self.held && hold == 0 && self.quiet,
            status,
        });
        Ok(tag)
    }

    fn poll_completions(&mut self, out: &mut impl Extend<IoCompletion>) -> usize {
        let mut ready = Vec::new();
        let mut i = 0;
        // `pending` is in submission order; keep it so.
        while i < self.pending.len() {
            if self.pending[i].unseen {
                i += 1;
            } else if self.pending[i].hold == 0 {
                ready.push(self.pending.remove(i));
            } else {
                let p = &mut self.pending[i];
                p.hold -= 1;
                // Published now, for the next poll.
                p.unannounced = p.hold == 0 && self.quiet;
                i += 1;
            }
        }
        if self.reorder {
            for k in (1..ready.len()).rev() {
                let j = self.rng.gen_range(0..=k);
                ready.swap(k, j);
            }
        }
        // Out of order: a later-submitted completion delivered before an
        // earlier one still pending or delivered after it in this batch.
        let oldest_pending = self.pending.first().map(|p| p.tag);
        let mut max_seen = IoTag(0);
        for p in &ready {
            if p.tag < max_seen || oldest_pending.is_some_and(|o| o < p.tag) {
                self.stats.reordered += 1;
            }
            max_seen = max_seen.max(p.tag);
        }
        let n = ready.len();
        for p in &ready {
            self.transfer(&p.req, &p.frames, p.status);
        }
        self.stats.completed += n as u64;
        self.stats.quiet += ready.iter().filter(|p| p.unannounced).count() as u64;
        out.extend(ready.into_iter().map(|p| IoCompletion {
            tag: p.tag,
            request: p.req,
            status: p.status,
        }));
        n
    }

    fn in_flight(&self) -> usize {
        self.pending.len()
    }

    fn wait_for_completion(&mut self) {
        self.release_doorbell();
        // As the block server's channel: no stretch while blocked.
        self.end_quiet();
    }

    fn quiet(&self) -> bool {
        self.quiet
    }

    fn end_quiet(&mut self) -> bool {
        if !core::mem::take(&mut self.quiet) {
            return false;
        }
        self.pending.iter().any(|p| !p.unseen && p.hold == 0)
    }

    fn hold_doorbell(&mut self) {
        self.held = true;
    }

    fn release_doorbell(&mut self) {
        self.held = false;
        let mut started = false;
        for p in &mut self.pending {
            if core::mem::take(&mut p.unseen) {
                started = true;
                if p.hold == 0 {
                    p.unannounced = self.quiet;
                }
            }
        }
        self.stats.doorbells += u64::from(started);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(d: &mut RamDisk, block: u64, count: u32, fill: u8) -> IoTag {
        d.buffer_mut(BufferId(0), count).fill(fill);
        d.submit(IoRequest::staged(IoOp::Write, block, count, BufferId(0)))
            .unwrap()
    }

    fn read(d: &mut RamDisk, block: u64, count: u32, buf: u32) -> IoTag {
        d.submit(IoRequest::staged(IoOp::Read, block, count, BufferId(buf)))
            .unwrap()
    }

    fn poll(d: &mut RamDisk) -> Vec<IoCompletion> {
        let mut v = Vec::new();
        d.poll_completions(&mut v);
        v
    }

    #[test]
    fn write_then_read_round_trip() {
        let mut d = RamDisk::new(100, 8);
        let t = write(&mut d, 10, 4, 0x42);
        // Nothing reaches the medium before the completion is delivered.
        assert_eq!(d.peek(10)[0], 0);
        let c = poll(&mut d);
        assert_eq!((c.len(), c[0].tag, c[0].status), (1, t, IoStatus::Ok));
        assert_eq!(d.peek(13)[4095], 0x42);
        read(&mut d, 9, 6, 2);
        assert_eq!(poll(&mut d).len(), 1);
        let b = d.buffer(BufferId(2), 6);
        assert!(b[..4096].iter().all(|&x| x == 0));
        assert!(b[4096..5 * 4096].iter().all(|&x| x == 0x42));
        assert_eq!(d.stats().blocks_read, 6);
        assert_eq!(d.stats().blocks_written, 4);
    }

    #[test]
    fn submit_refusals() {
        let mut d = RamDisk::new(16, 4);
        let r = |block, count, buf| IoRequest::staged(IoOp::Read, block, count, BufferId(buf));
        assert_eq!(d.submit(r(0, 0, 0)), Err(IoError::Empty));
        assert_eq!(d.submit(r(15, 2, 0)), Err(IoError::OutOfRange));
        assert_eq!(d.submit(r(u64::MAX, 2, 0)), Err(IoError::OutOfRange));
        assert_eq!(d.submit(r(0, 2, 3)), Err(IoError::BadBuffer));
        d.submit(r(0, 2, 1)).unwrap();
        assert_eq!(d.submit(r(4, 1, 2)), Err(IoError::BufferBusy));
        let w = IoRequest {
            op: IoOp::Write,
            ..r(1, 1, 3)
        };
        assert_eq!(d.submit(w), Err(IoError::Overlap));
        d.submit(r(1, 1, 3)).unwrap(); // two reads of one block are fine
        d.set_queue_depth(2);
        assert_eq!(d.submit(r(4, 1, 0)), Err(IoError::QueueFull));
        assert_eq!(d.stats().rejected, 7);
        assert_eq!(d.in_flight(), 2);
    }

    #[test]
    fn bad_block_errors() {
        let mut d = RamDisk::new(64, 8);
        d.fail_writes_at(5).fail_reads_at(20);
        write(&mut d, 3, 4, 7);
        let c = poll(&mut d);
        assert_eq!(c[0].status, IoStatus::Error { block: 5 });
        // Blocks before the failed one were written, the rest not.
        assert_eq!((d.peek(4)[0], d.peek(5)[0], d.peek(6)[0]), (7, 0, 0));
        read(&mut d, 18, 4, 0);
        assert_eq!(poll(&mut d)[0].status, IoStatus::Error { block: 20 });
        let b = d.buffer(BufferId(0), 4);
        assert_eq!((b[0], b[2 * 4096], b[3 * 4096]), (0, POISON, POISON));
        d.heal(5);
        write(&mut d, 5, 1, 9);
        assert!(poll(&mut d)[0].is_ok());
        assert_eq!((d.stats().write_errors, d.stats().read_errors), (1, 1));
    }

    #[test]
    fn next_n_errors() {
        let mut d = RamDisk::new(64, 8);
        d.fail_next_writes(2).fail_next_reads(1);
        let mut st = Vec::new();
        for _ in 0..3 {
            write(&mut d, 8, 2, 1);
            st.extend(poll(&mut d).iter().map(|c| c.is_ok()));
        }
        assert_eq!(st, [false, false, true]);
        read(&mut d, 8, 1, 0);
        read(&mut d, 8, 1, 1);
        let st: Vec<_> = poll(&mut d).iter().map(|c| c.is_ok()).collect();
        assert_eq!(st, [false, true]);
    }

    #[test]
    fn probabilistic_errors_are_seeded() {
        let run = |seed| {
            let mut d = RamDisk::new(1024, 16);
            d.seed(seed).error_probability(0.3, 0.3);
            let mut statuses = Vec::new();
            for i in 0..200u64 {
                write(&mut d, i * 4, 4, 1);
                statuses.extend(poll(&mut d).into_iter().map(|c| c.status));
            }
            (statuses, d.stats().write_errors)
        };
        let (a, errs) = run(7);
        assert_eq!(a, run(7).0);
        assert!((30..=90).contains(&errs), "{errs} errors of 200 at p=0.3");
        for (i, s) in a.iter().enumerate() {
            if let IoStatus::Error { block } = s {
                assert!((i as u64 * 4..i as u64 * 4 + 4).contains(block));
            }
        }
    }

    #[test]
    fn fixed_delay_holds_completions() {
        let mut d = RamDisk::new(64, 8);
        d.set_delay(Delay::Fixed(2));
        write(&mut d, 0, 1, 1);
        assert!(poll(&mut d).is_empty());
        assert!(poll(&mut d).is_empty());
        assert_eq!(d.in_flight(), 1);
        assert_eq!(poll(&mut d).len(), 1);
        assert_eq!(d.in_flight(), 0);
    }

    #[test]
    fn random_delay_and_reordering() {
        let mut d = RamDisk::new(256, 64);
        d.seed(3).set_delay(Delay::Random(4)).set_reorder(true);
        let mut tags = Vec::new();
        for i in 0..64u32 {
            tags.push(read(&mut d, u64::from(i), 1, i));
        }
        let mut got = Vec::new();
        let mut polls = 0;
        while got.len() < 64 {
            polls += 1;
            got.extend(poll(&mut d).into_iter().map(|c| c.tag));
        }
        assert!(polls <= 5);
        assert_ne!(got, tags, "nothing was reordered");
        got.sort();
        assert_eq!(got, tags, "every request completes exactly once");
        assert!(d.stats().reordered > 0);
    }

    #[test]
    fn without_quiet_completions_every_one_is_announced() {
        let mut d = RamDisk::new(64, 8);
        write(&mut d, 0, 1, 1);
        assert!(!d.quiet());
        assert_eq!(d.unannounced(), 0);
        assert!(!d.end_quiet());
    }

    #[test]
    fn a_quiet_stretch_publishes_unannounced_until_it_ends() {
        let mut d = RamDisk::new(64, 8);
        d.quiet_completions(true);
        // Published at its submit, during the stretch the submit started.
        write(&mut d, 0, 1, 1);
        assert!(d.quiet());
        assert_eq!(d.unannounced(), 1);
        // Ending it says something waits; the poll takes it.
        assert!(d.end_quiet());
        assert!(!d.quiet());
        assert_eq!(poll(&mut d).len(), 1);
        assert_eq!(d.unannounced(), 0);
        assert_eq!(d.stats().quiet, 1);
        assert!(!d.end_quiet(), "no stretch on");

        // Published in a poll whose delay runs out during a stretch.
        d.set_delay(Delay::Fixed(1));
        write(&mut d, 1, 1, 2);
        assert_eq!(d.unannounced(), 0, "not published yet");
        assert!(poll(&mut d).is_empty());
        assert_eq!(d.unannounced(), 1);
        assert!(d.end_quiet());
        assert_eq!(poll(&mut d).len(), 1);

        // Published after the stretch ended: announced.
        write(&mut d, 2, 1, 3);
        assert!(!d.end_quiet(), "not published yet");
        assert!(poll(&mut d).is_empty());
        assert_eq!(d.unannounced(), 0);
        assert_eq!(poll(&mut d).len(), 1);

        // Published at the doorbell, during a stretch.
        d.set_delay(Delay::None);
        d.hold_doorbell();
        write(&mut d, 3, 1, 4);
        assert_eq!(d.unannounced(), 0, "the device was not told");
        d.release_doorbell();
        assert_eq!(d.unannounced(), 1);
        // A synchronous wait ends the stretch, as the block server's
        // channel must before it blocks.
        d.wait_for_completion();
        assert!(!d.quiet());
        assert_eq!(poll(&mut d).len(), 1);
        assert_eq!(d.unannounced(), 0);
    }
}
