//! The inotify watches: one per directory, added by the scanner as it enters each
//! directory (before listing it, so that nothing written meanwhile is missed), and
//! within the system's limits.
//!
//! When a limit is reached (`fs.inotify.max_user_watches`: the kernel refuses a watch
//! with ENOSPC; `fs.inotify.max_user_instances`: no inotify instance at all, EMFILE),
//! the watcher says which limit and how to raise it, keeps the watches it has, and the
//! directories without one are rescanned periodically ([`UNWATCHED_RESCAN`], or
//! `WIS2_RESCAN_SECS` if shorter). Each
//! rescan tries their watches again, so raising the limit takes effect without a
//! restart. `WIS2_MAX_WATCHES` (hidden, for tests) caps the watches below the
//! system's limit and takes the same way as the kernel's refusal.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// Time between rescans while some directories have no inotify watch (a limit is
/// reached), unless the rescan interval (`WIS2_RESCAN_SECS`) is shorter.
pub const UNWATCHED_RESCAN: Duration = Duration::from_secs(60);

/// The file of the watch limit, and the limit's sysctl name.
const MAX_WATCHES: (&str, &str) = (
    "/proc/sys/fs/inotify/max_user_watches",
    "fs.inotify.max_user_watches",
);
/// The file of the instance limit, and the limit's sysctl name.
const MAX_INSTANCES: (&str, &str) = (
    "/proc/sys/fs/inotify/max_user_instances",
    "fs.inotify.max_user_instances",
);

/// The value of a limit in /proc.
fn read_limit(file: &str) -> Option<u64> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// The directories watched, and whether some are not.
pub(super) struct Watches {
    /// The inotify watcher; `None` when the system gave none (the instance limit).
    watcher: Option<RecommendedWatcher>,
    /// The directories with a watch.
    watched: HashSet<PathBuf>,
    /// At most this many watches (`WIS2_MAX_WATCHES`, for tests).
    cap: Option<usize>,
    /// The limit was reached in this scan: no more attempts until the next.
    full: bool,
    /// Directories without a watch since the last scan began.
    unwatched: usize,
    /// The limit was reported, and not found lifted since.
    reported: bool,
}

impl Watches {
    /// The watches of `watcher` (or, if the system refused an inotify instance, none:
    /// every directory is then rescanned periodically).
    pub(super) fn new(watcher: notify::Result<RecommendedWatcher>, cap: Option<usize>) -> Self {
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                let (file, name) = MAX_INSTANCES;
                let value = read_limit(file).map_or("?".into(), |v| v.to_string());
                tracing::error!(
                    error = %e,
                    limit = name,
                    value,
                    "no inotify instance (the limit {name}, {file} = {value}, is reached, or the process's open files limit): no directory is watched, the data directory is rescanned periodically instead; raise it with `sysctl -w {name}=<more>` (and a file in /etc/sysctl.d/ to keep it), or stop other watchers of this user"
                );
                None
            }
        };
        Watches {
            watcher,
            watched: HashSet::new(),
            cap: cap.filter(|c| *c > 0),
            full: false,
            unwatched: 0,
            reported: false,
        }
    }

    /// A full scan begins: every directory it enters is tried again.
    pub(super) fn begin_scan(&mut self) {
        self.full = false;
        self.unwatched = 0;
    }

    /// A full scan ended; returns how many directories it left without a watch.
    pub(super) fn end_scan(&mut self) -> usize {
        if self.unwatched == 0 {
            self.reported = false;
        }
        self.unwatched
    }

    /// Whether some directory has no watch (its changes are seen by rescans only).
    pub(super) fn partial(&self) -> bool {
        self.unwatched > 0
    }

    /// How many directories are watched.
    pub(super) fn len(&self) -> usize {
        self.watched.len()
    }

    /// Watches `dir` (not its subdirectories) unless it is already; a directory the
    /// limit leaves out is counted for the periodic rescans.
    pub(super) fn add(&mut self, dir: &Path) {
        if self.watched.contains(dir) {
            return;
        }
        let Some(watcher) = self.watcher.as_mut() else {
            self.unwatched += 1;
            return;
        };
        if self.full {
            self.unwatched += 1;
            return;
        }
        let capped = self.cap.is_some_and(|c| self.watched.len() >= c);
        let result = if capped {
            Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch))
        } else {
            watcher.watch(dir, RecursiveMode::NonRecursive)
        };
        match result {
            Ok(()) => {
                self.watched.insert(dir.to_path_buf());
            }
            Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                self.full = true;
                self.unwatched += 1;
                self.report_limit(capped, dir);
            }
            // Gone already: its parent's event says so.
            Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => {}
            Err(e) => {
                self.unwatched += 1;
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch a directory: its files are seen by the periodic rescans only");
            }
        }
    }

    /// Forgets the watches of `path` and below (a directory removed or moved away:
    /// the kernel dropped its watches).
    pub(super) fn forget(&mut self, path: &Path) {
        if self.watched.contains(path) {
            if let Some(w) = self.watcher.as_mut() {
                let _ = w.unwatch(path);
            }
            self.watched.retain(|d| !d.starts_with(path));
        }
    }

    /// Says once which limit is reached (at `dir`) and how to raise it.
    fn report_limit(&mut self, capped: bool, dir: &Path) {
        if self.reported {
            return;
        }
        self.reported = true;
        let watched = self.watched.len();
        let (file, name) = MAX_WATCHES;
        if capped {
            tracing::error!(
                limit = "WIS2_MAX_WATCHES",
                value = watched,
                dir = %dir.display(),
                watched,
                "the inotify watch limit is reached (WIS2_MAX_WATCHES = {watched}, a cap for tests): {watched} directories are watched, the others are rescanned periodically; unset WIS2_MAX_WATCHES"
            );
            return;
        }
        let value = read_limit(file);
        let more = value.map_or(watched as u64 * 2, |v| v.saturating_mul(2));
        let value = value.map_or("?".into(), |v| v.to_string());
        tracing::error!(
            limit = name,
            value,
            watched,
            dir = %dir.display(),
            "the inotify watch limit is reached ({name}, {file} = {value}; other programs of this user count too): {watched} directories are watched, the others are rescanned periodically; raise it with `sysctl -w {name}={more}` (and a file in /etc/sysctl.d/ to keep it): the next rescan watches them"
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn watcher() -> notify::Result<RecommendedWatcher> {
        notify::recommended_watcher(|_: notify::Result<notify::Event>| {})
    }

    #[test]
    fn past_the_cap_directories_are_left_for_the_rescans_and_tried_again_at_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let mut w = Watches::new(watcher(), Some(2));
        w.begin_scan();
        for d in [dir.path(), &a, &b] {
            w.add(d);
        }
        assert_eq!((w.len(), w.partial()), (2, true));
        assert_eq!(w.end_scan(), 1);
        // Room again (a folder removed): the next scan watches the one left out.
        w.forget(&a);
        w.begin_scan();
        for d in [dir.path(), &b] {
            w.add(d);
        }
        assert_eq!((w.len(), w.end_scan()), (2, 0));
        assert!(!w.partial());
    }

    #[test]
    fn without_an_inotify_instance_every_directory_is_left_for_the_rescans() {
        let dir = tempfile::tempdir().unwrap();
        // What inotify_init1 returns at fs.inotify.max_user_instances.
        let refused = Err(notify::Error::io(std::io::Error::from_raw_os_error(24)));
        let mut w = Watches::new(refused, None);
        w.begin_scan();
        w.add(dir.path());
        assert_eq!((w.len(), w.end_scan()), (0, 1));
        assert!(w.partial());
    }
}
