//! Signatures stored with an image, read through its [`Source`] and written through a
//! [`Destination`]: OCI 1.1 referrers (an artifact manifest whose `subject` is the signed
//! manifest), cosign's `sha256-<hex>.sig` tag, and containers lookaside directories
//! configured by registries.d. The trust policy of `oci-sign` decides on what is read
//! here ([`check_policy`]).
//!
//! Everything read is bounded before it is used: at most [`MAX_SIGNATURES`] signatures of
//! at most [`MAX_SIGNATURE_SIZE`] bytes, at most [`MAX_SIGNATURE_LAYERS`] layers in one
//! signature manifest (cosign CVE-2023-46737); a digest names a file or tag only after a
//! strict parse (CVE-2024-3727); a referrer whose `subject` does not name the signed
//! manifest by digest, size and media type is refused (CVE-2023-33959).

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use oci_digest::{Algorithm, Digester};
use oci_sign::cosign::{SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE};
use oci_sign::policy::{ImageRef, Policy, Requirement, SignatureVerdict, Verdict};
use oci_sign::registries_d::{Lookaside, RegistriesD, file_url_path, lookaside_dir};
use oci_sign::{MAX_SIGNATURE_SIZE, MAX_SIGNATURES, StoredSignature};
use oci_spec_types::descriptor::{EMPTY_CONTENT, EMPTY_DIGEST, EMPTY_SIZE};
use oci_spec_types::{Descriptor, Digest, ImageManifest, MediaType, media_type};

use crate::resolve::MAX_DOCUMENT_SIZE;
use crate::transport::{
    BlobOpenError, Destination, DestinationError, Endpoint, LayoutDestination,
    OciArchiveDestination, ReferrersError, Source,
};

/// The `artifactType` (and layer media type) of a simple signature stored as an OCI 1.1
/// referrer: the layer holds the signature blob as containers/image stores it (a binary
/// OpenPGP message). An ocimg convention; containers/image has no referrer form.
pub const SIMPLE_SIGNING_ARTIFACT_TYPE: &str = "application/vnd.ocimg.simple-signing.v1";

/// The `artifactType` cosign gives a signature stored as an OCI 1.1 referrer; its layer
/// is the cosign payload (`application/vnd.dev.cosign.simplesigning.v1+json`) with the
/// signature in the `dev.cosignproject.cosign/signature` annotation.
pub const COSIGN_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// The most layers read from one signature manifest (cosign's limit, CVE-2023-46737).
pub const MAX_SIGNATURE_LAYERS: usize = 1000;

/// Where a signature was found or put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An OCI 1.1 referrer manifest of this digest.
    Referrer(Digest),
    /// A manifest under this tag (cosign's `sha256-<hex>.sig`).
    Tag(String),
    /// A file of a lookaside directory.
    Lookaside(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Referrer(d) => write!(f, "referrer {d}"),
            Origin::Tag(t) => write!(f, "tag {t}"),
            Origin::Lookaside(p) => write!(f, "lookaside {}", p.display()),
        }
    }
}

/// A signature blob as containers/image stores it (raw OpenPGP, or `\x00`-framed
/// `sigstore-json`), and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The stored blob.
    pub blob: Vec<u8>,
    /// Where it was.
    pub origin: Origin,
}

/// Something stored as a signature that was refused before any cryptography.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// `simple` or `cosign`, by the artifact type.
    pub format: &'static str,
    /// Where it was.
    pub origin: Origin,
    /// Why.
    pub reason: String,
}

/// The signatures stored for one manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSignatures {
    /// The signature blobs, in the order read (referrers, the `.sig` tag, lookaside).
    pub found: Vec<Found>,
    /// What was refused (a referrer naming another subject, say).
    pub refused: Vec<Refused>,
}

/// Why the signatures of an image could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SignaturesError {
    /// A digest is not strictly valid (CVE-2024-3727).
    #[error(transparent)]
    Digest(#[from] oci_sign::ManifestError),
    /// The referrers or a tag could not be listed.
    #[error(transparent)]
    Referrers(#[from] ReferrersError),
    /// A signature manifest or blob could not be read.
    #[error(transparent)]
    Blob(#[from] BlobOpenError),
    /// A lookaside directory could not be read.
    #[error(transparent)]
    Lookaside(#[from] oci_sign::policy::SourceError),
    /// More signatures or layers than allowed (CVE-2023-46737).
    #[error("{what} of {image}: more than {limit}")]
    TooMany {
        /// The image.
        image: String,
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A signature manifest is not a valid image manifest.
    #[error("signature manifest {digest} of {image} is invalid: {reason}")]
    Manifest {
        /// The image.
        image: String,
        /// The manifest.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// The destination cannot hold the signature, and no lookaside is configured for it.
    #[error("{destination} cannot hold signatures (no referrers and no lookaside-staging)")]
    CannotHold {
        /// The destination.
        destination: String,
    },
    /// The destination refused a blob or manifest.
    #[error(transparent)]
    Destination(#[from] DestinationError),
    /// A blob could not be stored.
    #[error("cannot store blob {digest} in {destination}")]
    Put {
        /// The destination.
        destination: String,
        /// The blob.
        digest: Digest,
        /// The cause.
        #[source]
        source: Box<oci_digest::PutError>,
    },
    /// A lookaside signature could not be written.
    #[error("cannot write lookaside signature {}", path.display())]
    LookasideWrite {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The lookaside URL cannot be written (only `file://` can).
    #[error("lookaside {url} cannot be {action} (only file:// URLs can)")]
    LookasideUrl {
        /// The URL.
        url: String,
        /// `read` or `written`.
        action: &'static str,
    },
}

impl SignaturesError {
    /// Whether this is a check failure (exit 1: hostile or damaged content) rather than
    /// an I/O error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            SignaturesError::Digest(_)
            | SignaturesError::TooMany { .. }
            | SignaturesError::Manifest { .. } => true,
            SignaturesError::Referrers(e) => e.is_check_failure(),
            SignaturesError::Blob(e) => e.is_check_failure(),
            SignaturesError::Lookaside(e) => !matches!(e, oci_sign::policy::SourceError::Io { .. }),
            SignaturesError::Destination(e) => e.is_check_failure(),
            SignaturesError::CannotHold { .. }
            | SignaturesError::Put { .. }
            | SignaturesError::LookasideWrite { .. }
            | SignaturesError::LookasideUrl { .. } => false,
        }
    }
}

/// cosign's tag for the signatures of `digest`: `sha256-<hex>.sig`, from a digest
/// parsed strictly first.
pub fn cosign_tag(digest: &Digest) -> Result<String, oci_sign::ManifestError> {
    let d = oci_sign::parse_strict_digest(digest.as_str())?;
    Ok(format!("{}-{}.sig", d.algorithm_name(), d.encoded()))
}

/// The signature manifests stored for `signed` at `source`: its signature referrers
/// (artifact type [`SIMPLE_SIGNING_ARTIFACT_TYPE`] or [`COSIGN_ARTIFACT_TYPE`]) and the
/// cosign `.sig` tag, as `(descriptor, tag)`; bounded by [`MAX_SIGNATURES`].
pub fn signature_manifests(
    source: &dyn Source,
    signed: &Descriptor,
) -> Result<Vec<(Descriptor, Option<String>)>, SignaturesError> {
    oci_sign::parse_strict_digest(signed.digest.as_str())?;
    let mut out = Vec::new();
    for referrer in source.referrers(&signed.digest)?.unwrap_or_default() {
        if is_signature_artifact(&referrer) {
            out.push((referrer, None));
            if out.len() > MAX_SIGNATURES {
                return Err(SignaturesError::TooMany {
                    image: source.describe(),
                    what: "signature referrers",
                    limit: MAX_SIGNATURES,
                });
            }
        }
    }
    let tag = cosign_tag(&signed.digest)?;
    if let Some(descriptor) = source.tagged(&tag)? {
        out.push((descriptor, Some(tag)));
    }
    Ok(out)
}

fn is_signature_artifact(d: &Descriptor) -> bool {
    matches!(
        d.artifact_type.as_ref().map(|t| t.as_str()),
        Some(SIMPLE_SIGNING_ARTIFACT_TYPE | COSIGN_ARTIFACT_TYPE)
    )
}

/// Reads the signatures stored for the manifest `signed` at `source`: its signature
/// referrers (each one's `subject` checked against `signed`: digest, size and media
/// type), its cosign `.sig` tag, and, for a source with a Docker reference, the
/// lookaside directory registries.d names for it.
pub fn read_signatures(
    source: &dyn Source,
    signed: &Descriptor,
    config: &RegistriesD,
) -> Result<ImageSignatures, SignaturesError> {
    let mut out = ImageSignatures::default();
    for (descriptor, tag) in signature_manifests(source, signed)? {
        read_signature_manifest(source, signed, &descriptor, tag, &mut out)?;
    }
    if let Some(reference) = source.docker_reference()
        && let Some(url) = config.section_for(&reference).and_then(|s| s.read_url())
    {
        match file_url_path(url) {
            Some(base) => {
                let dir = lookaside_dir(&base, &reference, signed.digest.as_str())?;
                let blobs =
                    oci_sign::policy::SignatureSource::signatures(&Lookaside { dir: dir.clone() })?;
                for (i, blob) in blobs.into_iter().enumerate() {
                    out.found.push(Found {
                        blob,
                        origin: Origin::Lookaside(dir.join(format!("signature-{}", i + 1))),
                    });
                }
            }
            None => out.refused.push(Refused {
                format: "simple",
                origin: Origin::Lookaside(PathBuf::from(url)),
                reason: format!("lookaside {url} is not read: only file:// URLs are, so far"),
            }),
        }
    }
    if out.found.len() > MAX_SIGNATURES {
        return Err(SignaturesError::TooMany {
            image: source.describe(),
            what: "signatures",
            limit: MAX_SIGNATURES,
        });
    }
    Ok(out)
}

/// Reads one signature manifest into `out`.
fn read_signature_manifest(
    source: &dyn Source,
    signed: &Descriptor,
    descriptor: &Descriptor,
    tag: Option<String>,
    out: &mut ImageSignatures,
) -> Result<(), SignaturesError> {
    let origin = match &tag {
        Some(t) => Origin::Tag(t.clone()),
        None => Origin::Referrer(descriptor.digest.clone()),
    };
    let bytes = source.read_small(descriptor, MAX_DOCUMENT_SIZE)?;
    let manifest: ImageManifest =
        oci_spec_types::document::from_slice(&bytes).map_err(|e| SignaturesError::Manifest {
            image: source.describe(),
            digest: descriptor.digest.clone(),
            reason: e.to_string(),
        })?;
    let artifact_type = manifest.artifact_type.as_ref().map(|t| t.as_str());
    let format = if artifact_type == Some(SIMPLE_SIGNING_ARTIFACT_TYPE) {
        "simple"
    } else {
        "cosign"
    };
    if tag.is_none() {
        // CVE-2023-33959: the subject must be the signed manifest itself.
        let problem = subject_problem(&manifest, signed);
        if let Some(problem) = problem {
            out.refused.push(Refused {
                format,
                origin,
                reason: format!("referrer {} refused: {problem}", descriptor.digest),
            });
            return Ok(());
        }
    }
    if manifest.layers.len() > MAX_SIGNATURE_LAYERS {
        return Err(SignaturesError::TooMany {
            image: source.describe(),
            what: "layers of a signature manifest",
            limit: MAX_SIGNATURE_LAYERS,
        });
    }
    for layer in &manifest.layers {
        if layer.size > MAX_SIGNATURE_SIZE as u64 {
            out.refused.push(Refused {
                format,
                origin: origin.clone(),
                reason: format!(
                    "signature layer {} of {} bytes is over the limit of {MAX_SIGNATURE_SIZE}",
                    layer.digest, layer.size
                ),
            });
            continue;
        }
        match layer.media_type.as_str() {
            SIMPLE_SIGNING_ARTIFACT_TYPE if format == "simple" => {
                let blob = source.read_small(layer, MAX_SIGNATURE_SIZE as u64)?;
                out.found.push(Found {
                    blob,
                    origin: origin.clone(),
                });
            }
            SIMPLESIGNING_MEDIA_TYPE => {
                let payload = source.read_small(layer, MAX_SIGNATURE_SIZE as u64)?;
                out.found.push(Found {
                    blob: sigstore_blob(&payload, layer.annotations.clone().unwrap_or_default()),
                    origin: origin.clone(),
                });
            }
            // Other attachments (certificates, bundles, attestations) are not signatures
            // this verifier reads.
            _ => {}
        }
    }
    Ok(())
}

/// The `\x00sigstore-json` blob containers/image stores for a cosign layer.
fn sigstore_blob(payload: &[u8], annotations: BTreeMap<String, String>) -> Vec<u8> {
    let json = serde_json::json!({
        "mimeType": SIMPLESIGNING_MEDIA_TYPE,
        "payload": B64.encode(payload),
        "annotations": annotations,
    });
    StoredSignature::SigstoreJson(serde_json::to_vec(&json).expect("JSON serializes")).to_blob()
}

/// A new signature to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewSignature {
    /// A simple signature: a binary OpenPGP signed message.
    Simple(Vec<u8>),
    /// A cosign signature: the payload and its signature (base64 of DER).
    Cosign {
        /// The payload bytes.
        payload: Vec<u8>,
        /// The `dev.cosignproject.cosign/signature` annotation.
        signature: String,
    },
}

/// Where a signature goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Storage {
    /// The format's own place: for cosign, the `sha256-<hex>.sig` tag (one layer per
    /// signature) as cosign writes it; for a simple signature, the lookaside staging
    /// directory registries.d names for the destination, else a referrer.
    #[default]
    Tag,
    /// An OCI 1.1 referrer, whatever the format.
    Referrers,
}

/// Stores a signature of `signed` at `destination`, and says where.
///
/// A simple signature goes to the `lookaside-staging` (else `lookaside`) directory
/// registries.d names for a destination with a Docker reference, else (or with
/// [`Storage::Referrers`]) beside the image as a referrer. A cosign signature goes to the `.sig` tag (appended to what `existing`,
/// the destination's read side, has under it; a signature already there is not added
/// twice) or, with [`Storage::Referrers`], as a referrer.
pub fn put_signature(
    destination: &dyn Destination,
    existing: Option<&dyn Source>,
    signed: &Descriptor,
    signature: &NewSignature,
    storage: Storage,
    config: &RegistriesD,
) -> Result<Origin, SignaturesError> {
    oci_sign::parse_strict_digest(signed.digest.as_str())?;
    match signature {
        NewSignature::Simple(blob) => {
            if storage == Storage::Tag
                && let Some(reference) = destination.docker_reference()
                && let Some(url) = config.section_for(&reference).and_then(|s| s.write_url())
            {
                let base = file_url_path(url).ok_or_else(|| SignaturesError::LookasideUrl {
                    url: url.to_owned(),
                    action: "written",
                })?;
                let dir = lookaside_dir(&base, &reference, signed.digest.as_str())?;
                return write_lookaside(&dir, blob).map(Origin::Lookaside);
            }
            let layer = put_bytes(destination, SIMPLE_SIGNING_ARTIFACT_TYPE, blob)?;
            put_referrer(destination, signed, SIMPLE_SIGNING_ARTIFACT_TYPE, layer)
        }
        NewSignature::Cosign { payload, signature } => {
            let mut layer = put_bytes(destination, SIMPLESIGNING_MEDIA_TYPE, payload)?;
            layer.annotations = Some(BTreeMap::from([(
                SIGNATURE_ANNOTATION.to_owned(),
                signature.clone(),
            )]));
            match storage {
                Storage::Referrers => {
                    put_referrer(destination, signed, COSIGN_ARTIFACT_TYPE, layer)
                }
                Storage::Tag => put_cosign_tag(destination, existing, signed, layer),
            }
        }
    }
}

/// Stores `bytes` as a blob of `media_type`.
fn put_bytes(
    destination: &dyn Destination,
    media_type: &str,
    bytes: &[u8],
) -> Result<Descriptor, SignaturesError> {
    let measured = Digester::digest_bytes(Algorithm::Sha256, bytes);
    let descriptor = Descriptor::new(media_type, measured.digest, measured.size);
    if !destination.has_blob(&descriptor) {
        destination
            .put_blob(&descriptor, &mut &bytes[..])
            .map_err(|source| SignaturesError::Put {
                destination: destination.describe(),
                digest: descriptor.digest.clone(),
                source: Box::new(source),
            })?;
    }
    Ok(descriptor)
}

/// Stores a manifest (serialized deterministically) under `tag` or untagged.
fn put_manifest(
    destination: &dyn Destination,
    manifest: &ImageManifest,
    tag: Option<&str>,
) -> Result<Descriptor, SignaturesError> {
    if !destination.can_put_manifests() {
        return Err(SignaturesError::CannotHold {
            destination: destination.describe(),
        });
    }
    let bytes = oci_spec_types::document::to_bytes(manifest);
    let measured = Digester::digest_bytes(Algorithm::Sha256, &bytes);
    let mut descriptor =
        Descriptor::new(media_type::IMAGE_MANIFEST, measured.digest, measured.size);
    descriptor.artifact_type = manifest.artifact_type.clone();
    destination.put_manifest(&descriptor, &bytes, tag)?;
    Ok(descriptor)
}

/// A referrer of `signed` with the empty config and one layer.
fn put_referrer(
    destination: &dyn Destination,
    signed: &Descriptor,
    artifact_type: &str,
    layer: Descriptor,
) -> Result<Origin, SignaturesError> {
    let config = put_bytes(destination, media_type::EMPTY, EMPTY_CONTENT)?;
    debug_assert_eq!(
        (config.digest.as_str(), config.size),
        (EMPTY_DIGEST, EMPTY_SIZE)
    );
    let mut manifest = ImageManifest::new(config, vec![layer]);
    manifest.artifact_type = Some(MediaType::from(artifact_type));
    manifest.subject = Some(Descriptor::new(
        signed.media_type.as_str(),
        signed.digest.clone(),
        signed.size,
    ));
    let descriptor = put_manifest(destination, &manifest, None)?;
    Ok(Origin::Referrer(descriptor.digest))
}

/// Appends `layer` to the `.sig` tag (a new config listing the layers, as
/// containers/image writes it) and retags.
fn put_cosign_tag(
    destination: &dyn Destination,
    existing: Option<&dyn Source>,
    signed: &Descriptor,
    layer: Descriptor,
) -> Result<Origin, SignaturesError> {
    let tag = cosign_tag(&signed.digest)?;
    let mut layers = Vec::new();
    if let Some(source) = existing
        && let Some(current) = source.tagged(&tag)?
    {
        let bytes = source.read_small(&current, MAX_DOCUMENT_SIZE)?;
        let manifest: ImageManifest =
            oci_spec_types::document::from_slice(&bytes).map_err(|e| {
                SignaturesError::Manifest {
                    image: source.describe(),
                    digest: current.digest.clone(),
                    reason: e.to_string(),
                }
            })?;
        if manifest.layers.len() >= MAX_SIGNATURE_LAYERS {
            return Err(SignaturesError::TooMany {
                image: source.describe(),
                what: "layers of the .sig manifest",
                limit: MAX_SIGNATURE_LAYERS,
            });
        }
        layers = manifest.layers;
    }
    if !layers
        .iter()
        .any(|l| l.digest == layer.digest && l.annotations == layer.annotations)
    {
        layers.push(layer);
    }
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    let config = serde_json::json!({
        "architecture": "",
        "config": {},
        "os": "",
        "rootfs": {"diff_ids": diff_ids, "type": "layers"},
    });
    let config = put_bytes(
        destination,
        media_type::IMAGE_CONFIG,
        &serde_json::to_vec(&config).expect("JSON serializes"),
    )?;
    put_manifest(destination, &ImageManifest::new(config, layers), Some(&tag))?;
    Ok(Origin::Tag(tag))
}

/// Writes `blob` as the next free `signature-N` of a lookaside directory (nothing when
/// an identical signature is there).
fn write_lookaside(dir: &std::path::Path, blob: &[u8]) -> Result<PathBuf, SignaturesError> {
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| SignaturesError::LookasideWrite { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for n in 1..=MAX_SIGNATURES {
        let path = dir.join(format!("signature-{n}"));
        match std::fs::read(&path) {
            Ok(existing) if existing == blob => return Ok(path),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        let mut file = oci_digest::AtomicFile::create(&path)
            .map_err(|e| io(&path)(std::io::Error::other(e)))?;
        std::io::Write::write_all(&mut file, blob).map_err(io(&path))?;
        file.commit()
            .map_err(|e| io(&path)(std::io::Error::other(e)))?;
        return Ok(path);
    }
    Err(SignaturesError::TooMany {
        image: dir.display().to_string(),
        what: "lookaside signatures",
        limit: MAX_SIGNATURES,
    })
}

/// Opens the place where signatures of the image `endpoint` names are put, beside the
/// image: the layout (`oci:`) or archive (`oci-archive:`, written out at
/// [`Destination::finish`]). A docker-archive or `discover:` name cannot hold them.
pub fn open_signature_destination(
    endpoint: &Endpoint,
) -> Result<Box<dyn Destination>, DestinationError> {
    match endpoint {
        Endpoint::Oci(name) => Ok(Box::new(LayoutDestination::open(&name.dir, None)?)),
        Endpoint::OciArchive { file, .. } => Ok(Box::new(OciArchiveDestination::open(file, None)?)),
        other => Err(DestinationError::NoManifests {
            destination: other.to_string(),
        }),
    }
}

/// The image as a trust policy sees it: its Docker reference when the source has one,
/// else its transport and absolute path (with `:REF` for a layout or archive reference).
pub fn policy_image(endpoint: &Endpoint, source: &dyn Source) -> ImageRef {
    if let Some(reference) = source.docker_reference() {
        return ImageRef::Docker(reference);
    }
    let absolute = |p: &std::path::Path| {
        std::path::absolute(p)
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let (path, tag) = match endpoint {
        Endpoint::Oci(name) => (
            absolute(&name.dir),
            name.reference.as_ref().map(|r| r.to_string()),
        ),
        Endpoint::OciArchive { file, reference } => {
            (absolute(file), reference.as_ref().map(|r| r.to_string()))
        }
        Endpoint::DockerArchive { file, .. } => (absolute(file), None),
        other => (other.to_string(), None),
    };
    ImageRef::Path {
        transport: source.transport().to_string(),
        path,
        tag,
    }
}

/// The outcome of [`check_policy`]: the signed manifest and the policy's verdict, the
/// refused signatures listed among the signature verdicts.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyCheck {
    /// The manifest (or index) checked: what the image name resolves to.
    pub signed: Descriptor,
    /// The verdict.
    pub verdict: Verdict,
}

/// Applies `policy` to the image `source` names (opened from `endpoint`): its root
/// manifest is read (bounded, verified), its signatures read only when a requirement
/// asks for signatures, and the policy evaluated at `now` (Unix seconds).
pub fn check_policy(
    endpoint: &Endpoint,
    source: &dyn Source,
    policy: &Policy,
    config: &RegistriesD,
    now: u64,
) -> Result<PolicyCheck, SignaturesError> {
    let image = policy_image(endpoint, source);
    let signed = source.root().clone();
    let manifest = source.read_small(&signed, MAX_DOCUMENT_SIZE)?;
    let (_, requirements) = policy.requirements_for(&image);
    let needs_signatures = requirements.iter().any(|r| {
        matches!(
            r,
            Requirement::SignedBy { .. } | Requirement::SigstoreSigned { .. }
        )
    });
    let signatures = if needs_signatures {
        read_signatures(source, &signed, config)?
    } else {
        ImageSignatures::default()
    };
    let blobs: Vec<Vec<u8>> = signatures.found.iter().map(|f| f.blob.clone()).collect();
    let mut verdict = oci_sign::policy::evaluate(policy, &image, &manifest, &blobs, now);
    for refused in signatures.refused {
        verdict.signatures.push(SignatureVerdict {
            format: refused.format,
            signer: None,
            identity: None,
            accepted: false,
            reason: format!("{}: {}", refused.origin, refused.reason),
        });
    }
    Ok(PolicyCheck { signed, verdict })
}

/// The registries.d configuration containers/image reads: `dir` when given, else
/// `~/.config/containers/registries.d` when it exists, else
/// `/etc/containers/registries.d`; a directory that does not exist configures nothing.
pub fn load_registries_d(
    dir: Option<&std::path::Path>,
) -> Result<RegistriesD, oci_sign::registries_d::RegistriesDError> {
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => {
            let user = std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".config/containers/registries.d"));
            match user {
                Some(u) if u.is_dir() => u,
                _ => PathBuf::from("/etc/containers/registries.d"),
            }
        }
    };
    if !dir.is_dir() {
        return Ok(RegistriesD::default());
    }
    RegistriesD::from_dir(&dir)
}

/// The subject problem of a referrer manifest, if it does not name `signed` exactly.
fn subject_problem(manifest: &ImageManifest, signed: &Descriptor) -> Option<String> {
    match &manifest.subject {
        None => Some("it has no subject".to_owned()),
        Some(s) if s.digest != signed.digest => Some(format!(
            "its subject digest {} is not the signed manifest's {}",
            s.digest, signed.digest
        )),
        Some(s) if s.size != signed.size => Some(format!(
            "its subject size {} is not the signed manifest's {}",
            s.size, signed.size
        )),
        Some(s) if s.media_type != signed.media_type => Some(format!(
            "its subject media type {} is not the signed manifest's {}",
            s.media_type, signed.media_type
        )),
        Some(_) => None,
    }
}

/// Carries the signatures of the manifest a copy wrote (`copied`) from `source` to
/// `destination`, before the copy names the image: signature manifests byte for byte
/// (their config and layers first), lookaside simple signatures through
/// [`put_signature`]. A copy that changed a signed manifest is refused; an index's
/// signatures stay behind when one platform was picked out of it (`all` false).
pub(crate) fn carry_signatures(
    source: &dyn Source,
    destination: &dyn Destination,
    copied: &Descriptor,
    all: bool,
    config: &RegistriesD,
) -> Result<usize, crate::CopyError> {
    let root = source.root();
    let picked_from_index = !all
        && matches!(
            root.media_type.as_str(),
            media_type::IMAGE_INDEX | media_type::DOCKER_MANIFEST_LIST
        );
    let signed = if copied.digest == root.digest {
        root.clone()
    } else if picked_from_index {
        // The instance, when it was copied unchanged.
        Descriptor::new(
            copied.media_type.as_str(),
            copied.digest.clone(),
            copied.size,
        )
    } else {
        let manifests = signature_manifests(source, root)?;
        let lookaside = read_signatures(source, root, config)?;
        if !manifests.is_empty() || !lookaside.found.is_empty() {
            return Err(crate::CopyError::WouldInvalidateSignatures {
                digest: root.digest.clone(),
                changed: copied.digest.clone(),
            });
        }
        return Ok(0);
    };
    let mut carried = 0;
    for (descriptor, tag) in signature_manifests(source, &signed)? {
        let bytes = source.read_small(&descriptor, MAX_DOCUMENT_SIZE)?;
        let manifest: ImageManifest =
            oci_spec_types::document::from_slice(&bytes).map_err(|e| {
                SignaturesError::Manifest {
                    image: source.describe(),
                    digest: descriptor.digest.clone(),
                    reason: e.to_string(),
                }
            })?;
        if tag.is_none() && subject_problem(&manifest, &signed).is_some() {
            continue;
        }
        if manifest.layers.len() > MAX_SIGNATURE_LAYERS {
            return Err(SignaturesError::TooMany {
                image: source.describe(),
                what: "layers of a signature manifest",
                limit: MAX_SIGNATURE_LAYERS,
            }
            .into());
        }
        if !destination.can_put_manifests() {
            return Err(SignaturesError::CannotHold {
                destination: destination.describe(),
            }
            .into());
        }
        let limit = |d: &Descriptor| {
            if d == &manifest.config {
                MAX_DOCUMENT_SIZE
            } else {
                MAX_SIGNATURE_SIZE as u64
            }
        };
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if destination.has_blob(blob) {
                continue;
            }
            let content = source.read_small(blob, limit(blob))?;
            destination
                .put_blob(blob, &mut &content[..])
                .map_err(|source| SignaturesError::Put {
                    destination: destination.describe(),
                    digest: blob.digest.clone(),
                    source: Box::new(source),
                })?;
        }
        let mut entry = Descriptor::new(
            descriptor.media_type.as_str(),
            descriptor.digest.clone(),
            descriptor.size,
        );
        entry.artifact_type = manifest.artifact_type.clone();
        destination
            .put_manifest(&entry, &bytes, tag.as_deref())
            .map_err(SignaturesError::from)?;
        carried += 1;
    }
    if source.docker_reference().is_some() {
        let found = read_signatures(source, &signed, config)?;
        for f in found.found {
            if !matches!(f.origin, Origin::Lookaside(_)) {
                continue;
            }
            if let Ok(StoredSignature::SimpleSigning(blob)) = StoredSignature::from_blob(&f.blob) {
                put_signature(
                    destination,
                    None,
                    &signed,
                    &NewSignature::Simple(blob),
                    Storage::Tag,
                    config,
                )?;
                carried += 1;
            }
        }
    }
    Ok(carried)
}
