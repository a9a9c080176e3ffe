//! Where the tar stream goes: a digester for the diffID, the compressor, a digester for the
//! layer digest and size, then the caller's writer. One pass gives both identities.

use std::io::{self, BufWriter, Write};

use oci_digest::{Digester, Measured};
use oci_spec_types::digest::Algorithm;

use super::pgzip::ParGz;
use super::{Compression, Error};

/// Bytes per zstd job (the unit each worker compresses). The default at level 3 is 8 MiB
/// (about 90 MiB peak RSS with two workers); 2 MiB halves the speed on two cores; 4 MiB
/// keeps both speed and a peak RSS near 60 MiB with two workers.
const ZSTD_JOB: u32 = 4 << 20;

/// Counts and digests what reaches the caller's writer.
pub(crate) struct Counted<'w> {
    inner: BufWriter<&'w mut dyn Write>,
    digester: Digester,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digester.update(&buf[..n]);
        Ok(n)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf)?;
        self.digester.update(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Counted<'_> {
    fn finish(mut self) -> io::Result<Measured> {
        self.inner.flush()?;
        Ok(self.digester.finish())
    }
}

enum Encoder<'w> {
    None(Counted<'w>),
    Gzip(ParGz<Counted<'w>>),
    Zstd(zstd::stream::write::Encoder<'static, Counted<'w>>),
}

/// The tar stream's destination.
pub(crate) struct Sink<'w> {
    diff_id: Digester,
    encoder: Encoder<'w>,
}

impl<'w> Sink<'w> {
    pub(crate) fn new(
        out: &'w mut dyn Write,
        compression: Compression,
        threads: usize,
    ) -> Result<Sink<'w>, Error> {
        let counted = Counted {
            inner: BufWriter::with_capacity(256 * 1024, out),
            digester: Digester::new(Algorithm::Sha256),
        };
        let encoder = match compression {
            Compression::None => Encoder::None(counted),
            Compression::Gzip { level } => {
                if level > 9 {
                    return Err(Error::Level {
                        compression: "gzip",
                        level: i64::from(level),
                    });
                }
                Encoder::Gzip(ParGz::new(counted, level, threads).map_err(Error::Write)?)
            }
            Compression::Zstd { level } => {
                if !zstd::compression_level_range().contains(&level) {
                    return Err(Error::Level {
                        compression: "zstd",
                        level: i64::from(level),
                    });
                }
                let mut e =
                    zstd::stream::write::Encoder::new(counted, level).map_err(Error::Write)?;
                // Always the multi-threaded mode, even with one worker: its output depends on
                // the job size (a function of the level), never on the number of workers.
                let workers = u32::try_from(threads.max(1)).unwrap_or(u32::MAX);
                e.multithread(workers).map_err(Error::Write)?;
                // A fixed job size (not the level's default of up to 4 windows) bounds the
                // memory: each worker holds about one job of input and its output.
                e.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB))
                    .map_err(Error::Write)?;
                e.include_checksum(true).map_err(Error::Write)?;
                Encoder::Zstd(e)
            }
        };
        Ok(Sink {
            diff_id: Digester::new(Algorithm::Sha256),
            encoder,
        })
    }

    /// Ends the compressed stream; returns (diffID, compressed digest and size).
    pub(crate) fn finish(self) -> io::Result<(Measured, Measured)> {
        let diff_id = self.diff_id.finish();
        let compressed = match self.encoder {
            Encoder::None(c) => c.finish()?,
            Encoder::Gzip(g) => g.finish()?.finish()?,
            Encoder::Zstd(z) => z.finish()?.finish()?,
        };
        Ok((diff_id, compressed))
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.encoder {
            Encoder::None(c) => c.write_all(buf)?,
            Encoder::Gzip(g) => g.write_all(buf)?,
            Encoder::Zstd(z) => z.write_all(buf)?,
        }
        self.diff_id.update(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
