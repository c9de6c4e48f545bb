//! WIS2_OUTPUT: where published messages are also written. A folder (an existing
//! directory, or a path ending with `/`) gets them in one of two layouts
//! (`--output-layout` / `WIS2_OUTPUT_LAYOUT`): `hourly` (the default), one JSON-lines
//! file per hour of publication ([`crate::jsonl`]: a burst costs one append, not one
//! inode per message), or `files`, one file per message, written atomically
//! (temporary file, then rename). A file gets the latest message.
//!
//! The copies are written after the broker acknowledged the messages and they are
//! recorded in the publication store, where they are pending until written, so that a
//! crash writes each exactly once ([`OutputWriter::recover`] at the next start).
//! A failed write (disk full, read-only folder)
//! loses nothing but the copy, and not even that: [`OutputWriter`] logs an error
//! naming WIS2_OUTPUT and the fix, and queues the write in a bounded, persistent retry
//! queue (`<WIS2_STATE_DIR>/output-retry.redb`, `--output-retry`, default 1000), retried
//! every `--output-retry-ms` and at the next start. The input is acknowledged anyway:
//! the message is on the WIS2 topic and in the store, so holding the input back would
//! only re-deliver a duplicate. When the retry queue is full, the copy of the newest
//! message is dropped with an error naming it. For a file target only the latest
//! message matters: a successful write clears older pending retries.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::jsonl::{self, Appender};
use crate::queue::{DiskQueue, Pushed, QueueError, Queued};
use crate::store::PublishedStore;

/// How a folder holds the messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// One JSON-lines file per hour of publication (`wis2-messages-<hour>Z.jsonl`).
    #[default]
    Hourly,
    /// One `<data file name>.<message id>.json` per message.
    Files,
}

/// Where published messages are written.
#[derive(Debug, Clone)]
pub enum OutputTarget {
    /// One JSON-lines file per hour.
    Hourly(PathBuf),
    /// One `<data file name>.<message id>.json` per message.
    Folder(PathBuf),
    /// The latest message.
    File(PathBuf),
}

/// The output path cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("WIS2_OUTPUT {path}: {source}; give a writable file, or a folder ending with /")]
pub struct OutputError {
    pub path: String,
    #[source]
    pub source: io::Error,
}

impl OutputTarget {
    /// Decides between folder (in `layout`) and file, and creates what is missing.
    pub fn new(path: PathBuf, layout: Layout) -> Result<Self, OutputError> {
        let err = |source| OutputError {
            path: path.display().to_string(),
            source,
        };
        let as_folder = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
        if as_folder {
            std::fs::create_dir_all(&path).map_err(err)?;
            Ok(match layout {
                Layout::Hourly => OutputTarget::Hourly(path),
                Layout::Files => OutputTarget::Folder(path),
            })
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(err)?;
            }
            Ok(OutputTarget::File(path))
        }
    }

    /// The file a message goes to (its hour's, its own, or the target file).
    pub fn path_of(&self, item: &Queued) -> PathBuf {
        match self {
            OutputTarget::Hourly(dir) => dir.join(jsonl::file_name(&item.pubtime)),
            OutputTarget::Folder(dir) => Self::own_file(dir, &item.data_id, &item.message_id),
            OutputTarget::File(p) => p.clone(),
        }
    }

    fn own_file(dir: &Path, data_id: &str, message_id: &str) -> PathBuf {
        let name = data_id.rsplit('/').next().unwrap_or("message");
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        dir.join(format!("{safe}.{message_id}.json"))
    }

    /// Writes one published message as its own file (a folder's `files` layout, or
    /// the target file); returns where.
    fn write_own(&self, item: &Queued) -> Result<PathBuf, OutputError> {
        let path = self.path_of(item);
        write_atomic(&path, item.message.as_bytes()).map_err(|source| OutputError {
            path: path.display().to_string(),
            source,
        })?;
        Ok(path)
    }
}

/// Writes published messages to the target, with retries for failed writes.
#[derive(Clone)]
pub struct OutputWriter {
    target: OutputTarget,
    retry: DiskQueue,
    /// The hourly files' appender (one writer at a time).
    appender: Option<Arc<Mutex<Appender>>>,
}

impl OutputWriter {
    /// `target` with its retry queue at `retry_path` holding at most `capacity` writes.
    pub fn new(target: OutputTarget, retry_path: &Path, capacity: u64) -> Result<Self, QueueError> {
        let appender = match &target {
            OutputTarget::Hourly(dir) => Some(Arc::new(Mutex::new(Appender::new(dir.clone())))),
            _ => None,
        };
        Ok(OutputWriter {
            target,
            retry: DiskQueue::open(retry_path, capacity)?,
            appender,
        })
    }

    /// Writes `items` (one append for the hourly layout), without retry.
    fn write_now(&self, items: &[Queued]) -> Result<Vec<PathBuf>, OutputError> {
        match (&self.target, &self.appender) {
            (OutputTarget::Hourly(dir), Some(appender)) => {
                let mut a = appender.lock().unwrap_or_else(|e| e.into_inner());
                a.append(
                    items
                        .iter()
                        .map(|i| (i.pubtime.as_str(), i.message.as_str())),
                )
                .map_err(|source| OutputError {
                    path: dir.display().to_string(),
                    source,
                })
            }
            (OutputTarget::File(_), _) => match items.last() {
                Some(last) => self.target.write_own(last).map(|p| vec![p]),
                None => Ok(Vec::new()),
            },
            _ => items.iter().map(|i| self.target.write_own(i)).collect(),
        }
    }

    /// Writes published messages now (in one append for the hourly layout), or queues
    /// them for a retry (blocking).
    pub fn write_batch(&self, items: &[Queued]) {
        if items.is_empty() {
            return;
        }
        match self.write_now(items) {
            Ok(paths) => {
                tracing::debug!(
                    files = paths.len(),
                    messages = items.len(),
                    "written to WIS2_OUTPUT"
                );
                if matches!(self.target, OutputTarget::File(_))
                    && let Err(e) = self.retry.clear()
                {
                    tracing::warn!(error = %e, "cannot clear the output retry queue");
                }
            }
            Err(e) => {
                let items = if matches!(self.target, OutputTarget::File(_)) {
                    // Only the latest message belongs in a file.
                    let _ = self.retry.clear();
                    &items[items.len() - 1..]
                } else {
                    items
                };
                match self.retry.push_many(items) {
                    Ok(pushed) => {
                        for (item, p) in items.iter().zip(pushed) {
                            self.queued_for_retry(&e, item, Ok(p));
                        }
                    }
                    Err(q) => {
                        for item in items {
                            self.queued_for_retry(&e, item, Err(&q));
                        }
                    }
                }
            }
        }
    }

    fn queued_for_retry(
        &self,
        e: &OutputError,
        item: &Queued,
        pushed: Result<Pushed, &QueueError>,
    ) {
        match pushed {
            Ok(Pushed::Queued { len }) => tracing::error!(
                error = %e,
                message_id = item.message_id,
                data_id = item.data_id,
                waiting = len,
                "cannot write the published message to WIS2_OUTPUT (it is published and recorded): make WIS2_OUTPUT writable and free space; the write is retried"
            ),
            Ok(Pushed::Full { capacity }) => tracing::error!(
                error = %e,
                message_id = item.message_id,
                data_id = item.data_id,
                capacity,
                "cannot write the published message to WIS2_OUTPUT and the retry queue is full (--output-retry): this copy is DROPPED (the message is published and recorded); make WIS2_OUTPUT writable"
            ),
            Err(q) => tracing::error!(
                error = %e,
                queue_error = %q,
                message_id = item.message_id,
                "cannot write the published message to WIS2_OUTPUT nor queue a retry: this copy is DROPPED (the message is published and recorded)"
            ),
        }
    }

    /// At start: writes the copies an earlier run recorded and may not have written
    /// (a crash between the record and the write), each once: a copy already in its
    /// file is not written again. Returns how many were written now.
    pub fn recover(&self, store: &PublishedStore) -> usize {
        let pending = match store.pending_copies() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the pending WIS2_OUTPUT copies");
                return 0;
            }
        };
        if pending.is_empty() {
            return 0;
        }
        let keys: Vec<u64> = pending.iter().map(|(k, _)| *k).collect();
        let items: Vec<&Queued> = pending.iter().map(|(_, q)| q).collect();
        let present: Vec<bool> = match (&self.target, &self.appender) {
            (OutputTarget::Hourly(_), Some(appender)) => {
                let pairs: Vec<(&str, &str)> = items
                    .iter()
                    .map(|i| (i.pubtime.as_str(), i.message.as_str()))
                    .collect();
                let mut a = appender.lock().unwrap_or_else(|e| e.into_inner());
                match a.recover(&pairs) {
                    Ok(found) => (0..items.len()).map(|i| found.contains(&i)).collect(),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read WIS2_OUTPUT back: the pending copies are written again");
                        vec![false; items.len()]
                    }
                }
            }
            (OutputTarget::Folder(_), _) => items
                .iter()
                .map(|i| self.target.path_of(i).is_file())
                .collect(),
            // The latest message: written again, whatever the file holds.
            _ => vec![false; items.len()],
        };
        let missing: Vec<Queued> = items
            .iter()
            .zip(&present)
            .filter(|(_, p)| !**p)
            .map(|(i, _)| (*i).clone())
            .collect();
        self.write_batch(&missing);
        store.copies_written(&keys);
        if let Err(e) = store.flush_written() {
            tracing::warn!(error = %e, "cannot mark the recovered WIS2_OUTPUT copies written (they are looked for again at the next start)");
        }
        tracing::info!(
            pending = keys.len(),
            written_now = missing.len(),
            "WIS2_OUTPUT copies of the last run checked: each is written once"
        );
        missing.len()
    }

    /// Retries the queued writes in order, stopping at the first failure (blocking).
    /// Returns how many are still waiting.
    pub fn retry(&self) -> u64 {
        let batch = match self.retry.peek(256) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the output retry queue");
                return self.retry.len().unwrap_or(0);
            }
        };
        let mut done = Vec::new();
        for (key, item) in batch {
            let Some(item) = item else {
                done.push(key);
                continue;
            };
            match self.write_now(std::slice::from_ref(&item)) {
                Ok(_) => {
                    tracing::info!(
                        message_id = item.message_id,
                        "delayed write to WIS2_OUTPUT done"
                    );
                    done.push(key);
                }
                Err(e) => {
                    tracing::warn!(error = %e, message_id = item.message_id, "WIS2_OUTPUT still not writable; retrying later");
                    break;
                }
            }
        }
        if let Err(e) = self.retry.remove(&done) {
            tracing::error!(error = %e, "cannot update the output retry queue");
        }
        self.retry.len().unwrap_or(0)
    }

    /// Writes waiting for a retry.
    pub fn waiting(&self) -> u64 {
        self.retry.len().unwrap_or(0)
    }
}

fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_gets_one_file_per_message_and_file_gets_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let folder = OutputTarget::new(dir.path().join("out/"), Layout::Files).unwrap();
        let a = folder
            .write_own(&q("wis2/x/data/R1.nc", "id-1", "{}"))
            .unwrap();
        let b = folder
            .write_own(&q("wis2/x/data/R1.nc", "id-2", "{}"))
            .unwrap();
        assert_ne!(a, b);
        assert!(a.ends_with("R1.nc.id-1.json"));
        let file = OutputTarget::new(dir.path().join("last.json"), Layout::Hourly).unwrap();
        file.write_own(&q("d", "1", "first")).unwrap();
        let p = file.write_own(&q("d", "2", "second")).unwrap();
        assert_eq!(std::fs::read(p).unwrap(), b"second");
    }

    fn q(data_id: &str, id: &str, message: &str) -> Queued {
        Queued {
            topic: "t".into(),
            message_id: id.into(),
            data_id: data_id.into(),
            message: message.into(),
            pubtime: "2026-12-07T10:00:00Z".into(),
        }
    }

    #[test]
    fn failed_writes_are_retried() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let target =
            OutputTarget::new(PathBuf::from(format!("{}/", out.display())), Layout::Files).unwrap();
        let w = OutputWriter::new(target, &dir.path().join("retry.redb"), 10).unwrap();
        // A file where the folder was: writes fail (also for root).
        std::fs::remove_dir(&out).unwrap();
        std::fs::write(&out, b"").unwrap();
        let item = q("x/R1.nc", "m1", "{}");
        w.write_batch(std::slice::from_ref(&item));
        assert_eq!(w.waiting(), 1);
        assert_eq!(w.retry(), 1, "still failing");
        std::fs::remove_file(&out).unwrap();
        std::fs::create_dir(&out).unwrap();
        assert_eq!(w.retry(), 0);
        assert!(out.join("R1.nc.m1.json").exists());
    }
}

#[cfg(test)]
mod recovery_tests {
    use super::*;
    use crate::store::Published;
    use std::io::Write;
    use wis2::message::Relation;

    fn item(n: u32) -> Queued {
        Queued {
            topic: "origin/a/wis2/x/data/core/ocean".into(),
            message_id: format!("m{n}"),
            data_id: format!("x/R{n}.nc"),
            message: format!(r#"{{"id":"m{n}"}}"#),
            pubtime: "2026-12-07T10:00:00Z".into(),
        }
    }

    fn record(q: &Queued) -> (String, Published) {
        (
            q.data_id.clone(),
            Published {
                integrity: Some("i".into()),
                rel: Relation::Canonical,
                message_id: q.message_id.clone(),
                topic: q.topic.clone(),
                pubtime: q.pubtime.clone(),
                published_at: q.pubtime.clone(),
                data_id: q.data_id.clone(),
            },
        )
    }

    /// A crash after the record of three copies: the first written, the second torn,
    /// the third not written. The next start writes each exactly once.
    #[test]
    fn a_crash_between_record_and_write_writes_each_copy_once() {
        let dir = tempfile::tempdir().expect("dir");
        let out = dir.path().join("out");
        let state = dir.path().join("state");
        let items: Vec<Queued> = (1..=3).map(item).collect();
        let file = out.join(jsonl::file_name(&items[0].pubtime));
        {
            let store = PublishedStore::open(&state).expect("store");
            let records: Vec<_> = items.iter().map(record).collect();
            let keys = store.record_with_copies(&records, &items).expect("record");
            assert_eq!(keys.len(), 3);
            std::fs::create_dir_all(&out).expect("out");
            let mut f = std::fs::File::create(&file).expect("file");
            writeln!(f, "{}", items[0].message).expect("first");
            f.write_all(&items[1].message.as_bytes()[..5])
                .expect("torn");
        }
        let store = PublishedStore::open(&state).expect("reopen");
        assert_eq!(store.pending_copies().expect("pending").len(), 3);
        let target = OutputTarget::new(format!("{}/", out.display()).into(), Layout::Hourly)
            .expect("target");
        let w = OutputWriter::new(target, &state.join("retry.redb"), 10).expect("writer");
        assert_eq!(w.recover(&store), 2, "the torn one and the missing one");
        let text = std::fs::read_to_string(&file).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [r#"{"id":"m1"}"#, r#"{"id":"m2"}"#, r#"{"id":"m3"}"#]
        );
        assert!(store.pending_copies().expect("pending").is_empty());
        // A new copy goes under a new key, after the old ones.
        let more = [item(4)];
        let keys = store
            .record_with_copies(&[record(&more[0])], &more)
            .expect("record");
        assert_eq!(keys, [3]);
        w.write_batch(&more);
        store.copies_written(&keys);
        store.flush_written().expect("flush");
        assert!(store.pending_copies().expect("pending").is_empty());
        assert_eq!(w.recover(&store), 0);
        assert_eq!(
            std::fs::read_to_string(&file)
                .expect("read")
                .lines()
                .count(),
            4
        );
    }
}
