//! The tree walk: one directory listing at a time (sorted by name bytes), entries streamed to
//! the sink as they are met, so memory holds only the listings on the current path and the
//! inodes with several links.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};

use super::sink::Sink;
use super::{CreateOptions, Created, Error, Warning};
use crate::tar::header::Xattrs;
use crate::tar::{Header, HeaderStyle, padding, typeflag};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

pub(crate) fn run(
    old: Option<&Path>,
    new: &Path,
    out: &mut dyn Write,
    options: &CreateOptions,
) -> Result<Created, Error> {
    for root in old.iter().copied().chain(std::iter::once(new)) {
        let meta = fs::metadata(root).map_err(|source| Error::Read {
            path: root.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(Error::NotADirectory {
                path: root.to_path_buf(),
            });
        }
    }
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut sink = Sink::new(out, options.compression, threads)?;
    // Two stages: a thread walks the tree and reads the files into tar chunks; this one
    // digests them, feeds the compressor and writes. Reading overlaps compressing.
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
    let (free_tx, free_rx) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
    let warnings = std::thread::scope(|scope| -> Result<Vec<Warning>, Error> {
        let walker = std::thread::Builder::new()
            .name("layer-walk".to_owned())
            .spawn_scoped(scope, move || -> Result<Vec<Warning>, Error> {
                let mut w = Walker {
                    sink: Chunks {
                        buf: Vec::with_capacity(CHUNK),
                        tx,
                        free: free_rx,
                    },
                    options,
                    links: HashMap::new(),
                    warnings: Vec::new(),
                    pending: Vec::new(),
                    hdr: Vec::with_capacity(4096),
                    buf: vec![0; 256 * 1024],
                };
                match old {
                    None => w.full_dir(new, b"")?,
                    Some(old) => w.diff_dir(old, new, b"")?,
                }
                w.sink.write_all(&[0; 1024]).map_err(Error::Write)?;
                w.sink.send().map_err(Error::Write)?;
                Ok(w.warnings)
            })
            .map_err(Error::Write)?;
        let mut write_error = None;
        let mut written = 0u64;
        while let Ok(mut chunk) = rx.recv() {
            if let Err(e) = sink.write_all(&chunk) {
                write_error = Some(e);
                break;
            }
            written += chunk.len() as u64;
            options.progress.emit(written);
            chunk.clear();
            let _ = free_tx.try_send(chunk);
        }
        // Unblocks the walker if this side stopped early.
        drop(rx);
        let walked = walker
            .join()
            .map_err(|_| Error::Write(io::Error::other("the tree-walking thread panicked")))?;
        match write_error {
            Some(e) => Err(Error::Write(e)),
            None => walked,
        }
    })?;
    let (diff_id, compressed) = sink.finish().map_err(Error::Write)?;
    Ok(Created {
        media_type: options.compression.media_type(),
        digest: compressed.digest,
        size: compressed.size,
        diff_id: diff_id.digest,
        warnings,
    })
}

/// Bytes per chunk handed from the walking thread to the compressing one.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the two.
const IN_FLIGHT: usize = 8;

/// The walking thread's end of the tar stream: fills chunks and sends them on.
struct Chunks {
    buf: Vec<u8>,
    tx: SyncSender<Vec<u8>>,
    free: Receiver<Vec<u8>>,
}

impl Chunks {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .free
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        self.tx.send(full).map_err(|_| {
            io::Error::new(io::ErrorKind::BrokenPipe, "the compressing thread stopped")
        })
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_all(data)?;
        Ok(data.len())
    }

    fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK {
                self.send()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A directory on the current path whose header is written only once something below it is.
struct Pending {
    disk: PathBuf,
    name: Vec<u8>,
    meta: Metadata,
    written: bool,
}

struct Walker<'o> {
    sink: Chunks,
    options: &'o CreateOptions,
    /// (device, inode) of files with several links -> their first path in the layer.
    links: HashMap<(u64, u64), Vec<u8>>,
    warnings: Vec<Warning>,
    pending: Vec<Pending>,
    hdr: Vec<u8>,
    buf: Vec<u8>,
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// The names in `dir`, sorted by bytes.
fn listing(dir: &Path) -> Result<Vec<OsString>, Error> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_err(dir))? {
        names.push(entry.map_err(read_err(dir))?.file_name());
    }
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

fn lstat(path: &Path) -> Result<Metadata, Error> {
    fs::symlink_metadata(path).map_err(read_err(path))
}

/// Extended attributes of `path` (not following symlinks), sorted by name.
fn xattrs(path: &Path) -> Result<Xattrs, Error> {
    let mut out = Vec::new();
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(out),
        Err(e) => return Err(read_err(path)(e)),
    };
    for name in names {
        if let Some(value) = xattr::get(path, &name).map_err(read_err(path))? {
            out.push((name.as_bytes().to_vec(), value));
        }
    }
    out.sort();
    Ok(out)
}

fn join(prefix: &[u8], name: &OsStr) -> Vec<u8> {
    let mut p = Vec::with_capacity(prefix.len() + name.len() + 1);
    p.extend_from_slice(prefix);
    p.extend_from_slice(name.as_bytes());
    p
}

fn is_socket(meta: &Metadata) -> bool {
    meta.file_type().is_socket()
}

impl Walker<'_> {
    fn check_name(&self, dir: &Path, name: &OsStr) -> Result<(), Error> {
        if name.as_bytes().starts_with(WHITEOUT_PREFIX) {
            return Err(Error::WhiteoutName {
                path: dir.join(name),
            });
        }
        Ok(())
    }

    fn clamp(&self, mtime: i64) -> i64 {
        match self.options.source_date_epoch {
            Some(epoch) if mtime > epoch => epoch,
            _ => mtime,
        }
    }

    fn write_header(&mut self, f: &Header<'_>) -> Result<(), Error> {
        self.hdr.clear();
        f.encode(&mut self.hdr);
        self.sink.write_all(&self.hdr).map_err(Error::Write)
    }

    /// Writes the headers of the directories on the current path not written yet.
    fn flush_pending(&mut self) -> Result<(), Error> {
        for i in 0..self.pending.len() {
            if !self.pending[i].written {
                self.pending[i].written = true;
                let disk = self.pending[i].disk.clone();
                let name = self.pending[i].name.clone();
                let meta = self.pending[i].meta.clone();
                self.write_entry(&disk, &name, &meta)?;
            }
        }
        Ok(())
    }

    /// Every entry below `dir`, in order.
    fn full_dir(&mut self, dir: &Path, prefix: &[u8]) -> Result<(), Error> {
        let names = listing(dir)?;
        for name in &names {
            self.check_name(dir, name)?;
        }
        for name in &names {
            let disk = dir.join(name);
            let meta = lstat(&disk)?;
            self.full_entry(&disk, &join(prefix, name), &meta)?;
        }
        Ok(())
    }

    /// One entry and, for a directory, everything below it.
    fn full_entry(&mut self, disk: &Path, name: &[u8], meta: &Metadata) -> Result<(), Error> {
        if is_socket(meta) {
            self.warnings.push(Warning::SocketSkipped {
                path: disk.to_path_buf(),
            });
            return Ok(());
        }
        self.flush_pending()?;
        self.write_entry(disk, name, meta)?;
        if meta.is_dir() {
            let mut prefix = name.to_vec();
            prefix.push(b'/');
            self.full_dir(disk, &prefix)?;
        }
        Ok(())
    }

    /// Writes the header (and content) of one entry, not its children.
    fn write_entry(&mut self, disk: &Path, name: &[u8], meta: &Metadata) -> Result<(), Error> {
        let ft = meta.file_type();
        let xattrs = xattrs(disk)?;
        let mut path = name.to_vec();
        let mut linkname = Vec::new();
        let mut size = 0;
        let (mut devmajor, mut devminor) = (0, 0);
        let typeflag = if ft.is_dir() {
            path.push(b'/');
            typeflag::DIR
        } else if ft.is_symlink() {
            linkname = fs::read_link(disk)
                .map_err(read_err(disk))?
                .into_os_string()
                .into_vec();
            typeflag::SYMLINK
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            match (meta.nlink() > 1).then(|| self.links.get(&key)).flatten() {
                Some(first) => {
                    linkname = first.clone();
                    typeflag::HARDLINK
                }
                None => {
                    if meta.nlink() > 1 {
                        self.links.insert(key, path.clone());
                    }
                    size = meta.size();
                    typeflag::FILE
                }
            }
        } else if ft.is_fifo() {
            typeflag::FIFO
        } else if ft.is_char_device() || ft.is_block_device() {
            let rdev = meta.rdev();
            devmajor = u64::from(libc::major(rdev));
            devminor = u64::from(libc::minor(rdev));
            if ft.is_char_device() {
                typeflag::CHAR
            } else {
                typeflag::BLOCK
            }
        } else {
            // Sockets are filtered by the callers; nothing else exists on Linux.
            self.warnings.push(Warning::SocketSkipped {
                path: disk.to_path_buf(),
            });
            return Ok(());
        };
        let fields = Header {
            style: HeaderStyle::Layer,
            path: &path,
            typeflag,
            mode: meta.mode() & 0o7777,
            uid: u64::from(meta.uid()),
            gid: u64::from(meta.gid()),
            size,
            mtime: self.clamp(meta.mtime()),
            linkname: &linkname,
            devmajor,
            devminor,
            xattrs: &xattrs,
        };
        self.write_header(&fields)?;
        if typeflag == typeflag::FILE {
            self.copy_content(disk, size)?;
        }
        Ok(())
    }

    /// Streams exactly `size` bytes of the file, then the padding.
    fn copy_content(&mut self, disk: &Path, size: u64) -> Result<(), Error> {
        if size == 0 {
            return Ok(());
        }
        let mut file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(disk)
            .map_err(read_err(disk))?;
        let mut left = size;
        while left > 0 {
            let want = left.min(self.buf.len() as u64) as usize;
            let n = match file.read(&mut self.buf[..want]) {
                Ok(0) => {
                    return Err(Error::Changed {
                        path: disk.to_path_buf(),
                        expected: size,
                        actual: size - left,
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(disk)(e)),
            };
            self.sink.write_all(&self.buf[..n]).map_err(Error::Write)?;
            left -= n as u64;
        }
        let pad = padding(size);
        if pad > 0 {
            self.sink
                .write_all(&[0; 512][..pad])
                .map_err(Error::Write)?;
        }
        Ok(())
    }

    fn write_whiteout(&mut self, name: &[u8]) -> Result<(), Error> {
        self.flush_pending()?;
        let f = Header {
            style: HeaderStyle::Layer,
            path: name,
            typeflag: typeflag::FILE,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 0,
            linkname: b"",
            devmajor: 0,
            devminor: 0,
            xattrs: &[],
        };
        self.write_header(&f)
    }

    /// The changes below `new` against `old`, both directories.
    fn diff_dir(&mut self, old: &Path, new: &Path, prefix: &[u8]) -> Result<(), Error> {
        let new_all = listing(new)?;
        for name in &new_all {
            self.check_name(new, name)?;
        }
        // Sockets are never part of a layer: absent from both sides (with a warning for
        // the new tree's).
        let mut new_names = Vec::with_capacity(new_all.len());
        for name in new_all {
            let disk = new.join(&name);
            let meta = lstat(&disk)?;
            if is_socket(&meta) {
                self.warnings.push(Warning::SocketSkipped { path: disk });
            } else {
                new_names.push((name, meta));
            }
        }
        let mut old_names = Vec::new();
        for name in listing(old)? {
            let meta = lstat(&old.join(&name))?;
            if !is_socket(&meta) {
                old_names.push((name, meta));
            }
        }
        let old_index: HashMap<&[u8], &Metadata> =
            old_names.iter().map(|(n, m)| (n.as_bytes(), m)).collect();
        let survivors = new_names
            .iter()
            .filter(|(n, _)| old_index.contains_key(n.as_bytes()))
            .count();

        if self.options.opaque && !old_names.is_empty() && survivors == 0 {
            // Replaced wholesale: the directory, an opaque whiteout, all the new content.
            let mut opq = prefix.to_vec();
            opq.extend_from_slice(OPAQUE);
            self.write_whiteout(&opq)?;
            for (name, meta) in &new_names {
                self.full_entry(&new.join(name), &join(prefix, name), meta)?;
            }
            return Ok(());
        }

        // Whiteouts first: names gone, and directories replaced by something else.
        let new_index: HashMap<&[u8], &Metadata> =
            new_names.iter().map(|(n, m)| (n.as_bytes(), m)).collect();
        for (name, old_meta) in &old_names {
            let gone = match new_index.get(name.as_bytes()) {
                None => true,
                Some(new_meta) => old_meta.is_dir() && !new_meta.is_dir(),
            };
            if gone {
                let mut wh = prefix.to_vec();
                wh.extend_from_slice(WHITEOUT_PREFIX);
                wh.extend_from_slice(name.as_bytes());
                self.write_whiteout(&wh)?;
            }
        }

        for (name, new_meta) in &new_names {
            let new_disk = new.join(name);
            let tar_name = join(prefix, name);
            let Some(old_meta) = old_index.get(name.as_bytes()) else {
                self.full_entry(&new_disk, &tar_name, new_meta)?;
                continue;
            };
            let old_disk = old.join(name);
            if new_meta.file_type() != old_meta.file_type() {
                self.full_entry(&new_disk, &tar_name, new_meta)?;
            } else if new_meta.is_dir() {
                let changed =
                    !same_attrs(old_meta, new_meta) || xattrs(&old_disk)? != xattrs(&new_disk)?;
                self.pending.push(Pending {
                    disk: new_disk.clone(),
                    name: tar_name.clone(),
                    meta: new_meta.clone(),
                    written: false,
                });
                if changed {
                    self.flush_pending()?;
                }
                let mut sub = tar_name;
                sub.push(b'/');
                let result = self.diff_dir(&old_disk, &new_disk, &sub);
                self.pending.pop();
                result?;
            } else if self.differs(&old_disk, old_meta, &new_disk, new_meta)? {
                self.full_entry(&new_disk, &tar_name, new_meta)?;
            }
        }
        Ok(())
    }

    /// Whether a non-directory of the same type in both trees changed.
    fn differs(
        &mut self,
        old_disk: &Path,
        old: &Metadata,
        new_disk: &Path,
        new: &Metadata,
    ) -> Result<bool, Error> {
        if !same_attrs(old, new) || old.nlink() != new.nlink() {
            return Ok(true);
        }
        let ft = new.file_type();
        if ft.is_file() && old.size() != new.size() {
            return Ok(true);
        }
        if (ft.is_char_device() || ft.is_block_device()) && old.rdev() != new.rdev() {
            return Ok(true);
        }
        if ft.is_symlink()
            && fs::read_link(old_disk).map_err(read_err(old_disk))?
                != fs::read_link(new_disk).map_err(read_err(new_disk))?
        {
            return Ok(true);
        }
        if xattrs(old_disk)? != xattrs(new_disk)? {
            return Ok(true);
        }
        if ft.is_file() && old.mtime_nsec() == 0 && new.mtime_nsec() == 0 {
            return Ok(!same_content(old_disk, new_disk, new.size())?);
        }
        Ok(false)
    }
}

/// Permission bits, owner, group and mtime (to the nanosecond).
fn same_attrs(a: &Metadata, b: &Metadata) -> bool {
    a.mode() & 0o7777 == b.mode() & 0o7777
        && a.uid() == b.uid()
        && a.gid() == b.gid()
        && a.mtime() == b.mtime()
        && a.mtime_nsec() == b.mtime_nsec()
}

fn same_content(a: &Path, b: &Path, size: u64) -> Result<bool, Error> {
    let mut fa = File::open(a).map_err(read_err(a))?;
    let mut fb = File::open(b).map_err(read_err(b))?;
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let n = left.min(ba.len() as u64) as usize;
        fa.read_exact(&mut ba[..n]).map_err(read_err(a))?;
        fb.read_exact(&mut bb[..n]).map_err(read_err(b))?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
        left -= n as u64;
    }
    Ok(true)
}
