//! A first start on an existing tree: which of the files already there are
//! announced (`WIS2_ANNOUNCE_EXISTING`), and the others recorded as known without
//! being announced, so that a data centre pointing the chain at its archive does not
//! send every historic file to the Global Brokers and the Global Caches.
//!
//! It applies to a first start only (the store has never finished one): after it,
//! every start announces what changed while the watcher was stopped. The discovery
//! metadata records are always announced (a dataset must be in the catalogue before
//! its data), and so is `WIS2_INPUT_FILE` (see the service's start). `wis2-watch
//! baseline` records a tree the same way without running the chain.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use wis2::path::RelPath;

use crate::notice::system_time_ns;
use crate::scan::{self, ScanError, ScanOptions};
use crate::store::{AnnounceStore, StoreError};
use crate::{RunArgs, WatchArgs};

/// Files recorded in one store transaction.
const BATCH: usize = 4096;

/// Which files already in the data directory a first start announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceExisting {
    /// None: they are recorded as known (the default).
    None,
    /// Every one.
    All,
    /// Those modified within this long before the start.
    ModifiedWithin(Duration),
}

/// The accepted forms, for the errors.
const FORMS: &str =
    "`none` (the default), `all`, or a duration such as `24h` or `7d` (files modified within it)";

impl FromStr for AnnounceExisting {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(AnnounceExisting::None),
            "all" => Ok(AnnounceExisting::All),
            other => match humantime::parse_duration(other) {
                Ok(d) if !d.is_zero() => Ok(AnnounceExisting::ModifiedWithin(d)),
                Ok(_) => Err(format!(
                    "WIS2_ANNOUNCE_EXISTING `{s}` is a zero duration: give {FORMS}"
                )),
                Err(e) => Err(format!(
                    "WIS2_ANNOUNCE_EXISTING `{s}` is not valid ({e}): give {FORMS}"
                )),
            },
        }
    }
}

impl std::fmt::Display for AnnounceExisting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnnounceExisting::None => f.write_str("none"),
            AnnounceExisting::All => f.write_str("all"),
            AnnounceExisting::ModifiedWithin(d) => {
                write!(f, "{}", humantime::format_duration(*d))
            }
        }
    }
}

/// Why recording the existing files failed.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What recording the existing files did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Files recorded as known without being announced.
    pub recorded: u64,
    /// Files the store knew already (left as they were).
    pub known: u64,
    /// Files left for the scanner to announce: discovery metadata records, files
    /// modified within the duration, files still being written.
    pub left: u64,
}

/// Records the files under `opts.data_dir` as known without announcing them, but for
/// the metadata records, `input` (`WIS2_INPUT_FILE`), the files modified after
/// `announce_since` (when given), and the files modified within `opts.settle`
/// (perhaps still being written: the scanner looks at them). Files the store knows
/// are left as they are.
pub fn record_existing(
    store: &AnnounceStore,
    opts: &ScanOptions,
    watch: &WatchArgs,
    input: Option<&RelPath>,
    announce_since: Option<SystemTime>,
) -> Result<Baseline, BaselineError> {
    let mut counts = Baseline::default();
    let settled = SystemTime::now()
        .checked_sub(opts.settle)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let cutoff = announce_since.map_or(settled, |t| t.min(settled));
    let mut batch: Vec<(RelPath, u64, i64)> = Vec::with_capacity(BATCH);
    let mut failed: Option<StoreError> = None;
    let mut flush = |batch: &mut Vec<(RelPath, u64, i64)>, counts: &mut Baseline| {
        if batch.is_empty() || failed.is_some() {
            return;
        }
        match store.baseline_many(batch) {
            Ok(n) => {
                counts.recorded += n as u64;
                counts.known += (batch.len() - n) as u64;
            }
            Err(e) => failed = Some(e),
        }
        batch.clear();
    };
    scan::existing_files(opts, store.path(), |rel, size, modified| {
        let recent = modified.is_none_or(|m| m >= cutoff);
        if watch.is_metadata(&rel) || recent || input == Some(&rel) {
            counts.left += 1;
            return;
        }
        let mtime = modified.map_or(0, system_time_ns);
        batch.push((rel, size, mtime));
        if batch.len() >= BATCH {
            flush(&mut batch, &mut counts);
        }
    })?;
    flush(&mut batch, &mut counts);
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(counts)
}

/// A first start: records the files already in the data directory as known, but for
/// those `WIS2_ANNOUNCE_EXISTING` announces, and says how many and how to publish
/// them. Interrupted, it goes on at the next start.
pub(crate) async fn first_start(
    store: &AnnounceStore,
    args: &RunArgs,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let mode = args.announce_existing;
    let since = match mode {
        AnnounceExisting::All => {
            store.set_first_start_done(true)?;
            tracing::info!(
                "first start: every file already in WIS2_DATA_DIR is announced (WIS2_ANNOUNCE_EXISTING=all)"
            );
            return Ok(());
        }
        AnnounceExisting::None => None,
        AnnounceExisting::ModifiedWithin(d) => Some(
            SystemTime::now()
                .checked_sub(d)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        ),
    };
    store.set_first_start_done(false)?;
    let started = std::time::Instant::now();
    let (s, opts, watch) = (
        store.clone(),
        args.scan_options(data_dir),
        args.watch.clone(),
    );
    let input = args
        .input_file
        .as_ref()
        .and_then(|f| scan::describe_path(data_dir, f).ok())
        .map(|n| n.rel_path);
    let counts = tokio::task::spawn_blocking(move || {
        record_existing(&s, &opts, &watch, input.as_ref(), since)
    })
    .await
    .context("first start task")?
    .context("recording the files already in WIS2_DATA_DIR")?;
    store.set_first_start_done(true)?;
    let known = counts.recorded + counts.known;
    tracing::info!(
        recorded = known,
        announced = counts.left,
        announce_existing = %mode,
        ms = started.elapsed().as_millis() as u64,
        "first start: {known} files already in WIS2_DATA_DIR are recorded as known without being announced (WIS2_ANNOUNCE_EXISTING={mode}); {} are announced (discovery metadata records, WIS2_INPUT_FILE{}, files still being written). To publish the existing files too: stop wis2-watch, move {} away and start it with WIS2_ANNOUNCE_EXISTING=all (or a duration such as 7d); one file: `wis2-watch emit FILE`",
        counts.left,
        if since.is_some() { ", files modified within it" } else { "" },
        store.path().display(),
    );
    Ok(())
}

/// `wis2-watch baseline`: records every file of the data directory (but the
/// discovery metadata records) as known, without announcing it, and marks the first
/// start done: the next `run` announces only what changes after it.
pub fn tree(
    state_dir: &Path,
    watch: &WatchArgs,
    ignore: &[String],
) -> anyhow::Result<(Baseline, PathBuf)> {
    let data_dir = watch.data_dir.canonicalize().with_context(|| {
        format!(
            "WIS2_DATA_DIR {} cannot be opened: create it or point WIS2_DATA_DIR at the data",
            watch.data_dir.display()
        )
    })?;
    let store = AnnounceStore::open(&state_dir.join("announced.redb"))?;
    let mut opts = scan::ScanOptions::new(&data_dir);
    opts.settle = Duration::ZERO;
    opts.ignore_suffixes = ignore.to_vec();
    if let Ok(state) = state_dir.canonicalize()
        && state.starts_with(&data_dir)
    {
        opts.exclude_dirs.push(state);
    }
    let counts = record_existing(&store, &opts, watch, None, None)?;
    store.set_first_start_done(true)?;
    Ok((counts, store.path().to_path_buf()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_takes_none_all_and_durations_and_names_itself_when_wrong() {
        assert_eq!("none".parse(), Ok(AnnounceExisting::None));
        assert_eq!("ALL".parse(), Ok(AnnounceExisting::All));
        assert_eq!(
            "24h".parse(),
            Ok(AnnounceExisting::ModifiedWithin(Duration::from_secs(
                86_400
            )))
        );
        assert_eq!(
            "7d".parse(),
            Ok(AnnounceExisting::ModifiedWithin(Duration::from_secs(
                7 * 86_400
            )))
        );
        for bad in ["some", "7", "-1d", "0s", ""] {
            let e = bad.parse::<AnnounceExisting>().unwrap_err();
            assert!(e.contains("WIS2_ANNOUNCE_EXISTING"), "{e}");
            assert!(
                e.contains("`none`") && e.contains("`all`") && e.contains("7d"),
                "{e}"
            );
        }
        assert_eq!(
            AnnounceExisting::ModifiedWithin(Duration::from_secs(86_400)).to_string(),
            "1day"
        );
    }
}
