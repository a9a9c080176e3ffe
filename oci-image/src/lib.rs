#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod build;
mod bundle;
mod copy;
mod edit;
mod fsck;
mod gc;
mod inspect;
mod layout;
mod name;
mod resolve;
mod tag;
mod tar_index;
mod transport;
mod unpack;
mod walk;

pub use build::{BUILD_COMPRESSION, BuildError, BuildOptions, Built, build};
pub use bundle::spec as runtime_spec;
pub use bundle::{
    BundleOptions, Conversion, ConvertError, DEFAULT_PATH, DEFAULT_TERM, HostIds, NoUserDb,
    ROOTFS_DIR, RootfsFiles, SeedError, UserDb, VOLUMES_DIR, Volume, runtime_config, seed_volumes,
    write_config,
};
pub use copy::{Copied, CopyError, CopyOptions, Format, Platforms, copy, copy_image, copy_to};
pub use transport::docker_archive::{
    DOCKER_LAYER_TAR, DockerArchiveError, DockerArchiveSource, DockerArchiveWritten,
    write_docker_archive,
};
pub use edit::{
    ConfigEdits, EditError, FlagError, Written, check_absolute, check_signal, check_user,
    parse_exec_array, parse_key_value, parse_port, rfc3339,
};
pub use fsck::{FsckReport, Problem, ProblemKind};
pub use gc::{DEFAULT_GRACE, GcError, GcOptions, GcReport};
pub use inspect::{Image, Inspection, Layer};
pub use layout::{
    INDEX_TEMP_PREFIX, IndexError, IndexLock, InitError, Layout, LockError, MAX_INDEX_SIZE,
    OpenError, WriteError,
};
pub use name::{ImageName, NameError, Reference, is_valid_tag};
pub use resolve::{
    BlobError, MAX_DEPTH, MAX_DOCUMENT_SIZE, ResolveError, platform_string, select_entry,
};
pub use tag::TagError;
pub use transport::{
    BlobOpenError, BlobReader, BlobSink, Capabilities, Destination, DestinationError,
    DiscoverSource, DiscoverSourceError, DockerArchiveDestination, Endpoint, EndpointError,
    LayoutDestination, LayoutSource, OciArchiveDestination, OciArchiveSource, OpenOptions,
    ReferrersError, Source, SourceError, TRANSPORTS, archive_lock_path, open_destination,
    open_endpoint, open_endpoint_destination, open_source, read_error,
};
pub use unpack::{
    BundleDirOptions, Bundled, Event as UnpackEvent, Progress, ProgressFn, STAGING_INFIX,
    UnpackError, UnpackOptions, Unpacked, bundle, unpack,
};
