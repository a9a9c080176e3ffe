//! Input framing: detect the compression from the bytes, decompress (on a thread of its
//! own for `layer apply`, inline otherwise), hash the compressed and uncompressed streams
//! as they pass, enforce the size and ratio limits, and hand the tar stream over in large
//! chunks.

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

use oci_digest::{Digester, Measured};
use oci_spec_types::digest::Algorithm;

use super::read::Chunks;
use super::{Error, LimitKind, Limits};

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

    /// Compressed bytes read ahead into the input buffer but not yet decoded.
    fn buffered(&self) -> usize {
        match self {
            Decoder::Plain(r) => r.buffer().len(),
            Decoder::Gzip(r) => r.get_ref().buffer().len(),
            Decoder::Zstd(r) => r.get_ref().buffer().len(),
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

/// A decompressing stream within its limits: the compressed input counted and hashed as
/// the decoder pulls it, the uncompressed output counted (and hashed) as it comes out.
pub(crate) struct Decoding<R: Read> {
    decoder: Option<Decoder<Counted<R>>>,
    compression: Compression,
    count: Rc<Cell<u64>>,
    digester: Rc<RefCell<Option<Digester>>>,
    failed: Rc<Cell<bool>>,
    limits: Limits,
    produced: u64,
    diff_id: Option<Digester>,
}

impl<R: Read> Decoding<R> {
    /// Reads up to four bytes of `input` to tell its compression.
    pub(crate) fn new(input: R, hashes: Hashes, limits: Limits) -> Result<Decoding<R>, Error> {
        let count = Rc::new(Cell::new(0u64));
        let digester = Rc::new(RefCell::new(hashes.digest.map(Digester::new)));
        let failed = Rc::new(Cell::new(false));
        let counted = Counted {
            inner: input,
            count: Rc::clone(&count),
            digester: Rc::clone(&digester),
            failed: Rc::clone(&failed),
        };
        let (compression, decoder) = match Decoder::sniff(counted) {
            Ok(sniffed) => sniffed,
            Err(SniffError::Read(source)) => return Err(Error::Read { source }),
            Err(SniffError::Zstd(source)) => {
                return Err(Error::Decompress {
                    compression: "zstd",
                    source,
                });
            }
        };
        Ok(Decoding {
            decoder: Some(decoder),
            compression,
            count,
            digester,
            failed,
            limits,
            produced: 0,
            diff_id: hashes.diff_id.map(Digester::new),
        })
    }

    fn fail(&self, source: io::Error) -> Error {
        if self.failed.get() || self.compression == Compression::None {
            Error::Read { source }
        } else {
            Error::Decompress {
                compression: compression_name(self.compression),
                source,
            }
        }
    }

    /// Fills `buf` with the next uncompressed bytes; fewer than `buf.len()` only at the
    /// end. The size and ratio limits are checked before the bytes are handed out.
    pub(crate) fn fill_chunk(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let Some(decoder) = self.decoder.as_mut() else {
            return Ok(0);
        };
        let mut n = 0;
        while n < buf.len() {
            match decoder.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(m) => n += m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.fail(e)),
            }
        }
        self.produced += n as u64;
        let limits = &self.limits;
        if self.produced > limits.max_bytes {
            return Err(Error::Limit {
                limit: LimitKind::Bytes,
                max: limits.max_bytes,
                actual: self.produced,
                entry: None,
            });
        }
        if self.compression != Compression::None && self.produced >= limits.ratio_after {
            // The compressed bytes the decoder used: those read, less those read ahead.
            let buffered = decoder.buffered() as u64;
            let compressed = self.count.get().saturating_sub(buffered).max(1);
            if self.produced / compressed > limits.max_ratio {
                return Err(Error::Limit {
                    limit: LimitKind::Ratio,
                    max: limits.max_ratio,
                    actual: self.produced / compressed,
                    entry: None,
                });
            }
        }
        if let Some(d) = self.diff_id.as_mut() {
            d.update(&buf[..n]);
        }
        Ok(n)
    }

    /// Reads whatever follows the compressed stream (nothing, normally), which still counts
    /// for the digest: the input to its very end. Returns the measured digests.
    pub(crate) fn finish(&mut self) -> Result<(Option<Measured>, Option<Measured>), Error> {
        if let Some(decoder) = self.decoder.take() {
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
        }
        let digest = self.digester.borrow_mut().take().map(Digester::finish);
        Ok((digest, self.diff_id.take().map(Digester::finish)))
    }
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
    let mut decoding = Decoding::new(input, hashes, limits)?;
    loop {
        let mut buf = match recycled.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => vec![0; CHUNK],
        };
        buf.resize(CHUNK, 0);
        let n = decoding.fill_chunk(&mut buf)?;
        buf.truncate(n);
        let last = n < CHUNK;
        if n > 0 && tx.send(Message::Chunk(buf)).is_err() {
            return Ok(());
        }
        if last {
            break;
        }
    }
    let (digest, diff_id) = decoding.finish()?;
    let _ = tx.send(Message::End { digest, diff_id });
    Ok(())
}

/// The receiving end: the uncompressed stream as a sequence of borrowed slices.
pub(crate) struct Source {
    rx: Receiver<Message>,
    recycle: SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    end: Option<(Option<Measured>, Option<Measured>)>,
}

impl Source {
    pub(crate) fn new(rx: Receiver<Message>, recycle: SyncSender<Vec<u8>>) -> Source {
        Source {
            rx,
            recycle,
            chunk: Vec::new(),
            pos: 0,
            end: None,
        }
    }

    /// Reads the stream to its end and returns the measured digest and diffID.
    pub(crate) fn finish(mut self) -> Result<(Option<Measured>, Option<Measured>), Error> {
        self.drain()?;
        Ok(self.end.take().unwrap_or((None, None)))
    }
}

impl Chunks for Source {
    fn fill(&mut self) -> Result<&[u8], Error> {
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

    fn consume(&mut self, n: usize) {
        debug_assert!(self.pos + n <= self.chunk.len());
        self.pos += n;
    }
}

/// Decompression on the reading thread, with an optional copy of every uncompressed
/// byte written as it is handed out.
pub(crate) struct Inline<'a, R: Read> {
    decoding: Decoding<R>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
    copy: Option<&'a mut dyn Write>,
}

/// Chunk size of the inline decompression (smaller than the threaded one: no overlap to
/// keep busy, and less memory for listings).
const INLINE_CHUNK: usize = 256 << 10;

impl<'a, R: Read> Inline<'a, R> {
    pub(crate) fn new(
        input: R,
        hashes: Hashes,
        limits: Limits,
        copy: Option<&'a mut dyn Write>,
    ) -> Result<Inline<'a, R>, Error> {
        Ok(Inline {
            decoding: Decoding::new(input, hashes, limits)?,
            chunk: Vec::new(),
            pos: 0,
            done: false,
            copy,
        })
    }

    pub(crate) fn compression(&self) -> Compression {
        self.decoding.compression
    }
}

impl<R: Read> Chunks for Inline<'_, R> {
    fn fill(&mut self) -> Result<&[u8], Error> {
        if self.pos == self.chunk.len() && !self.done {
            self.chunk.resize(INLINE_CHUNK, 0);
            let n = self.decoding.fill_chunk(&mut self.chunk)?;
            self.chunk.truncate(n);
            self.pos = 0;
            if n < INLINE_CHUNK {
                self.done = true;
                self.decoding.finish()?;
            }
            if let Some(copy) = self.copy.as_mut() {
                copy.write_all(&self.chunk)
                    .map_err(|source| Error::Copy { source })?;
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        debug_assert!(self.pos + n <= self.chunk.len());
        self.pos += n;
    }
}
