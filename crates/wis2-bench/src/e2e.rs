//! End to end: files renamed into the watched directory → messages on the WIS2 topic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::mqtt::{Arrival, subscribe};
use crate::stats::{ms, summarize};

#[derive(clap::Args)]
pub struct Args {
    /// Broker URL of an account that reads the WIS2 topic (operator), e.g.
    /// mqtt://operator:PASSWORD@127.0.0.1:1883.
    #[arg(long, env = "BENCH_BROKER_URL", hide_env_values = true)]
    broker_url: String,
    /// Topic filter of the WIS2 messages.
    #[arg(long, default_value = "origin/a/wis2/#")]
    topic: String,
    /// Folder the files are dropped into (inside the watched directory).
    #[arg(long)]
    dir: PathBuf,
    /// File copied N times (read once, then written from memory).
    #[arg(long)]
    source: PathBuf,
    /// Number of files.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Offered rate in files per second; 0 = as fast as possible (saturation).
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Name prefix of the files (distinct per run: the watcher announces each path once).
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Seconds to wait for the last messages after the last file was dropped.
    #[arg(long, default_value_t = 120)]
    drain_secs: u64,
    /// Write every file into this folder before the clock starts, then only move
    /// (rename) them into --dir during the run: the way a producer that writes
    /// elsewhere (another host, another folder) hands files over, and the generator's
    /// writing then takes no CPU from the chain while it is measured. Must be on the
    /// same filesystem as --dir and outside the watched directory.
    #[arg(long)]
    stage_dir: Option<PathBuf>,
    /// Append one JSON line with the figures to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

fn name(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:06}.nc")
}

/// The index of the file a WNM announces, from its canonical link (else any link).
fn index_of(payload: &[u8], prefix: &str) -> Option<usize> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let links = v.get("links")?.as_array()?;
    let href = links
        .iter()
        .find(|l| l.get("rel").and_then(|r| r.as_str()) == Some("canonical"))
        .or_else(|| links.first())?
        .get("href")?
        .as_str()?;
    let file = href.rsplit('/').next()?;
    file.strip_prefix(prefix)?
        .strip_prefix('-')?
        .strip_suffix(".nc")?
        .parse()
        .ok()
}

/// Writes every file into `stage` (before the clock starts).
fn stage_files(stage: &Path, data: &[u8], prefix: &str, count: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(stage).with_context(|| format!("creating {}", stage.display()))?;
    for i in 0..count {
        let path = stage.join(name(prefix, i));
        std::fs::write(&path, data).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Drops the files at the offered rate: written under a hidden name in `dir` and
/// renamed, or (with `stage`) moved from there; returns each file's rename time.
fn drop_files(
    dir: &Path,
    data: &[u8],
    prefix: &str,
    count: usize,
    rate: f64,
    start: Instant,
    stage: Option<&Path>,
) -> anyhow::Result<Vec<Instant>> {
    let mut renamed = Vec::with_capacity(count);
    for i in 0..count {
        if rate > 0.0 {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let n = name(prefix, i);
        let tmp = match stage {
            Some(stage) => stage.join(&n),
            None => {
                let tmp = dir.join(format!(".{n}.tmp"));
                std::fs::write(&tmp, data).with_context(|| format!("writing {}", tmp.display()))?;
                tmp
            }
        };
        let dst = dir.join(&n);
        std::fs::rename(&tmp, &dst).with_context(|| {
            format!(
                "moving {} to {} (with --stage-dir, both must be on one filesystem)",
                tmp.display(),
                dst.display()
            )
        })?;
        renamed.push(Instant::now());
    }
    Ok(renamed)
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    if a.count == 0 {
        bail!("--count must be at least 1");
    }
    if !(a.rate >= 0.0 && a.rate.is_finite()) {
        bail!("--rate must be a number >= 0 (0 = as fast as possible)");
    }
    let data = std::fs::read(&a.source)
        .with_context(|| format!("reading the source file {}", a.source.display()))?;
    std::fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    if std::fs::read_dir(&a.dir)?
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(&a.prefix))
    {
        bail!(
            "{} already holds files named {}-*: use another --prefix or folder",
            a.dir.display(),
            a.prefix
        );
    }
    if let Some(stage) = &a.stage_dir {
        stage_files(stage, &data, &a.prefix, a.count)?;
    }
    let (_client, mut rx) = subscribe(&a.broker_url, std::slice::from_ref(&a.topic)).await?;

    let start = Instant::now();
    let (dir, prefix, count, rate) = (a.dir.clone(), a.prefix.clone(), a.count, a.rate);
    let stage = a.stage_dir.clone();
    let mut writer = tokio::task::spawn_blocking(move || {
        drop_files(&dir, &data, &prefix, count, rate, start, stage.as_deref())
    });

    // Collect arrivals while the writer runs, then until every file is in or the
    // drain time is over.
    let mut arrivals: Vec<Arrival> = Vec::with_capacity(a.count);
    let mut seen = 0usize;
    let renamed = loop {
        tokio::select! {
            r = &mut writer => break r.context("file writer panicked")??,
            m = rx.recv() => match m {
                Some(m) => { arrivals.push(m); seen += 1; }
                None => bail!("the subscriber connection ended"),
            },
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(a.drain_secs);
    while seen < a.count {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => {
                arrivals.push(m);
                seen += 1;
            }
            Ok(None) => bail!("the subscriber connection ended"),
            Err(_) => break,
        }
    }
    // Late duplicates: a short grace period after the last expected message.
    let grace = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Some(m)) = tokio::time::timeout_at(grace, rx.recv()).await {
        arrivals.push(m);
    }

    let mut first_arrival: HashMap<usize, Instant> = HashMap::with_capacity(a.count);
    let (mut duplicates, mut foreign) = (0usize, 0usize);
    let mut last_arrival = start;
    for m in &arrivals {
        match index_of(&m.payload, &a.prefix) {
            Some(i) if i < a.count => {
                if let std::collections::hash_map::Entry::Vacant(e) = first_arrival.entry(i) {
                    e.insert(m.at);
                    last_arrival = last_arrival.max(m.at);
                } else {
                    duplicates += 1;
                }
            }
            _ => foreign += 1,
        }
    }
    let received = first_arrival.len();
    let missing = a.count - received;
    let latencies: Vec<Duration> = first_arrival
        .iter()
        .map(|(i, at)| at.saturating_duration_since(renamed[*i]))
        .collect();
    let s = summarize(latencies);
    let first_rename = renamed[0];
    let last_rename = renamed[a.count - 1];
    let drop_secs = last_rename.duration_since(first_rename).as_secs_f64();
    let offered = if drop_secs > 0.0 {
        (a.count - 1) as f64 / drop_secs
    } else {
        f64::INFINITY
    };
    let span = last_arrival
        .saturating_duration_since(first_rename)
        .as_secs_f64();
    let throughput = if span > 0.0 {
        received as f64 / span
    } else {
        0.0
    };
    let mode = if a.rate > 0.0 {
        format!("{} files/s offered", a.rate)
    } else {
        "saturation".to_string()
    };
    let how = if a.stage_dir.is_some() {
        "written beforehand, moved in"
    } else {
        "written in place, renamed"
    };
    println!(
        "e2e {mode}: {} files of {} bytes ({how})",
        a.count,
        std::fs::metadata(&a.source)?.len()
    );
    println!("  dropped in       {drop_secs:.2} s ({offered:.0} files/s achieved by the writer)");
    println!(
        "  received         {received} (missing {missing}, duplicates {duplicates}, other messages {foreign})"
    );
    println!(
        "  throughput       {throughput:.0} files/s (received / (last arrival - first rename) = {received} / {span:.2} s)"
    );
    println!(
        "  latency ms       p50 {}  p90 {}  p99 {}  max {}  mean {}  min {}",
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.max),
        ms(s.mean),
        ms(s.min)
    );
    println!(
        "  drain            {:.2} s after the last rename",
        last_arrival
            .saturating_duration_since(last_rename)
            .as_secs_f64()
            .max(0.0)
    );
    if let Some(path) = &a.json_out {
        let line = serde_json::json!({
            "rate": a.rate, "count": a.count, "samples": s.count, "received": received, "missing": missing,
            "duplicates": duplicates, "drop_secs": drop_secs, "offered": offered,
            "throughput": throughput, "p50_ms": s.p50.as_secs_f64() * 1e3,
            "p90_ms": s.p90.as_secs_f64() * 1e3, "p99_ms": s.p99.as_secs_f64() * 1e3,
            "max_ms": s.max.as_secs_f64() * 1e3, "mean_ms": s.mean.as_secs_f64() * 1e3,
        });
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{line}")?;
    }
    if missing > 0 {
        bail!(
            "{missing} of {} files got no WIS2 message within {} s of the last drop",
            a.count,
            a.drain_secs
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_from_canonical_link() {
        let m = br#"{"links":[{"rel":"via","href":"x"},{"rel":"canonical","href":"https://h/a/run1-000042.nc"}]}"#;
        assert_eq!(index_of(m, "run1"), Some(42));
        assert_eq!(index_of(m, "run2"), None);
        assert_eq!(index_of(b"not json", "run1"), None);
    }
}
