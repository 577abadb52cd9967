//! Printing a [`Spec`] back as spec text (every field explicit). Parsing and
//! validating the output gives the same `Spec`; the property tests rely on it,
//! and a host tool can use it to show the spec with all defaults filled in.

use crate::spec::*;
use alloc::string::String;
use core::fmt::{self, Write};

/// The spec as text that [`crate::load`] reads back to an equal `Spec`
/// (given its images). The caller passes a `Spec` whose references are valid.
pub fn to_text(spec: &Spec) -> String {
    let mut s = String::new();
    write_spec(&mut s, spec).expect("writing to a String cannot fail");
    s
}

fn write_cap_attrs(s: &mut String, rights: Option<Rights>, badge: u32) -> fmt::Result {
    match (rights, badge) {
        (Some(r), 0) => write!(s, " ({r})"),
        (Some(r), b) => write!(s, " ({r}, badge: {b})"),
        (None, 0) => Ok(()),
        (None, b) => write!(s, " (badge: {b})"),
    }
}

/// A `limits { }` block with every field explicit.
fn write_limits(s: &mut String, l: &Limits) -> fmt::Result {
    writeln!(s, "    limits {{")?;
    for f in LimitField::ALL {
        match l.get(f) {
            Limits::UNLIMITED => writeln!(s, "        {} = unlimited", f.keyword())?,
            v if f.is_size() => {
                writeln!(s, "        {} = {:#x}", f.keyword(), v as u64 * PAGE_SIZE)?
            }
            v => writeln!(s, "        {} = {v}", f.keyword())?,
        }
    }
    writeln!(s, "    }}")
}

fn write_spec(s: &mut String, spec: &Spec) -> fmt::Result {
    writeln!(s, "arch x86_64")?;
    writeln!(s)?;
    writeln!(s, "objects {{")?;
    for o in &spec.objects {
        match o.kind {
            ObjectKind::Frame { size } => writeln!(s, "    {} = frame ({size:#x})", o.name)?,
            ObjectKind::DeviceFrame { size, paddr, pci } => {
                write!(
                    s,
                    "    {} = device_frame ({size:#x}, paddr: {paddr:#x}",
                    o.name
                )?;
                if let Some(p) = pci {
                    write!(
                        s,
                        ", bus: {}, dev: {}, func: {}, bar: {}",
                        p.bus, p.dev, p.func, p.bar
                    )?;
                }
                writeln!(s, ")")?
            }
            k => writeln!(s, "    {} = {}", o.name, k.keyword())?,
        }
    }
    writeln!(s, "}}")?;
    let obj = |id: ObjectId| spec.objects[id as usize].name.as_str();
    for c in &spec.components {
        writeln!(s)?;
        writeln!(s, "component {} {{", c.name)?;
        writeln!(s, "    image = \"{}\"", c.image)?;
        writeln!(s, "    priority = {}", c.priority)?;
        writeln!(s, "    max_priority = {}", c.max_priority)?;
        writeln!(s, "    stack = {:#x}", c.stack_size)?;
        writeln!(s, "    cnode_bits = {}", c.cnode_bits)?;
        if let Some(u) = c.untyped {
            writeln!(s, "    untyped = {:#x}", u.size)?;
        }
        if let Some(f) = c.fault {
            write!(s, "    fault = {}", obj(f.object))?;
            write_cap_attrs(s, None, f.badge)?;
            writeln!(s)?;
        }
        if let Some(p) = c.pager {
            writeln!(s, "    pager = {}", spec.components[p as usize].name)?;
        }
        if let Some(n) = c.bound_notification {
            writeln!(s, "    bound_notification = {}", obj(n))?;
        }
        if c.asid_pool {
            writeln!(s, "    asid_pool")?;
        }
        if c.awaited {
            writeln!(s, "    awaited")?;
        }
        if c.image_from_files {
            writeln!(s, "    image_from_files")?;
        }
        if let Some(p) = &c.pageout_policy {
            writeln!(s, "    pageout_policy = {p:?}")?;
        }
        if let Some(n) = c.trace_ring {
            writeln!(s, "    trace_ring = {n}")?;
        }
        if let Some(n) = c.large_pages {
            writeln!(s, "    large_pages = {n}")?;
        }
        if c.transparent_large_pages {
            writeln!(s, "    transparent_large_pages")?;
        }
        if let Some(g) = &c.name_group {
            writeln!(s, "    names = {g}")?;
        }
        if let Some(l) = c.limits {
            write_limits(s, &l)?;
        }
        if !c.privileges.is_empty() {
            write!(s, "    privileges {{")?;
            for p in c.privileges.iter() {
                write!(s, " {}", p.keyword())?;
            }
            writeln!(s, " }}")?;
        }
        if !c.devices.is_empty() {
            write!(s, "    devices {{")?;
            for g in &c.devices {
                write!(s, " {}", obj(g.object))?;
                write_cap_attrs(s, Some(g.rights), 0)?;
            }
            writeln!(s, " }}")?;
        }
        for p in &c.io_ports {
            writeln!(s, "    io_ports = {:#x}-{:#x}", p.first, p.last)?;
        }
        for i in &c.irqs {
            match i.source {
                IrqSource::Ioapic {
                    ioapic,
                    pin,
                    level,
                    active_low,
                } => write!(
                    s,
                    "    irq = ioapic (ioapic: {ioapic}, pin: {pin}, level: {}, polarity: {}, vector: {})",
                    level as u8, active_low as u8, i.vector
                )?,
                IrqSource::Msi {
                    bus,
                    dev,
                    func,
                    handle,
                } => write!(
                    s,
                    "    irq = msi (bus: {bus}, dev: {dev}, func: {func}, handle: {handle}, vector: {})",
                    i.vector
                )?,
            }
            write!(s, " -> {}", obj(i.notification))?;
            write_cap_attrs(s, None, i.badge)?;
            writeln!(s)?;
        }
        for m in &c.device_memory {
            writeln!(s, "    device_memory = {:#x} + {:#x}", m.paddr, m.size)?;
        }
        if !c.caps.is_empty() {
            writeln!(s, "    caps {{")?;
            for cap in &c.caps {
                write!(s, "        {}: {}", cap.slot, obj(cap.object))?;
                write_cap_attrs(s, Some(cap.rights), cap.badge)?;
                writeln!(s)?;
            }
            writeln!(s, "    }}")?;
        }
        writeln!(s, "}}")?;
    }
    Ok(())
}
