//! containers-policy.json(5): strict parsing, scope lookup and evaluation over the
//! signatures an image has.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_naming::Reference;

use crate::cosign::{CosignPublicKey, SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE};
use crate::framing::{MAX_SIGNATURES, StoredSignature};
use crate::json::{self, Value};
use crate::openpgp::Keyring;
use crate::payload::{COSIGN_TYPE, Payload};
use crate::simple::check_manifest;

/// The transports whose scopes a policy may name.
pub const TRANSPORTS: [&str; 5] = ["docker", "oci", "oci-archive", "docker-archive", "dir"];

/// Why a policy is rejected (the whole file is).
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    /// Not strict JSON (duplicate keys included).
    #[error("policy is not strict JSON: {reason}")]
    Json {
        /// The parser's message.
        reason: String,
    },
    /// A member is invalid: unknown, missing, of the wrong type or value.
    #[error("invalid policy at {at}: {reason}")]
    Invalid {
        /// JSON pointer.
        at: String,
        /// What is wrong.
        reason: String,
    },
    /// The policy file cannot be read.
    #[error("cannot read policy {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
}

/// Where a requirement's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `keyPath`.
    Path(PathBuf),
    /// `keyPaths`.
    Paths(Vec<PathBuf>),
    /// `keyData` (base64-decoded).
    Data(Vec<u8>),
}

/// A `signedIdentity` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedIdentity {
    /// `matchExact`.
    MatchExact,
    /// `matchRepoDigestOrExact` (the default).
    MatchRepoDigestOrExact,
    /// `matchRepository`.
    MatchRepository,
    /// `exactReference`.
    ExactReference {
        /// `dockerReference`, with a tag or digest.
        docker_reference: String,
    },
    /// `exactRepository`.
    ExactRepository {
        /// `dockerRepository`.
        docker_repository: String,
    },
    /// `remapIdentity`.
    RemapIdentity {
        /// `prefix`.
        prefix: String,
        /// `signedPrefix`.
        signed_prefix: String,
    },
}

/// One policy requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `insecureAcceptAnything`.
    InsecureAcceptAnything,
    /// `reject`.
    Reject,
    /// `signedBy` with `keyType: GPGKeys`.
    SignedBy {
        /// The keyring.
        keys: KeySource,
        /// The identity rule.
        identity: SignedIdentity,
    },
    /// `sigstoreSigned` with a public key.
    SigstoreSigned {
        /// The PEM public key.
        key: KeySource,
        /// The identity rule.
        identity: SignedIdentity,
    },
}

impl Requirement {
    /// The `type` as spelled in policy.json.
    pub fn type_name(&self) -> &'static str {
        match self {
            Requirement::InsecureAcceptAnything => "insecureAcceptAnything",
            Requirement::Reject => "reject",
            Requirement::SignedBy { .. } => "signedBy",
            Requirement::SigstoreSigned { .. } => "sigstoreSigned",
        }
    }
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `default`.
    pub default: Vec<Requirement>,
    /// `transports`: transport, scope, requirements.
    pub transports: BTreeMap<String, BTreeMap<String, Vec<Requirement>>>,
}

fn invalid(at: &str, reason: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        at: if at.is_empty() { "/" } else { at }.to_owned(),
        reason: reason.into(),
    }
}

fn obj<'a>(v: &'a Value, at: &str) -> Result<&'a BTreeMap<String, Value>, PolicyError> {
    match v {
        Value::Object(o) => Ok(o),
        other => Err(invalid(
            at,
            format!("expected an object, found {}", other.type_name()),
        )),
    }
}

fn str_of<'a>(v: &'a Value, at: &str) -> Result<&'a str, PolicyError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(invalid(
            at,
            format!("expected a string, found {}", other.type_name()),
        )),
    }
}

fn only_keys(o: &BTreeMap<String, Value>, at: &str, allowed: &[&str]) -> Result<(), PolicyError> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(at, format!("unknown key {k:?}"))),
        None => Ok(()),
    }
}

impl Policy {
    /// Parses a policy strictly: unknown, duplicate or invalid members reject the file.
    pub fn parse(bytes: &[u8]) -> Result<Policy, PolicyError> {
        let root = json::parse(bytes).map_err(|e| PolicyError::Json { reason: e.message })?;
        let top = obj(&root, "")?;
        only_keys(top, "", &["default", "transports"])?;
        let default = parse_requirements(
            top.get("default")
                .ok_or_else(|| invalid("/default", "missing"))?,
            "/default",
        )?;
        let mut transports = BTreeMap::new();
        if let Some(t) = top.get("transports") {
            for (name, scopes) in obj(t, "/transports")? {
                let at = format!("/transports/{name}");
                if !TRANSPORTS.contains(&name.as_str()) {
                    return Err(invalid(&at, "unknown transport"));
                }
                let mut out = BTreeMap::new();
                for (scope, reqs) in obj(scopes, &at)? {
                    let at = format!("{at}/{scope}");
                    check_scope(name, scope, &at)?;
                    out.insert(scope.clone(), parse_requirements(reqs, &at)?);
                }
                transports.insert(name.clone(), out);
            }
        }
        Ok(Policy {
            default,
            transports,
        })
    }

    /// Reads a policy file.
    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        let bytes = std::fs::read(path).map_err(|e| PolicyError::Read {
            path: path.to_owned(),
            source: std::sync::Arc::new(e),
        })?;
        Policy::parse(&bytes)
    }

    /// The requirements for an image: the most specific scope of its transport that the
    /// policy names, else the transport's `""` scope, else `default`.
    pub fn requirements_for(&self, image: &ImageRef) -> (&str, &[Requirement]) {
        if let Some(scopes) = self.transports.get(image.transport()) {
            for candidate in image.scope_candidates() {
                if let Some((scope, reqs)) = scopes.get_key_value(candidate.as_str()) {
                    return (scope, reqs);
                }
            }
            if let Some((scope, reqs)) = scopes.get_key_value("") {
                return (scope, reqs);
            }
        }
        ("default", &self.default)
    }
}

/// The default policy file, as containers/image chooses it: the user's
/// `~/.config/containers/policy.json` when it exists, else `/etc/containers/policy.json`.
/// (The draft named the system file first; containers/image's order is kept so
/// that a user's policy overrides the system's and ocimg decides under the same file as
/// skopeo and podman run by the same user. `ocimg verify --help` says so.)
pub fn default_policy_path() -> PathBuf {
    if let Some(home) = std::env::var_os("HOME") {
        let user = Path::new(&home).join(".config/containers/policy.json");
        if user.exists() {
            return user;
        }
    }
    PathBuf::from("/etc/containers/policy.json")
}

fn check_scope(transport: &str, scope: &str, at: &str) -> Result<(), PolicyError> {
    if scope.is_empty() {
        return Ok(());
    }
    match transport {
        "docker" => {
            if let Some(rest) = scope.strip_prefix("*.") {
                if rest.is_empty() || rest.contains(['*', '/', ':', '@']) {
                    return Err(invalid(at, "invalid wildcard scope"));
                }
                return Ok(());
            }
            if scope.contains('*') {
                return Err(invalid(at, "a wildcard is allowed only as a leading *."));
            }
            let ok = Reference::parse(scope).is_ok_and(|r| !r.domain().is_empty())
                || (!scope.contains('/') && Reference::parse(&format!("{scope}/x")).is_ok());
            if !ok {
                return Err(invalid(
                    at,
                    "not a docker reference, repository, namespace or host",
                ));
            }
            Ok(())
        }
        _ => {
            if !scope.starts_with('/') || scope == "/" {
                return Err(invalid(at, "scope must be an absolute path other than /"));
            }
            Ok(())
        }
    }
}

fn parse_requirements(v: &Value, at: &str) -> Result<Vec<Requirement>, PolicyError> {
    let Value::Array(items) = v else {
        return Err(invalid(at, "expected an array of requirements"));
    };
    if items.is_empty() {
        return Err(invalid(at, "no requirements"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_requirement(item, &format!("{at}/{i}")))
        .collect()
}

fn parse_keys(
    o: &BTreeMap<String, Value>,
    at: &str,
    allow_paths: bool,
) -> Result<KeySource, PolicyError> {
    let mut found = Vec::new();
    if let Some(p) = o.get("keyPath") {
        found.push(KeySource::Path(PathBuf::from(str_of(
            p,
            &format!("{at}/keyPath"),
        )?)));
    }
    if let Some(p) = o.get("keyPaths") {
        if !allow_paths {
            return Err(invalid(at, "unknown key \"keyPaths\""));
        }
        let Value::Array(items) = p else {
            return Err(invalid(&format!("{at}/keyPaths"), "expected an array"));
        };
        let paths = items
            .iter()
            .map(|i| str_of(i, &format!("{at}/keyPaths")).map(PathBuf::from))
            .collect::<Result<Vec<_>, _>>()?;
        if paths.is_empty() {
            return Err(invalid(&format!("{at}/keyPaths"), "empty"));
        }
        found.push(KeySource::Paths(paths));
    }
    if let Some(d) = o.get("keyData") {
        let data = base64::engine::general_purpose::STANDARD
            .decode(str_of(d, &format!("{at}/keyData"))?)
            .map_err(|e| invalid(&format!("{at}/keyData"), format!("not base64: {e}")))?;
        found.push(KeySource::Data(data));
    }
    if found.len() != 1 {
        return Err(invalid(
            at,
            "exactly one of keyPath, keyPaths or keyData is required",
        ));
    }
    Ok(found.remove(0))
}

fn parse_identity(v: Option<&Value>, at: &str) -> Result<SignedIdentity, PolicyError> {
    let Some(v) = v else {
        return Ok(SignedIdentity::MatchRepoDigestOrExact);
    };
    let at = format!("{at}/signedIdentity");
    let o = obj(v, &at)?;
    let t = str_of(
        o.get("type").ok_or_else(|| invalid(&at, "missing type"))?,
        &at,
    )?;
    let field = |name: &str| -> Result<String, PolicyError> {
        let f = format!("{at}/{name}");
        Ok(str_of(o.get(name).ok_or_else(|| invalid(&f, "missing"))?, &f)?.to_owned())
    };
    let id = match t {
        "matchExact" => SignedIdentity::MatchExact,
        "matchRepoDigestOrExact" => SignedIdentity::MatchRepoDigestOrExact,
        "matchRepository" => SignedIdentity::MatchRepository,
        "exactReference" => {
            only_keys(o, &at, &["type", "dockerReference"])?;
            let r = field("dockerReference")?;
            let parsed = Reference::parse_normalized(&r)
                .map_err(|e| invalid(&at, format!("dockerReference: {e}")))?;
            if parsed.is_name_only() {
                return Err(invalid(&at, "dockerReference needs a tag or digest"));
            }
            SignedIdentity::ExactReference {
                docker_reference: r,
            }
        }
        "exactRepository" => {
            only_keys(o, &at, &["type", "dockerRepository"])?;
            let r = field("dockerRepository")?;
            Reference::parse_normalized(&r)
                .map_err(|e| invalid(&at, format!("dockerRepository: {e}")))?;
            SignedIdentity::ExactRepository {
                docker_repository: r,
            }
        }
        "remapIdentity" => {
            only_keys(o, &at, &["type", "prefix", "signedPrefix"])?;
            let prefix = field("prefix")?;
            let signed_prefix = field("signedPrefix")?;
            for p in [&prefix, &signed_prefix] {
                if p.contains(['@'])
                    || Reference::parse(&format!("{p}/x")).is_err() && Reference::parse(p).is_err()
                {
                    return Err(invalid(&at, format!("invalid prefix {p:?}")));
                }
            }
            SignedIdentity::RemapIdentity {
                prefix,
                signed_prefix,
            }
        }
        other => return Err(invalid(&at, format!("unknown type {other:?}"))),
    };
    if matches!(
        t,
        "matchExact" | "matchRepoDigestOrExact" | "matchRepository"
    ) {
        only_keys(o, &at, &["type"])?;
    }
    Ok(id)
}

fn parse_requirement(v: &Value, at: &str) -> Result<Requirement, PolicyError> {
    let o = obj(v, at)?;
    let t = str_of(
        o.get("type").ok_or_else(|| invalid(at, "missing type"))?,
        at,
    )?;
    match t {
        "insecureAcceptAnything" => {
            only_keys(o, at, &["type"])?;
            Ok(Requirement::InsecureAcceptAnything)
        }
        "reject" => {
            only_keys(o, at, &["type"])?;
            Ok(Requirement::Reject)
        }
        "signedBy" => {
            only_keys(
                o,
                at,
                &[
                    "type",
                    "keyType",
                    "keyPath",
                    "keyPaths",
                    "keyData",
                    "signedIdentity",
                ],
            )?;
            let kt = str_of(
                o.get("keyType")
                    .ok_or_else(|| invalid(at, "missing keyType"))?,
                at,
            )?;
            if kt != "GPGKeys" {
                return Err(invalid(
                    at,
                    format!("keyType {kt:?} is not supported (only GPGKeys)"),
                ));
            }
            Ok(Requirement::SignedBy {
                keys: parse_keys(o, at, true)?,
                identity: parse_identity(o.get("signedIdentity"), at)?,
            })
        }
        "sigstoreSigned" => {
            only_keys(o, at, &["type", "keyPath", "keyData", "signedIdentity"])?;
            Ok(Requirement::SigstoreSigned {
                key: parse_keys(o, at, false)?,
                identity: parse_identity(o.get("signedIdentity"), at)?,
            })
        }
        other => Err(invalid(at, format!("unknown requirement type {other:?}"))),
    }
}

/// The image being checked: its transport and name, as a policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `docker`: a normalized reference (with tag or digest).
    Docker(Reference),
    /// Another transport (`oci`, `oci-archive`, `docker-archive`, `dir`): an absolute
    /// path, with `:tag` for `oci` when there is one. It has no Docker identity.
    Path {
        /// The transport.
        transport: String,
        /// The absolute path.
        path: String,
        /// The tag or reference in the layout, if any.
        tag: Option<String>,
    },
}

impl ImageRef {
    /// The transport name.
    pub fn transport(&self) -> &str {
        match self {
            ImageRef::Docker(_) => "docker",
            ImageRef::Path { transport, .. } => transport,
        }
    }

    /// The scopes to look up, most specific first (containers/image's
    /// `PolicyConfigurationIdentity` then `PolicyConfigurationNamespaces`).
    pub fn scope_candidates(&self) -> Vec<String> {
        match self {
            ImageRef::Docker(r) => {
                let mut out = vec![r.to_string()];
                let name = r.name();
                let mut cur = name.as_str();
                out.push(cur.to_owned());
                while let Some(i) = cur.rfind('/') {
                    cur = &cur[..i];
                    out.push(cur.to_owned());
                }
                let host = r.domain().split(':').next().unwrap_or_default();
                let mut rest = host;
                while let Some(i) = rest.find('.') {
                    rest = &rest[i + 1..];
                    out.push(format!("*.{rest}"));
                }
                out
            }
            ImageRef::Path { path, tag, .. } => {
                let mut out = Vec::new();
                if let Some(tag) = tag {
                    out.push(format!("{path}:{tag}"));
                }
                let mut cur = path.as_str();
                while !cur.is_empty() && cur != "/" {
                    out.push(cur.to_owned());
                    cur = match cur.rfind('/') {
                        Some(0) | None => "",
                        Some(i) => &cur[..i],
                    };
                }
                out
            }
        }
    }

    fn docker(&self) -> Option<&Reference> {
        match self {
            ImageRef::Docker(r) => Some(r),
            ImageRef::Path { .. } => None,
        }
    }
}

/// Hands the signatures of an image to the evaluator (from a layout, a lookaside
/// directory, a registry). Implementations bound what they read: at most
/// [`MAX_SIGNATURES`] blobs of at most [`crate::MAX_SIGNATURE_SIZE`] bytes each.
pub trait SignatureSource {
    /// The stored signature blobs, in order.
    fn signatures(&self) -> Result<Vec<Vec<u8>>, SourceError>;
}

/// Why a signature source failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// Reading failed.
    #[error("cannot read signature {path}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
    /// More signatures or bytes than allowed (CVE-2023-46737).
    #[error("too many or too large signatures at {path}: {reason}")]
    Limit {
        /// Where.
        path: PathBuf,
        /// Which limit.
        reason: &'static str,
    },
    /// A digest unusable in a path (CVE-2024-3727).
    #[error(transparent)]
    Digest(#[from] crate::ManifestError),
}

impl SignatureSource for Vec<Vec<u8>> {
    fn signatures(&self) -> Result<Vec<Vec<u8>>, SourceError> {
        if self.len() > MAX_SIGNATURES {
            return Err(SourceError::Limit {
                path: PathBuf::new(),
                reason: "more than 1000 signatures",
            });
        }
        Ok(self.clone())
    }
}

/// The verdict on one requirement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RequirementVerdict {
    /// The requirement type.
    #[serde(rename = "type")]
    pub requirement_type: &'static str,
    /// Whether it accepted the image.
    pub accepted: bool,
    /// Why.
    pub reason: String,
}

/// The verdict on one signature under one requirement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignatureVerdict {
    /// `simple` or `cosign`.
    pub format: &'static str,
    /// The signer's key fingerprint (OpenPGP), when the signature verified.
    pub signer: Option<String>,
    /// The signed identity, when the signature verified.
    pub identity: Option<String>,
    /// Whether this requirement accepted this signature.
    pub accepted: bool,
    /// Why.
    pub reason: String,
}

/// The whole verdict: accepted only when every requirement of the chosen scope accepts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// The scope whose requirements applied (`default` for the default).
    pub scope: String,
    /// Whether the image is accepted.
    pub accepted: bool,
    /// Per requirement.
    pub requirements: Vec<RequirementVerdict>,
    /// Per signature and signature-checking requirement.
    pub signatures: Vec<SignatureVerdict>,
}

/// Evaluates `policy` for `image` with manifest bytes `manifest` and the signatures
/// `source` hands over, at time `now` (Unix seconds).
pub fn evaluate(
    policy: &Policy,
    image: &ImageRef,
    manifest: &[u8],
    source: &dyn SignatureSource,
    now: u64,
) -> Verdict {
    let (scope, reqs) = policy.requirements_for(image);
    let mut requirements = Vec::new();
    let mut signatures = Vec::new();
    let mut blobs: Option<Result<Vec<Vec<u8>>, String>> = None;
    for req in reqs {
        let (accepted, reason) = match req {
            Requirement::InsecureAcceptAnything => (true, "accepts anything".to_owned()),
            Requirement::Reject => (false, "the policy rejects this image".to_owned()),
            Requirement::SignedBy { keys, identity } => {
                let blobs =
                    blobs.get_or_insert_with(|| source.signatures().map_err(|e| e.to_string()));
                signed_by(keys, identity, image, manifest, blobs, now, &mut signatures)
            }
            Requirement::SigstoreSigned { key, identity } => {
                let blobs =
                    blobs.get_or_insert_with(|| source.signatures().map_err(|e| e.to_string()));
                sigstore_signed(key, identity, image, manifest, blobs, &mut signatures)
            }
        };
        requirements.push(RequirementVerdict {
            requirement_type: req.type_name(),
            accepted,
            reason,
        });
    }
    Verdict {
        scope: scope.to_owned(),
        accepted: !requirements.is_empty() && requirements.iter().all(|r| r.accepted),
        requirements,
        signatures,
    }
}

fn read_keys(keys: &KeySource) -> Result<Vec<Vec<u8>>, String> {
    let read =
        |p: &PathBuf| std::fs::read(p).map_err(|e| format!("cannot read key {}: {e}", p.display()));
    match keys {
        KeySource::Path(p) => Ok(vec![read(p)?]),
        KeySource::Paths(ps) => ps.iter().map(read).collect(),
        KeySource::Data(d) => Ok(vec![d.clone()]),
    }
}

fn signed_by(
    keys: &KeySource,
    identity: &SignedIdentity,
    image: &ImageRef,
    manifest: &[u8],
    blobs: &Result<Vec<Vec<u8>>, String>,
    now: u64,
    out: &mut Vec<SignatureVerdict>,
) -> (bool, String) {
    let keyring = match read_keys(keys).and_then(|datas| {
        let mut ring: Option<Keyring> = None;
        for d in datas {
            let k = Keyring::from_bytes(&d).map_err(|e| e.to_string())?;
            match &mut ring {
                Some(r) => r.extend(k),
                None => ring = Some(k),
            }
        }
        ring.ok_or_else(|| "no keys".to_owned())
    }) {
        Ok(k) => k,
        Err(e) => return (false, e),
    };
    let blobs = match blobs {
        Ok(b) => b,
        Err(e) => return (false, e.clone()),
    };
    let mut any = false;
    let mut seen = 0;
    for blob in blobs {
        let Ok(StoredSignature::SimpleSigning(data)) = StoredSignature::from_blob(blob) else {
            continue;
        };
        seen += 1;
        let checked = crate::simple::verify_simple(&data, &keyring, manifest, now)
            .map(|v| (Some(v.fingerprint), v.payload.docker_reference))
            .map_err(|e| e.to_string());
        let verdict = judge("simple", checked, identity, image);
        any |= verdict.accepted;
        out.push(verdict);
    }
    outcome(any, seen)
}

/// One signature's verdict: refused for `checked`'s reason, or judged by the
/// `signedIdentity` rule on its (signer, signed identity).
fn judge(
    format: &'static str,
    checked: Result<(Option<String>, String), String>,
    identity: &SignedIdentity,
    image: &ImageRef,
) -> SignatureVerdict {
    match checked {
        Err(reason) => SignatureVerdict {
            format,
            signer: None,
            identity: None,
            accepted: false,
            reason,
        },
        Ok((signer, signed)) => {
            let m = identity_matches(identity, image, &signed);
            SignatureVerdict {
                format,
                signer,
                identity: Some(signed),
                accepted: m.is_ok(),
                reason: m.err().unwrap_or_else(|| "signature accepted".to_owned()),
            }
        }
    }
}

/// A requirement's outcome after reading `seen` signatures of its format.
fn outcome(any: bool, seen: usize) -> (bool, String) {
    if any {
        (true, "a signature was accepted".to_owned())
    } else if seen == 0 {
        (
            false,
            "a signature was required, but no signature exists".to_owned(),
        )
    } else {
        (false, format!("none of the {seen} signatures was accepted"))
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SigstoreJson {
    #[serde(rename = "mimeType")]
    mime_type: String,
    payload: String,
    annotations: BTreeMap<String, String>,
}

fn sigstore_signed(
    key: &KeySource,
    identity: &SignedIdentity,
    image: &ImageRef,
    manifest: &[u8],
    blobs: &Result<Vec<Vec<u8>>, String>,
    out: &mut Vec<SignatureVerdict>,
) -> (bool, String) {
    let key = match read_keys(key)
        .and_then(|k| CosignPublicKey::from_pem(&k[0]).map_err(|e| e.to_string()))
    {
        Ok(k) => k,
        Err(e) => return (false, e),
    };
    let blobs = match blobs {
        Ok(b) => b,
        Err(e) => return (false, e.clone()),
    };
    let mut any = false;
    let mut seen = 0;
    for blob in blobs {
        let Ok(StoredSignature::SigstoreJson(data)) = StoredSignature::from_blob(blob) else {
            continue;
        };
        let Ok(sig) = serde_json::from_slice::<SigstoreJson>(&data) else {
            continue;
        };
        if sig.mime_type != SIMPLESIGNING_MEDIA_TYPE {
            continue;
        }
        seen += 1;
        let check = || -> Result<Payload, String> {
            let payload = base64::engine::general_purpose::STANDARD
                .decode(&sig.payload)
                .map_err(|e| format!("payload is not base64: {e}"))?;
            let b64 = sig
                .annotations
                .get(SIGNATURE_ANNOTATION)
                .ok_or_else(|| format!("no {SIGNATURE_ANNOTATION} annotation"))?;
            key.verify(&payload, b64).map_err(|e| e.to_string())?;
            let p = Payload::parse(&payload, COSIGN_TYPE).map_err(|e| e.to_string())?;
            check_manifest(manifest, &p.manifest_digest).map_err(|e| e.to_string())?;
            Ok(p)
        };
        let checked = check().map(|p| (None, p.docker_reference));
        let verdict = judge("cosign", checked, identity, image);
        any |= verdict.accepted;
        out.push(verdict);
    }
    outcome(any, seen)
}

/// Applies a `signedIdentity` rule, as containers/image's `policy_reference_match.go`.
pub fn identity_matches(
    rule: &SignedIdentity,
    image: &ImageRef,
    signed: &str,
) -> Result<(), String> {
    let not_accepted = || Err(format!("signature for identity {signed} is not accepted"));
    let Ok(sig) = Reference::parse_normalized(signed) else {
        return Err(format!(
            "signed identity {signed:?} is not a valid reference"
        ));
    };
    let repo_digest_or_exact = |img: &Reference, sig: &Reference| {
        if img.digest().is_some() {
            img.name() == sig.name()
        } else if img.tag().is_some() {
            img.to_string() == sig.to_string()
        } else {
            false
        }
    };
    let ok = match rule {
        SignedIdentity::MatchExact => image
            .docker()
            .is_some_and(|img| !img.is_name_only() && img.to_string() == sig.to_string()),
        SignedIdentity::MatchRepoDigestOrExact => image
            .docker()
            .is_some_and(|img| repo_digest_or_exact(img, &sig)),
        SignedIdentity::MatchRepository => {
            image.docker().is_some_and(|img| img.name() == sig.name())
        }
        SignedIdentity::ExactReference { docker_reference } => {
            Reference::parse_normalized(docker_reference)
                .is_ok_and(|r| !r.is_name_only() && r.to_string() == sig.to_string())
        }
        SignedIdentity::ExactRepository { docker_repository } => {
            Reference::parse_normalized(docker_repository).is_ok_and(|r| r.name() == sig.name())
        }
        SignedIdentity::RemapIdentity {
            prefix,
            signed_prefix,
        } => image.docker().is_some_and(|img| {
            let full = img.to_string();
            let name = img.name();
            let remapped = if name == *prefix || name.starts_with(&format!("{prefix}/")) {
                Reference::parse_normalized(&format!("{signed_prefix}{}", &full[prefix.len()..]))
                    .ok()
            } else {
                Some(img.clone())
            };
            remapped.is_some_and(|r| repo_digest_or_exact(&r, &sig))
        }),
    };
    if ok { Ok(()) } else { not_accepted() }
}
