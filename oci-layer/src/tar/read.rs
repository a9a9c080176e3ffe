//! The streaming tar reader for untrusted input: ustar, GNU (long names, base-256 numbers)
//! and PAX (local records; global records are read and ignored), with every record size
//! limited before it is buffered, header checksums reported with both values, and the
//! framing rules of Go's `archive/tar` (the reader containerd, Docker and umoci share):
//! a PAX `size` overrides the header's, and links, directories, devices and fifos carry
//! no data whatever their size field says.

use std::io::{self, Read, Seek, SeekFrom, Write};

use oci_spec_types::media_type::Compression;

use super::decompress::{Hashes, Inline};
use super::{Error, LimitKind, Limits, Malformed};

const BLOCK: usize = 512;

/// Where the reader's bytes come from: the uncompressed stream in large borrowed slices.
pub(crate) trait Chunks {
    /// The next available bytes; empty at the end of the stream.
    fn fill(&mut self) -> Result<&[u8], Error>;
    /// Marks `n` bytes of the last [`Chunks::fill`] as read.
    fn consume(&mut self, n: usize);
    /// Skips up to `n` bytes; returns the number skipped.
    fn skip(&mut self, n: u64) -> Result<u64, Error> {
        let mut left = n;
        while left > 0 {
            let avail = self.fill()?.len();
            if avail == 0 {
                break;
            }
            let m = usize::try_from(left).unwrap_or(usize::MAX).min(avail);
            self.consume(m);
            left -= m as u64;
        }
        Ok(n - left)
    }
    /// Reads the stream to its very end (a corrupt compressed tail is an error).
    fn drain(&mut self) -> Result<(), Error> {
        loop {
            let n = self.fill()?.len();
            if n == 0 {
                return Ok(());
            }
            self.consume(n);
        }
    }
}

impl<T: Chunks + ?Sized> Chunks for Box<T> {
    fn fill(&mut self) -> Result<&[u8], Error> {
        (**self).fill()
    }
    fn consume(&mut self, n: usize) {
        (**self).consume(n)
    }
    fn skip(&mut self, n: u64) -> Result<u64, Error> {
        (**self).skip(n)
    }
    fn drain(&mut self) -> Result<(), Error> {
        (**self).drain()
    }
}

/// An uncompressed, seekable input: data is skipped by seeking, not read.
struct Seekable<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    /// Offset of `buf[pos]` in the input.
    offset: u64,
    len: u64,
}

/// Read buffer of a seekable input (headers are read through it).
const SEEKABLE_BUFFER: usize = 64 << 10;

impl<R: Read + Seek> Chunks for Seekable<R> {
    fn fill(&mut self) -> Result<&[u8], Error> {
        if self.pos == self.buf.len() {
            self.buf.resize(SEEKABLE_BUFFER, 0);
            let n = loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => return Err(Error::Read { source }),
                }
            };
            self.buf.truncate(n);
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }

    fn skip(&mut self, n: u64) -> Result<u64, Error> {
        let buffered = (self.buf.len() - self.pos) as u64;
        if n <= buffered {
            self.consume(n as usize);
            return Ok(n);
        }
        let target = self.offset.saturating_add(n).min(self.len.max(self.offset));
        self.inner
            .seek(SeekFrom::Start(target))
            .map_err(|source| Error::Read { source })?;
        let skipped = target - self.offset;
        self.buf.clear();
        self.pos = 0;
        self.offset = target;
        Ok(skipped)
    }

    fn drain(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// The type of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file (type `0`, `7` or NUL; NUL with a name ending in `/` is a directory).
    File,
    /// A directory (`5`).
    Dir,
    /// A symbolic link (`2`).
    Symlink,
    /// A hard link to an earlier entry (`1`).
    Hardlink,
    /// A character device (`3`).
    Char,
    /// A block device (`4`).
    Block,
    /// A fifo (`6`).
    Fifo,
    /// Any other type flag: its data is read like a file's.
    Other(u8),
}

impl Kind {
    /// The kind in words, for messages (`regular file`, `directory`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "regular file",
            Kind::Dir => "directory",
            Kind::Symlink => "symbolic link",
            Kind::Hardlink => "hard link",
            Kind::Char => "character device",
            Kind::Block => "block device",
            Kind::Fifo => "fifo",
            Kind::Other(_) => "entry of unknown type",
        }
    }

    /// Types that carry no data whatever their size field says (Go's `isHeaderOnlyType`).
    fn header_only(self) -> bool {
        matches!(
            self,
            Kind::Dir | Kind::Symlink | Kind::Hardlink | Kind::Char | Kind::Block | Kind::Fifo
        )
    }
}

/// A modification time: seconds since the epoch and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mtime {
    /// Whole seconds since the epoch (negative before 1970).
    pub secs: i64,
    /// Nanoseconds, below one billion.
    pub nanos: u32,
}

/// One entry's header, everything merged (PAX over GNU over ustar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as written (PAX `path`, else GNU long name, else ustar prefix and name),
    /// up to its first NUL.
    pub name: Vec<u8>,
    /// The link target (PAX `linkpath`, GNU long link or the header field); empty when
    /// there is none.
    pub link: Vec<u8>,
    /// What the entry is.
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Modification time.
    pub mtime: Mtime,
    /// Bytes of data that follow: the PAX `size` if any, else the header's; 0 for links,
    /// directories, devices and fifos.
    pub size: u64,
    /// Offset of the entry's data in the uncompressed stream.
    pub data_offset: u64,
    /// Major device number (devices only, else 0).
    pub dev_major: u32,
    /// Minor device number (devices only, else 0).
    pub dev_minor: u32,
    /// Extended attributes from PAX `SCHILY.xattr.*` records, in record order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// A GNU sparse file (type `S` or `GNU.sparse.*` records), which nothing here expands.
    pub sparse: bool,
}

#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: Option<Mtime>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    sparse: bool,
}

/// Reads a tar stream entry by entry, within [`Limits`]: the compression (gzip, including
/// multi-member streams, zstd or none) is sniffed from the first bytes, and the data of the
/// current entry is read with [`Reader::read_data`] or [`Reader::copy_data`], or skipped by
/// the next call to [`Reader::next`]. Nothing is buffered beyond one record (at most
/// [`Limits::max_record`]) and one chunk of the stream.
///
/// A stream ends with a zero block (a second one, or the end of the stream, must follow);
/// a stream that ends elsewhere is [`Error::Truncated`]. [`Reader::finish`] reads what
/// follows the end marker (ignored, but a compressed stream must decode to its end).
pub struct Reader<'a> {
    archive: Archive<Box<dyn Chunks + 'a>>,
    compression: Compression,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("compression", &self.compression)
            .field("offset", &self.archive.offset)
            .field("limits", &self.archive.limits)
            .finish_non_exhaustive()
    }
}

impl<'a> Reader<'a> {
    /// A reader over `input`, plain or compressed (sniffed from its first bytes). Reading
    /// the first bytes may fail.
    pub fn new(input: impl Read + 'a, limits: Limits) -> Result<Reader<'a>, Error> {
        Reader::inline(Inline::new(input, Hashes::default(), limits, None)?, limits)
    }

    /// Like [`Reader::new`], and every uncompressed byte is also written to `copy` as it
    /// is read, after the size and ratio limits passed: so a compression bomb is refused
    /// before it fills the disk `copy` writes to.
    pub fn decompressing_into(
        input: impl Read + 'a,
        limits: Limits,
        copy: &'a mut dyn Write,
    ) -> Result<Reader<'a>, Error> {
        Reader::inline(
            Inline::new(input, Hashes::default(), limits, Some(copy))?,
            limits,
        )
    }

    /// A reader over an uncompressed tar that can seek (a file): entry data that is not
    /// read is skipped by seeking.
    pub fn seekable(mut input: impl Read + Seek + 'a, limits: Limits) -> Result<Reader<'a>, Error> {
        let read = |source| Error::Read { source };
        let len = input.seek(SeekFrom::End(0)).map_err(read)?;
        input.seek(SeekFrom::Start(0)).map_err(read)?;
        let src = Seekable {
            inner: input,
            buf: Vec::new(),
            pos: 0,
            offset: 0,
            len,
        };
        Ok(Reader {
            archive: Archive::new(Box::new(src), limits),
            compression: Compression::None,
        })
    }

    fn inline<R: Read + 'a>(src: Inline<'a, R>, limits: Limits) -> Result<Reader<'a>, Error> {
        let compression = src.compression();
        Ok(Reader {
            archive: Archive::new(Box::new(src), limits),
            compression,
        })
    }

    /// The compression of the input.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The next entry (PAX records and GNU long names applied), or `None` after the
    /// end-of-archive marker. The data of the previous entry not read is skipped.
    #[allow(clippy::should_implement_trait)] // fallible, and ends on a marker: not an Iterator
    pub fn next(&mut self) -> Result<Option<Entry>, Error> {
        self.archive.next()
    }

    /// Reads data of the current entry into `buf`; 0 at the end of its data.
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        self.archive.read_data(buf)
    }

    /// Passes the rest of the current entry's data to `sink` in slices, in order.
    pub fn copy_data<E: From<Error>>(
        &mut self,
        sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.archive.copy_data(sink)
    }

    /// Offset of the next byte in the uncompressed stream.
    pub fn offset(&self) -> u64 {
        self.archive.offset
    }

    /// Reads the input to its end (what follows the end-of-archive marker is ignored, but
    /// a compressed stream must decode to its end and stay within the limits).
    pub fn finish(mut self) -> Result<(), Error> {
        self.archive.src.drain()
    }
}

/// The reader over any chunk source (the threaded decompressor of `layer apply`, or the
/// boxed sources of [`Reader`]).
pub(crate) struct Archive<S> {
    pub(crate) src: S,
    limits: Limits,
    /// Offset of the next byte of `src` in the uncompressed stream.
    offset: u64,
    headers: u64,
    /// Data bytes of the current entry not yet read.
    remaining: u64,
    /// Padding after the current entry's data.
    padding: u64,
}

impl<S: Chunks> Archive<S> {
    pub(crate) fn new(src: S, limits: Limits) -> Archive<S> {
        Archive {
            src,
            limits,
            offset: 0,
            headers: 0,
            remaining: 0,
            padding: 0,
        }
    }

    fn consume(&mut self, n: usize) {
        self.src.consume(n);
        self.offset += n as u64;
    }

    /// Fills `buf` as far as the stream goes; returns the number of bytes read.
    fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut n = 0;
        while n < buf.len() {
            let avail = self.src.fill()?;
            if avail.is_empty() {
                break;
            }
            let m = avail.len().min(buf.len() - n);
            buf[n..n + m].copy_from_slice(&avail[..m]);
            self.consume(m);
            n += m;
        }
        Ok(n)
    }

    /// Skips `n` bytes; a stream that ends first is reported as [`Archive::copy_data`]
    /// reports it (where the missing part starts, and how much is missing), so skipping
    /// and reading an entry fail alike.
    fn skip_exact(&mut self, n: u64) -> Result<(), Error> {
        let got = self.src.skip(n)?;
        self.offset += got;
        if got < n {
            return Err(Error::Truncated {
                offset: self.offset,
                expected: n - got,
                actual: 0,
            });
        }
        Ok(())
    }

    /// Passes the current entry's data to `sink` in slices, in order.
    pub(crate) fn copy_data<E: From<Error>>(
        &mut self,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        while self.remaining > 0 {
            let offset = self.offset;
            let avail = self.src.fill()?;
            if avail.is_empty() {
                return Err(Error::Truncated {
                    offset,
                    expected: self.remaining,
                    actual: 0,
                }
                .into());
            }
            let n = usize::try_from(self.remaining)
                .unwrap_or(usize::MAX)
                .min(avail.len());
            sink(&avail[..n])?;
            self.consume(n);
            self.remaining -= n as u64;
        }
        Ok(())
    }

    /// Reads data of the current entry into `buf`.
    fn read_data(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let offset = self.offset;
        let avail = self.src.fill()?;
        if avail.is_empty() {
            return Err(Error::Truncated {
                offset,
                expected: self.remaining,
                actual: 0,
            });
        }
        let n = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(avail.len())
            .min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        self.remaining -= n as u64;
        Ok(n)
    }

    /// Reads a whole record (PAX or long name) after checking its size.
    fn record(&mut self, size: u64, name: &[u8]) -> Result<Vec<u8>, Error> {
        if size > self.limits.max_record {
            return Err(Error::Limit {
                limit: LimitKind::Record,
                max: self.limits.max_record,
                actual: size,
                entry: Some(String::from_utf8_lossy(name).into_owned()),
            });
        }
        let len = usize::try_from(size).unwrap_or(usize::MAX);
        let mut buf = vec![0; len];
        let offset = self.offset;
        let got = self.read_full(&mut buf)?;
        if got < len {
            return Err(Error::Truncated {
                offset,
                expected: size,
                actual: got as u64,
            });
        }
        self.remaining = 0;
        let padding = self.padding;
        self.skip_exact(padding)?;
        self.padding = 0;
        Ok(buf)
    }

    /// After a first zero block: the second one of the end-of-archive marker, or the end
    /// of the stream (both accepted, as Go's reader does); anything else is an error, so
    /// no entry hides behind a lone zero block.
    fn end_marker(&mut self) -> Result<(), Error> {
        let offset = self.offset;
        let mut block = [0u8; BLOCK];
        let got = self.read_full(&mut block)?;
        if got == 0 || (got == BLOCK && block.iter().all(|&b| b == 0)) {
            Ok(())
        } else if got < BLOCK {
            Err(Error::Truncated {
                offset,
                expected: BLOCK as u64,
                actual: got as u64,
            })
        } else {
            Err(Error::Malformed {
                offset,
                what: Malformed::LoneZeroBlock,
            })
        }
    }

    /// The next entry, or `None` at the end-of-archive marker.
    pub(crate) fn next(&mut self) -> Result<Option<Entry>, Error> {
        let (remaining, padding) = (self.remaining, self.padding);
        self.skip_exact(remaining)?;
        self.remaining = 0;
        self.skip_exact(padding)?;
        self.padding = 0;
        let mut pax = Pax::default();
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        loop {
            let offset = self.offset;
            let mut block = [0u8; BLOCK];
            let got = self.read_full(&mut block)?;
            if got < BLOCK {
                return Err(Error::Truncated {
                    offset,
                    expected: BLOCK as u64,
                    actual: got as u64,
                });
            }
            if block.iter().all(|&b| b == 0) {
                return self.end_marker().map(|()| None);
            }
            self.headers += 1;
            if self.headers > self.limits.max_entries {
                return Err(Error::Limit {
                    limit: LimitKind::Entries,
                    max: self.limits.max_entries,
                    actual: self.headers,
                    entry: None,
                });
            }
            check_sum(&block, offset)?;
            let flag = block[156];
            let header_size = number(&block[124..136], "size", offset)?;
            let size = match flag {
                b'x' | b'g' | b'L' | b'K' => header_size,
                _ => pax.size.unwrap_or(header_size),
            };
            self.remaining = size;
            self.padding = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
            match flag {
                b'x' => {
                    let data = self.record(size, field(&block[0..100]))?;
                    parse_pax(&data, &mut pax, offset)?;
                    continue;
                }
                b'g' => {
                    let data = self.record(size, field(&block[0..100]))?;
                    // Global records are checked for form and otherwise ignored.
                    parse_pax(&data, &mut Pax::default(), offset)?;
                    continue;
                }
                b'L' => {
                    let data = self.record(size, b"././@LongLink")?;
                    long_name = Some(field(&data).to_vec());
                    continue;
                }
                b'K' => {
                    let data = self.record(size, b"././@LongLink")?;
                    long_link = Some(field(&data).to_vec());
                    continue;
                }
                _ => {}
            }
            let ustar = &block[257..263] == b"ustar\0";
            let name = match (pax.path.take(), long_name.take()) {
                (Some(p), _) => p,
                (None, Some(l)) => l,
                (None, None) => {
                    let name = field(&block[0..100]);
                    let prefix = field(&block[345..500]);
                    if ustar && !prefix.is_empty() {
                        let mut full = prefix.to_vec();
                        full.push(b'/');
                        full.extend_from_slice(name);
                        full
                    } else {
                        name.to_vec()
                    }
                }
            };
            if name.is_empty() {
                return Err(Error::Malformed {
                    offset,
                    what: Malformed::EmptyName,
                });
            }
            let depth = depth(&name);
            if depth > self.limits.max_depth {
                return Err(Error::Limit {
                    limit: LimitKind::Depth,
                    max: self.limits.max_depth as u64,
                    actual: depth as u64,
                    entry: Some(String::from_utf8_lossy(&name).into_owned()),
                });
            }
            let link = pax
                .linkpath
                .take()
                .or(long_link.take())
                .unwrap_or_else(|| field(&block[157..257]).to_vec());
            let kind = match flag {
                b'0' | b'7' => Kind::File,
                b'\0' if name.ends_with(b"/") => Kind::Dir,
                b'\0' => Kind::File,
                b'1' => Kind::Hardlink,
                b'2' => Kind::Symlink,
                b'3' => Kind::Char,
                b'4' => Kind::Block,
                b'5' => Kind::Dir,
                b'6' => Kind::Fifo,
                other => Kind::Other(other),
            };
            if kind.header_only() {
                self.remaining = 0;
                self.padding = 0;
            }
            let mode = number(&block[100..108], "mode", offset)?;
            let uid = match pax.uid {
                Some(u) => u,
                None => number(&block[108..116], "uid", offset)?,
            };
            let gid = match pax.gid {
                Some(g) => g,
                None => number(&block[116..124], "gid", offset)?,
            };
            let mtime = match pax.mtime {
                Some(m) => m,
                None => Mtime {
                    secs: i64::try_from(number(&block[136..148], "mtime", offset)?)
                        .unwrap_or(i64::MAX),
                    nanos: 0,
                },
            };
            let (dev_major, dev_minor) = if matches!(kind, Kind::Char | Kind::Block) {
                (
                    device(&block[329..337], "devmajor", offset)?,
                    device(&block[337..345], "devminor", offset)?,
                )
            } else {
                (0, 0)
            };
            return Ok(Some(Entry {
                name,
                link,
                kind,
                mode: (mode & 0o7777) as u32,
                uid,
                gid,
                mtime,
                size: self.remaining,
                data_offset: self.offset,
                dev_major,
                dev_minor,
                xattrs: std::mem::take(&mut pax.xattrs),
                sparse: pax.sparse || flag == b'S',
            }));
        }
    }
}

/// The number of components of a path after lexical cleaning (`.` and empty components
/// dropped, `..` going up but never above the root).
fn depth(name: &[u8]) -> usize {
    let mut depth = 0usize;
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => depth = depth.saturating_sub(1),
            _ => depth += 1,
        }
    }
    depth
}

/// A NUL-terminated header field.
fn field(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

fn check_sum(block: &[u8; BLOCK], offset: u64) -> Result<(), Error> {
    let stored = number(&block[148..156], "chksum", offset)?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        Err(Error::Checksum {
            offset,
            expected: stored,
            actual: unsigned,
        })
    }
}

/// An octal (NUL or space terminated, space padded) or base-256 number.
fn number(bytes: &[u8], name: &'static str, offset: u64) -> Result<u64, Error> {
    let bad = || Error::Malformed {
        offset,
        what: Malformed::Number { field: name },
    };
    if let Some(&first) = bytes.first()
        && first & 0x80 != 0
    {
        if first == 0xff {
            // Negative base-256: only meaningful for times, clamped to 0.
            return Ok(0);
        }
        let mut value: u64 = u64::from(first & 0x7f);
        for &b in &bytes[1..] {
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or_else(bad)?;
        }
        return Ok(value);
    }
    let trimmed: &[u8] = {
        let start = bytes
            .iter()
            .position(|&b| b != b' ' && b != 0)
            .unwrap_or(bytes.len());
        let rest = &bytes[start..];
        let end = rest
            .iter()
            .position(|&b| b == b' ' || b == 0)
            .unwrap_or(rest.len());
        if rest[end..].iter().any(|&b| b != b' ' && b != 0) {
            return Err(bad());
        }
        &rest[..end]
    };
    let mut value: u64 = 0;
    for &b in trimmed {
        if !(b'0'..=b'7').contains(&b) {
            return Err(bad());
        }
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(value)
}

fn device(bytes: &[u8], name: &'static str, offset: u64) -> Result<u32, Error> {
    u32::try_from(number(bytes, name, offset)?).map_err(|_| Error::Malformed {
        offset,
        what: Malformed::Number { field: name },
    })
}

fn parse_pax(data: &[u8], pax: &mut Pax, offset: u64) -> Result<(), Error> {
    let bad = || Error::Malformed {
        offset,
        what: Malformed::PaxRecord,
    };
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let space = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(bad());
        }
        let record = &rest[space + 1..len - 1];
        rest = &rest[len..];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let decimal = |key: &[u8]| -> Result<u64, Error> {
            std::str::from_utf8(value)
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Error::Malformed {
                    offset,
                    what: Malformed::PaxNumber {
                        key: String::from_utf8_lossy(key).into_owned(),
                    },
                })
        };
        let text = |v: &[u8]| -> Result<Option<Vec<u8>>, Error> {
            if v.contains(&0) {
                return Err(Error::Malformed {
                    offset,
                    what: Malformed::Nul,
                });
            }
            Ok((!v.is_empty()).then(|| v.to_vec()))
        };
        match key {
            b"path" => pax.path = text(value)?,
            b"linkpath" => pax.linkpath = text(value)?,
            b"size" => pax.size = Some(decimal(key)?),
            b"uid" => pax.uid = Some(decimal(key)?),
            b"gid" => pax.gid = Some(decimal(key)?),
            b"mtime" => {
                pax.mtime = Some(pax_time(value).ok_or_else(|| Error::Malformed {
                    offset,
                    what: Malformed::PaxNumber {
                        key: "mtime".to_owned(),
                    },
                })?)
            }
            _ if key.starts_with(b"SCHILY.xattr.") => {
                let name = &key[b"SCHILY.xattr.".len()..];
                pax.xattrs.retain(|(n, _)| n != name);
                pax.xattrs.push((name.to_vec(), value.to_vec()));
            }
            _ if key.starts_with(b"GNU.sparse.") => pax.sparse = true,
            _ => {}
        }
    }
    Ok(())
}

/// A PAX time: `[-]SECONDS[.FRACTION]`.
fn pax_time(value: &[u8]) -> Option<Mtime> {
    let s = std::str::from_utf8(value).ok()?;
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut nanos: u32 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    Some(if negative {
        if nanos == 0 {
            Mtime {
                secs: -secs,
                nanos: 0,
            }
        } else {
            Mtime {
                secs: -secs - 1,
                nanos: 1_000_000_000 - nanos,
            }
        }
    } else {
        Mtime { secs, nanos }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(number(b"0000644\0", "mode", 0).ok(), Some(0o644));
        assert_eq!(number(b"   644 \0", "mode", 0).ok(), Some(0o644));
        assert_eq!(number(b"\0\0\0\0\0\0\0\0", "mode", 0).ok(), Some(0));
        assert!(number(b"0000648\0", "mode", 0).is_err());
        assert!(number(b"06 44\0\0\0", "mode", 0).is_err());
        assert_eq!(number(&[0x80, 0, 0, 1, 0], "size", 0).ok(), Some(256));
    }

    #[test]
    fn pax_times() {
        assert_eq!(
            pax_time(b"12.5"),
            Some(Mtime {
                secs: 12,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            pax_time(b"-1.25"),
            Some(Mtime {
                secs: -2,
                nanos: 750_000_000
            })
        );
        assert_eq!(pax_time(b"7"), Some(Mtime { secs: 7, nanos: 0 }));
        assert_eq!(pax_time(b"x"), None);
        assert_eq!(pax_time(b""), None);
    }
}
