//! Adapters that digest what passes through them on its way to or from another stream.

use std::io::{self, Read, Write};

use oci_spec_types::digest::Algorithm;

use crate::digester::{Digester, Measured};

/// A [`Write`] adapter that passes bytes to an inner writer and digests exactly the bytes
/// the inner writer accepted: writing a blob and digesting it take one pass.
///
/// Finish with [`DigestWriter::finish`], which flushes the inner writer and returns it with
/// the digest and size.
#[derive(Debug)]
pub struct DigestWriter<W> {
    inner: W,
    digester: Digester,
}

impl<W: Write> DigestWriter<W> {
    /// Digests with `algorithm` what is written to `inner`.
    pub fn new(inner: W, algorithm: Algorithm) -> Self {
        DigestWriter {
            inner,
            digester: Digester::new(algorithm),
        }
    }

    /// The number of bytes written so far.
    pub fn size(&self) -> u64 {
        self.digester.size()
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Flushes the inner writer and returns it with the digest and size of all bytes written.
    pub fn finish(mut self) -> io::Result<(W, Measured)> {
        self.inner.flush()?;
        Ok((self.inner, self.digester.finish()))
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digester.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A [`Read`] adapter that digests every byte read through it, for example the
/// uncompressed stream of a layer on its way to a tar reader (its DiffID).
///
/// The digest covers what was read: read to the end before calling
/// [`DigestReader::finish`] when the digest of the whole stream is wanted.
#[derive(Debug)]
pub struct DigestReader<R> {
    inner: R,
    digester: Digester,
}

impl<R: Read> DigestReader<R> {
    /// Digests with `algorithm` what is read from `inner`.
    pub fn new(inner: R, algorithm: Algorithm) -> Self {
        DigestReader {
            inner,
            digester: Digester::new(algorithm),
        }
    }

    /// The number of bytes read so far.
    pub fn size(&self) -> u64 {
        self.digester.size()
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Returns the inner reader with the digest and size of all bytes read.
    pub fn finish(self) -> (R, Measured) {
        (self.inner, self.digester.finish())
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digester.update(&buf[..n]);
        Ok(n)
    }
}
