//! Image indexes (image-index.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::annotations::Annotations;
use crate::descriptor::Descriptor;
use crate::manifest::SCHEMA_VERSION;
use crate::media_type::{self, MediaType};

/// An image index: a list of manifests, usually one per platform.
///
/// Parsing is lenient on values, as for [`crate::ImageManifest`]. Field order is that of
/// the image-spec Go struct, and the serialization order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// `schemaVersion`, 2 for valid indexes (I2).
    pub schema_version: u32,
    /// `mediaType`: `application/vnd.oci.image.index.v1+json` when set (I3, I4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<MediaType>,
    /// `artifactType` (I5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<MediaType>,
    /// `manifests`, possibly empty (I6, I7).
    pub manifests: Vec<Descriptor>,
    /// `subject`: the manifest this index refers to (I19).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// `annotations` (I20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Members this crate does not know, kept for the round trip (never a known member name).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ImageIndex {
    /// An index with `schemaVersion` 2, the OCI index `mediaType`, and the given entries.
    pub fn new(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: SCHEMA_VERSION,
            media_type: Some(MediaType::from(media_type::IMAGE_INDEX)),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: None,
            extra: BTreeMap::new(),
        }
    }

    /// The entries whose `org.opencontainers.image.ref.name` is `name`, in order.
    pub fn by_ref_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Descriptor> {
        self.manifests
            .iter()
            .filter(move |d| d.ref_name() == Some(name))
    }
}
