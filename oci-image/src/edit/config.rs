//! Config changes (`ocimg config`, and the config flags of `ocimg build`), and the checks
//! of config values.
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

use oci_spec_types::{ExecConfig, History, ImageConfig, Platform};

use super::{EditError, OciImage, Written, timestamp};
use crate::layout::Layout;
use crate::name::Reference;

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

/// A config value that is not acceptable (a usage error). It names the value, not where
/// it came from: the caller (a CLI flag, say) adds that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ValueError {
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: ValueReason,
}

/// What is wrong with a config value ([`ValueError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueReason {
    /// Not a JSON array of strings.
    #[error("expected a JSON array of strings such as [\"/bin/sh\",\"-c\"] ({parser})")]
    NotExecArray {
        /// What the JSON parser found, with its position.
        parser: String,
    },
    /// Not `KEY=VALUE` with a non-empty key.
    #[error("expected KEY=VALUE with a non-empty KEY")]
    NotKeyValue,
    /// A port outside 1 to 65535, or not a number.
    #[error("the port must be 1 to 65535")]
    Port,
    /// A protocol other than tcp, udp and sctp.
    #[error("the protocol must be tcp, udp or sctp")]
    Protocol,
    /// Not `USER[:GROUP]` with non-empty parts and no whitespace.
    #[error("expected USER[:GROUP]")]
    User,
    /// Not an absolute path (or one holding a NUL byte).
    #[error("expected an absolute path")]
    NotAbsolute,
    /// Neither a signal name nor a number.
    #[error("expected a signal name such as SIGTERM or a number")]
    Signal,
}

fn value_error(value: &str, reason: ValueReason) -> ValueError {
    ValueError {
        value: value.to_owned(),
        reason,
    }
}

/// Parses an exec-form JSON array of strings (an Entrypoint or Cmd).
pub fn parse_exec_array(value: &str) -> Result<Vec<String>, ValueError> {
    serde_json::from_str::<Vec<String>>(value).map_err(|e| {
        value_error(
            value,
            ValueReason::NotExecArray {
                parser: e.to_string(),
            },
        )
    })
}

/// Parses `KEY=VALUE` (an environment variable, a label); the key must be non-empty.
pub fn parse_key_value(value: &str) -> Result<(String, String), ValueError> {
    match value.split_once('=') {
        Some((key, v)) if !key.is_empty() => Ok((key.to_owned(), v.to_owned())),
        _ => Err(value_error(value, ValueReason::NotKeyValue)),
    }
}

/// Parses `PORT[/PROTO]` (an exposed port): a port 1 to 65535 and a protocol tcp, udp or
/// sctp (default tcp). Returns the config's spelling, `PORT/PROTO`.
pub fn parse_port(value: &str) -> Result<String, ValueError> {
    let (port, proto) = value.split_once('/').unwrap_or((value, "tcp"));
    let valid_port = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p > 0);
    if !valid_port {
        return Err(value_error(value, ValueReason::Port));
    }
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(value_error(value, ValueReason::Protocol));
    }
    Ok(format!("{}/{proto}", port.trim_start_matches('0')))
}

/// Checks `USER[:GROUP]`: non-empty parts, no whitespace.
pub fn check_user(value: &str) -> Result<(), ValueError> {
    let ok = !value.is_empty()
        && value.split(':').count() <= 2
        && value.split(':').all(|p| !p.is_empty())
        && !value.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(value_error(value, ValueReason::User))
    }
}

/// Checks an absolute path (a working directory, a volume): the runtime needs absolute
/// paths for the working directory and mount destinations.
pub fn check_absolute(value: &str) -> Result<(), ValueError> {
    if value.starts_with('/') && !value.contains('\0') {
        Ok(())
    } else {
        Err(value_error(value, ValueReason::NotAbsolute))
    }
}

/// Checks a stop signal: a name such as `SIGTERM` or a number.
pub fn check_signal(value: &str) -> Result<(), ValueError> {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        Ok(())
    } else {
        Err(value_error(value, ValueReason::Signal))
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

impl Layout {
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
        let OciImage {
            manifest, config, ..
        } = self.read_oci_image(source, platform, "image")?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
            parse_exec_array(r#"["/bin/sh","-c","echo hi"]"#),
            Ok(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        for bad in ["/bin/sh", "[1]", r#"{"a":1}"#, "[\"a\""] {
            assert!(parse_exec_array(bad).is_err(), "{bad}");
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
        assert!(check_absolute("/data").is_ok());
        assert_eq!(
            check_absolute("data"),
            Err(ValueError {
                value: "data".into(),
                reason: ValueReason::NotAbsolute
            })
        );
        // The library names no flag: the CLI does.
        assert_eq!(
            parse_port("80/icmp").unwrap_err().to_string(),
            "the protocol must be tcp, udp or sctp"
        );
    }
}
