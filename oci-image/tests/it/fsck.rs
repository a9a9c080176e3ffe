//! fsck: clean layouts pass; every damaged, missing or inconsistent blob is reported,
//! naming its digest.

use oci_image::{FsckReport, Layout, ProblemKind};
use oci_spec_types::{
    Algorithm, Descriptor, Digest, Document, ImageManifest, Platform, media_type,
};

use crate::{LayerSpec, add_entry, linux_amd64, new_layout, put_image, sha256, tar_of};

fn problems(report: &FsckReport) -> Vec<(Option<String>, ProblemKind)> {
    let mut found: Vec<_> = report
        .problems
        .iter()
        .map(|p| (p.digest.as_ref().map(ToString::to_string), p.kind))
        .collect();
    found.sort();
    found
}

fn image(layout: &Layout) -> crate::Put {
    let put = put_image(
        layout,
        &linux_amd64(),
        vec![
            LayerSpec::gzip(&[("etc/a", b"first layer")]),
            LayerSpec::zstd(&[("etc/b", b"second layer")]),
            LayerSpec {
                blob: tar_of(&[("etc/c", b"plain")]),
                media_type: media_type::LAYER_TAR,
                diff_id: sha256(&tar_of(&[("etc/c", b"plain")])),
            },
        ],
    );
    add_entry(layout, put.manifest.clone(), Some("latest"));
    put
}

#[test]
fn a_clean_layout_passes() {
    let layout = new_layout("fsck-clean");
    let put = image(&layout);
    let report = layout.fsck();
    assert!(report.is_ok(), "{:?}", report.problems);
    // Manifest, config and three layers.
    assert_eq!(report.blobs, 5);
    let total: u64 =
        put.layers.iter().map(|l| l.size).sum::<u64>() + put.config.size + put.manifest.size;
    assert_eq!(report.bytes, total);
}

#[test]
fn corrupted_truncated_and_missing_blobs_are_all_reported() {
    let layout = new_layout("fsck-damage");
    let put = image(&layout);
    let path = |d: &Descriptor| layout.blobs().blob_path(&d.digest);
    // Corrupt one byte of the gzip layer (same size).
    let mut bytes = std::fs::read(path(&put.layers[0])).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(path(&put.layers[0]), &bytes).expect("write");
    // Truncate the zstd layer.
    let bytes = std::fs::read(path(&put.layers[1])).expect("read");
    std::fs::write(path(&put.layers[1]), &bytes[..bytes.len() - 3]).expect("write");
    // Remove the plain layer.
    std::fs::remove_file(path(&put.layers[2])).expect("remove");

    let report = layout.fsck();
    assert!(!report.is_ok());
    assert_eq!(
        problems(&report),
        {
            let mut expected = vec![
                (
                    Some(put.layers[0].digest.to_string()),
                    ProblemKind::DigestMismatch,
                ),
                (
                    Some(put.layers[1].digest.to_string()),
                    ProblemKind::SizeMismatch,
                ),
                (Some(put.layers[2].digest.to_string()), ProblemKind::Missing),
            ];
            expected.sort();
            expected
        },
        "{:#?}",
        report.problems
    );
    for p in &report.problems {
        let digest = p.digest.as_ref().expect("digest");
        assert!(p.message.contains(digest.as_str()), "{}", p.message);
    }
}

#[test]
fn a_damaged_manifest_or_config_is_reported() {
    let layout = new_layout("fsck-documents");
    let put = image(&layout);
    // Same size, different content.
    let config_path = layout.blobs().blob_path(&put.config.digest);
    let mut bytes = std::fs::read(&config_path).expect("read");
    bytes[0] = b' ';
    std::fs::write(&config_path, &bytes).expect("write");
    let report = layout.fsck();
    assert_eq!(
        problems(&report),
        [(
            Some(put.config.digest.to_string()),
            ProblemKind::DigestMismatch
        )]
    );
    std::fs::remove_file(layout.blobs().blob_path(&put.manifest.digest)).expect("remove");
    let report = layout.fsck();
    assert_eq!(
        problems(&report),
        [(Some(put.manifest.digest.to_string()), ProblemKind::Missing)]
    );
}

#[test]
fn a_diff_id_mismatch_is_reported() {
    let layout = new_layout("fsck-diffid");
    let tar = tar_of(&[("x", b"x")]);
    let wrong = sha256(b"not the tar");
    let put = put_image(
        &layout,
        &linux_amd64(),
        vec![
            LayerSpec {
                blob: crate::gzip(&tar),
                media_type: media_type::LAYER_TAR_GZIP,
                diff_id: wrong.clone(),
            },
            LayerSpec::gzip(&[("y", b"y")]),
        ],
    );
    add_entry(&layout, put.manifest.clone(), Some("t"));
    let report = layout.fsck();
    assert_eq!(
        problems(&report),
        [(
            Some(put.layers[0].digest.to_string()),
            ProblemKind::DiffIdMismatch
        )]
    );
    let message = &report.problems[0].message;
    assert!(message.contains(wrong.as_str()), "{message}");
    assert!(message.contains(sha256(&tar).as_str()), "{message}");
}

#[test]
fn a_layer_that_does_not_decompress_is_reported() {
    let layout = new_layout("fsck-decompress");
    let put = put_image(
        &layout,
        &linux_amd64(),
        vec![LayerSpec {
            blob: b"this is not gzip".to_vec(),
            media_type: media_type::LAYER_TAR_GZIP,
            diff_id: sha256(b"this is not gzip"),
        }],
    );
    add_entry(&layout, put.manifest.clone(), Some("t"));
    let report = layout.fsck();
    assert_eq!(
        problems(&report),
        [(
            Some(put.layers[0].digest.to_string()),
            ProblemKind::Decompress
        )]
    );
}

#[test]
fn invalid_documents_and_layer_count_are_reported() {
    let layout = new_layout("fsck-invalid");
    let put = put_image(
        &layout,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("a", b"a")])],
    );
    // A manifest naming the config but no layers: the config has one diffID.
    let mut manifest = ImageManifest::new(put.config.clone(), Vec::new());
    manifest.schema_version = 3;
    let doc = Document::from_value(manifest);
    let measured = layout
        .blobs()
        .put_bytes(doc.bytes(), Algorithm::Sha256)
        .expect("put");
    add_entry(
        &layout,
        Descriptor::new(
            media_type::IMAGE_MANIFEST,
            measured.digest.clone(),
            measured.size,
        ),
        Some("bad"),
    );
    let report = layout.fsck();
    let kinds = problems(&report);
    assert!(
        kinds
            .iter()
            .all(|(d, k)| d.as_deref() == Some(measured.digest.as_str())
                && *k == ProblemKind::Invalid),
        "{kinds:?}"
    );
    // schemaVersion and the layer count: at least two problems.
    assert!(kinds.len() >= 2, "{:#?}", report.problems);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.message.contains("diffIDs")),
        "{:#?}",
        report.problems
    );
}

#[test]
fn unregistered_algorithms_are_unverifiable() {
    let layout = new_layout("fsck-unverifiable");
    let digest = Digest::parse("foo:abcdef").expect("digest");
    add_entry(
        &layout,
        Descriptor::new(media_type::IMAGE_MANIFEST, digest.clone(), 6),
        Some("x"),
    );
    std::fs::create_dir_all(layout.root().join("blobs/foo")).expect("mkdir");
    std::fs::write(layout.root().join("blobs/foo/abcdef"), b"abcdef").expect("write");
    let report = layout.fsck();
    assert_eq!(
        problems(&report),
        [(Some(digest.to_string()), ProblemKind::Unverifiable)]
    );
}

#[test]
fn subjects_are_checked_and_referrers_walked() {
    let layout = new_layout("fsck-subject");
    let put = image(&layout);
    // A referrer (not in index.json) whose subject is the image, with a wrong size.
    let mut subject = put.manifest.clone();
    subject.platform = None;
    subject.annotations = None;
    subject.size += 1;
    let mut referrer = ImageManifest::new(Descriptor::empty(), Vec::new());
    referrer.artifact_type = Some("application/vnd.example+type".into());
    referrer.subject = Some(subject);
    let doc = Document::from_value(referrer);
    layout
        .blobs()
        .put_bytes(doc.bytes(), Algorithm::Sha256)
        .expect("put referrer");
    // Its config (the empty descriptor) is missing: found because the referrer is walked.
    let report = layout.fsck();
    let empty = Descriptor::empty().digest.to_string();
    let referrer_digest = sha256(doc.bytes()).to_string();
    assert_eq!(
        problems(&report),
        {
            let mut expected = vec![
                (Some(referrer_digest), ProblemKind::Subject),
                (Some(empty), ProblemKind::Missing),
            ];
            expected.sort();
            expected
        },
        "{:#?}",
        report.problems
    );
}

#[test]
fn a_missing_index_json_is_a_problem() {
    let layout = new_layout("fsck-no-index");
    std::fs::remove_file(layout.index_path()).expect("remove");
    let report = layout.fsck();
    assert_eq!(problems(&report), [(None, ProblemKind::Missing)]);
    assert!(report.problems[0].message.contains("index.json"));
}

#[test]
fn nested_indexes_are_walked() {
    let layout = new_layout("fsck-nested");
    let put = put_image(
        &layout,
        &Platform::new("linux", "arm64"),
        vec![LayerSpec::gzip(&[("a", b"a")])],
    );
    let inner = Document::from_value(oci_spec_types::ImageIndex::new(vec![put.manifest.clone()]));
    let m = layout
        .blobs()
        .put_bytes(inner.bytes(), Algorithm::Sha256)
        .expect("put");
    add_entry(
        &layout,
        Descriptor::new(media_type::IMAGE_INDEX, m.digest, m.size),
        Some("nested"),
    );
    assert!(layout.fsck().is_ok());
    std::fs::remove_file(layout.blobs().blob_path(&put.layers[0].digest)).expect("remove");
    assert_eq!(
        problems(&layout.fsck()),
        [(Some(put.layers[0].digest.to_string()), ProblemKind::Missing)]
    );
}

#[test]
fn unknown_media_types_in_index_json_are_verified_only() {
    let layout = new_layout("fsck-unknown");
    let thing = layout
        .blobs()
        .put_bytes(b"not a manifest", Algorithm::Sha256)
        .expect("put");
    let tar = tar_of(&[("a", b"a")]);
    let layer = layout
        .blobs()
        .put_bytes(&crate::gzip(&tar), Algorithm::Sha256)
        .expect("put");
    add_entry(
        &layout,
        Descriptor::new(
            "application/vnd.example.thing",
            thing.digest.clone(),
            thing.size,
        ),
        Some("thing"),
    );
    add_entry(
        &layout,
        Descriptor::new(media_type::LAYER_TAR_GZIP, layer.digest.clone(), layer.size),
        Some("layer"),
    );
    let report = layout.fsck();
    assert!(report.is_ok(), "{:#?}", report.problems);
    assert_eq!(report.blobs, 2);
    std::fs::write(layout.blobs().blob_path(&thing.digest), b"not a manifesT").expect("write");
    assert_eq!(
        problems(&layout.fsck()),
        [(Some(thing.digest.to_string()), ProblemKind::DigestMismatch)]
    );
}

#[test]
fn a_platform_that_disagrees_with_the_config_is_a_warning() {
    let layout = new_layout("fsck-platform");
    let put = put_image(&layout, &linux_amd64(), vec![]);
    let mut entry = put.manifest.clone();
    entry.platform = Some(Platform::new("linux", "arm64"));
    add_entry(&layout, entry, Some("wrong"));
    let report = layout.fsck();
    assert!(report.is_ok(), "{:#?}", report.problems);
    assert!(
        report.warnings.iter().any(|w| {
            w.digest.as_ref() == Some(&put.manifest.digest) && w.message.contains("linux/arm64")
        }),
        "{:#?}",
        report.warnings
    );
    // The matching platform gives no such warning.
    let layout = new_layout("fsck-platform-ok");
    let put = put_image(&layout, &linux_amd64(), vec![]);
    add_entry(&layout, put.manifest.clone(), Some("right"));
    let report = layout.fsck();
    assert!(
        !report
            .warnings
            .iter()
            .any(|w| w.message.contains("platform linux")),
        "{:#?}",
        report.warnings
    );
}
