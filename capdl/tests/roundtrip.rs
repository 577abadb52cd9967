//! Property tests: valid specs survive text -> parse -> validate and the
//! compact form unchanged; the decoder never panics on hostile bytes.

mod common;

use capdl::validate::layout;
use capdl::*;
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

const IMAGES: &[&str] = &["server", "client", "other-image"];

/// Everything one generated client component varies.
#[derive(Clone, Debug)]
struct Params {
    priority: u8,
    max_priority: u8,
    stack_pages: u64,
    untyped_pages: Option<u64>,
    cnode_bits: u8,
    paged: bool,
    faulting: bool,
    asid_pool: bool,
    awaited: bool,
    badged: bool,
    caps: Vec<(u32, usize, u8, bool)>,
    ports: Vec<(u16, u16)>,
    irqs: Vec<(bool, bool, bool, u32)>,
    regions: Vec<u64>,
    image: usize,
    /// A paged client's limits (any value but 0; u32::MAX = unlimited).
    limits: [u32; 8],
    /// A paged client's name group (`g0`..`g2`), or a group of its own.
    group: Option<u8>,
    /// A paged client's privileges (bits of `Privileges::KNOWN`).
    privileges: u16,
    /// A paged client's device grants: (which device_frame object, writable).
    devices: Vec<(usize, bool)>,
}

fn limit() -> impl Strategy<Value = u32> {
    prop_oneof![Just(Limits::UNLIMITED), 1u32..Limits::UNLIMITED, 1u32..100]
}

fn params() -> impl Strategy<Value = Params> {
    (
        (
            any::<u8>(),
            any::<u8>(),
            1u64..64,
            proptest::option::of(1u64..100_000),
            10u8..=14,
        ),
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        // Caps start 8 slots apart, room for frames of up to 8 pages.
        btree_set(0u32..30, 0..5),
        vec((0usize..16, 1u8..=15, any::<bool>()), 5),
        vec((0u16..0x200, 0u16..0x1ff), 0..=2),
        vec(
            (any::<bool>(), any::<bool>(), any::<bool>(), any::<u32>()),
            0..=2,
        ),
        vec(1u64..16, 0..=2),
        0usize..3,
        (
            proptest::array::uniform8(limit()),
            proptest::option::of(0u8..3),
            (0u16..=Privileges::KNOWN),
            vec((0usize..4, any::<bool>()), 0..=3),
        ),
    )
        .prop_map(
            |(
                a,
                b,
                slots,
                cap_attrs,
                ports,
                irqs,
                regions,
                image,
                (limits, group, privileges, devices),
            )| {
                Params {
                    priority: a.0,
                    max_priority: a.1,
                    stack_pages: a.2,
                    untyped_pages: a.3,
                    cnode_bits: a.4,
                    paged: b.0,
                    faulting: b.1,
                    asid_pool: b.2,
                    badged: b.3,
                    awaited: b.4,
                    caps: slots
                        .into_iter()
                        .zip(cap_attrs)
                        .map(|(s, (o, r, b))| (16 + 8 * s, o, r, b))
                        .collect(),
                    ports,
                    irqs,
                    regions,
                    image,
                    limits,
                    group,
                    privileges,
                    devices,
                }
            },
        )
}

/// A spec that is valid by construction: object 0 (`f`, an ep) is the
/// fault endpoint, object 2 (`n`) the IRQ notification, component 0 the
/// server receiving on both; client i uses badge i, port block i, vectors
/// 2i and 2i+1 and physical block i, so nothing collides.
fn build(extra_objects: Vec<(u8, u64)>, clients: Vec<Params>, bind: bool) -> Spec {
    let mut objects = vec![
        Object {
            name: "f".into(),
            kind: ObjectKind::Endpoint,
        },
        Object {
            name: "r".into(),
            kind: ObjectKind::Endpoint,
        },
        Object {
            name: "n".into(),
            kind: ObjectKind::Notification,
        },
    ];
    let mut dev_ids = Vec::new();
    for (i, (kind, pages)) in extra_objects.into_iter().enumerate() {
        objects.push(Object {
            name: format!("obj-{i}_x"),
            kind: match kind {
                0 => ObjectKind::Endpoint,
                1 => ObjectKind::Notification,
                2 => ObjectKind::Frame {
                    size: pages * PAGE_SIZE,
                },
                // Device regions at their own physical block (clients'
                // device_memory use blocks 2..16 << 32); half of them a
                // PCI BAR (naturally aligned, one BAR each).
                _ => {
                    dev_ids.push(objects.len() as ObjectId);
                    let size = pages.next_power_of_two() * PAGE_SIZE;
                    ObjectKind::DeviceFrame {
                        size,
                        paddr: (0x100 + i as u64) << 32,
                        pci: (pages % 2 == 0).then_some(PciBar {
                            bus: i as u8,
                            dev: (pages as u8) % 32,
                            func: (i % 8) as u8,
                            bar: (i % 6) as u8,
                        }),
                    }
                }
            },
        });
    }
    let n_obj = objects.len();
    let server = Component {
        name: "server".into(),
        image: "server".into(),
        priority: 200,
        max_priority: 200,
        stack_size: 4096,
        cnode_bits: 12,
        fault: None,
        pager: None,
        bound_notification: None,
        asid_pool: true,
        awaited: false,
        image_from_files: false,
        pageout_policy: None,
        trace_ring: None,
        large_pages: None,
        transparent_large_pages: false,
        caps: vec![
            Cap {
                slot: 16,
                object: 0,
                rights: Rights::READ,
                badge: 0,
            },
            Cap {
                slot: 17,
                object: 2,
                rights: Rights::READ,
                badge: 0,
            },
        ],
        untyped: None,
        io_ports: vec![],
        irqs: vec![],
        device_memory: vec![],
        clients: vec![],
        first_free_slot: 0,
        limits: None,
        name_group: None,
        privileges: Privileges::NONE,
        devices: vec![],
        device_regions: vec![],
    };
    let mut comps = vec![server];
    for (k, p) in clients.into_iter().enumerate() {
        let i = k + 1;
        let badge = if p.badged { i as u32 } else { 0 };
        let faulting = p.faulting || p.paged;
        comps.push(Component {
            name: format!("client-{i}"),
            image: IMAGES[p.image].into(),
            priority: p.priority,
            max_priority: p.max_priority,
            stack_size: p.stack_pages * PAGE_SIZE,
            cnode_bits: p.cnode_bits,
            // Fault badges must differ between clients: always badge i.
            fault: faulting.then_some(FaultEp {
                object: 0,
                badge: i as u32,
            }),
            pager: p.paged.then_some(0),
            bound_notification: (bind && i == 1).then_some(2),
            asid_pool: p.asid_pool,
            awaited: p.awaited,
            // A paged client's program may come from its pager's files.
            image_from_files: p.paged && p.asid_pool,
            pageout_policy: None,
            trace_ring: None,
            large_pages: None,
            transparent_large_pages: false,
            caps: p
                .caps
                .iter()
                .map(|&(slot, o, r, b)| {
                    let object = (o % n_obj) as ObjectId;
                    if objects[object as usize].kind.is_frames() {
                        // Frame caps: R and/or W, never a badge.
                        let rights = Rights(if r & 3 == 0 { 1 } else { r & 3 });
                        return Cap {
                            slot,
                            object,
                            rights,
                            badge: 0,
                        };
                    }
                    Cap {
                        slot,
                        object,
                        rights: Rights(r),
                        badge: if b { badge } else { 0 },
                    }
                })
                .collect(),
            untyped: p.untyped_pages.map(|n| Untyped {
                size: n * PAGE_SIZE,
                slot: 0,
            }),
            io_ports: p
                .ports
                .iter()
                .enumerate()
                .map(|(j, &(a, len))| {
                    let base = (i as u16) * 0x800 + (j as u16) * 0x400;
                    IoPorts {
                        first: base + a,
                        last: base + a + len,
                        slot: 0,
                    }
                })
                .collect(),
            irqs: p
                .irqs
                .iter()
                .enumerate()
                .map(|(j, &(msi, level, low, handle))| {
                    let v = (2 * i + j) as u8;
                    let source = if msi {
                        IrqSource::Msi {
                            bus: v,
                            dev: v % 32,
                            func: v % 8,
                            handle,
                        }
                    } else {
                        IrqSource::Ioapic {
                            ioapic: (handle % 4) as u8,
                            pin: v % 24,
                            level,
                            active_low: low,
                        }
                    };
                    Irq {
                        source,
                        vector: v,
                        notification: 2,
                        badge,
                        slot: 0,
                    }
                })
                .collect(),
            device_memory: p
                .regions
                .iter()
                .enumerate()
                .map(|(j, &pages)| DeviceMemory {
                    paddr: ((i * 2 + j) as u64) << 32,
                    size: pages * PAGE_SIZE,
                    slot: 0,
                })
                .collect(),
            clients: vec![],
            first_free_slot: 0,
            limits: p.paged.then(|| {
                let mut l = Limits::default();
                for (f, v) in LimitField::ALL.into_iter().zip(p.limits) {
                    l.set(f, v);
                }
                l
            }),
            name_group: p.group.filter(|_| p.paged).map(|g| format!("g{g}")),
            privileges: Privileges(if p.paged { p.privileges } else { 0 }),
            devices: {
                let mut grants: Vec<DeviceGrant> = Vec::new();
                for &(k, w) in p.devices.iter().filter(|_| p.paged && !dev_ids.is_empty()) {
                    let object = dev_ids[k % dev_ids.len()];
                    if grants.iter().all(|g| g.object != object) {
                        let rights = if w {
                            Rights::READ.union(Rights::WRITE)
                        } else {
                            Rights::READ
                        };
                        grants.push(DeviceGrant { object, rights });
                    }
                }
                grants
            },
            device_regions: vec![],
        });
    }
    for ci in 0..comps.len() {
        if let Some(p) = comps[ci].pager {
            comps[p as usize].clients.push(PagerClient {
                client: ci as ComponentId,
                slot: 0,
            });
        }
    }
    // A pager may name its replacement policy.
    if !comps[0].clients.is_empty() && bind {
        comps[0].pageout_policy = Some("clock-pro".into());
    }
    // The server holds every region its clients are granted, by object.
    let mut held: Vec<ObjectId> = comps
        .iter()
        .flat_map(|c| c.devices.iter().map(|g| g.object))
        .collect();
    held.sort();
    held.dedup();
    comps[0].device_regions = held
        .into_iter()
        .map(|object| PagerDevice {
            object,
            pages: objects[object as usize].kind.slots() as u32,
            slot: 0,
        })
        .collect();
    for c in &mut comps {
        let needed = layout(c);
        assert!(needed <= c.cnode_slots());
    }
    Spec {
        objects,
        components: comps,
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        vec((0u8..4, 1u64..=8), 0..5),
        vec(params(), 0..7),
        any::<bool>(),
    )
        .prop_map(|(o, c, b)| build(o, c, b))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn text_round_trip(spec in spec()) {
        let text = text::to_text(&spec);
        match load(&text, IMAGES) {
            Ok(back) => prop_assert_eq!(back, spec),
            Err(e) => prop_assert!(false, "{}\n---\n{}", e, text),
        }
    }

    #[test]
    fn compact_round_trip(spec in spec()) {
        let bytes = encode(&spec);
        prop_assert_eq!(decode(&bytes).unwrap(), spec);
    }

    /// Random bytes, with and without a valid header in front.
    #[test]
    fn decoder_survives_garbage(body in vec(any::<u8>(), 0..300), with_header in any::<bool>()) {
        let bytes = if with_header { frame(&body) } else { body };
        if let Ok(spec) = decode(&bytes) {
            // Anything accepted is canonical.
            prop_assert_eq!(encode(&spec), bytes);
        }
    }

    /// Every truncation of a valid blob is rejected.
    #[test]
    fn decoder_rejects_truncation(spec in spec(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(&spec);
        let n = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..n]).is_err());
    }

    /// Bit flips with the checksum fixed up reach the body decoder: it may
    /// accept (the flip made another valid spec) but never panics.
    #[test]
    fn decoder_survives_bit_flips(spec in spec(), flips in vec((any::<prop::sample::Index>(), 0u8..8), 1..4)) {
        let bytes = encode(&spec);
        let mut body = bytes[compact::HEADER_LEN..].to_vec();
        for (at, bit) in flips {
            let i = at.index(body.len());
            body[i] ^= 1 << bit;
        }
        let bytes = frame(&body);
        if let Ok(spec) = decode(&bytes) {
            prop_assert_eq!(encode(&spec), bytes);
        }
    }
}

proptest! {
    /// The parser and validator never panic, whatever the text.
    #[test]
    fn load_survives_garbage_text(text in "[ -~\n]{0,200}") {
        let _ = load(&text, IMAGES);
    }

    /// Nor on the real spec with a span of it deleted or replaced.
    #[test]
    fn load_survives_edited_system_spec(at in any::<prop::sample::Index>(), len in 0usize..20, with in "[ -~]{0,4}") {
        let src = include_str!("../system.spec");
        let start = at.index(src.len());
        let end = (start + len).min(src.len());
        if src.is_char_boundary(start) && src.is_char_boundary(end) {
            let text = format!("{}{}{}", &src[..start], with, &src[end..]);
            let _ = load(&text, common::IMAGES);
        }
    }
}

/// A header (magic, version, length, checksum) around `body`.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut v = compact::MAGIC.to_vec();
    v.extend_from_slice(&compact::VERSION.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(&(body.len() as u32).to_le_bytes());
    v.extend_from_slice(&compact::checksum(body).to_le_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn every_prefix_of_the_system_blob_is_rejected() {
    let spec = load(include_str!("../system.spec"), common::IMAGES).unwrap();
    let bytes = encode(&spec);
    for n in 0..bytes.len() {
        assert!(decode(&bytes[..n]).is_err(), "prefix {n}");
    }
    // Every single-bit flip anywhere is caught (header or checksum).
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut v = bytes.clone();
            v[i] ^= 1 << bit;
            assert!(decode(&v).is_err(), "flip byte {i} bit {bit}");
        }
    }
}

#[test]
fn system_blob_is_small() {
    let spec = load(include_str!("../system.spec"), common::IMAGES).unwrap();
    let n = encode(&spec).len();
    // 24 components (the hostile clients and their bystander included).
    assert!(n < 4096, "{n} bytes");
}
