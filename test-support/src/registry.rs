//! Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 at a free port, for tests
//! that need a real registry: without auth ([`Config::plain`]), with htpasswd basic auth
//! ([`Config::basic`]), with token auth against a [`TokenIssuer`] the test runs on
//! loopback ([`Config::token`]), and over TLS with a CA the test generates
//! ([`Config::tls`]). A [`Registry`] waits until `/v2/` answers, keeps the registry's log
//! (in failure messages, and [`Registry::log`]), and stops the process by its pid when
//! dropped.
//!
//! Keys and certificates come from the `openssl` command; the htpasswd file from
//! `htpasswd -Bbn` (Debian's apache2-utils). Check [`available`] first: without
//! `docker-registry` it fails under `CI=true` and skips otherwise.
//!
//! ```no_run
//! use oci_test_support::registry::{Config, Registry};
//!
//! let dir = std::path::Path::new("target/tmp/reg");
//! if oci_test_support::registry::available() {
//!     let registry = Registry::start(dir, Config::basic("alice", "secret"));
//!     assert_eq!(registry.get("/v2/").status, 200);
//!     let image = registry.docker("library/app:1"); // docker://127.0.0.1:PORT/library/app:1
//! }
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;

use crate::http::{Reply, Request, Responder, Routes, Server};

/// The registry program (Debian's name for distribution's `registry`).
pub const PROGRAM: &str = "docker-registry";

/// How long a registry may take to answer `/v2/` after it was started.
const STARTUP: Duration = Duration::from_secs(20);

/// Whether `docker-registry` runs here. When it does not, this fails the test under
/// `CI=true`, and otherwise prints `skipped: docker-registry not installed` and returns
/// false (see [`crate::cli::peer`]).
pub fn available() -> bool {
    crate::cli::peer_with(PROGRAM, Command::new(PROGRAM).arg("--version"))
}

/// How clients authenticate to a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Anonymous pull and push.
    None,
    /// htpasswd basic auth with one user.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// Bearer tokens from a [`TokenIssuer`] started with the registry; with users, only
    /// they get the access they ask (an anonymous request gets a token granting nothing);
    /// without, everyone gets what they ask.
    Token {
        /// Users and passwords the issuer accepts.
        users: Vec<(String, String)>,
    },
}

/// What registry to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How clients authenticate.
    pub auth: Auth,
    /// Whether it serves HTTPS with a certificate for `IP:127.0.0.1` signed by a CA made
    /// for it (see [`Registry::ca_cert`] and [`Registry::cert_dir`]).
    pub tls: bool,
}

impl Config {
    /// Plain HTTP, no auth.
    pub fn plain() -> Config {
        Config {
            auth: Auth::None,
            tls: false,
        }
    }

    /// Plain HTTP, htpasswd basic auth for `user`.
    pub fn basic(user: &str, password: &str) -> Config {
        Config {
            auth: Auth::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            },
            tls: false,
        }
    }

    /// Plain HTTP, token auth; the issuer accepts `user` with `password` and grants
    /// anonymous requests nothing.
    pub fn token(user: &str, password: &str) -> Config {
        Config {
            auth: Auth::Token {
                users: vec![(user.to_owned(), password.to_owned())],
            },
            tls: false,
        }
    }

    /// HTTPS with a test CA, no auth.
    pub fn tls() -> Config {
        Config {
            auth: Auth::None,
            tls: true,
        }
    }

    /// This configuration served over HTTPS.
    pub fn with_tls(self) -> Config {
        Config { tls: true, ..self }
    }
}

/// A response read by [`Registry::get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// A running `docker-registry`. Dropping it kills the process (by its pid) and waits for
/// it; its directory (storage, configuration, log) is left for inspection.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    config: Config,
    issuer: Option<TokenIssuer>,
}

impl Registry {
    /// Starts a registry in the empty directory `dir` (created when missing): its
    /// storage, configuration, keys and log all go there. Waits until `/v2/` answers;
    /// panics with the log when it does not.
    pub fn start(dir: &Path, config: Config) -> Registry {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let dir = std::path::absolute(dir).expect("absolute directory");
        let issuer = match &config.auth {
            Auth::Token { users } => Some(TokenIssuer::start(&dir.join("issuer"), users)),
            _ => None,
        };
        let mut auth = String::new();
        match &config.auth {
            Auth::None => {}
            Auth::Basic { user, password } => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .stdin(Stdio::null())
                    .output()
                    .expect("run htpasswd (Debian's apache2-utils)");
                assert!(out.status.success(), "htpasswd: {out:?}");
                let file = dir.join("htpasswd");
                std::fs::write(&file, &out.stdout).expect("write htpasswd");
                auth = format!(
                    "auth:\n  htpasswd:\n    realm: ocimg-test\n    path: {}\n",
                    file.display()
                );
            }
            Auth::Token { .. } => {
                let issuer = issuer.as_ref().expect("started above");
                auth = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    issuer.realm(),
                    issuer.service(),
                    issuer.issuer(),
                    issuer.certificate().display()
                );
            }
        }
        let tls = if config.tls {
            let certs = dir.join("certs");
            make_tls(&certs);
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                certs.join("server.crt").display(),
                certs.join("server.key").display()
            )
        } else {
            String::new()
        };
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let addr = free_port();
            let yml = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: {addr}\n  secret: ocimg-test-secret\n{tls}{auth}",
                dir.join("data").display()
            );
            let config_file = dir.join("config.yml");
            std::fs::write(&config_file, yml).expect("write config.yml");
            let log = std::fs::File::create(dir.join("registry.log")).expect("create log");
            let child = Command::new(PROGRAM)
                .arg("serve")
                .arg(&config_file)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("start {PROGRAM}: {e}"));
            let mut registry = Registry {
                child,
                addr,
                dir: dir.clone(),
                config: config.clone(),
                issuer: None,
            };
            match registry.wait_ready() {
                Ok(()) => {
                    registry.issuer = issuer;
                    return registry;
                }
                Err(log) if log.contains("address already in use") => last_log = log,
                Err(log) => panic!(
                    "{PROGRAM} did not answer /v2/ at {addr} within {STARTUP:?}; log:\n{log}"
                ),
            }
        }
        panic!("{PROGRAM} found no free port; last log:\n{last_log}")
    }

    /// Polls `/v2/` until any HTTP answer comes (over TLS, Go answers a plain request
    /// with 400); `Err(log)` when the process exits or the time is up.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(self.log());
            }
            if let Ok(answer) = raw_exchange(
                self.addr,
                b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            ) && answer.starts_with(b"HTTP/1.")
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(self.log())
    }

    /// The registry as a host name: `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT` (or `https://`) followed by `path`.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.config.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// `docker://127.0.0.1:PORT/NAME`, `name` being `REPO[:TAG|@DIGEST]`.
    pub fn docker(&self, name: &str) -> String {
        format!("docker://{}/{name}", self.addr)
    }

    /// What it was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The directory it runs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The basic-auth or token user and password, `USER:PASS` (skopeo's `--creds`), if
    /// there is one.
    pub fn creds(&self) -> Option<String> {
        match &self.config.auth {
            Auth::None => None,
            Auth::Basic { user, password } => Some(format!("{user}:{password}")),
            Auth::Token { users } => users.first().map(|(u, p)| format!("{u}:{p}")),
        }
    }

    /// The CA certificate that signed its TLS certificate (PEM), when it serves TLS.
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.config
            .tls
            .then(|| self.dir.join("certs/certs.d/ca.crt"))
    }

    /// A certs.d-style directory holding only `ca.crt` (for `--cert-dir`), when it serves
    /// TLS.
    pub fn cert_dir(&self) -> Option<PathBuf> {
        self.config.tls.then(|| self.dir.join("certs/certs.d"))
    }

    /// The token issuer, for token auth.
    pub fn issuer(&self) -> Option<&TokenIssuer> {
        self.issuer.as_ref()
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }

    /// `GET path` as an administrator (with the basic-auth user, or a token the issuer
    /// mints for the repository the path names), without following redirects. Over TLS
    /// this goes through `openssl s_client`, verified against the test CA.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path)
    }

    /// `method path` as an administrator, as [`get`](Registry::get) does.
    pub fn request(&self, method: &str, path: &str) -> Response {
        let authorization = match &self.config.auth {
            Auth::None => None,
            Auth::Basic { user, password } => Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{user}:{password}"))
            )),
            Auth::Token { .. } => {
                let issuer = self
                    .issuer
                    .as_ref()
                    .expect("a token registry has an issuer");
                let mut access = vec![Access::new("registry", "catalog", &["*"])];
                if let Some(repo) = repository_of(path) {
                    access.push(Access::new(
                        "repository",
                        &repo,
                        &["pull", "push", "delete"],
                    ));
                }
                Some(format!("Bearer {}", issuer.mint("admin", &access)))
            }
        };
        self.exchange(method, path, authorization.as_deref())
    }

    /// `method path` with `authorization` as the `Authorization` header (none when
    /// `None`): one request, no redirects followed, no retries.
    pub fn exchange(&self, method: &str, path: &str, authorization: Option<&str>) -> Response {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json\r\n",
            self.addr
        );
        if let Some(value) = authorization {
            head.push_str(&format!("Authorization: {value}\r\n"));
        }
        head.push_str("\r\n");
        let raw = if self.config.tls {
            self.tls_exchange(head.as_bytes())
        } else {
            raw_exchange(self.addr, head.as_bytes()).unwrap_or_else(|e| {
                panic!("{method} {}: {e}; log:\n{}", self.url(path), self.log())
            })
        };
        parse_response(&raw)
            .unwrap_or_else(|| panic!("{method} {}: no HTTP answer: {raw:?}", self.url(path)))
    }

    fn tls_exchange(&self, request: &[u8]) -> Vec<u8> {
        let ca = self.ca_cert().expect("tls");
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
            .arg(self.addr.to_string())
            .arg("-CAfile")
            .arg(&ca)
            .args(["-verify_ip", "127.0.0.1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run openssl s_client");
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(request).expect("send the request");
        let out = child.wait_with_output().expect("openssl s_client");
        drop(stdin);
        assert!(
            out.status.success() || !out.stdout.is_empty(),
            "openssl s_client to {}: {}",
            self.addr,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The tags of `repository`, sorted (every tag the registry lists; none when it does
    /// not know the repository).
    pub fn tags(&self, repository: &str) -> Vec<String> {
        let response = self.get(&format!("/v2/{repository}/tags/list"));
        let mut tags: Vec<String> = match response.status {
            404 => Vec::new(),
            200 => response.json()["tags"]
                .as_array()
                .map(|tags| {
                    tags.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            status => panic!(
                "tags of {repository}: {status} {}",
                String::from_utf8_lossy(&response.body)
            ),
        };
        tags.sort();
        tags
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository a `/v2/NAME/{manifests,blobs,tags}/...` path names.
fn repository_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    let rest = rest.split_once('?').map_or(rest, |(p, _)| p);
    ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|k| rest.rfind(k))
        .max()
        .map(|i| rest[..i].to_owned())
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
}

/// Sends `request` and reads until the peer closes, with timeouts.
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request)?;
    let mut answer = Vec::new();
    s.take(64 * 1024 * 1024).read_to_end(&mut answer)?;
    Ok(answer)
}

/// Parses a whole HTTP/1.1 response (body by `Content-Length`, chunked or to the end).
fn parse_response(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = std::str::from_utf8(&rest[..line_end]).ok()?;
            let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        body = out;
    } else if let Some(length) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(length);
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

/// Runs `openssl` with `args` in `dir`, panicking with its output on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A CA (`ca.crt`, `ca.key`) and a server certificate for `IP:127.0.0.1` it signed
/// (`server.crt`, `server.key`) in `dir`, plus `dir/certs.d/ca.crt`.
fn make_tls(dir: &Path) {
    std::fs::create_dir_all(dir.join("certs.d")).expect("create certs dir");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=ocimg test CA",
        "-days",
        "2",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req", "-new"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
    )
    .expect("write server.ext");
    let serial = format!(
        "{}",
        unix_now() * 1000 + u64::from(std::process::id() % 1000)
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &serial,
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
    std::fs::copy(dir.join("ca.crt"), dir.join("certs.d/ca.crt")).expect("copy ca.crt");
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// One `access` claim of a registry token: a resource and the actions granted on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Access {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name, or `catalog`.
    pub name: String,
    /// `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

impl Access {
    /// `kind:name` with `actions`.
    pub fn new(kind: &str, name: &str, actions: &[&str]) -> Access {
        Access {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    /// Parses a scope as the registry asks it: `repository:NAME:pull,push` (the name may
    /// hold a port's colon: the actions are after the last one).
    pub fn parse_scope(scope: &str) -> Option<Access> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        Some(Access {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions: actions.split(',').map(str::to_owned).collect(),
        })
    }
}

/// A token issuer on 127.0.0.1, as distribution's token auth expects one: `GET /token?
/// service=S&scope=...` answered with `{"token", "access_token", "expires_in"}`, JWTs
/// signed ES256 by a key whose self-signed certificate ([`certificate`]) the registry
/// trusts as its `rootcertbundle`, the certificate in the `x5c` header.
///
/// [`certificate`]: TokenIssuer::certificate
#[derive(Debug)]
pub struct TokenIssuer {
    server: Server,
    state: Arc<IssuerState>,
}

struct IssuerState {
    key: SigningKey,
    cert_der: Vec<u8>,
    cert_path: PathBuf,
    users: Vec<(String, String)>,
    counter: AtomicU64,
}

impl std::fmt::Debug for IssuerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerState")
            .field("cert_path", &self.cert_path)
            .field(
                "users",
                &self.users.iter().map(|(u, _)| u).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The `service` the issuer and its registry agree on.
pub const SERVICE: &str = "ocimg-test-registry";
/// The `iss` of the issuer's tokens.
pub const ISSUER: &str = "ocimg-test-issuer";

impl TokenIssuer {
    /// Starts an issuer whose key and certificate go to `dir`; it accepts `users` (user,
    /// password) by basic auth, and when `users` is empty grants anyone what they ask.
    pub fn start(dir: &Path, users: &[(String, String)]) -> TokenIssuer {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "token.key",
                "-out",
                "token.crt",
                "-subj",
                "/CN=ocimg test token issuer",
                "-days",
                "2",
            ],
        );
        let key_pem = std::fs::read_to_string(dir.join("token.key")).expect("read token.key");
        let key = SigningKey::from_pkcs8_pem(&key_pem).expect("a PKCS#8 P-256 key from openssl");
        let cert_pem = std::fs::read_to_string(dir.join("token.crt")).expect("read token.crt");
        let cert_der = pem_body(&cert_pem);
        let state = Arc::new(IssuerState {
            key,
            cert_der,
            cert_path: dir.join("token.crt"),
            users: users.to_vec(),
            counter: AtomicU64::new(0),
        });
        let server = {
            let state = state.clone();
            Server::script(
                Routes::new().fallback(Responder::with(move |r: &Request| answer_token(&state, r))),
            )
        };
        TokenIssuer { server, state }
    }

    /// The realm URL: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        self.server.url("/token")
    }

    /// The service name.
    pub fn service(&self) -> &str {
        SERVICE
    }

    /// The issuer name.
    pub fn issuer(&self) -> &str {
        ISSUER
    }

    /// The certificate (PEM) of the signing key: the registry's `rootcertbundle`.
    pub fn certificate(&self) -> &Path {
        &self.state.cert_path
    }

    /// Every token request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }

    /// The scopes asked for in every token request so far, in order.
    pub fn scopes(&self) -> Vec<String> {
        self.requests()
            .iter()
            .flat_map(|r| query_values(r.query().unwrap_or(""), "scope"))
            .collect()
    }

    /// A token for `subject` granting `access`, valid for five minutes.
    pub fn mint(&self, subject: &str, access: &[Access]) -> String {
        self.state.mint(subject, access)
    }
}

impl IssuerState {
    fn mint(&self, subject: &str, access: &[Access]) -> String {
        let now = unix_now();
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [STANDARD.encode(&self.cert_der)],
        });
        let claims = serde_json::json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("ocimg-test-{now}-{}-{n}", std::process::id()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: p256::ecdsa::Signature = self.key.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}

/// The issuer's answer to one request.
fn answer_token(state: &IssuerState, request: &Request) -> Reply {
    if request.path() != "/token" || request.method != "GET" {
        return Reply::not_found();
    }
    let query = request.query().unwrap_or("");
    if query_values(query, "service").first().map(String::as_str) != Some(SERVICE) {
        return Reply::status(400).body("unknown service");
    }
    let user = match request.header("authorization").and_then(|v| {
        let v = v.strip_prefix("Basic ")?;
        let decoded = String::from_utf8(STANDARD.decode(v.trim()).ok()?).ok()?;
        decoded
            .split_once(':')
            .map(|(u, p)| (u.to_owned(), p.to_owned()))
    }) {
        Some((user, password)) => {
            if !state
                .users
                .iter()
                .any(|(u, p)| *u == user && *p == password)
            {
                return Reply::status(401)
                    .header("WWW-Authenticate", "Basic realm=\"ocimg-test-issuer\"")
                    .body("wrong user or password");
            }
            Some(user)
        }
        None => None,
    };
    let granted: Vec<Access> = if user.is_some() || state.users.is_empty() {
        query_values(query, "scope")
            .iter()
            .flat_map(|s| s.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .filter_map(|s| Access::parse_scope(&s))
            .collect()
    } else {
        Vec::new()
    };
    let token = state.mint(user.as_deref().unwrap_or(""), &granted);
    Reply::json(&serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": 300,
    }))
}

/// The decoded values of `key` in a query string.
fn query_values(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The DER bytes of the first PEM block in `pem`.
fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(body).expect("a PEM body")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_queries_decode() {
        assert_eq!(
            Access::parse_scope("repository:127.0.0.1:5000/a/b:pull,push"),
            Some(Access::new(
                "repository",
                "127.0.0.1:5000/a/b",
                &["pull", "push"]
            ))
        );
        assert_eq!(
            query_values(
                "service=s&scope=repository%3Aa%2Fb%3Apull&scope=x+y",
                "scope"
            ),
            ["repository:a/b:pull", "x y"]
        );
        assert_eq!(repository_of("/v2/a/b/manifests/x"), Some("a/b".into()));
        assert_eq!(repository_of("/v2/a/tags/list?n=1"), Some("a".into()));
        assert_eq!(repository_of("/v2/"), None);
    }

    #[test]
    fn responses_parse_by_length_and_chunks() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").expect("parse");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
        )
        .expect("parse");
        assert_eq!(r.body, b"abc");
    }
}
