//! Digest throughput: wis2-create's pipelined digest (ring for SHA-384/512) against
//! `wis2::hash::digest_reader` (the sha2/sha3 crates), on 64 MiB in memory.
//! The end-to-end figure against `openssl speed` is `bench/hash.sh`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wis2::hash::Method;

fn digests(c: &mut Criterion) {
    let data: Vec<u8> = (0..64usize << 20).map(|i| (i * 31 % 251) as u8).collect();
    let mut g = c.benchmark_group("digest_64MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    for m in [Method::Sha512, Method::Sha256, Method::Sha3_256] {
        g.bench_function(format!("wis2-create/{m}"), |b| {
            b.iter(|| {
                wis2_create::digest::digest_reader(m, black_box(&data[..]), data.len() as u64)
                    .expect("digest")
            })
        });
        g.bench_function(format!("wis2::hash/{m}"), |b| {
            b.iter(|| wis2::hash::digest_reader(m, black_box(&data[..])).expect("digest"))
        });
    }
    g.finish();
}

criterion_group!(benches, digests);
criterion_main!(benches);
