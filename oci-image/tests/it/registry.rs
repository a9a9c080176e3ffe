//! The `docker://` transport against a scripted registry (what a real one will not do on
//! demand): a push whose blob upload fails tags nothing; a blob served with the wrong
//! content is a check failure and nothing is tagged in the layout; a source reads the
//! root by tag and lists referrers from the tag schema.

use std::collections::BTreeMap;
use std::sync::Arc;

use oci_image::{CopyOptions, Endpoint, OpenOptions, RegistryOptions, copy, open_endpoint};
use oci_test_support::fixture::{ImageFixture, LayerSpec};
use oci_test_support::http::{Reply, Request, Responder, Routes, Server};

use crate::{linux_amd64, new_layout, scratch};

/// Options for a scripted registry: plain HTTP, no retries.
fn plain() -> RegistryOptions {
    RegistryOptions {
        tls_verify: Some(false),
        retry_times: 0,
        ..RegistryOptions::default()
    }
}

fn image() -> ImageFixture {
    ImageFixture::new(
        &linux_amd64(),
        vec![
            LayerSpec::gzip(&[("a", b"one")]),
            LayerSpec::gzip(&[("b", b"two")]),
        ],
    )
}

/// A registry serving `image` as `app:v1`, with `blobs` replacing some blob bodies.
fn serving(image: &ImageFixture, tampered: BTreeMap<String, Vec<u8>>) -> Server {
    let manifest = image
        .blob(&image.manifest.digest)
        .expect("manifest bytes")
        .to_vec();
    let blobs: BTreeMap<String, Vec<u8>> = image
        .blobs
        .iter()
        .map(|(d, b)| {
            (
                d.clone(),
                tampered.get(d).cloned().unwrap_or_else(|| b.clone()),
            )
        })
        .collect();
    let manifest_digest = image.manifest.digest.to_string();
    let blobs = Arc::new(blobs);
    Server::script(
        Routes::new()
            .get("/v2/", Reply::status(200))
            .prefix(
                "GET",
                "/v2/app/manifests/",
                Responder::with(move |r: &Request| {
                    let reference = r.path().rsplit('/').next().unwrap_or_default();
                    if reference == "v1" || reference == manifest_digest {
                        Reply::status(200)
                            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                            .header("Docker-Content-Digest", &manifest_digest)
                            .body(manifest.clone())
                    } else {
                        Reply::not_found()
                    }
                }),
            )
            .prefix(
                "GET",
                "/v2/app/blobs/",
                Responder::with(move |r: &Request| {
                    let digest = r.path().rsplit('/').next().unwrap_or_default();
                    match blobs.get(digest) {
                        Some(body) => Reply::ok(body.clone()),
                        None => Reply::not_found(),
                    }
                }),
            ),
    )
}

#[test]
fn a_source_reads_the_root_by_tag_and_the_blobs_verified() {
    let image = image();
    let server = serving(&image, BTreeMap::new());
    let endpoint =
        Endpoint::parse_image(&format!("docker://{}/app:v1", server.addr())).expect("endpoint");
    let options = OpenOptions {
        registry: plain(),
        ..OpenOptions::default()
    };
    let source = open_endpoint(&endpoint, &options).expect("open");
    assert_eq!(source.root().digest, image.manifest.digest);
    assert_eq!(source.root().size, image.manifest.size);
    assert_eq!(
        source.describe(),
        format!("docker://{}/app:v1", server.addr())
    );
    let layout = new_layout("registry-source");
    let dest =
        Endpoint::parse_image(&format!("oci:{}:v1", layout.root().display())).expect("endpoint");
    let copied = copy(source.as_ref(), &dest, &CopyOptions::default()).expect("copy");
    assert_eq!(copied.digest, image.manifest.digest);
    assert_eq!(copied.copied, 4);
    // No referrers tag: none.
    assert_eq!(
        source.referrers(&image.manifest.digest).expect("referrers"),
        Some(Vec::new())
    );
}

#[test]
fn a_blob_with_the_wrong_content_fails_the_copy_and_tags_nothing() {
    let image = image();
    let layer = image.layers[1].digest.to_string();
    let mut wrong = image.blobs[&layer].clone();
    let n = wrong.len();
    wrong[n / 2] ^= 0xff;
    let server = serving(&image, BTreeMap::from([(layer.clone(), wrong)]));
    let endpoint =
        Endpoint::parse_image(&format!("docker://{}/app:v1", server.addr())).expect("endpoint");
    let options = OpenOptions {
        registry: plain(),
        ..OpenOptions::default()
    };
    let source = open_endpoint(&endpoint, &options).expect("open");
    let layout = new_layout("registry-wrong-blob");
    let dest =
        Endpoint::parse_image(&format!("oci:{}:v1", layout.root().display())).expect("endpoint");
    let e = copy(source.as_ref(), &dest, &CopyOptions::default()).expect_err("wrong blob");
    assert!(e.is_check_failure(), "{e}");
    assert!(
        oci_naming::error_chain(&e).contains(&layer),
        "{}",
        oci_naming::error_chain(&e)
    );
    let index = layout.index().expect("index").into_value();
    assert!(index.manifests.is_empty(), "{:?}", index.manifests);
}

#[test]
fn a_push_whose_upload_fails_tags_nothing() {
    let image = image();
    let work = scratch("registry-failed-push");
    let layout = oci_test_support::fixture::LayoutFixture::create(work.join("layout"));
    layout.tag_image(&image, "v1");
    let server = Server::script(
        Routes::new()
            .get("/v2/", Reply::status(200))
            .prefix("HEAD", "/v2/app/", Reply::not_found())
            .post(
                "/v2/app/blobs/uploads/",
                Reply::status(202).header("Location", "/v2/app/blobs/uploads/session-1"),
            )
            .prefix("PUT", "/v2/app/blobs/uploads/", Reply::status(500))
            .prefix("PATCH", "/v2/app/blobs/uploads/", Reply::status(500))
            .prefix("DELETE", "/v2/app/blobs/uploads/", Reply::status(204))
            .prefix("PUT", "/v2/app/manifests/", Reply::status(201)),
    );
    let source = oci_image::open_source(
        &format!("oci:{}:v1", layout.root().display()),
        &OpenOptions::default(),
    )
    .expect("open layout");
    let dest =
        Endpoint::parse_image(&format!("docker://{}/app:v1", server.addr())).expect("endpoint");
    let options = CopyOptions {
        registry: plain(),
        jobs: 1,
        ..CopyOptions::default()
    };
    let e = copy(source.as_ref(), &dest, &options).expect_err("the upload fails");
    assert!(
        !e.is_check_failure(),
        "a registry failure is not a check: {e}"
    );
    let chain = oci_naming::error_chain(&e);
    assert!(chain.contains("500"), "{chain}");
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.method == "PUT" && r.path().starts_with("/v2/app/blobs/uploads/")),
        "{requests:?}"
    );
    let manifest_puts: Vec<&Request> = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path().starts_with("/v2/app/manifests/"))
        .collect();
    assert!(
        manifest_puts.is_empty(),
        "nothing tagged: {manifest_puts:?}"
    );
}
