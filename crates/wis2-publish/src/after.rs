//! What follows a message known to be on the WIS2 topic (acknowledged by the broker,
//! or read back from it): the remote outbox, the record, the output copy, and the
//! confirmation for `wis2-watch`. Blocking (commits, file writes): run it on the
//! blocking pool.

use wis2_bus::Output;
use wis2_bus::envelope::{Confirmation, Envelope};

use crate::fields::Fields;
use crate::output::OutputWriter;
use crate::remote::RemoteOutbox;
use crate::store::PublishedStore;

/// The after-publication pipeline.
pub struct AfterPublication {
    store: PublishedStore,
    output: Option<OutputWriter>,
    remote: Option<RemoteOutbox>,
    /// Topic of the confirmations.
    published_topic: String,
}

impl AfterPublication {
    pub fn new(
        store: PublishedStore,
        output: Option<OutputWriter>,
        remote: Option<RemoteOutbox>,
        published_topic: String,
    ) -> Self {
        AfterPublication {
            store,
            output,
            remote,
            published_topic,
        }
    }

    /// Whether messages are forwarded to a remote broker.
    pub fn forwards(&self) -> bool {
        self.remote.is_some()
    }

    /// Queues `message` for the remote broker, when there is one (one local commit).
    /// First of the pipeline: a crash before the record publishes the message again
    /// (at-least-once) rather than never forwarding it.
    pub fn forward(&self, topic: &str, f: &Fields, message: &[u8]) {
        if let Some(remote) = &self.remote {
            remote.push(&f.queued(topic, message));
        }
    }

    /// Records publications, each on its topic, in one transaction. A failure is
    /// logged: a redelivery of them would be published again.
    pub fn record(&self, published: &[(&Fields, &str)]) {
        let records: Vec<_> = published
            .iter()
            .map(|(f, topic)| (f.data_id.clone(), f.record(topic)))
            .collect();
        if let Err(e) = self.store.record_many(&records) {
            tracing::error!(error = %e, messages = records.len(), "cannot record publications: a redelivery of them would be published again");
        }
    }

    /// Logs the publication (`what` happened) and writes the output copy.
    pub fn copy(&self, topic: &str, f: &Fields, message: &[u8], event_id: &str, what: &str) {
        tracing::info!(
            topic,
            event_id,
            message_id = f.id,
            data_id = f.data_id,
            rel = %f.rel,
            "{what}"
        );
        if let Some(out) = &self.output {
            out.write(&f.queued(topic, message));
        }
    }

    /// The confirmation of a message for wis2-watch.
    pub fn confirmation(&self, env: &Envelope, f: &Fields) -> Output {
        let confirmation = Confirmation {
            event_id: env.event_id.clone(),
            path: env.path.clone(),
            topic: env.topic.clone(),
            message_id: f.id.clone(),
            data_id: f.data_id.clone(),
            rel: f.rel,
        };
        Output::new(self.published_topic.clone(), confirmation.to_vec())
    }
}
