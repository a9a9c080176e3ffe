//! `ocimg key generate`: a cosign key pair that reads back, JSON shape, no overwrite.

use oci_sign::cosign::{CosignPrivateKey, CosignPublicKey};

use crate::{ocimg, scratch};

#[test]
fn key_generate_writes_a_cosign_key_pair() {
    let dir = scratch("key-generate");
    let pw = dir.join("pw");
    std::fs::write(&pw, "s3cret\n").expect("write");
    let prefix = dir.join("cosign");
    let out = ocimg(&[
        "key",
        "generate",
        "--json",
        "--passphrase-file",
        pw.to_str().expect("utf-8"),
        prefix.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
    let private = dir.join("cosign.key");
    let public = dir.join("cosign.pub");
    assert_eq!(v["privateKey"], private.to_str().expect("utf-8"));
    assert_eq!(v["publicKey"], public.to_str().expect("utf-8"));
    let pem = std::fs::read(&private).expect("read key");
    assert!(pem.starts_with(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&private)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The trailing newline of the passphrase file is not part of the passphrase.
    let key = CosignPrivateKey::from_encrypted_pem(&pem, b"s3cret").expect("decrypts");
    let pubkey =
        CosignPublicKey::from_pem(&std::fs::read(&public).expect("read pub")).expect("SPKI PEM");
    assert_eq!(key.public_key(), pubkey);
    let sig = key.sign(b"payload");
    pubkey.verify(b"payload", &sig).expect("verifies");

    // Existing files are never overwritten: exit 2 and the key is unchanged.
    let again = ocimg(&["key", "generate", prefix.to_str().expect("utf-8")]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert_eq!(std::fs::read(&private).expect("read key"), pem);
}

#[test]
fn key_generate_without_passphrase_file_uses_an_empty_passphrase() {
    let dir = scratch("key-generate-empty");
    let prefix = dir.join("k");
    let out = ocimg(&["key", "generate", prefix.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let pem = std::fs::read(dir.join("k.key")).expect("read key");
    CosignPrivateKey::from_encrypted_pem(&pem, b"").expect("empty passphrase");
    let missing = ocimg(&[
        "key",
        "generate",
        "--passphrase-file",
        "/nonexistent/pw",
        "x",
    ]);
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
}
