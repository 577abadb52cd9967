//! The device-info page: the device regions a pager holds for its clients (`device_frame` objects of the spec), where their frame caps are, and which client may open which.
//!
//! The root task writes it for a pager whose clients the spec grants
//! `devices { }`, and maps it read-only at [`DEVICE_INFO_VADDR`] next to
//! the pager-info page, whose client table it indexes: grant `i` belongs
//! to `PagerInfo::clients[i]`.

use crate::start_info::{encode_name, NAME_LEN, PAGER_INFO_PAGES, PAGER_INFO_VADDR};
use sel4::Word;

/// Where a pager finds its device-info page: after the pager-info pages.
pub const DEVICE_INFO_VADDR: u64 = PAGER_INFO_VADDR + PAGER_INFO_PAGES as u64 * 0x1000;
/// "seL4DEVI".
pub const DEVICE_INFO_MAGIC: u64 = 0x4956_4544_344c_6573;
/// Most regions one pager holds (the capdl validator refuses more).
pub const MAX_DEVICES: usize = capdl::MAX_PAGER_DEVICES;
/// One grant per client of the pager-info page.
pub const MAX_CLIENTS: usize = capdl::MAX_PAGER_CLIENTS;

/// One device region: its name in the spec, where it is, and its frame
/// caps (one per page) in the pager's CSpace.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DeviceRegionInfo {
    pub name: [u8; NAME_LEN],
    /// Its physical address (for messages; the caps are what maps it).
    pub paddr: Word,
    pub pages: Word,
    /// The slot of the first page's frame cap; the others follow.
    pub first_slot: Word,
}

/// What one client may open: bit `r` of `read` (and of `write`) for
/// region `r`. `write` is never set without `read`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceGrantInfo {
    pub read: u16,
    pub write: u16,
}

/// The device-info page.
#[repr(C)]
pub struct DeviceInfo {
    pub magic: u64,
    pub count: Word,
    pub regions: [DeviceRegionInfo; MAX_DEVICES],
    /// By the client's index in the pager-info page.
    pub grants: [DeviceGrantInfo; MAX_CLIENTS],
}

const _: () = assert!(core::mem::size_of::<DeviceInfo>() <= 4096);
const _: () = assert!(MAX_DEVICES <= 16, "grants are 16-bit masks");

impl DeviceRegionInfo {
    pub fn new(name: &str, paddr: u64, pages: u64, first_slot: u64) -> Self {
        DeviceRegionInfo {
            name: encode_name(name),
            paddr,
            pages,
            first_slot,
        }
    }

    /// The region's name (as the spec spells it, cut to 24 bytes).
    pub fn name(&self) -> &str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }
}

impl DeviceInfo {
    /// The regions (bounded by the table whatever `count` says).
    pub fn regions(&self) -> &[DeviceRegionInfo] {
        &self.regions[..(self.count as usize).min(MAX_DEVICES)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_holds_sixteen_regions_and_thirty_grants() {
        assert_eq!(core::mem::size_of::<DeviceRegionInfo>(), 48);
        assert_eq!(core::mem::size_of::<DeviceInfo>(), 16 + 16 * 48 + 30 * 4);
        let r = DeviceRegionInfo::new("ivshmem", 0xe000_0000, 256, 400);
        assert_eq!((r.name(), r.pages, r.first_slot), ("ivshmem", 256, 400));
        // SAFETY: DeviceInfo is repr(C) integers and arrays of them; all
        // zeros is a valid (empty) value.
        let mut d: DeviceInfo = unsafe { core::mem::zeroed() };
        d.count = 99;
        assert_eq!(d.regions().len(), MAX_DEVICES);
    }
}
