//! CloudEvents 1.0 (JSON, structured mode) as the chain's services exchange them, and
//! the file events `wis2-watch` emits.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::json::{self, PlainJson};
use crate::path::{RelPath, RelPathError};

/// CloudEvents `type` of a new file.
pub const FILE_CREATED: &str = "int.wmo.wis2.chain.file.created";
/// CloudEvents `type` of a changed file.
pub const FILE_UPDATED: &str = "int.wmo.wis2.chain.file.updated";
/// CloudEvents `type` of a removed file.
pub const FILE_DELETED: &str = "int.wmo.wis2.chain.file.deleted";

/// Largest event the chain accepts, in bytes.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// A CloudEvents 1.0 event in JSON structured mode; absent optional attributes are
/// left out, not written as null.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: Option<String>,
    pub time: Option<String>,
    pub datacontenttype: Option<String>,
    pub dataschema: Option<String>,
    pub data: Option<Value>,
}

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileChange {
    Created,
    Updated,
    Deleted,
}

impl FileChange {
    /// The CloudEvents `type` for this change.
    pub fn event_type(self) -> &'static str {
        match self {
            FileChange::Created => FILE_CREATED,
            FileChange::Updated => FILE_UPDATED,
            FileChange::Deleted => FILE_DELETED,
        }
    }

    /// The change an event type names, if it is one of ours.
    pub fn from_event_type(t: &str) -> Option<Self> {
        match t {
            FILE_CREATED => Some(FileChange::Created),
            FILE_UPDATED => Some(FileChange::Updated),
            FILE_DELETED => Some(FileChange::Deleted),
            _ => None,
        }
    }
}

/// `data` of a file event; absent members are left out, not written as null.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileData {
    /// Path under the data directory, `/`-separated, never absolute, never `..`
    /// (checked when the event is parsed).
    pub path: RelPath,
    /// Size when the event was emitted (absent for deletions).
    pub size: Option<u64>,
    /// Modification time when the event was emitted, RFC3339.
    pub modified: Option<String>,
    /// For a WCMP2 record of the metadata folder: the record's `id` (kept by
    /// `wis2-watch`, so that a deletion can still name the record).
    pub record_id: Option<String>,
    /// A periodic re-announcement of an unchanged file (metadata records are
    /// re-published daily): publish it again even though it was published before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reannounce: bool,
}

/// Why an event cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(
        "event is {0} bytes, over the {MAX_EVENT_BYTES}-byte limit: send a reference to the file, not its content"
    )]
    TooLarge(usize),
    #[error("event is not JSON: {0}; send a CloudEvents 1.0 JSON object (structured mode)")]
    NotJson(serde_json::Error),
    #[error("event is not a CloudEvent: {0}; it needs specversion \"1.0\", id, source and type")]
    Shape(serde_json::Error),
    #[error("unsupported CloudEvents specversion `{0}`: only \"1.0\" is accepted")]
    SpecVersion(String),
    #[error(
        "unknown event type `{0}`: expected {FILE_CREATED}, {FILE_UPDATED}, {FILE_DELETED} or a STAC item event"
    )]
    UnknownType(String),
    #[error("file event has no usable data: {0}; data must be {{\"path\": \"relative/path\"}}")]
    FileData(String),
    #[error(transparent)]
    PathEscape(#[from] RelPathError),
}

// Only strings, `serde_json::Value` and options of them: nothing that serde_json
// refuses (a map with non-string keys, a failing `Serialize`).
impl PlainJson for CloudEvent {}

// Strings, numbers and a boolean.
impl PlainJson for FileData {}

impl CloudEvent {
    /// A file event with a fresh id.
    pub fn file(source: &str, change: FileChange, data: FileData) -> Self {
        CloudEvent {
            specversion: "1.0".into(),
            id: Uuid::new_v4().to_string(),
            source: source.to_string(),
            kind: change.event_type().into(),
            subject: Some(data.path.to_string()),
            time: Some(crate::message::rfc3339(&Utc::now())),
            datacontenttype: Some("application/json".into()),
            dataschema: None,
            data: Some(json::to_value(&data)),
        }
    }

    /// Parses and checks an event received from the bus.
    pub fn parse(bytes: &[u8]) -> Result<Self, EventError> {
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(EventError::TooLarge(bytes.len()));
        }
        let v: Value = serde_json::from_slice(bytes).map_err(EventError::NotJson)?;
        let ev: CloudEvent = serde_json::from_value(v).map_err(EventError::Shape)?;
        if ev.specversion != "1.0" {
            return Err(EventError::SpecVersion(ev.specversion));
        }
        Ok(ev)
    }

    /// The file change and data of one of our file events.
    pub fn file_event(&self) -> Result<(FileChange, FileData), EventError> {
        let change = FileChange::from_event_type(&self.kind)
            .ok_or_else(|| EventError::UnknownType(self.kind.clone()))?;
        let data = self
            .data
            .as_ref()
            .ok_or_else(|| EventError::FileData("no data".into()))?;
        let file = FileData::deserialize(data).map_err(|e| {
            // A path against the rules is named as such, not as data of the wrong shape.
            match data.get("path").and_then(Value::as_str).map(RelPath::parse) {
                Some(Err(escape)) => EventError::PathEscape(escape),
                _ => EventError::FileData(e.to_string()),
            }
        })?;
        Ok((change, file))
    }

    /// Compact JSON.
    pub fn to_json(&self) -> String {
        json::to_string(self)
    }

    /// The event time, when it parses.
    pub fn time_utc(&self) -> Option<DateTime<Utc>> {
        self.time
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn file_event_round_trip() {
        let ev = CloudEvent::file(
            "wis2-watch",
            FileChange::Created,
            FileData {
                path: RelPath::parse("a/R1.nc").unwrap(),
                size: Some(3),
                modified: None,
                record_id: None,
                reannounce: false,
            },
        );
        let back = CloudEvent::parse(ev.to_json().as_bytes()).unwrap();
        let (c, d) = back.file_event().unwrap();
        assert_eq!(c, FileChange::Created);
        assert_eq!(d.path, "a/R1.nc");
        assert_eq!(back.subject.as_deref(), Some("a/R1.nc"));
    }

    /// Whether an error is the one a payload must give.
    pub(crate) type Names = fn(&EventError) -> bool;

    /// Payloads that are no CloudEvent, each with the check of the error it gives.
    pub(crate) fn not_cloudevents() -> Vec<(Vec<u8>, Names)> {
        vec![
            (b"not json".to_vec(), |e| {
                matches!(e, EventError::NotJson(_))
            }),
            (b"{\"a\":1}".to_vec(), |e| matches!(e, EventError::Shape(_))),
            (b"[1]".to_vec(), |e| matches!(e, EventError::Shape(_))),
            (vec![b' '; MAX_EVENT_BYTES + 1], |e| {
                matches!(e, EventError::TooLarge(_))
            }),
            (
                br#"{"specversion":"1.0","id":"x","source":"s"}"#.to_vec(),
                |e| e.to_string().contains("type"),
            ),
            (
                br#"{"specversion":"0.3","id":"x","type":"t","source":"s"}"#.to_vec(),
                |e| matches!(e, EventError::SpecVersion(_)),
            ),
        ]
    }

    #[test]
    fn bad_events_name_the_problem() {
        for (payload, named) in not_cloudevents() {
            let e = CloudEvent::parse(&payload).unwrap_err();
            assert!(named(&e), "{e:?}");
        }
        let ev = CloudEvent::parse(
            br#"{"specversion":"1.0","id":"1","source":"s","type":"x.y","data":{"path":"a"}}"#,
        )
        .unwrap();
        assert!(matches!(ev.file_event(), Err(EventError::UnknownType(_))));
    }

    #[test]
    fn a_file_event_with_an_escaping_path_is_refused_when_parsed() {
        let ev = CloudEvent::parse(
            br#"{"specversion":"1.0","id":"1","source":"s","type":"int.wmo.wis2.chain.file.created","data":{"path":"../../etc/passwd","size":1}}"#,
        )
        .unwrap();
        let e = ev.file_event().unwrap_err();
        assert!(matches!(e, EventError::PathEscape(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "path `../../etc/passwd` escapes the data directory: give a path relative to it, without `..`"
        );
        let shape = CloudEvent::parse(
            br#"{"specversion":"1.0","id":"1","source":"s","type":"int.wmo.wis2.chain.file.created","data":{"path":"a","size":"x"}}"#,
        )
        .unwrap();
        assert!(matches!(shape.file_event(), Err(EventError::FileData(_))));
    }

    #[test]
    fn escaping_paths_are_refused() {
        for p in [
            "../../etc/passwd",
            "/etc/passwd",
            "a/../b",
            "",
            "a//b",
            "./a",
        ] {
            assert!(RelPath::parse(p).is_err(), "{p}");
        }
        assert!(RelPath::parse("a/b.nc").is_ok());
    }
}
