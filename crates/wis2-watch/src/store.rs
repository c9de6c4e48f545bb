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

use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use wis2::event::FileChange;
use wis2::path::RelPath;

use crate::notice::{FileNotice, ns_system_time, system_time_ns};

const ANNOUNCED: TableDefinition<&str, &[u8]> = TableDefinition::new("announced");

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
        let db = Database::create(path).map_err(|source| match source {
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
        // Make sure the table exists so that readers never see "table missing".
        let tx = store
            .db
            .begin_write()
            .map_err(|e| store.db_err("open", e))?;
        tx.open_table(ANNOUNCED)
            .map_err(|e| store.db_err("open", e))?;
        tx.commit().map_err(|e| store.db_err("open", e))?;
        let pending = store.all()?.iter().filter(|(_, e)| !e.confirmed).count();
        store.pending.store(pending, Ordering::Relaxed);
        Ok(store)
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
            for (rel, entry) in entries {
                let old = table
                    .insert(rel.as_str(), Self::encode(entry).as_slice())
                    .map_err(|e| self.db_err("write", e))?;
                delta += i64::from(!entry.confirmed) - Self::was_pending(old);
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
            for (rel, event_id) in pairs {
                let current = match table.get(rel.as_str()).map_err(|e| err(e.into()))? {
                    Some(v) => Some(self.decode(rel, v.value())?),
                    None => None,
                };
                let hit = match current {
                    Some(entry) if entry.event_id == *event_id => {
                        delta -= i64::from(!entry.confirmed);
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
    /// oldest first.
    pub fn unconfirmed_announced_before(
        &self,
        cutoff: i64,
    ) -> Result<Vec<(RelPath, Entry)>, StoreError> {
        let mut out: Vec<(RelPath, Entry)> = self
            .all()?
            .into_iter()
            .filter(|(_, e)| !e.confirmed && e.announced_at_ns <= cutoff)
            .collect();
        out.sort_by_key(|(_, e)| e.announced_at_ns);
        Ok(out)
    }

    /// Every entry, by path.
    pub fn all(&self) -> Result<Vec<(RelPath, Entry)>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.db_err("read", e))?;
        let table = tx
            .open_table(ANNOUNCED)
            .map_err(|e| self.db_err("read", e))?;
        let mut out = Vec::new();
        for item in table.iter().map_err(|e| self.db_err("read", e))? {
            let (k, v) = item.map_err(|e| self.db_err("read", e))?;
            let Some(key) = self.key(k.value()) else {
                continue;
            };
            let entry = self.decode(key.as_str(), v.value())?;
            out.push((key, entry));
        }
        Ok(out)
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
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn rel(path: &str) -> RelPath {
        RelPath::parse(path).unwrap()
    }

    fn live(event_id: &str) -> Entry {
        Entry::new(
            FileChange::Created,
            Some(3),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            event_id,
        )
    }

    /// What a crash would leave: a copy of the file as it is on disk now.
    fn crash_copy(path: &Path, dir: &Path, name: &str) -> AnnounceStore {
        let copy = dir.join(name);
        std::fs::copy(path, &copy).unwrap();
        AnnounceStore::open(&copy).unwrap()
    }

    #[test]
    fn confirmations_are_durable_after_the_next_durable_commit_or_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("announced.redb");
        let s = AnnounceStore::open(&path).unwrap();
        s.record(&rel("a/x.nc"), &live("e1")).unwrap();
        assert!(s.confirm("a/x.nc", "e1").unwrap());
        assert!(s.get("a/x.nc").unwrap().unwrap().confirmed, "seen at once");
        // A crash now loses the confirmation: the file is announced again later.
        let lost = crash_copy(&path, dir.path(), "before-flush.redb");
        assert!(!lost.get("a/x.nc").unwrap().unwrap().confirmed);
        s.flush().unwrap();
        let kept = crash_copy(&path, dir.path(), "after-flush.redb");
        assert!(kept.get("a/x.nc").unwrap().unwrap().confirmed);
        // The next announcement's durable commit carries earlier confirmations too.
        s.record(&rel("a/y.nc"), &live("e2")).unwrap();
        assert!(s.confirm("a/y.nc", "e2").unwrap());
        s.record(&rel("a/z.nc"), &live("e3")).unwrap();
        let kept = crash_copy(&path, dir.path(), "after-record.redb");
        assert!(kept.get("a/y.nc").unwrap().unwrap().confirmed);
    }

    #[test]
    fn survives_reopen_and_creates_parent_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/deep/announced.redb");
        {
            let s = AnnounceStore::open(&path).unwrap();
            s.record(&rel("a/x.nc"), &live("e1")).unwrap();
        }
        let s = AnnounceStore::open(&path).unwrap();
        let e = s.get("a/x.nc").unwrap().unwrap();
        assert_eq!(e.event_id, "e1");
        assert_eq!(e.size, Some(3));
        assert_eq!(e.mtime_ns, Some(1_700_000_000_000_000_000));
        assert!(!e.confirmed);
        assert_eq!(s.all().unwrap().len(), 1);
        assert!(s.get("other").unwrap().is_none());
    }

    #[test]
    fn second_open_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.redb");
        let _s = AnnounceStore::open(&path).unwrap();
        // Within one process redb reports the second open as already open.
        match AnnounceStore::open(&path) {
            Err(e) => assert!(e.to_string().contains("a.redb"), "{e}"),
            Ok(_) => panic!("second open of the same store must fail"),
        }
    }

    #[test]
    fn unusable_path_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").unwrap();
        let err = AnnounceStore::open(&file.join("s.redb")).unwrap_err();
        assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
        assert!(err.to_string().contains("plain"), "{err}");
        let err = AnnounceStore::open(&file).unwrap_err();
        assert!(err.to_string().contains("plain"), "{err}");
    }

    #[test]
    fn confirm_matches_event_id_and_removes_tombstones() {
        let dir = tempfile::tempdir().unwrap();
        let s = AnnounceStore::open(&dir.path().join("s.redb")).unwrap();
        s.record(&rel("x.nc"), &live("e1")).unwrap();
        assert!(!s.confirm("x.nc", "other").unwrap());
        assert!(!s.get("x.nc").unwrap().unwrap().confirmed);
        assert!(!s.confirm("unknown", "e1").unwrap());
        assert!(s.confirm("x.nc", "e1").unwrap());
        assert!(s.get("x.nc").unwrap().unwrap().confirmed);

        s.record(
            &rel("x.nc"),
            &Entry::new(FileChange::Deleted, Some(3), None, "e2"),
        )
        .unwrap();
        let t = s.get("x.nc").unwrap().unwrap();
        assert!(!t.is_live());
        assert_eq!(t.size, None);
        assert!(s.confirm("x.nc", "e2").unwrap());
        assert!(s.get("x.nc").unwrap().is_none());

        s.record(&rel("y.nc"), &live("e3")).unwrap();
        s.remove("y.nc").unwrap();
        s.remove("y.nc").unwrap();
        assert!(s.all().unwrap().is_empty());
    }

    #[test]
    fn unconfirmed_older_than_lists_old_unconfirmed_only() {
        let dir = tempfile::tempdir().unwrap();
        let s = AnnounceStore::open(&dir.path().join("s.redb")).unwrap();
        let now = system_time_ns(SystemTime::now());
        let mut old = live("old");
        old.announced_at_ns = now - 3_600_000_000_000;
        let mut older = live("older");
        older.announced_at_ns = now - 7_200_000_000_000;
        let mut confirmed = live("c");
        confirmed.announced_at_ns = now - 7_200_000_000_000;
        confirmed.confirmed = true;
        s.record(&rel("old"), &old).unwrap();
        s.record(&rel("older"), &older).unwrap();
        s.record(&rel("confirmed"), &confirmed).unwrap();
        s.record(&rel("fresh"), &live("fresh")).unwrap();

        let due = s.unconfirmed_older_than(Duration::from_secs(60)).unwrap();
        let names: Vec<&str> = due.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["older", "old"]);
        let all = s.unconfirmed_older_than(Duration::ZERO).unwrap();
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn the_pending_count_follows_announcements_confirmations_and_removals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let s = AnnounceStore::open(&path).unwrap();
        assert_eq!(s.pending(), 0);
        let a = live("a");
        s.record_many(&[(rel("a"), a.clone()), (rel("b"), live("b"))])
            .unwrap();
        assert_eq!(s.pending(), 2);
        // Announced again before its confirmation: still one pending file.
        s.record(&rel("a"), &a).unwrap();
        assert_eq!(s.pending(), 2);
        assert_eq!(
            s.confirm_many(&[("a".into(), a.event_id.clone())]).unwrap(),
            [true]
        );
        assert_eq!(s.pending(), 1);
        // A confirmation of an older event changes nothing.
        assert_eq!(
            s.confirm_many(&[("b".into(), "old".into())]).unwrap(),
            [false]
        );
        assert_eq!(s.pending(), 1);
        s.remove("b").unwrap();
        s.remove("a").unwrap();
        assert_eq!(s.pending(), 0);
        s.record(&rel("c"), &live("c")).unwrap();
        drop(s);
        assert_eq!(
            AnnounceStore::open(&path).unwrap().pending(),
            1,
            "counted at open"
        );
    }

    #[test]
    fn under_lists_a_directory_subtree_only() {
        let dir = tempfile::tempdir().unwrap();
        let s = AnnounceStore::open(&dir.path().join("s.redb")).unwrap();
        for k in ["a", "a.nc", "a-b/x", "a/x", "a/y/z", "ab/x", "b"] {
            s.record(&rel(k), &live(k)).unwrap();
        }
        let keys: Vec<RelPath> = s.under("a").unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "a/x", "a/y/z"]);
        assert!(s.under("c").unwrap().is_empty());
    }

    #[test]
    fn keys_that_are_not_relative_paths_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let s = AnnounceStore::open(&dir.path().join("s.redb")).unwrap();
        s.record(&rel("a/x.nc"), &live("e1")).unwrap();
        // As a hand-edited store could hold them: wis2-watch never writes these.
        let tx = s.db.begin_write().unwrap();
        {
            let mut table = tx.open_table(ANNOUNCED).unwrap();
            let bytes = AnnounceStore::encode(&live("bad"));
            for k in ["a/../x.nc", "/a/y.nc", "a//z.nc"] {
                table.insert(k, bytes.as_slice()).unwrap();
            }
        }
        tx.commit().unwrap();
        let keys = |v: Vec<(RelPath, Entry)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(keys(s.all().unwrap()), ["a/x.nc"]);
        assert_eq!(keys(s.under("a").unwrap()), ["a/x.nc"]);
        assert_eq!(
            keys(s.unconfirmed_older_than(Duration::ZERO).unwrap()),
            ["a/x.nc"]
        );
    }

    #[test]
    fn notice_round_trip() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let n = FileNotice {
            change: FileChange::Updated,
            rel_path: rel("a/b.nc"),
            size: Some(9),
            modified: Some(t),
        };
        let e = Entry::announced(&n, "ev");
        assert!(e.same_file(&n));
        assert_eq!(e.notice(&rel("a/b.nc")), n);
        let mut other = n.clone();
        other.size = Some(10);
        assert!(!e.same_file(&other));
        let gone = Entry::new(FileChange::Deleted, Some(9), Some(t), "ev2");
        assert!(!gone.same_file(&n));
        assert_eq!(gone.notice(&rel("a/b.nc")).size, None);
    }

    #[test]
    fn handle_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<AnnounceStore>();
    }
}
