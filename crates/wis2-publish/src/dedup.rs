//! Duplicate suppression: once and only once on the WIS2 topic.
//!
//! A validated message is a duplicate when its id was published, or when its
//! `data_id` was last published in the same state ([`StateKey`]: a redelivery after a
//! crash, a re-announcement of a file whose confirmation was lost). [`Dedup::claim`]
//! checks the publication store and what is in flight (being published, or being
//! recorded from the read-back of the WIS2 topic) under one short lock, so that two
//! deliveries of one message cannot both pass. The lock covers the store's lookups
//! (reads) and never a commit or a file write: a message found on the WIS2 topic is
//! reserved ([`Recording`]) while its record is committed, and a claim of it waits for
//! the reservation to end.

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use wis2::message::Relation;
use wis2_bus::{Failure, Output};

use crate::fields::{Fields, StateKey};
use crate::store::{PublishedStore, Seen};

/// How long a duplicate waits for the outcome of its original in flight.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(60);

/// A delivery asking to publish its message.
pub struct Claimant<'a> {
    pub fields: &'a Fields,
    /// Arrival order of the delivery.
    pub seq: u64,
    /// A periodic re-announcement: published again even if its state was (not if its
    /// message id was).
    pub reannounce: bool,
}

/// What [`Dedup::claim`] found.
pub enum Claim {
    /// Not published: publish it.
    New,
    /// Published and recorded already (or nothing to publish: the deletion of a
    /// data_id never published): confirm it.
    Published(&'static str),
    /// Its original is still being published: not published again; confirmed
    /// with the original once that one is recorded.
    InFlight(&'static str),
}

/// A message being published by this run.
struct Original {
    /// Arrival order of the delivery publishing it.
    seq: u64,
    data_id: String,
}

/// What is in flight right now.
#[derive(Default)]
struct Inflight {
    /// Message ids being published (between `claim` and the record).
    ids: HashMap<String, Original>,
    /// States being published → the message id publishing each.
    keys: HashMap<StateKey, String>,
    /// data_ids being published → how many of their messages.
    data_ids: HashMap<String, usize>,
    /// Message ids of deliveries handled as duplicates, waiting for their
    /// confirmation's PUBACK (a count: the same id can be redelivered more than once).
    duplicates: HashMap<String, usize>,
    /// Message ids in flight already read back from the WIS2 topic: if their PUBACK
    /// is lost, they were published all the same. The senders are dropped once the
    /// message is recorded: the read-back acknowledges its copy then, so that a crash
    /// before the record leaves that copy in its session.
    echoed: HashMap<String, Vec<oneshot::Sender<()>>>,
    /// Confirmations of duplicates that arrived before their original (message id in
    /// flight): sent with the original's once it is recorded.
    followers: HashMap<String, Vec<Output>>,
    /// Messages found on the WIS2 topic whose record is being committed.
    recording_ids: HashSet<String>,
    recording_keys: HashSet<StateKey>,
}

impl Inflight {
    /// The original a claimant would repeat, with why: its own id in flight, or
    /// (unless it is a re-announcement) its state.
    fn original_of(&self, c: &Claimant<'_>, key: &StateKey) -> Option<(&'static str, String, u64)> {
        if let Some(o) = self.ids.get(&c.fields.id) {
            return Some((
                "redelivered message: being published",
                c.fields.id.clone(),
                o.seq,
            ));
        }
        if c.reannounce {
            return None;
        }
        let id = self.keys.get(key)?;
        let o = self.ids.get(id)?;
        Some((
            "same data_id, integrity and rel: being published",
            id.clone(),
            o.seq,
        ))
    }

    /// Whether the claimant's message (or, unless a re-announcement, its state) is
    /// being recorded from the read-back.
    fn recording(&self, c: &Claimant<'_>, key: &StateKey) -> bool {
        self.recording_ids.contains(&c.fields.id)
            || (!c.reannounce && self.recording_keys.contains(key))
    }

    fn add_duplicate(&mut self, id: &str) {
        *self.duplicates.entry(id.to_string()).or_default() += 1;
    }
}

/// The duplicate suppression of the stage.
pub struct Dedup {
    store: PublishedStore,
    inflight: Mutex<Inflight>,
    /// Notified whenever a message leaves the in-flight set or a recording ends.
    settled: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Dedup {
    pub fn new(store: PublishedStore) -> Self {
        Dedup {
            store,
            inflight: Mutex::default(),
            settled: Condvar::new(),
        }
    }

    pub fn store(&self) -> &PublishedStore {
        &self.store
    }

    /// Whether the claimant was published already, and why. A delivery whose message
    /// (same id, or same state) is being published waits for that one's outcome (at
    /// most [`IN_FLIGHT_WAIT`]): once it is recorded this one is its duplicate and is
    /// confirmed; if it failed, this one is published. `confirmation` is this
    /// delivery's confirmation, kept to go out with its original's. Registers the
    /// message as in flight when it is new.
    pub fn claim(
        &self,
        c: &Claimant<'_>,
        confirmation: impl FnOnce() -> Output,
    ) -> Result<Claim, Failure> {
        let f = c.fields;
        let key = f.key();
        let deadline = Instant::now() + IN_FLIGHT_WAIT;
        let mut inflight = lock(&self.inflight);
        loop {
            let now = Instant::now();
            let recording = inflight.recording(c, &key);
            match inflight.original_of(c, &key) {
                // Waiting is safe only behind an original that arrived earlier: the
                // stage finishes deliveries in arrival order, so a later one cannot
                // be finished while this one waits. Behind a later one, this
                // delivery's confirmation goes out with the original's, once that
                // one is recorded.
                Some((why, original, seq)) if seq >= c.seq || now >= deadline => {
                    inflight.add_duplicate(&f.id);
                    inflight
                        .followers
                        .entry(original)
                        .or_default()
                        .push(confirmation());
                    return Ok(Claim::InFlight(why));
                }
                None if !recording || now >= deadline => break,
                // Behind an earlier original, or a record being committed.
                _ => {}
            }
            inflight = self
                .settled
                .wait_timeout(inflight, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        // The store's lookups stay under the lock (reads only): a claim of the same
        // message cannot pass between the lookup and the registration.
        if f.rel == Relation::Deletion && !inflight.data_ids.contains_key(&f.data_id) {
            let known = self.store.last(&f.data_id)?;
            if known.is_none() {
                // A file deleted before it was ever published (wis2-watch announces
                // the deletion of what it announced): nothing on the WIS2 topic to
                // delete. Confirmed, so that wis2-watch forgets the file.
                inflight.add_duplicate(&f.id);
                return Ok(Claim::Published(
                    "deletion of a data_id never published: nothing to delete",
                ));
            }
        }
        let claim = match self
            .store
            .check(&f.id, &f.data_id, f.state(), f.rel, !c.reannounce)?
        {
            Seen::New => Claim::New,
            Seen::SameMessage(_) => Claim::Published("redelivered message: already published"),
            Seen::SameState(_) => {
                Claim::Published("same data_id, integrity and rel: already published")
            }
        };
        if matches!(claim, Claim::New) {
            inflight.ids.insert(
                f.id.clone(),
                Original {
                    seq: c.seq,
                    data_id: f.data_id.clone(),
                },
            );
            *inflight.data_ids.entry(f.data_id.clone()).or_default() += 1;
            inflight.keys.insert(key, f.id.clone());
        } else {
            inflight.add_duplicate(&f.id);
        }
        Ok(claim)
    }

    /// Whether the delivery of `seq` publishes message `id` (is not a duplicate of it).
    pub fn is_original(&self, id: &str, seq: u64) -> bool {
        lock(&self.inflight)
            .ids
            .get(id)
            .is_some_and(|o| o.seq == seq)
    }

    /// Whether message `id`, in flight, was read back from the WIS2 topic.
    pub fn was_echoed(&self, id: &str) -> bool {
        lock(&self.inflight).echoed.contains_key(id)
    }

    /// Takes one duplicate delivery of `id` (its confirmation is acknowledged, or it
    /// failed); false when there is none.
    pub fn take_duplicate(&self, id: &str) -> bool {
        let mut inflight = lock(&self.inflight);
        match inflight.duplicates.get_mut(id) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                inflight.duplicates.remove(id);
                true
            }
            None => false,
        }
    }

    /// The confirmations of the duplicates that wait for message `id`.
    pub fn take_followers(&self, id: &str) -> Vec<Output> {
        lock(&self.inflight)
            .followers
            .remove(id)
            .unwrap_or_default()
    }

    /// Takes message `f` out of the in-flight set (recorded, or failed) and wakes the
    /// duplicates waiting for it.
    pub fn release(&self, f: &Fields) {
        let mut inflight = lock(&self.inflight);
        if let Some(o) = inflight.ids.remove(&f.id)
            && let Some(n) = inflight.data_ids.get_mut(&o.data_id)
        {
            *n -= 1;
            if *n == 0 {
                inflight.data_ids.remove(&o.data_id);
            }
        }
        inflight.followers.remove(&f.id);
        inflight.echoed.remove(&f.id);
        let key = f.key();
        if inflight.keys.get(&key) == Some(&f.id) {
            inflight.keys.remove(&key);
        }
        drop(inflight);
        self.settled.notify_all();
    }

    /// Message `f` was read back from the WIS2 topic: when it is in flight, it is
    /// marked as seen there, and the receiver completes once it is recorded (or the
    /// run is over); otherwise it is reserved for the caller to look up and record.
    pub fn echoed(&self, f: &Fields) -> Echo<'_> {
        let mut inflight = lock(&self.inflight);
        if inflight.ids.contains_key(&f.id) {
            let (tx, rx) = oneshot::channel();
            inflight.echoed.entry(f.id.clone()).or_default().push(tx);
            return Echo::InFlight(rx);
        }
        inflight.recording_ids.insert(f.id.clone());
        let key = f.key();
        inflight.recording_keys.insert(key.clone());
        Echo::Reserved(Recording {
            dedup: self,
            id: f.id.clone(),
            key,
        })
    }
}

/// What [`Dedup::echoed`] found.
pub enum Echo<'a> {
    /// Being published by this run.
    InFlight(oneshot::Receiver<()>),
    /// Not in flight: reserved until the reservation is dropped.
    Reserved(Recording<'a>),
}

/// A message found on the WIS2 topic, reserved while it is looked up and recorded: a
/// claim of it (or of its state) waits until this is dropped.
pub struct Recording<'a> {
    dedup: &'a Dedup,
    id: String,
    key: StateKey,
}

impl Drop for Recording<'_> {
    fn drop(&mut self) {
        let mut inflight = lock(&self.dedup.inflight);
        inflight.recording_ids.remove(&self.id);
        inflight.recording_keys.remove(&self.key);
        drop(inflight);
        self.dedup.settled.notify_all();
    }
}
