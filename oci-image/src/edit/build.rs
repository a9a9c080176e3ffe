//! Building an image from a root filesystem (`ocimg build`).
//!
//! The new top layer is the difference between the root filesystem and the base image's
//! filesystem (the base's layers applied, verified, onto a scratch directory beside the
//! layout, removed afterwards), or the whole tree without a base. The layer is streamed
//! into the blob store while its digest, size and diffID are measured in the same pass
//! (the store trusts that digest rather than hashing the layer again); nothing holds a
//! whole layer in memory.
//!
//! The config is the base's (unknown members kept) or a new one for the platform asked for
//! (default: this machine's), with the config edits applied, the diffID appended and a
//! history entry `created_by: "ocimg build"`. With a `SOURCE_DATE_EPOCH`, `created`, the
//! history time and every layer mtime above it are that time, so the same inputs give the
//! same manifest digest, wherever the layout and root filesystem are.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_digest::{Measured, OpenError as BlobOpenError, PutError};
use oci_layer::{
    ApplyError, ApplyOptions, Compression, CreateError, CreateOptions, CreateProgress, Expected,
    apply_layers,
};
use oci_spec_types::annotations::{BASE_DIGEST, BASE_NAME};
use oci_spec_types::{Algorithm, Descriptor, Digest, History, ImageConfig, Platform};

use super::{ConfigEdits, EditError, OciImage, Written, timestamp};
use crate::layout::{InitError, Layout, OpenError};
use crate::name::ImageName;
use crate::runtime::unpack::Counting;
use crate::{Progress, UnpackEvent};

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The root filesystem whose content (or difference from the base) becomes the layer.
    pub rootfs: PathBuf,
    /// The base image, `DIR[:REF]`; `None` builds from scratch.
    pub base: Option<ImageName>,
    /// Changes to the config.
    pub edits: ConfigEdits,
    /// Without a base, the new config's platform (default: this machine's); with a base,
    /// the platform chosen from a multi-platform base.
    pub platform: Option<Platform>,
    /// The layer's compression.
    pub compression: Compression,
    /// `SOURCE_DATE_EPOCH`: the creation time, and the clamp for layer mtimes.
    pub source_date_epoch: Option<i64>,
    /// Compression threads; 0 means all cores. The output never depends on it.
    pub threads: usize,
    /// Progress observer: with a base, [`UnpackEvent::Layer`](crate::UnpackEvent::Layer)
    /// and [`UnpackEvent::Read`](crate::UnpackEvent::Read) as each base layer is applied
    /// to the scratch tree; then [`UnpackEvent::Create`](crate::UnpackEvent::Create) and
    /// [`UnpackEvent::Written`](crate::UnpackEvent::Written) as the new layer is written
    /// (its estimate, from scratch only, is the size of the root filesystem as a tar).
    pub progress: Progress,
}

/// The compression of a built layer unless asked otherwise: gzip at libdeflate's level 4,
/// which compresses as well as zlib's level 6 (what umoci, skopeo and Go's gzip write: the
/// debootstrap layer is 0.98 of umoci's) at about two thirds of level 6's CPU time.
/// `ocimg layer create` keeps level 6, which CLI.md fixes for it.
pub const BUILD_COMPRESSION: Compression = Compression::Gzip { level: 4 };

impl BuildOptions {
    /// Options building `rootfs` from scratch, [`BUILD_COMPRESSION`], current time.
    pub fn new(rootfs: impl Into<PathBuf>) -> BuildOptions {
        BuildOptions {
            rootfs: rootfs.into(),
            base: None,
            edits: ConfigEdits::default(),
            platform: None,
            compression: BUILD_COMPRESSION,
            source_date_epoch: None,
            threads: 0,
            progress: Progress::default(),
        }
    }
}

/// What a build wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    /// The image: its `index.json` entry, config and layers (the new one last).
    pub image: Written,
    /// The new layer's diffID.
    pub diff_id: Digest,
    /// Things left out or changed on the way (sockets skipped, ...), one sentence each.
    pub warnings: Vec<String>,
}

/// Why an image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The root filesystem is not a directory.
    #[error("root filesystem {path} is not a directory")]
    Rootfs {
        /// The path given.
        path: PathBuf,
    },
    /// The layout could not be opened or created.
    #[error(transparent)]
    Layout(#[from] InitError),
    /// The base image's layout could not be opened.
    #[error("base layout: {0}")]
    BaseLayout(#[source] OpenError),
    /// The base image could not be read.
    #[error("base image: {0}")]
    Base(#[source] EditError),
    /// A blob of the base is missing.
    #[error("base image: blob {digest} is missing")]
    MissingBlob {
        /// The blob's digest.
        digest: Digest,
    },
    /// A blob of the base could not be opened.
    #[error("base image: {0}")]
    OpenBlob(#[from] BlobOpenError),
    /// A blob of the base could not be copied into the layout.
    #[error("cannot copy base blob {digest}: {source}")]
    CopyBlob {
        /// The blob's digest.
        digest: Digest,
        /// The cause.
        #[source]
        source: PutError,
    },
    /// The scratch directory for the base's filesystem could not be made.
    #[error("cannot create a scratch directory in {path}: {source}")]
    Scratch {
        /// Where it was to be made.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The base's layers could not be applied.
    #[error("unpacking the base image: {0}")]
    Unpack(#[source] ApplyError),
    /// The layer could not be created.
    #[error("creating the layer from {path}: {source}")]
    Layer {
        /// The root filesystem.
        path: PathBuf,
        /// The cause.
        #[source]
        source: CreateError,
    },
    /// The layer could not be stored.
    #[error("storing the layer: {0}")]
    PutLayer(#[source] PutError),
    /// The config, manifest or tag could not be written.
    #[error(transparent)]
    Write(EditError),
}

impl BuildError {
    /// Whether a check failed (exit 1): a damaged base, a refused layer entry, a rejected
    /// tag; everything else is a usage or I/O error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            BuildError::Base(e) | BuildError::Write(e) => e.is_check_failure(),
            BuildError::BaseLayout(e) => e.is_check_failure(),
            BuildError::MissingBlob { .. } => true,
            BuildError::OpenBlob(e) => !matches!(e, BlobOpenError::Io { .. }),
            BuildError::CopyBlob { source, .. } => matches!(source, PutError::Mismatch(_)),
            BuildError::Unpack(e) => !e.is_io(),
            BuildError::Layer { source, .. } => matches!(source, CreateError::WhiteoutName { .. }),
            BuildError::Rootfs { .. }
            | BuildError::Layout(_)
            | BuildError::Scratch { .. }
            | BuildError::PutLayer(_) => false,
        }
    }
}

/// Builds an image into the layout at `dir` (created when missing) and tags it `tag`
/// (replacing any entry so tagged). See the module docs.
pub fn build(dir: &Path, tag: &str, options: &BuildOptions) -> Result<Built, BuildError> {
    if !options.rootfs.is_dir() {
        return Err(BuildError::Rootfs {
            path: options.rootfs.clone(),
        });
    }
    if !crate::name::is_valid_tag(tag) {
        return Err(BuildError::Write(EditError::InvalidTag {
            tag: tag.to_owned(),
        }));
    }
    let layout = Layout::open_or_init(dir)?;
    let base = match &options.base {
        None => None,
        Some(name) => Some(read_base(&layout, name, options.platform.as_ref())?),
    };
    // Layers of the image: the base's, then the new one.
    let count = base.as_ref().map_or(0, |b| b.manifest.layers.len()) + 1;
    let index = count - 1;
    let create_options = CreateOptions {
        compression: options.compression,
        source_date_epoch: options.source_date_epoch,
        opaque: false,
        threads: options.threads,
        progress: CreateProgress::default(),
    };
    let mut warnings = Vec::new();
    // oci-layer measures the compressed stream's digest and size as it writes it: the
    // store only counts, and publishes under that digest (hashing the layer once).
    let mut writer = layout
        .blobs()
        .writer_unhashed(Algorithm::Sha256)
        .map_err(BuildError::PutLayer)?;
    let created = match &base {
        None => {
            let estimate = options
                .progress
                .0
                .is_some()
                .then(|| tar_estimate(&options.rootfs));
            let create_options = observed(create_options, &options.progress, index, estimate);
            oci_layer::create(&options.rootfs, &mut writer, &create_options)
        }
        Some(base) => {
            let scratch = unpack_base(
                &layout,
                base,
                &options.rootfs,
                &options.progress,
                &mut warnings,
            )?;
            // Only the changes go into the layer: their size is not known beforehand.
            let create_options = observed(create_options, &options.progress, index, None);
            oci_layer::diff(
                &scratch.path().join("rootfs"),
                &options.rootfs,
                &mut writer,
                &create_options,
            )
        }
    }
    .map_err(|source| BuildError::Layer {
        path: options.rootfs.clone(),
        source,
    })?;
    warnings.extend(created.warnings.iter().map(ToString::to_string));
    let measured = writer
        .commit_measured(&Measured {
            digest: created.digest.clone(),
            size: created.size,
        })
        .map_err(BuildError::PutLayer)?;
    let layer = Descriptor::new(created.media_type.clone(), measured.digest, measured.size);

    let (manifest, mut config, mut layers) = match base {
        Some(OciImage {
            descriptor,
            mut manifest,
            config,
        }) => {
            // base.digest names the immediate base (A11); a base.name inherited from the
            // base's own manifest would name the base's base: dropped (the base's name as
            // a distribution reference is not known here).
            let annotations = manifest.annotations.get_or_insert_with(Default::default);
            annotations.remove(BASE_NAME);
            annotations.insert(BASE_DIGEST.to_owned(), descriptor.digest.to_string());
            let layers = manifest.layers.clone();
            (Some(manifest), config, layers)
        }
        None => {
            let platform = options.platform.clone().unwrap_or_else(Platform::host);
            (None, ImageConfig::new(&platform, Vec::new()), Vec::new())
        }
    };
    layers.push(layer);
    config.rootfs.diff_ids.push(created.diff_id.clone());
    options.edits.apply(&mut config);
    let time = timestamp(options.source_date_epoch);
    config.created = Some(time.clone());
    config.history.get_or_insert_with(Vec::new).push(History {
        created: Some(time),
        created_by: Some("ocimg build".to_owned()),
        author: options.edits.author.clone(),
        comment: options.edits.history_comment.clone(),
        empty_layer: None,
        extra: BTreeMap::new(),
    });
    let image = layout
        .write_image(manifest, config, layers, tag)
        .map_err(BuildError::Write)?;
    Ok(Built {
        image,
        diff_id: created.diff_id,
        warnings,
    })
}

/// Announces new layer `index` to `progress` ([`UnpackEvent::Create`]) and returns the
/// options with an observer that reports its tar as it grows ([`UnpackEvent::Written`]).
fn observed(
    options: CreateOptions,
    progress: &Progress,
    index: usize,
    estimate: Option<u64>,
) -> CreateOptions {
    let Some(f) = progress.0.clone() else {
        return options;
    };
    let count = index + 1;
    f(&UnpackEvent::Create {
        index,
        count,
        estimate,
    });
    CreateOptions {
        progress: CreateProgress(Some(Arc::new(move |written| {
            f(&UnpackEvent::Written {
                index,
                written,
                estimate,
            });
        }))),
        ..options
    }
}

/// About how many bytes a tar of every entry under `root` takes: a 512-byte header per
/// entry, each regular file's content rounded up to 512 bytes, the 1024-byte trailer
/// (long names, extended attributes and hard links make the real tar differ a little).
/// Unreadable entries count as nothing; the layer itself reports them.
fn tar_estimate(root: &Path) -> u64 {
    let mut total = 1024;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            total += 512;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += meta.len().div_ceil(512) * 512;
            }
        }
    }
    total
}

/// Reads the base image and makes sure its layers are in `layout` (copied, verified, from
/// another layout).
fn read_base(
    layout: &Layout,
    name: &ImageName,
    platform: Option<&Platform>,
) -> Result<OciImage, BuildError> {
    let same = same_dir(layout.root(), &name.dir);
    let other;
    let base_layout = if same {
        layout
    } else {
        other = Layout::open(&name.dir).map_err(BuildError::BaseLayout)?;
        &other
    };
    let source = base_layout
        .read_oci_image(name.reference.as_ref(), platform, "base image")
        .map_err(BuildError::Base)?;
    if !same {
        for layer in &source.manifest.layers {
            if matches!(layout.blobs().stat(&layer.digest), Ok(Some(_))) {
                continue;
            }
            let reader = base_layout
                .blobs()
                .open_sized(&layer.digest, layer.size)?
                .ok_or_else(|| BuildError::MissingBlob {
                    digest: layer.digest.clone(),
                })?;
            layout
                .blobs()
                .put_verified(reader, &layer.digest, Some(layer.size))
                .map_err(|source| BuildError::CopyBlob {
                    digest: layer.digest.clone(),
                    source,
                })?;
        }
    }
    Ok(source)
}

/// Applies the base's layers (verified against their digests and diffIDs) onto
/// `SCRATCH/rootfs`, the scratch directory being made beside the layout (unless that is
/// inside `rootfs`).
fn unpack_base(
    layout: &Layout,
    base: &OciImage,
    rootfs: &Path,
    progress: &Progress,
    warnings: &mut Vec<String>,
) -> Result<tempfile::TempDir, BuildError> {
    let mut parent = match layout.root().parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Never inside the root filesystem being built, which would then hold the scratch
    // tree: the system's temporary directory instead (which may lack user xattrs).
    if let (Ok(p), Ok(r)) = (parent.canonicalize(), rootfs.canonicalize())
        && p.starts_with(&r)
    {
        parent = std::env::temp_dir();
    }
    let scratch = tempfile::Builder::new()
        .prefix(".ocimg-build-")
        .tempdir_in(&parent)
        .map_err(|source| BuildError::Scratch {
            path: parent.clone(),
            source,
        })?;
    let root = scratch.path().join("rootfs");
    std::fs::create_dir(&root).map_err(|source| BuildError::Scratch {
        path: root.clone(),
        source,
    })?;
    let mut readers = Vec::with_capacity(base.manifest.layers.len());
    for (i, layer) in base.manifest.layers.iter().enumerate() {
        let reader = layout
            .blobs()
            .open_sized(&layer.digest, layer.size)?
            .ok_or_else(|| BuildError::MissingBlob {
                digest: layer.digest.clone(),
            })?;
        let expected = Expected {
            digest: Some(layer.digest.clone()),
            diff_id: base.config.rootfs.diff_ids.get(i).cloned(),
        };
        readers.push((reader, expected));
    }
    let options = ApplyOptions {
        rootless: !rustix::process::geteuid().is_root(),
        ..ApplyOptions::default()
    };
    // Each layer is announced when apply_layers takes it, then reports its bytes read.
    let count = base.manifest.layers.len() + 1;
    let layers = base.manifest.layers.iter();
    let readers = readers.into_iter().zip(layers).enumerate().map(
        |(index, ((reader, expected), descriptor))| {
            progress.emit(&UnpackEvent::Layer {
                index,
                count,
                descriptor,
            });
            let reader = Counting {
                inner: reader,
                read: 0,
                size: descriptor.size,
                index,
                progress: progress.clone(),
            };
            (reader, expected)
        },
    );
    let applied = apply_layers(&root, readers, &options).map_err(BuildError::Unpack)?;
    warnings.extend(applied.warnings);
    Ok(scratch)
}

/// Whether two paths name the same directory.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
