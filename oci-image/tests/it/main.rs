//! Integration tests of oci-image: naming, layouts, tags, inspect, fsck and gc.
// The library's error enums reach clippy's 128-byte threshold (see lib.rs).
#![allow(clippy::result_large_err)]

mod build;
mod bundle;
mod copy;
mod discover;
mod docker_archive;
mod fsck;
mod gc;
mod layout;
mod name;
mod registry;
mod rules;
mod signatures;
mod tar_index;
mod unpack;

use std::path::PathBuf;

use oci_image::Layout;
use oci_spec_types::annotations::REF_NAME;
use oci_spec_types::media_type;
use oci_spec_types::{Algorithm, Descriptor, Document, ImageConfig, ImageManifest, Platform};

/// A fresh, empty directory under the target directory, for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("oci-image")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A fresh layout in a scratch directory.
pub fn new_layout(name: &str) -> Layout {
    Layout::init(scratch(name).join("layout")).expect("init layout")
}

// Layer fixtures built without the crates under test.
pub use oci_test_support::fixture::{LayerSpec, gzip, sha256, tar_of, zstd};

/// An error and its causes, as `{:#}` of anyhow prints them.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// What [`put_image`] stored.
#[derive(Debug)]
pub struct Put {
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// Stores the layers, a config and a manifest for `platform` (not tagged).
pub fn put_image(layout: &Layout, platform: &Platform, layers: Vec<LayerSpec>) -> Put {
    let store = layout.blobs();
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in layers {
        let measured = store
            .put_bytes(&layer.blob, Algorithm::Sha256)
            .expect("put layer");
        descriptors.push(Descriptor::new(
            layer.media_type,
            measured.digest,
            measured.size,
        ));
        diff_ids.push(layer.diff_id);
    }
    let config = Document::from_value(ImageConfig::new(platform, diff_ids));
    let measured = store
        .put_bytes(config.bytes(), Algorithm::Sha256)
        .expect("put config");
    let config = Descriptor::new(media_type::IMAGE_CONFIG, measured.digest, measured.size);
    let manifest = Document::from_value(ImageManifest::new(config.clone(), descriptors.clone()));
    let measured = store
        .put_bytes(manifest.bytes(), Algorithm::Sha256)
        .expect("put manifest");
    let mut descriptor =
        Descriptor::new(media_type::IMAGE_MANIFEST, measured.digest, measured.size);
    descriptor.platform = Some(platform.clone());
    Put {
        manifest: descriptor,
        config,
        layers: descriptors,
    }
}

/// Adds `descriptor` to index.json under `tag` (without replacing anything), as another
/// tool might.
pub fn add_entry(layout: &Layout, mut descriptor: Descriptor, tag: Option<&str>) {
    if let Some(tag) = tag {
        descriptor
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REF_NAME.to_owned(), tag.to_owned());
    }
    let lock = layout.lock().expect("lock");
    let mut index = lock.read_index().expect("read index").into_value();
    index.manifests.push(descriptor);
    lock.write_index(index).expect("write index");
}

pub fn linux_amd64() -> Platform {
    Platform::new("linux", "amd64")
}
