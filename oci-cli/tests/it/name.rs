//! `ocimg name parse|resolve|discover`: JSON shapes and exit codes.

use oci_test_support::http::{Reply, Server};
use serde_json::{Value, json};

use crate::{ocimg, scratch};

fn stdout_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON value ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn parse_prints_the_normalized_parts() {
    let out = ocimg(&["name", "parse", "--json", "alpine:3.19"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout_json(&out),
        json!({
            "domain": "docker.io", "path": "library/alpine", "tag": "3.19", "digest": null,
            "name": "docker.io/library/alpine", "familiar": "alpine:3.19"
        })
    );
    let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let reference = format!("quay.io:443/org/app@{d}");
    let out = ocimg(&["name", "parse", &reference, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = stdout_json(&out);
    assert_eq!(v["domain"], "quay.io:443");
    assert_eq!(v["tag"], Value::Null);
    assert_eq!(v["digest"], d);
    assert_eq!(v["familiar"], reference);
    // Without --json: for people, still exit 0.
    let out = ocimg(&["name", "parse", "ubuntu"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("docker.io/library/ubuntu"));
}

#[test]
fn parse_rejects_invalid_references_with_exit_1() {
    for bad in [
        "upper/X:1",
        "a//b",
        "x@sha256:abc",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        let out = ocimg(&["name", "parse", "--json", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(stdout_json(&out)["error"].is_string(), "{bad}");
        assert!(!out.stderr.is_empty(), "{bad}: reason on stderr");
    }
    // `--` ends the options: -foo is a (bad) reference, not an unknown option.
    let out = ocimg(&["name", "parse", "--", "-foo"]);
    assert_eq!(out.status.code(), Some(1));
    let out = ocimg(&["name", "parse", "-foo"]);
    assert_eq!(out.status.code(), Some(2), "usage error without --");
    // The containers/image dialect reads an uppercase first component as Docker Hub's.
    let out = ocimg(&["name", "parse", "--json", "Foo/bar"]);
    assert_eq!(out.status.code(), Some(0));
    let out = ocimg(&[
        "name",
        "parse",
        "--json",
        "--dialect",
        "containers-image",
        "Foo/bar",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn resolve_lists_mirrors_first_or_refuses() {
    let dir = scratch("name-resolve");
    let conf = dir.join("registries.conf");
    std::fs::write(
        &conf,
        r#"
unqualified-search-registries = ["one.example", "two.example"]
short-name-mode = "enforcing"
[[registry]]
prefix = "example.com/foo"
location = "internal.example/bar"
[[registry.mirror]]
location = "mirror.example/foo"
insecure = true
[[registry]]
location = "blocked.example"
blocked = true
"#,
    )
    .expect("write");
    let empty = dir.join("no-drop-ins");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let base = [
        "name",
        "resolve",
        "--registries-conf",
        conf.to_str().expect("utf-8"),
        "--registries-conf-dir",
        empty.to_str().expect("utf-8"),
    ];
    let run = |extra: &[&str]| ocimg(&[&base[..], extra].concat());
    let out = run(&["example.com/foo/app:1", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout_json(&out),
        json!([
            {"reference": "mirror.example/foo/app:1", "mirror": true, "insecure": true},
            {"reference": "internal.example/bar/app:1", "mirror": false, "insecure": false}
        ])
    );
    let out = run(&["blocked.example/x", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("blocked"));
    // Two search registries, enforcing, no terminal (stdin is /dev/null): ambiguous.
    let out = run(&["app", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TTY"));
    // A missing explicit file is an I/O error.
    let out = ocimg(&[
        "name",
        "resolve",
        "--registries-conf",
        "/nonexistent/registries.conf",
        "x.example/a",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// The test server answering `handler(host, target)`: its JSON, or 404.
fn serve() -> Server {
    Server::start(|host, target| handler(host, target).map_or_else(Reply::not_found, Reply::ok))
}

const DIGEST: &str = "sha256:5555555555555555555555555555555555555555555555555555555555555555";

fn handler(host: &str, target: &str) -> Option<String> {
    match (host, target) {
        ("example.test", "/.well-known/oci-host-ref-engines") => Some(
            json!({
                "refEngines": [
                    {"protocol": "unknown-v0", "uri": "http://example.test/never"},
                    {"protocol": "oci-index-template-v1", "uri": "http://{host}/ref/{+path}"}
                ],
                "casEngines": [{"protocol": "oci-cas-template-v1", "uri": "http://example.test/cas/{encoded:2}/{encoded}"}]
            })
            .to_string(),
        ),
        ("app.example.test", "/ref/team/app") => Some(
            json!({"schemaVersion": 2, "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST, "size": 10,
                 "annotations": {"org.opencontainers.image.ref.name": "1.0"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": "sha256:6666666666666666666666666666666666666666666666666666666666666666", "size": 11,
                 "annotations": {"org.opencontainers.image.ref.name": "2.0"}}
            ]})
            .to_string(),
        ),
        ("cfg.test", "/home/other") => Some(index_of(DIGEST)),
        ("cfg.test", "/system/other") => Some(index_of(
            "sha256:6666666666666666666666666666666666666666666666666666666666666666",
        )),
        ("cfg.test", "/long/app") => Some(index_of(
            "sha256:7777777777777777777777777777777777777777777777777777777777777777",
        )),
        _ => None,
    }
}

fn index_of(digest: &str) -> String {
    json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 12,
         "annotations": {"org.opencontainers.image.ref.name": "1"}}
    ]})
    .to_string()
}

#[test]
fn discover_walks_to_the_parent_and_selects_the_fragment() {
    let server = serve();
    let a = server.addr().to_string();
    let r1 = format!("app.example.test={a}");
    let r2 = format!("example.test={a}");
    let dir = scratch("name-discover");
    let no_local = dir.join("empty.json");
    std::fs::write(&no_local, "{}").expect("write");
    let out = ocimg(&[
        "name",
        "discover",
        "app.example.test/team/app#1.0",
        "--insecure",
        "--resolve",
        &r1,
        "--resolve",
        &r2,
        "--discovery-config",
        no_local.to_str().expect("utf-8"),
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    assert_eq!(v["name"], "app.example.test/team/app#1.0");
    assert_eq!(v["answeredBy"], "example.test");
    assert_eq!(v["tried"], json!(["app.example.test"]));
    assert_eq!(v["refEngines"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["casEngines"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["entries"][0]["digest"], DIGEST);

    // A fragment no entry carries: the name is rejected (exit 1).
    let out = ocimg(&[
        "name",
        "discover",
        "app.example.test/team/app#9.9",
        "--insecure",
        "--resolve",
        &r1,
        "--resolve",
        &r2,
        "--discovery-config",
        no_local.to_str().expect("utf-8"),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout_json(&out)["error"].is_string());

    // Without --insecure only https is tried: nothing answers (a network failure, exit 2).
    let out = ocimg(&[
        "name",
        "discover",
        "app.example.test/team/app#1.0",
        "--resolve",
        &r1,
        "--resolve",
        &r2,
        "--discovery-config",
        no_local.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn discover_rejects_bad_names_and_options() {
    let out = ocimg(&["name", "discover", "no-path", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let out = ocimg(&["name", "discover", "a.test/x", "--resolve", "a.test"]);
    assert_eq!(out.status.code(), Some(2));
    let out = ocimg(&[
        "name",
        "discover",
        "a.test/x",
        "--resolve",
        "a.test=nowhere",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn discover_reads_the_xdg_configuration_before_the_network() {
    let server = serve();
    let dir = scratch("name-discover-xdg");
    let home = dir.join("home");
    let system = dir.join("system");
    let write = |base: &std::path::Path, value: Value| {
        let d = base.join("oci-discovery");
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("ref-engine-discovery.json"), value.to_string()).expect("write");
    };
    let engine =
        |uri: &str| json!({"refEngines": [{"protocol": "oci-index-template-v1", "uri": uri}]});
    // The user's file wins for a key both set; the longest matching key wins overall.
    write(
        &home,
        json!({"^cfg\\.test/": engine("http://cfg.test/home/{+path}")}),
    );
    write(
        &system,
        json!({
            "^cfg\\.test/": engine("http://cfg.test/system/{+path}"),
            "^cfg\\.test/app": engine("http://cfg.test/long/{+path}")
        }),
    );
    let run = |name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ocimg"))
            .args([
                "name",
                "discover",
                name,
                "--insecure",
                "--json",
                "--resolve",
            ])
            .arg(format!("cfg.test={}", server.addr()))
            .env("XDG_CONFIG_HOME", &home)
            .env("XDG_CONFIG_DIRS", &system)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run ocimg")
    };
    let out = run("cfg.test/app#1");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = stdout_json(&out);
    assert!(
        v["answeredBy"]
            .as_str()
            .is_some_and(|a| a.starts_with("config:")),
        "{v}"
    );
    assert_eq!(
        v["entries"][0]["digest"],
        "sha256:7777777777777777777777777777777777777777777777777777777777777777"
    );
    assert_eq!(v["tried"], json!([]));
    // Another repository: only the shorter key matches, and the user's file sets it.
    let out = run("cfg.test/other#1");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout_json(&out)["entries"][0]["digest"], DIGEST);
}
