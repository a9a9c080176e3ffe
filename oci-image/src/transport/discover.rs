//! The `discover:HOST/PATH[#FRAGMENT]` copy source: ref-engine discovery names the root
//! (the index entry the fragment selects), and blobs come through the CAS engines.
//!
//! # Security
//!
//! Discovery only says where content may be: every blob is verified against its
//! descriptor's digest and size while it streams (a CAS engine sending more bytes than
//! the descriptor says is cut off at the first extra byte), and nothing a CAS engine
//! sends is trusted before its last byte has been checked.

use std::io::{self, Read};

use oci_digest::{VerifyError, VerifyingReader};
use oci_naming::{Entry, HostBasedName};
use oci_registry::discovery::{DiscoverError, Discoverer, Discovery};
use oci_registry::http::FetchError;
use oci_spec_types::{Descriptor, Digest, Platform, PlatformMatcher};

use super::{BlobOpenError, BlobReader, CasFailures, Damage, Location, Source, Transport};

/// What a CAS engine is asked to send.
const BLOB_ACCEPT: &str = "application/octet-stream, */*";

/// Why a `discover:` source could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverSourceError {
    /// The name is not a host-based image name.
    #[error("discover:{name}")]
    Name {
        /// The name as given.
        name: String,
        /// Why it is not one.
        source: oci_naming::NameError,
    },
    /// Discovery found no index entry for the name.
    #[error("discover:{name}")]
    Discover {
        /// The name.
        name: String,
        /// What discovery tried.
        source: DiscoverError,
    },
    /// Several images answer to the name (no fragment, and entries of several ref names
    /// or digests).
    #[error(
        "discover:{name}: {count} index entries of several images match (ref names: {}); name one with #FRAGMENT",
        refs.join(", ")
    )]
    NotOne {
        /// The name.
        name: String,
        /// How many entries matched.
        count: usize,
        /// Their ref names.
        refs: Vec<String>,
    },
    /// Several entries match and none is for the wanted platform.
    #[error(
        "discover:{name}: no index entry for platform {wanted} (available: {})",
        available.join(", ")
    )]
    NoPlatform {
        /// The name.
        name: String,
        /// The platform asked for (or the host's).
        wanted: String,
        /// The platforms of the entries (`none` for an entry without one).
        available: Vec<String>,
    },
    /// The selected index entry is not a valid descriptor.
    #[error("discover:{name}: index entry {digest} at {index_url} is not a valid descriptor")]
    BadEntry {
        /// The name.
        name: String,
        /// The entry's digest.
        digest: Digest,
        /// The index it came from.
        index_url: String,
        /// What the descriptor parser found.
        #[source]
        source: serde_json::Error,
    },
}

impl DiscoverSourceError {
    /// Whether this is a check failure (exit 1: an invalid name, a ref engine that
    /// answered without the name, an invalid entry) rather than a network or
    /// configuration error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            DiscoverSourceError::Discover { source, .. } => matches!(
                source,
                DiscoverError::NotFound {
                    index_seen: true,
                    ..
                }
            ),
            DiscoverSourceError::Name { .. }
            | DiscoverSourceError::NotOne { .. }
            | DiscoverSourceError::NoPlatform { .. }
            | DiscoverSourceError::BadEntry { .. } => true,
        }
    }
}

/// A `discover:` source: the root is the index entry the name's fragment selects, and
/// blobs are fetched through the CAS engines (the entry's own first, then those of the
/// ref-engines object), verified as they stream.
#[derive(Debug)]
pub struct DiscoverSource {
    name: String,
    discoverer: Discoverer,
    discovery: Discovery,
    entry: usize,
    root: Descriptor,
    candidates: Vec<Descriptor>,
}

impl DiscoverSource {
    /// `discover:NAME` -> discovery, then the index entry the fragment selects (several:
    /// the first for `platform`, default this machine's; one entry is taken whatever its
    /// platform unless a platform was asked for). Blobs come through the CAS engines,
    /// verified.
    pub fn open(
        name: &str,
        discoverer: Discoverer,
        platform: Option<&Platform>,
    ) -> Result<DiscoverSource, DiscoverSourceError> {
        Self::open_with(name, discoverer, platform, false)
    }

    /// As [`open`](Self::open) without a platform, keeping every matching entry as a
    /// candidate ([`Source::candidates`]); the root is the entry for this machine's
    /// platform, else the first.
    pub fn open_all(
        name: &str,
        discoverer: Discoverer,
    ) -> Result<DiscoverSource, DiscoverSourceError> {
        Self::open_with(name, discoverer, None, true)
    }

    fn open_with(
        name: &str,
        discoverer: Discoverer,
        platform: Option<&Platform>,
        all: bool,
    ) -> Result<DiscoverSource, DiscoverSourceError> {
        let parsed = HostBasedName::parse(name).map_err(|source| DiscoverSourceError::Name {
            name: name.to_owned(),
            source,
        })?;
        let discovery =
            discoverer
                .discover(&parsed)
                .map_err(|source| DiscoverSourceError::Discover {
                    name: name.to_owned(),
                    source,
                })?;
        let entry = match pick_entry(name, &discovery.entries, platform) {
            Err(DiscoverSourceError::NoPlatform { .. }) if all => 0,
            other => other?,
        };
        let descriptor_of = |chosen: &Entry| -> Result<Descriptor, DiscoverSourceError> {
            let mut raw = chosen.descriptor.clone();
            if let Some(object) = raw.as_object_mut() {
                // Discovery's own member: where to fetch, not what the content is.
                object.remove("casEngines");
            }
            serde_json::from_value(raw).map_err(|e| DiscoverSourceError::BadEntry {
                name: name.to_owned(),
                digest: chosen.digest.clone(),
                index_url: discovery.index_url.clone(),
                source: e,
            })
        };
        let root = descriptor_of(&discovery.entries[entry])?;
        let candidates = if all && discovery.entries.len() > 1 {
            discovery
                .entries
                .iter()
                .map(descriptor_of)
                .collect::<Result<Vec<_>, _>>()?
        } else {
            vec![root.clone()]
        };
        Ok(DiscoverSource {
            name: name.to_owned(),
            discoverer,
            discovery,
            entry,
            root,
            candidates,
        })
    }

    /// What discovery found (the answering host, the engines, the matching entries).
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// The index entry the root comes from.
    pub fn entry(&self) -> &Entry {
        &self.discovery.entries[self.entry]
    }

    /// The URLs a blob is fetched from, in the order they are tried.
    pub fn blob_urls(&self, digest: &Digest) -> Vec<String> {
        self.discovery.cas_urls(Some(self.entry()), digest)
    }
}

/// The entry to copy among those discovery matched.
fn pick_entry(
    name: &str,
    entries: &[Entry],
    platform: Option<&Platform>,
) -> Result<usize, DiscoverSourceError> {
    let ref_name = |e: &Entry| {
        e.descriptor
            .get("annotations")
            .and_then(|a| a.get(oci_naming::REF_NAME_ANNOTATION))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let entry_platform = |e: &Entry| -> Option<Platform> {
        e.descriptor
            .get("platform")
            .and_then(|p| serde_json::from_value(p.clone()).ok())
    };
    match entries {
        [] => {
            return Err(DiscoverSourceError::NotOne {
                name: name.to_owned(),
                count: 0,
                refs: Vec::new(),
            });
        }
        [only] if platform.is_none() || entry_platform(only).is_none() => return Ok(0),
        _ => {}
    }
    let first = &entries[0];
    let one_name = entries.iter().all(|e| ref_name(e) == ref_name(first));
    let one_digest = entries.iter().all(|e| e.digest == first.digest);
    if !(one_name || one_digest) {
        let mut refs: Vec<String> = entries
            .iter()
            .map(|e| ref_name(e).unwrap_or_else(|| "none".to_owned()))
            .collect();
        refs.dedup();
        return Err(DiscoverSourceError::NotOne {
            name: name.to_owned(),
            count: entries.len(),
            refs,
        });
    }
    let wanted = platform.cloned().unwrap_or_else(Platform::host);
    let matcher = PlatformMatcher::new(&wanted);
    entries
        .iter()
        .position(|e| entry_platform(e).is_some_and(|p| matcher.matches(&p)))
        .ok_or_else(|| DiscoverSourceError::NoPlatform {
            name: name.to_owned(),
            wanted: wanted.to_string(),
            available: entries
                .iter()
                .map(|e| entry_platform(e).map_or_else(|| "none".to_owned(), |p| p.to_string()))
                .collect(),
        })
}

/// Why one CAS URL gave nothing.
enum Failed {
    /// The engine does not have it (404, 410).
    Absent,
    /// The engine has something else under that digest (a longer body).
    Wrong,
    /// Anything else: connection, TLS, timeouts, other statuses.
    Other,
}

impl Source for DiscoverSource {
    fn describe(&self) -> String {
        format!("discover:{}", self.name)
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn candidates(&self) -> &[Descriptor] {
        &self.candidates
    }

    fn transport(&self) -> Transport {
        Transport::Discover
    }

    fn location(&self) -> Location {
        Location::Name(self.name.clone())
    }

    /// Tries each CAS URL in order, failing over to the next when one cannot be opened
    /// (connection error, error status, announced length over the descriptor's size);
    /// once a body streams, its reader verifies digest and size.
    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError> {
        let digest = &descriptor.digest;
        if digest.algorithm().is_none() {
            return Err(BlobOpenError::damaged(
                self,
                digest,
                oci_digest::Unverifiable {
                    digest: digest.clone(),
                },
            ));
        }
        let urls = self.blob_urls(digest);
        if urls.is_empty() {
            // No CAS engine to ask.
            return Err(BlobOpenError::missing(self, digest));
        }
        let mut failures: Vec<(Failed, FetchError)> = Vec::new();
        for url in &urls {
            match self
                .discoverer
                .client()
                .open(url, BLOB_ACCEPT, descriptor.size)
            {
                Ok((_, body)) => {
                    let limited = Excess {
                        inner: body,
                        digest: digest.clone(),
                        size: descriptor.size,
                    };
                    let reader = VerifyingReader::new(limited, digest, descriptor.size)
                        .map_err(|e| BlobOpenError::damaged(self, digest, e))?;
                    return Ok(Box::new(reader));
                }
                Err(e) => {
                    let kind = match &e {
                        FetchError::Status {
                            status: 404 | 410, ..
                        } => Failed::Absent,
                        FetchError::TooLarge { .. } => Failed::Wrong,
                        _ => Failed::Other,
                    };
                    failures.push((kind, e));
                }
            }
        }
        let all_absent = failures.iter().all(|(k, _)| matches!(k, Failed::Absent));
        let wrong = failures.iter().any(|(k, _)| matches!(k, Failed::Wrong));
        let tried = CasFailures(failures.into_iter().map(|(_, e)| e).collect());
        if all_absent {
            return Err(BlobOpenError::Missing {
                transport: self.transport(),
                location: self.location(),
                digest: digest.clone(),
                tried: Some(tried),
            });
        }
        if wrong {
            return Err(BlobOpenError::damaged(
                self,
                digest,
                Damage::CasLength {
                    size: descriptor.size,
                    tried,
                },
            ));
        }
        Err(BlobOpenError::unavailable(self, digest, tried))
    }
}

/// Turns the client's "body over the limit" into the verifier's "longer than the
/// descriptor's size", so that it counts as damaged content, not a network error.
struct Excess {
    inner: Box<dyn Read + Send>,
    digest: Digest,
    size: u64,
}

impl Read for Excess {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if let Some(FetchError::TooLarge { .. }) = FetchError::from_io(&e) {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    VerifyError::TooLong {
                        digest: self.digest.clone(),
                        expected_size: self.size,
                        read: self.size.saturating_add(1),
                    },
                )
            } else {
                e
            }
        })
    }
}
