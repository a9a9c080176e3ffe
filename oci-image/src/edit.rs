//! Editing images: config changes (`ocimg config`, and the config flags of `ocimg build`)
//! and multi-platform indexes (`ocimg index create`).
//!
//! A config edit writes a new config and manifest and leaves the layers untouched. Setting
//! one field never drops another: an entrypoint keeps Cmd unless [`ConfigEdits::clear_cmd`]
//! is set, an environment variable replaces only the variable of the same name (keeping its
//! place), a label only the label of that key. Unknown members of the config and manifest
//! survive (the spec types keep them).
//!
//! Like `umoci config`, an edit appends a history entry with `empty_layer: true` and
//! `created_by: "ocimg config"`, and sets the config's `created` to the same time.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use oci_digest::PutError;
use oci_spec_types::annotations::REF_NAME;
use oci_spec_types::document::{AnyManifest, DocumentType};
use oci_spec_types::{
    Algorithm, Descriptor, Digest, Document, ExecConfig, History, ImageConfig, ImageIndex,
    ImageManifest, Platform, media_type,
};

use crate::layout::{IndexError, Layout, LockError, WriteError};
use crate::name::{Reference, is_valid_tag};
use crate::resolve::{BlobError, ResolveError};

/// Changes to an image config, from the CLI's config flags. The default changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigEdits {
    /// New Entrypoint (exec form).
    pub entrypoint: Option<Vec<String>>,
    /// New Cmd (exec form).
    pub cmd: Option<Vec<String>>,
    /// Remove the Entrypoint (before `entrypoint` is applied).
    pub clear_entrypoint: bool,
    /// Remove the Cmd (before `cmd` is applied).
    pub clear_cmd: bool,
    /// Variables to set, `(KEY, VALUE)`: an existing KEY is replaced in place, a new one
    /// appended.
    pub env: Vec<(String, String)>,
    /// Variables to remove, by name (before `env` is applied).
    pub env_remove: Vec<String>,
    /// New WorkingDir.
    pub working_dir: Option<String>,
    /// New User (`USER[:GROUP]`).
    pub user: Option<String>,
    /// Labels to set.
    pub labels: Vec<(String, String)>,
    /// Labels to remove (before `labels` are applied).
    pub label_remove: Vec<String>,
    /// Ports to expose, normalized as `PORT/PROTO` ([`parse_port`]).
    pub expose: Vec<String>,
    /// Volumes to add.
    pub volumes: Vec<String>,
    /// New StopSignal.
    pub stop_signal: Option<String>,
    /// New author, of the config and of the history entry.
    pub author: Option<String>,
    /// The history entry's comment.
    pub history_comment: Option<String>,
}

/// A config flag value that is not acceptable (a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {flag} value {value:?}: {reason}")]
pub struct FlagError {
    /// The flag, such as `--expose`.
    pub flag: &'static str,
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

fn flag_error(flag: &'static str, value: &str, reason: impl Into<String>) -> FlagError {
    FlagError {
        flag,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Parses an exec-form JSON array of strings (`--entrypoint`, `--cmd`).
pub fn parse_exec_array(flag: &'static str, value: &str) -> Result<Vec<String>, FlagError> {
    serde_json::from_str::<Vec<String>>(value).map_err(|e| {
        flag_error(
            flag,
            value,
            format!("expected a JSON array of strings such as [\"/bin/sh\",\"-c\"] ({e})"),
        )
    })
}

/// Parses `KEY=VALUE` (`--env`, `--label`); the key must be non-empty.
pub fn parse_key_value(flag: &'static str, value: &str) -> Result<(String, String), FlagError> {
    match value.split_once('=') {
        Some((key, v)) if !key.is_empty() => Ok((key.to_owned(), v.to_owned())),
        _ => Err(flag_error(
            flag,
            value,
            "expected KEY=VALUE with a non-empty KEY",
        )),
    }
}

/// Parses `PORT[/PROTO]` (`--expose`): a port 1 to 65535 and a protocol tcp, udp or sctp
/// (default tcp). Returns the config's spelling, `PORT/PROTO`.
pub fn parse_port(value: &str) -> Result<String, FlagError> {
    let (port, proto) = value.split_once('/').unwrap_or((value, "tcp"));
    let valid_port = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p > 0);
    if !valid_port {
        return Err(flag_error("--expose", value, "the port must be 1 to 65535"));
    }
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(flag_error(
            "--expose",
            value,
            "the protocol must be tcp, udp or sctp",
        ));
    }
    Ok(format!("{}/{proto}", port.trim_start_matches('0')))
}

/// Checks `USER[:GROUP]` (`--user`): non-empty parts, no whitespace.
pub fn check_user(value: &str) -> Result<(), FlagError> {
    let ok = !value.is_empty()
        && value.split(':').count() <= 2
        && value.split(':').all(|p| !p.is_empty())
        && !value.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(flag_error("--user", value, "expected USER[:GROUP]"))
    }
}

/// Checks an absolute path (`--workdir`, `--volume`): the runtime needs absolute paths for
/// the working directory and mount destinations.
pub fn check_absolute(flag: &'static str, value: &str) -> Result<(), FlagError> {
    if value.starts_with('/') && !value.contains('\0') {
        Ok(())
    } else {
        Err(flag_error(flag, value, "expected an absolute path"))
    }
}

/// Checks a stop signal (`--stop-signal`): a name such as `SIGTERM` or a number.
pub fn check_signal(value: &str) -> Result<(), FlagError> {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        Ok(())
    } else {
        Err(flag_error(
            "--stop-signal",
            value,
            "expected a signal name such as SIGTERM or a number",
        ))
    }
}

impl ConfigEdits {
    /// Applies the edits to `config` (its exec part created when missing). Removals come
    /// first, then the settings.
    pub fn apply(&self, config: &mut ImageConfig) {
        if let Some(author) = &self.author {
            config.author = Some(author.clone());
        }
        let exec = config.config.get_or_insert_with(ExecConfig::default);
        if self.clear_entrypoint {
            exec.entrypoint = None;
        }
        if self.clear_cmd {
            exec.cmd = None;
        }
        if let Some(entrypoint) = &self.entrypoint {
            exec.entrypoint = Some(entrypoint.clone());
        }
        if let Some(cmd) = &self.cmd {
            exec.cmd = Some(cmd.clone());
        }
        if !self.env_remove.is_empty() || !self.env.is_empty() {
            let env = exec.env.get_or_insert_with(Vec::new);
            env.retain(|e| {
                let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
                !self.env_remove.iter().any(|r| r == key)
            });
            for (key, value) in &self.env {
                let entry = format!("{key}={value}");
                let existing = env
                    .iter()
                    .position(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key);
                match existing {
                    Some(i) => env[i] = entry,
                    None => env.push(entry),
                }
            }
            if env.is_empty() {
                exec.env = None;
            }
        }
        if let Some(dir) = &self.working_dir {
            exec.working_dir = Some(dir.clone());
        }
        if let Some(user) = &self.user {
            exec.user = Some(user.clone());
        }
        if !self.label_remove.is_empty() || !self.labels.is_empty() {
            let labels = exec.labels.get_or_insert_with(BTreeMap::new);
            for key in &self.label_remove {
                labels.remove(key);
            }
            for (key, value) in &self.labels {
                labels.insert(key.clone(), value.clone());
            }
            if labels.is_empty() {
                exec.labels = None;
            }
        }
        for port in &self.expose {
            exec.exposed_ports
                .get_or_insert_with(BTreeMap::new)
                .insert(port.clone(), serde_json::json!({}));
        }
        for volume in &self.volumes {
            exec.volumes
                .get_or_insert_with(BTreeMap::new)
                .insert(volume.clone(), serde_json::json!({}));
        }
        if let Some(signal) = &self.stop_signal {
            exec.stop_signal = Some(signal.clone());
        }
        if *exec == ExecConfig::default() {
            config.config = None;
        }
    }
}

/// The time an image is created at: `SOURCE_DATE_EPOCH` when given, else now.
pub(crate) fn timestamp(source_date_epoch: Option<i64>) -> String {
    let secs = source_date_epoch.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    });
    rfc3339(secs)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (UTC).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Why an image could not be edited, or an index created.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The new tag does not follow the ref.name grammar.
    #[error(
        "tag {tag:?} does not follow the ref.name grammar (components of [A-Za-z0-9] joined by one of -._:@+ or --, separated by /)"
    )]
    InvalidTag {
        /// The tag.
        tag: String,
    },
    /// The source image could not be found or read.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The source is not an OCI image manifest with an OCI image config.
    #[error("{what} {digest} is a {media_type}, not an OCI image manifest with an image config")]
    NotAnImage {
        /// What was expected: "image", "base image", ...
        what: &'static str,
        /// Its digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// Storing a document failed.
    #[error("cannot store the new {what}: {source}")]
    Put {
        /// "config", "manifest" or "index".
        what: &'static str,
        /// The cause.
        #[source]
        source: PutError,
    },
    /// Taking the layout lock failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Writing `index.json` failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// An index needs at least one image.
    #[error("an index needs at least one image")]
    NoImages,
}

impl EditError {
    /// Whether a check failed (exit 1): a rejected tag, a damaged layout, a source that
    /// is not an image.
    pub fn is_check_failure(&self) -> bool {
        match self {
            EditError::InvalidTag { .. } | EditError::NotAnImage { .. } => true,
            EditError::Resolve(e) => e.is_check_failure(),
            EditError::Put { .. }
            | EditError::Lock(_)
            | EditError::Write(_)
            | EditError::NoImages => false,
        }
    }
}

impl From<IndexError> for EditError {
    fn from(e: IndexError) -> EditError {
        EditError::Resolve(ResolveError::Index(e))
    }
}

impl From<BlobError> for EditError {
    fn from(e: BlobError) -> EditError {
        EditError::Resolve(ResolveError::Blob(e))
    }
}

/// A new image written to a layout and tagged: what `ocimg build` and `ocimg config`
/// report.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The `index.json` entry written (platform and ref name included).
    pub manifest: Descriptor,
    /// The config's descriptor.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<Descriptor>,
}

/// An image read from a layout: its manifest and config, parsed.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) descriptor: Descriptor,
    pub(crate) manifest: ImageManifest,
    pub(crate) config: ImageConfig,
}

impl Layout {
    /// Reads the OCI image `reference` names, descending through an index by `platform`.
    pub(crate) fn read_image(
        &self,
        reference: Option<&Reference>,
        platform: Option<&Platform>,
        what: &'static str,
    ) -> Result<Source, EditError> {
        let entry = self.resolve(reference, platform)?;
        let (descriptor, _, manifest) = self.descend(&entry, platform)?;
        let not_an_image = |media_type: String| EditError::NotAnImage {
            what,
            digest: descriptor.digest.clone(),
            media_type,
        };
        let manifest = match manifest {
            AnyManifest::OciManifest(m) if m.is_image() => m,
            AnyManifest::OciManifest(m) => {
                return Err(not_an_image(format!(
                    "manifest with config {}",
                    m.config.media_type
                )));
            }
            other => return Err(not_an_image(other.kind().media_type().to_owned())),
        };
        let (_, config) = self.read_config(&manifest.config)?;
        Ok(Source {
            descriptor,
            manifest,
            config,
        })
    }

    /// Stores the serialization of `value` and returns its descriptor.
    pub(crate) fn put_document<T: DocumentType>(
        &self,
        value: T,
        media_type: &str,
        what: &'static str,
    ) -> Result<Descriptor, EditError> {
        let document = Document::from_value(value);
        let measured = self
            .blobs()
            .put_bytes(document.bytes(), Algorithm::Sha256)
            .map_err(|source| EditError::Put { what, source })?;
        Ok(Descriptor::new(media_type, measured.digest, measured.size))
    }

    /// Stores `config` and a manifest made from `base` (unknown members and annotations
    /// kept, subject dropped) with `layers`, and tags it `tag` for the config's platform.
    pub(crate) fn write_image(
        &self,
        base: Option<ImageManifest>,
        config: ImageConfig,
        layers: Vec<Descriptor>,
        tag: &str,
    ) -> Result<Written, EditError> {
        if !is_valid_tag(tag) {
            return Err(EditError::InvalidTag {
                tag: tag.to_owned(),
            });
        }
        let platform = config.platform();
        let config = self.put_document(config, media_type::IMAGE_CONFIG, "config")?;
        let manifest = match base {
            Some(mut m) => {
                m.config = config.clone();
                m.layers = layers.clone();
                // The new image is not a referrer of what the old one referred to.
                m.subject = None;
                m
            }
            None => ImageManifest::new(config.clone(), layers.clone()),
        };
        let mut descriptor = self.put_document(manifest, media_type::IMAGE_MANIFEST, "manifest")?;
        descriptor.platform = Some(platform);
        let manifest = self.set_tag(descriptor, tag)?;
        Ok(Written {
            manifest,
            config,
            layers,
        })
    }

    /// Adds `descriptor` to `index.json` as `tag`, replacing every entry tagged so (the
    /// new entry takes the place of the first), under the layout lock. Unlike
    /// [`Layout::tag`] it needs no lookup: the caller knows the descriptor.
    fn set_tag(&self, mut descriptor: Descriptor, tag: &str) -> Result<Descriptor, EditError> {
        descriptor
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REF_NAME.to_owned(), tag.to_owned());
        let lock = self.lock()?;
        let mut index = lock.read_index()?.into_value();
        crate::tag::place_tagged(&mut index, descriptor.clone(), tag);
        lock.write_index(index)?;
        Ok(descriptor)
    }

    /// `ocimg config`: applies `edits` to the config of the image `source` names (chosen
    /// by `platform` where it is an index or several entries share the name), appends an
    /// empty-layer history entry, and writes the new config and manifest tagged `tag`.
    /// The layers stay as they are. Times are `source_date_epoch` when given, else now.
    pub fn edit_config(
        &self,
        source: Option<&Reference>,
        platform: Option<&Platform>,
        tag: &str,
        edits: &ConfigEdits,
        source_date_epoch: Option<i64>,
    ) -> Result<Written, EditError> {
        let Source {
            manifest, config, ..
        } = self.read_image(source, platform, "image")?;
        let mut config = config;
        let created = timestamp(source_date_epoch);
        edits.apply(&mut config);
        config.created = Some(created.clone());
        config.history.get_or_insert_with(Vec::new).push(History {
            created: Some(created),
            created_by: Some("ocimg config".to_owned()),
            author: edits.author.clone(),
            comment: edits.history_comment.clone(),
            empty_layer: Some(true),
            extra: BTreeMap::new(),
        });
        let layers = manifest.layers.clone();
        self.write_image(Some(manifest), config, layers, tag)
    }

    /// `ocimg index create`: an image index whose entries are the images `sources` name
    /// (each an `index.json` entry or manifest of this layout), each with the platform of
    /// its config (an index among the sources is listed without a platform). Stored and
    /// tagged `tag`; returns the new `index.json` entry.
    pub fn create_index(&self, tag: &str, sources: &[Reference]) -> Result<Descriptor, EditError> {
        if !is_valid_tag(tag) {
            return Err(EditError::InvalidTag {
                tag: tag.to_owned(),
            });
        }
        if sources.is_empty() {
            return Err(EditError::NoImages);
        }
        let mut entries = Vec::with_capacity(sources.len());
        for source in sources {
            let found = self.resolve(Some(source), None)?;
            let (_, manifest) = self.read_manifest(&found)?;
            let mut entry = Descriptor::new(found.media_type.clone(), found.digest, found.size);
            if let Some(config) = manifest.config() {
                if config.media_type.is_image_config() {
                    let (_, config) = self.read_config(config)?;
                    entry.platform = Some(config.platform());
                } else {
                    entry.platform = found.platform;
                }
            }
            entries.push(entry);
        }
        let index =
            self.put_document(ImageIndex::new(entries), media_type::IMAGE_INDEX, "index")?;
        self.set_tag(index, tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_spells_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn ports_are_validated_and_normalized() {
        assert_eq!(parse_port("80").as_deref(), Ok("80/tcp"));
        assert_eq!(parse_port("53/UDP").as_deref(), Ok("53/udp"));
        assert_eq!(parse_port("0080/sctp").as_deref(), Ok("80/sctp"));
        for bad in ["", "0", "65536", "80/icmp", "-1", "8o", "/tcp", "80/"] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exec_arrays_must_be_string_arrays() {
        assert_eq!(
            parse_exec_array("--cmd", r#"["/bin/sh","-c","echo hi"]"#),
            Ok(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        for bad in ["/bin/sh", "[1]", r#"{"a":1}"#, "[\"a\""] {
            assert!(parse_exec_array("--cmd", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_replaces_in_place_and_removes() {
        let mut config = ImageConfig::new(&Platform::new("linux", "amd64"), Vec::new());
        config.config = Some(ExecConfig {
            env: Some(vec!["A=1".into(), "B=2".into(), "C=3".into()]),
            cmd: Some(vec!["sh".into()]),
            ..ExecConfig::default()
        });
        let edits = ConfigEdits {
            env: vec![("B".into(), "x=y".into()), ("D".into(), "4".into())],
            env_remove: vec!["A".into()],
            entrypoint: Some(vec!["/init".into()]),
            ..ConfigEdits::default()
        };
        edits.apply(&mut config);
        let exec = config.config.expect("exec config");
        assert_eq!(
            exec.env,
            Some(vec!["B=x=y".into(), "C=3".into(), "D=4".into()])
        );
        assert_eq!(exec.cmd, Some(vec!["sh".into()]), "cmd kept");
        assert_eq!(exec.entrypoint, Some(vec!["/init".into()]));
    }

    #[test]
    fn user_signal_and_paths_are_checked() {
        assert!(check_user("app").is_ok());
        assert!(check_user("1000:1000").is_ok());
        assert!(check_user("").is_err());
        assert!(check_user("a:").is_err());
        assert!(check_user("a:b:c").is_err());
        assert!(check_signal("SIGTERM").is_ok());
        assert!(check_signal("9").is_ok());
        assert!(check_signal("SIG TERM").is_err());
        assert!(check_absolute("--volume", "/data").is_ok());
        assert!(check_absolute("--volume", "data").is_err());
    }
}
