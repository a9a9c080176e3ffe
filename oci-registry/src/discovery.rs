//! Ref-engine discovery over the network (the OCI discovery drafts): the walk over
//! `https://HOST/.well-known/oci-host-ref-engines` for a name's host and its DNS
//! ancestors, and the ref engines' indexes. Names, templates, index parsing and local
//! configuration are `oci_naming`'s (pure, no I/O).
//!
//! Discovery only says where content may be. Trust comes from digests: whoever fetches a
//! blob through a CAS engine verifies it before storing it.

use std::sync::Arc;

use oci_naming::{
    CAS_TEMPLATE_PROTOCOL, Engine, Entry, HostBasedName, INDEX_MEDIA_TYPE, INDEX_TEMPLATE_PROTOCOL,
    IndexError, LocalConfig, REF_ENGINES_MEDIA_TYPE, REF_NAME_ANNOTATION, TemplateError,
    WELL_KNOWN_PATH, engines, error_chain, select_entries,
};
use oci_spec_types::Digest;
use serde_json::Value;

use crate::http::{Client, FetchError};

/// A host that did not answer, and why.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The host (or `config:FILE` for local configuration).
    pub host: String,
    /// For local configuration, the regular expression that matched the name.
    pub key: Option<String>,
    /// Why it gave nothing: every failure met on the way, in order.
    pub warnings: Vec<Warning>,
}

impl Attempt {
    /// The reasons in one line (`WARNING; WARNING`), each with its causes.
    pub fn reasons(&self) -> String {
        let warnings = self
            .warnings
            .iter()
            .map(|w| error_chain(w))
            .collect::<Vec<_>>()
            .join("; ");
        match &self.key {
            Some(key) => format!("key {key:?}: {warnings}"),
            None => warnings,
        }
    }
}

/// Why one place that discovery asked (a well-known URI, a ref engine) gave nothing;
/// discovery goes on to the next one.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Warning {
    /// A document could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A ref-engines object is not JSON.
    #[error("{url}: not JSON")]
    NotJson {
        /// The URL that answered.
        url: String,
        /// The parse error.
        #[source]
        cause: Arc<serde_json::Error>,
    },
    /// A ref-engines object is JSON but not an object.
    #[error("{url}: not a JSON object")]
    NotAnObject {
        /// The URL that answered.
        url: String,
    },
    /// A ref-engines object names no ref engine of a supported protocol.
    #[error("no {INDEX_TEMPLATE_PROTOCOL} ref engine")]
    NoRefEngine,
    /// A ref engine's template gives no URL.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// An index returned by a ref engine is unusable.
    #[error("{url}: unusable index")]
    Index {
        /// The URL that answered.
        url: String,
        /// What is wrong with it.
        #[source]
        cause: IndexError,
    },
    /// An index has no entry whose ref name is the fragment.
    #[error("{url}: no entry has {REF_NAME_ANNOTATION} {fragment:?}")]
    NoEntry {
        /// The URL that answered.
        url: String,
        /// The fragment looked for.
        fragment: String,
    },
}

/// What discovery found for a name.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The name.
    pub name: String,
    /// The host whose ref-engines object answered, or `config:FILE` for local
    /// configuration.
    pub answered_by: String,
    /// The hosts asked before it, with their failures.
    pub tried: Vec<Attempt>,
    /// The supported ref engines of the answering object.
    pub ref_engines: Vec<Engine>,
    /// The supported CAS engines of the answering object.
    pub cas_engines: Vec<Engine>,
    /// The URL of the index that gave the entries.
    pub index_url: String,
    /// The index entries whose ref name is the fragment (every entry without fragment).
    pub entries: Vec<Entry>,
}

/// Why discovery found nothing. (An unusable local configuration file is
/// [`oci_naming::LocalConfigError`], met when loading it.)
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// No host (nor local configuration) led to a matching index entry.
    #[error("no ref engine resolved {name:?} ({})", describe(attempts))]
    NotFound {
        /// The name.
        name: String,
        /// Every failed attempt, in order.
        attempts: Vec<Attempt>,
        /// Some ref engine returned an index (so the name is rejected rather than
        /// unreachable).
        index_seen: bool,
    },
}

fn describe(attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return "nothing to ask".to_owned();
    }
    attempts
        .iter()
        .map(|a| format!("{}: {}", a.host, a.reasons()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Size limits of discovery documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A ref-engines object.
    pub ref_engines: u64,
    /// An index returned by a ref engine.
    pub index: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ref_engines: 1 << 20,
            index: 4 << 20,
        }
    }
}

impl Discovery {
    /// The URLs to try for a blob, in order: the entry's own CAS engines, then the
    /// answering object's. Templates that fail to expand are skipped.
    pub fn cas_urls(&self, entry: Option<&Entry>, digest: &Digest) -> Vec<String> {
        let vars = [
            ("digest", digest.as_str()),
            ("algorithm", digest.algorithm_name()),
            ("encoded", digest.encoded()),
        ];
        let mut urls: Vec<String> = Vec::new();
        let own = entry.map(|e| e.cas_engines.as_slice()).unwrap_or_default();
        for engine in own.iter().chain(&self.cas_engines) {
            if let Ok(url) = engine.expand(&vars)
                && !urls.contains(&url)
            {
                urls.push(url);
            }
        }
        urls
    }
}

/// Discovery with one client, local configuration and limits.
#[derive(Debug, Clone)]
pub struct Discoverer {
    client: Client,
    local: LocalConfig,
    limits: Limits,
}

/// The outcome of asking one ref-engines object.
enum Asked {
    Found(Box<Discovery>),
    Failed {
        warnings: Vec<Warning>,
        index_seen: bool,
    },
}

impl Discoverer {
    /// A discoverer; `local` is consulted before the network.
    pub fn new(client: Client, local: LocalConfig, limits: Limits) -> Discoverer {
        Discoverer {
            client,
            local,
            limits,
        }
    }

    /// The HTTP client (for fetching blobs through CAS URLs).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Fetches at most `limit` bytes from a URL (a CAS URL, say). The caller verifies the
    /// bytes against the digest it expects before using them.
    pub fn fetch(&self, url: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
        Ok(self
            .client
            .get(url, "application/octet-stream, */*", limit)?
            .body)
    }

    /// Finds the ref engines for a name and the index entries its fragment selects:
    /// local configuration first, then the well-known URI of the host and of each DNS
    /// ancestor in turn (https, then http when insecure).
    pub fn discover(&self, name: &HostBasedName) -> Result<Discovery, DiscoverError> {
        let mut attempts = Vec::new();
        let mut index_seen = false;
        if let Some((key, object, path)) = self.local.lookup(name.name()) {
            let label = format!("config:{}", path.display());
            match self.ask(name, object, None, &label, &mut Vec::new()) {
                Asked::Found(mut d) => {
                    d.tried = attempts;
                    return Ok(*d);
                }
                Asked::Failed {
                    warnings,
                    index_seen: seen,
                } => {
                    index_seen |= seen;
                    attempts.push(Attempt {
                        host: label,
                        key: Some(key.to_owned()),
                        warnings,
                    });
                }
            }
        }
        let schemes: &[&str] = if self.client.options().insecure {
            &["https", "http"]
        } else {
            &["https"]
        };
        for host in name.ancestors() {
            let mut warnings = Vec::new();
            for scheme in schemes {
                let url = format!("{scheme}://{host}{WELL_KNOWN_PATH}");
                let fetched =
                    match self
                        .client
                        .get(&url, REF_ENGINES_MEDIA_TYPE, self.limits.ref_engines)
                    {
                        Ok(f) => f,
                        Err(e) => {
                            warnings.push(Warning::Fetch(e));
                            continue;
                        }
                    };
                let object: Value = match serde_json::from_slice(&fetched.body) {
                    Ok(v @ Value::Object(_)) => v,
                    Ok(_) => {
                        warnings.push(Warning::NotAnObject { url: fetched.url });
                        continue;
                    }
                    Err(e) => {
                        warnings.push(Warning::NotJson {
                            url: fetched.url,
                            cause: Arc::new(e),
                        });
                        continue;
                    }
                };
                let mut tried_so_far = attempts.clone();
                match self.ask(name, &object, Some(&fetched.url), &host, &mut tried_so_far) {
                    Asked::Found(d) => return Ok(*d),
                    Asked::Failed {
                        warnings: more,
                        index_seen: seen,
                    } => {
                        index_seen |= seen;
                        warnings.extend(more);
                    }
                }
                break;
            }
            attempts.push(Attempt {
                host,
                key: None,
                warnings,
            });
        }
        Err(DiscoverError::NotFound {
            name: name.name().to_owned(),
            attempts,
            index_seen,
        })
    }

    /// Tries the supported ref engines of one object in order.
    fn ask(
        &self,
        name: &HostBasedName,
        object: &Value,
        base: Option<&str>,
        label: &str,
        tried: &mut Vec<Attempt>,
    ) -> Asked {
        let ref_engines = engines(object, "refEngines", INDEX_TEMPLATE_PROTOCOL, base);
        let cas_engines = engines(object, "casEngines", CAS_TEMPLATE_PROTOCOL, base);
        if ref_engines.is_empty() {
            return Asked::Failed {
                warnings: vec![Warning::NoRefEngine],
                index_seen: false,
            };
        }
        let vars = [
            ("name", name.name()),
            ("host", name.host()),
            ("path", name.path()),
            ("fragment", name.fragment()),
        ];
        let mut warnings = Vec::new();
        let mut index_seen = false;
        for engine in &ref_engines {
            let url = match engine.expand(&vars) {
                Ok(u) => u,
                Err(e) => {
                    warnings.push(Warning::Template(e));
                    continue;
                }
            };
            let fetched = match self.client.get(&url, INDEX_MEDIA_TYPE, self.limits.index) {
                Ok(f) => f,
                Err(e) => {
                    warnings.push(Warning::Fetch(e));
                    continue;
                }
            };
            let entries = match select_entries(&fetched.body, name.fragment(), &fetched.url) {
                Ok(e) => e,
                Err(cause) => {
                    warnings.push(Warning::Index {
                        url: fetched.url,
                        cause,
                    });
                    continue;
                }
            };
            index_seen = true;
            if entries.is_empty() {
                warnings.push(Warning::NoEntry {
                    url: fetched.url,
                    fragment: name.fragment().to_owned(),
                });
                continue;
            }
            return Asked::Found(Box::new(Discovery {
                name: name.name().to_owned(),
                answered_by: label.to_owned(),
                tried: std::mem::take(tried),
                ref_engines,
                cas_engines,
                index_url: fetched.url,
                entries,
            }));
        }
        Asked::Failed {
            warnings,
            index_seen,
        }
    }
}
