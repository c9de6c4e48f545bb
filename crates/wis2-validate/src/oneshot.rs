//! One-shot commands: check message files or topics once, verify the data messages
//! link to, and sync the standards.
//!
//! ```text
//! wis2-validate message FILE... [--json] [--topic T]
//! wis2-validate topic TOPIC... [--json] [--subscribe]
//! wis2-validate verify FILE... [--json] [--max-bytes N] [--timeout-secs S]
//! wis2-validate schema sync      # the WNM schema into the cache
//! wis2-validate topic sync       # the WTH bundle into the cache
//! ```
//!
//! Exit codes ([`wis2_bus::cli`]): 0 all valid, 1 something invalid, 2 usage or I/O
//! error. Standards are found as [`crate::standards`] says; the cache is
//! [`crate::cache`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use wis2::report::{Finding, Report, TestResult};
use wis2::topic::{Mode, TopicTables};
use wis2::validate::{Validator, ValidatorOptions, ids};
use wis2_bus::cli::Exit;

use crate::cache::{CacheArgs, SCHEMA_FILE, WTH_FOLDER};
use crate::files::{self, FileArgs};
use crate::output::Reports;
use crate::standards::{StandardsArgs, load_validator};
use crate::sync::{self, Part, ZipFiles};
use crate::verify::{self, VerifyArgs};

/// Official address of the bundled WNM schema.
pub const WNM_SCHEMA_URL: &str = "https://raw.githubusercontent.com/wmo-im/wis2-notification-message/main/schemas/wis2-notification-message-bundled.json";
/// Official address of the WTH bundle (a zip of the level CSVs).
pub const WTH_BUNDLE_URL: &str = "https://wmo-im.github.io/wis2-topic-hierarchy/wth-bundle.zip";

/// The CSV tables `TopicTables::load_dir` needs, wherever they sit in the bundle.
const WTH_TABLES: ZipFiles<'static> = ZipFiles {
    archive: "the WTH bundle",
    folder: None,
    names: &[
        "channel.csv",
        "version.csv",
        "system.csv",
        "centre-id.csv",
        "notification-type.csv",
        "data-policy.csv",
        "earth-system-discipline.csv",
    ],
};

/// The one-shot subcommands (flattened into the binary's command list).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check WIS2 notification message files (a FeatureCollection: each feature).
    Message(MessageArgs),
    /// Check WIS2 topics (or `topic sync` the WTH tables into the cache).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Topic(TopicArgs),
    /// Manage the WNM JSON Schema (`schema sync`).
    Schema(SchemaArgs),
    /// Download the data each message links to and check its length and integrity
    /// (inline content is checked without download).
    Verify(VerifyArgs),
}

/// Runs a one-shot command; its outcome, or the setup error that stopped it.
pub fn execute(cmd: Command) -> anyhow::Result<Exit> {
    match cmd {
        Command::Message(a) => message(&a),
        Command::Topic(a) => topic(&a),
        Command::Schema(a) => schema(&a),
        Command::Verify(a) => Ok(verify(&a)),
    }
}

/// `message FILE... [--json] [--topic T]`
#[derive(Debug, Clone, Args)]
#[command(mut_arg("files", |a| a.help("Message files (JSON); `-` reads standard input")))]
pub struct MessageArgs {
    #[command(flatten)]
    pub input: FileArgs,
    /// Topic the messages are published on (checked too, and against metadata_id).
    #[arg(long)]
    pub topic: Option<String>,
    #[command(flatten)]
    pub standards: StandardsArgs,
}

/// `topic TOPIC... [--json] [--subscribe]`, or `topic sync`.
#[derive(Debug, Clone, Args)]
pub struct TopicArgs {
    #[command(subcommand)]
    pub sync: Option<SyncCommand>,
    /// Topics to check.
    #[arg(required = true, value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Print the reports as JSON (one `ets-report` document per line).
    #[arg(long)]
    pub json: bool,
    /// Check subscription topics (wildcards `+` and `#` allowed).
    #[arg(long)]
    pub subscribe: bool,
    #[command(flatten)]
    pub standards: StandardsArgs,
}

/// `schema sync`
#[derive(Debug, Clone, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub command: SyncCommand,
}

/// The `sync` subcommand of `schema` and `topic`.
#[derive(Debug, Clone, Subcommand)]
pub enum SyncCommand {
    /// Download the official copy into the cache ($WIS2_CACHE_DIR,
    /// $XDG_CACHE_HOME/wis2 or ~/.cache/wis2).
    Sync(SyncArgs),
}

/// Options of `sync`.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// Download from this address instead of the official one.
    #[arg(long)]
    pub url: Option<String>,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// `message FILE...`: 0 all valid, 1 any invalid, 2 I/O or setup error.
pub fn message(args: &MessageArgs) -> anyhow::Result<Exit> {
    let v = load_validator(&args.standards)?;
    let topic = args.topic.as_deref();
    Ok(args
        .input
        .check(|name, raw| Ok(check_file(&v, name, raw, topic))))
}

/// Reports for one file: a message, or each feature of a FeatureCollection.
fn check_file(v: &Validator, name: &str, raw: &[u8], topic: Option<&str>) -> Vec<Report> {
    let features = serde_json::from_slice::<Value>(raw)
        .ok()
        .and_then(|value| files::features(name, &value));
    match features {
        None => {
            let mut r = v.check_message(raw, topic);
            r.ets_report.subject = Some(name.to_string());
            vec![r]
        }
        Some(features) if features.is_empty() => vec![Report::new(
            Some(name.to_string()),
            vec![TestResult::from_errors(
                ids::VALIDATION,
                vec![
                    Finding::new("/features", "a FeatureCollection without features")
                        .with_fix("give one WNM (a GeoJSON Feature) per file"),
                ],
            )],
            Vec::new(),
        )],
        Some(features) => features
            .into_iter()
            .map(|(subject, f)| {
                let mut r = v.check_value(&f, topic);
                r.ets_report.subject = Some(subject);
                r
            })
            .collect(),
    }
}

/// `topic TOPIC...` (or `topic sync`).
pub fn topic(args: &TopicArgs) -> anyhow::Result<Exit> {
    if let Some(SyncCommand::Sync(s)) = &args.sync {
        let dir = sync_wth(s)?;
        println!("WTH tables synced into {}", dir.display());
        return Ok(Exit::Done);
    }
    let v = load_validator(&args.standards)?;
    let mode = if args.subscribe {
        Mode::Subscribe
    } else {
        Mode::Publish
    };
    let checked = args.topics.iter().map(|t| Ok([v.check_topic(t, mode)]));
    Ok(Reports::stdout(args.json).print_all(checked))
}

/// `verify FILE...`: 0 all verified, 1 any mismatch or failed download, 2 I/O or
/// usage error on a local file.
pub fn verify(args: &VerifyArgs) -> Exit {
    let agent = verify::agent(Duration::from_secs(args.timeout_secs.max(1)));
    let agent = &agent;
    let max_bytes = args.max_bytes;
    args.input.check(|name, raw| {
        let value = serde_json::from_slice::<Value>(raw).with_context(|| {
            format!("{name} is not JSON (check it with `wis2-validate message`)")
        })?;
        let messages = match files::features(name, &value) {
            Some(f) if f.is_empty() => bail!("{name}: a FeatureCollection without features"),
            Some(f) => f,
            None => vec![(name.to_string(), value)],
        };
        // Lazily, so that each report is out as soon as its download is done.
        Ok(messages.into_iter().map(move |(subject, m)| {
            let mut r = verify::verify_message(&m, agent, max_bytes);
            r.ets_report.subject = Some(subject);
            r
        }))
    })
}

/// `schema sync`.
pub fn schema(args: &SchemaArgs) -> anyhow::Result<Exit> {
    let SyncCommand::Sync(s) = &args.command;
    let p = sync_schema(s)?;
    println!("WNM schema synced into {}", p.display());
    Ok(Exit::Done)
}

/// Downloads the WNM schema, checks that it compiles, and puts it in the cache.
pub fn sync_schema(args: &SyncArgs) -> anyhow::Result<PathBuf> {
    sync_into_cache(args, WNM_SCHEMA_URL, SCHEMA_FILE, None, |staged, url| {
        Validator::new(&ValidatorOptions {
            schema: Some(staged.to_path_buf()),
            wth_dir: None,
        })
        .with_context(|| format!("{url} is not a usable WNM schema"))
        .map(drop)
    })
}

/// Downloads the WTH bundle, extracts its CSV tables, checks that they load, and
/// puts them in the cache.
pub fn sync_wth(args: &SyncArgs) -> anyhow::Result<PathBuf> {
    let unzip = Some(WTH_TABLES);
    sync_into_cache(args, WTH_BUNDLE_URL, WTH_FOLDER, unzip, |staged, url| {
        TopicTables::load_dir(staged)
            .with_context(|| format!("{url} does not hold usable WTH tables"))
            .map(drop)
    })
}

/// Downloads `--url` (else `official`) and installs it as `name` in the cache once
/// `check` accepts it (given its staged path and the address); returns its path.
fn sync_into_cache(
    args: &SyncArgs,
    official: &str,
    name: &str,
    unzip: Option<ZipFiles<'_>>,
    check: impl FnOnce(&Path, &str) -> anyhow::Result<()>,
) -> anyhow::Result<PathBuf> {
    let cache = args.cache.cache();
    let dir = cache.dir()?;
    let url = args.url.as_deref().unwrap_or(official);
    let bytes = sync::download(url)?;
    let part = Part {
        name,
        bytes: &bytes,
        unzip,
    };
    sync::install(dir, &[part], |staged| check(&staged.join(name), url))?;
    Ok(dir.join(name))
}
