//! Fuzz target: arbitrary bytes (a tar, or a gzip or zstd compressed one) opened as a
//! docker-archive, which indexes them with the crate's `TarIndex` (one pass over the
//! headers, links resolved inside the archive) and reads `manifest.json`, the config and
//! the layers through it. Besides "never panics": whatever opens serves its synthesized
//! root manifest and config back, verified; every layer read either verifies or fails
//! cleanly; and nothing is left in the scratch directory but the input.
#![no_main]

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;

use oci_image::{DockerArchiveSource, Source};
use oci_spec_types::DockerManifest;

libfuzzer_sys::fuzz_target!(|data: &[u8]| docker_archive(data));

/// A directory of this process, for the input file and the scratch space.
fn arena() -> &'static PathBuf {
    static ARENA: OnceLock<PathBuf> = OnceLock::new();
    ARENA.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/fuzz-docker-archive")
            .join(std::process::id().to_string());
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create arena");
        dir
    })
}

/// The target body, over bytes.
pub fn docker_archive(data: &[u8]) {
    let dir = arena();
    let file = dir.join("input.tar");
    fs::write(&file, data).expect("write input");
    for name in [None, Some("busybox:latest"), Some("@1")] {
        let Ok(source) = DockerArchiveSource::open(&file, name, dir) else {
            continue;
        };
        let root = source.root().clone();
        let bytes = source
            .read_small(&root, 1 << 24)
            .expect("the synthesized root reads back");
        let manifest: DockerManifest =
            serde_json::from_slice(&bytes).expect("the root is a docker manifest");
        source
            .read_small(&manifest.config, 1 << 24)
            .expect("the config reads back");
        for layer in &manifest.layers {
            if let Ok(mut reader) = source.open(layer) {
                let mut sink = Vec::new();
                let _ = reader.read_to_end(&mut sink);
            }
        }
    }
    let left: Vec<_> = fs::read_dir(dir)
        .expect("list arena")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["input.tar"], "temp files left behind");
}
