//! What the benches share: the files of ../shared they read, and the timing of one
//! check over a whole corpus.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;

/// `rel` under the shared folder beside the repository.
pub fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

/// The bytes of every file in `dir`, in name order (none when it is not there).
pub fn files_in(dir: &Path) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Times `check` over every item of `corpus`, one pass per iteration.
pub fn bench_corpus<T, R>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    corpus: &[T],
    check: impl Fn(&T) -> R,
) {
    g.bench_function(name, |b| {
        b.iter(|| {
            for item in corpus {
                black_box(check(black_box(item)));
            }
        })
    });
}
