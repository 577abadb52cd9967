//! A client's life in the server: stopping it, freeing what it held, forking it; and the client whose message came last, kept beside the server's state.
//!
//! Locking: runs inside the single-threaded `Service`.

use crate::convert;
use crate::platform::{ClientId, ExitStatus, Platform};
use crate::service::{Client, Service, FIRST_CHILD};
use alloc::format;
use alloc::vec::Vec;
use vm_api::ApiError;
use vm_core::SpaceId;

/// The client whose message came last: its space, and its fault messages
/// since, not yet added to its `Client::faults`. Every message asks
/// whether its sender is a client, and a fault wants its space and counts
/// itself; this answers them from the service's own state, so a message
/// does not reach the clients map's node, which under TCG is a data page
/// more after each page-table switch, or two when the node straddles a
/// page boundary (docs/performance.md, "The recent client").
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecentClient {
    id: ClientId,
    space: SpaceId,
    faults: u64,
}

impl<P: Platform> Service<P> {
    /// Whether `client` is served now; if it is, it becomes the recent
    /// client. The caller is `handle_into`, for a message's sender.
    pub(crate) fn note_sender(&mut self, client: ClientId) -> bool {
        if self.recent(client).is_some() {
            return true;
        }
        let Some(space) = self.clients.get(&client).map(|c| c.space) else {
            return false;
        };
        self.forget_recent();
        self.recent = Some(RecentClient {
            id: client,
            space,
            faults: 0,
        });
        true
    }

    /// Whether `client` is served now.
    pub(crate) fn is_client(&self, client: ClientId) -> bool {
        self.recent(client).is_some() || self.clients.contains_key(&client)
    }

    /// The recent client, if it is `client`.
    fn recent(&self, client: ClientId) -> Option<RecentClient> {
        self.recent.filter(|r| r.id == client)
    }

    /// Counts a fault message of `client` and returns its space. The
    /// caller is `page_fault`, for a client it knows.
    pub(crate) fn count_fault(&mut self, client: ClientId) -> SpaceId {
        match &mut self.recent {
            Some(r) if r.id == client => {
                r.faults += 1;
                r.space
            }
            _ => {
                let c = self.clients.get_mut(&client).expect("known client");
                c.faults += 1;
                c.space
            }
        }
    }

    /// The fault messages of client `id`, whose record is `c`.
    pub(crate) fn faults_of(&self, id: ClientId, c: &Client) -> u64 {
        c.faults + self.recent(id).map_or(0, |r| r.faults)
    }

    /// No recent client: its faults go into its record.
    pub(crate) fn forget_recent(&mut self) {
        if let Some(r) = self.recent.take() {
            if let Some(c) = self.clients.get_mut(&r.id) {
                c.faults += r.faults;
            }
        }
    }

    /// Stop a client: say why, then free everything it held. An unknown
    /// id is ignored, so a client stopped twice is stopped once.
    // Rare, and out of line: the fault path's code stays on few pages
    // (docs/performance.md, "Code pages").
    #[cold]
    #[inline(never)]
    pub fn kill(&mut self, client: ClientId, why: &str, status: ExitStatus) {
        if let Some(c) = self.clients.get(&client) {
            let name = c.name.clone();
            self.platform.log(format_args!(
                "vm-server: stopping client {name} (badge {client:#x}): {why}"
            ));
        }
        self.destroy(client, status);
    }

    /// Free everything a client held (its waiting faults and msyncs, its space, its
    /// kernel objects) and report its exit. The caller sends it no reply
    /// afterwards; an unknown id is ignored.
    pub(crate) fn destroy(&mut self, client: ClientId, status: ExitStatus) {
        self.forget_recent();
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
        let (gone, keep): (Vec<_>, Vec<_>) = core::mem::take(&mut self.syncing)
            .into_iter()
            .partition(|w| w.client == client);
        self.syncing = keep;
        for w in gone {
            self.platform.drop_reply(w.reply);
        }
        let (gone, keep): (Vec<_>, Vec<_>) = core::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|d| d.client == client);
        self.deferred = keep;
        for d in gone {
            self.platform.drop_reply(d.reply);
        }
        self.forget_idle_waiter(client);
        if self.fail_pagein == Some(client) {
            self.fail_pagein = None;
        }
        self.forget_launch(client);
        self.platform.suspend(client);
        if let Err(e) = self.vm.exit(c.space, self.platform.pmap()) {
            self.platform
                .log(format_args!("vm-server: exit of {}: {e:?}", c.name));
        }
        self.trace_label(c.space, None);
        // Before the exit report, after which the run may end.
        self.trace_drain(true);
        self.platform.reap(client, status);
    }

    /// Fork `parent`: the VM copies its space, the platform makes and
    /// starts the child's threads (semantics: fork-atomic). The caller is
    /// `parent`'s own `Fork` request; on failure nothing of the child is
    /// left.
    pub(crate) fn fork_client(&mut self, parent: ClientId) -> Result<ClientId, ApiError> {
        let p = self.clients.get(&parent).ok_or(ApiError::BadSpace)?;
        let (pspace, name, privileges) = (p.space, p.name.clone(), p.privileges);
        // Ids are never reused: after 2^26 - 2^20 forks in all, none is left.
        if self.next_child >= crate::service::CLIENT_ID_END {
            return Err(ApiError::OutOfMemory);
        }
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
        self.trace_label(space, Some(child));
        self.clients.insert(
            child,
            Client {
                name: format!("{name}+{}", child - FIRST_CHILD + 1),
                space,
                parent: Some(parent),
                faults: 0,
                privileges,
            },
        );
        Ok(child)
    }

    /// The space of `client`, or `BadSpace`.
    pub(crate) fn space_of(&self, client: ClientId) -> Result<SpaceId, ApiError> {
        if let Some(r) = self.recent(client) {
            return Ok(r.space);
        }
        self.clients
            .get(&client)
            .map(|c| c.space)
            .ok_or(ApiError::BadSpace)
    }
}
