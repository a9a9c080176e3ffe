#![doc = include_str!("../README.md")]

pub mod cosign;
mod framing;
mod json;
mod manifest;
pub mod openpgp;
mod payload;
pub mod policy;
pub mod registries_d;
mod simple;

pub use framing::{FramingError, MAX_SIGNATURE_SIZE, MAX_SIGNATURES, StoredSignature};
pub use manifest::{
    ManifestError, check_unambiguous, digested_bytes, manifest_digest, matches_digest,
    parse_strict_digest,
};
pub use payload::{ATOMIC_TYPE, COSIGN_TYPE, MAX_PAYLOAD_SIZE, Payload, PayloadError};
pub use simple::{
    SimpleError, SimpleSignOptions, VerifiedSimpleSignature, sign_simple, verify_simple,
    verify_standalone,
};
