//! Copying images: oci to oci (skipping what is there), recompression, format
//! conversion, platform choice, oci-archive round trips (and concurrent writers), damaged
//! and missing blobs, re-tagging; opening every transport by name, layout referrers.

use std::io::Read as _;
use std::path::Path;

use oci_image::{
    BlobOpenError, CopyError, CopyOptions, Endpoint, Format, ImageError, ImageName, Layout,
    LayoutSource, OciArchiveSource, Platforms, Reference, Source, copy,
};
use oci_layer::Compression;
use oci_spec_types::document::AnyManifest;
use oci_spec_types::{
    Descriptor, Digest, Document, ImageConfig, ImageIndex, ImageManifest, Platform, media_type,
};

use crate::{LayerSpec, Put, add_entry, linux_amd64, new_layout, put_image, scratch, sha256};

/// An error and its causes, as `{:#}` of anyhow prints them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

fn two_layers() -> Vec<LayerSpec> {
    vec![
        LayerSpec::gzip(&[("a.txt", b"first layer"), ("dir/b", b"bbb")]),
        LayerSpec::gzip(&[("c.txt", &[7u8; 100_000][..])]),
    ]
}

/// A layout with one gzip image tagged `t`.
fn source_layout(test: &str) -> (Layout, Put) {
    let layout = new_layout(test);
    let put = put_image(&layout, &linux_amd64(), two_layers());
    add_entry(&layout, put.manifest.clone(), Some("t"));
    (layout, put)
}

fn open(layout: &Layout, tag: &str) -> LayoutSource {
    let name = ImageName {
        dir: layout.root().to_path_buf(),
        reference: Some(Reference::Tag(tag.to_owned())),
    };
    LayoutSource::open(&name, None).expect("open source")
}

fn oci(dir: &Path, tag: &str) -> Endpoint {
    Endpoint::parse(&format!("oci:{}:{tag}", dir.display())).expect("endpoint")
}

fn read_manifest(layout: &Layout, descriptor: &Descriptor) -> AnyManifest {
    layout.read_manifest(descriptor).expect("read manifest").1
}

fn entry(layout: &Layout, tag: &str) -> Descriptor {
    let index = layout.index().expect("index").into_value();
    let found: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| d.ref_name() == Some(tag))
        .collect();
    assert_eq!(found.len(), 1, "exactly one entry tagged {tag}: {found:?}");
    found[0].clone()
}

fn assert_fsck_ok(layout: &Layout) {
    let report = layout.fsck();
    assert!(report.is_ok(), "fsck: {report:?}");
}

/// The uncompressed bytes of a layer blob.
fn uncompressed(layout: &Layout, layer: &Descriptor) -> Vec<u8> {
    let blob = layout
        .blobs()
        .read_verified(&layer.digest, Some(layer.size))
        .expect("read layer")
        .expect("layer present");
    match layer.media_type.layer_compression() {
        Some(media_type::Compression::Gzip) => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&blob[..])
                .read_to_end(&mut out)
                .expect("gunzip");
            out
        }
        Some(media_type::Compression::Zstd) => zstd::decode_all(&blob[..]).expect("unzstd"),
        _ => blob,
    }
}

#[test]
fn oci_to_oci_copies_then_skips_everything() {
    let (src, put) = source_layout("copy-oci-oci");
    let dest = scratch("copy-oci-oci-dest").join("layout");
    let source = open(&src, "t");
    let copied = copy(&source, &oci(&dest, "v1"), &CopyOptions::default()).expect("copy");
    assert_eq!(
        copied.digest, put.manifest.digest,
        "the manifest is copied byte for byte"
    );
    assert_eq!((copied.copied, copied.skipped), (4, 0));
    let dest = Layout::open(&dest).expect("destination layout created");
    assert_eq!(entry(&dest, "v1").digest, put.manifest.digest);
    assert_fsck_ok(&dest);

    let again = copy(&source, &oci(dest.root(), "v1"), &CopyOptions::default()).expect("copy");
    assert_eq!((again.copied, again.skipped), (0, 4));
    assert_eq!(again.digest, copied.digest);
    assert_eq!(dest.index().expect("index").value().manifests.len(), 1);
}

#[test]
fn an_untagged_destination_gets_one_entry_without_a_ref_name() {
    let (src, put) = source_layout("copy-untagged");
    let dest = scratch("copy-untagged-dest").join("layout");
    let endpoint = Endpoint::parse(&format!("oci:{}", dest.display())).expect("endpoint");
    for _ in 0..2 {
        copy(&open(&src, "t"), &endpoint, &CopyOptions::default()).expect("copy");
    }
    let index = Layout::open(&dest).expect("open").index().expect("index");
    let entries = &index.value().manifests;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].digest, put.manifest.digest);
    assert_eq!(entries[0].ref_name(), None);
}

#[test]
fn a_destination_tag_is_replaced_not_duplicated() {
    let src = new_layout("copy-retag");
    let one = put_image(&src, &linux_amd64(), vec![LayerSpec::gzip(&[("x", b"1")])]);
    let two = put_image(&src, &linux_amd64(), vec![LayerSpec::gzip(&[("x", b"2")])]);
    add_entry(&src, one.manifest.clone(), Some("one"));
    add_entry(&src, two.manifest.clone(), Some("two"));
    let dest = scratch("copy-retag-dest").join("layout");
    copy(
        &open(&src, "one"),
        &oci(&dest, "t"),
        &CopyOptions::default(),
    )
    .expect("copy one");
    copy(
        &open(&src, "one"),
        &oci(&dest, "keep"),
        &CopyOptions::default(),
    )
    .expect("copy");
    copy(
        &open(&src, "two"),
        &oci(&dest, "t"),
        &CopyOptions::default(),
    )
    .expect("copy two");
    let dest = Layout::open(&dest).expect("open");
    assert_eq!(entry(&dest, "t").digest, two.manifest.digest);
    assert_eq!(entry(&dest, "keep").digest, one.manifest.digest);
    let index = dest.index().expect("index");
    assert_eq!(index.value().manifests.len(), 2);
    // The re-tagged entry kept its place (first).
    assert_eq!(index.value().manifests[0].ref_name(), Some("t"));
}

#[test]
fn recompressing_to_zstd_keeps_diff_ids_and_content() {
    let (src, put) = source_layout("copy-zstd");
    let dest = scratch("copy-zstd-dest").join("layout");
    let options = CopyOptions {
        compress: Some(Compression::DEFAULT_ZSTD),
        ..CopyOptions::default()
    };
    let copied = copy(&open(&src, "t"), &oci(&dest, "z"), &options).expect("copy");
    assert_ne!(copied.digest, put.manifest.digest);
    let dest = Layout::open(&dest).expect("open");
    assert_fsck_ok(&dest);
    let AnyManifest::OciManifest(manifest) = read_manifest(&dest, &entry(&dest, "z")) else {
        panic!("not an OCI manifest");
    };
    assert_eq!(
        manifest.config, put.config,
        "the config is unchanged (same diffIDs)"
    );
    assert_eq!(manifest.layers.len(), put.layers.len());
    for (new, old) in manifest.layers.iter().zip(&put.layers) {
        assert_eq!(new.media_type.as_str(), media_type::LAYER_TAR_ZSTD);
        assert_ne!(new.digest, old.digest);
        assert_eq!(uncompressed(&dest, new), uncompressed(&src, old));
    }
    // Back to gzip: still the same content and diffIDs.
    let back = scratch("copy-zstd-back").join("layout");
    let options = CopyOptions {
        compress: Some(Compression::DEFAULT_GZIP),
        ..CopyOptions::default()
    };
    copy(&open(&dest, "z"), &oci(&back, "g"), &options).expect("copy back");
    let back = Layout::open(&back).expect("open");
    assert_fsck_ok(&back);
    // Already zstd: a zstd copy of the zstd image copies the layers as they are.
    let options = CopyOptions {
        compress: Some(Compression::Zstd { level: 19 }),
        ..CopyOptions::default()
    };
    let same = copy(&open(&dest, "z"), &oci(dest.root(), "z2"), &options).expect("copy");
    assert_eq!(same.digest, copied.digest);
    assert_eq!(same.copied, 0);
}

#[test]
fn a_wrong_diff_id_fails_recompression_and_tags_nothing() {
    let src = new_layout("copy-bad-diffid");
    let mut layer = LayerSpec::gzip(&[("x", b"content")]);
    layer.diff_id = sha256(b"something else");
    let put = put_image(&src, &linux_amd64(), vec![layer]);
    add_entry(&src, put.manifest.clone(), Some("t"));
    let dest = scratch("copy-bad-diffid-dest").join("layout");
    let options = CopyOptions {
        compress: Some(Compression::DEFAULT_ZSTD),
        ..CopyOptions::default()
    };
    let e = copy(&open(&src, "t"), &oci(&dest, "t"), &options).expect_err("diffID mismatch");
    assert!(e.is_check_failure(), "{e}");
    assert_eq!(e.digest(), Some(&put.layers[0].digest), "{e}");
    assert!(chain(&e).contains("diffID"), "{}", chain(&e));
    let dest = Layout::open(&dest).expect("open");
    assert!(dest.index().expect("index").value().manifests.is_empty());
}

#[test]
fn docker_format_and_back_to_oci() {
    let (src, put) = source_layout("copy-docker");
    let dest = scratch("copy-docker-dest").join("layout");
    let docker = CopyOptions {
        format: Some(Format::Docker),
        ..CopyOptions::default()
    };
    let copied = copy(&open(&src, "t"), &oci(&dest, "d"), &docker).expect("copy");
    let dest = Layout::open(&dest).expect("open");
    let entry_d = entry(&dest, "d");
    assert_eq!(entry_d.media_type.as_str(), media_type::DOCKER_MANIFEST);
    assert_eq!(entry_d.digest, copied.digest);
    let AnyManifest::DockerManifest(manifest) = read_manifest(&dest, &entry_d) else {
        panic!("not a docker manifest");
    };
    assert_eq!(manifest.media_type.as_str(), media_type::DOCKER_MANIFEST);
    assert_eq!(
        manifest.config.media_type.as_str(),
        media_type::DOCKER_CONFIG
    );
    assert_eq!(manifest.config.digest, put.config.digest);
    for (layer, old) in manifest.layers.iter().zip(&put.layers) {
        assert_eq!(layer.media_type.as_str(), media_type::DOCKER_LAYER_GZIP);
        assert_eq!(layer.digest, old.digest, "layer blobs are the same bytes");
    }
    assert_fsck_ok(&dest);

    let back = scratch("copy-docker-back").join("layout");
    let oci_format = CopyOptions {
        format: Some(Format::Oci),
        ..CopyOptions::default()
    };
    let round = copy(&open(&dest, "d"), &oci(&back, "o"), &oci_format).expect("copy back");
    assert_eq!(
        round.digest, put.manifest.digest,
        "the round trip gives the same manifest"
    );
    let back = Layout::open(&back).expect("open");
    assert_eq!(
        entry(&back, "o").media_type.as_str(),
        media_type::IMAGE_MANIFEST
    );
    assert_fsck_ok(&back);
}

#[test]
fn docker_format_refuses_zstd_and_changes_nothing() {
    let src = new_layout("copy-docker-zstd");
    let put = put_image(&src, &linux_amd64(), vec![LayerSpec::zstd(&[("x", b"1")])]);
    add_entry(&src, put.manifest.clone(), Some("t"));
    let (dest, _) = source_layout("copy-docker-zstd-dest");
    let before = std::fs::read(dest.index_path()).expect("read index");

    let docker = CopyOptions {
        format: Some(Format::Docker),
        ..CopyOptions::default()
    };
    let e = copy(&open(&src, "t"), &oci(dest.root(), "t"), &docker).expect_err("zstd");
    assert!(matches!(e, CopyError::ToDocker { .. }), "{e}");
    assert!(e.is_check_failure());
    assert!(chain(&e).contains("layers[0].mediaType"), "{}", chain(&e));

    let zstd_docker = CopyOptions {
        format: Some(Format::Docker),
        compress: Some(Compression::DEFAULT_ZSTD),
        ..CopyOptions::default()
    };
    let e = copy(&open(&src, "t"), &oci(dest.root(), "t"), &zstd_docker).expect_err("zstd");
    assert!(matches!(e, CopyError::ZstdInDocker), "{e}");
    assert_eq!(
        std::fs::read(dest.index_path()).expect("read index"),
        before
    );

    // Recompressed to gzip (or left uncompressed), the docker format can say it.
    for (compression, layer_type) in [
        (Compression::DEFAULT_GZIP, media_type::DOCKER_LAYER_GZIP),
        (Compression::None, oci_image::DOCKER_LAYER_TAR),
    ] {
        let options = CopyOptions {
            format: Some(Format::Docker),
            compress: Some(compression),
            ..CopyOptions::default()
        };
        let copied = copy(&open(&src, "t"), &oci(dest.root(), "g"), &options).expect("copy");
        let AnyManifest::DockerManifest(manifest) = read_manifest(&dest, &entry(&dest, "g")) else {
            panic!("not a docker manifest");
        };
        assert_eq!(entry(&dest, "g").digest, copied.digest);
        assert_eq!(manifest.layers[0].media_type.as_str(), layer_type);
        assert_eq!(manifest.config.digest, put.config.digest);
        // And back to OCI.
        let back = scratch("copy-docker-zstd-back").join("layout");
        let options = CopyOptions {
            format: Some(Format::Oci),
            compress: Some(Compression::DEFAULT_ZSTD),
            ..CopyOptions::default()
        };
        copy(&open(&dest, "g"), &oci(&back, "z"), &options).expect("copy");
        let back = Layout::open(&back).expect("open");
        let AnyManifest::OciManifest(manifest) = read_manifest(&back, &entry(&back, "z")) else {
            panic!("not an OCI manifest");
        };
        assert_eq!(manifest.config, put.config, "{compression:?}");
        assert_eq!(
            manifest.layers[0].media_type.as_str(),
            media_type::LAYER_TAR_ZSTD
        );
        assert_eq!(
            uncompressed(&back, &manifest.layers[0]),
            uncompressed(&src, &put.layers[0])
        );
        assert_fsck_ok(&back);
    }
}

/// A layout with an index of two platforms tagged `multi`.
fn multi_platform(test: &str) -> (Layout, Put, Put, Descriptor) {
    let layout = new_layout(test);
    let amd64 = put_image(
        &layout,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("a", b"amd")])],
    );
    let arm64 = Platform::new("linux", "arm64").with_variant("v8");
    let arm = put_image(&layout, &arm64, vec![LayerSpec::gzip(&[("a", b"arm")])]);
    let index = Document::from_value(ImageIndex::new(vec![
        amd64.manifest.clone(),
        arm.manifest.clone(),
    ]));
    let m = layout
        .blobs()
        .put_bytes(index.bytes(), oci_spec_types::Algorithm::Sha256)
        .expect("put index");
    let descriptor = Descriptor::new(media_type::IMAGE_INDEX, m.digest, m.size);
    add_entry(&layout, descriptor.clone(), Some("multi"));
    (layout, amd64, arm, descriptor)
}

#[test]
fn one_platform_of_an_index_or_all_of_them() {
    let (src, amd64, arm, index) = multi_platform("copy-platforms");
    let dest = scratch("copy-platforms-dest").join("layout");
    let options = CopyOptions {
        platforms: Platforms::One(Some(Platform::new("linux", "arm64"))),
        ..CopyOptions::default()
    };
    let copied = copy(&open(&src, "multi"), &oci(&dest, "arm"), &options).expect("copy");
    assert_eq!(copied.digest, arm.manifest.digest);
    let dest = Layout::open(&dest).expect("open");
    assert_eq!(entry(&dest, "arm").digest, arm.manifest.digest);
    let has = |d: &Digest| dest.blobs().stat(d).expect("stat").is_some();
    assert!(has(&arm.layers[0].digest));
    assert!(
        !has(&amd64.layers[0].digest),
        "only the chosen image is copied"
    );
    assert!(!has(&index.digest));

    let options = CopyOptions {
        platforms: Platforms::One(Some(Platform::new("linux", "s390x"))),
        ..CopyOptions::default()
    };
    let e = copy(&open(&src, "multi"), &oci(dest.root(), "x"), &options).expect_err("none");
    assert!(
        matches!(e, CopyError::Image(ImageError::NoPlatform { .. })),
        "{e}"
    );

    let all = CopyOptions {
        platforms: Platforms::All,
        ..CopyOptions::default()
    };
    let copied = copy(&open(&src, "multi"), &oci(dest.root(), "all"), &all).expect("copy");
    assert_eq!(copied.digest, index.digest);
    assert_eq!(
        entry(&dest, "all").media_type.as_str(),
        media_type::IMAGE_INDEX
    );
    assert!(has(&amd64.layers[0].digest));
    assert_fsck_ok(&dest);

    // All platforms to docker: the index becomes a manifest list of docker manifests.
    let docker = CopyOptions {
        platforms: Platforms::All,
        format: Some(Format::Docker),
        ..CopyOptions::default()
    };
    copy(&open(&src, "multi"), &oci(dest.root(), "list"), &docker).expect("copy");
    let list = entry(&dest, "list");
    assert_eq!(list.media_type.as_str(), media_type::DOCKER_MANIFEST_LIST);
    let AnyManifest::DockerManifestList(list) = read_manifest(&dest, &list) else {
        panic!("not a manifest list");
    };
    for child in &list.manifests {
        assert_eq!(child.media_type.as_str(), media_type::DOCKER_MANIFEST);
        assert!(child.platform.is_some());
    }
    assert_fsck_ok(&dest);
}

#[test]
fn oci_archive_round_trip_and_merge() {
    let (src, put) = source_layout("copy-archive");
    let work = scratch("copy-archive-work");
    let file = work.join("image.tar");
    let archive = |tag: &str| {
        Endpoint::parse(&format!("oci-archive:{}:{tag}", file.display())).expect("endpoint")
    };
    let copied = copy(&open(&src, "t"), &archive("v1"), &CopyOptions::default()).expect("copy");
    assert_eq!(copied.digest, put.manifest.digest);
    let first = std::fs::read(&file).expect("archive written");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o644);

    // Reading it back.
    let reference = Reference::Tag("v1".into());
    let source = OciArchiveSource::open(&file, Some(&reference), None, &work).expect("open");
    assert_eq!(source.root().digest, put.manifest.digest);
    let dest = work.join("layout");
    let back = copy(&source, &oci(&dest, "back"), &CopyOptions::default()).expect("copy");
    assert_eq!(back.digest, put.manifest.digest);
    assert_fsck_ok(&Layout::open(&dest).expect("open"));
    drop(source);

    // A second image into the same archive: the first is kept.
    let other = put_image(
        &src,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("o", b"other")])],
    );
    add_entry(&src, other.manifest.clone(), Some("other"));
    copy(
        &open(&src, "other"),
        &archive("v2"),
        &CopyOptions::default(),
    )
    .expect("copy");
    for (tag, digest) in [("v1", &put.manifest.digest), ("v2", &other.manifest.digest)] {
        let reference = Reference::Tag(tag.into());
        let source = OciArchiveSource::open(&file, Some(&reference), None, &work).expect("open");
        assert_eq!(&source.root().digest, digest);
        assert_eq!(source.index().manifests.len(), 2);
    }
    // Deterministic: the same copy into a fresh file gives the same bytes.
    let file2 = work.join("again.tar");
    let endpoint = Endpoint::parse(&format!("oci-archive:{}:v1", file2.display())).expect("e");
    copy(&open(&src, "t"), &endpoint, &CopyOptions::default()).expect("copy");
    assert_eq!(std::fs::read(&file2).expect("read"), first);
    // Nothing left behind beside the archives.
    let mut names: Vec<String> = std::fs::read_dir(&work)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["again.tar", "image.tar", "layout"]);
}

#[test]
fn a_corrupted_source_blob_fails_naming_it_and_tags_nothing() {
    let (src, put) = source_layout("copy-corrupt");
    let path = src.blobs().blob_path(&put.layers[1].digest);
    let mut bytes = std::fs::read(&path).expect("read layer");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&path, bytes).expect("corrupt layer");
    let dest = new_layout("copy-corrupt-dest");
    let kept = put_image(
        &dest,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("k", b"kept")])],
    );
    add_entry(&dest, kept.manifest, Some("kept"));
    let before = std::fs::read(dest.index_path()).expect("read index");
    for options in [
        CopyOptions::default(),
        CopyOptions {
            compress: Some(Compression::DEFAULT_ZSTD),
            ..CopyOptions::default()
        },
    ] {
        let e = copy(&open(&src, "t"), &oci(dest.root(), "new"), &options).expect_err("damaged");
        assert!(e.is_check_failure(), "{e}");
        assert_eq!(e.digest(), Some(&put.layers[1].digest), "{e}");
        assert!(
            e.to_string().contains(&put.layers[1].digest.to_string()),
            "{e}"
        );
        assert!(
            matches!(e, CopyError::Blob(BlobOpenError::Damaged { .. })),
            "{e:?}"
        );
        assert_eq!(std::fs::read(dest.index_path()).expect("read"), before);
    }
    // Into an archive: it stays as it was, and nothing is left beside it.
    let work = scratch("copy-corrupt-archive");
    let file = work.join("a.tar");
    let archive = |tag: &str| {
        Endpoint::parse(&format!("oci-archive:{}:{tag}", file.display())).expect("endpoint")
    };
    copy(
        &open(&dest, "kept"),
        &archive("kept"),
        &CopyOptions::default(),
    )
    .expect("copy");
    let archived = std::fs::read(&file).expect("read");
    copy(&open(&src, "t"), &archive("new"), &CopyOptions::default()).expect_err("damaged");
    assert_eq!(std::fs::read(&file).expect("read"), archived);
    let names: Vec<_> = std::fs::read_dir(&work)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["a.tar"]);
    // Into a fresh layout: the damaged blob is not published.
    let fresh = scratch("copy-corrupt-fresh").join("layout");
    copy(
        &open(&src, "t"),
        &oci(&fresh, "new"),
        &CopyOptions::default(),
    )
    .expect_err("damaged");
    let fresh = Layout::open(&fresh).expect("open");
    assert!(
        fresh
            .blobs()
            .stat(&put.layers[1].digest)
            .expect("stat")
            .is_none()
    );
    assert!(fresh.index().expect("index").value().manifests.is_empty());
}

#[test]
fn a_missing_source_blob_fails_naming_it() {
    let (src, put) = source_layout("copy-missing");
    std::fs::remove_file(src.blobs().blob_path(&put.layers[0].digest)).expect("remove");
    let dest = scratch("copy-missing-dest").join("layout");
    let e = copy(&open(&src, "t"), &oci(&dest, "t"), &CopyOptions::default()).expect_err("gone");
    assert!(
        matches!(e, CopyError::Blob(BlobOpenError::Missing { .. })),
        "{e:?}"
    );
    assert!(e.is_check_failure());
    assert_eq!(e.digest(), Some(&put.layers[0].digest));
    let dest = Layout::open(&dest).expect("open");
    assert!(dest.index().expect("index").value().manifests.is_empty());
}

#[test]
fn destinations_by_digest_or_discover_are_refused() {
    let (src, put) = source_layout("copy-refusals");
    let dest = scratch("copy-refusals-dest").join("layout");
    let by_digest = Endpoint::parse(&format!("oci:{}:{}", dest.display(), put.manifest.digest))
        .expect("endpoint");
    let e = copy(&open(&src, "t"), &by_digest, &CopyOptions::default()).expect_err("digest");
    assert!(matches!(e, CopyError::DigestDestination { .. }), "{e}");
    let e = copy(
        &open(&src, "t"),
        &Endpoint::Discover("example.com/x".into()),
        &CopyOptions::default(),
    )
    .expect_err("discover");
    assert!(matches!(e, CopyError::DiscoverDestination { .. }), "{e}");
    let e = copy(
        &open(&src, "t"),
        &oci(&dest, "bad tag"),
        &CopyOptions::default(),
    )
    .expect_err("tag");
    assert!(matches!(e, CopyError::InvalidTag { .. }), "{e}");
    assert!(e.is_check_failure());
}

#[test]
fn an_image_config_and_manifest_that_another_tool_wrote_are_kept_byte_for_byte() {
    // A manifest with members in another order and an annotation: copied as is.
    let src = new_layout("copy-bytes");
    let layer = LayerSpec::gzip(&[("x", b"1")]);
    let put = put_image(&src, &linux_amd64(), vec![layer]);
    let config: ImageConfig = serde_json::from_slice(
        &src.blobs()
            .read_verified(&put.config.digest, None)
            .expect("read")
            .expect("config"),
    )
    .expect("config");
    assert_eq!(config.rootfs.diff_ids.len(), 1);
    let mut manifest = ImageManifest::new(put.config.clone(), put.layers.clone());
    manifest.annotations = Some([("k".to_owned(), "v".to_owned())].into());
    let bytes = serde_json::to_vec_pretty(&manifest).expect("serialize");
    let m = src
        .blobs()
        .put_bytes(&bytes, oci_spec_types::Algorithm::Sha256)
        .expect("put");
    add_entry(
        &src,
        Descriptor::new(media_type::IMAGE_MANIFEST, m.digest.clone(), m.size),
        Some("pretty"),
    );
    let dest = scratch("copy-bytes-dest").join("layout");
    let copied = copy(
        &open(&src, "pretty"),
        &oci(&dest, "p"),
        &CopyOptions::default(),
    )
    .expect("copy");
    assert_eq!(copied.digest, m.digest);
    let dest = Layout::open(&dest).expect("open");
    let stored = dest
        .blobs()
        .read_verified(&m.digest, None)
        .expect("read")
        .expect("present");
    assert_eq!(stored, bytes);
}

#[test]
fn nested_indexes_are_followed_up_to_the_bound() {
    let (src, put) = source_layout("copy-nested");
    // Indexes wrapping indexes: depth 3 is copied whole, depth 12 is refused.
    let mut inner = put.manifest.clone();
    let mut by_depth = Vec::new();
    for depth in 1..=12 {
        let index = Document::from_value(ImageIndex::new(vec![inner.clone()]));
        let m = src
            .blobs()
            .put_bytes(index.bytes(), oci_spec_types::Algorithm::Sha256)
            .expect("put index");
        inner = Descriptor::new(media_type::IMAGE_INDEX, m.digest, m.size);
        add_entry(&src, inner.clone(), Some(&format!("depth{depth}")));
        by_depth.push(inner.clone());
    }
    let dest = scratch("copy-nested-dest").join("layout");
    let all = CopyOptions {
        platforms: Platforms::All,
        ..CopyOptions::default()
    };
    let copied = copy(&open(&src, "depth3"), &oci(&dest, "d3"), &all).expect("copy");
    assert_eq!(copied.digest, by_depth[2].digest);
    assert_eq!((copied.copied, copied.skipped), (7, 0));
    // One platform: down to the image.
    let one = copy(
        &open(&src, "depth3"),
        &oci(&dest, "one"),
        &CopyOptions::default(),
    )
    .expect("copy");
    assert_eq!(one.digest, put.manifest.digest);
    for options in [all, CopyOptions::default()] {
        let e = copy(&open(&src, "depth12"), &oci(&dest, "d12"), &options).expect_err("deep");
        assert!(
            matches!(e, CopyError::Image(ImageError::TooDeep { .. })),
            "{e}"
        );
        assert!(e.is_check_failure());
    }
    assert_fsck_ok(&Layout::open(&dest).expect("open"));
}

#[test]
fn a_docker_archive_takes_one_image() {
    let (src, _, _, _) = multi_platform("copy-docker-archive-all");
    let file = scratch("copy-docker-archive-all-dest").join("d.tar");
    let endpoint = Endpoint::parse(&format!("docker-archive:{}:x:1", file.display())).expect("e");
    let all = CopyOptions {
        platforms: Platforms::All,
        ..CopyOptions::default()
    };
    let e = copy(&open(&src, "multi"), &endpoint, &all).expect_err("all platforms");
    assert!(
        matches!(e, CopyError::AllPlatformsToDockerArchive { .. }),
        "{e}"
    );
    assert!(!file.exists());
    let one = CopyOptions {
        platforms: Platforms::One(Some(linux_amd64())),
        ..CopyOptions::default()
    };
    let copied = copy(&open(&src, "multi"), &endpoint, &one).expect("copy");
    assert!(file.exists());
    assert_eq!(
        copied.descriptor.media_type.as_str(),
        media_type::DOCKER_CONFIG
    );
    assert!(copied.descriptor.size > 0);
}

#[test]
fn progress_reports_each_layer_and_its_bytes() {
    use std::sync::{Arc, Mutex};
    let (src, put) = source_layout("copy-progress");
    let seen: Arc<Mutex<Vec<(usize, u64)>>> = Arc::default();
    let starts: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let (s, l) = (Arc::clone(&seen), Arc::clone(&starts));
    let options = CopyOptions {
        progress: oci_image::Progress(Some(Arc::new(move |event: &oci_image::UnpackEvent<'_>| {
            match event {
                oci_image::UnpackEvent::Layer { index, count, .. } => {
                    l.lock().expect("lock").push((*index, *count));
                }
                oci_image::UnpackEvent::Read { index, read, .. } => {
                    s.lock().expect("lock").push((*index, *read));
                }
                _ => {}
            }
        }))),
        ..CopyOptions::default()
    };
    let dest = scratch("copy-progress-dest").join("layout");
    copy(&open(&src, "t"), &oci(&dest, "t"), &options).expect("copy");
    assert_eq!(*starts.lock().expect("lock"), [(0, 2), (1, 2)]);
    let seen = seen.lock().expect("lock");
    for (index, layer) in put.layers.iter().enumerate() {
        let last = seen
            .iter()
            .filter(|(i, _)| *i == index)
            .map(|(_, r)| *r)
            .max();
        assert_eq!(last, Some(layer.size), "layer {index}");
    }
}

#[test]
fn a_gzip_compressed_oci_archive_is_read() {
    let (src, put) = source_layout("copy-archive-gz");
    let work = scratch("copy-archive-gz-work");
    let file = work.join("image.tar");
    let endpoint = Endpoint::parse(&format!("oci-archive:{}:t", file.display())).expect("e");
    copy(&open(&src, "t"), &endpoint, &CopyOptions::default()).expect("copy");
    let gz = work.join("image.tar.gz");
    std::fs::write(&gz, crate::gzip(&std::fs::read(&file).expect("read"))).expect("write");
    let reference = Reference::Tag("t".into());
    let source = OciArchiveSource::open(&gz, Some(&reference), None, &work).expect("open");
    let dest = work.join("layout");
    let copied = copy(&source, &oci(&dest, "t"), &CopyOptions::default()).expect("copy");
    assert_eq!(copied.digest, put.manifest.digest);
    assert_fsck_ok(&Layout::open(&dest).expect("open"));
}

/// Stores `manifest` and returns its descriptor.
fn put_manifest(layout: &Layout, manifest: ImageManifest) -> Descriptor {
    let document = Document::from_value(manifest);
    let m = layout
        .blobs()
        .put_bytes(document.bytes(), oci_spec_types::Algorithm::Sha256)
        .expect("put manifest");
    Descriptor::new(media_type::IMAGE_MANIFEST, m.digest, m.size)
}

/// The blob files of a layout.
fn blob_files(layout: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let Ok(algorithms) = std::fs::read_dir(layout.join("blobs")) else {
        return names;
    };
    for algorithm in algorithms {
        let algorithm = algorithm.expect("entry").path();
        for blob in std::fs::read_dir(&algorithm).expect("read dir") {
            names.push(
                blob.expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    names
}

#[test]
fn concurrent_writers_of_one_oci_archive_lose_no_image() {
    let src = new_layout("copy-archive-race");
    let tags: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
    let mut digests = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        let content = format!("image {i}");
        let put = put_image(
            &src,
            &linux_amd64(),
            vec![LayerSpec::gzip(&[("f", content.as_bytes())])],
        );
        add_entry(&src, put.manifest.clone(), Some(tag));
        digests.push(put.manifest.digest);
    }
    let work = scratch("copy-archive-race-work");
    let file = work.join("shared.tar");
    std::thread::scope(|scope| {
        for tag in &tags {
            let (src, file) = (&src, &file);
            scope.spawn(move || {
                let endpoint = Endpoint::parse(&format!("oci-archive:{}:{tag}", file.display()))
                    .expect("endpoint");
                copy(&open(src, tag), &endpoint, &CopyOptions::default()).expect("copy");
            });
        }
    });
    for (tag, digest) in tags.iter().zip(&digests) {
        let reference = Reference::Tag(tag.clone());
        let source = OciArchiveSource::open(&file, Some(&reference), None, &work).expect("open");
        assert_eq!(&source.root().digest, digest, "{tag} kept");
        assert_eq!(source.index().manifests.len(), tags.len());
    }
    // The lock file is gone with the last writer.
    let names: Vec<_> = std::fs::read_dir(&work)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["shared.tar"]);
}

#[test]
fn all_platforms_checks_every_child_before_copying_any_blob() {
    let layout = new_layout("copy-all-refused");
    let amd64 = put_image(
        &layout,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("a", b"amd")])],
    );
    // The second child carries manifest annotations, which the Docker format cannot say.
    let arm64 = Platform::new("linux", "arm64").with_variant("v8");
    let arm = put_image(&layout, &arm64, vec![LayerSpec::gzip(&[("a", b"arm")])]);
    let (_, parsed) = layout.read_manifest(&arm.manifest).expect("read");
    let AnyManifest::OciManifest(mut manifest) = parsed else {
        panic!("an OCI manifest")
    };
    manifest.annotations = Some([("x".to_owned(), "y".to_owned())].into_iter().collect());
    let mut annotated = put_manifest(&layout, manifest);
    annotated.platform = Some(arm64);
    let index = Document::from_value(ImageIndex::new(vec![amd64.manifest.clone(), annotated]));
    let m = layout
        .blobs()
        .put_bytes(index.bytes(), oci_spec_types::Algorithm::Sha256)
        .expect("put index");
    add_entry(
        &layout,
        Descriptor::new(media_type::IMAGE_INDEX, m.digest, m.size),
        Some("multi"),
    );
    let dest = scratch("copy-all-refused-dest").join("layout");
    let docker = CopyOptions {
        platforms: Platforms::All,
        format: Some(Format::Docker),
        ..CopyOptions::default()
    };
    let e = copy(&open(&layout, "multi"), &oci(&dest, "list"), &docker).expect_err("refused");
    assert!(matches!(e, CopyError::ToDocker { .. }), "{e}");
    assert!(e.is_check_failure());
    assert_eq!(blob_files(&dest), Vec::<String>::new(), "no blob copied");
    // Into OCI it copies.
    let oci_all = CopyOptions {
        platforms: Platforms::All,
        ..CopyOptions::default()
    };
    copy(&open(&layout, "multi"), &oci(&dest, "all"), &oci_all).expect("copy");
    assert_fsck_ok(&Layout::open(&dest).expect("open"));
}

#[test]
fn open_source_and_destination_take_every_transport() {
    let (src, put) = source_layout("copy-open-source");
    let work = scratch("copy-open-source-work");
    let dir = src.root().display().to_string();
    for name in [format!("oci:{dir}:t"), format!("{dir}:t")] {
        let source = oci_image::open_source(&name, &oci_image::OpenOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(source.root().digest, put.manifest.digest, "{name}");
    }
    let archive = work.join("a.tar");
    let docker = work.join("d.tar");
    for destination in [
        format!("oci-archive:{}:v1", archive.display()),
        format!("docker-archive:{}:example.com/x:1", docker.display()),
    ] {
        oci_image::copy_image(
            &format!("oci:{dir}:t"),
            &destination,
            &oci_image::OpenOptions::default(),
            &CopyOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{destination}: {e}"));
    }
    let source = oci_image::open_source(
        &format!("oci-archive:{}:v1", archive.display()),
        &oci_image::OpenOptions::default(),
    )
    .expect("oci-archive");
    assert_eq!(source.root().digest, put.manifest.digest);
    let source = oci_image::open_source(
        &format!("docker-archive:{}", docker.display()),
        &oci_image::OpenOptions::default(),
    )
    .expect("docker-archive");
    assert_eq!(
        source.root().media_type.as_str(),
        media_type::DOCKER_MANIFEST
    );
    assert_eq!(
        source.referrers(&put.manifest.digest).expect("referrers"),
        None
    );
    for (name, writable) in [
        (format!("oci:{}:x", work.join("new").display()), true),
        ("discover:example.test/app".to_owned(), false),
    ] {
        assert_eq!(
            oci_image::open_destination(&name).is_ok(),
            writable,
            "{name}"
        );
    }
    let e = oci_image::open_destination(&format!("oci:{dir}:{}", put.manifest.digest))
        .err()
        .expect("a digest is refused");
    assert!(
        matches!(e, oci_image::DestinationError::DigestReference { .. }),
        "{e}"
    );
}

#[test]
fn a_missing_archive_is_unavailable_with_its_cause_once() {
    let missing = scratch("copy-missing-archive").join("missing.tar");
    for (transport, name) in [
        (oci_image::Transport::DockerArchive, "docker-archive"),
        (oci_image::Transport::OciArchive, "oci-archive"),
    ] {
        let e = oci_image::open_source(
            &format!("{name}:{}", missing.display()),
            &oci_image::OpenOptions::default(),
        )
        .err()
        .expect("missing");
        assert!(
            matches!(&e, oci_image::SourceError::Unavailable { transport: t, .. } if *t == transport),
            "{e:?}"
        );
        assert!(!e.is_check_failure());
        let text = chain(&e);
        assert_eq!(text.matches("os error 2").count(), 1, "{text}");
    }
}

#[test]
fn layout_referrers_are_the_manifests_whose_subject_is_that_digest() {
    let (layout, put) = source_layout("copy-referrers");
    let artifact = |subject: &Descriptor, kind: &str| {
        let mut manifest = ImageManifest::new(Descriptor::empty(), Vec::new());
        manifest.artifact_type = Some(kind.into());
        manifest.subject = Some(subject.clone());
        manifest
    };
    let signature = put_manifest(
        &layout,
        artifact(&put.manifest, "application/vnd.example.sig"),
    );
    add_entry(&layout, signature.clone(), None);
    let sbom = put_manifest(
        &layout,
        artifact(&put.manifest, "application/vnd.example.sbom"),
    );
    add_entry(&layout, sbom.clone(), Some("sbom"));
    // A referrer of something else.
    let other = put_manifest(
        &layout,
        artifact(&put.config, "application/vnd.example.sig"),
    );
    add_entry(&layout, other, None);
    let source = open(&layout, "t");
    let found = source
        .referrers(&put.manifest.digest)
        .expect("referrers")
        .expect("a layout holds referrers");
    let digests: Vec<&Digest> = found.iter().map(|d| &d.digest).collect();
    assert_eq!(digests, [&signature.digest, &sbom.digest]);
    assert_eq!(
        found[0].artifact_type.as_ref().map(|t| t.as_str()),
        Some("application/vnd.example.sig")
    );
    assert!(
        source
            .referrers(&put.layers[0].digest)
            .expect("referrers")
            .expect("some")
            .is_empty()
    );
}
