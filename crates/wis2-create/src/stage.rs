//! The service's stage: a file event (or an upstream STAC item event) in, an
//! [`Envelope`] per message out, for `wis2-validate`.

use wis2::event::{CloudEvent, FileChange, FileData};
use wis2_bus::envelope::Envelope;
use wis2_bus::{Delivery, Failure, Output, Stage, Work};

use crate::creator::{CreateError, Creator};

/// The stage of the `run` service.
pub struct CreateStage {
    pub(crate) creator: Creator,
    pub(crate) created_topic: String,
}

/// An event, parsed once.
pub enum Incoming {
    /// A file event of `wis2-watch`, with its data.
    File {
        event: CloudEvent,
        change: FileChange,
        data: FileData,
    },
    /// An upstream event carrying a STAC item.
    Stac(CloudEvent),
}

impl Incoming {
    fn event(&self) -> &CloudEvent {
        match self {
            Incoming::File { event, .. } | Incoming::Stac(event) => event,
        }
    }
}

/// A failure to build a message, as its dead letter says it.
fn fail(e: impl Into<CreateError>) -> Failure {
    Failure::new(format!("{:#}", e.into()))
}

impl Stage for CreateStage {
    type Input = Incoming;
    /// Reads and hashes files.
    const WORK: Work = Work::Blocking;

    fn parse(&self, d: &Delivery) -> Result<Incoming, Failure> {
        let event = CloudEvent::parse(&d.payload)?;
        Ok(match EventKind::of(&event) {
            EventKind::Stac => Incoming::Stac(event),
            EventKind::File => {
                let (change, data) = event.file_event().map_err(fail)?;
                Incoming::File {
                    event,
                    change,
                    data,
                }
            }
        })
    }

    fn describe(&self, input: &Incoming) -> String {
        let ev = input.event();
        format!(
            "event_id={} subject={}",
            ev.id,
            ev.subject.as_deref().unwrap_or_default()
        )
    }

    fn handle(&self, input: &Incoming) -> Result<Vec<Output>, Failure> {
        let (msgs, path, record, reannounce) = match input {
            Incoming::File { change, data, .. } => {
                let (msg, record) = self.creator.file_parts(*change, data).map_err(fail)?;
                (vec![msg], Some(&data.path), record, data.reannounce)
            }
            // STAC messages have no file of wis2-watch to confirm: no path.
            Incoming::Stac(ev) => (
                self.creator.messages_for_stac_event(ev).map_err(fail)?,
                None,
                None,
                false,
            ),
        };
        let topic = match path {
            Some(p) => self.creator.topic_for(p),
            None => self.creator.settings.topic.to_string(),
        };
        let event_id = &input.event().id;
        let mut out = Vec::with_capacity(msgs.len());
        for msg in msgs {
            let mut env = Envelope::new(
                topic.clone(),
                Some(event_id.clone()),
                path.cloned(),
                msg.to_json(),
            )?;
            if let Some(record) = &record {
                env = env.with_record(record.clone())?;
            }
            env.reannounce = reannounce;
            env.created = Some(wis2::message::rfc3339(&chrono::Utc::now()));
            tracing::info!(
                event_id,
                message_id = %msg.id,
                data_id = msg.properties.data_id,
                "message built"
            );
            out.push(Output::new(self.created_topic.clone(), env.to_vec()));
        }
        Ok(out)
    }
}

/// Which kind of event a CloudEvent is, told by its `type` and the shape of `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A file event of `wis2-watch` (one of the chain's `type`s), or anything else
    /// that is not a STAC item (it then fails as an unknown type).
    File,
    /// `data` is a STAC Item: a GeoJSON `Feature` with `assets` (as an object, or as
    /// a JSON string).
    Stac,
}

impl EventKind {
    pub fn of(ev: &CloudEvent) -> Self {
        if FileChange::from_event_type(&ev.kind).is_some() {
            return EventKind::File;
        }
        let is_item = |v: &serde_json::Value| {
            v.get("type").and_then(|t| t.as_str()) == Some("Feature")
                && v.get("assets").is_some_and(|a| a.is_object())
        };
        let stac = match &ev.data {
            Some(serde_json::Value::String(s)) => {
                serde_json::from_str::<serde_json::Value>(s).is_ok_and(|v| is_item(&v))
            }
            Some(v) => is_item(v),
            None => false,
        };
        if stac {
            EventKind::Stac
        } else {
            EventKind::File
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::settings::{CreateSettings, DEFAULT_TOPIC};
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        s: CreateSettings,
    }

    fn stage(dir: &Path) -> CreateStage {
        let s = Cli::try_parse_from([
            "t",
            "--data-dir",
            &dir.display().to_string(),
            "--base-url",
            "https://data.example.org/argo",
        ])
        .expect("settings")
        .s;
        CreateStage {
            creator: Creator::new(s).expect("creator"),
            created_topic: "chain/created".into(),
        }
    }

    fn stac_event(name: &str, size: usize, checksum: &str) -> Vec<u8> {
        serde_json::json!({
            "specversion": "1.0", "id": "ev-1", "source": "upstream", "type": "x.stac",
            "data": {"type": "Feature", "id": "i", "geometry": null,
                     "properties": {"datetime": "2024-11-09T21:08:00Z"},
                     "assets": {name: {"href": format!("https://data.example.org/argo/{name}"),
                                       "roles": ["data"], "file:size": size,
                                       "file:checksum": checksum}}}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_service_takes_stac_events_and_rejects_bad_local_copies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = stage(dir.path());
        let sha256_of_abc = "1220ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        // No local copy: the item is trusted.
        let d = Delivery::detached("upstream/stac", stac_event("a.txt", 3, sha256_of_abc));
        let handle = |d: &Delivery| st.parse(d).and_then(|ev| st.handle(&ev));
        let out = handle(&d).expect("handled");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].topic, "chain/created");
        let env = Envelope::parse(&out[0].payload).expect("envelope");
        assert_eq!(env.topic, DEFAULT_TOPIC);
        assert_eq!(env.event_id.as_deref(), Some("ev-1"));
        let msg: serde_json::Value = serde_json::from_slice(env.message_bytes()).expect("message");
        assert_eq!(msg["properties"]["integrity"]["method"], "sha256");
        // A local copy that agrees.
        std::fs::write(dir.path().join("a.txt"), b"abc").expect("write");
        assert!(handle(&d).is_ok());
        // One that does not: a failure (dead letter) naming the file and the checksum.
        std::fs::write(dir.path().join("a.txt"), b"abd").expect("write");
        let f = handle(&d).expect_err("digest differs");
        assert!(f.reason.contains("a.txt"), "{}", f.reason);
        assert!(f.reason.contains("file:checksum"), "{}", f.reason);
        // Neither a file event nor a STAC item.
        let d = Delivery::detached(
            "upstream/stac",
            br#"{"specversion":"1.0","id":"x","source":"s","type":"other","data":{}}"#.to_vec(),
        );
        let f = handle(&d).expect_err("unknown");
        assert!(f.reason.contains("unknown event type"), "{}", f.reason);
    }
}
