//! Model test of the swap pager with one object's pages: random pageouts (clusters), page-ins (read-ahead), clean evictions, writes, frees and polls over a RAM disk that delays, reorders and fails requests, half the seeds with swap smaller than the object (swap full, clusters cut); page contents, slot accounting and bad slots are checked against the model.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use vm_swap::blist::SwapSlot;
use vm_swap::device::{IoOp, IoTag, BLOCK_SIZE};
use vm_swap::ramdisk::{Delay, RamDisk};
use vm_swap::swap_pager::{SwapError, SwapEvent, SwapPager};
use vm_swap::swapmeta::SwapMeta;

const PAGES: u64 = 96;

#[derive(Clone, Copy, Debug, PartialEq)]
enum St {
    Dead,
    Resident {
        ver: u32,
        dirty: bool,
    },
    /// Only on swap (its slot is in `meta`).
    Swapped {
        ver: u32,
    },
    /// Under a pageout write.
    Out {
        ver: u32,
    },
    /// Under a page-in read (its slot is in `meta`).
    In {
        ver: u32,
    },
}

fn fill(page: u64, ver: u32, b: &mut [u8]) {
    let seed = (page as u32).wrapping_mul(2_654_435_761) ^ ver.wrapping_mul(40_503);
    for (i, chunk) in b.chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&(seed.wrapping_add(i as u32)).to_le_bytes());
    }
}

struct World {
    pager: SwapPager<RamDisk>,
    meta: SwapMeta,
    st: Vec<St>,
    /// Pages freed while under I/O.
    zombie: Vec<bool>,
    writes: HashMap<IoTag, (u64, u32)>,
    reads: HashMap<IoTag, (u64, u32)>,
    next_ver: u32,
    write_errors: u64,
    read_errors: u64,
    pageins_ok: u64,
    /// Cluster writes cut down to the largest free run.
    no_space: u64,
    /// Pageouts refused because swap was full.
    swap_full: u64,
    rng: SmallRng,
}

impl World {
    fn ver(&mut self) -> u32 {
        self.next_ver += 1;
        self.next_ver
    }

    fn write(&mut self, p: u64) {
        match self.st[p as usize] {
            St::Resident { dirty, .. } => {
                if !dirty {
                    // The clean copy on swap is stale now (swap_pager_unswapped).
                    if let Some(s) = self.meta.remove(p) {
                        self.pager.free_slots(s, 1);
                    }
                }
                let v = self.ver();
                self.st[p as usize] = St::Resident {
                    ver: v,
                    dirty: true,
                };
            }
            St::Dead => {
                let v = self.ver();
                self.st[p as usize] = St::Resident {
                    ver: v,
                    dirty: true,
                };
            }
            _ => {}
        }
    }

    fn pageout(&mut self, p: u64, max: u32) {
        let mut n = 0u32;
        while n < max
            && p + u64::from(n) < PAGES
            && matches!(
                self.st[(p + u64::from(n)) as usize],
                St::Resident { dirty: true, .. }
            )
        {
            n += 1;
        }
        if n == 0 {
            return;
        }
        let vers: Vec<u32> = (0..n)
            .map(|i| match self.st[(p + u64::from(i)) as usize] {
                St::Resident { ver, .. } => ver,
                _ => unreachable!(),
            })
            .collect();
        let mut try_n = n;
        loop {
            let r = self
                .pager
                .start_write(try_n, p, |i, b| fill(p + u64::from(i), vers[i as usize], b));
            match r {
                Ok((tag, _)) => {
                    for i in 0..try_n {
                        self.st[(p + u64::from(i)) as usize] = St::Out {
                            ver: vers[i as usize],
                        };
                    }
                    self.writes.insert(tag, (p, try_n));
                    return;
                }
                Err(SwapError::NoSpace { largest_run }) if largest_run > 0 => {
                    self.no_space += 1;
                    try_n = try_n.min(largest_run);
                }
                Err(SwapError::NoSpace { .. }) => {
                    self.swap_full += 1;
                    return;
                }
                Err(SwapError::NoBuffers) => return,
                Err(e) => panic!("start_write: {e:?}"),
            }
        }
    }

    fn evict_clean(&mut self, p: u64) {
        if let St::Resident { ver, dirty: false } = self.st[p as usize] {
            assert!(
                self.meta.lookup(p).is_some(),
                "clean resident page without slot"
            );
            self.st[p as usize] = St::Swapped { ver };
        }
    }

    fn fault(&mut self, p: u64) {
        if !matches!(self.st[p as usize], St::Swapped { .. }) {
            return;
        }
        let run = self.meta.cluster(p, 3, 4).expect("swapped page has a slot");
        // Narrow to swapped pages around p (others may be under I/O or resident).
        let ok = |w: &World, q: u64| matches!(w.st[q as usize], St::Swapped { .. });
        let (mut lo, mut hi) = (p, p);
        while lo > run.pindex && ok(self, lo - 1) {
            lo -= 1;
        }
        while hi + 1 < run.pindex + u64::from(run.count) && ok(self, hi + 1) {
            hi += 1;
        }
        let n = (hi - lo + 1) as u32;
        let slot = self.meta.lookup(lo).unwrap();
        match self.pager.start_read(slot, n, lo) {
            Ok(tag) => {
                for q in lo..=hi {
                    if let St::Swapped { ver } = self.st[q as usize] {
                        self.st[q as usize] = St::In { ver };
                    }
                }
                self.reads.insert(tag, (lo, n));
            }
            Err(SwapError::NoBuffers) => {}
            Err(e) => panic!("start_read: {e:?}"),
        }
    }

    fn free(&mut self, p: u64) {
        match self.st[p as usize] {
            St::Resident { .. } | St::Swapped { .. } | St::In { .. } => {
                if let Some(s) = self.meta.remove(p) {
                    self.pager.free_slots(s, 1);
                }
                if matches!(self.st[p as usize], St::In { .. }) {
                    self.zombie[p as usize] = true;
                }
                self.st[p as usize] = St::Dead;
            }
            St::Out { .. } => {
                self.zombie[p as usize] = true;
                self.st[p as usize] = St::Dead;
            }
            St::Dead => {}
        }
    }

    fn poll(&mut self) {
        let mut evs: Vec<SwapEvent> = Vec::new();
        self.pager.poll(&mut evs);
        for e in evs {
            match e.op {
                IoOp::Write => self.write_done(e),
                IoOp::Read => self.read_done(e),
            }
        }
    }

    fn write_done(&mut self, e: SwapEvent) {
        let (first, n) = self.writes.remove(&e.tag).expect("known write");
        assert_eq!((first, n), (e.cookie, e.count));
        if e.result.is_err() {
            self.write_errors += 1;
        }
        for i in 0..n {
            let q = first + u64::from(i);
            let slot = SwapSlot(e.slot.0 + i);
            if std::mem::take(&mut self.zombie[q as usize]) {
                if e.result.is_ok() {
                    self.pager.free_slots(slot, 1);
                }
                continue;
            }
            let St::Out { ver } = self.st[q as usize] else {
                panic!("page {q} under write is {:?}", self.st[q as usize]);
            };
            match e.result {
                Ok(()) => {
                    assert_eq!(self.meta.insert(q, slot), None);
                    self.st[q as usize] = if self.rng.gen_bool(0.7) {
                        St::Swapped { ver }
                    } else {
                        St::Resident { ver, dirty: false }
                    };
                }
                // Never lose data: the page stays dirty and resident.
                Err(_) => self.st[q as usize] = St::Resident { ver, dirty: true },
            }
        }
    }

    fn read_done(&mut self, e: SwapEvent) {
        let (first, n) = self.reads.remove(&e.tag).expect("known read");
        assert_eq!((first, n), (e.cookie, e.count));
        if e.result.is_err() {
            self.read_errors += 1;
        }
        let mut want = vec![0u8; BLOCK_SIZE];
        for i in 0..n {
            let q = first + u64::from(i);
            if std::mem::take(&mut self.zombie[q as usize]) {
                continue;
            }
            let St::In { ver } = self.st[q as usize] else {
                panic!("page {q} under read is {:?}", self.st[q as usize]);
            };
            self.st[q as usize] = match e.result {
                Ok(()) => {
                    fill(q, ver, &mut want);
                    assert!(
                        self.pager.read_page(e.tag, i) == Some(&want[..]),
                        "page {q} v{ver} corrupt"
                    );
                    self.pageins_ok += 1;
                    St::Resident { ver, dirty: false }
                }
                // The fault fails with an I/O error; the page stays on swap.
                Err(_) => St::Swapped { ver },
            };
        }
        self.pager.finish_read(e.tag);
    }

    /// Every slot in use is accounted for: in `meta`, under a write, or
    /// waiting for a read to finish before being freed.
    fn check(&self) {
        let writing: u64 = self.writes.values().map(|&(_, n)| u64::from(n)).sum();
        let bl = self.pager.blist();
        assert_eq!(
            bl.in_use(),
            self.meta.len() + writing + self.pager.deferred_frees() as u64,
            "slot leak"
        );
        for p in 0..PAGES {
            let has = self.meta.lookup(p).is_some();
            match self.st[p as usize] {
                St::Swapped { .. } | St::In { .. } => assert!(has, "page {p} lost its slot"),
                St::Resident { dirty: false, .. } => assert!(has),
                St::Resident { dirty: true, .. } | St::Dead | St::Out { .. } => assert!(!has),
            }
        }
    }
}

/// Returns how often a cluster was cut down and how often swap was full.
fn run(seed: u64, ops: usize) -> (u64, u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    // Even seeds: half as many slots as pages, so swap fills up and
    // clusters get cut; odd seeds: room for every page.
    let blocks = if seed.is_multiple_of(2) {
        PAGES / 2
    } else {
        PAGES + 32
    };
    let mut d = RamDisk::new(blocks, 32);
    d.seed(seed)
        .set_delay(Delay::Random(rng.gen_range(0..4)))
        .set_reorder(rng.gen_bool(0.7))
        .error_probability(
            0.02 * rng.gen_range(0..3) as f64,
            0.02 * rng.gen_range(0..3) as f64,
        );
    if rng.gen_bool(0.5) {
        d.fail_writes_at(rng.gen_range(0..blocks));
    }
    let mut w = World {
        pager: SwapPager::new(d, 16),
        meta: SwapMeta::new(),
        st: vec![St::Dead; PAGES as usize],
        zombie: vec![false; PAGES as usize],
        writes: HashMap::new(),
        reads: HashMap::new(),
        next_ver: 0,
        write_errors: 0,
        read_errors: 0,
        pageins_ok: 0,
        no_space: 0,
        swap_full: 0,
        rng: SmallRng::seed_from_u64(seed ^ 0xabcdef),
    };
    for _ in 0..ops {
        let p = rng.gen_range(0..PAGES);
        match rng.gen_range(0..100) {
            0..=29 => w.write(p),
            30..=44 => w.pageout(p, rng.gen_range(1..=16)),
            45..=59 => w.fault(p),
            60..=66 => w.evict_clean(p),
            67..=71 => w.free(p),
            _ => w.poll(),
        }
        w.check();
    }
    // Drain, then every page dies: nothing may stay allocated.
    while w.pager.busy() > 0 {
        w.poll();
        w.check();
    }
    for p in 0..PAGES {
        w.free(p);
    }
    w.check();
    let bl = w.pager.blist();
    assert_eq!(bl.in_use(), 0, "seed {seed}: slots leaked");
    assert_eq!(
        bl.bad_count(),
        w.write_errors,
        "seed {seed}: one bad slot per failed write"
    );
    assert_eq!(bl.free_count() + bl.bad_count(), blocks);
    let st = w.pager.stats().clone();
    assert_eq!(
        (st.io_write_errors, st.io_read_errors),
        (w.write_errors, w.read_errors)
    );
    assert_eq!(st.io_submitted, st.io_completed);
    assert!(w.pageins_ok > 0, "seed {seed}: no page-in exercised");
    (w.no_space, w.swap_full)
}

#[test]
fn pager_model_under_injected_faults() {
    let seeds: u64 = std::env::var("VM_SWAP_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let ops: usize = std::env::var("VM_SWAP_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let (mut cut, mut full) = (0, 0);
    for seed in 0..seeds {
        let (c, f) = run(seed, ops);
        cut += c;
        full += f;
    }
    eprintln!("clusters cut to the largest free run: {cut}, pageouts refused on full swap: {full}");
    if seeds >= 8 && ops >= 2000 {
        assert!(
            cut > 0 && full > 0,
            "the swap-full paths were not exercised"
        );
    }
}
