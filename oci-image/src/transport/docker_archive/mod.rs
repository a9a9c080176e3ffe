//! `docker-archive:FILE[:NAME:TAG]`: the `docker save` format, read as a copy
//! [`Source`] and written from any source.
//!
//! # The format
//!
//! A tar holding `manifest.json` (`[{"Config", "RepoTags", "Layers", "LayerSources"?}]`),
//! the image config and one uncompressed tar per layer, under names that vary by writer:
//! `<id>/layer.tar` (classic `docker save`, repeated layers as symlinks), `<hex>.tar` and
//! `<hex>.json` (skopeo, with `<id>/layer.tar` symlinks, `<id>/json` and `<id>/VERSION`
//! for old loaders), `blobs/sha256/<hex>` (Docker 25 and later).
//!
//! Reading synthesizes a Docker v2.2 manifest as the root: the config under
//! `application/vnd.docker.container.image.v1+json`; an uncompressed layer file under
//! its diffID and [`DOCKER_LAYER_TAR`] (verified against the diffID as it is read); a
//! gzip or zstd layer file under the digest of its bytes (hashed once when the archive is
//! opened) and the gzip (or OCI zstd) layer type.
//!
//! Writing produces byte for byte what skopeo (containers/image 5.x) writes for the same
//! image and tags.
//!
//! Reading is [`read`] ([`DockerArchiveSource`]), writing [`write`]
//! ([`write_docker_archive`], [`DockerArchiveDestination`]).
//!
//! # Security
//!
//! The archive is indexed by [`TarIndex`], which refuses names escaping the archive and
//! resolves links inside it only. `manifest.json` and the config are read with a size
//! limit; every blob served is verified (digest and size) while it is read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use oci_digest::{Digester, VerifyError, VerifyingReader};
use oci_spec_types::document::AnyManifest;
use oci_spec_types::{Algorithm, Descriptor, Digest, DockerManifest, MediaType, media_type};
use serde::{Deserialize, Serialize};

use super::layout::LayoutSource;
use super::{
    BlobOpenError, BlobReader, Capabilities, Damage, Destination, DestinationError, Location,
    Source, Transport, describe_destination, read_error, scratch_beside,
};
use crate::layout::Layout;
use crate::resolve::MAX_DOCUMENT_SIZE;
use crate::tar_index::{EntrySpan, TarIndex, TarIndexError};

pub use oci_spec_types::media_type::DOCKER_LAYER_TAR;
pub use read::DockerArchiveSource;
pub use write::{DockerArchiveDestination, DockerArchiveWritten, write_docker_archive};

mod read;
mod write;

const MANIFEST_JSON: &str = "manifest.json";
const REPOSITORIES: &str = "repositories";
const BUFFER: usize = 256 * 1024;

/// Why a docker-archive could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum DockerArchiveError {
    /// The tar itself is unreadable or hostile.
    #[error(transparent)]
    Archive(#[from] TarIndexError),
    /// `manifest.json` or the config is missing or invalid.
    #[error("docker-archive {} is invalid", file.display())]
    Invalid {
        /// The archive.
        file: PathBuf,
        /// What is wrong, naming the entry or field.
        #[source]
        problem: ArchiveProblem,
    },
    /// A layer file named by `manifest.json` is not in the archive.
    #[error("docker-archive {}: layer {diff_id} is missing: no entry {entry}", file.display())]
    MissingLayer {
        /// The archive.
        file: PathBuf,
        /// The entry named in `Layers`.
        entry: String,
        /// The layer's diffID.
        diff_id: Digest,
    },
    /// NAME:TAG is not in the archive.
    #[error("docker-archive {}: no image is tagged {name}; it holds {}", file.display(), list(available))]
    NotFound {
        /// The archive.
        file: PathBuf,
        /// The name asked for (normalized).
        name: String,
        /// The images there: their tags, or `@N` for an untagged one.
        available: Vec<String>,
    },
    /// No NAME given and several images in the archive.
    #[error(
        "docker-archive {} holds {} images ({}): name one as docker-archive:FILE:NAME:TAG or docker-archive:FILE:@N",
        file.display(), available.len(), list(available)
    )]
    Ambiguous {
        /// The archive.
        file: PathBuf,
        /// The images there: their tags, or `@N` for an untagged one.
        available: Vec<String>,
    },
    /// NAME:TAG does not parse as an image reference with a tag.
    #[error("invalid docker-archive image name {name:?}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong.
        #[source]
        problem: NameProblem,
    },
    /// The destination exists and is not empty.
    #[error("{} already exists and is not empty", file.display())]
    Exists {
        /// The destination.
        file: PathBuf,
    },
    /// A blob of the source could not be read or is damaged.
    #[error(transparent)]
    Blob(#[from] BlobOpenError),
    /// The image to write is not a usable image manifest, or its config does not match it.
    #[error("manifest {digest} cannot be written to a docker-archive")]
    Manifest {
        /// The manifest's digest.
        digest: Digest,
        /// What is wrong, naming the field.
        #[source]
        problem: ManifestProblem,
    },
    /// A layer's uncompressed content does not match the diffID the config gives it.
    #[error(
        "layer {digest}: its uncompressed digest is {actual}, but the config's diffID is {expected}"
    )]
    DiffIdMismatch {
        /// The layer blob.
        digest: Digest,
        /// The diffID in the config.
        expected: Digest,
        /// The digest of the uncompressed content.
        actual: Digest,
    },
    /// A compressed layer does not decompress.
    #[error("layer {digest}: cannot decompress")]
    Decompress {
        /// The layer blob.
        digest: Digest,
        /// The decoder's error.
        source: io::Error,
    },
    /// Writing the archive (or a temp file) failed.
    #[error("cannot write {}", file.display())]
    Io {
        /// The file being written.
        file: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// What is wrong with a docker-archive's `manifest.json` or image config.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveProblem {
    /// The archive has no `manifest.json`.
    #[error("no manifest.json in the archive")]
    NoManifest,
    /// `manifest.json` does not parse.
    #[error("manifest.json is invalid")]
    ManifestJson(#[source] serde_json::Error),
    /// `manifest.json` lists no image.
    #[error("manifest.json lists no image")]
    NoImage,
    /// The config `manifest.json` names is not in the archive.
    #[error("config {entry} is not in the archive")]
    NoConfig {
        /// The entry named in `Config`.
        entry: String,
    },
    /// The config does not parse.
    #[error("config {entry} is invalid")]
    ConfigJson {
        /// The entry named in `Config`.
        entry: String,
        /// What the parser found.
        #[source]
        source: serde_json::Error,
    },
    /// The config has no `rootfs`.
    #[error("config {entry} has no rootfs")]
    NoRootFs {
        /// The entry named in `Config`.
        entry: String,
    },
    /// `Layers` and the config's diffIDs differ in number.
    #[error("manifest.json lists {layers} layers, config {entry} has {diff_ids} diffIDs")]
    LayerCount {
        /// The entry named in `Config`.
        entry: String,
        /// Entries of `Layers`.
        layers: usize,
        /// The config's diffIDs.
        diff_ids: usize,
    },
    /// One layer file is named for two different diffIDs.
    #[error("layer file {entry} stands for two diffIDs, {first} and {second}")]
    SharedLayerFile {
        /// The layer file.
        entry: String,
        /// The first diffID it stands for.
        first: Digest,
        /// The other.
        second: Digest,
    },
}

/// Why a NAME:TAG (or `@N`) does not name an image of a docker-archive.
#[derive(Debug, thiserror::Error)]
pub enum NameProblem {
    /// Not an image reference.
    #[error(transparent)]
    Reference(#[from] oci_naming::Error),
    /// A digest reference.
    #[error("a digest reference cannot name an archive entry")]
    Digest,
    /// `@` not followed by a number.
    #[error("@ must be followed by an image index")]
    NotAnIndex,
}

/// Why an image cannot be written to a docker-archive.
#[derive(Debug, thiserror::Error)]
pub enum ManifestProblem {
    /// The manifest does not parse.
    #[error("it is not a valid manifest")]
    Parse(#[source] oci_spec_types::document::AnyManifestError),
    /// An index where one image manifest is needed.
    #[error("it is an index: a docker-archive holds one image manifest (choose a platform)")]
    Index,
    /// The config has no usable `rootfs.diff_ids`.
    #[error("config {config} has no valid rootfs.diff_ids")]
    NoDiffIds {
        /// The config.
        config: Digest,
    },
    /// The manifest's layers and the config's diffIDs differ in number.
    #[error("it has {layers} layers, config {config} has {diff_ids} diffIDs")]
    LayerCount {
        /// The config.
        config: Digest,
        /// The manifest's layers.
        layers: usize,
        /// The config's diffIDs.
        diff_ids: usize,
    },
    /// The config is not a JSON object.
    #[error("config {config} is not a JSON object")]
    ConfigNotObject {
        /// The config.
        config: Digest,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "no image".to_owned()
    } else {
        items.join(", ")
    }
}

impl DockerArchiveError {
    /// Whether this is a check failure (exit 1: a damaged or invalid archive or blob)
    /// rather than a usage or I/O error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            DockerArchiveError::Archive(e) => e.is_check_failure(),
            DockerArchiveError::Blob(e) => e.is_check_failure(),
            DockerArchiveError::Invalid { .. }
            | DockerArchiveError::MissingLayer { .. }
            | DockerArchiveError::Manifest { .. }
            | DockerArchiveError::DiffIdMismatch { .. }
            | DockerArchiveError::Decompress { .. } => true,
            DockerArchiveError::NotFound { .. }
            | DockerArchiveError::Ambiguous { .. }
            | DockerArchiveError::BadName { .. }
            | DockerArchiveError::Exists { .. }
            | DockerArchiveError::Io { .. } => false,
        }
    }
}

/// One image of `manifest.json`, as read.
#[derive(Debug, Deserialize)]
struct ItemIn {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
    #[serde(rename = "LayerSources", default)]
    layer_sources: Option<BTreeMap<String, Descriptor>>,
}

/// One image of `manifest.json`, as skopeo writes it (members in this order).
#[derive(Debug, Serialize)]
struct ItemOut<'a> {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: &'a [String],
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// The part of an image config this module needs.
#[derive(Debug, Deserialize)]
struct ConfigRootFs {
    rootfs: Option<RootFs>,
}

#[derive(Debug, Deserialize)]
struct RootFs {
    diff_ids: Vec<Digest>,
}

/// The first (up to) four bytes of a stream, enough to recognize its compression.
fn read_head(reader: &mut impl Read) -> io::Result<([u8; 4], usize)> {
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((head, got))
}

/// Whether a stream starting with `head` is gzip, and whether it is zstd.
fn compression_of(head: &[u8]) -> (bool, bool) {
    let compression = oci_layer::detect_compression(head);
    (
        compression == oci_spec_types::media_type::Compression::Gzip,
        compression == oci_spec_types::media_type::Compression::Zstd,
    )
}

/// A tagged name, normalized as docker does (`busybox` -> `docker.io/library/busybox:latest`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct NormalTag {
    name: String,
    tag: String,
}

impl std::fmt::Display for NormalTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

fn normalize_tag(name: &str) -> Result<NormalTag, DockerArchiveError> {
    let bad = |problem: NameProblem| DockerArchiveError::BadName {
        name: name.to_owned(),
        problem,
    };
    let reference = oci_naming::Reference::parse_normalized(name).map_err(|e| bad(e.into()))?;
    if reference.digest().is_some() {
        return Err(bad(NameProblem::Digest));
    }
    let reference = reference.with_default_tag();
    Ok(NormalTag {
        name: reference.name(),
        tag: reference
            .tag()
            .unwrap_or(oci_naming::DEFAULT_TAG)
            .to_owned(),
    })
}
