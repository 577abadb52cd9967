//! Privileges in the spec: `privileges { swapctl observe }` in a paged client, the errors (unknown or repeated names, a component without a pager), and how the compact form and the text carry them.

use capdl::{load, ErrorKind, Pos, Privilege, Privileges, Spec};

mod common;

const IMAGES: &[&str] = &["server", "client"];

/// A pager and `n` paged clients `c1`..; `body(i)` is added to client i's block.
fn spec_text(n: usize, body: impl Fn(usize) -> String) -> String {
    let mut s = String::from(
        "arch x86_64\nobjects { f = ep }\ncomponent pager {\n    image = \"server\"\n    caps { 16: f (R) }\n}\n",
    );
    for i in 1..=n {
        s.push_str(&format!(
            "component c{i} {{\n    image = \"client\"\n    pager = pager\n    fault = f (badge: {i})\n{}\n}}\n",
            body(i)
        ));
    }
    s
}

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

fn privileges_of(spec: &Spec, name: &str) -> Privileges {
    spec.component(name).unwrap().privileges
}

#[test]
fn granted_to_the_clients_that_say_so() {
    let spec = load_ok(&spec_text(3, |i| match i {
        1 => "    privileges { swapctl }".into(),
        2 => "    privileges { }".into(),
        _ => String::new(),
    }));
    let p = privileges_of(&spec, "c1");
    assert!(p.contains(Privilege::Swapctl));
    assert_eq!(p, Privileges::NONE.with(Privilege::Swapctl));
    assert_eq!(p.0, 1, "the bit the pager-info page carries");
    assert_eq!(p.iter().collect::<Vec<_>>(), vec![Privilege::Swapctl]);
    assert!(privileges_of(&spec, "c2").is_empty(), "an empty block");
    assert!(privileges_of(&spec, "c3").is_empty(), "none by default");
    assert!(privileges_of(&spec, "pager").is_empty());
    assert_eq!(Privileges::KNOWN, 0b11);
}

/// `observe` is bit 1, on its own or beside `swapctl`, in either order.
#[test]
fn observe_is_a_privilege_of_its_own() {
    let spec = load_ok(&spec_text(3, |i| match i {
        1 => "    privileges { observe }".into(),
        2 => "    privileges { observe swapctl }".into(),
        _ => String::new(),
    }));
    let p = privileges_of(&spec, "c1");
    assert_eq!(p.0, 2, "the bit the pager-info page carries");
    assert!(p.contains(Privilege::Observe) && !p.contains(Privilege::Swapctl));
    let both = privileges_of(&spec, "c2");
    assert_eq!(both.0, 3);
    assert_eq!(
        both.iter().collect::<Vec<_>>(),
        vec![Privilege::Swapctl, Privilege::Observe],
        "in `Privilege::ALL` order"
    );
    assert!(privileges_of(&spec, "c3").is_empty());
    let back = capdl::decode(&capdl::encode(&spec)).unwrap();
    assert_eq!(back, spec);
    let text = capdl::text::to_text(&spec);
    assert!(text.contains("    privileges { observe }\n"), "{text}");
    assert!(
        text.contains("    privileges { swapctl observe }\n"),
        "{text}"
    );
    assert_eq!(load_ok(&text), spec);
    let e = errors(&spec_text(1, |_| {
        "    privileges { observe observe }".into()
    }));
    assert_eq!(
        e,
        vec![(
            Pos { line: 11, col: 26 },
            ErrorKind::DuplicateField("observe")
        )]
    );
}

#[test]
fn unknown_and_repeated_names_are_errors_with_positions() {
    let e = errors(&spec_text(1, |_| "    privileges { swapcl }".into()));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, Pos { line: 11, col: 18 });
    assert!(
        matches!(&e[0].1, ErrorKind::UnknownKeyword { word, context: "privileges", .. } if word == "swapcl")
    );
    assert_eq!(
        e[0].1.to_string(),
        "unknown keyword \"swapcl\" in privileges; did you mean `swapctl`?"
    );
    let e = errors(&spec_text(1, |_| "    privileges { root }".into()));
    assert_eq!(
        e[0].1.to_string(),
        "unknown keyword \"root\" in privileges (expected one of: swapctl, observe)"
    );
    let e = errors(&spec_text(1, |_| {
        "    privileges { swapctl swapctl }".into()
    }));
    assert_eq!(
        e,
        vec![(
            Pos { line: 11, col: 26 },
            ErrorKind::DuplicateField("swapctl")
        )]
    );
    let e = errors(&spec_text(1, |_| {
        "    privileges { swapctl }\n    privileges { }".into()
    }));
    assert_eq!(
        e,
        vec![(
            Pos { line: 12, col: 5 },
            ErrorKind::DuplicateField("privileges")
        )]
    );
    // Not a word: a syntax error at the number.
    let e = errors(&spec_text(1, |_| "    privileges { 3 }".into()));
    assert!(matches!(e[0].1, ErrorKind::Expected { .. }), "{e:?}");
    assert_eq!(e[0].0, Pos { line: 11, col: 18 });
}

#[test]
fn privileges_need_a_pager() {
    let src = spec_text(1, |_| String::new()).replace(
        "    caps { 16: f (R) }\n",
        "    caps { 16: f (R) }\n    privileges { swapctl }\n",
    );
    let e = errors(&src);
    assert_eq!(
        e,
        vec![(
            Pos { line: 6, col: 5 },
            ErrorKind::NotPaged {
                field: "privileges"
            }
        )]
    );
    assert_eq!(
        e[0].1.to_string(),
        "`privileges` applies only to paged clients, and this component has no `pager`"
    );
}

#[test]
fn compact_form_and_text_carry_them() {
    let spec = load_ok(&spec_text(2, |i| {
        if i == 1 {
            "    names = team\n    privileges { swapctl }".into()
        } else {
            String::new()
        }
    }));
    let blob = capdl::encode(&spec);
    let back = capdl::decode(&blob).unwrap();
    assert_eq!(back, spec);
    assert!(privileges_of(&back, "c1").contains(Privilege::Swapctl));
    assert!(privileges_of(&back, "c2").is_empty());
    // One byte more per component (the second flags byte), two more for
    // the privileged client's bits.
    let plain = load_ok(&spec_text(2, |i| {
        if i == 1 {
            "    names = team".into()
        } else {
            String::new()
        }
    }));
    assert_eq!(blob.len(), capdl::encode(&plain).len() + 2);
    let text = capdl::text::to_text(&spec);
    assert!(text.contains("    privileges { swapctl }\n"), "{text}");
    assert!(!text.contains("privileges { }"), "{text}");
    assert_eq!(load_ok(&text), spec);
}

#[test]
fn decoder_refuses_privileges_it_cannot_have() {
    let spec = load_ok(&spec_text(1, |_| "    privileges { swapctl }".into()));
    let pager = spec.component_id("pager").unwrap() as usize;
    let client = spec.component_id("c1").unwrap() as usize;
    let check = |spec: &Spec, what: &'static str| {
        let e = capdl::decode(&capdl::encode(spec)).unwrap_err();
        assert_eq!(e.kind, capdl::DecodeErrorKind::BadValue(what), "{e}");
    };
    let mut s = spec.clone();
    s.components[pager].privileges = Privileges::NONE.with(Privilege::Swapctl);
    check(&s, "privileges of a component without a pager");
    let mut s = spec.clone();
    s.components[client].privileges = Privileges(0x8001);
    check(&s, "privileges");
    s.components[client].privileges = Privileges(0b100);
    check(&s, "privileges");
}

/// A set bit of the second flags byte that means nothing is refused.
#[test]
fn decoder_refuses_reserved_flags() {
    let spec = Spec {
        objects: vec![],
        components: vec![capdl::Component {
            name: "a".into(),
            image: "b".into(),
            priority: 1,
            max_priority: 0,
            stack_size: 4096,
            cnode_bits: 12,
            fault: None,
            pager: None,
            bound_notification: None,
            asid_pool: false,
            awaited: false,
            image_from_files: false,
            pageout_policy: None,
            trace_ring: None,
            large_pages: None,
            transparent_large_pages: false,
            caps: vec![],
            untyped: None,
            io_ports: vec![],
            irqs: vec![],
            device_memory: vec![],
            clients: vec![],
            limits: None,
            name_group: None,
            privileges: Privileges::NONE,
            devices: vec![],
            device_regions: vec![],
            first_free_slot: 256,
        }],
    };
    let mut blob = capdl::encode(&spec);
    assert_eq!(capdl::decode(&blob).unwrap(), spec);
    // Objects (count), components (count), name, image, priority,
    // max_priority, stack, cnode_bits, flags: then the second flags byte.
    let at = capdl::compact::HEADER_LEN + 2 + 2 + 3 + 3 + 1 + 1 + 8 + 1 + 1;
    assert_eq!(blob[at], 0);
    blob[at] = 128; // bits 1 to 6: devices, device regions, image_from_files, pageout_policy, trace_ring, large_pages
    let body = capdl::compact::checksum(&blob[capdl::compact::HEADER_LEN..]);
    blob[16..20].copy_from_slice(&body.to_le_bytes());
    let e = capdl::decode(&blob).unwrap_err();
    assert_eq!(e.kind, capdl::DecodeErrorKind::BadValue("reserved flag"));
}

/// `vm-findings.spec` grants `swapctl` to `client-swapctl` alone, and
/// `system.spec` grants only `observe`, to `vmstat` alone (its
/// `client-bad-requests` checks both refusals).
#[test]
fn the_specs_grant_privileges_to_their_tests_only() {
    let granted = |spec: &Spec, p: Privilege| -> Vec<String> {
        spec.components
            .iter()
            .filter(|c| c.privileges.contains(p))
            .map(|c| c.name.clone())
            .collect()
    };
    let findings = load(include_str!("../vm-findings.spec"), common::IMAGES).unwrap();
    assert_eq!(granted(&findings, Privilege::Swapctl), ["client-swapctl"]);
    assert!(granted(&findings, Privilege::Observe).is_empty());
    let system = load(include_str!("../system.spec"), common::IMAGES).unwrap();
    assert!(granted(&system, Privilege::Swapctl).is_empty());
    assert_eq!(granted(&system, Privilege::Observe), ["vmstat"]);
    let vmstat = system.component("vmstat").unwrap();
    assert_eq!(vmstat.privileges, Privileges::NONE.with(Privilege::Observe));
}
