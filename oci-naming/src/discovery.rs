//! Ref-engine discovery (the OCI discovery drafts): a DNS name publishes, at
//! `https://HOST/.well-known/oci-host-ref-engines`, where the images named under it live;
//! a parent domain answers for its subdomains unless they publish their own.
//!
//! This module is the pure half: names, ref-engines objects, templates, index entries and
//! local configuration. The network half (the walk over well-known URIs) is
//! `oci_registry::discovery`.
//!
//! Discovery only says where content may be. Trust comes from digests: whoever fetches a
//! blob through a CAS engine verifies it before storing it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iri_string::spec::UriSpec;
use iri_string::template::UriTemplateStr;
use iri_string::template::simple_context::SimpleContext;
use iri_string::types::{UriAbsoluteStr, UriReferenceStr};
use oci_spec_types::Digest;
use serde_json::Value;

/// The media type of a ref-engines object.
pub const REF_ENGINES_MEDIA_TYPE: &str = "application/vnd.oci.ref-engines.v1+json";
/// The media type of an image index.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The path of the well-known URI.
pub const WELL_KNOWN_PATH: &str = "/.well-known/oci-host-ref-engines";
/// The ref-engine protocol implemented here.
pub const INDEX_TEMPLATE_PROTOCOL: &str = "oci-index-template-v1";
/// The CAS-engine protocol implemented here.
pub const CAS_TEMPLATE_PROTOCOL: &str = "oci-cas-template-v1";
/// The annotation that entries are selected by.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// Why a string is not a host-based image name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host-based image name {name:?}: {reason}")]
pub struct NameError {
    /// The input.
    pub name: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// `host "/" path-rootless [ "#" fragment ]`, as the drafts define host-based names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBasedName {
    name: String,
    host: String,
    path: String,
    fragment: String,
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// RFC 3986 `pchar`s plus `extra`, with `%XX` escapes checked.
fn is_pchars(s: &str, extra: &[u8]) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if i + 2 >= b.len() {
                return false;
            }
            if !(b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
            continue;
        }
        if !(is_unreserved(c) || is_sub_delim(c) || c == b':' || c == b'@' || extra.contains(&c)) {
            return false;
        }
        i += 1;
    }
    true
}

fn is_ipv4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

impl HostBasedName {
    /// Parses a name; hosts are DNS names (letters, digits, hyphens, dots), IPv4
    /// addresses or bracketed IPv6 addresses, without port.
    pub fn parse(name: &str) -> Result<HostBasedName, NameError> {
        let fail = |reason| {
            Err(NameError {
                name: name.to_owned(),
                reason,
            })
        };
        let (before, fragment) = match name.split_once('#') {
            Some((b, f)) => (b, f),
            None => (name, ""),
        };
        let Some((host, path)) = before.split_once('/') else {
            return fail("no '/' after the host");
        };
        if host.is_empty() {
            return fail("empty host");
        }
        if let Some(inner) = host.strip_prefix('[') {
            let Some(addr) = inner.strip_suffix(']') else {
                return fail("unclosed '[' in host");
            };
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return fail("bracketed host is not an IPv6 address");
            }
        } else {
            if host.contains(':') {
                return fail("a port is not part of a host-based name");
            }
            let dns_ok = host.split('.').all(|label| {
                let b = label.as_bytes();
                !b.is_empty()
                    && b.len() <= 63
                    && b[0].is_ascii_alphanumeric()
                    && b[b.len() - 1].is_ascii_alphanumeric()
                    && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            });
            if !dns_ok || host.len() > 253 {
                return fail("host is not a DNS name or IP address");
            }
        }
        if path.is_empty() || path.starts_with('/') {
            return fail("empty path");
        }
        if !is_pchars(path, b"/") {
            return fail("path holds characters outside RFC 3986 path-rootless");
        }
        if !is_pchars(fragment, b"/?") {
            return fail("fragment holds characters outside RFC 3986 fragment");
        }
        Ok(HostBasedName {
            name: name.to_owned(),
            host: host.to_ascii_lowercase(),
            path: path.to_owned(),
            fragment: fragment.to_owned(),
        })
    }

    /// The whole name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host (lowercased).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path after the host.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The fragment, empty when there is none.
    pub fn fragment(&self) -> &str {
        &self.fragment
    }

    /// The hosts asked, in order: the host, then its DNS ancestors down to (not including)
    /// the top-level domain. IP literals and single labels have no ancestors.
    pub fn ancestors(&self) -> Vec<String> {
        let host = &self.host;
        if host.starts_with('[') || is_ipv4(host) {
            return vec![host.clone()];
        }
        let labels: Vec<&str> = host.split('.').collect();
        if labels.len() <= 1 {
            return vec![host.clone()];
        }
        (0..labels.len() - 1)
            .map(|i| labels[i..].join("."))
            .collect()
    }
}

/// One engine of a ref-engines object, with the URI its relative references resolve
/// against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// The engine object as published.
    pub raw: Value,
    /// Its `uri` template.
    pub uri: String,
    /// The absolute URL of the document it was found in; `None` for local configuration
    /// (where templates must expand to absolute URLs).
    pub base: Option<String>,
}

/// An index entry selected by the fragment.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The descriptor as published (unknown fields kept).
    pub descriptor: Value,
    /// Its media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// CAS engines the entry itself names (they apply to its content first).
    pub cas_engines: Vec<Engine>,
}

/// `error` followed by each of its causes (`error: cause: cause`).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// What is wrong with an index a ref engine returned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IndexError {
    /// It is not JSON.
    #[error("not JSON")]
    NotJson(#[source] Arc<serde_json::Error>),
    /// It has no `manifests` array.
    #[error("no manifests array")]
    NoManifests,
    /// A selected entry lacks a field (or has one of the wrong JSON type).
    #[error("/manifests/{index}: no {field}")]
    Missing {
        /// The entry's position.
        index: usize,
        /// The field.
        field: &'static str,
    },
    /// A selected entry's digest is not a digest.
    #[error("/manifests/{index}/digest is not a digest")]
    Digest {
        /// The entry's position.
        index: usize,
        /// Why.
        #[source]
        cause: oci_spec_types::digest::Error,
    },
    /// A selected entry's size is not a non-negative integer.
    #[error("/manifests/{index}: size is not a non-negative integer")]
    Size {
        /// The entry's position.
        index: usize,
    },
}

/// Why a URI template gave no URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is not an RFC 6570 template, or does not expand.
    #[error("template {template:?} does not expand")]
    Template {
        /// The template.
        template: String,
        /// Why.
        #[source]
        cause: iri_string::template::Error,
    },
    /// The expansion is not a URI reference.
    #[error("template {template:?} gave {expanded:?}, not a URI")]
    NotUri {
        /// The template.
        template: String,
        /// What it gave.
        expanded: String,
        /// Why.
        #[source]
        cause: iri_string::validate::Error,
    },
    /// The expansion is relative and there is no base to resolve it against.
    #[error("template {template:?} gave the relative {expanded:?} and there is no base")]
    NoBase {
        /// The template.
        template: String,
        /// What it gave.
        expanded: String,
    },
    /// The base is not an absolute URI.
    #[error("base {base:?} is not an absolute URI")]
    Base {
        /// The base.
        base: String,
        /// Why.
        #[source]
        cause: iri_string::validate::Error,
    },
    /// Resolving the expansion against the base gives no RFC 3986 URI.
    #[error("resolving {expanded:?} against {base:?} gives no RFC 3986 URI")]
    Resolve {
        /// What the template gave.
        expanded: String,
        /// The base.
        base: String,
    },
}

/// What is wrong with a local discovery configuration file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// It cannot be read.
    #[error("cannot read it")]
    Read(#[source] Arc<std::io::Error>),
    /// It is not JSON.
    #[error("not JSON")]
    NotJson(#[source] Arc<serde_json::Error>),
    /// It is JSON but not an object.
    #[error("not a JSON object")]
    NotAnObject,
    /// A key is not a regular expression.
    #[error("regular expression {key:?}")]
    Regex {
        /// The key.
        key: String,
        /// Why.
        #[source]
        cause: regex::Error,
    },
    /// A key's value is not a ref-engines object.
    #[error("value of {key:?} is not a ref-engines object")]
    NotRefEngines {
        /// The key.
        key: String,
    },
}

/// A local discovery configuration file is unusable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("discovery configuration {}", path.display())]
pub struct LocalConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    #[source]
    pub cause: ConfigError,
}

/// Local configuration: regular expressions over names mapped to ref-engines objects
/// (`application/vnd.oci.regexp-ref-engines.v1+json`).
#[derive(Debug, Clone, Default)]
pub struct LocalConfig {
    entries: BTreeMap<String, (regex::Regex, Value, PathBuf)>,
}

impl LocalConfig {
    /// Reads one file.
    pub fn load_file(path: &Path) -> Result<LocalConfig, LocalConfigError> {
        let mut config = LocalConfig::default();
        config.merge_file(path, true)?;
        Ok(config)
    }

    /// Reads `oci-discovery/ref-engine-discovery.json` from `$XDG_CONFIG_HOME` (default
    /// `~/.config`), then from each of `$XDG_CONFIG_DIRS` (default `/etc/xdg`); for each
    /// key the most preferred directory wins. Missing files are skipped.
    pub fn load_xdg() -> Result<LocalConfig, LocalConfigError> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(home) => dirs.push(PathBuf::from(home)),
            None => {
                if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                    dirs.push(PathBuf::from(home).join(".config"));
                }
            }
        }
        let config_dirs = std::env::var("XDG_CONFIG_DIRS")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "/etc/xdg".to_owned());
        dirs.extend(
            config_dirs
                .split(':')
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
        );
        let mut config = LocalConfig::default();
        for dir in dirs {
            config.merge_file(&dir.join("oci-discovery/ref-engine-discovery.json"), false)?;
        }
        Ok(config)
    }

    /// Adds the keys of a file that earlier files did not set.
    fn merge_file(&mut self, path: &Path, required: bool) -> Result<(), LocalConfigError> {
        let err = |cause: ConfigError| LocalConfigError {
            path: path.to_path_buf(),
            cause,
        };
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(()),
            Err(e) => return Err(err(ConfigError::Read(Arc::new(e)))),
        };
        let value: Value =
            serde_json::from_slice(&text).map_err(|e| err(ConfigError::NotJson(Arc::new(e))))?;
        let Value::Object(map) = value else {
            return Err(err(ConfigError::NotAnObject));
        };
        for (key, object) in map {
            if self.entries.contains_key(&key) {
                continue;
            }
            let re = regex::Regex::new(&key).map_err(|cause| {
                err(ConfigError::Regex {
                    key: key.clone(),
                    cause,
                })
            })?;
            if !object.is_object() {
                return Err(err(ConfigError::NotRefEngines { key }));
            }
            self.entries.insert(key, (re, object, path.to_path_buf()));
        }
        Ok(())
    }

    /// The ref-engines object of the longest matching regular expression (ties: the first
    /// in byte order), with the file it came from.
    pub fn lookup(&self, name: &str) -> Option<(&str, &Value, &Path)> {
        let mut best: Option<(&String, &Value, &Path)> = None;
        for (key, (re, object, path)) in &self.entries {
            if re.is_match(name) && best.is_none_or(|(b, _, _)| key.len() > b.len()) {
                best = Some((key, object, path));
            }
        }
        best.map(|(k, v, p)| (k.as_str(), v, p))
    }

    /// True when no entries were loaded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The supported engines of one kind (`key`: `refEngines` or `casEngines`) and
/// `protocol` in a ref-engines object (or an index entry), resolved against `base`.
pub fn engines(object: &Value, key: &str, protocol: &str, base: Option<&str>) -> Vec<Engine> {
    object
        .get(key)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|e| e.get("protocol").and_then(Value::as_str) == Some(protocol))
                .filter_map(|e| {
                    let uri = e.get("uri")?.as_str()?;
                    Some(Engine {
                        raw: e.clone(),
                        uri: uri.to_owned(),
                        base: base.map(str::to_owned),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Expands an RFC 6570 template and resolves the result against `base` (RFC 3986
/// section 5); without a base the result must be absolute.
pub fn expand_template(
    template: &str,
    variables: &[(&str, &str)],
    base: Option<&str>,
) -> Result<String, TemplateError> {
    let bad_template = |cause| TemplateError::Template {
        template: template.to_owned(),
        cause,
    };
    let t = UriTemplateStr::new(template).map_err(bad_template)?;
    let mut context = SimpleContext::new();
    for (k, v) in variables {
        context.insert(*k, *v);
    }
    let expanded = t
        .expand::<UriSpec, _>(&context)
        .map_err(bad_template)?
        .to_string();
    let reference = UriReferenceStr::new(&expanded).map_err(|cause| TemplateError::NotUri {
        template: template.to_owned(),
        expanded: expanded.clone(),
        cause,
    })?;
    if let Ok(absolute) = UriAbsoluteStr::new(&expanded) {
        return Ok(absolute.to_string());
    }
    let Some(base) = base else {
        return Err(TemplateError::NoBase {
            template: template.to_owned(),
            expanded,
        });
    };
    let base_uri =
        UriAbsoluteStr::new(base.split('#').next().unwrap_or(base)).map_err(|cause| {
            TemplateError::Base {
                base: base.to_owned(),
                cause,
            }
        })?;
    let resolved = reference.resolve_against(base_uri);
    resolved
        .ensure_rfc3986_normalizable()
        .map_err(|_| TemplateError::Resolve {
            expanded: expanded.clone(),
            base: base.to_owned(),
        })?;
    Ok(resolved.to_string())
}

impl Engine {
    /// Expands this engine's template with the variables and resolves it.
    pub fn expand(&self, variables: &[(&str, &str)]) -> Result<String, TemplateError> {
        expand_template(&self.uri, variables, self.base.as_deref())
    }
}

/// Parses an index returned by a ref engine at `base` and selects its entries whose ref
/// name is `fragment` (every entry when `fragment` is empty).
pub fn select_entries(body: &[u8], fragment: &str, base: &str) -> Result<Vec<Entry>, IndexError> {
    let index: Value =
        serde_json::from_slice(body).map_err(|e| IndexError::NotJson(Arc::new(e)))?;
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or(IndexError::NoManifests)?;
    let mut out = Vec::new();
    for (i, m) in manifests.iter().enumerate() {
        let ref_name = m
            .get("annotations")
            .and_then(|a| a.get(REF_NAME_ANNOTATION))
            .and_then(Value::as_str);
        if !fragment.is_empty() && ref_name != Some(fragment) {
            continue;
        }
        let missing = |field| IndexError::Missing { index: i, field };
        let media_type = m
            .get("mediaType")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("mediaType"))?;
        let digest_str = m
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("digest"))?;
        let digest =
            Digest::parse(digest_str).map_err(|cause| IndexError::Digest { index: i, cause })?;
        let size = m
            .get("size")
            .and_then(Value::as_u64)
            .ok_or(IndexError::Size { index: i })?;
        let cas_engines = engines(m, "casEngines", CAS_TEMPLATE_PROTOCOL, Some(base));
        out.push(Entry {
            descriptor: m.clone(),
            media_type: media_type.to_owned(),
            digest,
            size,
            cas_engines,
        });
    }
    Ok(out)
}
