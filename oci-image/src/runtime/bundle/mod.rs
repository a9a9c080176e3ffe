//! Image config to runtime-spec `config.json` (image-spec conversion.md, rules V1 to V20),
//! and the volume directories of a bundle.
//!
//! [`runtime_config`] builds the "default generated runtime configuration" of an image
//! config, combined with the implementation-defined defaults of `runc spec` (namespaces,
//! mounts, capabilities, masked paths). It reads nothing but the image config
//! and, for `Config.User`, `/etc/passwd` and `/etc/group` through a [`UserDb`]
//! ([`RootfsFiles`] for an unpacked root filesystem, confined to it).

mod defaults;
pub mod spec;
mod user;

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use oci_spec_types::ImageConfig;
use oci_spec_types::annotations::implicit;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

pub use defaults::{DEFAULT_PATH, DEFAULT_TERM};
pub use user::{NoUserDb, RootfsFiles, UserDb};

use spec::{Mount, Process, Root, Spec};

/// `ociVersion` written, that of `runc spec` 1.1.5.
pub const OCI_VERSION: &str = "1.0.2-dev";
/// `root.path` written: the bundle's `rootfs` directory.
pub const ROOTFS_DIR: &str = "rootfs";
/// Directory of the bundle holding one directory per volume.
pub const VOLUMES_DIR: &str = "volumes";
/// Hostname written.
pub const HOSTNAME: &str = "ocimg";

/// Host ids a rootless container's root is mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostIds {
    /// Host uid of container uid 0.
    pub uid: u32,
    /// Host gid of container gid 0.
    pub gid: u32,
}

impl HostIds {
    /// The real uid and gid of this process.
    pub fn current() -> HostIds {
        HostIds {
            uid: rustix::process::getuid().as_raw(),
            gid: rustix::process::getgid().as_raw(),
        }
    }
}

/// Implementation-defined choices of a conversion.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleOptions {
    /// `process.terminal` (and `TERM=xterm` when `Config.Env` has no `TERM`).
    pub terminal: bool,
    /// Rootless: a user namespace mapping container root to these host ids, as
    /// `runc spec --rootless`. Only container ids 0 are mapped (an unprivileged user may
    /// map just its own ids, and runc needs container root mapped), so an image whose
    /// `Config.User` is not root is an error ([`ConvertError::RootlessUser`]), and
    /// supplementary groups are dropped (runc refuses them in a rootless container).
    pub rootless: Option<HostIds>,
}

/// One `Config.Volumes` entry and its mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Position in byte order of the volume paths, from 0.
    pub index: usize,
    /// The volume path as written in `Config.Volumes` (the mount destination).
    pub path: String,
    /// The mount source, relative to the bundle: `volumes/<index>`.
    pub source: String,
}

/// What [`runtime_config`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// The runtime `config.json`; [`Spec::to_bytes`] gives its bytes.
    pub spec: Spec,
    /// The volumes, whose mounts are in `spec.mounts`; see [`seed_volumes`].
    pub volumes: Vec<Volume>,
}

/// Why an image config could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// `Entrypoint` and `Cmd` are both absent or empty.
    #[error("image config has neither Entrypoint nor Cmd: the bundle would run nothing")]
    NothingToRun,
    /// `Config.WorkingDir` is not absolute.
    #[error("Config.WorkingDir {dir:?} is not an absolute path")]
    RelativeWorkingDir {
        /// The value.
        dir: String,
    },
    /// `Config.User` is not `user[:group]`.
    #[error("Config.User {user:?} is invalid: {reason}")]
    InvalidUser {
        /// The value.
        user: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// `Config.User` names a user that is not in `/etc/passwd` (V14).
    #[error("Config.User {user:?}: no user {name:?} in the image's /etc/passwd")]
    UnknownUser {
        /// The whole `Config.User`.
        user: String,
        /// The user name.
        name: String,
    },
    /// `Config.User` names a group that is not in `/etc/group` (V14).
    #[error("Config.User {user:?}: no group {name:?} in the image's /etc/group")]
    UnknownGroup {
        /// The whole `Config.User`.
        user: String,
        /// The group name.
        name: String,
    },
    /// Reading `/etc/passwd` or `/etc/group` failed (other than being absent).
    #[error("cannot read {path} of the image")]
    ReadUserDb {
        /// The path in the container.
        path: &'static str,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Rootless, only container uid 0 and gid 0 are mapped, and the image's user is not
    /// root.
    #[error(
        "Config.User {user:?} is uid {uid} gid {gid}, but a rootless bundle maps only uid 0 and gid 0"
    )]
    RootlessUser {
        /// The whole `Config.User`.
        user: String,
        /// The resolved uid.
        uid: u32,
        /// The resolved gid.
        gid: u32,
    },
    /// A `Config.Volumes` key cannot be a mount destination.
    #[error("Config.Volumes path {path:?} {reason}")]
    InvalidVolume {
        /// The key.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Why [`seed_volumes`] failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot seed volume {volume:?} at {path}: {source}")]
pub struct SeedError {
    /// The volume path.
    pub volume: String,
    /// The file at fault.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: io::Error,
}

/// The runtime configuration of `image` (conversion.md), with `users` for `Config.User`.
///
/// Only the image config is read (V1), never manifest or index annotations (V18).
///
/// # Choices where conversion.md leaves room
///
/// - `process.args`: `Entrypoint` followed by `Cmd` (V5), `Cmd` alone without an
///   `Entrypoint` (C11). Both empty is an error: such a bundle would run nothing.
/// - `process.env`: `Config.Env` verbatim and in order (V3). Two defaults are appended
///   only when their name is absent from `Config.Env` (V2, V4): the `PATH` of
///   `runc spec`, and `TERM=xterm` when a terminal is asked for.
/// - `process.cwd`: `Config.WorkingDir`, `/` when unset or empty; a relative one is an
///   error, since the runtime-spec requires an absolute `cwd`.
/// - `process.user` (V9 to V14): numeric user or group copied verbatim (V10), even when
///   absent from the databases; names resolved from the rootfs's `/etc/passwd` and
///   `/etc/group` (V11), an unknown name being an error (V14); without a group, the
///   primary group of the user's passwd entry (0 for a numeric uid without one);
///   `additionalGids` only for a named user without a group: the groups whose member
///   list names the user, sorted, deduplicated, without the primary group (V12); unset
///   or empty `Config.User` runs as uid 0, gid 0 (V13). Passwd and group lines that are
///   blank, comments, NIS `+`/`-` entries or malformed are skipped.
/// - Annotations: the implicit ones of V6 when the image config has the field
///   (`os.features` joined by commas, as umoci does; `created` kept as written), then
///   `org.opencontainers.image.exposedPorts` with the `ExposedPorts` keys in byte order
///   joined by commas (V16), then every `Config.Labels` entry verbatim, which wins over
///   both (V7, V8, V19, V20). Manifest and index annotations are never used (V18): the
///   function does not even receive them.
/// - Volumes (V15, V17): `Config.Volumes` keys in byte order, the n-th (from 0) bind
///   mounted (`rbind`, `rw`) from `volumes/<n>` relative to the bundle onto the volume
///   path, verbatim as destination. Byte order puts a parent before anything under it,
///   so nested volumes mount in the right order. A relative volume path, or one that is
///   the root directory, is an error. [`seed_volumes`] fills those directories from the
///   root filesystem.
/// - Defaults from `runc spec` of runc 1.1.5: `ociVersion` `1.0.2-dev`, capabilities
///   `CAP_AUDIT_WRITE`, `CAP_KILL`, `CAP_NET_BIND_SERVICE` in the bounding, effective,
///   permitted and ambient sets, `RLIMIT_NOFILE` 1024, `noNewPrivileges`, the seven
///   mounts, pid/network/ipc/uts/mount namespaces, the masked and read-only paths, and
///   a deny-all device rule; `--rootless` as `runc spec --rootless`. Unlike `runc spec`,
///   `root.readonly` is false (images expect a writable root) and the hostname is
///   `ocimg`.
/// - Rootless ([`BundleOptions::rootless`]): the image's user must be root; its
///   supplementary groups are dropped.
pub fn runtime_config(
    image: &ImageConfig,
    users: &dyn UserDb,
    options: &BundleOptions,
) -> Result<Conversion, ConvertError> {
    let empty = Default::default();
    let config = image.config.as_ref().unwrap_or(&empty);

    let args: Vec<String> = config
        .entrypoint
        .iter()
        .flatten()
        .chain(config.cmd.iter().flatten())
        .cloned()
        .collect();
    if args.is_empty() {
        return Err(ConvertError::NothingToRun);
    }

    let cwd = match config.working_dir.as_deref() {
        None | Some("") => "/".to_owned(),
        Some(dir) if dir.starts_with('/') => dir.to_owned(),
        Some(dir) => {
            return Err(ConvertError::RelativeWorkingDir {
                dir: dir.to_owned(),
            });
        }
    };

    let mut env = config.env.clone().unwrap_or_default();
    let has = |env: &[String], name: &str| {
        env.iter()
            .any(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) == name)
    };
    if !has(&env, "PATH") {
        env.push(DEFAULT_PATH.to_owned());
    }
    if options.terminal && !has(&env, "TERM") {
        env.push(DEFAULT_TERM.to_owned());
    }

    let mut user = user::resolve(config.user.as_deref(), users)?;
    if options.rootless.is_some() {
        if user.uid != 0 || user.gid != 0 {
            return Err(ConvertError::RootlessUser {
                user: config.user.clone().unwrap_or_default(),
                uid: user.uid,
                gid: user.gid,
            });
        }
        // runc refuses supplementary groups in a rootless container, and they could not
        // be mapped anyway.
        user.additional_gids = None;
    }

    let mut annotations = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            annotations.insert(key.to_owned(), value);
        }
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    put(implicit::OS, non_empty(&image.os));
    put(implicit::ARCHITECTURE, non_empty(&image.architecture));
    put(implicit::VARIANT, image.variant.clone());
    put(implicit::OS_VERSION, image.os_version.clone());
    put(
        implicit::OS_FEATURES,
        image.os_features.as_ref().map(|f| f.join(",")),
    );
    put(implicit::AUTHOR, image.author.clone());
    put(implicit::CREATED, image.created.clone());
    put(implicit::STOP_SIGNAL, config.stop_signal.clone());
    put(
        implicit::EXPOSED_PORTS,
        config
            .exposed_ports
            .as_ref()
            .filter(|ports| !ports.is_empty())
            .map(|ports| ports.keys().cloned().collect::<Vec<_>>().join(",")),
    );
    for (key, value) in config.labels.iter().flatten() {
        annotations.insert(key.clone(), value.clone());
    }

    let mut mounts = defaults::mounts(options.rootless.is_some());
    let mut volumes = Vec::new();
    for (index, path) in config.volumes.iter().flatten().map(|(k, _)| k).enumerate() {
        check_volume(path)?;
        let source = format!("{VOLUMES_DIR}/{index}");
        mounts.push(Mount {
            destination: path.clone(),
            kind: "bind".to_owned(),
            source: source.clone(),
            options: vec!["rbind".to_owned(), "rw".to_owned()],
        });
        volumes.push(Volume {
            index,
            path: path.clone(),
            source,
        });
    }

    let spec = Spec {
        oci_version: OCI_VERSION.to_owned(),
        process: Process {
            terminal: options.terminal,
            user,
            args,
            env,
            cwd,
            capabilities: Some(defaults::capabilities()),
            rlimits: defaults::rlimits(),
            no_new_privileges: true,
        },
        root: Root {
            path: ROOTFS_DIR.to_owned(),
            readonly: false,
        },
        hostname: Some(HOSTNAME.to_owned()),
        mounts,
        annotations,
        linux: Some(defaults::linux(options.rootless)),
    };
    Ok(Conversion { spec, volumes })
}

fn check_volume(path: &str) -> Result<(), ConvertError> {
    let invalid = |reason| ConvertError::InvalidVolume {
        path: path.to_owned(),
        reason,
    };
    if !path.starts_with('/') {
        return Err(invalid("is not absolute"));
    }
    if path.contains('\0') {
        return Err(invalid("contains a NUL byte"));
    }
    let mut depth = 0usize;
    for component in Path::new(path).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if depth == 0 {
        return Err(invalid("is the root directory"));
    }
    Ok(())
}

/// `config.json` of a bundle.
pub const CONFIG_FILE: &str = "config.json";

/// Writes `spec` as `BUNDLE/config.json` ([`Spec::to_bytes`]), readable by its owner only
/// (mode 0600), synced; the file must not exist yet.
pub fn write_config(bundle: &Path, spec: &Spec) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(bundle.join(CONFIG_FILE))?;
    file.write_all(&spec.to_bytes())?;
    file.sync_all()
}

/// Creates `BUNDLE/volumes/<n>` for every volume, holding what the root filesystem at
/// `BUNDLE/rootfs` has at the volume path (conversion.md: a converter MAY seed the
/// mount with the image's data there).
///
/// A directory at the volume path is moved (renamed, so nothing is copied and owner,
/// mode, times and xattrs stay) to `volumes/<n>`, and an empty directory with the same
/// owner and mode takes its place as the mountpoint; the root filesystem then holds no
/// volume data, so an image built from it leaves the volumes out (V17). Anything else
/// (nothing there, a symlink, a file, a path with `..`) gives an empty `volumes/<n>`
/// (mode 0755). Volumes are handled deepest first, so a nested volume's data goes to its
/// own directory.
///
/// # Security
///
/// The parent of each volume path is opened with `openat2(RESOLVE_IN_ROOT)`, so
/// symlinks in the image never make this touch anything outside `BUNDLE/rootfs`, and the
/// last component is never followed: a symlink there is left alone.
pub fn seed_volumes(bundle: &Path, volumes: &[Volume]) -> Result<(), SeedError> {
    if volumes.is_empty() {
        return Ok(());
    }
    let rootfs = bundle.join(ROOTFS_DIR);
    let dir = bundle.join(VOLUMES_DIR);
    let fail = |volume: &Volume, path: &Path| {
        let volume = volume.path.clone();
        let path = path.to_owned();
        move |source: io::Error| SeedError {
            volume,
            path,
            source,
        }
    };
    std::fs::create_dir_all(&dir).map_err(fail(&volumes[0], &dir))?;
    let dir_fd = rustix::fs::open(
        &dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(&volumes[0], &dir)(e.into()))?;

    let mut order: Vec<&Volume> = volumes.iter().collect();
    order.sort_by(|a, b| b.path.cmp(&a.path));
    for volume in order {
        let name = volume.index.to_string();
        let target = dir.join(&name);
        let moved = move_out(&rootfs, &volume.path, &dir_fd, &name).map_err(fail(
            volume,
            &rootfs.join(volume.path.trim_start_matches('/')),
        ))?;
        if !moved {
            rustix::fs::mkdirat(&dir_fd, name.as_str(), Mode::from_raw_mode(0o755))
                .map_err(|e| fail(volume, &target)(e.into()))?;
        }
    }
    Ok(())
}

/// Renames the directory at `path` in `rootfs` to `name` in `dir`, leaving an empty
/// directory with the same owner and mode; false when there is no directory to move.
fn move_out(
    rootfs: &Path,
    path: &str,
    dir: &impl std::os::fd::AsFd,
    name: &str,
) -> io::Result<bool> {
    let components: Vec<&str> = {
        let mut parts = Vec::new();
        for component in Path::new(path).components() {
            match component {
                Component::Normal(part) => match part.to_str() {
                    Some(part) => parts.push(part),
                    None => return Ok(false),
                },
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => return Ok(false),
            }
        }
        parts
    };
    let Some((last, parents)) = components.split_last() else {
        return Ok(false);
    };
    let parent = parents.join("/");
    let Some(parent) = user::open_in_root(rootfs, &parent, OFlags::PATH | OFlags::DIRECTORY)?
    else {
        return Ok(false);
    };
    let stat = match rustix::fs::statat(&parent, *last, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(rustix::io::Errno::NOENT) => return Ok(false),
        Err(err) => return Err(err.into()),
    };
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        return Ok(false);
    }
    rustix::fs::renameat(&parent, *last, dir, name)?;
    rustix::fs::mkdirat(&parent, *last, Mode::from_raw_mode(0o700))?;
    if stat.st_uid != u32::MAX && stat.st_gid != u32::MAX {
        rustix::fs::chownat(
            &parent,
            *last,
            Some(rustix::fs::Uid::from_raw(stat.st_uid)),
            Some(rustix::fs::Gid::from_raw(stat.st_gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
    }
    rustix::fs::chmodat(
        &parent,
        *last,
        Mode::from_raw_mode(stat.st_mode & 0o7777),
        AtFlags::empty(),
    )?;
    Ok(true)
}
