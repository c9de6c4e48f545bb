//! Publications the broker acknowledged whose copy has not come back on the read-back
//! session yet ([`crate::echo`]): what a broker that loses its state may have lost.
//!
//! Mosquitto acknowledges a QoS 1 message before it is on disk, and hands a copy to
//! every subscriber's session at once: the read-back session included. A message
//! whose copy came back was handed to every session the broker had; one whose copy
//! had not come back when the connection broke may be gone for all of them. So after
//! every reconnection of the read-back, once its barrier came back (what the broker
//! still had is read back by then), the messages still here that were acknowledged
//! before that reconnection are published again, with their bytes, so their `id`: a
//! Global Broker drops an id it has seen, and a subscriber that gets it twice gets the
//! same message. A message that did come back is not sent again.
//!
//! A broker that comes back with no state at all (`session_present` false: no
//! snapshot, or an older one) also lost its subscribers' sessions: they must subscribe
//! again before anything published reaches them. So for [`RESUBSCRIBE_GRACE`] after
//! such a return, wis2-publish holds its new publications and its re-publications on
//! the WIS2 topic ([`Grace`]).
//!
//! A publication whose acknowledgement never came (the connection broke first) is *in
//! doubt*: the broker may have taken it, and handed it to a subscriber, or not. It
//! keeps its claim on its `data_id` ([`crate::dedup`]), so that a re-announcement of
//! its file waits for it instead of going out under a new id; its copy coming back on
//! the read-back settles it as published, or else the read-back's recovery publishes
//! it again with the same id and settles it once acknowledged.
//!
//! Bounded: an entry leaves when its copy comes back; one older than [`KEEP`] (a
//! read-back that does not work, say) is forgotten, and so is the oldest beyond
//! [`MOST`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::time::Instant;
use wis2_bus::metrics::Counter;

/// How long an acknowledged publication waits for its copy before it is forgotten.
pub const KEEP: Duration = Duration::from_secs(600);

/// Most publications kept at once.
pub const MOST: usize = 100_000;

/// How long the WIS2 topic is held after the broker came back without its state, for
/// subscribers (Global Brokers) to connect and subscribe again: they reconnect within
/// seconds (mosquitto_sub after 1 s, paho's default backoff from 1 s).
pub const RESUBSCRIBE_GRACE: Duration = Duration::from_secs(5);

/// When the WIS2 topic is held ([`RESUBSCRIBE_GRACE`]).
#[derive(Debug, Default)]
pub struct Grace {
    until: Mutex<Option<std::time::Instant>>,
}

impl Grace {
    fn lock(&self) -> MutexGuard<'_, Option<std::time::Instant>> {
        self.until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds the topic for `d` from now.
    pub fn start(&self, d: Duration) {
        *self.lock() = Some(std::time::Instant::now() + d);
    }

    /// How long the topic is still held.
    pub fn left(&self) -> Duration {
        self.lock()
            .map(|t| t.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_default()
    }

    /// Blocks until the topic is free (a blocking-pool thread).
    pub fn wait(&self) {
        let left = self.left();
        if !left.is_zero() {
            std::thread::sleep(left);
        }
    }
}

/// A publication whose acknowledgement never came, with what settles it.
#[derive(Debug, Clone)]
pub struct InDoubt {
    pub topic: String,
    pub message: Vec<u8>,
    pub fields: crate::fields::Fields,
    pub event_id: String,
    /// Its confirmation for `wis2-watch`, sent once settled.
    pub confirmation: wis2_bus::Output,
}

/// One publication, acknowledged, not read back yet.
#[derive(Debug, Clone)]
pub struct Publication {
    pub id: String,
    pub topic: String,
    pub message: Vec<u8>,
    acknowledged_at: Instant,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Publication>,
    /// Ids in acknowledgement order (some may have left `by_id`).
    order: VecDeque<String>,
}

/// The acknowledged publications not read back yet.
#[derive(Default)]
pub struct Unechoed {
    inner: Mutex<Inner>,
    in_doubt: Mutex<HashMap<String, InDoubt>>,
    /// `wis2_messages_republished_total` of the service's `/metrics`.
    republished: OnceLock<Counter>,
}

impl Unechoed {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The broker acknowledged message `id` on `topic`.
    pub fn acknowledged(&self, id: &str, topic: &str, message: &[u8]) {
        let now = Instant::now();
        let mut g = self.lock();
        g.by_id.insert(
            id.to_string(),
            Publication {
                id: id.to_string(),
                topic: topic.to_string(),
                message: message.to_vec(),
                acknowledged_at: now,
            },
        );
        g.order.push_back(id.to_string());
        // Forget what waited too long (or beyond the bound), oldest first.
        while let Some(first) = g.order.front() {
            let stale = match g.by_id.get(first) {
                None => true,
                Some(p) => now.duration_since(p.acknowledged_at) > KEEP || g.by_id.len() > MOST,
            };
            if !stale {
                break;
            }
            if let Some(id) = g.order.pop_front()
                && g.by_id.remove(&id).is_some()
            {
                tracing::debug!(message_id = id, "not read back in time: forgotten");
            }
        }
        // Ids that came back behind one that did not: the order is rebuilt from what
        // is left when they outnumber it.
        if g.order.len() > 2 * g.by_id.len() + 1024 {
            let mut left: Vec<(Instant, String)> = g
                .by_id
                .values()
                .map(|p| (p.acknowledged_at, p.id.clone()))
                .collect();
            left.sort();
            g.order = left.into_iter().map(|(_, id)| id).collect();
        }
    }

    /// Message `id` came back on the read-back session.
    pub fn echoed(&self, id: &str) {
        self.lock().by_id.remove(id);
    }

    fn doubts(&self) -> MutexGuard<'_, HashMap<String, InDoubt>> {
        self.in_doubt.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A publication whose acknowledgement never came.
    pub fn in_doubt(&self, d: InDoubt) {
        self.doubts().insert(d.fields.id.clone(), d);
    }

    /// Takes the publication `id` out of doubt, when it is in doubt.
    pub fn take_in_doubt(&self, id: &str) -> Option<InDoubt> {
        self.doubts().remove(id)
    }

    /// Takes every publication in doubt.
    pub fn take_all_in_doubt(&self) -> Vec<InDoubt> {
        self.doubts().drain().map(|(_, d)| d).collect()
    }

    /// How many publications are in doubt.
    pub fn doubtful(&self) -> usize {
        self.doubts().len()
    }

    /// What was acknowledged before `cutoff` and has not come back, oldest first.
    pub fn acknowledged_before(&self, cutoff: Instant) -> Vec<Publication> {
        let g = self.lock();
        let mut out: Vec<Publication> = g
            .by_id
            .values()
            .filter(|p| p.acknowledged_at < cutoff)
            .cloned()
            .collect();
        out.sort_by_key(|p| p.acknowledged_at);
        out
    }

    /// How many wait for their copy.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts into `counter` the messages published again.
    pub fn count_into(&self, counter: Counter) {
        let _ = self.republished.set(counter);
    }

    /// `n` messages were published again.
    pub fn republished(&self, n: usize) {
        if let Some(c) = self.republished.get() {
            c.inc_by(n as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_came_back_is_not_listed_and_what_did_not_is_in_order() {
        let u = Unechoed::default();
        u.acknowledged("a", "t", b"A");
        u.acknowledged("b", "t", b"B");
        u.acknowledged("c", "t", b"C");
        u.echoed("b");
        let cutoff = Instant::now();
        u.acknowledged("d", "t", b"D");
        let lost: Vec<String> = u
            .acknowledged_before(cutoff)
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(lost, ["a", "c"]);
        assert_eq!(u.acknowledged_before(cutoff)[0].message, b"A");
        assert_eq!(u.len(), 3);
        for id in ["a", "c", "d"] {
            u.echoed(id);
        }
        assert!(u.is_empty());
        // An id echoed before its acknowledgement was recorded is simply absent.
        u.echoed("e");
        assert!(u.is_empty());
    }

    #[test]
    fn the_grace_holds_for_its_time_only() {
        let g = Grace::default();
        assert!(g.left().is_zero());
        g.start(Duration::from_millis(50));
        assert!(g.left() > Duration::ZERO && g.left() <= Duration::from_millis(50));
        let t = std::time::Instant::now();
        g.wait();
        assert!(t.elapsed() >= Duration::from_millis(40));
        assert!(g.left().is_zero());
    }

    #[test]
    fn republications_are_counted_once_a_counter_is_given() {
        let u = Unechoed::default();
        u.republished(2);
        let c = Counter::default();
        u.count_into(c.clone());
        u.republished(3);
        assert_eq!(c.get(), 3);
    }
}
