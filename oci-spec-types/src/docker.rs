//! Docker Image Manifest V2, Schema 2 and the Docker manifest list, with conversions to
//! and from their OCI equivalents (media-types.md compatibility matrix, T5).
//!
//! # What converts
//!
//! | Docker | OCI |
//! |---|---|
//! | manifest `application/vnd.docker.distribution.manifest.v2+json` | image manifest |
//! | manifest list `application/vnd.docker.distribution.manifest.list.v2+json` | image index |
//! | config `application/vnd.docker.container.image.v1+json` | `application/vnd.oci.image.config.v1+json` |
//! | layer `application/vnd.docker.image.rootfs.diff.tar.gzip` | `application/vnd.oci.image.layer.v1.tar+gzip` |
//! | uncompressed layer `application/vnd.docker.image.rootfs.diff.tar` | `application/vnd.oci.image.layer.v1.tar` (as containers/image maps it) |
//! | foreign layer `application/vnd.docker.image.rootfs.foreign.diff.tar.gzip` | `application/vnd.oci.image.layer.nondistributable.v1.tar+gzip` |
//!
//! Only descriptors of the config and the layers are relabelled: their blobs are the same
//! bytes under both names, so digests and sizes stay. The entries of a manifest list or
//! index are copied unchanged, because they describe manifests whose own bytes say what
//! they are; a tool that converts the child manifests too replaces the entries with
//! descriptors of the converted children. Descriptors that already carry a type of the
//! target side are kept (Docker manifests written by some tools hold OCI layer types).
//! Unknown members are carried over both ways; `urls` and descriptor `platform` too.
//!
//! # What is refused (a typed error naming the field)
//!
//! To OCI ([`ToOciError`]): a `schemaVersion` other than 2; a top-level `mediaType` other
//! than the Docker one; a config type other than the Docker or OCI config (its content
//! has no OCI reading, M8); a layer type with no OCI equivalent (for example
//! `application/vnd.docker.image.rootfs.diff.tar.zstd`); top-level `annotations`,
//! `artifactType` or `subject` members, which Docker does not define and which would
//! change meaning by becoming OCI fields.
//!
//! To Docker ([`ToDockerError`]): a `schemaVersion` other than 2; a top-level `mediaType`
//! other than the OCI one (absent is fine); `artifactType` and `subject` (no Docker
//! equivalent); non-empty `annotations` on the manifest, index or any descriptor (an
//! empty map carries nothing and is dropped); `data` and `artifactType` on any descriptor;
//! a config type other than the OCI image config (artifacts); layers in zstd,
//! nondistributable tar or zstd, or any unknown type (Docker has gzip and plain tar); index entries
//! without `platform` (the manifest list requires it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::descriptor::Descriptor;
use crate::index::ImageIndex;
use crate::manifest::{ImageManifest, SCHEMA_VERSION};
use crate::media_type::{self, MediaType};

/// A Docker Image Manifest V2, Schema 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerManifest {
    /// `schemaVersion`: 2.
    pub schema_version: u32,
    /// `mediaType`: `application/vnd.docker.distribution.manifest.v2+json`.
    pub media_type: MediaType,
    /// `config`: the container config.
    pub config: Descriptor,
    /// `layers`, base layer first.
    pub layers: Vec<Descriptor>,
    /// Members this crate does not know, kept for the round trip (never a known member name).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A Docker manifest list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerManifestList {
    /// `schemaVersion`: 2.
    pub schema_version: u32,
    /// `mediaType`: `application/vnd.docker.distribution.manifest.list.v2+json`.
    pub media_type: MediaType,
    /// `manifests`, each with a `platform`.
    pub manifests: Vec<Descriptor>,
    /// Members this crate does not know, kept for the round trip (never a known member name).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Why a Docker document has no OCI equivalent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToOciError {
    /// `schemaVersion` is not 2.
    #[error("schemaVersion is {found}, only 2 converts")]
    SchemaVersion {
        /// The value found.
        found: u32,
    },
    /// The top-level `mediaType` is not the Docker type this conversion reads.
    #[error("mediaType is {found:?}, expected {expected:?}")]
    MediaType {
        /// The value found.
        found: MediaType,
        /// The Docker media type expected.
        expected: &'static str,
    },
    /// The config type has no OCI equivalent.
    #[error("{field} is {media_type:?}, which has no OCI equivalent")]
    ConfigType {
        /// `config.mediaType`.
        field: String,
        /// The value found.
        media_type: MediaType,
    },
    /// A layer type has no OCI equivalent.
    #[error("{field} is {media_type:?}, which has no OCI equivalent")]
    LayerType {
        /// `layers[N].mediaType`.
        field: String,
        /// The value found.
        media_type: MediaType,
    },
    /// A member that Docker does not define would become an OCI field.
    #[error("{field} is not defined by the docker format and would change meaning as an OCI field")]
    Member {
        /// The member name: `annotations`, `artifactType` or `subject`.
        field: String,
    },
}

/// Why an OCI document has no Docker equivalent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToDockerError {
    /// `schemaVersion` is not 2.
    #[error("schemaVersion is {found}, only 2 converts")]
    SchemaVersion {
        /// The value found.
        found: u32,
    },
    /// The top-level `mediaType` is set and is not the OCI type this conversion reads.
    #[error("mediaType is {found:?}, expected {expected:?}")]
    MediaType {
        /// The value found.
        found: MediaType,
        /// The OCI media type expected.
        expected: &'static str,
    },
    /// A field the Docker format has no place for is set.
    #[error("{field} is set, and the docker format has no such field")]
    NoField {
        /// The JSON path of the field, such as `subject` or `layers[1].annotations`.
        field: String,
    },
    /// The config type has no Docker equivalent.
    #[error("{field} is {media_type:?}, which has no docker equivalent")]
    ConfigType {
        /// `config.mediaType`.
        field: String,
        /// The value found.
        media_type: MediaType,
    },
    /// A layer type has no Docker equivalent (Docker layers are gzip only).
    #[error("{field} is {media_type:?}, which has no docker equivalent")]
    LayerType {
        /// `layers[N].mediaType`.
        field: String,
        /// The value found.
        media_type: MediaType,
    },
    /// An index entry has no `platform`, which the Docker manifest list requires.
    #[error("{field} is missing, and a docker manifest list requires it")]
    MissingPlatform {
        /// `manifests[N].platform`.
        field: String,
    },
}

/// The OCI layer type equivalent to a Docker layer type, if any.
pub fn oci_layer_type(docker: &str) -> Option<&'static str> {
    match docker {
        media_type::DOCKER_LAYER_GZIP => Some(media_type::LAYER_TAR_GZIP),
        media_type::DOCKER_LAYER_TAR => Some(media_type::LAYER_TAR),
        media_type::DOCKER_FOREIGN_LAYER_GZIP => Some(media_type::LAYER_NONDISTRIBUTABLE_TAR_GZIP),
        _ => None,
    }
}

/// The Docker layer type equivalent to an OCI layer type, if any.
pub fn docker_layer_type(oci: &str) -> Option<&'static str> {
    match oci {
        media_type::LAYER_TAR_GZIP => Some(media_type::DOCKER_LAYER_GZIP),
        media_type::LAYER_TAR => Some(media_type::DOCKER_LAYER_TAR),
        media_type::LAYER_NONDISTRIBUTABLE_TAR_GZIP => Some(media_type::DOCKER_FOREIGN_LAYER_GZIP),
        _ => None,
    }
}

/// Top-level member names that Docker leaves undefined and OCI defines.
const OCI_ONLY_MEMBERS: [&str; 3] = ["annotations", "artifactType", "subject"];

fn check_oci_only_members(extra: &BTreeMap<String, serde_json::Value>) -> Result<(), ToOciError> {
    match OCI_ONLY_MEMBERS.iter().find(|m| extra.contains_key(**m)) {
        Some(m) => Err(ToOciError::Member {
            field: (*m).to_owned(),
        }),
        None => Ok(()),
    }
}

/// Refuses what a Docker descriptor cannot hold; drops an empty `annotations` map.
fn descriptor_to_docker(d: &Descriptor, field: &str) -> Result<Descriptor, ToDockerError> {
    let no_field = |name: &str| ToDockerError::NoField {
        field: format!("{field}.{name}"),
    };
    if d.annotations.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(no_field("annotations"));
    }
    if d.data.is_some() {
        return Err(no_field("data"));
    }
    if d.artifact_type.is_some() {
        return Err(no_field("artifactType"));
    }
    Ok(Descriptor {
        annotations: None,
        ..d.clone()
    })
}

fn check_oci_envelope(
    schema_version: u32,
    media_type: Option<&MediaType>,
    expected: &'static str,
    artifact_type: Option<&MediaType>,
    subject: Option<&Descriptor>,
    annotations: Option<&crate::Annotations>,
) -> Result<(), ToDockerError> {
    if schema_version != SCHEMA_VERSION {
        return Err(ToDockerError::SchemaVersion {
            found: schema_version,
        });
    }
    if let Some(found) = media_type.filter(|mt| *mt != expected) {
        return Err(ToDockerError::MediaType {
            found: found.clone(),
            expected,
        });
    }
    let no_field = |field: &str| ToDockerError::NoField {
        field: field.to_owned(),
    };
    if artifact_type.is_some() {
        return Err(no_field("artifactType"));
    }
    if subject.is_some() {
        return Err(no_field("subject"));
    }
    if annotations.is_some_and(|a| !a.is_empty()) {
        return Err(no_field("annotations"));
    }
    Ok(())
}

impl DockerManifest {
    /// The OCI image manifest equivalent to this one (see the module docs).
    pub fn to_oci(&self) -> Result<ImageManifest, ToOciError> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(ToOciError::SchemaVersion {
                found: self.schema_version,
            });
        }
        if self.media_type != media_type::DOCKER_MANIFEST {
            return Err(ToOciError::MediaType {
                found: self.media_type.clone(),
                expected: media_type::DOCKER_MANIFEST,
            });
        }
        check_oci_only_members(&self.extra)?;
        let mut config = self.config.clone();
        match config.media_type.as_str() {
            media_type::DOCKER_CONFIG => config.media_type = media_type::IMAGE_CONFIG.into(),
            media_type::IMAGE_CONFIG => {}
            _ => {
                return Err(ToOciError::ConfigType {
                    field: "config.mediaType".to_owned(),
                    media_type: config.media_type,
                });
            }
        }
        let layers = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let mt = layer.media_type.as_str();
                let media_type = if let Some(oci) = oci_layer_type(mt) {
                    MediaType::from(oci)
                } else if media_type::OCI_LAYER_TYPES.contains(&mt) {
                    layer.media_type.clone()
                } else {
                    return Err(ToOciError::LayerType {
                        field: format!("layers[{i}].mediaType"),
                        media_type: layer.media_type.clone(),
                    });
                };
                Ok(Descriptor {
                    media_type,
                    ..layer.clone()
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ImageManifest {
            extra: self.extra.clone(),
            ..ImageManifest::new(config, layers)
        })
    }

    /// The Docker manifest equivalent to an OCI image manifest (see the module docs).
    pub fn from_oci(manifest: &ImageManifest) -> Result<DockerManifest, ToDockerError> {
        check_oci_envelope(
            manifest.schema_version,
            manifest.media_type.as_ref(),
            media_type::IMAGE_MANIFEST,
            manifest.artifact_type.as_ref(),
            manifest.subject.as_ref(),
            manifest.annotations.as_ref(),
        )?;
        let mut config = descriptor_to_docker(&manifest.config, "config")?;
        match config.media_type.as_str() {
            media_type::IMAGE_CONFIG => config.media_type = media_type::DOCKER_CONFIG.into(),
            media_type::DOCKER_CONFIG => {}
            _ => {
                return Err(ToDockerError::ConfigType {
                    field: "config.mediaType".to_owned(),
                    media_type: config.media_type,
                });
            }
        }
        let layers = manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let field = format!("layers[{i}]");
                let mut layer = descriptor_to_docker(layer, &field)?;
                let mt = layer.media_type.as_str();
                if let Some(docker) = docker_layer_type(mt) {
                    layer.media_type = docker.into();
                } else if !matches!(
                    mt,
                    media_type::DOCKER_LAYER_GZIP | media_type::DOCKER_FOREIGN_LAYER_GZIP
                ) {
                    return Err(ToDockerError::LayerType {
                        field: format!("{field}.mediaType"),
                        media_type: layer.media_type,
                    });
                }
                Ok(layer)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DockerManifest {
            schema_version: SCHEMA_VERSION,
            media_type: media_type::DOCKER_MANIFEST.into(),
            config,
            layers,
            extra: manifest.extra.clone(),
        })
    }
}

impl DockerManifestList {
    /// The OCI image index equivalent to this list; entries are copied unchanged (see the
    /// module docs).
    pub fn to_oci(&self) -> Result<ImageIndex, ToOciError> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(ToOciError::SchemaVersion {
                found: self.schema_version,
            });
        }
        if self.media_type != media_type::DOCKER_MANIFEST_LIST {
            return Err(ToOciError::MediaType {
                found: self.media_type.clone(),
                expected: media_type::DOCKER_MANIFEST_LIST,
            });
        }
        check_oci_only_members(&self.extra)?;
        Ok(ImageIndex {
            extra: self.extra.clone(),
            ..ImageIndex::new(self.manifests.clone())
        })
    }

    /// The Docker manifest list equivalent to an OCI index; entries are copied unchanged
    /// apart from dropping empty annotation maps (see the module docs).
    pub fn from_oci(index: &ImageIndex) -> Result<DockerManifestList, ToDockerError> {
        check_oci_envelope(
            index.schema_version,
            index.media_type.as_ref(),
            media_type::IMAGE_INDEX,
            index.artifact_type.as_ref(),
            index.subject.as_ref(),
            index.annotations.as_ref(),
        )?;
        let manifests = index
            .manifests
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let field = format!("manifests[{i}]");
                if entry.platform.is_none() {
                    return Err(ToDockerError::MissingPlatform {
                        field: format!("{field}.platform"),
                    });
                }
                descriptor_to_docker(entry, &field)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DockerManifestList {
            schema_version: SCHEMA_VERSION,
            media_type: media_type::DOCKER_MANIFEST_LIST.into(),
            manifests,
            extra: index.extra.clone(),
        })
    }
}
