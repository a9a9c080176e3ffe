//! Fuzz target: the reference parsers (both dialects), normalization, host-based names
//! and Go-style globs. Besides "never panics", it checks that strict parsing gives back
//! its input when displayed and that normalized references are canonical.
#![no_main]

use oci_naming::{Dialect, HostBasedName, familiar_match};

libfuzzer_sys::fuzz_target!(|data: &[u8]| reference_parse(data));

/// The target body, over bytes.
pub fn reference_parse(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for dialect in [Dialect::Distribution, Dialect::ContainersImage] {
        if let Ok(r) = dialect.parse(s) {
            assert_eq!(r.to_string(), s, "strict parse displays as its input");
            assert_eq!(
                dialect.parse(s).as_ref(),
                Ok(&r),
                "parsing is deterministic"
            );
        }
        if let Ok(r) = dialect.parse_normalized(s) {
            let canonical = r.to_string();
            assert_eq!(
                dialect.parse_canonical(&canonical),
                Ok(r.clone()),
                "normalized {canonical:?} is canonical"
            );
            let _ = r.familiar().to_string();
            let _ = r.clone().with_default_tag();
        }
        if let Ok(any) = dialect.parse_any(s) {
            // The first line as a glob against the reference must not panic.
            let _ = familiar_match(s.lines().next().unwrap_or(""), &any);
        }
        let _ = dialect.parse_docker(s);
        let _ = dialect.with_name(s);
    }
    if let Ok(name) = HostBasedName::parse(s) {
        let ancestors = name.ancestors();
        assert!(!ancestors.is_empty(), "a name has at least its own host");
        assert_eq!(ancestors[0], name.host());
    }
}
