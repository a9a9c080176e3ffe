//! An in-memory distribution registry on the scripted server of test-support: enough of
//! the API for the client's happy paths (manifests, blobs, uploads, tags, deletes,
//! basic and bearer auth), with a hook that answers first so a test can script a hostile
//! behaviour on top.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use oci_digest::{Algorithm, Digester};
use oci_registry::{RegistryClient, RegistryOptions, Repository};
use oci_spec_types::Digest;
use oci_test_support::http::{Reply, Request, Server};

pub fn sha256(bytes: &[u8]) -> Digest {
    let mut d = Digester::new(Algorithm::Sha256);
    d.update(bytes);
    d.finish().digest
}

/// Deterministic bytes.
pub fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i as u64 * 31 + u64::from(seed) * 7) % 251) as u8)
        .collect()
}

#[derive(Debug, Clone)]
pub enum Auth {
    Basic(String, String),
    /// Tokens from `/token` on the same server; `valid` holds the tokens accepted now,
    /// each with the scopes it was issued for.
    Bearer,
}

type Hook = Box<dyn Fn(&Request, &mut State) -> Option<Reply> + Send + Sync>;

#[derive(Default)]
pub struct State {
    pub blobs: HashMap<String, Vec<u8>>,
    pub manifests: HashMap<String, (Vec<u8>, String)>,
    pub tags: BTreeMap<String, String>,
    pub uploads: HashMap<String, Vec<u8>>,
    pub next_upload: u64,
    /// Issued tokens and their scope strings.
    pub tokens: HashMap<String, Vec<String>>,
    pub issued: u64,
    /// Tags per page (None: every tag at once).
    pub page: Option<usize>,
    pub auth: Option<Auth>,
    /// Largest request body accepted (413 above).
    pub body_cap: Option<usize>,
    /// Mounts allowed.
    pub mounts: bool,
    /// Manifest GETs carry an `ETag` and PUTs honour `If-Match` (412 when stale).
    pub etags: bool,
}

pub struct Fake {
    pub server: Server,
    pub state: Arc<Mutex<State>>,
    hook: Arc<Mutex<Option<Hook>>>,
}

fn json(value: serde_json::Value) -> Reply {
    Reply::json(&value)
}

fn error(status: u16, code: &str) -> Reply {
    Reply::status(status)
        .header("Content-Type", "application/json")
        .body(
            serde_json::to_vec(
                &serde_json::json!({"errors": [{"code": code, "message": code.to_lowercase()}]}),
            )
            .expect("json"),
        )
}

fn query_param<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Fake {
    pub fn start() -> Fake {
        let state = Arc::new(Mutex::new(State {
            mounts: true,
            ..State::default()
        }));
        let hook: Arc<Mutex<Option<Hook>>> = Arc::new(Mutex::new(None));
        let (s, h) = (state.clone(), hook.clone());
        let server = Server::handle(move |request| {
            let mut state = s.lock().expect("lock");
            if let Some(hook) = h.lock().expect("lock").as_ref()
                && let Some(reply) = hook(request, &mut state)
            {
                return reply;
            }
            answer(request, &mut state)
        });
        Fake {
            server,
            state,
            hook,
        }
    }

    /// Scripts a hostile behaviour: `hook` answers first; `None` lets the registry answer.
    pub fn hook(
        &self,
        hook: impl Fn(&Request, &mut State) -> Option<Reply> + Send + Sync + 'static,
    ) {
        *self.hook.lock().expect("lock") = Some(Box::new(hook));
    }

    pub fn registry(&self) -> String {
        self.server.addr().to_string()
    }

    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            insecure: [
                self.registry(),
                "cdn.test".to_owned(),
                "other.test".to_owned(),
            ]
            .into_iter()
            .collect(),
            connect_to: vec![
                ("cdn.test".to_owned(), self.server.addr()),
                ("other.test".to_owned(), self.server.addr()),
            ],
            backoff: Duration::from_millis(10),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            ..RegistryOptions::default()
        }
    }

    pub fn client(&self) -> RegistryClient {
        RegistryClient::new(self.options())
    }

    pub fn repo(&self, name: &str) -> Repository {
        self.client().repository(&self.registry(), name)
    }

    pub fn put_blob(&self, data: &[u8]) -> Digest {
        let d = sha256(data);
        self.state
            .lock()
            .expect("lock")
            .blobs
            .insert(d.to_string(), data.to_vec());
        d
    }

    pub fn put_manifest(&self, tag: Option<&str>, data: &[u8], media_type: &str) -> Digest {
        let d = sha256(data);
        let mut s = self.state.lock().expect("lock");
        s.manifests
            .insert(d.to_string(), (data.to_vec(), media_type.to_owned()));
        if let Some(t) = tag {
            s.tags.insert(t.to_owned(), d.to_string());
        }
        d
    }

    /// `METHOD PATH` of each request, in order.
    pub fn log(&self) -> Vec<String> {
        self.server
            .requests()
            .into_iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect()
    }
}

fn authorized(request: &Request, state: &mut State, scope_needed: &str) -> Result<(), Reply> {
    let Some(auth) = state.auth.clone() else {
        return Ok(());
    };
    let header = request.header("authorization").unwrap_or("");
    match auth {
        Auth::Basic(user, pass) => {
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
            );
            if header == want {
                Ok(())
            } else {
                Err(error(401, "UNAUTHORIZED").header("WWW-Authenticate", "Basic realm=\"fake\""))
            }
        }
        Auth::Bearer => {
            let granted = header
                .strip_prefix("Bearer ")
                .and_then(|t| state.tokens.get(t))
                .is_some_and(|scopes| {
                    scope_needed.is_empty() || scopes.iter().any(|s| covers(s, scope_needed))
                });
            if granted {
                Ok(())
            } else {
                let host = request.header("host").unwrap_or("");
                let mut challenge =
                    format!("Bearer realm=\"http://{host}/token\",service=\"fake\"");
                if !scope_needed.is_empty() {
                    challenge.push_str(&format!(",scope=\"{scope_needed}\""));
                }
                Err(error(401, "UNAUTHORIZED").header("WWW-Authenticate", &challenge))
            }
        }
    }
}

/// `repository:a:pull,push` covers `repository:a:pull`.
fn covers(have: &str, want: &str) -> bool {
    let (h, ha) = have.rsplit_once(':').unwrap_or((have, ""));
    let (w, wa) = want.rsplit_once(':').unwrap_or((want, ""));
    h == w && wa.split(',').all(|a| ha.split(',').any(|x| x == a))
}

fn token(request: &Request, state: &mut State) -> Reply {
    let scopes: Vec<String> = request
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(unescape)
        .collect();
    state.issued += 1;
    let token = format!("tok-{}", state.issued);
    state.tokens.insert(token.clone(), scopes);
    json(serde_json::json!({"token": token, "expires_in": 300}))
}

/// The repository name and the rest of a `/v2/NAME/KIND/...` path.
fn split(path: &str) -> Option<(String, &'static str, String)> {
    let rest = path.strip_prefix("/v2/")?;
    for kind in [
        "/manifests/",
        "/blobs/uploads/",
        "/blobs/",
        "/tags/list",
        "/referrers/",
    ] {
        if let Some(i) = rest.find(kind) {
            let kind_static: &'static str = match kind {
                "/manifests/" => "manifests",
                "/blobs/uploads/" => "uploads",
                "/blobs/" => "blobs",
                "/tags/list" => "tags",
                _ => "referrers",
            };
            return Some((
                rest[..i].to_owned(),
                kind_static,
                rest[i + kind.len()..].to_owned(),
            ));
        }
    }
    None
}

pub fn answer(request: &Request, state: &mut State) -> Reply {
    let path = request.path().to_owned();
    if path == "/token" {
        return token(request, state);
    }
    if let Some(cap) = state.body_cap
        && request.body.len() > cap
    {
        return error(413, "SIZE_INVALID");
    }
    if path == "/v2/" {
        if let Err(r) = authorized(request, state, "") {
            return r;
        }
        return json(serde_json::json!({}));
    }
    let Some((name, kind, rest)) = split(&path) else {
        return Reply::not_found();
    };
    let write = !matches!(request.method.as_str(), "GET" | "HEAD");
    let mut scope = format!(
        "repository:{name}:{}",
        if write { "pull,push" } else { "pull" }
    );
    if request.method == "DELETE" && kind != "uploads" {
        scope = format!("repository:{name}:delete");
    }
    if let Err(r) = authorized(request, state, &scope) {
        return r;
    }
    match (kind, request.method.as_str()) {
        ("manifests", "GET" | "HEAD") => {
            let digest = state.tags.get(&rest).cloned().unwrap_or(rest.clone());
            match state.manifests.get(&digest) {
                Some((body, media_type)) => {
                    let reply = Reply::status(200)
                        .header("Content-Type", media_type)
                        .header("Docker-Content-Digest", &digest)
                        .body(body.clone());
                    if state.etags {
                        reply.header("ETag", &format!("\"{digest}\""))
                    } else {
                        reply
                    }
                }
                None => error(404, "MANIFEST_UNKNOWN"),
            }
        }
        ("manifests", "PUT") => {
            if state.etags
                && let Some(want) = request.header("if-match")
            {
                let now = state.tags.get(&rest).map(|d| format!("\"{d}\""));
                if now.as_deref() != Some(want) {
                    return error(412, "PRECONDITION_FAILED");
                }
            }
            let d = sha256(&request.body).to_string();
            let media_type = request.header("content-type").unwrap_or("").to_owned();
            state
                .manifests
                .insert(d.clone(), (request.body.clone(), media_type));
            if !rest.contains(':') {
                state.tags.insert(rest.clone(), d.clone());
            }
            Reply::status(201)
                .header("Location", &format!("/v2/{name}/manifests/{d}"))
                .header("Docker-Content-Digest", &d)
        }
        ("manifests", "DELETE") => {
            if rest.contains(':') {
                if state.manifests.remove(&rest).is_none() {
                    return error(404, "MANIFEST_UNKNOWN");
                }
                state.tags.retain(|_, d| *d != rest);
            } else if state.tags.remove(&rest).is_none() {
                return error(404, "MANIFEST_UNKNOWN");
            }
            Reply::status(202)
        }
        ("blobs", "GET" | "HEAD") => match state.blobs.get(&rest) {
            Some(body) => {
                let range = request
                    .header("range")
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|r| r.parse::<usize>().ok());
                match range {
                    Some(start) if start < body.len() => Reply::status(206)
                        .header("Content-Type", "application/octet-stream")
                        .header(
                            "Content-Range",
                            &format!("bytes {start}-{}/{}", body.len() - 1, body.len()),
                        )
                        .body(body[start..].to_vec()),
                    _ => Reply::ok(body.clone()).header("Docker-Content-Digest", &rest),
                }
            }
            None => error(404, "BLOB_UNKNOWN"),
        },
        ("blobs", "DELETE") => match state.blobs.remove(&rest) {
            Some(_) => Reply::status(202),
            None => error(404, "BLOB_UNKNOWN"),
        },
        ("uploads", "POST") => {
            if let (Some(mount), Some(from)) =
                (query_param(request, "mount"), query_param(request, "from"))
            {
                let mount = unescape(mount);
                let _ = from;
                if state.mounts && state.blobs.contains_key(&mount) {
                    return Reply::status(201)
                        .header("Location", &format!("/v2/{name}/blobs/{mount}"))
                        .header("Docker-Content-Digest", &mount);
                }
            }
            state.next_upload += 1;
            let id = format!("u{}", state.next_upload);
            state.uploads.insert(id.clone(), Vec::new());
            Reply::status(202)
                .header(
                    "Location",
                    &format!("/v2/{name}/blobs/uploads/{id}?_state=s0"),
                )
                .header("Range", "0-0")
        }
        ("uploads", "PATCH") => {
            let Some(data) = state.uploads.get_mut(&rest) else {
                return error(404, "BLOB_UPLOAD_UNKNOWN");
            };
            if let Some(range) = request.header("content-range") {
                let start: usize = range
                    .split('-')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(usize::MAX);
                if start != data.len() {
                    return error(416, "BLOB_UPLOAD_INVALID");
                }
            }
            data.extend_from_slice(&request.body);
            let end = data.len().saturating_sub(1);
            Reply::status(202)
                .header(
                    "Location",
                    &format!("/v2/{name}/blobs/uploads/{rest}?_state=s{}", data.len()),
                )
                .header("Range", &format!("0-{end}"))
        }
        ("uploads", "GET") => match state.uploads.get(&rest) {
            Some(data) => Reply::status(204)
                .header(
                    "Location",
                    &format!("/v2/{name}/blobs/uploads/{rest}?_state=s{}", data.len()),
                )
                .header("Range", &format!("0-{}", data.len().saturating_sub(1))),
            None => error(404, "BLOB_UPLOAD_UNKNOWN"),
        },
        ("uploads", "PUT") => {
            let Some(mut data) = state.uploads.remove(&rest) else {
                return error(404, "BLOB_UPLOAD_UNKNOWN");
            };
            data.extend_from_slice(&request.body);
            let want = query_param(request, "digest")
                .map(unescape)
                .unwrap_or_default();
            let got = sha256(&data).to_string();
            if want != got {
                return error(400, "DIGEST_INVALID");
            }
            state.blobs.insert(got.clone(), data);
            Reply::status(201)
                .header("Location", &format!("/v2/{name}/blobs/{got}"))
                .header("Docker-Content-Digest", &got)
        }
        ("uploads", "DELETE") => {
            state.uploads.remove(&rest);
            Reply::status(204)
        }
        ("tags", "GET") => {
            let all: Vec<&String> = state.tags.keys().collect();
            let last = query_param(request, "last").map(unescape);
            let start = match &last {
                Some(l) => all.iter().position(|t| *t > l).unwrap_or(all.len()),
                None => 0,
            };
            let n = state.page.unwrap_or(usize::MAX);
            let page: Vec<&String> = all.iter().skip(start).take(n).copied().collect();
            let mut reply = json(serde_json::json!({"name": name, "tags": page}));
            if start + page.len() < all.len()
                && let Some(lastp) = page.last()
            {
                reply = reply.header(
                    "Link",
                    &format!("</v2/{name}/tags/list?last={lastp}&n={n}>; rel=\"next\""),
                );
            }
            reply
        }
        _ => Reply::not_found(),
    }
}
