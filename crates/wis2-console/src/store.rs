//! The console's history, on disk (redb, `console.redb` in `WIS2_STATE_DIR`): every
//! file's record, the messages as published, the dead letters, the metadata records.
//! Each burst of facts is one durable transaction (it survives a `kill -9`); the
//! deliveries are acknowledged to the broker only after it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wis2_bus::DeadLetter;

use crate::journal::{Fact, FileRecord, LetterView, State};

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
/// counters: "seq", and "state:<state>" (files in each state).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// (state, change number) → path: the files of one state, newest change last.
const BY_STATE: TableDefinition<(u8, u64), &str> = TableDefinition::new("by_state");
/// search term (lower case) NUL path → (): the file's name, path, data_id and
/// message id, for prefix search.
const TERMS: TableDefinition<&str, ()> = TableDefinition::new("terms");
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

/// A message as published.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    pub topic: String,
    pub message_id: String,
    pub data_id: String,
    pub pubtime: Option<String>,
    pub message: Value,
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
        let db = Database::create(&path).map_err(|e| err("open", e.into()))?;
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
            let mut counts: std::collections::HashMap<&'static str, i64> = Default::default();
            let mut seq = meta
                .get("seq")
                .map_err(|x| e(x.into()))?
                .map(|v| v.value())
                .unwrap_or(0);
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
                        }
                        continue;
                    }
                    Fact::DeadLetter { view, letter } => {
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
                let before: Option<FileRecord> = files
                    .get(path)
                    .map_err(|x| e(x.into()))?
                    .and_then(|v| serde_json::from_slice(v.value()).ok());
                let old_terms = before.as_ref().map(terms).unwrap_or_default();
                let mut record = match &before {
                    Some(r) => {
                        order.remove(r.seq).map_err(|x| e(x.into()))?;
                        by_state
                            .remove((state_code(r.state), r.seq))
                            .map_err(|x| e(x.into()))?;
                        *counts.entry(state_key(r.state)).or_default() -= 1;
                        r.clone()
                    }
                    None => FileRecord::new(path),
                };
                record.apply(fact, time);
                seq += 1;
                record.seq = seq;
                record.updated = *unix;
                order.insert(seq, path).map_err(|x| e(x.into()))?;
                by_state
                    .insert((state_code(record.state), seq), path)
                    .map_err(|x| e(x.into()))?;
                *counts.entry(state_key(record.state)).or_default() += 1;
                let new_terms = terms(&record);
                for t in old_terms.iter().filter(|t| !new_terms.contains(t)) {
                    terms_t.remove(t.as_str()).map_err(|x| e(x.into()))?;
                }
                for t in new_terms.iter().filter(|t| !old_terms.contains(t)) {
                    terms_t.insert(t.as_str(), ()).map_err(|x| e(x.into()))?;
                }
                files
                    .insert(path, json(&record).as_slice())
                    .map_err(|x| e(x.into()))?;
                changes.files.retain(|f| f.path != record.path);
                changes.files.push(record);
            }
            meta.insert("seq", seq).map_err(|x| e(x.into()))?;
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
        let by_state = tx.open_table(BY_STATE).map_err(|x| e(x.into()))?;
        let order = tx.open_table(ORDER).map_err(|x| e(x.into()))?;
        let paths: Box<dyn Iterator<Item = Result<String, StoreError>>> = match query.state {
            Some(s) => {
                let c = state_code(s);
                let range = by_state
                    .range((c, 0)..=(c, u64::MAX))
                    .map_err(|x| e(x.into()))?;
                Box::new(range.rev().map(move |i| {
                    i.map(|(_, p)| p.value().to_string())
                        .map_err(|x| self.err("read", x))
                }))
            }
            None => {
                let range = order.iter().map_err(|x| e(x.into()))?;
                Box::new(range.rev().map(move |i| {
                    i.map(|(_, p)| p.value().to_string())
                        .map_err(|x| self.err("read", x))
                }))
            }
        };
        if !timed {
            // The counts are kept: only the page itself is read.
            total = match query.state {
                Some(s) => count(state_key(s))?,
                None => files.len().map_err(|x| e(x.into()))? as usize,
            };
            for p in paths.skip(query.offset).take(query.limit) {
                if let Some(r) = load(&p?)? {
                    out.push(r);
                }
            }
            return Ok((out, total));
        }
        for p in paths {
            let Some(r) = load(&p?)? else { continue };
            // Newest change first: past the start of the range, nothing older matches.
            if query.from.is_some_and(|t| r.updated < t) {
                break;
            }
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

    /// The message `id` as published.
    pub fn message(&self, id: &str) -> Result<Option<Published>, StoreError> {
        let e = |e: redb::Error| self.err("read", e);
        let tx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let ids = tx.open_table(MESSAGE_IDS).map_err(|x| e(x.into()))?;
        let messages = tx.open_table(MESSAGES).map_err(|x| e(x.into()))?;
        let Some(seq) = ids.get(id).map_err(|x| e(x.into()))?.map(|v| v.value()) else {
            return Ok(None);
        };
        Ok(messages
            .get(seq)
            .map_err(|x| e(x.into()))?
            .and_then(|v| serde_json::from_slice(v.value()).ok()))
    }

    /// The messages as published, newest first: those of `data_id` when given (an
    /// index), whose `pubtime` (Unix ms) is in `window` when given; `limit` of them from
    /// `offset`, and how many match.
    pub fn messages(
        &self,
        data_id: Option<&str>,
        window: (Option<i64>, Option<i64>),
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Published>, usize), StoreError> {
        let e = |e: redb::Error| self.err("read", e);
        let tx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let messages = tx.open_table(MESSAGES).map_err(|x| e(x.into()))?;
        let by_data_id = tx.open_table(BY_DATA_ID).map_err(|x| e(x.into()))?;
        let load = |seq: u64| -> Result<Option<Published>, StoreError> {
            Ok(messages
                .get(seq)
                .map_err(|x| e(x.into()))?
                .and_then(|v| serde_json::from_slice(v.value()).ok()))
        };
        let pubtime = |p: &Published| {
            p.pubtime
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.timestamp_millis())
        };
        let timed = window.0.is_some() || window.1.is_some();
        let in_window = |p: &Published| match pubtime(p) {
            None => !timed,
            Some(t) => window.0.is_none_or(|a| t >= a) && window.1.is_none_or(|b| t <= b),
        };
        let seqs: Box<dyn Iterator<Item = Result<u64, StoreError>>> = match data_id {
            Some(d) => Box::new(
                by_data_id
                    .range((d, 0)..=(d, u64::MAX))
                    .map_err(|x| e(x.into()))?
                    .rev()
                    .map(|i| i.map(|(k, _)| k.value().1).map_err(|x| self.err("read", x))),
            ),
            None => {
                if !timed {
                    // Every message: the count is kept, only the page is read.
                    let total = messages.len().map_err(|x| e(x.into()))? as usize;
                    let mut out = Vec::new();
                    for item in messages
                        .iter()
                        .map_err(|x| e(x.into()))?
                        .rev()
                        .skip(offset)
                        .take(limit)
                    {
                        let (_, v) = item.map_err(|x| e(x.into()))?;
                        if let Ok(p) = serde_json::from_slice::<Published>(v.value()) {
                            out.push(p);
                        }
                    }
                    return Ok((out, total));
                }
                Box::new(
                    messages
                        .iter()
                        .map_err(|x| e(x.into()))?
                        .rev()
                        .map(|i| i.map(|(k, _)| k.value()).map_err(|x| self.err("read", x))),
                )
            }
        };
        let mut out = Vec::new();
        let mut total = 0;
        for seq in seqs {
            let Some(p) = load(seq?)? else { continue };
            // Published in order of their pubtime, give or take: a minute past the
            // start of the window, nothing older matches.
            if let (Some(a), Some(t)) = (window.0, pubtime(&p))
                && t < a - 60_000
            {
                break;
            }
            if !in_window(&p) {
                continue;
            }
            if total >= offset && out.len() < limit {
                out.push(p);
            }
            total += 1;
        }
        Ok((out, total))
    }

    /// Every dead letter, newest first.
    pub fn letters(&self) -> Result<Vec<Letter>, StoreError> {
        let e = |e: redb::Error| self.err("read", e);
        let tx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let order = tx.open_table(LETTER_ORDER).map_err(|x| e(x.into()))?;
        let letters = tx.open_table(LETTERS).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for item in order.iter().map_err(|x| e(x.into()))?.rev() {
            let (_, id) = item.map_err(|x| e(x.into()))?;
            if let Some(v) = letters.get(id.value()).map_err(|x| e(x.into()))?
                && let Ok(l) = serde_json::from_slice::<Letter>(v.value())
            {
                out.push(l);
            }
        }
        Ok(out)
    }

    /// The dead letter `id`.
    pub fn letter(&self, id: &str) -> Result<Option<Letter>, StoreError> {
        let e = |e: redb::Error| self.err("read", e);
        let tx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let letters = tx.open_table(LETTERS).map_err(|x| e(x.into()))?;
        Ok(letters
            .get(id)
            .map_err(|x| e(x.into()))?
            .and_then(|v| serde_json::from_slice(v.value()).ok()))
    }

    /// Marks the dead letter `id` replayed at `time`.
    pub fn replayed(&self, id: &str, time: &str) -> Result<(), StoreError> {
        let e = |e: redb::Error| self.err("record", e);
        let tx = self.db.begin_write().map_err(|x| e(x.into()))?;
        {
            let mut letters = tx.open_table(LETTERS).map_err(|x| e(x.into()))?;
            let current: Option<Letter> = letters
                .get(id)
                .map_err(|x| e(x.into()))?
                .and_then(|v| serde_json::from_slice(v.value()).ok());
            if let Some(mut l) = current {
                l.replayed = Some(time.to_string());
                letters
                    .insert(id, json(&l).as_slice())
                    .map_err(|x| e(x.into()))?;
            }
        }
        tx.commit().map_err(|x| e(x.into()))
    }

    /// The discovery metadata records announced.
    pub fn records(&self) -> Result<Vec<RecordView>, StoreError> {
        let e = |e: redb::Error| self.err("read", e);
        let tx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let records = tx.open_table(RECORDS).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for item in records.iter().map_err(|x| e(x.into()))? {
            let (_, v) = item.map_err(|x| e(x.into()))?;
            if let Ok(r) = serde_json::from_slice(v.value()) {
                out.push(r);
            }
        }
        Ok(out)
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

    /// Forgets the files last changed before `before` (Unix seconds), and the
    /// messages and dead letters older than their number; returns how many files.
    pub fn prune(&self, before: i64) -> Result<usize, StoreError> {
        let e = |e: redb::Error| self.err("prune", e);
        let tx = self.db.begin_write().map_err(|x| e(x.into()))?;
        let mut gone = 0;
        {
            let mut files = tx.open_table(FILES).map_err(|x| e(x.into()))?;
            let mut order = tx.open_table(ORDER).map_err(|x| e(x.into()))?;
            let mut old = Vec::new();
            for item in order.iter().map_err(|x| e(x.into()))? {
                let (seq, path) = item.map_err(|x| e(x.into()))?;
                let Some(v) = files.get(path.value()).map_err(|x| e(x.into()))? else {
                    continue;
                };
                let updated = serde_json::from_slice::<FileRecord>(v.value())
                    .map(|r| r.updated)
                    .unwrap_or(0);
                if updated >= before {
                    // The order is by change: every later one is newer.
                    break;
                }
                old.push((seq.value(), path.value().to_string()));
            }
            let mut by_state = tx.open_table(BY_STATE).map_err(|x| e(x.into()))?;
            let mut terms_t = tx.open_table(TERMS).map_err(|x| e(x.into()))?;
            let mut meta = tx.open_table(META).map_err(|x| e(x.into()))?;
            let mut counts: std::collections::HashMap<&'static str, u64> = Default::default();
            for (seq, path) in old {
                order.remove(seq).map_err(|x| e(x.into()))?;
                let gone_record: Option<FileRecord> = files
                    .remove(path.as_str())
                    .map_err(|x| e(x.into()))?
                    .and_then(|v| serde_json::from_slice(v.value()).ok());
                if let Some(r) = gone_record {
                    by_state
                        .remove((state_code(r.state), r.seq))
                        .map_err(|x| e(x.into()))?;
                    for t in terms(&r) {
                        terms_t.remove(t.as_str()).map_err(|x| e(x.into()))?;
                    }
                    *counts.entry(state_key(r.state)).or_default() += 1;
                }
                gone += 1;
            }
            for (key, n) in counts {
                let was = meta
                    .get(key)
                    .map_err(|x| e(x.into()))?
                    .map(|v| v.value())
                    .unwrap_or(0);
                meta.insert(key, was.saturating_sub(n))
                    .map_err(|x| e(x.into()))?;
            }
            // Messages and dead letters: kept for as long as the files of their time.
            let first_kept = order
                .first()
                .map_err(|x| e(x.into()))?
                .map(|(k, _)| k.value())
                .unwrap_or(u64::MAX);
            let mut messages = tx.open_table(MESSAGES).map_err(|x| e(x.into()))?;
            let mut ids = tx.open_table(MESSAGE_IDS).map_err(|x| e(x.into()))?;
            let mut by_data_id = tx.open_table(BY_DATA_ID).map_err(|x| e(x.into()))?;
            let old_messages: Vec<(u64, String, String)> = messages
                .range(..first_kept)
                .map_err(|x| e(x.into()))?
                .filter_map(Result::ok)
                .filter_map(|(k, v)| {
                    serde_json::from_slice::<Published>(v.value())
                        .ok()
                        .map(|p| (k.value(), p.message_id, p.data_id))
                })
                .collect();
            for (seq, id, data_id) in old_messages {
                messages.remove(seq).map_err(|x| e(x.into()))?;
                ids.remove(id.as_str()).map_err(|x| e(x.into()))?;
                by_data_id
                    .remove((data_id.as_str(), seq))
                    .map_err(|x| e(x.into()))?;
            }
            let mut letters = tx.open_table(LETTERS).map_err(|x| e(x.into()))?;
            let mut letter_order = tx.open_table(LETTER_ORDER).map_err(|x| e(x.into()))?;
            let old_letters: Vec<(u64, String)> = letter_order
                .range(..first_kept)
                .map_err(|x| e(x.into()))?
                .filter_map(Result::ok)
                .map(|(k, v)| (k.value(), v.value().to_string()))
                .collect();
            for (seq, id) in old_letters {
                letter_order.remove(seq).map_err(|x| e(x.into()))?;
                letters.remove(id.as_str()).map_err(|x| e(x.into()))?;
            }
        }
        tx.commit().map_err(|x| e(x.into()))?;
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact_published(path: &str, id: &str) -> Fact {
        Fact::Published {
            path: path.into(),
            message_id: id.into(),
            data_id: format!("wis2/x/{path}"),
        }
    }

    #[test]
    fn files_are_listed_newest_first_searched_filtered_and_pruned() {
        let dir = tempfile::tempdir().expect("dir");
        let s = Store::open(dir.path()).expect("open");
        let t = "2026-12-07T10:00:00Z".to_string();
        s.apply(&[
            (fact_published("a.nc", "m1"), t.clone(), 100),
            (fact_published("b.nc", "m2"), t.clone(), 200),
        ])
        .expect("apply");
        s.apply(&[(fact_published("a.nc", "m3"), t.clone(), 300)])
            .expect("apply");
        let all = Query {
            limit: 10,
            ..Query::default()
        };
        let (files, total) = s.files(&all).expect("files");
        assert_eq!(total, 2);
        assert_eq!(files[0].path, "a.nc", "changed last, listed first");
        assert_eq!(files[0].message_id.as_deref(), Some("m3"));
        let (found, n) = s
            .files(&Query {
                q: Some("m2".into()),
                ..all.clone()
            })
            .expect("search");
        assert_eq!((found.len(), n), (1, 1));
        let (none, _) = s
            .files(&Query {
                state: Some(State::Rejected),
                ..all.clone()
            })
            .expect("filter");
        assert!(none.is_empty());
        let (page, total) = s
            .files(&Query {
                limit: 1,
                offset: 1,
                ..all.clone()
            })
            .expect("page");
        assert_eq!((page[0].path.as_str(), total), ("b.nc", 2));
        let (b, n) = s
            .files(&Query {
                q: Some("B.N".into()),
                ..all.clone()
            })
            .expect("search by name, any case");
        assert_eq!((b[0].path.as_str(), n), ("b.nc", 1));
        let (recent, n) = s
            .files(&Query {
                from: Some(250),
                ..all.clone()
            })
            .expect("time range");
        assert_eq!((recent[0].path.as_str(), n), ("a.nc", 1));
        let published = Query {
            state: Some(State::Published),
            ..all.clone()
        };
        assert_eq!(s.files(&published).expect("state").1, 2, "counted");
        assert_eq!(s.prune(250).expect("prune"), 1, "b.nc is older");
        assert_eq!(s.len().expect("len"), 1);
        assert_eq!(
            s.files(&published).expect("state").1,
            1,
            "the count follows"
        );
        assert!(
            s.files(&Query {
                q: Some("b.nc".into()),
                ..all.clone()
            })
            .expect("search")
            .0
            .is_empty()
        );
        drop(s);
        let again = Store::open(dir.path()).expect("reopen");
        assert_eq!(
            again
                .file("a.nc")
                .expect("read")
                .expect("kept")
                .message_id
                .as_deref(),
            Some("m3")
        );
    }
}
