//! The validator on a large index, and `Document` parsing (`cargo bench -p oci-spec-types`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oci_spec_types::validate::{Kind, validate};
use oci_spec_types::{Document, ImageIndex, ImageManifest};

/// An index of `n` platform manifests, each with annotations.
fn index(n: usize) -> Vec<u8> {
    let manifests: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{i:064x}","size":{},"platform":{{"architecture":"arch{i}","os":"linux","variant":"v{}"}},"annotations":{{"org.opencontainers.image.ref.name":"tag-{i}","org.opencontainers.image.created":"2024-01-02T03:04:05Z"}}}}"#,
                1000 + i,
                i % 8
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
        manifests.join(",")
    )
    .into_bytes()
}

fn manifest(layers: usize) -> Vec<u8> {
    let layers: Vec<String> = (0..layers)
        .map(|i| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{i:064x}","size":{}}}"#,
                4096 * (i + 1)
            )
        })
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{:064x}","size":1234}},"layers":[{}]}}"#,
        7,
        layers.join(",")
    )
    .into_bytes()
}

fn documents(c: &mut Criterion) {
    let big = index(10_000);
    let mut group = c.benchmark_group("spec");
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("validate index of 10000 manifests", |b| {
        b.iter(|| {
            let report = validate(Kind::Index, black_box(&big));
            assert!(report.is_valid());
        });
    });
    group.bench_function("Document<ImageIndex> of 10000 manifests", |b| {
        b.iter(|| Document::<ImageIndex>::parse(black_box(big.clone())).expect("parses"));
    });
    let small = manifest(20);
    group.throughput(Throughput::Bytes(small.len() as u64));
    group.bench_function("Document<ImageManifest> of 20 layers", |b| {
        b.iter(|| Document::<ImageManifest>::parse(black_box(small.clone())).expect("parses"));
    });
    group.finish();
}

criterion_group!(benches, documents);
criterion_main!(benches);
