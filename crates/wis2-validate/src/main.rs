//! `wis2-validate`: checks WIS2 notification messages, topics and WCMP2 records.
//! `run` is the service; the other subcommands check files or topics once.

use std::process::ExitCode;

use wis2_bus::service::Settings;

use clap::Subcommand;
use wis2_validate::{RunArgs, metadata_cmd, oneshot, output};

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
        output::BINARY,
        "Checks WIS2 notification messages, topics and WCMP2 records",
        |command| match command {
            Command::Run(args) => {
                wis2_bus::service::serve(&args.service.runtime, args.check(), wis2_validate::run)
            }
            Command::OneShot(cmd) => oneshot::execute(cmd),
            Command::Metadata(args) => metadata_cmd::execute(args),
        },
    )
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // Flattened structs and renamed flags (metadata's --schema) meet only here.
        wis2_bus::cli::Cli::<super::Command>::command().debug_assert();
    }
}
