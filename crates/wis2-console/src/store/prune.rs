//! Retention: the history forgets what is older than `WIS2_CONSOLE_RETENTION_DAYS`.

use redb::ReadableTable;

use super::{
    BY_DATA_ID, BY_PUBTIME, BY_STATE, BY_TIME, FILES, LETTER_ORDER, LETTERS, Letter, MESSAGE_IDS,
    MESSAGES, META, ORDER, Published, Store, StoreError, TERMS, counts, state_code, state_key,
    terms,
};
use crate::journal::FileRecord;

impl Store {
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
            let mut by_time_t = tx.open_table(BY_TIME).map_err(|x| e(x.into()))?;
            let mut terms_t = tx.open_table(TERMS).map_err(|x| e(x.into()))?;
            let mut meta = tx.open_table(META).map_err(|x| e(x.into()))?;
            let mut counts: std::collections::HashMap<&'static str, u64> = Default::default();
            let mut counted = counts::Deltas::default();
            for (seq, path) in old {
                order.remove(seq).map_err(|x| e(x.into()))?;
                let gone_record: Option<FileRecord> = files
                    .remove(path.as_str())
                    .map_err(|x| e(x.into()))?
                    .and_then(|v| serde_json::from_slice(v.value()).ok());
                if let Some(r) = gone_record {
                    by_time_t
                        .remove((r.updated, r.seq))
                        .map_err(|x| e(x.into()))?;
                    by_state
                        .remove((state_code(r.state), r.seq))
                        .map_err(|x| e(x.into()))?;
                    for t in terms(&r) {
                        terms_t.remove(t.as_str()).map_err(|x| e(x.into()))?;
                    }
                    *counts.entry(state_key(r.state)).or_default() += 1;
                    counted.file(&r, -1);
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
            // Messages and dead letters: by their own time (a message's pubtime, a
            // letter's), not by the files' order, which moves with every change.
            let mut messages = tx.open_table(MESSAGES).map_err(|x| e(x.into()))?;
            let mut ids = tx.open_table(MESSAGE_IDS).map_err(|x| e(x.into()))?;
            let mut by_data_id = tx.open_table(BY_DATA_ID).map_err(|x| e(x.into()))?;
            let mut by_pubtime = tx.open_table(BY_PUBTIME).map_err(|x| e(x.into()))?;
            let old_messages: Vec<(i64, u64)> = by_pubtime
                .range(..(before.saturating_mul(1000), 0))
                .map_err(|x| e(x.into()))?
                .filter_map(Result::ok)
                .map(|(k, _)| k.value())
                .collect();
            for (t, seq) in old_messages {
                by_pubtime.remove((t, seq)).map_err(|x| e(x.into()))?;
                counted.add(counts::PUBTIME, t, -1);
                let gone_message: Option<Published> = messages
                    .remove(seq)
                    .map_err(|x| e(x.into()))?
                    .and_then(|v| serde_json::from_slice(v.value()).ok());
                if let Some(p) = gone_message {
                    ids.remove(p.message_id.as_str()).map_err(|x| e(x.into()))?;
                    by_data_id
                        .remove((p.data_id.as_str(), seq))
                        .map_err(|x| e(x.into()))?;
                }
            }
            let mut letters = tx.open_table(LETTERS).map_err(|x| e(x.into()))?;
            let mut letter_order = tx.open_table(LETTER_ORDER).map_err(|x| e(x.into()))?;
            let mut old_letters: Vec<(u64, String)> = Vec::new();
            for item in letter_order.iter().map_err(|x| e(x.into()))? {
                let (seq, id) = item.map_err(|x| e(x.into()))?;
                let time = letters
                    .get(id.value())
                    .map_err(|x| e(x.into()))?
                    .and_then(|v| serde_json::from_slice::<Letter>(v.value()).ok())
                    .and_then(|l| chrono::DateTime::parse_from_rfc3339(&l.view.time).ok())
                    .map_or(0, |t| t.timestamp());
                if time >= before {
                    break; // in order of arrival: the later ones are newer
                }
                old_letters.push((seq.value(), id.value().to_string()));
            }
            for (seq, id) in old_letters {
                letter_order.remove(seq).map_err(|x| e(x.into()))?;
                letters.remove(id.as_str()).map_err(|x| e(x.into()))?;
            }
            counted
                .write(&mut tx.open_table(counts::COUNTS).map_err(|x| e(x.into()))?)
                .map_err(|x| e(x.into()))?;
        }
        tx.commit().map_err(|x| e(x.into()))?;
        Ok(gone)
    }
}
