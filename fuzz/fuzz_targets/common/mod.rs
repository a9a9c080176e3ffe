//! What the archive targets share (each includes this file as a module): a scratch
//! directory per process, and opening an input as a docker-archive by several name forms
//! with the checks every opening must pass.

#![allow(dead_code)] // each target uses a part of it

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use oci_image::{DockerArchiveSource, Source};
use oci_spec_types::DockerManifest;

/// A directory of this process under `target/fuzz-NAME`, for the input file and the
/// scratch space; emptied on first use.
pub fn arena(name: &str) -> &'static PathBuf {
    static ARENA: OnceLock<PathBuf> = OnceLock::new();
    ARENA.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../target/fuzz-{name}"))
            .join(std::process::id().to_string());
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create arena");
        dir
    })
}

/// Opens `file` as a docker-archive under each of `names` (temp files in `dir`): whatever
/// opens serves its synthesized root manifest and config back, verified, and every layer
/// read either verifies or fails cleanly. Then nothing is left in `dir` but `file`.
pub fn open_every_way(file: &Path, dir: &Path, names: &[Option<&str>]) {
    for name in names {
        let Ok(source) = DockerArchiveSource::open(file, *name, dir) else {
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
    only_input_left(dir, file);
}

/// Nothing is left in `dir` but `input`: no temp file outlives its reader.
pub fn only_input_left(dir: &Path, input: &Path) {
    let left: Vec<_> = fs::read_dir(dir)
        .expect("list arena")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(left, [input.to_path_buf()], "temp files left behind");
}
