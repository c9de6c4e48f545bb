//! The file-system half of `wis2-watch`: which files under the data directory are
//! complete, new, changed or gone. No MQTT here.
//!
//! [`spawn`] starts a [`Scanner`]: one worker thread with a notify (inotify) watch per
//! directory. It first runs a catch-up scan against the [`AnnounceStore`] (files not in the
//! store → `Created`, changed → `Updated`, gone → `Deleted`), then follows the events.
//! The same full scan runs again when the kernel queue overflowed (`Flag::Rescan`), on
//! a watch error, on [`Scanner::rescan`], every [`ScanOptions::rescan_interval`]
//! if set, and every [`UNWATCHED_RESCAN`] while some directories have no watch (an
//! inotify limit is reached: see `watches`).
//!
//! A full scan streams: the tree, walked in the store's key order, and the store, read
//! a page at a time, are compared as two sorted lists (`walk`), so that its memory
//! does not grow with the number of files.
//!
//! # When a file is complete
//! - it is closed after writing (`IN_CLOSE_WRITE`), or
//! - it is renamed or moved into place, or
//! - otherwise (hard links, symlinks, files found by a scan, `touch`, writers that keep
//!   the file open…) its size and modification time stay unchanged for the `settle`
//!   window, or its modification time is already at least `settle` in the past.
//!
//! A writer that pauses longer than `settle` before closing makes the file look
//! complete early; the close then yields an `Updated`.
//!
//! # What is never reported
//! Directories, FIFOs, sockets, device files, symlinks that resolve outside the data
//! directory, dangling symlinks, names that are not UTF-8, anything under an
//! `exclude_dirs` entry or the store's own file, and temporary names: any path
//! component starting with `.` or ending with one of [`TEMP_SUFFIXES`] or of
//! [`ScanOptions::ignore_suffixes`] (ASCII case-insensitive). Symlinks to files inside
//! the data directory are reported under the link's path with the target's size and
//! time (a change of the target alone is seen by the next full scan); symlinks to
//! directories are not descended (their files are reported under their real path).
//!
//! Of these, what looks like data that cannot be published (FIFOs, sockets and
//! devices, symlinks leaving the data directory or dangling, names that are not UTF-8)
//! is also reported as a [`Refusal`] ([`Scanner::refused`]), for the dead letters:
//! once per path, and again if it is removed and comes back. Directories, exclusions
//! and temporary names are not.
//!
//! # Deduplication and the caller's duties
//! The scanner never writes to the store. A file version (size, mtime) is compared with
//! what is known about it: the store entry, overlaid by the notices already handed out
//! but not yet [`done`](Scanner::done). Unchanged → nothing; known but different →
//! `Updated`; unknown or a tombstone → `Created`; gone and known live → `Deleted`.
//!
//! For every notice from [`Scanner::next`], the caller publishes it, records it with
//! [`AnnounceStore::record`] (or `record_many`) on success, and then calls
//! [`Scanner::done`] with its path, exactly once per notice, in the order received,
//! whether publishing worked or not. If the store does not reflect the notice when
//! `done` arrives (publishing failed), the scanner looks at the file again after a
//! back-off (1 s, doubling up to 60 s) and emits what is then true, so nothing is lost.
//!
//! # Layout
//! This module is the API. Inside: `policy` says which paths are reported, `events`
//! what a notify event means, `watches` keeps the inotify watches within the system's
//! limits, `walk` streams the tree and the store, `worker` runs the state machine on
//! its own thread.
//! [`FileNotice`] lives in [`crate::notice`], shared with the store.

mod error;
mod events;
mod policy;
mod walk;
mod watches;
mod worker;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use wis2::path::RelPath;

pub use self::error::ScanError;
use self::policy::{Policy, canonical_data_dir};
pub use self::policy::{Refusal, TEMP_SUFFIXES, describe_path};
pub use self::watches::UNWATCHED_RESCAN;
use self::worker::{Channels, Msg, Worker};
pub use crate::notice::FileNotice;
use crate::store::AnnounceStore;

/// Default settle window.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(2);

/// Notices waiting for the caller; the worker blocks when the caller lags this far.
const CHANNEL_CAPACITY: usize = 256;

/// Settings of a [`Scanner`].
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// The watched directory.
    pub data_dir: PathBuf,
    /// How long a file must stay unchanged to count as complete when no close after
    /// writing is seen.
    pub settle: Duration,
    /// More temporary-name suffixes to ignore, e.g. `.lock` (ASCII case-insensitive).
    pub ignore_suffixes: Vec<String>,
    /// Directories under `data_dir` to leave alone (absolute, or relative to `data_dir`),
    /// e.g. the state directory.
    pub exclude_dirs: Vec<PathBuf>,
    /// Full rescan at this interval besides the events (`None`: only at start and on
    /// overflow). Needed when files change without local inotify events, e.g. a data
    /// directory on NFS written by other hosts.
    pub rescan_interval: Option<Duration>,
    /// At most this many inotify watches (one per directory), below the system's
    /// limit: for tests of what happens at the limit.
    pub max_watches: Option<usize>,
}

impl ScanOptions {
    /// Defaults for `data_dir`: 2 s settle, no extra suffixes, no exclusions.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ScanOptions {
            data_dir: data_dir.into(),
            settle: DEFAULT_SETTLE,
            ignore_suffixes: Vec::new(),
            exclude_dirs: Vec::new(),
            rescan_interval: None,
            max_watches: None,
        }
    }
}

/// Starts watching `opts.data_dir` (catch-up scan first, in the scanner's thread).
pub fn spawn(opts: ScanOptions, store: AnnounceStore) -> Result<Scanner, ScanError> {
    let root = canonical_data_dir(&opts.data_dir)?;
    let policy = Policy::new(
        root,
        &opts.ignore_suffixes,
        &opts.exclude_dirs,
        store.path(),
    );
    let (ctl_tx, ctl_rx) = std_mpsc::channel::<Msg>();
    let fs_tx = ctl_tx.clone();
    let watcher = events::watcher(move |res| {
        let _ = fs_tx.send(Msg::Fs(res));
    });
    let watches = watches::Watches::new(watcher, opts.max_watches);
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let (refused_tx, refused_rx) = mpsc::unbounded_channel();
    let worker = Worker::new(
        policy,
        opts.settle,
        opts.rescan_interval,
        store,
        watches,
        Channels {
            tx,
            refused: refused_tx,
            ctl: ctl_rx,
        },
    );
    let thread = std::thread::Builder::new()
        .name("wis2-watch-scan".into())
        .spawn(move || worker.run())
        .map_err(ScanError::Thread)?;
    Ok(Scanner {
        rx,
        refused: Some(refused_rx),
        ctl: ctl_tx,
        thread: Some(thread),
    })
}

/// Every file a scan would report under `opts.data_dir`, in key order, with its size
/// and modification time, given to `visit`: what a first start and `wis2-watch
/// baseline` record. No watch, no store, no refusals (the scanner reports those);
/// memory does not grow with the tree.
pub fn existing_files(
    opts: &ScanOptions,
    store_file: &Path,
    mut visit: impl FnMut(RelPath, u64, Option<SystemTime>),
) -> Result<(), ScanError> {
    let root = canonical_data_dir(&opts.data_dir)?;
    let policy = Policy::new(root, &opts.ignore_suffixes, &opts.exclude_dirs, store_file);
    let mut walk = walk::SortedWalk::new(policy.root());
    while let Some(item) = walk.next(|d| policy.dir_wanted(d).is_ok()) {
        match item {
            walk::Item::File(path) => {
                if let (Ok(rel), Ok(state)) = (policy.rel_of(&path), policy.inspect(&path)) {
                    visit(rel, state.size, state.modified);
                }
            }
            walk::Item::Unreadable(d, e) => {
                tracing::warn!(dir = %d.display(), error = %e, "cannot list directory: its files are skipped; fix its permissions");
            }
        }
    }
    Ok(())
}

/// A running watch of the data directory; dropping it stops the watch.
pub struct Scanner {
    /// The notices from the worker.
    rx: mpsc::Receiver<FileNotice>,
    /// The refusals from the worker, until taken.
    refused: Option<mpsc::UnboundedReceiver<Refusal>>,
    /// The worker's inbox.
    ctl: std_mpsc::Sender<Msg>,
    /// The worker, joined on drop.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Scanner {
    /// The next complete file change; `None` once the scanner has stopped.
    pub async fn next(&mut self) -> Option<FileNotice> {
        self.rx.recv().await
    }

    /// The next file change if one is ready now (to announce several at once).
    pub fn try_next(&mut self) -> Option<FileNotice> {
        self.rx.try_recv().ok()
    }

    /// The next path refused (see [`Refusal`]); `None` once the scanner has stopped
    /// or the refusals were taken with [`Scanner::take_refusals`].
    pub async fn refused(&mut self) -> Option<Refusal> {
        self.refused.as_mut()?.recv().await
    }

    /// The stream of refusals, to read apart from [`Scanner::next`] (once).
    pub fn take_refusals(&mut self) -> Option<mpsc::UnboundedReceiver<Refusal>> {
        self.refused.take()
    }

    /// Tells the scanner the caller finished with the oldest outstanding notice for
    /// `rel` (see the module documentation). Call it after recording the notice in the
    /// store, or after giving up on publishing it.
    pub fn done(&self, rel: &RelPath) {
        let _ = self.ctl.send(Msg::Done(rel.clone()));
    }

    /// Asks for a full rescan of the data directory against the store.
    pub fn rescan(&self) {
        let _ = self.ctl.send(Msg::Rescan);
    }
}

impl Drop for Scanner {
    /// Stops the worker thread and waits for it, so that the store it holds is
    /// released when the scanner is gone (a restarted service reopens it at once).
    fn drop(&mut self) {
        // Closing the receiver first makes a worker blocked on a full channel return.
        self.rx.close();
        let _ = self.ctl.send(Msg::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
