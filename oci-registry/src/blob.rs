//! A blob download: streamed, verified by digest and size as it goes, resumed with a
//! `Range` request after a broken connection.

use std::fmt;
use std::io::{self, Read};

use oci_digest::Digester;
use oci_spec_types::Digest;

use crate::client::{Request, Response};
use crate::error::{Error, ErrorKind};
use crate::repository::Repository;

/// A blob being read. Each `read` hands on bytes already hashed; the last `read` (the
/// one returning 0) checks the digest. Errors are [`io::Error`]s wrapping an [`Error`]
/// ([`Error::from_io`]): kind `InvalidData` for content that fails verification.
pub struct BlobReader {
    repository: Repository,
    digest: Digest,
    size: u64,
    digester: Option<Digester>,
    read: u64,
    body: Option<ureq::BodyReader<'static>>,
    url: String,
    resumes: u32,
    done: bool,
}

impl fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobReader")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("read", &self.read)
            .field("resumes", &self.resumes)
            .finish()
    }
}

impl BlobReader {
    pub(crate) fn open(
        repository: Repository,
        digest: Digest,
        size: u64,
    ) -> Result<BlobReader, Error> {
        let Some(algorithm) = digest.algorithm() else {
            return Err(repository.ctx(Some(&digest)).error(ErrorKind::Input {
                reason: format!("unregistered digest algorithm {}", digest.algorithm_name()),
            }));
        };
        let url = repository.url(&format!("blobs/{digest}"));
        let mut reader = BlobReader {
            repository,
            digest,
            size,
            digester: Some(Digester::new(algorithm)),
            read: 0,
            body: None,
            url,
            resumes: 0,
            done: false,
        };
        reader.request(0)?;
        Ok(reader)
    }

    /// The digest being verified.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The size expected.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes handed on so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Times the download was resumed after a broken connection.
    pub fn resumes(&self) -> u32 {
        self.resumes
    }

    /// GETs the blob from `offset` on (a `Range` request when `offset > 0`; a registry
    /// answering 200 instead of 206 has its first `offset` bytes skipped).
    fn request(&mut self, offset: u64) -> Result<(), Error> {
        let repository = self.repository.clone();
        let ctx = repository.ctx(Some(&self.digest));
        let mut request = Request::new("GET", self.url.clone(), repository.pull_scope())
            .header("Accept", "application/octet-stream, */*");
        if offset > 0 {
            request = request.header("Range", format!("bytes={offset}-"));
        }
        let response: Response = repository.client.execute(ctx, request)?;
        let at = |kind| ctx.error(kind).url(&response.url).status(response.status);
        let mut skip = 0;
        match response.status {
            200 => {
                if response.content_length().is_some_and(|n| n > self.size) {
                    return Err(at(ErrorKind::SizeMismatch {
                        expected: self.size,
                        actual: response.content_length().unwrap_or(0),
                    }));
                }
                skip = offset;
            }
            206 if offset > 0 => {
                let start = response
                    .header("content-range")
                    .and_then(|v| v.trim().strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if start != Some(offset) {
                    return Err(at(ErrorKind::BadResponse {
                        reason: format!(
                            "asked for bytes from {offset}, got Content-Range {start:?}"
                        ),
                    }));
                }
            }
            _ => return Err(repository.client.status_error(ctx, response)),
        }
        let mut body = response.body.into_reader();
        if skip > 0 {
            let skipped = io::copy(&mut (&mut body).take(skip), &mut io::sink())
                .map_err(|e| ctx.error(ErrorKind::Transport).url(&self.url).source(e))?;
            if skipped != skip {
                return Err(ctx.error(ErrorKind::Transport).url(&self.url));
            }
        }
        self.body = Some(body);
        Ok(())
    }

    fn fail(&self, kind: ErrorKind) -> io::Error {
        self.repository
            .ctx(Some(&self.digest))
            .error(kind)
            .url(&self.url)
            .into_io()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.done = true;
        let digester = self.digester.take().expect("finished once");
        let measured = digester.finish();
        if measured.size != self.size {
            return Err(self.fail(ErrorKind::SizeMismatch {
                expected: self.size,
                actual: measured.size,
            }));
        }
        if measured.digest != self.digest {
            return Err(self.fail(ErrorKind::DigestMismatch {
                actual: measured.digest,
            }));
        }
        Ok(())
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        loop {
            // Read one byte past the size, to notice a longer body at once.
            let want = (self.size - self.read + 1).min(buf.len() as u64) as usize;
            let result = match self.body.as_mut() {
                Some(body) => body.read(&mut buf[..want]),
                None => Err(io::Error::other("no body")),
            };
            match result {
                Ok(0) if self.read == self.size => {
                    self.finish()?;
                    return Ok(0);
                }
                Ok(n) => {
                    if n > 0 && self.read + n as u64 > self.size {
                        self.done = true;
                        return Err(self.fail(ErrorKind::SizeMismatch {
                            expected: self.size,
                            actual: self.read + n as u64,
                        }));
                    }
                    if n > 0 {
                        self.read += n as u64;
                        if let Some(d) = self.digester.as_mut() {
                            d.update(&buf[..n]);
                        }
                        return Ok(n);
                    }
                    // A body cut short: resume.
                    self.resume(None)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.resume(Some(e))?,
            }
        }
    }
}

impl BlobReader {
    fn resume(&mut self, cause: Option<io::Error>) -> io::Result<()> {
        self.body = None;
        let limit = self.repository.client.options().resumes;
        if self.resumes >= limit {
            self.done = true;
            let e = self
                .repository
                .ctx(Some(&self.digest))
                .error(ErrorKind::Transport)
                .url(&self.url);
            let e = match cause {
                Some(c) => e.source(c),
                None => e.with_kind(ErrorKind::SizeMismatch {
                    expected: self.size,
                    actual: self.read,
                }),
            };
            return Err(e.into_io());
        }
        self.resumes += 1;
        tracing::debug!(
            "{}: resuming {} at byte {} of {}",
            crate::http::redact(&self.url),
            self.digest,
            self.read,
            self.size
        );
        let offset = self.read;
        self.request(offset).map_err(|e| {
            self.done = true;
            e.into_io()
        })
    }
}
