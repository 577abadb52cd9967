//! Swap control (`SwapInfo`, `SwapOff`, `SwapOn`): per-device statistics for every client, swapoff and swapon for clients the spec grants `privileges { swapctl }`, and the detached device kept for swapon.
//!
//! Locking: runs inside the single-threaded `Service`. Swapoff is
//! synchronous: it waits for the device inside one request, so the
//! server serves nobody else meanwhile, as fork and mlock do (semantics:
//! swapctl-off).
//!
//! The server has one swap device, index 0: the one attached at start.
//! After `SwapOff` the core hands the backend back and the service keeps
//! it here (`Service::parked_swap`), so `SwapOn` attaches the very same
//! device, and `SwapInfo` still reports it (detached).

use crate::convert;
use crate::platform::{ClientId, Platform};
use crate::service::Service;
use vm_api::{ApiError, SwapDeviceInfo};
use vm_swap::SwapStats;

/// The one device index the server has.
const DEVICE: u64 = 0;

/// The reply for a device with these counters.
fn info(device: u64, attached: bool, s: &SwapStats) -> SwapDeviceInfo {
    SwapDeviceInfo {
        device,
        attached,
        slots: s.swpages,
        in_use: s.swpginuse,
        bad: s.swpgbad,
        pageins: s.pageins,
        pgswapin: s.pgswapin,
        pageouts: s.pageouts,
        pgswapout: s.pgswapout,
        read_errors: s.io_read_errors,
        write_errors: s.io_write_errors,
    }
}

impl<P: Platform> Service<P> {
    /// `SwapInfo` for `client`: open to every client (semantics:
    /// swapctl-info). Errors: `BadSpace`, then `NoSuchDevice`.
    pub(crate) fn swapctl_info(
        &mut self,
        client: ClientId,
        device: u64,
    ) -> Result<SwapDeviceInfo, ApiError> {
        self.space_of(client)?;
        if device != DEVICE {
            return Err(ApiError::NoSuchDevice);
        }
        if let Some(s) = self.vm.swap_stats() {
            return Ok(info(device, true, &s));
        }
        match self.parked_swap.as_mut() {
            Some(b) => Ok(info(device, false, &b.stats())),
            None => Err(ApiError::NoSuchDevice),
        }
    }

    /// `SwapOff` for `client`. Errors in order: `BadSpace`,
    /// `NotPermitted` (semantics: swapctl-privilege), `NoSuchDevice`,
    /// `AlreadyOff` (semantics: swapctl-state), then the core's:
    /// `OutOfMemory` when memory cannot hold the pages, nothing changed
    /// (semantics: swapctl-off-nomem), `Io` on a read error (the device
    /// stays attached).
    pub(crate) fn swapctl_off(&mut self, client: ClientId, device: u64) -> Result<(), ApiError> {
        self.may_control_swap(client, device)?;
        if self.vm.swap().is_none() {
            return Err(ApiError::AlreadyOff);
        }
        let (read, in_use) = self
            .vm
            .swap_stats()
            .map_or((0, 0), |s| (s.pgswapin, s.swpginuse));
        let mut backend = self
            .vm
            .swap_off(self.platform.pmap())
            .map_err(convert::error)?;
        let read = backend.stats().pgswapin.saturating_sub(read);
        self.parked_swap = Some(backend);
        self.platform.log(format_args!(
            "vm-server: swapoff of device {device} by client {client:#x}: \
             {read} pages read back in ({in_use} slots were in use)"
        ));
        Ok(())
    }

    /// `SwapOn` for `client`: attaches the device `SwapOff` detached.
    /// Errors in order: `BadSpace`, `NotPermitted`, `NoSuchDevice`,
    /// `AlreadyOn` (semantics: swapctl-state, swapctl-on).
    pub(crate) fn swapctl_on(&mut self, client: ClientId, device: u64) -> Result<(), ApiError> {
        self.may_control_swap(client, device)?;
        if self.vm.swap().is_some() {
            return Err(ApiError::AlreadyOn);
        }
        let backend = self.parked_swap.take().ok_or(ApiError::NoSuchDevice)?;
        // Cannot fail: nothing is attached (checked above).
        self.vm.swap_on(backend).map_err(convert::error)?;
        self.platform.log(format_args!(
            "vm-server: swapon of device {device} by client {client:#x}"
        ));
        Ok(())
    }

    /// The checks `SwapOff` and `SwapOn` share, in order: `BadSpace`,
    /// `NotPermitted` (before the device, so an unprivileged client
    /// learns nothing about devices), `NoSuchDevice` (also for a server
    /// that never had swap).
    fn may_control_swap(&self, client: ClientId, device: u64) -> Result<(), ApiError> {
        let c = self.clients.get(&client).ok_or(ApiError::BadSpace)?;
        if !c.privileges.swapctl {
            return Err(ApiError::NotPermitted);
        }
        if device != DEVICE || (self.vm.swap().is_none() && self.parked_swap.is_none()) {
            return Err(ApiError::NoSuchDevice);
        }
        Ok(())
    }
}
