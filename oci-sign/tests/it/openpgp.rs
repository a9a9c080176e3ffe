//! OpenPGP simple signing against the real gpg and skopeo.

use std::process::Command;

use oci_sign::openpgp::{Keyring, OpenPgpError, SecretKey, read_packets, verify_message};
use oci_sign::{
    ManifestError, SimpleError, SimpleSignOptions, sign_simple, verify_simple, verify_standalone,
};

use crate::support::{Gpg, KeySpec, manifest, now, output, peer, run};

const REF: &str = "127.0.0.1:5000/foo:v1";

fn peers() -> bool {
    peer("gpg", "--version") && peer("skopeo", "--version")
}

/// gpg signs `data` with extra arguments; returns the blob.
fn gpg_sign(gpg: &Gpg, faked: Option<&str>, args: &[&str], data: &[u8]) -> Vec<u8> {
    let input = gpg.path("input");
    let out = gpg.path("output");
    std::fs::write(&input, data).unwrap();
    let _ = std::fs::remove_file(&out);
    let mut cmd = gpg.gpg(faked);
    cmd.args(["--pinentry-mode", "loopback", "--passphrase", ""])
        .args(args)
        .arg("--output")
        .arg(&out)
        .arg(&input);
    run(&mut cmd);
    std::fs::read(out).unwrap()
}

fn keyring(gpg: &Gpg) -> Keyring {
    Keyring::from_bytes(&gpg.public_keyring()).unwrap()
}

fn skopeo_verify(gpg: &Gpg, manifest: &[u8], reference: &str, fpr: &str, sig: &[u8]) -> bool {
    let m = gpg.path("verify-manifest.json");
    let s = gpg.path("verify-signature");
    std::fs::write(&m, manifest).unwrap();
    std::fs::write(&s, sig).unwrap();
    let out = output(
        Command::new("skopeo")
            .env("GNUPGHOME", gpg.home())
            .arg("standalone-verify")
            .arg(&m)
            .arg(reference)
            .arg(fpr)
            .arg(&s),
    );
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Signature verified")
}

#[test]
fn ocimg_signs_skopeo_standalone_verify_accepts_and_rejects() {
    if !peers() {
        return;
    }
    let gpg = Gpg::new(&KeySpec::default());
    let key = SecretKey::from_bytes(&gpg.secret_key("")).unwrap();
    assert_eq!(key.fingerprint(), gpg.fingerprint);
    let m = manifest();
    let sig = sign_simple(&key, b"", &m, REF, &SimpleSignOptions::default()).unwrap();
    assert!(skopeo_verify(&gpg, &m, REF, &gpg.fingerprint, &sig));
    // A wrong reference, a changed manifest and a wrong fingerprint are rejected.
    assert!(!skopeo_verify(
        &gpg,
        &m,
        "127.0.0.1:5000/foo:v2",
        &gpg.fingerprint,
        &sig
    ));
    let mut changed = m.clone();
    changed.push(b'\n');
    assert!(!skopeo_verify(&gpg, &changed, REF, &gpg.fingerprint, &sig));
    assert!(!skopeo_verify(&gpg, &m, REF, &"0".repeat(40), &sig));
    // And our own verifier agrees.
    let v = verify_simple(&sig, &keyring(&gpg), &m, now()).unwrap();
    assert_eq!(v.fingerprint, gpg.fingerprint);
    assert_eq!(v.payload.docker_reference, REF);
}

#[test]
fn skopeo_standalone_sign_verifies_here() {
    if !peers() {
        return;
    }
    let gpg = Gpg::new(&KeySpec::default());
    let m = manifest();
    let mpath = gpg.path("manifest.json");
    let spath = gpg.path("sig");
    std::fs::write(&mpath, &m).unwrap();
    run(Command::new("skopeo")
        .env("GNUPGHOME", gpg.home())
        .arg("standalone-sign")
        .arg(&mpath)
        .arg(REF)
        .arg(&gpg.fingerprint)
        .arg("-o")
        .arg(&spath));
    let sig = std::fs::read(&spath).unwrap();
    assert_eq!(sig[0], 0xa3, "gpgme writes a compressed message");
    let ring = keyring(&gpg);
    let v = verify_standalone(&m, REF, &gpg.fingerprint, &sig, &ring, now()).unwrap();
    assert_eq!(
        v.payload
            .creator
            .as_deref()
            .map(|c| c.starts_with("atomic")),
        Some(true)
    );
    assert!(v.payload.timestamp.is_some());
    // Lowercase fingerprints are the same fingerprint.
    verify_standalone(&m, REF, &gpg.fingerprint.to_lowercase(), &sig, &ring, now()).unwrap();
    assert!(matches!(
        verify_standalone(
            &m,
            "127.0.0.1:5000/foo:v2",
            &gpg.fingerprint,
            &sig,
            &ring,
            now()
        ),
        Err(SimpleError::IdentityMismatch { .. })
    ));
    assert!(matches!(
        verify_standalone(&m, REF, &"A".repeat(40), &sig, &ring, now()),
        Err(SimpleError::WrongSigner { .. })
    ));
    let mut changed = m.clone();
    changed.push(b' ');
    assert!(matches!(
        verify_standalone(&changed, REF, &gpg.fingerprint, &sig, &ring, now()),
        Err(SimpleError::DigestMismatch { .. })
    ));
}

#[test]
fn passphrase_protected_secret_key() {
    if !peers() {
        return;
    }
    let gpg = Gpg::new(&KeySpec {
        passphrase: Some("sesame"),
        ..KeySpec::default()
    });
    let key = SecretKey::from_bytes(&gpg.secret_key("sesame")).unwrap();
    let m = manifest();
    assert!(matches!(
        sign_simple(&key, b"wrong", &m, REF, &SimpleSignOptions::default()),
        Err(SimpleError::Key(_))
    ));
    let sig = sign_simple(&key, b"sesame", &m, REF, &SimpleSignOptions::default()).unwrap();
    assert!(skopeo_verify(&gpg, &m, REF, &gpg.fingerprint, &sig));
}

#[test]
fn rsa_and_uncompressed_gpg_messages_verify() {
    if !peers() {
        return;
    }
    let gpg = Gpg::new(&KeySpec {
        algo: Some("rsa2048"),
        ..KeySpec::default()
    });
    let data = b"payload bytes";
    let ring = keyring(&gpg);
    for args in [
        &["--sign"][..],
        &["--compress-algo", "none", "--sign"],
        &["--compress-algo", "zlib", "--sign"],
    ] {
        let blob = gpg_sign(&gpg, None, args, data);
        let v = verify_message(&blob, &ring, now()).unwrap();
        assert_eq!(v.data, data);
        assert_eq!(v.fingerprint, gpg.fingerprint);
    }
    // Our own RSA signature goes through skopeo.
    let key = SecretKey::from_bytes(&gpg.secret_key("")).unwrap();
    let m = manifest();
    let sig = sign_simple(&key, b"", &m, REF, &SimpleSignOptions::default()).unwrap();
    assert!(skopeo_verify(&gpg, &m, REF, &gpg.fingerprint, &sig));
}

#[test]
fn hostile_literal_only_and_encrypted_messages() {
    if !peers() {
        return;
    }
    let gpg = Gpg::new(&KeySpec::default());
    let ring = keyring(&gpg);
    let literal = gpg_sign(&gpg, None, &["--store"], b"data");
    assert_eq!(
        verify_message(&literal, &ring, now()),
        Err(OpenPgpError::LiteralOnly)
    );
    let encrypted = gpg_sign(&gpg, None, &["--passphrase", "x", "--symmetric"], b"data");
    assert!(matches!(
        verify_message(&encrypted, &ring, now()),
        Err(OpenPgpError::Encrypted { .. })
    ));
}

#[test]
fn hostile_detached_armored_and_cleartext_blobs() {
    if !peers() {
        return;
    }
    let gpg = Gpg::new(&KeySpec::default());
    let ring = keyring(&gpg);
    let detached = gpg_sign(&gpg, None, &["--detach-sign"], b"data");
    assert_eq!(
        verify_message(&detached, &ring, now()),
        Err(OpenPgpError::Detached)
    );
    let armored = gpg_sign(&gpg, None, &["--armor", "--sign"], b"data");
    assert_eq!(
        verify_message(&armored, &ring, now()),
        Err(OpenPgpError::Armored)
    );
    let clear = gpg_sign(&gpg, None, &["--clearsign"], b"data");
    assert_eq!(
        verify_message(&clear, &ring, now()),
        Err(OpenPgpError::Cleartext)
    );
    assert!(oci_sign::StoredSignature::from_blob(&armored).is_err());
}

#[test]
fn hostile_two_signatures_in_one_blob() {
    if !peers() {
        return;
    }
    let gpg = Gpg::new(&KeySpec::default());
    run(gpg
        .gpg(None)
        .args(["--passphrase", "", "--pinentry-mode", "loopback"])
        .args([
            "--quick-gen-key",
            "Second <s@example.com>",
            "ed25519",
            "sign",
            "never",
        ]));
    let blob = gpg_sign(
        &gpg,
        None,
        &["-u", "t@example.com", "-u", "s@example.com", "--sign"],
        b"data",
    );
    let ring = Keyring::from_bytes(&run(gpg.gpg(None).arg("--export")).stdout).unwrap();
    assert_eq!(ring.fingerprints().len(), 2);
    assert_eq!(
        verify_message(&blob, &ring, now()),
        Err(OpenPgpError::SignatureCount { count: 2 })
    );
}

#[test]
fn hostile_expired_signature() {
    if !peers() {
        return;
    }
    // Key and signature both made in 2020; the signature expired a day later.
    let t = "20200101T000000";
    let gpg = Gpg::new(&KeySpec {
        faked_time: Some(t),
        ..KeySpec::default()
    });
    let ring = keyring(&gpg);
    let blob = gpg_sign(
        &gpg,
        Some("20200101T010000"),
        &["--default-sig-expire", "1d", "--sign"],
        b"data",
    );
    assert!(matches!(
        verify_message(&blob, &ring, now()),
        Err(OpenPgpError::SignatureExpired { .. })
    ));
    // Before expiry it verifies: the rejection is about time only.
    verify_message(&blob, &ring, 1_577_840_400 + 3600).unwrap();
    // Our signer can set an expiry too.
    let key = SecretKey::from_bytes(&gpg.secret_key("")).unwrap();
    let options = SimpleSignOptions {
        timestamp: Some(1_600_000_000),
        expires_in: Some(60),
        ..SimpleSignOptions::default()
    };
    let sig = sign_simple(&key, b"", &manifest(), REF, &options).unwrap();
    assert!(matches!(
        verify_simple(&sig, &ring, &manifest(), now()),
        Err(SimpleError::OpenPgp(OpenPgpError::SignatureExpired { .. }))
    ));
}

#[test]
fn hostile_expired_key() {
    if !peers() {
        return;
    }
    let gpg = Gpg::new(&KeySpec {
        faked_time: Some("20200101T000000"),
        expire: Some("1d"),
        ..KeySpec::default()
    });
    let blob = gpg_sign(&gpg, Some("20200101T010000"), &["--sign"], b"data");
    let ring = keyring(&gpg);
    verify_message(&blob, &ring, 1_577_840_400 + 7200).unwrap();
    assert!(matches!(
        verify_message(&blob, &ring, now()),
        Err(OpenPgpError::KeyExpired { .. })
    ));
}

#[test]
fn hostile_revoked_key() {
    if !peers() {
        return;
    }
    let gpg = Gpg::new(&KeySpec::default());
    let blob = gpg_sign(&gpg, None, &["--sign"], b"data");
    verify_message(&blob, &keyring(&gpg), now()).unwrap();
    // gpg leaves a revocation certificate beside the key; importing it revokes the key.
    let rev = gpg
        .home()
        .join("openpgp-revocs.d")
        .join(format!("{}.rev", gpg.fingerprint));
    let text = std::fs::read_to_string(rev)
        .unwrap()
        .replace(":-----BEGIN", "-----BEGIN");
    std::fs::write(gpg.path("rev.asc"), text).unwrap();
    run(gpg.gpg(None).arg("--import").arg(gpg.path("rev.asc")));
    assert!(matches!(
        verify_message(&blob, &keyring(&gpg), now()),
        Err(OpenPgpError::KeyRevoked { .. })
    ));
}

#[test]
fn hostile_unknown_key() {
    if !peers() {
        return;
    }
    let signer = Gpg::new(&KeySpec::default());
    let other = Gpg::new(&KeySpec::default());
    let blob = gpg_sign(&signer, None, &["--sign"], b"data");
    assert!(matches!(
        verify_message(&blob, &keyring(&other), now()),
        Err(OpenPgpError::UnknownKey { issuer }) if issuer == signer.fingerprint
    ));
}

#[test]
fn hostile_manifest_changed_after_signing() {
    if !peers() {
        return;
    }
    let gpg = Gpg::new(&KeySpec::default());
    let key = SecretKey::from_bytes(&gpg.secret_key("")).unwrap();
    let m = manifest();
    let sig = sign_simple(&key, b"", &m, REF, &SimpleSignOptions::default()).unwrap();
    let changed = String::from_utf8(m)
        .unwrap()
        .replace("\"size\":2", "\"size\":3");
    assert!(matches!(
        verify_simple(&sig, &keyring(&gpg), changed.as_bytes(), now()),
        Err(SimpleError::DigestMismatch { .. })
    ));
}

#[test]
fn hostile_ambiguous_manifest_and_index() {
    if !peers() {
        return;
    }
    // CVE-2021-41190: a document with both `manifests` and `config`/`layers` is refused
    // even when the signature and digest are right.
    let gpg = Gpg::new(&KeySpec::default());
    let key = SecretKey::from_bytes(&gpg.secret_key("")).unwrap();
    let m = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"manifests":[]}"#;
    let sig = sign_simple(&key, b"", m, REF, &SimpleSignOptions::default()).unwrap();
    assert!(matches!(
        verify_simple(&sig, &keyring(&gpg), m, now()),
        Err(SimpleError::Manifest(ManifestError::Ambiguous { .. }))
    ));
}

#[test]
fn packet_reader_is_bounded_and_strict() {
    assert!(read_packets(&[0x00]).is_err());
    assert!(read_packets(&[0xc2, 0x05, 1]).is_err());
    // A partial length on a signature packet is refused.
    assert!(read_packets(&[0xc2, 0xe1, 1, 2]).is_err());
    let many: Vec<u8> = std::iter::repeat_n([0xcb, 0x00], 17).flatten().collect();
    assert!(matches!(
        read_packets(&many),
        Err(OpenPgpError::TooLarge { .. })
    ));
    assert!(matches!(
        Keyring::from_bytes(b"not a key"),
        Err(oci_sign::openpgp::KeyError::Parse { .. } | oci_sign::openpgp::KeyError::NoKey)
    ));
}
