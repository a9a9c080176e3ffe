//! Fuzz target: the strict auth.json / config.json / .dockercfg parser
//! (`oci_registry::credentials::AuthFile`), then the lookup of a few registries and
//! repositories through what parsed. Besides "never panics": parsing is deterministic,
//! and a credential found comes from a key the file has.
#![no_main]

use std::path::Path;

use oci_registry::credentials::{AuthFile, AuthFileFormat, FileMatch};

libfuzzer_sys::fuzz_target!(|data: &[u8]| auth_json(data));

/// Registries and repositories looked up in every file that parses.
const LOOKUPS: &[(&str, &str)] = &[
    ("docker.io", "library/busybox"),
    ("index.docker.io", ""),
    ("quay.io", "ns/app"),
    ("localhost:5000", "a/b/c"),
    ("", ""),
    ("x", "/"),
];

/// The target body, over bytes.
pub fn auth_json(data: &[u8]) {
    let path = Path::new("/fuzz/auth.json");
    for format in [AuthFileFormat::Auths, AuthFileFormat::Legacy] {
        let first = AuthFile::parse_as(data, path, format);
        let again = AuthFile::parse_as(data, path, format);
        assert_eq!(first.is_ok(), again.is_ok(), "parsing is deterministic");
        let Ok(file) = first else {
            continue;
        };
        assert_eq!(Ok(&file), again.as_ref().map_err(|_| ()), "same file twice");
        for (registry, repository) in LOOKUPS {
            let found = file.find(registry, repository);
            assert_eq!(found, file.find(registry, repository), "lookups are deterministic");
            if let FileMatch::Credential { key, .. } = &found {
                assert!(file.has_entry(key), "{key:?} is one of the file's keys");
            }
        }
    }
}
