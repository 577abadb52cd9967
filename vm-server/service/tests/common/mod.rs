//! What the service's integration tests share: a platform that keeps the
//! simulated MMU and records what the service answered, requests of one
//! badge straight into the service, and the service's VM run as a `Sim`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use vm_api::{Transport, VmClient};
use vm_core::sim::{Sim, SimPmap};
use vm_core::{Access, SpaceId, Vm, VmConfig};
use vm_service::{
    ClientId, ExitStatus, KernelCounters, Message, Outcome, Platform, ReplyMsg, Service,
};

/// A platform that keeps the simulated MMU, numbers saved replies 1, 2,
/// … and records how each was answered, and holds the pager channels'
/// attach words (what a pager wrote into its ring page). Everything the
/// kernel would do (suspend, reap, spawn a child) succeeds and does
/// nothing.
pub struct TestPlatform {
    pub pmap: SimPmap,
    next_reply: u64,
    /// Every saved reply answered, with its label: a resumed fault as 0.
    pub answered: Vec<(u64, u64)>,
    /// The saved fault replies resumed.
    pub resumed: Vec<u64>,
    /// The saved replies dropped unanswered.
    pub dropped: Vec<u64>,
    pub attach_words: BTreeMap<u32, u64>,
    /// Every client stopped, with how it ended.
    pub reaped: Vec<(ClientId, ExitStatus)>,
    /// Every program client started, with its entry point.
    pub started: Vec<(ClientId, u64)>,
    /// Whether a request may wait for its reply (`answer`); where none
    /// can, an answer panics.
    pub requests_wait: bool,
    /// Every console line the service logged.
    pub logged: Vec<String>,
    /// Completion signals cleared (`clear_completion_signal`).
    pub signals_cleared: u32,
    /// The next this many `save_reply` calls fail (no slot for the cap).
    pub save_failures: u32,
    /// `prepare_ahead` calls, and how many of them still find work.
    pub ahead_calls: u32,
    pub ahead_work: u32,
}

impl TestPlatform {
    /// Replies saved so far (faults and requests that waited).
    pub fn saved(&self) -> u64 {
        self.next_reply
    }

    /// A platform of `frames` frames where requests may wait.
    pub fn new(frames: u32) -> Self {
        TestPlatform {
            pmap: SimPmap::new(frames),
            next_reply: 0,
            answered: Vec::new(),
            resumed: Vec::new(),
            dropped: Vec::new(),
            attach_words: BTreeMap::new(),
            reaped: Vec::new(),
            started: Vec::new(),
            requests_wait: true,
            logged: Vec::new(),
            signals_cleared: 0,
            save_failures: 0,
            ahead_calls: 0,
            ahead_work: 0,
        }
    }
}

impl Platform for TestPlatform {
    type Pmap = SimPmap;
    type Reply = u64;
    fn pmap(&mut self) -> &mut SimPmap {
        &mut self.pmap
    }
    fn pmap_ref(&self) -> &SimPmap {
        &self.pmap
    }
    fn save_reply(&mut self) -> Result<u64, String> {
        if self.save_failures > 0 {
            self.save_failures -= 1;
            return Err("no slot for the reply".into());
        }
        self.next_reply += 1;
        Ok(self.next_reply)
    }
    fn resume(&mut self, reply: u64) {
        self.resumed.push(reply);
        self.answered.push((reply, 0));
    }
    fn clear_completion_signal(&mut self) {
        self.signals_cleared += 1;
    }
    fn drop_reply(&mut self, reply: u64) {
        self.dropped.push(reply);
    }
    fn answer(&mut self, reply: u64, msg: &ReplyMsg) {
        assert!(self.requests_wait, "no request waits here");
        assert_eq!(msg.len, 0, "msync replies carry no words");
        self.answered.push((reply, msg.label));
    }
    fn pager_attach_word(&self, pager: u32) -> Option<u64> {
        self.attach_words.get(&pager).copied()
    }
    fn start_client(&mut self, client: ClientId, entry: u64) -> Result<(), String> {
        self.started.push((client, entry));
        Ok(())
    }
    fn suspend(&mut self, _: ClientId) {}
    fn reap(&mut self, client: ClientId, status: ExitStatus) {
        self.reaped.push((client, status));
    }
    fn spawn_child(&mut self, _: ClientId, _: ClientId, _: SpaceId) -> Result<(), String> {
        Ok(())
    }
    fn arm_read_failure(&mut self, _: &mut Vm) -> bool {
        false
    }
    fn disarm_read_failure(&mut self, _: &mut Vm) -> bool {
        false
    }
    fn space_footprint(&self, space: SpaceId) -> (u64, u64) {
        (self.pmap.mappings(space).count() as u64, 0)
    }
    fn kernel_counters(&self) -> KernelCounters {
        KernelCounters::default()
    }
    fn prepare_ahead(&mut self) -> bool {
        self.ahead_calls += 1;
        let work = self.ahead_work > 0;
        self.ahead_work = self.ahead_work.saturating_sub(1);
        work
    }

    fn log(&mut self, line: fmt::Arguments) {
        if std::env::var_os("VM_SERVICE_LOG").is_some() {
            eprintln!("{line}");
        }
        self.logged.push(line.to_string());
    }
}

pub type Svc = Service<TestPlatform>;

/// Requests of one badge straight into the service.
pub struct Chan<'a> {
    svc: &'a mut Svc,
    badge: ClientId,
}

impl Transport for Chan<'_> {
    fn call(&mut self, label: u64, words: &[u64], reply: &mut [u64]) -> (u64, usize) {
        match self.svc.handle(Message::Request {
            client: self.badge,
            label,
            words,
        }) {
            Outcome::Reply(r) => {
                reply[..r.len].copy_from_slice(r.words());
                (r.label, r.len)
            }
            Outcome::NoReply => panic!("no reply"),
        }
    }
}

/// A client stub whose requests come from `badge`.
pub fn client(svc: &mut Svc, badge: ClientId) -> VmClient<Chan<'_>> {
    VmClient::with_transport(Chan { svc, badge })
}

/// Runs `f` on the service's VM and pmap as a `Sim` (which faults like
/// an MMU, and waits for swap and pagers), then gives them back.
pub fn with_sim<R>(svc: &mut Svc, f: impl FnOnce(&mut Sim) -> R) -> R {
    let mut sim = Sim::new(VmConfig::default(), 64);
    std::mem::swap(&mut sim.vm, &mut svc.vm);
    std::mem::swap(&mut sim.pmap, &mut svc.platform.pmap);
    let r = f(&mut sim);
    std::mem::swap(&mut sim.vm, &mut svc.vm);
    std::mem::swap(&mut sim.pmap, &mut svc.platform.pmap);
    r
}

/// A write fault of `id` at `addr`, as the kernel would send it; the
/// service must answer it at once (the page mapped).
pub fn write_fault(svc: &mut Svc, id: ClientId, addr: u64) {
    let out = svc.handle(Message::Fault {
        client: id,
        addr,
        access: Access::Write,
        ip: 0,
    });
    assert!(matches!(out, Outcome::Reply(_)), "{out:?}");
}
