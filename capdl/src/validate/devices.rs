//! Device grants: `device_frame` objects, and of one component its I/O
//! port ranges, IRQs, device memory and device regions (`devices { }`),
//! each checked on its own and against those checked before (ranges,
//! regions, PCI BARs and IRQ sources are unique system-wide).

use super::{Ctx, Holder, MAX_PADDR};
use crate::error::{ErrorKind, Pos};
use crate::spec::*;
use crate::syntax::{ComponentDecl, DeviceFrameDecl, IrqSourceDecl, Spanned};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// The device grants of the components checked so far.
#[derive(Default)]
pub(super) struct Devices {
    ports: Vec<(u64, u64, ComponentId, Pos)>,
    /// Device memory: (paddr, size, the component's or object's name, where).
    regions: Vec<(u64, u64, String, Pos)>,
    /// PCI BARs the `device_frame` objects place, by (bus, dev, func, bar).
    bars: BTreeMap<[u64; 4], (String, Pos)>,
    /// (kind, key) -> first user: vectors, IOAPIC pins and MSI sources are unique.
    irq_keys: BTreeMap<(u8, [u64; 4]), (ComponentId, Pos)>,
    /// Every IRQ's notification, for the check that someone receives on it.
    pub(super) irq_ntfns: Vec<(ObjectId, Pos)>,
}

impl Devices {
    /// Component `cid`'s I/O port ranges.
    pub(super) fn io_ports(
        &mut self,
        cx: &mut Ctx<'_>,
        cid: ComponentId,
        d: &ComponentDecl,
    ) -> Vec<IoPorts> {
        let ast = cx.ast;
        let mut io_ports = Vec::new();
        for r in &d.io_ports {
            let (first, last) = r.value;
            if first > last || last > 0xffff {
                cx.err(r.pos, ErrorKind::BadIoPortRange { first, last });
                continue;
            }
            if let Some(&(_, _, other, other_pos)) =
                self.ports.iter().find(|p| p.0 <= last && first <= p.1)
            {
                cx.err(
                    r.pos,
                    ErrorKind::IoPortOverlap {
                        first,
                        last,
                        other: ast.components[other as usize].name.value.clone(),
                        other_pos,
                    },
                );
            }
            self.ports.push((first, last, cid, r.pos));
            io_ports.push(IoPorts {
                first: first as u16,
                last: last as u16,
                slot: 0,
            });
        }
        io_ports
    }

    /// Component `cid`'s IRQs; each holds its notification with W.
    pub(super) fn irqs(
        &mut self,
        cx: &mut Ctx<'_>,
        cid: ComponentId,
        d: &ComponentDecl,
        holders: &mut Vec<Holder>,
    ) -> Vec<Irq> {
        let ast = cx.ast;
        let mut irqs = Vec::new();
        for irq in &d.irqs {
            let vector = cx.ranged(&irq.vector, "vector", 0, MAX_IRQ_VECTOR) as u8;
            let (source, key) = match &irq.source {
                IrqSourceDecl::Ioapic {
                    ioapic,
                    pin,
                    level,
                    polarity,
                } => {
                    let ioapic = cx.ranged(ioapic, "ioapic", 0, 255);
                    let pin = cx.ranged(pin, "pin", 0, 23);
                    let level = cx.ranged(level, "level", 0, 1);
                    let polarity = cx.ranged(polarity, "polarity", 0, 1);
                    let src = IrqSource::Ioapic {
                        ioapic: ioapic as u8,
                        pin: pin as u8,
                        level: level == 1,
                        active_low: polarity == 1,
                    };
                    (src, (1u8, [ioapic, pin, 0, 0]))
                }
                IrqSourceDecl::Msi {
                    bus,
                    dev,
                    func,
                    handle,
                } => {
                    let bus = cx.ranged(bus, "bus", 0, 255);
                    let dev = cx.ranged(dev, "dev", 0, 31);
                    let func = cx.ranged(func, "func", 0, 7);
                    let handle = cx.ranged(handle, "handle", 0, u32::MAX as u64);
                    let src = IrqSource::Msi {
                        bus: bus as u8,
                        dev: dev as u8,
                        func: func as u8,
                        handle: handle as u32,
                    };
                    (src, (2u8, [bus, dev, func, handle]))
                }
            };
            let what = if key.0 == 1 {
                "this IOAPIC pin"
            } else {
                "this MSI source"
            };
            for (k, what) in [
                ((0u8, [vector as u64, 0, 0, 0]), "this irq vector"),
                (key, what),
            ] {
                if let Some(&(other, other_pos)) = self.irq_keys.get(&k) {
                    cx.err(
                        irq.pos,
                        ErrorKind::IrqConflict {
                            what,
                            other: ast.components[other as usize].name.value.clone(),
                            other_pos,
                        },
                    );
                } else {
                    self.irq_keys.insert(k, (cid, irq.pos));
                }
            }
            if let Some(r) = &irq.notification.rights {
                cx.err(
                    r.pos,
                    ErrorKind::RightsNotAllowed("an IRQ signals its notification"),
                );
            }
            let badge = cx.badge(&irq.notification.badge);
            if let Some(notification) =
                cx.object(&irq.notification.object, ObjectKind::Notification)
            {
                self.irq_ntfns
                    .push((notification, irq.notification.object.pos));
                holders.push(Holder {
                    component: cid,
                    object: notification,
                    rights: Rights::WRITE,
                    badge,
                    pos: irq.notification.object.pos,
                    fault: false,
                });
                irqs.push(Irq {
                    source,
                    vector,
                    notification,
                    badge,
                    slot: 0,
                });
            }
        }
        irqs
    }

    /// Component `d`'s device memory regions.
    pub(super) fn device_memory(
        &mut self,
        cx: &mut Ctx<'_>,
        d: &ComponentDecl,
    ) -> Vec<DeviceMemory> {
        let mut device_memory = Vec::new();
        for r in &d.device_memory {
            let (paddr, size) = r.value;
            if !self.region(
                cx,
                r.pos,
                "device_memory",
                paddr,
                size,
                u64::MAX,
                &d.name.value,
            ) {
                continue;
            }
            device_memory.push(DeviceMemory {
                paddr,
                size,
                slot: 0,
            });
        }
        device_memory
    }

    /// Checks the region `paddr + size` that `owner` (a component or an
    /// object) declares at `pos` and records it; false if it is malformed
    /// (reported).
    #[allow(clippy::too_many_arguments)]
    fn region(
        &mut self,
        cx: &mut Ctx<'_>,
        pos: Pos,
        what: &'static str,
        paddr: u64,
        size: u64,
        max: u64,
        owner: &str,
    ) -> bool {
        let (addr_field, size_field) = if what == "device_memory" {
            ("device_memory address", "device_memory size")
        } else {
            ("device_frame paddr", "device_frame size")
        };
        let reason = if !paddr.is_multiple_of(PAGE_SIZE) {
            Some((addr_field, paddr, "must be 4K-aligned"))
        } else if size == 0 || !size.is_multiple_of(PAGE_SIZE) {
            Some((size_field, size, "must be a non-zero multiple of 4K"))
        } else if size > max {
            Some((size_field, size, "is too large (at most 1G)"))
        } else if paddr.checked_add(size).is_none_or(|end| end > MAX_PADDR) {
            Some((
                size_field,
                size,
                "runs past the 52-bit physical address space",
            ))
        } else {
            None
        };
        if let Some((field, value, reason)) = reason {
            cx.err(
                pos,
                ErrorKind::BadSize {
                    field,
                    value,
                    reason,
                },
            );
            return false;
        }
        if let Some((_, _, other, other_pos)) = self
            .regions
            .iter()
            .find(|g| g.0 < paddr + size && paddr < g.0 + g.1)
        {
            cx.err(
                pos,
                ErrorKind::DeviceMemoryOverlap {
                    paddr,
                    size,
                    other: other.clone(),
                    other_pos: *other_pos,
                },
            );
        }
        self.regions.push((paddr, size, String::from(owner), pos));
        true
    }

    /// A `device_frame` object `name` (written at `pos`): its region, its
    /// PCI BAR (naturally aligned: a power-of-two size at an address it
    /// divides), each unique. Returns its kind, `None` if malformed.
    pub(super) fn device_frame(
        &mut self,
        cx: &mut Ctx<'_>,
        name: &str,
        pos: Pos,
        d: &DeviceFrameDecl,
    ) -> Option<ObjectKind> {
        let (size, paddr) = (d.size.value, d.paddr.value);
        if !self.region(
            cx,
            d.size.pos,
            "device_frame",
            paddr,
            size,
            MAX_DEVICE_FRAME,
            name,
        ) {
            return None;
        }
        let pci = match &d.pci {
            None => None,
            Some([bus, dev, func, bar]) => {
                let bus = cx.ranged(bus, "bus", 0, 255);
                let dev = cx.ranged(dev, "dev", 0, 31);
                let func = cx.ranged(func, "func", 0, 7);
                let bar = cx.ranged(bar, "bar", 0, 5);
                if !size.is_power_of_two() || !paddr.is_multiple_of(size) {
                    cx.err(
                        d.paddr.pos,
                        ErrorKind::BadSize {
                            field: "device_frame paddr",
                            value: paddr,
                            reason: "must be a multiple of the size, a power of two, for a PCI BAR",
                        },
                    );
                }
                let key = [bus, dev, func, bar];
                if let Some((other, other_pos)) = self.bars.get(&key) {
                    cx.err(
                        pos,
                        ErrorKind::PciBarConflict {
                            other: other.clone(),
                            other_pos: *other_pos,
                        },
                    );
                } else {
                    self.bars.insert(key, (String::from(name), pos));
                }
                Some(PciBar {
                    bus: bus as u8,
                    dev: dev as u8,
                    func: func as u8,
                    bar: bar as u8,
                })
            }
        };
        Some(ObjectKind::DeviceFrame { size, paddr, pci })
    }
}

/// Component `d`'s `devices { }`: each a `device_frame` object at most
/// once, with rights R or RW and no badge; only for paged clients (their
/// pager holds the frames). `kinds` are the validated object kinds.
pub(super) fn grants(
    cx: &mut Ctx<'_>,
    d: &ComponentDecl,
    kinds: &[Option<ObjectKind>],
) -> Vec<DeviceGrant> {
    let Some(block) = &d.devices else {
        return Vec::new();
    };
    if d.pager.is_none() {
        cx.err(block.pos, ErrorKind::NotPaged { field: "devices" });
        return Vec::new();
    }
    let mut out: Vec<DeviceGrant> = Vec::new();
    for r in &block.value {
        let Some(object) = device_object(cx, &r.object, kinds) else {
            continue;
        };
        if let Some(b) = &r.badge {
            cx.err(
                b.pos,
                ErrorKind::BadgeNotAllowed {
                    object: r.object.value.clone(),
                },
            );
        }
        let rights = match &r.rights {
            None => {
                cx.err(
                    r.object.pos,
                    ErrorKind::MissingField("rights (`(R)` or `(RW)`)"),
                );
                continue;
            }
            Some(rights) => rights,
        };
        if !rights.value.read() || !Rights::READ.union(Rights::WRITE).contains(rights.value) {
            cx.err(
                rights.pos,
                ErrorKind::DeviceRights {
                    object: r.object.value.clone(),
                    rights: rights.value,
                },
            );
            continue;
        }
        if out.iter().any(|g| g.object == object) {
            cx.err(
                r.object.pos,
                ErrorKind::DuplicateDevice(r.object.value.clone()),
            );
            continue;
        }
        out.push(DeviceGrant {
            object,
            rights: rights.value,
        });
    }
    out
}

/// Resolves `r`, which must name a `device_frame` object (malformed ones,
/// reported already, resolve to `None` silently).
fn device_object(
    cx: &mut Ctx<'_>,
    r: &Spanned<String>,
    kinds: &[Option<ObjectKind>],
) -> Option<ObjectId> {
    let Some(&id) = cx.objects.get(r.value.as_str()) else {
        // Reports undefined names (and components used as objects).
        cx.object(r, ObjectKind::Endpoint);
        return None;
    };
    let written = cx.ast.objects[id as usize].kind.value;
    if !matches!(written, ObjectKind::DeviceFrame { .. }) {
        cx.err(
            r.pos,
            ErrorKind::WrongObjectType {
                name: r.value.clone(),
                expected: "device_frame",
                found: written.keyword(),
            },
        );
        return None;
    }
    kinds[id as usize].map(|_| id)
}

/// Every pager's device regions: the objects its clients are granted,
/// each once, in object order (a region granted to clients of two
/// pagers, or more regions than the device-info page holds, is an
/// error at the grant).
pub(super) fn pager_regions(
    cx: &mut Ctx<'_>,
    comps: &mut [Component],
    kinds: &[Option<ObjectKind>],
) {
    let ast = cx.ast;
    let mut owner: BTreeMap<ObjectId, ComponentId> = BTreeMap::new();
    for ci in 0..comps.len() {
        let Some(pager) = comps[ci].pager else {
            continue;
        };
        for (gi, g) in comps[ci].devices.clone().into_iter().enumerate() {
            let pos = ast.components[ci]
                .devices
                .as_ref()
                .map_or(ast.components[ci].name.pos, |b| b.value[gi].object.pos);
            match owner.get(&g.object) {
                Some(&other) if other != pager => {
                    cx.err(
                        pos,
                        ErrorKind::DeviceOwners {
                            object: ast.objects[g.object as usize].name.value.clone(),
                            pager: comps[pager as usize].name.clone(),
                            other: comps[other as usize].name.clone(),
                        },
                    );
                    continue;
                }
                Some(_) => continue,
                None => {}
            }
            owner.insert(g.object, pager);
            let regions = &mut comps[pager as usize].device_regions;
            if regions.len() == MAX_PAGER_DEVICES {
                cx.err(
                    pos,
                    ErrorKind::TooMany {
                        what: "device regions of one pager",
                        max: MAX_PAGER_DEVICES as u64,
                    },
                );
                continue;
            }
            let pages = kinds[g.object as usize].map_or(0, |k| k.slots()) as u32;
            regions.push(PagerDevice {
                object: g.object,
                pages,
                slot: 0,
            });
        }
    }
    for c in comps.iter_mut() {
        c.device_regions.sort_by_key(|d| d.object);
    }
}
