//! What each message on the chain's topics says about a file: a [`Fact`], read from
//! the topic and its payload, and the file's record ([`FileRecord`]) that the facts
//! build up. No network, no store: what arrives is turned into facts here.
//!
//! A payload that is not what its topic carries is a [`Fact::Unreadable`] with the
//! reason: shown as such, never a crash.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wis2::event::{CloudEvent, FileData};
use wis2_bus::envelope::{Confirmation, Envelope, Rejection};
use wis2_bus::status::Status;
use wis2_bus::{DeadLetter, topics};

/// Where a file is in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Published,
    Rejected,
    Deadletter,
}

impl State {
    pub fn parse(s: &str) -> Option<State> {
        match s {
            "pending" => Some(State::Pending),
            "published" => Some(State::Published),
            "rejected" => Some(State::Rejected),
            "deadletter" => Some(State::Deadletter),
            _ => None,
        }
    }
}

/// One step of a file's way, with when the console saw it (RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub stage: String,
    pub time: String,
}

/// A dead letter as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LetterView {
    pub id: String,
    pub stage: String,
    pub reason: String,
    pub time: String,
    pub path: Option<String>,
}

/// A payload the console could not read, as it lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableView {
    pub topic: String,
    pub reason: String,
    pub time: String,
    /// Its first bytes (invalid UTF-8 replaced).
    pub excerpt: String,
}

/// A monitoring event as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorView {
    pub id: String,
    /// When the console received it (RFC 3339).
    pub received: String,
    pub time: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub subject: Option<String>,
    pub detail: String,
    /// The event reports a problem (a discarded message, a failed record).
    pub problem: bool,
    /// The message of ours it names, when it names one.
    pub message_id: Option<String>,
    pub data_id: Option<String>,
}

/// What one message on the chain says.
#[derive(Debug, Clone)]
pub enum Fact {
    /// `chain/events`: a file announced (again, for a new event id).
    Announced {
        path: String,
        event_id: String,
        record_id: Option<String>,
        reannounce: bool,
    },
    /// `chain/created`: its message built.
    Created {
        path: String,
        message_id: String,
        data_id: String,
        link: Option<String>,
    },
    /// `chain/validated`: its message valid.
    Validated { path: String, message_id: String },
    /// `chain/rejected`: its message invalid, with the report, the link it gives to
    /// the data and when it was built.
    Rejected {
        path: Option<String>,
        message_id: String,
        data_id: String,
        reason: String,
        report: Value,
        link: Option<String>,
        created: Option<String>,
    },
    /// `chain/published`: its message is on the WIS2 topic; when it was built and
    /// found valid (the services' stamps: the console does not read `chain/created`
    /// and `chain/validated`, whose payloads are whole messages).
    Published {
        path: String,
        message_id: String,
        data_id: String,
        created: Option<String>,
        validated: Option<String>,
    },
    /// `origin/a/wis2/...`: a message as published.
    OnWis2 {
        topic: String,
        message_id: String,
        data_id: String,
        pubtime: Option<String>,
        message: Box<serde_json::value::RawValue>,
    },
    /// `chain/deadletter`.
    DeadLetter {
        view: LetterView,
        letter: Box<DeadLetter>,
    },
    /// `chain/status/<service>`.
    Status(Status),
    /// Nothing to show (the read-back barriers).
    Ignored,
    /// Not what the topic carries: why, and the payload's first bytes.
    Unreadable {
        topic: String,
        reason: String,
        excerpt: String,
    },
}

/// What the console reads of a WNM, without building its whole tree.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    properties: HeadProperties<'a>,
    #[serde(default, borrow)]
    links: Vec<HeadLink<'a>>,
}

#[derive(Deserialize)]
struct HeadProperties<'a> {
    #[serde(borrow)]
    data_id: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    pubtime: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct HeadLink<'a> {
    #[serde(default, borrow)]
    rel: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    href: Option<std::borrow::Cow<'a, str>>,
}

impl Head<'_> {
    fn link(&self) -> Option<String> {
        self.links
            .iter()
            .find(|l| matches!(l.rel.as_deref(), Some("canonical" | "update")))
            .and_then(|l| l.href.as_deref().map(str::to_string))
    }
}

/// The link to the data a message gives (`canonical`, or `update`), when it reads.
pub fn link_of(message: &str) -> Option<String> {
    serde_json::from_str::<Head>(message).ok()?.link()
}

/// The path a dead letter's original payload names, when it names one.
fn path_of_letter(letter: &DeadLetter) -> Option<String> {
    let bytes = letter.original().ok()?;
    if let Ok(ev) = CloudEvent::parse(&bytes) {
        let data: FileData = serde_json::from_value(ev.data?).ok()?;
        return Some(data.path.to_string());
    }
    Envelope::parse(&bytes).ok()?.path.map(|p| p.to_string())
}

/// The first failed tests of a validation report, with their first error.
fn summary(report: &wis2::report::Report) -> String {
    let failed: Vec<String> = report
        .ets_report
        .tests
        .iter()
        .filter(|t| t.code == wis2::report::Code::Failed)
        .take(3)
        .map(|t| {
            let why = t
                .errors
                .first()
                .map(|e| e.message.clone())
                .or_else(|| t.message.clone())
                .unwrap_or_default();
            format!("{}: {why}", t.id)
        })
        .collect();
    if failed.is_empty() {
        "invalid message (see the report)".to_string()
    } else {
        failed.join("; ")
    }
}

fn unreadable(topic: &str, what: &str, e: impl std::fmt::Display) -> Fact {
    Fact::Unreadable {
        topic: topic.to_string(),
        reason: format!("not {what}: {e}"),
        excerpt: String::new(),
    }
}

/// Bytes of an unreadable payload shown on the page.
const EXCERPT: usize = 512;

/// What the message `payload` on `topic` says.
pub fn read(topic: &str, payload: &[u8]) -> Fact {
    match read_fact(topic, payload) {
        Fact::Unreadable { topic, reason, .. } => Fact::Unreadable {
            topic,
            reason,
            excerpt: String::from_utf8_lossy(&payload[..payload.len().min(EXCERPT)]).into_owned(),
        },
        fact => fact,
    }
}

fn read_fact(topic: &str, payload: &[u8]) -> Fact {
    if topic.starts_with("origin/") {
        let head = serde_json::from_slice::<Head>(payload);
        let raw = std::str::from_utf8(payload)
            .ok()
            .and_then(|t| serde_json::value::RawValue::from_string(t.to_string()).ok());
        return match (head, raw) {
            (Ok(h), Some(message)) => Fact::OnWis2 {
                topic: topic.to_string(),
                message_id: h.id.into_owned(),
                data_id: h.properties.data_id.into_owned(),
                pubtime: h.properties.pubtime.map(|p| p.into_owned()),
                message,
            },
            (Err(e), _) => unreadable(topic, "a WNM", e),
            (_, None) => unreadable(topic, "a WNM", "not UTF-8 JSON"),
        };
    }
    if let Some(service) = wis2_bus::status::service_of(topic) {
        return match Status::parse(payload) {
            Some(s) if s.service == service => Fact::Status(s),
            _ => unreadable(topic, "a service status", "wrong shape"),
        };
    }
    match topic {
        topics::EVENTS => match CloudEvent::parse(payload) {
            Ok(ev) => {
                let data = ev.data.clone().map(serde_json::from_value::<FileData>);
                match data {
                    Some(Ok(d)) => Fact::Announced {
                        path: d.path.to_string(),
                        event_id: ev.id,
                        record_id: d.record_id,
                        reannounce: d.reannounce,
                    },
                    // An upstream STAC item event: no file of ours.
                    _ => Fact::Ignored,
                }
            }
            Err(e) => unreadable(topic, "a CloudEvent", e),
        },
        topics::CREATED | topics::VALIDATED => match Envelope::parse(payload) {
            Ok(env) => {
                let Some(path) = env.path.map(|p| p.to_string()) else {
                    return Fact::Ignored;
                };
                let head = match serde_json::from_str::<Head>(env.message.get()) {
                    Ok(h) => h,
                    Err(e) => return unreadable(topic, "an envelope of a WNM", e),
                };
                if topic == topics::CREATED {
                    Fact::Created {
                        link: head.link(),
                        path,
                        message_id: head.id.into_owned(),
                        data_id: head.properties.data_id.into_owned(),
                    }
                } else {
                    Fact::Validated {
                        path,
                        message_id: head.id.into_owned(),
                    }
                }
            }
            Err(e) => unreadable(topic, "an envelope", e),
        },
        topics::REJECTED => match serde_json::from_slice::<Rejection>(payload) {
            Ok(r) => {
                // A rejected message may lack its id or data_id: empty then.
                let (message_id, data_id, link) = serde_json::from_str::<Head>(r.message.get())
                    .map(|h| {
                        let link = h.link();
                        (h.id.into_owned(), h.properties.data_id.into_owned(), link)
                    })
                    .unwrap_or_default();
                Fact::Rejected {
                    path: r.path.map(|p| p.to_string()),
                    message_id,
                    data_id,
                    reason: summary(&r.report),
                    report: serde_json::to_value(&r.report).unwrap_or(Value::Null),
                    link,
                    created: r.created,
                }
            }
            Err(e) => unreadable(topic, "a rejection", e),
        },
        topics::PUBLISHED => match serde_json::from_slice::<Confirmation>(payload) {
            Ok(c) => match c.path {
                Some(p) => Fact::Published {
                    path: p.to_string(),
                    message_id: c.message_id,
                    data_id: c.data_id,
                    created: c.created,
                    validated: c.validated,
                },
                None => Fact::Ignored,
            },
            Err(e) => unreadable(topic, "a confirmation", e),
        },
        topics::DEADLETTER => match serde_json::from_slice::<DeadLetter>(payload) {
            Ok(letter) => Fact::DeadLetter {
                view: LetterView {
                    id: letter.id.clone(),
                    stage: letter.stage.clone(),
                    reason: letter.reason.clone(),
                    time: letter.time.clone(),
                    path: path_of_letter(&letter),
                },
                letter: Box::new(letter),
            },
            Err(e) => unreadable(topic, "a dead letter", e),
        },
        _ => Fact::Ignored,
    }
}

/// A file's record: where it is, the steps so far, its message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: String,
    pub data_id: Option<String>,
    pub state: State,
    pub message_id: Option<String>,
    pub steps: Vec<Step>,
    pub reason: Option<String>,
    /// The event of the current journey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The validation report of a rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Value>,
    /// The dead letter of the file, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadletter: Option<String>,
    /// Unix seconds of the last change (retention, time range).
    #[serde(default)]
    pub updated: i64,
    /// The number of its last change in the history (its place in the list).
    #[serde(default)]
    pub seq: u64,
    /// Checksums of the messages that made the steps of this journey: a message
    /// delivered again (the broker resends what the console had not acknowledged
    /// when it stopped) adds no step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<u32>,
}

impl FileRecord {
    pub fn new(path: &str) -> Self {
        FileRecord {
            path: path.to_string(),
            data_id: None,
            state: State::Pending,
            message_id: None,
            steps: Vec::new(),
            reason: None,
            event_id: None,
            link: None,
            report: None,
            deadletter: None,
            updated: 0,
            seq: 0,
            seen: Vec::new(),
        }
    }

    fn step(&mut self, stage: &str, time: &str) {
        self.steps.push(Step {
            stage: stage.to_string(),
            time: time.to_string(),
        });
    }

    /// A step a service stamped on a later message (`created` and `validated` come
    /// with the confirmation), unless this attempt has it already (from its own topic:
    /// a journal written by an older console).
    fn stamp(&mut self, stage: &str, time: Option<&str>) {
        let Some(time) = time else { return };
        let attempt = self
            .steps
            .iter()
            .rposition(|s| matches!(s.stage.as_str(), "published" | "rejected" | "deadletter"))
            .map_or(0, |i| i + 1);
        if !self.steps[attempt..].iter().any(|s| s.stage == stage) {
            self.step(stage, time);
        }
    }

    /// What identifies the message behind `fact`: its stage and the id of its event,
    /// message or dead letter.
    fn identity(fact: &Fact) -> Option<u32> {
        let (stage, id) = match fact {
            Fact::Announced { event_id, .. } => ("announced", event_id),
            Fact::Created { message_id, .. } => ("created", message_id),
            Fact::Validated { message_id, .. } => ("validated", message_id),
            Fact::Rejected { message_id, .. } => ("rejected", message_id),
            Fact::Published { message_id, .. } => ("published", message_id),
            Fact::DeadLetter { view, .. } => ("deadletter", &view.id),
            _ => return None,
        };
        let mut h = crc32fast::Hasher::new();
        h.update(stage.as_bytes());
        h.update(&[0]);
        h.update(id.as_bytes());
        Some(h.finalize())
    }

    /// [`FileRecord::apply`], unless the same message made a step of this journey
    /// already (delivered again): then nothing changes and it returns false.
    pub fn apply_once(&mut self, fact: &Fact, time: &str) -> bool {
        let id = Self::identity(fact);
        if let Some(id) = id {
            let new_journey = matches!(fact, Fact::Announced { event_id, .. }
                if self.event_id.as_deref() != Some(event_id));
            if !new_journey && self.seen.contains(&id) {
                return false;
            }
        }
        self.apply(fact, time);
        if let Some(id) = id {
            self.seen.push(id);
        }
        true
    }

    /// The record after `fact`, seen at `time` (RFC 3339). Facts about an older
    /// message than the current one are kept as steps but change no state.
    pub fn apply(&mut self, fact: &Fact, time: &str) {
        match fact {
            Fact::Announced { event_id, .. } => {
                // A new journey (a new event): the steps start again.
                if self.event_id.as_deref() != Some(event_id) {
                    self.steps.clear();
                    self.seen.clear();
                    self.reason = None;
                    self.report = None;
                    self.deadletter = None;
                }
                self.event_id = Some(event_id.clone());
                if self.state != State::Published || self.steps.is_empty() {
                    self.state = State::Pending;
                }
                self.step("announced", time);
            }
            Fact::Created {
                message_id,
                data_id,
                link,
                ..
            } => {
                self.message_id = Some(message_id.clone());
                self.data_id = Some(data_id.clone());
                if link.is_some() {
                    self.link = link.clone();
                }
                self.step("created", time);
            }
            Fact::Validated { .. } => self.step("validated", time),
            Fact::Rejected {
                message_id,
                data_id,
                reason,
                report,
                link,
                created,
                ..
            } => {
                self.message_id = Some(message_id.clone());
                self.data_id = Some(data_id.clone());
                if link.is_some() {
                    self.link = link.clone();
                }
                self.stamp("created", created.as_deref());
                self.state = State::Rejected;
                self.reason = Some(reason.clone());
                self.report = Some(report.clone());
                self.step("rejected", time);
            }
            Fact::Published {
                message_id,
                data_id,
                created,
                validated,
                ..
            } => {
                self.message_id = Some(message_id.clone());
                self.data_id = Some(data_id.clone());
                self.stamp("created", created.as_deref());
                self.stamp("validated", validated.as_deref());
                self.state = State::Published;
                self.reason = None;
                self.step("published", time);
            }
            Fact::DeadLetter { view, letter } => {
                // A letter of wis2-validate or wis2-publish holds the envelope, with
                // the stamps of the stages it went through.
                if let Some(env) = letter
                    .original()
                    .ok()
                    .and_then(|b| Envelope::parse(&b).ok())
                {
                    self.stamp("created", env.created.as_deref());
                    self.stamp("validated", env.validated.as_deref());
                }
                self.state = State::Deadletter;
                self.reason = Some(format!("{}: {}", view.stage, view.reason));
                self.deadletter = Some(view.id.clone());
                self.step("deadletter", time);
            }
            Fact::OnWis2 { .. } | Fact::Status(_) | Fact::Ignored | Fact::Unreadable { .. } => {}
        }
    }

    /// The file's path a fact is about, when it is about one.
    pub fn path_of(fact: &Fact) -> Option<&str> {
        match fact {
            Fact::Announced { path, .. }
            | Fact::Created { path, .. }
            | Fact::Validated { path, .. }
            | Fact::Published { path, .. } => Some(path),
            Fact::Rejected { path, .. } => path.as_deref(),
            Fact::DeadLetter { view, .. } => view.path.as_deref(),
            _ => None,
        }
    }

    /// Whether the record matches a search text (file name, data_id or message id).
    pub fn matches(&self, q: &str) -> bool {
        let q = q.to_lowercase();
        self.path.to_lowercase().contains(&q)
            || self
                .data_id
                .as_deref()
                .is_some_and(|d| d.to_lowercase().contains(&q))
            || self
                .message_id
                .as_deref()
                .is_some_and(|m| m.to_lowercase().contains(&q))
    }

    /// The time of its first step named `stage`, in Unix milliseconds.
    pub fn step_ms(&self, stage: &str) -> Option<i64> {
        let s = self.steps.iter().find(|s| s.stage == stage)?;
        chrono::DateTime::parse_from_rfc3339(&s.time)
            .ok()
            .map(|t| t.timestamp_millis())
    }
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
