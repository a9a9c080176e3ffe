//! An OCI image layout on disk (image-layout.md): `oci-layout`, `index.json`, `blobs/`.

use std::fs::{self, File, Permissions};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_digest::BlobStore;
use oci_spec_types::document::{self, ParseError};
use oci_spec_types::layout::{BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE};
use oci_spec_types::{Document, ImageIndex, OciLayout};

/// The largest `index.json` read, in bytes (about 200,000 entries).
pub const MAX_INDEX_SIZE: u64 = 64 << 20;

/// The largest `oci-layout` file read, in bytes.
const MAX_LAYOUT_FILE_SIZE: u64 = 1 << 20;

/// Prefix of the temporary file a new `index.json` is written to before the rename.
pub const INDEX_TEMP_PREFIX: &str = ".index.json.tmp-";

/// An OCI image layout: a directory with an `oci-layout` file, an `index.json` and a
/// `blobs/` content store.
///
/// # Concurrency
///
/// Every `index.json` update is a read-modify-write under an exclusive lock
/// ([`Layout::lock`]) that ends with an atomic replacement (write a temporary file beside
/// it, sync, rename, sync the directory), so that writers using this crate never lose each
/// other's updates and readers always see a whole `index.json`, old or new.
///
/// The lock is an advisory `flock` on the layout directory itself: it leaves no file in
/// the layout for skopeo or umoci to trip over, and it is released when the process dies.
/// Tools that do not take it (skopeo, umoci) are not serialized with us; their updates
/// are still atomic renames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
    store: BlobStore,
}

/// Why a directory could not be opened as a layout.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The directory does not exist.
    #[error("layout {path} does not exist")]
    NotFound {
        /// The layout directory.
        path: PathBuf,
    },
    /// The directory has no `oci-layout` file.
    #[error("{path} is missing: not an OCI image layout")]
    NoLayoutFile {
        /// The `oci-layout` path.
        path: PathBuf,
    },
    /// The `oci-layout` file is not a JSON object with a string `imageLayoutVersion` (L3).
    #[error("{path} is not a valid oci-layout file")]
    BadLayoutFile {
        /// The `oci-layout` path.
        path: PathBuf,
        /// What the parser found.
        #[source]
        source: ParseError,
    },
    /// Reading failed.
    #[error("cannot read {path}")]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl OpenError {
    /// Whether the layout itself is broken (exit 1), as opposed to absent or unreadable.
    pub fn is_check_failure(&self) -> bool {
        matches!(self, OpenError::BadLayoutFile { .. })
    }
}

/// Why a layout could not be created.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// `oci-layout` or `index.json` is already there.
    #[error("{path} already exists: the directory already holds a layout")]
    AlreadyExists {
        /// The file found.
        path: PathBuf,
    },
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Taking the layout lock failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The existing layout could not be opened ([`Layout::open_or_init`]).
    #[error(transparent)]
    Open(OpenError),
}

/// Why `index.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// There is no `index.json` (L4).
    #[error("{path} is missing")]
    Missing {
        /// The `index.json` path.
        path: PathBuf,
    },
    /// `index.json` is not an image index.
    #[error("{path} is not an image index")]
    Parse {
        /// The `index.json` path.
        path: PathBuf,
        /// What the parser found.
        #[source]
        source: ParseError,
    },
    /// `index.json` is larger than [`MAX_INDEX_SIZE`].
    #[error("{path} has {size} bytes, more than the limit of {MAX_INDEX_SIZE}")]
    TooLarge {
        /// The `index.json` path.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Reading failed.
    #[error("cannot read {path}")]
    Io {
        /// The `index.json` path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl IndexError {
    /// Whether the layout is broken (exit 1), as opposed to unreadable.
    pub fn is_check_failure(&self) -> bool {
        !matches!(self, IndexError::Io { .. })
    }
}

/// Why a file of the layout could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {path}")]
pub struct WriteError {
    /// What was being done: "create directory", "write", "sync", "rename into place"...
    pub action: &'static str,
    /// The path involved.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// Why the layout lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[error("cannot lock layout {path}")]
pub struct LockError {
    /// The layout directory.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// The exclusive layout lock; released when dropped.
///
/// Reading `index.json` through the lock, changing it and writing it back with
/// [`write_index`](IndexLock::write_index) is a read-modify-write that no other writer
/// of this crate interleaves with.
#[derive(Debug)]
pub struct IndexLock<'a> {
    layout: &'a Layout,
    _dir: File,
}

impl Layout {
    /// Creates a layout in `dir` (created when missing): `blobs/sha256/`, an empty `index.json`
    /// (schemaVersion 2, the index media type) and, last, `oci-layout`. Refuses a directory
    /// that already has an `oci-layout` or `index.json`.
    pub fn init(dir: impl Into<PathBuf>) -> Result<Layout, InitError> {
        let root = dir.into();
        create_dir(&root)?;
        let layout = Layout::at(root);
        let _lock = layout.lock()?;
        for name in [OCI_LAYOUT_FILE, INDEX_FILE] {
            let path = layout.root.join(name);
            if fs::symlink_metadata(&path).is_ok() {
                return Err(InitError::AlreadyExists { path });
            }
        }
        // blobs/sha256 as umoci makes it, so that tools copying blobs in find it.
        create_dir(&layout.root.join(BLOBS_DIR).join("sha256"))?;
        let index = Document::from_value(ImageIndex::new(Vec::new()));
        layout.replace_file(INDEX_FILE, index.bytes())?;
        let oci_layout = Document::from_value(OciLayout::new());
        layout.replace_file(OCI_LAYOUT_FILE, oci_layout.bytes())?;
        Ok(layout)
    }

    /// Opens the layout in `dir`, checking its `oci-layout` file (L3). Unknown extra files
    /// are tolerated (L10); `index.json` is read when asked for.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Layout, OpenError> {
        let root = dir.into();
        let path = root.join(OCI_LAYOUT_FILE);
        let bytes = match read_capped(&path, MAX_LAYOUT_FILE_SIZE) {
            Ok(Ok(bytes)) => bytes,
            // Too large to be a JSON object with one short member: parse what would be
            // an error anyway, without reading it all.
            Ok(Err(_)) => b"too large".to_vec(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(if root.is_dir() {
                    OpenError::NoLayoutFile { path }
                } else {
                    OpenError::NotFound { path: root }
                });
            }
            Err(source) => return Err(OpenError::Io { path, source }),
        };
        if let Err(source) = document::from_slice::<OciLayout>(&bytes) {
            return Err(OpenError::BadLayoutFile { path, source });
        }
        Ok(Layout::at(root))
    }

    /// Opens the layout in `dir`, creating it first when `dir` has no `oci-layout` (as
    /// skopeo does for an `oci:` destination, and `ocimg build` for its layout). Safe when
    /// several processes do it at once.
    pub fn open_or_init(dir: impl Into<PathBuf>) -> Result<Layout, InitError> {
        let root = dir.into();
        if !root.join(OCI_LAYOUT_FILE).exists() {
            match Layout::init(&root) {
                Ok(layout) => return Ok(layout),
                Err(InitError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Layout::open(&root).map_err(InitError::Open)
    }

    fn at(root: PathBuf) -> Layout {
        Layout {
            store: BlobStore::new(root.clone()),
            root,
        }
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `DIR/index.json`.
    pub fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// `DIR/oci-layout`.
    pub fn oci_layout_path(&self) -> PathBuf {
        self.root.join(OCI_LAYOUT_FILE)
    }

    /// The blob store of `DIR/blobs`.
    pub fn blobs(&self) -> &BlobStore {
        &self.store
    }

    /// Reads `index.json` (without the lock: it is only ever replaced whole).
    pub fn index(&self) -> Result<Document<ImageIndex>, IndexError> {
        let path = self.index_path();
        let bytes = match read_capped(&path, MAX_INDEX_SIZE) {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(size)) => return Err(IndexError::TooLarge { path, size }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(IndexError::Missing { path });
            }
            Err(source) => return Err(IndexError::Io { path, source }),
        };
        Document::parse(bytes).map_err(|source| IndexError::Parse { path, source })
    }

    /// Takes the exclusive layout lock, waiting for other holders.
    pub fn lock(&self) -> Result<IndexLock<'_>, LockError> {
        let lock_error = |source| LockError {
            path: self.root.clone(),
            source,
        };
        let dir = File::open(&self.root).map_err(lock_error)?;
        loop {
            match dir.lock() {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(lock_error(e)),
            }
        }
        Ok(IndexLock {
            layout: self,
            _dir: dir,
        })
    }

    /// Writes `bytes` to `DIR/name` atomically: a temporary file in `DIR`, synced, renamed
    /// over the old file, and the directory synced.
    fn replace_file(&self, name: &str, bytes: &[u8]) -> Result<(), WriteError> {
        let target = self.root.join(name);
        let error = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| WriteError {
                action,
                path,
                source,
            }
        };
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
            .permissions(Permissions::from_mode(0o644))
            .tempfile_in(&self.root)
            .map_err(error("create a temporary file in", &self.root))?;
        temp.write_all(bytes).map_err(error("write", temp.path()))?;
        temp.as_file()
            .sync_all()
            .map_err(error("sync", temp.path()))?;
        temp.persist(&target)
            .map_err(|e| error("rename into place", &target)(e.error))?;
        File::open(&self.root)
            .and_then(|d| d.sync_all())
            .map_err(error("sync directory", &self.root))
    }
}

impl IndexLock<'_> {
    /// Reads `index.json` under the lock.
    pub fn read_index(&self) -> Result<Document<ImageIndex>, IndexError> {
        self.layout.index()
    }

    /// Replaces `index.json` atomically with the serialization of `index`, returning the
    /// document written.
    pub fn write_index(&self, index: ImageIndex) -> Result<Document<ImageIndex>, WriteError> {
        let document = Document::from_value(index);
        self.layout.replace_file(INDEX_FILE, document.bytes())?;
        Ok(document)
    }

    /// The locked layout.
    pub fn layout(&self) -> &Layout {
        self.layout
    }
}

/// The whole file, or `Ok(Err(size))` when it is larger than `limit`.
fn read_capped(path: &Path, limit: u64) -> io::Result<Result<Vec<u8>, u64>> {
    use std::io::Read as _;
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Ok(Err(size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(Err(bytes.len() as u64));
    }
    Ok(Ok(bytes))
}

fn create_dir(dir: &Path) -> Result<(), WriteError> {
    fs::create_dir_all(dir).map_err(|source| WriteError {
        action: "create directory",
        path: dir.to_path_buf(),
        source,
    })
}
