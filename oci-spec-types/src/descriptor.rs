//! Content descriptors (descriptor.md) and the empty descriptor (M28).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::annotations::{self, Annotations};
use crate::digest::Digest;
use crate::media_type::{self, MediaType};
use crate::platform::Platform;

/// The digest of the empty blob `{}` (M28).
pub const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// The content of the empty blob.
pub const EMPTY_CONTENT: &[u8] = b"{}";
/// The size of the empty blob.
pub const EMPTY_SIZE: u64 = 2;
/// The empty blob's content as the base64 `data` field.
pub const EMPTY_DATA: &str = "e30=";

/// The largest `size` a descriptor may carry: sizes are int64 (D7) and not negative (D9).
pub const MAX_SIZE: u64 = i64::MAX as u64;

/// A content descriptor: what a blob is, its digest and its size.
///
/// Field order is that of the image-spec Go struct, and the serialization order.
/// Optional fields are absent when `None`; `Some` of an empty list or map is written
/// as `[]` or `{}`, so absent and empty stay distinguishable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// `mediaType` of the referenced content (D3, D4).
    pub media_type: MediaType,
    /// `digest` of the referenced content (D5).
    pub digest: Digest,
    /// `size` in bytes (D7). Parsing rejects negative values (D9) and values above
    /// [`MAX_SIZE`].
    #[serde(deserialize_with = "deserialize_size")]
    pub size: u64,
    /// `urls` the content may be fetched from (D10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// `annotations` (D12).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// `data`: the content embedded as base64, kept as written; see
    /// [`Descriptor::decode_data`] (D13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// `platform` of the referenced manifest (D17).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// `artifactType` of the referenced artifact (D16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<MediaType>,
    /// Members this crate does not know, kept for the round trip (never a known member name).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Why the `data` field of a descriptor cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// `data` is not RFC 4648 standard base64 with padding (D13).
    #[error("descriptor data is not padded standard base64 (RFC 4648)")]
    Base64 {
        /// What the decoder found.
        source: base64::DecodeError,
    },
    /// The decoded length differs from `size` (D14, D15).
    #[error("descriptor data decodes to {decoded} bytes, but size is {size}")]
    Size {
        /// The descriptor's `size`.
        size: u64,
        /// The length of the decoded data.
        decoded: u64,
    },
}

impl Descriptor {
    /// A descriptor with the three required fields and nothing else.
    pub fn new(media_type: impl Into<MediaType>, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: None,
            annotations: None,
            data: None,
            platform: None,
            artifact_type: None,
            extra: BTreeMap::new(),
        }
    }

    /// The empty descriptor of M28, without `data`.
    pub fn empty() -> Descriptor {
        Descriptor::new(
            media_type::EMPTY,
            Digest::parse(EMPTY_DIGEST).expect("EMPTY_DIGEST is a valid sha256 digest"),
            EMPTY_SIZE,
        )
    }

    /// The empty descriptor of M28 with `data` set to `e30=`, as the spec's example.
    pub fn empty_with_data() -> Descriptor {
        Descriptor {
            data: Some(EMPTY_DATA.to_owned()),
            ..Descriptor::empty()
        }
    }

    /// Whether this describes the empty blob: the empty media type, its digest and size.
    pub fn is_empty_blob(&self) -> bool {
        self.media_type == media_type::EMPTY
            && self.digest.as_str() == EMPTY_DIGEST
            && self.size == EMPTY_SIZE
    }

    /// Decodes `data`: `Ok(None)` when absent, an error when it is not padded standard
    /// base64 (D13) or when its length differs from `size` (D15). Whether the bytes match
    /// `digest` is for the caller to check by hashing (this crate does not hash).
    pub fn decode_data(&self) -> Result<Option<Vec<u8>>, DataError> {
        let Some(data) = &self.data else {
            return Ok(None);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|source| DataError::Base64 { source })?;
        let decoded = bytes.len() as u64;
        if decoded != self.size {
            return Err(DataError::Size {
                size: self.size,
                decoded,
            });
        }
        Ok(Some(bytes))
    }

    /// The `org.opencontainers.image.ref.name` annotation, if any.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .as_ref()?
            .get(annotations::REF_NAME)
            .map(String::as_str)
    }

    /// The annotation `key`, if any.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

/// `content` as the text of a `data` field: RFC 4648 standard base64 with padding.
pub fn encode_data(content: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(content)
}

/// Deserializes a descriptor `size`: a JSON integer from 0 to [`MAX_SIZE`].
pub(crate) fn deserialize_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct SizeVisitor;
    impl serde::de::Visitor<'_> for SizeVisitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte count: an integer from 0 to 9223372036854775807")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            if v > MAX_SIZE {
                Err(E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            } else {
                Ok(v)
            }
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
    }
    d.deserialize_u64(SizeVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_descriptor_data_is_consistent() {
        let d = Descriptor::empty_with_data();
        assert_eq!(d.decode_data().unwrap().as_deref(), Some(EMPTY_CONTENT));
        assert!(d.is_empty_blob());
        assert_eq!(encode_data(EMPTY_CONTENT), EMPTY_DATA);
        assert_eq!(Descriptor::empty().decode_data(), Ok(None));
    }

    #[test]
    fn strict_base64() {
        let mut d = Descriptor::empty();
        for bad in ["e30", "e3 0=", "e30==", "e3-=", "e31="] {
            d.data = Some(bad.to_owned());
            assert!(
                matches!(d.decode_data(), Err(DataError::Base64 { .. })),
                "{bad}"
            );
        }
        d.data = Some("e30AAA==".to_owned());
        assert_eq!(
            d.decode_data(),
            Err(DataError::Size {
                size: 2,
                decoded: 4
            })
        );
    }

    #[test]
    fn size_bounds() {
        let parse = |size: &str| {
            serde_json::from_str::<Descriptor>(&format!(
                r#"{{"mediaType":"a/b","digest":"{EMPTY_DIGEST}","size":{size}}}"#
            ))
        };
        assert_eq!(parse("0").unwrap().size, 0);
        assert_eq!(parse("9223372036854775807").unwrap().size, MAX_SIZE);
        for bad in ["-1", "9223372036854775808", "2.0", "\"2\"", "null"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
