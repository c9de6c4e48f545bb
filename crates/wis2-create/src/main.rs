//! `wis2-create`: builds WIS2 notification messages. `run` is the service; `message`
//! prints the message for one file; `event` prints the messages of one CloudEvent
//! (a file event, or an upstream STAC item event: one message per asset).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use wis2::event::CloudEvent;
use wis2::message::Relation;
use wis2_bus::cli::Exit;
use wis2_create::{CreateSettings, Creator, EventKind, RunArgs};

#[derive(Debug, Subcommand)]
enum Tool {
    /// Print the notification message for FILE as JSON on stdout.
    Message(MessageArgs),
    /// Print the messages of the CloudEvent in FILE (`-`: standard input), one compact
    /// JSON document per line: one per asset for a STAC item event.
    Event(EventArgs),
}

impl wis2_bus::cli::Tool for Tool {
    fn run(self) -> anyhow::Result<Exit> {
        match self {
            Tool::Message(a) => message(a.file, a.rel, a.settings),
            Tool::Event(a) => event(a.file, a.settings),
        }
    }
}

wis2_bus::service_main!(RunArgs, Tool, wis2_create::run);

#[derive(Debug, clap::Args)]
struct MessageArgs {
    /// The data file (under WIS2_DATA_DIR, or anywhere: then its folder is the data directory).
    file: PathBuf,
    /// Link relation: canonical (new), update (changed) or deletion.
    #[arg(long, default_value = "canonical")]
    rel: Relation,
    #[command(flatten)]
    settings: CreateSettings,
}

#[derive(Debug, clap::Args)]
struct EventArgs {
    /// A CloudEvents 1.0 JSON document.
    file: PathBuf,
    #[command(flatten)]
    settings: CreateSettings,
}

fn message(file: PathBuf, rel: Relation, settings: CreateSettings) -> anyhow::Result<Exit> {
    let creator = Creator::new(settings.clone()).context("invalid settings")?;
    let (creator, rel_path) = match creator.relative_path(&file) {
        Ok(p) => (creator, p),
        Err(wis2_create::CreateError::Outside(..)) => {
            // A file outside the data directory: its own folder is the data directory.
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| wis2::path::RelPath::parse(n).ok())
                .with_context(|| {
                    format!("{} has no file name in UTF-8: rename it", file.display())
                })?;
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
    Ok(Exit::Done)
}

fn event(file: PathBuf, settings: CreateSettings) -> anyhow::Result<Exit> {
    use std::io::{Read, Write};
    let limit = wis2::event::MAX_EVENT_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .context("cannot read the event from standard input")?;
    } else {
        std::fs::File::open(&file)
            .and_then(|f| f.take(limit).read_to_end(&mut bytes))
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    let ev = CloudEvent::parse(&bytes).with_context(|| format!("{}", file.display()))?;
    let creator = Creator::for_events(settings).context("invalid settings")?;
    let msgs = match EventKind::of(&ev) {
        EventKind::Stac => creator.messages_for_stac_event(&ev)?,
        EventKind::File => vec![creator.message_for_event(&ev)?],
    };
    // All or nothing: the messages are printed once every asset is accepted.
    let mut out = std::io::stdout().lock();
    for m in msgs {
        writeln!(out, "{}", m.to_json())?;
    }
    out.flush()?;
    Ok(Exit::Done)
}
