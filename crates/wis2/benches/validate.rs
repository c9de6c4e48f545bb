//! Full ETS + authoritative schema on in-memory messages, one core.
//!
//! `cargo bench -p wis2 --bench validate`; the throughput line is messages/s.

/// The allocator of the service binaries, so that the figures are theirs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wis2::validate::{Validator, ValidatorOptions};

use common::{bench_corpus, files_in, shared};

const ARGO: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

/// The standard's examples and the real node messages, as raw bytes.
fn messages() -> Vec<Vec<u8>> {
    let mut out = files_in(&shared("standards/wnm/examples"));
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
        ..ValidatorOptions::default()
    }) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    let builtin = Validator::builtin();

    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    // The floor: parsing alone.
    bench_corpus(&mut g, "parse-only", &msgs, |m| {
        serde_json::from_slice::<serde_json::Value>(m).ok()
    });
    bench_corpus(&mut g, "ets+schema", &msgs, |m| full.check_message(m, None));
    bench_corpus(&mut g, "ets+schema+topic", &msgs, |m| {
        full.check_message(m, Some(ARGO))
    });
    bench_corpus(&mut g, "ets+builtin", &msgs, |m| {
        builtin.check_message(m, None)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
