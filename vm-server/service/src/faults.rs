//! Page faults: resolving one (with pageout and the OOM killer when memory runs out), keeping the reply of one that waits for swap I/O (or retrying it at once when its read is already done), and retrying the waiting ones after completions (semantics: oom).
//!
//! Locking: runs inside the single-threaded `Service`.

use crate::convert;
use crate::message::Answer;
use crate::platform::{ClientId, ExitStatus, Platform};
use crate::service::{Service, Waiter};
use alloc::format;
use vm_api::ApiError;
use vm_core::{Access, FaultOutcome, IoTag, SpaceId, VmError};

/// What [`Service::retry_if_done`] made of a fault told to wait.
enum Retry {
    /// Its request is still in flight: it waits.
    NotDone,
    /// Retried: the outcome, and whether it waits for memory.
    Again(Result<FaultOutcome, VmError>, bool),
    /// Its client was stopped meanwhile.
    Stopped,
}

/// Pageout passes one fault may run before it waits or fails: enough
/// for the first passes, which may only clear reference bits, few
/// enough that one client's fault cannot hold the server for long.
const MAX_FAULT_PAGEOUTS: u32 = 8;

impl<P: Platform> Service<P> {
    /// Resolve a page fault; one the VM refuses stops the client. The
    /// caller is `handle_message`, for a client it knows.
    pub(crate) fn page_fault(
        &mut self,
        client: ClientId,
        addr: u64,
        access: Access,
        ip: u64,
    ) -> Answer {
        let space = self.count_fault(client);
        let start = self.trace_clock();
        let Some((mut result, mut memory)) =
            self.fault_noting_memory(client, space, addr, access, false)
        else {
            return Answer::NoReply;
        };
        if let Ok(FaultOutcome::Wait(tag)) = result {
            match self.retry_if_done(tag, client, space, addr, access, memory) {
                Retry::Again(r, m) => (result, memory) = (r, m),
                Retry::NotDone => {}
                Retry::Stopped => return Answer::NoReply,
            }
        }
        match result {
            Ok(FaultOutcome::Mapped(m)) => {
                self.trace_fault(client, addr, access, &m, start);
                Answer::empty(0)
            }
            Ok(FaultOutcome::Wait(_)) => self.wait_for_io(client, addr, access, memory),
            other => self.refuse_fault(client, addr, access, ip, other),
        }
    }

    /// Keeps the reply of `client`'s fault told to wait, and serves others
    /// until the I/O is done. The caller is `page_fault`.
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    fn wait_for_io(&mut self, client: ClientId, addr: u64, access: Access, memory: bool) -> Answer {
        match self.platform.save_reply() {
            Ok(reply) => {
                self.waiting.push(Waiter {
                    client,
                    addr,
                    access,
                    reply,
                    memory,
                });
            }
            Err(e) => self.kill(client, &e, ExitStatus::Killed(Some(ApiError::OutOfMemory))),
        }
        Answer::NoReply
    }

    /// Stops `client`, whose fault the VM refused (or answered with an
    /// outcome a fault cannot use). The caller is `page_fault`.
    // Rare, and out of line: the fault path's code stays on few pages.
    #[cold]
    #[inline(never)]
    fn refuse_fault(
        &mut self,
        client: ClientId,
        addr: u64,
        access: Access,
        ip: u64,
        result: Result<FaultOutcome, VmError>,
    ) -> Answer {
        match result {
            Ok(other) => {
                let why = format!("fault outcome {other:?} not handled");
                self.kill(client, &why, ExitStatus::Killed(None));
            }
            Err(e) => {
                let why = format!("{access:?} fault at {addr:#x} (ip {ip:#x}): {e:?}");
                self.kill(client, &why, ExitStatus::Killed(Some(convert::error(e))));
            }
        }
        Answer::NoReply
    }

    /// A fault told to wait for `tag` may find it done already: the block
    /// server, at a higher priority, takes a read at the doorbell and,
    /// polling the disk (bench.spec), finishes it before the fault
    /// returns. Then it is retried at once, with no reply cap saved and
    /// no second message (the completions' signal is cleared; with quiet
    /// completions there is mostly none, and one published before the
    /// stretch only costs a spurious wake-up). The waiting faults are
    /// retried first, as on a completion signal: their requests may be
    /// among those taken. `memory`: the fault waits for memory, not for
    /// its page's I/O (its retry is then `Vm::fault`, else
    /// `Vm::refault`). Caller: `page_fault`, for a client it knows.
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    fn retry_if_done(
        &mut self,
        tag: IoTag,
        client: ClientId,
        space: SpaceId,
        addr: u64,
        access: Access,
        memory: bool,
    ) -> Retry {
        if self.vm.swap_poll(self.platform.pmap()).is_empty() {
            return Retry::NotDone;
        }
        // Their signal is pending, unless they came quietly (the message's
        // end takes what comes after): clear it, then take what came
        // meanwhile.
        if !self.vm.swap_quiet() {
            self.platform.clear_completion_signal();
            self.vm.swap_poll(self.platform.pmap());
        }
        // The polls took completions others wait for, with their signal.
        if self.anything_waits() {
            self.retry_waiters();
            if !self.is_client(client) {
                return Retry::Stopped;
            }
        }
        // Done by whichever poll took it: the waiters' retry polls too,
        // and a completion it takes is not this fault's to wait for (with
        // quiet completions no signal would come for it; docs/
        // performance.md, "The hang").
        if self.vm.io_pending(tag) {
            return Retry::NotDone;
        }
        match self.fault_noting_memory(client, space, addr, access, !memory) {
            Some((result, memory)) => Retry::Again(result, memory),
            None => Retry::Stopped,
        }
    }

    /// Whether a fault, an `msync`, a request deferred for a pager or a
    /// launch waits for I/O: what `retry_waiters` retries.
    fn anything_waits(&self) -> bool {
        !self.waiting.is_empty()
            || !self.syncing.is_empty()
            || !self.deferred.is_empty()
            || self.launches_waiting() > 0
    }

    /// `fault_or_oom`, and whether a fault told to wait waits for memory
    /// rather than for its own page-in (the core counts those:
    /// `Vm::memory_waits`); `Waiter::memory` keeps it.
    fn fault_noting_memory(
        &mut self,
        client: ClientId,
        space: SpaceId,
        addr: u64,
        access: Access,
        after_read: bool,
    ) -> Option<(Result<FaultOutcome, VmError>, bool)> {
        let before = self.vm.memory_waits();
        let result = self.fault_or_oom(client, space, addr, access, after_read)?;
        Some((result, self.vm.memory_waits() > before))
    }

    /// `Vm::fault` (`Vm::refault` when `after_read`: the fault waited for
    /// its page's I/O, which completed; the loader's `read_page` keeps
    /// `Vm::fault`, as it goes through a segment in order), with the
    /// client's `FailNextPagein` armed, if it asked. Out of memory,
    /// pageout runs first and the fault is tried again (it then waits
    /// for the writes pageout started), pass after pass while passes
    /// free pages: one pass may only clear reference bits, or free fewer
    /// than a page-in's window needs. Only when
    /// memory and swap are exhausted (`Vm::out_of_swap`), or there is no
    /// swap, does the OOM killer stop someone; unless that was the
    /// faulting client (`None`), the fault is tried again. The caller is
    /// `fault_noting_memory` or `read_page` (launch.rs), for a client it
    /// knows.
    pub(crate) fn fault_or_oom(
        &mut self,
        client: ClientId,
        space: SpaceId,
        addr: u64,
        access: Access,
        after_read: bool,
    ) -> Option<Result<FaultOutcome, VmError>> {
        // Pageout passes in a row that freed nothing (the first may only
        // clear reference bits), and passes in all for this fault.
        let (mut idle, mut passes) = (0, 0);
        loop {
            let armed =
                self.fail_pagein == Some(client) && self.platform.arm_read_failure(&mut self.vm);
            let pmap = self.platform.pmap();
            let result = if after_read {
                self.vm.refault(space, addr, access, pmap)
            } else {
                self.vm.fault(space, addr, access, pmap)
            };
            // A read it started used the failure up; otherwise it stays
            // pending for this client, not the next reader.
            if armed && self.platform.disarm_read_failure(&mut self.vm) {
                self.fail_pagein = None;
            }
            if !matches!(result, Err(VmError::OutOfMemory | VmError::NoSwap)) {
                return Some(result);
            }
            let swap = self.vm.swap().is_some();
            if swap && idle < 3 && passes < MAX_FAULT_PAGEOUTS {
                let before = self.vm.pool().available();
                let want = self.vm.pageout_shortage(true).max(1);
                self.vm.pageout(self.platform.pmap(), want);
                passes += 1;
                idle = if self.vm.pool().available() > before {
                    0
                } else {
                    idle + 1
                };
                continue;
            }
            if swap && !self.vm.out_of_swap() {
                // Short of something pageout cannot give (kernel objects,
                // say): this fault fails alone.
                return Some(result);
            }
            match self.oom_kill() {
                Some(victim) if victim == client => return None,
                Some(_) => (idle, passes) = (0, 0),
                None => return Some(result),
            }
        }
    }

    /// The OOM killer: stops the client the VM's `OomPolicy` picks with
    /// `NoSwap` (`OutOfMemory` without swap). Returns it (`None`: the
    /// policy picked nobody).
    // Rare, and out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[cold]
    #[inline(never)]
    pub(crate) fn oom_kill(&mut self) -> Option<ClientId> {
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

    /// Take the swap device's and the pagers' completions and retry the
    /// waiting faults: mapped ones are resumed, ones that must still wait
    /// stay, failed ones stop their client; then the waiting `msync`s.
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    pub(crate) fn retry_waiters(&mut self) {
        // Only which faults to retry matters, not which requests finished:
        // a retried fault maps, waits again, or fails (`Io` for the one
        // whose page-in failed).
        self.vm.swap_poll(self.platform.pmap());
        let waiting = core::mem::take(&mut self.waiting);
        for mut w in waiting {
            let Some(space) = self.clients.get(&w.client).map(|c| c.space) else {
                // Stopped meanwhile (by the OOM killer for another fault).
                self.platform.drop_reply(w.reply);
                continue;
            };
            let start = self.trace_clock();
            let Some((result, memory)) =
                self.fault_noting_memory(w.client, space, w.addr, w.access, !w.memory)
            else {
                self.platform.drop_reply(w.reply);
                continue;
            };
            w.memory = memory;
            match result {
                Ok(FaultOutcome::Mapped(m)) => {
                    self.trace_fault(w.client, w.addr, w.access, &m, start);
                    self.platform.resume(w.reply)
                }
                Ok(FaultOutcome::Wait(_)) => self.waiting.push(w),
                Ok(other) => {
                    self.platform.drop_reply(w.reply);
                    let why = format!("fault outcome {other:?} not handled");
                    self.kill(w.client, &why, ExitStatus::Killed(None));
                }
                Err(e) => {
                    self.platform.drop_reply(w.reply);
                    let why = format!(
                        "{:?} fault at {:#x} after its page-in (swap or pager): {e:?}",
                        w.access, w.addr
                    );
                    self.kill(w.client, &why, ExitStatus::Killed(Some(convert::error(e))));
                }
            }
        }
        self.retry_syncs();
        self.retry_deferred();
        self.retry_launches();
    }
}
