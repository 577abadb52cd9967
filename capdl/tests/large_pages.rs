//! A pager's `large_pages = N` and `transparent_large_pages`: parsed,
//! checked (only a pager's, at least one, within its untyped grant less
//! room for its pool; transparency only beside large pages), carried by
//! the compact form (version 9) and the text.

use capdl::{decode, encode, load, ErrorKind, Spec};

const IMAGES: &[&str] = &["server", "client"];

/// A pager with `untyped` bytes and `pager_body` in its block, and one
/// paged client with `client_body` in its.
fn spec_text(untyped: &str, pager_body: &str, client_body: &str) -> String {
    format!(
        "arch x86_64\nobjects {{ f = ep }}\ncomponent pager {{\n    image = \"server\"\n    untyped = {untyped}\n    caps {{ 16: f (R) }}\n{pager_body}\n}}\ncomponent c1 {{\n    image = \"client\"\n    pager = pager\n    fault = f (badge: 1)\n{client_body}\n}}\n"
    )
}

fn load_ok(src: &str) -> Spec {
    load(src, IMAGES).unwrap_or_else(|e| panic!("{e}\n---\n{src}"))
}

fn kinds(src: &str) -> Vec<ErrorKind> {
    load(src, IMAGES)
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

#[test]
fn a_pagers_large_pages_round_trip() {
    let spec = load_ok(&spec_text("24M", "    large_pages = 10", ""));
    assert_eq!(spec.component("pager").unwrap().large_pages, Some(10));
    assert_eq!(spec.component("c1").unwrap().large_pages, None);
    assert_eq!(decode(&encode(&spec)).unwrap(), spec);
    assert!(capdl::text::to_text(&spec).contains("    large_pages = 10\n"));
    let plain = load_ok(&spec_text("24M", "", ""));
    assert_eq!(plain.component("pager").unwrap().large_pages, None);
}

#[test]
fn large_pages_must_fit_the_untyped_grant() {
    // 24M less 4M for the pool: ten 2 MiB pages at most.
    let e = kinds(&spec_text("24M", "    large_pages = 11", ""));
    assert!(
        matches!(
            e.as_slice(),
            [ErrorKind::ValueOutOfRange {
                value: 11,
                max: 10,
                ..
            }]
        ),
        "{e:?}"
    );
    let e = kinds(&spec_text("24M", "    large_pages = 0", ""));
    assert!(
        matches!(e.as_slice(), [ErrorKind::ValueOutOfRange { value: 0, .. }]),
        "{e:?}"
    );
    let e = kinds(&spec_text("24M", "", "    large_pages = 1"));
    assert!(
        e.contains(&ErrorKind::NotAPager {
            field: "large_pages"
        }),
        "{e:?}"
    );
}

#[test]
fn transparent_large_pages_round_trip_and_need_large_pages() {
    let body = "    large_pages = 4\n    transparent_large_pages";
    let spec = load_ok(&spec_text("24M", body, ""));
    let pager = spec.component("pager").unwrap();
    assert!(pager.transparent_large_pages);
    assert!(!spec.component("c1").unwrap().transparent_large_pages);
    assert_eq!(decode(&encode(&spec)).unwrap(), spec);
    let text = capdl::text::to_text(&spec);
    assert!(text.contains("    transparent_large_pages\n"), "{text}");
    assert_eq!(load_ok(&text), spec);
    let e = kinds(&spec_text("24M", "    transparent_large_pages", ""));
    assert!(
        e.contains(&ErrorKind::NeedsField {
            field: "transparent_large_pages",
            needs: "large_pages = N",
        }),
        "{e:?}"
    );
}
