//! Image manifests (manifest.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::annotations::Annotations;
use crate::descriptor::Descriptor;
use crate::media_type::{self, MediaType};

/// The only `schemaVersion` of image manifests and indexes (M1, I2).
pub const SCHEMA_VERSION: u32 = 2;

/// An image manifest: a config and an ordered list of layers.
///
/// Parsing is lenient on values: any `schemaVersion` that fits a `u32`, any media types and
/// an empty `layers` list parse, so that a validator can report on them. Field order is
/// that of the image-spec Go struct, and the serialization order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// `schemaVersion`, 2 for valid manifests (M1).
    pub schema_version: u32,
    /// `mediaType`: `application/vnd.oci.image.manifest.v1+json` when set (M2, M3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    /// `artifactType` (M4, M5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<MediaType>,
    /// `config` (M7).
    pub config: Descriptor,
    /// `layers`, base layer first (M13-M16).
    pub layers: Vec<Descriptor>,
    /// `subject`: the manifest this one refers to (M23).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// `annotations` (M24).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Members this crate does not know, kept for the round trip (never a known member name).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ImageManifest {
    /// A manifest with `schemaVersion` 2, the OCI manifest `mediaType`, and the given
    /// config and layers.
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> ImageManifest {
        ImageManifest {
            schema_version: SCHEMA_VERSION,
            media_type: Some(MediaType::from(media_type::IMAGE_MANIFEST)),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: None,
            extra: BTreeMap::new(),
        }
    }

    /// The artifact type: `artifactType` when set, otherwise `config.mediaType`, as the
    /// referrers API of the distribution-spec does.
    pub fn effective_artifact_type(&self) -> &MediaType {
        self.artifact_type
            .as_ref()
            .unwrap_or(&self.config.media_type)
    }

    /// Whether `config.mediaType` is the OCI image config type, so that the layers form a
    /// filesystem (M15-M17).
    pub fn is_image(&self) -> bool {
        self.config.media_type == media_type::IMAGE_CONFIG
    }
}
