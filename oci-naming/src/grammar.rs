//! The reference grammar of distribution/reference, as hand-written matchers.
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] remote-name
//! domain           := host [':' port-number]
//! host             := domain-name | '[' [a-fA-F0-9:]+ ']'     ; IPv6 only in Dialect::Distribution
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number      := /[0-9]+/
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! remote-name      := path-component ['/' path-component]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := /[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}/
//! identifier       := /[a-f0-9]{64}/
//! ```
//!
//! Upstream writes these as regular expressions; the matchers here accept exactly the
//! same languages and split names the same way (a leading `host[:port]/` is taken as
//! the domain whenever it fits the domain rule and the rest is a remote name).

use crate::reference::Dialect;

/// The parts of a string that matches the whole reference grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceMatch<'a> {
    /// The name: `[domain/]remote-name`.
    pub name: &'a str,
    /// The tag, without the `:`.
    pub tag: Option<&'a str>,
    /// The digest, without the `@`, checked against the loose digest pattern only.
    pub digest: Option<&'a str>,
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `path-component`: lowercase alphanumeric runs joined by `.`, `_`, `__` or dashes.
pub fn is_path_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !is_lower_alnum(first) || !is_lower_alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_lower_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_lower_alnum(bytes[i]) {
            i += 1;
        }
        let run = &bytes[start..i];
        let ok = run == b"." || run == b"_" || run == b"__" || run.iter().all(|&b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `remote-name`: path components separated by single slashes.
pub fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

fn is_domain_component(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `domain-name`: domain components separated by single dots.
pub fn is_domain_name(s: &str) -> bool {
    s.split('.').all(is_domain_component)
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `domain`: a host (domain name, or bracketed IPv6 in [`Dialect::Distribution`]) with an
/// optional port.
pub fn is_domain(s: &str, dialect: Dialect) -> bool {
    if let Some(rest) = s.strip_prefix('[') {
        if dialect == Dialect::ContainersImage {
            return false;
        }
        let Some(close) = rest.find(']') else {
            return false;
        };
        let (inside, after) = (&rest[..close], &rest[close + 1..]);
        let inside_ok =
            !inside.is_empty() && inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        let after_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return inside_ok && after_ok;
    }
    match s.split_once(':') {
        Some((host, port)) => is_domain_name(host) && is_port(port),
        None => is_domain_name(s),
    }
}

/// Splits a name into its optional domain and its remote name, as upstream's anchored
/// name expression does; `None` when `s` is not a name.
pub fn split_name(s: &str, dialect: Dialect) -> Option<(Option<&str>, &str)> {
    if let Some((domain, rest)) = s.split_once('/')
        && is_domain(domain, dialect)
        && is_remote_name(rest)
    {
        return Some((Some(domain), rest));
    }
    is_remote_name(s).then_some((None, s))
}

/// `tag`: a word character then up to 127 word characters, dots and dashes.
pub fn is_tag(s: &str) -> bool {
    let bytes = s.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match bytes.split_first() {
        Some((&first, rest)) => {
            word(first)
                && rest.len() <= 127
                && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-')
        }
        None => false,
    }
}

/// The loose digest pattern of the reference grammar (at least 32 hex characters, any
/// case; algorithm components start with a letter).
pub fn is_digest_pattern(s: &str) -> bool {
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|c| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    algorithm_ok && encoded.len() >= 32 && encoded.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `identifier`: exactly 64 lowercase hex characters.
pub fn is_identifier(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Matches the whole reference grammar and returns its parts.
pub fn match_reference(s: &str, dialect: Dialect) -> Option<ReferenceMatch<'_>> {
    let (before, digest) = match s.split_once('@') {
        Some((before, digest)) => {
            if !is_digest_pattern(digest) {
                return None;
            }
            (before, Some(digest))
        }
        None => (s, None),
    };
    // A colon after the last slash can only separate the tag: names hold colons only in
    // the port of a domain, which a slash always follows.
    let last_slash = before.rfind('/');
    let (name, tag) = match before.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            (&before[..colon], Some(&before[colon + 1..]))
        }
        _ => (before, None),
    };
    if tag.is_some_and(|t| !is_tag(t)) {
        return None;
    }
    split_name(name, dialect)?;
    Some(ReferenceMatch { name, tag, digest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components() {
        for ok in [
            "a",
            "a0",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "a.b_c__d-e",
        ] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in [
            "", "A", "a.", ".a", "a..b", "a___b", "a_.b", "a-.b", "a.-b", "a_-b", "-a", "a-",
            "a/b", "a b",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn domains() {
        for ok in [
            "a",
            "A-b.c",
            "a:1",
            "127.0.0.1:5000",
            "[::1]",
            "[fc00::1]:5000",
            "xn--n3h.com",
        ] {
            assert!(is_domain(ok, Dialect::Distribution), "{ok}");
        }
        for bad in [
            "", "a.", ".a", "-a", "a-", "a:", "a:b", "[]", "[::1", "[::1]:", "[g::1]", "a_b",
            "a..b",
        ] {
            assert!(!is_domain(bad, Dialect::Distribution), "{bad}");
        }
        assert!(!is_domain("[::1]:5000", Dialect::ContainersImage));
        assert!(is_domain("a.b:5000", Dialect::ContainersImage));
    }

    #[test]
    fn tags() {
        assert!(is_tag("_"));
        assert!(is_tag(&"a".repeat(128)));
        assert!(!is_tag(&"a".repeat(129)));
        assert!(!is_tag(".a"));
        assert!(!is_tag("-a"));
        assert!(!is_tag("a:b"));
        assert!(!is_tag(""));
    }

    #[test]
    fn references_split_at_the_right_colon() {
        let m = match_reference("h:5000/r:t", Dialect::Distribution).expect("valid");
        assert_eq!((m.name, m.tag, m.digest), ("h:5000/r", Some("t"), None));
        let m = match_reference("h:5000/r", Dialect::Distribution).expect("valid");
        assert_eq!((m.name, m.tag), ("h:5000/r", None));
        let m = match_reference("test.com:5000", Dialect::Distribution).expect("valid");
        assert_eq!((m.name, m.tag), ("test.com", Some("5000")));
        assert!(match_reference("a:b:c", Dialect::Distribution).is_none());
        assert!(match_reference("a@sha256:abc", Dialect::Distribution).is_none());
        assert!(match_reference("a:", Dialect::Distribution).is_none());
        assert!(
            match_reference(
                "a@b@sha256:0123456789abcdef0123456789abcdef",
                Dialect::Distribution
            )
            .is_none()
        );
    }

    #[test]
    fn digest_patterns() {
        assert!(is_digest_pattern("sha256:0123456789abcdef0123456789ABCDEF"));
        assert!(is_digest_pattern(
            "a+B.c-d_e:0123456789abcdef0123456789abcdef"
        ));
        assert!(!is_digest_pattern("sha256:0123456789abcdef0123456789abcde"));
        assert!(!is_digest_pattern("1sha:0123456789abcdef0123456789abcdef"));
        assert!(!is_digest_pattern("sha+:0123456789abcdef0123456789abcdef"));
    }
}
