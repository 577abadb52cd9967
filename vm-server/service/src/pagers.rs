//! File mappings at the server (docs/pager.md): the pager registry — which badge is the pager of which channel, bound by a challenge only a holder of the channel can echo — `PagerCreate`, and `msync(SYNC)` replies that wait for write-backs.
//!
//! Locking: runs inside the single-threaded `Service`.
//!
//! A pager is not one of the server's clients (the file server is not
//! paged); it calls the VM server's endpoint with a badge no client has.
//! A badge says nothing by itself: any component the spec gives a cap
//! could call with it. What only the pager can do is write the ring page
//! of its channel, a frame the spec shares between it and the VM server
//! alone. So a badge is bound to a channel in two calls:
//! `PagerChallenge` hands the badge a fresh challenge (kept for that
//! badge only); the pager writes it into the channel's attach word and
//! calls `PagerAttach` with it; the server binds the badge to the
//! channel whose attach word holds the challenge it gave that badge.
//! A stranger asking for a challenge gets one of its own, which it
//! cannot write anywhere that matters; nothing is secret, so nothing
//! needs to be unguessable.

use crate::convert;
use crate::message::{Answer, ReplyMsg};
use crate::platform::{ClientId, Platform};
use crate::service::Service;
use alloc::collections::BTreeMap;
use vm_api::{ApiError, HandleReply, MsyncRequest, PagerChallengeReply, PagerCreateRequest};
use vm_core::PAGE_SIZE;

/// Most badges holding an unanswered challenge at once; past it the
/// oldest challenge is forgotten (its holder asks again).
pub const MAX_CHALLENGES: usize = 64;

/// The pager channels and who serves each.
#[derive(Default)]
pub(crate) struct Pagers {
    /// Every channel attached to the VM (by pager id), with the badge
    /// bound to it once its pager attached.
    channels: BTreeMap<u32, Option<ClientId>>,
    /// The last challenge given to each badge that has not attached,
    /// with its place in the order they were given.
    challenges: BTreeMap<ClientId, (u64, u64)>,
    /// The last challenge handed out, and how many were.
    last_challenge: u64,
    given: u64,
    /// Bit `badge % 64` set for every bound badge. Every fault asks
    /// whether its sender is a pager; for a client the filter answers on
    /// the service's own page, without walking `channels` on a page of its
    /// own (docs/performance.md, "Data pages of a fault").
    bound_filter: u64,
}

/// A badge's bit in `Pagers::bound_filter`.
fn filter_bit(badge: ClientId) -> u64 {
    1 << (badge % 64)
}

impl Pagers {
    /// The pager id bound to `badge`, if any.
    pub(crate) fn bound(&self, badge: ClientId) -> Option<u32> {
        if self.bound_filter & filter_bit(badge) == 0 {
            return None;
        }
        self.channels
            .iter()
            .find(|(_, b)| **b == Some(badge))
            .map(|(&id, _)| id)
    }
}

/// An `msync(SYNC)` waiting for its write-backs, with its reply kept.
pub(crate) struct SyncWaiter<R> {
    pub(crate) client: ClientId,
    pub(crate) req: MsyncRequest,
    pub(crate) reply: R,
}

/// Most words a request that may wait for a pager has (`Mlock`'s two,
/// with room); a longer one never answers `PagerWait`.
const DEFERRED_WORDS: usize = 4;

/// A request that answered `PagerWait` (docs/pager.md, "Waiting for a
/// pager"), kept with its reply to run again after the pager's next
/// completion. At most one per client: its thread waits in the `Call`.
pub(crate) struct Deferred<R> {
    pub(crate) client: ClientId,
    label: u64,
    words: [u64; DEFERRED_WORDS],
    len: usize,
    pub(crate) reply: R,
}

/// True for the operations a pager (not a client of ours) may call.
pub(crate) fn is_pager_operation(label: u64) -> bool {
    use vm_api::Operation::{
        PagerAttach, PagerChallenge, PagerCreate, PagerProgram, PagerProgramName,
    };
    [
        PagerChallenge,
        PagerAttach,
        PagerCreate,
        PagerProgramName,
        PagerProgram,
    ]
    .iter()
    .any(|op| op.label() == label)
}

impl<P: Platform> Service<P> {
    /// Pager channel `pager`, attached to the VM with `Vm::pager_attach`,
    /// waits for its pager to attach (`PagerChallenge`, `PagerAttach`).
    pub fn add_pager_channel(&mut self, pager: u32) {
        self.pagers.channels.entry(pager).or_insert(None);
    }

    /// The pager id bound to `badge`, if its pager attached.
    pub fn pager_of(&self, badge: ClientId) -> Option<u32> {
        self.pagers.bound(badge)
    }

    /// The pager bound to `badge` is dead (its thread faulted; the spec
    /// makes the VM server its fault handler): every request in flight
    /// on its channel fails, its objects die (`Vm::pager_dead`), and the
    /// faults and `msync`s waiting on it are retried now, so each ends
    /// with `PagerDead` at once. Nothing else changes: other pagers,
    /// anonymous memory and clients that never mapped its objects go on.
    /// The badge stays bound, so nothing can attach to the dead channel.
    // Rare, and out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[cold]
    #[inline(never)]
    pub fn pager_died(&mut self, badge: ClientId) {
        let Some(pager) = self.pagers.bound(badge) else {
            return;
        };
        self.platform.log(format_args!(
            "vm-server: pager {pager} (badge {badge:#x}) died: its objects are dead, its waiters fail with PagerDead"
        ));
        self.vm.pager_dead(pager, self.platform.pmap());
        self.retry_waiters();
    }

    /// `PagerChallenge`: a fresh challenge for `badge`, replacing any it
    /// had; never 0 and never one handed out before (a counter stepped
    /// by an odd constant visits every value once). `NotSupported`
    /// without channels, `NotPermitted` when every channel has its pager.
    pub(crate) fn pager_challenge_for(
        &mut self,
        badge: ClientId,
    ) -> Result<PagerChallengeReply, ApiError> {
        if self.pagers.channels.is_empty() {
            return Err(ApiError::NotSupported);
        }
        // Every channel has its pager: a challenge could bind nothing, so
        // nobody fills the table (and evicts a pager's) for nothing.
        if self.pagers.channels.values().all(Option::is_some) {
            return Err(ApiError::NotPermitted);
        }
        let table = &mut self.pagers.challenges;
        if table.len() >= MAX_CHALLENGES && !table.contains_key(&badge) {
            if let Some((&old, _)) = table.iter().min_by_key(|(_, &(given, _))| given) {
                table.remove(&old);
            }
        }
        let mut c = self.pagers.last_challenge;
        loop {
            c = c.wrapping_add(0x9e37_79b9_7f4a_7c15);
            if c != 0 {
                break;
            }
        }
        self.pagers.last_challenge = c;
        self.pagers.given += 1;
        table.insert(badge, (self.pagers.given, c));
        Ok(PagerChallengeReply { challenge: c })
    }

    /// `PagerAttach`: binds `badge` to the unbound channel whose attach
    /// word holds the challenge it was given; `NotPermitted` for anything
    /// else, with nothing changed.
    pub(crate) fn pager_attach_for(
        &mut self,
        badge: ClientId,
        challenge: u64,
    ) -> Result<(), ApiError> {
        if self.pagers.challenges.get(&badge).map(|&(_, c)| c) != Some(challenge)
            || self.pagers.bound(badge).is_some()
        {
            return Err(ApiError::NotPermitted);
        }
        let platform = &self.platform;
        let channel = self
            .pagers
            .channels
            .iter()
            .find(|(&id, bound)| {
                bound.is_none() && platform.pager_attach_word(id) == Some(challenge)
            })
            .map(|(&id, _)| id)
            .ok_or(ApiError::NotPermitted)?;
        self.pagers.challenges.remove(&badge);
        self.pagers.channels.insert(channel, Some(badge));
        self.pagers.bound_filter |= filter_bit(badge);
        self.platform.log(format_args!(
            "vm-server: badge {badge:#x} attached as the pager of channel {channel}"
        ));
        Ok(())
    }

    /// `PagerCreate` from `badge`: object `key` of its channel, a handle
    /// in `req.client`'s space with `req.rights`.
    pub(crate) fn pager_create_for(
        &mut self,
        badge: ClientId,
        req: PagerCreateRequest,
    ) -> Result<HandleReply, ApiError> {
        let pager = self.pagers.bound(badge).ok_or(ApiError::NotPermitted)?;
        let space = self.space_of(req.client).map_err(|_| ApiError::BadClient)?;
        let pages = req.size_bytes.div_ceil(PAGE_SIZE);
        let h = self
            .vm
            .pager_open(space, pager, req.key, pages, convert::prot(req.rights))
            .map_err(convert::error)?;
        Ok(HandleReply {
            handle: vm_api::Handle(h.0),
        })
    }

    /// `Msync` of a client the caller knows: answered now, or, when a
    /// `SYNC` must wait for write-backs to a pager, kept with its reply
    /// until `retry_syncs` finds them done.
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    pub(crate) fn msync_or_wait(&mut self, client: ClientId, req: MsyncRequest) -> Answer {
        let result = self.msync_step(client, &req);
        match result {
            Ok(false) => Answer::empty(0),
            Err(e) => Answer::empty(e.code()),
            Ok(true) => match self.platform.save_reply() {
                Ok(reply) => {
                    self.syncing.push(SyncWaiter { client, req, reply });
                    Answer::NoReply
                }
                Err(_) => Answer::empty(ApiError::OutOfMemory.code()),
            },
        }
    }

    /// A client's request whose answer (`out`) is `PagerWait`: kept with
    /// its reply, to run again after the pager's next completion. The
    /// caller sends nothing now.
    // Out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[inline(never)]
    pub(crate) fn defer_request(&mut self, client: ClientId, label: u64, words: &[u64]) -> Answer {
        if words.len() > DEFERRED_WORDS {
            return Answer::empty(ApiError::Busy.code());
        }
        match self.platform.save_reply() {
            Ok(reply) => {
                let mut w = [0; DEFERRED_WORDS];
                w[..words.len()].copy_from_slice(words);
                self.deferred.push(Deferred {
                    client,
                    label,
                    words: w,
                    len: words.len(),
                    reply,
                });
                Answer::NoReply
            }
            Err(_) => Answer::empty(ApiError::OutOfMemory.code()),
        }
    }

    /// Runs every deferred request again (after completions): each that
    /// no longer waits for a pager is answered.
    pub(crate) fn retry_deferred(&mut self) {
        let waiting = core::mem::take(&mut self.deferred);
        for d in waiting {
            if !self.clients.contains_key(&d.client) {
                self.platform.drop_reply(d.reply);
                continue;
            }
            let mut r = ReplyMsg::empty(0);
            match self.request(d.client, d.label, &d.words[..d.len], &mut r.words) {
                Answer::Reply { label, .. } if label == ApiError::PagerWait.code() => {
                    self.deferred.push(d)
                }
                Answer::Reply { label, len } => {
                    (r.label, r.len) = (label, len);
                    self.platform.answer(d.reply, &r)
                }
                Answer::NoReply => self.platform.drop_reply(d.reply),
            }
        }
    }

    /// Requests waiting for a pager now.
    pub fn requests_deferred(&self) -> usize {
        self.deferred.len()
    }

    /// One try of `client`'s msync: `Ok(true)` while it must wait.
    fn msync_step(&mut self, client: ClientId, req: &MsyncRequest) -> Result<bool, ApiError> {
        let space = self.space_of(client)?;
        let flags = convert::msync_flags(req.flags);
        let wait = self
            .vm
            .msync_start(space, req.addr, req.len, flags, self.platform.pmap())
            .map_err(convert::error)?;
        Ok(wait.is_some())
    }

    /// Tries every waiting msync again (after completions): each that
    /// has nothing left to wait for is answered, with its error if a
    /// write-back failed; the others keep waiting.
    pub(crate) fn retry_syncs(&mut self) {
        let waiting = core::mem::take(&mut self.syncing);
        for w in waiting {
            if !self.clients.contains_key(&w.client) {
                self.platform.drop_reply(w.reply);
                continue;
            }
            match self.msync_step(w.client, &w.req) {
                Ok(true) => self.syncing.push(w),
                Ok(false) => self.platform.answer(w.reply, &ReplyMsg::empty(0)),
                Err(e) => self.platform.answer(w.reply, &ReplyMsg::empty(e.code())),
            }
        }
    }

    /// `msync`s waiting for write-backs now.
    pub fn syncs_waiting(&self) -> usize {
        self.syncing.len()
    }
}
