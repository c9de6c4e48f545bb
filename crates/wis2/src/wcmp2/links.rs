//! The links of a record (relations, MQTT channels, security) and its data policy,
//! which must agree with the channels.

use serde_json::Value;

use crate::report::Finding;
use crate::topic::{self, Mode};

use super::channels::is_wis2_topic;
use super::context::{Ctx, allowed, missing_props, non_empty_array};

/// `links`: href and rel (an IANA relation or a WCMP2 link type) each; MQTT links
/// carry a valid WTH channel; security described. A dataset without an MQTT link is a
/// warning, or a failure with `require_mqtt_link`.
pub(super) fn links(
    cx: &Ctx<'_>,
    require_mqtt_link: bool,
    warnings: &mut Vec<Finding>,
) -> Vec<Finding> {
    let Some(links) = non_empty_array(cx.rec.get("links")) else {
        return vec![
            Finding::new("/links", "the record needs at least one link")
                .with_fix("add links: the data access (https), the MQTT subscription (mqtts with channel), the licence"),
        ];
    };
    let mut out = Vec::new();
    for (i, l) in links.iter().enumerate() {
        let path = format!("/links/{i}");
        let Some(obj) = l.as_object() else {
            out.push(
                Finding::new(&path, "link must be an object")
                    .with_fix("write {\"href\": ..., \"rel\": ...}"),
            );
            continue;
        };
        let href = obj.get("href").and_then(Value::as_str).unwrap_or("");
        if href.trim().is_empty() {
            out.push(
                Finding::new(format!("{path}/href"), "link has no href")
                    .with_fix("add \"href\": the address of the resource"),
            );
        }
        match obj.get("rel").and_then(Value::as_str) {
            None => out.push(
                Finding::new(format!("{path}/rel"), "link has no rel").with_fix(
                    "add \"rel\": an IANA link relation or a WCMP2 link type (items, data, ...)",
                ),
            ),
            Some(rel) if !cx.codelists.is_link_relation(rel) => out.push(
                Finding::new(
                    format!("{path}/rel"),
                    format!("rel {rel:?} is neither an IANA link relation nor a WCMP2 link type"),
                )
                .with_fix(format!(
                    "use an IANA link relation (about, license, describedby, ...) or one of {}",
                    allowed(&cx.codelists.link_types)
                )),
            ),
            Some(_) => {}
        }
        let channel = obj.get("channel");
        let scheme = href
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        if scheme.starts_with("mqtt") && channel.is_none() {
            out.push(
                Finding::new(path.clone(), "MQTT link has no channel")
                    .with_fix("add \"channel\": the WIS2 topic to subscribe to, e.g. origin/a/wis2/<centre-id>/data/core/..."),
            );
        }
        if let Some(ch) = channel {
            let cpath = format!("{path}/channel");
            match ch.as_str() {
                Some(ch) if is_wis2_topic(ch) => {
                    for n in topic::notes(ch, cx.tables) {
                        warnings.push(Finding::new(
                            &cpath,
                            format!("channel {ch:?}: {}", n.message),
                        ));
                    }
                    for f in topic::check(ch, cx.tables, Mode::Publish) {
                        let mut g = Finding::new(
                            &cpath,
                            format!("channel {ch:?}: {}: {}", f.path, f.message),
                        );
                        g.fix = f.fix;
                        // A channel is what users subscribe to: a parent of the
                        // data topics (level 7) is legal but receives nothing on an
                        // exact subscription, so it is a warning, as in pywcmp.
                        if f.message.contains("level 8 or deeper") {
                            warnings.push(g);
                        } else {
                            out.push(g);
                        }
                    }
                }
                Some(ch) => warnings.push(
                    Finding::new(
                        &cpath,
                        format!(
                            "channel {ch:?} is not a WIS2 topic: Global Brokers will not relay it"
                        ),
                    )
                    .with_fix(
                        "use a WIS2 topic origin/a/wis2/<centre-id>/data/<policy>/<discipline>/...",
                    ),
                ),
                None => out.push(
                    Finding::new(&cpath, "channel must be a string")
                        .with_fix("write the topic as a string"),
                ),
            }
        }
        if let Some(ch) = channel.and_then(Value::as_str)
            && is_wis2_topic(ch)
            && let (Some(tc), Some(centre)) = (topic::centre_id(ch), cx.centre_id)
            && tc != centre
            // A malformed or unregistered centre-id in the id is the identifier
            // test's finding, not a second one here.
            && centre
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && (centre.ends_with("-test")
                || cx.tables.is_none_or(|t| t.centre_status(centre).is_some()))
        {
            out.push(
                Finding::new(
                    format!("{path}/channel"),
                    format!("centre-id {tc:?} of channel {ch:?} differs from centre-id {centre:?} of the record id"),
                )
                .with_fix("the 4th level of the channel must be the id's centre-id (WCMP2 2.3.0, /conf/core/links): use one centre-id in both"),
            );
        }
        if let Some(filters) = obj.get("filters") {
            out.extend(filters_findings(&format!("{path}/filters"), filters));
        }
        if let Some(sec) = obj.get("security") {
            match sec.as_object() {
                Some(m) => {
                    for (k, v) in m {
                        if v.get("description")
                            .and_then(Value::as_str)
                            .is_none_or(|d| d.trim().is_empty())
                        {
                            out.push(
                                Finding::new(
                                    format!("{path}/security/{k}"),
                                    format!("security scheme {k:?} has no description"),
                                )
                                .with_fix("add \"description\": how a user obtains access"),
                            );
                        }
                    }
                }
                None => out.push(
                    Finding::new(format!("{path}/security"), "security must be an object")
                        .with_fix("write {\"<name>\": {\"type\": ..., \"description\": ...}}"),
                ),
            }
        }
    }
    let is_dataset = cx.prop_str("type") == Some("dataset");
    if is_dataset && !cx.mqtt.iter().any(|l| l.channel.is_some()) {
        let f = Finding::new("/links", "the dataset has no MQTT link with a channel: Global Brokers can not tie its notifications to this record")
            .with_fix("add {\"rel\": \"items\", \"href\": \"mqtts://<broker>\", \"channel\": \"origin/a/wis2/<centre-id>/data/<policy>/...\", \"type\": \"application/geo+json\"}");
        if require_mqtt_link {
            out.push(f);
        } else {
            warnings.push(f);
        }
    }
    out
}

/// The client-side `filters` of an MQTT link (WCMP2 2.3.0, /rec/core/client_side_filters):
/// when present, an object mapping WNM property names to JSON Schemas.
fn filters_findings(path: &str, filters: &Value) -> Vec<Finding> {
    let fix = "write \"filters\": {\"<WNM property>\": {\"type\": \"string\", \"title\": \"...\"}}: one JSON Schema per property of the notifications";
    let Some(map) = filters.as_object() else {
        return vec![Finding::new(path, "filters must be an object").with_fix(fix)];
    };
    let mut out = Vec::new();
    for (name, schema) in map {
        let at = format!("{path}/{name}");
        if !schema.is_object() {
            out.push(
                Finding::new(&at, format!("filter {name:?} is not a JSON Schema object"))
                    .with_fix(fix),
            );
            continue;
        }
        if let Err(e) = jsonschema::meta::validate(schema) {
            out.push(
                Finding::new(
                    &at,
                    format!("filter {name:?} is not a valid JSON Schema: {e}"),
                )
                .with_fix(fix),
            );
        }
    }
    out
}

/// `data_policy`: `wmo:dataPolicy` core or recommended for a dataset, a licence link
/// when recommended, equal to level 6 of the MQTT channels.
pub(super) fn data_policy(cx: &Ctx<'_>) -> Vec<Finding> {
    let Some(props) = cx.props else {
        return vec![missing_props()];
    };
    let path = "/properties/wmo:dataPolicy";
    let fix = "set \"wmo:dataPolicy\" to \"core\" or \"recommended\" (WMO Unified Data Policy)";
    let mut out = Vec::new();
    let policy = match props.get("wmo:dataPolicy") {
        None => {
            if cx.prop_str("type") == Some("dataset") {
                out.push(
                    Finding::new(path, "a dataset needs properties.wmo:dataPolicy").with_fix(fix),
                );
            }
            None
        }
        Some(Value::String(p)) if topic::DATA_POLICIES.contains(&p.as_str()) => Some(p.as_str()),
        Some(other) => {
            out.push(
                Finding::new(
                    path,
                    format!("data policy {other} is neither core nor recommended"),
                )
                .with_fix(fix),
            );
            None
        }
    };
    if policy == Some("recommended") {
        let has_licence = cx
            .rec
            .get("links")
            .and_then(Value::as_array)
            .is_some_and(|ls| {
                ls.iter()
                    .any(|l| l.get("rel").and_then(Value::as_str) == Some("license"))
            });
        if !has_licence {
            out.push(
                Finding::new("/links", "recommended data needs a link with rel license stating the conditions of use")
                    .with_fix("add {\"rel\": \"license\", \"href\": \"https://...\", \"type\": \"text/html\", \"title\": \"...\"}"),
            );
        }
    }
    if let Some(p) = policy {
        for (i, ch) in cx.wis2_channels() {
            if topic::notification_type(ch) != Some("data") {
                continue;
            }
            if let Some(tp) = topic::data_policy(ch)
                && tp != p
                && topic::DATA_POLICIES.contains(&tp)
            {
                out.push(
                    Finding::new(path, format!("data policy {p:?} differs from level 6 {tp:?} of /links/{i}/channel {ch:?}"))
                        .with_fix(format!("publish {p} data on a .../data/{p}/... topic, or set wmo:dataPolicy to {tp:?}")),
                );
            }
        }
    }
    out
}
