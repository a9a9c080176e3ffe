//! Image operations over any [`Source`](crate::Source), written once: descending an index
//! by platform, reading a manifest (OCI or Docker v2.2) and its config, and listing the
//! layers with their diffIDs. Copy, inspect, unpack, bundle and build use them, whatever
//! the transport (a layout is one [`Source`](crate::Source) among others).

use std::borrow::Borrow;

use oci_spec_types::document::{AnyManifest, AnyManifestError, ParseError};
use oci_spec_types::media_type::Compression;
use oci_spec_types::{Descriptor, Digest, ImageConfig, Platform, PlatformMatcher};

use crate::resolve::{MAX_DEPTH, MAX_DOCUMENT_SIZE, platform_string};
use crate::{BlobOpenError, Location, Source, Transport};

/// Why an image could not be read from a source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// A blob of the source is missing, damaged or unreadable.
    #[error(transparent)]
    Blob(#[from] BlobOpenError),
    /// A manifest or index is not a valid document.
    #[error("document {digest} from {transport}:{location} is invalid")]
    Document {
        /// The document's digest.
        digest: Digest,
        /// The source's transport.
        transport: Transport,
        /// Where its content is (the layout, the archive, the name).
        location: Location,
        /// What the parser found.
        #[source]
        source: AnyManifestError,
    },
    /// An image config is not a valid config.
    #[error("config {digest} from {transport}:{location} is invalid")]
    Config {
        /// The config's digest.
        digest: Digest,
        /// The source's transport.
        transport: Transport,
        /// Where its content is (the layout, the archive, the name).
        location: Location,
        /// What the parser found.
        #[source]
        source: ParseError,
    },
    /// An index (or another document) where an image manifest was expected.
    #[error("{digest} from {transport}:{location} is a {media_type}, not an image manifest")]
    NotAManifest {
        /// The document's digest.
        digest: Digest,
        /// The source's transport.
        transport: Transport,
        /// Where its content is (the layout, the archive, the name).
        location: Location,
        /// The kind of document found.
        media_type: String,
    },
    /// No entry of an index (or candidate of the source) has the wanted platform.
    #[error("{what} has no entry for platform {wanted} (available: {})", available.join(", "))]
    NoPlatform {
        /// What was searched: `index DIGEST`, or the source for its candidates.
        what: String,
        /// The index, when an index was searched.
        index: Option<Digest>,
        /// The wanted platform.
        wanted: String,
        /// The platforms found (`none` for an entry without one).
        available: Vec<String>,
    },
    /// Indexes nest more than [`MAX_DEPTH`] deep.
    #[error("index {digest} nests indexes more than {MAX_DEPTH} deep")]
    TooDeep {
        /// The innermost index reached.
        digest: Digest,
    },
}

impl ImageError {
    /// Whether a check failed (exit 1): missing or damaged content, an invalid document,
    /// indexes nested too deep. No entry for the platform is a usage error (exit 2), as is
    /// a blob that could not be read for an I/O or network reason.
    pub fn is_check_failure(&self) -> bool {
        match self {
            ImageError::Blob(e) => e.is_check_failure(),
            ImageError::Document { .. }
            | ImageError::Config { .. }
            | ImageError::NotAManifest { .. }
            | ImageError::TooDeep { .. } => true,
            ImageError::NoPlatform { .. } => false,
        }
    }

    /// The digest of the blob, document or index at fault, where there is one.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            ImageError::Blob(e) => Some(e.digest()),
            ImageError::Document { digest, .. }
            | ImageError::Config { digest, .. }
            | ImageError::NotAManifest { digest, .. }
            | ImageError::TooDeep { digest } => Some(digest),
            ImageError::NoPlatform { index, .. } => index.as_ref(),
        }
    }
}

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
    /// The manifest's descriptor (the source's root, or the entry of the index the
    /// platform chose).
    pub descriptor: Descriptor,
    /// The manifest's exact bytes.
    pub manifest_bytes: Vec<u8>,
    /// The manifest, parsed.
    pub manifest: AnyManifest,
    /// The config's descriptor.
    pub config_descriptor: Descriptor,
    /// The config's exact bytes.
    pub config_bytes: Vec<u8>,
    /// The config, when its media type is an image config's (OCI or Docker) and it parses.
    pub config: Option<ImageConfig>,
    /// The layers with their diffIDs from the config, in order.
    pub layers: Vec<Layer>,
}

/// A layer of an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// The manifest's layer descriptor.
    pub descriptor: Descriptor,
    /// The config's diffID at the same position, if any.
    pub diff_id: Option<Digest>,
}

/// The compression of a layer media type, `None` when it is not a layer type known to
/// hold a tar: the OCI layer types, Docker's gzip layers, and the uncompressed Docker
/// layers docker-archives hold ([`DOCKER_LAYER_TAR`](crate::DOCKER_LAYER_TAR)).
pub fn layer_compression(descriptor: &Descriptor) -> Option<Compression> {
    descriptor.media_type.layer_compression().or_else(|| {
        (descriptor.media_type.as_str() == crate::DOCKER_LAYER_TAR).then_some(Compression::None)
    })
}

/// Reads and parses a manifest, index or manifest list of `source`, verified; the kind
/// comes from the descriptor's media type, else from the document. Documents above
/// [`MAX_DOCUMENT_SIZE`] are refused.
pub fn read_manifest(
    source: &dyn Source,
    descriptor: &Descriptor,
) -> Result<(Vec<u8>, AnyManifest), ImageError> {
    let bytes = source.read_small(descriptor, MAX_DOCUMENT_SIZE)?;
    let manifest = parse_manifest(source, descriptor, &bytes)?;
    Ok((bytes, manifest))
}

/// Parses the bytes of a manifest, index or manifest list read from `source`; the kind
/// comes from the descriptor's media type, else from the document.
pub(crate) fn parse_manifest(
    source: &dyn Source,
    descriptor: &Descriptor,
    bytes: &[u8],
) -> Result<AnyManifest, ImageError> {
    AnyManifest::parse(bytes, Some(descriptor.media_type.as_str())).map_err(|error| {
        ImageError::Document {
            digest: descriptor.digest.clone(),
            transport: source.transport(),
            location: source.location(),
            source: error,
        }
    })
}

/// Reads and parses an image config (OCI or Docker) of `source`, verified.
pub fn read_config(
    source: &dyn Source,
    descriptor: &Descriptor,
) -> Result<(Vec<u8>, ImageConfig), ImageError> {
    let bytes = source.read_small(descriptor, MAX_DOCUMENT_SIZE)?;
    let config = parse_config(source, descriptor, &bytes)?;
    Ok((bytes, config))
}

/// Parses the bytes of an image config (OCI or Docker) read from `source`.
pub(crate) fn parse_config(
    source: &dyn Source,
    descriptor: &Descriptor,
    bytes: &[u8],
) -> Result<ImageConfig, ImageError> {
    oci_spec_types::document::from_slice(bytes).map_err(|error| ImageError::Config {
        digest: descriptor.digest.clone(),
        transport: source.transport(),
        location: source.location(),
        source: error,
    })
}

/// The layers of a manifest, each paired with the diffID at the same position of its
/// config's `rootfs.diff_ids` (`None` past their end, or without a config).
pub(crate) fn layers_of(layers: &[Descriptor], diff_ids: Option<&[Digest]>) -> Vec<Layer> {
    layers
        .iter()
        .enumerate()
        .map(|(i, d)| Layer {
            descriptor: d.clone(),
            diff_id: diff_ids.and_then(|ids| ids.get(i)).cloned(),
        })
        .collect()
}

/// One of `candidates`: the only one unless a platform was asked for (or it has none),
/// else the first matching `platform` (default: this machine's). `Ok(None)` when there
/// is no candidate; `Err` with the platform wanted when none matches.
pub(crate) fn pick<'a, D: Borrow<Descriptor>>(
    candidates: &'a [D],
    platform: Option<&Platform>,
) -> Result<Option<&'a D>, Box<Platform>> {
    match candidates {
        [] => Ok(None),
        [only] if platform.is_none() || only.borrow().platform.is_none() => Ok(Some(only)),
        _ => {
            let wanted = platform.cloned().unwrap_or_else(Platform::host);
            let matcher = PlatformMatcher::new(&wanted);
            candidates
                .iter()
                .find(|d| {
                    let d: &Descriptor = (*d).borrow();
                    d.platform.as_ref().is_some_and(|p| matcher.matches(p))
                })
                .map(Some)
                .ok_or_else(|| Box::new(wanted))
        }
    }
}

/// The platforms of `candidates`, for a message (`none` for a descriptor without one).
pub(crate) fn platforms_of<D: Borrow<Descriptor>>(candidates: &[D]) -> Vec<String> {
    candidates
        .iter()
        .map(|d| platform_string(d.borrow()).unwrap_or_else(|| "none".into()))
        .collect()
}

/// Descends from `root` through indexes (OCI indexes and Docker manifest lists) to one
/// image manifest, choosing by `platform` at each index: an index with one entry gives
/// that entry whatever its platform unless a platform was asked for; otherwise the first
/// entry matching `platform` (default: this machine's) wins. Indexes are followed at most
/// [`MAX_DEPTH`] deep. Every document is read verified. Returns the manifest's descriptor
/// (the index entry that led to it), its exact bytes and the parsed manifest.
pub fn descend(
    source: &dyn Source,
    root: &Descriptor,
    platform: Option<&Platform>,
) -> Result<(Descriptor, Vec<u8>, AnyManifest), ImageError> {
    let mut current = root.clone();
    for _ in 0..=MAX_DEPTH {
        let (bytes, manifest) = read_manifest(source, &current)?;
        let Some(entries) = manifest.entries() else {
            return Ok((current, bytes, manifest));
        };
        let next = match pick(entries, platform) {
            Ok(Some(next)) => next.clone(),
            Ok(None) => {
                return Err(ImageError::NoPlatform {
                    what: format!("index {}", current.digest),
                    index: Some(current.digest.clone()),
                    wanted: platform.cloned().unwrap_or_else(Platform::host).to_string(),
                    available: Vec::new(),
                });
            }
            Err(wanted) => {
                return Err(ImageError::NoPlatform {
                    what: format!("index {}", current.digest),
                    index: Some(current.digest.clone()),
                    wanted: wanted.to_string(),
                    available: platforms_of(entries),
                });
            }
        };
        current = next;
    }
    Err(ImageError::TooDeep {
        digest: current.digest,
    })
}

/// The image of a manifest already read (by [`descend`], say): its config read verified
/// (parsed when its media type is an image config's), and its layers paired with the
/// config's diffIDs by position.
pub fn image_of(
    source: &dyn Source,
    descriptor: Descriptor,
    manifest_bytes: Vec<u8>,
    manifest: AnyManifest,
) -> Result<Image, ImageError> {
    let Some(config_descriptor) = manifest.config().cloned() else {
        // An index where a manifest was expected.
        return Err(ImageError::NotAManifest {
            digest: descriptor.digest.clone(),
            transport: source.transport(),
            location: source.location(),
            media_type: manifest.kind().media_type().to_owned(),
        });
    };
    let (config_bytes, config) = if config_descriptor.media_type.is_image_config() {
        let (bytes, config) = read_config(source, &config_descriptor)?;
        (bytes, Some(config))
    } else {
        (
            source.read_small(&config_descriptor, MAX_DOCUMENT_SIZE)?,
            None,
        )
    };
    let diff_ids = config.as_ref().map(|c| c.rootfs.diff_ids.as_slice());
    let layers = layers_of(manifest.layers().unwrap_or_default(), diff_ids);
    Ok(Image {
        descriptor,
        manifest_bytes,
        manifest,
        config_descriptor,
        config_bytes,
        config,
        layers,
    })
}

/// The root the source offers for `platform`, among its
/// [`candidates`](crate::Source::candidates) (one name with one entry per platform): the
/// only one unless a platform was asked for (or it has none), else the first whose
/// platform matches `platform` (default: this machine's).
pub fn select_root(
    source: &dyn Source,
    platform: Option<&Platform>,
) -> Result<Descriptor, ImageError> {
    let candidates = source.candidates();
    match pick(candidates, platform) {
        Ok(Some(root)) => Ok(root.clone()),
        Ok(None) => Ok(source.root().clone()),
        Err(wanted) => Err(ImageError::NoPlatform {
            what: source.describe(),
            index: None,
            wanted: wanted.to_string(),
            available: platforms_of(candidates),
        }),
    }
}

/// The image the source names, for `platform` where it names several or an index:
/// [`select_root`], [`descend`], then [`image_of`].
pub fn read_image(source: &dyn Source, platform: Option<&Platform>) -> Result<Image, ImageError> {
    let root = select_root(source, platform)?;
    let (descriptor, bytes, manifest) = descend(source, &root, platform)?;
    image_of(source, descriptor, bytes, manifest)
}

/// Inspects what the source names ([`select_root`]). An index is shown as such unless
/// `platform` is given, in which case [`descend`] picks one manifest by platform.
pub fn inspect(source: &dyn Source, platform: Option<&Platform>) -> Result<Inspection, ImageError> {
    let root = select_root(source, platform)?;
    let (bytes, manifest) = read_manifest(source, &root)?;
    if manifest.entries().is_none() {
        return image_of(source, root, bytes, manifest).map(Inspection::Image);
    }
    if platform.is_none() {
        return Ok(Inspection::Index {
            descriptor: root,
            bytes,
            index: manifest,
        });
    }
    let (descriptor, bytes, manifest) = descend(source, &root, platform)?;
    image_of(source, descriptor, bytes, manifest).map(Inspection::Image)
}
