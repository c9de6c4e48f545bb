//! What travels on the chain's internal topics between `wis2-create`,
//! `wis2-validate` and `wis2-publish`: the message exactly as it will be published
//! (raw JSON bytes, so the size checked is the size sent), the WIS2 topic it is for,
//! and the id of the file event it came from, which follows the file to the end.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use wis2::message::Relation;
use wis2::path::RelPath;

/// A notification message on its way to the WIS2 topic.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The WIS2 topic to publish on.
    pub topic: String,
    /// Id of the CloudEvent that started it (absent for messages injected by hand).
    pub event_id: Option<String>,
    /// Path of the file under the data directory, when there is one.
    pub path: Option<RelPath>,
    /// The WNM, byte for byte as it will be published.
    pub message: Box<RawValue>,
    /// For a metadata message: the WCMP2 record it announces, checked by
    /// `wis2-validate` too.
    pub record: Option<Box<RawValue>>,
    /// A periodic re-announcement: published again even if published before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reannounce: bool,
    /// When `wis2-create` built the message (RFC 3339): the console shows it as the
    /// file's "created" step without reading `chain/created`.
    #[serde(default)]
    pub created: Option<String>,
    /// When `wis2-validate` found it valid (RFC 3339), for the same reason.
    #[serde(default)]
    pub validated: Option<String>,
}

/// Why an envelope cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error(
        "not a chain envelope: {0}; expected {{\"topic\": ..., \"message\": {{...}}}} from wis2-create"
    )]
    Shape(serde_json::Error),
    #[error("the message is not valid JSON: {0}")]
    Message(serde_json::Error),
}

impl Envelope {
    /// Wraps a serialized message.
    pub fn new(
        topic: impl Into<String>,
        event_id: Option<String>,
        path: Option<RelPath>,
        message_json: String,
    ) -> Result<Self, EnvelopeError> {
        let message = RawValue::from_string(message_json).map_err(EnvelopeError::Message)?;
        Ok(Envelope {
            topic: topic.into(),
            event_id,
            path,
            message,
            record: None,
            reannounce: false,
            created: None,
            validated: None,
        })
    }

    /// Attaches the WCMP2 record a metadata message announces.
    pub fn with_record(mut self, record_json: String) -> Result<Self, EnvelopeError> {
        self.record = Some(RawValue::from_string(record_json).map_err(EnvelopeError::Message)?);
        Ok(self)
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        serde_json::from_slice(bytes).map_err(EnvelopeError::Shape)
    }

    /// The message bytes as they will be published.
    pub fn message_bytes(&self) -> &[u8] {
        self.message.get().as_bytes()
    }

    /// The envelope as JSON. Strings, a flag and JSON already checked: serialising it
    /// cannot fail.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope is strings, a flag and checked JSON")
    }

    /// `raw`, this envelope as it arrived, stamped `validated` at `time`: the stamp is
    /// appended to the bytes, which are copied once and not serialised again (this is
    /// on every message's way). An envelope stamped already is serialised with the
    /// new stamp (a key must not appear twice).
    pub fn stamped_validated(&self, raw: &[u8], time: String) -> Vec<u8> {
        let end = raw.iter().rposition(|b| !b.is_ascii_whitespace());
        match end {
            Some(i) if self.validated.is_none() && raw[i] == b'}' => {
                let stamp = serde_json::to_string(&time).expect("a string");
                let mut out = Vec::with_capacity(i + stamp.len() + 16);
                out.extend_from_slice(&raw[..i]);
                out.extend_from_slice(b",\"validated\":");
                out.extend_from_slice(stamp.as_bytes());
                out.push(b'}');
                out
            }
            _ => {
                let mut env = self.clone();
                env.validated = Some(time);
                env.to_vec()
            }
        }
    }
}

/// On `chain/rejected`: the message, where it was going, and the full report.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rejection {
    pub topic: String,
    pub event_id: Option<String>,
    pub path: Option<RelPath>,
    pub report: wis2::report::Report,
    pub message: Box<RawValue>,
    /// When the message was built (the envelope's stamp).
    #[serde(default)]
    pub created: Option<String>,
}

impl Rejection {
    /// The rejection as JSON. Strings, a report of strings and numbers, and JSON
    /// already checked: serialising it cannot fail.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a rejection is strings, numbers and checked JSON")
    }
}

/// On `chain/published`: a file's notification is on the WIS2 topic.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub event_id: Option<String>,
    pub path: Option<RelPath>,
    pub topic: String,
    pub message_id: String,
    pub data_id: String,
    pub rel: Relation,
    /// When the message was built and found valid (the envelope's stamps): with
    /// them, the console records a file's four steps from this confirmation alone.
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub validated: Option<String>,
}

impl Confirmation {
    /// The confirmation as JSON. Only strings: serialising it cannot fail.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a confirmation is strings only")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validated_stamp_is_appended_and_the_message_kept_byte_for_byte() {
        let m = r#"{"id": "x",  "a" : 1}"#;
        let env = Envelope::new("origin/a/wis2/x", None, None, m.to_string()).expect("env");
        let raw = [env.to_vec(), b" \n".to_vec()].concat();
        let stamped = env.stamped_validated(&raw, "2026-12-07T10:00:00Z".into());
        let back = Envelope::parse(&stamped).expect("still an envelope");
        assert_eq!(back.validated.as_deref(), Some("2026-12-07T10:00:00Z"));
        assert_eq!(back.message.get(), m);
        // Stamped again (a message validated twice): one key, the new time.
        let again = back.stamped_validated(&stamped, "2026-12-07T11:00:00Z".into());
        let back = Envelope::parse(&again).expect("no key twice");
        assert_eq!(back.validated.as_deref(), Some("2026-12-07T11:00:00Z"));
        assert_eq!(back.message.get(), m);
    }

    #[test]
    fn message_bytes_are_kept_exactly() {
        let m = r#"{"id": "x",  "a" : 1}"#;
        let e = Envelope::new("origin/a/wis2/x", Some("ev".into()), None, m.into()).unwrap();
        let back = Envelope::parse(&e.to_vec()).unwrap();
        assert_eq!(back.message_bytes(), m.as_bytes());
        assert_eq!(back.event_id.as_deref(), Some("ev"));
        assert!(Envelope::parse(b"{}").is_err());
    }
}
