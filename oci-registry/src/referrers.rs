//! Referrers: the referrers API (`/v2/NAME/referrers/DIGEST`), and the fallback tag
//! schema (`<alg>-<hex>`) for registries without it, read and written.

use oci_spec_types::media_type::IMAGE_INDEX;
use oci_spec_types::{Descriptor, Digest, MediaType};
use serde_json::Value;

use crate::client::Request;
use crate::error::{Error, ErrorKind};
use crate::repository::{ManifestRef, Repository, bare_media_type};

/// Where a referrers list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrersSource {
    /// The registry's referrers API.
    Api,
    /// The fallback tag (the registry has no referrers API, or answered it with something
    /// other than an image index).
    FallbackTag,
}

/// The referrers of a subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Referrers {
    /// Their descriptors (filtered by artifact type when one was asked for).
    pub manifests: Vec<Descriptor>,
    /// Where the list came from.
    pub source: ReferrersSource,
}

/// The largest referrers page or fallback index read.
const INDEX_LIMIT: u64 = 4 << 20;
/// Pages of a referrers list followed.
const MAX_PAGES: usize = 1000;
/// Rounds of a fallback-index update lost to a concurrent writer before giving up.
const MAX_UPDATE_ROUNDS: usize = 5;

/// The fallback tag of a subject digest: the algorithm cut to 32 characters, `-`, the
/// encoded part cut to 64, every character a tag may not hold replaced by `-` (the
/// distribution spec's referrers tag schema; a sha256 subject gives `sha256-<hex>`).
///
/// ```
/// use oci_registry::fallback_tag;
/// use oci_spec_types::Digest;
///
/// let d = Digest::parse(&format!("sha512:{}", "ab".repeat(64))).unwrap();
/// assert_eq!(fallback_tag(&d), format!("sha512-{}", "ab".repeat(32)));
/// ```
pub fn fallback_tag(subject: &Digest) -> String {
    let clean = |s: &str, max: usize| -> String {
        s.chars()
            .take(max)
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!(
        "{}-{}",
        clean(subject.algorithm_name(), 32),
        clean(subject.encoded(), 64)
    )
}

/// The descriptor of a referrer in a referrers list, from its manifest bytes: its media
/// type, digest and size, `artifactType` (its own, else an image manifest's config media
/// type) and every annotation.
pub fn referrer_descriptor(bytes: &[u8], media_type: &str, digest: &Digest) -> Descriptor {
    let value: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let artifact_type = value
        .get("artifactType")
        .and_then(Value::as_str)
        .or_else(|| {
            value
                .get("config")
                .and_then(|c| c.get("mediaType"))
                .and_then(Value::as_str)
        })
        .map(MediaType::new);
    let annotations = value
        .get("annotations")
        .and_then(|a| serde_json::from_value(a.clone()).ok());
    Descriptor {
        media_type: MediaType::new(media_type),
        digest: digest.clone(),
        size: bytes.len() as u64,
        urls: None,
        annotations,
        data: None,
        platform: None,
        artifact_type,
        extra: Default::default(),
    }
}

/// The descriptors of an index body, `None` when it is not an image index.
fn index_manifests(body: &[u8], content_type: Option<&str>) -> Option<Vec<Descriptor>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let declared = value.get("mediaType").and_then(Value::as_str);
    let is_index = declared == Some(IMAGE_INDEX)
        || (declared.is_none()
            && content_type.map(bare_media_type).as_deref() == Some(IMAGE_INDEX));
    if !is_index {
        return None;
    }
    let list = value.get("manifests")?.as_array()?;
    // Entries that are not descriptors are left out rather than failing the list.
    Some(
        list.iter()
            .filter_map(|m| serde_json::from_value::<Descriptor>(m.clone()).ok())
            .collect(),
    )
}

fn filter(manifests: Vec<Descriptor>, artifact_type: Option<&str>) -> Vec<Descriptor> {
    match artifact_type {
        None => manifests,
        Some(t) => manifests
            .into_iter()
            .filter(|d| d.artifact_type.as_ref().is_some_and(|a| a.as_str() == t))
            .collect(),
    }
}

impl Repository {
    /// The referrers of `subject`: from the referrers API (every `Link` page, same
    /// origin only), else — a 404, or an answer that is not an OCI image index, such as
    /// an HTML page — from the fallback tag. Filtered by `artifact_type` here when the
    /// registry did not say it filtered (`OCI-Filters-Applied`).
    pub fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, Error> {
        let ctx = self.ctx(Some(subject));
        let mut url = self.url(&format!("referrers/{subject}"));
        if let Some(t) = artifact_type {
            url.push_str(&format!(
                "?artifactType={}",
                crate::client::encode_component(t)
            ));
        }
        let mut manifests = Vec::new();
        let mut filtered = true;
        for page in 0..MAX_PAGES {
            let request =
                Request::new("GET", url.clone(), self.pull_scope()).header("Accept", IMAGE_INDEX);
            let response = self.client.execute(ctx, request)?;
            let unsupported = |why: &str| {
                tracing::debug!(
                    "{}: no referrers API ({why}), reading the fallback tag",
                    self.name
                );
            };
            match response.status {
                200 => {}
                404 | 406 | 401 | 405 if page == 0 => {
                    unsupported(&format!("HTTP {}", response.status));
                    return self.referrers_fallback(subject, artifact_type);
                }
                _ => return Err(self.client.status_error(ctx, response)),
            }
            let applied = response
                .header("oci-filters-applied")
                .is_some_and(|v| v.split(',').any(|f| f.trim() == "artifactType"));
            filtered &= applied;
            let content_type = response.header("content-type").map(str::to_owned);
            let next = response.header("link").and_then(crate::link::next_link);
            let (body, response) = response.read_limited(ctx, INDEX_LIMIT)?;
            let Some(list) = index_manifests(&body, content_type.as_deref()) else {
                if page == 0 {
                    unsupported("the answer is not an image index");
                    return self.referrers_fallback(subject, artifact_type);
                }
                return Err(ctx
                    .error(ErrorKind::BadResponse {
                        reason: "a referrers page is not an image index".into(),
                    })
                    .url(&response.url)
                    .status(200));
            };
            manifests.extend(list);
            match next {
                Some(n) => url = self.same_origin(ctx, &response.url, &n)?,
                None => {
                    let manifests = if filtered {
                        manifests
                    } else {
                        filter(manifests, artifact_type)
                    };
                    return Ok(Referrers {
                        manifests,
                        source: ReferrersSource::Api,
                    });
                }
            }
        }
        Err(ctx.error(ErrorKind::BadResponse {
            reason: format!("more than {MAX_PAGES} referrers pages"),
        }))
    }

    /// The referrers listed under the fallback tag of `subject`. A missing tag, or one
    /// that holds anything but an image index other than the subject itself (some
    /// registries resolve `sha256-<hex>` to the subject), means no referrers.
    pub fn referrers_fallback(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Referrers, Error> {
        let manifests = match self.read_fallback(subject)? {
            Fallback::Index { manifests, .. } => filter(manifests, artifact_type),
            Fallback::Missing => Vec::new(),
            Fallback::Other { media_type, .. } => {
                tracing::warn!(
                    "{}:{}: holds {media_type}, not a referrers index; ignored",
                    self.name,
                    fallback_tag(subject)
                );
                Vec::new()
            }
        };
        Ok(Referrers {
            manifests,
            source: ReferrersSource::FallbackTag,
        })
    }

    fn read_fallback(&self, subject: &Digest) -> Result<Fallback, Error> {
        let tag = ManifestRef::Tag(fallback_tag(subject));
        let (manifest, etag) = match self.fetch_manifest(&tag) {
            Ok(m) => m,
            Err(e) if e.is_not_found() => return Ok(Fallback::Missing),
            Err(e) => return Err(e),
        };
        if manifest.digest == *subject || manifest.media_type != IMAGE_INDEX {
            return Ok(Fallback::Other {
                media_type: if manifest.digest == *subject {
                    format!("the subject ({})", manifest.media_type)
                } else {
                    manifest.media_type
                },
            });
        }
        match index_manifests(&manifest.bytes, Some(IMAGE_INDEX)) {
            Some(manifests) => Ok(Fallback::Index {
                manifests,
                digest: manifest.digest,
                etag,
            }),
            None => Ok(Fallback::Other {
                media_type: manifest.media_type,
            }),
        }
    }

    /// Adds `referrer` to the fallback index of `subject` (for a registry that did not
    /// process the manifest's subject: no `OCI-Subject` on its PUT). Nothing is written
    /// when the entry is there already. The update is conditional (`If-Match`) when the
    /// registry sends an `ETag`; otherwise the tag is read again just before writing, and
    /// the update starts over when it changed. A tag holding anything but an image index
    /// is an error ([`ErrorKind::NotAnIndex`]), never overwritten.
    pub fn add_fallback_referrer(
        &self,
        subject: &Digest,
        referrer: &Descriptor,
    ) -> Result<(), Error> {
        self.update_fallback(subject, |list| {
            if list.iter().any(|d| d.digest == referrer.digest) {
                return false;
            }
            list.push(referrer.clone());
            true
        })
    }

    /// Removes `referrer` from the fallback index of `subject` (after deleting a manifest
    /// with that subject from a registry without the referrers API).
    pub fn remove_fallback_referrer(
        &self,
        subject: &Digest,
        referrer: &Digest,
    ) -> Result<(), Error> {
        self.update_fallback(subject, |list| {
            let before = list.len();
            list.retain(|d| d.digest != *referrer);
            list.len() != before
        })
    }

    fn update_fallback(
        &self,
        subject: &Digest,
        change: impl Fn(&mut Vec<Descriptor>) -> bool,
    ) -> Result<(), Error> {
        let ctx = self.ctx(Some(subject));
        let tag = ManifestRef::Tag(fallback_tag(subject));
        for _ in 0..MAX_UPDATE_ROUNDS {
            let (mut list, read_digest, etag) = match self.read_fallback(subject)? {
                Fallback::Missing => (Vec::new(), None, None),
                Fallback::Index {
                    manifests,
                    digest,
                    etag,
                } => (manifests, Some(digest), etag),
                Fallback::Other { media_type } => {
                    return Err(ctx
                        .error(ErrorKind::NotAnIndex { media_type })
                        .url(&self.url(&format!("manifests/{tag}"))));
                }
            };
            if !change(&mut list) {
                return Ok(());
            }
            let body = serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": IMAGE_INDEX,
                "manifests": list,
            }))
            .expect("descriptors serialize");
            if etag.is_none() {
                // No conditional request: read again, and start over if it moved.
                let now = match self.read_fallback(subject)? {
                    Fallback::Missing => None,
                    Fallback::Index { digest, .. } => Some(digest),
                    Fallback::Other { media_type } => {
                        return Err(ctx.error(ErrorKind::NotAnIndex { media_type }));
                    }
                };
                if now != read_digest {
                    continue;
                }
            }
            match self.put_manifest_if(&tag, &body, IMAGE_INDEX, etag.as_deref()) {
                Ok(_) => return Ok(()),
                Err(e) if e.http_status() == Some(412) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ctx.error(ErrorKind::BadResponse {
            reason: format!(
                "the fallback tag {tag} kept changing during {MAX_UPDATE_ROUNDS} update rounds"
            ),
        }))
    }
}

enum Fallback {
    Missing,
    Index {
        manifests: Vec<Descriptor>,
        digest: Digest,
        etag: Option<String>,
    },
    Other {
        media_type: String,
    },
}
