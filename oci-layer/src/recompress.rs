//! Recompressing a layer: decompress a layer stream (gzip, zstd or a plain tar, told apart
//! by its first bytes), check its diffID (and, when given, the digest and size of the
//! input) while it streams, and compress it again with the compressors of
//! [`create`](mod@crate::create), measuring the new digest, size and diffID in the same pass.
//!
//! Memory stays bounded: the input is read and decompressed on a thread of its own and
//! handed over in chunks of 256 KiB through a channel of a few chunks; nothing holds the
//! whole layer.
//!
//! The output is written as it is produced: on an error, what was written is garbage to
//! the caller (write into a temporary blob and publish only on success).

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::sync::mpsc;

use oci_digest::{Unverifiable, VerifyError, VerifyingReader};
use oci_spec_types::digest::Digest;
use oci_spec_types::media_type::{self, MediaType};

use crate::create::sink::Sink;
use crate::create::{Compression, Error as CreateError};
use crate::tar::{Decoder, SniffError, compression_name};

/// Uncompressed bytes per chunk handed from the decompressing thread to the compressor
/// (small: the chunks in flight count toward the peak memory).
const CHUNK: usize = 256 << 10;
/// Chunks in flight between the two threads.
const IN_FLIGHT: usize = 4;

/// What [`recompress`] does and checks.
#[derive(Debug, Clone)]
pub struct RecompressOptions {
    /// The compression of the output.
    pub compression: Compression,
    /// Compression threads; 0 means all cores. The output never depends on it.
    pub threads: usize,
    /// The diffID the uncompressed stream must have (from the image config).
    pub diff_id: Option<Digest>,
    /// The digest the input must have, and its size when known (from the layer
    /// descriptor). Leave it `None` when the reader already verifies them.
    pub input: Option<(Digest, Option<u64>)>,
}

impl RecompressOptions {
    /// Recompression to `compression` on all cores, checking nothing.
    pub fn new(compression: Compression) -> RecompressOptions {
        RecompressOptions {
            compression,
            threads: 0,
            diff_id: None,
            input: None,
        }
    }
}

/// What [`recompress`] produced: both identities of the new layer, and what the input was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recompressed {
    /// The OCI layer media type of the output compression.
    pub media_type: MediaType,
    /// The sha256 digest of the bytes written.
    pub digest: Digest,
    /// The number of bytes written.
    pub size: u64,
    /// The sha256 digest of the uncompressed tar (checked against the expected diffID when
    /// one was given).
    pub diff_id: Digest,
    /// The compression the input had.
    pub input_compression: media_type::Compression,
    /// The number of bytes read from the input.
    pub input_size: u64,
}

/// Why a layer could not be recompressed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecompressError {
    /// The input does not match the expected digest or size.
    #[error("layer {} does not match its descriptor", source.expected_digest())]
    Input {
        /// The mismatch.
        #[source]
        source: VerifyError,
    },
    /// The expected input digest has an algorithm that cannot be verified.
    #[error(transparent)]
    Unverifiable(#[from] Unverifiable),
    /// The uncompressed stream does not hash to the expected diffID.
    #[error(
        "diffID mismatch: the uncompressed layer hashes to {actual}, the config says {expected}"
    )]
    DiffId {
        /// The diffID expected.
        expected: Digest,
        /// The diffID of the uncompressed stream.
        actual: Digest,
    },
    /// Reading the input failed.
    #[error("reading the layer")]
    Read {
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The input is not valid in the compression its first bytes announce.
    #[error("decompressing the {compression} layer")]
    Decompress {
        /// `gzip` or `zstd`.
        compression: &'static str,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },
    /// The compression level is out of range.
    #[error("invalid {compression} level {level}")]
    Level {
        /// `gzip` or `zstd`.
        compression: &'static str,
        /// The level asked for.
        level: i64,
    },
    /// Compressing or writing the output failed.
    #[error("writing the recompressed layer")]
    Write {
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl RecompressError {
    /// Whether the input is at fault (a digest, size or diffID mismatch, or content that
    /// does not decompress): a check failure rather than an I/O error.
    pub fn is_check_failure(&self) -> bool {
        matches!(
            self,
            RecompressError::Input { .. }
                | RecompressError::Unverifiable(_)
                | RecompressError::DiffId { .. }
                | RecompressError::Decompress { .. }
        )
    }
}

/// Decompresses the layer read from `input`, checks it as `options` ask, and writes it to
/// `out` compressed as `options.compression` says.
///
/// The input is read to its end (so that its digest is checked even past the end of the
/// compressed stream).
pub fn recompress<R, W>(
    input: R,
    mut out: W,
    options: &RecompressOptions,
) -> Result<Recompressed, RecompressError>
where
    R: Read + Send,
    W: Write,
{
    recompress_dyn(&mut ReadSend(input), &mut out, options)
}

/// `Read + Send` as one trait object.
struct ReadSend<R>(R);

impl<R: Read> Read for ReadSend<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

fn recompress_dyn(
    input: &mut (dyn Read + Send),
    out: &mut dyn Write,
    options: &RecompressOptions,
) -> Result<Recompressed, RecompressError> {
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut sink = Sink::new(out, options.compression, threads).map_err(|e| match e {
        CreateError::Level { compression, level } => RecompressError::Level { compression, level },
        CreateError::Write(source) => RecompressError::Write { source },
        other => RecompressError::Write {
            source: io::Error::other(other.to_string()),
        },
    })?;
    let input: Box<dyn Read + Send + '_> = match &options.input {
        Some((digest, size)) => {
            Box::new(VerifyingReader::with_optional_size(input, digest, *size)?)
        }
        None => Box::new(input),
    };
    let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT);
    let (recycle_tx, recycle_rx) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT + 1);
    let (decoded, written) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || decode(input, &tx, &recycle_rx));
        let mut written: Result<(), io::Error> = Ok(());
        for chunk in rx.iter() {
            if written.is_ok() {
                written = sink.write_all(&chunk);
            }
            if written.is_err() {
                // Stop the reader: dropping the receiver makes its next send fail.
                break;
            }
            let _ = recycle_tx.try_send(chunk);
        }
        drop(rx);
        let decoded = reader.join().unwrap_or_else(|_| {
            Err(RecompressError::Read {
                source: io::Error::other("the decompressing thread panicked"),
            })
        });
        (decoded, written)
    });
    let decoded = decoded?;
    written.map_err(|source| RecompressError::Write { source })?;
    let (diff_id, compressed) = sink
        .finish()
        .map_err(|source| RecompressError::Write { source })?;
    if let Some(expected) = &options.diff_id
        && *expected != diff_id.digest
    {
        return Err(RecompressError::DiffId {
            expected: expected.clone(),
            actual: diff_id.digest,
        });
    }
    Ok(Recompressed {
        media_type: options.compression.media_type(),
        digest: compressed.digest,
        size: compressed.size,
        diff_id: diff_id.digest,
        input_compression: decoded.compression,
        input_size: decoded.read,
    })
}

/// What the decompressing thread found.
struct Decoded {
    compression: media_type::Compression,
    read: u64,
}

/// Counts what is read from the input and remembers whether the input itself failed
/// (as opposed to the decoder).
struct Counted<'a> {
    inner: Box<dyn Read + Send + 'a>,
    read: Rc<Cell<u64>>,
    failed: Rc<Cell<bool>>,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    self.read.set(self.read.get() + n as u64);
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

/// Body of the decompressing thread: reads and decompresses `input` to its end, sending
/// the uncompressed bytes in chunks, then reads what follows the compressed stream.
fn decode<'a>(
    input: Box<dyn Read + Send + 'a>,
    tx: &mpsc::SyncSender<Vec<u8>>,
    recycled: &mpsc::Receiver<Vec<u8>>,
) -> Result<Decoded, RecompressError> {
    let read = Rc::new(Cell::new(0u64));
    let failed = Rc::new(Cell::new(false));
    let counted = Counted {
        inner: input,
        read: Rc::clone(&read),
        failed: Rc::clone(&failed),
    };
    let (compression, mut decoder) = match Decoder::sniff(counted) {
        Ok(sniffed) => sniffed,
        Err(SniffError::Read(source)) => return Err(input_error(source, true, "tar")),
        Err(SniffError::Zstd(source)) => {
            return Err(RecompressError::Decompress {
                compression: "zstd",
                source,
            });
        }
    };
    loop {
        let mut buf = recycled.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let mut n = 0;
        while n < CHUNK {
            match decoder.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(m) => n += m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    let error = input_error(source, failed.get(), compression_name(compression));
                    if let RecompressError::Decompress { .. } = error {
                        // Damaged content often fails to decompress before its digest
                        // is checked at the end: read on, so that a digest mismatch is
                        // reported as what it is.
                        let mut rest = decoder.into_input();
                        if let Err(e) = io::copy(&mut rest, &mut io::sink())
                            && let Some(v) = VerifyError::from_io(&e)
                        {
                            return Err(RecompressError::Input { source: v.clone() });
                        }
                    }
                    return Err(error);
                }
            }
        }
        let end = n < CHUNK;
        buf.truncate(n);
        if n > 0 && tx.send(buf).is_err() {
            // The writer stopped; its own error is what gets reported.
            return Err(RecompressError::Write {
                source: io::Error::other("the writer stopped"),
            });
        }
        if end {
            break;
        }
    }
    // Whatever follows the compressed stream is read too, so that a verifying input
    // checks its digest and size at its end.
    let mut rest = decoder.into_input();
    if let Err(source) = io::copy(&mut rest, &mut io::sink()) {
        return Err(input_error(source, true, "tar"));
    }
    Ok(Decoded {
        compression,
        read: read.get(),
    })
}

/// Classifies an error met while reading: a verification failure of the input, a failure
/// of the input itself, or the decoder refusing the content.
fn input_error(source: io::Error, from_input: bool, compression: &'static str) -> RecompressError {
    if let Some(v) = VerifyError::from_io(&source) {
        return RecompressError::Input { source: v.clone() };
    }
    if from_input || compression == "tar" {
        RecompressError::Read { source }
    } else {
        RecompressError::Decompress {
            compression,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use oci_digest::Digester;
    use oci_spec_types::digest::Algorithm;

    use super::*;

    fn sha256(bytes: &[u8]) -> Digest {
        Digester::digest_bytes(Algorithm::Sha256, bytes).digest
    }

    /// Not a real tar: recompression does not look inside.
    fn payload() -> Vec<u8> {
        (0..3_000_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_to_zstd_and_back_keeps_the_diff_id() {
        let tar = payload();
        let gz = gzip(&tar);
        let mut options = RecompressOptions::new(Compression::DEFAULT_ZSTD);
        options.diff_id = Some(sha256(&tar));
        options.input = Some((sha256(&gz), Some(gz.len() as u64)));
        let mut zst = Vec::new();
        let r = recompress(&gz[..], &mut zst, &options).unwrap();
        assert_eq!(r.input_compression, media_type::Compression::Gzip);
        assert_eq!(r.input_size, gz.len() as u64);
        assert_eq!(r.media_type.as_str(), media_type::LAYER_TAR_ZSTD);
        assert_eq!(r.digest, sha256(&zst));
        assert_eq!(r.size, zst.len() as u64);
        assert_eq!(r.diff_id, sha256(&tar));
        assert_eq!(zstd::decode_all(&zst[..]).unwrap(), tar);

        let mut plain = Vec::new();
        let r = recompress(
            &zst[..],
            &mut plain,
            &RecompressOptions::new(Compression::None),
        )
        .unwrap();
        assert_eq!(r.input_compression, media_type::Compression::Zstd);
        assert_eq!(plain, tar);
        let mut gz2 = Vec::new();
        let r = recompress(
            &plain[..],
            &mut gz2,
            &RecompressOptions::new(Compression::DEFAULT_GZIP),
        )
        .unwrap();
        assert_eq!(r.input_compression, media_type::Compression::None);
        assert_eq!(r.diff_id, sha256(&tar));
    }

    #[test]
    fn a_wrong_diff_id_or_input_digest_is_refused() {
        let tar = payload();
        let gz = gzip(&tar);
        let mut options = RecompressOptions::new(Compression::DEFAULT_ZSTD);
        options.diff_id = Some(sha256(b"other"));
        let e = recompress(&gz[..], io::sink(), &options).unwrap_err();
        assert!(matches!(e, RecompressError::DiffId { .. }), "{e}");
        assert!(e.is_check_failure());

        let mut options = RecompressOptions::new(Compression::DEFAULT_ZSTD);
        options.input = Some((sha256(b"other"), None));
        let e = recompress(&gz[..], io::sink(), &options).unwrap_err();
        assert!(matches!(e, RecompressError::Input { .. }), "{e}");

        let mut options = RecompressOptions::new(Compression::DEFAULT_ZSTD);
        options.input = Some((sha256(&gz), Some(gz.len() as u64 - 1)));
        let e = recompress(&gz[..], io::sink(), &options).unwrap_err();
        assert!(matches!(e, RecompressError::Input { .. }), "{e}");
    }

    #[test]
    fn damaged_gzip_is_a_decompress_error() {
        let mut gz = gzip(&payload());
        let middle = gz.len() / 2;
        gz[middle] ^= 0xff;
        gz.truncate(gz.len() - 100);
        let e = recompress(
            &gz[..],
            io::sink(),
            &RecompressOptions::new(Compression::None),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                RecompressError::Decompress {
                    compression: "gzip",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.is_check_failure());
    }

    #[test]
    fn damaged_input_with_a_digest_is_an_input_error() {
        let gz = gzip(&payload());
        let digest = sha256(&gz);
        let mut damaged = gz.clone();
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0xff;
        let mut options = RecompressOptions::new(Compression::None);
        options.input = Some((digest, Some(gz.len() as u64)));
        let e = recompress(&damaged[..], io::sink(), &options).unwrap_err();
        assert!(matches!(e, RecompressError::Input { .. }), "{e}");
    }
}
