//! A bounded, persistent FIFO of published messages (one redb file): the remote
//! broker's outbox and the output writes waiting for a retry.
//!
//! Items are kept under increasing `u64` keys, so they come out in the order they went
//! in, across restarts. An item is removed only by [`DiskQueue::remove`], which the
//! consumer calls once the item is safely delivered: a crash in between delivers it
//! again (at-least-once).
//!
//! The API is synchronous (each push, `push_many` and remove is one fsynced redb
//! commit); call it from the blocking pool, never from async code directly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

const ITEMS: TableDefinition<u64, &[u8]> = TableDefinition::new("items");

/// A published message waiting for another destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    /// The WIS2 topic it was published on.
    pub topic: String,
    /// The WNM `id`.
    pub message_id: String,
    pub data_id: String,
    /// The WNM, byte for byte as published (JSON text).
    pub message: String,
    /// Its `properties.pubtime` (the hour of the JSON-lines output file).
    #[serde(default)]
    pub pubtime: String,
}

/// The queue file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "queue {path}: {message}; check that WIS2_STATE_DIR is writable, not full, and used by one wis2-publish only"
)]
pub struct QueueError {
    pub path: String,
    pub message: String,
}

/// What [`DiskQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued; the queue now holds `len` items.
    Queued { len: u64 },
    /// The queue holds `capacity` items already: the item was not queued.
    Full { capacity: u64 },
}

/// Handle of a queue (cheap to clone).
#[derive(Clone)]
pub struct DiskQueue {
    db: Arc<Database>,
    path: PathBuf,
    capacity: u64,
    /// Woken on every push, for the consumer.
    pub notify: Arc<tokio::sync::Notify>,
}

impl DiskQueue {
    /// Opens (or creates) the queue file `path`, holding at most `capacity` items.
    /// Items left by a previous run are kept, even beyond a smaller capacity.
    pub fn open(path: &Path, capacity: u64) -> Result<Self, QueueError> {
        let err = |m: String| QueueError {
            path: path.display().to_string(),
            message: m,
        };
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let db = Database::create(path).map_err(|e| err(e.to_string()))?;
        let tx = db.begin_write().map_err(|e| err(e.to_string()))?;
        tx.open_table(ITEMS).map_err(|e| err(e.to_string()))?;
        tx.commit().map_err(|e| err(e.to_string()))?;
        Ok(DiskQueue {
            db: Arc::new(db),
            path: path.to_path_buf(),
            capacity: capacity.max(1),
            notify: Arc::new(tokio::sync::Notify::new()),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> QueueError {
        QueueError {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// The most items the queue takes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Appends `item` unless the queue is full.
    pub fn push(&self, item: &Queued) -> Result<Pushed, QueueError> {
        let mut pushed = self.push_many(std::slice::from_ref(item))?;
        Ok(pushed.pop().unwrap_or(Pushed::Full {
            capacity: self.capacity,
        }))
    }

    /// Appends `items`, in order, in one transaction (one fsync for all); each that
    /// finds the queue full is left out. One result per item.
    pub fn push_many(&self, items: &[Queued]) -> Result<Vec<Pushed>, QueueError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(items.len());
        {
            let mut t = tx.open_table(ITEMS).map_err(|e| self.err(e))?;
            let mut len = t.len().map_err(|e| self.err(e))?;
            let mut next = match t.last().map_err(|e| self.err(e))? {
                Some((k, _)) => k.value().saturating_add(1),
                None => 0,
            };
            for item in items {
                if len >= self.capacity {
                    out.push(Pushed::Full {
                        capacity: self.capacity,
                    });
                    continue;
                }
                let bytes = serde_json::to_vec(item).map_err(|e| self.err(e))?;
                t.insert(next, bytes.as_slice()).map_err(|e| self.err(e))?;
                next = next.saturating_add(1);
                len += 1;
                out.push(Pushed::Queued { len });
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        self.notify.notify_one();
        Ok(out)
    }

    /// The first `n` items, oldest first, with their keys. Unreadable items (a file
    /// written by another version) are returned as `None` so the caller can drop them.
    pub fn peek(&self, n: usize) -> Result<Vec<(u64, Option<Queued>)>, QueueError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(ITEMS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(|e| self.err(e))?.take(n) {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            out.push((k.value(), serde_json::from_slice(v.value()).ok()));
        }
        Ok(out)
    }

    /// Removes delivered items.
    pub fn remove(&self, keys: &[u64]) -> Result<(), QueueError> {
        if keys.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = tx.open_table(ITEMS).map_err(|e| self.err(e))?;
            for k in keys {
                t.remove(*k).map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Removes every item.
    pub fn clear(&self) -> Result<(), QueueError> {
        let tx = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = tx.open_table(ITEMS).map_err(|e| self.err(e))?;
            t.retain(|_, _| false).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// How many items are queued.
    pub fn len(&self) -> Result<u64, QueueError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = tx.open_table(ITEMS).map_err(|e| self.err(e))?;
        t.len().map_err(|e| self.err(e))
    }

    pub fn is_empty(&self) -> Result<bool, QueueError> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(i: usize) -> Queued {
        Queued {
            topic: "t".into(),
            message_id: format!("m{i}"),
            data_id: "d".into(),
            message: "{}".into(),
            pubtime: String::new(),
        }
    }

    #[test]
    fn push_many_is_one_transaction_in_order_up_to_the_capacity() {
        let dir = tempfile::tempdir().unwrap();
        let queue = DiskQueue::open(&dir.path().join("q.redb"), 3).unwrap();
        queue.push(&q(0)).unwrap();
        let pushed = queue.push_many(&[q(1), q(2), q(3)]).unwrap();
        assert_eq!(
            pushed,
            [
                Pushed::Queued { len: 2 },
                Pushed::Queued { len: 3 },
                Pushed::Full { capacity: 3 }
            ]
        );
        let ids: Vec<String> = queue
            .peek(10)
            .unwrap()
            .into_iter()
            .filter_map(|(_, i)| i.map(|i| i.message_id))
            .collect();
        assert_eq!(ids, ["m0", "m1", "m2"]);
        assert!(queue.push_many(&[]).unwrap().is_empty());
    }

    #[test]
    fn fifo_bounded_and_persistent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.redb");
        let queue = DiskQueue::open(&path, 3).unwrap();
        for i in 0..3 {
            assert_eq!(
                queue.push(&q(i)).unwrap(),
                Pushed::Queued { len: i as u64 + 1 }
            );
        }
        assert_eq!(queue.push(&q(3)).unwrap(), Pushed::Full { capacity: 3 });
        let first = queue.peek(2).unwrap();
        assert_eq!(first[0].1.as_ref().unwrap().message_id, "m0");
        queue.remove(&[first[0].0]).unwrap();
        assert_eq!(queue.push(&q(4)).unwrap(), Pushed::Queued { len: 3 });
        drop(queue);
        let queue = DiskQueue::open(&path, 3).unwrap();
        let ids: Vec<String> = queue
            .peek(10)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v.unwrap().message_id)
            .collect();
        assert_eq!(ids, ["m1", "m2", "m4"], "order kept across a reopen");
        queue.clear().unwrap();
        assert!(queue.is_empty().unwrap());
        // Keys keep growing after a clear only from what is left: an empty queue restarts at 0.
        queue.push(&q(5)).unwrap();
        assert_eq!(
            queue.peek(1).unwrap()[0].1.as_ref().unwrap().message_id,
            "m5"
        );
    }
}
