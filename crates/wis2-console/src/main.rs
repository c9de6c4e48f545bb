//! `wis2-console`: the operator's console. `run` is the service.

use clap::Subcommand;
use wis2_bus::cli::Exit;
use wis2_console::RunArgs;

/// No command-line tool besides `run`.
#[derive(Debug, Subcommand)]
enum Tool {}

impl wis2_bus::cli::Tool for Tool {
    fn run(self) -> anyhow::Result<Exit> {
        match self {}
    }
}

wis2_bus::service_main!(RunArgs, Tool, wis2_console::run);
