//! `ocimg copy`: copying images between transports (`oci:`, `oci-archive:`,
//! `docker-archive:`, `discover:`), converting formats and recompressing layers.

mod archive;
mod endpoint;
mod engine;
mod sources;

pub use endpoint::{Endpoint, EndpointError, TRANSPORTS};
pub use engine::{Copied, CopyError, CopyOptions, Format, Platforms, copy};
pub use sources::{LayoutSource, OciArchiveSource, SourceError};
