//! A content-addressed blob store on disk: the `blobs` directory of an OCI image layout.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use oci_spec_types::digest::{self, Algorithm, Digest};

use crate::digester::{Digester, Measured};
use crate::verify::{Unverifiable, Verifier, VerifyError, VerifyingReader, algorithm_of};

/// Names in `blobs/<alg>/` starting with this are temporary files of unfinished writes;
/// [`BlobStore::list`] skips them.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Size of the buffer used to copy into the store: small enough that the bytes are still
/// in the CPU caches when they are hashed and written.
const COPY_BUFFER: usize = 64 * 1024;

/// The blobs of an OCI image layout: `<root>/blobs/<algorithm>/<encoded>` (L5, L6).
///
/// # Guarantees
///
/// - **Atomic publication.** A blob is written to a temporary file in its
///   `blobs/<algorithm>/` directory (named [`TEMP_PREFIX`]...), synced, renamed into place,
///   and the directory is synced. A blob is therefore whole or absent, also when the
///   process is killed mid-write; a kill may leave a temporary file, which
///   [`list`](BlobStore::list) ignores.
/// - **Verified writes.** [`put_verified`](BlobStore::put_verified) checks digest and size
///   before publishing and publishes nothing on a mismatch.
/// - **Caller-measured writes.** A writer from [`writer_unhashed`](BlobStore::writer_unhashed)
///   does not hash: the caller, which measured the very bytes it wrote, vouches for the
///   digest given to [`commit_measured`](BlobWriter::commit_measured); the algorithm and
///   size are still checked, and publication is just as atomic.
/// - **Idempotency.** Putting a blob that is already there succeeds and leaves the same
///   content; several writers (threads or processes) putting the same blob at once all
///   succeed. [`delete`](BlobStore::delete) of an absent blob succeeds.
/// - **Verified reads.** [`open`](BlobStore::open) returns a [`VerifyingReader`]: reading
///   to the end checks that the content hashes to its name (L5).
/// - Absence is not failure: lookups return `Ok(None)` for a missing blob.
///
/// # Security
///
/// Blob files are opened without following a symbolic link in the last component and
/// without blocking on FIFOs; anything but a regular file is refused. The directories
/// above (`<root>`, `blobs`, `blobs/<alg>`) are trusted. Deletions are not synced to disk:
/// a deleted blob may reappear after a crash, which leaves only an unreferenced blob (L7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobStore {
    root: PathBuf,
}

/// Why a blob could not be stored. Nothing was published.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The expected digest's algorithm is not registered.
    #[error(transparent)]
    Unverifiable(#[from] Unverifiable),
    /// The content does not match the expected digest or size.
    #[error("blob not stored: its content does not match")]
    Mismatch(#[source] VerifyError),
    /// Reading the content to store failed.
    #[error("reading the content for {path} failed")]
    Read {
        /// The temporary file being written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A filesystem operation on the store failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done: "create directory", "create a temporary file in", "write",
        /// "sync", "rename into place", ...
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Why a blob could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The digest's algorithm is not registered, so the blob cannot be verified.
    #[error(transparent)]
    Unverifiable(#[from] Unverifiable),
    /// The blob's path holds something other than a regular file.
    #[error("blob {digest} at {path} is not a regular file")]
    NotAFile {
        /// The digest asked for.
        digest: Digest,
        /// Its path.
        path: PathBuf,
    },
    /// The file's size differs from the expected size (checked before any hashing, DG3).
    #[error("blob {digest} at {path} has {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The digest asked for.
        digest: Digest,
        /// Its path.
        path: PathBuf,
        /// The expected size.
        expected: u64,
        /// The size on disk.
        actual: u64,
    },
    /// Opening failed.
    #[error("cannot open blob {digest} at {path}")]
    Io {
        /// The digest asked for.
        digest: Digest,
        /// Its path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Why a blob's size could not be found.
#[derive(Debug, thiserror::Error)]
pub enum StatError {
    /// The blob's path holds something other than a regular file.
    #[error("blob {digest} at {path} is not a regular file")]
    NotAFile {
        /// The digest asked for.
        digest: Digest,
        /// Its path.
        path: PathBuf,
    },
    /// Reading the metadata failed.
    #[error("cannot stat blob {digest} at {path}")]
    Io {
        /// The digest asked for.
        digest: Digest,
        /// Its path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Why a blob could not be deleted.
#[derive(Debug, thiserror::Error)]
#[error("cannot delete blob {digest} at {path}")]
pub struct DeleteError {
    /// The digest.
    pub digest: Digest,
    /// Its path.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// Why the blobs could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list {path}")]
pub struct ListError {
    /// The directory being read.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// Every blob in the store, and every entry of `blobs/` that is not one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The blobs, sorted. Unregistered algorithms that fit the grammar are included.
    pub blobs: Vec<Digest>,
    /// Entries whose names or types do not fit `blobs/<alg>/<encoded>` (L6), sorted by path.
    pub invalid: Vec<InvalidEntry>,
}

/// An entry of `blobs/` that is not a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEntry {
    /// Its path.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: InvalidReason,
}

/// What is wrong with an [`InvalidEntry`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReason {
    /// The name is not UTF-8.
    #[error("name is not UTF-8")]
    NotUtf8,
    /// A directory name in `blobs/` that does not fit the algorithm grammar (L6, DG1).
    #[error(
        "directory name is not a digest algorithm (components of [a-z0-9]+ joined by one of +._-)"
    )]
    BadAlgorithm,
    /// A file name that with its directory does not form a valid digest (L6, DG1, DG6-DG8).
    #[error("{0}")]
    BadDigest(digest::Error),
    /// A file directly in `blobs/` (only algorithm directories belong there).
    #[error("not a directory")]
    NotADirectory,
    /// Something other than a regular file where a blob is expected.
    #[error("not a regular file")]
    NotAFile,
}

impl BlobStore {
    /// The store whose blobs live in `<root>/blobs`. Does no I/O; directories are created
    /// by the first write.
    pub fn new(root: impl Into<PathBuf>) -> BlobStore {
        BlobStore { root: root.into() }
    }

    /// The layout root given at creation.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/blobs`.
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    /// `<root>/blobs/<algorithm>/<encoded>`.
    ///
    /// The digest grammar admits no `/` and no name `.` or `..` in either part, so the
    /// path stays inside `blobs/`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir()
            .join(digest.algorithm_name())
            .join(digest.encoded())
    }

    /// A writer for a new blob whose digest is computed with `algorithm`.
    pub fn writer(&self, algorithm: Algorithm) -> Result<BlobWriter, PutError> {
        self.new_writer(algorithm, Check::Compute(Digester::new(algorithm)))
    }

    /// A writer for a blob that must match `digest` and, when given, `size`.
    ///
    /// Writing fails as soon as more than `size` bytes arrive; [`BlobWriter::commit`]
    /// publishes nothing on a mismatch.
    pub fn writer_verified(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<BlobWriter, PutError> {
        let algorithm = algorithm_of(digest)?;
        self.new_writer(algorithm, Check::Verify(Verifier::new(digest, size)?))
    }

    /// A writer for a new blob whose digest the caller measures itself in the same pass
    /// (a layer compressor hashes its output anyway): the writer only counts the bytes,
    /// and [`BlobWriter::commit_measured`] publishes them under the caller's digest when
    /// the algorithm and the size agree. Saves hashing the content a second time.
    ///
    /// The caller vouches for the digest it hands to `commit_measured`. Plain
    /// [`BlobWriter::commit`] reads the temporary file back to hash it.
    pub fn writer_unhashed(&self, algorithm: Algorithm) -> Result<BlobWriter, PutError> {
        self.new_writer(algorithm, Check::Unhashed { algorithm, size: 0 })
    }

    /// Stores the content of `reader`, digested with `algorithm`.
    pub fn put(&self, reader: impl Read, algorithm: Algorithm) -> Result<Measured, PutError> {
        let mut writer = self.writer(algorithm)?;
        writer.copy_from(reader)?;
        writer.commit()
    }

    /// Stores the content of `reader` if it matches `digest` and, when given, `size`;
    /// publishes nothing otherwise ([`PutError::Mismatch`]).
    pub fn put_verified(
        &self,
        reader: impl Read,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Measured, PutError> {
        let mut writer = self.writer_verified(digest, size)?;
        writer.copy_from(reader)?;
        writer.commit()
    }

    /// Stores `bytes`, digested with `algorithm`.
    pub fn put_bytes(&self, bytes: &[u8], algorithm: Algorithm) -> Result<Measured, PutError> {
        self.put(bytes, algorithm)
    }

    /// Opens a blob for a verified read (L5): reading to the end checks that the content
    /// hashes to `digest`. `Ok(None)` when the blob is absent.
    pub fn open(&self, digest: &Digest) -> Result<Option<VerifyingReader<File>>, OpenError> {
        self.open_inner(digest, None)
    }

    /// Like [`open`](BlobStore::open), and also checks the size: the file's size is compared
    /// before anything is read (DG3, D8).
    pub fn open_sized(
        &self,
        digest: &Digest,
        size: u64,
    ) -> Result<Option<VerifyingReader<File>>, OpenError> {
        self.open_inner(digest, Some(size))
    }

    /// Reads a whole blob, verified against `digest` and, when given, `size`; for small
    /// blobs such as manifests and configs. `Ok(None)` when the blob is absent.
    pub fn read_verified(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Option<Vec<u8>>, ReadError> {
        let Some(mut reader) = self.open_inner(digest, size)? else {
            return Ok(None);
        };
        let capacity = size.unwrap_or(0).min(16 * 1024 * 1024);
        let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        if let Err(e) = reader.read_to_end(&mut bytes) {
            return Err(match VerifyError::from_io(&e) {
                Some(v) => ReadError::Mismatch(v.clone()),
                None => ReadError::Io {
                    path: self.blob_path(digest),
                    source: e,
                },
            });
        }
        Ok(Some(bytes))
    }

    /// Reads a blob through to its end without keeping it, checking that it hashes to
    /// `digest` (L5) and, when given, has `size`. Returns the verified digest and size, or
    /// `Ok(None)` when the blob is absent; for checking large blobs such as layers.
    pub fn verify(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Option<Measured>, ReadError> {
        let Some(mut reader) = self.open_inner(digest, size)? else {
            return Ok(None);
        };
        match reader.verify_to_end() {
            Ok(measured) => Ok(Some(measured)),
            Err(e) => Err(match VerifyError::from_io(&e) {
                Some(v) => ReadError::Mismatch(v.clone()),
                None => ReadError::Io {
                    path: self.blob_path(digest),
                    source: e,
                },
            }),
        }
    }

    fn open_inner(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Option<VerifyingReader<File>>, OpenError> {
        algorithm_of(digest)?;
        let path = self.blob_path(digest);
        let io_error = |source| OpenError::Io {
            digest: digest.clone(),
            path: path.clone(),
            source,
        };
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(OpenError::NotAFile {
                    digest: digest.clone(),
                    path,
                });
            }
            Err(e) => return Err(io_error(e)),
        };
        let metadata = file.metadata().map_err(io_error)?;
        if !metadata.is_file() {
            return Err(OpenError::NotAFile {
                digest: digest.clone(),
                path,
            });
        }
        if let Some(expected) = size
            && metadata.len() != expected
        {
            return Err(OpenError::SizeMismatch {
                digest: digest.clone(),
                path,
                expected,
                actual: metadata.len(),
            });
        }
        Ok(Some(VerifyingReader::with_optional_size(
            file, digest, size,
        )?))
    }

    /// The size of a blob, or `None` when it is absent. Does not verify the content.
    pub fn stat(&self, digest: &Digest) -> Result<Option<u64>, StatError> {
        let path = self.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Err(StatError::NotAFile {
                digest: digest.clone(),
                path,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StatError::Io {
                digest: digest.clone(),
                path,
                source,
            }),
        }
    }

    /// Removes a blob. Idempotent: returns whether a blob was there.
    pub fn delete(&self, digest: &Digest) -> Result<bool, DeleteError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(DeleteError {
                digest: digest.clone(),
                path,
                source,
            }),
        }
    }

    /// Every blob, and every entry of `blobs/` whose name or type does not fit
    /// `blobs/<alg>/<encoded>` (L6). Temporary files ([`TEMP_PREFIX`]) are skipped. A
    /// missing `blobs/` lists as empty. Does not read the blobs.
    pub fn list(&self) -> Result<Listing, ListError> {
        let blobs_dir = self.blobs_dir();
        let mut listing = Listing::default();
        let Some(entries) = read_dir_sorted(&blobs_dir)? else {
            return Ok(listing);
        };
        for (name, path, file_type) in entries {
            if name.to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX)) {
                continue;
            }
            let invalid = |reason| InvalidEntry {
                path: path.clone(),
                reason,
            };
            let Some(algorithm) = name.to_str() else {
                listing.invalid.push(invalid(InvalidReason::NotUtf8));
                continue;
            };
            if !file_type.is_dir() {
                listing.invalid.push(invalid(InvalidReason::NotADirectory));
                continue;
            }
            if !is_algorithm_name(algorithm) {
                listing.invalid.push(invalid(InvalidReason::BadAlgorithm));
                continue;
            }
            for (name, path, file_type) in read_dir_sorted(&path)?.unwrap_or_default() {
                let invalid = |reason| InvalidEntry {
                    path: path.clone(),
                    reason,
                };
                let Some(encoded) = name.to_str() else {
                    listing.invalid.push(invalid(InvalidReason::NotUtf8));
                    continue;
                };
                if encoded.starts_with(TEMP_PREFIX) {
                    continue;
                }
                match Digest::parse(&format!("{algorithm}:{encoded}")) {
                    Err(e) => listing.invalid.push(invalid(InvalidReason::BadDigest(e))),
                    Ok(_) if !file_type.is_file() => {
                        listing.invalid.push(invalid(InvalidReason::NotAFile));
                    }
                    Ok(d) => listing.blobs.push(d),
                }
            }
        }
        listing.blobs.sort();
        Ok(listing)
    }

    fn new_writer(&self, algorithm: Algorithm, check: Check) -> Result<BlobWriter, PutError> {
        let dir = self.blobs_dir().join(algorithm.name());
        ensure_dir(&dir)?;
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .permissions(Permissions::from_mode(0o644))
            .tempfile_in(&dir)
            .map_err(|source| PutError::Io {
                action: "create a temporary file in",
                path: dir.clone(),
                source,
            })?;
        let (file, temp_path) = temp.into_parts();
        Ok(BlobWriter {
            file: BufWriter::with_capacity(COPY_BUFFER, file),
            temp_path,
            dir,
            check,
            failed: None,
        })
    }
}

/// Why a whole blob could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening failed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The content does not match its digest or size.
    #[error("blob is damaged: {0}")]
    Mismatch(#[source] VerifyError),
    /// Reading failed.
    #[error("cannot read blob {path}")]
    Io {
        /// The blob's path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

#[derive(Debug)]
enum Check {
    Compute(Digester),
    Verify(Verifier),
    /// Counts only: the caller measures the digest ([`BlobStore::writer_unhashed`]).
    Unhashed {
        algorithm: Algorithm,
        size: u64,
    },
}

/// A blob being written into a [`BlobStore`]; nothing is visible in the store until
/// [`commit`](BlobWriter::commit) succeeds. Dropping it without committing removes the
/// temporary file.
#[derive(Debug)]
pub struct BlobWriter {
    file: BufWriter<File>,
    temp_path: tempfile::TempPath,
    /// `blobs/<alg>`.
    dir: PathBuf,
    check: Check,
    /// The first failure: a writer that failed cannot commit.
    failed: Option<FailedKind>,
}

#[derive(Debug, Clone)]
enum FailedKind {
    Mismatch(VerifyError),
    Io,
}

impl BlobWriter {
    /// The temporary file being written.
    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// The number of bytes written so far.
    pub fn size(&self) -> u64 {
        match &self.check {
            Check::Compute(d) => d.size(),
            Check::Verify(v) => v.size(),
            Check::Unhashed { size, .. } => *size,
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<(), PutError> {
        match self.failed.clone() {
            Some(FailedKind::Mismatch(e)) => return Err(PutError::Mismatch(e)),
            Some(FailedKind::Io) => {
                return Err(PutError::Io {
                    action: "write",
                    path: self.temp_path.to_path_buf(),
                    source: io::Error::other("an earlier write to this blob failed"),
                });
            }
            None => {}
        }
        // Size before hashing and before writing (DG3).
        match &mut self.check {
            Check::Compute(d) => d.update(bytes),
            Check::Unhashed { size, .. } => *size += bytes.len() as u64,
            Check::Verify(v) => {
                if let Err(e) = v.update(bytes) {
                    self.failed = Some(FailedKind::Mismatch(e.clone()));
                    return Err(PutError::Mismatch(e));
                }
            }
        }
        self.file.write_all(bytes).map_err(|source| {
            self.failed = Some(FailedKind::Io);
            PutError::Io {
                action: "write",
                path: self.temp_path.to_path_buf(),
                source,
            }
        })
    }

    /// Copies all of `reader` into the blob.
    pub fn copy_from(&mut self, mut reader: impl Read) -> Result<u64, PutError> {
        let mut buf = vec![0; COPY_BUFFER];
        let mut total = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    self.failed = Some(FailedKind::Io);
                    return Err(PutError::Read {
                        path: self.temp_path.to_path_buf(),
                        source,
                    });
                }
            };
            self.feed(&buf[..n])?;
            total += n as u64;
        }
    }

    /// Verifies (when a digest was expected), syncs and publishes the blob atomically,
    /// returning its digest and size. On any failure nothing is published and the temporary
    /// file is removed.
    pub fn commit(self) -> Result<Measured, PutError> {
        self.publish(None)
    }

    /// Like [`commit`](BlobWriter::commit), publishing the blob under `measured`, the digest
    /// and size the caller computed over the very bytes it wrote. A writer from
    /// [`BlobStore::writer_unhashed`] trusts the digest once the algorithm and the size
    /// agree; other writers compare it with their own. On a disagreement nothing is
    /// published ([`PutError::Mismatch`], with the content's actual digest).
    pub fn commit_measured(self, measured: &Measured) -> Result<Measured, PutError> {
        self.publish(Some(measured))
    }

    fn publish(self, claimed: Option<&Measured>) -> Result<Measured, PutError> {
        let BlobWriter {
            file,
            temp_path,
            dir,
            check,
            failed,
        } = self;
        if let Some(FailedKind::Mismatch(e)) = failed {
            return Err(PutError::Mismatch(e));
        }
        let temp = temp_path.to_path_buf();
        let io_error = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| PutError::Io {
                action,
                path,
                source,
            }
        };
        if failed.is_some() {
            return Err(io_error("write", &temp)(io::Error::other(
                "an earlier write to this blob failed",
            )));
        }
        let file = file
            .into_inner()
            .map_err(|e| io_error("write", &temp)(e.into_error()))?;
        let measured = match check {
            Check::Compute(d) => d.finish(),
            Check::Verify(mut v) => v.finish().map_err(PutError::Mismatch)?,
            Check::Unhashed { algorithm, size } => match claimed {
                Some(c) if c.size == size && c.digest.algorithm() == Some(algorithm) => c.clone(),
                // Nothing claimed, or a claim that cannot be right: the content's own
                // digest (the evidence of the mismatch below).
                _ => hash_file(&temp, algorithm)?,
            },
        };
        if let Some(claimed) = claimed
            && *claimed != measured
        {
            return Err(PutError::Mismatch(VerifyError::DigestMismatch {
                expected: claimed.digest.clone(),
                actual: measured,
            }));
        }
        file.sync_data().map_err(io_error("sync", &temp))?;
        drop(file);
        let target = dir.join(measured.digest.encoded());
        temp_path
            .persist(&target)
            .map_err(|e| io_error("rename into place", &target)(e.error))?;
        sync_dir(&dir)?;
        Ok(measured)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.feed(buf) {
            Ok(()) => Ok(buf.len()),
            Err(PutError::Mismatch(e)) => Err(e.into_io()),
            Err(PutError::Io { source, .. }) => Err(source),
            Err(other) => Err(io::Error::other(other)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The digest and size of a file written through a [`BlobWriter`] (already flushed).
fn hash_file(path: &Path, algorithm: Algorithm) -> Result<Measured, PutError> {
    let mut digester = Digester::new(algorithm);
    File::open(path)
        .and_then(|f| {
            io::copy(
                &mut io::BufReader::with_capacity(COPY_BUFFER, f),
                &mut digester,
            )
        })
        .map_err(|source| PutError::Io {
            action: "read back",
            path: path.to_path_buf(),
            source,
        })?;
    Ok(digester.finish())
}

/// Creates `dir` (and its parents) when missing, syncing the parents so the new entries
/// survive a crash.
fn ensure_dir(dir: &Path) -> Result<(), PutError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|source| PutError::Io {
        action: "create directory",
        path: dir.to_path_buf(),
        source,
    })?;
    // blobs/ and the root: the entries just created.
    for parent in dir.ancestors().skip(1).take(2) {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), PutError> {
    let dir_or_dot = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir_or_dot)
        .and_then(|d| d.sync_all())
        .map_err(|source| PutError::Io {
            action: "sync directory",
            path: dir.to_path_buf(),
            source,
        })
}

type Entry = (std::ffi::OsString, PathBuf, fs::FileType);

fn read_dir_sorted(dir: &Path) -> Result<Option<Vec<Entry>>, ListError> {
    let list_error = |source| ListError {
        path: dir.to_path_buf(),
        source,
    };
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(list_error(e)),
    };
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(list_error)?;
        let file_type = entry.file_type().map_err(list_error)?;
        entries.push((entry.file_name(), entry.path(), file_type));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(entries))
}

/// `[a-z0-9]+ ([+._-] [a-z0-9]+)*`: the algorithm part of the digest grammar (DG1).
fn is_algorithm_name(name: &str) -> bool {
    !name.is_empty()
        && name.split(['+', '.', '_', '-']).all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}
