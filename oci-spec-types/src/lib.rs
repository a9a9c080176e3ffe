#![doc = include_str!("../README.md")]

pub mod digest;
pub mod media_type;

pub use digest::{Algorithm, Digest};
pub use media_type::MediaType;
