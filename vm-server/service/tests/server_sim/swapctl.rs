//! The server simulation's swap control: a privileged client switches swap off (every page read back in, or refused with nothing changed) and on again, in the middle of everything else; an unprivileged one is refused (semantics: swapctl-privilege, swapctl-off, swapctl-off-nomem, swapctl-state, swapctl-on).
//!
//! Contents are checked by the simulation's model as ever: a swapoff
//! must not change a byte anyone can read.

use super::Sim;
use rand::Rng;
use vm_api::ApiError;
use vm_service::ClientId;

/// What the fixed seeds of `server_sim_random` must reach.
pub(super) const PATHS: [&str; 3] = ["swapoffs", "swapoffs refused", "swapons"];

impl Sim {
    /// `SwapOff` or `SwapOn` by `id`, as its privilege and the device's
    /// state allow, sometimes the one that is refused.
    pub(super) fn op_swapctl(&mut self, id: ClientId) {
        let attached = self.svc.vm.swap().is_some();
        let wrong = self.rng.gen_bool(0.2);
        // Mostly the switch that changes something, sometimes the other.
        let off = attached != wrong;
        self.log(format!(
            "{id:#x} swap{} (attached {attached})",
            if off { "off" } else { "on" }
        ));
        let got = self.request(id, |c| if off { c.swap_off(0) } else { c.swap_on(0) });
        if got.is_none() && !self.clients.contains_key(&id) {
            // The OOM killer, which runs before each message when memory
            // and swap are exhausted, stopped the requester first (`settle`
            // checked its exit status).
            return;
        }
        let want = match (self.clients[&id].swapctl, off, attached) {
            (false, _, _) => Err(ApiError::NotPermitted),
            (true, true, false) => Err(ApiError::AlreadyOff),
            (true, false, true) => Err(ApiError::AlreadyOn),
            _ => Ok(()),
        };
        let Some(got) = got else {
            self.fail("swapctl: no reply");
        };
        match (&got, want) {
            (Ok(()), Ok(())) => {
                let key = if off { "swapoffs" } else { "swapons" };
                *self.stats.entry(key).or_default() += 1;
            }
            // Memory could not hold the pages, or a read failed: nothing
            // changed but invisible reads.
            (Err(ApiError::OutOfMemory | ApiError::Io), Ok(())) if off => {
                *self.stats.entry("swapoffs refused").or_default() += 1;
            }
            (Err(e), Err(w)) if *e == w => {}
            _ => self.fail(&format!("swapctl: got {got:?}, model says {want:?}")),
        }
        if self.svc.vm.swap().is_some() != (attached != got.is_ok()) {
            self.fail("swapctl: the device's state does not follow the answer");
        }
        let info = self.request(id, |c| c.swap_info(0));
        match info {
            Some(Ok(i)) if i.attached == self.svc.vm.swap().is_some() => {
                if !i.attached && i.in_use != 0 {
                    self.fail(&format!("detached with slots in use: {i:?}"));
                }
            }
            other => self.fail(&format!("swap_info: {other:?}")),
        }
    }
}
