//! Validator tests: the real system spec, then one test per kind of mistake.

use capdl::{load, slots, ErrorKind, Pos, Rights};

mod common;
use common::IMAGES as SYSTEM_IMAGES;

#[test]
fn awaited_is_a_flag_and_round_trips() {
    let src = "arch x86_64\ncomponent t {\n    image = \"server\"\n    awaited\n}\n";
    let spec = load(src, &["server"]).unwrap();
    assert!(spec.components[0].awaited);
    assert_eq!(capdl::decode(&capdl::encode(&spec)).unwrap(), spec);
    let text = capdl::text::to_text(&spec);
    assert!(text.contains("    awaited\n"), "{text}");
    let twice = "arch x86_64\ncomponent t {\n    image = \"server\"\n    awaited\n    awaited\n}\n";
    assert!(load(twice, &["server"]).is_err());
}

#[test]
fn image_from_files_is_a_flag_of_paged_clients() {
    let src = "arch x86_64\nobjects { ep = ep }\ncomponent p { image = \"server\" caps { 16: ep (R) } }\n\
               component c {\n    image = \"client\"\n    image_from_files\n    pager = p\n    fault = ep (badge: 1)\n}\n";
    let spec = load(src, &["server", "client"]).unwrap();
    assert!(spec.components[1].image_from_files);
    assert!(!spec.components[0].image_from_files);
    assert_eq!(capdl::decode(&capdl::encode(&spec)).unwrap(), spec);
    let text = capdl::text::to_text(&spec);
    assert!(text.contains("    image_from_files\n"), "{text}");
    let unpaged = "arch x86_64\ncomponent t {\n    image = \"server\"\n    image_from_files\n}\n";
    let errs = load(unpaged, &["server"]).unwrap_err();
    assert!(
        errs.0.iter().any(|e| e.kind
            == ErrorKind::NotPaged {
                field: "image_from_files"
            }),
        "{errs:?}"
    );
}

#[test]
fn every_spec_under_capdl_is_valid() {
    for (name, src) in [
        ("system.spec", include_str!("../system.spec")),
        (
            "swap-exhaustion.spec",
            include_str!("../swap-exhaustion.spec"),
        ),
        ("bench.spec", include_str!("../bench.spec")),
        ("vm-findings.spec", include_str!("../vm-findings.spec")),
        ("files.spec", include_str!("../files.spec")),
        ("pager-death.spec", include_str!("../pager-death.spec")),
    ] {
        load(src, SYSTEM_IMAGES).unwrap_or_else(|e| panic!("{name}:\n{e}"));
    }
}

/// The file server's pager wiring (docs/pager.md, "Wiring"): the channel
/// frame shared by both servers only, the doorbell bound to the file
/// server and rung by the VM server only, the file server's wake-up of
/// the VM server carrying its notification badge, and its request cap
/// on `vm_ep` with a badge no paged client has.
#[test]
fn files_spec_wires_the_pager_channel() {
    let spec = load(include_str!("../files.spec"), SYSTEM_IMAGES).unwrap();
    let fs = spec.component_id("file-server").unwrap() as usize;
    let bell = spec.object_id("files_pager_bell").unwrap();
    assert_eq!(spec.components[fs].bound_notification, Some(bell));
    let holders = |object: &str| {
        let id = spec.object_id(object).unwrap();
        let mut names: Vec<&str> = spec
            .components
            .iter()
            .filter(|c| c.caps.iter().any(|cap| cap.object == id))
            .map(|c| c.name.as_str())
            .collect();
        names.sort();
        names
    };
    assert_eq!(holders("files_pager"), ["file-server", "vm-server"]);
    assert_eq!(holders("files_pager_bell"), ["vm-server"]);
    let vm_ep = spec.object_id("vm_ep").unwrap();
    let swap_done = spec.object_id("swap_done").unwrap();
    let caps = &spec.components[fs].caps;
    let pager_badge = caps.iter().find(|c| c.object == vm_ep).unwrap().badge;
    assert_eq!(pager_badge, 0x1000);
    let wake = caps.iter().find(|c| c.object == swap_done).unwrap();
    // The VM server's NOTIFY_BADGE bit, plus one of its own: the validator
    // refuses a badge the block server's cap already has.
    assert_eq!((wake.badge, wake.rights), ((1 << 27) | 1, Rights::WRITE));
    for c in spec.components.iter().filter(|c| c.pager.is_some()) {
        let badges: Vec<u32> = c
            .caps
            .iter()
            .filter(|cap| cap.object == vm_ep)
            .map(|cap| cap.badge)
            .collect();
        assert!(!badges.contains(&pager_badge), "{}", c.name);
    }
}

#[test]
fn system_spec_is_valid() {
    let src = include_str!("../system.spec");
    let spec = load(src, SYSTEM_IMAGES).unwrap_or_else(|e| panic!("system.spec:\n{e}"));
    assert_eq!(spec.components.len(), 25);
    let vm_id = spec.component_id("vm-server").unwrap();
    let vm = &spec.components[vm_id as usize];
    assert!(vm.asid_pool);
    assert_eq!(vm.untyped.unwrap().size, 24 << 20);
    // One endpoint carries faults and requests; the server holds it with
    // every right (it mints children's caps from it).
    let ep = spec.object_id("vm_ep").unwrap();
    assert_eq!(spec.cap_slot("vm-server", "vm_ep"), Some(16));
    assert_eq!(
        vm.caps[0].rights,
        Rights::READ.union(Rights::WRITE).union(Rights::GRANT)
    );
    // The VM server pages every client, and every client has a distinct fault
    // badge that equals its request badge.
    let mut badges = Vec::new();
    for c in spec
        .components
        .iter()
        .filter(|c| c.name.starts_with("client-") || c.name == "vmstat")
    {
        assert_eq!(c.pager, Some(vm_id), "{}", c.name);
        let fault = c.fault.unwrap();
        assert_eq!(fault.object, ep);
        assert_ne!(fault.badge, 0);
        let req = c.caps.iter().find(|k| k.object == ep).unwrap();
        assert_eq!(req.badge, fault.badge);
        // seL4 5.0 makes a reply cap for a Call only through a cap with Grant.
        assert!(req.rights.write() && req.rights.grant());
        badges.push(fault.badge);
    }
    badges.sort();
    badges.dedup();
    assert_eq!(badges.len(), 22);
    assert_eq!(vm.clients.len(), 22);
    // Grant layout: untyped region first, then the clients' caps.
    assert_eq!(vm.untyped.unwrap().slot, slots::FIRST_GRANT);
    assert_eq!(
        vm.clients[0].slot,
        slots::FIRST_GRANT + slots::UNTYPED_REGION
    );
    assert_eq!(
        vm.first_free_slot,
        vm.clients.last().unwrap().slot + slots::CLIENT_SLOTS
    );
    let bad = spec.component_id("client-bad-requests").unwrap();
    assert_eq!(spec.client_by_fault_badge(vm_id, 6).unwrap().client, bad);
    assert!(spec.client_by_fault_badge(vm_id, 99).is_none());
    // The block server: not paged, device grants, one channel shared with
    // block-test, which the root task awaits (it is no paged client).
    let blk = spec.component("block-server").unwrap();
    assert!(blk.pager.is_none() && !blk.awaited);
    assert_eq!(blk.io_ports.len(), 2);
    assert_eq!(
        (blk.io_ports[0].first, blk.io_ports[0].last),
        (0xcf8, 0xcff)
    );
    // The disk interrupt, on the block server's notification.
    assert_eq!(blk.irqs.len(), 1);
    let test = spec.component("block-test").unwrap();
    assert!(test.awaited && test.pager.is_none() && test.fault.is_none());
    assert!(spec
        .components
        .iter()
        .filter(|c| c.awaited)
        .all(|c| c.name == "block-test"));
    assert_eq!(spec.cap_slot("block-server", "test_shm"), Some(32));
    assert_eq!(spec.cap_slot("block-test", "test_shm"), Some(32));
    // And it survives the compact form.
    assert_eq!(capdl::decode(&capdl::encode(&spec)).unwrap(), spec);
}

const BASE: &str = r#"arch x86_64
objects {
    f = ep
    r = ep
    n = notification
}
component pager {
    image = "server"
    caps {
        16: f (R)
        17: r (R)
        18: n (R)
    }
}
component c {
    image = "client"
    pager = pager
    fault = f (badge: 1)
    caps { 16: r (WP, badge: 1) }
}
"#;

const IMAGES: &[&str] = &["server", "client"];

/// Loads BASE with `extra` appended, expecting failure; returns the errors.
fn errors(extra: &str) -> Vec<(Pos, ErrorKind)> {
    let src = format!("{BASE}{extra}");
    match load(&src, IMAGES) {
        Ok(_) => panic!("expected an error for:\n{extra}"),
        Err(e) => e.0.into_iter().map(|e| (e.pos, e.kind)).collect(),
    }
}

/// The single error of BASE + `extra`.
fn error(extra: &str) -> ErrorKind {
    let mut e = errors(extra);
    assert_eq!(e.len(), 1, "{e:?}");
    e.pop().unwrap().1
}

/// Line numbers in `extra` start after BASE.
fn base_lines() -> u32 {
    BASE.lines().count() as u32
}

#[test]
fn base_is_valid_and_defaults_apply() {
    let spec = load(BASE, IMAGES).unwrap();
    let c = spec.component("c").unwrap();
    assert_eq!(c.priority, capdl::defaults::PRIORITY);
    assert_eq!(c.max_priority, 0);
    assert_eq!(c.stack_size, 64 * 1024);
    assert_eq!(c.cnode_bits, 12);
    assert_eq!(c.untyped, None);
    assert_eq!(c.first_free_slot, slots::FIRST_GRANT);
    assert_eq!(c.caps[0].rights, Rights::WRITE.union(Rights::GRANT_REPLY));
    let p = spec.component("pager").unwrap();
    assert_eq!(p.clients.len(), 1);
    assert_eq!(p.clients[0].slot, slots::FIRST_GRANT);
}

#[test]
fn adding_a_client_takes_four_lines() {
    let extra = "component mine { image = \"client\" pager = pager fault = f (badge: 2)\n caps { 16: r (WP, badge: 2) } }";
    let spec = load(&format!("{BASE}{extra}"), IMAGES).unwrap();
    assert_eq!(spec.component("pager").unwrap().clients.len(), 2);
}

#[test]
fn duplicate_names() {
    let e = errors("component c { image = \"client\" }\ncomponent n { image = \"client\" }");
    let l = base_lines();
    assert!(
        matches!(&e[0], (p, ErrorKind::DuplicateName { name, first }) if p.line == l + 1 && name == "c" && first.line == 15)
    );
    assert!(
        matches!(&e[1], (p, ErrorKind::DuplicateName { name, .. }) if p.line == l + 2 && name == "n")
    );
}

#[test]
fn duplicate_slots() {
    let e = error("component d { image = \"client\" caps {\n 16: r (W)\n 16: n (W) } }");
    assert!(
        matches!(e, ErrorKind::DuplicateSlot { slot: 16, first } if first.line == base_lines() + 2)
    );
}

#[test]
fn reserved_and_out_of_range_slots() {
    assert_eq!(
        error("component d { image = \"client\" caps { 0: r (W) } }"),
        ErrorKind::ReservedSlot(0)
    );
    assert_eq!(
        error("component d { image = \"client\" caps { 5: r (W) } }"),
        ErrorKind::ReservedSlot(5)
    );
    assert!(matches!(
        error("component d { image = \"client\" caps { 256: r (W) } }"),
        ErrorKind::SlotOutOfRange { slot: 256, .. }
    ));
}

#[test]
fn undefined_references() {
    assert_eq!(
        error("component d { image = \"client\" caps { 16: nope (W) } }"),
        ErrorKind::UndefinedObject("nope".into())
    );
    assert_eq!(
        error("component d { image = \"client\" pager = nobody fault = f (badge: 9) }"),
        ErrorKind::UndefinedComponent("nobody".into())
    );
    assert!(matches!(
        error("component d { image = \"client\" caps { 16: pager (W) } }"),
        ErrorKind::WrongObjectType {
            found: "component",
            ..
        }
    ));
    assert!(matches!(
        error("component d { image = \"client\" fault = n (badge: 9) }"),
        ErrorKind::WrongObjectType {
            expected: "ep",
            found: "notification",
            ..
        }
    ));
}

#[test]
fn missing_and_unknown_images() {
    assert_eq!(
        error("component d { }"),
        ErrorKind::MissingImage("d".into())
    );
    let e = error("component d { image = \"vm-serevr\" }");
    assert!(
        matches!(&e, ErrorKind::UnknownImage { image, known } if image == "vm-serevr" && known.len() == 2)
    );
    assert!(
        e.to_string().contains("known images: server, client"),
        "{e}"
    );
    // A near miss gets a suggestion instead.
    let e = error("component d { image = \"clinet\" }");
    assert_eq!(
        e.to_string(),
        "unknown image \"clinet\"; did you mean \"client\"?"
    );
}

#[test]
fn bad_numbers_and_sizes() {
    assert!(matches!(
        error("component d { image = \"client\" priority = 256 }"),
        ErrorKind::PriorityOutOfRange {
            field: "priority",
            value: 256
        }
    ));
    assert!(matches!(
        error("component d { image = \"client\" max_priority = 1000 }"),
        ErrorKind::PriorityOutOfRange {
            field: "max_priority",
            ..
        }
    ));
    assert!(matches!(
        error("component d { image = \"client\" stack = 1000 }"),
        ErrorKind::BadSize {
            field: "stack",
            reason: "must be a multiple of 4K",
            ..
        }
    ));
    assert!(matches!(
        error("component d { image = \"client\" stack = 0 }"),
        ErrorKind::BadSize { field: "stack", .. }
    ));
    assert!(matches!(
        error("component d { image = \"client\" stack = 1G }"),
        ErrorKind::BadSize {
            reason: "is too large",
            ..
        }
    ));
    assert!(matches!(
        error("component d { image = \"client\" untyped = 6000 }"),
        ErrorKind::BadSize {
            field: "untyped",
            ..
        }
    ));
    assert!(matches!(
        error("component d { image = \"client\" cnode_bits = 30 }"),
        ErrorKind::ValueOutOfRange {
            field: "cnode_bits",
            ..
        }
    ));
    assert!(matches!(
        error("component d { image = \"client\" device_memory = 0xfeb00010 + 4K }"),
        ErrorKind::BadSize {
            field: "device_memory address",
            ..
        }
    ));
    assert!(matches!(
        error("component d { image = \"client\" device_memory = 0xfeb00000 + 0 }"),
        ErrorKind::BadSize {
            field: "device_memory size",
            ..
        }
    ));
}

#[test]
fn badges() {
    assert_eq!(
        error("component d { image = \"client\" caps { 16: r (W, badge: 0x10000000) } }"),
        ErrorKind::BadgeOutOfRange(1 << 28)
    );
    // The largest badge is fine.
    load(
        &format!(
            "{BASE}component d {{ image = \"client\" caps {{ 16: r (W, badge: 0xfffffff) }} }}"
        ),
        IMAGES,
    )
    .unwrap();
    assert!(matches!(
        error("component d { image = \"client\" caps { 16: r (W, badge: 1) } }"),
        ErrorKind::SharedBadge { badge: 1, ref other, .. } if other == "c"
    ));
    // Two unbadged faulters on one endpoint cannot be told apart either.
    let e = error("component d { image = \"client\" fault = f }\ncomponent e { image = \"client\" fault = f }");
    assert!(matches!(e, ErrorKind::SharedBadge { badge: 0, ref other, .. } if other == "d"));
    // The same badge on a fault endpoint collides too.
    assert!(matches!(
        error("component d { image = \"client\" pager = pager fault = f (badge: 1) }"),
        ErrorKind::SharedBadge { .. }
    ));
}

#[test]
fn rights_are_required_in_caps_and_refused_where_fixed() {
    assert!(matches!(
        error("component d { image = \"client\" caps { 16: r } }"),
        ErrorKind::MissingField(_)
    ));
    assert!(matches!(
        error("component d { image = \"client\" fault = f (RW, badge: 7) }"),
        ErrorKind::RightsNotAllowed(_)
    ));
}

#[test]
fn fault_endpoints() {
    // An endpoint nobody receives on.
    let e = error("objects { lonely = ep }\ncomponent d { image = \"client\" fault = lonely (badge: 2) caps { 16: lonely (R) } }");
    assert_eq!(
        e,
        ErrorKind::FaultNotReceived {
            object: "lonely".into()
        }
    );
    // A pager that does not receive on it.
    let e = error("component e { image = \"server\" caps { 16: r (R) } }\ncomponent d { image = \"client\" pager = e fault = f (badge: 2) }");
    assert!(matches!(e, ErrorKind::PagerNotReceiving { ref pager, .. } if pager == "e"));
    assert_eq!(
        error("component d { image = \"client\" pager = pager }"),
        ErrorKind::PagerWithoutFault
    );
    assert_eq!(
        error("component d { image = \"client\" pager = d fault = f (badge: 2) }"),
        ErrorKind::PagerIsSelf
    );
}

#[test]
fn io_ports() {
    assert!(matches!(
        error("component d { image = \"client\" io_ports = 0x10-0x8 }"),
        ErrorKind::BadIoPortRange { .. }
    ));
    assert!(matches!(
        error("component d { image = \"client\" io_ports = 0xfff0-0x10000 }"),
        ErrorKind::BadIoPortRange { .. }
    ));
    let e = errors("component d { image = \"client\" io_ports = 0xcf8-0xcff }\ncomponent e { image = \"client\" io_ports = 0x60-0x64, 0xcfc-0xcfc }");
    assert_eq!(e.len(), 1);
    assert!(
        matches!(&e[0], (p, ErrorKind::IoPortOverlap { first: 0xcfc, other, other_pos, .. })
        if other == "d" && p.line == base_lines() + 2 && other_pos.line == base_lines() + 1)
    );
    // Within one component too.
    assert!(matches!(
        error("component d { image = \"client\" io_ports = 0x60-0x64, 0x64-0x70 }"),
        ErrorKind::IoPortOverlap { .. }
    ));
}

#[test]
fn device_memory() {
    let e = error("component d { image = \"client\" device_memory = 0xfeb00000 + 8K }\ncomponent e { image = \"client\" device_memory = 0xfeb01000 + 4K }");
    assert!(matches!(
        e,
        ErrorKind::DeviceMemoryOverlap {
            paddr: 0xfeb01000,
            ..
        }
    ));
    let spec = load(
        &format!("{BASE}component d {{ image = \"client\" untyped = 1M device_memory = 0xfeb00000 + 16K, 0xfec00000 + 4K }}"),
        IMAGES,
    )
    .unwrap();
    let d = spec.component("d").unwrap();
    assert_eq!(
        d.device_memory[0].slot,
        slots::FIRST_GRANT + slots::UNTYPED_REGION
    );
    assert_eq!(d.device_memory[1].slot, d.device_memory[0].slot + 4);
    assert_eq!(d.first_free_slot, d.device_memory[1].slot + 1);
}

#[test]
fn irqs() {
    let ok = "component d { image = \"client\" irq = ioapic (pin: 4, vector: 4) -> n (badge: 2)\n irq = msi (bus: 0, dev: 4, func: 0, vector: 5) -> n (badge: 4) }";
    let spec = load(&format!("{BASE}{ok}"), IMAGES).unwrap();
    let d = spec.component("d").unwrap();
    assert_eq!(d.irqs.len(), 2);
    assert_eq!(d.irqs[1].slot, d.irqs[0].slot + 1);
    assert!(matches!(
        error("component d { image = \"client\" irq = ioapic (pin: 4, vector: 108) -> n }"),
        ErrorKind::ValueOutOfRange {
            field: "vector",
            max: 107,
            ..
        }
    ));
    assert!(matches!(
        error("component d { image = \"client\" irq = ioapic (pin: 24, vector: 1) -> n }"),
        ErrorKind::ValueOutOfRange { field: "pin", .. }
    ));
    assert!(matches!(
        error("component d { image = \"client\" irq = msi (bus: 0, dev: 32, func: 0, vector: 1) -> n }"),
        ErrorKind::ValueOutOfRange { field: "dev", .. }
    ));
    let e = error("component d { image = \"client\" irq = ioapic (pin: 4, vector: 4) -> n }\ncomponent e { image = \"client\" irq = ioapic (pin: 5, vector: 4) -> n }");
    assert!(matches!(
        e,
        ErrorKind::IrqConflict {
            what: "this irq vector",
            ..
        }
    ));
    let e = error("component d { image = \"client\" irq = ioapic (pin: 4, vector: 4) -> n\n irq = ioapic (pin: 4, vector: 5) -> n }");
    assert!(matches!(
        e,
        ErrorKind::IrqConflict {
            what: "this IOAPIC pin",
            ..
        }
    ));
    assert!(matches!(
        error("component d { image = \"client\" irq = ioapic (pin: 4, vector: 4) -> r }"),
        ErrorKind::WrongObjectType {
            expected: "notification",
            ..
        }
    ));
    let e = error("objects { quiet = notification }\ncomponent d { image = \"client\" irq = ioapic (pin: 4, vector: 4) -> quiet }");
    assert_eq!(
        e,
        ErrorKind::IrqNotReceived {
            object: "quiet".into()
        }
    );
    // A bound notification counts as receiving.
    load(
        &format!("{BASE}objects {{ q = notification }}\ncomponent d {{ image = \"client\" bound_notification = q irq = ioapic (pin: 4, vector: 4) -> q }}"),
        IMAGES,
    )
    .unwrap();
}

#[test]
fn bound_notifications() {
    let e = error("component d { image = \"client\" bound_notification = n }\ncomponent e { image = \"client\" bound_notification = n }");
    assert!(matches!(e, ErrorKind::AlreadyBound { ref other, .. } if other == "d"));
    assert!(matches!(
        error("component d { image = \"client\" bound_notification = r }"),
        ErrorKind::WrongObjectType { .. }
    ));
}

#[test]
fn cspace_too_small() {
    // 256 + 256 device frames fit a 512-slot CNode exactly; 257 do not.
    load(
        &format!("{BASE}component d {{ image = \"client\" cnode_bits = 9 device_memory = 0x100000000 + 1M }}"),
        IMAGES,
    )
    .unwrap();
    let e = error("component d { image = \"client\" cnode_bits = 9 device_memory = 0x100000000 + 1M, 0x200000000 + 4K }");
    assert_eq!(
        e,
        ErrorKind::CSpaceFull {
            component: "d".into(),
            needed: 513,
            available: 512
        }
    );
}

#[test]
fn no_components() {
    let e = load("arch x86_64 objects { a = ep }", IMAGES).unwrap_err();
    assert_eq!(e.0[0].kind, ErrorKind::NoComponents);
}

#[test]
fn all_errors_are_reported_in_order_with_positions() {
    let src = "arch x86_64\ncomponent a {\n  image = \"nope\"\n  priority = 300\n  caps { 3: x (R) }\n}\n";
    let e = load(src, IMAGES).unwrap_err();
    let got: Vec<_> = e.0.iter().map(|e| (e.pos.line, e.pos.col)).collect();
    assert_eq!(got, vec![(3, 11), (4, 14), (5, 10), (5, 13)]);
    let text = e.to_string();
    assert!(text.starts_with("3:11: unknown image \"nope\""), "{text}");
    assert_eq!(text.lines().count(), 4);
}

#[test]
fn syntax_errors_come_through_load() {
    let e = load(
        "arch x86_64\ncomponent a {\n  image = \"client\"\n  stack == 4K\n}",
        IMAGES,
    )
    .unwrap_err();
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].pos, Pos { line: 4, col: 10 });
    assert_eq!(
        e.to_string(),
        "4:10: expected a size (e.g. 64K, 16M, 0x1000), found '='"
    );
}

/// The README's examples must stay valid.
#[test]
fn readme_examples_are_valid() {
    let readme = include_str!("../README.md");
    let block = |after: &str| -> String {
        let start = readme.find(after).unwrap();
        let rest = &readme[start..];
        let open = rest.find("```\n").unwrap() + 4;
        let close = rest[open..].find("```").unwrap();
        rest[open..open + close].to_string()
    };
    let example = block("## Complete example");
    let spec = load(
        &example,
        &["vm-server", "block-server", "client-demand-zero"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.components.len(), 3);
    let disk = spec.component("disk").unwrap();
    assert_eq!(disk.device_memory[0].pages(), 4);
    // The add-a-client snippet, appended to the real spec.
    let client = block("## Adding a client program");
    let mut images = SYSTEM_IMAGES.to_vec();
    images.push("my-test");
    let src = format!("{}\n{client}", include_str!("../system.spec"));
    let spec = load(&src, &images).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.component("vm-server").unwrap().clients.len(), 23);
}

#[test]
fn frames() {
    let ok = "objects { buf = frame (16K) }\ncomponent d { image = \"client\" caps { 16: buf (RW) 20: r (W) } }\ncomponent e { image = \"client\" caps { 30: buf (R) } }";
    let spec = load(&format!("{BASE}{ok}"), IMAGES).unwrap();
    let buf = spec.object_id("buf").unwrap();
    assert_eq!(
        spec.objects[buf as usize].kind,
        capdl::ObjectKind::Frame { size: 16384 }
    );
    assert_eq!(spec.cap_slot("e", "buf"), Some(30));
    assert_eq!(capdl::decode(&capdl::encode(&spec)).unwrap(), spec);
    // Four pages from 16 reach 19: slot 19 is taken.
    let e = error("objects { buf = frame (16K) }\ncomponent d { image = \"client\" caps { 19: r (W) 16: buf (RW) } }");
    assert!(matches!(e, ErrorKind::DuplicateSlot { slot: 19, .. }));
    let e = error(
        "objects { buf = frame (16K) }\ncomponent d { image = \"client\" caps { 253: buf (RW) } }",
    );
    assert!(matches!(e, ErrorKind::SlotOutOfRange { slot: 256, .. }));
    let e = error("objects { buf = frame (16K) }\ncomponent d { image = \"client\" caps { 16: buf (RW, badge: 3) } }");
    assert!(matches!(e, ErrorKind::BadgeNotAllowed { .. }));
    let e = error(
        "objects { buf = frame (16K) }\ncomponent d { image = \"client\" caps { 16: buf (RWG) } }",
    );
    assert!(matches!(e, ErrorKind::FrameRights { .. }));
    let e = error("objects { buf = frame (5000) }");
    assert!(matches!(
        e,
        ErrorKind::BadSize {
            field: "frame size",
            ..
        }
    ));
    let e = error("objects { buf = frame (1M) }");
    assert!(matches!(
        e,
        ErrorKind::BadSize {
            reason: "is too large",
            ..
        }
    ));
    let e = error("objects { buf = frame (4K) }\ncomponent d { image = \"client\" fault = buf }");
    assert!(matches!(
        e,
        ErrorKind::WrongObjectType { found: "frame", .. }
    ));
}

#[test]
fn compact_form_limits() {
    let long = "x".repeat(1025);
    let e = error(&format!("component {long} {{ image = \"client\" }}"));
    assert!(matches!(
        e,
        ErrorKind::TooMany {
            what: "bytes in a name",
            ..
        }
    ));
}
