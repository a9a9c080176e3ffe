#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod atomic;
mod chain;
mod digester;
mod files;
mod store;
mod tee;
mod verify;

pub use atomic::{AtomicError, AtomicFile};
pub use chain::{chain_id, chain_ids};
pub use digester::{Digester, Measured};
pub use files::{DIGEST_BUFFER, DigestFileError, DigestFiles, Input, digest_files, digest_reader};
pub use store::{
    BlobStore, BlobWriter, DeleteError, InvalidEntry, InvalidReason, ListError, Listing, OpenError,
    PutError, ReadError, StatError, TEMP_PREFIX,
};
pub use tee::{DigestReader, DigestWriter};
pub use verify::{Unverifiable, VerifyError, VerifyingReader};

/// The digest types this crate works with, re-exported for convenience.
pub use oci_spec_types::digest::{Algorithm, Digest};
