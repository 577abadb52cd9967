//! The compact binary form of a [`Spec`]: written on the host by [`encode`],
//! embedded in the root task, read at boot by [`decode`] (`no_std` + alloc).
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! header  magic "seL4cdl\0" (8) | version u16 | reserved u16 (0)
//!         | body length u32 | FNV-1a-32 of the body u32
//! body    objects:    u16 count, each { kind u8, name str }
//!         components: u16 count, each component (see `put_component`)
//! str     u16 byte length, UTF-8 bytes
//! ```
//!
//! The decoder treats the bytes as untrusted: every read is bounds-checked,
//! every index and slot is range-checked, and any inconsistency is a
//! [`DecodeError`], never a panic. It does not redo the validator's
//! system-wide checks (overlaps, receivers, badge sharing); the checksum
//! guards the bytes between host and boot.

use crate::spec::*;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub const MAGIC: [u8; 8] = *b"seL4cdl\0";
/// 2: paged clients' limits and name groups; 3: a second flags byte and
/// paged clients' privileges; 4: `device_frame` objects, paged clients'
/// device grants and pagers' device regions (`compact/devices.rs`); 5:
/// `image_from_files`; 6: a pager's `pageout_policy`; 7: a pager's
/// `trace_ring` (flag bit 32 of the second flags byte, then a u32); 8: a
/// pager's `large_pages` (flag bit 64, then a u32); 9: a pager's
/// `transparent_large_pages` (bit 31 of that u32); 10: the `objects`
/// limit (an eighth u32 in a client's limits).
pub const VERSION: u16 = 10;
pub const HEADER_LEN: usize = 20;

const FLAG_FAULT: u8 = 1;
const FLAG_PAGER: u8 = 2;
const FLAG_ASID_POOL: u8 = 4;
const FLAG_UNTYPED: u8 = 8;
const FLAG_BOUND: u8 = 16;
const FLAG_AWAITED: u8 = 32;
const FLAG_LIMITS: u8 = 64;
const FLAG_NAME_GROUP: u8 = 128;
// Every bit of the first flags byte has a meaning: no reserved bits to
// check. The second byte's bits:
const FLAG2_PRIVILEGES: u8 = 1;
const FLAG2_DEVICES: u8 = 2;
const FLAG2_DEVICE_REGIONS: u8 = 4;
const FLAG2_IMAGE_FROM_FILES: u8 = 8;
const FLAG2_PAGEOUT_POLICY: u8 = 16;
const FLAG2_TRACE_RING: u8 = 32;
const FLAG2_LARGE_PAGES: u8 = 64;
/// In the large-page count's u32: transparent large pages.
const LARGE_TRANSPARENT: u32 = 1 << 31;
/// The second flags byte's bits that have a meaning; the others must be 0.
const FLAGS2_KNOWN: u8 = FLAG2_PRIVILEGES
    | FLAG2_DEVICES
    | FLAG2_DEVICE_REGIONS
    | FLAG2_IMAGE_FROM_FILES
    | FLAG2_PAGEOUT_POLICY
    | FLAG2_TRACE_RING
    | FLAG2_LARGE_PAGES;

mod devices;

const IRQ_IOAPIC: u8 = 0;
const IRQ_MSI: u8 = 1;

/// FNV-1a, 32 bits: cheap, and catches truncation and stray writes.
pub fn checksum(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

// ---------------------------------------------------------------- encode

struct Out(Vec<u8>);

impl Out {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A count; the caller contract of [`encode`] keeps it under 2^16.
    fn count(&mut self, n: usize) {
        self.u16(u16::try_from(n).expect("capdl::encode: more than 65535 entries"));
    }
    fn str(&mut self, s: &str) {
        self.count(s.len());
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Encodes `spec`. The spec must come from [`crate::validate()`] (or keep its
/// limits: at most 65535 entries per list, strings under 64 KiB); panics otherwise.
pub fn encode(spec: &Spec) -> Vec<u8> {
    let mut o = Out(Vec::new());
    o.count(spec.objects.len());
    for obj in &spec.objects {
        match obj.kind {
            ObjectKind::Endpoint => o.u8(0),
            ObjectKind::Notification => o.u8(1),
            ObjectKind::Frame { size } => {
                o.u8(2);
                o.u64(size);
            }
            k @ ObjectKind::DeviceFrame { .. } => devices::put_kind(&mut o, k),
        }
        o.str(&obj.name);
    }
    o.count(spec.components.len());
    for c in &spec.components {
        put_component(&mut o, c);
    }
    let body = o.0;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    let len = u32::try_from(body.len()).expect("capdl::encode: spec over 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn put_component(o: &mut Out, c: &Component) {
    o.str(&c.name);
    o.str(&c.image);
    o.u8(c.priority);
    o.u8(c.max_priority);
    o.u64(c.stack_size);
    o.u8(c.cnode_bits);
    let mut flags = 0;
    if c.fault.is_some() {
        flags |= FLAG_FAULT;
    }
    if c.pager.is_some() {
        flags |= FLAG_PAGER;
    }
    if c.asid_pool {
        flags |= FLAG_ASID_POOL;
    }
    if c.untyped.is_some() {
        flags |= FLAG_UNTYPED;
    }
    if c.bound_notification.is_some() {
        flags |= FLAG_BOUND;
    }
    if c.awaited {
        flags |= FLAG_AWAITED;
    }
    if c.limits.is_some() {
        flags |= FLAG_LIMITS;
    }
    if c.name_group.is_some() {
        flags |= FLAG_NAME_GROUP;
    }
    o.u8(flags);
    let mut flags2 = 0;
    if !c.privileges.is_empty() {
        flags2 |= FLAG2_PRIVILEGES;
    }
    if !c.devices.is_empty() {
        flags2 |= FLAG2_DEVICES;
    }
    if !c.device_regions.is_empty() {
        flags2 |= FLAG2_DEVICE_REGIONS;
    }
    if c.image_from_files {
        flags2 |= FLAG2_IMAGE_FROM_FILES;
    }
    if c.pageout_policy.is_some() {
        flags2 |= FLAG2_PAGEOUT_POLICY;
    }
    if c.trace_ring.is_some() {
        flags2 |= FLAG2_TRACE_RING;
    }
    if c.large_pages.is_some() {
        flags2 |= FLAG2_LARGE_PAGES;
    }
    o.u8(flags2);
    if let Some(f) = c.fault {
        o.u16(f.object);
        o.u32(f.badge);
    }
    if let Some(p) = c.pager {
        o.u16(p);
    }
    if let Some(u) = c.untyped {
        o.u64(u.size);
        o.u32(u.slot);
    }
    if let Some(n) = c.bound_notification {
        o.u16(n);
    }
    if let Some(l) = c.limits {
        for f in LimitField::ALL {
            o.u32(l.get(f));
        }
    }
    if let Some(g) = &c.name_group {
        o.str(g);
    }
    if !c.privileges.is_empty() {
        o.u16(c.privileges.0);
    }
    if let Some(p) = &c.pageout_policy {
        o.str(p);
    }
    if let Some(n) = c.trace_ring {
        o.u32(n);
    }
    if let Some(n) = c.large_pages {
        // A spec has transparency only beside large pages (validated).
        let t = if c.transparent_large_pages {
            LARGE_TRANSPARENT
        } else {
            0
        };
        o.u32(n | t);
    }
    o.count(c.caps.len());
    for cap in &c.caps {
        o.u32(cap.slot);
        o.u16(cap.object);
        o.u8(cap.rights.0);
        o.u32(cap.badge);
    }
    o.count(c.io_ports.len());
    for p in &c.io_ports {
        o.u16(p.first);
        o.u16(p.last);
        o.u32(p.slot);
    }
    o.count(c.irqs.len());
    for i in &c.irqs {
        match i.source {
            IrqSource::Ioapic {
                ioapic,
                pin,
                level,
                active_low,
            } => {
                o.u8(IRQ_IOAPIC);
                o.u8(ioapic);
                o.u8(pin);
                o.u8(level as u8);
                o.u8(active_low as u8);
            }
            IrqSource::Msi {
                bus,
                dev,
                func,
                handle,
            } => {
                o.u8(IRQ_MSI);
                o.u8(bus);
                o.u8(dev);
                o.u8(func);
                o.u32(handle);
            }
        }
        o.u8(i.vector);
        o.u16(i.notification);
        o.u32(i.badge);
        o.u32(i.slot);
    }
    o.count(c.device_memory.len());
    for m in &c.device_memory {
        o.u64(m.paddr);
        o.u64(m.size);
        o.u32(m.slot);
    }
    o.count(c.clients.len());
    for cl in &c.clients {
        o.u16(cl.client);
        o.u32(cl.slot);
    }
    devices::put_component(o, c);
    o.u32(c.first_free_slot);
}

// ---------------------------------------------------------------- decode

/// Why a blob was rejected, and at which byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: usize,
    pub kind: DecodeErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Not a compact spec at all.
    BadMagic,
    /// Written by a different version of this crate.
    UnsupportedVersion(u16),
    /// The bytes end before the data does.
    Truncated,
    /// Bytes left after the body.
    TrailingBytes,
    /// The body does not match its checksum.
    BadChecksum { expected: u32, found: u32 },
    /// A name that is not UTF-8.
    BadUtf8,
    /// A field with a value it can never have (tag, flag, range).
    BadValue(&'static str),
    /// An object or component index past the end of its list.
    BadReference(&'static str),
    /// A slot outside the component's CNode, or in the reserved range.
    BadSlot(&'static str),
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeErrorKind::*;
        match self {
            BadMagic => write!(f, "not a compact capdl spec (bad magic)"),
            UnsupportedVersion(v) => write!(
                f,
                "unsupported compact spec version {v} (expected {VERSION})"
            ),
            Truncated => write!(f, "truncated"),
            TrailingBytes => write!(f, "trailing bytes after the body"),
            BadChecksum { expected, found } => {
                write!(
                    f,
                    "checksum mismatch (header {expected:#010x}, body {found:#010x})"
                )
            }
            BadUtf8 => write!(f, "name is not UTF-8"),
            BadValue(what) => write!(f, "bad value for {what}"),
            BadReference(what) => write!(f, "{what} refers past the end of its list"),
            BadSlot(what) => write!(f, "{what} slot is outside the CNode or reserved"),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "compact spec, byte {}: {}", self.offset, self.kind)
    }
}

impl core::error::Error for DecodeError {}

struct In<'a> {
    buf: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, DecodeError>;

impl<'a> In<'a> {
    fn fail<T>(&self, kind: DecodeErrorKind) -> R<T> {
        Err(DecodeError {
            offset: self.pos,
            kind,
        })
    }
    fn bytes(&mut self, n: usize) -> R<&'a [u8]> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.buf.len() => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => self.fail(DecodeErrorKind::Truncated),
        }
    }
    fn arr<const N: usize>(&mut self) -> R<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.arr::<1>()?[0])
    }
    fn u16(&mut self) -> R<u16> {
        Ok(u16::from_le_bytes(self.arr()?))
    }
    fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn bool(&mut self, what: &'static str) -> R<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => self.fail(DecodeErrorKind::BadValue(what)),
        }
    }
    fn str(&mut self) -> R<String> {
        let n = self.u16()? as usize;
        let at = self.pos;
        let b = self.bytes(n)?;
        match core::str::from_utf8(b) {
            Ok(s) => Ok(String::from(s)),
            Err(_) => Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::BadUtf8,
            }),
        }
    }
    /// Fails with `BadValue(what)` unless `ok`.
    fn check(&self, ok: bool, what: &'static str) -> R<()> {
        if ok {
            Ok(())
        } else {
            self.fail(DecodeErrorKind::BadValue(what))
        }
    }
    fn badge(&mut self) -> R<u32> {
        let b = self.u32()?;
        self.check(b as u64 <= MAX_BADGE, "badge")?;
        Ok(b)
    }
    fn object(
        &mut self,
        n_objects: usize,
        kind: Option<ObjectKind>,
        objects: &[Object],
    ) -> R<ObjectId> {
        let id = self.u16()?;
        match objects.get(id as usize) {
            Some(o) if kind.is_none_or(|k| k == o.kind) => Ok(id),
            Some(_) => self.fail(DecodeErrorKind::BadValue("object type")),
            None => {
                debug_assert!(id as usize >= n_objects);
                self.fail(DecodeErrorKind::BadReference("object"))
            }
        }
    }
    /// A grant region `[slot, slot + n)` within the grant area of a CNode of `slots` slots.
    fn region(&mut self, n: u64, cnode_slots: u64, what: &'static str) -> R<Slot> {
        let s = self.u32()?;
        let ok =
            s >= slots::FIRST_GRANT && (s as u64).checked_add(n).is_some_and(|e| e <= cnode_slots);
        if ok {
            Ok(s)
        } else {
            self.fail(DecodeErrorKind::BadSlot(what))
        }
    }
}

/// Decodes a blob written by [`encode`]. Any corruption gives an error.
pub fn decode(bytes: &[u8]) -> Result<Spec, DecodeError> {
    let mut i = In { buf: bytes, pos: 0 };
    if i.arr::<8>().map_err(|e| DecodeError {
        kind: DecodeErrorKind::BadMagic,
        ..e
    })? != MAGIC
    {
        return Err(DecodeError {
            offset: 0,
            kind: DecodeErrorKind::BadMagic,
        });
    }
    let version = i.u16()?;
    if version != VERSION {
        return Err(DecodeError {
            offset: 8,
            kind: DecodeErrorKind::UnsupportedVersion(version),
        });
    }
    let reserved = i.u16()?;
    i.check(reserved == 0, "reserved header field")?;
    let len = i.u32()? as usize;
    let sum = i.u32()?;
    let body_start = i.pos;
    match body_start.checked_add(len) {
        Some(end) if end == bytes.len() => {}
        Some(end) if end < bytes.len() => {
            return Err(DecodeError {
                offset: end,
                kind: DecodeErrorKind::TrailingBytes,
            })
        }
        _ => {
            return Err(DecodeError {
                offset: bytes.len(),
                kind: DecodeErrorKind::Truncated,
            })
        }
    }
    let found = checksum(&bytes[body_start..]);
    if found != sum {
        return Err(DecodeError {
            offset: 16,
            kind: DecodeErrorKind::BadChecksum {
                expected: sum,
                found,
            },
        });
    }
    decode_body(&mut i)
}

/// Decodes the body (after the header) without the checksum check.
fn decode_body(i: &mut In<'_>) -> R<Spec> {
    let n_objects = i.u16()? as usize;
    let mut objects = Vec::new();
    for _ in 0..n_objects {
        let kind = match i.u8()? {
            0 => ObjectKind::Endpoint,
            1 => ObjectKind::Notification,
            2 => {
                let size = i.u64()?;
                let pages = (slots::LAST_CAPS_TABLE - slots::FIRST_CAPS_TABLE + 1) as u64;
                let ok = size > 0 && size.is_multiple_of(PAGE_SIZE) && size / PAGE_SIZE <= pages;
                i.check(ok, "frame size")?;
                ObjectKind::Frame { size }
            }
            devices::KIND => devices::get_kind(i)?,
            _ => return i.fail(DecodeErrorKind::BadValue("object kind")),
        };
        let name = i.str()?;
        objects.push(Object { name, kind });
    }
    let n_components = i.u16()? as usize;
    let mut components = Vec::new();
    for _ in 0..n_components {
        components.push(get_component(i, &objects, n_components)?);
    }
    if i.pos != i.buf.len() {
        return i.fail(DecodeErrorKind::TrailingBytes);
    }
    Ok(Spec {
        objects,
        components,
    })
}

fn get_component(i: &mut In<'_>, objects: &[Object], n_components: usize) -> R<Component> {
    let n_obj = objects.len();
    let name = i.str()?;
    let image = i.str()?;
    let priority = i.u8()?;
    let max_priority = i.u8()?;
    let stack_size = i.u64()?;
    i.check(
        stack_size > 0 && stack_size.is_multiple_of(PAGE_SIZE),
        "stack size",
    )?;
    let cnode_bits = i.u8()?;
    i.check(
        (MIN_CNODE_BITS..=MAX_CNODE_BITS).contains(&cnode_bits),
        "cnode_bits",
    )?;
    let cnode_slots = 1u64 << cnode_bits;
    let flags = i.u8()?;
    let flags2 = i.u8()?;
    i.check(flags2 & !FLAGS2_KNOWN == 0, "reserved flag")?;
    let fault = if flags & FLAG_FAULT != 0 {
        let object = i.object(n_obj, Some(ObjectKind::Endpoint), objects)?;
        let badge = i.badge()?;
        Some(FaultEp { object, badge })
    } else {
        None
    };
    let pager = if flags & FLAG_PAGER != 0 {
        let p = i.u16()?;
        if p as usize >= n_components {
            return i.fail(DecodeErrorKind::BadReference("pager"));
        }
        Some(p)
    } else {
        None
    };
    let untyped = if flags & FLAG_UNTYPED != 0 {
        let size = i.u64()?;
        i.check(size > 0 && size.is_multiple_of(PAGE_SIZE), "untyped size")?;
        let slot = i.region(slots::UNTYPED_REGION as u64, cnode_slots, "untyped")?;
        Some(Untyped { size, slot })
    } else {
        None
    };
    let bound_notification = if flags & FLAG_BOUND != 0 {
        Some(i.object(n_obj, Some(ObjectKind::Notification), objects)?)
    } else {
        None
    };
    // Limits and name groups belong to paged clients only.
    let paged = flags & FLAG_PAGER != 0;
    let limits = if flags & FLAG_LIMITS != 0 {
        i.check(paged, "limits of a component without a pager")?;
        let mut l = defaults::LIMITS;
        for f in LimitField::ALL {
            let v = i.u32()?;
            i.check(v != 0, "limit")?;
            l.set(f, v);
        }
        Some(l)
    } else {
        None
    };
    let name_group = if flags & FLAG_NAME_GROUP != 0 {
        i.check(paged, "name group of a component without a pager")?;
        let g = i.str()?;
        i.check(!g.is_empty(), "name group")?;
        Some(g)
    } else {
        None
    };
    let privileges = if flags2 & FLAG2_PRIVILEGES != 0 {
        i.check(paged, "privileges of a component without a pager")?;
        let p = i.u16()?;
        i.check(p != 0 && p & !Privileges::KNOWN == 0, "privileges")?;
        Privileges(p)
    } else {
        Privileges::NONE
    };
    // Whether the component is a pager is known only after its clients;
    // the name's length is what the pager-info page can hold.
    let pageout_policy = if flags2 & FLAG2_PAGEOUT_POLICY != 0 {
        let p = i.str()?;
        i.check(
            !p.is_empty() && p.len() <= MAX_POLICY_NAME,
            "pageout policy name",
        )?;
        Some(p)
    } else {
        None
    };
    let trace_ring = if flags2 & FLAG2_TRACE_RING != 0 {
        let n = i.u32()?;
        i.check(n != 0 && n <= MAX_TRACE_RING, "trace ring size")?;
        Some(n)
    } else {
        None
    };
    let (large_pages, transparent_large_pages) = if flags2 & FLAG2_LARGE_PAGES != 0 {
        let raw = i.u32()?;
        let n = raw & !LARGE_TRANSPARENT;
        i.check(n != 0 && n <= MAX_LARGE_PAGES, "large page count")?;
        (Some(n), raw & LARGE_TRANSPARENT != 0)
    } else {
        (None, false)
    };
    let mut caps: Vec<Cap> = Vec::new();
    // One past the last slot of the previous cap: entries are sorted and
    // disjoint, so `Component::cap_at` can binary-search.
    let mut next_free = slots::FIRST_CAPS_TABLE as u64;
    for _ in 0..i.u16()? {
        let at = i.pos;
        let slot = i.u32()?;
        let object = i.object(n_obj, None, objects)?;
        let kind = objects[object as usize].kind;
        let end = slot as u64 + kind.slots();
        if (slot as u64) < next_free || end > slots::LAST_CAPS_TABLE as u64 + 1 {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::BadSlot("cap"),
            });
        }
        next_free = end;
        let rights = Rights(i.u8()?);
        i.check(rights.0 & !Rights::ALL.0 == 0, "rights")?;
        let badge = i.badge()?;
        if kind.is_frames() {
            let rw = Rights::READ.union(Rights::WRITE);
            i.check(badge == 0 && rw.contains(rights), "frame cap")?;
        }
        caps.push(Cap {
            slot,
            object,
            rights,
            badge,
        });
    }
    let mut io_ports = Vec::new();
    for _ in 0..i.u16()? {
        let first = i.u16()?;
        let last = i.u16()?;
        i.check(first <= last, "I/O port range")?;
        let slot = i.region(1, cnode_slots, "I/O port")?;
        io_ports.push(IoPorts { first, last, slot });
    }
    let mut irqs = Vec::new();
    for _ in 0..i.u16()? {
        let source = match i.u8()? {
            IRQ_IOAPIC => {
                let ioapic = i.u8()?;
                let pin = i.u8()?;
                i.check(pin < 24, "IOAPIC pin")?;
                let level = i.bool("IOAPIC level")?;
                let active_low = i.bool("IOAPIC polarity")?;
                IrqSource::Ioapic {
                    ioapic,
                    pin,
                    level,
                    active_low,
                }
            }
            IRQ_MSI => {
                let bus = i.u8()?;
                let dev = i.u8()?;
                let func = i.u8()?;
                i.check(dev <= 31 && func <= 7, "MSI device/function")?;
                let handle = i.u32()?;
                IrqSource::Msi {
                    bus,
                    dev,
                    func,
                    handle,
                }
            }
            _ => return i.fail(DecodeErrorKind::BadValue("irq kind")),
        };
        let vector = i.u8()?;
        i.check(vector as u64 <= MAX_IRQ_VECTOR, "irq vector")?;
        let notification = i.object(n_obj, Some(ObjectKind::Notification), objects)?;
        let badge = i.badge()?;
        let slot = i.region(1, cnode_slots, "irq handler")?;
        irqs.push(Irq {
            source,
            vector,
            notification,
            badge,
            slot,
        });
    }
    let mut device_memory = Vec::new();
    for _ in 0..i.u16()? {
        let paddr = i.u64()?;
        let size = i.u64()?;
        let ok = paddr.is_multiple_of(PAGE_SIZE)
            && size > 0
            && size.is_multiple_of(PAGE_SIZE)
            && paddr.checked_add(size).is_some();
        i.check(ok, "device memory region")?;
        let slot = i.region(size / PAGE_SIZE, cnode_slots, "device memory")?;
        device_memory.push(DeviceMemory { paddr, size, slot });
    }
    let mut clients = Vec::new();
    for _ in 0..i.u16()? {
        let client = i.u16()?;
        if client as usize >= n_components {
            return i.fail(DecodeErrorKind::BadReference("pager client"));
        }
        let slot = i.region(slots::CLIENT_SLOTS as u64, cnode_slots, "pager client")?;
        clients.push(PagerClient { client, slot });
    }
    let (devices, device_regions) = devices::get_component(i, flags2, paged, objects, cnode_slots)?;
    let first_free_slot = i.u32()?;
    if first_free_slot < slots::FIRST_GRANT || first_free_slot as u64 > cnode_slots {
        return i.fail(DecodeErrorKind::BadSlot("first free"));
    }
    Ok(Component {
        name,
        image,
        priority,
        max_priority,
        stack_size,
        cnode_bits,
        fault,
        pager,
        bound_notification,
        asid_pool: flags & FLAG_ASID_POOL != 0,
        awaited: flags & FLAG_AWAITED != 0,
        image_from_files: flags2 & FLAG2_IMAGE_FROM_FILES != 0,
        pageout_policy,
        trace_ring,
        large_pages,
        transparent_large_pages,
        caps,
        untyped,
        io_ports,
        irqs,
        device_memory,
        clients,
        first_free_slot,
        limits,
        name_group,
        privileges,
        devices,
        device_regions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_spec_round_trips() {
        let s = Spec::default();
        let b = encode(&s);
        assert_eq!(b.len(), HEADER_LEN + 4);
        assert_eq!(decode(&b).unwrap(), s);
    }

    #[test]
    fn header_errors() {
        let b = encode(&Spec::default());
        assert_eq!(decode(&b[..3]).unwrap_err().kind, DecodeErrorKind::BadMagic);
        let mut v = b.clone();
        v[8] = (VERSION + 1) as u8;
        assert_eq!(
            decode(&v).unwrap_err().kind,
            DecodeErrorKind::UnsupportedVersion(VERSION + 1)
        );
        let mut v = b.clone();
        v.push(0);
        assert_eq!(decode(&v).unwrap_err().kind, DecodeErrorKind::TrailingBytes);
        assert_eq!(
            decode(&b[..b.len() - 1]).unwrap_err().kind,
            DecodeErrorKind::Truncated
        );
        let mut v = b.clone();
        v[HEADER_LEN] ^= 1;
        assert!(matches!(
            decode(&v).unwrap_err().kind,
            DecodeErrorKind::BadChecksum { .. }
        ));
    }
}
