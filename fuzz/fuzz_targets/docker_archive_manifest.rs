//! Fuzz target: the docker-archive `manifest.json` reader. The input is the content of
//! `manifest.json`, put alone in a tar (and beside one small file its entries may name),
//! and opened as `docker-archive:` by every name form, so that the parser and the name
//! selection (`NAME:TAG`, `@N`) see arbitrary JSON while the tar framing stays valid.
//! Besides "never panics": the checks of the `docker_archive` target (`common`).
#![no_main]

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| docker_archive_manifest(data));

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
    let dir = common::arena("docker-archive-manifest");
    let file = dir.join("input.tar");
    let mut tar = Vec::new();
    entry(&mut tar, "manifest.json", data);
    entry(&mut tar, "config.json", b"{}");
    tar.resize(tar.len() + 1024, 0);
    std::fs::write(&file, &tar).expect("write input");
    let names = [None, Some("busybox:latest"), Some("@0"), Some("@1")];
    common::open_every_way(&file, dir, &names);
}
