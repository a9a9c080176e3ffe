//! Policies: strict parsing, identity rules, lookaside, and verdicts against skopeo.

use std::path::Path;
use std::process::Command;

use oci_naming::Reference;
use oci_sign::openpgp::SecretKey;
use oci_sign::policy::{ImageRef, Policy, SignedIdentity, evaluate, identity_matches};
use oci_sign::registries_d::{
    Lookaside, RegistriesD, file_url_path, lookaside_dir, lookaside_path,
};
use oci_sign::{SimpleSignOptions, sign_simple};

use crate::support::{Gpg, KeySpec, manifest, now, output, peer};

fn docker(s: &str) -> ImageRef {
    ImageRef::Docker(Reference::parse_normalized(s).unwrap())
}

#[test]
fn signed_identity_rules_follow_containers_image() {
    use SignedIdentity::*;
    let d = "sha256:0123456789012345678901234567890123456789012345678901234567890123";
    let exact_ref = |r: &str| ExactReference {
        docker_reference: r.to_owned(),
    };
    let exact_repo = |r: &str| ExactRepository {
        docker_repository: r.to_owned(),
    };
    let remap = RemapIdentity {
        prefix: "127.0.0.1:5000/mirror".to_owned(),
        signed_prefix: "example.com".to_owned(),
    };
    let cases: Vec<(SignedIdentity, ImageRef, &str, bool)> = vec![
        (
            MatchExact,
            docker("example.com/foo:v1"),
            "example.com/foo:v1",
            true,
        ),
        (
            MatchExact,
            docker("example.com/foo:v2"),
            "example.com/foo:v1",
            false,
        ),
        (
            MatchExact,
            docker("example.com/foo"),
            "example.com/foo",
            false,
        ),
        (
            MatchRepoDigestOrExact,
            docker("example.com/foo:v1"),
            "example.com/foo:v1",
            true,
        ),
        (
            MatchRepoDigestOrExact,
            docker("example.com/foo:v2"),
            "example.com/foo:v1",
            false,
        ),
        (
            MatchRepoDigestOrExact,
            docker(&format!("example.com/foo@{d}")),
            "example.com/foo:v1",
            true,
        ),
        (
            MatchRepoDigestOrExact,
            docker(&format!("example.com/bar@{d}")),
            "example.com/foo:v1",
            false,
        ),
        (
            MatchRepository,
            docker("example.com/foo:v2"),
            "example.com/foo:v1",
            true,
        ),
        (
            MatchRepository,
            docker("example.com/foo:v2"),
            "example.com/foo",
            true,
        ),
        (
            MatchRepository,
            docker("example.com/bar:v1"),
            "example.com/foo:v1",
            false,
        ),
        (
            exact_ref("example.com/foo:v1"),
            docker("other.com/x:y"),
            "example.com/foo:v1",
            true,
        ),
        (
            exact_ref("example.com/foo:v1"),
            docker("other.com/x:y"),
            "example.com/foo:v2",
            false,
        ),
        (
            exact_repo("example.com/foo"),
            docker("other.com/x:y"),
            "example.com/foo:v9",
            true,
        ),
        (
            exact_repo("example.com/foo"),
            docker("other.com/x:y"),
            "example.com/fooo:v9",
            false,
        ),
        (
            remap.clone(),
            docker("127.0.0.1:5000/mirror/foo:v1"),
            "example.com/foo:v1",
            true,
        ),
        (
            remap.clone(),
            docker("127.0.0.1:5000/mirror/foo:v2"),
            "example.com/foo:v1",
            false,
        ),
        // `/` boundary: mirrorx is not under mirror.
        (
            remap.clone(),
            docker("127.0.0.1:5000/mirrorx/foo:v1"),
            "example.com/x/foo:v1",
            false,
        ),
        (
            remap,
            docker("example.com/foo:v1"),
            "example.com/foo:v1",
            true,
        ),
        // Docker Hub names are compared fully expanded.
        (
            MatchExact,
            docker("busybox"),
            "docker.io/library/busybox:latest",
            false,
        ),
        (MatchExact, docker("busybox:latest"), "busybox:latest", true),
    ];
    for (rule, image, signed, expected) in cases {
        assert_eq!(
            identity_matches(&rule, &image, signed).is_ok(),
            expected,
            "{rule:?} {image:?} {signed}"
        );
    }
    // Non-docker images have no identity: only exactReference / exactRepository work.
    let dir = ImageRef::Path {
        transport: "dir".to_owned(),
        path: "/x".to_owned(),
        tag: None,
    };
    assert!(identity_matches(&MatchRepository, &dir, "example.com/foo:v1").is_err());
    assert!(identity_matches(&exact_repo("example.com/foo"), &dir, "example.com/foo:v1").is_ok());
}

#[test]
fn scopes_longest_match_and_wildcards() {
    let p = Policy::parse(
        br#"{"default":[{"type":"reject"}],"transports":{"docker":{
        "example.com":[{"type":"insecureAcceptAnything"}],
        "example.com/ns/foo:v1":[{"type":"reject"}],
        "*.example.org":[{"type":"insecureAcceptAnything"}],
        "docker.io/library":[{"type":"insecureAcceptAnything"}]},
        "dir":{"/a/b":[{"type":"insecureAcceptAnything"}]}}}"#,
    )
    .unwrap();
    let scope = |i: &ImageRef| p.requirements_for(i).0.to_owned();
    assert_eq!(
        scope(&docker("example.com/ns/foo:v1")),
        "example.com/ns/foo:v1"
    );
    assert_eq!(scope(&docker("example.com/ns/foo:v2")), "example.com");
    assert_eq!(scope(&docker("a.b.example.org/x:1")), "*.example.org");
    assert_eq!(scope(&docker("example.org/x:1")), "default");
    assert_eq!(scope(&docker("busybox")), "docker.io/library");
    let path = |p: &str| ImageRef::Path {
        transport: "dir".to_owned(),
        path: p.to_owned(),
        tag: None,
    };
    assert_eq!(scope(&path("/a/b/c")), "/a/b");
    assert_eq!(scope(&path("/a/bc")), "default");
}

#[test]
fn hostile_policies_are_rejected_whole() {
    for bad in [
        r#"{}"#,
        r#"{"default":[]}"#,
        r#"{"default":[{"type":"reject"}],"default":[{"type":"reject"}]}"#,
        r#"{"default":[{"type":"reject","extra":1}]}"#,
        r#"{"default":[{"type":"nope"}]}"#,
        r#"{"default":[{"type":"reject"}],"transports":{"ftp":{}}}"#,
        r#"{"default":[{"type":"reject"}],"transports":{"docker":{"example*.*.com":[{"type":"reject"}]}}}"#,
        r#"{"default":[{"type":"reject"}],"transports":{"dir":{"relative":[{"type":"reject"}]}}}"#,
        r#"{"default":[{"type":"signedBy","keyType":"GPGKeys"}]}"#,
        r#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a","keyData":"AA=="}]}"#,
        r#"{"default":[{"type":"signedBy","keyType":"X509Certificates","keyPath":"/a"}]}"#,
        r#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a","signedIdentity":{"type":"exactReference","dockerReference":"example.com/foo"}}]}"#,
        r#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/a","signedIdentity":{"type":"matchExact","x":1}}]}"#,
        r#"{"default":[{"type":"sigstoreSigned","keyPaths":["/a"]}]}"#,
        r#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":5}]}"#,
    ] {
        assert!(Policy::parse(bad.as_bytes()).is_err(), "{bad}");
    }
    Policy::parse(br#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPaths":["/a","/b"],"signedIdentity":{"type":"remapIdentity","prefix":"example.com","signedPrefix":"mirror.example.com/x"}}]}"#).unwrap();
    Policy::parse(br#"{"default":[{"type":"sigstoreSigned","keyData":"AA==","signedIdentity":{"type":"matchRepository"}}]}"#).unwrap();
}

#[test]
fn hostile_digests_in_lookaside_paths() {
    // CVE-2024-3727: a digest from outside is validated strictly before it names a path.
    let base = Path::new("/srv/lookaside");
    let r = Reference::parse_normalized("example.com/ns/foo:v1").unwrap();
    let hex = "0123456789abcdef".repeat(4);
    assert_eq!(
        lookaside_path(base, &r, &format!("sha256:{hex}"), 2).unwrap(),
        Path::new(&format!("/srv/lookaside/ns/foo@sha256={hex}/signature-2"))
    );
    for bad in [
        "sha256:../../../../etc/passwd".to_owned(),
        format!("sha256:{}", hex.to_uppercase()),
        format!("sha256:{}", &hex[1..]),
        format!("md5:{hex}"),
        format!("sha256:{hex}/x"),
        format!("sha256:{hex}\0"),
        format!("sha512:{hex}"),
    ] {
        assert!(lookaside_dir(base, &r, &bad).is_err(), "{bad}");
    }
    let hub = Reference::parse_normalized("busybox").unwrap();
    assert_eq!(
        lookaside_dir(base, &hub, &format!("sha256:{hex}")).unwrap(),
        Path::new(&format!("/srv/lookaside/library/busybox@sha256={hex}"))
    );
}

#[test]
fn hostile_signature_counts_and_sizes_are_bounded() {
    // CVE-2023-46737: a store cannot make the reader take unbounded time or memory.
    use oci_sign::policy::SignatureSource as _;
    let dir = tempfile::tempdir().unwrap();
    for n in 1..=1001 {
        std::fs::write(dir.path().join(format!("signature-{n}")), [0xa3]).unwrap();
    }
    let src = Lookaside {
        dir: dir.path().to_owned(),
    };
    assert!(src.signatures().is_err());
    std::fs::remove_file(dir.path().join("signature-1001")).unwrap();
    assert_eq!(src.signatures().unwrap().len(), 1000);
    std::fs::write(
        dir.path().join("signature-2"),
        vec![0xa3; oci_sign::MAX_SIGNATURE_SIZE + 1],
    )
    .unwrap();
    assert!(src.signatures().is_err());
    // Reading stops at the first missing index.
    std::fs::remove_file(dir.path().join("signature-2")).unwrap();
    assert_eq!(src.signatures().unwrap().len(), 1);
}

#[test]
fn registries_d_most_specific_section() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "default-docker:\n  lookaside: file:///default\ndocker:\n  127.0.0.1:5000:\n    lookaside: file:///host\n    use-sigstore-attachments: true\n  127.0.0.1:5000/ns/foo:\n    lookaside: file:///repo\n    lookaside-staging: file:///staging\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("ignored.txt"), "not yaml: [").unwrap();
    let d = RegistriesD::from_dir(dir.path()).unwrap();
    let section = |r: &str| {
        d.section_for(&Reference::parse_normalized(r).unwrap())
            .cloned()
    };
    let repo = section("127.0.0.1:5000/ns/foo:v1").unwrap();
    assert_eq!(repo.read_url(), Some("file:///repo"));
    assert_eq!(repo.write_url(), Some("file:///staging"));
    assert_eq!(
        repo.use_sigstore_attachments, None,
        "sections are not merged"
    );
    let host = section("127.0.0.1:5000/other:v1").unwrap();
    assert_eq!(host.use_sigstore_attachments, Some(true));
    assert_eq!(
        section("example.com/x:1").unwrap().read_url(),
        Some("file:///default")
    );
    assert_eq!(file_url_path("file:///a/b"), Some("/a/b".into()));
    assert_eq!(file_url_path("https://x/y"), None);
    std::fs::write(
        dir.path().join("b.yaml"),
        "docker:\n  example.com:\n    unknown: 1\n",
    )
    .unwrap();
    assert!(RegistriesD::from_dir(dir.path()).is_err());
}

/// A `dir:` image with our manifest, optionally one signature.
fn dir_image(path: &Path, signature: Option<&[u8]>) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::write(path.join("version"), "Directory Transport Version: 1.1\n").unwrap();
    std::fs::write(path.join("manifest.json"), manifest()).unwrap();
    std::fs::write(
        path.join("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"),
        "{}",
    )
    .unwrap();
    if let Some(sig) = signature {
        std::fs::write(path.join("signature-1"), sig).unwrap();
    }
}

#[test]
fn verdicts_equal_skopeo_copy_under_the_same_policy() {
    if !(peer("gpg", "--version") && peer("skopeo", "--version")) {
        return;
    }
    let gpg = Gpg::new(&KeySpec::default());
    let other = Gpg::new(&KeySpec::default());
    let work = tempfile::tempdir().unwrap();
    let key_path = work.path().join("pub.gpg");
    let other_path = work.path().join("other.gpg");
    std::fs::write(&key_path, gpg.public_keyring()).unwrap();
    std::fs::write(&other_path, other.public_keyring()).unwrap();
    let key = SecretKey::from_bytes(&gpg.secret_key("")).unwrap();
    let sig = sign_simple(
        &key,
        b"",
        &manifest(),
        "example.com/foo:v1",
        &SimpleSignOptions::default(),
    )
    .unwrap();
    let signed = work.path().join("signed");
    let unsigned = work.path().join("unsigned");
    dir_image(&signed, Some(&sig));
    dir_image(&unsigned, None);
    let signed_by = |key: &Path, identity: &str| {
        format!(
            r#"{{"type":"signedBy","keyType":"GPGKeys","keyPath":"{}","signedIdentity":{identity}}}"#,
            key.display()
        )
    };
    let k = key_path.as_path();
    let cases: Vec<(String, &Path, bool)> = vec![
        (
            signed_by(
                k,
                r#"{"type":"exactReference","dockerReference":"example.com/foo:v1"}"#,
            ),
            &signed,
            true,
        ),
        (
            signed_by(
                k,
                r#"{"type":"exactReference","dockerReference":"example.com/foo:v2"}"#,
            ),
            &signed,
            false,
        ),
        (
            signed_by(
                k,
                r#"{"type":"exactRepository","dockerRepository":"example.com/foo"}"#,
            ),
            &signed,
            true,
        ),
        (
            signed_by(
                k,
                r#"{"type":"exactRepository","dockerRepository":"example.com/bar"}"#,
            ),
            &signed,
            false,
        ),
        (signed_by(k, r#"{"type":"matchExact"}"#), &signed, false),
        (
            signed_by(k, r#"{"type":"matchRepoDigestOrExact"}"#),
            &signed,
            false,
        ),
        (
            signed_by(k, r#"{"type":"matchRepository"}"#),
            &signed,
            false,
        ),
        (
            signed_by(
                k,
                r#"{"type":"remapIdentity","prefix":"example.com","signedPrefix":"example.com"}"#,
            ),
            &signed,
            false,
        ),
        (
            signed_by(
                &other_path,
                r#"{"type":"exactReference","dockerReference":"example.com/foo:v1"}"#,
            ),
            &signed,
            false,
        ),
        (
            signed_by(
                k,
                r#"{"type":"exactReference","dockerReference":"example.com/foo:v1"}"#,
            ),
            &unsigned,
            false,
        ),
        (r#"{"type":"reject"}"#.to_owned(), &signed, false),
        (
            r#"{"type":"insecureAcceptAnything"}"#.to_owned(),
            &unsigned,
            true,
        ),
    ];
    for (i, (req, image, expected)) in cases.iter().enumerate() {
        let policy = format!(
            r#"{{"default":[{{"type":"reject"}}],"transports":{{"dir":{{"{}":[{req}]}}}}}}"#,
            image.display()
        );
        let policy_path = work.path().join(format!("policy-{i}.json"));
        std::fs::write(&policy_path, &policy).unwrap();
        let dest = work.path().join(format!("out-{i}"));
        let skopeo = output(
            Command::new("skopeo")
                .arg("--policy")
                .arg(&policy_path)
                .arg("copy")
                .arg(format!("dir:{}", image.display()))
                .arg(format!("dir:{}", dest.display())),
        );
        let parsed = Policy::parse(policy.as_bytes()).unwrap();
        let ours = evaluate(
            &parsed,
            &ImageRef::Path {
                transport: "dir".to_owned(),
                path: image.display().to_string(),
                tag: None,
            },
            &manifest(),
            &Lookaside {
                dir: image.to_path_buf(),
            },
            now(),
        );
        assert_eq!(
            skopeo.status.success(),
            *expected,
            "skopeo, case {i}: {req}: {skopeo:?}"
        );
        assert_eq!(ours.accepted, *expected, "ours, case {i}: {req}: {ours:?}");
        assert_eq!(ours.scope, image.display().to_string());
    }
}

#[test]
fn verdict_reports_each_signature() {
    if !peer("gpg", "--version") {
        return;
    }
    let gpg = Gpg::new(&KeySpec::default());
    let key = SecretKey::from_bytes(&gpg.secret_key("")).unwrap();
    let good = sign_simple(
        &key,
        b"",
        &manifest(),
        "example.com/foo:v1",
        &SimpleSignOptions::default(),
    )
    .unwrap();
    let wrong_id = sign_simple(
        &key,
        b"",
        &manifest(),
        "example.com/foo:v2",
        &SimpleSignOptions::default(),
    )
    .unwrap();
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(gpg.public_keyring());
    let policy = Policy::parse(
        format!(r#"{{"default":[{{"type":"signedBy","keyType":"GPGKeys","keyData":"{data}"}}]}}"#)
            .as_bytes(),
    )
    .unwrap();
    let v = evaluate(
        &policy,
        &docker("example.com/foo:v1"),
        &manifest(),
        &vec![wrong_id, b"garbage".to_vec(), good],
        now(),
    );
    assert!(v.accepted);
    assert_eq!(
        v.signatures.len(),
        2,
        "the unrecognized blob is not a simple signature"
    );
    assert!(!v.signatures[0].accepted);
    assert!(v.signatures[0].reason.contains("not accepted"));
    assert_eq!(
        v.signatures[1].signer.as_deref(),
        Some(gpg.fingerprint.as_str())
    );
    let unsigned = evaluate(
        &policy,
        &docker("example.com/foo:v1"),
        &manifest(),
        &Vec::new(),
        now(),
    );
    assert!(!unsigned.accepted);
    assert!(
        unsigned.requirements[0]
            .reason
            .contains("no signature exists")
    );
}

#[test]
fn sigstore_signed_verifies_cosign_signatures() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = oci_sign::cosign::CosignPrivateKey::generate();
    let digest = oci_sign::manifest_digest(&manifest()).unwrap();
    let mut p = oci_sign::Payload::new(&digest, "example.com/foo");
    p.signature_type = oci_sign::COSIGN_TYPE.to_owned();
    let payload = p.to_bytes();
    let json = serde_json::json!({
        "mimeType": oci_sign::cosign::SIMPLESIGNING_MEDIA_TYPE,
        "payload": b64.encode(&payload),
        "annotations": {oci_sign::cosign::SIGNATURE_ANNOTATION: key.sign(&payload)},
    });
    let blob =
        oci_sign::StoredSignature::SigstoreJson(serde_json::to_vec(&json).unwrap()).to_blob();
    let policy = |identity: &str| {
        Policy::parse(
            format!(
                r#"{{"default":[{{"type":"sigstoreSigned","keyData":"{}","signedIdentity":{identity}}}]}}"#,
                b64.encode(key.public_key().to_pem())
            )
            .as_bytes(),
        )
        .unwrap()
    };
    let img = docker("example.com/foo:v1");
    let repo = policy(r#"{"type":"matchRepository"}"#);
    assert!(evaluate(&repo, &img, &manifest(), &vec![blob.clone()], now()).accepted);
    // A tagless cosign identity fails the default rule (containers/image does the same).
    let default = policy(r#"{"type":"matchRepoDigestOrExact"}"#);
    assert!(!evaluate(&default, &img, &manifest(), &vec![blob.clone()], now()).accepted);
    let other = oci_sign::cosign::CosignPrivateKey::generate();
    let json = serde_json::json!({
        "mimeType": oci_sign::cosign::SIMPLESIGNING_MEDIA_TYPE,
        "payload": b64.encode(&payload),
        "annotations": {oci_sign::cosign::SIGNATURE_ANNOTATION: other.sign(&payload)},
    });
    let forged =
        oci_sign::StoredSignature::SigstoreJson(serde_json::to_vec(&json).unwrap()).to_blob();
    let v = evaluate(&repo, &img, &manifest(), &vec![forged], now());
    assert!(!v.accepted);
    assert_eq!(v.signatures[0].format, "cosign");
}
