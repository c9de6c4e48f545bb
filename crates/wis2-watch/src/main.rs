//! `wis2-watch`: file events for the chain. `run` is the service; `emit` publishes the
//! event of one file and exits.

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
        }
    }
}
