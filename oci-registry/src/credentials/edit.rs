//! Writing credentials the way `skopeo login` and `skopeo logout` do: the entry for a key
//! in the read/write auth file (or its `credHelpers` helper), everything else kept, the
//! file replaced atomically with mode 0600.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{AuthFile, AuthFileError, AuthFileFormat, Credential, CredentialHelper, HelperError};

/// Changes the entries of one auth file (`--authfile`, or the default read/write file).
///
/// ```
/// use oci_registry::credentials::{AuthEnv, AuthFileEditor, Stored};
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("auth.json");
/// let editor = AuthFileEditor::new(path.clone(), &AuthEnv::default());
/// assert_eq!(editor.store("registry.example.com", "ann", "secret").unwrap(), Stored::File);
/// let text = std::fs::read_to_string(&path).unwrap();
/// assert!(text.contains("\"registry.example.com\""));
/// assert!(editor.remove("registry.example.com").unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct AuthFileEditor {
    path: PathBuf,
    search_path: Option<OsString>,
}

/// Where [`AuthFileEditor::store`] put the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// In the file's `auths`.
    File,
    /// In the credential helper of this name (the file's `credHelpers` or `credsStore`).
    Helper(String),
}

/// Why a login or logout could not change the auth file.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file exists but is not a credentials file that can be updated.
    #[error(transparent)]
    File(#[from] AuthFileError),
    /// The helper that holds the key's credentials failed.
    #[error(transparent)]
    Helper(#[from] HelperError),
    /// The key names a repository or namespace, which credential helpers do not support.
    #[error("{key}: credential helper {helper} holds credentials for whole registries only")]
    NamespacedHelper {
        /// The key.
        key: String,
        /// The helper's name.
        helper: String,
    },
    /// The file or its directory could not be written.
    #[error("cannot write credentials file {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl AuthFileEditor {
    /// An editor of the auth file at `path`; credential helpers are looked up on the
    /// `PATH` of `env`.
    pub fn new(path: PathBuf, env: &super::AuthEnv) -> AuthFileEditor {
        AuthFileEditor {
            path,
            search_path: env.path.clone(),
        }
    }

    /// The file this editor changes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn helper(&self, name: &str) -> CredentialHelper {
        match &self.search_path {
            Some(path) => CredentialHelper::with_search_path(name, path.clone()),
            None => CredentialHelper::new(name),
        }
    }

    /// Stores `username` and `password` for `key` (`host[:port]`, or a namespace or
    /// repository under it) as `skopeo login` does: in the helper `credHelpers` names for
    /// the key, else in the file as `{"auth": base64("user:password")}` (replacing the
    /// key's entry; every other entry and key of the file is kept). With `credsStore` set
    /// and no `credHelpers` entry, the store holds it, as Docker does.
    pub fn store(&self, key: &str, username: &str, password: &str) -> Result<Stored, EditError> {
        let (mut document, file) = self.read()?;
        let registry = key.split('/').next().unwrap_or(key);
        let namespaced = registry.len() != key.len();
        let helper = file
            .as_ref()
            .and_then(|f| f.cred_helper(key).or_else(|| f.creds_store()));
        if let Some(name) = helper {
            if namespaced {
                return Err(EditError::NamespacedHelper {
                    key: key.to_owned(),
                    helper: name.to_owned(),
                });
            }
            let credential = Credential::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            };
            self.helper(name).store(key, &credential)?;
            return Ok(Stored::Helper(name.to_owned()));
        }
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        let mut entry = Map::new();
        entry.insert("auth".to_owned(), Value::String(auth));
        auths_of(&mut document).insert(key.to_owned(), Value::Object(entry));
        self.write(&document)?;
        Ok(Stored::File)
    }

    /// Removes the credentials for exactly `key`, as `skopeo logout` does: from its
    /// `credHelpers` helper, else the file's entry (and what `credsStore` holds for it).
    /// `false` when there was nothing to remove.
    pub fn remove(&self, key: &str) -> Result<bool, EditError> {
        let (mut document, file) = self.read()?;
        let Some(file) = file else {
            return Ok(false);
        };
        if let Some(name) = file.cred_helper(key) {
            return Ok(self.helper(name).erase(key)?);
        }
        let mut removed = false;
        if let Some(name) = file.creds_store() {
            removed |= self.helper(name).erase(key)?;
        }
        if file.has_entry(key) {
            auths_of(&mut document).remove(key);
            self.write(&document)?;
            removed = true;
        }
        Ok(removed)
    }

    /// Removes every credential, as `skopeo logout --all` does: every `auths` entry, and
    /// what each `credHelpers` helper holds for its registry. The helpers' configuration
    /// (`credHelpers`, `credsStore`) and other keys of the file stay.
    pub fn remove_all(&self) -> Result<(), EditError> {
        let (mut document, file) = self.read()?;
        let Some(file) = file else {
            return Ok(());
        };
        for (registry, name) in &file.cred_helpers {
            self.helper(name).erase(registry)?;
        }
        if let Some(name) = file.creds_store() {
            for key in file.auths.keys() {
                self.helper(name).erase(key)?;
            }
        }
        auths_of(&mut document).clear();
        self.write(&document)
    }

    /// The file as a JSON object (empty when missing) and, when it exists, parsed.
    fn read(&self) -> Result<(Map<String, Value>, Option<AuthFile>), EditError> {
        let Some(file) = AuthFile::load(&self.path, AuthFileFormat::Auths)? else {
            return Ok((Map::new(), None));
        };
        let bytes = std::fs::read(&self.path).map_err(|source| AuthFileError::Read {
            path: self.path.clone(),
            source,
        })?;
        let document: Map<String, Value> =
            serde_json::from_slice(&bytes).map_err(|source| AuthFileError::Syntax {
                path: self.path.clone(),
                pointer: ".".to_owned(),
                source,
            })?;
        Ok((document, Some(file)))
    }

    /// Writes `document` as Go's `json.MarshalIndent(v, "", "\t")` does, atomically, with
    /// mode 0600, creating the directory (mode 0700) when missing.
    fn write(&self, document: &Map<String, Value>) -> Result<(), EditError> {
        let error = |source| EditError::Write {
            path: self.path.clone(),
            source,
        };
        let mut bytes = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
        serde::Serialize::serialize(document, &mut serializer).expect("a JSON value serializes");
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(error)?;
        }
        let atomic = |e: oci_digest::AtomicError| error(e.source);
        let mut out = oci_digest::AtomicFile::create(&self.path).map_err(atomic)?;
        // Before any secret is written.
        std::fs::set_permissions(out.temp_path(), std::fs::Permissions::from_mode(0o600))
            .map_err(error)?;
        out.write_all(&bytes).map_err(error)?;
        out.commit().map_err(atomic)
    }
}

/// The `auths` object of `document`, created (or replacing a `null`) when missing.
fn auths_of(document: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let auths = document
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        // Only `null` gets here: the file parsed, so `auths` is an object or null.
        *auths = Value::Object(Map::new());
    }
    auths.as_object_mut().expect("made an object above")
}
