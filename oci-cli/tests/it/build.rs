//! `ocimg build`, `ocimg config` and `ocimg index create`: JSON shapes, exit codes, every
//! config flag, reproducibility, and skopeo and umoci reading what ocimg built.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use oci_test_support::cli::{peer, run_ok as run};

use crate::{ocimg, scratch};

const EPOCH: &str = "1700000000";

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn json_of(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    fs::create_dir_all(root.join("bin")).expect("mkdir");
    fs::write(root.join("etc/motd"), "hello\n").expect("write");
    // The user of ALL_FLAGS, so that umoci can resolve it.
    fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/srv:/bin/sh\n",
    )
    .expect("write");
    fs::write(root.join("etc/group"), "root:x:0:\nstaff:x:50:app\n").expect("write");
    fs::write(root.join("bin/app"), "#!/bin/sh\necho app\n").expect("write");
    fs::set_permissions(root.join("bin/app"), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("app", root.join("bin/app2")).expect("symlink");
    // Over one 256 KiB compression block, so that gzip layers have several members and
    // the peers read multi-member gzip.
    let big: Vec<u8> = (0..700_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(root.join("etc/big.bin"), big).expect("write");
}

/// `ocimg inspect --json DIR:REF`.
fn inspect(image: &str) -> Value {
    json_of(&ocimg(&["inspect", "--json", image]))
}

const ALL_FLAGS: [&str; 24] = [
    "--entrypoint",
    r#"["/bin/app","-v"]"#,
    "--cmd",
    r#"["/bin/sh","-c","echo hi"]"#,
    "--env",
    "PATH=/bin",
    "--env",
    "GREETING=hello world",
    "--workdir",
    "/srv",
    "--user",
    "app:staff",
    "--label",
    "org.example.k=v",
    "--expose",
    "80",
    "--expose",
    "53/udp",
    "--volume",
    "/data",
    "--stop-signal",
    "SIGINT",
    "--author",
    "Jane <jane@example.org>",
];

fn build(dir: &Path, tag: &str, rootfs: &Path, extra: &[&str]) -> Value {
    let name = format!("{}:{tag}", path(dir));
    let mut args = vec![
        "build",
        "--json",
        &name,
        "--rootfs",
        path(rootfs),
        "--source-date-epoch",
        EPOCH,
    ];
    args.extend_from_slice(extra);
    json_of(&ocimg(&args))
}

#[test]
fn build_reports_and_every_flag_lands_in_the_config() {
    let work = scratch("build-flags");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let dir = work.join("layout");
    let mut flags = ALL_FLAGS.to_vec();
    flags.extend(["--history-comment", "first build"]);
    let report = build(&dir, "v1", &rootfs, &flags);
    let keys: Vec<&str> = report
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["config", "digest", "layers", "ref"]);
    assert_eq!(report["ref"], "v1");
    assert_eq!(report["layers"].as_array().expect("layers").len(), 1);

    let inspected = inspect(&format!("{}:v1", path(&dir)));
    assert_eq!(inspected["descriptor"]["digest"], report["digest"]);
    assert_eq!(inspected["manifest"]["config"]["digest"], report["config"]);
    assert_eq!(inspected["layers"][0]["digest"], report["layers"][0]);
    let config = &inspected["config"];
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(config["author"], "Jane <jane@example.org>");
    let exec = &config["config"];
    assert_eq!(exec["Entrypoint"], json!(["/bin/app", "-v"]));
    assert_eq!(exec["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
    assert_eq!(exec["Env"], json!(["PATH=/bin", "GREETING=hello world"]));
    assert_eq!(exec["WorkingDir"], "/srv");
    assert_eq!(exec["User"], "app:staff");
    assert_eq!(exec["Labels"], json!({"org.example.k": "v"}));
    assert_eq!(exec["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
    assert_eq!(exec["Volumes"], json!({"/data": {}}));
    assert_eq!(exec["StopSignal"], "SIGINT");
    let history = config["history"].as_array().expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["comment"], "first build");
    assert_eq!(history[0]["created"], "2023-11-14T22:13:20Z");
    assert_eq!(history[0]["author"], "Jane <jane@example.org>");
    assert_ne!(history[0]["empty_layer"], json!(true));
    assert_eq!(
        config["rootfs"]["diff_ids"][0],
        inspected["layers"][0]["diffID"]
    );

    let fsck = ocimg(&["fsck", "--json", path(&dir)]);
    assert_eq!(json_of(&fsck)["ok"], true);
    // Without --json, one line for people.
    let out = ocimg(&[
        "build",
        &format!("{}:v2", path(&dir)),
        "--rootfs",
        path(&rootfs),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("built sha256:"));
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let work = scratch("build-bad-flags");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let name = format!("{}:v1", path(&work.join("layout")));
    for (flag, value) in [
        ("--entrypoint", "/bin/app"),
        ("--entrypoint", "[1,2]"),
        ("--cmd", "[\"unterminated\""),
        ("--expose", "http"),
        ("--expose", "70000"),
        ("--expose", "80/icmp"),
        ("--env", "=nokey"),
        ("--label", "novalue"),
        ("--volume", "relative"),
        ("--workdir", "relative"),
        ("--user", "a:b:c"),
    ] {
        let out = ocimg(&["build", &name, "--rootfs", path(&rootfs), flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(flag),
            "{flag} {value}: {out:?}"
        );
    }
    assert!(
        !work.join("layout").exists(),
        "nothing written on a usage error"
    );
    // A missing root filesystem and a name without a tag are usage errors too.
    let out = ocimg(&["build", &name, "--rootfs", path(&work.join("nope"))]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = ocimg(&["build", path(&work.join("l2")), "--rootfs", path(&rootfs)]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // An invalid tag is a rejected name: exit 1.
    let out = ocimg(&[
        "build",
        &format!("{}:-bad", path(&work.join("l3"))),
        "--rootfs",
        path(&rootfs),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn source_date_epoch_makes_builds_reproducible() {
    let work = scratch("build-reproducible");
    let mut digests = Vec::new();
    for name in ["one", "two"] {
        let rootfs = work.join(name).join("rootfs");
        sample_tree(&rootfs);
        let dir = work.join(name).join("layout");
        let mut args = vec![
            "build".to_owned(),
            "--json".to_owned(),
            format!("{}:v1", path(&dir)),
            "--rootfs".to_owned(),
            path(&rootfs).to_owned(),
        ];
        args.extend(ALL_FLAGS.iter().map(|s| (*s).to_owned()));
        // Once with the environment variable, once with the flag.
        let mut command = Command::new(env!("CARGO_BIN_EXE_ocimg"));
        if name == "one" {
            command.env("SOURCE_DATE_EPOCH", EPOCH);
        } else {
            command.env_remove("SOURCE_DATE_EPOCH");
            args.extend(["--source-date-epoch".to_owned(), EPOCH.to_owned()]);
        }
        let out = run(command.args(&args));
        digests.push(json_of(&out)["digest"].clone());
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn build_on_a_base_and_unpack_gives_the_rootfs() {
    let work = scratch("build-base-cli");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let dir = work.join("layout");
    let base = build(&dir, "base", &rootfs, &["--env", "A=1"]);
    // Apply the base's layer, change the tree, build on the base.
    let next = work.join("next");
    fs::create_dir_all(&next).expect("mkdir");
    let layer = base["layers"][0].as_str().expect("layer digest");
    let blob = dir.join("blobs/sha256").join(&layer["sha256:".len()..]);
    let out = ocimg(&["layer", "apply", path(&blob), path(&next)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    fs::remove_file(next.join("bin/app2")).expect("rm");
    fs::write(next.join("etc/motd"), "changed\n").expect("write");
    let base_name = format!("{}:base", path(&dir));
    let built = build(&dir, "next", &next, &["--base", &base_name, "--env", "B=2"]);
    let layers = built["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0], base["layers"][0]);
    let top = dir
        .join("blobs/sha256")
        .join(&layers[1].as_str().expect("digest")["sha256:".len()..]);
    let listing = json_of(&ocimg(&["layer", "ls", "--json", path(&top)]));
    let entries: BTreeMap<String, String> = listing
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["path"].as_str().expect("path").to_owned(),
                e["type"].as_str().expect("type").to_owned(),
            )
        })
        .collect();
    let expected: BTreeMap<String, String> = [
        ("bin/", "dir"),
        ("bin/app2", "whiteout"),
        ("etc/", "dir"),
        ("etc/motd", "file"),
    ]
    .into_iter()
    .map(|(p, t)| (p.to_owned(), t.to_owned()))
    .collect();
    assert_eq!(entries, expected);
    let config = inspect(&format!("{}:next", path(&dir)))["config"].clone();
    assert_eq!(config["config"]["Env"], json!(["A=1", "B=2"]));
    assert_eq!(config["history"].as_array().expect("history").len(), 2);
}

#[test]
fn config_edits_keep_layers_and_other_fields() {
    let work = scratch("config-cli");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let dir = work.join("layout");
    let built = build(
        &dir,
        "v1",
        &rootfs,
        &[
            "--entrypoint",
            r#"["/bin/app"]"#,
            "--cmd",
            r#"["--help"]"#,
            "--env",
            "A=1",
            "--env",
            "B=2",
            "--label",
            "x=1",
            "--label",
            "y=2",
        ],
    );
    let source = format!("{}:v1", path(&dir));
    let out = ocimg(&[
        "config",
        "--json",
        &source,
        "--tag",
        "v2",
        "--entrypoint",
        r#"["/bin/app2"]"#,
        "--env",
        "A=changed",
        "--env-remove",
        "B",
        "--label-remove",
        "x",
        "--user",
        "1000:1000",
        "--source-date-epoch",
        EPOCH,
    ]);
    let report = json_of(&out);
    assert_eq!(report["ref"], "v2");
    assert_ne!(report["digest"], built["digest"]);
    let edited = inspect(&format!("{}:v2", path(&dir)));
    assert_eq!(edited["descriptor"]["digest"], report["digest"]);
    let layers: Vec<&Value> = edited["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| &l["digest"])
        .collect();
    assert_eq!(
        layers,
        built["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .collect::<Vec<_>>()
    );
    let exec = &edited["config"]["config"];
    assert_eq!(exec["Entrypoint"], json!(["/bin/app2"]));
    assert_eq!(
        exec["Cmd"],
        json!(["--help"]),
        "setting the entrypoint keeps Cmd"
    );
    assert_eq!(exec["Env"], json!(["A=changed"]));
    assert_eq!(exec["Labels"], json!({"y": "2"}));
    assert_eq!(exec["User"], "1000:1000");
    let history = edited["config"]["history"].as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["empty_layer"], true);
    assert_eq!(history[1]["created_by"], "ocimg config");

    // --clear-cmd and --clear-entrypoint; without --tag, REF itself is moved.
    let v2 = format!("{}:v2", path(&dir));
    let out = ocimg(&["config", "--json", &v2, "--clear-cmd", "--clear-entrypoint"]);
    let report = json_of(&out);
    assert_eq!(report["ref"], "v2");
    let exec = &inspect(&v2)["config"]["config"];
    assert_eq!(exec.get("Cmd"), None);
    assert_eq!(exec.get("Entrypoint"), None);
    assert_eq!(exec["Env"], json!(["A=changed"]));
    // The source is untouched.
    assert_eq!(inspect(&source)["descriptor"]["digest"], built["digest"]);
    // A bad JSON array is a usage error, a missing image exit 2.
    let out = ocimg(&["config", &source, "--tag", "v3", "--cmd", "sh"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = ocimg(&["config", &format!("{}:nope", path(&dir)), "--tag", "v3"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(json_of(&ocimg(&["fsck", "--json", path(&dir)]))["ok"], true);
}

#[test]
fn index_create_with_two_platforms() {
    let work = scratch("index-create-cli");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let dir = work.join("layout");
    let amd = build(&dir, "amd64", &rootfs, &["--platform", "linux/amd64"]);
    let arm = build(&dir, "arm64", &rootfs, &["--platform", "linux/arm64/v8"]);
    let d = path(&dir);
    let out = ocimg(&[
        "index",
        "create",
        "--json",
        &format!("{d}:multi"),
        &format!("{d}:amd64"),
        &format!("{d}:{}", arm["digest"].as_str().expect("digest")),
    ]);
    let report = json_of(&out);
    assert_eq!(report["ref"], "multi");
    let inspected = inspect(&format!("{d}:multi"));
    assert_eq!(inspected["descriptor"]["digest"], report["digest"]);
    let index = &inspected["index"];
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 2);
    assert_eq!(manifests[0]["digest"], amd["digest"]);
    assert_eq!(
        manifests[0]["platform"],
        json!({"architecture": "amd64", "os": "linux"})
    );
    assert_eq!(manifests[1]["digest"], arm["digest"]);
    assert_eq!(
        manifests[1]["platform"],
        json!({"architecture": "arm64", "os": "linux", "variant": "v8"})
    );
    // Reading through the index by platform.
    let picked = json_of(&ocimg(&[
        "inspect",
        "--json",
        "--platform",
        "linux/arm64",
        &format!("{d}:multi"),
    ]));
    assert_eq!(picked["config"]["architecture"], "arm64");
    // Images from another layout are refused.
    let out = ocimg(&[
        "index",
        "create",
        &format!("{d}:m2"),
        &format!("{}:amd64", path(&work.join("other"))),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(json_of(&ocimg(&["fsck", "--json", d]))["ok"], true);
}

#[test]
fn skopeo_and_umoci_read_a_built_image() {
    if !peer("skopeo") || !peer("umoci") {
        return;
    }
    let work = scratch("build-peers");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let dir = work.join("layout");
    let mut flags = ALL_FLAGS.to_vec();
    flags.extend(["--compress", "gzip"]);
    let built = build(&dir, "v1", &rootfs, &flags);
    let image = format!("oci:{}:v1", path(&dir));
    let out = run(Command::new("skopeo").args(["inspect", &image]));
    let seen: Value = serde_json::from_slice(&out.stdout).expect("skopeo json");
    assert_eq!(seen["Digest"], built["digest"]);
    assert_eq!(seen["Layers"], built["layers"]);
    assert_eq!(seen["Env"], json!(["PATH=/bin", "GREETING=hello world"]));
    assert_eq!(seen["Labels"], json!({"org.example.k": "v"}));
    assert_eq!(seen["Os"], "linux");
    assert_eq!(seen["Created"], "2023-11-14T22:13:20Z");
    let out = run(Command::new("skopeo").args(["inspect", "--config", &image]));
    let config: Value = serde_json::from_slice(&out.stdout).expect("skopeo config json");
    assert_eq!(config["config"]["Entrypoint"], json!(["/bin/app", "-v"]));
    assert_eq!(config["config"]["User"], "app:staff");
    assert_eq!(config["config"]["WorkingDir"], "/srv");

    // A base change, so that umoci applies a whiteout too.
    let next = work.join("next");
    fs::create_dir_all(&next).expect("mkdir");
    let layer = built["layers"][0].as_str().expect("digest");
    let blob = dir.join("blobs/sha256").join(&layer["sha256:".len()..]);
    assert_eq!(
        ocimg(&["layer", "apply", path(&blob), path(&next)])
            .status
            .code(),
        Some(0)
    );
    fs::remove_file(next.join("bin/app2")).expect("rm");
    fs::write(next.join("etc/new"), "new\n").expect("write");
    let base = format!("{}:v1", path(&dir));
    // umoci 0.4 reads no zstd layers: a plain tar on top of the gzip one.
    build(&dir, "v2", &next, &["--base", &base, "--compress", "none"]);

    let bundle = work.join("bundle");
    run(Command::new("umoci").args([
        "unpack",
        "--image",
        &format!("{}:v2", path(&dir)),
        path(&bundle),
    ]));
    assert_eq!(tree(&bundle.join("rootfs")), tree(&next));
}

/// Paths and contents (symlink targets, file bytes, modes) under `root`.
fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let p = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&p).expect("stat");
            let what = if meta.is_dir() {
                stack.push(p.clone());
                format!("dir:{:o}", meta.permissions().mode() & 0o7777)
            } else if meta.file_type().is_symlink() {
                format!("link:{}", fs::read_link(&p).expect("readlink").display())
            } else {
                format!(
                    "file:{:o}:{}",
                    meta.permissions().mode() & 0o7777,
                    String::from_utf8_lossy(&fs::read(&p).expect("read"))
                )
            };
            out.insert(
                p.strip_prefix(root).expect("under root").to_path_buf(),
                what,
            );
        }
    }
    out
}

#[test]
fn a_bad_config_value_names_its_flag() {
    let work = scratch("build-cli-bad-value");
    let layout = work.join("layout");
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(&rootfs).expect("mkdir");
    for (flag, value, reason) in [
        (
            "--expose",
            "80/icmp",
            "the protocol must be tcp, udp or sctp",
        ),
        ("--cmd", "/bin/sh", "expected a JSON array of strings"),
        ("--volume", "data", "expected an absolute path"),
        ("--env", "=x", "expected KEY=VALUE"),
    ] {
        let out = crate::ocimg(&[
            "build",
            &format!("{}:t", path(&layout)),
            "--rootfs",
            path(&rootfs),
            flag,
            value,
        ]);
        assert_eq!(out.status.code(), Some(2), "{flag}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains(reason), "{flag}: {err}");
        assert_eq!(err.matches(reason).count(), 1, "the reason once: {err}");
    }
    assert!(!layout.exists(), "nothing built");
}
