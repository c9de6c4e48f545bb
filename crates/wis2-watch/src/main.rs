//! `wis2-watch`: file events for the chain. `run` is the service; `emit` publishes the
//! event of one file and exits; `baseline` records a tree as known without announcing
//! it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use wis2_bus::BrokerArgs;
use wis2_bus::cli::Exit;
use wis2_watch::{RunArgs, WatchArgs};

#[derive(Debug, Subcommand)]
enum Tool {
    /// Emit the event of FILE (inside WIS2_DATA_DIR) and exit after the broker's acknowledgement.
    Emit(Box<EmitArgs>),
    /// Record every file of WIS2_DATA_DIR (but the discovery metadata records) as known
    /// without announcing it, so that `run` announces only what changes after; the
    /// chain need not run (stop wis2-watch first).
    Baseline(Box<BaselineArgs>),
}

#[derive(Debug, clap::Args)]
struct BaselineArgs {
    #[command(flatten)]
    state: wis2_bus::StateArgs,
    #[command(flatten)]
    watch: WatchArgs,
    /// Name endings never announced (comma-separated, case-insensitive), besides
    /// temporary names: as `run` takes them.
    #[arg(long, env = "WIS2_IGNORE", value_delimiter = ',', default_value = "README.md")]
    ignore: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct EmitArgs {
    file: PathBuf,
    #[command(flatten)]
    watch: WatchArgs,
    #[command(flatten)]
    broker: BrokerArgs,
}

wis2_bus::service_main!(RunArgs, Tool, wis2_watch::run);

impl wis2_bus::cli::Tool for Tool {
    fn run(self) -> anyhow::Result<Exit> {
        match self {
            Tool::Emit(a) => wis2_bus::runtime::block_on(1, async move {
                let broker = a.broker.check().context("invalid broker settings")?;
                let ev = wis2_watch::emit_once(&broker, &a.watch, &a.file).await?;
                println!("{}", ev.to_json());
                Ok(Exit::Done)
            }),
            Tool::Baseline(a) => {
                let (counts, store) =
                    wis2_watch::baseline::tree(&a.state.state_dir, &a.watch, &a.ignore)?;
                println!(
                    "{} files of {} recorded as known in {} without being announced ({} known already); {} left to announce at the next start (discovery metadata records)",
                    counts.recorded,
                    a.watch.data_dir.display(),
                    store.display(),
                    counts.known,
                    counts.left,
                );
                Ok(Exit::Done)
            }
        }
    }
}
