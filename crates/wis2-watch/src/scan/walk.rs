//! The data directory in the store's key order, and the store read alongside it.
//!
//! A full scan compares the tree with the store as two sorted streams: [`SortedWalk`]
//! hands out the files in the bytewise order of their relative paths (a directory's
//! entries sorted by name, a directory's name counted with its trailing `/`), and
//! [`StoreCursor`] reads the store in the same order, a page at a time. Memory holds
//! one directory's listing per level of the tree and one page of the store, never
//! every path: a tree of millions of files is scanned in a few megabytes.

use std::collections::VecDeque;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use wis2::path::RelPath;

use crate::store::{AnnounceStore, Entry, StoreError};

/// Entries read from the store at once.
const PAGE: usize = 1024;

/// What the walk found next.
pub(super) enum Item {
    /// A file (or anything else that is not a directory: the caller's policy decides).
    File(PathBuf),
    /// A directory the caller wanted to enter that could not be listed.
    Unreadable(PathBuf, std::io::Error),
}

/// One entry of a directory listing, with its sort key.
struct Listed {
    /// The name's bytes, and `/` after a directory's.
    key: Vec<u8>,
    path: PathBuf,
    is_dir: bool,
}

/// A depth-first walk whose files come out in the bytewise order of their paths
/// relative to the start (the order of [`RelPath`] keys in the store).
pub(super) struct SortedWalk {
    /// The directory to list first, until it is.
    start: Option<PathBuf>,
    /// One listing per level, sorted in reverse (the next entry is the last).
    levels: Vec<Vec<Listed>>,
}

impl SortedWalk {
    /// A walk of `dir` (listed at the first [`SortedWalk::next`]).
    pub(super) fn new(dir: &Path) -> Self {
        SortedWalk {
            start: Some(dir.to_path_buf()),
            levels: Vec::new(),
        }
    }

    /// The next file or unreadable directory; `enter` is asked before each directory
    /// (the start included) is listed, and may start watching it first.
    pub(super) fn next(&mut self, mut enter: impl FnMut(&Path) -> bool) -> Option<Item> {
        if let Some(start) = self.start.take()
            && enter(&start)
            && let Err(e) = self.list(&start)
        {
            return Some(Item::Unreadable(start, e));
        }
        loop {
            let level = self.levels.last_mut()?;
            let Some(entry) = level.pop() else {
                self.levels.pop();
                continue;
            };
            if !entry.is_dir {
                return Some(Item::File(entry.path));
            }
            if enter(&entry.path)
                && let Err(e) = self.list(&entry.path)
            {
                return Some(Item::Unreadable(entry.path, e));
            }
        }
    }

    /// Lists `dir` as a new level.
    fn list(&mut self, dir: &Path) -> std::io::Result<()> {
        let mut level = Vec::new();
        for entry in std::fs::read_dir(dir)?.flatten() {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let mut key = entry.file_name().as_bytes().to_vec();
            if is_dir {
                key.push(b'/');
            }
            level.push(Listed {
                key,
                path: entry.path(),
                is_dir,
            });
        }
        level.sort_unstable_by(|a, b| b.key.cmp(&a.key));
        self.levels.push(level);
        Ok(())
    }
}

/// The store's entries in key order, read a page at a time (each page its own short
/// read transaction).
pub(super) struct StoreCursor {
    store: AnnounceStore,
    page: VecDeque<(RelPath, Entry)>,
    /// The last key read.
    last: Option<String>,
    /// The store has no more entries.
    end: bool,
}

impl StoreCursor {
    pub(super) fn new(store: AnnounceStore) -> Self {
        StoreCursor {
            store,
            page: VecDeque::new(),
            last: None,
            end: false,
        }
    }

    /// The next entry's path, without taking it.
    pub(super) fn peek(&mut self) -> Result<Option<&RelPath>, StoreError> {
        if self.page.is_empty() && !self.end {
            let page = self.store.page(self.last.as_deref(), PAGE)?;
            self.end = page.len() < PAGE;
            if let Some((k, _)) = page.last() {
                self.last = Some(k.as_str().to_string());
            }
            self.page = page.into();
        }
        Ok(self.page.front().map(|(k, _)| k))
    }

    /// Takes the next entry.
    pub(super) fn take(&mut self) -> Result<Option<(RelPath, Entry)>, StoreError> {
        self.peek()?;
        Ok(self.page.pop_front())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn files_come_out_in_the_order_of_their_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "a/x", "a/y/z", "a-b/x", "a.nc", "ab/x", "b", "a/y.nc", "a/y0/q",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let mut walk = SortedWalk::new(root);
        let mut got = Vec::new();
        while let Some(item) = walk.next(|_| true) {
            if let Item::File(p) = item {
                got.push(p.strip_prefix(root).unwrap().to_str().unwrap().to_string());
            }
        }
        let mut want = got.clone();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(got.len(), 8);
        // A directory not entered is skipped with its files.
        let mut walk = SortedWalk::new(root);
        let mut n = 0;
        while walk.next(|d| !d.ends_with("a")).is_some() {
            n += 1;
        }
        assert_eq!(n, 4);
    }

    #[test]
    fn the_cursor_reads_every_entry_in_order_across_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = AnnounceStore::open(&dir.path().join("s.redb")).unwrap();
        let files: Vec<(RelPath, u64, i64)> = (0..2500)
            .map(|i| (RelPath::parse(&format!("d{}/f{i}", i % 7)).unwrap(), 1, 1))
            .collect();
        store.baseline_many(&files).unwrap();
        let mut cursor = StoreCursor::new(store);
        let mut got = Vec::new();
        while let Some((k, _)) = cursor.take().unwrap() {
            got.push(k);
        }
        let mut want: Vec<RelPath> = files.into_iter().map(|(k, _, _)| k).collect();
        want.sort();
        assert_eq!(got, want);
    }
}
