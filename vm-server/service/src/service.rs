//! The service: its clients, the faults waiting for swap I/O, and the handling of one message (a fault, a request, the swap channel's signal), with pageout and the OOM killer after it.
//!
//! Locking: a `Service` is owned by the server's single-threaded loop;
//! every method takes `&mut self`, which is the only lock.
//!
//! A fault that must wait for a page-in keeps its reply (`Platform::
//! save_reply`) and the loop serves everyone else; after every swap
//! signal (and after a synchronous wait in the core took one) the waiting
//! faults are retried: mapped ones are resumed, ones still waiting stay,
//! failed ones stop their client. A fault out of memory first runs
//! pageout and tries again; only when memory and swap are exhausted does
//! the OOM killer stop someone (semantics: oom).

use crate::convert;
use crate::platform::{ClientId, Platform};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use vm_api::{ApiError, Reply as WireReply, MAX_WORDS};
use vm_core::{Access, FaultOutcome, SpaceId, Vm, VmError};

/// Ids of forked children start here, above any the system spec hands out.
pub const FIRST_CHILD: ClientId = 0x10_0000;

/// One client the server pages for.
#[derive(Clone, Debug)]
pub struct Client {
    pub name: String,
    pub space: SpaceId,
    /// The client that forked this one, if any.
    pub parent: Option<ClientId>,
    /// Page faults it took.
    pub faults: u64,
}

/// How a client ended, for whoever awaits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit` with this status.
    Exited(u64),
    /// The server stopped it: a fault it could not resolve (with the error
    /// the VM gave), a fault the VM does not handle, or the OOM killer.
    Killed(Option<ApiError>),
}

/// One message the server received.
#[derive(Clone, Copy, Debug)]
pub enum Message<'a> {
    /// A page fault of `client`'s thread at `addr`.
    Fault {
        client: ClientId,
        addr: u64,
        access: Access,
        ip: u64,
    },
    /// Any other fault: the thread cannot go on, the client is stopped.
    OtherFault { client: ClientId, what: &'a str },
    /// A `vm-api` request.
    Request {
        client: ClientId,
        label: u64,
        words: &'a [u64],
    },
    /// The root task's read-only view: `Stats` and nothing else.
    Observe { label: u64 },
    /// The swap channel signalled completions.
    SwapSignal,
}

impl Message<'_> {
    /// The client that sent it, if a client did.
    pub fn client(&self) -> Option<ClientId> {
        match *self {
            Message::Fault { client, .. }
            | Message::OtherFault { client, .. }
            | Message::Request { client, .. } => Some(client),
            Message::Observe { .. } | Message::SwapSignal => None,
        }
    }
}

/// A reply message: label and words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyMsg {
    pub label: u64,
    pub len: usize,
    pub words: [u64; MAX_WORDS],
}

impl ReplyMsg {
    /// An empty reply with `label` (0 resumes a faulting thread).
    pub const fn empty(label: u64) -> Self {
        ReplyMsg {
            label,
            len: 0,
            words: [0; MAX_WORDS],
        }
    }
    /// The words sent.
    pub fn words(&self) -> &[u64] {
        &self.words[..self.len]
    }
}

/// What the loop does after a message. Returned by value once per
/// message, so the reply is not boxed (that would allocate per message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Reply to the sender with this message.
    Reply(ReplyMsg),
    /// Send nothing: the sender waits, is gone, or was stopped.
    NoReply,
}

/// A fault waiting for swap I/O.
struct Waiter<R> {
    client: ClientId,
    addr: u64,
    access: Access,
    reply: R,
}

/// The VM server's state and decisions.
pub struct Service<P: Platform> {
    pub vm: Vm,
    pub platform: P,
    pub(crate) clients: BTreeMap<ClientId, Client>,
    /// Faults waiting for swap I/O, oldest first.
    waiting: Vec<Waiter<P::Reply>>,
    next_child: ClientId,
    /// The client whose next page-in is to fail (`FailNextPagein`).
    pub(crate) fail_pagein: Option<ClientId>,
    /// Clients the OOM killer stopped.
    pub oom_kills: u64,
}

impl<P: Platform> Service<P> {
    pub fn new(vm: Vm, platform: P) -> Self {
        Service {
            vm,
            platform,
            clients: BTreeMap::new(),
            waiting: Vec::new(),
            next_child: FIRST_CHILD,
            fail_pagein: None,
            oom_kills: 0,
        }
    }

    /// Serve `client` (id `id`) in `space`, which the caller made and
    /// loaded. Its threads must not run before this.
    pub fn add_client(&mut self, id: ClientId, name: String, space: SpaceId) {
        self.clients.insert(
            id,
            Client {
                name,
                space,
                parent: None,
                faults: 0,
            },
        );
    }

    pub fn client(&self, id: ClientId) -> Option<&Client> {
        self.clients.get(&id)
    }

    pub fn clients(&self) -> impl Iterator<Item = (ClientId, &Client)> {
        self.clients.iter().map(|(&id, c)| (id, c))
    }

    /// Faults waiting for swap I/O now.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Handle one message: first let pageout catch up if free pages ran
    /// short, then the message, then retry faults whose completions a
    /// synchronous wait in the core took.
    ///
    /// Pageout runs before the message, never between resolving a fault
    /// and the thread using the page: with emulated reference bits the
    /// active scan unmaps referenced pages, and a page unmapped before its
    /// thread ran would fault again, and again (a livelock the simulation
    /// found).
    pub fn handle(&mut self, msg: Message) -> Outcome {
        let sender = msg.client();
        self.pageout_if_short();
        let out = self.handle_message(msg);
        // A synchronous wait in the core (fork, mlock, ...) may have taken
        // the completion signal of faults that are waiting.
        if self.vm.swap_completions_pending() {
            self.retry_waiters();
        }
        match out {
            // The sender was stopped meanwhile: nobody waits for a reply.
            Outcome::Reply(_) if sender.is_some_and(|c| !self.clients.contains_key(&c)) => {
                Outcome::NoReply
            }
            out => out,
        }
    }

    /// Pageout when short (towards the higher target while faults wait),
    /// and the OOM killer when memory and swap are exhausted.
    fn pageout_if_short(&mut self) {
        if self.vm.swap().is_none() {
            return;
        }
        let short = self.vm.pageout_shortage(!self.waiting.is_empty());
        if short > 0 {
            self.vm.pageout(self.platform.pmap(), short);
            if self.vm.out_of_swap() {
                self.oom_kill();
            }
        }
    }

    fn handle_message(&mut self, msg: Message) -> Outcome {
        match msg {
            Message::Observe { label } => Outcome::Reply(self.observe(label)),
            Message::SwapSignal => {
                self.retry_waiters();
                Outcome::NoReply
            }
            _ if !msg.client().is_some_and(|c| self.clients.contains_key(&c)) => {
                self.platform.log(format_args!(
                    "vm-server: message from unknown client {msg:?} ignored"
                ));
                Outcome::NoReply
            }
            Message::OtherFault { client, what } => {
                self.kill(client, what, ExitStatus::Killed(None));
                Outcome::NoReply
            }
            Message::Fault {
                client,
                addr,
                access,
                ip,
            } => self.page_fault(client, addr, access, ip),
            Message::Request {
                client,
                label,
                words,
            } => {
                let mut r = ReplyMsg::empty(0);
                let (rlabel, n) = vm_api::dispatch(self, client, label, words, &mut r.words);
                (r.label, r.len) = (rlabel, n);
                if !vm_api::needs_reply(label, rlabel) || !self.clients.contains_key(&client) {
                    return Outcome::NoReply;
                }
                Outcome::Reply(r)
            }
        }
    }

    /// The root task's view: `Stats` only.
    fn observe(&mut self, label: u64) -> ReplyMsg {
        if label != vm_api::Operation::Stats.label() {
            return ReplyMsg::empty(ApiError::BadClient.code());
        }
        let mut r = ReplyMsg::empty(0);
        (r.label, r.len) = WireReply::Stats(crate::stats::global(self)).encode(&mut r.words);
        r
    }

    /// Resolve a page fault; one the VM refuses stops the client.
    fn page_fault(&mut self, client: ClientId, addr: u64, access: Access, ip: u64) -> Outcome {
        let c = self.clients.get_mut(&client).expect("known client");
        c.faults += 1;
        let space = c.space;
        let Some(result) = self.fault_or_oom(client, space, addr, access) else {
            return Outcome::NoReply;
        };
        match result {
            Ok(FaultOutcome::Mapped(_)) => Outcome::Reply(ReplyMsg::empty(0)),
            Ok(FaultOutcome::Wait(_)) => {
                // Keep the reply and serve others until the I/O is done.
                match self.platform.save_reply() {
                    Ok(reply) => {
                        self.waiting.push(Waiter {
                            client,
                            addr,
                            access,
                            reply,
                        });
                    }
                    Err(e) => {
                        self.kill(client, &e, ExitStatus::Killed(Some(ApiError::OutOfMemory)))
                    }
                }
                Outcome::NoReply
            }
            Ok(other) => {
                let why = format!("fault outcome {other:?} not handled");
                self.kill(client, &why, ExitStatus::Killed(None));
                Outcome::NoReply
            }
            Err(e) => {
                let why = format!("{access:?} fault at {addr:#x} (ip {ip:#x}): {e:?}");
                self.kill(client, &why, ExitStatus::Killed(Some(convert::error(e))));
                Outcome::NoReply
            }
        }
    }

    /// `Vm::fault` (with the client's `FailNextPagein` armed, if it
    /// asked). Out of memory, pageout runs first and the fault is tried
    /// again (it then waits for the writes pageout started). Only when
    /// memory and swap are exhausted (`Vm::out_of_swap`), or there is no
    /// swap, does the OOM killer stop someone; unless that was the
    /// faulting client (`None`), the fault is tried again.
    fn fault_or_oom(
        &mut self,
        client: ClientId,
        space: SpaceId,
        addr: u64,
        access: Access,
    ) -> Option<Result<FaultOutcome, VmError>> {
        let mut paged_out = false;
        loop {
            let armed =
                self.fail_pagein == Some(client) && self.platform.arm_read_failure(&mut self.vm);
            let result = self.vm.fault(space, addr, access, self.platform.pmap());
            // A read it started used the failure up; otherwise it stays
            // pending for this client, not the next reader.
            if armed && self.platform.disarm_read_failure(&mut self.vm) {
                self.fail_pagein = None;
            }
            if !matches!(result, Err(VmError::OutOfMemory | VmError::NoSwap)) {
                return Some(result);
            }
            let swap = self.vm.swap().is_some();
            if swap && !paged_out {
                paged_out = true;
                let want = self.vm.pageout_shortage(true).max(1);
                self.vm.pageout(self.platform.pmap(), want);
                continue;
            }
            if swap && !self.vm.out_of_swap() {
                // Short of something pageout cannot give (kernel objects,
                // say): this fault fails alone.
                return Some(result);
            }
            match self.oom_kill() {
                Some(victim) if victim == client => return None,
                Some(_) => paged_out = false,
                None => return Some(result),
            }
        }
    }

    /// The OOM killer: stops the client the VM's `OomPolicy` picks with
    /// `NoSwap` (`OutOfMemory` without swap). Returns it (`None`: the
    /// policy picked nobody).
    fn oom_kill(&mut self) -> Option<ClientId> {
        let victim = self.vm.oom_victim()?;
        let id = self
            .clients
            .iter()
            .find(|(_, c)| c.space == victim)
            .map(|(&id, _)| id)?;
        let (error, why) = if self.vm.swap().is_some() {
            (ApiError::NoSwap, "out of swap space")
        } else {
            (ApiError::OutOfMemory, "out of memory")
        };
        self.oom_kills += 1;
        self.kill(id, why, ExitStatus::Killed(Some(error)));
        Some(id)
    }

    /// Take the swap device's completions and retry the waiting faults:
    /// mapped ones are resumed, ones that must still wait stay, failed
    /// ones stop their client.
    fn retry_waiters(&mut self) {
        // Only which faults to retry matters, not which requests finished:
        // a retried fault maps, waits again, or fails (`Io` for the one
        // whose page-in failed).
        self.vm.swap_poll(self.platform.pmap());
        let waiting = core::mem::take(&mut self.waiting);
        for w in waiting {
            let Some(space) = self.clients.get(&w.client).map(|c| c.space) else {
                // Stopped meanwhile (by the OOM killer for another fault).
                self.platform.drop_reply(w.reply);
                continue;
            };
            let Some(result) = self.fault_or_oom(w.client, space, w.addr, w.access) else {
                self.platform.drop_reply(w.reply);
                continue;
            };
            match result {
                Ok(FaultOutcome::Mapped(_)) => self.platform.resume(w.reply),
                Ok(FaultOutcome::Wait(_)) => self.waiting.push(w),
                Ok(other) => {
                    self.platform.drop_reply(w.reply);
                    let why = format!("fault outcome {other:?} not handled");
                    self.kill(w.client, &why, ExitStatus::Killed(None));
                }
                Err(e) => {
                    self.platform.drop_reply(w.reply);
                    let why = format!(
                        "{:?} fault at {:#x} after swap I/O: {e:?}",
                        w.access, w.addr
                    );
                    self.kill(w.client, &why, ExitStatus::Killed(Some(convert::error(e))));
                }
            }
        }
    }

    /// Stop a client: say why, then free everything it held.
    pub fn kill(&mut self, client: ClientId, why: &str, status: ExitStatus) {
        if let Some(c) = self.clients.get(&client) {
            let name = c.name.clone();
            self.platform.log(format_args!(
                "vm-server: stopping client {name} (badge {client:#x}): {why}"
            ));
        }
        self.destroy(client, status);
    }

    /// Free everything a client held (its waiting faults, its space, its
    /// kernel objects) and report its exit.
    pub(crate) fn destroy(&mut self, client: ClientId, status: ExitStatus) {
        let Some(c) = self.clients.remove(&client) else {
            return;
        };
        let (gone, keep): (Vec<_>, Vec<_>) = core::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| w.client == client);
        self.waiting = keep;
        for w in gone {
            self.platform.drop_reply(w.reply);
        }
        if self.fail_pagein == Some(client) {
            self.fail_pagein = None;
        }
        self.platform.suspend(client);
        if let Err(e) = self.vm.exit(c.space, self.platform.pmap()) {
            self.platform
                .log(format_args!("vm-server: exit of {}: {e:?}", c.name));
        }
        self.platform.reap(client, status);
    }

    /// Fork `parent`: the VM copies its space, the platform makes and
    /// starts the child's threads (semantics: fork-atomic).
    pub(crate) fn fork_client(&mut self, parent: ClientId) -> Result<ClientId, ApiError> {
        let p = self.clients.get(&parent).ok_or(ApiError::BadSpace)?;
        let (pspace, name) = (p.space, p.name.clone());
        let space = self
            .vm
            .fork(pspace, self.platform.pmap())
            .map_err(convert::error)?;
        let child = self.next_child;
        if let Err(e) = self.platform.spawn_child(parent, child, space) {
            self.platform.log(format_args!(
                "vm-server: fork of client {parent:#x} failed: {e}"
            ));
            let _ = self.vm.exit(space, self.platform.pmap());
            return Err(ApiError::OutOfMemory);
        }
        self.next_child += 1;
        self.clients.insert(
            child,
            Client {
                name: format!("{name}+{}", child - FIRST_CHILD + 1),
                space,
                parent: Some(parent),
                faults: 0,
            },
        );
        Ok(child)
    }

    /// The space of `client`, or `BadSpace`.
    pub(crate) fn space_of(&self, client: ClientId) -> Result<SpaceId, ApiError> {
        self.clients
            .get(&client)
            .map(|c| c.space)
            .ok_or(ApiError::BadSpace)
    }
}
