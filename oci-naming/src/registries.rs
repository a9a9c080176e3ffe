//! containers-registries.conf(5) version 2, read as containers/image 5.23 (skopeo 1.9)
//! reads it: `[[registry]]` tables chosen by longest prefix, `*.example.com` wildcards,
//! prefix rewriting into `location`, mirrors, `blocked`, short names (search registries,
//! `short-name-mode`, `[aliases]`) and drop-ins from `registries.conf.d`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::reference::{Dialect, Error as ReferenceError, Reference};

/// When a mirror is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullFromMirror {
    /// For pulls by tag and by digest (the default).
    #[default]
    All,
    /// Only for pulls by digest.
    DigestOnly,
    /// Only for pulls by tag.
    TagOnly,
}

/// A `[[registry.mirror]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Where the mirrored namespace lives.
    pub location: String,
    /// Plain HTTP or unverified TLS allowed.
    pub insecure: bool,
    /// Which pulls use this mirror.
    pub pull_from_mirror: PullFromMirror,
}

/// A `[[registry]]` table, after the checks and defaults containers/image applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// The names this table applies to (`host[:port][/namespace...]` or `*.domain`).
    pub prefix: String,
    /// Where those names physically live; empty only for a wildcard prefix (no rewrite).
    pub location: String,
    /// Plain HTTP or unverified TLS allowed.
    pub insecure: bool,
    /// Pulls of matching names are refused.
    pub blocked: bool,
    /// Mirrors are used only for pulls by digest.
    pub mirror_by_digest_only: bool,
    /// Mirrors, tried in order before the location.
    pub mirrors: Vec<Mirror>,
}

/// The `short-name-mode` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShortNameMode {
    /// An ambiguous short name needs a choice at a terminal; without one it is an error.
    Enforcing,
    /// Like enforcing, but without a terminal every search registry is tried.
    #[default]
    Permissive,
    /// Every search registry is tried.
    Disabled,
}

/// Why a registries.conf could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// The file or directory could not be read.
    #[error("cannot read registries configuration {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("loading registries configuration {path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The file is TOML but breaks a rule of containers-registries.conf(5).
    #[error("invalid registries configuration {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Why a name cannot be pulled, or resolved to places to pull it from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The name is not a reference.
    #[error("{input:?} is not a valid reference")]
    Reference {
        /// The input.
        input: String,
        /// The parse error.
        source: ReferenceError,
    },
    /// Every candidate is in a blocked namespace.
    #[error("registry {prefix} is blocked in the registries configuration (pulling {reference})")]
    Blocked {
        /// The (first) refused reference.
        reference: String,
        /// The prefix of the blocking `[[registry]]` table.
        prefix: String,
    },
    /// A short name matches several search registries, in enforcing mode, without a
    /// terminal to ask at.
    #[error(
        "short-name resolution enforced but cannot prompt without a TTY: {input:?} could be any of {}",
        candidates.join(", ")
    )]
    Ambiguous {
        /// The short name.
        input: String,
        /// The possible references.
        candidates: Vec<String>,
    },
    /// A short name with no alias and no search registries.
    #[error(
        "short-name {input:?} did not resolve to an alias and no unqualified-search registries are defined"
    )]
    NoSearchRegistries {
        /// The short name.
        input: String,
    },
    /// Rewriting into a location gave something that is not a canonical reference.
    #[error("rewriting reference {reference} with location {location:?}")]
    Rewrite {
        /// The logical reference.
        reference: String,
        /// The location it was rewritten into.
        location: String,
        /// The parse error of the result.
        source: ReferenceError,
    },
}

/// A reference left out, with the prefix of the blocked table that covers it.
type Refused = (String, String);

/// One physical reference a pull tries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullSource {
    /// The physical reference.
    pub reference: String,
    /// It comes from a mirror table.
    pub mirror: bool,
    /// Plain HTTP or unverified TLS allowed for it.
    pub insecure: bool,
}

/// How the candidates of a name were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rationale {
    /// The name was fully qualified.
    None,
    /// An `[aliases]` entry.
    Alias,
    /// The unqualified-search registries.
    SearchRegistries,
}

/// What a pull of a name would try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The logical references, in order.
    pub candidates: Vec<Reference>,
    /// Where they came from.
    pub rationale: Rationale,
    /// The physical references, in the order a pull tries them (per candidate: mirrors,
    /// then the location); blocked ones are left out.
    pub sources: Vec<PullSource>,
    /// References left out because a blocked `[[registry]]` table covers them.
    pub blocked: Vec<String>,
    /// A short name with several candidates in enforcing or permissive mode at a terminal:
    /// a pull would ask which one to use.
    pub needs_choice: bool,
}

/// Where to read the configuration from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigLocations {
    /// The main file.
    pub file: PathBuf,
    /// A missing main file is an error (true when it was named explicitly).
    pub file_required: bool,
    /// Drop-in directories, in loading order; missing ones are skipped.
    pub dirs: Vec<PathBuf>,
}

impl ConfigLocations {
    /// The locations containers/image uses: an explicit file (with the system and user
    /// drop-in directories), else `$HOME/.config/containers/registries.conf` when it exists
    /// (with only the user drop-ins), else `/etc/containers/registries.conf`. An explicit
    /// drop-in directory replaces the default ones.
    pub fn containers_default(
        file: Option<&Path>,
        dir: Option<&Path>,
        home: Option<&Path>,
    ) -> ConfigLocations {
        let user_file = home.map(|h| h.join(".config/containers/registries.conf"));
        let user_dir = home.map(|h| h.join(".config/containers/registries.conf.d"));
        let system_dir = PathBuf::from("/etc/containers/registries.conf.d");
        let explicit_dirs = dir.map(|d| vec![d.to_path_buf()]);
        if let Some(file) = file {
            return ConfigLocations {
                file: file.to_path_buf(),
                file_required: true,
                dirs: explicit_dirs
                    .unwrap_or_else(|| std::iter::once(system_dir).chain(user_dir).collect()),
            };
        }
        if let Some(user_file) = user_file.filter(|f| f.exists()) {
            return ConfigLocations {
                file: user_file,
                file_required: false,
                dirs: explicit_dirs.unwrap_or_else(|| user_dir.into_iter().collect()),
            };
        }
        ConfigLocations {
            file: PathBuf::from("/etc/containers/registries.conf"),
            file_required: false,
            dirs: explicit_dirs
                .unwrap_or_else(|| std::iter::once(system_dir).chain(user_dir).collect()),
        }
    }
}

/// A loaded registries configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistriesConf {
    /// `[[registry]]` tables, one per prefix, sorted by prefix.
    pub registries: Vec<Registry>,
    /// `unqualified-search-registries`, in order.
    pub unqualified_search_registries: Vec<String>,
    /// `short-name-mode`.
    pub short_name_mode: ShortNameMode,
    /// `[aliases]`: short name to fully qualified name; `None` where a later file erased it.
    pub aliases: BTreeMap<String, Option<Reference>>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    search_set: bool,
    mode_set: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawMirror {
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    pull_from_mirror: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawRegistry {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    pull_from_mirror: String,
    #[serde(default)]
    mirror: Vec<RawMirror>,
}

#[derive(Debug, Default, Deserialize)]
struct RawList {
    #[serde(default)]
    registries: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RawV1 {
    #[serde(default)]
    search: RawList,
    #[serde(default)]
    insecure: RawList,
    #[serde(default)]
    block: RawList,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawFile {
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(default)]
    registry: Vec<RawRegistry>,
    #[serde(default)]
    short_name_mode: String,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    registries: Option<RawV1>,
}

fn parse_location(input: &str, path: &Path) -> Result<String, ConfError> {
    let trimmed = input.trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        return Err(ConfError::Invalid {
            path: path.to_path_buf(),
            message: format!("invalid location {input:?}: URI schemes are not supported"),
        });
    }
    Ok(trimmed.to_owned())
}

fn invalid(path: &Path, message: String) -> ConfError {
    ConfError::Invalid {
        path: path.to_path_buf(),
        message,
    }
}

/// A short name for `[aliases]`: no tag, no digest, no registry.
fn validate_short_name(name: &str, path: &Path) -> Result<(), ConfError> {
    let r = Dialect::ContainersImage
        .parse(name)
        .map_err(|e| invalid(path, format!("cannot parse short name {name:?}: {e}")))?;
    if r.digest().is_some() {
        return Err(invalid(
            path,
            format!("invalid short name {name:?}: must not contain digest"),
        ));
    }
    if r.tag().is_some() {
        return Err(invalid(
            path,
            format!("invalid short name {name:?}: must not contain tag"),
        ));
    }
    if has_registry(r.domain()) {
        return Err(invalid(
            path,
            format!("invalid short name {name:?}: must not contain registry"),
        ));
    }
    Ok(())
}

/// An alias value: fully qualified, without tag or digest.
fn parse_alias_value(value: &str, path: &Path) -> Result<Reference, ConfError> {
    let r = Dialect::ContainersImage
        .parse(value)
        .map_err(|e| invalid(path, format!("parsing alias {value:?}: {e}")))?;
    if r.digest().is_some() {
        return Err(invalid(
            path,
            format!("invalid alias {value:?}: must not contain digest"),
        ));
    }
    if r.tag().is_some() {
        return Err(invalid(
            path,
            format!("invalid alias {value:?}: must not contain tag"),
        ));
    }
    if !has_registry(r.domain()) {
        return Err(invalid(
            path,
            format!("invalid alias {value:?}: must contain registry and repository"),
        ));
    }
    Dialect::ContainersImage
        .parse_normalized(value)
        .map_err(|e| invalid(path, format!("parsing alias {value:?}: {e}")))
}

/// containers/image's test for "this first component names a registry".
fn has_registry(domain: &str) -> bool {
    domain.contains(['.', ':']) || domain == "localhost"
}

impl RegistriesConf {
    /// Parses one file's text; `drop_in` forbids the version 1 format, as for drop-ins.
    pub fn parse_str(text: &str, path: &Path, drop_in: bool) -> Result<RegistriesConf, ConfError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfError::Toml {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let mut raw = raw;
        if let Some(v1) = raw.registries.take() {
            let v1_used = !(v1.search.registries.is_empty()
                && v1.insecure.registries.is_empty()
                && v1.block.registries.is_empty());
            if v1_used {
                if drop_in {
                    return Err(invalid(
                        path,
                        "drop-in files must use the version 2 format".into(),
                    ));
                }
                if !raw.registry.is_empty() || raw.unqualified_search_registries.is_some() {
                    return Err(invalid(
                        path,
                        "mixing sysregistry v1/v2 is not supported".into(),
                    ));
                }
                raw = convert_v1(v1, raw, path)?;
            }
        }
        let mut registries: Vec<Registry> = Vec::new();
        for r in raw.registry {
            let location = parse_location(&r.location, path)?;
            let prefix = if r.prefix.is_empty() {
                if location.is_empty() {
                    return Err(invalid(
                        path,
                        "invalid condition: both location and prefix are unset".into(),
                    ));
                }
                location.clone()
            } else {
                let prefix = parse_location(&r.prefix, path)?;
                if !prefix.starts_with("*.") && location.is_empty() {
                    return Err(invalid(
                        path,
                        "invalid condition: location is unset and prefix is not in the format: *.example.com".into(),
                    ));
                }
                prefix
            };
            if !r.pull_from_mirror.is_empty() {
                return Err(invalid(
                    path,
                    format!("pull-from-mirror is not supported by registry {location:?}"),
                ));
            }
            let mut mirrors = Vec::new();
            for m in r.mirror {
                let mirror_location = parse_location(&m.location, path)?;
                if mirror_location.is_empty() {
                    return Err(invalid(
                        path,
                        "invalid condition: mirror location is unset".into(),
                    ));
                }
                if r.mirror_by_digest_only && !m.pull_from_mirror.is_empty() {
                    return Err(invalid(
                        path,
                        format!(
                            "cannot set mirror usage mirror-by-digest-only for the registry ({location:?}) and pull-from-mirror for per-mirror ({mirror_location:?}) at the same time"
                        ),
                    ));
                }
                let pull_from_mirror = match m.pull_from_mirror.as_str() {
                    "" | "all" => PullFromMirror::All,
                    "digest-only" => PullFromMirror::DigestOnly,
                    "tag-only" => PullFromMirror::TagOnly,
                    other => {
                        return Err(invalid(
                            path,
                            format!(
                                "unsupported pull-from-mirror value {other:?} for mirror {mirror_location:?}"
                            ),
                        ));
                    }
                };
                mirrors.push(Mirror {
                    location: mirror_location,
                    insecure: m.insecure,
                    pull_from_mirror,
                });
            }
            registries.push(Registry {
                prefix,
                location,
                insecure: r.insecure,
                blocked: r.blocked,
                mirror_by_digest_only: r.mirror_by_digest_only,
                mirrors,
            });
        }
        // Tables sharing a location (or wildcard prefix) must agree on insecure and blocked.
        for (i, a) in registries.iter().enumerate() {
            let key = |r: &Registry| {
                if r.location.is_empty() {
                    r.prefix.clone()
                } else {
                    r.location.clone()
                }
            };
            for b in &registries[i + 1..] {
                if key(a) != key(b) {
                    continue;
                }
                if a.insecure != b.insecure {
                    return Err(invalid(
                        path,
                        format!(
                            "registry {:?} is defined multiple times with conflicting 'insecure' setting",
                            a.location
                        ),
                    ));
                }
                if a.blocked != b.blocked {
                    return Err(invalid(
                        path,
                        format!(
                            "registry {:?} is defined multiple times with conflicting 'blocked' setting",
                            a.location
                        ),
                    ));
                }
            }
        }
        // The first table of a prefix wins; the list is kept sorted by prefix.
        let mut by_prefix: BTreeMap<String, Registry> = BTreeMap::new();
        for r in registries {
            by_prefix.entry(r.prefix.clone()).or_insert(r);
        }
        let search_set = raw.unqualified_search_registries.is_some();
        let mut search = Vec::new();
        for entry in raw.unqualified_search_registries.unwrap_or_default() {
            let registry = parse_location(&entry, path)?;
            if !crate::grammar::is_domain(&registry, Dialect::ContainersImage) {
                return Err(invalid(
                    path,
                    format!("invalid unqualified-search-registries entry {registry:?}"),
                ));
            }
            search.push(registry);
        }
        let (short_name_mode, mode_set) = match raw.short_name_mode.as_str() {
            "" => (ShortNameMode::default(), false),
            "enforcing" => (ShortNameMode::Enforcing, true),
            "permissive" => (ShortNameMode::Permissive, true),
            "disabled" => (ShortNameMode::Disabled, true),
            other => return Err(invalid(path, format!("invalid short-name mode: {other:?}"))),
        };
        let mut aliases = BTreeMap::new();
        for (name, value) in raw.aliases {
            validate_short_name(&name, path)?;
            let target = if value.is_empty() {
                None
            } else {
                Some(parse_alias_value(&value, path)?)
            };
            aliases.insert(name, target);
        }
        Ok(RegistriesConf {
            registries: by_prefix.into_values().collect(),
            unqualified_search_registries: search,
            short_name_mode,
            aliases,
            files: vec![path.to_path_buf()],
            search_set,
            mode_set,
        })
    }

    /// Loads the main file, then every `*.conf` in each drop-in directory in name order;
    /// later files replace whole `[[registry]]` tables of the same prefix, the search list,
    /// the mode, and single aliases.
    pub fn load(locations: &ConfigLocations) -> Result<RegistriesConf, ConfError> {
        let mut conf = match std::fs::read_to_string(&locations.file) {
            Ok(text) => RegistriesConf::parse_str(&text, &locations.file, false)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !locations.file_required => {
                RegistriesConf::default()
            }
            Err(source) => {
                return Err(ConfError::Io {
                    path: locations.file.clone(),
                    source,
                });
            }
        };
        for dir in &locations.dirs {
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(ConfError::Io {
                        path: dir.clone(),
                        source,
                    });
                }
            };
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|source| ConfError::Io {
                    path: dir.clone(),
                    source,
                })?;
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                let name = entry.file_name();
                if !is_dir && name.to_string_lossy().ends_with(".conf") {
                    files.push(entry.path());
                }
            }
            files.sort();
            for file in files {
                let text = std::fs::read_to_string(&file).map_err(|source| ConfError::Io {
                    path: file.clone(),
                    source,
                })?;
                let drop_in = RegistriesConf::parse_str(&text, &file, true)?;
                conf.update_with(drop_in);
            }
        }
        Ok(conf)
    }

    fn update_with(&mut self, updates: RegistriesConf) {
        let mut by_prefix: BTreeMap<String, Registry> = self
            .registries
            .drain(..)
            .map(|r| (r.prefix.clone(), r))
            .collect();
        for r in updates.registries {
            by_prefix.insert(r.prefix.clone(), r);
        }
        self.registries = by_prefix.into_values().collect();
        if updates.search_set {
            self.unqualified_search_registries = updates.unqualified_search_registries;
            self.search_set = true;
        }
        if updates.mode_set {
            self.short_name_mode = updates.short_name_mode;
            self.mode_set = true;
        }
        self.aliases.extend(updates.aliases);
        self.files.extend(updates.files);
    }

    /// The `[[registry]]` table for a name (`host[:port]/path`, no tag): the longest
    /// matching prefix, the first in prefix order on ties.
    pub fn find_registry(&self, name: &str) -> Option<&Registry> {
        let mut best: Option<&Registry> = None;
        for r in &self.registries {
            if ref_matching_prefix(name, &r.prefix).is_some()
                && best.is_none_or(|b| r.prefix.len() > b.prefix.len())
            {
                best = Some(r);
            }
        }
        best
    }

    /// The physical references a pull of a fully qualified reference tries: matching
    /// mirrors, then the location.
    ///
    /// Blocking is enforced twice: a reference whose own `[[registry]]` table is blocked is
    /// refused (as containers-registries.conf(5) says), and each physical reference whose
    /// host has a blocked table is left out (what containers/image 5.23 checks, host by
    /// host). When nothing is left, the pull is refused.
    pub fn pull_sources(&self, reference: &Reference) -> Result<Vec<PullSource>, ResolveError> {
        let (sources, blocked) = self.pull_sources_and_blocked(reference)?;
        match (sources.is_empty(), blocked.into_iter().next()) {
            (true, Some((reference, prefix))) => Err(ResolveError::Blocked { reference, prefix }),
            _ => Ok(sources),
        }
    }

    /// The usable sources, and the refused ones with the prefix that blocks each.
    fn pull_sources_and_blocked(
        &self,
        reference: &Reference,
    ) -> Result<(Vec<PullSource>, Vec<Refused>), ResolveError> {
        let name = reference.name();
        let full = reference.to_string();
        let registry = self.find_registry(&name);
        if let Some(r) = registry.filter(|r| r.blocked) {
            return Ok((Vec::new(), vec![(full, r.prefix.clone())]));
        }
        let mut endpoints: Vec<(&str, bool, bool)> = Vec::new();
        let mut prefix_len = full.len();
        if let Some(registry) = registry {
            let digested = reference.digest().is_some();
            for m in &registry.mirrors {
                let used = if registry.mirror_by_digest_only {
                    digested
                } else {
                    match m.pull_from_mirror {
                        PullFromMirror::All => true,
                        PullFromMirror::DigestOnly => digested,
                        PullFromMirror::TagOnly => !digested,
                    }
                };
                if used {
                    endpoints.push((&m.location, true, m.insecure));
                }
            }
            endpoints.push((&registry.location, false, registry.insecure));
            prefix_len = ref_matching_prefix(&full, &registry.prefix).ok_or_else(|| {
                ResolveError::Rewrite {
                    reference: full.clone(),
                    location: registry.location.clone(),
                    source: ReferenceError::InvalidFormat {
                        input: full.clone(),
                    },
                }
            })?;
        } else {
            endpoints.push(("", false, false));
        }
        let mut sources = Vec::new();
        let mut blocked = Vec::new();
        for (location, mirror, insecure) in endpoints {
            let physical = if location.is_empty() {
                reference.clone()
            } else {
                let candidate = format!("{location}{}", &full[prefix_len..]);
                Dialect::ContainersImage
                    .parse_canonical(&candidate)
                    .map_err(|source| ResolveError::Rewrite {
                        reference: full.clone(),
                        location: location.to_owned(),
                        source,
                    })?
            };
            let host = self.find_registry(physical.domain());
            if let Some(h) = host.filter(|h| h.blocked) {
                blocked.push((physical.to_string(), h.prefix.clone()));
                continue;
            }
            sources.push(PullSource {
                reference: physical.to_string(),
                mirror,
                insecure: insecure || host.is_some_and(|h| h.insecure),
            });
        }
        Ok((sources, blocked))
    }

    /// Resolves what a user typed, as podman does before pulling: fully qualified names
    /// stand for themselves (with `:latest` added to bare names); short names go through
    /// `[aliases]`, then the search registries under `short-name-mode`. `interactive` says
    /// whether a terminal could ask the user to choose.
    pub fn resolve(&self, input: &str, interactive: bool) -> Result<Resolution, ResolveError> {
        let parse_err = |source| ResolveError::Reference {
            input: input.to_owned(),
            source,
        };
        let strict = Dialect::ContainersImage.parse(input).map_err(parse_err)?;
        let (candidates, rationale) = if has_registry(strict.domain()) {
            let named = Dialect::ContainersImage
                .parse_normalized(input)
                .map_err(parse_err)?;
            (vec![named.with_default_tag()], Rationale::None)
        } else {
            let repo = strict.trim().to_string();
            let retag = |mut base: Reference| -> Result<Reference, ResolveError> {
                if let Some(tag) = strict.tag() {
                    base = base.with_tag(tag).map_err(parse_err)?;
                }
                if let Some(digest) = strict.digest() {
                    base = base.with_digest(digest).map_err(parse_err)?;
                }
                Ok(base.with_default_tag())
            };
            if let Some(Some(alias)) = self.aliases.get(&repo) {
                (vec![retag(alias.clone())?], Rationale::Alias)
            } else {
                if self.unqualified_search_registries.is_empty() {
                    return Err(ResolveError::NoSearchRegistries {
                        input: input.to_owned(),
                    });
                }
                let mut candidates = Vec::new();
                for registry in &self.unqualified_search_registries {
                    let named = Dialect::ContainersImage
                        .parse_normalized(&format!("{registry}/{input}"))
                        .map_err(parse_err)?;
                    candidates.push(named.with_default_tag());
                }
                (candidates, Rationale::SearchRegistries)
            }
        };
        let mut needs_choice = false;
        if rationale == Rationale::SearchRegistries
            && candidates.len() > 1
            && self.short_name_mode != ShortNameMode::Disabled
        {
            if interactive {
                needs_choice = true;
            } else if self.short_name_mode == ShortNameMode::Enforcing {
                return Err(ResolveError::Ambiguous {
                    input: input.to_owned(),
                    candidates: candidates.iter().map(ToString::to_string).collect(),
                });
            }
        }
        let mut sources = Vec::new();
        let mut blocked = Vec::new();
        for candidate in &candidates {
            let (s, b) = self.pull_sources_and_blocked(candidate)?;
            sources.extend(s);
            blocked.extend(b);
        }
        if sources.is_empty()
            && let Some((reference, prefix)) = blocked.first().cloned()
        {
            return Err(ResolveError::Blocked { reference, prefix });
        }
        let blocked = blocked
            .into_iter()
            .map(|(reference, _)| reference)
            .collect();
        Ok(Resolution {
            candidates,
            rationale,
            sources,
            blocked,
            needs_choice,
        })
    }
}

fn convert_v1(v1: RawV1, mut raw: RawFile, path: &Path) -> Result<RawFile, ConfError> {
    let mut order: Vec<String> = Vec::new();
    let mut map: BTreeMap<String, RawRegistry> = BTreeMap::new();
    let mut get = |location: &str| -> Result<String, ConfError> {
        let location = parse_location(location, path)?;
        if !map.contains_key(&location) {
            map.insert(
                location.clone(),
                RawRegistry {
                    prefix: location.clone(),
                    location: location.clone(),
                    insecure: false,
                    blocked: false,
                    mirror_by_digest_only: false,
                    pull_from_mirror: String::new(),
                    mirror: Vec::new(),
                },
            );
            order.push(location.clone());
        }
        Ok(location)
    };
    let mut blocked = Vec::new();
    for b in &v1.block.registries {
        blocked.push(get(b)?);
    }
    let mut insecure = Vec::new();
    for i in &v1.insecure.registries {
        insecure.push(get(i)?);
    }
    for b in blocked {
        if let Some(r) = map.get_mut(&b) {
            r.blocked = true;
        }
    }
    for i in insecure {
        if let Some(r) = map.get_mut(&i) {
            r.insecure = true;
        }
    }
    raw.unqualified_search_registries = Some(v1.search.registries);
    raw.registry = order.iter().filter_map(|l| map.remove(l)).collect();
    Ok(raw)
}

/// containers/image's `refMatchingPrefix`: the length of the matched prefix when `name`
/// starts with `prefix` followed by its end, `:`, `/` or `@`.
pub fn ref_matching_prefix(name: &str, prefix: &str) -> Option<usize> {
    if prefix.starts_with("*.") {
        // `*.example.com`: the first occurrence of `.example.com`, before any slash.
        let suffix = &prefix[1..];
        let index = name.find(suffix)?;
        if name[..index].contains('/') {
            return None;
        }
        let end = index + suffix.len();
        return match name.as_bytes().get(end) {
            None | Some(b':' | b'/' | b'@') => Some(end),
            Some(_) => None,
        };
    }
    if !name.starts_with(prefix) {
        return None;
    }
    match name.as_bytes().get(prefix.len()) {
        None | Some(b':' | b'/' | b'@') => Some(prefix.len()),
        Some(_) => None,
    }
}
