//! `wis2-watch`: file events for the chain. `run` is the service; `emit` publishes the
//! event of one file and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use wis2_bus::BrokerArgs;
use wis2_bus::cli::{Binary, Exit};
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

fn main() -> ExitCode {
    let binary = Binary {
        name: "wis2-watch",
        about: "Watches the data directory and emits file events",
        run: "Run the service: watch the data directory, emit one event per complete file",
    };
    wis2_bus::cli::service_main::<RunArgs, _, _>(binary, wis2_watch::run, |tool| match tool {
        Tool::Emit(a) => wis2_bus::runtime::block_on(1, async move {
            let broker = a.broker.check().context("invalid broker settings")?;
            let ev = wis2_watch::emit_once(&broker, &a.watch, &a.file).await?;
            println!("{}", ev.to_json());
            Ok(Exit::Done)
        }),
    })
}
