//! `ocimg copy`: copying images between transports (`oci:`, `oci-archive:`,
//! `docker-archive:`, `discover:`), converting formats and recompressing layers.

mod engine;

pub use engine::{
    Copied, CopyError, CopyOptions, DEFAULT_JOBS, Format, Platforms, copy, copy_image, copy_to,
};
