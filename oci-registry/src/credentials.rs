//! Credentials for a registry, found as the containers tools find them (`--creds`,
//! `--authfile`, `REGISTRY_AUTH_FILE`, `${XDG_RUNTIME_DIR}/containers/auth.json`,
//! `~/.docker/config.json`, `credsStore` and `credHelpers`), and written as `skopeo login`
//! writes them.
//!
//! ```
//! use oci_registry::credentials::{AuthEnv, AuthFileEditor, CredentialLookup, LookupOptions};
//! # let dir = tempfile::tempdir().unwrap();
//! let authfile = dir.path().join("auth.json");
//! let env = AuthEnv::default();
//! AuthFileEditor::new(authfile.clone(), &env).store("localhost:5000", "ann", "secret").unwrap();
//!
//! let lookup = CredentialLookup::new(LookupOptions {
//!     authfile: Some(authfile),
//!     env,
//!     ..LookupOptions::default()
//! });
//! let found = lookup.find("localhost:5000", "team/app").unwrap().expect("stored above");
//! assert_eq!(found.source.as_deref(), Some(dir.path().join("auth.json").as_path()));
//! ```

mod edit;
mod file;
mod helper;

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

pub use edit::{AuthFileEditor, EditError, Stored};
pub use file::{AuthFile, AuthFileError, AuthFileFormat, FileMatch};
pub use helper::{CredentialHelper, HelperError};

/// What a registry is asked to accept for one host.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password (HTTP basic, or exchanged for a bearer token).
    Basic {
        /// The user name.
        username: String,
        /// The password; never printed.
        password: String,
    },
    /// An identity (refresh) token, exchanged at the token endpoint; never printed.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// A `--creds USER[:PASS]` value split as skopeo splits it: at the first colon. The
/// password is `None` when there is no colon or nothing after it (the caller then asks
/// for it).
///
/// ```
/// use oci_registry::credentials::parse_creds;
///
/// assert_eq!(parse_creds("ann:se:cret").unwrap(), ("ann".into(), Some("se:cret".into())));
/// assert_eq!(parse_creds("ann").unwrap(), ("ann".into(), None));
/// assert!(parse_creds(":secret").is_err());
/// ```
pub fn parse_creds(value: &str) -> Result<(String, Option<String>), CredsError> {
    let (username, password) = match value.split_once(':') {
        Some((u, p)) => (u, (!p.is_empty()).then(|| p.to_owned())),
        None => (value, None),
    };
    if username.is_empty() {
        return Err(CredsError);
    }
    Ok((username.to_owned(), password))
}

/// A `--creds` value without a user name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--creds: the user name is empty (USER[:PASS])")]
pub struct CredsError;

/// The environment the credentials files are found from. [`AuthEnv::from_process`] reads
/// it; tests build one. Empty variables count as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthEnv {
    /// `REGISTRY_AUTH_FILE`: the read/write file when `--authfile` is not given.
    pub registry_auth_file: Option<PathBuf>,
    /// `XDG_RUNTIME_DIR`: the default read/write file is `containers/auth.json` in it.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `XDG_CONFIG_HOME` (else `$HOME/.config`): `containers/auth.json` in it is read.
    pub xdg_config_home: Option<PathBuf>,
    /// `DOCKER_CONFIG`: a directory holding Docker's `config.json` (else `$HOME/.docker`).
    pub docker_config: Option<PathBuf>,
    /// `HOME`.
    pub home: Option<PathBuf>,
    /// `PATH`, where `docker-credential-*` helpers are found (`None`: this process's).
    pub path: Option<OsString>,
    /// The user id, for `/run/containers/UID/auth.json` when `XDG_RUNTIME_DIR` is unset.
    pub uid: u32,
}

impl AuthEnv {
    /// The environment of this process.
    pub fn from_process() -> AuthEnv {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        AuthEnv {
            registry_auth_file: var("REGISTRY_AUTH_FILE").map(PathBuf::from),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            xdg_config_home: var("XDG_CONFIG_HOME").map(PathBuf::from),
            docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
            path: None,
            uid: rustix::process::getuid().as_raw(),
        }
    }

    /// The read/write auth file (login and logout change it): `authfile` when given,
    /// else `REGISTRY_AUTH_FILE`, else `${XDG_RUNTIME_DIR}/containers/auth.json`, else
    /// `/run/containers/UID/auth.json`.
    pub fn primary_file(&self, authfile: Option<&Path>) -> PathBuf {
        if let Some(path) = authfile.or(self.registry_auth_file.as_deref()) {
            return path.to_path_buf();
        }
        match &self.xdg_runtime_dir {
            Some(dir) => dir.join("containers/auth.json"),
            None => PathBuf::from(format!("/run/containers/{}/auth.json", self.uid)),
        }
    }

    /// Every file credentials are looked up in, in order (containers/image's order): the
    /// read/write file ([`primary_file`](AuthEnv::primary_file)),
    /// `${XDG_CONFIG_HOME}/containers/auth.json`, Docker's `config.json`, and the legacy
    /// `~/.dockercfg`.
    pub fn search_files(&self, authfile: Option<&Path>) -> Vec<(PathBuf, AuthFileFormat)> {
        let mut files = vec![(self.primary_file(authfile), AuthFileFormat::Auths)];
        let config_home = self
            .xdg_config_home
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".config")));
        if let Some(dir) = config_home {
            files.push((dir.join("containers/auth.json"), AuthFileFormat::Auths));
        }
        let docker = self
            .docker_config
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".docker")));
        if let Some(dir) = docker {
            files.push((dir.join("config.json"), AuthFileFormat::Auths));
        }
        if let Some(home) = &self.home {
            files.push((home.join(".dockercfg"), AuthFileFormat::Legacy));
        }
        files
    }

    fn helper(&self, name: &str) -> CredentialHelper {
        match &self.path {
            Some(path) => CredentialHelper::with_search_path(name, path.clone()),
            None => CredentialHelper::new(name),
        }
    }
}

/// Where [`CredentialLookup`] looks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupOptions {
    /// `--creds`: used for every registry, no file read.
    pub creds: Option<Credential>,
    /// `--authfile`: the read/write file (instead of `REGISTRY_AUTH_FILE` and the
    /// default); the other files are still read after it, as containers/image does.
    pub authfile: Option<PathBuf>,
    /// The environment.
    pub env: AuthEnv,
}

/// A credential found, and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The credential.
    pub credential: Credential,
    /// The file that held it or named its helper; `None` for `--creds`.
    pub source: Option<PathBuf>,
    /// The helper that answered, if one did.
    pub helper: Option<String>,
}

/// Why credentials could not be looked up: a file or a helper failed.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// A credentials file is unreadable or malformed.
    #[error(transparent)]
    File(#[from] AuthFileError),
    /// A credential helper failed.
    #[error("{}: credential helper for {server}", path.display())]
    Helper {
        /// The file that named the helper.
        path: PathBuf,
        /// The server it was asked about.
        server: String,
        /// The cause.
        #[source]
        source: Box<HelperError>,
    },
}

/// Finds the credential for a registry and repository: `--creds`, else the first
/// credentials file (in [`AuthEnv::search_files`] order) that has one, asking helpers
/// where the files say so. Files are read on each lookup.
#[derive(Debug, Clone, Default)]
pub struct CredentialLookup {
    options: LookupOptions,
}

impl CredentialLookup {
    /// A lookup with these options.
    pub fn new(options: LookupOptions) -> CredentialLookup {
        CredentialLookup { options }
    }

    /// A lookup from this process's environment, with `--creds` and `--authfile` values.
    pub fn from_env(creds: Option<Credential>, authfile: Option<PathBuf>) -> CredentialLookup {
        CredentialLookup::new(LookupOptions {
            creds,
            authfile,
            env: AuthEnv::from_process(),
        })
    }

    /// The options.
    pub fn options(&self) -> &LookupOptions {
        &self.options
    }

    /// The credential for `repository` (a path such as `ns/app`, or empty) at `registry`
    /// (`host[:port]`, `docker.io` for Docker Hub); `None` for anonymous access.
    pub fn find(&self, registry: &str, repository: &str) -> Result<Option<Found>, LookupError> {
        if let Some(credential) = &self.options.creds {
            return Ok(Some(Found {
                credential: credential.clone(),
                source: None,
                helper: None,
            }));
        }
        let env = &self.options.env;
        for (path, format) in env.search_files(self.options.authfile.as_deref()) {
            let Some(file) = AuthFile::load(&path, format)? else {
                continue;
            };
            match file.find(registry, repository) {
                FileMatch::Credential { key, credential } => {
                    tracing::debug!(registry, file = %path.display(), key, "credentials");
                    return Ok(Some(Found {
                        credential,
                        source: Some(path),
                        helper: None,
                    }));
                }
                FileMatch::Helper { name, server } => {
                    let answer =
                        env.helper(&name)
                            .get(&server)
                            .map_err(|source| LookupError::Helper {
                                path: path.clone(),
                                server: server.clone(),
                                source: Box::new(source),
                            })?;
                    let found = answer.is_some();
                    tracing::debug!(registry, file = %path.display(), helper = name, found, "credential helper");
                    if let Some(credential) = answer {
                        return Ok(Some(Found {
                            credential,
                            source: Some(path),
                            helper: Some(name),
                        }));
                    }
                }
                FileMatch::Nothing => {}
            }
        }
        Ok(None)
    }
}
