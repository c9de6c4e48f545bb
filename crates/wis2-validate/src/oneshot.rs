//! One-shot commands: check message files or topics once, and sync the standards.
//!
//! ```text
//! wis2-validate message FILE... [--json] [--topic T]
//! wis2-validate topic TOPIC... [--json] [--subscribe]
//! wis2-validate schema sync      # the WNM schema into the cache
//! wis2-validate topic sync       # the WTH bundle into the cache
//! ```
//!
//! Exit codes: 0 all valid, 1 something invalid, 2 usage or I/O error.
//!
//! Standards are found in this order: `--schema` / `WIS2_WNM_SCHEMA` (and
//! `--wth-dir` / `WIS2_WTH_DIR`), else the cache filled by `sync`
//! (`$WIS2_CACHE_DIR`, `$XDG_CACHE_HOME/wis2` or `~/.cache/wis2`), else the built-in
//! rules only.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use wis2_bus::cli::Exit;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wis2::report::{Finding, Report, TestResult};
use wis2::topic::{Mode, TopicTables};
use wis2::validate::{Validator, ValidatorOptions, ids};

/// Official address of the bundled WNM schema.
pub const WNM_SCHEMA_URL: &str = "https://raw.githubusercontent.com/wmo-im/wis2-notification-message/main/schemas/wis2-notification-message-bundled.json";
/// Official address of the WTH bundle (a zip of the level CSVs).
pub const WTH_BUNDLE_URL: &str = "https://wmo-im.github.io/wis2-topic-hierarchy/wth-bundle.zip";
/// File name of the schema in the cache.
pub const SCHEMA_FILE: &str = "wis2-notification-message-bundled.json";
/// Folder of the WTH tables in the cache.
pub const WTH_FOLDER: &str = "wth";

/// The CSV tables `TopicTables::load_dir` needs.
const WTH_TABLES: [&str; 7] = [
    "channel.csv",
    "version.csv",
    "system.csv",
    "centre-id.csv",
    "notification-type.csv",
    "data-policy.csv",
    "earth-system-discipline.csv",
];

/// Largest download accepted (the schema is ~20 kB, the bundle ~50 kB).
const MAX_DOWNLOAD: u64 = 32 * 1024 * 1024;

/// Exit codes.
pub const EXIT_VALID: Exit = Exit::Done;
pub const EXIT_INVALID: Exit = Exit::Refused;
pub const EXIT_ERROR: Exit = Exit::Failed;

/// Where the standards come from (shared by the one-shot commands and the service).
#[derive(Debug, Clone, Default, Args)]
pub struct StandardsArgs {
    /// Bundled WNM JSON Schema to validate against (default: the copy cached by
    /// `schema sync`, else built-in rules only).
    #[arg(long = "schema", env = "WIS2_WNM_SCHEMA")]
    pub schema: Option<PathBuf>,
    /// Directory of the WIS2 Topic Hierarchy CSV tables (default: the copy cached by
    /// `topic sync`, else built-in rules only).
    #[arg(long = "wth-dir", env = "WIS2_WTH_DIR")]
    pub wth_dir: Option<PathBuf>,
}

/// The cache directory: `$WIS2_CACHE_DIR`, `$XDG_CACHE_HOME/wis2` or `~/.cache/wis2`.
pub fn cache_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("WIS2_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("wis2")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("wis2")))
}

/// The cached schema, when `schema sync` has run.
pub fn cached_schema() -> Option<PathBuf> {
    cache_dir()
        .map(|d| d.join(SCHEMA_FILE))
        .filter(|p| p.is_file())
}

/// The cached WTH tables, when `topic sync` has run.
pub fn cached_wth_dir() -> Option<PathBuf> {
    cache_dir()
        .map(|d| d.join(WTH_FOLDER))
        .filter(|p| p.join("centre-id.csv").is_file())
}

impl StandardsArgs {
    /// Resolves the options: explicit (flag or env), else cache, else none.
    pub fn resolve(&self) -> ValidatorOptions {
        ValidatorOptions {
            schema: self.schema.clone().or_else(cached_schema),
            wth_dir: self.wth_dir.clone().or_else(cached_wth_dir),
        }
    }
}

/// Builds the validator the standards arguments point to.
pub fn load_validator(args: &StandardsArgs) -> anyhow::Result<Validator> {
    let opts = args.resolve();
    let v = Validator::new(&opts).context("cannot set up the validator")?;
    match &opts.schema {
        Some(p) => tracing::debug!(schema = %p.display(), "WNM schema loaded"),
        None => tracing::info!(
            "no WNM schema: built-in structural check only (run `wis2-validate schema sync` or pass --schema)"
        ),
    }
    match &opts.wth_dir {
        Some(p) => tracing::debug!(wth = %p.display(), "WTH tables loaded"),
        None => tracing::info!(
            "no WTH tables: built-in topic rules only (run `wis2-validate topic sync` or pass --wth-dir)"
        ),
    }
    Ok(v)
}

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
    Verify(crate::verify::VerifyArgs),
}

/// Runs a one-shot command; returns the exit code.
pub fn execute(cmd: Command) -> Exit {
    match cmd {
        Command::Message(a) => message(&a),
        Command::Topic(a) => topic(&a),
        Command::Schema(a) => schema(&a),
        Command::Verify(a) => verify(&a),
    }
}

/// `verify FILE...`: 0 all verified, 1 any mismatch or failed download, 2 I/O or
/// usage error on a local file.
pub fn verify(args: &crate::verify::VerifyArgs) -> Exit {
    let agent = crate::verify::agent(std::time::Duration::from_secs(args.timeout_secs.max(1)));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut code = EXIT_VALID;
    let mut io_error = false;
    for path in &args.files {
        let name = path.display().to_string();
        let value = match read_input(path).and_then(|raw| {
            serde_json::from_slice::<serde_json::Value>(&raw).with_context(|| {
                format!("{name} is not JSON (check it with `wis2-validate message`)")
            })
        }) {
            Ok(v) => v,
            Err(e) => {
                print_error(&e);
                io_error = true;
                continue;
            }
        };
        let messages = crate::verify::messages_of(&name, value);
        if messages.is_empty() {
            print_error(&anyhow::anyhow!(
                "{name}: a FeatureCollection without features"
            ));
            io_error = true;
        }
        for (subject, m) in messages {
            let mut r = crate::verify::verify_message(&m, &agent, args.max_bytes);
            r.ets_report.subject = Some(subject);
            if !r.is_valid() {
                code = EXIT_INVALID;
            }
            if emit(&r, args.json, &mut out).is_err() {
                return EXIT_ERROR;
            }
        }
    }
    if io_error { EXIT_ERROR } else { code }
}

/// `message FILE... [--json] [--topic T]`
#[derive(Debug, Clone, Args)]
pub struct MessageArgs {
    /// Message files (JSON); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the reports as JSON (one `ets-report` document per line).
    #[arg(long)]
    pub json: bool,
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
    /// Cache directory (default: $WIS2_CACHE_DIR, $XDG_CACHE_HOME/wis2, ~/.cache/wis2).
    #[arg(long = "cache-dir")]
    pub cache_dir: Option<PathBuf>,
}

fn print_error(e: &anyhow::Error) {
    eprintln!("wis2-validate: error: {e:#}");
}

fn emit(report: &Report, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    if json {
        writeln!(out, "{}", report.to_json())
    } else {
        write!(out, "{}", report.to_human())
    }
}

fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read standard input")?;
        Ok(buf)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

/// Reports for one file: a message, or each feature of a FeatureCollection.
fn check_file(v: &Validator, name: &str, raw: &[u8], topic: Option<&str>) -> Vec<Report> {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(raw)
        && value.get("type").and_then(|t| t.as_str()) == Some("FeatureCollection")
    {
        let features = value
            .get("features")
            .and_then(|f| f.as_array())
            .cloned()
            .unwrap_or_default();
        if features.is_empty() {
            let r = Report::new(
                Some(name.to_string()),
                vec![TestResult::from_errors(
                    ids::VALIDATION,
                    vec![
                        Finding::new("/features", "a FeatureCollection without features")
                            .with_fix("give one WNM (a GeoJSON Feature) per file"),
                    ],
                )],
                Vec::new(),
            );
            return vec![r];
        }
        return features
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut r = v.check_value(f, topic);
                r.ets_report.subject = Some(format!("{name}#/features/{i}"));
                r
            })
            .collect();
    }
    let mut r = v.check_message(raw, topic);
    r.ets_report.subject = Some(name.to_string());
    vec![r]
}

/// `message FILE...`: 0 all valid, 1 any invalid, 2 I/O or setup error.
pub fn message(args: &MessageArgs) -> Exit {
    let v = match load_validator(&args.standards) {
        Ok(v) => v,
        Err(e) => {
            print_error(&e);
            return EXIT_ERROR;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut code = EXIT_VALID;
    let mut io_error = false;
    for path in &args.files {
        let raw = match read_input(path) {
            Ok(raw) => raw,
            Err(e) => {
                print_error(&e);
                io_error = true;
                continue;
            }
        };
        let name = path.display().to_string();
        for r in check_file(&v, &name, &raw, args.topic.as_deref()) {
            if !r.is_valid() {
                code = EXIT_INVALID;
            }
            if emit(&r, args.json, &mut out).is_err() {
                return EXIT_ERROR;
            }
        }
    }
    if io_error { EXIT_ERROR } else { code }
}

/// `topic TOPIC...` (or `topic sync`).
pub fn topic(args: &TopicArgs) -> Exit {
    if let Some(SyncCommand::Sync(s)) = &args.sync {
        return match sync_wth(s) {
            Ok(dir) => {
                println!("WTH tables synced into {}", dir.display());
                EXIT_VALID
            }
            Err(e) => {
                print_error(&e);
                EXIT_ERROR
            }
        };
    }
    let v = match load_validator(&args.standards) {
        Ok(v) => v,
        Err(e) => {
            print_error(&e);
            return EXIT_ERROR;
        }
    };
    let mode = if args.subscribe {
        Mode::Subscribe
    } else {
        Mode::Publish
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut code = EXIT_VALID;
    for t in &args.topics {
        let r = v.check_topic(t, mode);
        if !r.is_valid() {
            code = EXIT_INVALID;
        }
        if emit(&r, args.json, &mut out).is_err() {
            return EXIT_ERROR;
        }
    }
    code
}

/// `schema sync`.
pub fn schema(args: &SchemaArgs) -> Exit {
    let SyncCommand::Sync(s) = &args.command;
    match sync_schema(s) {
        Ok(p) => {
            println!("WNM schema synced into {}", p.display());
            EXIT_VALID
        }
        Err(e) => {
            print_error(&e);
            EXIT_ERROR
        }
    }
}

fn target_cache(args: &SyncArgs) -> anyhow::Result<PathBuf> {
    let dir = match args.cache_dir.clone().or_else(cache_dir) {
        Some(d) => d,
        None => bail!("no cache directory: set WIS2_CACHE_DIR (or HOME) or pass --cache-dir"),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the cache directory {}", dir.display()))?;
    Ok(dir)
}

fn download(url: &str) -> anyhow::Result<Vec<u8>> {
    let mut resp = ureq::get(url)
        .call()
        .with_context(|| format!("cannot download {url}"))?;
    resp.body_mut()
        .with_config()
        .limit(MAX_DOWNLOAD)
        .read_to_vec()
        .with_context(|| format!("cannot read the body of {url}"))
}

/// Downloads the WNM schema, checks that it compiles, and puts it in the cache.
pub fn sync_schema(args: &SyncArgs) -> anyhow::Result<PathBuf> {
    let dir = target_cache(args)?;
    let url = args.url.as_deref().unwrap_or(WNM_SCHEMA_URL);
    let body = download(url)?;
    let tmp = dir.join(format!(".{SCHEMA_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, &body).with_context(|| format!("cannot write {}", tmp.display()))?;
    // Only a schema that compiles replaces the cached one.
    if let Err(e) = Validator::new(&ValidatorOptions {
        schema: Some(tmp.clone()),
        wth_dir: None,
    }) {
        let _ = std::fs::remove_file(&tmp);
        return Err(anyhow::Error::new(e).context(format!("{url} is not a usable WNM schema")));
    }
    let dest = dir.join(SCHEMA_FILE);
    std::fs::rename(&tmp, &dest)
        .with_context(|| format!("cannot move the schema into {}", dest.display()))?;
    Ok(dest)
}

/// Downloads the WTH bundle, extracts its CSV tables, checks that they load, and
/// puts them in the cache.
pub fn sync_wth(args: &SyncArgs) -> anyhow::Result<PathBuf> {
    let dir = target_cache(args)?;
    let url = args.url.as_deref().unwrap_or(WTH_BUNDLE_URL);
    let body = download(url)?;
    let staging = dir.join(format!(".{WTH_FOLDER}.{}.tmp", std::process::id()));
    let result = extract_tables(&body, &staging).and_then(|()| {
        TopicTables::load_dir(&staging)
            .map(|_| ())
            .with_context(|| format!("{url} does not hold usable WTH tables"))
    });
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let dest = dir.join(WTH_FOLDER);
    if dest.exists() {
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("cannot replace {}", dest.display()))?;
    }
    std::fs::rename(&staging, &dest)
        .with_context(|| format!("cannot move the WTH tables into {}", dest.display()))?;
    Ok(dest)
}

/// Writes the bundle's level CSVs (wherever they sit in the zip) into `dest`.
fn extract_tables(zip_bytes: &[u8], dest: &Path) -> anyhow::Result<()> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
        .context("the WTH bundle is not a zip archive")?;
    if dest.exists() {
        std::fs::remove_dir_all(dest)?;
    }
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut found = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .context("unreadable entry in the WTH bundle")?;
        if !entry.is_file() {
            continue;
        }
        // Only the file name is used: nothing is written outside `dest`.
        let Some(name) = Path::new(entry.name())
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if !WTH_TABLES.contains(&name.as_str()) || found.contains(&name) {
            continue;
        }
        let mut buf = Vec::new();
        entry
            .by_ref()
            .take(MAX_DOWNLOAD)
            .read_to_end(&mut buf)
            .with_context(|| format!("cannot extract {name}"))?;
        std::fs::write(dest.join(&name), &buf)
            .with_context(|| format!("cannot write {}", dest.join(&name).display()))?;
        found.push(name);
    }
    let missing: Vec<&str> = WTH_TABLES
        .iter()
        .copied()
        .filter(|t| !found.iter().any(|f| f == t))
        .collect();
    if !missing.is_empty() {
        bail!("the WTH bundle lacks {}", missing.join(", "));
    }
    Ok(())
}
