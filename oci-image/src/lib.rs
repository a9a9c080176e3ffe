#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
// The error enums carry their evidence (paths, digests, names); several reach clippy's
// 128-byte threshold since main's typed destinations and the registry transport met.
// Boxing their large variants is a change across every constructor: left to the
// typed-error work (issue 9).
#![allow(clippy::result_large_err)]

mod copy;
mod edit;
mod fsck;
mod gc;
mod image;
mod layout;
mod name;
mod resolve;
mod runtime;
pub mod signatures;
mod tag;
mod tar_index;
mod transport;
mod walk;

pub use copy::{
    Copied, CopyError, CopyOptions, DEFAULT_JOBS, Format, Platforms, copy, copy_image, copy_to,
};
pub use edit::{BUILD_COMPRESSION, BuildError, BuildOptions, Built, build};
pub use edit::{
    ConfigEdits, EditError, ValueError, ValueReason, Written, check_absolute, check_signal,
    check_user, parse_exec_array, parse_key_value, parse_port, rfc3339,
};
pub use fsck::{FsckReport, Problem, ProblemKind};
pub use gc::{DEFAULT_GRACE, GcError, GcOptions, GcReport};
pub use image::{
    Image, ImageError, Inspection, Layer, descend, image_of, inspect, layer_compression,
    read_config, read_image, read_manifest, select_root,
};
pub use layout::{
    INDEX_TEMP_PREFIX, IndexError, IndexLock, InitError, Layout, LockError, MAX_INDEX_SIZE,
    OpenError, WriteError,
};
pub use name::{ImageName, NameError, Reference, is_valid_tag};
pub use resolve::{
    BlobError, MAX_DEPTH, MAX_DOCUMENT_SIZE, ResolveError, platform_string, select_entry,
};
pub use runtime::bundle::spec as runtime_spec;
pub use runtime::bundle::{
    BundleOptions, Conversion, ConvertError, DEFAULT_PATH, DEFAULT_TERM, HostIds, NoUserDb,
    ROOTFS_DIR, RootfsFiles, SeedError, UserDb, VOLUMES_DIR, Volume, runtime_config, seed_volumes,
    write_config,
};
pub use runtime::unpack::{
    BundleDirOptions, Bundled, Event as UnpackEvent, Progress, ProgressFn, STAGING_INFIX,
    UnpackError, UnpackOptions, Unpacked, bundle, unpack,
};
pub use tag::TagError;
pub use tar_index::{LinkProblem, TarIndex, TarIndexError};
pub use transport::docker_archive::{
    ArchiveProblem, DOCKER_LAYER_TAR, DockerArchiveError, DockerArchiveSource,
    DockerArchiveWritten, ManifestProblem, NameProblem, write_docker_archive,
};
pub use transport::{
    BlobOpenError, BlobReader, BlobSink, Capabilities, CasFailures, Damage, Destination,
    DestinationError, DiscoverSource, DiscoverSourceError, DockerArchiveDestination, Endpoint,
    EndpointError, LayoutDestination, LayoutProblem, LayoutSource, Location, OciArchiveDestination,
    OciArchiveSource, OpenOptions, ReferrersError, RegistryDestination, RegistryError,
    RegistryOptions, RegistrySource, Source, SourceError, TRANSPORTS, Transport, archive_lock_path,
    delete_image, list_tags, open_destination, open_endpoint, open_endpoint_destination,
    open_endpoint_destination_with, open_source, read_error,
};
