//! The serialized types: the spec's own examples, unknown fields and values, null
//! optional config fields, determinism, and property-based round trips of every type.

use std::collections::BTreeMap;

use oci_spec_types::descriptor::{self, DataError};
use oci_spec_types::document::{self, DocumentType, ManifestKind};
use oci_spec_types::media_type;
use oci_spec_types::platform::{self, PlatformMatcher};
use oci_spec_types::{
    Algorithm, Descriptor, Digest, Document, ImageConfig, ImageIndex, ImageManifest, MediaType,
    OciLayout, Platform, annotations,
};
use proptest::prelude::*;
use serde_json::json;

/// manifest.md, "Example Image Manifest" (v1.1).
pub(crate) const SPEC_MANIFEST: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7",
    "size": 7023
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
      "size": 32654
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b",
      "size": 16724
    },
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736",
      "size": 73109
    }
  ],
  "subject": {
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
    "size": 7682
  },
  "annotations": {
    "com.example.key1": "value1",
    "com.example.key2": "value2"
  }
}"#;

/// manifest.md, artifact example with the empty config and an empty layer.
const SPEC_ARTIFACT_EMPTY: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "artifactType": "application/vnd.example+type",
  "config": {
    "mediaType": "application/vnd.oci.empty.v1+json",
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.empty.v1+json",
      "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
      "size": 2
    }
  ],
  "annotations": {
    "oci.opencontainers.image.created": "2023-01-02T03:04:05Z",
    "com.example.data": "payload"
  }
}"#;

/// manifest.md, artifact example with its own config type.
const SPEC_ARTIFACT_CONFIG: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "artifactType": "application/vnd.example+type",
  "config": {
    "mediaType": "application/vnd.example.config.v1+json",
    "digest": "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
    "size": 123
  },
  "layers": [
    {
      "mediaType": "application/vnd.example.data.v1.tar+gzip",
      "digest": "sha256:e258d248fda94c63753607f7c4494ee0fcbe92f1a76bfdac795c9d84101eb317",
      "size": 1234
    }
  ]
}"#;

/// image-index.md, "Example Image Index".
pub(crate) const SPEC_INDEX: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "size": 7143,
      "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
      "platform": {
        "architecture": "ppc64le",
        "os": "linux"
      }
    },
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "size": 7682,
      "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
      "platform": {
        "architecture": "amd64",
        "os": "linux"
      }
    }
  ],
  "annotations": {
    "com.example.key1": "value1",
    "com.example.key2": "value2"
  }
}"#;

/// image-layout.md, index.json example (a nested index, ref names, an unknown type).
const SPEC_LAYOUT_INDEX: &str = r#"{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "size": 7143,
      "digest": "sha256:0228f90e926ba6b96e4f39cf294b2586d38fbb5a1e385c05cd1ee40ea54fe7fd",
      "annotations": {
        "org.opencontainers.image.ref.name": "stable-release"
      }
    },
    {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "size": 7143,
      "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
      "platform": {
        "architecture": "ppc64le",
        "os": "linux"
      },
      "annotations": {
        "org.opencontainers.image.ref.name": "v1.0"
      }
    },
    {
      "mediaType": "application/xml",
      "size": 7143,
      "digest": "sha256:b3d63d132d21c3ff4c35a061adf23cf43da8ae054247e32faa95494d904a007e",
      "annotations": {
        "org.freedesktop.specifications.metainfo.version": "1.0",
        "org.freedesktop.specifications.metainfo.type": "AppStream"
      }
    }
  ],
  "annotations": {
    "com.example.index.revision": "r124356"
  }
}"#;

/// config.md, "Example".
const SPEC_CONFIG: &str = r#"{
    "created": "2015-10-31T22:22:56.015925234Z",
    "author": "Alyssa P. Hacker <alyspdev@example.com>",
    "architecture": "amd64",
    "os": "linux",
    "config": {
        "User": "alice",
        "ExposedPorts": {
            "8080/tcp": {}
        },
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "FOO=oci_is_a",
            "BAR=well_written_spec"
        ],
        "Entrypoint": [
            "/bin/my-app-binary"
        ],
        "Cmd": [
            "--foreground",
            "--config",
            "/etc/my-app.d/default.cfg"
        ],
        "Volumes": {
            "/var/job-result-data": {},
            "/var/log/my-app-logs": {}
        },
        "WorkingDir": "/home/alice",
        "Labels": {
            "com.example.project.git.url": "https://example.com/project.git",
            "com.example.project.git.commit": "45a939b2999782a3f005621a8d0f29aa387e1d6b"
        }
    },
    "rootfs": {
      "diff_ids": [
        "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1",
        "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
      ],
      "type": "layers"
    },
    "history": [
      {
        "created": "2015-10-31T22:22:54.690851953Z",
        "created_by": "/bin/sh -c #(nop) ADD file:a3bc1e842b69636f9df5256c49c5374fb4eef1e281fe3f282c65fb853ee171c5 in /"
      },
      {
        "created": "2015-10-31T22:22:55.613815829Z",
        "created_by": "/bin/sh -c #(nop) CMD [\"sh\"]",
        "empty_layer": true
      },
      {
        "created": "2015-10-31T22:22:56.329850019Z",
        "created_by": "/bin/sh -c apk add curl"
      }
    ]
}"#;

/// A config written by Docker 1.10 (image-spec backwards-compatibility test), with
/// Docker-only members and `null` optional fields.
const DOCKER_WRITTEN_CONFIG: &str = r##"{"architecture":"amd64","author":"Patrick Uiterwijk \u003cpatrick@puiterwijk.org\u003e","config":{"Hostname":"8dfe43d80430","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":null,"Image":"sha256:6986ae504bbf843512d680cc959484452034965db15f75ee8bdd1b107f61500b","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{}},"container":"6249cd2c4b1d6b1bf05903364cbcb95781508994d6407c1564d494e748ea1b41","container_config":{"Hostname":"8dfe43d80430","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh","-c","#(nop) ADD file:293a6e463aa402bb8f80eb5cfc937f375cedc6843abaeb9eccfe3923bb3fc80b in /"],"Image":"sha256:6986ae504bbf843512d680cc959484452034965db15f75ee8bdd1b107f61500b","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{}},"created":"2016-06-10T18:44:31.784795904Z","docker_version":"1.10.3","history":[{"created":"2016-06-10T18:44:03.360264073Z","author":"Patrick Uiterwijk \u003cpatrick@puiterwijk.org\u003e","created_by":"/bin/sh -c #(nop) MAINTAINER Patrick Uiterwijk \u003cpatrick@puiterwijk.org\u003e","empty_layer":true},{"created":"2016-06-10T18:44:31.784795904Z","author":"Patrick Uiterwijk \u003cpatrick@puiterwijk.org\u003e","created_by":"/bin/sh -c #(nop) ADD file:293a6e463aa402bb8f80eb5cfc937f375cedc6843abaeb9eccfe3923bb3fc80b in /"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:d43f38155a799dc53d8fbb9f3bc11f51805f4027cd5c3d10b9823201cd5b9400"]}}"##;

fn digest(s: &str) -> Digest {
    Digest::parse(s).unwrap()
}

/// Parses, checks the value survives serialize -> parse, and that serializing is stable.
fn round_trip<T: DocumentType + Clone + PartialEq + std::fmt::Debug>(text: &str) -> Document<T> {
    let doc = Document::<T>::parse(text.as_bytes()).unwrap();
    assert_eq!(doc.bytes(), text.as_bytes(), "exact bytes are kept");
    let rebuilt = Document::from_value(doc.value().clone());
    let reparsed = Document::<T>::parse(rebuilt.bytes().to_vec()).unwrap();
    assert_eq!(reparsed.value(), doc.value());
    assert_eq!(reparsed.bytes(), rebuilt.bytes());
    doc
}

#[test]
fn spec_manifest_example() {
    let doc = round_trip::<ImageManifest>(SPEC_MANIFEST);
    let m = doc.value();
    assert_eq!(m.schema_version, 2);
    assert_eq!(m.media_type.as_ref().unwrap(), media_type::IMAGE_MANIFEST);
    assert!(m.is_image());
    assert_eq!(m.config.size, 7023);
    assert_eq!(m.layers.len(), 3);
    assert_eq!(m.layers[2].size, 73109);
    assert_eq!(
        m.layers[0].digest,
        digest("sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0")
    );
    assert_eq!(m.subject.as_ref().unwrap().size, 7682);
    assert_eq!(
        m.annotations.as_ref().unwrap()["com.example.key2"],
        "value2"
    );
    assert_eq!(m.artifact_type, None);
    assert_eq!(m.effective_artifact_type(), media_type::IMAGE_CONFIG);
    assert!(m.extra.is_empty());
    assert_eq!(doc.size(), SPEC_MANIFEST.len() as u64);
}

#[test]
fn spec_artifact_examples() {
    let m = round_trip::<ImageManifest>(SPEC_ARTIFACT_EMPTY).into_value();
    assert_eq!(
        m.artifact_type.as_ref().unwrap(),
        "application/vnd.example+type"
    );
    assert!(m.config.is_empty_blob());
    assert_eq!(m.config, Descriptor::empty());
    assert_eq!(m.layers, vec![Descriptor::empty()]);
    let m = round_trip::<ImageManifest>(SPEC_ARTIFACT_CONFIG).into_value();
    assert_eq!(
        m.config.media_type,
        "application/vnd.example.config.v1+json"
    );
    assert_eq!(m.layers[0].media_type.layer_compression(), None);
    assert!(!m.is_image());
}

#[test]
fn spec_index_examples() {
    let index = round_trip::<ImageIndex>(SPEC_INDEX).into_value();
    assert_eq!(index.manifests.len(), 2);
    let p = index.manifests[0].platform.as_ref().unwrap();
    assert_eq!(
        (p.os.as_str(), p.architecture.as_str()),
        ("linux", "ppc64le")
    );
    let amd64 = PlatformMatcher::new(&Platform::parse("linux/amd64").unwrap());
    assert_eq!(amd64.position(&index.manifests), Some(1));

    let layout_index = round_trip::<ImageIndex>(SPEC_LAYOUT_INDEX).into_value();
    assert_eq!(layout_index.manifests[0].ref_name(), Some("stable-release"));
    assert_eq!(layout_index.manifests[2].media_type, "application/xml");
    let v1: Vec<_> = layout_index.by_ref_name("v1.0").collect();
    assert_eq!(v1.len(), 1);
    assert_eq!(v1[0].size, 7143);
    assert_eq!(layout_index.by_ref_name("latest").count(), 0);
}

#[test]
fn spec_config_example() {
    let config = round_trip::<ImageConfig>(SPEC_CONFIG).into_value();
    assert_eq!(
        config.created.as_deref(),
        Some("2015-10-31T22:22:56.015925234Z")
    );
    assert_eq!(config.platform(), Platform::new("linux", "amd64"));
    let exec = config.config.as_ref().unwrap();
    assert_eq!(exec.user.as_deref(), Some("alice"));
    assert_eq!(exec.exposed_ports.as_ref().unwrap()["8080/tcp"], json!({}));
    assert_eq!(exec.env.as_ref().unwrap().len(), 3);
    assert_eq!(
        exec.entrypoint.as_deref(),
        Some(&["/bin/my-app-binary".to_owned()][..])
    );
    assert_eq!(exec.cmd.as_ref().unwrap()[2], "/etc/my-app.d/default.cfg");
    assert_eq!(exec.volumes.as_ref().unwrap().len(), 2);
    assert_eq!(exec.working_dir.as_deref(), Some("/home/alice"));
    assert_eq!(exec.labels.as_ref().unwrap().len(), 2);
    assert_eq!(config.rootfs.kind, "layers");
    assert_eq!(config.rootfs.diff_ids.len(), 2);
    assert_eq!(config.history.as_ref().unwrap().len(), 3);
    assert_eq!(
        config.layer_history().count(),
        2,
        "one entry is an empty layer"
    );
}

#[test]
fn docker_written_config_keeps_docker_members() {
    let doc = round_trip::<ImageConfig>(DOCKER_WRITTEN_CONFIG);
    let config = doc.value();
    assert_eq!(
        config.author.as_deref(),
        Some("Patrick Uiterwijk <patrick@puiterwijk.org>")
    );
    for key in ["container", "container_config", "docker_version"] {
        assert!(config.extra.contains_key(key), "{key}");
    }
    let exec = config.config.as_ref().unwrap();
    assert_eq!(exec.cmd, None, "null Cmd is absent (C4)");
    assert_eq!(exec.volumes, None);
    assert_eq!(
        exec.labels,
        Some(BTreeMap::new()),
        "empty Labels stays empty"
    );
    assert_eq!(exec.extra["Hostname"], json!("8dfe43d80430"));
    assert_eq!(
        exec.extra["OnBuild"],
        json!(null),
        "unknown members keep even null"
    );
    let written = String::from_utf8(document::to_bytes(config)).unwrap();
    assert!(written.contains(r#""container_config":{"#), "{written}");
    assert!(written.contains(r#""OnBuild":null"#), "{written}");
}

#[test]
fn spec_layout_and_descriptor_examples() {
    let layout = round_trip::<OciLayout>("{\n    \"imageLayoutVersion\": \"1.0.0\"\n}");
    assert_eq!(layout.value(), &OciLayout::new());
    assert_eq!(
        document::to_bytes(&OciLayout::new()),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );

    let d = round_trip::<Descriptor>(
        r#"{
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "size": 7682,
  "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
  "urls": [
    "https://example.com/example-manifest"
  ]
}"#,
    )
    .into_value();
    assert_eq!(
        d.urls.unwrap(),
        vec!["https://example.com/example-manifest"]
    );
    let d = round_trip::<Descriptor>(
        r#"{
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "size": 123,
  "digest": "sha256:87923725d74f4bfb94c9e86d64170f7521aad8221a5de834851470ca142da630",
  "artifactType": "application/vnd.example.sbom.v1"
}"#,
    )
    .into_value();
    assert_eq!(d.artifact_type.unwrap(), "application/vnd.example.sbom.v1");
    let d = round_trip::<Descriptor>(
        r#"{
  "mediaType": "application/vnd.oci.empty.v1+json",
  "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  "size": 2,
  "data": "e30="
}"#,
    )
    .into_value();
    assert_eq!(d, Descriptor::empty_with_data());
    assert_eq!(d.decode_data().unwrap().unwrap(), b"{}");
}

#[test]
fn empty_descriptor_constants() {
    let d = Descriptor::empty();
    assert_eq!(d.media_type, media_type::EMPTY);
    assert_eq!(d.digest.as_str(), descriptor::EMPTY_DIGEST);
    assert_eq!(d.digest.algorithm(), Some(Algorithm::Sha256));
    assert_eq!(d.size, descriptor::EMPTY_SIZE);
    assert_eq!(
        descriptor::EMPTY_CONTENT.len() as u64,
        descriptor::EMPTY_SIZE
    );
    assert_eq!(
        String::from_utf8(document::to_bytes(&Descriptor::empty_with_data())).unwrap(),
        r#"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="}"#
    );
}

#[test]
fn unknown_fields_and_values_survive() {
    let text = r#"{"schemaVersion":2,"mediaType":"application/vnd.example.future+json","x-top":{"b":[1,2.5,"c"],"a":null},"config":{"mediaType":"application/vnd.example.config","digest":"unknownalg+b64:AbC_-=","size":0,"x-desc":true,"platform":{"architecture":"quantum","os":"plan10","x-plat":1}},"layers":[{"mediaType":"application/vnd.example.layer+foo","digest":"sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0","size":5,"annotations":{"com.example.unknown":"","org.opencontainers.image.future":"x"}}]}"#;
    let doc = round_trip::<ImageManifest>(text);
    let m = doc.value();
    assert_eq!(
        m.media_type.as_ref().unwrap(),
        "application/vnd.example.future+json"
    );
    assert_eq!(m.extra["x-top"], json!({"a": null, "b": [1, 2.5, "c"]}));
    assert_eq!(m.config.extra["x-desc"], json!(true));
    assert_eq!(m.config.digest.algorithm(), None);
    let p = m.config.platform.as_ref().unwrap();
    assert_eq!(p.architecture, "quantum");
    assert_eq!(p.extra["x-plat"], json!(1));
    assert_eq!(m.layers[0].annotation("com.example.unknown"), Some(""));
    let written = String::from_utf8(document::to_bytes(m)).unwrap();
    assert_eq!(
        written,
        r#"{"schemaVersion":2,"mediaType":"application/vnd.example.future+json","config":{"mediaType":"application/vnd.example.config","digest":"unknownalg+b64:AbC_-=","size":0,"platform":{"architecture":"quantum","os":"plan10","x-plat":1},"x-desc":true},"layers":[{"mediaType":"application/vnd.example.layer+foo","digest":"sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0","size":5,"annotations":{"com.example.unknown":"","org.opencontainers.image.future":"x"}}],"x-top":{"a":null,"b":[1,2.5,"c"]}}"#
    );

    let layout = round_trip::<OciLayout>(r#"{"imageLayoutVersion":"2.0.0","x-tool":"ocimg"}"#);
    assert_eq!(layout.value().image_layout_version, "2.0.0");
    assert_eq!(layout.value().extra["x-tool"], json!("ocimg"));
    let index = round_trip::<ImageIndex>(r#"{"schemaVersion":2,"manifests":[],"x-i":[]}"#);
    assert_eq!(index.value().extra["x-i"], json!([]));
    assert_eq!(index.value().media_type, None);
}

#[test]
fn null_optional_config_fields_are_absent() {
    let text = r#"{"created":null,"author":null,"architecture":"arm64","os":"linux","os.version":null,"os.features":null,"variant":null,"config":{"User":null,"ExposedPorts":null,"Env":null,"Entrypoint":null,"Cmd":null,"Volumes":null,"WorkingDir":null,"Labels":null,"StopSignal":null,"ArgsEscaped":null,"Memory":null,"MemorySwap":null,"CpuShares":null,"Healthcheck":null},"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created":null,"created_by":null,"author":null,"comment":null,"empty_layer":null}]}"#;
    let config: ImageConfig = document::from_slice(text.as_bytes()).unwrap();
    let mut expected = ImageConfig::new(&Platform::new("linux", "arm64"), vec![]);
    expected.config = Some(Default::default());
    expected.history = Some(vec![Default::default()]);
    assert_eq!(config, expected);
    let null_config: ImageConfig = document::from_slice(
        br#"{"architecture":"amd64","os":"linux","config":null,"history":null,"rootfs":{"type":"layers","diff_ids":[]}}"#,
    )
    .unwrap();
    assert_eq!(null_config.config, None);
    assert_eq!(null_config.history, None);
    assert_eq!(
        document::to_bytes(&null_config),
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
    );
}

#[test]
fn reserved_config_fields_are_opaque() {
    let text = r#"{"architecture":"amd64","os":"linux","config":{"StopSignal":"SIGTERM","ArgsEscaped":true,"Memory":2048,"MemorySwap":-1,"CpuShares":"8","Healthcheck":{"Interval":30000000000,"Test":["CMD","true"]}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let doc = round_trip::<ImageConfig>(text);
    let exec = doc.value().config.as_ref().unwrap();
    assert_eq!(exec.memory, Some(json!(2048)));
    assert_eq!(exec.memory_swap, Some(json!(-1)));
    assert_eq!(exec.cpu_shares, Some(json!("8")));
    assert_eq!(
        exec.healthcheck.as_ref().unwrap()["Test"],
        json!(["CMD", "true"])
    );
    assert_eq!(exec.args_escaped, Some(true));
    assert_eq!(exec.stop_signal.as_deref(), Some("SIGTERM"));
    assert_eq!(
        document::to_bytes(doc.value()),
        text.as_bytes(),
        "fields keep spec order"
    );
}

#[test]
fn empty_layers_and_absent_vs_empty_annotations() {
    let base = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]"#;
    let absent: ImageManifest = document::from_slice(format!("{base}}}").as_bytes()).unwrap();
    let empty: ImageManifest =
        document::from_slice(format!("{base},\"annotations\":{{}}}}").as_bytes()).unwrap();
    assert!(absent.layers.is_empty());
    assert_eq!(absent.annotations, None);
    assert_eq!(empty.annotations, Some(BTreeMap::new()));
    assert_ne!(absent, empty);
    assert_eq!(document::to_bytes(&absent), format!("{base}}}").as_bytes());
    assert_eq!(
        document::to_bytes(&empty),
        format!("{base},\"annotations\":{{}}}}").as_bytes()
    );
    let urls_empty: Descriptor = document::from_slice(
        br#"{"mediaType":"a/b","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"urls":[]}"#,
    )
    .unwrap();
    assert_eq!(urls_empty.urls, Some(vec![]));
}

#[test]
fn parse_errors_name_the_field() {
    let check = |text: &str, path: &str| {
        let e = Document::<ImageManifest>::parse(text.as_bytes()).unwrap_err();
        assert_eq!(e.path, path, "{e}");
        if path != "." {
            assert!(e.to_string().contains(&format!("at `{path}`")), "{e}");
        }
        assert_eq!(e.document, "image manifest");
    };
    let layer = |size: &str| {
        format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"a/b","digest":"{}","size":2}},"layers":[{{"mediaType":"a/b","digest":"{}","size":{size}}}]}}"#,
            descriptor::EMPTY_DIGEST,
            descriptor::EMPTY_DIGEST
        )
    };
    check(&layer("-1"), "layers[0].size");
    check(&layer("1.5"), "layers[0].size");
    check(&layer("9223372036854775808"), "layers[0].size");
    check(&layer("\"1\""), "layers[0].size");
    check(
        r#"{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:ABC","size":2},"layers":[]}"#,
        "config.digest",
    );
    check(r#"{"schemaVersion":2,"layers":[]}"#, ".");
    check(
        r#"{"schemaVersion":-2,"config":{},"layers":[]}"#,
        "schemaVersion",
    );
    check(
        r#"{"schemaVersion":2,"schemaVersion":2,"config":{},"layers":[]}"#,
        ".",
    );
    let e = Document::<ImageManifest>::parse(
        &br#"{"schemaVersion":2,"schemaVersion":2,"config":{},"layers":[]}"#[..],
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("duplicate field `schemaVersion`"),
        "{e}"
    );
    let e = Document::<ImageManifest>::parse(&b"{\"schemaVersion\":2,"[..]).unwrap_err();
    assert!(e.is_syntax(), "{e}");
    let e = Document::<ImageConfig>::parse(
        &br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:x"]}}"#[..],
    )
    .unwrap_err();
    assert_eq!(e.path, "rootfs.diff_ids[0]");
    let e = Document::<ImageConfig>::parse(
        &br#"{"architecture":"amd64","os":"linux","config":{"Labels":{"a":null}},"rootfs":{"type":"layers","diff_ids":[]}}"#[..],
    )
    .unwrap_err();
    assert_eq!(e.path, "config.Labels.a");
}

#[test]
fn probe_detects_kinds() {
    let kind = |t: &str| document::probe(t.as_bytes()).unwrap().kind();
    assert_eq!(kind(SPEC_MANIFEST), Some(ManifestKind::OciManifest));
    assert_eq!(kind(SPEC_INDEX), Some(ManifestKind::OciIndex));
    assert_eq!(
        kind(r#"{"schemaVersion":2,"manifests":[]}"#),
        Some(ManifestKind::OciIndex)
    );
    for kind in [
        ManifestKind::OciManifest,
        ManifestKind::OciIndex,
        ManifestKind::DockerManifest,
        ManifestKind::DockerManifestList,
    ] {
        assert_eq!(ManifestKind::from_media_type(kind.media_type()), Some(kind));
    }
}

#[test]
fn builders_write_expected_bytes() {
    let config = Descriptor::new(
        media_type::IMAGE_CONFIG,
        digest("sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"),
        7023,
    );
    let m = ImageManifest::new(config.clone(), vec![]);
    let doc = Document::from_value(m.clone());
    assert_eq!(
        String::from_utf8(doc.bytes().to_vec()).unwrap(),
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7","size":7023},"layers":[]}"#
    );
    assert_eq!(
        Document::<ImageManifest>::parse(doc.bytes().to_vec()).unwrap(),
        doc
    );
    let mut entry = config;
    entry.media_type = MediaType::from(media_type::IMAGE_MANIFEST);
    entry.platform = Some(Platform::parse("linux/arm64/v8").unwrap());
    entry.annotations = Some(BTreeMap::from([(
        annotations::REF_NAME.to_owned(),
        "latest".to_owned(),
    )]));
    let index = ImageIndex::new(vec![entry]);
    assert_eq!(
        String::from_utf8(document::to_bytes(&index)).unwrap(),
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7","size":7023,"annotations":{"org.opencontainers.image.ref.name":"latest"},"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}"#
    );
}

#[test]
fn platform_selection_first_match_wins() {
    let entry = |p: &str, n: u64| {
        let mut d = Descriptor::new(
            media_type::IMAGE_MANIFEST,
            digest(descriptor::EMPTY_DIGEST),
            n,
        );
        d.platform = Some(Platform::parse(p).unwrap());
        d
    };
    let mut no_platform = entry("linux/amd64", 0);
    no_platform.platform = None;
    let list = vec![
        no_platform,
        entry("linux/arm/v6", 1),
        entry("linux/arm/v7", 2),
        entry("linux/arm64", 3),
        entry("linux/amd64/v1", 4),
        entry("linux/amd64", 5),
        entry("linux/aarch64/v8", 6),
        entry("windows/amd64", 7),
    ];
    let pick = |want: &str| {
        PlatformMatcher::new(&Platform::parse(want).unwrap())
            .select(&list)
            .map(|d| d.size)
    };
    assert_eq!(pick("linux/arm64/v8"), Some(3));
    assert_eq!(pick("linux/arm64"), Some(3));
    assert_eq!(pick("linux/arm"), Some(2), "arm defaults to v7");
    assert_eq!(pick("linux/arm/6"), Some(1));
    assert_eq!(
        pick("linux/amd64"),
        Some(4),
        "v1 is the amd64 default; first wins"
    );
    assert_eq!(pick("linux/x86_64"), Some(4));
    assert_eq!(
        pick("linux/amd64/v3"),
        None,
        "no silent fallback between variants"
    );
    assert_eq!(pick("linux/arm64/v9"), None);
    assert_eq!(pick("Windows/AMD64"), Some(7));
    assert_eq!(pick("linux/s390x"), None);

    let mut win = Platform::parse("windows/amd64").unwrap();
    win.os_version = Some("10.0.17763.1".to_owned());
    let mut wanted = Platform::parse("windows/amd64").unwrap();
    assert!(PlatformMatcher::new(&wanted).matches(&win));
    wanted.os_version = Some("10.0.20348.1".to_owned());
    assert!(!PlatformMatcher::new(&wanted).matches(&win));
    wanted.os_version = None;
    wanted.os_features = Some(vec!["win32k".to_owned()]);
    assert!(!PlatformMatcher::new(&wanted).matches(&win));
    win.os_features = Some(vec!["win32k".to_owned()]);
    assert!(PlatformMatcher::new(&wanted).matches(&win));
}

#[test]
fn platform_strings() {
    let p: Platform = "linux/arm64/v8".parse().unwrap();
    assert_eq!(p.variant.as_deref(), Some("v8"));
    assert_eq!(p.to_string(), "linux/arm64/v8");
    assert_eq!(Platform::new("linux", "amd64").to_string(), "linux/amd64");
    let e = Platform::parse("linux").unwrap_err();
    assert_eq!(
        e,
        platform::ParseError::Parts {
            input: "linux".to_owned(),
            parts: 1
        }
    );
    assert_eq!(
        e.to_string(),
        "platform \"linux\" must be OS/ARCH[/VARIANT], found 1 part(s)"
    );
}

#[test]
fn descriptor_data_checks() {
    let mut d = Descriptor::empty();
    d.data = Some("e30".to_owned());
    assert!(matches!(d.decode_data(), Err(DataError::Base64 { .. })));
    d.data = Some("e30=".to_owned());
    d.size = 3;
    assert_eq!(
        d.decode_data(),
        Err(DataError::Size {
            size: 3,
            decoded: 2
        })
    );
    assert_eq!(descriptor::encode_data(b"hello"), "aGVsbG8=");
}

#[test]
fn layout_names() {
    use oci_spec_types::layout;
    let d = digest(&format!("sha512:{}", "0a".repeat(64)));
    assert_eq!(
        layout::blob_path(&d),
        format!("blobs/sha512/{}", "0a".repeat(64))
    );
    let d = digest("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8");
    assert_eq!(
        layout::blob_path(&d),
        "blobs/multihash+base58/QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"
    );
    assert_eq!(
        (
            layout::OCI_LAYOUT_FILE,
            layout::INDEX_FILE,
            layout::BLOBS_DIR
        ),
        ("oci-layout", "index.json", "blobs")
    );
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        r#"{{"imageLayoutVersion":"1.0.0","x":{}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let e = Document::<OciLayout>::parse(deep.into_bytes()).unwrap_err();
    assert!(e.to_string().contains("recursion limit"), "{e}");
    // Within the limit, nesting in unknown members survives.
    let ok = format!(
        r#"{{"imageLayoutVersion":"1.0.0","x":{}1{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let doc = Document::<OciLayout>::parse(ok.clone().into_bytes()).unwrap();
    assert_eq!(document::to_bytes(doc.value()), ok.as_bytes());
}

#[test]
fn many_entries_parse_and_select() {
    let entries: Vec<String> = (0..5000)
        .map(|i| {
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{i},"platform":{{"architecture":"arch{i}","os":"linux"}}}}"#,
                media_type::IMAGE_MANIFEST,
                descriptor::EMPTY_DIGEST
            )
        })
        .collect();
    let text = format!(
        r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
        entries.join(",")
    );
    let doc = Document::<ImageIndex>::parse(text.clone().into_bytes()).unwrap();
    assert_eq!(doc.value().manifests.len(), 5000);
    assert_eq!(document::to_bytes(doc.value()), text.as_bytes());
    let wanted = Platform::new("linux", "arch4999");
    let picked = PlatformMatcher::new(&wanted).select(&doc.value().manifests);
    assert_eq!(picked.map(|d| d.size), Some(4999));
}

#[test]
fn non_utf8_and_lone_surrogates_are_refused() {
    let mut bytes = br#"{"imageLayoutVersion":"1.0.0","x":"#.to_vec();
    bytes.extend_from_slice(b"\"\xff\"}");
    assert!(Document::<OciLayout>::parse(bytes).is_err());
    assert!(Document::<OciLayout>::parse(&br#"{"imageLayoutVersion":"\ud800"}"#[..]).is_err());
}

/// Property-based strategies for every type, shared with the Docker tests.
pub(crate) mod strategies {
    use super::*;
    use oci_spec_types::{DockerManifest, DockerManifestList, ExecConfig, History, RootFs};
    use serde_json::Value;

    pub(crate) fn text() -> impl Strategy<Value = String> {
        "(?s).{0,12}"
    }

    pub(crate) fn hex(len: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(b"0123456789abcdef".to_vec()), len)
            .prop_map(|v| String::from_utf8(v).unwrap())
    }

    /// Valid digests: registered algorithms with their exact encoding, and unregistered
    /// algorithms that fit the grammar.
    pub(crate) fn digest_string() -> impl Strategy<Value = String> {
        prop_oneof![
            hex(64).prop_map(|h| format!("sha256:{h}")),
            hex(128).prop_map(|h| format!("sha512:{h}")),
            hex(64).prop_map(|h| format!("blake3:{h}")),
            (
                "x[a-z0-9]{0,6}",
                proptest::collection::vec(("[+._-]", "[a-z0-9]{1,6}"), 0..3),
                "[a-zA-Z0-9=_-]{1,40}"
            )
                .prop_map(|(first, rest, encoded)| {
                    let mut alg = first;
                    for (sep, comp) in rest {
                        alg.push_str(&sep);
                        alg.push_str(&comp);
                    }
                    format!("{alg}:{encoded}")
                }),
        ]
    }

    pub(crate) fn digest() -> impl Strategy<Value = Digest> {
        digest_string().prop_map(|s| Digest::parse(&s).unwrap())
    }

    pub(crate) fn media_type() -> impl Strategy<Value = MediaType> {
        prop_oneof![
            proptest::sample::select(vec![
                media_type::IMAGE_MANIFEST,
                media_type::IMAGE_INDEX,
                media_type::IMAGE_CONFIG,
                media_type::LAYER_TAR_GZIP,
                media_type::EMPTY,
            ])
            .prop_map(MediaType::from),
            text().prop_map(MediaType::from),
        ]
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            text().prop_map(Value::from),
        ]
    }

    pub(crate) fn json_value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(text(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Unknown members: names that no type of this crate knows.
    pub(crate) fn extra() -> impl Strategy<Value = BTreeMap<String, Value>> {
        proptest::collection::btree_map("x-[a-zA-Z0-9._]{0,6}", json_value(), 0..3)
    }

    pub(crate) fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map(text(), text(), 0..4)
    }

    pub(crate) fn strings() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::vec(text(), 0..4)
    }

    pub(crate) fn platform() -> impl Strategy<Value = Platform> {
        (
            (text(), text(), proptest::option::of(text())),
            proptest::option::of(strings()),
            proptest::option::of(text()),
            proptest::option::of(strings()),
            extra(),
        )
            .prop_map(
                |((architecture, os, os_version), os_features, variant, features, extra)| {
                    Platform {
                        architecture,
                        os,
                        os_version,
                        os_features,
                        variant,
                        features,
                        extra,
                    }
                },
            )
    }

    pub(crate) fn descriptor() -> impl Strategy<Value = Descriptor> {
        (
            (media_type(), digest(), 0..=descriptor::MAX_SIZE),
            proptest::option::of(strings()),
            proptest::option::of(string_map()),
            proptest::option::of(text()),
            proptest::option::of(platform()),
            proptest::option::of(media_type()),
            extra(),
        )
            .prop_map(
                |(
                    (media_type, digest, size),
                    urls,
                    annotations,
                    data,
                    platform,
                    artifact_type,
                    extra,
                )| {
                    Descriptor {
                        media_type,
                        digest,
                        size,
                        urls,
                        annotations,
                        data,
                        platform,
                        artifact_type,
                        extra,
                    }
                },
            )
    }

    pub(crate) fn descriptors() -> impl Strategy<Value = Vec<Descriptor>> {
        proptest::collection::vec(descriptor(), 0..3)
    }

    pub(crate) fn manifest() -> impl Strategy<Value = ImageManifest> {
        (
            (any::<u32>(), proptest::option::of(media_type())),
            proptest::option::of(media_type()),
            descriptor(),
            descriptors(),
            proptest::option::of(descriptor()),
            proptest::option::of(string_map()),
            extra(),
        )
            .prop_map(
                |(
                    (schema_version, media_type),
                    artifact_type,
                    config,
                    layers,
                    subject,
                    annotations,
                    extra,
                )| {
                    ImageManifest {
                        schema_version,
                        media_type,
                        artifact_type,
                        config,
                        layers,
                        subject,
                        annotations,
                        extra,
                    }
                },
            )
    }

    pub(crate) fn index() -> impl Strategy<Value = ImageIndex> {
        (
            (any::<u32>(), proptest::option::of(media_type())),
            proptest::option::of(media_type()),
            descriptors(),
            proptest::option::of(descriptor()),
            proptest::option::of(string_map()),
            extra(),
        )
            .prop_map(
                |(
                    (schema_version, media_type),
                    artifact_type,
                    manifests,
                    subject,
                    annotations,
                    extra,
                )| {
                    ImageIndex {
                        schema_version,
                        media_type,
                        artifact_type,
                        manifests,
                        subject,
                        annotations,
                        extra,
                    }
                },
            )
    }

    /// A JSON value that is not null: `Some(null)` in an optional field reads back as
    /// absent (C4), by design.
    fn opaque() -> impl Strategy<Value = Option<Value>> {
        proptest::option::of(json_value().prop_filter("not null", |v| !v.is_null()))
    }

    fn exec_config() -> impl Strategy<Value = ExecConfig> {
        (
            (
                proptest::option::of(text()),
                proptest::option::of(proptest::collection::btree_map(text(), json_value(), 0..3)),
                proptest::option::of(strings()),
                proptest::option::of(strings()),
                proptest::option::of(strings()),
            ),
            (
                proptest::option::of(proptest::collection::btree_map(text(), json_value(), 0..3)),
                proptest::option::of(text()),
                proptest::option::of(string_map()),
                proptest::option::of(text()),
                proptest::option::of(any::<bool>()),
            ),
            (opaque(), opaque(), opaque(), opaque()),
            extra(),
        )
            .prop_map(
                |(
                    (user, exposed_ports, env, entrypoint, cmd),
                    (volumes, working_dir, labels, stop_signal, args_escaped),
                    (memory, memory_swap, cpu_shares, healthcheck),
                    extra,
                )| ExecConfig {
                    user,
                    exposed_ports,
                    env,
                    entrypoint,
                    cmd,
                    volumes,
                    working_dir,
                    labels,
                    stop_signal,
                    args_escaped,
                    memory,
                    memory_swap,
                    cpu_shares,
                    healthcheck,
                    extra,
                },
            )
    }

    fn history() -> impl Strategy<Value = History> {
        (
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(any::<bool>()),
            extra(),
        )
            .prop_map(
                |(created, created_by, author, comment, empty_layer, extra)| History {
                    created,
                    created_by,
                    author,
                    comment,
                    empty_layer,
                    extra,
                },
            )
    }

    pub(crate) fn config() -> impl Strategy<Value = ImageConfig> {
        (
            (
                proptest::option::of(text()),
                proptest::option::of(text()),
                text(),
                text(),
            ),
            (
                proptest::option::of(text()),
                proptest::option::of(strings()),
                proptest::option::of(text()),
            ),
            proptest::option::of(exec_config()),
            (text(), proptest::collection::vec(digest(), 0..3), extra()),
            proptest::option::of(proptest::collection::vec(history(), 0..3)),
            extra(),
        )
            .prop_map(
                |(
                    (created, author, architecture, os),
                    (os_version, os_features, variant),
                    config,
                    (kind, diff_ids, rootfs_extra),
                    history,
                    extra,
                )| ImageConfig {
                    created,
                    author,
                    architecture,
                    os,
                    os_version,
                    os_features,
                    variant,
                    config,
                    rootfs: RootFs {
                        kind,
                        diff_ids,
                        extra: rootfs_extra,
                    },
                    history,
                    extra,
                },
            )
    }

    pub(crate) fn layout() -> impl Strategy<Value = OciLayout> {
        (text(), extra()).prop_map(|(image_layout_version, extra)| OciLayout {
            image_layout_version,
            extra,
        })
    }

    pub(crate) fn docker_manifest() -> impl Strategy<Value = DockerManifest> {
        (
            any::<u32>(),
            media_type(),
            descriptor(),
            descriptors(),
            extra(),
        )
            .prop_map(|(schema_version, media_type, config, layers, extra)| {
                DockerManifest {
                    schema_version,
                    media_type,
                    config,
                    layers,
                    extra,
                }
            })
    }

    pub(crate) fn docker_manifest_list() -> impl Strategy<Value = DockerManifestList> {
        (any::<u32>(), media_type(), descriptors(), extra()).prop_map(
            |(schema_version, media_type, manifests, extra)| DockerManifestList {
                schema_version,
                media_type,
                manifests,
                extra,
            },
        )
    }

    /// Strings that break the digest grammar (DG1) or a registered algorithm's rule.
    pub(crate) fn invalid_digest_string() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9]{1,10}".prop_map(|s| s),
            "[a-z0-9]{0,5}".prop_map(|s| format!(":{s}")),
            "[a-z0-9]{1,8}".prop_map(|s| format!("{s}:")),
            ("[a-z0-9]{1,5}", "[A-Z]", "[a-z0-9]{0,5}", "[a-f0-9]{1,10}")
                .prop_map(|(a, b, c, e)| format!("{a}{b}{c}:{e}")),
            ("[a-z0-9]{1,5}", "[+._-]", "[a-f0-9]{1,10}")
                .prop_map(|(a, s, e)| format!("{a}{s}:{e}")),
            (
                "[a-z0-9]{1,5}",
                "[+._-]{2}",
                "[a-z0-9]{1,5}",
                "[a-f0-9]{1,10}"
            )
                .prop_map(|(a, s, b, e)| format!("{a}{s}{b}:{e}")),
            (
                "[a-z0-9]{1,5}",
                "[a-z0-9]{0,4}",
                "[/:+.!@ ]",
                "[a-z0-9]{0,4}"
            )
                .prop_map(|(a, e1, bad, e2)| format!("{a}:{e1}{bad}{e2}")),
            (0usize..200)
                .prop_filter("not 64", |n| *n != 64)
                .prop_flat_map(hex)
                .prop_map(|h| format!("sha256:{h}")),
            (0usize..200)
                .prop_filter("not 128", |n| *n != 128)
                .prop_flat_map(hex)
                .prop_map(|h| format!("sha512:{h}")),
            (hex(63), "[A-Zg-z]").prop_map(|(h, c)| format!("blake3:{c}{h}")),
        ]
    }
}

/// serialize -> parse -> equal, and the bytes are stable.
fn check_round_trip<T: DocumentType + PartialEq + std::fmt::Debug>(
    value: &T,
) -> Result<(), TestCaseError> {
    let bytes = document::to_bytes(value);
    let back: T = document::from_slice(&bytes)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&bytes))))?;
    prop_assert_eq!(&back, value);
    prop_assert_eq!(document::to_bytes(&back), bytes.clone());
    let doc = Document::<T>::parse(bytes.clone()).unwrap();
    prop_assert_eq!(doc.bytes(), &bytes[..]);
    Ok(())
}

proptest! {
    #[test]
    fn digest_display_parse(s in strategies::digest_string()) {
        let d = Digest::parse(&s).unwrap();
        let shown = d.to_string();
        prop_assert_eq!(Digest::parse(&shown).unwrap(), d.clone());
        prop_assert_eq!(d.to_string(), s);
        let json = serde_json::to_string(&d).unwrap();
        prop_assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }

    #[test]
    fn invalid_digests_are_rejected(s in strategies::invalid_digest_string()) {
        prop_assert!(Digest::parse(&s).is_err(), "{} parsed", s);
    }

    #[test]
    fn descriptor_round_trip(v in strategies::descriptor()) {
        check_round_trip(&v)?;
    }

    #[test]
    fn platform_round_trip(v in strategies::platform()) {
        check_round_trip(&v)?;
    }

    #[test]
    fn manifest_round_trip(v in strategies::manifest()) {
        check_round_trip(&v)?;
    }

    #[test]
    fn index_round_trip(v in strategies::index()) {
        check_round_trip(&v)?;
    }

    #[test]
    fn config_round_trip(v in strategies::config()) {
        check_round_trip(&v)?;
    }

    #[test]
    fn layout_round_trip(v in strategies::layout()) {
        check_round_trip(&v)?;
    }

    #[test]
    fn docker_manifest_round_trip(v in strategies::docker_manifest()) {
        check_round_trip(&v)?;
    }

    #[test]
    fn docker_manifest_list_round_trip(v in strategies::docker_manifest_list()) {
        check_round_trip(&v)?;
    }

    #[test]
    fn platform_string_round_trip(
        os in "[a-zA-Z0-9_.-]{1,8}",
        arch in "[a-zA-Z0-9_.-]{1,8}",
        variant in proptest::option::of("[a-zA-Z0-9_.-]{1,8}"),
    ) {
        let mut p = Platform::new(os, arch);
        p.variant = variant;
        prop_assert_eq!(Platform::parse(&p.to_string()).unwrap(), p.clone());
        let n = p.normalized();
        prop_assert_eq!(n.normalized(), n.clone(), "normalisation is idempotent");
        prop_assert!(PlatformMatcher::new(&p).matches(&n));
    }

    #[test]
    fn data_encode_decode(content in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut d = Descriptor::empty();
        d.size = content.len() as u64;
        d.data = Some(descriptor::encode_data(&content));
        prop_assert_eq!(d.decode_data().unwrap(), Some(content));
    }
}
