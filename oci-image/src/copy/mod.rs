//! `ocimg copy`: copying images between transports (`oci:`, `oci-archive:`,
//! `docker-archive:`, `discover:`), converting formats and recompressing layers.

mod source;

pub use source::{BlobOpenError, BlobReader, Source, read_error};
