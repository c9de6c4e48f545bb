//! The console's history, on disk (redb, `console.redb` in `WIS2_STATE_DIR`): every
//! file's record, the messages as published, the dead letters, the metadata records.
//! Each burst of facts is one durable transaction (it survives a `kill -9`); the
//! deliveries are acknowledged to the broker only after it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use wis2_bus::DeadLetter;

use crate::journal::{Fact, FileRecord, LetterView, State, UnreadableView};

/// path → the file's record (JSON).
const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
/// change number → path: the files, newest change last.
const ORDER: TableDefinition<u64, &str> = TableDefinition::new("order");
/// publication number → the message as published (JSON).
const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");
/// message id → its publication number.
const MESSAGE_IDS: TableDefinition<&str, u64> = TableDefinition::new("message_ids");
/// dead letter id → the letter (JSON).
const LETTERS: TableDefinition<&str, &[u8]> = TableDefinition::new("letters");
/// arrival number → dead letter id.
const LETTER_ORDER: TableDefinition<u64, &str> = TableDefinition::new("letter_order");
/// WCMP2 record id → what was announced of it (JSON).
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// arrival number → a Global Broker's monitoring event (JSON).
const MONITOR: TableDefinition<u64, &[u8]> = TableDefinition::new("monitor");
/// arrival number → a payload the console could not read (JSON).
const UNREADABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("unreadable");
/// counters: "seq", "wal" (the journal generation applied last), and "state:<state>"
/// (files in each state).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// (state, change number) → path: the files of one state, newest change last.
const BY_STATE: TableDefinition<(u8, u64), &str> = TableDefinition::new("by_state");
/// search term (lower case) NUL path → (): the file's name, path, data_id and
/// message id, for prefix search.
const TERMS: TableDefinition<&str, ()> = TableDefinition::new("terms");
/// (Unix seconds of the change, change number) → path: the files by time.
const BY_TIME: TableDefinition<(i64, u64), &str> = TableDefinition::new("by_time");
/// (pubtime in Unix ms, publication number) → (): the messages by time.
const BY_PUBTIME: TableDefinition<(i64, u64), ()> = TableDefinition::new("by_pubtime");
/// The history's page cache: redb's default (1 GiB) would let the console's resident
/// memory grow with the history; the operating system's cache does the rest.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

fn pubtime_ms(p: Option<&str>) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(p?)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// (data_id, publication number) → (): the messages of one data_id.
const BY_DATA_ID: TableDefinition<(&str, u64), ()> = TableDefinition::new("by_data_id");

fn state_code(s: State) -> u8 {
    match s {
        State::Pending => 0,
        State::Published => 1,
        State::Rejected => 2,
        State::Deadletter => 3,
    }
}

fn state_key(s: State) -> &'static str {
    match s {
        State::Pending => "state:pending",
        State::Published => "state:published",
        State::Rejected => "state:rejected",
        State::Deadletter => "state:deadletter",
    }
}

/// The search terms of a record: its name, path, data_id and message id, lower case,
/// each followed by NUL and the path (unique keys).
fn terms(r: &FileRecord) -> Vec<String> {
    let name = r.path.rsplit('/').next().unwrap_or(&r.path);
    let mut t: Vec<String> = [
        Some(name),
        Some(r.path.as_str()),
        r.data_id.as_deref(),
        r.message_id.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(|term| format!("{}\u{0}{}", term.to_lowercase(), r.path))
    .collect();
    t.sort();
    t.dedup();
    t
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[error(
    "console history {path}: {op}: {source}; check the folder (WIS2_STATE_DIR) is writable and has space, or move the file away to start afresh"
)]
pub struct StoreError {
    path: PathBuf,
    op: &'static str,
    source: Box<redb::Error>,
}

/// Monitoring events kept.
pub const MONITOR_KEPT: u64 = 10_000;
/// Unreadable payloads kept.
pub const UNREADABLE_KEPT: u64 = 1_000;

/// A message as published.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    pub topic: String,
    pub message_id: String,
    pub data_id: String,
    pub pubtime: Option<String>,
    /// The message, byte for byte as published.
    pub message: Box<serde_json::value::RawValue>,
}

/// A dead letter with whether it was replayed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Letter {
    pub view: LetterView,
    pub letter: DeadLetter,
    pub replayed: Option<String>,
}

/// A discovery metadata record as announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordView {
    pub id: String,
    pub path: String,
    pub announced: String,
    pub reannounced: Option<String>,
}

/// What a burst of facts changed, for the live page.
#[derive(Debug, Default)]
pub struct Changes {
    pub files: Vec<FileRecord>,
    pub letters: Vec<LetterView>,
    pub unreadable: Vec<UnreadableView>,
}

/// A search of the files.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pub q: Option<String>,
    pub state: Option<State>,
    /// Unix seconds.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: usize,
    pub offset: usize,
}

/// The history.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    path: Arc<PathBuf>,
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("the console's records are strings, numbers and JSON values")
}

impl Store {
    /// Opens (or creates) the history in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("console.redb");
        let err = |op, e: redb::Error| StoreError {
            path: path.clone(),
            op,
            source: Box::new(e),
        };
        std::fs::create_dir_all(dir).map_err(|e| err("create its folder", redb::Error::Io(e)))?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| err("open", e.into()))?;
        let tx = db.begin_write().map_err(|e| err("open", e.into()))?;
        {
            tx.open_table(FILES).map_err(|e| err("open", e.into()))?;
            tx.open_table(ORDER).map_err(|e| err("open", e.into()))?;
            tx.open_table(MESSAGES).map_err(|e| err("open", e.into()))?;
            tx.open_table(MESSAGE_IDS)
                .map_err(|e| err("open", e.into()))?;
            tx.open_table(LETTERS).map_err(|e| err("open", e.into()))?;
            tx.open_table(LETTER_ORDER)
                .map_err(|e| err("open", e.into()))?;
            tx.open_table(RECORDS).map_err(|e| err("open", e.into()))?;
            tx.open_table(META).map_err(|e| err("open", e.into()))?;
            tx.open_table(BY_STATE).map_err(|e| err("open", e.into()))?;
            tx.open_table(TERMS).map_err(|e| err("open", e.into()))?;
            tx.open_table(BY_DATA_ID)
                .map_err(|e| err("open", e.into()))?;
            tx.open_table(UNREADABLE)
                .map_err(|e| err("open", e.into()))?;
            tx.open_table(BY_TIME).map_err(|e| err("open", e.into()))?;
            tx.open_table(BY_PUBTIME)
                .map_err(|e| err("open", e.into()))?;
            count_history(&tx).map_err(|e| err("count the history", *e))?;
        }
        tx.commit().map_err(|e| err("open", e.into()))?;
        Ok(Store {
            db: Arc::new(db),
            path: Arc::new(path),
        })
    }

    fn err(&self, op: &'static str, e: impl Into<redb::Error>) -> StoreError {
        StoreError {
            path: self.path.to_path_buf(),
            op,
            source: Box::new(e.into()),
        }
    }

    /// Records a burst of facts (each with the time it was seen, RFC 3339, and in
    /// Unix seconds) in one durable transaction; returns what changed.
    pub fn apply(&self, facts: &[(Fact, String, i64)]) -> Result<Changes, StoreError> {
        self.apply_wal(facts, None)
    }

    /// The generation of the journal of deliveries the history applied last (0: none).
    pub fn wal_applied(&self) -> Result<u64, StoreError> {
        let e = |e: redb::Error| self.err("read", e);
        let tx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let meta = tx.open_table(META).map_err(|x| e(x.into()))?;
        Ok(meta
            .get("wal")
            .map_err(|x| e(x.into()))?
            .map(|v| v.value())
            .unwrap_or(0))
    }

    /// [`Store::apply`], recording in the same transaction that the facts of generation
    /// `generation` of the journal of deliveries are applied ([`crate::wal`]).
    pub fn apply_wal(
        &self,
        facts: &[(Fact, String, i64)],
        generation: Option<u64>,
    ) -> Result<Changes, StoreError> {
        let e = |e: redb::Error| self.err("record", e);
        let tx = self.db.begin_write().map_err(|x| e(x.into()))?;
        let mut changes = Changes::default();
        {
            let mut files = tx.open_table(FILES).map_err(|x| e(x.into()))?;
            let mut order = tx.open_table(ORDER).map_err(|x| e(x.into()))?;
            let mut messages = tx.open_table(MESSAGES).map_err(|x| e(x.into()))?;
            let mut ids = tx.open_table(MESSAGE_IDS).map_err(|x| e(x.into()))?;
            let mut letters = tx.open_table(LETTERS).map_err(|x| e(x.into()))?;
            let mut letter_order = tx.open_table(LETTER_ORDER).map_err(|x| e(x.into()))?;
            let mut records = tx.open_table(RECORDS).map_err(|x| e(x.into()))?;
            let mut meta = tx.open_table(META).map_err(|x| e(x.into()))?;
            let mut by_state = tx.open_table(BY_STATE).map_err(|x| e(x.into()))?;
            let mut terms_t = tx.open_table(TERMS).map_err(|x| e(x.into()))?;
            let mut by_data_id = tx.open_table(BY_DATA_ID).map_err(|x| e(x.into()))?;
            let mut by_time = tx.open_table(BY_TIME).map_err(|x| e(x.into()))?;
            let mut by_pubtime = tx.open_table(BY_PUBTIME).map_err(|x| e(x.into()))?;
            let mut unreadable = tx.open_table(UNREADABLE).map_err(|x| e(x.into()))?;
            let mut counted = counts::Deltas::default();
            let mut unreadable_next = unreadable
                .last()
                .map_err(|x| e(x.into()))?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(1);
            let mut counts: std::collections::HashMap<&'static str, i64> = Default::default();
            let mut seq = meta
                .get("seq")
                .map_err(|x| e(x.into()))?
                .map(|v| v.value())
                .unwrap_or(0);
            // The files this burst changes: path -> index in `burst` (the record
            // before, the record now, the number of its last change in the burst).
            let mut touched: std::collections::HashMap<String, usize> = Default::default();
            let mut burst: Vec<(Option<FileRecord>, FileRecord, usize)> = Vec::new();
            let mut changed = 0usize;
            for (fact, time, unix) in facts {
                match fact {
                    Fact::OnWis2 {
                        topic,
                        message_id,
                        data_id,
                        pubtime,
                        message,
                    } => {
                        if ids
                            .get(message_id.as_str())
                            .map_err(|x| e(x.into()))?
                            .is_none()
                        {
                            seq += 1;
                            let p = Published {
                                topic: topic.clone(),
                                message_id: message_id.clone(),
                                data_id: data_id.clone(),
                                pubtime: pubtime.clone(),
                                message: message.clone(),
                            };
                            messages
                                .insert(seq, json(&p).as_slice())
                                .map_err(|x| e(x.into()))?;
                            ids.insert(message_id.as_str(), seq)
                                .map_err(|x| e(x.into()))?;
                            by_data_id
                                .insert((data_id.as_str(), seq), ())
                                .map_err(|x| e(x.into()))?;
                            if let Some(t) = pubtime_ms(pubtime.as_deref()) {
                                by_pubtime.insert((t, seq), ()).map_err(|x| e(x.into()))?;
                                counted.add(counts::PUBTIME, t, 1);
                            }
                        }
                        continue;
                    }
                    Fact::Unreadable {
                        topic,
                        reason,
                        excerpt,
                    } => {
                        let view = UnreadableView {
                            topic: topic.clone(),
                            reason: reason.clone(),
                            time: time.clone(),
                            excerpt: excerpt.clone(),
                        };
                        unreadable
                            .insert(unreadable_next, json(&view).as_slice())
                            .map_err(|x| e(x.into()))?;
                        unreadable_next += 1;
                        changes.unreadable.push(view);
                        continue;
                    }
                    Fact::DeadLetter { view, letter } => {
                        if letters
                            .get(view.id.as_str())
                            .map_err(|x| e(x.into()))?
                            .is_some()
                        {
                            continue; // delivered again
                        }
                        seq += 1;
                        let l = Letter {
                            view: view.clone(),
                            letter: (**letter).clone(),
                            replayed: None,
                        };
                        letters
                            .insert(view.id.as_str(), json(&l).as_slice())
                            .map_err(|x| e(x.into()))?;
                        letter_order
                            .insert(seq, view.id.as_str())
                            .map_err(|x| e(x.into()))?;
                        changes.letters.push(view.clone());
                    }
                    Fact::Announced {
                        path,
                        record_id: Some(id),
                        reannounce,
                        ..
                    } => {
                        let before: Option<RecordView> = records
                            .get(id.as_str())
                            .map_err(|x| e(x.into()))?
                            .and_then(|v| serde_json::from_slice(v.value()).ok());
                        let view = match before {
                            Some(mut r) if *reannounce => {
                                r.reannounced = Some(time.clone());
                                r
                            }
                            _ => RecordView {
                                id: id.clone(),
                                path: path.clone(),
                                announced: time.clone(),
                                reannounced: None,
                            },
                        };
                        records
                            .insert(id.as_str(), json(&view).as_slice())
                            .map_err(|x| e(x.into()))?;
                    }
                    _ => {}
                }
                let Some(path) = FileRecord::path_of(fact) else {
                    continue;
                };
                // A burst often holds several steps of one file: its record is read
                // once, changed by each, and written (with its indexes) once, below.
                let at = match touched.get(path) {
                    Some(&i) => i,
                    None => {
                        let before: Option<FileRecord> = files
                            .get(path)
                            .map_err(|x| e(x.into()))?
                            .and_then(|v| serde_json::from_slice(v.value()).ok());
                        let current = before.clone().unwrap_or_else(|| FileRecord::new(path));
                        touched.insert(path.to_string(), burst.len());
                        burst.push((before, current, 0));
                        burst.len() - 1
                    }
                };
                let (_, current, last) = &mut burst[at];
                if current.apply_once(fact, time) {
                    current.updated = *unix;
                    changed += 1;
                    *last = changed;
                }
            }
            // In the order of their last change: the newest is listed first.
            burst.sort_by_key(|(_, _, last)| *last);
            for (before, mut record, last) in burst {
                if last == 0 {
                    continue; // only messages delivered again: nothing changed
                }
                let path = record.path.clone();
                let old_terms = before.as_ref().map(terms).unwrap_or_default();
                if let Some(r) = &before {
                    order.remove(r.seq).map_err(|x| e(x.into()))?;
                    by_time
                        .remove((r.updated, r.seq))
                        .map_err(|x| e(x.into()))?;
                    by_state
                        .remove((state_code(r.state), r.seq))
                        .map_err(|x| e(x.into()))?;
                    *counts.entry(state_key(r.state)).or_default() -= 1;
                    counted.file(r, -1);
                }
                seq += 1;
                record.seq = seq;
                order.insert(seq, path.as_str()).map_err(|x| e(x.into()))?;
                by_time
                    .insert((record.updated, seq), path.as_str())
                    .map_err(|x| e(x.into()))?;
                by_state
                    .insert((state_code(record.state), seq), path.as_str())
                    .map_err(|x| e(x.into()))?;
                *counts.entry(state_key(record.state)).or_default() += 1;
                counted.file(&record, 1);
                let new_terms = terms(&record);
                for t in old_terms.iter().filter(|t| !new_terms.contains(t)) {
                    terms_t.remove(t.as_str()).map_err(|x| e(x.into()))?;
                }
                for t in new_terms.iter().filter(|t| !old_terms.contains(t)) {
                    terms_t.insert(t.as_str(), ()).map_err(|x| e(x.into()))?;
                }
                files
                    .insert(path.as_str(), json(&record).as_slice())
                    .map_err(|x| e(x.into()))?;
                changes.files.push(record);
            }
            if unreadable_next > UNREADABLE_KEPT + 1 {
                unreadable
                    .retain_in(..unreadable_next - UNREADABLE_KEPT, |_, _| false)
                    .map_err(|x| e(x.into()))?;
            }
            meta.insert("seq", seq).map_err(|x| e(x.into()))?;
            counted
                .write(&mut tx.open_table(counts::COUNTS).map_err(|x| e(x.into()))?)
                .map_err(|x| e(x.into()))?;
            if let Some(g) = generation {
                meta.insert("wal", g).map_err(|x| e(x.into()))?;
            }
            for (key, delta) in counts {
                let n = meta
                    .get(key)
                    .map_err(|x| e(x.into()))?
                    .map(|v| v.value())
                    .unwrap_or(0);
                let n = (n as i64 + delta).max(0) as u64;
                meta.insert(key, n).map_err(|x| e(x.into()))?;
            }
        }
        tx.commit().map_err(|x| e(x.into()))?;
        Ok(changes)
    }

    /// The files matching `query`, newest change first, and how many match. A search
    /// text matches the beginning of a file's name, path, data_id or message id
    /// (case-insensitive), through an index; a state alone reads that state's index;
    /// the time range stops the walk at its start.
    pub fn files(&self, query: &Query) -> Result<(Vec<FileRecord>, usize), StoreError> {
        let e = |e: redb::Error| self.err("read", e);
        let tx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let files = tx.open_table(FILES).map_err(|x| e(x.into()))?;
        let load = |path: &str| -> Result<Option<FileRecord>, StoreError> {
            Ok(files
                .get(path)
                .map_err(|x| e(x.into()))?
                .and_then(|v| serde_json::from_slice(v.value()).ok()))
        };
        let in_time = |r: &FileRecord| {
            query.from.is_none_or(|t| r.updated >= t) && query.to.is_none_or(|t| r.updated <= t)
        };
        let wanted = |r: &FileRecord| query.state.is_none_or(|s| s == r.state) && in_time(r);
        let mut out = Vec::new();
        let mut total = 0;
        let mut take = |r: FileRecord, out: &mut Vec<FileRecord>| {
            if total >= query.offset && out.len() < query.limit {
                out.push(r);
            }
            total += 1;
        };
        if let Some(q) = query.q.as_deref() {
            // The paths whose terms begin with the text, newest change first.
            let prefix = q.trim().to_lowercase();
            let terms_t = tx.open_table(TERMS).map_err(|x| e(x.into()))?;
            let mut paths = std::collections::BTreeSet::new();
            for item in terms_t.range(prefix.as_str()..).map_err(|x| e(x.into()))? {
                let (k, _) = item.map_err(|x| e(x.into()))?;
                let key = k.value();
                if !key.starts_with(prefix.as_str()) {
                    break;
                }
                if let Some((_, path)) = key.split_once('\u{0}') {
                    paths.insert(path.to_string());
                }
            }
            let mut found = Vec::new();
            for p in paths {
                if let Some(r) = load(&p)?
                    && wanted(&r)
                {
                    found.push(r);
                }
            }
            found.sort_by_key(|r| std::cmp::Reverse(r.seq));
            for r in found {
                take(r, &mut out);
            }
            return Ok((out, total));
        }
        let meta = tx.open_table(META).map_err(|x| e(x.into()))?;
        let count = |key: &str| -> Result<usize, StoreError> {
            Ok(meta
                .get(key)
                .map_err(|x| e(x.into()))?
                .map(|v| v.value())
                .unwrap_or(0) as usize)
        };
        let timed = query.from.is_some() || query.to.is_some();
        let counted = tx.open_table(counts::COUNTS).map_err(|x| e(x.into()))?;
        let key = |k: i64| u64::try_from(k.max(0)).unwrap_or(0);
        if !timed {
            // The counts are kept, and those of the index's buckets find the page:
            // only the page itself is read.
            total = match query.state {
                Some(s) => count(state_key(s))?,
                None => files.len().map_err(|x| e(x.into()))? as usize,
            };
            let all = (0, i64::MAX);
            let (paths, _) = match query.state {
                Some(s) => {
                    let c = state_code(s);
                    let by_state = tx.open_table(BY_STATE).map_err(|x| e(x.into()))?;
                    counts::page(
                        &counted,
                        counts::state(c),
                        all,
                        (query.offset, query.limit),
                        false,
                        |a, b| Ok(by_state.range((c, key(a))..=(c, key(b)))?.count()),
                        |from| {
                            Ok(by_state
                                .range((c, 0)..=(c, key(from)))?
                                .rev()
                                .map(|i| i.map(|(_, p)| p.value().to_string())))
                        },
                    )
                }
                None => {
                    let order = tx.open_table(ORDER).map_err(|x| e(x.into()))?;
                    counts::page(
                        &counted,
                        counts::ORDER,
                        all,
                        (query.offset, query.limit),
                        false,
                        |a, b| Ok(order.range(key(a)..=key(b))?.count()),
                        |from| {
                            Ok(order
                                .range(..=key(from))?
                                .rev()
                                .map(|i| i.map(|(_, p)| p.value().to_string())))
                        },
                    )
                }
            }
            .map_err(|x| e(x.into()))?;
            for p in paths {
                if let Some(r) = load(&p)? {
                    out.push(r);
                }
            }
            return Ok((out, total));
        }
        // A time range: the time index gives its files, newest first.
        let by_time = tx.open_table(BY_TIME).map_err(|x| e(x.into()))?;
        let (from, to) = (query.from.unwrap_or(i64::MIN), query.to.unwrap_or(i64::MAX));
        if query.state.is_none() {
            // The count and the page's place from the buckets' counts; only the page's
            // records are read.
            let (paths, at) = counts::page(
                &counted,
                counts::TIME,
                (from, to),
                (query.offset, query.limit),
                true,
                |a, b| Ok(by_time.range((a, 0)..=(b, u64::MAX))?.count()),
                |at| {
                    Ok(by_time
                        .range((from, 0)..=(at, u64::MAX))?
                        .rev()
                        .map(|i| i.map(|(_, p)| p.value().to_string())))
                },
            )
            .map_err(|x| e(x.into()))?;
            for p in paths {
                if let Some(r) = load(&p)? {
                    out.push(r);
                }
            }
            return Ok((out, at.total));
        }
        // A time range and a state: the records of the range are read.
        let range = by_time
            .range((from, 0)..=(to, u64::MAX))
            .map_err(|x| e(x.into()))?;
        for item in range.rev() {
            let (_, p) = item.map_err(|x| e(x.into()))?;
            let Some(r) = load(p.value())? else { continue };
            if wanted(&r) {
                take(r, &mut out);
            }
        }
        Ok((out, total))
    }

    /// The record of the file at `path`.
    pub fn file(&self, path: &str) -> Result<Option<FileRecord>, StoreError> {
        let e = |e: redb::Error| self.err("read", e);
        let tx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let files = tx.open_table(FILES).map_err(|x| e(x.into()))?;
        Ok(files
            .get(path)
            .map_err(|x| e(x.into()))?
            .and_then(|v| serde_json::from_slice(v.value()).ok()))
    }

    /// How many files the history holds.
    pub fn len(&self) -> Result<u64, StoreError> {
        let e = |e: redb::Error| self.err("read", e);
        let tx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let files = tx.open_table(FILES).map_err(|x| e(x.into()))?;
        files.len().map_err(|x| e(x.into()))
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

mod counts;
mod prune;
mod read;

impl counts::Deltas {
    /// A file's entries in the counted indexes: the files in order, those of its
    /// state, and by time.
    fn file(&mut self, r: &FileRecord, delta: i64) {
        let seq = i64::try_from(r.seq).unwrap_or(i64::MAX);
        self.add(counts::ORDER, seq, delta);
        self.add(counts::state(state_code(r.state)), seq, delta);
        self.add(counts::TIME, r.updated, delta);
    }
}

/// Counts the indexes of a history written before their counts were kept (once: the
/// `counts` meta entry says it is done).
fn count_history(tx: &redb::WriteTransaction) -> Result<(), Box<redb::Error>> {
    let b = |e: redb::Error| Box::new(e);
    let mut meta = tx.open_table(META).map_err(|x| b(x.into()))?;
    if meta.get("counts").map_err(|x| b(x.into()))?.is_some() {
        return Ok(());
    }
    let seq = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
    let mut d = counts::Deltas::default();
    for item in tx
        .open_table(ORDER)
        .map_err(|x| b(x.into()))?
        .iter()
        .map_err(|x| b(x.into()))?
    {
        d.add(
            counts::ORDER,
            seq(item.map_err(|x| b(x.into()))?.0.value()),
            1,
        );
    }
    for item in tx
        .open_table(BY_STATE)
        .map_err(|x| b(x.into()))?
        .iter()
        .map_err(|x| b(x.into()))?
    {
        let (code, s) = item.map_err(|x| b(x.into()))?.0.value();
        d.add(counts::state(code), seq(s), 1);
    }
    for item in tx
        .open_table(BY_TIME)
        .map_err(|x| b(x.into()))?
        .iter()
        .map_err(|x| b(x.into()))?
    {
        d.add(counts::TIME, item.map_err(|x| b(x.into()))?.0.value().0, 1);
    }
    for item in tx
        .open_table(BY_PUBTIME)
        .map_err(|x| b(x.into()))?
        .iter()
        .map_err(|x| b(x.into()))?
    {
        d.add(
            counts::PUBTIME,
            item.map_err(|x| b(x.into()))?.0.value().0,
            1,
        );
    }
    d.write(&mut tx.open_table(counts::COUNTS).map_err(|x| b(x.into()))?)
        .map_err(|x| b(x.into()))?;
    meta.insert("counts", 1).map_err(|x| b(x.into()))?;
    Ok(())
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
