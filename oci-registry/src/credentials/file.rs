//! auth.json (`containers-auth.json(5)`), Docker's `config.json` and the legacy
//! `~/.dockercfg`: strict parsing, and the lookup of one registry and repository.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::Credential;

/// Which shape a credentials file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFileFormat {
    /// `{"auths": {KEY: {"auth", "identitytoken"}}, "credHelpers", "credsStore"}`: auth.json
    /// and Docker's `config.json`.
    Auths,
    /// `{KEY: {"auth"}}`: the legacy `~/.dockercfg`, keyed by registry only.
    Legacy,
}

/// Why a credentials file could not be used. Each variant names the file; a bad entry
/// also names its key.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    /// The file exists but cannot be read.
    #[error("cannot read credentials file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is not JSON of the expected shape.
    #[error("credentials file {}: invalid at {pointer}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where in the document (`auths.quay.io.auth`, `.` for the top).
        pointer: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// An entry's `auth` is not base64 of `user:password`.
    #[error("credentials file {}: auths entry {key:?}: {problem}", path.display())]
    BadEntry {
        /// The file.
        path: PathBuf,
        /// The entry's key.
        key: String,
        /// What is wrong.
        problem: &'static str,
    },
}

/// What a credentials file says about one registry and repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileMatch {
    /// The file holds a credential (an `auths` entry).
    Credential {
        /// The key of the entry that matched.
        key: String,
        /// The credential.
        credential: Credential,
    },
    /// A credential helper is to be asked (`credHelpers` for the registry, or
    /// `credsStore`).
    Helper {
        /// The helper's name (after `docker-credential-`).
        name: String,
        /// The server to ask it about.
        server: String,
    },
    /// Nothing for this registry here.
    Nothing,
}

/// One parsed credentials file.
///
/// ```
/// use oci_registry::credentials::{AuthFile, Credential, FileMatch};
///
/// let json = br#"{"auths": {"quay.io": {"auth": "YW5uOnNlY3JldA=="}}}"#;
/// let file = AuthFile::parse(json, "auth.json".as_ref()).unwrap();
/// let FileMatch::Credential { key, credential } = file.find("quay.io", "ns/app") else {
///     panic!("no match");
/// };
/// assert_eq!(key, "quay.io");
/// assert_eq!(
///     credential,
///     Credential::Basic { username: "ann".into(), password: "secret".into() }
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFile {
    path: PathBuf,
    format: AuthFileFormat,
    /// Every `auths` entry; `None` for an empty one (a helper's marker).
    pub(super) auths: BTreeMap<String, Option<Credential>>,
    pub(super) cred_helpers: BTreeMap<String, String>,
    creds_store: Option<String>,
}

#[derive(serde::Deserialize)]
struct RawFile {
    #[serde(default)]
    auths: Option<BTreeMap<String, RawEntry>>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(serde::Deserialize)]
struct RawEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The host names that mean Docker Hub.
fn normalize_registry(registry: &str) -> &str {
    match registry {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

/// The registry an `auths` key names, as containers/image normalizes keys written as
/// URLs (`https://index.docker.io/v1/` is `docker.io`).
fn normalize_key(key: &str, format: AuthFileFormat) -> &str {
    let stripped = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    let host = if format == AuthFileFormat::Legacy || stripped.len() != key.len() {
        stripped.split('/').next().unwrap_or(stripped)
    } else {
        stripped
    };
    normalize_registry(host)
}

/// The server a `credsStore` helper is asked about, as Docker asks it.
fn store_server(registry: &str) -> String {
    if registry == "docker.io" {
        "https://index.docker.io/v1/".to_owned()
    } else {
        registry.to_owned()
    }
}

impl AuthFile {
    /// Parses `bytes` as a file of `format` read from `path` (named in errors).
    pub fn parse_as(
        bytes: &[u8],
        path: &Path,
        format: AuthFileFormat,
    ) -> Result<AuthFile, AuthFileError> {
        let syntax = |e: serde_path_to_error::Error<serde_json::Error>| {
            let pointer = e.path().to_string();
            AuthFileError::Syntax {
                path: path.to_path_buf(),
                pointer,
                source: e.into_inner(),
            }
        };
        // First the JSON and its top-level object (with the line and column of a syntax
        // error), then the fields (with the path to a field of the wrong type).
        let top: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
            .map_err(|source| AuthFileError::Syntax {
                path: path.to_path_buf(),
                pointer: ".".to_owned(),
                source,
            })?;
        let top = serde_json::Value::Object(top);
        let (raw_auths, cred_helpers, creds_store) = match format {
            AuthFileFormat::Auths => {
                let raw: RawFile = serde_path_to_error::deserialize(top).map_err(syntax)?;
                (
                    raw.auths.unwrap_or_default(),
                    raw.cred_helpers.unwrap_or_default(),
                    raw.creds_store.filter(|s| !s.is_empty()),
                )
            }
            AuthFileFormat::Legacy => {
                let raw: BTreeMap<String, RawEntry> =
                    serde_path_to_error::deserialize(top).map_err(syntax)?;
                (raw, BTreeMap::new(), None)
            }
        };
        let mut auths = BTreeMap::new();
        for (key, entry) in raw_auths {
            let credential = decode_entry(path, &key, &entry)?;
            auths.insert(key, credential);
        }
        Ok(AuthFile {
            path: path.to_path_buf(),
            format,
            auths,
            cred_helpers,
            creds_store,
        })
    }

    /// Parses `bytes` as auth.json (or Docker's `config.json`) read from `path`.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<AuthFile, AuthFileError> {
        AuthFile::parse_as(bytes, path, AuthFileFormat::Auths)
    }

    /// Reads and parses the file at `path`; `None` when there is no such file.
    pub fn load(path: &Path, format: AuthFileFormat) -> Result<Option<AuthFile>, AuthFileError> {
        match std::fs::read(path) {
            Ok(bytes) => AuthFile::parse_as(&bytes, path, format).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(AuthFileError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `credHelpers` entry for `registry`, if any.
    pub fn cred_helper(&self, registry: &str) -> Option<&str> {
        self.cred_helpers.get(registry).map(String::as_str)
    }

    /// The `credsStore` helper, if any.
    pub fn creds_store(&self) -> Option<&str> {
        self.creds_store.as_deref()
    }

    /// Whether `auths` has an entry with exactly this key.
    pub fn has_entry(&self, key: &str) -> bool {
        self.auths.contains_key(key)
    }

    /// What the file says for `repository` (a path such as `ns/app`, or empty) at
    /// `registry` (`host[:port]`), as containers/image reads it: a `credHelpers` entry for
    /// the registry first; then the most specific `auths` key among `registry/repository`,
    /// its parent namespaces and `registry`; then keys written as URLs (`https://HOST/v1/`);
    /// then `credsStore`. An empty entry (a helper's marker) falls through to `credsStore`.
    pub fn find(&self, registry: &str, repository: &str) -> FileMatch {
        if let Some(name) = self.cred_helpers.get(registry) {
            return FileMatch::Helper {
                name: name.clone(),
                server: registry.to_owned(),
            };
        }
        let mut keys = Vec::new();
        if self.format == AuthFileFormat::Auths && !repository.is_empty() {
            let mut key = format!("{registry}/{repository}");
            loop {
                keys.push(key.clone());
                match key.rfind('/') {
                    Some(i) if i > registry.len() => key.truncate(i),
                    _ => break,
                }
            }
        }
        keys.push(registry.to_owned());
        let exact = keys
            .iter()
            .find_map(|k| self.auths.get_key_value(k.as_str()));
        let normalized = || {
            let registry = normalize_registry(registry);
            self.auths
                .iter()
                .find(|(k, _)| normalize_key(k, self.format) == registry)
        };
        if let Some((key, Some(credential))) = exact.or_else(normalized) {
            return FileMatch::Credential {
                key: key.clone(),
                credential: credential.clone(),
            };
        }
        match &self.creds_store {
            Some(name) => FileMatch::Helper {
                name: name.clone(),
                server: store_server(normalize_registry(registry)),
            },
            None => FileMatch::Nothing,
        }
    }
}

/// An entry's credential: the identity token when there is one, else `auth`'s
/// `user:password`; `None` for an empty entry.
fn decode_entry(
    path: &Path,
    key: &str,
    entry: &RawEntry,
) -> Result<Option<Credential>, AuthFileError> {
    let bad = |problem| AuthFileError::BadEntry {
        path: path.to_path_buf(),
        key: key.to_owned(),
        problem,
    };
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(token.to_owned())));
    }
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .map_err(|_| bad("\"auth\" is not base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad("\"auth\" is not UTF-8"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| bad("\"auth\" is not \"user:password\" (no colon)"))?;
    Ok(Some(Credential::Basic {
        username: username.to_owned(),
        password: password.to_owned(),
    }))
}
