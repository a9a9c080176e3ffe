//! Unpacking images and making bundles: trees, verification, cleanup after failures,
//! platforms, whiteouts, config.json.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use oci_image::{
    BlobOpenError, BundleDirOptions, ImageError, Layout, OpenOptions, Reference, Source,
    UnpackError, UnpackOptions, bundle, unpack,
};
use oci_layer::{ApplyError, Compression, CreateOptions};
use oci_spec_types::config::ExecConfig;
use oci_spec_types::{
    Algorithm, Descriptor, Digest, Document, ImageConfig, ImageIndex, ImageManifest, Platform,
    media_type,
};

use crate::{LayerSpec, scratch, sha256};

/// A layer of the tree at `dir` made by `oci_layer::create` (or `diff` against `old`).
fn layer_of(dir: &Path, old: Option<&Path>, compression: Compression) -> LayerSpec {
    let options = CreateOptions {
        compression,
        source_date_epoch: Some(1_700_000_000),
        ..CreateOptions::default()
    };
    let mut blob = Vec::new();
    let created = match old {
        None => oci_layer::create(dir, &mut blob, &options),
        Some(old) => oci_layer::diff(old, dir, &mut blob, &options),
    }
    .expect("create layer");
    let media_type = match compression {
        Compression::None => media_type::LAYER_TAR,
        Compression::Gzip { .. } => media_type::LAYER_TAR_GZIP,
        Compression::Zstd { .. } => media_type::LAYER_TAR_ZSTD,
    };
    LayerSpec {
        blob,
        media_type,
        diff_id: created.diff_id,
    }
}

/// Stores the layers, a config with `exec` and a manifest; returns the manifest
/// descriptor (with its platform) and the layer descriptors.
fn store(
    layout: &Layout,
    platform: &Platform,
    layers: Vec<LayerSpec>,
    exec: Option<ExecConfig>,
) -> (Descriptor, Vec<Descriptor>) {
    let blobs = layout.blobs();
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in layers {
        let m = blobs
            .put_bytes(&layer.blob, Algorithm::Sha256)
            .expect("put layer");
        descriptors.push(Descriptor::new(layer.media_type, m.digest, m.size));
        diff_ids.push(layer.diff_id);
    }
    let mut config = ImageConfig::new(platform, diff_ids);
    config.config = exec;
    let config = Document::from_value(config);
    let m = blobs
        .put_bytes(config.bytes(), Algorithm::Sha256)
        .expect("put config");
    let config = Descriptor::new(media_type::IMAGE_CONFIG, m.digest, m.size);
    let manifest = Document::from_value(ImageManifest::new(config, descriptors.clone()));
    let m = blobs
        .put_bytes(manifest.bytes(), Algorithm::Sha256)
        .expect("put manifest");
    let mut descriptor = Descriptor::new(media_type::IMAGE_MANIFEST, m.digest, m.size);
    descriptor.platform = Some(platform.clone());
    (descriptor, descriptors)
}

/// Tags a stored manifest or index with the layout's own API.
fn tag(layout: &Layout, digest: &Digest, name: &str) {
    layout
        .tag(Some(&Reference::Digest(digest.clone())), None, name)
        .expect("tag");
}

/// The image `tag` of `layout` as a source, as the CLI opens `oci:DIR:TAG`.
pub fn src(layout: &Layout, tag: &str) -> Box<dyn Source> {
    oci_image::open_source(
        &format!("oci:{}:{tag}", layout.root().display()),
        &OpenOptions::default(),
    )
    .expect("open source")
}

/// A small tree with a directory, files of several modes and owners, a symlink and a
/// hard link.
fn sample_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc/conf.d")).expect("mkdir");
    std::fs::create_dir_all(dir.join("bin")).expect("mkdir");
    std::fs::write(dir.join("etc/hostname"), "box\n").expect("write");
    std::fs::write(dir.join("etc/conf.d/a.conf"), "a=1\n").expect("write");
    std::fs::write(dir.join("bin/tool"), "#!/bin/sh\necho tool\n").expect("write");
    std::fs::set_permissions(
        dir.join("bin/tool"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .expect("chmod");
    std::fs::set_permissions(
        dir.join("etc/hostname"),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("../etc/hostname", dir.join("bin/link")).expect("symlink");
    std::fs::hard_link(dir.join("bin/tool"), dir.join("bin/tool2")).expect("hard link");
    std::os::unix::fs::chown(dir.join("etc/conf.d/a.conf"), Some(1000), Some(1001)).expect("chown");
}

/// Every entry under `root`: type, mode, owner, and content or link target.
pub fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .into_owned();
            let t = meta.file_type();
            let what = if t.is_dir() {
                "dir".to_owned()
            } else if t.is_symlink() {
                format!(
                    "symlink -> {}",
                    std::fs::read_link(&path).expect("readlink").display()
                )
            } else if t.is_file() {
                format!(
                    "file {:?}",
                    String::from_utf8_lossy(&std::fs::read(&path).expect("read"))
                )
            } else {
                format!("special {:o}", meta.mode() & 0o170000)
            };
            out.insert(
                rel,
                format!(
                    "{what} mode {:o} owner {}:{}",
                    meta.mode() & 0o7777,
                    meta.uid(),
                    meta.gid()
                ),
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

/// Fails when anything but `keep` is in `dir` (staging leftovers).
fn only(dir: &Path, keep: &[&str]) {
    let names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect();
    assert!(names.is_empty(), "left in {}: {names:?}", dir.display());
}

/// A layout with one image of `sample_tree`, tagged `t`; returns (work dir, layout, tree,
/// layer descriptor).
fn sample_image(test: &str, compression: Compression) -> (PathBuf, Layout, PathBuf, Descriptor) {
    let work = scratch(test);
    let layout = Layout::init(work.join("layout")).expect("init");
    let tree = work.join("tree");
    sample_tree(&tree);
    let (manifest, layers) = store(
        &layout,
        &crate::linux_amd64(),
        vec![layer_of(&tree, None, compression)],
        None,
    );
    tag(&layout, &manifest.digest, "t");
    (work, layout, tree, layers[0].clone())
}

#[test]
fn unpack_gives_the_tree() {
    for (name, compression) in [
        ("gzip", Compression::DEFAULT_GZIP),
        ("zstd", Compression::DEFAULT_ZSTD),
        ("tar", Compression::None),
    ] {
        let (work, layout, tree, _) = sample_image(&format!("unpack-tree-{name}"), compression);
        let dest = work.join("out").join("dest");
        std::fs::create_dir(work.join("out")).expect("mkdir");
        let unpacked =
            unpack(&*src(&layout, "t"), &dest, &UnpackOptions::default()).expect("unpack");
        assert_eq!(unpacked.layers, 1);
        assert_eq!(unpacked.dest, dest);
        assert!(unpacked.entries >= 8, "{unpacked:?}");
        let mut want = snapshot(&tree);
        let got = snapshot(&dest);
        // The root's mode comes from the layer when it has a root entry.
        want.retain(|k, _| !k.is_empty());
        assert_eq!(got, want, "{name}");
        assert_eq!(
            std::fs::metadata(dest.join("bin/tool"))
                .expect("stat")
                .ino(),
            std::fs::metadata(dest.join("bin/tool2"))
                .expect("stat")
                .ino(),
            "hard link kept"
        );
        only(&work.join("out"), &["dest"]);
    }
}

#[test]
fn destination_that_exists_is_refused_and_untouched() {
    let (work, layout, _, _) = sample_image("unpack-exists", Compression::DEFAULT_GZIP);
    let dest = work.join("dest");
    std::fs::create_dir(&dest).expect("mkdir");
    std::fs::write(dest.join("mine"), "keep").expect("write");
    let e = unpack(&*src(&layout, "t"), &dest, &UnpackOptions::default()).expect_err("dest exists");
    assert!(matches!(e, UnpackError::DestinationExists { .. }), "{e}");
    assert!(!e.is_check_failure());
    assert_eq!(snapshot(&dest).len(), 1);
    assert_eq!(
        std::fs::read_to_string(dest.join("mine")).expect("read"),
        "keep"
    );
    // A dangling symlink counts as existing too.
    let link = work.join("link");
    std::os::unix::fs::symlink(work.join("nowhere"), &link).expect("symlink");
    let e = unpack(&*src(&layout, "t"), &link, &UnpackOptions::default()).expect_err("link exists");
    assert!(matches!(e, UnpackError::DestinationExists { .. }), "{e}");
    assert!(!work.join("nowhere").exists());
    only(&work, &["dest", "link", "layout", "tree"]);
}

/// Damages the layer blob with `damage`, unpacks, and checks the failure left nothing.
fn damaged(test: &str, damage: impl Fn(&Path)) -> (UnpackError, Descriptor) {
    let (work, layout, _, layer) = sample_image(test, Compression::DEFAULT_GZIP);
    damage(&layout.blobs().blob_path(&layer.digest));
    let out = work.join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let dest = out.join("dest");
    let e =
        unpack(&*src(&layout, "t"), &dest, &UnpackOptions::default()).expect_err("damaged layer");
    assert!(e.is_check_failure(), "{e}");
    assert!(
        e.to_string().contains(layer.digest.as_str()),
        "error names the digest: {e}"
    );
    assert!(!dest.exists());
    only(&out, &[]);
    // Fetched ahead by threads, the same error and nothing left.
    let options = UnpackOptions {
        prefetch: 2,
        ..UnpackOptions::default()
    };
    let ahead = unpack(&*src(&layout, "t"), &dest, &options).expect_err("damaged layer");
    assert_eq!(ahead.to_string(), e.to_string());
    assert_eq!(
        std::mem::discriminant(&ahead),
        std::mem::discriminant(&e),
        "{ahead:?} / {e:?}"
    );
    assert!(!dest.exists());
    only(&out, &[]);
    (e, layer)
}

#[test]
fn corrupted_layer_fails_with_nothing_left() {
    let (e, _) = damaged("unpack-corrupt", |path| {
        let mut bytes = std::fs::read(path).expect("read");
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        bytes[n - 10] ^= 0x55;
        std::fs::write(path, bytes).expect("write");
    });
    assert!(
        matches!(
            e,
            UnpackError::Layer {
                source: ApplyError::DigestMismatch { .. },
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn truncated_layer_fails_with_nothing_left() {
    let (e, _) = damaged("unpack-truncated", |path| {
        let bytes = std::fs::read(path).expect("read");
        std::fs::write(path, &bytes[..bytes.len() / 2]).expect("write");
    });
    assert!(
        matches!(
            e,
            UnpackError::Image(ImageError::Blob(BlobOpenError::Damaged { .. }))
        ),
        "{e:?}"
    );
}

#[test]
fn missing_layer_fails_with_nothing_left() {
    let (e, _) = damaged("unpack-missing", |path| {
        std::fs::remove_file(path).expect("remove");
    });
    assert!(
        matches!(
            e,
            UnpackError::Image(ImageError::Blob(BlobOpenError::Missing { .. }))
        ),
        "{e:?}"
    );
}

#[test]
fn corrupted_same_size_layer_is_a_digest_mismatch() {
    // Damage late in the stream: some entries are applied before the failure, and
    // the staging directory must still go away.
    let (work, layout, _, layer) = sample_image("unpack-late", Compression::None);
    let path = layout.blobs().blob_path(&layer.digest);
    let mut bytes = std::fs::read(&path).expect("read");
    let n = bytes.len();
    bytes[n - 1] = 1; // inside the end-of-archive zero blocks
    std::fs::write(&path, bytes).expect("write");
    let dest = work.join("dest");
    let e = unpack(&*src(&layout, "t"), &dest, &UnpackOptions::default()).expect_err("damaged");
    assert!(e.is_check_failure(), "{e}");
    assert!(e.to_string().contains(layer.digest.as_str()), "{e}");
    assert!(!dest.exists());
    only(&work, &["layout", "tree"]);
}

#[test]
fn diff_id_mismatch_fails_with_nothing_left() {
    let work = scratch("unpack-diffid");
    let layout = Layout::init(work.join("layout")).expect("init");
    let tree = work.join("tree");
    sample_tree(&tree);
    let mut layer = layer_of(&tree, None, Compression::DEFAULT_GZIP);
    layer.diff_id = sha256(b"something else");
    let (manifest, _) = store(&layout, &crate::linux_amd64(), vec![layer], None);
    tag(&layout, &manifest.digest, "t");
    let dest = work.join("dest");
    let e =
        unpack(&*src(&layout, "t"), &dest, &UnpackOptions::default()).expect_err("diffID mismatch");
    assert!(
        matches!(
            e,
            UnpackError::Layer {
                source: ApplyError::DiffIdMismatch { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_check_failure());
    assert!(!dest.exists());
    only(&work, &["layout", "tree"]);
}

#[test]
fn config_must_describe_the_layers() {
    let work = scratch("unpack-config-checks");
    let layout = Layout::init(work.join("layout")).expect("init");
    let tree = work.join("tree");
    sample_tree(&tree);
    let layer = layer_of(&tree, None, Compression::DEFAULT_GZIP);
    let blobs = layout.blobs();
    let m = blobs
        .put_bytes(&layer.blob, Algorithm::Sha256)
        .expect("put");
    let layer_descriptor = Descriptor::new(layer.media_type, m.digest, m.size);
    let image = |config: ImageConfig, layers: Vec<Descriptor>, name: &str| {
        let config = Document::from_value(config);
        let c = blobs
            .put_bytes(config.bytes(), Algorithm::Sha256)
            .expect("put");
        let manifest = Document::from_value(ImageManifest::new(
            Descriptor::new(media_type::IMAGE_CONFIG, c.digest, c.size),
            layers,
        ));
        let m = blobs
            .put_bytes(manifest.bytes(), Algorithm::Sha256)
            .expect("put");
        tag(&layout, &m.digest, name);
    };
    let platform = crate::linux_amd64();
    let mut wrong_type = ImageConfig::new(&platform, vec![layer.diff_id.clone()]);
    wrong_type.rootfs.kind = "snapshots".to_owned();
    image(wrong_type, vec![layer_descriptor.clone()], "type");
    image(
        ImageConfig::new(&platform, vec![]),
        vec![layer_descriptor.clone()],
        "count",
    );
    let mut unknown = layer_descriptor.clone();
    unknown.media_type = "application/vnd.example.layer+tar".into();
    image(
        ImageConfig::new(&platform, vec![layer.diff_id.clone()]),
        vec![unknown],
        "unknown",
    );
    for (name, check) in [
        (
            "type",
            &(|e: &UnpackError| matches!(e, UnpackError::RootfsType { .. })) as &dyn Fn(&_) -> _,
        ),
        ("count", &|e| matches!(e, UnpackError::LayerCount { .. })),
        ("unknown", &|e| {
            matches!(e, UnpackError::UnknownLayerType { .. })
                && e.to_string().contains("application/vnd.example.layer+tar")
        }),
    ] {
        let dest = work.join(format!("dest-{name}"));
        let e = unpack(&*src(&layout, name), &dest, &UnpackOptions::default()).expect_err(name);
        assert!(check(&e), "{name}: {e:?}");
        assert!(e.is_check_failure(), "{name}");
        assert!(!dest.exists());
    }
    only(&work, &["layout", "tree"]);
}

#[test]
fn other_layer_media_types_unpack() {
    // Nondistributable and Docker gzip types: same bytes, other names.
    let work = scratch("unpack-media-types");
    let layout = Layout::init(work.join("layout")).expect("init");
    let tree = work.join("tree");
    sample_tree(&tree);
    for (i, (mt, compression)) in [
        (
            media_type::LAYER_NONDISTRIBUTABLE_TAR_GZIP,
            Compression::DEFAULT_GZIP,
        ),
        (
            media_type::LAYER_NONDISTRIBUTABLE_TAR_ZSTD,
            Compression::DEFAULT_ZSTD,
        ),
        (media_type::LAYER_NONDISTRIBUTABLE_TAR, Compression::None),
        (media_type::DOCKER_LAYER_GZIP, Compression::DEFAULT_GZIP),
    ]
    .into_iter()
    .enumerate()
    {
        let mut layer = layer_of(&tree, None, compression);
        layer.media_type = mt;
        let (manifest, _) = store(&layout, &crate::linux_amd64(), vec![layer], None);
        tag(&layout, &manifest.digest, &format!("m{i}"));
        let dest = work.join(format!("dest{i}"));
        unpack(
            &*src(&layout, &format!("m{i}")),
            &dest,
            &UnpackOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{mt}: {e}"));
        assert_eq!(
            std::fs::read_to_string(dest.join("etc/conf.d/a.conf")).expect("read"),
            "a=1\n"
        );
    }
}

#[test]
fn layers_with_whiteouts_give_the_last_tree() {
    let work = scratch("unpack-whiteouts");
    let layout = Layout::init(work.join("layout")).expect("init");
    let one = work.join("one");
    sample_tree(&one);
    std::fs::create_dir_all(one.join("var/cache/deep")).expect("mkdir");
    std::fs::write(one.join("var/cache/deep/x"), "x").expect("write");
    std::fs::write(one.join("var/gone"), "gone").expect("write");
    // Layer two: copy of one with removals, a replaced type and a new file.
    let two = work.join("two");
    sample_tree(&two);
    std::fs::create_dir_all(two.join("var")).expect("mkdir");
    std::fs::write(two.join("var/cache"), "now a file").expect("write");
    std::fs::remove_file(two.join("bin/link")).expect("rm");
    std::fs::create_dir(two.join("bin/link")).expect("dir where the link was");
    std::fs::remove_file(two.join("etc/hostname")).expect("rm");
    std::fs::write(two.join("etc/new"), "new").expect("write");
    // Layer three: removes a whole directory.
    let three = work.join("three");
    sample_tree(&three);
    std::fs::create_dir_all(three.join("var")).expect("mkdir");
    std::fs::write(three.join("var/cache"), "now a file").expect("write");
    std::fs::remove_file(three.join("bin/link")).expect("rm");
    std::fs::create_dir(three.join("bin/link")).expect("dir");
    std::fs::remove_file(three.join("etc/hostname")).expect("rm");
    std::fs::write(three.join("etc/new"), "new").expect("write");
    std::fs::remove_dir_all(three.join("etc/conf.d")).expect("rm");
    for d in [&one, &two, &three] {
        // Same directory times for the comparison.
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let layers = vec![
        layer_of(&one, None, Compression::DEFAULT_GZIP),
        layer_of(&two, Some(&one), Compression::DEFAULT_ZSTD),
        layer_of(&three, Some(&two), Compression::None),
    ];
    let (manifest, _) = store(&layout, &crate::linux_amd64(), layers, None);
    tag(&layout, &manifest.digest, "t");
    let dest = work.join("dest");
    let unpacked = unpack(&*src(&layout, "t"), &dest, &UnpackOptions::default()).expect("unpack");
    assert_eq!(unpacked.layers, 3);
    let mut want = snapshot(&three);
    want.retain(|k, _| !k.is_empty());
    let mut got = snapshot(&dest);
    got.retain(|k, _| !k.is_empty());
    assert_eq!(got, want);
    assert!(!dest.join("var/gone").exists());
    assert!(!dest.join("etc/conf.d").exists());
    assert!(!dest.join("etc/hostname").exists());
    assert!(dest.join("bin/link").is_dir());
    assert_eq!(
        std::fs::read_to_string(dest.join("var/cache")).expect("read"),
        "now a file"
    );
    // Layers fetched ahead by threads are still applied in order: the same tree.
    for prefetch in [1, 2, 8] {
        let ahead = work.join(format!("ahead-{prefetch}"));
        let options = UnpackOptions {
            prefetch,
            ..UnpackOptions::default()
        };
        let unpacked = unpack(&*src(&layout, "t"), &ahead, &options).expect("unpack");
        assert_eq!(unpacked.layers, 3);
        let mut again = snapshot(&ahead);
        again.retain(|k, _| !k.is_empty());
        assert_eq!(again, got, "prefetch {prefetch}");
    }
}

#[test]
fn platform_picks_the_image_of_an_index() {
    let work = scratch("unpack-platform");
    let layout = Layout::init(work.join("layout")).expect("init");
    let manifests = arch_images(&work, &layout, &["amd64", "arm64"]);
    let index = Document::from_value(ImageIndex::new(manifests));
    let m = layout
        .blobs()
        .put_bytes(index.bytes(), Algorithm::Sha256)
        .expect("put index");
    tag(&layout, &m.digest, "multi");
    let e = check_platforms(&work, &layout, &["amd64", "arm64"]);
    assert!(e.to_string().contains("s390x"), "{e}");
}

/// One image per arch in `layout`, each of one layer holding `/arch`: their manifests.
fn arch_images(work: &Path, layout: &Layout, archs: &[&str]) -> Vec<Descriptor> {
    archs
        .iter()
        .map(|arch| {
            let tree = work.join(arch);
            std::fs::create_dir_all(&tree).expect("mkdir");
            std::fs::write(tree.join("arch"), arch).expect("write");
            let (m, _) = store(
                layout,
                &Platform::new("linux", *arch),
                vec![layer_of(&tree, None, Compression::DEFAULT_GZIP)],
                None,
            );
            m
        })
        .collect()
}

/// `multi` of `layout` unpacks to the tree of each arch of `archs` asked for; for
/// linux/s390x it fails, leaving nothing: that error.
fn check_platforms(work: &Path, layout: &Layout, archs: &[&str]) -> UnpackError {
    for arch in archs {
        let dest = work.join(format!("dest-{arch}"));
        let options = UnpackOptions {
            platform: Some(Platform::new("linux", *arch)),
            ..UnpackOptions::default()
        };
        unpack(&*src(layout, "multi"), &dest, &options).expect("unpack");
        assert_eq!(
            std::fs::read_to_string(dest.join("arch")).expect("read"),
            *arch
        );
    }
    let options = UnpackOptions {
        platform: Some(Platform::new("linux", "s390x")),
        ..UnpackOptions::default()
    };
    let dest = work.join("dest-none");
    let e = unpack(&*src(layout, "multi"), &dest, &options).expect_err("no such platform");
    assert!(!dest.exists());
    e
}

fn exec(user: &str) -> ExecConfig {
    let mut volumes = BTreeMap::new();
    volumes.insert("/data".to_owned(), serde_json::json!({}));
    volumes.insert("/empty".to_owned(), serde_json::json!({}));
    ExecConfig {
        user: Some(user.to_owned()),
        env: Some(vec!["PATH=/bin".to_owned(), "GREETING=hello".to_owned()]),
        entrypoint: Some(vec!["/bin/sh".to_owned(), "-c".to_owned()]),
        cmd: Some(vec!["echo hi".to_owned()]),
        working_dir: Some("/home/app".to_owned()),
        volumes: Some(volumes),
        ..ExecConfig::default()
    }
}

fn bundle_image(test: &str, user: &str) -> (PathBuf, Layout) {
    let work = scratch(test);
    let layout = Layout::init(work.join("layout")).expect("init");
    let tree = work.join("tree");
    std::fs::create_dir_all(tree.join("etc")).expect("mkdir");
    std::fs::create_dir_all(tree.join("home/app")).expect("mkdir");
    std::fs::create_dir_all(tree.join("data/sub")).expect("mkdir");
    std::fs::write(tree.join("data/sub/seed"), "seeded").expect("write");
    std::fs::write(
        tree.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/home/app:/bin/sh\n",
    )
    .expect("write");
    std::fs::write(
        tree.join("etc/group"),
        "root:x:0:\napp:x:2345:\nextra:x:3456:app\n",
    )
    .expect("write");
    let (manifest, _) = store(
        &layout,
        &crate::linux_amd64(),
        vec![layer_of(&tree, None, Compression::DEFAULT_GZIP)],
        Some(exec(user)),
    );
    tag(&layout, &manifest.digest, "t");
    (work, layout)
}

#[test]
fn bundle_writes_config_and_rootfs() {
    let (work, layout) = bundle_image("bundle-ok", "app");
    let dir = work.join("bundle");
    let options = BundleDirOptions::default();
    let bundled = bundle(&*src(&layout, "t"), &dir, &options).expect("bundle");
    assert_eq!(bundled.args, ["/bin/sh", "-c", "echo hi"]);
    assert_eq!((bundled.user.uid, bundled.user.gid), (1234, 2345));
    assert_eq!(bundled.user.additional_gids, Some(vec![3456]));
    assert_eq!(
        std::fs::metadata(&dir).expect("stat").mode() & 0o7777,
        0o700,
        "owner only"
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("read"))
            .expect("json");
    let process = &config["process"];
    assert_eq!(
        process["args"],
        serde_json::json!(["/bin/sh", "-c", "echo hi"])
    );
    assert_eq!(process["cwd"], "/home/app");
    assert_eq!(process["terminal"], false);
    assert_eq!(process["user"]["uid"], 1234);
    assert_eq!(process["user"]["gid"], 2345);
    let env: Vec<&str> = process["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(env.contains(&"GREETING=hello"), "{env:?}");
    assert_eq!(config["root"]["path"], "rootfs");
    assert!(dir.join("rootfs/etc/passwd").is_file());
    // Volumes: /data moved to volumes/0 with its content, /empty an empty volumes/1.
    assert_eq!(
        std::fs::read_to_string(dir.join("volumes/0/sub/seed")).expect("seeded"),
        "seeded"
    );
    assert!(dir.join("volumes/1").is_dir());
    assert!(dir.join("rootfs/data").is_dir());
    let mounts = config["mounts"].as_array().expect("mounts");
    assert!(
        mounts
            .iter()
            .any(|m| m["destination"] == "/data" && m["source"] == "volumes/0"),
        "{mounts:?}"
    );
    only(&dir, &["rootfs", "config.json", "volumes"]);
    only(&work, &["bundle", "layout", "tree"]);
    // Again: the bundle exists now.
    let e = bundle(&*src(&layout, "t"), &dir, &options).expect_err("exists");
    assert!(matches!(e, UnpackError::DestinationExists { .. }), "{e}");
    assert!(dir.join("config.json").is_file());
}

#[test]
fn bundle_with_tty_sets_terminal() {
    let (work, layout) = bundle_image("bundle-tty", "0:0");
    let dir = work.join("bundle");
    let options = BundleDirOptions {
        terminal: true,
        ..BundleDirOptions::default()
    };
    let bundled = bundle(&*src(&layout, "t"), &dir, &options).expect("bundle");
    assert_eq!((bundled.user.uid, bundled.user.gid), (0, 0));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("read"))
            .expect("json");
    assert_eq!(config["process"]["terminal"], true);
}

#[test]
fn bundle_with_unknown_user_leaves_nothing() {
    let (work, layout) = bundle_image("bundle-unknown-user", "nobody-here");
    let dir = work.join("bundle");
    let e =
        bundle(&*src(&layout, "t"), &dir, &BundleDirOptions::default()).expect_err("unknown user");
    assert!(e.is_check_failure(), "{e}");
    assert!(e.to_string().contains("nobody-here"), "{e}");
    assert!(!dir.exists());
    only(&work, &["layout", "tree"]);
}

#[test]
fn bundle_with_damaged_layer_leaves_nothing() {
    let (work, layout) = bundle_image("bundle-damaged", "app");
    let image = oci_image::read_image(&*src(&layout, "t"), None).expect("read image");
    let layer = image.layers[0].descriptor.digest.clone();
    let path = layout.blobs().blob_path(&layer);
    let mut bytes = std::fs::read(&path).expect("read");
    let n = bytes.len();
    bytes[n / 3] ^= 0x10;
    std::fs::write(&path, bytes).expect("write");
    let dir = work.join("bundle");
    let e = bundle(&*src(&layout, "t"), &dir, &BundleDirOptions::default()).expect_err("damaged");
    assert!(e.is_check_failure(), "{e}");
    assert!(e.to_string().contains(layer.as_str()), "{e}");
    assert!(!dir.exists());
    only(&work, &["layout", "tree"]);
}

#[test]
fn refused_entry_fails_with_nothing_left() {
    // A hard link to a target that does not exist is refused by the applier.
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(2);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, "ok", &b"ok"[..])
        .expect("append");
    let mut link = tar::Header::new_ustar();
    link.set_size(0);
    link.set_mode(0o644);
    link.set_entry_type(tar::EntryType::Link);
    builder
        .append_link(&mut link, "bad", "missing")
        .expect("append link");
    let tar = builder.into_inner().expect("finish");
    let work = scratch("unpack-refused");
    let layout = Layout::init(work.join("layout")).expect("init");
    let layer = LayerSpec {
        blob: crate::gzip(&tar),
        media_type: media_type::LAYER_TAR_GZIP,
        diff_id: sha256(&tar),
    };
    let (manifest, layers) = store(&layout, &crate::linux_amd64(), vec![layer], None);
    tag(&layout, &manifest.digest, "t");
    let dest = work.join("dest");
    let e = unpack(&*src(&layout, "t"), &dest, &UnpackOptions::default()).expect_err("refused");
    assert!(
        matches!(
            e,
            UnpackError::Layer {
                source: ApplyError::Refused { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_check_failure());
    assert!(e.to_string().contains(layers[0].digest.as_str()), "{e}");
    assert!(!dest.exists());
    only(&work, &["layout"]);
}

#[test]
fn rootless_unpack_keeps_the_owner() {
    let (work, layout, _, _) = sample_image("unpack-rootless", Compression::DEFAULT_GZIP);
    let dest = work.join("dest");
    let options = UnpackOptions {
        rootless: true,
        ..UnpackOptions::default()
    };
    unpack(&*src(&layout, "t"), &dest, &options).expect("unpack");
    let meta = std::fs::metadata(dest.join("etc/conf.d/a.conf")).expect("stat");
    let euid = rustix::process::geteuid().as_raw();
    assert_eq!(meta.uid(), euid, "no chown in rootless mode");
    assert_eq!(
        std::fs::read_to_string(dest.join("etc/conf.d/a.conf")).expect("read"),
        "a=1\n"
    );
}

/// The image of [`bundle_image`] named through every transport that reads: the bare
/// `DIR:REF` shorthand, `oci:`, and `oci-archive:` and `docker-archive:` copies of it
/// (in `work/archives`).
fn every_transport(test: &str) -> (PathBuf, Vec<String>) {
    let (work, layout) = bundle_image(test, "app");
    let dir = layout.root().display().to_string();
    let oci = format!("oci:{dir}:t");
    let archives = work.join("archives");
    std::fs::create_dir(&archives).expect("mkdir");
    let oci_archive = format!("oci-archive:{}:t", archives.join("oci.tar").display());
    let docker_archive = format!(
        "docker-archive:{}:example.com/app:t",
        archives.join("docker.tar").display()
    );
    for destination in [&oci_archive, &docker_archive] {
        oci_image::copy_image(
            &oci,
            destination,
            &OpenOptions::default(),
            &oci_image::CopyOptions::default(),
        )
        .unwrap_or_else(|e| panic!("copy to {destination}: {e}"));
    }
    (
        work,
        vec![format!("{dir}:t"), oci, oci_archive, docker_archive],
    )
}

fn open(image: &str) -> Box<dyn Source> {
    oci_image::open_source(image, &OpenOptions::default())
        .unwrap_or_else(|e| panic!("open {image}: {e}"))
}

#[test]
fn unpack_gives_the_same_tree_from_every_transport() {
    let (work, images) = every_transport("unpack-every-transport");
    let mut trees = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let dest = work.join(format!("dest{i}"));
        let unpacked = unpack(&*open(image), &dest, &UnpackOptions::default())
            .unwrap_or_else(|e| panic!("unpack {image}: {e}"));
        assert_eq!(unpacked.layers, 1, "{image}");
        assert_eq!(
            std::fs::read_to_string(dest.join("data/sub/seed")).expect("read"),
            "seeded",
            "{image}"
        );
        trees.push((image, unpacked.entries, snapshot(&dest)));
    }
    let (_, entries, tree) = &trees[0];
    for (image, e, t) in &trees[1..] {
        assert_eq!(t, tree, "{image} gives the layout's tree");
        assert_eq!(e, entries, "{image}");
    }
    // The archives were read in place: nothing was written beside them.
    only(&work.join("archives"), &["oci.tar", "docker.tar"]);
}

#[test]
fn inspect_gives_the_same_image_from_every_transport() {
    let (_work, images) = every_transport("inspect-every-transport");
    let inspected: Vec<oci_image::Image> = images
        .iter()
        .map(|image| match oci_image::inspect(&*open(image), None) {
            Ok(oci_image::Inspection::Image(i)) => i,
            other => panic!("{image}: {other:?}"),
        })
        .collect();
    let layout = &inspected[0];
    let diff_ids = |i: &oci_image::Image| -> Vec<Option<Digest>> {
        i.layers.iter().map(|l| l.diff_id.clone()).collect()
    };
    for (image, i) in images.iter().zip(&inspected).skip(1) {
        assert_eq!(i.config_bytes, layout.config_bytes, "{image}: same config");
        assert_eq!(diff_ids(i), diff_ids(layout), "{image}: same diffIDs");
        assert_eq!(
            i.config.as_ref().expect("config").config,
            layout.config.as_ref().expect("config").config,
            "{image}"
        );
    }
    // oci: and oci-archive: hold the very same manifest; docker-archive: a Docker one.
    assert_eq!(inspected[1].manifest_bytes, layout.manifest_bytes);
    assert_eq!(inspected[2].manifest_bytes, layout.manifest_bytes);
    assert_eq!(inspected[2].descriptor.digest, layout.descriptor.digest);
    assert_eq!(
        inspected[3].manifest.kind().media_type(),
        media_type::DOCKER_MANIFEST
    );
}

#[test]
fn bundle_is_the_same_from_every_transport() {
    let (work, images) = every_transport("bundle-every-transport");
    let mut made = Vec::new();
    for (i, image) in images.iter().enumerate() {
        let dir = work.join(format!("bundle{i}"));
        let bundled = bundle(&*open(image), &dir, &BundleDirOptions::default())
            .unwrap_or_else(|e| panic!("bundle {image}: {e}"));
        assert_eq!(
            (bundled.user.uid, bundled.user.gid),
            (1234, 2345),
            "{image}"
        );
        made.push((
            image,
            std::fs::read(dir.join("config.json")).expect("read config.json"),
            snapshot(&dir),
        ));
    }
    let (_, config, tree) = &made[0];
    for (image, c, t) in &made[1..] {
        assert_eq!(c, config, "{image}: same config.json");
        assert_eq!(t, tree, "{image}: same bundle tree");
    }
}

#[test]
fn damaged_archive_layer_fails_with_nothing_left() {
    let (work, images) = every_transport("unpack-damaged-archive");
    let layout = oci_image::read_image(&*open(&images[1]), None).expect("read image");
    let layer = layout.layers[0].descriptor.clone();
    // Flip a byte of the layer's compressed bytes inside the oci-archive.
    let path = work.join("archives/oci.tar");
    let mut bytes = std::fs::read(&path).expect("read archive");
    let blob = std::fs::read(
        work.join("layout")
            .join(format!("blobs/sha256/{}", layer.digest.encoded())),
    )
    .expect("read blob");
    let at = bytes
        .windows(blob.len())
        .position(|w| w == blob.as_slice())
        .expect("the layer is stored whole in the archive");
    bytes[at + blob.len() / 2] ^= 0x40;
    std::fs::write(&path, bytes).expect("write archive");
    let dest = work.join("dest");
    let e =
        unpack(&*open(&images[2]), &dest, &UnpackOptions::default()).expect_err("damaged layer");
    assert!(e.is_check_failure(), "{e}");
    assert!(e.to_string().contains(layer.digest.as_str()), "{e}");
    assert!(!dest.exists());
    only(&work, &["archives", "layout", "tree"]);
}

#[test]
fn platform_picks_among_entries_sharing_a_name() {
    // One tag, one index.json entry per platform, as containers/image writes a layout.
    let work = scratch("unpack-candidates");
    let layout = Layout::init(work.join("layout")).expect("init");
    for m in arch_images(&work, &layout, &["amd64", "arm64"]) {
        crate::add_entry(&layout, m, Some("multi"));
    }
    let e = check_platforms(&work, &layout, &["arm64", "amd64"]);
    assert!(
        matches!(e, UnpackError::Image(ImageError::NoPlatform { .. })),
        "{e:?}"
    );
    assert!(!e.is_check_failure());
    assert!(e.to_string().contains("s390x"), "{e}");
}
