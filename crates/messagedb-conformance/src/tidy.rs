//! A tidy test: every public case in the area modules is expanded by [`store_conformance_tests!`],
//! and the macro lists nothing that is not a case.
//!
//! A case that is written but not listed in the macro compiles, passes `cargo test` and never runs
//! on any backend; this test turns that into a failure that names the function. It reads the
//! crate's own sources, so it needs no list of its own to keep up to date.
//!
//! A case is a `pub async fn` at the start of a line, in a module declared `pub mod` in `lib.rs`,
//! whose only parameter is an `Arc<dyn Store>` (the shape the macro calls). Helpers in `support.rs`
//! take `&dyn Store`, and indented `pub async fn`s are methods, so neither counts.

use std::collections::BTreeSet;
use std::path::Path;

/// `(area, case)` pairs.
type Cases = BTreeSet<(String, String)>;

fn source(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The modules `lib.rs` declares public.
fn areas(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|line| line.strip_prefix("pub mod "))
        .filter_map(|rest| rest.strip_suffix(';'))
        .map(str::to_owned)
        .collect()
}

/// The cases defined in one area's source.
fn defined_in(area: &str, text: &str) -> Cases {
    let mut cases = Cases::new();
    for (start, _) in text.match_indices("pub async fn ") {
        if start > 0 && !text[..start].ends_with('\n') {
            continue;
        }
        // The signature up to the body, which rustfmt may have wrapped over several lines.
        let signature = &text[start + "pub async fn ".len()..];
        let signature = &signature[..signature.find('{').unwrap_or(signature.len())];
        let Some((name, params)) = signature.split_once('(') else {
            continue;
        };
        let params: String = params.split_whitespace().collect();
        if params.trim_end_matches(')').trim_end_matches(',') == "store:Arc<dynStore>" {
            cases.insert((area.to_owned(), name.trim().to_owned()));
        }
    }
    cases
}

/// The `area { case, … }` lists inside the macro's first arm.
fn registered(lib: &str) -> Cases {
    let start = lib
        .find("store_conformance_tests!(@expand $factory;")
        .expect("the macro's first arm expands its case list");
    let list = &lib[start..];
    let list = &list[list.find(';').unwrap() + 1..list.find(");").unwrap()];
    let mut cases = Cases::new();
    let mut rest = list;
    while let Some(open) = rest.find('{') {
        let area = rest[..open].trim().to_owned();
        let close = open + rest[open..].find('}').expect("each area's list is closed");
        for case in rest[open + 1..close].split(',') {
            let case = case.trim();
            if !case.is_empty() {
                cases.insert((area.clone(), case.to_owned()));
            }
        }
        rest = &rest[close + 1..];
    }
    cases
}

#[test]
fn every_case_is_registered_in_the_macro_and_nothing_else_is() {
    let lib = source("lib.rs");
    let defined: Cases = areas(&lib)
        .iter()
        .flat_map(|area| defined_in(area, &source(&format!("{area}.rs"))))
        .collect();
    let registered = registered(&lib);
    assert!(defined.len() > 40, "found only {} cases", defined.len());
    let missing: Vec<String> = defined
        .difference(&registered)
        .map(|(area, case)| format!("{area}::{case}"))
        .collect();
    assert!(
        missing.is_empty(),
        "conformance cases not listed in store_conformance_tests! (they never run): {}",
        missing.join(", ")
    );
    let unknown: Vec<String> = registered
        .difference(&defined)
        .map(|(area, case)| format!("{area}::{case}"))
        .collect();
    assert!(
        unknown.is_empty(),
        "store_conformance_tests! lists what is not a case (`pub async fn name(store: Arc<dyn Store>)` in that area's file): {}",
        unknown.join(", ")
    );
}

#[test]
fn the_scanner_sees_unregistered_and_wrapped_cases() {
    // The test above can only fail if the scanner sees cases; check it on a made-up area.
    let text = "pub async fn listed(store: Arc<dyn Store>) {}\n\
                pub async fn a_long_one_wrapped_by_rustfmt(\n    store: Arc<dyn Store>,\n) {\n}\n\
                pub async fn helper(store: &dyn Store) {}\n    pub async fn method(&self) {}\n";
    let found: Vec<String> = defined_in("area", text)
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    assert_eq!(found, ["a_long_one_wrapped_by_rustfmt", "listed"]);
    let lib =
        "store_conformance_tests!(@expand $factory;\n  area {\n listed,\n }\n other { x }\n);";
    let listed: Vec<String> = registered(lib)
        .into_iter()
        .map(|(a, c)| format!("{a}::{c}"))
        .collect();
    assert_eq!(listed, ["area::listed", "other::x"]);
}
