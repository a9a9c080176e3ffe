//! Discovery (the network half, moved here from oci-naming) against HTTP servers on 127.0.0.1, every host the walk may ask for mapped
//! to them (no DNS).

use std::net::SocketAddr;
use std::time::Duration;

use oci_naming::{ConfigError, HostBasedName, LocalConfig, LocalConfigError};
use oci_registry::discovery::{DiscoverError, Discoverer, Limits, Warning};
use oci_registry::http::{Client, ClientOptions, FetchError};
use oci_spec_types::Digest;
use serde_json::json;

use oci_test_support::http::{Reply, Server};

const WELL_KNOWN: &str = "/.well-known/oci-host-ref-engines";

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn index(entries: &[(&str, String)]) -> Vec<u8> {
    let manifests: Vec<_> = entries
        .iter()
        .map(|(name, d)| {
            json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": d,
                "size": 7,
                "annotations": {"org.opencontainers.image.ref.name": name}
            })
        })
        .collect();
    serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": manifests})).expect("json")
}

fn discoverer(addr: SocketAddr, hosts: &[&str], insecure: bool, limits: Limits) -> Discoverer {
    let options = ClientOptions {
        insecure,
        connect_to: hosts.iter().map(|h| ((*h).to_owned(), addr)).collect(),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(3),
        resolve_timeout: Duration::from_secs(2),
        max_redirects: 3,
    };
    Discoverer::new(Client::new(options), LocalConfig::default(), limits)
}

fn name(s: &str) -> HostBasedName {
    HostBasedName::parse(s).expect("valid name")
}

const WALK: &[&str] = &["a.b.example.test", "b.example.test", "example.test"];

#[test]
fn a_parent_answers_for_its_subdomains() {
    let server = Server::start(|host, target| {
        match (host, target) {
        ("example.test", WELL_KNOWN) => Reply::ok(
            json!({"refEngines": [{"protocol": "oci-index-template-v1", "uri": "http://{host}/ref/{+path}"}]})
                .to_string(),
        ),
        ("a.b.example.test", "/ref/c/d") => Reply::ok(index(&[("1.0", digest('a')), ("2.0", digest('b'))])),
        _ => Reply::status(404),
    }
    });
    let d = discoverer(server.addr(), WALK, true, Limits::default());
    let found = d
        .discover(&name("a.b.example.test/c/d#1.0"))
        .expect("found");
    assert_eq!(found.answered_by, "example.test");
    let tried: Vec<_> = found.tried.iter().map(|a| a.host.as_str()).collect();
    assert_eq!(tried, ["a.b.example.test", "b.example.test"]);
    assert_eq!(found.entries.len(), 1);
    assert_eq!(found.entries[0].digest.as_str(), digest('a'));
    assert_eq!(found.index_url, "http://a.b.example.test/ref/c/d");
    // The walk never asks the top-level domain, and goes child first.
    assert_eq!(
        server.hosts(),
        [
            "a.b.example.test",
            "b.example.test",
            "example.test",
            "a.b.example.test"
        ]
    );
}

#[test]
fn a_child_that_publishes_overrides_its_parent() {
    let server = Server::start(|host, target| match (host, target) {
        ("b.example.test", WELL_KNOWN) => Reply::ok(
            json!({"refEngines": [{"protocol": "oci-index-template-v1", "uri": "/child/{path}"}]})
                .to_string(),
        ),
        ("example.test", WELL_KNOWN) => Reply::ok(
            json!({"refEngines": [{"protocol": "oci-index-template-v1", "uri": "/parent/{path}"}]})
                .to_string(),
        ),
        (_, "/child/app") => Reply::ok(index(&[("v1", digest('c'))])),
        (_, "/parent/app") => Reply::ok(index(&[("v1", digest('p'))])),
        _ => Reply::status(404),
    });
    let d = discoverer(
        server.addr(),
        &["b.example.test", "example.test"],
        true,
        Limits::default(),
    );
    let found = d.discover(&name("b.example.test/app#v1")).expect("found");
    assert_eq!(found.answered_by, "b.example.test");
    assert!(found.tried.is_empty());
    assert_eq!(found.entries[0].digest.as_str(), digest('c'));
    // The relative template resolved against the well-known URI.
    assert_eq!(found.index_url, "http://b.example.test/child/app");
}

#[test]
fn unknown_protocols_are_ignored() {
    let server = Server::start(|host, target| {
        match (host, target) {
        ("x.test", WELL_KNOWN) => Reply::ok(
            json!({
                "refEngines": [
                    {"protocol": "docker-v2", "uri": "http://x.test/never"},
                    {"protocol": "oci-index-template-v1", "uri": "http://x.test/ref/{path}"}
                ],
                "casEngines": [
                    {"protocol": "ipfs", "uri": "ipfs://whatever"},
                    {"protocol": "oci-cas-template-v1", "uri": "/cas/{algorithm}/{encoded:2}/{encoded}"}
                ],
                "extra": true
            })
            .to_string(),
        ),
        ("x.test", "/ref/img") => Reply::ok(index(&[("latest", digest('d'))])),
        _ => Reply::status(500),
    }
    });
    let d = discoverer(server.addr(), &["x.test"], true, Limits::default());
    let found = d.discover(&name("x.test/img#latest")).expect("found");
    assert_eq!(found.ref_engines.len(), 1);
    assert_eq!(found.cas_engines.len(), 1);
    assert!(!server.targets().iter().any(|t| t == "/never"));
    let blob = Digest::parse(&digest('e')).expect("digest");
    assert_eq!(
        found.cas_urls(Some(&found.entries[0]), &blob),
        [format!("http://x.test/cas/sha256/ee/{}", "e".repeat(64))]
    );
}

#[test]
fn entry_cas_engines_come_first() {
    let server = Server::start(|host, target| {
        match (host, target) {
        ("y.test", WELL_KNOWN) => Reply::ok(
            json!({
                "refEngines": [{"protocol": "oci-index-template-v1", "uri": "http://y.test/ref/{path}"}],
                "casEngines": [{"protocol": "oci-cas-template-v1", "uri": "http://global.test/{digest}"}]
            })
            .to_string(),
        ),
        ("y.test", "/ref/img") => Reply::ok(
            serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest('f'), "size": 3,
                "annotations": {"org.opencontainers.image.ref.name": "1"},
                "casEngines": [{"protocol": "oci-cas-template-v1", "uri": "blobs/{encoded}"}]
            }]}))
            .expect("json"),
        ),
        _ => Reply::status(404),
    }
    });
    let d = discoverer(server.addr(), &["y.test"], true, Limits::default());
    let found = d.discover(&name("y.test/img#1")).expect("found");
    let entry = &found.entries[0];
    let urls = found.cas_urls(Some(entry), &entry.digest);
    assert_eq!(
        urls,
        [
            format!("http://y.test/ref/blobs/{}", "f".repeat(64)),
            // Simple expansion escapes the reserved `:`.
            format!("http://global.test/sha256%3A{}", "f".repeat(64)),
        ]
    );
    // The entry keeps its published descriptor, casEngines included.
    assert!(entry.descriptor.get("casEngines").is_some());
}

#[test]
fn redirect_loops_are_refused_and_the_walk_goes_on() {
    let server = Server::start(|host, target| {
        match (host, target) {
        ("loop.example.test", WELL_KNOWN) => Reply::redirect("http://loop.example.test/.well-known/oci-host-ref-engines"),
        ("example.test", WELL_KNOWN) => Reply::ok(
            json!({"refEngines": [{"protocol": "oci-index-template-v1", "uri": "http://example.test/i"}]}).to_string(),
        ),
        ("example.test", "/i") => Reply::ok(index(&[("x", digest('1'))])),
        _ => Reply::status(404),
    }
    });
    let d = discoverer(
        server.addr(),
        &["loop.example.test", "example.test"],
        true,
        Limits::default(),
    );
    let found = d
        .discover(&name("loop.example.test/n#x"))
        .expect("parent answers");
    assert_eq!(found.answered_by, "example.test");
    assert!(
        matches!(
            found.tried[0].warnings[..],
            [.., Warning::Fetch(FetchError::TooManyRedirects { .. })]
        ),
        "{}",
        found.tried[0].reasons()
    );
    let loops = server
        .requests()
        .iter()
        .filter(|r| r.host == "loop.example.test")
        .count();
    assert!(loops <= 5, "bounded redirects, {loops} requests");
}

#[test]
fn oversized_answers_are_refused() {
    let server = Server::start(|host, target| match (host, target) {
        ("big.test", WELL_KNOWN) => Reply::ok(vec![b' '; 64 * 1024]),
        ("big.test", "/.well-known/ok") => Reply::ok("{}"),
        _ => Reply::status(404),
    });
    let limits = Limits {
        ref_engines: 4096,
        index: 4096,
    };
    let d = discoverer(server.addr(), &["big.test"], true, limits);
    let err = d.discover(&name("big.test/x")).expect_err("too big");
    let DiscoverError::NotFound {
        attempts,
        index_seen,
        ..
    } = err
    else {
        panic!("not NotFound");
    };
    assert!(!index_seen);
    assert!(
        attempts[0].reasons().contains("larger than 4096"),
        "{}",
        attempts[0].reasons()
    );
    // The bounded fetch used for blobs refuses too.
    let url = format!("http://big.test{WELL_KNOWN}");
    assert!(matches!(
        d.fetch(&url, 100),
        Err(FetchError::TooLarge { limit: 100, .. })
    ));
    assert_eq!(
        d.fetch("http://big.test/.well-known/ok", 100)
            .expect("small"),
        b"{}"
    );
}

#[test]
fn template_values_are_percent_encoded() {
    let server = Server::start(|host, target| {
        if host == "enc.test" && target == WELL_KNOWN {
            return Reply::ok(
                json!({"refEngines": [{"protocol": "oci-index-template-v1",
                    "uri": "http://enc.test/ref/{path}/{fragment}{?name}"}]})
                .to_string(),
            );
        }
        if host == "enc.test" && target.starts_with("/ref/") {
            return Reply::ok(index(&[("v1/beta?x", digest('9'))]));
        }
        Reply::status(404)
    });
    let d = discoverer(server.addr(), &["enc.test"], true, Limits::default());
    let found = d
        .discover(&name("enc.test/c%20d/e#v1/beta?x"))
        .expect("found");
    assert_eq!(found.entries.len(), 1);
    let target = server
        .targets()
        .into_iter()
        .find(|t| t.starts_with("/ref/"))
        .expect("asked the ref engine");
    assert_eq!(
        target,
        "/ref/c%2520d%2Fe/v1%2Fbeta%3Fx?name=enc.test%2Fc%2520d%2Fe%23v1%2Fbeta%3Fx"
    );
}

#[test]
fn plain_http_needs_insecure() {
    let server = Server::start(|_, _| Reply::ok("{}"));
    let d = discoverer(server.addr(), &["plain.test"], false, Limits::default());
    let err = d.discover(&name("plain.test/x")).expect_err("https only");
    let DiscoverError::NotFound { attempts, .. } = err else {
        panic!("not NotFound");
    };
    assert_eq!(attempts.len(), 1);
    // Only https was tried: the server saw no HTTP request.
    assert!(server.requests().is_empty());
    assert!(matches!(
        d.fetch("http://plain.test/x", 10),
        Err(FetchError::Refused { .. })
    ));
}

#[test]
fn local_configuration_comes_before_the_network() {
    let server = Server::start(|host, target| match (host, target) {
        ("mirror.test", "/local/app") => Reply::ok(index(&[("1", digest('7'))])),
        _ => Reply::status(404),
    });
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("discovery-local");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let file = dir.join("ref-engine-discovery.json");
    std::fs::write(
        &file,
        json!({
            "^example\\.org/": {"refEngines": [{"protocol": "oci-index-template-v1", "uri": "http://mirror.test/wrong/{path}"}]},
            "^example\\.org/app": {"refEngines": [{"protocol": "oci-index-template-v1", "uri": "http://mirror.test/local/{path}"}]},
            "^other\\.org/": {"refEngines": []}
        })
        .to_string(),
    )
    .expect("write");
    let local = LocalConfig::load_file(&file).expect("loads");
    let options = ClientOptions {
        insecure: true,
        connect_to: vec![
            ("mirror.test".into(), server.addr()),
            ("example.org".into(), server.addr()),
        ],
        ..ClientOptions::default()
    };
    let d = Discoverer::new(Client::new(options), local, Limits::default());
    let found = d
        .discover(&name("example.org/app#1"))
        .expect("found locally");
    assert!(
        found.answered_by.starts_with("config:"),
        "{}",
        found.answered_by
    );
    assert_eq!(found.entries[0].digest.as_str(), digest('7'));
    assert_eq!(
        server.targets(),
        ["/local/app"],
        "the well-known URI was not asked"
    );
    let err = LocalConfig::load_file(&dir.join("missing.json")).expect_err("missing");
    assert!(
        matches!(
            &err,
            LocalConfigError {
                cause: ConfigError::Read(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        oci_naming::error_chain(&err),
        format!(
            "discovery configuration {}: cannot read it: No such file or directory (os error 2)",
            dir.join("missing.json").display()
        )
    );
}

#[test]
fn no_matching_entry_is_a_rejection_not_a_network_error() {
    let server = Server::start(|host, target| {
        match (host, target) {
        ("z.test", WELL_KNOWN) => Reply::ok(
            json!({"refEngines": [{"protocol": "oci-index-template-v1", "uri": "http://z.test/i"}]}).to_string(),
        ),
        ("z.test", "/i") => Reply::ok(index(&[("other", digest('2'))])),
        _ => Reply::status(404),
    }
    });
    let d = discoverer(server.addr(), &["z.test"], true, Limits::default());
    let err = d.discover(&name("z.test/x#wanted")).expect_err("no match");
    assert!(
        matches!(
            err,
            DiscoverError::NotFound {
                index_seen: true,
                ..
            }
        ),
        "{err}"
    );
    // The https attempt failed in transport, then http answered without the entry.
    let DiscoverError::NotFound { attempts, .. } = &err else {
        unreachable!()
    };
    let [
        Warning::Fetch(transport @ FetchError::Transport { url, .. }),
        Warning::NoEntry { fragment, .. },
    ] = &attempts[0].warnings[..]
    else {
        panic!("{:?}", attempts[0].warnings);
    };
    assert_eq!(
        (url.as_str(), fragment.as_str()),
        ("https://z.test/.well-known/oci-host-ref-engines", "wanted")
    );
    // Each cause once: the transport error's cause is its source, not in its message.
    let cause = std::error::Error::source(transport)
        .expect("a source")
        .to_string();
    assert!(
        !transport.to_string().contains(&cause),
        "{transport} / {cause}"
    );
    assert_eq!(err.to_string().matches(&cause).count(), 1, "{err}");
    // Without fragment every entry counts.
    let found = d.discover(&name("z.test/x")).expect("all entries");
    assert_eq!(found.entries.len(), 1);
}
