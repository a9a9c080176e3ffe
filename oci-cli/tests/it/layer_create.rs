//! `ocimg layer create` and `ocimg layer ls`: JSON shapes, atomic output, exit codes.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use oci_digest::Digester;
use oci_spec_types::digest::Algorithm;
use serde_json::Value;

use super::{ocimg, scratch};

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "ocimg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON value")
}

fn sha256_file(path: &Path) -> String {
    let mut d = Digester::new(Algorithm::Sha256);
    d.update(&fs::read(path).expect("read layer"));
    d.finish().digest.to_string()
}

fn tree(dir: &Path) {
    fs::create_dir_all(dir.join("etc")).expect("mkdir");
    fs::write(dir.join("etc/hostname"), b"box\n").expect("write");
    fs::write(dir.join("big"), vec![7u8; 300_000]).expect("write");
    std::os::unix::fs::symlink("/etc/hostname", dir.join("link")).expect("symlink");
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

#[test]
fn create_prints_media_type_digest_size_and_diff_id() {
    let base = scratch("layer-create-json");
    let dir = base.join("root");
    tree(&dir);
    let out_file = base.join("out/layer.tar.gz");
    fs::create_dir_all(base.join("out")).expect("mkdir");
    let v = json(&ocimg(&["layer", "create", s(&dir), "-o", s(&out_file)]));
    let obj = v.as_object().expect("an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["diffID", "digest", "mediaType", "size"]);
    assert_eq!(
        v["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(
        v["size"].as_u64(),
        Some(fs::metadata(&out_file).expect("layer written").len())
    );
    assert_eq!(v["digest"].as_str(), Some(sha256_file(&out_file).as_str()));
    assert_ne!(v["digest"], v["diffID"]);
    // Nothing but the layer is left in the output directory.
    let names: Vec<_> = fs::read_dir(base.join("out"))
        .expect("readdir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["layer.tar.gz"]);
}

#[test]
fn create_compressions_and_levels() {
    let base = scratch("layer-create-compress");
    let dir = base.join("root");
    tree(&dir);
    let plain = base.join("l.tar");
    let v = json(&ocimg(&[
        "layer",
        "create",
        "--compress",
        "none",
        s(&dir),
        "-o",
        s(&plain),
    ]));
    assert_eq!(v["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    assert_eq!(v["digest"], v["diffID"]);
    let zst = base.join("l.tar.zst");
    let z = json(&ocimg(&[
        "layer",
        "create",
        "--compress",
        "zstd",
        "--level",
        "7",
        s(&dir),
        "-o",
        s(&zst),
    ]));
    assert_eq!(
        z["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert_eq!(
        z["diffID"], v["diffID"],
        "same tar whatever the compression"
    );
    let gz = base.join("l.tar.gz");
    let g = json(&ocimg(&[
        "layer",
        "create",
        "--level",
        "1",
        "--threads",
        "3",
        s(&dir),
        "-o",
        s(&gz),
    ]));
    assert_eq!(g["diffID"], v["diffID"]);
}

#[test]
fn create_usage_and_io_errors_exit_2() {
    let base = scratch("layer-create-errors");
    let dir = base.join("root");
    tree(&dir);
    let out = base.join("l");
    for args in [
        vec!["layer", "create", "--level", "12", s(&dir), "-o", s(&out)],
        vec![
            "layer",
            "create",
            "--compress",
            "none",
            "--level",
            "1",
            s(&dir),
            "-o",
            s(&out),
        ],
        vec![
            "layer",
            "create",
            "--compress",
            "lz4",
            s(&dir),
            "-o",
            s(&out),
        ],
        vec!["layer", "create", s(&dir)],
        vec!["layer", "create", "/nonexistent/dir", "-o", s(&out)],
    ] {
        let o = ocimg(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    assert!(!out.exists());
    let o = ocimg(&["layer", "ls", "/nonexistent/layer"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn create_refuses_whiteout_names_with_exit_1() {
    let base = scratch("layer-create-refuse");
    let dir = base.join("root");
    tree(&dir);
    fs::write(dir.join("etc/.wh.passwd"), b"").expect("write");
    let out = base.join("l.tar");
    let o = ocimg(&["layer", "create", s(&dir), "-o", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains(".wh.passwd"));
    assert!(!out.exists(), "no layer is left behind");
    assert_eq!(fs::read_dir(&base).expect("readdir").count(), 1);
}

#[test]
fn source_date_epoch_flag_and_environment_give_identical_layers() {
    let base = scratch("layer-create-sde");
    let a = base.join("a");
    let b = base.join("b");
    tree(&a);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    tree(&b);
    let la = base.join("a.tar");
    let lb = base.join("b.tar");
    let va = json(&ocimg(&[
        "layer",
        "create",
        "--source-date-epoch",
        "1000",
        s(&a),
        "-o",
        s(&la),
    ]));
    let o = Command::new(env!("CARGO_BIN_EXE_ocimg"))
        .args(["layer", "create", s(&b), "-o", s(&lb)])
        .env("SOURCE_DATE_EPOCH", "1000")
        .output()
        .expect("run ocimg");
    let vb = json(&o);
    assert_eq!(va["digest"], vb["digest"]);
    assert_eq!(fs::read(&la).expect("a"), fs::read(&lb).expect("b"));
    let bad = Command::new(env!("CARGO_BIN_EXE_ocimg"))
        .args(["layer", "create", s(&b), "-o", s(&lb)])
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .output()
        .expect("run ocimg");
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn create_from_old_and_ls_show_whiteouts() {
    let base = scratch("layer-create-diff");
    let old = base.join("old");
    let new = base.join("new");
    tree(&old);
    let status = Command::new("cp")
        .args(["-a", s(&old), s(&new)])
        .status()
        .expect("cp");
    assert!(status.success());
    fs::remove_file(new.join("etc/hostname")).expect("rm");
    fs::write(new.join("etc/added"), b"a").expect("write");
    let layer = base.join("diff.tar.zst");
    json(&ocimg(&[
        "layer",
        "create",
        "--compress",
        "zstd",
        "--from",
        s(&old),
        s(&new),
        "-o",
        s(&layer),
    ]));
    let listed = json(&ocimg(&["layer", "ls", "--json", s(&layer)]));
    let entries = listed.as_array().expect("an array");
    let summary: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["path"].as_str().expect("path"),
                e["type"].as_str().expect("type"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("etc/", "dir"),
            ("etc/hostname", "whiteout"),
            ("etc/added", "file")
        ]
    );
    let keys: Vec<&str> = entries[2]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "gid", "linkname", "mode", "mtime", "path", "size", "type", "uid"
        ]
    );
    assert_eq!(entries[2]["size"], 1);
    assert_eq!(entries[2]["linkname"], Value::Null);
    // For people: one line per entry, deletions spelled out.
    let human = ocimg(&["layer", "ls", s(&layer)]);
    assert!(human.status.success());
    let text = String::from_utf8(human.stdout).expect("utf-8");
    assert_eq!(text.lines().count(), 3);
    assert!(text.contains("deleted etc/hostname"), "{text}");
    assert!(
        text.lines().next().expect("a line").starts_with("drwx"),
        "{text}"
    );
}

#[test]
fn ls_lists_symlinks_with_targets() {
    let base = scratch("layer-ls-links");
    let dir = base.join("root");
    tree(&dir);
    let layer = base.join("l.tar.gz");
    json(&ocimg(&["layer", "create", s(&dir), "-o", s(&layer)]));
    let listed = json(&ocimg(&["layer", "ls", "--json", s(&layer)]));
    let link = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|e| e["path"] == "link")
        .expect("link entry");
    assert_eq!(link["type"], "symlink");
    assert_eq!(link["linkname"], "/etc/hostname");
    // Garbage is not a layer: a check failure.
    let junk = base.join("junk");
    fs::write(&junk, vec![0x1f, 0x8b, 1, 2, 3]).expect("write");
    assert_eq!(ocimg(&["layer", "ls", s(&junk)]).status.code(), Some(1));
}

/// A tree whose gzip output differs between levels: text with repeats at many distances.
fn wordy_tree(dir: &Path) {
    fs::create_dir_all(dir).expect("mkdir");
    let words = [
        "layer", "image", "digest", "manifest", "index", "blob", "config", "tar",
    ];
    let mut text = String::new();
    let mut x = 12345u32;
    for _ in 0..60_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        text.push_str(words[(x % 8) as usize]);
        text.push(if x.is_multiple_of(7) { '\n' } else { ' ' });
    }
    fs::write(dir.join("words"), text).expect("write");
}

/// The `digest` of a successful JSON answer.
fn digest_of(args: &[&str]) -> String {
    json(&ocimg(args))["digest"]
        .as_str()
        .expect("digest")
        .to_owned()
}

#[test]
fn gzip_default_is_level_4_in_layer_create_build_and_copy() {
    let base = scratch("gzip-default-level");
    let dir = base.join("root");
    wordy_tree(&dir);
    let layer = |name: &str, extra: &[&str]| {
        let out = base.join(name);
        let mut args = vec!["layer", "create", s(&dir), "-o", s(&out)];
        args.extend(extra);
        digest_of(&args)
    };
    let default = layer("default.tar.gz", &[]);
    assert_eq!(default, layer("4.tar.gz", &["--level", "4"]));
    assert_ne!(
        default,
        layer("6.tar.gz", &["--level", "6"]),
        "levels 4 and 6 differ"
    );

    let build = |tag: &str, extra: &[&str]| {
        let image = format!("{}:{tag}", s(&base.join("layout")));
        let mut args = vec![
            "build",
            &image,
            "--rootfs",
            s(&dir),
            "--source-date-epoch",
            "1700000000",
            "--json",
        ];
        args.extend(extra);
        digest_of(&args)
    };
    let built = build("default", &[]);
    assert_eq!(built, build("four", &["--level", "4"]));
    let zstd = build("zstd", &["--compress", "zstd"]);

    // copy --compress gzip recompresses the zstd layer at level 4 unless told otherwise.
    let copy = |name: &str, extra: &[&str]| {
        let source = format!("oci:{}:zstd", s(&base.join("layout")));
        let dest = format!("oci:{}:copied", s(&base.join(name)));
        let mut args = vec!["copy", &source, &dest, "--compress", "gzip", "--json"];
        args.extend(extra);
        digest_of(&args)
    };
    let copied = copy("copy-default", &[]);
    assert_ne!(copied, zstd);
    assert_eq!(copied, copy("copy-4", &["--level", "4"]));
    assert_eq!(copied, built, "the same layer bytes as build's default");
}

#[test]
fn compress_none_with_a_level_is_a_usage_error_everywhere() {
    let base = scratch("compress-none-level");
    let dir = base.join("root");
    tree(&dir);
    let layout = s(&base.join("layout")).to_owned();
    let built = ocimg(&["build", &format!("{layout}:a"), "--rootfs", s(&dir)]);
    assert_eq!(built.status.code(), Some(0), "{built:?}");
    let layer_out = base.join("l.tar");
    let image = format!("{layout}:b");
    let source = format!("oci:{layout}:a");
    let dest = format!("oci:{}:c", s(&base.join("dest")));
    for args in [
        vec!["layer", "create", s(&dir), "-o", s(&layer_out)],
        vec!["build", &image, "--rootfs", s(&dir)],
        vec!["copy", &source, &dest],
    ] {
        let mut args = args.clone();
        args.extend(["--compress", "none", "--level", "4"]);
        let out = ocimg(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--level"), "{args:?}: {stderr}");
    }
    assert!(!layer_out.exists());
    assert!(!base.join("dest").join("index.json").exists());
}

#[test]
fn json_is_an_accepted_no_op_for_layer_create() {
    let base = scratch("layer-create-json-flag");
    let dir = base.join("root");
    tree(&dir);
    let plain = ocimg(&["layer", "create", s(&dir), "-o", s(&base.join("a"))]);
    let flagged = ocimg(&[
        "layer",
        "create",
        "--json",
        s(&dir),
        "-o",
        s(&base.join("b")),
    ]);
    assert_eq!(plain.status.code(), Some(0), "{plain:?}");
    assert_eq!(flagged.status.code(), Some(0), "{flagged:?}");
    assert_eq!(plain.stdout, flagged.stdout);
    assert_eq!(
        fs::read(base.join("a")).expect("a"),
        fs::read(base.join("b")).expect("b")
    );
    // A flag that changes nothing is not offered.
    let help = ocimg(&["layer", "create", "--help"]);
    assert!(
        !String::from_utf8_lossy(&help.stdout).contains("--json"),
        "{help:?}"
    );
}
