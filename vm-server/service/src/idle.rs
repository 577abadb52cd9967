//! The server's idle thread and `IdleWait`: free frames pre-zeroed (`Vm::zero_idle`) in the system's idle time, and clients answered once that work is done.
//!
//! The seL4 binary starts one thread of its own at the lowest priority
//! (below every client), which calls the server with `Message::Idle` in a
//! loop; so each call means nothing else could run. A call zeroes a
//! small batch, so a client that wakes meanwhile waits at most one batch
//! for the server. Each call also lets the platform prepare one thing
//! ahead of need (`Platform::prepare_ahead`: seL4's paging structures),
//! and the thread stays up while that still finds work. Once neither the
//! VM (its hysteresis) nor the platform wants more, the call is not
//! answered: its reply is kept and the thread sleeps until a message
//! leaves the VM wanting zeroed frames again (`wake_idle`, after every
//! message), so an idle system does not spin. What the platform used up
//! meanwhile is refilled at that wake-up, not before: a sparse burst of
//! faults may find its reserve empty and make its own tables.
//!
//! Locking: runs inside the single-threaded `Service`.

use crate::message::Answer;
use crate::platform::{ClientId, Platform};
use crate::service::Service;
use alloc::vec::Vec;
use vm_api::ApiError;

/// Frames one idle call zeroes: about 4,500 cycles each under QEMU, so a
/// client that becomes runnable meanwhile waits at most about 70,000.
pub const IDLE_ZERO_BATCH: u32 = 16;

/// The idle thread's state and the clients waiting for its work.
pub(crate) struct IdleThread<R> {
    /// The platform has an idle thread (`Service::set_idle_thread`).
    pub(crate) present: bool,
    /// Its call's reply while it sleeps.
    pub(crate) parked: Option<R>,
    /// `IdleWait` callers, answered when the work is done.
    pub(crate) waiters: Vec<(ClientId, R)>,
}

impl<R> Default for IdleThread<R> {
    fn default() -> Self {
        IdleThread {
            present: false,
            parked: None,
            waiters: Vec::new(),
        }
    }
}

impl<P: Platform> Service<P> {
    /// Say whether the platform runs an idle thread (`Message::Idle`);
    /// without one `IdleWait` is `NotSupported`.
    pub fn set_idle_thread(&mut self, present: bool) {
        self.idle.present = present;
    }

    /// Whether the idle thread sleeps (its reply kept).
    pub fn idle_parked(&self) -> bool {
        self.idle.parked.is_some()
    }

    /// One call of the idle thread: a batch of zeroing, answered while
    /// more is wanted; else the waiters are answered and the thread sleeps.
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    pub(crate) fn idle_turn(&mut self) -> Answer {
        // One thing prepared ahead at most a call, so a client that
        // wakes meanwhile waits for one retype besides the batch.
        let prepared = self.platform.prepare_ahead();
        self.vm.zero_idle(self.platform.pmap(), IDLE_ZERO_BATCH);
        // The thread stays up while either has work: the platform's
        // reserve is small, so that is a few calls more.
        if self.vm.zero_wanted() || prepared {
            return Answer::empty(0);
        }
        for (_, r) in core::mem::take(&mut self.idle.waiters) {
            self.platform.resume(r);
        }
        if self.idle.parked.is_some() {
            // Only one idle thread sleeps; another caller (none can have
            // its badge: `CLIENT_ID_END`) is answered.
            return Answer::empty(0);
        }
        match self.platform.save_reply() {
            Ok(r) => {
                self.idle.parked = Some(r);
                Answer::NoReply
            }
            // No slot for the reply: it calls again and finds no work.
            Err(_) => Answer::empty(0),
        }
    }

    /// After every message: a sleeping idle thread with work again runs.
    pub(crate) fn wake_idle(&mut self) {
        if self.idle.parked.is_some() && self.vm.zero_wanted() {
            self.resume_idle();
        }
    }

    /// `wake_idle`'s resumption of the parked idle thread.
    // Out of line: every message asks, few wake it; the fault path's code
    // stays on few pages (docs/performance.md, "Code pages").
    #[inline(never)]
    fn resume_idle(&mut self) {
        if let Some(r) = self.idle.parked.take() {
            self.platform.resume(r);
        }
    }

    /// `IdleWait` from `client`: answered now when there is no idle work
    /// (or no idle thread to do it), else once the idle thread is done.
    pub(crate) fn idle_wait(&mut self, client: ClientId) -> Answer {
        if !self.idle.present {
            return Answer::empty(ApiError::NotSupported.code());
        }
        if !self.vm.zero_wanted() {
            return Answer::empty(0);
        }
        match self.platform.save_reply() {
            Ok(r) => {
                self.idle.waiters.push((client, r));
                Answer::NoReply
            }
            Err(_) => Answer::empty(ApiError::OutOfMemory.code()),
        }
    }

    /// `client` is gone: its `IdleWait` reply is dropped.
    pub(crate) fn forget_idle_waiter(&mut self, client: ClientId) {
        let (gone, keep): (Vec<_>, Vec<_>) = core::mem::take(&mut self.idle.waiters)
            .into_iter()
            .partition(|(c, _)| *c == client);
        self.idle.waiters = keep;
        for (_, r) in gone {
            self.platform.drop_reply(r);
        }
    }
}
