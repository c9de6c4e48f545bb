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
use wis2::validate::{Profile, Validator, ValidatorOptions, ids};
use wis2_bus::cli::Exit;

use crate::cache::{CacheArgs, WTH_FOLDER, schema_file};
use crate::files::{self, FileArgs};
use crate::output::Reports;
use crate::standards::{StandardsArgs, load_validator};
use crate::sync::{self, Part, ZipFiles};
use crate::verify::{self, VerifyArgs};

/// Official address of the bundled WNM schema.
pub const WNM_SCHEMA_URL: &str = "https://raw.githubusercontent.com/wmo-im/wis2-notification-message/main/schemas/wis2-notification-message-bundled.json";
/// Official address of the INFCOM-4 draft's bundled WNM schema (branch `INFCOM-4`).
pub const WNM_DRAFT_SCHEMA_URL: &str = "https://raw.githubusercontent.com/wmo-im/wis2-notification-message/INFCOM-4/schemas/wis2-notification-message-bundled.json";
/// Official address of the WTH as its repository keeps it (a zip of the repository):
/// the level tables and the earth-system-discipline tree with each topic's `Status`
/// (Operational, Experimental, Planned, Retired). `topic sync` takes it by default.
pub const WTH_REPOSITORY_URL: &str =
    "https://github.com/wmo-im/wis2-topic-hierarchy/archive/refs/heads/main.zip";
/// Official address of the WTH bundle (a zip of the level CSVs, without the topics'
/// status): `topic sync --url` with it still works.
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
    tree: None,
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

/// `schema sync [--profile P]`
#[derive(Debug, Clone, Args)]
pub struct SchemaArgs {
    #[command(subcommand)]
    pub command: SyncCommand,
    /// Edition whose schema to sync: 1.3.0 (in force) or infcom4-draft (the 1.4.0
    /// draft for INFCOM-4, from its branch); each has its own file in the cache.
    #[arg(long, env = "WIS2_WNM_PROFILE", default_value = "1.3.0", global = true)]
    pub profile: Profile,
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
    let p = sync_schema(s, args.profile)?;
    println!("WNM {} schema synced into {}", args.profile, p.display());
    Ok(Exit::Done)
}

/// Downloads the WNM schema of `profile`, checks that it compiles, and puts it in
/// the cache.
pub fn sync_schema(args: &SyncArgs, profile: Profile) -> anyhow::Result<PathBuf> {
    let official = match profile {
        Profile::Wnm13 => WNM_SCHEMA_URL,
        Profile::Infcom4Draft => WNM_DRAFT_SCHEMA_URL,
    };
    sync_into_cache(args, official, schema_file(profile), None, |staged, url| {
        Validator::new(&ValidatorOptions {
            schema: Some(staged.to_path_buf()),
            wth_dir: None,
            profile,
        })
        .with_context(|| format!("{url} is not a usable WNM schema"))
        .map(drop)
    })
}

/// Downloads the WTH (by default the repository's zip, with each topic's status; the
/// official bundle zip works too), extracts its CSV tables, checks that they load,
/// and puts them in the cache.
pub fn sync_wth(args: &SyncArgs) -> anyhow::Result<PathBuf> {
    let cache = args.cache.cache();
    let dir = cache.dir()?;
    let url = args.url.as_deref().unwrap_or(WTH_REPOSITORY_URL);
    let bytes = sync::download(url)?;
    let unzip = install_wth(dir, &bytes).with_context(|| format!("from {url}"))?;
    if unzip.tree.is_none() {
        eprintln!(
            "note: {url} is the WTH bundle, which has no topic status: retired and planned topics are not told apart (the default address, {WTH_REPOSITORY_URL}, has them)"
        );
    }
    Ok(dir.join(WTH_FOLDER))
}

/// Installs the WTH from a zip into `<dir>/<WTH_FOLDER>`: the repository's layout
/// (`topic-hierarchy/` with its tree) when the zip has it, else the bundle's level
/// CSVs; returns which.
pub fn install_wth(dir: &Path, zip: &[u8]) -> anyhow::Result<ZipFiles<'static>> {
    let unzip = match sync::tree_root(zip, "topic-hierarchy", "earth-system-discipline/index.csv") {
        Some(_) => ZipFiles {
            archive: "the WTH repository zip",
            folder: None,
            names: &[],
            tree: Some("topic-hierarchy"),
        },
        None => WTH_TABLES,
    };
    let part = Part {
        name: WTH_FOLDER,
        bytes: zip,
        unzip: Some(unzip),
    };
    sync::install(dir, &[part], |staged| {
        TopicTables::load_dir(&staged.join(WTH_FOLDER))
            .context("the zip does not hold usable WTH tables")
            .map(drop)
    })?;
    Ok(unzip)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn shared(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/standards")
            .join(rel)
    }

    /// A zip of the files of `dir`, each under `prefix` + its path below `dir`.
    fn zip_dir(dir: &Path, prefix: &str) -> Vec<u8> {
        fn walk(dir: &Path, rel: &str, w: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>) {
            for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
                let name = format!("{rel}{}", e.file_name().to_string_lossy());
                if e.path().is_dir() {
                    walk(&e.path(), &format!("{name}/"), w);
                } else {
                    w.start_file(name, zip::write::SimpleFileOptions::default())
                        .expect("entry");
                    w.write_all(&std::fs::read(e.path()).expect("read"))
                        .expect("write");
                }
            }
        }
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        walk(dir, prefix, &mut w);
        w.finish().expect("zip").into_inner()
    }

    #[test]
    fn the_wth_installs_from_the_repository_zip_with_status_and_from_the_old_bundle() {
        // The repository's zip, as GitHub serves it (one top folder).
        let repo = zip_dir(&shared("wth-tree"), "wis2-topic-hierarchy-main/");
        let cache = tempfile::tempdir().expect("cache");
        let how = install_wth(cache.path(), &repo).expect("repository zip");
        assert_eq!(how.tree, Some("topic-hierarchy"));
        let t = TopicTables::load_dir(&cache.path().join(WTH_FOLDER)).expect("loads");
        assert_eq!(
            t.path_status("hydrology/surface-based-observations"),
            Some("Experimental")
        );
        assert!(t.has_path("ocean/surface-based-observations/drifting-ocean-profilers"));

        // The official bundle (flat CSVs): replaces it, and works without status.
        let bundle = zip_dir(&shared("wth"), "");
        let how = install_wth(cache.path(), &bundle).expect("bundle zip");
        assert_eq!(how.tree, None);
        let t = TopicTables::load_dir(&cache.path().join(WTH_FOLDER)).expect("loads");
        assert!(t.has_path("ocean/surface-based-observations/drifting-ocean-profilers"));
        assert_eq!(t.path_status("hydrology/surface-based-observations"), None);

        // Something else: refused, the cache as it was.
        let other = zip_dir(&shared("wcmp2/codelists"), "x/");
        let err = format!(
            "{:#}",
            install_wth(cache.path(), &other).expect_err("refused")
        );
        assert!(err.contains("lacks"), "{err}");
        assert!(TopicTables::load_dir(&cache.path().join(WTH_FOLDER)).is_ok());
    }
}
