//! The console's journal of deliveries (`console.wal` beside the history): each burst
//! of deliveries is appended and flushed to disk before the broker is told it
//! arrived, and the history applies the journal in large transactions (a few per
//! second at the chain's full rate) instead of one per burst. The history records
//! which journal generation it applied last, in the same transaction; the journal
//! then starts a new generation. After a `kill -9`, the console applies again what
//! the journal holds beyond that generation: nothing acknowledged is lost, nothing is
//! applied twice.
//!
//! The file: an 8-byte magic, the generation (u64 LE), then entries, each
//! `[length u32 LE][CRC-32 of the body u32 LE][body]`, the body being
//! `[arrival, ns since the epoch, i64 LE][topic length u16 LE][topic][payload]`.
//! A torn or corrupt tail (a crash during a write) ends the journal there.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"WIS2WAL1";
const HEADER: u64 = 16;

/// One delivery as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When it arrived, in nanoseconds since the Unix epoch.
    pub nanos: i64,
    pub topic: String,
    pub payload: Vec<u8>,
}

/// The journal, open for appending.
pub struct Wal {
    file: File,
    path: PathBuf,
    generation: u64,
    buf: Vec<u8>,
}

/// What the journal held when it was opened.
pub struct Found {
    pub generation: u64,
    pub entries: Vec<Entry>,
    /// Bytes past the last whole entry (a write cut by a crash), dropped.
    pub torn: u64,
}

impl Wal {
    /// Opens (or creates) the journal in `dir` and reads what it holds.
    pub fn open(dir: &Path) -> io::Result<(Wal, Found)> {
        let path = dir.join("console.wal");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let found = parse(&bytes).map_err(|why| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: {why}; move it away to start the journal afresh",
                    path.display()
                ),
            )
        })?;
        Ok((
            Wal {
                file,
                path,
                generation: found.generation,
                buf: Vec::new(),
            },
            found,
        ))
    }

    /// The generation being written.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the deliveries and flushes them to disk (one write, one `fdatasync`).
    pub fn append<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (i64, &'a str, &'a [u8])>,
    ) -> io::Result<()> {
        self.buf.clear();
        for (nanos, topic, payload) in entries {
            let topic_len = u16::try_from(topic.len()).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "a topic over 65,535 bytes")
            })?;
            let len = 8 + 2 + topic.len() + payload.len();
            let len32 = u32::try_from(len)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a payload over 4 GiB"))?;
            let start = self.buf.len();
            self.buf.extend_from_slice(&len32.to_le_bytes());
            self.buf.extend_from_slice(&[0; 4]);
            self.buf.extend_from_slice(&nanos.to_le_bytes());
            self.buf.extend_from_slice(&topic_len.to_le_bytes());
            self.buf.extend_from_slice(topic.as_bytes());
            self.buf.extend_from_slice(payload);
            let crc = crc32fast::hash(&self.buf[start + 8..]);
            self.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.seek(SeekFrom::End(0))?;
        self.file.write_all(&self.buf)?;
        self.file.sync_data()
    }

    /// Starts generation `generation`: what the journal held is dropped (the history
    /// holds it now).
    pub fn restart(&mut self, generation: u64) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&generation.to_le_bytes());
        self.file.write_all(&header)?;
        self.file.sync_data()?;
        self.generation = generation;
        Ok(())
    }
}

fn parse(bytes: &[u8]) -> Result<Found, String> {
    if bytes.is_empty() {
        return Ok(Found {
            generation: 0,
            entries: Vec::new(),
            torn: 0,
        });
    }
    if bytes.len() < HEADER as usize || &bytes[..8] != MAGIC {
        // A crash while the header was written leaves fewer than 16 bytes: a journal
        // with no entry, of an unknown generation (0: nothing to apply).
        if bytes.len() < HEADER as usize && MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
            return Ok(Found {
                generation: 0,
                entries: Vec::new(),
                torn: bytes.len() as u64,
            });
        }
        return Err("not a console journal (its first bytes are not WIS2WAL1)".into());
    }
    let generation = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| "header")?);
    let mut entries = Vec::new();
    let mut at = HEADER as usize;
    while let Some(entry) = entry_at(bytes, at) {
        let (e, next) = entry;
        entries.push(e);
        at = next;
    }
    Ok(Found {
        generation,
        entries,
        torn: (bytes.len() - at) as u64,
    })
}

/// The whole, intact entry at `at` and where the next begins.
fn entry_at(bytes: &[u8], at: usize) -> Option<(Entry, usize)> {
    let u32_at = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?))
    };
    let len = u32_at(at)? as usize;
    let crc = u32_at(at + 4)?;
    let body = bytes.get(at + 8..(at + 8).checked_add(len)?)?;
    if crc32fast::hash(body) != crc || body.len() < 10 {
        return None;
    }
    let nanos = i64::from_le_bytes(body[..8].try_into().ok()?);
    let topic_len = u16::from_le_bytes(body[8..10].try_into().ok()?) as usize;
    let topic = std::str::from_utf8(body.get(10..10 + topic_len)?).ok()?;
    Some((
        Entry {
            nanos,
            topic: topic.to_string(),
            payload: body[10 + topic_len..].to_vec(),
        },
        at + 8 + len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut w, found) = Wal::open(dir.path()).expect("open");
        assert_eq!((found.generation, found.entries.len()), (0, 0));
        w.restart(7).expect("restart");
        w.append([(1, "chain/a", b"one".as_slice()), (2, "chain/b", b"")])
            .expect("append");
        w.append([(3, "chain/c", b"three".as_slice())])
            .expect("append");
        drop(w);
        // A crash in the middle of a write: half an entry at the end.
        let path = dir.path().join("console.wal");
        let mut f = OpenOptions::new().append(true).open(&path).expect("file");
        f.write_all(&[40, 0, 0, 0, 1, 2]).expect("tail");
        drop(f);
        let (mut w, found) = Wal::open(dir.path()).expect("again");
        assert_eq!(found.generation, 7);
        assert_eq!(found.torn, 6);
        let topics: Vec<_> = found.entries.iter().map(|e| e.topic.as_str()).collect();
        assert_eq!(topics, ["chain/a", "chain/b", "chain/c"]);
        assert_eq!(found.entries[2].payload, b"three");
        assert_eq!(found.entries[2].nanos, 3);
        w.restart(8).expect("restart");
        let (_, found) = Wal::open(dir.path()).expect("after restart");
        assert_eq!((found.generation, found.entries.len()), (8, 0));
    }

    #[test]
    fn a_corrupt_entry_ends_the_journal_and_another_file_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut w, _) = Wal::open(dir.path()).expect("open");
        w.restart(1).expect("restart");
        w.append([(1, "t", b"a".as_slice()), (2, "t", b"b")])
            .expect("append");
        drop(w);
        let path = dir.path().join("console.wal");
        let mut bytes = std::fs::read(&path).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        let (_, found) = Wal::open(dir.path()).expect("open");
        assert_eq!(found.entries.len(), 1, "the corrupt second entry ends it");
        std::fs::write(&path, b"something else entirely").expect("write");
        let err = Wal::open(dir.path()).err().expect("refused").to_string();
        assert!(err.contains("not a console journal"), "{err}");
        assert!(err.contains("move it away"), "{err}");
    }
}
