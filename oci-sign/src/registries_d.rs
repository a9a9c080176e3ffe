//! containers-registries.d(5): where an image's lookaside signatures are, and the
//! lookaside directory layout (`<repo>@<alg>=<hex>/signature-N`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_naming::Reference;

use crate::framing::{MAX_SIGNATURE_SIZE, MAX_SIGNATURES};
use crate::manifest::parse_strict_digest;
use crate::policy::{SignatureSource, SourceError};

/// One section of a registries.d file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Section {
    /// `lookaside`: where signatures are read (a `file://`, `http://` or `https://` URL).
    pub lookaside: Option<String>,
    /// `lookaside-staging`: where signatures are written (a `file://` URL).
    pub lookaside_staging: Option<String>,
    /// The deprecated spelling of `lookaside`.
    pub sigstore: Option<String>,
    /// The deprecated spelling of `lookaside-staging`.
    pub sigstore_staging: Option<String>,
    /// `use-sigstore-attachments`: read and write cosign `sha256-<hex>.sig` attachments.
    pub use_sigstore_attachments: Option<bool>,
}

impl Section {
    /// The lookaside URL to read from.
    pub fn read_url(&self) -> Option<&str> {
        self.lookaside.as_deref().or(self.sigstore.as_deref())
    }

    /// The lookaside URL to write to: the staging URL, else the read URL.
    pub fn write_url(&self) -> Option<&str> {
        self.lookaside_staging
            .as_deref()
            .or(self.sigstore_staging.as_deref())
            .or(self.read_url())
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    default_docker: Option<Section>,
    docker: Option<BTreeMap<String, Section>>,
}

/// The merged configuration of a registries.d directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesD {
    /// `default-docker`.
    pub default_docker: Option<Section>,
    /// `docker`: scope to section.
    pub docker: BTreeMap<String, Section>,
}

/// Why registries.d cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistriesDError {
    /// A file or the directory cannot be read.
    #[error("cannot read {path}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML of the expected shape.
    #[error("invalid registries.d file {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// Two files configure the same scope, or both `default-docker`.
    #[error("{what} is configured in more than one file ({path})")]
    Duplicate {
        /// The scope (or `default-docker`).
        what: String,
        /// The second file.
        path: PathBuf,
    },
}

impl RegistriesD {
    /// Parses one file's YAML.
    pub fn parse(yaml: &str, path: &Path) -> Result<RegistriesD, RegistriesDError> {
        let f: File = serde_yaml_ng::from_str(yaml).map_err(|source| RegistriesDError::Parse {
            path: path.to_owned(),
            source,
        })?;
        Ok(RegistriesD {
            default_docker: f.default_docker,
            docker: f.docker.unwrap_or_default(),
        })
    }

    /// Reads every `*.yaml` file of a directory, in name order.
    pub fn from_dir(dir: &Path) -> Result<RegistriesD, RegistriesDError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| RegistriesDError::Io { path, source }
        };
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io(dir))?;
        names.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
        names.sort();
        let mut out = RegistriesD::default();
        for path in names {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let one = RegistriesD::parse(&text, &path)?;
            if let Some(d) = one.default_docker {
                if out.default_docker.is_some() {
                    return Err(RegistriesDError::Duplicate {
                        what: "default-docker".to_owned(),
                        path,
                    });
                }
                out.default_docker = Some(d);
            }
            for (scope, section) in one.docker {
                if out.docker.contains_key(&scope) {
                    return Err(RegistriesDError::Duplicate { what: scope, path });
                }
                out.docker.insert(scope, section);
            }
        }
        Ok(out)
    }

    /// The most specific section for a reference (full reference, repository,
    /// namespaces, host), else `default-docker`. Sections are not merged.
    pub fn section_for(&self, reference: &Reference) -> Option<&Section> {
        let mut candidates = vec![reference.to_string()];
        let name = reference.name();
        let mut cur = name.as_str();
        candidates.push(cur.to_owned());
        while let Some(i) = cur.rfind('/') {
            cur = &cur[..i];
            candidates.push(cur.to_owned());
        }
        candidates
            .iter()
            .find_map(|c| self.docker.get(c))
            .or(self.default_docker.as_ref())
    }
}

/// The directory of a lookaside signature: `<base>/<path>@<alg>=<hex>`, where `<path>`
/// is the repository path without the host. The digest is validated strictly first
/// (CVE-2024-3727), so nothing from outside reaches the path unchecked.
pub fn lookaside_dir(
    base: &Path,
    reference: &Reference,
    digest: &str,
) -> Result<PathBuf, crate::ManifestError> {
    let d = parse_strict_digest(digest)?;
    Ok(base.join(format!(
        "{}@{}={}",
        reference.path(),
        d.algorithm_name(),
        d.encoded()
    )))
}

/// The file of the `n`th (1-based) lookaside signature.
pub fn lookaside_path(
    base: &Path,
    reference: &Reference,
    digest: &str,
    n: usize,
) -> Result<PathBuf, crate::ManifestError> {
    Ok(lookaside_dir(base, reference, digest)?.join(format!("signature-{n}")))
}

/// A local path from a `file://` lookaside URL.
pub fn file_url_path(url: &str) -> Option<PathBuf> {
    url.strip_prefix("file://")
        .filter(|p| p.starts_with('/'))
        .map(PathBuf::from)
}

/// The signatures in a lookaside directory for one manifest, read until the first
/// missing index, bounded in count ([`MAX_SIGNATURES`]) and size ([`MAX_SIGNATURE_SIZE`]).
#[derive(Debug, Clone)]
pub struct Lookaside {
    /// The signature directory (from [`lookaside_dir`]).
    pub dir: PathBuf,
}

impl SignatureSource for Lookaside {
    fn signatures(&self) -> Result<Vec<Vec<u8>>, SourceError> {
        use std::io::Read as _;
        let mut out = Vec::new();
        for n in 1.. {
            let path = self.dir.join(format!("signature-{n}"));
            let file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => {
                    return Err(SourceError::Io {
                        path,
                        source: std::sync::Arc::new(e),
                    });
                }
            };
            if n > MAX_SIGNATURES {
                return Err(SourceError::Limit {
                    path,
                    reason: "more than 1000 signatures",
                });
            }
            let mut blob = Vec::new();
            file.take(MAX_SIGNATURE_SIZE as u64 + 1)
                .read_to_end(&mut blob)
                .map_err(|e| SourceError::Io {
                    path: path.clone(),
                    source: std::sync::Arc::new(e),
                })?;
            if blob.len() > MAX_SIGNATURE_SIZE {
                return Err(SourceError::Limit {
                    path,
                    reason: "a signature over 4 MiB",
                });
            }
            out.push(blob);
        }
        Ok(out)
    }
}
