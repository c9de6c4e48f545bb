//! What `wis2-publish` published, in a redb file (`<WIS2_STATE_DIR>/published.redb`)
//! that survives restarts and crashes. Two tables:
//!
//! - `last_published`: `data_id` → the state it was last published in ([`Published`]:
//!   integrity value, or none for a deletion, and `rel`). This is the duplicate key:
//!   (data_id, integrity value or "deletion", rel).
//! - `messages`: WNM `id` → the same record (audit: message id, data_id, topic,
//!   pubtime, when the broker acknowledged it). A message whose id is here was
//!   published: a redelivery of it is a duplicate whatever its state.
//!
//! A validated message is a duplicate when its id was published, or when its
//! `data_id` was last published with the same integrity and `rel` (a redelivery after a
//! crash, or a re-announcement of a file whose confirmation was lost). It is not
//! published again; its confirmation is. A changed file (new integrity) and a file
//! created again after a deletion are published: only the *last* state of a data_id
//! counts, so going back to an earlier content is a change too.
//!
//! - `output_pending`: the WIS2_OUTPUT copies of the messages recorded, until they are
//!   written (see [`crate::jsonl`]): committed with the records, removed with the next
//!   commit after their write, so that a crash in between writes each exactly once.
//!
//! Crash window: the record is written once the broker acknowledged the publication,
//! before the input is acknowledged. A crash between the PUBACK and the commit is
//! repaired at the next start by the read-back of the WIS2 topic
//! ([`crate::echo`]), which records what it finds there that this store does not know.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use wis2::message::Relation;

use crate::queue::Queued;

const LAST: TableDefinition<&str, &[u8]> = TableDefinition::new("last_published");
const MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("messages");
const PENDING: TableDefinition<u64, &[u8]> = TableDefinition::new("output_pending");

/// A publication acknowledged by the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// Integrity value, or `None` for a deletion.
    pub integrity: Option<String>,
    pub rel: Relation,
    pub message_id: String,
    pub topic: String,
    pub pubtime: String,
    /// When the broker acknowledged it (RFC3339).
    pub published_at: String,
    /// The `data_id` (absent in records of older versions).
    #[serde(default)]
    pub data_id: String,
}

/// Why a message is not published again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Not published before: publish it.
    New,
    /// This very message id was published (a redelivery).
    SameMessage(Published),
    /// The data_id was last published in this state (integrity and rel).
    SameState(Published),
}

/// The store cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "publication store {path}: {message}; check that WIS2_STATE_DIR is writable and used by one wis2-publish only"
)]
pub struct StoreError {
    pub path: String,
    pub message: String,
}

/// Handle of the store (cheap to clone). Synchronous: call it from the blocking pool.
#[derive(Clone)]
pub struct PublishedStore {
    db: Arc<Database>,
    path: PathBuf,
    group: Arc<GroupCommit>,
}

/// Group commit: the records of messages acknowledged at about the same time (the
/// post-acknowledgement steps run concurrently) are committed in one transaction, so
/// one fsync serves them all. The first caller to find no commit running becomes the
/// leader: it takes every record waiting, commits them, wakes the others and goes on
/// while records keep arriving; the others wait until the batch holding theirs is
/// committed. Alone, a record is committed at once, as before.
#[derive(Default)]
struct GroupCommit {
    state: std::sync::Mutex<GroupState>,
    done: std::sync::Condvar,
}

/// What one commit writes.
#[derive(Default)]
struct Batch {
    /// Records: (data_id, message id, encoded record).
    records: Vec<(String, String, Vec<u8>)>,
    /// Output copies, under their keys.
    copies: Vec<(u64, Vec<u8>)>,
    /// Output copies written, to remove.
    written: Vec<u64>,
}

#[derive(Default)]
struct GroupState {
    /// What waits for the next commit.
    waiting: Batch,
    /// The key of the next output copy.
    next_copy: u64,
    /// The number of the batch the waiting records will be committed in.
    open: u64,
    /// Every batch up to this number (excluded) is over, committed or failed.
    over: u64,
    /// A leader is committing a batch.
    committing: bool,
    /// The batches that failed lately, with the error (rare; kept short).
    failed: std::collections::VecDeque<(u64, String)>,
}

/// redb's page cache of the store (see [`PublishedStore::open`]).
const CACHE_BYTES: usize = 8 << 20;

impl PublishedStore {
    /// Opens (or creates) `<dir>/published.redb`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("published.redb");
        let err = |m: String| StoreError {
            path: path.display().to_string(),
            message: m,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        // redb's default page cache (1 GiB) grows with the store: 450 MB of resident
        // memory after 300,000 messages (bench/archive.sh). Past it, reads go to the
        // kernel's page cache, which is not the service's memory.
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| err(e.to_string()))?;
        let tx = db.begin_write().map_err(|e| err(e.to_string()))?;
        tx.open_table(LAST).map_err(|e| err(e.to_string()))?;
        tx.open_table(MESSAGES).map_err(|e| err(e.to_string()))?;
        let next_copy = {
            let t = tx.open_table(PENDING).map_err(|e| err(e.to_string()))?;
            let last = t.last().map_err(|e| err(e.to_string()))?;
            last.map_or(0, |(k, _)| k.value() + 1)
        };
        tx.commit().map_err(|e| err(e.to_string()))?;
        let group = GroupCommit::default();
        group
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_copy = next_copy;
        Ok(PublishedStore {
            db: Arc::new(db),
            path,
            group: Arc::new(group),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    fn get(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
    ) -> Result<Option<Published>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(table).map_err(|e| self.err(e))?;
        let Some(v) = t.get(key).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| self.err(e))
    }

    /// The last published state of `data_id`.
    pub fn last(&self, data_id: &str) -> Result<Option<Published>, StoreError> {
        self.get(LAST, data_id)
    }

    /// The publication of message `id` (audit).
    pub fn message(&self, id: &str) -> Result<Option<Published>, StoreError> {
        self.get(MESSAGES, id)
    }

    /// Whether publishing `integrity` (None: a deletion) with `rel` for `data_id` would
    /// repeat its last published state.
    pub fn is_duplicate(
        &self,
        data_id: &str,
        integrity: Option<&str>,
        rel: Relation,
    ) -> Result<bool, StoreError> {
        Ok(self
            .last(data_id)?
            .is_some_and(|p| p.integrity.as_deref() == integrity && p.rel == rel))
    }

    /// Whether message `message_id` (for `data_id` in this state) was published already.
    /// `state_too: false` checks the message id only (periodic re-announcements).
    pub fn check(
        &self,
        message_id: &str,
        data_id: &str,
        integrity: Option<&str>,
        rel: Relation,
        state_too: bool,
    ) -> Result<Seen, StoreError> {
        if !message_id.is_empty()
            && let Some(p) = self.message(message_id)?
        {
            return Ok(Seen::SameMessage(p));
        }
        if state_too
            && let Some(p) = self.last(data_id)?
            && p.integrity.as_deref() == integrity
            && p.rel == rel
        {
            return Ok(Seen::SameState(p));
        }
        Ok(Seen::New)
    }

    /// Records a publication acknowledged by the broker (last state and audit entry,
    /// in one transaction, shared with the records of other threads that arrive
    /// meanwhile). Returns once the record is committed.
    pub fn record(&self, data_id: &str, p: &Published) -> Result<(), StoreError> {
        self.record_many(&[(data_id.to_string(), p.clone())])
    }

    /// Records several publications (`(data_id, record)`, in order) in one
    /// transaction, shared with the records of other threads that arrive meanwhile.
    /// Returns once they are committed.
    pub fn record_many(&self, records: &[(String, Published)]) -> Result<(), StoreError> {
        self.record_with_copies(records, &[]).map(drop)
    }

    /// Records several publications like [`Self::record_many`], and in the same
    /// transaction their output `copies` as pending; returns the copies' keys, for
    /// [`Self::copies_written`] once they are written.
    pub fn record_with_copies(
        &self,
        records: &[(String, Published)],
        copies: &[Queued],
    ) -> Result<Vec<u64>, StoreError> {
        if records.is_empty() && copies.is_empty() {
            return Ok(Vec::new());
        }
        let mut encoded = Vec::with_capacity(records.len());
        for (data_id, p) in records {
            let mut p = p.clone();
            p.data_id = data_id.clone();
            let bytes = serde_json::to_vec(&p).map_err(|e| self.err(e))?;
            encoded.push((p.data_id, p.message_id, bytes));
        }
        let mut copy_bytes = Vec::with_capacity(copies.len());
        for c in copies {
            copy_bytes.push(serde_json::to_vec(c).map_err(|e| self.err(e))?);
        }
        let g = &self.group;
        let mut st = g.state.lock().unwrap_or_else(|e| e.into_inner());
        st.waiting.records.extend(encoded);
        let first = st.next_copy;
        st.next_copy += copy_bytes.len() as u64;
        st.waiting.copies.extend((first..).zip(copy_bytes));
        let keys: Vec<u64> = (first..first + copies.len() as u64).collect();
        self.wait_for_batch(st).map(|()| keys)
    }

    /// Output copies written: removed from the pending ones with the next commit.
    pub fn copies_written(&self, keys: &[u64]) {
        let mut st = self.group.state.lock().unwrap_or_else(|e| e.into_inner());
        st.waiting.written.extend_from_slice(keys);
    }

    /// Commits the removals of written copies still waiting (at a stop).
    pub fn flush_written(&self) -> Result<(), StoreError> {
        let st = self.group.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.waiting.written.is_empty() {
            return Ok(());
        }
        self.wait_for_batch(st)
    }

    /// The output copies recorded and not known to be written, in order.
    pub fn pending_copies(&self) -> Result<Vec<(u64, Queued)>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(PENDING).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            match serde_json::from_slice::<Queued>(v.value()) {
                Ok(q) => out.push((k.value(), q)),
                Err(e) => {
                    tracing::error!(key = k.value(), error = %e, "an unreadable pending WIS2_OUTPUT copy is dropped");
                    self.copies_written(&[k.value()]);
                }
            }
        }
        Ok(out)
    }

    /// Waits until the batch open now is committed, leading it when no commit runs.
    fn wait_for_batch<'a>(
        &'a self,
        mut st: std::sync::MutexGuard<'a, GroupState>,
    ) -> Result<(), StoreError> {
        let g = &self.group;
        let mine = st.open;
        loop {
            if st.over > mine {
                return match st.failed.iter().find(|(b, _)| *b == mine) {
                    Some((_, e)) => Err(self.err(e)),
                    None => Ok(()),
                };
            }
            if st.committing {
                st = g.done.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Lead: commit every record waiting (ours among them, unless an
            // earlier leader took it, in which case `over` passes `mine` first).
            st.committing = true;
            let batch = std::mem::take(&mut st.waiting);
            let number = st.open;
            st.open += 1;
            drop(st);
            let result = self.commit(&batch);
            st = g.state.lock().unwrap_or_else(|e| e.into_inner());
            st.committing = false;
            st.over = number + 1;
            if let Err(e) = result {
                if st.failed.len() >= 64 {
                    st.failed.pop_front();
                }
                st.failed.push_back((number, e.message));
            }
            g.done.notify_all();
        }
    }

    /// Commits records in one transaction, in order (a later record of a data_id
    /// wins).
    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = tx.open_table(LAST).map_err(|e| self.err(e))?;
            let mut m = tx.open_table(MESSAGES).map_err(|e| self.err(e))?;
            for (data_id, id, bytes) in &batch.records {
                t.insert(data_id.as_str(), bytes.as_slice())
                    .map_err(|e| self.err(e))?;
                m.insert(id.as_str(), bytes.as_slice())
                    .map_err(|e| self.err(e))?;
            }
            let mut p = tx.open_table(PENDING).map_err(|e| self.err(e))?;
            for (key, bytes) in &batch.copies {
                p.insert(key, bytes.as_slice()).map_err(|e| self.err(e))?;
            }
            for key in &batch.written {
                p.remove(key).map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// How many data_ids are known.
    pub fn len(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(LAST).map_err(|e| self.err(e))?;
        t.len().map_err(|e| self.err(e))
    }

    /// How many messages were published (audit entries).
    pub fn messages(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(MESSAGES).map_err(|e| self.err(e))?;
        t.len().map_err(|e| self.err(e))
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(integrity: Option<&str>, rel: Relation) -> Published {
        Published {
            integrity: integrity.map(str::to_string),
            rel,
            message_id: "m".into(),
            topic: "t".into(),
            pubtime: "2026-01-01T00:00:00Z".into(),
            published_at: "2026-01-01T00:00:01Z".into(),
            data_id: String::new(),
        }
    }

    #[test]
    fn duplicates_changes_and_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let s = PublishedStore::open(dir.path()).unwrap();
        assert!(!s.is_duplicate("d", Some("A"), Relation::Canonical).unwrap());
        s.record("d", &p(Some("A"), Relation::Canonical)).unwrap();
        assert!(s.is_duplicate("d", Some("A"), Relation::Canonical).unwrap());
        assert!(
            !s.is_duplicate("d", Some("B"), Relation::Update).unwrap(),
            "a change is published"
        );
        assert!(
            !s.is_duplicate("d", None, Relation::Deletion).unwrap(),
            "a deletion is published"
        );
        let mut del = p(None, Relation::Deletion);
        del.message_id = "m2".into();
        s.record("d", &del).unwrap();
        assert!(s.is_duplicate("d", None, Relation::Deletion).unwrap());
        assert!(
            !s.is_duplicate("d", Some("A"), Relation::Canonical).unwrap(),
            "created again after a deletion"
        );
        drop(s);
        let s = PublishedStore::open(dir.path()).unwrap();
        assert!(
            s.is_duplicate("d", None, Relation::Deletion).unwrap(),
            "survives a restart"
        );
        assert_eq!(s.len().unwrap(), 1);
        assert_eq!(s.messages().unwrap(), 2, "one audit entry per message");
        let audit = s.message("m").unwrap().unwrap();
        assert_eq!(
            (audit.data_id.as_str(), audit.rel.as_str()),
            ("d", "canonical")
        );
    }

    #[test]
    fn a_redelivered_message_id_is_a_duplicate_even_for_a_reannouncement() {
        let dir = tempfile::tempdir().unwrap();
        let s = PublishedStore::open(dir.path()).unwrap();
        assert_eq!(
            s.check("m", "d", Some("A"), Relation::Canonical, true)
                .unwrap(),
            Seen::New
        );
        s.record("d", &p(Some("A"), Relation::Canonical)).unwrap();
        assert!(matches!(
            s.check("m", "d", Some("A"), Relation::Canonical, false)
                .unwrap(),
            Seen::SameMessage(_)
        ));
        assert!(matches!(
            s.check("m-new", "d", Some("A"), Relation::Canonical, true)
                .unwrap(),
            Seen::SameState(_)
        ));
        assert_eq!(
            s.check("m-new", "d", Some("A"), Relation::Canonical, false)
                .unwrap(),
            Seen::New,
            "a re-announcement with a new id is published"
        );
    }

    #[test]
    fn records_of_many_threads_are_all_committed_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = PublishedStore::open(dir.path()).unwrap();
        std::thread::scope(|scope| {
            for t in 0..8 {
                let s = s.clone();
                scope.spawn(move || {
                    for i in 0..50 {
                        let mut rec = p(Some(&format!("I{t}-{i}")), Relation::Canonical);
                        rec.message_id = format!("m{t}-{i}");
                        s.record(&format!("d{t}-{i}"), &rec).unwrap();
                        // Committed when record returns.
                        assert!(s.message(&rec.message_id).unwrap().is_some());
                    }
                });
            }
        });
        drop(s);
        let s = PublishedStore::open(dir.path()).unwrap();
        assert_eq!(s.len().unwrap(), 400);
        assert_eq!(s.messages().unwrap(), 400);
        assert!(
            s.is_duplicate("d7-49", Some("I7-49"), Relation::Canonical)
                .unwrap()
        );
    }
}
