//! `ocimg validate`: output shapes and exit codes (CLI.md).

use crate::{ocimg, scratch};

const GOOD: &str = r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b","size":10}"#;
const BAD: &str = r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:6C3C624B58DBBCD3C0DD82B4C53F04194D1247C6EEBDAAB7C610CF7D66709B3B","size":-1}"#;
const WARN: &str = r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b","size":10,"urls":["ftp://example.org/l.tar"]}"#;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fixture");
    path.display().to_string()
}

#[test]
fn validate_valid_file_exits_0_and_prints_nothing() {
    let dir = scratch("validate-valid");
    let good = write(&dir, "good.json", GOOD);
    let out = ocimg(&["validate", "--kind", "descriptor", &good]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn validate_invalid_file_prints_one_line_per_violation_and_exits_1() {
    let dir = scratch("validate-invalid");
    let bad = write(&dir, "bad.json", BAD);
    let out = ocimg(&["validate", "--kind", "descriptor", &bad]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("{bad}: /digest DG6 error ")),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with(&format!("{bad}: /size D9 error ")),
        "{stdout}"
    );
    assert!(lines[1].contains("-1"), "{stdout}");
}

#[test]
fn validate_warnings_do_not_change_the_exit_code() {
    let dir = scratch("validate-warn");
    let warn = write(&dir, "warn.json", WARN);
    let out = ocimg(&["validate", "--kind", "descriptor", &warn]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        stdout.starts_with(&format!("{warn}: /urls/0 D11 warning ")),
        "{stdout}"
    );
}

#[test]
fn validate_json_shape() {
    let dir = scratch("validate-json");
    let good = write(&dir, "good.json", GOOD);
    let bad = write(&dir, "bad.json", BAD);
    let out = ocimg(&["validate", "--json", "--kind", "descriptor", &good, &bad]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
    let results = value.as_array().expect("an array");
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["file"], good.as_str());
    assert_eq!(results[0]["valid"], true);
    assert_eq!(results[0]["violations"], serde_json::json!([]));
    assert_eq!(results[1]["file"], bad.as_str());
    assert_eq!(results[1]["valid"], false);
    let v = &results[1]["violations"][1];
    let keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{v}");
    assert_eq!(v["pointer"], "/size");
    assert_eq!(v["rule"], "D9");
    assert_eq!(v["level"], "error");
    assert!(
        v["message"].as_str().is_some_and(|m| m.contains("-1")),
        "{v}"
    );
}

#[test]
fn validate_unreadable_file_exits_2_and_still_validates_the_others() {
    let dir = scratch("validate-missing");
    let bad = write(&dir, "bad.json", BAD);
    let missing = dir.join("missing.json").display().to_string();
    let out = ocimg(&["validate", "--json", "--kind", "descriptor", &missing, &bad]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
    // The report is the answer: the unreadable file is in it, in order, with its error.
    assert_eq!(value[0]["file"], missing.as_str());
    assert_eq!(value[0]["valid"], false);
    assert!(
        value[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("missing.json")),
        "{value}"
    );
    assert_eq!(value[1]["file"], bad.as_str());
    assert_eq!(value[1]["valid"], false);
    assert!(value[1].get("error").is_none(), "{value}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing.json"), "{stderr}");
}

#[test]
fn validate_each_kind_by_name() {
    let dir = scratch("validate-kinds");
    let cases = [
        (
            "manifest",
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b","size":2},"layers":[]}"#,
            0,
        ),
        ("index", r#"{"schemaVersion":2,"manifests":[]}"#, 0),
        ("config", r#"{"architecture":"amd64","os":"linux"}"#, 1),
        ("oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#, 0),
        ("oci-layout", "not json", 1),
    ];
    for (i, (kind, text, code)) in cases.into_iter().enumerate() {
        let file = write(&dir, &format!("{i}.json"), text);
        let out = ocimg(&["validate", "--kind", kind, &file]);
        assert_eq!(out.status.code(), Some(code), "{kind} {text}: {out:?}");
    }
}

#[test]
fn validate_usage_errors_exit_2() {
    let dir = scratch("validate-usage");
    let good = write(&dir, "good.json", GOOD);
    assert_eq!(
        ocimg(&["validate", "--kind", "image", &good]).status.code(),
        Some(2)
    );
    assert_eq!(ocimg(&["validate", &good]).status.code(), Some(2));
    assert_eq!(
        ocimg(&["validate", "--kind", "descriptor"]).status.code(),
        Some(2)
    );
}

#[test]
fn validate_reads_standard_input() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_ocimg"))
        .args(["validate", "--kind", "descriptor", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ocimg");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(BAD.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("-: /digest DG6 error"));
}
