//! # wis2-bench: load generators and measurements for `bench/*.sh`
//!
//! Run by hand (never as timed tests): see `bench/README.md`.
//!
//! - `e2e`: drops files into the watched directory at a fixed rate (or as fast as
//!   possible) while subscribed to the WIS2 topic; latency = arrival − rename.
//! - `publish`: QoS 1 messages acknowledged per second through `wis2_bus::Bus`
//!   (pipelined `publish_nowait`, then every PUBACK); `--envelopes` publishes distinct
//!   chain envelopes (for preloading `chain/validated`).
//! - `collect`: counts messages on a topic and prints first/last arrival times.
//! - `histogram`: per-stage figures from two `/metrics` snapshots.
//! - `history`: a console history of N published files (`bench/console.sh`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod collect;
mod e2e;
mod histogram;
mod history;
mod mqtt;
mod publish;
mod stats;

#[derive(Parser)]
#[command(
    name = "wis2-bench",
    version,
    about = "Benchmarks of the WIS2 chain (see bench/README.md)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// End to end: drop files into the watched directory, time their WIS2 messages.
    E2e(e2e::Args),
    /// Publish N QoS 1 messages through wis2_bus::Bus and time until all are acknowledged.
    Publish(publish::Args),
    /// Count N messages on a topic; print first and last arrival (Unix ns).
    Collect(collect::Args),
    /// Fill a console history with N published files (for bench/console.sh).
    History(history::Args),
    /// Per-stage processing figures from two /metrics snapshots (before, after).
    Histogram {
        /// Snapshot of /metrics taken before the load.
        before: PathBuf,
        /// Snapshot of /metrics taken after the load.
        after: PathBuf,
        /// Histogram name.
        #[arg(long, default_value = "wis2_processing_seconds")]
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::E2e(a) => runtime().and_then(|rt| rt.block_on(e2e::run(a))),
        Cmd::Publish(a) => runtime().and_then(|rt| rt.block_on(publish::run(a))),
        Cmd::Collect(a) => runtime().and_then(|rt| rt.block_on(collect::run(a))),
        Cmd::History(a) => history::run(a),
        Cmd::Histogram {
            before,
            after,
            name,
        } => histogram::run(&before, &after, &name),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wis2-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
