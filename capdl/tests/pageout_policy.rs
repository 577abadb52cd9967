//! A pager's `pageout_policy = NAME` and `trace_ring = N`: parsed, checked (only a pager, a name the pager-info page holds, a ring size in bounds), carried by the compact form and the text, and overridden by `Spec::set_pageout_policy` and `Spec::set_trace_ring`.

use capdl::{decode, encode, load, ErrorKind, Spec};

const IMAGES: &[&str] = &["server", "client"];

/// A pager with `pager_body` in its block and one paged client with
/// `client_body` in its.
fn spec_text(pager_body: &str, client_body: &str) -> String {
    format!(
        "arch x86_64\nobjects {{ f = ep }}\ncomponent pager {{\n    image = \"server\"\n    caps {{ 16: f (R) }}\n{pager_body}\n}}\ncomponent c1 {{\n    image = \"client\"\n    pager = pager\n    fault = f (badge: 1)\n{client_body}\n}}\n"
    )
}

fn load_ok(src: &str) -> Spec {
    load(src, IMAGES).unwrap_or_else(|e| panic!("{e}\n---\n{src}"))
}

#[test]
fn a_pager_names_its_policy_and_the_compact_form_and_text_keep_it() {
    let spec = load_ok(&spec_text("    pageout_policy = \"clock-pro\"", ""));
    let pager = spec.component("pager").unwrap();
    assert_eq!(pager.pageout_policy.as_deref(), Some("clock-pro"));
    assert_eq!(spec.component("c1").unwrap().pageout_policy, None);
    let back = decode(&encode(&spec)).unwrap();
    assert_eq!(back, spec);
    assert!(capdl::text::to_text(&spec).contains("    pageout_policy = \"clock-pro\"\n"));
    // Without the field the pager chooses (its default).
    let plain = load_ok(&spec_text("", ""));
    assert_eq!(plain.component("pager").unwrap().pageout_policy, None);
}

#[test]
fn only_a_pager_has_a_policy_and_its_name_fits() {
    let e = load(&spec_text("", "    pageout_policy = \"fifo\""), IMAGES).unwrap_err();
    let kinds: Vec<ErrorKind> = e.0.into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [ErrorKind::NotAPager {
            field: "pageout_policy"
        }]
    );
    let long = format!("    pageout_policy = \"{}\"", "x".repeat(24));
    let e = load(&spec_text(&long, ""), IMAGES).unwrap_err();
    assert!(
        matches!(e.0[0].kind, ErrorKind::ValueOutOfRange { value: 24, .. }),
        "{e}"
    );
    let twice = "    pageout_policy = \"fifo\"\n    pageout_policy = \"2q\"";
    let e = load(&spec_text(twice, ""), IMAGES).unwrap_err();
    assert_eq!(e.0[0].kind, ErrorKind::DuplicateField("pageout_policy"));
}

#[test]
fn the_host_tool_overrides_every_pagers_policy() {
    let mut spec = load_ok(&spec_text("    pageout_policy = \"fifo\"", ""));
    spec.set_pageout_policy("s3-fifo").unwrap();
    assert_eq!(
        spec.component("pager").unwrap().pageout_policy.as_deref(),
        Some("s3-fifo")
    );
    assert_eq!(spec.component("c1").unwrap().pageout_policy, None);
    assert!(spec.set_pageout_policy("").is_err());
    assert!(spec.set_pageout_policy(&"y".repeat(24)).is_err());
    assert_eq!(
        spec.component("pager").unwrap().pageout_policy.as_deref(),
        Some("s3-fifo"),
        "a refused name changes nothing"
    );
}

/// A pager's `trace_ring = N` (compact version 7): parsed, checked (a
/// pager's, 1..=MAX_TRACE_RING), carried by the compact form and the text,
/// and set for every pager by `Spec::set_trace_ring`; off by default.
#[test]
fn trace_ring_is_a_pagers_and_round_trips() {
    const { assert!(capdl::compact::VERSION >= 7) };
    let spec = load_ok(&spec_text("    trace_ring = 4096", ""));
    assert_eq!(spec.component("pager").unwrap().trace_ring, Some(4096));
    assert_eq!(decode(&encode(&spec)).unwrap(), spec);
    assert!(capdl::text::to_text(&spec).contains("    trace_ring = 4096\n"));
    let mut plain = load_ok(&spec_text("", ""));
    assert_eq!(plain.component("pager").unwrap().trace_ring, None);
    plain.set_trace_ring(16).unwrap();
    assert_eq!(plain.component("pager").unwrap().trace_ring, Some(16));
    assert_eq!(plain.component("c1").unwrap().trace_ring, None);
    assert!(plain.set_trace_ring(0).is_err());
    assert!(plain.set_trace_ring(capdl::MAX_TRACE_RING + 1).is_err());
    assert!(load(&spec_text("", "    trace_ring = 8"), IMAGES).is_err());
    assert!(load(&spec_text("    trace_ring = 0", ""), IMAGES).is_err());
}
