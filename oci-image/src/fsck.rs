//! Checking a layout: every reachable blob present and matching its digest and size,
//! every document valid, every layer's uncompressed digest equal to its diffID, every
//! subject consistent; all problems reported.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use oci_digest::{Digester, Measured, OpenError, VerifyError};
use oci_spec_types::document::{Document, ManifestKind, probe};
use oci_spec_types::media_type::{self, Compression};
use oci_spec_types::validate::{self, Kind, Report};
use oci_spec_types::{Algorithm, Descriptor, Digest, ImageIndex, Platform, PlatformMatcher};

use crate::image::{layer_compression, layers_of, parse_config, parse_manifest};
use crate::layout::{IndexError, Layout};
use crate::resolve::MAX_DOCUMENT_SIZE;
use crate::transport::{BlobOpenError, BlobReader, Damage, LayoutSource, Source};
use crate::walk;

/// What kind of problem [`fsck`](Layout::fsck) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemKind {
    /// A reachable blob is not in the layout.
    Missing,
    /// A blob's size differs from its descriptor's (a truncated or extended blob).
    SizeMismatch,
    /// A blob's content does not hash to its digest.
    DigestMismatch,
    /// The digest's algorithm is not registered: the content cannot be verified.
    Unverifiable,
    /// The blob (or a layout file) could not be read, or is not a regular file.
    Unreadable,
    /// A document does not parse or breaks an error-level rule.
    Invalid,
    /// A layer's compressed stream is damaged.
    Decompress,
    /// A layer's uncompressed digest differs from its diffID in the config.
    DiffIdMismatch,
    /// A referrer's `subject` does not match the blob it names.
    Subject,
}

impl ProblemKind {
    /// The name in the JSON report: `missing`, `size-mismatch`, `digest-mismatch`,
    /// `unverifiable`, `unreadable`, `invalid`, `decompress`, `diffid-mismatch`, `subject`.
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing",
            ProblemKind::SizeMismatch => "size-mismatch",
            ProblemKind::DigestMismatch => "digest-mismatch",
            ProblemKind::Unverifiable => "unverifiable",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::Invalid => "invalid",
            ProblemKind::Decompress => "decompress",
            ProblemKind::DiffIdMismatch => "diffid-mismatch",
            ProblemKind::Subject => "subject",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem (or warning) found by [`fsck`](Layout::fsck).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The blob at fault; `None` for the layout's own files (`oci-layout`, `index.json`,
    /// entries of `blobs/`), which the message names.
    pub digest: Option<Digest>,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What is wrong, naming the document and field where relevant.
    pub message: String,
}

/// What [`fsck`](Layout::fsck) checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsckReport {
    /// Blobs read and verified.
    pub blobs: u64,
    /// Bytes of those blobs.
    pub bytes: u64,
    /// Problems: each makes the layout fail the check.
    pub problems: Vec<Problem>,
    /// Warnings (SHOULD-level violations, stray entries in `blobs/`): reported, never failing.
    pub warnings: Vec<Problem>,
}

impl Problem {
    /// A problem whose message names its digest (prefixed when it does not already).
    fn new(digest: Option<&Digest>, kind: ProblemKind, message: String) -> Problem {
        let message = match digest {
            Some(d) if !message.contains(d.as_str()) => format!("{d}: {message}"),
            _ => message,
        };
        Problem {
            digest: digest.cloned(),
            kind,
            message,
        }
    }
}

impl FsckReport {
    /// Whether no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Compressed bytes handed from the reading thread to the decompressing one.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the two (bounds memory).
const IN_FLIGHT: usize = 4;
/// Uncompressed bytes handed from the decompressing thread to the hashing one: small
/// enough to still be in the CPU caches when they are hashed.
const PLAIN_CHUNK: usize = 256 << 10;
/// Uncompressed chunks in flight (bounds memory).
const PLAIN_IN_FLIGHT: usize = 4;

impl Layout {
    /// Checks the layout, reporting every problem found, each naming its digest:
    ///
    /// - `oci-layout` and `index.json` are valid (oci-spec-types validation);
    /// - every blob reachable from `index.json` (index entries, manifests, configs,
    ///   layers, and referrers: manifests of the layout whose `subject` is reachable)
    ///   exists and matches its digest and size; a digest of an unregistered algorithm
    ///   is an `unverifiable` problem;
    /// - every manifest, index and config passes validation (error-level violations are
    ///   problems, warnings are warnings) and agrees with its descriptor's media type;
    /// - every layer decompresses (gzip, zstd or plain, by media type) and its
    ///   uncompressed digest equals the config's diffID; the number of layers and diffIDs
    ///   agree;
    /// - every `subject` present in the layout has the size, digest and media type its
    ///   descriptor says;
    /// - a descriptor's `platform` that disagrees with its image config is a warning.
    ///
    /// Blobs are read through the layout's read side ([`LayoutSource`]) and documents
    /// parsed as every other reader parses them ([`read_manifest`](crate::read_manifest),
    /// [`read_config`](crate::read_config)). Each blob is read once: a layer's compressed
    /// bytes are hashed on one thread while another decompresses and hashes the
    /// uncompressed stream, in bounded memory. Missing, truncated or damaged blobs are
    /// problems, not errors.
    pub fn fsck(&self) -> FsckReport {
        self.fsck_with_progress(&crate::Progress::default())
    }

    /// [`fsck`](Layout::fsck), reporting each layer to `progress` as it is read
    /// ([`UnpackEvent::Layer`](crate::UnpackEvent::Layer), then
    /// [`UnpackEvent::Read`](crate::UnpackEvent::Read) as its compressed bytes are read).
    pub fn fsck_with_progress(&self, progress: &crate::Progress) -> FsckReport {
        let mut report = FsckReport::default();
        let Some(index) = layout_files(self, &mut report) else {
            return report;
        };
        // The layout's root is its index; every blob is read through the read side.
        let root = Descriptor::new(
            media_type::IMAGE_INDEX,
            Digester::digest_bytes(Algorithm::Sha256, index.bytes()).digest,
            index.size(),
        );
        let source = LayoutSource::new(self.clone(), root);
        let mut checker = Checker {
            progress: progress.clone(),
            layout: self,
            source: &source,
            report,
            seen: BTreeSet::new(),
            configs: BTreeMap::new(),
            layers: BTreeMap::new(),
            plain: BTreeMap::new(),
            subjects: Vec::new(),
        };
        checker.run(index.into_value());
        checker.report
    }
}

/// Checks `oci-layout` and `index.json`; the index, unless it cannot be read.
fn layout_files(layout: &Layout, report: &mut FsckReport) -> Option<Document<ImageIndex>> {
    let layout_path = layout.oci_layout_path();
    match std::fs::read(&layout_path) {
        Ok(bytes) => {
            let violations = validate::validate(Kind::OciLayout, &bytes);
            report.validation(None, &layout_path.display().to_string(), &violations);
        }
        Err(e) => report.problem(
            None,
            ProblemKind::Unreadable,
            format!("cannot read {}: {e}", layout_path.display()),
        ),
    }
    let index = match layout.index() {
        Ok(index) => index,
        Err(e) => {
            let kind = match &e {
                IndexError::Missing { .. } => ProblemKind::Missing,
                IndexError::Parse { .. } | IndexError::TooLarge { .. } => ProblemKind::Invalid,
                IndexError::Io { .. } => ProblemKind::Unreadable,
            };
            report.problem(None, kind, error_chain(&e));
            return None;
        }
    };
    let index_path = layout.index_path().display().to_string();
    let violations = validate::validate(Kind::Index, index.bytes());
    report.validation(None, &index_path, &violations);
    Some(index)
}

/// What a valid image config says that fsck cross-checks.
#[derive(Clone)]
struct ConfigFacts {
    diff_ids: Vec<Digest>,
    platform: Platform,
}

struct LayerJob {
    descriptor: Descriptor,
    compression: Compression,
    /// (diffID, config digest) pairs that name this layer.
    expected: Vec<(Digest, Digest)>,
}

struct Checker<'a> {
    progress: crate::Progress,
    layout: &'a Layout,
    /// The layout's read side: every blob is read through it.
    source: &'a LayoutSource,
    report: FsckReport,
    seen: BTreeSet<Digest>,
    /// diffIDs of each config read (`None`: not an image config, or invalid).
    configs: BTreeMap<Digest, Option<ConfigFacts>>,
    layers: BTreeMap<Digest, LayerJob>,
    plain: BTreeMap<Digest, Descriptor>,
    /// (referrer, its subject descriptor).
    subjects: Vec<(Digest, Descriptor)>,
}

impl FsckReport {
    fn problem(&mut self, digest: Option<&Digest>, kind: ProblemKind, message: String) {
        self.problems.push(Problem::new(digest, kind, message));
    }

    fn warning(&mut self, digest: Option<&Digest>, kind: ProblemKind, message: String) {
        self.warnings.push(Problem::new(digest, kind, message));
    }

    fn validation(&mut self, digest: Option<&Digest>, what: &str, report: &Report) {
        for v in &report.violations {
            let message = format!("{what}: {v}");
            match v.level {
                validate::Level::Error => self.problem(digest, ProblemKind::Invalid, message),
                validate::Level::Warning => self.warning(digest, ProblemKind::Invalid, message),
            }
        }
    }
}

impl Checker<'_> {
    fn problem(&mut self, digest: Option<&Digest>, kind: ProblemKind, message: String) {
        self.report.problem(digest, kind, message);
    }

    fn warning(&mut self, digest: Option<&Digest>, kind: ProblemKind, message: String) {
        self.report.warning(digest, kind, message);
    }

    fn validation(&mut self, digest: Option<&Digest>, what: &str, report: &Report) {
        self.report.validation(digest, what, report);
    }

    fn run(&mut self, index: ImageIndex) {
        self.listing_warnings();

        self.walk(index.manifests);

        // Referrers: manifests of the layout whose subject is reachable.
        let unreachable: Vec<Digest> = match self.layout.blobs().list() {
            Ok(listing) => listing
                .blobs
                .into_iter()
                .filter(|d| {
                    !(self.seen.contains(d)
                        || self.layers.contains_key(d)
                        || self.plain.contains_key(d))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut candidates = walk::subjects_of(self.layout, &unreachable);
        let mut seen = std::mem::take(&mut self.seen);
        let _ = walk::take_referrers(&mut candidates, &mut seen, |referrer, seen| {
            self.seen = std::mem::take(seen);
            self.walk([referrer]);
            *seen = std::mem::take(&mut self.seen);
            Ok::<(), ()>(())
        });
        self.seen = seen;

        self.check_subjects();
        self.check_plain();
        self.check_layers();
    }

    fn listing_warnings(&mut self) {
        match self.layout.blobs().list() {
            Ok(listing) => {
                for entry in listing.invalid {
                    self.warning(
                        None,
                        ProblemKind::Invalid,
                        format!("{}: {} (L6)", entry.path.display(), entry.reason),
                    );
                }
            }
            Err(e) => self.problem(None, ProblemKind::Unreadable, error_chain(&e)),
        }
    }

    /// Walks documents breadth-first from `roots`, queueing layers and plain blobs.
    fn walk(&mut self, roots: impl IntoIterator<Item = Descriptor>) {
        let mut queue: VecDeque<Descriptor> = roots.into_iter().collect();
        while let Some(descriptor) = queue.pop_front() {
            if self.seen.contains(&descriptor.digest) {
                continue;
            }
            self.seen.insert(descriptor.digest.clone());
            self.document(&descriptor, &mut queue);
        }
    }

    /// Reads a document blob verified, recording a problem when it cannot be.
    fn read_document(&mut self, descriptor: &Descriptor, what: &str) -> Option<Vec<u8>> {
        match self.source.read_small(descriptor, MAX_DOCUMENT_SIZE) {
            Ok(bytes) => {
                self.report.blobs += 1;
                self.report.bytes += bytes.len() as u64;
                Some(bytes)
            }
            Err(BlobOpenError::Missing { digest, .. }) if descriptor.data.is_some() => {
                self.warning(
                    Some(&digest),
                    ProblemKind::Missing,
                    format!("{what} {digest} is not in the layout; its descriptor embeds it"),
                );
                None
            }
            Err(e) => {
                let kind = blob_error_kind(&e);
                self.problem(
                    Some(e.digest()),
                    kind,
                    format!("{what}: {}", error_chain(&e)),
                );
                None
            }
        }
    }

    fn document(&mut self, descriptor: &Descriptor, queue: &mut VecDeque<Descriptor>) {
        let digest = &descriptor.digest;
        let declared = ManifestKind::from_media_type(descriptor.media_type.as_str());
        if declared.is_none()
            && (descriptor.size > MAX_DOCUMENT_SIZE
                || descriptor.media_type.is_layer()
                || descriptor.media_type.is_image_config())
        {
            // Not a manifest (L8: an unknown media type is no error): verify it only.
            self.plain
                .entry(digest.clone())
                .or_insert_with(|| descriptor.clone());
            return;
        }
        let Some(bytes) = self.read_document(descriptor, "document") else {
            return;
        };
        let probed = probe(&bytes).ok();
        // An unknown descriptor media type (L8) counts as a manifest or index only when
        // the document names its own kind.
        let kind = declared.or_else(|| {
            probed
                .as_ref()
                .and_then(|p| p.media_type.as_ref())
                .and_then(|m| ManifestKind::from_media_type(m.as_str()))
        });
        let Some(kind) = kind else {
            self.warning(
                Some(digest),
                ProblemKind::Invalid,
                format!(
                    "blob of media type {} is not a known manifest or index; verified only",
                    descriptor.media_type
                ),
            );
            return;
        };
        if let Some(found) = probed.as_ref().and_then(|p| p.media_type.as_ref())
            && found.as_str() != descriptor.media_type.as_str()
            && declared.is_some()
        {
            self.problem(
                Some(digest),
                ProblemKind::Invalid,
                format!(
                    "its descriptor says media type {}, the document says {found}",
                    descriptor.media_type
                ),
            );
        }
        match kind {
            ManifestKind::OciManifest => {
                let report = validate::validate(Kind::Manifest, &bytes);
                self.validation(Some(digest), "image manifest", &report);
            }
            ManifestKind::OciIndex => {
                let report = validate::validate(Kind::Index, &bytes);
                self.validation(Some(digest), "image index", &report);
            }
            ManifestKind::DockerManifest | ManifestKind::DockerManifestList => {}
        }
        let mut typed = descriptor.clone();
        typed.media_type = kind.media_type().into();
        let manifest = match parse_manifest(self.source, &typed, &bytes) {
            Ok(manifest) => manifest,
            Err(e) => {
                self.problem(Some(digest), ProblemKind::Invalid, error_chain(&e));
                return;
            }
        };
        if let Some(entries) = manifest.entries() {
            queue.extend(entries.iter().cloned());
        }
        let subject = match &manifest {
            oci_spec_types::document::AnyManifest::OciManifest(m) => m.subject.clone(),
            oci_spec_types::document::AnyManifest::OciIndex(i) => i.subject.clone(),
            _ => None,
        };
        if let Some(subject) = subject {
            self.subjects.push((digest.clone(), subject));
        }
        let (Some(config), Some(layers)) = (manifest.config(), manifest.layers()) else {
            return;
        };
        let facts = self.config(config);
        if let (Some(facts), Some(wanted)) = (&facts, &descriptor.platform)
            && !PlatformMatcher::new(wanted).matches(&facts.platform)
        {
            self.warning(
                Some(digest),
                ProblemKind::Invalid,
                format!(
                    "its descriptor says platform {wanted}, its config {} says {}",
                    config.digest, facts.platform
                ),
            );
        }
        let diff_ids = facts.map(|f| f.diff_ids);
        if let Some(ids) = &diff_ids
            && ids.len() != layers.len()
        {
            self.problem(
                Some(digest),
                ProblemKind::Invalid,
                format!(
                    "manifest lists {} layers, its config {} lists {} diffIDs",
                    layers.len(),
                    config.digest,
                    ids.len()
                ),
            );
        }
        for layer in layers_of(layers, diff_ids.as_deref()) {
            let digest = layer.descriptor.digest.clone();
            match layer_compression(&layer.descriptor) {
                Some(compression) => {
                    let job = self.layers.entry(digest).or_insert_with(|| LayerJob {
                        descriptor: layer.descriptor,
                        compression,
                        expected: Vec::new(),
                    });
                    if let Some(id) = layer.diff_id {
                        job.expected.push((id, config.digest.clone()));
                    }
                }
                None => {
                    self.plain.entry(digest).or_insert(layer.descriptor);
                }
            }
        }
    }

    /// Checks a config once; returns its diffIDs when it is a valid image config.
    fn config(&mut self, descriptor: &Descriptor) -> Option<ConfigFacts> {
        if let Some(known) = self.configs.get(&descriptor.digest) {
            return known.clone();
        }
        self.seen.insert(descriptor.digest.clone());
        let diff_ids = if descriptor.media_type.is_image_config() {
            self.image_config(descriptor)
        } else {
            self.plain
                .entry(descriptor.digest.clone())
                .or_insert_with(|| descriptor.clone());
            None
        };
        self.configs
            .insert(descriptor.digest.clone(), diff_ids.clone());
        diff_ids
    }

    fn image_config(&mut self, descriptor: &Descriptor) -> Option<ConfigFacts> {
        let digest = &descriptor.digest;
        let bytes = self.read_document(descriptor, "config")?;
        if descriptor.media_type == media_type::IMAGE_CONFIG {
            let report = validate::validate(Kind::Config, &bytes);
            self.validation(Some(digest), "image config", &report);
        }
        match parse_config(self.source, descriptor, &bytes) {
            Ok(config) => {
                let mut platform = Platform::new(config.os, config.architecture);
                platform.variant = config.variant;
                Some(ConfigFacts {
                    diff_ids: config.rootfs.diff_ids,
                    platform,
                })
            }
            Err(e) => {
                self.problem(Some(digest), ProblemKind::Invalid, error_chain(&e));
                None
            }
        }
    }

    fn check_subjects(&mut self) {
        let subjects = std::mem::take(&mut self.subjects);
        for (referrer, subject) in subjects {
            let store = self.layout.blobs();
            let size = match store.stat(&subject.digest) {
                Ok(Some(size)) => size,
                // A subject need not be in the layout.
                Ok(None) | Err(_) => continue,
            };
            let mut fail = |message: String| {
                self.report.problems.push(Problem::new(
                    Some(&referrer),
                    ProblemKind::Subject,
                    message,
                ));
            };
            if size != subject.size {
                fail(format!(
                    "subject {} has {size} bytes in the layout, its descriptor says {}",
                    subject.digest, subject.size
                ));
                continue;
            }
            match self.source.read_small(&subject, MAX_DOCUMENT_SIZE) {
                Ok(bytes) => {
                    let found = probe(&bytes).ok().and_then(|p| p.media_type);
                    if let Some(found) = found
                        && found.as_str() != subject.media_type.as_str()
                    {
                        fail(format!(
                            "subject {} has media type {found}, its descriptor says {}",
                            subject.digest, subject.media_type
                        ));
                    }
                }
                Err(BlobOpenError::Damaged { damage, .. })
                    if matches!(*damage, Damage::TooLarge { .. }) => {}
                Err(e) => fail(format!("subject {}: {}", subject.digest, error_chain(&e))),
            }
        }
    }

    fn check_plain(&mut self) {
        let plain = std::mem::take(&mut self.plain);
        for (digest, descriptor) in plain {
            if self.layers.contains_key(&digest) {
                continue;
            }
            match self.open(&descriptor) {
                Err(problem) => self.push_blob_problem(&descriptor, problem),
                Ok(mut reader) => match verify_to_end(&mut reader, &descriptor) {
                    Ok(measured) => {
                        self.report.blobs += 1;
                        self.report.bytes += measured.size;
                    }
                    Err(e) => {
                        let problem = io_problem(&digest, &e);
                        self.push_blob_problem(&descriptor, problem);
                    }
                },
            }
        }
    }

    fn push_blob_problem(
        &mut self,
        descriptor: &Descriptor,
        (kind, message): (ProblemKind, String),
    ) {
        // Non-distributable layers (with URLs) may legitimately be absent (L7).
        if kind == ProblemKind::Missing
            && (descriptor.urls.is_some() || descriptor.media_type.is_nondistributable_layer())
        {
            self.warning(Some(&descriptor.digest), kind, message);
        } else {
            self.problem(Some(&descriptor.digest), kind, message);
        }
    }

    fn check_layers(&mut self) {
        let layers = std::mem::take(&mut self.layers);
        let count = layers.len();
        for (index, (digest, job)) in layers.into_iter().enumerate() {
            if let Some(f) = &self.progress.0 {
                f(&crate::UnpackEvent::Layer {
                    index,
                    count,
                    descriptor: &job.descriptor,
                });
            }
            let mut algorithms: Vec<Algorithm> = Vec::new();
            let mut unverifiable = Vec::new();
            for (diff_id, config) in &job.expected {
                match diff_id.algorithm() {
                    Some(a) if !algorithms.contains(&a) => algorithms.push(a),
                    Some(_) => {}
                    None => unverifiable.push((diff_id.clone(), config.clone())),
                }
            }
            for (diff_id, config) in unverifiable {
                self.problem(
                    Some(&digest),
                    ProblemKind::Unverifiable,
                    format!(
                        "diffID {diff_id} in config {config} uses an unregistered algorithm: the layer cannot be checked against it"
                    ),
                );
            }
            let reader = match self.open(&job.descriptor) {
                Ok(reader) => reader,
                Err(problem) => {
                    self.push_blob_problem(&job.descriptor, problem);
                    continue;
                }
            };
            let report = |read: u64| {
                if let Some(f) = &self.progress.0 {
                    let size = job.descriptor.size;
                    f(&crate::UnpackEvent::Read { index, read, size });
                }
            };
            let outcome = check_layer(
                reader,
                &job.descriptor,
                job.compression,
                &algorithms,
                &report,
            );
            let measured = match outcome.compressed {
                Ok(measured) => measured,
                Err(e) => {
                    let problem = io_problem(&digest, &e);
                    self.push_blob_problem(&job.descriptor, problem);
                    continue;
                }
            };
            self.report.blobs += 1;
            self.report.bytes += measured.size;
            let uncompressed = match (job.compression, outcome.uncompressed) {
                (Compression::None, None) => vec![measured],
                (_, None) => continue,
                (_, Some(Ok(u))) => u,
                (_, Some(Err(e))) => {
                    self.problem(
                        Some(&digest),
                        ProblemKind::Decompress,
                        format!(
                            "layer ({}) does not decompress: {e}",
                            job.descriptor.media_type
                        ),
                    );
                    continue;
                }
            };
            for (diff_id, config) in &job.expected {
                let Some(actual) = uncompressed
                    .iter()
                    .find(|m| m.digest.algorithm() == diff_id.algorithm())
                else {
                    continue;
                };
                if &actual.digest != diff_id {
                    self.problem(
                        Some(&digest),
                        ProblemKind::DiffIdMismatch,
                        format!(
                            "layer's uncompressed digest is {} ({} bytes), config {config} says diffID {diff_id}",
                            actual.digest, actual.size
                        ),
                    );
                }
            }
        }
    }
}

fn blob_error_kind(e: &BlobOpenError) -> ProblemKind {
    match e {
        BlobOpenError::Missing { .. } => ProblemKind::Missing,
        BlobOpenError::Unavailable { .. } => ProblemKind::Unreadable,
        BlobOpenError::Damaged { damage, .. } => match &**damage {
            Damage::TooLarge { .. } => ProblemKind::Invalid,
            Damage::Size { .. } | Damage::Store(OpenError::SizeMismatch { .. }) => {
                ProblemKind::SizeMismatch
            }
            Damage::Unverifiable(_) | Damage::Store(OpenError::Unverifiable(_)) => {
                ProblemKind::Unverifiable
            }
            Damage::Verify(v) => verify_kind(v),
            Damage::Store(_) | Damage::CasLength { .. } | Damage::Registry(_) => {
                ProblemKind::Unreadable
            }
        },
    }
}

fn verify_kind(v: &VerifyError) -> ProblemKind {
    match v {
        VerifyError::TooLong { .. } | VerifyError::TooShort { .. } => ProblemKind::SizeMismatch,
        VerifyError::DigestMismatch { .. } => ProblemKind::DigestMismatch,
    }
}

impl<'a> Checker<'a> {
    /// Opens a blob for a verified, sized read, or says why it cannot be.
    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'a>, (ProblemKind, String)> {
        self.source.open(descriptor).map_err(|e| match e {
            BlobOpenError::Missing { .. } => (
                ProblemKind::Missing,
                format!(
                    "blob {} ({}) is missing",
                    descriptor.digest, descriptor.media_type
                ),
            ),
            e => (blob_error_kind(&e), error_chain(&e)),
        })
    }
}

/// Reads a blob to its end: its digest and size, verified by the reader.
fn verify_to_end(reader: &mut dyn Read, descriptor: &Descriptor) -> io::Result<Measured> {
    let mut buf = vec![0; CHUNK];
    let mut size = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => size += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Measured {
        digest: descriptor.digest.clone(),
        size,
    })
}

fn io_problem(digest: &Digest, e: &io::Error) -> (ProblemKind, String) {
    match VerifyError::from_io(e) {
        Some(v) => (verify_kind(v), v.to_string()),
        None => (
            ProblemKind::Unreadable,
            format!("cannot read blob {digest}: {e}"),
        ),
    }
}

/// An error and its sources, joined by `: `.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

struct LayerOutcome {
    /// The compressed blob, verified (digest and size) to its end.
    compressed: io::Result<Measured>,
    /// The uncompressed stream's digests (one per algorithm asked for), or why it does not
    /// decompress; `None` when nothing was asked for.
    uncompressed: Option<Result<Vec<Measured>, String>>,
}

/// Reads a layer once: this thread reads and verifies the compressed bytes and hands them
/// to a second thread that decompresses, which hands the uncompressed stream to a third
/// that hashes it (decompressing and hashing each take about as long as the other: on one
/// thread they would make the critical path).
fn check_layer(
    mut reader: BlobReader<'_>,
    descriptor: &Descriptor,
    compression: Compression,
    algorithms: &[Algorithm],
    progress: &dyn Fn(u64),
) -> LayerOutcome {
    let digest_algorithm = descriptor.digest.algorithm();
    let same_as_blob =
        compression == Compression::None && algorithms.iter().all(|a| Some(*a) == digest_algorithm);
    if algorithms.is_empty() || same_as_blob {
        let compressed = verify_to_end(&mut reader, descriptor);
        if let Ok(measured) = &compressed {
            progress(measured.size);
        }
        return LayerOutcome {
            compressed,
            uncompressed: None,
        };
    }
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        let decoder = scope.spawn(move || decode(full_rx, empty_tx, compression, algorithms));
        let mut sender: Option<SyncSender<Vec<u8>>> = Some(full_tx);
        let mut read = 0u64;
        let compressed = loop {
            let mut buf = empty_rx
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
            buf.resize(CHUNK, 0);
            match read_full(&mut reader, &mut buf) {
                // The reader verified digest and size at its end.
                Ok(0) => {
                    break Ok(Measured {
                        digest: descriptor.digest.clone(),
                        size: read,
                    });
                }
                Ok(n) => {
                    read += n as u64;
                    progress(read);
                    buf.truncate(n);
                    if let Some(tx) = &sender
                        && tx.send(buf).is_err()
                    {
                        // The decoder stopped (a damaged stream): keep verifying.
                        sender = None;
                    }
                }
                Err(e) => break Err(e),
            }
        };
        drop(sender);
        let uncompressed = match decoder.join() {
            Ok(result) => result,
            Err(_) => Err("the decompressing thread panicked".to_owned()),
        };
        LayerOutcome {
            compressed,
            uncompressed: Some(uncompressed),
        }
    })
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The compressed stream as it arrives from the reading thread; empty buffers go back.
struct ChannelReader {
    full: Receiver<Vec<u8>>,
    empty: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    position: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.current.len() {
            match self.full.recv() {
                Ok(next) => {
                    let done = std::mem::replace(&mut self.current, next);
                    let _ = self.empty.try_send(done);
                    self.position = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

fn decode(
    full: Receiver<Vec<u8>>,
    empty: SyncSender<Vec<u8>>,
    compression: Compression,
    algorithms: &[Algorithm],
) -> Result<Vec<Measured>, String> {
    let input = ChannelReader {
        full,
        empty,
        current: Vec::new(),
        position: 0,
    };
    let mut stream: Box<dyn Read> = match compression {
        Compression::None => Box::new(input),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(input).map_err(|e| format!("zstd: {e}"))?)
        }
    };
    std::thread::scope(|scope| {
        // Buffers always hold PLAIN_CHUNK bytes, the first `n` of them filled.
        let (full_tx, full_rx) = sync_channel::<(Vec<u8>, usize)>(PLAIN_IN_FLIGHT);
        let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(PLAIN_IN_FLIGHT + 2);
        let hasher = scope.spawn(move || {
            let mut digesters: Vec<Digester> =
                algorithms.iter().map(|a| Digester::new(*a)).collect();
            for (buf, n) in full_rx {
                for d in &mut digesters {
                    d.update(&buf[..n]);
                }
                let _ = empty_tx.try_send(buf);
            }
            digesters
                .into_iter()
                .map(Digester::finish)
                .collect::<Vec<_>>()
        });
        let read = loop {
            let mut buf = empty_rx.try_recv().unwrap_or_else(|_| vec![0; PLAIN_CHUNK]);
            match read_full(&mut stream, &mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if full_tx.send((buf, n)).is_err() {
                        break Err("the hashing thread stopped".to_owned());
                    }
                }
                Err(e) => break Err(e.to_string()),
            }
        };
        drop(full_tx);
        let digests = hasher
            .join()
            .map_err(|_| "the hashing thread panicked".to_owned())?;
        read.map(|()| digests)
    })
}
