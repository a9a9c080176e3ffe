//! Rules of the image-spec checklist (REQUIREMENTS.md) that no other test checks: each
//! test names the rule ids it covers in its doc comment; `conformance/rules.tsv` maps
//! the rules to these tests.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_image::{
    BuildOptions, BundleDirOptions, CopyOptions, DiscoverSource, Endpoint, GcOptions, ImageName,
    Inspection, Layout, LayoutSource, Reference, UnpackOptions, build, bundle, copy,
};
use oci_layer::Compression;
use oci_naming::LocalConfig;
use oci_registry::discovery::{Discoverer, Limits};
use oci_registry::http::{Client, ClientOptions};
use oci_spec_types::annotations::{BASE_DIGEST, BASE_NAME, REF_NAME};
use oci_spec_types::{
    Algorithm, Descriptor, Digest, Document, ImageConfig, ImageIndex, ImageManifest, media_type,
};
use oci_test_support::http::{Reply, Server};
use serde_json::{Value, json};

use crate::{LayerSpec, add_entry, linux_amd64, new_layout, put_image, scratch, sha256};

fn tag(name: &str) -> Reference {
    Reference::Tag(name.to_owned())
}

fn open(layout: &Layout, name: &str) -> LayoutSource {
    let name = ImageName {
        dir: layout.root().to_path_buf(),
        reference: Some(tag(name)),
    };
    LayoutSource::open(&name, None).expect("open source")
}

fn oci(dir: &Path, name: &str) -> Endpoint {
    Endpoint::parse(&format!("oci:{}:{name}", dir.display())).expect("endpoint")
}

fn put(layout: &Layout, bytes: &[u8], media_type: &str) -> Descriptor {
    let m = layout
        .blobs()
        .put_bytes(bytes, Algorithm::Sha256)
        .expect("put blob");
    Descriptor::new(media_type, m.digest, m.size)
}

fn put_manifest(layout: &Layout, manifest: &ImageManifest) -> Descriptor {
    let bytes = serde_json::to_vec(manifest).expect("manifest json");
    let mut d = put(layout, &bytes, media_type::IMAGE_MANIFEST);
    d.platform = Some(linux_amd64());
    d
}

fn has_blob(layout: &Layout, digest: &Digest) -> bool {
    matches!(layout.blobs().stat(digest), Ok(Some(_)))
}

fn stored(layout: &Layout, digest: &Digest) -> Vec<u8> {
    layout
        .blobs()
        .read_verified(digest, None)
        .expect("read blob")
        .expect("blob present")
}

fn manifest_of(layout: &Layout, name: &str) -> (Descriptor, ImageManifest) {
    let descriptor = layout.resolve(Some(&tag(name)), None).expect("resolve");
    let manifest = serde_json::from_slice(&layout.read_blob(&descriptor).expect("read manifest"))
        .expect("manifest json");
    (descriptor, manifest)
}

// ---------------------------------------------------------------------------------------
// Manifests, configs, indexes (M8, M10, I1, I8, K1).

/// M8 (and M9): a config of an unknown media type whose bytes are not JSON is never
/// parsed: copy (also when asked to recompress), fsck and inspect treat it as opaque
/// bytes and keep them exactly.
#[test]
fn copy_keeps_an_unknown_config_media_type_as_opaque_bytes() {
    let src = new_layout("rules-m8");
    let config_bytes: &[u8] = b"\x00\xff{ not json at all";
    let config = put(
        &src,
        config_bytes,
        "application/vnd.example.thing.config.v1+bin",
    );
    let layer = LayerSpec::gzip(&[("a.txt", b"payload")]);
    let layer = put(&src, &layer.blob, layer.media_type);
    let manifest = put_manifest(
        &src,
        &ImageManifest::new(config.clone(), vec![layer.clone()]),
    );
    add_entry(&src, manifest.clone(), Some("t"));

    let report = src.fsck();
    assert!(report.is_ok(), "fsck parsed the opaque config: {report:?}");
    match src.inspect(Some(&tag("t")), None).expect("inspect") {
        Inspection::Image(image) => {
            assert_eq!(image.config_bytes, config_bytes);
            assert!(image.config.is_none(), "an unknown config is not parsed");
            assert_eq!(image.layers.len(), 1);
            assert_eq!(image.layers[0].diff_id, None);
        }
        other => panic!("expected an image, got {other:?}"),
    }
    for (i, compress) in [None, Some(Compression::Zstd { level: 3 })]
        .into_iter()
        .enumerate()
    {
        let dest = scratch(&format!("rules-m8-dest{i}")).join("layout");
        let options = CopyOptions {
            compress,
            ..CopyOptions::default()
        };
        let copied = copy(&open(&src, "t"), &oci(&dest, "t"), &options).expect("copy");
        assert_eq!(
            copied.digest, manifest.digest,
            "manifest kept byte for byte"
        );
        let dest = Layout::open(&dest).expect("open");
        assert_eq!(stored(&dest, &config.digest), config_bytes);
        assert_eq!(stored(&dest, &layer.digest), stored(&src, &layer.digest));
        let report = dest.fsck();
        assert!(report.is_ok(), "{report:?}");
    }
}

/// M10, I1, I8: an image with the OCI config media type, reached through an index whose
/// entries are image manifests, is processed whole: inspect parses the config, copy
/// takes the index and the image, unpack gives the files.
#[test]
fn an_index_of_image_manifests_with_oci_configs_is_processed() {
    let src = new_layout("rules-i8");
    let amd = put_image(
        &src,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("arch", b"amd64")])],
    );
    let arm_platform = oci_spec_types::Platform::new("linux", "arm64");
    let arm = put_image(
        &src,
        &arm_platform,
        vec![LayerSpec::gzip(&[("arch", b"arm64")])],
    );
    assert_eq!(amd.config.media_type.as_str(), media_type::IMAGE_CONFIG);
    let index = Document::from_value(ImageIndex::new(vec![
        amd.manifest.clone(),
        arm.manifest.clone(),
    ]));
    let index = put(&src, index.bytes(), media_type::IMAGE_INDEX);
    add_entry(&src, index.clone(), Some("multi"));

    match src.inspect(Some(&tag("multi")), None).expect("inspect") {
        Inspection::Index { descriptor, .. } => assert_eq!(descriptor.digest, index.digest),
        other => panic!("expected the index, got {other:?}"),
    }
    match src
        .inspect(Some(&tag("multi")), Some(&arm_platform))
        .expect("inspect")
    {
        Inspection::Image(image) => {
            assert_eq!(image.descriptor.digest, arm.manifest.digest);
            let config = image.config.expect("the OCI config is parsed");
            assert_eq!(config.architecture, "arm64");
            assert_eq!(
                image.layers[0].diff_id,
                Some(config.rootfs.diff_ids[0].clone())
            );
        }
        other => panic!("expected an image, got {other:?}"),
    }
    let dest = scratch("rules-i8-unpack").join("rootfs");
    let options = UnpackOptions {
        platform: Some(arm_platform.clone()),
        ..UnpackOptions::default()
    };
    oci_image::unpack(&*crate::unpack::src(&src, "multi"), &dest, &options).expect("unpack");
    assert_eq!(std::fs::read(dest.join("arch")).expect("read"), b"arm64");

    let dest = scratch("rules-i8-copy").join("layout");
    let all = CopyOptions {
        platforms: oci_image::Platforms::All,
        ..CopyOptions::default()
    };
    let copied = copy(&open(&src, "multi"), &oci(&dest, "m"), &all).expect("copy");
    assert_eq!(copied.digest, index.digest);
    let dest = Layout::open(&dest).expect("open");
    for d in [&amd.manifest, &arm.manifest, &amd.config, &arm.layers[0]] {
        assert!(has_blob(&dest, &d.digest), "{} not copied", d.digest);
    }
    assert!(dest.fsck().is_ok());
}

// ---------------------------------------------------------------------------------------
// Layouts (L7, L9, L10).

/// L7: unreferenced blobs may be in a layout (fsck passes, gc alone removes them), and a
/// layer with `urls` may be missing: fsck warns without failing and copy leaves it out.
#[test]
fn unreferenced_blobs_and_missing_foreign_layers_are_allowed() {
    let src = new_layout("rules-l7");
    let stray = put(&src, b"nobody references me", "application/octet-stream");
    let present = LayerSpec::gzip(&[("a", b"present")]);
    let foreign = LayerSpec::gzip(&[("b", b"elsewhere")]);
    let present_d = put(&src, &present.blob, present.media_type);
    let mut foreign_d = Descriptor::new(
        foreign.media_type,
        sha256(&foreign.blob),
        foreign.blob.len() as u64,
    );
    foreign_d.urls = Some(vec!["https://example.com/layers/b.tar.gz".to_owned()]);
    let config = Document::from_value(ImageConfig::new(
        &linux_amd64(),
        vec![present.diff_id, foreign.diff_id],
    ));
    let config = put(&src, config.bytes(), media_type::IMAGE_CONFIG);
    let manifest = put_manifest(
        &src,
        &ImageManifest::new(config, vec![present_d, foreign_d.clone()]),
    );
    add_entry(&src, manifest.clone(), Some("t"));

    let report = src.fsck();
    assert!(report.is_ok(), "{report:?}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.digest.as_ref() == Some(&foreign_d.digest)),
        "the missing foreign layer is a warning: {report:?}"
    );
    assert!(has_blob(&src, &stray.digest), "fsck removes nothing");

    let dest = scratch("rules-l7-dest").join("layout");
    let copied = copy(&open(&src, "t"), &oci(&dest, "t"), &CopyOptions::default()).expect("copy");
    assert_eq!(copied.digest, manifest.digest);
    let dest = Layout::open(&dest).expect("open");
    assert!(!has_blob(&dest, &foreign_d.digest));
    assert!(dest.fsck().is_ok());

    let options = GcOptions {
        grace: Duration::ZERO,
    };
    src.gc(&options).expect("gc");
    assert!(
        !has_blob(&src, &stray.digest),
        "gc removes the unreferenced blob"
    );
    assert!(has_blob(&src, &manifest.digest));
}

/// L9: a ref.name annotation on an entry of a nested index is not a tag of the layout;
/// only index.json's entries name images.
#[test]
fn a_ref_name_inside_a_nested_index_is_not_a_tag() {
    let src = new_layout("rules-l9");
    let put_ = put_image(&src, &linux_amd64(), vec![LayerSpec::gzip(&[("a", b"a")])]);
    let mut inner = put_.manifest.clone();
    inner
        .annotations
        .get_or_insert_with(Default::default)
        .insert(REF_NAME.to_owned(), "inner".to_owned());
    let index = Document::from_value(ImageIndex::new(vec![inner]));
    let index = put(&src, index.bytes(), media_type::IMAGE_INDEX);
    add_entry(&src, index, Some("outer"));

    let e = src.resolve(Some(&tag("inner")), None).expect_err("inner");
    assert!(matches!(e, oci_image::ResolveError::NotFound { .. }), "{e}");
    let name = ImageName {
        dir: src.root().to_path_buf(),
        reference: Some(tag("inner")),
    };
    assert!(LayoutSource::open(&name, None).is_err());
    assert!(
        oci_image::open_source(
            &format!("oci:{}:inner", src.root().display()),
            &oci_image::OpenOptions::default()
        )
        .is_err()
    );
    // The outer tag reaches the image.
    match src
        .inspect(Some(&tag("outer")), Some(&linux_amd64()))
        .expect("inspect")
    {
        Inspection::Image(image) => assert_eq!(image.descriptor.digest, put_.manifest.digest),
        other => panic!("expected an image, got {other:?}"),
    }
    // Tagging "inner" adds an index.json entry; nothing else counts as one.
    let tags: Vec<Option<String>> = src
        .index()
        .expect("index")
        .into_value()
        .manifests
        .iter()
        .map(|d| d.ref_name().map(str::to_owned))
        .collect();
    assert_eq!(tags, [Some("outer".to_owned())]);
}

/// L10: unknown files and directories in a layout (beside `index.json`, and a stray
/// file in `blobs/`) make no tool fail: open, fsck, tag, inspect, copy, unpack and gc.
#[test]
fn unknown_files_in_a_layout_make_no_tool_fail() {
    let src = new_layout("rules-l10");
    let put_ = put_image(&src, &linux_amd64(), vec![LayerSpec::gzip(&[("a", b"a")])]);
    add_entry(&src, put_.manifest.clone(), Some("t"));
    let root = src.root().to_path_buf();
    std::fs::write(root.join("README.md"), "notes").expect("write");
    std::fs::create_dir_all(root.join("extra/deeper")).expect("mkdir");
    std::fs::write(root.join("extra/deeper/file.json"), "{}").expect("write");
    std::fs::write(root.join("blobs/NOTES"), "stray").expect("write");

    let layout = Layout::open(&root).expect("open");
    let report = layout.fsck();
    assert!(report.is_ok(), "{report:?}");
    layout
        .tag(Some(&tag("t")), None, "again")
        .expect("tag beside unknown files");
    assert!(matches!(
        layout.inspect(Some(&tag("again")), None).expect("inspect"),
        Inspection::Image(_)
    ));
    let dest = scratch("rules-l10-copy").join("layout");
    copy(
        &open(&layout, "t"),
        &oci(&dest, "t"),
        &CopyOptions::default(),
    )
    .expect("copy");
    let rootfs = scratch("rules-l10-unpack").join("rootfs");
    oci_image::unpack(
        &*crate::unpack::src(&layout, "t"),
        &rootfs,
        &UnpackOptions::default(),
    )
    .expect("unpack");
    let options = GcOptions {
        grace: Duration::ZERO,
    };
    layout.gc(&options).expect("gc");
    assert!(
        root.join("README.md").is_file(),
        "gc leaves unknown files alone"
    );
    assert!(root.join("extra/deeper/file.json").is_file());
    assert!(layout.fsck().is_ok());
}

// ---------------------------------------------------------------------------------------
// Config (C3) and conversion (V18).

/// C3: the image ID is the SHA-256 of the config's bytes: a docker-archive names the
/// config by it, and copy reports it as the digest written.
#[test]
fn docker_archive_names_the_config_by_its_image_id() {
    let src = new_layout("rules-c3");
    let put_ = put_image(&src, &linux_amd64(), vec![LayerSpec::gzip(&[("a", b"a")])]);
    add_entry(&src, put_.manifest.clone(), Some("t"));
    let config_bytes = stored(&src, &put_.config.digest);
    let image_id = sha256(&config_bytes);
    let file = scratch("rules-c3-dest").join("image.tar");
    let endpoint = Endpoint::parse(&format!(
        "docker-archive:{}:example.com/c3:1",
        file.display()
    ))
    .expect("endpoint");
    let copied = copy(&open(&src, "t"), &endpoint, &CopyOptions::default()).expect("copy");
    assert_eq!(copied.digest, image_id);

    let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let bytes = std::fs::read(&file).expect("read archive");
    let mut archive = tar::Archive::new(&bytes[..]);
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("content");
        entries.insert(path, content);
    }
    let manifest: Value = serde_json::from_slice(&entries["manifest.json"]).expect("manifest.json");
    let config_name = manifest[0]["Config"].as_str().expect("Config");
    assert!(
        config_name.contains(image_id.encoded()),
        "{config_name} is not named by the image ID {image_id}"
    );
    assert_eq!(entries[config_name], config_bytes);
    assert_eq!(sha256(&entries[config_name]), image_id);
}

/// V18: the runtime configuration takes no annotations from the manifest, its index
/// entry or the index; only the config's (labels and implicit ones).
#[test]
fn bundle_takes_no_annotations_from_manifests_or_indexes() {
    let src = new_layout("rules-v18");
    let layer = LayerSpec::gzip(&[("etc/hostname", b"box\n")]);
    let layer_d = put(&src, &layer.blob, layer.media_type);
    let mut config = ImageConfig::new(&linux_amd64(), vec![layer.diff_id]);
    config.config = Some(oci_spec_types::config::ExecConfig {
        cmd: Some(vec!["/bin/true".to_owned()]),
        labels: Some([("com.example.label".to_owned(), "l".to_owned())].into()),
        ..Default::default()
    });
    let config = put(
        &src,
        Document::from_value(config).bytes(),
        media_type::IMAGE_CONFIG,
    );
    let mut manifest = ImageManifest::new(config, vec![layer_d]);
    manifest.annotations = Some(
        [
            ("com.example.manifest".to_owned(), "m".to_owned()),
            ("org.opencontainers.image.os".to_owned(), "plan9".to_owned()),
        ]
        .into(),
    );
    let mut entry = put_manifest(&src, &manifest);
    entry.annotations = Some(
        [
            ("com.example.descriptor".to_owned(), "d".to_owned()),
            (
                "org.opencontainers.image.author".to_owned(),
                "mallory".to_owned(),
            ),
        ]
        .into(),
    );
    let mut index = ImageIndex::new(vec![entry]);
    index.annotations = Some([("com.example.index".to_owned(), "i".to_owned())].into());
    let index = put(
        &src,
        Document::from_value(index).bytes(),
        media_type::IMAGE_INDEX,
    );
    add_entry(&src, index, Some("t"));

    let dir = scratch("rules-v18-bundle").join("bundle");
    let options = BundleDirOptions {
        unpack: UnpackOptions {
            platform: Some(linux_amd64()),
            ..UnpackOptions::default()
        },
        ..BundleDirOptions::default()
    };
    bundle(&*crate::unpack::src(&src, "t"), &dir, &options).expect("bundle");
    let spec: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("read"))
            .expect("config.json");
    let annotations = spec["annotations"].as_object().expect("annotations");
    assert_eq!(annotations["com.example.label"], "l");
    assert_eq!(annotations["org.opencontainers.image.os"], "linux");
    for key in [
        "com.example.manifest",
        "com.example.descriptor",
        "com.example.index",
        "org.opencontainers.image.author",
    ] {
        assert!(
            !annotations.contains_key(key),
            "{key} taken: {annotations:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Non-distributable layers (Y19, Y21, Y22).

/// Y19: build creates only the distributable layer media types, whatever the
/// compression, with or without a base.
#[test]
fn build_creates_no_non_distributable_layers() {
    let work = scratch("rules-y19");
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
    std::fs::write(rootfs.join("etc/hostname"), "box\n").expect("write");
    let dir = work.join("layout");
    let compressions = [
        Compression::None,
        Compression::DEFAULT_GZIP,
        Compression::Zstd { level: 3 },
    ];
    for (i, compression) in compressions.into_iter().enumerate() {
        let base = (i > 0).then(|| {
            ImageName::parse(&format!("{}:c{}", dir.display(), i - 1)).expect("base name")
        });
        std::fs::write(rootfs.join(format!("file{i}")), "x").expect("write");
        let options = BuildOptions {
            compression,
            base,
            source_date_epoch: Some(1_700_000_000),
            ..BuildOptions::new(&rootfs)
        };
        let built = build(&dir, &format!("c{i}"), &options).expect("build");
        for layer in &built.image.layers {
            assert!(
                [
                    media_type::LAYER_TAR,
                    media_type::LAYER_TAR_GZIP,
                    media_type::LAYER_TAR_ZSTD
                ]
                .contains(&layer.media_type.as_str()),
                "{}",
                layer.media_type
            );
            assert!(!layer.media_type.is_nondistributable_layer());
            assert!(layer.urls.is_none(), "no urls on a built layer");
        }
    }
}

/// Y21, Y22: copy copies every layer it can read, whatever its media type: a
/// non-distributable one, and a layer with `urls` (which does not make it
/// non-distributable), each kept byte for byte, also when other layers are recompressed.
#[test]
fn copy_copies_non_distributable_layers_and_layers_with_urls() {
    let src = new_layout("rules-y21");
    let plain = LayerSpec::gzip(&[("a", b"ordinary")]);
    let nondist = LayerSpec::gzip(&[("b", b"non-distributable")]);
    let with_urls = LayerSpec::gzip(&[("c", b"with urls")]);
    let nondist_type = media_type::LAYER_NONDISTRIBUTABLE_TAR_GZIP;
    let plain_d = put(&src, &plain.blob, plain.media_type);
    let nondist_d = put(&src, &nondist.blob, nondist_type);
    let mut urls_d = put(&src, &with_urls.blob, with_urls.media_type);
    urls_d.urls = Some(vec!["https://example.com/c.tar.gz".to_owned()]);
    let config = Document::from_value(ImageConfig::new(
        &linux_amd64(),
        vec![plain.diff_id, nondist.diff_id, with_urls.diff_id],
    ));
    let config = put(&src, config.bytes(), media_type::IMAGE_CONFIG);
    let manifest = put_manifest(
        &src,
        &ImageManifest::new(config, vec![plain_d, nondist_d.clone(), urls_d.clone()]),
    );
    add_entry(&src, manifest.clone(), Some("t"));

    for (i, compress) in [None, Some(Compression::Zstd { level: 3 })]
        .into_iter()
        .enumerate()
    {
        let dest_dir = scratch(&format!("rules-y21-dest{i}")).join("layout");
        let options = CopyOptions {
            compress,
            ..CopyOptions::default()
        };
        let copied = copy(&open(&src, "t"), &oci(&dest_dir, "t"), &options).expect("copy");
        let dest = Layout::open(&dest_dir).expect("open");
        for d in [&nondist_d, &urls_d] {
            assert_eq!(
                stored(&dest, &d.digest),
                stored(&src, &d.digest),
                "layer {} copied as is",
                d.media_type
            );
        }
        let (_, written) = manifest_of(&dest, "t");
        assert_eq!(written.layers[1], nondist_d);
        assert_eq!(written.layers[2], urls_d);
        if compress.is_none() {
            assert_eq!(copied.digest, manifest.digest);
        } else {
            assert_eq!(
                written.layers[0].media_type.as_str(),
                media_type::LAYER_TAR_ZSTD
            );
        }
        let report = dest.fsck();
        assert!(report.is_ok(), "{report:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Base-image annotations (A11).

/// A11: `ocimg build --base` names the immediate base by the digest of its manifest (not
/// a base of that base), and writes no `base.name`: a layout path is not a fully
/// qualified distribution reference.
#[test]
fn build_names_the_immediate_base_by_its_manifest_digest() {
    let work = scratch("rules-a11");
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(&rootfs).expect("mkdir");
    let dir = work.join("layout");
    let mut previous: Option<Descriptor> = None;
    for name in ["a", "b", "c"] {
        std::fs::write(rootfs.join(name), name).expect("write");
        let base = previous.as_ref().map(|_| {
            let last = match name {
                "b" => "a",
                _ => "b",
            };
            ImageName::parse(&format!("{}:{last}", dir.display())).expect("base name")
        });
        let options = BuildOptions {
            base,
            ..BuildOptions::new(&rootfs)
        };
        build(&dir, name, &options).expect("build");
        let layout = Layout::open(&dir).expect("open");
        let (descriptor, manifest) = manifest_of(&layout, name);
        let annotations = manifest.annotations.clone().unwrap_or_default();
        match &previous {
            None => assert!(!annotations.contains_key(BASE_DIGEST), "{annotations:?}"),
            Some(base) => assert_eq!(
                annotations.get(BASE_DIGEST),
                Some(&base.digest.to_string()),
                "{name}: base.digest names the immediate base"
            ),
        }
        assert!(!annotations.contains_key(BASE_NAME), "{annotations:?}");
        previous = Some(descriptor);
    }
}

/// A11: a base whose manifest carries a `base.name` (naming its own base) must not pass
/// it on beside the new `base.digest`, which names another manifest.
#[test]
fn build_does_not_pass_on_the_base_images_own_base_name() {
    let work = scratch("rules-a11-inherited");
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(&rootfs).expect("mkdir");
    std::fs::write(rootfs.join("f"), "f").expect("write");
    let layout = Layout::init(work.join("layout")).expect("init");
    let put_ = put_image(
        &layout,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("f", b"f")])],
    );
    let mut manifest: ImageManifest =
        serde_json::from_slice(&stored(&layout, &put_.manifest.digest)).expect("manifest");
    manifest.annotations = Some(
        [
            (
                BASE_NAME.to_owned(),
                "docker.io/library/debian:12".to_owned(),
            ),
            (
                BASE_DIGEST.to_owned(),
                format!("sha256:{}", "ab".repeat(32)),
            ),
        ]
        .into(),
    );
    let base = put_manifest(&layout, &manifest);
    add_entry(&layout, base.clone(), Some("base"));
    let options = BuildOptions {
        base: Some(ImageName::parse(&format!("{}:base", layout.root().display())).expect("name")),
        ..BuildOptions::new(&rootfs)
    };
    build(layout.root(), "next", &options).expect("build");
    let (_, next) = manifest_of(&layout, "next");
    let annotations = next.annotations.unwrap_or_default();
    assert_eq!(annotations.get(BASE_DIGEST), Some(&base.digest.to_string()));
    assert!(
        !annotations.contains_key(BASE_NAME),
        "base.name names the base's base while base.digest names the base: {annotations:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Media types returned by a server (T2, T3).

/// A CAS server on 127.0.0.1 that answers each blob with the `Content-Type` `types` gives
/// for its digest (discovery and index requests get JSON).
type CasServer = Server;

type Answer = (Vec<u8>, String);

fn start_server(answers: BTreeMap<String, Answer>) -> CasServer {
    Server::start(
        move |host, target| match answers.get(&format!("{host}{target}")) {
            Some((body, content_type)) => Reply::status(200)
                .header("Content-Type", content_type)
                .body(body.clone()),
            None => Reply::not_found(),
        },
    )
}

fn cas_path(digest: &Digest) -> String {
    format!(
        "cas.example.test/blobs/{}/{}",
        digest.algorithm_name(),
        digest.encoded()
    )
}

fn discoverer(addr: SocketAddr) -> Discoverer {
    let options = ClientOptions {
        insecure: true,
        connect_to: ["example.test", "cas.example.test"]
            .iter()
            .map(|h| ((*h).to_owned(), addr))
            .collect(),
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(3),
        resolve_timeout: Duration::from_secs(2),
        max_redirects: 3,
    };
    Discoverer::new(
        Client::new(options),
        LocalConfig::default(),
        Limits::default(),
    )
}

/// Publishes the image `put_` of `layout` through discovery; `content_type` gives each
/// blob's `Content-Type` from its descriptor; `tamper` may change a blob's bytes.
fn publish(
    layout: &Layout,
    put_: &crate::Put,
    content_type: impl Fn(&Descriptor) -> String,
    tamper: impl Fn(&Digest, Vec<u8>) -> Vec<u8>,
) -> CasServer {
    let mut answers = BTreeMap::new();
    let mut entry = serde_json::to_value(&put_.manifest).expect("descriptor json");
    entry["annotations"] = json!({ (REF_NAME): "v1" });
    let index =
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [entry]})).expect("index json");
    let engines = serde_json::to_vec(&json!({
        "refEngines": [{"protocol": "oci-index-template-v1", "uri": "http://{host}/ref/{+path}"}],
        "casEngines": [{"protocol": "oci-cas-template-v1",
                        "uri": "http://cas.example.test/blobs/{algorithm}/{encoded}"}],
    }))
    .expect("engines json");
    answers.insert(
        "example.test/.well-known/oci-host-ref-engines".to_owned(),
        (engines, "application/json".to_owned()),
    );
    answers.insert(
        "example.test/ref/app".to_owned(),
        (index, media_type::IMAGE_INDEX.to_owned()),
    );
    for d in std::iter::once(&put_.manifest)
        .chain(std::iter::once(&put_.config))
        .chain(&put_.layers)
    {
        let bytes = tamper(&d.digest, stored(layout, &d.digest));
        answers.insert(cas_path(&d.digest), (bytes, content_type(d)));
    }
    start_server(answers)
}

fn discover_image(test: &str) -> (Layout, crate::Put) {
    let layout = new_layout(test);
    let put_ = put_image(
        &layout,
        &linux_amd64(),
        vec![
            LayerSpec::gzip(&[("a", b"first")]),
            LayerSpec::zstd(&[("b", b"second")]),
        ],
    );
    (layout, put_)
}

fn copy_from(server: &CasServer, test: &str) -> Result<(Layout, oci_image::Copied), String> {
    let source = DiscoverSource::open("example.test/app#v1", discoverer(server.addr()), None)
        .map_err(|e| e.to_string())?;
    let dest: PathBuf = scratch(test).join("layout");
    let copied =
        copy(&source, &oci(&dest, "t"), &CopyOptions::default()).map_err(|e| e.to_string())?;
    Ok((Layout::open(&dest).expect("open"), copied))
}

/// T2: a CAS engine that returns each blob with the media type its descriptor expects:
/// that type is respected (the manifest is read as a manifest, layers as layers).
#[test]
fn discover_respects_a_returned_media_type_that_matches_the_expected_one() {
    let (src, put_) = discover_image("rules-t2");
    let server = publish(&src, &put_, |d| d.media_type.to_string(), |_, b| b);
    let (dest, copied) = copy_from(&server, "rules-t2-dest").expect("copy");
    assert_eq!(copied.digest, put_.manifest.digest);
    let (entry, manifest) = manifest_of(&dest, "t");
    assert_eq!(entry.media_type.as_str(), media_type::IMAGE_MANIFEST);
    assert_eq!(manifest.layers, put_.layers);
    assert!(dest.fsck().is_ok());
}

/// T3: returned media types that differ from the expected ones (the manifest served as
/// an index, the config as a layer, layers as `application/octet-stream`): the blobs
/// match their digests, so the expected types are used; a blob that does not match its
/// digest fails the copy, naming it, and nothing is tagged.
#[test]
fn discover_uses_the_expected_media_type_when_the_returned_one_differs() {
    let (src, put_) = discover_image("rules-t3");
    let wrong = |d: &Descriptor| match d.media_type.as_str() {
        media_type::IMAGE_MANIFEST => media_type::IMAGE_INDEX.to_owned(),
        media_type::IMAGE_CONFIG => media_type::LAYER_TAR_GZIP.to_owned(),
        _ => "application/octet-stream".to_owned(),
    };
    let server = publish(&src, &put_, wrong, |_, b| b);
    let (dest, copied) = copy_from(&server, "rules-t3-dest").expect("copy");
    assert_eq!(copied.digest, put_.manifest.digest);
    let (entry, manifest) = manifest_of(&dest, "t");
    assert_eq!(entry.media_type.as_str(), media_type::IMAGE_MANIFEST);
    assert_eq!(manifest.config, put_.config);
    assert_eq!(manifest.layers, put_.layers);
    assert!(dest.fsck().is_ok());
    drop(server);

    // The same mismatch with a blob that does not match its digest: an error.
    let bad = put_.layers[1].digest.clone();
    let server = publish(&src, &put_, wrong, move |d, mut b| {
        if *d == bad {
            let last = b.len() - 1;
            b[last] ^= 0xff;
        }
        b
    });
    let e = copy_from(&server, "rules-t3-bad").expect_err("a damaged blob");
    assert!(e.contains(put_.layers[1].digest.as_str()), "{e}");
    let dest = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("oci-image")
        .join("rules-t3-bad")
        .join("layout");
    if let Ok(layout) = Layout::open(&dest) {
        assert!(layout.index().expect("index").value().manifests.is_empty());
    }
}
