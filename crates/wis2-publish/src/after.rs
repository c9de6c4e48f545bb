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

/// A publication known to be on the WIS2 topic, and what happened (for the log).
pub struct Done<'a> {
    pub fields: &'a Fields,
    pub topic: &'a str,
    /// The message as published.
    pub message: &'a [u8],
    pub event_id: &'a str,
    pub what: &'a str,
}

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

    /// Queues `message` for the remote broker, when there is one: kept in memory with
    /// the others of its batch, committed to the outbox by [`AfterPublication::recorded`]
    /// before the records, so that a crash before the record forwards the message
    /// again (at-least-once) rather than never.
    pub fn forward(&self, topic: &str, f: &Fields, message: &[u8]) {
        if let Some(remote) = &self.remote {
            remote.defer(f.queued(topic, message));
        }
    }

    /// Commits the forwards waiting (in arrival order, one transaction), then records
    /// publications in one transaction (with their output copies, pending until
    /// written), logs each (`what` happened), and writes the copies (one append for
    /// the hourly layout). A failure to record is logged: a redelivery of them would
    /// be published again.
    pub fn recorded(&self, done: &[Done<'_>]) {
        if let Some(remote) = &self.remote {
            remote.flush();
        }
        let records: Vec<_> = done
            .iter()
            .map(|d| (d.fields.data_id.clone(), d.fields.record(d.topic)))
            .collect();
        let copies: Vec<_> = match &self.output {
            Some(_) => done
                .iter()
                .map(|d| d.fields.queued(d.topic, d.message))
                .collect(),
            None => Vec::new(),
        };
        let keys = match self.store.record_with_copies(&records, &copies) {
            Ok(keys) => keys,
            Err(e) => {
                tracing::error!(error = %e, messages = records.len(), "cannot record publications: a redelivery of them would be published again");
                Vec::new()
            }
        };
        for d in done {
            tracing::info!(
                topic = d.topic,
                event_id = d.event_id,
                message_id = d.fields.id,
                data_id = d.fields.data_id,
                rel = %d.fields.rel,
                "{}",
                d.what
            );
        }
        if let Some(out) = &self.output {
            out.write_batch(&copies);
            self.store.copies_written(&keys);
        }
    }

    /// At start: the output copies an earlier run recorded and may not have written.
    pub fn recover_output(&self) {
        if let Some(out) = &self.output {
            out.recover(&self.store);
        }
    }

    /// At a stop: the forwards waiting and the marks of the copies written, committed.
    pub fn flush(&self) {
        if let Some(remote) = &self.remote {
            remote.flush();
        }
        if let Err(e) = self.store.flush_written() {
            tracing::warn!(error = %e, "cannot mark the last WIS2_OUTPUT copies written (they are looked for at the next start)");
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
            created: env.created.clone(),
            validated: env.validated.clone(),
        };
        Output::new(self.published_topic.clone(), confirmation.to_vec())
    }
}
