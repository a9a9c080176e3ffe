#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod auth;
mod blob;
mod client;
pub mod credentials;
pub mod discovery;
mod error;
pub mod http;
mod limit;
mod link;
pub mod proxy;
mod referrers;
mod repository;
pub mod tls;
mod upload;

pub use auth::{
    Anonymous, Challenge, CredentialError, CredentialSource, Scope, StaticCredentials,
    merge_scopes, parse_challenges,
};
pub use blob::BlobReader;
pub use client::{Network, NetworkError, RegistryClient, RegistryOptions, SystemNetwork};
pub use error::{Error, ErrorCode, ErrorKind};
pub use limit::{Permit, Semaphore};
pub use link::{Link, next_link, parse_link};
pub use referrers::{Referrers, ReferrersSource, fallback_tag, referrer_descriptor};
pub use repository::{
    MANIFEST_ACCEPT, MANIFEST_LIMIT, Manifest, ManifestHead, ManifestRef, PushedManifest,
    Repository, is_manifest_type,
};
pub use upload::{PushOptions, Pushed};
