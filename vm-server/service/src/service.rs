//! The service: its clients, the faults waiting for swap I/O, and the handling of one message (pageout first if memory is short, then the fault, request or swap signal); faults live in `faults.rs`, a client's stop and fork in `clients.rs`.
//!
//! Locking: a `Service` is owned by the server's single-threaded loop;
//! every method takes `&mut self`, which is the only lock.
//!
//! A fault that must wait for a page-in keeps its reply (`Platform::
//! save_reply`) and the loop serves everyone else; after every swap
//! signal (and after a synchronous wait in the core took one) the waiting
//! faults are retried: mapped ones are resumed, ones still waiting stay,
//! failed ones stop their client; an `msync(SYNC)` that must wait for
//! write-backs to a pager keeps its reply the same way (`pagers.rs`). A
//! pager (no client of ours) is served its own operations only. A fault
//! out of memory first runs pageout and tries again; only when memory
//! and swap are exhausted does the OOM killer stop someone (semantics:
//! oom).

use crate::clients::RecentClient;
use crate::message::{Answer, Message, Outcome, ReplyMsg};
use crate::pagers::{is_pager_operation, Pagers, SyncWaiter};
use crate::platform::{ClientId, ExitStatus, Platform};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use vm_api::{ApiError, Reply as WireReply, MAX_WORDS};
use vm_core::{Access, SpaceId, SwapBackend, Vm};

/// Ids of forked children start here, above any the system spec hands out.
pub const FIRST_CHILD: ClientId = 0x10_0000;
/// Every client id (spec badge or forked child) is below this: the badges
/// from here on are the server's own (its idle thread's is this one, its
/// swap completions' `1 << 27`, the root task's observer every bit), so a
/// client can never be taken for them. Fork refuses past it.
pub const CLIENT_ID_END: ClientId = 1 << 26;

/// What the spec lets a client do beyond the requests every client may
/// make (capdl's `privileges { }`); a forked child has its parent's
/// (semantics: swapctl-privilege).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Privileges {
    /// `swapctl`: `SwapOff` and `SwapOn`.
    pub swapctl: bool,
    /// `observe`: `ClientList`, every client's counters (semantics:
    /// observe-privilege).
    pub observe: bool,
    /// The device regions it may open (`devices { }`, semantics:
    /// device-open).
    pub devices: crate::devices::DeviceGrants,
}

/// One client the server pages for.
#[derive(Clone, Debug)]
pub struct Client {
    pub name: String,
    pub space: SpaceId,
    /// The client that forked this one, if any.
    pub parent: Option<ClientId>,
    /// Fault messages it sent, but those since it became the recent
    /// client (`Service::faults_of` adds them).
    pub(crate) faults: u64,
    /// What it may do beyond the ordinary requests.
    pub privileges: Privileges,
}

/// A fault waiting for swap I/O.
pub(crate) struct Waiter<R> {
    pub(crate) client: ClientId,
    pub(crate) addr: u64,
    pub(crate) access: Access,
    pub(crate) reply: R,
    /// Waiting for memory (pages that I/O in flight frees), not for its
    /// page's I/O: pageout then aims higher (`pageout_if_short`), and the
    /// retry is `Vm::fault`, not `Vm::refault`.
    pub(crate) memory: bool,
}

/// The VM server's state and decisions.
pub struct Service<P: Platform> {
    pub vm: Vm,
    pub platform: P,
    pub(crate) clients: BTreeMap<ClientId, Client>,
    /// The client whose message came last (`clients.rs`).
    pub(crate) recent: Option<RecentClient>,
    /// Faults waiting for swap I/O, oldest first.
    pub(crate) waiting: Vec<Waiter<P::Reply>>,
    pub(crate) next_child: ClientId,
    /// The client whose next page-in is to fail (`FailNextPagein`).
    pub(crate) fail_pagein: Option<ClientId>,
    /// Clients the OOM killer stopped.
    pub oom_kills: u64,
    /// The swap device `SwapOff` detached, kept for `SwapOn`.
    pub(crate) parked_swap: Option<Box<dyn SwapBackend>>,
    /// The pager channels and the badges of their pagers.
    pub(crate) pagers: Pagers,
    /// `msync(SYNC)`s waiting for write-backs to a pager, oldest first.
    pub(crate) syncing: Vec<SyncWaiter<P::Reply>>,
    /// Clients waiting to start from a program file, and the programs.
    pub(crate) programs: crate::launch::Programs,
    /// The device regions it holds for its clients (`devices.rs`).
    pub(crate) devices: Vec<crate::devices::DeviceRegion>,
    /// Requests waiting for a pager's answer (`PagerWait`), oldest first.
    pub(crate) deferred: Vec<crate::pagers::Deferred<P::Reply>>,
    /// The idle thread and the clients waiting for its work (`idle.rs`).
    pub(crate) idle: crate::idle::IdleThread<P::Reply>,
}

impl<P: Platform> Service<P> {
    /// A service over `vm` with no clients yet; `platform` does its
    /// kernel side.
    pub fn new(vm: Vm, platform: P) -> Self {
        Service {
            vm,
            platform,
            clients: BTreeMap::new(),
            recent: None,
            waiting: Vec::new(),
            next_child: FIRST_CHILD,
            fail_pagein: None,
            oom_kills: 0,
            parked_swap: None,
            pagers: Pagers::default(),
            syncing: Vec::new(),
            programs: Default::default(),
            devices: Vec::new(),
            deferred: Vec::new(),
            idle: Default::default(),
        }
    }

    /// Serve `client` (id `id`) in `space`, which the caller made and
    /// loaded, with the `privileges` the spec grants it. Its threads
    /// must not run before this. The caller keeps `id` below
    /// [`CLIENT_ID_END`] (the server refuses a spec badge past it).
    pub fn add_client(
        &mut self,
        id: ClientId,
        name: String,
        space: SpaceId,
        privileges: Privileges,
    ) {
        debug_assert!(id < CLIENT_ID_END, "client id {id:#x} is a server badge");
        // A record replaced under the recent client would leave its space
        // stale there.
        self.forget_recent();
        self.trace_label(space, Some(id));
        self.clients.insert(
            id,
            Client {
                name,
                space,
                parent: None,
                faults: 0,
                privileges,
            },
        );
    }

    /// The client with id `id`, while it is served.
    pub fn client(&self, id: ClientId) -> Option<&Client> {
        self.clients.get(&id)
    }

    /// Every client served now, by id.
    pub fn clients(&self) -> impl Iterator<Item = (ClientId, &Client)> {
        self.clients.iter().map(|(&id, c)| (id, c))
    }

    /// Faults waiting for swap I/O now.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Handle one message: first let pageout catch up if free pages ran
    /// short, then the message, then take the completions no signal will
    /// announce (`settle_completions`). The reply's words go into
    /// `words` (the server loop's buffer, copied to the IPC buffer).
    ///
    /// Pageout runs before the message, never between resolving a fault
    /// and the thread using the page: with emulated reference bits the
    /// active scan unmaps referenced pages, and a page unmapped before its
    /// thread ran would fault again, and again (a livelock the simulation
    /// found).
    pub fn handle_into(&mut self, msg: Message, words: &mut [u64; MAX_WORDS]) -> Answer {
        let client_sent = msg.client().is_some_and(|c| self.note_sender(c));
        let sender = msg.client();
        self.pageout_if_short();
        let out = self.handle_message(msg, words);
        self.settle_completions();
        self.wake_idle();
        match out {
            // The sender was stopped meanwhile: nobody waits for a reply.
            Answer::Reply { .. } if client_sent && sender.is_some_and(|c| !self.is_client(c)) => {
                Answer::NoReply
            }
            out => out,
        }
    }

    /// `handle_into` with a reply buffer of its own, returned with the
    /// reply (host tests and the simulation).
    pub fn handle(&mut self, msg: Message) -> Outcome {
        let mut r = ReplyMsg::empty(0);
        match self.handle_into(msg, &mut r.words) {
            Answer::Reply { label, len } => {
                (r.label, r.len) = (label, len);
                Outcome::Reply(r)
            }
            Answer::NoReply => Outcome::NoReply,
        }
    }

    /// Takes the completions no signal will announce, retrying the waiting
    /// faults, until there are none: a synchronous wait in the core (fork,
    /// mlock, ...) took their signal, or the block server published them
    /// quietly while the server was awake (`Vm::swap_completions_pending`).
    /// The server calls it before it sleeps: `handle_into` after every
    /// message, the binary before its first receive.
    ///
    /// A round's retries may start I/O that completes quietly too, so it
    /// asks again. The rounds end as the back-to-back completion signals
    /// of the same work did before (seL4 delivers a pending bound
    /// notification before any message): when the retries start no more
    /// I/O. Unlike those signals' messages, no pageout pass runs between
    /// rounds, which keeps the rule that none runs between resolving a
    /// fault and its thread using the page (`handle_into`); a retried fault
    /// short of memory runs its own (`fault_or_oom`).
    pub fn settle_completions(&mut self) {
        while self.vm.swap_completions_pending() {
            self.retry_waiters();
        }
    }

    /// Pageout when short (towards the higher target while faults wait
    /// for memory), and the OOM killer when memory and swap are exhausted.
    /// A fault waiting for its own page-in has its frames already: it is
    /// no reason for a pass (one per page-in message, measured in
    /// docs/performance.md, "Swap page-in").
    pub(crate) fn pageout_if_short(&mut self) {
        if self.vm.swap().is_none() {
            return;
        }
        let short = self
            .vm
            .pageout_shortage(self.waiting.iter().any(|w| w.memory));
        if short > 0 {
            self.pageout_now(short);
        }
    }

    /// `pageout_if_short` once short by `short` pages.
    // Out of line: every message asks, few are short; the fault path's
    // code stays on few pages (docs/performance.md, "Code pages").
    #[inline(never)]
    fn pageout_now(&mut self, short: u32) {
        self.vm.pageout(self.platform.pmap(), short);
        if self.vm.out_of_swap() {
            self.oom_kill();
        }
    }

    fn handle_message(&mut self, msg: Message, out: &mut [u64; MAX_WORDS]) -> Answer {
        match msg {
            Message::Observe { label } => self.observe(label, out),
            Message::SwapSignal => {
                self.retry_waiters();
                Answer::NoReply
            }
            Message::Idle => self.idle_turn(),
            // A pager is no client of ours: only its operations are
            // served to a badge we do not page for.
            Message::Request {
                client,
                label,
                words,
            } if is_pager_operation(label) => self.request(client, label, words, out),
            // A pager's own thread faulted: it is dead (docs/pager.md,
            // "Pager death"). It gets no reply, so it stays stopped.
            Message::Fault { client, .. } | Message::OtherFault { client, .. }
                if self.pager_of(client).is_some() =>
            {
                self.pager_died(client);
                Answer::NoReply
            }
            _ if !msg.client().is_some_and(|c| self.is_client(c)) => {
                self.platform.log(format_args!(
                    "vm-server: message from unknown client {msg:?} ignored"
                ));
                Answer::NoReply
            }
            Message::OtherFault { client, what } => {
                self.kill(client, what, ExitStatus::Killed(None));
                Answer::NoReply
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
                if label == vm_api::Operation::IdleWait.label() && words.is_empty() {
                    return self.idle_wait(client);
                }
                if label == vm_api::Operation::Msync.label() {
                    if let Ok(vm_api::Request::Msync(req)) = vm_api::Request::decode(label, words) {
                        return self.msync_or_wait(client, req);
                    }
                }
                let answer = self.request(client, label, words, out);
                if !self.is_client(client) {
                    return Answer::NoReply;
                }
                match answer {
                    Answer::Reply { label: l, .. } if l == ApiError::PagerWait.code() => {
                        self.defer_request(client, label, words)
                    }
                    answer => answer,
                }
            }
        }
    }

    /// A `vm-api` request through `dispatch`, its reply's words written
    /// into `out`; answered unless it is a successful `Exit`.
    pub(crate) fn request(
        &mut self,
        client: ClientId,
        label: u64,
        words: &[u64],
        out: &mut [u64; MAX_WORDS],
    ) -> Answer {
        let (rlabel, len) = vm_api::dispatch(self, client, label, words, out);
        if !vm_api::needs_reply(label, rlabel) {
            return Answer::NoReply;
        }
        Answer::Reply { label: rlabel, len }
    }

    /// The root task's view: `Stats` only.
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    fn observe(&mut self, label: u64, out: &mut [u64; MAX_WORDS]) -> Answer {
        if label != vm_api::Operation::Stats.label() {
            return Answer::empty(ApiError::BadClient.code());
        }
        let (label, len) = WireReply::Stats(crate::stats::global(self)).encode(out);
        Answer::Reply { label, len }
    }
}
