//! Copy sources backed by an OCI layout (`oci:DIR[:REF]`) and by a tar of one
//! (`oci-archive:FILE[:REF]`).

use std::path::{Path, PathBuf};

use oci_digest::VerifyingReader;
use oci_spec_types::document::{AnyManifest, probe};
use oci_spec_types::{Descriptor, Digest, Document, ImageIndex, OciLayout, Platform};

use crate::layout::{Layout, MAX_INDEX_SIZE, OpenError};
use crate::name::{ImageName, Reference};
use crate::resolve::{MAX_DOCUMENT_SIZE, ResolveError, select_entry};
use crate::tar_index::{TarIndex, TarIndexError};
use crate::transport::{BlobOpenError, BlobReader, Source};

/// Why a source could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The layout could not be opened.
    #[error(transparent)]
    Layout(#[from] OpenError),
    /// The image could not be found in the layout or archive.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The archive could not be read.
    #[error(transparent)]
    Archive(#[from] TarIndexError),
    /// The archive is not a tar of an OCI layout.
    #[error("archive {}: {message}", file.display())]
    NotALayout {
        /// The archive.
        file: PathBuf,
        /// What is wrong: a missing or invalid `oci-layout` or `index.json`.
        message: String,
    },
}

impl SourceError {
    /// Whether the source is damaged (exit 1) rather than absent, unreadable or
    /// ambiguously named (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            SourceError::Layout(e) => e.is_check_failure(),
            SourceError::Resolve(e) => e.is_check_failure(),
            SourceError::Archive(e) => e.is_check_failure(),
            SourceError::NotALayout { .. } => true,
        }
    }
}

/// `oci:DIR[:REF]`: an image of an OCI layout.
#[derive(Debug, Clone)]
pub struct LayoutSource {
    layout: Layout,
    name: String,
    root: Descriptor,
}

impl LayoutSource {
    /// Opens the layout `name.dir` and finds the entry `name.reference` names (for
    /// `platform` where several entries share it), as [`Layout::resolve`] does.
    pub fn open(
        name: &ImageName,
        platform: Option<&Platform>,
    ) -> Result<LayoutSource, SourceError> {
        let layout = Layout::open(&name.dir)?;
        let root = layout.resolve(name.reference.as_ref(), platform)?;
        Ok(LayoutSource {
            layout,
            name: format!("oci:{name}"),
            root,
        })
    }

    /// A source for the image `root` of `layout`.
    pub fn new(layout: Layout, root: Descriptor) -> LayoutSource {
        LayoutSource {
            name: format!("oci:{}", layout.root().display()),
            layout,
            root,
        }
    }

    /// The layout read from.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
}

impl Source for LayoutSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError> {
        let digest = &descriptor.digest;
        match self.layout.blobs().open_sized(digest, descriptor.size) {
            Ok(Some(reader)) => Ok(Box::new(reader)),
            Ok(None) => Err(BlobOpenError::Missing {
                digest: digest.clone(),
                source_name: self.describe(),
            }),
            Err(oci_digest::OpenError::Io { source, path, .. }) => {
                Err(BlobOpenError::Unavailable {
                    digest: digest.clone(),
                    source_name: self.describe(),
                    message: format!("cannot open {}: {source}", path.display()),
                })
            }
            Err(e) => Err(BlobOpenError::Damaged {
                digest: digest.clone(),
                source_name: self.describe(),
                message: e.to_string(),
            }),
        }
    }
}

/// `oci-archive:FILE[:REF]`: an image of an OCI layout stored as a tar (plain, gzip or
/// zstd), read in place through an index of its entries.
pub struct OciArchiveSource {
    archive: TarIndex,
    name: String,
    root: Descriptor,
    index: ImageIndex,
}

impl std::fmt::Debug for OciArchiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciArchiveSource")
            .field("name", &self.name)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// The name of a blob inside a layout or its archive.
pub(crate) fn blob_name(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm_name(), digest.encoded())
}

impl OciArchiveSource {
    /// Indexes the archive `file` (a compressed one is first decompressed into a temp file
    /// in `scratch`), checks its `oci-layout` and finds the entry of its `index.json` that
    /// `reference` names (for `platform` where several share it; a digest may also name
    /// any manifest or index blob of the archive).
    pub fn open(
        file: &Path,
        reference: Option<&Reference>,
        platform: Option<&Platform>,
        scratch: &Path,
    ) -> Result<OciArchiveSource, SourceError> {
        let (archive, index) = open_archive(file, scratch)?;
        let found = select_entry(&index, reference, platform, file)?.cloned();
        let root = match (found, reference) {
            (Some(root), _) => root,
            (None, Some(Reference::Digest(digest))) => {
                describe_blob(&archive, digest).ok_or_else(|| ResolveError::NotFound {
                    reference: digest.to_string(),
                    layout: file.to_path_buf(),
                })?
            }
            (None, _) => {
                return Err(ResolveError::NotFound {
                    reference: reference.map(Reference::to_string).unwrap_or_default(),
                    layout: file.to_path_buf(),
                }
                .into());
            }
        };
        let mut name = format!("oci-archive:{}", file.display());
        if let Some(reference) = reference {
            name.push(':');
            name.push_str(&reference.to_string());
        }
        Ok(OciArchiveSource {
            archive,
            name,
            root,
            index,
        })
    }

    /// The whole archive, to carry its blobs and index over (the root is the empty
    /// descriptor).
    pub(crate) fn open_whole(file: &Path, scratch: &Path) -> Result<OciArchiveSource, SourceError> {
        let (archive, index) = open_archive(file, scratch)?;
        Ok(OciArchiveSource {
            archive,
            name: format!("oci-archive:{}", file.display()),
            root: Descriptor::empty(),
            index,
        })
    }

    /// The archive's `index.json`.
    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// The names of the blobs the archive holds (`blobs/ALG/ENCODED`), as digests.
    pub(crate) fn blobs(&self) -> Vec<(Digest, u64)> {
        self.archive
            .names()
            .filter_map(|name| {
                let rest = name.strip_prefix("blobs/")?;
                let (algorithm, encoded) = rest.split_once('/')?;
                let digest = Digest::parse(&format!("{algorithm}:{encoded}")).ok()?;
                let size = self.archive.size(name)?;
                Some((digest, size))
            })
            .collect()
    }
}

/// Indexes the archive, checks its `oci-layout` and reads its `index.json`.
fn open_archive(file: &Path, scratch: &Path) -> Result<(TarIndex, ImageIndex), SourceError> {
    let archive = TarIndex::open(file, scratch)?;
    let not_a_layout = |message: String| SourceError::NotALayout {
        file: file.to_path_buf(),
        message,
    };
    let layout_file = archive
        .read_entry("oci-layout", 1 << 20)?
        .ok_or_else(|| not_a_layout("it has no oci-layout file".into()))?;
    if let Err(e) = oci_spec_types::document::from_slice::<OciLayout>(&layout_file) {
        return Err(not_a_layout(format!("its oci-layout file is invalid: {e}")));
    }
    let index = archive
        .read_entry("index.json", MAX_INDEX_SIZE)?
        .ok_or_else(|| not_a_layout("it has no index.json".into()))?;
    let index = Document::<ImageIndex>::parse(index)
        .map_err(|e| not_a_layout(format!("its index.json is not an image index: {e}")))?
        .into_value();
    Ok((archive, index))
}

/// A descriptor of a manifest or index blob of the archive, from its own media type.
fn describe_blob(archive: &TarIndex, digest: &Digest) -> Option<Descriptor> {
    let name = blob_name(digest);
    let bytes = archive.read_entry(&name, MAX_DOCUMENT_SIZE).ok()??;
    let kind = probe(&bytes).ok()?.kind()?;
    AnyManifest::parse(&bytes, Some(kind.media_type())).ok()?;
    Some(Descriptor::new(
        kind.media_type(),
        digest.clone(),
        bytes.len() as u64,
    ))
}

impl Source for OciArchiveSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError> {
        let digest = &descriptor.digest;
        let name = blob_name(digest);
        let missing = || BlobOpenError::Missing {
            digest: digest.clone(),
            source_name: self.describe(),
        };
        let size = self.archive.size(&name).ok_or_else(missing)?;
        if size != descriptor.size {
            return Err(BlobOpenError::Damaged {
                digest: digest.clone(),
                source_name: self.describe(),
                message: format!(
                    "{name} has {size} bytes, the descriptor says {}",
                    descriptor.size
                ),
            });
        }
        let reader = self.archive.open_entry(&name).ok_or_else(missing)?;
        let reader = VerifyingReader::new(reader, digest, descriptor.size).map_err(|e| {
            BlobOpenError::Damaged {
                digest: digest.clone(),
                source_name: self.describe(),
                message: e.to_string(),
            }
        })?;
        Ok(Box::new(reader))
    }
}
