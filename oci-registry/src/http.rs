//! A small HTTP(S) client for discovery: HTTPS with the system's trusted roots, plain
//! HTTP only when insecure, bounded bodies, timeouts and redirects, and curl-style
//! `--connect-to` overrides so that tests and mirrors need no DNS.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::ResponseExt as _;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

/// How the client behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Plain `http://` URLs are allowed (TLS verification is never switched off).
    pub insecure: bool,
    /// Connections to a host (any port) go to this address instead; the `Host` header and
    /// TLS server name stay the host's. Host names compare case-insensitively.
    pub connect_to: Vec<(String, SocketAddr)>,
    /// The whole request, redirects included.
    pub timeout: Duration,
    /// Establishing a connection.
    pub connect_timeout: Duration,
    /// Name lookups (those no `connect_to` entry covers).
    pub resolve_timeout: Duration,
    /// Redirects followed before giving up.
    pub max_redirects: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure: false,
            connect_to: Vec::new(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            resolve_timeout: Duration::from_secs(3),
            max_redirects: 5,
        }
    }
}

/// Why a fetch failed. Each variant names the URL at fault; a transport failure exposes
/// its cause as [`source()`](std::error::Error::source), not in its message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be fetched (not http(s), or plain http without insecure).
    #[error("{url}: refused URL ({reason})")]
    Refused {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with a non-success status.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is larger than allowed.
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// Redirects went on for too long (a loop, most likely).
    #[error("{url}: more than {max} redirects")]
    TooManyRedirects {
        /// The URL.
        url: String,
        /// The limit.
        max: u32,
    },
    /// Anything else on the way: name lookup, connection, TLS, timeout, protocol.
    #[error("{url}: transfer failed")]
    Transport {
        /// The URL.
        url: String,
        /// The cause (a `ureq::Error` or an `std::io::Error`).
        #[source]
        cause: Arc<dyn std::error::Error + Send + Sync>,
    },
}

/// A successful response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The URL that answered, after redirects (the base for relative references).
    pub url: String,
    /// The body.
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct ConnectTo {
    pub(crate) map: Vec<(String, SocketAddr)>,
    pub(crate) fallback: DefaultResolver,
}

impl Resolver for ConnectTo {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(host) = uri.host()
            && let Some((_, addr)) = self.map.iter().find(|(h, _)| h.eq_ignore_ascii_case(host))
        {
            let mut out = self.fallback.empty();
            out.push(*addr);
            return Ok(out);
        }
        self.fallback.resolve(uri, config, timeout)
    }
}

/// An HTTP(S) client with the limits of [`ClientOptions`].
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    options: ClientOptions,
}

impl Client {
    /// A client with these options.
    pub fn new(options: ClientOptions) -> Client {
        let config = ureq::Agent::config_builder()
            .https_only(!options.insecure)
            .proxy(None)
            .timeout_global(Some(options.timeout))
            .timeout_connect(Some(options.connect_timeout))
            .timeout_resolve(Some(options.resolve_timeout))
            .max_redirects(options.max_redirects)
            .max_redirects_will_error(true)
            .http_status_as_error(true)
            .user_agent(concat!("ocimg/", env!("CARGO_PKG_VERSION")))
            .tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::PlatformVerifier)
                    .build(),
            )
            .build();
        let resolver = ConnectTo {
            map: options.connect_to.clone(),
            fallback: DefaultResolver::default(),
        };
        let agent = ureq::Agent::with_parts(config, DefaultConnector::default(), resolver);
        Client { agent, options }
    }

    /// The options the client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Refuses URLs that are not https (or http when insecure).
    fn check_scheme(&self, url: &str) -> Result<(), FetchError> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("https") => Ok(()),
            Some("http") if self.options.insecure => Ok(()),
            Some("http") => Err(refused(url, "plain http needs --insecure")),
            _ => Err(refused(url, "only http and https URLs are fetched")),
        }
    }

    /// Turns a ureq error met while fetching `url` into a [`FetchError`].
    fn map_error(&self, url: &str, limit: u64, error: ureq::Error) -> FetchError {
        match error {
            ureq::Error::StatusCode(status) => FetchError::Status {
                url: url.to_owned(),
                status,
            },
            ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge {
                url: url.to_owned(),
                limit,
            },
            ureq::Error::TooManyRedirects => FetchError::TooManyRedirects {
                url: url.to_owned(),
                max: self.options.max_redirects,
            },
            ureq::Error::RequireHttpsOnly(_) => {
                refused(url, "redirect to plain http needs --insecure")
            }
            other => FetchError::Transport {
                url: url.to_owned(),
                cause: Arc::new(other),
            },
        }
    }

    /// GETs `url` and streams its body: at most `limit` bytes, a longer body is an error,
    /// not a truncation (at once when the `Content-Length` says so, else when the excess
    /// arrives). Returns the URL that answered (after redirects) and a reader.
    ///
    /// Meant for blobs of any size, so [`ClientOptions::timeout`] does not bound the whole
    /// transfer: it bounds sending the request and the wait for each response's headers,
    /// then each read of the body (an idle timeout), however long the whole transfer
    /// takes; connecting and name lookups keep their own timeouts. Scheme, insecure and
    /// redirect rules are those of [`Client::get`].
    ///
    /// Errors met while reading are [`std::io::Error`]s wrapping a [`FetchError`] (see
    /// [`FetchError::from_io`]): [`FetchError::TooLarge`] for the excess (kind
    /// `InvalidData`), [`FetchError::Transport`] naming the URL for anything else.
    pub fn open(
        &self,
        url: &str,
        accept: &str,
        limit: u64,
    ) -> Result<(String, Box<dyn Read + Send>), FetchError> {
        self.check_scheme(url)?;
        let idle = self.options.timeout;
        let started = Instant::now();
        let response = self
            .agent
            .get(url)
            .config()
            .timeout_global(None)
            .timeout_send_request(Some(idle))
            .timeout_recv_response(Some(idle))
            .timeout_per_read(Some(idle))
            .build()
            .header("Accept", accept)
            .call();
        let response =
            log_request(url, started, response).map_err(|e| self.map_error(url, limit, e))?;
        let final_url = response.get_uri().to_string();
        let announced = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > limit) {
            return Err(FetchError::TooLarge {
                url: final_url,
                limit,
            });
        }
        let reader = response
            .into_body()
            .into_with_config()
            .limit(limit)
            .reader();
        Ok((
            final_url.clone(),
            Box::new(StreamReader {
                inner: reader,
                url: final_url,
                limit,
            }),
        ))
    }

    /// GETs `url` with an `Accept` header and returns at most `limit` bytes of body;
    /// a longer body is an error, not a truncation.
    pub fn get(&self, url: &str, accept: &str, limit: u64) -> Result<Fetched, FetchError> {
        self.check_scheme(url)?;
        let map = |e: ureq::Error| self.map_error(url, limit, e);
        let started = Instant::now();
        let response = self.agent.get(url).header("Accept", accept).call();
        let mut response = log_request(url, started, response).map_err(map)?;
        let final_url = response.get_uri().to_string();
        let body = response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(map)?;
        Ok(Fetched {
            url: final_url,
            body,
        })
    }
}

/// Logs a GET at debug level (`tracing`): URL without its userinfo, status or error, and
/// time taken. Headers, which may carry credentials, are never logged.
fn log_request<T>(
    url: &str,
    started: Instant,
    result: Result<ureq::http::Response<T>, ureq::Error>,
) -> Result<ureq::http::Response<T>, ureq::Error> {
    let ms = started.elapsed().as_millis();
    let url = redact(url);
    match &result {
        Ok(r) => tracing::debug!("GET {url} {} ({ms} ms)", r.status().as_u16()),
        Err(ureq::Error::StatusCode(status)) => tracing::debug!("GET {url} {status} ({ms} ms)"),
        Err(e) => tracing::debug!("GET {url} failed after {ms} ms: {e}"),
    }
    result
}

/// `url` with any `user:password@` replaced by `***@`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

fn refused(url: &str, reason: &str) -> FetchError {
    FetchError::Refused {
        url: url.to_owned(),
        reason: reason.to_owned(),
    }
}

impl FetchError {
    /// The [`FetchError`] inside an I/O error of a reader from [`Client::open`].
    pub fn from_io(error: &io::Error) -> Option<&FetchError> {
        error.get_ref().and_then(|e| e.downcast_ref::<FetchError>())
    }

    /// The URL at fault.
    pub fn url(&self) -> &str {
        match self {
            FetchError::Refused { url, .. }
            | FetchError::Status { url, .. }
            | FetchError::TooLarge { url, .. }
            | FetchError::TooManyRedirects { url, .. }
            | FetchError::Transport { url, .. } => url,
        }
    }
}

/// The body of a streamed response: read errors become [`FetchError`]s naming the URL.
struct StreamReader {
    inner: ureq::BodyReader<'static>,
    url: String,
    limit: u64,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let too_large = e
                .get_ref()
                .and_then(|i| i.downcast_ref::<ureq::Error>())
                .is_some_and(|i| matches!(i, ureq::Error::BodyExceedsLimit(_)));
            if too_large {
                let error = FetchError::TooLarge {
                    url: self.url.clone(),
                    limit: self.limit,
                };
                return io::Error::new(io::ErrorKind::InvalidData, error);
            }
            let kind = e.kind();
            let error = FetchError::Transport {
                url: self.url.clone(),
                cause: Arc::new(e),
            };
            io::Error::new(kind, error)
        })
    }
}
