//! `wis2-validate`: checks WIS2 notification messages, topics and WCMP2 records.
//! `run` is the service; the other subcommands check files or topics once.

use clap::Subcommand;
use wis2_bus::cli::Exit;
use wis2_validate::{RunArgs, metadata_cmd, oneshot};

#[derive(Debug, Subcommand)]
enum Tool {
    #[command(flatten)]
    OneShot(oneshot::Command),
    /// Check WCMP2 discovery metadata records (or `metadata sync` the schema and code lists).
    Metadata(metadata_cmd::MetadataArgs),
}

wis2_bus::service_main!(RunArgs, Tool, wis2_validate::run);

impl wis2_bus::cli::Tool for Tool {
    fn run(self) -> anyhow::Result<Exit> {
        match self {
            Tool::OneShot(cmd) => oneshot::execute(cmd),
            Tool::Metadata(args) => metadata_cmd::execute(args),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // Flattened structs and renamed flags (metadata's --schema) meet only here.
        wis2_bus::cli::Cli::<wis2_bus::cli::ServiceCommand<super::RunArgs, super::Tool>>::command()
            .debug_assert();
    }
}
