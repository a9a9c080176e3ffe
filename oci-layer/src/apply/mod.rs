//! Applying layers onto a root directory, as layer.md says, on untrusted input.
//!
//! [`apply_layer`] reads one layer (gzip, zstd or plain tar, detected from the bytes),
//! decompressing on a second thread, and applies its entries in tar order:
//!
//! - an entry replaces what is at its path (removed, recursively for a directory, then
//!   created anew) unless both are directories, in which case only the attributes change;
//! - whiteouts and opaque whiteouts remove content of lower layers only, never entries
//!   of the same layer, whatever their order in the tar (see `whiteout.rs`);
//! - hard links are made to a target resolved inside the root, never following a final
//!   symbolic link;
//! - ownership is set before the mode (so setuid and setgid bits survive), extended
//!   attributes after the ownership (which clears `security.capability`), times last;
//!   directory modes and times once the whole layer is written, deepest first.
//!
//! # Security
//!
//! Every path is cleaned lexically (`..` stops at the root, a leading `/` is dropped) and
//! resolved through open directory handles, following symbolic links only inside the root
//! (`openat2(RESOLVE_IN_ROOT)`, or a component walk where the kernel lacks it). The last
//! component is acted on with `*at` calls relative to its parent's handle, never followed:
//! files are created with `O_CREAT | O_EXCL | O_NOFOLLOW` and changed through their own
//! handle, other entries with `AT_SYMLINK_NOFOLLOW` calls. So nothing outside the root is
//! created, changed or removed, even while another process swaps directories under the
//! root for symbolic links. An entry that would make the root a non-directory, and a
//! whiteout of nothing, `.` or `..`, are refused. [`Limits`] bound record sizes, the
//! uncompressed size, the compression ratio, the number of entries and path depth.
//!
//! Not defended: a process that moves a directory from inside the root to outside it while
//! the layer is applied (that needs write access outside the root already); resource use
//! within the limits (a layer may legitimately fill the disk). On error the root is left
//! partly applied: apply onto a scratch directory and discard it on failure.

mod confine;
mod error;
mod fsops;
mod options;
mod whiteout;

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid, XattrFlags};
use rustix::io::Errno;

pub use crate::tar::{LimitKind, Limits, Malformed};
pub use error::{Error, Refusal};
pub use options::{Applied, ApplyOptions, Expected, IdMap, IdRange, Resolver};

use crate::tar::{self, Entry, Kind};
use confine::{ResolveError, Root, clean, dir_flags, join};
use tar::{Hashes, Message, Source};

/// The reader over the decompressing thread's chunks.
type Archive = tar::Archive<Source>;
use fsops::{chmod_nofollow, kind_at, remove_all, timestamps};
use whiteout::{Mark, Marks};

/// Applies the layers in order onto `root` (which must exist), adding up what each did.
pub fn apply_layers<R: Read + Send>(
    root: &Path,
    layers: impl IntoIterator<Item = (R, Expected)>,
    options: &ApplyOptions,
) -> Result<Applied, Error> {
    let mut total = Applied::default();
    for (reader, expected) in layers {
        total.add(apply_layer(root, reader, &expected, options)?);
    }
    Ok(total)
}

/// Applies one layer onto the existing directory `root`. The input is read to its end;
/// each digest in `expected` is checked there.
pub fn apply_layer<R: Read + Send>(
    root: &Path,
    layer: R,
    expected: &Expected,
    options: &ApplyOptions,
) -> Result<Applied, Error> {
    let hashes = Hashes {
        digest: algorithm(expected.digest.as_ref())?,
        diff_id: algorithm(expected.diff_id.as_ref())?,
    };
    let root = Root::open(root, options.resolver).map_err(|e| Error::io("open", b"", e))?;
    let limits = options.limits;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Message>(tar::IN_FLIGHT);
    let (recycle_tx, recycle_rx) = std::sync::mpsc::sync_channel(tar::IN_FLIGHT + 1);
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("layer-decompress".to_owned())
            .spawn_scoped(scope, move || {
                tar::pump(layer, hashes, limits, tx, recycle_rx)
            })
            .map_err(|source| Error::Tar(tar::Error::Read { source }))?;
        let archive = Archive::new(Source::new(rx, recycle_tx), limits);
        let mut layer = Layer::new(&root, options);
        let result = layer.run(archive, expected);
        // Dropping the receiver (inside `archive`) stops the thread on error.
        result
    })
}

fn algorithm(
    d: Option<&oci_spec_types::digest::Digest>,
) -> Result<Option<oci_spec_types::digest::Algorithm>, Error> {
    match d {
        None => Ok(None),
        Some(d) => d
            .algorithm()
            .map(Some)
            .ok_or_else(|| Error::UnverifiableDigest { digest: d.clone() }),
    }
}

/// Directory metadata applied after the layer's entries.
struct Deferred {
    path: Vec<u8>,
    depth: usize,
    mode: u32,
    mtime: Option<tar::Mtime>,
}

/// The state of one layer being applied.
struct Layer<'a> {
    root: &'a Root,
    options: &'a ApplyOptions,
    marks: Marks,
    deferred: Vec<Deferred>,
    /// Rootless: directories made writable, with their original mode.
    restore: Vec<Deferred>,
    /// The last parent directory resolved, by path.
    cache: Option<(Vec<u8>, Rc<OwnedFd>)>,
    applied: Applied,
    euid: u32,
}

/// Resolution errors turned into apply errors for `entry`.
fn resolve_error(entry: &[u8], path: &[u8], e: ResolveError) -> Error {
    match e {
        ResolveError::NotFound => Error::io("resolve", path, Errno::NOENT),
        ResolveError::NotDir => Error::refused(entry, Refusal::ParentNotDirectory),
        ResolveError::Loop => Error::refused(entry, Refusal::SymlinkLoop),
        ResolveError::Io(e) => Error::io("resolve", path, e),
    }
}

impl<'a> Layer<'a> {
    fn new(root: &'a Root, options: &'a ApplyOptions) -> Layer<'a> {
        Layer {
            root,
            options,
            marks: Marks::default(),
            deferred: Vec::new(),
            restore: Vec::new(),
            cache: None,
            applied: Applied::default(),
            // SAFETY: geteuid has no preconditions and cannot fail.
            euid: unsafe { libc::geteuid() },
        }
    }

    fn run(&mut self, mut archive: Archive, expected: &Expected) -> Result<Applied, Error> {
        while let Some(entry) = archive.next()? {
            self.entry(&entry, &mut archive)?;
            self.applied.entries += 1;
        }
        self.finish_dirs()?;
        let (digest, diff_id) = archive.src.finish()?;
        if let (Some(want), Some(got)) = (&expected.digest, digest) {
            if *want != got.digest {
                return Err(Error::DigestMismatch {
                    expected: want.clone(),
                    actual: got.digest,
                });
            }
            self.applied.digest = Some(got.digest);
        }
        if let (Some(want), Some(got)) = (&expected.diff_id, diff_id) {
            if *want != got.digest {
                return Err(Error::DiffIdMismatch {
                    expected: want.clone(),
                    actual: got.digest,
                });
            }
            self.applied.diff_id = Some(got.digest);
        }
        Ok(std::mem::take(&mut self.applied))
    }

    fn warn(&mut self, entry: &Entry, what: &str) {
        self.applied.warnings.push(format!(
            "entry {:?}: {what}",
            String::from_utf8_lossy(&entry.name)
        ));
    }

    /// Opens the parent directory `comps`, from the cache when it was the last one.
    fn parent(
        &mut self,
        entry: &[u8],
        comps: &[&[u8]],
        create: bool,
    ) -> Result<Option<Rc<OwnedFd>>, Error> {
        let path = join(comps);
        let hit = matches!(&self.cache, Some((p, _)) if *p == path);
        if !hit {
            let mut made: Vec<Vec<u8>> = Vec::new();
            let r = self
                .root
                .dir(comps, create, &mut |p: &[u8]| made.push(p.to_vec()));
            for p in made {
                self.marks.set(&p, Mark::Implicit);
            }
            let fd = match r {
                Ok(fd) => fd,
                Err(ResolveError::NotFound) if !create => return Ok(None),
                Err(ResolveError::NotDir) if !create => return Ok(None),
                Err(e) => return Err(resolve_error(entry, &path, e)),
            };
            if self.options.rootless {
                self.make_writable(&fd, &path)?;
            }
            self.cache = Some((path, Rc::new(fd)));
        }
        Ok(self.cache.as_ref().map(|(_, fd)| Rc::clone(fd)))
    }

    /// Rootless: gives the owner write and search permission on a directory whose
    /// children are about to change, remembering the mode to restore.
    fn make_writable(&mut self, fd: &OwnedFd, path: &[u8]) -> Result<(), Error> {
        let st = rustix::fs::fstat(fd).map_err(|e| Error::io("stat", path, e))?;
        let mode = st.st_mode & 0o7777;
        if st.st_uid == self.euid && mode & 0o700 != 0o700 {
            rustix::fs::fchmod(fd, Mode::from_raw_mode(mode | 0o700))
                .map_err(|e| Error::io("chmod", path, e))?;
            self.restore.push(Deferred {
                path: path.to_vec(),
                depth: clean(path).len(),
                mode,
                mtime: None,
            });
        }
        Ok(())
    }

    fn forget_cache(&mut self) {
        self.cache = None;
    }

    fn entry(&mut self, entry: &Entry, archive: &mut Archive) -> Result<(), Error> {
        let name = entry.name.as_slice();
        let comps = clean(name);
        // The reader has checked the depth against the limits.
        if entry.sparse {
            return Err(Error::refused(name, Refusal::Sparse));
        }
        let Some((base, parent)) = comps.split_last() else {
            // The root itself: only a directory may stand there.
            if entry.kind != Kind::Dir {
                return Err(Error::refused(
                    name,
                    Refusal::RootTypeChange {
                        kind: entry.kind.name(),
                    },
                ));
            }
            return self.root_dir(entry);
        };
        if let Some(hidden) = base.strip_prefix(b".wh.") {
            return self.whiteout(entry, parent, hidden);
        }
        if let Kind::Other(flag) = entry.kind {
            return Err(Error::refused(name, Refusal::UnsupportedType { flag }));
        }
        let path = join(&comps);
        if self.options.strict && self.marks.get(&path) == Some(Mark::Entry) {
            return Err(Error::refused(name, Refusal::Duplicate));
        }
        let owner = self.owner(entry)?;
        match entry.kind {
            Kind::Dir => self.dir(entry, parent, base, &path, owner)?,
            Kind::File => self.file(entry, parent, base, &path, owner, archive)?,
            Kind::Symlink => self.symlink(entry, parent, base, &path, owner)?,
            Kind::Hardlink => self.hardlink(entry, parent, base, &path)?,
            Kind::Char | Kind::Block | Kind::Fifo => {
                self.special(entry, parent, base, &path, owner, archive)?
            }
            Kind::Other(_) => unreachable!("refused above"),
        }
        self.marks.set(&path, Mark::Entry);
        Ok(())
    }

    /// The owner to set, `None` when ownership is not changed.
    fn owner(&self, entry: &Entry) -> Result<Option<(Uid, Gid)>, Error> {
        let name = entry.name.as_slice();
        let (uid, gid) = match &self.options.id_map {
            Some(map) => (map.uid(entry.uid), map.gid(entry.gid)),
            None if self.options.rootless => return Ok(None),
            None => (u32::try_from(entry.uid).ok(), u32::try_from(entry.gid).ok()),
        };
        let unmapped = |kind, id| Error::refused(name, Refusal::Unmapped { kind, id });
        let uid = uid.ok_or_else(|| unmapped("uid", entry.uid))?;
        let gid = gid.ok_or_else(|| unmapped("gid", entry.gid))?;
        Ok(Some((Uid::from_raw(uid), Gid::from_raw(gid))))
    }

    /// A failed ownership change: an error, or a warning in rootless mode.
    fn chown_failed(&mut self, entry: &Entry, path: &[u8], e: Errno) -> Result<(), Error> {
        if self.options.rootless && (e == Errno::PERM || e == Errno::INVAL) {
            self.warn(entry, &format!("ownership not changed: {e}"));
            Ok(())
        } else {
            Err(Error::io("chown", path, e))
        }
    }

    fn set_xattrs(&mut self, entry: &Entry, fd: BorrowedFd<'_>, path: &[u8]) -> Result<(), Error> {
        for (key, value) in &entry.xattrs {
            match rustix::fs::fsetxattr(fd, key.as_slice(), value, XattrFlags::empty()) {
                Ok(()) => {}
                Err(e @ (Errno::OPNOTSUPP | Errno::PERM | Errno::ACCESS))
                    if e == Errno::OPNOTSUPP || self.options.rootless =>
                {
                    let key = String::from_utf8_lossy(key).into_owned();
                    self.warn(entry, &format!("extended attribute {key:?} not set: {e}"));
                }
                Err(e) => return Err(Error::io("setxattr", path, e)),
            }
        }
        Ok(())
    }

    /// Removes the extended attributes of an existing directory that `entry` does not
    /// carry, except the SELinux label, which belongs to the host (as umoci does).
    fn clear_xattrs(
        &mut self,
        entry: &Entry,
        fd: BorrowedFd<'_>,
        path: &[u8],
    ) -> Result<(), Error> {
        let mut names = vec![0u8; 64 * 1024];
        let n = match rustix::fs::flistxattr(fd, &mut names) {
            Ok(n) => n,
            Err(Errno::OPNOTSUPP) => return Ok(()),
            Err(e) => return Err(Error::io("listxattr", path, e)),
        };
        for key in names[..n].split(|b| *b == 0).filter(|k| !k.is_empty()) {
            if key == b"security.selinux" || entry.xattrs.iter().any(|(k, _)| k == key) {
                continue;
            }
            match rustix::fs::fremovexattr(fd, key) {
                Ok(()) | Err(Errno::NODATA) => {}
                Err(e @ (Errno::PERM | Errno::ACCESS | Errno::OPNOTSUPP)) => {
                    let key = String::from_utf8_lossy(key).into_owned();
                    self.warn(
                        entry,
                        &format!("extended attribute {key:?} not removed: {e}"),
                    );
                }
                Err(e) => return Err(Error::io("removexattr", path, e)),
            }
        }
        Ok(())
    }

    fn root_dir(&mut self, entry: &Entry) -> Result<(), Error> {
        let owner = self.owner(entry)?;
        let fd = self.root.fd();
        if let Some((uid, gid)) = owner
            && let Err(e) = rustix::fs::fchown(fd, Some(uid), Some(gid))
        {
            self.chown_failed(entry, b"", e)?;
        }
        self.set_xattrs(entry, fd, b"")?;
        self.deferred.push(Deferred {
            path: Vec::new(),
            depth: 0,
            mode: entry.mode,
            mtime: Some(entry.mtime),
        });
        Ok(())
    }

    fn whiteout(&mut self, entry: &Entry, parent: &[&[u8]], hidden: &[u8]) -> Result<(), Error> {
        let name = entry.name.as_slice();
        let parent_path = join(parent);
        if hidden == b".wh..opq" {
            let Some(dir) = self.parent(name, parent, false)? else {
                return Ok(());
            };
            let mut path = parent_path.clone();
            self.marks
                .clear_lower(dir.as_fd(), &mut path)
                .map_err(|e| Error::io("remove", &parent_path, e))?;
            self.forget_cache();
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(Error::refused(name, Refusal::BadWhiteout));
        }
        if hidden.starts_with(b".wh.") {
            self.warn(entry, "other aufs metadata ignored");
            return Ok(());
        }
        let Some(dir) = self.parent(name, parent, false)? else {
            return Ok(());
        };
        let dir = rustix::io::fcntl_dupfd_cloexec(dir, 0)
            .map_err(|e| Error::io("dup", &parent_path, e))?;
        let mut path = parent_path.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(hidden);
        let shown = path.clone();
        self.marks
            .remove_lower(dir.as_fd(), hidden, &mut path)
            .map_err(|e| Error::io("remove", &shown, e))?;
        self.forget_cache();
        Ok(())
    }

    /// Removes whatever is at `base` in `dir` before creating an entry there.
    fn clear(&mut self, dir: BorrowedFd<'_>, base: &[u8], path: &[u8]) -> Result<(), Error> {
        remove_all(dir, base).map_err(|e| Error::io("remove", path, e))?;
        Ok(())
    }

    fn dir(
        &mut self,
        entry: &Entry,
        parent: &[&[u8]],
        base: &[u8],
        path: &[u8],
        owner: Option<(Uid, Gid)>,
    ) -> Result<(), Error> {
        let name = entry.name.as_slice();
        let dir = self.parent_owned(name, parent)?;
        let mut replaced = false;
        let mut existed = false;
        loop {
            match rustix::fs::mkdirat(&dir, base, Mode::from_raw_mode(0o700)) {
                Ok(()) => break,
                Err(Errno::EXIST) => match kind_at(dir.as_fd(), base) {
                    Ok(Some(FileType::Directory)) => {
                        existed = true;
                        break;
                    }
                    Ok(_) if !replaced => {
                        self.clear(dir.as_fd(), base, path)?;
                        replaced = true;
                        self.forget_cache();
                    }
                    Ok(_) => return Err(Error::io("mkdir", path, Errno::EXIST)),
                    Err(e) => return Err(Error::io("stat", path, e)),
                },
                Err(e) => return Err(Error::io("mkdir", path, e)),
            }
        }
        let fd = rustix::fs::openat(&dir, base, dir_flags() | OFlags::NOFOLLOW, Mode::empty())
            .map_err(|e| Error::io("open", path, e))?;
        if let Some((uid, gid)) = owner
            && let Err(e) = rustix::fs::fchown(&fd, Some(uid), Some(gid))
        {
            self.chown_failed(entry, path, e)?;
        }
        if self.options.rootless {
            // Writable while the layer fills it; the entry's mode comes at the end.
            let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("stat", path, e))?;
            if st.st_mode & 0o700 != 0o700 {
                rustix::fs::fchmod(&fd, Mode::from_raw_mode((st.st_mode & 0o7777) | 0o700))
                    .map_err(|e| Error::io("chmod", path, e))?;
            }
        }
        if existed {
            // The entry's attributes replace the existing directory's (layer.md), extended
            // attributes included.
            self.clear_xattrs(entry, fd.as_fd(), path)?;
        }
        self.set_xattrs(entry, fd.as_fd(), path)?;
        self.deferred.push(Deferred {
            path: path.to_vec(),
            depth: parent.len() + 1,
            mode: entry.mode,
            mtime: Some(entry.mtime),
        });
        Ok(())
    }

    /// The parent handle, missing directories made.
    fn parent_owned(&mut self, entry: &[u8], parent: &[&[u8]]) -> Result<Rc<OwnedFd>, Error> {
        self.parent(entry, parent, true)?
            .ok_or_else(|| Error::io("resolve", &join(parent), Errno::NOENT))
    }

    /// Creates `base` in `dir` with `create`, removing what is there first if needed.
    fn create_at<T>(
        &mut self,
        dir: BorrowedFd<'_>,
        base: &[u8],
        path: &[u8],
        op: &'static str,
        mut create: impl FnMut() -> Result<T, Errno>,
    ) -> Result<T, Error> {
        match create() {
            Ok(t) => Ok(t),
            Err(Errno::EXIST) => {
                self.clear(dir, base, path)?;
                self.forget_cache();
                create().map_err(|e| Error::io(op, path, e))
            }
            Err(e) => Err(Error::io(op, path, e)),
        }
    }

    fn file(
        &mut self,
        entry: &Entry,
        parent: &[&[u8]],
        base: &[u8],
        path: &[u8],
        owner: Option<(Uid, Gid)>,
        archive: &mut Archive,
    ) -> Result<(), Error> {
        let dir = self.parent_owned(&entry.name, parent)?;
        let fd = self.create_at(dir.as_fd(), base, path, "create", || {
            rustix::fs::openat(
                &dir,
                base,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        })?;
        let mut file = std::fs::File::from(fd);
        archive.copy_data(|bytes| {
            file.write_all(bytes)
                .map_err(|e| Error::io("write", path, e))
        })?;
        self.applied.bytes += entry.size;
        self.file_meta(entry, file.as_fd(), path, owner)
    }

    /// Ownership, mode, extended attributes and times of a file through its handle.
    fn file_meta(
        &mut self,
        entry: &Entry,
        fd: BorrowedFd<'_>,
        path: &[u8],
        owner: Option<(Uid, Gid)>,
    ) -> Result<(), Error> {
        if let Some((uid, gid)) = owner
            && let Err(e) = rustix::fs::fchown(fd, Some(uid), Some(gid))
        {
            self.chown_failed(entry, path, e)?;
        }
        rustix::fs::fchmod(fd, Mode::from_raw_mode(entry.mode))
            .map_err(|e| Error::io("chmod", path, e))?;
        self.set_xattrs(entry, fd, path)?;
        rustix::fs::futimens(fd, &timestamps(entry.mtime))
            .map_err(|e| Error::io("utimens", path, e))
    }

    fn symlink(
        &mut self,
        entry: &Entry,
        parent: &[&[u8]],
        base: &[u8],
        path: &[u8],
        owner: Option<(Uid, Gid)>,
    ) -> Result<(), Error> {
        let dir = self.parent_owned(&entry.name, parent)?;
        let target = entry.link.as_slice();
        self.create_at(dir.as_fd(), base, path, "symlink", || {
            rustix::fs::symlinkat(target, &dir, base)
        })?;
        self.meta_at(entry, dir.as_fd(), base, path, owner, false)
    }

    /// Ownership, mode (unless a symbolic link) and times of `base` in `dir`, never
    /// following it.
    fn meta_at(
        &mut self,
        entry: &Entry,
        dir: BorrowedFd<'_>,
        base: &[u8],
        path: &[u8],
        owner: Option<(Uid, Gid)>,
        chmod: bool,
    ) -> Result<(), Error> {
        if let Some((uid, gid)) = owner
            && let Err(e) =
                rustix::fs::chownat(dir, base, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
        {
            self.chown_failed(entry, path, e)?;
        }
        if chmod {
            chmod_nofollow(dir, base, entry.mode).map_err(|e| Error::io("chmod", path, e))?;
        }
        if !entry.xattrs.is_empty() {
            self.warn(entry, "extended attributes not set on this entry type");
        }
        rustix::fs::utimensat(
            dir,
            base,
            &timestamps(entry.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| Error::io("utimens", path, e))
    }

    fn hardlink(
        &mut self,
        entry: &Entry,
        parent: &[&[u8]],
        base: &[u8],
        path: &[u8],
    ) -> Result<(), Error> {
        let name = entry.name.as_slice();
        let tcomps = clean(&entry.link);
        let target = join(&tcomps);
        let shown = String::from_utf8_lossy(&target).into_owned();
        let invalid = || {
            Error::refused(
                name,
                Refusal::LinkTargetInvalid {
                    target: shown.clone(),
                },
            )
        };
        let missing = || {
            Error::refused(
                name,
                Refusal::LinkTargetMissing {
                    target: shown.clone(),
                },
            )
        };
        let Some((tbase, tparent)) = tcomps.split_last() else {
            return Err(invalid());
        };
        if target == path {
            return Err(invalid());
        }
        if tcomps.len() > self.options.limits.max_depth {
            return Err(missing());
        }
        let Some(tdir) = self.parent(name, tparent, false)? else {
            return Err(missing());
        };
        match kind_at(tdir.as_fd(), tbase) {
            Ok(None) => return Err(missing()),
            Ok(Some(FileType::Directory)) => return Err(invalid()),
            Ok(Some(_)) => {}
            Err(e) => return Err(Error::io("stat", &target, e)),
        }
        let dir = self.parent_owned(name, parent)?;
        let r = self.create_at(dir.as_fd(), base, path, "link", || {
            rustix::fs::linkat(&tdir, *tbase, &dir, base, AtFlags::empty())
        });
        match r {
            // The target went away with what stood at the link's path (a link into a
            // directory it replaces).
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(missing())
            }
            r => r,
        }
    }

    fn special(
        &mut self,
        entry: &Entry,
        parent: &[&[u8]],
        base: &[u8],
        path: &[u8],
        owner: Option<(Uid, Gid)>,
        archive: &mut Archive,
    ) -> Result<(), Error> {
        let device = matches!(entry.kind, Kind::Char | Kind::Block);
        if device && self.options.rootless {
            self.warn(
                entry,
                &format!("{} replaced by an empty file (rootless)", entry.kind.name()),
            );
            return self.file(entry, parent, base, path, owner, archive);
        }
        let dir = self.parent_owned(&entry.name, parent)?;
        let (file_type, dev) = match entry.kind {
            Kind::Char => (
                FileType::CharacterDevice,
                rustix::fs::makedev(entry.dev_major, entry.dev_minor),
            ),
            Kind::Block => (
                FileType::BlockDevice,
                rustix::fs::makedev(entry.dev_major, entry.dev_minor),
            ),
            _ => (FileType::Fifo, 0),
        };
        self.create_at(dir.as_fd(), base, path, "mknod", || {
            rustix::fs::mknodat(&dir, base, file_type, Mode::from_raw_mode(0o600), dev)
        })?;
        self.meta_at(entry, dir.as_fd(), base, path, owner, true)
    }

    /// Directory modes and times (and, rootless, the modes made writable), deepest
    /// first, once every entry of the layer is written.
    fn finish_dirs(&mut self) -> Result<(), Error> {
        self.forget_cache();
        let mut todo = std::mem::take(&mut self.deferred);
        let restore = std::mem::take(&mut self.restore);
        for r in restore {
            if !todo.iter().any(|d| d.path == r.path) {
                todo.push(r);
            }
        }
        todo.sort_by_key(|d| std::cmp::Reverse(d.depth));
        for d in &todo {
            let comps = clean(&d.path);
            let fd = match comps.split_last() {
                None => rustix::io::fcntl_dupfd_cloexec(self.root.fd(), 0)
                    .map_err(|e| Error::io("dup", b"", e))?,
                Some((base, parent)) => {
                    let Ok(dir) = self.root.dir(parent, false, &mut |_| {}) else {
                        continue;
                    };
                    match rustix::fs::openat(
                        &dir,
                        *base,
                        dir_flags() | OFlags::NOFOLLOW,
                        Mode::empty(),
                    ) {
                        Ok(fd) => fd,
                        // Replaced by something else later in the layer.
                        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                        Err(e) => return Err(Error::io("open", &d.path, e)),
                    }
                }
            };
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(d.mode))
                .map_err(|e| Error::io("chmod", &d.path, e))?;
            if let Some(m) = d.mtime {
                rustix::fs::futimens(&fd, &timestamps(m))
                    .map_err(|e| Error::io("utimens", &d.path, e))?;
            }
        }
        Ok(())
    }
}
