//! Device grants of one component: I/O port ranges, IRQs and device
//! memory, each checked on its own and against the grants of every
//! component checked before (ranges, regions and IRQ sources are unique
//! system-wide).

use super::{Ctx, Holder, MAX_PADDR};
use crate::error::{ErrorKind, Pos};
use crate::spec::*;
use crate::syntax::{ComponentDecl, IrqSourceDecl};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// The device grants of the components checked so far.
#[derive(Default)]
pub(super) struct Devices {
    ports: Vec<(u64, u64, ComponentId, Pos)>,
    regions: Vec<(u64, u64, ComponentId, Pos)>,
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

    /// Component `cid`'s device memory regions.
    pub(super) fn device_memory(
        &mut self,
        cx: &mut Ctx<'_>,
        cid: ComponentId,
        d: &ComponentDecl,
    ) -> Vec<DeviceMemory> {
        let ast = cx.ast;
        let mut device_memory = Vec::new();
        for r in &d.device_memory {
            let (paddr, size) = r.value;
            let reason = if !paddr.is_multiple_of(PAGE_SIZE) {
                Some(("device_memory address", paddr, "must be 4K-aligned"))
            } else if size == 0 || !size.is_multiple_of(PAGE_SIZE) {
                Some((
                    "device_memory size",
                    size,
                    "must be a non-zero multiple of 4K",
                ))
            } else if paddr.checked_add(size).is_none_or(|end| end > MAX_PADDR) {
                Some((
                    "device_memory size",
                    size,
                    "runs past the 52-bit physical address space",
                ))
            } else {
                None
            };
            if let Some((field, value, reason)) = reason {
                cx.err(
                    r.pos,
                    ErrorKind::BadSize {
                        field,
                        value,
                        reason,
                    },
                );
                continue;
            }
            if let Some(&(_, _, other, other_pos)) = self
                .regions
                .iter()
                .find(|g| g.0 < paddr + size && paddr < g.0 + g.1)
            {
                cx.err(
                    r.pos,
                    ErrorKind::DeviceMemoryOverlap {
                        paddr,
                        size,
                        other: ast.components[other as usize].name.value.clone(),
                        other_pos,
                    },
                );
            }
            self.regions.push((paddr, size, cid, r.pos));
            device_memory.push(DeviceMemory {
                paddr,
                size,
                slot: 0,
            });
        }
        device_memory
    }
}
