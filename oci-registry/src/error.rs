//! The one error type of the protocol client: what went wrong ([`ErrorKind`], with its
//! evidence) and where (registry, repository, URL, digest, HTTP status and the
//! distribution error codes of the body). A cause is exposed as
//! [`source()`](std::error::Error::source), never repeated in the message.

use std::fmt;
use std::sync::Arc;

use oci_spec_types::Digest;

/// One entry of a distribution error body (`{"errors": [{"code", "message", "detail"}]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCode {
    /// The code, such as `MANIFEST_UNKNOWN` or `DENIED` (registries use codes outside the
    /// spec's list too).
    pub code: String,
    /// The message, empty when there was none.
    pub message: String,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 404: the registry does not have it.
    NotFound,
    /// 401 after authenticating (or with no way to authenticate).
    Unauthorized,
    /// 403.
    Denied,
    /// Another unexpected status.
    Status,
    /// The registry asked to wait longer than allowed, or kept failing: retries ran out
    /// (the last status or transport error is the rest of the error).
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
    },
    /// Connection, TLS, name lookup, timeout or protocol failure.
    Transport,
    /// The content does not hash to the digest asked for.
    DigestMismatch {
        /// What was computed.
        actual: Digest,
    },
    /// The content is not as long as its descriptor says.
    SizeMismatch {
        /// The size expected.
        expected: u64,
        /// The size received (at least; reading stops at the first extra byte).
        actual: u64,
    },
    /// The registry's `Docker-Content-Digest` does not match the bytes.
    HeaderDigestMismatch {
        /// The header's value.
        header: String,
    },
    /// A body is larger than allowed (a manifest over 4 MiB, say).
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// A manifest's `mediaType` differs from the response's `Content-Type`.
    MediaTypeMismatch {
        /// The `Content-Type` without parameters.
        content_type: String,
        /// The body's `mediaType`.
        media_type: String,
    },
    /// A response is not what the protocol says (no JSON, a missing header, a malformed
    /// value).
    BadResponse {
        /// What is wrong.
        reason: String,
    },
    /// An upload response has no `Location`.
    MissingLocation,
    /// An upload's offset stopped advancing.
    UploadStalled {
        /// The offset the registry kept reporting.
        offset: u64,
    },
    /// A URL is refused: plain http without insecure, a `Link` to another origin, a
    /// scheme other than http(s).
    Refused {
        /// Why.
        reason: String,
    },
    /// The authentication handshake failed (a challenge without realm, a token endpoint
    /// that gives no token).
    Auth {
        /// What failed.
        reason: String,
    },
    /// Credentials could not be looked up.
    Credentials,
    /// The registry does not support the operation (a referrers API answering with
    /// something other than an index, deletion turned off).
    Unsupported,
    /// The caller's data cannot be used (a reader shorter than the descriptor, an invalid
    /// reference).
    Input {
        /// What is wrong.
        reason: String,
    },
    /// The referrers tag holds something other than an image index (or the subject).
    NotAnIndex {
        /// What it holds (its media type).
        media_type: String,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::NotFound => f.write_str("not found"),
            ErrorKind::Unauthorized => f.write_str("unauthorized"),
            ErrorKind::Denied => f.write_str("denied"),
            ErrorKind::Status => f.write_str("unexpected response"),
            ErrorKind::RetriesExhausted { attempts } => {
                write!(f, "gave up after {attempts} attempts")
            }
            ErrorKind::Transport => f.write_str("transfer failed"),
            ErrorKind::DigestMismatch { actual } => write!(f, "content has digest {actual}"),
            ErrorKind::SizeMismatch { expected, actual } => {
                write!(f, "content is {actual} bytes, expected {expected}")
            }
            ErrorKind::HeaderDigestMismatch { header } => {
                write!(
                    f,
                    "Docker-Content-Digest {header} does not match the content"
                )
            }
            ErrorKind::TooLarge { limit } => write!(f, "larger than {limit} bytes"),
            ErrorKind::MediaTypeMismatch {
                content_type,
                media_type,
            } => write!(
                f,
                "mediaType {media_type:?} differs from Content-Type {content_type:?}"
            ),
            ErrorKind::BadResponse { reason } => write!(f, "bad response: {reason}"),
            ErrorKind::MissingLocation => f.write_str("upload response has no Location"),
            ErrorKind::UploadStalled { offset } => {
                write!(f, "upload does not advance (stuck at offset {offset})")
            }
            ErrorKind::Refused { reason } => write!(f, "refused: {reason}"),
            ErrorKind::Auth { reason } => write!(f, "authentication failed: {reason}"),
            ErrorKind::Credentials => f.write_str("cannot look up credentials"),
            ErrorKind::Unsupported => f.write_str("not supported by the registry"),
            ErrorKind::Input { reason } => f.write_str(reason),
            ErrorKind::NotAnIndex { media_type } => {
                write!(f, "referrers tag holds {media_type}, not an image index")
            }
        }
    }
}

/// A failed registry operation. Its message reads
/// `KIND (registry R, repository N, digest D, URL U, HTTP S, CODE: message)` with the parts
/// that are known.
#[derive(Debug, Clone)]
pub struct Error(Box<Details>);

#[derive(Debug, Clone)]
struct Details {
    kind: ErrorKind,
    registry: String,
    repository: Option<String>,
    url: Option<String>,
    digest: Option<Digest>,
    status: Option<u16>,
    codes: Vec<ErrorCode>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// An error of `kind` at `registry`.
    pub fn new(kind: ErrorKind, registry: &str) -> Error {
        Error(Box::new(Details {
            kind,
            registry: registry.to_owned(),
            repository: None,
            url: None,
            digest: None,
            status: None,
            codes: Vec::new(),
            source: None,
        }))
    }

    pub(crate) fn repository(mut self, repository: &str) -> Error {
        if self.0.repository.is_none() && !repository.is_empty() {
            self.0.repository = Some(repository.to_owned());
        }
        self
    }

    pub(crate) fn url(mut self, url: &str) -> Error {
        if self.0.url.is_none() {
            self.0.url = Some(crate::http::redact(url));
        }
        self
    }

    pub(crate) fn digest(mut self, digest: &Digest) -> Error {
        if self.0.digest.is_none() {
            self.0.digest = Some(digest.clone());
        }
        self
    }

    pub(crate) fn status(mut self, status: u16) -> Error {
        self.0.status = Some(status);
        self
    }

    pub(crate) fn codes(mut self, codes: Vec<ErrorCode>) -> Error {
        self.0.codes = codes;
        self
    }

    pub(crate) fn source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        self.0.source = Some(Arc::new(source));
        self
    }

    pub(crate) fn source_arc(mut self, source: Arc<dyn std::error::Error + Send + Sync>) -> Error {
        self.0.source = Some(source);
        self
    }

    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Error {
        self.0.kind = kind;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The registry (`HOST[:PORT]`).
    pub fn registry_name(&self) -> &str {
        &self.0.registry
    }

    /// The repository, when the operation had one.
    pub fn repository_name(&self) -> Option<&str> {
        self.0.repository.as_deref()
    }

    /// The URL at fault (credentials removed), when a request was made.
    pub fn url_at_fault(&self) -> Option<&str> {
        self.0.url.as_deref()
    }

    /// The digest at fault, when there is one.
    pub fn digest_at_fault(&self) -> Option<&Digest> {
        self.0.digest.as_ref()
    }

    /// The HTTP status, when a response came.
    pub fn http_status(&self) -> Option<u16> {
        self.0.status
    }

    /// The distribution error codes of the response body.
    pub fn error_codes(&self) -> &[ErrorCode] {
        &self.0.codes
    }

    /// True for a 404 (or a `*_UNKNOWN` code).
    pub fn is_not_found(&self) -> bool {
        matches!(self.0.kind, ErrorKind::NotFound)
    }

    /// The [`Error`] inside an I/O error of a reader from this crate (a blob being read).
    pub fn from_io(error: &std::io::Error) -> Option<&Error> {
        error.get_ref().and_then(|e| e.downcast_ref::<Error>())
    }

    /// This error as an I/O error (kind `InvalidData` for content that fails
    /// verification, `Other` otherwise), from which [`Error::from_io`] gets it back.
    pub fn into_io(self) -> std::io::Error {
        let kind = match self.0.kind {
            ErrorKind::DigestMismatch { .. }
            | ErrorKind::SizeMismatch { .. }
            | ErrorKind::TooLarge { .. }
            | ErrorKind::HeaderDigestMismatch { .. } => std::io::ErrorKind::InvalidData,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, self)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (registry {}", self.0.kind, self.0.registry)?;
        if let Some(r) = &self.0.repository {
            write!(f, ", repository {r}")?;
        }
        if let Some(d) = &self.0.digest {
            write!(f, ", digest {d}")?;
        }
        if let Some(u) = &self.0.url {
            write!(f, ", {u}")?;
        }
        if let Some(s) = self.0.status {
            write!(f, ", HTTP {s}")?;
        }
        for c in &self.0.codes {
            if c.message.is_empty() {
                write!(f, ", {}", c.code)?;
            } else {
                write!(f, ", {}: {}", c.code, c.message)?;
            }
        }
        f.write_str(")")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The error codes of a distribution error body; none when it is not one.
pub(crate) fn parse_error_body(body: &[u8]) -> Vec<ErrorCode> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
        return Vec::new();
    };
    parsed
        .errors
        .into_iter()
        .take(8)
        .map(|e| ErrorCode {
            code: e.code.unwrap_or_default(),
            message: e.message.unwrap_or_default().chars().take(200).collect(),
        })
        .collect()
}
