//! `wis2-validate metadata`: check WCMP2 discovery metadata records once, and sync
//! the WCMP2 schema and code lists.
//!
//! ```text
//! wis2-validate metadata FILE... [--json] [--schema F] [--codelists D] [--wth-dir D]
//! wis2-validate metadata sync [--cache-dir D]   # schema + code lists into the cache
//! ```
//!
//! Exit codes ([`wis2_bus::cli`]): 0 all valid, 1 any record invalid, 2 usage or I/O
//! error.
//!
//! Standards are found in this order: the flag or its environment variable
//! (`WIS2_WCMP2_SCHEMA`, `WIS2_WCMP2_CODELISTS`, `WIS2_WTH_DIR`), else the cache
//! ([`crate::cache`]) filled by `metadata sync` (and `topic sync` for the WTH
//! tables), else the built-in rules (the schema test is then SKIPPED, with the
//! reason).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use wis2::wcmp2::codelists::{CODELIST_FILES, CodeLists};
use wis2::wcmp2::{Wcmp2Checker, Wcmp2Options};
use wis2_bus::cli::Exit;

use crate::cache::{CODELISTS_FOLDER, CacheArgs, WCMP2_FOLDER, WCMP2_SCHEMA_FILE};
use crate::files::{self, FileArgs};
use crate::output::Reports;
use crate::standards::Wcmp2Args;
use crate::sync::{self, Part, ZipFiles};

/// Official address of the bundled WCMP2 schema.
pub const WCMP2_SCHEMA_URL: &str =
    "https://raw.githubusercontent.com/wmo-im/wcmp2/main/schemas/wcmp2-bundled.json";
/// Official address of the WCMP2 code lists (a zip of the repository).
pub const WCMP2_CODELISTS_URL: &str =
    "https://github.com/wmo-im/wcmp2-codelists/archive/refs/heads/main.zip";

/// The code lists in the repository zip: its `codelists/` folder, wherever it sits.
const CODELISTS_IN_ZIP: ZipFiles<'static> = ZipFiles {
    archive: "the code lists zip",
    folder: Some(CODELISTS_FOLDER),
    names: &CODELIST_FILES,
    tree: None,
};

/// `metadata FILE... [--json]`, or `metadata sync`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(mut_arg("files", |a| a.help("WCMP2 record files to check (`-` for standard input)")))]
#[command(mut_arg("wcmp2_schema", |a| a.long("schema").value_name("SCHEMA")))]
#[command(mut_arg("wcmp2_codelists", |a| a.long("codelists").value_name("CODELISTS")))]
pub struct MetadataArgs {
    #[command(subcommand)]
    pub command: Option<MetadataCommand>,
    #[command(flatten)]
    pub input: FileArgs,
    #[command(flatten)]
    pub wcmp2: Wcmp2Args,
    /// Directory of the WIS2 Topic Hierarchy CSV tables (default: the copy cached by
    /// `topic sync`, else built-in topic rules).
    #[arg(long, env = "WIS2_WTH_DIR")]
    pub wth_dir: Option<PathBuf>,
    /// Fail (instead of warn) when a dataset has no MQTT link with a channel.
    #[arg(long)]
    pub require_mqtt_link: bool,
    #[command(flatten)]
    pub cache: CacheArgs,
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
    #[command(flatten)]
    pub cache: CacheArgs,
}

impl MetadataArgs {
    /// Resolves the options: explicit (flag or env), else cache, else built-in.
    pub fn resolve(&self) -> Wcmp2Options {
        self.wcmp2
            .resolve(self.wth_dir.clone(), &self.cache.cache())
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

/// Runs `metadata`; its outcome, or the setup error that stopped it.
pub fn execute(args: MetadataArgs) -> anyhow::Result<Exit> {
    if let Some(MetadataCommand::Sync(s)) = &args.command {
        let dir = sync(s)?;
        println!("WCMP2 schema and code lists synced into {}", dir.display());
        return Ok(Exit::Done);
    }
    if args.input.files.is_empty() {
        bail!("metadata needs at least one FILE (or `metadata sync`)");
    }
    let checker = load_checker(&args)?;
    let FileArgs { files, json } = &args.input;
    Ok(check_files(
        &checker,
        files,
        *json,
        &mut std::io::stdout().lock(),
    ))
}

/// Checks each file and writes its report; returns the exit code.
pub fn check_files(
    checker: &Wcmp2Checker,
    files: &[PathBuf],
    json: bool,
    out: &mut impl Write,
) -> Exit {
    let checked = files::checked(files, |name, raw| {
        let mut r = checker.check_record(raw);
        r.ets_report.subject = Some(name.to_string());
        Ok([r])
    });
    Reports::new(out, json).print_all(checked)
}

/// Downloads the WCMP2 schema and code lists, checks that they load, and puts them
/// in `<cache>/wcmp2/` (`wcmp2-bundled.json`, `codelists/*.csv`). Returns that
/// folder.
pub fn sync(args: &MetadataSyncArgs) -> anyhow::Result<PathBuf> {
    let cache = args.cache.cache();
    let base = cache.dir()?;
    let schema_url = args.schema_url.as_deref().unwrap_or(WCMP2_SCHEMA_URL);
    let codelists_url = args.codelists_url.as_deref().unwrap_or(WCMP2_CODELISTS_URL);
    let schema = sync::download(schema_url)?;
    let zip = sync::download(codelists_url)?;
    install(base, &schema, &zip).with_context(|| format!("from {schema_url} and {codelists_url}"))
}

/// Installs a downloaded schema and code lists zip into `<base>/wcmp2/`, only when
/// both are usable (the schema compiles, the four code lists load).
pub fn install(base: &Path, schema: &[u8], codelists_zip: &[u8]) -> anyhow::Result<PathBuf> {
    let dir = base.join(WCMP2_FOLDER);
    let parts = [
        Part {
            name: WCMP2_SCHEMA_FILE,
            bytes: schema,
            unzip: None,
        },
        Part {
            name: CODELISTS_FOLDER,
            bytes: codelists_zip,
            unzip: Some(CODELISTS_IN_ZIP),
        },
    ];
    sync::install(&dir, &parts, |staged| {
        Wcmp2Checker::new(&Wcmp2Options {
            schema: Some(staged.join(WCMP2_SCHEMA_FILE)),
            ..Default::default()
        })
        .context("the downloaded WCMP2 schema is not usable")?;
        CodeLists::load_dir(&staged.join(CODELISTS_FOLDER))
            .context("the downloaded WCMP2 code lists are not usable")?;
        Ok(())
    })?;
    Ok(dir)
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
        assert_eq!(a.input.files.len(), 2);
        assert!(a.input.json && a.command.is_none());
        assert_eq!(a.wcmp2.wcmp2_codelists, Some(PathBuf::from("/x")));
        let s = parse(&["sync", "--cache-dir", "/tmp/c"]).expect("sync");
        assert!(
            matches!(s.command, Some(MetadataCommand::Sync(ref x)) if x.cache.cache_dir == Some(PathBuf::from("/tmp/c")))
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
            Exit::Done
        );
        assert_eq!(
            check_files(&c, &[good.clone(), bad.clone()], true, &mut out),
            Exit::Refused
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
            Exit::Failed
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
