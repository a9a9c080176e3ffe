//! Blob uploads: HEAD first, cross-repository mount, monolithic PUT for small blobs,
//! chunked PATCH with `Content-Range` for the rest, resumed from the upload's status after
//! a broken connection or a 416; the digest is computed while the bytes stream by.

use std::io::{self, Read};

use oci_digest::Digester;
use oci_spec_types::Digest;

use crate::auth::Scope;
use crate::client::{Ctx, Request, Response, resolve};
use crate::error::{Error, ErrorKind};
use crate::repository::Repository;

/// How a blob got to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The registry had it already (HEAD): nothing sent.
    Existed,
    /// Mounted from another repository of the registry: nothing sent.
    Mounted,
    /// Uploaded.
    Uploaded,
}

/// Options of one blob push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// A repository of the same registry known to hold the blob: it is mounted from
    /// there (falling back to an upload when the registry refuses).
    pub mount_from: Option<String>,
    /// Skip the HEAD (the caller just checked).
    pub skip_exists_check: bool,
}

/// Upload attempts that do not move the offset before giving up.
const MAX_STALLS: u32 = 3;

/// The `digest` query parameter added to an upload location.
fn with_digest(location: &str, digest: &Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!(
        "{location}{sep}digest={}",
        crate::client::encode_component(digest.as_str())
    )
}

/// `Range: 0-N` (inclusive) as the next offset `N + 1`; `0-0` is read as 0 bytes when
/// nothing was sent yet, as distribution reports an empty session.
fn parse_range_end(value: &str) -> Option<u64> {
    let v = value.trim();
    let v = v.strip_prefix("bytes=").unwrap_or(v);
    let (start, end) = v.split_once('-')?;
    let _start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    Some(end + 1)
}

/// Reads until `buf` is full or the reader ends; the number of bytes read.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl Repository {
    /// Pushes a blob of known `digest` and `size` from `reader`: nothing is sent when the
    /// registry has it; a mount when [`PushOptions::mount_from`] names a source; else an
    /// upload, in one PUT when it fits in [`crate::RegistryOptions::chunk_size`], in
    /// chunks otherwise. The reader is read once; its bytes must hash to `digest` and
    /// number `size`, or the upload is cancelled and nothing is committed.
    pub fn push_blob(
        &self,
        digest: &Digest,
        size: u64,
        reader: &mut dyn Read,
        options: &PushOptions,
    ) -> Result<Pushed, Error> {
        let ctx = self.ctx(Some(digest));
        if !options.skip_exists_check && self.blob_exists(digest)?.is_some() {
            return Ok(Pushed::Existed);
        }
        let Some(algorithm) = digest.algorithm() else {
            return Err(ctx.error(ErrorKind::Input {
                reason: format!("unregistered digest algorithm {}", digest.algorithm_name()),
            }));
        };
        let mut scopes = self.push_scope();
        let mut url = self.url("blobs/uploads/");
        let mount_from = options.mount_from.as_deref().filter(|f| *f != self.name);
        if let Some(from) = mount_from {
            scopes.push(Scope::pull(from));
            url.push_str(&format!(
                "?mount={}&from={}",
                crate::client::encode_component(digest.as_str()),
                crate::client::encode_component(from)
            ));
        }
        let response = self
            .client
            .execute(ctx, Request::new("POST", url, scopes))?;
        if response.status == 201 && mount_from.is_some() {
            return Ok(Pushed::Mounted);
        }
        let session = if response.status == 202 {
            response
        } else if mount_from.is_some() {
            // The mount was refused outright: a plain upload.
            tracing::debug!(
                "mount of {digest} refused (HTTP {}), uploading",
                response.status
            );
            self.open_session(ctx)?
        } else {
            return Err(self.client.status_error(ctx, response));
        };
        self.upload(ctx, &session, algorithm, reader, Some((digest, size)))?;
        Ok(Pushed::Uploaded)
    }

    /// Pushes a blob whose digest is not known beforehand (a layer being compressed, say):
    /// always an upload, the digest computed with `algorithm` while the bytes stream by,
    /// in one PUT when it all fits in one chunk, in chunks otherwise. Returns the digest
    /// and size committed.
    pub fn push_blob_stream(
        &self,
        algorithm: oci_digest::Algorithm,
        reader: &mut dyn Read,
    ) -> Result<(Digest, u64), Error> {
        let ctx = self.ctx(None);
        let session = self.open_session(ctx)?;
        self.upload(ctx, &session, algorithm, reader, None)
    }

    /// POSTs a new upload session.
    fn open_session(&self, ctx: Ctx<'_>) -> Result<Response, Error> {
        let response = self.client.execute(
            ctx,
            Request::new("POST", self.url("blobs/uploads/"), self.push_scope()),
        )?;
        if response.status != 202 {
            return Err(self.client.status_error(ctx, response));
        }
        Ok(response)
    }

    fn upload(
        &self,
        ctx: Ctx<'_>,
        session: &Response,
        algorithm: oci_digest::Algorithm,
        reader: &mut dyn Read,
        expected: Option<(&Digest, u64)>,
    ) -> Result<(Digest, u64), Error> {
        let location = location_of(ctx, session)?;
        let min_chunk = session
            .header("oci-chunk-min-length")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0)
            .min(64 << 20);
        let mut upload = Upload {
            repository: self,
            ctx,
            location,
            digester: Digester::new(algorithm),
            expected,
        };
        let chunk = self.client.options().chunk_size.max(min_chunk).max(1);
        let result = upload.run(reader, chunk);
        if result.is_err() {
            upload.cancel();
        }
        result
    }
}

fn location_of(ctx: Ctx<'_>, response: &Response) -> Result<String, Error> {
    match response.header("location") {
        Some(l) if !l.trim().is_empty() => Ok(resolve(&response.url, l.trim())),
        _ => Err(ctx
            .error(ErrorKind::MissingLocation)
            .url(&response.url)
            .status(response.status)),
    }
}

struct Upload<'a> {
    repository: &'a Repository,
    ctx: Ctx<'a>,
    location: String,
    digester: Digester,
    expected: Option<(&'a Digest, u64)>,
}

impl Upload<'_> {
    fn read_error(&self, e: io::Error) -> Error {
        self.ctx
            .error(ErrorKind::Input {
                reason: "cannot read the blob".into(),
            })
            .source(e)
    }

    /// Checks what was read against the descriptor, when there is one: the digest.
    fn measured(&self) -> Result<Digest, Error> {
        let measured = self.digester.clone().finish();
        if let Some((digest, size)) = self.expected {
            if measured.size != size {
                return Err(self.ctx.error(ErrorKind::SizeMismatch {
                    expected: size,
                    actual: measured.size,
                }));
            }
            if measured.digest != *digest {
                return Err(self.ctx.error(ErrorKind::DigestMismatch {
                    actual: measured.digest,
                }));
            }
        }
        Ok(measured.digest)
    }

    fn too_long(&self) -> Result<(), Error> {
        if let Some((_, size)) = self.expected
            && self.digester.size() > size
        {
            return Err(self.ctx.error(ErrorKind::SizeMismatch {
                expected: size,
                actual: self.digester.size(),
            }));
        }
        Ok(())
    }

    fn committed(&self, response: Response, digest: &Digest) -> Result<(), Error> {
        if !(200..300).contains(&response.status) {
            return Err(self
                .repository
                .client
                .status_error(self.ctx, response)
                .digest(digest));
        }
        crate::repository::check_header_digest(&response, digest).map_err(|kind| {
            self.ctx
                .error(kind)
                .digest(digest)
                .url(&response.url)
                .status(response.status)
        })
    }

    /// Reads chunk by chunk: a blob that ends within the first chunk goes in one PUT,
    /// anything longer in PATCHes and a closing PUT.
    fn run(&mut self, reader: &mut dyn Read, chunk: usize) -> Result<(Digest, u64), Error> {
        // A known small size needs a buffer of that size only (plus one byte, to notice
        // a longer reader).
        let first_len = match self.expected {
            Some((_, size)) if size < chunk as u64 => size as usize + 1,
            _ => chunk,
        };
        let mut buf = vec![0u8; first_len];
        let n = read_full(reader, &mut buf).map_err(|e| self.read_error(e))?;
        self.digester.update(&buf[..n]);
        self.too_long()?;
        if n < first_len {
            let digest = self.measured()?;
            let url = with_digest(&self.location, &digest);
            let request = Request::new("PUT", url, self.repository.push_scope())
                .header("Content-Type", "application/octet-stream")
                .body(&buf[..n]);
            let response = self.repository.client.execute(self.ctx, request)?;
            self.committed(response, &digest)?;
            return Ok((digest, n as u64));
        }
        buf.resize(chunk, 0);
        let mut offset = self.send_chunk(&buf[..n], 0)?;
        loop {
            let n = read_full(reader, &mut buf).map_err(|e| self.read_error(e))?;
            if n == 0 {
                break;
            }
            self.digester.update(&buf[..n]);
            self.too_long()?;
            offset = self.send_chunk(&buf[..n], offset)?;
            if n < chunk {
                break;
            }
        }
        let digest = self.measured()?;
        let url = with_digest(&self.location, &digest);
        let request = Request::new("PUT", url, self.repository.push_scope());
        let response = self.repository.client.execute(self.ctx, request)?;
        self.committed(response, &digest)?;
        Ok((digest, offset))
    }

    /// Sends `data` (which starts at `start`), resuming from the registry's offset after
    /// a broken connection or a 416; the offset after it.
    fn send_chunk(&mut self, data: &[u8], start: u64) -> Result<u64, Error> {
        let end = start + data.len() as u64;
        let mut at = start;
        let mut stalls = 0;
        while at < end {
            let part = &data[(at - start) as usize..];
            let request =
                Request::new("PATCH", self.location.clone(), self.repository.push_scope())
                    .header("Content-Type", "application/octet-stream")
                    .header("Content-Range", format!("{at}-{}", end - 1))
                    .body(part);
            let before = at;
            match self.repository.client.execute(self.ctx, request) {
                Ok(response)
                    if response.status == 202
                        || response.status == 201
                        || response.status == 204 =>
                {
                    self.location = location_of(self.ctx, &response)?;
                    at = match response.header("range").and_then(parse_range_end) {
                        Some(next) => next,
                        None => end,
                    };
                }
                Ok(response) if response.status == 416 => {
                    at = self.status_offset()?;
                }
                Ok(response) => {
                    return Err(self.repository.client.status_error(self.ctx, response));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Transport | ErrorKind::RetriesExhausted { .. }
                    ) =>
                {
                    tracing::debug!("upload: {e}; asking the registry where it stands");
                    at = self.status_offset().map_err(|_| e)?;
                }
                Err(e) => return Err(e),
            }
            if at < start || at > end {
                return Err(self.ctx.error(ErrorKind::BadResponse {
                    reason: format!(
                        "the upload is at offset {at}, outside the chunk {start}-{end} being sent"
                    ),
                })
                .url(&self.location));
            }
            if at <= before {
                stalls += 1;
                if stalls >= MAX_STALLS {
                    return Err(self
                        .ctx
                        .error(ErrorKind::UploadStalled { offset: at })
                        .url(&self.location));
                }
            } else {
                stalls = 0;
            }
        }
        Ok(end)
    }

    /// GETs the upload's status: its offset (and a new location when it sends one).
    fn status_offset(&mut self) -> Result<u64, Error> {
        let response = self.repository.client.execute(
            self.ctx,
            Request::new("GET", self.location.clone(), self.repository.push_scope()),
        )?;
        if response.status != 204 && response.status != 202 && response.status != 200 {
            return Err(self.repository.client.status_error(self.ctx, response));
        }
        if let Some(l) = response.header("location").filter(|l| !l.trim().is_empty()) {
            self.location = resolve(&response.url, l.trim());
        }
        // `0-0` is what distribution says of an empty session (and of one byte): read
        // it as empty, the safe side.
        Ok(match response.header("range").map(str::trim) {
            Some("0-0") | None => 0,
            Some(v) => parse_range_end(v).unwrap_or(0),
        })
    }

    /// Abandons the upload (a DELETE whose failure is ignored).
    fn cancel(&self) {
        let _ = self.repository.client.execute(
            self.ctx,
            Request::new(
                "DELETE",
                self.location.clone(),
                self.repository.push_scope(),
            ),
        );
    }
}
