//! Where the checks find their standards, for the one-shot commands and the service
//! alike: the flag or its environment variable, else the copy a `sync` put in the
//! [`crate::cache`], else the built-in rules only.
//!
//! - WNM ([`StandardsArgs`]): `--schema` / `WIS2_WNM_SCHEMA`, `--wth-dir` /
//!   `WIS2_WTH_DIR`; cached by `schema sync` and `topic sync`.
//! - WCMP2 ([`Wcmp2Args`]): `--wcmp2-schema` / `WIS2_WCMP2_SCHEMA`,
//!   `--wcmp2-codelists` / `WIS2_WCMP2_CODELISTS` (`--schema` and `--codelists` in
//!   the `metadata` command); cached by `metadata sync`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use wis2::validate::{Profile, Validator, ValidatorOptions};
use wis2::wcmp2::Wcmp2Options;

use crate::cache::{Cache, CacheArgs};

/// Where the standards come from (shared by the one-shot commands and the service).
#[derive(Debug, Clone, Default, Args)]
pub struct StandardsArgs {
    /// Bundled WNM JSON Schema to validate against (default: the copy cached by
    /// `schema sync`, else built-in rules only).
    #[arg(long, env = "WIS2_WNM_SCHEMA")]
    pub schema: Option<PathBuf>,
    /// Directory of the WIS2 Topic Hierarchy CSV tables (default: the copy cached by
    /// `topic sync`, else built-in rules only).
    #[arg(long, env = "WIS2_WTH_DIR")]
    pub wth_dir: Option<PathBuf>,
    /// Edition of the WNM standard: 1.3.0 (in force) or infcom4-draft (the 1.4.0
    /// draft for INFCOM-4: metadata_id and integrity required, no version); the
    /// cached schema is that edition's (`schema sync --profile ...`).
    #[arg(long, env = "WIS2_WNM_PROFILE", default_value = "1.3.0")]
    pub profile: Profile,
    #[command(flatten)]
    pub cache: CacheArgs,
}

impl StandardsArgs {
    /// Resolves the options: explicit (flag or env), else cache, else none.
    pub fn resolve(&self) -> ValidatorOptions {
        self.cache.cache().fill_wnm(ValidatorOptions {
            schema: self.schema.clone(),
            wth_dir: self.wth_dir.clone(),
            profile: self.profile,
        })
    }
}

/// Where the WCMP2 documents come from (the service's flags; the `metadata` command,
/// where no other schema is read, calls them `--schema` and `--codelists`).
#[derive(Debug, Clone, Default, Args)]
pub struct Wcmp2Args {
    /// Bundled WCMP2 JSON Schema of the records (default: the copy cached by
    /// `metadata sync`, else built-in rules only).
    #[arg(long, env = "WIS2_WCMP2_SCHEMA")]
    pub wcmp2_schema: Option<PathBuf>,
    /// Directory of the WCMP2 code list CSVs (default: the copy cached by
    /// `metadata sync`, else the built-in lists).
    #[arg(long, env = "WIS2_WCMP2_CODELISTS")]
    pub wcmp2_codelists: Option<PathBuf>,
}

impl Wcmp2Args {
    /// Resolves the options, with the WTH tables given: explicit (flag or env), else
    /// cache, else built-in.
    pub fn resolve(&self, wth_dir: Option<PathBuf>, cache: &Cache) -> Wcmp2Options {
        cache.fill_wcmp2(Wcmp2Options {
            schema: self.wcmp2_schema.clone(),
            codelists_dir: self.wcmp2_codelists.clone(),
            wth_dir,
        })
    }
}

/// Builds the validator the standards arguments point to.
pub fn load_validator(args: &StandardsArgs) -> anyhow::Result<Validator> {
    let opts = args.resolve();
    let v = Validator::new(&opts).context("cannot set up the validator")?;
    match &opts.schema {
        Some(p) => {
            tracing::debug!(schema = %p.display(), profile = %opts.profile, "WNM schema loaded")
        }
        None => tracing::info!(
            profile = %opts.profile,
            "no WNM schema: built-in structural check only (run `wis2-validate schema sync --profile {}` or pass --schema)",
            opts.profile
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
