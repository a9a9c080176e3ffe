//! gc: removes exactly the unreachable blobs; keeps referrers and young blobs.

use std::collections::BTreeSet;
use std::time::Duration;

use oci_image::{GcOptions, Layout};
use oci_spec_types::{Algorithm, Descriptor, Digest, Document, ImageManifest};

use crate::{LayerSpec, add_entry, linux_amd64, new_layout, put_image};

const NOW: GcOptions = GcOptions {
    grace: Duration::ZERO,
};

fn blobs(layout: &Layout) -> BTreeSet<Digest> {
    layout
        .blobs()
        .list()
        .expect("list")
        .blobs
        .into_iter()
        .collect()
}

#[test]
fn removes_exactly_the_unreachable_blobs() {
    let layout = new_layout("gc-exact");
    let kept = put_image(
        &layout,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("a", b"a")])],
    );
    add_entry(&layout, kept.manifest.clone(), Some("kept"));
    let before = blobs(&layout);
    let dropped = put_image(
        &layout,
        &linux_amd64(),
        vec![
            LayerSpec::gzip(&[("b", b"b")]),
            // Shares its layer with the kept image: must stay.
            LayerSpec::gzip(&[("a", b"a")]),
        ],
    );
    let stray = layout
        .blobs()
        .put_bytes(b"stray", Algorithm::Sha256)
        .expect("put");
    // A temporary file of an unfinished write is never touched.
    let temp = layout
        .root()
        .join("blobs/sha256")
        .join(format!("{}unfinished", oci_digest::TEMP_PREFIX));
    std::fs::write(&temp, b"partial").expect("write temp");

    // With the default grace period, nothing just written goes.
    let report = layout.gc(&GcOptions::default()).expect("gc");
    assert!(report.removed.is_empty());
    assert_eq!(report.kept_recent.len(), 4);

    let report = layout.gc(&NOW).expect("gc");
    let mut expected = vec![
        dropped.manifest.digest.clone(),
        dropped.config.digest.clone(),
        dropped.layers[0].digest.clone(),
        stray.digest.clone(),
    ];
    expected.sort();
    assert_eq!(report.removed, expected);
    let sizes = dropped.manifest.size + dropped.config.size + dropped.layers[0].size + 5;
    assert_eq!(report.bytes, sizes);
    assert_eq!(blobs(&layout), before);
    assert!(temp.exists());
    assert!(layout.fsck().is_ok());
    // A second run removes nothing.
    assert!(layout.gc(&NOW).expect("gc").removed.is_empty());
}

#[test]
fn keeps_referrers_of_reachable_manifests() {
    let layout = new_layout("gc-referrers");
    let image = put_image(
        &layout,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("a", b"a")])],
    );
    add_entry(&layout, image.manifest.clone(), Some("t"));
    let empty = layout
        .blobs()
        .put_bytes(b"{}", Algorithm::Sha256)
        .expect("put empty");
    assert_eq!(empty.digest, Descriptor::empty().digest);
    let referrer = |subject: &Descriptor, blob: &[u8]| {
        let layer = layout
            .blobs()
            .put_bytes(blob, Algorithm::Sha256)
            .expect("put");
        let mut m = ImageManifest::new(
            Descriptor::empty(),
            vec![Descriptor::new(
                "application/vnd.example.sig",
                layer.digest.clone(),
                layer.size,
            )],
        );
        m.artifact_type = Some("application/vnd.example".into());
        let mut s = subject.clone();
        s.platform = None;
        s.annotations = None;
        m.subject = Some(s);
        let doc = Document::from_value(m);
        let put = layout
            .blobs()
            .put_bytes(doc.bytes(), Algorithm::Sha256)
            .expect("put");
        (
            Descriptor::new(
                oci_spec_types::media_type::IMAGE_MANIFEST,
                put.digest,
                put.size,
            ),
            layer.digest,
        )
    };
    let (signature, signature_blob) = referrer(&image.manifest, b"signature");
    // A referrer of the referrer.
    let (counter, counter_blob) = referrer(&signature, b"countersignature");
    // A referrer of an image that is gone.
    let orphan_subject = Descriptor::new(
        oci_spec_types::media_type::IMAGE_MANIFEST,
        crate::sha256(b"gone"),
        4,
    );
    let (orphan, orphan_blob) = referrer(&orphan_subject, b"orphan");

    let report = layout.gc(&NOW).expect("gc");
    let mut expected = vec![orphan.digest.clone(), orphan_blob];
    expected.sort();
    assert_eq!(report.removed, expected);
    let left = blobs(&layout);
    for kept in [
        &signature.digest,
        &signature_blob,
        &counter.digest,
        &counter_blob,
        &empty.digest,
    ] {
        assert!(left.contains(kept), "{kept} removed");
    }
}

#[test]
fn refuses_when_a_reachable_manifest_is_missing() {
    let layout = new_layout("gc-missing");
    let image = put_image(
        &layout,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("a", b"a")])],
    );
    add_entry(&layout, image.manifest.clone(), Some("t"));
    std::fs::remove_file(layout.blobs().blob_path(&image.manifest.digest)).expect("rm");
    let e = layout.gc(&NOW).expect_err("gc must refuse");
    assert!(e.is_check_failure());
    assert!(
        crate::chain(&e).contains(image.manifest.digest.as_str()),
        "{e}"
    );
    assert!(
        layout
            .blobs()
            .stat(&image.config.digest)
            .expect("stat")
            .is_some()
    );
}
