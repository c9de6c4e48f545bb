//! The service's stage: a file event (or an upstream STAC item event) in, an
//! [`Envelope`] per message out, for `wis2-validate`.

use wis2::event::{CloudEvent, FileChange};
use wis2_bus::envelope::Envelope;
use wis2_bus::{Delivery, Failure, Output, Stage, Work};

use crate::creator::{CreateError, Creator};

/// The stage of the `run` service.
pub struct CreateStage {
    pub(crate) creator: Creator,
    pub(crate) created_topic: String,
}

impl Stage for CreateStage {
    type Input = CloudEvent;
    const NAME: &'static str = "wis2-create";
    /// Reads and hashes files.
    const WORK: Work = Work::Blocking;

    fn parse(&self, d: &Delivery) -> Result<CloudEvent, Failure> {
        CloudEvent::parse(&d.payload).map_err(|e| Failure::new(e.to_string()))
    }

    fn describe(&self, ev: &CloudEvent) -> String {
        format!(
            "event_id={} subject={}",
            ev.id,
            ev.subject.as_deref().unwrap_or_default()
        )
    }

    fn handle(&self, ev: &CloudEvent) -> Result<Vec<Output>, Failure> {
        let fail = |e: CreateError| Failure::new(format!("{e:#}"));
        let (msgs, path, record, reannounce) = match EventKind::of(ev) {
            EventKind::File => {
                let (msg, record) = self.creator.envelope_parts(ev).map_err(fail)?;
                let data = ev.file_event().ok().map(|(_, data)| data);
                let reannounce = data.as_ref().is_some_and(|d| d.reannounce);
                (
                    vec![msg],
                    data.map(|d| d.path.into_string()),
                    record,
                    reannounce,
                )
            }
            // STAC messages have no file of wis2-watch to confirm: no path.
            EventKind::Stac => (
                self.creator.messages_for_stac_event(ev).map_err(fail)?,
                None,
                None,
                false,
            ),
        };
        let topic = match &path {
            Some(p) => self.creator.topic_for(p),
            None => self.creator.settings.topic.clone(),
        };
        let mut out = Vec::with_capacity(msgs.len());
        for msg in msgs {
            let mut env = Envelope::new(
                topic.clone(),
                Some(ev.id.clone()),
                path.clone(),
                msg.to_json(),
            )
            .map_err(|e| Failure::new(e.to_string()))?;
            if let Some(record) = &record {
                env = env
                    .with_record(record.clone())
                    .map_err(|e| Failure::new(e.to_string()))?;
            }
            env.reannounce = reannounce;
            tracing::info!(
                event_id = ev.id,
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
