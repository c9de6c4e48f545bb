//! Time and place of a real Argo profile (netCDF classic, 22 KB, from the page cache):
//! the Rust classic reader that `describe` uses, against libnetcdf on its thread.
//!
//! `cargo bench -p wis2 --bench netcdf`; the throughput line is files/s on one core.

/// The allocator of the service binaries, so that the figures are theirs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wis2::formats::netcdf;

fn bench(c: &mut Criterion) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/argo/R4902481_001.nc");
    assert_eq!(
        netcdf::read(&path).expect("read"),
        netcdf::read_with_libnetcdf(&path).expect("libnetcdf"),
        "both readers agree"
    );
    let mut g = c.benchmark_group("argo_R4902481_001");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rust_classic_reader", |b| {
        b.iter(|| black_box(netcdf::read(&path).expect("read")))
    });
    g.bench_function("libnetcdf", |b| {
        b.iter(|| black_box(netcdf::read_with_libnetcdf(&path).expect("read")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
