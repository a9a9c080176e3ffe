//! The simple-signing payload of containers-signature(5), shared by OpenPGP ("atomic
//! container signature") and cosign ("cosign container image signature") signatures.

use std::collections::BTreeMap;

use oci_spec_types::Digest;

use crate::json::{self, Value};

/// `critical.type` of a containers/image OpenPGP signature.
pub const ATOMIC_TYPE: &str = "atomic container signature";
/// `critical.type` of a cosign signature.
pub const COSIGN_TYPE: &str = "cosign container image signature";

/// The largest payload read (containers/image's limit on a signature body is 4 MiB).
pub const MAX_PAYLOAD_SIZE: usize = 4 << 20;

/// What a simple-signing payload claims: the manifest digest and the identity signed,
/// with the optional creator and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// `critical.type`: [`ATOMIC_TYPE`] or [`COSIGN_TYPE`].
    pub signature_type: String,
    /// `critical.image.docker-manifest-digest`, as written (checked against the manifest,
    /// never trusted as a well-formed digest).
    pub manifest_digest: String,
    /// `critical.identity.docker-reference`, as written.
    pub docker_reference: String,
    /// `optional.creator`.
    pub creator: Option<String>,
    /// `optional.timestamp`, Unix seconds.
    pub timestamp: Option<i64>,
}

/// Why a payload is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The payload is larger than [`MAX_PAYLOAD_SIZE`].
    #[error("signature payload of {size} bytes exceeds the limit of {MAX_PAYLOAD_SIZE}")]
    TooLarge {
        /// The payload's size.
        size: usize,
    },
    /// Not JSON, or JSON with a duplicate key.
    #[error("signature payload is not strict JSON: {reason}")]
    Json {
        /// What the parser reported (including duplicate keys).
        reason: String,
    },
    /// A member has the wrong JSON type.
    #[error("signature payload member {field} is a {found}, expected {expected}")]
    WrongType {
        /// JSON pointer of the member.
        field: String,
        /// The expected JSON type.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A required member is missing.
    #[error("signature payload member {field} is missing")]
    Missing {
        /// JSON pointer of the member.
        field: String,
    },
    /// A member that must not be there (anywhere but under `optional`).
    #[error("signature payload has unknown key {key:?} in {parent}")]
    UnknownKey {
        /// JSON pointer of the object.
        parent: String,
        /// The unknown key.
        key: String,
    },
    /// `critical.type` is not the expected signature type.
    #[error("signature payload type {found:?} is not {expected:?}")]
    WrongSignatureType {
        /// The type this verifier needs.
        expected: &'static str,
        /// The type found.
        found: String,
    },
    /// `optional.timestamp` is a number but not an integer (or out of range).
    #[error("signature payload timestamp is not an integer")]
    TimestampNotInteger,
}

impl Payload {
    /// A payload of containers/image's type for `manifest_digest` and `docker_reference`
    /// (which should carry a tag), with no creator or timestamp.
    pub fn new(manifest_digest: &Digest, docker_reference: &str) -> Payload {
        Payload {
            signature_type: ATOMIC_TYPE.to_owned(),
            manifest_digest: manifest_digest.to_string(),
            docker_reference: docker_reference.to_owned(),
            creator: None,
            timestamp: None,
        }
    }

    /// The payload as containers/image writes it: compact JSON, keys sorted. Without
    /// creator and timestamp, `optional` is `{}`; a cosign-type payload without them
    /// has `"optional":null`, as cosign writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut critical = BTreeMap::new();
        critical.insert(
            "identity",
            serde_json::json!({ "docker-reference": self.docker_reference }),
        );
        critical.insert(
            "image",
            serde_json::json!({ "docker-manifest-digest": self.manifest_digest }),
        );
        critical.insert("type", serde_json::json!(self.signature_type));
        let mut optional = BTreeMap::new();
        if let Some(creator) = &self.creator {
            optional.insert("creator", serde_json::json!(creator));
        }
        if let Some(timestamp) = self.timestamp {
            optional.insert("timestamp", serde_json::json!(timestamp));
        }
        let optional = if optional.is_empty() && self.signature_type == COSIGN_TYPE {
            serde_json::Value::Null
        } else {
            serde_json::json!(optional)
        };
        let doc = serde_json::json!({ "critical": critical, "optional": optional });
        serde_json::to_vec(&doc).expect("a JSON value serializes")
    }

    /// Parses a payload strictly, as containers/image does: exactly the critical keys,
    /// duplicate keys and wrong types rejected, unknown optional keys allowed, `optional`
    /// may be `null`, `timestamp` must be an integer, and `critical.type` must be
    /// `expected_type`.
    ///
    /// Call this only on bytes whose signature has been verified.
    pub fn parse(bytes: &[u8], expected_type: &'static str) -> Result<Payload, PayloadError> {
        if bytes.len() > MAX_PAYLOAD_SIZE {
            return Err(PayloadError::TooLarge { size: bytes.len() });
        }
        let root = json::parse(bytes).map_err(|e| PayloadError::Json { reason: e.message })?;
        let top = object(&root, "")?;
        exact_keys(top, "", &["critical", "optional"])?;
        let critical = object(member(top, "", "critical")?, "/critical")?;
        exact_keys(critical, "/critical", &["identity", "image", "type"])?;
        let signature_type = string(member(critical, "/critical", "type")?, "/critical/type")?;
        if signature_type != expected_type {
            return Err(PayloadError::WrongSignatureType {
                expected: expected_type,
                found: signature_type,
            });
        }
        let image = object(member(critical, "/critical", "image")?, "/critical/image")?;
        exact_keys(image, "/critical/image", &["docker-manifest-digest"])?;
        let manifest_digest = string(
            member(image, "/critical/image", "docker-manifest-digest")?,
            "/critical/image/docker-manifest-digest",
        )?;
        let identity = object(
            member(critical, "/critical", "identity")?,
            "/critical/identity",
        )?;
        exact_keys(identity, "/critical/identity", &["docker-reference"])?;
        let docker_reference = string(
            member(identity, "/critical/identity", "docker-reference")?,
            "/critical/identity/docker-reference",
        )?;
        let (creator, timestamp) = match member(top, "", "optional")? {
            Value::Null => (None, None),
            optional => {
                let optional = object(optional, "/optional")?;
                let creator = match optional.get("creator") {
                    None => None,
                    Some(v) => Some(string(v, "/optional/creator")?),
                };
                let timestamp = match optional.get("timestamp") {
                    None => None,
                    Some(Value::Int(t)) => Some(*t),
                    Some(Value::Float) => return Err(PayloadError::TimestampNotInteger),
                    Some(other) => {
                        return Err(PayloadError::WrongType {
                            field: "/optional/timestamp".to_owned(),
                            expected: "number",
                            found: other.type_name(),
                        });
                    }
                };
                (creator, timestamp)
            }
        };
        Ok(Payload {
            signature_type,
            manifest_digest,
            docker_reference,
            creator,
            timestamp,
        })
    }
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a BTreeMap<String, Value>, PayloadError> {
    match v {
        Value::Object(o) => Ok(o),
        other => Err(PayloadError::WrongType {
            field: field.to_owned(),
            expected: "object",
            found: other.type_name(),
        }),
    }
}

fn string(v: &Value, field: &str) -> Result<String, PayloadError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(PayloadError::WrongType {
            field: field.to_owned(),
            expected: "string",
            found: other.type_name(),
        }),
    }
}

fn member<'a>(
    o: &'a BTreeMap<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a Value, PayloadError> {
    o.get(key).ok_or_else(|| PayloadError::Missing {
        field: format!("{parent}/{key}"),
    })
}

fn exact_keys(
    o: &BTreeMap<String, Value>,
    parent: &str,
    allowed: &[&str],
) -> Result<(), PayloadError> {
    if let Some(key) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(PayloadError::UnknownKey {
            parent: if parent.is_empty() { "/" } else { parent }.to_owned(),
            key: key.clone(),
        });
    }
    Ok(())
}
