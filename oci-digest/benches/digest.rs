//! Digest throughput per algorithm and buffer size (`cargo bench -p oci-digest`).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use oci_digest::{Algorithm, Digester};

fn throughput(c: &mut Criterion) {
    let data = vec![0x5au8; 4 << 20];
    let mut group = c.benchmark_group("digest");
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512, Algorithm::Blake3] {
        for buffer in [4 << 10, 64 << 10, 1 << 20] {
            group.throughput(Throughput::Bytes(data.len() as u64));
            group.bench_with_input(
                BenchmarkId::new(
                    format!("{algorithm}"),
                    format!("{} KiB buffer", buffer >> 10),
                ),
                &buffer,
                |b, &buffer| {
                    b.iter(|| {
                        let mut digester = Digester::new(algorithm);
                        for chunk in data.chunks(buffer) {
                            digester.update(black_box(chunk));
                        }
                        digester.finish()
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
