//! Unpacking an image into a directory, and making a runtime bundle of it, from any
//! [`Source`] (a layout, an archive read in place, discovery).
//!
//! [`unpack`] descends from the source's root (by platform where it is an index, see
//! [`crate::descend`]), reads the manifest and config verified, checks that the config
//! describes the layers (`rootfs.type` is `layers` (C15), one diffID per layer), then
//! streams each layer out of the source ([`Source::open`]) into
//! [`oci_layer::apply_layer`], in order, into a hidden staging directory beside the
//! destination. Every layer's digest (compressed bytes, checked by the source's reader)
//! and diffID (uncompressed tar) are checked while streaming; the staging directory is
//! renamed into place only when every layer applied and matched. After any failure the
//! destination does not exist and the staging directory is removed.
//!
//! [`bundle`] does the same into `BUNDLE/rootfs` of a new `BUNDLE` (mode 0700), then
//! writes `BUNDLE/config.json` ([`runtime_config`]) and seeds the volume directories;
//! after any failure `BUNDLE` is removed entirely.
//!
//! # Security
//!
//! The layer contents are untrusted: see [`oci_layer::apply`] for what applying defends
//! against. The destination is claimed with `renameat2(RENAME_NOREPLACE)`, so a
//! destination created by someone else meanwhile is never replaced. Not defended: an
//! interrupted process (a signal) leaves its staging directory behind (named
//! `.NAME.ocimg-unpack-*` beside the destination).

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_digest::VerifyError;
use oci_layer::apply::{ApplyOptions, Error as ApplyError, Expected, apply_layer};
use oci_spec_types::{Descriptor, Digest, ImageConfig, MediaType, Platform};

use crate::image::{ImageError, descend, image_of, layer_compression, select_root};
use crate::runtime::bundle::spec::User;
use crate::runtime::bundle::{
    BundleOptions, ConvertError, HostIds, ROOTFS_DIR, RootfsFiles, SeedError, runtime_config,
    seed_volumes, write_config,
};
use crate::{Source, read_error};

/// Part of the staging directory's name beside the destination: `.` + the first 64
/// characters of its name + this + a random suffix.
pub const STAGING_INFIX: &str = ".ocimg-unpack-";

/// What happens during an unpack, a copy, an fsck or a build, for a progress display.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Layer `index` (from 0) of `count` starts.
    Layer {
        /// Position of the layer, from 0.
        index: usize,
        /// Number of layers.
        count: usize,
        /// The manifest's layer descriptor.
        descriptor: &'a Descriptor,
    },
    /// `read` bytes of layer `index` (of `size`) have been read so far.
    Read {
        /// Position of the layer, from 0.
        index: usize,
        /// Bytes read.
        read: u64,
        /// The layer's size.
        size: u64,
    },
    /// A new layer, `index` (from 0) of `count`, is being written (by `build`).
    Create {
        /// Position of the layer, from 0.
        index: usize,
        /// Number of layers.
        count: usize,
        /// About how many bytes its uncompressed tar will have, when known beforehand.
        estimate: Option<u64>,
    },
    /// `written` bytes of new layer `index`'s uncompressed tar have been written so far.
    Written {
        /// Position of the layer, from 0.
        index: usize,
        /// Bytes of uncompressed tar written.
        written: u64,
        /// The estimate of [`Event::Create`].
        estimate: Option<u64>,
    },
}

/// A progress observer; called from the thread that reads the layer.
pub type ProgressFn = dyn Fn(&Event<'_>) + Send + Sync;

/// An optional progress observer (none by default).
#[derive(Clone, Default)]
pub struct Progress(pub Option<Arc<ProgressFn>>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(Some)"
        } else {
            "Progress(None)"
        })
    }
}

impl Progress {
    pub(crate) fn emit(&self, event: &Event<'_>) {
        if let Some(f) = &self.0 {
            f(event);
        }
    }
}

/// How [`bundle`] behaves.
#[derive(Debug, Clone, Default)]
pub struct BundleDirOptions {
    /// How the image is unpacked into `BUNDLE/rootfs`; `rootless` also makes a rootless
    /// runtime configuration (container root mapped to the current user).
    pub unpack: UnpackOptions,
    /// `process.terminal` (and `TERM=xterm` when the image sets none).
    pub terminal: bool,
}

/// How [`unpack`] behaves.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// The platform to pick where an index or several entries share the name (default:
    /// this machine's).
    pub platform: Option<Platform>,
    /// Rootless: no ownership changes, devices become empty files (see
    /// [`ApplyOptions::rootless`]); a bundle maps container root to the current user.
    pub rootless: bool,
    /// Progress observer.
    pub progress: Progress,
    /// Layers fetched ahead while earlier ones are applied (each through a bounded
    /// in-memory queue of 1 MiB chunks, nothing written to disk); 0 reads
    /// each layer only when it is applied. Worth it where the source is remote (a
    /// registry): the fetch and its digest check run beside decompression and writes.
    pub prefetch: usize,
}

/// The size of the chunks a prefetched layer is queued in; at most
/// [`PREFETCH_QUEUE`] of them wait per layer.
pub const PREFETCH_CHUNK: usize = 1 << 20;
/// Chunks queued per prefetched layer: at most `prefetch * (PREFETCH_QUEUE + 1) *
/// PREFETCH_CHUNK` bytes are held.
pub const PREFETCH_QUEUE: usize = 4;

/// What [`unpack`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Unpacked {
    /// The destination directory.
    pub dest: PathBuf,
    /// The image manifest unpacked.
    pub manifest: Descriptor,
    /// The image config's digest.
    pub config: Digest,
    /// Number of layers applied.
    pub layers: usize,
    /// Entries applied, whiteouts included.
    pub entries: u64,
    /// Bytes of regular file contents written.
    pub bytes: u64,
    /// Things skipped or changed on the way, one sentence each.
    pub warnings: Vec<String>,
}

/// What [`bundle`] made.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundled {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The unpack of `BUNDLE/rootfs`.
    pub unpacked: Unpacked,
    /// `process.args` written.
    pub args: Vec<String>,
    /// `process.user` written.
    pub user: User,
}

/// Why an image could not be unpacked or turned into a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// The destination already exists.
    #[error("destination {path} already exists")]
    DestinationExists {
        /// The destination.
        path: PathBuf,
    },
    /// The destination has no name (`/`, `..`).
    #[error("destination {path} has no file name")]
    BadDestination {
        /// The destination.
        path: PathBuf,
    },
    /// A document or layer blob of the image could not be read (missing, damaged,
    /// unreadable), or no entry of an index has the platform.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The manifest's config is not an image config.
    #[error(
        "manifest {manifest}: config {digest} has media type {media_type}, not an image config"
    )]
    NotAnImage {
        /// The manifest's digest.
        manifest: Digest,
        /// The config's digest.
        digest: Digest,
        /// Its media type.
        media_type: MediaType,
    },
    /// `rootfs.type` is not `layers` (C15).
    #[error("config {digest}: rootfs.type is {kind:?}, not \"layers\"")]
    RootfsType {
        /// The config's digest.
        digest: Digest,
        /// The value found.
        kind: String,
    },
    /// The manifest's layers and the config's diffIDs differ in number.
    #[error("manifest {manifest} has {layers} layers but config {config} has {diff_ids} diff_ids")]
    LayerCount {
        /// The manifest's digest.
        manifest: Digest,
        /// The config's digest.
        config: Digest,
        /// Layers in the manifest.
        layers: usize,
        /// DiffIDs in the config.
        diff_ids: usize,
    },
    /// A layer descriptor's media type is not a layer type this unpacks.
    #[error("layer {digest} has unknown media type {media_type}")]
    UnknownLayerType {
        /// The layer's digest.
        digest: Digest,
        /// Its media type.
        media_type: MediaType,
    },
    /// Applying a layer failed (digest or diffID mismatch, refused entry, I/O).
    #[error("layer {digest}")]
    Layer {
        /// The layer's digest.
        digest: Digest,
        /// The cause.
        #[source]
        source: ApplyError,
    },
    /// The bundle's runtime configuration could not be made (unknown user, ...).
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// Seeding a volume failed.
    #[error(transparent)]
    Seed(#[from] SeedError),
    /// A filesystem operation outside the layers failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl UnpackError {
    /// Whether a check failed (exit 1): a damaged or invalid image, a refused entry, an
    /// unknown user; as opposed to a usage or filesystem error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            UnpackError::DestinationExists { .. }
            | UnpackError::BadDestination { .. }
            | UnpackError::Seed(_)
            | UnpackError::Io { .. } => false,
            UnpackError::Image(e) => e.is_check_failure(),
            UnpackError::Layer { source, .. } => !source.is_io(),
            UnpackError::Convert(e) => !matches!(e, ConvertError::ReadUserDb { .. }),
            UnpackError::NotAnImage { .. }
            | UnpackError::RootfsType { .. }
            | UnpackError::LayerCount { .. }
            | UnpackError::UnknownLayerType { .. } => true,
        }
    }

    fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> UnpackError {
        let path = path.to_owned();
        move |source| UnpackError::Io {
            action,
            path,
            source,
        }
    }
}

/// The image manifest, its config and the layers (with diffIDs) to apply.
struct Plan {
    manifest: Descriptor,
    config_digest: Digest,
    config: ImageConfig,
    layers: Vec<(Descriptor, Digest)>,
}

/// Descends from the source's root to one image and checks that its config describes its
/// layers.
fn plan(source: &dyn Source, platform: Option<&Platform>) -> Result<Plan, UnpackError> {
    let root = select_root(source, platform)?;
    let (manifest, bytes, document) = descend(source, &root, platform)?;
    // `descend` ends at a manifest, which has a config; check its kind before reading it.
    if let Some(config) = document.config()
        && !config.media_type.is_image_config()
    {
        return Err(UnpackError::NotAnImage {
            manifest: manifest.digest,
            digest: config.digest.clone(),
            media_type: config.media_type.clone(),
        });
    }
    let image = image_of(source, manifest, bytes, document)?;
    let config_digest = image.config_descriptor.digest;
    let config = image
        .config
        .expect("an image config is parsed when its media type says so");
    if config.rootfs.kind != "layers" {
        return Err(UnpackError::RootfsType {
            digest: config_digest,
            kind: config.rootfs.kind,
        });
    }
    if config.rootfs.diff_ids.len() != image.layers.len() {
        return Err(UnpackError::LayerCount {
            manifest: image.descriptor.digest,
            config: config_digest,
            layers: image.layers.len(),
            diff_ids: config.rootfs.diff_ids.len(),
        });
    }
    let mut layers = Vec::with_capacity(image.layers.len());
    for (layer, diff_id) in image.layers.into_iter().zip(&config.rootfs.diff_ids) {
        if layer_compression(&layer.descriptor).is_none() {
            return Err(UnpackError::UnknownLayerType {
                digest: layer.descriptor.digest,
                media_type: layer.descriptor.media_type,
            });
        }
        layers.push((layer.descriptor, diff_id.clone()));
    }
    Ok(Plan {
        manifest: image.descriptor,
        config_digest,
        config,
        layers,
    })
}

/// Counts the bytes read for progress ([`Event::Read`]).
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) read: u64,
    pub(crate) size: u64,
    pub(crate) index: usize,
    pub(crate) progress: Progress,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.read += n as u64;
            self.progress.emit(&Event::Read {
                index: self.index,
                read: self.read,
                size: self.size,
            });
        }
        Ok(n)
    }
}

/// Applies the plan's layers onto the existing directory `root`: in order, each read
/// from the source when it is applied, or with [`UnpackOptions::prefetch`] fetched ahead
/// by that many threads.
fn apply_all(
    source: &dyn Source,
    plan: &Plan,
    root: &Path,
    options: &UnpackOptions,
) -> Result<Unpacked, UnpackError> {
    let jobs = options.prefetch.min(plan.layers.len());
    if jobs == 0 {
        return apply_layers(source, plan, root, options, |descriptor, _| {
            source.open(descriptor).map_err(ImageError::Blob)
        });
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut senders = Vec::with_capacity(plan.layers.len());
    let mut receivers = Vec::with_capacity(plan.layers.len());
    for _ in &plan.layers {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(PREFETCH_QUEUE);
        senders.push(Some(tx));
        receivers.push(Some(rx));
    }
    let senders = std::sync::Mutex::new(senders);
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                use std::sync::atomic::Ordering;
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((descriptor, _)) = plan.layers.get(i) else {
                        break;
                    };
                    let Some(tx) = senders.lock().expect("lock")[i].take() else {
                        break;
                    };
                    pump(source, descriptor, &tx);
                }
            });
        }
        let result = apply_layers(source, plan, root, options, |_, index| {
            let rx = receivers[index].take().expect("each layer is read once");
            Ok(Box::new(Prefetched {
                rx,
                chunk: Vec::new(),
                pos: 0,
            }) as Box<dyn Read + Send>)
        });
        // Stop the fetchers: no new layers, and queues nobody reads make sends fail.
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        receivers.clear();
        result
    })
}

/// What a fetcher queues: bytes, or the error that ended the layer.
type Chunk = Result<Vec<u8>, PrefetchError>;

/// An error met by a fetcher, handed to the applying thread.
enum PrefetchError {
    Open(crate::BlobOpenError),
    Read(io::Error),
}

/// Reads one layer out of the source (verified by the source's reader) into `tx`, in
/// chunks; stops when the receiver is gone.
fn pump(source: &dyn Source, descriptor: &Descriptor, tx: &std::sync::mpsc::SyncSender<Chunk>) {
    let mut reader = match source.open(descriptor) {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Err(PrefetchError::Open(e)));
            return;
        }
    };
    loop {
        let mut chunk = vec![0u8; PREFETCH_CHUNK];
        let mut filled = 0;
        let end = loop {
            match reader.read(&mut chunk[filled..]) {
                Ok(0) => break true,
                Ok(n) => {
                    filled += n;
                    if filled == chunk.len() {
                        break false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(PrefetchError::Read(e)));
                    return;
                }
            }
        };
        chunk.truncate(filled);
        if (!chunk.is_empty() && tx.send(Ok(chunk)).is_err()) || end {
            return;
        }
    }
}

/// The applying side of a prefetched layer.
struct Prefetched {
    rx: std::sync::mpsc::Receiver<Chunk>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for Prefetched {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Err(PrefetchError::Read(e))) => return Err(e),
                Ok(Err(PrefetchError::Open(e))) => return Err(io::Error::other(OpenFailed(e))),
                // The fetcher finished the layer.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A layer that could not be opened by its fetcher, carried through an [`io::Error`] to
/// be reported as the blob error it is.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct OpenFailed(crate::BlobOpenError);

/// Applies the plan's layers in order, each read from `open(descriptor, index)`.
fn apply_layers<'s>(
    source: &dyn Source,
    plan: &Plan,
    root: &Path,
    options: &UnpackOptions,
    mut open: impl FnMut(&Descriptor, usize) -> Result<Box<dyn Read + Send + 's>, ImageError>,
) -> Result<Unpacked, UnpackError> {
    let apply_options = ApplyOptions {
        rootless: options.rootless,
        ..ApplyOptions::default()
    };
    let mut unpacked = Unpacked {
        dest: root.to_owned(),
        manifest: plan.manifest.clone(),
        config: plan.config_digest.clone(),
        layers: 0,
        entries: 0,
        bytes: 0,
        warnings: Vec::new(),
    };
    let count = plan.layers.len();
    for (index, (descriptor, diff_id)) in plan.layers.iter().enumerate() {
        options.progress.emit(&Event::Layer {
            index,
            count,
            descriptor,
        });
        // The source's reader checks the digest and size of the compressed bytes as
        // they stream (apply reads its input to the end); apply checks the diffID.
        let reader = open(descriptor, index)?;
        let reader = Counting {
            inner: io::BufReader::with_capacity(1 << 20, reader),
            read: 0,
            size: descriptor.size,
            index,
            progress: options.progress.clone(),
        };
        let expected = Expected {
            digest: None,
            diff_id: Some(diff_id.clone()),
        };
        let applied = match apply_layer(root, reader, &expected, &apply_options) {
            Ok(applied) => applied,
            Err(error) => return Err(explain(source, descriptor, error)),
        };
        unpacked.layers += 1;
        unpacked.entries += applied.entries;
        unpacked.bytes += applied.bytes;
        unpacked.warnings.extend(applied.warnings);
    }
    Ok(unpacked)
}

/// Why a layer failed to apply. The source's reader fails on a digest or size mismatch;
/// a layer that failed for a reason of its content (a corrupt stream, a malformed tar) may
/// simply be a damaged blob, so it is read again to its end: then the mismatch is the
/// error to report.
fn explain(source: &dyn Source, descriptor: &Descriptor, error: ApplyError) -> UnpackError {
    let read = match &error {
        ApplyError::Tar(
            oci_layer::tar::Error::Read { source }
            | oci_layer::tar::Error::Decompress { source, .. },
        ) => Some(source),
        _ => None,
    };
    if let Some(open) = read
        .and_then(|e| e.get_ref())
        .and_then(|e| e.downcast_ref::<OpenFailed>())
    {
        // A prefetched layer that could not be opened: the blob error, as without
        // prefetching. The fetcher's error is rebuilt from its parts (it is not Clone).
        return UnpackError::Image(ImageError::Blob(reopen_error(source, descriptor, &open.0)));
    }
    if let Some(mismatch) = read.and_then(|e| mismatch(source, descriptor, e)) {
        return mismatch;
    }
    let content = !error.is_io()
        && !matches!(
            error,
            ApplyError::DigestMismatch { .. } | ApplyError::DiffIdMismatch { .. }
        );
    if content
        && let Ok(mut reader) = source.open(descriptor)
        && let Err(e) = io::copy(&mut reader, &mut io::sink())
        && let Some(mismatch) = mismatch(source, descriptor, &e)
    {
        return mismatch;
    }
    UnpackError::Layer {
        digest: descriptor.digest.clone(),
        source: error,
    }
}

/// The error opening `descriptor` gives now, or else `error` described again.
fn reopen_error(
    source: &dyn Source,
    descriptor: &Descriptor,
    error: &crate::BlobOpenError,
) -> crate::BlobOpenError {
    match source.open(descriptor) {
        Err(e) => e,
        Ok(_) => crate::BlobOpenError::unavailable(source, &descriptor.digest, error.to_string()),
    }
}

/// The error of a layer whose bytes do not match its descriptor, when `error` says so.
fn mismatch(
    source: &dyn Source,
    descriptor: &Descriptor,
    error: &io::Error,
) -> Option<UnpackError> {
    if crate::transport::registry::content_error(error).is_some() {
        return Some(UnpackError::Image(ImageError::Blob(read_error(
            source, descriptor, error,
        ))));
    }
    match VerifyError::from_io(error)? {
        VerifyError::DigestMismatch { expected, actual } => Some(UnpackError::Layer {
            digest: descriptor.digest.clone(),
            source: ApplyError::DigestMismatch {
                expected: expected.clone(),
                actual: actual.digest.clone(),
            },
        }),
        VerifyError::TooLong { .. } | VerifyError::TooShort { .. } => Some(UnpackError::Image(
            ImageError::Blob(read_error(source, descriptor, error)),
        )),
    }
}

/// Fails when something (even a dangling symlink) is at `path`.
fn must_not_exist(path: &Path) -> Result<(), UnpackError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Err(UnpackError::DestinationExists {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(UnpackError::io("stat", path)(e)),
    }
}

/// A staging directory beside `dest`, removed on drop unless claimed.
struct Staging {
    path: Option<PathBuf>,
}

impl Staging {
    fn new(dest: &Path) -> Result<Staging, UnpackError> {
        let name = dest
            .file_name()
            .ok_or_else(|| UnpackError::BadDestination {
                path: dest.to_owned(),
            })?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // Short enough that the staging name stays under NAME_MAX whatever DEST's length.
        let name: String = name.to_string_lossy().chars().take(64).collect();
        let prefix = format!(".{name}{STAGING_INFIX}");
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(parent)
            .map_err(UnpackError::io("create staging directory in", parent))?;
        let path = dir.keep();
        let staging = Staging { path: Some(path) };
        // As umoci: the root is 0755 unless a layer says otherwise.
        std::fs::set_permissions(
            staging.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .map_err(UnpackError::io("chmod", staging.path()))?;
        Ok(staging)
    }

    fn path(&self) -> &Path {
        self.path
            .as_deref()
            .expect("staging path is set until claimed")
    }

    /// Renames the staging directory to `dest`, which must not exist.
    fn claim(mut self, dest: &Path) -> Result<(), UnpackError> {
        let from = self.path();
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            from,
            rustix::fs::CWD,
            dest,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                return Err(UnpackError::DestinationExists {
                    path: dest.to_owned(),
                });
            }
            // A filesystem without RENAME_NOREPLACE: check, then rename.
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                must_not_exist(dest)?;
                std::fs::rename(from, dest).map_err(UnpackError::io("rename staging to", dest))?;
            }
            Err(e) => return Err(UnpackError::io("rename staging to", dest)(e.into())),
        }
        self.path = None;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            remove_tree(&path);
        }
    }
}

/// Removes a tree, making directories writable where their mode stops it (a rootless
/// unpack can leave directories without write permission). Best effort.
fn remove_tree(path: &Path) {
    if std::fs::remove_dir_all(path).is_ok() {
        return;
    }
    fn open_up(dir: &Path) {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    open_up(&entry.path());
                }
            }
        }
    }
    open_up(path);
    let _ = std::fs::remove_dir_all(path);
}

/// Unpacks the image `source` names (for [`UnpackOptions::platform`] where it is an index)
/// into `dest`, which must not exist.
///
/// The layers are streamed out of the source and applied into a staging directory beside
/// `dest`, renamed into place at the end; every layer's digest and diffID are verified on
/// the way. After any failure `dest` does not exist and nothing is left beside it.
pub fn unpack(
    source: &dyn Source,
    dest: &Path,
    options: &UnpackOptions,
) -> Result<Unpacked, UnpackError> {
    must_not_exist(dest)?;
    let plan = plan(source, options.platform.as_ref())?;
    unpack_plan(source, &plan, dest, options)
}

fn unpack_plan(
    source: &dyn Source,
    plan: &Plan,
    dest: &Path,
    options: &UnpackOptions,
) -> Result<Unpacked, UnpackError> {
    let staging = Staging::new(dest)?;
    let mut unpacked = apply_all(source, plan, staging.path(), options)?;
    staging.claim(dest)?;
    unpacked.dest = dest.to_owned();
    Ok(unpacked)
}

/// Makes a runtime bundle of the image `source` names: `bundle` (which must not
/// exist) is created with mode 0700, the image unpacked into `bundle/rootfs` as
/// [`unpack`] does, `bundle/config.json` written from the image config
/// ([`runtime_config`], the user resolved from the unpacked `/etc/passwd` and
/// `/etc/group`) and the volume directories seeded ([`seed_volumes`]). After any failure
/// `bundle` does not exist.
pub fn bundle(
    source: &dyn Source,
    bundle: &Path,
    options: &BundleDirOptions,
) -> Result<Bundled, UnpackError> {
    must_not_exist(bundle)?;
    let plan = plan(source, options.unpack.platform.as_ref())?;
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(bundle)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    UnpackError::DestinationExists {
                        path: bundle.to_owned(),
                    }
                } else {
                    UnpackError::io("create bundle directory", bundle)(e)
                }
            })?;
    }
    let guard = Staging {
        path: Some(bundle.to_owned()),
    };
    let result = fill_bundle(source, &plan, bundle, options);
    if result.is_ok() {
        let mut guard = guard;
        guard.path = None;
    }
    result
}

fn fill_bundle(
    source: &dyn Source,
    plan: &Plan,
    bundle: &Path,
    options: &BundleDirOptions,
) -> Result<Bundled, UnpackError> {
    // Owner only, whatever the umask did.
    std::fs::set_permissions(bundle, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(UnpackError::io("chmod", bundle))?;
    let rootfs = bundle.join(ROOTFS_DIR);
    let unpacked = unpack_plan(source, plan, &rootfs, &options.unpack)?;
    let bundle_options = BundleOptions {
        terminal: options.terminal,
        rootless: options.unpack.rootless.then(HostIds::current),
    };
    let conversion = runtime_config(&plan.config, &RootfsFiles::new(&rootfs), &bundle_options)?;
    write_config(bundle, &conversion.spec)
        .map_err(UnpackError::io("write config.json in", bundle))?;
    seed_volumes(bundle, &conversion.volumes)?;
    Ok(Bundled {
        bundle: bundle.to_owned(),
        unpacked,
        args: conversion.spec.process.args.clone(),
        user: conversion.spec.process.user.clone(),
    })
}
