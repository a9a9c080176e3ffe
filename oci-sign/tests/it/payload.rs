use oci_sign::{ATOMIC_TYPE, COSIGN_TYPE, Payload, PayloadError};

const DIGEST: &str = "sha256:d0a7e8b0e3b5a0c7bd0e0f4d1c07a6e1d29dbd1ba7c2b3a6b2e6b9c6bb4d1312";

fn check(input: &str, expected: Result<(), PayloadError>) {
    let got = Payload::parse(input.as_bytes(), ATOMIC_TYPE).map(|_| ());
    assert_eq!(got, expected, "{input}");
}

#[test]
fn writer_matches_skopeo_bytes() {
    // The shape `skopeo standalone-sign` writes (NOTES §1.1): compact, keys sorted.
    let mut p = Payload::new(&DIGEST.parse().unwrap(), "example.com/foo:v1");
    p.creator = Some("atomic 5.23.1".to_owned());
    p.timestamp = Some(1795897049);
    let expected = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"example.com/foo:v1"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"atomic container signature"}},"optional":{{"creator":"atomic 5.23.1","timestamp":1795897049}}}}"#
    );
    assert_eq!(String::from_utf8(p.to_bytes()).unwrap(), expected);
    assert_eq!(Payload::parse(expected.as_bytes(), ATOMIC_TYPE).unwrap(), p);
}

#[test]
fn cosign_payload_has_null_optional() {
    let mut p = Payload::new(&DIGEST.parse().unwrap(), "index.docker.io/namespace/image");
    p.signature_type = COSIGN_TYPE.to_owned();
    let bytes = String::from_utf8(p.to_bytes()).unwrap();
    assert!(bytes.ends_with(r#""type":"cosign container image signature"},"optional":null}"#));
    assert_eq!(Payload::parse(bytes.as_bytes(), COSIGN_TYPE).unwrap(), p);
    assert!(matches!(
        Payload::parse(bytes.as_bytes(), ATOMIC_TYPE),
        Err(PayloadError::WrongSignatureType { .. })
    ));
}

fn doc(critical_extra: &str, optional: &str) -> String {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"example.com/foo:v1"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"atomic container signature"{critical_extra}}},"optional":{optional}}}"#
    )
}

#[test]
fn hostile_extra_critical_key() {
    check(
        &doc(r#","extra":1"#, "{}"),
        Err(PayloadError::UnknownKey {
            parent: "/critical".to_owned(),
            key: "extra".to_owned(),
        }),
    );
    let extra_image = doc("", "{}").replace(
        r#"{"docker-manifest-digest""#,
        r#"{"x":"y","docker-manifest-digest""#,
    );
    assert!(matches!(
        Payload::parse(extra_image.as_bytes(), ATOMIC_TYPE),
        Err(PayloadError::UnknownKey { .. })
    ));
    let extra_top = doc("", "{}").replace(r#""optional""#, r#""other":{},"optional""#);
    assert!(matches!(
        Payload::parse(extra_top.as_bytes(), ATOMIC_TYPE),
        Err(PayloadError::UnknownKey { .. })
    ));
}

#[test]
fn hostile_duplicate_json_keys() {
    let dup = doc("", "{}").replace(
        r#""type":"atomic container signature""#,
        r#""type":"atomic container signature","type":"atomic container signature""#,
    );
    assert!(matches!(
        Payload::parse(dup.as_bytes(), ATOMIC_TYPE),
        Err(PayloadError::Json { reason }) if reason.contains("duplicate key")
    ));
    let dup_optional = doc("", r#"{"creator":"a","creator":"b"}"#);
    assert!(matches!(
        Payload::parse(dup_optional.as_bytes(), ATOMIC_TYPE),
        Err(PayloadError::Json { .. })
    ));
}

#[test]
fn hostile_wrong_json_types() {
    let wrong = doc("", "{}").replace(
        r#""docker-reference":"example.com/foo:v1""#,
        r#""docker-reference":["example.com/foo:v1"]"#,
    );
    check(
        &wrong,
        Err(PayloadError::WrongType {
            field: "/critical/identity/docker-reference".to_owned(),
            expected: "string",
            found: "array",
        }),
    );
    check(
        &doc("", r#"{"creator":5}"#),
        Err(PayloadError::WrongType {
            field: "/optional/creator".to_owned(),
            expected: "string",
            found: "number",
        }),
    );
    check(
        &doc("", "[]"),
        Err(PayloadError::WrongType {
            field: "/optional".to_owned(),
            expected: "object",
            found: "array",
        }),
    );
    check(
        r#"{"critical":"x","optional":{}}"#,
        Err(PayloadError::WrongType {
            field: "/critical".to_owned(),
            expected: "object",
            found: "string",
        }),
    );
    check(
        r#"{"optional":{}}"#,
        Err(PayloadError::Missing {
            field: "/critical".to_owned(),
        }),
    );
}

#[test]
fn hostile_non_integer_timestamp() {
    check(
        &doc("", r#"{"timestamp":1.5}"#),
        Err(PayloadError::TimestampNotInteger),
    );
    check(
        &doc("", r#"{"timestamp":1e3}"#),
        Err(PayloadError::TimestampNotInteger),
    );
    check(
        &doc("", r#"{"timestamp":"1"}"#),
        Err(PayloadError::WrongType {
            field: "/optional/timestamp".to_owned(),
            expected: "number",
            found: "string",
        }),
    );
    check(&doc("", r#"{"timestamp":17}"#), Ok(()));
}

#[test]
fn unknown_optional_keys_and_null_optional_are_allowed() {
    check(&doc("", r#"{"anything":{"x":[1,2]}}"#), Ok(()));
    check(&doc("", "null"), Ok(()));
}

#[test]
fn hostile_wrong_signature_type() {
    let wrong = doc("", "{}").replace("atomic container signature", "something else");
    assert!(matches!(
        Payload::parse(wrong.as_bytes(), ATOMIC_TYPE),
        Err(PayloadError::WrongSignatureType { .. })
    ));
}

#[test]
fn hostile_oversized_payload() {
    let big = vec![b' '; oci_sign::MAX_PAYLOAD_SIZE + 1];
    assert!(matches!(
        Payload::parse(&big, ATOMIC_TYPE),
        Err(PayloadError::TooLarge { .. })
    ));
}
