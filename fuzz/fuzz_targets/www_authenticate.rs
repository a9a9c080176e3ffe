//! Fuzz target: the `WWW-Authenticate` challenge parser of oci-registry
//! (`parse_challenges`) and the scope grammar (`Scope::parse`). Besides "never panics":
//! schemes and parameter names come out lowercased tokens, and a header written back
//! from the parsed challenges (values quoted) parses to the same challenges.
#![no_main]

use oci_registry::{Scope, parse_challenges};

libfuzzer_sys::fuzz_target!(|data: &[u8]| www_authenticate(data));

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
        && s.chars().all(|c| !c.is_ascii_uppercase())
}

/// The target body, over bytes.
pub fn www_authenticate(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let challenges = parse_challenges(s);
    assert_eq!(challenges, parse_challenges(s), "parsing is deterministic");
    for c in &challenges {
        assert!(is_token(&c.scheme), "scheme {:?}", c.scheme);
        for name in c.params.keys() {
            assert!(is_token(name), "parameter name {name:?}");
        }
        if let Some(scope) = c.param("scope") {
            for part in scope.split_whitespace() {
                if let Some(parsed) = Scope::parse(part) {
                    assert_eq!(Scope::parse(&parsed.to_string()), Some(parsed.clone()));
                }
            }
        }
    }
    if s.len() < 4096 {
        let written = challenges
            .iter()
            .map(|c| {
                let params = c
                    .params
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                    .collect::<Vec<_>>()
                    .join(", ");
                if params.is_empty() {
                    c.scheme.clone()
                } else {
                    format!("{} {params}", c.scheme)
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(parse_challenges(&written), challenges, "written back: {written:?}");
    }
}
