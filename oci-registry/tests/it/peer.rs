//! A quick smoke test against a real registry: Debian's `docker-registry` on loopback
//! (push a blob and a manifest, pull them back, tags, fallback referrers, delete).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oci_registry::{
    ErrorKind, ManifestRef, PushOptions, Pushed, ReferrersSource, RegistryClient, RegistryOptions,
    referrer_descriptor,
};
use serde_json::json;

use crate::fake::{bytes, sha256};

/// A `docker-registry` on 127.0.0.1 at a free port, killed (by its pid) on drop.
struct Registry {
    child: Child,
    addr: String,
    _dir: PathBuf,
}

impl Registry {
    fn start(name: &str) -> Registry {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("docker-registry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                dir.join("data").display()
            ),
        )
        .expect("config");
        let log = std::fs::File::create(dir.join("registry.log")).expect("log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = Registry {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&registry.addr).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn docker_registry_push_pull_tags_referrers_and_delete() {
    if !oci_test_support::cli::peer_with(
        "docker-registry",
        Command::new("docker-registry").arg("--version"),
    ) {
        return;
    }
    let registry = Registry::start("smoke");
    let client = RegistryClient::new(RegistryOptions {
        insecure: [registry.addr.clone()].into_iter().collect(),
        chunk_size: 64 * 1024,
        ..RegistryOptions::default()
    });
    let repo = client.repository(&registry.addr, "smoke/app");
    repo.ping().expect("ping");

    let layer = bytes(200_000, 21);
    let layer_d = sha256(&layer);
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let config_d = sha256(&config);
    assert_eq!(
        repo.push_blob(
            &layer_d,
            layer.len() as u64,
            &mut &layer[..],
            &PushOptions::default()
        )
        .expect("chunked push"),
        Pushed::Uploaded
    );
    repo.push_blob(
        &config_d,
        config.len() as u64,
        &mut &config[..],
        &PushOptions::default(),
    )
    .expect("monolithic push");
    assert_eq!(
        repo.push_blob(
            &layer_d,
            layer.len() as u64,
            &mut &layer[..],
            &PushOptions::default()
        )
        .expect("again"),
        Pushed::Existed
    );
    // A mount into another repository.
    let other = repo.sibling("smoke/other");
    let mounted = other
        .push_blob(
            &layer_d,
            layer.len() as u64,
            &mut &layer[..],
            &PushOptions {
                mount_from: Some("smoke/app".into()),
                skip_exists_check: true,
            },
        )
        .expect("mount");
    assert_eq!(mounted, Pushed::Mounted);

    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_d, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_d, "size": layer.len()}]
    }))
    .expect("json");
    let pushed = repo
        .put_manifest(
            &ManifestRef::Tag("v1".into()),
            &manifest,
            "application/vnd.oci.image.manifest.v1+json",
        )
        .expect("put manifest");
    let pulled = repo
        .get_manifest(&pushed.digest.clone().into())
        .expect("pull by digest");
    assert_eq!(pulled.bytes, manifest, "byte-identical");
    let mut blob = Vec::new();
    repo.open_blob(&layer_d, layer.len() as u64)
        .expect("open")
        .read_to_end(&mut blob)
        .expect("read");
    assert_eq!(blob, layer);
    repo.put_manifest(
        &ManifestRef::Tag("v2".into()),
        &manifest,
        "application/vnd.oci.image.manifest.v1+json",
    )
    .expect("second tag");
    assert_eq!(repo.tags().expect("tags"), ["v1", "v2"]);

    // No referrers API here: the fallback tag is written and read.
    let artifact = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.note",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": pushed.digest, "size": manifest.len()}
    }))
    .expect("json");
    repo.push_blob(&sha256(b"{}"), 2, &mut &b"{}"[..], &PushOptions::default())
        .expect("empty blob");
    let art = repo
        .put_manifest(
            &ManifestRef::Digest(sha256(&artifact)),
            &artifact,
            "application/vnd.oci.image.manifest.v1+json",
        )
        .expect("artifact");
    assert!(
        !art.subject_processed,
        "docker-registry 2.8 has no referrers API"
    );
    repo.add_fallback_referrer(
        &pushed.digest,
        &referrer_descriptor(
            &artifact,
            "application/vnd.oci.image.manifest.v1+json",
            &art.digest,
        ),
    )
    .expect("fallback write");
    let found = repo.referrers(&pushed.digest, None).expect("referrers");
    assert_eq!(found.source, ReferrersSource::FallbackTag);
    assert_eq!(found.manifests.len(), 1);
    assert_eq!(found.manifests[0].digest, art.digest);

    repo.delete_manifest(&pushed.digest).expect("delete");
    let e = repo
        .get_manifest(&ManifestRef::Tag("v1".into()))
        .expect_err("gone");
    assert_eq!(e.kind(), &ErrorKind::NotFound, "{e}");
}
