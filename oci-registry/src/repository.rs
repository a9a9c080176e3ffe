//! One repository of a registry: manifests, blobs, tags, deletion (the distribution API's
//! endpoints), over the [`RegistryClient`]'s authentication and retries.

use std::fmt;

use oci_digest::Digester;
use oci_spec_types::Digest;
use oci_spec_types::media_type::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, IMAGE_INDEX, IMAGE_MANIFEST,
};

use crate::auth::Scope;
use crate::blob::BlobReader;
use crate::client::{Ctx, RegistryClient, Request, Response, authority, resolve};
use crate::error::{Error, ErrorKind};
use crate::link::next_link;

/// The largest manifest read or written (the size the distribution spec says both sides
/// can rely on).
pub const MANIFEST_LIMIT: u64 = 4 << 20;

/// The `Accept` of a manifest request: OCI and Docker, index (list) and manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// Pages of a tag or referrers list followed before giving up.
const MAX_PAGES: usize = 10_000;

/// A manifest is named by a tag or by a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    /// A tag (`latest`).
    Tag(String),
    /// A digest (`sha256:...`): what is read is verified against it.
    Digest(Digest),
}

impl ManifestRef {
    /// The digest, when the reference is one.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            ManifestRef::Digest(d) => Some(d),
            ManifestRef::Tag(_) => None,
        }
    }
}

impl fmt::Display for ManifestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestRef::Tag(t) => f.write_str(t),
            ManifestRef::Digest(d) => f.write_str(d.as_str()),
        }
    }
}

impl From<Digest> for ManifestRef {
    fn from(d: Digest) -> ManifestRef {
        ManifestRef::Digest(d)
    }
}

impl From<&Digest> for ManifestRef {
    fn from(d: &Digest) -> ManifestRef {
        ManifestRef::Digest(d.clone())
    }
}

/// A manifest as the registry sent it: exact bytes, their digest, and the media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// Their digest (sha256, or the algorithm of the digest asked for).
    pub digest: Digest,
    /// The media type: the body's `mediaType`, else the `Content-Type` without
    /// parameters.
    pub media_type: String,
}

/// What a HEAD says of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    /// `Docker-Content-Digest` (or the digest asked for); `None` when a tag's HEAD had
    /// no such header.
    pub digest: Option<Digest>,
    /// `Content-Type` without parameters.
    pub media_type: Option<String>,
    /// `Content-Length`.
    pub size: Option<u64>,
}

/// What a manifest PUT answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    /// The digest of the bytes sent (sha256, or the reference's algorithm).
    pub digest: Digest,
    /// The registry processed the manifest's `subject` (`OCI-Subject` came back): the
    /// referrers API lists it, no fallback tag to update.
    pub subject_processed: bool,
}

/// A repository of a registry. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Repository {
    pub(crate) client: RegistryClient,
    pub(crate) registry: String,
    pub(crate) name: String,
}

/// The media type of a `Content-Type` value: parameters dropped, lowercased.
pub(crate) fn bare_media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl Repository {
    pub(crate) fn new(client: RegistryClient, registry: &str, name: &str) -> Repository {
        Repository {
            client,
            registry: registry.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The registry (`HOST[:PORT]`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository name (`ns/app`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// Another repository of the same registry, sharing the client (and its tokens).
    pub fn sibling(&self, name: &str) -> Repository {
        Repository::new(self.client.clone(), &self.registry, name)
    }

    pub(crate) fn ctx<'a>(&'a self, digest: Option<&'a Digest>) -> Ctx<'a> {
        Ctx {
            registry: &self.registry,
            repository: &self.name,
            digest,
        }
    }

    /// `https://HOST/v2/NAME/` followed by `rest`.
    pub(crate) fn url(&self, rest: &str) -> String {
        format!(
            "{}/v2/{}/{rest}",
            self.client.base_url(&self.registry),
            self.name
        )
    }

    pub(crate) fn pull_scope(&self) -> Vec<Scope> {
        vec![Scope::pull(&self.name)]
    }

    pub(crate) fn push_scope(&self) -> Vec<Scope> {
        vec![Scope::push(&self.name)]
    }

    /// Checks the registry answers `GET /v2/` (see [`RegistryClient::ping`]).
    pub fn ping(&self) -> Result<(), Error> {
        self.client.ping(&self.registry)
    }

    /// GETs a manifest: at most [`MANIFEST_LIMIT`] bytes; verified against the digest
    /// when `reference` is one; `Docker-Content-Digest`, when present and of the same
    /// algorithm, must match the bytes; a body `mediaType` differing from the
    /// `Content-Type` (parameters ignored) is refused.
    pub fn get_manifest(&self, reference: &ManifestRef) -> Result<Manifest, Error> {
        self.fetch_manifest(reference).map(|(m, _)| m)
    }

    /// [`Repository::get_manifest`], with the response's `ETag`.
    pub(crate) fn fetch_manifest(
        &self,
        reference: &ManifestRef,
    ) -> Result<(Manifest, Option<String>), Error> {
        let ctx = self.ctx(reference.digest());
        let url = self.url(&format!("manifests/{reference}"));
        let request = Request::new("GET", url, self.pull_scope()).header("Accept", MANIFEST_ACCEPT);
        let response = self.client.execute(ctx, request)?;
        if response.status != 200 {
            return Err(self.client.status_error(ctx, response));
        }
        let (bytes, response) = response.read_limited(ctx, MANIFEST_LIMIT)?;
        let algorithm = reference
            .digest()
            .and_then(Digest::algorithm)
            .unwrap_or(oci_digest::Algorithm::Sha256);
        let mut digester = Digester::new(algorithm);
        digester.update(&bytes);
        let digest = digester.finish().digest;
        let at = |kind| ctx.error(kind).url(&response.url).status(response.status);
        if let Some(expected) = reference.digest()
            && *expected != digest
        {
            return Err(at(ErrorKind::DigestMismatch { actual: digest }));
        }
        check_header_digest(&response, &digest).map_err(at)?;
        let content_type = response.header("content-type").map(bare_media_type);
        let body_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str().map(str::to_owned))
            });
        if let (Some(ct), Some(bt)) = (&content_type, &body_type)
            && !ct.is_empty()
            && ct != "application/octet-stream"
            && ct != "application/json"
            && !ct.eq_ignore_ascii_case(bt)
        {
            return Err(at(ErrorKind::MediaTypeMismatch {
                content_type: ct.clone(),
                media_type: bt.clone(),
            }));
        }
        let media_type = body_type.or(content_type).unwrap_or_default();
        let etag = response.header("etag").map(str::to_owned);
        Ok((
            Manifest {
                bytes,
                digest,
                media_type,
            },
            etag,
        ))
    }

    /// HEADs a manifest: `None` when the registry does not have it.
    pub fn head_manifest(&self, reference: &ManifestRef) -> Result<Option<ManifestHead>, Error> {
        let ctx = self.ctx(reference.digest());
        let url = self.url(&format!("manifests/{reference}"));
        let request =
            Request::new("HEAD", url, self.pull_scope()).header("Accept", MANIFEST_ACCEPT);
        let response = self.client.execute(ctx, request)?;
        match response.status {
            200 => {}
            404 => return Ok(None),
            _ => return Err(self.client.status_error(ctx, response)),
        }
        let header_digest = response
            .header("docker-content-digest")
            .and_then(|v| Digest::parse(v.trim()).ok());
        if let (Some(expected), Some(got)) = (reference.digest(), &header_digest)
            && got.algorithm_name() == expected.algorithm_name()
            && got != expected
        {
            return Err(ctx
                .error(ErrorKind::HeaderDigestMismatch {
                    header: got.to_string(),
                })
                .url(&response.url)
                .status(200));
        }
        Ok(Some(ManifestHead {
            digest: header_digest.or_else(|| reference.digest().cloned()),
            media_type: response.header("content-type").map(bare_media_type),
            size: response.content_length(),
        }))
    }

    /// PUTs a manifest under a tag or its digest, with `Content-Type: media_type`.
    /// Refuses more than [`MANIFEST_LIMIT`] bytes and, for a digest reference, bytes that
    /// do not hash to it.
    pub fn put_manifest(
        &self,
        reference: &ManifestRef,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<PushedManifest, Error> {
        self.put_manifest_if(reference, bytes, media_type, None)
    }

    /// [`Repository::put_manifest`] with `If-Match: etag` when given.
    pub(crate) fn put_manifest_if(
        &self,
        reference: &ManifestRef,
        bytes: &[u8],
        media_type: &str,
        if_match: Option<&str>,
    ) -> Result<PushedManifest, Error> {
        let ctx = self.ctx(reference.digest());
        let algorithm = reference
            .digest()
            .and_then(Digest::algorithm)
            .unwrap_or(oci_digest::Algorithm::Sha256);
        let mut digester = Digester::new(algorithm);
        digester.update(bytes);
        let digest = digester.finish().digest;
        if bytes.len() as u64 > MANIFEST_LIMIT {
            return Err(ctx.error(ErrorKind::TooLarge {
                limit: MANIFEST_LIMIT,
            }));
        }
        if let Some(expected) = reference.digest()
            && *expected != digest
        {
            return Err(ctx.error(ErrorKind::Input {
                reason: format!("manifest bytes hash to {digest}, not the reference"),
            }));
        }
        let url = self.url(&format!("manifests/{reference}"));
        let mut request = Request::new("PUT", url, self.push_scope())
            .header("Content-Type", media_type)
            .body(bytes);
        if let Some(tag) = if_match {
            request = request.header("If-Match", tag);
        }
        let response = self.client.execute(ctx, request)?;
        if !(200..300).contains(&response.status) {
            return Err(self.client.status_error(ctx, response).digest(&digest));
        }
        check_header_digest(&response, &digest).map_err(|kind| {
            ctx.error(kind)
                .digest(&digest)
                .url(&response.url)
                .status(response.status)
        })?;
        Ok(PushedManifest {
            digest,
            subject_processed: response.header("oci-subject").is_some(),
        })
    }

    /// DELETEs a manifest by digest (the registry removes every tag pointing at it).
    pub fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
        self.delete(&format!("manifests/{digest}"), Some(digest))
    }

    /// DELETEs a tag (registries without tag deletion answer 400 or 405:
    /// [`ErrorKind::Unsupported`] or a status error).
    pub fn delete_tag(&self, tag: &str) -> Result<(), Error> {
        self.delete(&format!("manifests/{tag}"), None)
    }

    /// DELETEs a blob.
    pub fn delete_blob(&self, digest: &Digest) -> Result<(), Error> {
        self.delete(&format!("blobs/{digest}"), Some(digest))
    }

    fn delete(&self, rest: &str, digest: Option<&Digest>) -> Result<(), Error> {
        let ctx = self.ctx(digest);
        let scopes = vec![Scope::repository(&self.name, &["delete"])];
        let response = self
            .client
            .execute(ctx, Request::new("DELETE", self.url(rest), scopes))?;
        match response.status {
            200..=299 => Ok(()),
            405 => Err(self
                .client
                .status_error(ctx, response)
                .with_kind(ErrorKind::Unsupported)),
            _ => Err(self.client.status_error(ctx, response)),
        }
    }

    /// HEADs a blob: its size when the registry has it, `None` when not.
    pub fn blob_exists(&self, digest: &Digest) -> Result<Option<u64>, Error> {
        let ctx = self.ctx(Some(digest));
        let response = self.client.execute(
            ctx,
            Request::new(
                "HEAD",
                self.url(&format!("blobs/{digest}")),
                self.pull_scope(),
            ),
        )?;
        match response.status {
            200..=299 => Ok(Some(response.content_length().unwrap_or(0))),
            404 => Ok(None),
            _ => Err(self.client.status_error(ctx, response)),
        }
    }

    /// Opens a blob for reading: a stream verified against `digest` and `size` (an error
    /// at the first extra byte, and at the end when the digest differs), resumed with a
    /// `Range` request after a broken connection. A redirect to another host (a CDN) is
    /// followed without our `Authorization`.
    pub fn open_blob(&self, digest: &Digest, size: u64) -> Result<BlobReader, Error> {
        BlobReader::open(self.clone(), digest.clone(), size)
    }

    /// Every tag, following `Link` pages on the same origin only (a `Link` to another
    /// host is refused).
    pub fn tags(&self) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let ctx = self.ctx(None);
        let mut url = self.url("tags/list");
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self.client.execute(
                ctx,
                Request::new("GET", url.clone(), self.pull_scope())
                    .header("Accept", "application/json"),
            )?;
            if response.status != 200 {
                return Err(self.client.status_error(ctx, response));
            }
            let next = response.header("link").and_then(next_link);
            let (body, response) = response.read_limited(ctx, 16 << 20)?;
            let page: Page = serde_json::from_slice(&body).map_err(|e| {
                ctx.error(ErrorKind::BadResponse {
                    reason: "the tag list is not JSON".into(),
                })
                .url(&response.url)
                .status(200)
                .source(e)
            })?;
            out.extend(page.tags.unwrap_or_default());
            let Some(next) = next else {
                return Ok(out);
            };
            url = self.same_origin(ctx, &response.url, &next)?;
        }
        Err(ctx.error(ErrorKind::BadResponse {
            reason: format!("more than {MAX_PAGES} pages"),
        }))
    }

    /// `next` resolved against `current`, refused when it leaves the origin.
    pub(crate) fn same_origin(
        &self,
        ctx: Ctx<'_>,
        current: &str,
        next: &str,
    ) -> Result<String, Error> {
        let resolved = resolve(current, next);
        let here = authority(current).map(|(o, _)| o);
        let there = authority(&resolved).map(|(o, _)| o);
        if here.is_none() || here != there {
            return Err(ctx
                .error(ErrorKind::Refused {
                    reason: "a Link to another origin".into(),
                })
                .url(&resolved));
        }
        Ok(resolved)
    }
}

/// Compares `Docker-Content-Digest` (when present, parseable and of the same algorithm)
/// with the digest of the bytes.
pub(crate) fn check_header_digest(response: &Response, digest: &Digest) -> Result<(), ErrorKind> {
    let Some(header) = response.header("docker-content-digest") else {
        return Ok(());
    };
    let Ok(parsed) = Digest::parse(header.trim()) else {
        return Ok(());
    };
    if parsed.algorithm_name() == digest.algorithm_name() && parsed != *digest {
        return Err(ErrorKind::HeaderDigestMismatch {
            header: header.trim().to_owned(),
        });
    }
    Ok(())
}

/// Whether a media type is one of the manifest types this client asks for.
pub fn is_manifest_type(media_type: &str) -> bool {
    [
        IMAGE_INDEX,
        IMAGE_MANIFEST,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
    ]
    .contains(&media_type)
}
