//! Code invariants checked by `cargo test`: the dependency direction between the crates
//! and the absence of I/O in `oci-spec-types`.

#![cfg(test)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::project_root;

/// The tier of each library crate: a crate may depend (normally or at build time) only
/// on crates of a lower tier, never on one of its own tier or above.
const TIERS: [(&str, u8); 8] = [
    ("oci-spec-types", 0),
    ("oci-digest", 1),
    ("oci-naming", 1),
    ("oci-layer", 2),
    ("oci-sign", 2),
    ("oci-registry", 2),
    ("oci-image", 3),
    ("oci-cli", 4),
];

fn tier(name: &str) -> Option<u8> {
    TIERS.iter().find(|(n, _)| *n == name).map(|&(_, t)| t)
}

/// The unpublished test helpers: outside the tiers, a dev-dependency only. Nothing depends
/// on it normally or at build time, and no crate it depends on uses it even in tests (that
/// would compile a second copy of the crate under test, whose types do not match).
const TEST_SUPPORT: &str = "oci-test-support";

/// Every (from, to, kind) edge between workspace crates, read from `cargo metadata`.
fn workspace_edges() -> Vec<(String, String, String)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(project_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let mut edges = Vec::new();
    for package in meta["packages"].as_array().expect("packages") {
        let from = package["name"].as_str().expect("package name").to_owned();
        for dep in package["dependencies"].as_array().expect("dependencies") {
            let to = dep["name"].as_str().expect("dependency name").to_owned();
            if tier(&to).is_some() || to == TEST_SUPPORT {
                let kind = dep["kind"].as_str().unwrap_or("normal").to_owned();
                edges.push((from.clone(), to, kind));
            }
        }
    }
    edges
}

fn direction_violations(edges: &[(String, String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (from, to, kind) in edges {
        if to == TEST_SUPPORT {
            if kind != "dev" {
                problems.push(format!(
                    "{from} -> {to} ({kind}): {TEST_SUPPORT} is a dev-dependency only"
                ));
            } else if edges
                .iter()
                .any(|(f, t, k)| f == TEST_SUPPORT && t == from && k != "dev")
            {
                problems.push(format!(
                    "{from} -> {to} ({kind}): {TEST_SUPPORT} depends on {from}, so {from}'s \
                     tests would see two copies of it"
                ));
            }
            continue;
        }
        let (Some(tf), Some(tt)) = (tier(from), tier(to)) else {
            continue;
        };
        if tf == tt {
            problems.push(format!(
                "{from} -> {to} ({kind}): crates of one tier never depend on each other"
            ));
        } else if tt > tf && kind != "dev" {
            problems.push(format!(
                "{from} -> {to} ({kind}): dependencies point down, never up"
            ));
        }
    }
    problems
}

#[test]
fn dependency_direction() {
    let edges = workspace_edges();
    assert!(
        edges
            .iter()
            .any(|(f, t, _)| f == "oci-digest" && t == "oci-spec-types"),
        "cargo metadata shows no edges: the test reads the wrong thing"
    );
    let problems = direction_violations(&edges);
    assert!(
        problems.is_empty(),
        "dependency direction broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn direction_check_catches_upward_and_sideways_edges() {
    let edge = |f: &str, t: &str, k: &str| (f.to_owned(), t.to_owned(), k.to_owned());
    let bad = [
        edge("oci-spec-types", "oci-digest", "normal"),
        edge("oci-digest", "oci-naming", "normal"),
        edge("oci-layer", "oci-sign", "dev"),
        edge("oci-naming", "oci-image", "build"),
    ];
    assert_eq!(direction_violations(&bad).len(), 4);
    let good = [
        edge("oci-image", "oci-layer", "normal"),
        edge("oci-digest", "oci-layer", "dev"),
    ];
    assert!(direction_violations(&good).is_empty());
}

#[test]
fn test_support_is_a_dev_dependency_of_crates_it_does_not_use() {
    let edge = |f: &str, t: &str, k: &str| (f.to_owned(), t.to_owned(), k.to_owned());
    let bad = [
        edge("oci-image", TEST_SUPPORT, "normal"),
        edge("oci-cli", TEST_SUPPORT, "build"),
        edge(TEST_SUPPORT, "oci-digest", "normal"),
        edge("oci-digest", TEST_SUPPORT, "dev"),
    ];
    let problems = direction_violations(&bad);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[2].contains("two copies"), "{problems:?}");
    let good = [
        edge(TEST_SUPPORT, "oci-digest", "normal"),
        edge("oci-image", TEST_SUPPORT, "dev"),
        edge("oci-naming", TEST_SUPPORT, "dev"),
    ];
    assert!(direction_violations(&good).is_empty());
}

/// Names that mean I/O; `oci-spec-types` uses none of them.
/// (`std::env::consts` is compile-time data, not I/O, and is allowed.)
const IO_MARKERS: [&str; 10] = [
    "std::fs",
    "std::net",
    "std::process",
    "std::env::var",
    "std::env::args",
    "std::io::stdin",
    "std::io::stdout",
    "File::",
    "println!",
    "eprintln!",
];

fn io_uses(dir: &Path, found: &mut BTreeMap<String, Vec<&'static str>>) {
    for entry in std::fs::read_dir(dir).expect("read source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            io_uses(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read source file");
            let hits: Vec<_> = IO_MARKERS
                .iter()
                .copied()
                .filter(|m| text.contains(m))
                .collect();
            if !hits.is_empty() {
                found.insert(path.display().to_string(), hits);
            }
        }
    }
}

#[test]
fn spec_types_does_no_io() {
    let mut found = BTreeMap::new();
    io_uses(&project_root().join("oci-spec-types/src"), &mut found);
    assert!(
        found.is_empty(),
        "oci-spec-types must do no I/O, but uses: {found:?}"
    );
}
