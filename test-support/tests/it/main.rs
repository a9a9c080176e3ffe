//! Integration tests of oci-test-support: the fixtures and the CLI helpers.

use oci_spec_types::{Digest, ImageConfig, ImageManifest, Platform};
use oci_test_support::cli::{json_of, run, run_with_input, stderr_of};
use oci_test_support::fixture::{ImageFixture, LayerSpec, LayoutFixture, sha256, tar_of};
use oci_test_support::scratch;

mod registry;

#[test]
fn a_layout_fixture_holds_the_image_under_its_tag() {
    let root = scratch!("layout-fixture");
    let image = ImageFixture::new(
        &Platform::new("linux", "amd64"),
        vec![
            LayerSpec::gzip(&[("a", b"one")]),
            LayerSpec::zstd(&[("b", b"two")]),
        ],
    );
    let layout = LayoutFixture::create(root.join("layout"));
    layout.tag_image(&image, "v1");
    layout.add_entry(image.manifest.clone(), None);
    assert_eq!(layout.tags(), ["v1"]);
    assert_eq!(layout.index().manifests.len(), 2);
    // Every blob is stored under its digest, and the manifest names the config and the
    // layers, whose diffIDs the config lists.
    for (digest, bytes) in &image.blobs {
        let digest = Digest::parse(digest).expect("digest");
        let stored = std::fs::read(layout.blob_path(&digest)).expect("blob");
        assert_eq!(sha256(&stored), digest);
        assert_eq!(&stored, bytes);
    }
    let manifest: ImageManifest =
        serde_json::from_slice(image.blob(&image.manifest.digest).expect("manifest"))
            .expect("manifest json");
    assert_eq!(manifest.config, image.config);
    assert_eq!(manifest.layers, image.layers);
    let config: ImageConfig =
        serde_json::from_slice(image.blob(&image.config.digest).expect("config"))
            .expect("config json");
    assert_eq!(
        config.rootfs.diff_ids,
        [
            sha256(&tar_of(&[("a", b"one")])),
            sha256(&tar_of(&[("b", b"two")]))
        ]
    );
}

#[test]
fn programs_run_with_and_without_input() {
    let out = run_with_input("cat", &[], b"[1, 2]");
    assert_eq!(json_of(&out), serde_json::json!([1, 2]));
    let out = run("sh", &["-c", "echo oops >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr_of(&out), "oops\n");
    // A fresh scratch directory is empty.
    let dir = scratch!("cli-scratch");
    std::fs::write(dir.join("x"), b"x").expect("write");
    assert!(
        scratch!("cli-scratch")
            .read_dir()
            .expect("dir")
            .next()
            .is_none()
    );
}
