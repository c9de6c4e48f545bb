//! What the tests share about one message, and how they write a finding.

use serde_json::{Map, Value};

use crate::report::Finding;

use super::Profile;

/// What the tests share about one message.
pub(crate) struct Ctx<'a> {
    pub msg: &'a Value,
    pub props: Option<&'a Map<String, Value>>,
    /// Centre-id of the topic the message came on, when known.
    pub topic_centre: Option<&'a str>,
    /// Notification type of the topic (`data` / `metadata`), when known.
    pub topic_type: Option<&'a str>,
    /// Size of the message as received (or as serialized), in bytes.
    pub size: usize,
    /// The edition of the standard checked.
    pub profile: Profile,
}

impl<'a> Ctx<'a> {
    pub fn new(msg: &'a Value, size: usize, topic: Option<&'a str>) -> Self {
        Ctx {
            msg,
            props: msg.get("properties").and_then(Value::as_object),
            topic_centre: topic.and_then(crate::topic::centre_id),
            topic_type: topic.and_then(crate::topic::notification_type),
            size,
            profile: Profile::Wnm13,
        }
    }

    /// The same message, checked against `profile`.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// `properties.<key>`.
    pub fn prop(&self, key: &str) -> Option<&'a Value> {
        self.props.and_then(|p| p.get(key))
    }
}

/// A finding with its fix.
pub(super) fn f(path: &str, msg: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding::new(path, msg).with_fix(fix)
}
