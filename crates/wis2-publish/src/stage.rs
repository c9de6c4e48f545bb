//! The publish stage: each validated message is claimed ([`crate::dedup`]), published
//! on its WIS2 topic, and once the broker acknowledged it goes through the
//! after-publication pipeline ([`crate::after`]): forwarded to the remote outbox in
//! arrival order, recorded (one transaction per batch), copied to the output, and
//! confirmed for `wis2-watch`.

use std::sync::Arc;

use wis2::topic::Topic;
use wis2_bus::envelope::Envelope;
use wis2_bus::stage::{BatchStep, Step};
use wis2_bus::{AfterAck, Delivery, Failure, Output, Stage, Work};

use crate::after::{AfterPublication, Done};
use crate::dedup::{Claim, Claimant, Dedup, Echo};
use crate::fields::Fields;
use crate::unechoed::{Grace, InDoubt, Unechoed};

/// A validated message, parsed once.
pub struct Parsed {
    pub env: Envelope,
    pub fields: Fields,
    /// Arrival order of the delivery ([`Delivery::seq`]).
    pub seq: u64,
}

impl Parsed {
    fn message(&self) -> &[u8] {
        self.env.message_bytes()
    }

    fn event_id(&self) -> &str {
        self.env.event_id.as_deref().unwrap_or_default()
    }
}

/// The publish stage.
pub struct PublishStage {
    dedup: Dedup,
    after: AfterPublication,
    /// Acknowledged, not read back yet: what a broker that lost its state may have
    /// lost ([`crate::unechoed`]).
    unechoed: Unechoed,
    /// Holds new publications after the broker lost its state.
    grace: Grace,
}

/// What a message read back from the WIS2 topic was.
pub enum Echoed {
    /// Recorded already (or not a WNM): acknowledge it.
    Known,
    /// Being published by this run: acknowledge it once the receiver completes (the
    /// record is then committed, or the run is over).
    InFlight(tokio::sync::oneshot::Receiver<()>),
    /// Published by an earlier run without a record: recorded now.
    Orphan,
    /// A publication in doubt (its PUBACK was lost), now settled: its confirmations
    /// are to be sent.
    Settled(Vec<Output>),
}

impl PublishStage {
    pub fn new(dedup: Dedup, after: AfterPublication) -> Self {
        PublishStage {
            dedup,
            after,
            unechoed: Unechoed::default(),
            grace: Grace::default(),
        }
    }

    /// The hold of the WIS2 topic after the broker lost its state.
    pub fn grace(&self) -> &Grace {
        &self.grace
    }

    /// The after-publication pipeline.
    pub fn after(&self) -> &AfterPublication {
        &self.after
    }

    /// The acknowledged publications not read back yet.
    pub fn unechoed(&self) -> &Unechoed {
        &self.unechoed
    }

    /// In arrival order: the remote outbox (the records and output copies of several
    /// messages are then written concurrently), in memory: the batch's record commits
    /// them first.
    fn forward_in_order(&self, p: &Parsed) {
        // A duplicate: only its confirmation went out.
        if self.dedup.is_original(&p.fields.id, p.seq) {
            self.after.forward(&p.env.topic, &p.fields, p.message());
        }
    }

    /// The records of a batch in one transaction, then for each its output copy, and
    /// its confirmation (with those of the duplicates that waited for it) as the
    /// follow-up the stage sends before acknowledging the input.
    fn acknowledged(&self, ps: &[&Parsed]) -> Vec<Vec<Output>> {
        let mut follow_ups = vec![Vec::new(); ps.len()];
        let mut published = Vec::with_capacity(ps.len());
        for (i, p) in ps.iter().enumerate() {
            if self.dedup.is_original(&p.fields.id, p.seq) {
                // Before its release from the in-flight set: a copy read back from
                // now on finds it in one or the other.
                self.unechoed
                    .acknowledged(&p.fields.id, &p.env.topic, p.message());
                published.push((i, *p));
            } else {
                // A duplicate: its confirmation, if any, went out with it.
                self.dedup.take_duplicate(&p.fields.id);
            }
        }
        let done: Vec<_> = published
            .iter()
            .map(|(_, p)| Done {
                fields: &p.fields,
                topic: p.env.topic.as_str(),
                message: p.message(),
                event_id: p.event_id(),
                what: "published",
            })
            .collect();
        self.after.recorded(&done);
        for (i, p) in published {
            let mut confirmations = vec![self.after.confirmation(&p.env, &p.fields)];
            confirmations.extend(self.dedup.take_followers(&p.fields.id));
            if self.dedup.was_echoed(&p.fields.id) {
                self.unechoed.echoed(&p.fields.id);
            }
            self.dedup.release(&p.fields);
            follow_ups[i] = confirmations;
        }
        follow_ups
    }

    /// An output of the delivery was not acknowledged: it stays for redelivery. Its
    /// message may still be on the WIS2 topic: when the read-back saw it, it is
    /// recorded as published, so that its redelivery is not sent again.
    fn not_acknowledged(&self, p: &Parsed) {
        if !self.dedup.is_original(&p.fields.id, p.seq) {
            self.dedup.take_duplicate(&p.fields.id);
            return;
        }
        if self.dedup.was_echoed(&p.fields.id) {
            self.after.forward(&p.env.topic, &p.fields, p.message());
            self.after.recorded(&[Done {
                fields: &p.fields,
                topic: &p.env.topic,
                message: p.message(),
                event_id: p.event_id(),
                what: "published (read back from the WIS2 topic; its PUBACK was lost)",
            }]);
            self.dedup.release(&p.fields);
            return;
        }
        // In doubt: the broker may have it, and a subscriber too. Its claim stays, so a
        // re-announcement of the file waits for it rather than going out under a new
        // id; its copy coming back, or its re-publication by the read-back, settles it.
        self.unechoed.in_doubt(InDoubt {
            topic: p.env.topic.clone(),
            message: p.message().to_vec(),
            fields: p.fields.clone(),
            event_id: p.event_id().to_string(),
            confirmation: self.after.confirmation(&p.env, &p.fields),
        });
    }

    /// A publication in doubt turned out published (`how`): forwarded, recorded,
    /// copied, released; returns its confirmations (its own, and those of the
    /// duplicates that waited for it), to send.
    pub fn settle(&self, d: &InDoubt, how: &str) -> Vec<Output> {
        self.after.forward(&d.topic, &d.fields, &d.message);
        self.after.recorded(&[Done {
            fields: &d.fields,
            topic: &d.topic,
            message: &d.message,
            event_id: &d.event_id,
            what: how,
        }]);
        let mut confirmations = vec![d.confirmation.clone()];
        confirmations.extend(self.dedup.take_followers(&d.fields.id));
        self.dedup.release(&d.fields);
        confirmations
    }

    /// A message read back from the WIS2 topic. One in flight is marked as seen
    /// there; one neither in flight nor recorded was published by an earlier run that
    /// stopped before recording it (kill -9 between the PUBACK and the commit): it is
    /// recorded now, so that the redelivery of its input is not published again.
    pub fn echoed(&self, topic: &str, message: &[u8]) -> Echoed {
        let Ok(f) = Fields::of(message) else {
            return Echoed::Known;
        };
        self.unechoed.echoed(&f.id);
        if let Some(d) = self.unechoed.take_in_doubt(&f.id) {
            return Echoed::Settled(self.settle(
                &d,
                "published (read back from the WIS2 topic after its PUBACK was lost)",
            ));
        }
        let reserved = match self.dedup.echoed(&f) {
            Echo::InFlight(recorded) => return Echoed::InFlight(recorded),
            Echo::Reserved(r) => r,
        };
        match self.dedup.store().message(&f.id) {
            Ok(None) => {}
            Ok(Some(_)) => return Echoed::Known,
            Err(e) => {
                tracing::warn!(error = %e, message_id = %f.id, "cannot look up a message read back from the WIS2 topic");
                return Echoed::Known;
            }
        }
        self.after.forward(topic, &f, message);
        self.after.recorded(&[Done {
            fields: &f,
            topic,
            message,
            event_id: "",
            what: "found on the WIS2 topic, published before a restart: recorded, not to be published again",
        }]);
        drop(reserved);
        Echoed::Orphan
    }
}

impl Stage for PublishStage {
    type Input = Parsed;
    /// Store lookups and commits, file writes.
    const WORK: Work = Work::Blocking;

    fn parse(&self, d: &Delivery) -> Result<Parsed, Failure> {
        let env = Envelope::parse(&d.payload)?;
        if let Err(e) = Topic::parse(&env.topic) {
            return Err(Failure::new(format!(
                "{e}; publish under origin/a/wis2/<centre-id>/ (send the message through wis2-validate)"
            )));
        }
        let fields = Fields::of(env.message_bytes())?;
        Ok(Parsed {
            env,
            fields,
            seq: d.seq,
        })
    }

    fn describe(&self, p: &Parsed) -> String {
        format!(
            "event_id={} message_id={} data_id={}",
            p.event_id(),
            p.fields.id,
            p.fields.data_id
        )
    }

    fn handle(&self, p: &Parsed) -> Result<Vec<Output>, Failure> {
        let claimant = Claimant {
            fields: &p.fields,
            seq: p.seq,
            reannounce: p.env.reannounce,
        };
        let confirmation = || self.after.confirmation(&p.env, &p.fields);
        let (why, outputs) = match self.dedup.claim(&claimant, confirmation)? {
            Claim::New => {
                self.grace.wait();
                return Ok(vec![Output::new(p.env.topic.clone(), p.message().to_vec())]);
            }
            Claim::Published(why) => (why, vec![self.after.confirmation(&p.env, &p.fields)]),
            Claim::InFlight(why) => (why, Vec::new()),
        };
        tracing::info!(
            message_id = p.fields.id,
            data_id = p.fields.data_id,
            rel = %p.fields.rel,
            why,
            "duplicate suppressed: not published again"
        );
        Ok(outputs)
    }

    fn after_ack(self: &Arc<Self>) -> AfterAck<Parsed> {
        let in_order: Option<Step<Parsed>> = self.after.forwards().then(|| {
            let me = self.clone();
            Arc::new(move |p: &Parsed| me.forward_in_order(p)) as Step<Parsed>
        });
        let me = self.clone();
        let acknowledged: BatchStep<Parsed> = Arc::new(move |ps: &[&Parsed]| me.acknowledged(ps));
        let me = self.clone();
        let not_acknowledged: Step<Parsed> = Arc::new(move |p: &Parsed| me.not_acknowledged(p));
        AfterAck {
            in_order,
            acknowledged: Some(acknowledged),
            not_acknowledged: Some(not_acknowledged),
        }
    }
}
