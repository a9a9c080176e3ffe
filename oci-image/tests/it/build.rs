//! Building images, editing configs and creating indexes through the library.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_image::{BuildOptions, ConfigEdits, ImageName, Inspection, Layout, Reference, build};
use oci_layer::{ApplyOptions, EntryKind, Expected, apply_layers};
use oci_spec_types::{Descriptor, ImageConfig, Platform};

use crate::scratch;

const EPOCH: i64 = 1_700_000_000;

/// A small tree: directories, files, a symlink, an empty directory.
fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("etc/app")).expect("mkdir");
    fs::create_dir_all(root.join("bin")).expect("mkdir");
    fs::create_dir_all(root.join("var/empty")).expect("mkdir");
    fs::write(root.join("etc/hostname"), "box\n").expect("write");
    fs::write(root.join("etc/app/conf"), "a = 1\n").expect("write");
    fs::write(root.join("bin/tool"), "#!/bin/sh\necho tool\n").expect("write");
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("tool", root.join("bin/alias")).expect("symlink");
}

fn tag(name: &str) -> Reference {
    Reference::Tag(name.to_owned())
}

/// The image tagged `tag`: (manifest descriptor, config, layer descriptors).
fn image(layout: &Layout, tag_name: &str) -> (Descriptor, ImageConfig, Vec<Descriptor>) {
    match layout.inspect(Some(&tag(tag_name)), None).expect("inspect") {
        Inspection::Image(image) => (
            image.descriptor,
            image.config.expect("image config"),
            image.layers.into_iter().map(|l| l.descriptor).collect(),
        ),
        Inspection::Index { .. } => panic!("{tag_name} is an index"),
    }
}

/// The entries of a layer blob: path -> kind.
fn layer_entries(layout: &Layout, layer: &Descriptor) -> BTreeMap<String, EntryKind> {
    let file = fs::File::open(layout.blobs().blob_path(&layer.digest)).expect("open layer");
    oci_layer::list(file)
        .expect("list layer")
        .into_iter()
        .map(|e| (e.path, e.kind))
        .collect()
}

/// Applies every layer of the image tagged `tag` onto a new directory `dest`.
fn unpack(layout: &Layout, tag_name: &str, dest: &Path) {
    let (_, config, layers) = image(layout, tag_name);
    fs::create_dir_all(dest).expect("mkdir dest");
    let readers = layers.iter().zip(&config.rootfs.diff_ids).map(|(l, d)| {
        (
            fs::File::open(layout.blobs().blob_path(&l.digest)).expect("open layer"),
            Expected {
                digest: Some(l.digest.clone()),
                diff_id: Some(d.clone()),
            },
        )
    });
    apply_layers(dest, readers, &ApplyOptions::default()).expect("apply layers");
}

/// Every path under `root` with what it is: "dir", "link:TARGET" or "file:MODE:CONTENT".
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(root).expect("under root").to_path_buf();
            let meta = fs::symlink_metadata(&path).expect("stat");
            let what = if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else if meta.file_type().is_symlink() {
                format!("link:{}", fs::read_link(&path).expect("readlink").display())
            } else {
                format!(
                    "file:{:o}:{}",
                    meta.permissions().mode() & 0o7777,
                    String::from_utf8_lossy(&fs::read(&path).expect("read"))
                )
            };
            out.insert(rel, what);
        }
    }
    out
}

fn options(rootfs: &Path) -> BuildOptions {
    BuildOptions {
        source_date_epoch: Some(EPOCH),
        ..BuildOptions::new(rootfs)
    }
}

#[test]
fn build_without_base_has_every_entry() {
    let work = scratch("build-scratch");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let dir = work.join("layout");
    let built = build(&dir, "v1", &options(&rootfs)).expect("build");
    let layout = Layout::open(&dir).expect("layout created");
    let (descriptor, config, layers) = image(&layout, "v1");
    assert_eq!(descriptor.digest, built.image.manifest.digest);
    assert_eq!(layers.len(), 1);
    assert_eq!(config.rootfs.diff_ids, vec![built.diff_id.clone()]);
    assert_eq!(config.platform().os, Platform::host().os);
    let entries: Vec<String> = layer_entries(&layout, &layers[0]).into_keys().collect();
    assert_eq!(
        entries,
        [
            "bin/",
            "bin/alias",
            "bin/tool",
            "etc/",
            "etc/app/",
            "etc/app/conf",
            "etc/hostname",
            "var/",
            "var/empty/"
        ]
    );
    let history = config.history.expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].created_by.as_deref(), Some("ocimg build"));
    assert_ne!(history[0].empty_layer, Some(true));
    assert_eq!(history[0].created.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(config.created.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert!(layout.fsck().problems.is_empty());
}

#[test]
fn same_inputs_and_epoch_give_the_same_digest_anywhere() {
    let work = scratch("build-determinism");
    let mut digests = Vec::new();
    for name in ["a", "b"] {
        // Two copies of the tree, written at different times and places.
        let rootfs = work.join(name).join("tree");
        sample_tree(&rootfs);
        let built = build(&work.join(name).join("out"), "v1", &options(&rootfs)).expect("build");
        digests.push(built.image.manifest.digest);
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_eq!(digests[0], digests[1]);
    // Without the epoch the time changes, and so does the digest.
    let rootfs = work.join("a").join("tree");
    let now = build(&work.join("now"), "v1", &BuildOptions::new(&rootfs)).expect("build");
    assert_ne!(now.image.manifest.digest, digests[0]);
}

#[test]
fn build_on_base_writes_only_the_changes() {
    let work = scratch("build-base");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let dir = work.join("layout");
    let mut base_options = options(&rootfs);
    base_options.edits.cmd = Some(vec!["/bin/tool".into()]);
    base_options.edits.env = vec![("A".into(), "1".into())];
    build(&dir, "base", &base_options).expect("build base");
    let layout = Layout::open(&dir).expect("open");

    // Unpack the base, change it: one file new, one changed, one deleted, one dir deleted.
    let next = work.join("next");
    unpack(&layout, "base", &next);
    fs::write(next.join("etc/new"), "new\n").expect("write");
    fs::write(next.join("etc/hostname"), "other\n").expect("write");
    fs::remove_file(next.join("bin/alias")).expect("rm");
    fs::remove_dir(next.join("var/empty")).expect("rmdir");
    let built = build(
        &dir,
        "next",
        &BuildOptions {
            base: Some(ImageName::parse(&format!("{}:base", dir.display())).expect("name")),
            ..options(&next)
        },
    )
    .expect("build next");

    let (_, base_config, base_layers) = image(&layout, "base");
    let (_, config, layers) = image(&layout, "next");
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0], base_layers[0], "the base layer is reused");
    assert_eq!(config.rootfs.diff_ids[0], base_config.rootfs.diff_ids[0]);
    assert_eq!(config.rootfs.diff_ids[1], built.diff_id);
    let exec = config.config.expect("exec config");
    assert_eq!(
        exec.cmd,
        Some(vec!["/bin/tool".to_owned()]),
        "base config kept"
    );
    assert_eq!(exec.env, Some(vec!["A=1".to_owned()]));
    assert_eq!(config.history.expect("history").len(), 2);

    let entries = layer_entries(&layout, &layers[1]);
    let expected: BTreeMap<String, EntryKind> = [
        ("bin/", EntryKind::Dir),
        ("bin/alias", EntryKind::Whiteout),
        ("etc/", EntryKind::Dir),
        ("etc/hostname", EntryKind::File),
        ("etc/new", EntryKind::File),
        ("var/", EntryKind::Dir),
        ("var/empty", EntryKind::Whiteout),
    ]
    .into_iter()
    .map(|(p, k)| (p.to_owned(), k))
    .collect();
    assert_eq!(entries, expected);

    let check = work.join("check");
    unpack(&layout, "next", &check);
    assert_eq!(snapshot(&check), snapshot(&next));
    assert!(layout.fsck().problems.is_empty());
}

#[test]
fn base_from_another_layout_is_copied_over() {
    let work = scratch("build-other-layout");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let base_dir = work.join("base");
    build(&base_dir, "b", &options(&rootfs)).expect("build base");
    let dir = work.join("layout");
    let extra = work.join("extra");
    fs::create_dir_all(&extra).expect("mkdir");
    fs::write(extra.join("only"), "x").expect("write");
    // A fresh root with only a file: everything of the base is deleted.
    let built = build(
        &dir,
        "v1",
        &BuildOptions {
            base: Some(ImageName::parse(&format!("{}:b", base_dir.display())).expect("name")),
            ..options(&extra)
        },
    )
    .expect("build");
    let layout = Layout::open(&dir).expect("open");
    assert_eq!(built.image.layers.len(), 2);
    assert!(layout.fsck().problems.is_empty(), "base blobs copied");
    let check = work.join("check");
    unpack(&layout, "v1", &check);
    assert_eq!(snapshot(&check), snapshot(&extra));
}

#[test]
fn config_edits_keep_other_fields_and_layers() {
    let work = scratch("edit-config");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let dir = work.join("layout");
    let mut first = options(&rootfs);
    first.edits = ConfigEdits {
        entrypoint: Some(vec!["/bin/tool".into()]),
        cmd: Some(vec!["--help".into()]),
        env: vec![("A".into(), "1".into()), ("B".into(), "2".into())],
        labels: vec![("keep".into(), "yes".into()), ("drop".into(), "no".into())],
        user: Some("app".into()),
        ..ConfigEdits::default()
    };
    build(&dir, "v1", &first).expect("build");
    let layout = Layout::open(&dir).expect("open");
    let (_, before, layers_before) = image(&layout, "v1");

    let edits = ConfigEdits {
        entrypoint: Some(vec!["/bin/alias".into()]),
        env: vec![("A".into(), "9".into()), ("C".into(), "3".into())],
        env_remove: vec!["B".into()],
        label_remove: vec!["drop".into()],
        expose: vec!["8080/tcp".into()],
        history_comment: Some("edited".into()),
        ..ConfigEdits::default()
    };
    let written = layout
        .edit_config(Some(&tag("v1")), None, "v2", &edits, Some(EPOCH + 1))
        .expect("edit");
    let (descriptor, after, layers_after) = image(&layout, "v2");
    assert_eq!(descriptor.digest, written.manifest.digest);
    assert_eq!(layers_after, layers_before, "layers untouched");
    assert_eq!(after.rootfs, before.rootfs);
    let exec = after.config.clone().expect("exec config");
    assert_eq!(exec.entrypoint, Some(vec!["/bin/alias".to_owned()]));
    assert_eq!(exec.cmd, Some(vec!["--help".to_owned()]), "cmd kept");
    assert_eq!(exec.env, Some(vec!["A=9".to_owned(), "C=3".to_owned()]));
    assert_eq!(exec.user.as_deref(), Some("app"));
    assert_eq!(
        exec.labels,
        Some(BTreeMap::from([("keep".to_owned(), "yes".to_owned())]))
    );
    assert!(exec.exposed_ports.expect("ports").contains_key("8080/tcp"));
    let history = after.history.expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].empty_layer, Some(true));
    assert_eq!(history[1].comment.as_deref(), Some("edited"));
    assert_eq!(history[1].created_by.as_deref(), Some("ocimg config"));
    assert_eq!(after.created.as_deref(), Some("2023-11-14T22:13:21Z"));

    // --clear-cmd drops Cmd only when asked.
    let cleared = ConfigEdits {
        clear_cmd: true,
        ..ConfigEdits::default()
    };
    layout
        .edit_config(Some(&tag("v2")), None, "v3", &cleared, Some(EPOCH))
        .expect("edit");
    let (_, v3, _) = image(&layout, "v3");
    let exec = v3.config.expect("exec config");
    assert_eq!(exec.cmd, None);
    assert_eq!(exec.entrypoint, Some(vec!["/bin/alias".to_owned()]));
    // The source tag still names the old image.
    let (_, still, _) = image(&layout, "v1");
    assert_eq!(still, before);
    assert!(layout.fsck().problems.is_empty());
}

#[test]
fn unknown_config_and_manifest_members_survive_an_edit() {
    let work = scratch("edit-unknown");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let dir = work.join("layout");
    build(&dir, "v1", &options(&rootfs)).expect("build");
    let layout = Layout::open(&dir).expect("open");
    // Rewrite the image with unknown members in the config and the manifest.
    let (_, mut config, layers) = image(&layout, "v1");
    config
        .extra
        .insert("x-custom".into(), serde_json::json!({"k": [1, 2]}));
    let config = put_config(&layout, config);
    let mut manifest = oci_spec_types::ImageManifest::new(config, layers);
    manifest
        .extra
        .insert("x-manifest".into(), serde_json::json!("kept"));
    let manifest = put_manifest(&layout, manifest);
    crate::add_entry(&layout, manifest, Some("odd"));

    let edits = ConfigEdits {
        working_dir: Some("/srv".into()),
        ..ConfigEdits::default()
    };
    layout
        .edit_config(Some(&tag("odd")), None, "odd2", &edits, Some(EPOCH))
        .expect("edit");
    let (descriptor, config, _) = image(&layout, "odd2");
    assert_eq!(config.extra["x-custom"], serde_json::json!({"k": [1, 2]}));
    let bytes = layout.read_blob(&descriptor).expect("read manifest");
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(manifest["x-manifest"], "kept");
}

fn put_config(layout: &Layout, config: ImageConfig) -> Descriptor {
    let document = oci_spec_types::Document::from_value(config);
    let measured = layout
        .blobs()
        .put_bytes(document.bytes(), oci_spec_types::Algorithm::Sha256)
        .expect("put config");
    Descriptor::new(
        oci_spec_types::media_type::IMAGE_CONFIG,
        measured.digest,
        measured.size,
    )
}

fn put_manifest(layout: &Layout, manifest: oci_spec_types::ImageManifest) -> Descriptor {
    let document = oci_spec_types::Document::from_value(manifest);
    let measured = layout
        .blobs()
        .put_bytes(document.bytes(), oci_spec_types::Algorithm::Sha256)
        .expect("put manifest");
    Descriptor::new(
        oci_spec_types::media_type::IMAGE_MANIFEST,
        measured.digest,
        measured.size,
    )
}

#[test]
fn index_create_lists_each_platform() {
    let work = scratch("index-create");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let dir = work.join("layout");
    let amd64 = Platform::new("linux", "amd64");
    let arm64 = Platform::new("linux", "arm64").with_variant("v8");
    let mut digests = Vec::new();
    for (name, platform) in [("amd", &amd64), ("arm", &arm64)] {
        let built = build(
            &dir,
            name,
            &BuildOptions {
                platform: Some(platform.clone()),
                ..options(&rootfs)
            },
        )
        .expect("build");
        digests.push(built.image.manifest.digest);
    }
    let layout = Layout::open(&dir).expect("open");
    let entry = layout
        .create_index("multi", &[tag("amd"), tag("arm")])
        .expect("create index");
    assert_eq!(entry.ref_name(), Some("multi"));
    assert_eq!(entry.media_type, oci_spec_types::media_type::IMAGE_INDEX);
    let Inspection::Index { index, .. } =
        layout.inspect(Some(&tag("multi")), None).expect("inspect")
    else {
        panic!("multi is not an index");
    };
    let entries = index.entries().expect("entries");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].digest, digests[0]);
    assert_eq!(entries[1].digest, digests[1]);
    assert_eq!(entries[0].platform.as_ref(), Some(&amd64));
    assert_eq!(entries[1].platform.as_ref(), Some(&arm64));
    assert!(
        entries.iter().all(|e| e.annotations.is_none()),
        "no ref names inside"
    );
    // Reading through the index by platform finds each image.
    let (_, arm_config, _) = match layout
        .inspect(Some(&tag("multi")), Some(&arm64))
        .expect("inspect")
    {
        Inspection::Image(image) => ((), image.config.expect("config"), ()),
        Inspection::Index { .. } => panic!("not descended"),
    };
    assert_eq!(arm_config.architecture, "arm64");
    // A build on the index picks the platform asked for.
    let next = build(
        &dir,
        "arm-next",
        &BuildOptions {
            base: Some(ImageName::parse(&format!("{}:multi", dir.display())).expect("name")),
            platform: Some(arm64.clone()),
            ..options(&rootfs)
        },
    )
    .expect("build on index");
    assert_eq!(next.image.manifest.platform.as_ref(), Some(&arm64));
    assert!(layout.create_index("bad tag!", &[tag("amd")]).is_err());
    assert!(layout.create_index("empty", &[]).is_err());
    assert!(layout.fsck().problems.is_empty());
}

#[test]
fn refusals_name_the_problem() {
    let work = scratch("build-refusals");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    let dir = work.join("layout");
    let e = build(&dir, "v1", &options(&work.join("missing"))).expect_err("no rootfs");
    assert!(e.to_string().contains("missing"), "{e}");
    assert!(!e.is_check_failure());
    let e = build(&dir, "bad tag", &options(&rootfs)).expect_err("bad tag");
    assert!(e.is_check_failure(), "{e}");
    let e = build(
        &dir,
        "v1",
        &BuildOptions {
            base: Some(ImageName::parse(&format!("{}:nothing", dir.display())).expect("name")),
            ..options(&rootfs)
        },
    )
    .expect_err("no base");
    assert!(e.to_string().contains("nothing"), "{e}");
}

/// What a progress observer saw, as text: `layer I/N SIZE`, `read I BYTES` (the last of
/// each layer), `create I/N ESTIMATE`, `written I BYTES` (the last).
fn observe() -> (
    oci_image::Progress,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = Arc::clone(&seen);
    let progress =
        oci_image::Progress(Some(Arc::new(move |event: &oci_image::UnpackEvent<'_>| {
            let mut seen = s.lock().expect("lock");
            let line = match event {
                oci_image::UnpackEvent::Layer {
                    index,
                    count,
                    descriptor,
                } => format!("layer {index}/{count} {}", descriptor.size),
                oci_image::UnpackEvent::Read { index, read, .. } => format!("read {index} {read}"),
                oci_image::UnpackEvent::Create {
                    index,
                    count,
                    estimate,
                } => format!("create {index}/{count} {estimate:?}"),
                oci_image::UnpackEvent::Written { index, written, .. } => {
                    format!("written {index} {written}")
                }
                _ => "other".to_owned(),
            };
            // Keep only the last of a run of reads or writes of one layer.
            let kind = |l: &str| l.rsplit_once(' ').map(|(k, _)| k.to_owned());
            if seen.last().and_then(|l| kind(l)) == kind(&line)
                && (line.starts_with("read ") || line.starts_with("written "))
            {
                seen.pop();
            }
            seen.push(line);
        })));
    (progress, seen)
}

/// The uncompressed size of a layer blob.
fn tar_size(layout: &Layout, layer: &Descriptor) -> u64 {
    let file = fs::File::open(layout.blobs().blob_path(&layer.digest)).expect("open layer");
    let mut reader = flate2::read::MultiGzDecoder::new(file);
    std::io::copy(&mut reader, &mut std::io::sink()).expect("gunzip")
}

#[test]
fn build_reports_progress_per_layer() {
    let work = scratch("build-progress");
    let rootfs = work.join("rootfs");
    sample_tree(&rootfs);
    fs::write(rootfs.join("big"), vec![1u8; 600_000]).expect("write");
    let dir = work.join("layout");
    // From scratch: the new layer, with an estimate from the tree, written to its end.
    let (progress, seen) = observe();
    let built = build(
        &dir,
        "base",
        &BuildOptions {
            progress,
            ..options(&rootfs)
        },
    )
    .expect("build");
    let layout = Layout::open(&dir).expect("open");
    let tar = tar_size(&layout, &built.image.layers[0]);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let estimate: u64 = seen[0]
        .strip_prefix("create 0/1 Some(")
        .and_then(|s| s.strip_suffix(')'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{seen:?}"));
    // Headers and content: within a few headers of the real tar.
    assert!(
        estimate.abs_diff(tar) <= 4 * 512,
        "estimate {estimate}, tar {tar}"
    );
    assert_eq!(seen[1], format!("written 0 {tar}"));

    // On a base: the base layer read to its end, then the new layer (no estimate).
    fs::write(rootfs.join("etc/new"), "new\n").expect("write");
    let (progress, seen) = observe();
    let built = build(
        &dir,
        "next",
        &BuildOptions {
            base: Some(ImageName::parse(&format!("{}:base", dir.display())).expect("name")),
            progress,
            ..options(&rootfs)
        },
    )
    .expect("build on base");
    let base_layer = &built.image.layers[0];
    let tar = tar_size(&layout, &built.image.layers[1]);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [
            format!("layer 0/2 {}", base_layer.size),
            format!("read 0 {}", base_layer.size),
            "create 1/2 None".to_owned(),
            format!("written 1 {tar}"),
        ]
    );
}
