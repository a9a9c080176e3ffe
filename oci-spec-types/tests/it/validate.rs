//! The validator: every rule it checks, valid and invalid, with exact rule ids and pointers.

use oci_spec_types::validate::{Kind, Level, validate};

const SHA_A: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";
const SHA_B: &str = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";
const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// One row of a table: the document, the expected verdict, `(pointer, rule)` expected.
type Row = (String, bool, &'static [(&'static str, &'static str)]);

/// Validates `json` as `kind` and compares `(pointer, rule)` of every violation, in
/// report order (sorted by pointer, then rule).
#[track_caller]
fn check(kind: Kind, json: &str, expected: &[(&str, &str)]) {
    let report = validate(kind, json.as_bytes());
    let got: Vec<(&str, &str)> = report
        .violations
        .iter()
        .map(|v| (v.pointer.as_str(), v.rule))
        .collect();
    assert_eq!(got, expected, "{kind} {json}\n{report:#?}");
}

/// Like [`check`], and asserts the verdict.
#[track_caller]
fn check_valid(kind: Kind, json: &str, valid: bool, expected: &[(&str, &str)]) {
    check(kind, json, expected);
    assert_eq!(validate(kind, json.as_bytes()).is_valid(), valid, "{json}");
}

fn desc(extra: &str) -> String {
    format!(r#"{{"mediaType":"{GZ}","digest":"{SHA_A}","size":10{extra}}}"#)
}

#[test]
fn descriptor_table() {
    use Kind::Descriptor as K;
    let table: &[Row] = &[
        (desc(""), true, &[]),
        (
            format!(r#"{{"digest":"{SHA_A}","size":1}}"#),
            false,
            &[("/mediaType", "D3")],
        ),
        (
            format!(r#"{{"mediaType":7,"digest":"{SHA_A}","size":1}}"#),
            false,
            &[("/mediaType", "D3")],
        ),
        (
            format!(r#"{{"mediaType":"text/plain; charset=utf-8","digest":"{SHA_A}","size":1}}"#),
            false,
            &[("/mediaType", "D4")],
        ),
        (
            format!(r#"{{"mediaType":"{GZ}","size":1}}"#),
            false,
            &[("/digest", "D5")],
        ),
        (
            format!(r#"{{"mediaType":"{GZ}","digest":"sha256","size":1}}"#),
            false,
            &[("/digest", "DG1")],
        ),
        (
            format!(
                r#"{{"mediaType":"{GZ}","digest":"{}","size":1}}"#,
                SHA_A.to_uppercase().replace("SHA", "sha")
            ),
            false,
            &[("/digest", "DG6")],
        ),
        (
            format!(
                r#"{{"mediaType":"{GZ}","digest":"sha512:{}","size":1}}"#,
                "a".repeat(64)
            ),
            false,
            &[("/digest", "DG7")],
        ),
        (
            format!(
                r#"{{"mediaType":"{GZ}","digest":"blake3:{}","size":1}}"#,
                "A".repeat(64)
            ),
            false,
            &[("/digest", "DG8")],
        ),
        (
            format!(
                r#"{{"mediaType":"{GZ}","digest":"sha3-256:{}","size":1}}"#,
                "a".repeat(64)
            ),
            true,
            &[],
        ),
        (
            format!(r#"{{"mediaType":"{GZ}","digest":"{SHA_A}"}}"#),
            false,
            &[("/size", "D7")],
        ),
        (
            format!(r#"{{"mediaType":"{GZ}","digest":"{SHA_A}","size":"10"}}"#),
            false,
            &[("/size", "D7")],
        ),
        (
            format!(r#"{{"mediaType":"{GZ}","digest":"{SHA_A}","size":10.0}}"#),
            false,
            &[("/size", "D7")],
        ),
        (
            format!(r#"{{"mediaType":"{GZ}","digest":"{SHA_A}","size":-1}}"#),
            false,
            &[("/size", "D9")],
        ),
        (
            format!(r#"{{"mediaType":"{GZ}","digest":"{SHA_A}","size":18446744073709551615}}"#),
            false,
            &[("/size", "D7"), ("/size", "J3")],
        ),
        (
            format!(r#"{{"mediaType":"{GZ}","digest":"{SHA_A}","size":9007199254740993}}"#),
            true,
            &[("/size", "J3")],
        ),
        (desc(r#","urls":["https://example.org/a.tar"]"#), true, &[]),
        (
            desc(r#","urls":["a.tar","https://example.org/a b"]"#),
            false,
            &[("/urls/0", "D10"), ("/urls/1", "D10")],
        ),
        (
            desc(r#","urls":["ftp://example.org/a.tar"]"#),
            true,
            &[("/urls/0", "D11")],
        ),
        (
            desc(r#","urls":"https://example.org/a.tar""#),
            false,
            &[("/urls", "D10")],
        ),
        (
            desc(r#","artifactType":"application/vnd.example+json""#),
            true,
            &[],
        ),
        (
            desc(r#","artifactType":"vnd.example""#),
            false,
            &[("/artifactType", "D16")],
        ),
        (
            desc(r#","annotations":{"com.example/a":1,"com.example.b":null}"#),
            false,
            &[
                ("/annotations/com.example.b", "A2"),
                ("/annotations/com.example~1a", "A1"),
            ],
        ),
        (
            desc(r#","annotations":{"com.example.a":"1","com.example.a":"2"}"#),
            false,
            &[("/annotations/com.example.a", "A3")],
        ),
        (
            desc(
                r#","annotations":{"team":"x","org.opencontainers.x":"y","org.opencontainers.image.colour":"z","org.opencontainers.image.title":"t"}"#,
            ),
            true,
            &[
                ("/annotations/org.opencontainers.image.colour", "A6"),
                ("/annotations/org.opencontainers.x", "A5"),
                ("/annotations/team", "A4"),
            ],
        ),
        (
            desc(r#","annotations":null"#),
            false,
            &[("/annotations", "A7")],
        ),
        (desc(r#","annotations":{}"#), true, &[]),
        (
            desc(r#","annotations":{"org.opencontainers.image.created":"2024-01-01"}"#),
            false,
            &[("/annotations/org.opencontainers.image.created", "A9")],
        ),
        (
            desc(r#","annotations":{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}"#),
            true,
            &[],
        ),
        (
            desc(r#","annotations":{"org.opencontainers.image.ref.name":"a b"}"#),
            true,
            &[("/annotations/org.opencontainers.image.ref.name", "A10")],
        ),
        (desc(r#","size":11"#), false, &[("/size", "J2")]),
        (format!(r#"["{GZ}"]"#), false, &[("", "D3")]),
        (desc(r#","com.example.unknown":{"x":[1,2]}"#), true, &[]),
        (
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{SHA_A}","size":1}}"#
            ),
            true,
            &[("/platform", "D17")],
        ),
        (
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{SHA_A}","size":1,"platform":{{"architecture":"arm64"}}}}"#
            ),
            false,
            &[("/platform/os", "I13")],
        ),
    ];
    for (json, valid, expected) in table {
        check_valid(K, json, *valid, expected);
    }
}

#[test]
fn descriptor_data() {
    use Kind::Descriptor as K;
    let empty = |data: &str, size: u64, digest: &str| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{digest}","size":{size},"data":{data}}}"#
        )
    };
    check_valid(K, &empty(r#""e30=""#, 2, EMPTY_DIGEST), true, &[]);
    check_valid(
        K,
        &empty(r#""e30""#, 2, EMPTY_DIGEST),
        false,
        &[("/data", "D13")],
    );
    check_valid(
        K,
        &empty(r#""e31=""#, 2, EMPTY_DIGEST),
        false,
        &[("/data", "D13")],
    );
    check_valid(
        K,
        &empty("123", 2, EMPTY_DIGEST),
        false,
        &[("/data", "D13")],
    );
    check_valid(
        K,
        &empty(r#""e30=""#, 3, EMPTY_DIGEST),
        false,
        &[("/data", "D14")],
    );
    check_valid(K, &empty(r#""e30=""#, 2, SHA_A), false, &[("/data", "D14")]);
    // Both disagree: two violations at the same pointer.
    check_valid(
        K,
        &empty(r#""e30=""#, 5, SHA_B),
        false,
        &[("/data", "D14"), ("/data", "D14")],
    );
    // Empty content, empty data.
    check_valid(
        K,
        &empty(
            r#""""#,
            0,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        true,
        &[],
    );
    // sha512 and blake3 of "{}".
    let sha512 = "sha512:27c74670adb75075fad058d5ceaf7b20c4e7786c83bae8a32f626f9782af34c9a33c2046ef60fd2a7878d378e29fec851806bbd9a67878f3a9f1cda4830763fd";
    check_valid(K, &empty(r#""e30=""#, 2, sha512), true, &[]);
    // Unregistered algorithm: only the size is checked.
    check_valid(
        K,
        &empty(r#""e30=""#, 2, "md5:99914b932bd37a50b983c5e7c90ae93b"),
        true,
        &[],
    );
}

#[test]
fn blake3_data_is_checked() {
    let digest = format!("blake3:{}", blake3_of_braces());
    let json = format!(
        r#"{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{digest}","size":2,"data":"e30="}}"#
    );
    check_valid(Kind::Descriptor, &json, true, &[]);
    let wrong = json.replace(&digest, &format!("blake3:{}", "0".repeat(64)));
    check_valid(Kind::Descriptor, &wrong, false, &[("/data", "D14")]);
}

/// BLAKE3 of `{}`, from the blake3 crate (a dependency of the library).
fn blake3_of_braces() -> String {
    blake3::hash(b"{}").to_hex().to_string()
}

fn manifest(config_type: &str, extra: &str, layers: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"{config_type}","digest":"{SHA_A}","size":2}},"layers":[{layers}]{extra}}}"#
    )
}

#[test]
fn manifest_table() {
    use Kind::Manifest as K;
    let cfg = "application/vnd.oci.image.config.v1+json";
    let empty = "application/vnd.oci.empty.v1+json";
    let layer = desc("");
    let table: Vec<Row> = vec![
        (manifest(cfg, "", &layer), true, &[]),
        (
            manifest(cfg, "", &layer).replace(r#""schemaVersion":2"#, r#""schemaVersion":1"#),
            false,
            &[("/schemaVersion", "M1")],
        ),
        (
            manifest(cfg, "", &layer).replace(r#""schemaVersion":2,"#, ""),
            false,
            &[("/schemaVersion", "M1")],
        ),
        (
            manifest(cfg, "", &layer).replace(
                r#""mediaType":"application/vnd.oci.image.manifest.v1+json","#,
                "",
            ),
            true,
            &[("/mediaType", "M2")],
        ),
        (
            manifest(cfg, "", &layer).replace("image.manifest.v1", "image.index.v1"),
            false,
            &[("/mediaType", "M3")],
        ),
        (
            manifest(
                "application/vnd.example.cfg",
                r#","artifactType":"sbom""#,
                &layer,
            ),
            false,
            &[("/artifactType", "M4")],
        ),
        (
            manifest(empty, "", &layer),
            false,
            &[("/artifactType", "M5")],
        ),
        (
            manifest(
                empty,
                r#","artifactType":"application/vnd.example.sbom""#,
                &layer,
            ),
            true,
            &[],
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#
                .to_owned(),
            false,
            &[("/config", "M7"), ("/layers", "M14")],
        ),
        (
            manifest("application/vnd.example.cfg+yaml", "", &layer),
            true,
            &[],
        ),
        (
            manifest("application/vnd example", "", &layer),
            false,
            &[("/config/mediaType", "M12")],
        ),
        (
            manifest(cfg, "", r#""sha256:x""#),
            false,
            &[("/layers/0", "M13")],
        ),
        (manifest(cfg, "", ""), true, &[("/layers", "M14")]),
        (
            manifest(
                cfg,
                "",
                &layer.replace(GZ, "application/vnd.oci.image.layer.v1.tar+zstd"),
            ),
            true,
            &[("/layers/0/mediaType", "M19")],
        ),
        (
            manifest(cfg, "", &layer.replace(GZ, "application/+gzip")),
            false,
            &[("/layers/0/mediaType", "M22")],
        ),
        (
            manifest(cfg, &format!(r#","subject":{}"#, desc("")), &layer),
            true,
            &[],
        ),
        (
            manifest(cfg, r#","subject":"sha256:x""#, &layer),
            false,
            &[("/subject", "M23")],
        ),
        (
            manifest(cfg, r#","annotations":{"com.example.a":true}"#, &layer),
            false,
            &[("/annotations/com.example.a", "A1")],
        ),
        (
            manifest(
                cfg,
                r#","artifactType":"application/vnd.example.sbom""#,
                &layer,
            ),
            false,
            &[("/config/mediaType", "M25")],
        ),
        (
            manifest(
                empty,
                r#","artifactType":"application/vnd.example.sbom""#,
                "",
            ),
            true,
            &[("/layers", "M14"), ("/layers", "M27")],
        ),
        (manifest(cfg, r#","com.example.x":1"#, &layer), true, &[]),
        (
            manifest(cfg, "", &format!("{layer},{}", desc(r#","size":-3"#))),
            false,
            &[("/layers/1/size", "D9"), ("/layers/1/size", "J2")],
        ),
        ("[]".to_owned(), false, &[("", "M1")]),
    ];
    for (json, valid, expected) in &table {
        check_valid(K, json, *valid, expected);
    }
}

fn index(extra: &str, entries: &str) -> String {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{entries}]{extra}}}"#
    )
}

fn entry(platform: &str) -> String {
    format!(
        r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{SHA_A}","size":7,"platform":{platform}}}"#
    )
}

#[test]
fn index_table() {
    use Kind::Index as K;
    let linux = entry(r#"{"architecture":"amd64","os":"linux"}"#);
    let table: Vec<Row> = vec![
        (index("", &linux), true, &[]),
        (index("", ""), true, &[]),
        (
            index("", &linux).replace(r#""schemaVersion":2"#, r#""schemaVersion":"2""#),
            false,
            &[("/schemaVersion", "I2")],
        ),
        (
            index("", &linux).replace(
                r#""mediaType":"application/vnd.oci.image.index.v1+json","#,
                "",
            ),
            true,
            &[("/mediaType", "I3")],
        ),
        (
            index("", &linux).replace("image.index.v1", "image.manifest.v1"),
            false,
            &[("/mediaType", "I4")],
        ),
        (
            index(r#","artifactType":"x""#, &linux),
            false,
            &[("/artifactType", "I5")],
        ),
        (
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#
                .to_owned(),
            false,
            &[("/manifests", "I6")],
        ),
        (
            index("", &linux.replace(":7,", ":-7,")),
            false,
            &[("/manifests/0/size", "D9")],
        ),
        (index("", "1"), false, &[("/manifests/0", "I7")]),
        (
            index(
                "",
                &linux.replace("vnd.oci.image.manifest.v1+json", "vnd.example.thing"),
            ),
            true,
            &[("/manifests/0/mediaType", "I10")],
        ),
        (
            index(
                "",
                &format!(
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{SHA_A}","size":7}}"#
                ),
            ),
            true,
            &[("/manifests/0/platform", "D17")],
        ),
        (
            index("", &entry(r#"{"os":"linux"}"#)),
            false,
            &[("/manifests/0/platform/architecture", "I13")],
        ),
        (
            index("", &entry(r#"{"architecture":"x86_64","os":"macos"}"#)),
            true,
            &[
                ("/manifests/0/platform/architecture", "I14"),
                ("/manifests/0/platform/os", "I14"),
            ],
        ),
        (
            index(
                "",
                &entry(r#"{"architecture":"amd64","os":"windows","os.features":["win32k","x"]}"#),
            ),
            true,
            &[("/manifests/0/platform/os.features/1", "I15")],
        ),
        (
            index(
                "",
                &entry(r#"{"architecture":"arm","os":"linux","variant":"v9"}"#),
            ),
            true,
            &[("/manifests/0/platform/variant", "I16")],
        ),
        (
            index(
                "",
                &entry(r#"{"architecture":"amd64","os":"linux","features":[]}"#),
            ),
            true,
            &[("/manifests/0/platform/features", "I17")],
        ),
        (
            index(
                "",
                &entry(r#"{"architecture":"arm64","os":"linux","variant":"v9.2"}"#),
            ),
            true,
            &[],
        ),
        (
            index(r#","subject":[]"#, &linux),
            false,
            &[("/subject", "I19")],
        ),
        (
            index(
                r#","annotations":{"org.opencontainers.image.ref.name":"v1.0"}"#,
                &linux,
            ),
            true,
            &[],
        ),
    ];
    for (json, valid, expected) in &table {
        check_valid(K, json, *valid, expected);
    }
}

const CONFIG: &str = r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"]}"#;

fn config(extra: &str) -> String {
    format!("{CONFIG}{extra}}}")
}

#[test]
fn config_table() {
    use Kind::Config as K;
    let table: Vec<Row> = vec![
        (config(""), true, &[]),
        (config(r#","created":null,"author":null,"config":null,"history":null,"variant":null,"os.version":null,"os.features":null"#), true, &[]),
        (config(r#","config":{"Env":null,"Cmd":null,"Entrypoint":null,"Labels":null,"Volumes":null,"ExposedPorts":null,"User":null}"#), true, &[]),
        (config(r#","created":"2025-01-01T00:00:00.5+01:00""#), true, &[]),
        (config(r#","created":"2025-01-01T00:00:00""#), false, &[("/created", "C5")]),
        (config("").replace(r#""architecture":"amd64","#, ""), false, &[("/architecture", "C6")]),
        (config("").replace("amd64", "x86_64"), true, &[("/architecture", "C6")]),
        (config("").replace(r#""os":"linux","#, r#""os":3,"#), false, &[("/os", "C7")]),
        (config(r#","os.version":1"#), false, &[("/os.version", "C8")]),
        (config(r#","variant":"v9""#), true, &[("/variant", "C9")]),
        (config(r#","config":{"Labels":{"com.example.a":1}}"#), false, &[("/config/Labels/com.example.a", "C12")]),
        (config(r#","config":{"Labels":{"com.example.a":"1","com.example.a":"1"}}"#), false, &[("/config/Labels/com.example.a", "A3")]),
        (config(r#","config":{"Env":["A=1","B","=c"]}"#), true, &[("/config/Env/1", "C13"), ("/config/Env/2", "C13")]),
        (config(r#","config":{"Env":[1]}"#), false, &[("/config/Env/0", "C13")]),
        (config(r#","config":{"Cmd":"sh","ExposedPorts":["80/tcp"],"Volumes":{"/v":1}}"#), false, &[("/config/Cmd", "C4"), ("/config/ExposedPorts", "C4"), ("/config/Volumes/~1v", "C4")]),
        (r#"{"architecture":"amd64","os":"linux"}"#.to_owned(), false, &[("/rootfs", "C14")]),
        (r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layer"}}"#.to_owned(), false, &[("/rootfs/diff_ids", "C14"), ("/rootfs/type", "C14")]),
        (r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:ab",3]}}"#.to_owned(), false, &[("/rootfs/diff_ids/0", "DG6"), ("/rootfs/diff_ids/1", "C14")]),
        (config(r#","container_config":{},"docker_version":"27""#), true, &[]),
        (config(r#","history":[{"created":"now","empty_layer":1}]"#), false, &[("/history/0/created", "C18"), ("/history/0/empty_layer", "C18")]),
        (config(r#","history":[{"created_by":"a"},{"created_by":"b"}]"#), true, &[("/history", "C19")]),
        (config(r#","history":[{"created_by":"a"},{"created_by":"b","empty_layer":true}]"#), true, &[]),
        (config(r#","config":{"ArgsEscaped":true,"Healthcheck":{}}"#), true, &[("/config/ArgsEscaped", "C20"), ("/config/Healthcheck", "C20")]),
        ("null".to_owned(), false, &[("", "C6")]),
    ];
    for (json, valid, expected) in &table {
        check_valid(K, json, *valid, expected);
    }
}

#[test]
fn oci_layout_table() {
    use Kind::OciLayout as K;
    check_valid(K, r#"{"imageLayoutVersion":"1.0.0"}"#, true, &[]);
    check_valid(K, r#"{"imageLayoutVersion":"1.0.0","x":1}"#, true, &[]);
    check_valid(
        K,
        r#"{"imageLayoutVersion":"2.0.0"}"#,
        false,
        &[("/imageLayoutVersion", "L3")],
    );
    check_valid(K, r#"{}"#, false, &[("/imageLayoutVersion", "L3")]);
    check_valid(K, r#"[]"#, false, &[("", "L3")]);
}

#[test]
fn json_rules() {
    // J1: not UTF-8, with the offset in the message.
    let report = validate(Kind::OciLayout, b"{\"imageLayoutVersion\":\"1.0\xff\"}");
    assert_eq!(report.rules(), ["J1"]);
    assert!(
        report.violations[0].message.contains("offset 26"),
        "{report:?}"
    );
    // J1: not JSON at all, trailing garbage, a BOM, empty input.
    for bad in [&b"{"[..], b"{} {}", b"\xef\xbb\xbf{}", b"", b"{'a':1}"] {
        assert_eq!(validate(Kind::OciLayout, bad).rules(), ["J1"], "{bad:?}");
    }
    // Deep nesting is an error, not a crash.
    let deep = format!(
        r#"{{"imageLayoutVersion":"1.0.0","x":{}}}"#,
        "[".repeat(200_000)
    );
    assert_eq!(validate(Kind::OciLayout, deep.as_bytes()).rules(), ["J1"]);
    // J2: duplicate names anywhere outside annotation maps, each after the first.
    check(
        Kind::OciLayout,
        r#"{"imageLayoutVersion":"1.0.0","a":{"b":1,"b":2,"b":3},"imageLayoutVersion":"1.0.0"}"#,
        &[
            ("/a/b", "J2"),
            ("/a/b", "J2"),
            ("/imageLayoutVersion", "J2"),
        ],
    );
    // J3: integers beyond 2^53 anywhere are warnings.
    check_valid(
        Kind::OciLayout,
        r#"{"imageLayoutVersion":"1.0.0","n":[9007199254740992,-9007199254740993]}"#,
        true,
        &[("/n/1", "J3")],
    );
    // Beyond the double range: allowed by RFC 8259, a J3 warning; as a size, D7.
    check_valid(
        Kind::OciLayout,
        r#"{"imageLayoutVersion":"1.0.0","n":-1e400}"#,
        true,
        &[("/n", "J3")],
    );
    check_valid(
        Kind::Descriptor,
        &desc(r#","size":1E999"#),
        false,
        &[("/size", "D7"), ("/size", "J2"), ("/size", "J3")],
    );
}

#[test]
fn report_collects_every_violation() {
    let json = r#"{"schemaVersion":3,"mediaType":"x","config":{"mediaType":"a","size":-1,"digest":"sha256:AB"},"layers":[{"mediaType":"b/c","size":"1","digest":"md5:"}]}"#;
    let report = validate(Kind::Manifest, json.as_bytes());
    let found: Vec<(&str, &str)> = report
        .violations
        .iter()
        .map(|v| (v.pointer.as_str(), v.rule))
        .collect();
    assert_eq!(
        found,
        [
            ("/config/digest", "DG6"),
            ("/config/mediaType", "M12"),
            ("/config/size", "D9"),
            ("/layers/0/digest", "DG1"),
            ("/layers/0/size", "D7"),
            ("/mediaType", "M3"),
            ("/schemaVersion", "M1"),
        ]
    );
    assert!(report.violations.iter().all(|v| v.level == Level::Error));
    assert_eq!(report.errors().count(), 7);
    assert_eq!(report.warnings().count(), 0);
}

#[test]
fn messages_name_the_value_at_fault() {
    let report = validate(Kind::Descriptor, desc(r#","size":-42"#).as_bytes());
    let by_rule = |rule: &str| {
        report
            .violations
            .iter()
            .find(|v| v.rule == rule)
            .map(|v| v.message.clone())
            .unwrap_or_default()
    };
    assert!(by_rule("D9").contains("-42"), "{report:?}");
    let report = validate(
        Kind::Config,
        config(r#","created":"last tuesday""#).as_bytes(),
    );
    assert!(
        report.violations[0].message.contains("\"last tuesday\""),
        "{report:?}"
    );
    assert_eq!(report.violations[0].level, Level::Error);
    assert_eq!(
        report.violations[0].to_string(),
        format!("/created C5 error {}", report.violations[0].message)
    );
}

#[test]
fn kind_names_round_trip() {
    for kind in Kind::ALL {
        assert_eq!(Kind::from_name(kind.name()), Some(kind));
    }
    assert_eq!(Kind::from_name("layout"), Some(Kind::OciLayout));
    assert_eq!(Kind::from_name("image"), None);
}
