//! `ocimg digest`: sha256sum-like lines, JSON shape, standard input, exit codes.

use std::process::Command;

use oci_test_support::cli::run_with_input;

use crate::{ocimg, scratch};

const ABC_SHA256: &str = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const EMPTY_SHA256: &str =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

#[test]
fn digest_prints_sha256sum_like_lines() {
    let dir = scratch("digest-lines");
    let abc = dir.join("abc");
    let empty = dir.join("empty");
    std::fs::write(&abc, b"abc").expect("write");
    std::fs::write(&empty, b"").expect("write");
    let out = ocimg(&[
        "digest",
        abc.to_str().expect("utf-8"),
        empty.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!(
            "{ABC_SHA256}  {}\n{EMPTY_SHA256}  {}\n",
            abc.display(),
            empty.display()
        )
    );
}

#[test]
fn digest_matches_sha256sum() {
    let dir = scratch("digest-sha256sum");
    let file = dir.join("data");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &data).expect("write");
    let path = file.to_str().expect("utf-8");
    if !oci_test_support::cli::peer("sha256sum") {
        return;
    }
    let peer = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    assert!(peer.status.success());
    let out = ocimg(&["digest", path]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), format!("sha256:{}", stdout(&peer)));
}

#[test]
fn digest_sha512_and_blake3() {
    let dir = scratch("digest-algorithms");
    let abc = dir.join("abc");
    std::fs::write(&abc, b"abc").expect("write");
    let path = abc.to_str().expect("utf-8");
    let out = ocimg(&["digest", "--algorithm", "sha512", path]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!(
            "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f  {path}\n"
        )
    );
    let out = ocimg(&["digest", path, "--algorithm", "blake3"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!(
            "blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85  {path}\n"
        )
    );
}

#[test]
fn digest_reads_standard_input() {
    let out = run_with_input(env!("CARGO_BIN_EXE_ocimg"), &["digest", "-", "-"], b"abc");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Standard input read twice: all of it, then nothing.
    assert_eq!(
        stdout(&out),
        format!("{ABC_SHA256}  -\n{EMPTY_SHA256}  -\n")
    );
}

#[test]
fn digest_missing_file_exits_2_and_digests_the_others() {
    let dir = scratch("digest-missing");
    let abc = dir.join("abc");
    std::fs::write(&abc, b"abc").expect("write");
    let missing = dir.join("no-such-file");
    let (abc, missing) = (
        abc.to_str().expect("utf-8"),
        missing.to_str().expect("utf-8"),
    );
    let out = ocimg(&["digest", missing, abc]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(stdout(&out), format!("{ABC_SHA256}  {abc}\n"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(missing), "stderr names the file: {stderr}");
    // The cause once.
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );

    let out = ocimg(&["digest", "--json", abc, missing]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json.as_array().map(Vec::len), Some(1), "{json}");
}

#[test]
fn digest_json_shape() {
    let dir = scratch("digest-json");
    let abc = dir.join("abc");
    std::fs::write(&abc, b"abc").expect("write");
    let path = abc.to_str().expect("utf-8");
    let out = ocimg(&["digest", "--json", path]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(
        json,
        serde_json::json!([{"file": path, "digest": ABC_SHA256, "size": 3}])
    );
}

#[test]
fn digest_unknown_algorithm_is_a_usage_error() {
    let out = ocimg(&["digest", "--algorithm", "md5", "-"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
}
