//! Transports: where images are read from and written to, as sibling implementations of
//! one read side ([`Source`]): a root descriptor, blobs opened by descriptor and verified as
//! they are read, and the referrers of a digest where the transport can hold them.
//! Implemented by layouts (`oci:`), archives (`oci-archive:`, `docker-archive:`) and
//! discovery (`discover:`); a registry transport is one more implementation.

use std::io::{self, Read};

use oci_spec_types::{Descriptor, Digest};

/// Why a source could not open a blob.
#[derive(Debug, thiserror::Error)]
pub enum BlobOpenError {
    /// The source does not have the blob.
    #[error("blob {digest} is missing from {source_name}")]
    Missing {
        /// The digest asked for.
        digest: Digest,
        /// The source, as [`Source::describe`] gives it.
        source_name: String,
    },
    /// The blob is there but could not be opened or fetched.
    #[error("blob {digest} from {source_name}: {message}")]
    Unavailable {
        /// The digest asked for.
        digest: Digest,
        /// The source, as [`Source::describe`] gives it.
        source_name: String,
        /// What went wrong (the I/O or network error, with its URL or file).
        message: String,
    },
    /// The source holds something under this digest that cannot be what the descriptor
    /// says (a wrong size known before reading, say): a check failure, not an I/O one.
    #[error("blob {digest} from {source_name}: {message}")]
    Damaged {
        /// The digest asked for.
        digest: Digest,
        /// The source, as [`Source::describe`] gives it.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

impl BlobOpenError {
    /// The digest at fault.
    pub fn digest(&self) -> &Digest {
        match self {
            BlobOpenError::Missing { digest, .. }
            | BlobOpenError::Unavailable { digest, .. }
            | BlobOpenError::Damaged { digest, .. } => digest,
        }
    }

    /// Whether this is a check failure (exit 1: missing or damaged content) rather than
    /// an I/O or network error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        !matches!(self, BlobOpenError::Unavailable { .. })
    }
}

/// A blob reader: it verifies the descriptor's digest and size as it is read, and
/// fails (with an [`io::Error`] wrapping [`oci_digest::VerifyError`]) on a mismatch, at
/// the latest when it reaches the end.
pub type BlobReader<'a> = Box<dyn Read + Send + 'a>;

/// Why the referrers of a digest could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ReferrersError {
    /// The list of manifests (a layout's `index.json`) could not be read.
    #[error(transparent)]
    Index(#[from] crate::layout::IndexError),
    /// A candidate manifest could not be read.
    #[error(transparent)]
    Blob(#[from] BlobOpenError),
}

impl ReferrersError {
    /// Whether this is a check failure (exit 1) rather than an I/O error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            ReferrersError::Index(e) => e.is_check_failure(),
            ReferrersError::Blob(e) => e.is_check_failure(),
        }
    }
}

/// The read side of a transport: an image read through one interface, whatever holds it.
///
/// Methods take `&self` and implementations are `Send + Sync`, so that blobs can be
/// fetched in parallel.
pub trait Source: Send + Sync {
    /// The source as the user named it, for messages (`oci:DIR:REF`, `docker-archive:FILE`).
    fn describe(&self) -> String;

    /// The manifest or index the source names (already chosen among several by tag; a
    /// platform choice inside an index is the copy's business).
    fn root(&self) -> &Descriptor;

    /// The index entries the image name matched, `root` among them: one, or several when
    /// one name has one entry per platform (as containers/image writes into a layout).
    /// A platform choice among them is the caller's.
    fn candidates(&self) -> &[Descriptor] {
        std::slice::from_ref(self.root())
    }

    /// Opens a blob; the reader verifies digest and size as it reads.
    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError>;

    /// Reads a whole small blob (a manifest, index or config), verified; `limit` bounds
    /// the size accepted.
    fn read_small(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, BlobOpenError> {
        if descriptor.size > limit {
            return Err(BlobOpenError::Damaged {
                digest: descriptor.digest.clone(),
                source_name: self.describe(),
                message: format!(
                    "document of {} bytes is over the limit of {limit}",
                    descriptor.size
                ),
            });
        }
        let mut reader = self.open(descriptor)?;
        let mut bytes = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| read_error(self, descriptor, &e))?;
        Ok(bytes)
    }

    /// The manifests whose `subject` is `subject`, as descriptors (with their
    /// `artifactType` and annotations), or `None` when this transport cannot hold
    /// referrers (a docker-archive, say).
    fn referrers(&self, subject: &Digest) -> Result<Option<Vec<Descriptor>>, ReferrersError> {
        let _ = subject;
        Ok(None)
    }
}

/// Turns an error met while reading a blob into a [`BlobOpenError`]: a digest or size
/// mismatch is [`BlobOpenError::Damaged`], anything else [`BlobOpenError::Unavailable`].
pub fn read_error<S: Source + ?Sized>(
    source: &S,
    descriptor: &Descriptor,
    error: &io::Error,
) -> BlobOpenError {
    match oci_digest::VerifyError::from_io(error) {
        Some(v) => BlobOpenError::Damaged {
            digest: descriptor.digest.clone(),
            source_name: source.describe(),
            message: v.to_string(),
        },
        None => BlobOpenError::Unavailable {
            digest: descriptor.digest.clone(),
            source_name: source.describe(),
            message: error.to_string(),
        },
    }
}
