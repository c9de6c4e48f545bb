//! What the checks read of a record, computed once, and the findings they share.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::report::Finding;
use crate::topic::TopicTables;

use super::channels::{MqttLink, is_wis2_topic, mqtt_links};
use super::codelists::CodeLists;
use super::temporal;

/// What several tests need, computed once: the record, what it is checked against.
pub(super) struct Ctx<'a> {
    pub rec: &'a Value,
    pub props: Option<&'a Map<String, Value>>,
    /// The centre-id of the record id, when the id has the WCMP2 form.
    pub centre_id: Option<&'a str>,
    pub mqtt: Vec<MqttLink<'a>>,
    /// The code lists in force.
    pub codelists: &'a CodeLists,
    /// The WTH tables, when loaded.
    pub tables: Option<&'a TopicTables>,
}

/// What every WCMP2 record id starts with.
pub(super) const ID_PREFIX: &str = "urn:wmo:md:";

impl<'a> Ctx<'a> {
    pub fn new(rec: &'a Value, codelists: &'a CodeLists, tables: Option<&'a TopicTables>) -> Self {
        let centre_id = rec
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| id.strip_prefix(ID_PREFIX))
            .and_then(|rest| rest.split_once(':'))
            .map(|(c, _)| c)
            .filter(|c| !c.is_empty());
        Ctx {
            rec,
            props: rec.get("properties").and_then(Value::as_object),
            centre_id,
            mqtt: mqtt_links(rec),
            codelists,
            tables,
        }
    }

    /// `properties.<name>`.
    pub fn prop(&self, name: &str) -> Option<&'a Value> {
        self.props.and_then(|p| p.get(name))
    }

    /// `properties.<name>` when it is a string.
    pub fn prop_str(&self, name: &str) -> Option<&'a str> {
        self.prop(name).and_then(Value::as_str)
    }

    /// Channels of MQTT links that are WIS2 topics (`origin/...`, `cache/...`).
    pub fn wis2_channels(&self) -> impl Iterator<Item = (usize, &'a str)> + '_ {
        self.mqtt
            .iter()
            .filter_map(|l| l.channel.filter(|c| is_wis2_topic(c)).map(|c| (l.index, c)))
    }
}

/// The record's time: `properties.updated`, else `properties.created` (RFC 3339).
pub fn record_time(record: &Value) -> Option<DateTime<Utc>> {
    let props = record.get("properties")?;
    ["updated", "created"].iter().find_map(|k| {
        props
            .get(*k)
            .and_then(Value::as_str)
            .and_then(temporal::parse_rfc3339)
    })
}

/// The finding of every test that reads `properties` when the record has none.
pub(super) fn missing_props() -> Finding {
    Finding::new("/properties", "the record has no `properties` object")
        .with_fix("add `properties` with type, title, description, contacts, created, themes")
}

/// `v` when it is an array with at least one item (what a list member of a record
/// must be).
pub(super) fn non_empty_array(v: Option<&Value>) -> Option<&Vec<Value>> {
    v.and_then(Value::as_array).filter(|a| !a.is_empty())
}

/// The allowed values, for a fix.
pub(super) fn allowed(values: &[String]) -> String {
    values.join(", ")
}
