//! The one error type of applying a layer.

use std::fmt;
use std::io;

use oci_spec_types::digest::Digest;

use crate::tar;

/// Why applying a layer failed. [`Error::is_io`] tells failures of the machine
/// (filesystem, reading the input) from failures of the layer (everything else).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The layer holds an entry that cannot be applied safely or faithfully.
    #[error("entry {entry:?} refused: {reason}")]
    Refused {
        /// The entry's name as written in the tar.
        entry: String,
        /// Why.
        reason: Refusal,
    },
    /// The tar reader refused the stream (a limit, its framing, the decompression) or
    /// could not read it: its error, as it is.
    #[error(transparent)]
    Tar(#[from] tar::Error),
    /// The compressed bytes do not have the expected digest.
    #[error("layer digest mismatch: expected {expected}, actual {actual}")]
    DigestMismatch {
        /// The expected digest.
        expected: Digest,
        /// The digest of the bytes read.
        actual: Digest,
    },
    /// The uncompressed tar stream does not have the expected diffID.
    #[error("layer diffID mismatch: expected {expected}, actual {actual}")]
    DiffIdMismatch {
        /// The expected diffID.
        expected: Digest,
        /// The digest of the uncompressed stream.
        actual: Digest,
    },
    /// An expected digest names an algorithm that cannot be computed.
    #[error("cannot verify {digest}: unregistered algorithm")]
    UnverifiableDigest {
        /// The digest given.
        digest: Digest,
    },
    /// A filesystem operation under the root failed.
    #[error("cannot {op} {path:?}")]
    Io {
        /// The operation (`create`, `chmod`, ...).
        op: &'static str,
        /// The path inside the root.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

impl Error {
    /// True for failures of the machine (filesystem or input I/O) rather than of the
    /// layer's content: the CLI exits 2 for these and 1 for the others.
    pub fn is_io(&self) -> bool {
        match self {
            Error::Tar(e) => e.is_io(),
            Error::Io { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn io(op: &'static str, path: &[u8], source: impl Into<io::Error>) -> Error {
        Error::Io {
            op,
            path: display_path(path),
            source: source.into(),
        }
    }

    pub(crate) fn refused(entry: &[u8], reason: Refusal) -> Error {
        Error::Refused {
            entry: String::from_utf8_lossy(entry).into_owned(),
            reason,
        }
    }
}

/// A path inside the root, for messages: `/` followed by the cleaned components.
pub(crate) fn display_path(path: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(path))
}

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The entry names the root itself but is not a directory.
    RootTypeChange {
        /// The entry's type.
        kind: &'static str,
    },
    /// A whiteout with nothing, `.` or `..` after `.wh.`.
    BadWhiteout,
    /// A hard link whose target does not exist in the root.
    LinkTargetMissing {
        /// The target, as cleaned.
        target: String,
    },
    /// A hard link to a directory, to the root or to itself.
    LinkTargetInvalid {
        /// The target, as cleaned.
        target: String,
    },
    /// A component of the entry's parent path exists and is not a directory.
    ParentNotDirectory,
    /// Too many symbolic links while resolving the entry's parent.
    SymlinkLoop,
    /// The same path appears twice in the layer (strict mode).
    Duplicate,
    /// A tar entry type that is not applied.
    UnsupportedType {
        /// The type flag byte.
        flag: u8,
    },
    /// Sparse files are not supported.
    Sparse,
    /// The owner is not covered by the id mapping.
    Unmapped {
        /// `uid` or `gid`.
        kind: &'static str,
        /// The id in the layer.
        id: u64,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::RootTypeChange { kind } => {
                write!(f, "it would replace the root directory with a {kind}")
            }
            Refusal::BadWhiteout => f.write_str("whiteout names nothing, `.` or `..`"),
            Refusal::LinkTargetMissing { target } => {
                write!(f, "hard link target {target:?} does not exist")
            }
            Refusal::LinkTargetInvalid { target } => write!(
                f,
                "hard link target {target:?} is a directory, the root or the entry itself"
            ),
            Refusal::ParentNotDirectory => {
                f.write_str("a parent path component is not a directory")
            }
            Refusal::SymlinkLoop => f.write_str("too many levels of symbolic links in its path"),
            Refusal::Duplicate => f.write_str("duplicate entry (strict mode)"),
            Refusal::UnsupportedType { flag } => {
                write!(f, "unsupported tar entry type {:?}", char::from(*flag))
            }
            Refusal::Sparse => f.write_str("sparse files are not supported"),
            Refusal::Unmapped { kind, id } => write!(f, "{kind} {id} is not in the id mapping"),
        }
    }
}
