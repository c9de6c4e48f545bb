//! How many entries each index holds, by bucket of its first key part, so that a page
//! deep in an index (`offset=900000`) and the count of a time range are found by
//! adding a few hundred counts instead of walking the entries before them.
//!
//! Each counted index keeps two levels of buckets, kept in the same transaction as the
//! index (so they never disagree with it): fine buckets (1,024 change numbers, or a
//! second) and coarse buckets (1,024 fine ones, or an hour). A range is cut into, from
//! its newest end: the entries of a partial fine bucket (walked), the fine buckets of a
//! partial coarse bucket, whole coarse buckets, then the same at its oldest end.

use std::collections::HashMap;

use redb::{ReadableTable, TableDefinition};

/// (index, level: 0 fine, 1 coarse, bucket) → entries.
pub(super) const COUNTS: TableDefinition<(u8, u8, i64), u64> = TableDefinition::new("counts");

/// One counted index: its id in [`COUNTS`] and the width of its buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counted {
    id: u8,
    /// Keys per fine bucket.
    fine: i64,
    /// Fine buckets per coarse bucket.
    per: i64,
}

/// The files by change number (`order`).
pub(super) const ORDER: Counted = Counted {
    id: 0,
    fine: 1024,
    per: 1024,
};

/// The files of one state by change number (`by_state`).
pub(super) fn state(code: u8) -> Counted {
    Counted {
        id: 1 + code,
        ..ORDER
    }
}

/// The files by the second of their last change (`by_time`).
pub(super) const TIME: Counted = Counted {
    id: 10,
    fine: 1,
    per: 3600,
};

/// The messages by pubtime in milliseconds (`by_pubtime`).
pub(super) const PUBTIME: Counted = Counted {
    id: 11,
    fine: 1000,
    per: 3600,
};

/// Keys beyond these are clamped: no bucket arithmetic overflows.
const LOWEST: i64 = -(1 << 60);
const HIGHEST: i64 = 1 << 60;

impl Counted {
    fn fine_of(&self, key: i64) -> i64 {
        key.div_euclid(self.fine)
    }
    fn coarse_of(&self, fine: i64) -> i64 {
        fine.div_euclid(self.per)
    }
    /// The first and last key of fine bucket `f`.
    fn keys_of(&self, f: i64) -> (i64, i64) {
        (f * self.fine, f * self.fine + self.fine - 1)
    }
    /// The first and last fine bucket of coarse bucket `c`.
    fn fines_of(&self, c: i64) -> (i64, i64) {
        (c * self.per, c * self.per + self.per - 1)
    }
}

/// Changes to the counts within one transaction, written at its end.
#[derive(Debug, Default)]
pub(super) struct Deltas(HashMap<(u8, u8, i64), i64>);

impl Deltas {
    /// An entry with first key part `key` added to (`+1`) or removed from (`-1`) `index`.
    pub(super) fn add(&mut self, index: Counted, key: i64, delta: i64) {
        let key = key.clamp(LOWEST, HIGHEST);
        let f = index.fine_of(key);
        *self.0.entry((index.id, 0, f)).or_default() += delta;
        *self.0.entry((index.id, 1, index.coarse_of(f))).or_default() += delta;
    }

    /// Writes the changes; a bucket that comes to nothing is removed.
    pub(super) fn write(
        self,
        counts: &mut redb::Table<(u8, u8, i64), u64>,
    ) -> Result<(), redb::StorageError> {
        for (k, d) in self.0 {
            if d == 0 {
                continue;
            }
            let was = counts.get(k)?.map(|v| v.value()).unwrap_or(0);
            let now = (was as i64 + d).max(0) as u64;
            if now == 0 {
                counts.remove(k)?;
            } else {
                counts.insert(k, now)?;
            }
        }
        Ok(())
    }
}

/// Where a page starts in a range of an index, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seek {
    /// The page's first entry is found walking back from this key (first key part)...
    pub from: i64,
    /// ...skipping this many entries first; `None`: the range has no entry that far.
    pub skip: Option<usize>,
    /// Entries in the range (only when asked for; otherwise those up to the page).
    pub total: usize,
}

/// A part of a range, from newest to oldest.
enum Part {
    /// Entries with first key part in `a..=b`, walked.
    Entries(i64, i64),
    /// Fine buckets `a..=b`, whole.
    Fine(i64, i64),
    /// Coarse buckets `a..=b`, whole.
    Coarse(i64, i64),
}

/// The parts of keys `lo..=hi`, newest first.
fn parts(c: Counted, lo: i64, hi: i64) -> Vec<Part> {
    let (fl, fh) = (c.fine_of(lo), c.fine_of(hi));
    if fl == fh {
        return vec![Part::Entries(lo, hi)];
    }
    let mut top = Vec::new();
    let mut bottom = Vec::new();
    let mut ftop = fh;
    if hi != c.keys_of(fh).1 {
        top.push(Part::Entries(c.keys_of(fh).0, hi));
        ftop -= 1;
    }
    let mut fbot = fl;
    if lo != c.keys_of(fl).0 {
        bottom.push(Part::Entries(lo, c.keys_of(fl).1));
        fbot += 1;
    }
    if fbot <= ftop {
        let (cl, ch) = (c.coarse_of(fbot), c.coarse_of(ftop));
        if cl == ch {
            top.push(Part::Fine(fbot, ftop));
        } else {
            let mut ctop = ch;
            if ftop != c.fines_of(ch).1 {
                top.push(Part::Fine(c.fines_of(ch).0, ftop));
                ctop -= 1;
            }
            let mut cbot = cl;
            if fbot != c.fines_of(cl).0 {
                bottom.push(Part::Fine(fbot, c.fines_of(cl).1));
                cbot += 1;
            }
            if cbot <= ctop {
                top.push(Part::Coarse(cbot, ctop));
            }
        }
    }
    bottom.reverse();
    top.extend(bottom);
    top
}

/// Finds entry `offset` (0: the newest) of index `c` in keys `lo..=hi`, and counts the
/// range when `count_all`. `entries(a, b)` counts the index's entries in `a..=b` by
/// walking them: it is only asked for less than a fine bucket at each end.
pub(super) fn seek<T, E>(
    counts: &T,
    c: Counted,
    (lo, hi): (i64, i64),
    offset: usize,
    count_all: bool,
    mut entries: E,
) -> Result<Seek, redb::StorageError>
where
    T: ReadableTable<(u8, u8, i64), u64>,
    E: FnMut(i64, i64) -> Result<usize, redb::StorageError>,
{
    let (lo, hi) = (lo.clamp(LOWEST, HIGHEST), hi.clamp(LOWEST, HIGHEST));
    let mut seek = Seek {
        from: hi,
        skip: None,
        total: 0,
    };
    if lo > hi {
        return Ok(seek);
    }
    for part in parts(c, lo, hi) {
        if seek.skip.is_some() && !count_all {
            break;
        }
        match part {
            Part::Entries(a, b) => {
                let n = entries(a, b)?;
                if seek.skip.is_none() && seek.total + n > offset {
                    seek.from = b;
                    seek.skip = Some(offset - seek.total);
                }
                seek.total += n;
            }
            Part::Fine(a, b) => {
                for item in counts.range((c.id, 0, a)..=(c.id, 0, b))?.rev() {
                    let (k, n) = item?;
                    let n = n.value() as usize;
                    if seek.skip.is_none() && seek.total + n > offset {
                        seek.from = c.keys_of(k.value().2).1;
                        seek.skip = Some(offset - seek.total);
                        if !count_all {
                            return Ok(seek);
                        }
                    }
                    seek.total += n;
                }
            }
            Part::Coarse(a, b) => {
                for item in counts.range((c.id, 1, a)..=(c.id, 1, b))?.rev() {
                    let (k, n) = item?;
                    let n = n.value() as usize;
                    if seek.skip.is_none() && seek.total + n > offset {
                        // Into the coarse bucket: its fine buckets, newest first.
                        let (fa, fb) = c.fines_of(k.value().2);
                        let mut within = seek.total;
                        for item in counts.range((c.id, 0, fa)..=(c.id, 0, fb))?.rev() {
                            let (fk, fnum) = item?;
                            let fnum = fnum.value() as usize;
                            if within + fnum > offset {
                                seek.from = c.keys_of(fk.value().2).1;
                                seek.skip = Some(offset - within);
                                break;
                            }
                            within += fnum;
                        }
                        if !count_all {
                            return Ok(seek);
                        }
                    }
                    seek.total += n;
                }
            }
        }
    }
    Ok(seek)
}

/// Entries `offset..offset + limit` (0: the newest) of index `c` in keys `lo..=hi`, and
/// what [`seek`] found (with the range's count when `count_all`). `entries` is as for
/// [`seek`]; `walk(from)` reads the index back from key `from`, down to `lo`.
pub(super) fn page<T, E, W, I, X>(
    counts: &T,
    c: Counted,
    range: (i64, i64),
    (offset, limit): (usize, usize),
    count_all: bool,
    entries: E,
    walk: W,
) -> Result<(Vec<X>, Seek), redb::StorageError>
where
    T: ReadableTable<(u8, u8, i64), u64>,
    E: FnMut(i64, i64) -> Result<usize, redb::StorageError>,
    W: FnOnce(i64) -> Result<I, redb::StorageError>,
    I: Iterator<Item = Result<X, redb::StorageError>>,
{
    let at = seek(counts, c, range, offset, count_all, entries)?;
    let mut out = Vec::new();
    if let Some(skip) = at.skip {
        for item in walk(at.from)?.skip(skip).take(limit) {
            out.push(item?);
        }
    }
    Ok((out, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::Database;

    const INDEX: TableDefinition<(i64, u64), ()> = TableDefinition::new("index");

    /// An index and its counts, and the naive answer to compare with.
    fn check(c: Counted, keys: &[i64], ranges: &[(i64, i64)]) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = Database::create(dir.path().join("t.redb")).expect("a database");
        let tx = db.begin_write().expect("a write");
        {
            let mut index = tx.open_table(INDEX).expect("the index");
            let mut counts = tx.open_table(COUNTS).expect("the counts");
            let mut d = Deltas::default();
            for (i, k) in keys.iter().enumerate() {
                index.insert((*k, i as u64), ()).expect("insert");
                d.add(c, *k, 1);
            }
            d.write(&mut counts).expect("counts written");
        }
        tx.commit().expect("commit");
        let tx = db.begin_read().expect("a read");
        let index = tx.open_table(INDEX).expect("the index");
        let counts = tx.open_table(COUNTS).expect("the counts");
        let mut sorted: Vec<(i64, u64)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, i as u64))
            .collect();
        sorted.sort();
        sorted.reverse();
        for &(lo, hi) in ranges {
            let inside: Vec<(i64, u64)> = sorted
                .iter()
                .copied()
                .filter(|(k, _)| *k >= lo && *k <= hi)
                .collect();
            for offset in [
                0,
                1,
                7,
                inside.len() / 2,
                inside.len().saturating_sub(1),
                inside.len(),
                inside.len() + 3,
            ] {
                let s = seek(&counts, c, (lo, hi), offset, true, |a, b| {
                    Ok(index.range((a, 0)..=(b, u64::MAX))?.count())
                })
                .expect("seek");
                assert_eq!(s.total, inside.len(), "count of {lo}..={hi}");
                match inside.get(offset) {
                    None => assert_eq!(s.skip, None, "offset {offset} past {lo}..={hi}"),
                    Some(want) => {
                        let skip = s.skip.expect("the page is found");
                        let got = index
                            .range((lo, 0)..=(s.from, u64::MAX))
                            .expect("range")
                            .rev()
                            .nth(skip)
                            .expect("an entry there")
                            .expect("read")
                            .0
                            .value();
                        assert_eq!(got, *want, "entry {offset} of {lo}..={hi}");
                    }
                }
                let quick = seek(&counts, c, (lo, hi), offset, false, |a, b| {
                    Ok(index.range((a, 0)..=(b, u64::MAX))?.count())
                })
                .expect("seek");
                assert_eq!((quick.from, quick.skip), (s.from, s.skip));
            }
        }
    }

    #[test]
    fn a_deep_page_and_a_range_count_agree_with_walking_the_index() {
        let small = Counted {
            id: 3,
            fine: 4,
            per: 3,
        };
        // Gaps, repeats, several coarse buckets, negative keys.
        let mut keys: Vec<i64> = (0..200).map(|i| (i * 7919) % 173 - 20).collect();
        keys.extend([5, 5, 5, 60, 61, 62, 63, 64]);
        check(
            small,
            &keys,
            &[
                (i64::MIN, i64::MAX),
                (0, 11),
                (1, 10),
                (3, 4),
                (-20, 152),
                (13, 97),
                (12, 47),
                (50, 49),
            ],
        );
        let seqs: Vec<i64> = (1..5000).filter(|i| i % 3 != 0).collect();
        check(ORDER, &seqs, &[(0, i64::MAX), (1500, 4090)]);
    }

    #[test]
    fn removed_entries_leave_no_bucket() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = Database::create(dir.path().join("t.redb")).expect("a database");
        let tx = db.begin_write().expect("a write");
        {
            let mut counts = tx.open_table(COUNTS).expect("the counts");
            let mut d = Deltas::default();
            d.add(TIME, 7200, 1);
            d.write(&mut counts).expect("written");
            let mut d = Deltas::default();
            d.add(TIME, 7200, -1);
            d.write(&mut counts).expect("written");
            assert_eq!(counts.iter().expect("iter").count(), 0);
        }
        tx.commit().expect("commit");
    }
}
