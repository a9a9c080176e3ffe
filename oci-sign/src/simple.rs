//! containers/image simple signing: an OpenPGP signed message over a payload naming a
//! manifest digest and an identity, verified in the mandated order.

use oci_naming::Reference;

use crate::manifest::{ManifestError, check_unambiguous, manifest_digest, matches_digest};
use crate::openpgp::{self, Keyring, OpenPgpError, SecretKey, SignOptions};
use crate::payload::{ATOMIC_TYPE, Payload, PayloadError};

/// A simple signature whose cryptography, payload and manifest digest have been checked;
/// its identity is still to be checked against a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSimpleSignature {
    /// The signer's primary key fingerprint, uppercase hex.
    pub fingerprint: String,
    /// The payload.
    pub payload: Payload,
}

/// Why a simple signature is rejected, in the order of the checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimpleError {
    /// The OpenPGP message or its signature is rejected.
    #[error(transparent)]
    OpenPgp(#[from] OpenPgpError),
    /// The signer is not the expected key.
    #[error("signature by {found}, expected {expected}")]
    WrongSigner {
        /// The expected fingerprint.
        expected: String,
        /// The signer's fingerprint.
        found: String,
    },
    /// The verified payload is rejected.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The manifest digest cannot be computed, or the signature's digest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The signature is for another manifest.
    #[error("signature is for manifest {signed}, not this manifest ({actual})")]
    DigestMismatch {
        /// The digest in the signature.
        signed: String,
        /// This manifest's digest.
        actual: String,
    },
    /// The signed identity is not a valid reference.
    #[error("signed identity {identity:?} is not a valid reference")]
    InvalidIdentity {
        /// The identity.
        identity: String,
    },
    /// The signed identity is not the expected one.
    #[error("signature is for identity {signed}, not {expected}")]
    IdentityMismatch {
        /// The identity signed.
        signed: String,
        /// The identity expected.
        expected: String,
    },
    /// The identity to sign is not a valid reference.
    #[error("identity {identity:?} to sign is not a valid reference")]
    BadIdentityToSign {
        /// The identity.
        identity: String,
        /// The parser's error.
        source: oci_naming::Error,
    },
    /// Signing failed.
    #[error(transparent)]
    Key(#[from] openpgp::KeyError),
}

/// Verifies a simple signature over `manifest`: the OpenPGP signature first (at `now`,
/// Unix seconds), then the payload is parsed, then the manifest digest compared and
/// the manifest checked for ambiguity. The identity is left to the caller (a policy).
pub fn verify_simple(
    blob: &[u8],
    keyring: &Keyring,
    manifest: &[u8],
    now: u64,
) -> Result<VerifiedSimpleSignature, SimpleError> {
    let message = openpgp::verify_message(blob, keyring, now)?;
    let payload = Payload::parse(&message.data, ATOMIC_TYPE)?;
    check_manifest(manifest, &payload.manifest_digest)?;
    Ok(VerifiedSimpleSignature {
        fingerprint: message.fingerprint,
        payload,
    })
}

/// Checks that `manifest` has the digest a verified payload names and is unambiguous.
pub(crate) fn check_manifest(manifest: &[u8], signed: &str) -> Result<(), SimpleError> {
    if !matches_digest(manifest, signed)? {
        return Err(SimpleError::DigestMismatch {
            signed: signed.to_owned(),
            actual: manifest_digest(manifest)?.to_string(),
        });
    }
    check_unambiguous(manifest)?;
    Ok(())
}

/// What `skopeo standalone-verify MANIFEST REFERENCE FINGERPRINT SIGNATURE` checks: the
/// signature verifies, its signer is `fingerprint` (full, case-insensitive), the
/// manifest digest matches, and the signed identity equals `docker_reference` (both
/// normalized).
pub fn verify_standalone(
    manifest: &[u8],
    docker_reference: &str,
    fingerprint: &str,
    blob: &[u8],
    keyring: &Keyring,
    now: u64,
) -> Result<VerifiedSimpleSignature, SimpleError> {
    let message = openpgp::verify_message(blob, keyring, now)?;
    let wanted = fingerprint.to_ascii_uppercase();
    if message.fingerprint != wanted && message.signing_key_fingerprint != wanted {
        return Err(SimpleError::WrongSigner {
            expected: wanted,
            found: message.fingerprint,
        });
    }
    let payload = Payload::parse(&message.data, ATOMIC_TYPE)?;
    check_manifest(manifest, &payload.manifest_digest)?;
    let signed = Reference::parse_normalized(&payload.docker_reference).map_err(|_| {
        SimpleError::InvalidIdentity {
            identity: payload.docker_reference.clone(),
        }
    })?;
    let expected = Reference::parse_normalized(docker_reference).map_err(|_| {
        SimpleError::InvalidIdentity {
            identity: docker_reference.to_owned(),
        }
    })?;
    if signed.to_string() != expected.to_string() {
        return Err(SimpleError::IdentityMismatch {
            signed: signed.to_string(),
            expected: expected.to_string(),
        });
    }
    Ok(VerifiedSimpleSignature {
        fingerprint: message.fingerprint,
        payload,
    })
}

/// Options for [`sign_simple`].
#[derive(Debug, Clone, Default)]
pub struct SimpleSignOptions {
    /// `optional.creator` (default: `ocimg <version>`).
    pub creator: Option<String>,
    /// `optional.timestamp` and the signature's creation time, Unix seconds (default: now).
    pub timestamp: Option<u32>,
    /// Seconds after which the OpenPGP signature expires (default: never).
    pub expires_in: Option<u32>,
}

/// Signs `manifest` for `identity` (normalized; it should carry a tag) with an OpenPGP
/// key: the payload as containers/image writes it, in a binary signed message.
pub fn sign_simple(
    key: &SecretKey,
    passphrase: &[u8],
    manifest: &[u8],
    identity: &str,
    options: &SimpleSignOptions,
) -> Result<Vec<u8>, SimpleError> {
    let reference =
        Reference::parse_normalized(identity).map_err(|source| SimpleError::BadIdentityToSign {
            identity: identity.to_owned(),
            source,
        })?;
    let timestamp = options
        .timestamp
        .unwrap_or_else(|| u32::try_from(openpgp::unix_now()).unwrap_or(u32::MAX));
    let mut payload = Payload::new(&manifest_digest(manifest)?, &reference.to_string());
    payload.creator = Some(
        options
            .creator
            .clone()
            .unwrap_or_else(|| format!("ocimg {}", env!("CARGO_PKG_VERSION"))),
    );
    payload.timestamp = Some(i64::from(timestamp));
    let sign = SignOptions {
        created: Some(timestamp),
        expires_in: options.expires_in,
    };
    Ok(key.sign_message(passphrase, &payload.to_bytes(), &sign)?)
}
