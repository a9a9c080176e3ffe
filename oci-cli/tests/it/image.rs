//! The layout commands: init, tag, untag, ls, inspect, fsck, gc; 16 concurrent taggers;
//! interop with skopeo and umoci.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use oci_digest::BlobStore;
use oci_spec_types::{
    Algorithm, Descriptor, Document, ImageConfig, ImageManifest, Platform, media_type,
};
use serde_json::Value;

use oci_test_support::cli::{peer, run_ok as run};

use crate::{ocimg, scratch};

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A layer made by `ocimg layer create` from a small tree: (descriptor, diffID).
fn make_layer(work: &Path, layout: &Path, name: &str, content: &str) -> (Descriptor, String) {
    let tree = work.join(format!("tree-{name}"));
    std::fs::create_dir_all(tree.join("etc")).expect("mkdir");
    std::fs::write(tree.join("etc").join(name), content).expect("write");
    let file = work.join(format!("{name}.tar.gz"));
    let out = ocimg(&["layer", "create", path(&tree), "-o", path(&file)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let created = json(&out);
    let stored = BlobStore::new(layout)
        .put(
            std::fs::File::open(&file).expect("open layer"),
            Algorithm::Sha256,
        )
        .expect("put layer");
    assert_eq!(created["digest"], stored.digest.as_str());
    (
        Descriptor::new(media_type::LAYER_TAR_GZIP, stored.digest, stored.size),
        created["diffID"].as_str().expect("diffID").to_owned(),
    )
}

/// Stores a one-layer linux/amd64 image in the layout at `layout` (not tagged); returns
/// the manifest digest and the layer descriptor.
fn make_image(work: &Path, layout: &Path, name: &str) -> (String, Descriptor) {
    let (layer, diff_id) = make_layer(work, layout, name, name);
    let store = BlobStore::new(layout);
    let config = ImageConfig::new(
        &Platform::new("linux", "amd64"),
        vec![diff_id.parse().expect("diffID")],
    );
    let config = Document::from_value(config);
    let c = store
        .put_bytes(config.bytes(), Algorithm::Sha256)
        .expect("put");
    let manifest = ImageManifest::new(
        Descriptor::new(media_type::IMAGE_CONFIG, c.digest, c.size),
        vec![layer.clone()],
    );
    let manifest = Document::from_value(manifest);
    let m = store
        .put_bytes(manifest.bytes(), Algorithm::Sha256)
        .expect("put");
    (m.digest.into_string(), layer)
}

/// A layout made by `ocimg init` holding one image tagged `base`.
fn layout_with_image(test: &str) -> (PathBuf, PathBuf, String, Descriptor) {
    let work = scratch(test);
    let layout = work.join("layout");
    let out = ocimg(&["init", "--json", path(&layout)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out), serde_json::json!({ "layout": path(&layout) }));
    let (digest, layer) = make_image(&work, &layout, "base");
    let out = ocimg(&[
        "tag",
        "--json",
        &format!("{}:{digest}", path(&layout)),
        "base",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        json(&out),
        serde_json::json!({ "ref": "base", "digest": digest })
    );
    (work, layout, digest, layer)
}

#[test]
fn init_tag_ls_untag() {
    let (_work, layout, digest, _) = layout_with_image("image-tag");
    let l = path(&layout);
    let out = ocimg(&["tag", &format!("{l}:base"), "v1"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Re-tagging replaces.
    let out = ocimg(&["tag", &format!("{l}:base"), "v1"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = ocimg(&["ls", "--json", l]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let entry = |r: &str| {
        serde_json::json!({
            "ref": r,
            "digest": digest,
            "mediaType": media_type::IMAGE_MANIFEST,
            "size": json(&out)[0]["size"],
            "platform": "linux/amd64",
        })
    };
    assert_eq!(json(&out), serde_json::json!([entry("base"), entry("v1")]));
    let out = ocimg(&["untag", "--json", &format!("{l}:v1")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        json(&out),
        serde_json::json!({ "ref": "v1", "digest": digest })
    );
    let out = ocimg(&["ls", "--json", l]);
    assert_eq!(json(&out).as_array().map(Vec::len), Some(1));
    // Errors: an unknown tag and a missing layout exit 2, a rejected tag exits 1.
    let out = ocimg(&["untag", &format!("{l}:v1")]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = ocimg(&["tag", &format!("{l}:nope"), "x"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    let out = ocimg(&["tag", &format!("{l}:base"), "bad tag!"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = ocimg(&["ls", &format!("{l}/absent")]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // A second init of the same directory refuses.
    let out = ocimg(&["init", l]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn ls_prints_null_ref_and_platform_when_absent() {
    let work = scratch("image-ls-null");
    let layout = work.join("layout");
    assert_eq!(ocimg(&["init", path(&layout)]).status.code(), Some(0));
    let (digest, _) = make_image(&work, &layout, "x");
    // An untagged entry without platform, as another tool may write it.
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{}","digest":"{digest}","size":{}}}]}}"#,
        media_type::IMAGE_MANIFEST,
        std::fs::metadata(BlobStore::new(&layout).blob_path(&digest.parse().expect("d")))
            .expect("stat")
            .len()
    );
    std::fs::write(layout.join("index.json"), index).expect("write");
    let out = ocimg(&["ls", "--json", path(&layout)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let list = json(&out);
    assert_eq!(list[0]["ref"], Value::Null);
    assert_eq!(list[0]["platform"], Value::Null);
    assert_eq!(list[0]["digest"], digest.as_str());
    // DIR alone names the one image.
    let out = ocimg(&["inspect", "--json", path(&layout)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json(&out)["descriptor"]["digest"], digest.as_str());
}

#[test]
fn inspect_shape() {
    let (_work, layout, digest, layer) = layout_with_image("image-inspect");
    let out = ocimg(&["inspect", "--json", &format!("{}:base", path(&layout))]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["descriptor"]["digest"], digest.as_str());
    assert_eq!(v["manifest"]["layers"][0]["digest"], layer.digest.as_str());
    assert_eq!(v["config"]["os"], "linux");
    assert_eq!(v["layers"][0]["digest"], layer.digest.as_str());
    assert_eq!(v["layers"][0]["size"], layer.size);
    assert_eq!(v["layers"][0]["mediaType"], media_type::LAYER_TAR_GZIP);
    assert_eq!(
        v["layers"][0]["diffID"],
        v["config"]["rootfs"]["diff_ids"][0]
    );
    assert!(v["history"].is_array());
    // A damaged manifest: exit 1 naming the digest.
    let blob = BlobStore::new(&layout).blob_path(&digest.parse().expect("digest"));
    let mut bytes = std::fs::read(&blob).expect("read");
    bytes[10] ^= 1;
    std::fs::write(&blob, bytes).expect("write");
    let out = ocimg(&["inspect", &format!("{}:base", path(&layout))]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains(&digest), "{}", stderr(&out));
}

#[test]
fn inspect_an_index_with_and_without_platform() {
    let (work, layout, amd64, _) = layout_with_image("image-inspect-index");
    let (other, _) = make_image(&work, &layout, "other");
    let store = BlobStore::new(&layout);
    let size = |d: &str| {
        store
            .stat(&d.parse().expect("digest"))
            .expect("stat")
            .expect("present")
    };
    let entry = |digest: &str, platform: Platform| {
        let mut d = Descriptor::new(
            media_type::IMAGE_MANIFEST,
            digest.parse().expect("digest"),
            size(digest),
        );
        d.platform = Some(platform);
        d
    };
    let index = Document::from_value(oci_spec_types::ImageIndex::new(vec![
        entry(&amd64, Platform::new("linux", "amd64")),
        entry(&other, Platform::new("linux", "arm64").with_variant("v8")),
    ]));
    let i = store
        .put_bytes(index.bytes(), Algorithm::Sha256)
        .expect("put");
    let l = path(&layout);
    let out = ocimg(&["tag", &format!("{l}:{}", i.digest), "multi"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = ocimg(&["inspect", "--json", &format!("{l}:multi")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["descriptor"]["digest"], i.digest.as_str());
    assert_eq!(v["index"]["manifests"][1]["digest"], other.as_str());
    assert!(v.get("manifest").is_none(), "{v}");
    // arm64 means arm64/v8.
    let out = ocimg(&[
        "inspect",
        "--json",
        "--platform",
        "linux/arm64",
        &format!("{l}:multi"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["descriptor"]["digest"], other.as_str());
    assert_eq!(v["layers"].as_array().map(Vec::len), Some(1));
    // No such platform: exit 2, naming what is there.
    let out = ocimg(&[
        "inspect",
        "--platform",
        "linux/s390x",
        &format!("{l}:multi"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("linux/arm64/v8"), "{}", stderr(&out));
    // A malformed platform is a usage error.
    let out = ocimg(&["inspect", "--platform", "linux", &format!("{l}:multi")]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn sixteen_processes_tagging_at_once_lose_nothing() {
    let (_work, layout, digest, _) = layout_with_image("image-16");
    let l = path(&layout);
    let children: Vec<_> = (0..16)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_ocimg"))
                .args(["tag", &format!("{l}:base"), &format!("t{i}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn ocimg")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{out:?}");
    }
    let bytes = std::fs::read(layout.join("index.json")).expect("read index.json");
    let report = oci_spec_types::validate::validate(oci_spec_types::validate::Kind::Index, &bytes);
    assert!(report.is_valid(), "{report:?}");
    let out = ocimg(&["ls", "--json", l]);
    let list = json(&out);
    let refs: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|e| {
            assert_eq!(e["digest"], digest.as_str());
            e["ref"].as_str().expect("ref")
        })
        .collect();
    assert_eq!(refs.len(), 17, "{refs:?}");
    for i in 0..16 {
        assert!(
            refs.contains(&format!("t{i}").as_str()),
            "t{i} lost: {refs:?}"
        );
    }
    // No temporary index file left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&layout)
        .expect("read dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// (digest, kind) of each problem of an `fsck --json` run, sorted.
fn fsck_problems(layout: &Path) -> (Option<i32>, Vec<(String, String)>) {
    let out = ocimg(&["fsck", "--json", path(layout)]);
    let v = json(&out);
    assert_eq!(v["ok"], out.status.code() == Some(0), "{v}");
    let mut problems: Vec<(String, String)> = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            let digest = p["digest"].as_str().unwrap_or("-").to_owned();
            let message = p["message"].as_str().expect("message");
            assert!(digest == "-" || message.contains(&digest), "{p}");
            (digest, p["kind"].as_str().expect("kind").to_owned())
        })
        .collect();
    problems.sort();
    (out.status.code(), problems)
}

#[test]
fn fsck_names_corrupted_truncated_and_missing_blobs() {
    let (work, layout, _digest, layer) = layout_with_image("image-fsck");
    let out = ocimg(&["fsck", "--json", path(&layout)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert_eq!(v["checked"]["blobs"], 3);
    assert_eq!(v["problems"], serde_json::json!([]));
    let store = BlobStore::new(&layout);
    let blob = store.blob_path(&layer.digest);
    let original = std::fs::read(&blob).expect("read");

    // Corrupted (same size).
    let mut bytes = original.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&blob, &bytes).expect("write");
    let expect = |kind: &str| (Some(1), vec![(layer.digest.to_string(), kind.to_owned())]);
    assert_eq!(fsck_problems(&layout), expect("digest-mismatch"));
    // Truncated.
    std::fs::write(&blob, &original[..original.len() / 2]).expect("write");
    assert_eq!(fsck_problems(&layout), expect("size-mismatch"));
    // Missing.
    std::fs::remove_file(&blob).expect("remove");
    assert_eq!(fsck_problems(&layout), expect("missing"));
    let out = ocimg(&["fsck", path(&layout)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(layer.digest.as_str()),
        "{out:?}"
    );
    std::fs::write(&blob, &original).expect("restore");
    assert_eq!(fsck_problems(&layout), (Some(0), vec![]));

    // A diffID mismatch: an image whose config names the other layer's diffID.
    let (other, other_diff) = make_layer(&work, &layout, "other", "other content");
    let store = BlobStore::new(&layout);
    let mut config = ImageConfig::new(&Platform::new("linux", "amd64"), vec![]);
    config.rootfs.diff_ids = vec![
        "sha256:0000000000000000000000000000000000000000000000000000000000000000"
            .parse()
            .expect("digest"),
    ];
    let config = Document::from_value(config);
    let c = store
        .put_bytes(config.bytes(), Algorithm::Sha256)
        .expect("put");
    let manifest = Document::from_value(ImageManifest::new(
        Descriptor::new(media_type::IMAGE_CONFIG, c.digest, c.size),
        vec![other.clone()],
    ));
    let m = store
        .put_bytes(manifest.bytes(), Algorithm::Sha256)
        .expect("put");
    let out = ocimg(&[
        "tag",
        &format!("{}:{}", path(&layout), m.digest),
        "mismatch",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let (code, problems) = fsck_problems(&layout);
    assert_eq!(code, Some(1));
    assert_eq!(
        problems,
        [(other.digest.to_string(), "diffid-mismatch".to_owned())]
    );
    assert_ne!(other_diff, "");
}

#[test]
fn gc_removes_unreachable_blobs() {
    let (work, layout, _digest, layer) = layout_with_image("image-gc");
    let (stray, _) = make_layer(&work, &layout, "stray", "stray");
    let out = ocimg(&["gc", "--json", path(&layout)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Young blobs are kept by the default grace period.
    assert_eq!(json(&out)["removed"], serde_json::json!([]));
    let out = ocimg(&["gc", "--grace", "0", "--json", path(&layout)]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = json(&out);
    assert_eq!(v["removed"], serde_json::json!([stray.digest]));
    assert_eq!(v["bytes"], stray.size);
    let store = BlobStore::new(&layout);
    assert!(store.stat(&stray.digest).expect("stat").is_none());
    assert!(store.stat(&layer.digest).expect("stat").is_some());
    assert_eq!(fsck_problems(&layout), (Some(0), vec![]));
}

/// An image built by umoci from a small tree, in the layout `dir` as `dir:t`.
fn umoci_image(work: &Path) -> PathBuf {
    let layout = work.join("umoci");
    let bundle = work.join("bundle");
    let image = format!("{}:t", path(&layout));
    run(Command::new("umoci").args(["init", "--layout", path(&layout)]));
    run(Command::new("umoci").args(["new", "--image", &image]));
    run(Command::new("umoci").args(["unpack", "--rootless", "--image", &image, path(&bundle)]));
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
    std::fs::write(rootfs.join("etc/hello"), "hello from umoci\n").expect("write");
    std::fs::write(rootfs.join("data.bin"), vec![7u8; 300_000]).expect("write");
    run(Command::new("umoci").args(["repack", "--image", &image, path(&bundle)]));
    layout
}

#[test]
fn layouts_written_by_umoci_and_skopeo_pass_fsck() {
    if !peer("umoci") || !peer("skopeo") {
        return;
    }
    let work = scratch("image-peers-fsck");
    let umoci = umoci_image(&work);
    assert_eq!(fsck_problems(&umoci), (Some(0), vec![]));
    let out = ocimg(&["fsck", "--json", path(&umoci)]);
    // Manifests, configs and layers of `new` and `repack`.
    assert!(
        json(&out)["checked"]["blobs"].as_u64() >= Some(3),
        "{out:?}"
    );

    for (name, extra) in [
        ("gzip", &[][..]),
        ("zstd", &["--dest-compress-format", "zstd"][..]),
    ] {
        let dest = work.join(format!("skopeo-{name}"));
        run(Command::new("skopeo")
            .args(["copy", "--quiet"])
            .args(extra)
            .arg(format!("oci:{}:t", path(&umoci)))
            .arg(format!("oci:{}:t", path(&dest))));
        assert_eq!(fsck_problems(&dest), (Some(0), vec![]), "{name}");
        let out = ocimg(&["inspect", "--json", &format!("{}:t", path(&dest))]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let v = json(&out);
        if name == "zstd" {
            assert_eq!(v["layers"][0]["mediaType"], media_type::LAYER_TAR_ZSTD);
        }
        // A damaged layer of a skopeo layout is found too.
        let digest: oci_spec_types::Digest = v["layers"][0]["digest"]
            .as_str()
            .expect("digest")
            .parse()
            .expect("digest");
        let blob = BlobStore::new(&dest).blob_path(&digest);
        let mut bytes = std::fs::read(&blob).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&blob, bytes).expect("write");
        assert_eq!(
            fsck_problems(&dest),
            (
                Some(1),
                vec![(digest.to_string(), "digest-mismatch".to_owned())]
            ),
            "{name}"
        );
    }
}

#[test]
fn layouts_written_by_ocimg_are_read_by_skopeo_and_umoci() {
    if !peer("umoci") || !peer("skopeo") {
        return;
    }
    let work = scratch("image-peers-read");
    let umoci = umoci_image(&work);
    let out = ocimg(&["inspect", "--json", &format!("{}:t", path(&umoci))]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let digest = json(&out)["descriptor"]["digest"]
        .as_str()
        .expect("digest")
        .to_owned();
    // A layout made by ocimg init, holding the same blobs, tagged by ocimg tag.
    let layout = work.join("ocimg");
    assert_eq!(ocimg(&["init", path(&layout)]).status.code(), Some(0));
    for entry in std::fs::read_dir(umoci.join("blobs/sha256")).expect("read blobs") {
        let entry = entry.expect("entry");
        std::fs::copy(
            entry.path(),
            layout.join("blobs/sha256").join(entry.file_name()),
        )
        .expect("copy blob");
    }
    let out = ocimg(&["tag", &format!("{}:{digest}", path(&layout)), "v1.0"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = ocimg(&["tag", &format!("{}:v1.0", path(&layout)), "latest"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let out = run(Command::new("skopeo").args(["inspect", &format!("oci:{}:v1.0", path(&layout))]));
    let v = json(&out);
    assert_eq!(v["Digest"], digest.as_str());
    assert_eq!(v["Os"], "linux");
    let out = run(Command::new("umoci").args(["ls", "--layout", path(&layout)]));
    let mut tags: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    tags.sort();
    assert_eq!(tags, ["latest", "v1.0"]);
    // skopeo copies it out of the layout, verifying every blob.
    let dir = work.join("dir-copy");
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("oci:{}:latest", path(&layout)),
        &format!("dir:{}", path(&dir)),
    ]));
    assert!(dir.join("manifest.json").is_file());
    // umoci unpacks it.
    let bundle = work.join("unpacked");
    run(Command::new("umoci").args([
        "unpack",
        "--rootless",
        "--image",
        &format!("{}:latest", path(&layout)),
        path(&bundle),
    ]));
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/etc/hello")).expect("read"),
        "hello from umoci\n"
    );
    // skopeo writes into the layout ocimg made; ocimg sees both tags and the layout checks.
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--dest-compress-format",
        "zstd",
        &format!("oci:{}:t", path(&umoci)),
        &format!("oci:{}:zstd", path(&layout)),
    ]));
    let out = ocimg(&["ls", "--json", path(&layout)]);
    let refs: Vec<String> = json(&out)
        .as_array()
        .expect("array")
        .iter()
        .map(|e| e["ref"].as_str().expect("ref").to_owned())
        .collect();
    assert_eq!(refs, ["v1.0", "latest", "zstd"]);
    assert_eq!(fsck_problems(&layout), (Some(0), vec![]));
}
