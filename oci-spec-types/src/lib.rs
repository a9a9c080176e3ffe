#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod annotations;
pub mod config;
pub mod descriptor;
pub mod digest;
pub mod docker;
pub mod document;
pub mod index;
mod json;
pub mod layout;
pub mod manifest;
pub mod media_type;
pub mod platform;
pub mod validate;

pub use annotations::Annotations;
pub use config::{ExecConfig, History, ImageConfig, RootFs};
pub use descriptor::Descriptor;
pub use digest::{Algorithm, Digest};
pub use docker::{DockerManifest, DockerManifestList};
pub use document::{AnyManifest, Document, DocumentType, ManifestKind};
pub use index::ImageIndex;
pub use layout::OciLayout;
pub use manifest::ImageManifest;
pub use media_type::MediaType;
pub use platform::{Platform, PlatformMatcher};
