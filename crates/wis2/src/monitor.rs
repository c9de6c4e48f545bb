//! WIS2 Monitoring Events: what the Global Services report about a centre's messages
//! (a discarded message, a record failing the WCMP2 suite, ...), as CloudEvents on
//! `monitor/a/wis2/<centre-id>/...` of the Global Brokers.
//!
//! The event's `data` has no schema this crate can rely on, so an event is read as a
//! CloudEvent ([`CloudEvent::parse`]: JSON, specversion 1.0, `id`, `type` and `source`
//! required) and every short
//! string in its `subject` and `data` is kept as a possible reference to one of our
//! messages (a message id or a `data_id`): the caller matches them against what it
//! published. No network code here.

use serde_json::Value;

use crate::event::{CloudEvent, EventError};

/// The topic filter of a centre's monitoring events.
pub fn topic_filter(centre_id: &str) -> String {
    format!("monitor/a/wis2/{centre_id}/#")
}

/// Strings longer than this are not references (a report's free text, say).
const MAX_REFERENCE: usize = 512;
/// At most this many references are taken from one event.
const MAX_REFERENCES: usize = 64;
/// `data` is logged up to this many characters.
const MAX_DETAIL: usize = 1000;

/// A monitoring event, as much as a log line needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoringEvent {
    pub id: String,
    pub kind: String,
    pub source: String,
    pub subject: Option<String>,
    pub time: Option<String>,
    /// `data`, as compact JSON cut to [`MAX_DETAIL`] characters.
    pub detail: String,
    /// Short strings of `subject` and `data`, in order, without repeats.
    pub references: Vec<String>,
}

impl MonitoringEvent {
    /// Reads a CloudEvent in JSON.
    pub fn parse(payload: &[u8]) -> Result<Self, EventError> {
        let ev = CloudEvent::parse(payload)?;
        let mut references = Vec::new();
        if let Some(s) = &ev.subject {
            add_reference(s, &mut references);
        }
        let mut detail = String::new();
        if let Some(data) = &ev.data {
            collect(data, &mut references);
            if !data.is_null() {
                detail = data.to_string();
            }
        }
        if detail.chars().count() > MAX_DETAIL {
            detail = detail.chars().take(MAX_DETAIL).collect::<String>() + "...";
        }
        Ok(MonitoringEvent {
            id: ev.id,
            kind: ev.kind,
            source: ev.source,
            subject: ev.subject,
            time: ev.time,
            detail,
            references,
        })
    }

    /// Whether the event reports a problem: its type names a rejection, a discard, an
    /// error, a failure or a warning (the operator must act), rather than information.
    pub fn is_problem(&self) -> bool {
        let t = self.kind.to_ascii_lowercase();
        [
            "error", "reject", "discard", "fail", "invalid", "warn", "drop",
        ]
        .iter()
        .any(|w| t.contains(w))
    }
}

/// Keeps `s` as a reference when it is short, not empty and not already kept.
fn add_reference(s: &str, out: &mut Vec<String>) {
    if out.len() < MAX_REFERENCES
        && !s.is_empty()
        && s.len() <= MAX_REFERENCE
        && !out.iter().any(|r| r == s)
    {
        out.push(s.to_string());
    }
}

fn collect(v: &Value, out: &mut Vec<String>) {
    if out.len() >= MAX_REFERENCES {
        return;
    }
    match v {
        Value::String(s) => add_reference(s, out),
        Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: Value) -> Vec<u8> {
        serde_json::json!({
            "specversion": "1.0",
            "type": "int.wmo.wis2.gb.message.discarded",
            "source": "fr-meteofrance-global-broker",
            "subject": "wis2/x/R1.nc",
            "id": "e-1",
            "time": "2026-11-29T10:00:00Z",
            "datacontenttype": "application/json",
            "data": data
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_event_gives_its_attributes_and_the_strings_that_may_name_our_messages() {
        let e = MonitoringEvent::parse(&event(serde_json::json!({
            "message": {"id": "m-1", "data_id": "wis2/x/R1.nc"},
            "reason": "no discovery metadata for this topic",
            "count": 3
        })))
        .unwrap();
        assert_eq!(e.id, "e-1");
        assert_eq!(e.kind, "int.wmo.wis2.gb.message.discarded");
        assert_eq!(e.source, "fr-meteofrance-global-broker");
        assert_eq!(e.subject.as_deref(), Some("wis2/x/R1.nc"));
        assert_eq!(e.time.as_deref(), Some("2026-11-29T10:00:00Z"));
        assert!(e.references.contains(&"m-1".to_string()));
        assert_eq!(
            e.references.iter().filter(|r| *r == "wis2/x/R1.nc").count(),
            1,
            "no repeats: {:?}",
            e.references
        );
        assert!(e.detail.contains("no discovery metadata"));
        assert!(e.is_problem());
    }

    #[test]
    fn what_is_not_a_cloudevent_says_why() {
        for (payload, named) in crate::event::tests::not_cloudevents() {
            let e = MonitoringEvent::parse(&payload).unwrap_err();
            assert!(named(&e), "{e:?}");
        }
    }

    #[test]
    fn long_text_is_no_reference_and_the_detail_is_cut() {
        let long = "x".repeat(5000);
        let e = MonitoringEvent::parse(&event(serde_json::json!({"report": long}))).unwrap();
        assert!(!e.references.iter().any(|r| r.len() > MAX_REFERENCE));
        assert!(e.detail.chars().count() <= MAX_DETAIL + 3);
        assert!(e.detail.ends_with("..."));
    }

    #[test]
    fn an_informational_event_is_no_problem() {
        let mut v: Value = serde_json::from_slice(&event(Value::Null)).unwrap();
        v["type"] = "int.wmo.wis2.gdc.record.published".into();
        let e = MonitoringEvent::parse(v.to_string().as_bytes()).unwrap();
        assert!(!e.is_problem());
        assert_eq!(e.detail, "");
        assert_eq!(
            topic_filter("fr-ifremer-argo"),
            "monitor/a/wis2/fr-ifremer-argo/#"
        );
    }
}
