//! Transports: where images are read from and written to, as sibling implementations of
//! one read side ([`Source`]): a root descriptor, blobs opened by descriptor and verified as
//! they are read, and the referrers of a digest where the transport can hold them.
//! Implemented by layouts (`oci:`), archives (`oci-archive:`, `docker-archive:`) and
//! discovery (`discover:`); a registry transport is one more implementation.

pub(crate) mod discover;
pub(crate) mod docker_archive;
pub(crate) mod endpoint;
pub(crate) mod layout;
pub(crate) mod oci_archive;
pub(crate) mod registry;

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_digest::{Measured, PutError};
use oci_spec_types::{Algorithm, Descriptor, Digest};

pub use self::discover::{DiscoverSource, DiscoverSourceError};
pub use self::docker_archive::DockerArchiveDestination;
pub use self::docker_archive::{DockerArchiveError, DockerArchiveSource};
pub use self::endpoint::{Endpoint, EndpointError, TRANSPORTS};
pub use self::layout::{LayoutDestination, LayoutSource};
pub use self::oci_archive::{OciArchiveDestination, OciArchiveSource, archive_lock_path};
pub use self::registry::{
    RegistryDestination, RegistryError, RegistryOptions, RegistrySource, delete_image, list_tags,
};
use crate::layout::{IndexError, InitError, Layout, LockError, OpenError, WriteError};
use crate::resolve::ResolveError;
use crate::tar_index::TarIndexError;

/// Where a transport's content is: a file or directory, or a name or URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A layout directory or an archive file.
    Path(PathBuf),
    /// A name resolved over the network (`discover:`), or a URL.
    Name(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Path(path) => write!(f, "{}", path.display()),
            Location::Name(name) => f.write_str(name),
        }
    }
}

/// What is wrong with a damaged blob.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    /// A document larger than the reader accepts.
    #[error("document of {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// Its size, as the descriptor says.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The stored blob has another size than the descriptor says.
    #[error("it has {actual} bytes, the descriptor says {expected}")]
    Size {
        /// The descriptor's size.
        expected: u64,
        /// The stored size.
        actual: u64,
    },
    /// The content does not match its digest or size.
    #[error(transparent)]
    Verify(#[from] oci_digest::VerifyError),
    /// The digest's algorithm is not registered: the content cannot be verified.
    #[error(transparent)]
    Unverifiable(#[from] oci_digest::Unverifiable),
    /// The layout's store holds something that cannot be the blob.
    #[error(transparent)]
    Store(oci_digest::OpenError),
    /// The registry sent something that cannot be the blob (a digest header that does not
    /// match, a manifest over the limit).
    #[error("the registry's answer does not match")]
    Registry(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// No CAS engine sent the blob's bytes (a longer body).
    #[error("no CAS engine sent its {size} bytes")]
    CasLength {
        /// The descriptor's size.
        size: u64,
        /// What each engine did.
        #[source]
        tried: CasFailures,
    },
}

/// What each CAS engine asked for a blob answered, in order.
#[derive(Debug, thiserror::Error)]
#[error("tried: {}", .0.iter().map(|e| oci_naming::error_chain(e)).collect::<Vec<_>>().join("; "))]
pub struct CasFailures(pub Vec<oci_registry::http::FetchError>);

/// Why a source could not open a blob. Each variant names the transport, where its
/// content is, and the digest; the cause is its [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
pub enum BlobOpenError {
    /// The source does not have the blob.
    #[error("blob {digest} is missing from {transport}:{location}")]
    Missing {
        /// The transport.
        transport: Transport,
        /// Where its content is.
        location: Location,
        /// The digest asked for.
        digest: Digest,
        /// What each place asked answered, where several were (CAS engines).
        #[source]
        tried: Option<CasFailures>,
    },
    /// The blob may be there but could not be opened or fetched.
    #[error("cannot read blob {digest} from {transport}:{location}")]
    Unavailable {
        /// The transport.
        transport: Transport,
        /// Where its content is.
        location: Location,
        /// The digest asked for.
        digest: Digest,
        /// The I/O or network error.
        #[source]
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The source holds something under this digest that cannot be what the descriptor
    /// says: a check failure, not an I/O one.
    #[error("blob {digest} from {transport}:{location} is damaged")]
    Damaged {
        /// The transport.
        transport: Transport,
        /// Where its content is.
        location: Location,
        /// The digest asked for.
        digest: Digest,
        /// What is wrong.
        #[source]
        damage: Box<Damage>,
    },
}

impl BlobOpenError {
    /// The blob `digest` is missing from `source`.
    pub fn missing<S: Source + ?Sized>(source: &S, digest: &Digest) -> BlobOpenError {
        BlobOpenError::Missing {
            transport: source.transport(),
            location: source.location(),
            digest: digest.clone(),
            tried: None,
        }
    }

    /// The blob `digest` of `source` is damaged.
    pub fn damaged<S: Source + ?Sized>(
        source: &S,
        digest: &Digest,
        damage: impl Into<Damage>,
    ) -> BlobOpenError {
        BlobOpenError::Damaged {
            transport: source.transport(),
            location: source.location(),
            digest: digest.clone(),
            damage: Box::new(damage.into()),
        }
    }

    /// The blob `digest` of `source` cannot be read.
    pub fn unavailable<S: Source + ?Sized>(
        source: &S,
        digest: &Digest,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> BlobOpenError {
        BlobOpenError::Unavailable {
            transport: source.transport(),
            location: source.location(),
            digest: digest.clone(),
            cause: cause.into(),
        }
    }

    /// The digest at fault.
    pub fn digest(&self) -> &Digest {
        match self {
            BlobOpenError::Missing { digest, .. }
            | BlobOpenError::Unavailable { digest, .. }
            | BlobOpenError::Damaged { digest, .. } => digest,
        }
    }

    /// Whether this is a check failure (exit 1: missing or damaged content) rather than
    /// an I/O or network error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        !matches!(self, BlobOpenError::Unavailable { .. })
    }
}

/// A blob reader: it verifies the descriptor's digest and size as it is read, and
/// fails (with an [`io::Error`] wrapping [`oci_digest::VerifyError`]) on a mismatch, at
/// the latest when it reaches the end.
pub type BlobReader<'a> = Box<dyn Read + Send + 'a>;

/// Why the referrers of a digest could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ReferrersError {
    /// The list of manifests (a layout's `index.json`) could not be read.
    #[error(transparent)]
    Index(#[from] crate::layout::IndexError),
    /// A candidate manifest could not be read.
    #[error(transparent)]
    Blob(#[from] BlobOpenError),
}

impl ReferrersError {
    /// Whether this is a check failure (exit 1) rather than an I/O error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            ReferrersError::Index(e) => e.is_check_failure(),
            ReferrersError::Blob(e) => e.is_check_failure(),
        }
    }
}

/// The read side of a transport: an image read through one interface, whatever holds it.
///
/// Methods take `&self` and implementations are `Send + Sync`, so that blobs can be
/// fetched in parallel.
pub trait Source: Send + Sync {
    /// The source as the user named it, for messages (`oci:DIR:REF`, `docker-archive:FILE`).
    fn describe(&self) -> String;

    /// The transport.
    fn transport(&self) -> Transport;

    /// Where the transport's content is (the layout, the archive, the name).
    fn location(&self) -> Location;

    /// The manifest or index the source names (already chosen among several by tag; a
    /// platform choice inside an index is the copy's business).
    fn root(&self) -> &Descriptor;

    /// The index entries the image name matched, `root` among them: one, or several when
    /// one name has one entry per platform (as containers/image writes into a layout).
    /// A platform choice among them is the caller's.
    fn candidates(&self) -> &[Descriptor] {
        std::slice::from_ref(self.root())
    }

    /// Opens a blob; the reader verifies digest and size as it reads.
    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError>;

    /// Reads a whole small blob (a manifest, index or config), verified; `limit` bounds
    /// the size accepted.
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
        let mut reader = self.open(descriptor)?;
        let mut bytes = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| read_error(self, descriptor, &e))?;
        Ok(bytes)
    }

    /// The manifests whose `subject` is `subject`, as descriptors (with their
    /// `artifactType` and annotations), or `None` when this transport cannot hold
    /// referrers (a docker-archive, say).
    fn referrers(&self, subject: &Digest) -> Result<Option<Vec<Descriptor>>, ReferrersError> {
        let _ = subject;
        Ok(None)
    }

    /// The manifest another tag of the same repository or layout names (cosign's
    /// `sha256-<hex>.sig` attachment, say), or `None` when there is no such tag or the
    /// transport has no tags besides the image's own (the default). A registry answers
    /// from `GET /v2/<name>/manifests/<tag>`; a layout from its `index.json`.
    fn tagged(&self, tag: &str) -> Result<Option<Descriptor>, ReferrersError> {
        let _ = tag;
        Ok(None)
    }

    /// The Docker reference of the image, for transports whose images have one (a
    /// registry: `docker.io/library/alpine:latest`); `None` (the default) for layouts and
    /// archives. It chooses the registries.d section (lookaside signatures) and is the
    /// identity a trust policy's `signedIdentity` rules compare with.
    fn docker_reference(&self) -> Option<oci_naming::Reference> {
        None
    }
}

/// Turns an error met while reading a blob into a [`BlobOpenError`]: a digest or size
/// mismatch (found by the reader, or by a registry client) is
/// [`BlobOpenError::Damaged`], anything else [`BlobOpenError::Unavailable`].
pub fn read_error<S: Source + ?Sized>(
    source: &S,
    descriptor: &Descriptor,
    error: &io::Error,
) -> BlobOpenError {
    if let Some(e) = registry::content_error(error) {
        return BlobOpenError::damaged(source, &descriptor.digest, Damage::Registry(Box::new(e)));
    }
    match oci_digest::VerifyError::from_io(error) {
        Some(v) => BlobOpenError::damaged(source, &descriptor.digest, v.clone()),
        None => BlobOpenError::unavailable(
            source,
            &descriptor.digest,
            io::Error::new(error.kind(), error.to_string()),
        ),
    }
}

/// Why a source could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The layout could not be opened.
    #[error(transparent)]
    Layout(#[from] OpenError),
    /// The image could not be found in the layout or archive.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The archive could not be read.
    #[error(transparent)]
    Archive(#[from] TarIndexError),
    /// The image name is not one of the transports.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// A blob of the source is missing, damaged or unreadable.
    #[error(transparent)]
    Blob(#[from] BlobOpenError),
    /// The docker-archive could not be opened.
    #[error(transparent)]
    DockerArchive(#[from] DockerArchiveError),
    /// Discovery found no image.
    #[error(transparent)]
    Discover(#[from] DiscoverSourceError),
    /// The local discovery configuration could not be read.
    #[error("cannot load the discovery configuration")]
    DiscoveryConfig(#[source] oci_naming::LocalConfigError),
    /// The registry could not be reached, or has no such image.
    #[error(transparent)]
    Registry(Box<RegistryError>),
    /// `discover:` names a source only.
    #[error("discover:{name} cannot be written to")]
    NotWritable {
        /// The name.
        name: String,
    },
    /// The file of the transport (an archive) cannot be read.
    #[error("cannot read {transport} {}", file.display())]
    Unavailable {
        /// The transport.
        transport: Transport,
        /// The file.
        file: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The archive is not a tar of an OCI layout.
    #[error("archive {} is not an OCI layout", file.display())]
    NotALayout {
        /// The archive.
        file: PathBuf,
        /// What is wrong.
        #[source]
        problem: LayoutProblem,
    },
}

/// Why an archive is not a tar of an OCI layout.
#[derive(Debug, thiserror::Error)]
pub enum LayoutProblem {
    /// It has no `oci-layout` file.
    #[error("it has no oci-layout file")]
    NoOciLayout,
    /// Its `oci-layout` file does not parse.
    #[error("its oci-layout file is invalid")]
    OciLayout(#[source] oci_spec_types::document::ParseError),
    /// It has no `index.json`.
    #[error("it has no index.json")]
    NoIndex,
    /// Its `index.json` is not an image index.
    #[error("its index.json is not an image index")]
    Index(#[source] oci_spec_types::document::ParseError),
}

impl SourceError {
    /// Whether the source is damaged (exit 1) rather than absent, unreadable or
    /// ambiguously named (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            SourceError::Layout(e) => e.is_check_failure(),
            SourceError::Resolve(e) => e.is_check_failure(),
            SourceError::Archive(e) => e.is_check_failure(),
            SourceError::NotALayout { .. } => true,
            SourceError::DockerArchive(e) => e.is_check_failure(),
            SourceError::Blob(e) => e.is_check_failure(),
            SourceError::Discover(e) => e.is_check_failure(),
            SourceError::Registry(e) => e.is_check_failure(),
            SourceError::Endpoint(_)
            | SourceError::Unavailable { .. }
            | SourceError::DiscoveryConfig(_)
            | SourceError::NotWritable { .. } => false,
        }
    }
}

/// A transport, as its name is spelled before the `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `oci:`, an OCI layout.
    Oci,
    /// `oci-archive:`, a tar of an OCI layout.
    OciArchive,
    /// `docker-archive:`, the `docker save` format.
    DockerArchive,
    /// `discover:`, DNS-federated discovery.
    Discover,
    /// `docker://`, a registry.
    Docker,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Oci => "oci",
            Transport::OciArchive => "oci-archive",
            Transport::DockerArchive => "docker-archive",
            Transport::Discover => "discover",
            Transport::Docker => "docker",
        })
    }
}

/// An archive that cannot be read at all becomes [`SourceError::Unavailable`], its cause
/// exposed once (as the source, not also in the message).
fn unreadable(transport: Transport, error: TarIndexError) -> SourceError {
    match error {
        TarIndexError::Io { file, source } => SourceError::Unavailable {
            transport,
            file,
            source,
        },
        other => SourceError::Archive(other),
    }
}

/// What opening an image needs besides its name. The platform is not part of it: a source
/// names its candidates ([`Source::candidates`]) and the reader chooses.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Where a compressed archive is decompressed to (a temp file, removed when the
    /// source is dropped); `None`: the directory of the archive (never `/tmp`, a tmpfs).
    pub scratch: Option<PathBuf>,
    /// The discoverer for `discover:` names (client options, local configuration,
    /// limits); `None`: default client options and the XDG configuration.
    pub discoverer: Option<oci_registry::discovery::Discoverer>,
    /// How a `docker://` source is reached.
    pub registry: RegistryOptions,
}

impl OpenOptions {
    /// Where temp files of an archive at `file` go.
    pub(crate) fn scratch_for(&self, file: &Path) -> PathBuf {
        if let Some(scratch) = &self.scratch {
            return scratch.clone();
        }
        scratch_dir_of(file)
    }

    fn discoverer(&self) -> Result<oci_registry::discovery::Discoverer, SourceError> {
        if let Some(d) = &self.discoverer {
            return Ok(d.clone());
        }
        let local = oci_naming::LocalConfig::load_xdg().map_err(SourceError::DiscoveryConfig)?;
        Ok(oci_registry::discovery::Discoverer::new(
            oci_registry::http::Client::new(oci_registry::http::ClientOptions::default()),
            local,
            oci_registry::discovery::Limits::default(),
        ))
    }
}

/// The existing directory beside `path` (its parent, made absolute), else `.`.
pub(crate) fn scratch_dir_of(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match absolute.parent() {
        Some(parent) if parent.is_dir() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Opens the image `image` names for reading: `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`,
/// `docker-archive:FILE[:NAME:TAG]`, `discover:HOST/PATH[#FRAGMENT]`, or a bare
/// `DIR[:REF]` (the layout shorthand).
pub fn open_source(image: &str, options: &OpenOptions) -> Result<Box<dyn Source>, SourceError> {
    open_endpoint(&Endpoint::parse_image(image)?, options)
}

/// Opens a parsed endpoint for reading, as [`open_source`] does.
pub fn open_endpoint(
    endpoint: &Endpoint,
    options: &OpenOptions,
) -> Result<Box<dyn Source>, SourceError> {
    Ok(match endpoint {
        Endpoint::Oci(name) => Box::new(LayoutSource::open_all(name)?),
        Endpoint::OciArchive { file, reference } => Box::new(
            OciArchiveSource::open_all(file, reference.as_ref(), &options.scratch_for(file))
                .map_err(|e| match e {
                    SourceError::Archive(e) => unreadable(Transport::OciArchive, e),
                    other => other,
                })?,
        ),
        Endpoint::DockerArchive { file, name } => Box::new(
            DockerArchiveSource::open(file, name.as_deref(), &options.scratch_for(file)).map_err(
                |e| match e {
                    DockerArchiveError::Archive(e) => unreadable(Transport::DockerArchive, e),
                    other => SourceError::DockerArchive(other),
                },
            )?,
        ),
        Endpoint::Discover(name) => {
            Box::new(DiscoverSource::open_all(name, options.discoverer()?)?)
        }
        Endpoint::Docker(reference) => Box::new(
            RegistrySource::open(reference, &options.registry)
                .map_err(|e| SourceError::Registry(Box::new(e)))?,
        ),
    })
}

/// What a destination can hold; a copy checks every image against it before it copies
/// any blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// It can hold an index (false: one image manifest only).
    pub indexes: bool,
    /// It can hold zstd layers.
    pub zstd: bool,
    /// It stores an image in a form of its own, derived when committing from an OCI or
    /// Docker image manifest (a docker-archive): manifests are not converted for it and
    /// layers not recompressed.
    pub own_format: bool,
}

impl Capabilities {
    /// What an OCI layout (or a tar of one) holds: indexes, zstd layers, manifests
    /// converted to it.
    pub const OCI_LAYOUT: Capabilities = Capabilities {
        indexes: true,
        zstd: true,
        own_format: false,
    };
}

/// A blob being written whose digest is known only once it is written (a recompressed
/// layer): the writer of the bytes measures them, and [`commit`](BlobSink::commit)
/// publishes the blob under that digest, size checked, without a second read.
pub trait BlobSink: io::Write + Send {
    /// Publishes what was written under `measured` (its size is checked against the
    /// bytes written).
    fn commit(self: Box<Self>, measured: &Measured) -> Result<(), PutError>;
}

impl BlobSink for oci_digest::BlobWriter {
    fn commit(self: Box<Self>, measured: &Measured) -> Result<(), PutError> {
        oci_digest::BlobWriter::commit_measured(*self, measured).map(|_| ())
    }
}

/// The write side of a transport: it says which blobs it has, takes blobs verified as
/// they stream in, and names the image (its tag or root) last, in
/// [`commit`](Destination::commit), so that a failed write never leaves a name pointing
/// at partial content.
///
/// Blob methods take `&self` and implementations are `Send + Sync`, so that blobs can be
/// written in parallel.
pub trait Destination: Send + Sync {
    /// The destination as the user named it, for messages.
    fn describe(&self) -> String;

    /// The transport.
    fn transport(&self) -> Transport;

    /// Where the transport's content goes (the layout, the archive, the name).
    fn location(&self) -> Location;

    /// What it can hold.
    fn capabilities(&self) -> Capabilities;

    /// The layout the destination gathers blobs in before [`commit`](Destination::commit)
    /// (its own, or the temp layout of an archive), which the blob methods below write
    /// to; `None` (the default) for a destination that sends blobs elsewhere (a registry),
    /// which then provides those methods itself.
    fn staging(&self) -> Option<&Layout> {
        None
    }

    /// Whether it already holds the blob (same digest and size): such a blob is neither
    /// read nor written again.
    fn has_blob(&self, descriptor: &Descriptor) -> bool {
        self.staging()
            .is_some_and(|layout| layout::has_blob(layout, descriptor))
    }

    /// Makes the blob available without reading it, by a cross-repository mount from
    /// `source` where both are repositories of the same registry; `Ok(false)` when it
    /// cannot (the default), and the blob is then copied.
    fn mount_blob(&self, descriptor: &Descriptor, source: &dyn Source) -> Result<bool, PutError> {
        let _ = (descriptor, source);
        Ok(false)
    }

    /// Stores a blob read from `reader`, verified against the descriptor's digest and size
    /// while it streams; nothing is published on a mismatch.
    fn put_blob(&self, descriptor: &Descriptor, reader: &mut dyn Read) -> Result<(), PutError> {
        let layout = self.staging().ok_or_else(no_staging)?;
        layout::put_blob(layout, descriptor, reader)
    }

    /// A writer for a blob whose digest is known only once written.
    fn blob_sink(&self, algorithm: Algorithm) -> Result<Box<dyn BlobSink + '_>, PutError> {
        let layout = self.staging().ok_or_else(no_staging)?;
        Ok(Box::new(layout.blobs().writer_unhashed(algorithm)?))
    }

    /// Records `referrer` (a manifest stored with [`put_blob`](Destination::put_blob),
    /// whose `subject` is a stored manifest) so that [`commit`](Destination::commit) lists
    /// it where the transport lists referrers (a layout's `index.json`, untagged). The
    /// default does nothing: a registry indexes referrers itself (or the destination
    /// updates the tag fallback as it stores them), and a docker-archive holds none.
    fn add_referrer(&self, referrer: &Descriptor) {
        let _ = referrer;
    }

    /// Names `root` (under the tag the destination was opened with), after every blob
    /// under it is stored; returns the descriptor of what the destination names (for a
    /// docker-archive, the image config's: its image ID).
    fn commit(self: Box<Self>, root: &Descriptor) -> Result<Descriptor, DestinationError>;

    /// Whether [`put_manifest`](Destination::put_manifest) works here: the destination
    /// can hold manifests besides the image it names (referrers, cosign's `.sig` tags).
    /// The default: no (a docker-archive).
    fn can_put_manifests(&self) -> bool {
        false
    }

    /// Stores a manifest whose blobs (config, layers) are already stored: under `tag`, or
    /// untagged when `None` (an OCI 1.1 referrer, found through its `subject`). A layout
    /// stores the blob and adds an `index.json` entry at once (an untagged entry once per
    /// digest; a tag replaces its earlier entry); an archive adds it to what it writes at
    /// [`commit`](Destination::commit) or [`finish`](Destination::finish); a registry
    /// pushes it by digest (then updates the referrers fallback tag where the registry has
    /// no referrers API) or by tag. The default refuses, as a transport that cannot hold
    /// it.
    fn put_manifest(
        &self,
        descriptor: &Descriptor,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<(), DestinationError> {
        let _ = (descriptor, bytes, tag);
        Err(DestinationError::NoManifests {
            destination: self.describe(),
        })
    }

    /// Ends a write that names no image (signatures added beside an image already there):
    /// an archive is written out; the default has nothing to do.
    fn finish(self: Box<Self>) -> Result<(), DestinationError> {
        Ok(())
    }

    /// The Docker reference the destination names (a registry's), else `None` (the
    /// default): where registries.d puts its lookaside signatures.
    fn docker_reference(&self) -> Option<oci_naming::Reference> {
        None
    }
}

/// A blob method's default called on a destination without a staging layout.
fn no_staging() -> PutError {
    PutError::Io {
        action: "write a blob: the destination has no staging layout at",
        path: PathBuf::new(),
        source: io::ErrorKind::Unsupported.into(),
    }
}

/// How a destination names itself: `TRANSPORT:LOCATION[:TAG]`.
pub(crate) fn describe_destination(
    transport: Transport,
    location: &Path,
    tag: Option<&str>,
) -> String {
    let mut name = format!("{transport}:{}", location.display());
    if let Some(tag) = tag {
        name.push(':');
        name.push_str(tag);
    }
    name
}

/// Why a destination could not be opened or committed.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    /// The image name is not one of the transports.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The name gives a digest; a destination takes a tag.
    #[error("destination {destination} names a digest: a copy destination takes a tag")]
    DigestReference {
        /// The destination.
        destination: Endpoint,
    },
    /// The tag does not follow the ref.name grammar.
    #[error("tag {tag:?} does not follow the ref.name grammar")]
    InvalidTag {
        /// The tag.
        tag: String,
    },
    /// The transport cannot be written (`discover:`).
    #[error("discover:{name} cannot be a copy destination")]
    NotWritable {
        /// The name.
        name: String,
    },
    /// The destination cannot hold manifests besides the image (signatures, referrers).
    #[error("{destination} cannot hold signatures or other referrers")]
    NoManifests {
        /// The destination.
        destination: String,
    },
    /// The layout could not be opened or created.
    #[error(transparent)]
    Layout(#[from] InitError),
    /// The layout could not be locked.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The layout's `index.json` could not be read.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The layout's `index.json` could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// An existing archive could not be read.
    #[error("existing archive {}", file.display())]
    ExistingArchive {
        /// The archive.
        file: PathBuf,
        /// The cause.
        #[source]
        source: Box<SourceError>,
    },
    /// An existing archive holds a damaged blob.
    #[error("existing archive {}: blob {digest}", file.display())]
    ExistingBlob {
        /// The archive.
        file: PathBuf,
        /// The blob.
        digest: Digest,
        /// The cause.
        #[source]
        source: Box<PutError>,
    },
    /// A blob (a manifest put with [`Destination::put_manifest`]) could not be stored.
    #[error("cannot store blob {digest} in {destination}")]
    Put {
        /// The destination.
        destination: String,
        /// The blob.
        digest: Digest,
        /// The cause.
        #[source]
        source: Box<PutError>,
    },
    /// The docker-archive could not be written.
    #[error(transparent)]
    DockerArchive(#[from] DockerArchiveError),
    /// A file operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The registry could not be reached or refused the destination.
    #[error(transparent)]
    Open(Box<RegistryError>),
    /// The registry refused a manifest or the tag.
    #[error("cannot write {destination}")]
    Registry {
        /// The destination.
        destination: String,
        /// The registry's answer.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl DestinationError {
    /// Whether a check failed (exit 1: damaged content, an invalid tag) rather than a
    /// usage or I/O error (exit 2).
    pub fn is_check_failure(&self) -> bool {
        match self {
            DestinationError::InvalidTag { .. } => true,
            DestinationError::Layout(InitError::Open(e)) => e.is_check_failure(),
            DestinationError::Index(e) => e.is_check_failure(),
            DestinationError::ExistingArchive { source, .. } => source.is_check_failure(),
            DestinationError::ExistingBlob { source, .. }
            | DestinationError::Put { source, .. } => {
                matches!(**source, PutError::Mismatch(_) | PutError::Unverifiable(_))
            }
            DestinationError::DockerArchive(e) => e.is_check_failure(),
            DestinationError::Open(e) => e.is_check_failure(),
            DestinationError::Endpoint(_)
            | DestinationError::Registry { .. }
            | DestinationError::DigestReference { .. }
            | DestinationError::NotWritable { .. }
            | DestinationError::NoManifests { .. }
            | DestinationError::Layout(_)
            | DestinationError::Lock(_)
            | DestinationError::Write(_)
            | DestinationError::Io { .. } => false,
        }
    }
}

/// Opens `image` for writing: `oci:DIR[:TAG]` (the layout created when missing),
/// `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME:TAG]`, `docker://HOST/REPO[:TAG]`
/// (with default registry options), or a bare `DIR[:TAG]`. Temp files go beside the
/// destination.
pub fn open_destination(image: &str) -> Result<Box<dyn Destination>, DestinationError> {
    open_endpoint_destination(&Endpoint::parse_image(image)?)
}

/// Opens a parsed endpoint for writing, as [`open_destination`] does.
pub fn open_endpoint_destination(
    endpoint: &Endpoint,
) -> Result<Box<dyn Destination>, DestinationError> {
    open_endpoint_destination_with(endpoint, &RegistryOptions::default())
}

/// Opens a parsed endpoint for writing, a `docker://` one with `registry`'s options.
pub fn open_endpoint_destination_with(
    endpoint: &Endpoint,
    registry: &RegistryOptions,
) -> Result<Box<dyn Destination>, DestinationError> {
    Ok(match endpoint {
        Endpoint::Docker(reference) => {
            if reference.digest().is_some() {
                return Err(DestinationError::DigestReference {
                    destination: endpoint.clone(),
                });
            }
            Box::new(
                RegistryDestination::open(reference, registry)
                    .map_err(|e| DestinationError::Open(Box::new(e)))?,
            )
        }
        Endpoint::Oci(name) => {
            let tag = destination_tag(endpoint, name.reference.as_ref())?;
            Box::new(LayoutDestination::open(&name.dir, tag)?)
        }
        Endpoint::OciArchive { file, reference } => {
            let tag = destination_tag(endpoint, reference.as_ref())?;
            Box::new(OciArchiveDestination::open(file, tag)?)
        }
        Endpoint::DockerArchive { file, name } => Box::new(DockerArchiveDestination::open(
            file,
            name.iter().cloned().collect(),
        )?),
        Endpoint::Discover(name) => {
            return Err(DestinationError::NotWritable { name: name.clone() });
        }
    })
}

/// The tag a destination asks for; a digest is refused, an invalid tag too.
fn destination_tag(
    destination: &Endpoint,
    reference: Option<&crate::name::Reference>,
) -> Result<Option<String>, DestinationError> {
    use crate::name::Reference;
    match reference {
        None => Ok(None),
        Some(Reference::Digest(_)) => Err(DestinationError::DigestReference {
            destination: destination.clone(),
        }),
        Some(Reference::Tag(tag)) if !crate::name::is_valid_tag(tag) => {
            Err(DestinationError::InvalidTag { tag: tag.clone() })
        }
        Some(Reference::Tag(tag)) => Ok(Some(tag.clone())),
    }
}

/// A temp directory beside `file` (never in /tmp: a tmpfs), removed when dropped.
pub(crate) fn scratch_beside(file: &Path) -> Result<tempfile::TempDir, DestinationError> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".ocimg-copy-")
        .tempdir_in(parent)
        .map_err(|source| DestinationError::Io {
            action: "create a temp directory in",
            path: parent.to_path_buf(),
            source,
        })
}
