//! docker-archive: reading what skopeo and `docker save` write, writing what skopeo reads
//! (byte for byte what skopeo writes), and hostile archives.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use oci_image::{
    BlobOpenError, BlobReader, DOCKER_LAYER_TAR, DockerArchiveError, DockerArchiveSource, Layout,
    Location, Source, Transport, read_error, write_docker_archive,
};
use oci_spec_types::media_type;
use oci_spec_types::{
    Algorithm, Descriptor, Digest, DockerManifest, ImageConfig, ImageIndex, ImageManifest,
};

use super::{LayerSpec, Put, add_entry, gzip, linux_amd64, put_image, scratch, sha256, tar_of};

/// A copy source over the blobs of a layout (independent of the copy engine's own).
struct StoreSource {
    layout: Layout,
    root: Descriptor,
}

impl Source for StoreSource {
    fn describe(&self) -> String {
        format!("oci:{}", self.layout.root().display())
    }

    fn transport(&self) -> Transport {
        Transport::Oci
    }

    fn location(&self) -> Location {
        Location::Path(self.layout.root().to_path_buf())
    }

    fn root(&self) -> &Descriptor {
        &self.root
    }

    fn open(&self, descriptor: &Descriptor) -> Result<BlobReader<'_>, BlobOpenError> {
        match self
            .layout
            .blobs()
            .open_sized(&descriptor.digest, descriptor.size)
        {
            Ok(Some(reader)) => Ok(Box::new(reader)),
            Ok(None) => Err(BlobOpenError::missing(self, &descriptor.digest)),
            Err(e) => Err(BlobOpenError::unavailable(self, &descriptor.digest, e)),
        }
    }
}

/// Whether skopeo can be used; fails under CI when it is missing.
fn have_skopeo() -> bool {
    let ok = Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "skopeo is not installed (required under CI)"
        );
        #[allow(clippy::print_stderr, reason = "a skipped test must say so")]
        {
            eprintln!("skipped: skopeo not installed");
        }
    }
    ok
}

fn skopeo(dir: &Path, args: &[&str]) -> std::process::Output {
    let policy = dir.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
    )
    .expect("write policy");
    let out = Command::new("skopeo")
        .arg("--policy")
        .arg(&policy)
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn plain_layer(files: &[(&str, &[u8])]) -> LayerSpec {
    let tar = tar_of(files);
    LayerSpec {
        diff_id: sha256(&tar),
        blob: tar,
        media_type: media_type::LAYER_TAR,
    }
}

/// A layout with one image tagged `t`: two gzip layers and a plain one (skopeo refuses
/// zstd layers for a docker-archive).
fn sample(dir: &Path) -> (Layout, Put, Vec<Digest>) {
    sample_of(
        dir,
        vec![
            LayerSpec::gzip(&[("etc/hostname", b"box\n"), ("bin/sh", b"#!shell")]),
            LayerSpec::gzip(&[("usr/share/doc/readme", b"second layer")]),
            plain_layer(&[("etc/motd", b"hello <world> & more")]),
        ],
    )
}

fn sample_of(dir: &Path, layers: Vec<LayerSpec>) -> (Layout, Put, Vec<Digest>) {
    let layout = Layout::init(dir.join("layout")).expect("init");
    let diff_ids = layers.iter().map(|l| l.diff_id.clone()).collect();
    let put = put_image(&layout, &linux_amd64(), layers);
    add_entry(&layout, put.manifest.clone(), Some("t"));
    (layout, put, diff_ids)
}

/// Stores `layers` with the config bytes given, and an OCI manifest of them.
fn put_with_config(layout: &Layout, layers: &[LayerSpec], config: &[u8]) -> Put {
    let store = layout.blobs();
    let layers: Vec<Descriptor> = layers
        .iter()
        .map(|l| {
            let m = store
                .put_bytes(&l.blob, Algorithm::Sha256)
                .expect("put layer");
            Descriptor::new(l.media_type, m.digest, m.size)
        })
        .collect();
    let m = store
        .put_bytes(config, Algorithm::Sha256)
        .expect("put config");
    let config = Descriptor::new(media_type::IMAGE_CONFIG, m.digest, m.size);
    let manifest =
        serde_json::to_vec(&ImageManifest::new(config.clone(), layers.clone())).expect("manifest");
    let m = store
        .put_bytes(&manifest, Algorithm::Sha256)
        .expect("put manifest");
    Put {
        manifest: Descriptor::new(media_type::IMAGE_MANIFEST, m.digest, m.size),
        config,
        layers,
    }
}

fn open_manifest(source: &dyn Source) -> DockerManifest {
    let bytes = source
        .read_small(source.root(), 1 << 20)
        .expect("read root");
    assert_eq!(sha256(&bytes), source.root().digest, "root digest");
    serde_json::from_slice(&bytes).expect("docker manifest")
}

fn read_all(source: &dyn Source, descriptor: &Descriptor) -> Result<Vec<u8>, BlobOpenError> {
    let mut reader = source.open(descriptor)?;
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(source, descriptor, &e))?;
    Ok(bytes)
}

fn store_source(layout: &Layout, put: &Put) -> StoreSource {
    StoreSource {
        layout: Layout::open(layout.root()).expect("open layout"),
        root: put.manifest.clone(),
    }
}

#[test]
fn skopeo_archive_is_read() {
    if !have_skopeo() {
        return;
    }
    let dir = scratch("darchive-skopeo-read");
    let (layout, put, diff_ids) = sample(&dir);
    let file = dir.join("skopeo.tar");
    skopeo(
        &dir,
        &[
            "copy",
            "-q",
            &format!("oci:{}:t", layout.root().display()),
            &format!("docker-archive:{}:example.com/foo:bar", file.display()),
        ],
    );
    for name in [None, Some("example.com/foo:bar"), Some("@0")] {
        let source = DockerArchiveSource::open(&file, name, &dir).expect("open archive");
        assert_eq!(source.repo_tags(), ["example.com/foo:bar"]);
        let manifest = open_manifest(&source);
        assert_eq!(manifest.media_type.as_str(), media_type::DOCKER_MANIFEST);
        assert_eq!(
            manifest.config.media_type.as_str(),
            media_type::DOCKER_CONFIG
        );
        assert_eq!(manifest.config.digest, put.config.digest, "config kept");
        let layer_digests: Vec<_> = manifest.layers.iter().map(|l| l.digest.clone()).collect();
        assert_eq!(layer_digests, diff_ids);
        for layer in &manifest.layers {
            assert_eq!(layer.media_type.as_str(), DOCKER_LAYER_TAR);
            let bytes = read_all(&source, layer).expect("layer verifies");
            assert_eq!(sha256(&bytes), layer.digest);
        }
        let config = read_all(&source, &manifest.config).expect("config");
        let config: ImageConfig = serde_json::from_slice(&config).expect("config json");
        assert_eq!(config.rootfs.diff_ids, diff_ids);
    }
    let err = DockerArchiveSource::open(&file, Some("example.com/foo:other"), &dir)
        .expect_err("not there");
    assert!(matches!(err, DockerArchiveError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("example.com/foo:bar"), "{err}");
    assert!(!err.is_check_failure());
}

#[test]
fn written_archive_is_byte_for_byte_skopeos() {
    if !have_skopeo() {
        return;
    }
    let dir = scratch("darchive-bytes");
    let (layout, put, _) = sample(&dir);
    let source = store_source(&layout, &put);
    for (i, (ours_tag, skopeo_tag)) in [
        ("example.com/foo:bar", "example.com/foo:bar"),
        ("busybox:latest", "busybox:latest"),
    ]
    .into_iter()
    .enumerate()
    {
        let theirs = dir.join(format!("skopeo-{i}.tar"));
        skopeo(
            &dir,
            &[
                "copy",
                "-q",
                &format!("oci:{}:t", layout.root().display()),
                &format!("docker-archive:{}:{skopeo_tag}", theirs.display()),
            ],
        );
        let ours = dir.join(format!("ours-{i}.tar"));
        let written =
            write_docker_archive(&source, &put.manifest, &[ours_tag.to_owned()], &ours, &dir)
                .expect("write");
        assert_eq!(written.config, put.config.digest);
        assert_eq!(written.layers, 3);
        let ours = std::fs::read(&ours).expect("read ours");
        let theirs = std::fs::read(&theirs).expect("read theirs");
        assert_eq!(written.bytes, ours.len() as u64);
        assert!(
            ours == theirs,
            "archives differ ({} vs {} bytes) for {ours_tag}",
            ours.len(),
            theirs.len()
        );
    }
    // A config written by another tool: odd spacing, member order, characters Go escapes,
    // and the legacy members the top layer's `json` copies.
    let layout2 = Layout::init(dir.join("layout2")).expect("init");
    let layers = [
        LayerSpec::gzip(&[("a", b"a")]),
        plain_layer(&[("b", b"b")]),
        LayerSpec::gzip(&[("a", b"a")]),
    ];
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("\"{}\"", l.diff_id))
        .collect();
    let config = format!(
        "{{ \"os\" : \"linux\",\n  \"created\": \"2024-01-01T00:00:00Z\", \"architecture\":\"amd64\",\n  \
         \"config\": {{ \"Env\": [\"A=<b>&c\", \"U=\u{2028}\\u0041\"], \"Labels\": {{\"z\":\"1\", \"a\": 2.50}} }},\n  \
         \"container_config\": {{\"Hostname\": \"\"}}, \"docker_version\": \"20.10.1\",\n  \
         \"rootfs\": {{\"type\": \"layers\", \"diff_ids\": [{}]}},\n  \"history\": [{{\"created_by\": \"x\"}}] }}\n",
        diff_ids.join(", ")
    );
    let put2 = put_with_config(&layout2, &layers, config.as_bytes());
    add_entry(&layout2, put2.manifest.clone(), Some("t"));
    let theirs = dir.join("skopeo-config.tar");
    skopeo(
        &dir,
        &[
            "copy",
            "-q",
            &format!("oci:{}:t", layout2.root().display()),
            &format!("docker-archive:{}:a/b:c", theirs.display()),
        ],
    );
    let ours = dir.join("ours-config.tar");
    let source2 = store_source(&layout2, &put2);
    write_docker_archive(&source2, &put2.manifest, &["a/b:c".to_owned()], &ours, &dir)
        .expect("write");
    assert!(
        std::fs::read(&ours).expect("ours") == std::fs::read(&theirs).expect("theirs"),
        "archives differ for a foreign config"
    );

    // Untagged, as skopeo writes `docker-archive:FILE` alone.
    let theirs = dir.join("skopeo-untagged.tar");
    skopeo(
        &dir,
        &[
            "copy",
            "-q",
            &format!("oci:{}:t", layout.root().display()),
            &format!("docker-archive:{}", theirs.display()),
        ],
    );
    let ours = dir.join("ours-untagged.tar");
    write_docker_archive(&source, &put.manifest, &[], &ours, &dir).expect("write");
    assert!(std::fs::read(&ours).expect("ours") == std::fs::read(&theirs).expect("theirs"));
}

#[test]
fn written_archive_is_read_by_skopeo() {
    if !have_skopeo() {
        return;
    }
    let dir = scratch("darchive-write-skopeo");
    let (layout, put, diff_ids) = sample(&dir);
    let file = dir.join("ours.tar");
    let source = store_source(&layout, &put);
    write_docker_archive(&source, &put.manifest, &["busybox".to_owned()], &file, &dir)
        .expect("write");
    // No temp file left beside it.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");

    let out = skopeo(
        &dir,
        &["inspect", &format!("docker-archive:{}", file.display())],
    );
    let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect json");
    let layers: Vec<String> = inspect["Layers"]
        .as_array()
        .expect("Layers")
        .iter()
        .map(|l| l.as_str().expect("layer").to_owned())
        .collect();
    let expected: Vec<String> = diff_ids.iter().map(ToString::to_string).collect();
    assert_eq!(layers, expected);
    assert_eq!(inspect["Architecture"], "amd64");
    let out = skopeo(
        &dir,
        &[
            "inspect",
            "--config",
            &format!("docker-archive:{}:busybox:latest", file.display()),
        ],
    );
    let config: ImageConfig = serde_json::from_slice(&out.stdout).expect("config json");
    assert_eq!(config.rootfs.diff_ids, diff_ids);

    let copied = dir.join("copied");
    skopeo(
        &dir,
        &[
            "copy",
            "-q",
            &format!("docker-archive:{}", file.display()),
            &format!("oci:{}:t", copied.display()),
        ],
    );
    let copied = Layout::open(&copied).expect("skopeo's layout");
    let index: ImageIndex =
        serde_json::from_slice(&std::fs::read(copied.index_path()).expect("index")).expect("index");
    let blob = |d: &Digest| std::fs::read(copied.blobs().blob_path(d)).expect("blob");
    let manifest: ImageManifest =
        serde_json::from_slice(&blob(&index.manifests[0].digest)).expect("manifest");
    // skopeo rewrites the config when it converts to OCI; the diffIDs stay.
    let config: ImageConfig =
        serde_json::from_slice(&blob(&manifest.config.digest)).expect("config");
    assert_eq!(config.rootfs.diff_ids, diff_ids);
    for (layer, diff_id) in manifest.layers.iter().zip(&diff_ids) {
        let bytes = blob(&layer.digest);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut plain)
            .expect("skopeo gzips layers");
        assert_eq!(sha256(&plain), *diff_id);
    }
}

enum E<'a> {
    F(&'a str, &'a [u8]),
    Sym(&'a str, &'a str),
}

fn archive(path: &Path, entries: &[E<'_>]) {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(0);
        match e {
            E::F(name, data) => {
                h.set_size(data.len() as u64);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, name, *data).expect("append");
            }
            E::Sym(name, target) => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, name, target).expect("link");
            }
        }
    }
    std::fs::write(path, b.into_inner().expect("finish")).expect("write archive");
}

fn config_of(diff_ids: &[Digest]) -> Vec<u8> {
    serde_json::to_vec(&ImageConfig::new(&linux_amd64(), diff_ids.to_vec())).expect("config")
}

fn manifest_json(config: &str, tags: &[&str], layers: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!([{
        "Config": config, "RepoTags": tags, "Layers": layers
    }]))
    .expect("manifest.json")
}

#[test]
fn docker_save_style_archive() {
    let dir = scratch("darchive-docker-save");
    let base = tar_of(&[("etc/base", b"base")]);
    let top = tar_of(&[("etc/top", b"top")]);
    let compressed = gzip(&top);
    let diff_ids = [sha256(&base), sha256(&top), sha256(&base), sha256(&top)];
    let config = config_of(&diff_ids);
    let config_name = format!("{}.json", sha256(&config).encoded());
    let file = dir.join("save.tar");
    archive(
        &file,
        &[
            E::F("aaaa/layer.tar", &base),
            E::F("aaaa/VERSION", b"1.0"),
            E::F("bbbb/layer.tar", &compressed),
            E::Sym("cccc/layer.tar", "../aaaa/layer.tar"),
            E::F(&config_name, &config),
            E::F(
                "manifest.json",
                &manifest_json(
                    &config_name,
                    &["busybox:latest"],
                    &[
                        "aaaa/layer.tar",
                        "bbbb/layer.tar",
                        "cccc/layer.tar",
                        "bbbb/layer.tar",
                    ],
                ),
            ),
        ],
    );
    for name in [
        None,
        Some("busybox"),
        Some("busybox:latest"),
        Some("docker.io/library/busybox:latest"),
    ] {
        let source = DockerArchiveSource::open(&file, name, &dir).expect("open");
        let manifest = open_manifest(&source);
        let types: Vec<&str> = manifest
            .layers
            .iter()
            .map(|l| l.media_type.as_str())
            .collect();
        assert_eq!(
            types,
            [
                DOCKER_LAYER_TAR,
                media_type::DOCKER_LAYER_GZIP,
                DOCKER_LAYER_TAR,
                media_type::DOCKER_LAYER_GZIP
            ]
        );
        assert_eq!(manifest.layers[0].digest, diff_ids[0]);
        assert_eq!(manifest.layers[2], manifest.layers[0], "repeated layer");
        assert_eq!(manifest.layers[1].digest, sha256(&compressed));
        assert_eq!(manifest.layers[1].size, compressed.len() as u64);
        assert_eq!(read_all(&source, &manifest.layers[0]).expect("base"), base);
        assert_eq!(read_all(&source, &manifest.layers[2]).expect("link"), base);
        assert_eq!(
            read_all(&source, &manifest.layers[1]).expect("gzip"),
            compressed
        );
        assert_eq!(read_all(&source, &manifest.config).expect("config"), config);
    }
    // A gzip-compressed archive is read the same.
    let gz = dir.join("save.tar.gz");
    std::fs::write(&gz, gzip(&std::fs::read(&file).expect("read"))).expect("write");
    let source = DockerArchiveSource::open(&gz, None, &dir).expect("open gz");
    assert_eq!(open_manifest(&source).layers.len(), 4);
}

#[test]
fn docker_25_blobs_names() {
    let dir = scratch("darchive-docker25");
    let layer = tar_of(&[("a", b"a")]);
    let diff_id = sha256(&layer);
    let config = config_of(std::slice::from_ref(&diff_id));
    let config_name = format!("blobs/sha256/{}", sha256(&config).encoded());
    let layer_name = format!("blobs/sha256/{}", diff_id.encoded());
    let file = dir.join("d25.tar");
    archive(
        &file,
        &[
            E::F(&layer_name, &layer),
            E::F(&config_name, &config),
            E::F(
                "manifest.json",
                &manifest_json(&config_name, &["example.com/x:1"], &[&layer_name]),
            ),
        ],
    );
    let source = DockerArchiveSource::open(&file, Some("example.com/x:1"), &dir).expect("open");
    let manifest = open_manifest(&source);
    assert_eq!(manifest.layers[0].digest, diff_id);
    assert_eq!(
        read_all(&source, &manifest.layers[0]).expect("layer"),
        layer
    );
}

/// One good layer and its config, for the hostile cases.
struct Parts {
    layer: Vec<u8>,
    diff_id: Digest,
    config: Vec<u8>,
    config_name: String,
}

fn parts() -> Parts {
    let layer = tar_of(&[("x", b"x")]);
    let diff_id = sha256(&layer);
    let config = config_of(std::slice::from_ref(&diff_id));
    let config_name = format!("{}.json", sha256(&config).encoded());
    Parts {
        layer,
        diff_id,
        config,
        config_name,
    }
}

fn open_err(dir: &Path, name: &str, entries: &[E<'_>], image: Option<&str>) -> DockerArchiveError {
    let file = dir.join(name);
    archive(&file, entries);
    DockerArchiveSource::open(&file, image, dir).expect_err(name)
}

#[test]
fn hostile_names_and_links() {
    let dir = scratch("darchive-hostile-names");
    let p = parts();
    let err = open_err(
        &dir,
        "escape.tar",
        &[
            E::F(&p.config_name, &p.config),
            E::F(
                "manifest.json",
                &manifest_json(&p.config_name, &[], &["../../etc/passwd"]),
            ),
        ],
        None,
    );
    assert!(err.is_check_failure());
    assert!(err.to_string().contains("../../etc/passwd"), "{err}");

    let err = open_err(
        &dir,
        "escape-config.tar",
        &[E::F(
            "manifest.json",
            &manifest_json("../../etc/passwd", &[], &[]),
        )],
        None,
    );
    assert!(err.to_string().contains("../../etc/passwd"), "{err}");

    let err = open_err(
        &dir,
        "symlink.tar",
        &[
            E::Sym("aaaa/layer.tar", "../../../etc/passwd"),
            E::F(&p.config_name, &p.config),
            E::F(
                "manifest.json",
                &manifest_json(&p.config_name, &[], &["aaaa/layer.tar"]),
            ),
        ],
        None,
    );
    assert!(matches!(err, DockerArchiveError::Archive(_)), "{err}");
    assert!(err.to_string().contains("outside the archive"), "{err}");
    assert!(err.is_check_failure());
}

#[test]
fn layer_not_matching_its_diff_id() {
    let dir = scratch("darchive-hostile-diffid");
    let p = parts();
    let file = dir.join("bad.tar");
    archive(
        &file,
        &[
            E::F("aaaa/layer.tar", b"not the layer the config names"),
            E::F(&p.config_name, &p.config),
            E::F(
                "manifest.json",
                &manifest_json(&p.config_name, &[], &["aaaa/layer.tar"]),
            ),
        ],
    );
    let source = DockerArchiveSource::open(&file, None, &dir).expect("opens");
    let manifest = open_manifest(&source);
    let err = read_all(&source, &manifest.layers[0]).expect_err("damaged");
    assert!(matches!(err, BlobOpenError::Damaged { .. }), "{err}");
    assert_eq!(*err.digest(), p.diff_id);
    assert!(err.to_string().contains(p.diff_id.as_str()), "{err}");
}

#[test]
fn missing_truncated_and_ambiguous() {
    let dir = scratch("darchive-hostile-misc");
    let p = parts();
    // A missing layer file.
    let err = open_err(
        &dir,
        "missing.tar",
        &[
            E::F(&p.config_name, &p.config),
            E::F(
                "manifest.json",
                &manifest_json(&p.config_name, &[], &["gone/layer.tar"]),
            ),
        ],
        None,
    );
    assert!(
        matches!(err, DockerArchiveError::MissingLayer { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("gone/layer.tar"), "{err}");
    assert!(err.to_string().contains(p.diff_id.as_str()), "{err}");
    // No manifest.json.
    let err = open_err(&dir, "empty.tar", &[E::F("x", b"x")], None);
    assert!(crate::chain(&err).contains("manifest.json"), "{err}");
    // Layer count mismatch.
    let err = open_err(
        &dir,
        "count.tar",
        &[
            E::F("aaaa/layer.tar", &p.layer),
            E::F(&p.config_name, &p.config),
            E::F(
                "manifest.json",
                &manifest_json(&p.config_name, &[], &["aaaa/layer.tar", "aaaa/layer.tar"]),
            ),
        ],
        None,
    );
    assert!(crate::chain(&err).contains("2 layers"), "{err}");

    // Truncated.
    let good = dir.join("good.tar");
    archive(
        &good,
        &[
            E::F("aaaa/layer.tar", &p.layer),
            E::F(&p.config_name, &p.config),
            E::F(
                "manifest.json",
                &manifest_json(&p.config_name, &["a:1"], &["aaaa/layer.tar"]),
            ),
        ],
    );
    DockerArchiveSource::open(&good, None, &dir).expect("the whole archive opens");
    let bytes = std::fs::read(&good).expect("read");
    let cut = dir.join("cut.tar");
    std::fs::write(&cut, &bytes[..1000]).expect("write");
    let err = DockerArchiveSource::open(&cut, None, &dir).expect_err("truncated");
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(err.to_string().contains("cut.tar"), "{err}");
    assert!(err.is_check_failure());

    // Several images without a name; a name not there.
    let two = serde_json::to_vec(&serde_json::json!([
        {"Config": p.config_name, "RepoTags": ["a:1"], "Layers": ["aaaa/layer.tar"]},
        {"Config": p.config_name, "RepoTags": ["b:2", "c:3"], "Layers": ["aaaa/layer.tar"]},
        {"Config": p.config_name, "RepoTags": null, "Layers": ["aaaa/layer.tar"]},
    ]))
    .expect("json");
    let entries = [
        E::F("aaaa/layer.tar", &p.layer),
        E::F(&p.config_name, &p.config),
        E::F("manifest.json", &two),
    ];
    let err = open_err(&dir, "two.tar", &entries, None);
    assert!(matches!(err, DockerArchiveError::Ambiguous { .. }), "{err}");
    for tag in ["a:1", "b:2", "c:3", "@2"] {
        assert!(err.to_string().contains(tag), "{tag}: {err}");
    }
    assert!(!err.is_check_failure());
    let err = open_err(&dir, "two.tar", &entries, Some("d:4"));
    assert!(matches!(err, DockerArchiveError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("docker.io/library/d:4"), "{err}");
    let source = DockerArchiveSource::open(&dir.join("two.tar"), Some("c:3"), &dir).expect("c:3");
    assert_eq!(source.repo_tags(), ["b:2", "c:3"]);
    DockerArchiveSource::open(&dir.join("two.tar"), Some("@2"), &dir).expect("@2");
    let err = open_err(&dir, "two.tar", &entries, Some("@3"));
    assert!(matches!(err, DockerArchiveError::NotFound { .. }), "{err}");
}

fn dot_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect()
}

#[test]
fn write_refusals() {
    let dir = scratch("darchive-write-refusals");
    let (layout, put, _) = sample(&dir);
    let source = store_source(&layout, &put);
    // FILE exists and is not empty.
    let file = dir.join("exists.tar");
    std::fs::write(&file, b"x").expect("write");
    let err = write_docker_archive(&source, &put.manifest, &[], &file, &dir).expect_err("exists");
    assert!(matches!(err, DockerArchiveError::Exists { .. }), "{err}");
    assert_eq!(std::fs::read(&file).expect("kept"), b"x");
    // An empty FILE is fine.
    std::fs::write(&file, b"").expect("truncate");
    write_docker_archive(&source, &put.manifest, &[], &file, &dir).expect("empty file replaced");
    assert!(std::fs::metadata(&file).expect("written").len() > 0);

    // A layer whose content does not match the config's diffID.
    let layout2 = Layout::init(dir.join("bad-layout")).expect("init");
    let mut wrong = LayerSpec::gzip(&[("a", b"a")]);
    wrong.diff_id = sha256(b"something else");
    let bad_put = put_image(&layout2, &linux_amd64(), vec![wrong]);
    let bad = store_source(&layout2, &bad_put);
    let out = dir.join("bad.tar");
    let err = write_docker_archive(&bad, &bad_put.manifest, &[], &out, &dir).expect_err("diffID");
    assert!(
        matches!(err, DockerArchiveError::DiffIdMismatch { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(bad_put.layers[0].digest.as_str()),
        "{err}"
    );
    assert!(err.is_check_failure());
    assert!(!out.exists());
    assert!(dot_files(&dir).is_empty(), "{:?}", dot_files(&dir));

    // A missing blob.
    std::fs::remove_file(layout.blobs().blob_path(&put.layers[1].digest)).expect("rm");
    let out = dir.join("missing.tar");
    let err = write_docker_archive(&source, &put.manifest, &[], &out, &dir).expect_err("missing");
    assert!(
        matches!(err, DockerArchiveError::Blob(BlobOpenError::Missing { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains(put.layers[1].digest.as_str()),
        "{err}"
    );
    assert!(!out.exists());
    assert!(dot_files(&dir).is_empty(), "{:?}", dot_files(&dir));

    // A bad tag.
    let err = write_docker_archive(
        &source,
        &put.manifest,
        &["Not Valid".to_owned()],
        &out,
        &dir,
    )
    .expect_err("bad tag");
    assert!(matches!(err, DockerArchiveError::BadName { .. }), "{err}");
}

/// What ocimg writes, ocimg reads back: the same config and diffIDs (zstd layers too,
/// and a repeated layer).
#[test]
fn round_trip() {
    let dir = scratch("darchive-round-trip");
    let (layout, put, diff_ids) = sample_of(
        &dir,
        vec![
            LayerSpec::zstd(&[("a", b"zstd layer")]),
            LayerSpec::gzip(&[("b", b"gzip layer")]),
            LayerSpec::zstd(&[("a", b"zstd layer")]),
        ],
    );
    let source = store_source(&layout, &put);
    let file = dir.join("rt.tar");
    write_docker_archive(
        &source,
        &put.manifest,
        &["example.com/r:1".to_owned()],
        &file,
        &dir,
    )
    .expect("write");
    let back = DockerArchiveSource::open(&file, Some("example.com/r:1"), &dir).expect("open");
    let manifest = open_manifest(&back);
    assert_eq!(manifest.config.digest, put.config.digest);
    let digests: Vec<_> = manifest.layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(digests, diff_ids);
    for layer in &manifest.layers {
        read_all(&back, layer).expect("verifies");
    }
}

/// Damaged variants of good archives (bytes flipped, zeroed, cut, blocks repeated) never
/// panic; what opens still serves its root and config, verified.
#[test]
fn mutated_archives_never_panic() {
    let dir = scratch("darchive-mutations");
    let (layout, put, _) = sample(&dir);
    let written = dir.join("base.tar");
    write_docker_archive(
        &store_source(&layout, &put),
        &put.manifest,
        &["a:1".to_owned()],
        &written,
        &dir,
    )
    .expect("write");
    let plain = std::fs::read(&written).expect("read");
    let bases = [plain.clone(), gzip(&plain)];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let file = dir.join("mutant.tar");
    let mut opened = 0;
    for base in &bases {
        for round in 0..300 {
            let mut bytes = base.clone();
            let len = bytes.len() as u64;
            match round % 4 {
                0 => {
                    for _ in 0..1 + next() % 4 {
                        let at = (next() % len) as usize;
                        bytes[at] ^= 1 << (next() % 8);
                    }
                }
                1 => {
                    let at = (next() % len) as usize;
                    let end = (at + 1 + (next() % 600) as usize).min(bytes.len());
                    let fill = if next() % 2 == 0 { 0 } else { 0xff };
                    bytes[at..end].fill(fill);
                }
                2 => bytes.truncate((next() % len) as usize),
                _ => {
                    let block = (next() % (len / 512)) as usize * 512;
                    let copy = bytes[block..block + 512].to_vec();
                    let to = (next() % (len / 512)) as usize * 512;
                    bytes.splice(to..to, copy);
                }
            }
            std::fs::write(&file, &bytes).expect("write mutant");
            let Ok(source) = DockerArchiveSource::open(&file, None, &dir) else {
                continue;
            };
            opened += 1;
            let manifest = open_manifest(&source);
            read_all(&source, &manifest.config).expect("config reads back");
            for layer in &manifest.layers {
                let _ = read_all(&source, layer);
            }
        }
    }
    // Some mutants (in padding, say) still open: the checks above did run.
    assert!(opened > 0);
    assert!(dot_files(&dir).is_empty(), "{:?}", dot_files(&dir));
}
