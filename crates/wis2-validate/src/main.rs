//! `wis2-validate`: checks WIS2 notification messages, topics and WCMP2 records.
//! `run` is the service; the other subcommands check files or topics once.

/// mimalloc: faster than glibc's malloc on the many small allocations of JSON handling
/// (about 7 % more messages/s in `cargo bench -p wis2 --bench validate`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wis2_validate::{RunArgs, metadata_cmd, oneshot};

#[derive(Debug, Parser)]
#[command(
    name = "wis2-validate",
    version,
    about = "Checks WIS2 notification messages, topics and WCMP2 records"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: messages in, validated or rejected out.
    Run(Box<RunArgs>),
    #[command(flatten)]
    OneShot(oneshot::Command),
    /// Check WCMP2 discovery metadata records (or `metadata sync` the schema and code lists).
    Metadata(metadata_cmd::MetadataArgs),
}

fn main() -> ExitCode {
    wis2_bus::telemetry::init();
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => {
            match args
                .runtime
                .clone()
                .block_on(wis2_validate::run(*args, wis2_bus::shutdown::signal()))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("wis2-validate: error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::OneShot(cmd) => ExitCode::from(oneshot::execute(cmd).clamp(0, 255) as u8),
        Command::Metadata(args) => ExitCode::from(metadata_cmd::execute(args).clamp(0, 255) as u8),
    }
}
