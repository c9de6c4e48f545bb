//! Counts messages on a topic: for timing a service from outside.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

use crate::mqtt::subscribe;

#[derive(clap::Args)]
pub struct Args {
    /// Broker URL of an account that reads the topic (operator).
    #[arg(long, env = "BENCH_BROKER_URL", hide_env_values = true)]
    broker_url: String,
    /// Topic filter.
    #[arg(long)]
    topic: String,
    /// Messages to wait for.
    #[arg(long)]
    count: usize,
    /// File created once the subscription is acknowledged (so a script can start the load).
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let (_client, mut rx) = subscribe(&a.broker_url, std::slice::from_ref(&a.topic)).await?;
    if let Some(f) = &a.ready_file {
        std::fs::write(f, b"ready").with_context(|| format!("writing {}", f.display()))?;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(a.timeout_secs);
    let (mut n, mut first, mut last) = (0usize, 0u128, 0u128);
    while n < a.count {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(_)) => {
                last = unix_ns();
                if n == 0 {
                    first = last;
                }
                n += 1;
            }
            Ok(None) => bail!("the subscriber connection ended after {n} messages"),
            Err(_) => break,
        }
    }
    println!("RESULT received={n} first_ns={first} last_ns={last}");
    if n < a.count {
        bail!(
            "only {n} of {} messages within {} s",
            a.count,
            a.timeout_secs
        );
    }
    Ok(())
}
