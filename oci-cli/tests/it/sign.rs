//! `ocimg sign` and `ocimg verify`, `--policy` on copy, unpack and bundle, signatures
//! carried by `copy`: against skopeo (standalone-verify, copy under the same policy),
//! gpg, openssl and Python's `cryptography`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use oci_test_support::cli::peer;
use serde_json::Value;

use crate::{ocimg, scratch};

const SIMPLE: &str = "application/vnd.ocimg.simple-signing.v1";
const COSIGN_REFERRER: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("one JSON value: {e}: {out:?}"))
}

fn run(command: &mut Command) -> Output {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(out.status.success(), "{command:?}: {out:?}");
    out
}

/// A private gnupg home (short path: the agent's socket) with one ed25519 key; the
/// agent is stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
    fingerprint: String,
}

impl Gpg {
    fn new() -> Gpg {
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .expect("gpg home");
        fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("chmod");
        let mut g = Gpg {
            home,
            fingerprint: String::new(),
        };
        run(g.gpg().args([
            "--passphrase",
            "",
            "--pinentry-mode",
            "loopback",
            "--quick-gen-key",
            "Test Signer <t@example.com>",
            "ed25519",
            "sign",
            "never",
        ]));
        let out = run(g.gpg().args(["--list-keys", "--with-colons"]));
        g.fingerprint = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("fingerprint")
            .to_owned();
        g
    }

    fn gpg(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.home.path())
            .args(["--batch", "--yes", "--quiet"]);
        c
    }

    /// Writes the secret key (`gpg --export-secret-keys`) and the public keyring.
    fn export(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let secret = dir.join(format!("{name}.sec.gpg"));
        let public = dir.join(format!("{name}.pub.gpg"));
        let out = run(self.gpg().args(["--export-secret-keys", &self.fingerprint]));
        fs::write(&secret, out.stdout).expect("write");
        let out = run(self.gpg().args(["--export", &self.fingerprint]));
        fs::write(&public, out.stdout).expect("write");
        (secret, public)
    }

    fn import(&self, keyring: &Path) {
        run(self.gpg().arg("--import").arg(keyring));
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// A layout `work/layout` with one image tagged `v1`; its manifest digest.
fn image(work: &Path) -> (PathBuf, String) {
    let rootfs = work.join("rootfs");
    fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
    fs::write(rootfs.join("etc/motd"), "signed\n").expect("write");
    let layout = work.join("layout");
    let out = ocimg(&[
        "build",
        "--json",
        &format!("{}:v1", path(&layout)),
        "--rootfs",
        path(&rootfs),
        "--source-date-epoch",
        "1700000000",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let digest = json_of(&out)["digest"].as_str().expect("digest").to_owned();
    (layout, digest)
}

fn index(layout: &Path) -> Vec<Value> {
    let v: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).expect("index")).expect("json");
    v["manifests"].as_array().expect("manifests").clone()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let (alg, hex) = digest.split_once(':').expect("digest");
    fs::read(layout.join("blobs").join(alg).join(hex)).expect("blob")
}

fn blob_json(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&blob(layout, digest)).expect("json blob")
}

/// The untagged index entries of that artifact type.
fn referrers(layout: &Path, artifact_type: &str) -> Vec<Value> {
    index(layout)
        .into_iter()
        .filter(|d| d["artifactType"] == artifact_type && d.get("annotations").is_none())
        .collect()
}

fn sign(image: &str, key: &Path, identity: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "sign",
        "--json",
        image,
        "--key",
        path(key),
        "--identity",
        identity,
    ];
    args.extend_from_slice(extra);
    let out = ocimg(&args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    json_of(&out)
}

/// `ocimg verify --json IMAGE --policy POLICY`: (exit code, report).
fn verify(image: &str, policy: &Path) -> (i32, Value) {
    let out = ocimg(&["verify", "--json", image, "--policy", path(policy)]);
    let code = out.status.code().expect("exit code");
    (code, json_of(&out))
}

fn signed_by(key: &Path, identity: &str) -> String {
    format!(
        r#"{{"type":"signedBy","keyType":"GPGKeys","keyPath":"{}","signedIdentity":{identity}}}"#,
        path(key)
    )
}

fn write_policy(file: &Path, transport: &str, scope: &Path, requirement: &str) -> PathBuf {
    fs::write(
        file,
        format!(
            r#"{{"default":[{{"type":"reject"}}],"transports":{{"{transport}":{{"{}":[{requirement}]}}}}}}"#,
            path(scope)
        ),
    )
    .expect("policy");
    file.to_path_buf()
}

#[test]
fn simple_signature_by_ocimg_passes_skopeo_standalone_verify() {
    if !(peer("gpg") && peer("skopeo")) {
        return;
    }
    let work = scratch("sign-simple-skopeo");
    let (layout, digest) = image(&work);
    let gpg = Gpg::new();
    let other = Gpg::new();
    let (secret, public) = gpg.export(&work, "signer");
    let (_, other_public) = other.export(&work, "other");
    let image = format!("oci:{}:v1", path(&layout));
    let report = sign(&image, &secret, "127.0.0.1:5000/foo:v1", &[]);
    assert_eq!(report["image"], image.as_str());
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(report["format"], "simple");
    assert_eq!(report["stored"].as_array().expect("stored").len(), 1);

    // Stored beside the image: an untagged referrer whose subject is the manifest.
    let found = referrers(&layout, SIMPLE);
    assert_eq!(found.len(), 1, "{found:?}");
    let referrer = blob_json(&layout, found[0]["digest"].as_str().expect("digest"));
    let manifest = blob(&layout, &digest);
    assert_eq!(referrer["subject"]["digest"], digest.as_str());
    assert_eq!(referrer["subject"]["size"], manifest.len());
    assert_eq!(
        referrer["subject"]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(referrer["artifactType"], SIMPLE);
    assert_eq!(
        referrer["config"]["mediaType"],
        "application/vnd.oci.empty.v1+json"
    );
    let sig = blob(
        &layout,
        referrer["layers"][0]["digest"].as_str().expect("layer"),
    );
    let manifest_file = work.join("manifest.json");
    let sig_file = work.join("sig.bin");
    fs::write(&manifest_file, &manifest).expect("write");
    fs::write(&sig_file, &sig).expect("write");

    // skopeo (gpgme) verifies it with the signer's key imported.
    let verifier = Gpg::new();
    verifier.import(&public);
    verifier.import(&other_public);
    let standalone = |manifest: &Path, reference: &str, fingerprint: &str| {
        Command::new("skopeo")
            .env("GNUPGHOME", verifier.home.path())
            .args(["standalone-verify", path(manifest), reference, fingerprint])
            .arg(&sig_file)
            .stdin(Stdio::null())
            .output()
            .expect("run skopeo")
    };
    let ok = standalone(&manifest_file, "127.0.0.1:5000/foo:v1", &gpg.fingerprint);
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains(&digest),
        "{ok:?}"
    );
    // The wrong reference, a changed manifest, the wrong fingerprint: refused.
    let wrong_ref = standalone(&manifest_file, "127.0.0.1:5000/foo:v2", &gpg.fingerprint);
    assert!(!wrong_ref.status.success(), "{wrong_ref:?}");
    let changed = work.join("changed.json");
    let mut bytes = manifest.clone();
    bytes.push(b'\n');
    fs::write(&changed, bytes).expect("write");
    let changed_out = standalone(&changed, "127.0.0.1:5000/foo:v1", &gpg.fingerprint);
    assert!(!changed_out.status.success(), "{changed_out:?}");
    let wrong_fpr = standalone(&manifest_file, "127.0.0.1:5000/foo:v1", &other.fingerprint);
    assert!(!wrong_fpr.status.success(), "{wrong_fpr:?}");

    // ocimg verify agrees: accepted for the signed identity, rejected for another key.
    let policy = write_policy(
        &work.join("policy.json"),
        "oci",
        &layout,
        &signed_by(
            &public,
            r#"{"type":"exactReference","dockerReference":"127.0.0.1:5000/foo:v1"}"#,
        ),
    );
    let (code, v) = verify(&image, &policy);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["accepted"], true);
    assert_eq!(v["digest"], digest.as_str());
    assert_eq!(v["requirements"][0]["type"], "signedBy");
    assert_eq!(v["signatures"][0]["format"], "simple");
    assert_eq!(v["signatures"][0]["signer"], gpg.fingerprint.as_str());
    assert_eq!(v["signatures"][0]["identity"], "127.0.0.1:5000/foo:v1");
    let other_policy = write_policy(
        &work.join("other.json"),
        "oci",
        &layout,
        &signed_by(
            &other_public,
            r#"{"type":"exactReference","dockerReference":"127.0.0.1:5000/foo:v1"}"#,
        ),
    );
    let (code, v) = verify(&image, &other_policy);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["accepted"], false);
}

#[test]
fn verify_verdicts_equal_skopeo_copy_for_every_signed_identity_rule() {
    if !(peer("gpg") && peer("skopeo")) {
        return;
    }
    let work = scratch("verify-vs-skopeo");
    let (layout, digest) = image(&work);
    let gpg = Gpg::new();
    let other = Gpg::new();
    let (secret, key) = gpg.export(&work, "signer");
    let (_, other_key) = other.export(&work, "other");
    let unsigned_layout = work.join("unsigned");
    let out = ocimg(&[
        "copy",
        &format!("oci:{}:v1", path(&layout)),
        &format!("oci:{}:v1", path(&unsigned_layout)),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    sign(
        &format!("oci:{}:v1", path(&layout)),
        &secret,
        "example.com/foo:v1",
        &[],
    );
    // The same manifest and signature as skopeo's dir: images.
    let policy_open = work.join("open.json");
    fs::write(
        &policy_open,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .expect("w");
    let signed_dir = work.join("signed-dir");
    let unsigned_dir = work.join("unsigned-dir");
    for dir in [&signed_dir, &unsigned_dir] {
        run(Command::new("skopeo")
            .arg("--policy")
            .arg(&policy_open)
            .args(["copy", "--remove-signatures"])
            .arg(format!("oci:{}:v1", path(&layout)))
            .arg(format!("dir:{}", path(dir))));
        assert_eq!(
            fs::read(dir.join("manifest.json")).expect("manifest"),
            blob(&layout, &digest),
            "skopeo kept the manifest byte for byte"
        );
    }
    let referrer = blob_json(
        &layout,
        referrers(&layout, SIMPLE)[0]["digest"]
            .as_str()
            .expect("digest"),
    );
    let sig = blob(
        &layout,
        referrer["layers"][0]["digest"].as_str().expect("layer"),
    );
    fs::write(signed_dir.join("signature-1"), sig).expect("write");

    let cases: Vec<(String, bool)> = vec![
        (
            signed_by(
                &key,
                r#"{"type":"exactReference","dockerReference":"example.com/foo:v1"}"#,
            ),
            true,
        ),
        (
            signed_by(
                &key,
                r#"{"type":"exactReference","dockerReference":"example.com/foo:v2"}"#,
            ),
            false,
        ),
        (
            signed_by(
                &key,
                r#"{"type":"exactRepository","dockerRepository":"example.com/foo"}"#,
            ),
            true,
        ),
        (
            signed_by(
                &key,
                r#"{"type":"exactRepository","dockerRepository":"example.com/bar"}"#,
            ),
            false,
        ),
        (signed_by(&key, r#"{"type":"matchExact"}"#), false),
        (
            signed_by(&key, r#"{"type":"matchRepoDigestOrExact"}"#),
            false,
        ),
        (signed_by(&key, r#"{"type":"matchRepository"}"#), false),
        (
            signed_by(
                &key,
                r#"{"type":"remapIdentity","prefix":"example.com","signedPrefix":"example.com"}"#,
            ),
            false,
        ),
        (
            signed_by(
                &other_key,
                r#"{"type":"exactReference","dockerReference":"example.com/foo:v1"}"#,
            ),
            false,
        ),
        (r#"{"type":"reject"}"#.to_owned(), false),
        (r#"{"type":"insecureAcceptAnything"}"#.to_owned(), true),
    ];
    let mut compared = 0;
    for (signed, (ours_image, skopeo_dir)) in [
        (true, (&layout, &signed_dir)),
        (false, (&unsigned_layout, &unsigned_dir)),
    ] {
        for (i, (requirement, expected_signed)) in cases.iter().enumerate() {
            let expected = if signed {
                *expected_signed
            } else {
                requirement.contains("insecureAcceptAnything")
            };
            let skopeo_policy = write_policy(
                &work.join(format!("skopeo-{signed}-{i}.json")),
                "dir",
                skopeo_dir,
                requirement,
            );
            let ours_policy = write_policy(
                &work.join(format!("ours-{signed}-{i}.json")),
                "oci",
                ours_image,
                requirement,
            );
            let dest = work.join(format!("out-{signed}-{i}"));
            let skopeo = Command::new("skopeo")
                .arg("--policy")
                .arg(&skopeo_policy)
                .arg("copy")
                .arg(format!("dir:{}", path(skopeo_dir)))
                .arg(format!("dir:{}", path(&dest)))
                .stdin(Stdio::null())
                .output()
                .expect("run skopeo");
            let (code, report) = verify(&format!("oci:{}:v1", path(ours_image)), &ours_policy);
            assert_eq!(
                skopeo.status.success(),
                expected,
                "skopeo, signed={signed}, case {i}: {requirement}: {skopeo:?}"
            );
            assert_eq!(
                code == 0,
                expected,
                "ocimg, signed={signed}, case {i}: {requirement}: {report}"
            );
            assert_eq!(report["accepted"], expected);
            compared += 1;
        }
    }
    assert_eq!(compared, 22);
}

/// Python's `cryptography` checks an ECDSA P-256 signature over a payload.
const PY_VERIFY: &str = r#"
import sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = serialization.load_pem_public_key(open(sys.argv[1], 'rb').read())
key.verify(open(sys.argv[2], 'rb').read(), open(sys.argv[3], 'rb').read(), ec.ECDSA(hashes.SHA256()))
print('ok')
"#;

#[test]
fn cosign_signature_in_a_layout_checks_with_openssl_and_python() {
    if !(peer("openssl") && peer("python3")) {
        return;
    }
    let work = scratch("sign-cosign");
    let (layout, digest) = image(&work);
    let pw = work.join("pw");
    fs::write(&pw, "s3cret\n").expect("write");
    let prefix = work.join("cosign");
    let out = ocimg(&[
        "key",
        "generate",
        "--passphrase-file",
        path(&pw),
        path(&prefix),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let key = work.join("cosign.key");
    let public = work.join("cosign.pub");
    let image = format!("oci:{}:v1", path(&layout));
    let report = sign(
        &image,
        &key,
        "example.com/foo",
        &["--passphrase-file", path(&pw)],
    );
    assert_eq!(report["format"], "cosign");
    // cosign's tag: sha256-<hex>.sig, one layer per signature.
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let entry = index(&layout)
        .into_iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        .expect("the .sig tag");
    let manifest = blob_json(&layout, entry["digest"].as_str().expect("digest"));
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload = blob(&layout, layers[0]["digest"].as_str().expect("digest"));
    let p: Value = serde_json::from_slice(&payload).expect("payload");
    assert_eq!(p["critical"]["type"], "cosign container image signature");
    assert_eq!(
        p["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(
        p["critical"]["identity"]["docker-reference"],
        "example.com/foo"
    );
    let b64 = layers[0]["annotations"]["dev.cosignproject.cosign/signature"]
        .as_str()
        .expect("signature annotation");
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    let payload_file = work.join("payload.json");
    let sig_file = work.join("sig.der");
    fs::write(&payload_file, &payload).expect("write");
    fs::write(&sig_file, &der).expect("write");
    let openssl = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&public)
        .arg("-signature")
        .arg(&sig_file)
        .arg(&payload_file));
    assert!(
        String::from_utf8_lossy(&openssl.stdout).contains("Verified OK"),
        "{openssl:?}"
    );
    let python = Command::new("python3")
        .args(["-c", PY_VERIFY])
        .arg(&public)
        .arg(&sig_file)
        .arg(&payload_file)
        .output()
        .expect("python3");
    if String::from_utf8_lossy(&python.stderr).contains("No module named 'cryptography'") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI: python3-cryptography is not installed"
        );
    } else {
        assert!(python.status.success(), "{python:?}");
    }

    // A second signature appends a layer to the same tag.
    sign(
        &image,
        &key,
        "example.com/foo:v1",
        &["--passphrase-file", path(&pw)],
    );
    let entry = index(&layout)
        .into_iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        .expect("the .sig tag");
    let manifest = blob_json(&layout, entry["digest"].as_str().expect("digest"));
    assert_eq!(manifest["layers"].as_array().expect("layers").len(), 2);
    assert_eq!(
        index(&layout)
            .iter()
            .filter(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
            .count(),
        1
    );

    // As a referrer (--storage referrers): cosign's artifact type, subject exact.
    sign(
        &image,
        &key,
        "example.com/foo",
        &["--passphrase-file", path(&pw), "--storage", "referrers"],
    );
    let found = referrers(&layout, COSIGN_REFERRER);
    assert_eq!(found.len(), 1, "{found:?}");
    let referrer = blob_json(&layout, found[0]["digest"].as_str().expect("digest"));
    assert_eq!(referrer["subject"]["digest"], digest.as_str());
    assert_eq!(referrer["subject"]["size"], blob(&layout, &digest).len());

    // ocimg verify under sigstoreSigned: accepted (three signatures seen).
    let policy = write_policy(
        &work.join("policy.json"),
        "oci",
        &layout,
        &format!(
            r#"{{"type":"sigstoreSigned","keyPath":"{}","signedIdentity":{{"type":"exactRepository","dockerRepository":"example.com/foo"}}}}"#,
            path(&public)
        ),
    );
    let (code, v) = verify(&image, &policy);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["signatures"].as_array().expect("signatures").len(), 3);
    assert!(
        v["signatures"]
            .as_array()
            .expect("signatures")
            .iter()
            .all(|s| s["format"] == "cosign" && s["accepted"] == true),
        "{v}"
    );
    // Another key: rejected.
    let other = work.join("other");
    let out = ocimg(&["key", "generate", path(&other)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let policy = write_policy(
        &work.join("other.json"),
        "oci",
        &layout,
        &format!(
            r#"{{"type":"sigstoreSigned","keyPath":"{}","signedIdentity":{{"type":"matchRepository"}}}}"#,
            path(&work.join("other.pub"))
        ),
    );
    let (code, v) = verify(&image, &policy);
    assert_eq!(code, 1, "{v}");
}

#[test]
fn copy_carries_signatures_and_remove_signatures_drops_them() {
    if !peer("gpg") {
        return;
    }
    let work = scratch("copy-signatures");
    let (layout, _) = image(&work);
    let gpg = Gpg::new();
    let (secret, public) = gpg.export(&work, "signer");
    let source = format!("oci:{}:v1", path(&layout));
    sign(&source, &secret, "example.com/foo:v1", &[]);
    let out = ocimg(&["key", "generate", path(&work.join("cosign"))]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    sign(&source, &work.join("cosign.key"), "example.com/foo", &[]);
    let requirements = format!(
        r#"{},{{"type":"sigstoreSigned","keyPath":"{}","signedIdentity":{{"type":"exactRepository","dockerRepository":"example.com/foo"}}}}"#,
        signed_by(
            &public,
            r#"{"type":"exactReference","dockerReference":"example.com/foo:v1"}"#
        ),
        path(&work.join("cosign.pub"))
    );
    let policy = work.join("policy.json");
    fs::write(
        &policy,
        format!(
            r#"{{"default":[{requirements}],"transports":{{"docker-archive":{{"":[{{"type":"insecureAcceptAnything"}}]}}}}}}"#
        ),
    )
    .expect("policy");
    assert_eq!(verify(&source, &policy).0, 0);

    // Into a layout and an archive: both signatures go along and verify there.
    for dest in [
        format!("oci:{}:v1", path(&work.join("copy"))),
        format!("oci-archive:{}:v1", path(&work.join("copy.tar"))),
    ] {
        let out = ocimg(&["copy", &source, &dest]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let (code, v) = verify(&dest, &policy);
        assert_eq!(code, 0, "{dest}: {v}");
        assert_eq!(v["signatures"].as_array().expect("signatures").len(), 2);
    }
    // A copy of the copy carries them again.
    let again = format!("oci:{}:v1", path(&work.join("again")));
    let out = ocimg(&[
        "copy",
        &format!("oci-archive:{}:v1", path(&work.join("copy.tar"))),
        &again,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(verify(&again, &policy).0, 0);

    // --remove-signatures: the copy has none, and is rejected.
    let bare = format!("oci:{}:v1", path(&work.join("bare")));
    let out = ocimg(&["copy", "--remove-signatures", &source, &bare]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(index(&work.join("bare")).len(), 1);
    let (code, v) = verify(&bare, &policy);
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        v["requirements"][0]["reason"],
        "a signature was required, but no signature exists"
    );

    // A docker-archive cannot hold them: refused, unless they are removed.
    let tar = work.join("d.tar");
    let out = ocimg(&["copy", &source, &format!("docker-archive:{}", path(&tar))]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot hold signatures"),
        "{out:?}"
    );
    let out = ocimg(&[
        "copy",
        "--remove-signatures",
        &source,
        &format!("docker-archive:{}", path(&tar)),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A copy that changes the signed manifest would invalidate them: refused.
    let out = ocimg(&[
        "copy",
        "--compress",
        "zstd",
        &source,
        &format!("oci:{}:z", path(&work.join("zstd"))),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--remove-signatures"),
        "{out:?}"
    );
}

#[test]
fn policy_on_copy_unpack_and_bundle_refuses_before_writing() {
    if !peer("gpg") {
        return;
    }
    let work = scratch("policy-before-writing");
    let (layout, _) = image(&work);
    let gpg = Gpg::new();
    let (secret, public) = gpg.export(&work, "signer");
    let unsigned = format!("oci:{}:v1", path(&layout));
    let policy = work.join("policy.json");
    fs::write(
        &policy,
        format!(
            r#"{{"default":[{}]}}"#,
            signed_by(
                &public,
                r#"{"type":"exactReference","dockerReference":"example.com/foo:v1"}"#
            )
        ),
    )
    .expect("policy");
    let dest = work.join("dest");
    for args in [
        vec!["copy", unsigned.as_str(), "--policy", path(&policy)],
        vec!["unpack", unsigned.as_str(), "--policy", path(&policy)],
        vec!["bundle", unsigned.as_str(), "--policy", path(&policy)],
    ] {
        let mut args = args;
        let target = if args[0] == "copy" {
            format!("oci:{}:v1", path(&dest))
        } else {
            path(&dest).to_owned()
        };
        args.insert(2, &target);
        args.push("--json");
        let out = ocimg(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert!(
            json_of(&out)["error"]
                .as_str()
                .is_some_and(|e| e.contains("no signature exists")),
            "{out:?}"
        );
        assert!(!dest.exists(), "{args:?} wrote {}", dest.display());
    }
    // Signed: accepted, and written.
    sign(&unsigned, &secret, "example.com/foo:v1", &[]);
    let out = ocimg(&[
        "unpack",
        &unsigned,
        path(&dest),
        "--policy",
        path(&policy),
        "--rootless",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        fs::read_to_string(dest.join("etc/motd")).expect("unpacked"),
        "signed\n"
    );
}

#[test]
fn sign_into_an_oci_archive_and_refusals() {
    let work = scratch("sign-archive");
    let (layout, digest) = image(&work);
    let archive = work.join("img.tar");
    let out = ocimg(&[
        "copy",
        &format!("oci:{}:v1", path(&layout)),
        &format!("oci-archive:{}:v1", path(&archive)),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = ocimg(&["key", "generate", path(&work.join("k"))]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let key = work.join("k.key");
    let image = format!("oci-archive:{}:v1", path(&archive));
    let report = sign(&image, &key, "example.com/foo", &[]);
    assert_eq!(report["digest"], digest.as_str());
    let policy = work.join("policy.json");
    fs::write(
        &policy,
        format!(
            r#"{{"default":[{{"type":"sigstoreSigned","keyPath":"{}","signedIdentity":{{"type":"exactRepository","dockerRepository":"example.com/foo"}}}}]}}"#,
            path(&work.join("k.pub"))
        ),
    )
    .expect("policy");
    let (code, v) = verify(&image, &policy);
    assert_eq!(code, 0, "{v}");
    // The image is still there, under its tag.
    let out = ocimg(&["inspect", "--json", &image]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // A key that does not fit --format, a docker-archive: usage or I/O errors (exit 2).
    let out = ocimg(&[
        "sign",
        &image,
        "--key",
        path(&key),
        "--identity",
        "example.com/foo",
        "--format",
        "simple",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let tar = work.join("d.tar");
    let out = ocimg(&[
        "copy",
        "--remove-signatures",
        &image,
        &format!("docker-archive:{}:foo:v1", path(&tar)),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = ocimg(&[
        "sign",
        "--json",
        &format!("docker-archive:{}", path(&tar)),
        "--key",
        path(&key),
        "--identity",
        "example.com/foo",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(json_of(&out)["error"].is_string(), "{out:?}");
    // A missing policy file: exit 2.
    let out = ocimg(&[
        "verify",
        &image,
        "--policy",
        path(&work.join("missing.json")),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
