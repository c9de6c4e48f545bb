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

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use wis2::path::RelPath;

use crate::WatchArgs;
use crate::notice::system_time_ns;
use crate::scan::{self, ScanError, ScanOptions};
use crate::store::{AnnounceStore, StoreError};

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
