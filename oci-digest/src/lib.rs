#![doc = include_str!("../README.md")]

mod chain;
mod digester;
mod store;
mod tee;
mod verify;

pub use chain::{chain_id, chain_ids};
pub use digester::{Digester, Measured};
pub use store::{
    BlobStore, BlobWriter, DeleteError, InvalidEntry, InvalidReason, ListError, Listing, OpenError,
    PutError, ReadError, StatError, TEMP_PREFIX,
};
pub use tee::{DigestReader, DigestWriter};
pub use verify::{Unverifiable, VerifyError, VerifyingReader};

/// The digest types this crate works with, re-exported for convenience.
pub use oci_spec_types::digest::{Algorithm, Digest};
