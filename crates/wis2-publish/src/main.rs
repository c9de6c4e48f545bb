//! `wis2-publish`: publishes validated messages on the WIS2 topic. `run` is the
//! service; `message` publishes one WNM file and exits after the acknowledgement.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use wis2_bus::BrokerArgs;
use wis2_bus::cli::Exit;
use wis2_publish::RunArgs;

#[derive(Debug, Subcommand)]
enum Tool {
    /// Publish one WNM file on the WIS2 topic and exit after the broker's acknowledgement.
    Message(Box<MessageArgs>),
    /// Re-inject dead letters on the topics they came from (after fixing their cause),
    /// then move them to <DIR>/replayed/.
    Replay(Box<wis2_publish::replay::ReplayArgs>),
}

impl wis2_bus::cli::Tool for Tool {
    fn run(self) -> anyhow::Result<Exit> {
        match self {
            Tool::Message(a) => wis2_bus::runtime::block_on(1, message(*a)),
            Tool::Replay(a) => wis2_bus::runtime::block_on(1, replay(*a)),
        }
    }
}

wis2_bus::service_main!(RunArgs, Tool, wis2_publish::run);

/// The WIS2 topic of `message` by default: Argo profiles of Ifremer.
const DEFAULT_TOPIC: &str = "origin/a/wis2/fr-ifremer-argo/data/core/ocean/surface-based-observations/drifting-ocean-profilers";

#[derive(Debug, clap::Args)]
struct MessageArgs {
    /// The WNM (JSON) file.
    file: PathBuf,
    /// WIS2 topic to publish on.
    #[arg(long, env = "WIS2_TOPIC", default_value = DEFAULT_TOPIC)]
    topic: String,
    /// Publish even when the message fails the built-in WNM checks.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    broker: BrokerArgs,
}

async fn message(a: MessageArgs) -> anyhow::Result<Exit> {
    let MessageArgs {
        file,
        topic,
        force,
        broker,
    } = a;
    let broker = broker.check().context("invalid broker settings")?;
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let report = wis2::validate::Validator::builtin().check_message(&bytes, Some(&topic));
    if !report.is_valid() {
        eprint!("{}", report.to_human());
        if !force {
            anyhow::bail!(
                "{} is not a valid WIS2 notification message (see above); fix it, or pass --force to publish anyway",
                file.display()
            );
        }
    }
    wis2_bus::publish_once(&broker, "wis2-publish", &topic, bytes).await?;
    eprintln!("published {} on {topic}", file.display());
    Ok(Exit::Done)
}

async fn replay(args: wis2_publish::replay::ReplayArgs) -> anyhow::Result<Exit> {
    let report = wis2_publish::replay::replay(&args).await?;
    for line in report.lines() {
        eprintln!("{line}");
    }
    let verb = if args.dry_run {
        "would be replayed"
    } else {
        "replayed"
    };
    eprintln!(
        "{} dead letter(s) {verb}, {} refused or failed, {} skipped",
        report.replayed(),
        report.failed(),
        report.skipped
    );
    if report.failed() > 0 {
        eprintln!(
            "wis2-publish: {} dead letter(s) not replayed (see above)",
            report.failed()
        );
        return Ok(Exit::Refused);
    }
    Ok(Exit::Done)
}
