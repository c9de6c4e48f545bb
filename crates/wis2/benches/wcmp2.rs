//! WCMP2 test suite with the authoritative schema, code lists and WTH tables on
//! in-memory records (bytes in, report out), one core.
//!
//! `cargo bench -p wis2 --bench wcmp2`; the throughput line is records/s.

/// The allocator of the service binaries, so that the figures are theirs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wis2::wcmp2::{Wcmp2Checker, Wcmp2Options};

use common::{bench_corpus, files_in, shared};

/// The standard's examples, the real Argo record and the project's own record.
fn records() -> Vec<Vec<u8>> {
    let mut out = files_in(&shared("standards/wcmp2/examples"));
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
    bench_corpus(&mut g, "check_record/full", &recs, |r| full.check_record(r));
    let builtin = Wcmp2Checker::builtin();
    bench_corpus(&mut g, "check_record/builtin", &recs, |r| {
        builtin.check_record(r)
    });
    // For comparison: JSON parsing alone, which every check pays.
    bench_corpus(&mut g, "parse_only", &recs, |r| {
        serde_json::from_slice::<serde_json::Value>(r).is_ok()
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
