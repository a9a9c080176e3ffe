//! Input framing: detect the compression from the bytes, decompress on a thread of its
//! own, hash the compressed and uncompressed streams as they pass, enforce the size and
//! ratio limits, and hand the tar stream over in large chunks through a bounded channel.

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

use oci_digest::{Digester, Measured};
use oci_spec_types::digest::Algorithm;

use super::error::{Error, LimitKind};
use super::options::Limits;

/// Size of one chunk of uncompressed bytes handed from the decompressor to the applier.
pub(crate) const CHUNK: usize = 1 << 20;
/// Chunks in flight between the two threads (bounds memory).
pub(crate) const IN_FLIGHT: usize = 3;
/// Read buffer of the compressed input.
const INPUT_BUFFER: usize = 256 << 10;

/// What the decompressing thread sends.
pub(crate) enum Message {
    /// Uncompressed bytes; shorter than [`CHUNK`] only at the end.
    Chunk(Vec<u8>),
    /// The input was read to its end.
    End {
        digest: Option<Measured>,
        diff_id: Option<Measured>,
    },
    /// Reading, decompressing or a limit failed.
    Fail(Error),
}

/// The compression detected from the first bytes.
pub(crate) use oci_spec_types::media_type::Compression;

/// The compression announced by a stream's first (up to four) bytes: gzip's magic, a zstd
/// frame or a zstd skippable frame, else a plain tar.
pub fn detect(prefix: &[u8]) -> Compression {
    match prefix {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [b, 0x2a, 0x4d, 0x18, ..] if b & 0xf0 == 0x50 => Compression::Zstd,
        _ => Compression::None,
    }
}

/// The compression's name in messages.
pub(crate) fn compression_name(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "tar",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
    }
}

/// The compressed input, counted and hashed as the decoder pulls it.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
    digester: Rc<RefCell<Option<Digester>>>,
    /// Set when the underlying reader failed (rather than the decoder).
    failed: Rc<Cell<bool>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    self.count.set(self.count.get() + n as u64);
                    if let Some(d) = self.digester.borrow_mut().as_mut() {
                        d.update(&buf[..n]);
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failed.set(true);
                    return Err(e);
                }
            }
        }
    }
}

/// The input behind a decoder: the sniffed prefix, then the rest of the stream.
pub(crate) type Input<R> = BufReader<io::Chain<io::Cursor<Vec<u8>>, R>>;

/// A decompressor chosen by the first bytes of its input.
pub(crate) enum Decoder<R: Read> {
    Plain(Input<R>),
    Gzip(Box<flate2::bufread::MultiGzDecoder<Input<R>>>),
    Zstd(zstd::stream::read::Decoder<'static, Input<R>>),
}

/// Why [`Decoder::sniff`] failed.
pub(crate) enum SniffError {
    /// Reading the first bytes failed.
    Read(io::Error),
    /// The zstd decoder could not be set up.
    Zstd(io::Error),
}

impl<R: Read> Decoder<R> {
    /// Reads up to four bytes of `reader` to tell its compression, and returns it with a
    /// decoder over the whole stream.
    pub(crate) fn sniff(mut reader: R) -> Result<(Compression, Decoder<R>), SniffError> {
        let mut prefix = vec![0u8; 4];
        let mut have = 0;
        while have < prefix.len() {
            match reader.read(&mut prefix[have..]) {
                Ok(0) => break,
                Ok(n) => have += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SniffError::Read(e)),
            }
        }
        prefix.truncate(have);
        let compression = detect(&prefix);
        let input = BufReader::with_capacity(INPUT_BUFFER, io::Cursor::new(prefix).chain(reader));
        let decoder = match compression {
            Compression::None => Decoder::Plain(input),
            Compression::Gzip => {
                Decoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(input)))
            }
            Compression::Zstd => Decoder::Zstd(
                zstd::stream::read::Decoder::with_buffer(input).map_err(SniffError::Zstd)?,
            ),
        };
        Ok((compression, decoder))
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(r) => r.read(buf),
            Decoder::Zstd(r) => r.read(buf),
        }
    }

    /// The input, positioned after the compressed stream.
    pub(crate) fn into_input(self) -> Input<R> {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(r) => r.into_inner(),
            Decoder::Zstd(r) => r.finish(),
        }
    }
}

/// Which digests to compute.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hashes {
    pub digest: Option<Algorithm>,
    pub diff_id: Option<Algorithm>,
}

/// Body of the decompressing thread. Returns when the input is read to its end, when it
/// fails (after sending `Fail`), or when the receiver is gone.
pub(crate) fn pump<R: Read>(
    input: R,
    hashes: Hashes,
    limits: Limits,
    tx: SyncSender<Message>,
    recycled: Receiver<Vec<u8>>,
) {
    if let Err(e) = pump_inner(input, hashes, limits, &tx, &recycled) {
        let _ = tx.send(Message::Fail(e));
    }
}

fn pump_inner<R: Read>(
    input: R,
    hashes: Hashes,
    limits: Limits,
    tx: &SyncSender<Message>,
    recycled: &Receiver<Vec<u8>>,
) -> Result<(), Error> {
    let count = Rc::new(Cell::new(0u64));
    let digester = Rc::new(RefCell::new(hashes.digest.map(Digester::new)));
    let failed = Rc::new(Cell::new(false));
    let counted = Counted {
        inner: input,
        count: Rc::clone(&count),
        digester: Rc::clone(&digester),
        failed: Rc::clone(&failed),
    };
    // Up to 4 bytes decide the compression.
    let (compression, mut decoder) = match Decoder::sniff(counted) {
        Ok(sniffed) => sniffed,
        Err(SniffError::Read(source)) => return Err(Error::Read { source }),
        Err(SniffError::Zstd(source)) => {
            return Err(Error::Decompress {
                compression: "zstd",
                source,
            });
        }
    };
    let mut diff_id = hashes.diff_id.map(Digester::new);
    let mut produced = 0u64;
    let fail = |source: io::Error| {
        if failed.get() || compression == Compression::None {
            Error::Read { source }
        } else {
            Error::Decompress {
                compression: compression_name(compression),
                source,
            }
        }
    };
    loop {
        let mut buf = match recycled.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => vec![0; CHUNK],
        };
        buf.resize(CHUNK, 0);
        let mut n = 0;
        while n < CHUNK {
            match decoder.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(m) => n += m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(fail(e)),
            }
        }
        buf.truncate(n);
        produced += n as u64;
        if produced > limits.max_bytes {
            return Err(Error::Limit {
                limit: LimitKind::Bytes,
                max: limits.max_bytes,
                actual: produced,
                entry: None,
            });
        }
        if compression != Compression::None && produced > limits.ratio_after {
            let compressed = count.get().max(1);
            if produced / compressed > limits.max_ratio {
                return Err(Error::Limit {
                    limit: LimitKind::Ratio,
                    max: limits.max_ratio,
                    actual: produced / compressed,
                    entry: None,
                });
            }
        }
        if let Some(d) = diff_id.as_mut() {
            d.update(&buf);
        }
        let last = n < CHUNK;
        if n > 0 && tx.send(Message::Chunk(buf)).is_err() {
            return Ok(());
        }
        if last {
            break;
        }
    }
    // Whatever follows the compressed stream (nothing, normally) still counts for the
    // digest: read the input to its very end.
    let mut rest = decoder.into_input();
    loop {
        let n = match rest.fill_buf() {
            Ok(b) => b.len(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(Error::Read { source }),
        };
        if n == 0 {
            break;
        }
        rest.consume(n);
    }
    let digest = digester.borrow_mut().take().map(Digester::finish);
    let _ = tx.send(Message::End {
        digest,
        diff_id: diff_id.map(Digester::finish),
    });
    Ok(())
}

/// The receiving end: the uncompressed stream as a sequence of borrowed slices.
pub(crate) struct Source {
    rx: Receiver<Message>,
    recycle: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    /// Offset of `chunk[pos]` in the uncompressed stream.
    offset: u64,
    end: Option<(Option<Measured>, Option<Measured>)>,
}

impl Source {
    pub(crate) fn new(rx: Receiver<Message>, recycle: SyncSender<Vec<u8>>) -> Source {
        Source {
            rx,
            recycle,
            chunk: Vec::new(),
            pos: 0,
            offset: 0,
            end: None,
        }
    }

    /// Offset of the next byte in the uncompressed stream.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The next available bytes; empty at the end of the stream.
    pub(crate) fn fill(&mut self) -> Result<&[u8], Error> {
        while self.pos == self.chunk.len() && self.end.is_none() {
            match self.rx.recv() {
                Ok(Message::Chunk(c)) => {
                    let old = std::mem::replace(&mut self.chunk, c);
                    if old.capacity() >= CHUNK {
                        let _ = self.recycle.try_send(old);
                    }
                    self.pos = 0;
                }
                Ok(Message::End { digest, diff_id }) => self.end = Some((digest, diff_id)),
                Ok(Message::Fail(e)) => return Err(e),
                Err(_) => {
                    return Err(Error::Read {
                        source: io::Error::other("decompressing thread stopped"),
                    });
                }
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(self.pos + n <= self.chunk.len());
        self.pos += n;
        self.offset += n as u64;
    }

    /// Fills `buf` as far as the stream goes; returns the number of bytes read.
    pub(crate) fn read_full(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut n = 0;
        while n < buf.len() {
            let avail = self.fill()?;
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

    /// Skips up to `n` bytes; returns the number skipped.
    pub(crate) fn skip(&mut self, n: u64) -> Result<u64, Error> {
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

    /// Reads the stream to its end and returns the measured digest and diffID.
    pub(crate) fn finish(mut self) -> Result<(Option<Measured>, Option<Measured>), Error> {
        loop {
            let n = self.fill()?.len();
            if n == 0 {
                break;
            }
            self.consume(n);
        }
        Ok(self.end.take().unwrap_or((None, None)))
    }
}
