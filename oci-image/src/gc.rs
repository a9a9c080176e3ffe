//! Garbage collection: removing the blobs that `index.json` does not keep alive.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use oci_digest::{DeleteError, ListError};
use oci_spec_types::Digest;

use crate::layout::{IndexError, Layout, LockError};
use crate::resolve::BlobError;
use crate::walk;

/// The default grace period: blobs modified more recently are never removed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10 * 60);

/// Options of [`Layout::gc`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcOptions {
    /// Unreachable blobs modified less than this long ago are kept: they may belong to a
    /// writer that has stored its blobs but not yet updated `index.json` (the blob store
    /// renames a fresh file into place, also over an existing blob, so a blob being
    /// written is always young). Default [`DEFAULT_GRACE`].
    pub grace: Duration,
}

impl Default for GcOptions {
    fn default() -> GcOptions {
        GcOptions {
            grace: DEFAULT_GRACE,
        }
    }
}

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// The blobs removed, sorted.
    pub removed: Vec<Digest>,
    /// Their total size.
    pub bytes: u64,
    /// Unreachable blobs kept because they are younger than the grace period.
    pub kept_recent: Vec<Digest>,
}

/// Why a collection stopped. Blobs removed before the error stay removed.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// Taking the layout lock failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// `index.json` could not be read.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A reachable manifest or index could not be read: what it keeps alive is unknown,
    /// so nothing is removed.
    #[error("nothing removed: a reachable manifest or index cannot be read (run ocimg fsck)")]
    Unreadable(#[from] BlobError),
    /// The blobs could not be listed.
    #[error(transparent)]
    List(#[from] ListError),
    /// A blob's modification time could not be read.
    #[error("cannot stat {path}")]
    Stat {
        /// The blob's path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A blob could not be removed.
    #[error(transparent)]
    Delete(#[from] DeleteError),
}

impl GcError {
    /// Whether a check failed (exit 1): a damaged layout.
    pub fn is_check_failure(&self) -> bool {
        match self {
            GcError::Index(e) => e.is_check_failure(),
            GcError::Unreadable(e) => e.is_check_failure(),
            _ => false,
        }
    }
}

impl Layout {
    /// Removes the blobs unreachable from `index.json`: reachable are the entries, what
    /// indexes and manifests name (entries, configs, layers), and manifests or indexes in
    /// the layout whose `subject` is reachable (referrers), recursively.
    ///
    /// Safe against concurrent writers: it holds the layout lock throughout (so no
    /// `index.json` update of this crate interleaves), never touches the temporary files of
    /// unfinished blob writes, and keeps unreachable blobs younger than
    /// [`GcOptions::grace`].
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport, GcError> {
        let _lock = self.lock()?;
        let index = self.index()?.into_value();
        let mut reachable = BTreeSet::new();
        walk::reachable(self, index.manifests, &mut reachable)?;
        let listing = self.blobs().list()?;
        let unreachable: Vec<&Digest> = listing
            .blobs
            .iter()
            .filter(|d| !reachable.contains(*d))
            .collect();
        let mut referrers = walk::subjects_of(self, unreachable);
        walk::take_referrers(&mut referrers, &mut reachable, |descriptor, reachable| {
            walk::reachable(self, [descriptor], reachable)
        })?;
        let now = SystemTime::now();
        let mut report = GcReport::default();
        for digest in listing.blobs.iter().filter(|d| !reachable.contains(*d)) {
            let path = self.blobs().blob_path(digest);
            let metadata = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(GcError::Stat { path, source }),
            };
            let modified = metadata
                .modified()
                .map_err(|source| GcError::Stat { path, source })?;
            let young = match now.duration_since(modified) {
                Ok(age) => age < options.grace,
                // Modified in the future: a clock step; treat as young.
                Err(_) => true,
            };
            if young {
                report.kept_recent.push(digest.clone());
                continue;
            }
            if self.blobs().delete(digest)? {
                report.removed.push(digest.clone());
                report.bytes += metadata.len();
            }
        }
        Ok(report)
    }
}
