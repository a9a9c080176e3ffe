//! Credentials: auth.json parsing and key precedence, the order of the files, the
//! docker-credential-helpers protocol against a helper script, and login/logout writes.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use oci_registry::credentials::{
    AuthEnv, AuthFile, AuthFileEditor, AuthFileError, Credential, CredentialHelper,
    CredentialLookup, EditError, FileMatch, HelperError, LookupError, LookupOptions, Stored,
};
use oci_test_support::scratch;

fn basic(username: &str, password: &str) -> Credential {
    Credential::Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    }
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn parse(json: &str) -> Result<AuthFile, AuthFileError> {
    AuthFile::parse(json.as_bytes(), Path::new("/x/auth.json"))
}

/// What the file gives for `registry`/`repository`: the key and user name, the helper, or
/// nothing.
fn found(file: &AuthFile, registry: &str, repository: &str) -> String {
    match file.find(registry, repository) {
        FileMatch::Credential { key, credential } => match credential {
            Credential::Basic { username, .. } => format!("{key} {username}"),
            Credential::IdentityToken(t) => format!("{key} token {t}"),
        },
        FileMatch::Helper { name, server } => format!("helper {name} {server}"),
        FileMatch::Nothing => "nothing".to_owned(),
    }
}

#[test]
fn the_most_specific_key_wins_as_containers_image_reads_it() {
    let file = parse(&format!(
        r#"{{"auths": {{
            "reg.example/a/b/c": {{"auth": "{}"}},
            "reg.example/a": {{"auth": "{}"}},
            "reg.example": {{"auth": "{}"}},
            "https://index.docker.io/v1/": {{"auth": "{}"}},
            "http://old.example/v1/": {{"auth": "{}"}},
            "tok.example": {{"auth": "{}", "identitytoken": "refresh"}},
            "empty.example": {{}}
        }}, "someOtherKey": {{"kept": true}}}}"#,
        b64("abc:1"),
        b64("a:2"),
        b64("host:3"),
        b64("hub:4"),
        b64("old:5"),
        b64("tok:6")
    ))
    .expect("parses");
    let cases = [
        ("reg.example", "a/b/c", "reg.example/a/b/c abc"),
        ("reg.example", "a/b/c/d", "reg.example/a/b/c abc"),
        ("reg.example", "a/b", "reg.example/a a"),
        ("reg.example", "a/bc", "reg.example/a a"),
        ("reg.example", "ab", "reg.example host"),
        ("reg.example", "", "reg.example host"),
        (
            "docker.io",
            "library/busybox",
            "https://index.docker.io/v1/ hub",
        ),
        (
            "index.docker.io",
            "library/busybox",
            "https://index.docker.io/v1/ hub",
        ),
        ("old.example", "x", "http://old.example/v1/ old"),
        ("tok.example", "x", "tok.example token refresh"),
        ("empty.example", "x", "nothing"),
        ("other.example", "a", "nothing"),
        // A key with a path is a namespace, never a host.
        ("reg.example:5000", "a", "nothing"),
    ];
    for (registry, repository, want) in cases {
        assert_eq!(
            found(&file, registry, repository),
            want,
            "{registry} {repository}"
        );
    }
}

#[test]
fn helpers_come_before_auths_and_creds_store_after() {
    let file = parse(&format!(
        r#"{{"auths": {{"a.example": {{"auth": "{}"}}, "b.example": {{}}, "docker.io": {{}}}},
            "credHelpers": {{"a.example": "test"}}, "credsStore": "store"}}"#,
        b64("u:p")
    ))
    .expect("parses");
    assert_eq!(found(&file, "a.example", "x"), "helper test a.example");
    assert_eq!(found(&file, "b.example", "x"), "helper store b.example");
    assert_eq!(found(&file, "c.example", ""), "helper store c.example");
    assert_eq!(
        found(&file, "docker.io", "library/x"),
        "helper store https://index.docker.io/v1/"
    );
}

#[test]
fn malformed_files_name_the_file_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"auths": {"q.io": {"auth": "!!!"}}}"#,
            "\"q.io\": \"auth\" is not base64",
        ),
        (
            &format!(
                r#"{{"auths": {{"q.io": {{"auth": "{}"}}}}}}"#,
                b64("nocolon")
            ),
            "\"q.io\": \"auth\" is not \"user:password\"",
        ),
        (
            r#"{"auths": {"q.io": {"auth": 5}}}"#,
            "invalid at auths.q.io.auth",
        ),
        (r#"{"auths": []}"#, "invalid at auths"),
        (
            r#"{"credHelpers": {"q.io": 1}}"#,
            "invalid at credHelpers.q.io",
        ),
        (r#"[]"#, "invalid at ."),
        (r#"{"auths": {}} x"#, "invalid at ."),
    ];
    for (json, want) in cases {
        let err = parse(json).expect_err(json);
        let message = err.to_string();
        assert!(
            message.contains("/x/auth.json") && message.contains(want),
            "{json}: {message:?} should name the file and {want:?}"
        );
        assert!(!message.contains("nocolon"), "no secret in {message}");
    }
    // Null sections and unknown keys are fine.
    parse(r#"{"auths": null, "credHelpers": null, "HttpHeaders": {"X": "y"}}"#).expect("null");
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn entry(host: &str, user: &str) -> String {
    format!(
        r#"{{"auths": {{"{host}": {{"auth": "{}"}}}}}}"#,
        b64(&format!("{user}:pw"))
    )
}

fn user_of(lookup: &CredentialLookup, registry: &str) -> Option<(String, PathBuf)> {
    let found = lookup.find(registry, "ns/app").expect("lookup")?;
    match found.credential {
        Credential::Basic { username, .. } => Some((username, found.source.unwrap_or_default())),
        Credential::IdentityToken(_) => panic!("token"),
    }
}

#[test]
fn files_are_searched_in_the_containers_order() {
    let dir = scratch!("creds-order");
    let home = dir.join("home");
    let env = AuthEnv {
        xdg_runtime_dir: Some(dir.join("run")),
        home: Some(home.clone()),
        ..AuthEnv::default()
    };
    let runtime = dir.join("run/containers/auth.json");
    let config = home.join(".config/containers/auth.json");
    let docker = home.join(".docker/config.json");
    let legacy = home.join(".dockercfg");
    let authfile = dir.join("given.json");
    let from_env = dir.join("env.json");
    write(&runtime, &entry("a.example", "runtime"));
    write(&config, &entry("b.example", "config"));
    write(&docker, &entry("c.example", "docker"));
    write(
        &legacy,
        &format!(
            r#"{{"https://d.example/v1/": {{"auth": "{}"}}}}"#,
            b64("legacy:pw")
        ),
    );
    write(&authfile, &entry("a.example", "given"));
    write(&from_env, &entry("a.example", "env"));

    let lookup = |authfile: Option<PathBuf>, env: AuthEnv| {
        CredentialLookup::new(LookupOptions {
            creds: None,
            authfile,
            env,
        })
    };
    let plain = lookup(None, env.clone());
    assert_eq!(
        user_of(&plain, "a.example"),
        Some(("runtime".into(), runtime.clone()))
    );
    assert_eq!(
        user_of(&plain, "b.example"),
        Some(("config".into(), config.clone()))
    );
    assert_eq!(
        user_of(&plain, "c.example"),
        Some(("docker".into(), docker.clone()))
    );
    assert_eq!(
        user_of(&plain, "d.example"),
        Some(("legacy".into(), legacy.clone()))
    );
    assert_eq!(user_of(&plain, "e.example"), None);

    let with_env = AuthEnv {
        registry_auth_file: Some(from_env.clone()),
        ..env.clone()
    };
    assert_eq!(
        user_of(&lookup(None, with_env.clone()), "a.example"),
        Some(("env".into(), from_env.clone()))
    );
    // --authfile before REGISTRY_AUTH_FILE; the other files are still read after it.
    let given = lookup(Some(authfile.clone()), with_env);
    assert_eq!(
        user_of(&given, "a.example"),
        Some(("given".into(), authfile))
    );
    assert_eq!(
        user_of(&given, "c.example"),
        Some(("docker".into(), docker))
    );

    // --creds wins over every file.
    let creds = CredentialLookup::new(LookupOptions {
        creds: Some(basic("cli", "pw")),
        ..LookupOptions::default()
    });
    assert_eq!(
        user_of(&creds, "a.example"),
        Some(("cli".into(), PathBuf::new()))
    );

    // A broken file is an error naming it, not a silent anonymous pull.
    write(&runtime, "{");
    let err = plain.find("a.example", "x").expect_err("broken");
    assert!(matches!(err, LookupError::File(_)), "{err}");
    assert!(
        err.to_string().contains(&runtime.display().to_string()),
        "{err}"
    );

    assert_eq!(
        AuthEnv {
            uid: 1234,
            ..AuthEnv::default()
        }
        .primary_file(None),
        PathBuf::from("/run/containers/1234/auth.json")
    );
}

/// A `docker-credential-test` helper (a shell script) keeping its credentials as files in
/// `state`; returns the PATH to find it on.
fn install_helper(dir: &Path) -> (OsString, PathBuf) {
    let bin = dir.join("bin");
    let state = dir.join("state");
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
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    (path, state)
}

#[test]
fn a_helper_stores_gets_and_erases_by_the_protocol() {
    let dir = scratch!("creds-helper");
    let (path, state) = install_helper(&dir);
    let helper = CredentialHelper::with_search_path("test", path.clone());
    assert_eq!(helper.get("h.example").unwrap(), None);
    helper.store("h.example", &basic("ann", "s3cret")).unwrap();
    assert_eq!(
        helper.get("h.example").unwrap(),
        Some(basic("ann", "s3cret"))
    );
    helper
        .store("t.example", &Credential::IdentityToken("refresh".into()))
        .unwrap();
    assert_eq!(
        helper.get("t.example").unwrap(),
        Some(Credential::IdentityToken("refresh".into()))
    );
    assert!(helper.erase("h.example").unwrap());
    assert!(!helper.erase("h.example").unwrap());
    assert_eq!(helper.get("h.example").unwrap(), None);
    assert!(helper.list().unwrap().is_empty());

    // A lookup through credHelpers asks the helper.
    helper.store("h.example", &basic("ann", "s3cret")).unwrap();
    let authfile = dir.join("auth.json");
    write(&authfile, r#"{"credHelpers": {"h.example": "test"}}"#);
    let lookup = CredentialLookup::new(LookupOptions {
        creds: None,
        authfile: Some(authfile.clone()),
        env: AuthEnv {
            path: Some(path.clone()),
            ..AuthEnv::default()
        },
    });
    let found = lookup.find("h.example", "x").unwrap().expect("found");
    assert_eq!(
        (found.credential, found.helper.as_deref()),
        (basic("ann", "s3cret"), Some("test"))
    );

    // Failures name the helper program.
    let missing = CredentialHelper::with_search_path("absent", path.clone());
    let err = missing.get("h.example").unwrap_err();
    assert!(matches!(err, HelperError::Start { .. }), "{err}");
    assert!(
        err.to_string().contains("docker-credential-absent"),
        "{err}"
    );
    let failing = dir.join("bin/docker-credential-fail");
    std::fs::write(
        &failing,
        "#!/bin/sh\necho 'the keyring is locked' >&2\nexit 4\n",
    )
    .unwrap();
    std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = CredentialHelper::with_search_path("fail", path.clone())
        .get("h.example")
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("docker-credential-fail get") && message.contains("the keyring is locked"),
        "{message}"
    );
    let chatty = dir.join("bin/docker-credential-chatty");
    std::fs::write(&chatty, "#!/bin/sh\nhead -c 3000000 /dev/zero\n").unwrap();
    std::fs::set_permissions(&chatty, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = CredentialHelper::with_search_path("chatty", path.clone())
        .get("h.example")
        .unwrap_err();
    assert!(matches!(err, HelperError::TooLarge { .. }), "{err}");
    let odd = dir.join("bin/docker-credential-odd");
    std::fs::write(&odd, "#!/bin/sh\necho 'not json'\n").unwrap();
    std::fs::set_permissions(&odd, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = CredentialHelper::with_search_path("odd", path)
        .get("h.example")
        .unwrap_err();
    assert!(matches!(err, HelperError::BadAnswer { .. }), "{err}");
    assert!(std::fs::read_dir(&state).unwrap().count() > 0);
}

#[test]
fn login_writes_as_skopeo_does_and_keeps_everything_else() {
    let dir = scratch!("creds-edit");
    let path = dir.join("sub/dir/auth.json");
    let (path_var, _) = install_helper(&dir);
    let env = AuthEnv {
        path: Some(path_var),
        ..AuthEnv::default()
    };
    let editor = AuthFileEditor::new(path.clone(), &env);
    assert!(
        !editor.remove("a.example").unwrap(),
        "nothing to remove yet"
    );
    assert_eq!(
        editor.store("a.example", "ann", "pw:1").unwrap(),
        Stored::File
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!(
            "{{\n\t\"auths\": {{\n\t\t\"a.example\": {{\n\t\t\t\"auth\": \"{}\"\n\t\t}}\n\t}}\n}}",
            b64("ann:pw:1")
        )
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.join("sub/dir")), 0o700);

    // Other entries, unknown keys and helper settings stay; the key's entry is replaced.
    write(
        &path,
        &format!(
            r#"{{"auths": {{"a.example": {{"auth": "{}", "identitytoken": "old"}},
                "b.example": {{"auth": "{}", "email": "x@y"}}}},
               "credHelpers": {{"h.example": "test"}}, "psFormat": "table"}}"#,
            b64("old:old"),
            b64("bob:pw")
        ),
    );
    editor.store("a.example", "ann", "new").unwrap();
    editor.store("c.example/ns", "cid", "pw").unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({
            "auths": {
                "a.example": {"auth": b64("ann:new")},
                "b.example": {"auth": b64("bob:pw"), "email": "x@y"},
                "c.example/ns": {"auth": b64("cid:pw")},
            },
            "credHelpers": {"h.example": "test"},
            "psFormat": "table",
        })
    );
    let read = AuthFile::load(&path, oci_registry::credentials::AuthFileFormat::Auths)
        .unwrap()
        .unwrap();
    assert_eq!(found(&read, "a.example", ""), "a.example ann");

    // Logout removes just that key.
    assert!(editor.remove("a.example").unwrap());
    assert!(!editor.remove("a.example").unwrap());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let auths = doc["auths"].as_object().unwrap();
    assert_eq!(
        auths.keys().collect::<Vec<_>>(),
        ["b.example", "c.example/ns"]
    );
    editor.remove_all().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"auths": {}, "credHelpers": {"h.example": "test"}, "psFormat": "table"})
    );

    // A broken file is not overwritten.
    write(&path, r#"{"auths": {"a.example": {"auth": 1}}}"#);
    let err = editor.store("a.example", "ann", "pw").unwrap_err();
    assert!(matches!(err, EditError::File(_)), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        r#"{"auths": {"a.example": {"auth": 1}}}"#
    );
}

#[test]
fn login_through_a_cred_helper_leaves_the_file_alone() {
    let dir = scratch!("creds-edit-helper");
    let (path_var, _) = install_helper(&dir);
    let env = AuthEnv {
        path: Some(path_var.clone()),
        ..AuthEnv::default()
    };
    let path = dir.join("auth.json");
    let text = r#"{"credHelpers": {"h.example": "test"}}"#;
    write(&path, text);
    let editor = AuthFileEditor::new(path.clone(), &env);
    assert_eq!(
        editor.store("h.example", "ann", "pw").unwrap(),
        Stored::Helper("test".into())
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    let helper = CredentialHelper::with_search_path("test", path_var);
    assert_eq!(helper.get("h.example").unwrap(), Some(basic("ann", "pw")));
    let err = editor.store("h.example/ns", "ann", "pw");
    assert!(err.is_ok(), "no helper for the namespace key: {err:?}");
    assert!(editor.remove("h.example").unwrap());
    assert_eq!(helper.get("h.example").unwrap(), None);
}
