//! Fuzz target: arbitrary bytes (a tar, or a gzip or zstd compressed one) opened as a
//! docker-archive, which indexes them with the crate's `TarIndex` (one pass over the
//! headers, links resolved inside the archive) and reads `manifest.json`, the config and
//! the layers through it. Besides "never panics": whatever opens serves its synthesized
//! root manifest and config back, verified; every layer read either verifies or fails
//! cleanly; and nothing is left in the scratch directory but the input.
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| docker_archive(data));

/// The target body, over bytes.
pub fn docker_archive(data: &[u8]) {
    let dir = common::arena("docker-archive");
    let file = dir.join("input.tar");
    std::fs::write(&file, data).expect("write input");
    common::open_every_way(&file, dir, &[None, Some("busybox:latest"), Some("@1")]);
}
