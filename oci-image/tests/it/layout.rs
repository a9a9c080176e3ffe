//! Layouts: init, open, tag, untag, select, inspect.

use std::sync::Arc;

use oci_image::{ImageName, Inspection, Layout, OpenError, Reference, ResolveError, TagError};
use oci_spec_types::{Document, ImageIndex, Platform};

use crate::{LayerSpec, add_entry, linux_amd64, new_layout, put_image, scratch};

fn tags(layout: &Layout) -> Vec<(Option<String>, String)> {
    layout
        .index()
        .expect("index")
        .value()
        .manifests
        .iter()
        .map(|d| (d.ref_name().map(str::to_owned), d.digest.to_string()))
        .collect()
}

fn tag(t: &str) -> Reference {
    Reference::Tag(t.to_owned())
}

#[test]
fn init_writes_the_three_parts() {
    let dir = scratch("init").join("new/layout");
    let layout = Layout::init(&dir).expect("init");
    assert_eq!(
        std::fs::read_to_string(dir.join("oci-layout")).expect("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("index.json")).expect("index.json"),
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#
    );
    assert!(dir.join("blobs").is_dir());
    assert!(layout.index().expect("index").value().manifests.is_empty());
    // No temporary file is left behind.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    assert_eq!(names, ["blobs", "index.json", "oci-layout"]);
    // A second init refuses.
    assert!(Layout::init(&dir).is_err());
}

#[test]
fn open_or_init_creates_once() {
    let dir = scratch("open-or-init").join("layout");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || Layout::open_or_init(dir).map(|_| ()))
        })
        .collect();
    for t in threads {
        t.join().expect("thread").expect("open_or_init");
    }
    let layout = Layout::open(&dir).expect("open");
    assert!(layout.index().expect("index").value().manifests.is_empty());
    // An existing layout keeps its entries.
    let a = put_image(&layout, &linux_amd64(), vec![]);
    add_entry(&layout, a.manifest, Some("a"));
    let again = Layout::open_or_init(&dir).expect("open existing");
    assert_eq!(tags(&again).len(), 1);
}

#[test]
fn open_checks_the_oci_layout_file() {
    let dir = scratch("open");
    match Layout::open(dir.join("absent")) {
        Err(OpenError::NotFound { .. }) => {}
        other => panic!("{other:?}"),
    }
    match Layout::open(&dir) {
        Err(e @ OpenError::NoLayoutFile { .. }) => {
            assert!(e.to_string().contains("oci-layout"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    for bad in [
        &b"[]"[..],
        b"{}",
        b"{\"imageLayoutVersion\":1}",
        b"not json",
    ] {
        std::fs::write(dir.join("oci-layout"), bad).expect("write");
        match Layout::open(&dir) {
            Err(e @ OpenError::BadLayoutFile { .. }) => {
                assert!(e.is_check_failure());
                assert!(e.to_string().contains("oci-layout"), "{e}");
            }
            other => panic!("{}: {other:?}", String::from_utf8_lossy(bad)),
        }
    }
    // Extra members and unknown extra files are tolerated.
    std::fs::write(
        dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0","x":1}"#,
    )
    .expect("write");
    std::fs::write(dir.join("README"), b"extra").expect("write");
    Layout::open(&dir).expect("open");
}

#[test]
fn tag_copies_the_descriptor_and_retag_replaces() {
    let layout = new_layout("tag-retag");
    let a = put_image(
        &layout,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("a", b"a")])],
    );
    let b = put_image(
        &layout,
        &linux_amd64(),
        vec![LayerSpec::gzip(&[("b", b"b")])],
    );
    add_entry(&layout, a.manifest.clone(), Some("a"));
    add_entry(&layout, b.manifest.clone(), Some("b"));

    let tagged = layout.tag(Some(&tag("a")), None, "latest").expect("tag");
    assert_eq!(tagged.digest, a.manifest.digest);
    assert_eq!(tagged.platform, a.manifest.platform, "platform copied");
    assert_eq!(tagged.ref_name(), Some("latest"));
    // Re-tagging moves the tag: still one entry named latest.
    layout.tag(Some(&tag("b")), None, "latest").expect("retag");
    let digest = |p: &crate::Put| p.manifest.digest.to_string();
    assert_eq!(
        tags(&layout),
        [
            (Some("a".to_owned()), digest(&a)),
            (Some("b".to_owned()), digest(&b)),
            (Some("latest".to_owned()), digest(&b)),
        ]
    );
    // By digest, including a manifest that index.json does not list.
    let c = put_image(&layout, &Platform::new("linux", "arm64"), vec![]);
    let by_digest = layout
        .tag(
            Some(&Reference::Digest(c.manifest.digest.clone())),
            None,
            "c",
        )
        .expect("tag by digest");
    assert_eq!(by_digest.digest, c.manifest.digest);
    assert_eq!(by_digest.size, c.manifest.size);
    assert_eq!(
        by_digest
            .platform
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("linux/arm64"),
        "platform from the config"
    );
    // The written index.json is valid.
    let bytes = std::fs::read(layout.index_path()).expect("read");
    let report = oci_spec_types::validate::validate(oci_spec_types::validate::Kind::Index, &bytes);
    assert!(report.is_valid(), "{report:?}");
}

#[test]
fn tag_errors() {
    let layout = new_layout("tag-errors");
    let a = put_image(&layout, &linux_amd64(), vec![]);
    add_entry(&layout, a.manifest, Some("a"));
    match layout.tag(Some(&tag("a")), None, "bad tag") {
        Err(e @ TagError::InvalidTag { .. }) => assert!(e.is_check_failure()),
        other => panic!("{other:?}"),
    }
    match layout.tag(Some(&tag("nope")), None, "x") {
        Err(e @ TagError::Resolve(ResolveError::NotFound { .. })) => {
            assert!(!e.is_check_failure());
            assert!(e.to_string().contains("nope"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // A config's digest names no image (a config has a `config` member too).
    let config = layout
        .blobs()
        .put_bytes(
            br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#,
            oci_spec_types::Algorithm::Sha256,
        )
        .expect("put config");
    match layout.tag(Some(&Reference::Digest(config.digest)), None, "cfg") {
        Err(TagError::Resolve(ResolveError::NotFound { .. })) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        layout.untag("nope"),
        Err(TagError::NoSuchTag { .. })
    ));
    let removed = layout.untag("a").expect("untag");
    assert_eq!(removed.len(), 1);
    assert!(tags(&layout).is_empty());
}

#[test]
fn platform_selection_first_match_wins() {
    let layout = new_layout("platforms");
    let amd = put_image(&layout, &linux_amd64(), vec![]);
    let arm = put_image(&layout, &Platform::new("linux", "arm64"), vec![]);
    let arm_again = put_image(
        &layout,
        &Platform::new("linux", "arm64").with_variant("v8"),
        vec![LayerSpec::gzip(&[("x", b"x")])],
    );
    add_entry(&layout, amd.manifest.clone(), Some("multi"));
    add_entry(&layout, arm.manifest.clone(), Some("multi"));
    add_entry(&layout, arm_again.manifest.clone(), Some("multi"));
    let pick = |p: &str| {
        layout
            .resolve(
                Some(&tag("multi")),
                Some(&Platform::parse(p).expect("platform")),
            )
            .map(|d| d.digest)
    };
    assert_eq!(pick("linux/amd64").expect("amd64"), amd.manifest.digest);
    // arm64 = arm64/v8: the first of the two matching entries wins.
    assert_eq!(pick("linux/arm64/v8").expect("arm64"), arm.manifest.digest);
    assert_eq!(pick("linux/arm64").expect("arm64"), arm.manifest.digest);
    match pick("linux/s390x") {
        Err(e @ ResolveError::NoPlatform { .. }) => {
            assert!(e.to_string().contains("linux/arm64"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // No platform: this machine's.
    let host = layout.resolve(Some(&tag("multi")), None);
    if Platform::host().architecture == "amd64" {
        assert_eq!(host.expect("host").digest, amd.manifest.digest);
    }
    // DIR alone: every entry shares one name, so it is one image.
    let alone = layout.resolve(None, Some(&linux_amd64())).expect("alone");
    assert_eq!(alone.digest, amd.manifest.digest);
    // Tagging copies the chosen platform's entry only.
    let t = layout
        .tag(
            Some(&tag("multi")),
            Some(&Platform::parse("linux/arm64").expect("platform")),
            "arm",
        )
        .expect("tag");
    assert_eq!(t.digest, arm.manifest.digest);
    // Now two images: DIR alone is ambiguous.
    match layout.resolve(None, None) {
        Err(e @ ResolveError::NotOne { count: 4, .. }) => {
            assert!(e.to_string().contains("arm"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dir_alone_with_one_image_and_with_none() {
    let layout = new_layout("alone");
    assert!(matches!(
        layout.resolve(None, None),
        Err(ResolveError::NotOne { count: 0, .. })
    ));
    let a = put_image(&layout, &Platform::new("linux", "riscv64"), vec![]);
    add_entry(&layout, a.manifest.clone(), None);
    // One entry is taken whatever its platform.
    assert_eq!(
        layout.resolve(None, None).expect("one").digest,
        a.manifest.digest
    );
    let name = ImageName::parse(&layout.root().display().to_string()).expect("name");
    assert_eq!(name.reference, None);
}

#[test]
fn inspect_image_and_index() {
    let layout = new_layout("inspect");
    let amd = put_image(
        &layout,
        &linux_amd64(),
        vec![
            LayerSpec::gzip(&[("a", b"a")]),
            LayerSpec::zstd(&[("b", b"b")]),
        ],
    );
    let arm = put_image(&layout, &Platform::new("linux", "arm64"), vec![]);
    let index = Document::from_value(ImageIndex::new(vec![
        amd.manifest.clone(),
        arm.manifest.clone(),
    ]));
    let measured = layout
        .blobs()
        .put_bytes(index.bytes(), oci_spec_types::Algorithm::Sha256)
        .expect("put index");
    let index_descriptor = oci_spec_types::Descriptor::new(
        oci_spec_types::media_type::IMAGE_INDEX,
        measured.digest,
        measured.size,
    );
    add_entry(&layout, index_descriptor.clone(), Some("idx"));
    match layout.inspect(Some(&tag("idx")), None).expect("inspect") {
        Inspection::Index { descriptor, .. } => {
            assert_eq!(descriptor.digest, index_descriptor.digest);
        }
        other => panic!("{other:?}"),
    }
    match layout
        .inspect(Some(&tag("idx")), Some(&linux_amd64()))
        .expect("inspect amd64")
    {
        Inspection::Image(image) => {
            assert_eq!(image.descriptor.digest, amd.manifest.digest);
            assert_eq!(image.layers.len(), 2);
            assert_eq!(image.layers[1].descriptor, amd.layers[1]);
            let config = image.config.expect("config");
            assert_eq!(
                image.layers[0].diff_id.as_ref(),
                Some(&config.rootfs.diff_ids[0])
            );
        }
        other => panic!("{other:?}"),
    }
    // A damaged manifest is a check failure.
    std::fs::write(layout.blobs().blob_path(&arm.manifest.digest), b"{}").expect("damage");
    match layout.inspect(Some(&tag("idx")), Some(&Platform::new("linux", "arm64"))) {
        Err(e) => {
            assert!(e.is_check_failure(), "{e}");
            assert!(e.to_string().contains(arm.manifest.digest.as_str()), "{e}");
        }
        Ok(other) => panic!("{other:?}"),
    }
}

#[test]
fn concurrent_taggers_in_threads_lose_nothing() {
    let layout = Arc::new(new_layout("threads"));
    let a = put_image(&layout, &linux_amd64(), vec![]);
    add_entry(&layout, a.manifest, Some("base"));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let layout = Arc::clone(&layout);
            std::thread::spawn(move || {
                // Each thread opens the layout itself, as a process would.
                let own = Layout::open(layout.root()).expect("open");
                own.tag(Some(&tag("base")), None, &format!("t{i}"))
                    .expect("tag");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let names = tags(&layout);
    assert_eq!(names.len(), 17, "{names:?}");
    for i in 0..16 {
        assert!(
            names
                .iter()
                .any(|(n, _)| n.as_deref() == Some(&format!("t{i}"))),
            "t{i} missing"
        );
    }
}
