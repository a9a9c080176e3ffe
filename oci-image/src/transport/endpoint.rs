//! Copy endpoints as skopeo spells them: `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`,
//! `docker-archive:FILE[:NAME:TAG]`, `docker://HOST/REPO[:TAG|@DIGEST]`,
//! `discover:HOST/PATH[#FRAGMENT]`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::name::{ImageName, NameError, Reference};

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `oci:DIR[:REF]`: an image in an OCI layout.
    Oci(ImageName),
    /// `oci-archive:FILE[:REF]`: an image in a tar of an OCI layout.
    OciArchive {
        /// The archive.
        file: PathBuf,
        /// The entry of the archive's `index.json`; `None` when it holds one image (as a
        /// source) or for an untagged entry (as a destination).
        reference: Option<Reference>,
    },
    /// `docker-archive:FILE[:NAME:TAG]`: the `docker save` format.
    DockerArchive {
        /// The archive.
        file: PathBuf,
        /// `NAME:TAG`, everything after the first `:` (one of the archive's `RepoTags`).
        name: Option<String>,
    },
    /// `discover:HOST/PATH[#FRAGMENT]`: a name found through DNS-federated discovery
    /// (a source only).
    Discover(String),
    /// `docker://HOST/REPO[:TAG|@DIGEST]`: an image in a registry, the name normalized as
    /// Docker does (`docker://alpine` is `docker.io/library/alpine:latest`): a tag or a
    /// digest, never both.
    Docker(oci_naming::Reference),
}

/// The transports [`Endpoint::parse`] knows, with their prefix.
pub const TRANSPORTS: [&str; 5] = [
    "oci:",
    "oci-archive:",
    "docker-archive:",
    "docker:",
    "discover:",
];

/// Why a string is not a copy endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// No known transport prefix.
    #[error(
        "{input:?} has no known transport: expected one of oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG], docker://HOST/REPO[:TAG|@DIGEST], discover:HOST/PATH[#FRAGMENT]"
    )]
    UnknownTransport {
        /// The whole input.
        input: String,
    },
    /// Nothing after the transport prefix.
    #[error("{input:?} names no file, directory or name after the transport")]
    Empty {
        /// The whole input.
        input: String,
    },
    /// An `oci:` name that is not `DIR[:REF]`.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A `:` with nothing after it.
    #[error("{input:?} has an empty reference after ':'")]
    EmptyReference {
        /// The whole input.
        input: String,
    },
    /// `docker:` not followed by `//`.
    #[error("{input:?}: a registry image is spelled docker://HOST/REPO[:TAG|@DIGEST]")]
    DockerSlashes {
        /// The whole input.
        input: String,
    },
    /// A `docker://` name that is not a valid reference.
    #[error("{input:?} is not a valid registry reference")]
    Reference {
        /// The whole input.
        input: String,
        /// What the reference grammar found.
        #[source]
        source: Box<oci_naming::Error>,
    },
    /// A `docker://` name with both a tag and a digest.
    #[error("{input:?} has both a tag and a digest: give one")]
    TagAndDigest {
        /// The whole input.
        input: String,
    },
}

impl Endpoint {
    /// Parses `TRANSPORT:REST`. The part after the transport splits at its first `:`
    /// (FILE or DIR before it); for `docker-archive:` everything after that `:` is the
    /// `NAME:TAG`.
    pub fn parse(input: &str) -> Result<Endpoint, EndpointError> {
        let Some((transport, rest)) = input.split_once(':') else {
            return Err(EndpointError::UnknownTransport {
                input: input.to_owned(),
            });
        };
        if rest.is_empty() {
            return Err(EndpointError::Empty {
                input: input.to_owned(),
            });
        }
        let split = |rest: &str| -> Result<(PathBuf, Option<String>), EndpointError> {
            let (file, after) = match rest.split_once(':') {
                Some((file, after)) => (file, Some(after)),
                None => (rest, None),
            };
            if file.is_empty() {
                return Err(EndpointError::Empty {
                    input: input.to_owned(),
                });
            }
            if after == Some("") {
                return Err(EndpointError::EmptyReference {
                    input: input.to_owned(),
                });
            }
            Ok((PathBuf::from(file), after.map(str::to_owned)))
        };
        match transport {
            "oci" => Ok(Endpoint::Oci(ImageName::parse(rest)?)),
            "oci-archive" => {
                let (file, reference) = split(rest)?;
                Ok(Endpoint::OciArchive {
                    file,
                    reference: reference.as_deref().and_then(Reference::parse),
                })
            }
            "docker-archive" => {
                let (file, name) = split(rest)?;
                Ok(Endpoint::DockerArchive { file, name })
            }
            "discover" => Ok(Endpoint::Discover(rest.to_owned())),
            "docker" => parse_docker(input, rest).map(Endpoint::Docker),
            _ => Err(EndpointError::UnknownTransport {
                input: input.to_owned(),
            }),
        }
    }

    /// Parses an image name as commands that read images take it: a transport name as
    /// [`parse`](Self::parse) does, or a bare `DIR[:REF]` (the layout shorthand) when the
    /// part before the first `:` is no transport.
    pub fn parse_image(input: &str) -> Result<Endpoint, EndpointError> {
        let transport = input.split_once(':').map(|(t, _)| t);
        match transport {
            Some(t) if TRANSPORTS.iter().any(|p| p.strip_suffix(':') == Some(t)) => {
                Endpoint::parse(input)
            }
            _ => Ok(Endpoint::Oci(ImageName::parse(input)?)),
        }
    }

    /// The format a copy from `self` to `destination` writes when none is asked for:
    /// Docker into a `docker-archive:`, OCI from a `docker-archive:` into anything else
    /// (as skopeo does), otherwise `None` (the source's format is kept).
    pub fn default_format(&self, destination: &Endpoint) -> Option<crate::copy::Format> {
        match (self, destination) {
            (_, Endpoint::DockerArchive { .. }) => Some(crate::copy::Format::Docker),
            (Endpoint::DockerArchive { .. }, _) => Some(crate::copy::Format::Oci),
            _ => None,
        }
    }
}

/// `docker://REST`: normalized as containers/image's docker transport does (Docker's
/// defaults, `:latest` on a bare name), refusing a tag together with a digest.
fn parse_docker(input: &str, rest: &str) -> Result<oci_naming::Reference, EndpointError> {
    let Some(name) = rest.strip_prefix("//") else {
        return Err(EndpointError::DockerSlashes {
            input: input.to_owned(),
        });
    };
    if name.is_empty() {
        return Err(EndpointError::Empty {
            input: input.to_owned(),
        });
    }
    let reference = oci_naming::Dialect::ContainersImage
        .parse_normalized(name)
        .map_err(|source| EndpointError::Reference {
            input: input.to_owned(),
            source: Box::new(source),
        })?;
    if reference.tag().is_some() && reference.digest().is_some() {
        return Err(EndpointError::TagAndDigest {
            input: input.to_owned(),
        });
    }
    Ok(reference.with_default_tag())
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(s)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Oci(name) => write!(f, "oci:{name}"),
            Endpoint::OciArchive { file, reference } => {
                write!(f, "oci-archive:{}", file.display())?;
                match reference {
                    Some(r) => write!(f, ":{r}"),
                    None => Ok(()),
                }
            }
            Endpoint::DockerArchive { file, name } => {
                write!(f, "docker-archive:{}", file.display())?;
                match name {
                    Some(n) => write!(f, ":{n}"),
                    None => Ok(()),
                }
            }
            Endpoint::Discover(name) => write!(f, "discover:{name}"),
            Endpoint::Docker(reference) => write!(f, "docker://{reference}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_at_the_first_colon() {
        assert_eq!(
            Endpoint::parse("oci:dir:v1:2").unwrap(),
            Endpoint::Oci(ImageName {
                dir: "dir".into(),
                reference: Some(Reference::Tag("v1:2".into()))
            })
        );
        assert_eq!(
            Endpoint::parse("docker-archive:f.tar:docker.io/library/x:1").unwrap(),
            Endpoint::DockerArchive {
                file: "f.tar".into(),
                name: Some("docker.io/library/x:1".into())
            }
        );
        assert_eq!(
            Endpoint::parse("oci-archive:a.tar").unwrap(),
            Endpoint::OciArchive {
                file: "a.tar".into(),
                reference: None
            }
        );
        assert_eq!(
            Endpoint::parse("discover:example.com/a#x").unwrap(),
            Endpoint::Discover("example.com/a#x".into())
        );
        for bad in [
            "dir",
            "docker:x",
            "docker://",
            "docker://Upper/x",
            "docker://x:1@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "oci:",
            "oci-archive::t",
            "oci-archive:a:",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        for good in ["oci:d:t", "oci-archive:a.tar:t", "docker-archive:f:n:t"] {
            assert_eq!(Endpoint::parse(good).unwrap().to_string(), good);
        }
    }

    #[test]
    fn a_bare_dir_is_the_layout_shorthand() {
        assert_eq!(
            Endpoint::parse_image("dir:v1").unwrap(),
            Endpoint::parse("oci:dir:v1").unwrap()
        );
        assert_eq!(
            Endpoint::parse_image("dir").unwrap(),
            Endpoint::parse("oci:dir").unwrap()
        );
        assert_eq!(
            Endpoint::parse_image("oci-archive:a.tar:t").unwrap(),
            Endpoint::parse("oci-archive:a.tar:t").unwrap()
        );
        assert!(Endpoint::parse_image("").is_err());
    }

    #[test]
    fn docker_names_are_normalized_as_docker_does() {
        for (input, expected) in [
            (
                "docker://alpine",
                "docker://docker.io/library/alpine:latest",
            ),
            ("docker://alpine:3", "docker://docker.io/library/alpine:3"),
            (
                "docker://127.0.0.1:5000/a/b:v1",
                "docker://127.0.0.1:5000/a/b:v1",
            ),
            ("docker://localhost/x", "docker://localhost/x:latest"),
            (
                "docker://quay.io/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "docker://quay.io/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ),
        ] {
            let endpoint = Endpoint::parse_image(input).unwrap();
            assert!(matches!(endpoint, Endpoint::Docker(_)), "{input}");
            assert_eq!(endpoint.to_string(), expected, "{input}");
        }
    }
}
