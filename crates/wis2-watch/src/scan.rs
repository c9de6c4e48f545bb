//! The file-system half of `wis2-watch`: which files under the data directory are
//! complete, new, changed or gone. No MQTT here.
//!
//! [`spawn`] starts a [`Scanner`]: a notify (inotify) recursive watch plus one worker
//! thread. It first runs a catch-up scan against the [`AnnounceStore`] (files not in the
//! store → `Created`, changed → `Updated`, gone → `Deleted`), then follows the events.
//! The same full scan runs again when the kernel queue overflowed (`Flag::Rescan`), on
//! a watch error, on [`Scanner::rescan`], and every [`ScanOptions::rescan_interval`]
//! if set.
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
//! `exclude_dirs` entry or the store's own file, and temporary names: any path component starting with `.` or ending with `.tmp`,
//! `.part`, `.partial`, `.swp`, `~`, `.crdownload` or one of
//! [`ScanOptions::ignore_suffixes`] (ASCII case-insensitive). Symlinks to files inside
//! the data directory are reported under the link's path with the target's size and
//! time (a change of the target alone is seen by the next full scan); symlinks to
//! directories are not descended (their files are reported under their real path).
//!
//! Of these, what looks like data that cannot be published (FIFOs, sockets and
//! devices, symlinks leaving the data directory or dangling, names that are not UTF-8)
//! is also reported once per path and run as a [`Refusal`] ([`Scanner::refused`]),
//! for the dead letters; directories, exclusions and temporary names are not.
//!
//! # Deduplication and the caller's duties
//! The scanner never writes to the store. A file version (size, mtime) is compared with
//! what is known about it: the store entry, overlaid by the notices already handed out
//! but not yet [`done`](Scanner::done). Unchanged → nothing; known but different →
//! `Updated`; unknown or a tombstone → `Created`; gone and known live → `Deleted`.
//!
//! For every notice from [`Scanner::next`], the caller publishes it, records it with
//! [`AnnounceStore::record`] on success, and then calls [`Scanner::done`] with its path,
//! exactly once per notice, in the order received, whether publishing worked or not. If
//! the store does not reflect the notice when `done` arrives (publishing failed), the
//! scanner looks at the file again after a back-off (1 s, doubling up to 60 s) and
//! emits what is then true, so nothing is lost.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::Metadata;
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{Config, Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use wis2::event::{FileChange, check_relative};

pub use crate::notice::FileNotice;
use crate::notice::system_time_ns;
use crate::store::AnnounceStore;

/// Default settle window.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(2);

/// Names ending like this (ASCII case-insensitive) are temporary and never reported;
/// names starting with `.` neither.
pub const TEMP_SUFFIXES: &[&str] = &[".tmp", ".part", ".partial", ".swp", "~", ".crdownload"];

const CHANNEL_CAPACITY: usize = 256;
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);
const IDLE_WAIT: Duration = Duration::from_secs(60);

/// Something in the data directory that is never announced, and why: the service
/// turns it into a dead letter, so that the operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The path (absolute).
    pub path: PathBuf,
    /// The path relative to the data directory, when it is UTF-8.
    pub rel_path: Option<String>,
    /// What is wrong and how to fix it.
    pub reason: String,
}

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
        }
    }
}

/// Why a path cannot be watched or described.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "data directory {path} cannot be opened: {source}; create it or set WIS2_DATA_DIR to an existing directory"
    )]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data directory {path} is not a directory: set WIS2_DATA_DIR to a directory")]
    DataDirNotDir { path: PathBuf },
    #[error(
        "cannot watch {path}: {source}; if the inotify limit is reached raise fs.inotify.max_user_watches / max_user_instances (sysctl)"
    )]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
    #[error("cannot start the scanner thread: {0}; the system is out of threads or memory")]
    Thread(std::io::Error),
    #[error("file {path} cannot be read: {source}; give an existing file inside WIS2_DATA_DIR")]
    NotFound {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is outside WIS2_DATA_DIR {data_dir}: the file must be inside WIS2_DATA_DIR; move or copy it there"
    )]
    OutsideDataDir { path: PathBuf, data_dir: PathBuf },
    #[error("{path} is a directory: give a file (`wis2-watch run` watches directories)")]
    IsDirectory { path: PathBuf },
    #[error("{path} is a {kind}, not a regular file: only regular files can be announced")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error(
        "file name {lossy} is not valid UTF-8: rename it to UTF-8, a WIS2 data_id must be text"
    )]
    NotUtf8 { lossy: String },
    #[error("{path} is the data directory itself: give a file inside it")]
    IsDataDir { path: PathBuf },
}

/// Describes one file for `wis2-watch emit FILE`: `path` is absolute or relative to
/// `data_dir` and must lie inside it after resolving symlinks. The notice says
/// `Created`; a caller holding the store may turn it into `Updated`.
pub fn describe_path(data_dir: &Path, path: &Path) -> Result<FileNotice, ScanError> {
    let root = canonical_data_dir(data_dir)?;
    let given = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let not_found = |source| ScanError::NotFound {
        path: given.clone(),
        source,
    };
    // The location of the entry itself (its directory resolved, its own name kept, so
    // that a symlink inside the data directory is described under its own name)…
    let name = given.file_name().ok_or_else(|| ScanError::IsDirectory {
        path: given.clone(),
    })?;
    let parent = given.parent().unwrap_or(Path::new("/"));
    let location = parent.canonicalize().map_err(not_found)?.join(name);
    // …and what it finally points to; both must be inside.
    let target = location.canonicalize().map_err(not_found)?;
    let outside = || ScanError::OutsideDataDir {
        path: given.clone(),
        data_dir: root.clone(),
    };
    if !target.starts_with(&root) {
        return Err(outside());
    }
    let location = if location.starts_with(&root) {
        location
    } else {
        target.clone()
    };
    if location == root {
        return Err(ScanError::IsDataDir { path: given });
    }
    let rel = rel_string(&root, &location).map_err(|e| match e {
        RelError::Outside => outside(),
        RelError::NotUtf8(lossy) => ScanError::NotUtf8 { lossy },
    })?;
    let meta = std::fs::metadata(&target).map_err(not_found)?;
    if meta.is_dir() {
        return Err(ScanError::IsDirectory { path: given });
    }
    if let Some(kind) = special_kind(&meta) {
        return Err(ScanError::NotRegular { path: given, kind });
    }
    Ok(FileNotice {
        change: FileChange::Created,
        rel_path: rel,
        size: Some(meta.len()),
        modified: meta.modified().ok(),
    })
}

fn canonical_data_dir(data_dir: &Path) -> Result<PathBuf, ScanError> {
    let root = data_dir
        .canonicalize()
        .map_err(|source| ScanError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
    if !root.is_dir() {
        return Err(ScanError::DataDirNotDir {
            path: data_dir.to_path_buf(),
        });
    }
    Ok(root)
}

/// The kind of a non-regular, non-directory file.
fn special_kind(meta: &Metadata) -> Option<&'static str> {
    let ft = meta.file_type();
    if ft.is_file() || ft.is_dir() {
        None
    } else if ft.is_fifo() {
        Some("FIFO (named pipe)")
    } else if ft.is_socket() {
        Some("socket")
    } else if ft.is_block_device() {
        Some("block device")
    } else if ft.is_char_device() {
        Some("character device")
    } else if ft.is_symlink() {
        Some("symbolic link")
    } else {
        Some("special file")
    }
}

enum RelError {
    Outside,
    NotUtf8(String),
}

/// `path` relative to `root`, `/`-separated.
fn rel_string(root: &Path, path: &Path) -> Result<String, RelError> {
    let rel = path.strip_prefix(root).map_err(|_| RelError::Outside)?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => match s.to_str() {
                Some(s) => parts.push(s),
                None => return Err(RelError::NotUtf8(path.to_string_lossy().into_owned())),
            },
            _ => return Err(RelError::Outside),
        }
    }
    let rel = parts.join("/");
    if check_relative(&rel).is_err() {
        return Err(RelError::Outside);
    }
    Ok(rel)
}

/// Starts watching `opts.data_dir` (catch-up scan first, in the scanner's thread).
pub fn spawn(opts: ScanOptions, store: AnnounceStore) -> Result<Scanner, ScanError> {
    let root = canonical_data_dir(&opts.data_dir)?;
    let exclude = opts
        .exclude_dirs
        .iter()
        .map(|d| {
            let d = if d.is_absolute() {
                d.clone()
            } else {
                root.join(d)
            };
            d.canonicalize().unwrap_or(d)
        })
        .collect();
    let store_file = store
        .path()
        .canonicalize()
        .unwrap_or_else(|_| store.path().to_path_buf());
    let mut suffixes: Vec<String> = TEMP_SUFFIXES.iter().map(|s| s.to_string()).collect();
    suffixes.extend(
        opts.ignore_suffixes
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_lowercase()),
    );

    let (ctl_tx, ctl_rx) = std_mpsc::channel::<Msg>();
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let (refused_tx, refused_rx) = mpsc::unbounded_channel();
    let fs_tx = ctl_tx.clone();
    let mut watcher = RecommendedWatcher::new(
        move |res: notify::Result<Event>| {
            if res
                .as_ref()
                .is_ok_and(|ev| ignored(ev) && !ev.need_rescan())
            {
                return;
            }
            let _ = fs_tx.send(Msg::Fs(res));
        },
        // Never follow symlinked directories: they may lead outside the data directory.
        Config::default().with_follow_symlinks(false),
    )
    .map_err(|source| ScanError::Watch {
        path: root.clone(),
        source,
    })?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|source| ScanError::Watch {
            path: root.clone(),
            source,
        })?;

    let worker = Worker {
        root,
        settle: opts.settle,
        rescan_interval: opts.rescan_interval.filter(|d| !d.is_zero()),
        next_full: None,
        suffixes,
        exclude,
        store_file,
        store,
        tx,
        refused: refused_tx,
        overlay: HashMap::new(),
        pending: HashMap::new(),
        retries: HashMap::new(),
        warned: HashSet::new(),
        closed: false,
    };
    let thread = std::thread::Builder::new()
        .name("wis2-watch-scan".into())
        .spawn(move || worker.run(ctl_rx))
        .map_err(ScanError::Thread)?;
    Ok(Scanner {
        rx,
        refused: Some(refused_rx),
        ctl: ctl_tx,
        _watcher: watcher,
        thread: Some(thread),
    })
}

/// Events the worker does nothing with ([`Worker::on_fs`]): opens, closes without
/// writing, and the pairing of a rename's two halves (each half also arrives alone).
/// Dropped on notify's thread, so that they do not wake the worker: every file that
/// `wis2-create` reads is an open in the watched folder.
fn ignored(ev: &Event) -> bool {
    match ev.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => false,
        EventKind::Access(_) => true,
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => true,
        _ => false,
    }
}

enum Msg {
    Fs(notify::Result<Event>),
    Done(String),
    Rescan,
    Shutdown,
}

/// A running watch of the data directory; dropping it stops the watch.
pub struct Scanner {
    rx: mpsc::Receiver<FileNotice>,
    refused: Option<mpsc::UnboundedReceiver<Refusal>>,
    ctl: std_mpsc::Sender<Msg>,
    _watcher: RecommendedWatcher,
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
    pub fn done(&self, rel: &str) {
        self.handle().done(rel)
    }

    /// Asks for a full rescan of the data directory against the store.
    pub fn rescan(&self) {
        self.handle().rescan()
    }

    /// A cloneable handle for `done` and `rescan` from other tasks.
    pub fn handle(&self) -> ScanHandle {
        ScanHandle {
            ctl: self.ctl.clone(),
        }
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

/// Cloneable control handle of a [`Scanner`].
#[derive(Clone)]
pub struct ScanHandle {
    ctl: std_mpsc::Sender<Msg>,
}

impl ScanHandle {
    /// See [`Scanner::done`].
    pub fn done(&self, rel: &str) {
        let _ = self.ctl.send(Msg::Done(rel.to_string()));
    }

    /// See [`Scanner::rescan`].
    pub fn rescan(&self) {
        let _ = self.ctl.send(Msg::Rescan);
    }
}

/// (size, mtime in ns) of a file version.
type Sig = (u64, i64);

/// What a handed-out notice said about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Live(Sig),
    Gone,
}

/// A file seen changing but not yet complete.
struct Pending {
    /// Version seen at the last settle check.
    sig: Option<Sig>,
    last_activity: Instant,
}

struct Retry {
    due: Instant,
    attempts: u32,
}

/// A regular file (possibly through a symlink inside the data directory).
struct FileState {
    size: u64,
    modified: Option<SystemTime>,
}

impl FileState {
    fn sig(&self) -> Sig {
        (self.size, self.modified.map(system_time_ns).unwrap_or(0))
    }
}

struct Worker {
    root: PathBuf,
    settle: Duration,
    rescan_interval: Option<Duration>,
    next_full: Option<Instant>,
    suffixes: Vec<String>,
    exclude: Vec<PathBuf>,
    store_file: PathBuf,
    store: AnnounceStore,
    tx: mpsc::Sender<FileNotice>,
    refused: mpsc::UnboundedSender<Refusal>,
    /// Notices handed out and not yet `done`, oldest first.
    overlay: HashMap<String, VecDeque<Known>>,
    pending: HashMap<PathBuf, Pending>,
    retries: HashMap<String, Retry>,
    /// Paths already warned about (each is warned once).
    warned: HashSet<PathBuf>,
    closed: bool,
}

impl Worker {
    fn run(mut self, ctl: std_mpsc::Receiver<Msg>) {
        self.full_rescan("start");
        while !self.closed {
            let wait = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or(IDLE_WAIT);
            match ctl.recv_timeout(wait) {
                Ok(Msg::Shutdown) | Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(Msg::Fs(res)) => self.on_fs(res),
                Ok(Msg::Done(rel)) => self.on_done(&rel),
                Ok(Msg::Rescan) => self.full_rescan("requested"),
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            }
            self.check_pending();
            self.check_retries();
            if self.next_full.is_some_and(|t| t <= Instant::now()) {
                self.full_rescan("periodic");
            }
        }
        tracing::debug!("file scanner stopped");
    }

    fn next_deadline(&self) -> Option<Instant> {
        let settle = self.pending.values().map(|p| p.last_activity + self.settle);
        let retry = self.retries.values().map(|r| r.due);
        settle.chain(retry).chain(self.next_full).min()
    }

    fn emit(&mut self, notice: FileNotice) {
        if self.closed {
            return;
        }
        let known = match notice.change {
            FileChange::Deleted => Known::Gone,
            _ => Known::Live((notice.size.unwrap_or(0), notice.mtime_ns().unwrap_or(0))),
        };
        let rel = notice.rel_path.clone();
        tracing::debug!(path = rel, change = ?notice.change, "file notice");
        if self.tx.blocking_send(notice).is_err() {
            self.closed = true;
            return;
        }
        self.overlay.entry(rel).or_default().push_back(known);
    }

    /// Warns once per path that it is not announced, and hands out the refusal.
    fn refuse_once(&mut self, path: &Path, reason: impl FnOnce() -> String) {
        if self.warned.insert(path.to_path_buf()) {
            let reason = reason();
            tracing::warn!("{reason}");
            let rel_path = rel_string(&self.root, path).ok();
            let _ = self.refused.send(Refusal {
                path: path.to_path_buf(),
                rel_path,
                reason,
            });
        }
    }

    // ---------------------------------------------------------------- events

    fn on_fs(&mut self, res: notify::Result<Event>) {
        let ev = match res {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(error = %e, "file watch error: rescanning the data directory");
                self.full_rescan("watch error");
                return;
            }
        };
        if ev.need_rescan() {
            tracing::warn!("file events were lost (queue overflow): rescanning the data directory");
            self.full_rescan("overflow");
            return;
        }
        match ev.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
                for p in &ev.paths {
                    self.pending.remove(p);
                    self.consider(p, false);
                }
            }
            EventKind::Access(_) => {}
            // From and To also arrive as separate events.
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {}
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
                for p in &ev.paths {
                    self.gone(p);
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                for p in &ev.paths {
                    self.arrived(p, false);
                }
            }
            EventKind::Modify(ModifyKind::Name(_)) => {
                for p in &ev.paths {
                    if p.symlink_metadata().is_ok() {
                        self.arrived(p, false);
                    } else {
                        self.gone(p);
                    }
                }
            }
            EventKind::Create(_) => {
                for p in &ev.paths {
                    self.arrived(p, true);
                }
            }
            EventKind::Modify(_) | EventKind::Any | EventKind::Other => {
                for p in &ev.paths {
                    if p.symlink_metadata().is_ok() {
                        self.touched(p);
                    } else {
                        self.gone(p);
                    }
                }
            }
        }
    }

    /// A path appeared (created, or moved in). Directories are scanned for the files
    /// already inside; a moved-in file is complete; a created one waits for its close
    /// or the settle window.
    fn arrived(&mut self, path: &Path, created: bool) {
        let Ok(meta) = path.symlink_metadata() else {
            return;
        };
        if meta.is_dir() {
            if self.dir_wanted(path) {
                let mut seen = HashSet::new();
                let mut unreadable = Vec::new();
                self.walk(path, &mut seen, &mut unreadable);
            }
        } else if created {
            self.touched(path);
        } else {
            self.pending.remove(path);
            self.consider(path, false);
        }
    }

    /// A file is being changed: wait for its close or for it to settle.
    fn touched(&mut self, path: &Path) {
        if self.rel_of(path).is_none() {
            return;
        }
        let now = Instant::now();
        self.pending
            .entry(path.to_path_buf())
            .and_modify(|p| p.last_activity = now)
            .or_insert(Pending {
                sig: None,
                last_activity: now,
            });
    }

    /// A path is gone (removed or moved away): a file or a whole directory.
    fn gone(&mut self, path: &Path) {
        self.pending.retain(|p, _| !p.starts_with(path));
        // Something refused there before is refused again if it comes back.
        self.warned.retain(|p| !p.starts_with(path));
        if path.symlink_metadata().is_ok() {
            // Replaced at once by something else; its own event covers it.
            return;
        }
        let Ok(rel) = rel_string(&self.root, path) else {
            return;
        };
        let mut candidates: Vec<String> = match self.store.under(&rel) {
            Ok(v) => v.into_iter().map(|(k, _)| k).collect(),
            Err(e) => {
                tracing::error!(error = %e, path = rel, "cannot look up removed files; retrying");
                self.schedule_retry(&rel);
                Vec::new()
            }
        };
        let prefix = format!("{rel}/");
        candidates.extend(
            self.overlay
                .keys()
                .filter(|k| **k == rel || k.starts_with(&prefix))
                .cloned(),
        );
        candidates.sort();
        candidates.dedup();
        for c in candidates {
            self.deleted(&c);
        }
    }

    /// Emits `Deleted` for `rel` if it is known live and its file is really gone.
    fn deleted(&mut self, rel: &str) {
        if self.root.join(rel).symlink_metadata().is_ok() {
            return;
        }
        match self.known(rel) {
            Ok(Some(Known::Live(_))) => self.emit(FileNotice {
                change: FileChange::Deleted,
                rel_path: rel.to_string(),
                size: None,
                modified: None,
            }),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, path = rel, "cannot read the announce store; retrying");
                self.schedule_retry(rel);
            }
        }
    }

    // ---------------------------------------------------------------- decisions

    /// What the consumer knows of `rel`: the newest notice handed out, else the store.
    fn known(&self, rel: &str) -> Result<Option<Known>, crate::store::StoreError> {
        if let Some(k) = self.overlay.get(rel).and_then(|q| q.back()) {
            return Ok(Some(*k));
        }
        Ok(self
            .store
            .get(rel)?
            .map(|e| match (e.change, e.size, e.mtime_ns) {
                (FileChange::Deleted, _, _) => Known::Gone,
                (_, Some(size), Some(mtime)) => Known::Live((size, mtime)),
                // A live entry without a version: treat as changed (never equal).
                _ => Known::Live((u64::MAX, i64::MIN)),
            }))
    }

    /// The relative path of a candidate file, or `None` if it is never reported
    /// (outside, excluded, temporary name, not UTF-8).
    fn rel_of(&mut self, path: &Path) -> Option<String> {
        if path == self.store_file || self.exclude.iter().any(|d| path.starts_with(d)) {
            return None;
        }
        let rel = match rel_string(&self.root, path) {
            Ok(rel) => rel,
            Err(RelError::Outside) => return None,
            Err(RelError::NotUtf8(lossy)) => {
                // Temporary names are ignored whatever their encoding.
                let temporary = path.strip_prefix(&self.root).is_ok_and(|r| {
                    r.components()
                        .any(|c| self.ignored_name(&c.as_os_str().to_string_lossy()))
                });
                if temporary {
                    return None;
                }
                let what = if path.is_dir() {
                    "directory (and the files in it)"
                } else {
                    "file"
                };
                self.refuse_once(path, || {
                    format!(
                        "{what} {lossy} is not announced: its name is not valid UTF-8, and a WIS2 data_id is text (WMO file names are ASCII); rename it to UTF-8 and it is announced"
                    )
                });
                return None;
            }
        };
        if rel.split('/').any(|c| self.ignored_name(c)) {
            return None;
        }
        Some(rel)
    }

    fn ignored_name(&self, name: &str) -> bool {
        if name.starts_with('.') {
            return true;
        }
        let lower = name.to_ascii_lowercase();
        self.suffixes.iter().any(|s| lower.ends_with(s.as_str()))
    }

    /// Whether a directory is to be descended into.
    fn dir_wanted(&mut self, path: &Path) -> bool {
        if self.exclude.iter().any(|d| path.starts_with(d)) {
            return false;
        }
        if path == self.root {
            return true;
        }
        self.rel_of(path).is_some()
    }

    /// The regular file at `path` (following a symlink that stays inside), or `None`
    /// with a warning where useful.
    fn inspect(&mut self, path: &Path) -> Option<FileState> {
        let lmeta = path.symlink_metadata().ok()?;
        let meta = if lmeta.file_type().is_symlink() {
            let target = match path.canonicalize() {
                Ok(t) => t,
                Err(e) => {
                    self.refuse_once(path, || {
                        format!(
                            "symlink {} is not announced: its target cannot be resolved ({e}); fix the link or copy the file in instead",
                            path.display()
                        )
                    });
                    return None;
                }
            };
            if !target.starts_with(&self.root) {
                let root = self.root.display().to_string();
                self.refuse_once(path, || {
                    format!(
                        "symlink {} -> {} is not announced: it points outside the data directory {root}, and only files under it are published; copy the file in instead",
                        path.display(),
                        target.display(),
                    )
                });
                return None;
            }
            if target == self.store_file || self.exclude.iter().any(|d| target.starts_with(d)) {
                return None;
            }
            std::fs::metadata(&target).ok()?
        } else {
            lmeta
        };
        if !meta.file_type().is_file() {
            if let Some(kind) = special_kind(&meta) {
                self.refuse_once(path, || {
                    format!(
                        "{} is not announced: it is a {kind}, not a regular file, and only regular files are published; remove it from the data directory",
                        path.display()
                    )
                });
            }
            return None;
        }
        Some(FileState {
            size: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    /// Looks at one file and emits what changed. With `settle`, a recently modified
    /// file waits in `pending` first. Returns the relative path when `path` is a
    /// reportable regular file (emitted, unchanged or pending).
    fn consider(&mut self, path: &Path, settle: bool) -> Option<String> {
        let rel = self.rel_of(path)?;
        let state = self.inspect(path)?;
        if settle && !self.old_enough(&state) {
            let now = Instant::now();
            self.pending.entry(path.to_path_buf()).or_insert(Pending {
                sig: Some(state.sig()),
                last_activity: now,
            });
            return Some(rel);
        }
        let sig = state.sig();
        let change = match self.known(&rel) {
            Ok(None) | Ok(Some(Known::Gone)) => FileChange::Created,
            Ok(Some(Known::Live(k))) if k == sig => return Some(rel),
            Ok(Some(Known::Live(_))) => FileChange::Updated,
            Err(e) => {
                tracing::error!(error = %e, path = rel, "cannot read the announce store; retrying");
                self.schedule_retry(&rel);
                return Some(rel);
            }
        };
        self.emit(FileNotice {
            change,
            rel_path: rel.clone(),
            size: Some(state.size),
            modified: state.modified,
        });
        Some(rel)
    }

    fn old_enough(&self, state: &FileState) -> bool {
        state
            .modified
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .is_some_and(|age| age >= self.settle)
    }

    fn check_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let now = Instant::now();
        let due: Vec<PathBuf> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last_activity) >= self.settle)
            .map(|(k, _)| k.clone())
            .collect();
        for path in due {
            let Some(state) = self.inspect(&path) else {
                self.pending.remove(&path);
                continue;
            };
            let sig = state.sig();
            let stable = self.pending.get(&path).and_then(|p| p.sig) == Some(sig);
            if stable || self.old_enough(&state) {
                self.pending.remove(&path);
                self.consider(&path, false);
            } else if let Some(p) = self.pending.get_mut(&path) {
                p.sig = Some(sig);
                p.last_activity = now;
            }
        }
    }

    // ---------------------------------------------------------------- scans

    /// Walks the whole data directory against the store: new → Created, changed →
    /// Updated, known but gone → Deleted.
    fn full_rescan(&mut self, why: &str) {
        let started = Instant::now();
        self.next_full = self.rescan_interval.map(|d| started + d);
        let mut seen = HashSet::new();
        let mut unreadable = Vec::new();
        let root = self.root.clone();
        self.walk(&root, &mut seen, &mut unreadable);
        let mut known: Vec<String> = match self.store.all() {
            Ok(v) => v
                .into_iter()
                .filter(|(_, e)| e.is_live())
                .map(|(k, _)| k)
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the announce store: deletions not checked this scan");
                Vec::new()
            }
        };
        known.extend(self.overlay.keys().cloned());
        known.sort();
        known.dedup();
        for rel in known {
            if self.closed {
                return;
            }
            if seen.contains(&rel)
                || unreadable.iter().any(|u: &String| {
                    u.is_empty() || rel == *u || rel.starts_with(&format!("{u}/"))
                })
            {
                continue;
            }
            self.deleted(&rel);
        }
        tracing::info!(
            reason = why,
            files = seen.len(),
            ms = started.elapsed().as_millis() as u64,
            "data directory scanned"
        );
    }

    /// Considers every file under `dir` (settle rule applies); `seen` gets the
    /// reportable ones, `unreadable` the relative paths of directories that could not
    /// be listed.
    fn walk(&mut self, dir: &Path, seen: &mut HashSet<String>, unreadable: &mut Vec<String>) {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            if self.closed {
                return;
            }
            let entries = match std::fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(dir = %d.display(), error = %e, "cannot list directory: its files are skipped; fix its permissions");
                    if let Ok(rel) = rel_string(&self.root, &d) {
                        unreadable.push(rel);
                    } else if d == self.root {
                        unreadable.push(String::new());
                    }
                    continue;
                }
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_dir() {
                    if self.dir_wanted(&path) {
                        stack.push(path);
                    }
                } else if let Some(rel) = self.consider(&path, true) {
                    seen.insert(rel);
                }
            }
        }
    }

    // ---------------------------------------------------------------- caller feedback

    fn on_done(&mut self, rel: &str) {
        let Some(queue) = self.overlay.get_mut(rel) else {
            return;
        };
        let handed = queue.pop_front();
        if queue.is_empty() {
            self.overlay.remove(rel);
        }
        let Some(handed) = handed else { return };
        let recorded = match (handed, self.store.get(rel)) {
            (Known::Live((size, mtime)), Ok(Some(e))) => e.same_content(size, mtime),
            (Known::Gone, Ok(Some(e))) => !e.is_live(),
            // A tombstone may already be confirmed and removed.
            (Known::Gone, Ok(None)) => true,
            _ => false,
        };
        if recorded {
            self.retries.remove(rel);
        } else {
            tracing::debug!(
                path = rel,
                "notice not recorded: looking at the file again later"
            );
            self.schedule_retry(rel);
        }
    }

    fn schedule_retry(&mut self, rel: &str) {
        let attempts = self.retries.get(rel).map(|r| r.attempts).unwrap_or(0);
        let delay = RETRY_FIRST
            .saturating_mul(1u32 << attempts.min(16))
            .min(RETRY_MAX);
        self.retries.insert(
            rel.to_string(),
            Retry {
                due: Instant::now() + delay,
                attempts: attempts.saturating_add(1),
            },
        );
    }

    fn check_retries(&mut self) {
        if self.retries.is_empty() {
            return;
        }
        let now = Instant::now();
        let due: Vec<String> = self
            .retries
            .iter()
            .filter(|(_, r)| r.due <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for rel in due {
            // Keep the attempt count (for the back-off) until a `done` shows success,
            // but push the deadline far out so that it does not fire again meanwhile.
            if let Some(r) = self.retries.get_mut(&rel) {
                r.due = now + RETRY_MAX * 60;
            }
            let path = self.root.join(&rel);
            if path.symlink_metadata().is_ok() {
                self.consider(&path, false);
            } else {
                self.deleted(&rel);
            }
            if !self.overlay.contains_key(&rel) {
                // Nothing handed out again (the store already matches the file).
                self.retries.remove(&rel);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::Entry;
    use std::ffi::OsStr;
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    use tempfile::TempDir;

    const WAIT: Duration = Duration::from_secs(5);
    const QUIET: Duration = Duration::from_millis(400);
    const SETTLE: Duration = Duration::from_millis(300);

    struct Fixture {
        data: PathBuf,
        store: AnnounceStore,
        _data_dir: TempDir,
        state_dir: TempDir,
    }

    fn fixture() -> Fixture {
        let data_dir = tempfile::tempdir().unwrap();
        let state_dir = tempfile::tempdir().unwrap();
        let store = AnnounceStore::open(&state_dir.path().join("announced.redb")).unwrap();
        Fixture {
            data: data_dir.path().canonicalize().unwrap(),
            store,
            _data_dir: data_dir,
            state_dir,
        }
    }

    impl Fixture {
        fn opts(&self, settle: Duration) -> ScanOptions {
            let mut o = ScanOptions::new(&self.data);
            o.settle = settle;
            o
        }

        fn scanner(&self) -> Scanner {
            spawn(self.opts(SETTLE), self.store.clone()).unwrap()
        }

        /// Reopens the store as a restart would (the old handle must be gone).
        fn reopen(&mut self) {
            let path = self.state_dir.path().join("announced.redb");
            let fresh = {
                // Drop our handle first: redb refuses a second open.
                let placeholder =
                    AnnounceStore::open(&self.state_dir.path().join("tmp.redb")).unwrap();
                std::mem::replace(&mut self.store, placeholder)
            };
            drop(fresh);
            self.store = AnnounceStore::open(&path).unwrap();
        }
    }

    async fn next(s: &mut Scanner) -> FileNotice {
        tokio::time::timeout(WAIT, s.next())
            .await
            .expect("a notice within the timeout")
            .expect("scanner running")
    }

    async fn quiet(s: &mut Scanner, d: Duration) {
        if let Ok(n) = tokio::time::timeout(d, s.next()).await {
            panic!("unexpected notice {n:?}");
        }
    }

    /// The refusals handed out within `d`, by file name.
    async fn refusals(s: &mut Scanner, d: Duration) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(r)) = tokio::time::timeout_at(deadline, s.refused()).await {
            let name = r
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, r.reason));
        }
        out.sort();
        out
    }

    /// Acts as the caller: records the notice and says done.
    fn ack(s: &Scanner, store: &AnnounceStore, n: &FileNotice) {
        store
            .record(&n.rel_path, &Entry::announced(n, "ev"))
            .unwrap();
        s.done(&n.rel_path);
    }

    async fn expect(
        s: &mut Scanner,
        store: &AnnounceStore,
        change: FileChange,
        rel: &str,
    ) -> FileNotice {
        let n = next(s).await;
        assert_eq!((n.change, n.rel_path.as_str()), (change, rel), "{n:?}");
        ack(s, store, &n);
        n
    }

    #[tokio::test]
    async fn chunked_write_is_announced_once_after_close() {
        let f = fixture();
        let mut s = spawn(f.opts(Duration::from_secs(2)), f.store.clone()).unwrap();
        let path = f.data.join("x.nc");
        let mut file = std::fs::File::create(&path).unwrap();
        for _ in 0..5 {
            file.write_all(&[7u8; 1000]).unwrap();
            file.flush().unwrap();
            // Doubles as the pause between chunks: nothing may arrive while writing.
            quiet(&mut s, Duration::from_millis(150)).await;
        }
        drop(file);
        let n = expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
        assert_eq!(n.size, Some(5000));
        assert!(n.modified.is_some());
        quiet(&mut s, QUIET).await;
    }

    #[tokio::test]
    async fn rename_into_place_is_announced_once() {
        let f = fixture();
        let mut s = f.scanner();
        std::fs::write(f.data.join(".x.tmp"), b"abc").unwrap();
        quiet(&mut s, QUIET).await;
        std::fs::rename(f.data.join(".x.tmp"), f.data.join("x.nc")).unwrap();
        let n = expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
        assert_eq!(n.size, Some(3));
        quiet(&mut s, QUIET).await;
    }

    #[tokio::test]
    async fn temporary_names_are_ignored() {
        let f = fixture();
        let mut o = f.opts(SETTLE);
        o.ignore_suffixes = vec![".LOCK".into()];
        let mut s = spawn(o, f.store.clone()).unwrap();
        for name in [
            ".hidden",
            "a.tmp",
            "b.part",
            "c.partial",
            "d.swp",
            "e~",
            "f.crdownload",
            "G.TMP",
            "h.lock",
        ] {
            std::fs::write(f.data.join(name), b"x").unwrap();
        }
        std::fs::create_dir(f.data.join(".staging")).unwrap();
        std::fs::write(f.data.join(".staging/y.nc"), b"x").unwrap();
        quiet(&mut s, SETTLE * 3).await;
        std::fs::write(f.data.join("real.nc"), b"x").unwrap();
        expect(&mut s, &f.store, FileChange::Created, "real.nc").await;
    }

    #[tokio::test]
    async fn new_directories_are_silent_but_their_files_are_reported() {
        let f = fixture();
        let mut s = f.scanner();
        std::fs::create_dir(f.data.join("sub")).unwrap();
        quiet(&mut s, SETTLE * 2).await;
        std::fs::write(f.data.join("sub/x.nc"), b"abc").unwrap();
        expect(&mut s, &f.store, FileChange::Created, "sub/x.nc").await;

        // A directory moved in with files already inside.
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(outside.path().join("batch/deep")).unwrap();
        std::fs::write(outside.path().join("batch/deep/y.nc"), b"y").unwrap();
        std::fs::rename(outside.path().join("batch"), f.data.join("batch")).unwrap();
        expect(&mut s, &f.store, FileChange::Created, "batch/deep/y.nc").await;
        quiet(&mut s, QUIET).await;
    }

    #[tokio::test]
    async fn modify_then_delete() {
        let f = fixture();
        let mut s = f.scanner();
        let path = f.data.join("x.nc");
        std::fs::write(&path, b"one").unwrap();
        expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
        std::fs::write(&path, b"second").unwrap();
        let n = expect(&mut s, &f.store, FileChange::Updated, "x.nc").await;
        assert_eq!(n.size, Some(6));
        // Metadata-only changes do not make a new version.
        let perm = std::fs::metadata(&path).unwrap().permissions();
        std::fs::set_permissions(&path, perm).unwrap();
        quiet(&mut s, SETTLE * 2).await;
        std::fs::remove_file(&path).unwrap();
        let n = expect(&mut s, &f.store, FileChange::Deleted, "x.nc").await;
        assert_eq!((n.size, n.modified), (None, None));
        assert!(!f.store.get("x.nc").unwrap().unwrap().is_live());
        quiet(&mut s, QUIET).await;
    }

    #[tokio::test]
    async fn removed_directory_deletes_its_files() {
        let f = fixture();
        std::fs::create_dir(f.data.join("d")).unwrap();
        let mut s = f.scanner();
        std::fs::write(f.data.join("d/a.nc"), b"a").unwrap();
        expect(&mut s, &f.store, FileChange::Created, "d/a.nc").await;
        let away = tempfile::tempdir().unwrap();
        std::fs::rename(f.data.join("d"), away.path().join("d")).unwrap();
        expect(&mut s, &f.store, FileChange::Deleted, "d/a.nc").await;
        quiet(&mut s, QUIET).await;
    }

    #[tokio::test]
    async fn restart_announces_only_what_changed_while_down() {
        let mut f = fixture();
        std::fs::write(f.data.join("keep.nc"), b"k").unwrap();
        std::fs::write(f.data.join("change.nc"), b"c").unwrap();
        std::fs::write(f.data.join("gone.nc"), b"g").unwrap();
        {
            let mut s = f.scanner();
            let mut got = Vec::new();
            for _ in 0..3 {
                let n = next(&mut s).await;
                assert_eq!(n.change, FileChange::Created);
                ack(&s, &f.store, &n);
                got.push(n.rel_path);
            }
            got.sort();
            assert_eq!(got, ["change.nc", "gone.nc", "keep.nc"]);
            quiet(&mut s, QUIET).await;
        }
        // Down: a new file, a changed one, a removed one.
        std::fs::write(f.data.join("new.nc"), b"n").unwrap();
        std::fs::write(f.data.join("change.nc"), b"cc").unwrap();
        std::fs::remove_file(f.data.join("gone.nc")).unwrap();
        f.reopen();

        let mut s = f.scanner();
        let mut got = Vec::new();
        for _ in 0..3 {
            let n = next(&mut s).await;
            ack(&s, &f.store, &n);
            got.push((n.rel_path, n.change));
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            [
                ("change.nc".to_string(), FileChange::Updated),
                ("gone.nc".to_string(), FileChange::Deleted),
                ("new.nc".to_string(), FileChange::Created),
            ]
        );
        quiet(&mut s, QUIET).await;
    }

    #[tokio::test]
    async fn fifos_are_ignored() {
        let f = fixture();
        let status = std::process::Command::new("mkfifo")
            .arg(f.data.join("before.pipe"))
            .status()
            .unwrap();
        assert!(status.success());
        let mut s = f.scanner();
        let status = std::process::Command::new("mkfifo")
            .arg(f.data.join("after.pipe"))
            .status()
            .unwrap();
        assert!(status.success());
        quiet(&mut s, SETTLE * 3).await;
        let refused = refusals(&mut s, QUIET).await;
        let names: Vec<&str> = refused.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["after.pipe", "before.pipe"], "{refused:?}");
        for (_, reason) in &refused {
            assert!(
                reason.contains("FIFO (named pipe), not a regular file"),
                "{reason}"
            );
        }
    }

    #[tokio::test]
    async fn symlinks_outside_are_ignored_inside_followed() {
        let f = fixture();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), f.data.join("before.nc"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), f.data.join("outdir")).unwrap();
        let mut s = f.scanner();
        std::os::unix::fs::symlink(outside.path().join("secret"), f.data.join("after.nc")).unwrap();
        std::os::unix::fs::symlink(f.data.join("missing"), f.data.join("dangling.nc")).unwrap();
        quiet(&mut s, SETTLE * 3).await;
        let refused = refusals(&mut s, QUIET).await;
        let names: Vec<&str> = refused.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["after.nc", "before.nc", "dangling.nc", "outdir"],
            "{refused:?}"
        );
        assert!(refused[0].1.contains("points outside the data directory"));
        assert!(refused[2].1.contains("cannot be resolved"));

        std::fs::write(f.data.join("real.nc"), b"1234").unwrap();
        expect(&mut s, &f.store, FileChange::Created, "real.nc").await;
        std::os::unix::fs::symlink("real.nc", f.data.join("alias.nc")).unwrap();
        let n = expect(&mut s, &f.store, FileChange::Created, "alias.nc").await;
        assert_eq!(n.size, Some(4));
        quiet(&mut s, QUIET).await;
    }

    #[tokio::test]
    async fn non_utf8_names_are_skipped() {
        let f = fixture();
        let mut s = f.scanner();
        let bad = f.data.join(OsStr::from_bytes(b"bad\xff.nc"));
        std::fs::write(&bad, b"x").unwrap();
        // A temporary name is ignored whatever its encoding.
        std::fs::write(f.data.join(OsStr::from_bytes(b".bad\xfe.nc.tmp")), b"x").unwrap();
        quiet(&mut s, SETTLE * 3).await;
        let refused = refusals(&mut s, QUIET).await;
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(refused[0].1.contains("not valid UTF-8"), "{refused:?}");
        let err = describe_path(&f.data, &bad).unwrap_err();
        assert!(matches!(err, ScanError::NotUtf8 { .. }), "{err}");
        assert!(err.to_string().contains("UTF-8"), "{err}");
        // Renamed to UTF-8, it is announced.
        std::fs::rename(&bad, f.data.join("good.nc")).unwrap();
        expect(&mut s, &f.store, FileChange::Created, "good.nc").await;
    }

    #[tokio::test]
    async fn excluded_dirs_and_the_store_file_are_ignored() {
        let f = fixture();
        let state = f.data.join("state");
        let store = AnnounceStore::open(&f.data.join("own.redb")).unwrap();
        let mut o = f.opts(SETTLE);
        o.exclude_dirs = vec![PathBuf::from("state")];
        std::fs::create_dir(&state).unwrap();
        store
            .record(
                "other",
                &Entry::new(FileChange::Created, Some(1), None, "e"),
            )
            .unwrap();
        let mut s = spawn(o, store.clone()).unwrap();
        std::fs::write(state.join("x.nc"), b"x").unwrap();
        // Writing the store (under the data directory) must not be reported either.
        store
            .record("more", &Entry::new(FileChange::Deleted, None, None, "f"))
            .unwrap();
        let n = next(&mut s).await;
        // The only thing the scan may report is the bogus store entry as deleted.
        assert_eq!(
            (n.change, n.rel_path.as_str()),
            (FileChange::Deleted, "other")
        );
        quiet(&mut s, SETTLE * 3).await;
    }

    #[test]
    fn only_what_the_worker_does_nothing_with_is_dropped_before_it() {
        use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind};
        let ev = |kind| Event::new(kind).add_path(PathBuf::from("/d/x.nc"));
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Read),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
        ] {
            assert!(ignored(&ev(kind)), "{kind:?} is dropped");
        }
        for kind in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Name(RenameMode::Any)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Any,
            EventKind::Other,
        ] {
            assert!(!ignored(&ev(kind)), "{kind:?} reaches the worker");
        }
    }

    #[tokio::test]
    async fn overflow_triggers_a_full_rescan() {
        let f = fixture();
        let mut s = f.scanner();
        std::fs::write(f.data.join("x.nc"), b"x").unwrap();
        expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
        // The store forgets it behind the scanner's back; only a rescan can notice.
        f.store.remove("x.nc").unwrap();
        quiet(&mut s, QUIET).await;
        let overflow = Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        s.ctl.send(Msg::Fs(Ok(overflow))).unwrap();
        expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
        // Same for an error from the watcher.
        f.store.remove("x.nc").unwrap();
        s.ctl
            .send(Msg::Fs(Err(notify::Error::generic("boom"))))
            .unwrap();
        expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
        quiet(&mut s, QUIET).await;
    }

    #[tokio::test]
    async fn periodic_rescan_catches_changes_without_events() {
        let f = fixture();
        let mut o = f.opts(SETTLE);
        o.rescan_interval = Some(Duration::from_millis(500));
        let mut s = spawn(o, f.store.clone()).unwrap();
        std::fs::write(f.data.join("x.nc"), b"x").unwrap();
        expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
        // As if another host wrote it: no inotify event, only the store says otherwise.
        f.store.remove("x.nc").unwrap();
        expect(&mut s, &f.store, FileChange::Created, "x.nc").await;
        quiet(&mut s, Duration::from_millis(1200)).await;
    }

    #[tokio::test]
    async fn unrecorded_notice_is_emitted_again() {
        let f = fixture();
        let mut s = f.scanner();
        std::fs::write(f.data.join("x.nc"), b"x").unwrap();
        let n = next(&mut s).await;
        assert_eq!(n.change, FileChange::Created);
        // Publishing failed: done without recording.
        s.done(&n.rel_path);
        let again = next(&mut s).await;
        assert_eq!(again, n);
        ack(&s, &f.store, &again);
        quiet(&mut s, RETRY_FIRST + QUIET).await;
    }

    #[tokio::test]
    async fn pending_notice_is_not_duplicated_and_change_before_done_is_an_update() {
        let f = fixture();
        let mut s = f.scanner();
        let path = f.data.join("x.nc");
        std::fs::write(&path, b"x").unwrap();
        let first = next(&mut s).await;
        assert_eq!(first.change, FileChange::Created);
        // Not yet done: the same version again yields nothing…
        s.rescan();
        quiet(&mut s, QUIET).await;
        // …a new version is an update of what was handed out.
        std::fs::write(&path, b"xy").unwrap();
        let second = next(&mut s).await;
        assert_eq!(second.change, FileChange::Updated);
        ack(&s, &f.store, &first);
        ack(&s, &f.store, &second);
        quiet(&mut s, RETRY_FIRST + QUIET).await;
    }

    #[tokio::test]
    async fn describe_path_checks_the_file() {
        let f = fixture();
        std::fs::create_dir(f.data.join("sub")).unwrap();
        std::fs::write(f.data.join("sub/x.nc"), b"abc").unwrap();
        let n = describe_path(&f.data, Path::new("sub/x.nc")).unwrap();
        assert_eq!(
            (n.change, n.rel_path.as_str(), n.size),
            (FileChange::Created, "sub/x.nc", Some(3))
        );
        let n = describe_path(&f.data, &f.data.join("sub/../sub/x.nc")).unwrap();
        assert_eq!(n.rel_path, "sub/x.nc");
        std::os::unix::fs::symlink("sub/x.nc", f.data.join("link.nc")).unwrap();
        assert_eq!(
            describe_path(&f.data, Path::new("link.nc"))
                .unwrap()
                .rel_path,
            "link.nc"
        );

        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("o.nc"), b"o").unwrap();
        let err = describe_path(&f.data, &outside.path().join("o.nc")).unwrap_err();
        assert!(matches!(err, ScanError::OutsideDataDir { .. }), "{err}");
        assert!(
            err.to_string().contains("must be inside WIS2_DATA_DIR"),
            "{err}"
        );
        let err = describe_path(&f.data, Path::new("../escape.nc")).unwrap_err();
        assert!(
            matches!(
                err,
                ScanError::NotFound { .. } | ScanError::OutsideDataDir { .. }
            ),
            "{err}"
        );
        std::os::unix::fs::symlink(outside.path().join("o.nc"), f.data.join("out.nc")).unwrap();
        let err = describe_path(&f.data, Path::new("out.nc")).unwrap_err();
        assert!(matches!(err, ScanError::OutsideDataDir { .. }), "{err}");

        let err = describe_path(&f.data, Path::new("sub")).unwrap_err();
        assert!(matches!(err, ScanError::IsDirectory { .. }), "{err}");
        let err = describe_path(&f.data, &f.data).unwrap_err();
        assert!(
            matches!(
                err,
                ScanError::IsDirectory { .. } | ScanError::IsDataDir { .. }
            ),
            "{err}"
        );
        let err = describe_path(&f.data, Path::new("missing.nc")).unwrap_err();
        assert!(matches!(err, ScanError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("missing.nc"), "{err}");

        let status = std::process::Command::new("mkfifo")
            .arg(f.data.join("p"))
            .status()
            .unwrap();
        assert!(status.success());
        let err = describe_path(&f.data, Path::new("p")).unwrap_err();
        assert!(matches!(err, ScanError::NotRegular { .. }), "{err}");
        assert!(err.to_string().contains("FIFO"), "{err}");

        let err = describe_path(&f.data.join("nope"), Path::new("x")).unwrap_err();
        assert!(matches!(err, ScanError::DataDir { .. }), "{err}");
    }

    #[tokio::test]
    async fn spawn_on_a_missing_dir_names_it() {
        let f = fixture();
        let err = spawn(ScanOptions::new(f.data.join("absent")), f.store.clone())
            .err()
            .unwrap();
        assert!(err.to_string().contains("absent"), "{err}");
    }
}
