//! `wis2-watch`: file events for the chain. `run` is the service; `emit` publishes the
//! event of one file and exits.

/// mimalloc: faster than glibc's malloc on the many small allocations of JSON handling
/// (about 7 % more messages/s in `cargo bench -p wis2 --bench validate`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wis2_bus::BrokerArgs;
use wis2_watch::{RunArgs, WatchArgs};

#[derive(Debug, Parser)]
#[command(
    name = "wis2-watch",
    version,
    about = "Watches the data directory and emits file events"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: watch the data directory, emit one event per complete file.
    Run(RunArgs),
    /// Emit the event of FILE (inside WIS2_DATA_DIR) and exit after the broker's acknowledgement.
    Emit {
        file: PathBuf,
        #[command(flatten)]
        watch: WatchArgs,
        #[command(flatten)]
        broker: BrokerArgs,
    },
}

fn main() -> ExitCode {
    wis2_bus::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => args
            .runtime
            .clone()
            .block_on(wis2_watch::run(args, wis2_bus::shutdown::signal())),
        Command::Emit {
            file,
            watch,
            broker,
        } => wis2_bus::block_on(1, async move {
            let ev = wis2_watch::emit_once(&broker, &watch, &file).await?;
            println!("{}", ev.to_json());
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wis2-watch: error: {}", wis2_bus::telemetry::error_text(&e));
            ExitCode::from(1)
        }
    }
}
