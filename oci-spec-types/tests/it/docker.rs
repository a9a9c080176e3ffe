//! Docker v2.2 manifests and manifest lists: parsing, conversions to and from OCI both
//! ways, and every refusal.

use std::collections::BTreeMap;

use oci_spec_types::docker::{self, ToDockerError, ToOciError};
use oci_spec_types::document;
use oci_spec_types::media_type::{self, MediaType};
use oci_spec_types::{
    Descriptor, DockerManifest, DockerManifestList, Document, ImageIndex, ImageManifest, Platform,
};
use proptest::prelude::*;
use serde_json::json;

use crate::types::strategies;

/// A Docker schema2 manifest as `docker push` writes it, with a foreign layer.
const DOCKER_MANIFEST: &str = r#"{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": 1469,
      "digest": "sha256:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
         "size": 1669000,
         "digest": "sha256:fae91920dcd4542f97c9350b3157139a5d901362c2abec284de5ebd1b45b4957",
         "urls": ["https://mcr.microsoft.com/v2/windows/servercore/blobs/sha256:fae91920dcd4542f97c9350b3157139a5d901362c2abec284de5ebd1b45b4957"]
      },
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": 913022,
         "digest": "sha256:f384f6ab36adad485192f09379c0b58dc612a3cde82c551e082a7c29a87c95da"
      }
   ]
}"#;

/// The Docker manifest list of the image-spec backwards-compatibility test (shortened).
const DOCKER_LIST: &str = r#"{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
   "manifests": [
      {
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "size": 2094,
         "digest": "sha256:7820f9a86d4ad15a2c4f0c0e5479298df2aa7c2f6871288e2ef8546f3e7b6783",
         "platform": {
            "architecture": "ppc64le",
            "os": "linux"
         }
      },
      {
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "size": 2084,
         "digest": "sha256:07ebe243465ef4a667b78154ae6c3ea46fdb1582936aac3ac899ea311a701b40",
         "platform": {
            "architecture": "arm",
            "os": "linux",
            "variant": "v7"
         }
      },
      {
         "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
         "size": 2090,
         "digest": "sha256:fb2fc0707b86dafa9959fe3d29e66af8787aee4d9a23581714be65db4265ad8a",
         "platform": {
            "architecture": "arm64",
            "os": "linux",
            "variant": "v8"
         }
      }
   ]
}"#;

fn docker_manifest() -> DockerManifest {
    Document::<DockerManifest>::parse(DOCKER_MANIFEST.as_bytes())
        .unwrap()
        .into_value()
}

fn oci_manifest() -> ImageManifest {
    docker_manifest().to_oci().unwrap()
}

fn docker_list() -> DockerManifestList {
    Document::<DockerManifestList>::parse(DOCKER_LIST.as_bytes())
        .unwrap()
        .into_value()
}

fn oci_index() -> ImageIndex {
    docker_list().to_oci().unwrap()
}

#[test]
fn docker_manifest_to_oci() {
    let docker = docker_manifest();
    let oci = docker.to_oci().unwrap();
    assert_eq!(oci.schema_version, 2);
    assert_eq!(oci.media_type.as_ref().unwrap(), media_type::IMAGE_MANIFEST);
    assert_eq!(oci.config.media_type, media_type::IMAGE_CONFIG);
    assert_eq!(oci.config.digest, docker.config.digest, "same config bytes");
    assert_eq!(oci.config.size, 1469);
    assert_eq!(
        oci.layers[0].media_type,
        media_type::LAYER_NONDISTRIBUTABLE_TAR_GZIP
    );
    assert_eq!(oci.layers[0].urls, docker.layers[0].urls, "urls are kept");
    assert_eq!(oci.layers[1].media_type, media_type::LAYER_TAR_GZIP);
    assert_eq!(oci.layers[1].digest, docker.layers[1].digest);
    assert_eq!(
        (
            oci.artifact_type.as_ref(),
            oci.subject.as_ref(),
            oci.annotations.as_ref()
        ),
        (None, None, None)
    );
}

/// Uncompressed layers map both ways, as containers/image maps them (docker-archives
/// hold them, and `docker save` writes them).
#[test]
fn uncompressed_layers_map_both_ways() {
    let mut docker = docker_manifest();
    docker.layers[1].media_type = MediaType::from(media_type::DOCKER_LAYER_TAR);
    let oci = docker.to_oci().unwrap();
    assert_eq!(oci.layers[1].media_type, media_type::LAYER_TAR);
    assert_eq!(oci.layers[1].digest, docker.layers[1].digest);
    let back = DockerManifest::from_oci(&oci).unwrap();
    assert_eq!(back.layers[1].media_type, media_type::DOCKER_LAYER_TAR);
    assert_eq!(back, docker);
    assert_eq!(
        docker::oci_layer_type(media_type::DOCKER_LAYER_TAR),
        Some(media_type::LAYER_TAR)
    );
    assert_eq!(
        docker::docker_layer_type(media_type::LAYER_TAR),
        Some(media_type::DOCKER_LAYER_TAR)
    );
    // The non-distributable plain tar still has no Docker equivalent.
    assert_eq!(
        docker::docker_layer_type(media_type::LAYER_NONDISTRIBUTABLE_TAR),
        None
    );
}

#[test]
fn docker_manifest_round_trips_through_oci() {
    let docker = docker_manifest();
    let back = DockerManifest::from_oci(&docker.to_oci().unwrap()).unwrap();
    assert_eq!(back, docker);
    let oci = oci_manifest();
    assert_eq!(
        DockerManifest::from_oci(&oci).unwrap().to_oci().unwrap(),
        oci
    );
}

#[test]
fn unknown_members_and_platforms_carry_over() {
    let mut docker = docker_manifest();
    docker
        .extra
        .insert("x-builder".to_owned(), json!({"name": "kaniko"}));
    docker.layers[1].platform = Some(Platform::new("linux", "amd64"));
    docker.layers[1]
        .extra
        .insert("x-layer".to_owned(), json!(1));
    let oci = docker.to_oci().unwrap();
    assert_eq!(oci.extra["x-builder"], json!({"name": "kaniko"}));
    assert_eq!(oci.layers[1].platform, docker.layers[1].platform);
    assert_eq!(oci.layers[1].extra["x-layer"], json!(1));
    assert_eq!(DockerManifest::from_oci(&oci).unwrap(), docker);
}

#[test]
fn target_side_types_are_kept() {
    let mut docker = docker_manifest();
    docker.config.media_type = MediaType::from(media_type::IMAGE_CONFIG);
    docker.layers[1].media_type = MediaType::from(media_type::LAYER_TAR_ZSTD);
    let oci = docker.to_oci().unwrap();
    assert_eq!(oci.config.media_type, media_type::IMAGE_CONFIG);
    assert_eq!(oci.layers[1].media_type, media_type::LAYER_TAR_ZSTD);

    let mut oci = oci_manifest();
    oci.config.media_type = MediaType::from(media_type::DOCKER_CONFIG);
    oci.layers[1].media_type = MediaType::from(media_type::DOCKER_LAYER_GZIP);
    oci.media_type = None;
    let docker = DockerManifest::from_oci(&oci).unwrap();
    assert_eq!(docker.config.media_type, media_type::DOCKER_CONFIG);
    assert_eq!(docker.layers[1].media_type, media_type::DOCKER_LAYER_GZIP);
    assert_eq!(docker.media_type, media_type::DOCKER_MANIFEST);
}

#[test]
fn empty_annotation_maps_are_dropped() {
    let mut oci = oci_manifest();
    oci.annotations = Some(BTreeMap::new());
    oci.layers[0].annotations = Some(BTreeMap::new());
    let docker = DockerManifest::from_oci(&oci).unwrap();
    assert_eq!(docker.layers[0].annotations, None);
    assert_eq!(docker, docker_manifest());
}

#[test]
fn refusals_to_oci() {
    let field = |f: &str| f.to_owned();
    let check = |docker: DockerManifest, expected: ToOciError| {
        let e = docker.to_oci().unwrap_err();
        assert_eq!(e, expected);
        assert!(!e.to_string().is_empty());
    };
    let mut d = docker_manifest();
    d.schema_version = 1;
    check(d, ToOciError::SchemaVersion { found: 1 });
    let mut d = docker_manifest();
    d.media_type = MediaType::from(media_type::IMAGE_MANIFEST);
    check(
        d,
        ToOciError::MediaType {
            found: MediaType::from(media_type::IMAGE_MANIFEST),
            expected: media_type::DOCKER_MANIFEST,
        },
    );
    // The image-spec backwards-compatibility manifest: a config typed octet-stream.
    let mut d = docker_manifest();
    d.config.media_type = MediaType::from("application/octet-stream");
    check(
        d,
        ToOciError::ConfigType {
            field: field("config.mediaType"),
            media_type: MediaType::from("application/octet-stream"),
        },
    );
    for layer_type in [
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
        "application/octet-stream",
    ] {
        let mut d = docker_manifest();
        d.layers[1].media_type = MediaType::from(layer_type);
        check(
            d,
            ToOciError::LayerType {
                field: field("layers[1].mediaType"),
                media_type: MediaType::from(layer_type),
            },
        );
    }
    for member in ["annotations", "artifactType", "subject"] {
        let mut d = docker_manifest();
        d.extra.insert(member.to_owned(), json!({}));
        check(
            d,
            ToOciError::Member {
                field: field(member),
            },
        );
    }
}

#[test]
fn refusals_to_docker() {
    let check = |oci: ImageManifest, expected: ToDockerError| {
        let e = DockerManifest::from_oci(&oci).unwrap_err();
        assert_eq!(e, expected);
        assert!(!e.to_string().is_empty());
    };
    let no_field = |f: &str| ToDockerError::NoField {
        field: f.to_owned(),
    };
    let mut m = oci_manifest();
    m.schema_version = 3;
    check(m, ToDockerError::SchemaVersion { found: 3 });
    let mut m = oci_manifest();
    m.media_type = Some(MediaType::from(media_type::IMAGE_INDEX));
    check(
        m,
        ToDockerError::MediaType {
            found: MediaType::from(media_type::IMAGE_INDEX),
            expected: media_type::IMAGE_MANIFEST,
        },
    );
    let mut m = oci_manifest();
    m.artifact_type = Some(MediaType::from("application/vnd.example+type"));
    check(m, no_field("artifactType"));
    let mut m = oci_manifest();
    m.subject = Some(Descriptor::empty());
    check(m, no_field("subject"));
    let mut m = oci_manifest();
    m.annotations = Some(BTreeMap::from([("a".to_owned(), String::new())]));
    check(m, no_field("annotations"));
    let mut m = oci_manifest();
    m.layers[1].annotations = Some(BTreeMap::from([("a".to_owned(), "b".to_owned())]));
    check(m, no_field("layers[1].annotations"));
    let mut m = oci_manifest();
    m.layers[0].data = Some("e30=".to_owned());
    check(m, no_field("layers[0].data"));
    let mut m = oci_manifest();
    m.config.artifact_type = Some(MediaType::from("application/vnd.example+type"));
    check(m, no_field("config.artifactType"));
    let mut m = oci_manifest();
    m.config.data = Some("e30=".to_owned());
    check(m, no_field("config.data"));
    // An artifact: the empty config.
    let mut m = oci_manifest();
    m.config = Descriptor::empty();
    check(
        m,
        ToDockerError::ConfigType {
            field: "config.mediaType".to_owned(),
            media_type: MediaType::from(media_type::EMPTY),
        },
    );
    for layer_type in [
        media_type::LAYER_TAR_ZSTD,
        media_type::LAYER_NONDISTRIBUTABLE_TAR,
        media_type::LAYER_NONDISTRIBUTABLE_TAR_ZSTD,
        "application/vnd.example.data.v1.tar+gzip",
    ] {
        let mut m = oci_manifest();
        m.layers[1].media_type = MediaType::from(layer_type);
        check(
            m,
            ToDockerError::LayerType {
                field: "layers[1].mediaType".to_owned(),
                media_type: MediaType::from(layer_type),
            },
        );
    }
}

#[test]
fn manifest_list_to_index_and_back() {
    let list = docker_list();
    let index = list.to_oci().unwrap();
    assert_eq!(index.media_type.as_ref().unwrap(), media_type::IMAGE_INDEX);
    assert_eq!(
        index.manifests, list.manifests,
        "entries are copied unchanged"
    );
    assert_eq!(index.manifests[0].media_type, media_type::DOCKER_MANIFEST);
    assert_eq!(DockerManifestList::from_oci(&index).unwrap(), list);
    let bytes = document::to_bytes(&index);
    let reparsed: ImageIndex = document::from_slice(&bytes).unwrap();
    assert_eq!(reparsed, index);
}

#[test]
fn manifest_list_refusals() {
    let mut list = docker_list();
    list.media_type = MediaType::from(media_type::DOCKER_MANIFEST);
    assert_eq!(
        list.to_oci(),
        Err(ToOciError::MediaType {
            found: MediaType::from(media_type::DOCKER_MANIFEST),
            expected: media_type::DOCKER_MANIFEST_LIST,
        })
    );
    let mut list = docker_list();
    list.schema_version = 1;
    assert_eq!(list.to_oci(), Err(ToOciError::SchemaVersion { found: 1 }));
    let mut list = docker_list();
    list.extra
        .insert("annotations".to_owned(), json!({"a": "b"}));
    assert_eq!(
        list.to_oci(),
        Err(ToOciError::Member {
            field: "annotations".to_owned()
        })
    );

    let check = |index: ImageIndex, expected: ToDockerError| {
        assert_eq!(DockerManifestList::from_oci(&index), Err(expected));
    };
    let no_field = |f: &str| ToDockerError::NoField {
        field: f.to_owned(),
    };
    let mut i = oci_index();
    i.manifests[2].platform = None;
    check(
        i,
        ToDockerError::MissingPlatform {
            field: "manifests[2].platform".to_owned(),
        },
    );
    let mut i = oci_index();
    i.subject = Some(Descriptor::empty());
    check(i, no_field("subject"));
    let mut i = oci_index();
    i.artifact_type = Some(MediaType::from("application/vnd.example+type"));
    check(i, no_field("artifactType"));
    let mut i = oci_index();
    i.annotations = Some(BTreeMap::from([("k".to_owned(), "v".to_owned())]));
    check(i, no_field("annotations"));
    let mut i = oci_index();
    i.manifests[1].annotations = Some(BTreeMap::from([(
        oci_spec_types::annotations::REF_NAME.to_owned(),
        "v1".to_owned(),
    )]));
    check(i, no_field("manifests[1].annotations"));
    let mut i = oci_index();
    i.manifests[0].data = Some(String::new());
    check(i, no_field("manifests[0].data"));
    let mut i = oci_index();
    i.manifests[0].artifact_type = Some(MediaType::from("a/b"));
    check(i, no_field("manifests[0].artifactType"));
    let mut i = oci_index();
    i.media_type = Some(MediaType::from(media_type::IMAGE_MANIFEST));
    check(
        i,
        ToDockerError::MediaType {
            found: MediaType::from(media_type::IMAGE_MANIFEST),
            expected: media_type::IMAGE_INDEX,
        },
    );
    let mut i = oci_index();
    i.schema_version = 0;
    check(i, ToDockerError::SchemaVersion { found: 0 });
}

#[test]
fn layer_type_tables() {
    assert_eq!(
        docker::oci_layer_type(media_type::DOCKER_LAYER_GZIP),
        Some(media_type::LAYER_TAR_GZIP)
    );
    assert_eq!(
        docker::docker_layer_type(media_type::LAYER_NONDISTRIBUTABLE_TAR_GZIP),
        Some(media_type::DOCKER_FOREIGN_LAYER_GZIP)
    );
    for oci in media_type::OCI_LAYER_TYPES {
        if let Some(d) = docker::docker_layer_type(oci) {
            assert_eq!(docker::oci_layer_type(d), Some(oci));
        }
    }
    assert_eq!(docker::docker_layer_type(media_type::LAYER_TAR_ZSTD), None);
}

fn convertible_layer() -> impl Strategy<Value = Descriptor> {
    (
        strategies::descriptor(),
        prop_oneof![
            Just(media_type::LAYER_TAR_GZIP),
            Just(media_type::LAYER_NONDISTRIBUTABLE_TAR_GZIP)
        ],
    )
        .prop_map(|(mut d, mt)| {
            d.media_type = MediaType::from(mt);
            d.annotations = None;
            d.data = None;
            d.artifact_type = None;
            d
        })
}

proptest! {
    /// OCI -> Docker -> OCI gives the manifest back whenever it converts.
    #[test]
    fn convertible_manifests_round_trip(
        config in strategies::descriptor(),
        layers in proptest::collection::vec(convertible_layer(), 0..4),
        extra in strategies::extra(),
    ) {
        let mut config = config;
        config.media_type = MediaType::from(media_type::IMAGE_CONFIG);
        config.annotations = None;
        config.data = None;
        config.artifact_type = None;
        let mut oci = ImageManifest::new(config, layers);
        oci.extra = extra;
        let docker = DockerManifest::from_oci(&oci).unwrap();
        let bytes = document::to_bytes(&docker);
        let reparsed: DockerManifest = document::from_slice(&bytes).unwrap();
        prop_assert_eq!(&reparsed, &docker);
        prop_assert_eq!(docker.to_oci().unwrap(), oci);
    }

    /// Conversion never panics, and a success has the target's media type.
    #[test]
    fn arbitrary_manifests_convert_or_refuse(m in strategies::manifest()) {
        if let Ok(d) = DockerManifest::from_oci(&m) {
            prop_assert_eq!(d.media_type.as_str(), media_type::DOCKER_MANIFEST);
            prop_assert!(d.to_oci().is_ok());
        }
    }

    #[test]
    fn arbitrary_indexes_convert_or_refuse(i in strategies::index()) {
        if let Ok(list) = DockerManifestList::from_oci(&i) {
            prop_assert!(list.manifests.iter().all(|d| d.platform.is_some()));
            prop_assert_eq!(list.to_oci().unwrap().manifests, list.manifests);
        }
    }
}

#[test]
fn any_manifest_parses_every_kind() {
    use oci_spec_types::document::{AnyManifest, AnyManifestError, ManifestKind};
    let any = AnyManifest::parse(DOCKER_MANIFEST.as_bytes(), None).unwrap();
    assert_eq!(any.kind(), ManifestKind::DockerManifest);
    assert_eq!(any.layers().unwrap().len(), 2);
    assert_eq!(any.entries(), None);
    let any = AnyManifest::parse(DOCKER_LIST.as_bytes(), None).unwrap();
    assert_eq!(any.kind(), ManifestKind::DockerManifestList);
    assert_eq!(any.entries().unwrap().len(), 3);
    let index = document::to_bytes(&oci_index());
    let any = AnyManifest::parse(&index, None).unwrap();
    assert_eq!(any, AnyManifest::OciIndex(oci_index()));
    let manifest = document::to_bytes(&oci_manifest());
    let any = AnyManifest::parse(&manifest, Some(media_type::IMAGE_MANIFEST)).unwrap();
    assert_eq!(any.config(), Some(&oci_manifest().config));

    // The expected media type (from the descriptor) decides the kind (T1-T3).
    let any = AnyManifest::parse(DOCKER_MANIFEST.as_bytes(), Some(media_type::IMAGE_MANIFEST));
    assert_eq!(any.unwrap().kind(), ManifestKind::OciManifest);
    let e =
        AnyManifest::parse(DOCKER_MANIFEST.as_bytes(), Some(media_type::IMAGE_INDEX)).unwrap_err();
    assert!(
        matches!(e, AnyManifestError::Parse(ref p) if p.path == "."),
        "{e}"
    );
    let e = AnyManifest::parse(br#"{"mediaType":"text/plain"}"#, Some("a/b")).unwrap_err();
    assert!(
        matches!(e, AnyManifestError::UnknownKind { ref expected, ref found }
            if expected.as_deref() == Some("a/b") && found.as_ref().is_some_and(|f| f == "text/plain")),
        "{e}"
    );
}
