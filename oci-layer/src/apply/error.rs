//! The one error type of applying a layer.

use std::fmt;
use std::io;

use oci_spec_types::digest::Digest;

use crate::tar::{self, LimitKind, Malformed};

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
    /// A limit of [`crate::tar::Limits`] was exceeded.
    #[error("{limit} limit exceeded{}: {actual} > {max}", at(entry))]
    Limit {
        /// Which limit.
        limit: LimitKind,
        /// The configured maximum.
        max: u64,
        /// The value reached.
        actual: u64,
        /// The entry being read, when there is one.
        entry: Option<String>,
    },
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
    /// A tar header's checksum does not match its bytes.
    #[error("bad tar header checksum at offset {offset}: expected {expected}, actual {actual}")]
    Checksum {
        /// Offset of the header in the uncompressed stream.
        offset: u64,
        /// The checksum stored in the header.
        expected: u64,
        /// The checksum of the header's bytes.
        actual: u64,
    },
    /// The tar stream ends before its end-of-archive marker or inside an entry.
    #[error("truncated archive at offset {offset}: expected {expected} more bytes, got {actual}")]
    Truncated {
        /// Offset in the uncompressed stream where the missing part starts.
        offset: u64,
        /// Bytes still expected.
        expected: u64,
        /// Bytes there were.
        actual: u64,
    },
    /// A tar header or extended record is malformed.
    #[error("malformed tar header at offset {offset}: {what}")]
    Malformed {
        /// Offset of the header in the uncompressed stream.
        offset: u64,
        /// What is wrong.
        what: Malformed,
    },
    /// The compressed stream is corrupt.
    #[error("corrupt {compression} stream: {source}")]
    Decompress {
        /// `gzip` or `zstd`.
        compression: &'static str,
        /// The decoder's error.
        source: io::Error,
    },
    /// Reading the layer failed.
    #[error("read layer: {source}")]
    Read {
        /// The underlying error.
        source: io::Error,
    },
    /// A filesystem operation under the root failed.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// The operation (`create`, `chmod`, ...).
        op: &'static str,
        /// The path inside the root.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
}

fn at(entry: &Option<String>) -> String {
    entry
        .as_ref()
        .map(|e| format!(" at entry {e:?}"))
        .unwrap_or_default()
}

impl Error {
    /// True for failures of the machine (filesystem or input I/O) rather than of the
    /// layer's content: the CLI exits 2 for these and 1 for the others.
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Read { .. } | Error::Io { .. })
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

impl From<tar::Error> for Error {
    /// The reader's failures keep their variant (and evidence) in the apply error.
    fn from(e: tar::Error) -> Error {
        match e {
            tar::Error::Limit {
                limit,
                max,
                actual,
                entry,
            } => Error::Limit {
                limit,
                max,
                actual,
                entry,
            },
            tar::Error::Checksum {
                offset,
                expected,
                actual,
            } => Error::Checksum {
                offset,
                expected,
                actual,
            },
            tar::Error::Truncated {
                offset,
                expected,
                actual,
            } => Error::Truncated {
                offset,
                expected,
                actual,
            },
            tar::Error::Malformed { offset, what } => Error::Malformed { offset, what },
            tar::Error::Decompress {
                compression,
                source,
            } => Error::Decompress {
                compression,
                source,
            },
            tar::Error::Read { source } | tar::Error::Copy { source } => Error::Read { source },
        }
    }
}
