//! The project's own reference table, written from the grammar (not copied from
//! upstream), and round-trip properties.

use oci_naming::{Dialect, Error, Reference, parse_digest};
use proptest::prelude::*;

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// `Ok((domain, path, tag, digest))` or `Err(identifier)`.
type Expected<'a> = Result<(&'a str, &'a str, Option<&'a str>, Option<&'a str>), &'a str>;

/// `check(input, expected)` for strict parsing.
fn check_strict(input: &str, expected: Expected<'_>) {
    let got = Dialect::Distribution.parse(input);
    match (got, expected) {
        (Ok(r), Ok((domain, path, tag, digest))) => {
            assert_eq!(
                (r.domain(), r.path(), r.tag(), r.digest()),
                (domain, path, tag, digest),
                "{input:?}"
            );
            assert_eq!(r.to_string(), input, "display of {input:?}");
        }
        (Err(e), Err(id)) => assert_eq!(e.identifier(), Some(id), "{input:?}: {e}"),
        (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn strict_grammar_table() {
    let long_path = "p".repeat(255);
    let too_long_path = "p".repeat(256);
    let long_tag = "t".repeat(128);
    let ok_long = format!("h.example/{long_path}");
    let bad_long = format!("h.example/{too_long_path}");
    let ok_tag = format!("r:{long_tag}");
    let bad_tag = format!("r:{long_tag}x");
    let sha512 = format!("r@sha512:{}", "ab".repeat(64));
    let blake3 = format!("r@blake3:{}", "cd".repeat(32));
    let with_digest = format!("h:1/r:t@{D}");
    let cases: Vec<(&str, Expected<'_>)> = vec![
        ("alpine", Ok(("", "alpine", None, None))),
        ("a/b/c", Ok(("a", "b/c", None, None))),
        ("my_repo/x", Ok(("", "my_repo/x", None, None))),
        (
            "reg.example:5000/ns/img:v1.2-rc_3",
            Ok(("reg.example:5000", "ns/img", Some("v1.2-rc_3"), None)),
        ),
        ("[::1]:5000/img", Ok(("[::1]:5000", "img", None, None))),
        ("[::1]/img", Ok(("[::1]", "img", None, None))),
        ("10.0.0.1/img:_", Ok(("10.0.0.1", "img", Some("_"), None))),
        (
            "UPPER.example/lower",
            Ok(("UPPER.example", "lower", None, None)),
        ),
        ("a--b---c/d__e", Ok(("a--b---c", "d__e", None, None))),
        (with_digest.as_str(), Ok(("h:1", "r", Some("t"), Some(D)))),
        (
            ok_long.as_str(),
            Ok(("h.example", long_path.as_str(), None, None)),
        ),
        (
            ok_tag.as_str(),
            Ok(("", "r", Some(long_tag.as_str()), None)),
        ),
        (sha512.as_str(), Ok(("", "r", None, Some(&sha512[2..])))),
        (blake3.as_str(), Ok(("", "r", None, Some(&blake3[2..])))),
        ("", Err("ErrNameEmpty")),
        (bad_long.as_str(), Err("ErrNameTooLong")),
        (bad_tag.as_str(), Err("ErrReferenceInvalidFormat")),
        ("upper/Case", Err("ErrNameContainsUppercase")),
        ("Upper/case", Ok(("Upper", "case", None, None))),
        ("h/Upper", Err("ErrNameContainsUppercase")),
        ("a//b", Err("ErrReferenceInvalidFormat")),
        ("a/b/", Err("ErrReferenceInvalidFormat")),
        ("a:b:c", Err("ErrReferenceInvalidFormat")),
        ("r:", Err("ErrReferenceInvalidFormat")),
        ("r@", Err("ErrReferenceInvalidFormat")),
        ("-r", Err("ErrReferenceInvalidFormat")),
        ("r@sha256:abc", Err("ErrReferenceInvalidFormat")),
        ("h:/r", Err("ErrReferenceInvalidFormat")),
        ("[zz::1]/r", Err("ErrReferenceInvalidFormat")),
        (
            "r@sha256:0123456789abcdef0123456789abcdef",
            Err("digest.ErrDigestInvalidLength"),
        ),
        (
            "r@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            Err("digest.ErrDigestInvalidFormat"),
        ),
        (
            "r@md5:0123456789abcdef0123456789abcdef",
            Err("digest.ErrDigestUnsupported"),
        ),
        (
            "r@SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            Err("digest.ErrDigestInvalidFormat"),
        ),
    ];
    for (input, expected) in cases {
        check_strict(input, expected);
    }
}

#[test]
fn normalization_table() {
    let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let cases: &[(&str, Option<(&str, &str)>)] = &[
        ("alpine", Some(("docker.io/library/alpine", "alpine"))),
        ("alpine:3", Some(("docker.io/library/alpine:3", "alpine:3"))),
        ("user/app", Some(("docker.io/user/app", "user/app"))),
        (
            "docker.io/alpine",
            Some(("docker.io/library/alpine", "alpine")),
        ),
        (
            "index.docker.io/user/app",
            Some(("docker.io/user/app", "user/app")),
        ),
        (
            "docker.io/library/a/b",
            Some(("docker.io/library/a/b", "library/a/b")),
        ),
        ("localhost/app", Some(("localhost/app", "localhost/app"))),
        (
            "localhost:5000/app",
            Some(("localhost:5000/app", "localhost:5000/app")),
        ),
        ("quay.io/org/app@", None),
        ("Registry/app", Some(("Registry/app", "Registry/app"))),
        (
            "[fd00::2]:443/app",
            Some(("[fd00::2]:443/app", "[fd00::2]:443/app")),
        ),
        ("user/App", None),
        (id, None),
    ];
    for (input, expected) in cases {
        let got = Reference::parse_normalized(input);
        match (got, expected) {
            (Ok(r), Some((full, familiar))) => {
                assert_eq!(r.to_string(), *full, "{input:?}");
                assert_eq!(r.familiar().to_string(), *familiar, "{input:?}");
            }
            (Err(_), None) => {}
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }
    // A 64-hex name is refused, with its own error.
    assert!(matches!(
        Reference::parse_normalized(id),
        Err(Error::HexIdentifier { .. })
    ));
    // `:latest` only on request, and never next to a digest.
    let r = Reference::parse_normalized("alpine").expect("valid");
    assert_eq!(r.tag(), None);
    assert_eq!(
        r.with_default_tag().to_string(),
        "docker.io/library/alpine:latest"
    );
    let docker = Dialect::Distribution
        .parse_docker(&format!("alpine:3@{D}"))
        .expect("valid");
    assert_eq!(docker.to_string(), format!("docker.io/library/alpine@{D}"));
}

#[test]
fn containers_image_dialect_differs_where_documented() {
    let ci = Dialect::ContainersImage;
    // No IPv6 domains.
    assert!(ci.parse("[::1]:5000/app").is_err());
    assert!(Dialect::Distribution.parse("[::1]:5000/app").is_ok());
    // An uppercase first component is not a domain: the name lands on Docker Hub and
    // fails the lowercase rule.
    assert!(matches!(
        ci.parse_normalized("Foo/bar"),
        Err(Error::RemoteNameUppercase { .. })
    ));
    assert_eq!(
        Dialect::Distribution
            .parse_normalized("Foo/bar")
            .expect("valid")
            .domain(),
        "Foo"
    );
    // The 255 limit counts the domain in containers/image.
    let name = format!("registry.example/{}", "p".repeat(250));
    assert!(Dialect::Distribution.parse(&name).is_ok());
    assert!(matches!(ci.parse(&name), Err(Error::NameTooLong { .. })));
    // The rest agrees.
    for s in ["docker.io/library/a:1", "h:5000/a/b", "localhost/x"] {
        assert_eq!(
            ci.parse_normalized(s),
            Dialect::Distribution.parse_normalized(s)
        );
    }
}

#[test]
fn canonical_names_and_digests() {
    assert!(
        Dialect::Distribution
            .parse_canonical("docker.io/library/a")
            .is_ok()
    );
    assert!(matches!(
        Dialect::Distribution.parse_canonical("a"),
        Err(Error::NameNotCanonical { .. })
    ));
    assert!(parse_digest(D).is_ok());
    assert!(matches!(
        parse_digest("foo:0123456789abcdef0123456789abcdef"),
        Err(Error::DigestUnsupported { .. })
    ));
}

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,5}((\\.|_|__|-{1,3})[a-z0-9]{1,5}){0,2}"
}

fn canonical_reference() -> impl Strategy<Value = String> {
    let domain = prop_oneof![
        Just(String::new()),
        "[a-z][a-z0-9-]{0,6}[a-z0-9](\\.[a-z0-9]{1,6}){0,2}(:[0-9]{1,5})?"
            .prop_map(|d| format!("{d}/")),
        "\\[[0-9a-f:]{1,12}\\](:[0-9]{1,5})?".prop_map(|d| format!("{d}/")),
    ];
    let path = prop::collection::vec(component(), 1..4).prop_map(|c| c.join("/"));
    let tag = prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}");
    let digest = prop::option::of("[0-9a-f]{64}");
    (domain, path, tag, digest).prop_map(|(domain, path, tag, digest)| {
        let mut s = format!("{domain}{path}");
        if let Some(t) = tag {
            s.push(':');
            s.push_str(&t);
        }
        if let Some(d) = digest {
            s.push_str("@sha256:");
            s.push_str(&d);
        }
        s
    })
}

proptest! {
    #[test]
    fn parse_then_display_is_identity(s in canonical_reference()) {
        let r = Reference::parse(&s).map_err(|e| TestCaseError::fail(format!("{s:?}: {e}")))?;
        prop_assert_eq!(r.to_string(), s);
    }

    #[test]
    fn normalized_display_reparses_to_itself(s in canonical_reference()) {
        if let Ok(r) = Reference::parse_normalized(&s) {
            let again = Dialect::Distribution.parse_canonical(&r.to_string());
            prop_assert_eq!(again, Ok(r));
        }
    }

    #[test]
    fn parsing_never_panics(s in "\\PC{0,80}") {
        let _ = Reference::parse(&s);
        let _ = Reference::parse_normalized(&s);
        let _ = Dialect::ContainersImage.parse_any(&s);
    }

    #[test]
    fn near_grammar_inputs_keep_the_invariants(s in "[a-zA-Z0-9._:/@\\[\\]-]{0,40}") {
        for dialect in [Dialect::Distribution, Dialect::ContainersImage] {
            if let Ok(r) = dialect.parse(&s) {
                prop_assert_eq!(r.to_string(), s.clone());
            }
            if let Ok(r) = dialect.parse_normalized(&s) {
                prop_assert_eq!(dialect.parse_canonical(&r.to_string()), Ok(r));
            }
        }
    }
}
