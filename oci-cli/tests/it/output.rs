//! Global output behaviour (CLI.md "Common rules"): `-q`, `--debug` and `OCIMG_LOG`,
//! progress only on a terminal, `completions`, and the environment variables users of the
//! containers tools expect.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use oci_test_support::http::{Reply, Server};
use serde_json::json;

use crate::{ocimg, scratch};

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `ocimg` with `args` and extra environment variables, without standard input.
fn ocimg_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ocimg"));
    command.args(args).stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run ocimg")
}

/// A layout at `dir/layout` holding `img:1`, built from a small tree; returns the layout.
fn image(dir: &Path) -> String {
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
    std::fs::write(rootfs.join("etc/hostname"), "test\n").expect("write");
    std::fs::write(rootfs.join("big"), vec![7u8; 300_000]).expect("write");
    let layout = dir.join("layout");
    let tag = format!("{}:1", path(&layout));
    let out = ocimg(&[
        "build",
        &tag,
        "--rootfs",
        path(&rootfs),
        "--cmd",
        r#"["/bin/sh"]"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    path(&layout).to_owned()
}

#[test]
fn quiet_prints_nothing_on_stderr_for_a_successful_command() {
    let dir = scratch("output-quiet");
    let layout = dir.join("layout");
    let out = ocimg(&["-q", "init", path(&layout)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    // A notice goes without -q, and -q silences it (the flag is global: after the
    // subcommand too).
    let out = ocimg(&["name", "parse", "Foo/bar"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stderr(&out).contains("registry host"), "{}", stderr(&out));
    let out = ocimg(&["name", "parse", "Foo/bar", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    // A build, an unpack and an fsck: nothing on stderr with -q.
    let layout = image(&dir);
    let image_ref = format!("{layout}:1");
    let dest = dir.join("unpacked");
    for args in [
        vec!["-q", "unpack", &image_ref, path(&dest)],
        vec!["-q", "fsck", &layout],
    ] {
        let out = ocimg(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
    }
    // --debug logs each step: the command, each layer read, the exit.
    let out = ocimg(&["--debug", "fsck", &layout]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let log = stderr(&out);
    for step in ["command=fsck", "layer 1/1 sha256:", "exit=0"] {
        assert!(log.contains(step), "{step:?} missing: {log}");
    }
    // -q and --debug contradict each other: a usage error.
    assert_eq!(
        ocimg(&["-q", "--debug", "init", &layout]).status.code(),
        Some(2)
    );
}

/// A discovery server for `example.test/team/app`: the well-known document names a ref
/// engine whose URI carries credentials in its userinfo.
fn discovery_server() -> Server {
    Server::start(|host, target| match (host, target) {
        ("example.test", "/.well-known/oci-host-ref-engines") => Reply::json(&json!({
            "refEngines": [
                {"protocol": "oci-index-template-v1", "uri": "http://user:s3cret@{host}/ref/{+path}"}
            ]
        })),
        ("example.test", "/ref/team/app") => {
            Reply::json(&json!({"schemaVersion": 2, "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": "sha256:5555555555555555555555555555555555555555555555555555555555555555",
                 "size": 10, "annotations": {"org.opencontainers.image.ref.name": "1.0"}}
            ]}))
        }
        _ => Reply::not_found(),
    })
}

#[test]
fn debug_logs_each_request_with_status_and_never_credentials() {
    let server = discovery_server();
    let dir = scratch("output-debug");
    let no_local = dir.join("empty.json");
    std::fs::write(&no_local, "{}").expect("write");
    let resolve = format!("example.test={}", server.addr());
    let args = [
        "name",
        "discover",
        "example.test/team/app#1.0",
        "--insecure",
        "--resolve",
        &resolve,
        "--discovery-config",
        path(&no_local),
        "--json",
    ];
    for (flag, env) in [
        (Some("--debug"), None),
        (None, Some(("OCIMG_LOG", "debug"))),
    ] {
        let mut all: Vec<&str> = flag.into_iter().collect();
        all.extend(args);
        let out = ocimg_env(&all, env.as_slice());
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let log = stderr(&out);
        // The request line: method, URL, status, time.
        assert!(
            log.contains("GET http://example.test/.well-known/oci-host-ref-engines 200 ("),
            "{log}"
        );
        assert!(
            log.contains("GET http://***@example.test/ref/team/app 200 ("),
            "{log}"
        );
        assert!(log.contains(" ms)"), "{log}");
        // Never credentials.
        for secret in [
            "s3cret",
            "user:",
            "Authorization",
            "authorization",
            "Basic ",
        ] {
            assert!(!log.contains(secret), "{secret:?} in {log}");
        }
        // The JSON report still alone on stdout.
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
        assert_eq!(value["answeredBy"], "example.test");
    }
    // Without --debug: no log lines.
    let out = ocimg(&args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!stderr(&out).contains("GET "), "{}", stderr(&out));
}

#[test]
fn progress_is_hidden_when_stderr_is_piped_and_drawn_on_a_terminal() {
    let dir = scratch("output-progress");
    let layout = image(&dir);
    let image_ref = format!("{layout}:1");
    // Piped: nothing on stderr from unpack, bundle, copy, build or fsck.
    let rootfs = dir.join("rootfs");
    let copy_dest = format!("oci:{}:1", path(&dir.join("copied")));
    let build_tag = format!("{layout}:2");
    let unpacked = dir.join("unpacked");
    let bundle = dir.join("bundle");
    let cases: [Vec<&str>; 5] = [
        vec!["unpack", "--rootless", &image_ref, path(&unpacked)],
        vec!["bundle", "--rootless", &image_ref, path(&bundle)],
        vec!["copy", &image_ref, &copy_dest],
        vec!["build", &build_tag, "--rootfs", path(&rootfs)],
        vec!["fsck", &layout],
    ];
    for args in &cases {
        let out = ocimg(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
    }
    // On a terminal (script(1) gives the command a pty), unpack draws a bar per layer;
    // with -q it draws nothing.
    let bin = env!("CARGO_BIN_EXE_ocimg");
    let on_tty = |args: &str| -> String {
        let line = format!("{bin} {args}");
        let out = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run script (util-linux)");
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dest = |name: &str| dir.join(name).display().to_string();
    for args in [
        format!("unpack --rootless {image_ref} {}", dest("tty-unpacked")),
        format!("fsck {layout}"),
    ] {
        let drawn = on_tty(&args);
        assert!(drawn.contains("layer 1/1 sha256:"), "{args}: {drawn:?}");
        // NO_COLOR: no colour escapes (SGR colour sequences).
        assert!(!drawn.contains("\x1b[3"), "{args}: {drawn:?}");
    }
    // build: the new layer's bar, its bytes against the tree's size; on a base, the base
    // layer's bar first, then the new layer's bytes and rate.
    let drawn = on_tty(&format!("build {layout}:tty --rootfs {}", path(&rootfs)));
    assert!(drawn.contains("layer 1/1 new"), "{drawn:?}");
    assert!(drawn.contains("KiB/"), "bytes of a total: {drawn:?}");
    let drawn = on_tty(&format!(
        "build {layout}:tty-on-base --base {image_ref} --rootfs {}",
        path(&rootfs)
    ));
    assert!(drawn.contains("layer 1/2 sha256:"), "{drawn:?}");
    assert!(drawn.contains("layer 2/2 new"), "{drawn:?}");
    let quiet = on_tty(&format!(
        "-q unpack --rootless {image_ref} {}",
        dest("tty-quiet")
    ));
    assert!(!quiet.contains("layer 1/1"), "{quiet:?}");
}

#[test]
fn completions_for_every_shell_name_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = ocimg(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
        let script = String::from_utf8_lossy(&out.stdout);
        for sub in ["unpack", "completions", "fsck", "discover"] {
            assert!(script.contains(sub), "{shell}: {sub} missing");
        }
    }
    // bash's script parses.
    let out = ocimg(&["completions", "bash"]);
    let dir = scratch("output-completions");
    let file = dir.join("ocimg.bash");
    std::fs::write(&file, &out.stdout).expect("write");
    let check = Command::new("bash")
        .args(["-n", path(&file)])
        .output()
        .expect("run bash");
    assert!(check.status.success(), "{check:?}");
    // An unknown shell is a usage error.
    assert_eq!(ocimg(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn containers_registries_conf_is_resolves_default() {
    let dir = scratch("output-registries-conf");
    let conf = dir.join("registries.conf");
    std::fs::write(
        &conf,
        "unqualified-search-registries = [\"one.example\"]\nshort-name-mode = \"permissive\"\n",
    )
    .expect("write");
    let empty = dir.join("no-drop-ins");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let args = [
        "name",
        "resolve",
        "app",
        "--registries-conf-dir",
        path(&empty),
        "--json",
    ];
    let out = ocimg_env(&args, &[("CONTAINERS_REGISTRIES_CONF", path(&conf))]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
    assert_eq!(value[0]["reference"], "one.example/app:latest", "{value}");
    // --registries-conf wins over the variable; a missing file named by it is an error.
    let out = ocimg_env(
        &[&args[..], &["--registries-conf", path(&conf)]].concat(),
        &[("CONTAINERS_REGISTRIES_CONF", "/nonexistent/registries.conf")],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = ocimg_env(
        &args,
        &[("CONTAINERS_REGISTRIES_CONF", "/nonexistent/registries.conf")],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stderr(&out).contains("/nonexistent/registries.conf"),
        "{}",
        stderr(&out)
    );
}
