//! `ocimg copy`: JSON shape and exit codes, skipping what is there, recompression,
//! Docker format, platforms, oci-archive and docker-archive, damaged sources, re-tagging,
//! and interop with skopeo in both directions.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use oci_digest::Digester;
use oci_spec_types::{Algorithm, media_type};
use serde_json::Value;

use oci_test_support::cli::peer;

use crate::{ocimg, scratch};

const EPOCH: &str = "1700000000";

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `skopeo --policy FILE ARGS...` with an accept-anything policy in `work`; must succeed.
fn skopeo(work: &Path, args: &[&str]) -> Output {
    let policy = work.join("policy.json");
    fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .expect("policy");
    let out = Command::new("skopeo")
        .arg("--policy")
        .arg(&policy)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo");
    assert!(out.status.success(), "skopeo {args:?}: {out:?}");
    out
}

fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    fs::create_dir_all(root.join("bin")).expect("mkdir");
    fs::write(root.join("etc/motd"), "hello\n").expect("write");
    fs::write(root.join("bin/app"), "#!/bin/sh\necho app\n").expect("write");
    fs::set_permissions(root.join("bin/app"), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("app", root.join("bin/app2")).expect("symlink");
    let big: Vec<u8> = (0..400_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(root.join("data.bin"), big).expect("write");
}

/// Builds `DIR:TAG` from `rootfs`; returns the build report.
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
    let out = ocimg(&args);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    json_of(&out)
}

/// A work directory with a layout `layout` holding an image tagged `t` (two layers: a
/// base and a change); returns (work, layout, manifest digest).
fn image(test: &str) -> (PathBuf, PathBuf, String) {
    let work = scratch(test);
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let layout = work.join("layout");
    build(&layout, "base", &rootfs, &[]);
    fs::write(rootfs.join("etc/motd"), "changed\n").expect("write");
    let base = format!("{}:base", path(&layout));
    let built = build(&layout, "t", &rootfs, &["--base", &base]);
    let digest = built["digest"].as_str().expect("digest").to_owned();
    (work, layout, digest)
}

/// `ocimg copy --json ARGS...`, expected to succeed; the report.
fn copy(args: &[&str]) -> Value {
    let mut all = vec!["copy", "--json"];
    all.extend_from_slice(args);
    let out = ocimg(&all);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    json_of(&out)
}

fn inspect(image: &str) -> Value {
    let out = ocimg(&["inspect", "--json", image]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    json_of(&out)
}

fn assert_fsck_ok(layout: &Path) {
    let out = ocimg(&["fsck", "--json", path(layout)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json_of(&out)["ok"], true, "{out:?}");
}

/// `ocimg ls --json DIR` entries.
fn entries(layout: &Path) -> Vec<Value> {
    let out = ocimg(&["ls", "--json", path(layout)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    json_of(&out).as_array().expect("array").clone()
}

/// A document blob of a layout, parsed.
fn blob_json(layout: &Path, digest: &str) -> Value {
    let (algorithm, encoded) = digest.split_once(':').expect("digest");
    let bytes = fs::read(layout.join("blobs").join(algorithm).join(encoded)).expect("read blob");
    serde_json::from_slice(&bytes).expect("json blob")
}

/// Every entry under `root`: type, content digest, mode.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let t = meta.file_type();
            let what = if t.is_dir() {
                "dir".to_owned()
            } else if t.is_symlink() {
                format!("symlink {:?}", fs::read_link(&path).expect("readlink"))
            } else {
                let bytes = fs::read(&path).expect("read");
                format!(
                    "file {}",
                    Digester::digest_bytes(Algorithm::Sha256, &bytes).digest
                )
            };
            let rel = path.strip_prefix(root).expect("under root");
            out.insert(
                rel.to_string_lossy().into_owned(),
                format!("{what} mode {:o}", meta.mode() & 0o7777),
            );
            if t.is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn unpacked(image: &str, dest: &Path) -> BTreeMap<String, String> {
    let out = ocimg(&["unpack", image, path(dest)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    snapshot(dest)
}

#[test]
fn copy_reports_json_and_a_second_copy_skips_everything() {
    let (work, layout, digest) = image("copy-cli-basic");
    let dest = work.join("dest");
    let src = format!("oci:{}:t", path(&layout));
    let dst = format!("oci:{}:v1", path(&dest));
    let report = copy(&[&src, &dst]);
    let keys: Vec<&String> = report.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["blobs", "destination", "digest", "source"]);
    assert_eq!(report["source"], src);
    assert_eq!(report["destination"], dst);
    assert_eq!(report["digest"], digest);
    // Two layers, a config and a manifest.
    assert_eq!(report["blobs"]["copied"], 4);
    assert_eq!(report["blobs"]["skipped"], 0);
    assert_fsck_ok(&dest);
    let again = copy(&[&src, &dst]);
    assert_eq!(again["blobs"]["copied"], 0);
    assert_eq!(again["blobs"]["skipped"], 4);
    assert_eq!(again["digest"], digest);
    let listed = entries(&dest);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["ref"], "v1");

    // Without --json: one line for people, nothing on standard error when piped.
    let out = ocimg(&["copy", &src, &format!("oci:{}:v2", path(&dest))]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains(&digest), "{text}");
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

#[test]
fn a_destination_tag_is_replaced_never_duplicated() {
    let (work, layout, digest) = image("copy-cli-retag");
    let dest = work.join("dest");
    let dst = format!("oci:{}:t", path(&dest));
    copy(&[&format!("oci:{}:base", path(&layout)), &dst]);
    copy(&[&format!("oci:{}:t", path(&layout)), &dst]);
    let listed = entries(&dest);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["ref"], "t");
    assert_eq!(listed[0]["digest"], digest);
}

#[test]
fn compress_zstd_keeps_diff_ids_and_the_tree() {
    let (work, layout, digest) = image("copy-cli-zstd");
    let dest = work.join("dest");
    let report = copy(&[
        "--compress",
        "zstd",
        &format!("oci:{}:t", path(&layout)),
        &format!("oci:{}:z", path(&dest)),
    ]);
    assert_ne!(report["digest"], digest);
    assert_fsck_ok(&dest);
    let before = inspect(&format!("{}:t", path(&layout)));
    let after = inspect(&format!("{}:z", path(&dest)));
    assert_eq!(before["config"], after["config"], "the config is unchanged");
    let (old, new) = (
        before["layers"].as_array().expect("layers"),
        after["layers"].as_array().expect("layers"),
    );
    assert_eq!(old.len(), 2);
    assert_eq!(old.len(), new.len());
    for (o, n) in old.iter().zip(new) {
        assert_eq!(n["mediaType"], media_type::LAYER_TAR_ZSTD);
        assert_ne!(o["digest"], n["digest"]);
        assert_eq!(o["diffID"], n["diffID"]);
    }
    assert_eq!(
        unpacked(&format!("{}:t", path(&layout)), &work.join("u-gzip")),
        unpacked(&format!("{}:z", path(&dest)), &work.join("u-zstd")),
    );
    // A level out of range is a usage error, even when no layer needs recompressing;
    // --level needs --compress.
    let out = ocimg(&[
        "copy",
        "--compress",
        "zstd",
        "--level",
        "99",
        &format!("oci:{}:z", path(&dest)),
        &format!("oci:{}:z2", path(&dest)),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = ocimg(&[
        "copy",
        "--compress",
        "gzip",
        "--level",
        "12",
        &format!("oci:{}:t", path(&layout)),
        &format!("oci:{}:g", path(&dest)),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = ocimg(&[
        "copy",
        "--level",
        "3",
        &format!("oci:{}:t", path(&layout)),
        &format!("oci:{}:g", path(&dest)),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn docker_format_then_back_to_oci() {
    let (work, layout, _) = image("copy-cli-docker");
    // The image on a base has a manifest annotation, which the docker format cannot say.
    let dest = work.join("dest");
    let out = ocimg(&[
        "copy",
        "--format",
        "docker",
        &format!("oci:{}:t", path(&layout)),
        &format!("oci:{}:d", path(&dest)),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("annotations"), "{}", stderr(&out));
    let digest = inspect(&format!("{}:base", path(&layout)))["descriptor"]["digest"].clone();
    let report = copy(&[
        "--format",
        "docker",
        &format!("oci:{}:base", path(&layout)),
        &format!("oci:{}:d", path(&dest)),
    ]);
    let docker_digest = report["digest"].as_str().expect("digest").to_owned();
    let listed = entries(&dest);
    assert_eq!(listed[0]["mediaType"], media_type::DOCKER_MANIFEST);
    let manifest = blob_json(&dest, &docker_digest);
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], media_type::DOCKER_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], media_type::DOCKER_CONFIG);
    for layer in manifest["layers"].as_array().expect("layers") {
        assert_eq!(layer["mediaType"], media_type::DOCKER_LAYER_GZIP);
    }
    assert_fsck_ok(&dest);
    let back = work.join("back");
    let report = copy(&[
        "--format",
        "oci",
        &format!("oci:{}:d", path(&dest)),
        &format!("oci:{}:o", path(&back)),
    ]);
    assert_eq!(
        report["digest"], digest,
        "the round trip gives the same manifest"
    );
    assert_fsck_ok(&back);

    // zstd cannot be said in the docker format: a check failure, nothing tagged.
    let index_before = fs::read(dest.join("index.json")).expect("read");
    let out = ocimg(&[
        "copy",
        "--format",
        "docker",
        "--compress",
        "zstd",
        &format!("oci:{}:base", path(&layout)),
        &format!("oci:{}:dz", path(&dest)),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("zstd"), "{}", stderr(&out));
    assert_eq!(
        fs::read(dest.join("index.json")).expect("read"),
        index_before
    );
}

#[test]
fn platform_choice_and_all_platforms() {
    let work = scratch("copy-cli-platforms");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let layout = work.join("layout");
    let amd = build(&layout, "amd64", &rootfs, &["--platform", "linux/amd64"]);
    let arm = build(&layout, "arm64", &rootfs, &["--platform", "linux/arm64/v8"]);
    let d = path(&layout);
    let out = ocimg(&[
        "index",
        "create",
        "--json",
        &format!("{d}:multi"),
        &format!("{d}:amd64"),
        &format!("{d}:arm64"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let index_digest = json_of(&out)["digest"].clone();
    let dest = work.join("dest");
    let src = format!("oci:{d}:multi");
    let one = copy(&[
        "--platform",
        "linux/arm64",
        &src,
        &format!("oci:{}:arm", path(&dest)),
    ]);
    assert_eq!(one["digest"], arm["digest"]);
    let one = copy(&[
        "--platform",
        "linux/amd64",
        &src,
        &format!("oci:{}:amd", path(&dest)),
    ]);
    assert_eq!(one["digest"], amd["digest"]);
    let all = copy(&["--all-platforms", &src, &format!("oci:{}:all", path(&dest))]);
    assert_eq!(all["digest"], index_digest);
    assert_fsck_ok(&dest);
    let out = ocimg(&[
        "copy",
        "--platform",
        "linux/s390x",
        &src,
        &format!("oci:{}:x", path(&dest)),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = ocimg(&[
        "copy",
        "--all-platforms",
        "--platform",
        "linux/amd64",
        &src,
        &format!("oci:{}:x", path(&dest)),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = ocimg(&["copy", &src, "docker:example.com/x"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn oci_archive_round_trip_and_skopeo_reads_it() {
    let (work, layout, digest) = image("copy-cli-archive");
    let file = work.join("image.tar");
    copy(&[
        &format!("oci:{}:t", path(&layout)),
        &format!("oci-archive:{}:t", path(&file)),
    ]);
    let back = work.join("back");
    let report = copy(&[
        &format!("oci-archive:{}:t", path(&file)),
        &format!("oci:{}:t", path(&back)),
    ]);
    assert_eq!(report["digest"], digest);
    assert_fsck_ok(&back);
    if !peer("skopeo") {
        return;
    }
    let out = skopeo(
        &work,
        &["inspect", &format!("oci-archive:{}:t", path(&file))],
    );
    let inspected: Value = serde_json::from_slice(&out.stdout).expect("skopeo json");
    assert_eq!(inspected["Digest"], digest);
    let by_skopeo = work.join("by-skopeo");
    skopeo(
        &work,
        &[
            "copy",
            "--quiet",
            &format!("oci-archive:{}:t", path(&file)),
            &format!("oci:{}:t", path(&by_skopeo)),
        ],
    );
    assert_fsck_ok(&by_skopeo);
    assert_eq!(entries(&by_skopeo)[0]["digest"], digest);
}

#[test]
fn archives_and_layouts_written_by_skopeo_are_copied() {
    if !peer("skopeo") {
        return;
    }
    let (work, layout, digest) = image("copy-cli-skopeo");
    // An oci-archive written by skopeo.
    let file = work.join("skopeo.tar");
    skopeo(
        &work,
        &[
            "copy",
            "--quiet",
            &format!("oci:{}:t", path(&layout)),
            &format!("oci-archive:{}:t", path(&file)),
        ],
    );
    let dest = work.join("dest");
    let report = copy(&[
        &format!("oci-archive:{}:t", path(&file)),
        &format!("oci:{}:a", path(&dest)),
    ]);
    assert_eq!(report["digest"], digest);
    assert_fsck_ok(&dest);
    // A layout skopeo recompressed to zstd: copied as is, and recompressed back to gzip.
    let zstd = work.join("skopeo-zstd");
    skopeo(
        &work,
        &[
            "copy",
            "--quiet",
            "--dest-compress-format",
            "zstd",
            &format!("oci:{}:t", path(&layout)),
            &format!("oci:{}:t", path(&zstd)),
        ],
    );
    let z = inspect(&format!("{}:t", path(&zstd)));
    assert_eq!(z["layers"][0]["mediaType"], media_type::LAYER_TAR_ZSTD);
    let report = copy(&[
        &format!("oci:{}:t", path(&zstd)),
        &format!("oci:{}:z", path(&dest)),
    ]);
    assert_eq!(report["digest"], z["descriptor"]["digest"]);
    copy(&[
        "--compress",
        "gzip",
        &format!("oci:{}:t", path(&zstd)),
        &format!("oci:{}:g", path(&dest)),
    ]);
    assert_fsck_ok(&dest);
    let g = inspect(&format!("{}:g", path(&dest)));
    assert_eq!(g["layers"][0]["mediaType"], media_type::LAYER_TAR_GZIP);
    assert_eq!(
        unpacked(&format!("{}:t", path(&layout)), &work.join("u-orig")),
        unpacked(&format!("{}:g", path(&dest)), &work.join("u-back")),
    );
}

#[test]
fn docker_archive_both_ways_with_skopeo() {
    let (work, layout, _) = image("copy-cli-docker-archive");
    let file = work.join("docker.tar");
    copy(&[
        &format!("oci:{}:t", path(&layout)),
        &format!("docker-archive:{}:example.com/app:1", path(&file)),
    ]);
    // Into an oci: layout: OCI by default, the same tree.
    let dest = work.join("dest");
    copy(&[
        &format!("docker-archive:{}", path(&file)),
        &format!("oci:{}:from-docker", path(&dest)),
    ]);
    assert_eq!(entries(&dest)[0]["mediaType"], media_type::IMAGE_MANIFEST);
    assert_fsck_ok(&dest);
    assert_eq!(
        unpacked(&format!("{}:t", path(&layout)), &work.join("u-orig")),
        unpacked(
            &format!("{}:from-docker", path(&dest)),
            &work.join("u-docker")
        ),
    );
    // An existing, non-empty docker-archive is not overwritten.
    let out = ocimg(&[
        "copy",
        &format!("oci:{}:t", path(&layout)),
        &format!("docker-archive:{}", path(&file)),
    ]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    if !peer("skopeo") {
        return;
    }
    let out = skopeo(
        &work,
        &["inspect", &format!("docker-archive:{}", path(&file))],
    );
    let inspected: Value = serde_json::from_slice(&out.stdout).expect("skopeo json");
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(2));
    let by_skopeo = work.join("by-skopeo.tar");
    skopeo(
        &work,
        &[
            "copy",
            "--quiet",
            &format!("oci:{}:t", path(&layout)),
            &format!("docker-archive:{}:example.com/app:2", path(&by_skopeo)),
        ],
    );
    copy(&[
        &format!("docker-archive:{}:example.com/app:2", path(&by_skopeo)),
        &format!("oci:{}:from-skopeo", path(&dest)),
    ]);
    assert_fsck_ok(&dest);
    assert_eq!(
        unpacked(&format!("{}:t", path(&layout)), &work.join("u-orig2")),
        unpacked(
            &format!("{}:from-skopeo", path(&dest)),
            &work.join("u-skopeo")
        ),
    );
}

#[test]
fn a_corrupted_or_missing_source_blob_exits_1_and_tags_nothing() {
    let (work, layout, _) = image("copy-cli-corrupt");
    let top = inspect(&format!("{}:t", path(&layout)));
    let layer = top["layers"][1]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    let (algorithm, encoded) = layer.split_once(':').expect("digest");
    let blob = layout.join("blobs").join(algorithm).join(encoded);
    let mut bytes = fs::read(&blob).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&blob, &bytes).expect("write");

    // A destination holding another image: its index.json must not change.
    let dest = work.join("dest");
    copy(&[
        &format!("oci:{}:base", path(&layout)),
        &format!("oci:{}:kept", path(&dest)),
    ]);
    let index_before = fs::read(dest.join("index.json")).expect("read");
    for extra in [&[][..], &["--compress", "zstd"][..]] {
        let mut args = vec!["copy", "--json"];
        args.extend_from_slice(extra);
        let src = format!("oci:{}:t", path(&layout));
        let dst = format!("oci:{}:new", path(&dest));
        args.extend([src.as_str(), dst.as_str()]);
        let out = ocimg(&args);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {out:?}");
        assert!(stderr(&out).contains(&layer), "{}", stderr(&out));
        // CLI.md: with --json, the one object {"error": MESSAGE} on stdout.
        assert!(json_of(&out)["error"].is_string(), "{out:?}");
        assert_eq!(
            fs::read(dest.join("index.json")).expect("read"),
            index_before
        );
    }
    fs::remove_file(&blob).expect("remove");
    let out = ocimg(&[
        "copy",
        &format!("oci:{}:t", path(&layout)),
        &format!("oci:{}:new", path(&dest)),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains(&layer), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing"), "{}", stderr(&out));
    assert_eq!(
        fs::read(dest.join("index.json")).expect("read"),
        index_before
    );
    // A source that does not exist is an I/O error.
    let out = ocimg(&[
        "copy",
        &format!("oci:{}:t", path(&work.join("nope"))),
        &format!("oci:{}:new", path(&dest)),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// Regression: the cause of a missing archive was printed twice (once in the message,
/// once as its source).
#[test]
fn a_missing_archive_prints_its_cause_once() {
    let work = scratch("copy-cli-missing-archive");
    let missing = work.join("missing.tar");
    let dest = format!("oci:{}:t", work.join("dest").display());
    for transport in ["docker-archive", "oci-archive"] {
        let source = format!("{transport}:{}", missing.display());
        let out = ocimg(&["copy", &source, &dest]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = stderr(&out);
        assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
        assert!(err.contains(&missing.display().to_string()), "{err}");
    }
}

/// A bare `DIR:REF` source is the layout shorthand, as for every command that reads an
/// image.
#[test]
fn a_bare_dir_source_is_a_layout() {
    let (work, layout, _) = image("copy-cli-bare");
    let dest = work.join("dest");
    let out = copy(&[
        &format!("{}:t", path(&layout)),
        &format!("oci:{}:t", path(&dest)),
    ]);
    assert_eq!(entries(&dest).len(), 1, "{out}");
}
