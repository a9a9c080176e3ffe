//! Media types: an open vocabulary (a string newtype), with the constants the
//! image-spec and Docker define and the RFC 6838 section 4.2 naming check (D4).

use std::fmt;

/// A media type such as `application/vnd.oci.image.manifest.v1+json`.
///
/// Any string is held as it was given, so that unknown values survive a round trip
/// (M9, M21, I11); [`MediaType::check`] says whether it follows RFC 6838.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct MediaType(pub String);

/// `application/vnd.oci.descriptor.v1+json`
pub const DESCRIPTOR: &str = "application/vnd.oci.descriptor.v1+json";
/// `application/vnd.oci.layout.header.v1+json`
pub const LAYOUT_HEADER: &str = "application/vnd.oci.layout.header.v1+json";
/// `application/vnd.oci.image.index.v1+json`
pub const IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.oci.image.manifest.v1+json`
pub const IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.config.v1+json`
pub const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// `application/vnd.oci.image.layer.v1.tar`
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// `application/vnd.oci.image.layer.v1.tar+gzip`
pub const LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// `application/vnd.oci.image.layer.v1.tar+zstd`
pub const LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// `application/vnd.oci.image.layer.nondistributable.v1.tar` (deprecated, Y19)
pub const LAYER_NONDISTRIBUTABLE_TAR: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// `application/vnd.oci.image.layer.nondistributable.v1.tar+gzip` (deprecated, Y19)
pub const LAYER_NONDISTRIBUTABLE_TAR_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// `application/vnd.oci.image.layer.nondistributable.v1.tar+zstd` (deprecated, Y19)
pub const LAYER_NONDISTRIBUTABLE_TAR_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
/// `application/vnd.oci.empty.v1+json`: the empty descriptor's type (M28).
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Docker v2.2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker v2.2 manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker container config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer (interchangeable with [`LAYER_TAR_GZIP`], T5).
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer (distribution's `schema2.MediaTypeUncompressedLayer`,
/// interchangeable with [`LAYER_TAR`] as containers/image treats it).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker foreign (non-distributable) gzip layer.
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Every layer media type of the OCI image-spec.
pub const OCI_LAYER_TYPES: [&str; 6] = [
    LAYER_TAR,
    LAYER_TAR_GZIP,
    LAYER_TAR_ZSTD,
    LAYER_NONDISTRIBUTABLE_TAR,
    LAYER_NONDISTRIBUTABLE_TAR_GZIP,
    LAYER_NONDISTRIBUTABLE_TAR_ZSTD,
];

/// How a layer's tar stream is compressed, as its media type says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// A plain tar.
    None,
    /// RFC 1952 gzip.
    Gzip,
    /// RFC 8478 zstd.
    Zstd,
}

/// Why a string is not an RFC 6838 section 4.2 media type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("media type {input:?} does not follow RFC 6838 section 4.2: {reason}")]
pub struct Error {
    /// The whole input.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl MediaType {
    /// Wraps a string.
    pub fn new(s: impl Into<String>) -> MediaType {
        MediaType(s.into())
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks RFC 6838 section 4.2: `type "/" subtype`, each 1-127 characters, the first
    /// alphanumeric and the rest from `A-Za-z0-9!#$&^_.+-`. No parameters (the image-spec
    /// schema has none).
    pub fn check(s: &str) -> Result<(), Error> {
        let fail = |reason| {
            Err(Error {
                input: s.to_owned(),
                reason,
            })
        };
        let Some((kind, subtype)) = s.split_once('/') else {
            return fail("missing '/' between type and subtype");
        };
        for (part, what) in [(kind, "type"), (subtype, "subtype")] {
            let bytes = part.as_bytes();
            if bytes.is_empty() {
                return fail(if what == "type" {
                    "empty type"
                } else {
                    "empty subtype"
                });
            }
            if bytes.len() > 127 {
                return fail("type and subtype are at most 127 characters each");
            }
            if !bytes[0].is_ascii_alphanumeric() {
                return fail("type and subtype must start with a letter or digit");
            }
            if !bytes[1..]
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
            {
                return fail("type and subtype may hold only A-Za-z0-9 and !#$&^_.+-");
            }
        }
        Ok(())
    }

    /// Whether this is an OCI or Docker image manifest type.
    pub fn is_manifest(&self) -> bool {
        matches!(self.as_str(), IMAGE_MANIFEST | DOCKER_MANIFEST)
    }

    /// Whether this is an OCI index or Docker manifest list type.
    pub fn is_index(&self) -> bool {
        matches!(self.as_str(), IMAGE_INDEX | DOCKER_MANIFEST_LIST)
    }

    /// Whether this is a known layer type: an OCI layer type or a Docker gzip layer type.
    pub fn is_layer(&self) -> bool {
        self.layer_compression().is_some()
    }

    /// Whether this is a non-distributable layer type: the deprecated OCI
    /// `nondistributable` types (Y19, Y20) or the Docker foreign layer.
    pub fn is_nondistributable_layer(&self) -> bool {
        matches!(
            self.as_str(),
            LAYER_NONDISTRIBUTABLE_TAR
                | LAYER_NONDISTRIBUTABLE_TAR_GZIP
                | LAYER_NONDISTRIBUTABLE_TAR_ZSTD
                | DOCKER_FOREIGN_LAYER_GZIP
        )
    }

    /// Whether this is the OCI image config type or the Docker container config type,
    /// whose content is an image config (M10, T5).
    pub fn is_image_config(&self) -> bool {
        matches!(self.as_str(), IMAGE_CONFIG | DOCKER_CONFIG)
    }

    /// The compression of a known layer type, `None` when this is not a known layer type.
    pub fn layer_compression(&self) -> Option<Compression> {
        match self.as_str() {
            LAYER_TAR | LAYER_NONDISTRIBUTABLE_TAR | DOCKER_LAYER_TAR => Some(Compression::None),
            LAYER_TAR_GZIP
            | LAYER_NONDISTRIBUTABLE_TAR_GZIP
            | DOCKER_LAYER_GZIP
            | DOCKER_FOREIGN_LAYER_GZIP => Some(Compression::Gzip),
            LAYER_TAR_ZSTD | LAYER_NONDISTRIBUTABLE_TAR_ZSTD => Some(Compression::Zstd),
            _ => None,
        }
    }
}

impl From<&str> for MediaType {
    fn from(s: &str) -> Self {
        MediaType(s.to_owned())
    }
}

impl From<String> for MediaType {
    fn from(s: String) -> Self {
        MediaType(s)
    }
}

impl PartialEq<str> for MediaType {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for MediaType {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl AsRef<str> for MediaType {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaType({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6838() {
        for ok in [
            IMAGE_MANIFEST,
            "text/plain",
            "application/x.y+z",
            "a/b",
            "application/vnd.a#b$c&d^e_f",
        ] {
            assert_eq!(MediaType::check(ok), Ok(()), "{ok}");
        }
        let long = format!("application/{}", "a".repeat(128));
        for bad in [
            "",
            "application",
            "/json",
            "application/",
            "-a/b",
            "a/.b",
            "a/b c",
            "a/b;charset=utf-8",
            &long,
        ] {
            assert!(MediaType::check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_values_are_kept() {
        let mt: MediaType =
            serde_json::from_str(r#""application/vnd.example.thing+json""#).unwrap();
        assert_eq!(
            serde_json::to_string(&mt).unwrap(),
            r#""application/vnd.example.thing+json""#
        );
        assert_eq!(mt.layer_compression(), None);
        assert!(!mt.is_layer());
    }

    #[test]
    fn predicates() {
        for layer in OCI_LAYER_TYPES
            .into_iter()
            .chain([DOCKER_LAYER_GZIP, DOCKER_FOREIGN_LAYER_GZIP])
        {
            assert!(MediaType::from(layer).is_layer(), "{layer}");
        }
        let foreign: Vec<_> = OCI_LAYER_TYPES
            .into_iter()
            .chain([DOCKER_LAYER_GZIP, DOCKER_FOREIGN_LAYER_GZIP])
            .filter(|t| MediaType::from(*t).is_nondistributable_layer())
            .collect();
        assert_eq!(
            foreign,
            [
                LAYER_NONDISTRIBUTABLE_TAR,
                LAYER_NONDISTRIBUTABLE_TAR_GZIP,
                LAYER_NONDISTRIBUTABLE_TAR_ZSTD,
                DOCKER_FOREIGN_LAYER_GZIP
            ]
        );
        assert!(MediaType::from(DOCKER_CONFIG).is_image_config());
        assert!(!MediaType::from(EMPTY).is_image_config());
        assert!(!MediaType::from(IMAGE_CONFIG).is_layer());
    }
}
