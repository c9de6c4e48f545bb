//! The history's messages, dead letters, metadata records and monitoring events.

use redb::{ReadableTable, ReadableTableMetadata};

use super::{
    BY_DATA_ID, BY_PUBTIME, LETTER_ORDER, LETTERS, Letter, MESSAGE_IDS, MESSAGES, MONITOR,
    MONITOR_KEPT, Published, RECORDS, RecordView, Store, StoreError, UNREADABLE, counts, json,
};

impl Store {
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
                // Every message, or those of a time window: the pubtime index gives
                // them, newest first, and its buckets' counts find the page and count
                // the window; then only the page is read.
                let by_pubtime = tx.open_table(BY_PUBTIME).map_err(|x| e(x.into()))?;
                let counted = tx.open_table(counts::COUNTS).map_err(|x| e(x.into()))?;
                let (a, b) = (window.0.unwrap_or(i64::MIN), window.1.unwrap_or(i64::MAX));
                let (seqs, at) = counts::page(
                    &counted,
                    counts::PUBTIME,
                    (a, b),
                    (offset, limit),
                    timed,
                    |x, y| Ok(by_pubtime.range((x, 0)..=(y, u64::MAX))?.count()),
                    |from| {
                        Ok(by_pubtime
                            .range((a, 0)..=(from, u64::MAX))?
                            .rev()
                            .map(|i| i.map(|(k, _)| k.value().1)))
                    },
                )
                .map_err(|x| e(x.into()))?;
                let total = if timed {
                    at.total
                } else {
                    // The count is kept (with the messages without a pubtime).
                    messages.len().map_err(|x| e(x.into()))? as usize
                };
                let mut out = Vec::new();
                for seq in seqs {
                    if let Some(p) = load(seq)? {
                        out.push(p);
                    }
                }
                return Ok((out, total));
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

    /// The message of ours one of `references` names: a message id, else the last
    /// message of a data_id.
    pub fn ours(&self, references: &[String]) -> Option<Published> {
        for r in references {
            if let Ok(Some(p)) = self.message(r) {
                return Some(p);
            }
        }
        references.iter().find_map(|r| {
            self.messages(Some(r), (None, None), 1, 0)
                .ok()
                .and_then(|(mut v, _)| v.pop())
        })
    }

    /// Records a monitoring event (kept up to [`MONITOR_KEPT`], the oldest go).
    pub fn record_monitor(&self, event: &crate::journal::MonitorView) -> Result<(), StoreError> {
        let e = |e: redb::Error| self.err("record", e);
        let tx = self.db.begin_write().map_err(|x| e(x.into()))?;
        {
            let mut monitor = tx.open_table(MONITOR).map_err(|x| e(x.into()))?;
            let next = monitor
                .last()
                .map_err(|x| e(x.into()))?
                .map(|(k, _)| k.value() + 1)
                .unwrap_or(1);
            monitor
                .insert(next, json(event).as_slice())
                .map_err(|x| e(x.into()))?;
            if next > MONITOR_KEPT {
                monitor
                    .retain_in(..=next - MONITOR_KEPT, |_, _| false)
                    .map_err(|x| e(x.into()))?;
            }
        }
        tx.commit().map_err(|x| e(x.into()))
    }

    /// The monitoring events, newest first, at most `limit`.
    pub fn monitor_events(
        &self,
        limit: usize,
    ) -> Result<Vec<crate::journal::MonitorView>, StoreError> {
        let e = |e: redb::Error| self.err("read", e);
        let tx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let monitor = tx.open_table(MONITOR).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for item in monitor.iter().map_err(|x| e(x.into()))?.rev().take(limit) {
            let (_, v) = item.map_err(|x| e(x.into()))?;
            if let Ok(m) = serde_json::from_slice(v.value()) {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// The payloads the console could not read, newest first, at most `limit`.
    pub fn unreadable(
        &self,
        limit: usize,
    ) -> Result<Vec<crate::journal::UnreadableView>, StoreError> {
        let e = |e: redb::Error| self.err("read", e);
        let tx = self.db.begin_read().map_err(|x| e(x.into()))?;
        let table = tx.open_table(UNREADABLE).map_err(|x| e(x.into()))?;
        let mut out = Vec::new();
        for item in table.iter().map_err(|x| e(x.into()))?.rev().take(limit) {
            let (_, v) = item.map_err(|x| e(x.into()))?;
            if let Ok(u) = serde_json::from_slice(v.value()) {
                out.push(u);
            }
        }
        Ok(out)
    }
}
