//! The `discover:` source against HTTP servers on 127.0.0.1 started by the tests (every
//! host mapped to them, no DNS): root selection, verified blobs, CAS failover, refused
//! oversized and corrupted blobs, percent-encoded templates.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use oci_image::{BlobOpenError, DiscoverSource, DiscoverSourceError, Source, read_error};
use oci_naming::LocalConfig;
use oci_registry::discovery::{Discoverer, Limits};
use oci_registry::http::{Client, ClientOptions};
use oci_spec_types::{Descriptor, Document, ImageConfig, ImageManifest, Platform, media_type};
use oci_test_support::http::{Reply, Server};
use serde_json::{Value, json};

use crate::{LayerSpec, sha256};

/// An error and its causes, as `{:#}` of anyhow prints them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

// ---------------------------------------------------------------------------------------
// Published images.

const WELL_KNOWN: &str = "/.well-known/oci-host-ref-engines";
const HOSTS: &[&str] = &[
    "example.test",
    "cas.example.test",
    "cas1.example.test",
    "cas2.example.test",
];

/// One image's blobs, by digest.
struct Image {
    manifest: Descriptor,
    config: Descriptor,
    layers: Vec<Descriptor>,
    blobs: BTreeMap<String, Vec<u8>>,
}

fn image(platform: &Platform, text: &[u8]) -> Image {
    let layer = LayerSpec::gzip(&[("hello.txt", text)]);
    let mut blobs = BTreeMap::new();
    let layer_digest = sha256(&layer.blob);
    let layers = vec![Descriptor::new(
        layer.media_type,
        layer_digest.clone(),
        layer.blob.len() as u64,
    )];
    blobs.insert(layer_digest.to_string(), layer.blob);
    let config = Document::from_value(ImageConfig::new(platform, vec![layer.diff_id]));
    let config_descriptor = Descriptor::new(
        media_type::IMAGE_CONFIG,
        sha256(config.bytes()),
        config.bytes().len() as u64,
    );
    blobs.insert(
        config_descriptor.digest.to_string(),
        config.bytes().to_vec(),
    );
    let manifest = Document::from_value(ImageManifest::new(
        config_descriptor.clone(),
        layers.clone(),
    ));
    let mut manifest_descriptor = Descriptor::new(
        media_type::IMAGE_MANIFEST,
        sha256(manifest.bytes()),
        manifest.bytes().len() as u64,
    );
    manifest_descriptor.platform = Some(platform.clone());
    blobs.insert(
        manifest_descriptor.digest.to_string(),
        manifest.bytes().to_vec(),
    );
    Image {
        manifest: manifest_descriptor,
        config: config_descriptor,
        layers,
        blobs,
    }
}

/// An index entry for `image` named `name`, with extra members.
fn entry(image: &Image, name: &str, extra: Value) -> Value {
    let mut value = serde_json::to_value(&image.manifest).expect("descriptor json");
    value["annotations"] = json!({"org.opencontainers.image.ref.name": name});
    if let (Some(object), Value::Object(extra)) = (value.as_object_mut(), extra) {
        object.extend(extra);
    }
    value
}

fn index(entries: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": entries})).expect("json")
}

fn ref_engines(cas: &[&str]) -> Vec<u8> {
    let cas: Vec<Value> = cas
        .iter()
        .map(|uri| json!({"protocol": "oci-cas-template-v1", "uri": uri}))
        .collect();
    serde_json::to_vec(&json!({
        "refEngines": [{"protocol": "oci-index-template-v1", "uri": "http://{host}/ref/{+path}"}],
        "casEngines": cas,
    }))
    .expect("json")
}

const CAS: &str = "http://cas.example.test/blobs/{algorithm}/{encoded:2}/{encoded}";

/// The blob a CAS path `/blobs/ALG/XX/HEX` names.
fn cas_blob<'a>(blobs: &'a BTreeMap<String, Vec<u8>>, target: &str) -> Option<&'a Vec<u8>> {
    let rest = target.strip_prefix("/blobs/")?;
    let mut parts = rest.split('/');
    let (alg, prefix, encoded) = (parts.next()?, parts.next()?, parts.next()?);
    if !encoded.starts_with(prefix) || prefix.len() != 2 {
        return None;
    }
    blobs.get(&format!("{alg}:{encoded}"))
}

fn discoverer(addr: SocketAddr, extra: &[(&str, SocketAddr)]) -> Discoverer {
    let mut connect_to: Vec<(String, SocketAddr)> =
        HOSTS.iter().map(|h| ((*h).to_owned(), addr)).collect();
    connect_to.extend(extra.iter().map(|(h, a)| ((*h).to_owned(), *a)));
    let options = ClientOptions {
        insecure: true,
        connect_to,
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(3),
        resolve_timeout: Duration::from_secs(2),
        max_redirects: 3,
    };
    Discoverer::new(
        Client::new(options),
        LocalConfig::default(),
        Limits::default(),
    )
}

fn read_blob(source: &DiscoverSource, descriptor: &Descriptor) -> Result<Vec<u8>, BlobOpenError> {
    let mut reader = source.open(descriptor)?;
    let mut out = Vec::new();
    reader
        .read_to_end(&mut out)
        .map_err(|e| read_error(source, descriptor, &e))?;
    Ok(out)
}

/// A server publishing `images` (name, image) in one index, blobs at [`CAS`], with
/// `tamper` applied to the CAS answers.
fn publish(
    images: Vec<(&'static str, &Image)>,
    tamper: impl Fn(&str, Reply) -> Reply + Send + Sync + 'static,
) -> Server {
    let mut blobs = BTreeMap::new();
    for (_, i) in &images {
        blobs.extend(i.blobs.clone());
    }
    let body = index(images.iter().map(|(n, i)| entry(i, n, json!({}))).collect());
    Server::start(move |host, target| match (host, target) {
        ("example.test", WELL_KNOWN) => Reply::ok(ref_engines(&[CAS])),
        ("example.test", "/ref/app") => Reply::ok(body.clone()),
        ("cas.example.test", t) => match cas_blob(&blobs, t) {
            Some(b) => tamper(t, Reply::ok(b.clone())),
            None => Reply::not_found(),
        },
        _ => Reply::not_found(),
    })
}

fn linux(arch: &str) -> Platform {
    Platform::new("linux", arch)
}

// ---------------------------------------------------------------------------------------

#[test]
fn the_root_is_the_entry_the_fragment_names_and_blobs_are_verified() {
    let v1 = image(&linux("amd64"), b"one");
    let v2 = image(&linux("amd64"), b"two");
    let server = publish(vec![("v1", &v1), ("v2", &v2)], |_, r| r);
    let source = DiscoverSource::open("example.test/app#v2", discoverer(server.addr(), &[]), None)
        .expect("open");
    assert_eq!(source.describe(), "discover:example.test/app#v2");
    assert_eq!(source.discovery().answered_by, "example.test");
    assert_eq!(source.root().digest, v2.manifest.digest);
    assert_eq!(source.root().size, v2.manifest.size);
    // The index entry's ref name stays on the root; nothing of discovery's is added.
    assert_eq!(source.root().ref_name(), Some("v2"));
    assert!(source.root().extra.is_empty(), "{:?}", source.root());
    let manifest = source.read_small(source.root(), 1 << 20).expect("manifest");
    assert_eq!(&manifest, &v2.blobs[&v2.manifest.digest.to_string()]);
    for d in std::iter::once(&v2.config).chain(&v2.layers) {
        assert_eq!(
            read_blob(&source, d).expect("blob"),
            v2.blobs[&d.digest.to_string()]
        );
    }
    let layer = &v2.layers[0].digest;
    let wanted = format!(
        "cas.example.test/blobs/sha256/{}/{}",
        &layer.encoded()[..2],
        layer.encoded()
    );
    assert!(
        server.locations().contains(&wanted),
        "{:?}",
        server.locations()
    );
}

#[test]
fn several_entries_of_one_name_are_chosen_by_platform() {
    let amd = image(&linux("amd64"), b"amd");
    let arm = image(&linux("arm64"), b"arm");
    let server = publish(vec![("v1", &amd), ("v1", &arm)], |_, r| r);
    let open = |p: &Platform| {
        DiscoverSource::open(
            "example.test/app#v1",
            discoverer(server.addr(), &[]),
            Some(p),
        )
    };
    assert_eq!(
        open(&linux("arm64")).expect("arm64").root().digest,
        arm.manifest.digest
    );
    assert_eq!(
        open(&linux("amd64")).expect("amd64").root().digest,
        amd.manifest.digest
    );
    let err = open(&linux("s390x")).expect_err("no s390x entry");
    assert!(
        matches!(&err, DiscoverSourceError::NoPlatform { wanted, .. } if wanted == "linux/s390x"),
        "{err}"
    );
    assert!(err.is_check_failure());
    assert!(err.to_string().contains("example.test/app#v1"), "{err}");
}

#[test]
fn without_a_fragment_several_images_are_refused() {
    let one = image(&linux("amd64"), b"one");
    let two = image(&linux("amd64"), b"two");
    let server = publish(vec![("v1", &one), ("v2", &two)], |_, r| r);
    let err = DiscoverSource::open("example.test/app", discoverer(server.addr(), &[]), None)
        .expect_err("two images, no fragment");
    assert!(
        matches!(err, DiscoverSourceError::NotOne { count: 2, .. }),
        "{err}"
    );
    assert!(err.is_check_failure());
}

#[test]
fn a_name_the_index_lacks_is_rejected_naming_it() {
    let v1 = image(&linux("amd64"), b"one");
    let server = publish(vec![("v1", &v1)], |_, r| r);
    let err = DiscoverSource::open("example.test/app#v9", discoverer(server.addr(), &[]), None)
        .expect_err("no v9");
    assert!(matches!(err, DiscoverSourceError::Discover { .. }), "{err}");
    assert!(
        err.is_check_failure(),
        "a ref engine answered: check failure"
    );
    assert!(err.to_string().contains("example.test/app#v9"), "{err}");
    let bad = DiscoverSource::open("no-path", discoverer(server.addr(), &[]), None)
        .expect_err("not a host-based name");
    assert!(bad.is_check_failure());
}

#[test]
fn nothing_answering_is_a_network_error() {
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let err = DiscoverSource::open("example.test/app#v1", discoverer(dead, &[]), None)
        .expect_err("nobody listens");
    assert!(!err.is_check_failure(), "{err}");
}

#[test]
fn a_corrupted_blob_fails_the_read_naming_its_digest() {
    let v1 = image(&linux("amd64"), b"one");
    let layer = v1.layers[0].digest.clone();
    let corrupt = layer.encoded().to_owned();
    let server = publish(vec![("v1", &v1)], move |target, mut reply| {
        if target.ends_with(&corrupt) {
            let last = reply.body.len() - 1;
            reply.body[last] ^= 0xff;
        }
        reply
    });
    let source = DiscoverSource::open("example.test/app#v1", discoverer(server.addr(), &[]), None)
        .expect("open");
    // The config is fine; the layer is the same size and another content.
    read_blob(&source, &v1.config).expect("config");
    let err = read_blob(&source, &v1.layers[0]).expect_err("corrupted layer");
    assert!(
        matches!(&err, BlobOpenError::Damaged { digest, .. } if *digest == layer),
        "{err}"
    );
    assert!(err.is_check_failure());
    let message = chain(&err);
    assert!(message.contains(layer.as_str()), "{message}");
    assert!(message.contains("does not match"), "{message}");
}

#[test]
fn a_missing_blob_fails_over_to_the_next_cas_engine() {
    let v1 = image(&linux("amd64"), b"one");
    let blobs = v1.blobs.clone();
    // The entry names its own engine (cas1, empty), tried before the object's (cas2).
    let own = json!({"casEngines": [{"protocol": "oci-cas-template-v1",
        "uri": "http://cas1.example.test/blobs/{algorithm}/{encoded:2}/{encoded}"}]});
    let body = index(vec![entry(&v1, "v1", own)]);
    let server = Server::start(move |host, target| match (host, target) {
        ("example.test", WELL_KNOWN) => Reply::ok(ref_engines(&[
            "http://cas2.example.test/blobs/{algorithm}/{encoded:2}/{encoded}",
        ])),
        ("example.test", "/ref/app") => Reply::ok(body.clone()),
        ("cas2.example.test", t) => {
            cas_blob(&blobs, t).map_or_else(Reply::not_found, |b| Reply::ok(b.clone()))
        }
        _ => Reply::not_found(),
    });
    let source = DiscoverSource::open("example.test/app#v1", discoverer(server.addr(), &[]), None)
        .expect("open");
    let urls = source.blob_urls(&v1.layers[0].digest);
    assert_eq!(urls.len(), 2);
    assert!(urls[0].starts_with("http://cas1.example.test/"), "{urls:?}");
    assert_eq!(
        read_blob(&source, &v1.layers[0]).expect("from cas2"),
        v1.blobs[&v1.layers[0].digest.to_string()]
    );
    let targets = server.locations();
    let tail: Vec<&str> = targets
        .iter()
        .rev()
        .take(2)
        .map(|t| t.split('/').next().unwrap_or(""))
        .collect();
    assert_eq!(tail, ["cas2.example.test", "cas1.example.test"]);

    // A blob no engine has: missing (a check failure), naming the digest and both URLs.
    let absent = Descriptor::new(media_type::LAYER_TAR_GZIP, sha256(b"absent"), 6);
    let err = read_blob(&source, &absent).expect_err("nobody has it");
    assert!(matches!(err, BlobOpenError::Missing { .. }), "{err}");
    assert!(err.is_check_failure());
    let message = chain(&err);
    assert!(message.contains(absent.digest.as_str()), "{message}");
    for url in source.blob_urls(&absent.digest) {
        assert!(message.contains(&url), "{message} lacks {url}");
    }
}

#[test]
fn an_engine_that_does_not_answer_is_skipped_and_alone_is_a_network_error() {
    let v1 = image(&linux("amd64"), b"one");
    let blobs = v1.blobs.clone();
    let body = index(vec![entry(&v1, "v1", json!({}))]);
    let server = Server::start(move |host, target| match (host, target) {
        ("example.test", WELL_KNOWN) => Reply::ok(ref_engines(&[
            "http://dead.example.test/{digest}",
            "http://cas.example.test/blobs/{algorithm}/{encoded:2}/{encoded}",
        ])),
        ("example.test", "/ref/app") => Reply::ok(body.clone()),
        ("cas.example.test", t) => {
            cas_blob(&blobs, t).map_or_else(Reply::not_found, |b| Reply::ok(b.clone()))
        }
        _ => Reply::not_found(),
    });
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let source = DiscoverSource::open(
        "example.test/app#v1",
        discoverer(server.addr(), &[("dead.example.test", dead)]),
        None,
    )
    .expect("open");
    assert_eq!(
        read_blob(&source, &v1.config).expect("failover"),
        v1.blobs[&v1.config.digest.to_string()]
    );
    // A blob only the dead engine could have: unavailable, not missing.
    let absent = Descriptor::new(media_type::LAYER_TAR_GZIP, sha256(b"absent"), 6);
    let err = read_blob(&source, &absent).expect_err("nobody has it");
    assert!(matches!(err, BlobOpenError::Unavailable { .. }), "{err}");
    assert!(!err.is_check_failure());
    assert!(chain(&err).contains("http://dead.example.test/"), "{err}");
}

#[test]
fn a_blob_longer_than_its_descriptor_is_refused() {
    let v1 = image(&linux("amd64"), b"one");
    let layer = v1.layers[0].digest.clone();
    let config = v1.config.digest.clone();
    let (layer_hex, config_hex) = (layer.encoded().to_owned(), config.encoded().to_owned());
    let server = publish(vec![("v1", &v1)], move |target, mut reply| {
        if target.ends_with(&layer_hex) {
            // Announced: refused before reading.
            reply.body.extend_from_slice(b"trailing");
            reply
        } else if target.ends_with(&config_hex) {
            // Unannounced: refused at the first extra byte.
            reply.body.extend_from_slice(b"trailing");
            Reply::unannounced(reply.body)
        } else {
            reply
        }
    });
    let source = DiscoverSource::open("example.test/app#v1", discoverer(server.addr(), &[]), None)
        .expect("open");
    for (descriptor, digest) in [(&v1.layers[0], &layer), (&v1.config, &config)] {
        let err = read_blob(&source, descriptor).expect_err("longer than its size");
        assert!(
            matches!(&err, BlobOpenError::Damaged { digest: d, .. } if d == digest),
            "{err}"
        );
        assert!(err.is_check_failure());
        assert!(err.to_string().contains(digest.as_str()), "{err}");
    }
}

#[test]
fn template_values_are_percent_encoded() {
    let v1 = image(&linux("amd64"), b"one");
    let blobs = v1.blobs.clone();
    let fragment = "v1.0+build";
    let body = index(vec![entry(&v1, fragment, json!({}))]);
    let server = Server::start(move |host, target| match (host, target) {
        ("example.test", WELL_KNOWN) => Reply::ok(
            serde_json::to_vec(&json!({
                "refEngines": [{"protocol": "oci-index-template-v1",
                    "uri": "http://example.test/ref?name={name}&tag={fragment}"}],
                "casEngines": [{"protocol": "oci-cas-template-v1",
                    "uri": "http://cas.example.test/by-digest/{digest}"}],
            }))
            .expect("json"),
        ),
        ("example.test", "/ref?name=example.test%2Fapp%23v1.0%2Bbuild&tag=v1.0%2Bbuild") => {
            Reply::ok(body.clone())
        }
        ("cas.example.test", t) => match t
            .strip_prefix("/by-digest/sha256%3A")
            .and_then(|hex| blobs.get(&format!("sha256:{hex}")))
        {
            Some(b) => Reply::ok(b.clone()),
            None => Reply::not_found(),
        },
        _ => Reply::not_found(),
    });
    let source = DiscoverSource::open(
        &format!("example.test/app#{fragment}"),
        discoverer(server.addr(), &[]),
        None,
    )
    .expect("open through an encoded ref-engine URL");
    assert_eq!(source.root().digest, v1.manifest.digest);
    assert_eq!(
        read_blob(&source, &v1.layers[0]).expect("blob through an encoded CAS URL"),
        v1.blobs[&v1.layers[0].digest.to_string()]
    );
    let wanted = format!(
        "cas.example.test/by-digest/sha256%3A{}",
        v1.layers[0].digest.encoded()
    );
    assert!(
        server.locations().contains(&wanted),
        "{:?}",
        server.locations()
    );
}
