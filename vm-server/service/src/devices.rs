//! Device regions (`DeviceOpen`, docs/devices.md): the regions the server holds for its clients, by name, and opening one for a client the spec grants it, with at most the granted rights, through a quota-counted handle.
//!
//! Locking: runs inside the single-threaded `Service`.
//!
//! The server registers each region at start (`Service::add_device`: its
//! name in the spec and the core's physical object over its frames) and
//! each client's grants come with its privileges (`Privileges::devices`,
//! bit `r` for region `r`), so a forked child has its parent's grants
//! (semantics: device-open).

use crate::platform::{ClientId, Platform};
use crate::service::Service;
use alloc::string::String;
use vm_api::{ApiError, Handle, HandleReply, Prot, ShmOpenRequest};
use vm_core::{ObjectId, Prot as CoreProt};

/// Most regions the server holds: grants are 16-bit masks.
pub const MAX_DEVICES: usize = 16;

/// What a client may open: bit `r` of `read` (and of `write`) for region
/// `r`. `write` is never set without `read`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceGrants {
    pub read: u16,
    pub write: u16,
}

impl DeviceGrants {
    /// The rights granted on region `r`.
    pub fn rights(&self, r: usize) -> Prot {
        let bit = |m: u16| r < MAX_DEVICES && m & (1 << r) != 0;
        match (bit(self.read), bit(self.write)) {
            (true, true) => Prot::READ | Prot::WRITE,
            (true, false) => Prot::READ,
            _ => Prot::empty(),
        }
    }
}

/// One device region the server holds.
#[derive(Clone, Debug)]
pub struct DeviceRegion {
    /// Its name in the spec (what `DeviceOpen` asks for).
    pub name: String,
    /// The core's physical object over its frames (`Vm::device_create`).
    pub object: ObjectId,
}

impl<P: Platform> Service<P> {
    /// Register region `name` over `object` (a physical object the
    /// server holds); returns its index (the bit clients' grants use).
    /// Fails with `None` past [`MAX_DEVICES`] regions or for a name
    /// already registered.
    pub fn add_device(&mut self, name: &str, object: ObjectId) -> Option<usize> {
        if self.devices.len() >= MAX_DEVICES || self.devices.iter().any(|d| d.name == name) {
            return None;
        }
        self.devices.push(DeviceRegion {
            name: String::from(name),
            object,
        });
        Some(self.devices.len() - 1)
    }

    /// The regions registered, by index.
    pub fn devices(&self) -> &[DeviceRegion] {
        &self.devices
    }

    /// `DeviceOpen` for `client`. Errors in order: `BadSpace`,
    /// `NoSuchName` (no region of that name granted to the caller: the
    /// same code whether or not it exists, so a client cannot probe),
    /// `Protection` (more than the granted rights), then the core's
    /// `QuotaHandles` (semantics: device-open).
    pub(crate) fn device_open_for(
        &mut self,
        client: ClientId,
        req: ShmOpenRequest,
    ) -> Result<HandleReply, ApiError> {
        let c = self.clients.get(&client).ok_or(ApiError::BadSpace)?;
        let (space, grants) = (c.space, c.privileges.devices);
        let (r, region) = self
            .devices
            .iter()
            .enumerate()
            .find(|(r, d)| d.name == req.name.as_str() && !grants.rights(*r).is_empty())
            .ok_or(ApiError::NoSuchName)?;
        if !grants.rights(r).contains(req.rights) {
            return Err(ApiError::Protection);
        }
        let rights = CoreProt::from_bits_truncate(req.rights.bits() as u8);
        let h = self
            .vm
            .device_open(space, region.object, rights)
            .map_err(crate::convert::error)?;
        Ok(HandleReply {
            handle: Handle(h.0),
        })
    }
}
