//! The `docker://HOST/REPO[:TAG|@DIGEST]` transport: an image in a registry, read
//! ([`RegistrySource`]) and written ([`RegistryDestination`]) over the distribution API
//! through [`oci_registry`].
//!
//! Names go through registries.conf first ([`RegistryOptions::registries_conf`]): a
//! pull tries the matching mirrors in order, then the (rewritten) location; a push goes
//! to the location only; a `blocked` registry is refused either way, and `insecure`
//! allows plain HTTP and unverified TLS for it, as `--tls-verify=false` does.
//!
//! The destination checks with `HEAD` before it sends anything, mounts a blob from the
//! source's repository when both are in the same registry, pushes child manifests by
//! digest, and writes the tag last, in [`Destination::commit`]: nothing is tagged until
//! every blob and child manifest is there.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Mutex;

use oci_digest::PutError;
use oci_naming::Reference;
use oci_spec_types::document::ManifestKind;
use oci_spec_types::{Algorithm, Descriptor, Digest, MediaType};

use super::{
    BlobOpenError, BlobReader, BlobSink, Capabilities, Damage, Destination, DestinationError,
    Location, ReferrersError, Source, Transport,
};
use crate::resolve::MAX_DOCUMENT_SIZE;

/// How a registry is reached, for one side of a copy (CLI.md, "Registry options").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryOptions {
    /// `USER[:PASS]` for this registry, before any auth file.
    pub creds: Option<String>,
    /// The auth file; `None`: `REGISTRY_AUTH_FILE`, then
    /// `${XDG_RUNTIME_DIR}/containers/auth.json`, then `~/.docker/config.json`.
    pub authfile: Option<PathBuf>,
    /// `Some(false)` allows plain HTTP and unverified TLS; `None` verifies unless
    /// registries.conf says the registry is `insecure`.
    pub tls_verify: Option<bool>,
    /// CA and client certificates (containers' certs.d layout) besides
    /// `/etc/containers/certs.d/HOST/`.
    pub cert_dir: Option<PathBuf>,
    /// The registries.conf to read; `None`: the containers default locations.
    pub registries_conf: Option<PathBuf>,
    /// Parallel blob transfers per registry host.
    pub jobs: usize,
    /// Retries after 408, 429, 5xx and broken connections.
    pub retry_times: u32,
}

impl Default for RegistryOptions {
    fn default() -> RegistryOptions {
        RegistryOptions {
            creds: None,
            authfile: None,
            tls_verify: None,
            cert_dir: None,
            registries_conf: None,
            jobs: crate::DEFAULT_JOBS,
            retry_times: 3,
        }
    }
}

/// Why a registry image could not be reached, read or written. Each names the reference
/// and, through its source, the registry's answer (URL, status, digest).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// registries.conf could not be read.
    #[error("cannot load registries.conf")]
    Conf(#[source] oci_naming::ConfError),
    /// registries.conf blocks the reference, or rewrites it into something invalid.
    #[error("cannot resolve {reference} through registries.conf")]
    Resolve {
        /// The reference.
        reference: String,
        /// Why.
        #[source]
        source: oci_naming::ResolveError,
    },
    /// The `--creds` value is not `USER[:PASS]`.
    #[error("--creds for {registry}: expected USER[:PASS]")]
    Creds {
        /// The registry.
        registry: String,
    },
    /// The client could not be set up (certificates, auth file).
    #[error("cannot set up a client for {registry}")]
    Client {
        /// The registry.
        registry: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The registry answered with an error, or could not be reached.
    #[error("{reference}")]
    Protocol {
        /// The reference at fault.
        reference: String,
        /// The client's error (registry, URL, status, digest).
        #[source]
        source: Box<oci_registry::Error>,
    },
    /// Every place a pull tried failed.
    #[error("{reference}: no mirror or location has it (tried {})", tried.join(", "))]
    NotFound {
        /// The reference.
        reference: String,
        /// The physical references tried, in order.
        tried: Vec<String>,
        /// The last error.
        #[source]
        source: Box<oci_registry::Error>,
    },
    /// The manifest is not an OCI or Docker manifest or index.
    #[error("{reference}: manifest {digest} has unsupported media type {media_type}")]
    MediaType {
        /// The reference.
        reference: String,
        /// The manifest's digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
}

impl RegistryError {
    /// Whether a check failed (exit 1: a digest mismatch, a refused name) rather than a
    /// usage or network error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            RegistryError::Protocol { source, .. } | RegistryError::NotFound { source, .. } => {
                is_content_error(source)
            }
            RegistryError::Resolve { .. } | RegistryError::MediaType { .. } => true,
            RegistryError::Conf(_) | RegistryError::Creds { .. } | RegistryError::Client { .. } => {
                false
            }
        }
    }
}

/// A physical place to reach: the reference there, and whether TLS may be skipped.
#[derive(Debug, Clone)]
struct Place {
    reference: Reference,
    insecure: bool,
}

/// Loads the registries.conf the options name (or the default locations).
fn registries_conf(options: &RegistryOptions) -> Result<oci_naming::RegistriesConf, RegistryError> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let locations = oci_naming::ConfigLocations::containers_default(
        options.registries_conf.as_deref(),
        None,
        home.as_deref(),
    );
    oci_naming::RegistriesConf::load(&locations).map_err(RegistryError::Conf)
}

/// Where a pull of `reference` goes: matching mirrors in order, then the location.
fn pull_places(
    reference: &Reference,
    options: &RegistryOptions,
) -> Result<Vec<Place>, RegistryError> {
    let conf = registries_conf(options)?;
    let resolve = |source| RegistryError::Resolve {
        reference: reference.to_string(),
        source,
    };
    let sources = conf.pull_sources(reference).map_err(resolve)?;
    sources
        .into_iter()
        .map(|s| {
            let physical = oci_naming::Dialect::ContainersImage
                .parse_normalized(&s.reference)
                .map_err(|source| RegistryError::Resolve {
                    reference: reference.to_string(),
                    source: oci_naming::ResolveError::Reference {
                        input: s.reference.clone(),
                        source,
                    },
                })?;
            Ok(Place {
                reference: physical,
                insecure: s.insecure,
            })
        })
        .collect()
}

/// Where a push of `reference` goes: its `[[registry]]` table's location (no mirrors),
/// refused when that table or the location's own is blocked.
fn push_place(reference: &Reference, options: &RegistryOptions) -> Result<Place, RegistryError> {
    let conf = registries_conf(options)?;
    let full = reference.to_string();
    let resolve = |source| RegistryError::Resolve {
        reference: full.clone(),
        source,
    };
    let blocked = |prefix: &str| {
        resolve(oci_naming::ResolveError::Blocked {
            reference: full.clone(),
            prefix: prefix.to_owned(),
        })
    };
    let Some(table) = conf.find_registry(&reference.name()) else {
        return Ok(Place {
            reference: reference.clone(),
            insecure: false,
        });
    };
    if table.blocked {
        return Err(blocked(&table.prefix));
    }
    let physical = match oci_naming::ref_matching_prefix(&full, &table.prefix) {
        Some(len) if !table.location.is_empty() => {
            let candidate = format!("{}{}", table.location, &full[len..]);
            oci_naming::Dialect::ContainersImage
                .parse_canonical(&candidate)
                .map_err(|source| {
                    resolve(oci_naming::ResolveError::Rewrite {
                        reference: full.clone(),
                        location: table.location.clone(),
                        source,
                    })
                })?
        }
        _ => reference.clone(),
    };
    let host = conf.find_registry(physical.domain());
    if let Some(h) = host.filter(|h| h.blocked) {
        return Err(blocked(&h.prefix));
    }
    Ok(Place {
        insecure: table.insecure || host.is_some_and(|h| h.insecure),
        reference: physical,
    })
}

// ---------------------------------------------------------------------------------------
// The wire: every call into oci_registry goes through `Remote`, one repository of one
// registry reached with one side's options.

/// One repository of one registry, as a side of a copy reaches it.
#[derive(Debug)]
struct Remote {
    /// `HOST/REPO`, for messages and mount checks.
    name: String,
    host: String,
    repository: String,
    repo: oci_registry::Repository,
}

/// Credentials as the containers tools find them (`--creds`, the auth files, helpers),
/// for the client.
#[derive(Debug)]
struct Lookup(oci_registry::credentials::CredentialLookup);

impl oci_registry::CredentialSource for Lookup {
    fn credential(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<oci_registry::credentials::Credential>, oci_registry::CredentialError> {
        Ok(self
            .0
            .find(registry, repository)?
            .map(|found| found.credential))
    }
}

impl Remote {
    /// A client for the repository of `place`, with `options` (credentials, TLS,
    /// retries, jobs); nothing is sent until the first request.
    fn new(place: &Place, options: &RegistryOptions) -> Result<Remote, RegistryError> {
        let host = place.reference.domain().to_owned();
        let repository = place.reference.path().to_owned();
        let creds =
            match &options.creds {
                None => None,
                Some(value) => {
                    let (username, password) = oci_registry::credentials::parse_creds(value)
                        .map_err(|_| RegistryError::Creds {
                            registry: host.clone(),
                        })?;
                    Some(oci_registry::credentials::Credential::Basic {
                        username,
                        password: password.unwrap_or_default(),
                    })
                }
            };
        let lookup =
            oci_registry::credentials::CredentialLookup::from_env(creds, options.authfile.clone());
        let verify = !(place.insecure || options.tls_verify == Some(false));
        let tls = oci_registry::tls::TlsOptions {
            verify,
            cert_dir: options.cert_dir.clone(),
            ..oci_registry::tls::TlsOptions::default()
        };
        let mut insecure = std::collections::BTreeSet::new();
        if !verify {
            insecure.insert(host.clone());
        }
        let client = oci_registry::RegistryClient::new(oci_registry::RegistryOptions {
            credentials: std::sync::Arc::new(Lookup(lookup)),
            network: std::sync::Arc::new(oci_registry::tls::ContainersNetwork::from_process(tls)),
            insecure,
            retries: options.retry_times,
            jobs: options.jobs.max(1),
            ..oci_registry::RegistryOptions::default()
        });
        let repo = client.repository(&host, &repository);
        Ok(Remote {
            name: format!("{host}/{repository}"),
            host,
            repository,
            repo,
        })
    }

    /// The referrers of `subject` by the tag schema (`<alg>-<hex>`): the entries of the
    /// index under that tag, none when there is no such tag.
    fn referrers(&self, subject: &Digest) -> Result<Vec<Descriptor>, oci_registry::Error> {
        match self.get_manifest(&fallback_tag(subject)) {
            Ok(found) => Ok(referrers_of(&found.bytes, subject)),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Adds `referrer` to the tag-schema index of `subject` (re-read just before
    /// writing; an entry of the same digest is replaced).
    fn add_referrer(
        &self,
        subject: &Digest,
        referrer: &Descriptor,
    ) -> Result<(), oci_registry::Error> {
        let tag = fallback_tag(subject);
        let mut manifests = match self.get_manifest(&tag) {
            Ok(found) if found.media_type == oci_spec_types::media_type::IMAGE_INDEX => {
                referrers_of(&found.bytes, subject)
            }
            // Something else under the tag: not ours to overwrite (R69).
            Ok(found) => {
                return Err(oci_registry::Error::new(
                    oci_registry::ErrorKind::NotAnIndex {
                        media_type: found.media_type,
                    },
                    &self.host,
                ));
            }
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        manifests.retain(|d| d.digest != referrer.digest);
        manifests.push(referrer.clone());
        let index = oci_spec_types::ImageIndex::new(manifests);
        let bytes = oci_spec_types::Document::from_value(index).into_bytes();
        self.repo.put_manifest(
            &oci_registry::ManifestRef::Tag(tag),
            &bytes,
            oci_spec_types::media_type::IMAGE_INDEX,
        )?;
        Ok(())
    }

    fn get_manifest(&self, reference: &str) -> Result<oci_registry::Manifest, oci_registry::Error> {
        let reference = match Digest::parse(reference) {
            Ok(d) => oci_registry::ManifestRef::Digest(d),
            Err(_) => oci_registry::ManifestRef::Tag(reference.to_owned()),
        };
        self.repo.get_manifest(&reference)
    }
}

/// The tag of the referrers tag schema for `subject`: `<alg>-<hex>`, the hex cut to 64
/// characters (the distribution spec's rule for longer digests).
fn fallback_tag(subject: &Digest) -> String {
    let hex = subject.encoded();
    format!("{}-{}", subject.algorithm_name(), &hex[..hex.len().min(64)])
}

/// The entries of a referrers index: its manifests, when it is an OCI index (anything
/// else, such as the subject itself under a clashing tag, lists none).
fn referrers_of(bytes: &[u8], subject: &Digest) -> Vec<Descriptor> {
    match oci_spec_types::document::from_slice::<oci_spec_types::ImageIndex>(bytes) {
        Ok(index)
            if index
                .media_type
                .as_ref()
                .is_none_or(|m| m.as_str() == oci_spec_types::media_type::IMAGE_INDEX)
                && oci_digest::Digester::digest_bytes(
                    subject.algorithm().unwrap_or(Algorithm::Sha256),
                    bytes,
                )
                .digest
                    != *subject =>
        {
            index.manifests
        }
        _ => Vec::new(),
    }
}

/// Whether a descriptor names a manifest or index (fetched from `/manifests/`), as
/// opposed to a blob.
fn is_manifest(descriptor: &Descriptor) -> bool {
    ManifestKind::from_media_type(descriptor.media_type.as_str()).is_some()
}

/// The media type of a manifest: the registry's `Content-Type` when it names a manifest
/// kind, else the document's own `mediaType` (or its shape).
fn manifest_media_type(content_type: Option<&str>, bytes: &[u8]) -> Option<MediaType> {
    if let Some(ct) = content_type
        && ManifestKind::from_media_type(ct).is_some()
    {
        return Some(MediaType::from(ct));
    }
    let kind = oci_spec_types::document::probe(bytes).ok()?.kind()?;
    Some(MediaType::from(kind.media_type()))
}

/// `docker://HOST/REPO[:TAG|@DIGEST]`: an image in a registry.
#[derive(Debug)]
pub struct RegistrySource {
    /// `docker://` and the reference as the user named it (normalized).
    name: String,
    remote: Remote,
    root: Descriptor,
    /// Manifests read so far (the root among them), by digest: each is fetched once.
    manifests: Mutex<BTreeMap<Digest, Vec<u8>>>,
}

impl RegistrySource {
    /// Opens `reference`: resolves it through registries.conf, then fetches its manifest
    /// from the first mirror or location that has it.
    pub fn open(
        reference: &Reference,
        options: &RegistryOptions,
    ) -> Result<RegistrySource, RegistryError> {
        let places = pull_places(reference, options)?;
        let mut tried = Vec::new();
        let mut last = None;
        for place in &places {
            let remote = Remote::new(place, options)?;
            let wanted = match (place.reference.digest(), reference.digest()) {
                (Some(d), _) | (None, Some(d)) => d.to_owned(),
                (None, None) => place
                    .reference
                    .tag()
                    .or(reference.tag())
                    .unwrap_or(oci_naming::DEFAULT_TAG)
                    .to_owned(),
            };
            tried.push(place.reference.to_string());
            match remote.get_manifest(&wanted) {
                Ok(fetched) => {
                    let media_type = manifest_media_type(Some(&fetched.media_type), &fetched.bytes)
                        .ok_or_else(|| RegistryError::MediaType {
                            reference: place.reference.to_string(),
                            digest: fetched.digest.clone(),
                            media_type: fetched.media_type.clone(),
                        })?;
                    let root = Descriptor::new(
                        media_type,
                        fetched.digest.clone(),
                        fetched.bytes.len() as u64,
                    );
                    let mut manifests = BTreeMap::new();
                    manifests.insert(fetched.digest, fetched.bytes);
                    return Ok(RegistrySource {
                        name: format!("docker://{reference}"),
                        remote,
                        root,
                        manifests: Mutex::new(manifests),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        let source = last.expect("registries.conf gives at least one place");
        if tried.len() == 1 {
            return Err(RegistryError::Protocol {
                reference: tried.remove(0),
                source: Box::new(source),
            });
        }
        Err(RegistryError::NotFound {
            reference: reference.to_string(),
            tried,
            source: Box::new(source),
        })
    }

    /// `HOST/REPO` read from (after registries.conf: a mirror, or the location).
    pub fn physical_name(&self) -> &str {
        &self.remote.name
    }
}

impl Source for RegistrySource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn transport(&self) -> Transport {
        Transport::Docker
    }

    fn location(&self) -> Location {
        Location::Name(self.remote.name.clone())
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError> {
        if is_manifest(descriptor) {
            let bytes = self.manifest(descriptor)?;
            return Ok(Box::new(io::Cursor::new(bytes)));
        }
        let reader = self
            .remote
            .repo
            .open_blob(&descriptor.digest, descriptor.size)
            .map_err(|e| self.blob_error(descriptor, e))?;
        Ok(Box::new(reader))
    }

    fn read_small(&self, descriptor: &Descriptor, limit: u64) -> Result<Vec<u8>, BlobOpenError> {
        if descriptor.size > limit {
            return Err(BlobOpenError::damaged(
                self,
                &descriptor.digest,
                Damage::TooLarge {
                    size: descriptor.size,
                    limit,
                },
            ));
        }
        if is_manifest(descriptor) {
            return self.manifest(descriptor);
        }
        let mut reader = self.open(descriptor)?;
        let mut bytes = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| super::read_error(self, descriptor, &e))?;
        Ok(bytes)
    }

    fn referrers(&self, subject: &Digest) -> Result<Option<Vec<Descriptor>>, ReferrersError> {
        let found = self
            .remote
            .referrers(subject)
            .map_err(|e| ReferrersError::Blob(BlobOpenError::unavailable(self, subject, e)))?;
        Ok(Some(found))
    }
}

impl RegistrySource {
    /// A manifest by digest, fetched once and verified (digest and size against the
    /// descriptor, the 4 MiB limit).
    fn manifest(&self, descriptor: &Descriptor) -> Result<Vec<u8>, BlobOpenError> {
        if let Some(bytes) = self.manifests.lock().expect("lock").get(&descriptor.digest) {
            return self.check(descriptor, bytes.clone());
        }
        if descriptor.size > MAX_DOCUMENT_SIZE {
            return Err(BlobOpenError::damaged(
                self,
                &descriptor.digest,
                Damage::TooLarge {
                    size: descriptor.size,
                    limit: MAX_DOCUMENT_SIZE,
                },
            ));
        }
        let fetched = self
            .remote
            .repo
            .get_manifest(&oci_registry::ManifestRef::Digest(
                descriptor.digest.clone(),
            ))
            .map_err(|e| self.blob_error(descriptor, e))?;
        let bytes = self.check(descriptor, fetched.bytes)?;
        self.manifests
            .lock()
            .expect("lock")
            .insert(descriptor.digest.clone(), bytes.clone());
        Ok(bytes)
    }

    /// `bytes` when they match the descriptor's digest and size.
    fn check(&self, descriptor: &Descriptor, bytes: Vec<u8>) -> Result<Vec<u8>, BlobOpenError> {
        let mut reader =
            oci_digest::VerifyingReader::new(&bytes[..], &descriptor.digest, descriptor.size)
                .map_err(|e| BlobOpenError::damaged(self, &descriptor.digest, e))?;
        io::copy(&mut reader, &mut io::sink())
            .map_err(|e| super::read_error(self, descriptor, &e))?;
        Ok(bytes)
    }

    fn blob_error(&self, descriptor: &Descriptor, error: oci_registry::Error) -> BlobOpenError {
        if error.is_not_found() {
            return BlobOpenError::Missing {
                transport: Transport::Docker,
                location: self.location(),
                digest: descriptor.digest.clone(),
                tried: None,
            };
        }
        if is_content_error(&error) {
            return BlobOpenError::damaged(
                self,
                &descriptor.digest,
                Damage::Registry(Box::new(error)),
            );
        }
        BlobOpenError::unavailable(self, &descriptor.digest, error)
    }
}

/// `docker://HOST/REPO[:TAG]` as a copy destination: blobs checked with `HEAD` first,
/// mounted from the source's repository in the same registry, pushed as they stream;
/// child manifests pushed by digest; the tag written last, by [`Destination::commit`].
#[derive(Debug)]
pub struct RegistryDestination {
    name: String,
    remote: Remote,
    tag: Option<String>,
    /// The last manifest given to `put_blob`, not yet sent: when it is the root, it is
    /// sent once, under the tag, at commit.
    pending: Mutex<Option<(Descriptor, Vec<u8>)>>,
    /// Manifests sent by digest (small; the root may be among them when referrers were
    /// sent after it).
    sent: Mutex<BTreeMap<Digest, Vec<u8>>>,
    /// Manifests whose `subject` the registry processed (its referrers API lists them).
    processed: Mutex<std::collections::BTreeSet<Digest>>,
    /// Referrers copied with the image, added to the tag schema after the tag.
    referrers: Mutex<Vec<Descriptor>>,
}

impl RegistryDestination {
    /// Opens `reference` for writing: its registries.conf location (never a mirror);
    /// refused when blocked, or when it names a digest.
    pub fn open(
        reference: &Reference,
        options: &RegistryOptions,
    ) -> Result<RegistryDestination, RegistryError> {
        let place = push_place(reference, options)?;
        let remote = Remote::new(&place, options)?;
        Ok(RegistryDestination {
            name: format!("docker://{reference}"),
            remote,
            tag: place.reference.tag().map(str::to_owned),
            pending: Mutex::new(None),
            sent: Mutex::new(BTreeMap::new()),
            processed: Mutex::default(),
            referrers: Mutex::default(),
        })
    }

    /// Sends the pending manifest by digest, if any.
    fn flush(&self) -> Result<(), PutError> {
        let pending = self.pending.lock().expect("lock").take();
        if let Some((descriptor, bytes)) = pending {
            let pushed = self
                .remote
                .repo
                .put_manifest(
                    &oci_registry::ManifestRef::Digest(descriptor.digest.clone()),
                    &bytes,
                    descriptor.media_type.as_str(),
                )
                .map_err(|e| put_error(&self.name, e))?;
            if pushed.subject_processed {
                self.processed
                    .lock()
                    .expect("lock")
                    .insert(descriptor.digest.clone());
            }
            self.sent
                .lock()
                .expect("lock")
                .insert(descriptor.digest, bytes);
        }
        Ok(())
    }
}

/// A reader that refuses to be read: a mount that the registry turns down must not fall
/// back to an upload of nothing.
struct Refuse;

impl Read for Refuse {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::other("no bytes for a mount"))
    }
}

/// The registry client's error inside an I/O error of a blob reader, when it says the
/// content does not match its descriptor.
pub(crate) fn content_error(error: &io::Error) -> Option<oci_registry::Error> {
    oci_registry::Error::from_io(error)
        .filter(|e| is_content_error(e))
        .cloned()
}

/// Whether the registry sent content that does not match (a check failure, exit 1).
fn is_content_error(error: &oci_registry::Error) -> bool {
    matches!(
        error.kind(),
        oci_registry::ErrorKind::DigestMismatch { .. }
            | oci_registry::ErrorKind::SizeMismatch { .. }
            | oci_registry::ErrorKind::HeaderDigestMismatch { .. }
            | oci_registry::ErrorKind::TooLarge { .. }
    )
}

/// A registry error met while storing a blob into `destination`.
fn put_error(destination: &str, error: oci_registry::Error) -> PutError {
    PutError::Io {
        action: "push to",
        path: PathBuf::from(destination),
        source: io::Error::other(error),
    }
}

/// A reader that keeps the first error it returned, so that a failed push can tell a
/// failure of the source (a damaged blob) from one of the registry.
struct Watched<'r> {
    inner: &'r mut dyn Read,
    error: Option<io::Error>,
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.error.get_or_insert(e);
                Err(copy)
            }
            other => other,
        }
    }
}

impl Destination for RegistryDestination {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn transport(&self) -> Transport {
        Transport::Docker
    }

    fn location(&self) -> Location {
        Location::Name(self.remote.name.clone())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            indexes: true,
            zstd: true,
            own_format: false,
        }
    }

    fn has_blob(&self, descriptor: &Descriptor) -> bool {
        if is_manifest(descriptor) {
            let reference = oci_registry::ManifestRef::Digest(descriptor.digest.clone());
            return matches!(
                self.remote.repo.head_manifest(&reference),
                Ok(Some(found)) if found.size.is_none_or(|s| s == descriptor.size)
            );
        }
        matches!(
            self.remote.repo.blob_exists(&descriptor.digest),
            Ok(Some(size)) if size == descriptor.size
        )
    }

    fn mount_blob(&self, descriptor: &Descriptor, source: &dyn Source) -> Result<bool, PutError> {
        if is_manifest(descriptor) || source.transport() != Transport::Docker {
            return Ok(false);
        }
        let Location::Name(from) = source.location() else {
            return Ok(false);
        };
        let Some(from_repository) = from
            .strip_prefix(&self.remote.host)
            .and_then(|r| r.strip_prefix('/'))
        else {
            return Ok(false);
        };
        if from_repository == self.remote.repository {
            return Ok(false);
        }
        // The caller found the blob missing; a refused mount falls back to an upload,
        // which needs the bytes: then the blob is copied.
        let options = oci_registry::PushOptions {
            mount_from: Some(from_repository.to_owned()),
            skip_exists_check: true,
        };
        match self
            .remote
            .repo
            .push_blob(&descriptor.digest, descriptor.size, &mut Refuse, &options)
        {
            Ok(oci_registry::Pushed::Mounted | oci_registry::Pushed::Existed) => Ok(true),
            Ok(oci_registry::Pushed::Uploaded) | Err(_) => Ok(false),
        }
    }

    fn put_blob(&self, descriptor: &Descriptor, reader: &mut dyn Read) -> Result<(), PutError> {
        if is_manifest(descriptor) {
            // Manifests are small (the copy read them whole): verified here, sent after
            // the previous one, so that the last (the root) goes under the tag alone.
            let mut bytes = Vec::new();
            let mut verifying = oci_digest::VerifyingReader::new(
                reader.take(MAX_DOCUMENT_SIZE + 1),
                &descriptor.digest,
                descriptor.size,
            )?;
            verifying
                .read_to_end(&mut bytes)
                .map_err(|source| PutError::Read {
                    path: PathBuf::from(&self.name),
                    source,
                })?;
            self.flush()?;
            *self.pending.lock().expect("lock") = Some((descriptor.clone(), bytes));
            return Ok(());
        }
        let mut watched = Watched {
            inner: reader,
            error: None,
        };
        let options = oci_registry::PushOptions {
            mount_from: None,
            // The copy asked has_blob just before.
            skip_exists_check: true,
        };
        match self.remote.repo.push_blob(
            &descriptor.digest,
            descriptor.size,
            &mut watched,
            &options,
        ) {
            Ok(_) => Ok(()),
            Err(e) => Err(match watched.error.take() {
                Some(source) => PutError::Read {
                    path: PathBuf::from(&self.name),
                    source,
                },
                None => put_error(&self.name, e),
            }),
        }
    }

    fn blob_sink(&self, algorithm: Algorithm) -> Result<Box<dyn BlobSink + '_>, PutError> {
        let _ = algorithm;
        Ok(Box::new(SpooledSink {
            destination: self,
            file: tempfile::tempfile().map_err(|source| PutError::Io {
                action: "create a temporary file in",
                path: std::env::temp_dir(),
                source,
            })?,
            written: 0,
        }))
    }

    fn add_referrer(&self, referrer: &Descriptor) {
        self.referrers.lock().expect("lock").push(referrer.clone());
    }

    fn commit(self: Box<Self>, root: &Descriptor) -> Result<Descriptor, DestinationError> {
        let pending = self.pending.lock().expect("lock").take();
        let bytes = match pending {
            Some((descriptor, bytes)) if descriptor.digest == root.digest => bytes,
            other => {
                *self.pending.lock().expect("lock") = other;
                self.flush().map_err(|e| DestinationError::Registry {
                    destination: self.name.clone(),
                    source: Box::new(e),
                })?;
                // The root was sent earlier, or was there already: tag it by content.
                let sent = self.sent.lock().expect("lock").remove(&root.digest);
                match sent {
                    Some(bytes) => bytes,
                    None => {
                        self.remote
                            .repo
                            .get_manifest(&oci_registry::ManifestRef::Digest(root.digest.clone()))
                            .map_err(|e| DestinationError::Registry {
                                destination: self.name.clone(),
                                source: Box::new(e),
                            })?
                            .bytes
                    }
                }
            }
        };
        let reference = match &self.tag {
            Some(tag) => oci_registry::ManifestRef::Tag(tag.clone()),
            None => oci_registry::ManifestRef::Digest(root.digest.clone()),
        };
        self.remote
            .repo
            .put_manifest(&reference, &bytes, root.media_type.as_str())
            .map_err(|e| DestinationError::Registry {
                destination: self.name.clone(),
                source: Box::new(e),
            })?;
        self.index_referrers()?;
        Ok(root.clone())
    }
}

impl RegistryDestination {
    /// Lists each referrer copied with the image under its subject's tag-schema index,
    /// unless the registry processed its subject itself (a referrers API).
    fn index_referrers(&self) -> Result<(), DestinationError> {
        let referrers = std::mem::take(&mut *self.referrers.lock().expect("lock"));
        let failed = |e: oci_registry::Error| DestinationError::Registry {
            destination: self.name.clone(),
            source: Box::new(e),
        };
        for referrer in referrers {
            if self
                .processed
                .lock()
                .expect("lock")
                .contains(&referrer.digest)
            {
                continue;
            }
            let sent = self
                .sent
                .lock()
                .expect("lock")
                .get(&referrer.digest)
                .cloned();
            let bytes = match sent {
                Some(bytes) => bytes,
                None => {
                    self.remote
                        .get_manifest(referrer.digest.as_str())
                        .map_err(failed)?
                        .bytes
                }
            };
            let Some(subject) = subject_of(&bytes) else {
                continue;
            };
            self.remote
                .add_referrer(&subject, &referrer)
                .map_err(failed)?;
        }
        Ok(())
    }
}

/// The `subject` digest of a manifest or index, if it has one.
fn subject_of(bytes: &[u8]) -> Option<Digest> {
    #[derive(serde::Deserialize)]
    struct WithSubject {
        subject: Option<Descriptor>,
    }
    serde_json::from_slice::<WithSubject>(bytes)
        .ok()?
        .subject
        .map(|s| s.digest)
}

/// A recompressed layer bound for a registry: spooled to an unlinked temp file (its digest
/// is known only at the end), then pushed.
struct SpooledSink<'a> {
    destination: &'a RegistryDestination,
    file: std::fs::File,
    written: u64,
}

impl io::Write for SpooledSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobSink for SpooledSink<'_> {
    fn commit(self: Box<Self>, measured: &oci_digest::Measured) -> Result<(), PutError> {
        use io::Seek as _;
        let SpooledSink {
            destination,
            mut file,
            written,
        } = *self;
        // A layer, as far as the registry is concerned (any type but a manifest's).
        let descriptor = Descriptor::new(
            "application/octet-stream",
            measured.digest.clone(),
            measured.size,
        );
        if written != measured.size {
            return Err(PutError::Io {
                action: "spool a layer (size differs from what was measured) in",
                path: std::env::temp_dir(),
                source: io::Error::other(format!(
                    "{written} bytes written, {} measured",
                    measured.size
                )),
            });
        }
        if destination.has_blob(&descriptor) {
            return Ok(());
        }
        file.rewind().map_err(|source| PutError::Io {
            action: "rewind",
            path: std::env::temp_dir(),
            source,
        })?;
        destination.put_blob(&descriptor, &mut file)
    }
}

/// The tags of `reference`'s repository (every page), through registries.conf as a pull
/// resolves it (the first place that answers).
pub fn list_tags(
    reference: &Reference,
    options: &RegistryOptions,
) -> Result<Vec<String>, RegistryError> {
    let place = push_place(reference, options)?;
    let remote = Remote::new(&place, options)?;
    remote
        .repo
        .tags()
        .map_err(|source| RegistryError::Protocol {
            reference: remote.name.clone(),
            source: Box::new(source),
        })
}

/// Deletes the manifest `reference` names (a tag is first resolved to its digest);
/// returns the digest deleted.
pub fn delete_image(
    reference: &Reference,
    options: &RegistryOptions,
) -> Result<Digest, RegistryError> {
    let place = push_place(reference, options)?;
    let remote = Remote::new(&place, options)?;
    let protocol = |source| RegistryError::Protocol {
        reference: place.reference.to_string(),
        source: Box::new(source),
    };
    let digest = match place.reference.digest() {
        Some(d) => Digest::parse(d).expect("a digest the reference grammar took"),
        None => {
            let tag = place.reference.tag().unwrap_or(oci_naming::DEFAULT_TAG);
            remote.get_manifest(tag).map_err(protocol)?.digest
        }
    };
    remote.repo.delete_manifest(&digest).map_err(protocol)?;
    Ok(digest)
}
