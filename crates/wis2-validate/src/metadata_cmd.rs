//! `wis2-validate metadata`: check WCMP2 discovery metadata records once, and sync
//! the WCMP2 schema and code lists.
//!
//! ```text
//! wis2-validate metadata FILE... [--json] [--schema F] [--codelists D] [--wth-dir D]
//! wis2-validate metadata sync [--cache-dir D]   # schema + code lists into the cache
//! ```
//!
//! Exit codes: 0 all valid, 1 any record invalid, 2 usage or I/O error.
//!
//! Standards are found in this order: the flag or its environment variable
//! (`WIS2_WCMP2_SCHEMA`, `WIS2_WCMP2_CODELISTS`, `WIS2_WTH_DIR`), else the cache
//! filled by `metadata sync` (and `topic sync` for the WTH tables) under
//! `$WIS2_CACHE_DIR`, `$XDG_CACHE_HOME/wis2` or `~/.cache/wis2`, else the built-in
//! rules (the schema test is then SKIPPED, with the reason).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use wis2_bus::cli::Exit;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wis2::report::Report;
use wis2::wcmp2::codelists::{CODELIST_FILES, CodeLists};
use wis2::wcmp2::{Wcmp2Checker, Wcmp2Options};

use crate::oneshot::{EXIT_ERROR, EXIT_INVALID, EXIT_VALID, cache_dir, cached_wth_dir};

/// Official address of the bundled WCMP2 schema.
pub const WCMP2_SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/wmo-im/wcmp2/main/schemas/wcmp2-bundled.json";
/// Official address of the WCMP2 code lists (a zip of the repository).
pub const WCMP2_CODELISTS_URL: &str =
    "https://github.com/wmo-im/wcmp2-codelists/archive/refs/heads/main.zip";
/// Folder of the WCMP2 documents in the cache.
pub const WCMP2_FOLDER: &str = "wcmp2";
/// File name of the schema in the cache folder.
pub const WCMP2_SCHEMA_FILE: &str = "wcmp2-bundled.json";
/// Folder of the code lists in the cache folder.
pub const CODELISTS_FOLDER: &str = "codelists";

/// Largest download accepted (the schema is ~60 kB, the code lists zip < 1 MB).
const MAX_DOWNLOAD: u64 = 32 * 1024 * 1024;

/// `metadata FILE... [--json]`, or `metadata sync`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct MetadataArgs {
    #[command(subcommand)]
    pub command: Option<MetadataCommand>,
    /// WCMP2 record files to check (`-` for standard input).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the reports as JSON (one `ets-report` document per line).
    #[arg(long)]
    pub json: bool,
    /// Bundled WCMP2 JSON Schema (default: the copy cached by `metadata sync`, else
    /// built-in rules only).
    #[arg(long = "schema", env = "WIS2_WCMP2_SCHEMA")]
    pub schema: Option<PathBuf>,
    /// Directory of the WCMP2 code list CSVs (default: the copy cached by
    /// `metadata sync`, else the built-in lists).
    #[arg(long = "codelists", env = "WIS2_WCMP2_CODELISTS")]
    pub codelists: Option<PathBuf>,
    /// Directory of the WIS2 Topic Hierarchy CSV tables (default: the copy cached by
    /// `topic sync`, else built-in topic rules).
    #[arg(long = "wth-dir", env = "WIS2_WTH_DIR")]
    pub wth_dir: Option<PathBuf>,
    /// Fail (instead of warn) when a dataset has no MQTT link with a channel.
    #[arg(long)]
    pub require_mqtt_link: bool,
}

/// The subcommand of `metadata`.
#[derive(Debug, Clone, Subcommand)]
pub enum MetadataCommand {
    /// Download the WCMP2 schema and code lists into the cache ($WIS2_CACHE_DIR,
    /// $XDG_CACHE_HOME/wis2 or ~/.cache/wis2, folder wcmp2/).
    Sync(MetadataSyncArgs),
}

/// Options of `metadata sync`.
#[derive(Debug, Clone, Args)]
pub struct MetadataSyncArgs {
    /// Download the schema from this address instead of the official one.
    #[arg(long)]
    pub schema_url: Option<String>,
    /// Download the code lists zip from this address instead of the official one.
    #[arg(long)]
    pub codelists_url: Option<String>,
    /// Cache directory (default: $WIS2_CACHE_DIR, $XDG_CACHE_HOME/wis2, ~/.cache/wis2).
    #[arg(long = "cache-dir")]
    pub cache_dir: Option<PathBuf>,
}

/// The cached schema, when `metadata sync` has run.
pub fn cached_wcmp2_schema() -> Option<PathBuf> {
    cache_dir()
        .map(|d| d.join(WCMP2_FOLDER).join(WCMP2_SCHEMA_FILE))
        .filter(|p| p.is_file())
}

/// The cached code lists, when `metadata sync` has run.
pub fn cached_codelists_dir() -> Option<PathBuf> {
    cache_dir()
        .map(|d| d.join(WCMP2_FOLDER).join(CODELISTS_FOLDER))
        .filter(|p| CODELIST_FILES.iter().all(|f| p.join(f).is_file()))
}

impl MetadataArgs {
    /// Resolves the options: explicit (flag or env), else cache, else built-in.
    pub fn resolve(&self) -> Wcmp2Options {
        Wcmp2Options {
            schema: self.schema.clone().or_else(cached_wcmp2_schema),
            codelists_dir: self.codelists.clone().or_else(cached_codelists_dir),
            wth_dir: self.wth_dir.clone().or_else(cached_wth_dir),
        }
    }
}

/// Builds the checker the arguments point to.
pub fn load_checker(args: &MetadataArgs) -> anyhow::Result<Wcmp2Checker> {
    let opts = args.resolve();
    let c = Wcmp2Checker::new(&opts)
        .context("cannot set up the WCMP2 checker")?
        .require_mqtt_link(args.require_mqtt_link);
    if opts.schema.is_none() {
        tracing::info!(
            "no WCMP2 schema: the validation test is skipped (run `wis2-validate metadata sync` or pass --schema)"
        );
    }
    if opts.codelists_dir.is_none() {
        tracing::info!(
            "no WCMP2 code lists: built-in lists (run `wis2-validate metadata sync` or pass --codelists)"
        );
    }
    if opts.wth_dir.is_none() {
        tracing::info!(
            "no WTH tables: centre-ids are not checked against the registry (run `wis2-validate topic sync` or pass --wth-dir)"
        );
    }
    Ok(c)
}

/// Runs `metadata`; returns the exit code.
pub fn execute(args: MetadataArgs) -> Exit {
    if let Some(MetadataCommand::Sync(s)) = &args.command {
        return match sync(s) {
            Ok(dir) => {
                println!("WCMP2 schema and code lists synced into {}", dir.display());
                EXIT_VALID
            }
            Err(e) => {
                print_error(&e);
                EXIT_ERROR
            }
        };
    }
    if args.files.is_empty() {
        eprintln!("wis2-validate: error: metadata needs at least one FILE (or `metadata sync`)");
        return EXIT_ERROR;
    }
    let checker = match load_checker(&args) {
        Ok(c) => c,
        Err(e) => {
            print_error(&e);
            return EXIT_ERROR;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    check_files(&checker, &args.files, args.json, &mut out)
}

/// Checks each file and writes its report; returns the exit code.
pub fn check_files(
    checker: &Wcmp2Checker,
    files: &[PathBuf],
    json: bool,
    out: &mut impl Write,
) -> Exit {
    let mut code = EXIT_VALID;
    let mut io_error = false;
    for path in files {
        let raw = match read_input(path) {
            Ok(raw) => raw,
            Err(e) => {
                print_error(&e);
                io_error = true;
                continue;
            }
        };
        let mut r = checker.check_record(&raw);
        r.ets_report.subject = Some(path.display().to_string());
        if !r.is_valid() {
            code = EXIT_INVALID;
        }
        if emit(&r, json, out).is_err() {
            return EXIT_ERROR;
        }
    }
    if io_error { EXIT_ERROR } else { code }
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

/// Downloads the WCMP2 schema and code lists, checks that they load, and puts them
/// in `<cache>/wcmp2/` (`wcmp2-bundled.json`, `codelists/*.csv`). Returns that
/// folder.
pub fn sync(args: &MetadataSyncArgs) -> anyhow::Result<PathBuf> {
    let base = match args.cache_dir.clone().or_else(cache_dir) {
        Some(d) => d,
        None => bail!("no cache directory: set WIS2_CACHE_DIR (or HOME) or pass --cache-dir"),
    };
    let schema_url = args.schema_url.as_deref().unwrap_or(WCMP2_SCHEMA_URL);
    let codelists_url = args.codelists_url.as_deref().unwrap_or(WCMP2_CODELISTS_URL);
    let schema = download(schema_url)?;
    let zip = download(codelists_url)?;
    install(&base, &schema, &zip).with_context(|| format!("from {schema_url} and {codelists_url}"))
}

/// Installs a downloaded schema and code lists zip into `<base>/wcmp2/`, only when
/// both are usable (the schema compiles, the four code lists load).
pub fn install(base: &Path, schema: &[u8], codelists_zip: &[u8]) -> anyhow::Result<PathBuf> {
    let dir = base.join(WCMP2_FOLDER);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the cache directory {}", dir.display()))?;
    let staging = dir.join(format!(".staging.{}", std::process::id()));
    let result = stage(&staging, schema, codelists_zip);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let dest_schema = dir.join(WCMP2_SCHEMA_FILE);
    std::fs::rename(staging.join(WCMP2_SCHEMA_FILE), &dest_schema)
        .with_context(|| format!("cannot move the schema into {}", dest_schema.display()))?;
    let dest_lists = dir.join(CODELISTS_FOLDER);
    if dest_lists.exists() {
        std::fs::remove_dir_all(&dest_lists)
            .with_context(|| format!("cannot replace {}", dest_lists.display()))?;
    }
    std::fs::rename(staging.join(CODELISTS_FOLDER), &dest_lists)
        .with_context(|| format!("cannot move the code lists into {}", dest_lists.display()))?;
    let _ = std::fs::remove_dir_all(&staging);
    Ok(dir)
}

fn stage(staging: &Path, schema: &[u8], codelists_zip: &[u8]) -> anyhow::Result<()> {
    if staging.exists() {
        std::fs::remove_dir_all(staging)?;
    }
    let lists = staging.join(CODELISTS_FOLDER);
    std::fs::create_dir_all(&lists)
        .with_context(|| format!("cannot create {}", lists.display()))?;
    let schema_path = staging.join(WCMP2_SCHEMA_FILE);
    std::fs::write(&schema_path, schema)
        .with_context(|| format!("cannot write {}", schema_path.display()))?;
    Wcmp2Checker::new(&Wcmp2Options {
        schema: Some(schema_path),
        ..Default::default()
    })
    .context("the downloaded WCMP2 schema is not usable")?;
    extract_codelists(codelists_zip, &lists)?;
    CodeLists::load_dir(&lists).context("the downloaded WCMP2 code lists are not usable")?;
    Ok(())
}

/// Writes the `codelists/*.csv` files of the repository zip (wherever the
/// `codelists/` folder sits) flat into `dest`.
fn extract_codelists(zip_bytes: &[u8], dest: &Path) -> anyhow::Result<()> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes))
        .context("the WCMP2 code lists download is not a zip archive")?;
    let mut found: Vec<String> = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .context("unreadable entry in the code lists zip")?;
        if !entry.is_file() {
            continue;
        }
        let path = PathBuf::from(entry.name());
        let in_codelists = path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|p| p == CODELISTS_FOLDER);
        // Only the file name is used: nothing is written outside `dest`.
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| n.ends_with(".csv"))
            .map(str::to_string)
        else {
            continue;
        };
        if !in_codelists || found.contains(&name) {
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
    let missing: Vec<&str> = CODELIST_FILES
        .iter()
        .copied()
        .filter(|f| !found.iter().any(|n| n == f))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the code lists zip lacks codelists/{}",
            missing.join(", codelists/")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Top,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Top {
        Metadata(MetadataArgs),
    }

    fn parse(args: &[&str]) -> Result<MetadataArgs, clap::Error> {
        let mut all = vec!["wis2-validate", "metadata"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|c| match c.cmd {
            Top::Metadata(m) => m,
        })
    }

    const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared");

    #[test]
    fn parses_files_and_sync() {
        let a = parse(&["a.json", "b.json", "--json", "--codelists", "/x"]).expect("files");
        assert_eq!(a.files.len(), 2);
        assert!(a.json && a.command.is_none());
        assert_eq!(a.codelists, Some(PathBuf::from("/x")));
        let s = parse(&["sync", "--cache-dir", "/tmp/c"]).expect("sync");
        assert!(
            matches!(s.command, Some(MetadataCommand::Sync(ref x)) if x.cache_dir == Some(PathBuf::from("/tmp/c")))
        );
        assert!(parse(&[]).is_err(), "FILE is required");
    }

    fn full_checker() -> Wcmp2Checker {
        Wcmp2Checker::new(&Wcmp2Options {
            schema: Some(PathBuf::from(SHARED).join("standards/wcmp2/wcmp2-bundled.json")),
            codelists_dir: Some(PathBuf::from(SHARED).join("standards/wcmp2/codelists")),
            wth_dir: Some(PathBuf::from(SHARED).join("standards/wth")),
        })
        .expect("standards")
    }

    #[test]
    fn exit_codes_and_json_lines() {
        let c = full_checker();
        let good = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/metadata/fr-ifremer-argo-core-metadata.json");
        let dir = tempfile_dir();
        let bad = dir.join("bad.json");
        let text = std::fs::read_to_string(&good).expect("record");
        std::fs::write(&bad, text.replace("\"core\"", "\"open\"")).expect("write");
        let mut out = Vec::new();
        assert_eq!(
            check_files(&c, std::slice::from_ref(&good), true, &mut out),
            EXIT_VALID
        );
        assert_eq!(
            check_files(&c, &[good.clone(), bad.clone()], true, &mut out),
            EXIT_INVALID
        );
        let lines: Vec<&str> = std::str::from_utf8(&out).expect("utf8").lines().collect();
        assert_eq!(lines.len(), 3);
        for l in &lines {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON report per line");
            assert!(v["ets-report"]["summary"].is_object());
        }
        let mut human = Vec::new();
        let missing = dir.join("missing.json");
        assert_eq!(
            check_files(&c, &[bad, missing], false, &mut human),
            EXIT_ERROR
        );
        assert!(String::from_utf8_lossy(&human).contains("INVALID"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "wis2-metadata-cmd-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .expect("zip entry");
            w.write_all(body).expect("zip write");
        }
        w.finish().expect("zip").into_inner()
    }

    #[test]
    fn install_flattens_codelists_and_checks_them() {
        let base = tempfile_dir();
        let schema =
            std::fs::read(PathBuf::from(SHARED).join("standards/wcmp2/wcmp2-bundled.json"))
                .expect("schema");
        let lists: Vec<(String, Vec<u8>)> = CODELIST_FILES
            .iter()
            .map(|f| {
                let body = std::fs::read(
                    PathBuf::from(SHARED)
                        .join("standards/wcmp2/codelists")
                        .join(f),
                )
                .expect("code list");
                (format!("wcmp2-codelists-main/codelists/{f}"), body)
            })
            .collect();
        let mut entries: Vec<(&str, Vec<u8>)> =
            lists.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
        entries.push(("wcmp2-codelists-main/README.md", b"readme".to_vec()));
        let dir = install(&base, &schema, &zip_of(&entries)).expect("install");
        assert!(dir.join(WCMP2_SCHEMA_FILE).is_file());
        for f in CODELIST_FILES {
            assert!(dir.join(CODELISTS_FOLDER).join(f).is_file(), "{f}");
        }
        // A broken schema or incomplete zip leaves the cache as it was.
        assert!(install(&base, b"{not json", &zip_of(&entries)).is_err());
        assert!(install(&base, &schema, &zip_of(&entries[..2])).is_err());
        assert!(dir.join(CODELISTS_FOLDER).join("link-type.csv").is_file());
        let _ = std::fs::remove_dir_all(&base);
    }
}
