//! The compact form of device regions: `device_frame` objects, a paged client's device grants and a pager's device regions.
//!
//! ```text
//! device_frame  kind 3 | size u64 | paddr u64 | pci u8 (0/1) [| bus u8 | dev u8 | func u8 | bar u8]
//! grants        (flags2 FLAG2_DEVICES) u16 count, each { object u16 | rights u8 }
//! regions       (flags2 FLAG2_DEVICE_REGIONS) u16 count, each { object u16 | pages u32 | slot u32 }
//! ```
//!
//! The decoder checks what the validator guarantees of each item on its
//! own: sizes, alignment, PCI ranges, that grants and regions name
//! `device_frame` objects with their page counts, grants only on paged
//! clients with R or RW, regions within the CNode's grant area.

use super::{DecodeErrorKind, In, Out, FLAG2_DEVICES, FLAG2_DEVICE_REGIONS, R};
use crate::spec::*;
use alloc::vec::Vec;

/// The object-kind tag of a `device_frame`.
pub(super) const KIND: u8 = 3;

pub(super) fn put_kind(o: &mut Out, k: ObjectKind) {
    let ObjectKind::DeviceFrame { size, paddr, pci } = k else {
        unreachable!("put_kind of a {}", k.keyword());
    };
    o.u8(KIND);
    o.u64(size);
    o.u64(paddr);
    match pci {
        None => o.u8(0),
        Some(p) => {
            o.u8(1);
            o.u8(p.bus);
            o.u8(p.dev);
            o.u8(p.func);
            o.u8(p.bar);
        }
    }
}

pub(super) fn get_kind(i: &mut In<'_>) -> R<ObjectKind> {
    let size = i.u64()?;
    let paddr = i.u64()?;
    let ok = size > 0
        && size.is_multiple_of(PAGE_SIZE)
        && size <= MAX_DEVICE_FRAME
        && paddr.is_multiple_of(PAGE_SIZE)
        && paddr.checked_add(size).is_some_and(|e| e <= 1 << 52);
    i.check(ok, "device_frame region")?;
    let pci = if i.bool("device_frame pci flag")? {
        let (bus, dev, func, bar) = (i.u8()?, i.u8()?, i.u8()?, i.u8()?);
        i.check(dev <= 31 && func <= 7 && bar <= 5, "PCI BAR")?;
        i.check(
            size.is_power_of_two() && paddr.is_multiple_of(size),
            "PCI BAR alignment",
        )?;
        Some(PciBar {
            bus,
            dev,
            func,
            bar,
        })
    } else {
        None
    };
    Ok(ObjectKind::DeviceFrame { size, paddr, pci })
}

pub(super) fn put_component(o: &mut Out, c: &Component) {
    if !c.devices.is_empty() {
        o.count(c.devices.len());
        for g in &c.devices {
            o.u16(g.object);
            o.u8(g.rights.0);
        }
    }
    if !c.device_regions.is_empty() {
        o.count(c.device_regions.len());
        for d in &c.device_regions {
            o.u16(d.object);
            o.u32(d.pages);
            o.u32(d.slot);
        }
    }
}

/// A `device_frame` object id.
fn device_object(i: &mut In<'_>, objects: &[Object]) -> R<ObjectId> {
    let id = i.u16()?;
    match objects.get(id as usize) {
        Some(o) if matches!(o.kind, ObjectKind::DeviceFrame { .. }) => Ok(id),
        Some(_) => i.fail(DecodeErrorKind::BadValue("object type")),
        None => i.fail(DecodeErrorKind::BadReference("object")),
    }
}

pub(super) fn get_component(
    i: &mut In<'_>,
    flags2: u8,
    paged: bool,
    objects: &[Object],
    cnode_slots: u64,
) -> R<(Vec<DeviceGrant>, Vec<PagerDevice>)> {
    let mut grants = Vec::new();
    if flags2 & FLAG2_DEVICES != 0 {
        i.check(paged, "device grants of a component without a pager")?;
        let n = i.u16()?;
        i.check(n > 0, "device grant count")?;
        for _ in 0..n {
            let object = device_object(i, objects)?;
            let rights = Rights(i.u8()?);
            let r = Rights::READ;
            i.check(
                rights == r || rights == r.union(Rights::WRITE),
                "device grant rights",
            )?;
            i.check(
                !grants.iter().any(|g: &DeviceGrant| g.object == object),
                "device granted twice",
            )?;
            grants.push(DeviceGrant { object, rights });
        }
    }
    let mut regions = Vec::new();
    if flags2 & FLAG2_DEVICE_REGIONS != 0 {
        let n = i.u16()?;
        i.check(
            n > 0 && n as usize <= MAX_PAGER_DEVICES,
            "device region count",
        )?;
        for _ in 0..n {
            let object = device_object(i, objects)?;
            let pages = i.u32()?;
            let want = objects[object as usize].kind.slots();
            i.check(u64::from(pages) == want, "device region pages")?;
            let slot = i.region(want, cnode_slots, "device region")?;
            regions.push(PagerDevice {
                object,
                pages,
                slot,
            });
        }
    }
    Ok((grants, regions))
}
