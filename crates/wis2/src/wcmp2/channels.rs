//! The MQTT links of a record and their channels (WIS2 topics).

use serde_json::Value;

/// An MQTT link of the record.
pub(super) struct MqttLink<'a> {
    /// Its index in `links`.
    pub index: usize,
    pub channel: Option<&'a str>,
}

/// Whether `href` subscribes over MQTT: `mqtt://`/`mqtts://`, or WebSocket with a
/// channel.
fn is_mqtt_href(href: &str, has_channel: bool) -> bool {
    let scheme = href.split_once("://").map(|(s, _)| s).unwrap_or("");
    scheme.eq_ignore_ascii_case("mqtt")
        || scheme.eq_ignore_ascii_case("mqtts")
        || (has_channel
            && (scheme.eq_ignore_ascii_case("ws") || scheme.eq_ignore_ascii_case("wss")))
}

/// The MQTT links of a record, in link order.
pub(super) fn mqtt_links(record: &Value) -> Vec<MqttLink<'_>> {
    let mut out = Vec::new();
    if let Some(links) = record.get("links").and_then(Value::as_array) {
        for (index, l) in links.iter().enumerate() {
            let href = l.get("href").and_then(Value::as_str).unwrap_or("");
            let channel = l.get("channel").and_then(Value::as_str);
            if is_mqtt_href(href, channel.is_some()) {
                out.push(MqttLink { index, channel });
            }
        }
    }
    out
}

/// Whether a channel is a WIS2 topic (`origin/...`, `cache/...`), one that Global
/// Brokers relay.
pub(super) fn is_wis2_topic(c: &str) -> bool {
    c.starts_with("origin/") || c.starts_with("cache/") || c.contains("/wis2/")
}

/// The channels of the record's MQTT links (`href` `mqtt://`/`mqtts://`, or
/// `ws://`/`wss://` with a `channel`), in link order.
pub fn mqtt_channels(record: &Value) -> Vec<String> {
    mqtt_links(record)
        .into_iter()
        .filter_map(|l| l.channel.map(str::to_string))
        .collect()
}
