//! What `wis2-publish` published: the last state of every `data_id` (its integrity
//! value, or that it was deleted), in a redb file that survives restarts and crashes.
//!
//! A validated message whose `data_id` was last published with the same integrity
//! (or a deletion of a `data_id` already deleted) is a duplicate: a redelivery after a
//! crash, or a re-announcement of a file whose confirmation was lost. It is not
//! published again; its confirmation is. A changed file (new integrity) and a file
//! created again after a deletion are published.
//!
//! Limit: the state is recorded once the broker acknowledged the publication. A crash
//! between that acknowledgement and the write leaves one message that may be
//! published twice (at-least-once for that window).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, TableDefinition};
use serde::{Deserialize, Serialize};

const LAST: TableDefinition<&str, &[u8]> = TableDefinition::new("last_published");

/// The state a `data_id` was last published in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// Integrity value, or `None` for a deletion.
    pub integrity: Option<String>,
    pub rel: String,
    pub message_id: String,
    pub topic: String,
    pub pubtime: String,
    /// When the broker acknowledged it (RFC3339).
    pub published_at: String,
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

/// Handle of the store (cheap to clone).
#[derive(Clone)]
pub struct PublishedStore {
    db: Arc<Database>,
    path: PathBuf,
}

impl PublishedStore {
    /// Opens (or creates) `<dir>/published.redb`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("published.redb");
        let err = |m: String| StoreError {
            path: path.display().to_string(),
            message: m,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let db = Database::create(&path).map_err(|e| err(e.to_string()))?;
        let tx = db.begin_write().map_err(|e| err(e.to_string()))?;
        tx.open_table(LAST).map_err(|e| err(e.to_string()))?;
        tx.commit().map_err(|e| err(e.to_string()))?;
        Ok(PublishedStore {
            db: Arc::new(db),
            path,
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// The last published state of `data_id`.
    pub fn last(&self, data_id: &str) -> Result<Option<Published>, StoreError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(LAST).map_err(|e| self.err(e))?;
        let Some(v) = t.get(data_id).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| self.err(e))
    }

    /// Whether publishing `integrity` (None: a deletion) for `data_id` would repeat
    /// its last published state.
    pub fn is_duplicate(&self, data_id: &str, integrity: Option<&str>) -> Result<bool, StoreError> {
        Ok(self
            .last(data_id)?
            .is_some_and(|p| p.integrity.as_deref() == integrity))
    }

    /// Records a publication acknowledged by the broker.
    pub fn record(&self, data_id: &str, p: &Published) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(p).map_err(|e| self.err(e))?;
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = tx.open_table(LAST).map_err(|e| self.err(e))?;
            t.insert(data_id, bytes.as_slice())
                .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// How many data_ids are known.
    pub fn len(&self) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata;
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(LAST).map_err(|e| self.err(e))?;
        t.len().map_err(|e| self.err(e))
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(integrity: Option<&str>, rel: &str) -> Published {
        Published {
            integrity: integrity.map(str::to_string),
            rel: rel.into(),
            message_id: "m".into(),
            topic: "t".into(),
            pubtime: "2026-01-01T00:00:00Z".into(),
            published_at: "2026-01-01T00:00:01Z".into(),
        }
    }

    #[test]
    fn duplicates_changes_and_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let s = PublishedStore::open(dir.path()).unwrap();
        assert!(!s.is_duplicate("d", Some("A")).unwrap());
        s.record("d", &p(Some("A"), "canonical")).unwrap();
        assert!(s.is_duplicate("d", Some("A")).unwrap());
        assert!(
            !s.is_duplicate("d", Some("B")).unwrap(),
            "a change is published"
        );
        assert!(
            !s.is_duplicate("d", None).unwrap(),
            "a deletion is published"
        );
        s.record("d", &p(None, "deletion")).unwrap();
        assert!(s.is_duplicate("d", None).unwrap());
        assert!(
            !s.is_duplicate("d", Some("A")).unwrap(),
            "created again after a deletion"
        );
        drop(s);
        let s = PublishedStore::open(dir.path()).unwrap();
        assert!(s.is_duplicate("d", None).unwrap(), "survives a restart");
        assert_eq!(s.len().unwrap(), 1);
    }
}
