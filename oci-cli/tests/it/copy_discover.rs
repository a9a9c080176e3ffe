//! `ocimg copy discover:NAME oci:DIR:TAG` end to end, against an HTTP server on
//! 127.0.0.1 started by the test (every host mapped to it with `--resolve`): the
//! well-known ref-engines document, an index template and a CAS template with a
//! `{encoded:2}` prefix serving the blobs of a layout that `ocimg build` made.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Output;

use oci_test_support::cli::path_str as path;
use oci_test_support::http::{Reply, Server};
use serde_json::{Value, json};

use crate::{ocimg, scratch};

const WELL_KNOWN: &str = "/.well-known/oci-host-ref-engines";

/// A layout holding one image tagged `v1`, built by `ocimg build`.
fn published(work: &Path) -> PathBuf {
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
    std::fs::write(rootfs.join("etc/motd"), "served by discovery\n").expect("write");
    std::fs::write(rootfs.join("big"), vec![7u8; 300_000]).expect("write");
    let layout = work.join("published");
    let out = ocimg(&[
        "build",
        &format!("{}:v1", path(&layout)),
        "--rootfs",
        path(&rootfs),
        "--source-date-epoch",
        "1700000000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    layout
}

/// The layout's index.json (every entry carries its ref name).
fn index_of(layout: &Path) -> Value {
    let bytes = std::fs::read(layout.join("index.json")).expect("index.json");
    serde_json::from_slice(&bytes).expect("index json")
}

/// Serves `layout`: the well-known document on `authority`, its index.json at
/// `http://example.com/ref/PATH`, its blobs at a `{encoded:2}` CAS template; `tamper`
/// may change a blob before it is sent.
fn serve_layout(
    layout: &Path,
    authority: &'static str,
    tamper: impl Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
) -> Server {
    let layout = layout.to_path_buf();
    let engines = json!({
        "refEngines": [{"protocol": "oci-index-template-v1", "uri": "http://example.com/ref/{+path}"}],
        "casEngines": [{"protocol": "oci-cas-template-v1",
            "uri": "http://cas.example.com/blobs/{algorithm}/{encoded:2}/{encoded}"}],
    })
    .to_string()
    .into_bytes();
    Server::start(move |host, target| {
        if host == authority && target == WELL_KNOWN {
            return Reply::ok(engines.clone());
        }
        if host == "example.com" && target == "/ref/app" {
            return match std::fs::read(layout.join("index.json")) {
                Ok(b) => Reply::ok(b),
                Err(_) => Reply::not_found(),
            };
        }
        if host == "cas.example.com"
            && let Some(rest) = target.strip_prefix("/blobs/")
        {
            let parts: Vec<&str> = rest.split('/').collect();
            if let [alg, prefix, encoded] = parts[..]
                && prefix.len() == 2
                && encoded.starts_with(prefix)
                && encoded.bytes().all(|b| b.is_ascii_hexdigit())
                && let Ok(bytes) = std::fs::read(layout.join("blobs").join(alg).join(encoded))
            {
                return Reply::ok(tamper(&format!("{alg}:{encoded}"), bytes));
            }
        }
        Reply::not_found()
    })
}

fn resolves(addr: SocketAddr, hosts: &[&str]) -> Vec<String> {
    hosts
        .iter()
        .flat_map(|h| ["--resolve".to_owned(), format!("{h}={addr}")])
        .collect()
}

fn copy(addr: SocketAddr, hosts: &[&str], source: &str, destination: &str) -> Output {
    let mut args: Vec<String> = vec!["copy".into(), "--insecure".into()];
    args.extend(resolves(addr, hosts));
    args.extend([source.to_owned(), destination.to_owned(), "--json".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ocimg(&args)
}

/// The `ref.name`s of the layout's index.json (empty when there is none).
fn tags(layout: &Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(layout.join("index.json")) else {
        return Vec::new();
    };
    let index: Value = serde_json::from_slice(&bytes).expect("index json");
    index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_owned)
        .collect()
}

fn fsck_ok(layout: &Path) {
    let out = ocimg(&["fsck", "--json", path(layout)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("fsck json");
    assert_eq!(report["ok"], true, "{report}");
}

const HOSTS: &[&str] = &["example.com", "cas.example.com"];

#[test]
fn copies_through_the_ref_and_cas_engines() {
    let work = scratch("copy-discover-ok");
    let published = published(&work);
    let server = serve_layout(&published, "example.com", |_, b| b);
    let dest = work.join("dest");
    let out = copy(
        server.addr(),
        HOSTS,
        "discover:example.com/app#v1",
        &format!("oci:{}:v1", path(&dest)),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let result: Value = serde_json::from_slice(&out.stdout).expect("copy json");
    let source_entry = &index_of(&published)["manifests"][0];
    assert_eq!(result["source"], "discover:example.com/app#v1");
    assert_eq!(result["digest"], source_entry["digest"], "{result}");
    // Manifest, config and one layer.
    assert_eq!(result["blobs"]["copied"], 3, "{result}");
    assert_eq!(result["blobs"]["skipped"], 0, "{result}");
    fsck_ok(&dest);
    assert_eq!(tags(&dest), ["v1"]);
    let copied = index_of(&dest);
    assert_eq!(copied["manifests"][0]["digest"], source_entry["digest"]);
    // Blobs came from the CAS engine, by the prefixed template.
    let digest = source_entry["digest"].as_str().expect("digest");
    let encoded = digest.strip_prefix("sha256:").expect("sha256");
    let wanted = format!("cas.example.com/blobs/sha256/{}/{encoded}", &encoded[..2]);
    assert!(
        server.locations().contains(&wanted),
        "{:?}",
        server.locations()
    );

    // A second copy finds every blob there already.
    let out = copy(
        server.addr(),
        HOSTS,
        "discover:example.com/app#v1",
        &format!("oci:{}:again", path(&dest)),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let result: Value = serde_json::from_slice(&out.stdout).expect("copy json");
    assert_eq!(result["blobs"]["skipped"], 3, "{result}");
    assert_eq!(tags(&dest), ["v1", "again"]);
}

#[test]
fn a_corrupted_layer_fails_and_tags_nothing() {
    let work = scratch("copy-discover-corrupt");
    let published = published(&work);
    let manifest_digest = index_of(&published)["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            published
                .join("blobs/sha256")
                .join(manifest_digest.strip_prefix("sha256:").expect("sha256")),
        )
        .expect("manifest"),
    )
    .expect("manifest json");
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_owned();
    let corrupt = layer.clone();
    let server = serve_layout(&published, "example.com", move |digest, mut bytes| {
        if digest == corrupt {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x55;
        }
        bytes
    });

    // A destination that already holds another image: its index.json must not change.
    let dest = work.join("dest");
    let other = work.join("other-rootfs");
    std::fs::create_dir_all(&other).expect("mkdir");
    std::fs::write(other.join("other"), "another image\n").expect("write");
    let out = ocimg(&[
        "build",
        &format!("{}:old", path(&dest)),
        "--rootfs",
        path(&other),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let before = std::fs::read(dest.join("index.json")).expect("index.json");
    let out = copy(
        server.addr(),
        HOSTS,
        "discover:example.com/app#v1",
        &format!("oci:{}:v1", path(&dest)),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&layer), "{stderr}");
    assert_eq!(
        std::fs::read(dest.join("index.json")).expect("index.json"),
        before
    );
    assert_eq!(tags(&dest), ["old"]);

    // Into a fresh destination: no tag v1 either (index.json absent or without it).
    let fresh = work.join("fresh");
    let out = copy(
        server.addr(),
        HOSTS,
        "discover:example.com/app#v1",
        &format!("oci:{}:v1", path(&fresh)),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(tags(&fresh).is_empty(), "{:?}", tags(&fresh));
}

#[test]
fn an_ancestor_answers_for_a_subdomain() {
    let work = scratch("copy-discover-ancestor");
    let published = published(&work);
    let server = serve_layout(&published, "example.com", |_, b| b);
    let dest = work.join("dest");
    let hosts = [
        "a.b.example.com",
        "b.example.com",
        "example.com",
        "cas.example.com",
    ];
    let out = copy(
        server.addr(),
        &hosts,
        "discover:a.b.example.com/app#v1",
        &format!("oci:{}:v1", path(&dest)),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    fsck_ok(&dest);
    assert_eq!(tags(&dest), ["v1"]);
    // The child and its parent were asked first, and did not answer.
    let asked: Vec<String> = server
        .locations()
        .into_iter()
        .filter(|r| r.ends_with(WELL_KNOWN))
        .collect();
    assert_eq!(
        asked,
        [
            format!("a.b.example.com{WELL_KNOWN}"),
            format!("b.example.com{WELL_KNOWN}"),
            format!("example.com{WELL_KNOWN}"),
        ]
    );
}

#[test]
fn a_name_no_engine_knows_exits_1_and_nothing_answering_exits_2() {
    let work = scratch("copy-discover-unknown");
    let published = published(&work);
    let server = serve_layout(&published, "example.com", |_, b| b);
    let dest = work.join("dest");
    let out = copy(
        server.addr(),
        HOSTS,
        "discover:example.com/app#v9",
        &format!("oci:{}:v9", path(&dest)),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("example.com/app#v9"),
        "{out:?}"
    );
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let out = copy(
        dead,
        HOSTS,
        "discover:example.com/app#v1",
        &format!("oci:{}:v1", path(&dest)),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(tags(&dest).is_empty());
}
