//! `wis2-create`: builds WIS2 notification messages. `run` is the service; `message`
//! prints the message for one file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wis2::message::Relation;
use wis2_create::{CreateSettings, Creator, RunArgs};

#[derive(Debug, Parser)]
#[command(name = "wis2-create", version, about = "Builds WIS2 notification messages from data files")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: file events in, notification messages out.
    Run(RunArgs),
    /// Print the notification message for FILE as JSON on stdout.
    Message {
        /// The data file (under WIS2_DATA_DIR, or anywhere: then its folder is the data directory).
        file: PathBuf,
        /// Link relation: canonical (new), update (changed) or deletion.
        #[arg(long, default_value = "canonical", value_parser = parse_relation)]
        rel: Relation,
        #[command(flatten)]
        settings: CreateSettings,
    },
}

fn parse_relation(s: &str) -> Result<Relation, String> {
    match s {
        "canonical" => Ok(Relation::Canonical),
        "update" => Ok(Relation::Update),
        "deletion" => Ok(Relation::Deletion),
        _ => Err(format!("`{s}`: use canonical, update or deletion")),
    }
}

fn message(file: PathBuf, rel: Relation, settings: CreateSettings) -> anyhow::Result<()> {
    let creator = Creator::new(settings.clone()).context("invalid settings")?;
    let (creator, rel_path) = match creator.relative_path(&file) {
        Ok(p) => (creator, p),
        Err(wis2_create::CreateError::Outside(..)) => {
            // A file outside the data directory: its own folder is the data directory.
            let name = file
                .file_name()
                .with_context(|| format!("{} has no file name", file.display()))?
                .to_string_lossy()
                .into_owned();
            let mut s = settings;
            s.data_dir = file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."));
            tracing::warn!(
                file = %file.display(),
                "file is outside WIS2_DATA_DIR: its data_id and link use its name only"
            );
            (Creator::new(s).context("invalid settings")?, name)
        }
        Err(e) => return Err(e.into()),
    };
    let msg = match rel {
        Relation::Deletion => creator.deletion_for(&rel_path)?,
        r => creator.message_for(&rel_path, r)?,
    };
    println!("{}", serde_json::to_string_pretty(&msg)?);
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    wis2_bus::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => wis2_create::run(args, wis2_bus::shutdown::signal()).await,
        Command::Message {
            file,
            rel,
            settings,
        } => message(file, rel, settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wis2-create: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
