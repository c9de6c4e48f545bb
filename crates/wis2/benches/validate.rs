//! Full ETS + authoritative schema on in-memory messages, one core.
//!
//! `cargo bench -p wis2 --bench validate`; the throughput line is messages/s.

/// The allocator of the service binaries, so that the figures are theirs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wis2::validate::{Validator, ValidatorOptions};

const ARGO: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

/// The standard's examples and the real node messages, as raw bytes.
fn messages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir(shared("standards/wnm/examples")) {
        for e in dir.flatten() {
            if let Ok(b) = std::fs::read(e.path()) {
                out.push(b);
            }
        }
    }
    if let Ok(b) = std::fs::read(shared("data/wnm/wis2watch_node_messages_gh_gmet.json"))
        && let Ok(fc) = serde_json::from_slice::<serde_json::Value>(&b)
        && let Some(fs) = fc["features"].as_array()
    {
        for f in fs {
            if let Ok(b) = serde_json::to_vec(f) {
                out.push(b);
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let msgs = messages();
    assert!(!msgs.is_empty(), "no messages found under ../shared");
    let full = match Validator::new(&ValidatorOptions {
        schema: Some(shared(
            "standards/wnm/wis2-notification-message-bundled.json",
        )),
        wth_dir: Some(shared("standards/wth")),
    }) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    let builtin = Validator::builtin();

    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    // The floor: parsing alone.
    g.bench_function("parse-only", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(serde_json::from_slice::<serde_json::Value>(black_box(m)).ok());
            }
        })
    });
    g.bench_function("ets+schema", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(full.check_message(black_box(m), None));
            }
        })
    });
    g.bench_function("ets+schema+topic", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(full.check_message(black_box(m), Some(ARGO)));
            }
        })
    });
    g.bench_function("ets+builtin", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(builtin.check_message(black_box(m), None));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
