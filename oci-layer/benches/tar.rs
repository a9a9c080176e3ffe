//! Tar header encoding and parsing (`cargo bench -p oci-layer`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oci_layer::tar::{Header, HeaderStyle, Limits, Reader};

const ENTRIES: usize = 1000;

fn header(path: &[u8], style: HeaderStyle) -> Header<'_> {
    Header {
        path,
        typeflag: b'0',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: 1_700_000_000,
        linkname: b"",
        devmajor: 0,
        devminor: 0,
        xattrs: &[],
        style,
    }
}

/// A tar of `ENTRIES` empty files, half with paths long enough for a PAX record.
fn archive(paths: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for path in paths {
        header(path, HeaderStyle::Layer).encode(&mut out);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn paths() -> Vec<Vec<u8>> {
    (0..ENTRIES)
        .map(|i| {
            if i % 2 == 0 {
                format!("usr/share/doc/package-{i}/copyright").into_bytes()
            } else {
                format!("usr/lib/{}/file-{i}", "long-directory-name/".repeat(6)).into_bytes()
            }
        })
        .collect()
}

fn encode(c: &mut Criterion) {
    let paths = paths();
    let mut group = c.benchmark_group("tar header");
    group.throughput(Throughput::Elements(ENTRIES as u64));
    for (name, style) in [
        ("encode layer", HeaderStyle::Layer),
        ("encode go", HeaderStyle::Go),
    ] {
        group.bench_function(name, |b| {
            let mut out = Vec::with_capacity(ENTRIES * 1536);
            b.iter(|| {
                out.clear();
                for path in &paths {
                    header(black_box(path), style).encode(&mut out);
                }
                out.len()
            });
        });
    }
    let bytes = archive(&paths);
    group.bench_function("parse", |b| {
        b.iter(|| {
            let mut reader = Reader::new(black_box(&bytes[..]), Limits::default()).expect("tar");
            let mut n = 0;
            while reader.next().expect("entry").is_some() {
                n += 1;
            }
            assert_eq!(n, ENTRIES);
        });
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
