//! Documents: a parsed value beside the exact bytes it came from, and the one
//! serialization that everything writing documents uses.
//!
//! Digests are always of the exact bytes (K1): a [`Document`] keeps them, so a caller
//! never re-serializes a parsed document to find its digest. Hashing itself lives in
//! `oci-digest`; this crate does not hash.
//!
//! # Serialization
//!
//! [`to_bytes`] writes compact JSON (no whitespace, C17), UTF-8, with:
//! - members of the known fields in the order of the image-spec Go structs (the order
//!   `json.Marshal` writes, as umoci and crane do), absent optional fields left out;
//! - then unknown members kept from parsing, sorted by name;
//! - maps (annotations, labels, ...) sorted by key, as they are `BTreeMap`s;
//! - strings escaped as `serde_json` does: only `"`, `\` and control characters.
//!
//! The same value always gives the same bytes, and those bytes parse back to an equal value.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::ImageConfig;
use crate::descriptor::Descriptor;
use crate::docker::{DockerManifest, DockerManifestList};
use crate::index::ImageIndex;
use crate::layout::OciLayout;
use crate::manifest::ImageManifest;
use crate::media_type::{self, MediaType};
use crate::platform::Platform;

mod sealed {
    pub trait Sealed {}
}

/// A type of JSON document of this crate: what [`Document`], [`to_bytes`] and
/// [`from_slice`] work with.
///
/// Sealed: the types of this crate only, whose serialization cannot fail (their members
/// are strings, integers, booleans, string-keyed maps and `serde_json::Value`s).
pub trait DocumentType: Serialize + DeserializeOwned + sealed::Sealed {
    /// What the document is, for error messages: `image manifest`, `descriptor`, ...
    const NAME: &'static str;
}

macro_rules! document_type {
    ($($t:ty => $name:literal,)*) => {$(
        impl sealed::Sealed for $t {}
        impl DocumentType for $t {
            const NAME: &'static str = $name;
        }
    )*};
}

document_type! {
    Descriptor => "descriptor",
    Platform => "platform",
    ImageManifest => "image manifest",
    ImageIndex => "image index",
    ImageConfig => "image config",
    OciLayout => "oci-layout",
    DockerManifest => "docker manifest",
    DockerManifestList => "docker manifest list",
}

/// Why bytes do not parse as a document: not JSON, or a field of the wrong shape. The
/// message includes the parser's (with line and column); it has no further
/// [`source`](std::error::Error::source), so a chain prints it once.
#[derive(Debug)]
pub struct ParseError {
    /// What was being parsed (`image manifest`, ...).
    pub document: &'static str,
    /// The JSON path of the field at fault, such as `layers[0].size`; `.` for the top level.
    pub path: String,
    /// What the JSON parser found, with line and column.
    pub source: serde_json::Error,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.document,
            display_path(&self.path),
            self.source
        )
    }
}

impl std::error::Error for ParseError {}

fn display_path(path: &str) -> String {
    if path == "." {
        "at the top level".to_owned()
    } else {
        format!("at `{path}`")
    }
}

impl ParseError {
    /// Line of the error in the input, 1-based (0 when unknown).
    pub fn line(&self) -> usize {
        self.source.line()
    }

    /// Column of the error in the input, 1-based (0 when unknown).
    pub fn column(&self) -> usize {
        self.source.column()
    }

    /// Whether the input is not well-formed JSON at all (as opposed to JSON with a field
    /// of the wrong shape).
    pub fn is_syntax(&self) -> bool {
        matches!(
            self.source.classify(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof
        )
    }
}

/// Parses `bytes` as a `T`, naming the JSON path of the field at fault on error.
/// Trailing non-whitespace is an error.
pub fn from_slice<T: DocumentType>(bytes: &[u8]) -> Result<T, ParseError> {
    parse_with_path(bytes, T::NAME)
}

fn parse_with_path<T: DeserializeOwned>(
    bytes: &[u8],
    document: &'static str,
) -> Result<T, ParseError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| ParseError {
        document,
        path: e.path().to_string(),
        source: e.into_inner(),
    })?;
    de.end().map_err(|source| ParseError {
        document,
        path: ".".to_owned(),
        source,
    })?;
    Ok(value)
}

/// The deterministic serialization of `value` (see the module docs): compact JSON.
pub fn to_bytes<T: DocumentType>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("document types serialize without error")
}

/// A parsed document and the exact bytes it was parsed from (or serialized to).
///
/// The bytes always parse to the value: the fields are private and there is no way to
/// change one without the other.
#[derive(Clone, PartialEq)]
pub struct Document<T> {
    bytes: Vec<u8>,
    value: T,
}

impl<T: DocumentType> Document<T> {
    /// Parses `bytes`, keeping them as they are.
    pub fn parse(bytes: impl Into<Vec<u8>>) -> Result<Document<T>, ParseError> {
        let bytes = bytes.into();
        let value = from_slice(&bytes)?;
        Ok(Document { bytes, value })
    }

    /// Serializes `value` with [`to_bytes`].
    pub fn from_value(value: T) -> Document<T> {
        Document {
            bytes: to_bytes(&value),
            value,
        }
    }

    /// The exact bytes: what a digest is computed over.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The number of bytes: what a descriptor's `size` says.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The parsed value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The parsed value, dropping the bytes.
    pub fn into_value(self) -> T {
        self.value
    }

    /// The bytes, dropping the parsed value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The bytes and the parsed value.
    pub fn into_parts(self) -> (Vec<u8>, T) {
        (self.bytes, self.value)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Document<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("bytes", &String::from_utf8_lossy(&self.bytes))
            .field("value", &self.value)
            .finish()
    }
}

impl<T> AsRef<[u8]> for Document<T> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// The four kinds of manifest documents that name each other in registries and layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// `application/vnd.oci.image.manifest.v1+json`
    OciManifest,
    /// `application/vnd.oci.image.index.v1+json`
    OciIndex,
    /// `application/vnd.docker.distribution.manifest.v2+json`
    DockerManifest,
    /// `application/vnd.docker.distribution.manifest.list.v2+json`
    DockerManifestList,
}

impl ManifestKind {
    /// The kind a media type names, if it is one of the four.
    pub fn from_media_type(media_type: &str) -> Option<ManifestKind> {
        match media_type {
            media_type::IMAGE_MANIFEST => Some(ManifestKind::OciManifest),
            media_type::IMAGE_INDEX => Some(ManifestKind::OciIndex),
            media_type::DOCKER_MANIFEST => Some(ManifestKind::DockerManifest),
            media_type::DOCKER_MANIFEST_LIST => Some(ManifestKind::DockerManifestList),
            _ => None,
        }
    }

    /// The media type of this kind.
    pub fn media_type(self) -> &'static str {
        match self {
            ManifestKind::OciManifest => media_type::IMAGE_MANIFEST,
            ManifestKind::OciIndex => media_type::IMAGE_INDEX,
            ManifestKind::DockerManifest => media_type::DOCKER_MANIFEST,
            ManifestKind::DockerManifestList => media_type::DOCKER_MANIFEST_LIST,
        }
    }
}

/// What the top level of a manifest-like document says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The top-level `mediaType`, if any.
    pub media_type: Option<MediaType>,
    /// Whether a non-null `manifests` member is present.
    pub has_manifests: bool,
    /// Whether a non-null `config` member is present.
    pub has_config: bool,
}

impl Probe {
    /// The kind of document: from `mediaType` when it names one of the four kinds,
    /// otherwise an OCI index when `manifests` is present and an OCI manifest when `config`
    /// is (the top-level `mediaType` is only a SHOULD, M2, I3). `None` when neither tells.
    pub fn kind(&self) -> Option<ManifestKind> {
        match &self.media_type {
            Some(mt) => ManifestKind::from_media_type(mt.as_str()),
            None if self.has_manifests && !self.has_config => Some(ManifestKind::OciIndex),
            None if self.has_config && !self.has_manifests => Some(ManifestKind::OciManifest),
            None => None,
        }
    }
}

/// Reads the top-level `mediaType` of a manifest-like document and which of `manifests`
/// and `config` it has, without parsing the rest.
pub fn probe(bytes: &[u8]) -> Result<Probe, ParseError> {
    #[derive(serde::Deserialize)]
    struct Raw {
        #[serde(rename = "mediaType")]
        media_type: Option<MediaType>,
        manifests: Option<serde::de::IgnoredAny>,
        config: Option<serde::de::IgnoredAny>,
    }
    let raw: Raw = parse_with_path(bytes, "document")?;
    Ok(Probe {
        media_type: raw.media_type,
        has_manifests: raw.manifests.is_some(),
        has_config: raw.config.is_some(),
    })
}

/// A manifest-like document of any of the four [`ManifestKind`]s.
// One value per parsed document, never stored in bulk: boxing the variants would only
// make matching clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum AnyManifest {
    /// An OCI image manifest.
    OciManifest(ImageManifest),
    /// An OCI image index.
    OciIndex(ImageIndex),
    /// A Docker schema2 manifest.
    DockerManifest(DockerManifest),
    /// A Docker manifest list.
    DockerManifestList(DockerManifestList),
}

/// Why bytes are not a manifest-like document of a known kind.
#[derive(Debug, thiserror::Error)]
pub enum AnyManifestError {
    /// Neither the expected media type nor the document itself names a known kind.
    #[error(
        "not a known manifest kind: expected media type {expected:?}, document media type {found:?}"
    )]
    UnknownKind {
        /// The media type the caller expected (from a descriptor), if any.
        expected: Option<String>,
        /// The document's own top-level `mediaType`, if any.
        found: Option<MediaType>,
    },
    /// The document does not parse as the kind chosen.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl AnyManifest {
    /// Parses a manifest-like document. The kind comes from `expected` (the media type of
    /// the descriptor that led here, T1-T3) when it names one of the four kinds, otherwise
    /// from the document itself ([`Probe::kind`]).
    pub fn parse(bytes: &[u8], expected: Option<&str>) -> Result<AnyManifest, AnyManifestError> {
        let kind = match expected.and_then(ManifestKind::from_media_type) {
            Some(kind) => kind,
            None => {
                let probe = probe(bytes)?;
                probe.kind().ok_or_else(|| AnyManifestError::UnknownKind {
                    expected: expected.map(str::to_owned),
                    found: probe.media_type,
                })?
            }
        };
        Ok(match kind {
            ManifestKind::OciManifest => AnyManifest::OciManifest(from_slice(bytes)?),
            ManifestKind::OciIndex => AnyManifest::OciIndex(from_slice(bytes)?),
            ManifestKind::DockerManifest => AnyManifest::DockerManifest(from_slice(bytes)?),
            ManifestKind::DockerManifestList => AnyManifest::DockerManifestList(from_slice(bytes)?),
        })
    }

    /// The kind of document.
    pub fn kind(&self) -> ManifestKind {
        match self {
            AnyManifest::OciManifest(_) => ManifestKind::OciManifest,
            AnyManifest::OciIndex(_) => ManifestKind::OciIndex,
            AnyManifest::DockerManifest(_) => ManifestKind::DockerManifest,
            AnyManifest::DockerManifestList(_) => ManifestKind::DockerManifestList,
        }
    }

    /// The entries of an index or manifest list; `None` for a single manifest.
    pub fn entries(&self) -> Option<&[Descriptor]> {
        match self {
            AnyManifest::OciIndex(i) => Some(&i.manifests),
            AnyManifest::DockerManifestList(l) => Some(&l.manifests),
            AnyManifest::OciManifest(_) | AnyManifest::DockerManifest(_) => None,
        }
    }

    /// The config descriptor of a single manifest; `None` for an index or list.
    pub fn config(&self) -> Option<&Descriptor> {
        match self {
            AnyManifest::OciManifest(m) => Some(&m.config),
            AnyManifest::DockerManifest(m) => Some(&m.config),
            AnyManifest::OciIndex(_) | AnyManifest::DockerManifestList(_) => None,
        }
    }

    /// The layer descriptors of a single manifest; `None` for an index or list.
    pub fn layers(&self) -> Option<&[Descriptor]> {
        match self {
            AnyManifest::OciManifest(m) => Some(&m.layers),
            AnyManifest::DockerManifest(m) => Some(&m.layers),
            AnyManifest::OciIndex(_) | AnyManifest::DockerManifestList(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_names_the_field() {
        let e = Document::<Descriptor>::parse(
            br#"{"mediaType":"a/b","digest":"sha256:abc","size":1}"#.to_vec(),
        )
        .unwrap_err();
        assert_eq!(e.path, "digest");
        assert!(!e.is_syntax());
        assert!(
            e.to_string().starts_with("descriptor: at `digest`: "),
            "{e}"
        );
        let e = from_slice::<OciLayout>(b"{\"imageLayoutVersion\":\"1.0.0\"} x").unwrap_err();
        assert!(e.is_syntax(), "{e}");
    }

    #[test]
    fn probe_kinds() {
        let p = probe(br#"{"schemaVersion":2,"manifests":[]}"#).unwrap();
        assert_eq!(p.kind(), Some(ManifestKind::OciIndex));
        let p = probe(br#"{"config":{},"layers":[]}"#).unwrap();
        assert_eq!(p.kind(), Some(ManifestKind::OciManifest));
        let p =
            probe(br#"{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json"}"#)
                .unwrap();
        assert_eq!(p.kind(), Some(ManifestKind::DockerManifestList));
        let p = probe(br#"{"mediaType":"text/plain","config":{}}"#).unwrap();
        assert_eq!(p.kind(), None);
        assert!(probe(b"[]").is_err());
    }
}
