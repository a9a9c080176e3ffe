//! The one tar reader and the one tar header writer of the project.
//!
//! [`Reader`] streams a tar archive, plain or compressed (gzip including multi-member
//! streams, zstd; sniffed from the first bytes), for `layer apply`, [`list`](crate::list),
//! and `oci-image`'s archive index (`oci-archive:`, `docker-archive:`). It follows Go's
//! `archive/tar` framing, which containerd, Docker, skopeo and umoci share:
//!
//! - ustar, GNU (long names `L`, long links `K`, base-256 numbers) and PAX (local `x`
//!   records; global `g` records are checked for form and ignored);
//! - a PAX `size` overrides the header's;
//! - hard links, symbolic links, directories, devices and fifos carry no data, whatever
//!   their size field says: the next header follows theirs;
//! - a name is cut at its first NUL; a PAX `path` or `linkpath` holding a NUL is refused;
//! - the archive ends at a zero block, followed by a second one or by the end of the
//!   stream; a zero block followed by anything else, and a stream that ends elsewhere
//!   (no end marker at all included), are errors. What follows the end marker is read
//!   (a compressed stream must decode to its end) and ignored.
//!
//! # Security
//!
//! The input is untrusted. [`Limits`] bound every record buffered (PAX, GNU long names and
//! links: [`Limits::max_record`]), the uncompressed size, the compression ratio (checked
//! before the bytes are handed on, so a copy written with [`Reader::decompressing_into`]
//! stops before a bomb fills the disk), the number of headers and the depth of each name.
//! Memory stays bounded by one record and one chunk of the stream. Names are returned as
//! written: resolving them safely is the consumer's business (`apply` confines them to
//! the root, the archive index to the archive).
//!
//! [`Header`] writes one entry's header block(s) deterministically (ustar, with a PAX
//! record only where a value does not fit, or in the Go style of skopeo's
//! docker-archives).

mod decompress;
mod error;
pub(crate) mod header;
mod read;

pub use decompress::detect;
pub(crate) use decompress::{
    Decoder, Hashes, IN_FLIGHT, Message, SniffError, Source, compression_name, pump,
};
pub use error::{Error, LimitKind, Malformed};
pub use header::{Header, HeaderStyle, padding, typeflag};
pub(crate) use read::Archive;
pub use read::{Entry, Kind, Mtime, Reader};

/// Limits on what one archive may contain. Exceeding one is an error naming the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest PAX extended header or GNU long name/link record, in bytes.
    pub max_record: u64,
    /// Largest uncompressed tar stream, in bytes.
    pub max_bytes: u64,
    /// Largest ratio of uncompressed to compressed bytes (compressed input only), checked
    /// once `ratio_after` uncompressed bytes have been produced.
    pub max_ratio: u64,
    /// The number of uncompressed bytes before `max_ratio` is enforced.
    pub ratio_after: u64,
    /// Largest number of tar headers (entries, PAX records and long names included).
    pub max_entries: u64,
    /// Largest number of components in an entry's name (after lexical cleaning).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_record: 1 << 20,
            max_bytes: 64 << 30,
            max_ratio: 1000,
            ratio_after: 64 << 20,
            max_entries: 4_000_000,
            max_depth: 1024,
        }
    }
}
