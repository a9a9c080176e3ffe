//! Referrers: the API with pages and filters, anything but an index meaning "unsupported",
//! the fallback tag read (never the subject) and written (If-Match or a re-read).

use oci_registry::{ErrorKind, ReferrersSource, fallback_tag, referrer_descriptor};
use oci_spec_types::Digest;
use oci_test_support::http::Reply;
use serde_json::json;

use crate::fake::{Fake, sha256};

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn referrer(artifact_type: &str, n: u8) -> (Vec<u8>, Digest) {
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha256(b"{}"), "size": 2},
        "layers": [],
        "subject": {"mediaType": MANIFEST, "digest": sha256(b"subject"), "size": 7},
        "annotations": {"n": n.to_string()}
    }))
    .expect("json");
    let d = sha256(&body);
    (body, d)
}

fn index_of(list: &[serde_json::Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": list}))
        .expect("json")
}

fn descriptor_json(body: &[u8], d: &Digest) -> serde_json::Value {
    serde_json::to_value(referrer_descriptor(body, MANIFEST, d)).expect("json")
}

#[test]
fn fallback_tags_follow_the_schema() {
    let d = sha256(b"subject");
    assert_eq!(fallback_tag(&d), format!("sha256-{}", d.encoded()));
    let long = Digest::parse(&format!("sha512:{}", "0123456789abcdef".repeat(8))).expect("sha512");
    let tag = fallback_tag(&long);
    assert_eq!(
        tag,
        format!("sha512-{}", &"0123456789abcdef".repeat(8)[..64])
    );
    assert!(tag.len() <= 128);
}

#[test]
fn the_referrers_api_is_paged_and_filtered() {
    let fake = Fake::start();
    let subject = sha256(b"subject");
    let (sig, sig_d) = referrer("application/vnd.dev.cosign.signature", 1);
    let (sbom, sbom_d) = referrer("application/spdx+json", 2);
    let page1 = index_of(&[descriptor_json(&sig, &sig_d)]);
    let page2 = index_of(&[descriptor_json(&sbom, &sbom_d)]);
    let s = subject.to_string();
    fake.hook(move |r, _| {
        if !r.path().starts_with("/v2/a/referrers/") {
            return None;
        }
        assert!(r.path().ends_with(&s), "{}", r.path());
        Some(if r.query().is_some_and(|q| q.contains("page=2")) {
            Reply::status(200)
                .header("Content-Type", INDEX)
                .body(page2.clone())
        } else {
            Reply::status(200)
                .header("Content-Type", INDEX)
                .header(
                    "Link",
                    &format!("</v2/a/referrers/{s}?page=2>; rel=\"next\""),
                )
                .body(page1.clone())
        })
    });
    let all = fake.repo("a").referrers(&subject, None).expect("referrers");
    assert_eq!(all.source, ReferrersSource::Api);
    assert_eq!(
        all.manifests
            .iter()
            .map(|d| d.digest.clone())
            .collect::<Vec<_>>(),
        [sig_d.clone(), sbom_d]
    );
    assert_eq!(
        all.manifests[0]
            .annotations
            .as_ref()
            .and_then(|a| a.get("n"))
            .map(String::as_str),
        Some("1")
    );
    // The registry did not say it filtered: the client does.
    let sigs = fake
        .repo("a")
        .referrers(&subject, Some("application/vnd.dev.cosign.signature"))
        .expect("filtered");
    assert_eq!(sigs.manifests.len(), 1);
    assert_eq!(sigs.manifests[0].digest, sig_d);
    assert!(
        fake.log()
            .iter()
            .any(|l| l.contains("artifactType=application%2Fvnd.dev.cosign.signature")),
        "{:?}",
        fake.log()
    );
}

#[test]
fn an_html_page_at_the_referrers_endpoint_means_the_fallback_tag() {
    let fake = Fake::start();
    let subject = sha256(b"subject");
    let (sig, sig_d) = referrer("application/vnd.dev.cosign.signature", 1);
    fake.put_manifest(
        Some(&fallback_tag(&subject)),
        &index_of(&[descriptor_json(&sig, &sig_d)]),
        INDEX,
    );
    fake.hook(|r, _| {
        r.path().starts_with("/v2/a/referrers/").then(|| {
            Reply::status(200)
                .header("Content-Type", "text/html")
                .body("<html><body>Please log in</body></html>")
        })
    });
    let found = fake.repo("a").referrers(&subject, None).expect("fallback");
    assert_eq!(found.source, ReferrersSource::FallbackTag);
    assert_eq!(found.manifests.len(), 1);
    assert_eq!(found.manifests[0].digest, sig_d);
    // 404 (the fake's answer, as distribution's): the fallback too.
    fake.hook(|_, _| None);
    let found = fake
        .repo("a")
        .referrers(&subject, None)
        .expect("404 fallback");
    assert_eq!(found.source, ReferrersSource::FallbackTag);
    assert_eq!(found.manifests.len(), 1);
    // No tag at all: no referrers.
    let none = fake
        .repo("a")
        .referrers(&sha256(b"other"), None)
        .expect("none");
    assert!(none.manifests.is_empty());
}

#[test]
fn a_fallback_tag_resolving_to_the_subject_is_not_a_referrers_list() {
    let fake = Fake::start();
    // The subject is itself an index (multi-arch), and the registry resolves the
    // fallback tag to it, as GitLab's does.
    let subject_body = index_of(&[]);
    let subject = fake.put_manifest(None, &subject_body, INDEX);
    fake.state
        .lock()
        .expect("lock")
        .tags
        .insert(fallback_tag(&subject), subject.to_string());
    let found = fake.repo("a").referrers(&subject, None).expect("read");
    assert!(found.manifests.is_empty(), "{found:?}");
    // And an update refuses to overwrite it.
    let (sig, sig_d) = referrer("t", 1);
    let e = fake
        .repo("a")
        .add_fallback_referrer(&subject, &referrer_descriptor(&sig, MANIFEST, &sig_d))
        .expect_err("not ours to overwrite");
    assert!(matches!(e.kind(), ErrorKind::NotAnIndex { .. }), "{e}");
}

#[test]
fn the_fallback_index_is_updated_with_if_match_and_once_per_referrer() {
    let fake = Fake::start();
    fake.state.lock().expect("lock").etags = true;
    let subject = sha256(b"subject");
    let (one, one_d) = referrer("t1", 1);
    let (two, two_d) = referrer("t2", 2);
    let repo = fake.repo("a");
    repo.add_fallback_referrer(&subject, &referrer_descriptor(&one, MANIFEST, &one_d))
        .expect("first");
    // A concurrent writer changes the tag between our read and our write once.
    let tag = fallback_tag(&subject);
    let raced = std::sync::atomic::AtomicBool::new(false);
    let tag2 = tag.clone();
    fake.hook(move |r, state| {
        if r.method == "PUT"
            && r.path().ends_with(&tag2)
            && !raced.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let body = index_of(&[]);
            let d = sha256(&body).to_string();
            state.manifests.insert(d.clone(), (body, INDEX.into()));
            state.tags.insert(tag2.clone(), d);
        }
        None
    });
    repo.add_fallback_referrer(&subject, &referrer_descriptor(&two, MANIFEST, &two_d))
        .expect("second, after a 412");
    let puts: Vec<_> = fake
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path().ends_with(&tag))
        .collect();
    assert_eq!(puts.len(), 3, "first, refused, retried");
    assert!(puts[1].header("if-match").is_some());
    let listed = repo.referrers_fallback(&subject, None).expect("read");
    // The concurrent writer emptied it; the retry was based on what it wrote.
    assert_eq!(
        listed
            .manifests
            .iter()
            .map(|d| &d.digest)
            .collect::<Vec<_>>(),
        [&two_d]
    );
    // Already there: nothing written.
    let before = fake.server.requests().len();
    repo.add_fallback_referrer(&subject, &referrer_descriptor(&two, MANIFEST, &two_d))
        .expect("idempotent");
    assert!(
        fake.server.requests()[before..]
            .iter()
            .all(|r| r.method != "PUT")
    );
    repo.remove_fallback_referrer(&subject, &two_d)
        .expect("remove");
    assert!(
        repo.referrers_fallback(&subject, None)
            .expect("read")
            .manifests
            .is_empty()
    );
}

#[test]
fn without_etags_the_fallback_tag_is_read_again_before_writing() {
    let fake = Fake::start();
    let subject = sha256(b"subject");
    let (one, one_d) = referrer("t1", 1);
    let repo = fake.repo("a");
    repo.add_fallback_referrer(&subject, &referrer_descriptor(&one, MANIFEST, &one_d))
        .expect("add");
    let tag = fallback_tag(&subject);
    let reads = fake
        .log()
        .iter()
        .filter(|l| l.starts_with("GET ") && l.ends_with(&tag))
        .count();
    assert_eq!(reads, 2, "{:?}", fake.log());
    let put = fake
        .server
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .expect("a PUT");
    assert_eq!(put.header("content-type"), Some(INDEX));
    assert_eq!(put.header("if-match"), None);
    let index: serde_json::Value = serde_json::from_slice(&put.body).expect("json");
    assert_eq!(index["manifests"][0]["artifactType"], "t1");
    assert_eq!(index["manifests"][0]["annotations"]["n"], "1");
}
