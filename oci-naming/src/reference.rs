//! References (`[domain/]path[:tag][@digest]`) as distribution/reference parses them.
//!
//! Strict parsing ([`Dialect::parse`]) and the Docker normalization policy
//! ([`Dialect::parse_normalized`]) are separate steps, as upstream keeps them.

use std::fmt;

use oci_spec_types::{Algorithm, Digest};

use crate::grammar;

/// The longest repository path (upstream `RepositoryNameTotalLengthMax`).
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// The domain that unqualified names belong to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's legacy domain, rewritten to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's single-component names.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag [`Reference::with_default_tag`] adds.
pub const DEFAULT_TAG: &str = "latest";

/// Which implementation's rules to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// github.com/distribution/reference (main): bracketed IPv6 domains; a first
    /// component with an uppercase letter is a domain when normalizing; the 255-character
    /// limit applies to the path.
    #[default]
    Distribution,
    /// The copy of that code inside containers/image 5.23 (what skopeo 1.9 runs): no IPv6
    /// domains; only `localhost` or a first component holding `.` or `:` is a domain when
    /// normalizing (so `Foo/bar` is rejected); the 255-character limit applies to the whole
    /// name, domain included.
    ContainersImage,
}

/// Why a string is not a valid reference. [`Error::identifier`] gives upstream's name
/// for each case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is empty (`ErrNameEmpty`).
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// The input does not fit the grammar (`ErrReferenceInvalidFormat`).
    #[error("invalid reference format: {input:?}")]
    InvalidFormat {
        /// The rejected input.
        input: String,
    },
    /// The input would fit the grammar in lowercase (`ErrNameContainsUppercase`).
    #[error("invalid reference format: repository name in {input:?} must be lowercase")]
    NameContainsUppercase {
        /// The rejected input.
        input: String,
    },
    /// The repository name is too long (`ErrNameTooLong`).
    #[error("repository name {name:?} is {len} characters long, more than {NAME_TOTAL_LENGTH_MAX}")]
    NameTooLong {
        /// The name (or path) that was measured.
        name: String,
        /// Its length.
        len: usize,
    },
    /// The input is not in canonical form (`ErrNameNotCanonical`).
    #[error("repository name {input:?} must be canonical ({canonical:?})")]
    NameNotCanonical {
        /// The input.
        input: String,
        /// Its canonical form.
        canonical: String,
    },
    /// A tag that does not fit the grammar (`ErrTagInvalidFormat`).
    #[error("invalid tag format: {tag:?}")]
    TagInvalidFormat {
        /// The tag.
        tag: String,
    },
    /// A digest that does not fit the grammar, or breaks its algorithm's encoding
    /// (`digest.ErrDigestInvalidFormat`).
    #[error("invalid digest format: {digest:?}")]
    DigestInvalidFormat {
        /// The digest.
        digest: String,
    },
    /// A digest of a registered algorithm with the wrong length
    /// (`digest.ErrDigestInvalidLength`).
    #[error("invalid digest length: {digest:?} ({algorithm} needs {expected} hex characters)")]
    DigestInvalidLength {
        /// The digest.
        digest: String,
        /// Its algorithm.
        algorithm: Algorithm,
        /// The required length of the encoded part.
        expected: usize,
    },
    /// A digest whose algorithm is not registered (`digest.ErrDigestUnsupported`).
    #[error("unsupported digest algorithm: {digest:?}")]
    DigestUnsupported {
        /// The digest.
        digest: String,
    },
    /// Normalization refuses 64-hex names, which read like image IDs.
    #[error("invalid repository name {input:?}: cannot specify 64-byte hexadecimal strings")]
    HexIdentifier {
        /// The input.
        input: String,
    },
    /// Normalization found an uppercase letter in the repository part.
    #[error("invalid reference format: repository name {remote:?} must be lowercase")]
    RemoteNameUppercase {
        /// The repository part.
        remote: String,
    },
}

impl Error {
    /// Upstream's identifier for the error (`ErrReferenceInvalidFormat`,
    /// `digest.ErrDigestUnsupported`, ...), or `None` where upstream builds an ad-hoc
    /// message.
    pub fn identifier(&self) -> Option<&'static str> {
        Some(match self {
            Error::NameEmpty => "ErrNameEmpty",
            Error::InvalidFormat { .. } => "ErrReferenceInvalidFormat",
            Error::NameContainsUppercase { .. } => "ErrNameContainsUppercase",
            Error::NameTooLong { .. } => "ErrNameTooLong",
            Error::NameNotCanonical { .. } => "ErrNameNotCanonical",
            Error::TagInvalidFormat { .. } => "ErrTagInvalidFormat",
            Error::DigestInvalidFormat { .. } => "digest.ErrDigestInvalidFormat",
            Error::DigestInvalidLength { .. } => "digest.ErrDigestInvalidLength",
            Error::DigestUnsupported { .. } => "digest.ErrDigestUnsupported",
            Error::HexIdentifier { .. } | Error::RemoteNameUppercase { .. } => return None,
        })
    }
}

/// A named reference: `[domain/]path[:tag][@digest]`.
///
/// The domain is empty for names without one (strict parsing of `ubuntu`); normalized
/// references always have one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// What [`Dialect::parse_any`] finds: a bare digest or a named reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyReference {
    /// A digest alone (or a 64-hex identifier, read as sha256).
    Digest(Digest),
    /// A normalized named reference.
    Named(Reference),
}

impl fmt::Display for AnyReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyReference::Digest(d) => f.write_str(d.as_str()),
            AnyReference::Named(r) => r.fmt(f),
        }
    }
}

impl AnyReference {
    /// The familiar form (see [`Reference::familiar`]); a digest stays as it is.
    pub fn familiar_string(&self) -> String {
        match self {
            AnyReference::Digest(d) => d.as_str().to_owned(),
            AnyReference::Named(r) => r.familiar().to_string(),
        }
    }
}

/// Validates a digest as go-digest does, with the image-spec's registered algorithms
/// (sha256, sha512, blake3).
pub fn parse_digest(s: &str) -> Result<Digest, Error> {
    let invalid = || Error::DigestInvalidFormat {
        digest: s.to_owned(),
    };
    let Some((algorithm, encoded)) = s.split_once(':') else {
        return Err(invalid());
    };
    if algorithm.is_empty() || encoded.is_empty() {
        return Err(invalid());
    }
    match Algorithm::from_name(algorithm) {
        Some(a) => {
            if encoded.len() != a.encoded_len() {
                return Err(Error::DigestInvalidLength {
                    digest: s.to_owned(),
                    algorithm: a,
                    expected: a.encoded_len(),
                });
            }
            Digest::parse(s).map_err(|_| invalid())
        }
        None => match Digest::parse(s) {
            Ok(_) => Err(Error::DigestUnsupported {
                digest: s.to_owned(),
            }),
            Err(_) => Err(invalid()),
        },
    }
}

impl Dialect {
    /// Strict parsing (upstream `Parse`): no normalization; the domain is whatever fits the
    /// grammar as a leading `host[:port]/`.
    pub fn parse(self, s: &str) -> Result<Reference, Error> {
        if s.is_empty() {
            return Err(Error::NameEmpty);
        }
        let Some(m) = grammar::match_reference(s, self) else {
            let lower = s.to_lowercase();
            if lower != s && grammar::match_reference(&lower, self).is_some() {
                return Err(Error::NameContainsUppercase {
                    input: s.to_owned(),
                });
            }
            return Err(Error::InvalidFormat {
                input: s.to_owned(),
            });
        };
        let (domain, path) =
            grammar::split_name(m.name, self).expect("match_reference checked the name");
        let measured = match self {
            Dialect::Distribution => path,
            Dialect::ContainersImage => m.name,
        };
        if measured.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(Error::NameTooLong {
                name: measured.to_owned(),
                len: measured.len(),
            });
        }
        let digest = match m.digest {
            Some(d) => Some(parse_digest(d)?.into_string()),
            None => None,
        };
        Ok(Reference {
            domain: domain.unwrap_or_default().to_owned(),
            path: path.to_owned(),
            tag: m.tag.map(str::to_owned),
            digest,
        })
    }

    /// Docker-style normalization (upstream `ParseNormalizedNamed`): adds `docker.io`,
    /// `library/` for single-component Docker Hub names, rewrites `index.docker.io`, and
    /// refuses 64-hex names. No tag is added (see [`Reference::with_default_tag`]).
    pub fn parse_normalized(self, s: &str) -> Result<Reference, Error> {
        if grammar::is_identifier(s) {
            return Err(Error::HexIdentifier {
                input: s.to_owned(),
            });
        }
        let (domain, remainder) = self.split_docker_domain(s);
        let remote = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(r, _)| r);
        if remote.to_lowercase() != remote {
            return Err(Error::RemoteNameUppercase {
                remote: remote.to_owned(),
            });
        }
        // Errors name what the user typed, not the expanded form.
        self.parse(&format!("{domain}/{remainder}"))
            .map_err(|e| match e {
                Error::InvalidFormat { .. } => Error::InvalidFormat {
                    input: s.to_owned(),
                },
                Error::NameContainsUppercase { .. } => Error::NameContainsUppercase {
                    input: s.to_owned(),
                },
                other => other,
            })
    }

    /// Canonical names only (upstream `ParseNamed`): the input must equal its normalized
    /// form.
    pub fn parse_canonical(self, s: &str) -> Result<Reference, Error> {
        let named = self.parse_normalized(s)?;
        let canonical = named.to_string();
        if canonical != s {
            return Err(Error::NameNotCanonical {
                input: s.to_owned(),
                canonical,
            });
        }
        Ok(named)
    }

    /// A 64-hex identifier (read as sha256), a digest, or a normalized name (upstream
    /// `ParseAnyReference`).
    pub fn parse_any(self, s: &str) -> Result<AnyReference, Error> {
        if grammar::is_identifier(s) {
            let d = Digest::parse(&format!("sha256:{s}")).expect("64 lowercase hex is sha256");
            return Ok(AnyReference::Digest(d));
        }
        if let Ok(d) = parse_digest(s) {
            return Ok(AnyReference::Digest(d));
        }
        self.parse_normalized(s).map(AnyReference::Named)
    }

    /// Docker's convention (upstream `ParseDockerRef`): normalized, `:latest` added to bare
    /// names, and the tag dropped when a digest is present.
    pub fn parse_docker(self, s: &str) -> Result<Reference, Error> {
        let mut named = self.parse_normalized(s)?;
        if named.digest.is_some() {
            named.tag = None;
            Ok(named)
        } else {
            Ok(named.with_default_tag())
        }
    }

    /// A name without tag or digest (upstream `WithName`).
    pub fn with_name(self, name: &str) -> Result<Reference, Error> {
        if self == Dialect::ContainersImage && name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(Error::NameTooLong {
                name: name.to_owned(),
                len: name.len(),
            });
        }
        let Some((domain, path)) = grammar::split_name(name, self) else {
            return Err(Error::InvalidFormat {
                input: name.to_owned(),
            });
        };
        if path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(Error::NameTooLong {
                name: path.to_owned(),
                len: path.len(),
            });
        }
        Ok(Reference {
            domain: domain.unwrap_or_default().to_owned(),
            path: path.to_owned(),
            tag: None,
            digest: None,
        })
    }

    fn split_docker_domain(self, name: &str) -> (String, String) {
        let (mut domain, mut remote) = match name.split_once('/') {
            None => (DEFAULT_DOMAIN, name.to_owned()),
            Some((first, rest)) => {
                let is_domain = first == "localhost"
                    || first == LEGACY_DEFAULT_DOMAIN
                    || first.contains(['.', ':'])
                    || (self == Dialect::Distribution && first.to_lowercase() != first);
                if is_domain {
                    (first, rest.to_owned())
                } else {
                    (DEFAULT_DOMAIN, name.to_owned())
                }
            }
        };
        if domain == LEGACY_DEFAULT_DOMAIN {
            domain = DEFAULT_DOMAIN;
        }
        if domain == DEFAULT_DOMAIN && !remote.contains('/') {
            remote.insert_str(0, OFFICIAL_REPO_PREFIX);
        }
        (domain.to_owned(), remote)
    }
}

impl Reference {
    /// Strict parsing with [`Dialect::Distribution`].
    pub fn parse(s: &str) -> Result<Reference, Error> {
        Dialect::Distribution.parse(s)
    }

    /// Normalizing parse with [`Dialect::Distribution`].
    pub fn parse_normalized(s: &str) -> Result<Reference, Error> {
        Dialect::Distribution.parse_normalized(s)
    }

    /// The domain (`host[:port]`), empty when the name has none.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path, after the domain.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The name: `domain/path`, or the path alone when there is no domain.
    pub fn name(&self) -> String {
        if self.domain.is_empty() {
            self.path.clone()
        } else {
            format!("{}/{}", self.domain, self.path)
        }
    }

    /// The same name without tag and digest.
    pub fn trim(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// True when there is neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// Adds `:latest` when there is neither tag nor digest (upstream `TagNameOnly`).
    pub fn with_default_tag(mut self) -> Reference {
        if self.is_name_only() {
            self.tag = Some(DEFAULT_TAG.to_owned());
        }
        self
    }

    /// Replaces the tag, keeping any digest (upstream `WithTag`).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, Error> {
        if !grammar::is_tag(tag) {
            return Err(Error::TagInvalidFormat {
                tag: tag.to_owned(),
            });
        }
        Ok(Reference {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// Replaces the digest, keeping any tag (upstream `WithDigest`). Like upstream, this
    /// checks only the reference grammar's loose digest pattern; use [`parse_digest`] first
    /// to hold a digest to the registered algorithms' rules.
    pub fn with_digest(&self, digest: &str) -> Result<Reference, Error> {
        if !grammar::is_digest_pattern(digest) {
            return Err(Error::DigestInvalidFormat {
                digest: digest.to_owned(),
            });
        }
        Ok(Reference {
            digest: Some(digest.to_owned()),
            ..self.clone()
        })
    }

    /// The familiar (short) form: `docker.io` removed, and `library/` removed from
    /// single-component Docker Hub names.
    pub fn familiar(&self) -> Reference {
        let mut out = self.clone();
        if out.domain == DEFAULT_DOMAIN {
            out.domain.clear();
            if let Some(rest) = out.path.strip_prefix(OFFICIAL_REPO_PREFIX)
                && !rest.contains('/')
            {
                out.path = rest.to_owned();
            }
        }
        out
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.domain.is_empty() {
            write!(f, "{}/", self.domain)?;
        }
        f.write_str(&self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// The pattern given to [`familiar_match`] is malformed (Go's `path.ErrBadPattern`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern {pattern:?}")]
pub struct BadPattern {
    /// The pattern.
    pub pattern: String,
}

/// Matches a shell glob (Go's `path.Match`) against the familiar form of a reference,
/// then against its familiar name without tag and digest (upstream `FamiliarMatch`).
pub fn familiar_match(pattern: &str, reference: &AnyReference) -> Result<bool, BadPattern> {
    let bad = || BadPattern {
        pattern: pattern.to_owned(),
    };
    let first = crate::glob::path_match(pattern, &reference.familiar_string());
    let matched = match (&first, reference) {
        (Ok(true), _) => true,
        (_, AnyReference::Named(r)) => {
            crate::glob::path_match(pattern, &r.familiar().name()).unwrap_or(false)
        }
        _ => false,
    };
    first.map_err(|_| bad())?;
    Ok(matched)
}
