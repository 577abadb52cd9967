//! Quotas and name groups in the spec: `limits { }` in a paged client,
//! `limits default { }` at the top level, `names = GROUP`; how the
//! effective limits are resolved, every mistake, and the compact form.

use capdl::{defaults, load, ErrorKind, LimitField, Limits, Pos, Spec, MAX_PAGER_CLIENTS};

mod common;

const IMAGES: &[&str] = &["server", "client"];

/// A pager and `n` paged clients `c1`..; `body(i)` is added to client i's block.
fn spec_text(top: &str, n: usize, body: impl Fn(usize) -> String) -> String {
    let mut s = format!(
        "arch x86_64\nobjects {{ f = ep }}\n{top}\ncomponent pager {{\n    image = \"server\"\n    caps {{ 16: f (R) }}\n}}\n"
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

/// The one error of a client whose block has `body`.
fn client_error(body: &str) -> ErrorKind {
    let mut e = errors(&spec_text("", 1, |_| body.to_string()));
    assert_eq!(e.len(), 1, "{e:?}");
    e.pop().unwrap().1
}

fn limits_of(spec: &Spec, name: &str) -> Limits {
    spec.component(name).unwrap().limits.unwrap()
}

#[test]
fn paged_clients_get_the_built_in_defaults() {
    let spec = load_ok(&spec_text("", 2, |_| String::new()));
    assert_eq!(limits_of(&spec, "c1"), defaults::LIMITS);
    assert_eq!(limits_of(&spec, "c2"), Limits::default());
    // Not a paged client: no limits at all.
    assert_eq!(spec.component("pager").unwrap().limits, None);
    let d = defaults::LIMITS;
    assert_eq!(d.resident_pages, Limits::UNLIMITED);
    assert_eq!(d.swap_slots, Limits::UNLIMITED);
    assert_eq!(d.wired_pages, (4 << 20) / 4096);
    assert_eq!(
        (d.map_entries, d.handles, d.page_tables, d.children),
        (1024, 256, 256, 16)
    );
}

#[test]
fn own_field_then_spec_default_then_built_in() {
    let top = "limits default {\n    resident = 32M\n    handles = 100\n    swap = 1G\n}";
    let spec = load_ok(&spec_text(top, 2, |i| {
        if i == 1 {
            "    limits { resident = 16M  children = 4  swap = unlimited }".into()
        } else {
            String::new()
        }
    }));
    let c1 = limits_of(&spec, "c1");
    assert_eq!(c1.resident_pages, 4096, "its own field");
    assert_eq!(c1.children, 4, "its own field");
    assert_eq!(c1.swap_slots, Limits::UNLIMITED, "its own `unlimited`");
    assert_eq!(c1.handles, 100, "the spec's default");
    assert_eq!(c1.map_entries, defaults::LIMITS.map_entries, "built in");
    let c2 = limits_of(&spec, "c2");
    assert_eq!(
        (c2.resident_pages, c2.handles, c2.swap_slots),
        (8192, 100, 262144)
    );
    assert_eq!(c2.children, defaults::LIMITS.children);
}

#[test]
fn every_field_parses_in_its_unit() {
    let body = "    limits {\n        resident = 0x10_0000\n        wired = 64K\n        swap = 4G\n        map_entries = 500\n        handles = 0x20\n        page_tables = 9\n        children = unlimited\n    }";
    let spec = load_ok(&spec_text("", 1, |_| body.into()));
    let l = limits_of(&spec, "c1");
    let want = [256, 16, 1 << 20, 500, 32, 9, Limits::UNLIMITED];
    for (f, w) in LimitField::ALL.into_iter().zip(want) {
        assert_eq!(l.get(f), w, "{}", f.keyword());
    }
    // The largest finite values.
    let max = u32::MAX as u64 - 1;
    let body = format!(
        "    limits {{ handles = {max} resident = {:#x} }}",
        max * 4096
    );
    let l = limits_of(&load_ok(&spec_text("", 1, |_| body.clone())), "c1");
    assert_eq!((l.handles, l.resident_pages), (u32::MAX - 1, u32::MAX - 1));
}

#[test]
fn unknown_and_duplicate_fields() {
    let e = client_error("    limits { handels = 3 }");
    assert!(
        matches!(&e, ErrorKind::UnknownKeyword { word, context: "limits", .. } if word == "handels")
    );
    assert_eq!(
        e.to_string(),
        "unknown keyword \"handels\" in limits; did you mean `handles`?"
    );
    assert_eq!(
        client_error("    limits { resident = 16M resident = 8M }"),
        ErrorKind::DuplicateField("resident")
    );
    assert_eq!(
        client_error("    limits { handles = 3 }\n    limits { children = 3 }"),
        ErrorKind::DuplicateField("limits")
    );
    assert_eq!(
        client_error("    names = a\n    names = b"),
        ErrorKind::DuplicateField("names")
    );
}

#[test]
fn bad_values() {
    assert!(matches!(
        client_error("    limits { resident = 6000 }"),
        ErrorKind::BadSize {
            field: "resident",
            value: 6000,
            reason: "must be a multiple of 4K"
        }
    ));
    assert!(matches!(
        client_error("    limits { swap = 0 }"),
        ErrorKind::BadSize {
            field: "swap",
            reason: "must not be zero",
            ..
        }
    ));
    assert!(matches!(
        client_error("    limits { wired = 0x1000000000000 }"),
        ErrorKind::BadSize {
            field: "wired",
            reason: "is too large",
            ..
        }
    ));
    assert!(matches!(
        client_error("    limits { children = 0 }"),
        ErrorKind::ValueOutOfRange {
            field: "children",
            value: 0,
            min: 1,
            ..
        }
    ));
    assert!(matches!(
        client_error("    limits { map_entries = 4294967295 }"),
        ErrorKind::ValueOutOfRange {
            field: "map_entries",
            max: 4294967294,
            ..
        }
    ));
    // Counts are not sizes, and words other than `unlimited` are not values.
    assert_eq!(
        client_error("    limits { handles = 1K }"),
        ErrorKind::SuffixNotAllowed
    );
    assert!(matches!(
        client_error("    limits { handles = lots }"),
        ErrorKind::Expected {
            expected: "a number or `unlimited`",
            ..
        }
    ));
    assert!(matches!(
        client_error("    limits { resident = all }"),
        ErrorKind::Expected {
            expected: "a size (e.g. 16M) or `unlimited`",
            ..
        }
    ));
    // Every bad value is reported, not just the first.
    let e = errors(&spec_text("", 1, |_| {
        "    limits { resident = 1 handles = 0 }".into()
    }));
    assert_eq!(e.len(), 2, "{e:?}");
}

#[test]
fn limits_and_names_need_a_pager() {
    let src = spec_text("", 1, |_| String::new()).replace(
        "    caps { 16: f (R) }\n",
        "    caps { 16: f (R) }\n    limits { handles = 8 }\n    names = shared\n",
    );
    let e = errors(&src);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0].0, Pos { line: 7, col: 5 });
    assert_eq!(e[0].1, ErrorKind::NotPaged { field: "limits" });
    assert_eq!(e[1].0, Pos { line: 8, col: 13 });
    assert_eq!(e[1].1, ErrorKind::NotPaged { field: "names" });
    assert_eq!(
        e[0].1.to_string(),
        "`limits` applies only to paged clients, and this component has no `pager`"
    );
}

#[test]
fn one_limits_default_at_most() {
    let top = "limits default { handles = 5 }\nlimits default { children = 5 }";
    let e = errors(&spec_text(top, 1, |_| String::new()));
    assert_eq!(
        e,
        vec![(
            Pos { line: 4, col: 1 },
            ErrorKind::DuplicateField("limits default")
        )]
    );
    // Its fields are checked like a component's.
    let e = errors(&spec_text("limits default { swap = 100 }", 1, |_| {
        String::new()
    }));
    assert!(matches!(e[0].1, ErrorKind::BadSize { field: "swap", .. }));
    // A top-level `limits` must be the default.
    let e = errors(&spec_text("limits c1 { swap = 4K }", 1, |_| String::new()));
    assert!(matches!(e[0].1, ErrorKind::Expected { .. }));
    assert_eq!(e[0].0, Pos { line: 3, col: 8 });
}

#[test]
fn name_groups_are_numbered() {
    let spec = load_ok(&spec_text("", 5, |i| match i {
        1 | 4 => "    names = team".into(),
        3 => "    names = other".into(),
        _ => String::new(),
    }));
    assert_eq!(
        spec.component("c1").unwrap().name_group.as_deref(),
        Some("team")
    );
    assert_eq!(spec.component("c2").unwrap().name_group, None);
    // pager, c1..c5: the named groups first (team 1, other 2), then one
    // number per component in a group of its own.
    assert_eq!(spec.name_groups(), vec![3, 1, 4, 2, 1, 5]);
}

#[test]
fn compact_and_text_carry_limits_and_groups() {
    let top = "limits default { resident = 32M }";
    let spec = load_ok(&spec_text(top, 3, |i| match i {
        1 => "    names = team\n    limits { children = 2 }".into(),
        2 => "    names = team".into(),
        _ => String::new(),
    }));
    let back = capdl::decode(&capdl::encode(&spec)).unwrap();
    assert_eq!(back, spec);
    assert_eq!(limits_of(&back, "c1").children, 2);
    assert_eq!(limits_of(&back, "c3").resident_pages, 8192);
    let text = capdl::text::to_text(&spec);
    assert!(text.contains("    names = team\n"), "{text}");
    assert!(text.contains("        resident = 0x2000000\n"), "{text}");
    assert!(text.contains("        swap = unlimited\n"), "{text}");
    assert_eq!(load_ok(&text), spec);
}

#[test]
fn decoder_refuses_limits_it_cannot_have() {
    let mut spec = load_ok(&spec_text("", 1, |_| "    names = g".into()));
    let pager = spec.component_id("pager").unwrap() as usize;
    let client = spec.component_id("c1").unwrap() as usize;
    let check = |spec: &Spec, what: &'static str| {
        let e = capdl::decode(&capdl::encode(spec)).unwrap_err();
        assert_eq!(e.kind, capdl::DecodeErrorKind::BadValue(what), "{e}");
    };
    // Limits or a group on a component without a pager.
    let mut s = spec.clone();
    s.components[pager].limits = Some(Limits::default());
    check(&s, "limits of a component without a pager");
    let mut s = spec.clone();
    s.components[pager].name_group = Some("g".into());
    check(&s, "name group of a component without a pager");
    // A zero limit, an empty group name.
    let mut s = spec.clone();
    s.components[client].limits.as_mut().unwrap().handles = 0;
    check(&s, "limit");
    spec.components[client].name_group = Some(String::new());
    check(&spec, "name group");
}

#[test]
fn a_pager_holds_at_most_the_pager_info_page() {
    load_ok(&spec_text("", MAX_PAGER_CLIENTS, |_| String::new()));
    let e = errors(&spec_text("", MAX_PAGER_CLIENTS + 1, |_| String::new()));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        e[0].1,
        ErrorKind::TooMany {
            what: "clients of one pager",
            max: MAX_PAGER_CLIENTS as u64
        }
    );
}

/// `capdl/system.spec` shows the syntax with the built-in values: its
/// `limits default` must say exactly what the built-in defaults are.
#[test]
fn system_spec_default_block_is_the_built_in_one() {
    let src = include_str!("../system.spec");
    let ast = capdl::parse(src).unwrap();
    assert_eq!(ast.default_limits.len(), 1);
    let spec = load(src, common::IMAGES).unwrap();
    for c in spec.components.iter().filter(|c| c.pager.is_some()) {
        let own = ast
            .components
            .iter()
            .find(|d| d.name.value == c.name)
            .and_then(|d| d.limits.as_ref());
        if own.is_none() {
            assert_eq!(c.limits, Some(defaults::LIMITS), "{}", c.name);
        }
    }
}

/// The README's quota example, in the real spec in place of its own
/// `limits default`.
#[test]
fn readme_quota_example_is_valid() {
    let readme = include_str!("../README.md");
    let start = readme.find("### Quotas").unwrap();
    let rest = &readme[start..];
    let open = rest.find("```\n").unwrap() + 4;
    let close = rest[open..].find("```").unwrap();
    let example = &rest[open..open + close];
    let system = include_str!("../system.spec");
    let from = system.find("limits default {").unwrap();
    let to = from + system[from..].find("}\n").unwrap() + 2;
    let src = format!("{}{}\n{example}", &system[..from], &system[to..]);
    let mut images = common::IMAGES.to_vec();
    images.push("client-small");
    let spec = load(&src, &images).unwrap_or_else(|e| panic!("{e}"));
    let l = limits_of(&spec, "client-small");
    assert_eq!(
        (l.resident_pages, l.swap_slots, l.children, l.handles),
        (2048, Limits::UNLIMITED, 2, 256)
    );
    // Everyone else takes the example's default for handles.
    assert_eq!(limits_of(&spec, "client-mprotect").handles, 256);
}
