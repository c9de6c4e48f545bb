//! `wis2-validate`: checks WIS2 notification messages, topics and WCMP2 records.
//! `run` is the service; the other subcommands check files or topics once.

use std::process::ExitCode;

use clap::Subcommand;
use wis2_validate::{RunArgs, metadata_cmd, oneshot};

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
    wis2_bus::cli::main(
        "wis2-validate",
        "Checks WIS2 notification messages, topics and WCMP2 records",
        |command| match command {
            Command::Run(args) => {
                wis2_bus::service::serve(&args.service.runtime, args.check(), wis2_validate::run)
            }
            Command::OneShot(cmd) => Ok(oneshot::execute(cmd)),
            Command::Metadata(args) => Ok(metadata_cmd::execute(args)),
        },
    )
}
