//! The hourly JSON-lines layout of WIS2_OUTPUT: every published message, byte for
//! byte as published, on one line of `<folder>/wis2-messages-<YYYY-MM-DDTHH>Z.jsonl`
//! (the hour of its `pubtime`, UTC), so that a burst of messages costs appends to one
//! file rather than one inode each.
//!
//! Exactly once, after a crash too: the copies of a batch are recorded as pending in
//! the publication store in the same transaction as the records ([`crate::store`]),
//! appended in one `write`, then marked written (the marks go out with the next
//! commit). At start, the pending copies are looked for in the tail of their file
//! ([`Appender::recover`]): a copy found is not written again, one missing is
//! appended, and a line torn by the crash is cut off first.
//!
//! Read them with any JSON-lines tool, e.g. `jq -c . wis2-messages-*.jsonl`, or
//! `tail -F` the current hour's file.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// How far back from the end of a file the recovery looks for a pending copy: the
/// copies pending at a crash are the last lines written (a few batches).
const RECOVERY_TAIL: u64 = 16 << 20;

/// Open files kept between batches (the current hour, the one before).
const OPEN_FILES: usize = 2;

/// The file of a message published at `pubtime` (RFC 3339; the hour of now when it
/// does not parse).
pub fn file_name(pubtime: &str) -> String {
    let hour = chrono::DateTime::parse_from_rfc3339(pubtime)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    format!("wis2-messages-{}Z.jsonl", hour.format("%Y-%m-%dT%H"))
}

/// One line of a message: the message itself when it is on one line (the chain's
/// messages are compact JSON), else its compact form.
pub fn line(message: &str) -> std::borrow::Cow<'_, str> {
    if !message.contains(['\n', '\r']) {
        return message.into();
    }
    match serde_json::from_str::<serde_json::Value>(message) {
        Ok(v) => v.to_string().into(),
        Err(_) => message.replace(['\n', '\r'], " ").into(),
    }
}

/// Appends lines to the hourly files of a folder.
pub struct Appender {
    dir: PathBuf,
    open: Vec<(String, File)>,
}

impl Appender {
    pub fn new(dir: PathBuf) -> Self {
        Appender {
            dir,
            open: Vec::new(),
        }
    }

    fn file(&mut self, name: &str) -> io::Result<&mut File> {
        if let Some(i) = self.open.iter().position(|(n, _)| n == name) {
            let entry = self.open.remove(i);
            self.open.push(entry);
        } else {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(name))?;
            if self.open.len() >= OPEN_FILES {
                self.open.remove(0);
            }
            self.open.push((name.to_string(), f));
        }
        let last = self.open.len() - 1;
        Ok(&mut self.open[last].1)
    }

    /// Appends `(pubtime, message)` pairs, one `write` per file; returns the files
    /// written.
    pub fn append<'a>(
        &mut self,
        items: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> io::Result<Vec<PathBuf>> {
        let mut by_file: Vec<(String, Vec<u8>)> = Vec::new();
        for (pubtime, message) in items {
            let name = file_name(pubtime);
            let buf = match by_file.iter_mut().find(|(n, _)| *n == name) {
                Some((_, b)) => b,
                None => {
                    by_file.push((name, Vec::new()));
                    &mut by_file.last_mut().expect("just pushed").1
                }
            };
            buf.extend_from_slice(line(message).as_bytes());
            buf.push(b'\n');
        }
        // Each file's length before this call: on a failure, every file is cut back
        // to it, so that the retry of the whole batch writes each message once.
        let mut before: Vec<(String, u64)> = Vec::with_capacity(by_file.len());
        for (name, buf) in &by_file {
            let r = self.file(name).and_then(|f| {
                before.push((name.clone(), f.metadata()?.len()));
                f.write_all(buf)
            });
            if let Err(e) = r {
                for (n, len) in &before {
                    if let Err(cut) = self.file(n).and_then(|f| f.set_len(*len)) {
                        tracing::warn!(file = n, error = %cut, "WIS2_OUTPUT: cannot cut a failed append back: a torn line may stay");
                    }
                }
                self.open.clear();
                return Err(e);
            }
        }
        Ok(by_file.iter().map(|(n, _)| self.dir.join(n)).collect())
    }

    /// After a crash: cuts a torn last line off the files of `pending`, and returns
    /// the indices of the pending `(pubtime, message)` copies already in their file.
    pub fn recover(&mut self, pending: &[(&str, &str)]) -> io::Result<HashSet<usize>> {
        self.open.clear();
        let mut by_file: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (pubtime, _)) in pending.iter().enumerate() {
            by_file.entry(file_name(pubtime)).or_default().push(i);
        }
        let mut found = HashSet::new();
        for (name, items) in by_file {
            let path = self.dir.join(&name);
            let Some(tail) = cut_torn_tail(&path)? else {
                continue;
            };
            let lines: HashSet<&[u8]> = tail.split(|b| *b == b'\n').collect();
            for i in items {
                if lines.contains(line(pending[i].1).as_bytes()) {
                    found.insert(i);
                }
            }
        }
        Ok(found)
    }
}

/// Cuts what follows the last newline of `path` (a line torn by a crash) and
/// returns the whole lines of its last [`RECOVERY_TAIL`] bytes; `None` when the file
/// does not exist.
fn cut_torn_tail(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut f = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let start = len.saturating_sub(RECOVERY_TAIL);
    f.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    f.read_to_end(&mut tail)?;
    let whole = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if whole < tail.len() {
        tracing::warn!(
            path = %path.display(),
            bytes = tail.len() - whole,
            "WIS2_OUTPUT: a line torn by a crash is cut off; its message is written again"
        );
        f.set_len(start + whole as u64)?;
        tail.truncate(whole);
    }
    // A tail that starts mid-line: its first piece is not a whole line.
    if start > 0
        && let Some(i) = tail.iter().position(|b| *b == b'\n')
    {
        tail.drain(..=i);
    }
    Ok(Some(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_per_hour_of_pubtime_and_one_line_per_message() {
        let dir = tempfile::tempdir().expect("dir");
        let mut a = Appender::new(dir.path().to_path_buf());
        let files = a
            .append([
                ("2026-12-07T10:59:59Z", r#"{"id":"a"}"#),
                ("2026-12-07T11:00:00Z", r#"{"id":"b"}"#),
                ("2026-12-07T10:00:00.5Z", "{\n\"id\": \"c\"\n}"),
            ])
            .expect("append");
        assert_eq!(files.len(), 2);
        let ten = std::fs::read_to_string(dir.path().join("wis2-messages-2026-12-07T10Z.jsonl"))
            .expect("10h");
        assert_eq!(ten, "{\"id\":\"a\"}\n{\"id\":\"c\"}\n");
        let eleven = std::fs::read_to_string(dir.path().join("wis2-messages-2026-12-07T11Z.jsonl"))
            .expect("11h");
        assert_eq!(eleven, "{\"id\":\"b\"}\n");
    }

    #[test]
    fn a_failed_append_leaves_no_line_of_its_batch() {
        let dir = tempfile::tempdir().expect("dir");
        let mut a = Appender::new(dir.path().to_path_buf());
        let (ten, eleven) = ("2026-12-07T10:00:00Z", "2026-12-07T11:00:00Z");
        a.append([(ten, r#"{"id":"a"}"#)]).expect("append");
        // The 11 h file cannot be opened (a folder has its name).
        std::fs::create_dir(dir.path().join(file_name(eleven))).expect("dir");
        let err = a.append([(ten, r#"{"id":"b"}"#), (eleven, r#"{"id":"c"}"#)]);
        assert!(err.is_err());
        let text = std::fs::read_to_string(dir.path().join(file_name(ten))).expect("read");
        assert_eq!(
            text, "{\"id\":\"a\"}\n",
            "b was cut back: its retry writes it once"
        );
    }

    #[test]
    fn recovery_cuts_a_torn_line_and_finds_what_was_written() {
        let dir = tempfile::tempdir().expect("dir");
        let mut a = Appender::new(dir.path().to_path_buf());
        let t = "2026-12-07T10:00:00Z";
        a.append([(t, r#"{"id":"a"}"#), (t, r#"{"id":"b"}"#)])
            .expect("append");
        let path = dir.path().join(file_name(t));
        // A crash in the middle of the next line.
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(br#"{"id":"#).expect("torn");
        let pending = [(t, r#"{"id":"b"}"#), (t, r#"{"id":"c"}"#)];
        let found = a.recover(&pending).expect("recover");
        assert_eq!(found, HashSet::from([0]), "b was written, c was torn");
        a.append([pending[1]]).expect("append c");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n");
        // Nothing to recover in a file that does not exist.
        let none = a
            .recover(&[("2020-01-01T00:00:00Z", "{}")])
            .expect("recover");
        assert!(none.is_empty());
    }
}
