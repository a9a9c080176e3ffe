//! Finding an image in a layout: `index.json` entries by tag, digest and platform, and
//! verified reads of the documents they name.

use std::path::PathBuf;

use oci_digest::ReadError;
use oci_spec_types::document::{AnyManifest, AnyManifestError, probe};
use oci_spec_types::{Descriptor, Digest, ImageConfig, ImageIndex, Platform};

use crate::LayoutSource;
use crate::image::{ImageError, Inspection};
use crate::layout::{IndexError, Layout};
use crate::name::Reference;

/// The largest document (manifest, index, config) read into memory, in bytes.
pub const MAX_DOCUMENT_SIZE: u64 = 16 << 20;

/// Why a document blob could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The blob is not in the layout.
    #[error("blob {digest} is missing")]
    Missing {
        /// The digest asked for.
        digest: Digest,
    },
    /// The blob could not be read, or does not match its digest or size.
    #[error("cannot read blob {digest}")]
    Read {
        /// The digest asked for.
        digest: Digest,
        /// The cause (boxed: the error stays small).
        #[source]
        source: Box<ReadError>,
    },
    /// The descriptor's size is above [`MAX_DOCUMENT_SIZE`].
    #[error("document {digest} has {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The digest asked for.
        digest: Digest,
        /// The descriptor's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The blob is not the document its descriptor says.
    #[error("document {digest} is invalid")]
    Parse {
        /// The digest asked for.
        digest: Digest,
        /// What the parser found.
        #[source]
        source: AnyManifestError,
    },
}

impl BlobError {
    /// Whether the layout is damaged (exit 1: missing, damaged or invalid blob), as opposed
    /// to unreadable.
    pub fn is_check_failure(&self) -> bool {
        !matches!(
            self,
            BlobError::Read { source, .. }
                if matches!(
                    **source,
                    ReadError::Io { .. } | ReadError::Open(oci_digest::OpenError::Io { .. })
                )
        )
    }

    /// The digest of the blob at fault.
    pub fn digest(&self) -> &Digest {
        match self {
            BlobError::Missing { digest }
            | BlobError::Read { digest, .. }
            | BlobError::TooLarge { digest, .. }
            | BlobError::Parse { digest, .. } => digest,
        }
    }
}

/// Why an image could not be found in a layout.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// `index.json` could not be read.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A document on the way could not be read.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// No entry has the tag, and no manifest or index has the digest.
    #[error("no image {reference} in layout {layout}")]
    NotFound {
        /// The reference asked for.
        reference: String,
        /// The layout directory.
        layout: PathBuf,
    },
    /// The layout holds no image, or several when none was named.
    #[error(
        "layout {layout} holds {count} images{}; name one as DIR:REF",
        list(refs)
    )]
    NotOne {
        /// The layout directory.
        layout: PathBuf,
        /// How many distinct entries there are.
        count: usize,
        /// Their ref names, where they have one.
        refs: Vec<String>,
    },
    /// Several candidates, none for the wanted platform.
    #[error("{what} has no entry for platform {wanted} (available: {})", available.join(", "))]
    NoPlatform {
        /// What was searched: the reference or the index digest.
        what: String,
        /// The wanted platform.
        wanted: String,
        /// The platforms found.
        available: Vec<String>,
    },
    /// The image under the entry could not be read.
    #[error(transparent)]
    Image(#[from] ImageError),
}

fn list(refs: &[String]) -> String {
    if refs.is_empty() {
        String::new()
    } else {
        format!(" ({})", refs.join(", "))
    }
}

impl ResolveError {
    /// Whether a check failed (exit 1): a damaged layout or blob. A name that is not found
    /// or ambiguous is a usage error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            ResolveError::Index(e) => e.is_check_failure(),
            ResolveError::Blob(e) => e.is_check_failure(),
            ResolveError::Image(e) => e.is_check_failure(),
            ResolveError::NotFound { .. }
            | ResolveError::NotOne { .. }
            | ResolveError::NoPlatform { .. } => false,
        }
    }
}

/// How deep indexes may nest when descending to a manifest.
pub const MAX_DEPTH: usize = 8;

/// A `OS/ARCH[/VARIANT]` spelling of a descriptor's platform, `None` when absent.
pub fn platform_string(descriptor: &Descriptor) -> Option<String> {
    descriptor.platform.as_ref().map(Platform::to_string)
}

/// Selects the entry of `index` that `reference` names, for `platform` (default: this
/// machine's) where several entries share the name:
///
/// - a tag selects the entries with that ref name; one entry is taken whatever its
///   platform unless a platform was asked for; among several, the first whose platform
///   matches wins;
/// - a digest selects the entries with that digest, likewise;
/// - no reference works when every entry has the same ref name (or digest): one image,
///   perhaps for several platforms.
///
/// `Ok(None)` when nothing has the tag or digest.
pub fn select_entry<'a>(
    index: &'a ImageIndex,
    reference: Option<&Reference>,
    platform: Option<&Platform>,
    layout: &std::path::Path,
) -> Result<Option<&'a Descriptor>, ResolveError> {
    let candidates: Vec<&Descriptor> = match reference {
        Some(Reference::Tag(tag)) => index
            .manifests
            .iter()
            .filter(|d| d.ref_name() == Some(tag))
            .collect(),
        Some(Reference::Digest(digest)) => index
            .manifests
            .iter()
            .filter(|d| &d.digest == digest)
            .collect(),
        None => {
            let all: Vec<&Descriptor> = index.manifests.iter().collect();
            let one_name = all
                .first()
                .is_some_and(|f| all.iter().all(|d| d.ref_name() == f.ref_name()));
            let one_digest = all
                .first()
                .is_some_and(|f| all.iter().all(|d| d.digest == f.digest));
            if !(one_name || one_digest) || all.is_empty() {
                let mut refs: Vec<String> = all
                    .iter()
                    .filter_map(|d| d.ref_name().map(str::to_owned))
                    .collect();
                refs.dedup();
                return Err(ResolveError::NotOne {
                    layout: layout.to_path_buf(),
                    count: all.len(),
                    refs,
                });
            }
            all
        }
    };
    let what = match reference {
        Some(r) => r.to_string(),
        None => layout.display().to_string(),
    };
    match crate::image::pick(&candidates, platform) {
        Ok(found) => Ok(found.copied()),
        Err(wanted) => Err(ResolveError::NoPlatform {
            what,
            wanted: wanted.to_string(),
            available: crate::image::platforms_of(&candidates),
        }),
    }
}

impl Layout {
    /// Reads a whole document blob (manifest, index, config), verified against the
    /// descriptor's digest and size.
    pub fn read_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>, BlobError> {
        let digest = &descriptor.digest;
        if descriptor.size > MAX_DOCUMENT_SIZE {
            return Err(BlobError::TooLarge {
                digest: digest.clone(),
                size: descriptor.size,
                limit: MAX_DOCUMENT_SIZE,
            });
        }
        match self.blobs().read_verified(digest, Some(descriptor.size)) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(BlobError::Missing {
                digest: digest.clone(),
            }),
            Err(source) => Err(BlobError::Read {
                digest: digest.clone(),
                source: Box::new(source),
            }),
        }
    }

    /// Reads and parses a manifest, index or manifest list, verified; the kind comes from
    /// the descriptor's media type, else from the document.
    pub fn read_manifest(
        &self,
        descriptor: &Descriptor,
    ) -> Result<(Vec<u8>, AnyManifest), BlobError> {
        let bytes = self.read_blob(descriptor)?;
        let manifest =
            AnyManifest::parse(&bytes, Some(descriptor.media_type.as_str())).map_err(|source| {
                BlobError::Parse {
                    digest: descriptor.digest.clone(),
                    source,
                }
            })?;
        Ok((bytes, manifest))
    }

    /// Reads and parses an image config, verified.
    pub fn read_config(
        &self,
        descriptor: &Descriptor,
    ) -> Result<(Vec<u8>, ImageConfig), BlobError> {
        let bytes = self.read_blob(descriptor)?;
        let config =
            oci_spec_types::document::from_slice(&bytes).map_err(|source| BlobError::Parse {
                digest: descriptor.digest.clone(),
                source: AnyManifestError::Parse(source),
            })?;
        Ok((bytes, config))
    }

    /// The `index.json` entry (or, for a digest, any manifest or index blob) that
    /// `reference` names; see [`select_entry`] for the rules.
    pub fn resolve(
        &self,
        reference: Option<&Reference>,
        platform: Option<&Platform>,
    ) -> Result<Descriptor, ResolveError> {
        let index = self.index()?;
        if let Some(found) = select_entry(index.value(), reference, platform, self.root())? {
            return Ok(found.clone());
        }
        match reference {
            Some(Reference::Digest(digest)) => match self.describe_blob(digest)? {
                Some(descriptor) => Ok(descriptor),
                None => Err(self.not_found(reference)),
            },
            _ => Err(self.not_found(reference)),
        }
    }

    fn not_found(&self, reference: Option<&Reference>) -> ResolveError {
        ResolveError::NotFound {
            reference: reference.map(Reference::to_string).unwrap_or_default(),
            layout: self.root().to_path_buf(),
        }
    }

    /// A descriptor for a manifest or index blob of the layout that no `index.json` entry
    /// names: media type from the document, size from the file, and for an image manifest
    /// the platform of its config. `Ok(None)` when the blob is absent or is not a manifest
    /// or index.
    pub fn describe_blob(&self, digest: &Digest) -> Result<Option<Descriptor>, BlobError> {
        let size = match self.blobs().stat(digest) {
            Ok(Some(size)) => size,
            Ok(None) => return Ok(None),
            Err(_) => return Ok(None),
        };
        if size > MAX_DOCUMENT_SIZE {
            return Ok(None);
        }
        let probe_descriptor = Descriptor::new("application/octet-stream", digest.clone(), size);
        let bytes = self.read_blob(&probe_descriptor)?;
        let kind = match probe(&bytes) {
            Ok(p) => p.kind(),
            Err(_) => None,
        };
        let Some(kind) = kind else { return Ok(None) };
        // A config also has a `config` member: not parsing as a manifest (or index) means
        // it is not one.
        let Ok(manifest) = AnyManifest::parse(&bytes, Some(kind.media_type())) else {
            return Ok(None);
        };
        let mut descriptor = Descriptor::new(kind.media_type(), digest.clone(), size);
        if let Some(config) = manifest.config()
            && config.media_type.is_image_config()
            && let Ok((_, config)) = self.read_config(config)
        {
            let mut platform = Platform::new(config.os, config.architecture);
            platform.variant = config.variant;
            platform.os_version = config.os_version;
            descriptor.platform = Some(platform);
        }
        Ok(Some(descriptor))
    }

    /// Inspects the image `reference` names: the entry [`Layout::resolve`] finds, read
    /// through [`crate::inspect`] (an index is shown as such unless `platform` is given).
    pub fn inspect(
        &self,
        reference: Option<&Reference>,
        platform: Option<&Platform>,
    ) -> Result<Inspection, ResolveError> {
        let root = self.resolve(reference, platform)?;
        let source = LayoutSource::new(self.clone(), root);
        Ok(crate::image::inspect(&source, platform)?)
    }
}
