#![doc = include_str!("../README.md")]

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

pub use digest::{Algorithm, Digest};
pub use media_type::MediaType;
