//! What an image is made of: its manifest (or index), config, layers and history.

use oci_spec_types::document::AnyManifest;
use oci_spec_types::{Descriptor, Digest, ImageConfig, Platform};

use crate::layout::Layout;
use crate::name::Reference;
use crate::resolve::ResolveError;

/// An inspected image or index; every document was read verified.
// One value per inspection, never stored in bulk: boxing would only make matching clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Inspection {
    /// An index (or Docker manifest list), when no platform was asked for.
    Index {
        /// The descriptor that led to it.
        descriptor: Descriptor,
        /// Its exact bytes.
        bytes: Vec<u8>,
        /// Parsed.
        index: AnyManifest,
    },
    /// One image manifest.
    Image(Image),
}

/// One image: manifest, config and layers.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest's descriptor (the `index.json` entry, or the entry of the index the
    /// platform chose).
    pub descriptor: Descriptor,
    /// The manifest's exact bytes.
    pub manifest_bytes: Vec<u8>,
    /// The manifest, parsed.
    pub manifest: AnyManifest,
    /// The config's exact bytes.
    pub config_bytes: Vec<u8>,
    /// The config, when its media type is an image config's and it parses.
    pub config: Option<ImageConfig>,
    /// The layers with their diffIDs from the config, in order.
    pub layers: Vec<Layer>,
}

/// A layer of an inspected image.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// The manifest's layer descriptor.
    pub descriptor: Descriptor,
    /// The config's diffID at the same position, if any.
    pub diff_id: Option<Digest>,
}

impl Layout {
    /// Inspects the image `reference` names. An index is shown as such unless `platform`
    /// is given, in which case the descent picks one manifest by platform.
    pub fn inspect(
        &self,
        reference: Option<&Reference>,
        platform: Option<&Platform>,
    ) -> Result<Inspection, ResolveError> {
        let descriptor = self.resolve(reference, platform)?;
        let (bytes, manifest) = self.read_manifest(&descriptor)?;
        if manifest.entries().is_some() {
            if platform.is_none() {
                return Ok(Inspection::Index {
                    descriptor,
                    bytes,
                    index: manifest,
                });
            }
            let (descriptor, bytes, manifest) = self.descend(&descriptor, platform)?;
            return self
                .image(descriptor, bytes, manifest)
                .map(Inspection::Image);
        }
        self.image(descriptor, bytes, manifest)
            .map(Inspection::Image)
    }

    fn image(
        &self,
        descriptor: Descriptor,
        manifest_bytes: Vec<u8>,
        manifest: AnyManifest,
    ) -> Result<Image, ResolveError> {
        let config_descriptor = manifest
            .config()
            .expect("a manifest that is not an index has a config");
        let config_bytes = self.read_blob(config_descriptor)?;
        let config: Option<ImageConfig> = if config_descriptor.media_type.is_image_config() {
            Some(
                oci_spec_types::document::from_slice(&config_bytes).map_err(|source| {
                    crate::resolve::BlobError::Parse {
                        digest: config_descriptor.digest.clone(),
                        source: source.into(),
                    }
                })?,
            )
        } else {
            None
        };
        let diff_ids = config.as_ref().map(|c| c.rootfs.diff_ids.as_slice());
        let layers = manifest
            .layers()
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, d)| Layer {
                descriptor: d.clone(),
                diff_id: diff_ids.and_then(|ids| ids.get(i)).cloned(),
            })
            .collect();
        Ok(Image {
            descriptor,
            manifest_bytes,
            manifest,
            config_bytes,
            config,
            layers,
        })
    }
}
