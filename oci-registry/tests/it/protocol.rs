//! The protocol client against the in-memory registry of `fake.rs`: happy paths, then one
//! test per hostile behaviour the issue lists.

use std::io::Read;
use std::time::{Duration, Instant};

use oci_registry::credentials::Credential;
use oci_registry::{
    Error, ErrorKind, ManifestRef, PushOptions, Pushed, RegistryClient, RegistryOptions,
    StaticCredentials,
};
use oci_test_support::http::Reply;
use serde_json::json;

use crate::fake::{Auth, Fake, bytes, sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn manifest(
    config: &oci_spec_types::Digest,
    layer: &oci_spec_types::Digest,
    size: usize,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": size}]
    }))
    .expect("json")
}

fn read_all(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}

fn io_error(e: &std::io::Error) -> &Error {
    Error::from_io(e).unwrap_or_else(|| panic!("not a registry error: {e}"))
}

#[test]
fn push_pull_tags_and_delete_round_trip() {
    let fake = Fake::start();
    let repo = fake.repo("team/app");
    repo.ping().expect("ping");
    let layer = bytes(100_000, 1);
    let layer_digest = sha256(&layer);
    let config = b"{}".to_vec();
    let config_digest = sha256(&config);
    let pushed = repo
        .push_blob(
            &layer_digest,
            layer.len() as u64,
            &mut &layer[..],
            &PushOptions::default(),
        )
        .expect("push layer");
    assert_eq!(pushed, Pushed::Uploaded);
    repo.push_blob(&config_digest, 2, &mut &config[..], &PushOptions::default())
        .expect("push config");
    // Nothing sent for a blob the registry has.
    let before = fake.log().len();
    let again = repo
        .push_blob(
            &layer_digest,
            layer.len() as u64,
            &mut &layer[..],
            &PushOptions::default(),
        )
        .expect("push again");
    assert_eq!(again, Pushed::Existed);
    assert_eq!(
        fake.log()[before..],
        [format!("HEAD /v2/team/app/blobs/{layer_digest}")]
    );

    let body = manifest(&config_digest, &layer_digest, layer.len());
    let put = repo
        .put_manifest(&ManifestRef::Tag("v1".into()), &body, OCI_MANIFEST)
        .expect("put manifest");
    assert_eq!(put.digest, sha256(&body));
    assert!(!put.subject_processed);
    let by_tag = repo
        .get_manifest(&ManifestRef::Tag("v1".into()))
        .expect("by tag");
    assert_eq!(
        (by_tag.bytes.as_slice(), by_tag.media_type.as_str()),
        (&body[..], OCI_MANIFEST)
    );
    let by_digest = repo
        .get_manifest(&put.digest.clone().into())
        .expect("by digest");
    assert_eq!(by_digest.digest, put.digest);
    let head = repo
        .head_manifest(&ManifestRef::Tag("v1".into()))
        .expect("head")
        .expect("present");
    assert_eq!(head.digest.as_ref(), Some(&put.digest));
    assert_eq!(head.size, Some(body.len() as u64));
    let accept = fake
        .server
        .requests()
        .into_iter()
        .find(|r| r.method == "GET" && r.path().contains("/manifests/"))
        .and_then(|r| r.header("accept").map(str::to_owned))
        .expect("an Accept");
    for t in [
        "application/vnd.oci.image.index.v1+json",
        OCI_MANIFEST,
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ] {
        assert!(accept.contains(t), "{accept}");
    }

    let mut reader = repo
        .open_blob(&layer_digest, layer.len() as u64)
        .expect("open");
    assert_eq!(read_all(&mut reader).expect("read"), layer);
    assert_eq!(
        repo.blob_exists(&layer_digest).expect("head"),
        Some(layer.len() as u64)
    );

    repo.put_manifest(&ManifestRef::Tag("v2".into()), &body, OCI_MANIFEST)
        .expect("second tag");
    assert_eq!(repo.tags().expect("tags"), ["v1", "v2"]);
    repo.delete_tag("v2").expect("delete tag");
    assert_eq!(repo.tags().expect("tags"), ["v1"]);
    repo.delete_manifest(&put.digest).expect("delete manifest");
    let gone = repo
        .get_manifest(&ManifestRef::Tag("v1".into()))
        .expect_err("deleted");
    assert!(gone.is_not_found(), "{gone}");
    assert_eq!(gone.http_status(), Some(404));
    assert_eq!(gone.error_codes()[0].code, "MANIFEST_UNKNOWN");
    assert!(
        repo.head_manifest(&put.digest.into())
            .expect("head")
            .is_none()
    );
}

#[test]
fn an_error_names_registry_repository_url_digest_status_and_code() {
    let fake = Fake::start();
    let repo = fake.repo("team/app");
    let digest = sha256(b"missing");
    let e = repo
        .get_manifest(&digest.clone().into())
        .expect_err("missing");
    let text = e.to_string();
    for part in [
        fake.registry().as_str(),
        "team/app",
        digest.as_str(),
        "/v2/team/app/manifests/",
        "HTTP 404",
        "MANIFEST_UNKNOWN",
    ] {
        assert!(text.contains(part), "{part} not in {text}");
    }
    assert_eq!(e.registry_name(), fake.registry());
    assert_eq!(e.repository_name(), Some("team/app"));
    assert_eq!(e.digest_at_fault(), Some(&digest));
}

#[test]
fn basic_auth_after_a_challenge() {
    let fake = Fake::start();
    fake.state.lock().expect("lock").auth = Some(Auth::Basic("ann".into(), "pw".into()));
    let mut creds = StaticCredentials::default();
    creds.0.insert(
        fake.registry(),
        Credential::Basic {
            username: "ann".into(),
            password: "pw".into(),
        },
    );
    let client = RegistryClient::new(RegistryOptions {
        credentials: std::sync::Arc::new(creds),
        ..fake.options()
    });
    let repo = client.repository(&fake.registry(), "a");
    let d = fake.put_manifest(
        Some("t"),
        br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
        OCI_MANIFEST,
    );
    assert_eq!(
        repo.get_manifest(&"t".to_owned().into_tag())
            .expect("get")
            .digest,
        d
    );
    // Anonymous: refused, named.
    let anon = fake
        .repo("a")
        .get_manifest(&"t".to_owned().into_tag())
        .expect_err("anonymous");
    assert_eq!(anon.kind(), &ErrorKind::Unauthorized);
}

trait IntoTag {
    fn into_tag(self) -> ManifestRef;
}

impl IntoTag for String {
    fn into_tag(self) -> ManifestRef {
        ManifestRef::Tag(self)
    }
}

#[test]
fn bearer_tokens_per_scope_set_are_cached() {
    let fake = Fake::start();
    fake.state.lock().expect("lock").auth = Some(Auth::Bearer);
    let client = fake.client();
    let a = client.repository(&fake.registry(), "a");
    fake.put_manifest(
        Some("t"),
        br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
        OCI_MANIFEST,
    );
    a.get_manifest(&"t".to_owned().into_tag()).expect("first");
    a.get_manifest(&"t".to_owned().into_tag()).expect("second");
    a.tags().expect("tags");
    let tokens: Vec<String> = fake
        .log()
        .into_iter()
        .filter(|l| l.starts_with("GET /token"))
        .collect();
    assert_eq!(tokens.len(), 1, "one token for one scope: {tokens:?}");
    assert!(
        tokens[0].contains("scope=repository%3Aa%3Apull"),
        "{tokens:?}"
    );
    assert!(tokens[0].contains("service=fake"), "{tokens:?}");
    // A push needs a new token; it keeps pull on `a` (scopes merged) and asks push first.
    let b = client.repository(&fake.registry(), "b");
    let blob = b"xyz".to_vec();
    b.push_blob(&sha256(&blob), 3, &mut &blob[..], &PushOptions::default())
        .expect("push");
    let tokens: Vec<String> = fake
        .log()
        .into_iter()
        .filter(|l| l.starts_with("GET /token"))
        .collect();
    let last = tokens.last().expect("a token");
    let b_at = last
        .find("repository%3Ab%3Apull%2Cpush")
        .expect("push scope");
    let a_at = last
        .find("repository%3Aa%3Apull")
        .expect("merged pull scope");
    assert!(b_at < a_at, "push scope first: {last}");
}

#[test]
fn a_401_with_a_new_scope_gets_a_token_with_it() {
    let fake = Fake::start();
    fake.state.lock().expect("lock").auth = Some(Auth::Bearer);
    // The tag list of `a` wants pull on `shared` as well.
    fake.hook(|r, state| {
        if r.path() != "/v2/a/tags/list" {
            return None;
        }
        let ok = r
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .and_then(|t| state.tokens.get(t))
            .is_some_and(|s| s.iter().any(|x| x == "repository:shared:pull"));
        if ok {
            return None;
        }
        let host = r.header("host").unwrap_or("").to_owned();
        Some(Reply::status(401).header(
            "WWW-Authenticate",
            &format!("Bearer realm=\"http://{host}/token\",service=\"fake\",scope=\"repository:a:pull repository:shared:pull\",error=\"insufficient_scope\""),
        ))
    });
    let tags = fake.repo("a").tags().expect("tags after the new scope");
    assert!(tags.is_empty());
    let tokens: Vec<String> = fake
        .log()
        .into_iter()
        .filter(|l| l.starts_with("GET /token"))
        .collect();
    assert!(
        tokens
            .last()
            .is_some_and(|t| t.contains("repository%3Ashared%3Apull")),
        "{tokens:?}"
    );
}

#[test]
fn a_401_in_the_middle_of_a_chunked_push_refreshes_the_token() {
    let fake = Fake::start();
    fake.state.lock().expect("lock").auth = Some(Auth::Bearer);
    let patches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = patches.clone();
    // After the first PATCH every token expires.
    fake.hook(move |r, state| {
        if r.method == "PATCH" && seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            state.tokens.clear();
        }
        None
    });
    let client = RegistryClient::new(RegistryOptions {
        chunk_size: 64 * 1024,
        ..fake.options()
    });
    let repo = client.repository(&fake.registry(), "a");
    let blob = bytes(200_000, 3);
    let d = sha256(&blob);
    repo.push_blob(
        &d,
        blob.len() as u64,
        &mut &blob[..],
        &PushOptions::default(),
    )
    .expect("push through the refresh");
    assert_eq!(
        fake.state.lock().expect("lock").blobs.get(d.as_str()),
        Some(&blob)
    );
    let tokens = fake
        .log()
        .into_iter()
        .filter(|l| l.starts_with("GET /token"))
        .count();
    assert!(tokens >= 2, "the token was refreshed: {:?}", fake.log());
}

#[test]
fn a_429_waits_as_retry_after_says() {
    let fake = Fake::start();
    fake.put_manifest(
        Some("t"),
        br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
        OCI_MANIFEST,
    );
    let once = std::sync::atomic::AtomicBool::new(false);
    fake.hook(move |r, _| {
        (r.path().ends_with("/manifests/t")
            && !once.swap(true, std::sync::atomic::Ordering::SeqCst))
        .then(|| Reply::status(429).header("Retry-After", "1"))
    });
    let started = Instant::now();
    fake.repo("a")
        .get_manifest(&"t".to_owned().into_tag())
        .expect("after the wait");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
    // Retry-After beyond what the client accepts: given up at once.
    fake.hook(|r, _| {
        r.path()
            .ends_with("/manifests/t")
            .then(|| Reply::status(429).header("Retry-After", "3600"))
    });
    let started = Instant::now();
    let e = fake
        .repo("a")
        .get_manifest(&"t".to_owned().into_tag())
        .expect_err("too long");
    assert_eq!(e.http_status(), Some(429), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_503_storm_is_retried_until_it_passes() {
    let fake = Fake::start();
    fake.put_manifest(
        Some("t"),
        br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
        OCI_MANIFEST,
    );
    let count = std::sync::atomic::AtomicUsize::new(0);
    fake.hook(move |r, _| {
        (r.path().ends_with("/manifests/t")
            && count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 3)
            .then(|| Reply::status(503))
    });
    fake.repo("a")
        .get_manifest(&"t".to_owned().into_tag())
        .expect("fourth attempt");
    assert_eq!(
        fake.log()
            .iter()
            .filter(|l| l.ends_with("/manifests/t"))
            .count(),
        4
    );
}

#[test]
fn an_endless_503_storm_is_given_up_after_the_retries() {
    let fake = Fake::start();
    fake.hook(|r, _| {
        r.path()
            .ends_with("/manifests/t")
            .then(|| Reply::status(503))
    });
    let client = RegistryClient::new(RegistryOptions {
        retries: 2,
        ..fake.options()
    });
    let e = client
        .repository(&fake.registry(), "a")
        .get_manifest(&"t".to_owned().into_tag())
        .expect_err("gives up");
    assert_eq!(
        e.kind(),
        &ErrorKind::RetriesExhausted { attempts: 3 },
        "{e}"
    );
    assert_eq!(e.http_status(), Some(503));
    assert_eq!(
        fake.log()
            .iter()
            .filter(|l| l.ends_with("/manifests/t"))
            .count(),
        3
    );
}

#[test]
fn a_body_cut_short_is_resumed_with_a_range() {
    let fake = Fake::start();
    let blob = bytes(300_000, 5);
    let d = fake.put_blob(&blob);
    let first = std::sync::atomic::AtomicBool::new(true);
    let half = blob[..100_000].to_vec();
    let total = blob.len() as u64;
    fake.hook(move |r, _| {
        (r.method == "GET"
            && r.path().contains("/blobs/")
            && first.swap(false, std::sync::atomic::Ordering::SeqCst))
        .then(|| Reply::cut_short(half.clone(), total))
    });
    let mut reader = fake.repo("a").open_blob(&d, total).expect("open");
    assert_eq!(read_all(&mut reader).expect("resumed"), blob);
    assert_eq!(reader.resumes(), 1);
    let ranges: Vec<String> = fake
        .server
        .requests()
        .iter()
        .filter_map(|r| r.header("range").map(str::to_owned))
        .collect();
    assert_eq!(ranges, ["bytes=100000-"]);
}

#[test]
fn a_blob_with_the_wrong_content_is_refused_and_named() {
    let fake = Fake::start();
    let blob = bytes(5000, 6);
    let d = sha256(&blob);
    let mut evil = blob.clone();
    evil[42] ^= 1;
    fake.state
        .lock()
        .expect("lock")
        .blobs
        .insert(d.to_string(), evil);
    let mut reader = fake
        .repo("a")
        .open_blob(&d, blob.len() as u64)
        .expect("open");
    let e = read_all(&mut reader).expect_err("refused");
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    let e = io_error(&e);
    assert!(matches!(e.kind(), ErrorKind::DigestMismatch { .. }), "{e}");
    assert_eq!(e.digest_at_fault(), Some(&d));
    assert!(e.to_string().contains(&format!("/v2/a/blobs/{d}")), "{e}");
    // Longer than the descriptor: refused at the first extra byte.
    // (Its Content-Length says so before any byte is read.)
    let e = fake.repo("a").open_blob(&d, 100).expect_err("too long");
    assert_eq!(
        e.kind(),
        &ErrorKind::SizeMismatch {
            expected: 100,
            actual: 5000
        },
        "{e}"
    );
    // Without Content-Length, at the first byte past the size.
    let served = bytes(5000, 6);
    fake.hook(move |r, _| (r.method == "GET").then(|| Reply::unannounced(served.clone())));
    let mut reader = fake.repo("a").open_blob(&d, 100).expect("open");
    let e = read_all(&mut reader).expect_err("too long");
    assert_eq!(
        io_error(&e).kind(),
        &ErrorKind::SizeMismatch {
            expected: 100,
            actual: 101
        },
        "{e}"
    );
}

#[test]
fn a_blob_redirected_to_another_host_gets_no_authorization() {
    let fake = Fake::start();
    fake.state.lock().expect("lock").auth = Some(Auth::Basic("ann".into(), "pw".into()));
    let blob = bytes(1000, 7);
    let d = fake.put_blob(&blob);
    let port = fake.server.addr().port();
    let served = blob.clone();
    fake.hook(move |r, _| {
        if r.host == "cdn.test" {
            return Some(Reply::ok(served.clone()));
        }
        (r.method == "GET"
            && r.path().contains("/blobs/sha256:")
            && r.header("authorization").is_some())
        .then(|| {
            Reply::status(307).header(
                "Location",
                &format!("http://cdn.test:{port}/store/blob?sig=1"),
            )
        })
    });
    let client = RegistryClient::new(RegistryOptions {
        credentials: std::sync::Arc::new(Credential::Basic {
            username: "ann".into(),
            password: "pw".into(),
        }),
        ..fake.options()
    });
    let mut reader = client
        .repository(&fake.registry(), "a")
        .open_blob(&d, blob.len() as u64)
        .expect("open");
    assert_eq!(read_all(&mut reader).expect("read"), blob);
    let requests = fake.server.requests();
    let cdn: Vec<_> = requests.iter().filter(|r| r.host == "cdn.test").collect();
    assert_eq!(cdn.len(), 1);
    assert_eq!(cdn[0].header("authorization"), None, "{:?}", cdn[0]);
    assert!(requests.iter().any(|r| r.host != "cdn.test"
        && r.path().contains("/blobs/")
        && r.header("authorization").is_some()));
}

#[test]
fn tag_pages_are_followed_and_a_link_to_another_host_refused() {
    let fake = Fake::start();
    {
        let mut s = fake.state.lock().expect("lock");
        s.page = Some(2);
        for t in ["a", "b", "c", "d", "e"] {
            s.tags.insert(t.into(), "sha256:x".into());
        }
    }
    assert_eq!(
        fake.repo("r").tags().expect("pages"),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        fake.log()
            .iter()
            .filter(|l| l.contains("/tags/list"))
            .count(),
        3
    );
    let port = fake.server.addr().port();
    fake.hook(move |r, _| {
        (r.path().ends_with("/tags/list") && r.host != "other.test").then(|| {
            Reply::json(&json!({"name": "r", "tags": ["a"]})).header(
                "Link",
                &format!("<http://other.test:{port}/v2/r/tags/list?last=a>; rel=\"next\""),
            )
        })
    });
    let e = fake.repo("r").tags().expect_err("other host");
    assert!(matches!(e.kind(), ErrorKind::Refused { .. }), "{e}");
    assert!(e.to_string().contains("other.test"), "{e}");
    assert!(
        fake.server
            .requests()
            .iter()
            .all(|r| r.host != "other.test")
    );
}

#[test]
fn a_chunked_upload_stays_under_a_4_mib_request_body_cap() {
    let fake = Fake::start();
    fake.state.lock().expect("lock").body_cap = Some(4 << 20);
    let blob = bytes(9 << 20, 8);
    let d = sha256(&blob);
    fake.repo("big")
        .push_blob(
            &d,
            blob.len() as u64,
            &mut &blob[..],
            &PushOptions::default(),
        )
        .expect("chunked push");
    let requests = fake.server.requests();
    let patches: Vec<_> = requests.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 3);
    assert!(patches.iter().all(|r| r.body.len() <= 4 << 20));
    assert_eq!(
        patches
            .iter()
            .map(|r| r.header("content-range").unwrap_or("").to_owned())
            .collect::<Vec<_>>(),
        ["0-4194303", "4194304-8388607", "8388608-9437183"]
    );
    // Each PATCH went to the Location of the previous answer.
    assert!(
        patches[1].target.contains("_state=s4194304"),
        "{}",
        patches[1].target
    );
    assert_eq!(
        fake.state
            .lock()
            .expect("lock")
            .blobs
            .get(d.as_str())
            .map(Vec::len),
        Some(blob.len())
    );
}

#[test]
fn chunks_honour_oci_chunk_min_length() {
    let fake = Fake::start();
    fake.hook(|r, state| {
        if r.method == "POST" {
            let mut reply = crate::fake::answer(r, state);
            reply = reply.header("OCI-Chunk-Min-Length", "100000");
            return Some(reply);
        }
        None
    });
    let client = RegistryClient::new(RegistryOptions {
        chunk_size: 10_000,
        ..fake.options()
    });
    let blob = bytes(250_000, 9);
    let d = sha256(&blob);
    client
        .repository(&fake.registry(), "a")
        .push_blob(
            &d,
            blob.len() as u64,
            &mut &blob[..],
            &PushOptions::default(),
        )
        .expect("push");
    let sizes: Vec<usize> = fake
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.body.len())
        .collect();
    assert_eq!(sizes, [100_000, 100_000, 50_000]);
}

#[test]
fn a_416_resumes_from_the_upload_status() {
    let fake = Fake::start();
    let once = std::sync::atomic::AtomicBool::new(true);
    // The first PATCH keeps only half its body and answers 416.
    fake.hook(move |r, state| {
        if r.method == "PATCH" && once.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let id = r.path().rsplit('/').next().unwrap_or("").to_owned();
            let half = r.body.len() / 2;
            state
                .uploads
                .get_mut(&id)
                .expect("session")
                .extend_from_slice(&r.body[..half]);
            return Some(Reply::status(416));
        }
        None
    });
    let client = RegistryClient::new(RegistryOptions {
        chunk_size: 100_000,
        ..fake.options()
    });
    let blob = bytes(150_000, 10);
    let d = sha256(&blob);
    client
        .repository(&fake.registry(), "a")
        .push_blob(
            &d,
            blob.len() as u64,
            &mut &blob[..],
            &PushOptions::default(),
        )
        .expect("resumed push");
    let log = fake.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /v2/a/blobs/uploads/")),
        "{log:?}"
    );
    let ranges: Vec<String> = fake
        .server
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.header("content-range").unwrap_or("").to_owned())
        .collect();
    assert_eq!(ranges, ["0-99999", "50000-99999", "100000-149999"]);
    assert_eq!(
        fake.state.lock().expect("lock").blobs.get(d.as_str()),
        Some(&blob)
    );
}

#[test]
fn an_upload_that_never_advances_ends_in_a_clear_error() {
    let fake = Fake::start();
    fake.hook(|r, _| (r.method == "PATCH").then(|| Reply::status(416)));
    let client = RegistryClient::new(RegistryOptions {
        chunk_size: 1000,
        ..fake.options()
    });
    let blob = bytes(5000, 11);
    let d = sha256(&blob);
    let e = client
        .repository(&fake.registry(), "a")
        .push_blob(
            &d,
            blob.len() as u64,
            &mut &blob[..],
            &PushOptions::default(),
        )
        .expect_err("stalled");
    assert_eq!(e.kind(), &ErrorKind::UploadStalled { offset: 0 }, "{e}");
    assert!(e.to_string().contains("/v2/a/blobs/uploads/"), "{e}");
    // The session was abandoned.
    assert!(
        fake.log()
            .iter()
            .any(|l| l.starts_with("DELETE /v2/a/blobs/uploads/"))
    );
    assert!(fake.state.lock().expect("lock").blobs.is_empty());
}

#[test]
fn a_missing_location_is_a_clear_error() {
    let fake = Fake::start();
    fake.hook(|r, _| (r.method == "POST").then(|| Reply::status(202)));
    let blob = b"abc".to_vec();
    let e = fake
        .repo("a")
        .push_blob(&sha256(&blob), 3, &mut &blob[..], &PushOptions::default())
        .expect_err("no location");
    assert_eq!(e.kind(), &ErrorKind::MissingLocation);
    assert_eq!(e.http_status(), Some(202));
    assert!(e.to_string().contains("/v2/a/blobs/uploads/"), "{e}");
}

#[test]
fn a_manifest_over_4_mib_is_refused() {
    let fake = Fake::start();
    let big = vec![b' '; (4 << 20) + 1];
    fake.hook(move |r, _| {
        r.path().ends_with("/manifests/big").then(|| {
            Reply::status(200)
                .header("Content-Type", OCI_MANIFEST)
                .body(big.clone())
        })
    });
    let e = fake
        .repo("a")
        .get_manifest(&"big".to_owned().into_tag())
        .expect_err("too big");
    assert_eq!(e.kind(), &ErrorKind::TooLarge { limit: 4 << 20 });
    let big = vec![b' '; (4 << 20) + 1];
    let e = fake
        .repo("a")
        .put_manifest(&"big".to_owned().into_tag(), &big, OCI_MANIFEST)
        .expect_err("too big to push");
    assert_eq!(e.kind(), &ErrorKind::TooLarge { limit: 4 << 20 });
}

#[test]
fn manifests_are_verified() {
    let fake = Fake::start();
    let body =
        br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}"#.to_vec();
    let d = fake.put_manifest(
        Some("t"),
        &body,
        "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
    );
    // Parameters of the Content-Type are ignored.
    assert_eq!(
        fake.repo("a")
            .get_manifest(&"t".to_owned().into_tag())
            .expect("params")
            .digest,
        d
    );
    // Other bytes under the digest: refused.
    let other =
        br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":3}"#.to_vec();
    fake.state
        .lock()
        .expect("lock")
        .manifests
        .insert(d.to_string(), (other, OCI_MANIFEST.into()));
    let e = fake
        .repo("a")
        .get_manifest(&d.clone().into())
        .expect_err("wrong bytes");
    assert!(matches!(e.kind(), ErrorKind::DigestMismatch { .. }), "{e}");
    // mediaType and Content-Type disagree.
    fake.put_manifest(
        Some("odd"),
        &body,
        "application/vnd.oci.image.index.v1+json",
    );
    let e = fake
        .repo("a")
        .get_manifest(&"odd".to_owned().into_tag())
        .expect_err("mismatch");
    assert!(
        matches!(e.kind(), ErrorKind::MediaTypeMismatch { .. }),
        "{e}"
    );
    // A Docker-Content-Digest that is not the bytes'.
    fake.hook(|r, state| {
        r.path().ends_with("/manifests/lie").then(|| {
            let (b, _) = state.manifests.values().next().cloned().expect("one");
            Reply::status(200)
                .header("Content-Type", OCI_MANIFEST)
                .header("Docker-Content-Digest", sha256(b"other").as_str())
                .body(b)
        })
    });
    let e = fake
        .repo("a")
        .get_manifest(&"lie".to_owned().into_tag())
        .expect_err("header lies");
    assert!(
        matches!(e.kind(), ErrorKind::HeaderDigestMismatch { .. }),
        "{e}"
    );
}

#[test]
fn a_mount_sends_nothing_and_a_refused_mount_uploads() {
    let fake = Fake::start();
    let blob = bytes(3000, 12);
    let d = fake.put_blob(&blob);
    let options = PushOptions {
        mount_from: Some("src".into()),
        skip_exists_check: true,
    };
    let got = fake
        .repo("dst")
        .push_blob(&d, blob.len() as u64, &mut &blob[..], &options)
        .expect("mount");
    assert_eq!(got, Pushed::Mounted);
    assert!(
        fake.server
            .requests()
            .iter()
            .all(|r| r.method != "PATCH" && r.method != "PUT")
    );
    let post = fake
        .log()
        .into_iter()
        .find(|l| l.starts_with("POST"))
        .expect("a POST");
    assert!(
        post.contains(&format!("mount={}", d.as_str().replace(':', "%3A")))
            && post.contains("from=src"),
        "{post}"
    );
    // Refused: the 202 session is used for an upload.
    fake.state.lock().expect("lock").mounts = false;
    let got = fake
        .repo("dst2")
        .push_blob(&d, blob.len() as u64, &mut &blob[..], &options)
        .expect("upload instead");
    assert_eq!(got, Pushed::Uploaded);
    assert_eq!(
        fake.log()
            .iter()
            .filter(|l| l.starts_with("POST /v2/dst2/"))
            .count(),
        1
    );
}

#[test]
fn a_reader_that_does_not_match_its_descriptor_commits_nothing() {
    let fake = Fake::start();
    let blob = bytes(3000, 13);
    let wrong = sha256(b"something else");
    let e = fake
        .repo("a")
        .push_blob(
            &wrong,
            blob.len() as u64,
            &mut &blob[..],
            &PushOptions::default(),
        )
        .expect_err("mismatch");
    assert!(matches!(e.kind(), ErrorKind::DigestMismatch { .. }), "{e}");
    assert!(fake.server.requests().iter().all(|r| r.method != "PUT"));
    assert!(fake.state.lock().expect("lock").blobs.is_empty());
}

#[test]
fn the_transfer_limit_holds_jobs_at_once() {
    let client = RegistryClient::new(RegistryOptions {
        jobs: 2,
        ..RegistryOptions::default()
    });
    let a = client.transfer_permit("r.test");
    let b = client.transfer_permit("r.test");
    let other = client.transfer_permit("s.test");
    let (tx, rx) = std::sync::mpsc::channel();
    let c2 = client.clone();
    let t = std::thread::spawn(move || {
        let _p = c2.transfer_permit("r.test");
        tx.send(()).expect("send");
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "a third slot was given"
    );
    drop(a);
    rx.recv_timeout(Duration::from_secs(5))
        .expect("a slot after one is freed");
    t.join().expect("thread");
    drop((b, other));
}

#[test]
fn a_blob_of_unknown_digest_is_digested_while_it_streams() {
    let fake = Fake::start();
    let client = RegistryClient::new(RegistryOptions {
        chunk_size: 50_000,
        ..fake.options()
    });
    let repo = client.repository(&fake.registry(), "a");
    for (len, patches) in [(20_000usize, 0usize), (120_000, 3)] {
        let blob = bytes(len, 14);
        let before = fake.server.requests().len();
        let (digest, size) = repo
            .push_blob_stream(oci_digest::Algorithm::Sha256, &mut &blob[..])
            .expect("streamed push");
        assert_eq!((digest.clone(), size), (sha256(&blob), len as u64));
        let requests = fake.server.requests();
        let sent = &requests[before..];
        assert_eq!(sent.iter().filter(|r| r.method == "PATCH").count(), patches);
        assert!(
            sent.iter().all(|r| r.method != "HEAD"),
            "no HEAD for an unknown digest"
        );
        assert_eq!(
            fake.state.lock().expect("lock").blobs.get(digest.as_str()),
            Some(&blob)
        );
    }
}
