//! The scanner's worker thread: a state machine over notify events, the caller's
//! `done`s, settle and retry deadlines and full rescans. It decides, file by file,
//! whether a complete version is new, changed or gone, and hands out the notices.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant, SystemTime};

use notify::Event;
use tokio::sync::mpsc;
use wis2::event::FileChange;
use wis2::path::RelPath;

use super::events::{self, Change};
use super::policy::{FileState, Policy, Refusal, Sig, Skip, relative};
use super::walk::{Item, SortedWalk, StoreCursor};
use super::watches::{UNWATCHED_RESCAN, Watches};
use crate::notice::FileNotice;
use crate::store::{AnnounceStore, Entry, StoreError};

/// The first back-off before a file whose notice was not recorded is looked at again
/// (doubling up to [`RETRY_MAX`]).
pub(super) const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest back-off.
const RETRY_MAX: Duration = Duration::from_secs(60);
/// How long the worker sleeps with no deadline ahead (it wakes for any message anyway).
const IDLE_WAIT: Duration = Duration::from_secs(60);

/// The worker's inbox.
pub(super) enum Msg {
    /// An event (or error) from the watch.
    Fs(notify::Result<Event>),
    /// The caller finished with the oldest notice handed out for this path.
    Done(RelPath),
    /// Scan the whole data directory now.
    Rescan,
    /// Stop.
    Shutdown,
}

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
    /// When it last changed (or was last seen changed).
    last_activity: Instant,
}

/// A path to look at again, with a back-off.
struct Retry {
    /// When.
    due: Instant,
    /// How many times so far (the back-off doubles with each).
    attempts: u32,
}

/// What an entry of the store says of its file.
fn known_of(e: &Entry) -> Known {
    match (e.change, e.size, e.mtime_ns) {
        (FileChange::Deleted, _, _) => Known::Gone,
        (_, Some(size), Some(mtime)) => Known::Live((size, mtime)),
        // A live entry without a version: treat as changed (never equal).
        _ => Known::Live((u64::MAX, i64::MIN)),
    }
}

/// The keys of `map` whose value `is_due`.
fn due_keys<K: Clone + Eq + Hash, V>(map: &HashMap<K, V>, is_due: impl Fn(&V) -> bool) -> Vec<K> {
    map.iter()
        .filter(|(_, v)| is_due(v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// The worker's channels: the notices and refusals it hands out, its inbox.
pub(super) struct Channels {
    pub(super) tx: mpsc::Sender<FileNotice>,
    pub(super) refused: mpsc::UnboundedSender<Refusal>,
    pub(super) ctl: std_mpsc::Receiver<Msg>,
}

/// The state of the scan, owned by its thread.
pub(super) struct Worker {
    /// What is reported and what is refused.
    policy: Policy,
    /// How long a file must stay unchanged to be complete without a close.
    settle: Duration,
    /// Time between periodic full rescans, if any.
    rescan_interval: Option<Duration>,
    /// When the next periodic full rescan is due.
    next_full: Option<Instant>,
    /// What was announced; read, never written here.
    store: AnnounceStore,
    /// The inotify watches, one per directory.
    watches: Watches,
    /// The notices, to the [`Scanner`](super::Scanner).
    tx: mpsc::Sender<FileNotice>,
    /// The refusals, to the [`Scanner`](super::Scanner).
    refused: mpsc::UnboundedSender<Refusal>,
    /// Notices handed out and not yet `done`, oldest first.
    overlay: HashMap<RelPath, VecDeque<Known>>,
    /// Files being written, by absolute path.
    pending: HashMap<PathBuf, Pending>,
    /// Paths to look at again after a failure, by relative path.
    retries: HashMap<RelPath, Retry>,
    /// Paths already warned about (each is warned once).
    warned: HashSet<PathBuf>,
    /// Set once the caller is gone: nothing more is handed out.
    closed: bool,
    /// The inbox.
    ctl: std_mpsc::Receiver<Msg>,
    /// Messages that came during a scan and wait for its end (all but the `done`s,
    /// which are taken at once: see [`Worker::take_dones`]).
    deferred: VecDeque<Msg>,
}

impl Worker {
    /// A worker applying `policy`, that hands notices and refusals to `channels`
    /// and reads its inbox there; `rescan_interval` of zero means none.
    pub(super) fn new(
        policy: Policy,
        settle: Duration,
        rescan_interval: Option<Duration>,
        store: AnnounceStore,
        watches: Watches,
        channels: Channels,
    ) -> Self {
        let Channels { tx, refused, ctl } = channels;
        Worker {
            policy,
            settle,
            rescan_interval: rescan_interval.filter(|d| !d.is_zero()),
            next_full: None,
            store,
            watches,
            tx,
            refused,
            overlay: HashMap::new(),
            pending: HashMap::new(),
            retries: HashMap::new(),
            warned: HashSet::new(),
            closed: false,
            ctl,
            deferred: VecDeque::new(),
        }
    }

    /// Runs until `Msg::Shutdown`, until every sender is gone or until the receiver of
    /// the notices is closed; the catch-up scan comes first.
    pub(super) fn run(mut self) {
        self.full_rescan("start");
        while !self.closed {
            let wait = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or(IDLE_WAIT);
            let next = match self.deferred.pop_front() {
                Some(m) => Ok(m),
                None => self.ctl.recv_timeout(wait),
            };
            match next {
                Ok(Msg::Shutdown) | Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(Msg::Fs(res)) => self.on_fs(res),
                Ok(Msg::Done(rel)) => self.on_done(&rel),
                Ok(Msg::Rescan) => self.full_rescan("requested"),
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            }
            self.check_pending();
            self.check_retries();
            if self.next_full.is_some_and(|t| t <= Instant::now()) {
                self.next_full = None;
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
        tracing::debug!(path = rel.as_str(), change = ?notice.change, "file notice");
        if self.tx.blocking_send(notice).is_err() {
            self.closed = true;
            return;
        }
        self.overlay.entry(rel).or_default().push_back(known);
        self.take_dones();
    }

    /// Takes the `done`s that arrived (a scan hands out notices for as long as it
    /// runs: millions, on a first start that announces an archive; left in the inbox
    /// until its end, their `done`s and the notices they close would hold every path
    /// in memory). Other messages wait for the end of the scan.
    fn take_dones(&mut self) {
        while let Ok(m) = self.ctl.try_recv() {
            match m {
                Msg::Done(rel) => self.on_done(&rel),
                Msg::Shutdown => self.closed = true,
                other => self.deferred.push_back(other),
            }
        }
    }

    /// Warns once per path that it is not announced, and hands out the refusal; an
    /// ignored path is left alone.
    fn skipped(&mut self, path: &Path, skip: Skip) {
        let Skip::Refused(reason) = skip else { return };
        if self.warned.insert(path.to_path_buf()) {
            tracing::warn!("{reason}");
            let _ = self.refused.send(self.policy.refusal(path, reason));
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
        let Some(change) = events::change(&ev.kind) else {
            return;
        };
        for p in &ev.paths {
            let exists = || p.symlink_metadata().is_ok();
            match change {
                Change::Closed => {
                    self.pending.remove(p);
                    self.consider(p, false);
                }
                Change::Gone => self.gone(p),
                Change::MovedIn => self.arrived(p, false),
                Change::Renamed if exists() => self.arrived(p, false),
                Change::Created => self.arrived(p, true),
                Change::Touched if exists() => self.touched(p),
                Change::Renamed | Change::Touched => self.gone(p),
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
            // Each directory is watched before it is listed: a file written meanwhile
            // is in the listing or has its event.
            let mut walk = SortedWalk::new(path);
            while let Some(item) = walk.next(|d| self.enter(d)) {
                if self.closed {
                    return;
                }
                match item {
                    Item::File(p) => {
                        self.consider(&p, true);
                    }
                    Item::Unreadable(d, e) => {
                        tracing::warn!(dir = %d.display(), error = %e, "cannot list directory: its files are skipped; fix its permissions");
                    }
                }
            }
            if self.watches.partial() {
                self.schedule_full();
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
        self.watches.forget(path);
        if path.symlink_metadata().is_ok() {
            // Replaced at once by something else; its own event covers it.
            return;
        }
        let Ok(rel) = relative(self.policy.root(), path) else {
            return;
        };
        let mut candidates: Vec<RelPath> = match self.store.under(rel.as_str()) {
            Ok(v) => v.into_iter().map(|(k, _)| k).collect(),
            Err(e) => {
                tracing::error!(error = %e, path = rel.as_str(), "cannot look up removed files; retrying");
                self.schedule_retry(&rel);
                Vec::new()
            }
        };
        candidates.extend(self.overlay.keys().filter(|k| k.starts_with(&rel)).cloned());
        candidates.sort();
        candidates.dedup();
        for c in candidates {
            self.deleted(&c);
        }
    }

    /// Emits `Deleted` for `rel` if it is known live and its file is really gone.
    fn deleted(&mut self, rel: &RelPath) {
        if self.policy.root().join(rel).symlink_metadata().is_ok() {
            return;
        }
        match self.known(rel) {
            Ok(Some(Known::Live(_))) => self.emit(FileNotice {
                change: FileChange::Deleted,
                rel_path: rel.clone(),
                size: None,
                modified: None,
            }),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, path = rel.as_str(), "cannot read the announce store; retrying");
                self.schedule_retry(rel);
            }
        }
    }

    // ---------------------------------------------------------------- decisions

    /// What the consumer knows of `rel`: the newest notice handed out, else the store.
    fn known(&self, rel: &RelPath) -> Result<Option<Known>, StoreError> {
        if let Some(k) = self.overlay.get(rel).and_then(|q| q.back()) {
            return Ok(Some(*k));
        }
        Ok(self.store.get(rel.as_str())?.as_ref().map(known_of))
    }

    /// The relative path of a candidate file, or `None` if it is never reported.
    fn rel_of(&mut self, path: &Path) -> Option<RelPath> {
        self.policy
            .rel_of(path)
            .map_err(|skip| self.skipped(path, skip))
            .ok()
    }

    /// Whether a directory is to be descended into; if so, it is watched first.
    fn enter(&mut self, path: &Path) -> bool {
        let wanted = self
            .policy
            .dir_wanted(path)
            .map_err(|skip| self.skipped(path, skip))
            .is_ok();
        if wanted {
            self.watches.add(path);
        }
        wanted
    }

    /// The regular file at `path`, or `None` (refused once where useful).
    fn inspect(&mut self, path: &Path) -> Option<FileState> {
        self.policy
            .inspect(path)
            .map_err(|skip| self.skipped(path, skip))
            .ok()
    }

    /// Looks at one file and emits what changed. With `settle`, a recently modified
    /// file waits in `pending` first. Returns the relative path when `path` is a
    /// reportable regular file (emitted, unchanged or pending).
    fn consider(&mut self, path: &Path, settle: bool) -> Option<RelPath> {
        let rel = self.rel_of(path)?;
        self.consider_known(path, rel, None, settle)
    }

    /// [`Worker::consider`] of the file `rel` at `path`, whose store entry a full scan
    /// read already (`stored`: `Some(None)` when the store has none; `None`: look it
    /// up). A notice handed out and not yet done still comes first.
    fn consider_known(
        &mut self,
        path: &Path,
        rel: RelPath,
        stored: Option<Option<Entry>>,
        settle: bool,
    ) -> Option<RelPath> {
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
        let known = match (self.overlay.get(&rel).and_then(|q| q.back()), stored) {
            (Some(k), _) => Ok(Some(*k)),
            (None, Some(stored)) => Ok(stored.as_ref().map(known_of)),
            (None, None) => self.known(&rel),
        };
        let change = match known {
            Ok(None) | Ok(Some(Known::Gone)) => FileChange::Created,
            Ok(Some(Known::Live(k))) if k == sig => return Some(rel),
            Ok(Some(Known::Live(_))) => FileChange::Updated,
            Err(e) => {
                tracing::error!(error = %e, path = rel.as_str(), "cannot read the announce store; retrying");
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
        let due = due_keys(&self.pending, |p| {
            now.saturating_duration_since(p.last_activity) >= self.settle
        });
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
    /// Updated, known but gone → Deleted. The tree (in key order) and the store (a
    /// page at a time) are read side by side: nothing is held per file.
    fn full_rescan(&mut self, why: &str) {
        let started = Instant::now();
        self.next_full = None;
        self.watches.begin_scan();
        let mut cursor = StoreCursor::new(self.store.clone());
        // The store cannot be read: files are looked up one by one, deletions wait.
        let mut store_failed = false;
        let mut unreadable: Vec<Option<RelPath>> = Vec::new();
        let mut files = 0u64;
        let root = self.policy.root().to_path_buf();
        let mut walk = SortedWalk::new(&root);
        while let Some(item) = walk.next(|d| self.enter(d)) {
            if self.closed {
                return;
            }
            let path = match item {
                Item::File(path) => path,
                Item::Unreadable(d, e) => {
                    tracing::warn!(dir = %d.display(), error = %e, "cannot list directory: its files are skipped; fix its permissions");
                    if let Ok(rel) = relative(self.policy.root(), &d) {
                        unreadable.push(Some(rel));
                    } else if d == self.policy.root() {
                        unreadable.push(None);
                    }
                    continue;
                }
            };
            let Some(rel) = self.rel_of(&path) else {
                continue;
            };
            // The store's entries before this file are files not found on disk.
            let mut stored = None;
            while !store_failed {
                match cursor.peek() {
                    Ok(Some(k)) if *k < rel => {
                        if let Ok(Some((k, e))) = cursor.take() {
                            self.missing(&k, &e, &unreadable);
                        }
                    }
                    Ok(Some(k)) if *k == rel => {
                        stored = cursor.take().ok().flatten().map(|(_, e)| Some(e));
                        break;
                    }
                    Ok(_) => {
                        stored = Some(None);
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the announce store: deletions not checked this scan");
                        store_failed = true;
                    }
                }
            }
            if self.consider_known(&path, rel, stored, true).is_some() {
                files += 1;
            }
        }
        while !store_failed && !self.closed {
            match cursor.take() {
                Ok(Some((k, e))) => self.missing(&k, &e, &unreadable),
                Ok(None) => break,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the announce store: deletions not checked this scan");
                    break;
                }
            }
        }
        // Notices handed out and not done yet: their files may be gone too.
        let mut handed: Vec<RelPath> = self.overlay.keys().cloned().collect();
        handed.sort();
        for rel in handed {
            if !Self::under_unreadable(&rel, &unreadable) {
                self.deleted(&rel);
            }
        }
        let unwatched = self.watches.end_scan();
        self.schedule_full();
        tracing::info!(
            reason = why,
            data_dir = %self.policy.root().display(),
            files,
            watched_dirs = self.watches.len(),
            unwatched_dirs = unwatched,
            ms = started.elapsed().as_millis() as u64,
            "data directory scanned"
        );
    }

    /// Under a directory that could not be listed (`None`: the data directory itself),
    /// a file not seen may still be there.
    fn under_unreadable(rel: &RelPath, unreadable: &[Option<RelPath>]) -> bool {
        unreadable
            .iter()
            .any(|u| u.as_ref().is_none_or(|u| rel.starts_with(u)))
    }

    /// A file the store knows and a full scan did not find.
    fn missing(&mut self, rel: &RelPath, entry: &Entry, unreadable: &[Option<RelPath>]) {
        if entry.is_live() && !Self::under_unreadable(rel, unreadable) {
            self.deleted(rel);
        }
    }

    /// Sets the next periodic full scan, if none is set: at the rescan interval, and
    /// at [`UNWATCHED_RESCAN`] at most while some directory
    /// has no watch.
    fn schedule_full(&mut self) {
        if self.next_full.is_some() {
            return;
        }
        let unwatched = self.watches.partial().then_some(UNWATCHED_RESCAN);
        let every = match (self.rescan_interval, unwatched) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.next_full = every.map(|d| Instant::now() + d);
    }

    // ---------------------------------------------------------------- caller feedback

    fn on_done(&mut self, rel: &RelPath) {
        let Some(queue) = self.overlay.get_mut(rel) else {
            return;
        };
        let handed = queue.pop_front();
        if queue.is_empty() {
            self.overlay.remove(rel);
        }
        let Some(handed) = handed else { return };
        let recorded = match (handed, self.store.get(rel.as_str())) {
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
                path = rel.as_str(),
                "notice not recorded: looking at the file again later"
            );
            self.schedule_retry(rel);
        }
    }

    fn schedule_retry(&mut self, rel: &RelPath) {
        let attempts = self.retries.get(rel).map(|r| r.attempts).unwrap_or(0);
        let delay = RETRY_FIRST
            .saturating_mul(1u32 << attempts.min(16))
            .min(RETRY_MAX);
        self.retries.insert(
            rel.clone(),
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
        for rel in due_keys(&self.retries, |r| r.due <= now) {
            // Keep the attempt count (for the back-off) until a `done` shows success,
            // but push the deadline far out so that it does not fire again meanwhile.
            if let Some(r) = self.retries.get_mut(&rel) {
                r.due = now + RETRY_MAX * 60;
            }
            let path = self.policy.root().join(&rel);
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
