//! What the stage remembers between messages: the `data_id`s seen recently
//! ([`SeenIds`], for the uniqueness check) and the warnings logged lately
//! ([`RepeatedWarnings`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wis2::message::{Keys, Relation};
use wis2::report::Finding;

/// What [`SeenIds`] keys a message on: its data_id, relation and integrity value.
pub type SeenKey = (String, Relation, Option<String>);

/// Test id of the check that a `data_id` sent again as `canonical` carries the same
/// data (a changed file needs `rel=update`).
pub const UNIQUE_TEST_ID: &str = "https://wis2-chain.org/conf/data-id-unique";

/// The `data_id`s seen recently with their integrity, for the uniqueness check.
#[derive(Debug)]
pub struct SeenIds {
    window: Duration,
    seen: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

impl SeenIds {
    pub fn new(window: Duration) -> Self {
        SeenIds {
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The data_id, rel and integrity of a message (its JSON text); none when it has
    /// no data_id or no known relation.
    pub fn key(message: &[u8]) -> Option<SeenKey> {
        Self::key_of(Keys::parse(message).ok()?)
    }

    /// The key of a message from its parsed keys.
    pub fn key_of(k: Keys<'_>) -> Option<SeenKey> {
        Some((
            k.data_id?.into_owned(),
            k.rel?,
            k.integrity.map(Cow::into_owned),
        ))
    }

    /// A finding when a `canonical` message repeats a `data_id` seen within the window
    /// with other data. The same data again (a re-send after a lost confirmation) is
    /// fine: `wis2-publish` suppresses it.
    pub fn check(&self, key: &SeenKey) -> Option<Finding> {
        if self.window.is_zero() {
            return None;
        }
        let (data_id, rel, integrity) = key;
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let (t, prev) = seen.get(data_id)?;
        let age = t.elapsed();
        if *rel != Relation::Canonical || age >= self.window || prev == integrity {
            return None;
        }
        Some(
            Finding::new(
                "/properties/data_id",
                format!(
                    "data_id {data_id} was announced with other data {} s ago; a Global Cache drops a known data_id sent again as canonical",
                    age.as_secs()
                ),
            )
            .with_fix("announce changed data with a link rel=update (same data_id, newer pubtime)"),
        )
    }

    /// Remembers a message that went on (called once it is handed to wis2-publish, so
    /// that a rejected message does not block its corrected version).
    pub fn record(&self, key: &SeenKey) {
        if self.window.is_zero() {
            return;
        }
        let (data_id, _, integrity) = key.clone();
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 200_000 {
            let window = self.window;
            seen.retain(|_, (t, _)| now.duration_since(*t) < window);
        }
        seen.insert(data_id, (now, integrity));
    }
}

/// The same warning for every message of a stream (a topic no WCMP2 record
/// announces, say) is logged at WARN once per [`RepeatedWarnings::EVERY`], with how
/// many times it came since; in between at DEBUG.
#[derive(Default)]
pub struct RepeatedWarnings {
    /// Warning text -> (when last logged at WARN, repeats since).
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl RepeatedWarnings {
    const EVERY: Duration = Duration::from_secs(600);
    /// Texts remembered at most (texts that name a message are all different).
    const MAX: usize = 1024;

    pub fn log(&self, warning: &str) {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, repeats)) = last.get_mut(warning)
            && now.duration_since(*at) < Self::EVERY
        {
            *repeats += 1;
            tracing::debug!(warning, "message warning (repeated)");
            return;
        }
        let repeats = last.get(warning).map_or(0, |(_, n)| *n);
        if last.len() >= Self::MAX {
            last.clear();
        }
        last.insert(warning.to_string(), (now, 0));
        drop(last);
        if repeats > 0 {
            tracing::warn!(
                warning,
                repeats,
                "message warning (also on {repeats} messages since it was last logged)"
            );
        } else {
            tracing::warn!(warning, "message warning");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_repeated_warning_is_counted_not_logged_again() {
        let w = super::RepeatedWarnings::default();
        for _ in 0..3 {
            w.log("topic x: no record");
        }
        w.log("topic y: no record");
        let last = w.last.lock().unwrap();
        assert_eq!(last.get("topic x: no record").map(|e| e.1), Some(2));
        assert_eq!(last.get("topic y: no record").map(|e| e.1), Some(0));
    }

    use super::*;

    fn msg(data_id: &str, rel: &str, integrity: &str) -> SeenKey {
        SeenIds::key(&text(data_id, rel, integrity)).expect("a key")
    }

    fn text(data_id: &str, rel: &str, integrity: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "properties": {"data_id": data_id, "integrity": {"method": "sha512", "value": integrity}},
            "links": [{"rel": "via", "href": "https://h/y"}, {"rel": rel, "href": "https://h/x"}]
        }))
        .expect("json")
    }

    #[test]
    fn a_changed_file_sent_again_as_canonical_is_refused_a_resend_is_not() {
        let s = SeenIds::new(Duration::from_secs(60));
        assert!(s.check(&msg("d", "canonical", "A")).is_none());
        assert!(
            s.check(&msg("d", "canonical", "B")).is_none(),
            "nothing recorded yet: a rejected message does not block its correction"
        );
        s.record(&msg("d", "canonical", "A"));
        assert!(
            s.check(&msg("d", "canonical", "A")).is_none(),
            "a re-send of the same data"
        );
        let f = s
            .check(&msg("d", "canonical", "B"))
            .expect("changed data as canonical");
        assert!(f.to_string().contains("rel=update"), "{f}");
        assert!(s.check(&msg("d", "update", "C")).is_none());
        let off = SeenIds::new(Duration::ZERO);
        off.record(&msg("d", "canonical", "A"));
        assert!(off.check(&msg("d", "canonical", "B")).is_none());
    }

    #[test]
    fn a_message_without_data_id_or_relation_has_no_key() {
        // The reading itself is wis2::message::Keys's (tested there).
        assert!(
            SeenIds::key(b"{\"links\": [{\"rel\": \"canonical\"}]}").is_none(),
            "no data_id"
        );
        assert!(
            SeenIds::key(br#"{"properties": {"data_id": "d"}, "links": [{"rel": "item"}]}"#)
                .is_none(),
            "no relation"
        );
        assert!(SeenIds::key(b"not json").is_none());
        assert_eq!(
            SeenIds::key(br#"{"properties": {"data_id": "d", "integrity": {"value": "V"}}, "links": [{"rel": "update"}]}"#),
            Some(("d".to_string(), Relation::Update, Some("V".to_string())))
        );
    }
}
