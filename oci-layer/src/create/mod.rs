//! Creating layers: a tar changeset from one directory (every entry) or from the difference
//! of two (only what changed, deletions as whiteouts), compressed in parallel, with the
//! layer digest, size and diffID measured in the same single pass.
//!
//! # Format
//!
//! POSIX ustar headers, with a PAX extended header only where needed (paths or link targets
//! over 100 bytes, huge numbers, extended attributes as `SCHILY.xattr.*`). Numeric uid and
//! gid only, mtime in whole seconds, no atime or ctime. Paths are relative, without `./`;
//! directories end with `/`; the root directory itself is not an entry. Within each
//! directory, whiteouts come first, then the entries in byte order of their names, each
//! directory followed by its contents. The same tree gives the same bytes, whatever the
//! number of threads.
//!
//! # Changes between two trees ([`diff`])
//!
//! An entry of the new tree is emitted when it is new, when its type changed, or when any of
//! these differ: permission bits (with setuid, setgid, sticky), uid, gid, mtime (to the
//! nanosecond), extended attributes, and for non-directories the link count; for regular
//! files the size; for symlinks the target; for devices the device numbers. File contents
//! are compared only when all of that is equal AND both mtimes have a zero nanosecond part
//! (a timestamp that may have been truncated by a copy), as containerd's continuity does;
//! otherwise equal size and mtime mean equal content, as in umoci and containerd.
//! Directories that hold a change are emitted too (their current attributes), so the layer
//! applies even where a lower layer lacks them. A name of the old tree missing from the new
//! one becomes `.wh.NAME`; a directory replaced by a non-directory gets a whiteout too. With
//! [`CreateOptions::opaque`], a directory of both trees of which no old name survives is
//! written as the directory, `.wh..wh..opq`, and its whole new content.
//!
//! Hardlinks are found by device and inode among the entries written to the layer: the first
//! in output order carries the content, the others are tar hardlinks to it.

mod pgzip;
pub(crate) mod sink;
mod walk;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oci_spec_types::digest::Digest;
use oci_spec_types::media_type::{self, MediaType};

/// How the tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar (`application/vnd.oci.image.layer.v1.tar`).
    None,
    /// Gzip, level 0 to 9 (`+gzip`); libdeflate, one gzip member per 256 KiB block.
    Gzip {
        /// Deflate level, 0 (store) to 9.
        level: u32,
    },
    /// Zstandard (`+zstd`), with zstd's own worker threads.
    Zstd {
        /// Zstandard level, as `zstd::compression_level_range()` allows (1 to 22, and
        /// negative fast levels).
        level: i32,
    },
}

impl Compression {
    /// Gzip at level 6, the CLI's default.
    pub const DEFAULT_GZIP: Compression = Compression::Gzip { level: 6 };
    /// Zstandard at level 3, the CLI's default.
    pub const DEFAULT_ZSTD: Compression = Compression::Zstd { level: 3 };

    /// The OCI layer media type of this compression.
    pub fn media_type(self) -> MediaType {
        MediaType::new(match self {
            Compression::None => media_type::LAYER_TAR,
            Compression::Gzip { .. } => media_type::LAYER_TAR_GZIP,
            Compression::Zstd { .. } => media_type::LAYER_TAR_ZSTD,
        })
    }
}

/// An observer of [`create`] and [`diff`], for a progress display: called from the
/// calling thread with the number of bytes of the uncompressed tar written so far, after
/// every chunk (about 256 KiB); the last call gives the whole tar's size.
#[derive(Clone, Default)]
pub struct CreateProgress(pub Option<Arc<CreateProgressFn>>);

/// The function a [`CreateProgress`] calls.
pub type CreateProgressFn = dyn Fn(u64) + Send + Sync;

impl std::fmt::Debug for CreateProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "CreateProgress(Some)"
        } else {
            "CreateProgress(None)"
        })
    }
}

impl CreateProgress {
    pub(crate) fn emit(&self, written: u64) {
        if let Some(f) = &self.0 {
            f(written);
        }
    }
}

/// Options of [`create`] and [`diff`].
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The compression (default gzip level 6).
    pub compression: Compression,
    /// `SOURCE_DATE_EPOCH`: every mtime above it is written as it.
    pub source_date_epoch: Option<i64>,
    /// Allow opaque whiteouts for directories replaced wholesale ([`diff`] only).
    pub opaque: bool,
    /// Compression threads; 0 means all cores. The output never depends on it.
    pub threads: usize,
    /// Progress observer (none by default); the output never depends on it.
    pub progress: CreateProgress,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            compression: Compression::DEFAULT_GZIP,
            source_date_epoch: None,
            opaque: false,
            threads: 0,
            progress: CreateProgress::default(),
        }
    }
}

/// Something left out of the layer; the library never prints, the caller decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A socket cannot be stored in a layer and was skipped.
    SocketSkipped {
        /// The socket's path on disk.
        path: PathBuf,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::SocketSkipped { path } => {
                write!(
                    f,
                    "{}: socket skipped (a layer cannot hold sockets)",
                    path.display()
                )
            }
        }
    }
}

/// What creating a layer yields: both identities of the layer, measured in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// `application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]`.
    pub media_type: MediaType,
    /// The sha256 digest of the bytes written (compressed).
    pub digest: Digest,
    /// The number of bytes written.
    pub size: u64,
    /// The sha256 digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Entries left out, in output order.
    pub warnings: Vec<Warning>,
}

/// Why a layer could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory of the tree could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path on disk.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A name starting with `.wh.` would read as a whiteout: it cannot be represented.
    #[error(
        "{path}: a name starting with .wh. cannot be stored in a layer (it would read as a whiteout)"
    )]
    WhiteoutName {
        /// The path on disk.
        path: PathBuf,
    },
    /// A file changed size while it was being read.
    #[error("{path}: file shrank while being read (expected {expected} bytes, got {actual})")]
    Changed {
        /// The path on disk.
        path: PathBuf,
        /// The size when it was listed.
        expected: u64,
        /// The bytes actually read.
        actual: u64,
    },
    /// The root of a tree is not a directory.
    #[error("{path} is not a directory")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The compression level is out of range.
    #[error("invalid {compression} level {level}")]
    Level {
        /// `gzip` or `zstd`.
        compression: &'static str,
        /// The level asked for.
        level: i64,
    },
    /// Writing or compressing the layer failed.
    #[error("cannot write the layer")]
    Write(#[source] std::io::Error),
}

/// Writes a layer holding every entry of `dir` (not `dir` itself) to `out`.
pub fn create<W: Write>(dir: &Path, mut out: W, options: &CreateOptions) -> Result<Created, Error> {
    walk::run(None, dir, &mut out, options)
}

/// Writes a layer of the changes that turn `old` into `new` to `out`.
pub fn diff<W: Write>(
    old: &Path,
    new: &Path,
    mut out: W,
    options: &CreateOptions,
) -> Result<Created, Error> {
    walk::run(Some(old), new, &mut out, options)
}
