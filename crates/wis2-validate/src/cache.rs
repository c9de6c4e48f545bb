//! The cache of downloaded standards: where it is (`--cache-dir` / `WIS2_CACHE_DIR`,
//! else the user's cache directory), how it is laid out, and what the `sync`
//! commands have put in it.
//!
//! ```text
//! <cache>/wis2-notification-message-bundled.json    schema sync
//! <cache>/wis2-notification-message-infcom4-draft.json
//!                                                   schema sync --profile infcom4-draft
//! <cache>/wth/*.csv                                 topic sync
//! <cache>/wcmp2/wcmp2-bundled.json                  metadata sync
//! <cache>/wcmp2/codelists/*.csv                     metadata sync
//! ```

use std::path::{Path, PathBuf};

use clap::Args;
use clap::builder::{OsStringValueParser, TypedValueParser};
use wis2::validate::{Profile, ValidatorOptions};
use wis2::wcmp2::Wcmp2Options;
use wis2::wcmp2::codelists::CODELIST_FILES;

/// File name of the WNM schema in the cache.
pub const SCHEMA_FILE: &str = "wis2-notification-message-bundled.json";
/// File name of the INFCOM-4 draft's WNM schema in the cache.
pub const DRAFT_SCHEMA_FILE: &str = "wis2-notification-message-infcom4-draft.json";

/// File name in the cache of the WNM schema of `profile`.
pub fn schema_file(profile: Profile) -> &'static str {
    match profile {
        Profile::Wnm13 => SCHEMA_FILE,
        Profile::Infcom4Draft => DRAFT_SCHEMA_FILE,
    }
}
/// Folder of the WTH tables in the cache.
pub const WTH_FOLDER: &str = "wth";
/// Folder of the WCMP2 documents in the cache.
pub const WCMP2_FOLDER: &str = "wcmp2";
/// File name of the schema in the WCMP2 folder.
pub const WCMP2_SCHEMA_FILE: &str = "wcmp2-bundled.json";
/// Folder of the code lists in the WCMP2 folder.
pub const CODELISTS_FOLDER: &str = "codelists";

/// Where the cache is: flattened into every command that reads or fills it.
#[derive(Debug, Clone, Default, Args)]
pub struct CacheArgs {
    /// Folder of the standards downloaded by `sync` (default: $XDG_CACHE_HOME/wis2,
    /// else ~/.cache/wis2).
    // An empty WIS2_CACHE_DIR means "not set" (as compose files often pass it), so
    // the path parser, which refuses empty values, is not used.
    #[arg(
        long,
        env = "WIS2_CACHE_DIR",
        value_name = "DIR",
        value_parser = OsStringValueParser::new().map(PathBuf::from)
    )]
    pub cache_dir: Option<PathBuf>,
}

impl CacheArgs {
    /// The cache: the flag or its variable, else the user's cache directory + `wis2`
    /// (`$XDG_CACHE_HOME/wis2` or `~/.cache/wis2` on Linux), else none (no home).
    pub fn cache(&self) -> Cache {
        let dir = self
            .cache_dir
            .clone()
            .filter(|d| !d.as_os_str().is_empty())
            .or_else(|| directories::BaseDirs::new().map(|b| b.cache_dir().join("wis2")));
        Cache { dir }
    }
}

/// The cache folder, when one is known, and what `sync` has put in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    dir: Option<PathBuf>,
}

impl Cache {
    /// The cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache {
            dir: Some(dir.into()),
        }
    }

    /// The folder a `sync` fills; an error when no cache directory is known.
    pub fn dir(&self) -> anyhow::Result<&Path> {
        self.dir.as_deref().ok_or_else(|| {
            anyhow::anyhow!("no cache directory: set WIS2_CACHE_DIR (or HOME) or pass --cache-dir")
        })
    }

    /// The cached WNM schema of `profile`, when `schema sync` has run for it.
    pub fn wnm_schema(&self, profile: Profile) -> Option<PathBuf> {
        self.existing(|d| d.join(schema_file(profile)), |p| p.is_file())
    }

    /// The cached WTH tables, when `topic sync` has run.
    pub fn wth_dir(&self) -> Option<PathBuf> {
        self.existing(
            |d| d.join(WTH_FOLDER),
            |p| p.join("centre-id.csv").is_file(),
        )
    }

    /// The cached WCMP2 schema, when `metadata sync` has run.
    pub fn wcmp2_schema(&self) -> Option<PathBuf> {
        self.existing(
            |d| d.join(WCMP2_FOLDER).join(WCMP2_SCHEMA_FILE),
            |p| p.is_file(),
        )
    }

    /// The cached WCMP2 code lists, when `metadata sync` has run.
    pub fn codelists_dir(&self) -> Option<PathBuf> {
        self.existing(
            |d| d.join(WCMP2_FOLDER).join(CODELISTS_FOLDER),
            |p| CODELIST_FILES.iter().all(|f| p.join(f).is_file()),
        )
    }

    /// The validator's standards: each one given, else the cached one.
    pub fn fill_wnm(&self, mut given: ValidatorOptions) -> ValidatorOptions {
        given.schema = given.schema.or_else(|| self.wnm_schema(given.profile));
        given.wth_dir = given.wth_dir.or_else(|| self.wth_dir());
        given
    }

    /// The WCMP2 checker's standards: each one given, else the cached one.
    pub fn fill_wcmp2(&self, mut given: Wcmp2Options) -> Wcmp2Options {
        given.schema = given.schema.or_else(|| self.wcmp2_schema());
        given.codelists_dir = given.codelists_dir.or_else(|| self.codelists_dir());
        given.wth_dir = given.wth_dir.or_else(|| self.wth_dir());
        given
    }

    fn existing(
        &self,
        place: impl FnOnce(&Path) -> PathBuf,
        synced: impl FnOnce(&Path) -> bool,
    ) -> Option<PathBuf> {
        self.dir
            .as_deref()
            .map(place)
            .filter(|p| synced(p.as_path()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        cache: CacheArgs,
    }

    const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared");

    #[test]
    fn the_flag_wins_else_the_user_cache_directory() {
        let flag = Cli::try_parse_from(["t", "--cache-dir", "/tmp/c"]).expect("flag");
        assert_eq!(flag.cache.cache(), Cache::new("/tmp/c"));
        let empty = CacheArgs {
            cache_dir: Some(PathBuf::new()),
        };
        let user = directories::BaseDirs::new().map(|b| b.cache_dir().join("wis2"));
        assert_eq!(empty.cache(), Cache { dir: user });
    }

    #[test]
    fn only_what_sync_completed_is_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = Cache::new(dir.path());
        assert_eq!(cache.wnm_schema(Profile::Wnm13), None);
        assert_eq!(cache.wth_dir(), None);
        std::fs::create_dir_all(dir.path().join(WTH_FOLDER)).expect("wth");
        assert_eq!(
            cache.wth_dir(),
            None,
            "an empty wth folder is not the tables"
        );
        std::fs::write(dir.path().join(SCHEMA_FILE), "{}").expect("schema");
        assert_eq!(
            cache.wnm_schema(Profile::Wnm13),
            Some(dir.path().join(SCHEMA_FILE))
        );
        assert_eq!(
            cache.wnm_schema(Profile::Infcom4Draft),
            None,
            "the draft's schema is its own file"
        );
        let given = PathBuf::from(SHARED).join("standards/wth");
        let opts = cache.fill_wnm(ValidatorOptions {
            schema: None,
            wth_dir: Some(given.clone()),
            profile: Profile::Wnm13,
        });
        assert_eq!(opts.schema, Some(dir.path().join(SCHEMA_FILE)));
        assert_eq!(opts.wth_dir, Some(given));
        assert!(Cache { dir: None }.dir().is_err());
    }
}
