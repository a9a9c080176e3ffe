//! The manifest digest a signature names, computed as containers/image computes it.

use base64::Engine as _;
use oci_digest::{Algorithm, Digester};
use oci_spec_types::Digest;

use crate::json::{self, Value};

/// Why a manifest digest cannot be computed or compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The digest a signature names is not a digest of a registered algorithm with the
    /// exact encoding (checked before any use, CVE-2024-3727).
    #[error("invalid manifest digest {digest:?} in signature")]
    InvalidDigest {
        /// The digest string as found.
        digest: String,
    },
    /// A Docker schema1 signed manifest whose JWS protected headers are malformed or
    /// disagree about the payload.
    #[error("malformed Docker schema1 signed manifest: {reason}")]
    Schema1 {
        /// What is wrong.
        reason: &'static str,
    },
    /// The manifest has members of both an image manifest and an index (CVE-2021-41190),
    /// or members that contradict its `mediaType`.
    #[error("ambiguous manifest: {reason}")]
    Ambiguous {
        /// What conflicts.
        reason: String,
    },
}

/// Parses a digest strictly: a registered algorithm and exactly its encoding (lowercase
/// hex of the right length). Use it before a digest from outside names a file, a URL or
/// a tag (CVE-2024-3727).
pub fn parse_strict_digest(s: &str) -> Result<Digest, ManifestError> {
    let invalid = || ManifestError::InvalidDigest {
        digest: s.to_owned(),
    };
    let d = Digest::parse(s).map_err(|_| invalid())?;
    if d.algorithm().is_none() {
        return Err(invalid());
    }
    Ok(d)
}

/// The bytes a manifest digest covers: the bytes themselves, or for a Docker schema1
/// signed manifest (JWS) the payload its protected headers describe.
pub fn digested_bytes(manifest: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, ManifestError> {
    let Ok(Value::Object(top)) = json::parse(manifest) else {
        return Ok(manifest.into());
    };
    let is_schema1 = matches!(top.get("schemaVersion"), Some(Value::Int(1)));
    let Some(Value::Array(signatures)) = top.get("signatures") else {
        return Ok(manifest.into());
    };
    if !is_schema1 {
        return Ok(manifest.into());
    }
    let bad = |reason| ManifestError::Schema1 { reason };
    if signatures.is_empty() {
        return Err(bad("no signatures"));
    }
    let mut payload: Option<Vec<u8>> = None;
    for sig in signatures {
        let Value::Object(sig) = sig else {
            return Err(bad("a signature is not an object"));
        };
        let Some(Value::String(protected)) = sig.get("protected") else {
            return Err(bad("a signature has no protected header"));
        };
        let header = b64url(protected).ok_or(bad("protected header is not base64url"))?;
        let Ok(Value::Object(header)) = json::parse(&header) else {
            return Err(bad("protected header is not a JSON object"));
        };
        let Some(Value::Int(len)) = header.get("formatLength") else {
            return Err(bad("protected header has no integer formatLength"));
        };
        let Some(Value::String(tail)) = header.get("formatTail") else {
            return Err(bad("protected header has no formatTail"));
        };
        let len = usize::try_from(*len)
            .ok()
            .filter(|l| *l <= manifest.len())
            .ok_or(bad("formatLength out of range"))?;
        let tail = b64url(tail).ok_or(bad("formatTail is not base64url"))?;
        let mut this = manifest[..len].to_vec();
        this.extend_from_slice(&tail);
        match &payload {
            Some(p) if *p != this => return Err(bad("signatures disagree about the payload")),
            _ => payload = Some(this),
        }
    }
    Ok(payload.expect("at least one signature").into())
}

fn b64url(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

/// The sha256 digest of a manifest as containers/image computes it ([`digested_bytes`]).
pub fn manifest_digest(manifest: &[u8]) -> Result<Digest, ManifestError> {
    let bytes = digested_bytes(manifest)?;
    Ok(Digester::digest_bytes(Algorithm::Sha256, &bytes).digest)
}

/// Whether `manifest` has the digest `expected` (a string from a signature, parsed
/// strictly first), computed with `expected`'s algorithm.
pub fn matches_digest(manifest: &[u8], expected: &str) -> Result<bool, ManifestError> {
    let expected = parse_strict_digest(expected)?;
    let algorithm = expected
        .algorithm()
        .expect("parse_strict_digest checked it");
    let bytes = digested_bytes(manifest)?;
    Ok(Digester::digest_bytes(algorithm, &bytes).digest == expected)
}

/// Rejects a manifest that could be read both as an image manifest and as an index, or
/// whose members contradict its own `mediaType` (CVE-2021-41190). Bytes that are not a
/// JSON object are left to the manifest parser.
pub fn check_unambiguous(manifest: &[u8]) -> Result<(), ManifestError> {
    let Ok(Value::Object(top)) = json::parse(manifest) else {
        return Ok(());
    };
    let has = |k: &str| !matches!(top.get(k), None | Some(Value::Null));
    let ambiguous = |reason: &str| {
        Err(ManifestError::Ambiguous {
            reason: reason.to_owned(),
        })
    };
    let manifest_members = has("config") || has("layers");
    if has("manifests") && manifest_members {
        return ambiguous("it has both manifests and config or layers");
    }
    if let Some(Value::String(mt)) = top.get("mediaType") {
        let index_type = mt == oci_spec_types::media_type::IMAGE_INDEX
            || mt == oci_spec_types::media_type::DOCKER_MANIFEST_LIST;
        let manifest_type = mt == oci_spec_types::media_type::IMAGE_MANIFEST
            || mt == oci_spec_types::media_type::DOCKER_MANIFEST;
        if index_type && manifest_members {
            return ambiguous(&format!("mediaType {mt} but it has config or layers"));
        }
        if manifest_type && has("manifests") {
            return ambiguous(&format!("mediaType {mt} but it has manifests"));
        }
    }
    Ok(())
}
