//! `DIR[:REF]` naming and the tag grammar.

use oci_image::{ImageName, NameError, Reference, is_valid_tag};

const DIGEST: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

fn check(input: &str, dir: &str, reference: Option<Reference>) {
    let name = ImageName::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    assert_eq!(name.dir.to_str(), Some(dir), "{input}");
    assert_eq!(name.reference, reference, "{input}");
    assert_eq!(name.to_string(), input);
}

fn tag(t: &str) -> Option<Reference> {
    Some(Reference::Tag(t.to_owned()))
}

#[test]
fn splits_at_the_first_colon() {
    check("layout", "layout", None);
    check("layout:latest", "layout", tag("latest"));
    check("/a/b:v1.0", "/a/b", tag("v1.0"));
    // Everything after the first ':' is the reference, colons included.
    check("dir:a:b", "dir", tag("a:b"));
    check(
        &format!("dir:{DIGEST}"),
        "dir",
        Some(Reference::Digest(DIGEST.parse().expect("digest"))),
    );
}

#[test]
fn a_reference_that_is_not_a_valid_digest_is_a_tag() {
    // Too short for sha256: not a digest, so a tag.
    check("dir:sha256:abc", "dir", tag("sha256:abc"));
}

#[test]
fn empty_parts_are_rejected() {
    assert!(matches!(
        ImageName::parse(":tag"),
        Err(NameError::EmptyDir { .. })
    ));
    assert!(matches!(
        ImageName::parse("dir:"),
        Err(NameError::EmptyReference { .. })
    ));
    assert!(matches!(
        ImageName::parse(""),
        Err(NameError::EmptyDir { .. })
    ));
}

#[test]
fn tag_grammar() {
    for ok in [
        "latest",
        "v1.0",
        "a-b_c",
        "a--b",
        "1",
        "foo/bar:baz",
        "a@b+c",
    ] {
        assert!(is_valid_tag(ok), "{ok}");
    }
    for bad in ["", "-a", "a-", "a//b", "a b", "a---b", ".a", "a/", "é"] {
        assert!(!is_valid_tag(bad), "{bad}");
    }
}
