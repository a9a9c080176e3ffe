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

use oci_digest::PutError;

use super::layout::{LayoutSource, has_blob, put_blob};
use super::{
    BlobOpenError, BlobReader, BlobSink, Capabilities, Damage, Destination, DestinationError,
    Location, Source, Transport, read_error, scratch_beside,
};
use crate::layout::Layout;
use crate::resolve::MAX_DOCUMENT_SIZE;
use crate::tar_index::{EntrySpan, TarIndex, TarIndexError};

pub use oci_spec_types::media_type::DOCKER_LAYER_TAR;

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
    #[error("docker-archive {}: {message}", file.display())]
    Invalid {
        /// The archive.
        file: PathBuf,
        /// What is wrong, naming the entry or field.
        message: String,
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
    #[error("invalid docker-archive image name {name:?}: {message}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong.
        message: String,
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
    #[error("manifest {digest}: {message}")]
    Manifest {
        /// The manifest's digest.
        digest: Digest,
        /// What is wrong, naming the field.
        message: String,
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
    #[error("layer {digest}: cannot decompress: {source}")]
    Decompress {
        /// The layer blob.
        digest: Digest,
        /// The decoder's error.
        source: io::Error,
    },
    /// Writing the archive (or a temp file) failed.
    #[error("cannot write {}: {source}", file.display())]
    Io {
        /// The file being written.
        file: PathBuf,
        /// The I/O error.
        source: io::Error,
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

/// A layer file of the archive.
#[derive(Debug)]
struct LayerFile {
    /// Where its data is (links resolved).
    span: EntrySpan,
}

/// `docker-archive:FILE[:NAME:TAG]` as a copy source.
#[derive(Debug)]
pub struct DockerArchiveSource {
    index: TarIndex,
    file: PathBuf,
    described: String,
    root: Descriptor,
    manifest: Vec<u8>,
    config: Vec<u8>,
    config_digest: Digest,
    layers: BTreeMap<Digest, LayerFile>,
    repo_tags: Vec<String>,
}

impl DockerArchiveSource {
    /// Opens `docker-archive:FILE[:NAME:TAG]`; `name` picks a RepoTags entry, normalized as
    /// docker does (`busybox` is `docker.io/library/busybox:latest`), or `@N` the N-th image
    /// (from 0); None: the archive must hold exactly one image. Root: a synthesized Docker
    /// v2.2 manifest. A compressed archive is decompressed into a temp file in `scratch`.
    pub fn open(
        file: &Path,
        name: Option<&str>,
        scratch: &Path,
    ) -> Result<DockerArchiveSource, DockerArchiveError> {
        let index = TarIndex::open(file, scratch)?;
        let invalid = |message: String| DockerArchiveError::Invalid {
            file: file.to_path_buf(),
            message,
        };
        let bytes = index
            .read_entry(MANIFEST_JSON, MAX_DOCUMENT_SIZE)?
            .ok_or_else(|| invalid(format!("no {MANIFEST_JSON} in the archive")))?;
        let mut items: Vec<ItemIn> = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("{MANIFEST_JSON} is invalid: {e}")))?;
        let chosen = choose(file, &items, name)?;
        let item = items.swap_remove(chosen);

        let config = index
            .read_entry(&item.config, MAX_DOCUMENT_SIZE)?
            .ok_or_else(|| invalid(format!("config {} is not in the archive", item.config)))?;
        let config_digest = Digester::digest_bytes(Algorithm::Sha256, &config).digest;
        let parsed: ConfigRootFs = serde_json::from_slice(&config)
            .map_err(|e| invalid(format!("config {} is invalid: {e}", item.config)))?;
        let diff_ids = parsed
            .rootfs
            .ok_or_else(|| invalid(format!("config {} has no rootfs", item.config)))?
            .diff_ids;
        if diff_ids.len() != item.layers.len() {
            return Err(invalid(format!(
                "{MANIFEST_JSON} lists {} layers, config {} has {} diffIDs",
                item.layers.len(),
                item.config,
                diff_ids.len()
            )));
        }

        let mut layers = BTreeMap::new();
        let mut descriptors = Vec::with_capacity(diff_ids.len());
        // Entry (resolved to its data) -> the diffID it was given, to refuse one file
        // standing for two layers.
        let mut used: BTreeMap<(u64, u64), &Digest> = BTreeMap::new();
        // A compressed file is hashed once, however often it is listed.
        let mut hashed: BTreeMap<(u64, u64), (Digest, &'static str)> = BTreeMap::new();
        for (entry, diff_id) in item.layers.iter().zip(&diff_ids) {
            let Some(span) = index.lookup(entry)? else {
                if let Some(foreign) = item
                    .layer_sources
                    .as_ref()
                    .and_then(|s| s.get(diff_id.as_str()))
                {
                    descriptors.push(foreign.clone());
                    continue;
                }
                return Err(DockerArchiveError::MissingLayer {
                    file: file.to_path_buf(),
                    entry: entry.clone(),
                    diff_id: diff_id.clone(),
                });
            };
            let key = (span.offset(), span.size());
            match used.get(&key) {
                Some(other) if *other != diff_id => {
                    return Err(invalid(format!(
                        "layer file {entry} stands for two diffIDs, {other} and {diff_id}"
                    )));
                }
                _ => {
                    used.insert(key, diff_id);
                }
            }
            let (digest, media) = match hashed.get(&key) {
                Some(known) => known.clone(),
                None => {
                    let found = match sniff(index.open_span(span), &index)? {
                        Sniffed::Plain => (diff_id.clone(), DOCKER_LAYER_TAR),
                        Sniffed::Compressed { digest, gzip } => (
                            digest,
                            if gzip {
                                media_type::DOCKER_LAYER_GZIP
                            } else {
                                media_type::LAYER_TAR_ZSTD
                            },
                        ),
                    };
                    hashed.insert(key, found.clone());
                    found
                }
            };
            descriptors.push(Descriptor::new(media, digest.clone(), span.size()));
            layers.insert(
                digest,
                LayerFile { span },
            );
        }

        let manifest = DockerManifest {
            schema_version: 2,
            media_type: MediaType::from(media_type::DOCKER_MANIFEST),
            config: Descriptor::new(
                media_type::DOCKER_CONFIG,
                config_digest.clone(),
                config.len() as u64,
            ),
            layers: descriptors,
            extra: BTreeMap::new(),
        };
        let manifest = serde_json::to_vec(&manifest).map_err(|e| DockerArchiveError::Io {
            file: file.to_path_buf(),
            source: io::Error::other(e),
        })?;
        let root = Descriptor::new(
            media_type::DOCKER_MANIFEST,
            Digester::digest_bytes(Algorithm::Sha256, &manifest).digest,
            manifest.len() as u64,
        );
        let described = match name {
            Some(n) => format!("docker-archive:{}:{n}", file.display()),
            None => format!("docker-archive:{}", file.display()),
        };
        Ok(DockerArchiveSource {
            index,
            file: file.to_path_buf(),
            described,
            root,
            manifest,
            config,
            config_digest,
            layers,
            repo_tags: item.repo_tags.unwrap_or_default(),
        })
    }

    /// The `RepoTags` of the chosen image, as the archive gives them.
    pub fn repo_tags(&self) -> &[String] {
        &self.repo_tags
    }

    /// The synthesized manifest's bytes (what [`Source::root`] describes).
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.manifest
    }
}

enum Sniffed {
    Plain,
    Compressed { digest: Digest, gzip: bool },
}

/// Looks at the first bytes of a layer file; hashes a compressed one whole.
fn sniff(mut reader: impl Read, index: &TarIndex) -> Result<Sniffed, DockerArchiveError> {
    let io_err = |source| {
        DockerArchiveError::Archive(TarIndexError::Io {
            file: index.path().to_path_buf(),
            source,
        })
    };
    let (head, got) = read_head(&mut reader).map_err(io_err)?;
    let (gzip, zstd) = compression_of(&head[..got]);
    if !gzip && !zstd {
        return Ok(Sniffed::Plain);
    }
    let mut digester = Digester::new(Algorithm::Sha256);
    digester.update(&head[..got]);
    io::copy(&mut reader, &mut digester).map_err(io_err)?;
    Ok(Sniffed::Compressed {
        digest: digester.finish().digest,
        gzip,
    })
}

/// Picks the image of `manifest.json` that `name` names.
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

fn choose(file: &Path, items: &[ItemIn], name: Option<&str>) -> Result<usize, DockerArchiveError> {
    let available = || -> Vec<String> {
        items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| match item.repo_tags.as_deref() {
                Some(tags) if !tags.is_empty() => tags.to_vec(),
                _ => vec![format!("@{i}")],
            })
            .collect()
    };
    let Some(name) = name else {
        return match items.len() {
            1 => Ok(0),
            0 => Err(DockerArchiveError::Invalid {
                file: file.to_path_buf(),
                message: format!("{MANIFEST_JSON} lists no image"),
            }),
            _ => Err(DockerArchiveError::Ambiguous {
                file: file.to_path_buf(),
                available: available(),
            }),
        };
    };
    if let Some(n) = name.strip_prefix('@') {
        let n: usize = n.parse().map_err(|_| DockerArchiveError::BadName {
            name: name.to_owned(),
            message: "@ must be followed by an image index".to_owned(),
        })?;
        return if n < items.len() {
            Ok(n)
        } else {
            Err(DockerArchiveError::NotFound {
                file: file.to_path_buf(),
                name: name.to_owned(),
                available: available(),
            })
        };
    }
    let wanted = normalize_tag(name)?;
    for (i, item) in items.iter().enumerate() {
        for tag in item.repo_tags.as_deref().unwrap_or_default() {
            if normalize_tag(tag).is_ok_and(|t| t == wanted) {
                return Ok(i);
            }
        }
    }
    Err(DockerArchiveError::NotFound {
        file: file.to_path_buf(),
        name: wanted.to_string(),
        available: available(),
    })
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
    let bad = |message: String| DockerArchiveError::BadName {
        name: name.to_owned(),
        message,
    };
    let reference =
        oci_naming::Reference::parse_normalized(name).map_err(|e| bad(e.to_string()))?;
    if reference.digest().is_some() {
        return Err(bad(
            "a digest reference cannot name an archive entry".to_owned()
        ));
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

impl Source for DockerArchiveSource {
    fn describe(&self) -> String {
        self.described.clone()
    }

    fn transport(&self) -> Transport {
        Transport::DockerArchive
    }

    fn location(&self) -> Location {
        Location::Path(self.file.clone())
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError> {
        let digest = &descriptor.digest;
        let inner: BlobReader<'_> = if *digest == self.root.digest {
            Box::new(Cursor::new(&self.manifest[..]))
        } else if *digest == self.config_digest {
            Box::new(Cursor::new(&self.config[..]))
        } else if let Some(layer) = self.layers.get(digest) {
            if layer.span.size() != descriptor.size {
                return Err(BlobOpenError::damaged(
                    self,
                    digest,
                    Damage::Size {
                        expected: descriptor.size,
                        actual: layer.span.size(),
                    },
                ));
            }
            Box::new(self.index.open_span(layer.span))
        } else {
            return Err(BlobOpenError::missing(self, digest));
        };
        let verified = VerifyingReader::new(inner, digest, descriptor.size)
            .map_err(|e| BlobOpenError::damaged(self, digest, e))?;
        Ok(Box::new(verified))
    }
}

/// What [`write_docker_archive`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerArchiveWritten {
    /// The config's digest.
    pub config: Digest,
    /// The number of layers of the image (a layer repeated counts each time).
    pub layers: usize,
    /// The size of the archive written.
    pub bytes: u64,
}

/// Writes the image `manifest` (an OCI or Docker image manifest, read through `source`)
/// as a docker-archive at `file` (refused when `file` exists and is not empty, as skopeo
/// does; written to a temp file and renamed). Layers are stored uncompressed, named by
/// diffID, each diffID verified against the config. The bytes are those skopeo writes
/// for the same image and tags (`repo_tags` are normalized as docker does).
pub fn write_docker_archive(
    source: &dyn Source,
    manifest: &Descriptor,
    repo_tags: &[String],
    file: &Path,
    scratch: &Path,
) -> Result<DockerArchiveWritten, DockerArchiveError> {
    let io_err = |file: &Path| {
        let file = file.to_path_buf();
        move |source| DockerArchiveError::Io {
            file: file.clone(),
            source,
        }
    };
    match fs::metadata(file) {
        Ok(m) if m.len() > 0 => {
            return Err(DockerArchiveError::Exists {
                file: file.to_path_buf(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(file)(e)),
    }
    let mut tags: Vec<NormalTag> = Vec::new();
    for tag in repo_tags {
        let tag = normalize_tag(tag)?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }

    let manifest_err = |message: String| DockerArchiveError::Manifest {
        digest: manifest.digest.clone(),
        message,
    };
    let bytes = source.read_small(manifest, MAX_DOCUMENT_SIZE)?;
    let parsed = AnyManifest::parse(&bytes, Some(manifest.media_type.as_str()))
        .map_err(|e| manifest_err(e.to_string()))?;
    let (Some(config), Some(layers)) = (parsed.config(), parsed.layers()) else {
        return Err(manifest_err(
            "is an index: a docker-archive holds one image manifest (choose a platform)".to_owned(),
        ));
    };
    let config_bytes = source.read_small(config, MAX_DOCUMENT_SIZE)?;
    let diff_ids = serde_json::from_slice::<ConfigRootFs>(&config_bytes)
        .ok()
        .and_then(|c| c.rootfs)
        .map(|r| r.diff_ids)
        .ok_or_else(|| {
            manifest_err(format!(
                "config {} has no valid rootfs.diff_ids",
                config.digest
            ))
        })?;
    if diff_ids.len() != layers.len() {
        return Err(manifest_err(format!(
            "has {} layers, config {} has {} diffIDs",
            layers.len(),
            config.digest,
            diff_ids.len()
        )));
    }
    let members = top_level_members(&config_bytes)
        .ok_or_else(|| manifest_err(format!("config {} is not a JSON object", config.digest)))?;

    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let base = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = tempfile::Builder::new()
        .prefix(&format!(".{base}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    let temp_path = temp.path().to_path_buf();
    let mut out = GoTar::new(BufWriter::with_capacity(BUFFER, temp.as_file()));
    let werr = io_err(&temp_path);

    // The layers, each once, in order.
    let mut written = BTreeSet::new();
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        if written.insert(diff_id.clone()) {
            write_layer(source, layer, diff_id, scratch, &mut out, &temp_path)?;
        }
    }
    out.bytes(&format!("{}.json", config.digest.encoded()), &config_bytes)
        .map_err(&werr)?;

    // The legacy (docker load of Docker < 1.10) layout: one directory per layer, as
    // containers/image computes it.
    let mut chain: Option<Digest> = None;
    let mut last_id: Option<String> = None;
    let mut legacy_done = BTreeSet::new();
    for (i, diff_id) in diff_ids.iter().enumerate() {
        let mut fields: BTreeMap<&str, String> = BTreeMap::new();
        if let Some(parent) = &last_id {
            fields.insert("parent", json_string(parent));
        }
        if i + 1 == diff_ids.len() {
            for attr in [
                "architecture",
                "config",
                "container",
                "container_config",
                "created",
                "docker_version",
                "os",
            ] {
                let value = members
                    .iter()
                    .rev()
                    .find(|(k, _)| k == attr)
                    .map_or_else(|| "null".to_owned(), |(_, v)| go_compact(v));
                fields.insert(attr, value);
            }
        }
        let chain_id = match chain {
            None => diff_id.clone(),
            Some(c) => sha256(format!("{c} {diff_id}").as_bytes()),
        };
        fields.insert("layer_id", json_string(chain_id.as_str()));
        let id = sha256(json_object(&fields).as_bytes()).encoded().to_owned();
        fields.remove("layer_id");
        fields.insert("id", json_string(&id));
        if legacy_done.insert(id.clone()) {
            out.symlink(
                &format!("{id}/layer.tar"),
                &format!("../{}.tar", diff_id.encoded()),
            )
            .map_err(&werr)?;
            out.bytes(&format!("{id}/VERSION"), b"1.0").map_err(&werr)?;
            out.bytes(&format!("{id}/json"), json_object(&fields).as_bytes())
                .map_err(&werr)?;
        }
        chain = Some(chain_id);
        last_id = Some(id);
    }

    let tag_strings: Vec<String> = tags.iter().map(ToString::to_string).collect();
    let items = [ItemOut {
        config: format!("{}.json", config.digest.encoded()),
        repo_tags: &tag_strings,
        layers: diff_ids
            .iter()
            .map(|d| format!("{}.tar", d.encoded()))
            .collect(),
    }];
    let manifest_json = serde_json::to_vec(&items).map_err(|e| werr(io::Error::other(e)))?;
    out.bytes(MANIFEST_JSON, &manifest_json).map_err(&werr)?;
    let mut repositories: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    if let Some(last) = &last_id {
        for tag in &tags {
            repositories
                .entry(&tag.name)
                .or_default()
                .insert(&tag.tag, last);
        }
    }
    let repositories = serde_json::to_vec(&repositories).map_err(|e| werr(io::Error::other(e)))?;
    out.bytes(REPOSITORIES, &repositories).map_err(&werr)?;
    let bytes = out.finish().map_err(&werr)?;
    temp.as_file().sync_all().map_err(&werr)?;
    temp.persist(file).map_err(|e| DockerArchiveError::Io {
        file: file.to_path_buf(),
        source: e.error,
    })?;
    Ok(DockerArchiveWritten {
        config: config.digest.clone(),
        layers: layers.len(),
        bytes,
    })
}

fn sha256(bytes: &[u8]) -> Digest {
    Digester::digest_bytes(Algorithm::Sha256, bytes).digest
}

/// A JSON string as Go's encoder writes it (with `<`, `>`, `&` escaped).
fn json_string(s: &str) -> String {
    let plain = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    go_compact(plain.as_bytes())
}

/// `{"k":v,...}` from already-encoded values, keys in order (Go sorts map keys).
fn json_object(fields: &BTreeMap<&str, String>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&json_string(k));
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
}

/// Go's `json.Compact` with HTML escaping, as `json.Marshal` applies it to a
/// `json.RawMessage`: insignificant whitespace dropped, `<` `>` `&` U+2028 U+2029 escaped.
/// `raw` must be valid JSON.
fn go_compact(raw: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
        } else if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
            continue;
        }
        match c {
            b'<' | b'>' | b'&' => {
                out.extend_from_slice(format!("\\u00{c:02x}").as_bytes());
            }
            0xe2 if raw.get(i + 1) == Some(&0x80)
                && matches!(raw.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                let last = if raw[i + 2] == 0xa8 { '8' } else { '9' };
                out.extend_from_slice(format!("\\u202{last}").as_bytes());
                i += 3;
                continue;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The top-level members of a JSON object, each value as its raw bytes, in document
/// order; None when `bytes` is not a valid JSON object.
fn top_level_members(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    // Validate first: the scanner below trusts the syntax.
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if !value.is_object() {
        return None;
    }
    let mut members = Vec::new();
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    };
    // The end (exclusive) of the string starting at `i` (a quote).
    let string_end = |mut i: usize| {
        i += 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => return i + 1,
                _ => i += 1,
            }
        }
        i
    };
    let mut i = skip_ws(0) + 1; // past '{'
    loop {
        i = skip_ws(i);
        if i >= bytes.len() || bytes[i] == b'}' {
            break;
        }
        if bytes[i] == b',' {
            i += 1;
            continue;
        }
        let key_end = string_end(i);
        let key: String = serde_json::from_slice(&bytes[i..key_end]).ok()?;
        i = skip_ws(key_end) + 1; // past ':'
        i = skip_ws(i);
        let start = i;
        match bytes.get(i)? {
            b'"' => i = string_end(i),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while i < bytes.len() {
                    match bytes[i] {
                        b'"' => {
                            i = string_end(i);
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => {
                while i < bytes.len()
                    && !matches!(bytes[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                {
                    i += 1;
                }
            }
        }
        members.push((key, bytes[start..i.min(bytes.len())].to_vec()));
    }
    Some(members)
}

/// Writes one layer, uncompressed, verifying its digest and its diffID.
fn write_layer(
    source: &dyn Source,
    layer: &Descriptor,
    diff_id: &Digest,
    scratch: &Path,
    out: &mut GoTar<BufWriter<&File>>,
    out_path: &Path,
) -> Result<(), DockerArchiveError> {
    let Some(algorithm) = diff_id.algorithm() else {
        return Err(DockerArchiveError::DiffIdMismatch {
            digest: layer.digest.clone(),
            expected: diff_id.clone(),
            actual: layer.digest.clone(),
        });
    };
    let name = format!("{}.tar", diff_id.encoded());
    let mut reader = source.open(layer)?;
    let read_err = |e: io::Error| DockerArchiveError::Blob(read_error(source, layer, &e));
    let (head, got) = read_head(&mut reader).map_err(read_err)?;
    let (gzip, zstd) = compression_of(&head[..got]);
    let mut chained = Cursor::new(&head[..got]).chain(reader);
    let mut digester = Digester::new(algorithm);
    let werr = |e| DockerArchiveError::Io {
        file: out_path.to_path_buf(),
        source: e,
    };
    // A plain layer stored under its diffID is verified by the source's reader already.
    let verified_by_reader = !gzip && !zstd && layer.digest == *diff_id;
    if !gzip && !zstd {
        // Stored as is: the size is the blob's.
        out.header(&name, layer.size, None).map_err(werr)?;
        let mut buf = vec![0u8; BUFFER];
        loop {
            let n = match chained.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            if !verified_by_reader {
                digester.update(&buf[..n]);
            }
            out.data(&buf[..n]).map_err(werr)?;
        }
        out.end_entry(layer.size).map_err(werr)?;
    } else {
        let mut temp = tempfile::tempfile_in(scratch).map_err(|e| DockerArchiveError::Io {
            file: scratch.to_path_buf(),
            source: e,
        })?;
        let terr = |e| DockerArchiveError::Io {
            file: scratch.to_path_buf(),
            source: e,
        };
        let decode_err = |e: io::Error| {
            if VerifyError::from_io(&e).is_some() {
                read_err(e)
            } else {
                DockerArchiveError::Decompress {
                    digest: layer.digest.clone(),
                    source: e,
                }
            }
        };
        let buffered = io::BufReader::with_capacity(BUFFER, chained);
        let mut rest = if gzip {
            let mut decoder = flate2::read::MultiGzDecoder::new(buffered);
            pump(&mut decoder, &mut digester, &mut temp)
                .map_err(|e| e.into_error(decode_err, terr))?;
            decoder.into_inner()
        } else {
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(buffered).map_err(decode_err)?;
            pump(&mut decoder, &mut digester, &mut temp)
                .map_err(|e| e.into_error(decode_err, terr))?;
            decoder.finish()
        };
        // Read the blob to its end, so that its digest is verified.
        io::copy(&mut rest, &mut io::sink()).map_err(read_err)?;
        let size = temp.stream_position().map_err(terr)?;
        temp.rewind().map_err(terr)?;
        out.header(&name, size, None).map_err(werr)?;
        out.copy_file(&mut temp, size).map_err(werr)?;
        out.end_entry(size).map_err(werr)?;
    }
    if verified_by_reader {
        return Ok(());
    }
    let actual = digester.finish().digest;
    if actual != *diff_id {
        return Err(DockerArchiveError::DiffIdMismatch {
            digest: layer.digest.clone(),
            expected: diff_id.clone(),
            actual,
        });
    }
    Ok(())
}

enum PumpError {
    Read(io::Error),
    Write(io::Error),
}

impl PumpError {
    fn into_error(
        self,
        read: impl FnOnce(io::Error) -> DockerArchiveError,
        write: impl FnOnce(io::Error) -> DockerArchiveError,
    ) -> DockerArchiveError {
        match self {
            PumpError::Read(e) => read(e),
            PumpError::Write(e) => write(e),
        }
    }
}

/// Copies `from` into `to`, hashing what passes: `from` is read (decompressed) in this
/// thread while another hashes and writes, through a few recycled buffers.
fn pump(from: &mut impl Read, digester: &mut Digester, to: &mut File) -> Result<(), PumpError> {
    const BUFFERS: usize = 4;
    let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..BUFFERS {
        let _ = empty_tx.send(vec![0u8; BUFFER]);
    }
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> io::Result<()> {
            for (buf, n) in full_rx {
                digester.update(&buf[..n]);
                to.write_all(&buf[..n])?;
                // The reader may be gone (it failed): nothing to recycle for.
                let _ = empty_tx.send(buf);
            }
            Ok(())
        });
        let read_result = 'outer: loop {
            // No buffer coming back: the writer stopped (and says why below).
            let Ok(mut buf) = empty_rx.recv() else {
                break Ok(());
            };
            let n = loop {
                match from.read(&mut buf) {
                    Ok(0) => break 'outer Ok(()),
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break 'outer Err(e),
                }
            };
            if full_tx.send((buf, n)).is_err() {
                break Ok(());
            }
        };
        drop(full_tx);
        let write_result = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the hashing thread panicked")));
        match (read_result, write_result) {
            (Err(e), _) => Err(PumpError::Read(e)),
            (Ok(()), Err(e)) => Err(PumpError::Write(e)),
            (Ok(()), Ok(())) => Ok(()),
        }
    })
}

/// A tar writer producing the bytes of Go's `archive/tar` for the headers containers/image
/// writes: USTAR, mode 0444 (symlinks 0), uid/gid 0, no user names, mtime 0; PAX records
/// only for what USTAR cannot hold.
struct GoTar<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> GoTar<W> {
    fn new(out: W) -> Self {
        GoTar { out, written: 0 }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes the header of an entry (its data follows by [`Self::data`] then
    /// [`Self::end_entry`]), with `oci_layer`'s header writer in Go's style.
    fn header(&mut self, name: &str, size: u64, symlink_target: Option<&str>) -> io::Result<()> {
        let mut blocks = Vec::with_capacity(3 * 512);
        oci_layer::tar::Header {
            path: name.as_bytes(),
            typeflag: if symlink_target.is_some() {
                oci_layer::tar::typeflag::SYMLINK
            } else {
                oci_layer::tar::typeflag::FILE
            },
            mode: if symlink_target.is_some() { 0 } else { 0o444 },
            uid: 0,
            gid: 0,
            size,
            mtime: 0,
            linkname: symlink_target.unwrap_or_default().as_bytes(),
            devmajor: 0,
            devminor: 0,
            xattrs: &[],
            style: oci_layer::tar::HeaderStyle::Go,
        }
        .encode(&mut blocks);
        self.write(&blocks)
    }

    fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write(bytes)
    }

    fn end_entry(&mut self, size: u64) -> io::Result<()> {
        self.pad(size)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.write(&[0u8; 512][..512 - rem])?;
        }
        Ok(())
    }

    fn bytes(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        self.header(name, data.len() as u64, None)?;
        self.write(data)?;
        self.pad(data.len() as u64)
    }

    fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.header(name, 0, Some(target))
    }

    /// Writes the end-of-archive blocks and flushes; returns the archive's size.
    fn finish(mut self) -> io::Result<u64> {
        self.write(&[0u8; 1024])?;
        self.out.flush()?;
        Ok(self.written)
    }
}

impl GoTar<BufWriter<&File>> {
    /// Copies `size` bytes of `from` (from its current position) as entry data, by the
    /// kernel (`copy_file_range`) where it can.
    fn copy_file(&mut self, from: &mut File, size: u64) -> io::Result<()> {
        self.out.flush()?;
        let mut to: &File = self.out.get_ref();
        let copied = io::copy(&mut from.take(size), &mut to)?;
        self.written += copied;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("a temp file of {size} bytes gave {copied}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_compact_escapes_like_go() {
        assert_eq!(
            go_compact(b"{ \"a\" : [1, 2],\n \"b\": \"x <y> & \xe2\x80\xa8 \\\" z\" }"),
            "{\"a\":[1,2],\"b\":\"x \\u003cy\\u003e \\u0026 \\u2028 \\\" z\"}"
        );
    }

    #[test]
    fn top_level_members_keep_raw_values() {
        let m = top_level_members(
            br#" { "a" : { "x" : [1, "}"] } , "b":null, "c" : "s\"}" , "d": 1.50 } "#,
        )
        .expect("object");
        let m: Vec<(String, String)> = m
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v).expect("utf8")))
            .collect();
        assert_eq!(
            m,
            [
                ("a".to_owned(), r#"{ "x" : [1, "}"] }"#.to_owned()),
                ("b".to_owned(), "null".to_owned()),
                ("c".to_owned(), r#""s\"}""#.to_owned()),
                ("d".to_owned(), "1.50".to_owned()),
            ]
        );
        assert!(top_level_members(b"[1]").is_none());
        assert!(top_level_members(b"{").is_none());
    }

    #[test]
    fn pax_record_lengths() {
        assert_eq!(pax_record("path", "abc"), "12 path=abc\n");
        let long = "x".repeat(95);
        let r = pax_record("path", &long);
        assert_eq!(r.len().to_string(), r.split(' ').next().expect("len"));
    }

    #[test]
    fn long_names_read_back() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/unit-docker-archive");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("mkdir");
        let split = format!("{}/layer.tar", "a".repeat(128));
        let pax = format!("{}.tar", "b".repeat(128));
        let link = format!("{}/link", "c".repeat(40));
        let target = format!("../{pax}");
        let mut bytes = Vec::new();
        {
            let mut out = GoTar::new(&mut bytes);
            out.bytes(&pax, b"pax named").expect("pax");
            out.bytes(&split, b"split").expect("split");
            out.symlink(&link, &target).expect("link");
            out.finish().expect("finish");
        }
        let file = dir.join("long.tar");
        fs::write(&file, &bytes).expect("write");
        let index = TarIndex::open(&file, &dir).expect("index");
        assert_eq!(
            index.read_entry(&pax, 100).expect("read"),
            Some(b"pax named".to_vec())
        );
        assert_eq!(
            index.read_entry(&split, 100).expect("read"),
            Some(b"split".to_vec())
        );
        assert_eq!(
            index.read_entry(&link, 100).expect("read"),
            Some(b"pax named".to_vec())
        );
        // The tar crate reads the same names.
        let mut archive = tar::Archive::new(&bytes[..]);
        let names: Vec<String> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(names, [pax, split, link]);
    }

    #[test]
    fn names_normalize_as_docker_does() {
        let n = normalize_tag("busybox").expect("busybox");
        assert_eq!(n.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(
            normalize_tag("docker.io/library/busybox:latest").expect("full"),
            n
        );
        assert!(
            normalize_tag(
                "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000"
            )
            .is_err()
        );
        assert!(normalize_tag("Not Valid").is_err());
    }
}

/// `docker-archive:FILE[:NAME:TAG]` as a destination: one image. Blobs are gathered,
/// verified, in a temp layout beside FILE; [`commit`](Destination::commit) writes the
/// archive from it ([`write_docker_archive`]: a temp file renamed into place). FILE must
/// not exist or be empty, as skopeo requires.
#[derive(Debug)]
pub struct DockerArchiveDestination {
    file: PathBuf,
    repo_tags: Vec<String>,
    layout: Layout,
    scratch: tempfile::TempDir,
}

impl DockerArchiveDestination {
    /// Checks that `file` is absent or empty and makes the temp layout beside it;
    /// `repo_tags` (normalized as docker does) go into the archive's `RepoTags`.
    pub fn open(
        file: &Path,
        repo_tags: Vec<String>,
    ) -> Result<DockerArchiveDestination, DestinationError> {
        match fs::metadata(file) {
            Ok(m) if m.len() > 0 => {
                return Err(DockerArchiveError::Exists {
                    file: file.to_path_buf(),
                }
                .into());
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(DestinationError::Io {
                    action: "read",
                    path: file.to_path_buf(),
                    source,
                });
            }
        }
        for tag in &repo_tags {
            normalize_tag(tag)?;
        }
        let scratch = scratch_beside(file)?;
        let layout = Layout::init(scratch.path().join("layout"))?;
        Ok(DockerArchiveDestination {
            file: file.to_path_buf(),
            repo_tags,
            layout,
            scratch,
        })
    }
}

impl Destination for DockerArchiveDestination {
    fn describe(&self) -> String {
        let mut name = format!("docker-archive:{}", self.file.display());
        if let Some(tag) = self.repo_tags.first() {
            name.push(':');
            name.push_str(tag);
        }
        name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            indexes: false,
            zstd: false,
            own_format: true,
        }
    }

    fn has_blob(&self, descriptor: &Descriptor) -> bool {
        has_blob(&self.layout, descriptor)
    }

    fn put_blob(&self, descriptor: &Descriptor, reader: &mut dyn Read) -> Result<(), PutError> {
        put_blob(&self.layout, descriptor, reader)
    }

    fn blob_sink(&self, algorithm: Algorithm) -> Result<Box<dyn BlobSink + '_>, PutError> {
        Ok(Box::new(self.layout.blobs().writer_unhashed(algorithm)?))
    }

    fn commit(self: Box<Self>, root: &Descriptor) -> Result<Descriptor, DestinationError> {
        let source = LayoutSource::new(self.layout.clone(), root.clone());
        let written = write_docker_archive(
            &source,
            root,
            &self.repo_tags,
            &self.file,
            self.scratch.path(),
        )?;
        let size = source
            .read_small(root, MAX_DOCUMENT_SIZE)
            .ok()
            .and_then(|bytes| {
                let parsed = AnyManifest::parse(&bytes, Some(root.media_type.as_str())).ok()?;
                parsed.config().map(|c| c.size)
            })
            .unwrap_or(0);
        Ok(Descriptor::new(
            media_type::DOCKER_CONFIG,
            written.config,
            size,
        ))
    }
}
