//! `wis2-watch`: file events for the chain. `run` is the service; `emit` publishes the
//! event of one file and exits.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wis2_bus::BrokerArgs;
use wis2_bus::cli::{Exit, GlobalArgs};
use wis2_watch::{RunArgs, WatchArgs};

#[derive(Debug, Parser)]
#[command(
    name = "wis2-watch",
    version,
    about = "Watches the data directory and emits file events"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: watch the data directory, emit one event per complete file.
    Run(Box<RunArgs>),
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
    let cli = Cli::parse();
    wis2_bus::telemetry::init(cli.global.log_format);
    let outcome = match cli.command {
        Command::Run(args) => args.check().and_then(|config| {
            let runtime = config.service.runtime.clone();
            runtime.block_on(wis2_watch::run(config, wis2_bus::shutdown::signal()))
        }),
        Command::Emit(a) => wis2_bus::runtime::block_on(1, async move {
            let broker = a.broker.check().context("invalid broker settings")?;
            let ev = wis2_watch::emit_once(&broker, &a.watch, &a.file).await?;
            println!("{}", ev.to_json());
            Ok(())
        }),
    };
    wis2_bus::cli::exit("wis2-watch", outcome.map(|()| Exit::Done))
}
