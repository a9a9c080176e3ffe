//! Files written whole or not at all.

use std::fs::{File, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The buffer between writes and the file.
const BUFFER: usize = 256 * 1024;

/// Why an [`AtomicFile`] could not be created or committed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct AtomicError {
    /// What was being done (`create a temporary file in`, `write`, `sync`, `rename into
    /// place`, `sync directory`).
    pub action: &'static str,
    /// The file or directory it was done to.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

/// A file that appears at its target whole or not at all: bytes go to a temporary file in
/// the target's directory (so that the rename never crosses a filesystem);
/// [`commit`](AtomicFile::commit) flushes and syncs it, renames it over the target and
/// syncs the directory, so that after a crash the target is the old file or the new one,
/// never a part. Dropped without a commit, or after a failed one, the temporary file is
/// removed and the target is untouched.
///
/// New files get mode `0666` less the umask, like any file a program creates.
///
/// # Example
///
/// ```
/// use std::io::Write as _;
/// # let dir = tempfile::tempdir().unwrap();
/// let target = dir.path().join("layer.tar");
/// let mut out = oci_digest::AtomicFile::create(&target).unwrap();
/// out.write_all(b"whole").unwrap();
/// assert!(!target.exists());
/// out.commit().unwrap();
/// assert_eq!(std::fs::read(&target).unwrap(), b"whole");
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    file: BufWriter<File>,
    temp: tempfile::TempPath,
    target: PathBuf,
    dir: PathBuf,
}

impl AtomicFile {
    /// A temporary file next to `target` (hidden: `.NAME.` followed by random letters).
    pub fn create(target: impl AsRef<Path>) -> Result<AtomicFile, AtomicError> {
        let target = target.as_ref().to_path_buf();
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut prefix = std::ffi::OsString::from(".");
        if let Some(name) = target.file_name() {
            prefix.push(name);
        }
        prefix.push(".");
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .permissions(Permissions::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(|source| AtomicError {
                action: "create a temporary file in",
                path: dir.clone(),
                source,
            })?;
        let (file, temp) = temp.into_parts();
        Ok(AtomicFile {
            file: BufWriter::with_capacity(BUFFER, file),
            temp,
            target,
            dir,
        })
    }

    /// Where the file will be.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Where the bytes are until the commit.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Flushes and syncs the temporary file, renames it over the target and syncs the
    /// directory.
    pub fn commit(self) -> Result<(), AtomicError> {
        let AtomicFile {
            file,
            temp,
            target,
            dir,
        } = self;
        let error = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| AtomicError {
                action,
                path,
                source,
            }
        };
        let file = file
            .into_inner()
            .map_err(|e| error("write", &temp)(e.into_error()))?;
        file.sync_all().map_err(error("sync", &temp))?;
        drop(file);
        temp.persist(&target)
            .map_err(|e| error("rename into place", &target)(e.error))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(error("sync directory", &dir))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
