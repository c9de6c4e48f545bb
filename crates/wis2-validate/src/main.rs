//! `wis2-validate`: checks WIS2 notification messages, topics and WCMP2 records.
//! `run` is the service; the other subcommands check files or topics once.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wis2_bus::cli::{Exit, GlobalArgs};
use wis2_validate::{RunArgs, metadata_cmd, oneshot, output};

#[derive(Debug, Parser)]
#[command(
    name = "wis2-validate",
    version,
    about = "Checks WIS2 notification messages, topics and WCMP2 records"
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
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
    let cli = Cli::parse();
    wis2_bus::telemetry::init(cli.global.log_format);
    let outcome = match cli.command {
        Command::Run(args) => args
            .check()
            .and_then(|config| {
                let runtime = config.service.runtime.clone();
                runtime.block_on(wis2_validate::run(config, wis2_bus::shutdown::signal()))
            })
            .map(|()| Exit::Done),
        Command::OneShot(cmd) => oneshot::execute(cmd),
        Command::Metadata(args) => metadata_cmd::execute(args),
    };
    wis2_bus::cli::exit(output::BINARY, outcome)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // Flattened structs and renamed flags (metadata's --schema) meet only here.
        super::Cli::command().debug_assert();
    }
}
