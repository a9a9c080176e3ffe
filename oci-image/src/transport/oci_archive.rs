//! `oci-archive:` destinations: an existing archive is unpacked into a temp layout (its
//! blobs verified), and the layout is written back as a deterministic tar.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use oci_spec_types::layout::{BLOBS_DIR, INDEX_FILE, OCI_LAYOUT_FILE};

use super::engine::CopyError;
use super::sources::OciArchiveSource;
use crate::layout::Layout;

/// Carries the blobs and `index.json` of the archive `file` (when it exists and is not
/// empty) into `layout`.
pub(crate) fn import(file: &Path, layout: &Layout, scratch: &Path) -> Result<(), CopyError> {
    match fs::metadata(file) {
        Ok(m) if m.len() > 0 => {}
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CopyError::Io {
                action: "read",
                path: file.to_path_buf(),
                source,
            });
        }
    }
    let existing =
        OciArchiveSource::open_whole(file, scratch).map_err(CopyError::ExistingArchive)?;
    use crate::transport::Source as _;
    for (digest, size) in existing.blobs() {
        let descriptor = oci_spec_types::Descriptor::new("application/octet-stream", digest, size);
        let reader = existing.open(&descriptor)?;
        layout
            .blobs()
            .put_verified(reader, &descriptor.digest, Some(size))
            .map_err(|source| CopyError::ExistingBlob {
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
pub(crate) fn write(layout: &Layout, file: &Path) -> Result<(), CopyError> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io_error = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| CopyError::Io {
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
