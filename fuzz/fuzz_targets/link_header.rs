//! Fuzz target: the `Link` header parser of oci-registry (`parse_link`, `next_link`).
//! Besides "never panics": `next_link` is the first `rel="next"` of `parse_link`, and
//! links written back (`<target>; rel="..."`) parse to the same links.
#![no_main]

use oci_registry::{next_link, parse_link};

libfuzzer_sys::fuzz_target!(|data: &[u8]| link_header(data));

/// The target body, over bytes.
pub fn link_header(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let links = parse_link(s);
    assert_eq!(links, parse_link(s), "parsing is deterministic");
    let first_next = links
        .iter()
        .find(|l| l.rel.iter().any(|r| r == "next"))
        .map(|l| l.target.clone());
    assert_eq!(next_link(s), first_next);
    for l in &links {
        assert!(!l.target.contains('>'), "target {:?}", l.target);
        assert!(l.rel.iter().all(|r| !r.is_empty() && r.to_ascii_lowercase() == *r));
    }
    let written = links
        .iter()
        .map(|l| {
            let rel = l.rel.join(" ").replace('\\', "\\\\").replace('"', "\\\"");
            if l.rel.is_empty() {
                format!("<{}>", l.target)
            } else {
                format!("<{}>; rel=\"{rel}\"", l.target)
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    assert_eq!(parse_link(&written), links, "written back: {written:?}");
}
