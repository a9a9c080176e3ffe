//! Image config to runtime `config.json` (conversion.md, V1 to V20), user resolution
//! confined to the rootfs, volume seeding, and a real `runc run` of a generated bundle.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use oci_image::runtime_spec::{Spec, User};
use oci_image::{
    BundleOptions, ConvertError, DEFAULT_PATH, HostIds, NoUserDb, RootfsFiles, UserDb,
    runtime_config, seed_volumes, write_config,
};
use oci_spec_types::annotations::implicit;
use oci_spec_types::{ExecConfig, ImageConfig, Platform};

use crate::scratch;

const PASSWD: &str = "\
# the image's users
root:x:0:0:root:/root:/bin/sh

app:x:1000:1001:App:/home/app:/bin/sh
   
svc:x:2000:2000::/:/bin/false
broken:x:nope:1::/:/bin/sh
";

const GROUP: &str = "\
root:x:0:
# comment
app:x:1001:
wheel:x:10:svc,app
audio:x:29:app
staff:x:50:svc
video:x:44: other , app
";

fn image(config: ExecConfig) -> ImageConfig {
    let mut image = ImageConfig::new(&Platform::new("linux", "amd64"), Vec::new());
    image.config = Some(config);
    image
}

/// A config that runs something, plus whatever `edit` sets.
fn runnable(edit: impl FnOnce(&mut ExecConfig)) -> ImageConfig {
    let mut config = ExecConfig {
        cmd: Some(vec!["/bin/true".to_owned()]),
        ..ExecConfig::default()
    };
    edit(&mut config);
    image(config)
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|&s| s.to_owned()).collect()
}

fn convert(image: &ImageConfig) -> Spec {
    runtime_config(image, &NoUserDb, &BundleOptions::default())
        .expect("convert")
        .spec
}

/// A rootfs with the given `/etc/passwd` and `/etc/group` (None: absent).
fn rootfs(name: &str, passwd: Option<&str>, group: Option<&str>) -> PathBuf {
    let root = scratch(&format!("bundle/{name}")).join("rootfs");
    fs::create_dir_all(root.join("etc")).expect("mkdir etc");
    if let Some(passwd) = passwd {
        fs::write(root.join("etc/passwd"), passwd).expect("write passwd");
    }
    if let Some(group) = group {
        fs::write(root.join("etc/group"), group).expect("write group");
    }
    root
}

fn resolve(users: &dyn UserDb, user: &str) -> Result<User, ConvertError> {
    let image = runnable(|c| c.user = Some(user.to_owned()));
    runtime_config(&image, users, &BundleOptions::default()).map(|c| c.spec.process.user)
}

fn user(uid: u32, gid: u32, additional: Option<&[u32]>) -> User {
    User {
        uid,
        gid,
        additional_gids: additional.map(<[u32]>::to_vec),
    }
}

#[test]
fn conversion_v3_verbatim_fields() {
    let env = strings(&["PATH=/custom", "A=1", "A=2", "EMPTY=", "NOEQUALS", "B=x=y"]);
    /// WorkingDir, Env, expected cwd, expected env.
    type Case<'a> = (Option<&'a str>, Option<Vec<String>>, &'a str, Vec<String>);
    let cases: &[Case<'_>] = &[
        (None, None, "/", vec![DEFAULT_PATH.to_owned()]),
        (Some(""), Some(vec![]), "/", vec![DEFAULT_PATH.to_owned()]),
        (Some("/srv/app"), Some(env.clone()), "/srv/app", env.clone()),
        (
            Some("/a/../b/"),
            None,
            "/a/../b/",
            vec![DEFAULT_PATH.to_owned()],
        ),
    ];
    for (workdir, env, cwd, expected_env) in cases {
        let image = runnable(|c| {
            c.working_dir = workdir.map(str::to_owned);
            c.env = env.clone();
        });
        let spec = convert(&image);
        assert_eq!(spec.process.cwd, *cwd, "WorkingDir {workdir:?}");
        assert_eq!(spec.process.env, *expected_env, "Env {env:?}");
    }
    let image = runnable(|c| c.working_dir = Some("relative".to_owned()));
    let err = runtime_config(&image, &NoUserDb, &BundleOptions::default()).unwrap_err();
    assert!(
        matches!(err, ConvertError::RelativeWorkingDir { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("\"relative\""), "{err}");
}

#[test]
fn conversion_v2_v4_defaults_only_add_new_names() {
    let tty = BundleOptions {
        terminal: true,
        ..BundleOptions::default()
    };
    let cases: &[(&[&str], bool, &[&str])] = &[
        (&[], false, &[DEFAULT_PATH]),
        (&[], true, &[DEFAULT_PATH, "TERM=xterm"]),
        (&["PATH=/x"], true, &["PATH=/x", "TERM=xterm"]),
        (&["TERM=dumb", "PATH="], true, &["TERM=dumb", "PATH="]),
        (&["PATHX=1"], false, &["PATHX=1", DEFAULT_PATH]),
        (&["PATH"], false, &["PATH"]),
    ];
    for (env, terminal, expected) in cases {
        let image = runnable(|c| c.env = Some(strings(env)));
        let options = if *terminal {
            tty.clone()
        } else {
            BundleOptions::default()
        };
        let spec = runtime_config(&image, &NoUserDb, &options)
            .expect("convert")
            .spec;
        assert_eq!(spec.process.env, strings(expected), "Env {env:?}");
        assert_eq!(spec.process.terminal, *terminal);
    }
}

#[test]
fn conversion_v5_entrypoint_then_cmd() {
    type Case<'a> = (
        Option<&'a [&'a str]>,
        Option<&'a [&'a str]>,
        Option<&'a [&'a str]>,
    );
    let cases: &[Case<'_>] = &[
        (
            Some(&["/bin/sh", "-c"]),
            Some(&["echo hi", "x"]),
            Some(&["/bin/sh", "-c", "echo hi", "x"]),
        ),
        // C11: Cmd alone, Cmd[0] is the executable.
        (None, Some(&["/bin/ls", "-l"]), Some(&["/bin/ls", "-l"])),
        (Some(&[]), Some(&["/bin/ls"]), Some(&["/bin/ls"])),
        (Some(&["/entry"]), None, Some(&["/entry"])),
        (Some(&["/entry"]), Some(&[]), Some(&["/entry"])),
        (None, None, None),
        (Some(&[]), Some(&[]), None),
    ];
    for (entrypoint, cmd, expected) in cases {
        let image = image(ExecConfig {
            entrypoint: entrypoint.map(strings),
            cmd: cmd.map(strings),
            ..ExecConfig::default()
        });
        let result = runtime_config(&image, &NoUserDb, &BundleOptions::default());
        match expected {
            Some(args) => assert_eq!(
                result.expect("convert").spec.process.args,
                strings(args),
                "Entrypoint {entrypoint:?} Cmd {cmd:?}"
            ),
            None => assert!(
                matches!(result, Err(ConvertError::NothingToRun)),
                "Entrypoint {entrypoint:?} Cmd {cmd:?}: {result:?}"
            ),
        }
    }
    // No `config` at all runs nothing either.
    let bare = ImageConfig::new(&Platform::new("linux", "amd64"), Vec::new());
    assert!(matches!(
        runtime_config(&bare, &NoUserDb, &BundleOptions::default()),
        Err(ConvertError::NothingToRun)
    ));
}

#[test]
fn conversion_v6_implicit_annotations() {
    let mut full = runnable(|c| c.stop_signal = Some("SIGQUIT".to_owned()));
    full.architecture = "arm64".to_owned();
    full.variant = Some("v8".to_owned());
    full.os_version = Some("10.0.1".to_owned());
    full.os_features = Some(strings(&["win32k", "other"]));
    full.author = Some("Jane <j@example.com>".to_owned());
    full.created = Some("2024-01-02T03:04:05.123456789+01:00".to_owned());
    let expected_full: &[(&str, &str)] = &[
        (implicit::OS, "linux"),
        (implicit::ARCHITECTURE, "arm64"),
        (implicit::VARIANT, "v8"),
        (implicit::OS_VERSION, "10.0.1"),
        (implicit::OS_FEATURES, "win32k,other"),
        (implicit::AUTHOR, "Jane <j@example.com>"),
        // Kept as written, not reformatted.
        (implicit::CREATED, "2024-01-02T03:04:05.123456789+01:00"),
        (implicit::STOP_SIGNAL, "SIGQUIT"),
    ];
    let minimal = runnable(|_| {});
    let expected_minimal: &[(&str, &str)] =
        &[(implicit::OS, "linux"), (implicit::ARCHITECTURE, "amd64")];
    for (image, expected) in [(full, expected_full), (minimal, expected_minimal)] {
        let annotations = convert(&image).annotations;
        let expected: BTreeMap<String, String> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(annotations, expected);
    }
}

#[test]
fn conversion_v7_v19_labels_win_over_implicit() {
    let keys = [
        implicit::OS,
        implicit::ARCHITECTURE,
        implicit::VARIANT,
        implicit::OS_VERSION,
        implicit::OS_FEATURES,
        implicit::AUTHOR,
        implicit::CREATED,
        implicit::STOP_SIGNAL,
        implicit::EXPOSED_PORTS,
    ];
    for key in keys {
        let mut image = runnable(|c| {
            c.stop_signal = Some("SIGTERM".to_owned());
            c.exposed_ports = Some(BTreeMap::from([(
                "80/tcp".to_owned(),
                serde_json::json!({}),
            )]));
            c.labels = Some(BTreeMap::from([(key.to_owned(), "from-label".to_owned())]));
        });
        image.variant = Some("v1".to_owned());
        image.os_version = Some("1".to_owned());
        image.os_features = Some(strings(&["f"]));
        image.author = Some("a".to_owned());
        image.created = Some("2020-01-01T00:00:00Z".to_owned());
        let annotations = convert(&image).annotations;
        assert_eq!(annotations[key], "from-label", "{key}");
        assert_eq!(annotations.len(), keys.len(), "{key}: {annotations:?}");
    }
}

#[test]
fn conversion_v8_labels_copied() {
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[("com.example.a", "1")],
        &[
            ("com.example.a", "1"),
            ("z", ""),
            ("org.opencontainers.image.title", "t"),
        ],
    ];
    for labels in cases {
        let image = runnable(|c| {
            c.labels = Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            );
        });
        let annotations = convert(&image).annotations;
        for (key, value) in *labels {
            assert_eq!(annotations.get(*key).map(String::as_str), Some(*value));
        }
        assert_eq!(annotations.len(), labels.len() + 2, "{annotations:?}");
    }
}

#[test]
fn conversion_v20_image_values_unchanged() {
    let odd = [
        ("k1", " spaced  value\t"),
        ("k2", "line\nbreak"),
        ("k3", "ünïcödé,comma"),
        ("k4", ""),
    ];
    let image = runnable(|c| {
        c.labels = Some(
            odd.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        c.stop_signal = Some(" 9 ".to_owned());
    });
    let annotations = convert(&image).annotations;
    for (key, value) in odd {
        assert_eq!(annotations[key], value);
    }
    assert_eq!(annotations[implicit::STOP_SIGNAL], " 9 ");
}

#[test]
fn conversion_v16_exposed_ports_annotation() {
    let cases: &[(&[&str], Option<&str>, Option<&str>)] = &[
        (&[], None, None),
        (&["80/tcp"], None, Some("80/tcp")),
        // Byte order of the keys, whatever order the config had.
        (
            &["8080/tcp", "53/udp", "443/tcp", "9000"],
            None,
            Some("443/tcp,53/udp,8080/tcp,9000"),
        ),
        (&["80/tcp"], Some("labelled"), Some("labelled")),
    ];
    for (ports, label, expected) in cases {
        let image = runnable(|c| {
            c.exposed_ports = Some(
                ports
                    .iter()
                    .map(|p| ((*p).to_owned(), serde_json::json!({})))
                    .collect(),
            );
            if let Some(label) = label {
                c.labels = Some(BTreeMap::from([(
                    implicit::EXPOSED_PORTS.to_owned(),
                    (*label).to_owned(),
                )]));
            }
        });
        let annotations = convert(&image).annotations;
        assert_eq!(
            annotations.get(implicit::EXPOSED_PORTS).map(String::as_str),
            *expected,
            "{ports:?}"
        );
    }
}

#[test]
fn conversion_v10_numeric_ids_verbatim() {
    let root = rootfs("v10", Some(PASSWD), Some(GROUP));
    let db = RootfsFiles::new(&root);
    let cases: &[(&str, User)] = &[
        // Absent from passwd: still verbatim, group 0.
        ("4242", user(4242, 0, None)),
        ("4242:4343", user(4242, 4343, None)),
        // In passwd: the primary group, never additional groups.
        ("1000", user(1000, 1001, None)),
        ("0", user(0, 0, None)),
        ("0:0", user(0, 0, None)),
        ("007:010", user(7, 10, None)),
        ("app:4343", user(1000, 4343, None)),
        ("4294967295:4294967294", user(u32::MAX, u32::MAX - 1, None)),
    ];
    for (spec, expected) in cases {
        assert_eq!(&resolve(&db, spec).expect(spec), expected, "User {spec:?}");
    }
    // Numeric ids need no user database at all.
    assert_eq!(
        resolve(&NoUserDb, "5:6").expect("numeric"),
        user(5, 6, None)
    );
    assert_eq!(resolve(&NoUserDb, "5").expect("numeric"), user(5, 0, None));
}

#[test]
fn conversion_v11_names_resolved_from_rootfs() {
    let root = rootfs("v11", Some(PASSWD), Some(GROUP));
    let db = RootfsFiles::new(&root);
    let cases: &[(&str, User)] = &[
        ("root", user(0, 0, None)),
        ("svc:staff", user(2000, 50, None)),
        ("4242:wheel", user(4242, 10, None)),
        ("app:app", user(1000, 1001, None)),
        ("svc:root", user(2000, 0, None)),
    ];
    for (spec, expected) in cases {
        assert_eq!(&resolve(&db, spec).expect(spec), expected, "User {spec:?}");
    }
}

#[test]
fn conversion_v12_additional_gids_from_membership() {
    let root = rootfs("v12", Some(PASSWD), Some(GROUP));
    let db = RootfsFiles::new(&root);
    let cases: &[(&str, User)] = &[
        // Named user, no group: memberships (wheel, audio, video with spaces), sorted.
        ("app", user(1000, 1001, Some(&[10, 29, 44]))),
        ("svc", user(2000, 2000, Some(&[10, 50]))),
        // root is in no member list.
        ("root", user(0, 0, None)),
        // A group given, or a numeric user: additionalGids left unset.
        ("app:audio", user(1000, 29, None)),
        ("app:29", user(1000, 29, None)),
        ("1000", user(1000, 1001, None)),
    ];
    for (spec, expected) in cases {
        assert_eq!(&resolve(&db, spec).expect(spec), expected, "User {spec:?}");
    }
}

#[test]
fn conversion_v13_unset_user_is_root() {
    for user_value in [None, Some("")] {
        let image = runnable(|c| c.user = user_value.map(str::to_owned));
        assert_eq!(convert(&image).process.user, user(0, 0, None));
    }
}

#[test]
fn conversion_v14_unknown_user_or_group_is_error() {
    let root = rootfs("v14", Some(PASSWD), Some(GROUP));
    let db = RootfsFiles::new(&root);
    let missing = rootfs("v14-missing", None, None);
    let missing = RootfsFiles::new(&missing);
    let cases: &[(&dyn UserDb, &str, &str)] = &[
        (&db, "nobody", "no user \"nobody\""),
        (&db, "nobody:root", "no user \"nobody\""),
        // A malformed passwd line defines no user.
        (&db, "broken", "no user \"broken\""),
        // A user named in a group's member list only is not a user.
        (&db, "other", "no user \"other\""),
        (&db, "app:nogroup", "no group \"nogroup\""),
        (&db, "1000:nogroup", "no group \"nogroup\""),
        (&missing, "app", "no user \"app\""),
        (&missing, "0:wheel", "no group \"wheel\""),
        (&NoUserDb, "app", "no user \"app\""),
    ];
    for (source, spec, message) in cases {
        let err = resolve(*source, spec).expect_err(spec);
        assert!(
            matches!(
                err,
                ConvertError::UnknownUser { .. } | ConvertError::UnknownGroup { .. }
            ),
            "{spec}: {err:?}"
        );
        assert!(err.to_string().contains(message), "{spec}: {err}");
    }
}

#[test]
fn user_values_that_are_not_user_group() {
    for spec in ["a:b:c", ":grp", "app:", ":", "4294967296", "1:99999999999"] {
        let err = resolve(&NoUserDb, spec).expect_err(spec);
        assert!(
            matches!(err, ConvertError::InvalidUser { .. }),
            "{spec}: {err:?}"
        );
        assert!(err.to_string().contains(spec), "{spec}: {err}");
    }
}

#[test]
fn user_db_symlink_out_of_rootfs_stays_inside() {
    // BASE/rootfs/etc/passwd -> ../../secret/passwd: on the host that is BASE/secret/passwd,
    // in the container it is /secret/passwd.
    let root = rootfs("symlink-out", None, None);
    let base = root.parent().expect("base").to_owned();
    fs::create_dir_all(base.join("secret")).expect("mkdir");
    fs::write(base.join("secret/passwd"), "evil:x:666:666::/:/bin/sh\n").expect("write");
    fs::create_dir_all(root.join("secret")).expect("mkdir");
    fs::write(root.join("secret/passwd"), "evil:x:777:778::/:/bin/sh\n").expect("write");
    symlink("../../secret/passwd", root.join("etc/passwd")).expect("symlink");
    // An absolute symlink for the group database, through a path that on the host leads
    // to the host's /etc/group.
    symlink("/proc/self/root/etc/group", root.join("etc/group")).expect("symlink");
    let db = RootfsFiles::new(&root);
    assert_eq!(resolve(&db, "evil").expect("evil"), user(777, 778, None));
    // The host's /etc/group is never read: "root" is not a group in this rootfs.
    assert!(matches!(
        resolve(&db, "0:root"),
        Err(ConvertError::UnknownGroup { .. })
    ));

    // A symlink loop and a directory are errors naming the file, not a hang or a panic.
    let root = rootfs("symlink-loop", None, None);
    symlink("passwd", root.join("etc/passwd")).expect("symlink");
    fs::create_dir(root.join("etc/group")).expect("mkdir");
    let db = RootfsFiles::new(&root);
    let err = resolve(&db, "app").expect_err("loop");
    assert!(err.to_string().contains("/etc/passwd"), "{err}");
    let err = resolve(&db, "0:wheel").expect_err("dir");
    assert!(
        matches!(
            err,
            ConvertError::ReadUserDb {
                path: "/etc/group",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn user_db_fifo_is_an_error_not_a_hang() {
    let root = rootfs("fifo", None, None);
    let status = Command::new("mkfifo")
        .arg(root.join("etc/passwd"))
        .status()
        .expect("run mkfifo");
    assert!(status.success());
    let err = resolve(&RootfsFiles::new(&root), "app").expect_err("fifo");
    assert!(
        matches!(
            err,
            ConvertError::ReadUserDb {
                path: "/etc/passwd",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn conversion_v17_volumes_as_bind_mounts() {
    let image = runnable(|c| {
        c.volumes = Some(
            ["/var/lib/db", "/data", "/data/sub", "/cache/"]
                .iter()
                .map(|p| ((*p).to_owned(), serde_json::json!({})))
                .collect(),
        );
    });
    let conversion = runtime_config(&image, &NoUserDb, &BundleOptions::default()).expect("convert");
    let volume_mounts: Vec<(&str, &str, &str, Vec<&str>)> = conversion
        .spec
        .mounts
        .iter()
        .filter(|m| m.source.starts_with("volumes/"))
        .map(|m| {
            (
                m.destination.as_str(),
                m.source.as_str(),
                m.kind.as_str(),
                m.options.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        volume_mounts,
        vec![
            ("/cache/", "volumes/0", "bind", vec!["rbind", "rw"]),
            ("/data", "volumes/1", "bind", vec!["rbind", "rw"]),
            ("/data/sub", "volumes/2", "bind", vec!["rbind", "rw"]),
            ("/var/lib/db", "volumes/3", "bind", vec!["rbind", "rw"]),
        ]
    );
    let listed: Vec<(usize, &str)> = conversion
        .volumes
        .iter()
        .map(|v| (v.index, v.path.as_str()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (0, "/cache/"),
            (1, "/data"),
            (2, "/data/sub"),
            (3, "/var/lib/db")
        ]
    );
    // Volume mounts come after the default ones.
    assert_eq!(
        conversion.spec.mounts.last().map(|m| m.source.as_str()),
        Some("volumes/3")
    );

    for bad in ["relative", "/", "//", "/a/..", ""] {
        let image = runnable(|c| {
            c.volumes = Some(BTreeMap::from([(bad.to_owned(), serde_json::json!({}))]));
        });
        let err = runtime_config(&image, &NoUserDb, &BundleOptions::default()).unwrap_err();
        assert!(
            matches!(err, ConvertError::InvalidVolume { .. }),
            "{bad:?}: {err:?}"
        );
    }
}

#[test]
fn seed_volumes_moves_image_data_out_of_rootfs() {
    let bundle = scratch("bundle/seed");
    let root = bundle.join("rootfs");
    fs::create_dir_all(root.join("data/sub")).expect("mkdir");
    fs::write(root.join("data/top"), "top").expect("write");
    fs::write(root.join("data/sub/inner"), "inner").expect("write");
    fs::set_permissions(root.join("data"), fs::Permissions::from_mode(0o1750)).expect("chmod");
    // A volume whose path is a symlink to outside the rootfs: left alone.
    fs::create_dir_all(bundle.join("outside")).expect("mkdir");
    fs::write(bundle.join("outside/secret"), "s").expect("write");
    fs::create_dir_all(bundle.join("outside/x")).expect("mkdir");
    fs::write(bundle.join("outside/x/host-file"), "h").expect("write");
    symlink("../outside", root.join("link")).expect("symlink");
    // A parent symlink escaping the rootfs resolves inside it.
    symlink("/../../outside", root.join("escape")).expect("symlink");

    let image = runnable(|c| {
        c.volumes = Some(
            ["/data", "/data/sub", "/missing/dir", "/link", "/escape/x"]
                .iter()
                .map(|p| ((*p).to_owned(), serde_json::json!({})))
                .collect(),
        );
    });
    let conversion = runtime_config(&image, &NoUserDb, &BundleOptions::default()).expect("convert");
    let index = |path: &str| {
        conversion
            .volumes
            .iter()
            .find(|v| v.path == path)
            .expect("volume")
            .index
    };
    seed_volumes(&bundle, &conversion.volumes).expect("seed");
    let volume = |path: &str| bundle.join("volumes").join(index(path).to_string());

    assert_eq!(
        fs::read_to_string(volume("/data").join("top")).expect("top"),
        "top"
    );
    assert_eq!(
        fs::read_to_string(volume("/data/sub").join("inner")).expect("inner"),
        "inner"
    );
    // The nested volume's data went to its own directory only.
    assert!(!volume("/data").join("sub/inner").exists());
    assert_eq!(
        fs::metadata(volume("/data"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777,
        0o1750
    );
    // The rootfs keeps empty mountpoints with the same mode, and no volume data.
    assert_eq!(fs::read_dir(root.join("data")).expect("read").count(), 0);
    assert_eq!(
        fs::metadata(root.join("data"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777,
        0o1750
    );
    for path in ["/missing/dir", "/link", "/escape/x"] {
        let dir = volume(path);
        assert!(dir.is_dir(), "{path}");
        assert_eq!(fs::read_dir(&dir).expect("read").count(), 0, "{path}");
    }
    assert!(root.join("link").is_symlink());
    assert!(bundle.join("outside/secret").exists());
    assert!(bundle.join("outside/x/host-file").exists());
}

#[test]
fn config_json_bytes_are_deterministic() {
    let root = rootfs("determinism", Some(PASSWD), Some(GROUP));
    let make = |labels: &[(&str, &str)]| {
        let image = runnable(|c| {
            c.user = Some("app".to_owned());
            c.env = Some(strings(&["Z=1", "A=2"]));
            c.labels = Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            );
            c.volumes = Some(BTreeMap::from([("/v".to_owned(), serde_json::json!({}))]));
        });
        runtime_config(&image, &RootfsFiles::new(&root), &BundleOptions::default())
            .expect("convert")
            .spec
            .to_bytes()
    };
    let first = make(&[("b", "1"), ("a", "2")]);
    let second = make(&[("a", "2"), ("b", "1")]);
    assert_eq!(first, second);
    assert!(first.ends_with(b"}\n"));
    // The bytes parse back to the same spec, and env keeps the image's order.
    let spec: Spec = serde_json::from_slice(&first).expect("parse");
    assert_eq!(spec.to_bytes(), first);
    assert_eq!(spec.process.env[..2], strings(&["Z=1", "A=2"]));
    let text = String::from_utf8(first).expect("utf-8");
    let a = text.find("\"a\": \"2\"").expect("a");
    let b = text.find("\"b\": \"1\"").expect("b");
    assert!(a < b);
}

/// Whether `peer` can be run; false (after a visible message) to skip, panics under CI.
fn have(peer: &str) -> bool {
    let found = Command::new(peer).arg("--version").output().is_ok();
    if !found {
        skip(&format!("{peer} not installed"));
    }
    found
}

#[test]
fn rootless_needs_a_root_user() {
    let root = rootfs("rootless-user", Some(PASSWD), Some("wheel:x:10:root\n"));
    let db = RootfsFiles::new(&root);
    let options = BundleOptions {
        rootless: Some(HostIds {
            uid: 1000,
            gid: 1000,
        }),
        ..BundleOptions::default()
    };
    let convert = |user: &str| {
        let image = runnable(|c| c.user = Some(user.to_owned()));
        runtime_config(&image, &db, &options).map(|c| c.spec)
    };
    for user in ["app", "0:5", "7"] {
        let err = convert(user).expect_err(user);
        assert!(
            matches!(err, ConvertError::RootlessUser { .. }),
            "{user}: {err:?}"
        );
        assert!(err.to_string().contains(user), "{err}");
    }
    // Named root in a group: the supplementary group is dropped, the ids are mapped.
    let spec = convert("root").expect("root");
    assert_eq!(spec.process.user, user(0, 0, None));
    let linux = spec.linux.expect("linux");
    assert_eq!(
        (
            linux.uid_mappings[0].container_id,
            linux.uid_mappings[0].host_id,
            linux.uid_mappings[0].size
        ),
        (0, 1000, 1)
    );
    assert_eq!(linux.gid_mappings[0].host_id, 1000);
    // Not rootless, the same user keeps its group.
    let image = runnable(|c| c.user = Some("root".to_owned()));
    let spec = runtime_config(&image, &db, &BundleOptions::default()).expect("root");
    assert_eq!(spec.spec.process.user, user(0, 0, Some(&[10])));
}

/// The defaults are those of `runc spec` (and `runc spec --rootless`), apart from the
/// documented differences.
#[test]
fn defaults_match_runc_spec() {
    if !have("runc") {
        return;
    }
    for rootless in [false, true] {
        let dir = scratch(&format!("bundle/runc-spec-{rootless}"));
        let mut command = Command::new("runc");
        command.arg("spec").current_dir(&dir);
        if rootless {
            command.arg("--rootless");
        }
        let status = command.status().expect("run runc spec");
        assert!(status.success());
        let runc: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("config.json")).expect("read"))
                .expect("parse");
        let options = BundleOptions {
            terminal: true,
            rootless: rootless.then(HostIds::current),
        };
        let ours = runtime_config(&runnable(|_| {}), &NoUserDb, &options)
            .expect("convert")
            .spec;
        let ours: serde_json::Value = serde_json::from_slice(&ours.to_bytes()).expect("parse");
        for pointer in [
            "/ociVersion",
            "/mounts",
            "/linux",
            "/process/capabilities",
            "/process/rlimits",
            "/process/noNewPrivileges",
            "/process/terminal",
            "/process/user",
            "/root/path",
        ] {
            assert_eq!(
                ours.pointer(pointer),
                runc.pointer(pointer),
                "{pointer} rootless={rootless}"
            );
        }
        assert_eq!(
            ours.pointer("/root/readonly"),
            Some(&serde_json::json!(false))
        );
    }
}

/// Why a peer-dependent test cannot run here: fails under CI, else says "skipped".
fn skip(reason: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "cannot run under CI: {reason}"
    );
    #[allow(clippy::print_stderr, reason = "a skipped test must say so")]
    {
        eprintln!("skipped: {reason}");
    }
}

/// A bundle directory whose rootfs holds Debian's static busybox, `/etc/passwd` with a
/// named user `worker` (1234:1235, also in group `extra` 2000) and `/data/seeded`; None
/// (after [`skip`]) where runc cannot run.
fn busybox_bundle(name: &str) -> Option<PathBuf> {
    if !have("runc") {
        return None;
    }
    if !rustix::process::geteuid().is_root() {
        skip("runc run needs root");
        return None;
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        skip("busybox-static not installed");
        return None;
    }
    let bundle = scratch(&format!("bundle/{name}"));
    let root = bundle.join("rootfs");
    for dir in ["bin", "etc", "srv/app", "data", "proc", "sys", "dev", "tmp"] {
        fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "echo", "id", "pwd", "cat"] {
        symlink("busybox", root.join("bin").join(applet)).expect("symlink");
    }
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nworker:x:1234:1235::/srv/app:/bin/sh\n",
    )
    .expect("passwd");
    fs::write(
        root.join("etc/group"),
        "root:x:0:\nworker:x:1235:\nextra:x:2000:worker\n",
    )
    .expect("group");
    fs::write(root.join("data/seeded"), "seeded-from-image\n").expect("seed file");
    Some(bundle)
}

/// Converts `image` into `bundle` (config.json, volumes) and runs it with `runc run`,
/// as root or, with `unprivileged`, as that uid and gid (the bundle then chowned to it);
/// the container's standard output.
fn convert_and_run(
    bundle: &Path,
    image: &ImageConfig,
    options: &BundleOptions,
    unprivileged: Option<u32>,
) -> String {
    let conversion =
        runtime_config(image, &RootfsFiles::new(bundle.join("rootfs")), options).expect("convert");
    assert!(!conversion.spec.process.terminal);
    write_config(bundle, &conversion.spec).expect("write config");
    let mode = fs::metadata(bundle.join("config.json"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    seed_volumes(bundle, &conversion.volumes).expect("seed");

    let id = format!(
        "ocimg-it-{}-{}",
        bundle.file_name().and_then(|n| n.to_str()).unwrap_or("b"),
        std::process::id()
    );
    let runc = |args: &[&std::ffi::OsStr]| {
        let mut command = match unprivileged {
            None => Command::new("runc"),
            Some(id) => {
                let state = bundle.with_extension("state");
                let mut command = Command::new("setpriv");
                command
                    .arg(format!("--reuid={id}"))
                    .arg(format!("--regid={id}"))
                    .args(["--clear-groups", "env"])
                    .arg(format!("XDG_RUNTIME_DIR={}", state.display()))
                    .args(["runc", "--root"])
                    .arg(state.join("runc"));
                command
            }
        };
        command
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run runc")
    };
    if let Some(owner) = unprivileged {
        let state = bundle.with_extension("state");
        let _ = fs::remove_dir_all(&state);
        fs::create_dir(&state).expect("mkdir state");
        for path in [bundle, state.as_path()] {
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{owner}:{owner}"))
                .arg(path)
                .status()
                .expect("run chown");
            assert!(status.success());
        }
    }
    let output = runc(&[
        "run".as_ref(),
        "-b".as_ref(),
        bundle.as_os_str(),
        id.as_ref(),
    ]);
    let _ = runc(&["delete".as_ref(), "-f".as_ref(), id.as_ref()]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "runc run failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A bundle made from an image config with an entrypoint, a cmd, an env variable, a
/// working directory, a named user and a volume runs under `runc run` as the config says.
#[test]
fn runc_runs_converted_bundle() {
    let Some(bundle) = busybox_bundle("runc-run") else {
        return;
    };
    let image = image(ExecConfig {
        entrypoint: Some(strings(&[
            "/bin/sh",
            "-c",
            "echo \"args=$0,$1\"; echo \"greeting=$GREETING\"; echo \"cwd=$(pwd)\"; \
             echo \"uid=$(id -u) gid=$(id -g) groups=$(id -G)\"; cat /data/seeded",
        ])),
        cmd: Some(strings(&["first", "second"])),
        env: Some(strings(&["GREETING=hello world"])),
        working_dir: Some("/srv/app".to_owned()),
        user: Some("worker".to_owned()),
        volumes: Some(BTreeMap::from([(
            "/data".to_owned(),
            serde_json::json!({}),
        )])),
        ..ExecConfig::default()
    });
    let stdout = convert_and_run(&bundle, &image, &BundleOptions::default(), None);
    assert_eq!(
        stdout,
        "args=first,second\ngreeting=hello world\ncwd=/srv/app\n\
         uid=1234 gid=1235 groups=1235 2000\nseeded-from-image\n"
    );
}

/// A `--rootless` bundle runs under runc started by an unprivileged user (nobody), with
/// container root mapped to that user.
#[test]
fn runc_runs_rootless_bundle_unprivileged() {
    const NOBODY: u32 = 65534;
    let Some(bundle) = busybox_bundle("runc-rootless") else {
        return;
    };
    if !have("setpriv") {
        return;
    }
    let image = image(ExecConfig {
        cmd: Some(strings(&[
            "/bin/sh",
            "-c",
            "echo \"uid=$(id -u)\"; cat /proc/self/uid_map; cat /data/seeded",
        ])),
        volumes: Some(BTreeMap::from([(
            "/data".to_owned(),
            serde_json::json!({}),
        )])),
        ..ExecConfig::default()
    });
    let options = BundleOptions {
        rootless: Some(HostIds {
            uid: NOBODY,
            gid: NOBODY,
        }),
        ..BundleOptions::default()
    };
    let stdout = convert_and_run(&bundle, &image, &options, Some(NOBODY));
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        vec![
            vec!["uid=0"],
            vec!["0", "65534", "1"],
            vec!["seeded-from-image"],
        ],
        "{stdout}"
    );
}

/// umoci's converter (`umoci raw runtime-config`) and ours agree on the fields
/// conversion.md fixes, for the same image config and rootfs.
#[test]
fn umoci_agrees_on_converted_fields() {
    use oci_spec_types::media_type;
    use oci_spec_types::{Algorithm, Descriptor, Document, ImageManifest};

    if !have("umoci") {
        return;
    }
    let dir = scratch("bundle/umoci");
    let root = dir.join("rootfs");
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    fs::write(root.join("etc/passwd"), PASSWD).expect("passwd");
    // runc's parser (used by umoci) keeps the spaces around group members, where glibc
    // and we skip them: compare on a group file without them.
    let group = GROUP.replace(" other , app", "other,app");
    assert_ne!(group, GROUP);
    fs::write(root.join("etc/group"), group).expect("group");

    let mut config = image(ExecConfig {
        user: Some("app".to_owned()),
        entrypoint: Some(strings(&["/bin/server", "--flag"])),
        cmd: Some(strings(&["serve", "x y"])),
        env: Some(strings(&["PATH=/opt/bin:/bin", "GREETING=hi=there"])),
        working_dir: Some("/srv".to_owned()),
        labels: Some(BTreeMap::from([
            ("com.example.k".to_owned(), "v".to_owned()),
            (implicit::AUTHOR.to_owned(), "label author".to_owned()),
        ])),
        exposed_ports: Some(BTreeMap::from([
            ("8080/tcp".to_owned(), serde_json::json!({})),
            ("53/udp".to_owned(), serde_json::json!({})),
        ])),
        volumes: Some(BTreeMap::from([
            ("/var/data".to_owned(), serde_json::json!({})),
            ("/cache".to_owned(), serde_json::json!({})),
        ])),
        stop_signal: Some("SIGINT".to_owned()),
        ..ExecConfig::default()
    });
    config.author = Some("config author".to_owned());
    config.variant = Some("v2".to_owned());

    let layout = oci_image::Layout::init(dir.join("layout")).expect("init");
    let document = Document::from_value(config.clone());
    let measured = layout
        .blobs()
        .put_bytes(document.bytes(), Algorithm::Sha256)
        .expect("put config");
    let config_descriptor =
        Descriptor::new(media_type::IMAGE_CONFIG, measured.digest, measured.size);
    let manifest = Document::from_value(ImageManifest::new(config_descriptor, Vec::new()));
    let measured = layout
        .blobs()
        .put_bytes(manifest.bytes(), Algorithm::Sha256)
        .expect("put manifest");
    crate::add_entry(
        &layout,
        Descriptor::new(media_type::IMAGE_MANIFEST, measured.digest, measured.size),
        Some("t"),
    );

    let umoci_file = dir.join("umoci.json");
    let output = Command::new("umoci")
        .args(["raw", "runtime-config", "--rootfs"])
        .arg(&root)
        .arg("--image")
        .arg(format!("{}:t", dir.join("layout").display()))
        .arg(&umoci_file)
        .output()
        .expect("run umoci");
    assert!(
        output.status.success(),
        "umoci failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: serde_json::Value =
        serde_json::from_slice(&fs::read(&umoci_file).expect("read")).expect("parse");
    let ours = runtime_config(&config, &RootfsFiles::new(&root), &BundleOptions::default())
        .expect("convert")
        .spec;
    let ours: serde_json::Value = serde_json::from_slice(&ours.to_bytes()).expect("parse");

    for pointer in ["/process/args", "/process/cwd", "/process/user"] {
        assert_eq!(ours.pointer(pointer), theirs.pointer(pointer), "{pointer}");
    }
    // Every image Env entry is there, in order, unchanged. umoci 0.4.7 also keeps its
    // own TERM=xterm and adds HOME; we add nothing here (PATH is set by the image).
    let env = |v: &serde_json::Value| -> Vec<String> {
        serde_json::from_value(v.pointer("/process/env").cloned().unwrap_or_default()).expect("env")
    };
    let image_env = strings(&["PATH=/opt/bin:/bin", "GREETING=hi=there"]);
    assert_eq!(env(&ours), image_env);
    let theirs_env: Vec<String> = env(&theirs)
        .into_iter()
        .filter(|e| image_env.contains(e))
        .collect();
    assert_eq!(theirs_env, image_env);
    // Annotations umoci writes, we write with the same value; except that umoci 0.4.7
    // lets the config's author win over the Labels one (against V7), and writes a zero
    // `created` when the config has none.
    let annotations = |v: &serde_json::Value| -> BTreeMap<String, String> {
        serde_json::from_value(v.pointer("/annotations").cloned().unwrap_or_default())
            .expect("annotations")
    };
    let (our_annotations, their_annotations) = (annotations(&ours), annotations(&theirs));
    let mut compared = 0;
    for (key, value) in &their_annotations {
        if key != implicit::AUTHOR && key != implicit::CREATED {
            assert_eq!(our_annotations.get(key), Some(value), "{key}");
            compared += 1;
        }
    }
    assert!(compared >= 5, "{their_annotations:?}");
    assert_eq!(our_annotations[implicit::AUTHOR], "label author");
    assert_eq!(our_annotations[implicit::EXPOSED_PORTS], "53/udp,8080/tcp");
    // Volumes: the same destinations.
    let destinations = |v: &serde_json::Value| -> Vec<String> {
        let mut list: Vec<String> = v
            .pointer("/mounts")
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("destination")?.as_str().map(str::to_owned))
            .filter(|d| d == "/var/data" || d == "/cache")
            .collect();
        list.sort();
        list
    };
    assert_eq!(destinations(&ours), vec!["/cache", "/var/data"]);
    assert_eq!(destinations(&theirs), destinations(&ours), "{theirs}");
}
