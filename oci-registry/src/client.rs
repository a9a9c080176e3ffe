//! The registry client: options, one connection pool per host, authentication, retries,
//! redirects and the per-host transfer limit. [`Repository`](crate::Repository) speaks
//! the distribution API over it.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use oci_spec_types::Digest;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::DefaultConnector;

use crate::auth::{
    Anonymous, Challenge, CredentialSource, HostAuth, Scope, Token, TokenCache, TokenResponse,
    merge_scopes, parse_challenges,
};
use crate::credentials::Credential;
use crate::error::{Error, ErrorKind, parse_error_body};
use crate::http::ConnectTo;
use crate::limit::{Permit, Semaphore};
use crate::repository::Repository;

/// Why the TLS or proxy settings of a host could not be made.
pub type NetworkError = Box<dyn std::error::Error + Send + Sync>;

/// Where TLS trust and proxies come from, per host. The default ([`SystemNetwork`]) trusts
/// the system roots and uses no proxy; `oci_registry::tls` and `oci_registry::proxy`
/// give the containers tools' rules (certs.d, `--cert-dir`, `HTTPS_PROXY`...).
pub trait Network: fmt::Debug + Send + Sync {
    /// The TLS configuration for `host` (`HOST[:PORT]`); `verify` is false for an
    /// insecure registry.
    fn tls_config(&self, host: &str, verify: bool) -> Result<TlsConfig, NetworkError>;
    /// The proxy for `url` (`SCHEME://HOST[:PORT]/`), `None` to connect directly.
    fn proxy(&self, url: &str) -> Result<Option<ureq::Proxy>, NetworkError>;
}

/// The system's trusted roots (through the platform verifier), no proxy.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemNetwork;

impl Network for SystemNetwork {
    fn tls_config(&self, _host: &str, verify: bool) -> Result<TlsConfig, NetworkError> {
        Ok(TlsConfig::builder()
            .root_certs(RootCerts::PlatformVerifier)
            .disable_verification(!verify)
            .build())
    }

    fn proxy(&self, _url: &str) -> Result<Option<ureq::Proxy>, NetworkError> {
        Ok(None)
    }
}

/// How a [`RegistryClient`] behaves.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Where credentials come from (default: anonymous).
    pub credentials: Arc<dyn CredentialSource>,
    /// TLS trust and proxies per host (default: system roots, no proxy).
    pub network: Arc<dyn Network>,
    /// Registries (`HOST[:PORT]`) reached with unverified TLS, or plain HTTP when TLS
    /// fails (`--tls-verify=false`, `insecure = true` in registries.conf).
    pub insecure: BTreeSet<String>,
    /// Every registry is insecure.
    pub insecure_all: bool,
    /// Retries of a request after 408, 429, 5xx or a broken connection
    /// (`--retry-times`); 0 disables them.
    pub retries: u32,
    /// The first backoff delay; each retry doubles it (with jitter), up to
    /// [`RegistryOptions::max_delay`].
    pub backoff: Duration,
    /// The longest wait between two attempts, `Retry-After` included: a registry asking
    /// for more is given up on.
    pub max_delay: Duration,
    /// The longest time spent retrying one request.
    pub retry_budget: Duration,
    /// Parallel blob transfers per host (`--jobs`); the connection pool keeps at least
    /// this many connections per host.
    pub jobs: usize,
    /// Establishing a connection.
    pub connect_timeout: Duration,
    /// Waiting for a response's headers, and each read or write of a body (an idle
    /// timeout: a long transfer is not cut as long as bytes flow).
    pub timeout: Duration,
    /// Connections to a host (any port) go to this address instead, keeping the `Host`
    /// header and TLS server name (curl's `--connect-to`; for tests and mirrors).
    pub connect_to: Vec<(String, SocketAddr)>,
    /// The largest chunk of a chunked upload, and the largest blob sent in one PUT.
    pub chunk_size: usize,
    /// Resumes of one blob download after a broken connection.
    pub resumes: u32,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            credentials: Arc::new(Anonymous),
            network: Arc::new(SystemNetwork),
            insecure: BTreeSet::new(),
            insecure_all: false,
            retries: 3,
            backoff: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            retry_budget: Duration::from_secs(120),
            jobs: 4,
            connect_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
            connect_to: Vec::new(),
            chunk_size: 4 << 20,
            resumes: 5,
        }
    }
}

/// A client for OCI distribution registries: cheap to clone (shared state), safe to use
/// from several threads. It keeps a connection pool per host, bearer tokens per scope
/// set, what it learnt of each host (scheme, authentication) and the per-host transfer
/// limit.
///
/// ```
/// use oci_registry::{RegistryClient, RegistryOptions};
///
/// let client = RegistryClient::new(RegistryOptions { jobs: 8, ..RegistryOptions::default() });
/// let repo = client.repository("registry.example:5000", "team/app");
/// assert_eq!(repo.name(), "team/app");
/// assert_eq!(client.options().jobs, 8);
/// ```
#[derive(Debug, Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: RegistryOptions,
    agents: Mutex<HashMap<(String, String), ureq::Agent>>,
    schemes: Mutex<HashMap<String, &'static str>>,
    auth: Mutex<HashMap<String, HostAuth>>,
    tokens: Mutex<TokenCache>,
    credentials: Mutex<HashMap<(String, String), Option<Credential>>>,
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One request as the engine sends it.
pub(crate) struct Request<'a> {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<&'a [u8]>,
    pub scopes: Vec<Scope>,
}

impl<'a> Request<'a> {
    pub fn new(method: &'static str, url: String, scopes: Vec<Scope>) -> Request<'a> {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
            scopes,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request<'a> {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: &'a [u8]) -> Request<'a> {
        self.body = Some(body);
        self
    }
}

/// Where an operation happens, for errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub registry: &'a str,
    pub repository: &'a str,
    pub digest: Option<&'a Digest>,
}

impl Ctx<'_> {
    pub fn error(&self, kind: ErrorKind) -> Error {
        let e = Error::new(kind, self.registry).repository(self.repository);
        match self.digest {
            Some(d) => e.digest(d),
            None => e,
        }
    }
}

/// A response: status, headers, the URL that answered and the body, unread.
pub(crate) struct Response {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: ureq::Body,
    pub url: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    /// The body, at most `limit` bytes (a longer one is [`ErrorKind::TooLarge`]).
    pub fn read_limited(self, ctx: Ctx<'_>, limit: u64) -> Result<(Vec<u8>, Response), Error> {
        let Response {
            status,
            headers,
            body,
            url,
        } = self;
        if headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > limit)
        {
            return Err(ctx
                .error(ErrorKind::TooLarge { limit })
                .url(&url)
                .status(status));
        }
        let mut out = Vec::new();
        let mut reader = body.into_reader().take(limit + 1);
        if let Err(e) = reader.read_to_end(&mut out) {
            return Err(ctx
                .error(ErrorKind::Transport)
                .url(&url)
                .status(status)
                .source(e));
        }
        if out.len() as u64 > limit {
            return Err(ctx
                .error(ErrorKind::TooLarge { limit })
                .url(&url)
                .status(status));
        }
        let rest = Response {
            status,
            headers,
            body: ureq::Body::builder().data(Vec::<u8>::new()),
            url,
        };
        Ok((out, rest))
    }
}

/// The largest error body read for its codes.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;
/// Redirects followed for a GET or HEAD.
const MAX_REDIRECTS: u32 = 5;
/// Authentication rounds (a 401, a new token, again) for one request.
const MAX_AUTH_ROUNDS: u32 = 3;

fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status) && status != 501
}

/// `Retry-After` in seconds (an HTTP date is read as "soon": one backoff step).
fn retry_after(response: &Response) -> Option<Duration> {
    let v = response.header("retry-after")?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

/// The authority (`HOST[:PORT]`, lowercased) and origin (`scheme://authority`) of a URL.
pub(crate) fn authority(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let auth = rest[..end].rsplit('@').next()?.to_ascii_lowercase();
    Some((format!("{}://{}", scheme.to_ascii_lowercase(), auth), auth))
}

/// Resolves `reference` (an absolute URL, an absolute path or a relative path) against
/// `base`.
pub(crate) fn resolve(base: &str, reference: &str) -> String {
    if reference.contains("://") {
        return reference.to_owned();
    }
    let Some((origin, _)) = authority(base) else {
        return reference.to_owned();
    };
    if let Some(rest) = reference.strip_prefix("//") {
        let scheme = origin.split("://").next().unwrap_or("https");
        return format!("{scheme}://{rest}");
    }
    if reference.starts_with('/') {
        return format!("{origin}{reference}");
    }
    // A relative path: replace the last segment of the base's path.
    let path_start = origin.len();
    let base_path = &base[path_start..];
    let base_path = base_path.split(['?', '#']).next().unwrap_or("");
    let dir = match base_path.rfind('/') {
        Some(i) => &base_path[..=i],
        None => "/",
    };
    format!("{origin}{dir}{reference}")
}

impl RegistryClient {
    /// A client with these options.
    pub fn new(options: RegistryOptions) -> RegistryClient {
        RegistryClient {
            inner: Arc::new(Inner {
                options,
                agents: Mutex::default(),
                schemes: Mutex::default(),
                auth: Mutex::default(),
                tokens: Mutex::default(),
                credentials: Mutex::default(),
                limits: Mutex::default(),
            }),
        }
    }

    /// The options the client was built with.
    pub fn options(&self) -> &RegistryOptions {
        &self.inner.options
    }

    /// A handle on repository `name` (`ns/app`) of `registry` (`HOST[:PORT]`, as in an
    /// image reference; `docker.io` is Docker Hub, reached at `registry-1.docker.io`).
    pub fn repository(&self, registry: &str, name: &str) -> Repository {
        Repository::new(self.clone(), registry, name)
    }

    /// Checks that `registry` speaks the distribution API: `GET /v2/` answers 200
    /// (after authenticating, where it asks for it).
    pub fn ping(&self, registry: &str) -> Result<(), Error> {
        let ctx = Ctx {
            registry,
            repository: "",
            digest: None,
        };
        let url = format!("{}/v2/", self.base_url(registry));
        let response = self.execute(ctx, Request::new("GET", url, Vec::new()))?;
        match response.status {
            200..=299 => Ok(()),
            _ => Err(self.status_error(ctx, response)),
        }
    }

    /// Waits for a transfer slot of `registry` (at most [`RegistryOptions::jobs`] at
    /// once per host); the slot is free again when the permit drops.
    pub fn transfer_permit(&self, registry: &str) -> Permit {
        let semaphore = {
            let mut limits = self.inner.limits.lock().expect("lock");
            limits
                .entry(registry.to_ascii_lowercase())
                .or_insert_with(|| Arc::new(Semaphore::new(self.inner.options.jobs.max(1))))
                .clone()
        };
        Semaphore::acquire(&semaphore)
    }

    /// The host that serves `registry` (Docker Hub's API host for `docker.io`).
    pub(crate) fn api_host(registry: &str) -> &str {
        match registry {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        }
    }

    fn is_insecure(&self, registry: &str) -> bool {
        let o = &self.inner.options;
        // An entry names `HOST[:PORT]`; a bare `HOST` covers every port.
        let host_only = |a: &str| -> Option<String> {
            let (h, p) = a.rsplit_once(':')?;
            (p.bytes().all(|b| b.is_ascii_digit()) && (!h.contains(':') || h.ends_with(']')))
                .then(|| h.to_owned())
        };
        o.insecure_all
            || [registry, Self::api_host(registry)].iter().any(|r| {
                o.insecure.contains(*r) || host_only(r).is_some_and(|h| o.insecure.contains(&h))
            })
    }

    /// `https://HOST` or, for an insecure registry whose TLS failed, `http://HOST`.
    pub(crate) fn base_url(&self, registry: &str) -> String {
        let host = Self::api_host(registry);
        let scheme = self
            .inner
            .schemes
            .lock()
            .expect("lock")
            .get(host)
            .copied()
            .unwrap_or("https");
        format!("{scheme}://{host}")
    }

    fn agent(
        &self,
        scheme: &str,
        authority: &str,
        verify: bool,
    ) -> Result<ureq::Agent, NetworkError> {
        let key = (format!("{scheme}:{verify}"), authority.to_owned());
        if let Some(a) = self.inner.agents.lock().expect("lock").get(&key) {
            return Ok(a.clone());
        }
        let o = &self.inner.options;
        let tls = o.network.tls_config(authority, verify)?;
        let proxy = o.network.proxy(&format!("{scheme}://{authority}/"))?;
        let pool = o.jobs.max(1) + 2;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .https_only(false)
            .proxy(proxy)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(o.connect_timeout))
            .timeout_send_request(Some(o.timeout))
            .timeout_recv_response(Some(o.timeout))
            .timeout_per_read(Some(o.timeout))
            .timeout_per_write(Some(o.timeout))
            .max_idle_connections_per_host(pool)
            .max_idle_connections(pool * 4)
            .user_agent(concat!("ocimg/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build();
        let resolver = ConnectTo {
            map: o.connect_to.clone(),
            fallback: DefaultResolver::default(),
        };
        let agent = ureq::Agent::with_parts(config, DefaultConnector::default(), resolver);
        self.inner
            .agents
            .lock()
            .expect("lock")
            .insert(key, agent.clone());
        Ok(agent)
    }

    /// Sends one request once (no retry, no authentication round), following redirects
    /// of a GET or HEAD by hand: `authorization` goes to the registry's own host only.
    fn send_once(
        &self,
        ctx: Ctx<'_>,
        request: &Request<'_>,
        authorization: Option<&str>,
    ) -> Result<Response, Error> {
        let registry_host = Self::api_host(ctx.registry).to_ascii_lowercase();
        let mut url = request.url.clone();
        let follow = matches!(request.method, "GET" | "HEAD");
        for _ in 0..=MAX_REDIRECTS {
            let Some((origin, auth_host)) = authority(&url) else {
                return Err(ctx
                    .error(ErrorKind::Refused {
                        reason: "not an absolute URL".into(),
                    })
                    .url(&url));
            };
            let scheme = origin.split("://").next().unwrap_or("");
            let insecure = self.is_insecure(ctx.registry) && auth_host == registry_host;
            if scheme != "https"
                && !(scheme == "http" && (insecure || self.is_insecure(&auth_host)))
            {
                return Err(ctx
                    .error(ErrorKind::Refused {
                        reason: format!("{scheme} needs an insecure registry"),
                    })
                    .url(&url));
            }
            let verify = !(insecure || self.is_insecure(&auth_host));
            let agent = self.agent(scheme, &auth_host, verify).map_err(|e| {
                ctx.error(ErrorKind::Transport)
                    .url(&url)
                    .source_arc(Arc::from(e))
            })?;
            let mut builder = ureq::http::Request::builder()
                .method(request.method)
                .uri(&url);
            for (k, v) in &request.headers {
                builder = builder.header(*k, v);
            }
            if let Some(a) = authorization
                && auth_host == registry_host
            {
                builder = builder.header("Authorization", a);
            }
            let started = Instant::now();
            let result = match (request.body, request.method) {
                (Some(body), _) => builder.body(body).map(|r| agent.run(r)),
                (None, "PUT" | "POST" | "PATCH") => builder.body(&[][..]).map(|r| agent.run(r)),
                (None, _) => builder.body(()).map(|r| agent.run(r)),
            };
            let result = match result {
                Ok(r) => r,
                Err(e) => {
                    return Err(ctx
                        .error(ErrorKind::Refused {
                            reason: "malformed request".into(),
                        })
                        .url(&url)
                        .source(e));
                }
            };
            let ms = started.elapsed().as_millis();
            let shown = crate::http::redact(&url);
            let response = match result {
                Ok(r) => {
                    tracing::debug!(
                        "{} {shown} {} ({ms} ms)",
                        request.method,
                        r.status().as_u16()
                    );
                    r
                }
                Err(e) => {
                    tracing::debug!("{} {shown} failed after {ms} ms: {e}", request.method);
                    return Err(ctx.error(ErrorKind::Transport).url(&url).source(e));
                }
            };
            let status = response.status().as_u16();
            let (parts, body) = response.into_parts();
            let response = Response {
                status,
                headers: parts.headers,
                body,
                url: url.clone(),
            };
            if follow && matches!(status, 301 | 302 | 303 | 307 | 308) {
                let Some(location) = response.header("location") else {
                    return Ok(response);
                };
                url = resolve(&url, location);
                continue;
            }
            return Ok(response);
        }
        Err(ctx
            .error(ErrorKind::Refused {
                reason: format!("more than {MAX_REDIRECTS} redirects"),
            })
            .url(&url))
    }

    /// Sends a request with authentication and retries: a 401 teaches the host's
    /// challenge and gets a new token (scopes merged with the challenge's); 408, 429, 5xx
    /// and broken connections are retried with backoff, honouring `Retry-After`, within
    /// [`RegistryOptions::retries`] and [`RegistryOptions::retry_budget`]. Any other
    /// response is returned, whatever its status.
    pub(crate) fn execute(&self, ctx: Ctx<'_>, request: Request<'_>) -> Result<Response, Error> {
        let options = &self.inner.options;
        let started = Instant::now();
        let mut scopes = request.scopes.clone();
        let mut attempts = 0u32;
        let mut auth_rounds = 0u32;
        let mut scheme_fallback_done = false;
        let host = Self::api_host(ctx.registry).to_owned();
        let mut request = request;
        loop {
            attempts += 1;
            let authorization = self.authorization(ctx, &scopes)?;
            let result = self.send_once(ctx, &request, authorization.as_deref());
            let delay = match result {
                Ok(response) if response.status == 401 && auth_rounds < MAX_AUTH_ROUNDS => {
                    auth_rounds += 1;
                    let challenges: Vec<Challenge> = response
                        .headers
                        .get_all("www-authenticate")
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .flat_map(parse_challenges)
                        .collect();
                    let learnt = self.learn(&host, &challenges, &mut scopes);
                    if let Some(a) = &authorization
                        && let Some(token) = a.strip_prefix("Bearer ")
                    {
                        self.inner.tokens.lock().expect("lock").forget(&host, token);
                    } else if !learnt {
                        return Err(self.status_error(ctx, response));
                    }
                    if !learnt && authorization.is_none() {
                        return Err(self.status_error(ctx, response));
                    }
                    attempts -= 1;
                    continue;
                }
                Ok(response) if retryable(response.status) => {
                    let wait = retry_after(&response).unwrap_or_else(|| self.backoff(attempts));
                    if attempts > options.retries
                        || wait > options.max_delay
                        || started.elapsed() + wait > options.retry_budget
                    {
                        if attempts == 1 {
                            return Ok(response);
                        }
                        let status = response.status;
                        let e = self.status_error(ctx, response);
                        return Err(e
                            .with_kind(ErrorKind::RetriesExhausted { attempts })
                            .status(status));
                    }
                    tracing::debug!(
                        "{} {}: HTTP {}, retrying in {wait:?}",
                        request.method,
                        crate::http::redact(&request.url),
                        response.status
                    );
                    wait
                }
                Ok(response) => return Ok(response),
                Err(e) if matches!(e.kind(), ErrorKind::Transport) => {
                    // An insecure registry without TLS: plain HTTP, once.
                    if !scheme_fallback_done
                        && self.is_insecure(ctx.registry)
                        && request.url.starts_with("https://")
                        && authority(&request.url)
                            .is_some_and(|(_, a)| a == host.to_ascii_lowercase())
                        && attempts == 1
                    {
                        scheme_fallback_done = true;
                        self.inner
                            .schemes
                            .lock()
                            .expect("lock")
                            .insert(host.clone(), "http");
                        request.url = format!("http://{}", &request.url["https://".len()..]);
                        attempts -= 1;
                        continue;
                    }
                    let wait = self.backoff(attempts);
                    if attempts > options.retries || started.elapsed() + wait > options.retry_budget
                    {
                        if attempts == 1 {
                            return Err(e);
                        }
                        return Err(e.with_kind(ErrorKind::RetriesExhausted { attempts }));
                    }
                    wait
                }
                Err(e) => return Err(e),
            };
            std::thread::sleep(delay);
        }
    }

    /// The delay before attempt `attempt + 1`: exponential with jitter.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let o = &self.inner.options;
        let base = o
            .backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(10));
        // Jitter from the clock: up to a quarter more.
        let nanos = u64::from(Instant::now().elapsed().subsec_nanos())
            ^ u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0),
            );
        let jitter = base.mul_f64((nanos % 1000) as f64 / 4000.0);
        (base + jitter).min(o.max_delay)
    }

    /// Records what a 401's challenges say about `host`; adds a bearer challenge's scopes
    /// to `scopes`. False when nothing usable was learnt.
    fn learn(&self, host: &str, challenges: &[Challenge], scopes: &mut Vec<Scope>) -> bool {
        let bearer = challenges.iter().find(|c| c.scheme == "bearer");
        let basic = challenges.iter().find(|c| c.scheme == "basic");
        let mut auth = self.inner.auth.lock().expect("lock");
        if let Some(b) = bearer
            && let Some(realm) = b.param("realm")
        {
            let before = auth.get(host).cloned();
            let now = HostAuth::Bearer {
                realm: realm.to_owned(),
                service: b.param("service").map(str::to_owned),
            };
            let mut changed = before.as_ref() != Some(&now);
            auth.insert(host.to_owned(), now);
            if let Some(scope) = b.param("scope") {
                let extra: Vec<Scope> = scope.split_whitespace().filter_map(Scope::parse).collect();
                let merged = merge_scopes(scopes.iter().chain(&extra));
                if merged != *scopes {
                    changed = true;
                    *scopes = merged;
                }
            }
            // A new token is fetched anyway once the refused one is forgotten.
            let _ = changed;
            return true;
        }
        if basic.is_some() {
            let was = auth.insert(host.to_owned(), HostAuth::Basic);
            return was != Some(HostAuth::Basic);
        }
        false
    }

    fn credential(&self, ctx: Ctx<'_>, repository: &str) -> Result<Option<Credential>, Error> {
        let key = (ctx.registry.to_owned(), repository.to_owned());
        if let Some(c) = self.inner.credentials.lock().expect("lock").get(&key) {
            return Ok(c.clone());
        }
        let found = self
            .inner
            .options
            .credentials
            .credential(ctx.registry, repository)
            .map_err(|e| ctx.error(ErrorKind::Credentials).source_arc(Arc::from(e)))?;
        self.inner
            .credentials
            .lock()
            .expect("lock")
            .insert(key, found.clone());
        Ok(found)
    }

    /// The `Authorization` value for a request with `scopes`, fetching a token when the
    /// host wants bearer tokens and none cached covers them.
    fn authorization(&self, ctx: Ctx<'_>, scopes: &[Scope]) -> Result<Option<String>, Error> {
        let host = Self::api_host(ctx.registry);
        let auth = self
            .inner
            .auth
            .lock()
            .expect("lock")
            .get(host)
            .cloned()
            .unwrap_or_default();
        let repository = scopes.first().map_or(ctx.repository, |s| s.name.as_str());
        match auth {
            HostAuth::Unknown => Ok(None),
            HostAuth::Basic => Ok(self.credential(ctx, repository)?.and_then(|c| match c {
                Credential::Basic { username, password } => Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                )),
                Credential::IdentityToken(_) => None,
            })),
            HostAuth::Bearer { realm, service } => {
                if let Some(t) = self.inner.tokens.lock().expect("lock").find(host, scopes) {
                    return Ok(Some(format!("Bearer {}", t.value)));
                }
                let newest = self.inner.tokens.lock().expect("lock").newest_scopes(host);
                // Push scopes first, then what earlier tokens held.
                let wanted = merge_scopes(scopes.iter().chain(&newest));
                let token =
                    self.fetch_token(ctx, &realm, service.as_deref(), &wanted, repository)?;
                let value = token.value.clone();
                self.inner.tokens.lock().expect("lock").insert(host, token);
                Ok(Some(format!("Bearer {value}")))
            }
        }
    }

    /// Asks the token endpoint for a token: GET with basic credentials (or none), or POST
    /// (OAuth2 refresh-token grant) with an identity token.
    fn fetch_token(
        &self,
        ctx: Ctx<'_>,
        realm: &str,
        service: Option<&str>,
        scopes: &[Scope],
        repository: &str,
    ) -> Result<Token, Error> {
        let credential = self.credential(ctx, repository)?;
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(s) = service {
            query.push(("service", s.to_owned()));
        }
        let auth_error = |reason: String| ctx.error(ErrorKind::Auth { reason }).url(realm);
        let request = match &credential {
            Some(Credential::IdentityToken(token)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("refresh_token", token.clone()),
                    ("client_id", "ocimg".to_owned()),
                ];
                form.extend(query);
                let scope = scopes
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ");
                if !scope.is_empty() {
                    form.push(("scope", scope));
                }
                ("POST", realm.to_owned(), Some(encode_form(&form)), None)
            }
            other => {
                for s in scopes {
                    query.push(("scope", s.to_string()));
                }
                let mut basic = None;
                if let Some(Credential::Basic { username, password }) = other {
                    query.push(("account", username.clone()));
                    basic = Some(format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("{username}:{password}"))
                    ));
                }
                let sep = if realm.contains('?') { '&' } else { '?' };
                let url = if query.is_empty() {
                    realm.to_owned()
                } else {
                    format!("{realm}{sep}{}", encode_form(&query))
                };
                ("GET", url, None, basic)
            }
        };
        let (method, url, form, basic) = request;
        let (origin, token_host) =
            authority(&url).ok_or_else(|| auth_error("the realm is not an absolute URL".into()))?;
        let scheme = origin.split("://").next().unwrap_or("");
        let verify = !(self.is_insecure(&token_host) || self.is_insecure(ctx.registry));
        let plain_ok = scheme == "http" && !verify;
        if scheme != "https" && !plain_ok {
            // A plain-http realm is accepted when the registry itself is insecure.
            return Err(auth_error(format!(
                "{scheme} realm needs an insecure registry"
            )));
        }
        let agent = self.agent(scheme, &token_host, verify).map_err(|e| {
            ctx.error(ErrorKind::Transport)
                .url(&url)
                .source_arc(Arc::from(e))
        })?;
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(b) = &basic {
            builder = builder.header("Authorization", b);
        }
        let result = match &form {
            Some(f) => builder
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(f.as_bytes())
                .map(|r| agent.run(r)),
            None => builder.body(()).map(|r| agent.run(r)),
        };
        let response = result
            .map_err(|e| auth_error("malformed token request".into()).source(e))?
            .map_err(|e| ctx.error(ErrorKind::Transport).url(&url).source(e))?;
        tracing::debug!(
            "{method} {} {}",
            crate::http::redact(&url),
            response.status().as_u16()
        );
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        let response = Response {
            status,
            headers: parts.headers,
            body,
            url: url.clone(),
        };
        if !(200..300).contains(&status) {
            let kind = if status == 401 || status == 403 {
                ErrorKind::Unauthorized
            } else {
                ErrorKind::Auth {
                    reason: "the token endpoint refused".into(),
                }
            };
            return Err(self.status_error(ctx, response).with_kind(kind));
        }
        let (bytes, _) = response.read_limited(ctx, 1 << 20)?;
        let parsed: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| auth_error("the token response is not JSON".into()).source(e))?;
        let (value, life) = parsed
            .value()
            .ok_or_else(|| auth_error("the token response has no token".into()))?;
        Ok(Token {
            scopes: scopes.to_vec(),
            value,
            expires: Instant::now() + life,
        })
    }

    /// The error for an unexpected response: its status, kind and error codes.
    pub(crate) fn status_error(&self, ctx: Ctx<'_>, response: Response) -> Error {
        let status = response.status;
        let url = response.url.clone();
        let codes = match response.read_limited(ctx, ERROR_BODY_LIMIT) {
            Ok((body, _)) => parse_error_body(&body),
            Err(_) => Vec::new(),
        };
        let unknown = codes.iter().any(|c| c.code.ends_with("_UNKNOWN"));
        let kind = match status {
            404 => ErrorKind::NotFound,
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Denied,
            405 if codes.iter().any(|c| c.code == "UNSUPPORTED") => ErrorKind::Unsupported,
            _ if unknown && status == 400 => ErrorKind::NotFound,
            _ => ErrorKind::Status,
        };
        ctx.error(kind).url(&url).status(status).codes(codes)
    }
}

/// `application/x-www-form-urlencoded` (also used for query strings).
pub(crate) fn encode_form(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
