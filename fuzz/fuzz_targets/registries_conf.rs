//! Fuzz target: registries.conf parsing (`oci_naming::RegistriesConf::parse_str`, as a
//! main file and as a drop-in), then resolution of a few names through what parsed.
//! Besides "never panics": parsing is deterministic (the same text gives the same
//! verdict), and every pull source of a name resolved through a parsed file is itself a
//! reference that parses.
#![no_main]

use std::path::Path;

use oci_naming::{Dialect, RegistriesConf};

libfuzzer_sys::fuzz_target!(|data: &[u8]| registries_conf(data));

/// Names resolved through every file that parses: short, qualified, digested, odd.
const NAMES: &[&str] = &[
    "busybox",
    "library/busybox:1.36",
    "docker.io/library/busybox",
    "quay.io/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "localhost:5000/x",
    "example.com/ns/repo:tag",
];

/// The target body, over bytes.
pub fn registries_conf(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/registries.conf");
    for drop_in in [false, true] {
        let first = RegistriesConf::parse_str(text, path, drop_in);
        let again = RegistriesConf::parse_str(text, path, drop_in);
        assert_eq!(first.is_ok(), again.is_ok(), "parsing is deterministic");
        let Ok(conf) = first else {
            continue;
        };
        for name in NAMES {
            let _ = conf.find_registry(name);
            for interactive in [false, true] {
                let _ = conf.resolve(name, interactive);
            }
            if let Ok(reference) = Dialect::ContainersImage.parse_normalized(name)
                && let Ok(sources) = conf.pull_sources(&reference)
            {
                for source in sources {
                    assert!(
                        Dialect::ContainersImage.parse(&source.reference).is_ok(),
                        "a pull source is a reference: {:?}",
                        source.reference
                    );
                }
            }
        }
    }
}
