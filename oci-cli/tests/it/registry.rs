//! `docker://` against a real registry (Debian's docker-registry on loopback, plain, with
//! basic auth, token auth and TLS): skopeo pushes and ocimg pulls byte for byte; ocimg
//! pushes and skopeo pulls, inspects and copies to a layout umoci unpacks to the same
//! tree; a multi-platform index both ways; `tags`, `delete`, `referrers`, `inspect`,
//! `unpack` and `bundle` from a registry; nothing tagged after a failed push.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use oci_digest::Digester;
use oci_spec_types::Algorithm;
use oci_test_support::cli::{json_of, path_str as path, peer, stderr_of};
use oci_test_support::registry::{self, Config, Registry};
use serde_json::Value;

use crate::{ocimg, scratch};

const EPOCH: &str = "1700000000";

/// Whether the registry and skopeo are here (a CI failure when not).
fn peers() -> bool {
    registry::available() && peer("skopeo")
}

/// `skopeo --policy FILE ARGS...` with an accept-anything policy in `work`; must succeed.
fn skopeo(work: &Path, args: &[&str]) -> Output {
    let policy = work.join("policy.json");
    fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .expect("policy");
    let out = Command::new("skopeo")
        .arg("--policy")
        .arg(&policy)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo");
    assert!(out.status.success(), "skopeo {args:?}: {out:?}");
    out
}

fn sample_tree(root: &Path, motd: &str) {
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    fs::create_dir_all(root.join("bin")).expect("mkdir");
    fs::write(root.join("etc/motd"), motd).expect("write");
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("write");
    fs::write(root.join("etc/group"), "root:x:0:\n").expect("write");
    fs::write(root.join("bin/app"), "#!/bin/sh\necho app\n").expect("write");
    fs::set_permissions(root.join("bin/app"), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("app", root.join("bin/app2")).expect("symlink");
    let big: Vec<u8> = (0..700_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(root.join("etc/big.bin"), big).expect("write");
}

/// `ocimg ARGS...` expected to exit 0; its JSON report (`--json` is added after the
/// command when missing).
fn ok(args: &[&str]) -> Value {
    let mut args = args.to_vec();
    if !args.contains(&"--json") {
        args.insert(1, "--json");
    }
    let args = &args[..];
    let out = ocimg(args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
    json_of(&out)
}

/// Builds `DIR:TAG` from a sample tree (two layers: a base and a change) for `platform`;
/// returns the manifest digest.
fn build(work: &Path, layout: &Path, tag: &str, platform: &str) -> String {
    let rootfs = work.join(format!("rootfs-{tag}"));
    sample_tree(&rootfs, "hello\n");
    let base = format!("{}:{tag}-base", path(layout));
    ok(&[
        "build",
        "--json",
        &base,
        "--rootfs",
        path(&rootfs),
        "--platform",
        platform,
        "--source-date-epoch",
        EPOCH,
        "--cmd",
        r#"["/bin/app"]"#,
    ]);
    fs::write(rootfs.join("etc/motd"), format!("image {tag}\n")).expect("write");
    let built = ok(&[
        "build",
        "--json",
        &format!("{}:{tag}", path(layout)),
        "--rootfs",
        path(&rootfs),
        "--base",
        &base,
        "--platform",
        platform,
        "--source-date-epoch",
        EPOCH,
    ]);
    built["digest"].as_str().expect("digest").to_owned()
}

/// A blob of a layout, as bytes.
fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    let (algorithm, encoded) = digest.split_once(':').expect("digest");
    fs::read(layout.join("blobs").join(algorithm).join(encoded)).expect("read blob")
}

/// The digest of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    Digester::digest_bytes(Algorithm::Sha256, bytes)
        .digest
        .to_string()
}

/// The manifest the registry holds under `reference` (a tag or digest), as bytes.
fn registry_manifest(registry: &Registry, repo: &str, reference: &str) -> Vec<u8> {
    let r = registry.get(&format!("/v2/{repo}/manifests/{reference}"));
    assert_eq!(r.status, 200, "{repo}:{reference}: {r:?}");
    r.body
}

/// Every entry under `root`: type, content digest, mode.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let t = meta.file_type();
            let what = if t.is_dir() {
                "dir".to_owned()
            } else if t.is_symlink() {
                format!("symlink {:?}", fs::read_link(&path).expect("readlink"))
            } else {
                format!("file {}", sha256(&fs::read(&path).expect("read")))
            };
            let rel = path.strip_prefix(root).expect("under root");
            out.insert(
                rel.to_string_lossy().into_owned(),
                format!("{what} mode {:o}", meta.mode() & 0o7777),
            );
            if t.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A plain registry and a work directory with one image `app` in `layout`.
fn setup(test: &str) -> (PathBuf, Registry, PathBuf, String) {
    let work = scratch(test);
    let registry = Registry::start(&work.join("registry"), Config::plain());
    let layout = work.join("layout");
    let digest = build(&work, &layout, "app", "linux/amd64");
    (work, registry, layout, digest)
}

#[test]
fn skopeo_pushes_and_ocimg_pulls_the_same_bytes() {
    if !peers() {
        return;
    }
    let (work, registry, layout, digest) = setup("registry-skopeo-push");
    skopeo(
        &work,
        &[
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}:app", path(&layout)),
            &registry.docker("team/app:v1"),
        ],
    );
    let pushed = registry_manifest(&registry, "team/app", "v1");
    let out_layout = work.join("pulled");
    let report = ok(&[
        "copy",
        "--json",
        "--src-tls-verify=false",
        &registry.docker("team/app:v1"),
        &format!("oci:{}:v1", path(&out_layout)),
    ]);
    let pulled_digest = report["digest"].as_str().expect("digest");
    assert_eq!(pulled_digest, sha256(&pushed));
    assert_eq!(blob(&out_layout, pulled_digest), pushed, "byte-identical");
    // skopeo writes the layout's manifest unchanged (an OCI source, an OCI registry).
    assert_eq!(pulled_digest, digest);
    assert_eq!(report["blobs"]["copied"], 4, "{report}");
    let fsck = ok(&["fsck", "--json", path(&out_layout)]);
    assert_eq!(fsck["ok"], true, "{fsck}");
    // inspect from the registry, by tag and by digest.
    let seen = ok(&[
        "inspect",
        "--json",
        "--tls-verify=false",
        &registry.docker("team/app:v1"),
    ]);
    assert_eq!(seen["descriptor"]["digest"], digest);
    assert_eq!(seen["layers"].as_array().map(Vec::len), Some(2));
    let by_digest = ok(&[
        "inspect",
        "--json",
        "--tls-verify=false",
        &registry.docker(&format!("team/app@{digest}")),
    ]);
    assert_eq!(by_digest["manifest"], seen["manifest"]);
    // A second pull skips every blob.
    let again = ok(&[
        "copy",
        "--json",
        "--src-tls-verify=false",
        &registry.docker("team/app:v1"),
        &format!("oci:{}:v1", path(&out_layout)),
    ]);
    assert_eq!(again["blobs"]["copied"], 0, "{again}");
}

#[test]
fn ocimg_pushes_and_skopeo_and_umoci_read_the_same_tree() {
    if !peers() || !peer("umoci") {
        return;
    }
    let (work, registry, layout, digest) = setup("registry-ocimg-push");
    let image = registry.docker("team/app:v1");
    let report = ok(&[
        "copy",
        "--json",
        "--dest-tls-verify=false",
        &format!("oci:{}:app", path(&layout)),
        &image,
    ]);
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(report["destination"], image.as_str());
    assert_eq!(
        report["blobs"],
        serde_json::json!({"copied": 4, "skipped": 0, "mounted": 0})
    );
    assert_eq!(registry.tags("team/app"), ["v1"]);
    let raw = skopeo(&work, &["inspect", "--raw", "--tls-verify=false", &image]);
    assert_eq!(
        raw.stdout,
        blob(&layout, &digest),
        "skopeo sees our manifest bytes"
    );
    // skopeo pulls into a layout; umoci unpacks it; ocimg unpacks from the registry.
    let pulled = work.join("skopeo-layout");
    skopeo(
        &work,
        &[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &image,
            &format!("oci:{}:v1", path(&pulled)),
        ],
    );
    let bundle = work.join("umoci-bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:v1", path(&pulled)))
        .arg(&bundle)
        .output()
        .expect("umoci");
    assert!(out.status.success(), "umoci: {out:?}");
    let ours = work.join("ocimg-rootfs");
    let unpacked = ok(&[
        "unpack",
        "--json",
        "--rootless",
        "--tls-verify=false",
        &image,
        path(&ours),
    ]);
    assert_eq!(unpacked["layers"], 2);
    assert_eq!(snapshot(&bundle.join("rootfs")), snapshot(&ours));
    // A push where the registry has everything sends no blob.
    let again = ok(&[
        "copy",
        "--json",
        "--dest-tls-verify=false",
        &format!("oci:{}:app", path(&layout)),
        &registry.docker("team/app:v2"),
    ]);
    assert_eq!(again["blobs"]["copied"], 0, "{again}");
    // Into another repository of the same registry, blobs are mounted, not sent.
    let mounted = ok(&[
        "copy",
        "--json",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &image,
        &registry.docker("other/app:v1"),
    ]);
    assert_eq!(mounted["blobs"]["mounted"], 3, "{mounted}");
    assert_eq!(mounted["digest"], digest.as_str());
    assert_eq!(registry.tags("other/app"), ["v1"]);
}

#[test]
fn a_multi_platform_index_both_ways() {
    if !peers() {
        return;
    }
    let work = scratch("registry-index");
    let registry = Registry::start(&work.join("registry"), Config::plain());
    let layout = work.join("layout");
    let amd = build(&work, &layout, "amd", "linux/amd64");
    let arm = build(&work, &layout, "arm", "linux/arm64/v8");
    let d = path(&layout);
    let index = ok(&[
        "index",
        "create",
        "--json",
        &format!("{d}:multi"),
        &format!("{d}:amd"),
        &format!("{d}:arm"),
    ]);
    let index_digest = index["digest"].as_str().expect("digest").to_owned();
    // ocimg pushes the index; skopeo reads it and pulls it whole.
    let image = registry.docker("multi/app:v1");
    let pushed = ok(&[
        "copy",
        "--json",
        "--all-platforms",
        "--dest-tls-verify=false",
        &format!("oci:{d}:multi"),
        &image,
    ]);
    assert_eq!(pushed["digest"], index_digest.as_str());
    assert_eq!(
        registry_manifest(&registry, "multi/app", "v1"),
        blob(&layout, &index_digest)
    );
    for child in [&amd, &arm] {
        registry_manifest(&registry, "multi/app", child);
    }
    let pulled = work.join("skopeo-all");
    skopeo(
        &work,
        &[
            "copy",
            "--quiet",
            "--all",
            "--src-tls-verify=false",
            &image,
            &format!("oci:{}:v1", path(&pulled)),
        ],
    );
    // skopeo pushes the index; ocimg pulls it whole, and one platform.
    skopeo(
        &work,
        &[
            "copy",
            "--quiet",
            "--all",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", path(&pulled)),
            &registry.docker("multi/back:v1"),
        ],
    );
    let back = work.join("back");
    let all = ok(&[
        "copy",
        "--json",
        "--all-platforms",
        "--src-tls-verify=false",
        &registry.docker("multi/back:v1"),
        &format!("oci:{}:all", path(&back)),
    ]);
    assert_eq!(all["digest"], index_digest.as_str());
    let one = ok(&[
        "copy",
        "--json",
        "--platform",
        "linux/arm64/v8",
        "--src-tls-verify=false",
        &registry.docker("multi/back:v1"),
        &format!("oci:{}:arm", path(&back)),
    ]);
    assert_eq!(one["digest"], arm.as_str());
    // A platform subset pushed to a registry: that image only, tagged.
    let sub = ok(&[
        "copy",
        "--json",
        "--platform",
        "linux/amd64",
        "--dest-tls-verify=false",
        &format!("oci:{d}:multi"),
        &registry.docker("multi/amd:v1"),
    ]);
    assert_eq!(sub["digest"], amd.as_str());
    let fsck = ok(&["fsck", "--json", path(&back)]);
    assert_eq!(fsck["ok"], true, "{fsck}");
}

#[test]
fn basic_token_and_tls_registries_take_credentials_and_certificates() {
    if !peers() {
        return;
    }
    let work = scratch("registry-auth");
    let layout = work.join("layout");
    let digest = build(&work, &layout, "app", "linux/amd64");
    let source = format!("oci:{}:app", path(&layout));
    for (name, config) in [
        ("basic", Config::basic("alice", "pw1")),
        ("token", Config::token("bob", "pw2")),
        ("tls", Config::tls()),
        ("tls-basic", Config::basic("carol", "pw3").with_tls()),
    ] {
        let registry = Registry::start(&work.join(name), config);
        let image = registry.docker("secure/app:v1");
        let mut side: Vec<String> = Vec::new();
        match registry.cert_dir() {
            Some(certs) => side.push(format!("--cert-dir={}", certs.display())),
            None => side.push("--dest-tls-verify=false".to_owned()),
        }
        // Without credentials (or without the CA), the push is refused: exit 2, nothing
        // tagged.
        let mut args: Vec<String> = vec!["copy".into(), "--json".into()];
        if registry.cert_dir().is_none() {
            args.push("--dest-tls-verify=false".into());
        }
        args.extend([source.clone(), image.clone()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ocimg(&args);
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        assert!(json_of(&out)["error"].is_string(), "{name}: {out:?}");
        assert!(registry.tags("secure/app").is_empty(), "{name}");
        // With them, it goes through.
        let mut args: Vec<String> = vec!["copy".into(), "--json".into()];
        args.extend(side.iter().cloned());
        if let Some(creds) = registry.creds() {
            args.push(format!("--dest-creds={creds}"));
        }
        args.extend([source.clone(), image.clone()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let report = ok(&args);
        assert_eq!(report["digest"], digest.as_str(), "{name}");
        assert_eq!(registry.tags("secure/app"), ["v1"], "{name}");
        // tags and inspect with --creds and the same TLS settings.
        let mut args: Vec<String> = vec!["tags".into(), "--json".into()];
        match registry.cert_dir() {
            Some(certs) => args.push(format!("--cert-dir={}", certs.display())),
            None => args.push("--tls-verify=false".into()),
        }
        if let Some(creds) = registry.creds() {
            args.push(format!("--creds={creds}"));
        }
        args.push(registry.docker("secure/app"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let tags = ok(&args);
        assert_eq!(
            tags,
            serde_json::json!({
                "repository": format!("{}/secure/app", registry.host()),
                "tags": ["v1"],
            }),
            "{name}"
        );
        if let Some(issuer) = registry.issuer() {
            let scopes = issuer.scopes();
            assert!(
                scopes
                    .iter()
                    .any(|s| s.contains("repository:secure/app:") && s.contains("push")),
                "{scopes:?}"
            );
        }
    }
}

#[test]
fn tags_delete_and_a_failed_push_that_tags_nothing() {
    if !peers() {
        return;
    }
    let (work, registry, layout, digest) = setup("registry-tags-delete");
    let source = format!("oci:{}:app", path(&layout));
    for tag in ["a", "b", "c"] {
        ok(&[
            "copy",
            "--json",
            "--dest-tls-verify=false",
            &source,
            &registry.docker(&format!("team/app:{tag}")),
        ]);
    }
    let tags = ok(&[
        "tags",
        "--json",
        "--tls-verify=false",
        &registry.docker("team/app"),
    ]);
    assert_eq!(tags["tags"], serde_json::json!(["a", "b", "c"]));
    // Deleting by digest removes the manifest and so every tag of it.
    let deleted = ok(&[
        "delete",
        "--json",
        "--tls-verify=false",
        &registry.docker(&format!("team/app@{digest}")),
    ]);
    assert_eq!(deleted, serde_json::json!({"deleted": digest}));
    assert!(registry.tags("team/app").is_empty());
    // A missing tag: exit 2 with the reference named.
    let out = ocimg(&[
        "inspect",
        "--tls-verify=false",
        &registry.docker("team/app:nope"),
    ]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(stderr_of(&out).contains("team/app"), "{}", stderr_of(&out));

    // A damaged layer in the source: exit 1, the layer named, nothing tagged.
    let top = ok(&["inspect", "--json", &source]);
    let layer = top["layers"][1]["digest"].as_str().expect("digest");
    let (algorithm, encoded) = layer.split_once(':').expect("digest");
    let file = layout.join("blobs").join(algorithm).join(encoded);
    let mut bytes = fs::read(&file).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&file, &bytes).expect("write");
    let out = ocimg(&[
        "copy",
        "--json",
        "--dest-tls-verify=false",
        &source,
        &registry.docker("broken/app:v1"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr_of(&out).contains(layer), "{}", stderr_of(&out));
    assert!(registry.tags("broken/app").is_empty());
    let _ = work;
}

#[test]
fn unpack_and_bundle_from_a_registry() {
    if !peers() {
        return;
    }
    let (work, registry, layout, _) = setup("registry-unpack");
    let image = registry.docker("team/app:v1");
    ok(&[
        "copy",
        "--json",
        "--dest-tls-verify=false",
        &format!("oci:{}:app", path(&layout)),
        &image,
    ]);
    let from_registry = work.join("from-registry");
    let report = ok(&[
        "unpack",
        "--json",
        "--rootless",
        "--tls-verify=false",
        &image,
        path(&from_registry),
    ]);
    assert_eq!(report["layers"], 2);
    let from_layout = work.join("from-layout");
    ok(&[
        "unpack",
        "--json",
        "--rootless",
        &format!("oci:{}:app", path(&layout)),
        path(&from_layout),
    ]);
    assert_eq!(snapshot(&from_registry), snapshot(&from_layout));
    let bundle = work.join("bundle");
    let report = ok(&[
        "bundle",
        "--json",
        "--rootless",
        "--tls-verify=false",
        &image,
        path(&bundle),
    ]);
    assert_eq!(report["args"], serde_json::json!(["/bin/app"]));
    assert!(bundle.join("config.json").is_file());
    assert_eq!(
        fs::read(bundle.join("rootfs/etc/motd")).expect("motd"),
        b"image app\n"
    );
    // Nothing but the result was written: the work directory holds what it held.
    let mut names: Vec<String> = fs::read_dir(&work)
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "bundle",
            "from-layout",
            "from-registry",
            "layout",
            "registry",
            "rootfs-app"
        ]
    );
}

#[test]
fn registries_conf_mirrors_rewrites_and_blocks() {
    if !peers() {
        return;
    }
    let work = scratch("registry-conf");
    let mirror = Registry::start(&work.join("mirror"), Config::plain());
    let primary = Registry::start(&work.join("primary"), Config::plain());
    let layout = work.join("layout");
    let digest = build(&work, &layout, "app", "linux/amd64");
    let source = format!("oci:{}:app", path(&layout));
    // The mirror has :v1 only; the primary has :v1 and :v2 (under its own namespace).
    ok(&[
        "copy",
        "--dest-tls-verify=false",
        &source,
        &mirror.docker("cache/app:v1"),
    ]);
    for tag in ["v1", "v2"] {
        ok(&[
            "copy",
            "--dest-tls-verify=false",
            &source,
            &primary.docker(&format!("real/app:{tag}")),
        ]);
    }
    let conf = work.join("registries.conf");
    fs::write(
        &conf,
        format!(
            r#"[[registry]]
prefix = "example.test/app"
location = "{primary}/real/app"
insecure = true

[[registry.mirror]]
location = "{mirror}/cache/app"
insecure = true

[[registry]]
location = "blocked.test"
blocked = true
"#,
            primary = primary.host(),
            mirror = mirror.host()
        ),
    )
    .expect("write registries.conf");
    let conf = path(&conf);
    let pulls_before = mirror
        .log()
        .matches("GET /v2/cache/app/manifests/v1")
        .count();
    let out_layout = work.join("out");
    let v1 = ok(&[
        "copy",
        "--json",
        "--registries-conf",
        conf,
        "docker://example.test/app:v1",
        &format!("oci:{}:v1", path(&out_layout)),
    ]);
    assert_eq!(v1["digest"], digest.as_str());
    assert!(
        mirror
            .log()
            .matches("GET /v2/cache/app/manifests/v1")
            .count()
            > pulls_before,
        "the mirror answered first:\n{}",
        mirror.log()
    );
    // The mirror lacks :v2: the pull goes on to the rewritten location.
    let v2 = ok(&[
        "copy",
        "--json",
        "--registries-conf",
        conf,
        "docker://example.test/app:v2",
        &format!("oci:{}:v2", path(&out_layout)),
    ]);
    assert_eq!(v2["digest"], digest.as_str());
    // A push goes to the location, never to a mirror.
    ok(&[
        "copy",
        "--registries-conf",
        conf,
        &source,
        "docker://example.test/app:pushed",
    ]);
    assert_eq!(primary.tags("real/app"), ["pushed", "v1", "v2"]);
    assert_eq!(mirror.tags("cache/app"), ["v1"]);
    // A blocked registry is refused before any request.
    let out = ocimg(&[
        "copy",
        "--json",
        "--registries-conf",
        conf,
        "docker://blocked.test/x:1",
        &format!("oci:{}:x", path(&out_layout)),
    ]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(stderr_of(&out).contains("blocked"), "{}", stderr_of(&out));
    // CONTAINERS_REGISTRIES_CONF is read when --registries-conf is not given.
    let out = Command::new(env!("CARGO_BIN_EXE_ocimg"))
        .args(["tags", "--json", "docker://example.test/app"])
        .env("CONTAINERS_REGISTRIES_CONF", conf)
        .stdin(Stdio::null())
        .output()
        .expect("run ocimg");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        json_of(&out)["tags"],
        serde_json::json!(["pushed", "v1", "v2"])
    );
}

/// Adds to the layout an artifact manifest (an empty config, one blob) whose subject is
/// the manifest `subject` (`size` bytes), listed untagged in index.json; returns its
/// digest.
fn add_artifact(layout: &Path, subject: &str, artifact_type: &str, content: &[u8]) -> String {
    let put = |bytes: &[u8]| -> String {
        let digest = sha256(bytes);
        let (algorithm, encoded) = digest.split_once(':').expect("digest");
        fs::write(layout.join("blobs").join(algorithm).join(encoded), bytes).expect("write blob");
        digest
    };
    let subject_size = blob(layout, subject).len();
    let empty = put(b"{}");
    let layer = put(content);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "text/plain", "digest": layer, "size": content.len()}],
        "subject": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": subject,
            "size": subject_size,
        },
        "annotations": {"org.example.note": "test artifact"},
    });
    let bytes = serde_json::to_vec(&manifest).expect("json");
    let digest = put(&bytes);
    let index_path = layout.join("index.json");
    let mut index: Value =
        serde_json::from_slice(&fs::read(&index_path).expect("read index")).expect("index");
    index["manifests"]
        .as_array_mut()
        .expect("manifests")
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": bytes.len(),
            "artifactType": artifact_type,
        }));
    fs::write(&index_path, serde_json::to_vec(&index).expect("json")).expect("write index");
    digest
}

#[test]
fn referrers_travel_with_include_referrers_to_registries_and_layouts() {
    if !peers() {
        return;
    }
    let (work, registry, layout, digest) = setup("registry-referrers");
    let sbom = add_artifact(&layout, &digest, "application/example.sbom", b"sbom");
    let sig = add_artifact(&layout, &digest, "application/example.sig", b"signature");
    let local = ok(&["referrers", "--json", &format!("oci:{}:app", path(&layout))]);
    let mut found: Vec<&str> = local
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["digest"].as_str())
        .collect();
    found.sort();
    let mut want = vec![sbom.as_str(), sig.as_str()];
    want.sort();
    assert_eq!(found, want, "{local}");
    // To a registry without the referrers API: the tag fallback.
    let image = registry.docker("team/app:v1");
    ok(&[
        "copy",
        "--json",
        "--include-referrers",
        "--dest-tls-verify=false",
        &format!("oci:{}:app", path(&layout)),
        &image,
    ]);
    let remote = ok(&["referrers", "--json", "--tls-verify=false", &image]);
    let list = remote.as_array().expect("array");
    assert_eq!(list.len(), 2, "{remote}");
    let only_sig = ok(&[
        "referrers",
        "--json",
        "--tls-verify=false",
        "--artifact-type",
        "application/example.sig",
        &image,
    ]);
    assert_eq!(only_sig.as_array().map(Vec::len), Some(1), "{only_sig}");
    assert_eq!(only_sig[0]["digest"], sig.as_str());
    assert_eq!(only_sig[0]["artifactType"], "application/example.sig");
    assert_eq!(
        only_sig[0]["annotations"]["org.example.note"],
        "test artifact"
    );
    // Back into a layout, with its referrers.
    let back = work.join("back");
    ok(&[
        "copy",
        "--json",
        "--include-referrers",
        "--src-tls-verify=false",
        &image,
        &format!("oci:{}:v1", path(&back)),
    ]);
    let local = ok(&["referrers", "--json", &format!("oci:{}:v1", path(&back))]);
    assert_eq!(local.as_array().map(Vec::len), Some(2), "{local}");
    let fsck = ok(&["fsck", "--json", path(&back)]);
    assert_eq!(fsck["ok"], true, "{fsck}");
    // Without --include-referrers, none travel.
    let plain = work.join("plain");
    ok(&[
        "copy",
        "--src-tls-verify=false",
        &image,
        &format!("oci:{}:v1", path(&plain)),
    ]);
    let none = ok(&["referrers", "--json", &format!("oci:{}:v1", path(&plain))]);
    assert_eq!(none, serde_json::json!([]));
}
