//! What the stage remembers between messages: the `data_id`s seen recently
//! ([`SeenIds`], for the uniqueness check) and the warnings logged lately
//! ([`RepeatedWarnings`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasher;
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
///
/// Memory is bounded, whatever the flow: a data_id is kept as a 128-bit hash, its
/// integrity as a 64-bit one, and at most [`SeenIds::MAX`] of them (about 16 MB): the
/// window is the last hour (`WIS2_UNIQUE_WINDOW_SECS`) or the last `MAX` data_ids,
/// whichever is shorter (an archive published at full rate fills `MAX` in under two
/// minutes). The oldest go first, one at a time, as new ones come.
#[derive(Debug)]
pub struct SeenIds {
    window: Duration,
    seen: Mutex<Window>,
}

/// The data_ids of the window: the latest time and integrity of each, and the order
/// they came in (an entry there whose time is not its map entry's is a stale one).
#[derive(Debug)]
struct Window {
    start: Instant,
    hashers: (std::hash::RandomState, std::hash::RandomState),
    /// data_id hash -> (seconds, integrity hash, number of its entry in `order`).
    by_id: HashMap<u128, (u32, u64, u64)>,
    /// (data_id hash, seconds, number), oldest first.
    order: std::collections::VecDeque<(u128, u32, u64)>,
    /// The number of the next entry.
    next: u64,
    /// Whether the cap cut the window short yet (logged once).
    capped: bool,
}

impl Window {
    fn id(&self, data_id: &str) -> u128 {
        let (a, b) = &self.hashers;
        (u128::from(a.hash_one(data_id)) << 64) | u128::from(b.hash_one(data_id))
    }

    fn integrity(&self, integrity: &Option<String>) -> u64 {
        self.hashers.0.hash_one(integrity)
    }

    /// Seconds since the window was made.
    fn now(&self) -> u32 {
        u32::try_from(self.start.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// Forgets what left the window (older than `window`, or past `max` data_ids).
    fn expire(&mut self, now: u32, window: u32, max: usize) {
        while let Some(&(id, t, n)) = self.order.front() {
            let old = now.saturating_sub(t) >= window;
            let full = self.order.len() > max;
            if !old && !full {
                break;
            }
            if full && !old && !self.capped {
                self.capped = true;
                tracing::info!(
                    kept = max,
                    "the data_id uniqueness check keeps the last {max} data_ids: at this rate it covers less than WIS2_UNIQUE_WINDOW_SECS"
                );
            }
            self.order.pop_front();
            if self.by_id.get(&id).is_some_and(|e| e.2 == n) {
                self.by_id.remove(&id);
            }
        }
    }
}

impl SeenIds {
    /// The most data_ids remembered.
    pub const MAX: usize = 200_000;

    pub fn new(window: Duration) -> Self {
        SeenIds {
            window,
            seen: Mutex::new(Window {
                start: Instant::now(),
                hashers: Default::default(),
                by_id: HashMap::new(),
                order: std::collections::VecDeque::new(),
                next: 0,
                capped: false,
            }),
        }
    }

    fn window_secs(&self) -> u32 {
        u32::try_from(self.window.as_secs())
            .unwrap_or(u32::MAX)
            .max(1)
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
        let (t, prev, _) = *seen.by_id.get(&seen.id(data_id))?;
        let age = seen.now().saturating_sub(t);
        if *rel != Relation::Canonical
            || age >= self.window_secs()
            || prev == seen.integrity(integrity)
        {
            return None;
        }
        Some(
            Finding::new(
                "/properties/data_id",
                format!(
                    "data_id {data_id} was announced with other data {age} s ago; a Global Cache drops a known data_id sent again as canonical"
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
        let (data_id, _, integrity) = key;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let now = seen.now();
        let (id, value) = (seen.id(data_id), seen.integrity(integrity));
        let n = seen.next;
        seen.next += 1;
        seen.by_id.insert(id, (now, value, n));
        seen.order.push_back((id, now, n));
        seen.expire(now, self.window_secs(), Self::MAX);
    }

    /// How many data_ids are remembered.
    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_id
            .len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    fn memory_is_bounded_the_oldest_data_ids_go_first() {
        let s = SeenIds::new(Duration::from_secs(3600));
        let n = SeenIds::MAX + 1000;
        for i in 0..n {
            s.record(&(format!("d{i}"), Relation::Canonical, Some("A".into())));
        }
        assert_eq!(s.len(), SeenIds::MAX, "at most MAX remembered");
        assert!(
            s.check(&msg("d0", "canonical", "B")).is_none(),
            "the oldest was forgotten"
        );
        assert!(
            s.check(&msg(&format!("d{}", n - 1), "canonical", "B"))
                .is_some(),
            "the newest is remembered"
        );
        // A data_id recorded again stays, with its latest data.
        s.record(&msg("again", "canonical", "A"));
        s.record(&msg("again", "canonical", "B"));
        assert!(s.check(&msg("again", "canonical", "B")).is_none());
        assert!(s.check(&msg("again", "canonical", "C")).is_some());
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
