//! The copy itself: read a source's image (or index), convert and recompress as asked,
//! write the blobs into the destination (skipping those already there), and tag last.

use std::io::{self, Read};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use oci_digest::{Measured, PutError, VerifyError};
use oci_layer::Compression;
use oci_layer::recompress::{RecompressError, RecompressOptions, recompress};
use oci_spec_types::docker::{DockerManifest, DockerManifestList, ToDockerError, ToOciError};
use oci_spec_types::document::{AnyManifest, ManifestKind};
use oci_spec_types::media_type::{self, MediaType};
use oci_spec_types::{
    Algorithm, Descriptor, Digest, Document, ImageIndex, ImageManifest, Platform,
};

use crate::resolve::MAX_DEPTH;
use crate::transport::{BlobOpenError, Location, Source, Transport, read_error};
use crate::transport::{
    Destination, DestinationError, Endpoint, OpenOptions, SourceError, open_endpoint,
    open_endpoint_destination_with, scratch_dir_of,
};
use crate::{ImageError, Progress, UnpackEvent as Event};

/// The manifest format a copy writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OCI image manifests and indexes.
    Oci,
    /// Docker Image Manifest V2 Schema 2 and manifest lists.
    Docker,
}

/// Which images of an index are copied.
#[derive(Debug, Clone, PartialEq)]
pub enum Platforms {
    /// Only the image for this platform (default: this machine's); it becomes what the
    /// destination names, as skopeo does without `--all`.
    One(Option<Platform>),
    /// The index and every image under it.
    All,
}

impl Default for Platforms {
    fn default() -> Self {
        Platforms::One(None)
    }
}

/// Blobs transferred at a time when [`CopyOptions::jobs`] is 0 (skopeo's default too).
pub const DEFAULT_JOBS: usize = 4;

/// How [`copy`] behaves.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// The manifest format to write; `None` keeps the source's (see
    /// [`Endpoint::default_format`] for what skopeo users expect by default).
    pub format: Option<Format>,
    /// Recompress layers into this compression (layers already in it, and foreign layers
    /// with `urls`, are copied as they are); `None` copies every layer as it is.
    pub compress: Option<Compression>,
    /// Which images of an index are copied.
    pub platforms: Platforms,
    /// Compression threads; 0 means all cores.
    pub threads: usize,
    /// Blobs of one manifest (config and layers) transferred at a time; 0 means
    /// [`DEFAULT_JOBS`].
    pub jobs: usize,
    /// Copy the manifests whose `subject` is a copied manifest (signatures, SBOMs) too,
    /// where the source can list them ([`Source::referrers`]).
    pub include_referrers: bool,
    /// How a `docker://` destination is reached.
    pub registry: crate::RegistryOptions,
    /// Progress observer: [`Event::Layer`](crate::UnpackEvent::Layer) when a layer
    /// starts (its position among the manifest's layers), then
    /// [`Event::Read`](crate::UnpackEvent::Read) as its bytes are read.
    pub progress: Progress,
    /// Drop the source's signatures instead of carrying them (`--remove-signatures`).
    /// Without it, the signatures of the manifest copied (signature referrers, cosign's
    /// `.sig` tag, lookaside signatures of a registry source) go with it, and a copy that
    /// would change a signed manifest, or a destination that cannot hold signatures, is
    /// refused.
    pub remove_signatures: bool,
    /// The trust policy the source must satisfy before anything is written at the
    /// destination ([`copy_image`]); `None`: no check.
    pub policy: Option<oci_sign::policy::Policy>,
    /// registries.d: the lookaside directories of registry sources and destinations.
    pub registries_d: oci_sign::registries_d::RegistriesD,
}

/// What [`copy`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Copied {
    /// The digest of the manifest or index written (for a `docker-archive:` destination,
    /// the image's config digest, its Docker image ID).
    pub digest: Digest,
    /// The descriptor of what was written (media type, digest, size; platform where the
    /// source gave one); for a `docker-archive:` destination, the config's.
    pub descriptor: Descriptor,
    /// Blobs written (manifests, configs and layers).
    pub copied: u64,
    /// Blobs already at the destination, neither read nor written again.
    pub skipped: u64,
    /// Blobs the destination took by a cross-repository mount (same registry), not read.
    pub mounted: u64,
}

/// Why a copy failed. Nothing was tagged at the destination.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// A blob of the source is missing, damaged or unreadable.
    #[error(transparent)]
    Blob(#[from] BlobOpenError),
    /// The source's image could not be read: an invalid manifest, index or config, no
    /// entry for the platform, indexes nested too deep.
    #[error(transparent)]
    Image(Box<ImageError>),
    /// A manifest or index cannot be said in the Docker format.
    #[error("{digest} cannot be converted to the docker format")]
    ToDocker {
        /// The manifest or index.
        digest: Digest,
        /// The field at fault.
        #[source]
        source: ToDockerError,
    },
    /// A Docker manifest or list cannot be said in the OCI format.
    #[error("{digest} cannot be converted to the OCI format")]
    ToOci {
        /// The manifest or list.
        digest: Digest,
        /// The field at fault.
        #[source]
        source: ToOciError,
    },
    /// `--compress zstd` asked together with the Docker format, which has no zstd layers.
    #[error("--compress zstd is refused with the docker format: docker layers are gzip only")]
    ZstdInDocker,
    /// The compression level is out of range.
    #[error("invalid {compression} level {level}")]
    Level {
        /// `gzip` or `zstd`.
        compression: &'static str,
        /// The level asked for.
        level: i64,
    },
    /// A manifest's layer count differs from its config's diffIDs (recompression needs them).
    #[error(
        "manifest {manifest} has {layers} layers but its config {config} has {diff_ids} diffIDs"
    )]
    LayerCount {
        /// The manifest.
        manifest: Digest,
        /// The config.
        config: Digest,
        /// Number of layers.
        layers: usize,
        /// Number of diffIDs.
        diff_ids: usize,
    },
    /// A layer could not be recompressed (a diffID mismatch, content that does not
    /// decompress, a failed write).
    #[error("layer {layer}")]
    Recompress {
        /// The layer's digest at the source.
        layer: Digest,
        /// The cause.
        #[source]
        source: RecompressError,
    },
    /// The destination names an image by digest; a destination takes a tag.
    #[error("destination {destination} names a digest: a copy destination takes a tag")]
    DigestDestination {
        /// The destination.
        destination: String,
    },
    /// The destination tag does not follow the ref.name grammar.
    #[error("tag {tag:?} does not follow the ref.name grammar")]
    InvalidTag {
        /// The tag.
        tag: String,
    },
    /// `discover:` is a source only.
    #[error("discover:{name} cannot be a copy destination")]
    DiscoverDestination {
        /// The name.
        name: String,
    },
    /// A docker-archive holds one image: `--all-platforms` is refused for it.
    #[error("a docker-archive holds one image: copy one platform into {destination}")]
    AllPlatformsToDockerArchive {
        /// The destination.
        destination: String,
    },
    /// A blob could not be stored at the destination.
    #[error("cannot store blob {digest} in {transport}:{location}")]
    Store {
        /// The blob.
        digest: Digest,
        /// The destination's transport.
        transport: Transport,
        /// Where the destination's content goes.
        location: Location,
        /// The cause.
        #[source]
        source: Box<PutError>,
    },
    /// The destination could not be opened, or could not name the image.
    #[error(transparent)]
    Destination(#[from] DestinationError),
    /// The source could not be opened ([`copy_image`]).
    #[error(transparent)]
    Source(Box<SourceError>),
    /// The referrers of a copied manifest could not be listed (`include_referrers`).
    #[error(transparent)]
    Referrers(#[from] crate::ReferrersError),
    /// The trust policy rejected the source: nothing was written.
    #[error("source {source_name} rejected by the policy: {reasons}")]
    Rejected {
        /// The source.
        source_name: String,
        /// The reasons of the requirements that rejected it.
        reasons: String,
    },
    /// The signatures could not be read, checked or carried.
    #[error(transparent)]
    Signatures(Box<crate::signatures::SignaturesError>),
    /// The copy changes a signed manifest: its signatures would not verify.
    #[error(
        "copying {digest} changes it into {changed}: its signatures would become invalid (use --remove-signatures)"
    )]
    WouldInvalidateSignatures {
        /// The signed manifest.
        digest: Digest,
        /// What the copy writes instead.
        changed: Digest,
    },
}

impl From<SourceError> for CopyError {
    fn from(error: SourceError) -> CopyError {
        CopyError::Source(Box::new(error))
    }
}

impl From<crate::signatures::SignaturesError> for CopyError {
    fn from(e: crate::signatures::SignaturesError) -> CopyError {
        CopyError::Signatures(Box::new(e))
    }
}

impl CopyError {
    /// Whether a check failed (exit 1): missing or damaged content, an invalid document, a
    /// digest, size or diffID mismatch, a refused conversion or tag. Otherwise a usage or
    /// I/O error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            CopyError::Blob(e) => e.is_check_failure(),
            CopyError::Image(e) => e.is_check_failure(),
            CopyError::ToDocker { .. }
            | CopyError::ToOci { .. }
            | CopyError::ZstdInDocker
            | CopyError::LayerCount { .. }
            | CopyError::InvalidTag { .. }
            | CopyError::Rejected { .. } => true,
            CopyError::Signatures(e) => e.is_check_failure(),
            CopyError::Recompress { source, .. } => source.is_check_failure(),
            CopyError::Store { source, .. } => {
                matches!(**source, PutError::Mismatch(_) | PutError::Unverifiable(_))
            }
            CopyError::Destination(e) => e.is_check_failure(),
            CopyError::Source(e) => e.is_check_failure(),
            CopyError::Referrers(e) => e.is_check_failure(),
            CopyError::DigestDestination { .. }
            | CopyError::DiscoverDestination { .. }
            | CopyError::AllPlatformsToDockerArchive { .. }
            | CopyError::WouldInvalidateSignatures { .. }
            | CopyError::Level { .. } => false,
        }
    }

    /// The digest of the blob or document at fault, where there is one.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            CopyError::Blob(e) => Some(e.digest()),
            CopyError::Image(e) => e.digest(),
            CopyError::ToDocker { digest, .. }
            | CopyError::ToOci { digest, .. }
            | CopyError::Store { digest, .. } => Some(digest),
            CopyError::LayerCount { manifest, .. } => Some(manifest),
            CopyError::Recompress { layer, .. } => Some(layer),
            _ => None,
        }
    }
}

/// Copies the image (or index) `source` names to `destination`.
///
/// - `oci:DIR[:TAG]`: the layout is created when missing; blobs already there (same
///   digest and size) are neither read nor written; every blob written is verified against
///   its digest and size before it is published; the tag is written last, under the
///   layout lock, replacing any entry of that tag (without a tag the entry has no ref
///   name, as skopeo writes it).
/// - `oci-archive:FILE[:TAG]`: the images of an existing archive are carried over; the
///   layout is built in a temp directory beside FILE and written as a deterministic tar
///   (sorted names, mtime 0, uid and gid 0) to a temp file renamed over FILE.
/// - `docker-archive:FILE[:NAME:TAG]`: FILE must not exist or be empty; one image.
///
/// What is copied: with [`Platforms::One`], the image an index offers for the platform
/// (indexes followed at most [`MAX_DEPTH`] deep), which becomes what the destination
/// names; with [`Platforms::All`], the index and everything under it. A manifest or index
/// that nothing changes (no conversion, no recompressed layer) is copied byte for byte, so
/// its digest stays; otherwise it is re-serialized (deterministic JSON) with the new
/// descriptors. Format conversion relabels the config and layer descriptors
/// ([`oci_spec_types::docker`]; uncompressed Docker layers become plain OCI tar layers and
/// back); what the Docker format cannot say is refused, naming the field. Recompression
/// checks each layer's diffID against the config while it streams.
///
/// On any failure nothing is tagged and the destination's `index.json` (or archive) is
/// unchanged; blobs already published into an `oci:` layout stay (unreferenced, for `gc`).
pub fn copy(
    source: &dyn Source,
    destination: &Endpoint,
    options: &CopyOptions,
) -> Result<Copied, CopyError> {
    check_options(destination_is_docker(destination), options)?;
    if let (Endpoint::DockerArchive { .. }, Platforms::All) = (destination, &options.platforms) {
        return Err(CopyError::AllPlatformsToDockerArchive {
            destination: destination.to_string(),
        });
    }
    let opened =
        open_endpoint_destination_with(destination, &options.registry).map_err(|e| match e {
            DestinationError::DigestReference { destination } => CopyError::DigestDestination {
                destination: destination.to_string(),
            },
            DestinationError::InvalidTag { tag } => CopyError::InvalidTag { tag },
            DestinationError::NotWritable { name } => CopyError::DiscoverDestination { name },
            other => CopyError::Destination(other),
        })?;
    copy_to(source, opened, options)
}

/// `ocimg copy SRC DST` as one call: parses both image names (a bare `DIR[:REF]` is a
/// layout), opens the source (temp files of a compressed archive go beside the
/// destination unless `open.scratch` says where), and copies as [`copy`] does. Without a
/// format in `options`, the one [`Endpoint::default_format`] gives.
pub fn copy_image(
    source: &str,
    destination: &str,
    open: &OpenOptions,
    options: &CopyOptions,
) -> Result<Copied, CopyError> {
    let source_endpoint = Endpoint::parse_image(source).map_err(SourceError::from)?;
    let destination = Endpoint::parse_image(destination).map_err(DestinationError::from)?;
    let mut open = open.clone();
    if open.scratch.is_none() {
        open.scratch = Some(match &destination {
            Endpoint::Oci(name) => scratch_dir_of(&name.dir),
            Endpoint::OciArchive { file, .. } | Endpoint::DockerArchive { file, .. } => {
                scratch_dir_of(file)
            }
            Endpoint::Discover(_) | Endpoint::Docker(_) => std::path::PathBuf::from("."),
        });
    }
    let mut options = options.clone();
    if options.format.is_none() {
        options.format = source_endpoint.default_format(&destination);
    }
    let opened = open_endpoint(&source_endpoint, &open)?;
    if let Some(policy) = &options.policy {
        let check = crate::signatures::check_policy(
            &source_endpoint,
            opened.as_ref(),
            policy,
            &options.registries_d,
            oci_sign::openpgp::unix_now(),
        )?;
        if !check.verdict.accepted {
            return Err(CopyError::Rejected {
                source_name: opened.describe(),
                reasons: rejection_reasons(&check.verdict),
            });
        }
    }
    copy(opened.as_ref(), &destination, &options)
}

/// The reasons of the requirements that rejected an image, joined.
pub(crate) fn rejection_reasons(verdict: &oci_sign::policy::Verdict) -> String {
    let reasons: Vec<String> = verdict
        .requirements
        .iter()
        .filter(|r| !r.accepted)
        .map(|r| format!("{}: {}", r.requirement_type, r.reason))
        .collect();
    if reasons.is_empty() {
        "no requirement accepted it".to_owned()
    } else {
        reasons.join("; ")
    }
}

fn destination_is_docker(destination: &Endpoint) -> bool {
    matches!(destination, Endpoint::DockerArchive { .. })
}

/// Refuses options that contradict each other or the destination (before anything is
/// read or written).
fn check_options(docker_destination: bool, options: &CopyOptions) -> Result<(), CopyError> {
    let target_docker = docker_destination || options.format == Some(Format::Docker);
    if target_docker && matches!(options.compress, Some(Compression::Zstd { .. })) {
        return Err(CopyError::ZstdInDocker);
    }
    match options.compress {
        Some(Compression::Gzip { level }) if level > 9 => Err(CopyError::Level {
            compression: "gzip",
            level: i64::from(level),
        }),
        Some(Compression::Zstd { level }) if !zstd::compression_level_range().contains(&level) => {
            Err(CopyError::Level {
                compression: "zstd",
                level: i64::from(level),
            })
        }
        _ => Ok(()),
    }
}

/// Copies the image (or index) `source` names into an opened destination, which names it
/// last ([`Destination::commit`]); see [`copy`]. With [`Platforms::All`], every image
/// under the index is checked against what the destination and format can hold before
/// any blob is copied.
pub fn copy_to(
    source: &dyn Source,
    destination: Box<dyn Destination>,
    options: &CopyOptions,
) -> Result<Copied, CopyError> {
    let capabilities = destination.capabilities();
    check_options(!capabilities.zstd, options)?;
    if options.platforms == Platforms::All && !capabilities.indexes {
        return Err(CopyError::AllPlatformsToDockerArchive {
            destination: destination.describe(),
        });
    }
    let (root, copied, skipped, mounted) = {
        let mut engine = Engine::new(source, destination.as_ref(), options);
        let root = engine.run()?;
        if options.include_referrers {
            engine.copy_referrers()?;
        }
        (
            root,
            engine.copied.into_inner(),
            engine.skipped.into_inner(),
            engine.mounted.into_inner(),
        )
    };
    if !options.remove_signatures {
        crate::signatures::carry_signatures(
            source,
            destination.as_ref(),
            &root,
            options.platforms == Platforms::All,
            &options.registries_d,
        )?;
    }
    let named = destination.commit(&root)?;
    Ok(Copied {
        digest: named.digest.clone(),
        descriptor: named,
        copied,
        skipped,
        mounted,
    })
}

/// Reads a manifest or index of the source, verified ([`crate::read_manifest`]).
fn read_document(
    source: &dyn Source,
    descriptor: &Descriptor,
) -> Result<(Vec<u8>, AnyManifest), CopyError> {
    Ok(crate::image::read_manifest(source, descriptor)?)
}

impl From<ImageError> for CopyError {
    /// A blob that cannot be read stays [`CopyError::Blob`], as in the rest of the copy.
    fn from(error: ImageError) -> CopyError {
        match error {
            ImageError::Blob(e) => CopyError::Blob(e),
            other => CopyError::Image(Box::new(other)),
        }
    }
}

/// Where a copy starts: the source's root, or with several candidates (one entry per
/// platform under one name) the one for the wanted platform ([`crate::select_root`]).
fn start(source: &dyn Source, platforms: &Platforms) -> Result<Descriptor, CopyError> {
    match platforms {
        Platforms::One(p) if source.candidates().len() > 1 => {
            Ok(crate::image::select_root(source, p.as_ref())?)
        }
        _ => Ok(source.root().clone()),
    }
}

/// Descends from `root` through indexes to the image for the wanted platform
/// ([`crate::descend`]: an index with one entry gives that entry whatever its platform,
/// unless one was asked for).
fn select(
    source: &dyn Source,
    platforms: &Platforms,
    root: &Descriptor,
) -> Result<(Descriptor, Vec<u8>, AnyManifest), CopyError> {
    let platform = match platforms {
        Platforms::One(p) => p.as_ref(),
        Platforms::All => None,
    };
    Ok(crate::image::descend(source, root, platform)?)
}

/// One copy into a destination.
struct Engine<'a> {
    source: &'a dyn Source,
    destination: &'a dyn Destination,
    /// The destination stores its own form (a docker-archive): no conversion, no
    /// recompression.
    own_format: bool,
    options: &'a CopyOptions,
    copied: AtomicU64,
    skipped: AtomicU64,
    mounted: AtomicU64,
    /// Manifests and indexes written byte for byte (their digest kept): their referrers
    /// still refer to them.
    subjects: Vec<Digest>,
    /// Copying referrers: documents go byte for byte (no conversion, no recompression),
    /// since a signature names its subject's exact bytes.
    verbatim: bool,
}

impl<'a> Engine<'a> {
    fn new(
        source: &'a dyn Source,
        destination: &'a dyn Destination,
        options: &'a CopyOptions,
    ) -> Engine<'a> {
        Engine {
            source,
            destination,
            own_format: destination.capabilities().own_format,
            options,
            copied: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            mounted: AtomicU64::new(0),
            subjects: Vec::new(),
            verbatim: false,
        }
    }

    /// Copies what the options choose from the source's root; returns the descriptor of
    /// the document written.
    fn run(&mut self) -> Result<Descriptor, CopyError> {
        let root = start(self.source, &self.options.platforms)?;
        match &self.options.platforms {
            Platforms::All => {
                // Every image is checked before any blob is copied.
                self.check_node(&root, 0)?;
                self.copy_node(&root, 0)
            }
            Platforms::One(_) => {
                let (descriptor, bytes, manifest) =
                    select(self.source, &self.options.platforms, &root)?;
                self.copy_manifest(&descriptor, bytes, manifest)
            }
        }
    }

    /// Copies the referrers of every manifest copied byte for byte, and theirs in turn
    /// (a signature of an SBOM), each once, byte for byte; the destination lists them
    /// ([`Destination::add_referrer`]). A source that cannot hold referrers has none.
    fn copy_referrers(&mut self) -> Result<(), CopyError> {
        let mut queue = std::mem::take(&mut self.subjects);
        let mut seen = std::collections::BTreeSet::new();
        self.verbatim = true;
        while let Some(subject) = queue.pop() {
            if !seen.insert(subject.clone()) {
                continue;
            }
            let Some(referrers) = self.source.referrers(&subject)? else {
                continue;
            };
            for referrer in referrers {
                let written = self.copy_node(&referrer, 0)?;
                self.destination.add_referrer(&written);
                queue.append(&mut self.subjects);
                queue.push(written.digest);
            }
        }
        Ok(())
    }

    /// Reads a manifest or index of the source, verified.
    fn read_document(&self, descriptor: &Descriptor) -> Result<(Vec<u8>, AnyManifest), CopyError> {
        read_document(self.source, descriptor)
    }

    /// Copies a manifest, an index (with everything under it) or another blob.
    fn copy_node(
        &mut self,
        descriptor: &Descriptor,
        depth: usize,
    ) -> Result<Descriptor, CopyError> {
        if ManifestKind::from_media_type(descriptor.media_type.as_str()).is_none() {
            self.copy_blob(descriptor)?;
            return Ok(descriptor.clone());
        }
        let (bytes, manifest) = self.read_document(descriptor)?;
        if manifest.entries().is_some() {
            if depth >= MAX_DEPTH {
                return Err(ImageError::TooDeep {
                    digest: descriptor.digest.clone(),
                }
                .into());
            }
            self.copy_index(descriptor, bytes, manifest, depth)
        } else {
            self.copy_manifest(descriptor, bytes, manifest)
        }
    }

    fn target_format(&self, source_format: Format) -> Format {
        if self.own_format || self.verbatim {
            return source_format;
        }
        self.options.format.unwrap_or(source_format)
    }

    /// Checks that the node (and everything under it) can be written as asked, reading
    /// documents only; returns its descriptor as it will be written (media type of the
    /// target format; digest and size not yet known).
    fn check_node(&self, descriptor: &Descriptor, depth: usize) -> Result<Descriptor, CopyError> {
        if ManifestKind::from_media_type(descriptor.media_type.as_str()).is_none() {
            return Ok(descriptor.clone());
        }
        let (_, manifest) = self.read_document(descriptor)?;
        let to_oci = |source| CopyError::ToOci {
            digest: descriptor.digest.clone(),
            source,
        };
        let to_docker = |source| CopyError::ToDocker {
            digest: descriptor.digest.clone(),
            source,
        };
        let (source_format, predicted) = match manifest {
            AnyManifest::OciIndex(_) | AnyManifest::DockerManifestList(_) => {
                if depth >= MAX_DEPTH {
                    return Err(ImageError::TooDeep {
                        digest: descriptor.digest.clone(),
                    }
                    .into());
                }
                let (source_format, index) = match manifest {
                    AnyManifest::DockerManifestList(list) => {
                        (Format::Docker, list.to_oci().map_err(to_oci)?)
                    }
                    AnyManifest::OciIndex(index) => (Format::Oci, index),
                    _ => unreachable!("matched an index"),
                };
                let mut children = Vec::with_capacity(index.manifests.len());
                for child in &index.manifests {
                    children.push(self.check_node(child, depth + 1)?);
                }
                let target = self.target_format(source_format);
                if target == Format::Docker {
                    let index = ImageIndex {
                        manifests: children,
                        ..index
                    };
                    DockerManifestList::from_oci(&index).map_err(to_docker)?;
                }
                let media_type = match target {
                    Format::Oci => media_type::IMAGE_INDEX,
                    Format::Docker => media_type::DOCKER_MANIFEST_LIST,
                };
                (source_format, media_type)
            }
            AnyManifest::OciManifest(m) => {
                self.check_manifest(descriptor, &m, Format::Oci)?;
                (Format::Oci, media_type::IMAGE_MANIFEST)
            }
            AnyManifest::DockerManifest(m) => {
                let oci = m.to_oci().map_err(to_oci)?;
                self.check_manifest(descriptor, &oci, Format::Docker)?;
                (Format::Docker, media_type::IMAGE_MANIFEST)
            }
        };
        let target = self.target_format(source_format);
        let media_type = match (target, predicted) {
            (Format::Docker, media_type::IMAGE_MANIFEST) => media_type::DOCKER_MANIFEST,
            (_, other) => other,
        };
        Ok(Descriptor {
            media_type: MediaType::from(media_type),
            ..descriptor.clone()
        })
    }

    /// Refuses a manifest the target format cannot say, with its layers as they will be
    /// (recompressed where asked).
    fn check_manifest(
        &self,
        descriptor: &Descriptor,
        oci: &ImageManifest,
        source_format: Format,
    ) -> Result<(), CopyError> {
        if self.target_format(source_format) != Format::Docker {
            return Ok(());
        }
        let predicted = ImageManifest {
            layers: oci
                .layers
                .iter()
                .map(|l| match self.recompression_of(l) {
                    Some(c) => Descriptor {
                        media_type: c.media_type(),
                        ..l.clone()
                    },
                    None => l.clone(),
                })
                .collect(),
            ..oci.clone()
        };
        DockerManifest::from_oci(&predicted).map_err(|source| CopyError::ToDocker {
            digest: descriptor.digest.clone(),
            source,
        })?;
        Ok(())
    }

    fn copy_index(
        &mut self,
        descriptor: &Descriptor,
        bytes: Vec<u8>,
        manifest: AnyManifest,
        depth: usize,
    ) -> Result<Descriptor, CopyError> {
        let (source_format, index) = match manifest {
            AnyManifest::OciIndex(index) => (Format::Oci, index),
            AnyManifest::DockerManifestList(list) => {
                let index = list.to_oci().map_err(|source| CopyError::ToOci {
                    digest: descriptor.digest.clone(),
                    source,
                })?;
                (Format::Docker, index)
            }
            _ => unreachable!("copy_index is called for indexes only"),
        };
        let mut children = Vec::with_capacity(index.manifests.len());
        for child in &index.manifests {
            children.push(self.copy_node(child, depth + 1)?);
        }
        let target = self.target_format(source_format);
        let unchanged = target == source_format && children == index.manifests;
        let bytes = if unchanged {
            bytes
        } else {
            let index = ImageIndex {
                manifests: children,
                ..index
            };
            match target {
                Format::Oci => Document::from_value(index).into_bytes(),
                Format::Docker => {
                    let list = DockerManifestList::from_oci(&index).map_err(|source| {
                        CopyError::ToDocker {
                            digest: descriptor.digest.clone(),
                            source,
                        }
                    })?;
                    serde_json::to_vec(&list).expect("a manifest list serializes")
                }
            }
        };
        let media_type = match target {
            Format::Oci => media_type::IMAGE_INDEX,
            Format::Docker => media_type::DOCKER_MANIFEST_LIST,
        };
        self.put_document(descriptor, bytes, unchanged, media_type)
    }

    fn copy_manifest(
        &mut self,
        descriptor: &Descriptor,
        bytes: Vec<u8>,
        manifest: AnyManifest,
    ) -> Result<Descriptor, CopyError> {
        let (source_format, oci) = match manifest {
            AnyManifest::OciManifest(m) => (Format::Oci, m),
            AnyManifest::DockerManifest(m) => {
                let oci = m.to_oci().map_err(|source| CopyError::ToOci {
                    digest: descriptor.digest.clone(),
                    source,
                })?;
                (Format::Docker, oci)
            }
            other => {
                // An index where a manifest was expected: copy it whole.
                return self.copy_index(descriptor, bytes, other, 0);
            }
        };
        let target = self.target_format(source_format);
        // Refuse a conversion before copying anything: the layers as they will be.
        self.check_manifest(descriptor, &oci, source_format)?;
        let diff_ids = self.diff_ids_for_recompression(descriptor, &oci)?;
        let count = oci.layers.len();
        // Blobs copied as they are go in parallel (config first, then layers in order);
        // recompressed layers follow one at a time, each using the compression threads.
        let mut plain: Vec<(&Descriptor, Option<usize>)> = vec![(&oci.config, None)];
        for (index, layer) in oci.layers.iter().enumerate() {
            if diff_ids.is_none() || self.recompression_of(layer).is_none() {
                plain.push((layer, Some(index)));
            }
        }
        self.copy_parallel(&plain, count)?;
        let mut layers = Vec::with_capacity(count);
        for (index, layer) in oci.layers.iter().enumerate() {
            let new = match (&diff_ids, self.recompression_of(layer)) {
                (Some(diff_ids), Some(compression)) => {
                    self.emit(&Event::Layer {
                        index,
                        count,
                        descriptor: layer,
                    });
                    self.recompress_layer(layer, &diff_ids[index], compression, index)?
                }
                _ => layer.clone(),
            };
            layers.push(new);
        }
        let unchanged = target == source_format && layers == oci.layers;
        let bytes = if unchanged {
            bytes
        } else {
            let oci = ImageManifest { layers, ..oci };
            match target {
                Format::Oci => Document::from_value(oci).into_bytes(),
                Format::Docker => {
                    let docker =
                        DockerManifest::from_oci(&oci).map_err(|source| CopyError::ToDocker {
                            digest: descriptor.digest.clone(),
                            source,
                        })?;
                    serde_json::to_vec(&docker).expect("a docker manifest serializes")
                }
            }
        };
        let media_type = match target {
            Format::Oci => media_type::IMAGE_MANIFEST,
            Format::Docker => media_type::DOCKER_MANIFEST,
        };
        self.put_document(descriptor, bytes, unchanged, media_type)
    }

    /// The compression `layer` is to be recompressed into, if any.
    fn recompression_of(&self, layer: &Descriptor) -> Option<Compression> {
        if self.own_format || self.verbatim {
            return None;
        }
        let wanted = self.options.compress?;
        let have = layer.media_type.layer_compression()?;
        if layer.urls.is_some() || layer.media_type.is_nondistributable_layer() {
            return None;
        }
        let same = matches!(
            (have, wanted),
            (media_type::Compression::None, Compression::None)
                | (media_type::Compression::Gzip, Compression::Gzip { .. })
                | (media_type::Compression::Zstd, Compression::Zstd { .. })
        );
        (!same).then_some(wanted)
    }

    /// The config's diffIDs when some layer of `manifest` is to be recompressed.
    fn diff_ids_for_recompression(
        &self,
        descriptor: &Descriptor,
        manifest: &ImageManifest,
    ) -> Result<Option<Vec<Digest>>, CopyError> {
        if !manifest
            .layers
            .iter()
            .any(|l| self.recompression_of(l).is_some())
            || !manifest.config.media_type.is_image_config()
        {
            return Ok(None);
        }
        let (_, config) = crate::image::read_config(self.source, &manifest.config)?;
        let diff_ids = config.rootfs.diff_ids;
        if diff_ids.len() != manifest.layers.len() {
            return Err(CopyError::LayerCount {
                manifest: descriptor.digest.clone(),
                config: manifest.config.digest.clone(),
                layers: manifest.layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        Ok(Some(diff_ids))
    }

    /// Stores a manifest or index; returns its descriptor (the platform, annotations and
    /// other members of `original` kept).
    fn put_document(
        &mut self,
        original: &Descriptor,
        bytes: Vec<u8>,
        unchanged: bool,
        media_type: &str,
    ) -> Result<Descriptor, CopyError> {
        let mut descriptor = original.clone();
        if unchanged {
            self.subjects.push(descriptor.digest.clone());
        } else {
            let measured = oci_digest::Digester::digest_bytes(Algorithm::Sha256, &bytes);
            descriptor.digest = measured.digest;
            descriptor.size = measured.size;
            descriptor.media_type = MediaType::from(media_type);
        }
        if self.destination.has_blob(&descriptor) {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(descriptor);
        }
        self.destination
            .put_blob(&descriptor, &mut &bytes[..])
            .map_err(|source| self.store_error(&descriptor.digest, source))?;
        self.copied.fetch_add(1, Ordering::Relaxed);
        Ok(descriptor)
    }

    fn store_error(&self, digest: &Digest, source: PutError) -> CopyError {
        CopyError::Store {
            digest: digest.clone(),
            transport: self.destination.transport(),
            location: self.destination.location(),
            source: Box::new(source),
        }
    }

    /// Copies a blob as it is (verified), unless the destination has it.
    fn copy_blob(&self, descriptor: &Descriptor) -> Result<(), CopyError> {
        self.copy_blob_with(descriptor, None)
    }

    /// Copies blobs as they are, [`CopyOptions::jobs`] at a time, each a layer (with its
    /// position among `count`) or not; the first error stops the others from starting
    /// new blobs and is returned.
    fn copy_parallel(
        &self,
        blobs: &[(&Descriptor, Option<usize>)],
        count: usize,
    ) -> Result<(), CopyError> {
        let jobs = match self.options.jobs {
            0 => DEFAULT_JOBS,
            n => n,
        }
        .min(blobs.len());
        let one = |(descriptor, index): &(&Descriptor, Option<usize>)| match index {
            Some(index) => {
                self.emit(&Event::Layer {
                    index: *index,
                    count,
                    descriptor,
                });
                self.copy_layer(descriptor, *index)
            }
            None => self.copy_blob(descriptor),
        };
        if jobs <= 1 {
            return blobs.iter().try_for_each(one);
        }
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let first_error: Mutex<Option<(usize, CopyError)>> = Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..jobs {
                scope.spawn(|| {
                    while !failed.load(Ordering::SeqCst) {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(blob) = blobs.get(i) else { break };
                        if let Err(e) = one(blob) {
                            failed.store(true, Ordering::SeqCst);
                            let mut slot = first_error.lock().expect("lock");
                            // The error of the earliest blob wins: deterministic messages.
                            if slot.as_ref().is_none_or(|(j, _)| i < *j) {
                                *slot = Some((i, e));
                            }
                        }
                    }
                });
            }
        });
        match first_error.into_inner().expect("lock") {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Copies a layer as it is; a foreign layer (with `urls`) missing from the source is
    /// left out, as registries do.
    fn copy_layer(&self, layer: &Descriptor, index: usize) -> Result<(), CopyError> {
        match self.copy_blob_with(layer, Some(index)) {
            Err(CopyError::Blob(BlobOpenError::Missing { .. })) if layer.urls.is_some() => Ok(()),
            other => other,
        }
    }

    fn copy_blob_with(
        &self,
        descriptor: &Descriptor,
        progress_index: Option<usize>,
    ) -> Result<(), CopyError> {
        if self.destination.has_blob(descriptor) {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        match self.destination.mount_blob(descriptor, self.source) {
            Ok(true) => {
                self.mounted.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Ok(false) => {}
            Err(source) => return Err(self.store_error(&descriptor.digest, source)),
        }
        let reader = self.source.open(descriptor)?;
        let mut reader = self.counting(reader, progress_index, descriptor.size);
        self.destination
            .put_blob(descriptor, &mut reader)
            .map_err(|source| self.blob_put_error(descriptor, source))?;
        self.copied.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// A failed put of a source blob: a read or verification failure is the source's.
    fn blob_put_error(&self, descriptor: &Descriptor, source: PutError) -> CopyError {
        match source {
            PutError::Read { source, .. } => read_error(self.source, descriptor, &source).into(),
            PutError::Mismatch(v) => {
                CopyError::Blob(BlobOpenError::damaged(self.source, &descriptor.digest, v))
            }
            PutError::Unverifiable(u) => {
                CopyError::Blob(BlobOpenError::damaged(self.source, &descriptor.digest, u))
            }
            other => self.store_error(&descriptor.digest, other),
        }
    }

    /// Recompresses a layer into the destination; returns its new descriptor.
    fn recompress_layer(
        &mut self,
        layer: &Descriptor,
        diff_id: &Digest,
        compression: Compression,
        index: usize,
    ) -> Result<Descriptor, CopyError> {
        let reader = self.source.open(layer)?;
        let reader = self.counting(reader, Some(index), layer.size);
        // The recompressor measures what it writes: the destination only counts, and
        // publishes under that digest (the layer is hashed once).
        let mut writer = self
            .destination
            .blob_sink(Algorithm::Sha256)
            .map_err(|source| self.store_error(&layer.digest, source))?;
        let options = RecompressOptions {
            compression,
            threads: self.options.threads,
            diff_id: Some(diff_id.clone()),
            input: None,
        };
        let recompressed = match recompress(reader, &mut writer, &options) {
            Ok(r) => r,
            Err(RecompressError::Input { source }) => {
                return Err(self.damaged(layer, &source));
            }
            Err(RecompressError::Read { source }) => {
                return Err(read_error(self.source, layer, &source).into());
            }
            Err(source) => {
                return Err(CopyError::Recompress {
                    layer: layer.digest.clone(),
                    source,
                });
            }
        };
        let new = Descriptor {
            media_type: recompressed.media_type,
            digest: recompressed.digest,
            size: recompressed.size,
            ..layer.clone()
        };
        let already = self.destination.has_blob(&new);
        writer
            .commit(&Measured {
                digest: new.digest.clone(),
                size: new.size,
            })
            .map_err(|source| self.store_error(&new.digest, source))?;
        if already {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        } else {
            self.copied.fetch_add(1, Ordering::Relaxed);
        }
        Ok(new)
    }

    fn damaged(&self, descriptor: &Descriptor, error: &VerifyError) -> CopyError {
        CopyError::Blob(BlobOpenError::damaged(
            self.source,
            &descriptor.digest,
            error.clone(),
        ))
    }

    fn emit(&self, event: &Event<'_>) {
        if let Some(f) = &self.options.progress.0 {
            f(event);
        }
    }

    fn counting<'r>(
        &self,
        reader: Box<dyn Read + Send + 'r>,
        index: Option<usize>,
        size: u64,
    ) -> Counting<'r> {
        Counting {
            inner: reader,
            read: 0,
            size,
            index,
            progress: self.options.progress.clone(),
        }
    }
}

/// Reports the bytes read of a layer to the progress observer.
struct Counting<'r> {
    inner: Box<dyn Read + Send + 'r>,
    read: u64,
    size: u64,
    index: Option<usize>,
    progress: Progress,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if let (Some(index), Some(f)) = (self.index, &self.progress.0) {
            f(&Event::Read {
                index,
                read: self.read,
                size: self.size,
            });
        }
        Ok(n)
    }
}
