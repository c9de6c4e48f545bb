//! Durable record of what `wis2-watch` announced (one redb file).
//!
//! Key: the file's path relative to the data directory (`/`-separated), the text of
//! a [`RelPath`]: only a `RelPath` is written, and what is read back is parsed again
//! (a key that does not parse is skipped with a warning). Lookups take the text, so
//! that a confirmation names its path as it came. Value: an [`Entry`] (JSON-encoded,
//! so fields can be added later without a migration).
//!
//! Life cycle of an entry:
//! - the caller [`record`](AnnounceStore::record)s it once the file event is safely
//!   published (`confirmed: false`);
//! - when `wis2-publish` confirms the event (event id + path), [`confirm`](AnnounceStore::confirm)
//!   marks it confirmed; a confirmed deletion (tombstone) is removed;
//! - [`unconfirmed_older_than`](AnnounceStore::unconfirmed_older_than) lists what to
//!   re-announce after a timeout.
//!
//! A file found on a first start (or by `wis2-watch baseline`) and not announced is
//! [`baseline`](AnnounceStore::baseline_many)d: recorded as known and confirmed, with
//! no event id, so that only its later changes are announced.
//!
//! # Size and memory
//! Nothing is held in memory per file: the pending files have their own table
//! (path → when announced), so that counting them, re-announcing them and confirming
//! them never reads the whole store; the scanner reads the store in key order, a page
//! at a time ([`page`](AnnounceStore::page)). redb's page cache is bounded
//! ([`CACHE_BYTES`]): the tree stays on disk, read through the kernel's page cache.
//! A first start also has a third table, the store's state (whether the first start's
//! baseline is done).
//!
//! Durability: announcements are committed durably (fsync) before the caller goes on.
//! Confirmations are not: losing one (a crash of the machine or a `kill -9` before the
//! next durable commit) only makes the file look unconfirmed, so it is announced again
//! after the timeout and wis2-publish, which has it in its durable record, confirms it
//! without publishing it twice. The next announcement's commit, and
//! [`flush`](AnnounceStore::flush) at shutdown, make them durable, so that a busy
//! watcher makes one fsync per burst of files instead of two.
//!
//! The API is synchronous and cheap to clone (`Arc` inside); call it from
//! `tokio::task::spawn_blocking` if a commit's fsync on the async threads matters.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use wis2::event::FileChange;
use wis2::path::RelPath;

use crate::notice::{FileNotice, ns_system_time, system_time_ns};

const ANNOUNCED: TableDefinition<&str, &[u8]> = TableDefinition::new("announced");
/// The unconfirmed entries: path → when announced (Unix nanoseconds).
const PENDING: TableDefinition<&str, i64> = TableDefinition::new("pending");
/// The store's state: [`STATE`] and [`PENDING_INDEX`].
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
/// Key of the first start's state in [`META`]: [`BASELINING`] or [`READY`].
const STATE: &str = "state";
/// A first start is recording the existing files (it goes on after a crash).
const BASELINING: &str = "baselining";
/// The first start is over: every start after it announces what changed.
const READY: &str = "ready";
/// Key in [`META`] present once [`PENDING`] indexes every unconfirmed entry (stores
/// written before it existed are indexed once, at open).
const PENDING_INDEX: &str = "pending-index";

/// redb's page cache (its default is 1 GiB, which a tree of millions of files would
/// fill): reads past it go to the kernel's page cache, which is not the service's
/// memory.
pub const CACHE_BYTES: usize = 8 << 20;

/// What was announced for one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Size in bytes when announced (absent for deletions).
    #[serde(default)]
    pub size: Option<u64>,
    /// Modification time when announced, nanoseconds since the Unix epoch (absent for
    /// deletions).
    #[serde(default)]
    pub mtime_ns: Option<i64>,
    /// The announced change; `Deleted` entries are tombstones kept until confirmed.
    pub change: FileChange,
    /// Id of the CloudEvent that announced it.
    pub event_id: String,
    /// When it was announced, nanoseconds since the Unix epoch.
    pub announced_at_ns: i64,
    /// Whether `wis2-publish` confirmed the event.
    #[serde(default)]
    pub confirmed: bool,
    /// The `id` of the WCMP2 record, for files of the metadata folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// Recorded as known without being announced (a first start's existing file, or
    /// `wis2-watch baseline`): `event_id` is empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub baselined: bool,
}

impl Entry {
    /// A fresh, unconfirmed entry announced now.
    pub fn new(
        change: FileChange,
        size: Option<u64>,
        modified: Option<SystemTime>,
        event_id: impl Into<String>,
    ) -> Self {
        let (size, mtime_ns) = match change {
            FileChange::Deleted => (None, None),
            _ => (size, modified.map(system_time_ns)),
        };
        Entry {
            size,
            mtime_ns,
            change,
            event_id: event_id.into(),
            announced_at_ns: system_time_ns(SystemTime::now()),
            confirmed: false,
            record_id: None,
            baselined: false,
        }
    }

    /// The entry of a file recorded as known without being announced.
    pub fn baselined(size: u64, mtime_ns: i64) -> Self {
        Entry {
            size: Some(size),
            mtime_ns: Some(mtime_ns),
            change: FileChange::Created,
            event_id: String::new(),
            announced_at_ns: system_time_ns(SystemTime::now()),
            confirmed: true,
            record_id: None,
            baselined: true,
        }
    }

    /// The entry recording that `notice` was announced now by event `event_id`.
    pub fn announced(notice: &FileNotice, event_id: &str) -> Self {
        Entry::new(notice.change, notice.size, notice.modified, event_id)
    }

    /// The notice to announce this entry again (after a confirmation timeout).
    pub fn notice(&self, rel: &RelPath) -> FileNotice {
        FileNotice {
            change: self.change,
            rel_path: rel.clone(),
            size: self.size,
            modified: self.mtime_ns.map(ns_system_time),
        }
    }

    /// Whether the entry describes the same live file version as `notice` (same size
    /// and modification time); deletions never match.
    pub fn same_file(&self, notice: &FileNotice) -> bool {
        match (notice.change, notice.size, notice.mtime_ns()) {
            (FileChange::Deleted, _, _) => false,
            (_, Some(size), Some(mtime)) => self.same_content(size, mtime),
            _ => false,
        }
    }

    /// Whether this entry describes a file that exists (not a tombstone).
    pub fn is_live(&self) -> bool {
        self.change != FileChange::Deleted
    }

    /// Whether the entry describes exactly this (size, mtime) of a live file.
    pub fn same_content(&self, size: u64, mtime_ns: i64) -> bool {
        self.is_live() && self.size == Some(size) && self.mtime_ns == Some(mtime_ns)
    }
}

/// Why the announce store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot create the state directory {path}: {source}; create it or point the state path to a writable directory"
    )]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "announce store {path} is already open by another process: stop the other wis2-watch or give this one its own state path"
    )]
    AlreadyOpen { path: PathBuf },
    #[error(
        "cannot open the announce store {path}: {source}; check the file is a wis2-watch store and writable, or move it away to start afresh (files already there will be announced again)"
    )]
    Open {
        path: PathBuf,
        source: Box<redb::DatabaseError>,
    },
    #[error(
        "announce store {path}: {op} failed: {source}; check disk space and permissions of the state directory"
    )]
    Db {
        path: PathBuf,
        op: &'static str,
        source: Box<redb::Error>,
    },
    #[error(
        "announce store {path}: entry for `{key}` is unreadable: {source}; remove it with a fresh store if it persists"
    )]
    Corrupt {
        path: PathBuf,
        key: String,
        source: serde_json::Error,
    },
}

/// Handle on the announce store; cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct AnnounceStore {
    db: Arc<Database>,
    path: Arc<PathBuf>,
    /// Unconfirmed entries (counted at open, kept up to date by every commit).
    pending: Arc<AtomicUsize>,
}

impl std::fmt::Debug for AnnounceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnounceStore")
            .field("path", &self.path)
            .finish()
    }
}

impl AnnounceStore {
    /// Opens the store at `path`, creating it and its parent directories if needed.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|source| match source {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen {
                    path: path.to_path_buf(),
                },
                source => StoreError::Open {
                    path: path.to_path_buf(),
                    source: Box::new(source),
                },
            })?;
        let store = AnnounceStore {
            db: Arc::new(db),
            path: Arc::new(path.to_path_buf()),
            pending: Arc::default(),
        };
        // Make sure the tables exist so that readers never see "table missing", and
        // index the pending entries of a store written before the index.
        let err = |e: redb::Error| store.db_err("open", e);
        let tx = store.db.begin_write().map_err(|e| err(e.into()))?;
        let pending = {
            let announced = tx.open_table(ANNOUNCED).map_err(|e| err(e.into()))?;
            let mut pending = tx.open_table(PENDING).map_err(|e| err(e.into()))?;
            let mut meta = tx.open_table(META).map_err(|e| err(e.into()))?;
            if meta
                .get(PENDING_INDEX)
                .map_err(|e| err(e.into()))?
                .is_none()
            {
                for item in announced.iter().map_err(|e| err(e.into()))? {
                    let (k, v) = item.map_err(|e| err(e.into()))?;
                    let entry = store.decode(k.value(), v.value())?;
                    if !entry.confirmed {
                        pending
                            .insert(k.value(), entry.announced_at_ns)
                            .map_err(|e| err(e.into()))?;
                    }
                }
                meta.insert(PENDING_INDEX, "1").map_err(|e| err(e.into()))?;
            }
            // A store written before the first-start state has files it knows: not a
            // first start.
            if meta.get(STATE).map_err(|e| err(e.into()))?.is_none()
                && !announced.is_empty().map_err(|e| err(e.into()))?
            {
                meta.insert(STATE, READY).map_err(|e| err(e.into()))?;
            }
            pending.len().map_err(|e| err(e.into()))?
        };
        tx.commit().map_err(|e| err(e.into()))?;
        store.pending.store(
            usize::try_from(pending).unwrap_or(usize::MAX),
            Ordering::Relaxed,
        );
        Ok(store)
    }

    /// Whether this is a first start: the store has never finished recording the
    /// files already there (it is new, or a first start stopped half-way).
    pub fn first_start(&self) -> Result<bool, StoreError> {
        let err = |e: redb::Error| self.db_err("read", e);
        let tx = self.db.begin_read().map_err(|e| err(e.into()))?;
        let meta = tx.open_table(META).map_err(|e| err(e.into()))?;
        let state = meta.get(STATE).map_err(|e| err(e.into()))?;
        Ok(state.is_none_or(|s| s.value() == BASELINING))
    }

    /// Records that a first start began recording the existing files (`done: false`)
    /// or that it is over (`done: true`).
    pub fn set_first_start_done(&self, done: bool) -> Result<(), StoreError> {
        let err = |e: redb::Error| self.db_err("write", e);
        let tx = self.db.begin_write().map_err(|e| err(e.into()))?;
        {
            let mut meta = tx.open_table(META).map_err(|e| err(e.into()))?;
            let state = if done { READY } else { BASELINING };
            meta.insert(STATE, state).map_err(|e| err(e.into()))?;
        }
        tx.commit().map_err(|e| err(e.into()))
    }

    /// Records files as known without announcing them (confirmed, no event id): each
    /// `(path, size, mtime_ns)` the store does not know yet, in one transaction; a
    /// file it knows (announced, pending, or baselined before) is left as it is.
    /// Returns how many were recorded.
    pub fn baseline_many(&self, files: &[(RelPath, u64, i64)]) -> Result<usize, StoreError> {
        let err = |e: redb::Error| self.db_err("write", e);
        let tx = self.db.begin_write().map_err(|e| err(e.into()))?;
        let mut added = 0;
        {
            let mut table = tx.open_table(ANNOUNCED).map_err(|e| err(e.into()))?;
            for (rel, size, mtime_ns) in files {
                if table
                    .get(rel.as_str())
                    .map_err(|e| err(e.into()))?
                    .is_some()
                {
                    continue;
                }
                let entry = Entry::baselined(*size, *mtime_ns);
                table
                    .insert(rel.as_str(), Self::encode(&entry).as_slice())
                    .map_err(|e| err(e.into()))?;
                added += 1;
            }
        }
        tx.commit().map_err(|e| err(e.into()))?;
        Ok(added)
    }

    /// How many files are pending: announced, not confirmed yet.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Applies a committed transaction's change of the pending count.
    fn count(&self, delta: i64) {
        if delta >= 0 {
            self.pending.fetch_add(delta as usize, Ordering::Relaxed);
        } else {
            let down = delta.unsigned_abs() as usize;
            let _ = self
                .pending
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(down))
                });
        }
    }

    /// 1 when the stored `old` value (if any) is an unconfirmed entry.
    fn was_pending(old: Option<redb::AccessGuard<'_, &[u8]>>) -> i64 {
        old.and_then(|v| serde_json::from_slice::<Entry>(v.value()).ok())
            .is_some_and(|e| !e.confirmed) as i64
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db_err(&self, op: &'static str, e: impl Into<redb::Error>) -> StoreError {
        StoreError::Db {
            path: self.path.to_path_buf(),
            op,
            source: Box::new(e.into()),
        }
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Result<Entry, StoreError> {
        serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            source,
        })
    }

    /// A key read back, as the path it names; `None` (with a warning) for a key that is
    /// not a relative path under the data directory, which this service never writes:
    /// a store edited by hand or by another program must not stop the watcher.
    fn key(&self, key: &str) -> Option<RelPath> {
        match RelPath::parse(key) {
            Ok(rel) => Some(rel),
            Err(_) => {
                tracing::warn!(
                    store = %self.path.display(),
                    key,
                    "announce store entry skipped: its key is not a relative path under the data directory, so wis2-watch did not write it; move the store away to start afresh if it matters (files already there are announced again)"
                );
                None
            }
        }
    }

    fn encode(entry: &Entry) -> Vec<u8> {
        serde_json::to_vec(entry).expect("an entry is numbers, strings and a unit enum")
    }

    /// The entry for `rel`, if any.
    pub fn get(&self, rel: &str) -> Result<Option<Entry>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.db_err("read", e))?;
        let table = tx
            .open_table(ANNOUNCED)
            .map_err(|e| self.db_err("read", e))?;
        match table.get(rel).map_err(|e| self.db_err("read", e))? {
            Some(v) => Ok(Some(self.decode(rel, v.value())?)),
            None => Ok(None),
        }
    }

    /// Inserts or replaces the entry for `rel` (call it once the announcement is
    /// published).
    pub fn record(&self, rel: &RelPath, entry: &Entry) -> Result<(), StoreError> {
        self.record_many(&[(rel.clone(), entry.clone())])
    }

    /// Records several entries in one transaction (one fsync for a burst of files).
    pub fn record_many(&self, entries: &[(RelPath, Entry)]) -> Result<(), StoreError> {
        let mut delta = 0i64;
        let tx = self.db.begin_write().map_err(|e| self.db_err("write", e))?;
        {
            let mut table = tx
                .open_table(ANNOUNCED)
                .map_err(|e| self.db_err("write", e))?;
            let mut pending = tx
                .open_table(PENDING)
                .map_err(|e| self.db_err("write", e))?;
            for (rel, entry) in entries {
                let old = table
                    .insert(rel.as_str(), Self::encode(entry).as_slice())
                    .map_err(|e| self.db_err("write", e))?;
                delta += i64::from(!entry.confirmed) - Self::was_pending(old);
                if entry.confirmed {
                    pending.remove(rel.as_str())
                } else {
                    pending.insert(rel.as_str(), entry.announced_at_ns)
                }
                .map_err(|e| self.db_err("write", e))?;
            }
        }
        tx.commit().map_err(|e| self.db_err("write", e))?;
        self.count(delta);
        Ok(())
    }

    /// Makes every earlier commit durable (the confirmations), with one fsync.
    pub fn flush(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(|e| self.db_err("flush", e))?;
        tx.commit().map_err(|e| self.db_err("flush", e))
    }

    /// Forgets `rel` (no error if unknown).
    pub fn remove(&self, rel: &str) -> Result<(), StoreError> {
        let mut delta = 0i64;
        let tx = self
            .db
            .begin_write()
            .map_err(|e| self.db_err("remove", e))?;
        {
            let mut table = tx
                .open_table(ANNOUNCED)
                .map_err(|e| self.db_err("remove", e))?;
            let old = table.remove(rel).map_err(|e| self.db_err("remove", e))?;
            delta -= Self::was_pending(old);
            let mut pending = tx
                .open_table(PENDING)
                .map_err(|e| self.db_err("remove", e))?;
            pending.remove(rel).map_err(|e| self.db_err("remove", e))?;
        }
        tx.commit().map_err(|e| self.db_err("remove", e))?;
        self.count(delta);
        Ok(())
    }

    /// Marks the entry for `rel` confirmed if its stored event id is `event_id`; a
    /// confirmed deletion (tombstone) is removed. Returns whether it matched (a
    /// confirmation of an older event, superseded by a newer announcement, returns
    /// `false` and changes nothing).
    pub fn confirm(&self, rel: &str, event_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .confirm_many(&[(rel.to_string(), event_id.to_string())])?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// [`AnnounceStore::confirm`] for several (rel, event_id) pairs, in order, in one
    /// transaction; whether each matched. Not durable by itself (see the module's
    /// documentation).
    pub fn confirm_many(&self, pairs: &[(String, String)]) -> Result<Vec<bool>, StoreError> {
        let err = |e: redb::Error| self.db_err("confirm", e);
        let mut delta = 0i64;
        let mut tx = self.db.begin_write().map_err(|e| err(e.into()))?;
        tx.set_durability(redb::Durability::None);
        let mut matched = Vec::with_capacity(pairs.len());
        {
            let mut table = tx.open_table(ANNOUNCED).map_err(|e| err(e.into()))?;
            let mut pending = tx.open_table(PENDING).map_err(|e| err(e.into()))?;
            for (rel, event_id) in pairs {
                let current = match table.get(rel.as_str()).map_err(|e| err(e.into()))? {
                    Some(v) => Some(self.decode(rel, v.value())?),
                    None => None,
                };
                let hit = match current {
                    Some(entry) if entry.event_id == *event_id => {
                        delta -= i64::from(!entry.confirmed);
                        pending.remove(rel.as_str()).map_err(|e| err(e.into()))?;
                        if entry.is_live() {
                            let updated = Entry {
                                confirmed: true,
                                ..entry
                            };
                            table
                                .insert(rel.as_str(), Self::encode(&updated).as_slice())
                                .map_err(|e| err(e.into()))?;
                        } else {
                            table.remove(rel.as_str()).map_err(|e| err(e.into()))?;
                        }
                        true
                    }
                    _ => false,
                };
                matched.push(hit);
            }
        }
        if matched.iter().any(|m| *m) {
            tx.commit().map_err(|e| err(e.into()))?;
            self.count(delta);
        } else {
            tx.abort().map_err(|e| err(e.into()))?;
        }
        Ok(matched)
    }

    /// Unconfirmed entries announced at least `age` ago, oldest first (to re-announce).
    pub fn unconfirmed_older_than(
        &self,
        age: Duration,
    ) -> Result<Vec<(RelPath, Entry)>, StoreError> {
        let age_ns = i64::try_from(age.as_nanos()).unwrap_or(i64::MAX);
        self.unconfirmed_announced_before(system_time_ns(SystemTime::now()).saturating_sub(age_ns))
    }

    /// Unconfirmed entries announced at `cutoff_ns` (Unix nanoseconds) or before,
    /// oldest first (read from the pending table: at most `WIS2_MAX_PENDING` of them).
    pub fn unconfirmed_announced_before(
        &self,
        cutoff: i64,
    ) -> Result<Vec<(RelPath, Entry)>, StoreError> {
        let err = |e: redb::Error| self.db_err("read", e);
        let tx = self.db.begin_read().map_err(|e| err(e.into()))?;
        let pending = tx.open_table(PENDING).map_err(|e| err(e.into()))?;
        let table = tx.open_table(ANNOUNCED).map_err(|e| err(e.into()))?;
        let mut out = Vec::new();
        for item in pending.iter().map_err(|e| err(e.into()))? {
            let (k, at) = item.map_err(|e| err(e.into()))?;
            if at.value() > cutoff {
                continue;
            }
            let Some(key) = self.key(k.value()) else {
                continue;
            };
            if let Some(v) = table.get(k.value()).map_err(|e| err(e.into()))? {
                let entry = self.decode(key.as_str(), v.value())?;
                if !entry.confirmed {
                    out.push((key, entry));
                }
            }
        }
        out.sort_by_key(|(_, e)| e.announced_at_ns);
        Ok(out)
    }

    /// At most `n` entries in key order, from the first key after `after` (from the
    /// first key if `None`): one short read transaction per page, so that a scan of
    /// millions of files holds neither them in memory nor a read transaction open.
    pub fn page(&self, after: Option<&str>, n: usize) -> Result<Vec<(RelPath, Entry)>, StoreError> {
        use std::ops::Bound;
        let err = |e: redb::Error| self.db_err("read", e);
        let tx = self.db.begin_read().map_err(|e| err(e.into()))?;
        let table = tx.open_table(ANNOUNCED).map_err(|e| err(e.into()))?;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut out = Vec::with_capacity(n.min(4096));
        for item in table
            .range::<&str>((from, Bound::Unbounded))
            .map_err(|e| err(e.into()))?
        {
            if out.len() >= n {
                break;
            }
            let (k, v) = item.map_err(|e| err(e.into()))?;
            let Some(key) = self.key(k.value()) else {
                continue;
            };
            let entry = self.decode(key.as_str(), v.value())?;
            out.push((key, entry));
        }
        Ok(out)
    }

    /// How many files the store knows (entries, tombstones included).
    pub fn len(&self) -> Result<u64, StoreError> {
        let err = |e: redb::Error| self.db_err("read", e);
        let tx = self.db.begin_read().map_err(|e| err(e.into()))?;
        let table = tx.open_table(ANNOUNCED).map_err(|e| err(e.into()))?;
        table.len().map_err(|e| err(e.into()))
    }

    /// Whether the store knows no file.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Every entry, by path (tests: a real store is read a page at a time).
    #[cfg(test)]
    pub fn all(&self) -> Result<Vec<(RelPath, Entry)>, StoreError> {
        self.page(None, usize::MAX)
    }

    /// Entries at `rel` or below it (`rel/...`), for a removed file or directory.
    pub fn under(&self, rel: &str) -> Result<Vec<(RelPath, Entry)>, StoreError> {
        let prefix = format!("{rel}/");
        let tx = self.db.begin_read().map_err(|e| self.db_err("read", e))?;
        let table = tx
            .open_table(ANNOUNCED)
            .map_err(|e| self.db_err("read", e))?;
        let mut out = Vec::new();
        for item in table
            .range::<&str>(rel..)
            .map_err(|e| self.db_err("read", e))?
        {
            let (k, v) = item.map_err(|e| self.db_err("read", e))?;
            let key = k.value();
            if key != rel && !key.starts_with(&prefix) {
                // Keys sort bytewise: after `rel` come `rel!...`, `rel-...`, `rel.…`
                // (all below '/') before `rel/...`, so only stop past the prefix.
                if key > prefix.as_str() {
                    break;
                }
                continue;
            }
            let Some(key) = self.key(key) else {
                continue;
            };
            let entry = self.decode(key.as_str(), v.value())?;
            out.push((key, entry));
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
