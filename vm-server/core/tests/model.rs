//! The model test: random operation sequences on several address spaces, checked byte for byte against a trivially simple reference model, with structural invariants after every step.
//!
//! Seeds: `VM_MODEL_SEED=<n>` runs that one seed (and `VM_MODEL_OPS` sets
//! its length); by default a fixed set of seeds runs, over 100,000
//! operations in all. A failure prints the seed and step.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::rc::Rc;
use vm_core::sim::Sim;
use vm_core::*;

const P: u64 = PAGE_SIZE;
const FRAMES: u32 = 1024;
const MAX_SPACES: usize = 4;
/// The model's address window: small, so operations collide often.
const WIN_PAGES: u64 = 96;

/// One page as the reference model sees it.
#[derive(Clone)]
enum Content {
    /// Private bytes (shared by Rc until written: the model's own COW).
    Private(Rc<Vec<u8>>),
    /// A page of a shared segment.
    Shared(usize, u64),
    /// After MADV_FREE: unknown until read.
    Unknown,
}

#[derive(Clone)]
struct MPage {
    prot: Prot,
    content: Content,
}

#[derive(Clone, Default)]
struct MSpace {
    pages: BTreeMap<u64, MPage>,
}

struct Model {
    spaces: BTreeMap<SpaceId, MSpace>,
    /// Shared segments: page index -> bytes.
    segs: Vec<BTreeMap<u64, Vec<u8>>>,
    zero: Rc<Vec<u8>>,
}

impl Model {
    fn bytes(&self, c: &Content) -> Option<Vec<u8>> {
        match c {
            Content::Private(b) => Some(b.to_vec()),
            Content::Shared(s, i) => Some(
                self.segs[*s]
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| vec![0; P as usize]),
            ),
            Content::Unknown => None,
        }
    }
}

struct Runner {
    sim: Sim,
    model: Model,
    rng: SmallRng,
    base: u64,
    seed: u64,
    step: usize,
    ops: BTreeMap<&'static str, u64>,
    peak: u32,
}

fn prot_from(r: u8) -> Prot {
    match r % 4 {
        0 => Prot::READ,
        1 => Prot::RW,
        2 => Prot::NONE,
        _ => Prot::RW | Prot::EXEC,
    }
}

impl Runner {
    fn new(seed: u64) -> Self {
        let cfg = VmConfig {
            prefault_min_free: 32,
            ..VmConfig::default()
        };
        let mut sim = Sim::new(cfg, FRAMES);
        let s = sim.vm.space_create(&mut sim.pmap).unwrap();
        let mut spaces = BTreeMap::new();
        spaces.insert(s, MSpace::default());
        Runner {
            base: sim.vm.config().user_min + 0x100_0000,
            sim,
            model: Model {
                spaces,
                segs: Vec::new(),
                zero: Rc::new(vec![0; P as usize]),
            },
            rng: SmallRng::seed_from_u64(seed),
            seed,
            step: 0,
            ops: BTreeMap::new(),
            peak: 0,
        }
    }

    fn fail(&self, msg: &str) -> ! {
        panic!(
            "model test failed: seed {} step {}: {msg}\n(rerun with VM_MODEL_SEED={})",
            self.seed, self.step, self.seed
        );
    }

    fn pick_space(&mut self) -> SpaceId {
        let ids: Vec<SpaceId> = self.model.spaces.keys().copied().collect();
        ids[self.rng.gen_range(0..ids.len())]
    }

    fn pick_range(&mut self, max_pages: u64) -> (u64, u64) {
        let n = self.rng.gen_range(1..=max_pages);
        let first = self.rng.gen_range(0..WIN_PAGES - n);
        (self.base + first * P, n * P)
    }

    fn fully_mapped(&self, s: SpaceId, addr: u64, len: u64) -> bool {
        let m = &self.model.spaces[&s];
        (0..len / P).all(|i| m.pages.contains_key(&(addr + i * P)))
    }

    fn expect(&self, what: &str, got: Result<(), VmError>, want: Result<(), VmError>) {
        if got != want {
            self.fail(&format!("{what}: got {got:?}, model says {want:?}"));
        }
    }

    fn op(&mut self) {
        let r = self.rng.gen_range(0..100);
        let name = match r {
            0..=11 => self.op_mmap(),
            12..=17 => self.op_munmap(),
            18..=25 => self.op_mprotect(),
            26..=29 => self.op_madvise(),
            30..=32 => self.op_fork(),
            33..=34 => self.op_exit(),
            35..=36 => self.op_mlock(),
            37..=62 => self.op_read(),
            _ => self.op_write(),
        };
        *self.ops.entry(name).or_default() += 1;
    }

    fn op_mmap(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len) = self.pick_range(12);
        let prot = prot_from(self.rng.gen());
        let shared = self.rng.gen_bool(0.25);
        let mut args = if shared {
            MmapArgs::anon_shared(len, prot)
        } else {
            MmapArgs::anon(len, prot)
        };
        let fixed = self.rng.gen_bool(0.7);
        let noreplace = fixed && self.rng.gen_bool(0.3);
        if fixed {
            args = args.fixed(addr);
            if noreplace {
                args.flags |= MapFlags::NOREPLACE;
            }
        } else {
            args.addr = addr;
        }
        if !shared && self.rng.gen_bool(0.1) {
            args.flags |= MapFlags::OVERLAY;
        }
        let free = (0..len / P).all(|i| !self.model.spaces[&s].pages.contains_key(&(addr + i * P)));
        let got = self.sim.vm.mmap(s, &args, &mut self.sim.pmap);
        if noreplace && !free {
            self.expect("mmap noreplace", got.map(|_| ()), Err(VmError::Exists));
            return "mmap";
        }
        let at = match got {
            Ok(a) => a,
            Err(e) => self.fail(&format!("mmap {addr:#x}+{len:#x}: {e:?}")),
        };
        if fixed && at != addr {
            self.fail("fixed mmap moved");
        }
        let content = if shared {
            self.model.segs.push(BTreeMap::new());
            Some(self.model.segs.len() - 1)
        } else {
            None
        };
        let zero = self.model.zero.clone();
        let m = self.model.spaces.get_mut(&s).unwrap();
        for i in 0..len / P {
            let c = match content {
                Some(seg) => Content::Shared(seg, i),
                None => Content::Private(zero.clone()),
            };
            m.pages.insert(at + i * P, MPage { prot, content: c });
        }
        "mmap"
    }

    fn op_munmap(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len) = self.pick_range(16);
        let got = self.sim.vm.munmap(s, addr, len, &mut self.sim.pmap);
        self.expect("munmap", got, Ok(()));
        let m = self.model.spaces.get_mut(&s).unwrap();
        for i in 0..len / P {
            m.pages.remove(&(addr + i * P));
        }
        "munmap"
    }

    fn op_mprotect(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len) = self.pick_range(8);
        let prot = prot_from(self.rng.gen());
        let want = if self.fully_mapped(s, addr, len) {
            Ok(())
        } else {
            Err(VmError::NoMapping)
        };
        let got = self.sim.vm.mprotect(s, addr, len, prot, &mut self.sim.pmap);
        self.expect("mprotect", got, want);
        if want.is_ok() {
            let m = self.model.spaces.get_mut(&s).unwrap();
            for i in 0..len / P {
                m.pages.get_mut(&(addr + i * P)).unwrap().prot = prot;
            }
        }
        "mprotect"
    }

    fn op_madvise(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len) = self.pick_range(8);
        let advice = [
            Advice::Normal,
            Advice::Random,
            Advice::Sequential,
            Advice::WillNeed,
            Advice::DontNeed,
            Advice::Free,
        ][self.rng.gen_range(0..6)];
        let want = if self.fully_mapped(s, addr, len) {
            Ok(())
        } else {
            Err(VmError::NoMapping)
        };
        let got = self
            .sim
            .vm
            .madvise(s, addr, len, advice, &mut self.sim.pmap);
        self.expect("madvise", got, want);
        if want.is_ok() && advice == Advice::Free {
            let m = self.model.spaces.get_mut(&s).unwrap();
            for i in 0..len / P {
                let p = m.pages.get_mut(&(addr + i * P)).unwrap();
                if let Content::Private(_) = p.content {
                    p.content = Content::Unknown;
                }
            }
        }
        "madvise"
    }

    fn op_fork(&mut self) -> &'static str {
        if self.model.spaces.len() >= MAX_SPACES {
            return self.op_exit();
        }
        let s = self.pick_space();
        let c = match self.sim.vm.fork(s, &mut self.sim.pmap) {
            Ok(c) => c,
            Err(e) => self.fail(&format!("fork: {e:?}")),
        };
        let copy = self.model.spaces[&s].clone();
        self.model.spaces.insert(c, copy);
        "fork"
    }

    fn op_exit(&mut self) -> &'static str {
        let s = self.pick_space();
        let got = self.sim.vm.exit(s, &mut self.sim.pmap);
        self.expect("exit", got, Ok(()));
        self.model.spaces.remove(&s);
        if self.model.spaces.is_empty() {
            let n = self.sim.vm.space_create(&mut self.sim.pmap).unwrap();
            self.model.spaces.insert(n, MSpace::default());
        }
        "exit"
    }

    fn op_mlock(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len) = self.pick_range(4);
        let mapped = self.fully_mapped(s, addr, len);
        let want = if mapped {
            Ok(())
        } else {
            Err(VmError::NoMapping)
        };
        if self.rng.gen_bool(0.5) {
            let got = self.sim.vm.mlock(s, addr, len, &mut self.sim.pmap);
            self.expect("mlock", got, want);
            // mlock faulted the pages in: Unknown pages are now whatever is there.
        } else {
            let got = self.sim.vm.munlock(s, addr, len);
            self.expect("munlock", got, want);
        }
        "mlock"
    }

    fn access_want(&self, s: SpaceId, va: u64, write: bool) -> Result<(), VmError> {
        match self.model.spaces[&s].pages.get(&(va & !(P - 1))) {
            None => Err(VmError::NoMapping),
            Some(p) => {
                let need = if write { Prot::WRITE } else { Prot::READ };
                if p.prot.contains(need) {
                    Ok(())
                } else {
                    Err(VmError::Protection)
                }
            }
        }
    }

    fn op_read(&mut self) -> &'static str {
        let s = self.pick_space();
        let page = self.base + self.rng.gen_range(0..WIN_PAGES) * P;
        let off = self.rng.gen_range(0..P);
        let len = self.rng.gen_range(1..=64).min(P - off) as usize;
        let va = page + off;
        let want = self.access_want(s, va, false);
        let mut buf = vec![0u8; len];
        let got = self.sim.read(s, va, &mut buf);
        self.expect("read", got, want);
        if got.is_ok() {
            self.compare_page(s, page, off as usize, &buf, "read");
        }
        "read"
    }

    /// Compare bytes read with the model; an Unknown page adopts them
    /// (reading the whole page so the model learns all of it).
    fn compare_page(&mut self, s: SpaceId, page: u64, off: usize, got: &[u8], what: &str) {
        let c = self.model.spaces[&s].pages[&page].content.clone();
        match self.model.bytes(&c) {
            Some(want) => {
                if want[off..off + got.len()] != *got {
                    let i = (0..got.len()).find(|&i| want[off + i] != got[i]).unwrap();
                    self.fail(&format!(
                        "{what} {s:?} {:#x}: byte {:#x} is {:#x}, model {:#x}",
                        page,
                        off + i,
                        got[i],
                        want[off + i]
                    ));
                }
            }
            None => {
                let mut full = vec![0u8; P as usize];
                self.sim.read(s, page, &mut full).unwrap();
                let m = self.model.spaces.get_mut(&s).unwrap();
                m.pages.get_mut(&page).unwrap().content = Content::Private(Rc::new(full));
            }
        }
    }

    fn op_write(&mut self) -> &'static str {
        let s = self.pick_space();
        let page = self.base + self.rng.gen_range(0..WIN_PAGES) * P;
        let off = self.rng.gen_range(0..P);
        let len = self.rng.gen_range(1..=32).min(P - off) as usize;
        let va = page + off;
        let want = self.access_want(s, va, true);
        let data: Vec<u8> = (0..len).map(|_| self.rng.gen()).collect();
        // An Unknown page must be learned before it is partly overwritten.
        if want.is_ok() {
            if let Content::Unknown = self.model.spaces[&s].pages[&page].content {
                let prot = self.model.spaces[&s].pages[&page].prot;
                if prot.contains(Prot::READ) {
                    self.compare_page(s, page, 0, &[], "learn");
                } else {
                    // Cannot read it: skip the write to keep the model exact.
                    return "write";
                }
            }
        }
        let got = self.sim.write(s, va, &data);
        self.expect("write", got, want);
        if got.is_ok() {
            let m = self.model.spaces.get_mut(&s).unwrap();
            let p = m.pages.get_mut(&page).unwrap();
            match &mut p.content {
                Content::Private(b) => {
                    Rc::make_mut(b)[off as usize..off as usize + len].copy_from_slice(&data)
                }
                Content::Shared(seg, i) => {
                    let (seg, i) = (*seg, *i);
                    let b = self.model.segs[seg]
                        .entry(i)
                        .or_insert_with(|| vec![0; P as usize]);
                    b[off as usize..off as usize + len].copy_from_slice(&data);
                }
                Content::Unknown => unreachable!(),
            }
        }
        "write"
    }

    /// Read every readable page of every space and compare it all.
    fn sweep(&mut self) {
        let all: Vec<(SpaceId, u64, Prot)> = self
            .model
            .spaces
            .iter()
            .flat_map(|(&s, m)| m.pages.iter().map(move |(&va, p)| (s, va, p.prot)))
            .collect();
        for (s, va, prot) in all {
            if !prot.contains(Prot::READ) {
                continue;
            }
            let mut buf = vec![0u8; P as usize];
            if let Err(e) = self.sim.read(s, va, &mut buf) {
                self.fail(&format!("sweep read {s:?} {va:#x}: {e:?}"));
            }
            self.compare_page(s, va, 0, &buf, "sweep");
        }
    }

    fn check(&self) {
        if let Err(e) = self.sim.check() {
            self.fail(&format!("invariant: {e}"));
        }
        // The maps cover exactly what the model has.
        for (s, m) in &self.model.spaces {
            let map = self.sim.vm.space(*s).unwrap().map();
            let mapped: u64 = map.size() / P;
            if mapped != m.pages.len() as u64 {
                self.fail(&format!(
                    "{s:?}: {mapped} pages mapped, model {}",
                    m.pages.len()
                ));
            }
            for (&va, p) in &m.pages {
                let e = map
                    .lookup(va)
                    .unwrap_or_else(|| self.fail(&format!("{va:#x} unmapped")));
                if e.prot() != p.prot {
                    self.fail(&format!(
                        "{va:#x}: prot {:?} vs model {:?}",
                        e.prot(),
                        p.prot
                    ));
                }
            }
        }
    }

    fn run(&mut self, ops: usize) {
        for step in 0..ops {
            self.step = step;
            self.op();
            let st = self.sim.vm.stats();
            self.peak = self.peak.max(st.npages - st.free);
            self.check();
            if step % 500 == 499 {
                self.sweep();
            }
            if step % 64 == 0 {
                if let Err(e) = self.sim.vm.check_page_queues() {
                    self.fail(&format!("page queues: {e}"));
                }
            }
        }
        self.sweep();
        self.check();
        // Exit everything: every page must come back.
        let ids: Vec<SpaceId> = self.model.spaces.keys().copied().collect();
        for s in ids {
            self.sim.vm.exit(s, &mut self.sim.pmap).unwrap();
        }
        self.model.spaces.clear();
        let st = self.sim.vm.stats();
        if st.free != st.npages || st.objects != 0 {
            self.fail(&format!(
                "after exit: {} free of {}, {} objects",
                st.free, st.npages, st.objects
            ));
        }
        self.sim.check().unwrap();
        self.sim.vm.check_page_queues().unwrap();
    }
}

fn run_seed(seed: u64, ops: usize) -> Uvmexp {
    let mut r = Runner::new(seed);
    r.run(ops);
    let st = r.sim.vm.stats();
    eprintln!(
        "seed {seed}: {ops} ops, peak {} pages in use, {:?}",
        r.peak, r.ops
    );
    st
}

#[test]
fn model_random_sequences() {
    if let Ok(seed) = std::env::var("VM_MODEL_SEED") {
        let seed: u64 = seed.parse().expect("VM_MODEL_SEED is a number");
        let ops =
            std::env::var("VM_MODEL_OPS").map_or(20_000, |v| v.parse().expect("VM_MODEL_OPS"));
        run_seed(seed, ops);
        return;
    }
    let mut total = 0;
    let mut agg = Uvmexp::default();
    for seed in 0..10u64 {
        let st = run_seed(seed, 10_500);
        total += 10_500;
        agg.flt_cow += st.flt_cow;
        agg.flt_zero += st.flt_zero;
        agg.flt_share += st.flt_share;
        agg.flt_prefault += st.flt_prefault;
        agg.collapses += st.collapses;
        agg.chain_merges += st.chain_merges;
        agg.forks += st.forks;
        agg.shadows += st.shadows;
    }
    eprintln!(
        "{total} ops: cow {} zero {} share {} prefault {} collapses {} merges {} forks {} shadows {}",
        agg.flt_cow, agg.flt_zero, agg.flt_share, agg.flt_prefault, agg.collapses, agg.chain_merges, agg.forks, agg.shadows
    );
    assert!(total >= 100_000);
    // The run must actually exercise the interesting paths.
    assert!(agg.flt_cow > 0 && agg.collapses > 0 && agg.forks > 0 && agg.flt_share > 0);
}
