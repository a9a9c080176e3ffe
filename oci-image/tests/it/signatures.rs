//! Signatures stored with an image: hostile stores (CVE-2023-33959 subjects, CVE-2023-46737
//! counts and sizes, CVE-2024-3727 digests), and lookaside directories of images with a
//! Docker reference (read: a skopeo signature; written: the staging directory).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use oci_image::signatures::{
    COSIGN_ARTIFACT_TYPE, MAX_SIGNATURE_LAYERS, NewSignature, SignaturesError, Storage,
    check_policy, cosign_tag, put_signature, read_signatures,
};
use oci_image::{
    BlobOpenError, BlobReader, BlobSink, Capabilities, Destination, DestinationError, Endpoint,
    LayoutDestination, LayoutSource, Location, ReferrersError, Source, Transport,
};
use oci_naming::Reference;
use oci_sign::cosign::{CosignPrivateKey, SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE};
use oci_sign::policy::Policy;
use oci_sign::registries_d::RegistriesD;
use oci_sign::{COSIGN_TYPE, Payload};
use oci_spec_types::descriptor::{EMPTY_CONTENT, EMPTY_DIGEST};
use oci_spec_types::{
    Algorithm, Descriptor, Digest, Document, ImageIndex, ImageManifest, MediaType,
};
use oci_spec_types::{Platform, media_type};
use oci_test_support::cli::peer;
use oci_test_support::fixture::{ImageFixture, LayoutFixture};

use crate::{LayerSpec, scratch, sha256};

/// A layout holding one image tagged `v1`; the layout and the image.
fn signed_layout(test: &str) -> (LayoutFixture, ImageFixture) {
    let layout = LayoutFixture::create(scratch(test).join("layout"));
    let image = ImageFixture::new(
        &Platform::new("linux", "amd64"),
        vec![LayerSpec::gzip(&[("etc/motd", b"hi\n")])],
    );
    layout.tag_image(&image, "v1");
    (layout, image)
}

fn source(layout: &LayoutFixture) -> LayoutSource {
    let name =
        oci_image::ImageName::parse(&format!("{}:v1", layout.root().display())).expect("name");
    LayoutSource::open_all(&name).expect("open")
}

fn endpoint(layout: &LayoutFixture) -> Endpoint {
    Endpoint::parse_image(&format!("oci:{}:v1", layout.root().display())).expect("endpoint")
}

/// A cosign signature layer (payload stored in the layout) for `image`.
fn cosign_layer(
    layout: &LayoutFixture,
    key: &CosignPrivateKey,
    image: &ImageFixture,
) -> Descriptor {
    let mut payload = Payload::new(&image.manifest.digest, "example.com/foo");
    payload.signature_type = COSIGN_TYPE.to_owned();
    let bytes = payload.to_bytes();
    let digest = layout.put_blob(&bytes);
    let mut layer = Descriptor::new(SIMPLESIGNING_MEDIA_TYPE, digest, bytes.len() as u64);
    layer.annotations = Some(BTreeMap::from([(
        SIGNATURE_ANNOTATION.to_owned(),
        key.sign(&bytes),
    )]));
    layer
}

/// Stores a signature manifest (empty config, `layers`, `subject`) and returns its
/// descriptor (with the artifact type, untagged in index.json when `add` is true).
fn referrer(
    layout: &LayoutFixture,
    layers: Vec<Descriptor>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
    add: bool,
) -> Descriptor {
    layout.put_blob(EMPTY_CONTENT);
    let config = Descriptor::new(
        media_type::EMPTY,
        Digest::parse(EMPTY_DIGEST).expect("digest"),
        2,
    );
    let mut manifest = ImageManifest::new(config, layers);
    manifest.artifact_type = Some(MediaType::from(COSIGN_ARTIFACT_TYPE));
    manifest.subject = subject;
    manifest.annotations = annotations;
    let doc = Document::from_value(manifest);
    let digest = layout.put_blob(doc.bytes());
    let mut descriptor = Descriptor::new(media_type::IMAGE_MANIFEST, digest, doc.size());
    descriptor.artifact_type = Some(MediaType::from(COSIGN_ARTIFACT_TYPE));
    if add {
        layout.add_entry(descriptor.clone(), None);
    }
    descriptor
}

fn cosign_policy(key: &CosignPrivateKey, dir: &Path) -> Policy {
    let public = dir.join("cosign.pub");
    std::fs::write(&public, key.public_key().to_pem()).expect("write");
    Policy::parse(
        format!(
            r#"{{"default":[{{"type":"sigstoreSigned","keyPath":"{}","signedIdentity":{{"type":"exactRepository","dockerRepository":"example.com/foo"}}}}]}}"#,
            public.display()
        )
        .as_bytes(),
    )
    .expect("policy")
}

fn subject_of(image: &ImageFixture) -> Descriptor {
    Descriptor::new(
        image.manifest.media_type.as_str(),
        image.manifest.digest.clone(),
        image.manifest.size,
    )
}

#[test]
fn hostile_referrer_whose_subject_does_not_match_is_refused() {
    // CVE-2023-33959: a referrer naming the manifest's digest with another size or media
    // type is refused before its signature is looked at, whatever that signature says.
    let key = CosignPrivateKey::generate();
    type Spoil = fn(&mut Descriptor);
    let cases: [(&str, Spoil); 2] = [
        ("subject size", |s| s.size += 1),
        ("subject media type", |s| {
            s.media_type = MediaType::from(media_type::DOCKER_MANIFEST);
        }),
    ];
    for (i, (what, spoil)) in cases.iter().enumerate() {
        let (layout, image) = signed_layout(&format!("sig-subject-{i}"));
        let layer = cosign_layer(&layout, &key, &image);
        let mut subject = subject_of(&image);
        spoil(&mut subject);
        referrer(&layout, vec![layer], Some(subject), None, true);
        let policy = cosign_policy(&key, layout.root().parent().expect("parent"));
        let src = source(&layout);
        let check = check_policy(
            &endpoint(&layout),
            &src,
            &policy,
            &RegistriesD::default(),
            oci_sign::openpgp::unix_now(),
        )
        .expect("check");
        assert!(!check.verdict.accepted, "{what}: {check:?}");
        assert_eq!(check.verdict.signatures.len(), 1, "{what}: {check:?}");
        let reason = &check.verdict.signatures[0].reason;
        assert!(reason.contains(what), "{what}: {reason}");
        let found =
            read_signatures(&src, &subject_of(&image), &RegistriesD::default()).expect("read");
        assert!(found.found.is_empty(), "{what}: {found:?}");
        assert_eq!(found.refused.len(), 1, "{what}");
    }
    // The same signature with the exact subject is accepted.
    let (layout, image) = signed_layout("sig-subject-exact");
    let layer = cosign_layer(&layout, &key, &image);
    referrer(&layout, vec![layer], Some(subject_of(&image)), None, true);
    let policy = cosign_policy(&key, layout.root().parent().expect("parent"));
    let check = check_policy(
        &endpoint(&layout),
        &source(&layout),
        &policy,
        &RegistriesD::default(),
        oci_sign::openpgp::unix_now(),
    )
    .expect("check");
    assert!(check.verdict.accepted, "{check:?}");
}

#[test]
fn hostile_signature_counts_and_sizes_are_bounded() {
    // CVE-2023-46737: more than 1000 signature referrers, or a signature manifest of more
    // than 1000 layers, is refused before anything more is read; a layer claiming more
    // than 4 MiB is never read.
    let key = CosignPrivateKey::generate();
    let (layout, image) = signed_layout("sig-bounds-referrers");
    let layer = cosign_layer(&layout, &key, &image);
    let mut entries = layout.index().manifests;
    for n in 0..=1000 {
        let annotations = BTreeMap::from([("n".to_owned(), n.to_string())]);
        entries.push(referrer(
            &layout,
            vec![layer.clone()],
            Some(subject_of(&image)),
            Some(annotations),
            false,
        ));
    }
    let index = Document::from_value(ImageIndex::new(entries));
    std::fs::write(layout.root().join("index.json"), index.bytes()).expect("write");
    let e = read_signatures(
        &source(&layout),
        &subject_of(&image),
        &RegistriesD::default(),
    )
    .expect_err("1001 referrers");
    assert!(
        matches!(e, SignaturesError::TooMany { limit: 1000, .. }),
        "{e}"
    );
    assert!(e.is_check_failure(), "{e}");

    let (layout, image) = signed_layout("sig-bounds-layers");
    let layer = cosign_layer(&layout, &key, &image);
    let layers = vec![layer; MAX_SIGNATURE_LAYERS + 1];
    let manifest = referrer(&layout, layers, None, None, false);
    let tag = cosign_tag(&image.manifest.digest).expect("tag");
    layout.add_entry(manifest, Some(&tag));
    let e = read_signatures(
        &source(&layout),
        &subject_of(&image),
        &RegistriesD::default(),
    )
    .expect_err("1001 layers");
    assert!(
        matches!(e, SignaturesError::TooMany { limit: 1000, .. }),
        "{e}"
    );

    // A layer that claims 4 MiB + 1 (and is not even there): refused, not read.
    let (layout, image) = signed_layout("sig-bounds-size");
    let mut big = cosign_layer(&layout, &key, &image);
    big.digest = sha256(b"absent");
    big.size = (4 << 20) + 1;
    referrer(&layout, vec![big], Some(subject_of(&image)), None, true);
    let found = read_signatures(
        &source(&layout),
        &subject_of(&image),
        &RegistriesD::default(),
    )
    .expect("read");
    assert!(found.found.is_empty());
    assert!(
        found.refused[0].reason.contains("over the limit"),
        "{found:?}"
    );
}

#[test]
fn hostile_digests_never_name_a_tag_or_file() {
    // CVE-2024-3727: a digest of an unregistered algorithm (its encoding unchecked) names
    // no tag, file or lookaside directory.
    let odd = Digest::parse("md5:0123456789abcdef").expect("grammatical digest");
    assert!(cosign_tag(&odd).is_err());
    let good = Digest::parse(&format!("sha256:{}", "a".repeat(64))).expect("digest");
    assert_eq!(
        cosign_tag(&good).expect("tag"),
        format!("sha256-{}.sig", "a".repeat(64))
    );
    let dir = scratch("sig-digest");
    let layout = LayoutDestination::open(&dir.join("layout"), None).expect("layout");
    let staging = dir.join("staging");
    let config = lookaside_config(&dir, &staging);
    let named = NamedDestination {
        inner: layout,
        reference: Reference::parse_normalized("127.0.0.1:5000/foo:v1").expect("ref"),
    };
    let signed = Descriptor::new(media_type::IMAGE_MANIFEST, odd, 10);
    let e = put_signature(
        &named,
        None,
        &signed,
        &NewSignature::Simple(vec![0xa3, 1]),
        Storage::Tag,
        &config,
    )
    .expect_err("refused");
    assert!(matches!(e, SignaturesError::Digest(_)), "{e}");
    assert!(e.is_check_failure());
    assert!(!staging.exists(), "nothing written");
}

fn lookaside_config(dir: &Path, lookaside: &Path) -> RegistriesD {
    let regd = dir.join("registries.d");
    std::fs::create_dir_all(&regd).expect("mkdir");
    std::fs::write(
        regd.join("local.yaml"),
        format!(
            "docker:\n  127.0.0.1:5000:\n    lookaside: file://{}\n    lookaside-staging: file://{}\n",
            lookaside.display(),
            lookaside.display()
        ),
    )
    .expect("write");
    RegistriesD::from_dir(&regd).expect("registries.d")
}

/// A layout read as if it were a registry image with a Docker reference.
struct NamedSource {
    inner: LayoutSource,
    reference: Reference,
}

impl Source for NamedSource {
    fn describe(&self) -> String {
        format!("docker://{}", self.reference)
    }
    fn transport(&self) -> Transport {
        self.inner.transport()
    }
    fn location(&self) -> Location {
        self.inner.location()
    }
    fn root(&self) -> &Descriptor {
        self.inner.root()
    }
    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError> {
        self.inner.open(descriptor)
    }
    fn referrers(&self, subject: &Digest) -> Result<Option<Vec<Descriptor>>, ReferrersError> {
        self.inner.referrers(subject)
    }
    fn docker_reference(&self) -> Option<Reference> {
        Some(self.reference.clone())
    }
}

/// A layout written as if it were a registry destination with a Docker reference.
struct NamedDestination {
    inner: LayoutDestination,
    reference: Reference,
}

impl Destination for NamedDestination {
    fn describe(&self) -> String {
        format!("docker://{}", self.reference)
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn has_blob(&self, descriptor: &Descriptor) -> bool {
        self.inner.has_blob(descriptor)
    }
    fn put_blob(
        &self,
        descriptor: &Descriptor,
        reader: &mut dyn std::io::Read,
    ) -> Result<(), oci_digest::PutError> {
        self.inner.put_blob(descriptor, reader)
    }
    fn blob_sink(
        &self,
        algorithm: Algorithm,
    ) -> Result<Box<dyn BlobSink + '_>, oci_digest::PutError> {
        self.inner.blob_sink(algorithm)
    }
    fn commit(self: Box<Self>, root: &Descriptor) -> Result<Descriptor, DestinationError> {
        Box::new(self.inner).commit(root)
    }
    fn can_put_manifests(&self) -> bool {
        self.inner.can_put_manifests()
    }
    fn put_manifest(
        &self,
        descriptor: &Descriptor,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> Result<(), DestinationError> {
        self.inner.put_manifest(descriptor, bytes, tag)
    }
    fn docker_reference(&self) -> Option<Reference> {
        Some(self.reference.clone())
    }
    fn transport(&self) -> oci_image::Transport {
        self.inner.transport()
    }
    fn location(&self) -> oci_image::Location {
        self.inner.location()
    }
}

#[test]
fn lookaside_signature_by_skopeo_is_read_for_a_registry_image() {
    if !(peer("gpg") && peer("skopeo")) {
        return;
    }
    let (layout, image) = signed_layout("sig-lookaside-skopeo");
    let dir = layout.root().parent().expect("parent").to_path_buf();
    let home = tempfile::Builder::new()
        .prefix("gpg")
        .tempdir_in("/tmp")
        .expect("gpg home");
    std::fs::set_permissions(
        home.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod");
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg")
            .env("GNUPGHOME", home.path())
            .args(["--batch", "--yes", "--quiet"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("gpg");
        assert!(out.status.success(), "gpg {args:?}: {out:?}");
        out.stdout
    };
    gpg(&[
        "--passphrase",
        "",
        "--pinentry-mode",
        "loopback",
        "--quick-gen-key",
        "Lookaside <l@example.com>",
        "ed25519",
        "sign",
        "never",
    ]);
    let listing = String::from_utf8(gpg(&["--list-keys", "--with-colons"])).expect("utf-8");
    let fingerprint = listing
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .expect("fpr")
        .to_owned();
    let public = dir.join("pub.gpg");
    std::fs::write(&public, gpg(&["--export", &fingerprint])).expect("write");
    // skopeo signs the manifest for 127.0.0.1:5000/foo:v1 into the lookaside layout
    // containers/image reads: <base>/foo@sha256=<hex>/signature-1.
    let manifest_file = dir.join("manifest.json");
    std::fs::write(
        &manifest_file,
        image.blob(&image.manifest.digest).expect("manifest"),
    )
    .expect("write");
    let lookaside = dir.join("lookaside");
    let sig_dir = lookaside.join(format!("foo@sha256={}", image.manifest.digest.encoded()));
    std::fs::create_dir_all(&sig_dir).expect("mkdir");
    let out = Command::new("skopeo")
        .env("GNUPGHOME", home.path())
        .args(["standalone-sign"])
        .arg(&manifest_file)
        .args(["127.0.0.1:5000/foo:v1", &fingerprint, "-o"])
        .arg(sig_dir.join("signature-1"))
        .stdin(Stdio::null())
        .output()
        .expect("skopeo");
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", home.path())
        .args(["--kill", "gpg-agent"])
        .output();
    assert!(out.status.success(), "{out:?}");
    let config = lookaside_config(&dir, &lookaside);
    let policy = Policy::parse(
        format!(
            r#"{{"default":[{{"type":"reject"}}],"transports":{{"docker":{{"127.0.0.1:5000/foo":[{{"type":"signedBy","keyType":"GPGKeys","keyPath":"{}"}}]}}}}}}"#,
            public.display()
        )
        .as_bytes(),
    )
    .expect("policy");
    let verdict = |tag: &str| {
        let src = NamedSource {
            inner: source(&layout),
            reference: Reference::parse_normalized(&format!("127.0.0.1:5000/foo:{tag}"))
                .expect("ref"),
        };
        check_policy(
            &endpoint(&layout),
            &src,
            &policy,
            &config,
            oci_sign::openpgp::unix_now(),
        )
        .expect("check")
        .verdict
    };
    let v1 = verdict("v1");
    assert!(v1.accepted, "{v1:?}");
    assert_eq!(
        v1.signatures[0].signer.as_deref(),
        Some(fingerprint.as_str())
    );
    // The default matchRepoDigestOrExact: the same digest under another tag is refused.
    let v2 = verdict("v2");
    assert!(!v2.accepted, "{v2:?}");
    assert!(
        v2.signatures[0].reason.contains("is not accepted"),
        "{v2:?}"
    );
}

#[test]
fn lookaside_staging_is_written_for_a_registry_destination() {
    let dir = scratch("sig-lookaside-write");
    let staging = dir.join("staging");
    let config = lookaside_config(&dir, &staging);
    let named = NamedDestination {
        inner: LayoutDestination::open(&dir.join("layout"), None).expect("layout"),
        reference: Reference::parse_normalized("127.0.0.1:5000/ns/foo:v1").expect("ref"),
    };
    let signed = Descriptor::new(
        media_type::IMAGE_MANIFEST,
        Digest::parse(&format!("sha256:{}", "b".repeat(64))).expect("digest"),
        10,
    );
    let put = |blob: Vec<u8>| {
        put_signature(
            &named,
            None,
            &signed,
            &NewSignature::Simple(blob),
            Storage::Tag,
            &config,
        )
        .expect("put")
    };
    let sig_dir: PathBuf = staging.join(format!("ns/foo@sha256={}", "b".repeat(64)));
    let first = put(vec![0xa3, 1]);
    assert_eq!(
        first.to_string(),
        format!("lookaside {}", sig_dir.join("signature-1").display())
    );
    put(vec![0xa3, 2]);
    put(vec![0xa3, 1]);
    assert_eq!(
        std::fs::read(sig_dir.join("signature-2")).expect("second"),
        [0xa3, 2]
    );
    assert!(!sig_dir.join("signature-3").exists(), "no duplicate");
    // The same destination with --storage referrers keeps it beside the image instead.
    let origin = put_signature(
        &named,
        None,
        &signed,
        &NewSignature::Simple(vec![0xa3, 3]),
        Storage::Referrers,
        &config,
    )
    .expect("put");
    assert!(
        origin.to_string().starts_with("referrer sha256:"),
        "{origin}"
    );
}

#[test]
fn signature_manifests_written_are_valid_referrers_of_the_image() {
    // What ocimg writes: artifact manifests with the empty config and an artifactType
    // (M5/M26), their subject the signed manifest's descriptor exactly (M23), listed as
    // referrers (with their artifactType) and valid under the validator; cosign's tag
    // manifest is a plain image manifest with no subject.
    let (layout, image) = signed_layout("sig-written-valid");
    let dest = LayoutDestination::open(layout.root(), None).expect("destination");
    let src = source(&layout);
    let key = CosignPrivateKey::generate();
    let mut payload = Payload::new(&image.manifest.digest, "example.com/foo");
    payload.signature_type = COSIGN_TYPE.to_owned();
    let payload = payload.to_bytes();
    let cosign = NewSignature::Cosign {
        signature: key.sign(&payload),
        payload,
    };
    let none = RegistriesD::default();
    let signed = image.manifest.clone();
    let simple = put_signature(
        &dest,
        Some(&src),
        &signed,
        &NewSignature::Simple(vec![0xa3, 0x01]),
        Storage::Tag,
        &none,
    )
    .expect("simple");
    let referrer = put_signature(
        &dest,
        Some(&src),
        &signed,
        &cosign,
        Storage::Referrers,
        &none,
    )
    .expect("cosign referrer");
    let tagged = put_signature(&dest, Some(&src), &signed, &cosign, Storage::Tag, &none)
        .expect("cosign tag");
    assert_eq!(
        tagged.to_string(),
        format!("tag {}", cosign_tag(&signed.digest).expect("tag"))
    );
    let src = source(&layout);
    let listed = src
        .referrers(&signed.digest)
        .expect("referrers")
        .expect("a layout holds referrers");
    assert_eq!(listed.len(), 2, "{listed:?}");
    for (origin, artifact_type) in [
        (simple, oci_image::signatures::SIMPLE_SIGNING_ARTIFACT_TYPE),
        (referrer, COSIGN_ARTIFACT_TYPE),
    ] {
        let oci_image::signatures::Origin::Referrer(digest) = origin else {
            panic!("{origin} is not a referrer");
        };
        let entry = listed.iter().find(|d| d.digest == digest).expect("listed");
        assert_eq!(
            entry.artifact_type.as_ref().map(|t| t.as_str()),
            Some(artifact_type)
        );
        let bytes = std::fs::read(layout.blob_path(&digest)).expect("manifest");
        let report =
            oci_spec_types::validate::validate(oci_spec_types::validate::Kind::Manifest, &bytes);
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        let manifest: ImageManifest = serde_json::from_slice(&bytes).expect("manifest");
        assert_eq!(manifest.config.media_type.as_str(), media_type::EMPTY);
        assert_eq!(
            manifest.artifact_type.as_ref().map(|t| t.as_str()),
            Some(artifact_type)
        );
        assert_eq!(manifest.subject, Some(subject_of(&image)));
    }
    let found = read_signatures(&src, &subject_of(&image), &none).expect("read");
    assert_eq!(found.found.len(), 3, "{found:?}");
    assert!(found.refused.is_empty());
}
