//! Random access into a tar archive (`oci-archive:`, `docker-archive:`) after one pass
//! over its headers.
//!
//! # Security
//!
//! Archives come from outside and are treated as hostile:
//! - names are normalized (`./a//b` -> `a/b`, a leading `/` dropped); a name whose `..`
//!   leaves the archive root makes the whole archive refused;
//! - symbolic and hard links are resolved inside the archive only, with a bound on the
//!   number of links followed; a link whose target leaves the archive, is absolute, loops
//!   or dangles is never readable (and [`TarIndex::lookup`] says why);
//! - the headers are read by `oci_layer`'s one tar reader ([`oci_layer::tar::Reader`]),
//!   with the limits layers have (record size, total bytes, compression ratio, entry
//!   count, depth) and the same framing as `layer apply` and `layer ls`;
//! - the number of entries and the length of names are bounded further, so memory stays
//!   small whatever the archive says;
//! - an archive that ends inside an entry or before its end marker is refused, naming
//!   the file;
//! - a compressed archive is decompressed into an unnamed temp file in the scratch
//!   directory as its headers are read, each chunk only once the size and ratio limits
//!   passed: a compression bomb is refused before it fills that disk.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};

use oci_layer::tar::{Kind, Reader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The most entries (of any kind) an archive may hold.
pub(crate) const MAX_ENTRIES: usize = 100_000;
/// The longest name or link target accepted, in bytes (Linux's `PATH_MAX`).
pub(crate) const MAX_NAME: usize = 4096;
/// The most bytes of entry names in all.
const MAX_NAME_BYTES: usize = 16 * 1024 * 1024;
/// The most links followed to resolve one name (Linux's limit on symlink hops).
const MAX_LINK_HOPS: u32 = 40;
/// The most path components walked to resolve one name.
const MAX_RESOLVE_STEPS: u32 = 1024;

/// The most bytes of path looked up while resolving all the links of an archive when it
/// is opened (a bound on the work a hostile archive can ask for).
const MAX_RESOLVE_WORK: u64 = 256 * 1024 * 1024;

/// Why an archive could not be indexed or an entry read.
#[derive(Debug, thiserror::Error)]
pub enum TarIndexError {
    /// Reading the archive (or writing its decompressed copy) failed.
    #[error("cannot read archive {}", file.display())]
    Io {
        /// The archive.
        file: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The decompressed copy could not be created in the scratch directory.
    #[error("cannot create a temp file in {}", dir.display())]
    Scratch {
        /// The scratch directory.
        dir: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The tar reader refused the archive (framing, a limit, the decompression), or
    /// reading it failed.
    #[error("archive {}: {error}", file.display())]
    Tar {
        /// The archive.
        file: PathBuf,
        /// What the reader found.
        error: oci_layer::tar::Error,
    },
    /// An entry the index cannot serve.
    #[error("archive {} has an unsupported entry {name:?}: {message}", file.display())]
    Unsupported {
        /// The archive.
        file: PathBuf,
        /// The entry.
        name: String,
        /// What is not supported.
        message: &'static str,
    },
    /// An entry name that leaves the archive root, or is too long.
    #[error("archive {} has an invalid entry name {name:?}: {message}", file.display())]
    Name {
        /// The archive.
        file: PathBuf,
        /// The name as stored (lossily decoded).
        name: String,
        /// What is wrong.
        message: String,
    },
    /// More than 100 000 entries, or 16 MiB of names.
    #[error("archive {} has more than {MAX_ENTRIES} entries or 16 MiB of names", file.display())]
    TooManyEntries {
        /// The archive.
        file: PathBuf,
    },
    /// Resolving all the links of the archive would take too much work.
    #[error("archive {} has too many links to resolve", file.display())]
    TooManyLinks {
        /// The archive.
        file: PathBuf,
    },
    /// A link that cannot be followed inside the archive.
    #[error("archive {}: entry {name}: {problem}", file.display())]
    Link {
        /// The archive.
        file: PathBuf,
        /// The name looked up.
        name: String,
        /// Why it cannot be followed.
        problem: LinkProblem,
    },
    /// An entry larger than the caller accepts.
    #[error("archive {}: entry {name} is {size} bytes, over the limit of {limit}", file.display())]
    TooLarge {
        /// The archive.
        file: PathBuf,
        /// The entry.
        name: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

impl TarIndexError {
    /// Whether the archive itself is at fault (exit 1) rather than the I/O (exit 2).
    pub(crate) fn is_check_failure(&self) -> bool {
        match self {
            TarIndexError::Io { .. } | TarIndexError::Scratch { .. } => false,
            TarIndexError::Tar { error, .. } => !error.is_io(),
            _ => true,
        }
    }
}

/// Why a link inside an archive cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkProblem {
    /// The link (or a link it leads to) points outside the archive.
    Escapes {
        /// The link at fault.
        link: String,
        /// Its target.
        target: String,
    },
    /// Too many links on the way (a loop, say).
    TooManyLinks,
    /// The path is too long or too deep to resolve.
    TooDeep,
    /// The work allowed for resolving links is spent.
    OutOfWork,
}

impl fmt::Display for LinkProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkProblem::Escapes { link, target } => {
                write!(f, "link {link} -> {target} points outside the archive")
            }
            LinkProblem::TooManyLinks => write!(
                f,
                "more than {MAX_LINK_HOPS} links to follow (a link loop?)"
            ),
            LinkProblem::TooDeep => write!(f, "path too deep to resolve"),
            LinkProblem::OutOfWork => write!(f, "too much work to resolve"),
        }
    }
}

/// Where a readable entry's data lies in the (decompressed) archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntrySpan {
    offset: u64,
    size: u64,
}

#[derive(Debug, Clone)]
enum Node {
    File(EntrySpan),
    Dir,
    /// A symbolic link: target relative to the link's directory.
    Symlink(String),
    /// A hard link: target relative to the archive root.
    Hardlink(String),
}

/// An archive indexed for random access (`oci-archive:`, `docker-archive:`): an uncompressed
/// tar file read in place, or a compressed one decompressed into a
/// temp file first).
pub struct TarIndex {
    /// The archive as named by the caller (for messages).
    path: PathBuf,
    /// The uncompressed tar: the archive itself or an unnamed temp file.
    file: File,
    /// Every entry by normalized name (the last one wins, as when extracting).
    nodes: BTreeMap<String, Node>,
    /// Readable names: regular files, and links that resolve to one.
    readable: BTreeMap<String, EntrySpan>,
    /// Whether the archive was compressed.
    compression: Option<&'static str>,
}

impl fmt::Debug for TarIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TarIndex")
            .field("path", &self.path)
            .field("entries", &self.nodes.len())
            .field("readable", &self.readable.len())
            .field("compression", &self.compression)
            .finish()
    }
}

/// A reader over one entry's data, by positioned reads on the shared file.
#[derive(Debug)]
pub(crate) struct TarEntryReader<'a> {
    index: &'a TarIndex,
    pos: u64,
    end: u64,
}

impl Read for TarEntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = self.index.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "archive {} ends at offset {} inside an entry",
                    self.index.path.display(),
                    self.pos
                ),
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl TarIndex {
    /// Indexes FILE: one pass over the headers. A gzip or zstd compressed archive is
    /// decompressed as it is read, within the limits of layers, into an unnamed temp file
    /// inside `scratch` (gone on drop).
    pub fn open(file: &Path, scratch: &Path) -> Result<TarIndex, TarIndexError> {
        let io_err = |source| TarIndexError::Io {
            file: file.to_path_buf(),
            source,
        };
        let raw = File::open(file).map_err(io_err)?;
        let mut magic = [0u8; 4];
        let n = read_full_at(&raw, &mut magic, 0).map_err(io_err)?;
        let compression = match oci_layer::detect_compression(&magic[..n]) {
            oci_spec_types::media_type::Compression::Gzip => Some("gzip"),
            oci_spec_types::media_type::Compression::Zstd => Some("zstd"),
            oci_spec_types::media_type::Compression::None => None,
        };
        let tar_err = |error| TarIndexError::Tar {
            file: file.to_path_buf(),
            error,
        };
        let limits = oci_layer::Limits::default();
        let mut index = TarIndex {
            path: file.to_path_buf(),
            file: raw,
            nodes: BTreeMap::new(),
            readable: BTreeMap::new(),
            compression,
        };
        match compression {
            None => {
                let mut reader = Reader::seekable(&index.file, limits).map_err(tar_err)?;
                let nodes = scan(file, &mut reader)?;
                reader.finish().map_err(tar_err)?;
                index.nodes = nodes;
            }
            Some(_) => {
                let temp =
                    tempfile::tempfile_in(scratch).map_err(|source| TarIndexError::Scratch {
                        dir: scratch.to_path_buf(),
                        source,
                    })?;
                let mut copy = io::BufWriter::with_capacity(256 << 10, &temp);
                let mut reader =
                    Reader::decompressing_into(&index.file, limits, &mut copy).map_err(tar_err)?;
                let nodes = scan(file, &mut reader)?;
                reader.finish().map_err(tar_err)?;
                io::Write::flush(&mut copy).map_err(|source| TarIndexError::Scratch {
                    dir: scratch.to_path_buf(),
                    source,
                })?;
                drop(copy);
                index.nodes = nodes;
                index.file = temp;
            }
        }
        index.resolve_all()?;
        Ok(index)
    }

    /// The archive as the caller named it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The compression of the archive (`gzip`, `zstd`), if any.
    pub fn compression(&self) -> Option<&'static str> {
        self.compression
    }

    /// Normalized names ("./a//b" -> "a/b") of the readable entries, sorted: regular files
    /// and links resolving (inside the archive) to one.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.readable.keys().map(String::as_str)
    }

    /// The size of an entry's data.
    pub fn size(&self, name: &str) -> Option<u64> {
        self.lookup(name).ok().flatten().map(|s| s.size)
    }

    /// A reader over one entry's data (positioned reads, so several can be open at once).
    pub(crate) fn open_entry(&self, name: &str) -> Option<TarEntryReader<'_>> {
        let span = self.lookup(name).ok().flatten()?;
        Some(self.reader(span))
    }

    /// Reads a whole entry of at most `limit` bytes.
    pub fn read_entry(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, TarIndexError> {
        let Some(span) = self.lookup(name)? else {
            return Ok(None);
        };
        if span.size > limit {
            return Err(TarIndexError::TooLarge {
                file: self.path.clone(),
                name: name.to_owned(),
                size: span.size,
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(span.size).unwrap_or(0));
        self.reader(span)
            .read_to_end(&mut bytes)
            .map_err(|source| TarIndexError::Io {
                file: self.path.clone(),
                source,
            })?;
        Ok(Some(bytes))
    }

    /// Finds an entry's data: `Ok(None)` when there is no such regular file, an error
    /// when the name leads through a link that cannot be followed.
    pub(crate) fn lookup(&self, name: &str) -> Result<Option<EntrySpan>, TarIndexError> {
        if let Some(span) = self.readable.get(name) {
            return Ok(Some(*span));
        }
        let mut work = u64::from(MAX_RESOLVE_STEPS) * MAX_NAME as u64;
        self.resolve(name, &mut work)
            .map_err(|problem| TarIndexError::Link {
                file: self.path.clone(),
                name: name.to_owned(),
                problem,
            })
    }

    /// A reader over the data of an entry found by [`TarIndex::lookup`].
    pub(crate) fn open_span(&self, span: EntrySpan) -> TarEntryReader<'_> {
        self.reader(span)
    }

    fn reader(&self, span: EntrySpan) -> TarEntryReader<'_> {
        TarEntryReader {
            index: self,
            pos: span.offset,
            end: span.offset + span.size,
        }
    }

    /// Fills `readable` from `nodes`.
    fn resolve_all(&mut self) -> Result<(), TarIndexError> {
        let mut readable = BTreeMap::new();
        let mut budget = MAX_RESOLVE_WORK;
        for (name, node) in &self.nodes {
            let span = match node {
                Node::File(span) => Some(*span),
                Node::Symlink(_) | Node::Hardlink(_) => match self.resolve(name, &mut budget) {
                    Ok(span) => span,
                    Err(LinkProblem::OutOfWork) => {
                        return Err(TarIndexError::TooManyLinks {
                            file: self.path.clone(),
                        });
                    }
                    Err(_) => None,
                },
                Node::Dir => None,
            };
            if let Some(span) = span {
                readable.insert(name.clone(), span);
            }
        }
        self.readable = readable;
        Ok(())
    }

    /// Resolves a name through the links of the archive, as a filesystem would, never
    /// leaving the archive root.
    ///
    /// `work` bounds the bytes of path looked up along the way, over all calls sharing it.
    fn resolve(&self, name: &str, work: &mut u64) -> Result<Option<EntrySpan>, LinkProblem> {
        let mut queue: VecDeque<String> = name.split('/').map(str::to_owned).collect();
        // The resolved path so far, and where each of its components starts.
        let mut current = String::new();
        let mut starts: Vec<usize> = Vec::new();
        let mut hops = 0u32;
        let mut steps = 0u32;
        while let Some(component) = queue.pop_front() {
            steps += 1;
            if steps > MAX_RESOLVE_STEPS {
                return Err(LinkProblem::TooDeep);
            }
            match component.as_str() {
                "" | "." => continue,
                ".." => {
                    let Some(start) = starts.pop() else {
                        return Err(LinkProblem::Escapes {
                            link: name.to_owned(),
                            target: name.to_owned(),
                        });
                    };
                    current.truncate(start.saturating_sub(1));
                    continue;
                }
                _ => {}
            }
            let start = if current.is_empty() {
                0
            } else {
                current.push('/');
                current.len()
            };
            current.push_str(&component);
            starts.push(start);
            if current.len() > MAX_NAME {
                return Err(LinkProblem::TooDeep);
            }
            *work = work
                .checked_sub(current.len() as u64)
                .ok_or(LinkProblem::OutOfWork)?;
            match self.nodes.get(&current) {
                Some(Node::Symlink(target)) => {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(LinkProblem::TooManyLinks);
                    }
                    if target.starts_with('/') {
                        return Err(LinkProblem::Escapes {
                            link: current.clone(),
                            target: target.clone(),
                        });
                    }
                    let link = current.clone();
                    starts.pop();
                    current.truncate(start.saturating_sub(1));
                    if escapes(&current, target) {
                        return Err(LinkProblem::Escapes {
                            link,
                            target: target.clone(),
                        });
                    }
                    for part in target.split('/').rev() {
                        queue.push_front(part.to_owned());
                    }
                }
                Some(Node::Hardlink(target)) => {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(LinkProblem::TooManyLinks);
                    }
                    if escapes("", target.trim_start_matches('/')) {
                        return Err(LinkProblem::Escapes {
                            link: current.clone(),
                            target: target.clone(),
                        });
                    }
                    current.clear();
                    starts.clear();
                    for part in target.split('/').rev() {
                        queue.push_front(part.to_owned());
                    }
                }
                Some(Node::File(span)) => {
                    return Ok(if queue.iter().all(|c| c.is_empty() || c == ".") {
                        Some(*span)
                    } else {
                        None
                    });
                }
                Some(Node::Dir) | None => {}
            }
        }
        Ok(None)
    }
}

impl EntrySpan {
    /// Where the entry's data starts in the (decompressed) archive: two names with the
    /// same span are the same data (links).
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The size of the entry's data.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

/// Whether `target`, taken relative to the directory `dir` (a normalized path), leaves
/// the root by its `..` components alone.
fn escapes(dir: &str, target: &str) -> bool {
    let mut depth = if dir.is_empty() {
        0i64
    } else {
        dir.split('/').count() as i64
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// Normalizes an entry name: `./a//b/` -> `a/b`, a leading `/` dropped; `..` that would
/// leave the root is refused.
pub(crate) fn normalize(name: &str) -> Result<String, &'static str> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("it leaves the archive root");
                }
            }
            _ => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// One pass over the headers: every entry by normalized name (the last one wins).
fn scan(file: &Path, reader: &mut Reader<'_>) -> Result<BTreeMap<String, Node>, TarIndexError> {
    let bad_name = |name: &str, message: String| TarIndexError::Name {
        file: file.to_path_buf(),
        name: name.to_owned(),
        message,
    };
    let mut nodes = BTreeMap::new();
    let mut name_bytes_total = 0usize;
    while let Some(entry) = reader.next().map_err(|error| TarIndexError::Tar {
        file: file.to_path_buf(),
        error,
    })? {
        let shown = String::from_utf8_lossy(&entry.name).into_owned();
        if entry.sparse {
            return Err(TarIndexError::Unsupported {
                file: file.to_path_buf(),
                name: shown,
                message: "a GNU sparse file",
            });
        }
        if entry.name.len() > MAX_NAME {
            return Err(bad_name(&shown, format!("longer than {MAX_NAME} bytes")));
        }
        // A name that is not UTF-8 cannot be asked for: skip it.
        let Ok(name) = std::str::from_utf8(&entry.name) else {
            continue;
        };
        let is_dir_name = name.ends_with('/');
        let name = normalize(name).map_err(|m| bad_name(name, m.to_owned()))?;
        if entry.link.len() > MAX_NAME {
            return Err(bad_name(
                &shown,
                format!("link target longer than {MAX_NAME} bytes"),
            ));
        }
        let link = (!entry.link.is_empty())
            .then(|| String::from_utf8(entry.link).ok())
            .flatten();
        let node = match entry.kind {
            Kind::File if is_dir_name => Node::Dir,
            Kind::File => Node::File(EntrySpan {
                offset: entry.data_offset,
                size: entry.size,
            }),
            Kind::Dir => Node::Dir,
            Kind::Symlink => match link {
                Some(l) => Node::Symlink(l),
                None => continue,
            },
            Kind::Hardlink => match link {
                Some(l) => Node::Hardlink(l),
                None => continue,
            },
            // Devices, FIFOs and the like: nothing to read.
            _ => continue,
        };
        if name.is_empty() {
            // The root directory ("./").
            continue;
        }
        name_bytes_total += name.len();
        nodes.insert(name, node);
        if nodes.len() > MAX_ENTRIES || name_bytes_total > MAX_NAME_BYTES {
            return Err(TarIndexError::TooManyEntries {
                file: file.to_path_buf(),
            });
        }
    }
    Ok(nodes)
}

/// Reads as many bytes as are there, up to `buf.len()`, at `offset`.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/unit-tar-index")
            .join(name);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    enum E<'a> {
        F(&'a str, &'a [u8]),
        Sym(&'a str, &'a str),
        Hard(&'a str, &'a str),
        Dir(&'a str),
        /// A name written raw into the header, bypassing the builder's checks.
        Raw(&'a str, &'a [u8]),
    }

    fn build(entries: &[E<'_>]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_mtime(0);
            match e {
                E::F(name, data) => {
                    h.set_size(data.len() as u64);
                    h.set_entry_type(tar::EntryType::Regular);
                    b.append_data(&mut h, name, *data).expect("append");
                }
                E::Sym(name, target) | E::Hard(name, target) => {
                    h.set_size(0);
                    h.set_entry_type(if matches!(e, E::Sym(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    b.append_link(&mut h, name, target).expect("link");
                }
                E::Dir(name) => {
                    h.set_size(0);
                    h.set_entry_type(tar::EntryType::Directory);
                    b.append_data(&mut h, name, io::empty()).expect("dir");
                }
                E::Raw(name, data) => {
                    h.set_size(data.len() as u64);
                    h.set_entry_type(tar::EntryType::Regular);
                    let bytes = h.as_old_mut();
                    bytes.name[..name.len()].copy_from_slice(name.as_bytes());
                    h.set_cksum();
                    b.append(&h, *data).expect("append raw");
                }
            }
        }
        b.into_inner().expect("finish")
    }

    fn index(name: &str, bytes: &[u8]) -> Result<TarIndex, TarIndexError> {
        let d = dir(name);
        let file = d.join("a.tar");
        std::fs::write(&file, bytes).expect("write");
        TarIndex::open(&file, &d)
    }

    fn read(index: &TarIndex, name: &str) -> Option<Vec<u8>> {
        index.read_entry(name, 1 << 20).expect("read")
    }

    #[test]
    fn plain_names_sizes_and_reads() {
        let big = vec![7u8; 5000];
        let t = build(&[
            E::Dir("d/"),
            E::F("./d//x.txt", b"hello"),
            E::F("big", &big),
            E::F("empty", b""),
        ]);
        let idx = index("plain", &t).expect("index");
        assert_eq!(idx.names().collect::<Vec<_>>(), ["big", "d/x.txt", "empty"]);
        assert_eq!(idx.size("d/x.txt"), Some(5));
        assert_eq!(read(&idx, "d/x.txt").as_deref(), Some(&b"hello"[..]));
        assert_eq!(read(&idx, "big"), Some(big));
        assert_eq!(read(&idx, "empty"), Some(vec![]));
        assert_eq!(read(&idx, "missing"), None);
        assert!(idx.open_entry("d").is_none(), "a directory is not readable");
        assert!(matches!(
            idx.read_entry("big", 100),
            Err(TarIndexError::TooLarge { size: 5000, .. })
        ));
    }

    #[test]
    fn several_readers_at_once_and_send() {
        fn is_send<T: Send>(_: &T) {}
        let t = build(&[E::F("a", b"aaaa"), E::F("b", b"bbbb")]);
        let idx = index("readers", &t).expect("index");
        let mut a = idx.open_entry("a").expect("a");
        let mut b = idx.open_entry("b").expect("b");
        is_send(&a);
        let mut x = [0u8; 2];
        a.read_exact(&mut x).expect("a");
        assert_eq!(&x, b"aa");
        b.read_exact(&mut x).expect("b");
        assert_eq!(&x, b"bb");
        a.read_exact(&mut x).expect("a");
        assert_eq!(&x, b"aa");
        assert_eq!(a.read(&mut x).expect("eof"), 0);
    }

    #[test]
    fn compressed_archives() {
        use std::io::Write as _;
        let t = build(&[E::F("x", b"content")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&t).expect("gz");
        let gz = gz.finish().expect("gz");
        let idx = index("gzip", &gz).expect("gzip index");
        assert_eq!(idx.compression(), Some("gzip"));
        assert_eq!(read(&idx, "x").as_deref(), Some(&b"content"[..]));
        let zst = zstd::encode_all(&t[..], 3).expect("zstd");
        let idx = index("zstd", &zst).expect("zstd index");
        assert_eq!(idx.compression(), Some("zstd"));
        assert_eq!(read(&idx, "x").as_deref(), Some(&b"content"[..]));
        // The scratch dir holds no named leftover.
        let d = dir("gzip-cut");
        let file = d.join("a.tar.gz");
        std::fs::write(&file, &gz[..gz.len() / 2]).expect("write");
        let err = TarIndex::open(&file, &d).expect_err("cut gzip");
        assert!(err.to_string().contains("a.tar.gz"), "{err}");
        assert_eq!(std::fs::read_dir(&d).expect("ls").count(), 1);
    }

    #[test]
    fn links_resolve_inside_the_archive() {
        let t = build(&[
            E::F("1/layer.tar", b"layer one"),
            E::Sym("2/layer.tar", "../1/layer.tar"),
            E::Sym("3", "2"),
            E::Hard("hard", "1/layer.tar"),
            E::Sym("loop-a", "loop-b"),
            E::Sym("loop-b", "loop-a"),
            E::Sym("out", "../../etc/passwd"),
            E::Sym("abs", "/etc/passwd"),
            E::Sym("dangling", "nothing"),
            E::Sym("hop/out", "../x/../.."),
        ]);
        let idx = index("links", &t).expect("index");
        assert_eq!(
            idx.names().collect::<Vec<_>>(),
            ["1/layer.tar", "2/layer.tar", "hard"]
        );
        assert_eq!(
            read(&idx, "2/layer.tar").as_deref(),
            Some(&b"layer one"[..])
        );
        assert_eq!(read(&idx, "hard").as_deref(), Some(&b"layer one"[..]));
        // Through a directory symlink.
        assert_eq!(
            read(&idx, "3/layer.tar").as_deref(),
            Some(&b"layer one"[..])
        );
        assert_eq!(idx.size("3/layer.tar"), Some(9));
        assert!(matches!(
            idx.lookup("loop-a"),
            Err(TarIndexError::Link {
                problem: LinkProblem::TooManyLinks,
                ..
            })
        ));
        for name in ["out", "abs", "hop/out"] {
            let err = idx.lookup(name).expect_err(name);
            assert!(
                matches!(
                    err,
                    TarIndexError::Link {
                        problem: LinkProblem::Escapes { .. },
                        ..
                    }
                ),
                "{name}: {err}"
            );
            assert!(idx.open_entry(name).is_none());
        }
        assert!(idx.lookup("dangling").expect("dangling").is_none());
    }

    #[test]
    fn link_chains_are_bounded() {
        let names: Vec<String> = (0..=MAX_LINK_HOPS + 1).map(|i| format!("l{i}")).collect();
        let mut entries = vec![E::F("target", b"t")];
        for i in 0..names.len() {
            let to = if i == 0 {
                "target"
            } else {
                names[i - 1].as_str()
            };
            entries.push(E::Sym(&names[i], to));
        }
        let idx = index("chain", &build(&entries)).expect("index");
        let last_ok = &names[MAX_LINK_HOPS as usize - 1];
        assert_eq!(read(&idx, last_ok).as_deref(), Some(&b"t"[..]));
        let too_far = &names[MAX_LINK_HOPS as usize];
        assert!(matches!(
            idx.lookup(too_far),
            Err(TarIndexError::Link {
                problem: LinkProblem::TooManyLinks,
                ..
            })
        ));
    }

    #[test]
    fn escaping_names_are_refused() {
        let t = build(&[E::Raw("a/../../etc/passwd", b"x")]);
        let err = index("escape", &t).expect_err("escape");
        assert!(matches!(err, TarIndexError::Name { .. }), "{err}");
        assert!(err.to_string().contains("../../etc/passwd"), "{err}");
        // A leading slash is dropped; a `..` that stays inside is fine.
        let t = build(&[E::Raw("/abs/x", b"1"), E::Raw("a/../b", b"2")]);
        let idx = index("slash", &t).expect("index");
        assert_eq!(idx.names().collect::<Vec<_>>(), ["abs/x", "b"]);
    }

    #[test]
    fn long_names() {
        let long = format!("{}/file", "d".repeat(300));
        let t = build(&[E::F(&long, b"long")]);
        let idx = index("long", &t).expect("index");
        assert_eq!(read(&idx, &long).as_deref(), Some(&b"long"[..]));
        // PAX path records.
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("path", long.as_bytes())])
            .expect("pax");
        let mut h = tar::Header::new_ustar();
        h.set_size(3);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path("short").expect("path");
        h.set_cksum();
        b.append(&h, &b"pax"[..]).expect("append");
        let t = b.into_inner().expect("finish");
        let idx = index("pax", &t).expect("index");
        assert_eq!(idx.names().collect::<Vec<_>>(), [long.as_str()]);
        assert_eq!(read(&idx, &long).as_deref(), Some(&b"pax"[..]));
        // Too long.
        let too_long = format!("{}/x", "d".repeat(MAX_NAME));
        let t = build(&[E::F(&too_long, b"")]);
        let err = index("too-long", &t).expect_err("too long");
        assert!(matches!(err, TarIndexError::Name { .. }), "{err}");
        // Too deep: the reader's depth limit, as for layers.
        let too_deep = "x/".repeat(1100);
        let err = index("too-deep", &build(&[E::F(&too_deep, b"")])).expect_err("too deep");
        assert!(err.to_string().contains("path depth limit"), "{err}");
    }

    #[test]
    fn truncated_and_garbage() {
        let t = build(&[E::F("a", &[1u8; 2000])]);
        for cut in [100, 512 + 1000, 1500, t.len() - 1024] {
            let err = index("cut", &t[..cut]).expect_err("truncated");
            assert!(
                matches!(
                    err,
                    TarIndexError::Tar {
                        error: oci_layer::tar::Error::Truncated { .. },
                        ..
                    }
                ),
                "{cut}: {err}"
            );
            assert!(err.to_string().contains("a.tar"), "{err}");
        }
        let mut bad = t.clone();
        bad[0] ^= 0xff;
        let err = index("cksum", &bad).expect_err("checksum");
        assert!(
            matches!(
                err,
                TarIndexError::Tar {
                    error: oci_layer::tar::Error::Checksum { offset: 0, .. },
                    ..
                }
            ),
            "{err}"
        );
        // An empty file has no end-of-archive marker: truncated, as layers are.
        let err = index("empty", b"").expect_err("empty");
        assert!(err.is_check_failure(), "{err}");
        // Garbage after the end marker is ignored, as Go's reader does.
        let mut tail = t.clone();
        tail.extend_from_slice(b"garbage");
        let idx = index("tail", &tail).expect("trailing garbage");
        assert_eq!(idx.names().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn normalize_names() {
        assert_eq!(normalize("./a//b/").as_deref(), Ok("a/b"));
        assert_eq!(normalize("/a/./b").as_deref(), Ok("a/b"));
        assert_eq!(normalize("a/../b").as_deref(), Ok("b"));
        assert!(normalize("../a").is_err());
        assert!(normalize("a/../../b").is_err());
    }
}
