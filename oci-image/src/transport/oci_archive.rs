//! The `oci-archive:FILE[:REF]` transport: an OCI layout stored as a tar (plain, gzip or
//! zstd). Read in place through an index of its entries; written by building a layout in a
//! temp directory beside the archive (the images already in the archive carried over),
//! then a deterministic tar renamed over it, under a lock on the archive.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use oci_digest::VerifyingReader;
use oci_spec_types::document::{AnyManifest, probe};
use oci_spec_types::layout::{BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE};
use oci_spec_types::{Descriptor, Digest, Document, ImageIndex, OciLayout, Platform};

use super::layout::{referrers_among, set_entry};
use super::{
    BlobOpenError, BlobReader, Capabilities, Damage, Destination, DestinationError, LayoutProblem,
    Location, ReferrersError, Source, SourceError, Transport, describe_destination, scratch_beside,
};
use crate::layout::{Layout, MAX_INDEX_SIZE};
use crate::name::Reference;
use crate::resolve::{MAX_DOCUMENT_SIZE, ResolveError, select_entry};
use crate::tar_index::TarIndex;

/// `oci-archive:FILE[:REF]`: an image of an OCI layout stored as a tar (plain, gzip or
/// zstd), read in place through an index of its entries.
pub struct OciArchiveSource {
    archive: TarIndex,
    file: PathBuf,
    name: String,
    root: Descriptor,
    candidates: Vec<Descriptor>,
    index: ImageIndex,
}

impl std::fmt::Debug for OciArchiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciArchiveSource")
            .field("name", &self.name)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// The name of a blob inside a layout or its archive.
pub(crate) fn blob_name(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm_name(), digest.encoded())
}

impl OciArchiveSource {
    /// Indexes the archive `file` (a compressed one is first decompressed into a temp file
    /// in `scratch`), checks its `oci-layout` and finds the entry of its `index.json` that
    /// `reference` names (for `platform` where several share it; a digest may also name
    /// any manifest or index blob of the archive).
    pub fn open(
        file: &Path,
        reference: Option<&Reference>,
        platform: Option<&Platform>,
        scratch: &Path,
    ) -> Result<OciArchiveSource, SourceError> {
        Self::open_with(file, reference, platform, scratch, false)
    }

    /// As [`open`](Self::open) without a platform, keeping every entry `reference` names
    /// as a candidate ([`Source::candidates`]); the root is the entry for this machine's
    /// platform, else the first.
    pub fn open_all(
        file: &Path,
        reference: Option<&Reference>,
        scratch: &Path,
    ) -> Result<OciArchiveSource, SourceError> {
        Self::open_with(file, reference, None, scratch, true)
    }

    fn open_with(
        file: &Path,
        reference: Option<&Reference>,
        platform: Option<&Platform>,
        scratch: &Path,
        all: bool,
    ) -> Result<OciArchiveSource, SourceError> {
        let (archive, index) = open_archive(file, scratch)?;
        let named: Vec<Descriptor> = index
            .manifests
            .iter()
            .filter(|d| match reference {
                Some(Reference::Tag(tag)) => d.ref_name() == Some(tag.as_str()),
                Some(Reference::Digest(digest)) => d.digest == *digest,
                None => true,
            })
            .cloned()
            .collect();
        let found = match select_entry(&index, reference, platform, file) {
            Ok(found) => found.cloned(),
            Err(ResolveError::NoPlatform { .. }) if all && !named.is_empty() => {
                Some(named[0].clone())
            }
            Err(e) => return Err(e.into()),
        };
        let root = match (found, reference) {
            (Some(root), _) => root,
            (None, Some(Reference::Digest(digest))) => {
                describe_blob(&archive, digest).ok_or_else(|| ResolveError::NotFound {
                    reference: digest.to_string(),
                    layout: file.to_path_buf(),
                })?
            }
            (None, _) => {
                return Err(ResolveError::NotFound {
                    reference: reference.map(Reference::to_string).unwrap_or_default(),
                    layout: file.to_path_buf(),
                }
                .into());
            }
        };
        let mut name = format!("oci-archive:{}", file.display());
        if let Some(reference) = reference {
            name.push(':');
            name.push_str(&reference.to_string());
        }
        let candidates = if all && named.contains(&root) {
            named
        } else {
            vec![root.clone()]
        };
        Ok(OciArchiveSource {
            archive,
            file: file.to_path_buf(),
            name,
            root,
            candidates,
            index,
        })
    }

    /// The whole archive, to carry its blobs and index over (the root is the empty
    /// descriptor).
    pub(crate) fn open_whole(file: &Path, scratch: &Path) -> Result<OciArchiveSource, SourceError> {
        let (archive, index) = open_archive(file, scratch)?;
        Ok(OciArchiveSource {
            archive,
            file: file.to_path_buf(),
            name: format!("oci-archive:{}", file.display()),
            root: Descriptor::empty(),
            candidates: Vec::new(),
            index,
        })
    }

    /// The archive's `index.json`.
    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// The names of the blobs the archive holds (`blobs/ALG/ENCODED`), as digests.
    pub(crate) fn blobs(&self) -> Vec<(Digest, u64)> {
        self.archive
            .names()
            .filter_map(|name| {
                let rest = name.strip_prefix("blobs/")?;
                let (algorithm, encoded) = rest.split_once('/')?;
                let digest = Digest::parse(&format!("{algorithm}:{encoded}")).ok()?;
                let size = self.archive.size(name)?;
                Some((digest, size))
            })
            .collect()
    }
}

/// Indexes the archive, checks its `oci-layout` and reads its `index.json`.
fn open_archive(file: &Path, scratch: &Path) -> Result<(TarIndex, ImageIndex), SourceError> {
    let archive = TarIndex::open(file, scratch)?;
    let not_a_layout = |problem: LayoutProblem| SourceError::NotALayout {
        file: file.to_path_buf(),
        problem,
    };
    let layout_file = archive
        .read_entry("oci-layout", 1 << 20)?
        .ok_or_else(|| not_a_layout(LayoutProblem::NoOciLayout))?;
    if let Err(e) = oci_spec_types::document::from_slice::<OciLayout>(&layout_file) {
        return Err(not_a_layout(LayoutProblem::OciLayout(e)));
    }
    let index = archive
        .read_entry("index.json", MAX_INDEX_SIZE)?
        .ok_or_else(|| not_a_layout(LayoutProblem::NoIndex))?;
    let index = Document::<ImageIndex>::parse(index)
        .map_err(|e| not_a_layout(LayoutProblem::Index(e)))?
        .into_value();
    Ok((archive, index))
}

/// A descriptor of a manifest or index blob of the archive, from its own media type.
fn describe_blob(archive: &TarIndex, digest: &Digest) -> Option<Descriptor> {
    let name = blob_name(digest);
    let bytes = archive.read_entry(&name, MAX_DOCUMENT_SIZE).ok()??;
    let kind = probe(&bytes).ok()?.kind()?;
    AnyManifest::parse(&bytes, Some(kind.media_type())).ok()?;
    Some(Descriptor::new(
        kind.media_type(),
        digest.clone(),
        bytes.len() as u64,
    ))
}

impl Source for OciArchiveSource {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn transport(&self) -> Transport {
        Transport::OciArchive
    }

    fn location(&self) -> Location {
        Location::Path(self.file.clone())
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn candidates(&self) -> &[Descriptor] {
        &self.candidates
    }

    /// The manifests of the archive's `index.json` whose `subject` is `subject`.
    fn referrers(&self, subject: &Digest) -> Result<Option<Vec<Descriptor>>, ReferrersError> {
        Ok(Some(referrers_among(self, &self.index.manifests, subject)?))
    }

    /// The entry of the archive's `index.json` with that ref name.
    fn tagged(&self, tag: &str) -> Result<Option<Descriptor>, ReferrersError> {
        Ok(super::layout::tagged_among(&self.index.manifests, tag))
    }

    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError> {
        let digest = &descriptor.digest;
        let name = blob_name(digest);
        let missing = || BlobOpenError::missing(self, digest);
        let size = self.archive.size(&name).ok_or_else(missing)?;
        if size != descriptor.size {
            return Err(BlobOpenError::damaged(
                self,
                digest,
                Damage::Size {
                    expected: descriptor.size,
                    actual: size,
                },
            ));
        }
        let reader = self.archive.open_entry(&name).ok_or_else(missing)?;
        let reader = VerifyingReader::new(reader, digest, descriptor.size)
            .map_err(|e| BlobOpenError::damaged(self, digest, e))?;
        Ok(Box::new(reader))
    }
}

/// Carries the blobs and `index.json` of the archive `file` (when it exists and is not
/// empty) into `layout`.
fn import(file: &Path, layout: &Layout, scratch: &Path) -> Result<(), DestinationError> {
    match fs::metadata(file) {
        Ok(m) if m.len() > 0 => {}
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(DestinationError::Io {
                action: "read",
                path: file.to_path_buf(),
                source,
            });
        }
    }
    let existing = OciArchiveSource::open_whole(file, scratch).map_err(|source| {
        DestinationError::ExistingArchive {
            file: file.to_path_buf(),
            source: Box::new(source),
        }
    })?;
    for (digest, size) in existing.blobs() {
        let descriptor = oci_spec_types::Descriptor::new("application/octet-stream", digest, size);
        let reader = existing
            .open(&descriptor)
            .map_err(|e| DestinationError::ExistingArchive {
                file: file.to_path_buf(),
                source: Box::new(SourceError::Blob(e)),
            })?;
        layout
            .blobs()
            .put_verified(reader, &descriptor.digest, Some(size))
            .map_err(|source| DestinationError::ExistingBlob {
                file: file.to_path_buf(),
                digest: descriptor.digest.clone(),
                source: Box::new(source),
            })?;
    }
    let lock = layout.lock()?;
    lock.write_index(existing.index().clone())?;
    Ok(())
}

/// Writes `layout` as a tar at `file`: a temp file beside it, renamed over it. Entries in
/// byte order of their names (directories `blobs/` and `blobs/ALG/` included), mode 0644
/// for files and 0755 for directories, mtime 0, uid and gid 0, no user or group names.
fn write(layout: &Layout, file: &Path) -> Result<(), DestinationError> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| DestinationError::Io {
            action,
            path,
            source,
        }
    };
    let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
    let mut dirs: Vec<String> = vec![format!("{BLOBS_DIR}/")];
    let blobs = layout.root().join(BLOBS_DIR);
    let mut algorithms: Vec<_> = fs::read_dir(&blobs)
        .map_err(io_error("read", &blobs))?
        .collect::<Result<_, _>>()
        .map_err(io_error("read", &blobs))?;
    algorithms.sort_by_key(|e| e.file_name());
    for algorithm in algorithms {
        let Some(alg) = algorithm.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !algorithm.path().is_dir() {
            continue;
        }
        dirs.push(format!("{BLOBS_DIR}/{alg}/"));
        let dir = algorithm.path();
        for blob in fs::read_dir(&dir).map_err(io_error("read", &dir))? {
            let blob = blob.map_err(io_error("read", &dir))?;
            let Some(name) = blob.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.starts_with(oci_digest::TEMP_PREFIX) || !blob.path().is_file() {
                continue;
            }
            files.push((format!("{BLOBS_DIR}/{alg}/{name}"), blob.path()));
        }
    }
    files.push((INDEX_FILE.to_owned(), layout.index_path()));
    files.push((OCI_LAYOUT_FILE.to_owned(), layout.oci_layout_path()));
    let mut entries: Vec<(String, Option<std::path::PathBuf>)> = dirs
        .into_iter()
        .map(|d| (d, None))
        .chain(files.into_iter().map(|(n, p)| (n, Some(p))))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let temp = tempfile::Builder::new()
        .prefix(".ocimg-archive-")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(parent)
        .map_err(io_error("create a temp file in", parent))?;
    let mut builder = tar::Builder::new(BufWriter::with_capacity(256 << 10, temp.as_file()));
    for (name, path) in &entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match path {
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, name, io::empty())
                    .map_err(io_error("write", temp.path()))?;
            }
            Some(path) => {
                let source = File::open(path).map_err(io_error("read", path))?;
                let size = source.metadata().map_err(io_error("read", path))?.len();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(size);
                builder
                    .append_data(&mut header, name, io::Read::take(source, size))
                    .map_err(io_error("write", temp.path()))?;
            }
        }
    }
    let mut out = builder
        .into_inner()
        .map_err(io_error("write", temp.path()))?;
    out.flush().map_err(io_error("write", temp.path()))?;
    drop(out);
    temp.as_file()
        .sync_all()
        .map_err(io_error("sync", temp.path()))?;
    temp.persist(file)
        .map_err(|e| io_error("rename into place", file)(e.error))?;
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// `oci-archive:FILE[:TAG]` as a destination. Opening takes an exclusive lock on the
/// archive (an advisory `flock` on the hidden sibling file `.FILE.lock`, removed and
/// released when the destination is dropped), then carries the images of the existing archive into a
/// temp layout beside it; [`commit`](Destination::commit) writes the entry, then the
/// layout as a deterministic tar (sorted names, mtime 0, uid and gid 0) to a temp file
/// renamed over FILE. Two writers of one archive therefore run one after the other and
/// lose no image.
#[derive(Debug)]
pub struct OciArchiveDestination {
    file: PathBuf,
    tag: Option<String>,
    /// Referrers copied with the image, listed (untagged) after the root at commit.
    referrers: std::sync::Mutex<Vec<Descriptor>>,
    layout: Layout,
    _scratch: tempfile::TempDir,
    _lock: ArchiveLock,
}

impl OciArchiveDestination {
    /// Locks the archive `file` and carries its images (when it exists and is not empty)
    /// into a temp layout beside it; `tag` is what [`commit`](Destination::commit) names.
    pub fn open(
        file: &Path,
        tag: Option<String>,
    ) -> Result<OciArchiveDestination, DestinationError> {
        let lock = lock_archive(file)?;
        let scratch = scratch_beside(file)?;
        let layout = Layout::init(scratch.path().join("layout"))?;
        import(file, &layout, scratch.path())?;
        Ok(OciArchiveDestination {
            file: file.to_path_buf(),
            tag,
            referrers: std::sync::Mutex::default(),
            layout,
            _scratch: scratch,
            _lock: lock,
        })
    }
}

/// The path of the lock file of the archive `file`: `.NAME.lock` beside it.
pub fn archive_lock_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lock = format!(".{name}.lock");
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(lock),
        _ => PathBuf::from(lock),
    }
}

/// The exclusive lock of an archive: an advisory `flock` on its lock file, which is
/// removed (while still locked) when the lock is dropped, so that nothing is left beside
/// the archive.
#[derive(Debug)]
struct ArchiveLock {
    path: PathBuf,
    file: File,
}

impl Drop for ArchiveLock {
    fn drop(&mut self) {
        // Removed while locked: a waiter holding the old file sees it is gone and retries.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Takes the exclusive lock of the archive `file`, waiting for other holders.
fn lock_archive(file: &Path) -> Result<ArchiveLock, DestinationError> {
    use std::os::unix::fs::MetadataExt as _;
    let path = archive_lock_path(file);
    let error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| DestinationError::Io {
            action,
            path,
            source,
        }
    };
    loop {
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(error("create the lock file", &path))?;
        match lock.lock() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(error("lock", &path)(e)),
        }
        // The holder before us may have removed the file: then ours is stale, retry.
        let held = lock.metadata().map_err(error("lock", &path))?;
        match fs::metadata(&path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                return Ok(ArchiveLock { path, file: lock });
            }
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(error("lock", &path)(e)),
        }
    }
}

impl Destination for OciArchiveDestination {
    fn describe(&self) -> String {
        describe_destination(Transport::OciArchive, &self.file, self.tag.as_deref())
    }

    fn transport(&self) -> Transport {
        Transport::OciArchive
    }

    fn location(&self) -> Location {
        Location::Path(self.file.clone())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::OCI_LAYOUT
    }

    fn staging(&self) -> Option<&Layout> {
        Some(&self.layout)
    }

    fn add_referrer(&self, referrer: &Descriptor) {
        self.referrers.lock().expect("lock").push(referrer.clone());
    }

    fn commit(self: Box<Self>, root: &Descriptor) -> Result<Descriptor, DestinationError> {
        set_entry(&self.layout, root, self.tag.as_deref())?;
        for referrer in self.referrers.lock().expect("lock").iter() {
            set_entry(&self.layout, referrer, None)?;
        }
        write(&self.layout, &self.file)?;
        Ok(root.clone())
    }

    fn can_put_manifests(&self) -> bool {
        true
    }

    /// Adds the manifest to the temp layout; the archive is written at `commit` or
    /// `finish`.
    fn put_manifest(
        &self,
        descriptor: &Descriptor,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<(), DestinationError> {
        super::layout::put_manifest(&self.layout, &self.describe(), descriptor, bytes, tag)
    }

    /// Writes the archive out (the images it had, and what was put).
    fn finish(self: Box<Self>) -> Result<(), DestinationError> {
        write(&self.layout, &self.file)
    }
}
