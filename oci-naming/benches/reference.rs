//! Reference parsing (`cargo bench -p oci-naming`).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oci_naming::Dialect;

const REFERENCES: &[&str] = &[
    "alpine",
    "library/alpine:3.20",
    "docker.io/library/alpine:latest",
    "quay.io/containers/skopeo:v1.16.1",
    "localhost:5000/team/app/service@sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
    "registry.example.com:443/a/b/c/d/e:tag_1.2-3@sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
];

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("reference");
    group.throughput(Throughput::Elements(REFERENCES.len() as u64));
    group.bench_function("parse_normalized", |b| {
        b.iter(|| {
            for r in REFERENCES {
                let _ = black_box(Dialect::Distribution.parse_normalized(black_box(r)));
            }
        });
    });
    group.bench_function("parse (strict)", |b| {
        b.iter(|| {
            for r in REFERENCES {
                let _ = black_box(Dialect::Distribution.parse(black_box(r)));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
