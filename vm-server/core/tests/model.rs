//! The model test: random operation sequences on several address spaces, checked byte for byte against a simple reference model, with structural invariants after every step.
//!
//! The model is a map per space from page address to page state; a page
//! is private bytes, a page of a shared segment, a private view of a
//! shared page not yet written ("over"), or private bytes `MADV_FREE` let
//! go (old or zero: the one place the table allows several outcomes,
//! settled by looking at the VM after each step). Fork copies the map,
//! honouring each page's inheritance. Shared-memory objects are segments
//! with a size; handles are per space. The model follows
//! `docs/semantics.md`; each operation cites the rows it checks.
//!
//! Seeds: `VM_MODEL_SEED=<n>` runs that one seed (`VM_MODEL_OPS` sets its
//! length, default 20,000); by default a fixed set of seeds runs, over
//! 100,000 operations in all. A failure prints the seed and step.
//! `cargo qemu sweep` runs many seeds on every core and reduces a failure
//! to its first divergence (`VM_MODEL_PEEK=1`: compare resident pages
//! after every step; `VM_MODEL_TRACE=<n>`: keep n operations for the
//! report; `VM_MODEL_WATCH=0x<va>`: describe one page after every step).
//!
//! Idle zeroing (`Vm::zero_idle`) runs every third step in four seeds of
//! five, so zero-fill faults take pre-zeroed frames as often as fresh
//! ones; every 64 steps each pre-zeroed free frame must hold zeros.
//!
//! Memory pressure (`model_under_memory_pressure`, seeds from 1000 on;
//! `VM_MODEL_PRESSURE=1` with `VM_MODEL_SEED` reruns one): the same
//! operations on a pool of 40 frames (32 pageable) with a RAM-disk swap
//! device that delays, reorders and fails requests, so paging is the
//! normal case. Allocation failures (`OutOfMemory`, `NoSwap`) are allowed
//! where the model says success and leave the model unchanged; an
//! injected read error may fail only the access it hits (`Io`), after
//! which every byte must still match. mlock there only wires ranges
//! without private views of shared pages (a wiring that fails half way
//! would leave copies the model cannot place) and at most a few pages.
//! At the end all spaces but one exit and swapoff runs: it must succeed
//! (then every page is compared again) or fail cleanly with
//! `OutOfMemory`/`Io`. Seeds rotate through the
//! built-in CLOCK and vm-swap's CLOCK, 2Q and CLOCK-Pro policies.
//!
//! Large pages (semantics: large-pages): seeds with `seed % 4 == 3` get
//! 2 to 4 large regions, a second window of three 2 MiB chunks where
//! mmap sometimes places 2 MiB-aligned private entries of 2 to 5 MiB,
//! and madvise HugePage/NoHugePage; the other ops reach into that window
//! now and then. Every other one (`seed % 8 == 7`) also runs transparent
//! large pages (`VmConfig::large_transparent`). The model is unchanged: clients observe nothing but
//! speed, and the simulator panics on a 4 KiB mapping of a region frame.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::rc::Rc;
use vm_core::page::PageFlags;
use vm_core::sim::Sim;
use vm_core::*;

const P: u64 = PAGE_SIZE;
const FRAMES: u32 = 1536;
/// The pool under memory pressure: 32 pageable frames for a working set
/// of up to 4 spaces x 96 pages (at least eight times as large, checked).
const PRESSURE_FRAMES: u32 = 40;
const MAX_SPACES: usize = 4;
/// The model's address window: small, so operations collide often.
const WIN_PAGES: u64 = 96;
/// Pages of one 2 MiB large page, and of the large-page seeds' second
/// window (three of them).
const LARGE: u64 = 512;
const LWIN_PAGES: u64 = 3 * LARGE;

#[derive(Clone)]
enum Content {
    /// Private bytes (shared by Rc until written: the model's own COW).
    Private(Rc<Vec<u8>>),
    /// Page `i` of segment `s`.
    Shared(usize, u64),
    /// A private view of page `i` of segment `s`, not yet written.
    Over(usize, u64),
    /// Private bytes `MADV_FREE` let go (semantics: madvise-free-private):
    /// each access sees these bytes or zero; zero once seen stays, and
    /// a write keeps whichever it found. Settled by looking at the page
    /// after each access (`settle_free`).
    Free(Rc<Vec<u8>>),
}

#[derive(Clone)]
struct MPage {
    prot: Prot,
    max: Prot,
    inh: Inheritance,
    wired: u16,
    content: Content,
    /// The shared page under a private view (segment, page): what
    /// MADV_DONTNEED brings back, even after the page was written.
    view: Option<(usize, u64)>,
}

#[derive(Clone, Default)]
struct MSpace {
    pages: BTreeMap<u64, MPage>,
    handles: BTreeMap<Handle, (usize, Prot)>,
}

struct Seg {
    pages: BTreeMap<u64, Vec<u8>>,
    /// Size in pages (`u64::MAX` for anonymous shared memory).
    size: u64,
    /// A physical object: fixed size, cannot be truncated.
    physical: bool,
    /// A pager object (docs/pager.md): the key of its file in the test's
    /// RAM pager, whose pages are the segment's initial contents.
    file: Option<u64>,
}

/// Frames at the top of the pool handed to a physical object at start.
const PHYS_PAGES: u32 = 8;
/// The external pager of the model's files, and their sizes in pages.
const PAGER: u32 = 3;
const FILE_PAGES: [u64; 2] = [6, 12];

struct Runner {
    sim: Sim,
    /// Memory-pressure mode: tiny pool plus swap (see the module docs).
    pressure: bool,
    /// Peak of mapped pages over all spaces (the working set's bound).
    peak_mapped: u64,
    /// Accesses failed by injected read errors, and allocation failures.
    io_errors: u64,
    alloc_failures: u64,
    /// Seeds whose final swapoff succeeded.
    swapoffs: u64,
    spaces: BTreeMap<SpaceId, MSpace>,
    segs: Vec<Seg>,
    zero: Rc<Vec<u8>>,
    rng: SmallRng,
    base: u64,
    seed: u64,
    step: usize,
    ops: BTreeMap<&'static str, u64>,
    peak: u32,
    phys: ObjectId,
    /// Steps between full sweeps (`VM_MODEL_SWEEP`, to narrow a failure).
    sweep_every: usize,
    /// Zero free frames in "idle time" now and then (`Vm::zero_idle`;
    /// four seeds in five).
    zero_idle: bool,
    /// The last operations, for failure reports (`VM_MODEL_TRACE` of
    /// them, default 40).
    trace: std::collections::VecDeque<String>,
    trace_len: usize,
    /// A page to describe after every step (`VM_MODEL_WATCH=0x...`).
    watch: Option<u64>,
    /// Large-page seeds: the 2 MiB-aligned second window's first address.
    large: Option<u64>,
}

fn prot_from(r: u8) -> Prot {
    match r % 5 {
        0 => Prot::READ,
        1 | 4 => Prot::RW,
        2 => Prot::NONE,
        _ => Prot::RW | Prot::EXEC,
    }
}

impl Runner {
    fn new(seed: u64, pressure: bool) -> Self {
        // Vary the tunables by seed: the shortest chain limit forces merges,
        // and fault-around on or off changes which faults happen.
        let mut cfg = VmConfig {
            prefault_min_free: 32,
            max_chain_depth: [5, 3, 4][seed as usize % 3],
            prefault_ahead: [4, 0, 8, 2][seed as usize % 4],
            prefault_behind: [3, 0, 1, 2][seed as usize % 4],
            prefault_zero_fill: seed % 5 != 4,
            // Copy-on-write copies up on one seed in seven.
            cow_trade: seed % 7 != 6,
            ..VmConfig::default()
        };
        let large_seed = seed % 4 == 3;
        let frames = match (pressure, large_seed) {
            (true, _) => PRESSURE_FRAMES,
            // Without swap every page of the large window, in every
            // space and their hidden copies, must fit.
            (false, true) => FRAMES + 3 * MAX_SPACES as u32 * LWIN_PAGES as u32,
            (false, false) => FRAMES,
        };
        if large_seed {
            cfg.large_pages = [2, 3, 4][(seed / 4) as usize % 3];
            // Every other large seed: transparent promotion too.
            cfg.large_transparent = seed % 8 == 7;
        }
        if pressure {
            cfg.reserved_pages = 4;
            cfg.prefault_min_free = 8;
            cfg.pageout_cluster = [16, 4, 1][seed as usize % 3];
            cfg.pagein_ahead = [8, 0, 3][seed as usize % 3];
            cfg.pagein_behind = [7, 0, 2][seed as usize % 3];
            cfg.pagein_adaptive = seed % 4 < 2;
            // Adaptive windows past the request limit (16) take several
            // requests.
            cfg.pagein_window = [16, 40, 5][(seed / 5) as usize % 3];
        }
        // The physical object is a device region past the pool on odd
        // seeds (as the server's are) and pool frames on even ones; the
        // pool keeps the same pageable frames either way.
        let device = seed % 2 == 1;
        let pool = if device { frames - PHYS_PAGES } else { frames };
        let mut sim = Sim::new(cfg, pool);
        if pressure {
            let mut d = vm_swap::RamDisk::new(4096, 32);
            d.seed(seed)
                .set_delay(vm_swap::Delay::Random(4))
                .set_reorder(seed.is_multiple_of(2))
                .error_probability(0.002, 0.01);
            // Half the seeds move pages straight to and from frames
            // (frame lists, as the server's swap device), half through
            // staging copies.
            if (seed / 3).is_multiple_of(2) {
                d.attach_memory(sim.pmap.memory());
            }
            sim.vm
                .swap_on(Box::new(vm_swap::SwapPager::new(d, 16)))
                .unwrap();
            // Every policy the server can run, in turn by seed.
            let (_, make) = vm_swap::POLICIES[seed as usize % vm_swap::POLICIES.len()];
            let policy_frames = sim.vm.policy_frames();
            sim.vm.set_replacement_policy(make(policy_frames));
        }
        let s = sim.vm.space_create(&mut sim.pmap).unwrap();
        if pressure && seed % 3 == 1 {
            // The first family's own pageout (semantics: quota-resident,
            // quota-swap): it may hold a third of the pool and swap.
            let limits = Limits {
                resident_pages: 12,
                swap_slots: 1200,
                ..Limits::UNLIMITED
            };
            sim.vm.set_limits(s, limits, &mut sim.pmap).unwrap();
        }
        // A physical (device) object, reachable through a handle.
        let phys = if device {
            sim.device_create(PHYS_PAGES).unwrap().0
        } else {
            sim.vm
                .create_physical(FrameNumber(frames - PHYS_PAGES), PHYS_PAGES)
                .unwrap()
        };
        let ph = sim.vm.handle_insert(s, phys, Prot::RW).unwrap();
        let mut spaces = BTreeMap::new();
        let mut first = MSpace::default();
        first.handles.insert(ph, (0, Prot::RW));
        let mut segs = vec![Seg {
            pages: BTreeMap::new(),
            size: PHYS_PAGES as u64,
            physical: true,
            file: None,
        }];
        // Files of an external pager (semantics: map-shared-file,
        // map-private-file), created by the first space: their pages come
        // from the pager, late and in any order under pressure, where
        // reads and write-backs also fail now and then.
        let mut rng = SmallRng::seed_from_u64(seed ^ 0xf11e);
        let mut pager = vm_core::ram_pager::RamPager::new(seed);
        if pressure {
            pager.delay = 3;
            pager.reorder = seed.is_multiple_of(2);
            pager.fail_per_mille = 3;
        }
        let mut files = Vec::new();
        for (k, &n) in FILE_PAGES.iter().enumerate() {
            let bytes: Vec<u8> = (0..n * P).map(|_| rng.gen()).collect();
            pager.files.insert(k as u64, bytes.clone());
            files.push((k as u64, n, bytes));
        }
        sim.vm.pager_attach(PAGER, Box::new(pager)).unwrap();
        for (key, n, bytes) in files {
            let h = sim.vm.pager_create(s, PAGER, key, n).unwrap();
            first.handles.insert(h, (segs.len(), Prot::RW));
            segs.push(Seg {
                pages: bytes
                    .chunks(P as usize)
                    .enumerate()
                    .map(|(i, c)| (i as u64, c.to_vec()))
                    .collect(),
                size: n,
                physical: false,
                file: Some(key),
            });
        }
        spaces.insert(s, first);
        let base = sim.vm.config().user_min + 0x100_0000;
        let large = large_seed.then(|| (base + WIN_PAGES * P + 2 * LARGE * P) & !(LARGE * P - 1));
        Runner {
            large,
            base,
            sim,
            pressure,
            peak_mapped: 0,
            io_errors: 0,
            alloc_failures: 0,
            swapoffs: 0,
            spaces,
            segs,
            phys,
            zero: Rc::new(vec![0; P as usize]),
            rng: SmallRng::seed_from_u64(seed),
            seed,
            step: 0,
            ops: BTreeMap::new(),
            peak: 0,
            zero_idle: seed % 5 != 4,
            sweep_every: std::env::var("VM_MODEL_SWEEP")
                .map_or(500, |v| v.parse().expect("VM_MODEL_SWEEP")),
            trace: Default::default(),
            watch: std::env::var("VM_MODEL_WATCH").ok().map(|v| {
                u64::from_str_radix(v.trim_start_matches("0x"), 16).expect("VM_MODEL_WATCH")
            }),
            trace_len: std::env::var("VM_MODEL_TRACE")
                .map_or(40, |v| v.parse().expect("VM_MODEL_TRACE")),
        }
    }

    fn fail(&self, msg: &str) -> ! {
        let trace: Vec<&str> = self.trace.iter().map(|s| s.as_str()).collect();
        panic!(
            "model test failed: seed {} step {}: {msg}\nlast operations:\n  {}\n(rerun with VM_MODEL_SEED={})",
            self.seed,
            self.step,
            trace.join("\n  "),
            self.seed
        );
    }

    fn log(&mut self, s: String) {
        if self.trace.len() == self.trace_len {
            self.trace.pop_front();
        }
        self.trace.push_back(s);
    }

    fn pick_space(&mut self) -> SpaceId {
        let ids: Vec<SpaceId> = self.spaces.keys().copied().collect();
        ids[self.rng.gen_range(0..ids.len())]
    }

    fn pick_range(&mut self, max_pages: u64) -> (u64, u64) {
        if let Some(lb) = self.large {
            if self.rng.gen_bool(0.25) {
                // In the large window, often across a chunk boundary.
                let n = self.rng.gen_range(1..=max_pages);
                let first = if self.rng.gen_bool(0.5) {
                    let edge = self.rng.gen_range(1..3) * LARGE;
                    edge - self.rng.gen_range(0..n)
                } else {
                    self.rng.gen_range(0..LWIN_PAGES - n)
                };
                return (lb + first * P, n * P);
            }
        }
        let n = self.rng.gen_range(1..=max_pages);
        let first = self.rng.gen_range(0..WIN_PAGES - n);
        (self.base + first * P, n * P)
    }

    /// A page to access: in the small window, or now and then (large-page
    /// seeds) in the large one.
    fn pick_page(&mut self) -> u64 {
        if let Some(lb) = self.large {
            if self.rng.gen_bool(0.3) {
                return lb + self.rng.gen_range(0..LWIN_PAGES) * P;
            }
        }
        self.base + self.rng.gen_range(0..WIN_PAGES) * P
    }

    fn pages_of(&self, s: SpaceId, addr: u64, len: u64) -> Option<Vec<&MPage>> {
        let m = &self.spaces[&s];
        (0..len / P).map(|i| m.pages.get(&(addr + i * P))).collect()
    }

    fn expect<T: std::fmt::Debug>(
        &mut self,
        what: &str,
        got: &Result<T, VmError>,
        want: Result<(), VmError>,
    ) {
        let g = got.as_ref().map(|_| ()).map_err(|e| *e);
        if self.pressure && want.is_ok() && g != want {
            match g {
                // The operation did nothing; the caller leaves the model.
                Err(
                    VmError::OutOfMemory
                    | VmError::NoSwap
                    | VmError::QuotaExceeded(Quota::Resident | Quota::Swap),
                ) => {
                    self.alloc_failures += 1;
                    return;
                }
                Err(VmError::Io) if matches!(what, "read" | "write" | "mlock" | "msync") => {
                    self.io_errors += 1;
                    return;
                }
                _ => {}
            }
        }
        if g != want {
            self.fail(&format!("{what}: got {got:?}, model says {want:?}"));
        }
    }

    /// The bytes a page holds, or why it cannot be accessed.
    fn bytes(&self, c: &Content) -> Result<Vec<u8>, VmError> {
        match c {
            Content::Private(b) | Content::Free(b) => Ok(b.to_vec()),
            Content::Shared(s, i) | Content::Over(s, i) => {
                let seg = &self.segs[*s];
                if *i >= seg.size {
                    return Err(VmError::BeyondObject);
                }
                Ok(seg
                    .pages
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| vec![0; P as usize]))
            }
        }
    }

    fn pager(&mut self) -> &mut vm_core::ram_pager::RamPager {
        self.sim.vm.pager_device_mut(PAGER).expect("pager attached")
    }

    fn new_seg(&mut self, size: u64) -> usize {
        self.segs.push(Seg {
            pages: BTreeMap::new(),
            size,
            physical: false,
            file: None,
        });
        self.segs.len() - 1
    }

    fn op(&mut self) {
        let r = self.rng.gen_range(0..1000);
        let name = match r {
            0..=89 => self.op_mmap(),
            90..=129 => self.op_map_shm(),
            130..=149 => self.op_shm_create(),
            150..=164 => self.op_handle_share(),
            165..=174 => self.op_handle_close(),
            175..=189 => self.op_truncate(),
            190..=239 => self.op_munmap(),
            240..=309 => self.op_mprotect(),
            310..=349 => self.op_madvise(),
            350..=369 => self.op_minherit(),
            370..=399 => self.op_fork(),
            400..=414 => self.op_exit(),
            415..=439 => self.op_mlock(),
            440..=449 => self.op_msync(),
            450..=459 => self.op_refmod(),
            460..=699 => self.op_read(),
            _ => self.op_write(),
        };
        *self.ops.entry(name).or_default() += 1;
    }

    fn install(&mut self, s: SpaceId, at: u64, pages: Vec<MPage>) {
        let m = self.spaces.get_mut(&s).unwrap();
        for (i, p) in pages.into_iter().enumerate() {
            m.pages.insert(at + i as u64 * P, p);
        }
    }

    fn placement(&mut self, args: &mut MmapArgs, addr: u64) -> (bool, bool) {
        let fixed = self.rng.gen_bool(0.7);
        let noreplace = fixed && self.rng.gen_bool(0.3);
        if fixed {
            *args = args.fixed(addr);
            if noreplace {
                args.flags |= MapFlags::NOREPLACE;
            }
        } else {
            args.addr = addr;
        }
        (fixed, noreplace)
    }

    /// Run an mmap and return where it landed, checking errors.
    fn do_mmap(&mut self, s: SpaceId, args: &MmapArgs, want: Result<(), VmError>) -> Option<u64> {
        let (addr, len) = (args.addr, args.len);
        let free = (0..len / P).all(|i| !self.spaces[&s].pages.contains_key(&(addr + i * P)));
        let want = match want {
            Ok(()) if args.flags.contains(MapFlags::NOREPLACE) && !free => Err(VmError::Exists),
            w => w,
        };
        let got = self.sim.vm.mmap(s, args, &mut self.sim.pmap);
        self.expect("mmap", &got, want);
        let at = got.ok()?;
        if args.flags.contains(MapFlags::FIXED) && at != addr {
            self.fail("fixed mmap moved");
        }
        Some(at)
    }

    fn op_mmap(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len, big) = match self.large {
            // A 2 MiB-aligned entry of 2 to 5 MiB in the large window,
            // always FIXED (replacing what is there).
            Some(lb) if self.rng.gen_bool(0.2) => {
                let c = self.rng.gen_range(0..2u64);
                let n = self
                    .rng
                    .gen_range(2 * LARGE..=(5 * LARGE).min(LWIN_PAGES - c * LARGE));
                (lb + c * LARGE * P, n * P, true)
            }
            _ => {
                let (a, l) = self.pick_range(12);
                (a, l, false)
            }
        };
        let prot = prot_from(self.rng.gen());
        let shared = self.rng.gen_bool(0.25);
        let mut args = if shared {
            MmapArgs::anon_shared(len, prot)
        } else {
            MmapArgs::anon(len, prot)
        };
        if self.rng.gen_bool(0.15) {
            args.max_prot = Prot::READ;
        }
        if big {
            args = args.fixed(addr);
        } else {
            self.placement(&mut args, addr);
        }
        if !shared && self.rng.gen_bool(0.1) {
            args.flags |= MapFlags::OVERLAY;
        }
        let want = if args.max_prot.contains(prot) {
            Ok(())
        } else {
            Err(VmError::MaxProtection)
        };
        self.log(format!(
            "mmap {s:?} {addr:#x}+{len:#x} {prot:?} {:?}",
            args.flags
        ));
        let Some(at) = self.do_mmap(s, &args, want) else {
            return "mmap";
        };
        let seg = shared.then(|| self.new_seg(u64::MAX));
        let pages = (0..len / P)
            .map(|i| MPage {
                prot,
                max: args.max_prot,
                inh: if shared {
                    Inheritance::Share
                } else {
                    Inheritance::Copy
                },
                wired: 0,
                content: match seg {
                    Some(g) => Content::Shared(g, i),
                    None => Content::Private(self.zero.clone()),
                },
                view: None,
            })
            .collect();
        self.install(s, at, pages);
        if self.large.is_some() && len >= 2 * LARGE * P && self.rng.gen_bool(0.7) {
            // semantics: large-pages: the advice changes nothing visible.
            self.log(format!("madvise {s:?} {at:#x}+{len:#x} HugePage"));
            let got = self
                .sim
                .vm
                .madvise(s, at, len, Advice::HugePage, &mut self.sim.pmap);
            self.expect("madvise", &got, Ok(()));
        }
        "mmap"
    }

    fn pick_handle(&mut self, s: SpaceId) -> Option<(Handle, usize, Prot)> {
        let hs: Vec<_> = self.spaces[&s]
            .handles
            .iter()
            .map(|(&h, &(g, r))| (h, g, r))
            .collect();
        if hs.is_empty() {
            None
        } else {
            Some(hs[self.rng.gen_range(0..hs.len())])
        }
    }

    fn op_map_shm(&mut self) -> &'static str {
        let s = self.pick_space();
        let Some((h, seg, rights)) = self.pick_handle(s) else {
            return self.op_shm_create();
        };
        let (addr, len) = self.pick_range(8);
        let off = self.rng.gen_range(0..3u64);
        let prot = prot_from(self.rng.gen());
        let shared = self.rng.gen_bool(0.6);
        let mut args = MmapArgs::object(h, off * P, len, prot);
        if !shared {
            args.flags = MapFlags::PRIVATE;
        }
        self.placement(&mut args, addr);
        let mut need = prot;
        if !shared {
            need.remove(Prot::WRITE);
        }
        // semantics: device-map: no private view of device memory.
        let want = if !shared && self.segs[seg].physical {
            Err(VmError::InvalidArgument)
        } else if rights.contains(need) {
            Ok(())
        } else {
            Err(VmError::Protection)
        };
        self.log(format!(
            "map_shm {s:?} {h:?}=seg{seg} off {off} {addr:#x}+{len:#x} {prot:?} {:?}",
            args.flags
        ));
        let Some(at) = self.do_mmap(s, &args, want) else {
            return "map_shm";
        };
        let max = if shared {
            Prot::ALL & rights
        } else {
            Prot::ALL
        };
        let pages = (0..len / P)
            .map(|i| MPage {
                prot,
                max,
                inh: if shared {
                    Inheritance::Share
                } else {
                    Inheritance::Copy
                },
                wired: 0,
                content: if shared {
                    Content::Shared(seg, off + i)
                } else {
                    Content::Over(seg, off + i)
                },
                view: (!shared).then_some((seg, off + i)),
            })
            .collect();
        self.install(s, at, pages);
        "map_shm"
    }

    fn op_shm_create(&mut self) -> &'static str {
        let s = self.pick_space();
        let size = self.rng.gen_range(0..8u64);
        let h = self
            .sim
            .vm
            .shm_create(s, None, size * P, Prot::ALL)
            .unwrap();
        let g = self.new_seg(size);
        self.log(format!("shm_create {s:?} {h:?}=seg{g} {size}"));
        self.spaces
            .get_mut(&s)
            .unwrap()
            .handles
            .insert(h, (g, Prot::ALL));
        "shm_create"
    }

    fn op_handle_share(&mut self) -> &'static str {
        let s = self.pick_space();
        let Some((h, seg, rights)) = self.pick_handle(s) else {
            return "handle_share";
        };
        let to = self.pick_space();
        let want_rights = if self.rng.gen_bool(0.5) {
            Prot::READ
        } else {
            Prot::RW
        };
        // semantics: handle-share: only into a space that accepts, never
        // with more rights.
        let consent = self.rng.gen_bool(0.8);
        if consent {
            self.sim.vm.handle_accept(to, s, 1).unwrap();
        }
        let got = self.sim.vm.handle_share(s, h, to, want_rights);
        self.sim.vm.handle_accept(to, s, 0).unwrap();
        let want = if rights.contains(want_rights) && consent {
            Ok(())
        } else {
            Err(VmError::Protection)
        };
        self.expect("handle_share", &got, want);
        if let Ok(nh) = got {
            self.spaces
                .get_mut(&to)
                .unwrap()
                .handles
                .insert(nh, (seg, want_rights));
        }
        "handle_share"
    }

    fn op_handle_close(&mut self) -> &'static str {
        let s = self.pick_space();
        let Some((h, _, _)) = self.pick_handle(s) else {
            return "handle_close";
        };
        let got = self.sim.vm.handle_close(s, h);
        self.expect("handle_close", &got, Ok(()));
        self.spaces.get_mut(&s).unwrap().handles.remove(&h);
        "handle_close"
    }

    // semantics: truncate-wired; accesses past the end: truncate-beyond-*
    fn op_truncate(&mut self) -> &'static str {
        let s = self.pick_space();
        let Some((h, seg, rights)) = self.pick_handle(s) else {
            return "truncate";
        };
        let size = self.rng.gen_range(0..8u64);
        let busy = self.spaces.values().flat_map(|m| m.pages.values()).any(|p| {
            p.wired > 0 && matches!(p.content, Content::Shared(g, i) | Content::Over(g, i) if g == seg && i >= size)
        });
        let want = if self.segs[seg].physical {
            Err(VmError::InvalidArgument)
        } else if !rights.contains(Prot::WRITE) {
            Err(VmError::Protection)
        } else if busy {
            Err(VmError::Busy)
        } else {
            Ok(())
        };
        self.log(format!("truncate {s:?} {h:?}=seg{seg} {size}"));
        let got = if let Some(key) = self.segs[seg].file {
            // The pager truncates or extends its file with the object
            // (semantics: file-truncate): pages past the old end read zero.
            let want = if busy { Err(VmError::Busy) } else { Ok(()) };
            let got = self.sim.vm.pager_resize(s, h, size, &mut self.sim.pmap);
            if self.pressure && got == Err(VmError::Busy) && want.is_ok() {
                // A write-back of a page past the new end is in flight.
                return "truncate";
            }
            self.expect("pager_resize", &got, want);
            if got.is_ok() {
                let pager = self.pager();
                pager
                    .files
                    .get_mut(&key)
                    .unwrap()
                    .resize((size * P) as usize, 0);
            }
            got
        } else {
            let got = self.sim.vm.shm_truncate(s, h, size * P, &mut self.sim.pmap);
            self.expect("shm_truncate", &got, want);
            got
        };
        if got.is_ok() {
            let sg = &mut self.segs[seg];
            sg.pages.retain(|&i, _| i < size);
            sg.size = size;
        }
        "truncate"
    }

    // semantics: munmap-hole
    fn op_munmap(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len) = self.pick_range(16);
        self.log(format!("munmap {s:?} {addr:#x}+{len:#x}"));
        let got = self.sim.vm.munmap(s, addr, len, &mut self.sim.pmap);
        self.expect("munmap", &got, Ok(()));
        let m = self.spaces.get_mut(&s).unwrap();
        for i in 0..len / P {
            m.pages.remove(&(addr + i * P));
        }
        "munmap"
    }

    // semantics: mprotect-max
    fn op_mprotect(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len) = self.pick_range(8);
        let prot = prot_from(self.rng.gen());
        let want = match self.pages_of(s, addr, len) {
            None => Err(VmError::NoMapping),
            Some(ps) if ps.iter().any(|p| !p.max.contains(prot)) => Err(VmError::MaxProtection),
            Some(_) => Ok(()),
        };
        self.log(format!("mprotect {s:?} {addr:#x}+{len:#x} {prot:?}"));
        let got = self.sim.vm.mprotect(s, addr, len, prot, &mut self.sim.pmap);
        self.expect("mprotect", &got, want);
        if want.is_ok() {
            let m = self.spaces.get_mut(&s).unwrap();
            for i in 0..len / P {
                m.pages.get_mut(&(addr + i * P)).unwrap().prot = prot;
            }
        }
        "mprotect"
    }

    fn op_minherit(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len) = self.pick_range(8);
        let inh =
            [Inheritance::Share, Inheritance::Copy, Inheritance::None][self.rng.gen_range(0..3)];
        self.log(format!("minherit {s:?} {addr:#x}+{len:#x} {inh:?}"));
        let got = self.sim.vm.minherit(s, addr, len, inh);
        // semantics: minherit-share-private-file
        let private_file = (0..len / P).any(|i| {
            self.spaces[&s]
                .pages
                .get(&(addr + i * P))
                .is_some_and(|p| p.view.is_some_and(|(g, _)| self.segs[g].file.is_some()))
        });
        if inh == Inheritance::Share && private_file {
            self.expect("minherit", &got, Err(VmError::InvalidArgument));
            return "minherit";
        }
        // semantics: device-minherit-copy
        let device = (0..len / P).any(|i| {
            self.spaces[&s].pages.get(&(addr + i * P)).is_some_and(
                |p| matches!(p.content, Content::Shared(g, _) if self.segs[g].physical),
            )
        });
        if inh == Inheritance::Copy && device {
            self.expect("minherit", &got, Err(VmError::InvalidArgument));
            return "minherit";
        }
        self.expect("minherit", &got, Ok(()));
        let m = self.spaces.get_mut(&s).unwrap();
        for i in 0..len / P {
            if let Some(p) = m.pages.get_mut(&(addr + i * P)) {
                p.inh = inh;
            }
        }
        "minherit"
    }

    fn op_madvise(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len) = self.pick_range(8);
        let kinds = if self.large.is_some() { 8 } else { 6 };
        let advice = [
            Advice::Normal,
            Advice::Random,
            Advice::Sequential,
            Advice::WillNeed,
            Advice::DontNeed,
            Advice::Free,
            Advice::HugePage,
            Advice::NoHugePage,
        ][self.rng.gen_range(0..kinds)];
        // semantics: errors-order, madvise-dontneed-*, madvise-free-*:
        // errors first, then the effect.
        let want = match self.pages_of(s, addr, len) {
            None => Err(VmError::NoMapping),
            Some(ps)
                if matches!(advice, Advice::DontNeed | Advice::Free)
                    && ps.iter().any(|p| p.wired > 0) =>
            {
                Err(VmError::Busy)
            }
            Some(_) => Ok(()),
        };
        self.log(format!("madvise {s:?} {addr:#x}+{len:#x} {advice:?}"));
        let got = self
            .sim
            .vm
            .madvise(s, addr, len, advice, &mut self.sim.pmap);
        self.expect("madvise", &got, want);
        if want.is_err() {
            return "madvise";
        }
        for i in 0..len / P {
            let p = self
                .spaces
                .get_mut(&s)
                .unwrap()
                .pages
                .get_mut(&(addr + i * P))
                .unwrap();
            match (advice, &p.content, p.view) {
                // Private memory starts over from what it was mapped
                // from; shared memory keeps its contents.
                (Advice::DontNeed, Content::Shared(..), _) => {}
                (Advice::DontNeed, _, Some((g, i))) => p.content = Content::Over(g, i),
                (Advice::DontNeed, _, None) => {
                    p.content = Content::Private(Rc::new(vec![0; P as usize]))
                }
                // Private anonymous memory: old contents or zero. Views of
                // shared pages and shared memory keep theirs.
                (Advice::Free, Content::Private(b), None) if b.iter().any(|&x| x != 0) => {
                    p.content = Content::Free(b.clone())
                }
                _ => {}
            }
        }
        "madvise"
    }

    /// After an operation on `va` of `s` (an access that succeeded, with
    /// `written` applied if it wrote; an mlock; a fork): a page
    /// `MADV_FREE` left as "old or zero" must hold one of them, and is
    /// settled where the VM now keeps it (no longer `FREED`, on swap,
    /// or gone: zero).
    fn settle_free(&mut self, s: SpaceId, va: u64, written: Option<(usize, &[u8])>) {
        let Some(Content::Free(old)) = self.spaces[&s].pages.get(&va).map(|p| p.content.clone())
        else {
            return;
        };
        let zero = vec![0; P as usize];
        let new = match self.sim.vm.extract(s, va).unwrap() {
            Some(f) => {
                let now = self.sim.pmap.frame(f).to_vec();
                let mut cands = [old.to_vec(), zero];
                if let Some((off, data)) = written {
                    for c in &mut cands {
                        c[off..off + data.len()].copy_from_slice(data);
                    }
                }
                let freed = self
                    .sim
                    .vm
                    .pool()
                    .page(f)
                    .flags()
                    .contains(PageFlags::FREED);
                if now == cands[0] && written.is_none() && freed {
                    Content::Free(old)
                } else if now == cands[0] || now == cands[1] {
                    Content::Private(Rc::new(now))
                } else {
                    self.fail(&format!(
                        "{va:#x}: freed page is neither its old contents nor zero{}",
                        self.describe(va)
                    ));
                }
            }
            None if written.is_some() => self.fail(&format!("{va:#x}: written page not resident")),
            // On swap: the VM kept it, or zero-filled it after pageout
            // took it; the swap device holds which.
            None if self.sim.vm.page_on_swap(s, va).unwrap() => {
                let now = self.swapped_bytes(s, va);
                if now != *old && now != zero {
                    self.fail(&format!(
                        "{va:#x}: freed page on swap is neither its old contents nor zero"
                    ));
                }
                Content::Private(Rc::new(now))
            }
            None => Content::Private(Rc::new(zero)),
        };
        self.spaces
            .get_mut(&s)
            .unwrap()
            .pages
            .get_mut(&va)
            .unwrap()
            .content = new;
    }

    /// The contents of the page `s` sees at `va`, which is on swap, read
    /// from the RAM disk without faulting it in.
    fn swapped_bytes(&mut self, s: SpaceId, va: u64) -> Vec<u8> {
        let e = self.sim.vm.space(s).unwrap().map().lookup(va).unwrap();
        let rel = (va - e.start()) / P;
        let Ok(vm_core::Lookup::Swapped(d)) = e.chain().lookup(self.sim.vm.objects(), rel) else {
            self.fail(&format!("{va:#x}: not on swap"));
        };
        let l = e.chain().links()[d];
        let slot = self
            .sim
            .vm
            .objects()
            .get(l.object)
            .swap_slot(l.pindex(rel))
            .unwrap();
        let disk = self.sim.vm.swap_device_mut::<vm_swap::RamDisk>().unwrap();
        disk.peek(slot.block()).to_vec()
    }

    /// `settle_free` on every page left as "old or zero", after every
    /// operation.
    fn settle_all_free(&mut self) {
        let free: Vec<(SpaceId, u64)> = self
            .spaces
            .iter()
            .flat_map(|(&s, m)| {
                m.pages
                    .iter()
                    .filter(|(_, p)| matches!(p.content, Content::Free(_)))
                    .map(move |(&va, _)| (s, va))
            })
            .collect();
        for (s, va) in free {
            self.settle_free(s, va, None);
        }
    }

    // semantics: minherit-share-private, minherit-copy-shared, device-fork,
    // minherit-copy-private, minherit-none, fork-wired, fork-atomic
    fn op_fork(&mut self) -> &'static str {
        if self.spaces.len() >= MAX_SPACES {
            return self.op_exit();
        }
        let s = self.pick_space();
        let c = match self.sim.vm.fork(s, &mut self.sim.pmap) {
            Ok(c) => c,
            Err(
                e @ (VmError::OutOfMemory
                | VmError::NoSwap
                | VmError::Io
                | VmError::QuotaExceeded(Quota::Resident | Quota::Swap)),
            ) if self.pressure => {
                // Fork changes nothing when it fails.
                self.log(format!("fork {s:?} failed: {e:?}"));
                self.alloc_failures += 1;
                return "fork";
            }
            Err(e) => self.fail(&format!("fork: {e:?}")),
        };
        self.log(format!("fork {s:?} -> {c:?}"));
        let vas: Vec<u64> = self.spaces[&s].pages.keys().copied().collect();
        for &va in &vas {
            self.settle_free(s, va, None);
        }
        let mut child = MSpace {
            pages: BTreeMap::new(),
            handles: self.spaces[&s].handles.clone(),
        };
        for va in vas {
            let p = self.spaces[&s].pages[&va].clone();
            let cp = match p.inh {
                Inheritance::None => continue,
                // A shared page inherited by copy: the child's own copy of
                // what it holds now (zero past the object's end).
                // semantics: fork-copy-file: a copy of a shared file
                // mapping is a private view of the file.
                Inheritance::Copy if matches!(p.content, Content::Shared(g, _) if self.segs[g].file.is_some()) =>
                {
                    let Content::Shared(g, i) = p.content else {
                        unreachable!()
                    };
                    MPage {
                        wired: 0,
                        view: Some((g, i)),
                        content: Content::Over(g, i),
                        ..p
                    }
                }
                Inheritance::Copy if matches!(p.content, Content::Shared(..)) => MPage {
                    wired: 0,
                    view: None,
                    content: Content::Private(Rc::new(
                        self.bytes(&p.content)
                            .unwrap_or_else(|_| vec![0; P as usize]),
                    )),
                    ..p
                },
                Inheritance::Copy => MPage { wired: 0, ..p },
                Inheritance::Share => {
                    // Private pages and private views become one shared
                    // copy of what the parent sees now; contents
                    // MADV_FREE let go are what the page holds now.
                    let content = match p.content {
                        Content::Shared(..) => p.content.clone(),
                        ref c => {
                            let b = self.bytes(c).unwrap_or_else(|_| vec![0; P as usize]);
                            let g = self.new_seg(u64::MAX);
                            self.segs[g].pages.insert(0, b);
                            Content::Shared(g, 0)
                        }
                    };
                    let pp = self.spaces.get_mut(&s).unwrap().pages.get_mut(&va).unwrap();
                    pp.content = content.clone();
                    pp.view = None;
                    MPage {
                        wired: 0,
                        content,
                        view: None,
                        ..p
                    }
                }
            };
            child.pages.insert(va, cp);
        }
        self.spaces.insert(c, child);
        "fork"
    }

    fn op_exit(&mut self) -> &'static str {
        let s = self.pick_space();
        self.log(format!("exit {s:?}"));
        let got = self.sim.vm.exit(s, &mut self.sim.pmap);
        self.expect("exit", &got, Ok(()));
        self.spaces.remove(&s);
        if self.spaces.is_empty() {
            let n = self.sim.vm.space_create(&mut self.sim.pmap).unwrap();
            let ph = self.sim.vm.handle_insert(n, self.phys, Prot::RW).unwrap();
            let mut m = MSpace::default();
            m.handles.insert(ph, (0, Prot::RW));
            self.spaces.insert(n, m);
        }
        "exit"
    }

    // semantics: mlock-hole, mlock-beyond, mlock-pressure, mlock-stacking
    fn op_mlock(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len) = self.pick_range(4);
        let mapped = self.pages_of(s, addr, len).is_some();
        if self.pressure && self.rng.gen_bool(0.5) {
            // Under pressure a wiring may fail half way (out of memory)
            // after copying some pages: only ranges whose copies change
            // nothing the model sees (no private view of a shared page),
            // and few wired pages at a time, so memory stays pageable.
            let wired: u64 = self
                .spaces
                .values()
                .flat_map(|m| m.pages.values())
                .filter(|p| p.wired > 0)
                .count() as u64;
            let over = self
                .pages_of(s, addr, len)
                .is_some_and(|ps| ps.iter().any(|p| matches!(p.content, Content::Over(..))));
            if wired >= 6 || over {
                return "mlock";
            }
            self.log(format!("mlock {s:?} {addr:#x}+{len:#x}"));
            let got = self.sim.mlock(s, addr, len);
            let want = match self.pages_of(s, addr, len) {
                None => Err(VmError::NoMapping),
                Some(ps) => ps
                    .iter()
                    .filter(|p| p.wired == 0)
                    .map(|p| self.bytes(&p.content).map(|_| ()))
                    .find(|r| r.is_err())
                    .unwrap_or(Ok(())),
            };
            self.expect("mlock", &got, want);
            if want.is_ok() {
                // Pages it faulted for write keep what they hold now,
                // whether or not it then ran out of memory.
                for i in 0..len / P {
                    self.settle_free(s, addr + i * P, None);
                }
            }
            if got.is_ok() {
                let m = self.spaces.get_mut(&s).unwrap();
                for i in 0..len / P {
                    m.pages.get_mut(&(addr + i * P)).unwrap().wired = 1;
                }
            }
            return "mlock";
        }
        if self.rng.gen_bool(0.5) {
            if self.pressure
                && self.pages_of(s, addr, len).is_some_and(|ps| {
                    ps.iter().any(|p| {
                        p.wired == 0
                            && p.prot.contains(Prot::WRITE)
                            && matches!(p.content, Content::Over(..))
                    })
                })
            {
                // Under pressure it may run out of memory after copying
                // some of these views (semantics: mlock-write,
                // mlock-pressure): which ones, the model cannot know.
                return "mlock";
            }
            self.log(format!("mlock {s:?} {addr:#x}+{len:#x}"));
            let got = self.sim.mlock(s, addr, len);
            if !mapped {
                self.expect("mlock", &got, Err(VmError::NoMapping));
                return "mlock";
            }
            // semantics: mlock-beyond, mlock-write: a page past its object's end
            // fails it before anything is faulted; then the unwired pages
            // are faulted in, for write if writable (a private view of a
            // shared page becomes the caller's copy).
            let want = self
                .pages_of(s, addr, len)
                .unwrap()
                .iter()
                .filter(|p| p.wired == 0)
                .map(|p| self.bytes(&p.content).map(|_| ()))
                .find(|r| r.is_err())
                .unwrap_or(Ok(()));
            self.expect("mlock", &got, want);
            if got.is_ok() {
                for i in 0..len / P {
                    let va = addr + i * P;
                    let p = self.spaces[&s].pages[&va].clone();
                    if p.wired == 0 && p.prot.contains(Prot::WRITE) {
                        if let Content::Over(..) = p.content {
                            let b = self.bytes(&p.content).unwrap();
                            self.spaces
                                .get_mut(&s)
                                .unwrap()
                                .pages
                                .get_mut(&va)
                                .unwrap()
                                .content = Content::Private(Rc::new(b));
                        }
                    }
                    self.settle_free(s, va, None);
                }
                let m = self.spaces.get_mut(&s).unwrap();
                for i in 0..len / P {
                    m.pages.get_mut(&(addr + i * P)).unwrap().wired = 1;
                }
            }
        } else {
            self.log(format!("munlock {s:?} {addr:#x}+{len:#x}"));
            let got = self.sim.vm.munlock(s, addr, len);
            self.expect(
                "munlock",
                &got,
                if mapped {
                    Ok(())
                } else {
                    Err(VmError::NoMapping)
                },
            );
            if got.is_ok() {
                let m = self.spaces.get_mut(&s).unwrap();
                for i in 0..len / P {
                    let p = m.pages.get_mut(&(addr + i * P)).unwrap();
                    p.wired = 0;
                }
            }
        }
        "mlock"
    }

    // semantics: msync
    fn op_msync(&mut self) -> &'static str {
        let s = self.pick_space();
        let (addr, len) = self.pick_range(6);
        let want = match self.pages_of(s, addr, len) {
            None => Err(VmError::NoMapping),
            Some(ps) if ps.iter().any(|p| p.wired > 0) => Err(VmError::Busy),
            Some(_) => Ok(()),
        };
        self.log(format!("msync {s:?} {addr:#x}+{len:#x} SYNC|INVALIDATE"));
        let got = self.sim.vm.msync(
            s,
            addr,
            len,
            MsyncFlags::INVALIDATE | MsyncFlags::SYNC,
            &mut self.sim.pmap,
        );
        self.expect("msync", &got, want);
        if got.is_ok() {
            // semantics: msync-sync: shared file pages are on the store.
            for i in 0..len / P {
                let Some(p) = self.spaces[&s].pages.get(&(addr + i * P)) else {
                    continue;
                };
                let Content::Shared(g, pi) = p.content else {
                    continue;
                };
                let Some(key) = self.segs[g].file else {
                    continue;
                };
                let Ok(want) = self.bytes(&p.content) else {
                    continue;
                };
                if self.pager().page(key, pi) != want {
                    self.fail(&format!("msync: file {key} page {pi} is not on the store"));
                }
            }
        }
        "msync"
    }

    /// Clear the emulated reference or modified bit of a resident page,
    /// as the pageout scan will: contents must not change.
    fn op_refmod(&mut self) -> &'static str {
        let s = self.pick_space();
        let page = self.pick_page();
        let Ok(Some(f)) = self.sim.vm.extract(s, page) else {
            return "refmod";
        };
        // Clearing the modified bit is what a completed write-back does;
        // on a file page without one it would drop the write, as it would
        // in any VM (pmap_clear_modify's contract).
        let file_page = self.spaces[&s].pages.get(&page).is_some_and(|p| {
            matches!(p.content, Content::Shared(g, _) | Content::Over(g, _) if self.segs[g].file.is_some())
        });
        if file_page || self.rng.gen_bool(0.5) {
            self.log(format!("clear_reference {s:?} {page:#x} {f:?}"));
            self.sim.vm.page_clear_reference(f, &mut self.sim.pmap);
            if self.sim.vm.page_is_referenced(f, &self.sim.pmap) {
                self.fail("reference bit still set");
            }
        } else {
            self.log(format!("clear_modify {s:?} {page:#x} {f:?}"));
            self.sim.vm.page_clear_modify(f, &mut self.sim.pmap);
            if self.sim.vm.page_is_modified(f, &self.sim.pmap) {
                self.fail("modified bit still set");
            }
        }
        "refmod"
    }

    // semantics: fault-errors, truncate-beyond-shared, truncate-beyond-private
    fn access_want(&self, s: SpaceId, page: u64, write: bool) -> Result<(), VmError> {
        match self.spaces[&s].pages.get(&page) {
            None => Err(VmError::NoMapping),
            Some(p) => {
                let need = if write { Prot::WRITE } else { Prot::READ };
                if !p.prot.contains(need) {
                    Err(VmError::Protection)
                } else {
                    self.bytes(&p.content).map(|_| ())
                }
            }
        }
    }

    fn op_read(&mut self) -> &'static str {
        let s = self.pick_space();
        let page = self.pick_page();
        let off = self.rng.gen_range(0..P) as usize;
        let len = self.rng.gen_range(1..=64).min(P as usize - off);
        let want = self.access_want(s, page, false);
        let mut buf = vec![0u8; len];
        self.log(format!("read {s:?} {:#x} len {len}", page + off as u64));
        let got = self.sim.read(s, page + off as u64, &mut buf);
        self.expect("read", &got, want);
        if got.is_ok() {
            self.settle_free(s, page, None);
            self.compare(s, page, off, &buf, "read");
        }
        "read"
    }

    /// The model's and the VM's view of one page in every space.
    fn describe(&self, page: u64) -> String {
        let mut out = String::new();
        for (s, m) in &self.spaces {
            let mp = m.pages.get(&page).map(|p| {
                let c = match &p.content {
                    Content::Private(_) => "private".to_string(),
                    Content::Free(_) => "freed".to_string(),
                    Content::Shared(g, i) => format!("shared seg{g}[{i}]"),
                    Content::Over(g, i) => format!("over seg{g}[{i}]"),
                };
                format!(
                    "{c} {:?} {:?} wired {} view {:?}",
                    p.prot, p.inh, p.wired, p.view
                )
            });
            let e = self.sim.vm.space(*s).unwrap().map().lookup(page).map(|e| {
                format!(
                    "{:#x}..{:#x} {:?} {:?} chain {:?} frame {:?} {:?} on swap {:?}",
                    e.start(),
                    e.end(),
                    e.flags(),
                    e.inheritance(),
                    e.chain()
                        .links()
                        .iter()
                        .map(|l| (
                            l.object.0,
                            l.offset,
                            self.sim.vm.objects().get(l.object).ref_count()
                        ))
                        .collect::<Vec<_>>(),
                    self.sim.vm.extract(*s, page).unwrap(),
                    self.sim.vm.extract(*s, page).unwrap().map(|f| self
                        .sim
                        .vm
                        .pool()
                        .page(f)
                        .flags()),
                    self.sim.vm.page_on_swap(*s, page).unwrap()
                )
            });
            out += &format!("\n    {s:?}: model {mp:?}\n      vm {e:?}");
        }
        out
    }

    fn compare(&self, s: SpaceId, page: u64, off: usize, got: &[u8], what: &str) {
        let want = self.bytes(&self.spaces[&s].pages[&page].content).unwrap();
        if want[off..off + got.len()] != *got {
            let i = (0..got.len()).find(|&i| want[off + i] != got[i]).unwrap();
            self.fail(&format!(
                "{what} {s:?} {page:#x}: byte {:#x} is {:#x}, model {:#x}{}",
                off + i,
                got[i],
                want[off + i],
                self.describe(page)
            ));
        }
    }

    fn op_write(&mut self) -> &'static str {
        let s = self.pick_space();
        let page = self.pick_page();
        let off = self.rng.gen_range(0..P) as usize;
        let len = self.rng.gen_range(1..=32).min(P as usize - off);
        let want = self.access_want(s, page, true);
        let data: Vec<u8> = (0..len).map(|_| self.rng.gen()).collect();
        self.log(format!(
            "write {s:?} {:#x} len {len} [{:#x}..]",
            page + off as u64,
            data[0]
        ));
        let got = self.sim.write(s, page + off as u64, &data);
        self.expect("write", &got, want);
        if got.is_ok() {
            let content = self.spaces[&s].pages[&page].content.clone();
            let new = match content {
                Content::Free(_) => {
                    self.settle_free(s, page, Some((off, &data)));
                    return "write";
                }
                Content::Private(mut b) => {
                    Rc::make_mut(&mut b)[off..off + len].copy_from_slice(&data);
                    Content::Private(b)
                }
                Content::Over(..) => {
                    let mut b = self.bytes(&content).unwrap();
                    b[off..off + len].copy_from_slice(&data);
                    Content::Private(Rc::new(b))
                }
                Content::Shared(g, i) => {
                    let b = self.segs[g]
                        .pages
                        .entry(i)
                        .or_insert_with(|| vec![0; P as usize]);
                    b[off..off + len].copy_from_slice(&data);
                    Content::Shared(g, i)
                }
            };
            self.spaces
                .get_mut(&s)
                .unwrap()
                .pages
                .get_mut(&page)
                .unwrap()
                .content = new;
        }
        "write"
    }

    /// Read every readable page of every space and compare it all.
    fn sweep(&mut self) {
        let all: Vec<(SpaceId, u64)> = self
            .spaces
            .iter()
            .flat_map(|(&s, m)| m.pages.iter().map(move |(&va, _)| (s, va)))
            .collect();
        for (s, va) in all {
            let want = self.access_want(s, va, false);
            let mut buf = vec![0u8; P as usize];
            let got = self.sim.read(s, va, &mut buf);
            if self.pressure
                && want.is_ok()
                && matches!(
                    got,
                    Err(VmError::Io
                        | VmError::OutOfMemory
                        | VmError::NoSwap
                        | VmError::QuotaExceeded(Quota::Resident | Quota::Swap))
                )
            {
                continue;
            }
            if got != want {
                self.fail(&format!(
                    "sweep read {s:?} {va:#x}: got {got:?}, model {want:?}{}",
                    self.describe(va)
                ));
            }
            if got.is_ok() {
                self.settle_free(s, va, None);
                self.compare(s, va, 0, &buf, "sweep");
            }
        }
    }

    /// Compare every resident visible page with the model without
    /// faulting anything in (`VM_MODEL_PEEK`, to find where a difference
    /// starts without changing what pageout sees).
    fn peek(&self) {
        for (&s, m) in &self.spaces {
            for (&va, p) in &m.pages {
                let Ok(Some(f)) = self.sim.vm.extract(s, va) else {
                    continue;
                };
                if self.sim.vm.pool().page(f).flags().contains(PageFlags::BUSY) {
                    continue; // under I/O: its bytes are not settled
                }
                if matches!(p.content, Content::Free(_)) {
                    continue; // either of two contents: settled on access
                }
                let Ok(want) = self.bytes(&p.content) else {
                    continue;
                };
                if *self.sim.pmap.frame(f) != want[..] {
                    let got = self.sim.pmap.frame(f).to_vec();
                    self.compare(s, va, 0, &got, "peek");
                }
            }
        }
    }

    fn check(&self) {
        if std::env::var("VM_MODEL_PEEK").is_ok() {
            self.peek();
        }
        if let Err(e) = self.sim.check() {
            self.fail(&format!("invariant: {e}"));
        }
        if let Err(e) = self.sim.vm.check_swap() {
            self.fail(&format!("swap accounting: {e}"));
        }
        for (s, m) in &self.spaces {
            let map = self.sim.vm.space(*s).unwrap().map();
            if map.size() / P != m.pages.len() as u64 {
                self.fail(&format!(
                    "{s:?}: {} pages mapped, model {}",
                    map.size() / P,
                    m.pages.len()
                ));
            }
            // One lookup per entry, not per page: the large window's
            // entries hold thousands.
            let mut cur: Option<&vm_core::map::VmMapEntry> = None;
            for (&va, p) in &m.pages {
                let e = match cur {
                    Some(e) if e.start() <= va && va < e.end() => e,
                    _ => map
                        .lookup(va)
                        .unwrap_or_else(|| self.fail(&format!("{va:#x} unmapped"))),
                };
                cur = Some(e);
                if e.prot() != p.prot || e.wired_count() != p.wired || e.inheritance() != p.inh {
                    self.fail(&format!(
                        "{va:#x}: entry {:?}/{}/{:?} vs model {:?}/{}/{:?}",
                        e.prot(),
                        e.wired_count(),
                        e.inheritance(),
                        p.prot,
                        p.wired,
                        p.inh
                    ));
                }
            }
        }
    }

    fn run(&mut self, ops: usize) {
        for step in 0..ops {
            self.step = step;
            self.op();
            // Before the pageout below: a freed page a fault zero-filled
            // is seen here, before it can go to swap.
            self.settle_all_free();
            let st = self.sim.vm.stats();
            self.peak = self.peak.max(st.npages - st.free);
            let mapped: usize = self.spaces.values().map(|m| m.pages.len()).sum();
            self.peak_mapped = self.peak_mapped.max(mapped as u64);
            if self.zero_idle && step % 3 == 1 {
                // The server's idle thread: a batch of 1 to 4 frames.
                let n = 1 + (step / 3 % 4) as u32;
                self.sim.vm.zero_idle(&mut self.sim.pmap, n);
            }
            if self.pressure && step % 7 == 0 {
                // The server's loop: completions, then pageout when short.
                let done = self.sim.vm.swap_poll(&mut self.sim.pmap);
                self.sim.completed.extend(done);
                let want = self.sim.vm.pageout_shortage(false);
                if want > 0 {
                    self.sim.vm.pageout(&mut self.sim.pmap, want);
                }
            }
            self.check();
            if let Some(va) = self.watch {
                eprintln!(
                    "step {step}: {}{}",
                    self.trace.back().map_or("", |s| s),
                    self.describe(va)
                );
            }
            if step % self.sweep_every == self.sweep_every - 1 {
                self.sweep();
            }
            if step % 64 == 0 {
                if let Err(e) = self.sim.vm.check_page_queues() {
                    self.fail(&format!("page queues: {e}"));
                }
                if let Err(e) = self.sim.pmap.check_zeroed(&self.sim.vm) {
                    self.fail(&e);
                }
            }
        }
        self.sweep();
        self.check();
        if self.pressure {
            // Swapoff with one space left: it fits or fails cleanly.
            let ids: Vec<SpaceId> = self.spaces.keys().copied().skip(1).collect();
            for s in ids {
                self.sim.vm.exit(s, &mut self.sim.pmap).unwrap();
                self.spaces.remove(&s);
            }
            match self.sim.vm.swap_off(&mut self.sim.pmap) {
                Ok(_) => {
                    self.swapoffs += 1;
                    self.check();
                    self.sweep();
                }
                Err(VmError::OutOfMemory | VmError::Io) => {}
                Err(e) => self.fail(&format!("swap_off: {e:?}")),
            }
            self.check();
        }
        // Exit everything: every page and object must come back.
        let ids: Vec<SpaceId> = self.spaces.keys().copied().collect();
        for s in ids {
            self.sim.vm.exit(s, &mut self.sim.pmap).unwrap();
        }
        self.spaces.clear();
        self.sim.vm.object_release(self.phys).unwrap();
        self.sim.vm.swap_drain(&mut self.sim.pmap);
        // The pager's requests of dead objects still complete (their pages
        // are orphans until then).
        while self.pager().in_flight() > 0 {
            self.sim.vm.swap_poll(&mut self.sim.pmap);
        }
        self.sim.vm.swap_poll(&mut self.sim.pmap);
        let st = self.sim.vm.stats();
        if st.free != st.npages || st.objects != 0 || st.swpginuse != 0 || st.large_pages_used != 0
        {
            self.fail(&format!(
                "after exit: {} free of {}, {} objects, {} slots in use, {} large pages in use",
                st.free, st.npages, st.objects, st.swpginuse, st.large_pages_used
            ));
        }
        if let Some(sw) = self.sim.vm.swap() {
            if sw.busy() != 0 || sw.deferred_frees() != 0 {
                self.fail("swap pager still busy after every space exited");
            }
        }
        self.sim.check().unwrap();
        self.sim.vm.check_page_queues().unwrap();
    }
}

fn run_seed(seed: u64, ops: usize) -> Uvmexp {
    run_seed_in(seed, ops, false)
}

fn run_seed_in(seed: u64, ops: usize, pressure: bool) -> Uvmexp {
    let mut r = Runner::new(seed, pressure);
    r.run(ops);
    let st = r.sim.vm.stats();
    if st.large_pages > 0 {
        eprintln!(
            "seed {seed}: large pages: {} faults, {} allocated, {} pages demoted, {} cow copies, {} promotions",
            st.flt_large, st.large_allocs, st.large_demotes, st.large_cow_copies, st.large_promotes
        );
    }
    eprintln!(
        "seed {seed}: {ops} ops, peak {} pages in use, peak {} mapped, {} io errors, {} alloc failures, swapoff {}, {:?}",
        r.peak, r.peak_mapped, r.io_errors, r.alloc_failures, r.swapoffs, r.ops
    );
    if pressure {
        assert!(
            r.peak_mapped >= 8 * u64::from(PRESSURE_FRAMES - PHYS_PAGES),
            "seed {seed}: working set {} is not 8x the pool",
            r.peak_mapped
        );
    }
    r.sim.vm.stats()
}

#[test]
fn model_random_sequences() {
    if let Ok(seed) = std::env::var("VM_MODEL_SEED") {
        let seed: u64 = seed.parse().expect("VM_MODEL_SEED is a number");
        let ops =
            std::env::var("VM_MODEL_OPS").map_or(20_000, |v| v.parse().expect("VM_MODEL_OPS"));
        run_seed_in(seed, ops, std::env::var("VM_MODEL_PRESSURE").is_ok());
        return;
    }
    let (seeds, per_seed) = (10u64, 10_500);
    let mut agg = Uvmexp::default();
    for seed in 0..seeds {
        let st = run_seed(seed, per_seed);
        agg.flt_cow += st.flt_cow;
        agg.flt_zero += st.flt_zero;
        agg.flt_share += st.flt_share;
        agg.flt_prefault += st.flt_prefault;
        agg.collapses += st.collapses;
        agg.chain_merges += st.chain_merges;
        agg.forks += st.forks;
        agg.shadows += st.shadows;
    }
    let total = seeds as usize * per_seed;
    eprintln!(
        "{total} ops: cow {} zero {} share {} prefault {} collapses {} merges {} forks {} shadows {}",
        agg.flt_cow, agg.flt_zero, agg.flt_share, agg.flt_prefault, agg.collapses, agg.chain_merges, agg.forks, agg.shadows
    );
    assert!(total >= 100_000);
    // The run must actually exercise the interesting paths.
    assert!(
        agg.flt_cow > 0
            && agg.collapses > 0
            && agg.chain_merges > 0
            && agg.forks > 0
            && agg.flt_share > 0
    );
}

#[test]
fn model_under_memory_pressure() {
    if std::env::var("VM_MODEL_SEED").is_ok() {
        return; // model_random_sequences runs the one seed
    }
    let (seeds, per_seed) = (10u64, 10_000);
    let mut agg = Uvmexp::default();
    for seed in 1000..1000 + seeds {
        let st = run_seed_in(seed, per_seed, true);
        agg.pgswapout += st.pgswapout;
        agg.pgswapin += st.pgswapin;
        agg.pdfreed += st.pdfreed;
        agg.pddeact += st.pddeact;
        agg.flt_wait += st.flt_wait;
        agg.swap_io_errors += st.swap_io_errors;
        agg.forks += st.forks;
        agg.exits += st.exits;
        agg.chain_merges += st.chain_merges;
        agg.collapses += st.collapses;
    }
    eprintln!(
        "{} ops under pressure: swapout {} swapin {} freed clean {} deact {} waits {} io errors {} forks {} exits {} merges {} collapses {}",
        seeds as usize * per_seed,
        agg.pgswapout, agg.pgswapin, agg.pdfreed, agg.pddeact, agg.flt_wait, agg.swap_io_errors, agg.forks, agg.exits, agg.chain_merges, agg.collapses
    );
    assert!(seeds as usize * per_seed >= 100_000);
    assert!(
        agg.pgswapout > 0
            && agg.pgswapin > 0
            && agg.pdfreed > 0
            && agg.flt_wait > 0
            && agg.swap_io_errors > 0
            && agg.forks > 0
            && agg.exits > 0
    );
}

/// Seeds the long sweep found failing, each run to just past its first
/// divergence (docs/testing.md, "On record"): msync skipping a dirty file
/// page another space had wired (1933, 3278; 1956 under pressure,
/// semantics: msync-sync) and a fork that failed on the resident quota
/// after freezing a `Share` entry (3625 under pressure, semantics:
/// fork-atomic).
#[test]
fn model_seeds_the_long_sweep_found() {
    if std::env::var("VM_MODEL_SEED").is_ok() {
        return; // model_random_sequences runs the one seed
    }
    for (seed, ops, pressure) in [
        (1933, 800, false),
        (3278, 400, false),
        (1956, 900, true),
        (3625, 3600, true),
    ] {
        run_seed_in(seed, ops, pressure);
    }
}
