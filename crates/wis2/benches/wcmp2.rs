//! WCMP2 test suite with the authoritative schema, code lists and WTH tables on
//! in-memory records (bytes in, report out), one core.
//!
//! `cargo bench -p wis2 --bench wcmp2`; the throughput line is records/s.

/// The allocator of the service binaries, so that the figures are theirs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wis2::wcmp2::{Wcmp2Checker, Wcmp2Options};

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

/// The standard's examples, the real Argo record and the project's own record.
fn records() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir(shared("standards/wcmp2/examples")) {
        let mut paths: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        out.extend(paths.iter().filter_map(|p| std::fs::read(p).ok()));
    }
    for p in [
        shared("data/wcmp2/ifremer_fr-ifremer-argo-core-metadata.json"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/metadata/fr-ifremer-argo-core-metadata.json"),
    ] {
        if let Ok(b) = std::fs::read(p) {
            out.push(b);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let full = Wcmp2Checker::new(&Wcmp2Options {
        schema: Some(shared("standards/wcmp2/wcmp2-bundled.json")),
        codelists_dir: Some(shared("standards/wcmp2/codelists")),
        wth_dir: Some(shared("standards/wth")),
    });
    let Ok(full) = full else {
        eprintln!("shared/standards not found: WCMP2 bench skipped");
        return;
    };
    let recs = records();
    if recs.is_empty() {
        eprintln!("no records found: WCMP2 bench skipped");
        return;
    }
    let mut g = c.benchmark_group("wcmp2");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("check_record/full", |b| {
        b.iter(|| {
            for r in &recs {
                black_box(full.check_record(black_box(r)));
            }
        })
    });
    let builtin = Wcmp2Checker::builtin();
    g.bench_function("check_record/builtin", |b| {
        b.iter(|| {
            for r in &recs {
                black_box(builtin.check_record(black_box(r)));
            }
        })
    });
    // For comparison: JSON parsing alone, which every check pays.
    g.bench_function("parse_only", |b| {
        b.iter(|| {
            for r in &recs {
                black_box(serde_json::from_slice::<serde_json::Value>(black_box(r)).is_ok());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
