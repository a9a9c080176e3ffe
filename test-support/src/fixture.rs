//! Layer, image and layout fixtures built by code, without the crates under test: tars of
//! files, gzip and zstd layers with their diffIDs, an image (config, manifest, layers) held
//! in memory, and OCI layouts written file by file as another tool would write them.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use oci_digest::Digester;
use oci_spec_types::annotations::REF_NAME;
use oci_spec_types::{
    Algorithm, Descriptor, Digest, Document, ImageConfig, ImageIndex, ImageManifest, OciLayout,
    Platform, media_type,
};

/// The sha256 digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    Digester::digest_bytes(Algorithm::Sha256, bytes).digest
}

/// A deterministic tar of regular files (mode 0644, mtime 0).
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path, *content)
            .expect("append to tar");
    }
    builder.into_inner().expect("finish tar")
}

/// `bytes` gzip-compressed (fast level).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// `bytes` zstd-compressed (level 3).
pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).expect("zstd")
}

/// One layer: its blob, media type and the diffID a config names it by.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// The blob as stored.
    pub blob: Vec<u8>,
    /// Its media type.
    pub media_type: &'static str,
    /// The digest of the uncompressed tar.
    pub diff_id: Digest,
}

impl LayerSpec {
    /// An uncompressed layer of `files`.
    pub fn tar(files: &[(&str, &[u8])]) -> LayerSpec {
        let tar = tar_of(files);
        LayerSpec {
            diff_id: sha256(&tar),
            blob: tar,
            media_type: media_type::LAYER_TAR,
        }
    }

    /// A gzip layer of `files`.
    pub fn gzip(files: &[(&str, &[u8])]) -> LayerSpec {
        let tar = tar_of(files);
        LayerSpec {
            blob: gzip(&tar),
            media_type: media_type::LAYER_TAR_GZIP,
            diff_id: sha256(&tar),
        }
    }

    /// A zstd layer of `files`.
    pub fn zstd(files: &[(&str, &[u8])]) -> LayerSpec {
        let tar = tar_of(files);
        LayerSpec {
            blob: zstd(&tar),
            media_type: media_type::LAYER_TAR_ZSTD,
            diff_id: sha256(&tar),
        }
    }
}

/// An image held in memory: its manifest, config and layer descriptors and every blob.
#[derive(Debug, Clone)]
pub struct ImageFixture {
    /// The manifest's descriptor, with the platform set.
    pub manifest: Descriptor,
    /// The config's descriptor.
    pub config: Descriptor,
    /// The layers' descriptors, in order.
    pub layers: Vec<Descriptor>,
    /// Every blob (manifest, config, layers) by digest string.
    pub blobs: BTreeMap<String, Vec<u8>>,
}

impl ImageFixture {
    /// An image for `platform` made of `layers`, with a config naming their diffIDs.
    pub fn new(platform: &Platform, layers: Vec<LayerSpec>) -> ImageFixture {
        let mut blobs = BTreeMap::new();
        let mut descriptors = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in layers {
            let digest = sha256(&layer.blob);
            descriptors.push(Descriptor::new(
                layer.media_type,
                digest.clone(),
                layer.blob.len() as u64,
            ));
            diff_ids.push(layer.diff_id);
            blobs.insert(digest.to_string(), layer.blob);
        }
        let config = Document::from_value(ImageConfig::new(platform, diff_ids));
        let config_descriptor = Descriptor::new(
            media_type::IMAGE_CONFIG,
            sha256(config.bytes()),
            config.bytes().len() as u64,
        );
        blobs.insert(
            config_descriptor.digest.to_string(),
            config.bytes().to_vec(),
        );
        let manifest = Document::from_value(ImageManifest::new(
            config_descriptor.clone(),
            descriptors.clone(),
        ));
        let mut manifest_descriptor = Descriptor::new(
            media_type::IMAGE_MANIFEST,
            sha256(manifest.bytes()),
            manifest.bytes().len() as u64,
        );
        manifest_descriptor.platform = Some(platform.clone());
        blobs.insert(
            manifest_descriptor.digest.to_string(),
            manifest.bytes().to_vec(),
        );
        ImageFixture {
            manifest: manifest_descriptor,
            config: config_descriptor,
            layers: descriptors,
            blobs,
        }
    }

    /// The bytes of the blob `digest`, if the image has it.
    pub fn blob(&self, digest: &Digest) -> Option<&[u8]> {
        self.blobs.get(digest.as_str()).map(Vec::as_slice)
    }
}

/// An OCI layout written file by file (`oci-layout`, `index.json`, `blobs/`), the way
/// another tool would write it, without the crates under test.
#[derive(Debug, Clone)]
pub struct LayoutFixture {
    root: PathBuf,
}

impl LayoutFixture {
    /// A new empty layout at `root` (created; it must not hold a layout already).
    pub fn create(root: impl Into<PathBuf>) -> LayoutFixture {
        let root = root.into();
        std::fs::create_dir_all(root.join("blobs").join("sha256")).expect("mkdir blobs");
        let layout = Document::from_value(OciLayout::new());
        std::fs::write(root.join("oci-layout"), layout.bytes()).expect("write oci-layout");
        let index = Document::from_value(ImageIndex::new(Vec::new()));
        std::fs::write(root.join("index.json"), index.bytes()).expect("write index.json");
        LayoutFixture { root }
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stores `bytes` under their sha256 digest and returns it.
    pub fn put_blob(&self, bytes: &[u8]) -> Digest {
        let digest = sha256(bytes);
        std::fs::write(self.blob_path(&digest), bytes).expect("write blob");
        digest
    }

    /// Where the blob `digest` lives (whether or not it is there).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm_name())
            .join(digest.encoded())
    }

    /// Stores every blob of `image` (untagged).
    pub fn put_image(&self, image: &ImageFixture) {
        for bytes in image.blobs.values() {
            self.put_blob(bytes);
        }
    }

    /// Appends `descriptor` to index.json, with `tag` as its ref name when given (nothing
    /// is replaced: two entries may carry one tag, as another tool may leave them).
    pub fn add_entry(&self, mut descriptor: Descriptor, tag: Option<&str>) {
        if let Some(tag) = tag {
            descriptor
                .annotations
                .get_or_insert_with(Default::default)
                .insert(REF_NAME.to_owned(), tag.to_owned());
        }
        let mut index = self.index();
        index.manifests.push(descriptor);
        let index = Document::from_value(index);
        std::fs::write(self.root.join("index.json"), index.bytes()).expect("write index.json");
    }

    /// Stores `image` and tags it `tag`.
    pub fn tag_image(&self, image: &ImageFixture, tag: &str) {
        self.put_image(image);
        self.add_entry(image.manifest.clone(), Some(tag));
    }

    /// The index.json as it is now.
    pub fn index(&self) -> ImageIndex {
        let bytes = std::fs::read(self.root.join("index.json")).expect("read index.json");
        serde_json::from_slice(&bytes).expect("index.json parses")
    }

    /// The ref names of index.json's entries, in order.
    pub fn tags(&self) -> Vec<String> {
        self.index()
            .manifests
            .iter()
            .filter_map(|d| d.annotations.as_ref()?.get(REF_NAME).cloned())
            .collect()
    }
}
