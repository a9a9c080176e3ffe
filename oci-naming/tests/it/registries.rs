//! registries.conf: parity with skopeo for fully qualified names, and the short-name rules
//! of containers-registries.conf(5) from a table.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_naming::{
    ConfigLocations, Rationale, RegistriesConf, ResolveError, ShortNameMode, ref_matching_prefix,
};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("registries")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A loopback port where nothing listens (connections are refused at once).
fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

struct Case {
    name: &'static str,
    conf: &'static str,
    drop_ins: &'static [(&'static str, &'static str)],
    /// (reference, expected physical references, or None for a refusal)
    refs: &'static [(&'static str, Option<&'static [&'static str]>)],
}

const CASES: &[Case] = &[
    Case {
        name: "no-table",
        conf: "",
        drop_ins: &[],
        refs: &[("{H}/a/b:t", Some(&["{H}/a/b:t"]))],
    },
    Case {
        name: "prefix-location",
        conf: r#"
[[registry]]
prefix = "example.com/foo"
location = "{H}/bar"
"#,
        drop_ins: &[],
        refs: &[
            ("example.com/foo/img:tag", Some(&["{H}/bar/img:tag"])),
            ("example.com/foo:tag", Some(&["{H}/bar:tag"])),
            ("example.com/foo/a/b@{D}", Some(&["{H}/bar/a/b@{D}"])),
        ],
    },
    Case {
        name: "longest-prefix",
        conf: r#"
[[registry]]
prefix = "example.com"
location = "{H}/short"
[[registry]]
prefix = "example.com/foo"
location = "{H}/long"
[[registry]]
prefix = "example.com/foo/bar/baz"
location = "{H}/longest"
"#,
        drop_ins: &[],
        refs: &[
            ("example.com/foo/x", Some(&["{H}/long/x:latest"])),
            ("example.com/other/x", Some(&["{H}/short/other/x:latest"])),
            ("example.com/foobar/x", Some(&["{H}/short/foobar/x:latest"])),
            ("example.com/foo/bar/baz", Some(&["{H}/longest:latest"])),
        ],
    },
    Case {
        name: "mirrors",
        conf: r#"
[[registry]]
prefix = "mirrored.example/ns"
location = "{H}/primary"
insecure = true
[[registry.mirror]]
location = "{H}/m-digest"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "{H}/m-tag"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "{H}/m-all"
insecure = true
"#,
        drop_ins: &[],
        refs: &[
            (
                "mirrored.example/ns/app:1",
                Some(&["{H}/m-tag/app:1", "{H}/m-all/app:1", "{H}/primary/app:1"]),
            ),
            (
                "mirrored.example/ns/app@{D}",
                Some(&[
                    "{H}/m-digest/app@{D}",
                    "{H}/m-all/app@{D}",
                    "{H}/primary/app@{D}",
                ]),
            ),
        ],
    },
    Case {
        name: "mirror-by-digest-only",
        conf: r#"
[[registry]]
prefix = "pinned.example"
location = "{H}/p"
mirror-by-digest-only = true
[[registry.mirror]]
location = "{H}/m1"
[[registry.mirror]]
location = "{H}/m2"
"#,
        drop_ins: &[],
        refs: &[
            ("pinned.example/app", Some(&["{H}/p/app:latest"])),
            (
                "pinned.example/app@{D}",
                Some(&["{H}/m1/app@{D}", "{H}/m2/app@{D}", "{H}/p/app@{D}"]),
            ),
        ],
    },
    Case {
        name: "blocked",
        conf: r#"
[[registry]]
location = "blocked.example"
blocked = true
[[registry]]
prefix = "uses-blocked-mirror.example"
location = "{H}/ok"
[[registry.mirror]]
location = "blocked.example/m"
"#,
        drop_ins: &[],
        refs: &[
            ("blocked.example/x", None),
            ("blocked.example/ns/y:2", None),
            ("uses-blocked-mirror.example/y", Some(&["{H}/ok/y:latest"])),
        ],
    },
    Case {
        name: "wildcards",
        conf: r#"
[[registry]]
prefix = "*.wild.example"
location = "{H}/w"
[[registry.mirror]]
location = "{H}/wm"
[[registry]]
prefix = "wild.example"
location = "{H}/exact"
[[registry]]
prefix = "*.blockedwild.example"
blocked = true
"#,
        drop_ins: &[],
        refs: &[
            ("a.wild.example/x:1", Some(&["{H}/wm/x:1", "{H}/w/x:1"])),
            (
                "b.a.wild.example/x/y",
                Some(&["{H}/wm/x/y:latest", "{H}/w/x/y:latest"]),
            ),
            // The port stays after the matched suffix, so the rewrite is not a reference.
            ("a.wild.example:5000/x", None),
            ("wild.example/x", Some(&["{H}/exact/x:latest"])),
            ("q.blockedwild.example/x", None),
        ],
    },
    Case {
        name: "drop-ins",
        conf: r#"
[[registry]]
prefix = "dropin.example"
location = "{H}/main"
"#,
        drop_ins: &[
            (
                "10-a.conf",
                "[[registry]]\nprefix = \"dropin.example\"\nlocation = \"{H}/dropin-a\"\n",
            ),
            (
                "20-b.conf",
                "[[registry]]\nprefix = \"dropin.example/ns\"\nlocation = \"{H}/b\"\n",
            ),
            (
                "30-c.txt",
                "[[registry]]\nprefix = \"dropin.example\"\nlocation = \"{H}/ignored\"\n",
            ),
        ],
        refs: &[
            ("dropin.example/x", Some(&["{H}/dropin-a/x:latest"])),
            ("dropin.example/ns/y", Some(&["{H}/b/y:latest"])),
        ],
    },
    Case {
        name: "docker-hub-library",
        conf: r#"
[[registry]]
prefix = "docker.io/library/alpine"
location = "{H}/alp"
"#,
        drop_ins: &[],
        refs: &[("docker.io/alpine:3", Some(&["{H}/alp:3"]))],
    },
    Case {
        name: "port-prefix",
        conf: r#"
[[registry]]
prefix = "{H}/ns"
location = "{H}/rewritten"
"#,
        drop_ins: &[],
        refs: &[
            ("{H}/ns/img", Some(&["{H}/rewritten/img:latest"])),
            ("{H}/nsx/img", Some(&["{H}/nsx/img:latest"])),
        ],
    },
    Case {
        name: "rewrite-not-canonical",
        conf: r#"
[[registry]]
prefix = "rw.example"
location = "docker.io"
"#,
        drop_ins: &[],
        refs: &[("rw.example/x", None)],
    },
    Case {
        name: "invalid-location",
        conf: r#"
[[registry]]
prefix = "bad.example"
location = "https://bad.example"
"#,
        drop_ins: &[],
        refs: &[("bad.example/x", None)],
    },
];

fn fill(template: &str, host: &str) -> String {
    template.replace("{H}", host).replace("{D}", DIGEST)
}

/// Physical references skopeo tries (minus those it refuses as blocked), or `None` when it
/// fails before trying any.
fn skopeo_sources(dir: &Path, reference: &str) -> Option<Vec<String>> {
    let mut child = Command::new("skopeo")
        .env("HOME", dir.join("home"))
        .arg("--registries-conf")
        .arg(dir.join("registries.conf"))
        .arg("--policy")
        .arg(dir.join("policy.json"))
        .args(["--debug", "inspect", "--retry-times", "0"])
        .arg(format!("docker://{reference}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run skopeo");
    let deadline = Instant::now() + Duration::from_secs(60);
    let stderr_pipe = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut { stderr_pipe }, &mut s);
        s
    });
    loop {
        if child.try_wait().expect("wait skopeo").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("skopeo on {reference} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = reader.join().expect("reader");
    let quoted = |line: &str, marker: &str| -> Option<String> {
        let start = line.find(marker)? + marker.len();
        let rest = &line[start..];
        let end = rest.find("\\\"")?;
        Some(rest[..end].to_owned())
    };
    let mut tried = Vec::new();
    let mut blocked = Vec::new();
    for line in log.lines() {
        if let Some(r) = quoted(line, "Trying to access \\\"") {
            tried.push(r);
        } else if line.contains("is blocked in")
            && let Some(r) = quoted(line, "Accessing \\\"")
        {
            blocked.push(r);
        }
    }
    let usable: Vec<String> = tried.into_iter().filter(|r| !blocked.contains(r)).collect();
    (!usable.is_empty()).then_some(usable)
}

fn ocimg_sources(dir: &Path, reference: &str) -> Option<Vec<String>> {
    let locations = ConfigLocations {
        file: dir.join("registries.conf"),
        file_required: true,
        dirs: vec![
            PathBuf::from("/etc/containers/registries.conf.d"),
            dir.join("home/.config/containers/registries.conf.d"),
        ],
    };
    let conf = RegistriesConf::load(&locations).ok()?;
    let resolution = conf.resolve(reference, false).ok()?;
    Some(
        resolution
            .sources
            .into_iter()
            .map(|s| s.reference)
            .collect(),
    )
}

#[test]
fn fully_qualified_names_resolve_as_skopeo_tries_them() {
    let have_skopeo = Command::new("skopeo")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !have_skopeo {
        assert!(!ci, "skopeo is required in CI");
        eprintln!("skipped: skopeo not installed (the expected lists are still checked)");
    }
    let host = format!("127.0.0.1:{}", refused_port());
    let mut compared = 0;
    for case in CASES {
        let dir = scratch(case.name);
        std::fs::write(dir.join("registries.conf"), fill(case.conf, &host)).expect("write conf");
        std::fs::write(
            dir.join("policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .expect("write policy");
        let drop_dir = dir.join("home/.config/containers/registries.conf.d");
        std::fs::create_dir_all(&drop_dir).expect("drop-in dir");
        for (file, text) in case.drop_ins {
            std::fs::write(drop_dir.join(file), fill(text, &host)).expect("write drop-in");
        }
        for (reference, expected) in case.refs {
            let reference = fill(reference, &host);
            let expected: Option<Vec<String>> =
                expected.map(|list| list.iter().map(|r| fill(r, &host)).collect());
            let ours = ocimg_sources(&dir, &reference);
            assert_eq!(ours, expected, "{}: ocimg on {reference}", case.name);
            if have_skopeo {
                let theirs = skopeo_sources(&dir, &reference);
                assert_eq!(theirs, expected, "{}: skopeo on {reference}", case.name);
                compared += 1;
            }
        }
    }
    if have_skopeo {
        assert!(compared >= 25, "compared {compared} references with skopeo");
    }
}

/// Where ocimg is stricter than skopeo 1.9, on purpose: the man page forbids pulling names
/// under a blocked prefix, while containers/image 5.23 checks only the host of each
/// physical reference.
#[test]
fn a_blocked_namespace_is_refused_even_when_its_location_is_elsewhere() {
    let dir = scratch("blocked-namespace");
    std::fs::write(
        dir.join("registries.conf"),
        "[[registry]]\nprefix = \"example.com/foo\"\nlocation = \"127.0.0.1:9/foo\"\nblocked = true\n",
    )
    .expect("write");
    let conf = RegistriesConf::load(&ConfigLocations {
        file: dir.join("registries.conf"),
        file_required: true,
        dirs: vec![],
    })
    .expect("load");
    assert!(matches!(
        conf.resolve("example.com/foo/x", false),
        Err(ResolveError::Blocked { .. })
    ));
    assert_eq!(
        conf.resolve("example.com/foobar/x", false)
            .expect("not blocked")
            .sources[0]
            .reference,
        "example.com/foobar/x:latest"
    );
}

#[test]
fn prefix_matching_follows_containers_image() {
    let cases: &[(&str, &str, Option<usize>)] = &[
        ("example.com/foo", "example.com", Some(11)),
        ("example.com:5000/foo", "example.com", Some(11)),
        ("example.com", "example.com", Some(11)),
        ("example.community/x", "example.com", None),
        ("a.example.com/x", "*.example.com", Some(13)),
        ("a.b.example.com:1/x", "*.example.com", Some(15)),
        ("example.com/x", "*.example.com", None),
        ("x/a.example.com", "*.example.com", None),
        ("a.example.comm/x", "*.example.com", None),
    ];
    for (name, prefix, want) in cases {
        assert_eq!(
            ref_matching_prefix(name, prefix),
            *want,
            "{name} vs {prefix}"
        );
    }
}

fn conf_from(name: &str, main: &str, drop_ins: &[(&str, &str)]) -> Result<RegistriesConf, String> {
    let dir = scratch(name);
    std::fs::write(dir.join("registries.conf"), main).expect("write");
    let d = dir.join("d");
    std::fs::create_dir_all(&d).expect("mkdir");
    for (file, text) in drop_ins {
        std::fs::write(d.join(file), text).expect("write");
    }
    RegistriesConf::load(&ConfigLocations {
        file: dir.join("registries.conf"),
        file_required: true,
        dirs: vec![d],
    })
    .map_err(|e| e.to_string())
}

fn sources(conf: &RegistriesConf, input: &str, interactive: bool) -> Result<Vec<String>, String> {
    conf.resolve(input, interactive)
        .map(|r| r.sources.into_iter().map(|s| s.reference).collect())
        .map_err(|e| e.to_string())
}

#[test]
fn short_names_follow_the_man_page() {
    let two = r#"
unqualified-search-registries = ["reg1.example", "docker.io"]
short-name-mode = "enforcing"
[aliases]
"myimg" = "quay.io/org/myimg"
"ns/tool" = "localhost/tools/tool"
"#;
    let conf = conf_from("short-enforcing", two, &[]).expect("loads");
    assert_eq!(conf.short_name_mode, ShortNameMode::Enforcing);
    // Ambiguous without a terminal: refused.
    let err = sources(&conf, "busybox", false).expect_err("ambiguous");
    assert!(err.contains("cannot prompt without a TTY"), "{err}");
    // At a terminal a pull would ask: every candidate is listed.
    let r = conf.resolve("busybox", true).expect("interactive");
    assert!(r.needs_choice);
    assert_eq!(r.rationale, Rationale::SearchRegistries);
    assert_eq!(
        sources(&conf, "busybox:1", true).expect("listed"),
        ["reg1.example/busybox:1", "docker.io/library/busybox:1"]
    );
    // Aliases win over the search list, and keep the user's tag or digest.
    assert_eq!(
        sources(&conf, "myimg", false).expect("alias"),
        ["quay.io/org/myimg:latest"]
    );
    assert_eq!(
        sources(&conf, "myimg:2", false).expect("alias"),
        ["quay.io/org/myimg:2"]
    );
    assert_eq!(
        sources(&conf, &format!("myimg@{DIGEST}"), false).expect("alias"),
        [format!("quay.io/org/myimg@{DIGEST}")]
    );
    assert_eq!(
        sources(&conf, "ns/tool", false).expect("alias"),
        ["localhost/tools/tool:latest"]
    );
    // Fully qualified names ignore search registries and aliases.
    assert_eq!(
        sources(&conf, "localhost/myimg", false).expect("fq"),
        ["localhost/myimg:latest"]
    );
    assert_eq!(
        sources(&conf, "quay.io/myimg", false).expect("fq"),
        ["quay.io/myimg:latest"]
    );

    // Permissive (also the default) falls back to every search registry without a terminal.
    let permissive = two.replace("enforcing", "permissive");
    let conf = conf_from("short-permissive", &permissive, &[]).expect("loads");
    assert_eq!(
        sources(&conf, "ns/app", false).expect("all"),
        ["reg1.example/ns/app:latest", "docker.io/ns/app:latest"]
    );
    let unset = two.replace("short-name-mode = \"enforcing\"", "");
    let conf = conf_from("short-default", &unset, &[]).expect("loads");
    assert_eq!(conf.short_name_mode, ShortNameMode::Permissive);
    assert_eq!(sources(&conf, "app", false).expect("all").len(), 2);

    // Disabled never asks.
    let disabled = two.replace("enforcing", "disabled");
    let conf = conf_from("short-disabled", &disabled, &[]).expect("loads");
    let r = conf.resolve("app", true).expect("all");
    assert!(!r.needs_choice);
    assert_eq!(r.sources.len(), 2);

    // One search registry is never ambiguous.
    let one =
        "unqualified-search-registries = [\"only.example\"]\nshort-name-mode = \"enforcing\"\n";
    let conf = conf_from("short-one", one, &[]).expect("loads");
    assert_eq!(
        sources(&conf, "app", false).expect("one"),
        ["only.example/app:latest"]
    );

    // No alias and no search registries.
    let conf = conf_from("short-none", "", &[]).expect("loads");
    let err = sources(&conf, "app", false).expect_err("nothing to search");
    assert!(err.contains("no unqualified-search registries"), "{err}");

    // Search candidates go through [[registry]] rewriting and mirrors too.
    let rewritten = r#"
unqualified-search-registries = ["reg1.example"]
[[registry]]
prefix = "reg1.example"
location = "internal.example/reg1"
[[registry.mirror]]
location = "mirror.example/reg1"
"#;
    let conf = conf_from("short-rewrite", rewritten, &[]).expect("loads");
    assert_eq!(
        sources(&conf, "app", false).expect("rewritten"),
        [
            "mirror.example/reg1/app:latest",
            "internal.example/reg1/app:latest"
        ]
    );
}

#[test]
fn drop_ins_override_search_mode_and_aliases() {
    let main = r#"
unqualified-search-registries = ["a.example", "b.example"]
short-name-mode = "permissive"
[aliases]
"app" = "a.example/app"
"keep" = "a.example/keep"
"#;
    let conf = conf_from(
        "short-dropins",
        main,
        &[
            (
                "50-x.conf",
                "short-name-mode = \"enforcing\"\n[aliases]\n\"app\" = \"\"\n",
            ),
            (
                "60-y.conf",
                "unqualified-search-registries = [\"c.example\"]\n",
            ),
        ],
    )
    .expect("loads");
    assert_eq!(conf.short_name_mode, ShortNameMode::Enforcing);
    assert_eq!(conf.unqualified_search_registries, ["c.example"]);
    // The erased alias falls back to the (single, so unambiguous) search registry.
    assert_eq!(
        sources(&conf, "app", false).expect("search"),
        ["c.example/app:latest"]
    );
    assert_eq!(
        sources(&conf, "keep", false).expect("alias"),
        ["a.example/keep:latest"]
    );
    assert_eq!(conf.files.len(), 3);
}

#[test]
fn invalid_configurations_are_refused_with_the_file_named() {
    let cases: &[(&str, &str)] = &[
        (
            "[aliases]\n\"app:1\" = \"a.example/app\"\n",
            "must not contain tag",
        ),
        (
            "[aliases]\n\"a.example/app\" = \"b.example/app\"\n",
            "must not contain registry",
        ),
        (
            "[aliases]\n\"app\" = \"app2\"\n",
            "must contain registry and repository",
        ),
        (
            "[aliases]\n\"app\" = \"a.example/app:1\"\n",
            "must not contain tag",
        ),
        (
            "short-name-mode = \"sometimes\"\n",
            "invalid short-name mode",
        ),
        (
            "unqualified-search-registries = [\"a.example/ns\"]\n",
            "unqualified-search-registries",
        ),
        (
            "[[registry]]\nprefix = \"a.example\"\n",
            "location is unset",
        ),
        ("[[registry]]\n", "both location and prefix are unset"),
        (
            "[[registry]]\nlocation = \"a.example\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"all\"\n",
            "at the same time",
        ),
        (
            "[[registry]]\nlocation = \"a.example\"\n[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"sometimes\"\n",
            "unsupported pull-from-mirror",
        ),
        (
            "[[registry]]\nprefix = \"x.example\"\nlocation = \"a.example\"\ninsecure = true\n[[registry]]\nprefix = \"y.example\"\nlocation = \"a.example\"\n",
            "conflicting 'insecure'",
        ),
        ("[[registry]]\nlocation = 5\n", "registries.conf"),
        (
            "[registries.search]\nregistries = [\"a.example\"]\n[[registry]]\nlocation = \"b.example\"\n",
            "mixing",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let err = conf_from(&format!("invalid-{i}"), text, &[]).expect_err(text);
        assert!(err.contains(want), "{text:?}: {err}");
        assert!(
            err.contains("registries.conf"),
            "{text:?}: {err} names the file"
        );
    }
}

#[test]
fn version_1_files_are_converted() {
    let v1 = "[registries.search]\nregistries = [\"s.example\"]\n[registries.insecure]\nregistries = [\"i.example\"]\n[registries.block]\nregistries = [\"b.example\"]\n";
    let conf = conf_from("v1", v1, &[]).expect("loads");
    assert_eq!(conf.unqualified_search_registries, ["s.example"]);
    assert!(conf.find_registry("i.example/x").expect("table").insecure);
    assert!(matches!(
        conf.resolve("b.example/x", false),
        Err(ResolveError::Blocked { .. })
    ));
    let r = conf.resolve("i.example/x", false).expect("insecure ok");
    assert!(r.sources[0].insecure);
}
