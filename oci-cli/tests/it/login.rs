//! `ocimg login` and `ocimg logout` against Debian's `docker-registry` (htpasswd basic,
//! token and TLS), read back by skopeo, reading what skopeo wrote, and through a
//! `docker-credential-test` helper script.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use oci_registry::credentials::{AuthEnv, Credential, CredentialLookup, LookupOptions};
use oci_test_support::cli::{path_str, peer, run_with_input};
use oci_test_support::registry::{self, Config, Registry};

use crate::scratch;

const USER: &str = "ann";
const PASSWORD: &str = "s3cret pass";

/// Runs `program` with `args`, `input` on standard input, and `env` set (HOME and
/// XDG_RUNTIME_DIR point into `dir` so no real credentials are read or written).
fn run_in(
    dir: &Path,
    program: &str,
    args: &[&str],
    input: &[u8],
    env: &[(&str, OsString)],
) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .env("HOME", dir.join("home"))
        .env("XDG_RUNTIME_DIR", dir.join("run"))
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    out
}

fn ocimg_in(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    run_in(dir, env!("CARGO_BIN_EXE_ocimg"), args, input, &[])
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

fn login_args<'a>(host: &'a str, authfile: &'a str) -> Vec<&'a str> {
    vec![
        "login",
        "--json",
        "--tls-verify=false",
        "-u",
        USER,
        "--password-stdin",
        "--authfile",
        authfile,
        host,
    ]
}

fn stored_user(authfile: &Path, host: &str) -> Option<(String, String)> {
    let lookup = CredentialLookup::new(LookupOptions {
        creds: None,
        authfile: Some(authfile.to_path_buf()),
        env: AuthEnv::default(),
    });
    match lookup.find(host, "repo").expect("lookup")?.credential {
        Credential::Basic { username, password } => Some((username, password)),
        Credential::IdentityToken(_) => panic!("token"),
    }
}

fn registry_with(dir: &Path, config: Config) -> Option<Registry> {
    registry::available().then(|| Registry::start(&dir.join("registry"), config))
}

#[test]
fn login_checks_the_password_then_writes_what_skopeo_reads_and_logout_removes_it() {
    let dir = scratch("login-basic");
    let Some(registry) = registry_with(&dir, Config::basic(USER, PASSWORD)) else {
        return;
    };
    let host = registry.host();
    let authfile = dir.join("auth.json");
    let file = path_str(&authfile);

    // A wrong password: refused (exit 1), nothing written.
    let out = ocimg_in(&dir, &login_args(&host, file), b"wrong\n");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let error = json(&out)["error"].as_str().unwrap_or_default().to_owned();
    assert!(
        error.contains(&host) && error.contains("refused"),
        "{error}"
    );
    assert!(!authfile.exists(), "nothing stored for a refused password");

    // The right one: checked, stored with mode 0600.
    let input = format!("{PASSWORD}\n");
    let out = ocimg_in(&dir, &login_args(&host, file), input.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        json(&out),
        serde_json::json!({"registry": host, "authfile": file})
    );
    let mode = std::fs::metadata(&authfile).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        stored_user(&authfile, &host),
        Some((USER.into(), PASSWORD.into()))
    );

    if peer("skopeo") {
        // skopeo reads what ocimg wrote.
        let out = run_in(
            &dir,
            "skopeo",
            &["login", "--get-login", "--authfile", file, &host],
            b"",
            &[],
        );
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), USER);

        // skopeo writes the same bytes for the same login, and ocimg reads them.
        let theirs = dir.join("skopeo-auth.json");
        let out = run_in(
            &dir,
            "skopeo",
            &[
                "login",
                "--tls-verify=false",
                "--authfile",
                path_str(&theirs),
                "-u",
                USER,
                "--password-stdin",
                &host,
            ],
            PASSWORD.as_bytes(),
            &[],
        );
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            std::fs::read_to_string(&theirs).unwrap(),
            std::fs::read_to_string(&authfile).unwrap(),
            "skopeo and ocimg write the same file"
        );
        assert_eq!(
            stored_user(&theirs, &host),
            Some((USER.into(), PASSWORD.into()))
        );
        let out = ocimg_in(
            &dir,
            &["logout", "--authfile", path_str(&theirs), &host],
            b"",
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(stored_user(&theirs, &host), None);
    }

    // Logout removes just that entry.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&authfile).unwrap()).unwrap();
    doc["auths"]["other.example"] = serde_json::json!({"auth": "b3RoZXI6cHc="});
    doc["credHelpers"] = serde_json::json!({});
    std::fs::write(&authfile, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = ocimg_in(&dir, &["logout", "--json", "--authfile", file, &host], b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        json(&out),
        serde_json::json!({"registry": host, "authfile": file})
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&authfile).unwrap()).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"auths": {"other.example": {"auth": "b3RoZXI6cHc="}}, "credHelpers": {}})
    );
    // Not logged in any more: an error (exit 2) naming the file.
    let out = ocimg_in(&dir, &["logout", "--authfile", file, &host], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(file),
        "{out:?}"
    );
    // --all empties auths.
    let out = ocimg_in(
        &dir,
        &["logout", "--all", "--json", "--authfile", file],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        json(&out),
        serde_json::json!({"registry": null, "authfile": file})
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&authfile).unwrap()).unwrap();
    assert_eq!(doc["auths"], serde_json::json!({}));
}

#[test]
fn login_writes_the_default_file_or_registry_auth_file() {
    let dir = scratch("login-default");
    let Some(registry) = registry_with(&dir, Config::basic(USER, PASSWORD)) else {
        return;
    };
    let host = registry.host();
    let args = [
        "login",
        "--json",
        "--tls-verify=false",
        "-u",
        USER,
        "--password",
        PASSWORD,
        &host,
    ];
    let out = ocimg_in(&dir, &args, b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let default = dir.join("run/containers/auth.json");
    assert_eq!(json(&out)["authfile"], path_str(&default));
    assert_eq!(
        stored_user(&default, &host),
        Some((USER.into(), PASSWORD.into()))
    );

    let from_env = dir.join("env/auth.json");
    let out = run_in(
        &dir,
        env!("CARGO_BIN_EXE_ocimg"),
        &args,
        b"",
        &[("REGISTRY_AUTH_FILE", from_env.clone().into())],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["authfile"], path_str(&from_env));
    assert!(from_env.exists());
}

#[test]
fn login_through_a_token_server_and_over_tls_with_cert_dir() {
    let dir = scratch("login-token");
    let Some(registry) = registry_with(&dir, Config::token(USER, PASSWORD)) else {
        return;
    };
    let host = registry.host();
    let authfile = dir.join("auth.json");
    let file = path_str(&authfile);
    let out = ocimg_in(&dir, &login_args(&host, file), b"wrong");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!authfile.exists());
    let out = ocimg_in(&dir, &login_args(&host, file), PASSWORD.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stored_user(&authfile, &host),
        Some((USER.into(), PASSWORD.into()))
    );
    drop(registry);

    let dir = scratch("login-tls");
    let registry = Registry::start(
        &dir.join("registry"),
        Config::basic(USER, PASSWORD).with_tls(),
    );
    let host = registry.host();
    let cert_dir = registry.cert_dir().expect("tls");
    let authfile = dir.join("auth.json");
    let file = path_str(&authfile);
    let verified = |extra: &[&str], input: &[u8]| {
        let mut args = vec!["login", "-u", USER, "--password-stdin", "--authfile", file];
        args.extend_from_slice(extra);
        args.push(&host);
        ocimg_in(&dir, &args, input)
    };
    // Unknown CA: a network error (exit 2), nothing stored.
    let out = verified(&[], PASSWORD.as_bytes());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!authfile.exists());
    let out = verified(&["--cert-dir", path_str(&cert_dir)], b"wrong");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = verified(&["--cert-dir", path_str(&cert_dir)], PASSWORD.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        stored_user(&authfile, &host),
        Some((USER.into(), PASSWORD.into()))
    );
}

/// A `docker-credential-test` helper script keeping credentials as files under `dir`;
/// returns the PATH that finds it first.
fn install_helper(dir: &Path) -> OsString {
    let bin = dir.join("bin");
    let state = dir.join("helper-state");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    let script = format!(
        r#"#!/bin/sh
state='{state}'
name() {{ printf %s "$1" | sha256sum | cut -c1-16; }}
input=$(cat)
case "$1" in
get)
    f="$state/$(name "$input")"
    if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store)
    server=$(printf %s "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
    printf %s "$input" > "$state/$(name "$server")" ;;
erase)
    f="$state/$(name "$input")"
    if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
list)
    printf '{{}}' ;;
*)
    echo "unknown action $1" >&2; exit 3 ;;
esac
"#,
        state = state.display()
    );
    let program = bin.join("docker-credential-test");
    std::fs::write(&program, script).unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap()
}

#[test]
fn login_and_logout_through_a_credential_helper() {
    let dir = scratch("login-helper");
    let Some(registry) = registry_with(&dir, Config::basic(USER, PASSWORD)) else {
        return;
    };
    let host = registry.host();
    let path = install_helper(&dir);
    let authfile = dir.join("auth.json");
    let file = path_str(&authfile);
    let text = format!(r#"{{"credHelpers": {{"{host}": "test"}}}}"#);
    std::fs::write(&authfile, &text).unwrap();
    let env = [("PATH", path.clone())];
    let ocimg = env!("CARGO_BIN_EXE_ocimg");
    let out = run_in(
        &dir,
        ocimg,
        &login_args(&host, file),
        PASSWORD.as_bytes(),
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&authfile).unwrap(),
        text,
        "the helper holds it"
    );
    let lookup = CredentialLookup::new(LookupOptions {
        creds: None,
        authfile: Some(authfile.clone()),
        env: AuthEnv {
            path: Some(path.clone()),
            ..AuthEnv::default()
        },
    });
    let found = lookup.find(&host, "repo").unwrap().expect("found");
    assert_eq!(found.helper.as_deref(), Some("test"));
    if peer("skopeo") {
        let out = run_in(
            &dir,
            "skopeo",
            &["login", "--get-login", "--authfile", file, &host],
            b"",
            &env,
        );
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), USER);
    }
    let out = run_in(
        &dir,
        ocimg,
        &["logout", "--authfile", file, &host],
        b"",
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(lookup.find(&host, "repo").unwrap().is_none());
    // A helper that is not installed: exit 2, the message names it.
    std::fs::write(
        &authfile,
        format!(r#"{{"credHelpers": {{"{host}": "absent"}}}}"#),
    )
    .unwrap();
    let out = run_in(
        &dir,
        ocimg,
        &login_args(&host, file),
        PASSWORD.as_bytes(),
        &env,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("docker-credential-absent"),
        "{out:?}"
    );
}

#[test]
fn login_usage_errors_exit_2() {
    let dir = scratch("login-usage");
    let authfile = dir.join("auth.json");
    let file = path_str(&authfile);
    let cases: &[&[&str]] = &[
        // --password-stdin needs -u.
        &[
            "login",
            "--password-stdin",
            "--authfile",
            file,
            "127.0.0.1:1",
        ],
        // No password and standard input is not a terminal.
        &["login", "-u", USER, "--authfile", file, "127.0.0.1:1"],
        // A tag is not a credentials key.
        &[
            "login",
            "-u",
            USER,
            "-p",
            "x",
            "--authfile",
            file,
            "127.0.0.1:1/repo:tag",
        ],
        &["logout", "--authfile", file],
        &["logout", "--all", "--authfile", file, "127.0.0.1:1"],
        &[
            "login",
            "--password",
            "a",
            "--password-stdin",
            "-u",
            USER,
            "127.0.0.1:1",
        ],
    ];
    for args in cases {
        let out = run_with_input(env!("CARGO_BIN_EXE_ocimg"), args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!authfile.exists(), "{args:?}");
    }
}
