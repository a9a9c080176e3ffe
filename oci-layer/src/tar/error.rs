//! The one error type of reading a tar stream.

use std::fmt;
use std::io;

/// Why reading a tar stream failed: its framing, a limit, the decompression, or the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A limit of [`Limits`](super::Limits) was exceeded.
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
    #[error("corrupt {compression} stream")]
    Decompress {
        /// `gzip` or `zstd`.
        compression: &'static str,
        /// The decoder's error.
        source: io::Error,
    },
    /// Reading the input failed.
    #[error("cannot read the layer")]
    Read {
        /// The underlying error.
        source: io::Error,
    },
    /// Writing the copy of the uncompressed stream failed
    /// ([`Reader::decompressing_into`](super::Reader::decompressing_into)).
    #[error("cannot write the uncompressed copy")]
    Copy {
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
    /// True for failures of the machine (reading the input, writing the copy) rather
    /// than of the stream's content.
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Read { .. } | Error::Copy { .. })
    }
}

/// Which limit was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// PAX or long-name record size.
    Record,
    /// Uncompressed size.
    Bytes,
    /// Compression ratio.
    Ratio,
    /// Number of entries.
    Entries,
    /// Path depth.
    Depth,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::Record => "record size",
            LimitKind::Bytes => "uncompressed size",
            LimitKind::Ratio => "compression ratio",
            LimitKind::Entries => "entry count",
            LimitKind::Depth => "path depth",
        })
    }
}

/// What is malformed in a tar header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// A numeric header field is not octal or base-256.
    Number {
        /// The field name.
        field: &'static str,
    },
    /// A PAX record is not `LEN KEY=VALUE\n`.
    PaxRecord,
    /// A PAX numeric value is not a decimal number.
    PaxNumber {
        /// The key.
        key: String,
    },
    /// An entry has an empty name.
    EmptyName,
    /// A name or link target contains a NUL byte.
    Nul,
    /// A zero block followed by something other than a zero block.
    LoneZeroBlock,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Number { field } => write!(f, "field {field} is not a number"),
            Malformed::PaxRecord => f.write_str("bad PAX record"),
            Malformed::PaxNumber { key } => write!(f, "PAX {key} is not a number"),
            Malformed::EmptyName => f.write_str("empty entry name"),
            Malformed::Nul => f.write_str("NUL byte in a PAX name"),
            Malformed::LoneZeroBlock => {
                f.write_str("a zero block followed by data (entries after the end marker)")
            }
        }
    }
}
