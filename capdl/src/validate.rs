//! The validator: turns an [`Ast`] into a [`Spec`] or the full list of
//! mistakes, and lays out every component's CSpace (assigns grant slots).
//! All checks of meaning live here; the root task trusts the result.

use crate::error::{Error, ErrorKind, Errors, Pos};
use crate::spec::*;
use crate::syntax::{Ast, CapRef, Spanned};
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// The largest stack a component may ask for.
const MAX_STACK: u64 = 256 << 20;
/// A frame object fits the caps table (one slot per page): 240 pages at most.
const MAX_FRAME_OBJECT: u64 =
    (slots::LAST_CAPS_TABLE - slots::FIRST_CAPS_TABLE + 1) as u64 * PAGE_SIZE;
/// Names and images are at most this long (the compact form allows 64K).
const MAX_NAME_LEN: usize = 1024;
/// Physical addresses on x86_64 are at most 52 bits.
const MAX_PADDR: u64 = 1 << 52;

mod devices;
mod limits;

struct Ctx<'a> {
    ast: &'a Ast,
    errors: Vec<Error>,
    objects: BTreeMap<&'a str, ObjectId>,
    components: BTreeMap<&'a str, ComponentId>,
}

impl<'a> Ctx<'a> {
    fn err(&mut self, pos: Pos, kind: ErrorKind) {
        self.errors.push(Error::new(pos, kind));
    }

    fn badge(&mut self, b: &Option<Spanned<u64>>) -> u32 {
        match b {
            Some(b) if b.value > MAX_BADGE => {
                self.err(b.pos, ErrorKind::BadgeOutOfRange(b.value));
                0
            }
            Some(b) => b.value as u32,
            None => 0,
        }
    }

    /// Resolves `r.object`, which must be of `kind`; reports and returns None otherwise.
    fn object(&mut self, r: &Spanned<String>, kind: ObjectKind) -> Option<ObjectId> {
        let Some(&id) = self.objects.get(r.value.as_str()) else {
            if self.components.contains_key(r.value.as_str()) {
                self.err(
                    r.pos,
                    ErrorKind::WrongObjectType {
                        name: r.value.clone(),
                        expected: kind.keyword(),
                        found: "component",
                    },
                );
            } else {
                self.err(r.pos, ErrorKind::UndefinedObject(r.value.clone()));
            }
            return None;
        };
        let found = self.ast.objects[id as usize].kind.value;
        if found != kind {
            self.err(
                r.pos,
                ErrorKind::WrongObjectType {
                    name: r.value.clone(),
                    expected: kind.keyword(),
                    found: found.keyword(),
                },
            );
            return None;
        }
        Some(id)
    }

    /// A field that must fit `0..=max`; returns 0 after reporting otherwise.
    fn ranged(&mut self, v: &Spanned<u64>, field: &'static str, min: u64, max: u64) -> u64 {
        if v.value < min || v.value > max {
            self.err(
                v.pos,
                ErrorKind::ValueOutOfRange {
                    field,
                    value: v.value,
                    min,
                    max,
                },
            );
            min
        } else {
            v.value
        }
    }

    fn priority(&mut self, v: &Option<Spanned<u64>>, field: &'static str, default: u8) -> u8 {
        match v {
            Some(p) if p.value > 255 => {
                self.err(
                    p.pos,
                    ErrorKind::PriorityOutOfRange {
                        field,
                        value: p.value,
                    },
                );
                default
            }
            Some(p) => p.value as u8,
            None => default,
        }
    }

    /// A size that must be a non-zero multiple of 4K no larger than `max`.
    fn size(&mut self, v: &Spanned<u64>, field: &'static str, max: u64) -> bool {
        let reason = if v.value == 0 {
            "must not be zero"
        } else if !v.value.is_multiple_of(PAGE_SIZE) {
            "must be a multiple of 4K"
        } else if v.value > max {
            "is too large"
        } else {
            return true;
        };
        self.err(
            v.pos,
            ErrorKind::BadSize {
                field,
                value: v.value,
                reason,
            },
        );
        false
    }
}

/// Who holds what: used for the receive checks and badge uniqueness.
struct Holder {
    component: ComponentId,
    object: ObjectId,
    rights: Rights,
    badge: u32,
    pos: Pos,
    /// A fault endpoint cap: even badge 0 names the sender for the pager.
    fault: bool,
}

/// Validates `ast`; `images` lists the program images that exist.
/// Returns every error found, sorted by position.
pub fn validate(ast: &Ast, images: &[&str]) -> Result<Spec, Errors> {
    let mut cx = Ctx {
        ast,
        errors: Vec::new(),
        objects: BTreeMap::new(),
        components: BTreeMap::new(),
    };

    // Names: objects and components share one namespace.
    let mut first_pos: BTreeMap<&str, Pos> = BTreeMap::new();
    let names = ast
        .objects
        .iter()
        .map(|o| (&o.name, true))
        .chain(ast.components.iter().map(|c| (&c.name, false)));
    let (mut n_obj, mut n_comp) = (0usize, 0usize);
    for (name, is_object) in names {
        if let Some(&first) = first_pos.get(name.value.as_str()) {
            cx.err(
                name.pos,
                ErrorKind::DuplicateName {
                    name: name.value.clone(),
                    first,
                },
            );
        } else {
            first_pos.insert(&name.value, name.pos);
        }
        // Ids are indices into the ast lists, so duplicates still get one.
        if is_object {
            cx.objects.entry(&name.value).or_insert(n_obj as ObjectId);
            n_obj += 1;
        } else {
            cx.components
                .entry(&name.value)
                .or_insert(n_comp as ComponentId);
            n_comp += 1;
        }
    }
    let max = u16::MAX as usize;
    if ast.objects.len() > max {
        cx.err(
            ast.objects[max].name.pos,
            ErrorKind::TooMany {
                what: "objects",
                max: max as u64,
            },
        );
        return Err(Errors(cx.errors));
    }
    if ast.components.len() > max {
        cx.err(
            ast.components[max].name.pos,
            ErrorKind::TooMany {
                what: "components",
                max: max as u64,
            },
        );
        return Err(Errors(cx.errors));
    }
    if ast.components.is_empty() {
        cx.err(ast.arch.pos, ErrorKind::NoComponents);
    }

    // Limits of the compact form, so every valid spec encodes.
    let long_names = ast
        .objects
        .iter()
        .map(|o| &o.name)
        .chain(ast.components.iter().map(|c| &c.name))
        .chain(ast.components.iter().filter_map(|c| c.image.as_ref()))
        .chain(ast.components.iter().filter_map(|c| c.names.as_ref()))
        .filter(|n| n.value.len() > MAX_NAME_LEN)
        .map(|n| n.pos);
    for pos in long_names.collect::<Vec<_>>() {
        cx.err(
            pos,
            ErrorKind::TooMany {
                what: "bytes in a name",
                max: MAX_NAME_LEN as u64,
            },
        );
    }
    for d in &ast.components {
        if d.io_ports.len() > max {
            let pos = d.io_ports[max].pos;
            cx.err(
                pos,
                ErrorKind::TooMany {
                    what: "I/O port ranges",
                    max: max as u64,
                },
            );
        }
        if d.device_memory.len() > max {
            let pos = d.device_memory[max].pos;
            cx.err(
                pos,
                ErrorKind::TooMany {
                    what: "device memory regions",
                    max: max as u64,
                },
            );
        }
    }

    // Object kinds as validated (`None`: malformed, reported).
    let mut devices = devices::Devices::default();
    let mut kinds: Vec<Option<ObjectKind>> = Vec::new();
    for o in &ast.objects {
        let kind = match (&o.kind.value, &o.device) {
            (&ObjectKind::Frame { size }, _) => {
                let v = Spanned {
                    pos: o.kind.pos,
                    value: size,
                };
                cx.size(&v, "frame size", MAX_FRAME_OBJECT)
                    .then_some(o.kind.value)
            }
            (ObjectKind::DeviceFrame { .. }, Some(d)) => {
                devices.device_frame(&mut cx, &o.name.value, o.kind.pos, d)
            }
            (k, _) => Some(*k),
        };
        kinds.push(kind);
    }

    let default_limits = limits::spec_default(&mut cx);

    let mut comps: Vec<Component> = Vec::new();
    let mut holders: Vec<Holder> = Vec::new();
    let mut bound: Vec<(ComponentId, ObjectId)> = Vec::new();

    for (ci, d) in ast.components.iter().enumerate() {
        let cid = ci as ComponentId;
        let image = match &d.image {
            None => {
                cx.err(d.name.pos, ErrorKind::MissingImage(d.name.value.clone()));
                String::new()
            }
            Some(img) => {
                if !images.contains(&img.value.as_str()) {
                    cx.err(
                        img.pos,
                        ErrorKind::UnknownImage {
                            image: img.value.clone(),
                            known: images.iter().map(|s| s.to_string()).collect(),
                        },
                    );
                }
                img.value.clone()
            }
        };
        let priority = cx.priority(&d.priority, "priority", defaults::PRIORITY);
        let max_priority = cx.priority(&d.max_priority, "max_priority", defaults::MAX_PRIORITY);
        let stack_size = match &d.stack {
            Some(s) if cx.size(s, "stack", MAX_STACK) => s.value,
            _ => defaults::STACK_SIZE,
        };
        let untyped_size = match &d.untyped {
            Some(s) if cx.size(s, "untyped", MAX_PADDR) => s.value,
            _ => 0,
        };
        let cnode_bits = match &d.cnode_bits {
            Some(b) => cx.ranged(
                b,
                "cnode_bits",
                MIN_CNODE_BITS as u64,
                MAX_CNODE_BITS as u64,
            ) as u8,
            None => defaults::CNODE_BITS,
        };

        let fault = d.fault.as_ref().and_then(|f| {
            if let Some(r) = &f.rights {
                cx.err(
                    r.pos,
                    ErrorKind::RightsNotAllowed("a fault endpoint cap always gets W and P"),
                );
            }
            let badge = cx.badge(&f.badge);
            let object = cx.object(&f.object, ObjectKind::Endpoint)?;
            holders.push(Holder {
                component: cid,
                object,
                rights: Rights::WRITE.union(Rights::GRANT_REPLY),
                badge,
                pos: f.object.pos,
                fault: true,
            });
            Some(FaultEp { object, badge })
        });

        let pager = d
            .pager
            .as_ref()
            .and_then(|p| match cx.components.get(p.value.as_str()) {
                None => {
                    cx.err(p.pos, ErrorKind::UndefinedComponent(p.value.clone()));
                    None
                }
                Some(&id) if id == cid => {
                    cx.err(p.pos, ErrorKind::PagerIsSelf);
                    None
                }
                Some(&id) => {
                    if d.fault.is_none() {
                        cx.err(p.pos, ErrorKind::PagerWithoutFault);
                    }
                    Some(id)
                }
            });

        if let (Some(pos), None) = (d.image_from_files, pager) {
            cx.err(
                pos,
                ErrorKind::NotPaged {
                    field: "image_from_files",
                },
            );
        }
        let limits = limits::of_component(&mut cx, d, pager.is_some(), &default_limits);

        let bound_notification = d.bound_notification.as_ref().and_then(|n| {
            let id = cx.object(n, ObjectKind::Notification)?;
            if let Some(&(other, _)) = bound.iter().find(|b| b.1 == id) {
                cx.err(
                    n.pos,
                    ErrorKind::AlreadyBound {
                        object: n.value.clone(),
                        other: ast.components[other as usize].name.value.clone(),
                    },
                );
            }
            bound.push((cid, id));
            // Signals to a bound notification arrive with the TCB's receives.
            holders.push(Holder {
                component: cid,
                object: id,
                rights: Rights::READ,
                badge: 0,
                pos: n.pos,
                fault: false,
            });
            Some(id)
        });

        // The caps table.
        let mut caps: Vec<Cap> = Vec::new();
        let mut slot_pos: BTreeMap<u64, Pos> = BTreeMap::new();
        for cd in &d.caps {
            let slot = cd.slot.value;
            let object = cap_object(&mut cx, &cd.cap);
            let kind = object.map(|o| ast.objects[o as usize].kind.value);
            // A frame cap fills one slot per page; an unresolved or badly
            // sized one (reported above) counts as one slot.
            let n = match object.and_then(|o| kinds[o as usize]) {
                Some(k) if k.is_frames() => k.slots(),
                _ => 1,
            };
            let last = slot.saturating_add(n - 1);
            if slot < slots::FIRST_CAPS_TABLE as u64 {
                cx.err(cd.slot.pos, ErrorKind::ReservedSlot(slot));
            } else if last > slots::LAST_CAPS_TABLE as u64 {
                cx.err(
                    cd.slot.pos,
                    ErrorKind::SlotOutOfRange {
                        slot: last,
                        max: slots::LAST_CAPS_TABLE as u64,
                    },
                );
            } else if let Some((&s, &first)) = slot_pos.range(slot..=last).next() {
                cx.err(cd.slot.pos, ErrorKind::DuplicateSlot { slot: s, first });
            } else {
                for s in slot..=last {
                    slot_pos.insert(s, cd.slot.pos);
                }
            }
            let badge = cx.badge(&cd.cap.badge);
            let rights = match &cd.cap.rights {
                Some(r) => r.value,
                None => {
                    cx.err(
                        cd.cap.object.pos,
                        ErrorKind::MissingField("rights (e.g. `(RW)`)"),
                    );
                    Rights::NONE
                }
            };
            if kind.is_some_and(|k| k.is_frames()) {
                if let Some(b) = &cd.cap.badge {
                    cx.err(
                        b.pos,
                        ErrorKind::BadgeNotAllowed {
                            object: cd.cap.object.value.clone(),
                        },
                    );
                }
                if let Some(r) = &cd.cap.rights {
                    if !Rights::READ.union(Rights::WRITE).contains(r.value) {
                        cx.err(
                            r.pos,
                            ErrorKind::FrameRights {
                                object: cd.cap.object.value.clone(),
                                rights: r.value,
                            },
                        );
                    }
                }
            }
            if let Some(object) = object {
                holders.push(Holder {
                    component: cid,
                    object,
                    rights,
                    badge,
                    pos: cd.cap.object.pos,
                    fault: false,
                });
                caps.push(Cap {
                    slot: slot as Slot,
                    object,
                    rights,
                    badge,
                });
            }
        }
        caps.sort_by_key(|c| c.slot);

        let io_ports = devices.io_ports(&mut cx, cid, d);
        let irqs = devices.irqs(&mut cx, cid, d, &mut holders);
        let device_memory = devices.device_memory(&mut cx, d);
        let device_grants = devices::grants(&mut cx, d, &kinds);

        comps.push(Component {
            name: d.name.value.clone(),
            image,
            priority,
            max_priority,
            stack_size,
            cnode_bits,
            fault,
            pager,
            bound_notification,
            asid_pool: d.asid_pool.is_some(),
            awaited: d.awaited.is_some(),
            image_from_files: d.image_from_files.is_some(),
            pageout_policy: d.pageout_policy.as_ref().map(|p| p.value.clone()),
            trace_ring: d.trace_ring.as_ref().map(|n| n.value as u32),
            large_pages: d.large_pages.as_ref().map(|n| n.value as u32),
            transparent_large_pages: d.transparent_large_pages.is_some(),
            caps,
            untyped: (untyped_size > 0).then_some(Untyped {
                size: untyped_size,
                slot: 0,
            }),
            io_ports,
            irqs,
            device_memory,
            clients: Vec::new(),
            first_free_slot: 0,
            limits,
            name_group: d.names.as_ref().map(|n| n.value.clone()),
            privileges: limits::privileges(&mut cx, d),
            devices: device_grants,
            device_regions: Vec::new(),
        });
    }

    // Every fault endpoint needs a receiver other than the faulting component,
    // and a named pager must be one.
    for (ci, d) in ast.components.iter().enumerate() {
        let (Some(fault), Some(fd)) = (comps[ci].fault, &d.fault) else {
            continue;
        };
        let receives = |who: ComponentId| {
            holders
                .iter()
                .any(|h| h.component == who && h.object == fault.object && h.rights.read())
        };
        let any = (0..comps.len() as ComponentId).any(|who| who as usize != ci && receives(who));
        if !any {
            cx.err(
                fd.object.pos,
                ErrorKind::FaultNotReceived {
                    object: fd.object.value.clone(),
                },
            );
        }
        // (Only when someone receives, so one mistake gives one error.)
        if let (true, Some(pager), Some(pd)) = (any, comps[ci].pager, &d.pager) {
            if !receives(pager) {
                cx.err(
                    pd.pos,
                    ErrorKind::PagerNotReceiving {
                        pager: pd.value.clone(),
                        object: fd.object.value.clone(),
                    },
                );
            }
        }
    }

    // IRQs must reach someone.
    for (ntfn, pos) in devices.irq_ntfns {
        if !holders.iter().any(|h| h.object == ntfn && h.rights.read()) {
            cx.err(
                pos,
                ErrorKind::IrqNotReceived {
                    object: ast.objects[ntfn as usize].name.value.clone(),
                },
            );
        }
    }

    // A non-zero badge of an object names one component; so does any badge,
    // 0 included, on a fault endpoint (two unbadged faulters are ambiguous).
    let mut badge_owner: BTreeMap<(ObjectId, u32), ComponentId> = BTreeMap::new();
    for h in &holders {
        if h.badge == 0 && !h.fault {
            continue;
        }
        match badge_owner.get(&(h.object, h.badge)) {
            Some(&other) if other != h.component => cx.err(
                h.pos,
                ErrorKind::SharedBadge {
                    object: ast.objects[h.object as usize].name.value.clone(),
                    badge: h.badge as u64,
                    other: comps[other as usize].name.clone(),
                },
            ),
            Some(_) => {}
            None => {
                badge_owner.insert((h.object, h.badge), h.component);
            }
        }
    }

    // Pager clients, in spec order; the pager-info page holds so many.
    for ci in 0..comps.len() {
        if let Some(p) = comps[ci].pager {
            if comps[p as usize].clients.len() == MAX_PAGER_CLIENTS {
                let pos = ast.components[ci]
                    .pager
                    .as_ref()
                    .map_or(ast.components[ci].name.pos, |p| p.pos);
                cx.err(
                    pos,
                    ErrorKind::TooMany {
                        what: "clients of one pager",
                        max: MAX_PAGER_CLIENTS as u64,
                    },
                );
            }
            comps[p as usize].clients.push(PagerClient {
                client: ci as ComponentId,
                slot: 0,
            });
        }
    }

    // A policy is a pager's, and its name fits the pager-info page; so
    // is a trace ring, of at most MAX_TRACE_RING records, and large pages
    // that its untyped grant holds beside room for its pool.
    for (c, d) in comps.iter().zip(&ast.components) {
        if let Some(n) = &d.large_pages {
            if c.clients.is_empty() {
                cx.err(
                    n.pos,
                    ErrorKind::NotAPager {
                        field: "large_pages",
                    },
                );
            }
            let untyped = c.untyped.map_or(0, |u| u.size);
            let fit = untyped.saturating_sub(LARGE_PAGES_SPARE_UNTYPED) / LARGE_PAGE_SIZE;
            let max = fit.min(u64::from(MAX_LARGE_PAGES));
            if n.value == 0 || n.value > max {
                cx.err(
                    n.pos,
                    ErrorKind::ValueOutOfRange {
                        field: "large_pages (2 MiB each, within `untyped` less 4M for the pool)",
                        value: n.value,
                        min: 1,
                        max,
                    },
                );
            }
        }
        if let Some(pos) = d.transparent_large_pages {
            if d.large_pages.is_none() {
                cx.err(
                    pos,
                    ErrorKind::NeedsField {
                        field: "transparent_large_pages",
                        needs: "large_pages = N",
                    },
                );
            }
        }
        if let Some(n) = &d.trace_ring {
            if c.clients.is_empty() {
                cx.err(
                    n.pos,
                    ErrorKind::NotAPager {
                        field: "trace_ring",
                    },
                );
            }
            if n.value == 0 || n.value > u64::from(MAX_TRACE_RING) {
                cx.err(
                    n.pos,
                    ErrorKind::ValueOutOfRange {
                        field: "trace_ring",
                        value: n.value,
                        min: 1,
                        max: u64::from(MAX_TRACE_RING),
                    },
                );
            }
        }
        if let Some(p) = &d.pageout_policy {
            if c.clients.is_empty() {
                cx.err(
                    p.pos,
                    ErrorKind::NotAPager {
                        field: "pageout_policy",
                    },
                );
            }
            if p.value.len() > MAX_POLICY_NAME {
                cx.err(
                    p.pos,
                    ErrorKind::ValueOutOfRange {
                        field: "pageout_policy name length",
                        value: p.value.len() as u64,
                        min: 1,
                        max: MAX_POLICY_NAME as u64,
                    },
                );
            }
        }
    }

    // Each pager holds the device regions its clients are granted.
    devices::pager_regions(&mut cx, &mut comps, &kinds);

    // Grant slots: untyped region, I/O ports, IRQs, device frames,
    // clients, the clients' device regions.
    for (c, d) in comps.iter_mut().zip(&ast.components) {
        let needed = layout(c);
        if needed > c.cnode_slots() {
            cx.err(
                d.name.pos,
                ErrorKind::CSpaceFull {
                    component: c.name.clone(),
                    needed,
                    available: c.cnode_slots(),
                },
            );
        }
    }

    if cx.errors.is_empty() {
        Ok(Spec {
            objects: ast
                .objects
                .iter()
                .zip(&kinds)
                .map(|(o, k)| Object {
                    name: o.name.value.clone(),
                    kind: k.unwrap_or(o.kind.value),
                })
                .collect(),
            components: comps,
        })
    } else {
        let mut errors = cx.errors;
        errors.sort_by_key(|e| e.pos);
        Err(Errors(errors))
    }
}

/// Resolves a caps-table reference (endpoint or notification).
fn cap_object(cx: &mut Ctx<'_>, r: &CapRef) -> Option<ObjectId> {
    match cx.objects.get(r.object.value.as_str()) {
        Some(&id) => Some(id),
        None => {
            // Reports undefined names (and components used as objects).
            cx.object(&r.object, ObjectKind::Endpoint)
        }
    }
}

/// Assigns the grant slots of `c` (and `first_free_slot`) from
/// [`slots::FIRST_GRANT`] on, in the documented order; returns the number of
/// slots the CNode needs, which may exceed its size (the caller checks).
/// For building a `Spec` in code; slots saturate at `u32::MAX`.
pub fn layout(c: &mut Component) -> u64 {
    let mut next = slots::FIRST_GRANT as u64;
    let mut take = |n: u64| -> Slot {
        let s = next;
        next = next.saturating_add(n);
        s.min(u32::MAX as u64) as Slot
    };
    if let Some(u) = &mut c.untyped {
        u.slot = take(slots::UNTYPED_REGION as u64);
    }
    for p in &mut c.io_ports {
        p.slot = take(1);
    }
    for i in &mut c.irqs {
        i.slot = take(1);
    }
    for m in &mut c.device_memory {
        m.slot = take(m.pages());
    }
    for cl in &mut c.clients {
        cl.slot = take(slots::CLIENT_SLOTS as u64);
    }
    for d in &mut c.device_regions {
        d.slot = take(u64::from(d.pages));
    }
    c.first_free_slot = next.min(u32::MAX as u64) as Slot;
    next
}
