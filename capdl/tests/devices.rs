//! Device regions in the spec: `device_frame` objects (a region, optionally a PCI BAR the root task places), `devices { NAME (RIGHTS) }` grants of paged clients, the pager's device regions and their slots, every error with its position, and how the compact form and the text carry them.

use capdl::{load, slots, ErrorKind, ObjectKind, PciBar, Pos, Rights, Spec};

const IMAGES: &[&str] = &["server", "client"];

/// Objects `objects`, a pager `pager` (receiving on `f`) with `pager_body`,
/// and paged clients `c1`..`cn` with `body(i)` in client i's block.
fn spec_text(objects: &str, pager_body: &str, n: usize, body: impl Fn(usize) -> String) -> String {
    let mut s = format!(
        "arch x86_64\nobjects {{\n    f = ep\n{objects}\n}}\ncomponent pager {{\n    image = \"server\"\n    caps {{ 16: f (R) }}\n{pager_body}\n}}\n"
    );
    for i in 1..=n {
        s.push_str(&format!(
            "component c{i} {{\n    image = \"client\"\n    pager = pager\n    fault = f (badge: {i})\n{}\n}}\n",
            body(i)
        ));
    }
    s
}

const IVSHMEM: &str =
    "    ivshmem = device_frame (1M, paddr: 0xe000_0000, bus: 0, dev: 6, func: 0, bar: 2)";

fn load_ok(src: &str) -> Spec {
    load(src, IMAGES).unwrap_or_else(|e| panic!("{e}\n---\n{src}"))
}

/// The errors of `src`, which must not load.
fn errors(src: &str) -> Vec<(Pos, ErrorKind)> {
    match load(src, IMAGES) {
        Ok(_) => panic!("expected an error:\n{src}"),
        Err(e) => e.0.into_iter().map(|e| (e.pos, e.kind)).collect(),
    }
}

fn pos(line: u32, col: u32) -> Pos {
    Pos { line, col }
}

#[test]
fn a_pci_region_granted_to_two_clients_is_held_once_by_their_pager() {
    let src = spec_text(IVSHMEM, "", 3, |i| match i {
        1 => "    devices { ivshmem (RW) }".into(),
        2 => "    devices { ivshmem (R) }".into(),
        _ => String::new(),
    });
    let spec = load_ok(&src);
    let id = spec.object_id("ivshmem").unwrap();
    assert_eq!(
        spec.objects[id as usize].kind,
        ObjectKind::DeviceFrame {
            size: 1 << 20,
            paddr: 0xe000_0000,
            pci: Some(PciBar {
                bus: 0,
                dev: 6,
                func: 0,
                bar: 2
            }),
        }
    );
    let c = |n: &str| spec.component(n).unwrap();
    assert_eq!(c("c1").devices[0].object, id);
    assert_eq!(c("c1").devices[0].rights, Rights::READ.union(Rights::WRITE));
    assert_eq!(c("c2").devices[0].rights, Rights::READ);
    assert!(c("c3").devices.is_empty());
    // The pager's regions come after its clients' slots, one per page.
    let pager = c("pager");
    assert_eq!(pager.device_regions.len(), 1);
    let r = pager.device_regions[0];
    assert_eq!((r.object, r.pages), (id, 256));
    let last_client = pager.clients.last().unwrap().slot + slots::CLIENT_SLOTS;
    assert_eq!(r.slot, last_client);
    assert_eq!(pager.first_free_slot, r.slot + 256);
    // Text and compact forms carry it all.
    let text = capdl::text::to_text(&spec);
    assert!(
        text.contains(
            "device_frame (0x100000, paddr: 0xe0000000, bus: 0, dev: 6, func: 0, bar: 2)"
        ),
        "{text}"
    );
    assert!(text.contains("    devices { ivshmem (RW) }"), "{text}");
    assert_eq!(load_ok(&text), spec);
    assert_eq!(capdl::decode(&capdl::encode(&spec)).unwrap(), spec);
}

#[test]
fn a_plain_region_and_one_in_the_caps_table() {
    // Without PCI parameters: a region at a fixed address, any 4K multiple.
    let objects = "    fb = device_frame (12K, paddr: 0xfd00_1000)";
    let src = spec_text(objects, "", 1, |_| "    devices { fb (R) }".into())
        + "component driver {\n    image = \"server\"\n    caps { 32: fb (RW) }\n}\n";
    let spec = load_ok(&src);
    let fb = spec.object_id("fb").unwrap();
    assert_eq!(
        spec.objects[fb as usize].kind,
        ObjectKind::DeviceFrame {
            size: 12 << 10,
            paddr: 0xfd00_1000,
            pci: None
        }
    );
    // A cap to it fills one slot per page, as a frame's does.
    let d = spec.component("driver").unwrap();
    assert_eq!((d.caps[0].slot, d.caps[0].object), (32, fb));
    assert_eq!(capdl::decode(&capdl::encode(&spec)).unwrap(), spec);
    assert_eq!(load_ok(&capdl::text::to_text(&spec)), spec);
}

#[test]
fn malformed_regions_are_reported_where_written() {
    let one = |objects: &str| errors(&spec_text(objects, "", 0, |_| String::new()));
    let bad_size = |field: &'static str, value: u64| move |k: &ErrorKind| matches!(k, ErrorKind::BadSize { field: f, value: v, .. } if *f == field && *v == value);
    let e = one("    d = device_frame (4K, paddr: 0xe000_0010)");
    assert_eq!(e.len(), 1);
    assert!(
        bad_size("device_frame paddr", 0xe000_0010)(&e[0].1),
        "{e:?}"
    );
    assert_eq!(e[0].0, pos(4, 23));
    let e = one("    d = device_frame (0, paddr: 0xe000_0000)");
    assert!(bad_size("device_frame size", 0)(&e[0].1), "{e:?}");
    let e = one("    d = device_frame (2G, paddr: 0)");
    assert!(bad_size("device_frame size", 2 << 30)(&e[0].1), "{e:?}");
    let e = one("    d = device_frame (4K, paddr: 0xf_ffff_ffff_f000, bus: 0, dev: 1, bar: 0)\n    x = device_frame (8K, paddr: 0xf_ffff_ffff_f000)");
    assert!(bad_size("device_frame size", 8 << 10)(&e[0].1), "{e:?}");
    // A PCI BAR is naturally aligned: a power-of-two size the address divides.
    let e = one("    d = device_frame (12K, paddr: 0xe000_0000, dev: 6, bar: 2)");
    assert!(
        bad_size("device_frame paddr", 0xe000_0000)(&e[0].1),
        "{e:?}"
    );
    let e = one("    d = device_frame (64K, paddr: 0xe000_1000, dev: 6, bar: 2)");
    assert!(
        bad_size("device_frame paddr", 0xe000_1000)(&e[0].1),
        "{e:?}"
    );
    let e = one("    d = device_frame (4K, paddr: 0xe000_0000, dev: 32, bar: 6)");
    let fields: Vec<_> = e
        .iter()
        .map(|(_, k)| match k {
            ErrorKind::ValueOutOfRange { field, .. } => *field,
            k => panic!("{k:?}"),
        })
        .collect();
    assert_eq!(fields, ["dev", "bar"]);
}

#[test]
fn regions_and_bars_are_unique() {
    let e = errors(&spec_text(
        "    a = device_frame (8K, paddr: 0xe000_0000)\n    b = device_frame (4K, paddr: 0xe000_1000)",
        "",
        0,
        |_| String::new(),
    ));
    assert!(
        matches!(&e[0].1, ErrorKind::DeviceMemoryOverlap { other, other_pos, .. } if other == "a" && *other_pos == pos(4, 23)),
        "{e:?}"
    );
    // Against a component's device_memory too.
    let e = errors(&spec_text(
        IVSHMEM,
        "    device_memory = 0xe00f_f000 + 8K",
        0,
        |_| String::new(),
    ));
    assert!(
        matches!(&e[0].1, ErrorKind::DeviceMemoryOverlap { other, .. } if other == "ivshmem"),
        "{e:?}"
    );
    let e = errors(&spec_text(
        &format!("{IVSHMEM}\n    other = device_frame (1M, paddr: 0xe010_0000, dev: 6, bar: 2)"),
        "",
        0,
        |_| String::new(),
    ));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, pos(5, 13));
    assert!(
        matches!(&e[0].1, ErrorKind::PciBarConflict { other, .. } if other == "ivshmem"),
        "{e:?}"
    );
}

#[test]
fn grants_name_device_frames_with_r_or_rw_once() {
    let grant = |g: &str| {
        let g = g.to_string();
        errors(&spec_text(
            &format!("{IVSHMEM}\n    n = notification"),
            "",
            1,
            move |_| format!("    devices {{ {g} }}"),
        ))
    };
    let e = grant("ivshmem");
    assert!(matches!(e[0].1, ErrorKind::MissingField(_)), "{e:?}");
    assert_eq!(e[0].0, pos(16, 15));
    let e = grant("ivshmem (W)");
    assert!(
        matches!(&e[0].1, ErrorKind::DeviceRights { object, rights } if object == "ivshmem" && *rights == Rights::WRITE),
        "{e:?}"
    );
    let e = grant("ivshmem (RWG)");
    assert!(matches!(e[0].1, ErrorKind::DeviceRights { .. }), "{e:?}");
    let e = grant("ivshmem (RW, badge: 3)");
    assert!(matches!(e[0].1, ErrorKind::BadgeNotAllowed { .. }), "{e:?}");
    let e = grant("ivshmem (R) ivshmem (RW)");
    assert_eq!(
        e,
        [(pos(16, 27), ErrorKind::DuplicateDevice("ivshmem".into()))]
    );
    let e = grant("n (R)");
    assert!(
        matches!(
            &e[0].1,
            ErrorKind::WrongObjectType {
                expected: "device_frame",
                found: "notification",
                ..
            }
        ),
        "{e:?}"
    );
    let e = grant("nowhere (R)");
    assert!(matches!(e[0].1, ErrorKind::UndefinedObject(_)), "{e:?}");
    let e = grant("c1 (R)");
    assert!(
        matches!(
            e[0].1,
            ErrorKind::WrongObjectType {
                found: "component",
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn only_paged_clients_of_one_pager_are_granted_a_region() {
    // The pager itself (no pager of its own) cannot be granted one.
    let e = errors(&spec_text(
        IVSHMEM,
        "    devices { ivshmem (RW) }",
        0,
        |_| String::new(),
    ));
    assert_eq!(e, [(pos(9, 5), ErrorKind::NotPaged { field: "devices" })]);
    // Clients of two pagers: one pager holds a region.
    let src = spec_text(IVSHMEM, "", 1, |_| "    devices { ivshmem (RW) }".into())
        + "objects { g = ep }\ncomponent pager2 {\n    image = \"server\"\n    caps { 16: g (R) }\n}\n"
        + "component d1 {\n    image = \"client\"\n    pager = pager2\n    fault = g (badge: 1)\n    devices { ivshmem (R) }\n}\n";
    let e = errors(&src);
    assert!(
        matches!(&e[..], [(_, ErrorKind::DeviceOwners { object, pager, other })] if object == "ivshmem" && pager == "pager2" && other == "pager"),
        "{e:?}"
    );
}

#[test]
fn a_pager_holds_at_most_sixteen_regions_and_needs_the_slots() {
    let objects: String = (0..17)
        .map(|i| {
            format!(
                "    d{i} = device_frame (4K, paddr: {:#x})\n",
                0xe000_0000u64 + i * 4096
            )
        })
        .collect();
    let e = errors(&spec_text(&objects, "", 17, |i| {
        format!("    devices {{ d{} (R) }}", i - 1)
    }));
    assert!(
        matches!(
            &e[..],
            [(
                _,
                ErrorKind::TooMany {
                    what: "device regions of one pager",
                    max: 16
                }
            )]
        ),
        "{e:?}"
    );
    // 1G of device frames does not fit a pager's 4096-slot CNode.
    let e = errors(&spec_text(
        "    big = device_frame (1G, paddr: 0x1_0000_0000)",
        "",
        1,
        |_| "    devices { big (R) }".into(),
    ));
    assert!(
        matches!(&e[..], [(_, ErrorKind::CSpaceFull { component, .. })] if component == "pager"),
        "{e:?}"
    );
}

#[test]
fn syntax_errors_of_a_device_frame() {
    let parse = |o: &str| {
        capdl::parse(&format!("arch x86_64 objects {{ {o} }}"))
            .unwrap_err()
            .kind
    };
    assert_eq!(
        parse("d = device_frame (4K)"),
        ErrorKind::MissingField("paddr")
    );
    assert!(matches!(
        parse("d = device_frame (4K, paddr: 0, bar: 2)"),
        ErrorKind::MissingField(_)
    ));
    assert!(matches!(
        parse("d = device_frame (4K, paddr: 0, dev: 2)"),
        ErrorKind::MissingField(_)
    ));
    assert!(matches!(
        parse("d = device_frame (4K, addr: 0)"),
        ErrorKind::UnknownKeyword { .. }
    ));
    assert_eq!(
        parse("d = device_frame (4K, paddr: 0, paddr: 0)"),
        ErrorKind::DuplicateField("paddr")
    );
    assert_eq!(
        parse("d = device_frame (4K, paddr: 4K)"),
        ErrorKind::SuffixNotAllowed
    );
}

#[test]
fn the_decoder_checks_grants_and_regions() {
    let spec = load_ok(&spec_text(IVSHMEM, "", 1, |_| {
        "    devices { ivshmem (RW) }".into()
    }));
    let blob = capdl::encode(&spec);
    let body = capdl::compact::HEADER_LEN;
    // Find the client's grant (object id 1, rights RW) and corrupt its rights.
    let rights_at = (body..blob.len() - 2)
        .find(|&i| blob[i..i + 3] == [1, 0, 3])
        .expect("the grant's bytes");
    for bad in [2u8, 4, 7] {
        let mut b = blob.clone();
        b[rights_at + 2] = bad;
        let sum = capdl::compact::checksum(&b[body..]);
        b[16..20].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(
            capdl::decode(&b).unwrap_err().kind,
            capdl::DecodeErrorKind::BadValue("device grant rights")
        );
    }
}
