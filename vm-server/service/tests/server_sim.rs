//! Deterministic simulation of the VM server's own logic: the `Service` the seL4 binary runs, driven on the host by many simulated client threads in random interleavings, with a RAM-disk swap device that delays, reorders and fails requests; every byte read is checked against a model, and every frame, slot, object and saved reply must be back at the end.
//!
//! The platform (`SimPlatform`) is the VM core's simulated MMU plus a
//! record of what the service asked of the kernel: saved replies (each
//! must be answered or dropped exactly once), suspended and reaped
//! clients (each reaped once, after it was suspended, with a status the
//! simulation can explain), forked children (sometimes refused, to run
//! the service's failure path).
//!
//! A client thread runs an access by looking its page up in the MMU; a
//! miss becomes a `Message::Fault`. A reply resumes it at once; no reply
//! blocks it until the service resumes its saved reply (after a swap
//! signal), and then it runs the same access again, as the hardware
//! would. Requests go through `vm-api`'s client stub and wire format into
//! `Message::Request`. Completion signals arrive at random, and always
//! when every live thread is blocked.
//!
//! On half the seeds the RAM disk publishes completions quietly while
//! the server is awake, as the block server's channel does (vm-swap's
//! `device` docs, "Quiet completions"). The random signals would hide a
//! completion the server slept through, so after every message, when the
//! server would sleep, the simulation checks that it left none published
//! without a signal and no quiet stretch on with requests in flight
//! (after every fault, request, signal and idle call alike); and, in
//! every seed, that no fault waits with no request in flight, which only
//! a random signal would wake (the hang of docs/performance.md, "The
//! hang": a fault whose completion the waiters' poll took).
//!
//! The server's idle thread (`Message::Idle`) runs in four seeds of five:
//! often when every thread waits, now and then at any time; its saved
//! reply is the one outstanding at the end, and every pre-zeroed free
//! frame must hold zeros.
//!
//! Every third client the simulation starts (and each child it forks)
//! has the `swapctl` privilege and now and then switches swap off and on
//! again (`server_sim/swapctl.rs`); the others are refused.
//!
//! `VM_SIM_SEED=<n>` runs one seed (`VM_SIM_STEPS` steps, default 5,000);
//! by default a fixed set of seeds runs. `cargo qemu sweep --suite
//! server-sim` sweeps many. A failure prints the seed, step and the last
//! events.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::rc::Rc;
use vm_api::{
    ApiError, ForkReply, Inheritance, MapFlags as WireFlags, MmapRequest, Prot as WireProt,
    Transport, VmClient,
};
use vm_core::sim::SimPmap;
use vm_core::{Access, Prot, SpaceId, Vm, VmConfig, PAGE_SIZE};
use vm_service::{
    ClientId, ExitStatus, KernelCounters, Message, Outcome, Platform, Privileges, Service,
};
use vm_swap::{BlockDevice, Delay, RamDisk, SwapPager};

#[path = "server_sim/swapctl.rs"]
mod swapctl;

const P: u64 = PAGE_SIZE;
const FRAMES: u32 = 96;
/// Large regions of the large-page seeds, and one's bytes.
const LARGE_REGIONS: u32 = 3;
const LARGE: u64 = 2 << 20;
const WIN_PAGES: u64 = 64;
const BASE: u64 = 0x1000_0000;
const MAX_CLIENTS: usize = 6;

/// A saved reply: answered (`resume`) or dropped exactly once.
struct SimReply {
    id: u64,
    client: ClientId,
}

/// What the service asked of the kernel, for the simulation to act on.
#[derive(Default)]
struct SimPlatform {
    pmap: Option<SimPmap>,
    /// The client whose message is being handled (`save_reply` is its).
    current: Option<ClientId>,
    outstanding: BTreeMap<u64, ClientId>,
    next_reply: u64,
    resumed: Vec<ClientId>,
    suspended: BTreeSet<ClientId>,
    reaped: Vec<(ClientId, ExitStatus)>,
    spawned: Vec<(ClientId, ClientId)>,
    /// Probability that making a forked child's kernel objects fails.
    spawn_failure: f64,
    rng: Option<SmallRng>,
}

impl Platform for SimPlatform {
    type Pmap = SimPmap;
    type Reply = SimReply;

    fn pmap(&mut self) -> &mut SimPmap {
        self.pmap.as_mut().unwrap()
    }
    fn pmap_ref(&self) -> &SimPmap {
        self.pmap.as_ref().unwrap()
    }
    fn save_reply(&mut self) -> Result<SimReply, String> {
        let client = self.current.expect("a reply to save");
        self.next_reply += 1;
        self.outstanding.insert(self.next_reply, client);
        Ok(SimReply {
            id: self.next_reply,
            client,
        })
    }
    fn resume(&mut self, reply: SimReply) {
        assert_eq!(self.outstanding.remove(&reply.id), Some(reply.client));
        self.resumed.push(reply.client);
    }
    fn drop_reply(&mut self, reply: SimReply) {
        assert_eq!(self.outstanding.remove(&reply.id), Some(reply.client));
    }
    fn answer(&mut self, _: SimReply, _: &vm_service::ReplyMsg) {
        panic!("the simulation maps no files: no request waits");
    }
    fn suspend(&mut self, client: ClientId) {
        assert!(self.suspended.insert(client), "{client:#x} suspended twice");
    }
    fn reap(&mut self, client: ClientId, status: ExitStatus) {
        assert!(
            self.suspended.contains(&client),
            "{client:#x} reaped running"
        );
        self.reaped.push((client, status));
    }
    fn spawn_child(&mut self, parent: ClientId, child: ClientId, _: SpaceId) -> Result<(), String> {
        if self.rng.as_mut().unwrap().gen_bool(self.spawn_failure) {
            return Err("injected: no kernel objects".into());
        }
        self.spawned.push((parent, child));
        Ok(())
    }
    fn arm_read_failure(&mut self, vm: &mut Vm) -> bool {
        match vm.swap_device_mut::<RamDisk>() {
            Some(d) => {
                d.fail_next_reads(1);
                true
            }
            None => false,
        }
    }
    fn disarm_read_failure(&mut self, vm: &mut Vm) -> bool {
        let d = vm.swap_device_mut::<RamDisk>().expect("armed");
        let used = d.pending_read_failures() == 0;
        d.fail_next_reads(0);
        used
    }
    fn space_footprint(&self, space: SpaceId) -> (u64, u64) {
        (self.pmap_ref().mappings(space).count() as u64, 0)
    }
    fn kernel_counters(&self) -> KernelCounters {
        KernelCounters::default()
    }
    fn log(&mut self, _: fmt::Arguments) {}
}

/// A page of the model: private bytes or a page of a shared segment.
#[derive(Clone)]
enum Content {
    Private(Rc<Vec<u8>>),
    Shared(usize, u64),
}

#[derive(Clone)]
struct MPage {
    prot: Prot,
    inh: Inheritance,
    wired: bool,
    content: Content,
}

/// An access a thread is executing (again after each resume).
#[derive(Clone, Debug)]
struct Pending {
    va: u64,
    /// `None`: a read of `len` bytes; else the bytes to write.
    write: Option<Vec<u8>>,
    len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Run {
    Running,
    /// In a fault waiting for swap I/O.
    Blocked,
    /// In an `IdleWait` the idle thread answers when done.
    IdleWaiting,
}

struct SimClient {
    space: SpaceId,
    pages: BTreeMap<u64, MPage>,
    run: Run,
    pending: Option<Pending>,
    /// Its family has quotas (every other client the simulation starts):
    /// refusals and quota kills are its expected answers.
    limited: bool,
    /// Its family may switch swap off and on (every third client).
    swapctl: bool,
}

/// The request channel of one client into the service, through the wire
/// format. `replied` is false when the service sent nothing back.
struct Channel<'a> {
    svc: &'a mut Service<SimPlatform>,
    client: ClientId,
    replied: bool,
    /// The first broken sleep after a request (`sleep_violation`).
    violation: Option<String>,
}

impl Transport for Channel<'_> {
    fn call(&mut self, label: u64, words: &[u64], reply: &mut [u64]) -> (u64, usize) {
        self.svc.platform.current = Some(self.client);
        let out = self.svc.handle(Message::Request {
            client: self.client,
            label,
            words,
        });
        self.svc.platform.current = None;
        if self.violation.is_none() {
            self.violation = sleep_violation(self.svc);
        }
        match out {
            Outcome::Reply(r) => {
                self.replied = true;
                reply[..r.len].copy_from_slice(r.words());
                (r.label, r.len)
            }
            Outcome::NoReply => {
                self.replied = false;
                (u64::MAX, 0)
            }
        }
    }
}

struct Sim {
    svc: Service<SimPlatform>,
    clients: BTreeMap<ClientId, SimClient>,
    segs: Vec<BTreeMap<u64, Vec<u8>>>,
    rng: SmallRng,
    seed: u64,
    step: usize,
    trace: VecDeque<String>,
    /// Read requests the disk failed, and kills with `Io` they explain.
    io_kills: u64,
    /// Clients stopped for an access the model says is refused.
    expected_kills: BTreeMap<ClientId, ApiError>,
    stats: BTreeMap<&'static str, u64>,
    /// The client of the operation running has quotas.
    current_limited: bool,
    next_badge: ClientId,
    zero: Rc<Vec<u8>>,
    /// Reads the disk failed, as last seen while it was attached (none
    /// fail while it is detached).
    read_errors: u64,
    /// The server has an idle thread (four seeds in five), and it sleeps.
    idle: bool,
    idle_parked: bool,
}

/// Who the idle thread's saved reply belongs to: no client.
const IDLE_THREAD: ClientId = u64::MAX - 1;

/// What is wrong with the server sleeping now, after a message: no
/// completion may be waiting that no signal announces, and none may come
/// so (a quiet stretch on with requests in flight); and no fault may wait
/// with no request in flight whose completion would retry it.
fn sleep_violation(svc: &mut Service<SimPlatform>) -> Option<String> {
    if svc.waiting() > 0 && svc.vm.swap_io_in_flight() == 0 {
        return Some(format!(
            "the server sleeps with {} faults waiting and no request in flight",
            svc.waiting()
        ));
    }
    let d = svc.vm.swap_device_mut::<RamDisk>()?;
    let (unannounced, quiet, in_flight) = (d.unannounced(), d.quiet(), d.in_flight());
    if unannounced > 0 {
        return Some(format!(
            "the server sleeps through {unannounced} completions published quietly"
        ));
    }
    (quiet && in_flight > 0).then(|| {
        format!("the server sleeps in a quiet stretch with {in_flight} requests in flight")
    })
}

fn wire_prot(p: Prot) -> WireProt {
    WireProt::from_bits_truncate(p.bits().into())
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let cfg = VmConfig {
            reserved_pages: 4,
            prefault_min_free: 8,
            pageout_cluster: [16, 4, 1][seed as usize % 3],
            pagein_ahead: [8, 0, 3][seed as usize % 3],
            pagein_behind: [7, 0, 2][seed as usize % 3],
            pagein_adaptive: seed % 4 < 2,
            pagein_window: [16, 40, 5][(seed / 5) as usize % 3],
            max_chain_depth: [5, 3, 4][seed as usize % 3],
            large_pages: if seed % 4 == 3 { LARGE_REGIONS } else { 0 },
            large_transparent: seed % 8 == 7,
            // Copy-on-write copies up on one seed in seven.
            cow_trade: seed % 7 != 6,
            ..VmConfig::default()
        };
        let cfg_large = cfg.large_pages;
        let mut vm = Vm::new(cfg, FRAMES).unwrap();
        let pmap = SimPmap::with_large(FRAMES, cfg_large);
        let mut disk = RamDisk::new(8192, 32);
        disk.seed(seed)
            .set_delay(Delay::Random(6))
            .set_reorder(seed.is_multiple_of(2))
            .error_probability(0.002, 0.01);
        // Half the seeds move pages straight to and from frames (frame
        // lists, as the seL4 server's swap device does).
        if (seed / 3).is_multiple_of(2) {
            disk.attach_memory(pmap.memory());
        }
        disk.quiet_completions((seed / 5).is_multiple_of(2));
        vm.swap_on(Box::new(SwapPager::new(disk, 16))).unwrap();
        let platform = SimPlatform {
            pmap: Some(pmap),
            spawn_failure: 0.05,
            rng: Some(SmallRng::seed_from_u64(seed ^ 0x5eed)),
            ..SimPlatform::default()
        };
        let mut sim = Sim {
            svc: Service::new(vm, platform),
            clients: BTreeMap::new(),
            segs: Vec::new(),
            rng: SmallRng::seed_from_u64(seed),
            seed,
            step: 0,
            trace: VecDeque::new(),
            io_kills: 0,
            expected_kills: BTreeMap::new(),
            stats: BTreeMap::new(),
            current_limited: false,
            next_badge: 1,
            zero: Rc::new(vec![0; P as usize]),
            read_errors: 0,
            idle: seed % 5 != 4,
            idle_parked: false,
        };
        sim.svc.set_idle_thread(sim.idle);
        for _ in 0..3 {
            sim.spawn_initial();
        }
        sim
    }

    fn fail(&self, msg: &str) -> ! {
        let trace: Vec<&str> = self.trace.iter().map(|s| s.as_str()).collect();
        panic!(
            "server simulation failed: seed {} step {}: {msg}\nlast events:\n  {}\n(rerun with VM_SIM_SEED={})",
            self.seed,
            self.step,
            trace.join("\n  "),
            self.seed
        );
    }

    fn log(&mut self, s: String) {
        if self.trace.len() == 60 {
            self.trace.pop_front();
        }
        self.trace.push_back(s);
    }

    /// A client the "root task" starts: an empty space.
    fn spawn_initial(&mut self) {
        let id = self.next_badge;
        self.next_badge += 1;
        let space = self.svc.vm.space_create(self.svc.platform.pmap()).unwrap();
        let limited = id.is_multiple_of(2);
        if limited {
            // Small enough to be hit often (semantics: quota-*).
            let limits = vm_core::Limits {
                resident_pages: 20,
                swap_slots: 160,
                map_entries: 40,
                wired_pages: 4,
                children: 2,
                // Hit by some first touches, mmaps and forks (which ask
                // room for 2 per entry), not by most.
                objects: 24,
                ..vm_core::Limits::UNLIMITED
            };
            let pmap = self.svc.platform.pmap.as_mut().unwrap();
            self.svc.vm.set_limits(space, limits, pmap).unwrap();
        }
        let swapctl = id.is_multiple_of(3);
        let privileges = Privileges {
            swapctl,
            ..Privileges::default()
        };
        self.svc
            .add_client(id, format!("client-{id}"), space, privileges);
        self.clients.insert(
            id,
            SimClient {
                space,
                pages: BTreeMap::new(),
                run: Run::Running,
                pending: None,
                limited,
                swapctl,
            },
        );
    }

    fn running(&self) -> Vec<ClientId> {
        self.clients
            .iter()
            .filter(|(_, c)| c.run == Run::Running)
            .map(|(&id, _)| id)
            .collect()
    }

    /// Act on what the service asked of the kernel while handling the
    /// last message: resumed threads retry their access, reaped clients
    /// are gone (with a status we can explain).
    fn settle(&mut self) {
        let resumed = std::mem::take(&mut self.svc.platform.resumed);
        for id in resumed {
            if id == IDLE_THREAD {
                if !self.idle_parked {
                    self.fail("the idle thread resumed but not sleeping");
                }
                self.idle_parked = false;
                continue;
            }
            // The thread runs its access again when next scheduled.
            match self.clients.get_mut(&id) {
                Some(c) if c.run == Run::Blocked && c.pending.is_some() => c.run = Run::Running,
                Some(c) if c.run == Run::IdleWaiting => c.run = Run::Running,
                _ => self.fail(&format!("{id:#x} resumed but not blocked")),
            }
        }
        let reaped = std::mem::take(&mut self.svc.platform.reaped);
        for (id, status) in reaped {
            let Some(gone) = self.clients.remove(&id) else {
                self.fail(&format!("{id:#x} reaped twice or unknown"));
            };
            self.log(format!("reaped {id:#x}: {status:?}"));
            let expected = self.expected_kills.remove(&id);
            match status {
                ExitStatus::Exited(_) | ExitStatus::Killed(None) => {}
                ExitStatus::Killed(Some(e)) if Some(e) == expected => {}
                ExitStatus::Killed(Some(ApiError::Io)) => self.io_kills += 1,
                ExitStatus::Killed(Some(
                    ApiError::QuotaResident
                    | ApiError::QuotaSwap
                    | ApiError::QuotaPageTables
                    | ApiError::QuotaObjects,
                )) if gone.limited => {
                    *self.stats.entry("quota kills").or_default() += 1;
                }
                ExitStatus::Killed(Some(ApiError::NoSwap | ApiError::OutOfMemory)) => {
                    *self.stats.entry("oom kills").or_default() += 1;
                }
                ExitStatus::Killed(Some(e)) => {
                    self.fail(&format!("{id:#x} stopped with {e:?}"));
                }
            }
        }
        if let Some(d) = self.svc.vm.swap_device_mut::<RamDisk>() {
            self.read_errors = d.stats().read_errors;
        }
        let read_errors = self.read_errors;
        if self.io_kills > read_errors {
            self.fail(&format!(
                "{} clients stopped with Io, {read_errors} reads failed",
                self.io_kills
            ));
        }
        if *self.stats.get("oom kills").unwrap_or(&0) > self.svc.oom_kills {
            self.fail("a client stopped out of memory without the OOM killer");
        }
    }

    /// Deliver one message as `client` (if any), then act on the results.
    fn deliver(&mut self, client: Option<ClientId>, msg: Message) -> Outcome {
        self.svc.platform.current = client;
        let out = self.svc.handle(msg);
        self.svc.platform.current = None;
        self.check_sleep();
        out
    }

    /// The server now sleeps until its next message (`sleep_violation`).
    fn check_sleep(&mut self) {
        if let Some(v) = sleep_violation(&mut self.svc) {
            self.fail(&v);
        }
        if self
            .svc
            .vm
            .swap_device_mut::<RamDisk>()
            .is_some_and(|d| d.quiet())
        {
            *self.stats.entry("quiet sleeps").or_default() += 1;
        }
    }

    /// Run the pending access of `id` until it completes or blocks.
    fn execute(&mut self, id: ClientId) {
        for _ in 0..64 {
            let Some(c) = self.clients.get(&id) else {
                return; // stopped
            };
            let pend = c.pending.clone().expect("an access to run");
            let space = c.space;
            let access = if pend.write.is_some() {
                Access::Write
            } else {
                Access::Read
            };
            let page = pend.va & !(P - 1);
            let off = (pend.va - page) as usize;
            if let Some((f, prot)) = self.svc.platform.pmap_ref().lookup(space, page) {
                if prot.contains(access.required()) {
                    self.complete_access(id, f, off, &pend);
                    return;
                }
            }
            let out = self.deliver(
                Some(id),
                Message::Fault {
                    client: id,
                    addr: pend.va,
                    access,
                    ip: 0x40_0000,
                },
            );
            match out {
                Outcome::Reply(r) if r.label == 0 && r.len == 0 => {}
                Outcome::Reply(r) => self.fail(&format!("fault answered with {r:?}")),
                Outcome::NoReply => {
                    let waits = self.svc.platform.outstanding.values().any(|&x| x == id);
                    let resumed = self.svc.platform.resumed.contains(&id);
                    if let Some(c) = self.clients.get_mut(&id) {
                        // Waiting, or answered through its saved reply
                        // within the same message.
                        if waits || resumed {
                            c.run = Run::Blocked;
                        }
                    }
                    self.settle();
                    match self.clients.get(&id) {
                        None => return, // stopped
                        Some(c) if c.run == Run::Blocked => return,
                        Some(_) if resumed => continue,
                        Some(_) => self.fail(&format!("{id:#x}: fault unanswered, not waiting")),
                    }
                }
            }
            self.settle();
        }
        self.fail(&format!("{id:#x}: its access never completes"));
    }

    /// The MMU let the access through: do it and check it.
    fn complete_access(
        &mut self,
        id: ClientId,
        f: vm_core::FrameNumber,
        off: usize,
        pend: &Pending,
    ) {
        let page = pend.va & !(P - 1);
        let c = self.clients.get_mut(&id).unwrap();
        c.pending = None;
        match &pend.write {
            Some(data) => {
                self.svc.platform.pmap().frame_mut(f)[off..off + data.len()].copy_from_slice(data);
                let mp = c.pages.get_mut(&page).expect("model page");
                match &mut mp.content {
                    Content::Private(b) => {
                        Rc::make_mut(b)[off..off + data.len()].copy_from_slice(data)
                    }
                    Content::Shared(g, i) => {
                        let b = self.segs[*g]
                            .entry(*i)
                            .or_insert_with(|| vec![0; P as usize]);
                        b[off..off + data.len()].copy_from_slice(data);
                    }
                }
                *self.stats.entry("writes").or_default() += 1;
            }
            None => {
                let got = self.svc.platform.pmap().frame(f)[off..off + pend.len].to_vec();
                let want = self.bytes(id, page);
                if got != want[off..off + pend.len] {
                    let i = (0..pend.len).find(|&i| got[i] != want[off + i]).unwrap();
                    self.fail(&format!(
                        "{id:#x} read {:#x}: byte {:#x} is {:#x}, model {:#x}",
                        pend.va,
                        off + i,
                        got[i],
                        want[off + i]
                    ));
                }
                *self.stats.entry("reads").or_default() += 1;
            }
        }
    }

    fn bytes(&self, id: ClientId, page: u64) -> Vec<u8> {
        match &self.clients[&id].pages[&page].content {
            Content::Private(b) => b.to_vec(),
            Content::Shared(g, i) => self.segs[*g]
                .get(i)
                .cloned()
                .unwrap_or_else(|| vec![0; P as usize]),
        }
    }

    /// One request through the wire format; `None` when no reply came.
    fn request<R>(
        &mut self,
        id: ClientId,
        f: impl FnOnce(&mut VmClient<Channel>) -> Result<R, ApiError>,
    ) -> Option<Result<R, ApiError>> {
        let mut client = VmClient::with_transport(Channel {
            svc: &mut self.svc,
            client: id,
            replied: false,
            violation: None,
        });
        let r = f(&mut client);
        let replied = client.transport.replied;
        if let Some(v) = client.transport.violation.take() {
            self.fail(&v);
        }
        self.settle();
        replied.then_some(r)
    }

    fn pick_range(&mut self, max: u64) -> (u64, u64) {
        let n = self.rng.gen_range(1..=max);
        let first = self.rng.gen_range(0..WIN_PAGES - n);
        (BASE + first * P, n * P)
    }

    fn pages_of(&self, id: ClientId, addr: u64, len: u64) -> Option<Vec<&MPage>> {
        let m = &self.clients[&id].pages;
        (0..len / P).map(|i| m.get(&(addr + i * P))).collect()
    }

    fn expect<R: fmt::Debug>(
        &mut self,
        what: &str,
        got: Option<Result<R, ApiError>>,
        want: Result<(), ApiError>,
    ) -> Option<R> {
        let Some(got) = got else {
            self.fail(&format!("{what}: no reply"));
        };
        match (&got, want) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(w)) if *e == w => {}
            // Memory may run out where the model says success.
            (Err(ApiError::OutOfMemory | ApiError::NoSwap | ApiError::Io), Ok(()))
                if matches!(what, "mlock" | "fork") => {}
            // A limited family may be refused anything that grows it; the
            // refusal changes nothing.
            (
                Err(
                    ApiError::QuotaResident
                    | ApiError::QuotaSwap
                    | ApiError::QuotaMapEntries
                    | ApiError::QuotaWired
                    | ApiError::QuotaChildren
                    | ApiError::QuotaHandles
                    | ApiError::QuotaObjects,
                ),
                Ok(()),
            ) if self.current_limited
                // Of the requests made here only these make objects
                // (semantics `quota-objects`: `mlock` makes an untouched
                // mapping's object or a writable copy-on-write mapping's
                // shadow).
                && (!matches!(got, Err(ApiError::QuotaObjects))
                    || matches!(what, "mmap" | "fork" | "mlock")) =>
            {
                let kind = if matches!(got, Err(ApiError::QuotaObjects)) {
                    "objects refusals"
                } else {
                    "quota refusals"
                };
                *self.stats.entry(kind).or_default() += 1;
                return None;
            }
            _ => self.fail(&format!("{what}: got {got:?}, model says {want:?}")),
        }
        got.ok()
    }

    /// One random event.
    fn event(&mut self) {
        let running = self.running();
        let all_blocked = running.is_empty() && !self.clients.is_empty();
        // The idle thread runs when nothing else can, and here at random
        // too: nothing may depend on when it runs.
        if self.idle && !self.idle_parked && self.rng.gen_bool(if all_blocked { 0.5 } else { 0.03 })
        {
            self.log("idle".into());
            if let Outcome::NoReply = self.deliver(Some(IDLE_THREAD), Message::Idle) {
                self.idle_parked = true;
            }
            self.settle();
            *self.stats.entry("idle calls").or_default() += 1;
            return;
        }
        if all_blocked || self.rng.gen_bool(0.15) {
            self.log("swap signal".into());
            self.deliver(None, Message::SwapSignal);
            self.settle();
            *self.stats.entry("signals").or_default() += 1;
            return;
        }
        if self.clients.is_empty() {
            self.spawn_initial();
            return;
        }
        let id = running[self.rng.gen_range(0..running.len())];
        self.current_limited = self.clients[&id].limited;
        if self.clients[&id].pending.is_some() {
            // A resumed thread retries its faulting access first.
            self.log(format!("{id:#x} retries"));
            return self.execute(id);
        }
        let r = self.rng.gen_range(0..1000);
        match r {
            0..=89 => self.op_mmap(id),
            90..=129 => self.op_munmap(id),
            130..=169 => self.op_mprotect(id),
            170..=189 => self.op_minherit(id),
            190..=219 => self.op_madvise(id),
            220..=244 => self.op_mlock(id),
            245..=274 => self.op_fork(id),
            275..=284 => self.op_exit(id),
            285..=289 => self.op_crash(id),
            290..=294 => self.op_fail_next_pagein(id),
            315..=319 => self.op_idle_wait(id),
            295..=299 => self.op_stats(id),
            300..=309 => self.op_bad_access(id),
            310..=314 => self.op_swapctl(id),
            _ => self.op_access(id),
        }
    }

    fn op_mmap(&mut self, id: ClientId) {
        // Large-page seeds: sometimes one private 2 MiB chunk at the
        // window's (2 MiB-aligned) base, advised HugePage; the other
        // operations reach its first 64 pages.
        let huge = self.large() && self.rng.gen_bool(0.25);
        let (addr, len) = if huge {
            (BASE, LARGE)
        } else {
            self.pick_range(12)
        };
        let prot = if huge {
            Prot::RW
        } else {
            [Prot::RW, Prot::READ, Prot::RW, Prot::NONE][self.rng.gen_range(0..4)]
        };
        let shared = !huge && self.rng.gen_bool(0.25);
        let mut req = if shared {
            MmapRequest::anon_shared(len, wire_prot(prot))
        } else {
            MmapRequest::anon(len, wire_prot(prot))
        }
        .fixed(addr);
        if !huge && self.rng.gen_bool(0.3) {
            req.flags |= WireFlags::NOREPLACE;
        }
        let free = self.pages_of(id, addr, len).is_none()
            && (0..len / P).all(|i| !self.clients[&id].pages.contains_key(&(addr + i * P)));
        let want = if req.flags.contains(WireFlags::NOREPLACE) && !free {
            Err(ApiError::Exists)
        } else {
            Ok(())
        };
        self.log(format!(
            "{id:#x} mmap {addr:#x}+{len:#x} {prot:?} shared {shared}"
        ));
        let got = self.request(id, |c| c.mmap(&req));
        if self.expect("mmap", got, want).is_none() {
            return;
        }
        let seg = shared.then(|| {
            self.segs.push(BTreeMap::new());
            self.segs.len() - 1
        });
        let zero = self.zero.clone();
        let m = &mut self.clients.get_mut(&id).unwrap().pages;
        for i in 0..len / P {
            m.insert(
                addr + i * P,
                MPage {
                    prot,
                    inh: if shared {
                        Inheritance::Share
                    } else {
                        Inheritance::Copy
                    },
                    wired: false,
                    content: match seg {
                        Some(g) => Content::Shared(g, i),
                        None => Content::Private(zero.clone()),
                    },
                },
            );
        }
        *self.stats.entry("mmap").or_default() += 1;
        if huge {
            self.log(format!("{id:#x} madvise {addr:#x}+{len:#x} HugePage"));
            let got = self.request(id, |c| c.madvise(addr, len, vm_api::Advice::HugePage));
            self.expect("madvise", got, Ok(()));
            *self.stats.entry("mmap_huge").or_default() += 1;
        }
    }

    /// Seeds that run with large pages (`VmConfig::large_pages`).
    fn large(&self) -> bool {
        self.seed % 4 == 3
    }

    fn op_munmap(&mut self, id: ClientId) {
        let (addr, len) = self.pick_range(16);
        self.log(format!("{id:#x} munmap {addr:#x}+{len:#x}"));
        let got = self.request(id, |c| c.munmap(addr, len));
        if self.expect("munmap", got, Ok(())).is_none() {
            return;
        }
        let m = &mut self.clients.get_mut(&id).unwrap().pages;
        for i in 0..len / P {
            m.remove(&(addr + i * P));
        }
    }

    fn op_mprotect(&mut self, id: ClientId) {
        let (addr, len) = self.pick_range(8);
        let prot = [Prot::RW, Prot::READ, Prot::NONE][self.rng.gen_range(0..3)];
        let want = match self.pages_of(id, addr, len) {
            None => Err(ApiError::NoMapping),
            Some(_) => Ok(()),
        };
        self.log(format!("{id:#x} mprotect {addr:#x}+{len:#x} {prot:?}"));
        let got = self.request(id, |c| c.mprotect(addr, len, wire_prot(prot)));
        if self.expect("mprotect", got, want).is_some() {
            let m = &mut self.clients.get_mut(&id).unwrap().pages;
            for i in 0..len / P {
                m.get_mut(&(addr + i * P)).unwrap().prot = prot;
            }
        }
    }

    fn op_minherit(&mut self, id: ClientId) {
        let (addr, len) = self.pick_range(8);
        let inh =
            [Inheritance::Share, Inheritance::Copy, Inheritance::None][self.rng.gen_range(0..3)];
        self.log(format!("{id:#x} minherit {addr:#x}+{len:#x} {inh:?}"));
        let got = self.request(id, |c| c.minherit(addr, len, inh));
        if self.expect("minherit", got, Ok(())).is_none() {
            return;
        }
        let m = &mut self.clients.get_mut(&id).unwrap().pages;
        for i in 0..len / P {
            if let Some(p) = m.get_mut(&(addr + i * P)) {
                p.inh = inh;
            }
        }
    }

    fn op_madvise(&mut self, id: ClientId) {
        let (addr, len) = self.pick_range(8);
        let kinds = if self.large() { 5 } else { 3 };
        let advice = [
            vm_api::Advice::DontNeed,
            vm_api::Advice::WillNeed,
            vm_api::Advice::Sequential,
            vm_api::Advice::HugePage,
            vm_api::Advice::NoHugePage,
        ][self.rng.gen_range(0..kinds)];
        let want = match self.pages_of(id, addr, len) {
            None => Err(ApiError::NoMapping),
            Some(ps) if advice == vm_api::Advice::DontNeed && ps.iter().any(|p| p.wired) => {
                Err(ApiError::Busy)
            }
            Some(_) => Ok(()),
        };
        self.log(format!("{id:#x} madvise {addr:#x}+{len:#x} {advice:?}"));
        let got = self.request(id, |c| c.madvise(addr, len, advice));
        if self.expect("madvise", got, want).is_some() && advice == vm_api::Advice::DontNeed {
            // semantics: madvise-dontneed-private, madvise-dontneed-shared
            let zero = self.zero.clone();
            let m = &mut self.clients.get_mut(&id).unwrap().pages;
            for i in 0..len / P {
                let p = m.get_mut(&(addr + i * P)).unwrap();
                if let Content::Private(_) = p.content {
                    p.content = Content::Private(zero.clone());
                }
            }
        }
    }

    fn op_mlock(&mut self, id: ClientId) {
        let (addr, len) = self.pick_range(3);
        let lock = self.rng.gen_bool(0.5);
        let wired = self
            .clients
            .values()
            .flat_map(|c| c.pages.values())
            .filter(|p| p.wired)
            .count();
        if lock && wired >= 8 {
            return; // keep most memory pageable
        }
        let want = match self.pages_of(id, addr, len) {
            None => Err(ApiError::NoMapping),
            Some(_) => Ok(()),
        };
        self.log(format!(
            "{id:#x} {} {addr:#x}+{len:#x}",
            if lock { "mlock" } else { "munlock" }
        ));
        let got = if lock {
            self.request(id, |c| c.mlock(addr, len))
        } else {
            self.request(id, |c| c.munlock(addr, len))
        };
        if self
            .expect(if lock { "mlock" } else { "munlock" }, got, want)
            .is_some()
        {
            let m = &mut self.clients.get_mut(&id).unwrap().pages;
            for i in 0..len / P {
                m.get_mut(&(addr + i * P)).unwrap().wired = lock;
            }
        }
    }

    fn op_fork(&mut self, id: ClientId) {
        if self.clients.len() >= MAX_CLIENTS {
            return self.op_exit(id);
        }
        self.log(format!("{id:#x} fork"));
        let got = self.request(id, |c| c.fork());
        let Some(reply) = self.expect("fork", got, Ok(())) else {
            *self.stats.entry("failed forks").or_default() += 1;
            return;
        };
        let ForkReply::Parent { child } = reply else {
            self.fail("parent got the child's fork reply");
        };
        let spawned = std::mem::take(&mut self.svc.platform.spawned);
        if spawned != [(id, child)] {
            self.fail(&format!("fork spawned {spawned:?}"));
        }
        let space = self.svc.client(child).expect("child registered").space;
        // The child's memory per inheritance (semantics: minherit-*).
        let parent_pages: Vec<(u64, MPage)> = self.clients[&id]
            .pages
            .iter()
            .map(|(&va, p)| (va, p.clone()))
            .collect();
        let mut pages = BTreeMap::new();
        for (va, p) in parent_pages {
            let cp = match (p.inh, &p.content) {
                (Inheritance::None, _) => continue,
                (Inheritance::Copy, Content::Shared(..)) => MPage {
                    wired: false,
                    content: Content::Private(Rc::new(self.bytes(id, va))),
                    ..p
                },
                (Inheritance::Copy, _) => MPage { wired: false, ..p },
                (Inheritance::Share, Content::Shared(..)) => MPage { wired: false, ..p },
                (Inheritance::Share, Content::Private(b)) => {
                    let mut seg = BTreeMap::new();
                    seg.insert(0, b.to_vec());
                    self.segs.push(seg);
                    let content = Content::Shared(self.segs.len() - 1, 0);
                    let pp = self
                        .clients
                        .get_mut(&id)
                        .unwrap()
                        .pages
                        .get_mut(&va)
                        .unwrap();
                    pp.content = content.clone();
                    MPage {
                        wired: false,
                        content,
                        ..p
                    }
                }
            };
            pages.insert(va, cp);
        }
        self.clients.insert(
            child,
            SimClient {
                space,
                pages,
                run: Run::Running,
                pending: None,
                limited: self.clients[&id].limited,
                swapctl: self.clients[&id].swapctl,
            },
        );
        *self.stats.entry("forks").or_default() += 1;
    }

    fn op_exit(&mut self, id: ClientId) {
        self.log(format!("{id:#x} exit"));
        let got = self.request(id, |c| c.exit(7));
        if got.is_some() {
            self.fail("exit was answered");
        }
        if self.clients.contains_key(&id) {
            self.fail("exited client still there");
        }
        *self.stats.entry("exits").or_default() += 1;
    }

    fn op_crash(&mut self, id: ClientId) {
        self.log(format!("{id:#x} crash"));
        let out = self.deliver(
            Some(id),
            Message::OtherFault {
                client: id,
                what: "UserException",
            },
        );
        if out != Outcome::NoReply {
            self.fail("crash was answered");
        }
        self.settle();
        if self.clients.contains_key(&id) {
            self.fail("crashed client still there");
        }
        *self.stats.entry("crashes").or_default() += 1;
    }

    fn op_fail_next_pagein(&mut self, id: ClientId) {
        self.log(format!("{id:#x} fail next page-in"));
        let got = self.request(id, |c| c.fail_next_pagein());
        // Without swap there is no read to fail.
        let want = match self.svc.vm.swap() {
            Some(_) => Ok(()),
            None => Err(ApiError::NoSwap),
        };
        self.expect("fail_next_pagein", got, want);
    }

    /// `IdleWait`: answered at once when there is no idle work (or no
    /// idle thread: `NotSupported`), else the client waits for the idle
    /// thread to finish it.
    fn op_idle_wait(&mut self, id: ClientId) {
        let out = self.deliver(
            Some(id),
            Message::Request {
                client: id,
                label: vm_api::Operation::IdleWait.label(),
                words: &[],
            },
        );
        match out {
            Outcome::Reply(r) if self.idle && r.label == 0 => {}
            Outcome::Reply(r) if !self.idle && r.label == ApiError::NotSupported.code() => {}
            Outcome::NoReply if self.idle && !self.idle_parked => {
                self.log(format!("{id:#x} waits for the idle thread"));
                self.clients.get_mut(&id).unwrap().run = Run::IdleWaiting;
                *self.stats.entry("idle waits kept").or_default() += 1;
            }
            o => self.fail(&format!(
                "IdleWait answered {o:?} (idle thread: {}, sleeping: {})",
                self.idle, self.idle_parked
            )),
        }
        *self.stats.entry("idle waits").or_default() += 1;
        self.settle();
    }

    fn op_stats(&mut self, id: ClientId) {
        let got = self.request(id, |c| c.client_stats());
        let Some(st) = self.expect("client_stats", got, Ok(())) else {
            return;
        };
        let mapped = self.clients[&id].pages.len() as u64 * P;
        let wired = self.clients[&id].pages.values().filter(|p| p.wired).count() as u64;
        if st.client != id || st.mapped_bytes != mapped || st.wired_pages != wired {
            self.fail(&format!(
                "client_stats {st:?}: model maps {mapped:#x} bytes, {wired} wired"
            ));
        }
    }

    /// An access the model refuses: the client must be stopped with the
    /// matching error (semantics: fault-errors).
    fn op_bad_access(&mut self, id: ClientId) {
        let page = BASE + self.rng.gen_range(0..WIN_PAGES) * P;
        let (write, want) = match self.clients[&id].pages.get(&page) {
            None => (false, ApiError::NoMapping),
            Some(p) if !p.prot.contains(Prot::WRITE) => (true, ApiError::Protection),
            Some(_) => return,
        };
        self.log(format!("{id:#x} bad access {page:#x} (expect {want:?})"));
        self.expected_kills.insert(id, want);
        self.clients.get_mut(&id).unwrap().pending = Some(Pending {
            va: page,
            write: write.then(|| vec![1]),
            len: 1,
        });
        self.execute(id);
        if self.clients.contains_key(&id) {
            self.fail("refused access did not stop the client");
        }
    }

    fn op_access(&mut self, id: ClientId) {
        let c = &self.clients[&id];
        let pages: Vec<(u64, Prot)> = c.pages.iter().map(|(&va, p)| (va, p.prot)).collect();
        if pages.is_empty() {
            return self.op_mmap(id);
        }
        let (page, prot) = pages[self.rng.gen_range(0..pages.len())];
        let write = prot.contains(Prot::WRITE) && self.rng.gen_bool(0.5);
        if !prot.contains(Prot::READ) {
            return;
        }
        let off = self.rng.gen_range(0..P) as usize;
        let len = self.rng.gen_range(1..=32).min(P as usize - off);
        let data: Vec<u8> = (0..len).map(|_| self.rng.gen()).collect();
        self.log(format!(
            "{id:#x} {} {:#x} len {len}",
            if write { "write" } else { "read" },
            page + off as u64
        ));
        self.clients.get_mut(&id).unwrap().pending = Some(Pending {
            va: page + off as u64,
            write: write.then_some(data),
            len,
        });
        self.execute(id);
    }

    /// Saved replies of the idle thread (at most one, while it sleeps).
    fn idle_replies(&self) -> usize {
        let out = &self.svc.platform.outstanding;
        out.values().filter(|&&c| c == IDLE_THREAD).count()
    }

    /// Every structure consistent.
    fn check(&self) {
        let sim_check = || -> Result<(), String> {
            self.svc.vm.check_invariants()?;
            self.svc.vm.check_swap()?;
            for (id, c) in &self.clients {
                let sc = self
                    .svc
                    .client(*id)
                    .ok_or_else(|| format!("{id:#x} unknown to the service"))?;
                if sc.space != c.space {
                    return Err(format!("{id:#x}: space {:?} vs {:?}", sc.space, c.space));
                }
                let map = self.svc.vm.space(c.space).unwrap().map();
                if map.size() / P != c.pages.len() as u64 {
                    return Err(format!(
                        "{id:#x}: {} pages mapped, model {}",
                        map.size() / P,
                        c.pages.len()
                    ));
                }
            }
            if self.idle_parked != self.svc.idle_parked() {
                return Err("the service and the simulation disagree on the idle thread".into());
            }
            self.svc.platform.pmap_ref().check_zeroed(&self.svc.vm)?;
            if self.svc.clients().count() != self.clients.len() {
                return Err("service and simulation disagree on the clients".into());
            }
            let blocked = self
                .clients
                .values()
                .filter(|c| c.run == Run::Blocked)
                .count();
            let idle_waiting = self
                .clients
                .values()
                .filter(|c| c.run == Run::IdleWaiting)
                .count();
            if idle_waiting > 0 && self.idle_parked {
                return Err(format!(
                    "{idle_waiting} clients wait for a sleeping idle thread"
                ));
            }
            let idle_saved = self.idle_replies();
            let saved = self.svc.platform.outstanding.len() - idle_saved - idle_waiting;
            if idle_saved != usize::from(self.idle_parked) {
                return Err(format!(
                    "{idle_saved} saved idle-thread replies, sleeping: {}",
                    self.idle_parked
                ));
            }
            if blocked != self.svc.waiting() || blocked != saved {
                return Err(format!(
                    "{blocked} blocked threads, {} waiting faults, {} saved replies",
                    self.svc.waiting(),
                    self.svc.platform.outstanding.len()
                ));
            }
            Ok(())
        };
        if let Err(e) = sim_check() {
            self.fail(&e);
        }
    }

    fn run(&mut self, steps: usize) {
        let mut stuck = 0;
        for step in 0..steps {
            self.step = step;
            self.event();
            if step % 8 == 0 {
                self.check();
            }
            // Every live thread blocked and signals change nothing: stuck.
            if self.running().is_empty() && !self.clients.is_empty() {
                stuck += 1;
                if stuck > 2000 {
                    self.fail("every thread waits and no completion comes");
                }
            } else {
                stuck = 0;
            }
        }
        self.check();
        self.finish();
    }

    /// Everyone exits (blocked threads are resumed first): every frame,
    /// slot, object and reply back.
    fn finish(&mut self) {
        for _ in 0..100_000 {
            let Some((&id, c)) = self.clients.iter().next() else {
                break;
            };
            if c.run == Run::Blocked {
                self.deliver(None, Message::SwapSignal);
                self.settle();
                continue;
            }
            if c.run == Run::IdleWaiting {
                if self.idle_parked {
                    self.fail("a client waits for a sleeping idle thread");
                }
                if let Outcome::NoReply = self.deliver(Some(IDLE_THREAD), Message::Idle) {
                    self.idle_parked = true;
                }
                self.settle();
                continue;
            }
            if c.pending.is_some() {
                self.execute(id);
                continue;
            }
            self.op_exit(id);
        }
        if !self.clients.is_empty() {
            self.fail("clients left after the final exits");
        }
        self.svc.vm.swap_drain(self.svc.platform.pmap());
        self.svc.vm.swap_poll(self.svc.platform.pmap());
        let st = self.svc.vm.stats();
        if st.free != st.npages || st.objects != 0 || st.swpginuse != 0 || st.spaces != 0 {
            self.fail(&format!(
                "after the last exit: {} free of {}, {} objects, {} slots, {} spaces",
                st.free, st.npages, st.objects, st.swpginuse, st.spaces
            ));
        }
        let idle_saved = self.idle_replies();
        let saved = self.svc.platform.outstanding.len() - idle_saved;
        if self.svc.waiting() != 0 || saved != 0 || idle_saved != usize::from(self.idle_parked) {
            self.fail("faults or saved replies left");
        }
        if let Err(e) = self.svc.vm.check_invariants() {
            self.fail(&e);
        }
    }
}

fn run_seed(seed: u64, steps: usize) -> BTreeMap<&'static str, u64> {
    let mut sim = Sim::new(seed);
    sim.run(steps);
    let st = sim.svc.vm.stats();
    let mut out = sim.stats.clone();
    out.insert("pageouts", st.pgswapout);
    out.insert("pageins", st.pgswapin);
    out.insert("io kills", sim.io_kills);
    out.insert("swap io errors", st.swap_io_errors);
    out.insert("waits", st.flt_wait);
    out.insert("zero hits", st.pga_zerohit);
    out.insert("zero misses", st.pga_zeromiss);
    // Detached by a swapoff at the end: its counts are not needed then.
    if let Some(d) = sim.svc.vm.swap_device_mut::<RamDisk>() {
        out.insert("quiet completions", d.stats().quiet);
    }
    if st.large_pages > 0 {
        out.insert("flt_large", st.flt_large);
        out.insert("large_demotes", st.large_demotes);
        out.insert("large_cow_copies", st.large_cow_copies);
        out.insert("large_promotes", st.large_promotes);
    }
    eprintln!("seed {seed}: {steps} steps, {out:?}");
    out
}

#[test]
fn server_sim_random() {
    if let Ok(seed) = std::env::var("VM_SIM_SEED") {
        let seed = seed.parse().expect("VM_SIM_SEED is a number");
        let steps =
            std::env::var("VM_SIM_STEPS").map_or(5_000, |v| v.parse().expect("VM_SIM_STEPS"));
        run_seed(seed, steps);
        return;
    }
    let mut total: BTreeMap<&'static str, u64> = BTreeMap::new();
    for seed in 0..8 {
        for (k, v) in run_seed(seed, 4_000) {
            *total.entry(k).or_default() += v;
        }
    }
    eprintln!("total: {total:?}");
    // The run must reach the interesting paths.
    for k in [
        "pageouts",
        "pageins",
        "waits",
        "forks",
        "exits",
        "crashes",
        "io kills",
        "signals",
        "objects refusals",
        "quiet completions",
        "quiet sleeps",
    ]
    .into_iter()
    .chain(swapctl::PATHS)
    {
        assert!(total.get(k).copied().unwrap_or(0) > 0, "no {k}: {total:?}");
    }
}
