//! What the scanner hands out and the store records: one complete file change, and the
//! nanosecond times that name a file version. A leaf: the scanner and the store both
//! build on it, so neither has to reach into the other for it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wis2::event::FileChange;
use wis2::path::RelPath;

/// One complete file change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNotice {
    /// Whether the file is new, changed or gone.
    pub change: FileChange,
    /// Path under the data directory, `/`-separated.
    pub rel_path: RelPath,
    /// Size in bytes (absent for deletions).
    pub size: Option<u64>,
    /// Modification time (absent for deletions).
    pub modified: Option<SystemTime>,
}

impl FileNotice {
    /// The modification time in nanoseconds since the Unix epoch.
    pub fn mtime_ns(&self) -> Option<i64> {
        self.modified.map(system_time_ns)
    }
}

/// Nanoseconds since the Unix epoch (negative before it), saturating at the `i64` range.
pub fn system_time_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos())
            .map(|n| -n)
            .unwrap_or(i64::MIN),
    }
}

/// The time `ns` nanoseconds after (before, if negative) the Unix epoch.
pub fn ns_system_time(ns: i64) -> SystemTime {
    let d = Duration::from_nanos(ns.unsigned_abs());
    if ns >= 0 {
        UNIX_EPOCH.checked_add(d).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_time_ns_handles_pre_epoch() {
        assert_eq!(ns_system_time(-5), UNIX_EPOCH - Duration::from_nanos(5));
        assert_eq!(system_time_ns(UNIX_EPOCH), 0);
        assert_eq!(system_time_ns(UNIX_EPOCH - Duration::from_nanos(5)), -5);
    }
}
