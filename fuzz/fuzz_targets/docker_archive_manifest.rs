//! Fuzz target: the docker-archive `manifest.json` reader. The input is the content of
//! `manifest.json`, put alone in a tar (and beside one small file its entries may name),
//! and opened as `docker-archive:` by every name form, so that the parser and the name
//! selection (`NAME:TAG`, `@N`) see arbitrary JSON while the tar framing stays valid.
//! Besides "never panics": what opens serves its synthesized root back, and nothing is
//! left in the scratch directory but the input.
#![no_main]

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use oci_image::{DockerArchiveSource, Source};

libfuzzer_sys::fuzz_target!(|data: &[u8]| docker_archive_manifest(data));

/// A directory of this process, for the input file and the scratch space.
fn arena() -> &'static PathBuf {
    static ARENA: OnceLock<PathBuf> = OnceLock::new();
    ARENA.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/fuzz-docker-archive-manifest")
            .join(std::process::id().to_string());
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create arena");
        dir
    })
}

/// One ustar entry (header, content, padding) of a regular file.
fn entry(out: &mut Vec<u8>, name: &str, content: &[u8]) {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    header[136..148].copy_from_slice(b"00000000000\0");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// The target body, over bytes.
pub fn docker_archive_manifest(data: &[u8]) {
    let dir = arena();
    let file = dir.join("input.tar");
    let mut tar = Vec::new();
    entry(&mut tar, "manifest.json", data);
    entry(&mut tar, "config.json", b"{}");
    tar.resize(tar.len() + 1024, 0);
    fs::write(&file, &tar).expect("write input");
    for name in [None, Some("busybox:latest"), Some("@0"), Some("@1")] {
        let Ok(source) = DockerArchiveSource::open(&file, name, dir) else {
            continue;
        };
        let root = source.root().clone();
        let _ = source.read_small(&root, 1 << 24);
    }
    let left: Vec<_> = fs::read_dir(dir)
        .expect("list arena")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["input.tar"], "temp files left behind");
}
