//! WIS2_OUTPUT: where published messages are also written. A folder (an existing
//! directory, or a path ending with `/`) gets one file per message; a file gets the
//! latest message. Writes are atomic (temporary file, then rename).
//!
//! The copy is written after the broker acknowledged the message and after it is
//! recorded in the publication store. A failed write (disk full, read-only folder)
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

use crate::queue::{DiskQueue, Pushed, QueueError, Queued};

/// Where published messages are written.
#[derive(Debug, Clone)]
pub enum OutputTarget {
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
    /// Decides between folder and file, and creates what is missing.
    pub fn new(path: PathBuf) -> Result<Self, OutputError> {
        let err = |source| OutputError {
            path: path.display().to_string(),
            source,
        };
        let as_folder = path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/');
        if as_folder {
            std::fs::create_dir_all(&path).map_err(err)?;
            Ok(OutputTarget::Folder(path))
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(err)?;
            }
            Ok(OutputTarget::File(path))
        }
    }

    /// Writes one published message; returns where.
    pub fn write(
        &self,
        data_id: &str,
        message_id: &str,
        message: &[u8],
    ) -> Result<PathBuf, OutputError> {
        let path = match self {
            OutputTarget::Folder(dir) => {
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
            OutputTarget::File(p) => p.clone(),
        };
        write_atomic(&path, message).map_err(|source| OutputError {
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
}

impl OutputWriter {
    /// `target` with its retry queue at `retry_path` holding at most `capacity` writes.
    pub fn new(target: OutputTarget, retry_path: &Path, capacity: u64) -> Result<Self, QueueError> {
        Ok(OutputWriter {
            target,
            retry: DiskQueue::open(retry_path, capacity)?,
        })
    }

    /// Writes one published message now, or queues it for a retry (blocking).
    pub fn write(&self, item: &Queued) {
        match self
            .target
            .write(&item.data_id, &item.message_id, item.message.as_bytes())
        {
            Ok(path) => {
                tracing::debug!(path = %path.display(), "written to WIS2_OUTPUT");
                if matches!(self.target, OutputTarget::File(_))
                    && let Err(e) = self.retry.clear()
                {
                    tracing::warn!(error = %e, "cannot clear the output retry queue");
                }
            }
            Err(e) => {
                if matches!(self.target, OutputTarget::File(_)) {
                    // Only the latest message belongs in a file.
                    let _ = self.retry.clear();
                }
                match self.retry.push(item) {
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
        }
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
            match self
                .target
                .write(&item.data_id, &item.message_id, item.message.as_bytes())
            {
                Ok(path) => {
                    tracing::info!(path = %path.display(), message_id = item.message_id, "delayed write to WIS2_OUTPUT done");
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
        let folder = OutputTarget::new(dir.path().join("out/")).unwrap();
        let a = folder.write("wis2/x/data/R1.nc", "id-1", b"{}").unwrap();
        let b = folder.write("wis2/x/data/R1.nc", "id-2", b"{}").unwrap();
        assert_ne!(a, b);
        assert!(a.ends_with("R1.nc.id-1.json"));
        let file = OutputTarget::new(dir.path().join("last.json")).unwrap();
        file.write("d", "1", b"first").unwrap();
        let p = file.write("d", "2", b"second").unwrap();
        assert_eq!(std::fs::read(p).unwrap(), b"second");
    }

    #[test]
    fn failed_writes_are_retried() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let target = OutputTarget::new(PathBuf::from(format!("{}/", out.display()))).unwrap();
        let w = OutputWriter::new(target, &dir.path().join("retry.redb"), 10).unwrap();
        // A file where the folder was: writes fail (also for root).
        std::fs::remove_dir(&out).unwrap();
        std::fs::write(&out, b"").unwrap();
        let item = Queued {
            topic: "t".into(),
            message_id: "m1".into(),
            data_id: "x/R1.nc".into(),
            message: "{}".into(),
        };
        w.write(&item);
        assert_eq!(w.waiting(), 1);
        assert_eq!(w.retry(), 1, "still failing");
        std::fs::remove_file(&out).unwrap();
        std::fs::create_dir(&out).unwrap();
        assert_eq!(w.retry(), 0);
        assert!(out.join("R1.nc.m1.json").exists());
    }
}
