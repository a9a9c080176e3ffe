//! The registry launchers: each variant answers `/v2/` as a client expects, and a real
//! client (skopeo) gets through the basic-auth, token-auth and TLS variants.

use oci_spec_types::Platform;
use oci_test_support::cli::{path_str, peer, run};
use oci_test_support::fixture::{ImageFixture, LayerSpec, LayoutFixture};
use oci_test_support::registry::{self, Access, Config, Registry};
use oci_test_support::scratch;

#[test]
fn a_plain_registry_answers_v2_and_stops_on_drop() {
    if !registry::available() {
        return;
    }
    let dir = scratch!("registry-plain");
    let registry = Registry::start(&dir, Config::plain());
    let pid = registry.pid();
    let r = registry.exchange("GET", "/v2/", None);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, b"{}");
    assert!(registry.tags("nothing/here").is_empty());
    assert!(
        registry.log().contains("listening on"),
        "{}",
        registry.log()
    );
    drop(registry);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z")),
        "docker-registry (pid {pid}) still runs after drop"
    );
}

#[test]
fn a_basic_auth_registry_challenges_with_basic_and_takes_the_user() {
    if !registry::available() {
        return;
    }
    let dir = scratch!("registry-basic");
    let registry = Registry::start(&dir, Config::basic("alice", "s3cret"));
    let r = registry.exchange("GET", "/v2/", None);
    assert_eq!(r.status, 401, "{r:?}");
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    let r = registry.exchange("GET", "/v2/", Some("Basic YWxpY2U6d3Jvbmc="));
    assert_eq!(r.status, 401, "a wrong password: {r:?}");
    assert_eq!(registry.get("/v2/").status, 200);
    assert_eq!(registry.creds().as_deref(), Some("alice:s3cret"));
}

#[test]
fn a_token_auth_registry_challenges_with_bearer_and_takes_the_issuers_tokens() {
    if !registry::available() {
        return;
    }
    let dir = scratch!("registry-token");
    let registry = Registry::start(&dir, Config::token("bob", "pw"));
    let issuer = registry.issuer().expect("an issuer");
    let r = registry.exchange("GET", "/v2/", None);
    assert_eq!(r.status, 401, "{r:?}");
    let challenge = r.header("www-authenticate").unwrap_or_default().to_owned();
    assert!(
        challenge.starts_with("Bearer ")
            && challenge.contains(&format!("realm=\"{}\"", issuer.realm()))
            && challenge.contains("service=\"ocimg-test-registry\""),
        "{challenge}"
    );
    // A token the issuer signed opens /v2/; one granting nothing on a repository is
    // refused there with a challenge naming the scope.
    let token = issuer.mint("bob", &[]);
    let r = registry.exchange("GET", "/v2/", Some(&format!("Bearer {token}")));
    assert_eq!(r.status, 200, "{r:?}\n{}", registry.log());
    let r = registry.exchange(
        "GET",
        "/v2/team/app/tags/list",
        Some(&format!("Bearer {token}")),
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|c| c.contains("scope=\"repository:team/app:pull\"")),
        "{r:?}"
    );
    let token = issuer.mint("bob", &[Access::new("repository", "team/app", &["pull"])]);
    let r = registry.exchange(
        "GET",
        "/v2/team/app/tags/list",
        Some(&format!("Bearer {token}")),
    );
    assert_eq!(
        r.status, 404,
        "granted, and the repository is unknown: {r:?}"
    );
    // A forged token (signed by another key) is refused.
    let other = oci_test_support::registry::TokenIssuer::start(&dir.join("other"), &[]);
    let forged = other.mint("bob", &[Access::new("repository", "team/app", &["pull"])]);
    let r = registry.exchange(
        "GET",
        "/v2/team/app/tags/list",
        Some(&format!("Bearer {forged}")),
    );
    assert_eq!(r.status, 401, "{r:?}");
}

#[test]
fn a_tls_registry_answers_over_tls_verified_by_the_test_ca() {
    if !registry::available() {
        return;
    }
    let dir = scratch!("registry-tls");
    let registry = Registry::start(&dir, Config::tls());
    assert!(registry.url("/v2/").starts_with("https://127.0.0.1:"));
    let r = registry.get("/v2/");
    assert_eq!(r.status, 200, "{r:?}");
    let ca = registry.ca_cert().expect("a CA");
    assert!(
        registry
            .cert_dir()
            .expect("a cert dir")
            .join("ca.crt")
            .is_file()
    );
    assert!(ca.is_file());
    // The server certificate chains to the CA, for 127.0.0.1.
    let raw = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&ca)
        .arg(dir.join("certs/server.crt"))
        .output()
        .expect("openssl verify");
    assert!(raw.status.success(), "{raw:?}");
}

/// A one-layer image in a layout, tagged `v1`.
fn layout(dir: &std::path::Path) -> LayoutFixture {
    let image = ImageFixture::new(
        &Platform::new("linux", "amd64"),
        vec![LayerSpec::gzip(&[("hello", b"hello registry")])],
    );
    let layout = LayoutFixture::create(dir.join("layout"));
    layout.tag_image(&image, "v1");
    layout
}

fn skopeo(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let policy = dir.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .expect("policy");
    let mut all = vec!["--policy", path_str(&policy)];
    all.extend(args);
    run("skopeo", &all)
}

#[test]
fn skopeo_pushes_through_basic_token_and_tls_registries() {
    if !registry::available() || !peer("skopeo") {
        return;
    }
    let dir = scratch!("registry-skopeo");
    let layout = layout(&dir);
    let source = format!("oci:{}:v1", path_str(layout.root()));
    for (name, config) in [
        ("basic", Config::basic("alice", "pw")),
        ("token", Config::token("bob", "pw")),
        ("tls", Config::tls()),
    ] {
        let registry = Registry::start(&dir.join(name), config);
        let mut args = vec!["copy".to_owned(), "--quiet".to_owned()];
        match registry.cert_dir() {
            Some(certs) => args.push(format!("--dest-cert-dir={}", certs.display())),
            None => args.push("--dest-tls-verify=false".to_owned()),
        }
        if let Some(creds) = registry.creds() {
            args.push(format!("--dest-creds={creds}"));
        }
        args.push(source.clone());
        args.push(registry.docker("team/app:v1"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = skopeo(&dir, &args);
        assert!(
            out.status.success(),
            "{name}: {out:?}\nregistry log:\n{}",
            registry.log()
        );
        assert_eq!(registry.tags("team/app"), ["v1"], "{name}");
        if let Some(issuer) = registry.issuer() {
            assert!(
                issuer
                    .scopes()
                    .iter()
                    .any(|s| s.contains("repository:team/app:") && s.contains("push")),
                "{:?}",
                issuer.scopes()
            );
        }
        // Without credentials, the push is refused.
        if registry.creds().is_some() {
            let out = skopeo(
                &dir,
                &[
                    "copy",
                    "--quiet",
                    "--dest-tls-verify=false",
                    &source,
                    &registry.docker("team/app:v2"),
                ],
            );
            assert!(!out.status.success(), "{name}: anonymous push succeeded");
            assert_eq!(registry.tags("team/app"), ["v1"], "{name}");
        }
    }
}
